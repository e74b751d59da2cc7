//! Node metrics: latest upsert, the summary maths (seed 001 §5.1), history sampling, the
//! history query.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::helpers::{spawn_with, TestApp};

/// Every pushed snapshot gets a later `fetched_at` (the master ignores older snapshots).
static FETCH_SEQ: AtomicI64 = AtomicI64::new(0);

/// Now, in whole seconds (the pushed timestamps carry no fraction).
fn now_secs() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A snapshot of `cluster` carrying `nodes` as its `node_metrics`.
fn snapshot_with(cluster: &str, nodes: Value) -> Value {
    let seq = FETCH_SEQ.fetch_add(1, Ordering::SeqCst);
    let fetched = Utc::now() + chrono::Duration::seconds(seq);
    json!({
        "cluster_id": cluster,
        "fetched_at": rfc3339(fetched),
        "summary": {"total_pods": 0},
        "node_metrics": nodes,
    })
}

/// A node with the key metrics set and the rest defaulted.
fn node(name: &str, at: DateTime<Utc>, cpu: f64, mem: f64, temp: f64) -> Value {
    json!({
        "node_name": name,
        "timestamp": rfc3339(at),
        "cpu": {"usage_percent": cpu, "cores": 4},
        "memory": {"usage_percent": mem, "total": 1000, "used": 500},
        "disks": [{"device": "/dev/sda1", "mount_point": "/", "usage_percent": 33.0}],
        "networks": [
            {"interface": "lo", "status": "up", "rx_rate": 5000.0, "tx_rate": 5000.0},
            {"interface": "eth0", "status": "up", "rx_rate": 100.0, "tx_rate": 200.0},
            {"interface": "eth1", "status": "down", "rx_rate": 0.5, "tx_rate": 1.5}
        ],
        "temperature": {"cpu_temp": temp},
    })
}

async fn push(app: &TestApp, cluster: &str, nodes: Value) {
    let r = app.push_json(cluster, &snapshot_with(cluster, nodes)).await;
    assert_eq!(r.status(), 200);
    app.state.persist.metrics.flush().await;
}

