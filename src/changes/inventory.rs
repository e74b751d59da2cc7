//! What of a snapshot the change history follows, and the diff of two of them.
//!
//! An [`Inventory`] is the small part of a [`ClusterSnapshot`] whose changes an operator
//! asks about: workload images, replicas and rollout state; ConfigMap and Secret *key
//! sets* (agents never send values, and none are kept); how Services and Ingresses route;
//! node state and versions; namespaces; and the pod count of owners that have no replica
//! count of their own (Jobs, CronJobs, bare pods, other controllers). Pods of Deployments,
//! StatefulSets and DaemonSets are not followed: their churn is not a change, and their
//! scaling shows as the owner's replicas.
//!
//! [`diff`] compares two inventories and returns the [`Change`]s, bounded: removals and
//! additions inside a namespace that was itself removed or added are folded into the
//! namespace's row, and one snapshot yields at most [`MAX_CHANGES_PER_SNAPSHOT`] rows (the
//! rest are counted in one `summarised` row).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use atlhyper_actors::model::{ClusterSnapshot, Node, StrMap};

/// Most change rows one snapshot produces; the rest are counted in one `summarised` row.
pub const MAX_CHANGES_PER_SNAPSHOT: usize = 200;

/// Longest stored value or summary, in characters.
const MAX_TEXT: usize = 500;

/// The inventory format; a stored state of another version is not diffed against (the
/// next snapshot becomes the new baseline).
pub const VERSION: u32 = 1;

/// Every change type, as stored and filtered on.
pub const CHANGE_TYPES: &[&str] = &[
    "added",
    "removed",
    "image_changed",
    "replicas_changed",
    "rollout_started",
    "rollout_finished",
    "keys_changed",
    "repointed",
    "cordoned",
    "uncordoned",
    "not_ready",
    "ready",
    "kernel_upgraded",
    "kubelet_upgraded",
    "runtime_upgraded",
    "os_changed",
    "pods_changed",
    "summarised",
    "periodic_snapshot",
];

/// One workload (Deployment, StatefulSet, DaemonSet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// `(container, image)` in template order.
    pub images: Vec<(String, String)>,
    /// Desired replicas (`-1` for a DaemonSet, which has none).
    pub replicas: i32,
    /// The revision being rolled out or last rolled out.
    pub revision: String,
    /// Whether the status shows pods not yet updated or available.
    pub rolling: bool,
    /// Whether a rollout seen starting has not finished yet (set by [`diff`]).
    #[serde(default)]
    pub rollout: bool,
}

/// One node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInv {
    /// Ready condition is True.
    pub ready: bool,
    /// Cordoned.
    pub unschedulable: bool,
    /// OS image.
    pub os_image: String,
    /// Kernel version.
    pub kernel: String,
    /// Container runtime version.
    pub runtime: String,
    /// Kubelet version.
    pub kubelet: String,
    /// CPU architecture.
    pub arch: String,
}

/// What the change history follows of one snapshot. Maps are keyed `namespace/name`
/// (nodes and namespaces by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// Deployments.
    pub deployments: BTreeMap<String, Workload>,
    /// StatefulSets.
    pub statefulsets: BTreeMap<String, Workload>,
    /// DaemonSets.
    pub daemonsets: BTreeMap<String, Workload>,
    /// ConfigMap key sets (sorted).
    pub configmaps: BTreeMap<String, Vec<String>>,
    /// Secret key sets (sorted); never values.
    pub secrets: BTreeMap<String, Vec<String>>,
    /// Services: how each routes (type, selector, ports, external name).
    pub services: BTreeMap<String, String>,
    /// Ingresses: how each routes (host + path → service:port, default backend).
    pub ingresses: BTreeMap<String, String>,
    /// Nodes.
    pub nodes: BTreeMap<String, NodeInv>,
    /// Namespaces.
    pub namespaces: BTreeSet<String>,
    /// Pods per owner without a replica count of its own: `Kind/namespace/name`.
    pub pod_owners: BTreeMap<String, u32>,
}

/// One change found by [`diff`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Kubernetes kind (`Cluster` for the summary rows).
    pub kind: &'static str,
    /// Namespace (`""` for cluster-scoped objects).
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// One of [`CHANGE_TYPES`].
    pub change_type: &'static str,
    /// A short "before → after" line.
    pub summary: String,
    /// The value before (`""` when there is none).
    pub old_value: String,
    /// The value after (`""` when there is none).
    pub new_value: String,
}

