//! Agent and cluster status types (reference §2.10).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ClusterSnapshot, GoTime, Text};

/// What a newer agent may say in its heartbeat body (v2.1 agents send none); parsed by
/// [`super::wire::parse_heartbeat`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AgentMetaBody {
    /// The agent's version.
    pub agent_version: Option<String>,
    /// Its host name.
    pub hostname: Option<String>,
    /// Its IP.
    pub ip: Option<String>,
}

/// Liveness of one agent (also `AgentInfo`, which has identical keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentStatus {
    /// Cluster ID.
    pub cluster_id: Text,
    /// `online` or `offline`.
    pub status: Text,
    /// Last heartbeat.
    pub last_heartbeat: GoTime,
    /// `fetched_at` of the last snapshot.
    pub last_snapshot: GoTime,
}

/// One cluster in the cluster list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterInfo {
    /// Cluster ID.
    pub cluster_id: Text,
    /// `online` or `offline`.
    pub status: Text,
    /// Last heartbeat.
    pub last_seen: GoTime,
    /// Number of nodes.
    pub node_count: i64,
    /// Number of pods.
    pub pod_count: i64,
}

/// One cluster with its status and latest snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterDetail {
    /// Cluster ID.
    pub cluster_id: Text,
    /// Agent status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    /// Latest snapshot (shared, not copied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Arc<ClusterSnapshot>>,
}

/// `AgentInfo` has the same keys as [`AgentStatus`].
pub type AgentInfo = AgentStatus;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(
            &AgentStatus::default(),
            &["cluster_id", "last_heartbeat", "last_snapshot", "status"],
        );
        assert_keys(
            &ClusterInfo::default(),
            &[
                "cluster_id",
                "last_seen",
                "node_count",
                "pod_count",
                "status",
            ],
        );
        assert_keys(&ClusterDetail::default(), &["cluster_id"]);
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<AgentStatus>(r#"{"last_heartbeat":null,"last_snapshot":null}"#);
        assert_default::<ClusterInfo>(r#"{"last_seen":null}"#);
        assert_default::<ClusterDetail>(r#"{"status":null,"snapshot":null}"#);
    }

    #[test]
    fn cluster_detail_shares_the_snapshot() {
        let snap = Arc::new(ClusterSnapshot {
            cluster_id: "c1".into(),
            ..ClusterSnapshot::default()
        });
        let d = ClusterDetail {
            cluster_id: "c1".into(),
            status: None,
            snapshot: Some(Arc::clone(&snap)),
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["snapshot"]["cluster_id"], "c1");
        assert!(v.get("status").is_none());
        let back: ClusterDetail = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }
}
