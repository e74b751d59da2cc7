//! Unit tests of the simulated cluster: construction, evolution, commands and SLO pushes.

use std::collections::HashMap;

use atlhyper_actors::model::{Command, GoTime};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_770_000_000, 0).unwrap()
}

fn world(pods: usize) -> World {
    World::new("sim-0001", 0, pods, 7, t0())
}

fn cmd(action: &str, kind: &str, ns: &str, name: &str, params: serde_json::Value) -> Command {
    Command {
        id: "c-1".into(),
        cluster_id: "sim-0001".into(),
        action: action.into(),
        kind: kind.into(),
        namespace: ns.into(),
        name: name.into(),
        params: params.as_object().cloned().unwrap_or_default(),
        created_at: GoTime::from_utc(t0()),
        ..Default::default()
    }
}

/// Every derived count matches the lists.
fn assert_consistent(w: &World) {
    let s = &w.snap;
    assert_eq!(s.summary, compute_summary(s), "summary");
    let ns_pods: i64 = s.namespaces.iter().map(|n| n.resources.pods).sum();
    assert_eq!(ns_pods, s.pods.len() as i64, "namespace pod counts");
    let nodes: Vec<&str> = s.nodes.iter().map(|n| st(&n.summary.name)).collect();
    for p in &s.pods {
        let node = st(&p.summary.node_name);
        assert!(
            node.is_empty() || nodes.contains(&node),
            "pod on unknown node {node}"
        );
        let total = p.containers.len();
        let ready = p.containers.iter().filter(|c| c.ready).count();
        assert_eq!(st(&p.status.ready), format!("{ready}/{total}"));
    }
    for d in &s.deployments {
        let rs = st(&d.replica_sets[0].name);
        let owned = s
            .pods
            .iter()
            .filter(|p| st(&p.summary.owner_name) == rs)
            .count() as i32;
        assert_eq!(
            d.status.replicas,
            owned,
            "deployment {}",
            st(&d.summary.name)
        );
        assert!(s.replicasets.iter().any(|r| st(&r.name) == rs));
    }
    assert_eq!(
        s.node_metrics.len(),
        s.nodes.len(),
        "one metrics snapshot per node"
    );
}

#[test]
fn new_worlds_have_exactly_the_pods_asked_for() {
    for pods in [0, 1, 5, 60, 200, 500] {
        let w = world(pods);
        assert_eq!(w.snap.pods.len(), pods, "pods={pods}");
        assert!(w.snap.nodes.len() >= 3);
        assert_eq!(w.snap.nodes.len(), (pods / 30).max(3));
        assert_consistent(&w);
    }
    let w = world(500);
    assert!(!w.snap.ingresses.is_empty());
    assert!(!w.snap.events.is_empty());
    assert!(w.snap.daemonsets.len() == 2 && w.snap.statefulsets.len() == 2);
}

#[test]
fn same_seed_same_cluster_and_indices_differ() {
    let a = World::new("sim-0001", 0, 100, 7, t0());
    let b = World::new("sim-0001", 0, 100, 7, t0());
    let c = World::new("sim-0001", 1, 100, 7, t0());
    assert_eq!(a.snap, b.snap);
    assert_ne!(a.snap.pods[0].summary.name, c.snap.pods[0].summary.name);
}

