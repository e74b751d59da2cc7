//! Pod types (reference §2.4).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use serde::{Deserialize, Serialize};

use super::serde_util::{is_false, null_default, null_vec};
use super::{
    Affinity, ContainerPort, EnvVar, GoTime, Kind, Probe, ResourceMeta, StrMap, Text, Toleration,
    VolumeMount, VolumeSpec,
};

/// One pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Pod {
    /// Identity, placement and age.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: PodSummary,
    /// Scheduling-related spec fields.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: PodSpec,
    /// Phase, readiness and usage.
    #[serde(default, deserialize_with = "null_default")]
    pub status: PodStatus,
    /// Regular containers (spec and status merged).
    #[serde(default, deserialize_with = "null_vec")]
    pub containers: Vec<PodContainerDetail>,
    /// Init containers.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_containers: Vec<PodContainerDetail>,
    /// Volumes.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<VolumeSpec>,
    /// Pod labels.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub labels: StrMap,
    /// Pod annotations.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub annotations: StrMap,
}

/// Identity, placement and age of a pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSummary {
    /// Pod name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Node the pod is scheduled on.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub node_name: Text,
    /// Kind of the controlling owner.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub owner_kind: Text,
    /// Name of the controlling owner.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub owner_name: Text,
    /// Creation time.
    pub created_at: GoTime,
    /// Human-readable age (e.g. `3d`).
    pub age: Text,
}

/// Scheduling-related pod spec fields (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    /// Restart policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub restart_policy: Text,
    /// Service account.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub service_account_name: Text,
    /// Node selector.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub node_selector: StrMap,
    /// Tolerations.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tolerations: Vec<Toleration>,
    /// Affinity rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// DNS policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub dns_policy: Text,
    /// Uses the host network.
    #[serde(skip_serializing_if = "is_false")]
    pub host_network: bool,
    /// Runtime class.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub runtime_class_name: Text,
    /// Priority class.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub priority_class_name: Text,
    /// Termination grace period (`*int64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// Image pull secret names.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub image_pull_secrets: Vec<Text>,
}

/// Pod phase, readiness and raw usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    /// Pod phase (Running, Pending, Succeeded, Failed, Unknown).
    pub phase: Text,
    /// Ready containers, e.g. `2/3`.
    pub ready: Text,
    /// Total container restarts.
    pub restarts: i32,
    /// QoS class.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub qos_class: Text,
    /// Primary pod IP.
    #[serde(rename = "podIP", skip_serializing_if = "Text::is_empty")]
    pub pod_ip: Text,
    /// All pod IPs.
    #[serde(
        rename = "podIPs",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pod_ips: Vec<Text>,
    /// Host IP.
    #[serde(rename = "hostIP", skip_serializing_if = "Text::is_empty")]
    pub host_ip: Text,
    /// Status reason.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub reason: Text,
    /// Status message.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub message: Text,
    /// Pod conditions.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<PodCondition>,
    /// Raw metrics-server CPU usage of the first container (e.g. `123456789n`).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub cpu_usage: Text,
    /// Raw metrics-server memory usage of the first container (e.g. `123456Ki`).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub memory_usage: Text,
}

/// One pod condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodCondition {
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
    /// Last transition, as an RFC 3339 **string**.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub last_transition_time: Text,
}

/// A pod container: spec merged with its status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodContainerDetail {
    /// Container name.
    pub name: Text,
    /// Image reference.
    pub image: Text,
    /// Image pull policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub image_pull_policy: Text,
    /// Entrypoint override.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub command: Vec<Text>,
    /// Arguments.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<Text>,
    /// Working directory.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub working_dir: Text,
    /// Exposed ports.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<ContainerPort>,
    /// Environment variables.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub envs: Vec<EnvVar>,
    /// Volume mounts.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volume_mounts: Vec<VolumeMount>,
    /// Resource requests.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub requests: StrMap,
    /// Resource limits.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub limits: StrMap,
    /// Liveness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Readiness probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// Startup probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// running, waiting or terminated.
    pub state: Text,
    /// Reason of the current state.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub state_reason: Text,
    /// Message of the current state.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub state_message: Text,
    /// Container is ready.
    pub ready: bool,
    /// Restart count.
    pub restart_count: i32,
    /// Reason of the last termination.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub last_termination_reason: Text,
    /// Message of the last termination.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub last_termination_message: Text,
    /// Time of the last termination, as an RFC 3339 **string**.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub last_termination_time: Text,
}

