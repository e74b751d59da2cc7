//! One collection's worth of change: pods start, restart, crash-loop, recover and move;
//! nodes fail and come back; controllers reconcile; node metrics drift.

use std::collections::{HashMap, HashSet};

use atlhyper_actors::model::{GoTime, NodeMetrics, NodeResourceMetric, ResourceRef, Text};
use chrono::{DateTime, TimeDelta, Utc};

use super::build::{pod_ref, round2, PodSeed, Start};
use super::{crash_looping, gt, set_condition, set_label, st, ts, World};

/// Collections a node stays NotReady before its pods are evicted (the taint manager waits
/// 300 s; the sim is impatient so the effect shows within a demo).
const EVICT_AFTER: u32 = 3;

/// Most pods that may crash-loop at once, per thousand pods.
const MAX_CRASHLOOP_PER_MILLE: usize = 30;

impl World {
    /// Moves the cluster forward to `now`: one agent collection.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        let dt = self.advance_clock(now);
        self.ticks += 1;
        self.evolve_nodes();
        self.evolve_pods();
        self.reconcile();
        self.drift_metrics(dt);
        self.expire_events();
        self.stamp();
        self.finalize();
    }

    fn evolve_nodes(&mut self) {
        let now = self.now;
        let mut any_down = false;
        for i in 0..self.nodes.len() {
            let Some(a) = self.nodes.get_mut(i) else {
                continue;
            };
            if a.down == 0 {
                continue;
            }
            a.down -= 1;
            a.down_for += 1;
            let (down, down_for) = (a.down, a.down_for);
            let uid = a.uid.clone();
            let name = self
                .snap
                .nodes
                .get(i)
                .map(|n| st(&n.summary.name).to_owned())
                .unwrap_or_default();
            if down == 0 {
                if let Some(a) = self.nodes.get_mut(i) {
                    a.down_for = 0;
                }
                self.set_node_ready(i, true);
                self.emit(
                    false,
                    "NodeReady",
                    format!("Node {name} status is now: NodeReady"),
                    "kubelet",
                    node_ref(&name, &uid),
                );
            } else {
                any_down = true;
                if down_for == EVICT_AFTER {
                    self.evict_node(&name);
                }
            }
        }
        // Heartbeats of healthy nodes move on.
        for (n, a) in self.snap.nodes.iter_mut().zip(&self.nodes) {
            if a.down == 0 {
                let hb = gt(now - TimeDelta::seconds(i64::from(a.idx as u8 % 20)));
                for c in &mut n.conditions {
                    c.last_heartbeat_time = hb;
                }
            }
        }
        let workers: Vec<usize> = self.nodes.iter().filter(|a| !a.cp).map(|a| a.idx).collect();
        if !any_down && workers.len() >= 2 && self.rng.chance(self.dynamics.node_down) {
            let Some(&i) = self.rng.pick(&workers) else {
                return;
            };
            let ticks = self.rng.range(3, 9) as u32;
            self.node_down(i, ticks);
        }
    }

    /// Takes node `i` NotReady for `ticks` collections (its kubelet stopped posting).
    pub fn node_down(&mut self, i: usize, ticks: u32) {
        let Some(a) = self.nodes.get_mut(i) else {
            return;
        };
        a.down = ticks.max(1);
        a.down_for = 0;
        let uid = a.uid.clone();
        self.set_node_ready(i, false);
        let name = self
            .snap
            .nodes
            .get(i)
            .map(|n| st(&n.summary.name).to_owned())
            .unwrap_or_default();
        self.emit(
            true,
            "NodeNotReady",
            format!("Node {name} status is now: NodeNotReady"),
            "node-controller",
            node_ref(&name, &uid),
        );
        let refs: Vec<ResourceRef> = self
            .snap
            .pods
            .iter()
            .filter(|p| st(&p.summary.node_name) == name)
            .take(20)
            .map(pod_ref)
            .collect();
        for r in refs {
            self.emit(
                true,
                "NodeNotReady",
                "Node is not ready".to_owned(),
                "node-controller",
                r,
            );
        }
    }

    /// The taint manager evicts the ReplicaSet pods of a lost node; they start elsewhere.
    fn evict_node(&mut self, node: &str) {
        let victims: Vec<String> = self
            .snap
            .pods
            .iter()
            .filter(|p| {
                st(&p.summary.node_name) == node && st(&p.summary.owner_kind) == "ReplicaSet"
            })
            .map(|p| st(&p.summary.name).to_owned())
            .collect();
        for name in victims {
            if let Some(i) = self
                .snap
                .pods
                .iter()
                .position(|p| st(&p.summary.name) == name)
            {
                let r = self.snap.pods.get(i).map(pod_ref);
                if let Some(r) = r {
                    let full = format!("{}/{}", st(&r.namespace), st(&r.name));
                    self.emit(
                        false,
                        "TaintManagerEviction",
                        format!("Marking for deletion Pod {full}"),
                        "taint-controller",
                        r,
                    );
                }
                self.replace_pod(i);
            }
        }
    }

    fn evolve_pods(&mut self) {
        let now = self.now;
        let d = self.dynamics.clone();
        let crashing = self.snap.pods.iter().filter(|p| crash_looping(p)).count();
        let mut crash_budget =
            (self.snap.pods.len() * MAX_CRASHLOOP_PER_MILLE / 1000).saturating_sub(crashing);
        let mut moving = Vec::new();
        let down_nodes: HashSet<String> = self
            .snap
            .nodes
            .iter()
            .zip(&self.nodes)
            .filter(|(_, a)| a.down > 0)
            .map(|(n, _)| st(&n.summary.name).to_owned())
            .collect();
        for i in 0..self.snap.pods.len() {
            let Some(p) = self.snap.pods.get(i) else {
                continue;
            };
            let phase = st(&p.status.phase).to_owned();
            let on_down_node = down_nodes.contains(st(&p.summary.node_name));
            let from_rs = st(&p.summary.owner_kind) == "ReplicaSet";
            let age = p
                .summary
                .created_at
                .to_utc()
                .map_or(i64::MAX, |t| (now - t).num_milliseconds());
            if on_down_node {
                continue;
            }
            if phase == "Pending" {
                if p.summary.node_name.is_empty() {
                    self.try_schedule(i);
                } else if age > 1000 && self.rng.chance(0.85) {
                    self.start_pod(i);
                }
                continue;
            }
            if phase != "Running" {
                continue;
            }
            if crash_looping(p) {
                if self.rng.chance(0.5) {
                    self.restart_container(i, true);
                }
                self.back_off(i);
                if self.rng.chance(d.recover) {
                    self.set_container_running(i);
                }
                continue;
            }
            if self.rng.chance(d.restart) {
                self.restart_container(i, true);
            } else if from_rs && crash_budget > 0 && self.rng.chance(d.crashloop) {
                crash_budget -= 1;
                self.start_crashloop(i);
            } else if self.rng.chance(d.unhealthy) {
                self.unhealthy(i);
            }
            if from_rs && self.rng.chance(d.reschedule) {
                moving.push(i);
            }
        }
        // Replace from the back so earlier indices stay valid.
        for &i in moving.iter().rev() {
            if let Some(r) = self.snap.pods.get(i).map(pod_ref) {
                let c = self
                    .snap
                    .pods
                    .get(i)
                    .and_then(|p| p.containers.first())
                    .map(|c| st(&c.name).to_owned())
                    .unwrap_or_default();
                self.emit(
                    false,
                    "Killing",
                    format!("Stopping container {c}"),
                    "kubelet",
                    r,
                );
            }
            self.replace_pod(i);
        }
    }

    /// A pending pod without a node gets one, or the scheduler complains again.
    fn try_schedule(&mut self, i: usize) {
        if self.rng.chance(0.3) {
            if let Some(n) = self.pick_node() {
                let node = self
                    .snap
                    .nodes
                    .get(n)
                    .map(|x| (x.summary.name.clone(), x.addresses.internal_ip.clone()));
                let ip = self.next_pod_ip(n);
                let now = self.now;
                if let (Some(p), Some((name, host))) = (self.snap.pods.get_mut(i), node) {
                    p.summary.node_name = name.clone();
                    p.status.host_ip = host;
                    p.status.pod_ip = ip.clone();
                    p.status.pod_ips = vec![ip];
                    for c in &mut p.containers {
                        c.state_reason = "ContainerCreating".into();
                    }
                    p.status.conditions = creating_conditions(now);
                    let r = pod_ref(p);
                    let full = format!("{}/{}", st(&r.namespace), st(&r.name));
                    self.emit(
                        false,
                        "Scheduled",
                        format!("Successfully assigned {full} to {}", st(&name)),
                        "default-scheduler",
                        r,
                    );
                }
                return;
            }
        }
        let msg = self.unschedulable_message();
        if let Some(r) = self.snap.pods.get(i).map(pod_ref) {
            self.emit(true, "FailedScheduling", msg, "default-scheduler", r);
        }
    }

    /// Next pod IP on node `n`.
    fn next_pod_ip(&mut self, n: usize) -> Text {
        match self.nodes.get_mut(n) {
            Some(a) => {
                let k = a.ip_next;
                a.ip_next = if a.ip_next >= 253 { 2 } else { a.ip_next + 1 };
                format!("10.244.{}.{k}", a.idx % 256).into()
            }
            None => Text::default(),
        }
    }

    /// A scheduled pod's containers came up: Running, with the kubelet's events.
    fn start_pod(&mut self, i: usize) {
        let now = self.now;
        let Some(p) = self.snap.pods.get_mut(i) else {
            return;
        };
        p.status.phase = "Running".into();
        for c in &mut p.containers {
            c.state = "running".into();
            c.state_reason = Text::default();
            c.state_message = Text::default();
        }
        for c in &mut p.status.conditions {
            if st(&c.type_) == "PodReadyToStartContainers" {
                set_condition(c, "True", "", "", now);
            }
        }
        let r = pod_ref(p);
        let first = p
            .containers
            .first()
            .map(|c| (st(&c.name).to_owned(), st(&c.image).to_owned()));
        let mut pod = std::mem::take(p);
        self.pod_usage(&mut pod);
        if let Some(slot) = self.snap.pods.get_mut(i) {
            *slot = pod;
        }
        if let Some((name, image)) = first {
            let pull_ms = self.rng.range(400, 9000);
            self.emit(
                false,
                "Pulled",
                format!(
                    "Successfully pulled image \"{image}\" in {}.{:03}s",
                    pull_ms / 1000,
                    pull_ms % 1000
                ),
                "kubelet",
                r.clone(),
            );
            self.emit(
                false,
                "Created",
                format!("Created container {name}"),
                "kubelet",
                r.clone(),
            );
            self.emit(
                false,
                "Started",
                format!("Started container {name}"),
                "kubelet",
                r,
            );
        }
    }

    /// The main container exits and is restarted (restart count only ever grows).
    pub(crate) fn restart_container(&mut self, i: usize, with_events: bool) {
        let now = self.now;
        let oom = self.rng.chance(0.3);
        let Some(p) = self.snap.pods.get_mut(i) else {
            return;
        };
        if st(&p.status.phase) != "Running" {
            return;
        }
        let Some(c) = p.containers.first_mut() else {
            return;
        };
        c.restart_count = c.restart_count.saturating_add(1);
        c.last_termination_reason = if oom { "OOMKilled" } else { "Error" }.into();
        c.last_termination_message = if oom {
            Text::default()
        } else {
            "exit status 1".into()
        };
        c.last_termination_time = ts(now);
        let name = st(&c.name).to_owned();
        let image = st(&c.image).to_owned();
        p.status.restarts = p.containers.iter().map(|c| c.restart_count).sum();
        let r = pod_ref(p);
        if with_events {
            self.emit(
                false,
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
                "kubelet",
                r.clone(),
            );
            self.emit(
                false,
                "Created",
                format!("Created container {name}"),
                "kubelet",
                r.clone(),
            );
            self.emit(
                false,
                "Started",
                format!("Started container {name}"),
                "kubelet",
                r,
            );
        }
    }

    /// The main container starts failing right after start: CrashLoopBackOff.
    pub(crate) fn start_crashloop(&mut self, i: usize) {
        self.restart_container(i, false);
        let Some(p) = self.snap.pods.get_mut(i) else {
            return;
        };
        let ns = st(&p.summary.namespace).to_owned();
        let pod = st(&p.summary.name).to_owned();
        if let Some(c) = p.containers.first_mut() {
            c.state = "waiting".into();
            c.state_reason = "CrashLoopBackOff".into();
            c.state_message = format!(
                "back-off 10s restarting failed container={} pod={pod}_{ns}",
                st(&c.name)
            )
            .into();
        }
        self.back_off(i);
    }

    /// The kubelet's BackOff warning for a crash-looping pod (the count rises every time).
    fn back_off(&mut self, i: usize) {
        let Some(p) = self.snap.pods.get_mut(i) else {
            return;
        };
        let ns = st(&p.summary.namespace).to_owned();
        let pod = st(&p.summary.name).to_owned();
        let restarts = p.status.restarts;
        let Some(c) = p.containers.first_mut() else {
            return;
        };
        let cname = st(&c.name).to_owned();
        let backoff = match restarts {
            0..=1 => "10s",
            2 => "20s",
            3 => "40s",
            4 => "1m20s",
            5 => "2m40s",
            _ => "5m0s",
        };
        c.state_message =
            format!("back-off {backoff} restarting failed container={cname} pod={pod}_{ns}").into();
        let r = pod_ref(p);
        self.emit(
            true,
            "BackOff",
            format!("Back-off restarting failed container {cname} in pod {pod}_{ns}"),
            "kubelet",
            r,
        );
    }

    /// The main container runs again (a crash loop ends).
    fn set_container_running(&mut self, i: usize) {
        if let Some(c) = self
            .snap
            .pods
            .get_mut(i)
            .and_then(|p| p.containers.first_mut())
        {
            c.state = "running".into();
            c.state_reason = Text::default();
            c.state_message = Text::default();
        }
    }

    /// One failed readiness probe.
    fn unhealthy(&mut self, i: usize) {
        let Some(p) = self.snap.pods.get(i) else {
            return;
        };
        let Some(probe) = p
            .containers
            .first()
            .and_then(|c| c.readiness_probe.as_ref().or(c.liveness_probe.as_ref()))
        else {
            return;
        };
        let msg = match st(&probe.type_) {
            "httpGet" => format!(
                "Readiness probe failed: Get \"http://{}:{}{}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                st(&p.status.pod_ip),
                probe.port,
                st(&probe.path)
            ),
            "tcpSocket" => format!(
                "Readiness probe failed: dial tcp {}:{}: connect: connection refused",
                st(&p.status.pod_ip),
                probe.port
            ),
            _ => "Liveness probe failed: command timed out".to_owned(),
        };
        let r = pod_ref(p);
        self.emit(true, "Unhealthy", msg, "kubelet", r);
    }

    /// Deletes pod `i` and creates its replacement the way its controller would: a new name
    /// (same ordinal for a StatefulSet), a new node, a fresh creation time.
    pub(crate) fn replace_pod(&mut self, i: usize) {
        if i >= self.snap.pods.len() {
            return;
        }
        let old = self.snap.pods.remove(i);
        let kind = st(&old.summary.owner_kind).to_owned();
        let owner = st(&old.summary.owner_name).to_owned();
        let ns = st(&old.summary.namespace).to_owned();
        let Some(template) = self.template_of(&kind, &ns, &owner) else {
            return;
        };
        let (name, node) = match kind.as_str() {
            "StatefulSet" => (st(&old.summary.name).to_owned(), self.pick_node()),
            "DaemonSet" => (
                format!("{owner}-{}", self.rng.k8s_suffix(5)),
                self.snap
                    .nodes
                    .iter()
                    .position(|n| st(&n.summary.name) == st(&old.summary.node_name)),
            ),
            _ => (
                format!("{owner}-{}", self.rng.k8s_suffix(5)),
                self.pick_node(),
            ),
        };
        self.create_pod(&ns, &kind, &owner, name, &template, old.labels, node, i);
    }

    /// Creates a pod of a controller at position `at` with its events.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site per controller kind; a struct would only rename the arguments"
    )]
    pub(crate) fn create_pod(
        &mut self,
        ns: &str,
        kind: &str,
        owner: &str,
        name: String,
        template: &atlhyper_actors::model::PodTemplate,
        labels: atlhyper_actors::model::StrMap,
        node: Option<usize>,
        at: usize,
    ) {
        let now = self.now;
        let pod = self.make_pod(PodSeed {
            ns,
            name: name.clone(),
            owner_kind: kind,
            owner_name: owner,
            template,
            labels,
            created: now,
            node,
            start: if node.is_some() {
                Start::Creating
            } else {
                Start::Unschedulable
            },
        });
        let r = pod_ref(&pod);
        let node_name = st(&pod.summary.node_name).to_owned();
        let at = at.min(self.snap.pods.len());
        self.snap.pods.insert(at, pod);
        let controller = match kind {
            "ReplicaSet" => "replicaset-controller",
            "StatefulSet" => "statefulset-controller",
            _ => "daemonset-controller",
        };
        self.emit(
            false,
            "SuccessfulCreate",
            format!("Created pod: {name}"),
            controller,
            ResourceRef {
                kind: kind.into(),
                namespace: ns.into(),
                name: owner.into(),
                uid: Text::default(),
            },
        );
        if node.is_some() {
            self.emit(
                false,
                "Scheduled",
                format!("Successfully assigned {ns}/{name} to {node_name}"),
                "default-scheduler",
                r,
            );
        } else {
            let msg = self.unschedulable_message();
            self.emit(true, "FailedScheduling", msg, "default-scheduler", r);
        }
    }

    /// The pod template (with the pod labels) of a controller, if it still exists.
    pub(crate) fn template_of(
        &self,
        kind: &str,
        ns: &str,
        owner: &str,
    ) -> Option<atlhyper_actors::model::PodTemplate> {
        match kind {
            "ReplicaSet" => self
                .snap
                .deployments
                .iter()
                .find(|d| {
                    st(&d.summary.namespace) == ns
                        && d.replica_sets.first().is_some_and(|b| st(&b.name) == owner)
                })
                .map(|d| d.template.clone()),
            "StatefulSet" => self
                .snap
                .statefulsets
                .iter()
                .find(|s| st(&s.summary.namespace) == ns && st(&s.summary.name) == owner)
                .map(|s| s.template.clone()),
            "DaemonSet" => self
                .snap
                .daemonsets
                .iter()
                .find(|s| st(&s.summary.namespace) == ns && st(&s.summary.name) == owner)
                .map(|s| s.template.clone()),
            _ => None,
        }
    }

    /// The controllers' reconcile loops: every Deployment runs its desired replicas from its
    /// current ReplicaSet (pods of older ReplicaSets go), every DaemonSet has a pod per node,
    /// every StatefulSet its ordinals; pods whose controller is gone are deleted.
    pub(crate) fn reconcile(&mut self) {
        // Current ReplicaSet and desired replicas of every deployment.
        let mut current: HashMap<(String, String), (String, i32)> = HashMap::new();
        for d in &self.snap.deployments {
            let ns = st(&d.summary.namespace).to_owned();
            if let Some(b) = d.replica_sets.first() {
                current.insert(
                    (ns, st(&b.name).to_owned()),
                    (st(&d.summary.name).to_owned(), d.spec.replicas.unwrap_or(1)),
                );
            }
        }
        let ds: HashSet<(String, String)> = self
            .snap
            .daemonsets
            .iter()
            .map(|x| {
                (
                    st(&x.summary.namespace).to_owned(),
                    st(&x.summary.name).to_owned(),
                )
            })
            .collect();
        let sts: HashMap<(String, String), i32> = self
            .snap
            .statefulsets
            .iter()
            .map(|x| {
                (
                    (
                        st(&x.summary.namespace).to_owned(),
                        st(&x.summary.name).to_owned(),
                    ),
                    x.spec.replicas.unwrap_or(1),
                )
            })
            .collect();
        let mut have: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut doomed: HashSet<usize> = HashSet::new();
        let mut ds_nodes: HashSet<(String, String, String)> = HashSet::new();
        let mut sts_have: HashSet<(String, String)> = HashSet::new();
        for (i, p) in self.snap.pods.iter().enumerate() {
            let ns = st(&p.summary.namespace).to_owned();
            let owner = st(&p.summary.owner_name).to_owned();
            match st(&p.summary.owner_kind) {
                "ReplicaSet" => {
                    let key = (ns, owner);
                    if current.contains_key(&key) {
                        have.entry(key).or_default().push(i);
                    } else {
                        doomed.insert(i);
                    }
                }
                "DaemonSet" => {
                    let node = st(&p.summary.node_name).to_owned();
                    let k = (ns.clone(), owner.clone(), node);
                    if !ds.contains(&(ns, owner)) || !ds_nodes.insert(k) {
                        doomed.insert(i);
                    }
                }
                "StatefulSet" => {
                    let ordinal = st(&p.summary.name)
                        .rsplit('-')
                        .next()
                        .and_then(|x| x.parse::<i32>().ok());
                    match (sts.get(&(ns, owner)), ordinal) {
                        (Some(&want), Some(o)) if o < want => {
                            sts_have.insert((
                                st(&p.summary.namespace).to_owned(),
                                st(&p.summary.name).to_owned(),
                            ));
                        }
                        _ => {
                            doomed.insert(i);
                        }
                    }
                }
                _ => {}
            }
        }
        // Scale down: not-ready pods first, then the newest.
        let mut create: Vec<(String, String, String, i32)> = Vec::new();
        for (key, (dep, want)) in &current {
            let pods = have.get(key).cloned().unwrap_or_default();
            let n = pods.len() as i32;
            if n > *want {
                let mut ranked: Vec<(bool, GoTime, usize)> = pods
                    .iter()
                    .filter_map(|&i| {
                        self.snap
                            .pods
                            .get(i)
                            .map(|p| (super::pod_ready(p), p.summary.created_at, i))
                    })
                    .collect();
                ranked.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                for (_, _, i) in ranked.into_iter().take((n - want) as usize) {
                    doomed.insert(i);
                }
            } else if n < *want {
                create.push((key.0.clone(), key.1.clone(), dep.clone(), want - n));
            }
        }
        if !doomed.is_empty() {
            let mut idx: Vec<usize> = doomed.into_iter().collect();
            idx.sort_unstable();
            for &i in idx.iter().rev() {
                if let Some(r) = self.snap.pods.get(i).map(pod_ref) {
                    let c = self
                        .snap
                        .pods
                        .get(i)
                        .and_then(|p| p.containers.first())
                        .map(|c| st(&c.name).to_owned())
                        .unwrap_or_default();
                    self.emit(
                        false,
                        "Killing",
                        format!("Stopping container {c}"),
                        "kubelet",
                        r,
                    );
                }
                self.snap.pods.remove(i);
            }
        }
        create.sort();
        for (ns, rs, _dep, missing) in create {
            let Some(template) = self.template_of("ReplicaSet", &ns, &rs) else {
                continue;
            };
            let hash = rs.rsplit('-').next().unwrap_or_default().to_owned();
            let mut labels = template.labels.clone();
            set_label(&mut labels, "pod-template-hash", &hash);
            for _ in 0..missing {
                let name = format!("{rs}-{}", self.rng.k8s_suffix(5));
                let node = self.pick_node();
                let at = self.snap.pods.len();
                self.create_pod(
                    &ns,
                    "ReplicaSet",
                    &rs,
                    name,
                    &template,
                    labels.clone(),
                    node,
                    at,
                );
            }
        }
        // DaemonSets: one pod per node.
        let node_names: Vec<String> = self
            .snap
            .nodes
            .iter()
            .map(|n| st(&n.summary.name).to_owned())
            .collect();
        let mut ds_list: Vec<&(String, String)> = ds.iter().collect();
        ds_list.sort();
        let ds_list: Vec<(String, String)> = ds_list.into_iter().cloned().collect();
        for (ns, name) in ds_list {
            for (n, node) in node_names.iter().enumerate() {
                if ds_nodes.contains(&(ns.clone(), name.clone(), node.clone())) {
                    continue;
                }
                let Some(template) = self.template_of("DaemonSet", &ns, &name) else {
                    continue;
                };
                let labels = template.labels.clone();
                let pod_name = format!("{name}-{}", self.rng.k8s_suffix(5));
                let at = self.snap.pods.len();
                self.create_pod(
                    &ns,
                    "DaemonSet",
                    &name,
                    pod_name,
                    &template,
                    labels,
                    Some(n),
                    at,
                );
            }
        }
        // StatefulSets: ordinals 0..replicas.
        let mut sts_list: Vec<((String, String), i32)> =
            sts.iter().map(|(k, v)| (k.clone(), *v)).collect();
        sts_list.sort();
        for ((ns, name), want) in sts_list {
            for o in 0..want {
                let pod_name = format!("{name}-{o}");
                if sts_have.contains(&(ns.clone(), pod_name.clone())) {
                    continue;
                }
                let Some(template) = self.template_of("StatefulSet", &ns, &name) else {
                    continue;
                };
                let mut labels = template.labels.clone();
                set_label(&mut labels, "statefulset.kubernetes.io/pod-name", &pod_name);
                let node = self.pick_node();
                let at = self.snap.pods.len();
                self.create_pod(
                    &ns,
                    "StatefulSet",
                    &name,
                    pod_name,
                    &template,
                    labels,
                    node,
                    at,
                );
            }
        }
    }

    /// Node metrics take one bounded random-walk step; the metrics-server view and a few
    /// pods' usage follow.
    fn drift_metrics(&mut self, dt: f64) {
        let now = GoTime::from_utc(self.now);
        let names: Vec<(Text, usize)> = self
            .snap
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.summary.name.clone(), i))
            .collect();
        for (name, i) in names {
            let Some(a) = self.nodes.get(i).cloned() else {
                continue;
            };
            if a.down > 0 {
                continue;
            }
            let Some((_, m)) = self
                .snap
                .node_metrics
                .iter_mut()
                .find(|(k, _)| st(k) == st(&name))
            else {
                continue;
            };
            let r = &mut self.rng;
            let cpu =
                (m.cpu.usage_percent + 0.2 * (a.cpu_base - m.cpu.usage_percent) + 4.0 * r.gauss())
                    .clamp(1.0, 99.0);
            m.cpu.usage_percent = round2(cpu);
            m.cpu.user_percent = round2(cpu * 0.7);
            m.cpu.system_percent = round2(cpu * 0.25);
            m.cpu.iowait_percent = round2(cpu * 0.05);
            m.cpu.idle_percent = round2(100.0 - cpu);
            for c in &mut m.cpu.per_core {
                *c = round2((cpu + 10.0 * r.gauss()).clamp(0.0, 100.0));
            }
            let threads = m.cpu.threads as f64;
            m.cpu.load_1 = round2(threads * cpu / 100.0 * r.uniform(0.8, 1.2));
            m.cpu.load_5 = round2(0.8 * m.cpu.load_5 + 0.2 * m.cpu.load_1);
            m.cpu.load_15 = round2(0.93 * m.cpu.load_15 + 0.07 * m.cpu.load_1);
            let mem = (m.memory.usage_percent
                + 0.1 * (a.mem_base - m.memory.usage_percent)
                + 1.5 * r.gauss())
            .clamp(5.0, 97.0);
            let total = m.memory.total;
            m.memory.usage_percent = round2(mem);
            m.memory.used = (total as f64 * mem / 100.0) as i64;
            m.memory.free = (total - m.memory.used - m.memory.cached - m.memory.buffers).max(0);
            m.memory.available = m.memory.free + m.memory.cached;
            if let Some(d) = m.disks.first_mut() {
                let mut pct = d.usage_percent + 0.01 * dt / 10.0 + 0.02 * r.gauss();
                if pct > 90.0 {
                    pct -= r.uniform(10.0, 20.0);
                }
                let pct = pct.clamp(1.0, 99.0);
                d.usage_percent = round2(pct);
                d.used = (d.total as f64 * pct / 100.0) as i64;
                d.available = d.total - d.used;
                d.read_rate = round2((d.read_rate * (0.15 * r.gauss()).exp()).clamp(0.0, 5e8));
                d.write_rate = round2((d.write_rate * (0.15 * r.gauss()).exp()).clamp(1e3, 5e8));
                d.read_bytes += (d.read_rate * dt) as i64;
                d.write_bytes += (d.write_rate * dt) as i64;
                d.io_util = round2((d.io_util + 2.0 * r.gauss()).clamp(0.0, 100.0));
            }
            for n in &mut m.networks {
                if st(&n.interface) == "lo" {
                    n.rx_bytes += (n.rx_rate * dt) as i64;
                    n.tx_bytes += (n.tx_rate * dt) as i64;
                    continue;
                }
                n.rx_rate = round2((n.rx_rate * (0.15 * r.gauss()).exp()).clamp(1e3, 1e9));
                n.tx_rate = round2((n.tx_rate * (0.15 * r.gauss()).exp()).clamp(1e3, 1e9));
                n.rx_bytes += (n.rx_rate * dt) as i64;
                n.tx_bytes += (n.tx_rate * dt) as i64;
                n.rx_packets += (n.rx_rate * dt / 900.0) as i64;
                n.tx_packets += (n.tx_rate * dt / 900.0) as i64;
            }
            if a.bare {
                let t = round2(35.0 + cpu * 0.4 + r.gauss());
                m.temperature.cpu_temp = t;
                m.temperature.cpu_temp_max = round2(t + 2.0);
                for s in &mut m.temperature.sensors {
                    s.current = round2(t + r.uniform(-5.0, 2.0));
                }
            }
            for p in &mut m.processes {
                p.cpu_percent = round2((p.cpu_percent * (0.2 * r.gauss()).exp()).clamp(0.0, 100.0));
            }
            m.uptime += dt as i64;
            m.timestamp = now;
        }
        self.refresh_node_usage();
        // A tenth of the running pods get a new metrics-server reading.
        let n = self.snap.pods.len();
        for _ in 0..n / 10 {
            let i = self.rng.index(n);
            let Some(mut pod) = self.snap.pods.get_mut(i).map(std::mem::take) else {
                continue;
            };
            if st(&pod.status.phase) == "Running" {
                self.pod_usage(&mut pod);
            }
            if let Some(slot) = self.snap.pods.get_mut(i) {
                *slot = pod;
            }
        }
    }

    /// The metrics-server view of each ready node (`Node.metrics`), from the hardware metrics.
    pub(crate) fn refresh_node_usage(&mut self) {
        for (n, a) in self.snap.nodes.iter_mut().zip(&self.nodes) {
            if a.down > 0 {
                n.metrics = None;
                continue;
            }
            let Some(m) = self
                .snap
                .node_metrics
                .iter()
                .find(|(k, _)| st(k) == st(&n.summary.name))
                .map(|(_, m)| m)
            else {
                continue;
            };
            let alloc_m: f64 = st(&n.allocatable.cpu)
                .trim_end_matches('m')
                .parse()
                .unwrap_or(1000.0);
            let cpu_n = (alloc_m * m.cpu.usage_percent / 100.0 * 1e6) as u64;
            let mem_ki = m.memory.used / 1024;
            n.metrics = Some(NodeMetrics {
                cpu: NodeResourceMetric {
                    usage: format!("{cpu_n}n").into(),
                    allocatable: n.allocatable.cpu.clone(),
                    capacity: n.capacity.cpu.clone(),
                    util_pct: 0.0,
                },
                memory: NodeResourceMetric {
                    usage: format!("{mem_ki}Ki").into(),
                    allocatable: n.allocatable.memory.clone(),
                    capacity: n.capacity.memory.clone(),
                    util_pct: 0.0,
                },
                ..Default::default()
            });
        }
    }
}

/// The event reference of a node.
pub(crate) fn node_ref(name: &str, uid: &str) -> ResourceRef {
    ResourceRef {
        kind: "Node".into(),
        namespace: Text::default(),
        name: name.into(),
        uid: uid.into(),
    }
}

/// Conditions of a pod whose containers are being created.
fn creating_conditions(now: DateTime<Utc>) -> Vec<atlhyper_actors::model::PodCondition> {
    let cond = |t: &str, s: &str| atlhyper_actors::model::PodCondition {
        type_: t.into(),
        status: s.into(),
        last_transition_time: ts(now),
        ..Default::default()
    };
    vec![
        cond("PodReadyToStartContainers", "False"),
        cond("Initialized", "True"),
        cond("Ready", "False"),
        cond("ContainersReady", "False"),
        cond("PodScheduled", "True"),
    ]
}
