//! Memory benchmark (issue 6, benchmark e): resident bytes per cluster relative to the raw
//! JSON size of its snapshot. Target: at most 1.5×.
//!
//! `cargo bench --bench memory [-- --clusters 30 --pods 500 --rounds 2]`
//!
//! 1. **typed parse**: `--clusters` distinct snapshots (one seed each: distinct pod names,
//!    UIDs and IPs, the same vocabulary) are gunzipped first, then parsed with the handler's
//!    own `parse_object` and kept alive. Resident growth of this process over the parses,
//!    divided by the clusters, relative to the mean JSON size.
//! 2. **master**: the real binary as a child process (ports 0, temp SQLite). After a
//!    warm-up cluster, the same snapshots are `POST /agent/snapshot`ed, `--rounds` times each
//!    (every round with a newer `fetched_at`, so each push replaces the held snapshot). Once
//!    the child's resident size has settled (persisters done), its growth per cluster,
//!    relative to the mean JSON size. This counts everything the master keeps per cluster:
//!    the snapshot, summaries, persister and rule-evaluator memory, allocator slack.
//!
//! Snapshots come from `../shared/tools/gen_snapshot.py` (cached under
//! `target/bench-data/`). Prints a table and writes `benches/results/memory.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use atlhyper_actors::model::ClusterSnapshot;
use atlhyper_master::http::agent::{decode, parse_object, Encoding};

const TOKEN: &str = "bench-token";
/// The target ratio of issue 6.
const TARGET: f64 = 1.5;

fn gunzip(gz: &[u8]) -> bytes::Bytes {
    decode(bytes::Bytes::copy_from_slice(gz), Encoding::Gzip, u64::MAX).unwrap()
}

fn mib(b: f64) -> f64 {
    b / (1024.0 * 1024.0)
}

/// Resident growth per cluster of parsing and keeping `jsons` in this process.
fn typed_parse(warm: &[u8], jsons: &[bytes::Bytes]) -> f64 {
    let me = std::process::id();
    // Warm-up: one full parse and free, so the allocator's thresholds, the code and any
    // per-thread table are in place before the baseline.
    drop(parse_object::<ClusterSnapshot>(warm).unwrap());
    let before = rss_bytes(me);
    let kept: Vec<ClusterSnapshot> = jsons
        .iter()
        .map(|j| parse_object::<ClusterSnapshot>(j).unwrap())
        .collect();
    let after = rss_bytes(me);
    assert_eq!(kept.len(), jsons.len());
    (after.saturating_sub(before)) as f64 / jsons.len() as f64
}

struct Child {
    child: std::process::Child,
    agent: String,
    _dir: tempfile::TempDir,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_master() -> Child {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(master_bin());
    cmd.current_dir(dir.path())
        .env_clear()
        .env("MASTER_HTTP_PORT", "0")
        .env("MASTER_AGENT_PORT", "0")
        .env("MASTER_BIND", "127.0.0.1")
        .env("MASTER_LOG_FORMAT", "json")
        .env("MASTER_LOG_LEVEL", "warn,atlhyper_master::startup=info")
        .env("MASTER_DB_PATH", dir.path().join("master.db"))
        .env("MASTER_AGENT_TOKEN", TOKEN)
        .env("MASTER_ADMIN_PASSWORD", "bench-admin-password")
        .env("MASTER_AGENT_RATE_LIMIT", "10000")
        .env("MASTER_AGENT_RATE_BURST", "10000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["message"] == "atlhyper-master listening" {
                    let _ = tx.send(v["agent_port"].as_u64().unwrap());
                }
            }
        }
    });
    let agent = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("master starts and logs its ports");
    Child {
        child,
        agent: format!("http://127.0.0.1:{agent}/agent/snapshot"),
        _dir: dir,
    }
}

/// Waits until the child's resident size stops moving (persisters done): the spread of the
/// last 3 s of samples under 0.5 %, or 60 s at most. Returns the last sample.
fn settled_rss(pid: u32) -> u64 {
    let start = Instant::now();
    let mut samples: Vec<u64> = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        samples.push(rss_bytes(pid));
        if samples.len() >= 12 {
            let w = &samples[samples.len() - 12..];
            let (lo, hi) = (*w.iter().min().unwrap(), *w.iter().max().unwrap());
            if (hi - lo) as f64 <= 0.005 * hi as f64 {
                break;
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            println!("(resident size still moving after 60 s; taking the last sample)");
            break;
        }
    }
    *samples.last().unwrap()
}

