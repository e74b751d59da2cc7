//! Workload types: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob (reference §2.6).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use serde::{Deserialize, Serialize};

use super::meta::{common_meta_struct, summary_meta};
use super::serde_util::{is_false, is_zero_i32, is_zero_i64, null_default, null_vec};
use super::{GoTime, Kind, LabelSelector, PodTemplate, StrMap, Text};

/// One Deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Deployment {
    /// Counts, strategy and age.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: DeploymentSummary,
    /// Deployment spec.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: DeploymentSpec,
    /// Pod template.
    #[serde(default, deserialize_with = "null_default")]
    pub template: PodTemplate,
    /// Deployment status.
    #[serde(default, deserialize_with = "null_default")]
    pub status: DeploymentStatus,
    /// Rollout state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<DeploymentRollout>,
    /// ReplicaSets owned by the Deployment.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub replica_sets: Vec<ReplicaSetBrief>,
    /// Annotations.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub annotations: StrMap,
    /// Labels.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub labels: StrMap,
}

/// Counts, strategy and age of a Deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentSummary {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Strategy type.
    pub strategy: Text,
    /// Desired replicas.
    pub replicas: i32,
    /// Updated replicas.
    pub updated: i32,
    /// Ready replicas.
    pub ready: i32,
    /// Available replicas.
    pub available: i32,
    /// Unavailable replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub unavailable: i32,
    /// Rollout paused.
    #[serde(skip_serializing_if = "is_false")]
    pub paused: bool,
    /// Creation time.
    pub created_at: GoTime,
    /// Human-readable age.
    pub age: Text,
    /// Selector, as text.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub selector: Text,
}

/// Deployment spec (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Desired replicas (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pod selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Update strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<DeploymentStrategy>,
    /// Minimum ready seconds.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub min_ready_seconds: i32,
    /// Revision history limit (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Progress deadline (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
}

/// Deployment update strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentStrategy {
    /// Recreate or RollingUpdate.
    pub type_: Text,
    /// Rolling update parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
}

/// Rolling update parameters of a Deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RollingUpdate {
    /// Max unavailable (int or percentage, as text).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub max_unavailable: Text,
    /// Max surge (int or percentage, as text).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub max_surge: Text,
}

/// Deployment status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// Current replicas.
    pub replicas: i32,
    /// Observed generation.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// Updated replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub updated_replicas: i32,
    /// Ready replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub ready_replicas: i32,
    /// Available replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub available_replicas: i32,
    /// Unavailable replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub unavailable_replicas: i32,
    /// Collision count (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// Conditions.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<DeploymentCondition>,
}

/// One Deployment condition (both times are always written).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeploymentCondition {
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
    /// Last update.
    pub last_update_time: GoTime,
    /// Last transition.
    pub last_transition_time: GoTime,
}

/// Rollout state of a Deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentRollout {
    /// Rollout phase.
    pub phase: Text,
    /// Message.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub message: Text,
    /// Display badges.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub badges: Vec<Text>,
}

/// A ReplicaSet owned by a Deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ReplicaSetBrief {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Deployment revision.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub revision: Text,
    /// Desired replicas.
    pub replicas: i32,
    /// Ready replicas.
    pub ready: i32,
    /// Available replicas.
    pub available: i32,
    /// Image of the first container.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub image: Text,
    /// Creation time.
    pub created_at: GoTime,
    /// Human-readable age.
    pub age: Text,
}

/// One StatefulSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatefulSet {
    /// Counts and age.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: StatefulSetSummary,
    /// StatefulSet spec.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: StatefulSetSpec,
    /// Pod template.
    #[serde(default, deserialize_with = "null_default")]
    pub template: PodTemplate,
    /// StatefulSet status.
    #[serde(default, deserialize_with = "null_default")]
    pub status: StatefulSetStatus,
    /// Rollout state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<WorkloadRollout>,
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

/// Counts and age of a StatefulSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatefulSetSummary {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Desired replicas.
    pub replicas: i32,
    /// Ready replicas.
    pub ready: i32,
    /// Current replicas.
    pub current: i32,
    /// Updated replicas.
    pub updated: i32,
    /// Available replicas.
    pub available: i32,
    /// Creation time.
    pub created_at: GoTime,
    /// Human-readable age.
    pub age: Text,
    /// Governing service.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub service_name: Text,
    /// Selector, as text.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub selector: Text,
}

/// StatefulSet spec (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatefulSetSpec {
    /// Desired replicas (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Governing service.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub service_name: Text,
    /// OrderedReady or Parallel.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub pod_management_policy: Text,
    /// Update strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
    /// Revision history limit (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Minimum ready seconds.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub min_ready_seconds: i32,
    /// PVC retention policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim_retention_policy: Option<PvcRetentionPolicy>,
    /// Pod selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Volume claim templates.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volume_claim_templates: Vec<VolumeClaimTemplate>,
}