#[test]
fn evolution_keeps_invariants_restarts_only_grow_fetched_at_increases() {
    let mut w = world(300);
    w.dynamics.restart = 0.02;
    w.dynamics.crashloop = 0.01;
    w.dynamics.reschedule = 0.01;
    w.dynamics.node_down = 0.2;
    let mut restarts: HashMap<String, i32> = HashMap::new();
    let mut counts: HashMap<String, i32> = HashMap::new();
    let mut prev = w.snap.fetched_at;
    let mut names_changed = false;
    let first_names: Vec<String> = w
        .snap
        .pods
        .iter()
        .map(|p| st(&p.summary.name).to_owned())
        .collect();
    for k in 1..=60 {
        // Also a collection in the same instant: fetched_at must still move.
        let now = t0() + TimeDelta::seconds(10 * k / 2);
        w.tick(now);
        assert!(w.snap.fetched_at > prev, "fetched_at increases");
        prev = w.snap.fetched_at;
        assert_eq!(w.snap.pods.len(), 300, "pod count is stable");
        assert_consistent(&w);
        for p in &w.snap.pods {
            let key = format!("{}/{}", st(&p.summary.namespace), st(&p.summary.name));
            let r = p.containers[0].restart_count;
            if let Some(old) = restarts.insert(key, r) {
                assert!(r >= old, "restart count went down");
            }
        }
        for e in &w.snap.events {
            let c = e.count;
            if let Some(old) = counts.insert(st(&e.uid).to_owned(), c) {
                assert!(c >= old, "event count went down");
            }
            assert!(e.last_timestamp >= e.first_timestamp);
        }
        assert!(w.snap.events.len() <= w.event_cap);
        if w.snap
            .pods
            .iter()
            .any(|p| !first_names.iter().any(|n| n == st(&p.summary.name)))
        {
            names_changed = true;
        }
    }
    assert!(names_changed, "some pods were rescheduled under new names");
    assert!(restarts.values().any(|r| *r > 0));
    assert!(
        w.snap.events.iter().any(|e| e.count > 1),
        "events repeat with rising counts"
    );
    assert!(w
        .snap
        .events
        .iter()
        .any(|e| st(&e.reason) == "BackOff" && st(&e.type_) == "Warning"));
}

#[test]
fn a_not_ready_node_takes_its_pods_down_then_recovers() {
    let mut w = world(200);
    w.dynamics = Dynamics {
        restart: 0.0,
        crashloop: 0.0,
        recover: 0.0,
        reschedule: 0.0,
        node_down: 0.0,
        unhealthy: 0.0,
    };
    let i = w.nodes.iter().position(|a| !a.cp).unwrap();
    let name = st(&w.snap.nodes[i].summary.name).to_owned();
    w.node_down(i, 2);
    w.tick(t0() + TimeDelta::seconds(10));
    assert_eq!(st(&w.snap.nodes[i].summary.ready), "Unknown");
    assert_eq!(w.snap.summary.ready_nodes, w.snap.nodes.len() as i64 - 1);
    let on_node: Vec<_> = w
        .snap
        .pods
        .iter()
        .filter(|p| st(&p.summary.node_name) == name)
        .collect();
    assert!(!on_node.is_empty());
    assert!(on_node.iter().all(|p| !pod_ready(p)));
    assert!(w.snap.nodes[i].metrics.is_none());
    assert!(w
        .snap
        .events
        .iter()
        .any(|e| st(&e.reason) == "NodeNotReady" && st(&e.involved_object.name) == name));
    w.tick(t0() + TimeDelta::seconds(20));
    assert_eq!(st(&w.snap.nodes[i].summary.ready), "True");
    assert_eq!(w.snap.summary.ready_nodes, w.snap.nodes.len() as i64);
}

#[test]
fn scale_changes_replicas_and_the_pods_follow() {
    let mut w = world(120);
    let d = &w.snap.deployments[w.snap.deployments.len() - 1];
    let (ns, name) = (
        st(&d.summary.namespace).to_owned(),
        st(&d.summary.name).to_owned(),
    );
    let before = w.snap.pods.len() as i32;
    let old = d.spec.replicas.unwrap();
    let out = w.execute(
        &cmd(
            "scale",
            "Deployment",
            &ns,
            &name,
            json!({"replicas": old + 3}),
        ),
        t0(),
    );
    assert_eq!(out, Ok(String::new()));
    let d = w
        .snap
        .deployments
        .iter()
        .find(|d| st(&d.summary.name) == name)
        .unwrap();
    assert_eq!(d.summary.replicas, old + 3);
    assert_eq!(d.status.replicas, old + 3);
    assert_eq!(w.snap.pods.len() as i32, before + 3);
    assert_consistent(&w);
    w.execute(
        &cmd("scale", "Deployment", &ns, &name, json!({"replicas": 0})),
        t0(),
    )
    .unwrap();
    assert_eq!(w.snap.pods.len() as i32, before - old);
    let d = w
        .snap
        .deployments
        .iter()
        .find(|d| st(&d.summary.name) == name)
        .unwrap();
    assert_eq!(st(&d.rollout.as_ref().unwrap().phase), "Complete");
    assert!(w
        .execute(&cmd("scale", "Deployment", &ns, &name, json!({})), t0())
        .is_err());
}

