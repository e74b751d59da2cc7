//! The change history (issue 18): evolving snapshots of the medium fixture, each change
//! type found once, pure pod churn and repeats recording nothing (also across a
//! restart), a command linked to the change it made, the timeline's merge order, the
//! agent's inventory and the version catalogue with its policy.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::helpers::*;

const CLUSTER: &str = "demo-medium";

/// The fixture with a `fetched_at` `secs` from now (each push must be newer than the last).
fn at(mut snap: Value, secs: i64) -> Value {
    snap["fetched_at"] =
        json!((Utc::now() + Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Millis, true));
    snap
}

async fn push(app: &TestApp, snap: &Value) {
    let r = app.push_json(CLUSTER, snap).await;
    assert_eq!(r.status().as_u16(), 200);
    app.state.persist.flush().await;
}

async fn changes(app: &TestApp, query: &str) -> Vec<Value> {
    let (s, body) = app
        .get(&format!(
            "/api/v2/clusters/{CLUSTER}/changes?limit=1000{query}"
        ))
        .await;
    assert_eq!(s, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

fn find<'a>(rows: &'a [Value], kind: &str, name: &str, change_type: &str) -> Vec<&'a Value> {
    rows.iter()
        .filter(|r| r["kind"] == kind && r["name"] == name && r["change_type"] == change_type)
        .collect()
}

