//! Replicas: several masters serving one fleet on one PostgreSQL and one Redis
//! (`MASTER_DATAHUB_TYPE=redis`), each a real process of the release binary.
//!
//! `cargo bench --bench replicas [-- --quick --pg-url URL --redis-url URL --iterations 200
//!  --repeats 3 --window 20 --pushers 8 --clusters 24 --replicas 1,2,3 --out replicas]`
//!
//! Needs PostgreSQL (`--pg-url`, else `MASTER_TEST_PG_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`) and Redis (`--redis-url`, else
//! `MASTER_TEST_REDIS_URL`, else `redis://127.0.0.1:6379`); when either does not answer it
//! says why and exits 0. Every fleet below runs in a fresh PostgreSQL schema (dropped at
//! the end, `tests/support/db.rs`) under its own `MASTER_REDIS_PREFIX`. The replicas run
//! with the dashboard and agent rate limits off (`MASTER_API_RATE_LIMIT=0`,
//! `MASTER_AGENT_RATE_LIMIT=0`): the bench measures the replicas, not the limiter.
//!
//! a. **Cross-replica command latency.** Two replicas, two clusters (one owned by each:
//!    the iterations alternate between them). An agent long-polls replica A; once A's
//!    `GET /api/v2/clusters/{id}/status` shows the poll parked, the command is created
//!    through replica B (`POST /api/v2/command`): t0 just before the create goes out, t1
//!    when the poll on A has read the command. Then the agent posts a success result. The
//!    same-replica baseline (create on A, poll on A) is interleaved with it. `--iterations`
//!    each (after 5 untimed warm-ups): p50/p99/max and the ratios cross ÷ same.
//!    Target: cross-replica p99 < 50 ms.
//! b. **Takeover after SIGKILL** with the default lease (`MASTER_LEASE_TTL` unset, 5 s).
//!    Three replicas, 30 clusters kept alive by heartbeats every 500 ms that go
//!    round-robin over the replicas, a refused one skipped (as a load balancer does). The
//!    replica owning the most clusters is killed with SIGKILL; the takeover time runs
//!    until the survivors' `/ready` `owned_clusters` sum to 30 again (polled every 20 ms),
//!    and, when the victim led, until a survivor leads. Meanwhile every survivor's
//!    `GET /api/v2/clusters` is read every 100 ms: no cluster may show `offline`.
//!    Ties go to the leader, then to the oldest replica. Then a fresh replica joins and the
//!    share settles (10 each) before the next of `--repeats` kills; 10 s after it joined,
//!    every replica's `GET /api/v2/clusters` is read again (what is not `online` is
//!    reported), and what a survivor already showed not online before a kill is told
//!    apart from what went offline during the takeover.
//! c. **Ingest throughput** with 1, 2 and 3 replicas (`--replicas`), each a fresh fleet.
//!    `--pushers` concurrent pushers push gzip snapshots of the medium fixture
//!    (`tests/fixtures/medium-go.json.gz`, 2.2 MB of JSON) for `--clusters` clusters for
//!    `--window` seconds, each push to the next replica's agent port in turn. Each body
//!    carries its cluster's id and a strictly increasing `fetched_at`; the fixture is split
//!    around those two values and its pieces gzipped once before the clock starts
//!    (`common::PushBody`: a push only concatenates them with two tiny stored gzip
//!    members). Reported: accepted pushes per second; per replica the CPU seconds
//!    (utime + stime of `/proc/<pid>/stat`) used in the window; CPU ms per accepted push
//!    (all replicas' CPU ÷ pushes); the machine's busy cores over the window, and the
//!    part of it outside the replicas and this process (PostgreSQL, Redis, anything else
//!    running on the machine). Every replica parses every snapshot (the one it received,
//!    or the relayed one), while the persisters run once per cluster, on its owner: on a
//!    machine with fewer cores than replicas more replicas cannot add CPU, so the
//!    per-push CPU is what shows the cost of scaling out.
//!
//! `--quick`: 40 iterations, one takeover, 8 s windows (a smoke run, about a minute and a
//! half). Prints a table and writes `benches/results/<--out>.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

#[path = "../tests/support/db.rs"]
mod db;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::Connection as _;
use serde_json::{json, Value};

const SECRET_KEY: &str = "replica-bench-secret-key-0123456789";
const FIXTURE: &str = "tests/fixtures/medium-go.json.gz";
/// Cross-replica enqueue-to-agent p99 target.
const TARGET_CROSS_P99: Duration = Duration::from_millis(50);
/// The default lease; a dead replica's clusters get a new owner within twice this.
const DEFAULT_LEASE: Duration = Duration::from_secs(5);
/// Clusters in the takeover part.
const TAKEOVER_CLUSTERS: usize = 30;

// ---------------------------------------------------------------------------------------
// Replicas as child processes
// ---------------------------------------------------------------------------------------

/// One replica: the release binary on ports 0.
struct Replica {
    child: Child,
    pid: u32,
    http: String,
    agent: String,
    /// WARN/ERROR log lines (the first 20) and how many there were.
    warnings: Arc<Mutex<Vec<String>>>,
    warning_count: Arc<AtomicU64>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// SIGKILL (`Child::kill` on Unix), and reap it.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(&self.pid.to_string())
    }
}

