//! Change history benchmark (issue 18).
//!
//! `cargo bench --bench changes [-- --pods 500,5000 --iterations 15 --days 30 --queries 300]`
//!
//! 1. **Diff cost per snapshot**, against the parse cost, for each pod count. On one
//!    generated snapshot, each step timed alone on one thread (medians):
//!    - *parse*: `parse_snapshot` without a base (a full parse, what the first push or a
//!      changed list costs), and with the previous parse as its base (the memoized
//!      re-parse of an unchanged snapshot, what most pushes cost);
//!    - *diff, nothing changed*: the change persister's work for a snapshot equal to the
//!      last one: `Inventory::of`, `diff`, and the comparison that decides no state write;
//!    - *diff, changes*: the same for a snapshot with an image changed and a Deployment
//!      scaled, plus serializing the inventory it stores.
//!
//!    The target: the diff under 10 % of the (full) parse.
//! 2. **Timeline p99 over 30 days of history** (SQLite file; PostgreSQL too with
//!    `--pg-url` or `MASTER_TEST_PG_URL`): one cluster with `--days` days of changes
//!    (40 an hour over 200 Deployments in 10 namespaces), Warning events (200 an hour),
//!    commands (8 an hour) and alerts (4 an hour); then `--queries` timelines through
//!    `service::changes::timeline`: 80 % one Deployment over a random hour, 20 % one
//!    namespace over a random day.
//!
//! Prints tables and writes `benches/results/changes.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

#[path = "../tests/support/db.rs"]
mod db;

use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;

use atlhyper_actors::model::{Base, ClusterSnapshot};
use atlhyper_master::changes::inventory::{diff, Inventory};
use atlhyper_master::db::{clusters, to_db, Db, Engine, Location};
use atlhyper_master::http::agent::{decode, parse_snapshot, Encoding};
use atlhyper_master::service::changes::{timeline, TimelineQuery};

/// The median of [`timed`].
fn median_of<T>(n: usize, f: impl FnMut() -> T) -> Duration {
    let t = timed(n, f);
    t[t.len() / 2]
}

fn diff_costs(pods: usize, n: usize) -> serde_json::Value {
    let gz = snapshot_gz(pods);
    let json = decode(bytes::Bytes::from(gz), Encoding::Gzip, u64::MAX)
        .unwrap()
        .to_vec();
    let (snap, memo, _) = parse_snapshot(&json, None).unwrap();
    let base = Base {
        snapshot: std::sync::Arc::new(snap.clone()),
        memo: std::sync::Arc::new(memo.expect("a memo")),
    };
    let full = median_of(n, || parse_snapshot(&json, None).unwrap());
    let reparse = median_of(n, || parse_snapshot(&json, Some(&base)).unwrap());

    let prev = Inventory::of(&snap);
    let same = median_of(n, || {
        let mut inv = Inventory::of(&snap);
        let c = diff(&prev, &mut inv);
        assert!(c.is_empty());
        prev != inv
    });
    let mut changed: ClusterSnapshot = snap.clone();
    changed.deployments[0].template.containers[0].image = "registry.example.com/web:9.9".into();
    changed.deployments[1].spec.replicas = Some(changed.deployments[1].summary.replicas + 3);
    let with_changes = median_of(n, || {
        let mut inv = Inventory::of(&changed);
        let c = diff(&prev, &mut inv);
        assert!(c.len() >= 2, "{c:?}");
        let state = (prev != inv).then(|| serde_json::to_string(&inv).unwrap());
        (c, state)
    });
    let ms = as_ms;
    let pct = |d: Duration| d.as_secs_f64() / full.as_secs_f64() * 100.0;
    println!(
        "| {pods} | {} | {:.2} | {:.2} | {:.3} | {:.3} | {:.1} % | {:.1} % |",
        json.len(),
        ms(full),
        ms(reparse),
        ms(same),
        ms(with_changes),
        pct(same),
        pct(with_changes)
    );
    serde_json::json!({
        "pods": pods,
        "json_bytes": json.len(),
        "parse_full_ms": ms(full),
        "parse_memoized_ms": ms(reparse),
        "diff_unchanged_ms": ms(same),
        "diff_with_changes_ms": ms(with_changes),
        "diff_unchanged_pct_of_full_parse": pct(same),
        "diff_with_changes_pct_of_full_parse": pct(with_changes),
        "diff_with_changes_pct_of_memoized_parse":
            with_changes.as_secs_f64() / reparse.as_secs_f64() * 100.0,
    })
}

