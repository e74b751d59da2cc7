//! The details shown with an alert, looked up in the latest snapshot (reference §7.1
//! "Enrichment"): a pod's phase, restarts, readiness, node and Deployment; a node's
//! readiness, other true conditions and cordon; a Deployment's ready replicas; a
//! ReplicaSet's Deployment.

use std::cell::OnceCell;
use std::collections::HashMap;

use atlhyper_actors::model::{
    ClusterSnapshot, Deployment, Kind, Node, Pod, ReplicaSet, ResourceMeta, StrMap,
};

use crate::notify::message::ResourceId;

/// The details of one resource, in display order; empty when the snapshot does not have
/// it or its kind has no details.
pub fn enrich(snap: &ClusterSnapshot, r: &ResourceId) -> Vec<(String, String)> {
    Lookup::new(snap).enrich(r)
}

/// `(namespace, name)`.
type Key<'a> = (&'a str, &'a str);

/// Finds resources of one snapshot by name. Each index is built on first use, so an
/// evaluation that never needs, say, the pods never hashes 5,000 of them.
pub(super) struct Lookup<'a> {
    snap: &'a ClusterSnapshot,
    pods: OnceCell<HashMap<Key<'a>, &'a Pod>>,
    deployments: OnceCell<HashMap<Key<'a>, &'a Deployment>>,
    replicasets: OnceCell<HashMap<Key<'a>, &'a ReplicaSet>>,
    nodes: OnceCell<HashMap<&'a str, &'a Node>>,
}

/// Indexes a list by `(namespace, name)`; the first of duplicates wins, as a linear
/// search would.
fn index<T: ResourceMeta>(items: &[T]) -> HashMap<Key<'_>, &T> {
    let mut map = HashMap::with_capacity(items.len());
    for item in items {
        map.entry((item.namespace(), item.name())).or_insert(item);
    }
    map
}

impl<'a> Lookup<'a> {
    pub(super) fn new(snap: &'a ClusterSnapshot) -> Self {
        Lookup {
            snap,
            pods: OnceCell::new(),
            deployments: OnceCell::new(),
            replicasets: OnceCell::new(),
            nodes: OnceCell::new(),
        }
    }

    pub(super) fn pod(&self, ns: &str, name: &str) -> Option<&'a Pod> {
        let map = self.pods.get_or_init(|| index(&self.snap.pods));
        map.get(&(ns, name)).copied()
    }

    pub(super) fn deployment(&self, ns: &str, name: &str) -> Option<&'a Deployment> {
        let map = self
            .deployments
            .get_or_init(|| index(&self.snap.deployments));
        map.get(&(ns, name)).copied()
    }

    fn replicaset(&self, ns: &str, name: &str) -> Option<&'a ReplicaSet> {
        let map = self
            .replicasets
            .get_or_init(|| index(&self.snap.replicasets));
        map.get(&(ns, name)).copied()
    }

    pub(super) fn node(&self, name: &str) -> Option<&'a Node> {
        let map = self.nodes.get_or_init(|| {
            let mut map = HashMap::with_capacity(self.snap.nodes.len());
            for n in &self.snap.nodes {
                map.entry(n.summary.name.as_str()).or_insert(n);
            }
            map
        });
        map.get(name).copied()
    }

    /// The labels of a resource of the snapshot, by kind; `None` when it is not there, or
    /// its kind is one label scopes do not look at.
    pub(super) fn labels_of(&self, r: &ResourceId) -> Option<&'a StrMap> {
        let kind = Kind::from_kind_name(&r.kind)?;
        // A cluster-scoped object is found without a namespace, whatever the id carries.
        let ns = if kind.is_namespaced() {
            r.namespace.as_str()
        } else {
            ""
        };
        let name = r.name.as_str();
        match kind {
            // The kinds most alerts are about: through the indexes.
            Kind::Pod => self.pod(ns, name).map(|p| &p.labels),
            Kind::Deployment => self.deployment(ns, name).map(|d| &d.labels),
            Kind::ReplicaSet => self.replicaset(ns, name).map(|x| &x.labels),
            Kind::Node => self.node(name).map(|n| &n.labels),
            // Never matched by label scopes (an event about one is dropped by such a rule).
            Kind::ConfigMap
            | Kind::Secret
            | Kind::ResourceQuota
            | Kind::LimitRange
            | Kind::NetworkPolicy
            | Kind::ServiceAccount
            | Kind::PersistentVolume
            | Kind::Event => None,
            _ => kind.find(self.snap, ns, name).map(|x| x.labels()),
        }
    }

    /// See [`enrich`].
    pub(super) fn enrich(&self, r: &ResourceId) -> Vec<(String, String)> {
        let (ns, name) = (r.namespace.as_str(), r.name.as_str());
        match Kind::from_kind_name(&r.kind) {
            Some(Kind::Pod) => self.pod(ns, name).map(|p| self.pod_details(p)),
            Some(Kind::Node) => self.node(name).map(node_details),
            Some(Kind::Deployment) => self.deployment(ns, name).map(deployment_details),
            Some(Kind::ReplicaSet) => self
                .deployment_of_replicaset(ns, name)
                .map(|d| vec![("deployment".to_owned(), d.to_owned())]),
            _ => None,
        }
        .unwrap_or_default()
    }

    /// Phase, restarts, ready, node, and the Deployment when a ReplicaSet owns the pod.
    pub(super) fn pod_details(&self, p: &Pod) -> Vec<(String, String)> {
        let mut d = vec![
            ("phase".to_owned(), p.status.phase.to_string()),
            ("restarts".to_owned(), p.status.restarts.to_string()),
            ("ready".to_owned(), p.status.ready.to_string()),
        ];
        if !p.summary.node_name.is_empty() {
            d.push(("node".to_owned(), p.summary.node_name.to_string()));
        }
        if p.summary.owner_kind == "ReplicaSet" {
            if let Some(dep) = self.deployment_of_replicaset(p.namespace(), &p.summary.owner_name) {
                d.push(("deployment".to_owned(), dep.to_owned()));
            }
        }
        d
    }

    /// The Deployment that owns a ReplicaSet. The ReplicaSet's own owner reference decides
    /// when the snapshot carries it; otherwise the Deployment of this namespace whose name
    /// followed by `-` is the longest prefix of the ReplicaSet's name (reference §7.1; the
    /// longest, so that `web-api-7d9f` belongs to `web-api`, not `web`).
    fn deployment_of_replicaset(&self, ns: &str, rs: &str) -> Option<&'a str> {
        if let Some(x) = self.replicaset(ns, rs) {
            if !x.owner_kind.is_empty() || !x.owner_name.is_empty() {
                return (x.owner_kind == "Deployment" && !x.owner_name.is_empty())
                    .then_some(x.owner_name.as_str());
            }
        }
        rs.rmatch_indices('-').find_map(|(i, _)| {
            let prefix = rs.get(..i)?;
            self.deployment(ns, prefix).map(|d| d.summary.name.as_str())
        })
    }
}

