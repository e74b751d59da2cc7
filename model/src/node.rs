//! Node types (reference §2.5).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use serde::{Deserialize, Serialize};

use super::meta::summary_meta;
use super::serde_util::{is_false, is_zero_f64, null_default, null_vec};
use super::{GoTime, Kind, StrMap, Text};

/// One cluster node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    /// Name, readiness and age.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: NodeSummary,
    /// Node spec fields.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: NodeSpec,
    /// Total capacity.
    #[serde(default, deserialize_with = "null_default")]
    pub capacity: NodeResources,
    /// Allocatable resources.
    #[serde(default, deserialize_with = "null_default")]
    pub allocatable: NodeResources,
    /// Host name and addresses.
    #[serde(default, deserialize_with = "null_default")]
    pub addresses: NodeAddresses,
    /// OS and runtime versions.
    #[serde(default, deserialize_with = "null_default")]
    pub info: NodeInfo,
    /// Node conditions.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<NodeCondition>,
    /// Node taints.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub taints: Vec<NodeTaint>,
    /// Node labels.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub labels: StrMap,
    /// Usage from metrics-server, when available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<NodeMetrics>,
}

/// Name, readiness and age of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeSummary {
    /// Node name.
    pub name: Text,
    /// Node roles.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<Text>,
    /// `True`, `False` or `Unknown`.
    pub ready: Text,
    /// Not cordoned.
    pub schedulable: bool,
    /// Human-readable age.
    pub age: Text,
    /// Creation time.
    pub creation_time: GoTime,
    /// Display badges.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub badges: Vec<Text>,
    /// Reason of the Ready condition.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub reason: Text,
    /// Message of the Ready condition.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub message: Text,
}

/// Node spec fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeSpec {
    /// Pod CIDRs.
    #[serde(
        rename = "podCIDRs",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pod_cidrs: Vec<Text>,
    /// Cloud provider ID.
    #[serde(rename = "providerID", skip_serializing_if = "Text::is_empty")]
    pub provider_id: Text,
    /// Node is cordoned.
    #[serde(skip_serializing_if = "is_false")]
    pub unschedulable: bool,
}

/// Node capacity or allocatable quantities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeResources {
    /// CPU quantity.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub cpu: Text,
    /// Memory quantity.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub memory: Text,
    /// Pod count.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub pods: Text,
    /// Ephemeral storage quantity.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub ephemeral_storage: Text,
    /// Other resources (hugepages, GPUs, ...).
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub scalar_resources: StrMap,
}

/// Host name and addresses of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeAddresses {
    /// Host name.
    pub hostname: Text,
    /// Internal IP.
    #[serde(rename = "internalIP")]
    pub internal_ip: Text,
    /// External IP.
    #[serde(rename = "externalIP", skip_serializing_if = "Text::is_empty")]
    pub external_ip: Text,
    /// Every address with its type.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub all: Vec<NodeAddr>,
}

/// One typed node address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeAddr {
    /// Address type (InternalIP, Hostname, ...).
    #[serde(rename = "type")]
    pub type_: Text,
    /// The address.
    pub address: Text,
}

/// OS and runtime versions of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeInfo {
    /// OS image.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub os_image: Text,
    /// Operating system.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub operating_system: Text,
    /// CPU architecture.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub architecture: Text,
    /// Kernel version.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub kernel_version: Text,
    /// Container runtime version.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub container_runtime_version: Text,
    /// Kubelet version.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub kubelet_version: Text,
    /// Kube-proxy version.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub kube_proxy_version: Text,
}

/// One node condition (both times are always written).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeCondition {
    /// Condition type.
    pub type_: Text,
    /// True, False or Unknown.
    pub status: Text,
    /// Reason.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub reason: Text,
    /// Message.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub message: Text,
    /// Last heartbeat.
    pub last_heartbeat_time: GoTime,
    /// Last transition.
    pub last_transition_time: GoTime,
}

/// One node taint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeTaint {
    /// Taint key.
    pub key: Text,
    /// Taint value.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub value: Text,
    /// Taint effect.
    pub effect: Text,
    /// When the taint was added (`*time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<GoTime>,
}

/// Node usage from metrics-server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeMetrics {
    /// CPU usage.
    #[serde(default, deserialize_with = "null_default")]
    pub cpu: NodeResourceMetric,
    /// Memory usage.
    #[serde(default, deserialize_with = "null_default")]
    pub memory: NodeResourceMetric,
    /// Pod count (not filled by the v2.1 agent).
    #[serde(default, deserialize_with = "null_default")]
    pub pods: PodCountMetric,
    /// Pressure flags (not filled by the v2.1 agent).
    #[serde(default, deserialize_with = "null_default")]
    pub pressure: PressureFlags,
}

