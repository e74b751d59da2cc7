//! The AtlHyper v2.1 dashboard API under `/v21`, through the real server: every path of
//! `spec/dashboard-v21.md` §3.1 exists and needs a token, every field the dashboard reads
//! has the JSON type it expects (arrays even for an empty cluster), each role gets what it
//! should, and preflights pass for the configured origins.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use atlhyper_master::auth::access::Access;
use atlhyper_master::auth::Role;

use crate::fake_llm::{say, Call, FakeLlm};
use crate::helpers::*;

const ORIGIN: &str = "http://dashboard.example:3000";

/// No rate limit in the way of many calls with one token; CORS for the dashboard origin.
async fn app() -> TestApp {
    spawn_with(|s| {
        s.api_rate_limit = 100_000;
        s.api_rate_burst = 100_000;
        s.cors_origins = vec![ORIGIN.to_owned()];
        s.v21_command_wait = Duration::from_secs(2);
        s.ai_provider_timeout = Duration::from_secs(2);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Field types, as the dashboard reads them

/// The JSON type a field must have.
#[derive(Clone, Copy, Debug)]
enum J {
    /// String.
    S,
    /// Number.
    N,
    /// Boolean.
    B,
    /// Array.
    A,
    /// Object.
    O,
    /// String or null (a time the dashboard shows as "never").
    SN,
    /// Number or null.
    NN,
    /// Object or null.
    ON,
    /// String, or absent (an `omitempty` field of the agent's shapes).
    SO,
}

fn is(v: Option<&Value>, t: J) -> bool {
    matches!(
        (t, v),
        (J::S | J::SN | J::SO, Some(Value::String(_)))
            | (J::N | J::NN, Some(Value::Number(_)))
            | (J::B, Some(Value::Bool(_)))
            | (J::A, Some(Value::Array(_)))
            | (J::O | J::ON, Some(Value::Object(_)))
            | (J::SN | J::NN | J::ON, Some(Value::Null))
            | (J::SO, None)
    )
}

/// Checks `path` (`a.b[].c`: every element of the array `a.b`, which must not be empty)
/// against `t` in `v`.
fn check(v: &Value, path: &str, t: J) {
    fn walk(v: &Value, segs: &[&str], t: J, full: &str, root: &Value) {
        let Some((first, rest)) = segs.split_first() else {
            return;
        };
        if let Some(name) = first.strip_suffix("[]") {
            let arr = if name.is_empty() {
                Some(v)
            } else {
                v.get(name)
            };
            let items = arr
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("{full}: {name} is not an array in {root:.2000}"));
            assert!(!items.is_empty(), "{full}: {name} is empty");
            for item in items {
                if rest.is_empty() {
                    assert!(is(Some(item), t), "{full}: {item} is not {t:?}");
                } else {
                    walk(item, rest, t, full, root);
                }
            }
        } else if rest.is_empty() {
            let got = v.get(first);
            assert!(is(got, t), "{full}: {got:?} is not {t:?}");
        } else {
            let next = v
                .get(first)
                .unwrap_or_else(|| panic!("{full}: no {first} in {v:.1000}"));
            walk(next, rest, t, full, root);
        }
    }
    let segs: Vec<&str> = path.split('.').collect();
    walk(v, &segs, t, path, v);
}

fn check_all(v: &Value, fields: &[(&str, J)]) {
    for (p, t) in fields {
        check(v, p, *t);
    }
}

// ---------------------------------------------------------------------------------------
// Calls

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app.api(method, path, Some(token));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    let (s, v) = call(app, Method::GET, path, token, None).await;
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, method, path, token, Some(body)).await
}

/// Logs in through the dashboard's login route; the whole reply.
async fn v21_login(app: &TestApp, user: &str, password: &str) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}/v21/api/v2/user/login", app.http))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// The medium fixture with its Warning events moved into the last three hours (so the
/// overview's 24-hour figures have something to count).
fn fixture_now() -> Value {
    let mut snap = fixture_json("medium-go.json.gz");
    let now = Utc::now();
    snap["fetched_at"] = json!(now.to_rfc3339_opts(SecondsFormat::Secs, true));
    // Node metrics stamped now, so the history has a point in its window.
    for m in snap["node_metrics"].as_object_mut().unwrap().values_mut() {
        m["timestamp"] = json!(now.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    for (i, e) in snap["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        if e["type"] == "Warning" {
            let at = now - chrono::Duration::minutes(60 * (i as i64 % 3) + 1);
            let at = json!(at.to_rfc3339_opts(SecondsFormat::Secs, true));
            e["first_timestamp"] = at.clone();
            e["last_timestamp"] = at;
            e["count"] = json!(1);
        }
    }
    snap
}

const CLUSTER: &str = "demo-medium";

async fn with_fixture(app: &TestApp) {
    let r = app.push_json(CLUSTER, &fixture_now()).await;
    assert_eq!(r.status(), 200);
    app.state.persist.flush().await;
}

// ---------------------------------------------------------------------------------------
// The spec's path list

/// `(method, path)` of every row of the spec's §3.1 table (concrete paths as written).
fn spec_paths() -> Vec<(String, String)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/dashboard-v21.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (shared/ lies beside the clone)", path.display()));
    let section = text
        .split("### 3.1")
        .nth(1)
        .and_then(|s| s.split("### 3.2").next())
        .expect("§3.1 in the spec");
    let mut out = Vec::new();
    let mut rows = Vec::new();
    for line in section.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || cols[1].parse::<u32>().is_err() {
            continue;
        }
        rows.push(cols[1].parse::<u32>().unwrap());
        let paths: Vec<&str> = cols[3]
            .split('`')
            .filter(|p| p.starts_with("/api/v2/"))
            .collect();
        assert!(
            !paths.is_empty(),
            "row {}: no path in {:?}",
            cols[1],
            cols[3]
        );
        for m in cols[2].split(',').map(str::trim) {
            for p in &paths {
                out.push((m.to_owned(), (*p).to_owned()));
            }
        }
    }
    assert_eq!(rows, (1..=43).collect::<Vec<_>>(), "the spec's rows 1-43");
    out
}

fn concrete(path: &str) -> String {
    format!(
        "/v21{}",
        path.replace("{name}", "x")
            .replace("{node}", "n1")
            .replace("{id}", "999999")
    )
}

#[actix_web::test]
async fn every_spec_path_has_a_route_that_needs_a_token() {
    let app = app().await;
    let paths = spec_paths();
    // 47 method + path pairs; row 30 names its two channel paths.
    assert_eq!(paths.len(), 48, "{paths:?}");
    for (method, path) in &paths {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let url = concrete(path);
        let r = app
            .client
            .request(m.clone(), format!("{}{url}", app.http))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        // The login is the one route without a token: an empty body is a 400 there.
        let want = if path == "/api/v2/user/login" {
            400
        } else {
            401
        };
        assert_eq!(r.status(), want, "{method} {url} without a token");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{method} {url}: {body}");
        // And a route is declared for it, in the table the access middleware reads.
        let template = format!(
            "/v21{}",
            path.replace("slack", "{type}").replace("email", "{type}")
        );
        assert!(
            atlhyper_master::http::v21::table()
                .specs()
                .iter()
                .any(|s| s.method.as_str() == m.as_str() && s.path == template),
            "{method} {template} is not in the v21 table"
        );
    }
    // The tester button (no token by design) gets a clear 401, never a send.
    let (s, v) = call(&app, Method::POST, "/v21/test/notifier/slack", "", None).await;
    assert_eq!(s, 401, "{v}");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("/api/v2/notify/channels/{type}/test"));
    // Unknown v21 paths are 404 JSON, not another route's answer.
    let (s, v) = call(
        &app,
        Method::GET,
        "/v21/api/v2/nope",
        &app.admin_token,
        None,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("unknown_path")));
}

