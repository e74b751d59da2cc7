//! Storage faults under the real binary (issue 20): a full filesystem (a small tmpfs), a
//! read-only database file (`chattr +i`), a deleted WAL, and PostgreSQL going away. In
//! each, writes get 503 with a code naming the fault, `/ready` says why, nothing already
//! acknowledged is lost (checked after a `kill -9` and a restart), and the master recovers
//! by itself once the fault is cleared.
//!
//! The first three need SQLite; the tmpfs and `chattr` ones also need root (mount and the
//! immutable flag), and say so and pass without checking anything where they cannot run.
//! The last one runs on the PostgreSQL pass (`MASTER_TEST_PG_URL`), through a proxy the
//! test cuts.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::task::JoinHandle;

use super::*;

struct Api {
    http: reqwest::Client,
    base: String,
    admin: String,
}

impl Api {
    async fn new(base: &str) -> Api {
        let http = reqwest::Client::new();
        let admin = admin_token(&http, base).await;
        // The cluster the commands are for (already there after a restart: 409).
        let r = http
            .post(format!("{base}/api/v2/clusters"))
            .bearer_auth(&admin)
            .json(&json!({"cluster_id": "disk"}))
            .send()
            .await
            .unwrap();
        assert!([201, 409].contains(&r.status().as_u16()), "{}", r.status());
        Api {
            http,
            base: base.to_owned(),
            admin,
        }
    }