/// `s` without NUL characters (PostgreSQL's TEXT refuses them) and at most
/// [`MAX_TEXT`] characters.
fn cap(mut s: String) -> String {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
    if s.chars().count() > MAX_TEXT {
        s = s.chars().take(MAX_TEXT - 1).collect();
        s.push('…');
    }
    s
}

impl Change {
    fn new(
        kind: &'static str,
        key: &str,
        change_type: &'static str,
        summary: String,
        old: impl Into<String>,
        new: impl Into<String>,
    ) -> Self {
        let (namespace, name) = split_key(key);
        Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            change_type,
            summary: cap(summary),
            old_value: cap(old.into()),
            new_value: cap(new.into()),
        }
    }
}

/// `namespace/name` → `(namespace, name)`; a key without `/` is cluster-scoped.
fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn sorted_map(m: &StrMap) -> String {
    let mut kv: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    kv.sort();
    kv.join(",")
}

impl Inventory {
    /// The inventory of `snap`.
    pub fn of(snap: &ClusterSnapshot) -> Self {
        let mut inv = Inventory {
            v: VERSION,
            ..Inventory::default()
        };
        for d in &snap.deployments {
            let desired = d.spec.replicas.unwrap_or(d.summary.replicas);
            let revision = d
                .annotations
                .get("deployment.kubernetes.io/revision")
                .map(|r| r.to_string())
                .or_else(|| {
                    d.replica_sets
                        .iter()
                        .filter_map(|rs| rs.revision.parse::<u64>().ok())
                        .max()
                        .map(|r| r.to_string())
                })
                .unwrap_or_default();
            let s = &d.status;
            let rolling = s.updated_replicas < desired
                || s.replicas > s.updated_replicas
                || s.available_replicas < s.updated_replicas;
            inv.deployments.insert(
                key(&d.summary.namespace, &d.summary.name),
                Workload {
                    images: images(&d.template.containers),
                    replicas: desired,
                    revision,
                    rolling,
                    rollout: false,
                },
            );
        }
        for s in &snap.statefulsets {
            let desired = s.spec.replicas.unwrap_or(s.summary.replicas);
            let st = &s.status;
            let rolling = (!st.update_revision.is_empty()
                && st.current_revision != st.update_revision)
                || st.updated_replicas < desired;
            inv.statefulsets.insert(
                key(&s.summary.namespace, &s.summary.name),
                Workload {
                    images: images(&s.template.containers),
                    replicas: desired,
                    revision: st.update_revision.to_string(),
                    rolling,
                    rollout: false,
                },
            );
        }
        for d in &snap.daemonsets {
            let st = &d.status;
            inv.daemonsets.insert(
                key(&d.summary.namespace, &d.summary.name),
                Workload {
                    images: images(&d.template.containers),
                    replicas: -1,
                    revision: st.observed_generation.to_string(),
                    rolling: st.updated_number_scheduled < st.desired_number_scheduled
                        || st.number_available < st.desired_number_scheduled,
                    rollout: false,
                },
            );
        }
        for c in &snap.configmaps {
            inv.configmaps
                .insert(key(&c.namespace, &c.name), key_set(&c.data_keys));
        }
        for s in &snap.secrets {
            inv.secrets
                .insert(key(&s.namespace, &s.name), key_set(&s.data_keys));
        }
        for s in &snap.services {
            let mut ports: Vec<String> = s
                .ports
                .iter()
                .map(|p| format!("{}→{}/{}", p.port, p.target_port, p.protocol))
                .collect();
            ports.sort();
            let mut route = format!(
                "{} selector {{{}}} ports [{}]",
                s.spec.type_,
                sorted_map(&s.selector),
                ports.join(" ")
            );
            if !s.spec.external_name.is_empty() {
                let _ = write!(route, " → {}", s.spec.external_name);
            }
            inv.services
                .insert(key(&s.summary.namespace, &s.summary.name), route);
        }
        for i in &snap.ingresses {
            let mut routes: Vec<String> = Vec::new();
            for r in &i.spec.rules {
                for p in &r.paths {
                    routes.push(format!(
                        "{}{} → {}",
                        r.host,
                        p.path,
                        backend(p.backend.as_ref())
                    ));
                }
            }
            routes.sort();
            if let Some(b) = &i.spec.default_backend {
                routes.push(format!("default → {}", backend(Some(b))));
            }
            inv.ingresses.insert(
                key(&i.summary.namespace, &i.summary.name),
                routes.join("; "),
            );
        }
        for n in &snap.nodes {
            inv.nodes.insert(n.summary.name.to_string(), node(n));
        }
        for n in &snap.namespaces {
            inv.namespaces.insert(n.summary.name.to_string());
        }
        // Jobs started by a CronJob count under the CronJob: its runs are one owner.
        let cron_of: HashMap<(&str, &str), &str> = snap
            .jobs
            .iter()
            .filter(|j| j.owner_kind.as_str() == "CronJob")
            .map(|j| {
                (
                    (j.namespace.as_str(), j.name.as_str()),
                    j.owner_name.as_str(),
                )
            })
            .collect();
        let rs_owned: HashSet<(&str, &str)> = snap
            .replicasets
            .iter()
            .filter(|r| !r.owner_kind.is_empty())
            .map(|r| (r.namespace.as_str(), r.name.as_str()))
            .collect();
        // Agents that send no ReplicaSets: a ReplicaSet named `<deployment>-<hash>` of a
        // Deployment in the same namespace is that Deployment's.
        let deployments: HashSet<(&str, &str)> = snap
            .deployments
            .iter()
            .map(|d| (d.summary.namespace.as_str(), d.summary.name.as_str()))
            .collect();
        let deployment_owned = |ns: &str, rs: &str| {
            rs.rsplit_once('-')
                .is_some_and(|(base, _)| deployments.contains(&(ns, base)))
        };
        for p in &snap.pods {
            let s = &p.summary;
            let ns = s.namespace.as_str();
            let owner = match s.owner_kind.as_str() {
                "" => format!("Pod/{ns}/"),
                "Deployment" | "StatefulSet" | "DaemonSet" => continue,
                "ReplicaSet" => {
                    if rs_owned.contains(&(ns, s.owner_name.as_str()))
                        || deployment_owned(ns, &s.owner_name)
                    {
                        continue;
                    }
                    format!("ReplicaSet/{ns}/{}", s.owner_name)
                }
                "Job" => match cron_of.get(&(ns, s.owner_name.as_str())) {
                    Some(cron) => format!("CronJob/{ns}/{cron}"),
                    None => format!("Job/{ns}/{}", s.owner_name),
                },
                kind => format!("{kind}/{ns}/{}", s.owner_name),
            };
            *inv.pod_owners.entry(owner).or_default() += 1;
        }
        inv
    }