/// Keeps a log line if it is a warning or an error.
fn keep_warning(line: &str, sink: &Mutex<Vec<String>>, count: &AtomicU64) {
    if line.contains("\"level\":\"WARN\"")
        || line.contains("\"level\":\"ERROR\"")
        || line.contains("panicked")
    {
        count.fetch_add(1, Relaxed);
        let mut w = sink.lock().unwrap();
        if w.len() < 20 {
            w.push(line.chars().take(400).collect());
        }
    }
}

/// The replicas of one installation: its own schema and Redis prefix.
struct Fleet {
    /// Declared first: the replicas go before the schema is dropped.
    replicas: Vec<Replica>,
    /// Warnings of replicas already gone (killed), by part.
    gone_warnings: Vec<String>,
    gone_warning_count: u64,
    tag: String,
    prefix: String,
    redis: String,
    extra: Vec<(String, String)>,
    db: db::TestDb,
}

impl Fleet {
    fn new(tag: &str, redis: &str, extra: &[(&str, &str)]) -> Fleet {
        Fleet {
            replicas: Vec::new(),
            gone_warnings: Vec::new(),
            gone_warning_count: 0,
            tag: tag.to_owned(),
            prefix: format!(
                "bench-{tag}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..10]
            ),
            redis: redis.to_owned(),
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            db: db::TestDb::new(),
        }
    }

    /// Starts one replica and waits (60 s at most) until it listens.
    fn spawn(&self) -> Replica {
        let mut cmd = Command::new(master_bin());
        cmd.current_dir(self.db.dir())
            .env_clear()
            .env("MASTER_HTTP_PORT", "0")
            .env("MASTER_AGENT_PORT", "0")
            .env("MASTER_BIND", "127.0.0.1")
            .env("MASTER_LOG_FORMAT", "json")
            .env("MASTER_LOG_LEVEL", "info")
            .env("MASTER_AGENT_TOKEN", AGENT_TOKEN)
            .env("MASTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("MASTER_SECRET_KEY", SECRET_KEY)
            .env("MASTER_API_RATE_LIMIT", "0")
            .env("MASTER_AGENT_RATE_LIMIT", "0")
            .env("MASTER_DATAHUB_TYPE", "redis")
            .env("MASTER_REDIS_ADDR", &self.redis)
            .env("MASTER_REDIS_PREFIX", &self.prefix)
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
        let mut child = cmd.spawn().expect("start a replica");
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let warning_count = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let (sink, count) = (Arc::clone(&warnings), Arc::clone(&warning_count));
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep_warning(&line, &sink, &count);
            }
        });
        let (sink, count) = (Arc::clone(&warnings), Arc::clone(&warning_count));
        std::thread::spawn(move || {
            let mut listening = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !listening && line.contains("atlhyper-master listening") {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        listening = true;
                        let _ = tx.send((
                            v["http_port"].as_u64().unwrap_or(0),
                            v["agent_port"].as_u64().unwrap_or(0),
                        ));
                    }
                }
                keep_warning(&line, &sink, &count);
            }
        });
        let (http, agent) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(ports) => ports,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{}: a replica did not start: {:?}",
                    self.tag,
                    warnings.lock().unwrap()
                );
            }
        };
        Replica {
            child,
            pid,
            http: format!("http://127.0.0.1:{http}"),
            agent: format!("http://127.0.0.1:{agent}"),
            warnings,
            warning_count,
        }
    }

    /// Starts `n` replicas one after the other (the first migrates the schema).
    fn start(&mut self, n: usize) {
        for _ in 0..n {
            let r = self.spawn();
            self.replicas.push(r);
        }
    }

    fn https(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.http.clone()).collect()
    }

    fn agents(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.agent.clone()).collect()
    }

    /// Puts a fresh replica in slot `i` (the old one, dead, is reaped and its warnings
    /// kept).
    fn replace(&mut self, i: usize) {
        let fresh = self.spawn();
        let old = std::mem::replace(&mut self.replicas[i], fresh);
        self.gone_warning_count += old.warning_count.load(Relaxed);
        self.gone_warnings
            .extend(old.warnings.lock().unwrap().iter().cloned());
    }

    /// WARN/ERROR lines logged by every replica of this fleet: count and the first few.
    fn warnings(&self) -> (u64, Vec<String>) {
        let mut n = self.gone_warning_count;
        let mut lines = self.gone_warnings.clone();
        for r in &self.replicas {
            n += r.warning_count.load(Relaxed);
            lines.extend(r.warnings.lock().unwrap().iter().cloned());
        }
        lines.truncate(10);
        (n, lines)
    }
}

// ---------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn get_json(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = client.get(url).timeout(Duration::from_secs(5));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    match req.send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// `(owned_clusters, leader)` of each replica, from `/ready` (all at once).
async fn roles(client: &reqwest::Client, https: &[String]) -> Vec<(u64, bool)> {
    futures_util::future::join_all(https.iter().map(|h| async move {
        let (_, v) = get_json(client, &format!("{h}/ready"), None).await;
        let r = &v["checks"]["replica"];
        (
            r["owned_clusters"].as_u64().unwrap_or(0),
            r["leader"].as_bool().unwrap_or(false),
        )
    }))
    .await
}