/// `ready` yes/no, the other conditions whose status is True, and `unschedulable` when
/// cordoned.
pub(super) fn node_details(n: &Node) -> Vec<(String, String)> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let mut d = vec![("ready".to_owned(), yes_no(n.ready_condition()))];
    let troubles: Vec<&str> = n
        .conditions
        .iter()
        .filter(|c| c.type_ != "Ready" && c.status == "True")
        .map(|c| c.type_.as_str())
        .collect();
    if !troubles.is_empty() {
        d.push(("conditions".to_owned(), troubles.join(", ")));
    }
    if n.spec.unschedulable {
        d.push(("unschedulable".to_owned(), "yes".to_owned()));
    }
    d
}

/// `ready` as `readyReplicas/replicas`.
pub(super) fn deployment_details(dep: &Deployment) -> Vec<(String, String)> {
    vec![(
        "ready".to_owned(),
        format!("{}/{}", dep.status.ready_replicas, dep.desired_replicas()),
    )]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    fn id(kind: &str, ns: &str, name: &str) -> ResourceId {
        ResourceId {
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn snap() -> ClusterSnapshot {
        serde_json::from_value(json!({
            "cluster_id": "c1",
            "pods": [
                {"summary": {"name": "web-api-7d9f-x1", "namespace": "shop", "nodeName": "n1",
                             "ownerKind": "ReplicaSet", "ownerName": "web-api-7d9f"},
                 "status": {"phase": "Running", "ready": "1/2", "restarts": 4}},
                {"summary": {"name": "solo", "namespace": "shop"},
                 "status": {"phase": "Pending", "ready": "0/1", "restarts": 0}},
                {"summary": {"name": "rollout-abc-1", "namespace": "shop",
                             "ownerKind": "ReplicaSet", "ownerName": "rollout-abc"},
                 "status": {"phase": "Running", "ready": "1/1"}}
            ],
            "deployments": [
                {"summary": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 3},
                 "status": {"replicas": 3, "readyReplicas": 3}},
                {"summary": {"name": "web-api", "namespace": "shop"}, "spec": {"replicas": 2},
                 "status": {"replicas": 3, "readyReplicas": 1}},
                {"summary": {"name": "web-api", "namespace": "other"},
                 "status": {"replicas": 4, "readyReplicas": 4}},
                {"summary": {"name": "rollout", "namespace": "shop"}}
            ],
            "replicasets": [
                {"name": "rollout-abc", "namespace": "shop", "owner_kind": "Rollout", "owner_name": "rollout"},
                {"name": "custom-name", "namespace": "shop", "owner_kind": "Deployment", "owner_name": "web"}
            ],
            "nodes": [
                {"summary": {"name": "n1", "ready": "True", "schedulable": true},
                 "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "DiskPressure", "status": "True"},
                    {"type": "PIDPressure", "status": "True"},
                    {"type": "Ready", "status": "False"}
                 ],
                 "spec": {"unschedulable": true}},
                {"summary": {"name": "n2", "ready": "True", "schedulable": true}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn pod_details_include_its_deployment() {
        let s = snap();
        assert_eq!(
            enrich(&s, &id("Pod", "shop", "web-api-7d9f-x1")),
            pairs(&[
                ("phase", "Running"),
                ("restarts", "4"),
                ("ready", "1/2"),
                ("node", "n1"),
                ("deployment", "web-api"),
            ])
        );
        assert_eq!(
            enrich(&s, &id("Pod", "shop", "solo")),
            pairs(&[("phase", "Pending"), ("restarts", "0"), ("ready", "0/1")])
        );
        // A ReplicaSet owned by something else has no Deployment, even when a name fits.
        assert!(!enrich(&s, &id("Pod", "shop", "rollout-abc-1"))
            .iter()
            .any(|(k, _)| k == "deployment"));
        assert!(enrich(&s, &id("Pod", "shop", "gone")).is_empty());
        assert!(enrich(&s, &id("Pod", "other", "solo")).is_empty());
    }

    #[test]
    fn replicaset_details_use_owner_then_longest_prefix() {
        let s = snap();
        let dep = |ns, rs| enrich(&s, &id("ReplicaSet", ns, rs));
        assert_eq!(
            dep("shop", "web-api-7d9f"),
            pairs(&[("deployment", "web-api")])
        );
        assert_eq!(dep("shop", "web-5c4b"), pairs(&[("deployment", "web")]));
        assert_eq!(dep("shop", "custom-name"), pairs(&[("deployment", "web")]));
        assert_eq!(
            dep("other", "web-api-1"),
            pairs(&[("deployment", "web-api")])
        );
        assert!(dep("shop", "rollout-abc").is_empty());
        assert!(dep("shop", "nothing-1").is_empty());
        assert!(
            dep("shop", "web").is_empty(),
            "a name must be followed by '-'"
        );
    }

    #[test]
    fn node_and_deployment_details() {
        let s = snap();
        assert_eq!(
            enrich(&s, &id("Node", "", "n1")),
            pairs(&[
                ("ready", "no"),
                ("conditions", "DiskPressure, PIDPressure"),
                ("unschedulable", "yes"),
            ])
        );
        assert_eq!(
            enrich(&s, &id("Node", "", "n2")),
            pairs(&[("ready", "yes")])
        );
        assert_eq!(
            enrich(&s, &id("Deployment", "shop", "web-api")),
            pairs(&[("ready", "1/2")])
        );
        assert_eq!(
            enrich(&s, &id("Deployment", "other", "web-api")),
            pairs(&[("ready", "4/4")])
        );
        assert!(enrich(&s, &id("Service", "shop", "web")).is_empty());
        assert!(enrich(&s, &id("Cluster", "", "c1")).is_empty());
    }

    #[test]
    fn labels_are_found_by_kind() {
        let s: ClusterSnapshot = serde_json::from_value(json!({
            "pods": [{"summary": {"name": "p", "namespace": "a"}, "labels": {"app": "p"}}],
            "nodes": [{"summary": {"name": "n"}, "labels": {"role": "w"}}],
            "statefulsets": [{"summary": {"name": "db", "namespace": "a"}, "labels": {"app": "db"}}],
            "namespaces": [{"summary": {"name": "a"}, "labels": {"team": "t"}}],
            "pvcs": [{"name": "data", "namespace": "a", "labels": {"app": "pvc"}}],
            "pvs": [{"name": "pv-1", "labels": {"app": "pv"}}]
        }))
        .unwrap();
        let l = Lookup::new(&s);
        let app = |r: &ResourceId| {
            l.labels_of(r).map(|m| {
                m.values()
                    .map(atlhyper_actors::model::Text::to_string)
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(app(&id("Pod", "a", "p")), Some(vec!["p".to_owned()]));
        assert_eq!(app(&id("Node", "", "n")), Some(vec!["w".to_owned()]));
        assert_eq!(
            app(&id("StatefulSet", "a", "db")),
            Some(vec!["db".to_owned()])
        );
        assert_eq!(app(&id("Pod", "b", "p")), None);
        assert_eq!(app(&id("Widget", "a", "p")), None);
        // A cluster-scoped kind is found whatever namespace the id carries.
        assert_eq!(app(&id("Namespace", "a", "a")), Some(vec!["t".to_owned()]));
        assert_eq!(
            app(&id("PersistentVolumeClaim", "a", "data")),
            Some(vec!["pvc".to_owned()])
        );
        // Kinds label scopes do not look at, and names in another case.
        assert_eq!(app(&id("PersistentVolume", "", "pv-1")), None);
        assert_eq!(app(&id("pod", "a", "p")), None);
    }
}
