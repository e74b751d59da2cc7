//! Evaluating conditions against a snapshot.
//!
//! [`Evaluator`] owns the only state evaluation needs: the restart history of every pod of
//! every cluster, for `pod.recent_restarts`. It is bounded by the snapshots: a pod missing
//! from a cluster's latest snapshot is forgotten, and so is a whole cluster on
//! [`Evaluator::forget_cluster`]. Nothing survives a restart of its owner: after one, every
//! pod counts as first seen (0 recent restarts) and the window fills again within
//! [`RECENT_RESTARTS_WINDOW`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use atlhyper_actors::model::{ClusterSnapshot, Event, GoTime, Kind, Pod, Text};
use chrono::{DateTime, TimeDelta, Utc};

use super::condition::{Condition, Metric};
use super::enrich::{deployment_details, node_details, Lookup};
use super::scope::Scope;
use crate::notify::message::ResourceId;
use atlhyper_actors::model::KeyMetrics;

/// The window of `pod.recent_restarts` (defined with the conditions).
pub use super::condition::RECENT_RESTARTS_WINDOW;

/// How recently a Warning event must have been seen to count for `event.count`: the
/// kubelet repeats the events of an ongoing problem (BackOff, Unhealthy) every few
/// minutes, while Kubernetes keeps old events for an hour, long after the problem ended.
pub const EVENT_ACTIVE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// One resource for which a condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The resource (for `event.count`, the events' involved object).
    pub resource: ResourceId,
    /// The event reason for `event.count` (one alert per object and reason); empty
    /// otherwise.
    pub subkey: String,
    /// The measured value.
    pub value: f64,
    /// [`Condition::describe`] of the value; for events prefixed with the reason
    /// (`BackOff: count 12 > 5`).
    pub description: String,
    /// [`enrich`](super::enrich()) of the resource; for events followed by `reason`, `count`
    /// and `message` (the latest event's).
    pub details: Vec<(String, String)>,
}

impl Observation {
    /// The part of the alert fingerprint that names what the alert is about:
    /// [`ResourceId::key`], plus `#reason` for events.
    pub fn fingerprint_key(&self) -> String {
        let mut k = self.resource.key();
        if !self.subkey.is_empty() {
            k.push('#');
            k.push_str(&self.subkey);
        }
        k
    }
}

/// Evaluates conditions; see the module header for its state.
#[derive(Debug, Default)]
pub struct Evaluator {
    /// Cluster id → restart memory.
    clusters: HashMap<String, RestartMemory>,
}

/// The restart history of the pods of one cluster.
#[derive(Debug, Default)]
struct RestartMemory {
    /// Bumped by every snapshot; pods not marked with the current value are gone.
    generation: u64,
    /// Namespace → pod name → history. Nested so that lookups by `&str` allocate nothing.
    /// The keys are the snapshot's own `Text`s: shared, not copied.
    pods: HashMap<Text, HashMap<Text, PodRestarts>>,
}

/// The restart count of one pod over time, one entry per change.
#[derive(Debug)]
struct PodRestarts {
    /// Creation time: a pod recreated under the same name starts a new history.
    created: GoTime,
    /// [`RestartMemory::generation`] of the last snapshot that had the pod.
    seen: u64,
    /// `(since, count)`, oldest first: the count was `count` from `since` until the next
    /// entry. The first entry is the count at the start of the window (or when first seen).
    changes: VecDeque<(DateTime<Utc>, i64)>,
}

impl PodRestarts {
    fn new(count: i64, created: GoTime, now: DateTime<Utc>, generation: u64) -> Self {
        PodRestarts {
            created,
            seen: generation,
            changes: VecDeque::from([(now, count)]),
        }
    }

    /// Records the count seen at `now`; drops entries that ended before `window_start`.
    fn observe(
        &mut self,
        count: i64,
        created: GoTime,
        now: DateTime<Utc>,
        generation: u64,
        window_start: DateTime<Utc>,
    ) {
        self.seen = generation;
        match self.changes.back().copied() {
            Some((at, last)) if created.same_instant(&self.created) && count >= last => {
                if count > last {
                    // A clock that stepped back must not reorder the history.
                    self.changes.push_back((now.max(at), count));
                }
            }
            // Recreated (new creation time, or a count that went down): start over.
            _ => {
                self.created = created;
                self.changes.clear();
                self.changes.push_back((now, count));
            }
        }
        while self
            .changes
            .get(1)
            .is_some_and(|&(since, _)| since <= window_start)
        {
            self.changes.pop_front();
        }
    }

    /// Restarts between `window_start` and now, given the current count.
    fn recent(&self, current: i64, window_start: DateTime<Utc>) -> i64 {
        let Some(&(_, first)) = self.changes.front() else {
            return 0;
        };
        let base = self
            .changes
            .iter()
            .take_while(|&&(since, _)| since <= window_start)
            .last()
            .map_or(first, |&(_, c)| c);
        (current - base).max(0)
    }
}

