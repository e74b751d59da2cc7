//! Node-metrics history query benchmark (issue 4, figure 3), on SQLite and PostgreSQL side
//! by side.
//!
//! `cargo bench --bench metrics [-- --iterations 50 --engines sqlite,postgres --pg-url URL]`
//!
//! Per engine, a real master (in-process, ports 0) learns cluster `bench` from one agent
//! push; then 30 days of history for one node, one point per 5 minutes (8,640 rows), are
//! inserted directly, next to 8,640 rows of a second node so that the index has to pick.
//! Timed:
//!
//! 1. **repo**: the repository query alone, on the blocking pool (`Db::read`);
//! 2. **api**: `GET /api/v2/clusters/bench/node-metrics/n1/history?hours=720` end to end,
//!    from the request sent to the JSON body received.
//!
//! **Engines:** `--engines sqlite,postgres` (default: `sqlite`, plus `postgres` when
//! `--pg-url URL` or `MASTER_TEST_PG_URL` gives a PostgreSQL base URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`). Each engine gets its own master and database
//! (a temp SQLite file; a fresh schema `t_<uuid>` in that PostgreSQL database, dropped at
//! the end, from `tests/support/db.rs`), all in the same process with the default pool
//! (`db_max_conns` 10). Each iteration runs one repo query and one API request on every
//! engine, in an order rotated per iteration, so the comparison is made within one run on
//! a noisy shared machine. One warm-up iteration (new pooled connections, first plans) is
//! not counted. p99 is the nearest rank, so with fewer than 100 iterations it is the max
//! or next to it.
//!
//! The target is under 20 ms. Prints a markdown table with a column per engine (and the
//! PostgreSQL/SQLite ratio of the p50 when both ran) and writes
//! `benches/results/metrics.json`: per-engine results under `engines`, and the original
//! top-level `repo_ms` / `api_ms` for SQLite, or for the first engine when SQLite did not
//! run (`engine` says which).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

#[path = "../tests/support/db.rs"]
mod db;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use atlhyper_master::config::Settings;
use atlhyper_master::db::metrics::{self as repo, NewHistory};
use atlhyper_master::db::{to_db, Engine};
use atlhyper_master::startup::{Application, Stopper};
use atlhyper_master::state::AppState;
use chrono::Utc;

const TOKEN: &str = "bench-token";
const PASSWORD: &str = "bench-admin-password";
/// 30 days × 24 h × 12 points per hour (one per 5-minute sample).
const POINTS: i64 = 30 * 24 * 12;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rows(node: &str) -> Vec<NewHistory> {
    // The newest point a minute ago, so all 8,640 fall inside the 720-hour window.
    let newest = Utc::now() - chrono::Duration::minutes(1);
    (0..POINTS)
        .map(|i| NewHistory {
            cluster_id: "bench".to_owned(),
            node_name: node.to_owned(),
            timestamp: to_db(newest - chrono::Duration::minutes(5 * i)),
            cpu_usage: (i % 100) as f64,
            mem_usage: 50.0,
            disk_usage: 40.0,
            net_rx_bytes: 1_024_000.0,
            net_tx_bytes: 512_000.0,
            temperature: 55.5,
        })
        .collect()
}

/// One engine's running master and samples.
struct Side {
    engine: Engine,
    state: AppState,
    stopper: Stopper,
    run: actix_rt::task::JoinHandle<anyhow::Result<()>>,
    /// The history URL.
    url: String,
    token: String,
    repo: Vec<Duration>,
    api: Vec<Duration>,
}

/// Starts a master on `settings`, makes cluster `bench` known by an agent push, inserts
/// the history of `n1` and `n2` and logs in.
async fn start(engine: Engine, settings: Settings, client: &reqwest::Client) -> Side {
    let app = Application::build(settings).await.unwrap();
    let http = format!("http://127.0.0.1:{}", app.http_port());
    let agent = format!("http://127.0.0.1:{}", app.agent_port());
    let state = app.state();
    let stopper = app.stopper();
    let run = actix_rt::spawn(app.run_until_stopped(false));

    // The cluster becomes known the way it does in production: an agent push.
    let snapshot =
        serde_json::json!({"cluster_id": "bench", "fetched_at": Utc::now(), "summary": {}});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&serde_json::to_vec(&snapshot).unwrap())
        .unwrap();
    let r = client
        .post(format!("{agent}/agent/snapshot"))
        .bearer_auth(TOKEN)
        .header("X-Cluster-ID", "bench")
        .header("Content-Encoding", "gzip")
        .header("Content-Type", "application/json")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    state.persist.flush().await;

    let (n1, n2) = (rows("n1"), rows("n2"));
    let inserted = state
        .db
        .write(move |c| Ok(repo::insert_history(c, &n1)? + repo::insert_history(c, &n2)?))
        .await
        .unwrap();
    assert_eq!(inserted as i64, 2 * POINTS);

    let token = admin_login(client, &http, PASSWORD).await;
    Side {
        engine,
        state,
        stopper,
        run,
        url: format!("{http}/api/v2/clusters/bench/node-metrics/n1/history?hours=720"),
        token,
        repo: Vec::new(),
        api: Vec::new(),
    }
}

