//! Persisted events: upsert by uid with the agent's counts, the filters, the `related`
//! scenarios of seed 000 §9.2.7, and the "write only what changed" memory across a restart.

use diesel::prelude::*;
use serde_json::{json, Value};

use atlhyper_master::db::schema::cluster_events as ce;

use crate::helpers::*;

#[expect(clippy::too_many_arguments, reason = "one event, field by field")]
fn ev(
    uid: &str,
    ty: &str,
    reason: &str,
    kind: &str,
    ns: &str,
    name: &str,
    count: i32,
    last: &str,
) -> Value {
    json!({"uid": uid, "name": format!("{name}.{uid}"), "namespace": ns, "kind": "Event",
        "created_at": "2026-03-01T00:00:00Z", "type": ty, "reason": reason, "message": format!("{reason} on {name}"),
        "source": "kubelet",
        "involved_object": {"kind": kind, "namespace": ns, "name": name},
        "count": count, "first_timestamp": "2026-03-01T00:00:00Z", "last_timestamp": last})
}

/// A snapshot with a Deployment `web`, its ReplicaSet `web-abc`, Pod `web-abc-1`, a Node
/// `node-1`, events on each of them and an unrelated Pod event.
fn snapshot(cluster: &str, fetched_at: &str, events: Vec<Value>) -> Value {
    json!({
        "cluster_id": cluster, "fetched_at": fetched_at,
        "deployments": [{"summary": {"name": "web", "namespace": "shop"}}],
        "replicasets": [
            {"uid": "rs1", "name": "web-abc", "namespace": "shop", "kind": "ReplicaSet",
             "owner_kind": "Deployment", "owner_name": "web"},
            {"uid": "rs2", "name": "api-xyz", "namespace": "shop", "kind": "ReplicaSet",
             "owner_kind": "Deployment", "owner_name": "api"}
        ],
        "pods": [
            {"summary": {"name": "web-abc-1", "namespace": "shop", "ownerKind": "ReplicaSet", "ownerName": "web-abc", "nodeName": "node-1"}},
            {"summary": {"name": "api-xyz-1", "namespace": "shop", "ownerKind": "ReplicaSet", "ownerName": "api-xyz", "nodeName": "node-1"}}
        ],
        "nodes": [{"summary": {"name": "node-1"}}],
        "events": events,
        "summary": {"total_pods": 2}
    })
}

fn base_events() -> Vec<Value> {
    vec![
        ev(
            "e-dep",
            "Normal",
            "ScalingReplicaSet",
            "Deployment",
            "shop",
            "web",
            1,
            "2026-03-01T00:01:00Z",
        ),
        ev(
            "e-rs",
            "Normal",
            "SuccessfulCreate",
            "ReplicaSet",
            "shop",
            "web-abc",
            1,
            "2026-03-01T00:02:00Z",
        ),
        ev(
            "e-pod",
            "Warning",
            "BackOff",
            "Pod",
            "shop",
            "web-abc-1",
            7,
            "2026-03-01T00:03:00Z",
        ),
        ev(
            "e-other",
            "Warning",
            "Failed",
            "Pod",
            "shop",
            "api-xyz-1",
            2,
            "2026-03-01T00:04:00Z",
        ),
        ev(
            "e-node",
            "Warning",
            "NodeNotReady",
            "Node",
            "",
            "node-1",
            3,
            "2026-03-01T00:05:00Z",
        ),
    ]
}

fn at(i: u32) -> String {
    format!("2026-03-01T01:{:02}:{:02}Z", i / 60, i % 60)
}

async fn push(app: &TestApp, cluster: &str, i: u32, events: Vec<Value>) {
    let r = app
        .push_json(cluster, &snapshot(cluster, &at(i), events))
        .await;
    assert_eq!(r.status(), 200);
    app.state.persist.events.flush().await;
}

async fn list(app: &TestApp, cluster: &str, query: &str) -> Value {
    let (s, body) = app
        .get(&format!("/api/v2/clusters/{cluster}/events{query}"))
        .await;
    assert_eq!(s, 200, "{query}: {body}");
    body
}

fn uids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_uid"].as_str().unwrap().to_owned())
        .collect()
}

fn count_of(body: &Value, uid: &str) -> i64 {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_uid"] == uid)
        .unwrap()["count"]
        .as_i64()
        .unwrap()
}