#[test]
fn restart_rolls_every_pod_of_the_deployment() {
    let mut w = world(120);
    let d = w
        .snap
        .deployments
        .iter()
        .find(|d| d.summary.replicas >= 2)
        .unwrap();
    let (ns, name) = (
        st(&d.summary.namespace).to_owned(),
        st(&d.summary.name).to_owned(),
    );
    let old_rs = st(&d.replica_sets[0].name).to_owned();
    let old_pods: Vec<String> = w
        .snap
        .pods
        .iter()
        .filter(|p| st(&p.summary.owner_name) == old_rs)
        .map(|p| st(&p.summary.name).to_owned())
        .collect();
    w.execute(&cmd("restart", "Deployment", &ns, &name, json!({})), t0())
        .unwrap();
    let d = w
        .snap
        .deployments
        .iter()
        .find(|d| st(&d.summary.name) == name)
        .unwrap();
    let new_rs = st(&d.replica_sets[0].name).to_owned();
    assert_ne!(new_rs, old_rs);
    assert!(label(&d.template.annotations, "kubectl.kubernetes.io/restartedAt").is_some());
    let new_pods: Vec<&Pod> = w
        .snap
        .pods
        .iter()
        .filter(|p| st(&p.summary.owner_name) == new_rs)
        .collect();
    assert_eq!(new_pods.len(), old_pods.len());
    assert!(new_pods
        .iter()
        .all(|p| !old_pods.iter().any(|o| o == st(&p.summary.name))));
    assert!(!w
        .snap
        .pods
        .iter()
        .any(|p| st(&p.summary.owner_name) == old_rs));
    assert_consistent(&w);
    // One collection later the new pods run.
    w.tick(t0() + TimeDelta::seconds(30));
    w.tick(t0() + TimeDelta::seconds(60));
    w.tick(t0() + TimeDelta::seconds(90));
    assert!(w
        .snap
        .pods
        .iter()
        .filter(|p| st(&p.summary.owner_name) == new_rs)
        .any(|p| st(&p.status.phase) == "Running"));
}

#[test]
fn cordon_uncordon_delete_pod() {
    let mut w = world(90);
    let node = st(&w.snap.nodes[1].summary.name).to_owned();
    w.execute(&cmd("cordon", "Node", "", &node, json!({})), t0())
        .unwrap();
    assert!(w.snap.nodes[1].spec.unschedulable);
    assert!(!w.snap.nodes[1].summary.schedulable);
    w.execute(&cmd("uncordon", "Node", "", &node, json!({})), t0())
        .unwrap();
    assert!(!w.snap.nodes[1].spec.unschedulable);
    assert!(w
        .execute(&cmd("cordon", "Node", "", "no-such-node", json!({})), t0())
        .unwrap_err()
        .contains("not found"));
    let p = w
        .snap
        .pods
        .iter()
        .find(|p| st(&p.summary.owner_kind) == "ReplicaSet")
        .unwrap();
    let (ns, name) = (
        st(&p.summary.namespace).to_owned(),
        st(&p.summary.name).to_owned(),
    );
    let n = w.snap.pods.len();
    w.execute(&cmd("delete", "Pod", &ns, &name, json!({})), t0())
        .unwrap();
    assert_eq!(w.snap.pods.len(), n, "a replacement pod is created");
    assert!(!w.snap.pods.iter().any(|p| st(&p.summary.name) == name));
}