/// PVC retention policy of a StatefulSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PvcRetentionPolicy {
    /// Retain or Delete, when the StatefulSet is deleted.
    pub when_deleted: Text,
    /// Retain or Delete, when the StatefulSet is scaled down.
    pub when_scaled: Text,
}

/// A volume claim template of a StatefulSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VolumeClaimTemplate {
    /// Template name.
    pub name: Text,
    /// Access modes.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub access_modes: Vec<Text>,
    /// Storage class.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub storage_class: Text,
    /// Requested storage.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub storage: Text,
    /// Volume selector.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub selector: StrMap,
}

/// Update strategy of a StatefulSet or DaemonSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UpdateStrategy {
    /// Strategy type.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub type_: Text,
    /// Partition (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// Max unavailable.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub max_unavailable: Text,
    /// Max surge.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub max_surge: Text,
}

/// StatefulSet status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StatefulSetStatus {
    /// Current replicas.
    pub replicas: i32,
    /// Observed generation.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// Ready replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub ready_replicas: i32,
    /// Current replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub current_replicas: i32,
    /// Updated replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub updated_replicas: i32,
    /// Available replicas.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub available_replicas: i32,
    /// Current revision.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub current_revision: Text,
    /// Update revision.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub update_revision: Text,
    /// Collision count (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// Conditions.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<WorkloadCondition>,
}

/// A StatefulSet or DaemonSet condition (times are strings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WorkloadCondition {
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
    /// Last update, as an RFC 3339 **string**.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub last_update_time: Text,
    /// Last transition, as an RFC 3339 **string**.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub last_transition_time: Text,
}

/// Rollout state of a StatefulSet or DaemonSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkloadRollout {
    /// Progressing, Complete, Degraded or Paused.
    pub phase: Text,
    /// Message.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub message: Text,
    /// Display badges.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub badges: Vec<Text>,
}

/// One DaemonSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DaemonSet {
    /// Counts and age.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: DaemonSetSummary,
    /// DaemonSet spec.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: DaemonSetSpec,
    /// Pod template.
    #[serde(default, deserialize_with = "null_default")]
    pub template: PodTemplate,
    /// DaemonSet status.
    #[serde(default, deserialize_with = "null_default")]
    pub status: DaemonSetStatus,
    /// Rollout state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<WorkloadRollout>,
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

/// Counts and age of a DaemonSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DaemonSetSummary {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Desired scheduled pods.
    pub desired_number_scheduled: i32,
    /// Currently scheduled pods.
    pub current_number_scheduled: i32,
    /// Ready pods.
    pub number_ready: i32,
    /// Available pods.
    pub number_available: i32,
    /// Unavailable pods.
    pub number_unavailable: i32,
    /// Misscheduled pods.
    pub number_misscheduled: i32,
    /// Updated scheduled pods.
    pub updated_number_scheduled: i32,
    /// Creation time.
    pub created_at: GoTime,
    /// Human-readable age.
    pub age: Text,
    /// Selector, as text.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub selector: Text,
}

/// DaemonSet spec (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DaemonSetSpec {
    /// Update strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
    /// Minimum ready seconds.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub min_ready_seconds: i32,
    /// Revision history limit (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Pod selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// DaemonSet status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DaemonSetStatus {
    /// Desired scheduled pods.
    pub desired_number_scheduled: i32,
    /// Currently scheduled pods.
    pub current_number_scheduled: i32,
    /// Ready pods.
    pub number_ready: i32,
    /// Misscheduled pods.
    pub number_misscheduled: i32,
    /// Observed generation.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// Available pods.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub number_available: i32,
    /// Unavailable pods.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub number_unavailable: i32,
    /// Updated scheduled pods.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub updated_number_scheduled: i32,
    /// Collision count (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// Conditions.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<WorkloadCondition>,
}

common_meta_struct! {
    /// One ReplicaSet (CommonMeta keys inline).
    pub struct ReplicaSet: Kind::ReplicaSet {
        /// Desired replicas.
        pub replicas: i32,
        /// Ready replicas.
        pub ready_replicas: i32,
        /// Available replicas.
        pub available_replicas: i32,
        /// Selector labels.
        #[serde(
            default,
            deserialize_with = "null_default",
            skip_serializing_if = "StrMap::is_empty"
        )]
        pub selector: StrMap,
    }
}

