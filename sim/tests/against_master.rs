//! The simulator against the real master, in process: a temporary SQLite file (or a
//! PostgreSQL schema with `MASTER_TEST_PG_URL`: `tests/support/db.rs`), ports 0,
//! short intervals. Everything is observed through the dashboard API, polled with generous
//! deadlines (no timing assertions).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlhyper_agent_sim::{Config, Faults, Stats, Summary};
use atlhyper_master::config::Settings;
use atlhyper_master::startup::{Application, Stopper};
use serde_json::{json, Value};

#[path = "../../tests/support/db.rs"]
mod db;

/// The bootstrap agent token of the test master.
const AGENT_TOKEN: &str = "sim-test-bootstrap-token";
/// The first-start admin's password.
const ADMIN_PASSWORD: &str = "sim-test-admin-password";
/// How long any condition may take to become true on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(90);

/// A running master.
struct Master {
    http: String,
    agent: String,
    client: reqwest::Client,
    token: String,
    stopper: Stopper,
    _db: db::TestDb,
}

impl Drop for Master {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

/// The master on ports 0 with a temp DB and no rate limits (the sim is a burst of agents).
async fn spawn_master(tweak: impl FnOnce(&mut Settings)) -> Master {
    let db = db::TestDb::new();
    let mut s = Settings {
        bind: "127.0.0.1".parse().unwrap(),
        http_port: 0,
        agent_port: 0,
        agent_token: Some(AGENT_TOKEN.to_owned().into()),
        heartbeat_timeout: Duration::from_secs(45),
        command_poll_timeout: Duration::from_secs(3),
        command_result_timeout: Duration::from_secs(60),
        command_pending_ttl: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(3),
        admin_password: Some(ADMIN_PASSWORD.to_owned().into()),
        api_rate_limit: 0,
        agent_rate_limit: 0,
        ..Settings::default()
    };
    db.apply(&mut s);
    tweak(&mut s);
    let app = Application::build(s).await.unwrap();
    let http = format!("http://127.0.0.1:{}", app.http_port());
    let agent = format!("http://127.0.0.1:{}", app.agent_port());
    let stopper = app.stopper();
    actix_web::rt::spawn(app.run_until_stopped(false));
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{http}/api/v2/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "admin login");
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Master {
        http,
        agent,
        client,
        token,
        stopper,
        _db: db,
    }
}

impl Master {
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.http))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates a command and waits for its final state; returns the command view.
    async fn run_command(&self, body: Value) -> Value {
        let r = self
            .client
            .post(format!("{}/api/v2/command", self.http))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let reply: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 202, "create command {body}: {reply}");
        let id = reply["command_id"].as_str().unwrap().to_owned();
        eventually(|| async {
            let (s, v) = self.get(&format!("/api/v2/commands/{id}?wait=10s")).await;
            assert_eq!(s, 200, "{v}");
            matches!(v["status"].as_str(), Some("success" | "failed" | "timeout")).then_some(v)
        })
        .await
    }
}

/// Polls `check` every 200 ms until it returns `Some`, failing after [`DEADLINE`].
async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "condition not met within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A running simulator on its own thread and runtime.
struct Sim {
    stats: Arc<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::sync::oneshot::Receiver<Summary>,
}

impl Sim {
    fn start(cfg: Config) -> Sim {
        let stats = Arc::new(Stats::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let s = Arc::clone(&stats);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let stop = async {
                let _ = stop_rx.await;
            };
            let summary = rt
                .block_on(atlhyper_agent_sim::run_with(cfg, stop, s))
                .unwrap();
            let _ = done_tx.send(summary);
        });
        Sim {
            stats,
            stop: Some(stop_tx),
            done: done_rx,
        }
    }

    /// Stops the simulator and returns its summary (awaited, so the master keeps running).
    async fn stop(mut self) -> Summary {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.done)
            .await
            .expect("sim stops within 30 s")
            .expect("sim thread")
    }
}