#[actix_web::test]
async fn each_role_gets_what_its_route_declares() {
    let app = app().await;
    let viewer = app.token_for("vera", "viewer").await;
    let operator = app.token_for("otto", "operator").await;
    let table = atlhyper_master::http::v21::table();
    let mut checked = 0;
    for spec in table.specs() {
        let Access::Role(need) = spec.access else {
            continue;
        };
        let url = concrete(
            &spec
                .path
                .trim_start_matches("/v21")
                .replace("{type}", "slack"),
        );
        for (role, token) in [
            (Role::Viewer, viewer.as_str()),
            (Role::Operator, operator.as_str()),
            (Role::Admin, app.admin_token.as_str()),
        ] {
            let m = Method::from_bytes(spec.method.as_str().as_bytes()).unwrap();
            // An empty body: an allowed caller gets a 4xx about the body or a 2xx, never 401/403.
            let (s, v) = send(&app, m, &format!("{url}?cluster_id=none"), token, json!({})).await;
            if role < need {
                assert_eq!(s, 403, "{} {url} as {role:?}: {v}", spec.method);
                assert_eq!(v["code"], "forbidden");
            } else {
                assert!(
                    s != 401 && s != 403,
                    "{} {url} as {role:?}: {s} {v}",
                    spec.method
                );
            }
            checked += 1;
        }
    }
    // Every route but the login and the tester.
    assert_eq!(checked, 3 * 46);
}

#[actix_web::test]
async fn preflight_passes_for_the_configured_origin_only() {
    let app = app().await;
    for path in [
        "/v21/api/v2/ops/pods/restart",
        "/v21/api/v2/user/login",
        "/v21/api/v2/pods",
    ] {
        let r = app
            .client
            .request(Method::OPTIONS, format!("{}{path}", app.http))
            .header("Origin", ORIGIN)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], ORIGIN);
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            allowed.contains("authorization") && allowed.contains("content-type"),
            "{allowed}"
        );
        assert!(h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
    }
    // A real cross-origin call carries the header; another origin's preflight is refused.
    let r = app
        .api(Method::GET, "/v21/api/v2/clusters", Some(&app.admin_token))
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], ORIGIN);
    let r = app
        .client
        .request(Method::OPTIONS, format!("{}/v21/api/v2/pods", app.http))
        .header("Origin", "http://evil.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

// ---------------------------------------------------------------------------------------
// Login, users, audit (rows 1, 31-36)

#[actix_web::test]
async fn login_users_and_audit_in_v21_shapes() {
    let app = app().await;
    with_fixture(&app).await;
    // 1. Login.
    let (s, v) = v21_login(&app, "admin", ADMIN_PASSWORD).await;
    assert_eq!(s, 200, "{v}");
    check_all(
        &v,
        &[
            ("message", J::S),
            ("data.token", J::S),
            ("data.user.id", J::N),
            ("data.user.username", J::S),
            ("data.user.displayName", J::S),
            ("data.user.role", J::N),
            ("data.cluster_ids", J::A),
        ],
    );
    assert_eq!(v["data"]["user"]["role"], 3);
    assert_eq!(v["data"]["cluster_ids"], json!([CLUSTER]));
    let admin = v["data"]["token"].as_str().unwrap().to_owned();
    // The v21 session works on our API too (one session model).
    let (s, _) = call(&app, Method::GET, "/api/v2/auth/me", &admin, None).await;
    assert_eq!(s, 200);
    let (s, v) = v21_login(&app, "admin", "wrong").await;
    assert_eq!(s, 401, "{v}");
    assert!(v["error"].is_string());
    let (s, _) = v21_login(&app, "", "").await;
    assert_eq!(s, 400);

    // 32. Register: roles are numbers, 0 is a viewer, 7 is refused.
    let reg = |name: &str, role: i64| json!({"username": name, "password": "a-long-password", "display_name": "D", "email": "d@example.com", "role": role});
    let (s, v) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/register",
        &admin,
        reg("dora", 2),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    check_all(
        &v,
        &[("message", J::S), ("data.id", J::N), ("data.role", J::N)],
    );
    let dora = v["data"]["id"].as_i64().unwrap();
    let (s, _) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/register",
        &admin,
        reg("dora", 2),
    )
    .await;
    assert_eq!(s, 409);
    let (s, v) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/register",
        &admin,
        reg("zed", 7),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/register",
        &admin,
        reg("vic", 0),
    )
    .await;
    assert_eq!((s, v["data"]["role"].as_i64()), (200, Some(1)));

    // 31. List.
    let v = get(&app, "/v21/api/v2/user/list", &admin).await;
    check_all(
        &v,
        &[
            ("data[].id", J::N),
            ("data[].username", J::S),
            ("data[].displayName", J::S),
            ("data[].email", J::S),
            ("data[].role", J::N),
            ("data[].status", J::N),
            ("data[].createdAt", J::S),
            ("data[].lastLogin", J::SN),
            ("data[].lastLoginIP", J::S),
        ],
    );
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["username"] == "dora" && u["role"] == 2));

    // 33, 34. Role and status; a disabled user cannot sign in; nobody locks themselves out.
    let (s, v) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/update-role",
        &admin,
        json!({"user_id": dora, "role": 1}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["message"].is_string());
    let (s, _) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/update-role",
        &admin,
        json!({"user_id": dora, "role": 9}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/update-status",
        &admin,
        json!({"user_id": dora, "status": 0}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v21_login(&app, "dora", "a-long-password").await.0, 401);
    let (s, _) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/update-status",
        &admin,
        json!({"user_id": dora, "status": 1}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v21_login(&app, "dora", "a-long-password").await.0, 200);
    let me = get(&app, "/api/v2/auth/me", &admin).await["user"]["id"]
        .as_i64()
        .unwrap();
    let (s, v) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/update-status",
        &admin,
        json!({"user_id": me, "status": 0}),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("self_lockout")));

    // 35. Delete.
    let (s, _) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/delete",
        &admin,
        json!({"user_id": dora}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v21_login(&app, "dora", "a-long-password").await.0, 401);
    let (s, _) = send(
        &app,
        Method::POST,
        "/v21/api/v2/user/delete",
        &admin,
        json!({"user_id": dora}),
    )
    .await;
    assert_eq!(s, 404);

    // 36. Audit: every write above is there, passwords never.
    app.state.audit.flush().await;
    let v = get(&app, "/v21/api/v2/audit/logs", &admin).await;
    check_all(
        &v,
        &[
            ("total", J::N),
            ("data[].id", J::N),
            ("data[].timestamp", J::S),
            ("data[].userId", J::N),
            ("data[].username", J::S),
            ("data[].role", J::N),
            ("data[].source", J::S),
            ("data[].action", J::S),
            ("data[].resource", J::S),
            ("data[].method", J::S),
            ("data[].status", J::N),
            ("data[].success", J::B),
            ("data[].ip", J::S),
            ("data[].durationMs", J::N),
        ],
    );
    let rows = v["data"].as_array().unwrap();
    let text = v.to_string();
    assert!(
        !text.contains("a-long-password") && !text.contains(ADMIN_PASSWORD),
        "{text}"
    );
    let has = |action: &str, resource: &str| {
        rows.iter()
            .any(|r| r["action"] == action && r["resource"] == resource)
    };
    assert!(has("login", "/v21/api/v2/user/login"));
    assert!(has("create", "/v21/api/v2/user/register"));
    assert!(has("update", "/v21/api/v2/user/update-role"));
    assert!(has("delete", "/v21/api/v2/user/delete"));
    let failed_login = rows
        .iter()
        .find(|r| r["action"] == "login" && r["success"] == false && r["username"] == "admin")
        .expect("the failed login");
    assert_eq!(
        (
            failed_login["username"].as_str(),
            failed_login["status"].as_i64()
        ),
        (Some("admin"), Some(401))
    );
    let v = get(&app, "/v21/api/v2/audit/logs?limit=2&offset=1", &admin).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(v["total"].as_i64().unwrap() > 2);
}

