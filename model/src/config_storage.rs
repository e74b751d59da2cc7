//! Config, policy and storage types: Namespace, ConfigMap, Secret, ResourceQuota, LimitRange, NetworkPolicy, ServiceAccount, PV, PVC (reference §2.8).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use serde::{Deserialize, Serialize};

use super::meta::{common_meta_struct, summary_meta};
use super::serde_util::{null_default, null_vec};
use super::{empty_labels, Kind, ResourceMeta, StrMap, Text};

/// One Namespace (no CommonMeta).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Namespace {
    /// Name and age.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: NamespaceSummary,
    /// Phase.
    #[serde(default, deserialize_with = "null_default")]
    pub status: NamespaceStatus,
    /// Resource counts computed by the agent.
    #[serde(default, deserialize_with = "null_default")]
    pub resources: NamespaceResources,
    /// Resource quotas of the namespace.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub quotas: Vec<ResourceQuota>,
    /// Limit ranges of the namespace.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub limit_ranges: Vec<LimitRange>,
    /// Labels.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub labels: StrMap,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub annotations: StrMap,
}

/// Name and age of a Namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NamespaceSummary {
    /// Name.
    pub name: Text,
    /// Creation time, as an RFC 3339 **string**.
    pub created_at: Text,
    /// Human-readable age.
    pub age: Text,
}

/// Namespace status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NamespaceStatus {
    /// Active or Terminating.
    pub phase: Text,
}

/// Resource counts of a Namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NamespaceResources {
    /// Pods.
    pub pods: i64,
    /// Running pods.
    pub pods_running: i64,
    /// Pending pods.
    pub pods_pending: i64,
    /// Failed pods.
    pub pods_failed: i64,
    /// Succeeded pods.
    pub pods_succeeded: i64,
    /// Deployments.
    pub deployments: i64,
    /// StatefulSets.
    pub stateful_sets: i64,
    /// DaemonSets.
    pub daemon_sets: i64,
    /// ReplicaSets.
    pub replica_sets: i64,
    /// Jobs.
    pub jobs: i64,
    /// CronJobs.
    pub cron_jobs: i64,
    /// Services.
    pub services: i64,
    /// Ingresses.
    pub ingresses: i64,
    /// NetworkPolicies.
    pub network_policies: i64,
    /// ConfigMaps.
    pub config_maps: i64,
    /// Secrets.
    pub secrets: i64,
    /// ServiceAccounts.
    pub service_accounts: i64,
    /// PersistentVolumeClaims.
    pub pvcs: i64,
}

common_meta_struct! {
    /// One ConfigMap (CommonMeta keys inline; values are never sent).
    pub struct ConfigMap: Kind::ConfigMap {
        /// Data keys.
        #[serde(
            default,
            deserialize_with = "null_vec",
            skip_serializing_if = "Vec::is_empty"
        )]
        pub data_keys: Vec<Text>,
    }
}

common_meta_struct! {
    /// One Secret (CommonMeta keys inline; values are never sent).
    pub struct Secret: Kind::Secret {
        /// Secret type.
        #[serde(rename = "type")]
        pub type_: Text,
        /// Data keys.
        #[serde(
            default,
            deserialize_with = "null_vec",
            skip_serializing_if = "Vec::is_empty"
        )]
        pub data_keys: Vec<Text>,
    }
}

/// One ResourceQuota.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceQuota {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Creation time, as an RFC 3339 **string**.
    pub created_at: Text,
    /// Human-readable age.
    pub age: Text,
    /// Scopes.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub scopes: Vec<Text>,
    /// Hard limits.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub hard: StrMap,
    /// Current usage.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub used: StrMap,
}

/// One LimitRange.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LimitRange {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Creation time, as an RFC 3339 **string**.
    pub created_at: Text,
    /// Human-readable age.
    pub age: Text,
    /// Limit items.
    #[serde(default, deserialize_with = "null_vec")]
    pub items: Vec<LimitRangeItem>,
}