/// Usage of one node resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeResourceMetric {
    /// Raw usage quantity.
    pub usage: Text,
    /// Allocatable quantity.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub allocatable: Text,
    /// Capacity quantity.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub capacity: Text,
    /// Utilisation in percent.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub util_pct: f64,
}

/// Pods on a node versus its capacity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodCountMetric {
    /// Pods running.
    pub used: i64,
    /// Pod capacity.
    pub capacity: i64,
    /// Utilisation in percent.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub util_pct: f64,
}

/// Node pressure conditions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PressureFlags {
    /// Memory pressure.
    #[serde(skip_serializing_if = "is_false")]
    pub memory_pressure: bool,
    /// Disk pressure.
    #[serde(skip_serializing_if = "is_false")]
    pub disk_pressure: bool,
    /// PID pressure.
    #[serde(skip_serializing_if = "is_false")]
    pub pid_pressure: bool,
    /// Network unavailable.
    #[serde(skip_serializing_if = "is_false")]
    pub network_unavailable: bool,
}

summary_meta!(Node, Kind::Node, cluster_scoped);

impl Node {
    /// True when the node's Ready condition is `"True"` (the summary rule of §2.2).
    pub fn is_ready(&self) -> bool {
        self.summary.ready == "True"
    }

    /// True when the node's Ready condition is `"True"`; `summary.ready` when the snapshot
    /// has no conditions. What alerts and queries call ready.
    pub fn ready_condition(&self) -> bool {
        self.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map_or(self.summary.ready.as_str(), |c| c.status.as_str())
            == "True"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};
    use crate::ResourceMeta;

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(
            &Node::default(),
            &[
                "addresses",
                "allocatable",
                "capacity",
                "info",
                "spec",
                "summary",
            ],
        );
        assert_keys(
            &NodeSummary::default(),
            &["age", "creationTime", "name", "ready", "schedulable"],
        );
        assert_keys(&NodeSpec::default(), &[]);
        assert_keys(&NodeResources::default(), &[]);
        assert_keys(&NodeAddresses::default(), &["hostname", "internalIP"]);
        assert_keys(&NodeAddr::default(), &["address", "type"]);
        assert_keys(&NodeInfo::default(), &[]);
        assert_keys(
            &NodeCondition::default(),
            &["lastHeartbeatTime", "lastTransitionTime", "status", "type"],
        );
        assert_keys(&NodeTaint::default(), &["effect", "key"]);
        assert_keys(
            &NodeMetrics::default(),
            &["cpu", "memory", "pods", "pressure"],
        );
        assert_keys(&NodeResourceMetric::default(), &["usage"]);
        assert_keys(&PodCountMetric::default(), &["capacity", "used"]);
        assert_keys(&PressureFlags::default(), &[]);
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<Node>(
            r#"{"summary":null,"spec":null,"capacity":null,"allocatable":null,"addresses":null,"info":null,"conditions":null,"taints":null,"labels":null,"metrics":null}"#,
        );
        assert_default::<NodeSummary>(r#"{"roles":null,"creationTime":null,"badges":null}"#);
        assert_default::<NodeSpec>(r#"{"podCIDRs":null}"#);
        assert_default::<NodeResources>(r#"{"scalarResources":null}"#);
        assert_default::<NodeAddresses>(r#"{"all":null}"#);
        assert_default::<NodeAddr>(r#"{}"#);
        assert_default::<NodeInfo>(r#"{}"#);
        assert_default::<NodeCondition>(r#"{"lastHeartbeatTime":null,"lastTransitionTime":null}"#);
        assert_default::<NodeTaint>(r#"{"timeAdded":null}"#);
        assert_default::<NodeMetrics>(r#"{"cpu":null,"memory":null,"pods":null,"pressure":null}"#);
        assert_default::<NodeResourceMetric>(r#"{}"#);
        assert_default::<PodCountMetric>(r#"{}"#);
        assert_default::<PressureFlags>(r#"{}"#);
    }

    #[test]
    fn node_meta_and_null_metrics() {
        let node: Node = serde_json::from_str(
            r#"{"summary":{"name":"n1","ready":"True","schedulable":true,"age":"1d","creationTime":"2026-02-04T13:31:23+09:00"},
                "metrics":null,"taints":[{"key":"k","effect":"NoSchedule","timeAdded":null}],"labels":null}"#,
        )
        .unwrap();
        assert_eq!((ResourceMeta::namespace(&node), node.name()), ("", "n1"));
        assert!(node.is_ready());
        assert_eq!(node.metrics, None);
        assert_eq!(node.taints[0].time_added, None);
        assert!(node.labels().is_empty());
        assert_eq!(<Node as ResourceMeta>::kind_name(), "Node");
    }

    #[test]
    fn node_metrics_structs_are_always_written() {
        let m = NodeMetrics::default();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"cpu":{"usage":""},"memory":{"usage":""},"pods":{"used":0,"capacity":0},"pressure":{}}"#
        );
    }
}