/// Fast intervals for tests.
fn sim_config(master: &Master, prefix: &str, clusters: usize, pods: usize) -> Config {
    Config {
        master: master.agent.clone(),
        token: Some(AGENT_TOKEN.to_owned()),
        clusters,
        pods,
        prefix: prefix.to_owned(),
        interval: Duration::from_millis(300),
        heartbeat: Duration::from_millis(500),
        slo_interval: Duration::from_millis(300),
        poll_pause: Duration::from_millis(50),
        seed: 11,
        status: false,
        ..Config::default()
    }
}

/// The `items` of a list reply.
fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

#[actix_web::test]
async fn simulated_clusters_come_online_and_obey_commands() {
    let master = spawn_master(|_| {}).await;
    let sim = Sim::start(sim_config(&master, "t1", 3, 60));
    let ids = ["t1-0001", "t1-0002", "t1-0003"];

    // Three clusters, online, 60 pods each.
    eventually(|| async {
        let (_, v) = master.get("/api/v2/clusters").await;
        let online = items(&v)
            .iter()
            .filter(|c| ids.contains(&c["cluster_id"].as_str().unwrap_or("")))
            .filter(|c| c["status"] == "online")
            .count();
        (online == 3).then_some(())
    })
    .await;
    for id in ids {
        eventually(|| async {
            let (_, v) = master
                .get(&format!("/api/v2/clusters/{id}/resources/pods?limit=1000"))
                .await;
            (v["total"] == 60).then_some(())
        })
        .await;
    }

    // scale: the next snapshot carries the new replica count.
    let c = ids[0];
    let (_, deps) = master
        .get(&format!(
            "/api/v2/clusters/{c}/resources/deployments?limit=1000"
        ))
        .await;
    let dep = items(&deps)
        .into_iter()
        .find(|d| d["summary"]["replicas"].as_i64().unwrap_or(0) >= 1)
        .expect("a deployment");
    let ns = dep["summary"]["namespace"].as_str().unwrap().to_owned();
    let name = dep["summary"]["name"].as_str().unwrap().to_owned();
    let want = dep["summary"]["replicas"].as_i64().unwrap() + 2;
    let done = master
        .run_command(
            json!({"cluster_id": c, "action": "scale", "namespace": ns, "name": name,
                            "params": {"replicas": want}}),
        )
        .await;
    assert_eq!(done["status"], "success", "{done}");
    eventually(|| async {
        let (_, d) = master
            .get(&format!(
                "/api/v2/clusters/{c}/resources/deployments/{ns}/{name}"
            ))
            .await;
        (d["summary"]["replicas"] == want && d["status"]["replicas"] == want).then_some(())
    })
    .await;
    eventually(|| async {
        let (_, v) = master
            .get(&format!("/api/v2/clusters/{c}/resources/pods?limit=1000"))
            .await;
        (v["total"] == 62).then_some(())
    })
    .await;

    // get_logs: plausible text, tail honoured.
    let (_, pods) = master
        .get(&format!(
            "/api/v2/clusters/{c}/resources/pods?phase=Running&limit=1000"
        ))
        .await;
    let pod = items(&pods)
        .into_iter()
        .find(|p| p["summary"]["ownerKind"] == "ReplicaSet")
        .expect("a running pod");
    let done = master
        .run_command(json!({"cluster_id": c, "action": "get_logs", "kind": "Pod",
            "namespace": pod["summary"]["namespace"], "name": pod["summary"]["name"],
            "params": {"tailLines": 5}}))
        .await;
    assert_eq!(done["status"], "success", "{done}");
    let output = done["result"]["output"].as_str().unwrap_or("");
    assert_eq!(output.lines().count(), 5, "{output}");

    // cordon: the node turns unschedulable in the next snapshot.
    let (_, nodes) = master
        .get(&format!("/api/v2/clusters/{c}/resources/nodes"))
        .await;
    let node = items(&nodes)
        .into_iter()
        .find(|n| n["spec"]["unschedulable"] != true)
        .expect("a schedulable node");
    let node = node["summary"]["name"].as_str().unwrap().to_owned();
    let done = master
        .run_command(json!({"cluster_id": c, "action": "cordon", "kind": "Node", "name": node}))
        .await;
    assert_eq!(done["status"], "success", "{done}");
    eventually(|| async {
        let (_, n) = master
            .get(&format!("/api/v2/clusters/{c}/resources/nodes/{node}"))
            .await;
        (n["spec"]["unschedulable"] == true && n["summary"]["schedulable"] == false).then_some(())
    })
    .await;

    // get_configmap returns the data; a missing object is a failed command.
    let (_, cms) = master
        .get(&format!(
            "/api/v2/clusters/{c}/resources/configmaps?limit=1000"
        ))
        .await;
    let cm = items(&cms)
        .into_iter()
        .find(|m| m["data_keys"].as_array().is_some_and(|k| !k.is_empty()))
        .expect("a configmap with data");
    let done = master
        .run_command(
            json!({"cluster_id": c, "action": "get_configmap", "kind": "ConfigMap",
            "namespace": cm["namespace"], "name": cm["name"]}),
        )
        .await;
    assert_eq!(done["status"], "success", "{done}");
    let data: Value = serde_json::from_str(done["result"]["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        data.as_object().unwrap().len(),
        cm["data_keys"].as_array().unwrap().len()
    );
    let done = master
        .run_command(
            json!({"cluster_id": c, "action": "get_configmap", "kind": "ConfigMap",
            "namespace": "default", "name": "no-such-configmap"}),
        )
        .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(done["result"]["error"]
        .as_str()
        .unwrap_or("")
        .contains("not found"));

    let summary = sim.stop().await;
    assert_eq!(summary.errors, 0, "{summary}");
    assert!(
        summary.snapshots > 0 && summary.heartbeats > 0 && summary.slo > 0,
        "{summary}"
    );
    assert_eq!(summary.commands, 5, "{summary}");
    assert_eq!(summary.results, 5, "{summary}");
    assert_eq!(summary.commands_failed, 1, "{summary}");
    assert!(summary.cmd_latency_p99_ms > 0.0, "{summary}");
}

#[actix_web::test]
async fn corrupt_snapshots_get_400_and_count_as_faults() {
    let master = spawn_master(|_| {}).await;
    let mut cfg = sim_config(&master, "t2", 2, 30);
    cfg.faults = Faults {
        corrupt: true,
        heartbeat_gap: false,
        slo_burst: false,
    };
    cfg.fault_rate = 0.5;
    let sim = Sim::start(cfg);
    let stats = Arc::clone(&sim.stats);
    eventually(|| async {
        (stats.faults.load(Relaxed) >= 3 && stats.snapshots.load(Relaxed) >= 3).then_some(())
    })
    .await;
    let summary = sim.stop().await;
    assert_eq!(summary.errors, 0, "{summary}");
    assert!(summary.faults >= 3, "{summary}");
    // Valid snapshots still went through.
    let (_, v) = master
        .get("/api/v2/clusters/t2-0001/resources/pods?limit=1000")
        .await;
    assert_eq!(v["total"], 30);
}

#[actix_web::test]
async fn a_heartbeat_gap_takes_a_cluster_offline_and_back() {
    let master = spawn_master(|s| s.heartbeat_timeout = Duration::from_secs(1)).await;
    let mut cfg = sim_config(&master, "t3", 1, 30);
    cfg.faults = Faults {
        corrupt: false,
        heartbeat_gap: true,
        slo_burst: false,
    };
    cfg.fault_rate = 0.2;
    cfg.gap = Duration::from_secs(3);
    let sim = Sim::start(cfg);
    let status = || async {
        let (_, v) = master.get("/api/v2/clusters/t3-0001").await;
        v["status"].as_str().map(str::to_owned)
    };
    eventually(|| async { (status().await.as_deref() == Some("online")).then_some(()) }).await;
    eventually(|| async { (status().await.as_deref() == Some("offline")).then_some(()) }).await;
    eventually(|| async { (status().await.as_deref() == Some("online")).then_some(()) }).await;
    let summary = sim.stop().await;
    assert_eq!(summary.errors, 0, "{summary}");
    assert!(summary.gaps >= 1, "{summary}");
}
