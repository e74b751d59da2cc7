//! Helpers shared by the benchmark binaries (`mod common;` in each).
#![allow(dead_code, reason = "each bench uses a subset")]

use std::path::PathBuf;
use std::process::Command;

/// `--name <n>` from the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A generated `pods`-pod v2.1 snapshot (gzip), made once by
/// `../shared/tools/gen_snapshot.py` and cached under `target/bench-data/`.
pub fn snapshot_gz(pods: usize) -> Vec<u8> {
    generated(&format!("snapshot-{pods}.json.gz"), pods, 7, "bench")
}

/// Like [`snapshot_gz`] for another seed and cluster id: distinct pod names, UIDs and
/// IPs, the same realistic vocabulary (images, label keys, namespaces).
pub fn snapshot_gz_seeded(pods: usize, seed: u64, cluster_id: &str) -> Vec<u8> {
    generated(
        &format!("snapshot-{pods}-{cluster_id}-s{seed}.json.gz"),
        pods,
        seed,
        cluster_id,
    )
}

fn generated(file: &str, pods: usize, seed: u64, cluster_id: &str) -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cache = root.join("target/bench-data").join(file);
    if !cache.exists() {
        std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
        let tool = root.join("../shared/tools/gen_snapshot.py");
        let ok = Command::new("python3")
            .arg(&tool)
            .args([
                "snapshot",
                "--cluster-id",
                cluster_id,
                "--pods",
                &pods.to_string(),
                "--seed",
                &seed.to_string(),
                "--go-quirks",
                "--gzip",
                "-o",
            ])
            .arg(&cache)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "could not run {} (python3 and ../shared are needed)",
            tool.display()
        );
    }
    std::fs::read(cache).unwrap()
}

/// Resident set size of a process (`VmRSS` of `/proc/<pid>/status`), in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:") * 1024
}

/// Peak resident set size of a process (`VmHWM`), in bytes.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:") * 1024
}

// ---------------------------------------------------------------------------------------
// Fleet simulation: the real master as a child process, cheap agent bodies, /proc probes.
// Used by benches/fleet.rs and benches/commands.rs.
// ---------------------------------------------------------------------------------------

use std::io::{BufRead, BufReader, Read as _};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bootstrap agent token the bench masters are started with.
pub const AGENT_TOKEN: &str = "bench-agent-token";
/// Admin password the bench masters are started with.
pub const ADMIN_PASSWORD: &str = "bench-admin-password-9431";

/// `--name <text>` from the command line, or `default`.
pub fn arg_str(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

/// `--name <a,b,c>` as numbers, or `default`.
pub fn arg_list(name: &str, default: &str) -> Vec<usize> {
    arg_str(name, default)
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

/// True when `--name` is on the command line.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// Milliseconds, as a float.
pub fn as_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Count, p50, p99 and max of a set of latencies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

impl Stats {
    /// Summarises `samples` (any order).
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort();
        let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
        Self {
            n: samples.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        }
    }

    /// `{"n", "p50", "p99", "max"}` in milliseconds.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "n": self.n,
            "p50": as_ms(self.p50),
            "p99": as_ms(self.p99),
            "max": as_ms(self.max),
        })
    }
}

/// Small deterministic PRNG (splitmix64): jitter, start offsets and picks need no
/// cryptographic quality, and the benches stay free of another dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
}

