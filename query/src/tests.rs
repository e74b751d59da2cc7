//! Plans run on small snapshots: every operator, precedence, arrays, computed fields, the
//! outputs and the merge across clusters.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use atlhyper_model::ClusterSnapshot;

use crate::{compile, QueryError};

fn now() -> DateTime<Utc> {
    "2026-12-03T12:00:00Z".parse().unwrap()
}

fn snap(v: Value) -> ClusterSnapshot {
    serde_json::from_value(v).unwrap()
}

fn pod(ns: &str, name: &str, phase: &str, ready: &str, restarts: i32, images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, img)| json!({"name": format!("c{i}"), "image": img, "ready": true, "restartCount": restarts, "state": "running"}))
        .collect();
    json!({
        "summary": {"name": name, "namespace": ns, "nodeName": "n1", "createdAt": "2026-12-03T11:00:00Z", "age": "1h"},
        "status": {"phase": phase, "ready": ready, "restarts": restarts},
        "containers": containers,
        "labels": {"app": name.split('-').next().unwrap(), "app.kubernetes.io/part-of": "shop"},
    })
}

fn prod() -> ClusterSnapshot {
    snap(json!({
        "cluster_id": "prod",
        "pods": [
            pod("default", "web-1", "Running", "1/1", 0, &["registry.example.com/web:1"]),
            pod("default", "web-2", "Running", "0/1", 7, &["registry.example.com/web:1", "docker.io/envoy:1"]),
            pod("default", "db-1", "Pending", "0/1", 0, &["docker.io/postgres:16"]),
            pod("shop", "cart-1", "Running", "2/2", 12, &["ghcr.io/acme/cart:3", "registry.example.com/sidecar:1"]),
            pod("shop", "job-1", "Succeeded", "0/1", 1, &["registry.example.com/job:1"]),
        ],
        "deployments": [
            {"summary": {"name": "web", "namespace": "default", "replicas": 2, "ready": 1, "available": 1},
             "spec": {"replicas": 2}, "status": {"replicas": 2, "availableReplicas": 1, "readyReplicas": 1}},
            {"summary": {"name": "cart", "namespace": "shop", "replicas": 1, "ready": 1, "available": 1},
             "spec": {"replicas": 1}, "status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1}},
        ],
        "nodes": [
            {"summary": {"name": "n1", "ready": "True", "creationTime": "2026-01-01T00:00:00Z"},
             "conditions": [{"type": "Ready", "status": "True"}]},
            {"summary": {"name": "n2", "ready": "True"},
             "conditions": [{"type": "Ready", "status": "False"}]},
        ],
        "node_metrics": {
            "n1": {"node_name": "n1", "cpu": {"usage_percent": 91.5}, "memory": {"usage_percent": 85.0}},
            "n2": {"node_name": "n2", "cpu": {"usage_percent": 20.0}, "memory": {"usage_percent": 30.0}},
        },
        "events": [
            {"uid": "e1", "name": "web-2.1", "namespace": "default", "type": "Warning", "reason": "BackOff",
             "message": "back-off", "last_timestamp": "2026-12-03T11:58:00Z", "count": 9,
             "involved_object": {"kind": "Pod", "name": "web-2", "namespace": "default"}},
            {"uid": "e2", "name": "web-2.2", "namespace": "default", "type": "Warning", "reason": "Unhealthy",
             "message": "probe", "last_timestamp": "2026-12-03T11:50:00Z", "count": 2,
             "involved_object": {"kind": "Pod", "name": "web-2", "namespace": "default"}},
            {"uid": "e3", "name": "db-1.1", "namespace": "default", "type": "Normal", "reason": "Scheduled",
             "message": "ok", "last_timestamp": "2026-12-03T11:59:00Z", "count": 1,
             "involved_object": {"kind": "Pod", "name": "db-1", "namespace": "default"}},
            {"uid": "e4", "name": "cart-1.1", "namespace": "shop", "type": "Warning", "reason": "BackOff",
             "message": "back-off", "last_timestamp": "2026-12-03T11:57:00Z", "count": 3,
             "involved_object": {"kind": "Pod", "name": "cart-1", "namespace": "shop"}},
        ],
    }))
}

/// Runs `q` on the given clusters and returns the reply as the master builds it.
fn run_on(q: &str, clusters: &[(&str, &ClusterSnapshot)]) -> Value {
    let mut plan = compile(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    plan.at(now());
    let mut parts: Vec<_> = clusters
        .iter()
        .map(|(c, s)| plan.run_snapshot(c, s, now()))
        .collect();
    let merged = plan.merge(&mut parts);
    if plan.is_count() {
        return json!({"count": merged.total});
    }
    if plan.is_groups() {
        return json!(merged
            .groups
            .iter()
            .map(|(v, n)| json!([v, n]))
            .collect::<Vec<_>>());
    }
    let mut out = b"[".to_vec();
    for (i, (part, index)) in merged.picks.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (c, s) = clusters[*part];
        plan.render(c, s, *index, now(), &mut out);
    }
    out.push(b']');
    serde_json::from_slice(&out).unwrap()
}

fn run(q: &str) -> Value {
    run_on(q, &[("prod", &prod())])
}

/// The names of the items of a reply.
fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.pointer("/summary/name")
                .or_else(|| i.get("name"))
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn err(q: &str) -> QueryError {
    compile(q).unwrap_err()
}

fn invalid(q: &str) -> (usize, String, Option<String>) {
    match err(q) {
        QueryError::Invalid {
            position,
            message,
            hint,
        } => (position, message, hint),
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn the_seed_examples_work_as_written() {
    let r = run(r#"pods(cluster="prod", namespace="default", status="Running")"#);
    assert_eq!(names(&r), ["web-1", "web-2"]);
    assert_eq!(r[0]["cluster_id"], "prod");
    assert_eq!(r[0]["status"]["phase"], "Running");
    let r = run(r#"nodes(cluster="prod").where(cpu_usage > 80%)"#);
    assert_eq!(names(&r), ["n1"]);
    assert_eq!(
        run(r#"deployments(cluster="prod").count()"#),
        json!({"count": 2})
    );
    let r = run(r#"events(cluster="prod", last="5m", type="Warning")"#);
    assert_eq!(names(&r), ["web-2.1", "cart-1.1"]);
}

#[test]
fn every_operator() {
    let q = |c: &str| names(&run(&format!("pods().where({c})")));
    assert_eq!(q("restarts = 7"), ["web-2"]);
    assert_eq!(q("restarts == 7"), ["web-2"]);
    assert_eq!(q("restarts != 0"), ["web-2", "cart-1", "job-1"]);
    assert_eq!(q("restarts > 7"), ["cart-1"]);
    assert_eq!(q("restarts >= 7"), ["web-2", "cart-1"]);
    assert_eq!(q("restarts < 1"), ["web-1", "db-1"]);
    assert_eq!(q("restarts <= 1"), ["web-1", "db-1", "job-1"]);
    assert_eq!(q(r#"summary.name =~ "^web-""#), ["web-1", "web-2"]);
    assert_eq!(q(r#"summary.name !~ "-1$""#), ["web-2"]);
    // Strings compare as strings, and as numbers when the literal is one.
    assert_eq!(q(r#"status.phase = "Pending""#), ["db-1"]);
    assert_eq!(q(r#"status.phase > "Running""#), ["job-1"]);
    assert_eq!(q(r#"restarts = "12""#), ["cart-1"]);
    assert_eq!(q("ready = true"), ["web-1", "cart-1", "job-1"]);
    assert_eq!(q("ready = false"), ["web-2", "db-1"]);
    // A missing field is null.
    assert_eq!(q("status.reason = null").len(), 5);
    assert_eq!(q(r#"status.reason != "Evicted""#).len(), 5);
    assert!(q(r#"status.reason = "Evicted""#).is_empty());
}

#[test]
fn and_or_not_precedence() {
    let q = |c: &str| names(&run(&format!("pods().where({c})")));
    // and binds tighter than or.
    assert_eq!(
        q(r#"summary.namespace = "shop" or status.phase = "Running" and restarts > 5"#),
        ["web-2", "cart-1", "job-1"]
    );
    assert_eq!(
        q(r#"(summary.namespace = "shop" or status.phase = "Running") and restarts > 5"#),
        ["web-2", "cart-1"]
    );
    assert_eq!(
        q(r#"not status.phase = "Running" and restarts = 0"#),
        ["db-1"]
    );
    assert_eq!(
        q(r#"not (status.phase = "Running" and restarts = 0)"#).len(),
        4
    );
    // Several .where() are and-ed.
    assert_eq!(
        names(&run(
            r#"pods().where(restarts > 0).where(summary.namespace = "shop")"#
        )),
        ["cart-1", "job-1"]
    );
}

#[test]
fn where_on_nested_arrays_matches_any_element() {
    let q = |c: &str| names(&run(&format!("pods().where({c})")));
    assert_eq!(q(r#"containers.image =~ "^docker.io/""#), ["web-2", "db-1"]);
    // Each operator applies per element: "images not from an allowed registry" is any
    // container outside it, and `not (… =~ …)` is none inside it.
    assert_eq!(
        q(r#"containers.image !~ "^(registry.example.com|ghcr.io/acme)/""#),
        ["web-2", "db-1"]
    );
    assert_eq!(
        q(r#"not containers.image =~ "^(registry.example.com|ghcr.io/acme)/""#),
        ["db-1"]
    );
    assert_eq!(q(r#"containers.image != "docker.io/envoy:1""#).len(), 5);
    assert_eq!(q(r#"not containers.image = "docker.io/envoy:1""#).len(), 4);
    assert_eq!(
        q(r#"containers.image =~ "^docker.io/" and containers.image =~ "example""#),
        ["web-2"]
    );
    assert_eq!(q("containers.restartCount >= 12"), ["cart-1"]);
    assert_eq!(q(r#"labels."app.kubernetes.io/part-of" = "shop""#).len(), 5);
    assert_eq!(q(r#"labels.app = "cart""#), ["cart-1"]);
    assert_eq!(
        names(&run(
            r#"nodes().where(conditions.type = "Ready" and conditions.status = "False")"#
        )),
        ["n2"]
    );
}

#[test]
fn computed_fields() {
    assert_eq!(names(&run("nodes().where(mem_usage > 80)")), ["n1"]);
    assert_eq!(names(&run("nodes().where(ready = false)")), ["n2"]);
    assert_eq!(names(&run(r#"nodes(status="NotReady")"#)), ["n2"]);
    assert_eq!(
        names(&run("deployments().where(unavailable_replicas > 0)")),
        ["web"]
    );
    assert_eq!(names(&run("deployments().where(ready = false)")), ["web"]);
    // Ages are seconds: every pod was created an hour before `now`.
    assert_eq!(
        run("pods().where(age >= 1h and age < 61m).count()"),
        json!({"count": 5})
    );
    assert_eq!(run("pods().where(age > 2h).count()"), json!({"count": 0}));
    assert_eq!(names(&run("nodes().where(age > 300d)")), ["n1"]);
    assert_eq!(names(&run(r#"pods().where(name =~ "^cart")"#)), ["cart-1"]);
    assert_eq!(
        names(&run(
            r#"pods().where(cluster_id = "prod" and namespace = "shop")"#
        )),
        ["cart-1", "job-1"]
    );
}

#[test]
fn sort_limit_fields_count_group_by() {
    let r = run("pods().sort(restarts desc).limit(2)");
    assert_eq!(names(&r), ["cart-1", "web-2"]);
    let r = run("pods().sort(summary.name).limit(3)");
    assert_eq!(names(&r), ["cart-1", "db-1", "job-1"]);
    let r = run(
        r#"pods(namespace="shop").fields(summary.name, containers.image, restarts, labels."app.kubernetes.io/part-of")"#,
    );
    assert_eq!(
        r,
        json!([
            {"cluster_id": "prod", "summary.name": "cart-1",
             "containers.image": ["ghcr.io/acme/cart:3", "registry.example.com/sidecar:1"],
             "restarts": 12.0, "labels.\"app.kubernetes.io/part-of\"": "shop"},
            {"cluster_id": "prod", "summary.name": "job-1",
             "containers.image": ["registry.example.com/job:1"],
             "restarts": 1.0, "labels.\"app.kubernetes.io/part-of\"": "shop"},
        ])
    );
    assert_eq!(
        run("pods().where(restarts > 0).count()"),
        json!({"count": 3})
    );
    assert_eq!(
        run("pods().group_by(status.phase)"),
        json!([["Running", 3], ["Pending", 1], ["Succeeded", 1]])
    );
    assert_eq!(
        run(r#"events(type="Warning", last="10m").group_by(reason)"#),
        json!([["BackOff", 2], ["Unhealthy", 1]])
    );
    // A list counts each distinct value once per object.
    assert_eq!(
        run(r#"pods().group_by(containers.image).limit(1)"#),
        json!([["registry.example.com/web:1", 2]])
    );
    assert_eq!(run("pods().limit(0)"), json!([]));
}

#[test]
fn several_clusters_merge() {
    let prod = prod();
    let mut stage = prod.clone();
    stage.pods.truncate(2);
    stage.pods[0].status.restarts = 30;
    let both = [("prod", &prod), ("stage", &stage)];
    let r = run_on("pods().where(restarts > 5).sort(restarts desc)", &both);
    let tagged: Vec<(String, i64)> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["cluster_id"].as_str().unwrap().to_owned(),
                i["status"]["restarts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tagged,
        [
            ("stage".into(), 30),
            ("prod".into(), 12),
            ("prod".into(), 7),
            ("stage".into(), 7)
        ]
    );
    assert_eq!(run_on("pods().count()", &both), json!({"count": 7}));
    assert_eq!(
        compile(r#"pods(cluster=["b", "a", "b"])"#)
            .unwrap()
            .clusters,
        crate::Clusters::Named(vec!["a".into(), "b".into()])
    );
    // Without a sort: cluster order, then the snapshot's, and the limit is global.
    let r = run_on("pods().limit(6).fields(cluster_id, summary.name)", &both);
    assert_eq!(r.as_array().unwrap().len(), 6);
    assert_eq!(
        r[5],
        json!({"cluster_id": "stage", "summary.name": "web-1"})
    );
    // Listed, `cluster_id` is written once, where the query puts it.
    let plan = compile("pods().limit(1).fields(summary.name, cluster_id)").unwrap();
    let mut out = Vec::new();
    plan.render("prod", &prod, 0, now(), &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"summary.name":"web-1","cluster_id":"prod"}"#
    );
    assert_eq!(
        run_on("pods().group_by(cluster_id)", &both),
        json!([["prod", 5], ["stage", 2]])
    );
}

#[test]
fn unknown_names_are_refused_with_a_hint() {
    let (pos, msg, hint) = invalid("podz()");
    assert_eq!((pos, hint.as_deref()), (0, Some("pods")));
    assert!(msg.contains("unknown kind \"podz\""), "{msg}");
    let (pos, msg, hint) = invalid(r#"pods(nmespace="x")"#);
    assert_eq!((pos, hint.as_deref()), (5, Some("namespace")));
    assert!(msg.contains("unknown argument \"nmespace\""), "{msg}");
    let (pos, msg, hint) = invalid("pods().where(status.phse = 1)");
    assert_eq!((pos, hint.as_deref()), (13, Some("phase")));
    assert!(
        msg.contains("unknown field of pods.status: \"phse\""),
        "{msg}"
    );
    let (_, msg, hint) = invalid("pods().where(restart > 1)");
    assert_eq!(hint.as_deref(), Some("restarts"));
    assert!(msg.contains("valid:"), "{msg}");
    let (_, msg, _) = invalid("pods().where(status.phase.x = 1)");
    assert!(msg.contains("status.phase of pods is a value"), "{msg}");
    let (_, msg, _) = invalid("pods().where(cpu_usage > 1)");
    assert!(
        msg.contains("cpu_usage is computed for nodes only"),
        "{msg}"
    );
    let (pos, msg, _) = invalid(r#"nodes(namespace="x")"#);
    assert_eq!(pos, 6);
    assert!(
        msg.contains("namespace applies to namespaced kinds"),
        "{msg}"
    );
    assert!(invalid(r#"pods(type="Warning")"#)
        .1
        .contains("applies to events"));
    assert!(invalid(r#"pods(cluster="a", cluster="b")"#)
        .1
        .contains("given twice"));
    assert!(invalid(r#"nodes(status="Running")"#)
        .1
        .contains("Ready or NotReady"));
    assert!(invalid(r#"events(last="soon")"#)
        .1
        .contains("positive duration"));
    assert!(invalid(r#"events(last="100d")"#)
        .1
        .contains("at most 90 days"));
    assert!(invalid("pods().limit(1001)").1.contains("0 to 1000"));
    assert!(invalid("pods().limit(1.5)").1.contains("whole number"));
    assert!(invalid("pods().count().limit(1)")
        .1
        .contains("nothing may follow"));
    assert!(invalid("pods().sort(age).sort(restarts)")
        .1
        .contains("given twice"));
    assert!(invalid("pods().sort(containers.restartCount desc)")
        .1
        .contains("several values"));
    assert!(invalid("pods().sort(status)").1.contains("several values"));
    assert!(invalid("pods().group_by(labels)")
        .1
        .contains("is an object"));
    assert!(invalid("pods().fields(restarts, restarts)")
        .1
        .contains("listed twice"));
    assert!(invalid("pods().where(restarts =~ 1)")
        .1
        .contains("regular expression in quotes"));
    assert!(invalid("pods().where(restarts > true)")
        .1
        .contains("cannot be compared"));
    assert!(invalid(r#"events(history=true, label="a=b")"#)
        .1
        .contains("persisted events"));
    assert!(invalid(r#"pods(label="=x")"#).1.contains("key=value"));
    // History items are the persisted rows.
    assert!(compile("events(history=true).where(involved_kind = \"Pod\")").is_ok());
    assert!(
        invalid("events(history=true).where(involvedObject.kind = \"Pod\")")
            .1
            .contains("unknown field")
    );
}

#[test]
fn regular_expressions_are_bounded() {
    // Catastrophic for a backtracking engine; linear here.
    let evil = r#"pods().where(summary.name =~ "^(a+)+$")"#;
    let mut p = compile(evil).unwrap();
    p.at(now());
    let mut s = prod();
    s.pods[0].summary.name = format!("{}!", "a".repeat(5000)).into();
    let t = std::time::Instant::now();
    let part = p.run_snapshot("prod", &s, now());
    assert_eq!(part.matched, 0);
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    let long = format!(r#"pods().where(summary.name =~ "{}")"#, "a".repeat(2000));
    assert!(invalid(&long).1.contains("at most 1024"));
    assert!(invalid(r#"pods().where(summary.name =~ "a{1000}{1000}")"#)
        .1
        .contains("too large"));
    assert!(invalid(r#"pods().where(summary.name =~ "(")"#)
        .1
        .contains("invalid regular expression"));
    let many = (0..17)
        .map(|_| r#"summary.name =~ "a""#)
        .collect::<Vec<_>>()
        .join(" or ");
    assert!(invalid(&format!("pods().where({many})"))
        .1
        .contains("at most 16"));
}

/// Every query the README shows (`q '…'` lines) compiles, and runs on a snapshot.
#[test]
fn the_readme_queries_compile() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let queries: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("q '")?.strip_suffix('\''))
        .collect();
    assert!(queries.len() >= 14, "{} queries found", queries.len());
    for q in queries {
        let mut plan = compile(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        plan.at(now());
        let _ = plan.run_snapshot("prod", &prod(), now());
    }
}

/// The bounded top-k of a sort gives exactly what a full sort then a cut would: ties by
/// position, missing values last, both directions.
#[test]
fn sorted_top_k_equals_a_full_sort() {
    let mut s = prod();
    let template = s.pods[0].clone();
    s.pods = (0..300i32)
        .map(|i| {
            let mut p = template.clone();
            p.summary.name = format!("p{i:03}").into();
            p.status.restarts = i * 7919 % 37;
            if i % 50 == 7 {
                p.status.phase = "".into();
            }
            p
        })
        .collect();
    for (q, desc) in [
        ("restarts", true),
        ("restarts", false),
        ("status.phase", false),
    ] {
        for limit in [0usize, 1, 10, 299, 300, 1000] {
            let text = format!(
                "pods().sort({q} {}).limit({limit}).fields(summary.name)",
                if desc { "desc" } else { "asc" }
            );
            let got: Vec<String> = run_on(&text, &[("prod", &s)])
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["summary.name"].as_str().unwrap().to_owned())
                .collect();
            let mut want: Vec<(usize, &atlhyper_model::Pod)> = s.pods.iter().enumerate().collect();
            want.sort_by(|(ia, a), (ib, b)| {
                let o = if q == "restarts" {
                    a.status.restarts.cmp(&b.status.restarts)
                } else {
                    a.status.phase.as_str().cmp(b.status.phase.as_str())
                };
                (if desc { o.reverse() } else { o }).then(ia.cmp(ib))
            });
            let want: Vec<String> = want
                .iter()
                .take(limit)
                .map(|(_, p)| p.summary.name.to_string())
                .collect();
            assert_eq!(got, want, "{text}");
        }
    }
}

/// A field with more distinct values than `MAX_GROUPS` is refused, not copied whole; long
/// string keys are cut.
#[test]
fn group_and_sort_keys_are_bounded() {
    let mut s = prod();
    let template = s.pods[0].clone();
    s.pods = (0..crate::MAX_GROUPS + 1)
        .map(|i| {
            let mut p = template.clone();
            p.summary.name = format!("p{i}").into();
            p
        })
        .collect();
    let mut plan = compile("pods().group_by(summary.name)").unwrap();
    plan.at(now());
    let merged = plan.merge(&mut [plan.run_snapshot("prod", &s, now())]);
    assert!(merged.too_many_groups);
    assert!(merged.groups.is_empty());
    s.pods.truncate(3);
    let long = "é".repeat(400);
    for (i, p) in s.pods.iter_mut().enumerate() {
        p.summary.name = format!("{long}{i}").into();
    }
    let r = run_on("pods().group_by(summary.name)", &[("prod", &s)]);
    let key = r[0][0].as_str().unwrap();
    assert_eq!(r[0][1], 3, "cut keys group together: {r}");
    assert_eq!(key.len(), crate::MAX_KEY_BYTES);
    let r = run_on(
        "pods().sort(summary.name desc).limit(3).fields(summary.name)",
        &[("prod", &s)],
    );
    // Equal (cut) keys keep the snapshot's order.
    let names: Vec<&str> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["summary.name"].as_str().unwrap())
        .collect();
    assert!(
        names[0].ends_with('0') && names[2].ends_with('2'),
        "{names:?}"
    );
}

#[test]
fn changes_read_the_change_history_with_their_own_arguments_and_fields() {
    let p = compile(
        r#"changes(cluster="prod", last="1h", type="image_changed").where(kind = "Deployment")"#,
    )
    .unwrap();
    assert!(p.changes && !p.history);
    assert_eq!(p.source(), "changes");
    assert_eq!(p.filter.event_type.as_deref(), Some("image_changed"));
    assert_eq!(p.last, Some(chrono::Duration::hours(1)));
    for arg in [
        "label=\"a=b\"",
        "status=\"x\"",
        "node=\"n\"",
        "reason=\"r\"",
        "history=true",
    ] {
        let (_, msg, _) = invalid(&format!("changes({arg})"));
        assert!(msg.contains("does not apply to changes"), "{arg}: {msg}");
    }
    let (_, msg, _) = invalid("changes().where(summary.text = 1)");
    assert!(msg.contains("changes"), "{msg}");
    let (_, msg, hint) = invalid("changez()");
    assert!(msg.contains("unknown kind"), "{msg}");
    assert_eq!(hint.as_deref(), Some("changes"));
    assert!(compile("changes().sort(time desc).fields(kind, name, summary)").is_ok());
}
