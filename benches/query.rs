//! The query DSL (issue 14): parse time in-process, then query latency through the real
//! master over HTTP on one cluster and on the whole fleet.
//!
//! `cargo bench --bench query [-- --clusters 1000 --pods 500 --iterations 30]`
//!
//! 1. Parse + check (`atlhyper_query::compile`) of the README's queries, in this process.
//! 2. A release master (child process, SQLite) receives `--clusters` snapshots of `--pods`
//!    pods each (the generator's snapshot, one `cluster_id` per cluster), then each query
//!    of the table runs `--iterations` times over `GET /api/v2/query` (after 3 warm-up
//!    runs), one at a time. Target: the fleet queries under 100 ms (p50 and p99).
//! 3. While a fleet query runs, snapshots keep arriving: the bench measures the push reply
//!    of one cluster with and without queries running, since a query must never hold a
//!    cluster actor for more than a few milliseconds.
//!
//! Writes `benches/results/query.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The README's ten fleet queries (its `q '…'` lines over `cluster="*"`), for the parse
/// measure: read from the README, which a unit test of the query crate also compiles.
fn readme_queries() -> Vec<String> {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("q '")?.strip_suffix('\''))
        .filter(|q| q.contains(r#"cluster="*""#))
        .map(str::to_owned)
        .collect()
}

fn cluster_id(i: usize) -> String {
    format!("q-{:04}", i + 1)
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> (u16, serde_json::Value, Duration) {
    let t = Instant::now();
    let r = client.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body, t.elapsed())
}

/// Pushes cluster `i`'s snapshot (fresh `fetched_at`); the reply time.
async fn push(client: &reqwest::Client, agent: &str, body: &PushBody, i: usize) -> Duration {
    let id = cluster_id(i);
    let b = body.body(&id, &fetched_at_now());
    let t = Instant::now();
    let r = client
        .post(format!("{agent}/agent/snapshot"))
        .bearer_auth(AGENT_TOKEN)
        .header("X-Cluster-ID", &id)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "push {id}");
    t.elapsed()
}

