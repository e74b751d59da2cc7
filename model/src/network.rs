//! Network types: Service and Ingress (reference §2.7).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use serde::{Deserialize, Serialize};

use super::meta::summary_meta;
use super::serde_util::{is_false, is_zero_i32, is_zero_i64, null_default, null_vec};
use super::{GoTime, Kind, StrMap, Text};

/// One Service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    /// Type, ports and age.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: ServiceSummary,
    /// Service spec.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: ServiceSpec,
    /// Ports.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<ServicePort>,
    /// Pod selector.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "StrMap::is_empty"
    )]
    pub selector: StrMap,
    /// Addresses and traffic policies.
    #[serde(default, deserialize_with = "null_default")]
    pub network: ServiceNetwork,
    /// Endpoints behind the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backends: Option<ServiceBackends>,
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

/// Type, ports and age of a Service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSummary {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Service type.
    pub type_: Text,
    /// Creation time.
    pub created_at: GoTime,
    /// Human-readable age.
    pub age: Text,
    /// Number of ports.
    pub ports_count: i64,
    /// Has a pod selector.
    pub has_selector: bool,
    /// Display badges.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub badges: Vec<Text>,
    /// Cluster IP.
    #[serde(rename = "clusterIP", skip_serializing_if = "Text::is_empty")]
    pub cluster_ip: Text,
    /// External name (ExternalName services).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub external_name: Text,
}

/// Service spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Service type.
    pub type_: Text,
    /// Session affinity.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub session_affinity: Text,
    /// Session affinity timeout (`*int32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_timeout_seconds: Option<i32>,
    /// External traffic policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub external_traffic_policy: Text,
    /// Internal traffic policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub internal_traffic_policy: Text,
    /// IP families.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_families: Vec<Text>,
    /// IP family policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub ip_family_policy: Text,
    /// Cluster IPs.
    #[serde(
        rename = "clusterIPs",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cluster_ips: Vec<Text>,
    /// External IPs.
    #[serde(
        rename = "externalIPs",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_ips: Vec<Text>,
    /// Load balancer class.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub load_balancer_class: Text,
    /// Load balancer source ranges.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub load_balancer_source_ranges: Vec<Text>,
    /// Publish not-ready addresses.
    #[serde(skip_serializing_if = "is_false")]
    pub publish_not_ready_addresses: bool,
    /// Allocate node ports for LoadBalancer services (`*bool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocate_load_balancer_node_ports: Option<bool>,
    /// Health check node port.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub health_check_node_port: i32,
    /// External name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub external_name: Text,
}

/// One Service port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePort {
    /// Port name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub name: Text,
    /// Protocol.
    pub protocol: Text,
    /// Service port.
    pub port: i32,
    /// Target port (number or name, as text).
    pub target_port: Text,
    /// Node port.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub node_port: i32,
    /// Application protocol.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub app_protocol: Text,
}

/// Addresses and traffic policies of a Service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceNetwork {
    /// Cluster IPs.
    #[serde(
        rename = "clusterIPs",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cluster_ips: Vec<Text>,
    /// External IPs.
    #[serde(
        rename = "externalIPs",
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_ips: Vec<Text>,
    /// Load balancer ingress addresses.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub load_balancer_ingress: Vec<Text>,
    /// IP families.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_families: Vec<Text>,
    /// IP family policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub ip_family_policy: Text,
    /// External traffic policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub external_traffic_policy: Text,
    /// Internal traffic policy.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub internal_traffic_policy: Text,
}

/// Endpoints behind a Service (from EndpointSlices).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceBackends {
    /// Endpoint counts.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: BackendSummary,
    /// Endpoint ports.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ports: Vec<BackendPort>,
    /// Endpoints.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub endpoints: Vec<BackendEndpoint>,
}

/// Endpoint counts of a Service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendSummary {
    /// Ready endpoints.
    pub ready: i64,
    /// Not-ready endpoints.
    pub not_ready: i64,
    /// All endpoints.
    pub total: i64,
    /// Number of EndpointSlices.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub slices: i64,
    /// Last update time.
    pub updated: GoTime,
}

