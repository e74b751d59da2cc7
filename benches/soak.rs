//! Soak benchmark (issue 12): the real master under the simulator for a long run, and the
//! slope of its resident memory.
//!
//! `cargo bench --bench soak [-- --minutes 30 --clusters 50 --pods 500 --interval 10
//!  --warmup 5 --sample 10 --master-env K=V,K=V --master-bin PATH --out soak]`
//!
//! 1. The release binary starts as a child process (temp SQLite, ports 0); its idle
//!    resident size is the baseline.
//! 2. The simulator (`atlhyper-agent-sim`, in this process, at a lower priority with
//!    `--nice`) runs `--clusters` evolving clusters of `--pods` pods for `--minutes`:
//!    snapshots every `--interval` seconds, heartbeats, SLO pushes, a long poll per
//!    cluster, events with rising counts, restarts and reschedules.
//! 3. Every `--sample` seconds: the master's resident size and CPU, and (every sixth
//!    sample) the JSON it holds: the size of every cluster's latest snapshot, from
//!    `GET /api/v2/clusters/{id}/status`.
//! 4. After `--warmup` minutes, a least-squares line through the resident samples gives the
//!    slope, reported as growth over 30 minutes relative to the fitted start (target < 5 %).
//! 5. The simulator stops, every cluster is deleted through the API, and after a pause the
//!    resident size is read again: how much of the growth was returned.
//!
//! Prints a table and writes `benches/results/<--out>.json` (with every sample). Two runs
//! side by side with `--master-bin` and `--out` compare two builds under the same load.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

struct Sample {
    t: f64,
    rss_mib: f64,
    cpu_s: f64,
    held_mib: Option<f64>,
}

fn mib_of_kib(k: u64) -> f64 {
    k as f64 / 1024.0
}

/// Least-squares slope and intercept of `y` over `x`.
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    if points.len() < 2 {
        return (0.0, points.first().map_or(0.0, |p| p.1));
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (slope, my - slope * mx)
}

async fn held_json_mib(
    client: &reqwest::Client,
    http: &str,
    token: &str,
    prefix: &str,
    n: usize,
) -> f64 {
    let mut total = 0u64;
    for i in 0..n {
        let id = atlhyper_agent_sim::cluster_id(prefix, i);
        let Ok(r) = client
            .get(format!("{http}/api/v2/clusters/{id}/status"))
            .bearer_auth(token)
            .send()
            .await
        else {
            continue;
        };
        let Ok(v) = r.json::<serde_json::Value>().await else {
            continue;
        };
        total += v["recent_snapshots"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|s| s["bytes"].as_u64())
            .unwrap_or(0);
    }
    total as f64 / (1024.0 * 1024.0)
}

