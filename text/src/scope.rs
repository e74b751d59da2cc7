//! Which resources a rule covers: a cluster, a namespace and labels, each optional.

use std::collections::BTreeMap;

use atlhyper_model::StrMap;
use serde_json::Value;

/// A rule's scope. An empty scope covers every resource of every cluster.
///
/// - `namespace` applies to namespaced resources: pods, deployments, and events through
///   their involved object's namespace. Nodes are cluster-scoped and ignore it (a rule for
///   `node.cpu_usage` with a namespace still covers every node).
/// - `labels` must all be equal on the resource: a pod's, deployment's or node's own
///   labels; for an event, the labels of its involved object when that object is in the
///   snapshot (otherwise the event does not match a rule that requires labels).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only this cluster, when set.
    pub cluster_id: Option<String>,
    /// Only this namespace, when set.
    pub namespace: Option<String>,
    /// Labels that must all be present with these values.
    pub labels: BTreeMap<String, String>,
}

impl Scope {
    /// Validates the scope fields of a rule (as stored: owned strings). Empty strings
    /// count as absent.
    pub fn parse(
        cluster_id: Option<String>,
        namespace: Option<String>,
        labels: Option<&Value>,
    ) -> Result<Scope, String> {
        let cluster_id = cluster_id.filter(|c| !c.trim().is_empty());
        let namespace = match namespace.filter(|n| !n.is_empty()) {
            Some(ns) if !is_dns_label(&ns) => {
                return Err(format!(
                    "namespace: invalid namespace {ns:?} (lowercase letters, digits and '-', at most 63 characters)"
                ))
            }
            ns => ns,
        };
        let labels = match labels {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(obj)) => {
                let mut out = BTreeMap::new();
                for (k, v) in obj {
                    if k.is_empty() {
                        return Err("labels: keys must not be empty".to_owned());
                    }
                    let v = v
                        .as_str()
                        .ok_or_else(|| format!("labels.{k}: must be a string"))?;
                    out.insert(k.clone(), v.to_owned());
                }
                out
            }
            Some(_) => {
                return Err("labels: must be an object of string values".to_owned());
            }
        };
        Ok(Scope {
            cluster_id,
            namespace,
            labels,
        })
    }

    /// True when the rule covers this cluster.
    pub fn matches_cluster(&self, cluster: &str) -> bool {
        self.cluster_id.as_deref().is_none_or(|c| c == cluster)
    }

    /// True when the rule covers this namespace (`""` for cluster-scoped objects only
    /// matches a scope without a namespace).
    pub fn matches_namespace(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace)
    }

    /// True when every scope label is present on the resource with the same value.
    pub fn matches_labels(&self, labels: &StrMap) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| labels.get(k.as_str()).is_some_and(|have| have == v))
    }

    /// The labels as a JSON object, as stored and returned by the API.
    pub fn labels_json(&self) -> Value {
        Value::Object(
            self.labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }
}

/// An RFC 1123 label, the syntax of a Kubernetes namespace name.
fn is_dns_label(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter().all(|&c| alnum(c) || c == b'-')
        && b.first().copied().is_some_and(alnum)
        && b.last().copied().is_some_and(alnum)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_matches() {
        let s = Scope::parse(
            Some("prod".into()),
            Some("shop".into()),
            Some(&json!({"app": "web", "tier": ""})),
        )
        .unwrap();
        assert_eq!(s.cluster_id.as_deref(), Some("prod"));
        assert_eq!(s.namespace.as_deref(), Some("shop"));
        assert!(s.matches_cluster("prod") && !s.matches_cluster("dev"));
        assert!(
            s.matches_namespace("shop")
                && !s.matches_namespace("")
                && !s.matches_namespace("kube-system")
        );
        let labels = |v: Value| -> StrMap { serde_json::from_value(v).unwrap() };
        assert!(s.matches_labels(&labels(json!({"app": "web", "tier": "", "x": "y"}))));
        assert!(!s.matches_labels(&labels(json!({"app": "web"}))));
        assert!(!s.matches_labels(&labels(json!({"app": "api", "tier": ""}))));
        assert_eq!(s.labels_json(), json!({"app": "web", "tier": ""}));
    }

    #[test]
    fn empty_scope_covers_everything() {
        for s in [
            Scope::parse(None, None, None).unwrap(),
            Scope::parse(Some(" ".into()), Some(String::new()), Some(&Value::Null)).unwrap(),
            Scope::parse(None, None, Some(&json!({}))).unwrap(),
        ] {
            assert_eq!(s, Scope::default());
            assert!(
                s.matches_cluster("any") && s.matches_namespace("") && s.matches_namespace("ns")
            );
            assert!(s.matches_labels(&StrMap::new()));
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            Scope::parse(None, Some("Shop".into()), None).unwrap_err(),
            "namespace: invalid namespace \"Shop\" (lowercase letters, digits and '-', at most 63 characters)"
        );
        assert!(Scope::parse(None, Some("-a".into()), None).is_err());
        assert!(Scope::parse(None, Some("a".repeat(64)), None).is_err());
        assert!(Scope::parse(None, Some("kube-system".into()), None).is_ok());
        assert_eq!(
            Scope::parse(None, None, Some(&json!(["app"]))).unwrap_err(),
            "labels: must be an object of string values"
        );
        assert_eq!(
            Scope::parse(None, None, Some(&json!({"app": 1}))).unwrap_err(),
            "labels.app: must be a string"
        );
        assert_eq!(
            Scope::parse(None, None, Some(&json!({"": "x"}))).unwrap_err(),
            "labels: keys must not be empty"
        );
    }
}
