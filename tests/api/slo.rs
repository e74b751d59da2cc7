//! SLOs end to end: real SLO pushes through the agent port, the SLO API on the dashboard
//! port, a real database, and a real HTTP receiver for the burn-rate alert.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{fixture, spawn_with, TestApp, AGENT_TOKEN};
use crate::sinks::HttpSink;

/// Evaluate after every push; alerts gathered for 200 ms only.
fn fast(s: &mut atlhyper_master::config::Settings) {
    s.slo_evaluate_interval = Duration::ZERO;
    s.alert_group_wait = Duration::from_millis(200);
}

/// Pushes and waits until the SLO persister has stored it: pushes of one cluster coalesce
/// on the bus (latest wins), which these tests must not depend on.
async fn push_slo(app: &TestApp, cluster: &str, body: &Value) {
    let r = app
        .agent_req(Method::POST, "/agent/slo", cluster)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    app.state.persist.flush().await;
}

async fn settle(app: &TestApp) {
    app.state.persist.flush().await;
    app.state.notify.flush().await;
}

/// A route of `domain` + `path` served by `key` (`ns-svc-port@kubernetes`).
fn route(domain: &str, path: &str, key: &str, svc: &str, port: i64) -> Value {
    json!({"name": "shop", "namespace": "shop", "domain": domain, "path_prefix": path,
           "service_key": key, "service_name": svc, "service_port": port, "tls": true})
}

/// An SLO push at unix `ts` with `counters` of (host, status, value).
fn push(ts: i64, counters: &[(&str, &str, i64)], routes: &[Value]) -> Value {
    let c: Vec<Value> = counters
        .iter()
        .map(|(h, s, v)| json!({"host": h, "status": s, "metric_type": "requests", "value": v}))
        .collect();
    json!({"cluster_id": "", "metrics": {"timestamp": ts, "counters": c}, "ingress_routes": routes})
}

fn api_route() -> Value {
    route(
        "shop.example.com",
        "/api",
        "shop-api-80@kubernetes",
        "api",
        80,
    )
}

