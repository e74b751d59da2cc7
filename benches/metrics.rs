//! Node-metrics history query benchmark (issue 4, figure 3).
//!
//! `cargo bench --bench metrics [-- --iterations 50]`
//!
//! A real master (temp SQLite, port 0) learns cluster `bench` from one agent push; then
//! 30 days of history for one node, one point per 5 minutes (8,640 rows), are inserted
//! directly, next to 8,640 rows of a second node so that the index has to pick. Timed:
//!
//! 1. **repo**: the repository query alone, on the blocking pool (`Db::read`);
//! 2. **api**: `GET /api/v2/clusters/bench/node-metrics/n1/history?hours=720` end to end,
//!    from the request sent to the JSON body received.
//!
//! The target is under 20 ms. Prints a table and writes `benches/results/metrics.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use atlhyper_master::config::Settings;
use atlhyper_master::db::metrics::{self as repo, NewHistory};
use atlhyper_master::db::to_db;
use atlhyper_master::startup::Application;
use chrono::Utc;

const TOKEN: &str = "bench-token";
const PASSWORD: &str = "bench-admin-password";
/// 30 days × 24 h × 12 points per hour (one per 5-minute sample).
const POINTS: i64 = 30 * 24 * 12;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rows(node: &str) -> Vec<NewHistory> {
    // The newest point a minute ago, so all 8,640 fall inside the 720-hour window.
    let newest = Utc::now() - chrono::Duration::minutes(1);
    (0..POINTS)
        .map(|i| NewHistory {
            cluster_id: "bench".to_owned(),
            node_name: node.to_owned(),
            timestamp: to_db(newest - chrono::Duration::minutes(5 * i)),
            cpu_usage: (i % 100) as f64,
            mem_usage: 50.0,
            disk_usage: 40.0,
            net_rx_bytes: 1_024_000.0,
            net_tx_bytes: 512_000.0,
            temperature: 55.5,
        })
        .collect()
}

fn main() {
    let iterations = arg("--iterations", 50).max(3);
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        bind: "127.0.0.1".parse().unwrap(),
        http_port: 0,
        agent_port: 0,
        db_path: dir.path().join("bench.db"),
        agent_token: Some(TOKEN.to_owned().into()),
        admin_password: Some(PASSWORD.to_owned().into()),
        ..Settings::default()
    };
    let (repo_times, api_times) = actix_rt::System::new().block_on(async move {
        let app = Application::build(settings).await.unwrap();
        let http = format!("http://127.0.0.1:{}", app.http_port());
        let agent = format!("http://127.0.0.1:{}", app.agent_port());
        let state = app.state();
        let stopper = app.stopper();
        let run = actix_rt::spawn(app.run_until_stopped(false));
        let client = reqwest::Client::new();

        // The cluster becomes known the way it does in production: an agent push.
        let snapshot =
            serde_json::json!({"cluster_id": "bench", "fetched_at": Utc::now(), "summary": {}});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&serde_json::to_vec(&snapshot).unwrap())
            .unwrap();
        let r = client
            .post(format!("{agent}/agent/snapshot"))
            .bearer_auth(TOKEN)
            .header("X-Cluster-ID", "bench")
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/json")
            .body(gz.finish().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        state.persist.flush().await;

        let (n1, n2) = (rows("n1"), rows("n2"));
        let inserted = state
            .db
            .write(move |c| Ok(repo::insert_history(c, &n1)? + repo::insert_history(c, &n2)?))
            .await
            .unwrap();
        assert_eq!(inserted as i64, 2 * POINTS);

        let token = client
            .post(format!("{http}/api/v2/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();

        let since = to_db(Utc::now() - chrono::Duration::hours(720));
        let mut repo_times = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            let points = state
                .db
                .read(move |c| repo::history(c, "bench", "n1", since))
                .await
                .unwrap();
            repo_times.push(t.elapsed());
            assert_eq!(points.len() as i64, POINTS);
        }

        let url = format!("{http}/api/v2/clusters/bench/node-metrics/n1/history?hours=720");
        let mut api_times = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let body = r.bytes().await.unwrap();
            api_times.push(t.elapsed());
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["points"].as_i64(), Some(POINTS));
        }
        stopper.stop();
        run.await.unwrap().unwrap();
        (repo_times, api_times)
    });
    let (mut repo_times, mut api_times) = (repo_times, api_times);
    repo_times.sort();
    api_times.sort();

    println!();
    println!("30-day history of one node: {POINTS} points, {iterations} iterations");
    println!("| measure | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|");
    for (name, t) in [
        ("repo query (Db::read)", &repo_times),
        ("GET …/history?hours=720 (end to end)", &api_times),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.99)),
            ms(percentile(t, 1.0))
        );
    }
    let out = serde_json::json!({
        "bench": "metrics",
        "points": POINTS,
        "iterations": iterations,
        "repo_ms": {"p50": ms(percentile(&repo_times, 0.5)), "p99": ms(percentile(&repo_times, 0.99))},
        "api_ms": {"p50": ms(percentile(&api_times, 0.5)), "p99": ms(percentile(&api_times, 0.99))},
        "target_ms": 20,
        "at": Utc::now(),
    });
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/results/metrics.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("written {}", path.display());
}
