//! Several masters, one fleet: real processes of the binary on one PostgreSQL schema and one
//! Redis (`MASTER_DATAHUB_TYPE=redis`), each test under its own `MASTER_REDIS_PREFIX`.
//!
//! They run when the suite runs on PostgreSQL (`MASTER_TEST_PG_URL`, as `.ci/run`'s second
//! pass does) and need Redis at `MASTER_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`);
//! without PostgreSQL they are skipped (one master on SQLite has no replicas). The Redis
//! outage test starts a private `redis-server` on a free port, so that stopping it touches
//! nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "support/db.rs"]
mod db;

const TOKEN: &str = "replica-test-token";
const ADMIN_PASSWORD: &str = "replica-admin-password";
const SECRET_KEY: &str = "replica-test-secret-key-0123456789";

fn redis_url() -> String {
    std::env::var("MASTER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// One fleet at a time: each test runs two or three masters, and their timing checks
/// (a second for a revocation, a takeover within two leases) must not depend on how many
/// other fleets share the machine's cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The test's database when the suite runs on PostgreSQL, and this test's turn; `None`
/// (skip) without PostgreSQL.
async fn pg() -> Option<(db::TestDb, tokio::sync::MutexGuard<'static, ()>)> {
    if db::pg_url().is_none() {
        eprintln!("skipped: replicas need PostgreSQL (set MASTER_TEST_PG_URL)");
        return None;
    }
    let turn = SERIAL.lock().await;
    Some((db::TestDb::new(), turn))
}

struct Replica {
    child: Child,
    http: String,
    agent: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    fn kill9(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }
}

/// A replica process until it listens.
struct Starting {
    child: Child,
    rx: std::sync::mpsc::Receiver<Option<(u64, u64)>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Starting {
    /// The replica once it listens; `Err(log)` when it exits first.
    fn wait(mut self) -> Result<Replica, String> {
        match self.rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some((http, agent))) => Ok(Replica {
                child: self.child,
                http: format!("http://127.0.0.1:{http}"),
                agent: format!("http://127.0.0.1:{agent}"),
                log: self.log,
            }),
            _ => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(self.log.lock().unwrap().join("\n"))
            }
        }
    }
}