async fn domains(app: &TestApp, query: &str) -> Value {
    let (s, v) = app.get(&format!("/api/v2/slo/domains?{query}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn find<'a>(v: &'a Value, domain: &str, path: &str) -> &'a Value {
    let d = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap_or_else(|| panic!("no domain {domain} in {v}"));
    d["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path_prefix"] == path)
        .unwrap_or_else(|| panic!("no route {path} in {d}"))
}

#[actix_web::test]
async fn the_fixture_pushes_fill_domains_and_paths() {
    let app = spawn_with(fast).await;
    for f in ["slo-1.json", "slo-2.json"] {
        let body: Value = serde_json::from_slice(&fixture(f)).unwrap();
        push_slo(&app, "demo-small", &body).await;
        settle(&app).await;
    }
    let v = domains(&app, "cluster_id=demo-small&time_range=1h").await;
    let names: Vec<&str> = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shop.example.com", "www.shop.example.com"], "{v}");
    assert!(!v.to_string().contains("@entrypoint"));

    // The second push minus the first, per service, from the fixture files themselves.
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&fixture("slo-1.json")).unwrap(),
        serde_json::from_slice(&fixture("slo-2.json")).unwrap(),
    );
    let sum = |p: &Value, host: &str, five: bool| -> i64 {
        p["metrics"]["counters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["host"] == host)
            .filter(|c| !five || c["status"].as_str().unwrap().starts_with('5'))
            .map(|c| c["value"].as_i64().unwrap())
            .sum()
    };
    let host = "shop-api-8080@kubernetes";
    let want = sum(&b, host, false) - sum(&a, host, false);
    let errors = sum(&b, host, true) - sum(&a, host, true);
    let api = find(&v, "shop.example.com", "/api");
    assert_eq!(api["current"]["total_requests"], want, "{api}");
    assert_eq!(api["current"]["errors"], errors, "{api}");
    assert_eq!(api["service_key"], host);
    let avail = (want - errors) as f64 / want as f64 * 100.0;
    let got = api["current"]["availability"].as_f64().unwrap();
    assert!((got - avail).abs() < 1e-3, "{got} vs {avail}");
    assert!(api["current"]["p95_latency_ms"].as_f64().unwrap() > 0.0);
    assert!(api["current"]["mean_latency_ms"].as_f64().unwrap() > 0.0);
    assert!(api["current"]["requests_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(api["targets"]["1h"]["source"], "default");
    assert_eq!(v["summary"]["total_domains"], 2);
    // Two services over the same 10 s: the domain's rate is their sum, not their mean.
    let web = find(&v, "shop.example.com", "/");
    let rps = |x: &Value| x["current"]["requests_per_sec"].as_f64().unwrap();
    let domain = v["domains"][0]["summary"]["requests_per_sec"]
        .as_f64()
        .unwrap();
    assert!(
        (domain - (rps(api) + rps(web))).abs() < 0.01,
        "{domain} vs {} + {}",
        rps(api),
        rps(web)
    );

    // One cluster: cluster_id may be left out. A bad range is a 400, an unknown domain a 404.
    assert_eq!(domains(&app, "").await["cluster_id"], "demo-small");
    let (s, e) = app.get("/api/v2/slo/domains?time_range=2h").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{e}"
    );
    let (s, e) = app.get("/api/v2/slo/domains/nope.example.com").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (404, Some("domain_not_found")),
        "{e}"
    );
    let (s, e) = app.get("/api/v2/slo/domains?cluster_id=ghost").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (404, Some("cluster_not_found")),
        "{e}"
    );

    // The detail has the routes, a history over the range and the status changes.
    let (s, d) = app
        .get("/api/v2/slo/domains/shop.example.com?time_range=1h")
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["routes"].as_array().unwrap().len(), 2);
    let h = d["history"].as_array().unwrap();
    assert!(!h.is_empty());
    let total: i64 = h
        .iter()
        .map(|p| p["total_requests"].as_i64().unwrap())
        .sum();
    assert_eq!(total, d["summary"]["total_requests"].as_i64().unwrap());
    assert!(
        d["status_changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["old_status"] == "unknown"),
        "the first evaluation records the status: {d}"
    );

    // A second cluster: now cluster_id is required.
    push_slo(&app, "other", &push(1, &[], &[])).await;
    settle(&app).await;
    let (s, e) = app.get("/api/v2/slo/domains").await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{e}"
    );
}

#[actix_web::test]
async fn a_counter_reset_counts_the_new_value_and_an_older_push_is_ignored() {
    let app = spawn_with(fast).await;
    let r = [api_route()];
    let k = "shop-api-80@kubernetes";
    push_slo(
        &app,
        "c",
        &push(100, &[(k, "200", 1_000), (k, "500", 10)], &r),
    )
    .await;
    push_slo(
        &app,
        "c",
        &push(110, &[(k, "200", 1_090), (k, "500", 20)], &r),
    )
    .await;
    settle(&app).await;
    // Traefik restarted: counters start again.
    push_slo(&app, "c", &push(120, &[(k, "200", 45), (k, "500", 5)], &r)).await;
    settle(&app).await;
    // A late duplicate of an older push: its lower counters must not look like a reset.
    push_slo(
        &app,
        "c",
        &push(105, &[(k, "200", 1_050), (k, "500", 15)], &r),
    )
    .await;
    settle(&app).await;
    let v = domains(&app, "cluster_id=c&time_range=1h").await;
    let api = find(&v, "shop.example.com", "/api");
    assert_eq!(api["current"]["total_requests"], 100 + 50, "{api}");
    assert_eq!(api["current"]["errors"], 10 + 5, "{api}");
    let text = app
        .api(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"atlhyper_slo_pushes_total{outcome="stale"} 1"#),
        "{text}"
    );
}