const CLUSTER: &str = "bench-timeline";
const NAMESPACES: usize = 10;
const DEPLOYMENTS: usize = 200;

/// Fills `db` with `days` days of history for [`CLUSTER`]; returns the rows per table.
async fn fill(db: &Db, days: i64) -> serde_json::Value {
    let end = Utc::now();
    let hours = days * 24;
    let counts = db
        .write(move |c| {
            use atlhyper_master::db::schema::{
                alert_history as ah, cluster_changes as cc, cluster_events as ce,
                command_history as ch,
            };
            clusters::register(c, CLUSTER, end)?;
            let mut rng = Rng::new(18);
            let (mut nc, mut ne, mut nk, mut na) = (0, 0, 0, 0);
            c.transaction::<_, diesel::result::Error, _>(|c| {
                for h in 0..hours {
                    let hour = end - chrono::Duration::hours(hours - h);
                    let at = |rng: &mut Rng| {
                        to_db(hour + chrono::Duration::seconds(rng.below(3600) as i64))
                    };
                    let object = |rng: &mut Rng| {
                        let d = rng.below(DEPLOYMENTS);
                        (format!("ns-{}", d % NAMESPACES), format!("web-{d}"))
                    };
                    let changes: Vec<_> = (0..40)
                        .map(|_| {
                            let (ns, name) = object(&mut rng);
                            let t = at(&mut rng);
                            (
                                cc::cluster_id.eq(CLUSTER),
                                cc::time.eq(t),
                                cc::last_time.eq(t),
                                cc::kind.eq("Deployment"),
                                cc::namespace.eq(ns),
                                cc::name.eq(name),
                                cc::change_type.eq("image_changed"),
                                cc::summary.eq("container web: web:1.4 → web:1.5"),
                                cc::created_at.eq(t),
                            )
                        })
                        .collect();
                    // One row per statement: diesel's multi-row insert is engine-specific.
                    for row in changes {
                        nc += diesel::insert_into(cc::table).values(row).execute(c)?;
                    }
                    let events: Vec<_> = (0..200)
                        .map(|i| {
                            let (ns, name) = object(&mut rng);
                            let t = at(&mut rng);
                            (
                                ce::event_uid.eq(format!("ev-{h}-{i}")),
                                ce::cluster_id.eq(CLUSTER),
                                ce::namespace.eq(ns.clone()),
                                ce::type_.eq("Warning"),
                                ce::reason.eq("BackOff"),
                                ce::message.eq("Back-off restarting failed container"),
                                ce::involved_kind.eq("Deployment"),
                                ce::involved_namespace.eq(ns),
                                ce::involved_name.eq(name),
                                ce::last_timestamp.eq(t),
                                ce::created_at.eq(t),
                                ce::updated_at.eq(t),
                            )
                        })
                        .collect();
                    for row in events {
                        ne += diesel::insert_into(ce::table).values(row).execute(c)?;
                    }
                    for i in 0..8 {
                        let (ns, name) = object(&mut rng);
                        nk += diesel::insert_into(ch::table)
                            .values((
                                ch::command_id.eq(format!("cmd-{h}-{i}")),
                                ch::cluster_id.eq(CLUSTER),
                                ch::action.eq("scale"),
                                ch::target_kind.eq("Deployment"),
                                ch::target_namespace.eq(ns),
                                ch::target_name.eq(name),
                                ch::status.eq("success"),
                                ch::created_at.eq(at(&mut rng)),
                            ))
                            .execute(c)?;
                    }
                    for i in 0..4 {
                        let (ns, name) = object(&mut rng);
                        na += diesel::insert_into(ah::table)
                            .values((
                                ah::uid.eq(format!("al-{h}-{i}")),
                                ah::rule_name.eq("deployment_unavailable"),
                                ah::fingerprint.eq(format!("fp-{h}-{i}")),
                                ah::cluster_id.eq(CLUSTER),
                                ah::severity.eq("warning"),
                                ah::title.eq("t"),
                                ah::message.eq("unavailable replicas"),
                                ah::resource_kind.eq("Deployment"),
                                ah::resource_namespace.eq(ns),
                                ah::resource_name.eq(name),
                                ah::status.eq("resolved"),
                                ah::fired_at.eq(at(&mut rng)),
                            ))
                            .execute(c)?;
                    }
                }
                Ok(())
            })?;
            Ok((nc, ne, nk, na))
        })
        .await
        .unwrap();
    serde_json::json!({"changes": counts.0, "warning_events": counts.1,
        "commands": counts.2, "alerts": counts.3})
}

