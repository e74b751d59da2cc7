//! The audit writer, the audit middleware and the admin audit/security endpoints, on the
//! real application state (a real SQLite file in a temporary directory, or a PostgreSQL
//! schema with `MASTER_TEST_PG_URL`: `support/db.rs`).
//!
//! The middleware and the endpoints are mounted on a test `App` here, with the real
//! authentication middleware and `Auth` extractor; the route-table tests live with the
//! API tests.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{middleware::from_fn, test, web, App, HttpMessage, HttpRequest, HttpResponse};
use chrono::Utc;
use diesel::prelude::*;
use serde_json::{json, Value};

use atlhyper_master::audit::{AuditEntry, SecurityEvent, SecurityKind};
use atlhyper_master::auth::extract::authenticate_mw;
use atlhyper_master::auth::{secret_hash, Principal, Role, TokenKind};
use atlhyper_master::config::Settings;
use atlhyper_master::db::audit::{
    list_audit, list_security, AuditFilter, AuditRow, SecurityFilter,
};
use atlhyper_master::http::{api, audit_mw};
use atlhyper_master::startup::{Application, Stopper};
use atlhyper_master::state::AppState;

#[path = "support/db.rs"]
mod db;

/// A secret that must never reach the database.
const PASSWORD: &str = "Hunter2-never-stored-9f3a";
/// Another one, in a token field.
const TOKEN: &str = "ath_tok_never_stored_c41d";

struct TestApp {
    state: AppState,
    stopper: Stopper,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    db: db::TestDb,
}

async fn spawn_app() -> TestApp {
    let db = db::TestDb::new();
    let mut settings = Settings {
        bind: "127.0.0.1".parse().unwrap(),
        http_port: 0,
        agent_port: 0,
        shutdown_timeout: Duration::from_secs(3),
        ..Settings::default()
    };
    db.apply(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let state = app.state();
    let stopper = app.stopper();
    let done = Some(actix_web::rt::spawn(app.run_until_stopped(false)));
    TestApp {
        state,
        stopper,
        done,
        db,
    }
}

impl TestApp {
    async fn stop(&mut self) {
        self.stopper.stop();
        if let Some(done) = self.done.take() {
            tokio::time::timeout(Duration::from_secs(10), done)
                .await
                .expect("shutdown within 10s")
                .expect("run task")
                .expect("clean shutdown");
        }
    }

    async fn audit_rows(&self) -> Vec<AuditRow> {
        self.state.audit.flush().await;
        let (rows, _) = self
            .state
            .db
            .read(|c| list_audit(c, &AuditFilter::default(), 1000, 0))
            .await
            .unwrap();
        rows
    }

    /// Every byte of the database files (main file and WAL) contains none of `needles`;
    /// on PostgreSQL, every text the audit tables hold.
    async fn assert_not_in_db_files(&self, needles: &[&str]) {
        let mut stores: Vec<(String, Vec<u8>)> = Vec::new();
        if self.db.is_postgres() {
            use atlhyper_master::db::schema::{audit_logs as al, security_events as se};
            let text = self
                .state
                .db
                .read(|c| {
                    let rows: Vec<(String, Option<String>, Option<String>)> = al::table
                        .select((al::resource, al::request_body, al::error_message))
                        .load(c)?;
                    let details: Vec<String> = se::table.select(se::details).load(c)?;
                    Ok(format!("{rows:?} {details:?}"))
                })
                .await
                .unwrap();
            stores.push(("postgres".into(), text.into_bytes()));
        }
        for entry in std::fs::read_dir(self.db.dir()).unwrap() {
            let path = entry.unwrap().path();
            stores.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
        for (name, bytes) in stores {
            for n in needles {
                assert!(
                    !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                    "{n:?} found in {name}"
                );
            }
        }
    }

    /// A user with a session (or API key) token of `role`; returns (user id, token).
    async fn user_with_token(&self, name: &str, role: Role, kind: TokenKind) -> (i32, String) {
        let token = format!("test-token-{name}-{}", uuid::Uuid::new_v4());
        let hash = secret_hash(&token);
        let name = name.to_owned();
        let user_id = self
            .state
            .db
            .write(move |c| {
                use atlhyper_master::db::users::{insert, insert_token, NewToken, NewUser};
                let now = Utc::now();
                let new = NewUser {
                    username: name,
                    password_hash: "x".into(),
                    display_name: String::new(),
                    email: String::new(),
                    role,
                };
                let u = insert(c, &new, now)?.unwrap();
                let token = NewToken {
                    user_id: u.id,
                    hash,
                    name: "t".into(),
                    kind,
                    role,
                    expires_at: None,
                };
                insert_token(c, &token, now)?;
                Ok(u.id)
            })
            .await
            .unwrap();
        (user_id, token)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stopper.stop();
    }
}

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        timestamp: Utc::now(),
        user_id: Some(1),
        username: "alice".into(),
        role: Some(Role::Admin),
        source: "web".into(),
        action: "create".into(),
        resource: format!("/api/v2/things/{i}"),
        method: "POST".into(),
        request_body: Some("{}".into()),
        status_code: 201,
        success: true,
        error_message: None,
        ip: "127.0.0.1".into(),
        user_agent: "test".into(),
        duration_ms: 1,
    }
}

