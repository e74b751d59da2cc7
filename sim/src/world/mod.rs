//! One simulated cluster: its state kept as the master's own model structs, mutated in place.
//!
//! [`World::new`] builds a seeded, realistic cluster; [`World::tick`] moves it forward one
//! collection (pods restart, crash-loop and move, events repeat, node metrics drift, nodes
//! fail and recover); [`World::execute`] runs an agent command so that the next snapshot
//! shows its effect; [`World::slo_push`] produces the Traefik-style SLO push. After every
//! change [`World::finalize`] recomputes what the agent derives from the lists (workload
//! statuses, service backends, namespace counts, ages and the summary), so the snapshot is
//! always self-consistent.

mod build;
pub mod catalog;
mod evolve;
mod exec;
mod slo;

use std::collections::HashMap;

use atlhyper_actors::model::{
    BackendEndpoint, BackendSummary, ClusterSnapshot, ClusterSummary, EndpointTargetRef, Event,
    GoTime, NamespaceResources, Pod, PodCondition, ResourceRef, StrMap, Text,
};
use chrono::{DateTime, TimeDelta, Utc};

use crate::rng::Rng;

pub use slo::{SloBurst, SloState};

/// Reads a model text field as `&str` (works for `String` and for an interned newtype).
pub fn st(t: &Text) -> &str {
    t
}

/// The value of label `key` in `m`.
pub fn label<'a>(m: &'a StrMap, key: &str) -> Option<&'a str> {
    m.iter().find(|(k, _)| st(k) == key).map(|(_, v)| st(v))
}

/// Sets label `key` in `m`.
pub fn set_label(m: &mut StrMap, key: &str, value: &str) {
    m.insert(key, value);
}

/// A map from string pairs.
pub fn smap(pairs: &[(&str, &str)]) -> StrMap {
    pairs
        .iter()
        .map(|(k, v)| (Text::from(*k), Text::from(*v)))
        .collect()
}

/// Kubernetes object times have whole seconds.
pub fn gt(t: DateTime<Utc>) -> GoTime {
    GoTime::from_utc(DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t))
}

/// An RFC 3339 string (for the fields v2.1 carries as strings).
pub fn ts(t: DateTime<Utc>) -> Text {
    gt(t).to_string().into()
}

