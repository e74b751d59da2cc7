//! Resource lists and objects from the latest snapshot, with the filters of spec/api.md.
//! Expected counts are computed from the fixture itself.

use serde_json::Value;

use crate::helpers::*;

async fn medium() -> (TestApp, Value) {
    let app = spawn_app().await;
    assert_eq!(
        app.push_gz("demo-medium", fixture("medium-go.json.gz"))
            .await
            .status(),
        200
    );
    (app, fixture_json("medium-go.json.gz"))
}

fn count(v: &Value, key: &str, pred: impl Fn(&Value) -> bool) -> usize {
    v[key]
        .as_array()
        .map_or(0, |a| a.iter().filter(|x| pred(x)).count())
}

async fn total(app: &TestApp, query: &str) -> u64 {
    let (s, body) = app
        .get(&format!("/api/v2/clusters/demo-medium/resources/{query}"))
        .await;
    assert_eq!(s, 200, "{query}: {body}");
    body["total"].as_u64().unwrap()
}

#[actix_web::test]
async fn filters_namespace_name_label_phase_node() {
    let (app, snap) = medium().await;
    let ns = snap["pods"][0]["summary"]["namespace"]
        .as_str()
        .unwrap()
        .to_owned();
    let want = count(&snap, "pods", |p| p["summary"]["namespace"] == ns.as_str());
    assert_eq!(
        total(&app, &format!("pods?namespace={ns}")).await as usize,
        want
    );

    let want = count(&snap, "pods", |p| {
        p["summary"]["name"].as_str().unwrap().contains("web")
    });
    assert!(want > 0);
    assert_eq!(total(&app, "pods?name=web").await as usize, want);

    let want = count(&snap, "pods", |p| p["status"]["phase"] == "Pending");
    assert_eq!(total(&app, "pods?phase=Pending").await as usize, want);
    assert_eq!(
        total(&app, "pods?phase=pending").await as usize,
        want,
        "phase is case-insensitive"
    );

    let node = snap["pods"][0]["summary"]["nodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    let want = count(&snap, "pods", |p| p["summary"]["nodeName"] == node.as_str());
    assert_eq!(
        total(&app, &format!("pods?node={node}")).await as usize,
        want
    );

    // Labels: repeatable, all must match.
    let labels = snap["pods"][0]["labels"].as_object().unwrap().clone();
    let (k, v) = labels.iter().next().unwrap();
    let want = count(&snap, "pods", |p| p["labels"][k] == *v);
    assert_eq!(
        total(&app, &format!("pods?label={k}={}", v.as_str().unwrap())).await as usize,
        want
    );
    let want_both = count(&snap, "pods", |p| {
        p["labels"][k] == *v && p["summary"]["namespace"] == ns.as_str()
    });
    let got = total(
        &app,
        &format!("pods?label={k}={}&namespace={ns}", v.as_str().unwrap()),
    )
    .await;
    assert_eq!(got as usize, want_both);
    assert_eq!(
        total(
            &app,
            &format!("pods?label={k}={}&label={k}=__no__", v.as_str().unwrap())
        )
        .await,
        0
    );

    let warnings = count(&snap, "events", |e| e["type"] == "Warning");
    assert_eq!(total(&app, "events?type=Warning").await as usize, warnings);
    let reason = snap["events"][0]["reason"].as_str().unwrap().to_owned();
    let want = count(&snap, "events", |e| e["reason"] == reason.as_str());
    assert_eq!(
        total(&app, &format!("events?reason={reason}")).await as usize,
        want
    );

    assert_eq!(
        total(&app, "deployments").await as usize,
        count(&snap, "deployments", |_| true)
    );
    assert_eq!(
        total(&app, "nodes").await as usize,
        count(&snap, "nodes", |_| true)
    );
    assert_eq!(
        total(&app, "jobs").await,
        0,
        "a kind the Go agent left out (null) is an empty list"
    );
}

#[actix_web::test]
async fn pagination_reports_total_before_paging() {
    let (app, snap) = medium().await;
    let (_, page) = app
        .get("/api/v2/clusters/demo-medium/resources/pods?limit=7&offset=490")
        .await;
    assert_eq!(page["total"], 500);
    assert_eq!(page["limit"], 7);
    assert_eq!(page["offset"], 490);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    assert_eq!(
        items[0], snap["pods"][490],
        "items are the v2.1 JSON objects, in snapshot order"
    );
    let (_, tail) = app
        .get("/api/v2/clusters/demo-medium/resources/pods?limit=1000&offset=498")
        .await;
    assert_eq!(tail["items"].as_array().unwrap().len(), 2);
    let (_, past) = app
        .get("/api/v2/clusters/demo-medium/resources/pods?offset=9999")
        .await;
    assert_eq!(
        (
            past["total"].clone(),
            past["items"].as_array().unwrap().len()
        ),
        (serde_json::json!(500), 0)
    );
}

#[actix_web::test]
async fn bad_filters_are_400_naming_the_parameter() {
    let (app, _) = medium().await;
    for (q, word) in [
        ("pods?limit=0", "limit"),
        ("pods?limit=1001", "limit"),
        ("pods?limit=abc", "limit"),
        ("pods?offset=-1", "offset"),
        ("deployments?phase=Running", "phase"),
        ("events?node=x", "node"),
        ("pods?label==v", "label"),
        ("widgets", "widgets"),
    ] {
        let (s, body) = app
            .get(&format!("/api/v2/clusters/demo-medium/resources/{q}"))
            .await;
        assert_eq!(s, 400, "{q}");
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{q}: {body}"
        );
    }
    let (s, body) = app
        .get("/api/v2/clusters/demo-medium/resources/pods?limit=1&bogus=1")
        .await;
    assert_eq!(s, 200, "unknown parameters are ignored: {body}");
    let (s, _) = app.get("/api/v2/clusters/nope/resources/pods").await;
    assert_eq!(s, 404);
    // SQL and script metacharacters are just text.
    let (s, body) = app
        .get("/api/v2/clusters/demo-medium/resources/pods?namespace=%27%3B%20DROP%20TABLE%20x%3B--")
        .await;
    assert_eq!((s, body["total"].clone()), (200, serde_json::json!(0)));
}

