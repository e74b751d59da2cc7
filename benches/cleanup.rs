//! Cleanup stall benchmark.
//!
//! `cargo bench --bench cleanup [-- --rows 1000000 --probe-ms 5]`
//!
//! Fills a temp SQLite file with `--rows` expired events of one cluster, then runs the
//! cleaner (the real actor, batched deletes through the single writer) while a probe
//! submits one small ingestion-sized write (a `node_metrics_latest` upsert) through
//! `Db::write` every `--probe-ms`. The figure is the **longest stall**: the slowest probe
//! write, from submission to commit, while the cleanup ran. Target: under 100 ms.
//! Prints a table and writes `benches/results/cleanup.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlhyper_master::config::Settings;
use atlhyper_master::db::retention::{Target, BATCH_ROWS};
use atlhyper_master::db::schema::node_metrics_latest;
use atlhyper_master::db::{clusters, to_db, Db};
use atlhyper_master::persist::cleaner::{self, RunCleanup};
use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// One probe write: the size of what a snapshot's metrics upsert does.
async fn probe(db: &Db, i: u64) -> Duration {
    let start = Instant::now();
    db.write(move |c| {
        let now = to_db(Utc::now());
        // This bench measures the embedded database (its single writer).
        let atlhyper_master::db::DbConn::Sqlite(c) = c else {
            unreachable!("Db::open is SQLite")
        };
        diesel::replace_into(node_metrics_latest::table)
            .values((
                node_metrics_latest::cluster_id.eq("bench"),
                node_metrics_latest::node_name.eq(format!("node-{}", i % 16)),
                node_metrics_latest::timestamp.eq(now),
                node_metrics_latest::snapshot.eq("{}"),
                node_metrics_latest::updated_at.eq(now),
            ))
            .execute(c)?;
        Ok(())
    })
    .await
    .unwrap();
    start.elapsed()
}

/// Probes every `every` until `stop`; returns each write's latency in ms.
async fn probe_loop(db: Db, every: Duration, stop: Arc<AtomicBool>) -> Vec<f64> {
    let mut out = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Acquire) {
        out.push(probe(&db, i).await.as_secs_f64() * 1e3);
        i += 1;
        tokio::time::sleep(every).await;
    }
    out
}

fn main() {
    let rows = arg("--rows", 1_000_000);
    let every = Duration::from_millis(arg("--probe-ms", 5));
    actix_rt::System::new().block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("master.db"), 4).unwrap();
        let old = to_db(Utc::now() - chrono::Duration::days(400));
        let fill = Instant::now();
        db.write(move |c| {
            clusters::register(c, "bench", Utc::now())?;
            c.batch_execute("BEGIN")?;
            diesel::sql_query(
                "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?) \
                 INSERT INTO cluster_events (event_uid, cluster_id, namespace, name, type, reason, \
                 message, involved_kind, involved_name, involved_namespace, last_timestamp, \
                 created_at, updated_at) \
                 SELECT 'uid-' || i, 'bench', 'ns-' || (i % 50), 'ev-' || i, 'Normal', 'Pulled', \
                 'Successfully pulled image in 1.2s', 'Pod', 'pod-' || (i % 5000), 'ns-' || (i % 50), \
                 ?, ?, ? FROM seq",
            )
            .bind::<BigInt, _>(i64::try_from(rows).unwrap())
            .bind::<Timestamp, _>(old)
            .bind::<Timestamp, _>(old)
            .bind::<Timestamp, _>(old)
            .execute(c)?;
            c.batch_execute("COMMIT")?;
            Ok(())
        })
        .await
        .unwrap();
        let fill_s = fill.elapsed().as_secs_f64();
        println!("filled {rows} expired events in {fill_s:.1}s");

        let settings = Arc::new(Settings::default());
        let handle = cleaner::start(&db, tokio::sync::watch::channel(true).1, &settings);

        // Baseline: the probe alone.
        let stop = Arc::new(AtomicBool::new(false));
        let base = actix_rt::spawn(probe_loop(db.clone(), every, Arc::clone(&stop)));
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::Release);
        let mut baseline = base.await.unwrap();
        baseline.sort_by(f64::total_cmp);

        // The cleanup, probed.
        let stop = Arc::new(AtomicBool::new(false));
        let probing = actix_rt::spawn(probe_loop(db.clone(), every, Arc::clone(&stop)));
        let start = Instant::now();
        let report = handle
            .run(RunCleanup {
                targets: vec![Target::Events],
                cluster_id: None,
                dry_run: false,
            })
            .await
            .unwrap();
        let cleanup_s = start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Release);
        let mut lat = probing.await.unwrap();
        lat.sort_by(f64::total_cmp);
        let deleted = report.deleted.get("events").copied().unwrap_or(0);
        assert_eq!(deleted, rows, "every expired event deleted");

        let max = lat.last().copied().unwrap_or(0.0);
        println!("cleanup deleted {deleted} rows in {cleanup_s:.2}s ({:.0} rows/s), first batch {BATCH_ROWS} rows, then sized to a 10 ms target", deleted as f64 / cleanup_s);
        println!("probe writes during cleanup: {}", lat.len());
        println!(
            "stall ms: p50 {:.2}  p99 {:.2}  max {:.2}   (idle: p50 {:.2} max {:.2})   target max < 100",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            max,
            percentile(&baseline, 0.5),
            baseline.last().copied().unwrap_or(0.0),
        );
        let out = serde_json::json!({
            "bench": "cleanup",
            "at": Utc::now(),
            "rows": rows,
            "first_batch_rows": BATCH_ROWS,
            "fill_s": fill_s,
            "cleanup_s": cleanup_s,
            "deleted": deleted,
            "probe_every_ms": every.as_millis() as u64,
            "probes": lat.len(),
            "stall_ms": {
                "p50": percentile(&lat, 0.5),
                "p99": percentile(&lat, 0.99),
                "max": max,
            },
            "idle_ms": {
                "p50": percentile(&baseline, 0.5),
                "max": baseline.last().copied().unwrap_or(0.0),
            },
            "target_max_ms": 100,
            "pass": max < 100.0,
        });
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results/cleanup.json");
        std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
        println!("wrote {}", path.display());
    });
}