/// `now` as the RFC 3339 UTC text with nanoseconds an agent puts in `fetched_at`.
pub fn fetched_at_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// One gzip member holding `data` in a single *stored* deflate block: no deflate state to
/// set up, so it costs a CRC and a copy (a few hundred ns for a cluster id).
fn stored_gzip_member(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("a varying piece is at most 64 KiB");
    let mut out = Vec::with_capacity(data.len() + 23);
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=unknown
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    // BFINAL=1, BTYPE=00 (stored), then LEN and its one's complement.
    out.push(1);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A piece of a [`PushBody`].
#[derive(Debug)]
enum Piece {
    /// Static JSON, gzipped once (a gzip member).
    Static(Vec<u8>),
    /// The value of `"cluster_id"`.
    ClusterId,
    /// The value of `"fetched_at"`.
    FetchedAt,
}

/// A snapshot body that thousands of simulated agents can push without the load
/// generator eating the master's CPU.
///
/// Regenerating and re-gzipping a 2 MB snapshot per push would cost the bench more than
/// the master. Instead the JSON is split around the values of `"cluster_id"` and
/// `"fetched_at"`; the big static pieces are gzipped **once**, and each push only wraps
/// the two tiny varying values in stored gzip members and concatenates. The master
/// inflates with `MultiGzDecoder`, and several gzip members back to back are one valid
/// gzip stream (RFC 1952 §2.2), so it still inflates and parses the whole document each
/// time. Each push carries the caller's `fetched_at`, which must be newer than the last
/// one of that cluster: the master ignores an older snapshot (much cheaper, unfair).
///
/// Caveats, said in the benches' output:
/// - every cluster holds the same pods, nodes and events (only the id differs);
/// - the master sizes its inflate buffer from the *last* member's length trailer, which
///   here is the static tail, slightly shorter than the whole document: one buffer
///   regrowth per push (a ~2 MB copy, well under 2 % of the parse) that a single-member
///   body would not cost.
#[derive(Debug)]
pub struct PushBody {
    pieces: Vec<Piece>,
    static_json: usize,
    static_gzip: usize,
}

impl PushBody {
    /// Splits the gzip snapshot `gz`, whose JSON holds `"cluster_id":"<id>"` and
    /// `"fetched_at":"<t>"` (as `gen_snapshot.py` writes them: no spaces).
    pub fn from_gzip(gz: &[u8]) -> Self {
        let mut json = String::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_string(&mut json)
            .expect("snapshot is gzip UTF-8");
        Self::from_json(&json)
    }

    /// As [`PushBody::from_gzip`], from the JSON text.
    pub fn from_json(json: &str) -> Self {
        let span = |key: &str| -> (usize, usize) {
            let pat = format!("\"{key}\":\"");
            let start = json.find(&pat).expect("key present") + pat.len();
            let end = start + json[start..].find('"').expect("closing quote");
            assert!(
                !json[start..end].contains('\\'),
                "{key} must be a plain string"
            );
            (start, end)
        };
        let mut spans = [
            (span("cluster_id"), Piece::ClusterId),
            (span("fetched_at"), Piece::FetchedAt),
        ];
        spans.sort_by_key(|((s, _), _)| *s);
        let gzip = |text: &str| {
            use std::io::Write as _;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(text.as_bytes()).expect("in-memory gzip");
            e.finish().expect("in-memory gzip")
        };
        let mut pieces = Vec::new();
        let mut at = 0;
        for ((start, end), var) in spans {
            if start > at {
                pieces.push(Piece::Static(gzip(&json[at..start])));
            }
            pieces.push(var);
            at = end;
        }
        if at < json.len() {
            pieces.push(Piece::Static(gzip(&json[at..])));
        }
        let static_gzip = pieces
            .iter()
            .map(|p| match p {
                Piece::Static(g) => g.len(),
                _ => 0,
            })
            .sum();
        let (a, b) = (span("cluster_id"), span("fetched_at"));
        let body = Self {
            pieces,
            static_json: json.len() - (a.1 - a.0) - (b.1 - b.0),
            static_gzip,
        };
        // Self-check: the members inflate back to the document with the new values.
        let probe = body.body("probe-1", "2031-01-02T03:04:05.000000006Z");
        let mut back = String::new();
        flate2::read::MultiGzDecoder::new(&probe[..])
            .read_to_string(&mut back)
            .expect("members inflate");
        let expect = json
            .replacen(
                &format!("\"cluster_id\":\"{}\"", &json[a.0..a.1]),
                "\"cluster_id\":\"probe-1\"",
                1,
            )
            .replacen(
                &format!("\"fetched_at\":\"{}\"", &json[b.0..b.1]),
                "\"fetched_at\":\"2031-01-02T03:04:05.000000006Z\"",
                1,
            );
        assert!(back == expect, "PushBody does not round-trip");
        body
    }

    /// The gzip body for `cluster_id` with `fetched_at`.
    pub fn body(&self, cluster_id: &str, fetched_at: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.static_gzip + 64 + cluster_id.len());
        for p in &self.pieces {
            match p {
                Piece::Static(g) => out.extend_from_slice(g),
                Piece::ClusterId => {
                    out.extend_from_slice(&stored_gzip_member(cluster_id.as_bytes()))
                }
                Piece::FetchedAt => {
                    out.extend_from_slice(&stored_gzip_member(fetched_at.as_bytes()))
                }
            }
        }
        out
    }

    /// JSON bytes the master inflates and parses for one push with these values.
    pub fn json_len(&self, cluster_id: &str, fetched_at: &str) -> usize {
        self.static_json + cluster_id.len() + fetched_at.len()
    }

    /// Size of one body on the wire, roughly (the static members plus a few dozen bytes).
    pub fn gzip_len(&self) -> usize {
        self.static_gzip
    }
}

