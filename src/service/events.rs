//! Which persisted events belong to an object: the `related` view of the events API and
//! the assistant's `related_events` tool.

use atlhyper_actors::model::{ClusterSnapshot, Kind};

use crate::db::events::{EventFilter, Involved};

/// The filter of the events related to `kind` `namespace/name`: a Deployment's own, its
/// ReplicaSets' and their Pods' (through the owner references of `snap`); a Node's, by
/// node; any other object's own.
pub fn related_filter(
    snap: Option<&ClusterSnapshot>,
    kind: &str,
    namespace: &str,
    name: &str,
) -> EventFilter {
    let mut filter = EventFilter::default();
    match kind.parse() {
        Ok(Kind::Deployment) => {
            filter.any_of = Some(deployment_family(snap, namespace, name));
        }
        Ok(Kind::Node) => filter.node = Some(name.to_owned()),
        _ => {
            filter.any_of = Some(vec![Involved {
                kind: kind.to_owned(),
                namespace: namespace.to_owned(),
                names: vec![name.to_owned()],
            }]);
        }
    }
    filter
}

/// The objects whose events belong to Deployment `ns/name`: itself, the ReplicaSets it
/// owns and their Pods, resolved through the owner references of `snap`.
fn deployment_family(snap: Option<&ClusterSnapshot>, ns: &str, name: &str) -> Vec<Involved> {
    let one = |kind: &str, names: Vec<String>| Involved {
        kind: kind.to_owned(),
        namespace: ns.to_owned(),
        names,
    };
    let mut out = vec![one("Deployment", vec![name.to_owned()])];
    let Some(snap) = snap else { return out };
    let rs: Vec<String> = snap
        .replicasets
        .iter()
        .filter(|r| r.namespace == ns && r.owner_kind == "Deployment" && r.owner_name == name)
        .map(|r| r.name.to_string())
        .collect();
    let pods: Vec<String> = snap
        .pods
        .iter()
        .filter(|p| {
            p.summary.namespace == ns
                && p.summary.owner_kind == "ReplicaSet"
                && rs.iter().any(|r| *r == p.summary.owner_name)
        })
        .map(|p| p.summary.name.to_string())
        .collect();
    out.push(one("ReplicaSet", rs));
    out.push(one("Pod", pods));
    out
}