fn main() {
    renice_self();
    let minutes = arg("--minutes", 30) as f64;
    let clusters = arg("--clusters", 50);
    let pods = arg("--pods", 500);
    let interval = arg("--interval", 10) as u64;
    let warmup = arg("--warmup", 5) as f64;
    let sample = arg("--sample", 10) as u64;
    let extra: Vec<(String, String)> = arg_str("--master-env", "")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let prefix = "soak";
    let out_name = arg_str("--out", "soak");

    let mut master = MasterProcess::start(&extra);
    std::thread::sleep(Duration::from_secs(2));
    let idle_mib = mib_of_kib(master.rss_kib());
    println!(
        "soak: {clusters} clusters x {pods} pods @ {interval}s for {minutes} min \
         (warm-up {warmup} min); master {} idle {idle_mib:.1} MiB; env {extra:?}",
        master_bin()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stats = Arc::new(atlhyper_agent_sim::Stats::default());
    let cfg = atlhyper_agent_sim::Config {
        master: master.agent.clone(),
        token: Some(AGENT_TOKEN.to_owned()),
        clusters,
        pods,
        prefix: prefix.to_owned(),
        interval: Duration::from_secs(interval),
        duration: Some(Duration::from_secs_f64(minutes * 60.0)),
        status: false,
        ..atlhyper_agent_sim::Config::default()
    };
    let client = reqwest::Client::new();
    let (token, summary, samples) = rt.block_on(async {
        let token = master.login(&client).await;
        let sim = tokio::spawn(atlhyper_agent_sim::run_with(
            cfg,
            std::future::pending::<()>(),
            Arc::clone(&stats),
        ));
        let started = Instant::now();
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(sample));
        let mut k = 0u64;
        while !sim.is_finished() {
            tick.tick().await;
            let held = if k % 6 == 5 {
                Some(held_json_mib(&client, &master.http, &token, prefix, clusters).await)
            } else {
                None
            };
            k += 1;
            let s = Sample {
                t: started.elapsed().as_secs_f64() / 60.0,
                rss_mib: mib_of_kib(master.rss_kib()),
                cpu_s: master.cpu_secs(),
                held_mib: held,
            };
            if let Some(h) = s.held_mib {
                println!(
                    "  {:5.1} min  rss {:7.1} MiB  json held {:6.1} MiB  ({:.2}x)  cpu {:7.1} s  snapshots {}",
                    s.t,
                    s.rss_mib,
                    h,
                    s.rss_mib / h.max(0.001),
                    s.cpu_s,
                    stats.snapshots.load(Relaxed)
                );
            }
            samples.push(s);
        }
        let summary = sim.await.unwrap().unwrap();
        (token, summary, samples)
    });
    println!("{summary}");

    // Memory returned once every cluster is deleted.
    let before_delete = mib_of_kib(master.rss_kib());
    rt.block_on(async {
        for i in 0..clusters {
            let id = atlhyper_agent_sim::cluster_id(prefix, i);
            let _ = client
                .delete(format!("{}/api/v2/clusters/{id}", master.http))
                .bearer_auth(&token)
                .send()
                .await;
        }
    });
    std::thread::sleep(Duration::from_secs(20));
    let after_delete = mib_of_kib(master.rss_kib());
    assert!(master.alive(), "the master died during the soak");

    let steady: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t >= warmup)
        .map(|s| (s.t, s.rss_mib))
        .collect();
    let (slope, intercept) = fit(&steady);
    let start_fit = intercept + slope * warmup;
    let growth_30 = slope * 30.0 / start_fit.max(1.0) * 100.0;
    let held: Vec<f64> = samples
        .iter()
        .filter(|s| s.t >= warmup)
        .filter_map(|s| s.held_mib)
        .collect();
    let held_mean = held.iter().sum::<f64>() / held.len().max(1) as f64;
    let steady_rss = steady.iter().map(|p| p.1).sum::<f64>() / steady.len().max(1) as f64;
    let peak = mib_of_kib(master.peak_rss_kib());
    let cpu = samples.last().map_or(0.0, |s| s.cpu_s);
    let json_mb = stats.json_bytes.load(Relaxed) as f64 / 1e6;

    println!();
    println!("| measure | result | target |");
    println!("|---|---:|---:|");
    println!("| master idle (before any cluster) | {idle_mib:.1} MiB | |");
    println!("| resident after warm-up, mean / peak | {steady_rss:.1} / {peak:.1} MiB | |");
    println!("| JSON held (latest snapshot of every cluster) | {held_mean:.1} MiB | |");
    println!(
        "| resident ÷ JSON held | {:.2} | ≤ 1.5 |",
        steady_rss / held_mean.max(0.001)
    );
    println!(
        "| (resident − idle) ÷ JSON held | {:.2} | |",
        (steady_rss - idle_mib) / held_mean.max(0.001)
    );
    println!("| slope after warm-up | {slope:+.3} MiB/min | |");
    println!("| growth over 30 min at that slope | {growth_30:+.2} % | < 5 % |");
    println!(
        "| after deleting every cluster (20 s) | {after_delete:.1} MiB (from {before_delete:.1}) | |"
    );
    println!(
        "| master CPU per MB of JSON pushed | {:.2} ms | ≤ 6 |",
        cpu * 1000.0 / json_mb.max(0.001)
    );

    let out = json!({
        "bench": "soak",
        "master_bin": master_bin(),
        "clusters": clusters,
        "pods": pods,
        "interval_s": interval,
        "minutes": minutes,
        "warmup_min": warmup,
        "master_env": extra.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "idle_mib": idle_mib,
        "steady_rss_mib": steady_rss,
        "peak_rss_mib": peak,
        "json_held_mib": held_mean,
        "rss_over_json": steady_rss / held_mean.max(0.001),
        "slope_mib_per_min": slope,
        "growth_pct_per_30min": growth_30,
        "rss_before_delete_mib": before_delete,
        "rss_after_delete_mib": after_delete,
        "master_cpu_s": cpu,
        "json_pushed_mb": json_mb,
        "cpu_ms_per_mb": cpu * 1000.0 / json_mb.max(0.001),
        "snapshots": stats.snapshots.load(Relaxed),
        "errors": stats.errors.load(Relaxed),
        "samples": samples.iter().map(|s| json!({
            "t_min": s.t, "rss_mib": s.rss_mib, "cpu_s": s.cpu_s, "held_mib": s.held_mib,
        })).collect::<Vec<_>>(),
    });
    write_result(&out_name, &out);
}
