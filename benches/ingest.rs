//! Snapshot ingest benchmark.
//!
//! `cargo bench --bench ingest [-- --pods 5000 --iterations 30]`
//!
//! 1. **scan**: gunzip + a validating scan of the JSON (serde_json into `IgnoredAny`: every
//!    byte checked, nothing built), in-process: the floor of any ingest (issue 12's yardstick);
//! 2. **parse**: gunzip + a full parse, in-process (`parse_object`, no reuse);
//! 3. **reply, first sight**: the snapshot `POST /agent/snapshot`ed over HTTP to a real
//!    master (temp SQLite, port 0) as a new cluster each time, so nothing can be reused,
//!    timed from the first byte sent to the `200` received;
//! 4. **reply, resent**: the same snapshot pushed again by one cluster (only `fetched_at`
//!    changes), so every list element is reused from the previous push.
//!
//! The snapshot is made by `../shared/tools/gen_snapshot.py` (cached under
//! `target/bench-data/`). Each push carries a newer `fetched_at`, so every one is applied.
//! Prints a table and writes `benches/results/ingest.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use atlhyper_actors::model::ClusterSnapshot;
use atlhyper_master::config::Settings;
use atlhyper_master::http::agent::{decode, parse_object, Encoding};
use atlhyper_master::startup::Application;

const TOKEN: &str = "bench-token";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let pods = arg("--pods", 5000);
    let iterations = arg("--iterations", 30).max(3);
    let gz = snapshot_gz(pods);
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .unwrap();
    println!(
        "snapshot: {pods} pods, {} bytes gzip, {} bytes JSON",
        gz.len(),
        json.len()
    );

    // 1. In-process floor: gunzip + validating scan.
    let mut scan = Vec::new();
    for _ in 0..iterations {
        let t = Instant::now();
        let raw = decode(bytes::Bytes::from(gz.clone()), Encoding::Gzip, u64::MAX).unwrap();
        serde_json::from_slice::<serde::de::IgnoredAny>(&raw).unwrap();
        scan.push(t.elapsed());
    }
    scan.sort();

    // 2. In-process full parse.
    let mut parse = Vec::new();
    for _ in 0..iterations {
        let t = Instant::now();
        let raw = decode(bytes::Bytes::from(gz.clone()), Encoding::Gzip, u64::MAX).unwrap();
        let snap: ClusterSnapshot = parse_object(&raw).unwrap();
        parse.push(t.elapsed());
        drop(snap);
    }
    parse.sort();

    // Bodies with increasing fetched_at (same length), gzipped ahead of time.
    let head: serde_json::Value = serde_json::from_str(&json).unwrap();
    let fetched = head["fetched_at"].as_str().unwrap().to_owned();
    let cluster = head["cluster_id"].as_str().unwrap().to_owned();
    // First sight: a new cluster id per push (same length). Resent: one cluster.
    let body = |i: usize, id: &str| {
        let newer = format!("2030-01-01T00:{:02}:{:02}Z", i / 60, i % 60);
        let patched = json
            .replacen(
                &format!("\"fetched_at\":\"{fetched}\""),
                &format!("\"fetched_at\":\"{newer}\""),
                1,
            )
            .replacen(
                &format!("\"cluster_id\":\"{cluster}\""),
                &format!("\"cluster_id\":\"{id}\""),
                1,
            );
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(patched.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let bodies: Vec<(String, Vec<u8>)> = (0..iterations)
        .map(|i| {
            let id = format!("{cluster}-{i:04}");
            let b = body(i, &id);
            (id, b)
        })
        .chain((0..iterations).map(|i| (cluster.clone(), body(i, &cluster))))
        .collect();

    // 2. End to end through a real master.
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        bind: "127.0.0.1".parse().unwrap(),
        http_port: 0,
        agent_port: 0,
        db_path: dir.path().join("bench.db"),
        agent_token: Some(TOKEN.to_owned().into()),
        ..Settings::default()
    };
    let replies = actix_rt::System::new().block_on(async move {
        let app = Application::build(settings).await.unwrap();
        let url = format!("http://127.0.0.1:{}/agent/snapshot", app.agent_port());
        let stopper = app.stopper();
        let run = actix_rt::spawn(app.run_until_stopped(false));
        let client = reqwest::Client::new();
        let mut replies = Vec::new();
        for (id, body) in bodies {
            let t = Instant::now();
            let r = client
                .post(&url)
                .bearer_auth(TOKEN)
                .header("X-Cluster-ID", &id)
                .header("Content-Encoding", "gzip")
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.bytes().await.unwrap();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            replies.push(t.elapsed());
        }
        stopper.stop();
        run.await.unwrap().unwrap();
        replies
    });
    let mut cold = replies[..iterations].to_vec();
    // The first resend still has nothing to reuse (its cluster is new): leave it out.
    let mut warm = replies[iterations + 1..].to_vec();
    cold.sort();
    warm.sort();

    let mb = json.len() as f64 / 1e6;
    let floor = percentile(&scan, 0.5).as_secs_f64();
    let rows = [
        ("gunzip + validating scan in-process (floor)", &scan),
        ("gunzip + full parse in-process", &parse),
        (
            "POST /agent/snapshot reply, first sight (new cluster)",
            &cold,
        ),
        ("POST /agent/snapshot reply, resent (same cluster)", &warm),
    ];
    println!();
    println!("| measure | p50 ms | p99 ms | MB/s of JSON | floor ÷ this (p50) |");
    println!("|---|---:|---:|---:|---:|");
    let mut out_rows = serde_json::Map::new();
    for (name, v) in rows {
        let p50 = percentile(v, 0.5);
        let ratio = floor / p50.as_secs_f64();
        println!(
            "| {name} | {:.1} | {:.1} | {:.0} | {ratio:.2} |",
            ms(p50),
            ms(percentile(v, 0.99)),
            mb / p50.as_secs_f64()
        );
        out_rows.insert(
            name.to_owned(),
            serde_json::json!({"p50_ms": ms(p50), "p99_ms": ms(percentile(v, 0.99)), "floor_ratio": ratio}),
        );
    }
    println!();
    println!("({iterations} iterations; target: reply ≥ 0.5 × the floor)");
    let out = serde_json::json!({
        "bench": "ingest",
        "pods": pods,
        "json_bytes": json.len(),
        "gzip_bytes": gz.len(),
        "iterations": iterations,
        "rows": out_rows,
    });
    write_result("ingest", &out);
}
