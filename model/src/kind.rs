//! The one home of the Kubernetes kinds a [`ClusterSnapshot`] carries: each kind's names
//! (Kubernetes kind, snapshot JSON key, resources-API plural), whether it is namespaced,
//! and the dispatch from a kind to the snapshot list of that kind.
//!
//! Everything that turns a kind name into a list, a URL or a scope goes through [`Kind`],
//! so that adding a kind, or correcting a scope, is one line of [`TABLE`].

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ClusterSnapshot, ResourceMeta};

/// A resource kind of the [`ClusterSnapshot`], one per list it carries.
///
/// The variants are in the snapshot's field order, which is also the order the resources API
/// lists them in its `unknown_kind` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `pods`.
    Pod,
    /// `deployments`.
    Deployment,
    /// `statefulsets`.
    StatefulSet,
    /// `daemonsets`.
    DaemonSet,
    /// `replicasets`.
    ReplicaSet,
    /// `jobs`.
    Job,
    /// `cronjobs`.
    CronJob,
    /// `services`.
    Service,
    /// `ingresses`.
    Ingress,
    /// `namespaces` (cluster-scoped).
    Namespace,
    /// `configmaps`.
    ConfigMap,
    /// `secrets`.
    Secret,
    /// `resourceQuotas`.
    ResourceQuota,
    /// `limitRanges`.
    LimitRange,
    /// `networkPolicies`.
    NetworkPolicy,
    /// `serviceAccounts`.
    ServiceAccount,
    /// `pvs` (cluster-scoped).
    PersistentVolume,
    /// `pvcs`.
    PersistentVolumeClaim,
    /// `nodes` (cluster-scoped).
    Node,
    /// `events`.
    Event,
}

/// What is known about one kind.
struct Row {
    /// The kind this row describes (checked against its index at compile time).
    kind: Kind,
    /// The Kubernetes kind name, as in an object's `kind` and an event's involved object.
    name: &'static str,
    /// The key of its list in the snapshot JSON.
    collection: &'static str,
    /// Its `{kind}` segment in `/api/v2/clusters/{id}/resources/{kind}`.
    plural: &'static str,
    /// True when its objects live in a namespace.
    namespaced: bool,
}