/// The master binary a bench runs: `--master-bin PATH`, by default this build's release
/// binary. Another build (say, a copy of `main`'s) gives an A/B comparison in one run.
pub fn master_bin() -> String {
    arg_str("--master-bin", env!("CARGO_BIN_EXE_atlhyper-master"))
}

/// The real `atlhyper-master` binary (release build of this package) running as a
/// child process on ports 0, with a temporary SQLite file and JSON logs on stdout.
///
/// - The ports are read from the `"atlhyper-master listening"` log line.
/// - Its file-descriptor soft limit is raised to the hard limit (`sh -c 'ulimit -n'`),
///   since a bench may park thousands of connections.
/// - The dashboard rate limit is off (`MASTER_API_RATE_LIMIT=0`): benches drive more
///   queries per second from one token than a person would. Agent limits stay at their
///   defaults. Log level stays `info`, as in production (each POST is logged).
/// - stdout is drained on a thread; WARN and ERROR lines are kept (the first 50).
pub struct MasterProcess {
    child: Child,
    /// `http://127.0.0.1:<dashboard port>`.
    pub http: String,
    /// `http://127.0.0.1:<agent port>`.
    pub agent: String,
    /// WARN/ERROR log lines (the first 50).
    pub warnings: Arc<Mutex<Vec<String>>>,
    /// How many WARN/ERROR lines were logged in all.
    pub warning_count: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

impl Drop for MasterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MasterProcess {
    /// Starts the binary with the bench defaults plus `extra_env`, and waits (30 s at
    /// most) for it to listen.
    pub fn start<K: AsRef<std::ffi::OsStr>, V: AsRef<std::ffi::OsStr>>(
        extra_env: &[(K, V)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // The niceness of `--nice` is inherited from this process (see `renice_self`).
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\"")
            .arg(master_bin())
            .current_dir(dir.path())
            .env_clear()
            .env("MASTER_HTTP_PORT", "0")
            .env("MASTER_AGENT_PORT", "0")
            .env("MASTER_BIND", "127.0.0.1")
            .env("MASTER_LOG_FORMAT", "json")
            .env("MASTER_LOG_LEVEL", "info")
            .env("MASTER_DB_PATH", dir.path().join("master.db"))
            .env("MASTER_AGENT_TOKEN", AGENT_TOKEN)
            .env("MASTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("MASTER_API_RATE_LIMIT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the master");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let warning_count = Arc::new(AtomicU64::new(0));
        let (sink, count) = (Arc::clone(&warnings), Arc::clone(&warning_count));
        std::thread::spawn(move || {
            let mut listening = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !listening && line.contains("atlhyper-master listening") {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                        listening = true;
                        let _ = tx.send((
                            v["http_port"].as_u64().unwrap_or(0),
                            v["agent_port"].as_u64().unwrap_or(0),
                        ));
                    }
                }
                if line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"") {
                    count.fetch_add(1, Ordering::Relaxed);
                    let mut w = sink.lock().expect("log sink");
                    if w.len() < 50 {
                        w.push(line);
                    }
                }
            }
        });
        let (http, agent) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the master starts and logs its ports");
        Self {
            child,
            http: format!("http://127.0.0.1:{http}"),
            agent: format!("http://127.0.0.1:{agent}"),
            warnings,
            warning_count,
            _dir: dir,
        }
    }

    /// The master's process id (the shell `exec`s it, so it is the child's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size now, KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// Peak resident set size, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// CPU seconds (user + system, all threads) used so far.
    pub fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(&self.pid().to_string())
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Logs in as the admin and returns the session token.
    pub async fn login(&self, client: &reqwest::Client) -> String {
        admin_login(client, &self.http, ADMIN_PASSWORD).await
    }
}

