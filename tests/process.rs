//! The real binary as a process: graceful SIGTERM, a gzip bomb with bounded memory, secrets
//! never stored, slow and greedy clients, the kill -9 soak (`kill_soak`) and storage faults
//! (`storage_faults`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/db.rs"]
mod db;
#[path = "process/kill_soak.rs"]
mod kill_soak;
#[path = "support/sinks.rs"]
mod sinks;
#[path = "process/storage_faults.rs"]
mod storage_faults;

const TOKEN: &str = "process-test-token";
const ADMIN_PASSWORD: &str = "process-admin-password";

struct Master {
    /// The process (killed first when this is dropped, before its data goes).
    run: Launched,
    _dir: tempfile::TempDir,
    /// The test's PostgreSQL schema when the suite runs there (the SQLite default is the
    /// binary's own `data/master.db` under `_dir`).
    db: db::TestDb,
}

impl std::ops::Deref for Master {
    type Target = Launched;
    fn deref(&self) -> &Launched {
        &self.run
    }
}

impl std::ops::DerefMut for Master {
    fn deref_mut(&mut self) -> &mut Launched {
        &mut self.run
    }
}

/// Starts the binary on ports 0 with JSON logs, and reads the ports from its log.
fn start(extra_env: &[(&str, &str)]) -> Master {
    start_cmd(
        Command::new(env!("CARGO_BIN_EXE_atlhyper-master")),
        extra_env,
    )
}

fn start_cmd(cmd: Command, extra_env: &[(&str, &str)]) -> Master {
    let dir = tempfile::tempdir().unwrap();
    let db = db::TestDb::new();
    let run = launch(cmd, dir.path(), &db, extra_env);
    Master { run, _dir: dir, db }
}