const fn row(
    kind: Kind,
    name: &'static str,
    collection: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Row {
    Row {
        kind,
        name,
        collection,
        plural,
        namespaced,
    }
}

/// One row per [`Kind`], indexed by the variant. The plurals are the API's path names and
/// must not change (`pvs`, `pvcs` and the lower-case camel keys are the API's own choice).
#[rustfmt::skip]
const TABLE: [Row; 20] = [
    row(Kind::Pod,                   "Pod",                   "pods",            "pods",            true),
    row(Kind::Deployment,            "Deployment",            "deployments",     "deployments",     true),
    row(Kind::StatefulSet,           "StatefulSet",           "statefulsets",    "statefulsets",    true),
    row(Kind::DaemonSet,             "DaemonSet",             "daemonsets",      "daemonsets",      true),
    row(Kind::ReplicaSet,            "ReplicaSet",            "replicasets",     "replicasets",     true),
    row(Kind::Job,                   "Job",                   "jobs",            "jobs",            true),
    row(Kind::CronJob,               "CronJob",               "cronjobs",        "cronjobs",        true),
    row(Kind::Service,               "Service",               "services",        "services",        true),
    row(Kind::Ingress,               "Ingress",               "ingresses",       "ingresses",       true),
    row(Kind::Namespace,             "Namespace",             "namespaces",      "namespaces",      false),
    row(Kind::ConfigMap,             "ConfigMap",             "configmaps",      "configmaps",      true),
    row(Kind::Secret,                "Secret",                "secrets",         "secrets",         true),
    row(Kind::ResourceQuota,         "ResourceQuota",         "resourceQuotas",  "resourcequotas",  true),
    row(Kind::LimitRange,            "LimitRange",            "limitRanges",     "limitranges",     true),
    row(Kind::NetworkPolicy,         "NetworkPolicy",         "networkPolicies", "networkpolicies", true),
    row(Kind::ServiceAccount,        "ServiceAccount",        "serviceAccounts", "serviceaccounts", true),
    row(Kind::PersistentVolume,      "PersistentVolume",      "pvs",             "pvs",             false),
    row(Kind::PersistentVolumeClaim, "PersistentVolumeClaim", "pvcs",            "pvcs",            true),
    row(Kind::Node,                  "Node",                  "nodes",           "nodes",           false),
    row(Kind::Event,                 "Event",                 "events",          "events",          true),
];

// Row i describes variant i, and `Kind::ALL` lists variant i at i: checked when compiling.
const _: () = {
    let mut i = 0;
    while i < TABLE.len() {
        assert!(TABLE[i].kind as usize == i, "TABLE is out of variant order");
        assert!(
            Kind::ALL[i] as usize == i,
            "Kind::ALL is out of variant order"
        );
        i += 1;
    }
};

/// Cluster-scoped kinds the snapshot does not carry but a command or an event's involved
/// object may name; all of them are cluster-scoped in Kubernetes.
const OTHER_CLUSTER_SCOPED: [&str; 5] = [
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
];

impl Kind {
    /// Every kind, in the snapshot's field order.
    pub const ALL: [Kind; 20] = [
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
        Kind::Job,
        Kind::CronJob,
        Kind::Service,
        Kind::Ingress,
        Kind::Namespace,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::ResourceQuota,
        Kind::LimitRange,
        Kind::NetworkPolicy,
        Kind::ServiceAccount,
        Kind::PersistentVolume,
        Kind::PersistentVolumeClaim,
        Kind::Node,
        Kind::Event,
    ];

    const fn row(self) -> &'static Row {
        &TABLE[self as usize]
    }

    /// The Kubernetes kind name, e.g. `"Deployment"`.
    pub const fn as_str(self) -> &'static str {
        self.row().name
    }

    /// The key of this kind's list in the snapshot JSON, e.g. `"resourceQuotas"`.
    pub const fn collection(self) -> &'static str {
        self.row().collection
    }

    /// The `{kind}` path segment of the resources API, e.g. `"pvs"`.
    pub const fn plural(self) -> &'static str {
        self.row().plural
    }

    /// True when objects of this kind live in a namespace.
    pub const fn is_namespaced(self) -> bool {
        self.row().namespaced
    }

    /// The kind with exactly this Kubernetes name, as Kubernetes writes it in an object's
    /// `kind` or an event's involved object (case-sensitive; see [`FromStr`] for user input).
    pub fn from_kind_name(name: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind with this resources-API path segment (exact, as the API has always matched).
    pub fn from_plural(plural: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.plural() == plural)
    }

    /// True when `name` (any ASCII case) is a kind whose objects have no namespace: a
    /// cluster-scoped kind of the snapshot or one of the other cluster-scoped kinds a
    /// command or event may name (`ClusterRole`, `StorageClass`, …). Unknown kinds count as
    /// namespaced.
    pub fn is_cluster_scoped_name(name: &str) -> bool {
        Self::ALL
            .iter()
            .filter(|k| !k.is_namespaced())
            .map(|k| k.as_str())
            .chain(OTHER_CLUSTER_SCOPED)
            .any(|k| k.eq_ignore_ascii_case(name))
    }

    /// Runs `v` on this kind's list of `snap`: the one place that maps a kind to its list.
    pub fn visit<'a, V: VisitItems<'a>>(self, snap: &'a ClusterSnapshot, v: V) -> V::Output {
        let s = snap;
        match self {
            Kind::Pod => v.visit(&s.pods),
            Kind::Deployment => v.visit(&s.deployments),
            Kind::StatefulSet => v.visit(&s.statefulsets),
            Kind::DaemonSet => v.visit(&s.daemonsets),
            Kind::ReplicaSet => v.visit(&s.replicasets),
            Kind::Job => v.visit(&s.jobs),
            Kind::CronJob => v.visit(&s.cronjobs),
            Kind::Service => v.visit(&s.services),
            Kind::Ingress => v.visit(&s.ingresses),
            Kind::Namespace => v.visit(&s.namespaces),
            Kind::ConfigMap => v.visit(&s.configmaps),
            Kind::Secret => v.visit(&s.secrets),
            Kind::ResourceQuota => v.visit(&s.resource_quotas),
            Kind::LimitRange => v.visit(&s.limit_ranges),
            Kind::NetworkPolicy => v.visit(&s.network_policies),
            Kind::ServiceAccount => v.visit(&s.service_accounts),
            Kind::PersistentVolume => v.visit(&s.pvs),
            Kind::PersistentVolumeClaim => v.visit(&s.pvcs),
            Kind::Node => v.visit(&s.nodes),
            Kind::Event => v.visit(&s.events),
        }
    }

    /// The first object of this kind in `snap` with this namespace and name (a linear
    /// search; `namespace` is `""` for cluster-scoped kinds).
    pub fn find<'a>(
        self,
        snap: &'a ClusterSnapshot,
        namespace: &str,
        name: &str,
    ) -> Option<&'a dyn ResourceMeta> {
        struct Find<'k>(&'k str, &'k str);
        impl<'a> VisitItems<'a> for Find<'_> {
            type Output = Option<&'a dyn ResourceMeta>;
            fn visit<T: ResourceMeta + Serialize + 'static>(self, items: &'a [T]) -> Self::Output {
                let item = items
                    .iter()
                    .find(|r| r.namespace() == self.0 && r.name() == self.1)?;
                Some(item as &dyn ResourceMeta)
            }
        }
        self.visit(snap, Find(namespace, name))
    }
}

/// What to do with one snapshot list, whatever its element type: the argument of
/// [`Kind::visit`] (a trait, because a closure cannot be generic over the element type).
pub trait VisitItems<'a> {
    /// The result.
    type Output;
    /// Called with the list of the visited kind.
    fn visit<T: ResourceMeta + Serialize + DeserializeOwned + 'static>(
        self,
        items: &'a [T],
    ) -> Self::Output;
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not the Kubernetes kind name of any [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}")]
pub struct UnknownKind(pub String);

