//! Snapshot ingest benchmark.
//!
//! `cargo bench --bench ingest [-- --pods 5000 --iterations 30]`
//!
//! 1. **ceiling**: gunzip + parse of one snapshot in-process, the same code the handler runs;
//! 2. **reply**: the same snapshot `POST /agent/snapshot`ed over HTTP to a real master
//!    (temp SQLite, port 0), timed from the first byte sent to the `200` received.
//!
//! The snapshot is made by `../shared/tools/gen_snapshot.py` (cached under
//! `target/bench-data/`). Each push carries a newer `fetched_at`, so every one is applied.
//! Prints a table and writes `benches/results/ingest.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

use std::io::{Read, Write};
use std::path::PathBuf;
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

    // 1. In-process ceiling.
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
    let bodies: Vec<Vec<u8>> = (0..iterations)
        .map(|i| {
            let newer = format!("2030-01-01T00:{:02}:{:02}Z", i / 60, i % 60);
            let patched = json.replacen(
                &format!("\"fetched_at\":\"{fetched}\""),
                &format!("\"fetched_at\":\"{newer}\""),
                1,
            );
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(patched.as_bytes()).unwrap();
            e.finish().unwrap()
        })
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
        for body in bodies {
            let t = Instant::now();
            let r = client
                .post(&url)
                .bearer_auth(TOKEN)
                .header("X-Cluster-ID", &cluster)
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
    let mut replies = replies;
    replies.sort();

    let (p50, rp50, rp99) = (
        percentile(&parse, 0.5),
        percentile(&replies, 0.5),
        percentile(&replies, 0.99),
    );
    let mb = json.len() as f64 / 1e6;
    let ratio = p50.as_secs_f64() / rp50.as_secs_f64();
    println!();
    println!("| measure | p50 ms | p99 ms | MB/s of JSON |");
    println!("|---|---:|---:|---:|");
    println!(
        "| gunzip + parse in-process (ceiling) | {:.1} | {:.1} | {:.0} |",
        ms(p50),
        ms(percentile(&parse, 0.99)),
        mb / p50.as_secs_f64()
    );
    println!(
        "| POST /agent/snapshot reply (end to end) | {:.1} | {:.1} | {:.0} |",
        ms(rp50),
        ms(rp99),
        mb / rp50.as_secs_f64()
    );
    println!();
    println!("ratio ceiling/reply (p50): {ratio:.2}  ({iterations} iterations)");
    let out = serde_json::json!({
        "bench": "ingest",
        "pods": pods,
        "json_bytes": json.len(),
        "gzip_bytes": gz.len(),
        "iterations": iterations,
        "parse_ms": {"p50": ms(p50), "p99": ms(percentile(&parse, 0.99))},
        "reply_ms": {"p50": ms(rp50), "p99": ms(rp99)},
        "ratio_ceiling_over_reply": ratio,
        "at": chrono::Utc::now(),
    });
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/results/ingest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("written {}", path.display());
}