/// One run of the binary: the process, its two base URLs and its log lines so far. The
/// process is killed when this is dropped (a failing test leaves no master behind).
struct Launched {
    child: Child,
    http: String,
    agent: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` in `dir` on `db` (SQLite: `dir/data/master.db`; PostgreSQL: the test's
/// schema), ports 0 unless `extra_env` names them, and waits for its "listening" line.
/// Starting it again on the same `dir` and `db` is a restart on the same data.
fn launch(
    mut cmd: Command,
    dir: &std::path::Path,
    db: &db::TestDb,
    extra_env: &[(&str, &str)],
) -> Launched {
    cmd.current_dir(dir)
        .env_clear()
        .env("MASTER_HTTP_PORT", "0")
        .env("MASTER_AGENT_PORT", "0")
        .env("MASTER_BIND", "127.0.0.1")
        .env("MASTER_LOG_FORMAT", "json")
        .env("MASTER_AGENT_TOKEN", TOKEN)
        .env("MASTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if db.is_postgres() {
        for (k, v) in db.env() {
            if k != "MASTER_DB_PATH" {
                cmd.env(k, v);
            }
        }
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line.clone());
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["message"] == "atlhyper-master listening" {
                    let _ = tx.send((
                        v["http_port"].as_u64().unwrap(),
                        v["agent_port"].as_u64().unwrap(),
                    ));
                }
            }
        }
    });
    let (http, agent) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("master starts and logs its ports");
    Launched {
        child,
        http: format!("http://127.0.0.1:{http}"),
        agent: format!("http://127.0.0.1:{agent}"),
        log,
    }
}

/// Every row of every table as text (PostgreSQL's row-to-text cast): what a leak check
/// greps on PostgreSQL instead of the SQLite file.
fn pg_dump_text(dsn: &str) -> String {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        s: String,
    }
    let mut c = diesel::PgConnection::establish(dsn).unwrap();
    let mut out = String::new();
    for table in atlhyper_master::db::copy::TABLES {
        let t: Text = diesel::sql_query(format!(
            "SELECT COALESCE(string_agg(t::text, ' '), '') AS s FROM {table} t"
        ))
        .get_result(&mut c)
        .unwrap();
        out.push_str(&t.s);
        out.push('\n');
    }
    out
}

/// A session token of the first-start admin.
async fn admin_token(client: &reqwest::Client, http: &str) -> String {
    let reply: serde_json::Value = client
        .post(format!("{http}/api/v2/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["token"].as_str().unwrap().to_owned()
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn sigterm_answers_parked_polls_and_exits_zero_within_10s() {
    let mut m = start(&[]);
    assert!(
        m.db.is_postgres() || m._dir.path().join("data/master.db").exists(),
        "the default SQLite file is created"
    );
    let client = reqwest::Client::new();
    let admin = admin_token(&client, &m.http).await;
    let poll = tokio::spawn({
        let (client, url) = (
            client.clone(),
            format!("{}/agent/commands?cluster_id=p1", m.agent),
        );
        async move { client.get(url).bearer_auth(TOKEN).send().await.unwrap() }
    });
    // Wait until the poll is parked.
    let start_wait = Instant::now();
    loop {
        let st: serde_json::Value = client
            .get(format!("{}/api/v2/clusters/p1/status", m.http))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if st["commands"]["parked_polls"] == 1 {
            break;
        }
        assert!(start_wait.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = Instant::now();
    Command::new("kill")
        .arg("-TERM")
        .arg(m.child.id().to_string())
        .status()
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"has_command": false})
    );
    let code = loop {
        if let Some(status) = m.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "exit within 10 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(code.success(), "exit status {code:?}");
    assert!(
        client
            .get(format!("{}/health", m.http))
            .send()
            .await
            .is_err(),
        "port closed"
    );
}

#[tokio::test]
async fn gzip_bomb_gets_413_and_memory_stays_bounded() {
    // mimalloc keeps freed pages for a while before it returns them (MIMALLOC_PURGE_DELAY,
    // 10 ms by default), so three bombs in a row could each be charged to the peak even
    // though each decode frees its buffer; with 0 the peak measures one decode.
    let m = start(&[
        ("MASTER_AGENT_MAX_SNAPSHOT", "64MiB"),
        ("MIMALLOC_PURGE_DELAY", "0"),
    ]);
    // 1 GiB of zeros, gzip-compressed to about 1 MiB.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 8 << 20, "bomb is {} bytes", bomb.len());
    let before = peak_rss_kib(m.child.id());
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let r = client
            .post(format!("{}/agent/snapshot", m.agent))
            .bearer_auth(TOKEN)
            .header("X-Cluster-ID", "bomb")
            .header("Content-Encoding", "gzip")
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "payload_too_large");
    }
    let peak = peak_rss_kib(m.child.id());
    eprintln!(
        "gzip bomb: peak RSS grew by {} MiB (cap 64 MiB, expansion 1 GiB)",
        (peak - before) / 1024
    );
    // The cap is 64 MiB; the full expansion would be 1 GiB.
    assert!(
        peak - before < 200 * 1024,
        "peak RSS grew by {} MiB",
        (peak - before) / 1024
    );
    let ok = client
        .get(format!("{}/health", m.http))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "still serving");
}

#[tokio::test]
async fn passwords_and_tokens_in_bodies_never_reach_the_db_or_the_log() {
    let mut m = start(&[("MASTER_LOG_LEVEL", "debug")]);
    let c = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut r = c.post(format!("{}{path}", m.http)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let admin: serde_json::Value = post(
        "/api/v2/auth/login",
        None,
        serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let admin = admin["token"].as_str().unwrap().to_owned();
    const USER_PW: &str = "Zebra-Quartz-Lantern-7781";
    const NEW_PW: &str = "Violet-Harbor-Comet-4420";
    const BODY_TOKEN: &str = "atk_LiteralTokenInABody_Kq9Xz2Lm4Np6";
    let r = post(
        "/api/v2/users",
        Some(&admin),
        serde_json::json!({"username": "carol", "password": USER_PW, "role": "operator"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let carol: serde_json::Value = post(
        "/api/v2/auth/login",
        None,
        serde_json::json!({"username": "carol", "password": USER_PW}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let carol_session = carol["token"].as_str().unwrap().to_owned();
    // A failed login, a refused body carrying a token, a password change, an API key and
    // an agent token: every secret travels in a body or a reply.
    let r = post(
        "/api/v2/auth/login",
        None,
        serde_json::json!({"username": "carol", "password": NEW_PW}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    let r = post(
        "/api/v2/tokens",
        Some(&carol_session),
        serde_json::json!({"name": "x", "token": BODY_TOKEN, "password": USER_PW}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let users: serde_json::Value = c
        .get(format!("{}/api/v2/users", m.http))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let carol_id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "carol")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = c
        .patch(format!("{}/api/v2/users/{carol_id}", m.http))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"password": NEW_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let key: serde_json::Value = post(
        "/api/v2/tokens",
        Some(&admin),
        serde_json::json!({"name": "ci"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let api_key = key["token"].as_str().unwrap().to_owned();
    let cl: serde_json::Value = post(
        "/api/v2/clusters",
        Some(&admin),
        serde_json::json!({"cluster_id": "leak-test"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let agent_token = cl["agent_token"].as_str().unwrap().to_owned();
    let r = c
        .post(format!("{}/agent/heartbeat", m.agent))
        .bearer_auth(&agent_token)
        .header("X-Cluster-ID", "leak-test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Notification channels: the secrets go in through PUT and out through a failing
    // test send (an unreachable receiver), whose error is logged and returned.
    const SLACK_TOKEN: &str = "T0LEAK/B0LEAK/slackLeakCanary77";
    const HOOK_SECRET: &str = "webhook-leak-canary-secret-42";
    const DING_SECRET: &str = "SECdingLeakCanary0099";
    for (kind, config) in [
        (
            "slack",
            serde_json::json!({"webhook_url": format!("http://127.0.0.1:9/services/{SLACK_TOKEN}")}),
        ),
        (
            "webhook",
            serde_json::json!({"url": "http://127.0.0.1:9/hook", "secret": HOOK_SECRET}),
        ),
        (
            "dingtalk",
            serde_json::json!({"webhook_url": "http://127.0.0.1:9/robot/send?access_token=dingLeakToken55", "secret": DING_SECRET}),
        ),
    ] {
        let r = c
            .put(format!("{}/api/v2/notify/channels/{kind}", m.http))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"enabled": true, "config": config}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{kind}");
        let reply: serde_json::Value = post(
            &format!("/api/v2/notify/channels/{kind}/test"),
            Some(&admin),
            serde_json::json!({}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(reply["success"], false, "{kind}: {reply}");
        assert!(reply["error"].is_string());
        for secret in [SLACK_TOKEN, HOOK_SECRET, DING_SECRET, "dingLeakToken55"] {
            assert!(
                !reply.to_string().contains(secret),
                "{kind} test reply leaks"
            );
        }
    }

    // An AI provider: its key goes in through POST and out only in a request header to an
    // unreachable endpoint, whose failure is logged, stored and streamed.
    const AI_KEY: &str = "sk-aiLeakCanary-5566778899";
    let p: serde_json::Value = post(
        "/api/v2/ai/providers",
        Some(&admin),
        serde_json::json!({"name": "leak", "kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                           "model": "m", "api_key": AI_KEY}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(!p.to_string().contains(AI_KEY), "{p}");
    let r = c
        .put(format!("{}/api/v2/ai/active", m.http))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"enabled": true, "provider_id": p["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let conv: serde_json::Value = post(
        "/api/v2/ai/conversations",
        Some(&admin),
        serde_json::json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let answer = post(
        "/api/v2/ai/chat",
        Some(&admin),
        serde_json::json!({"conversation_id": conv["id"], "message": "hello"}),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(answer.contains("provider_unreachable"), "{answer}");
    assert!(!answer.contains(AI_KEY));

    // Stop cleanly, so the audit writer flushes and the WAL is checkpointed.
    Command::new("kill")
        .arg("-TERM")
        .arg(m.child.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "exit within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut stored = Vec::new();
    if let Some(dsn) = m.db.dsn() {
        stored.extend(pg_dump_text(&dsn).into_bytes());
    }
    for f in std::fs::read_dir(m._dir.path().join("data")).unwrap() {
        let f = f.unwrap().path();
        if f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("master.db")
        {
            stored.extend(std::fs::read(&f).unwrap());
        }
    }
    let log = m.log.lock().unwrap().join("\n");
    assert!(
        log.contains("audit") || !log.is_empty(),
        "the log was captured"
    );
    let db = String::from_utf8_lossy(&stored);
    assert!(db.contains("carol"), "the right database file was read");
    assert!(
        db.matches("/api/v2/users").count() >= 2,
        "audit rows of the writes were stored"
    );
    for secret in [
        USER_PW,
        NEW_PW,
        BODY_TOKEN,
        ADMIN_PASSWORD,
        carol_session.as_str(),
        api_key.as_str(),
        agent_token.as_str(),
        admin.as_str(),
        SLACK_TOKEN,
        HOOK_SECRET,
        DING_SECRET,
        "dingLeakToken55",
        AI_KEY,
    ] {
        assert!(!db.contains(secret), "a secret is in the database file");
        assert!(!log.contains(secret), "a secret is in the log");
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Reads from `conn` until the server closes it (or `within` passes): how long it took,
/// and what the server said before closing.
async fn until_closed(
    conn: &mut tokio::net::TcpStream,
    within: Duration,
) -> (Option<Duration>, String) {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + within),
            conn.read(&mut buf),
        )
        .await
        {
            Err(_) => return (None, String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    Some(started.elapsed()),
                    String::from_utf8_lossy(&got).into_owned(),
                )
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Issue 20 §3, slow and greedy clients on both ports at once, against the real binary:
/// 1,000 long polls and 1,000 SSE streams held open, slowloris heads at a byte a second on
/// both ports (also the second head of a kept-alive connection), bodies trickled on both
/// ports, a flood of unauthenticated requests, then 10,000 idle connections (half never
/// send a byte, half idle after one request). Meanwhile a normal client is served every
/// time; each abuser is cut off within its documented time; the master never runs out of
/// descriptors (its connection cap queues the excess in the kernel) and its memory stays
/// bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_and_slow_clients_are_cut_off_while_a_normal_client_is_served() {
    use futures_util::StreamExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;
    type Job<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
    let m = start(&[
        ("MASTER_API_READ_TIMEOUT", "2s"),
        ("MASTER_AGENT_READ_TIMEOUT", "2s"),
        // Capacity, not the per-token limits, is under test here.
        ("MASTER_API_RATE_LIMIT", "0"),
        ("MASTER_AGENT_RATE_LIMIT", "0"),
        ("MASTER_COMMAND_POLL_TIMEOUT", "120s"),
    ]);
    let pid = m.child.id();
    let http_addr = m.http.trim_start_matches("http://").to_owned();
    let agent_addr = m.agent.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::new();
    let admin = admin_token(&client, &m.http).await;
    let rss_before = rss_kib(pid);

    // The normal client: a dashboard read every 100 ms on one kept-alive connection, on
    // its own thread (so the abusers' tasks in this process cannot delay it). Should the
    // server close that connection, it reconnects and says so.
    let stop = Arc::new(AtomicBool::new(false));
    let normal = std::thread::spawn({
        let (addr, admin, stop) = (http_addr.clone(), admin.clone(), Arc::clone(&stop));
        move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use tokio::io::{AsyncBufReadExt, AsyncReadExt};
                let request = format!(
                    "GET /api/v2/clusters HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n"
                );
                let mut took = Vec::new();
                let mut reconnects = 0;
                let begun = Instant::now();
                let mut conn: Option<tokio::io::BufReader<tokio::net::TcpStream>> = None;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let mut status = 0;
                    for _attempt in 0..2 {
                        if conn.is_none() {
                            if !took.is_empty() {
                                reconnects += 1;
                                eprintln!("normal client reconnects at {:?}", t - begun);
                            }
                            conn = tokio::net::TcpStream::connect(&addr)
                                .await
                                .ok()
                                .map(tokio::io::BufReader::new);
                        }
                        let Some(c) = conn.as_mut() else { continue };
                        if c.get_mut().write_all(request.as_bytes()).await.is_err() {
                            conn = None;
                            continue;
                        }
                        let mut line = String::new();
                        let mut len = 0usize;
                        let mut first = true;
                        let mut ok = false;
                        loop {
                            line.clear();
                            match c.read_line(&mut line).await {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {}
                            }
                            if first {
                                status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                                first = false;
                            } else if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                                len = v.trim().parse().unwrap_or(0);
                            } else if line == "\r\n" {
                                let mut body = vec![0u8; len];
                                ok = c.read_exact(&mut body).await.is_ok();
                                break;
                            }
                        }
                        if ok {
                            break;
                        }
                        conn = None;
                    }
                    took.push((status, t.elapsed()));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (took, reconnects)
            })
        }
    });

    // 1,000 long polls (100 clusters, 10 each) and 1,000 SSE streams, held.
    let held = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let polls: Vec<_> = (0..1000)
        .map(|i| {
            held.get(format!(
                "{}/agent/commands?cluster_id=held-{:03}&topic=ops",
                m.agent,
                i % 100
            ))
            .bearer_auth(TOKEN)
            .send()
        })
        .collect();
    let polls = tokio::spawn(futures_util::future::join_all(polls));
    let mut streams = Vec::new();
    for chunk in (0..1000).collect::<Vec<_>>().chunks(100) {
        let opened = futures_util::future::join_all(chunk.iter().map(|_| {
            held.get(format!("{}/api/v2/subscribe", m.http))
                .bearer_auth(&admin)
                .send()
        }))
        .await;
        for r in opened {
            let r = r.unwrap();
            assert_eq!(r.status(), 200, "SSE stream opens");
            streams.push(r.bytes_stream());
        }
    }

    // Slowloris heads, a byte a second: fresh connections on both ports, and the second
    // request of a kept-alive connection.
    let slowloris = |addr: String, first: bool| async move {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if first {
            c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
        }
        let (mut rd, mut wr) = c.into_split();
        let started = Instant::now();
        let drip = tokio::spawn(async move {
            for b in b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if wr.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let mut got = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut got),
        )
        .await;
        drip.abort();
        started.elapsed()
    };
    let lorises = tokio::spawn(futures_util::future::join_all(vec![
        Box::pin(slowloris(http_addr.clone(), false)) as Job<_>,
        Box::pin(slowloris(agent_addr.clone(), false)),
        Box::pin(slowloris(http_addr.clone(), true)),
    ]));

    // Bodies trickled a byte every 300 ms on both ports (2 s read timeouts). They come from
    // 127.0.0.2: the flood below exhausts 127.0.0.1's unauthenticated budget, and a trickle
    // whose head arrived after it would get 429 instead of reaching its body deadline.
    let trickle = |addr: String, head: String| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let c = socket.connect(addr.parse().unwrap()).await.unwrap();
        let (mut rd, mut wr) = c.into_split();
        wr.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let drip = tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if wr.write_all(b" ").await.is_err() {
                    return;
                }
            }
        });
        let mut got = Vec::new();
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::io::AsyncReadExt::read_to_end(&mut rd, &mut got),
        )
        .await;
        drip.abort();
        (
            started.elapsed(),
            String::from_utf8_lossy(&got).into_owned(),
        )
    };
    let trickles = tokio::spawn(futures_util::future::join_all(vec![
        Box::pin(trickle(
            http_addr.clone(),
            "POST /api/v2/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{"
                .to_owned(),
        )) as Job<_>,
        Box::pin(trickle(
            agent_addr.clone(),
            format!(
                "POST /agent/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 X-Cluster-ID: trickle\r\nContent-Length: 1000\r\n\r\n{{"
            ),
        )),
    ]));

    // The flood: 2,000 unauthenticated requests, 20 at a time.
    let flood_started = Instant::now();
    let flood = futures_util::stream::iter(0..2000)
        .map(|_| client.get(format!("{}/api/v2/clusters", m.http)).send())
        .buffer_unordered(20)
        .map(|r| r.map(|r| r.status().as_u16()).unwrap_or(0))
        .collect::<Vec<u16>>()
        .await;
    let flood_secs = flood_started.elapsed().as_secs_f64();
    let unauthorized = flood.iter().filter(|s| **s == 401).count();
    let limited = flood.iter().filter(|s| **s == 429).count();
    assert_eq!(unauthorized + limited, 2000, "only 401 and 429");
    // The burst (100; the admin's login took one) plus 10 a second.
    let allowed = 100.0 + 10.0 * flood_secs + 5.0;
    assert!(
        (unauthorized as f64) <= allowed,
        "{unauthorized} unauthenticated requests served in {flood_secs:.1}s"
    );

    // 10,000 idle connections: 5,000 silent, 5,000 idle after one request. Past the
    // master's connection cap they wait in the kernel's queue until slots free up; each
    // is closed by the server: silent ones at the head timeout (10 s), kept ones at the
    // keep-alive timeout (5 s).
    let storm_started = Instant::now();
    let idle = futures_util::stream::iter(0..10_000)
        .map(|i| {
            let addr = http_addr.clone();
            async move {
                let mut c = tokio::time::timeout(
                    Duration::from_secs(90),
                    tokio::net::TcpStream::connect(&addr),
                )
                .await
                .ok()?
                .ok()?;
                if i % 2 == 1 {
                    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                        .await
                        .ok()?;
                }
                until_closed(&mut c, Duration::from_secs(120)).await.0
            }
        })
        .buffer_unordered(10_000)
        .collect::<Vec<Option<Duration>>>()
        .await;
    let storm = storm_started.elapsed();
    let closed = idle.iter().filter(|c| c.is_some()).count();
    assert_eq!(
        closed, 10_000,
        "idle connections never closed by the server"
    );
    // (Held from the kernel's handshake: the wait in the accept queue included.)
    let longest = idle.iter().flatten().max().copied().unwrap_or_default();
    assert!(storm < Duration::from_secs(100), "the storm took {storm:?}");
    let rss_peak = peak_rss_kib(pid);

    // Fresh connections: actix's head deadline (10 s); the second head of a kept-alive
    // connection: the connection guard (15 s without a request in progress, swept every
    // second).
    let held_for: Vec<Duration> = lorises.await.unwrap();
    for (i, (took, limit)) in held_for.iter().zip([12, 12, 18]).enumerate() {
        assert!(
            *took < Duration::from_secs(limit),
            "slowloris {i} held {took:?}"
        );
    }
    for (took, said) in trickles.await.unwrap() {
        assert!(said.starts_with("HTTP/1.1 408"), "{said}");
        assert!(said.contains("body_timeout"), "{said}");
        assert!(took < Duration::from_secs(5), "trickle held {took:?}");
    }

    // The held long polls and streams are still open and still work: a snapshot pushed
    // now reaches a stream.
    assert!(!polls.is_finished(), "long polls answered early");
    let push = client
        .post(format!("{}/agent/snapshot", m.agent))
        .bearer_auth(TOKEN)
        .header("X-Cluster-ID", "held-000")
        .json(&serde_json::json!({"cluster_id": "held-000", "summary": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), streams[999].next())
        .await
        .expect("an SSE event within 10 s")
        .unwrap()
        .unwrap();
    assert!(!first.is_empty());

    stop.store(true, Ordering::Relaxed);
    let (took, reconnects) = normal.join().unwrap();
    let errors: Vec<String> = m
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("\"ERROR\""))
        .cloned()
        .collect();
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
    let failed: Vec<_> = took.iter().filter(|(s, _)| *s != 200).collect();
    assert!(failed.is_empty(), "normal client refused: {failed:?}");
    let mut ms: Vec<f64> = took.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q) as usize];
    eprintln!(
        "abuse: normal client {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
         flood {unauthorized} x 401 + {limited} x 429 in {flood_secs:.1}s; \
         10,000 idle connections all served and closed in {storm:?} (longest from connect {longest:?}); \
         slowloris cut after {held_for:?}; RSS {} -> peak {} MiB; normal reconnects {reconnects}",
        ms.len(),
        pick(0.5),
        pick(0.99),
        ms[ms.len() - 1],
        rss_before / 1024,
        rss_peak / 1024
    );
    // Not a latency target (that is the bench's business): the normal client was never
    // starved.
    assert!(
        ms[ms.len() - 1] < 3000.0,
        "the normal client waited {} ms",
        ms[ms.len() - 1]
    );
    assert!(
        rss_peak < 1024 * 1024,
        "peak RSS {} MiB under abuse",
        rss_peak / 1024
    );
    drop(streams);
    polls.abort();
}