    /// Object counts and node versions, for the periodic snapshot's stored value: small
    /// and bounded, and without any ConfigMap or Secret name.
    pub fn census_json(&self) -> String {
        let tally = |f: fn(&NodeInv) -> &str| {
            let mut m: BTreeMap<&str, usize> = BTreeMap::new();
            for n in self.nodes.values() {
                *m.entry(f(n)).or_default() += 1;
            }
            m
        };
        serde_json::json!({
            "nodes": self.nodes.len(),
            "namespaces": self.namespaces.len(),
            "deployments": self.deployments.len(),
            "statefulsets": self.statefulsets.len(),
            "daemonsets": self.daemonsets.len(),
            "services": self.services.len(),
            "ingresses": self.ingresses.len(),
            "configmaps": self.configmaps.len(),
            "secrets": self.secrets.len(),
            "kubelets": tally(|n| &n.kubelet),
            "kernels": tally(|n| &n.kernel),
            "os_images": tally(|n| &n.os_image),
            "runtimes": tally(|n| &n.runtime),
        })
        .to_string()
    }

    /// Object counts, for the periodic snapshot's summary.
    pub fn census(&self) -> String {
        format!(
            "{} nodes, {} namespaces, {} deployments, {} statefulsets, {} daemonsets, {} services, {} ingresses, {} configmaps, {} secrets",
            self.nodes.len(),
            self.namespaces.len(),
            self.deployments.len(),
            self.statefulsets.len(),
            self.daemonsets.len(),
            self.services.len(),
            self.ingresses.len(),
            self.configmaps.len(),
            self.secrets.len()
        )
    }
}

fn images(containers: &[atlhyper_actors::model::ContainerDetail]) -> Vec<(String, String)> {
    containers
        .iter()
        .map(|c| (c.name.to_string(), c.image.to_string()))
        .collect()
}

fn key_set(keys: &[atlhyper_actors::model::Text]) -> Vec<String> {
    let mut k: Vec<String> = keys.iter().map(ToString::to_string).collect();
    k.sort();
    k.dedup();
    k
}

