//! Node hardware metrics in v2.1's shapes (reference §2.9, §3.3): the latest snapshot of
//! every node with `ClusterMetricsSummary`, and one node's history as `MetricsDataPoint`s.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use atlhyper_actors::model::{KeyMetrics, NodeMetricsSnapshot};

use super::cluster_param;
use crate::auth::extract::Viewer;
use crate::db::to_db;
use crate::error::ApiError;
use crate::http::QueryParams;
use crate::service::node_metrics;
use crate::state::AppState;

/// v2.1's `ClusterMetricsSummary`: every node listed has metrics, so all are online.
#[derive(Debug, Default, PartialEq, Serialize)]
struct Summary {
    total_nodes: i64,
    online_nodes: i64,
    offline_nodes: i64,
    avg_cpu_usage: f64,
    avg_memory_usage: f64,
    avg_disk_usage: f64,
    max_cpu_usage: f64,
    max_memory_usage: f64,
    max_disk_usage: f64,
    avg_cpu_temp: f64,
    max_cpu_temp: f64,
    total_memory: i64,
    used_memory: i64,
    total_disk: i64,
    used_disk: i64,
    total_network_rx: i64,
    total_network_tx: i64,
}

/// The summary over `nodes`: disk figures from each node's primary disk, network from its
/// interfaces other than `lo` (as our charts), the temperature mean over nodes that report
/// one.
fn summary(nodes: &BTreeMap<String, NodeMetricsSnapshot>) -> Summary {
    let mut s = Summary::default();
    let (mut cpu, mut mem, mut disk, mut temp, mut temps) = (0.0, 0.0, 0.0, 0.0, 0);
    let (mut rx, mut tx) = (0.0, 0.0);
    for m in nodes.values() {
        let k = KeyMetrics::of(m);
        s.total_nodes += 1;
        cpu += k.cpu;
        mem += k.mem;
        disk += k.disk;
        s.max_cpu_usage = s.max_cpu_usage.max(k.cpu);
        s.max_memory_usage = s.max_memory_usage.max(k.mem);
        s.max_disk_usage = s.max_disk_usage.max(k.disk);
        if k.temp > 0.0 {
            temp += k.temp;
            temps += 1;
            s.max_cpu_temp = s.max_cpu_temp.max(k.temp);
        }
        s.total_memory = s.total_memory.saturating_add(m.memory.total);
        s.used_memory = s.used_memory.saturating_add(m.memory.used);
        if let Some(d) = m.primary_disk() {
            s.total_disk = s.total_disk.saturating_add(d.total);
            s.used_disk = s.used_disk.saturating_add(d.used);
        }
        rx += k.rx;
        tx += k.tx;
    }
    s.online_nodes = s.total_nodes;
    if s.total_nodes > 0 {
        let n = s.total_nodes as f64;
        s.avg_cpu_usage = cpu / n;
        s.avg_memory_usage = mem / n;
        s.avg_disk_usage = disk / n;
    }
    if temps > 0 {
        s.avg_cpu_temp = temp / f64::from(temps);
    }
    // Rates in bytes/s; whole bytes as v2.1 (saturating: `as` clamps).
    s.total_network_rx = rx as i64;
    s.total_network_tx = tx as i64;
    s
}

/// `GET /v21/api/v2/node-metrics?cluster_id=`: `{"summary","nodes":[…]}`, nodes by name.
/// `summary` is always an object, and each node's `cpu`, `memory` and `temperature`.
pub async fn list(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = cluster_param(&QueryParams::of(&req))?;
    state.cluster(&id, false).await?;
    let nodes = node_metrics::latest(&state.db, &id).await?;
    #[derive(Serialize)]
    struct Reply {
        summary: Summary,
        nodes: Vec<NodeMetricsSnapshot>,
    }
    Ok(HttpResponse::Ok().json(Reply {
        summary: summary(&nodes),
        nodes: nodes.into_values().collect(),
    }))
}

/// v2.1's `MetricsDataPoint`; disk I/O and load are not sampled here and are 0.
#[derive(Serialize)]
struct Point {
    timestamp: DateTime<Utc>,
    node_name: String,
    cpu_usage: f64,
    memory_usage: f64,
    disk_usage: f64,
    disk_io_read: f64,
    disk_io_write: f64,
    network_rx: f64,
    network_tx: f64,
    cpu_temp: f64,
    load_1: f64,
}

/// `GET /v21/api/v2/node-metrics/{node}/history?cluster_id=&hours=24` (1–720):
/// `{"node_name","start","end","data":[…]}`, oldest first.
pub async fn history(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let id = cluster_param(&q)?;
    let hours = crate::http::api::node_metrics::history_hours(&q)?;
    state.cluster(&id, false).await?;
    let node = path.into_inner();
    let end = Utc::now();
    let start = end - Duration::hours(hours);
    let rows = state
        .db
        .node_metrics()
        .history(&id, &node, to_db(start))
        .await?;
    let data: Vec<Point> = rows
        .into_iter()
        .map(|p| Point {
            timestamp: DateTime::from_timestamp_millis(p.timestamp_ms).unwrap_or_default(),
            node_name: node.clone(),
            cpu_usage: p.cpu_usage,
            memory_usage: p.mem_usage,
            disk_usage: p.disk_usage,
            disk_io_read: 0.0,
            disk_io_write: 0.0,
            network_rx: p.net_rx_bytes,
            network_tx: p.net_tx_bytes,
            cpu_temp: p.temperature,
            load_1: 0.0,
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "node_name": node,
        "start": start,
        "end": end,
        "data": data,
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp, reason = "tests")]
    use super::*;

    #[test]
    fn summary_of_nothing_is_zeros_and_temperature_ignores_missing_sensors() {
        assert_eq!(summary(&BTreeMap::new()), Summary::default());
        let node = |cpu: f64, temp: f64| {
            serde_json::from_value::<NodeMetricsSnapshot>(json!({
                "cpu": {"usage_percent": cpu},
                "memory": {"total": 100, "used": 40, "usage_percent": 40.0},
                "temperature": {"cpu_temp": temp},
                "disks": [{"mount_point": "/data", "total": 5, "used": 1, "usage_percent": 20.0},
                          {"mount_point": "/", "total": 10, "used": 5, "usage_percent": 50.0}],
                "networks": [{"interface": "lo", "rx_rate": 1000.0}, {"interface": "eth0", "rx_rate": 10.5, "tx_rate": 2.0}],
            }))
            .unwrap()
        };
        let nodes = BTreeMap::from([
            ("a".to_owned(), node(10.0, 60.0)),
            ("b".to_owned(), node(30.0, 0.0)),
        ]);
        let s = summary(&nodes);
        assert_eq!((s.total_nodes, s.online_nodes, s.offline_nodes), (2, 2, 0));
        assert_eq!((s.avg_cpu_usage, s.max_cpu_usage), (20.0, 30.0));
        assert_eq!((s.avg_cpu_temp, s.max_cpu_temp), (60.0, 60.0));
        assert_eq!(
            (s.avg_disk_usage, s.total_disk, s.used_disk),
            (50.0, 20, 10)
        );
        assert_eq!((s.total_memory, s.used_memory), (200, 80));
        assert_eq!((s.total_network_rx, s.total_network_tx), (21, 4));
    }
}
