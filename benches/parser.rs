//! Parser benchmark (issue 6, benchmark f): MB/s of snapshot JSON, per core.
//!
//! `cargo bench --bench parser [-- --pods 5000 --iterations 15]`
//!
//! On one generated snapshot (Go quirks: `null` lists, `\u003c` escapes, Go floats,
//! RFC 3339 times with offsets), each timed alone on one thread:
//! 1. **gunzip**: `decode` (flate2, zlib-rs backend), the handler's first step;
//! 2. **serde_json**: `serde_json::from_slice::<ClusterSnapshot>`, plain and inside the
//!    per-parse interner (what `parse_object` runs);
//! 3. **sonic-rs**: `sonic_rs::from_slice::<ClusterSnapshot>`, the same two ways;
//!
//! simd-json was measured too (slower than sonic-rs, faster than serde_json; numbers in
//! the README) and then dropped from the bench, so CI does not compile it.
//!
//! Every parser's result is checked equal to serde_json's. Freeing the parsed snapshot is
//! not timed. Prints a table and writes `benches/results/parser.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

use std::time::Duration;

use atlhyper_actors::model::{interned, ClusterSnapshot};
use atlhyper_master::http::agent::{decode, Encoding};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let pods = arg("--pods", 5000);
    let n = arg("--iterations", 15).max(3);
    let gz = snapshot_gz(pods);
    let gzb = bytes::Bytes::from(gz.clone());
    let json = decode(gzb.clone(), Encoding::Gzip, u64::MAX)
        .unwrap()
        .to_vec();
    println!(
        "snapshot: {pods} pods, {} bytes gzip, {} bytes JSON; {n} iterations each",
        gz.len(),
        json.len()
    );

    // The reference, and the equality checks.
    let reference: ClusterSnapshot = serde_json::from_slice(&json).unwrap();
    let sonic: ClusterSnapshot = sonic_rs::from_slice(&json).unwrap();
    assert!(sonic == reference, "sonic-rs decodes like serde_json");
    drop((reference, sonic));

    let len = json.len();
    let rows: Vec<(&str, Vec<Duration>)> = vec![
        (
            "gunzip (flate2 zlib-rs)",
            timed(n, || decode(gzb.clone(), Encoding::Gzip, u64::MAX).unwrap()),
        ),
        (
            "serde_json",
            timed(n, || {
                serde_json::from_slice::<ClusterSnapshot>(&json).unwrap()
            }),
        ),
        (
            "serde_json + interner",
            timed(n, || {
                interned(len, || serde_json::from_slice::<ClusterSnapshot>(&json)).unwrap()
            }),
        ),
        (
            "sonic-rs",
            timed(n, || {
                sonic_rs::from_slice::<ClusterSnapshot>(&json).unwrap()
            }),
        ),
        (
            "sonic-rs + interner",
            timed(n, || {
                interned(len, || sonic_rs::from_slice::<ClusterSnapshot>(&json)).unwrap()
            }),
        ),
    ];

    let mb = len as f64 / 1e6;
    println!();
    println!("| step | p50 ms | min ms | MB/s of JSON (p50) |");
    println!("|---|---:|---:|---:|");
    let mut out = serde_json::Map::new();
    for (name, t) in &rows {
        let p50 = t[t.len() / 2];
        let rate = mb / p50.as_secs_f64();
        println!("| {name} | {:.1} | {:.1} | {rate:.0} |", ms(p50), ms(t[0]));
        out.insert(
            (*name).to_owned(),
            serde_json::json!({"p50_ms": ms(p50), "min_ms": ms(t[0]), "mb_per_s": rate}),
        );
    }
    let out = serde_json::json!({
        "bench": "parser",
        "pods": pods,
        "json_bytes": len,
        "gzip_bytes": gz.len(),
        "iterations": n,
        "results": out,
    });
    write_result("parser", &out);
}