/// One repo query and one API request on `side`.
async fn round(side: &Side, client: &reqwest::Client) -> (Duration, Duration) {
    let since = to_db(Utc::now() - chrono::Duration::hours(720));
    let t = Instant::now();
    let points = side
        .state
        .db
        .read(move |c| repo::history(c, "bench", "n1", since))
        .await
        .unwrap();
    let repo_time = t.elapsed();
    assert_eq!(points.len() as i64, POINTS);

    let t = Instant::now();
    let r = client
        .get(&side.url)
        .bearer_auth(&side.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let api_time = t.elapsed();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["points"].as_i64(), Some(POINTS));
    (repo_time, api_time)
}

/// p50 and p99 of one engine's samples.
struct Outcome {
    engine: Engine,
    repo: Vec<Duration>,
    api: Vec<Duration>,
}

fn main() {
    let engines = engines();
    let iterations = arg("--iterations", 50).max(3);
    let dir = tempfile::tempdir().unwrap();
    // The PostgreSQL schema outlives the System (and so every pooled connection to it).
    let pg = engines.contains(&Engine::Postgres).then(db::TestDb::new);
    let settings = |engine: Engine| {
        let mut s = Settings {
            bind: "127.0.0.1".parse().unwrap(),
            http_port: 0,
            agent_port: 0,
            db_path: dir.path().join("bench.db"),
            agent_token: Some(TOKEN.to_owned().into()),
            admin_password: Some(PASSWORD.to_owned().into()),
            ..Settings::default()
        };
        if engine == Engine::Postgres {
            pg.as_ref().expect("a PostgreSQL schema").apply(&mut s);
        }
        s
    };
    let all: Vec<(Engine, Settings)> = engines.iter().map(|&e| (e, settings(e))).collect();

    let outcomes = actix_rt::System::new().block_on(async move {
        let client = reqwest::Client::new();
        let mut sides = Vec::new();
        for (engine, s) in all {
            sides.push(start(engine, s, &client).await);
        }
        let order: Vec<usize> = (0..sides.len()).collect();
        // One warm-up iteration, not counted.
        for i in 0..=iterations {
            for k in rotated(&order, i) {
                let (r, a) = round(&sides[k], &client).await;
                if i > 0 {
                    sides[k].repo.push(r);
                    sides[k].api.push(a);
                }
            }
        }
        let mut outcomes = Vec::new();
        for side in sides {
            side.stopper.stop();
            side.run.await.unwrap().unwrap();
            let (mut repo, mut api) = (side.repo, side.api);
            repo.sort();
            api.sort();
            outcomes.push(Outcome {
                engine: side.engine,
                repo,
                api,
            });
        }
        outcomes
    });
    drop(pg);
    drop(dir);

    let by = |e: Engine| outcomes.iter().find(|o| o.engine == e);
    let both = by(Engine::Sqlite).zip(by(Engine::Postgres));
    println!();
    println!(
        "30-day history of one node: {POINTS} points, {iterations} iterations (+1 warm-up); \
         engines alternated every iteration"
    );
    let mut head = String::from("| measure (ms) |");
    let mut rule = String::from("|---|");
    for o in &outcomes {
        head += &format!(" {} p50 / p99 / max |", engine_label(o.engine));
        rule += "---:|";
    }
    if both.is_some() {
        head += " PG/SQLite p50 |";
        rule += "---:|";
    }
    println!("{head}");
    println!("{rule}");
    type Samples = fn(&Outcome) -> &[Duration];
    let lines: [(&str, Samples); 2] = [
        ("repo query (Db::read)", |o| &o.repo),
        ("GET …/history?hours=720 (end to end)", |o| &o.api),
    ];
    for (name, samples) in lines {
        let mut line = format!("| {name} |");
        for o in &outcomes {
            let t = samples(o);
            line += &format!(
                " {:.2} / {:.2} / {:.2} |",
                ms(percentile(t, 0.5)),
                ms(percentile(t, 0.99)),
                ms(percentile(t, 1.0))
            );
        }
        if let Some((s, p)) = both {
            line += &format!(
                " {:.2} |",
                ms(percentile(samples(p), 0.5)) / ms(percentile(samples(s), 0.5))
            );
        }
        println!("{line}");
    }

    let stats = |t: &[Duration]| {
        serde_json::json!({
            "p50": ms(percentile(t, 0.5)),
            "p99": ms(percentile(t, 0.99)),
            "max": ms(percentile(t, 1.0)),
        })
    };
    // The original top-level fields: SQLite's, or the first engine's.
    let main = by(Engine::Sqlite).unwrap_or(&outcomes[0]);
    let mut out = serde_json::json!({
        "bench": "metrics",
        "points": POINTS,
        "iterations": iterations,
        "engine": main.engine.as_str(),
        "repo_ms": stats(&main.repo),
        "api_ms": stats(&main.api),
        "target_ms": 20,
        "at": Utc::now(),
        "engines": outcomes
            .iter()
            .map(|o| {
                (
                    o.engine.as_str().to_owned(),
                    serde_json::json!({"repo_ms": stats(&o.repo), "api_ms": stats(&o.api)}),
                )
            })
            .collect::<serde_json::Map<_, _>>(),
    });
    if let Some((s, p)) = both {
        out["pg_over_sqlite_p50"] = serde_json::json!({
            "repo": ms(percentile(&p.repo, 0.5)) / ms(percentile(&s.repo, 0.5)),
            "api": ms(percentile(&p.api, 0.5)) / ms(percentile(&s.api, 0.5)),
        });
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/results/metrics.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("written {}", path.display());
}