/// Waits until every replica answers `/ready` with 200.
async fn all_ready(client: &reqwest::Client, https: &[String], within: Duration) {
    let t = Instant::now();
    loop {
        let ok = futures_util::future::join_all(
            https
                .iter()
                .map(|h| async move { get_json(client, &format!("{h}/ready"), None).await.0 }),
        )
        .await
        .iter()
        .all(|s| *s == 200);
        if ok {
            return;
        }
        assert!(t.elapsed() < within, "replicas not ready within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the replicas own `total` clusters between them, none above its fair share
/// (`ceil(total / replicas)`), and exactly one leads; how long that took.
async fn settle(
    client: &reqwest::Client,
    https: &[String],
    total: u64,
    within: Duration,
) -> Duration {
    let t = Instant::now();
    let share = total.div_ceil(https.len() as u64);
    loop {
        let r = roles(client, https).await;
        let sum: u64 = r.iter().map(|x| x.0).sum();
        let leaders = r.iter().filter(|x| x.1).count();
        if sum == total && r.iter().all(|x| x.0 <= share) && leaders == 1 {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < within,
            "not settled within {within:?}: (owned, leader) {r:?} of {total}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal snapshot: enough to create the cluster.
async fn tiny_push(client: &reqwest::Client, agent: &str, cluster: &str) -> u16 {
    let at = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let body = json!({"cluster_id": cluster, "fetched_at": at, "pods": null,
        "summary": {"total_pods": 0}});
    client
        .post(format!("{agent}/agent/snapshot"))
        .bearer_auth(AGENT_TOKEN)
        .header("X-Cluster-ID", cluster)
        .header("Content-Encoding", "gzip")
        .body(gzip(&serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

async fn heartbeat(client: &reqwest::Client, agent: &str, cluster: &str) -> u16 {
    client
        .post(format!("{agent}/agent/heartbeat"))
        .bearer_auth(AGENT_TOKEN)
        .header("X-Cluster-ID", cluster)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// One long poll; the command's id when one came, and when its reply was read.
async fn poll(client: &reqwest::Client, agent: &str, cluster: &str) -> (Option<String>, Instant) {
    let v: Option<Value> = async {
        client
            .get(format!(
                "{agent}/agent/commands?cluster_id={cluster}&topic=ops"
            ))
            .bearer_auth(AGENT_TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }
    .await;
    let at = Instant::now();
    (
        v.and_then(|v| v["command"]["id"].as_str().map(str::to_owned)),
        at,
    )
}

async fn post_result(client: &reqwest::Client, agent: &str, cluster: &str, id: &str) -> u16 {
    client
        .post(format!("{agent}/agent/result"))
        .bearer_auth(AGENT_TOKEN)
        .header("X-Cluster-ID", cluster)
        .json(&json!({"command_id": id, "success": true, "output": "done"}))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

async fn create_command(
    client: &reqwest::Client,
    http: &str,
    token: &str,
    cluster: &str,
    n: usize,
) -> Option<String> {
    let r = client
        .post(format!("{http}/api/v2/command"))
        .bearer_auth(token)
        .json(
            &json!({"cluster_id": cluster, "action": "scale", "kind": "Deployment",
            "namespace": "shop", "name": format!("web-{n}"), "topic": "ops",
            "params": {"replicas": 2}}),
        )
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 202 {
        eprintln!("  create command: {}", r.status());
        return None;
    }
    let v: Value = r.json().await.ok()?;
    v["command_id"].as_str().map(str::to_owned)
}

/// Every cluster's `status` as `GET /api/v2/clusters` on `http` shows it.
async fn statuses(
    client: &reqwest::Client,
    http: &str,
    token: &str,
) -> Option<HashMap<String, String>> {
    let (s, v) = get_json(
        client,
        &format!("{http}/api/v2/clusters?limit=1000"),
        Some(token),
    )
    .await;
    if s != 200 {
        return None;
    }
    Some(
        v["items"]
            .as_array()?
            .iter()
            .map(|c| {
                (
                    c["cluster_id"].as_str().unwrap_or("").to_owned(),
                    c["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
    )
}

/// For each replica, the clusters of `clusters` it does not show `online`.
async fn not_online(
    client: &reqwest::Client,
    https: &[String],
    token: &str,
    clusters: &[String],
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for h in https {
        let st = statuses(client, h, token).await.unwrap_or_default();
        out.push(
            clusters
                .iter()
                .filter(|c| st.get(*c).is_none_or(|s| s != "online"))
                .cloned()
                .collect(),
        );
    }
    out
}

/// Waits (`within` at most) until every replica shows all of `clusters` online; what
/// each replica still does not show online at the end (empty when all are).
async fn all_online(
    client: &reqwest::Client,
    https: &[String],
    token: &str,
    clusters: &[String],
    within: Duration,
) -> Vec<Vec<String>> {
    let t = Instant::now();
    loop {
        let left = not_online(client, https, token, clusters).await;
        if left.iter().all(Vec::is_empty) || t.elapsed() >= within {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// True once `cluster`'s status on `http` shows a parked poll.
async fn wait_parked(client: &reqwest::Client, http: &str, token: &str, cluster: &str) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        let (_, v) = get_json(
            client,
            &format!("{http}/api/v2/clusters/{cluster}/status"),
            Some(token),
        )
        .await;
        if v["commands"]["parked_polls"].as_u64().unwrap_or(0) >= 1 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

// ---------------------------------------------------------------------------------------
// a. Cross-replica command latency
// ---------------------------------------------------------------------------------------

struct Latency {
    cross: Vec<Duration>,
    same: Vec<Duration>,
    cross_create: Vec<Duration>,
    same_create: Vec<Duration>,
    misses: usize,
    unparked: usize,
    warnings: (u64, Vec<String>),
}

async fn latency(client: &reqwest::Client, fleet: &mut Fleet, iterations: usize) -> Latency {
    tokio::task::block_in_place(|| fleet.start(2));
    let https = fleet.https();
    all_ready(client, &https, Duration::from_secs(30)).await;
    let (a, b) = (&fleet.replicas[0], &fleet.replicas[1]);
    let clusters = ["lat-1", "lat-2"];
    for c in clusters {
        assert_eq!(tiny_push(client, &a.agent, c).await, 200, "create {c}");
    }
    settle(client, &https, 2, Duration::from_secs(60)).await;
    println!("  a: two replicas own one cluster each");
    let token = admin_login(client, &b.http, ADMIN_PASSWORD).await;
    let mut out = Latency {
        cross: Vec::new(),
        same: Vec::new(),
        cross_create: Vec::new(),
        same_create: Vec::new(),
        misses: 0,
        unparked: 0,
        warnings: (0, Vec::new()),
    };
    let warmup = 5;
    let mut n = 0;
    for i in 0..warmup + iterations {
        // Alternate the order of the two kinds, and the cluster (hence its owner).
        let kinds = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for cross in kinds {
            let cluster = clusters[(i / 2) % 2];
            let creator = if cross { b } else { a };
            n += 1;
            let polled = poll(client, &a.agent, cluster);
            let created = async {
                if !wait_parked(client, &a.http, &token, cluster).await {
                    return None;
                }
                let t0 = Instant::now();
                let id = create_command(client, &creator.http, &token, cluster, n).await;
                Some((id, t0, t0.elapsed()))
            };
            let ((got, at), created) = tokio::join!(polled, created);
            if let Some(id) = &got {
                post_result(client, &a.agent, cluster, id).await;
            }
            let Some((id, t0, create_took)) = created else {
                out.unparked += 1;
                continue;
            };
            if got.is_none() || got != id {
                out.misses += 1;
                // Drain whatever is left for this cluster before going on.
                while let Ok((Some(left), _)) = tokio::time::timeout(
                    Duration::from_millis(500),
                    poll(client, &a.agent, cluster),
                )
                .await
                {
                    post_result(client, &a.agent, cluster, &left).await;
                }
                continue;
            }
            if i < warmup {
                continue;
            }
            let took = at.saturating_duration_since(t0);
            if cross {
                out.cross.push(took);
                out.cross_create.push(create_took);
            } else {
                out.same.push(took);
                out.same_create.push(create_took);
            }
        }
    }
    out.warnings = fleet.warnings();
    out
}

// ---------------------------------------------------------------------------------------
// b. Takeover after SIGKILL
// ---------------------------------------------------------------------------------------

struct Takeover {
    victim_owned: u64,
    victim_led: bool,
    owned_before: Vec<u64>,
    takeover: Option<Duration>,
    leader: Option<Duration>,
    owned_after: Vec<u64>,
    status_reads: u64,
    /// Per survivor: clusters it already did not show online before the kill.
    stale_before: Vec<usize>,
    /// A cluster a survivor showed online before the kill and not online during it.
    offline: Vec<String>,
    heartbeats_lost: u64,
    rebalance: Duration,
    /// Per replica, 10 s after the fresh one joined: clusters not shown online.
    not_online_after_join: Vec<usize>,
}

/// Heartbeats for `clusters` every 500 ms, round-robin over `agents`; a replica that does
/// not answer 200 is skipped for the next (like a load balancer). Counts the heartbeats
/// that no replica took.
fn heartbeats(
    client: reqwest::Client,
    agents: Arc<Mutex<Vec<String>>>,
    clusters: Vec<String>,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0usize;
        while !stop.load(Relaxed) {
            let list = agents.lock().unwrap().clone();
            for c in &clusters {
                let mut ok = false;
                for _ in 0..list.len() {
                    i += 1;
                    if heartbeat(&client, &list[i % list.len()], c).await == 200 {
                        ok = true;
                        break;
                    }
                }
                if !ok {
                    lost.fetch_add(1, Relaxed);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

async fn takeovers(
    client: &reqwest::Client,
    fleet: &mut Fleet,
    repeats: usize,
) -> (Vec<Takeover>, (u64, Vec<String>)) {
    tokio::task::block_in_place(|| fleet.start(3));
    all_ready(client, &fleet.https(), Duration::from_secs(30)).await;
    let clusters: Vec<String> = (1..=TAKEOVER_CLUSTERS)
        .map(|i| format!("to-{i:02}"))
        .collect();
    let agents0 = fleet.agents();
    for (i, c) in clusters.iter().enumerate() {
        assert_eq!(
            tiny_push(client, &agents0[i % 3], c).await,
            200,
            "create {c}"
        );
    }
    let agents = Arc::new(Mutex::new(agents0));
    let stop = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicU64::new(0));
    let hb = heartbeats(
        client.clone(),
        Arc::clone(&agents),
        clusters.clone(),
        Arc::clone(&stop),
        Arc::clone(&lost),
    );
    let total = TAKEOVER_CLUSTERS as u64;
    settle(client, &fleet.https(), total, Duration::from_secs(60)).await;
    let token = admin_login(client, &fleet.replicas[0].http, ADMIN_PASSWORD).await;
    let left = all_online(
        client,
        &fleet.https(),
        &token,
        &clusters,
        Duration::from_secs(30),
    )
    .await;
    assert!(
        left.iter().all(Vec::is_empty),
        "clusters not online after 30 s: {left:?}"
    );
    println!("  b: three replicas, {total} clusters online and shared out");

    let mut out = Vec::new();
    for rep in 0..repeats {
        let before = roles(client, &fleet.https()).await;
        let victim = before
            .iter()
            .enumerate()
            // Ties (30 clusters share out evenly): the leader, else the oldest replica, so
            // that the leadership moves too and a fresh replica ends up among survivors.
            .max_by_key(|(i, r)| (r.0, r.1, std::cmp::Reverse(*i)))
            .map_or(0, |(i, _)| i);
        let survivors: Vec<String> = fleet
            .https()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, h)| h)
            .collect();
        // What each survivor already shows not online (a replica that joined later may
        // not know every cluster's liveness): only changes from there count.
        let stale = not_online(client, &survivors, &token, &clusters).await;
        let stale_before: Vec<usize> = stale.iter().map(Vec::len).collect();
        let stale: Vec<std::collections::HashSet<String>> =
            stale.into_iter().map(|v| v.into_iter().collect()).collect();
        // Every survivor's cluster list, every 100 ms, until told to stop.
        let watching = Arc::new(AtomicBool::new(true));
        let watcher = {
            let (client, survivors, token, watching) = (
                client.clone(),
                survivors.clone(),
                token.clone(),
                Arc::clone(&watching),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                let mut reads = 0u64;
                let mut seen = Vec::new();
                while watching.load(Relaxed) {
                    for (k, h) in survivors.iter().enumerate() {
                        if let Some(st) = statuses(&client, h, &token).await {
                            reads += 1;
                            for (c, s) in st {
                                if s != "online" && !stale[k].contains(&c) && seen.len() < 50 {
                                    seen.push(format!(
                                        "{c} {s} on survivor {k} at {:.0} ms",
                                        as_ms(started.elapsed())
                                    ));
                                }
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (reads, seen)
            })
        };
        let lost0 = lost.load(Relaxed);
        let killed_at = Instant::now();
        fleet.replicas[victim].kill9();
        let mut takeover = None;
        let mut leader = None;
        let mut after = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        while killed_at.elapsed() < Duration::from_secs(60) {
            tick.tick().await;
            let r = roles(client, &survivors).await;
            if takeover.is_none() && r.iter().map(|x| x.0).sum::<u64>() == total {
                takeover = Some(killed_at.elapsed());
                after = r.iter().map(|x| x.0).collect();
            }
            if leader.is_none() && r.iter().any(|x| x.1) {
                leader = Some(killed_at.elapsed());
            }
            if takeover.is_some() && leader.is_some() {
                break;
            }
        }
        // Keep watching the statuses a little past the takeover.
        tokio::time::sleep(Duration::from_secs(2)).await;
        watching.store(false, Relaxed);
        let (status_reads, offline) = watcher.await.unwrap();
        let heartbeats_lost = lost.load(Relaxed) - lost0;
        let t = Takeover {
            victim_owned: before[victim].0,
            victim_led: before[victim].1,
            owned_before: before.iter().map(|x| x.0).collect(),
            takeover,
            leader: if before[victim].1 { leader } else { None },
            owned_after: after,
            status_reads,
            stale_before,
            offline,
            heartbeats_lost,
            rebalance: Duration::ZERO,
            not_online_after_join: Vec::new(),
        };
        println!(
            "  b{}: killed replica {victim} (owned {}{}): taken over in {}{}; {} status reads, {} went offline ({:?} not online before)",
            rep + 1,
            t.victim_owned,
            if t.victim_led { ", leader" } else { "" },
            t.takeover.map_or("NEVER (60 s)".to_owned(), |d| format!("{:.0} ms", as_ms(d))),
            t.leader
                .map_or(String::new(), |d| format!(", leadership in {:.0} ms", as_ms(d))),
            t.status_reads,
            t.offline.len(),
            t.stale_before
        );
        // A fresh replica takes the dead one's place (and the heartbeats reach it too).
        tokio::task::block_in_place(|| fleet.replace(victim));
        agents.lock().unwrap()[victim] = fleet.replicas[victim].agent.clone();
        let joined = Instant::now();
        settle(client, &fleet.https(), total, Duration::from_secs(60)).await;
        let mut t = t;
        t.rebalance = joined.elapsed();
        let left = all_online(
            client,
            &fleet.https(),
            &token,
            &clusters,
            Duration::from_secs(10).saturating_sub(joined.elapsed()),
        )
        .await;
        t.not_online_after_join = left.iter().map(Vec::len).collect();
        println!(
            "  b{}: a fresh replica got its share in {:.0} ms; clusters not shown online per replica 10 s after it joined: {:?}",
            rep + 1,
            as_ms(t.rebalance),
            t.not_online_after_join
        );
        out.push(t);
    }
    stop.store(true, Relaxed);
    let _ = hb.await;
    (out, fleet.warnings())
}

// ---------------------------------------------------------------------------------------
// c. Ingest throughput
// ---------------------------------------------------------------------------------------

struct Ingest {
    replicas: usize,
    secs: f64,
    accepted: u64,
    failed: u64,
    errors: Vec<String>,
    cpu: Vec<f64>,
    rss_mib: Vec<f64>,
    push: Stats,
    bench_cpu: f64,
    machine_busy: f64,
    warnings: (u64, Vec<String>),
}

impl Ingest {
    fn rate(&self) -> f64 {
        self.accepted as f64 / self.secs.max(1e-9)
    }
    fn cpu_total(&self) -> f64 {
        self.cpu.iter().sum()
    }
    fn cpu_ms_per_push(&self) -> f64 {
        self.cpu_total() * 1e3 / (self.accepted.max(1) as f64)
    }
    /// Busy cores outside the replicas and this process (PostgreSQL, Redis, the rest).
    fn other_cores(&self) -> f64 {
        (self.machine_busy - (self.cpu_total() + self.bench_cpu) / self.secs).max(0.0)
    }
}

/// Busy and total CPU seconds of the whole machine (`/proc/stat`).
fn machine_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0.0) + f.get(4).copied().unwrap_or(0.0);
    ((total - idle) / clock_ticks(), total / clock_ticks())
}

async fn ingest(
    client: &reqwest::Client,
    fleet: &mut Fleet,
    replicas: usize,
    clusters: usize,
    pushers: usize,
    window: Duration,
    body: &Arc<PushBody>,
) -> Ingest {
    tokio::task::block_in_place(|| fleet.start(replicas));
    let https = fleet.https();
    all_ready(client, &https, Duration::from_secs(30)).await;
    let agents = fleet.agents();
    let ids: Vec<String> = (1..=clusters).map(|i| format!("in-{i:02}")).collect();
    // Each cluster's first snapshot, well in the past: it creates the cluster.
    let early = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    for (i, c) in ids.iter().enumerate() {
        let s = client
            .post(format!("{}/agent/snapshot", agents[i % replicas]))
            .bearer_auth(AGENT_TOKEN)
            .header("X-Cluster-ID", c)
            .header("Content-Encoding", "gzip")
            .body(body.body(c, &early))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        assert_eq!(s, 200, "first snapshot of {c}");
    }
    settle(client, &https, clusters as u64, Duration::from_secs(60)).await;
    // Let the first snapshots' persisters and relays finish.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let accepted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let turn = Arc::new(AtomicUsize::new(0));
    let base = chrono::Utc::now();
    let cpu0: Vec<f64> = fleet.replicas.iter().map(Replica::cpu_secs).collect();
    let self0 = proc_cpu_secs("self");
    let (busy0, _) = machine_cpu();
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = Vec::new();
    for k in 0..pushers {
        let mine: Vec<String> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % pushers == k)
            .map(|(_, c)| c.clone())
            .collect();
        if mine.is_empty() {
            continue;
        }
        let (client, agents, body, accepted, failed, turn) = (
            client.clone(),
            agents.clone(),
            Arc::clone(body),
            Arc::clone(&accepted),
            Arc::clone(&failed),
            Arc::clone(&turn),
        );
        tasks.push(tokio::spawn(async move {
            let mut seq = vec![0i64; mine.len()];
            let mut took = Vec::new();
            let mut errors = Vec::new();
            let mut j = 0;
            while Instant::now() < deadline {
                let ci = j % mine.len();
                j += 1;
                seq[ci] += 1;
                let at = (base + chrono::Duration::milliseconds(seq[ci]))
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                let payload = body.body(&mine[ci], &at);
                let agent = &agents[turn.fetch_add(1, Relaxed) % agents.len()];
                let t = Instant::now();
                let sent = client
                    .post(format!("{agent}/agent/snapshot"))
                    .bearer_auth(AGENT_TOKEN)
                    .header("X-Cluster-ID", &mine[ci])
                    .header("Content-Encoding", "gzip")
                    .body(payload)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 200 => {
                        let _ = r.bytes().await;
                        accepted.fetch_add(1, Relaxed);
                        took.push(t.elapsed());
                    }
                    Ok(r) => {
                        failed.fetch_add(1, Relaxed);
                        let s = r.status();
                        let text = r.text().await.unwrap_or_default();
                        if errors.len() < 5 {
                            errors.push(format!(
                                "{s}: {}",
                                text.chars().take(200).collect::<String>()
                            ));
                        }
                    }
                    Err(e) => {
                        failed.fetch_add(1, Relaxed);
                        if errors.len() < 5 {
                            errors.push(e.to_string());
                        }
                    }
                }
            }
            (took, errors)
        }));
    }
    let mut took = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        let (l, e) = t.await.unwrap();
        took.extend(l);
        errors.extend(e);
    }
    let secs = started.elapsed().as_secs_f64();
    let (busy1, _) = machine_cpu();
    let bench_cpu = proc_cpu_secs("self") - self0;
    let cpu: Vec<f64> = fleet
        .replicas
        .iter()
        .zip(&cpu0)
        .map(|(r, c0)| r.cpu_secs() - c0)
        .collect();
    let rss_mib = fleet
        .replicas
        .iter()
        .map(|r| proc_status_kib(r.pid, "VmRSS:") as f64 / 1024.0)
        .collect();
    errors.truncate(5);
    Ingest {
        replicas,
        secs,
        accepted: accepted.load(Relaxed),
        failed: failed.load(Relaxed),
        errors,
        cpu,
        rss_mib,
        push: Stats::of(took),
        bench_cpu,
        machine_busy: (busy1 - busy0) / secs,
        warnings: fleet.warnings(),
    }
}

// ---------------------------------------------------------------------------------------
// Reachability
// ---------------------------------------------------------------------------------------

/// `PING` over a plain TCP connection to the Redis of `url`; its reply.
fn redis_ping(url: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs as _;
    let rest = url
        .split_once("://")
        .map_or(url, |(_, r)| r)
        .split('/')
        .next()
        .unwrap_or("");
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:6379")
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("{hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("{hostport}: no address"))?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).map_err(|e| format!("{addr}: {e}"))?;
    let reply = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
    if reply.starts_with("+PONG") {
        Ok(reply)
    } else {
        Err(format!("{addr} answered {reply:?}"))
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", as_ms(d))
}

fn main() {
    renice_self();
    let quick = flag("--quick");
    let pg_base = arg_str(
        "--pg-url",
        &std::env::var(PG_URL_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
    );
    let redis = arg_str(
        "--redis-url",
        &std::env::var("MASTER_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
    );
    if let Err(e) = diesel::PgConnection::establish(&pg_base) {
        println!("replicas: skipped: PostgreSQL at {pg_base} does not answer: {e}");
        return;
    }
    if let Err(e) = redis_ping(&redis) {
        println!("replicas: skipped: Redis at {redis} does not answer: {e}");
        return;
    }
    // `tests/support/db.rs` reads the base URL from here (no other thread runs yet).
    std::env::set_var(PG_URL_ENV, &pg_base);

    let iterations = arg("--iterations", if quick { 40 } else { 200 });
    let repeats = arg("--repeats", if quick { 1 } else { 3 });
    let window = Duration::from_secs(arg("--window", if quick { 8 } else { 20 }) as u64);
    let pushers = arg("--pushers", 8).max(1);
    let clusters = arg("--clusters", 24).max(1);
    let counts = arg_list("--replicas", "1,2,3");
    let out_name = arg_str("--out", "replicas");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = std::fs::read(root.join(FIXTURE)).expect("the medium fixture");
    let body = Arc::new(PushBody::from_gzip(&fixture));
    println!(
        "replicas: master {}; PostgreSQL {pg_base}; Redis {redis}; {} cores; {}",
        master_bin(),
        std::thread::available_parallelism().map_or(0, usize::from),
        if quick { "--quick" } else { "full run" }
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let wall = Instant::now();

    println!("a. cross-replica command latency ({iterations} iterations each)");
    let mut fa = Fleet::new("lat", &redis, &[("MASTER_COMMAND_POLL_TIMEOUT", "10s")]);
    let lat = rt.block_on(latency(&client, &mut fa, iterations));
    drop(fa);

    println!("b. takeover after SIGKILL, default lease ({repeats} kills)");
    let mut fb = Fleet::new("takeover", &redis, &[]);
    let (tk, tk_warnings) = rt.block_on(takeovers(&client, &mut fb, repeats));
    drop(fb);

    println!(
        "c. ingest: {pushers} pushers, {clusters} clusters, {} s per configuration",
        window.as_secs()
    );
    let mut ing = Vec::new();
    for &n in &counts {
        let mut fc = Fleet::new(&format!("ingest{n}"), &redis, &[]);
        let r = rt.block_on(ingest(
            &client, &mut fc, n, clusters, pushers, window, &body,
        ));
        println!(
            "  {n} replica(s): {:.1} pushes/s, CPU {:?} s, {:.1} ms/push",
            r.rate(),
            r.cpu
                .iter()
                .map(|c| (c * 100.0).round() / 100.0)
                .collect::<Vec<_>>(),
            r.cpu_ms_per_push()
        );
        ing.push(r);
        drop(fc);
    }
    let wall = wall.elapsed();

    // ----- The table -----
    let cross = Stats::of(lat.cross.clone());
    let same = Stats::of(lat.same.clone());
    let cross_create = Stats::of(lat.cross_create.clone());
    let same_create = Stats::of(lat.same_create.clone());
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let offline: usize = tk.iter().map(|t| t.offline.len()).sum();
    println!();
    println!("| measure | result | target |");
    println!("|---|---:|---:|");
    println!(
        "| cross-replica command (create on B → poll on A), p50 / p99 / max | {} / {} / {} ms | p99 < {} ms{} |",
        ms(cross.p50),
        ms(cross.p99),
        ms(cross.max),
        TARGET_CROSS_P99.as_millis(),
        if cross.p99 < TARGET_CROSS_P99 { " ✓" } else { " ✗" }
    );
    println!(
        "| same-replica command (create on A → poll on A), p50 / p99 / max | {} / {} / {} ms | |",
        ms(same.p50),
        ms(same.p99),
        ms(same.max)
    );
    println!(
        "| cross ÷ same, p50 / p99 | {:.2} / {:.2} | |",
        ratio(cross.p50, same.p50),
        ratio(cross.p99, same.p99)
    );
    println!(
        "| create request itself (202), cross / same, p50 | {} / {} ms | |",
        ms(cross_create.p50),
        ms(same_create.p50)
    );
    println!(
        "| latency samples (misses, polls not parked) | {} + {} ({}, {}) | |",
        cross.n, same.n, lat.misses, lat.unparked
    );
    for (i, t) in tk.iter().enumerate() {
        println!(
            "| takeover {} after SIGKILL (victim owned {} of {}{}) | {}{} | < {} s |",
            i + 1,
            t.victim_owned,
            TAKEOVER_CLUSTERS,
            if t.victim_led { ", led" } else { "" },
            t.takeover
                .map_or("never (60 s)".to_owned(), |d| format!("{} ms", ms(d))),
            t.leader
                .map_or(String::new(), |d| format!(" (leadership {} ms)", ms(d))),
            (2 * DEFAULT_LEASE).as_secs()
        );
    }
    println!(
        "| clusters that went offline on a survivor during the takeovers | {offline} (in {} reads) | 0 |",
        tk.iter().map(|t| t.status_reads).sum::<u64>()
    );
    println!(
        "| clusters a survivor showed not online already before the kill | {} | |",
        tk.iter()
            .map(|t| format!("{:?}", t.stale_before))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| clusters not online per replica 10 s after a fresh replica joined | {} | 0 |",
        tk.iter()
            .map(|t| format!("{:?}", t.not_online_after_join))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| fresh replica gets its share | {} ms | |",
        tk.iter()
            .map(|t| format!("{:.0}", as_ms(t.rebalance)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!(
        "| replicas | accepted pushes/s | CPU s per replica ({} s) | CPU ms / push | push p50 / p99 | machine busy cores (other) | failed |",
        window.as_secs()
    );
    println!("|---:|---:|---|---:|---:|---:|---:|");
    for r in &ing {
        println!(
            "| {} | {:.1} | {} | {:.1} | {} / {} ms | {:.2} ({:.2}) | {} |",
            r.replicas,
            r.rate(),
            r.cpu
                .iter()
                .map(|c| format!("{c:.2}"))
                .collect::<Vec<_>>()
                .join(" + "),
            r.cpu_ms_per_push(),
            ms(r.push.p50),
            ms(r.push.p99),
            r.machine_busy,
            r.other_cores(),
            r.failed
        );
    }
    println!(
        "(every replica parses every snapshot: the one it received or the relayed one; the \
         persisters run once per cluster, on its owner. {} bytes gzip / {} bytes JSON per push.)",
        body.gzip_len(),
        body.json_len("in-01", &fetched_at_now())
    );
    let mut warn_total = BTreeMap::new();
    warn_total.insert("latency", lat.warnings.clone());
    warn_total.insert("takeover", tk_warnings.clone());
    for r in &ing {
        warn_total.insert(
            match r.replicas {
                1 => "ingest1",
                2 => "ingest2",
                3 => "ingest3",
                _ => "ingest",
            },
            r.warnings.clone(),
        );
    }
    for (part, (n, lines)) in &warn_total {
        if *n > 0 {
            println!("{part}: {n} WARN/ERROR log lines, e.g.:");
            for l in lines.iter().take(5) {
                println!("    {l}");
            }
        }
    }
    for r in &ing {
        for e in &r.errors {
            println!("ingest {} replica(s) error: {e}", r.replicas);
        }
    }
    println!("wall time {:.0} s", wall.as_secs_f64());

    let out = json!({
        "bench": "replicas",
        "master_bin": master_bin(),
        "quick": quick,
        "cores": std::thread::available_parallelism().map_or(0, usize::from),
        "wall_s": wall.as_secs_f64(),
        "latency": {
            "iterations": iterations,
            "cross_ms": cross.json(),
            "same_ms": same.json(),
            "cross_create_ms": cross_create.json(),
            "same_create_ms": same_create.json(),
            "ratio_p50": ratio(cross.p50, same.p50),
            "ratio_p99": ratio(cross.p99, same.p99),
            "target_cross_p99_ms": as_ms(TARGET_CROSS_P99),
            "misses": lat.misses,
            "unparked": lat.unparked,
            "warnings": lat.warnings.0,
        },
        "takeover": {
            "lease_ttl_s": DEFAULT_LEASE.as_secs(),
            "clusters": TAKEOVER_CLUSTERS,
            "runs": tk.iter().map(|t| json!({
                "owned_before": t.owned_before,
                "victim_owned": t.victim_owned,
                "victim_led": t.victim_led,
                "takeover_ms": t.takeover.map(as_ms),
                "leadership_ms": t.leader.map(as_ms),
                "owned_after": t.owned_after,
                "status_reads": t.status_reads,
                "went_offline": t.offline,
                "not_online_before_kill": t.stale_before,
                "not_online_10s_after_join": t.not_online_after_join,
                "heartbeats_lost": t.heartbeats_lost,
                "rebalance_ms": as_ms(t.rebalance),
            })).collect::<Vec<_>>(),
            "warnings": tk_warnings.0,
        },
        "ingest": {
            "pushers": pushers,
            "clusters": clusters,
            "window_s": window.as_secs(),
            "body_gzip_bytes": body.gzip_len(),
            "runs": ing.iter().map(|r| json!({
                "replicas": r.replicas,
                "secs": r.secs,
                "accepted": r.accepted,
                "failed": r.failed,
                "pushes_per_s": r.rate(),
                "cpu_s": r.cpu,
                "cpu_s_total": r.cpu_total(),
                "cpu_ms_per_push": r.cpu_ms_per_push(),
                "push_ms": r.push.json(),
                "rss_mib": r.rss_mib,
                "bench_cpu_s": r.bench_cpu,
                "machine_busy_cores": r.machine_busy,
                "other_busy_cores": r.other_cores(),
                "errors": r.errors,
                "warnings": r.warnings.0,
            })).collect::<Vec<_>>(),
        },
    });
    write_result(&out_name, &out);
}