/// One item of a LimitRange.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LimitRangeItem {
    /// Limit type (Container, Pod, PersistentVolumeClaim).
    pub type_: Text,
    /// Default limits.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub default: StrMap,
    /// Default requests.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub default_request: StrMap,
    /// Maximums.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub max: StrMap,
    /// Minimums.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub min: StrMap,
    /// Maximum limit/request ratios.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub max_limit_request_ratio: StrMap,
}

/// One NetworkPolicy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NetworkPolicy {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Creation time, as an RFC 3339 **string**.
    pub created_at: Text,
    /// Human-readable age.
    pub age: Text,
    /// Pod selector, as text.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub pod_selector: Text,
    /// Policy types.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub policy_types: Vec<Text>,
    /// Number of ingress rules.
    pub ingress_rule_count: i64,
    /// Number of egress rules.
    pub egress_rule_count: i64,
}

/// One ServiceAccount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Creation time, as an RFC 3339 **string**.
    pub created_at: Text,
    /// Human-readable age.
    pub age: Text,
    /// Number of secrets.
    pub secrets_count: i64,
    /// Number of image pull secrets.
    pub image_pull_secrets_count: i64,
    /// Automount the token (`*bool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}

common_meta_struct! {
    /// One PersistentVolume (CommonMeta keys inline).
    pub struct PersistentVolume: Kind::PersistentVolume {
        /// Capacity.
        pub capacity: Text,
        /// Phase.
        pub phase: Text,
        /// Storage class.
        #[serde(skip_serializing_if = "Text::is_empty")]
        pub storage_class: Text,
        /// Access modes.
        #[serde(
            default,
            deserialize_with = "null_vec",
            skip_serializing_if = "Vec::is_empty"
        )]
        pub access_modes: Vec<Text>,
        /// Reclaim policy.
        #[serde(skip_serializing_if = "Text::is_empty")]
        pub reclaim_policy: Text,
    }
}

common_meta_struct! {
    /// One PersistentVolumeClaim (CommonMeta keys inline).
    pub struct PersistentVolumeClaim: Kind::PersistentVolumeClaim {
        /// Phase.
        pub phase: Text,
        /// Bound volume.
        pub volume_name: Text,
        /// Storage class.
        #[serde(skip_serializing_if = "Text::is_empty")]
        pub storage_class: Text,
        /// Access modes.
        #[serde(
            default,
            deserialize_with = "null_vec",
            skip_serializing_if = "Vec::is_empty"
        )]
        pub access_modes: Vec<Text>,
        /// Requested capacity.
        #[serde(skip_serializing_if = "Text::is_empty")]
        pub requested_capacity: Text,
        /// Actual capacity.
        #[serde(skip_serializing_if = "Text::is_empty")]
        pub actual_capacity: Text,
    }
}

summary_meta!(Namespace, Kind::Namespace, cluster_scoped);