fn main() {
    renice_self();
    let clusters = arg("--clusters", 1000);
    let pods = arg("--pods", 500);
    let iterations = arg("--iterations", 30).max(3);

    // 1. Parse.
    let mut parse = Vec::new();
    let queries = readme_queries();
    assert_eq!(queries.len(), 10, "the README's fleet queries");
    for q in &queries {
        assert!(atlhyper_query::compile(q).is_ok(), "{q}");
    }
    for _ in 0..2000 {
        for q in &queries {
            let t = Instant::now();
            let plan = atlhyper_query::compile(q);
            parse.push(t.elapsed());
            drop(plan);
        }
    }
    let parse = Stats::of(parse);
    println!(
        "parse + check, README queries: p50 {:.1} µs, p99 {:.1} µs",
        parse.p50.as_secs_f64() * 1e6,
        parse.p99.as_secs_f64() * 1e6
    );

    // 2. The fleet.
    let gz = snapshot_gz(pods);
    let body = PushBody::from_gzip(&gz);
    let master = MasterProcess::start::<&str, &str>(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let results = rt.block_on(async {
        let t = Instant::now();
        let pushes = futures_util::stream::iter(
            (0..clusters).map(|i| push(&client, &master.agent, &body, i)),
        );
        use futures_util::StreamExt as _;
        pushes.buffer_unordered(4).collect::<Vec<Duration>>().await;
        println!(
            "{clusters} clusters × {pods} pods pushed in {:.1} s ({:.2} MB JSON each); master RSS {} MiB",
            t.elapsed().as_secs_f64(),
            body.json_len("q-0001", &fetched_at_now()) as f64 / 1e6,
            master.rss_kib() / 1024
        );
        let token = admin_login(&client, &master.http, ADMIN_PASSWORD).await;
        let one = cluster_id(0);
        let table: Vec<(&str, String)> = vec![
            ("one cluster: pods where restarts > 5, count", format!(r#"pods(cluster="{one}").where(restarts > 5).count()"#)),
            ("one cluster: pods not Running, top 20 by restarts, 2 fields", format!(r#"pods(cluster="{one}").where(status.phase != "Running").sort(restarts desc).limit(20).fields(summary.name, restarts)"#)),
            ("one cluster: 100 whole pods", format!(r#"pods(cluster="{one}").limit(100)"#)),
            ("fleet: pods where restarts > 5, count", r#"pods(cluster="*").where(restarts > 5).count()"#.to_owned()),
            ("fleet: pods by image regex, count", r#"pods(cluster="*").where(containers.image =~ "^(docker.io|quay.io)/").count()"#.to_owned()),
            ("fleet: pods not Running, top 20 by restarts, 2 fields", r#"pods(cluster="*").where(status.phase != "Running").sort(restarts desc).limit(20).fields(summary.name, restarts)"#.to_owned()),
            ("fleet: pods grouped by phase", r#"pods(cluster="*").group_by(status.phase)"#.to_owned()),
            ("fleet: Warning events grouped by reason", r#"events(cluster="*", type="Warning").group_by(reason)"#.to_owned()),
            ("fleet: nodes over 80 % memory", r#"nodes(cluster="*").where(mem_usage > 80%).fields(summary.name, mem_usage)"#.to_owned()),
            ("fleet: 100 whole pods, sorted by name", r#"pods(cluster="*").sort(summary.name).limit(100)"#.to_owned()),
        ];
        let mut rows = Vec::new();
        for (label, q) in &table {
            let url = format!(
                "{}/api/v2/query?q={}",
                master.http,
                form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            );
            let mut samples = Vec::new();
            let mut last = serde_json::Value::Null;
            for i in 0..iterations + 3 {
                let (s, b, d) = get(&client, &url, &token).await;
                assert_eq!(s, 200, "{q}: {b}");
                if i >= 3 {
                    samples.push(d);
                }
                last = b;
            }
            let st = Stats::of(samples);
            let answer = last
                .get("count")
                .or_else(|| last.get("total"))
                .cloned()
                .unwrap_or_default();
            println!(
                "{label}: p50 {:.1} ms, p99 {:.1} ms (matches {answer})",
                as_ms(st.p50),
                as_ms(st.p99)
            );
            rows.push(serde_json::json!({"query": label, "q": q, "latency_ms": st.json(), "matches": answer}));
        }

        // 3. Pushes while fleet queries run back to back.
        let mut quiet = Vec::new();
        for n in 0..iterations {
            quiet.push(push(&client, &master.agent, &body, n % clusters).await);
        }
        let fleet_url = format!(
            "{}/api/v2/query?q={}",
            master.http,
            form_urlencoded::byte_serialize(
                br#"pods(cluster="*").where(containers.image =~ "^(docker.io|quay.io)/").count()"#
            )
            .collect::<String>()
        );
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy = {
            let (client, token, stop) = (client.clone(), token.clone(), stop.clone());
            let url = fleet_url.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (s, _, _) = get(&client, &url, &token).await;
                    assert_eq!(s, 200);
                    n += 1;
                }
                n
            })
        };
        let mut loaded = Vec::new();
        for n in 0..iterations {
            loaded.push(push(&client, &master.agent, &body, n % clusters).await);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let queries_meanwhile = busy.await.unwrap();
        let (quiet, loaded) = (Stats::of(quiet), Stats::of(loaded));
        println!(
            "push reply of one cluster: alone p50 {:.1} / p99 {:.1} ms; with fleet queries running back to back ({queries_meanwhile} of them) p50 {:.1} / p99 {:.1} ms",
            as_ms(quiet.p50),
            as_ms(quiet.p99),
            as_ms(loaded.p50),
            as_ms(loaded.p99)
        );
        serde_json::json!({
            "clusters": clusters,
            "pods_per_cluster": pods,
            "iterations": iterations,
            "parse_us": {"p50": parse.p50.as_secs_f64() * 1e6, "p99": parse.p99.as_secs_f64() * 1e6},
            "queries": rows,
            "push_alone_ms": quiet.json(),
            "push_during_queries_ms": loaded.json(),
            "queries_during_pushes": queries_meanwhile,
            "master_rss_mib": master.rss_kib() / 1024,
        })
    });
    let out = format!("{}/benches/results/query.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::write(&out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("wrote {out}");
}