async fn timelines(db: &Db, days: i64, queries: usize) -> (Stats, Stats, usize) {
    let mut rng = Rng::new(7);
    let now = Utc::now();
    let (mut object, mut namespace, mut items) = (Vec::new(), Vec::new(), 0);
    for i in 0..queries {
        let d = rng.below(DEPLOYMENTS);
        let per_ns = i % 5 == 0;
        let span = if per_ns { 24 } else { 1 };
        let until = now - chrono::Duration::hours(rng.below((days * 24 - span) as usize) as i64);
        let q = TimelineQuery {
            kind: if per_ns {
                String::new()
            } else {
                "Deployment".into()
            },
            namespace: format!("ns-{}", d % NAMESPACES),
            name: if per_ns {
                String::new()
            } else {
                format!("web-{d}")
            },
            since: Some(until - chrono::Duration::hours(span)),
            until: Some(until),
            limit: 200,
            hide_secrets: false,
        };
        let t = Instant::now();
        let got = timeline(db, CLUSTER, None, q).await.unwrap();
        let took = t.elapsed();
        items += got.items.len();
        if per_ns {
            namespace.push(took);
        } else {
            object.push(took);
        }
    }
    (Stats::of(object), Stats::of(namespace), items)
}

fn main() {
    let engines = engines();
    let pod_counts = arg_list("--pods", "500,5000");
    let n = arg("--iterations", 15).max(3);
    let days = arg("--days", 30) as i64;
    let queries = arg("--queries", 300).max(10);

    println!("diff cost per snapshot, medians of {n} on one thread:");
    println!();
    println!("| pods | JSON bytes | full parse ms | memoized re-parse ms | diff, unchanged ms | diff, changes ms | unchanged / full parse | changes / full parse |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let diffs: Vec<serde_json::Value> = pod_counts.iter().map(|&p| diff_costs(p, n)).collect();

    let dir = tempfile::tempdir().unwrap();
    let pg = engines.contains(&Engine::Postgres).then(db::TestDb::new);
    let pg_dsn = pg.as_ref().and_then(db::TestDb::dsn);
    let sqlite_path = dir.path().join("bench.db");
    let results = actix_rt::System::new().block_on(async move {
        let mut out = Vec::new();
        for &engine in &engines {
            let location = match engine {
                Engine::Sqlite => Location::Sqlite(sqlite_path.clone()),
                Engine::Postgres => Location::Postgres(pg_dsn.clone().expect("a schema")),
            };
            let db = Db::connect(location, 4).unwrap();
            let t = Instant::now();
            let rows = fill(&db, days).await;
            let filled = t.elapsed();
            let (object, namespace, items) = timelines(&db, days, queries).await;
            out.push((engine, rows, filled, object, namespace, items));
        }
        out
    });
    drop(pg);
    drop(dir);
    println!();
    println!("timeline over {days} days of history, {queries} queries:");
    println!();
    println!("| engine | rows | one Deployment, 1 h: p50 / p99 ms | one namespace, 1 day: p50 / p99 ms |");
    println!("|---|---|---:|---:|");
    let mut timeline_json = Vec::new();
    for (engine, rows, filled, object, namespace, items) in results {
        println!(
            "| {} | {rows} | {:.2} / {:.2} | {:.2} / {:.2} |",
            engine_label(engine),
            as_ms(object.p50),
            as_ms(object.p99),
            as_ms(namespace.p50),
            as_ms(namespace.p99)
        );
        timeline_json.push(serde_json::json!({
            "engine": engine_label(engine),
            "rows": rows,
            "fill_s": filled.as_secs_f64(),
            "object_1h_ms": object.json(),
            "namespace_1d_ms": namespace.json(),
            "items_returned": items,
        }));
    }
    write_result(
        "changes",
        &serde_json::json!({
            "bench": "changes",
            "iterations": n,
            "days": days,
            "queries": queries,
            "diff": diffs,
            "timeline": timeline_json,
        }),
    );
}