async fn history(app: &TestApp, cluster: &str, node: &str, query: &str) -> Value {
    let (status, body) = app
        .get(&format!(
            "/api/v2/clusters/{cluster}/node-metrics/{node}/history{query}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn timestamps(h: &Value) -> Vec<i64> {
    h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["timestamp"].as_i64().unwrap())
        .collect()
}

async fn spawn_sampling_every_minute() -> TestApp {
    spawn_with(|s| s.metrics_sample_interval = Duration::from_secs(60)).await
}

#[actix_web::test]
async fn summary_matches_hand_computed_values() {
    let app = spawn_sampling_every_minute().await;
    let at = "2026-11-21T10:00:00Z";
    // Three nodes; the expected summary below was worked out by hand.
    let nodes = json!({
        "node-a": {
            "node_name": "node-a", "timestamp": at,
            "cpu": {"usage_percent": 45.0, "cores": 4},
            "memory": {"usage_percent": 80.0, "total": 8589934592i64, "used": 4294967296i64},
            "temperature": {"cpu_temp": 60.0},
            "disks": [
                {"mount_point": "/", "usage_percent": 40.0},
                {"mount_point": "/data", "usage_percent": 85.0}
            ]
        },
        "node-b": {
            "node_name": "node-b", "timestamp": at,
            "cpu": {"usage_percent": 85.0, "cores": 8},
            "memory": {"usage_percent": 30.0, "total": 16000000000i64, "used": 4000000000i64},
            "temperature": {"cpu_temp": 70.0},
            "disks": [{"mount_point": "/", "usage_percent": 70.0}]
        },
        "node-c": {
            "node_name": "node-c", "timestamp": at,
            "cpu": {"usage_percent": 20.0, "cores": 2},
            "memory": {"usage_percent": 43.0, "total": 4000000000i64, "used": 3000000000i64},
            "temperature": {"cpu_temp": 74.9},
            "disks": [
                {"mount_point": "/boot", "usage_percent": 10.0},
                {"mount_point": "/", "usage_percent": 50.0}
            ]
        }
    });
    push(&app, "sum", nodes).await;

    let (status, body) = app.get("/api/v2/clusters/sum/node-metrics").await;
    assert_eq!(status, 200, "{body}");
    // avg_cpu = (45 + 85 + 20) / 3 = 50; avg_memory = (80 + 30 + 43) / 3 = 51.
    // Warning nodes: node-a (memory 80, at the threshold) and node-b (cpu 85); node-c's
    // 74.9 °C is under 75. Max disk: node-a's /data at 85.
    // Cores 4 + 8 + 2 = 14; memory 8589934592 + 16000000000 + 4000000000 = 28589934592,
    // used 4294967296 + 4000000000 + 3000000000 = 11294967296.
    assert_eq!(
        body["summary"],
        json!({
            "metrics_nodes": 3,
            "avg_cpu": 50.0,
            "avg_memory": 51.0,
            "max_temp": 74.9,
            "max_temp_node": "node-c",
            "max_disk": 85.0,
            "max_disk_node": "node-a",
            "max_disk_mount": "/data",
            "warning_nodes": 2,
            "total_cores": 14,
            "total_mem_bytes": 28589934592i64,
            "used_mem_bytes": 11294967296i64
        })
    );
    let names: Vec<&String> = body["nodes"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["node-a", "node-b", "node-c"]);
    assert_eq!(body["nodes"]["node-b"]["cpu"]["cores"], 8);
}

#[actix_web::test]
async fn latest_is_upserted_per_node() {
    let app = spawn_sampling_every_minute().await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    push(
        &app,
        "up",
        json!({"n1": node("n1", t0, 10.0, 20.0, 30.0), "n2": node("n2", t0, 1.0, 2.0, 3.0)}),
    )
    .await;
    let t1 = t0 + chrono::Duration::seconds(10);
    push(&app, "up", json!({"n1": node("n1", t1, 11.0, 21.0, 31.0)})).await;

    let (status, n1) = app.get("/api/v2/clusters/up/node-metrics/n1").await;
    assert_eq!(status, 200, "{n1}");
    assert_eq!(n1["cpu"]["usage_percent"], 11.0);
    assert_eq!(n1["timestamp"], rfc3339(t1));
    // A node missing from a later snapshot keeps its last row.
    let (_, n2) = app.get("/api/v2/clusters/up/node-metrics/n2").await;
    assert_eq!(n2["cpu"]["usage_percent"], 1.0);
    let (_, all) = app.get("/api/v2/clusters/up/node-metrics").await;
    assert_eq!(all["summary"]["metrics_nodes"], 2);
    assert_eq!(all["summary"]["avg_cpu"], 6.0);
}

#[actix_web::test]
async fn history_samples_once_per_interval_across_a_restart() {
    let app = spawn_sampling_every_minute().await;
    let t0 = now_secs() - chrono::Duration::hours(2);
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    for s in [0, 10, 59] {
        push(
            &app,
            "hs",
            json!({"n": node("n", at(s), s as f64, 1.0, 2.0)}),
        )
        .await;
    }
    assert_eq!(
        timestamps(&history(&app, "hs", "n", "").await),
        [t0.timestamp_millis()]
    );

    push(&app, "hs", json!({"n": node("n", at(60), 60.0, 1.0, 2.0)})).await;
    push(&app, "hs", json!({"n": node("n", at(90), 90.0, 1.0, 2.0)})).await;
    let h = history(&app, "hs", "n", "").await;
    assert_eq!(
        timestamps(&h),
        [t0.timestamp_millis(), at(60).timestamp_millis()]
    );
    assert_eq!(h["node_name"], "n");
    assert_eq!(
        (h["hours"].as_i64(), h["points"].as_i64()),
        (Some(24), Some(2))
    );
    // Each point holds the snapshot it sampled; net rates are summed without `lo`.
    assert_eq!(
        h["history"][1],
        json!({
            "timestamp": at(60).timestamp_millis(),
            "cpu_usage": 60.0,
            "mem_usage": 1.0,
            "disk_usage": 33.0,
            "temperature": 2.0,
            "net_rx_bytes_ps": 100.5,
            "net_tx_bytes_ps": 201.5
        })
    );

    // After a restart the last sample (at 60 s) still counts: 100 s is inside its interval.
    let app = app.restart().await;
    push(
        &app,
        "hs",
        json!({"n": node("n", at(100), 100.0, 1.0, 2.0)}),
    )
    .await;
    assert_eq!(history(&app, "hs", "n", "").await["points"], 2);
    push(
        &app,
        "hs",
        json!({"n": node("n", at(120), 120.0, 1.0, 2.0)}),
    )
    .await;
    let h = history(&app, "hs", "n", "").await;
    assert_eq!(
        timestamps(&h),
        [
            t0.timestamp_millis(),
            at(60).timestamp_millis(),
            at(120).timestamp_millis()
        ]
    );
    // The latest row kept following every push.
    let (_, latest) = app.get("/api/v2/clusters/hs/node-metrics/n").await;
    assert_eq!(latest["cpu"]["usage_percent"], 120.0);
}

#[actix_web::test]
async fn history_query_window_ordering_and_validation() {
    let app = spawn_sampling_every_minute().await;
    let now = now_secs();
    let h = |n: i64| now - chrono::Duration::hours(n);
    // Pushed newest first: the reply is still oldest first.
    for n in [2, 3, 30] {
        push(&app, "hq", json!({"n": node("n", h(n), 1.0, 1.0, 1.0)})).await;
    }
    let (t2, t3, t30) = (
        h(2).timestamp_millis(),
        h(3).timestamp_millis(),
        h(30).timestamp_millis(),
    );
    assert_eq!(timestamps(&history(&app, "hq", "n", "").await), [t3, t2]);
    assert_eq!(
        timestamps(&history(&app, "hq", "n", "?hours=48").await),
        [t30, t3, t2]
    );
    assert_eq!(
        timestamps(&history(&app, "hq", "n", "?hours=720").await),
        [t30, t3, t2]
    );
    let one = history(&app, "hq", "n", "?hours=1").await;
    assert_eq!(
        (one["hours"].as_i64(), one["points"].as_i64()),
        (Some(1), Some(0))
    );

    for bad in ["0", "721", "-1", "abc", "1.5"] {
        let (status, body) = app
            .get(&format!(
                "/api/v2/clusters/hq/node-metrics/n/history?hours={bad}"
            ))
            .await;
        assert_eq!(status, 400, "hours={bad}: {body}");
    }
    // A node without history is an empty list.
    let none = history(&app, "hq", "ghost", "").await;
    assert_eq!(
        (none["points"].as_i64(), none["history"].clone()),
        (Some(0), json!([]))
    );
}

#[actix_web::test]
async fn unknown_cluster_and_node_are_404() {
    let app = spawn_sampling_every_minute().await;
    push(
        &app,
        "known",
        json!({"n": node("n", Utc::now(), 1.0, 1.0, 1.0)}),
    )
    .await;
    for path in [
        "/api/v2/clusters/nope/node-metrics",
        "/api/v2/clusters/nope/node-metrics/n",
        "/api/v2/clusters/nope/node-metrics/n/history",
        "/api/v2/clusters/known/node-metrics/ghost",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    // A known cluster without node metrics has an empty, zero summary.
    let r = app
        .push_json("bare", &snapshot_with("bare", Value::Null))
        .await;
    assert_eq!(r.status(), 200);
    app.state.persist.metrics.flush().await;
    let (status, body) = app.get("/api/v2/clusters/bare/node-metrics").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["metrics_nodes"], 0);
    assert_eq!(body["summary"]["max_temp_node"], "");
    assert_eq!(body["nodes"], json!({}));
}
