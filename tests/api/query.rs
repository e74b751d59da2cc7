//! The query DSL through the real server: the seed's examples on the real fixture, the
//! merge across clusters, persisted events, roles, errors with positions, hostile input and
//! the reply cap. Expected numbers are computed from the fixture itself.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::helpers::*;

/// `GET /api/v2/query?q=` with the admin's token.
async fn query(app: &TestApp, q: &str) -> (u16, Value) {
    query_as(app, q, &app.admin_token).await
}

async fn query_as(app: &TestApp, q: &str, token: &str) -> (u16, Value) {
    let r = app
        .api(reqwest::Method::GET, "/api/v2/query", Some(token))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn ok(app: &TestApp, q: &str) -> Value {
    let (s, body) = query(app, q).await;
    assert_eq!(s, 200, "{q}: {body}");
    body
}

fn count(v: &Value, key: &str, pred: impl Fn(&Value) -> bool) -> usize {
    v[key]
        .as_array()
        .map_or(0, |a| a.iter().filter(|x| pred(x)).count())
}

/// Pushes the medium fixture as cluster `id`.
async fn push_medium(app: &TestApp, id: &str) -> Value {
    let mut snap = fixture_json("medium-go.json.gz");
    snap["cluster_id"] = json!(id);
    let body = gzip(serde_json::to_string(&snap).unwrap().as_bytes());
    assert_eq!(app.push_gz(id, body).await.status(), 200);
    snap
}

async fn with_prod() -> (TestApp, Value) {
    let app = spawn_app().await;
    let snap = push_medium(&app, "prod").await;
    (app, snap)
}

fn ago(secs: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A snapshot with three fresh events: Warning BackOff 1 minute ago, Warning Unhealthy 8
/// minutes ago, Normal Scheduled 1 minute ago.
fn fresh_events(cluster: &str) -> Value {
    let ev = |uid: &str, ty: &str, reason: &str, secs: i64| {
        json!({"uid": uid, "name": format!("web.{uid}"), "namespace": "shop", "type": ty,
               "reason": reason, "message": "m", "count": 3, "first_timestamp": ago(secs + 60),
               "last_timestamp": ago(secs),
               "involved_object": {"kind": "Pod", "name": "web-1", "namespace": "shop"}})
    };
    json!({"cluster_id": cluster, "fetched_at": ago(0),
           "events": [ev("e1", "Warning", "BackOff", 60), ev("e2", "Warning", "Unhealthy", 480),
                      ev("e3", "Normal", "Scheduled", 60)],
           "summary": {"total_pods": 0}})
}

#[actix_web::test]
async fn the_seed_examples_work_as_written() {
    let (app, snap) = with_prod().await;
    let r = ok(
        &app,
        r#"pods(cluster="prod", namespace="default", status="Running")"#,
    )
    .await;
    let want = count(&snap, "pods", |p| {
        p["summary"]["namespace"] == "default" && p["status"]["phase"] == "Running"
    });
    assert!(want > 0);
    assert_eq!(r["kind"], "pods");
    assert_eq!(r["total"], want);
    assert_eq!(r["items"].as_array().unwrap().len(), want.min(100));
    assert_eq!(r["items"][0]["cluster_id"], "prod");
    assert_eq!(r["items"][0]["summary"]["namespace"], "default");

    let r = ok(&app, r#"nodes(cluster="prod").where(cpu_usage > 80%)"#).await;
    let hot: Vec<&str> = snap["node_metrics"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, m)| m["cpu"]["usage_percent"].as_f64().unwrap() > 80.0)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(r["total"], hot.len());
    let r = ok(&app, r#"nodes(cluster="prod").where(cpu_usage > 10%)"#).await;
    let warm = snap["node_metrics"]
        .as_object()
        .unwrap()
        .values()
        .filter(|m| m["cpu"]["usage_percent"].as_f64().unwrap() > 10.0)
        .count();
    assert!(warm > 0);
    assert_eq!(r["total"], warm);

    let r = ok(&app, r#"deployments(cluster="prod").count()"#).await;
    assert_eq!(
        r,
        json!({"kind": "deployments", "clusters": 1, "count": 50})
    );

    // The fixture's events are months old: none in the last 5 minutes.
    let r = ok(&app, r#"events(cluster="prod", last="5m", type="Warning")"#).await;
    assert_eq!(r["total"], 0);
    assert_eq!(
        app.push_json("fresh", &fresh_events("fresh"))
            .await
            .status(),
        200
    );
    let r = ok(
        &app,
        r#"events(cluster="fresh", last="5m", type="Warning")"#,
    )
    .await;
    assert_eq!(r["total"], 1);
    assert_eq!(r["items"][0]["reason"], "BackOff");
    let r = ok(
        &app,
        r#"events(cluster="fresh", last="10m", type="warning").group_by(reason)"#,
    )
    .await;
    assert_eq!(
        r["groups"],
        json!([{"value": "BackOff", "count": 1}, {"value": "Unhealthy", "count": 1}])
    );
}

#[actix_web::test]
async fn several_clusters_fan_out_and_merge() {
    let (app, snap) = with_prod().await;
    push_medium(&app, "stage").await;
    let pods = snap["pods"].as_array().unwrap().len();
    let r = ok(&app, r#"pods(cluster="*").count()"#).await;
    assert_eq!(r["count"], 2 * pods);
    assert_eq!(r["clusters"], 2);
    let r = ok(&app, r#"pods(cluster=["stage", "prod"]).count()"#).await;
    assert_eq!(r["count"], 2 * pods);
    let r = ok(&app, r#"pods(cluster="prod,stage").group_by(cluster_id)"#).await;
    assert_eq!(
        r["groups"],
        json!([{"value": "prod", "count": pods}, {"value": "stage", "count": pods}])
    );
    // Sorted across clusters: the top restarts of both, each item tagged.
    let r = ok(
        &app,
        r#"pods(cluster="*").sort(restarts desc).limit(4).fields(summary.name, restarts)"#,
    )
    .await;
    let mut restarts: Vec<i64> = snap["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"]["restarts"].as_i64().unwrap())
        .collect();
    restarts.sort_unstable_by(|a, b| b.cmp(a));
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let got: Vec<i64> = items
        .iter()
        .map(|i| i["restarts"].as_f64().unwrap() as i64)
        .collect();
    assert_eq!(got, [restarts[0], restarts[0], restarts[1], restarts[1]]);
    assert_eq!(items[0]["cluster_id"], "prod");
    assert_eq!(items[1]["cluster_id"], "stage");
    assert_eq!(r["total"], 2 * pods);

    // Several clusters and none named: refused, with the argument to add.
    let (s, body) = query(&app, "pods().count()").await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["code"], "query_invalid");
    assert_eq!(body["hint"], "cluster");
    let (s, body) = query(&app, r#"pods(cluster="nope").count()"#).await;
    assert_eq!((s, body["code"].as_str()), (404, Some("cluster_not_found")));
}

#[actix_web::test]
async fn persisted_events_with_history() {
    let app = spawn_app().await;
    assert_eq!(
        app.push_json("fresh", &fresh_events("fresh"))
            .await
            .status(),
        200
    );
    app.state.persist.flush().await;
    let r = ok(
        &app,
        r#"events(history=true, type="Warning").where(involved_name = "web-1").sort(reason)"#,
    )
    .await;
    assert_eq!(r["total"], 2);
    assert_eq!(r["items"][0]["reason"], "BackOff");
    assert_eq!(r["items"][0]["cluster_id"], "fresh");
    assert_eq!(r["items"][0]["count"], 3);
    assert_eq!(
        (r["scanned"].as_u64(), r["truncated"].as_bool()),
        (Some(2), Some(false))
    );
    let r = ok(&app, r#"events(history=true, last="5m").count()"#).await;
    assert_eq!(r["count"], 2);
    // The type matches whatever its case, as live.
    let r = ok(&app, r#"events(history=true, type="warning").count()"#).await;
    assert_eq!(r["count"], 2);
    let (s, body) = query(
        &app,
        r#"events(history=true).where(involved_object.kind = "Pod")"#,
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("query_invalid")),
        "{body}"
    );
    assert!(
        body["hint"].as_str().unwrap().starts_with("involved_"),
        "{body}"
    );
}

#[actix_web::test]
async fn secrets_need_an_operator() {
    let (app, snap) = with_prod().await;
    let viewer = app.token_for("vera", "viewer").await;
    let operator = app.token_for("otto", "operator").await;
    let (s, body) = query_as(&app, "secrets().count()", &viewer).await;
    assert_eq!((s, body["code"].as_str()), (403, Some("forbidden")));
    let (s, body) = query_as(&app, "secrets().count()", &operator).await;
    assert_eq!(s, 200);
    assert_eq!(body["count"], snap["secrets"].as_array().unwrap().len());
    let (s, _) = query_as(&app, "pods().count()", &viewer).await;
    assert_eq!(s, 200);
    let r = app
        .api(reqwest::Method::GET, "/api/v2/query?q=pods()", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[actix_web::test]
async fn errors_carry_a_position_and_a_hint() {
    let (app, _) = with_prod().await;
    let (s, body) = query(&app, "pods().where(restarts >)").await;
    assert_eq!(s, 400);
    assert_eq!(body["code"], "query_syntax");
    assert_eq!(body["position"], 23);
    assert!(
        body["error"].as_str().unwrap().contains("expected a value"),
        "{body}"
    );
    let (s, body) = query(&app, r#"pods().where(status.phse = "Running")"#).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("query_invalid")));
    assert_eq!(body["hint"], "phase");
    assert_eq!(body["position"], 13);
    let (s, body) = query(&app, "pdos()").await;
    assert_eq!((s, body["hint"].as_str()), (400, Some("pods")));
    let (s, body) = query(&app, r#"pods(namspace="x")"#).await;
    assert_eq!((s, body["hint"].as_str()), (400, Some("namespace")));
    let (s, body) = query(&app, "  ").await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_parameter")));
    // POST takes the same text in a body.
    let (s, body) = app
        .post(
            "/api/v2/query",
            &json!({"q": "deployments(cluster=\"prod\").count()"}),
        )
        .await;
    assert_eq!((s, body["count"].as_u64()), (200, Some(50)));
    let (s, body) = app.post("/api/v2/query", &json!({"query": "x"})).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("invalid_json")));
    // A query by POST is a read: it is not in the audit log (a refused one would be).
    let viewer = app.token_for("vic", "viewer").await;
    let r = app
        .api(reqwest::Method::POST, "/api/v2/query", Some(&viewer))
        .json(&json!({"q": "secrets().count()"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.state.audit.flush().await;
    let (_, logs) = app.get("/api/v2/audit/logs?limit=1000").await;
    let on_query: Vec<&Value> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l.to_string().contains("/api/v2/query"))
        .collect();
    assert_eq!(on_query.len(), 1, "{on_query:?}");
    assert_eq!(on_query[0]["action"], "read");
    assert_eq!(on_query[0]["status_code"], 403, "{on_query:?}");
}

#[actix_web::test]
async fn hostile_queries_are_refused_fast() {
    let (app, _) = with_prod().await;
    let started = Instant::now();
    // 100 kB of text, by POST and by GET.
    let long = format!(r#"pods().where(summary.name = "{}")"#, "x".repeat(100_000));
    let (s, body) = app.post("/api/v2/query", &json!({ "q": long })).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("query_syntax")));
    assert_eq!(body["position"], 16384);
    // By GET, as long as a client can send a URL (the `http` crate stops at 64 kB).
    let long = format!(r#"pods().where(summary.name = "{}")"#, "x".repeat(60_000));
    let (s, body) = query(&app, &long).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("query_syntax")));
    // 10,000 nested parentheses (within the length cap: 5,000 deep, and 10,000 by POST).
    let deep = format!(
        "pods().where({}a=1{})",
        "(".repeat(5_000),
        ")".repeat(5_000)
    );
    let (s, body) = query(&app, &deep).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("query_syntax")),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains("nest deeper"));
    let deeper = format!(
        "pods().where({}a=1{})",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let (s, body) = app.post("/api/v2/query", &json!({ "q": deeper })).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("query_syntax")));
    // A regex that is catastrophic for a backtracking engine runs in linear time here.
    let (s, _) = query(
        &app,
        r#"pods(cluster="prod").where(summary.name =~ "^(a+)+$" or summary.name =~ "(x+x+)+y")"#,
    )
    .await;
    assert_eq!(s, 200);
    let (s, body) = query(&app, r#"pods().where(summary.name =~ "a{1000}{1000}")"#).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("query_invalid")));
    let (s, _) = query(&app, "pods(\u{0}").await;
    assert_eq!(s, 400);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn the_reply_is_capped() {
    let app = spawn_app().await;
    // 100 pods with a 100 kB annotation each: 10 MB of items.
    let big = "x".repeat(100_000);
    let pods: Vec<Value> = (0..100)
        .map(|i| {
            json!({"summary": {"name": format!("p{i}"), "namespace": "ns"},
                   "status": {"phase": "Running"}, "annotations": {"big": big}})
        })
        .collect();
    let snap = json!({"cluster_id": "big", "fetched_at": ago(0), "pods": pods,
                      "summary": {"total_pods": 100}});
    let status = app
        .push_gz(
            "big",
            gzip(serde_json::to_string(&snap).unwrap().as_bytes()),
        )
        .await
        .status();
    assert_eq!(status, 200);
    let (s, body) = query(&app, "pods().limit(1000)").await;
    assert_eq!(
        (s, body["code"].as_str()),
        (413, Some("query_too_large")),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains(".fields()"));
    let r = ok(&app, "pods().limit(1000).fields(summary.name)").await;
    assert_eq!(r["items"].as_array().unwrap().len(), 100);
    let r = ok(&app, "pods().limit(50)").await;
    assert_eq!(r["items"].as_array().unwrap().len(), 50);
}