/// One endpoint port.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendPort {
    /// Port name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub name: Text,
    /// Port number.
    pub port: i32,
    /// Protocol.
    pub protocol: Text,
    /// Application protocol.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub app_protocol: Text,
}

/// One endpoint address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackendEndpoint {
    /// Address.
    pub address: Text,
    /// Endpoint is ready.
    pub ready: bool,
    /// Node hosting the endpoint.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub node_name: Text,
    /// Zone.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub zone: Text,
    /// Object behind the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<EndpointTargetRef>,
}

/// The object behind an endpoint (usually a Pod).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointTargetRef {
    /// Kind.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub kind: Text,
    /// Namespace.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub namespace: Text,
    /// Name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub name: Text,
    /// UID.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub uid: Text,
}

/// One Ingress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ingress {
    /// Hosts, paths and age.
    #[serde(default, deserialize_with = "null_default")]
    pub summary: IngressSummary,
    /// Ingress spec.
    #[serde(default, deserialize_with = "null_default")]
    pub spec: IngressSpec,
    /// Ingress status.
    #[serde(default, deserialize_with = "null_default")]
    pub status: IngressStatus,
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

/// Hosts, paths and age of an Ingress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressSummary {
    /// Name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Creation time.
    pub created_at: GoTime,
    /// Human-readable age.
    pub age: Text,
    /// Ingress class.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub ingress_class: Text,
    /// Number of hosts.
    pub hosts_count: i64,
    /// Number of paths.
    pub paths_count: i64,
    /// Has TLS.
    pub tls_enabled: bool,
    /// Hosts.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hosts: Vec<Text>,
}

/// Ingress spec (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressSpec {
    /// Ingress class name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub ingress_class_name: Text,
    /// Default backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<IngressBackend>,
    /// Rules.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rules: Vec<IngressRule>,
    /// TLS blocks.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tls: Vec<IngressTls>,
}

/// One Ingress rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngressRule {
    /// Host.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub host: Text,
    /// HTTP paths.
    #[serde(default, deserialize_with = "null_vec")]
    pub paths: Vec<IngressPath>,
}

/// One HTTP path of an Ingress rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressPath {
    /// Path.
    pub path: Text,
    /// Path type.
    pub path_type: Text,
    /// Backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<IngressBackend>,
}

/// One TLS block of an Ingress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressTls {
    /// Hosts.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hosts: Vec<Text>,
    /// TLS secret.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub secret_name: Text,
}

/// An Ingress backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngressBackend {
    /// `Service` or `Resource`.
    #[serde(rename = "type")]
    pub type_: Text,
    /// Service backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<IngressServiceBackend>,
    /// Resource backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<IngressResourceBackend>,
}

/// A Service backend of an Ingress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressServiceBackend {
    /// Service name.
    pub name: Text,
    /// Port name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub port_name: Text,
    /// Port number.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub port_number: i32,
}

/// A resource backend of an Ingress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressResourceBackend {
    /// API group.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub api_group: Text,
    /// Kind.
    pub kind: Text,
    /// Name.
    pub name: Text,
    /// Namespace.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub namespace: Text,
}

/// Ingress status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressStatus {
    /// Load balancer addresses.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub load_balancer: Vec<Text>,
}

