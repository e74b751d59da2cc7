//! The five agent endpoints: v2.1 reply shapes, Go quirks, authentication, bounded and
//! malformed input, ordering and isolation.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Treats `null`, `[]`, `{}` and an absent key as the same, and compares numbers as f64.
fn same_json(a: &Value, b: &Value) -> bool {
    fn empty(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().all(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => same_json(p, q),
                (Some(p), None) | (None, Some(p)) => empty(p),
                (None, None) => true,
            })
        }
        _ if empty(a) && empty(b) => true,
        _ => a == b,
    }
}

#[actix_web::test]
async fn snapshot_is_acknowledged_with_the_v21_body_and_shows_up_everywhere() {
    let app = spawn_app().await;
    let r = app.push_gz("demo-small", fixture("small.json.gz")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));

    let (s, list) = app.get("/api/v2/clusters").await;
    assert_eq!(s, 200);
    assert_eq!(list["total"], 1);
    let c = &list["items"][0];
    assert_eq!(c["cluster_id"], "demo-small");
    assert_eq!(c["status"], "online");
    assert_eq!(c["summary"]["total_pods"], 50);
    assert!(c["last_snapshot_at"].is_string() && c["fetched_at"].is_string());

    let (s, pods) = app.get("/api/v2/clusters/demo-small/resources/pods").await;
    assert_eq!(s, 200);
    assert_eq!(pods["total"], 50);
    assert_eq!(pods["limit"], 100);
    assert_eq!(pods["offset"], 0);
}