#[test]
fn logs_configmaps_secrets_and_failures() {
    let mut w = world(90);
    let p = w
        .snap
        .pods
        .iter()
        .find(|p| st(&p.status.phase) == "Running" && p.containers[0].restart_count == 0)
        .unwrap();
    let (ns, name) = (
        st(&p.summary.namespace).to_owned(),
        st(&p.summary.name).to_owned(),
    );
    let out = w
        .execute(
            &cmd("get_logs", "Pod", &ns, &name, json!({"tailLines": 7})),
            t0(),
        )
        .unwrap();
    assert_eq!(out.lines().count(), 7);
    let out = w
        .execute(&cmd("get_logs", "Pod", &ns, &name, json!({})), t0())
        .unwrap();
    assert_eq!(out.lines().count(), 100);
    let out = w
        .execute(
            &cmd(
                "get_logs",
                "Pod",
                &ns,
                &name,
                json!({"tailLines": 5000, "timestamps": true}),
            ),
            t0(),
        )
        .unwrap();
    assert_eq!(out.lines().count(), 200);
    assert!(out.starts_with("2026-"));
    assert!(w
        .execute(
            &cmd("get_logs", "Pod", &ns, &name, json!({"previous": true})),
            t0()
        )
        .is_err());
    assert!(w
        .execute(
            &cmd("get_logs", "Pod", &ns, &name, json!({"container": "nope"})),
            t0()
        )
        .unwrap_err()
        .contains("not valid"));
    let cm = w
        .snap
        .configmaps
        .iter()
        .find(|c| st(&c.name).ends_with("-config"))
        .unwrap();
    let (ns, name) = (st(&cm.namespace).to_owned(), st(&cm.name).to_owned());
    let keys: Vec<String> = cm.data_keys.iter().map(|k| st(k).to_owned()).collect();
    let out = w
        .execute(
            &cmd("get_configmap", "ConfigMap", &ns, &name, json!({})),
            t0(),
        )
        .unwrap();
    let data: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(data.keys().cloned().collect::<Vec<_>>(), keys);
    let sec = &w.snap.secrets[0];
    let (ns, name) = (st(&sec.namespace).to_owned(), st(&sec.name).to_owned());
    let out = w
        .execute(&cmd("get_secret", "Secret", &ns, &name, json!({})), t0())
        .unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .is_object());
    assert_eq!(
        w.execute(&cmd("drain", "Node", "", "x", json!({})), t0()),
        Err("unknown action: drain".to_owned())
    );
    assert!(w
        .execute(
            &cmd(
                "get_configmap",
                "ConfigMap",
                "default",
                "missing",
                json!({})
            ),
            t0()
        )
        .is_err());
    let list = w
        .execute(
            &cmd(
                "dynamic",
                "",
                "",
                "",
                json!({"command": "list", "kind": "Node"}),
            ),
            t0(),
        )
        .unwrap();
    assert_eq!(list.lines().count(), w.snap.nodes.len() + 1);
}

#[test]
fn slo_pushes_are_cumulative_with_routes() {
    let mut w = world(300);
    let a = w.slo_push(t0() + TimeDelta::seconds(10));
    let b = w.slo_push(t0() + TimeDelta::seconds(20));
    assert!(!a.ingress_routes.is_empty());
    assert!(b.metrics.timestamp > a.metrics.timestamp);
    for r in &a.ingress_routes {
        assert!(st(&r.service_key).ends_with("@kubernetes"));
        assert!(a.metrics.counters.iter().any(|c| c.host == r.service_key));
    }
    let prev: HashMap<(String, String), i64> = a
        .metrics
        .counters
        .iter()
        .map(|c| ((st(&c.host).to_owned(), st(&c.status).to_owned()), c.value))
        .collect();
    for c in &b.metrics.counters {
        if let Some(v) = prev.get(&(st(&c.host).to_owned(), st(&c.status).to_owned())) {
            assert!(c.value >= *v);
        }
        assert_eq!(st(&c.metric_type), "requests");
    }
    for h in &b.metrics.histograms {
        let vals: Vec<i64> = ["0.1", "0.3", "1.2", "5"]
            .iter()
            .map(|le| {
                h.buckets
                    .iter()
                    .find(|(k, _)| st(k) == *le)
                    .map(|(_, v)| *v)
                    .unwrap()
            })
            .collect();
        assert!(vals.windows(2).all(|x| x[0] <= x[1]), "cumulative buckets");
        assert!(vals[3] <= h.count);
    }
}