/// N replicas of one installation.
struct Fleet {
    db: db::TestDb,
    prefix: String,
    redis: String,
    extra: Vec<(String, String)>,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Fleet {
    fn new(db: db::TestDb, redis: &str, extra: &[(&str, &str)]) -> Fleet {
        Fleet {
            db,
            prefix: format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            redis: redis.to_owned(),
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            dir: tempfile::tempdir().unwrap(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    fn command(&self, key: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_atlhyper-master"));
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("MASTER_HTTP_PORT", "0")
            .env("MASTER_AGENT_PORT", "0")
            .env("MASTER_BIND", "127.0.0.1")
            .env("MASTER_LOG_FORMAT", "json")
            .env("MASTER_LOG_LEVEL", "info")
            .env("MASTER_AGENT_TOKEN", TOKEN)
            .env("MASTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("MASTER_SECRET_KEY", key)
            .env("MASTER_DATAHUB_TYPE", "redis")
            .env("MASTER_REDIS_ADDR", &self.redis)
            .env("MASTER_REDIS_PREFIX", &self.prefix)
            .env("MASTER_LEASE_TTL", "1s")
            .env("MASTER_COMMAND_POLL_TIMEOUT", "3s")
            .env("MASTER_ALERT_GROUP_WAIT", "0s")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in self.db.env() {
            if k != "MASTER_DB_PATH" {
                cmd.env(k, v);
            }
        }
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts one replica and waits until it listens.
    fn start(&self) -> Replica {
        self.start_with_key(SECRET_KEY).expect("replica starts")
    }

    /// Starts one replica with `key`; `Err(log)` when it exits before listening.
    fn start_with_key(&self, key: &str) -> Result<Replica, String> {
        self.spawn(key).wait()
    }

    fn spawn(&self, key: &str) -> Starting {
        let mut child = self.command(key).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let errs = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                errs.lock().unwrap().push(line);
            }
        });
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["message"] == "atlhyper-master listening" {
                        let _ = tx.send(Some((
                            v["http_port"].as_u64().unwrap(),
                            v["agent_port"].as_u64().unwrap(),
                        )));
                    }
                }
            }
            let _ = tx.send(None);
        });
        Starting { child, rx, log }
    }

    /// Starts `n` replicas at once (on a fresh schema they race to migrate it, create the
    /// first admin and seal the key check).
    fn start_n(&self, n: usize) -> Vec<Replica> {
        let starting: Vec<Starting> = (0..n).map(|_| self.spawn(SECRET_KEY)).collect();
        starting
            .into_iter()
            .map(|s| s.wait().expect("replica starts"))
            .collect()
    }

    async fn login(&self, r: &Replica) -> String {
        let v: Value = self
            .client
            .post(format!("{}/api/v2/auth/login", r.http))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["token"].as_str().expect("login token").to_owned()
    }

    async fn api(
        &self,
        r: &Replica,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", r.http))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn push(&self, r: &Replica, cluster: &str, seq: u64) -> u16 {
        let at = chrono::DateTime::from_timestamp(1_800_000_000 + i64::try_from(seq).unwrap(), 0)
            .unwrap()
            .to_rfc3339();
        let body = json!({"cluster_id": cluster, "fetched_at": at, "pods": null,
            "summary": {"total_pods": seq}});
        self.client
            .post(format!("{}/agent/snapshot", r.agent))
            .bearer_auth(TOKEN)
            .header("X-Cluster-ID", cluster)
            .header("Content-Encoding", "gzip")
            .body(gzip(&serde_json::to_vec(&body).unwrap()))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn heartbeat(&self, r: &Replica, cluster: &str) -> u16 {
        self.client
            .post(format!("{}/agent/heartbeat", r.agent))
            .bearer_auth(TOKEN)
            .header("X-Cluster-ID", cluster)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    /// One long poll; the command's id when one came.
    async fn poll(&self, r: &Replica, cluster: &str) -> Option<String> {
        let v: Value = self
            .client
            .get(format!(
                "{}/agent/commands?cluster_id={cluster}&topic=ops",
                r.agent
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["command"]["id"].as_str().map(str::to_owned)
    }

    async fn result(&self, r: &Replica, cluster: &str, id: &str) -> u16 {
        self.client
            .post(format!("{}/agent/result", r.agent))
            .bearer_auth(TOKEN)
            .header("X-Cluster-ID", cluster)
            .json(&json!({"command_id": id, "success": true, "output": "done"}))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16())
    }

    async fn create_command(&self, r: &Replica, token: &str, cluster: &str, n: u32) -> String {
        let (s, v) = self
            .api(
                r,
                reqwest::Method::POST,
                "/api/v2/command",
                token,
                Some(
                    json!({"cluster_id": cluster, "action": "scale", "kind": "Deployment",
                    "namespace": "shop", "name": format!("web-{n}"), "topic": "ops",
                    "params": {"replicas": 2}}),
                ),
            )
            .await;
        assert_eq!(s, 202, "create command: {v}");
        v["command_id"].as_str().unwrap().to_owned()
    }

    async fn ready(&self, r: &Replica) -> (u16, Value) {
        match self.client.get(format!("{}/ready", r.http)).send().await {
            Ok(resp) => {
                let s = resp.status().as_u16();
                (s, resp.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// Waits until `pred` holds of every replica's `/ready`, or panics after `within`.
    async fn wait_ready(
        &self,
        rs: &[&Replica],
        within: Duration,
        pred: impl Fn(u16, &Value) -> bool,
    ) {
        let t = Instant::now();
        loop {
            let mut all = true;
            let mut last = Value::Null;
            for r in rs {
                let (s, v) = self.ready(r).await;
                if !pred(s, &v) {
                    all = false;
                    last = v;
                }
            }
            if all {
                return;
            }
            assert!(t.elapsed() < within, "not within {within:?}: {last}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Owned clusters per replica, from `/ready`.
    async fn owned(&self, rs: &[&Replica]) -> Vec<u64> {
        let mut out = Vec::new();
        for r in rs {
            let (_, v) = self.ready(r).await;
            out.push(
                v["checks"]["replica"]["owned_clusters"]
                    .as_u64()
                    .unwrap_or(0),
            );
        }
        out
    }

    /// `SELECT {cols} {rest}`, each row's columns as text.
    fn sql(&self, cols: &str, rest: &str) -> Vec<Vec<String>> {
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            s: String,
        }
        let mut c = diesel::PgConnection::establish(&self.db.dsn().unwrap()).unwrap();
        let rows: Vec<Row> =
            diesel::sql_query(format!("SELECT concat_ws('|', {cols}) AS s {rest}"))
                .load(&mut c)
                .unwrap();
        rows.into_iter()
            .map(|r| r.s.split('|').map(str::to_owned).collect())
            .collect()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Every replica is ready and the clusters are all owned.
async fn settled(f: &Fleet, rs: &[&Replica], clusters: u64) {
    let t = Instant::now();
    loop {
        let owned: u64 = f.owned(rs).await.iter().sum();
        if owned == clusters {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "owned {owned} of {clusters}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_command_created_on_b_reaches_the_agent_polling_a_once_and_its_result_on_b_ends_the_wait_on_a(
) {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(db, &redis_url(), &[]);
    let rs = f.start_n(2);
    let (a, b) = (&rs[0], &rs[1]);
    f.wait_ready(&[a, b], Duration::from_secs(15), |s, _| s == 200)
        .await;
    assert_eq!(f.push(a, "c1", 1).await, 200);
    settled(&f, &[a, b], 1).await;
    let token = f.login(b).await;

    // The agent long-polls A; the command is created through B.
    let mut latencies = Vec::new();
    let mut delivered = Vec::new();
    for n in 0..5 {
        let client_f = &f;
        let poll = async { client_f.poll(a, "c1").await };
        let create = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let t = Instant::now();
            (f.create_command(b, &token, "c1", n).await, t)
        };
        let (got, (id, t)) = tokio::join!(poll, create);
        latencies.push(t.elapsed());
        assert_eq!(
            got.as_deref(),
            Some(id.as_str()),
            "poll on A got the command made on B"
        );
        delivered.push(id);
    }
    eprintln!("cross-replica enqueue to agent: {latencies:?}");
    // Never handed out twice: a poll on B now finds nothing.
    assert_eq!(f.poll(b, "c1").await, None);

    // `?wait=` on A returns when the result is posted to B.
    let id = delivered[0].clone();
    let wait_path = format!("/api/v2/commands/{id}?wait=20s");
    let wait = f.api(a, reqwest::Method::GET, &wait_path, &token, None);
    let post = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = Instant::now();
        (f.result(b, "c1", &id).await, t)
    };
    let ((s, cmd), (posted, t)) = tokio::join!(wait, post);
    assert_eq!(posted, 200);
    assert_eq!(s, 200, "{cmd}");
    assert_eq!(cmd["status"], "success", "{cmd}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the wait on A ended {:?} after the result on B",
        t.elapsed()
    );

    // In the database: each command once, the first one finished, none handed out twice.
    let rows = f.sql(
        "status, command_id",
        "FROM command_history ORDER BY created_at",
    );
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0][0], "success");
    assert!(rows[1..].iter().all(|r| r[0] == "running"), "{rows:?}");
}

#[tokio::test]
async fn a_replica_killed_with_sigkill_is_taken_over_without_an_offline_alert_and_a_quiet_cluster_gets_exactly_one(
) {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(db, &redis_url(), &[("MASTER_HEARTBEAT_TIMEOUT", "4s")]);
    let mut rs = f.start_n(3);
    {
        let all: Vec<&Replica> = rs.iter().collect();
        f.wait_ready(&all, Duration::from_secs(15), |s, _| s == 200)
            .await;
    }
    let clusters = ["k1", "k2", "k3", "k4", "k5", "k6"];
    for (i, c) in clusters.iter().enumerate() {
        assert_eq!(f.push(&rs[i % 3], c, 1).await, 200);
    }
    {
        let all: Vec<&Replica> = rs.iter().collect();
        settled(&f, &all, 6).await;
    }
    let token = f.login(&rs[0]).await;

    // Agents: heartbeats round-robin over the live replicas every 300 ms; "k6" stops later.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let quiet = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let agents: Vec<String> = rs.iter().map(|r| r.agent.clone()).collect();
    let hb = {
        let (stop, quiet, agents, client) = (
            Arc::clone(&stop),
            Arc::clone(&quiet),
            agents.clone(),
            f.client.clone(),
        );
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for c in clusters {
                    if c == "k6" && quiet.load(std::sync::atomic::Ordering::SeqCst) {
                        continue;
                    }
                    // Round-robin over every replica, the dead one included; like a load
                    // balancer, a refused connection is retried on the next one.
                    for _ in 0..agents.len() {
                        i += 1;
                        let sent = client
                            .post(format!("{}/agent/heartbeat", agents[i % agents.len()]))
                            .bearer_auth(TOKEN)
                            .header("X-Cluster-ID", c)
                            .timeout(Duration::from_secs(2))
                            .send()
                            .await;
                        if sent.is_ok_and(|r| r.status().is_success()) {
                            break;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    // Commands acknowledged before and after the kill, executed by an agent polling
    // round-robin; each delivery is recorded.
    let mut acknowledged = Vec::new();
    for n in 0..6 {
        acknowledged.push(
            f.create_command(&rs[n % 3], &token, clusters[n % 6], n as u32)
                .await,
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Kill the leader (it also owns clusters) with SIGKILL.
    let mut victim = None;
    for (i, r) in rs.iter().enumerate() {
        let (_, v) = f.ready(r).await;
        if v["checks"]["replica"]["leader"] == true {
            victim = Some(i);
        }
    }
    let victim = victim.expect("one replica leads");
    let killed_at = Instant::now();
    rs[victim].kill9();
    let survivors: Vec<&Replica> = rs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, r)| r)
        .collect();
    // Taken over within twice the lease (1 s here), the leadership too.
    settled(&f, &survivors, 6).await;
    let takeover = killed_at.elapsed();
    f.wait_ready(&survivors, Duration::from_secs(5), |_, _| true)
        .await;
    let leaders = {
        let mut n = 0;
        for r in &survivors {
            n += usize::from(f.ready(r).await.1["checks"]["replica"]["leader"] == true);
        }
        n
    };
    eprintln!("takeover after SIGKILL: {takeover:?}");
    assert!(takeover < Duration::from_secs(2 * 2), "took {takeover:?}");
    assert_eq!(leaders, 1);
    for n in 6..9 {
        acknowledged.push(
            f.create_command(survivors[n % 2], &token, clusters[n % 6], n as u32)
                .await,
        );
    }
    // An agent per cluster drains the commands through the survivors.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let t = Instant::now();
    while seen.len() < acknowledged.len() && t.elapsed() < Duration::from_secs(30) {
        for (i, c) in clusters.iter().enumerate() {
            let r = survivors[i % 2];
            let got = tokio::time::timeout(Duration::from_millis(400), f.poll(r, c)).await;
            if let Ok(Some(id)) = got {
                *seen.entry(id.clone()).or_default() += 1;
                assert_eq!(f.result(survivors[(i + 1) % 2], c, &id).await, 200);
            }
        }
    }
    // Commands handed out to the dead replica's polls before the kill would be running
    // (none were: nothing polled before the kill). Every acknowledged command was handed
    // out exactly once and finished exactly once.
    for id in &acknowledged {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "command {id} delivered {:?} times",
            seen.get(id)
        );
    }
    let done = f.sql("status", "FROM command_history");
    assert_eq!(done.len(), acknowledged.len());
    assert!(done.iter().all(|r| r[0] == "success"), "{done:?}");

    // The takeover itself raised no offline alert.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let offline = f.sql(
        "cluster_id",
        "FROM alert_history WHERE rule_name = 'agent_offline'",
    );
    assert!(
        offline.is_empty(),
        "offline alerts for a takeover: {offline:?}"
    );

    // A cluster that really goes quiet gets exactly one.
    quiet.store(true, std::sync::atomic::Ordering::SeqCst);
    let t = Instant::now();
    loop {
        let rows = f.sql(
            "cluster_id, status",
            "FROM alert_history WHERE rule_name = 'agent_offline'",
        );
        if !rows.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no offline alert for k6"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = f.sql(
        "cluster_id",
        "FROM alert_history WHERE rule_name = 'agent_offline'",
    );
    assert_eq!(rows, vec![vec!["k6".to_owned()]]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    hb.await.unwrap();
    // Each survivor shows k6 offline and the others online.
    for r in &survivors {
        let (_, v) = f
            .api(r, reqwest::Method::GET, "/api/v2/clusters", &token, None)
            .await;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        let status: HashMap<String, String> = items
            .iter()
            .map(|c| {
                (
                    c["cluster_id"].as_str().unwrap_or("").to_owned(),
                    c["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert_eq!(status.get("k6").map(String::as_str), Some("offline"), "{v}");
        assert_eq!(status.get("k1").map(String::as_str), Some("online"), "{v}");
    }
}

#[tokio::test]
async fn a_token_revoked_on_a_is_refused_on_b_within_a_second_and_so_is_a_rotated_agent_token() {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(db, &redis_url(), &[]);
    let rs = f.start_n(2);
    let (a, b) = (&rs[0], &rs[1]);
    let admin = f.login(a).await;
    let session = f.login(b).await;
    assert_eq!(
        f.api(b, reqwest::Method::GET, "/api/v2/clusters", &session, None)
            .await
            .0,
        200
    );
    let (s, _) = f
        .api(
            a,
            reqwest::Method::POST,
            "/api/v2/auth/logout",
            &session,
            None,
        )
        .await;
    assert_eq!(s, 200);
    let t = Instant::now();
    loop {
        let (s, _) = f
            .api(b, reqwest::Method::GET, "/api/v2/clusters", &session, None)
            .await;
        if s == 401 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "still accepted on B after {:?}",
            t.elapsed()
        );
    }

    // An agent token rotated on A stops working on B within a second.
    let (s, v) = f
        .api(
            a,
            reqwest::Method::POST,
            "/api/v2/clusters",
            &admin,
            Some(json!({"cluster_id": "tok1", "name": "tok1"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let old = v["agent_token"].as_str().unwrap().to_owned();
    let hb = |r: &Replica, tok: String| {
        let req = f
            .client
            .post(format!("{}/agent/heartbeat", r.agent))
            .bearer_auth(tok)
            .header("X-Cluster-ID", "tok1");
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // B learns the new cluster's token within a second.
    let t = Instant::now();
    while hb(b, old.clone()).await != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "B never accepted the new token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, v) = f
        .api(
            a,
            reqwest::Method::POST,
            "/api/v2/clusters/tok1/agent-token",
            &admin,
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let new = v["agent_token"].as_str().unwrap().to_owned();
    let t = Instant::now();
    while hb(b, old.clone()).await != 401 {
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "old agent token still accepted on B"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("rotated agent token refused on B after {:?}", t.elapsed());
    let t = Instant::now();
    while hb(b, new.clone()).await != 200 {
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "new agent token refused on B"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_live_feed_on_b_carries_a_snapshot_pushed_to_a_and_b_serves_its_objects() {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(db, &redis_url(), &[]);
    let rs = f.start_n(2);
    let (a, b) = (&rs[0], &rs[1]);
    assert_eq!(f.push(a, "feed1", 1).await, 200);
    settled(&f, &[a, b], 1).await;
    let token = f.login(b).await;
    let mut sse = f
        .client
        .get(format!("{}/api/v2/subscribe", b.http))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    // The real fixture, pushed to A.
    let raw = std::fs::read("tests/fixtures/medium-go.json.gz").unwrap();
    let mut d = flate2::read::GzDecoder::new(&raw[..]);
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut json).unwrap();
    let mut snap: Value = serde_json::from_slice(&json).unwrap();
    snap["cluster_id"] = json!("feed1");
    snap["fetched_at"] = json!("2030-01-01T00:00:00Z");
    let pods = snap["pods"].as_array().map_or(0, Vec::len);
    let s = f
        .client
        .post(format!("{}/agent/snapshot", a.agent))
        .bearer_auth(TOKEN)
        .header("X-Cluster-ID", "feed1")
        .header("Content-Encoding", "gzip")
        .body(gzip(&serde_json::to_vec(&snap).unwrap()))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(s, 200);
    let t = Instant::now();
    let mut text = String::new();
    while !text.contains("event: snapshot") || !text.contains("2030-01-01") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), sse.chunk())
            .await
            .expect("an SSE event within 10 s")
            .unwrap()
            .expect("stream open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    eprintln!("snapshot on A seen on B's feed after {:?}", t.elapsed());
    // B answers reads from the relayed snapshot.
    let (s, v) = f
        .api(
            b,
            reqwest::Method::GET,
            "/api/v2/clusters/feed1/resources/pods?limit=1000",
            &token,
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let n = v["total"]
        .as_u64()
        .or_else(|| v["items"].as_array().map(|a| a.len() as u64));
    assert_eq!(
        n,
        Some(pods as u64),
        "{}",
        &v.to_string()[..200.min(v.to_string().len())]
    );
}

#[tokio::test]
async fn redis_stopped_and_started_again_mid_run_degrades_ready_loses_nothing_and_recovers() {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let redis_dir = tempfile::tempdir().unwrap();
    let start_redis = || {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(redis_dir.path())
            .stdout(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => panic!("redis-server is needed for this test: {e}"),
        };
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            if let Ok(Some(st)) = child.try_wait() {
                panic!("redis-server exited: {st}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    };
    let mut redis = start_redis();
    let f = Fleet::new(db, &format!("redis://127.0.0.1:{port}/3"), &[]);
    let rs = f.start_n(2);
    let (a, b) = (&rs[0], &rs[1]);
    f.wait_ready(&[a, b], Duration::from_secs(15), |s, _| s == 200)
        .await;
    assert_eq!(f.push(a, "r1", 1).await, 200);
    settled(&f, &[a, b], 1).await;
    let token = f.login(a).await;

    // Redis goes away.
    redis.kill().unwrap();
    redis.wait().unwrap();
    f.wait_ready(&[a, b], Duration::from_secs(10), |s, v| {
        s == 503
            && v["checks"]["redis"]
                .as_str()
                .is_some_and(|r| r.starts_with("failed"))
    })
    .await;
    let (_, v) = f.ready(a).await;
    assert!(v["error"].as_str().unwrap().contains("redis"), "{v}");
    // It keeps serving what reaches it, and what it acknowledges is stored.
    assert_eq!(f.push(a, "r1", 2).await, 200);
    assert_eq!(f.heartbeat(b, "r1").await, 200);
    let poll = f.poll(a, "r1");
    let create = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        f.create_command(a, &token, "r1", 1).await
    };
    let (got, id) = tokio::join!(poll, create);
    assert_eq!(
        got.as_deref(),
        Some(id.as_str()),
        "same-replica commands still flow"
    );
    assert_eq!(f.result(b, "r1", &id).await, 200);
    let metrics = f
        .client
        .get(format!("{}/metrics", a.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("atlhyper_hub_redis_up 0"), "{metrics}");

    // Redis comes back: both replicas recover without a restart.
    let mut redis = start_redis();
    f.wait_ready(&[a, b], Duration::from_secs(15), |s, _| s == 200)
        .await;
    // And a command made on B reaches A's poll again.
    let poll = f.poll(a, "r1");
    let create = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        f.create_command(b, &token, "r1", 2).await
    };
    let (got, id2) = tokio::join!(poll, create);
    assert_eq!(got.as_deref(), Some(id2.as_str()));
    let rows = f.sql(
        "command_id, status",
        "FROM command_history ORDER BY created_at",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], vec![id, "success".to_owned()]);
    let _ = redis.kill();
    let _ = redis.wait();
}

#[tokio::test]
async fn a_replica_with_another_secret_key_refuses_to_start_and_says_why() {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(db, &redis_url(), &[]);
    let _a = f.start();
    let log = f
        .start_with_key("a-different-secret-key-9876543210")
        .err()
        .expect("a replica with another key must not start");
    assert!(log.contains("secret key cannot open"), "{log}");
    assert!(log.contains("MASTER_SECRET_KEY"), "{log}");
}

#[tokio::test]
async fn replicas_share_out_the_clusters_and_a_new_replica_gets_its_share() {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(db, &redis_url(), &[]);
    let a = f.start();
    for i in 0..6 {
        assert_eq!(f.push(&a, &format!("s{i}"), 1).await, 200);
    }
    settled(&f, &[&a], 6).await;
    assert_eq!(f.owned(&[&a]).await, vec![6]);
    // Online on the first replica before the second one starts: the second never sees a
    // transition, only the owners' repeated announcements.
    let token = f.login(&a).await;
    let t = Instant::now();
    loop {
        for i in 0..6 {
            f.heartbeat(&a, &format!("s{i}")).await;
        }
        let (_, v) = f
            .api(&a, reqwest::Method::GET, "/api/v2/clusters", &token, None)
            .await;
        if v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "online")
        {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let b = f.start();
    let t = Instant::now();
    loop {
        let owned = f.owned(&[&a, &b]).await;
        if owned == vec![3, 3] {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "not shared out: {owned:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every replica shows all six clusters, with their status from their owners.
    let (_, v) = f
        .api(&b, reqwest::Method::GET, "/api/v2/clusters", &token, None)
        .await;
    let ids: HashSet<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 6, "{v}");
    assert!(a.logged("cluster ownership changed"));
    // The replica that joined learns the liveness of the clusters it does not own: the
    // owners repeat it (they relay only transitions as they happen).
    let t = Instant::now();
    loop {
        // The agents keep talking, to the first replica only.
        for i in 0..6 {
            f.heartbeat(&a, &format!("s{i}")).await;
        }
        let (_, v) = f
            .api(&b, reqwest::Method::GET, "/api/v2/clusters", &token, None)
            .await;
        let online = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "online")
            .count();
        if online == 6 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(12),
            "online on the new replica: {online} of 6: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn failed_logins_spread_over_replicas_lock_the_account_on_every_replica() {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(db, &redis_url(), &[]);
    let rs = f.start_n(2);
    let attempt = |r: &Replica, password: &str| {
        let req = f
            .client
            .post(format!("{}/api/v2/auth/login", r.http))
            .json(&json!({"username": "admin", "password": password}));
        async move {
            let resp = req.send().await.unwrap();
            let s = resp.status().as_u16();
            (s, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Five failures, alternating between the replicas: the fifth locks the pair.
    for i in 0..5 {
        let (s, _) = attempt(&rs[i % 2], "wrong-password").await;
        assert!(s == 401 || s == 429, "failure {i}: {s}");
    }
    // Locked on both, even with the right password.
    for r in &rs {
        let (s, v) = attempt(r, ADMIN_PASSWORD).await;
        assert_eq!(s, 429, "{v}");
        assert_eq!(v["code"], "login_locked");
    }
}

#[tokio::test]
async fn an_alert_rule_disabled_on_a_follower_holds_on_the_leader() {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(db, &redis_url(), &[("MASTER_HEARTBEAT_TIMEOUT", "2s")]);
    let rs = f.start_n(2);
    f.wait_ready(&[&rs[0], &rs[1]], Duration::from_secs(15), |s, v| {
        s == 200 && v["checks"]["replica"]["name"].is_string()
    })
    .await;
    // Wait for a leader, then talk to the other replica.
    let t = Instant::now();
    let follower = loop {
        let mut leader = None;
        for (i, r) in rs.iter().enumerate() {
            if f.ready(r).await.1["checks"]["replica"]["leader"] == true {
                leader = Some(i);
            }
        }
        if let Some(l) = leader {
            break &rs[1 - l];
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let token = f.login(follower).await;
    let (_, rules) = f
        .api(
            follower,
            reqwest::Method::GET,
            "/api/v2/alert-rules",
            &token,
            None,
        )
        .await;
    let id = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "agent_offline")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, v) = f
        .api(
            follower,
            reqwest::Method::PATCH,
            &format!("/api/v2/alert-rules/{id}"),
            &token,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // A cluster that goes quiet: with the rule off, the leader records no alert.
    assert_eq!(f.push(follower, "quiet1", 1).await, 200);
    settled(&f, &[&rs[0], &rs[1]], 1).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for r in &rs {
        let (_, v) = f
            .api(r, reqwest::Method::GET, "/api/v2/clusters", &token, None)
            .await;
        assert_eq!(v["items"][0]["status"], "offline", "{v}");
    }
    let rows = f.sql(
        "cluster_id",
        "FROM alert_history WHERE rule_name = 'agent_offline'",
    );
    assert!(
        rows.is_empty(),
        "the leader used the rule disabled on the follower: {rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_simulator_load_a_sigkilled_replica_loses_no_command_result_or_event() {
    let Some((db, _turn)) = pg().await else {
        return;
    };
    let f = Fleet::new(
        db,
        &redis_url(),
        &[
            ("MASTER_COMMAND_RESULT_TIMEOUT", "6s"),
            ("MASTER_AGENT_RATE_LIMIT", "0"),
        ],
    );
    let mut rs = f.start_n(3);
    // The agents reach the replicas through a round-robin proxy, like a load balancer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let backends: Vec<String> = rs
        .iter()
        .map(|r| r.agent.trim_start_matches("http://").to_owned())
        .collect();
    tokio::spawn(atlhyper_agent_sim::proxy::run(
        listener,
        backends,
        Duration::from_millis(500),
    ));
    let stats = Arc::new(atlhyper_agent_sim::Stats::default());
    let cfg = atlhyper_agent_sim::Config {
        master: proxy,
        token: Some(TOKEN.to_owned()),
        clusters: 4,
        pods: 60,
        prefix: "sim".into(),
        interval: Duration::from_secs(1),
        heartbeat: Duration::from_secs(1),
        slo_interval: Duration::ZERO,
        topics: vec!["ops".into()],
        ..atlhyper_agent_sim::Config::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim = tokio::spawn(atlhyper_agent_sim::run_with(
        cfg,
        async {
            let _ = stop_rx.await;
        },
        Arc::clone(&stats),
    ));
    {
        let all: Vec<&Replica> = rs.iter().collect();
        settled(&f, &all, 4).await;
    }
    let token = f.login(&rs[0]).await;
    // Commands through every replica's API, before and after the kill: restarts the
    // simulator's agents can run.
    let ids: Vec<String> = {
        let (_, v) = f
            .api(
                &rs[0],
                reqwest::Method::GET,
                "/api/v2/clusters/sim-0001/resources/deployments?limit=5",
                &token,
                None,
            )
            .await;
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let s = &d["summary"];
                format!(
                    "{}/{}",
                    s["namespace"].as_str().unwrap(),
                    s["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert!(!ids.is_empty(), "the simulator's deployments");
    let create = |r: &Replica, n: usize| {
        let (ns, name) = ids[n % ids.len()].split_once('/').unwrap();
        let body = json!({"cluster_id": format!("sim-000{}", 1 + n % 4), "action": "restart",
            "kind": "Deployment", "namespace": ns, "name": name, "topic": "ops"});
        let req = f
            .client
            .post(format!("{}/api/v2/command", r.http))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 202);
            resp.json::<Value>().await.unwrap()["command_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let mut acknowledged = Vec::new();
    for n in 0..12 {
        acknowledged.push(create(&rs[n % 3], n).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let victim = {
        let mut v = 0;
        for (i, r) in rs.iter().enumerate() {
            if f.ready(r).await.1["checks"]["replica"]["leader"] == true {
                v = i;
            }
        }
        v
    };
    rs[victim].kill9();
    let survivors: Vec<&Replica> = rs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, r)| r)
        .collect();
    settled(&f, &survivors, 4).await;
    for n in 12..24 {
        acknowledged.push(create(survivors[n % 2], n).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let every command run (or time out if it died with the replica), then stop.
    let t = Instant::now();
    loop {
        let open = f.sql(
            "command_id",
            "FROM command_history WHERE status IN ('pending', 'running')",
        );
        if open.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "commands left open: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = stop_tx.send(());
    let _summary = sim.await.unwrap().unwrap();
    let received = stats.commands.load(std::sync::atomic::Ordering::SeqCst);
    let results = stats.results.load(std::sync::atomic::Ordering::SeqCst);
    let rows = f.sql("status", "FROM command_history");
    let success = rows.iter().filter(|r| r[0] == "success").count() as u64;
    let other: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] != "success").collect();
    eprintln!(
        "acknowledged {}, handed to agents {received}, results acknowledged {results}, success {success}, other {other:?}",
        acknowledged.len()
    );
    // Every acknowledged command is stored once and finished; none was handed out twice;
    // every acknowledged result is stored.
    assert_eq!(rows.len(), acknowledged.len());
    assert!(
        received <= acknowledged.len() as u64,
        "a command was handed out twice"
    );
    assert_eq!(
        success, results,
        "an acknowledged result is missing or doubled"
    );
    // Only a command in flight on the killed replica may time out.
    assert!(other.iter().all(|r| r[0] == "timeout"), "{other:?}");
    assert!(other.len() <= 3, "{other:?}");

    // Events: every event of each cluster's latest snapshot is stored, with its count,
    // never more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for c in ["sim-0001", "sim-0002", "sim-0003", "sim-0004"] {
        let (s, snap) = f
            .api(
                survivors[0],
                reqwest::Method::GET,
                &format!("/api/v2/clusters/{c}/snapshot"),
                &token,
                None,
            )
            .await;
        assert_eq!(s, 200);
        let stored: HashMap<String, i64> = f
            .sql(
                "event_uid, count",
                &format!("FROM cluster_events WHERE cluster_id = '{c}'"),
            )
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap()))
            .collect();
        let events = snap["events"].as_array().cloned().unwrap_or_default();
        assert!(!events.is_empty());
        for e in events {
            let uid = e["uid"].as_str().unwrap();
            let count = e["count"].as_i64().unwrap_or(0).max(1);
            let got = stored.get(uid).copied();
            let got = got.unwrap_or_else(|| panic!("{c}: event {uid} not stored"));
            assert_eq!(
                got.max(1),
                count,
                "{c}: event {uid}: stored count vs the snapshot's"
            );
        }
    }
    // No offline alert for the takeover.
    let offline = f.sql(
        "cluster_id",
        "FROM alert_history WHERE rule_name = 'agent_offline'",
    );
    assert!(offline.is_empty(), "{offline:?}");
}