summary_meta!(Service, Kind::Service);
summary_meta!(Ingress, Kind::Ingress);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};
    use crate::ResourceMeta;

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(&Service::default(), &["network", "spec", "summary"]);
        assert_keys(
            &ServiceSummary::default(),
            &[
                "age",
                "createdAt",
                "hasSelector",
                "name",
                "namespace",
                "portsCount",
                "type",
            ],
        );
        assert_keys(&ServiceSpec::default(), &["type"]);
        assert_keys(&ServicePort::default(), &["port", "protocol", "targetPort"]);
        assert_keys(&ServiceNetwork::default(), &[]);
        assert_keys(&ServiceBackends::default(), &["summary"]);
        assert_keys(
            &BackendSummary::default(),
            &["notReady", "ready", "total", "updated"],
        );
        assert_keys(&BackendPort::default(), &["port", "protocol"]);
        assert_keys(&BackendEndpoint::default(), &["address", "ready"]);
        assert_keys(&EndpointTargetRef::default(), &[]);
        assert_keys(&Ingress::default(), &["spec", "status", "summary"]);
        assert_keys(
            &IngressSummary::default(),
            &[
                "age",
                "createdAt",
                "hostsCount",
                "name",
                "namespace",
                "pathsCount",
                "tlsEnabled",
            ],
        );
        assert_keys(&IngressSpec::default(), &[]);
        assert_keys(&IngressRule::default(), &["paths"]);
        assert_keys(&IngressPath::default(), &["path", "pathType"]);
        assert_keys(&IngressTls::default(), &[]);
        assert_keys(&IngressBackend::default(), &["type"]);
        assert_keys(&IngressServiceBackend::default(), &["name"]);
        assert_keys(&IngressResourceBackend::default(), &["kind", "name"]);
        assert_keys(&IngressStatus::default(), &[]);
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<Service>(
            r#"{"summary":null,"spec":null,"ports":null,"selector":null,"network":null,"backends":null,"labels":null,"annotations":null}"#,
        );
        assert_default::<ServiceSummary>(r#"{"createdAt":null,"badges":null}"#);
        assert_default::<ServiceSpec>(
            r#"{"sessionAffinityTimeoutSeconds":null,"ipFamilies":null,"clusterIPs":null,"externalIPs":null,"loadBalancerSourceRanges":null,"allocateLoadBalancerNodePorts":null}"#,
        );
        assert_default::<ServicePort>(r#"{}"#);
        assert_default::<ServiceNetwork>(
            r#"{"clusterIPs":null,"externalIPs":null,"loadBalancerIngress":null,"ipFamilies":null}"#,
        );
        assert_default::<ServiceBackends>(r#"{"summary":null,"ports":null,"endpoints":null}"#);
        assert_default::<BackendSummary>(r#"{"updated":null}"#);
        assert_default::<BackendPort>(r#"{}"#);
        assert_default::<BackendEndpoint>(r#"{"targetRef":null}"#);
        assert_default::<EndpointTargetRef>(r#"{}"#);
        assert_default::<Ingress>(
            r#"{"summary":null,"spec":null,"status":null,"labels":null,"annotations":null}"#,
        );
        assert_default::<IngressSummary>(r#"{"createdAt":null,"hosts":null}"#);
        assert_default::<IngressSpec>(r#"{"defaultBackend":null,"rules":null,"tls":null}"#);
        assert_default::<IngressRule>(r#"{"paths":null}"#);
        assert_default::<IngressPath>(r#"{"backend":null}"#);
        assert_default::<IngressTls>(r#"{"hosts":null}"#);
        assert_default::<IngressBackend>(r#"{"service":null,"resource":null}"#);
        assert_default::<IngressServiceBackend>(r#"{}"#);
        assert_default::<IngressResourceBackend>(r#"{}"#);
        assert_default::<IngressStatus>(r#"{"loadBalancer":null}"#);
    }

    #[test]
    fn network_meta() {
        let mut s = Service::default();
        s.summary.name = "web".into();
        s.summary.namespace = "shop".into();
        assert_eq!(
            (s.namespace(), s.name(), Service::kind_name()),
            ("shop", "web", "Service")
        );
        let i: Ingress = serde_json::from_str(
            r#"{"summary":{"name":"shop","namespace":"shop"},"labels":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(
            (
                i.namespace(),
                i.name(),
                i.labels().len(),
                Ingress::kind_name()
            ),
            ("shop", "shop", 1, "Ingress")
        );
    }

    #[test]
    fn ingress_backend_pointers() {
        let b: IngressBackend = serde_json::from_str(
            r#"{"type":"Service","service":{"name":"web","portNumber":80},"resource":null}"#,
        )
        .unwrap();
        assert_eq!(b.service.as_ref().map(|s| s.port_number), Some(80));
        assert_eq!(b.resource, None);
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"type":"Service","service":{"name":"web","portNumber":80}}"#
        );
    }
}
