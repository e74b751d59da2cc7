//! SLO push types, the body of POST /agent/slo (reference §1.8, §2.9).
//!
//! Struct definitions generated from the reference tables; keys, `omitempty` and Go `null` handling follow §0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::serde_util::{is_false, null_default, null_vec};
use super::Text;

/// Ingress-controller metrics of one scrape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngressMetrics {
    /// Scrape time, unix seconds.
    pub timestamp: i64,
    /// Request counters.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub counters: Vec<IngressCounterMetric>,
    /// Latency histograms.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub histograms: Vec<IngressHistogramMetric>,
}

/// One cumulative request counter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngressCounterMetric {
    /// Host label (Traefik/Kong: the service key).
    pub host: Text,
    /// Ingress name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub ingress_name: Text,
    /// Ingress class.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub ingress_class: Text,
    /// Namespace.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub namespace: Text,
    /// Service.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub service: Text,
    /// TLS.
    #[serde(skip_serializing_if = "is_false")]
    pub tls: bool,
    /// HTTP method (empty: aggregated).
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub method: Text,
    /// HTTP status code.
    pub status: Text,
    /// `requests` or `errors`.
    pub metric_type: Text,
    /// Cumulative value.
    pub value: i64,
}

/// One cumulative latency histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngressHistogramMetric {
    /// Host label (Traefik/Kong: the service key).
    pub host: Text,
    /// Ingress name.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub ingress_name: Text,
    /// Namespace.
    #[serde(skip_serializing_if = "Text::is_empty")]
    pub namespace: Text,
    /// Cumulative counts per `le` bound in seconds (`+Inf` dropped).
    #[serde(default, deserialize_with = "null_default")]
    pub buckets: BTreeMap<Text, i64>,
    /// Sum of latencies, seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: i64,
}

/// Body of POST /agent/slo (Go `SLOPushRequest`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SloPushRequest {
    /// Cluster ID.
    pub cluster_id: Text,
    /// Scraped metrics.
    #[serde(default, deserialize_with = "null_default")]
    pub metrics: IngressMetrics,
    /// Route mappings.
    #[serde(
        default,
        deserialize_with = "null_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ingress_routes: Vec<IngressRouteInfo>,
}

/// Mapping of a service key to a domain and path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngressRouteInfo {
    /// Ingress or IngressRoute name.
    pub name: Text,
    /// Namespace.
    pub namespace: Text,
    /// Domain.
    pub domain: Text,
    /// Path prefix.
    pub path_prefix: Text,
    /// Service key, e.g. `ns-svc-port@kubernetes`.
    pub service_key: Text,
    /// Service name.
    pub service_name: Text,
    /// Service port.
    pub service_port: i64,
    /// TLS.
    pub tls: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::test_support::{assert_default, assert_keys};

    /// Keys written for a default value: exactly the non-omitempty ones.
    #[test]
    fn default_values_write_exactly_the_non_optional_keys() {
        assert_keys(&IngressMetrics::default(), &["timestamp"]);
        assert_keys(
            &IngressCounterMetric::default(),
            &["host", "metric_type", "status", "value"],
        );
        assert_keys(
            &IngressHistogramMetric::default(),
            &["buckets", "count", "host", "sum"],
        );
        assert_keys(&SloPushRequest::default(), &["cluster_id", "metrics"]);
        assert_keys(
            &IngressRouteInfo::default(),
            &[
                "domain",
                "name",
                "namespace",
                "path_prefix",
                "service_key",
                "service_name",
                "service_port",
                "tls",
            ],
        );
    }

    /// `{}` and an object with `null` in every list, map, struct and pointer field decode to the default.
    #[test]
    fn empty_and_null_objects_decode_to_default() {
        assert_default::<IngressMetrics>(r#"{"counters":null,"histograms":null}"#);
        assert_default::<IngressCounterMetric>(r#"{}"#);
        assert_default::<IngressHistogramMetric>(r#"{"buckets":null}"#);
        assert_default::<SloPushRequest>(r#"{"metrics":null,"ingress_routes":null}"#);
        assert_default::<IngressRouteInfo>(r#"{}"#);
    }

    #[test]
    fn histogram_buckets_keep_go_key_order() {
        let h: IngressHistogramMetric =
            serde_json::from_str(r#"{"host":"h","buckets":{"0.005":1,"0.01":2,"1":3,"10":5,"2.5":4},"sum":1.5,"count":5}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"host":"h","buckets":{"0.005":1,"0.01":2,"1":3,"10":5,"2.5":4},"sum":1.5,"count":5}"#
        );
    }
}
