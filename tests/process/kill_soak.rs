//! The kill -9 soak with a history checker (issue 20): the real binary is killed with
//! SIGKILL at random moments under load and restarted on the same database, then a checker
//! proves from the recorded history and the database that nothing acknowledged was lost
//! and nothing happened twice.
//!
//! - The simulator's clusters (in this process) push snapshots, heartbeats and SLO data,
//!   long-poll for commands and post their results; its [`Journal`] records every command
//!   a poll handed out, every result the master answered 200 to, and the highest count each
//!   event was ever sent with.
//! - A client creates commands, users and API keys and changes the retention policy, one
//!   operation at a time, and records each with the master's reply (acknowledged, or not
//!   known: no reply before the kill).
//! - A webhook sink records every alert notification.
//!
//! `SOAK_KILLS` (default 10, as `.ci/run` runs it) sets the number of kills and
//! `SOAK_SEED` the random seed (printed, so a failure can be replayed). The long run:
//! `SOAK_KILLS=100 cargo test --release --test process kill_soak -- --nocapture`; with
//! `MASTER_TEST_PG_URL` set, on PostgreSQL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atlhyper_agent_sim::rng::Rng;
use atlhyper_agent_sim::{Config as SimConfig, Journal, Stats};
use serde_json::{json, Value};

use super::sinks::HttpSink;
use super::*;

/// How long a client request may take before it counts as not acknowledged.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// A second notification of one alert episode is allowed when the master was killed this
/// soon after the first was received: the send was in flight, and the outbox repeats what
/// it could not mark delivered (at least once, README "Notifications"). (One command row
/// per command id needs no check: `command_history.command_id` is UNIQUE.)
const IN_FLIGHT_WINDOW: Duration = Duration::from_secs(1);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One operation the client attempted, with what the master answered.
#[derive(Debug, Clone)]
enum Op {
    Command { id: String },
    User { name: String },
    Token { id: i64, secret: String },
    Retention,
}

/// The client's history: every attempt in order; `acked` is false when no 2xx reply came
/// back (the master may or may not have applied it).
#[derive(Default)]
struct History {
    ops: Vec<(Op, bool)>,
    /// Retention attempts, acknowledged or not, in order (the final value may be any
    /// attempt from the last acknowledged one on).
    retention: Vec<(u64, bool)>,
    attempts: u64,
}

struct Client {
    http: reqwest::Client,
    base: String,
    admin: String,
    clusters: Vec<String>,
}

impl Client {
    async fn send(&self, req: reqwest::RequestBuilder) -> Option<Value> {
        let r = req
            .bearer_auth(&self.admin)
            .timeout(CLIENT_TIMEOUT)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json().await.ok()
    }

    /// One random operation; `None` for the op when the reply did not come back.
    async fn step(&self, rng: &mut Rng, n: u64, history: &Mutex<History>) {
        let pick = rng.range(0, 10);
        let (op, reply_ok) = if pick < 5 {
            let cluster = &self.clusters[rng.range(0, self.clusters.len() as u64) as usize];
            let body = json!({"cluster_id": cluster, "action": "scale", "kind": "Deployment",
                "namespace": "shop", "name": format!("web-{}", n % 7), "topic": "ops",
                "params": {"replicas": rng.range(1, 5)}});
            let reply = self
                .send(
                    self.http
                        .post(format!("{}/api/v2/command", self.base))
                        .json(&body),
                )
                .await;
            let id = reply
                .as_ref()
                .and_then(|v| v["command_id"].as_str().map(str::to_owned));
            match id {
                Some(id) => (Op::Command { id }, true),
                None => (Op::Command { id: String::new() }, false),
            }
        } else if pick < 7 {
            let name = format!("soak-user-{n}");
            let body = json!({"username": name, "password": "a-long-password", "role": "viewer"});
            let reply = self
                .send(
                    self.http
                        .post(format!("{}/api/v2/users", self.base))
                        .json(&body),
                )
                .await;
            (Op::User { name }, reply.is_some())
        } else if pick < 9 {
            let body = json!({"name": format!("soak-key-{n}")});
            let reply = self
                .send(
                    self.http
                        .post(format!("{}/api/v2/tokens", self.base))
                        .json(&body),
                )
                .await;
            match reply {
                Some(v) => (
                    Op::Token {
                        id: v["id"].as_i64().unwrap_or(-1),
                        secret: v["token"].as_str().unwrap_or_default().to_owned(),
                    },
                    true,
                ),
                None => (
                    Op::Token {
                        id: -1,
                        secret: String::new(),
                    },
                    false,
                ),
            }
        } else {
            let days = rng.range(7, 400);
            let body = json!({"event_retention_days": days});
            let reply = self
                .send(
                    self.http
                        .put(format!("{}/api/v2/admin/retention", self.base))
                        .json(&body),
                )
                .await;
            let acked = reply.is_some_and(|v| v["event_retention_days"] == days);
            history.lock().unwrap().retention.push((days, acked));
            (Op::Retention, acked)
        };
        let mut h = history.lock().unwrap();
        h.attempts += 1;
        h.ops.push((op, reply_ok));
    }
}