/// `(uid, count, updated_at)` of every stored row of `cluster`.
async fn rows(app: &TestApp, cluster: &str) -> Vec<(String, i32, chrono::NaiveDateTime)> {
    let cluster = cluster.to_owned();
    app.state
        .db
        .read(move |c| {
            Ok(ce::table
                .filter(ce::cluster_id.eq(cluster))
                .select((ce::event_uid, ce::count, ce::updated_at))
                .order(ce::event_uid)
                .load(c)?)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn same_snapshot_pushed_ten_times_keeps_agent_count() {
    let app = spawn_app().await;
    for i in 0..10 {
        push(&app, "ev-idem", i, base_events()).await;
    }
    let body = list(&app, "ev-idem", "").await;
    assert_eq!(body["total"], 5);
    assert_eq!(count_of(&body, "e-pod"), 7, "never summed across pushes");
    assert_eq!(count_of(&body, "e-node"), 3);
    let item = &body["items"][0];
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cluster_id",
            "count",
            "event_uid",
            "first_timestamp",
            "involved_kind",
            "involved_name",
            "involved_namespace",
            "involved_uid",
            "last_timestamp",
            "message",
            "name",
            "namespace",
            "reason",
            "source_component",
            "source_host",
            "type"
        ]
    );
    // Newest last_timestamp first.
    assert_eq!(uids(&body), ["e-node", "e-other", "e-pod", "e-rs", "e-dep"]);
    assert_eq!(item["last_timestamp"], "2026-03-01T00:05:00Z");
    assert_eq!(item["first_timestamp"], "2026-03-01T00:00:00Z");
    assert_eq!(item["source_component"], "kubelet");
    assert_eq!(body["items"][2]["type"], "Warning");
}

#[actix_web::test]
async fn changed_count_is_updated_and_first_timestamp_kept() {
    let app = spawn_app().await;
    push(&app, "ev-upd", 0, base_events()).await;
    let mut evs = base_events();
    evs[2] = ev(
        "e-pod",
        "Warning",
        "BackOff",
        "Pod",
        "shop",
        "web-abc-1",
        12,
        "2026-03-01T00:30:00Z",
    );
    evs[2]["first_timestamp"] = json!("2026-03-01T00:20:00Z");
    push(&app, "ev-upd", 1, evs).await;
    let body = list(&app, "ev-upd", "").await;
    assert_eq!(count_of(&body, "e-pod"), 12);
    let pod = &body["items"][0];
    assert_eq!(pod["event_uid"], "e-pod");
    assert_eq!(pod["last_timestamp"], "2026-03-01T00:30:00Z");
    assert_eq!(pod["first_timestamp"], "2026-03-01T00:00:00Z");
    assert_eq!(body["total"], 5);
}

#[actix_web::test]
async fn zero_go_times_and_missing_uids() {
    let app = spawn_app().await;
    let mut z = ev(
        "e-zero",
        "Normal",
        "Pulled",
        "Pod",
        "shop",
        "web-abc-1",
        0,
        "0001-01-01T00:00:00Z",
    );
    z["first_timestamp"] = json!("0001-01-01T00:00:00Z");
    z["created_at"] = json!("2026-03-01T09:00:00+09:00");
    let no_uid = ev(
        "",
        "Normal",
        "Pulled",
        "Pod",
        "shop",
        "web-abc-1",
        1,
        "2026-03-01T00:00:00Z",
    );
    push(&app, "ev-zero", 0, vec![z, no_uid]).await;
    let body = list(&app, "ev-zero", "").await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["last_timestamp"], "2026-03-01T00:00:00Z");
    assert_eq!(body["items"][0]["first_timestamp"], Value::Null);
}

#[actix_web::test]
async fn each_filter() {
    let app = spawn_app().await;
    push(&app, "ev-f", 0, base_events()).await;
    let cases: &[(&str, &[&str])] = &[
        ("?type=Warning", &["e-node", "e-other", "e-pod"]),
        ("?reason=BackOff", &["e-pod"]),
        ("?kind=ReplicaSet", &["e-rs"]),
        ("?namespace=shop", &["e-other", "e-pod", "e-rs", "e-dep"]),
        ("?name=web-abc-1", &["e-pod"]),
        ("?node=node-1", &["e-node"]),
        (
            "?since=2026-03-01T00:03:00Z",
            &["e-node", "e-other", "e-pod"],
        ),
        ("?until=2026-03-01T00:02:00Z", &["e-rs", "e-dep"]),
        (
            "?since=2026-03-01T00:02:00Z&until=2026-03-01T00:04:00%2B00:00&type=Warning",
            &["e-other", "e-pod"],
        ),
        (
            "?type=Warning&kind=Pod&namespace=shop",
            &["e-other", "e-pod"],
        ),
    ];
    for (q, want) in cases {
        let body = list(&app, "ev-f", q).await;
        assert_eq!(uids(&body), *want, "{q}");
        assert_eq!(body["total"], want.len(), "{q}");
    }
}

