//! Event persistence benchmark, on SQLite and PostgreSQL side by side.
//!
//! `cargo bench --bench events [-- --pods 5000 --iterations 10 --engines sqlite,postgres --pg-url URL]`
//!
//! Event rows persisted per second from one generated snapshot, two ways, alternated in
//! the same run on the same database:
//! 1. **actor**: the snapshot is published on the bus as `SnapshotReceived` and the
//!    `EventPersister` plans, writes and commits it (timed from publish to `flush()`);
//! 2. **raw**: the same rows, already built, upserted with the batched diesel upsert in
//!    one transaction (`write_plan` through `Db::write`: SQLite's writer thread, a pooled
//!    connection on PostgreSQL).
//!
//! Each iteration uses fresh cluster ids, so every event is a new row for both. The figure
//! of merit is `actor / raw` (target ≥ 0.7). One warm-up round is not counted; the median
//! of the rest is reported.
//!
//! **Engines:** `--engines sqlite,postgres` (default: `sqlite`, plus `postgres` when
//! `--pg-url URL` or `MASTER_TEST_PG_URL` gives a PostgreSQL base URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`). Each engine has its own database (a temp
//! SQLite file; a fresh schema `t_<uuid>` in that PostgreSQL database, dropped at the end,
//! from `tests/support/db.rs`), bus and persister in the same process, and every iteration
//! runs one round on each engine, in an order rotated per iteration, so that the comparison
//! is made within one run on a noisy shared machine. Pool size 4 on both.
//!
//! The snapshot is made by `../shared/tools/gen_snapshot.py` (cached under
//! `target/bench-data/`). Prints a markdown table with a column per engine (and the
//! PostgreSQL/SQLite ratio when both ran) and writes `benches/results/events.json`: the
//! per-engine results under `engines`, and the original top-level fields
//! (`actor_rows_per_sec`, `raw_rows_per_sec`, `ratio`, …) for SQLite, or for the first
//! engine when SQLite did not run (`engine` says which).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

#[path = "../tests/support/db.rs"]
mod db;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlhyper_actors::messages::{Bus, SnapshotReceived};
use atlhyper_actors::model::ClusterSnapshot;
use atlhyper_master::config::Settings;
use atlhyper_master::db::events::write_plan;
use atlhyper_master::db::{Db, Engine, Location};
use atlhyper_master::persist::events::{self, Written};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// One engine's database, bus, persister and samples.
struct Side {
    engine: Engine,
    db: Db,
    bus: Bus,
    handle: events::Handle,
    actor: Vec<Duration>,
    raw: Vec<Duration>,
}

/// What one engine measured.
struct Outcome {
    engine: Engine,
    actor: Duration,
    raw: Duration,
}

/// Rows of `cluster_id LIKE pattern` in `db`.
async fn count(db: &Db, pattern: String) -> i64 {
    db.read(move |c| {
        use atlhyper_master::db::schema::cluster_events as ce;
        use diesel::prelude::*;
        Ok(ce::table
            .filter(ce::cluster_id.like(pattern))
            .count()
            .get_result(c)?)
    })
    .await
    .unwrap()
}

/// Round `i` on one engine: the actor, then the raw upsert. Returns both times and the
/// rows per snapshot.
async fn round(side: &Side, snap: &Arc<ClusterSnapshot>, i: usize) -> (Duration, Duration, usize) {
    let cluster: Arc<str> = Arc::from(format!("actor-{i}"));
    let t = Instant::now();
    side.bus.snapshots.publish(SnapshotReceived {
        cluster_id: cluster,
        snapshot: Arc::clone(snap),
        received_at: chrono::Utc::now(),
        bytes: 0,
        epoch: 0,
    });
    side.handle.flush().await;
    let actor = t.elapsed();
    assert!(
        count(&side.db, format!("actor-{i}")).await > 0,
        "flush() returned before the write"
    );

    let cluster = format!("raw-{i}");
    let at = chrono::Utc::now();
    let plan = Written::default().plan(&cluster, snap, at);
    let rows = plan.rows.len();
    let t = Instant::now();
    let n = side
        .db
        .write(move |c| write_plan(c, &cluster, at, &plan.rows, &[]))
        .await
        .unwrap();
    let raw = t.elapsed();
    assert_eq!(n, rows);
    (actor, raw, rows)
}

