//! The cluster snapshot, body of POST /agent/snapshot (reference §2.1, §2.2).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::serde_util::{null_default, null_vec};
use super::{
    ConfigMap, CronJob, DaemonSet, Deployment, Event, GoTime, Ingress, Job, LimitRange, Namespace,
    NetworkPolicy, Node, NodeMetricsSnapshot, PersistentVolume, PersistentVolumeClaim, Pod,
    ReplicaSet, ResourceQuota, Secret, Service, ServiceAccount, StatefulSet, Text,
};

/// Everything an agent reports about its cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSnapshot {
    /// Cluster ID.
    pub cluster_id: Text,
    /// When collection started.
    pub fetched_at: GoTime,
    /// Pods.
    #[serde(default, deserialize_with = "null_vec")]
    pub pods: Vec<Pod>,
    /// Deployments.
    #[serde(default, deserialize_with = "null_vec")]
    pub deployments: Vec<Deployment>,
    /// StatefulSets.
    #[serde(default, deserialize_with = "null_vec")]
    pub statefulsets: Vec<StatefulSet>,
    /// DaemonSets.
    #[serde(default, deserialize_with = "null_vec")]
    pub daemonsets: Vec<DaemonSet>,
    /// ReplicaSets.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub replicasets: Vec<ReplicaSet>,
    /// Jobs.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub jobs: Vec<Job>,
    /// CronJobs.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cronjobs: Vec<CronJob>,
    /// Services.
    #[serde(default, deserialize_with = "null_vec")]
    pub services: Vec<Service>,
    /// Ingresses.
    #[serde(default, deserialize_with = "null_vec")]
    pub ingresses: Vec<Ingress>,
    /// Namespaces.
    #[serde(default, deserialize_with = "null_vec")]
    pub namespaces: Vec<Namespace>,
    /// ConfigMaps.
    #[serde(default, deserialize_with = "null_vec")]
    pub configmaps: Vec<ConfigMap>,
    /// Secrets.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secrets: Vec<Secret>,
    /// ResourceQuotas.
    #[serde(
        rename = "resourceQuotas",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resource_quotas: Vec<ResourceQuota>,
    /// LimitRanges.
    #[serde(
        rename = "limitRanges",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub limit_ranges: Vec<LimitRange>,
    /// NetworkPolicies.
    #[serde(
        rename = "networkPolicies",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub network_policies: Vec<NetworkPolicy>,
    /// ServiceAccounts.
    #[serde(
        rename = "serviceAccounts",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub service_accounts: Vec<ServiceAccount>,
    /// PersistentVolumes.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pvs: Vec<PersistentVolume>,
    /// PersistentVolumeClaims.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pvcs: Vec<PersistentVolumeClaim>,
    /// Nodes.
    #[serde(default, deserialize_with = "null_vec")]
    pub nodes: Vec<Node>,
    /// Events.
    #[serde(default, deserialize_with = "null_vec")]
    pub events: Vec<Event>,
    /// Hardware metrics per node name.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub node_metrics: BTreeMap<Text, NodeMetricsSnapshot>,
    /// Counts computed by the agent.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: ClusterSummary,
}

/// Counts computed by the agent (the master never recomputes them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterSummary {
    /// Nodes.
    pub total_nodes: i64,
    /// Nodes whose `summary.ready` is `True`.
    pub ready_nodes: i64,
    /// Pods.
    pub total_pods: i64,
    /// Pods in phase Running.
    pub running_pods: i64,
    /// Pods in phase Pending.
    pub pending_pods: i64,
    /// Pods in phase Failed.
    pub failed_pods: i64,
    /// Deployments.
    pub total_deployments: i64,
    /// Deployments with `ready == replicas > 0`.
    pub healthy_deployments: i64,
    /// StatefulSets.
    pub total_statefulsets: i64,
    /// DaemonSets.
    pub total_daemonsets: i64,
    /// Services.
    pub total_services: i64,
    /// Ingresses.
    pub total_ingresses: i64,
    /// Namespaces.
    pub total_namespaces: i64,
    /// Events.
    pub total_events: i64,
    /// Events of type Warning.
    pub warning_events: i64,
}

