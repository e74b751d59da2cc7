//! Authentication and roles on every route, tokens, agent tokens, lockout, bad input.

use std::time::Duration;

use atlhyper_master::auth::access::Access;
use atlhyper_master::auth::Role;
use atlhyper_master::http::api::table;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Routes `spec/api.md` marks public. Anything else public is a mistake.
const SPEC_PUBLIC: &[&str] = &[
    "/health",
    "/ready",
    "/api/v2/auth/login",
    "/api/v2/openapi.json",
];
/// Routes `spec/api.md` marks "public, or token-protected by config".
const SPEC_SCRAPE: &[&str] = &["/metrics"];
/// The scrape token of the second app that checks the protected mode.
const SCRAPE_TOKEN: &str = "route-table-scrape-token";

fn concrete(path: &str) -> String {
    let id = if path.starts_with("/api/v2/users/") || path.starts_with("/api/v2/tokens/") {
        "999999"
    } else if path.starts_with("/api/v2/commands/") {
        "no-such-command"
    } else {
        "c1"
    };
    path.replace("{id}", id)
        .replace("{kind}", "pods")
        .replace("{namespace}", "ns")
        .replace("{name}", "x")
}

/// A fresh API key for `session`'s user (so that logout or revocation in one check cannot
/// disturb the next).
async fn fresh_key(app: &TestApp, session: &str) -> String {
    let r = app
        .api(Method::POST, "/api/v2/tokens", Some(session))
        .json(&json!({"name": "route-check"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn call(
    app: &TestApp,
    method: &actix_web::http::Method,
    path: &str,
    token: Option<&str>,
) -> u16 {
    let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
    let mut req = app.api(method.clone(), path, token);
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        req = req.json(&json!({}));
    }
    // SSE never ends: only the status matters.
    let r = tokio::time::timeout(Duration::from_secs(10), req.send())
        .await
        .unwrap()
        .unwrap();
    r.status().as_u16()
}

#[actix_web::test]
async fn every_route_enforces_its_declared_access() {
    let app = spawn_app().await;
    assert_eq!(app.heartbeat("c1").await.status(), 200);
    let viewer = app.token_for("v1", "viewer").await;
    let operator = app.token_for("o1", "operator").await;
    let routes = table();
    assert!(
        routes.specs().len() >= 25,
        "the table holds every dashboard route"
    );
    let mut scrape_routes = Vec::new();
    for spec in routes.specs() {
        let path = concrete(spec.path);
        let what = format!("{} {}", spec.method, spec.path);
        match spec.access {
            Access::Public => {
                assert!(
                    SPEC_PUBLIC.contains(&spec.path),
                    "{what} is public but spec/api.md does not say so"
                );
                let s = call(&app, &spec.method, &path, None).await;
                assert!(
                    !matches!(s, 401 | 403 | 405 | 500),
                    "{what}: public route answered {s}"
                );
            }
            Access::Scrape => {
                assert!(
                    SPEC_SCRAPE.contains(&spec.path),
                    "{what} is a scrape route but spec/api.md does not say so"
                );
                // No scrape token configured: public, and a dashboard token changes nothing.
                for token in [None, Some(app.admin_token.as_str())] {
                    let s = call(&app, &spec.method, &path, token).await;
                    assert_eq!(s, 200, "{what} (public mode) with {token:?}");
                }
                scrape_routes.push((spec.method.clone(), path, what));
            }
            Access::Role(min) => {
                let s = call(&app, &spec.method, &path, None).await;
                assert_eq!(s, 401, "{what} without a token");
                let s = call(&app, &spec.method, &path, Some("atk_not-a-real-token")).await;
                assert_eq!(s, 401, "{what} with an unknown token");
                let below = match min {
                    Role::Viewer => None,
                    Role::Operator => Some(&viewer),
                    Role::Admin => Some(&operator),
                };
                if let Some(session) = below {
                    let key = fresh_key(&app, session).await;
                    let s = call(&app, &spec.method, &path, Some(&key)).await;
                    assert_eq!(s, 403, "{what} with a role below {min:?}");
                }
                let lowest = match min {
                    Role::Viewer => &viewer,
                    Role::Operator => &operator,
                    Role::Admin => &app.admin_token,
                };
                let key = fresh_key(&app, lowest).await;
                let s = call(&app, &spec.method, &path, Some(&key)).await;
                assert!(
                    !matches!(s, 401 | 403 | 405 | 500),
                    "{what} with role {min:?} answered {s}"
                );
            }
        }
    }
    // With a scrape token configured, only that token opens a scrape route.
    assert!(!scrape_routes.is_empty(), "GET /metrics is in the table");
    let protected = spawn_with(|s| s.metrics_token = Some(SCRAPE_TOKEN.to_owned().into())).await;
    for (method, path, what) in &scrape_routes {
        let admin = protected.admin_token.as_str();
        for (token, want) in [(None, 401), (Some(admin), 401), (Some(SCRAPE_TOKEN), 200)] {
            let s = call(&protected, method, path, token).await;
            assert_eq!(s, want, "{what} (protected mode) with {token:?}");
        }
    }
}

#[actix_web::test]
async fn login_me_logout() {
    let app = spawn_app().await;
    let r = app
        .api(Method::POST, "/api/v2/auth/login", None)
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(body["expires_at"].is_string());
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["username"], "admin");

    let me: Value = app
        .api(Method::GET, "/api/v2/auth/me", Some(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    assert!(me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "users:manage"));
    let viewer = app.token_for("eve", "viewer").await;
    let me: Value = app
        .api(Method::GET, "/api/v2/auth/me", Some(&viewer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!me["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "users:manage" || p == "secrets:read"));

    let out = app
        .api(Method::POST, "/api/v2/auth/logout", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let after = app
        .api(Method::GET, "/api/v2/auth/me", Some(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "a logged-out token is dead");

    for (user, pw) in [("admin", "wrong-password"), ("nobody", ADMIN_PASSWORD)] {
        let r = app
            .api(Method::POST, "/api/v2/auth/login", None)
            .json(&json!({"username": user, "password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"], "invalid username or password",
            "no hint which part was wrong"
        );
    }
}

#[actix_web::test]
async fn five_failures_lock_the_user_and_ip_pair() {
    let app = spawn_app().await;
    app.token_for("mallory-target", "viewer").await;
    let attempt = |pw: &'static str| {
        app.api(Method::POST, "/api/v2/auth/login", None)
            .json(&json!({"username": "mallory-target", "password": pw}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt("bad-password").await.unwrap().status(), 401);
    }
    let locked = attempt("a-long-password").await.unwrap();
    assert_eq!(
        locked.status(),
        429,
        "even the right password is refused while locked"
    );
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry > 25 * 60 && retry <= 30 * 60,
        "locked for 30 min: {retry}"
    );
    // Another user is not locked.
    login(&app.client, &app.http, "admin", ADMIN_PASSWORD).await;
    app.state.audit.flush().await;
    let (_, events) = app
        .get("/api/v2/security/events?event_type=login_failed")
        .await;
    assert!(events["total"].as_u64().unwrap() >= 4, "{events}");
    let (_, events) = app
        .get("/api/v2/security/events?event_type=login_locked")
        .await;
    assert!(events["total"].as_u64().unwrap() >= 1, "{events}");
}

#[actix_web::test]
async fn expired_tokens_are_refused() {
    let app = spawn_with(|s| s.token_ttl = Duration::from_secs(2)).await;
    let session = login(&app.client, &app.http, "admin", ADMIN_PASSWORD).await;
    assert_eq!(
        app.api(Method::GET, "/api/v2/auth/me", Some(&session))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let r = app
        .api(Method::POST, "/api/v2/tokens", Some(&app.admin_token))
        .json(&json!({"name": "short", "expires_at": soon}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.api(Method::GET, "/api/v2/auth/me", Some(&key))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for t in [&session, &key] {
        eventually(Duration::from_secs(5), || async {
            (app.api(Method::GET, "/api/v2/auth/me", Some(t))
                .send()
                .await
                .unwrap()
                .status()
                == 401)
                .then_some(())
        })
        .await;
    }
}

#[actix_web::test]
async fn disabling_or_deleting_a_user_revokes_their_tokens_at_once() {
    let app = spawn_app().await;
    let t = app.token_for("temp", "operator").await;
    let (_, users) = app.get("/api/v2/users").await;
    let id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "temp")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v2/users/{id}"),
            Some(&app.admin_token),
        )
        .json(&json!({"status": "disabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.api(Method::GET, "/api/v2/auth/me", Some(&t))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = app
        .api(Method::POST, "/api/v2/auth/login", None)
        .json(&json!({"username": "temp", "password": "a-long-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a disabled user cannot log in");

    let t2 = app.token_for("temp2", "viewer").await;
    let (_, users) = app.get("/api/v2/users").await;
    let id2 = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "temp2")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.api(
            Method::DELETE,
            &format!("/api/v2/users/{id2}"),
            Some(&app.admin_token)
        )
        .send()
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        app.api(Method::GET, "/api/v2/auth/me", Some(&t2))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // The admin cannot lock themselves out, nor remove the last admin.
    let (_, me) = app.get("/api/v2/auth/me").await;
    let my_id = me["user"]["id"].as_i64().unwrap();
    let r = app
        .api(
            Method::PATCH,
            &format!("/api/v2/users/{my_id}"),
            Some(&app.admin_token),
        )
        .json(&json!({"status": "disabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = app
        .api(
            Method::DELETE,
            &format!("/api/v2/users/{my_id}"),
            Some(&app.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
}

#[actix_web::test]
async fn api_keys_never_exceed_their_creators_role() {
    let app = spawn_app().await;
    let viewer = app.token_for("vic", "viewer").await;
    let r = app
        .api(Method::POST, "/api/v2/tokens", Some(&viewer))
        .json(&json!({"name": "x", "role": "operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let operator = app.token_for("olga", "operator").await;
    let r = app
        .api(Method::POST, "/api/v2/tokens", Some(&operator))
        .json(&json!({"name": "ci", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key: Value = r.json().await.unwrap();
    assert_eq!(key["role"], "viewer");
    let key = key["token"].as_str().unwrap().to_owned();
    assert_eq!(app.heartbeat("c1").await.status(), 200);
    let r = app
        .api(Method::POST, "/api/v2/command", Some(&key))
        .json(&json!({"cluster_id": "c1", "action": "restart", "namespace": "a", "name": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "a viewer key cannot run commands although its creator can"
    );
    // A key listed never shows its secret; a demoted creator drags the key down.
    let listed: Value = app
        .api(Method::GET, "/api/v2/tokens", Some(&operator))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], 1);
    assert!(listed["items"][0].get("token").is_none());
}

#[actix_web::test]
async fn a_new_password_revokes_tokens_and_only_owner_or_admin_revoke_a_key() {
    let app = spawn_app().await;
    let ann = app.token_for("ann", "operator").await;
    let bob = app.token_for("bob", "operator").await;
    let status = |r: reqwest::Response| r.status().as_u16();
    let key = |session: String| {
        let r = app
            .api(Method::POST, "/api/v2/tokens", Some(&session))
            .json(&json!({"name": "ci"}));
        async move {
            let v: Value = r.send().await.unwrap().json().await.unwrap();
            (
                v["id"].as_i64().unwrap(),
                v["token"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (ann_key_id, ann_key) = key(ann.clone()).await;
    // Someone else's key looks like no key, and stays valid.
    let revoke = |id: i64, by: &str| {
        app.api(Method::DELETE, &format!("/api/v2/tokens/{id}"), Some(by))
            .send()
    };
    let r = revoke(ann_key_id, &bob).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "token_not_found");
    let me = |t: &str| app.api(Method::GET, "/api/v2/auth/me", Some(t)).send();
    assert_eq!(status(me(&ann_key).await.unwrap()), 200);
    // The owner may; so may an admin.
    assert_eq!(status(revoke(ann_key_id, &ann).await.unwrap()), 200);
    assert_eq!(status(me(&ann_key).await.unwrap()), 401);
    let (bob_key_id, bob_key) = key(bob.clone()).await;
    assert_eq!(
        status(revoke(bob_key_id, &app.admin_token).await.unwrap()),
        200
    );
    assert_eq!(status(me(&bob_key).await.unwrap()), 401);

    // A new password revokes every token of the user; names stay editable.
    let (_, users) = app.get("/api/v2/users").await;
    let ann_id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ann")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (_, ann_key2) = key(ann.clone()).await;
    let patch = |body: Value| {
        app.api(
            Method::PATCH,
            &format!("/api/v2/users/{ann_id}"),
            Some(&app.admin_token),
        )
        .json(&body)
        .send()
    };
    let r = patch(json!({"display_name": "Ann"})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        status(me(&ann).await.unwrap()),
        200,
        "a name change revokes nothing"
    );
    let r = patch(json!({"password": "another-long-password"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["display_name"], "Ann");
    assert_eq!(status(me(&ann).await.unwrap()), 401);
    assert_eq!(status(me(&ann_key2).await.unwrap()), 401);
    login(&app.client, &app.http, "ann", "another-long-password").await;
    // Bad values are refused before anything is stored.
    for body in [
        json!({"status": "paused"}),
        json!({"password": "short"}),
        json!({"display_name": "n".repeat(129)}),
    ] {
        let r = patch(body.clone()).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["code"],
            "invalid_parameter"
        );
    }
    let r = app
        .api(
            Method::PATCH,
            "/api/v2/users/999999",
            Some(&app.admin_token),
        )
        .json(&json!({"display_name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[actix_web::test]
async fn secrets_need_operator() {
    let app = spawn_app().await;
    assert_eq!(
        app.push_gz("demo-medium", fixture("medium-go.json.gz"))
            .await
            .status(),
        200
    );
    let viewer = app.token_for("val", "viewer").await;
    let operator = app.token_for("oto", "operator").await;
    let path = "/api/v2/clusters/demo-medium/resources/secrets";
    assert_eq!(
        app.api(Method::GET, path, Some(&viewer))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let r = app
        .api(Method::GET, path, Some(&operator))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["total"].as_u64().unwrap() > 0);
}

#[actix_web::test]
async fn agent_tokens_are_per_cluster() {
    let app = spawn_app().await;
    let (s, a) = app
        .post(
            "/api/v2/clusters",
            &json!({"cluster_id": "alpha", "name": "Alpha", "environment": "prod"}),
        )
        .await;
    assert_eq!(s, 201, "{a}");
    let token_a = a["agent_token"].as_str().unwrap().to_owned();
    let (s, b) = app
        .post("/api/v2/clusters", &json!({"cluster_id": "beta"}))
        .await;
    assert_eq!(s, 201);
    let token_b = b["agent_token"].as_str().unwrap().to_owned();
    let (s, _) = app
        .post("/api/v2/clusters", &json!({"cluster_id": "beta"}))
        .await;
    assert_eq!(s, 409);

    let push = |cluster: &'static str, token: String| {
        let body =
            gzip(&serde_json::to_vec(&tiny_snapshot(cluster, "2026-02-04T13:31:23Z")).unwrap());
        app.client
            .post(format!("{}/agent/snapshot", app.agent))
            .bearer_auth(token)
            .header("X-Cluster-ID", cluster)
            .header("Content-Encoding", "gzip")
            .body(body)
            .send()
    };
    assert_eq!(push("alpha", token_a.clone()).await.unwrap().status(), 200);
    let r = push("beta", token_a.clone()).await.unwrap();
    assert_eq!(r.status(), 403, "alpha's token for beta");
    assert_eq!(
        r.json::<Value>().await.unwrap()["code"],
        "agent_token_mismatch"
    );
    let (_, st) = app.get("/api/v2/clusters/beta/status").await;
    assert!(st["fetched_at"].is_null(), "nothing stored for beta: {st}");
    // Not dequeued either: beta's command stays pending when alpha's token polls for it.
    assert_eq!(push("beta", token_b.clone()).await.unwrap().status(), 200);
    let id = app
        .create_command(
            &json!({"cluster_id": "beta", "action": "restart", "namespace": "a", "name": "b"}),
        )
        .await;
    let r = app
        .client
        .get(format!("{}/agent/commands?cluster_id=beta", app.agent))
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.get(&format!("/api/v2/commands/{id}")).await.1["status"],
        "pending"
    );
    app.state.audit.flush().await;
    let (_, ev) = app
        .get("/api/v2/security/events?event_type=agent_token_mismatch")
        .await;
    assert!(ev["total"].as_u64().unwrap() >= 2, "{ev}");

    // Rotation: the old token dies at once, the new one works.
    let (s, rot) = app
        .post("/api/v2/clusters/alpha/agent-token", &json!({}))
        .await;
    assert_eq!(s, 200);
    let new_a = rot["agent_token"].as_str().unwrap().to_owned();
    assert_eq!(push("alpha", token_a).await.unwrap().status(), 401);
    assert_eq!(push("alpha", new_a.clone()).await.unwrap().status(), 200);
    // Revocation and deletion.
    let r = app
        .api(
            Method::DELETE,
            "/api/v2/clusters/alpha/agent-token",
            Some(&app.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(push("alpha", new_a).await.unwrap().status(), 401);
    let r = app
        .api(
            Method::DELETE,
            "/api/v2/clusters/beta",
            Some(&app.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(push("beta", token_b).await.unwrap().status(), 401);
    assert_eq!(app.get("/api/v2/clusters/beta").await.0, 404);
    assert_eq!(
        app.get(&format!("/api/v2/commands/{id}")).await.1["status"],
        "cancelled"
    );
}

#[actix_web::test]
async fn hostile_and_unicode_input() {
    let app = spawn_app().await;
    for name in [
        "'; DROP TABLE users;--",
        "a b",
        "",
        "x\u{0}y",
        &"n".repeat(65),
    ] {
        let (s, body) = app
            .post(
                "/api/v2/users",
                &json!({"username": name, "password": "a-long-password", "role": "viewer"}),
            )
            .await;
        assert_eq!(s, 400, "{name:?}: {body}");
    }
    let (s, _) = app
        .post(
            "/api/v2/users",
            &json!({"username": "短い", "password": "short", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 400, "password policy");
    let (s, _) = app
        .post(
            "/api/v2/users",
            &json!({"username": "ok", "password": "a-long-password", "role": "root"}),
        )
        .await;
    assert_eq!(s, 400, "unknown role");
    let (s, u) = app
        .post(
            "/api/v2/users",
            &json!({"username": "用户名", "password": "пароль-длинный", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    login(&app.client, &app.http, "用户名", "пароль-длинный").await;
    let (s, _) = app
        .post(
            "/api/v2/users",
            &json!({"username": "用户名", "password": "пароль-длинный", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 409);

    let big = json!({"username": "big", "password": "p".repeat(2 * 1024 * 1024), "role": "viewer"});
    let (s, body) = app.post("/api/v2/users", &big).await;
    assert_eq!(s, 413, "{body}");
    let r = app
        .api(Method::POST, "/api/v2/users", Some(&app.admin_token))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_json");
    for q in [
        "status=%27%20OR%201%3D1--",
        "since=%27%3B%20DROP%20TABLE%20x",
    ] {
        let (s, _) = app.get(&format!("/api/v2/clusters/c1/commands?{q}")).await;
        assert!(s == 400 || s == 404, "{q}: {s}");
    }
    let (s, _) = app
        .get("/api/v2/audit/logs?action=%27%20OR%20%271%27%3D%271")
        .await;
    assert_eq!(s, 200, "SQL metacharacters are only text");
}

#[actix_web::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = spawn_with(|s| {
        s.api_rate_limit = 1;
        s.api_rate_burst = 3;
        s.agent_rate_limit = 1;
        s.agent_rate_burst = 3;
    })
    .await;
    let viewer = app.token_for("rl", "viewer").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = app
            .api(Method::GET, "/api/v2/auth/me", Some(&viewer))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if status == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&retry), "Retry-After {retry}");
            assert_eq!(r.json::<Value>().await.unwrap()["code"], "rate_limited");
        }
        statuses.push(status);
    }
    assert!(statuses.starts_with(&[200, 200, 200]), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    // Another token has its own bucket.
    assert_eq!(
        app.api(Method::GET, "/api/v2/auth/me", Some(&app.admin_token))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let mut agent = Vec::new();
    for _ in 0..6 {
        agent.push(app.heartbeat("runaway").await.status().as_u16());
    }
    assert!(agent.contains(&429), "a runaway agent is slowed: {agent:?}");
    assert_eq!(
        app.heartbeat("calm").await.status(),
        200,
        "other clusters are not"
    );
    app.state.audit.flush().await;
    let (_, ev) = app
        .get("/api/v2/security/events?event_type=rate_limit")
        .await;
    assert!(ev["total"].as_u64().unwrap() >= 2, "{ev}");
}

/// Issue 20 §3: a flood of requests without valid credentials is refused per client IP,
/// on both ports, while authenticated callers and probes from the same address are served.
#[actix_rt::test]
async fn unauthenticated_floods_are_limited_per_ip_and_credentials_still_work() {
    let app = spawn_with(|s| {
        s.unauth_rate_limit = 1;
        s.unauth_rate_burst = 5;
        s.cors_origins = vec!["http://elsewhere.example".to_owned()];
    })
    .await;
    // The admin and an agent were served before the flood: their credentials are known.
    let r = app
        .api(Method::GET, "/api/v2/clusters", Some(&app.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.heartbeat("c1").await.status(), 200);
    // A second user logs in now but has not used their token yet.
    let fresh = app.token_for("fresh", "viewer").await;
    let anonymous = || app.api(Method::GET, "/api/v2/clusters", None).send();
    // The burst is spent on 401s (the logins took tokens too), then 429.
    let mut unauthorized = 0;
    let refused = loop {
        let r = anonymous().await.unwrap();
        match r.status().as_u16() {
            401 => unauthorized += 1,
            429 => break r,
            other => panic!("unexpected {other}"),
        }
        assert!(unauthorized <= 8, "never limited");
    };
    assert!(unauthorized >= 1, "the burst was honoured: {unauthorized}");
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    // A wrong token is refused as 429 too, before any lookup (a made-up token is no way
    // around the limit), and so is a good token never used from here yet...
    for token in ["ats_not-a-real-token", fresh.as_str()] {
        let r = app
            .api(Method::GET, "/api/v2/clusters", Some(token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "{token}");
    }
    // ...so is an agent without a token, on the other port (one budget per address)...
    let r = app
        .client
        .post(format!("{}/agent/heartbeat", app.agent))
        .header("X-Cluster-ID", "c1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // ...while the admin and the agent (known) and the probes are served.
    for _ in 0..10 {
        let r = app
            .api(Method::GET, "/api/v2/clusters", Some(&app.admin_token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(app.heartbeat("c1").await.status(), 200);
        for probe in ["/health", "/ready"] {
            let r = app.api(Method::GET, probe, None).send().await.unwrap();
            assert_eq!(r.status(), 200, "{probe}");
        }
    }
    // A preflight is answered before the limit.
    let r = app
        .api(Method::OPTIONS, "/api/v2/clusters", None)
        .header("Origin", "http://elsewhere.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "preflights are not limited");
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://elsewhere.example"
    );
    // A refusal carries CORS headers, so a browser can read it.
    let r = app
        .api(Method::GET, "/api/v2/clusters", None)
        .header("Origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("access-control-allow-origin"));
    // The bucket refills at the rate; the fresh token, once accepted, gives its token
    // back and is known from then on.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = app
        .api(Method::GET, "/api/v2/clusters", Some(&fresh))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(anonymous().await.unwrap().status(), 401);
    assert_eq!(anonymous().await.unwrap().status(), 429);
    let r = app
        .api(Method::GET, "/api/v2/clusters", Some(&fresh))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "known now");
}

/// Issue 20 §3: a dashboard body trickled a byte at a time is cut off at
/// `MASTER_API_READ_TIMEOUT` with 408, and the connection is closed.
#[actix_rt::test]
async fn a_trickled_dashboard_body_gets_408_at_the_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_with(|s| s.api_read_timeout = Duration::from_secs(1)).await;
    let addr = app.http.trim_start_matches("http://").to_owned();
    let conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = conn.into_split();
    let head = "POST /api/v2/auth/login HTTP/1.1\r\nHost: x\r\n\
                Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{";
    wr.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    // A byte every 300 ms: the body would take 18 s.
    let trickle = tokio::spawn(async move {
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if wr.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut reply)).await;
    let took = started.elapsed();
    trickle.abort();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("body_timeout"), "{text}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "cut off after {took:?}"
    );
}