#[derive(diesel::QueryableByName, Debug)]
struct CountById {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName, Debug)]
struct EventCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    n: i32,
}

/// Runs one read-only query on the test's database, whichever engine it is.
fn query<T>(db: &db::TestDb, dir: &std::path::Path, sql: &str) -> Vec<T>
where
    T: diesel::QueryableByName<diesel::pg::Pg>
        + diesel::QueryableByName<diesel::sqlite::Sqlite>
        + 'static,
{
    use diesel::{Connection, RunQueryDsl};
    match db.dsn() {
        Some(dsn) => {
            let mut c = diesel::PgConnection::establish(&dsn).unwrap();
            diesel::sql_query(sql).load(&mut c).unwrap()
        }
        None => {
            let path = dir.join("data/master.db");
            let mut c = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            diesel::sql_query(sql).load(&mut c).unwrap()
        }
    }
}

fn kill_9(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// What the checker found; every list must be empty.
#[derive(Default, Debug)]
struct Anomalies {
    lost: Vec<String>,
    twice: Vec<String>,
    inflated: Vec<String>,
    wrong: Vec<String>,
}

impl Anomalies {
    fn total(&self) -> usize {
        self.lost.len() + self.twice.len() + self.inflated.len() + self.wrong.len()
    }
}

#[actix_web::test]
async fn kill_soak_loses_nothing_acknowledged_and_does_nothing_twice() {
    let kills: usize = env_or("SOAK_KILLS", 10);
    let seed: u64 = env_or(
        "SOAK_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    let dir = tempfile::tempdir().unwrap();
    let db = db::TestDb::new();
    let engine = if db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    eprintln!("kill soak: {kills} kills, seed {seed}, {engine}");
    let (http_port, agent_port) = (free_port().to_string(), free_port().to_string());
    let env: Vec<(&str, &str)> = vec![
        ("MASTER_HTTP_PORT", &http_port),
        ("MASTER_AGENT_PORT", &agent_port),
        ("MASTER_API_RATE_LIMIT", "0"),
        ("MASTER_UNAUTH_RATE_LIMIT", "0"),
        ("MASTER_AGENT_RATE_LIMIT", "0"),
        ("MASTER_HEARTBEAT_TIMEOUT", "20s"),
        ("MASTER_ALERT_GROUP_WAIT", "1s"),
    ];
    let bin = || Command::new(env!("CARGO_BIN_EXE_atlhyper-master"));
    let mut run = launch(bin(), dir.path(), &db, &env);

    let http = reqwest::Client::new();
    let admin = admin_token(&http, &run.http).await;
    // Alerts go to a webhook sink.
    let sink = HttpSink::start().await;
    let r = http
        .put(format!("{}/api/v2/notify/channels/webhook", run.http))
        .bearer_auth(&admin)
        .json(&json!({"enabled": true, "config": {"url": sink.url("/hook")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // A rule the simulated crash loops fire and reschedules resolve, all through the kills.
    let r = http
        .post(format!("{}/api/v2/alert-rules", run.http))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "soak restarts", "resource_type": "pod", "severity": "warning",
            "condition": {"metric": "pod.restarts", "op": ">=", "threshold": 1},
            "notify_channels": ["webhook"], "cooldown_sec": 0, "enabled": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // The agents: they keep running through every kill.
    let clusters = 4;
    let stats = Arc::new(Stats::journaled());
    let (stop_sim, sim_stopped) = tokio::sync::oneshot::channel::<()>();
    let sim = tokio::spawn(atlhyper_agent_sim::run_with(
        SimConfig {
            master: run.agent.clone(),
            token: Some(TOKEN.to_owned()),
            clusters,
            pods: 30,
            prefix: "soak".to_owned(),
            interval: Duration::from_secs(1),
            heartbeat: Duration::from_secs(1),
            slo_interval: Duration::from_secs(2),
            poll_pause: Duration::from_millis(50),
            // Commands stay running for a while, so kills land between hand-out and result.
            exec_delay: Duration::from_millis(800),
            seed,
            status: false,
            ..SimConfig::default()
        },
        async {
            let _ = sim_stopped.await;
        },
        Arc::clone(&stats),
    ));

    // The client: one operation at a time until told to stop.
    let history = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = Client {
        http: http.clone(),
        base: run.http.clone(),
        admin: admin.clone(),
        clusters: (0..clusters)
            .map(|i| atlhyper_agent_sim::cluster_id("soak", i))
            .collect(),
    };
    let client_task = tokio::spawn({
        let (history, stop) = (Arc::clone(&history), Arc::clone(&stop));
        async move {
            let mut rng = Rng::derive(seed, "soak/client");
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                client.step(&mut rng, n, &history).await;
                tokio::time::sleep(Duration::from_millis(rng.range(5, 60))).await;
            }
        }
    });

    // The killer.
    let mut rng = Rng::derive(seed, "soak/killer");
    let mut kill_times = Vec::with_capacity(kills);
    let started = Instant::now();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.range(300, 2_500))).await;
        kill_times.push(Instant::now());
        kill_9(&mut run.child);
        run = launch(bin(), dir.path(), &db, &env);
    }
    // Quiet time: pending commands are handed out, results come back, alerts are sent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    client_task.await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = stop_sim.send(());
    let summary = sim.await.unwrap().unwrap();
    let soak_secs = started.elapsed().as_secs_f64();
    let journal: &Journal = stats.journal.as_ref().unwrap();

    // ---- The checker ----
    let mut bad = Anomalies::default();
    let history = std::mem::take(&mut *history.lock().unwrap());
    let get = |path: String, token: String| {
        let http = http.clone();
        let base = run.http.clone();
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Acknowledged commands exist; acknowledged users exist; acknowledged keys work.
    let (_, users) = get("/api/v2/users".into(), admin.clone()).await;
    let mut acked = BTreeMap::<&str, u64>::new();
    let mut commands = HashSet::new();
    for (op, ok) in &history.ops {
        if !ok {
            continue;
        }
        match op {
            Op::Command { id } => {
                *acked.entry("commands").or_default() += 1;
                commands.insert(id.clone());
                let (s, _) = get(format!("/api/v2/commands/{id}"), admin.clone()).await;
                if s != 200 {
                    bad.lost.push(format!("command {id}: {s}"));
                }
            }
            Op::User { name } => {
                *acked.entry("users").or_default() += 1;
                let found = users["items"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|u| u["username"] == name.as_str()));
                if !found {
                    bad.lost.push(format!("user {name}"));
                }
            }
            Op::Token { id, secret } => {
                *acked.entry("api keys").or_default() += 1;
                let (s, _) = get("/api/v2/auth/me".into(), secret.clone()).await;
                if s != 200 {
                    bad.lost.push(format!("api key {id}: /auth/me {s}"));
                }
            }
            Op::Retention => *acked.entry("retention changes").or_default() += 1,
        }
    }
    // The retention policy in force is the last acknowledged change or a later attempt
    // (an attempt whose reply was lost may have been applied).
    if let Some(last) = history.retention.iter().rposition(|(_, ok)| *ok) {
        let allowed: HashSet<u64> = history.retention[last..].iter().map(|(d, _)| *d).collect();
        let (_, policy) = get("/api/v2/admin/retention".into(), admin.clone()).await;
        let now = policy["event_retention_days"].as_u64().unwrap_or(0);
        if !allowed.contains(&now) {
            bad.lost.push(format!(
                "retention: {now} days in force, acknowledged {:?}",
                history.retention[last]
            ));
        }
    }
    // No command handed out twice; each one handed out exists.
    let handed = journal.handed.lock().unwrap().clone();
    let mut seen = HashSet::new();
    for (cluster, id) in &handed {
        if !seen.insert(id.clone()) {
            bad.twice
                .push(format!("command {id} handed to {cluster} twice"));
        }
    }
    let rows: Vec<CountById> = query(
        &db,
        dir.path(),
        "SELECT command_id AS key, COUNT(*) AS n FROM command_history GROUP BY command_id",
    );
    let stored: HashMap<String, i64> = rows.into_iter().map(|r| (r.key, r.n)).collect();
    for (_, id) in &handed {
        if !stored.contains_key(id) {
            bad.wrong
                .push(format!("command {id} handed out but not stored"));
        }
    }
    // Every acknowledged result is stored, with its outcome, once.
    let results = journal.results.lock().unwrap().clone();
    let mut result_seen = HashSet::new();
    for (_, id, success) in &results {
        if !result_seen.insert(id.clone()) {
            bad.twice
                .push(format!("result for {id} acknowledged twice"));
        }
        let (s, v) = get(format!("/api/v2/commands/{id}"), admin.clone()).await;
        let stored_success = v["result"]["success"].as_bool();
        if s != 200 || stored_success != Some(*success) {
            bad.lost.push(format!(
                "result of {id}: acknowledged success={success}, stored {s} {}",
                v["result"]
            ));
        }
    }
    // Event counts never above what an agent sent.
    let sent = journal.event_counts.lock().unwrap().clone();
    let events: Vec<EventCount> = query(
        &db,
        dir.path(),
        "SELECT event_uid AS key, count AS n FROM cluster_events",
    );
    for e in &events {
        match sent.get(&e.key) {
            Some(max) if e.n > *max => bad.inflated.push(format!(
                "event {}: stored count {} > sent {max}",
                e.key, e.n
            )),
            None => bad
                .wrong
                .push(format!("event {} stored, never sent", e.key)),
            _ => {}
        }
    }
    // Alerts: one notification per episode (firing, then resolved), except a send in
    // flight at a kill; never two open episodes of one fingerprint.
    let mut deliveries: HashMap<(String, String), Vec<Instant>> = HashMap::new();
    for req in sink.requests() {
        let body = req.json();
        let kind = body["kind"].as_str().unwrap_or_default().to_owned();
        if kind != "firing" && kind != "resolved" {
            continue;
        }
        for a in body["alerts"].as_array().into_iter().flatten() {
            let uid = a["alert_uid"].as_str().unwrap_or_default().to_owned();
            deliveries
                .entry((uid, kind.clone()))
                .or_default()
                .push(req.at);
        }
    }
    let mut in_flight_repeats = 0;
    for ((uid, kind), times) in &deliveries {
        if times.len() > 1 {
            let first = times[0];
            let killed_in_flight = kill_times
                .iter()
                .any(|k| *k >= first && k.duration_since(first) <= IN_FLIGHT_WINDOW);
            if killed_in_flight && times.len() == 2 {
                in_flight_repeats += 1;
            } else {
                bad.twice.push(format!(
                    "alert {uid} {kind} delivered {} times",
                    times.len()
                ));
            }
        }
    }
    let open: Vec<CountById> = query(
        &db,
        dir.path(),
        "SELECT fingerprint AS key, COUNT(*) AS n FROM alert_history \
         WHERE status = 'firing' GROUP BY fingerprint",
    );
    for o in &open {
        if o.n > 1 {
            bad.twice.push(format!(
                "alert fingerprint {}: {} open episodes",
                o.key, o.n
            ));
        }
    }

    eprintln!(
        "kill soak ({engine}, seed {seed}): {kills} SIGKILLs in {soak_secs:.0} s, each restarted on the same database\n\
         client: {} operations attempted, acknowledged {acked:?}\n\
         agents: {} snapshots, {} heartbeats, {} polls; {} commands handed out, {} results acknowledged; \
         {} transport errors while the master was down\n\
         checked: {} stored commands, {} stored events against {} sent, {} alert notifications \
         ({} repeated in flight at a kill)\n\
         anomalies: {} {bad:#?}",
        history.attempts,
        summary.snapshots,
        summary.heartbeats,
        summary.polls,
        handed.len(),
        results.len(),
        summary.errors,
        stored.len(),
        events.len(),
        sent.len(),
        deliveries.values().map(Vec::len).sum::<usize>(),
        in_flight_repeats,
        bad.total(),
    );
    assert_eq!(bad.total(), 0, "the history checker found anomalies");
    // The run did what it claims: operations were acknowledged across the kills and the
    // agents got commands and had results stored.
    assert!(acked.get("commands").copied().unwrap_or(0) >= kills as u64);
    assert!(!handed.is_empty() && !results.is_empty());
    assert!(!events.is_empty());
    kill_9(&mut run.child);
}