/// `n` with thousands separators.
fn grouped(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn main() {
    let engines = engines();
    let pods = arg("--pods", 5000);
    let iterations = arg("--iterations", 10).max(3);
    let mut json = String::new();
    flate2::read::GzDecoder::new(&snapshot_gz(pods)[..])
        .read_to_string(&mut json)
        .unwrap();
    let snap: Arc<ClusterSnapshot> = Arc::new(serde_json::from_str(&json).unwrap());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    // The PostgreSQL schema outlives the System (and so every pooled connection to it).
    let pg = engines.contains(&Engine::Postgres).then(db::TestDb::new);
    let pg_dsn = pg.as_ref().and_then(db::TestDb::dsn);
    let settings = Arc::new(Settings::default());
    let sqlite_path = dir.path().join("bench.db");

    let order = engines.clone();
    let (rows, outcomes) = actix_rt::System::new().block_on(async move {
        let mut sides = Vec::new();
        for &engine in &order {
            let location = match engine {
                Engine::Sqlite => Location::Sqlite(sqlite_path.clone()),
                Engine::Postgres => {
                    Location::Postgres(pg_dsn.clone().expect("a PostgreSQL schema"))
                }
            };
            let db = Db::connect(location, 4).unwrap();
            let bus = Bus::default();
            let handle = events::start(&db, &bus, &settings);
            handle.flush().await;
            sides.push(Side {
                engine,
                db,
                bus,
                handle,
                actor: Vec::new(),
                raw: Vec::new(),
            });
        }
        let mut rows = 0;
        let all: Vec<usize> = (0..sides.len()).collect();
        // One warm-up round, not counted.
        for i in 0..=iterations {
            for k in rotated(&all, i) {
                let (a, r, n) = round(&sides[k], &snap, i).await;
                assert!(rows == 0 || rows == n, "same rows on every engine");
                rows = n;
                if i > 0 {
                    sides[k].actor.push(a);
                    sides[k].raw.push(r);
                }
            }
        }
        let mut outcomes = Vec::new();
        for side in sides {
            let stored = count(&side.db, "actor-%".to_owned()).await;
            assert_eq!(
                stored as usize,
                rows * (iterations + 1),
                "every actor row stored ({})",
                side.engine.as_str()
            );
            outcomes.push(Outcome {
                engine: side.engine,
                actor: median(side.actor),
                raw: median(side.raw),
            });
        }
        (rows, outcomes)
    });
    drop(pg);
    drop(dir);

    let per_sec = |d: Duration| rows as f64 / d.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let by = |e: Engine| outcomes.iter().find(|o| o.engine == e);
    let both = by(Engine::Sqlite).zip(by(Engine::Postgres));

    println!();
    println!(
        "events: {pods}-pod snapshot, {rows} event rows each, {iterations} iterations \
         (+1 warm-up), medians; engines alternated every iteration"
    );
    let mut head = String::from("| measure |");
    let mut rule = String::from("|---|");
    for o in &outcomes {
        head += &format!(" {} |", engine_label(o.engine));
        rule += "---:|";
    }
    if both.is_some() {
        head += " PG/SQLite |";
        rule += "---:|";
    }
    println!("{head}");
    println!("{rule}");
    type Cell = fn(&Outcome, f64) -> f64;
    let lines: [(&str, Cell, bool); 5] = [
        (
            "EventPersister (actor), rows/s",
            |o, n| n / o.actor.as_secs_f64(),
            true,
        ),
        (
            "raw batched upsert, rows/s",
            |o, n| n / o.raw.as_secs_f64(),
            true,
        ),
        (
            "actor, median ms per snapshot",
            |o, _| o.actor.as_secs_f64() * 1e3,
            false,
        ),
        (
            "raw, median ms per snapshot",
            |o, _| o.raw.as_secs_f64() * 1e3,
            false,
        ),
        (
            "ratio actor/raw (target ≥ 0.7)",
            |o, _| o.raw.as_secs_f64() / o.actor.as_secs_f64(),
            false,
        ),
    ];
    for (k, (name, value, big)) in lines.iter().enumerate() {
        let mut line = format!("| {name} |");
        for o in &outcomes {
            let v = value(o, rows as f64);
            line += &if *big {
                format!(" {} |", grouped(v))
            } else if k == 4 {
                format!(" **{v:.2}** |")
            } else {
                format!(" {v:.1} |")
            };
        }
        if let Some((s, p)) = both {
            line += &if k == 4 {
                " |".to_owned()
            } else {
                format!(" {:.2} |", value(p, rows as f64) / value(s, rows as f64))
            };
        }
        println!("{line}");
    }

    let result = |o: &Outcome| {
        serde_json::json!({
            "actor_rows_per_sec": per_sec(o.actor), "raw_rows_per_sec": per_sec(o.raw),
            "actor_median_ms": ms(o.actor), "raw_median_ms": ms(o.raw),
            "ratio": per_sec(o.actor) / per_sec(o.raw),
        })
    };
    // The original top-level fields: SQLite's, or the first engine's.
    let main = by(Engine::Sqlite).unwrap_or(&outcomes[0]);
    let mut out = serde_json::json!({
        "pods": pods, "iterations": iterations, "rows_per_snapshot": rows,
        "engine": main.engine.as_str(),
        "at": chrono::Utc::now(),
    });
    let fields = out.as_object_mut().unwrap();
    if let serde_json::Value::Object(m) = result(main) {
        fields.extend(m);
    }
    fields.insert(
        "engines".to_owned(),
        outcomes
            .iter()
            .map(|o| (o.engine.as_str().to_owned(), result(o)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    );
    if let Some((s, p)) = both {
        fields.insert(
            "pg_over_sqlite".to_owned(),
            serde_json::json!({
                "actor_rows_per_sec": per_sec(p.actor) / per_sec(s.actor),
                "raw_rows_per_sec": per_sec(p.raw) / per_sec(s.raw),
            }),
        );
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/results/events.json");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "{}", serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("written {}", path.display());
}