fn event(kind: SecurityKind) -> SecurityEvent {
    SecurityEvent {
        kind,
        ip: "10.1.2.3".into(),
        user_id: None,
        token_id: None,
        resource: "POST /api/v2/things".into(),
        details: json!({"reason": "test"}),
    }
}

async fn count_rows(state: &AppState) -> (i64, i64) {
    state
        .db
        .read(|c| {
            use atlhyper_master::db::schema::{audit_logs, security_events};
            let a = audit_logs::table.count().get_result(c)?;
            let s = security_events::table.count().get_result(c)?;
            Ok((a, s))
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn flush_returns_once_every_queued_row_is_committed() {
    let mut app = spawn_app().await;
    for i in 0..2_000 {
        app.state.audit.log(entry(i));
    }
    for _ in 0..50 {
        app.state.audit.security(event(SecurityKind::LoginFailed));
    }
    app.state.audit.flush().await;
    assert_eq!(count_rows(&app.state).await, (2_000, 50));
    assert_eq!(app.state.audit.dropped(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn normal_load_from_many_tasks_drops_nothing() {
    let mut app = spawn_app().await;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let audit = app.state.audit.clone();
            actix_web::rt::spawn(async move {
                for i in 0..500 {
                    audit.log(entry(t * 1000 + i));
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    app.state.audit.flush().await;
    assert_eq!(count_rows(&app.state).await.0, 4_000);
    assert_eq!(app.state.audit.dropped(), 0);
    app.stop().await;
}

#[actix_web::test]
async fn graceful_shutdown_writes_what_was_queued() {
    let mut app = spawn_app().await;
    for i in 0..3_000 {
        app.state.audit.log(entry(i));
    }
    app.state
        .audit
        .security(event(SecurityKind::AgentTokenMismatch));
    app.stop().await;
    use atlhyper_master::db::schema::{audit_logs, security_events};
    let counts = app
        .state
        .db
        .read(|c| {
            let a: i64 = audit_logs::table.count().get_result(c)?;
            let s: i64 = security_events::table.count().get_result(c)?;
            Ok((a, s))
        })
        .await
        .unwrap();
    assert_eq!(counts, (3_000, 1));
}

/// Test handler: plays the `Auth` extractor (puts a `Principal` in the extensions when
/// `x-test-user` is set), answers the status in `x-test-status`, and echoes the body.
async fn echo(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(user) = header("x-test-user") {
        let kind = if header("x-test-kind").as_deref() == Some("api") {
            TokenKind::ApiKey
        } else {
            TokenKind::Session
        };
        req.extensions_mut().insert(Principal {
            user_id: 42,
            username: user,
            role: Role::Operator,
            token_id: 7,
            token_kind: kind,
        });
    }
    let status = header("x-test-status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body(body)
}

macro_rules! echo_app {
    ($state:expr) => {
        test::init_service(
            App::new()
                .configure(|cfg| $state.register(cfg))
                .app_data(web::PayloadConfig::new(8 * 1024 * 1024))
                .wrap(from_fn(audit_mw::audit))
                .default_service(web::to(echo)),
        )
        .await
    };
}

async fn body_of<B: actix_web::body::MessageBody>(res: ServiceResponse<B>) -> web::Bytes {
    test::read_body(res).await
}

#[actix_web::test]
async fn a_write_is_recorded_sanitized_and_its_body_reaches_the_handler() {
    let mut app = spawn_app().await;
    let svc = echo_app!(app.state);
    let body = json!({
        "username": "bob",
        "password": PASSWORD,
        "nested": [{"agent_token": TOKEN}],
        "config": {"smtp_password": PASSWORD, "host": "mail"},
        "name": "kept"
    })
    .to_string();
    let res = test::TestRequest::post()
        .uri("/api/v2/users")
        .insert_header(("content-type", "application/json"))
        .insert_header(("user-agent", "audit-test/1"))
        .insert_header(("x-test-user", "carol"))
        .insert_header(("x-test-status", "201"))
        .peer_addr("192.0.2.7:5555".parse().unwrap())
        .set_payload(body.clone())
        .send_request(&svc)
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        body_of(res).await,
        body.as_bytes(),
        "the handler got the body unchanged"
    );

    let rows = app.audit_rows().await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.user_id, r.username.as_str(), r.role),
        (Some(42), "carol", Some(2))
    );
    assert_eq!((r.source.as_str(), r.action.as_str()), ("web", "create"));
    assert_eq!(
        (r.method.as_str(), r.resource.as_str()),
        ("POST", "/api/v2/users")
    );
    assert_eq!(
        (r.status_code, r.success, r.error_message.as_deref()),
        (201, true, None)
    );
    assert_eq!(
        (r.ip.as_str(), r.user_agent.as_str()),
        ("192.0.2.7", "audit-test/1")
    );
    let stored: Value = serde_json::from_str(r.request_body.as_deref().unwrap()).unwrap();
    assert_eq!(stored["password"], "***");
    assert_eq!(stored["nested"][0]["agent_token"], "***");
    assert_eq!(stored["config"], "***");
    assert_eq!(stored["name"], "kept");
    app.stop().await;
    app.assert_not_in_db_files(&[PASSWORD, TOKEN]).await;
}

#[actix_web::test]
async fn refusals_of_any_method_are_recorded_and_plain_reads_are_not() {
    let mut app = spawn_app().await;
    let svc = echo_app!(app.state);
    let get = |status: &str, user: Option<&str>| {
        let mut r = test::TestRequest::get()
            .uri("/api/v2/clusters")
            .insert_header(("x-test-status", status.to_owned()));
        if let Some(u) = user {
            r = r.insert_header(("x-test-user", u.to_owned()));
        }
        r
    };
    for (status, user) in [("200", Some("dave")), ("404", Some("dave")), ("401", None)] {
        get(status, user).send_request(&svc).await;
    }
    get("403", Some("dave")).send_request(&svc).await;
    get("429", Some("dave")).send_request(&svc).await;
    let rows = app.audit_rows().await;
    let mut got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.status_code,
                r.action.clone(),
                r.username.clone(),
                r.error_message.clone(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (401, "read".into(), "".into(), Some("Unauthorized".into())),
            (403, "read".into(), "dave".into(), Some("Forbidden".into())),
            (
                429,
                "read".into(),
                "dave".into(),
                Some("Too Many Requests".into())
            ),
        ]
    );
    assert!(rows.iter().all(|r| !r.success && r.request_body.is_none()));
    app.stop().await;
}

#[actix_web::test]
async fn login_names_the_user_from_the_body_and_api_keys_are_source_api() {
    let mut app = spawn_app().await;
    let svc = echo_app!(app.state);
    test::TestRequest::post()
        .uri("/api/v2/auth/login")
        .insert_header(("x-test-status", "401"))
        // A token sent along with a login does not name the audited user.
        .insert_header(("x-test-user", "mallory"))
        .set_json(json!({"username": "erin", "password": PASSWORD}))
        .send_request(&svc)
        .await;
    test::TestRequest::delete()
        .uri("/api/v2/tokens/3")
        .insert_header(("x-test-user", "frank"))
        .insert_header(("x-test-kind", "api"))
        .send_request(&svc)
        .await;
    let rows = app.audit_rows().await;
    let login = rows.iter().find(|r| r.action == "login").unwrap();
    assert_eq!((login.user_id, login.username.as_str()), (None, "erin"));
    assert_eq!((login.status_code, login.success), (401, false));
    assert_eq!(login.error_message.as_deref(), Some("Unauthorized"));
    assert!(!login.request_body.as_deref().unwrap().contains(PASSWORD));
    let del = rows.iter().find(|r| r.action == "delete").unwrap();
    assert_eq!(
        (del.source.as_str(), del.username.as_str()),
        ("api", "frank")
    );
    assert_eq!(del.request_body, None, "empty body");
    app.stop().await;
    app.assert_not_in_db_files(&[PASSWORD]).await;
}

#[actix_web::test]
async fn non_json_and_oversized_bodies_pass_through_unrecorded() {
    let mut app = spawn_app().await;
    let svc = echo_app!(app.state);
    // Form body: never stored, only its size.
    let form = format!("user=x&password={PASSWORD}");
    let res = test::TestRequest::put()
        .uri("/api/v2/settings/x")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(form.clone())
        .send_request(&svc)
        .await;
    assert_eq!(body_of(res).await, form.as_bytes());
    // Over 1 MiB with a Content-Length: not read by the middleware.
    let big = vec![b'a'; 2 * 1024 * 1024];
    let res = test::TestRequest::post()
        .uri("/api/v2/big")
        .set_payload(big.clone())
        .send_request(&svc)
        .await;
    assert_eq!(body_of(res).await.len(), big.len());
    // Over 1 MiB without a Content-Length (chunked): read up to the limit, then the
    // handler still gets every byte.
    let mut req = test::TestRequest::patch()
        .uri("/api/v2/chunked")
        .set_payload(big.clone())
        .to_request();
    req.headers_mut().remove(CONTENT_LENGTH);
    let res = svc.call(req).await.unwrap();
    assert_eq!(body_of(res).await, big);

    let rows = app.audit_rows().await;
    let body = |path: &str| {
        rows.iter()
            .find(|r| r.resource == path)
            .and_then(|r| r.request_body.clone())
            .unwrap()
    };
    assert_eq!(
        body("/api/v2/settings/x"),
        format!("[non-JSON body, {} bytes]", form.len())
    );
    assert_eq!(body("/api/v2/big"), "[body of 2097152 bytes, not recorded]");
    assert_eq!(
        body("/api/v2/chunked"),
        "[body over 1048576 bytes, not recorded]"
    );
    app.stop().await;
    app.assert_not_in_db_files(&[PASSWORD]).await;
}

#[actix_web::test]
async fn a_large_json_body_is_sanitized_off_the_worker_and_cut() {
    let mut app = spawn_app().await;
    let svc = echo_app!(app.state);
    let items: Vec<Value> = (0..5_000)
        .map(|i| json!({"name": format!("n{i}"), "token": TOKEN}))
        .collect();
    let body = json!({ "items": items }).to_string();
    assert!(body.len() > 64 * 1024 && body.len() < 1024 * 1024);
    let res = test::TestRequest::post()
        .uri("/api/v2/bulk")
        .insert_header(("content-type", "application/json"))
        .set_payload(body.clone())
        .send_request(&svc)
        .await;
    assert_eq!(body_of(res).await, body.as_bytes());
    let rows = app.audit_rows().await;
    let stored = rows[0].request_body.as_deref().unwrap();
    assert_eq!(stored.chars().count(), 2_000);
    assert!(stored.starts_with(r#"{"items":[{"name":"n0","token":"***"}"#));
    app.stop().await;
    app.assert_not_in_db_files(&[TOKEN]).await;
}

macro_rules! admin_app {
    ($state:expr) => {
        test::init_service(
            App::new()
                .configure(|cfg| $state.register(cfg))
                .app_data(api::json_config())
                .app_data(api::path_config())
                .wrap(from_fn(authenticate_mw))
                .wrap(from_fn(audit_mw::audit))
                .route(
                    "/api/v2/audit/logs",
                    web::get().to(api::audit::list_audit_logs),
                )
                .route(
                    "/api/v2/security/events",
                    web::get().to(api::audit::list_security_events),
                )
                .route(
                    "/api/v2/security/events/{id}",
                    web::patch().to(api::audit::resolve_security_event),
                ),
        )
        .await
    };
}

async fn call_json<S, R, B>(svc: &S, req: R) -> (u16, Value)
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let res = test::call_service(svc, req).await;
    let status = res.status().as_u16();
    let body = test::read_body(res).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[actix_web::test]
async fn admin_lists_audit_rows_with_filters_and_a_true_total() {
    let mut app = spawn_app().await;
    let (_, admin) = app
        .user_with_token("root", Role::Admin, TokenKind::Session)
        .await;
    let (_, viewer) = app
        .user_with_token("vic", Role::Viewer, TokenKind::Session)
        .await;
    for i in 0..30 {
        let mut e = entry(i);
        e.user_id = Some(if i < 10 { 5 } else { 6 });
        e.success = i % 3 != 0;
        e.action = if i % 2 == 0 { "create" } else { "delete" }.into();
        app.state.audit.log(e);
    }
    app.state.audit.flush().await;
    let svc = admin_app!(app.state);
    let get = |q: &str, token: &str| {
        test::TestRequest::get()
            .uri(&format!("/api/v2/audit/logs{q}"))
            .insert_header(("authorization", format!("Bearer {token}")))
    };

    let (s, v) = call_json(
        &svc,
        get("?user_id=6&action=create&limit=2", &admin).to_request(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // user 6: i = 10..30, create: even i → 10 rows.
    assert_eq!(
        (v["total"].as_u64(), v["items"].as_array().unwrap().len()),
        (Some(10), 2)
    );
    assert_eq!(
        (v["limit"].as_u64(), v["offset"].as_u64()),
        (Some(2), Some(0))
    );
    let item = &v["items"][0];
    assert_eq!(
        (item["user_id"].as_i64(), item["action"].as_str()),
        (Some(6), Some("create"))
    );
    assert_eq!(item["role"], "admin");
    assert!(item["timestamp"].as_str().unwrap().ends_with('Z'));
    let (_, v) = call_json(&svc, get("?success=false", &admin).to_request()).await;
    assert_eq!(v["total"], 10);
    let since = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (_, v) = call_json(
        &svc,
        get(&format!("?since={}&offset=25", urlencode(&since)), &admin).to_request(),
    )
    .await;
    // 30 rows, plus the audited refusals have not happened yet: offset 25 leaves 5.
    assert_eq!(
        (v["total"].as_u64(), v["items"].as_array().unwrap().len()),
        (Some(30), 5)
    );
    // SQL metacharacters are just values.
    let (s, v) = call_json(
        &svc,
        get("?action=%27%20OR%201%3D1%20--", &admin).to_request(),
    )
    .await;
    assert_eq!((s, v["total"].as_u64()), (200, Some(0)));
    // Bad values name the parameter.
    for q in [
        "?success=maybe",
        "?user_id=x",
        "?since=yesterday",
        "?limit=0",
        "?limit=1001",
    ] {
        let (s, v) = call_json(&svc, get(q, &admin).to_request()).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert_eq!(v["code"], "invalid_parameter", "{q}");
    }
    // Not an admin: 403, and the refusal is itself audited.
    let (s, _) = call_json(&svc, get("", &viewer).to_request()).await;
    assert_eq!(s, 403);
    let (s, _) = call_json(
        &svc,
        test::TestRequest::get()
            .uri("/api/v2/audit/logs")
            .to_request(),
    )
    .await;
    assert_eq!(s, 401);
    let f = AuditFilter {
        success: Some(false),
        action: Some("read".into()),
        ..Default::default()
    };
    app.state.audit.flush().await;
    let (rows, _) = app
        .state
        .db
        .read(move |c| list_audit(c, &f, 10, 0))
        .await
        .unwrap();
    let mut statuses: Vec<_> = rows
        .iter()
        .map(|r| (r.status_code, r.username.clone()))
        .collect();
    statuses.sort();
    assert_eq!(statuses, vec![(401, "".into()), (403, "vic".into())]);
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[actix_web::test]
async fn admin_lists_and_resolves_security_events() {
    let mut app = spawn_app().await;
    let (admin_id, admin) = app
        .user_with_token("root", Role::Admin, TokenKind::Session)
        .await;
    for kind in [
        SecurityKind::LoginFailed,
        SecurityKind::LoginFailed,
        SecurityKind::AgentTokenMismatch,
    ] {
        app.state.audit.security(event(kind));
    }
    app.state.audit.flush().await;
    let svc = admin_app!(app.state);
    let auth = ("authorization", format!("Bearer {admin}"));
    let get = |q: &str| {
        test::TestRequest::get()
            .uri(&format!("/api/v2/security/events{q}"))
            .insert_header(auth.clone())
    };
    let (s, v) = call_json(&svc, get("?event_type=login_failed").to_request()).await;
    assert_eq!((s, v["total"].as_u64()), (200, Some(2)), "{v}");
    let ev = &v["items"][0];
    assert_eq!(
        (ev["severity"].as_str(), ev["resolved"].as_bool()),
        (Some("low"), Some(false))
    );
    assert_eq!(ev["details"]["reason"], "test");
    let id = ev["id"].as_i64().unwrap();
    let (s, v) = call_json(&svc, get("?event_type=nope").to_request()).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_parameter")));

    let patch = |path: String, body: &str| {
        test::TestRequest::patch()
            .uri(&path)
            .insert_header(auth.clone())
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned())
    };
    let (s, v) = call_json(
        &svc,
        patch(
            format!("/api/v2/security/events/{id}"),
            r#"{"resolved":true}"#,
        )
        .to_request(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["id"].as_i64(), v["resolved"].as_bool()),
        (Some(id), Some(true))
    );
    assert_eq!(v["resolved_by"].as_i64(), Some(i64::from(admin_id)));
    assert!(v["resolved_at"].is_string());
    let (_, v) = call_json(&svc, get("?resolved=false").to_request()).await;
    assert_eq!(v["total"], 2);
    let (s, v) = call_json(
        &svc,
        patch(
            "/api/v2/security/events/99999".into(),
            r#"{"resolved":true}"#,
        )
        .to_request(),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (404, Some("security_event_not_found"))
    );
    for bad in [
        r#"{"resolved":"yes"}"#,
        r#"{}"#,
        "not json",
        r#"{"resolved":true,"x":1}"#,
    ] {
        let (s, _) = call_json(
            &svc,
            patch(format!("/api/v2/security/events/{id}"), bad).to_request(),
        )
        .await;
        assert_eq!(s, 400, "{bad}");
    }
    let (s, _) = call_json(
        &svc,
        patch("/api/v2/security/events/abc".into(), r#"{"resolved":true}"#).to_request(),
    )
    .await;
    assert_eq!(s, 400);
    let big = format!(r#"{{"resolved":true,"pad":"{}"}}"#, "x".repeat(2 << 20));
    let (s, v) = call_json(
        &svc,
        patch(format!("/api/v2/security/events/{id}"), &big).to_request(),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (413, Some("payload_too_large")));
    // Without a valid token the refusal wins over a bad id or body.
    for token in [None, Some("Bearer not-a-token")] {
        let mut r = test::TestRequest::patch()
            .uri("/api/v2/security/events/abc")
            .set_payload("not json");
        if let Some(t) = token {
            r = r.insert_header(("authorization", t));
        }
        let (s, _) = call_json(&svc, r.to_request()).await;
        assert_eq!(s, 401, "{token:?}");
    }
    // Every admin PATCH above is in the audit log, with the admin as the user.
    app.state.audit.flush().await;
    let f = AuditFilter {
        action: Some("update".into()),
        success: Some(false),
        ..Default::default()
    };
    let (_, refused) = app
        .state
        .db
        .read(move |c| list_audit(c, &f, 100, 0))
        .await
        .unwrap();
    assert_eq!(
        refused, 9,
        "1 unknown, 4 bad bodies, 1 bad id, 1 too large, 2 unauthenticated"
    );
    let f = AuditFilter {
        user_id: Some(admin_id),
        action: Some("update".into()),
        ..Default::default()
    };
    let (rows, total) = app
        .state
        .db
        .read(move |c| list_audit(c, &f, 100, 0))
        .await
        .unwrap();
    assert_eq!(total, 8);
    for r in &rows {
        assert_eq!(
            (r.user_id, r.username.as_str()),
            (Some(admin_id), "root"),
            "{} {}",
            r.resource,
            r.status_code
        );
    }
    let f = SecurityFilter::default();
    let (_, total) = app
        .state
        .db
        .read(move |c| list_security(c, &f, 1, 0))
        .await
        .unwrap();
    assert_eq!(
        total, 4,
        "the 3 seeded and the invalid token; none from the admin's own requests"
    );
    app.stop().await;
}