// ---------------------------------------------------------------------------------------
// An empty cluster: arrays, never null (rows 2-4, 8, 11, 15, 17-19, 22, 24, 28)

#[actix_web::test]
async fn an_empty_cluster_answers_arrays_and_zeros() {
    let app = app().await;
    let admin = app.admin_token.clone();
    // Declared but silent, then one snapshot with nothing in it.
    let (s, _) = app
        .post("/api/v2/clusters", &json!({"cluster_id": "quiet"}))
        .await;
    assert_eq!(s, 201);
    for round in 0..2 {
        if round == 1 {
            let r = app
                .push_json("quiet", &tiny_snapshot("quiet", "2026-03-01T00:00:00Z"))
                .await;
            assert_eq!(r.status(), 200);
        }
        let v = get(&app, "/v21/api/v2/overview?cluster_id=quiet", &admin).await;
        check_all(
            &v,
            &[
                ("cluster_id", J::S),
                ("cards.cluster_health.status", J::S),
                ("cards.node_ready.percent", J::N),
                ("cards.events_24h", J::N),
                ("alerts.trend[].kinds", J::O),
                ("alerts.recent", J::A),
                ("nodes.usage", J::A),
                ("workloads.peak_stats.has_data", J::B),
            ],
        );
        assert_eq!(v["alerts"]["trend"].as_array().unwrap().len(), 24);
        assert_eq!(v["cards"]["cluster_health"]["status"], "Unknown");
        for kind in [
            "pods",
            "nodes",
            "deployments",
            "services",
            "namespaces",
            "configmaps",
            "secrets",
            "ingresses",
        ] {
            let v = get(
                &app,
                &format!("/v21/api/v2/{kind}?cluster_id=quiet"),
                &admin,
            )
            .await;
            assert_eq!(
                (&v["data"], &v["total"]),
                (&json!([]), &json!(0)),
                "{kind}: {v}"
            );
        }
        let v = get(&app, "/v21/api/v2/node-metrics?cluster_id=quiet", &admin).await;
        check_all(
            &v,
            &[
                ("summary.total_nodes", J::N),
                ("summary.avg_cpu_usage", J::N),
                ("nodes", J::A),
            ],
        );
        let v = get(&app, "/v21/api/v2/commands/history?cluster_id=quiet&source=&status=&action=&search=&limit=20&offset=0", &admin).await;
        assert_eq!((&v["commands"], &v["total"]), (&json!([]), &json!(0)));
        let v = get(
            &app,
            "/v21/api/v2/slo/domains/v2?cluster_id=quiet&time_range=1d",
            &admin,
        )
        .await;
        assert_eq!(v["domains"], json!([]));
        check(&v, "summary.total_domains", J::N);
    }
    let v = get(&app, "/v21/api/v2/clusters", &admin).await;
    check_all(
        &v,
        &[
            ("clusters[].cluster_id", J::S),
            ("clusters[].status", J::S),
            ("clusters[].node_count", J::N),
            ("clusters[].pod_count", J::N),
            ("total", J::N),
        ],
    );
    // Unknown clusters and bad ids are JSON errors.
    let (s, v) = call(
        &app,
        Method::GET,
        "/v21/api/v2/pods?cluster_id=ghost",
        &admin,
        None,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("cluster_not_found")));
    let (s, v) = call(&app, Method::GET, "/v21/api/v2/pods", &admin, None).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("missing_cluster_id")));
}

// ---------------------------------------------------------------------------------------
// Resources from the fixture (rows 2-5, 8, 11, 12, 15-19, 22, 23)