/// Decodes a snapshot body (`serde_json::from_slice`, Go quirks accepted), with equal
/// strings shared ([`interned`](super::interned)).
pub fn parse_snapshot(bytes: &[u8]) -> Result<ClusterSnapshot, serde_json::Error> {
    super::interned(bytes.len(), || serde_json::from_slice(bytes))
}

impl ClusterSnapshot {
    /// The AtlHyper agent's version from its own workload in the snapshot: the tag of a
    /// Deployment's or DaemonSet's container image named `…atlhyper…agent…` (the agent
    /// reports the cluster it runs in, itself included).
    pub fn agent_image_version(&self) -> Option<String> {
        let containers = self
            .deployments
            .iter()
            .flat_map(|d| d.template.containers.iter())
            .chain(
                self.daemonsets
                    .iter()
                    .flat_map(|d| d.template.containers.iter()),
            );
        for c in containers {
            let image = c.image.as_str();
            let (repo, tag) = match image.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r, t),
                _ => continue,
            };
            let name = repo.rsplit('/').next().unwrap_or(repo).to_ascii_lowercase();
            let lower = repo.to_ascii_lowercase();
            let is_agent = lower.contains("atlhyper") && name.contains("agent");
            let tag = tag.split('@').next().unwrap_or(tag);
            if is_agent && !tag.is_empty() && tag.len() <= 64 && tag != "latest" {
                return Some(tag.to_owned());
            }
        }
        None
    }
}

/// The version in a `User-Agent` whose product name mentions an agent
/// (`atlhyper-agent/2.1.0` → `2.1.0`); `None` for generic clients (`Go-http-client/1.1`).
pub fn user_agent_version(ua: &str) -> Option<String> {
    ua.split_whitespace().find_map(|product| {
        let (name, version) = product.split_once('/')?;
        let name = name.to_ascii_lowercase();
        (name.contains("agent") && !version.is_empty() && version.len() <= 64)
            .then(|| version.to_owned())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(
            &ClusterSnapshot::default(),
            &[
                "cluster_id",
                "configmaps",
                "daemonsets",
                "deployments",
                "events",
                "fetched_at",
                "ingresses",
                "namespaces",
                "nodes",
                "pods",
                "services",
                "statefulsets",
                "summary",
            ],
        );
        assert_keys(
            &ClusterSummary::default(),
            &[
                "failed_pods",
                "healthy_deployments",
                "pending_pods",
                "ready_nodes",
                "running_pods",
                "total_daemonsets",
                "total_deployments",
                "total_events",
                "total_ingresses",
                "total_namespaces",
                "total_nodes",
                "total_pods",
                "total_services",
                "total_statefulsets",
                "warning_events",
            ],
        );
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<ClusterSnapshot>(
            r#"{"fetched_at":null,"pods":null,"deployments":null,"statefulsets":null,"daemonsets":null,"replicasets":null,"jobs":null,"cronjobs":null,"services":null,"ingresses":null,"namespaces":null,"configmaps":null,"secrets":null,"resourceQuotas":null,"limitRanges":null,"networkPolicies":null,"serviceAccounts":null,"pvs":null,"pvcs":null,"nodes":null,"events":null,"node_metrics":null,"summary":null}"#,
        );
        assert_default::<ClusterSummary>(r#"{}"#);
    }

    #[test]
    fn parse_minimal_snapshot() {
        let s = parse_snapshot(br#"{"cluster_id":"c1","fetched_at":"2026-02-04T13:31:23.5+09:00","pods":null,"extra":1}"#).unwrap();
        assert_eq!(s.cluster_id, "c1");
        assert!(s.pods.is_empty());
        assert_eq!(s.fetched_at.to_string(), "2026-02-04T13:31:23.5+09:00");
        let err = parse_snapshot(br#"{"fetched_at":"soon"}"#).unwrap_err();
        assert!(err.to_string().contains("soon"), "{err}");
    }
}
