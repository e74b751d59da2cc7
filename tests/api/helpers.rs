//! `spawn_app()`: the real master on port 0 with a temporary database (SQLite, or a
//! PostgreSQL schema: `support/db.rs`) and short timers.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlhyper_master::config::Settings;
use atlhyper_master::startup::{Application, Stopper};
use atlhyper_master::state::AppState;
use serde_json::Value;

pub use crate::db::TestDb;

/// The bootstrap agent token every test app accepts.
pub const AGENT_TOKEN: &str = "test-bootstrap-token";
/// The first-start admin's password in tests.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// A running master.
pub struct TestApp {
    /// `http://127.0.0.1:<dashboard port>`.
    pub http: String,
    /// `http://127.0.0.1:<agent port>`.
    pub agent: String,
    /// A client without timeouts of its own.
    pub client: reqwest::Client,
    /// Handles into the running app.
    pub state: AppState,
    /// A session token of the first-start admin; `get`/`post` send it.
    pub admin_token: String,
    stopper: Stopper,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The test's database (kept across restarts).
    pub db: TestDb,
    tweak: Arc<dyn Fn(&mut Settings)>,
}

/// Settings for tests: ephemeral ports, the test's database, short timers.
pub fn test_settings(db: &TestDb) -> Settings {
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
        // Every test client is 127.0.0.1, and route tables are walked without tokens:
        // the per-IP limit on unauthenticated requests is tested on its own.
        unauth_rate_limit: 0,
        ..Settings::default()
    };
    db.apply(&mut s);
    s
}

/// The master with the test settings.
pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// The master with the test settings changed by `tweak`.
pub async fn spawn_with(tweak: impl Fn(&mut Settings) + 'static) -> TestApp {
    start(TestDb::new(), Arc::new(tweak)).await
}

async fn start(db: TestDb, tweak: Arc<dyn Fn(&mut Settings)>) -> TestApp {
    let mut s = test_settings(&db);
    tweak(&mut s);
    let app = Application::build(s).await.expect("app builds");
    let http = format!("http://127.0.0.1:{}", app.http_port());
    let agent = format!("http://127.0.0.1:{}", app.agent_port());
    let state = app.state();
    let stopper = app.stopper();
    let done = Some(actix_web::rt::spawn(app.run_until_stopped(false)));
    let client = reqwest::Client::new();
    let admin_token = login(&client, &http, "admin", ADMIN_PASSWORD).await;
    TestApp {
        http,
        agent,
        client,
        state,
        admin_token,
        stopper,
        done,
        db,
        tweak,
    }
}

/// Logs in; panics unless it succeeds. Returns the session token.
pub async fn login(client: &reqwest::Client, http: &str, user: &str, password: &str) -> String {
    let r = client
        .post(format!("{http}/api/v2/auth/login"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {user}");
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl TestApp {
    /// Graceful shutdown, waited for.
    pub async fn stop(&mut self) {
        self.stopper.stop();
        if let Some(done) = self.done.take() {
            tokio::time::timeout(Duration::from_secs(10), done)
                .await
                .expect("shutdown within 10s")
                .expect("run task")
                .expect("clean shutdown");
        }
    }

    /// Stops this master and starts a new one on the same database file and settings.
    pub async fn restart(self) -> TestApp {
        self.restart_with(|_| {}).await
    }

    /// Like [`TestApp::restart`], changing settings for the new master.
    pub async fn restart_with(mut self, more: impl Fn(&mut Settings) + 'static) -> TestApp {
        self.stop().await;
        let old = Arc::clone(&self.tweak);
        let tweak: Arc<dyn Fn(&mut Settings)> = Arc::new(move |s| {
            old(s);
            more(s);
        });
        start(self.db.clone(), tweak).await
    }

    /// An agent request with the bootstrap token and `X-Cluster-ID`.
    pub fn agent_req(
        &self,
        method: reqwest::Method,
        path: &str,
        cluster: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.agent, path))
            .bearer_auth(AGENT_TOKEN)
            .header("X-Cluster-ID", cluster)
    }

    /// `POST /agent/snapshot` with a gzip body, as the v2.1 agent sends it.
    pub async fn push_gz(&self, cluster: &str, gz_body: Vec<u8>) -> reqwest::Response {
        self.agent_req(reqwest::Method::POST, "/agent/snapshot", cluster)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(gz_body)
            .send()
            .await
            .unwrap()
    }

    /// Pushes a JSON snapshot value (gzip-encoded).
    pub async fn push_json(&self, cluster: &str, snapshot: &Value) -> reqwest::Response {
        self.push_gz(
            cluster,
            gzip(serde_json::to_vec(snapshot).unwrap().as_slice()),
        )
        .await
    }

    /// `POST /agent/heartbeat` with an empty body.
    pub async fn heartbeat(&self, cluster: &str) -> reqwest::Response {
        self.agent_req(reqwest::Method::POST, "/agent/heartbeat", cluster)
            .send()
            .await
            .unwrap()
    }

    /// `GET /agent/commands` for (cluster, topic).
    pub async fn poll(&self, cluster: &str, topic: &str) -> reqwest::Response {
        self.client
            .get(format!(
                "{}/agent/commands?cluster_id={cluster}&topic={topic}",
                self.agent
            ))
            .bearer_auth(AGENT_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// `POST /agent/result`.
    pub async fn result(&self, cluster: &str, body: &Value) -> reqwest::Response {
        self.agent_req(reqwest::Method::POST, "/agent/result", cluster)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a user with `role` (as the admin) and returns a session token for it.
    pub async fn token_for(&self, username: &str, role: &str) -> String {
        let body =
            serde_json::json!({"username": username, "password": "a-long-password", "role": role});
        let (s, reply) = self.post("/api/v2/users", &body).await;
        assert_eq!(s, 201, "create user: {reply}");
        login(&self.client, &self.http, username, "a-long-password").await
    }

    /// A request to the dashboard API with `token` (None: no token).
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let r = self
            .client
            .request(method, format!("{}{}", self.http, path));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// GET on the dashboard API, JSON back with the status.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{}", self.http, path))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POST JSON on the dashboard API.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{}", self.http, path))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates a command through the API; returns its id.
    pub async fn create_command(&self, body: &Value) -> String {
        let (status, reply) = self.post("/api/v2/command", body).await;
        assert_eq!(status, 202, "create command: {reply}");
        reply["command_id"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Best effort: a test that did not stop its app still releases the ports.
        self.stopper.stop();
    }
}

/// A fixture file from `tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A gzip fixture decompressed and parsed.
pub fn fixture_json(name: &str) -> Value {
    let mut s = String::new();
    flate2::read::GzDecoder::new(&fixture(name)[..])
        .read_to_string(&mut s)
        .unwrap();
    serde_json::from_str(&s).unwrap()
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The smallest valid snapshot for `cluster` collected at `fetched_at`.
pub fn tiny_snapshot(cluster: &str, fetched_at: &str) -> Value {
    serde_json::json!({"cluster_id": cluster, "fetched_at": fetched_at, "pods": null, "summary": {"total_pods": 0}})
}

/// Polls `check` until it returns `Some`, failing after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < within,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `(event, data)` pairs of a Server-Sent Events body; comment frames (`: ping`), which
/// keep a stream alive, carry no event and are skipped.
pub fn sse_frames(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|f| !f.trim().is_empty() && !f.starts_with(':'))
        .map(|frame| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            (name, data)
        })
        .collect()
}
