//! The web console (issue 17): how long the fleet page takes to render in a real browser
//! with many clusters. Target: under 1 s with 500 clusters.
//!
//! `cargo bench --bench console [-- --clusters 500 --pods 50 --runs 5]`
//!
//! A release master (child process, SQLite) receives `--clusters` snapshots of `--pods`
//! pods each; Debian's headless Chromium (through chromedriver, `tests/support/webdriver.rs`)
//! logs in, then navigates from another page to the fleet `--runs` times: each run is the
//! time from the route change until every cluster's row is in the table (its two API
//! calls included). Also printed: the console's asset size (budget: 300 KB). Needs
//! `chromium` and `chromium-driver`; writes `benches/results/console.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
#[path = "../tests/support/webdriver.rs"]
#[allow(dead_code, reason = "the bench takes no screenshots")]
mod webdriver;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt as _;
use serde_json::json;

async fn push(client: &reqwest::Client, agent: &str, body: &PushBody, i: usize) {
    let id = format!("bench-{i:05}");
    let r = client
        .post(format!("{agent}/agent/snapshot"))
        .bearer_auth(AGENT_TOKEN)
        .header("X-Cluster-ID", &id)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(body.body(&id, &fetched_at_now()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "push {id}");
}

fn main() {
    renice_self();
    let clusters = arg("--clusters", 500);
    let pods = arg("--pods", 50);
    let runs = arg("--runs", 5).max(1);
    let body = PushBody::from_gzip(&snapshot_gz(pods));
    let master = MasterProcess::start::<&str, &str>(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let samples = rt.block_on(async {
        let client = reqwest::Client::new();
        let t = Instant::now();
        futures_util::stream::iter((0..clusters).map(|i| push(&client, &master.agent, &body, i)))
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
        println!(
            "{clusters} clusters of {pods} pods pushed in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let mut b = webdriver::Browser::start()
            .await
            .expect("chromium and chromedriver");
        b.goto(&format!("{}/#/login", master.http)).await;
        b.type_into("#username", "admin").await;
        b.type_into("#password", ADMIN_PASSWORD).await;
        b.click("#login").await;
        b.wait_for("return document.querySelector('#fleet tr')")
            .await;
        let mut samples = Vec::new();
        for _ in 0..runs + 1 {
            b.goto(&format!("{}/#/query", master.http)).await;
            b.wait_for("return document.querySelector('#q')").await;
            b.eval(
                "window.t0 = performance.now(); location.hash = '#/fleet';",
                vec![],
            )
            .await;
            let done =
                format!("return document.querySelectorAll('#fleet tr').length === {clusters}");
            b.wait_for(&done).await;
            let ms = b.eval("return performance.now() - window.t0", vec![]).await;
            samples.push(Duration::from_secs_f64(ms.as_f64().unwrap() / 1e3));
        }
        samples.remove(0); // the first load warms the browser's caches
        samples
    });
    let s = Stats::of(samples);
    let assets = atlhyper_master::http::console::assets_size();
    println!(
        "fleet page, {clusters} clusters: p50 {:.0} ms, max {:.0} ms (target < 1000 ms); console assets {} bytes (budget 300 KB)",
        as_ms(s.p50),
        as_ms(s.max),
        assets
    );
    let out =
        json!({"clusters": clusters, "pods": pods, "render": s.json(), "assets_bytes": assets});
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/results")).unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/benches/results/console.json"),
        serde_json::to_string_pretty(&out).unwrap(),
    )
    .unwrap();
}
