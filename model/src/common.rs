//! Building blocks shared by several snapshot types (reference §2.3).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use serde::{Deserialize, Serialize};

use super::serde_util::{is_false, is_zero_i32, null_default, null_vec};
use super::{StrMap, Text};

/// Reference to another object (an Event's involved object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceRef {
    /// Kind of the referenced object.
    pub kind: Text,
    /// Namespace of the referenced object.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub namespace: Text,
    /// Name of the referenced object.
    pub name: Text,
    /// UID of the referenced object.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub uid: Text,
}

/// A port exposed by a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerPort {
    /// Port name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub name: Text,
    /// Port number inside the container.
    pub container_port: i32,
    /// TCP, UDP or SCTP.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub protocol: Text,
    /// Port bound on the host, if any.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub host_port: i32,
}

/// An environment variable of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    pub name: Text,
    /// Literal value.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub value: Text,
    /// Free-form description of the value source (e.g. `secretKeyRef: x/y`).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub value_from: Text,
}

/// A volume mounted into a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VolumeMount {
    /// Volume name.
    pub name: Text,
    /// Path inside the container.
    pub mount_path: Text,
    /// Sub-path within the volume.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub sub_path: Text,
    /// Mounted read-only.
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
}

/// A pod volume, summarised.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeSpec {
    /// Volume name.
    pub name: Text,
    /// Volume type (ConfigMap, Secret, EmptyDir, PVC, HostPath, ...).
    #[serde(rename = "type")]
    pub type_: Text,
    /// Source description (e.g. the ConfigMap name).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub source: Text,
}

/// A liveness, readiness or startup probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Probe {
    /// Probe type: httpGet, tcpSocket or exec.
    pub type_: Text,
    /// HTTP path (httpGet).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub path: Text,
    /// Port (httpGet, tcpSocket).
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub port: i32,
    /// Command line (exec), as one string.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub command: Text,
    /// Initial delay in seconds.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub initial_delay_seconds: i32,
    /// Period in seconds.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub period_seconds: i32,
    /// Timeout in seconds.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub timeout_seconds: i32,
    /// Success threshold.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub success_threshold: i32,
    /// Failure threshold.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub failure_threshold: i32,
}

/// A pod toleration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Toleration {
    /// Taint key.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub key: Text,
    /// Exists or Equal.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub operator: Text,
    /// Taint value.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub value: Text,
    /// Taint effect.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub effect: Text,
    /// How long the taint is tolerated (`*int64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// Pod affinity, as descriptive strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Affinity {
    /// Node affinity description.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub node_affinity: Text,
    /// Pod affinity description.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub pod_affinity: Text,
    /// Pod anti-affinity description.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub pod_anti_affinity: Text,
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact label matches.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub match_labels: StrMap,
    /// Set-based requirements.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub match_expressions: Vec<LabelExpr>,
}

/// One set-based label requirement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabelExpr {
    /// Label key.
    pub key: Text,
    /// In, NotIn, Exists or DoesNotExist.
    pub operator: Text,
    /// Values for In / NotIn.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<Text>,
}

/// A container of a workload's pod template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerDetail {
    /// Container name.
    pub name: Text,
    /// Image reference.
    pub image: Text,
    /// Image pull policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub image_pull_policy: Text,
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
    /// Resource requests (e.g. `cpu` → `100m`).
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
}

/// The pod template of a Deployment, StatefulSet or DaemonSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodTemplate {
    /// Template labels.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub labels: StrMap,
    /// Template annotations.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub annotations: StrMap,
    /// Containers (never omitted).
    #[serde(default, deserialize_with = "null_vec")]
    pub containers: Vec<ContainerDetail>,
    /// Volumes.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<VolumeSpec>,
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
    /// Runtime class.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub runtime_class_name: Text,
    /// Image pull secret names.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub image_pull_secrets: Vec<Text>,
    /// Uses the host network.
    #[serde(skip_serializing_if = "is_false")]
    pub host_network: bool,
    /// DNS policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub dns_policy: Text,
}

/// CPU and memory quantities (defined in `common.go`, unused by the snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceList {
    /// CPU quantity.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub cpu: Text,
    /// Memory quantity.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub memory: Text,
}

/// Requests and limits (defined in `common.go`, unused by the snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceRequirements {
    /// Requested resources.
    #[serde(default, deserialize_with = "null_default")]
    pub requests: ResourceList,
    /// Resource limits.
    #[serde(default, deserialize_with = "null_default")]
    pub limits: ResourceList,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(&ResourceRef::default(), &["kind", "name"]);
        assert_keys(&ContainerPort::default(), &["containerPort"]);
        assert_keys(&EnvVar::default(), &["name"]);
        assert_keys(&VolumeMount::default(), &["mountPath", "name"]);
        assert_keys(&VolumeSpec::default(), &["name", "type"]);
        assert_keys(&Probe::default(), &["type"]);
        assert_keys(&Toleration::default(), &[]);
        assert_keys(&Affinity::default(), &[]);
        assert_keys(&LabelSelector::default(), &[]);
        assert_keys(&LabelExpr::default(), &["key", "operator"]);
        assert_keys(&ContainerDetail::default(), &["image", "name"]);
        assert_keys(&PodTemplate::default(), &["containers"]);
        assert_keys(&ResourceList::default(), &[]);
        assert_keys(&ResourceRequirements::default(), &["limits", "requests"]);
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<ResourceRef>(r#"{}"#);
        assert_default::<ContainerPort>(r#"{}"#);
        assert_default::<EnvVar>(r#"{}"#);
        assert_default::<VolumeMount>(r#"{}"#);
        assert_default::<VolumeSpec>(r#"{}"#);
        assert_default::<Probe>(r#"{}"#);
        assert_default::<Toleration>(r#"{"tolerationSeconds":null}"#);
        assert_default::<Affinity>(r#"{}"#);
        assert_default::<LabelSelector>(r#"{"matchLabels":null,"matchExpressions":null}"#);
        assert_default::<LabelExpr>(r#"{"values":null}"#);
        assert_default::<ContainerDetail>(
            r#"{"ports":null,"envs":null,"volumeMounts":null,"requests":null,"limits":null,"livenessProbe":null,"readinessProbe":null,"startupProbe":null,"command":null,"args":null}"#,
        );
        assert_default::<PodTemplate>(
            r#"{"labels":null,"annotations":null,"containers":null,"volumes":null,"nodeSelector":null,"tolerations":null,"affinity":null,"imagePullSecrets":null}"#,
        );
        assert_default::<ResourceList>(r#"{}"#);
        assert_default::<ResourceRequirements>(r#"{"requests":null,"limits":null}"#);
    }
}