/// `now - d`, saturating.
fn minus(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Evaluator {
    /// An evaluator that remembers nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a cluster's snapshot received at `now`. Call it once per snapshot, before
    /// [`matches`](Self::matches); pods not in this snapshot are forgotten.
    pub fn observe_snapshot(&mut self, cluster: &str, snap: &ClusterSnapshot, now: DateTime<Utc>) {
        if !self.clusters.contains_key(cluster) {
            self.clusters
                .insert(cluster.to_owned(), RestartMemory::default());
        }
        let Some(mem) = self.clusters.get_mut(cluster) else {
            return;
        };
        mem.generation += 1;
        let generation = mem.generation;
        let window_start = minus(now, RECENT_RESTARTS_WINDOW);
        for pod in &snap.pods {
            let (ns, name) = (pod.namespace(), pod.name());
            let count = i64::from(pod.status.restarts);
            let created = pod.summary.created_at;
            if !mem.pods.contains_key(ns) {
                mem.pods
                    .insert(pod.summary.namespace.clone(), HashMap::new());
            }
            let Some(by_name) = mem.pods.get_mut(ns) else {
                continue;
            };
            match by_name.get_mut(name) {
                Some(p) => p.observe(count, created, now, generation, window_start),
                None => {
                    by_name.insert(
                        pod.summary.name.clone(),
                        PodRestarts::new(count, created, now, generation),
                    );
                }
            }
        }
        mem.pods.retain(|_, by_name| {
            by_name.retain(|_, p| p.seen == generation);
            !by_name.is_empty()
        });
    }

    /// Forgets everything about a cluster (deleted, or its evaluation disabled).
    pub fn forget_cluster(&mut self, cluster: &str) {
        self.clusters.remove(cluster);
    }

    /// Pods whose restart history is kept, over every cluster.
    pub fn tracked_pods(&self) -> usize {
        self.clusters
            .values()
            .flat_map(|m| m.pods.values())
            .map(HashMap::len)
            .sum()
    }

    /// Restarts of one pod since `window_start` (0 for a pod this evaluator has not seen).
    fn recent_restarts(mem: Option<&RestartMemory>, pod: &Pod, window_start: DateTime<Utc>) -> i64 {
        mem.and_then(|m| m.pods.get(pod.namespace()))
            .and_then(|m| m.get(pod.name()))
            .map_or(0, |p| {
                p.recent(i64::from(pod.status.restarts), window_start)
            })
    }

    /// Every resource of the snapshot within `scope` for which `cond` holds, with its
    /// details. Empty for metrics not evaluated from snapshots
    /// ([`Metric::from_snapshot`]) and for clusters outside the scope.
    pub fn matches(
        &self,
        cond: &Condition,
        scope: &Scope,
        cluster: &str,
        snap: &ClusterSnapshot,
        now: DateTime<Utc>,
    ) -> Vec<Observation> {
        if !cond.metric.from_snapshot() || !scope.matches_cluster(cluster) {
            return Vec::new();
        }
        let look = Lookup::new(snap);
        let holds = |v: f64| cond.op.holds(v, cond.threshold);
        let observe = |resource: ResourceId, value: f64, details| Observation {
            resource,
            subkey: String::new(),
            value,
            description: cond.describe(value),
            details,
        };
        let mut out = Vec::new();
        match cond.metric {
            Metric::NodeCpuUsage
            | Metric::NodeMemoryUsage
            | Metric::NodeDiskUsage
            | Metric::NodeTemperature => {
                // Nodes are cluster-scoped: the namespace scope does not apply.
                for (name, m) in &snap.node_metrics {
                    let k = KeyMetrics::of(m);
                    let value = match cond.metric {
                        Metric::NodeCpuUsage => k.cpu,
                        Metric::NodeMemoryUsage => k.mem,
                        Metric::NodeDiskUsage => k.disk,
                        _ => k.temp,
                    };
                    if !holds(value) {
                        continue;
                    }
                    let node = look.node(name);
                    if !scope.labels.is_empty()
                        && !node.is_some_and(|n| scope.matches_labels(&n.labels))
                    {
                        continue;
                    }
                    let details = node.map(node_details).unwrap_or_default();
                    out.push(observe(resource("Node", "", name), value, details));
                }
            }
            Metric::NodeNotReady => {
                for n in &snap.nodes {
                    let value = if n.ready_condition() { 0.0 } else { 1.0 };
                    if holds(value) && scope.matches_labels(&n.labels) {
                        let r = resource("Node", "", &n.summary.name);
                        out.push(observe(r, value, node_details(n)));
                    }
                }
            }
            Metric::DeploymentUnavailableReplicas => {
                for d in &snap.deployments {
                    let ns = &d.summary.namespace;
                    if !scope.matches_namespace(ns) || !scope.matches_labels(&d.labels) {
                        continue;
                    }
                    let value = f64::from(d.unavailable_replicas());
                    if holds(value) {
                        let r = resource("Deployment", ns, &d.summary.name);
                        out.push(observe(r, value, deployment_details(d)));
                    }
                }
            }
            Metric::PodRestarts | Metric::PodRecentRestarts | Metric::PodNotReady => {
                let mem = self.clusters.get(cluster);
                let window_start = minus(now, RECENT_RESTARTS_WINDOW);
                for p in &snap.pods {
                    if !scope.matches_namespace(p.namespace()) || !scope.matches_labels(&p.labels) {
                        continue;
                    }
                    let value = match cond.metric {
                        Metric::PodRestarts => f64::from(p.status.restarts),
                        Metric::PodRecentRestarts => {
                            count_value(Self::recent_restarts(mem, p, window_start))
                        }
                        _ => {
                            if p.is_not_ready() {
                                1.0
                            } else {
                                0.0
                            }
                        }
                    };
                    if holds(value) {
                        let r = resource("Pod", p.namespace(), p.name());
                        out.push(observe(r, value, look.pod_details(p)));
                    }
                }
            }
            Metric::EventCount => out = events(cond, scope, snap, now, &look),
            Metric::ClusterOffline
            | Metric::ClusterAgentOutdated
            | Metric::CommandFailed
            | Metric::SloBurnRateFast
            | Metric::SloBurnRateMedium
            | Metric::SloBurnRateSlow
            | Metric::SloP95OverTarget => {}
        }
        out
    }
}

fn resource(kind: &str, namespace: &str, name: &str) -> ResourceId {
    ResourceId {
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// The namespace of an event's involved object; the event's own when the object names
/// none and its kind is namespaced ([`Kind::is_cluster_scoped_name`], the same test the
/// command validator uses).
fn involved_namespace(e: &Event) -> &str {
    let o = &e.involved_object;
    if o.namespace.is_empty() && !Kind::is_cluster_scoped_name(&o.kind) {
        &e.namespace
    } else {
        &o.namespace
    }
}

/// A count as a metric value (counts are far below 2^53, so exact).
fn count_value(n: i64) -> f64 {
    n as f64
}

/// The active Warning events of one involved object and reason.
struct EventGroup<'a> {
    /// Sum of their counts.
    count: i64,
    /// When the latest was seen.
    latest: DateTime<Utc>,
    /// The latest one's message.
    message: &'a str,
}

/// `event.count`: one observation per (involved object, reason) whose active Warning
/// events sum to a count for which the condition holds.
fn events(
    cond: &Condition,
    scope: &Scope,
    snap: &ClusterSnapshot,
    now: DateTime<Utc>,
    look: &Lookup<'_>,
) -> Vec<Observation> {
    // Measured from the agent's collection time, so that a snapshot evaluated late (or
    // replayed in a test) sees the events as they were.
    let active_since = minus(snap.fetched_at.to_utc().unwrap_or(now), EVENT_ACTIVE_WINDOW);
    let mut groups: HashMap<(&str, &str, &str, &str), EventGroup<'_>> = HashMap::new();
    for e in &snap.events {
        if !e.is_warning()
            || (!cond.reasons.is_empty() && !cond.reasons.iter().any(|r| *r == e.reason))
        {
            continue;
        }
        let o = &e.involved_object;
        if o.kind.is_empty() || o.name.is_empty() {
            continue;
        }
        let Some(seen) = e.last_seen().filter(|&t| t >= active_since) else {
            continue;
        };
        let ns = involved_namespace(e);
        if !scope.matches_namespace(ns) {
            continue;
        }
        // An event with count 0 (events.k8s.io) happened once.
        let count = i64::from(e.count.max(1));
        groups
            .entry((&o.kind, ns, &o.name, &e.reason))
            .and_modify(|g| {
                g.count += count;
                if seen >= g.latest {
                    g.latest = seen;
                    g.message = &e.message;
                }
            })
            .or_insert(EventGroup {
                count,
                latest: seen,
                message: &e.message,
            });
    }
    // Sorted for a stable order; only the groups that hold are worth sorting.
    let mut held: Vec<_> = groups
        .into_iter()
        .filter(|(_, g)| cond.op.holds(count_value(g.count), cond.threshold))
        .collect();
    held.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(held.len());
    for ((kind, ns, name, reason), g) in held {
        let value = count_value(g.count);
        let r = resource(kind, ns, name);
        if !scope.labels.is_empty() && !look.labels_of(&r).is_some_and(|l| scope.matches_labels(l))
        {
            continue;
        }
        let mut details = look.enrich(&r);
        details.push(("reason".to_owned(), reason.to_owned()));
        details.push(("count".to_owned(), g.count.to_string()));
        details.push(("message".to_owned(), g.message.to_owned()));
        out.push(Observation {
            resource: r,
            subkey: reason.to_owned(),
            value,
            description: format!("{reason}: {}", cond.describe(value)),
            details,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::{json, Value};

    fn snap(v: Value) -> ClusterSnapshot {
        serde_json::from_value(v).unwrap()
    }

    fn cond(metric: &str, op: &str, threshold: f64) -> Condition {
        let rt = Metric::parse(metric).unwrap().resource_type();
        Condition::parse(
            rt,
            &json!({"metric": metric, "op": op, "threshold": threshold}),
            None,
        )
        .unwrap()
    }

    fn scope(ns: Option<&str>, labels: Value) -> Scope {
        Scope::parse(None, ns.map(str::to_owned), Some(&labels)).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn keys(obs: &[Observation]) -> Vec<String> {
        obs.iter().map(Observation::fingerprint_key).collect()
    }

    fn run(c: &Condition, s: &Scope, snap: &ClusterSnapshot) -> Vec<Observation> {
        Evaluator::new().matches(c, s, "c1", snap, at("2026-01-01T00:00:00Z"))
    }

    fn detail<'a>(o: &'a Observation, key: &str) -> Option<&'a str> {
        o.details
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn nodes() -> ClusterSnapshot {
        snap(json!({
            "nodes": [
                {"summary": {"name": "n1", "ready": "True"}, "labels": {"role": "worker"},
                 "conditions": [{"type": "Ready", "status": "True"}]},
                {"summary": {"name": "n2", "ready": "True"}, "labels": {"role": "cp"},
                 "conditions": [{"type": "Ready", "status": "Unknown"},
                                {"type": "MemoryPressure", "status": "True"}]},
                {"summary": {"name": "n3", "ready": "False"}, "labels": {"role": "worker"}},
                {"summary": {"name": "n4", "ready": "True"}}
            ],
            "node_metrics": {
                "n1": {"cpu": {"usage_percent": 95.5}, "memory": {"usage_percent": 50.0},
                       "disks": [{"mount_point": "/data", "usage_percent": 99.0},
                                 {"mount_point": "/", "usage_percent": 70.0}],
                       "temperature": {"cpu_temp": 81.0}},
                "n2": {"cpu": {"usage_percent": 90.0}, "memory": {"usage_percent": 91.0},
                       "disks": [{"mount_point": "/", "usage_percent": 85.0}],
                       "temperature": {"cpu_temp": 60.0}},
                "ghost": {"cpu": {"usage_percent": 99.0}}
            }
        }))
    }

    #[test]
    fn node_usage_metrics_come_from_node_metrics() {
        let s = nodes();
        let all = Scope::default();
        let o = run(&cond("node.cpu_usage", ">=", 90.0), &all, &s);
        assert_eq!(keys(&o), ["Node/ghost", "Node/n1", "Node/n2"]);
        assert_eq!(o[1].value, 95.5);
        assert_eq!(o[1].description, "cpu_usage 95.5% >= 90%");
        assert_eq!(o[1].details, vec![("ready".to_owned(), "yes".to_owned())]);
        assert!(o[0].details.is_empty(), "no Node object, no details");
        assert_eq!(
            keys(&run(&cond("node.memory_usage", ">", 90.0), &all, &s)),
            ["Node/n2"]
        );
        // The root disk, not the fullest one.
        let d = run(&cond("node.disk_usage", ">", 60.0), &all, &s);
        assert_eq!(d.iter().map(|o| o.value).collect::<Vec<_>>(), [70.0, 85.0]);
        let t = run(&cond("node.temperature", ">", 80.0), &all, &s);
        assert_eq!(keys(&t), ["Node/n1"]);
        assert_eq!(t[0].description, "temperature 81°C > 80°C");
        // Nodes without metrics (n3, n4) yield nothing, not a 0.
        assert_eq!(
            keys(&run(&cond("node.cpu_usage", "<", 91.0), &all, &s)),
            ["Node/n2"]
        );
    }

    #[test]
    fn node_scope_uses_labels_and_ignores_namespace() {
        let s = nodes();
        let c = cond("node.cpu_usage", ">=", 90.0);
        assert_eq!(
            keys(&run(&c, &scope(None, json!({"role": "worker"})), &s)),
            ["Node/n1"],
            "ghost has no labels to match"
        );
        assert_eq!(run(&c, &scope(Some("shop"), json!({})), &s).len(), 3);
        let other = Scope::parse(Some("c2".into()), None, None).unwrap();
        assert!(run(&c, &other, &s).is_empty());
        let mine = Scope::parse(Some("c1".into()), None, None).unwrap();
        assert_eq!(run(&c, &mine, &s).len(), 3);
    }

    #[test]
    fn node_not_ready_prefers_the_ready_condition() {
        let s = nodes();
        let o = run(&cond("node.not_ready", "==", 1.0), &Scope::default(), &s);
        assert_eq!(keys(&o), ["Node/n2", "Node/n3"]);
        assert_eq!(
            o[0].details,
            vec![
                ("ready".to_owned(), "no".to_owned()),
                ("conditions".to_owned(), "MemoryPressure".to_owned())
            ]
        );
        let ready = run(&cond("node.not_ready", "==", 0.0), &Scope::default(), &s);
        assert_eq!(keys(&ready), ["Node/n1", "Node/n4"]);
    }

    #[test]
    fn deployment_unavailable_replicas() {
        let s = snap(json!({"deployments": [
            // spec 3, 1 available → 2.
            {"summary": {"name": "a", "namespace": "shop"}, "spec": {"replicas": 3},
             "status": {"replicas": 3, "readyReplicas": 1, "availableReplicas": 1}},
            // status.unavailableReplicas is larger (surge during a rollout) → 4.
            {"summary": {"name": "b", "namespace": "shop"}, "spec": {"replicas": 2},
             "status": {"replicas": 6, "availableReplicas": 2, "unavailableReplicas": 4}},
            // No spec.replicas: status.replicas → 5 - 2 = 3.
            {"summary": {"name": "c", "namespace": "ops"},
             "status": {"replicas": 5, "availableReplicas": 2}},
            // More available than desired (scale-down) → 0, never negative.
            {"summary": {"name": "d", "namespace": "ops"}, "spec": {"replicas": 1},
             "status": {"replicas": 3, "availableReplicas": 3}},
            // Scaled to zero → 0.
            {"summary": {"name": "e", "namespace": "ops"}, "spec": {"replicas": 0}},
            {"summary": {"name": "f", "namespace": "shop"}, "labels": {"team": "x"},
             "spec": {"replicas": 1}, "status": {"replicas": 1}}
        ]}));
        let all = run(
            &cond("deployment.unavailable_replicas", ">=", 0.0),
            &Scope::default(),
            &s,
        );
        let values: Vec<(String, f64)> = all
            .iter()
            .map(|o| (o.resource.name.clone(), o.value))
            .collect();
        assert_eq!(
            values,
            [
                ("a".to_owned(), 2.0),
                ("b".to_owned(), 4.0),
                ("c".to_owned(), 3.0),
                ("d".to_owned(), 0.0),
                ("e".to_owned(), 0.0),
                ("f".to_owned(), 1.0)
            ]
        );
        assert_eq!(detail(&all[0], "ready"), Some("1/3"));
        assert_eq!(all[0].fingerprint_key(), "Deployment/shop/a");
        let c = cond("deployment.unavailable_replicas", ">", 0.0);
        assert_eq!(
            keys(&run(&c, &scope(Some("shop"), json!({})), &s)),
            [
                "Deployment/shop/a",
                "Deployment/shop/b",
                "Deployment/shop/f"
            ]
        );
        assert_eq!(
            keys(&run(&c, &scope(None, json!({"team": "x"})), &s)),
            ["Deployment/shop/f"]
        );
    }

    fn pods() -> ClusterSnapshot {
        snap(json!({
            "pods": [
                {"summary": {"name": "run-ok", "namespace": "shop"}, "labels": {"app": "web"},
                 "status": {"phase": "Running", "ready": "2/2", "restarts": 0}},
                {"summary": {"name": "run-half", "namespace": "shop"}, "labels": {"app": "web"},
                 "status": {"phase": "Running", "ready": "1/2", "restarts": 7}},
                {"summary": {"name": "done", "namespace": "shop"},
                 "status": {"phase": "Succeeded", "ready": "0/1", "restarts": 1}},
                {"summary": {"name": "pending", "namespace": "ops"},
                 "status": {"phase": "Pending", "ready": "0/1", "restarts": 0}},
                {"summary": {"name": "failed", "namespace": "ops"},
                 "status": {"phase": "Failed", "ready": "0/1", "restarts": 3}},
                {"summary": {"name": "no-ready-text", "namespace": "ops"},
                 "status": {"phase": "Running", "ready": ""},
                 "containers": [{"name": "a", "ready": true}, {"name": "b", "ready": false}]}
            ]
        }))
    }

    #[test]
    fn pod_metrics() {
        let s = pods();
        let all = Scope::default();
        let r = run(&cond("pod.restarts", ">", 2.0), &all, &s);
        assert_eq!(keys(&r), ["Pod/shop/run-half", "Pod/ops/failed"]);
        assert_eq!(r[0].description, "restarts 7 > 2");
        assert_eq!(detail(&r[0], "phase"), Some("Running"));
        assert_eq!(detail(&r[0], "restarts"), Some("7"));
        assert_eq!(detail(&r[0], "ready"), Some("1/2"));
        let nr = run(&cond("pod.not_ready", "==", 1.0), &all, &s);
        assert_eq!(
            keys(&nr),
            [
                "Pod/shop/run-half",
                "Pod/ops/pending",
                "Pod/ops/failed",
                "Pod/ops/no-ready-text"
            ]
        );
        let c = cond("pod.restarts", ">=", 0.0);
        assert_eq!(
            keys(&run(&c, &scope(Some("shop"), json!({"app": "web"})), &s)),
            ["Pod/shop/run-ok", "Pod/shop/run-half"]
        );
        assert_eq!(run(&c, &scope(Some("ops"), json!({})), &s).len(), 3);
        assert!(run(&c, &scope(Some("ops"), json!({"app": "web"})), &s).is_empty());
    }

    #[test]
    fn engine_driven_metrics_never_match_snapshots() {
        let s = pods();
        for m in ["cluster.offline", "command.failed"] {
            assert!(run(&cond(m, ">=", 0.0), &Scope::default(), &s).is_empty());
        }
    }

    fn restart_snap(pods: &[(&str, i32, &str)]) -> ClusterSnapshot {
        let pods: Vec<Value> = pods
            .iter()
            .map(|(name, restarts, created)| {
                json!({"summary": {"name": name, "namespace": "ns", "createdAt": created},
                       "status": {"phase": "Running", "ready": "1/1", "restarts": restarts}})
            })
            .collect();
        snap(json!({ "pods": pods }))
    }

    /// The recent restarts of each pod after observing `s` at `t`.
    fn recent(ev: &mut Evaluator, s: &ClusterSnapshot, t: &str) -> Vec<(String, f64)> {
        let now = at(t);
        ev.observe_snapshot("c1", s, now);
        ev.matches(
            &cond("pod.recent_restarts", ">=", 0.0),
            &Scope::default(),
            "c1",
            s,
            now,
        )
        .into_iter()
        .map(|o| (o.resource.name, o.value))
        .collect()
    }

    fn pairs(v: &[(&str, f64)]) -> Vec<(String, f64)> {
        v.iter().map(|(k, x)| ((*k).to_owned(), *x)).collect()
    }

    #[test]
    fn recent_restarts_count_increases_within_the_window() {
        const C: &str = "2026-01-01T00:00:00Z";
        let mut ev = Evaluator::new();
        // First seen: existing restarts do not count.
        let s = restart_snap(&[("a", 5, C), ("b", 0, C)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:00:00Z"),
            pairs(&[("a", 0.0), ("b", 0.0)])
        );
        let s = restart_snap(&[("a", 7, C), ("b", 0, C)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:05:00Z"),
            pairs(&[("a", 2.0), ("b", 0.0)])
        );
        let s = restart_snap(&[("a", 8, C), ("b", 0, C)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:10:00Z"),
            pairs(&[("a", 3.0), ("b", 0.0)])
        );
        // 10:15: the window starts at 10:00, when the count was 5.
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:15:00Z"),
            pairs(&[("a", 3.0), ("b", 0.0)])
        );
        // 10:20: it starts at 10:05 (count 7).
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:20:00Z"),
            pairs(&[("a", 1.0), ("b", 0.0)])
        );
        // 10:25: the last restart was at 10:10, exactly at the start of the window.
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:25:00Z"),
            pairs(&[("a", 0.0), ("b", 0.0)])
        );
        // Old changes are dropped: only the baseline is left.
        assert_eq!(ev.tracked_pods(), 2);
        let a = &ev.clusters["c1"].pods["ns"]["a"];
        assert_eq!(a.changes.len(), 1);

        let c = cond("pod.recent_restarts", ">=", 3.0);
        assert_eq!(c.describe(4.0), "recent_restarts 4 >= 3 in the last 15m");
    }

    #[test]
    fn recent_restarts_reset_when_a_pod_is_recreated() {
        const C1: &str = "2026-01-01T00:00:00Z";
        const C2: &str = "2026-01-01T10:07:00Z";
        let mut ev = Evaluator::new();
        recent(
            &mut ev,
            &restart_snap(&[("a", 2, C1)]),
            "2026-01-01T10:00:00Z",
        );
        let s = restart_snap(&[("a", 6, C1)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:05:00Z"),
            pairs(&[("a", 4.0)])
        );
        // Recreated with a lower count: starts over at 0.
        let s = restart_snap(&[("a", 1, C1)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:06:00Z"),
            pairs(&[("a", 0.0)])
        );
        let s = restart_snap(&[("a", 3, C1)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:06:30Z"),
            pairs(&[("a", 2.0)])
        );
        // Recreated under the same name with a higher count (new creation time): starts over.
        let s = restart_snap(&[("a", 9, C2)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:07:00Z"),
            pairs(&[("a", 0.0)])
        );
        let s = restart_snap(&[("a", 10, C2)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:08:00Z"),
            pairs(&[("a", 1.0)])
        );
    }

    #[test]
    fn restart_memory_is_bounded_by_the_latest_snapshot() {
        const C: &str = "2026-01-01T00:00:00Z";
        let mut ev = Evaluator::new();
        let t = at("2026-01-01T10:00:00Z");
        ev.observe_snapshot("c1", &restart_snap(&[("a", 1, C), ("b", 1, C)]), t);
        ev.observe_snapshot("c2", &restart_snap(&[("a", 1, C)]), t);
        assert_eq!(ev.tracked_pods(), 3);
        ev.observe_snapshot("c1", &restart_snap(&[("b", 4, C)]), t);
        assert_eq!(ev.tracked_pods(), 2);
        // `a` comes back: first seen again, so its restarts do not count.
        let s = restart_snap(&[("a", 9, C), ("b", 4, C)]);
        assert_eq!(
            recent(&mut ev, &s, "2026-01-01T10:01:00Z"),
            pairs(&[("a", 0.0), ("b", 3.0)])
        );
        ev.forget_cluster("c1");
        assert_eq!(ev.tracked_pods(), 1);
        ev.observe_snapshot("c2", &ClusterSnapshot::default(), t);
        assert_eq!(ev.tracked_pods(), 0);
        assert!(ev.clusters["c2"].pods.is_empty());
        // An unobserved cluster has no history: 0.
        let s = restart_snap(&[("a", 9, C)]);
        let o = Evaluator::new().matches(
            &cond("pod.recent_restarts", ">=", 0.0),
            &Scope::default(),
            "c3",
            &s,
            t,
        );
        assert_eq!(o[0].value, 0.0);
    }

    fn ev(
        kind: &str,
        ns: &str,
        name: &str,
        reason: &str,
        count: i32,
        last: &str,
        message: &str,
    ) -> Value {
        json!({"uid": format!("{name}-{reason}-{last}"), "name": name, "namespace": if ns.is_empty() { "default" } else { ns },
               "kind": "Event", "created_at": "2026-01-01T00:00:00Z", "type": "Warning",
               "reason": reason, "message": message,
               "involved_object": {"kind": kind, "namespace": ns, "name": name},
               "count": count, "first_timestamp": "2026-01-01T00:00:00Z", "last_timestamp": last})
    }

    fn events_snap(fetched_at: &str) -> ClusterSnapshot {
        let mut normal = ev(
            "Pod",
            "shop",
            "web-1",
            "Pulled",
            50,
            "2026-01-01T09:59:00Z",
            "n",
        );
        normal["type"] = "Normal".into();
        let mut k8s_io = ev(
            "Pod",
            "shop",
            "web-1",
            "BackOff",
            0,
            "0001-01-01T00:00:00Z",
            "new api",
        );
        k8s_io["first_timestamp"] = "0001-01-01T00:00:00Z".into();
        k8s_io["created_at"] = "2026-01-01T09:52:00Z".into();
        snap(json!({
            "fetched_at": fetched_at,
            "pods": [{"summary": {"name": "web-1", "namespace": "shop", "nodeName": "n1"},
                      "labels": {"app": "web"},
                      "status": {"phase": "Running", "ready": "0/1", "restarts": 12}}],
            "nodes": [{"summary": {"name": "n1", "ready": "True"}, "labels": {"role": "worker"}}],
            "events": [
                ev("Pod", "shop", "web-1", "BackOff", 5, "2026-01-01T09:50:00Z", "older"),
                ev("Pod", "shop", "web-1", "BackOff", 3, "2026-01-01T09:55:00Z", "latest"),
                k8s_io,
                // Too old: last seen 16 minutes before the snapshot.
                ev("Pod", "shop", "web-1", "BackOff", 100, "2026-01-01T09:44:00Z", "stale"),
                ev("Pod", "shop", "web-1", "Unhealthy", 2, "2026-01-01T09:59:00Z", "probe"),
                ev("Pod", "shop", "gone-1", "FailedMount", 4, "2026-01-01T09:59:00Z", "mount"),
                ev("Node", "", "n1", "NodeNotReady", 1, "2026-01-01T09:59:30Z", "kubelet"),
                normal
            ]
        }))
    }

    #[test]
    fn warning_events_are_summed_per_object_and_reason_within_the_active_window() {
        let s = events_snap("2026-01-01T10:00:00Z");
        let o = run(&cond("event.count", ">=", 1.0), &Scope::default(), &s);
        assert_eq!(
            keys(&o),
            [
                "Node/n1#NodeNotReady",
                "Pod/shop/gone-1#FailedMount",
                "Pod/shop/web-1#BackOff",
                "Pod/shop/web-1#Unhealthy"
            ]
        );
        let backoff = &o[2];
        // 5 + 3 + 1 (count 0 counts once); the stale 100 is out of the window.
        assert_eq!(backoff.value, 9.0);
        assert_eq!(backoff.subkey, "BackOff");
        assert_eq!(backoff.description, "BackOff: count 9 >= 1");
        assert_eq!(
            backoff.details,
            [
                ("phase", "Running"),
                ("restarts", "12"),
                ("ready", "0/1"),
                ("node", "n1"),
                ("reason", "BackOff"),
                ("count", "9"),
                ("message", "latest"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        // The Node event is cluster-scoped even though the event lives in `default`.
        assert_eq!(o[0].resource.namespace, "");
        assert_eq!(detail(&o[0], "ready"), Some("yes"));
        // No pod to enrich from: only the event details.
        assert_eq!(o[1].details.len(), 3);

        let high = run(&cond("event.count", ">", 5.0), &Scope::default(), &s);
        assert_eq!(keys(&high), ["Pod/shop/web-1#BackOff"]);
    }

    #[test]
    fn the_active_window_is_measured_from_fetched_at_or_now() {
        // An hour later, everything is stale.
        let later = events_snap("2026-01-01T11:00:00Z");
        assert!(run(&cond("event.count", ">=", 1.0), &Scope::default(), &later).is_empty());
        // Zero fetched_at: `now` decides.
        let zero = events_snap("0001-01-01T00:00:00Z");
        let c = cond("event.count", ">=", 1.0);
        let at_ten = Evaluator::new().matches(
            &c,
            &Scope::default(),
            "c1",
            &zero,
            at("2026-01-01T10:00:00Z"),
        );
        assert_eq!(at_ten.len(), 4);
        let at_noon = Evaluator::new().matches(
            &c,
            &Scope::default(),
            "c1",
            &zero,
            at("2026-01-01T12:00:00Z"),
        );
        assert!(at_noon.is_empty());
    }

    #[test]
    fn event_reason_filter_and_scope() {
        let s = events_snap("2026-01-01T10:00:00Z");
        let c = Condition::parse(
            "event",
            &json!({"metric": "event.count", "op": ">=", "threshold": 1,
                    "reasons": ["Unhealthy", "FailedMount", "backoff"]}),
            None,
        )
        .unwrap();
        // Case-sensitive: "backoff" does not select BackOff.
        assert_eq!(
            keys(&run(&c, &Scope::default(), &s)),
            ["Pod/shop/gone-1#FailedMount", "Pod/shop/web-1#Unhealthy"]
        );
        let all = cond("event.count", ">=", 1.0);
        // Namespace: the involved object's; the Node event has none.
        assert_eq!(run(&all, &scope(Some("shop"), json!({})), &s).len(), 3);
        assert!(run(&all, &scope(Some("default"), json!({})), &s).is_empty());
        // Labels: the involved object's, when the snapshot has it (gone-1 is not there).
        assert_eq!(
            keys(&run(&all, &scope(None, json!({"app": "web"})), &s)),
            ["Pod/shop/web-1#BackOff", "Pod/shop/web-1#Unhealthy"]
        );
        assert_eq!(
            keys(&run(&all, &scope(None, json!({"role": "worker"})), &s)),
            ["Node/n1#NodeNotReady"]
        );
    }

    #[test]
    fn fingerprint_keys() {
        let o = Observation {
            resource: resource("Pod", "ns", "p"),
            subkey: String::new(),
            value: 1.0,
            description: String::new(),
            details: vec![],
        };
        assert_eq!(o.fingerprint_key(), "Pod/ns/p");
        let e = Observation {
            resource: resource("Node", "", "n"),
            subkey: "NodeNotReady".into(),
            ..o
        };
        assert_eq!(e.fingerprint_key(), "Node/n#NodeNotReady");
    }

    fn fixture(name: &str) -> ClusterSnapshot {
        use std::io::Read;
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_end(&mut json)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    #[test]
    fn every_metric_runs_on_the_medium_fixture() {
        let s = fixture("medium-go.json.gz");
        let now = s.fetched_at.to_utc().unwrap();
        let mut ev = Evaluator::new();
        ev.observe_snapshot("demo", &s, now);
        assert_eq!(ev.tracked_pods(), s.pods.len());
        let count = |m: &str, op: &str, t: f64| {
            ev.matches(&cond(m, op, t), &Scope::default(), "demo", &s, now)
                .len()
        };
        assert_eq!(count("node.cpu_usage", ">=", 0.0), s.node_metrics.len());
        assert_eq!(count("node.not_ready", ">=", 0.0), s.nodes.len());
        assert_eq!(
            count("deployment.unavailable_replicas", ">=", 0.0),
            s.deployments.len()
        );
        assert_eq!(count("pod.restarts", ">=", 0.0), s.pods.len());
        assert_eq!(count("pod.recent_restarts", ">", 0.0), 0);
        assert!(count("event.count", ">=", 1.0) > 0);
        // Every pod owned by a ReplicaSet of a known Deployment names it.
        let o = ev.matches(
            &cond("pod.restarts", ">=", 0.0),
            &Scope::default(),
            "demo",
            &s,
            now,
        );
        let with_dep = o
            .iter()
            .filter(|o| detail(o, "deployment").is_some())
            .count();
        let rs_pods = s
            .pods
            .iter()
            .filter(|p| p.summary.owner_kind == "ReplicaSet")
            .count();
        assert!(
            with_dep > 0 && with_dep <= rs_pods,
            "{with_dep} of {rs_pods}"
        );
    }

    /// A snapshot of `n` pods over 50 namespaces and 500 Deployments, 100 nodes with
    /// metrics and 2,000 Warning events.
    fn big_snapshot(n: usize) -> ClusterSnapshot {
        use atlhyper_actors::model::{
            CpuMetrics, Deployment, DeploymentSummary, Node, NodeMetricsSnapshot, NodeSummary,
            PodStatus, PodSummary, ResourceRef,
        };
        let fetched = GoTime::parse("2026-01-01T10:00:00Z").unwrap();
        let mut s = ClusterSnapshot {
            fetched_at: fetched,
            ..ClusterSnapshot::default()
        };
        for i in 0..500 {
            s.deployments.push(Deployment {
                summary: DeploymentSummary {
                    name: format!("app{i}").into(),
                    namespace: format!("ns{}", i % 50).into(),
                    ..Default::default()
                },
                labels: [("team", format!("t{}", i % 7))].into(),
                ..Default::default()
            });
        }
        for i in 0..n {
            let dep = i % 500;
            s.pods.push(Pod {
                summary: PodSummary {
                    name: format!("app{dep}-5d8f9-{i}").into(),
                    namespace: format!("ns{}", dep % 50).into(),
                    node_name: format!("node{}", i % 100).into(),
                    owner_kind: "ReplicaSet".into(),
                    owner_name: format!("app{dep}-5d8f9").into(),
                    ..Default::default()
                },
                status: PodStatus {
                    phase: if i % 10 == 0 { "Pending" } else { "Running" }.into(),
                    ready: "1/1".into(),
                    restarts: i32::try_from(i % 13).unwrap(),
                    ..Default::default()
                },
                labels: [("team", format!("t{}", dep % 7))].into(),
                ..Default::default()
            });
        }
        for i in 0..100 {
            let name = format!("node{i}");
            s.nodes.push(Node {
                summary: NodeSummary {
                    name: name.as_str().into(),
                    ready: "True".into(),
                    ..Default::default()
                },
                ..Default::default()
            });
            let m = NodeMetricsSnapshot {
                cpu: CpuMetrics {
                    usage_percent: f64::from(i),
                    ..Default::default()
                },
                ..Default::default()
            };
            s.node_metrics.insert(name.into(), m);
        }
        for i in 0..2000 {
            let p = &s.pods[i * 2];
            s.events.push(Event {
                type_: "Warning".into(),
                reason: if i % 2 == 0 { "BackOff" } else { "Unhealthy" }.into(),
                count: 3,
                last_timestamp: fetched,
                involved_object: ResourceRef {
                    kind: "Pod".into(),
                    namespace: p.summary.namespace.clone(),
                    name: p.summary.name.clone(),
                    uid: Text::new(),
                },
                ..Default::default()
            });
        }
        s
    }

    fn ten_rules() -> Vec<(Condition, Scope)> {
        let c = |m: &str, op: &str, t: f64| cond(m, op, t);
        vec![
            (c("pod.restarts", ">", 10.0), Scope::default()),
            (c("pod.recent_restarts", ">=", 3.0), Scope::default()),
            (c("pod.not_ready", "==", 1.0), Scope::default()),
            (c("pod.restarts", ">", 5.0), scope(Some("ns7"), json!({}))),
            (
                c("pod.not_ready", "==", 1.0),
                scope(None, json!({"team": "t3"})),
            ),
            (
                c("deployment.unavailable_replicas", ">", 0.0),
                Scope::default(),
            ),
            (c("node.cpu_usage", ">=", 90.0), Scope::default()),
            (c("node.not_ready", "==", 1.0), Scope::default()),
            (c("event.count", ">=", 3.0), Scope::default()),
            (
                c("event.count", ">=", 3.0),
                scope(None, json!({"team": "t1"})),
            ),
        ]
    }

    fn evaluate_all(ev: &Evaluator, rules: &[(Condition, Scope)], s: &ClusterSnapshot) -> usize {
        let now = at("2026-01-01T10:00:00Z");
        rules
            .iter()
            .map(|(c, sc)| ev.matches(c, sc, "big", s, now).len())
            .sum()
    }

    #[test]
    fn a_5000_pod_snapshot_evaluates_ten_rules() {
        let s = big_snapshot(5000);
        let mut ev = Evaluator::new();
        ev.observe_snapshot("big", &s, at("2026-01-01T10:00:00Z"));
        assert_eq!(ev.tracked_pods(), 5000);
        let rules = ten_rules();
        let per_rule: Vec<usize> = rules
            .iter()
            .map(|(c, sc)| {
                ev.matches(c, sc, "big", &s, at("2026-01-01T10:00:00Z"))
                    .len()
            })
            .collect();
        // restarts 11, 12 of every 13; Pending every 10th; team t3 = 1/7 of those; ...
        assert_eq!(per_rule[0], (0..5000).filter(|i| i % 13 > 10).count());
        assert_eq!(per_rule[1], 0);
        assert_eq!(per_rule[2], 500);
        assert_eq!(per_rule[6], 10);
        assert_eq!(per_rule[8], 2000);
        assert!(per_rule[9] > 0 && per_rule[9] < 2000);
        assert_eq!(per_rule[5], 0, "no replicas desired");
        let o = ev.matches(
            &rules[0].0,
            &rules[0].1,
            "big",
            &s,
            at("2026-01-01T10:00:00Z"),
        );
        assert!(detail(&o[0], "deployment").is_some_and(|d| d.starts_with("app")));
    }

    /// The same ten rules with thresholds that a healthy cluster rarely crosses.
    fn ten_quiet_rules() -> Vec<(Condition, Scope)> {
        ten_rules()
            .into_iter()
            .map(|(mut c, s)| {
                c.threshold = match c.metric {
                    Metric::PodRestarts => 100.0,
                    Metric::PodNotReady | Metric::NodeNotReady => 2.0,
                    Metric::EventCount => 30.0,
                    _ => c.threshold,
                };
                (c, s)
            })
            .collect()
    }

    /// `cargo test --release --lib notify::rules -- --ignored --nocapture`
    #[test]
    #[ignore = "timing; run by hand"]
    fn time_a_5000_pod_snapshot() {
        let s = big_snapshot(5000);
        let now = at("2026-01-01T10:00:00Z");
        let mut ev = Evaluator::new();
        // The fastest of 30 rounds: the least disturbed by other processes.
        let best = |f: &mut dyn FnMut() -> usize| {
            let mut best = std::time::Duration::MAX;
            let mut n = 0;
            for _ in 0..30 {
                let start = std::time::Instant::now();
                n = f();
                best = best.min(start.elapsed());
            }
            (best, n)
        };
        let (t, _) = best(&mut || {
            ev.observe_snapshot("big", &s, now);
            0
        });
        println!("observe_snapshot: {t:?}");
        for (name, rules) in [("quiet", ten_quiet_rules()), ("storm", ten_rules())] {
            let (t, n) = best(&mut || evaluate_all(&ev, &rules, &s));
            println!("10 {name} rules: {t:?} ({n} matches)");
            for (c, sc) in &rules {
                let (t, n) = best(&mut || ev.matches(c, sc, "big", &s, now).len());
                println!("  {} {:?}: {t:?} ({n})", c.metric, sc.labels);
            }
        }
    }

    /// An event's involved object gets no namespace exactly when the command validator
    /// lets a delete of that kind go without one: both ask [`Kind::is_cluster_scoped_name`].
    /// They used to keep two lists, and disagreed on PriorityClass (cluster-scoped in
    /// Kubernetes; the validator demanded a namespace).
    #[test]
    fn evaluator_and_command_validator_agree_on_cluster_scoped_kinds() {
        use atlhyper_actors::command::CommandSpec;
        let names = Kind::ALL.iter().map(|k| k.as_str()).chain([
            "StorageClass",
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "PriorityClass",
            "Role",
            "HorizontalPodAutoscaler",
        ]);
        for kind in names {
            let e: Event =
                serde_json::from_value(ev(kind, "", "x", "R", 1, "2026-01-01T00:00:00Z", "m"))
                    .unwrap();
            let no_namespace = involved_namespace(&e).is_empty();
            let mut delete = CommandSpec {
                action: "delete".into(),
                kind: kind.into(),
                name: "x".into(),
                ..CommandSpec::default()
            };
            assert_eq!(no_namespace, delete.validate().is_ok(), "{kind}");
            assert_eq!(no_namespace, Kind::is_cluster_scoped_name(kind), "{kind}");
        }
        let pc: Event = serde_json::from_value(ev(
            "PriorityClass",
            "",
            "high",
            "R",
            1,
            "2026-01-01T00:00:00Z",
            "m",
        ))
        .unwrap();
        assert_eq!(involved_namespace(&pc), "");
    }
}