#[actix_web::test]
async fn limit_offset_and_bad_parameters() {
    let app = spawn_app().await;
    push(&app, "ev-p", 0, base_events()).await;
    let body = list(&app, "ev-p", "?limit=2&offset=1").await;
    assert_eq!(uids(&body), ["e-other", "e-pod"]);
    assert_eq!(
        (
            body["total"].as_u64(),
            body["limit"].as_u64(),
            body["offset"].as_u64()
        ),
        (Some(5), Some(2), Some(1))
    );
    for q in [
        "?since=yesterday",
        "?until=2026-13-01",
        "?limit=0",
        "?limit=x",
        "?offset=-1",
    ] {
        let (s, body) = app.get(&format!("/api/v2/clusters/ev-p/events{q}")).await;
        assert_eq!(s, 400, "{q}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{q}");
    }
    let (s, body) = app
        .get("/api/v2/clusters/ev-p/events/related?kind=Pod")
        .await;
    assert_eq!(s, 400, "{body}");
}

#[actix_web::test]
async fn unknown_cluster_is_404() {
    let app = spawn_app().await;
    let (s, body) = app.get("/api/v2/clusters/nope/events").await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["code"], "cluster_not_found");
    let (s, _) = app
        .get("/api/v2/clusters/nope/events/related?kind=Pod&namespace=a&name=b")
        .await;
    assert_eq!(s, 404);
}

#[actix_web::test]
async fn related_deployment_follows_replicasets_and_pods() {
    let app = spawn_app().await;
    push(&app, "ev-rel", 0, base_events()).await;
    let (s, body) = app
        .get("/api/v2/clusters/ev-rel/events/related?kind=Deployment&namespace=shop&name=web")
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        uids(&body),
        ["e-pod", "e-rs", "e-dep"],
        "not the api-xyz pod's event"
    );
    let (_, body) = app
        .get("/api/v2/clusters/ev-rel/events/related?kind=Pod&namespace=shop&name=api-xyz-1")
        .await;
    assert_eq!(uids(&body), ["e-other"]);
    let (_, body) = app
        .get("/api/v2/clusters/ev-rel/events/related?kind=Deployment&namespace=other&name=web")
        .await;
    assert_eq!(body["total"], 0);
}

#[actix_web::test]
async fn related_node_includes_node_events() {
    let app = spawn_app().await;
    push(&app, "ev-node", 0, base_events()).await;
    let (s, body) = app
        .get("/api/v2/clusters/ev-node/events/related?kind=Node&name=node-1")
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(uids(&body), ["e-node"]);
}

#[actix_web::test]
async fn warning_events_keep_a_copy_of_their_object() {
    use atlhyper_master::db::schema::event_resource_snapshot as ers;
    let app = spawn_app().await;
    push(&app, "ev-copy", 0, base_events()).await;
    push(&app, "ev-copy", 1, base_events()).await;
    let copies: Vec<(String, String)> = app
        .state
        .db
        .read(|c| {
            Ok(ers::table
                .select((ers::resource_kind, ers::resource_name))
                .order(ers::resource_name)
                .load(c)?)
        })
        .await
        .unwrap();
    let want = [
        ("Pod", "api-xyz-1"),
        ("Node", "node-1"),
        ("Pod", "web-abc-1"),
    ];
    let got: Vec<(&str, &str)> = copies
        .iter()
        .map(|(k, n)| (k.as_str(), n.as_str()))
        .collect();
    assert_eq!(got, want);
}

#[actix_web::test]
async fn restart_keeps_writing_only_what_changed() {
    let app = spawn_app().await;
    push(&app, "ev-rs", 0, base_events()).await;
    let before = rows(&app, "ev-rs").await;
    assert_eq!(before.len(), 5);

    let app = app.restart().await;
    // The same events again: nothing is rewritten (updated_at unchanged).
    push(&app, "ev-rs", 1, base_events()).await;
    assert_eq!(rows(&app, "ev-rs").await, before);

    // One changed count: only that row is written, with the agent's value.
    let mut evs = base_events();
    evs[0]["count"] = json!(4);
    push(&app, "ev-rs", 2, evs).await;
    let after = rows(&app, "ev-rs").await;
    assert_eq!(after.len(), 5, "no duplicate rows");
    for (b, a) in before.iter().zip(&after) {
        if a.0 == "e-dep" {
            assert_eq!(a.1, 4);
            assert!(a.2 > b.2, "changed row rewritten");
        } else {
            assert_eq!(a, b, "unchanged row left alone");
        }
    }
}