#[actix_web::test]
async fn resources_and_overview_from_the_fixture() {
    let app = app().await;
    with_fixture(&app).await;
    let viewer = app.token_for("vera", "viewer").await;
    let q = format!("cluster_id={CLUSTER}");

    // 2. Clusters.
    let v = get(&app, "/v21/api/v2/clusters", &viewer).await;
    assert_eq!(v["clusters"][0]["cluster_id"], CLUSTER);
    assert_eq!(
        (
            v["clusters"][0]["node_count"].as_i64(),
            v["clusters"][0]["pod_count"].as_i64()
        ),
        (Some(12), Some(500))
    );

    // 3. Overview: the v2.1 maths on the fixture.
    let v = get(&app, &format!("/v21/api/v2/overview?{q}"), &viewer).await;
    check_all(
        &v,
        &[
            ("cluster_id", J::S),
            ("cards.cluster_health.status", J::S),
            ("cards.cluster_health.node_ready_percent", J::N),
            ("cards.cluster_health.pod_ready_percent", J::N),
            ("cards.node_ready.total", J::N),
            ("cards.node_ready.ready", J::N),
            ("cards.node_ready.percent", J::N),
            ("cards.cpu_usage.percent", J::N),
            ("cards.mem_usage.percent", J::N),
            ("cards.events_24h", J::N),
            ("workloads.summary.deployments.total", J::N),
            ("workloads.summary.deployments.ready", J::N),
            ("workloads.summary.daemonsets.total", J::N),
            ("workloads.summary.statefulsets.ready", J::N),
            ("workloads.summary.jobs.total", J::N),
            ("workloads.summary.jobs.running", J::N),
            ("workloads.summary.jobs.succeeded", J::N),
            ("workloads.summary.jobs.failed", J::N),
            ("workloads.pod_status.total", J::N),
            ("workloads.pod_status.running_percent", J::N),
            ("workloads.pod_status.unknown", J::N),
            ("workloads.peak_stats.peak_cpu", J::N),
            ("workloads.peak_stats.peak_cpu_node", J::S),
            ("workloads.peak_stats.peak_mem", J::N),
            ("workloads.peak_stats.peak_mem_node", J::S),
            ("workloads.peak_stats.has_data", J::B),
            ("alerts.trend[].at", J::S),
            ("alerts.trend[].kinds", J::O),
            ("alerts.totals.critical", J::N),
            ("alerts.totals.warning", J::N),
            ("alerts.totals.info", J::N),
            ("alerts.recent[].timestamp", J::S),
            ("alerts.recent[].severity", J::S),
            ("alerts.recent[].kind", J::S),
            ("alerts.recent[].namespace", J::S),
            ("alerts.recent[].name", J::S),
            ("alerts.recent[].message", J::S),
            ("alerts.recent[].reason", J::S),
            ("nodes.usage[].node", J::S),
            ("nodes.usage[].cpu_usage", J::N),
            ("nodes.usage[].mem_usage", J::N),
        ],
    );
    let cards = &v["cards"];
    // 11 of 12 nodes ready (91.67 %), 488 of 500 pods running (97.6 %): healthy.
    assert_eq!(
        cards["node_ready"],
        json!({"total": 12, "ready": 11, "percent": 91.67})
    );
    assert_eq!(cards["cluster_health"]["status"], "Healthy");
    assert_eq!(cards["cluster_health"]["pod_ready_percent"], 97.6);
    // 50 Warning events in the last 3 hours: 43 with a critical reason.
    assert_eq!(cards["events_24h"], 50);
    assert_eq!(
        v["alerts"]["totals"],
        json!({"critical": 43, "warning": 7, "info": 0})
    );
    let trend = v["alerts"]["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 24);
    let per_kind = |k: &str| {
        trend
            .iter()
            .map(|p| p["kinds"][k].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    assert_eq!((per_kind("Pod"), per_kind("Node")), (48, 2));
    assert_eq!(v["alerts"]["recent"].as_array().unwrap().len(), 10);
    assert_eq!(
        v["workloads"]["summary"]["deployments"],
        json!({"total": 50, "ready": 37})
    );
    assert_eq!(v["workloads"]["pod_status"]["failed"], 6);
    // Usage from metrics-server quantities: 8443530010n of 31910m, 36572970Ki of 133624832Ki.
    let usage = v["nodes"]["usage"].as_array().unwrap();
    assert_eq!(usage.len(), 11);
    assert_eq!(
        usage[0],
        json!({"node": "ip-10-0-16-14.ap-northeast-1.compute.internal", "cpu_usage": 26.46, "mem_usage": 27.37})
    );

    // 4. Pods, with usage shown as v2.1 did and the filters.
    let v = get(&app, &format!("/v21/api/v2/pods?{q}"), &viewer).await;
    check_all(
        &v,
        &[
            ("total", J::N),
            ("data[].summary.name", J::S),
            ("data[].summary.namespace", J::S),
            ("data[].summary.nodeName", J::SO),
            ("data[].summary.ownerKind", J::SO),
            ("data[].summary.ownerName", J::SO),
            ("data[].summary.createdAt", J::S),
            ("data[].summary.age", J::S),
            ("data[].status.phase", J::S),
            ("data[].status.ready", J::S),
            ("data[].status.restarts", J::N),
            ("data[].status.cpuUsage", J::SO),
            ("data[].status.memoryUsage", J::SO),
            ("data[].containers", J::A),
        ],
    );
    assert_eq!(v["total"], 500);
    let cpu: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["status"]["cpuUsage"].as_str())
        .collect();
    assert!(
        !cpu.is_empty() && cpu.iter().all(|c| !c.ends_with('n')),
        "{cpu:?}"
    );
    let v = get(&app, &format!("/v21/api/v2/pods?{q}&phase=Failed"), &viewer).await;
    assert_eq!(v["total"], 6);
    let v = get(
        &app,
        &format!("/v21/api/v2/pods?{q}&namespace=default&limit=1&offset=1"),
        &viewer,
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["total"], 2, "both pods of default are counted");

    // 5. One pod.
    let v = get(
        &app,
        &format!("/v21/api/v2/pods/curl-check?{q}&namespace=default"),
        &viewer,
    )
    .await;
    check_all(
        &v,
        &[
            ("data.summary.name", J::S),
            ("data.spec", J::O),
            ("data.status.phase", J::S),
            ("data.status.podIP", J::SO),
            ("data.status.hostIP", J::SO),
            ("data.status.qosClass", J::SO),
            ("data.containers[].name", J::S),
            ("data.containers[].image", J::S),
            ("data.containers[].state", J::S),
            ("data.containers[].restartCount", J::N),
        ],
    );
    let (s, v) = call(
        &app,
        Method::GET,
        &format!("/v21/api/v2/pods/curl-check?{q}"),
        &viewer,
        None,
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("invalid_parameter")),
        "{v}"
    );
    let (s, v) = call(
        &app,
        Method::GET,
        &format!("/v21/api/v2/pods/nope?{q}&namespace=default"),
        &viewer,
        None,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("resource_not_found")));

    // 8. Nodes (the detail view picks from this list).
    let v = get(&app, &format!("/v21/api/v2/nodes?{q}"), &viewer).await;
    check_all(
        &v,
        &[
            ("data[].summary.name", J::S),
            ("data[].summary.ready", J::S),
            ("data[].summary.schedulable", J::B),
            ("data[].summary.age", J::S),
            ("data[].summary.creationTime", J::S),
            ("data[].addresses.internalIP", J::S),
            ("data[].addresses.hostname", J::S),
            ("data[].info.osImage", J::S),
            ("data[].info.architecture", J::S),
            ("data[].info.kernelVersion", J::S),
            ("data[].info.containerRuntimeVersion", J::S),
            ("data[].info.kubeletVersion", J::S),
            ("data[].capacity.cpu", J::S),
            ("data[].capacity.memory", J::S),
            ("data[].capacity.pods", J::S),
            ("data[].allocatable.cpu", J::S),
            ("data[].spec", J::O),
        ],
    );
    let with_metrics = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n.get("metrics").is_some())
        .unwrap();
    check_all(
        with_metrics,
        &[
            ("metrics.cpu.usage", J::S),
            ("metrics.memory.usage", J::S),
            ("metrics.pods.used", J::N),
            ("metrics.pressure", J::O),
        ],
    );

    // 11, 12. Deployments.
    let v = get(&app, &format!("/v21/api/v2/deployments?{q}"), &viewer).await;
    check_all(
        &v,
        &[
            ("data[].summary.name", J::S),
            ("data[].summary.namespace", J::S),
            ("data[].summary.replicas", J::N),
            ("data[].summary.ready", J::N),
            ("data[].summary.available", J::N),
            ("data[].summary.createdAt", J::S),
            ("data[].spec", J::O),
            ("data[].template.containers[].name", J::S),
            ("data[].template.containers[].image", J::S),
            ("data[].status.replicas", J::N),
        ],
    );
    let v = get(
        &app,
        &format!("/v21/api/v2/deployments/coredns?{q}&namespace=kube-system"),
        &viewer,
    )
    .await;
    check_all(
        &v,
        &[
            ("data.summary.name", J::S),
            ("data.template.containers[].image", J::S),
        ],
    );

    // 15, 16. Services.
    let v = get(&app, &format!("/v21/api/v2/services?{q}"), &viewer).await;
    check_all(
        &v,
        &[
            ("data[].summary.name", J::S),
            ("data[].summary.namespace", J::S),
            ("data[].summary.type", J::S),
            ("data[].summary.createdAt", J::S),
            ("data[].summary.age", J::S),
            ("data[].summary.portsCount", J::N),
            ("data[].summary.hasSelector", J::B),
            ("data[].spec.type", J::S),
            ("data[].network", J::O),
        ],
    );
    let v = get(
        &app,
        &format!("/v21/api/v2/services/kubernetes?{q}&namespace=default"),
        &viewer,
    )
    .await;
    check_all(
        &v,
        &[("data.summary.type", J::S), ("data.ports[].port", J::N)],
    );

    // 17. Namespaces.
    let v = get(&app, &format!("/v21/api/v2/namespaces?{q}"), &viewer).await;
    check_all(
        &v,
        &[
            ("data[].summary.name", J::S),
            ("data[].summary.createdAt", J::S),
            ("data[].summary.age", J::S),
            ("data[].status.phase", J::S),
            ("data[].resources.pods", J::N),
            ("data[].resources.podsRunning", J::N),
            ("data[].resources.pvcs", J::N),
        ],
    );

    // 18, 19. ConfigMaps (keys only), Secrets (operator; keys only).
    let v = get(
        &app,
        &format!("/v21/api/v2/configmaps?{q}&namespace=kube-system"),
        &viewer,
    )
    .await;
    check_all(
        &v,
        &[
            ("data[].name", J::S),
            ("data[].namespace", J::S),
            ("data[].createdAt", J::S),
            ("data[].age", J::S),
            ("data[].keys", J::N),
            ("data[].binaryKeys", J::N),
            ("data[].totalSizeBytes", J::N),
            ("data[].binaryTotalSizeBytes", J::N),
            ("data[].data", J::A),
        ],
    );
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["namespace"] == "kube-system"
            && c["keys"].as_u64() == Some(c["data"].as_array().unwrap().len() as u64)));
    // The key names the snapshot carries, counted (the tab shows "N keys").
    let want = fixture_json("medium-go.json.gz")["configmaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["data_keys"].as_array().is_some_and(|k| k.len() > 1))
        .cloned()
        .unwrap();
    let v = get(
        &app,
        &format!(
            "/v21/api/v2/configmaps?{q}&namespace={}",
            want["namespace"].as_str().unwrap()
        ),
        &viewer,
    )
    .await;
    let got = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == want["name"])
        .unwrap();
    assert_eq!(
        got["keys"].as_u64().unwrap() as usize,
        want["data_keys"].as_array().unwrap().len()
    );
    assert_eq!(got["data"][0]["key"], want["data_keys"][0]);
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/v21/api/v2/secrets?{q}"),
        &viewer,
        None,
    )
    .await;
    assert_eq!(s, 403);
    let v = get(&app, &format!("/v21/api/v2/secrets?{q}"), &app.admin_token).await;
    check_all(
        &v,
        &[
            ("data[].name", J::S),
            ("data[].type", J::S),
            ("data[].createdAt", J::S),
            ("data[].age", J::S),
            ("data[].dataKeys", J::A),
        ],
    );
    let with_keys = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["dataKeys"].as_array().unwrap().is_empty())
        .count();
    assert!(with_keys > 0, "the secrets' key names are listed: {v}");

    // 22, 23. Ingresses.
    let v = get(&app, &format!("/v21/api/v2/ingresses?{q}"), &viewer).await;
    check_all(
        &v,
        &[
            ("data[].summary.name", J::S),
            ("data[].summary.namespace", J::S),
            ("data[].summary.createdAt", J::S),
            ("data[].summary.hostsCount", J::N),
            ("data[].summary.pathsCount", J::N),
            ("data[].summary.tlsEnabled", J::B),
            ("data[].spec", J::O),
            ("data[].status", J::O),
        ],
    );
    let v = get(
        &app,
        &format!("/v21/api/v2/ingresses/admin?{q}&namespace=shop"),
        &viewer,
    )
    .await;
    check_all(
        &v,
        &[("data.summary.name", J::S), ("data.spec.rules", J::A)],
    );
}