#[actix_web::test]
async fn go_quirk_snapshot_is_accepted_and_served_back_as_received() {
    let app = spawn_app().await;
    assert_eq!(
        app.push_gz("demo-medium", fixture("medium-go.json.gz"))
            .await
            .status(),
        200
    );
    let r = app
        .client
        .get(format!("{}/api/v2/clusters/demo-medium/snapshot", app.http))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let served: Value = r.json().await.unwrap();
    let original = fixture_json("medium-go.json.gz");
    assert!(
        same_json(&served, &original),
        "served snapshot differs from the pushed one"
    );
    // Go's nanosecond, +09:00 time and its zero time come back byte for byte.
    assert_eq!(served["fetched_at"], original["fetched_at"]);
    assert_eq!(served["fetched_at"], "2026-02-04T13:31:23.608382836+09:00");
    assert!(served["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["first_timestamp"] == "0001-01-01T00:00:00Z"));

    let again = app
        .client
        .get(format!("{}/api/v2/clusters/demo-medium/snapshot", app.http))
        .bearer_auth(&app.admin_token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

#[actix_web::test]
async fn plain_and_identity_json_snapshots_are_accepted() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&tiny_snapshot("plain", "2026-02-04T13:31:23Z")).unwrap();
    for enc in [None, Some("identity"), Some("IDENTITY")] {
        let mut req = app
            .agent_req(Method::POST, "/agent/snapshot", "plain")
            .body(body.clone());
        if let Some(e) = enc {
            req = req.header("Content-Encoding", e);
        }
        assert_eq!(req.send().await.unwrap().status(), 200, "encoding {enc:?}");
    }
    let gz = app
        .agent_req(Method::POST, "/agent/snapshot", "plain")
        .header("Content-Encoding", "GZIP")
        .body(gzip(&body))
        .send()
        .await
        .unwrap();
    assert_eq!(gz.status(), 200, "Content-Encoding is case-insensitive");
}

async fn expect_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    body
}

#[actix_web::test]
async fn malformed_snapshots_get_clear_json_errors() {
    let app = spawn_with(|s| {
        s.agent_max_body = 64 * 1024;
        s.agent_max_snapshot = 1024 * 1024;
    })
    .await;
    let post = |enc: &'static str, body: Vec<u8>| {
        app.agent_req(Method::POST, "/agent/snapshot", "c1")
            .header("Content-Encoding", enc)
            .body(body)
            .send()
    };
    expect_error(
        post("br", b"{}".to_vec()).await.unwrap(),
        415,
        "unsupported_encoding",
    )
    .await;
    expect_error(
        post("gzip", b"definitely not gzip".to_vec()).await.unwrap(),
        400,
        "invalid_gzip",
    )
    .await;
    let bad = expect_error(
        post("gzip", gzip(b"{\n  \"cluster_id\": \"c1\",\n  oops\n}"))
            .await
            .unwrap(),
        400,
        "invalid_json",
    )
    .await;
    assert!(bad["error"].as_str().unwrap().contains("line 3"), "{bad}");
    expect_error(
        post("gzip", gzip(br#"{"pods": "nope", "cluster_id": "c1"}"#))
            .await
            .unwrap(),
        400,
        "invalid_json",
    )
    .await;
    // Over the compressed cap, with and without a Content-Length.
    expect_error(
        post("identity", vec![b' '; 65 * 1024]).await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    let chunks =
        futures_util::stream::iter((0..80).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let streamed = app
        .agent_req(Method::POST, "/agent/snapshot", "c1")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    expect_error(streamed, 413, "payload_too_large").await;
    // Small on the wire, over the decompressed cap.
    expect_error(
        post("gzip", gzip(&vec![b' '; 2 * 1024 * 1024]))
            .await
            .unwrap(),
        413,
        "payload_too_large",
    )
    .await;

    // Cluster id: missing everywhere, or two different ones.
    let anon = app
        .client
        .post(format!("{}/agent/snapshot", app.agent))
        .bearer_auth(AGENT_TOKEN)
        .body(serde_json::to_vec(&json!({"pods": []})).unwrap())
        .send()
        .await
        .unwrap();
    expect_error(anon, 400, "missing_cluster_id").await;
    let mismatch = app
        .push_json("c1", &tiny_snapshot("c2", "2026-02-04T13:31:23Z"))
        .await;
    expect_error(mismatch, 400, "cluster_id_mismatch").await;
    // None of it created a cluster.
    assert_eq!(app.get("/api/v2/clusters").await.1["total"], 0);
}

#[actix_web::test]
async fn missing_keys_take_the_zero_value_and_body_cluster_id_suffices() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(format!("{}/agent/snapshot", app.agent))
        .bearer_auth(AGENT_TOKEN)
        .json(&json!({"cluster_id": "body-only", "brand_new_field": {"x": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, pods) = app.get("/api/v2/clusters/body-only/resources/pods").await;
    assert_eq!((s, pods["total"].clone()), (200, json!(0)));
}

#[actix_web::test]
async fn agent_requests_need_a_valid_token_unless_auth_is_open() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&tiny_snapshot("c1", "2026-02-04T13:31:23Z")).unwrap();
    let none = app
        .client
        .post(format!("{}/agent/snapshot", app.agent))
        .header("X-Cluster-ID", "c1")
        .body(body.clone())
        .send();
    expect_error(none.await.unwrap(), 401, "unauthorized").await;
    let wrong = app
        .client
        .post(format!("{}/agent/heartbeat", app.agent))
        .bearer_auth("not-the-token")
        .header("X-Cluster-ID", "c1")
        .send();
    expect_error(wrong.await.unwrap(), 401, "unauthorized").await;
    let poll = app
        .client
        .get(format!("{}/agent/commands?cluster_id=c1", app.agent))
        .send();
    expect_error(poll.await.unwrap(), 401, "unauthorized").await;
    assert_eq!(
        app.get("/api/v2/clusters").await.1["total"],
        0,
        "a refused request registers nothing"
    );

    let open = spawn_with(|s| s.agent_auth = atlhyper_master::config::AgentAuthMode::Open).await;
    let r = open
        .client
        .post(format!("{}/agent/snapshot", open.agent))
        .header("X-Cluster-ID", "c1")
        .body(body)
        .send();
    assert_eq!(r.await.unwrap().status(), 200);
}

#[actix_web::test]
async fn heartbeat_replies_ok_and_records_agent_metadata() {
    let app = spawn_app().await;
    let r = app.heartbeat("hb").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let with_meta = app
        .agent_req(Method::POST, "/agent/heartbeat", "hb")
        .json(&json!({"agent_version": "v2.1.0", "hostname": "node-a", "ip": "10.0.0.5"}))
        .send()
        .await
        .unwrap();
    assert_eq!(with_meta.status(), 200);
    let (_, c) = app.get("/api/v2/clusters/hb").await;
    assert_eq!(c["agent_version"], "v2.1.0");
    assert_eq!(c["status"], "online");
    let no_id = app
        .client
        .post(format!("{}/agent/heartbeat", app.agent))
        .bearer_auth(AGENT_TOKEN)
        .send();
    expect_error(no_id.await.unwrap(), 400, "missing_cluster_id").await;
    let bad = app
        .agent_req(Method::POST, "/agent/heartbeat", "hb")
        .body("{not json")
        .send();
    expect_error(bad.await.unwrap(), 400, "invalid_json").await;
}

#[actix_web::test]
async fn slo_push_is_accepted_with_202_and_an_empty_body() {
    let app = spawn_app().await;
    for (enc, body) in [
        (None, fixture("slo-1.json")),
        (Some("gzip"), gzip(&fixture("slo-2.json"))),
    ] {
        let mut req = app
            .client
            .post(format!("{}/agent/slo", app.agent))
            .bearer_auth(AGENT_TOKEN)
            .header("X-Cluster-ID", "demo-small")
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(e) = enc {
            req = req.header("Content-Encoding", e);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 202);
        assert!(r.bytes().await.unwrap().is_empty());
    }
    assert_eq!(
        app.get("/api/v2/clusters/demo-small").await.1["status"],
        "online",
        "an SLO push is a sign of life"
    );
    let bad = app
        .agent_req(Method::POST, "/agent/slo", "demo-small")
        .body("[]")
        .send();
    expect_error(bad.await.unwrap(), 400, "invalid_json").await;
}

#[actix_web::test]
async fn an_older_snapshot_never_replaces_newer_state() {
    let app = spawn_app().await;
    let newer = tiny_snapshot("ord", "2026-02-04T13:31:23.5+09:00");
    let mut older = tiny_snapshot("ord", "2026-02-04T04:31:20Z");
    older["summary"]["total_pods"] = json!(99);
    assert_eq!(app.push_json("ord", &newer).await.status(), 200);
    let (_, before) = app.get("/api/v2/clusters/ord/status").await;
    assert_eq!(
        app.push_json("ord", &older).await.status(),
        200,
        "a stale push is still acknowledged"
    );
    let (_, after) = app.get("/api/v2/clusters/ord/status").await;
    assert_eq!(after["fetched_at"], "2026-02-04T04:31:23.500Z");
    assert_eq!(after["summary"]["total_pods"], 0);
    assert_eq!(after["recent_snapshots"].as_array().unwrap().len(), 1);
    assert!(
        after["last_seen"].as_str().unwrap() > before["last_seen"].as_str().unwrap(),
        "but it is a sign of life"
    );
}

#[actix_web::test]
async fn bad_input_for_one_cluster_never_disturbs_another() {
    let app = spawn_app().await;
    assert_eq!(
        app.push_gz("demo-small", fixture("small.json.gz"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.push_gz("demo-medium", fixture("medium-go.json.gz"))
            .await
            .status(),
        200
    );
    let garbage = async {
        for _ in 0..20 {
            let r = app
                .push_gz(
                    "demo-small",
                    gzip(b"{\"cluster_id\": \"demo-small\", \"pods\": [{]}"),
                )
                .await;
            assert_eq!(r.status(), 400);
        }
    };
    let good = async {
        for _ in 0..5 {
            assert_eq!(
                app.push_gz("demo-medium", fixture("medium-go.json.gz"))
                    .await
                    .status(),
                200
            );
        }
    };
    futures_util::join!(garbage, good);
    let (_, small) = app
        .get("/api/v2/clusters/demo-small/resources/pods?limit=1")
        .await;
    assert_eq!(
        small["total"], 50,
        "the bad pushes did not replace the stored snapshot"
    );
    let (_, medium) = app
        .get("/api/v2/clusters/demo-medium/resources/pods?limit=1")
        .await;
    assert_eq!(medium["total"], 500);
}

#[actix_web::test]
async fn recent_snapshot_records_are_bounded_by_retention() {
    let app = spawn_with(|s| s.snapshot_retention = 3).await;
    for sec in 10..16 {
        let r = app
            .push_json(
                "ret",
                &tiny_snapshot("ret", &format!("2026-02-04T04:31:{sec}Z")),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let (_, st) = app.get("/api/v2/clusters/ret/status").await;
    let recent = st["recent_snapshots"].as_array().unwrap();
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[2]["fetched_at"], "2026-02-04T04:31:15Z");
    assert_eq!(recent[0]["fetched_at"], "2026-02-04T04:31:13Z");
}

#[actix_web::test]
async fn unknown_paths_and_wrong_methods_get_json_errors_on_both_ports() {
    let app = spawn_app().await;
    for base in [&app.http, &app.agent] {
        let r = app
            .client
            .get(format!("{base}/no/such/path"))
            .send()
            .await
            .unwrap();
        expect_error(r, 404, "unknown_path").await;
    }
    let r = app
        .client
        .get(format!("{}/agent/snapshot", app.agent))
        .send()
        .await
        .unwrap();
    expect_error(r, 405, "method_not_allowed").await;
    let r = app
        .client
        .delete(format!("{}/api/v2/clusters", app.http))
        .send()
        .await
        .unwrap();
    expect_error(r, 405, "method_not_allowed").await;
    let (s, h) = app.get("/health").await;
    assert_eq!((s, h), (200, json!({"status": "ok"})));
    let (s, ready) = app.get("/ready").await;
    assert_eq!(s, 200, "{ready}");
    assert_eq!(ready["checks"]["database"], "ok");
}