/// Every change the test makes to the fixture, applied to `s`.
fn evolve(mut s: Value) -> Value {
    // Deployment kube-system/atlhyper-agent: a new image (a new revision, rolling out).
    let agent = &mut s["deployments"][0];
    agent["template"]["containers"][0]["image"] =
        json!("registry.example.com/atlhyper/agent:v2.2.0");
    // Deployment kube-system/coredns: 2 → 4 replicas.
    s["deployments"][1]["spec"]["replicas"] = json!(4);
    s["deployments"][1]["summary"]["replicas"] = json!(4);
    // ConfigMap default/kube-root-ca.crt: one key more. Values are never sent or kept.
    s["configmaps"][0]["data_keys"] = json!(["ca.crt", "extra.pem"]);
    // Secret kube-system/bootstrap-token-8dcxgb: removed.
    let secrets = s["secrets"].as_array_mut().unwrap();
    secrets.retain(|x| x["name"] != "bootstrap-token-8dcxgb");
    // Service kube-system/kube-dns: re-pointed to another selector.
    s["services"][2]["selector"] = json!({"k8s-app": "kube-dns-v2"});
    // Node 0 cordoned; node 1's kernel upgraded.
    s["nodes"][0]["spec"]["unschedulable"] = json!(true);
    s["nodes"][1]["info"]["kernelVersion"] = json!("6.1.80-100.amzn2023.x86_64");
    // A new namespace with a ConfigMap in it: one row for the namespace.
    s["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"summary": {"name": "fresh"}}));
    s["configmaps"].as_array_mut().unwrap().push(json!({
        "uid": "u-fresh", "name": "settings", "namespace": "fresh", "kind": "ConfigMap",
        "data_keys": ["a"]}));
    // Pure churn: every pod of a Deployment replaced by one with another name.
    for p in s["pods"].as_array_mut().unwrap() {
        if p["summary"]["ownerKind"] == "ReplicaSet" {
            let name = format!("{}-x", p["summary"]["name"].as_str().unwrap());
            p["summary"]["name"] = json!(name);
        }
    }
    // A bare pod appears: one `pods_changed` row for the namespace's pods without owner.
    s["pods"].as_array_mut().unwrap().push(json!({"summary": {
        "name": "debug-shell", "namespace": "shop", "nodeName": "n1"}}));
    s
}

#[actix_web::test]
async fn each_change_is_recorded_once_and_not_again_after_a_restart() {
    let app = spawn_app().await;
    let base = fixture_json("medium-go.json.gz");
    push(&app, &at(base.clone(), 0)).await;
    // The first snapshot is the baseline: no changes, one periodic snapshot (shown only
    // when asked for: it is a retention marker), with counts and no object names.
    assert!(changes(&app, "").await.is_empty());
    let rows = changes(&app, "&change_type=periodic_snapshot").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        ["day", "month", "quarter"].contains(&rows[0]["tier"].as_str().unwrap()),
        "{rows:?}"
    );
    let census: Value = serde_json::from_str(rows[0]["after"].as_str().unwrap()).unwrap();
    assert_eq!(census["secrets"], 79, "{census}");
    assert!(!rows[0]["after"]
        .as_str()
        .unwrap()
        .contains("bootstrap-token"));

    let next = evolve(base.clone());
    push(&app, &at(next.clone(), 1)).await;
    let rows = changes(&app, "").await;
    let one = |kind: &str, name: &str, ct: &str| {
        let found = find(&rows, kind, name, ct);
        assert_eq!(found.len(), 1, "{kind} {name} {ct}: {rows:#?}");
        found[0].clone()
    };
    let image = one("Deployment", "atlhyper-agent", "image_changed");
    assert_eq!(
        image["before"],
        "registry.example.com/atlhyper/agent:v2.1.0"
    );
    assert_eq!(image["after"], "registry.example.com/atlhyper/agent:v2.2.0");
    assert!(image["summary"].as_str().unwrap().contains("→"), "{image}");
    let scaled = one("Deployment", "coredns", "replicas_changed");
    assert_eq!(
        (scaled["before"].as_str(), scaled["after"].as_str()),
        (Some("2"), Some("4"))
    );
    let keys = one("ConfigMap", "kube-root-ca.crt", "keys_changed");
    assert_eq!(keys["summary"], "keys +[extra.pem]");
    one("Secret", "bootstrap-token-8dcxgb", "removed");
    let dns = one("Service", "kube-dns", "repointed");
    assert!(
        dns["after"].as_str().unwrap().contains("kube-dns-v2"),
        "{dns}"
    );
    let node0 = base["nodes"][0]["summary"]["name"].as_str().unwrap();
    let node1 = base["nodes"][1]["summary"]["name"].as_str().unwrap();
    one("Node", node0, "cordoned");
    let kernel = one("Node", node1, "kernel_upgraded");
    assert_eq!(kernel["after"], "6.1.80-100.amzn2023.x86_64");
    let ns = one("Namespace", "fresh", "added");
    assert!(
        ns["summary"].as_str().unwrap().contains("1 ConfigMap"),
        "{ns}"
    );
    assert!(
        find(&rows, "ConfigMap", "settings", "added").is_empty(),
        "folded into the namespace"
    );
    let bare = one("Pod", "", "pods_changed");
    assert_eq!(bare["namespace"], "shop");
    // Pure churn of Deployment pods recorded nothing; only these rows.
    assert_eq!(rows.len(), 9, "{rows:#?}");
    // A viewer does not see Secrets' changes (Secrets need the operator role).
    let viewer = app.token_for("vic", "viewer").await;
    let seen: Value = app
        .api(
            reqwest::Method::GET,
            &format!("/api/v2/clusters/{CLUSTER}/changes?limit=1000"),
            Some(&viewer),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 8, "{seen}");
    assert!(!kinds.contains(&"Secret"), "{kinds:?}");
    let r = app
        .api(
            reqwest::Method::GET,
            &format!("/api/v2/clusters/{CLUSTER}/timeline?kind=Secret&namespace=kube-system"),
            Some(&viewer),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // A namespace's timeline leaves Secrets out for a viewer, not for an admin.
    let secret_kinds = |v: Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == "Secret")
            .count()
    };
    let path = format!("/api/v2/clusters/{CLUSTER}/timeline?namespace=kube-system");
    let (_, as_admin) = app.get(&path).await;
    assert_eq!(secret_kinds(as_admin), 1);
    let as_viewer: Value = app
        .api(reqwest::Method::GET, &path, Some(&viewer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(secret_kinds(as_viewer), 0);
    // Filters.
    assert_eq!(changes(&app, "&change_type=cordoned").await.len(), 1);
    assert_eq!(
        changes(&app, "&kind=Deployment&namespace=kube-system")
            .await
            .len(),
        2
    );
    let (s, body) = app
        .get(&format!(
            "/api/v2/clusters/{CLUSTER}/changes?change_type=bogus"
        ))
        .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_parameter")));

    // The query DSL reads them too, with its arguments and conditions.
    let q = |text: &str| {
        let app = &app;
        let text = text.to_owned();
        async move {
            let (s, v) = app.post("/api/v2/query", &json!({"q": text})).await;
            assert_eq!(s, 200, "{text}: {v}");
            v
        }
    };
    let v = q(r#"changes(cluster="demo-medium", last="1h").count()"#).await;
    assert_eq!(v["count"], 9, "periodic snapshots are not changes: {v}");
    let v = q(r#"changes(cluster="demo-medium").where(count >= 1).count()"#).await;
    assert_eq!(v["count"], 9, "not even with a condition: {v}");
    let v = q(r#"changes(cluster="*", type="cordoned")"#).await;
    assert_eq!(v["kind"], "changes");
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    let v = q(r#"changes(cluster="demo-medium", namespace="kube-system", name="core").fields(name, before, after)"#).await;
    assert_eq!(v["items"][0]["after"], "4", "{v}");
    let v = q(r#"changes(cluster="demo-medium").where(kind = "Deployment").group_by(change_type)"#)
        .await;
    assert_eq!(v["groups"].as_array().unwrap().len(), 2, "{v}");
    let (s, v) = app
        .post(
            "/api/v2/query",
            &json!({"q": r#"changes(cluster="demo-medium", label="a=b")"#}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("query_invalid")), "{v}");

    // The same state again, and again after a restart: nothing new.
    push(&app, &at(next.clone(), 2)).await;
    assert_eq!(changes(&app, "").await.len(), 9);
    let app = app.restart().await;
    push(&app, &at(next.clone(), 3)).await;
    let after = changes(&app, "").await;
    assert_eq!(after.len(), 9, "{after:#?}");

    // The rollout finishes once its pods are updated (the status already is).
    let (s, _) = app
        .get(&format!(
            "/api/v2/clusters/{CLUSTER}/changes?change_type=rollout_started"
        ))
        .await;
    assert_eq!(s, 200);
}

#[actix_web::test]
async fn a_command_is_linked_to_its_change_and_the_timeline_merges_newest_first() {
    let app = spawn_app().await;
    let base = fixture_json("medium-go.json.gz");
    let since = Utc::now() - Duration::minutes(5);
    push(&app, &at(base.clone(), 0)).await;
    // An operator scales coredns; the agent takes the command and reports success.
    let id = app
        .create_command(&json!({"cluster_id": CLUSTER, "action": "scale",
            "namespace": "kube-system", "name": "coredns", "params": {"replicas": 3}}))
        .await;
    let polled: Value = app.poll(CLUSTER, "ops").await.json().await.unwrap();
    assert_eq!(polled["command"]["id"], json!(id));
    let r = app
        .result(
            CLUSTER,
            &json!({"command_id": id, "success": true, "output": "scaled",
            "error": "", "executed_at": "2026-02-04T13:31:25+09:00"}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    // The next snapshot shows 3 replicas.
    let mut next = base.clone();
    next["deployments"][1]["spec"]["replicas"] = json!(3);
    push(&app, &at(next, 1)).await;
    let rows = changes(&app, "&change_type=replicas_changed").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["command_id"], json!(id));
    assert!(
        rows[0]["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("by scale command {id}")),
        "{}",
        rows[0]
    );

    let q = format!(
        "/api/v2/clusters/{CLUSTER}/timeline?kind=Deployment&namespace=kube-system&name=coredns&since={}",
        since.to_rfc3339_opts(SecondsFormat::Secs, true).replace('+', "%2B")
    );
    let (s, t) = app.get(&q).await;
    assert_eq!(s, 200, "{t}");
    let items = t["items"].as_array().unwrap();
    let sources: Vec<&str> = items
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    let change = sources
        .iter()
        .position(|s| *s == "change")
        .expect("a change");
    let command = sources
        .iter()
        .position(|s| *s == "command")
        .expect("a command");
    assert!(change < command, "newest first: {sources:?}");
    let times: Vec<&str> = items.iter().map(|i| i["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(items[command]["command_id"], json!(id));
    assert_eq!(t["truncated"], json!(false));
    // Bad windows and parameters are refused.
    for bad in [
        "since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z",
        "since=2025-01-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "name=coredns",
        "limit=0",
        "since=yesterday",
    ] {
        let (s, body) = app
            .get(&format!("/api/v2/clusters/{CLUSTER}/timeline?{bad}"))
            .await;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("invalid_parameter")),
            "{bad}: {body}"
        );
    }
    let (s, body) = app.get("/api/v2/clusters/nowhere/timeline").await;
    assert_eq!((s, body["code"].as_str()), (404, Some("cluster_not_found")));
}

#[actix_web::test]
async fn the_agent_is_stored_audited_and_judged_by_the_version_policy() {
    let app = spawn_app().await;
    // A heartbeat with metadata and a User-Agent, then a snapshot.
    let r = app
        .agent_req(reqwest::Method::POST, "/agent/heartbeat", CLUSTER)
        .header("User-Agent", "atlhyper-agent/2.0.1")
        .json(&json!({"agent_version": "v2.0.1", "hostname": "agent-0", "ip": "10.0.0.9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    push(&app, &at(fixture_json("medium-go.json.gz"), 0)).await;
    let (s, a) = app.get(&format!("/api/v2/clusters/{CLUSTER}/agent")).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["agent_version"], "v2.0.1");
    assert_eq!(a["version_source"], "heartbeat");
    assert_eq!(a["hostname"], "agent-0");
    assert_eq!(a["remote_addr"], "127.0.0.1");
    assert_eq!(a["outdated"], Value::Null, "no policy yet");
    assert_eq!(a["status"], "online");
    assert!(a["first_seen"].is_string(), "{a}");
    assert_eq!(
        a["nodes"].as_array().unwrap().len(),
        a["node_versions"]["count"].as_u64().unwrap() as usize
    );
    assert!(
        a["node_versions"]["kubelets"]
            .as_object()
            .unwrap()
            .contains_key("v1.29.3"),
        "{a}"
    );

    // The catalogue: a viewer reads it, only an admin changes it.
    let viewer = app.token_for("vera", "viewer").await;
    let r = app
        .api(
            reqwest::Method::POST,
            "/api/v2/agent-versions",
            Some(&viewer),
        )
        .json(&json!({"version": "v2.1.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (s, v) = app
        .post(
            "/api/v2/agent-versions",
            &json!({"version": "v2.1.0", "minimum": true,
            "release_date": "2026-01-15", "notes": "SLO push", "min_master_version": "2.1.0"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["minimum"].as_bool(), v["latest"].as_bool()),
        (Some(true), Some(false))
    );
    let (s, v) = app
        .post(
            "/api/v2/agent-versions",
            &json!({"version": "v2.2.0", "latest": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    for (body, code, status) in [
        (json!({"version": "v2.1.0"}), "version_exists", 409),
        (
            json!({"version": "not a version"}),
            "invalid_parameter",
            400,
        ),
        (
            json!({"version": "v3", "colour": "red"}),
            "invalid_parameter",
            400,
        ),
        (
            json!({"version": "v3", "latest": "yes"}),
            "invalid_parameter",
            400,
        ),
    ] {
        let (s, b) = app.post("/api/v2/agent-versions", &body).await;
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{body}: {b}");
    }
    let (_, list) = app.get("/api/v2/agent-versions").await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["min_version"], "v2.1.0");
    assert_eq!(list["latest_version"], "v2.2.0");
    // v2.0.1 is older than the minimum: outdated, and an update is available.
    let (_, a) = app.get(&format!("/api/v2/clusters/{CLUSTER}/agent")).await;
    assert_eq!(a["outdated"], true, "{a}");
    assert_eq!(a["update_available"], true);
    // The built-in rule fires for the cluster.
    let outdated_alerts = || async {
        app.state.notify.flush().await;
        let (_, v) = app
            .get(&format!(
                "/api/v2/alerts?status=firing&cluster_id={CLUSTER}&limit=1000"
            ))
            .await;
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule_name"] == "agent_outdated")
            .cloned()
            .collect::<Vec<Value>>()
    };
    let firing = outdated_alerts().await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert!(
        firing[0]["message"]
            .as_str()
            .unwrap()
            .contains("v2.0.1 is older than the minimum v2.1.0"),
        "{firing:?}"
    );
    // Moving the minimum down makes it current; the flag moves, it is not duplicated.
    let r = app
        .api(
            reqwest::Method::POST,
            "/api/v2/agent-versions",
            Some(&app.admin_token),
        )
        .json(&json!({"version": "v2.0.0", "minimum": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (_, list) = app.get("/api/v2/agent-versions").await;
    let minimums = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["minimum"] == true)
        .count();
    assert_eq!(
        (minimums, list["min_version"].as_str()),
        (1, Some("v2.0.0"))
    );
    let (_, a) = app.get(&format!("/api/v2/clusters/{CLUSTER}/agent")).await;
    assert_eq!(a["outdated"], false);
    assert!(
        outdated_alerts().await.is_empty(),
        "resolved once the policy moved"
    );
    let r = app
        .api(
            reqwest::Method::PATCH,
            "/api/v2/agent-versions/v2.2.0",
            Some(&app.admin_token),
        )
        .json(&json!({"notes": "faster diffs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["notes"], "faster diffs");
    for (method, path, status) in [
        (reqwest::Method::PATCH, "/api/v2/agent-versions/v9.9.9", 404),
        (
            reqwest::Method::DELETE,
            "/api/v2/agent-versions/v9.9.9",
            404,
        ),
        (
            reqwest::Method::DELETE,
            "/api/v2/agent-versions/v2.2.0",
            204,
        ),
    ] {
        let r = app
            .api(method, path, Some(&app.admin_token))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
    }

    // First contact is audited once, as the agent.
    app.state.persist.flush().await;
    app.state.audit.flush().await;
    let (_, logs) = app
        .get("/api/v2/audit/logs?action=client.register&limit=100")
        .await;
    let registered: Vec<&Value> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"] == format!("/api/v2/clusters/{CLUSTER}"))
        .collect();
    assert_eq!(registered.len(), 1, "{logs}");
    assert_eq!(registered[0]["source"], "agent");

    // The stored row survives a restart: the agent endpoint still knows the version and
    // when it was first seen, before the agent speaks again.
    let first_seen = a["first_seen"].clone();
    let app = app.restart().await;
    let (s, a) = app.get(&format!("/api/v2/clusters/{CLUSTER}/agent")).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["agent_version"], "v2.0.1");
    assert_eq!(a["first_seen"], first_seen);
}

/// Deployment `shop/web` with one pod through ReplicaSet `web-7d9f`, at `image`; with
/// `warning`, a BackOff event on the pod.
fn web_snapshot(image: &str, warning: bool, secs: i64) -> Value {
    let now = (Utc::now() + Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Millis, true);
    let events = if warning {
        json!([{"uid": "ev-1", "name": "web-7d9f-0.17a", "namespace": "shop", "type": "Warning",
            "reason": "BackOff", "message": "Back-off restarting failed container", "source": "kubelet",
            "count": 5, "first_timestamp": now, "last_timestamp": now, "created_at": now,
            "involved_object": {"kind": "Pod", "name": "web-7d9f-0", "namespace": "shop"}}])
    } else {
        json!([])
    };
    json!({
        "cluster_id": "shop-prod", "fetched_at": now,
        "namespaces": [{"summary": {"name": "shop"}}],
        "deployments": [{"summary": {"name": "web", "namespace": "shop", "replicas": 1},
            "spec": {"replicas": 1},
            "template": {"containers": [{"name": "web", "image": image}]},
            "status": {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}],
        "replicasets": [{"uid": "rs1", "name": "web-7d9f", "namespace": "shop", "kind": "ReplicaSet",
            "owner_kind": "Deployment", "owner_name": "web"}],
        "pods": [{"summary": {"name": "web-7d9f-0", "namespace": "shop",
            "ownerKind": "ReplicaSet", "ownerName": "web-7d9f", "nodeName": "n1"}}],
        "events": events,
    })
}

#[actix_web::test]
async fn an_alert_message_carries_the_recent_changes_of_its_object_and_owner() {
    let sink = crate::sinks::HttpSink::start().await;
    let app = spawn_with(|s| {
        s.alert_group_wait = std::time::Duration::from_millis(300);
    })
    .await;
    let r = app
        .api(
            reqwest::Method::PUT,
            "/api/v2/notify/channels/webhook",
            Some(&app.admin_token),
        )
        .json(&json!({"enabled": true, "config": {"url": sink.url("/hook")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let push = |snap: Value| {
        let app = &app;
        async move {
            let r = app.push_json("shop-prod", &snap).await;
            assert_eq!(r.status().as_u16(), 200);
        }
    };
    push(web_snapshot("web:1.4", false, 0)).await;
    app.state.persist.flush().await;
    // The new image and, in the same snapshot, the pod backing off.
    push(web_snapshot("web:1.5", true, 1)).await;
    let got = sink.wait_for(1, std::time::Duration::from_secs(10)).await;
    let m = got
        .iter()
        .map(|r| r.json())
        .find(|m| m["rule"] == "warning_events")
        .expect("the warning alert");
    let details = m["alerts"][0]["details"].as_array().unwrap().clone();
    let changes: Vec<&str> = details
        .iter()
        .filter(|d| d[0] == "change")
        .map(|d| d[1].as_str().unwrap())
        .collect();
    assert_eq!(changes.len(), 1, "{details:?}");
    assert!(
        changes[0].starts_with("container web: web:1.4 → web:1.5 at "),
        "{}",
        changes[0]
    );
}

/// Stores one change row of `cluster` `days_ago`.
async fn old_change(app: &TestApp, cluster: &str, days_ago: i64, change_type: &str, tier: &str) {
    use atlhyper_master::db::schema::cluster_changes as cc;
    use diesel::prelude::*;
    let (cluster, change_type, tier) =
        (cluster.to_owned(), change_type.to_owned(), tier.to_owned());
    app.state
        .db
        .write(move |c| {
            let t = atlhyper_master::db::to_db(Utc::now() - Duration::days(days_ago));
            atlhyper_master::db::clusters::register(c, &cluster, Utc::now())?;
            diesel::insert_into(cc::table)
                .values((
                    cc::cluster_id.eq(&cluster),
                    cc::time.eq(t),
                    cc::last_time.eq(t),
                    cc::kind.eq("Deployment"),
                    cc::namespace.eq("shop"),
                    cc::name.eq(format!("{change_type}-{tier}-{days_ago}")),
                    cc::change_type.eq(&change_type),
                    cc::summary.eq("s"),
                    cc::tier.eq(&tier),
                    cc::created_at.eq(t),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
}

#[actix_web::test]
async fn retention_keeps_detail_for_90_days_then_monthly_then_quarterly_snapshots() {
    let app = spawn_app().await;
    let c = "tiers";
    assert_eq!(app.heartbeat(c).await.status().as_u16(), 200);
    for (days, ct, tier) in [
        (10, "image_changed", ""),
        (100, "image_changed", ""),
        (10, "periodic_snapshot", "day"),
        (100, "periodic_snapshot", "day"),
        (100, "periodic_snapshot", "month"),
        (400, "periodic_snapshot", "month"),
        (400, "periodic_snapshot", "quarter"),
        (2000, "periodic_snapshot", "quarter"),
    ] {
        old_change(&app, c, days, ct, tier).await;
    }
    let body = json!({"targets": ["changes"], "dry_run": true});
    let (s, dry) = app.post("/api/v2/admin/cleanup", &body).await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(dry["deleted"]["changes"], 3, "{dry}");
    let (s, done) = app
        .post("/api/v2/admin/cleanup", &json!({"targets": ["changes"]}))
        .await;
    assert_eq!(
        (s, done["deleted"]["changes"].as_u64()),
        (200, Some(3)),
        "{done}"
    );
    let mut names: Vec<String> = Vec::new();
    for query in ["", "&change_type=periodic_snapshot"] {
        let (_, left) = app
            .get(&format!("/api/v2/clusters/{c}/changes?limit=100{query}"))
            .await;
        names.extend(
            left["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned()),
        );
    }
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "image_changed--10",
            "periodic_snapshot-day-10",
            "periodic_snapshot-month-100",
            "periodic_snapshot-quarter-2000",
            "periodic_snapshot-quarter-400",
        ]
    );
    // The tiers are tunable at run time.
    let r = app
        .api(
            reqwest::Method::PUT,
            "/api/v2/admin/retention",
            Some(&app.admin_token),
        )
        .json(&json!({"change_detail_days": 5, "change_snapshot_days": 50}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, done) = app
        .post("/api/v2/admin/cleanup", &json!({"targets": ["changes"]}))
        .await;
    assert_eq!(done["deleted"]["changes"], 3, "{done}");
}