/// Implements [`ResourceMeta`] for the flat types that have `name` and `namespace` but no labels.
macro_rules! unlabelled_meta {
    ($ty:ty, $kind:path) => {
        impl ResourceMeta for $ty {
            fn kind() -> Kind {
                $kind
            }
            fn namespace(&self) -> &str {
                &self.namespace
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn labels(&self) -> &StrMap {
                empty_labels()
            }
        }
    };
}

unlabelled_meta!(ResourceQuota, Kind::ResourceQuota);
unlabelled_meta!(LimitRange, Kind::LimitRange);
unlabelled_meta!(NetworkPolicy, Kind::NetworkPolicy);
unlabelled_meta!(ServiceAccount, Kind::ServiceAccount);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(&Namespace::default(), &["resources", "status", "summary"]);
        assert_keys(&NamespaceSummary::default(), &["age", "createdAt", "name"]);
        assert_keys(&NamespaceStatus::default(), &["phase"]);
        assert_keys(
            &NamespaceResources::default(),
            &[
                "configMaps",
                "cronJobs",
                "daemonSets",
                "deployments",
                "ingresses",
                "jobs",
                "networkPolicies",
                "pods",
                "podsFailed",
                "podsPending",
                "podsRunning",
                "podsSucceeded",
                "pvcs",
                "replicaSets",
                "secrets",
                "serviceAccounts",
                "services",
                "statefulSets",
            ],
        );
        assert_keys(
            &ConfigMap::default(),
            &["created_at", "kind", "name", "uid"],
        );
        assert_keys(
            &Secret::default(),
            &["created_at", "kind", "name", "type", "uid"],
        );
        assert_keys(
            &ResourceQuota::default(),
            &["age", "createdAt", "name", "namespace"],
        );
        assert_keys(
            &LimitRange::default(),
            &["age", "createdAt", "items", "name", "namespace"],
        );
        assert_keys(&LimitRangeItem::default(), &["type"]);
        assert_keys(
            &NetworkPolicy::default(),
            &[
                "age",
                "createdAt",
                "egressRuleCount",
                "ingressRuleCount",
                "name",
                "namespace",
            ],
        );
        assert_keys(
            &ServiceAccount::default(),
            &[
                "age",
                "createdAt",
                "imagePullSecretsCount",
                "name",
                "namespace",
                "secretsCount",
            ],
        );
        assert_keys(
            &PersistentVolume::default(),
            &["capacity", "created_at", "kind", "name", "phase", "uid"],
        );
        assert_keys(
            &PersistentVolumeClaim::default(),
            &["created_at", "kind", "name", "phase", "uid", "volume_name"],
        );
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<Namespace>(
            r#"{"summary":null,"status":null,"resources":null,"quotas":null,"limitRanges":null,"labels":null,"annotations":null}"#,
        );
        assert_default::<NamespaceSummary>(r#"{}"#);
        assert_default::<NamespaceStatus>(r#"{}"#);
        assert_default::<NamespaceResources>(r#"{}"#);
        assert_default::<ConfigMap>(r#"{"labels":null,"created_at":null,"data_keys":null}"#);
        assert_default::<Secret>(r#"{"labels":null,"created_at":null,"data_keys":null}"#);
        assert_default::<ResourceQuota>(r#"{"scopes":null,"hard":null,"used":null}"#);
        assert_default::<LimitRange>(r#"{"items":null}"#);
        assert_default::<LimitRangeItem>(
            r#"{"default":null,"defaultRequest":null,"max":null,"min":null,"maxLimitRequestRatio":null}"#,
        );
        assert_default::<NetworkPolicy>(r#"{"policyTypes":null}"#);
        assert_default::<ServiceAccount>(r#"{"automountServiceAccountToken":null}"#);
        assert_default::<PersistentVolume>(
            r#"{"labels":null,"created_at":null,"access_modes":null}"#,
        );
        assert_default::<PersistentVolumeClaim>(
            r#"{"labels":null,"created_at":null,"access_modes":null}"#,
        );
    }

    #[test]
    fn config_meta() {
        let ns: Namespace = serde_json::from_str(
            r#"{"summary":{"name":"shop","createdAt":"2026-02-04T13:31:23+09:00","age":"1d"}}"#,
        )
        .unwrap();
        assert_eq!(
            (ns.namespace(), ns.name(), Namespace::kind_name()),
            ("", "shop", "Namespace")
        );
        assert_eq!(ns.summary.created_at, "2026-02-04T13:31:23+09:00");
        let q = ResourceQuota {
            name: "q".into(),
            namespace: "shop".into(),
            ..ResourceQuota::default()
        };
        assert_eq!(
            (q.namespace(), q.name(), q.labels().len(), q.uid()),
            ("shop", "q", 0, "")
        );
        assert!(std::ptr::eq(q.labels(), empty_labels()));
        let pv: PersistentVolume = serde_json::from_str(
            r#"{"uid":"u","name":"pv-1","kind":"PersistentVolume","labels":null}"#,
        )
        .unwrap();
        assert_eq!(
            (
                pv.namespace(),
                pv.name(),
                pv.uid(),
                PersistentVolume::kind_name()
            ),
            ("", "pv-1", "u", "PersistentVolume")
        );
        assert!(!serde_json::to_string(&pv).unwrap().contains("namespace"));
        assert_eq!(
            <ServiceAccount as ResourceMeta>::kind_name(),
            "ServiceAccount"
        );
    }
}
