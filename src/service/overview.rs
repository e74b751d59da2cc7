//! The overview of one cluster that the AtlHyper dashboard's home page shows (reference
//! §3.4): health cards, workload and pod counts, resource usage per node, and the Warning
//! events of the last 24 hours per hour, kind and severity.
//!
//! Differences from v2.1, on purpose:
//! - the hourly trend is bucketed in UTC on both sides (v2.1 bucketed the database's UTC
//!   hours on a local-time axis, so they only lined up on a UTC server);
//! - `alerts.totals` counts critical and warning events by `model_v2`'s severity rule
//!   (v2.1 put every event under `warning`);
//! - a cluster without nodes or pods is `Unknown` with a reason, not `Unhealthy` through a
//!   division by zero;
//! - every list is an array, never `null`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

use atlhyper_actors::model::{quantity, severity, ClusterSnapshot, Node};

use crate::db::events::EventFilter;
use crate::db::{from_db, Db, DbError};

/// Hours of the alert trend: the current one and the 23 before it.
const TREND_HOURS: i64 = 24;
/// Events listed under `alerts.recent`.
const RECENT: usize = 10;
/// Most event rows counted for the trend: far more than a day of distinct Warning events
/// of any cluster; beyond it the oldest hours are under-counted rather than the request
/// slowed down.
const TREND_ROW_CAP: usize = 100_000;

/// The whole overview.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// The cluster.
    pub cluster_id: String,
    /// The top cards.
    pub cards: Cards,
    /// Workload and pod counts.
    pub workloads: Workloads,
    /// Warning events.
    pub alerts: Alerts,
    /// Usage per node.
    pub nodes: NodesUsage,
}

/// The top cards.
#[derive(Debug, Clone, Serialize)]
pub struct Cards {
    /// Overall health.
    pub cluster_health: Health,
    /// Ready nodes.
    pub node_ready: NodeReady,
    /// CPU used ÷ allocatable over the nodes metrics-server reports, percent.
    pub cpu_usage: Percent,
    /// Memory used ÷ allocatable, percent.
    pub mem_usage: Percent,
    /// Warning events seen in the last 24 hours (stored rows, not the sum of counts).
    pub events_24h: i64,
}

/// Overall health.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `Healthy`, `Degraded`, `Unhealthy` or `Unknown`.
    pub status: &'static str,
    /// Why it is not healthy; omitted when it is.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'static str,
    /// Ready nodes, percent.
    pub node_ready_percent: f64,
    /// Running pods, percent.
    pub pod_ready_percent: f64,
}

/// Ready nodes.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReady {
    /// Nodes.
    pub total: i64,
    /// Ready ones.
    pub ready: i64,
    /// Percent.
    pub percent: f64,
}

/// A percentage.
#[derive(Debug, Clone, Serialize)]
pub struct Percent {
    /// Percent, two decimals.
    pub percent: f64,
}

/// Workload and pod counts.
#[derive(Debug, Clone, Serialize)]
pub struct Workloads {
    /// Per workload kind.
    pub summary: WorkloadSummary,
    /// Pods per phase.
    pub pod_status: PodPhases,
    /// The busiest nodes.
    pub peak_stats: Peak,
}

/// Per workload kind.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSummary {
    /// Deployments.
    pub deployments: Ready,
    /// DaemonSets.
    pub daemonsets: Ready,
    /// StatefulSets.
    pub statefulsets: Ready,
    /// Jobs.
    pub jobs: Jobs,
}

/// How many, and how many are fully ready.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ready {
    /// All.
    pub total: i64,
    /// Fully ready (desired > 0 and ready == desired).
    pub ready: i64,
}

/// Jobs by state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Jobs {
    /// All.
    pub total: i64,
    /// With active pods.
    pub running: i64,
    /// Complete with successes.
    pub succeeded: i64,
    /// With failures.
    pub failed: i64,
}