#[actix_web::test]
async fn single_objects_namespaced_and_cluster_scoped() {
    let (app, snap) = medium().await;
    let pod = &snap["pods"][3];
    let (ns, name) = (
        pod["summary"]["namespace"].as_str().unwrap(),
        pod["summary"]["name"].as_str().unwrap(),
    );
    let (s, got) = app
        .get(&format!(
            "/api/v2/clusters/demo-medium/resources/pods/{ns}/{name}"
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(&got, pod);
    let (s, _) = app
        .get(&format!(
            "/api/v2/clusters/demo-medium/resources/pods/{ns}/no-such-pod"
        ))
        .await;
    assert_eq!(s, 404);
    let node = &snap["nodes"][0];
    let (s, got) = app
        .get(&format!(
            "/api/v2/clusters/demo-medium/resources/nodes/{}",
            node["summary"]["name"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(&got, node);
    let (s, _) = app
        .get("/api/v2/clusters/demo-medium/resources/pods/just-a-name")
        .await;
    assert_eq!(s, 400, "pods are namespaced");
    let (s, _) = app
        .get("/api/v2/clusters/demo-medium/resources/nodes/ns/name")
        .await;
    assert_eq!(s, 400, "nodes are cluster-scoped");
}

#[actix_web::test]
async fn a_cluster_without_a_snapshot_lists_nothing() {
    let app = spawn_app().await;
    assert_eq!(app.heartbeat("quiet").await.status(), 200);
    let (s, body) = app.get("/api/v2/clusters/quiet/resources/pods").await;
    assert_eq!((s, body["total"].clone()), (200, serde_json::json!(0)));
    let (s, body) = app.get("/api/v2/clusters/quiet").await;
    assert_eq!((s, body["summary"].clone()), (200, Value::Null));
    let (s, _) = app.get("/api/v2/clusters/quiet/snapshot").await;
    assert_eq!(s, 404);
}