// ---------------------------------------------------------------------------------------
// Operations and command history (rows 6, 7, 9, 10, 13, 14, 20, 21, 28)

/// An agent that answers every command of `CLUSTER` on the default topic with `answer`
/// (success, output), until `n` commands are answered.
async fn agent_answers(
    app: &TestApp,
    n: usize,
    answer: impl Fn(&Value) -> (bool, String),
) -> Vec<Value> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let r = app.poll(CLUSTER, "ops").await;
        if r.status() != 200 {
            continue;
        }
        let reply: Value = r.json().await.unwrap();
        if reply["has_command"] != true {
            continue;
        }
        let cmd = reply["command"].clone();
        let (ok, out) = answer(&cmd);
        let id = cmd["id"].as_str().unwrap().to_owned();
        let body = if ok {
            json!({"command_id": id, "success": true, "output": out})
        } else {
            json!({"command_id": id, "success": false, "error": out})
        };
        assert_eq!(app.result(CLUSTER, &body).await.status(), 200);
        seen.push(cmd);
    }
    seen
}

#[actix_web::test]
async fn operations_are_durable_commands_and_reads_wait_for_the_agent() {
    let app = app().await;
    with_fixture(&app).await;
    let operator = app.token_for("otto", "operator").await;
    let viewer = app.token_for("vera", "viewer").await;
    let post = |path: &'static str, body: Value, token: String| {
        let app = &app;
        async move { send(app, Method::POST, path, &token, body).await }
    };

    // Changes answer at once with the queued command (7, 9, 10, 13, 14).
    let changes = [
        (
            "/v21/api/v2/ops/pods/restart",
            json!({"cluster_id": CLUSTER, "namespace": "default", "name": "curl-check"}),
            "delete",
            "Pod",
        ),
        (
            "/v21/api/v2/ops/nodes/cordon",
            json!({"cluster_id": CLUSTER, "name": "node-a"}),
            "cordon",
            "Node",
        ),
        (
            "/v21/api/v2/ops/nodes/uncordon",
            json!({"cluster_id": CLUSTER, "name": "node-a"}),
            "uncordon",
            "Node",
        ),
        (
            "/v21/api/v2/ops/deployments/scale",
            json!({"cluster_id": CLUSTER, "namespace": "kube-system", "name": "coredns", "replicas": 3}),
            "scale",
            "Deployment",
        ),
        (
            "/v21/api/v2/ops/deployments/image",
            json!({"cluster_id": CLUSTER, "namespace": "kube-system", "name": "coredns", "container": "main", "image": "coredns:1.12"}),
            "update_image",
            "Deployment",
        ),
    ];
    for (path, body, _, _) in &changes {
        let (s, v) = post(path, body.clone(), operator.clone()).await;
        assert_eq!(s, 200, "{path}: {v}");
        check_all(
            &v,
            &[("message", J::S), ("command_id", J::S), ("status", J::S)],
        );
        let (s, _) = post(path, body.clone(), viewer.clone()).await;
        assert_eq!(s, 403, "{path} as viewer");
    }
    let seen = agent_answers(&app, changes.len(), |_| (true, String::new())).await;
    for ((_, _, action, kind), cmd) in changes.iter().zip(&seen) {
        assert_eq!(
            (cmd["action"].as_str(), cmd["kind"].as_str()),
            (Some(*action), Some(*kind)),
            "{cmd}"
        );
    }
    // The dashboard's literal "main" container means coredns's only container.
    assert_eq!(
        seen[4]["params"],
        json!({"image": "coredns:1.12", "container": "coredns"})
    );
    assert_eq!(seen[3]["params"], json!({"replicas": 3}));
    // Bad input is a JSON 400 naming the field; nothing is queued.
    let (s, v) = post(
        "/v21/api/v2/ops/deployments/scale",
        json!({"cluster_id": CLUSTER, "namespace": "a", "name": "b"}),
        operator.clone(),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_parameter")));
    let (s, v) = post(
        "/v21/api/v2/ops/deployments/scale",
        json!({"cluster_id": CLUSTER, "namespace": "a", "name": "b", "replicas": -1}),
        operator.clone(),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("invalid_command")),
        "{v}"
    );
    let (s, _) = post(
        "/v21/api/v2/ops/pods/restart",
        json!({"cluster_id": "ghost", "namespace": "a", "name": "b"}),
        operator.clone(),
    )
    .await;
    assert_eq!(s, 404);

    // Reads wait for the agent's answer (6, 20, 21).
    let reads = tokio::join!(
        post(
            "/v21/api/v2/ops/pods/logs",
            json!({"cluster_id": CLUSTER, "namespace": "default", "name": "curl-check", "container": "c", "tail_lines": 5000}),
            operator.clone()
        ),
        post(
            "/v21/api/v2/ops/configmaps/data",
            json!({"cluster_id": CLUSTER, "namespace": "kube-system", "name": "coredns"}),
            operator.clone()
        ),
        post(
            "/v21/api/v2/ops/secrets/data",
            json!({"cluster_id": CLUSTER, "namespace": "default", "name": "db"}),
            operator.clone()
        ),
        agent_answers(&app, 3, |cmd| match cmd["action"].as_str().unwrap() {
            "get_logs" => (true, "line 1\nline 2".into()),
            "get_configmap" => (true, r#"{"Corefile":".:53 {}"}"#.into()),
            _ => (true, r#"{"password":"s3cret"}"#.into()),
        }),
    );
    let (logs, cm, secret, cmds) = reads;
    assert_eq!(logs.0, 200, "{}", logs.1);
    check(&logs.1, "data.logs", J::S);
    assert_eq!(logs.1["data"]["logs"], "line 1\nline 2");
    let log_cmd = cmds.iter().find(|c| c["action"] == "get_logs").unwrap();
    // The dashboard's 5000 lines are capped at the agent's 200.
    assert_eq!(
        log_cmd["params"],
        json!({"tailLines": 200, "container": "c"})
    );
    assert_eq!(cm.0, 200);
    let parsed: Value = serde_json::from_str(cm.1["data"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["Corefile"], ".:53 {}");
    assert_eq!(secret.0, 200);
    assert!(secret.1["data"].as_str().unwrap().contains("s3cret"));
    let (s, _) = post(
        "/v21/api/v2/ops/secrets/data",
        json!({"cluster_id": CLUSTER, "namespace": "default", "name": "db"}),
        viewer.clone(),
    )
    .await;
    assert_eq!(s, 403);

    // A failure is the agent's error (502); no agent in time is 504 and the command is
    // withdrawn, not left to run later.
    let (failed, _) = tokio::join!(
        post(
            "/v21/api/v2/ops/pods/logs",
            json!({"cluster_id": CLUSTER, "namespace": "default", "name": "gone"}),
            operator.clone()
        ),
        agent_answers(&app, 1, |_| (false, "pods \"gone\" not found".into())),
    );
    assert_eq!(
        (failed.0, failed.1["code"].as_str()),
        (502, Some("command_failed")),
        "{}",
        failed.1
    );
    assert!(failed.1["error"].as_str().unwrap().contains("not found"));
    let (s, v) = post(
        "/v21/api/v2/ops/configmaps/data",
        json!({"cluster_id": CLUSTER, "namespace": "a", "name": "b"}),
        operator.clone(),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (504, Some("agent_timeout")), "{v}");

    // 28. History: every command above, newest first, filters as the dashboard sends them.
    let hist = |query: &str| {
        format!("/v21/api/v2/commands/history?cluster_id={CLUSTER}&source=&status=&action=&search=&limit=20&offset=0{query}")
    };
    let v = get(&app, &hist(""), &viewer).await;
    check_all(
        &v,
        &[
            ("total", J::N),
            ("commands[].command_id", J::S),
            ("commands[].source", J::S),
            ("commands[].action", J::S),
            ("commands[].target_kind", J::S),
            ("commands[].target_namespace", J::S),
            ("commands[].target_name", J::S),
            ("commands[].status", J::S),
            ("commands[].created_at", J::S),
            ("commands[].started_at", J::SN),
            ("commands[].finished_at", J::SN),
            ("commands[].duration_ms", J::N),
            ("commands[].params", J::S),
            ("commands[].result", J::S),
            ("commands[].error_message", J::S),
        ],
    );
    assert_eq!(v["total"], 10, "{v}");
    assert_eq!(v["commands"][0]["action"], "get_configmap");
    assert_eq!(v["commands"][0]["status"], "cancelled");
    // Secret values never reach a viewer; an operator sees them.
    let secret_row = |v: &Value| {
        v["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["action"] == "get_secret")
            .unwrap()
            .clone()
    };
    assert!(!v.to_string().contains("s3cret"));
    let result: Value = serde_json::from_str(secret_row(&v)["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["output_hidden"], true);
    let op = get(&app, &hist(""), &operator).await;
    assert!(secret_row(&op)["result"]
        .as_str()
        .unwrap()
        .contains("s3cret"));
    // Search (any case, in the target name), action, status, paging, every cluster.
    let v = get(&app, &hist("&search=CORE"), &viewer).await;
    assert_eq!(v["total"], 3, "{v}");
    let v = get(&app, &hist("&action=cordon"), &viewer).await;
    assert_eq!(v["total"], 1);
    let v = get(&app, &hist("&status=failed"), &viewer).await;
    assert_eq!(v["total"], 1);
    let v = get(&app, &hist("&limit=3&offset=3"), &viewer).await;
    assert_eq!(
        (v["commands"].as_array().unwrap().len(), v["total"].as_i64()),
        (3, Some(10))
    );
    let v = get(
        &app,
        "/v21/api/v2/commands/history?cluster_id=&search=%25",
        &viewer,
    )
    .await;
    assert_eq!(v["total"], 0, "a literal % matches no name");
    let v = get(&app, "/v21/api/v2/commands/history", &viewer).await;
    assert_eq!(v["total"], 10);
    let (s, _) = call(
        &app,
        Method::GET,
        "/v21/api/v2/commands/history?status=bogus",
        &viewer,
        None,
    )
    .await;
    assert_eq!(s, 400);
}

// ---------------------------------------------------------------------------------------
// Node metrics (rows 24, 25)

#[actix_web::test]
async fn node_metrics_in_v21_shapes() {
    let app = app().await;
    with_fixture(&app).await;
    let viewer = app.token_for("vera", "viewer").await;
    let v = get(
        &app,
        &format!("/v21/api/v2/node-metrics?cluster_id={CLUSTER}"),
        &viewer,
    )
    .await;
    let summary_fields = [
        "total_nodes",
        "online_nodes",
        "offline_nodes",
        "avg_cpu_usage",
        "max_cpu_usage",
        "avg_memory_usage",
        "max_memory_usage",
        "avg_disk_usage",
        "max_disk_usage",
        "avg_cpu_temp",
        "max_cpu_temp",
        "total_memory",
        "used_memory",
        "total_disk",
        "used_disk",
        "total_network_rx",
        "total_network_tx",
    ];
    for f in summary_fields {
        check(&v, &format!("summary.{f}"), J::N);
    }
    assert_eq!(v["summary"]["total_nodes"], 12);
    check_all(
        &v,
        &[
            ("nodes[].node_name", J::S),
            ("nodes[].timestamp", J::S),
            ("nodes[].cpu.usage_percent", J::N),
            ("nodes[].cpu.cores", J::N),
            ("nodes[].cpu.threads", J::N),
            ("nodes[].cpu.per_core", J::A),
            ("nodes[].cpu.load_1", J::N),
            ("nodes[].cpu.load_5", J::N),
            ("nodes[].cpu.load_15", J::N),
            ("nodes[].cpu.model", J::S),
            ("nodes[].cpu.frequency", J::N),
            ("nodes[].memory.total", J::N),
            ("nodes[].memory.used", J::N),
            ("nodes[].memory.available", J::N),
            ("nodes[].memory.usage_percent", J::N),
            ("nodes[].memory.swap_total", J::N),
            ("nodes[].memory.swap_used", J::N),
            ("nodes[].memory.swap_percent", J::N),
            ("nodes[].memory.cached", J::N),
            ("nodes[].memory.buffers", J::N),
            ("nodes[].disks[].device", J::S),
            ("nodes[].disks[].mount_point", J::S),
            ("nodes[].disks[].fs_type", J::S),
            ("nodes[].disks[].total", J::N),
            ("nodes[].disks[].usage_percent", J::N),
            ("nodes[].disks[].read_rate", J::N),
            ("nodes[].disks[].io_util", J::N),
            ("nodes[].networks[].interface", J::S),
            ("nodes[].networks[].ip_address", J::S),
            ("nodes[].networks[].status", J::S),
            ("nodes[].networks[].speed", J::N),
            ("nodes[].networks[].rx_rate", J::N),
            ("nodes[].networks[].tx_errors", J::N),
            ("nodes[].temperature.cpu_temp", J::N),
            ("nodes[].temperature.cpu_temp_max", J::N),
            ("nodes[].temperature.sensors", J::A),
            ("nodes[].processes", J::A),
        ],
    );
    let node = v["nodes"][0]["node_name"].as_str().unwrap().to_owned();
    let h = get(
        &app,
        &format!("/v21/api/v2/node-metrics/{node}/history?cluster_id={CLUSTER}&hours=24"),
        &viewer,
    )
    .await;
    check_all(
        &h,
        &[
            ("node_name", J::S),
            ("start", J::S),
            ("end", J::S),
            ("data[].timestamp", J::S),
            ("data[].cpu_usage", J::N),
            ("data[].memory_usage", J::N),
            ("data[].disk_usage", J::N),
            ("data[].cpu_temp", J::N),
        ],
    );
    assert_eq!(h["node_name"], node);
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/v21/api/v2/node-metrics/{node}/history?cluster_id={CLUSTER}&hours=0"),
        &viewer,
        None,
    )
    .await;
    assert_eq!(s, 400);
    let v = get(
        &app,
        &format!("/v21/api/v2/node-metrics/nope/history?cluster_id={CLUSTER}"),
        &viewer,
    )
    .await;
    assert_eq!(v["data"], json!([]));
}

// ---------------------------------------------------------------------------------------
// SLO (rows 26, 27)

#[actix_web::test]
async fn slo_domains_v2_and_targets() {
    let app = app().await;
    for f in ["slo-1.json", "slo-2.json"] {
        let body: Value = serde_json::from_slice(&fixture(f)).unwrap();
        let r = app
            .agent_req(Method::POST, "/agent/slo", "demo-small")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        app.state.persist.flush().await;
    }
    let viewer = app.token_for("vera", "viewer").await;
    let operator = app.token_for("otto", "operator").await;
    let url = "/v21/api/v2/slo/domains/v2?cluster_id=demo-small&time_range=1d";
    let v = get(&app, url, &viewer).await;
    check_all(
        &v,
        &[
            ("domains[].domain", J::S),
            ("domains[].tls", J::B),
            ("domains[].status", J::S),
            ("domains[].error_budget_remaining", J::N),
            ("domains[].summary", J::ON),
            ("domains[].services[].service_key", J::S),
            ("domains[].services[].service_name", J::S),
            ("domains[].services[].service_port", J::N),
            ("domains[].services[].namespace", J::S),
            ("domains[].services[].paths[]", J::S),
            ("domains[].services[].current.availability", J::N),
            ("domains[].services[].current.p95_latency", J::N),
            ("domains[].services[].current.p99_latency", J::N),
            ("domains[].services[].current.error_rate", J::N),
            ("domains[].services[].current.requests_per_sec", J::N),
            ("domains[].services[].current.total_requests", J::N),
            ("domains[].services[].targets", J::O),
            ("domains[].services[].status", J::S),
            ("domains[].services[].error_budget_remaining", J::N),
            ("summary.total_domains", J::N),
            ("summary.healthy_count", J::N),
            ("summary.warning_count", J::N),
            ("summary.critical_count", J::N),
            ("summary.avg_availability", J::N),
            ("summary.avg_error_budget", J::N),
            ("summary.total_rps", J::N),
        ],
    );
    // A domain with requests has a summary; the target goes on it.
    let busy = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["summary"]["total_requests"].as_i64().unwrap_or(0) > 0)
        .unwrap_or_else(|| panic!("a domain with requests: {v}"));
    let domain = busy["domain"].as_str().unwrap().to_owned();
    // Every path appears once, under its service.
    let ours = get(
        &app,
        "/api/v2/slo/domains?cluster_id=demo-small&time_range=1d",
        &viewer,
    )
    .await;
    let count = |v: &Value, f: &dyn Fn(&Value) -> usize| {
        v["domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(f)
            .sum::<usize>()
    };
    assert_eq!(
        count(&v, &|d| d["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["paths"].as_array().unwrap().len())
            .sum()),
        count(&ours, &|d| d["routes"].as_array().unwrap().len())
    );
    let (s, _) = call(
        &app,
        Method::GET,
        "/v21/api/v2/slo/domains/v2?cluster_id=demo-small&time_range=2y",
        &viewer,
        None,
    )
    .await;
    assert_eq!(s, 400);

    // 27. Targets: an operator sets one; the viewer (v2.1: anyone) may not.
    let body = json!({"cluster_id": "demo-small", "host": domain, "time_range": "1d", "availability_target": 99.5, "p95_latency_target": 300});
    let (s, _) = send(
        &app,
        Method::PUT,
        "/v21/api/v2/slo/targets",
        &viewer,
        body.clone(),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = send(
        &app,
        Method::PUT,
        "/v21/api/v2/slo/targets",
        &operator,
        body,
    )
    .await;
    assert_eq!((s, &v), (200, &json!({"status": "ok"})));
    let v = get(&app, url, &viewer).await;
    let d = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain.as_str())
        .unwrap();
    assert_eq!(
        d["services"][0]["targets"]["1d"],
        json!({"availability": 99.5, "p95_latency": 300.0})
    );
    // The domain card's budget is against the 95 % the dashboard prints beside it.
    let error_rate = d["summary"]["error_rate"].as_f64().unwrap();
    let want = (((5.0 - error_rate) / 5.0 * 100.0).clamp(-100.0, 100.0) * 100.0).round() / 100.0;
    assert_eq!(d["error_budget_remaining"].as_f64().unwrap(), want, "{d}");
    let bad = json!({"cluster_id": "demo-small", "host": domain, "time_range": "1d", "availability_target": 100, "p95_latency_target": 300});
    let (s, v) = send(&app, Method::PUT, "/v21/api/v2/slo/targets", &operator, bad).await;
    assert_eq!(s, 400, "{v}");
}

// ---------------------------------------------------------------------------------------
// Notification channels (rows 29, 30)

#[actix_web::test]
async fn notify_channels_are_masked_and_patched() {
    let app = app().await;
    let admin = app.admin_token.clone();
    let v = get(&app, "/v21/api/v2/notify/channels", &admin).await;
    check_all(
        &v,
        &[
            ("total", J::N),
            ("channels[].type", J::S),
            ("channels[].enabled", J::B),
            ("channels[].effective_enabled", J::B),
            ("channels[].validation_errors", J::A),
            ("channels[].config", J::O),
        ],
    );
    let types: Vec<&str> = v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["slack", "email"]);

    let hook = "https://hooks.slack.com/services/T000/B000/SECRETPART";
    let (s, v) = send(
        &app,
        Method::PUT,
        "/v21/api/v2/notify/channels/slack",
        &admin,
        json!({"enabled": true, "config": {"webhook_url": hook}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    check_all(
        &v,
        &[
            ("type", J::S),
            ("enabled", J::B),
            ("effective_enabled", J::B),
            ("validation_errors", J::A),
            ("config.webhook_url", J::S),
        ],
    );
    assert_eq!(
        (v["enabled"].as_bool(), v["effective_enabled"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(!v.to_string().contains("SECRETPART"), "{v}");

    // Email in two edits, each with only what changed; the password never comes back.
    let (s, _) = send(&app, Method::PUT, "/v21/api/v2/notify/channels/email", &admin, json!({"config": {"smtp_host": "127.0.0.1", "smtp_port": 2525, "from_address": "a@example.com"}})).await;
    assert_eq!(s, 200);
    let (s, v) = send(&app, Method::PUT, "/v21/api/v2/notify/channels/email", &admin, json!({"enabled": true, "config": {"to_addresses": ["ops@example.com"], "smtp_user": "u", "smtp_password": "pw-SECRET"}})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["config"]["smtp_host"], "127.0.0.1");
    assert_eq!(v["config"]["to_addresses"], json!(["ops@example.com"]));
    assert_eq!(v["effective_enabled"], true, "{v}");
    let list = get(&app, "/v21/api/v2/notify/channels", &admin).await;
    assert!(!list.to_string().contains("pw-SECRET") && !list.to_string().contains("SECRETPART"));
    // The stored secret survives a round trip of the masked value (the dashboard sends
    // the whole form back).
    let masked = list["channels"][1]["config"].clone();
    let (s, _) = send(
        &app,
        Method::PUT,
        "/v21/api/v2/notify/channels/email",
        &admin,
        json!({"config": masked}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, ours) = call(
        &app,
        Method::GET,
        "/api/v2/notify/channels/email",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, ours["effective"].as_bool()),
        (200, Some(true)),
        "{ours}"
    );

    let viewer = app.token_for("vera", "viewer").await;
    let (s, _) = call(
        &app,
        Method::GET,
        "/v21/api/v2/notify/channels",
        &viewer,
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = send(
        &app,
        Method::PUT,
        "/v21/api/v2/notify/channels/pager",
        &admin,
        json!({}),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (404, Some("channel_not_found")));
}

// ---------------------------------------------------------------------------------------
// The AI assistant (rows 37-43)

#[actix_web::test]
async fn ai_providers_conversations_and_chat() {
    let app = app().await;
    with_fixture(&app).await;
    let admin = app.admin_token.clone();
    let viewer = app.token_for("vera", "viewer").await;
    let fake = FakeLlm::start().await;

    // 37. Create (admin only: v2.1 let anyone) and list.
    let body = json!({"name": "gpt", "provider": "openai", "api_key": "sk-v21-KEY-0123456789", "model": "gpt-4o", "description": "d"});
    let (s, _) = send(
        &app,
        Method::POST,
        "/v21/api/v2/ai/providers",
        &viewer,
        body.clone(),
    )
    .await;
    assert_eq!(s, 403);
    let (s, p) = send(&app, Method::POST, "/v21/api/v2/ai/providers", &admin, body).await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["provider"], "openai");
    assert!(!p.to_string().contains("0123456789"), "{p}");
    // Point it at the fake model through our API (v2.1's form has no base URL).
    let (s, _) = send(
        &app,
        Method::PATCH,
        &format!("/api/v2/ai/providers/{id}"),
        &admin,
        json!({"base_url": fake.base_url("openai"), "api_key": "sk-v21-KEY-0123456789"}),
    )
    .await;
    assert_eq!(s, 200);
    // 38. Update.
    let (s, p) = send(
        &app,
        Method::PUT,
        &format!("/v21/api/v2/ai/providers/{id}"),
        &admin,
        json!({"model": "gpt-4o-mini", "api_key": ""}),
    )
    .await;
    assert_eq!(
        (s, p["model"].as_str(), p["api_key_set"].as_bool()),
        (200, Some("gpt-4o-mini"), Some(true)),
        "{p}"
    );
    // 39. Active.
    let (s, a) = send(
        &app,
        Method::PUT,
        "/v21/api/v2/ai/active",
        &viewer,
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(s, 403, "{a}");
    let (s, a) = send(
        &app,
        Method::PUT,
        "/v21/api/v2/ai/active",
        &admin,
        json!({"enabled": true, "provider_id": id, "tool_timeout": 20}),
    )
    .await;
    assert_eq!(
        (s, &a),
        (
            200,
            &json!({"enabled": true, "provider_id": id, "tool_timeout": 20})
        )
    );
    let a = get(&app, "/v21/api/v2/ai/active", &viewer).await;
    check_all(
        &a,
        &[
            ("enabled", J::B),
            ("provider_id", J::NN),
            ("tool_timeout", J::N),
        ],
    );
    let v = get(&app, "/v21/api/v2/ai/providers", &admin).await;
    check_all(
        &v,
        &[
            ("providers[].id", J::N),
            ("providers[].name", J::S),
            ("providers[].provider", J::S),
            ("providers[].model", J::S),
            ("providers[].description", J::S),
            ("providers[].api_key_masked", J::S),
            ("providers[].api_key_set", J::B),
            ("providers[].is_active", J::B),
            ("providers[].status", J::S),
            ("providers[].total_requests", J::N),
            ("providers[].total_tokens", J::N),
            ("providers[].total_cost", J::N),
            ("providers[].last_used_at", J::SN),
            ("providers[].last_error", J::SN),
            ("providers[].created_at", J::S),
            ("providers[].updated_at", J::S),
            ("active_config.enabled", J::B),
            ("active_config.provider_id", J::NN),
            ("active_config.tool_timeout", J::N),
            ("models[].provider", J::S),
            ("models[].name", J::S),
            ("models[].models[]", J::S),
        ],
    );
    assert_eq!(v["providers"][0]["is_active"], true);

    // 40. Conversations: bare arrays.
    let (s, c) = send(
        &app,
        Method::POST,
        "/v21/api/v2/ai/conversations",
        &viewer,
        json!({"cluster_id": CLUSTER, "title": "新对话"}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    let conv = c["id"].as_i64().unwrap();
    let list = get(
        &app,
        "/v21/api/v2/ai/conversations?limit=20&offset=0",
        &viewer,
    )
    .await;
    for f in [
        "id",
        "message_count",
        "total_input_tokens",
        "total_output_tokens",
        "total_tool_calls",
    ] {
        check(&list, &format!("[].{f}"), J::N);
    }
    for f in ["cluster_id", "title", "created_at", "updated_at"] {
        check(&list, &format!("[].{f}"), J::S);
    }
    assert_eq!(list[0]["title"], "新对话");
    // Another user's conversations are not theirs to see.
    assert_eq!(
        get(&app, "/v21/api/v2/ai/conversations", &admin).await,
        json!([])
    );

    // 43. Chat: a tool round, then the answer, as `event: message` chunks.
    fake.script(vec![
        say(
            "openai",
            "Looking.",
            &[Call {
                id: "c1",
                name: "query",
                args: json!({"q": "pods().count()"}),
            }],
            (10, 5),
        ),
        say("openai", "There are 500 pods.", &[], (20, 7)),
    ]);
    let r = app
        .api(Method::POST, "/v21/api/v2/ai/chat", Some(&viewer))
        .json(&json!({"conversation_id": conv, "cluster_id": CLUSTER, "message": "how many pods?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let frames = sse_frames(&r.text().await.unwrap());
    assert!(frames.iter().all(|(n, _)| n == "message"), "{frames:?}");
    let types: Vec<&str> = frames
        .iter()
        .map(|(_, d)| d["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"text"));
    assert!(
        types.contains(&"tool_call") && types.contains(&"tool_result"),
        "{types:?}"
    );
    assert_eq!(types.last(), Some(&"done"));
    let call_chunk = &frames
        .iter()
        .find(|(_, d)| d["type"] == "tool_call")
        .unwrap()
        .1;
    assert_eq!(call_chunk["tool"], "query");
    let params: Value = serde_json::from_str(call_chunk["params"].as_str().unwrap()).unwrap();
    assert_eq!(params["q"], "pods().count()");
    let result_chunk = &frames
        .iter()
        .find(|(_, d)| d["type"] == "tool_result")
        .unwrap()
        .1;
    check_all(result_chunk, &[("tool", J::S), ("content", J::S)]);
    let done = &frames.last().unwrap().1;
    check_all(
        done,
        &[
            ("stats.rounds", J::N),
            ("stats.total_tool_calls", J::N),
            ("stats.input_tokens", J::N),
            ("stats.output_tokens", J::N),
        ],
    );
    let text: String = frames
        .iter()
        .filter(|(_, d)| d["type"] == "text")
        .map(|(_, d)| d["content"].as_str().unwrap())
        .collect();
    assert!(text.contains("500 pods"), "{text}");

    // 42. Messages: a bare array; the assistant's tool calls as the JSON text the
    // dashboard parses.
    let msgs = get(
        &app,
        &format!("/v21/api/v2/ai/conversations/{conv}/messages"),
        &viewer,
    )
    .await;
    for f in ["id", "conversation_id"] {
        check(&msgs, &format!("[].{f}"), J::N);
    }
    for f in ["role", "content", "created_at"] {
        check(&msgs, &format!("[].{f}"), J::S);
    }
    let with_calls = msgs
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m.get("tool_calls").is_some())
        .expect("a message with tool calls");
    let calls: Value = serde_json::from_str(with_calls["tool_calls"].as_str().unwrap()).unwrap();
    assert_eq!(calls[0]["Name"], "query");
    assert!(calls[0]["Params"]
        .as_str()
        .unwrap()
        .contains("pods().count()"));
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/v21/api/v2/ai/conversations/{conv}/messages"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404, "another user's conversation");

    // 41. Delete, then the provider (38).
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v21/api/v2/ai/conversations/{conv}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, v) = call(
        &app,
        Method::DELETE,
        &format!("/v21/api/v2/ai/conversations/{conv}"),
        &viewer,
        None,
    )
    .await;
    assert_eq!((s, &v), (200, &json!({"status": "ok"})));
    let (s, v) = call(
        &app,
        Method::DELETE,
        &format!("/v21/api/v2/ai/providers/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("provider_in_use")));
    send(
        &app,
        Method::PUT,
        "/v21/api/v2/ai/active",
        &admin,
        json!({"provider_id": null}),
    )
    .await;
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v21/api/v2/ai/providers/{id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 200);
}