/// Pods per phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PodPhases {
    /// All.
    pub total: i64,
    /// Running.
    pub running: i64,
    /// Pending.
    pub pending: i64,
    /// Failed.
    pub failed: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Any other phase.
    pub unknown: i64,
    /// Percent of all.
    pub running_percent: f64,
    /// Percent of all.
    pub pending_percent: f64,
    /// Percent of all.
    pub failed_percent: f64,
    /// Percent of all.
    pub succeeded_percent: f64,
}

/// The busiest nodes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Peak {
    /// Highest CPU usage of a node, percent.
    pub peak_cpu: f64,
    /// That node.
    pub peak_cpu_node: String,
    /// Highest memory usage of a node, percent.
    pub peak_mem: f64,
    /// That node.
    pub peak_mem_node: String,
    /// False when no node reported usage.
    pub has_data: bool,
}

/// Warning events.
#[derive(Debug, Clone, Serialize)]
pub struct Alerts {
    /// Per hour (oldest first) and involved kind.
    pub trend: Vec<TrendPoint>,
    /// Per severity over 24 hours.
    pub totals: Totals,
    /// The newest ones.
    pub recent: Vec<Recent>,
}

/// One hour of the trend.
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    /// The hour's start, UTC.
    pub at: DateTime<Utc>,
    /// Events per involved kind.
    pub kinds: BTreeMap<String, i64>,
}

/// Events per severity.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    /// Warnings with a critical reason.
    pub critical: i64,
    /// Other warnings.
    pub warning: i64,
    /// Other events (none: only Warning events are counted).
    pub info: i64,
}

/// One recent event.
#[derive(Debug, Clone, Serialize)]
pub struct Recent {
    /// When it was last seen, RFC 3339 UTC.
    pub timestamp: String,
    /// `critical` or `warning`.
    pub severity: &'static str,
    /// Involved kind.
    pub kind: String,
    /// Involved namespace.
    pub namespace: String,
    /// Involved name.
    pub name: String,
    /// Message.
    pub message: String,
    /// Reason.
    pub reason: String,
}

/// Usage per node.
#[derive(Debug, Clone, Serialize)]
pub struct NodesUsage {
    /// Nodes with usage data, by name.
    pub usage: Vec<NodeUsage>,
}

/// One node's usage.
#[derive(Debug, Clone, Serialize)]
pub struct NodeUsage {
    /// Node name.
    pub node: String,
    /// CPU used ÷ allocatable, percent.
    pub cpu_usage: f64,
    /// Memory used ÷ allocatable, percent.
    pub mem_usage: f64,
}

fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        round2(part as f64 * 100.0 / whole as f64)
    }
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        round2(part * 100.0 / whole)
    } else {
        0.0
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// v2.1's health rule: healthy at ≥ 90 % ready nodes and ≥ 80 % running pods, degraded at
/// ≥ 70 % and ≥ 60 %, else unhealthy; the reason is the first failed check.
fn health(total_nodes: i64, node_pct: f64, total_pods: i64, pod_pct: f64) -> Health {
    let (status, reason) = if total_nodes == 0 {
        ("Unknown", "no nodes reported")
    } else if node_pct < 70.0 {
        ("Unhealthy", "less than 70% of nodes are ready")
    } else if total_pods > 0 && pod_pct < 60.0 {
        ("Unhealthy", "less than 60% of pods are running")
    } else if node_pct < 90.0 {
        ("Degraded", "less than 90% of nodes are ready")
    } else if total_pods > 0 && pod_pct < 80.0 {
        ("Degraded", "less than 80% of pods are running")
    } else {
        ("Healthy", "")
    };
    Health {
        status,
        reason,
        node_ready_percent: node_pct,
        pod_ready_percent: pod_pct,
    }
}

/// CPU and memory (used, allocatable) of a node metrics-server reports on: millicores and
/// bytes. `None` without usage.
fn usage(n: &Node) -> Option<((f64, f64), (f64, f64))> {
    let m = n.metrics.as_ref()?;
    let cpu_used = quantity::cpu_millis(&m.cpu.usage)?;
    let mem_used = quantity::parse(&m.memory.usage)?;
    let alloc = |metric: &str, node: &str, parse: fn(&str) -> Option<f64>| {
        parse(metric).or_else(|| parse(node)).unwrap_or(0.0)
    };
    let cpu_alloc = alloc(&m.cpu.allocatable, &n.allocatable.cpu, quantity::cpu_millis);
    let mem_alloc = alloc(
        &m.memory.allocatable,
        &n.allocatable.memory,
        quantity::parse,
    );
    Some(((cpu_used, cpu_alloc), (mem_used, mem_alloc)))
}

/// Everything the snapshot alone says (no events).
fn from_snapshot(snap: &ClusterSnapshot) -> (Cards, Workloads, NodesUsage) {
    let s = &snap.summary;
    let node_pct = percent(s.ready_nodes, s.total_nodes);
    let pod_pct = percent(s.running_pods, s.total_pods);

    let mut usage_rows = Vec::new();
    let mut peak = Peak::default();
    let (mut cpu, mut mem) = ((0.0, 0.0), (0.0, 0.0));
    for n in &snap.nodes {
        let Some(((cu, ca), (mu, ma))) = usage(n) else {
            continue;
        };
        cpu = (cpu.0 + cu, cpu.1 + ca);
        mem = (mem.0 + mu, mem.1 + ma);
        let row = NodeUsage {
            node: n.summary.name.to_string(),
            cpu_usage: ratio(cu, ca),
            mem_usage: ratio(mu, ma),
        };
        if !peak.has_data || row.cpu_usage > peak.peak_cpu {
            peak.peak_cpu = row.cpu_usage;
            peak.peak_cpu_node.clone_from(&row.node);
        }
        if !peak.has_data || row.mem_usage > peak.peak_mem {
            peak.peak_mem = row.mem_usage;
            peak.peak_mem_node.clone_from(&row.node);
        }
        peak.has_data = true;
        if row.cpu_usage > 0.0 || row.mem_usage > 0.0 {
            usage_rows.push(row);
        }
    }
    usage_rows.sort_by(|a, b| a.node.cmp(&b.node));

    let ready = |pairs: &mut dyn Iterator<Item = (i32, i32)>| {
        pairs.fold(Ready::default(), |mut r, (desired, ready)| {
            r.total += 1;
            if desired > 0 && ready == desired {
                r.ready += 1;
            }
            r
        })
    };
    let mut jobs = Jobs::default();
    for j in &snap.jobs {
        jobs.total += 1;
        jobs.running += i64::from(j.active > 0);
        jobs.succeeded += i64::from(j.complete && j.succeeded > 0);
        jobs.failed += i64::from(j.failed > 0);
    }
    let mut phases = PodPhases::default();
    for p in &snap.pods {
        phases.total += 1;
        match p.status.phase.as_str() {
            "Running" => phases.running += 1,
            "Pending" => phases.pending += 1,
            "Failed" => phases.failed += 1,
            "Succeeded" => phases.succeeded += 1,
            _ => phases.unknown += 1,
        }
    }
    phases.running_percent = percent(phases.running, phases.total);
    phases.pending_percent = percent(phases.pending, phases.total);
    phases.failed_percent = percent(phases.failed, phases.total);
    phases.succeeded_percent = percent(phases.succeeded, phases.total);

    let cards = Cards {
        cluster_health: health(s.total_nodes, node_pct, s.total_pods, pod_pct),
        node_ready: NodeReady {
            total: s.total_nodes,
            ready: s.ready_nodes,
            percent: node_pct,
        },
        cpu_usage: Percent {
            percent: ratio(cpu.0, cpu.1),
        },
        mem_usage: Percent {
            percent: ratio(mem.0, mem.1),
        },
        events_24h: 0,
    };
    let workloads = Workloads {
        summary: WorkloadSummary {
            deployments: ready(
                &mut snap
                    .deployments
                    .iter()
                    .map(|d| (d.summary.replicas, d.summary.ready)),
            ),
            daemonsets: ready(
                &mut snap
                    .daemonsets
                    .iter()
                    .map(|d| (d.summary.desired_number_scheduled, d.summary.number_ready)),
            ),
            statefulsets: ready(
                &mut snap
                    .statefulsets
                    .iter()
                    .map(|d| (d.summary.replicas, d.summary.ready)),
            ),
            jobs,
        },
        pod_status: phases,
        peak_stats: peak,
    };
    (cards, workloads, NodesUsage { usage: usage_rows })
}

/// The overview of `snap` (the cluster's latest snapshot) with the Warning events stored
/// for it over the 24 hours before `now`.
pub async fn overview(
    db: &Db,
    snap: &ClusterSnapshot,
    cluster_id: &str,
    now: DateTime<Utc>,
) -> Result<Overview, DbError> {
    let (mut cards, workloads, nodes) = from_snapshot(snap);
    let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    let first_hour = hour - Duration::hours(TREND_HOURS - 1);
    let filter = EventFilter {
        event_type: Some("Warning".into()),
        since: Some(now - Duration::hours(24)),
        ..EventFilter::default()
    };
    let events = db.events();
    let ((recent_rows, total), tally) = futures_util::try_join!(
        events.list(cluster_id, filter.clone(), RECENT, 0),
        events.kind_reason_times(cluster_id, filter, TREND_ROW_CAP),
    )?;
    cards.events_24h = i64::try_from(total).unwrap_or(i64::MAX);

    let mut trend: Vec<TrendPoint> = (0..TREND_HOURS)
        .map(|i| TrendPoint {
            at: first_hour + Duration::hours(i),
            kinds: BTreeMap::new(),
        })
        .collect();
    let mut totals = Totals::default();
    for (kind, reason, at) in tally {
        match severity("Warning", &reason) {
            "critical" => totals.critical += 1,
            _ => totals.warning += 1,
        }
        let at = from_db(at);
        if at < first_hour {
            continue;
        }
        let slot = usize::try_from((at - first_hour).num_hours()).unwrap_or(usize::MAX);
        if let Some(p) = trend.get_mut(slot) {
            *p.kinds.entry(kind).or_insert(0) += 1;
        }
    }
    let recent = recent_rows
        .into_iter()
        .map(|r| Recent {
            timestamp: from_db(r.last_timestamp).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            severity: severity(&r.event_type, &r.reason),
            kind: r.involved_kind,
            namespace: r.involved_namespace,
            name: r.involved_name,
            message: r.message,
            reason: r.reason,
        })
        .collect();
    Ok(Overview {
        cluster_id: cluster_id.to_owned(),
        cards,
        workloads,
        alerts: Alerts {
            trend,
            totals,
            recent,
        },
        nodes,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp, reason = "tests")]
    use super::*;

    #[test]
    fn health_follows_the_v21_thresholds() {
        assert_eq!(health(10, 100.0, 10, 100.0).status, "Healthy");
        assert_eq!(health(10, 100.0, 10, 100.0).reason, "");
        assert_eq!(health(10, 80.0, 10, 100.0).status, "Degraded");
        assert_eq!(health(10, 100.0, 10, 70.0).status, "Degraded");
        assert_eq!(health(10, 60.0, 10, 100.0).status, "Unhealthy");
        assert_eq!(health(10, 100.0, 10, 50.0).status, "Unhealthy");
        assert_eq!(health(0, 0.0, 0, 0.0).status, "Unknown");
        // No pods is not a pod problem.
        assert_eq!(health(3, 100.0, 0, 0.0).status, "Healthy");
    }

    #[test]
    fn an_empty_snapshot_has_zeros_and_empty_lists() {
        let (cards, w, nodes) = from_snapshot(&ClusterSnapshot::default());
        assert_eq!(cards.node_ready.percent, 0.0);
        assert_eq!(cards.cpu_usage.percent, 0.0);
        assert_eq!(w.pod_status.total, 0);
        assert!(!w.peak_stats.has_data);
        assert!(nodes.usage.is_empty());
    }

    #[test]
    fn percentages_round_to_two_decimals() {
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(ratio(2.0, 3.0), 66.67);
        assert_eq!(ratio(1.0, 0.0), 0.0);
    }
}