fn backend(b: Option<&atlhyper_actors::model::IngressBackend>) -> String {
    let Some(b) = b else { return "-".into() };
    if let Some(s) = &b.service {
        if s.port_number != 0 {
            return format!("{}:{}", s.name, s.port_number);
        }
        return format!("{}:{}", s.name, s.port_name);
    }
    if let Some(r) = &b.resource {
        return format!("{}/{}", r.kind, r.name);
    }
    "-".into()
}

fn node(n: &Node) -> NodeInv {
    let ready = n
        .conditions
        .iter()
        .find(|c| c.type_.as_str() == "Ready")
        .map_or(n.summary.ready.as_str() == "True", |c| {
            c.status.as_str() == "True"
        });
    NodeInv {
        ready,
        unschedulable: n.spec.unschedulable,
        os_image: n.info.os_image.to_string(),
        kernel: n.info.kernel_version.to_string(),
        runtime: n.info.container_runtime_version.to_string(),
        kubelet: n.info.kubelet_version.to_string(),
        arch: n.info.architecture.to_string(),
    }
}

/// Walks two maps: `f(key, Some(old), Some(new))` for keys in both, `(key, None, Some)` for
/// added ones and `(key, Some, None)` for removed ones.
fn walk<'a, V>(
    old: &'a BTreeMap<String, V>,
    new: &'a BTreeMap<String, V>,
    mut f: impl FnMut(&'a str, Option<&'a V>, Option<&'a V>),
) {
    for (k, n) in new {
        f(k, old.get(k), Some(n));
    }
    for (k, o) in old {
        if !new.contains_key(k) {
            f(k, Some(o), None);
        }
    }
}

/// Collects changes; additions and removals inside a namespace added or removed in the
/// same diff are counted into that namespace's row instead.
struct Found<'a> {
    out: Vec<Change>,
    ns_added: &'a BTreeSet<String>,
    ns_removed: &'a BTreeSet<String>,
    /// Per namespace, kind → objects folded into its row.
    folded: BTreeMap<String, BTreeMap<&'static str, usize>>,
}

impl Found<'_> {
    fn presence<V>(&mut self, kind: &'static str, k: &str, old: Option<&V>, new: Option<&V>) {
        let (ns, name) = split_key(k);
        let (ct, folded_into) = match (old, new) {
            (None, Some(_)) => ("added", self.ns_added.contains(ns)),
            (Some(_), None) => ("removed", self.ns_removed.contains(ns)),
            _ => return,
        };
        if folded_into {
            *self
                .folded
                .entry(ns.to_owned())
                .or_default()
                .entry(kind)
                .or_default() += 1;
            return;
        }
        let what = if ns.is_empty() {
            format!("{kind} {name}")
        } else {
            format!("{kind} {ns}/{name}")
        };
        self.out
            .push(Change::new(kind, k, ct, format!("{what} {ct}"), "", ""));
    }
}