#[actix_web::test]
async fn traefik_port_names_resolve_and_entry_points_and_unmapped_hosts_stay_out() {
    let app = spawn_with(fast).await;
    let snap = json!({"cluster_id": "t", "fetched_at": "2026-12-03T10:00:00Z", "summary": {},
        "services": [{"summary": {"name": "api", "namespace": "shop"},
                      "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "8080"}]}]});
    assert_eq!(app.push_json("t", &snap).await.status(), 200);
    settle(&app).await;
    let r = [api_route()];
    let hosts = |n: i64| {
        vec![
            ("shop-api-http@kubernetes", "200", 100 * n),
            ("web@entrypoint", "200", 1_000 * n),
            ("websecure", "200", 1_000 * n),
            ("shop-other-80@kubernetescrd", "200", 7 * n),
        ]
    };
    push_slo(&app, "t", &push(10, &hosts(1), &r)).await;
    settle(&app).await;
    push_slo(&app, "t", &push(20, &hosts(2), &r)).await;
    settle(&app).await;
    let v = domains(&app, "cluster_id=t&time_range=1h").await;
    assert_eq!(v["domains"].as_array().unwrap().len(), 1, "{v}");
    let api = find(&v, "shop.example.com", "/api");
    assert_eq!(api["current"]["total_requests"], 100, "{api}");
    let text = v.to_string();
    for absent in ["entrypoint", "websecure", "kubernetescrd", "shop-other"] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    let metrics = app
        .api(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("atlhyper_slo_unmapped_series 1\n"),
        "{metrics}"
    );

    // Restarted, the first SLO push arrives before any snapshot: the port-name host cannot
    // be mapped yet, so its values are held, and the interval is counted once it can.
    let app = app.restart_with(fast).await;
    push_slo(&app, "t", &push(30, &hosts(3), &r)).await;
    assert_eq!(app.push_json("t", &snap).await.status(), 200);
    settle(&app).await;
    push_slo(&app, "t", &push(40, &hosts(4), &r)).await;
    settle(&app).await;
    let v = domains(&app, "cluster_id=t&time_range=1h").await;
    assert_eq!(
        find(&v, "shop.example.com", "/api")["current"]["total_requests"],
        400 - 100,
        "{v}"
    );
}

#[actix_web::test]
async fn an_agent_clock_far_ahead_does_not_stop_the_cluster() {
    let app = spawn_with(fast).await;
    let r = [api_route()];
    let k = "shop-api-80@kubernetes";
    push_slo(&app, "f", &push(100, &[(k, "200", 1_000)], &r)).await;
    // One push stamped in the year 2286, then the clock is right again.
    push_slo(&app, "f", &push(9_999_999_999, &[(k, "200", 1_010)], &r)).await;
    push_slo(&app, "f", &push(120, &[(k, "200", 1_030)], &r)).await;
    push_slo(&app, "f", &push(130, &[(k, "200", 1_060)], &r)).await;
    let v = domains(&app, "cluster_id=f&time_range=1h").await;
    assert_eq!(
        find(&v, "shop.example.com", "/api")["current"]["total_requests"],
        60,
        "{v}"
    );
}

#[actix_web::test]
async fn quantiles_use_the_histogram_count_when_inf_is_missing() {
    let app = spawn_with(fast).await;
    let r = [api_route()];
    let k = "shop-api-80@kubernetes";
    let h = |b: [i64; 4], sum: f64, count: i64| {
        let mut p = push(0, &[(k, "200", count)], &r);
        p["metrics"]["histograms"] = json!([{"host": k, "sum": sum, "count": count,
            "buckets": {"0.1": b[0], "0.3": b[1], "1.2": b[2], "5": b[3]}}]);
        p
    };
    let mut p1 = h([0, 0, 0, 0], 0.0, 0);
    p1["metrics"]["timestamp"] = json!(10);
    push_slo(&app, "q", &p1).await;
    // 100 requests: 40 ≤ 0.1 s, 80 ≤ 0.3 s, 85 ≤ 1.2 s, 90 ≤ 5 s, 10 slower (+Inf dropped).
    let mut p2 = h([40, 80, 85, 90], 55.0, 100);
    p2["metrics"]["timestamp"] = json!(20);
    push_slo(&app, "q", &p2).await;
    settle(&app).await;
    let v = domains(&app, "cluster_id=q&time_range=1h").await;
    let m = &find(&v, "shop.example.com", "/api")["current"];
    // p50: 0.1 + 0.2 × (50 − 40) / (80 − 40) = 0.15 s.
    assert_eq!(m["p50_latency_ms"], 150.0, "{m}");
    // p95 and p99 are beyond the largest finite bound: 5 s (v2.1 said ~4.6 s and ~4.9 s).
    assert_eq!(m["p95_latency_ms"], 5000.0, "{m}");
    assert_eq!(m["p99_latency_ms"], 5000.0, "{m}");
    assert_eq!(m["mean_latency_ms"], 550.0, "{m}");
}

#[actix_web::test]
async fn targets_are_role_checked_validated_and_survive_a_restart_with_mappings_and_state() {
    let app = spawn_with(fast).await;
    let r = [api_route()];
    let k = "shop-api-80@kubernetes";
    push_slo(&app, "c", &push(10, &[(k, "200", 1_000)], &r)).await;
    push_slo(
        &app,
        "c",
        &push(20, &[(k, "200", 1_100), (k, "503", 1)], &r),
    )
    .await;
    settle(&app).await;

    let viewer = app.token_for("vera", "viewer").await;
    let operator = app.token_for("otto", "operator").await;
    let put = |token: String, body: Value| {
        let req = app
            .api(Method::PUT, "/api/v2/slo/targets", Some(&token))
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let target = json!({"cluster_id": "c", "domain": "shop.example.com", "path_prefix": "/api",
                        "time_range": "1h", "availability": 99.95, "p95_latency_ms": 250});
    assert_eq!(put(viewer.clone(), target.clone()).await.0, 403);
    let (s, e) = put(
        operator.clone(),
        json!({"cluster_id": "c", "domain": "shop.example.com",
        "availability": 100, "p95_latency_ms": 250}),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{e}"
    );
    let (s, e) = put(
        operator.clone(),
        json!({"cluster_id": "c", "domain": "shop.example.com",
        "time_range": "2h", "availability": 99, "p95_latency_ms": 250}),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{e}"
    );
    let (s, _) = put(
        operator.clone(),
        json!({"cluster_id": "ghost", "domain": "x",
        "availability": 99, "p95_latency_ms": 250}),
    )
    .await;
    assert_eq!(s, 404);
    let (s, stored) = put(operator.clone(), target).await;
    assert_eq!(s, 200, "{stored}");
    // A whole-domain target for every range.
    let (s, stored) = put(
        operator,
        json!({"cluster_id": "c", "domain": "shop.example.com",
        "availability": 99.5, "p95_latency_ms": 400}),
    )
    .await;
    assert_eq!((s, stored["targets"].as_array().unwrap().len()), (200, 4));

    let app = app.restart_with(fast).await;
    let (s, t) = app.get("/api/v2/slo/targets?cluster_id=c").await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["targets"].as_array().unwrap().len(), 5, "{t}");
    assert_eq!(t["defaults"]["availability"], 99.0);
    let v = domains(&app, "cluster_id=c&time_range=1h").await;
    let api = find(&v, "shop.example.com", "/api");
    assert_eq!(api["targets"]["1h"]["availability"], 99.95);
    assert_eq!(api["targets"]["1h"]["source"], "route");
    assert_eq!(api["targets"]["1d"]["source"], "domain");
    assert_eq!(
        api["current"]["total_requests"], 101,
        "mapping and rows survive: {api}"
    );
    // The counters' last values survived too: the next push counts its delta only.
    push_slo(
        &app,
        "c",
        &push(30, &[(k, "200", 1_150), (k, "503", 1)], &r),
    )
    .await;
    settle(&app).await;
    let v = domains(&app, "cluster_id=c&time_range=1h").await;
    assert_eq!(
        find(&v, "shop.example.com", "/api")["current"]["total_requests"],
        151
    );
}

#[actix_web::test]
async fn a_route_that_disappears_is_kept_and_marked_gone() {
    let app = spawn_with(fast).await;
    let k = "shop-api-80@kubernetes";
    let web = route("shop.example.com", "/", "shop-web-80@kubernetes", "web", 80);
    push_slo(
        &app,
        "g",
        &push(10, &[(k, "200", 10)], &[api_route(), web.clone()]),
    )
    .await;
    push_slo(
        &app,
        "g",
        &push(20, &[(k, "200", 30)], &[api_route(), web.clone()]),
    )
    .await;
    push_slo(&app, "g", &push(30, &[(k, "200", 40)], &[web])).await;
    settle(&app).await;
    let v = domains(&app, "cluster_id=g&time_range=1h").await;
    let api = find(&v, "shop.example.com", "/api");
    assert!(api["gone_at"].is_string(), "{api}");
    // Its requests until it went away still count; the last push had no route for them.
    assert_eq!(api["current"]["total_requests"], 20);
}

#[actix_web::test]
async fn the_burn_rate_alert_fires_and_resolves_through_a_webhook() {
    let sink = HttpSink::start().await;
    let app = spawn_with(fast).await;
    let r = app
        .api(
            Method::PUT,
            "/api/v2/notify/channels/webhook",
            Some(&app.admin_token),
        )
        .json(&json!({"enabled": true, "config": {"url": sink.url("/hook")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let routes = [api_route()];
    let k = "shop-api-80@kubernetes";
    push_slo(
        &app,
        "b",
        &push(10, &[(k, "200", 1_000), (k, "500", 0)], &routes),
    )
    .await;
    // Half the requests fail: 50 % errors against a 1 % budget burns 50× in every window.
    push_slo(
        &app,
        "b",
        &push(20, &[(k, "200", 1_100), (k, "500", 100)], &routes),
    )
    .await;
    settle(&app).await;
    let fired = crate::helpers::eventually(Duration::from_secs(10), || async {
        app.state.notify.flush().await;
        sink.requests()
            .into_iter()
            .map(|r| r.json())
            .find(|m| m["rule"] == "slo_burn_fast" && m["kind"] == "firing")
    })
    .await;
    assert_eq!(fired["severity"], "critical");
    let line = &fired["alerts"][0];
    assert_eq!(line["resource"]["kind"], "Route");
    let text = fired.to_string();
    assert!(text.contains("shop.example.com/api"), "{text}");
    assert!(
        text.contains("50.0× over 1h") && text.contains("50.0× over 5m"),
        "{text}"
    );
    assert!(text.contains("error budget left"), "{text}");

    // Ten million good requests: every window's error rate falls far below the budget.
    push_slo(
        &app,
        "b",
        &push(30, &[(k, "200", 10_001_100), (k, "500", 100)], &routes),
    )
    .await;
    settle(&app).await;
    let resolved = crate::helpers::eventually(Duration::from_secs(10), || async {
        app.state.notify.flush().await;
        sink.requests()
            .into_iter()
            .map(|r| r.json())
            .find(|m| m["rule"] == "slo_burn_fast" && m["kind"] == "resolved")
    })
    .await;
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    let (_, hist) = app.get("/api/v2/alerts?cluster_id=b&status=resolved").await;
    assert!(
        hist["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule_name"] == "slo_burn_fast"),
        "{hist}"
    );
}

#[actix_web::test]
async fn malformed_slo_pushes_get_json_errors_and_hostile_values_are_skipped() {
    let app = spawn_with(fast).await;
    for body in ["{not json", "[]", r#"{"metrics": 5}"#] {
        let r = app
            .client
            .post(format!("{}/agent/slo", app.agent))
            .bearer_auth(AGENT_TOKEN)
            .header("X-Cluster-ID", "m")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["code"].is_string() && e["error"].is_string(), "{e}");
    }
    let k = "shop-api-80@kubernetes";
    let r = [api_route()];
    push_slo(&app, "m", &push(10, &[(k, "200", 10)], &r)).await;
    let mut bad = push(20, &[(k, "200", -5), (k, "201", 3)], &r);
    bad["metrics"]["histograms"] =
        json!([{"host": k, "sum": -1.0, "count": -4, "buckets": {"x": 1}}]);
    push_slo(&app, "m", &bad).await;
    settle(&app).await;
    let v = domains(&app, "cluster_id=m&time_range=1h").await;
    assert_eq!(
        find(&v, "shop.example.com", "/api")["current"]["total_requests"],
        3
    );
}

#[actix_web::test]
async fn the_cleaner_deletes_old_slo_rows_by_tier() {
    use atlhyper_master::db::slo::SeriesRow;
    let app = spawn_with(fast).await;
    let r = [api_route()];
    let k = "shop-api-80@kubernetes";
    push_slo(&app, "z", &push(10, &[(k, "200", 10)], &r)).await;
    push_slo(&app, "z", &push(20, &[(k, "200", 20)], &r)).await;
    settle(&app).await;
    let now = chrono::Utc::now();
    let row = |res: i32, age: chrono::TimeDelta| SeriesRow {
        cluster_id: "z".into(),
        resolution: res,
        start_at: atlhyper_master::db::to_db(atlhyper_master::slo::window::floor(now - age, res)),
        domain: "shop.example.com".into(),
        path_prefix: "/api".into(),
        service_key: k.into(),
        requests: 5,
        errors: 0,
        client_errors: 0,
        latency_sum: 0.0,
        latency_count: 0,
        buckets: String::new(),
        elapsed_ms: 10_000,
        samples: 1,
    };
    let old = vec![
        row(60, chrono::TimeDelta::hours(72)),
        row(3_600, chrono::TimeDelta::days(100)),
        row(86_400, chrono::TimeDelta::days(120)),
        // Kept: raw within 48 h, daily within 90 days.
        row(60, chrono::TimeDelta::hours(5)),
        row(86_400, chrono::TimeDelta::days(10)),
    ];
    app.state.db.slo().insert_series(old).await.unwrap();
    let (s, rep) = app
        .post("/api/v2/admin/cleanup", &json!({"targets": ["slo"]}))
        .await;
    assert_eq!(s, 200, "{rep}");
    assert_eq!(rep["deleted"]["slo"], 3, "{rep}");
    let v = domains(&app, "cluster_id=z&time_range=30d").await;
    // 10 from the pushes, 5 from the kept hourly row of 10 days ago.
    assert_eq!(
        find(&v, "shop.example.com", "/api")["current"]["total_requests"],
        15,
        "{v}"
    );
}

#[actix_web::test]
async fn minutes_roll_up_into_hours_exactly_across_a_restart() {
    use atlhyper_actors::messages::SloPushed;
    use atlhyper_actors::model::SloPushRequest;
    use std::sync::Arc;

    let app = spawn_with(fast).await;
    let k = "shop-api-80@kubernetes";
    let start = chrono::Utc::now() - chrono::TimeDelta::minutes(150);
    // Pushes every 25 s over 12 minutes, 10 requests each (1 error every other push), as
    // if received then: each minute that is over is rolled into its hour row.
    let send = |app: &TestApp, i: i64| {
        let body = push(
            1_000 + i,
            &[(k, "200", 10 * i - i / 2), (k, "500", i / 2)],
            &[api_route()],
        );
        let push: SloPushRequest = serde_json::from_value(body).unwrap();
        app.state.bus.slo.publish(SloPushed {
            cluster_id: Arc::from("r"),
            push: Arc::new(push),
            received_at: start + chrono::TimeDelta::seconds(25 * i),
            epoch: 0,
        });
    };
    for i in 0..15 {
        send(&app, i);
        app.state.persist.flush().await;
    }
    let app = app.restart_with(fast).await;
    for i in 15..30 {
        send(&app, i);
        app.state.persist.flush().await;
    }
    // 29 intervals of 10 requests; errors: 29 / 2 rounded down at the last push = 14.
    for range in ["1d", "7d", "30d"] {
        let v = domains(&app, &format!("cluster_id=r&time_range={range}")).await;
        let m = &find(&v, "shop.example.com", "/api")["current"];
        assert_eq!(m["total_requests"], 290, "{range}: {m}");
        assert_eq!(m["errors"], 14, "{range}: {m}");
        // 290 requests over 29 × 25 s.
        assert!(
            (m["requests_per_sec"].as_f64().unwrap() - 0.4).abs() < 1e-9,
            "{m}"
        );
    }
    // The last hour has none of it (it all happened over two hours ago).
    let v = domains(&app, "cluster_id=r&time_range=1h").await;
    assert_eq!(
        find(&v, "shop.example.com", "/api")["current"]["total_requests"],
        0
    );
}