/// `json` with its `fetched_at` replaced by a time that grows with `round`.
fn with_round(json: &[u8], round: usize) -> Vec<u8> {
    let text = std::str::from_utf8(json).unwrap();
    let head: serde_json::Value = serde_json::from_str(text).unwrap();
    let fetched = head["fetched_at"].as_str().unwrap();
    let newer = format!("2030-01-01T00:00:{:02}Z", round % 60);
    let patched = text.replacen(
        &format!("\"fetched_at\":\"{fetched}\""),
        &format!("\"fetched_at\":\"{newer}\""),
        1,
    );
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, patched.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// Resident growth per cluster of the real master holding `jsons`, and its peak.
fn master(warm: &[u8], jsons: &[(String, bytes::Bytes)], rounds: usize) -> (f64, u64, u64) {
    let m = start_master();
    let pid = m.child.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let post = |cluster: &str, body: Vec<u8>| {
        let (client, url) = (client.clone(), m.agent.clone());
        let cluster = cluster.to_owned();
        rt.block_on(async move {
            let r = client
                .post(url)
                .bearer_auth(TOKEN)
                .header("X-Cluster-ID", cluster)
                .header("Content-Encoding", "gzip")
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            assert_eq!(status, 200, "{text}");
        })
    };
    // Warm-up cluster: threads, pools, database caches and allocator arenas in place.
    for round in 0..rounds {
        post("mem-warm", with_round(warm, round));
    }
    let before = settled_rss(pid);
    for round in 0..rounds {
        for (cluster, json) in jsons {
            post(cluster, with_round(json, round));
        }
    }
    let after = settled_rss(pid);
    let peak = peak_rss_bytes(pid);
    (
        after.saturating_sub(before) as f64 / jsons.len() as f64,
        after,
        peak,
    )
}

fn main() {
    let clusters = arg("--clusters", 30).max(1);
    let pods = arg("--pods", 500);
    let rounds = arg("--rounds", 2).max(1);

    let warm = gunzip(&snapshot_gz_seeded(pods, 1000, "mem-warm"));
    let inputs: Vec<(String, bytes::Bytes)> = (0..clusters)
        .map(|i| {
            let id = format!("mem-{i:02}");
            let json = gunzip(&snapshot_gz_seeded(pods, 1001 + i as u64, &id));
            (id, json)
        })
        .collect();
    let json_mean = inputs.iter().map(|(_, j)| j.len()).sum::<usize>() as f64 / inputs.len() as f64;
    println!(
        "{clusters} clusters of {pods} pods, {:.2} MiB of JSON each (mean)",
        mib(json_mean)
    );

    let jsons: Vec<bytes::Bytes> = inputs.iter().map(|(_, j)| j.clone()).collect();
    let parse_per = typed_parse(&warm, &jsons);
    drop(jsons);
    let (master_per, master_rss, master_peak) = master(&warm, &inputs, rounds);

    let parse_ratio = parse_per / json_mean;
    let master_ratio = master_per / json_mean;
    println!();
    println!("| measure | resident MiB per cluster | × JSON | target |");
    println!("|---|---:|---:|---:|");
    println!(
        "| typed parse, kept in-process | {:.2} | {parse_ratio:.2} | ≤ {TARGET} |",
        mib(parse_per)
    );
    println!(
        "| real master (child process, after {rounds} rounds) | {:.2} | {master_ratio:.2} | ≤ {TARGET} |",
        mib(master_per)
    );
    println!();
    println!(
        "master resident {:.1} MiB at the end, peak {:.1} MiB",
        mib(master_rss as f64),
        mib(master_peak as f64)
    );
    let out = serde_json::json!({
        "bench": "memory",
        "clusters": clusters,
        "pods": pods,
        "rounds": rounds,
        "json_bytes_mean": json_mean,
        "typed_parse": {"bytes_per_cluster": parse_per, "ratio": parse_ratio},
        "master": {
            "bytes_per_cluster": master_per,
            "ratio": master_ratio,
            "rss_bytes": master_rss,
            "peak_rss_bytes": master_peak,
        },
        "target_ratio": TARGET,
    });
    write_result("memory", &out);
}