fn image_list(images: &[(String, String)]) -> String {
    images
        .iter()
        .map(|(c, i)| format!("{c}={i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Diffs one kind of workload; `new` learns which rollouts are still in progress.
fn workloads(
    found: &mut Found<'_>,
    kind: &'static str,
    old: &BTreeMap<String, Workload>,
    new: &mut BTreeMap<String, Workload>,
) {
    let mut rolling_on: Vec<String> = Vec::new();
    walk(old, new, |k, o, n| {
        let (Some(o), Some(n)) = (o, n) else {
            return found.presence(kind, k, o, n);
        };
        let out = &mut found.out;
        // One row per workload: the containers whose image changed (a container added
        // or removed shows as the whole list), so a noisy workload folds into one row.
        let same_containers = o.images.len() == n.images.len()
            && o.images.iter().zip(&n.images).all(|(a, b)| a.0 == b.0);
        let changed: Vec<(&String, &String, &String)> = if same_containers {
            o.images
                .iter()
                .zip(&n.images)
                .filter(|(a, b)| a.1 != b.1)
                .map(|((c, before), (_, after))| (c, before, after))
                .collect()
        } else {
            Vec::new()
        };
        if !same_containers {
            let (before, after) = (image_list(&o.images), image_list(&n.images));
            out.push(Change::new(
                kind,
                k,
                "image_changed",
                format!("containers {before} → {after}"),
                before,
                after,
            ));
        } else if let [(c, before, after)] = changed.as_slice() {
            out.push(Change::new(
                kind,
                k,
                "image_changed",
                format!("container {c}: {before} → {after}"),
                (*before).clone(),
                (*after).clone(),
            ));
        } else if !changed.is_empty() {
            let side = |after: bool| {
                changed
                    .iter()
                    .map(|(c, b, a)| format!("{c}={}", if after { a } else { b }))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let summary = changed
                .iter()
                .map(|(c, b, a)| format!("container {c}: {b} → {a}"))
                .collect::<Vec<_>>()
                .join("; ");
            out.push(Change::new(
                kind,
                k,
                "image_changed",
                summary,
                side(false),
                side(true),
            ));
        }
        if o.replicas != n.replicas && n.replicas >= 0 {
            out.push(Change::new(
                kind,
                k,
                "replicas_changed",
                format!("replicas {} → {}", o.replicas, n.replicas),
                o.replicas.to_string(),
                n.replicas.to_string(),
            ));
        }
        let new_revision = o.revision != n.revision && !n.revision.is_empty();
        // A DaemonSet's revision is its generation, which any spec change moves: only a
        // generation change that leaves pods to update is a rollout.
        let started = new_revision && (kind != "DaemonSet" || n.rolling);
        if started {
            out.push(Change::new(
                kind,
                k,
                "rollout_started",
                format!(
                    "rollout to revision {} started (from {})",
                    n.revision,
                    if o.revision.is_empty() {
                        "-"
                    } else {
                        &o.revision
                    }
                ),
                o.revision.clone(),
                n.revision.clone(),
            ));
        }
        let in_rollout = o.rollout || started;
        if in_rollout && !n.rolling {
            out.push(Change::new(
                kind,
                k,
                "rollout_finished",
                format!("rollout to revision {} finished", n.revision),
                o.revision.clone(),
                n.revision.clone(),
            ));
        } else if in_rollout {
            rolling_on.push(k.to_owned());
        }
    });
    for k in rolling_on {
        if let Some(w) = new.get_mut(&k) {
            w.rollout = true;
        }
    }
}

fn key_sets(
    found: &mut Found<'_>,
    kind: &'static str,
    old: &BTreeMap<String, Vec<String>>,
    new: &BTreeMap<String, Vec<String>>,
) {
    walk(old, new, |k, o, n| {
        let (Some(o), Some(n)) = (o, n) else {
            return found.presence(kind, k, o, n);
        };
        if o == n {
            return;
        }
        let added: Vec<&str> = n
            .iter()
            .filter(|x| !o.contains(x))
            .map(String::as_str)
            .collect();
        let removed: Vec<&str> = o
            .iter()
            .filter(|x| !n.contains(x))
            .map(String::as_str)
            .collect();
        let mut summary = String::from("keys");
        if !added.is_empty() {
            let _ = write!(summary, " +[{}]", added.join(", "));
        }
        if !removed.is_empty() {
            let _ = write!(summary, " -[{}]", removed.join(", "));
        }
        found.out.push(Change::new(
            kind,
            k,
            "keys_changed",
            summary,
            o.join(", "),
            n.join(", "),
        ));
    });
}

fn routes(
    found: &mut Found<'_>,
    kind: &'static str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) {
    walk(old, new, |k, o, n| match (o, n) {
        (Some(o), Some(n)) if o != n => found.out.push(Change::new(
            kind,
            k,
            "repointed",
            format!("{o} → {n}"),
            o.clone(),
            n.clone(),
        )),
        (Some(_), Some(_)) => {}
        _ => found.presence(kind, k, o, n),
    });
}

fn nodes(found: &mut Found<'_>, old: &BTreeMap<String, NodeInv>, new: &BTreeMap<String, NodeInv>) {
    walk(old, new, |k, o, n| {
        let (Some(o), Some(n)) = (o, n) else {
            return found.presence("Node", k, o, n);
        };
        let out = &mut found.out;
        let mut push = |ct: &'static str, summary: String, before: &str, after: &str| {
            out.push(Change::new("Node", k, ct, summary, before, after));
        };
        if o.unschedulable != n.unschedulable {
            let ct = if n.unschedulable {
                "cordoned"
            } else {
                "uncordoned"
            };
            push(ct, format!("node {ct}"), "", "");
        }
        if o.ready != n.ready {
            let (ct, a, b) = if n.ready {
                ("ready", "NotReady", "Ready")
            } else {
                ("not_ready", "Ready", "NotReady")
            };
            push(ct, format!("{a} → {b}"), a, b);
        }
        for (ct, what, before, after) in [
            ("kernel_upgraded", "kernel", &o.kernel, &n.kernel),
            ("kubelet_upgraded", "kubelet", &o.kubelet, &n.kubelet),
            (
                "runtime_upgraded",
                "container runtime",
                &o.runtime,
                &n.runtime,
            ),
            ("os_changed", "OS image", &o.os_image, &n.os_image),
        ] {
            if before != after {
                push(ct, format!("{what} {before} → {after}"), before, after);
            }
        }
    });
}

/// The changes from `old` to `new`, bounded (see the module docs). `new` learns which
/// rollouts are in progress, so it is the `old` of the next diff.
pub fn diff(old: &Inventory, new: &mut Inventory) -> Vec<Change> {
    let ns_added: BTreeSet<String> = new
        .namespaces
        .difference(&old.namespaces)
        .cloned()
        .collect();
    let ns_removed: BTreeSet<String> = old
        .namespaces
        .difference(&new.namespaces)
        .cloned()
        .collect();
    let mut found = Found {
        out: Vec::new(),
        ns_added: &ns_added,
        ns_removed: &ns_removed,
        folded: BTreeMap::new(),
    };
    nodes(&mut found, &old.nodes, &new.nodes);
    workloads(
        &mut found,
        "Deployment",
        &old.deployments,
        &mut new.deployments,
    );
    workloads(
        &mut found,
        "StatefulSet",
        &old.statefulsets,
        &mut new.statefulsets,
    );
    workloads(
        &mut found,
        "DaemonSet",
        &old.daemonsets,
        &mut new.daemonsets,
    );
    routes(&mut found, "Service", &old.services, &new.services);
    routes(&mut found, "Ingress", &old.ingresses, &new.ingresses);
    key_sets(&mut found, "ConfigMap", &old.configmaps, &new.configmaps);
    key_sets(&mut found, "Secret", &old.secrets, &new.secrets);
    pods(&mut found, &old.pod_owners, &new.pod_owners);
    let mut out = Vec::new();
    for (ns, what) in [("added", &ns_added), ("removed", &ns_removed)]
        .into_iter()
        .flat_map(|(ct, set)| set.iter().map(move |n| (n, ct)))
        .map(|(n, ct)| (n.clone(), ct))
    {
        let with = found.folded.get(&ns).map(|kinds| {
            kinds
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let summary = match with {
            Some(w) => format!("namespace {ns} {what} (with {w})"),
            None => format!("namespace {ns} {what}"),
        };
        out.push(Change::new("Namespace", &ns, what, summary, "", ""));
    }
    out.append(&mut found.out);
    if out.len() > MAX_CHANGES_PER_SNAPSHOT {
        let rest = out.split_off(MAX_CHANGES_PER_SNAPSHOT - 1);
        let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &rest {
            *by_type.entry(c.change_type).or_default() += 1;
        }
        let counts = by_type
            .iter()
            .map(|(t, n)| format!("{n} {t}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(Change::new(
            "Cluster",
            "",
            "summarised",
            format!("{} more changes in this snapshot: {counts}", rest.len()),
            "",
            rest.len().to_string(),
        ));
    }
    out
}

fn pods(found: &mut Found<'_>, old: &BTreeMap<String, u32>, new: &BTreeMap<String, u32>) {
    let mut changed = |owner: &str, before: u32, after: u32| {
        let mut parts = owner.splitn(3, '/');
        let kind = match parts.next().unwrap_or_default() {
            "Pod" => "Pod",
            "Job" => "Job",
            "CronJob" => "CronJob",
            "ReplicaSet" => "ReplicaSet",
            _ => "Owner",
        };
        let ns = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        if found.ns_added.contains(ns) || found.ns_removed.contains(ns) {
            return;
        }
        let delta = i64::from(after) - i64::from(before);
        let how = if delta > 0 {
            format!("+{delta} created")
        } else {
            format!("{} deleted", -delta)
        };
        let what = if name.is_empty() {
            "pods without an owner".to_owned()
        } else {
            "pods".to_owned()
        };
        found.out.push(Change::new(
            kind,
            &key(ns, name),
            "pods_changed",
            format!("{what} {before} → {after} ({how})"),
            before.to_string(),
            after.to_string(),
        ));
    };
    for (k, n) in new {
        let o = old.get(k).copied().unwrap_or(0);
        if o != *n {
            changed(k, o, *n);
        }
    }
    for (k, o) in old {
        if !new.contains_key(k) {
            changed(k, *o, 0);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    fn inv(v: serde_json::Value) -> Inventory {
        Inventory::of(&serde_json::from_value(v).unwrap())
    }

    fn dep(
        revision: &str,
        replicas: i32,
        updated: i32,
        available: i32,
        image: &str,
    ) -> serde_json::Value {
        json!({"summary": {"name": "web", "namespace": "shop", "replicas": replicas},
            "spec": {"replicas": replicas},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "template": {"containers": [{"name": "web", "image": image}]},
            "status": {"replicas": replicas.max(updated), "updatedReplicas": updated,
                "availableReplicas": available}})
    }

    fn types(c: &[Change]) -> Vec<&'static str> {
        c.iter().map(|c| c.change_type).collect()
    }

    #[test]
    fn a_rollout_starts_once_and_finishes_once() {
        let mut a = inv(json!({"deployments": [dep("4", 3, 3, 3, "web:1.4")]}));
        let mut b = inv(json!({"deployments": [dep("5", 3, 1, 3, "web:1.5")]}));
        let c = diff(&a, &mut b);
        assert_eq!(types(&c), ["image_changed", "rollout_started"]);
        assert_eq!(c[0].summary, "container web: web:1.4 → web:1.5");
        // Still rolling: nothing new.
        let mut b2 = inv(json!({"deployments": [dep("5", 3, 2, 3, "web:1.5")]}));
        assert!(diff(&b, &mut b2).is_empty());
        // Done.
        let mut b3 = inv(json!({"deployments": [dep("5", 3, 3, 3, "web:1.5")]}));
        assert_eq!(types(&diff(&b2, &mut b3)), ["rollout_finished"]);
        // A pod crash (available < updated) without a new revision is not a rollout.
        let mut crash = inv(json!({"deployments": [dep("5", 3, 3, 2, "web:1.5")]}));
        assert!(diff(&b3, &mut crash).is_empty());
        let mut healed = inv(json!({"deployments": [dep("5", 3, 3, 3, "web:1.5")]}));
        assert!(diff(&crash, &mut healed).is_empty());
        // A fast rollout seen only when done: started and finished in one diff.
        a = healed;
        let mut fast = inv(json!({"deployments": [dep("6", 3, 3, 3, "web:1.6")]}));
        assert_eq!(
            types(&diff(&a, &mut fast)),
            ["image_changed", "rollout_started", "rollout_finished"]
        );
    }

    #[test]
    fn nodes_statefulsets_daemonsets_and_ingresses() {
        let node = |ready: &str, cordoned: bool, kubelet: &str| {
            json!({"summary": {"name": "n1"}, "spec": {"unschedulable": cordoned},
                "conditions": [{"type": "Ready", "status": ready}],
                "info": {"kubeletVersion": kubelet, "kernelVersion": "6.1"}})
        };
        let sts = |rev: &str, cur: &str| {
            json!({"summary": {"name": "db", "namespace": "data", "replicas": 3},
                "spec": {"replicas": 3},
                "status": {"currentRevision": cur, "updateRevision": rev, "updatedReplicas": 3}})
        };
        let ds = |gen: i64, updated: i32| {
            json!({"summary": {"name": "agent", "namespace": "ops"},
                "status": {"desiredNumberScheduled": 2, "updatedNumberScheduled": updated,
                    "numberAvailable": 2, "observedGeneration": gen}})
        };
        let ing = |svc: &str| {
            json!({"summary": {"name": "shop", "namespace": "shop"},
                "spec": {"rules": [{"host": "shop.example", "paths": [{"path": "/",
                    "backend": {"service": {"name": svc, "portNumber": 80}}}]}]}})
        };
        let a = inv(
            json!({"nodes": [node("True", false, "v1.29.3")], "statefulsets": [sts("db-1", "db-1")],
            "daemonsets": [ds(3, 2)], "ingresses": [ing("web")]}),
        );
        let mut b = inv(
            json!({"nodes": [node("False", true, "v1.30.0")], "statefulsets": [sts("db-2", "db-1")],
            "daemonsets": [ds(4, 1)], "ingresses": [ing("web-v2")]}),
        );
        let c = diff(&a, &mut b);
        assert_eq!(
            types(&c),
            [
                "cordoned",
                "not_ready",
                "kubelet_upgraded",
                "rollout_started",
                "rollout_started",
                "repointed"
            ]
        );
        assert_eq!(
            c[5].summary,
            "shop.example/ → web:80 → shop.example/ → web-v2:80"
        );
        let mut done = inv(
            json!({"nodes": [node("True", true, "v1.30.0")], "statefulsets": [sts("db-2", "db-2")],
            "daemonsets": [ds(4, 2)], "ingresses": [ing("web-v2")]}),
        );
        assert_eq!(
            types(&diff(&b, &mut done)),
            ["ready", "rollout_finished", "rollout_finished"]
        );
    }

    #[test]
    fn cron_runs_count_under_their_cronjob_and_churn_is_silent() {
        let snap = |jobs: &[&str], pods: &[(&str, &str, &str)]| {
            json!({
                "jobs": jobs.iter().map(|j| json!({"name": j, "namespace": "ops", "kind": "Job",
                    "owner_kind": "CronJob", "owner_name": "backup"})).collect::<Vec<_>>(),
                "pods": pods.iter().map(|(n, k, o)| json!({"summary": {"name": n, "namespace": "ops",
                    "ownerKind": k, "ownerName": o}})).collect::<Vec<_>>(),
            })
        };
        let a = inv(snap(
            &["backup-1"],
            &[("backup-1-x", "Job", "backup-1"), ("w-1", "DaemonSet", "w")],
        ));
        assert_eq!(a.pod_owners.get("CronJob/ops/backup"), Some(&1));
        // The next run replaces the last; a DaemonSet pod is replaced: pure churn.
        let mut b = inv(snap(
            &["backup-2"],
            &[("backup-2-x", "Job", "backup-2"), ("w-2", "DaemonSet", "w")],
        ));
        assert!(diff(&a, &mut b).is_empty());
        let mut c = inv(snap(&["backup-2"], &[("w-2", "DaemonSet", "w")]));
        let d = diff(&b, &mut c);
        assert_eq!(types(&d), ["pods_changed"]);
        assert_eq!((d[0].kind, d[0].name.as_str()), ("CronJob", "backup"));
        assert_eq!(d[0].summary, "pods 1 → 0 (1 deleted)");
    }

    #[test]
    fn a_storm_is_summarised_and_a_removed_namespace_takes_its_objects_along() {
        let cms = |n: usize, ns: &str| {
            (0..n)
                .map(|i| json!({"name": format!("cm-{i}"), "namespace": ns, "kind": "ConfigMap"}))
                .collect::<Vec<_>>()
        };
        let a = inv(
            json!({"namespaces": [{"summary": {"name": "a"}}, {"summary": {"name": "gone"}}],
            "configmaps": cms(5, "gone")}),
        );
        let mut b =
            inv(json!({"namespaces": [{"summary": {"name": "a"}}], "configmaps": cms(500, "a")}));
        let c = diff(&a, &mut b);
        assert_eq!(c.len(), MAX_CHANGES_PER_SNAPSHOT);
        assert_eq!(c[0].summary, "namespace gone removed (with 5 ConfigMap)");
        let last = c.last().unwrap();
        assert_eq!(last.change_type, "summarised");
        assert_eq!(last.summary, "302 more changes in this snapshot: 302 added");
    }

    #[test]
    fn several_containers_changed_make_one_row() {
        let d = |a: &str, b: &str| {
            json!({"deployments": [{"summary": {"name": "web", "namespace": "shop"},
                "template": {"containers": [{"name": "app", "image": a}, {"name": "proxy", "image": b}]}}]})
        };
        let old = inv(d("app:1", "proxy:1"));
        let mut new = inv(d("app:2", "proxy:2"));
        let c = diff(&old, &mut new);
        assert_eq!(types(&c), ["image_changed"]);
        assert_eq!(
            c[0].summary,
            "container app: app:1 → app:2; container proxy: proxy:1 → proxy:2"
        );
        assert_eq!(
            (c[0].old_value.as_str(), c[0].new_value.as_str()),
            ("app=app:1, proxy=proxy:1", "app=app:2, proxy=proxy:2")
        );
    }

    #[test]
    fn nul_characters_never_reach_the_database() {
        let a = inv(json!({"configmaps": [{"name": "c", "namespace": "n", "data_keys": ["a"]}]}));
        let mut b =
            inv(json!({"configmaps": [{"name": "c", "namespace": "n", "data_keys": ["a\0b"]}]}));
        let c = diff(&a, &mut b);
        assert!(
            !c[0].summary.contains('\0') && !c[0].new_value.contains('\0'),
            "{c:?}"
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(2_000);
        let a = inv(json!({"configmaps": [{"name": "c", "namespace": "n", "data_keys": ["a"]}]}));
        let mut b =
            inv(json!({"configmaps": [{"name": "c", "namespace": "n", "data_keys": [long]}]}));
        let c = diff(&a, &mut b);
        assert_eq!(c[0].new_value.chars().count(), MAX_TEXT);
        assert!(c[0].summary.ends_with('…'));
    }
}