/// Parses a Kubernetes kind name in any ASCII case (`Deployment`, `deployment`), as users
/// type it in commands and queries.
impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_kind_name(k.as_str()), Some(k));
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
            assert_eq!(k.as_str().to_lowercase().parse::<Kind>().unwrap(), k);
            assert_eq!(k.as_str().to_uppercase().parse::<Kind>().unwrap(), k);
            assert_eq!(Kind::from_plural(k.plural()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        // Exact where the wire and the API path are exact.
        assert_eq!(Kind::from_kind_name("deployment"), None);
        assert_eq!(Kind::from_plural("Pods"), None);
        assert_eq!(Kind::from_plural("persistentvolumes"), None);
        assert_eq!(
            "Widget".parse::<Kind>(),
            Err(UnknownKind("Widget".to_owned()))
        );
        // A plural is not a kind name.
        assert!("pods".parse::<Kind>().is_err());
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in Kind::ALL.into_iter().enumerate() {
            for b in &Kind::ALL[i + 1..] {
                assert!(!a.as_str().eq_ignore_ascii_case(b.as_str()));
                assert_ne!(a.collection(), b.collection());
                assert_ne!(a.plural(), b.plural());
            }
        }
    }

    #[test]
    fn namespaced_flags_are_the_kubernetes_ones() {
        let cluster_scoped: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| !k.is_namespaced())
            .collect();
        assert_eq!(
            cluster_scoped,
            [Kind::Namespace, Kind::PersistentVolume, Kind::Node]
        );
        for k in Kind::ALL {
            assert_eq!(Kind::is_cluster_scoped_name(k.as_str()), !k.is_namespaced());
        }
        for name in [
            "StorageClass",
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "PriorityClass",
            "node",
            "persistentvolume",
        ] {
            assert!(Kind::is_cluster_scoped_name(name), "{name}");
        }
        for name in ["Role", "RoleBinding", "Widget", ""] {
            assert!(!Kind::is_cluster_scoped_name(name), "{name}");
        }
    }

    /// Every list of the snapshot has exactly one kind, and `visit` reaches the list named by
    /// `collection()`, whose element type reports the same kind.
    #[test]
    fn every_snapshot_list_has_a_kind() {
        // Kind i gets i + 1 objects, so a dispatch to the wrong list shows in its length.
        let mut body = serde_json::Map::new();
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            let items = vec![serde_json::json!({}); i + 1];
            body.insert(k.collection().to_owned(), items.into());
        }
        let snap: ClusterSnapshot = serde_json::from_value(body.into()).unwrap();

        struct Check(Kind);
        impl VisitItems<'_> for Check {
            type Output = usize;
            fn visit<T: ResourceMeta + Serialize + 'static>(self, items: &[T]) -> usize {
                assert_eq!(T::kind(), self.0);
                assert_eq!(T::kind_name(), self.0.as_str());
                items.len()
            }
        }
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(k.visit(&snap, Check(k)), i + 1, "{k}");
        }

        // No `..`: a new snapshot field breaks this line until it is given a kind (or
        // listed here as not a resource list).
        let ClusterSnapshot {
            cluster_id: _,
            fetched_at: _,
            node_metrics: _,
            summary: _,
            pods,
            deployments,
            statefulsets,
            daemonsets,
            replicasets,
            jobs,
            cronjobs,
            services,
            ingresses,
            namespaces,
            configmaps,
            secrets,
            resource_quotas,
            limit_ranges,
            network_policies,
            service_accounts,
            pvs,
            pvcs,
            nodes,
            events,
        } = snap;
        let mut lens = [
            pods.len(),
            deployments.len(),
            statefulsets.len(),
            daemonsets.len(),
            replicasets.len(),
            jobs.len(),
            cronjobs.len(),
            services.len(),
            ingresses.len(),
            namespaces.len(),
            configmaps.len(),
            secrets.len(),
            resource_quotas.len(),
            limit_ranges.len(),
            network_policies.len(),
            service_accounts.len(),
            pvs.len(),
            pvcs.len(),
            nodes.len(),
            events.len(),
        ];
        lens.sort_unstable();
        assert_eq!(lens.to_vec(), (1..=Kind::ALL.len()).collect::<Vec<_>>());
    }

    #[test]
    fn find_looks_in_the_list_of_the_kind() {
        let snap: ClusterSnapshot = serde_json::from_value(serde_json::json!({
            "pods": [{"summary": {"name": "web", "namespace": "shop"}, "labels": {"app": "web"}}],
            "nodes": [{"summary": {"name": "n1"}}],
            "pvs": [{"name": "pv-1"}],
        }))
        .unwrap();
        let pod = Kind::Pod.find(&snap, "shop", "web").unwrap();
        assert_eq!(pod.labels().get("app").map(|v| v.as_str()), Some("web"));
        assert!(Kind::Pod.find(&snap, "other", "web").is_none());
        assert!(Kind::Deployment.find(&snap, "shop", "web").is_none());
        assert_eq!(Kind::Node.find(&snap, "", "n1").unwrap().name(), "n1");
        assert_eq!(
            Kind::PersistentVolume
                .find(&snap, "", "pv-1")
                .unwrap()
                .name(),
            "pv-1"
        );
    }
}