/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration`, what kubectl prints as AGE.
pub fn human_age(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".to_owned();
    }
    let secs = secs.max(0);
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 192 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    let years = hours / 24 / 365;
    let days = (hours / 24) % 365;
    if hours < 24 * 365 * 8 && days != 0 {
        format!("{years}y{days}d")
    } else {
        format!("{years}y")
    }
}

/// Simulator-only facts about a node (parallel to `snap.nodes`; nodes are never added or
/// removed).
#[derive(Debug, Clone)]
pub(crate) struct NodeAux {
    /// Position in the cluster (drives IPs and CIDRs).
    pub idx: usize,
    /// Control-plane node (tainted; only system pods).
    pub cp: bool,
    /// Bare metal (has temperature sensors) rather than a cloud VM.
    pub bare: bool,
    /// Collections left until a NotReady node recovers (0: ready).
    pub down: u32,
    /// Collections the node has been NotReady so far.
    pub down_for: u32,
    /// Next pod IP host number.
    pub ip_next: u32,
    /// Pods on the node at the last count (plus the ones placed since).
    pub pods: usize,
    /// The node's UID (for events).
    pub uid: String,
    /// Long-run CPU usage the random walk reverts to (%).
    pub cpu_base: f64,
    /// Long-run memory usage the random walk reverts to (%).
    pub mem_base: f64,
}

/// Probabilities of the evolution, per pod (or node) and per collection.
#[derive(Debug, Clone)]
pub struct Dynamics {
    /// A running container restarts once.
    pub restart: f64,
    /// A running container starts crash-looping.
    pub crashloop: f64,
    /// A crash-looping container recovers.
    pub recover: f64,
    /// A deployment pod is deleted and replaced elsewhere (drain, eviction, spot loss).
    pub reschedule: f64,
    /// The cluster loses one node (NotReady for a few collections).
    pub node_down: f64,
    /// A readiness probe fails once.
    pub unhealthy: f64,
}

impl Default for Dynamics {
    fn default() -> Self {
        Dynamics {
            restart: 0.002,
            crashloop: 0.0004,
            recover: 0.04,
            reschedule: 0.001,
            node_down: 0.01,
            unhealthy: 0.001,
        }
    }
}

/// One simulated cluster.
pub struct World {
    /// The state, serialized as-is for every snapshot.
    pub snap: ClusterSnapshot,
    /// Evolution probabilities.
    pub dynamics: Dynamics,
    pub(crate) rng: Rng,
    pub(crate) nodes: Vec<NodeAux>,
    /// Current simulated time (the last collection or command).
    pub(crate) now: DateTime<Utc>,
    /// How many events are kept (Kubernetes expires old ones).
    pub(crate) event_cap: usize,
    pub(crate) slo: SloState,
    /// Collections so far.
    pub ticks: u64,
}

impl World {
    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        st(&self.snap.cluster_id)
    }

    /// Moves the clock to `now` (never backwards) and returns the seconds elapsed.
    pub(crate) fn advance_clock(&mut self, now: DateTime<Utc>) -> f64 {
        let dt = (now - self.now).num_milliseconds() as f64 / 1000.0;
        if now > self.now {
            self.now = now;
        }
        dt.clamp(0.0, 3600.0)
    }

    /// Sets `fetched_at` to the current time, strictly after the previous value.
    pub(crate) fn stamp(&mut self) {
        let prev = self.snap.fetched_at.to_utc();
        let mut at = self.now;
        if let Some(p) = prev {
            if at <= p {
                at = p + TimeDelta::microseconds(1);
            }
        }
        self.snap.fetched_at = GoTime::from_utc(at);
    }

    /// Recomputes everything the agent derives from the lists.
    pub fn finalize(&mut self) {
        let now = self.now;
        let node_ready: HashMap<String, bool> = self
            .snap
            .nodes
            .iter()
            .zip(&self.nodes)
            .map(|(n, a)| (st(&n.summary.name).to_owned(), a.down == 0))
            .collect();
        for a in &mut self.nodes {
            a.pods = 0;
        }
        let node_index: HashMap<String, usize> = self
            .snap
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (st(&n.summary.name).to_owned(), i))
            .collect();
        // Pods: readiness from containers and node, counts per owner.
        let mut owners: HashMap<String, (i32, i32, i32)> = HashMap::new();
        for pod in &mut self.snap.pods {
            let node = st(&pod.summary.node_name);
            let ready_node = node.is_empty() || node_ready.get(node).copied().unwrap_or(true);
            if let Some(&i) = node_index.get(node) {
                if let Some(a) = self.nodes.get_mut(i) {
                    a.pods += 1;
                }
            }
            refresh_pod_readiness(pod, ready_node, now);
            pod.summary.age = human_age(age_secs(pod.summary.created_at, now)).into();
            let key = owner_key(
                st(&pod.summary.owner_kind),
                st(&pod.summary.namespace),
                st(&pod.summary.owner_name),
            );
            let e = owners.entry(key).or_insert((0, 0, 0));
            e.0 += 1;
            if pod_ready(pod) {
                e.1 += 1;
            }
            if crash_looping(pod) {
                e.2 += 1;
            }
        }
        let count = |kind: &str, ns: &str, name: &str| {
            owners
                .get(&owner_key(kind, ns, name))
                .copied()
                .unwrap_or((0, 0, 0))
        };
        for rs in &mut self.snap.replicasets {
            let (n, r, _) = count("ReplicaSet", st(&rs.namespace), st(&rs.name));
            rs.replicas = n;
            rs.ready_replicas = r;
            rs.available_replicas = r;
        }
        for d in &mut self.snap.deployments {
            let ns = st(&d.summary.namespace).to_owned();
            let desired = d.spec.replicas.unwrap_or(1);
            let (mut total, mut ready, mut crashing) = (0, 0, 0);
            for b in &mut d.replica_sets {
                let (n, r, c) = count("ReplicaSet", &ns, st(&b.name));
                crashing += c;
                b.replicas = n;
                b.ready = r;
                b.available = r;
                b.age = human_age(age_secs(b.created_at, now)).into();
                total += n;
                ready += r;
            }
            let updated = d.replica_sets.first().map_or(0, |b| b.replicas);
            let unavailable = (desired - ready).max(0);
            d.summary.replicas = desired;
            d.summary.updated = updated;
            d.summary.ready = ready;
            d.summary.available = ready;
            d.summary.unavailable = unavailable;
            d.summary.age = human_age(age_secs(d.summary.created_at, now)).into();
            d.status.replicas = total;
            d.status.updated_replicas = updated;
            d.status.ready_replicas = ready;
            d.status.available_replicas = ready;
            d.status.unavailable_replicas = unavailable;
            build::deployment_conditions(d, crashing, now);
        }
        let n_nodes = i32::try_from(self.snap.nodes.len()).unwrap_or(i32::MAX);
        for ds in &mut self.snap.daemonsets {
            let (n, r, _) = count("DaemonSet", st(&ds.summary.namespace), st(&ds.summary.name));
            let s = &mut ds.summary;
            s.desired_number_scheduled = n_nodes;
            s.current_number_scheduled = n;
            s.number_ready = r;
            s.number_available = r;
            s.number_unavailable = (n_nodes - r).max(0);
            s.updated_number_scheduled = n;
            s.age = human_age(age_secs(s.created_at, now)).into();
            let t = &mut ds.status;
            t.desired_number_scheduled = n_nodes;
            t.current_number_scheduled = n;
            t.number_ready = r;
            t.number_available = r;
            t.number_unavailable = (n_nodes - r).max(0);
            t.updated_number_scheduled = n;
            ds.rollout = Some(atlhyper_actors::model::WorkloadRollout {
                phase: if r == n_nodes {
                    "Complete"
                } else {
                    "Progressing"
                }
                .into(),
                ..Default::default()
            });
        }
        for ss in &mut self.snap.statefulsets {
            let (n, r, _) = count(
                "StatefulSet",
                st(&ss.summary.namespace),
                st(&ss.summary.name),
            );
            let want = ss.spec.replicas.unwrap_or(1);
            ss.summary.ready = r;
            ss.summary.current = n;
            ss.summary.updated = n;
            ss.summary.available = r;
            ss.summary.replicas = want;
            ss.summary.age = human_age(age_secs(ss.summary.created_at, now)).into();
            ss.status.replicas = n;
            ss.status.ready_replicas = r;
            ss.status.current_replicas = n;
            ss.status.updated_replicas = n;
            ss.status.available_replicas = r;
            ss.rollout = Some(atlhyper_actors::model::WorkloadRollout {
                phase: if r == want { "Complete" } else { "Degraded" }.into(),
                ..Default::default()
            });
        }
        self.refresh_backends();
        for n in &mut self.snap.nodes {
            n.summary.age = human_age(age_secs(n.summary.creation_time, now)).into();
        }
        for s in &mut self.snap.services {
            s.summary.age = human_age(age_secs(s.summary.created_at, now)).into();
        }
        for i in &mut self.snap.ingresses {
            i.summary.age = human_age(age_secs(i.summary.created_at, now)).into();
        }
        self.refresh_namespaces();
        self.snap.summary = compute_summary(&self.snap);
    }

    /// Service endpoints from the pods their selector matches.
    fn refresh_backends(&mut self) {
        let mut by_app: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, p) in self.snap.pods.iter().enumerate() {
            if let Some(app) = label(&p.labels, "app") {
                by_app
                    .entry((st(&p.summary.namespace).to_owned(), app.to_owned()))
                    .or_default()
                    .push(i);
            }
        }
        let now = self.now;
        for svc in &mut self.snap.services {
            let Some(app) = label(&svc.selector, "app") else {
                continue;
            };
            let key = (st(&svc.summary.namespace).to_owned(), app.to_owned());
            let Some(b) = svc.backends.as_mut() else {
                continue;
            };
            let pods = by_app.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            let mut endpoints = Vec::with_capacity(pods.len());
            let (mut ready, mut not_ready) = (0, 0);
            for &i in pods {
                let Some(p) = self.snap.pods.get(i) else {
                    continue;
                };
                if p.status.pod_ip.is_empty() {
                    continue;
                }
                let ok = pod_ready(p);
                if ok {
                    ready += 1;
                } else {
                    not_ready += 1;
                }
                endpoints.push(BackendEndpoint {
                    address: p.status.pod_ip.clone(),
                    ready: ok,
                    node_name: p.summary.node_name.clone(),
                    zone: Text::default(),
                    target_ref: Some(EndpointTargetRef {
                        kind: "Pod".into(),
                        namespace: p.summary.namespace.clone(),
                        name: p.summary.name.clone(),
                        uid: Text::default(),
                    }),
                });
            }
            if b.summary.ready != ready || b.summary.not_ready != not_ready {
                b.summary.updated = gt(now);
            }
            b.summary = BackendSummary {
                ready,
                not_ready,
                total: ready + not_ready,
                slices: 1,
                updated: b.summary.updated,
            };
            b.endpoints = endpoints;
        }
    }

    /// Each namespace's resource counts.
    fn refresh_namespaces(&mut self) {
        let s = &self.snap;
        let mut m: HashMap<&str, NamespaceResources> = HashMap::new();
        for p in &s.pods {
            let r = m.entry(st(&p.summary.namespace)).or_default();
            r.pods += 1;
            match st(&p.status.phase) {
                "Running" => r.pods_running += 1,
                "Pending" => r.pods_pending += 1,
                "Failed" => r.pods_failed += 1,
                "Succeeded" => r.pods_succeeded += 1,
                _ => {}
            }
        }
        for d in &s.deployments {
            m.entry(st(&d.summary.namespace)).or_default().deployments += 1;
        }
        for x in &s.statefulsets {
            m.entry(st(&x.summary.namespace)).or_default().stateful_sets += 1;
        }
        for x in &s.daemonsets {
            m.entry(st(&x.summary.namespace)).or_default().daemon_sets += 1;
        }
        for x in &s.replicasets {
            m.entry(st(&x.namespace)).or_default().replica_sets += 1;
        }
        for x in &s.jobs {
            m.entry(st(&x.namespace)).or_default().jobs += 1;
        }
        for x in &s.cronjobs {
            m.entry(st(&x.namespace)).or_default().cron_jobs += 1;
        }
        for x in &s.services {
            m.entry(st(&x.summary.namespace)).or_default().services += 1;
        }
        for x in &s.ingresses {
            m.entry(st(&x.summary.namespace)).or_default().ingresses += 1;
        }
        for x in &s.network_policies {
            m.entry(st(&x.namespace)).or_default().network_policies += 1;
        }
        for x in &s.configmaps {
            m.entry(st(&x.namespace)).or_default().config_maps += 1;
        }
        for x in &s.secrets {
            m.entry(st(&x.namespace)).or_default().secrets += 1;
        }
        for x in &s.service_accounts {
            m.entry(st(&x.namespace)).or_default().service_accounts += 1;
        }
        for x in &s.pvcs {
            m.entry(st(&x.namespace)).or_default().pvcs += 1;
        }
        let now = self.now;
        let mut counts: Vec<NamespaceResources> = self
            .snap
            .namespaces
            .iter()
            .map(|n| m.remove(st(&n.summary.name)).unwrap_or_default())
            .collect();
        for (n, r) in self.snap.namespaces.iter_mut().zip(counts.drain(..)) {
            n.resources = r;
            if let Ok(t) = GoTime::parse(st(&n.summary.created_at)) {
                n.summary.age = human_age(age_secs(t, now)).into();
            }
        }
    }

    /// Adds an event, or repeats the matching one (same object, reason and source):
    /// its count rises and its last timestamp moves, as the Kubernetes event recorder does.
    pub(crate) fn emit(
        &mut self,
        warning: bool,
        reason: &str,
        message: String,
        source: &str,
        involved: ResourceRef,
    ) {
        let now = gt(self.now);
        if let Some(e) = self.snap.events.iter_mut().find(|e| {
            st(&e.reason) == reason
                && st(&e.involved_object.name) == st(&involved.name)
                && st(&e.involved_object.kind) == st(&involved.kind)
                && st(&e.involved_object.namespace) == st(&involved.namespace)
        }) {
            e.count = e.count.saturating_add(1);
            e.last_timestamp = now;
            e.message = message.into();
            return;
        }
        let ns: Text = if involved.namespace.is_empty() {
            "default".into()
        } else {
            involved.namespace.clone()
        };
        let name = format!("{}.{}", st(&involved.name), self.rng.hex(16));
        let ev = Event {
            uid: self.rng.uid().into(),
            name: name.into(),
            namespace: ns,
            kind: "Event".into(),
            created_at: now,
            type_: if warning { "Warning" } else { "Normal" }.into(),
            reason: reason.into(),
            message: message.into(),
            source: source.into(),
            involved_object: involved,
            count: 1,
            first_timestamp: now,
            last_timestamp: now,
            ..Default::default()
        };
        self.snap.events.push(ev);
    }

    /// Keeps the newest `event_cap` events (Kubernetes expires events after an hour).
    pub(crate) fn expire_events(&mut self) {
        let ev = &mut self.snap.events;
        ev.sort_by_key(|e| std::cmp::Reverse(e.last_timestamp));
        ev.truncate(self.event_cap);
    }
}

/// `ReplicaSet/shop/web-abc`.
fn owner_key(kind: &str, ns: &str, name: &str) -> String {
    format!("{kind}/{ns}/{name}")
}

/// Seconds from `t` to `now`.
pub(crate) fn age_secs(t: GoTime, now: DateTime<Utc>) -> i64 {
    t.to_utc().map_or(0, |t| (now - t).num_seconds())
}

/// The pod's Ready condition is True.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .conditions
        .iter()
        .any(|c| st(&c.type_) == "Ready" && st(&c.status) == "True")
}

/// The pod's main container is in CrashLoopBackOff.
pub fn crash_looping(p: &Pod) -> bool {
    p.containers
        .first()
        .is_some_and(|c| st(&c.state_reason) == "CrashLoopBackOff")
}

/// Sets the pod's ready column and Ready/ContainersReady conditions from its containers
/// and its node. A pod on a NotReady node is not ready, whatever its containers say.
pub(crate) fn refresh_pod_readiness(pod: &mut Pod, node_ready: bool, now: DateTime<Utc>) {
    let total = pod.containers.len();
    let running = st(&pod.status.phase) == "Running";
    let mut ready = 0;
    let mut unready: Vec<&str> = Vec::new();
    for c in &mut pod.containers {
        c.ready = running && node_ready && st(&c.state) == "running";
        if c.ready {
            ready += 1;
        } else {
            unready.push(st(&c.name));
        }
    }
    let all = total > 0 && ready == total;
    let col = format!("{ready}/{total}");
    if st(&pod.status.ready) != col {
        pod.status.ready = col.into();
    }
    let (status, reason, message): (&str, &str, String) = if all {
        ("True", "", String::new())
    } else if !node_ready && running {
        ("False", "NodeNotReady", String::new())
    } else {
        (
            "False",
            "ContainersNotReady",
            format!("containers with unready status: [{}]", unready.join(" ")),
        )
    };
    for c in &mut pod.status.conditions {
        if matches!(st(&c.type_), "Ready" | "ContainersReady") {
            set_condition(c, status, reason, &message, now);
        }
    }
}

/// Updates a pod condition, moving its transition time only when the status changes.
pub(crate) fn set_condition(
    c: &mut PodCondition,
    status: &str,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) {
    if st(&c.status) != status {
        c.status = status.into();
        c.last_transition_time = ts(now);
    }
    if st(&c.reason) != reason {
        c.reason = reason.into();
    }
    if st(&c.message) != message {
        c.message = message.into();
    }
}

/// The ClusterSummary by the v2.1 rules (reference §2.2).
pub fn compute_summary(s: &ClusterSnapshot) -> ClusterSummary {
    let phase = |p: &str| s.pods.iter().filter(|x| st(&x.status.phase) == p).count() as i64;
    ClusterSummary {
        total_nodes: s.nodes.len() as i64,
        ready_nodes: s
            .nodes
            .iter()
            .filter(|n| st(&n.summary.ready) == "True")
            .count() as i64,
        total_pods: s.pods.len() as i64,
        running_pods: phase("Running"),
        pending_pods: phase("Pending"),
        failed_pods: phase("Failed"),
        total_deployments: s.deployments.len() as i64,
        healthy_deployments: s
            .deployments
            .iter()
            .filter(|d| d.summary.replicas > 0 && d.summary.ready == d.summary.replicas)
            .count() as i64,
        total_statefulsets: s.statefulsets.len() as i64,
        total_daemonsets: s.daemonsets.len() as i64,
        total_services: s.services.len() as i64,
        total_ingresses: s.ingresses.len() as i64,
        total_namespaces: s.namespaces.len() as i64,
        total_events: s.events.len() as i64,
        warning_events: s
            .events
            .iter()
            .filter(|e| st(&e.type_) == "Warning")
            .count() as i64,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests;