impl Pod {
    /// True when every container is ready: `status.ready` is `"ready/total"` with
    /// ready >= total; when it cannot be read, every container's own flag decides.
    pub fn all_containers_ready(&self) -> bool {
        let parsed = self.status.ready.split_once('/').and_then(|(a, b)| {
            Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
        });
        match parsed {
            Some((ready, total)) => ready >= total,
            None => !self.containers.is_empty() && self.containers.iter().all(|c| c.ready),
        }
    }

    /// True unless the pod is Succeeded, or Running with every container ready. A
    /// completed pod (Succeeded, `0/1`) is done, not broken.
    pub fn is_not_ready(&self) -> bool {
        match self.status.phase.as_str() {
            "Succeeded" => false,
            "Running" => !self.all_containers_ready(),
            _ => true,
        }
    }

    /// Namespace of the pod.
    pub fn namespace(&self) -> &str {
        &self.summary.namespace
    }

    /// Name of the pod.
    pub fn name(&self) -> &str {
        &self.summary.name
    }

    /// Node the pod is scheduled on (`""` when unscheduled).
    pub fn node_name(&self) -> &str {
        &self.summary.node_name
    }

    /// Pod phase (`Running`, `Pending`, ...).
    pub fn phase(&self) -> &str {
        &self.status.phase
    }

    /// Pod labels.
    pub fn labels(&self) -> &StrMap {
        &self.labels
    }
}

impl ResourceMeta for Pod {
    fn kind() -> Kind {
        Kind::Pod
    }
    fn namespace(&self) -> &str {
        Pod::namespace(self)
    }
    fn name(&self) -> &str {
        Pod::name(self)
    }
    fn labels(&self) -> &StrMap {
        Pod::labels(self)
    }
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
            &Pod::default(),
            &["containers", "spec", "status", "summary"],
        );
        assert_keys(
            &PodSummary::default(),
            &["age", "createdAt", "name", "namespace"],
        );
        assert_keys(&PodSpec::default(), &[]);
        assert_keys(&PodStatus::default(), &["phase", "ready", "restarts"]);
        assert_keys(&PodCondition::default(), &["status", "type"]);
        assert_keys(
            &PodContainerDetail::default(),
            &["image", "name", "ready", "restartCount", "state"],
        );
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<Pod>(
            r#"{"summary":null,"spec":null,"status":null,"containers":null,"initContainers":null,"volumes":null,"labels":null,"annotations":null}"#,
        );
        assert_default::<PodSummary>(r#"{"createdAt":null}"#);
        assert_default::<PodSpec>(
            r#"{"nodeSelector":null,"tolerations":null,"affinity":null,"terminationGracePeriodSeconds":null,"imagePullSecrets":null}"#,
        );
        assert_default::<PodStatus>(r#"{"podIPs":null,"conditions":null}"#);
        assert_default::<PodCondition>(r#"{}"#);
        assert_default::<PodContainerDetail>(
            r#"{"command":null,"args":null,"ports":null,"envs":null,"volumeMounts":null,"requests":null,"limits":null,"livenessProbe":null,"readinessProbe":null,"startupProbe":null}"#,
        );
    }

    #[test]
    fn pod_accessors() {
        let pod: Pod = serde_json::from_str(
            r#"{"summary":{"name":"web-1","namespace":"shop","nodeName":"n1","createdAt":"2026-02-04T04:31:23Z","age":"1d"},
                "status":{"phase":"Running","ready":"1/1","restarts":0},
                "labels":{"app":"web"}}"#,
        )
        .unwrap();
        assert_eq!(
            (pod.namespace(), pod.name(), pod.node_name(), pod.phase()),
            ("shop", "web-1", "n1", "Running")
        );
        assert_eq!(pod.labels().get("app").map(Text::as_str), Some("web"));
        assert_eq!(<Pod as ResourceMeta>::kind_name(), "Pod");
        assert_eq!(ResourceMeta::name(&pod), "web-1");
        assert_eq!(ResourceMeta::uid(&pod), "");
    }

    #[test]
    fn pod_condition_times_stay_strings() {
        let c: PodCondition = serde_json::from_str(
            r#"{"type":"Ready","status":"True","lastTransitionTime":"2026-02-04T13:31:23+09:00"}"#,
        )
        .unwrap();
        assert_eq!(c.last_transition_time, "2026-02-04T13:31:23+09:00");
        let c: PodCondition = serde_json::from_str(
            r#"{"type":"Ready","status":"True","lastTransitionTime":"not a time"}"#,
        )
        .unwrap();
        assert_eq!(c.last_transition_time, "not a time");
    }
}