#[test]
fn dumps_pass_the_reference_checker() {
    // The checker lives in the shared folder beside the repository; skip without it.
    let checker =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools/gen_snapshot.py");
    if !checker.exists() {
        eprintln!("skipped: {} not found", checker.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("sim-dump-{}", std::process::id()));
    let cfg = crate::Config {
        clusters: 2,
        pods: 250,
        ..crate::Config::default()
    };
    let files = crate::dump(&cfg, &dir).unwrap();
    assert_eq!(files.len(), 8);
    let run = |args: &[&std::path::Path]| {
        let out = std::process::Command::new("python3")
            .arg(&checker)
            .arg("check")
            .args(args)
            .output();
        match out {
            Ok(o) => (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
            ),
            Err(e) => (true, format!("skipped: python3 unavailable: {e}")),
        }
    };
    let snaps: Vec<&std::path::Path> = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("snapshot"))
        .map(|f| f.as_path())
        .collect();
    let (ok, out) = run(&snaps);
    assert!(ok, "{out}");
    for pair in files.chunks(4) {
        let (ok, out) = run(&[
            pair[3].as_path(),
            std::path::Path::new("--prev"),
            pair[2].as_path(),
        ]);
        assert!(ok, "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Per (host, status) counter values of a push.
fn counter_map(p: &atlhyper_actors::model::SloPushRequest) -> HashMap<(String, String), i64> {
    p.metrics
        .counters
        .iter()
        .map(|c| ((st(&c.host).to_owned(), st(&c.status).to_owned()), c.value))
        .collect()
}

/// (5xx, all) requests of `host` between two pushes.
fn delta(
    prev: &HashMap<(String, String), i64>,
    cur: &HashMap<(String, String), i64>,
    host: &str,
) -> (i64, i64) {
    let (mut errors, mut all) = (0, 0);
    for ((h, code), v) in cur {
        if h != host {
            continue;
        }
        let d = v - prev.get(&(h.clone(), code.clone())).copied().unwrap_or(0);
        all += d;
        if code.starts_with('5') {
            errors += d;
        }
    }
    (errors, all)
}

#[test]
fn slo_burst_fails_the_first_route_inside_its_window_only() {
    let mut w = world(300);
    w.set_slo_burst(Some(SloBurst {
        error_rate: 0.5,
        after: std::time::Duration::from_secs(60),
        duration: std::time::Duration::from_secs(120),
    }));
    // The first push (t0 + 10 s) is the start: the window is [t0 + 70 s, t0 + 190 s).
    let first = w.slo_push(t0() + TimeDelta::seconds(10));
    let route = first.ingress_routes[0].clone();
    let key = st(&route.service_key).to_owned();
    let other = first
        .ingress_routes
        .iter()
        .map(|r| st(&r.service_key).to_owned())
        .find(|k| *k != key)
        .unwrap();
    assert!(w.take_slo_notice().is_none());
    let mut prev = counter_map(&first);
    let (mut inside, mut outside, mut others) = ((0, 0), (0, 0), (0, 0));
    for k in 2..=40 {
        let push = w.slo_push(t0() + TimeDelta::seconds(10 * k));
        let cur = counter_map(&push);
        let (e, n) = delta(&prev, &cur, &key);
        let in_window = (7..19).contains(&k);
        let acc = if in_window { &mut inside } else { &mut outside };
        acc.0 += e;
        acc.1 += n;
        if in_window {
            let (e, n) = delta(&prev, &cur, &other);
            others.0 += e;
            others.1 += n;
        }
        let notice = w.take_slo_notice();
        match k {
            7 | 19 => {
                let n = notice.unwrap();
                assert!(n.contains(if k == 7 { "started" } else { "ended" }), "{n}");
                assert!(n.contains("sim-0001") && n.contains(&key), "{n}");
                assert!(n.contains(st(&route.domain)), "{n}");
            }
            _ => assert!(notice.is_none(), "push {k}"),
        }
        prev = cur;
    }
    let share = |(e, n): (i64, i64)| e as f64 / n.max(1) as f64;
    assert!(inside.1 > 100 && outside.1 > 100, "{inside:?} {outside:?}");
    assert!((share(inside) - 0.5).abs() < 0.1, "inside {inside:?}");
    assert!(share(outside) < 0.1, "outside {outside:?}");
    assert!(share(others) < 0.1, "other host {others:?}");
}

#[test]
fn slo_pushes_without_the_burst_are_unchanged() {
    let pushes = |w: &mut World| -> Vec<String> {
        (1..=30)
            .map(|k| serde_json::to_string(&w.slo_push(t0() + TimeDelta::seconds(10 * k))).unwrap())
            .collect()
    };
    let plain = pushes(&mut world(200));
    // The fault is for the first cluster only: configuring another one changes nothing.
    let cfg = crate::Config {
        faults: crate::Faults {
            slo_burst: true,
            ..crate::Faults::default()
        },
        slo_burst_after: std::time::Duration::ZERO,
        ..crate::Config::default()
    };
    let mut w = world(200);
    crate::agent::configure_slo(&mut w, &cfg, 1);
    assert_eq!(pushes(&mut w), plain);
    // A burst that has not started yet draws nothing from the random stream.
    let mut w = world(200);
    w.set_slo_burst(Some(SloBurst {
        error_rate: 0.9,
        after: std::time::Duration::from_secs(3600),
        duration: std::time::Duration::from_secs(60),
    }));
    assert_eq!(pushes(&mut w), plain);
    let mut w = world(200);
    crate::agent::configure_slo(&mut w, &cfg, 0);
    assert_ne!(pushes(&mut w), plain);
}

#[test]
fn traefik_port_names_name_hosts_by_the_service_port_name() {
    let mut plain = world(300);
    let mut w = world(300);
    w.set_traefik_port_names(true);
    let a = plain.slo_push(t0() + TimeDelta::seconds(10));
    let b = w.slo_push(t0() + TimeDelta::seconds(10));
    assert_eq!(a.ingress_routes, b.ingress_routes, "routes keep the number");
    let hosts: Vec<&str> = b.metrics.counters.iter().map(|c| st(&c.host)).collect();
    let mut named = 0;
    for r in &b.ingress_routes {
        let (ns, svc) = (st(&r.namespace), st(&r.service_name));
        assert_eq!(
            st(&r.service_key),
            format!("{ns}-{svc}-{}@kubernetes", r.service_port)
        );
        let port = w
            .snap
            .services
            .iter()
            .find(|s| st(&s.summary.namespace) == ns && st(&s.summary.name) == svc)
            .and_then(|s| s.ports.iter().find(|p| i64::from(p.port) == r.service_port))
            .filter(|p| !st(&p.name).is_empty());
        let want = match port {
            Some(p) => {
                named += 1;
                format!("{ns}-{svc}-{}@kubernetes", st(&p.name))
            }
            None => st(&r.service_key).to_owned(),
        };
        assert!(hosts.contains(&want.as_str()), "{want}");
        assert!(b.metrics.histograms.iter().any(|h| st(&h.host) == want));
        if port.is_some() {
            assert!(!hosts.contains(&st(&r.service_key)));
        }
    }
    assert!(named > 0, "some routed service has a named port");
    assert!(a
        .metrics
        .counters
        .iter()
        .all(|c| !st(&c.host).ends_with("-http@kubernetes")));
}