/// Logs in as `admin` with `password` on the dashboard at `http`; returns the session
/// token.
pub async fn admin_login(client: &reqwest::Client, http: &str, password: &str) -> String {
    let r: serde_json::Value = client
        .post(format!("{http}/api/v2/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login request")
        .json()
        .await
        .expect("login reply");
    r["token"]
        .as_str()
        .expect("token in login reply")
        .to_owned()
}

/// `--nice N` (default 0): the scheduling priority of the master and of this process.
/// On a shared machine a negative value (root only) keeps other people's builds from
/// dominating what is measured; 0 leaves priorities alone.
pub fn nice() -> i32 {
    arg_str("--nice", "0").parse().unwrap_or(0)
}

/// Applies [`nice`] to every thread of this process (Linux niceness is per thread;
/// threads started later inherit it), and to this session's scheduler autogroup: with
/// `kernel.sched_autogroup_enabled`, CPU is first shared between sessions, so a thread's
/// own niceness only ranks it within its session. The autogroup holds this process, the
/// cargo that started it and the master child, nothing else. Call first thing in `main`.
pub fn renice_self() {
    let n = nice();
    if n == 0 {
        return;
    }
    let group = std::fs::write("/proc/self/autogroup", n.to_string()).is_ok();
    let tasks = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let ok = Command::new("renice")
        .args(["-n", &n.to_string(), "-p"])
        .args(&tasks)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    println!(
        "nice {n} for the master and this process{}{}",
        if ok {
            ""
        } else {
            " (renice failed: priorities unchanged)"
        },
        if group {
            ", and for this session's autogroup"
        } else {
            ""
        }
    );
}

/// A `kB` field of `/proc/<pid>/status`, 0 when unreadable.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Clock ticks per second of `/proc/*/stat` times.
pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds (utime + stime) of `/proc/<pid>/stat` (`pid` may be `self`).
pub fn proc_cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Engines: the persistence benches (events, metrics) measure SQLite and PostgreSQL side by
// side in one run. The PostgreSQL schema comes from `tests/support/db.rs` (`TestDb`).
// ---------------------------------------------------------------------------------------

use atlhyper_master::db::Engine;

/// Where `tests/support/db.rs` reads the PostgreSQL base URL.
pub const PG_URL_ENV: &str = "MASTER_TEST_PG_URL";

/// The engines to measure, in order: `--engines sqlite,postgres` (or `pg`). By default
/// SQLite, plus PostgreSQL when a base URL is given by `--pg-url URL` or
/// `MASTER_TEST_PG_URL`. `--pg-url` is exported as `MASTER_TEST_PG_URL` for `TestDb`, so
/// call this first thing in `main`, before any other thread runs.
pub fn engines() -> Vec<Engine> {
    let url = arg_str("--pg-url", "");
    if !url.trim().is_empty() {
        std::env::set_var(PG_URL_ENV, url.trim());
    }
    let has_pg = std::env::var(PG_URL_ENV).is_ok_and(|v| !v.trim().is_empty());
    let default = if has_pg { "sqlite,postgres" } else { "sqlite" };
    let mut out = Vec::new();
    for name in arg_str("--engines", default)
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let engine = match name {
            "sqlite" => Engine::Sqlite,
            "postgres" | "postgresql" | "pg" => Engine::Postgres,
            other => panic!("--engines: unknown engine {other:?} (sqlite, postgres)"),
        };
        assert!(
            engine != Engine::Postgres || has_pg,
            "--engines postgres needs --pg-url URL or {PG_URL_ENV}"
        );
        if !out.contains(&engine) {
            out.push(engine);
        }
    }
    assert!(!out.is_empty(), "--engines: no engine given");
    out
}

/// `engines` rotated by `i`: the order to visit them in on iteration `i`, so that no
/// engine always runs first (right after the other one's work, or a quiet moment).
pub fn rotated<T: Copy>(engines: &[T], i: usize) -> Vec<T> {
    let mut v = engines.to_vec();
    if !v.is_empty() {
        let k = i % v.len();
        v.rotate_left(k);
    }
    v
}

/// The engine's name in tables.
pub fn engine_label(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "SQLite",
        Engine::Postgres => "PostgreSQL",
    }
}

/// Writes `benches/results/<name>.json` (pretty, with the time of the run) and says where.
pub fn write_result(name: &str, value: &serde_json::Value) {
    let mut value = value.clone();
    if let Some(o) = value.as_object_mut() {
        o.insert("at".to_owned(), serde_json::json!(chrono::Utc::now()));
    }
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("benches/results/{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&value).expect("json"))
        .expect("write the result");
    println!("written {}", path.display());
}

/// Runs `f` `n` times (after one untimed warm-up; dropping its result is not timed); the
/// sorted times.
pub fn timed<T>(n: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    drop(f());
    let mut out: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let v = f();
            let d = t.elapsed();
            drop(v);
            d
        })
        .collect();
    out.sort();
    out
}