    /// Creates a command: the status and the reply.
    async fn command(&self, n: usize) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v2/command", self.base))
            .bearer_auth(&self.admin)
            .timeout(Duration::from_secs(15))
            .json(
                &json!({"cluster_id": "disk", "action": "scale", "kind": "Deployment",
                "namespace": "shop", "name": format!("web-{n}"), "params": {"replicas": 2}}),
            )
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `/ready`'s status and its `checks.database`.
    async fn ready(&self) -> (u16, String) {
        let (s, v) = self.get("/ready").await;
        (
            s,
            v["checks"]["database"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

/// A master on `db` in `dir` with `env`, its API, and `n` commands it acknowledged.
async fn started_with_commands(
    dir: &Path,
    db: &db::TestDb,
    env: &[(&str, &str)],
    n: usize,
) -> (Launched, Api, Vec<String>) {
    let run = launch(
        Command::new(env!("CARGO_BIN_EXE_atlhyper-master")),
        dir,
        db,
        env,
    );
    let api = Api::new(&run.http).await;
    let mut acked = Vec::new();
    for i in 0..n {
        let (s, v) = api.command(i).await;
        assert_eq!(s, 202, "{v}");
        acked.push(v["command_id"].as_str().unwrap().to_owned());
    }
    (run, api, acked)
}

/// Creates commands until one is refused with 503; every acknowledged one is kept in
/// `acked`. Returns the refusal's code.
async fn write_until_refused(api: &Api, acked: &mut Vec<String>, from: usize) -> String {
    for n in from..from + 200 {
        let (s, v) = api.command(n).await;
        match s {
            202 => acked.push(v["command_id"].as_str().unwrap().to_owned()),
            503 => return v["code"].as_str().unwrap_or_default().to_owned(),
            other => panic!("a write under a storage fault got {other}: {v}"),
        }
    }
    panic!("writes were never refused");
}

/// Waits until `/ready` is 200 again, and a write is accepted.
async fn recovers(api: &Api, acked: &mut Vec<String>, within: Duration) {
    let start = Instant::now();
    loop {
        let (s, why) = api.ready().await;
        if s == 200 {
            break;
        }
        assert!(start.elapsed() < within, "still not ready: {why}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, v) = api.command(9_999).await;
    assert_eq!(s, 202, "a write after recovery: {v}");
    acked.push(v["command_id"].as_str().unwrap().to_owned());
}

/// After a `kill -9` and a restart on the same data: every acknowledged command is there.
async fn all_present_after_kill_9(
    mut run: Launched,
    dir: &Path,
    db: &db::TestDb,
    env: &[(&str, &str)],
    acked: &[String],
) {
    let _ = run.child.kill();
    let _ = run.child.wait();
    let mut run = launch(
        Command::new(env!("CARGO_BIN_EXE_atlhyper-master")),
        dir,
        db,
        env,
    );
    let api = Api::new(&run.http).await;
    for id in acked {
        let (s, _) = api.get(&format!("/api/v2/commands/{id}")).await;
        assert_eq!(s, 200, "acknowledged command {id} lost");
    }
    let _ = run.child.kill();
    let _ = run.child.wait();
}

/// A test that cannot run here says why and passes, unless `MASTER_TEST_REQUIRE_ROOT` is
/// set (as `.ci/run` sets it): then not running is a failure.
fn skipped(why: &str) {
    assert!(
        std::env::var_os("MASTER_TEST_REQUIRE_ROOT").is_none(),
        "MASTER_TEST_REQUIRE_ROOT is set but {why}"
    );
    eprintln!("skipped: {why}");
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem under `dir` with one file until it refuses (ENOSPC).
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    path
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_503_storage_full_and_recovers_by_itself() {
    let db = db::TestDb::new();
    if db.is_postgres() {
        return; // SQLite's file; PostgreSQL's own outage is the last test.
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(_fs) = Tmpfs::mount(&data, "48m") else {
        skipped("cannot mount a tmpfs here (needs root)");
        return;
    };
    let env: Vec<(&str, &str)> = vec![("MASTER_API_RATE_LIMIT", "0")];
    let (run, api, mut acked) = started_with_commands(dir.path(), &db, &env, 20).await;
    let filler = fill(&data);
    let code = write_until_refused(&api, &mut acked, 100).await;
    assert_eq!(code, "storage_full");
    let (s, why) = api.ready().await;
    assert_eq!(s, 503);
    assert!(why.contains("disk full"), "{why}");
    // Reads still work.
    let (s, _) = api.get(&format!("/api/v2/commands/{}", acked[0])).await;
    assert_eq!(s, 200);
    // Space comes back: the master sees it by itself.
    std::fs::remove_file(filler).unwrap();
    recovers(&api, &mut acked, Duration::from_secs(10)).await;
    all_present_after_kill_9(run, dir.path(), &db, &env, &acked).await;
}

/// Sets (`+i`) or clears (`-i`) the immutable flag on `path`; false when it cannot.
fn chattr(path: &Path, flag: &str) -> bool {
    Command::new("chattr")
        .arg(flag)
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Files made immutable for one test, made writable again when dropped (even when the test
/// fails, so its directory can be removed).
struct Immutable(Vec<PathBuf>);

impl Immutable {
    /// `None` (with every flag cleared again) when any file cannot be made immutable.
    fn set(paths: Vec<PathBuf>) -> Option<Immutable> {
        let guard = Immutable(paths);
        guard.0.iter().all(|p| chattr(p, "+i")).then_some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in &self.0 {
            chattr(p, "-i");
        }
    }
}

#[tokio::test]
async fn a_read_only_database_refuses_writes_with_503_and_recovers_by_itself() {
    let db = db::TestDb::new();
    if db.is_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = vec![("MASTER_API_RATE_LIMIT", "0")];
    let (run, api, mut acked) = started_with_commands(dir.path(), &db, &env, 10).await;
    let file = dir.path().join("data/master.db");
    let files = vec![
        file.clone(),
        PathBuf::from(format!("{}-wal", file.display())),
    ];
    let Some(read_only) = Immutable::set(files) else {
        skipped("cannot set the immutable flag here (needs root and ext4 or alike)");
        return;
    };
    let code = write_until_refused(&api, &mut acked, 100).await;
    assert_eq!(code, "storage_read_only");
    let (s, why) = api.ready().await;
    assert!(s == 503 && why.contains("read-only"), "/ready {s}: {why}");
    let (_, read) = api.get(&format!("/api/v2/commands/{}", acked[0])).await;
    assert_eq!(read["command_id"], acked[0].as_str(), "reads still work");
    drop(read_only);
    recovers(&api, &mut acked, Duration::from_secs(10)).await;
    all_present_after_kill_9(run, dir.path(), &db, &env, &acked).await;
}

#[tokio::test]
async fn a_deleted_wal_is_rebuilt_and_writes_made_after_it_survive_kill_9() {
    let db = db::TestDb::new();
    if db.is_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = vec![("MASTER_API_RATE_LIMIT", "0")];
    let (run, api, mut acked) = started_with_commands(dir.path(), &db, &env, 10).await;
    let wal = dir.path().join("data/master.db-wal");
    assert!(wal.exists(), "the master runs in WAL mode");
    std::fs::remove_file(&wal).unwrap();
    // The WAL still open holds every write so far. Without the rebuild, these writes would
    // land in the unlinked file too, and all of them (the ten above included) would be lost
    // at the next crash; the first of them finds the WAL gone and checkpoints it before it
    // is acknowledged.
    for n in 10..20 {
        let (s, v) = api.command(n).await;
        if s == 202 {
            acked.push(v["command_id"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(s, 503, "{v}");
            assert_eq!(v["code"], "storage_io_error", "{v}");
        }
    }
    let start = Instant::now();
    loop {
        let metrics = reqwest::get(format!("{}/metrics", run.http))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rebuilt = metrics
            .lines()
            .find(|l| l.starts_with("atlhyper_db_wal_rebuilds_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok());
        if rebuilt.is_some_and(|n| n >= 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the WAL was not rebuilt"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(wal.exists(), "a new WAL is in place");
    recovers(&api, &mut acked, Duration::from_secs(10)).await;
    for n in 20..30 {
        let (s, v) = api.command(n).await;
        assert_eq!(s, 202, "{v}");
        acked.push(v["command_id"].as_str().unwrap().to_owned());
    }
    all_present_after_kill_9(run, dir.path(), &db, &env, &acked).await;
    // And the file is sound.
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let mut c =
        diesel::SqliteConnection::establish(&dir.path().join("data/master.db").to_string_lossy())
            .unwrap();
    let check: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut c)
        .unwrap();
    assert_eq!(check[0].integrity_check, "ok");
}

/// A TCP proxy in front of PostgreSQL that the test can cut (every connection reset, new
/// ones refused) and restore on the same port.
struct CutProxy {
    port: u16,
    upstream: String,
    accept: Option<JoinHandle<()>>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl CutProxy {
    async fn start(upstream: &str) -> CutProxy {
        let mut p = CutProxy {
            port: 0,
            upstream: upstream.to_owned(),
            accept: None,
            conns: Default::default(),
        };
        p.restore().await;
        p
    }

    async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.port = listener.local_addr().unwrap().port();
        let (upstream, conns) = (self.upstream.clone(), std::sync::Arc::clone(&self.conns));
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns.lock().unwrap().push(task);
            }
        }));
    }

    fn cut(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// Where `host:port` stands in `postgres://user@host:port/db?…`.
fn host_span(dsn: &str) -> std::ops::Range<usize> {
    let at = dsn.find('@').map_or("postgres://".len(), |i| i + 1);
    let end = dsn[at..].find('/').map_or(dsn.len(), |i| at + i);
    at..end
}

// Multi-threaded: the proxy's tasks must run while `launch` blocks this thread waiting for
// the master, which connects through the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_gets_503_and_the_master_reconnects_by_itself() {
    let db = db::TestDb::new();
    let Some(dsn) = db.dsn() else {
        return; // The PostgreSQL pass runs it.
    };
    let host = host_span(&dsn);
    let mut proxy = CutProxy::start(&dsn[host.clone()]).await;
    let mut proxied = dsn.clone();
    proxied.replace_range(host, &format!("127.0.0.1:{}", proxy.port));
    let env: Vec<(&str, &str)> = vec![("MASTER_API_RATE_LIMIT", "0"), ("MASTER_DB_DSN", &proxied)];
    let dir = tempfile::tempdir().unwrap();
    let (run, api, mut acked) = started_with_commands(dir.path(), &db, &env, 10).await;
    proxy.cut();
    let code = write_until_refused(&api, &mut acked, 100).await;
    assert_eq!(code, "unavailable");
    let (s, why) = api.ready().await;
    assert_eq!(s, 503);
    assert!(!why.is_empty(), "/ready names the database check");
    // A few seconds of outage, then PostgreSQL is back on the same address.
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore().await;
    recovers(&api, &mut acked, Duration::from_secs(20)).await;
    all_present_after_kill_9(run, dir.path(), &db, &env, &acked).await;
    proxy.cut();
}