common_meta_struct! {
    /// One Job (CommonMeta keys inline).
    pub struct Job: Kind::Job {
        /// Active pods.
        pub active: i32,
        /// Succeeded pods.
        pub succeeded: i32,
        /// Failed pods.
        pub failed: i32,
        /// Job completed.
        pub complete: bool,
        /// Start time (`*time`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub start_time: Option<GoTime>,
        /// Completion time (`*time`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub finish_time: Option<GoTime>,
    }
}

common_meta_struct! {
    /// One CronJob (CommonMeta keys inline).
    pub struct CronJob: Kind::CronJob {
        /// Cron schedule.
        pub schedule: Text,
        /// Suspended.
        pub suspend: bool,
        /// Active jobs.
        pub active_jobs: i32,
        /// Last schedule time (`*time`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_schedule_time: Option<GoTime>,
        /// Last successful time (`*time`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_successful_time: Option<GoTime>,
    }
}

summary_meta!(Deployment, Kind::Deployment);
summary_meta!(StatefulSet, Kind::StatefulSet);
summary_meta!(DaemonSet, Kind::DaemonSet);

impl Deployment {
    /// Healthy per §2.2: `ready == replicas` and `replicas > 0` (from the summary).
    pub fn is_healthy(&self) -> bool {
        self.summary.replicas > 0 && self.summary.ready == self.summary.replicas
    }

