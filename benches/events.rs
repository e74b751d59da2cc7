//! Event persistence benchmark.
//!
//! `cargo bench --bench events [-- --pods 5000 --iterations 10]`
//!
//! Event rows persisted per second from one generated snapshot, two ways, alternated in
//! the same run on the same SQLite file:
//! 1. **actor**: the snapshot is published on the bus as `SnapshotReceived` and the
//!    `EventPersister` plans, writes and commits it (timed from publish to `flush()`);
//! 2. **raw**: the same rows, already built, upserted with the batched diesel upsert in
//!    one transaction on the writer thread.
//!
//! Each iteration uses fresh cluster ids, so every event is a new row for both. The figure
//! of merit is `actor / raw` (target ≥ 0.7). The snapshot is made by
//! `../shared/tools/gen_snapshot.py` (cached under `target/bench-data/`). Prints a table and
//! writes `benches/results/events.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlhyper_actors::messages::{Bus, SnapshotReceived};
use atlhyper_actors::model::ClusterSnapshot;
use atlhyper_master::config::Settings;
use atlhyper_master::db::events::write_plan;
use atlhyper_master::db::Db;
use atlhyper_master::persist::events::{self, Written};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
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
    let settings = Arc::new(Settings::default());

    let (rows, actor, raw) = actix_rt::System::new().block_on(async move {
        let db = Db::open(&dir.path().join("bench.db"), 4).unwrap();
        let bus = Bus::default();
        let handle = events::start(&db, &bus, &settings);
        handle.flush().await;
        let (mut actor, mut raw) = (Vec::new(), Vec::new());
        let mut rows = 0;
        // One warm-up round, not counted.
        for i in 0..=iterations {
            let cluster: Arc<str> = Arc::from(format!("actor-{i}"));
            let t = Instant::now();
            bus.snapshots.publish(SnapshotReceived {
                cluster_id: cluster,
                snapshot: Arc::clone(&snap),
                received_at: chrono::Utc::now(),
                bytes: 0,
            });
            handle.flush().await;
            let a = t.elapsed();
            let name = format!("actor-{i}");
            let now: i64 = db
                .read(move |c| {
                    use atlhyper_master::db::schema::cluster_events as ce;
                    use diesel::prelude::*;
                    Ok(ce::table
                        .filter(ce::cluster_id.eq(name))
                        .count()
                        .get_result(c)?)
                })
                .await
                .unwrap();
            assert!(now > 0, "flush() returned before the write");

            let cluster = format!("raw-{i}");
            let at = chrono::Utc::now();
            let plan = Written::default().plan(&cluster, &snap, at);
            rows = plan.rows.len();
            let t = Instant::now();
            let n = db
                .write(move |c| write_plan(c, &cluster, at, &plan.rows, &[]))
                .await
                .unwrap();
            let r = t.elapsed();
            assert_eq!(n, rows);
            if i > 0 {
                actor.push(a);
                raw.push(r);
            }
        }
        let stored: i64 = db
            .read(|c| {
                use atlhyper_master::db::schema::cluster_events as ce;
                use diesel::prelude::*;
                Ok(ce::table
                    .filter(ce::cluster_id.like("actor-%"))
                    .count()
                    .get_result(c)?)
            })
            .await
            .unwrap();
        assert_eq!(
            stored as usize,
            rows * (iterations + 1),
            "every actor row stored"
        );
        drop(dir);
        (rows, median(actor), median(raw))
    });

    let per_sec = |d: Duration| rows as f64 / d.as_secs_f64();
    let ratio = per_sec(actor) / per_sec(raw);
    println!("event rows per snapshot ({pods} pods): {rows}");
    println!(
        "actor: {:>10.0} rows/s (median {:.1} ms)",
        per_sec(actor),
        actor.as_secs_f64() * 1e3
    );
    println!(
        "raw:   {:>10.0} rows/s (median {:.1} ms)",
        per_sec(raw),
        raw.as_secs_f64() * 1e3
    );
    println!("ratio actor/raw: {ratio:.2} (target >= 0.7)");
    let out = serde_json::json!({
        "pods": pods, "iterations": iterations, "rows_per_snapshot": rows,
        "actor_rows_per_sec": per_sec(actor), "raw_rows_per_sec": per_sec(raw),
        "actor_median_ms": actor.as_secs_f64() * 1e3, "raw_median_ms": raw.as_secs_f64() * 1e3,
        "ratio": ratio,
    });
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/results/events.json");
    let mut f = std::fs::File::create(path).unwrap();
    writeln!(f, "{}", serde_json::to_string_pretty(&out).unwrap()).unwrap();
}
