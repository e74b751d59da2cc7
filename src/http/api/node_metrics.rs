//! Node hardware metrics: the latest per node with a cluster summary, and the sampled
//! history of one node (`spec/api.md`, "Node metrics"; seed 001 §5).

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use serde::Serialize;

use atlhyper_actors::model::NodeMetricsSnapshot;

use crate::auth::extract::Viewer;
use crate::db::to_db;
use crate::error::{ApiError, ErrorCode};
use crate::http::QueryParams;
use crate::state::AppState;

/// History window when `hours` is not given: one day, as v2.1's charts (both APIs).
const DEFAULT_HOURS: i64 = 24;
use crate::service::node_metrics::MAX_HISTORY_HOURS as MAX_HOURS;
/// cpu or memory usage at or above this marks a node as warning (seed 001 §5.1).
const WARN_USAGE_PERCENT: f64 = 80.0;
/// A cpu temperature at or above this marks a node as warning (seed 001 §5.1).
const WARN_TEMP_CELSIUS: f64 = 75.0;

/// The cluster summary of the latest node metrics (seed 001 §5.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MetricsSummary {
    /// Nodes with metrics.
    pub metrics_nodes: i64,
    /// Mean cpu usage percent.
    pub avg_cpu: f64,
    /// Mean memory usage percent.
    pub avg_memory: f64,
    /// Highest cpu temperature.
    pub max_temp: f64,
    /// The node with it (first by name on a tie; empty when no temperature is above 0).
    pub max_temp_node: String,
    /// Highest usage percent of any disk of any node.
    pub max_disk: f64,
    /// The node with that disk.
    pub max_disk_node: String,
    /// That disk's mount point.
    pub max_disk_mount: String,
    /// Nodes with cpu ≥ 80, memory ≥ 80 or temperature ≥ 75.
    pub warning_nodes: i64,
    /// Sum of cpu.cores.
    pub total_cores: i64,
    /// Sum of memory.total.
    pub total_mem_bytes: i64,
    /// Sum of memory.used.
    pub used_mem_bytes: i64,
}

impl MetricsSummary {
    /// The summary over `nodes` (seed 001 §5.1), visited in name order.
    pub fn of(nodes: &BTreeMap<String, NodeMetricsSnapshot>) -> Self {
        let mut s = MetricsSummary::default();
        let (mut cpu, mut mem) = (0.0, 0.0);
        for (name, m) in nodes {
            s.metrics_nodes += 1;
            cpu += m.cpu.usage_percent;
            mem += m.memory.usage_percent;
            s.total_cores = s.total_cores.saturating_add(m.cpu.cores);
            s.total_mem_bytes = s.total_mem_bytes.saturating_add(m.memory.total);
            s.used_mem_bytes = s.used_mem_bytes.saturating_add(m.memory.used);
            if m.temperature.cpu_temp > s.max_temp {
                s.max_temp = m.temperature.cpu_temp;
                s.max_temp_node.clone_from(name);
            }
            for d in &m.disks {
                if d.usage_percent > s.max_disk {
                    s.max_disk = d.usage_percent;
                    s.max_disk_node.clone_from(name);
                    s.max_disk_mount = d.mount_point.to_string();
                }
            }
            if m.cpu.usage_percent >= WARN_USAGE_PERCENT
                || m.memory.usage_percent >= WARN_USAGE_PERCENT
                || m.temperature.cpu_temp >= WARN_TEMP_CELSIUS
            {
                s.warning_nodes += 1;
            }
        }
        if s.metrics_nodes > 0 {
            s.avg_cpu = cpu / s.metrics_nodes as f64;
            s.avg_memory = mem / s.metrics_nodes as f64;
        }
        s
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ClusterNodeMetrics {
    summary: MetricsSummary,
    /// The latest NodeMetricsSnapshot (v2.1 JSON) of each node, by node name.
    #[schema(value_type = BTreeMap<String, Object>)]
    nodes: BTreeMap<String, NodeMetricsSnapshot>,
}

/// One point of a node's history, as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryPointView {
    timestamp: i64,
    cpu_usage: f64,
    mem_usage: f64,
    disk_usage: f64,
    temperature: f64,
    net_rx_bytes_ps: f64,
    net_tx_bytes_ps: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeHistory {
    node_name: String,
    hours: i64,
    points: usize,
    history: Vec<HistoryPointView>,
}

/// `GET /api/v2/clusters/{id}/node-metrics`: every node's latest metrics and the summary.
#[tracing::instrument(skip_all, fields(cluster_id = %path.as_str()))]
pub async fn list_node_metrics(
    _auth: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let cluster_id = path.into_inner();
    state.cluster(&cluster_id, false).await?;
    let nodes = crate::service::node_metrics::latest(&state.db, &cluster_id).await?;
    Ok(HttpResponse::Ok().json(ClusterNodeMetrics {
        summary: MetricsSummary::of(&nodes),
        nodes,
    }))
}

/// `GET /api/v2/clusters/{id}/node-metrics/{node}`: that node's latest metrics.
#[tracing::instrument(skip_all, fields(cluster_id = %path.0, node = %path.1))]
pub async fn get_node_metrics(
    _auth: Viewer,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (cluster_id, node) = path.into_inner();
    state.cluster(&cluster_id, false).await?;
    let json = state
        .db
        .node_metrics()
        .get_latest(&cluster_id, &node)
        .await?
        .ok_or_else(|| node_not_found(&node))?;
    let m: NodeMetricsSnapshot = serde_json::from_str(&json).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(m))
}

/// `GET /api/v2/clusters/{id}/node-metrics/{node}/history?hours=`: oldest first.
#[tracing::instrument(skip_all, fields(cluster_id = %path.0, node = %path.1))]
pub async fn get_node_history(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let hours = history_hours(&QueryParams::of(&req))?;
    let (cluster_id, node) = path.into_inner();
    state.cluster(&cluster_id, false).await?;
    let since = to_db(Utc::now() - Duration::hours(hours));
    let rows = state
        .db
        .node_metrics()
        .history(&cluster_id, &node, since)
        .await?;
    let history: Vec<HistoryPointView> = rows
        .into_iter()
        .map(|p| HistoryPointView {
            timestamp: p.timestamp_ms,
            cpu_usage: p.cpu_usage,
            mem_usage: p.mem_usage,
            disk_usage: p.disk_usage,
            temperature: p.temperature,
            net_rx_bytes_ps: p.net_rx_bytes,
            net_tx_bytes_ps: p.net_tx_bytes,
        })
        .collect();
    Ok(HttpResponse::Ok().json(NodeHistory {
        node_name: node,
        hours,
        points: history.len(),
        history,
    }))
}

/// The `hours` of a history request: 24 when absent, 1–720.
pub fn history_hours(q: &QueryParams) -> Result<i64, ApiError> {
    let hours = q.parse::<i64>("hours")?.unwrap_or(DEFAULT_HOURS);
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(ApiError::invalid_param(
            "hours",
            format!("{hours}: must be between 1 and {MAX_HOURS}"),
        ));
    }
    Ok(hours)
}

fn node_not_found(node: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::NodeNotFound,
        format!("no metrics for node {node:?} in this cluster"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn empty_summary_is_zero() {
        assert_eq!(
            MetricsSummary::of(&BTreeMap::new()),
            MetricsSummary::default()
        );
    }
}