    /// The replicas it asks for: `spec.replicas`, else `status.replicas`.
    pub fn desired_replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(self.status.replicas)
    }

    /// Desired replicas that are not available (at least the reported
    /// `unavailableReplicas`, never negative).
    pub fn unavailable_replicas(&self) -> i32 {
        let missing = self.desired_replicas() - self.status.available_replicas;
        self.status.unavailable_replicas.max(missing).max(0)
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
            &Deployment::default(),
            &["spec", "status", "summary", "template"],
        );
        assert_keys(
            &DeploymentSummary::default(),
            &[
                "age",
                "available",
                "createdAt",
                "name",
                "namespace",
                "ready",
                "replicas",
                "strategy",
                "updated",
            ],
        );
        assert_keys(&DeploymentSpec::default(), &[]);
        assert_keys(&DeploymentStrategy::default(), &["type"]);
        assert_keys(&RollingUpdate::default(), &[]);
        assert_keys(&DeploymentStatus::default(), &["replicas"]);
        assert_keys(
            &DeploymentCondition::default(),
            &["lastTransitionTime", "lastUpdateTime", "status", "type"],
        );
        assert_keys(&DeploymentRollout::default(), &["phase"]);
        assert_keys(
            &ReplicaSetBrief::default(),
            &[
                "age",
                "available",
                "createdAt",
                "name",
                "namespace",
                "ready",
                "replicas",
            ],
        );
        assert_keys(
            &StatefulSet::default(),
            &["spec", "status", "summary", "template"],
        );
        assert_keys(
            &StatefulSetSummary::default(),
            &[
                "age",
                "available",
                "createdAt",
                "current",
                "name",
                "namespace",
                "ready",
                "replicas",
                "updated",
            ],
        );
        assert_keys(&StatefulSetSpec::default(), &[]);
        assert_keys(
            &PvcRetentionPolicy::default(),
            &["whenDeleted", "whenScaled"],
        );
        assert_keys(&VolumeClaimTemplate::default(), &["name"]);
        assert_keys(&UpdateStrategy::default(), &[]);
        assert_keys(&StatefulSetStatus::default(), &["replicas"]);
        assert_keys(&WorkloadCondition::default(), &["status", "type"]);
        assert_keys(&WorkloadRollout::default(), &["phase"]);
        assert_keys(
            &DaemonSet::default(),
            &["spec", "status", "summary", "template"],
        );
        assert_keys(
            &DaemonSetSummary::default(),
            &[
                "age",
                "createdAt",
                "currentNumberScheduled",
                "desiredNumberScheduled",
                "name",
                "namespace",
                "numberAvailable",
                "numberMisscheduled",
                "numberReady",
                "numberUnavailable",
                "updatedNumberScheduled",
            ],
        );
        assert_keys(&DaemonSetSpec::default(), &[]);
        assert_keys(
            &DaemonSetStatus::default(),
            &[
                "currentNumberScheduled",
                "desiredNumberScheduled",
                "numberMisscheduled",
                "numberReady",
            ],
        );
        assert_keys(
            &ReplicaSet::default(),
            &[
                "available_replicas",
                "created_at",
                "kind",
                "name",
                "ready_replicas",
                "replicas",
                "uid",
            ],
        );
        assert_keys(
            &Job::default(),
            &[
                "active",
                "complete",
                "created_at",
                "failed",
                "kind",
                "name",
                "succeeded",
                "uid",
            ],
        );
        assert_keys(
            &CronJob::default(),
            &[
                "active_jobs",
                "created_at",
                "kind",
                "name",
                "schedule",
                "suspend",
                "uid",
            ],
        );
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<Deployment>(
            r#"{"summary":null,"spec":null,"template":null,"status":null,"rollout":null,"replicaSets":null,"annotations":null,"labels":null}"#,
        );
        assert_default::<DeploymentSummary>(r#"{"createdAt":null}"#);
        assert_default::<DeploymentSpec>(
            r#"{"replicas":null,"selector":null,"strategy":null,"revisionHistoryLimit":null,"progressDeadlineSeconds":null}"#,
        );
        assert_default::<DeploymentStrategy>(r#"{"rollingUpdate":null}"#);
        assert_default::<RollingUpdate>(r#"{}"#);
        assert_default::<DeploymentStatus>(r#"{"collisionCount":null,"conditions":null}"#);
        assert_default::<DeploymentCondition>(
            r#"{"lastUpdateTime":null,"lastTransitionTime":null}"#,
        );
        assert_default::<DeploymentRollout>(r#"{"badges":null}"#);
        assert_default::<ReplicaSetBrief>(r#"{"createdAt":null}"#);
        assert_default::<StatefulSet>(
            r#"{"summary":null,"spec":null,"template":null,"status":null,"rollout":null,"labels":null,"annotations":null}"#,
        );
        assert_default::<StatefulSetSummary>(r#"{"createdAt":null}"#);
        assert_default::<StatefulSetSpec>(
            r#"{"replicas":null,"updateStrategy":null,"revisionHistoryLimit":null,"persistentVolumeClaimRetentionPolicy":null,"selector":null,"volumeClaimTemplates":null}"#,
        );
        assert_default::<PvcRetentionPolicy>(r#"{}"#);
        assert_default::<VolumeClaimTemplate>(r#"{"accessModes":null,"selector":null}"#);
        assert_default::<UpdateStrategy>(r#"{"partition":null}"#);
        assert_default::<StatefulSetStatus>(r#"{"collisionCount":null,"conditions":null}"#);
        assert_default::<WorkloadCondition>(r#"{}"#);
        assert_default::<WorkloadRollout>(r#"{"badges":null}"#);
        assert_default::<DaemonSet>(
            r#"{"summary":null,"spec":null,"template":null,"status":null,"rollout":null,"labels":null,"annotations":null}"#,
        );
        assert_default::<DaemonSetSummary>(r#"{"createdAt":null}"#);
        assert_default::<DaemonSetSpec>(
            r#"{"updateStrategy":null,"revisionHistoryLimit":null,"selector":null}"#,
        );
        assert_default::<DaemonSetStatus>(r#"{"collisionCount":null,"conditions":null}"#);
        assert_default::<ReplicaSet>(r#"{"labels":null,"created_at":null,"selector":null}"#);
        assert_default::<Job>(
            r#"{"labels":null,"created_at":null,"start_time":null,"finish_time":null}"#,
        );
        assert_default::<CronJob>(
            r#"{"labels":null,"created_at":null,"last_schedule_time":null,"last_successful_time":null}"#,
        );
    }

    #[test]
    fn workload_meta() {
        let mut d = Deployment::default();
        d.summary.name = "web".into();
        d.summary.namespace = "shop".into();
        d.labels.insert("app", "web");
        assert_eq!(
            (d.namespace(), d.name(), d.labels().len()),
            ("shop", "web", 1)
        );
        assert!(!d.is_healthy());
        d.summary.replicas = 2;
        d.summary.ready = 2;
        assert!(d.is_healthy());
        assert_eq!(<StatefulSet as ResourceMeta>::kind_name(), "StatefulSet");
        assert_eq!(<DaemonSet as ResourceMeta>::kind_name(), "DaemonSet");
        let j: Job = serde_json::from_str(
            r#"{"uid":"u1","name":"backup","namespace":"ops","kind":"Job","created_at":"2026-02-04T04:31:23Z","start_time":null}"#,
        )
        .unwrap();
        assert_eq!(
            (j.uid(), j.namespace(), j.name(), Job::kind_name()),
            ("u1", "ops", "backup", "Job")
        );
        assert_eq!(j.start_time, None);
        assert!(!serde_json::to_string(&j).unwrap().contains("start_time"));
    }

    #[test]
    fn pointer_fields_round_trip() {
        let spec: DeploymentSpec = serde_json::from_str(
            r#"{"replicas":0,"strategy":{"type":"RollingUpdate","rollingUpdate":null},"selector":null}"#,
        )
        .unwrap();
        assert_eq!(spec.replicas, Some(0));
        assert_eq!(spec.selector, None);
        assert_eq!(
            spec.strategy.as_ref().map(|s| s.rolling_update.is_none()),
            Some(true)
        );
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"replicas":0,"strategy":{"type":"RollingUpdate"}}"#
        );
    }
}
