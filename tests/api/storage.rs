//! The storage layer on both engines: compare-and-set state changes under racing writers,
//! the last-admin rule under concurrent requests, `db copy` from SQLite to PostgreSQL, and
//! what an engine cannot do (a file backup of PostgreSQL).
//!
//! On SQLite the single writer serializes the racers; on PostgreSQL
//! (`MASTER_TEST_PG_URL`) they run on separate pooled connections at the same time, which
//! is what these tests are for.

use std::sync::Arc;

use atlhyper_actors::command::CommandState;
use atlhyper_actors::model::CommandResultBody;
use atlhyper_master::db::commands::{self, NewCommand, ResultOutcome};
use atlhyper_master::db::{copy, to_db, Location};
use chrono::Utc;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::db::TestDb;
use crate::helpers::{login, spawn_app, spawn_with, TestApp, ADMIN_PASSWORD};

/// Commands inserted straight into the table, pending, for cluster `c1`.
async fn pending_commands(app: &TestApp, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n)
        .map(|i| format!("race-{i}-{}", uuid::Uuid::new_v4()))
        .collect();
    let rows = ids.clone();
    app.state
        .db
        .write(move |c| {
            for id in &rows {
                commands::insert(
                    c,
                    &NewCommand {
                        command_id: id.clone(),
                        cluster_id: "c1".into(),
                        topic: "ops".into(),
                        source: "test".into(),
                        user_id: None,
                        created_by: None,
                        action: "restart".into(),
                        target_kind: "Deployment".into(),
                        target_namespace: "default".into(),
                        target_name: "web".into(),
                        params: "{}".into(),
                        status: "pending".into(),
                        created_at: to_db(Utc::now()),
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    ids
}

#[actix_web::test]
async fn a_command_is_handed_out_once_with_racing_writers() {
    const RACERS: usize = 8;
    let app = spawn_app().await;
    let ids = pending_commands(&app, 40).await;
    for id in &ids {
        let tries = (0..RACERS).map(|_| {
            let (db, id) = (app.state.db.clone(), id.clone());
            async move {
                db.write(move |c| {
                    commands::transition(
                        c,
                        &id,
                        &[CommandState::Pending],
                        CommandState::Running,
                        Utc::now(),
                    )
                })
                .await
                .unwrap()
            }
        });
        let won = join_all(tries).await.into_iter().filter(|w| *w).count();
        assert_eq!(won, 1, "{id}: exactly one pending -> running");
    }
}

#[actix_web::test]
async fn the_first_result_wins_with_racing_writers() {
    const RACERS: usize = 6;
    let app = spawn_app().await;
    let ids = pending_commands(&app, 20).await;
    for id in &ids {
        let tries = (0..RACERS).map(|i| {
            let (db, id) = (app.state.db.clone(), id.clone());
            async move {
                let body: CommandResultBody = serde_json::from_value(json!({
                    "command_id": id,
                    "success": i % 2 == 0,
                    "output": format!("racer {i}"),
                }))
                .unwrap();
                db.write(move |c| commands::record_result(c, &body, Some("c1"), 4096, Utc::now()))
                    .await
                    .unwrap()
            }
        });
        let outcomes = join_all(tries).await;
        let applied = outcomes
            .iter()
            .filter(|o| matches!(o, ResultOutcome::Applied { .. }))
            .count();
        let duplicates = outcomes
            .iter()
            .filter(|o| matches!(o, ResultOutcome::Duplicate { .. }))
            .count();
        assert_eq!((applied, duplicates), (1, RACERS - 1), "{id}: {outcomes:?}");
    }
}

/// Creates an admin through the API; returns (id, session token).
async fn another_admin(app: &TestApp, name: &str) -> (i64, String) {
    let (status, user) = app
        .post(
            "/api/v2/users",
            &json!({"username": name, "password": "another-admin-pw-1", "role": "admin"}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let token = login(&app.client, &app.http, name, "another-admin-pw-1").await;
    (user["id"].as_i64().unwrap(), token)
}

#[actix_web::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let me: Value = app.get("/api/v2/auth/me").await.1;
    let first_id = me["user"]["id"].as_i64().unwrap();
    let (second_id, second_token) = another_admin(&app, "second").await;
    // Disable the first start admin's rivalry: only these two are admins.
    let patch = |token: String, target: i64| {
        let client = app.client.clone();
        let url = format!("{}/api/v2/users/{target}", app.http);
        async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&json!({"role": "viewer"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (a, b) = futures_util::join!(
        patch(app.admin_token.clone(), second_id),
        patch(second_token.clone(), first_id)
    );
    let mut statuses = [a, b];
    statuses.sort_unstable();
    // One demotion goes through; the other finds the last admin (409), or its caller
    // already demoted (403): never both.
    assert!(
        statuses[0] == 200 && (statuses[1] == 409 || statuses[1] == 403),
        "{statuses:?}"
    );
    // Either may win the race; only the winner is still an admin who may list users.
    let winner = if a == 200 {
        &app.admin_token
    } else {
        &second_token
    };
    let users: Value = app
        .api(reqwest::Method::GET, "/api/v2/users", Some(winner))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admins = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["role"] == "admin" && u["status"] == "active")
        .count();
    assert_eq!(admins, 1, "{users}");
}

#[actix_web::test]
async fn backup_is_a_file_copy_on_sqlite_and_501_on_postgres() {
    let app = spawn_app().await;
    let (status, body) = app.post("/api/v2/admin/backup", &json!({})).await;
    if app.db.is_postgres() {
        assert_eq!(status, 501, "{body}");
        assert_eq!(body["code"], "backup_unsupported");
        assert!(
            body["error"].as_str().unwrap().contains("pg_dump"),
            "{body}"
        );
    } else {
        assert_eq!(status, 200, "{body}");
        assert!(body["bytes"].as_u64().unwrap() > 0, "{body}");
    }
}

#[actix_web::test]
async fn db_copy_moves_an_embedded_install_to_postgres_with_ids_and_secrets() {
    let Some(_) = crate::db::pg_url() else {
        return; // needs PostgreSQL (MASTER_TEST_PG_URL)
    };
    // 1. An embedded install with users, a cluster, a command with its result, a sealed
    //    channel config and an event.
    let sqlite_dir = Arc::new(tempfile::tempdir().unwrap());
    let sqlite_path = sqlite_dir.path().join("master.db");
    let path = sqlite_path.clone();
    let mut app = spawn_with(move |s| {
        s.db_type = atlhyper_master::config::DbType::Sqlite;
        s.db_dsn = None;
        s.db_path = path.clone();
    })
    .await;
    let (_, carol) = app
        .post(
            "/api/v2/users",
            &json!({"username": "carol", "password": "carol-password-1", "role": "operator"}),
        )
        .await;
    let (status, _) = app
        .post("/api/v2/clusters", &json!({"cluster_id": "prod"}))
        .await;
    assert_eq!(status, 201);
    let pushed = app
        .push_json(
            "prod",
            &crate::helpers::tiny_snapshot("prod", "2026-12-03T00:00:00Z"),
        )
        .await;
    assert!(pushed.status().is_success(), "{}", pushed.status());
    // Two SLO pushes: route mappings, the counters' last values and series rows.
    for f in ["slo-1.json", "slo-2.json"] {
        let mut body: serde_json::Value =
            serde_json::from_slice(&crate::helpers::fixture(f)).unwrap();
        body["cluster_id"] = json!("prod");
        let r = app
            .agent_req(reqwest::Method::POST, "/agent/slo", "prod")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        app.state.persist.flush().await;
    }
    let slo_before = app
        .get("/api/v2/slo/domains?cluster_id=prod&time_range=1h")
        .await
        .1["summary"]["total_requests"]
        .clone();
    assert!(slo_before.as_i64().unwrap() > 0, "{slo_before}");
    let command = app
        .create_command(&json!({"cluster_id": "prod", "action": "cordon", "name": "node-1"}))
        .await;
    let r = app
        .client
        .put(format!("{}/api/v2/notify/channels/webhook", app.http))
        .bearer_auth(&app.admin_token)
        .json(&json!({"enabled": true, "config": {"url": "http://127.0.0.1:9/hook", "secret": "copy-me-sealed"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    app.stop().await;

    // 2. Copy into an empty schema; a second copy is refused.
    let target = TestDb::new();
    let to = Location::Postgres(target.dsn().unwrap());
    let from = Location::Sqlite(sqlite_path.clone());
    let (f, t) = (from.clone(), to.clone());
    let report = tokio::task::spawn_blocking(move || copy::copy(&f, &t))
        .await
        .unwrap()
        .unwrap();
    let rows = |table: &str| {
        report
            .tables
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, n)| *n)
            .unwrap()
    };
    assert_eq!(rows("users"), 2);
    assert_eq!(rows("command_history"), 1);
    assert_eq!(rows("notify_channels"), 1);
    assert!(rows("alert_rules") >= 10);
    assert_eq!(rows("slo_routes"), 4);
    assert_eq!(rows("slo_push_state"), 1);
    assert!(rows("slo_series") >= 4);
    let again = tokio::task::spawn_blocking(move || copy::copy(&from, &to))
        .await
        .unwrap()
        .unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");

    // 3. A master on PostgreSQL with the install's secret key serves the same data.
    let (dsn, dir) = (target.dsn().unwrap(), sqlite_dir.path().to_path_buf());
    let pg = spawn_with(move |s| {
        s.db_type = atlhyper_master::config::DbType::Postgres;
        s.db_dsn = Some(dsn.clone().into());
        s.db_path = dir.join("master.db");
    })
    .await;
    let users = pg.get("/api/v2/users").await.1;
    assert!(users.to_string().contains("carol"), "{users}");
    let slo_after = pg
        .get("/api/v2/slo/domains?cluster_id=prod&time_range=1h")
        .await
        .1["summary"]["total_requests"]
        .clone();
    assert_eq!(slo_after, slo_before, "SLO rows copied");
    assert_eq!(carol["id"], users["items"][1]["id"], "ids intact");
    let (status, cmd) = pg.get(&format!("/api/v2/commands/{command}")).await;
    assert_eq!(status, 200, "{cmd}");
    let channels = pg.get("/api/v2/notify/channels").await.1;
    assert!(
        !channels.to_string().contains("copy-me-sealed"),
        "secrets never shown: {channels}"
    );
    assert!(channels.to_string().contains("webhook"), "{channels}");
    // A new row after the copy gets a fresh id (the sequences moved past the copied ids).
    let (status, dave) = pg
        .post(
            "/api/v2/users",
            &json!({"username": "dave", "password": "dave-password-12", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 201, "{dave}");
    assert!(dave["id"].as_i64() > carol["id"].as_i64(), "{dave} {carol}");
    drop(pg);

    // 4. With another key the master refuses to start, and says why.
    let (dsn, other) = (target.dsn().unwrap(), tempfile::tempdir().unwrap());
    let other_path = other.path().join("master.db");
    let mut s = crate::helpers::test_settings(&target);
    s.db_dsn = Some(dsn.into());
    s.db_path = other_path;
    let e = match atlhyper_master::startup::Application::build(s).await {
        Ok(_) => panic!("started with a key that cannot open the stored secrets"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("secret key cannot open"), "{e}");
    let _ = ADMIN_PASSWORD;
}

/// A TCP forwarder to PostgreSQL that the test can cut and restore: a database that goes
/// away under a running master.
struct Proxy {
    port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    /// Runs on its own thread and runtime: the master's startup blocks the test's runtime
    /// while it connects, and must still reach PostgreSQL through the proxy.
    async fn start(target: std::net::SocketAddr) -> Proxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (Arc::clone(&up), Arc::clone(&conns));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                        continue; // dropped: the master sees the connection closed
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    conns2.lock().unwrap().push(task);
                }
            });
        });
        Proxy { port, up, conns }
    }

    /// Cuts every open connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn a_lost_postgres_shows_on_ready_and_metrics_and_requests_recover() {
    if crate::db::pg_url().is_none() {
        return; // needs PostgreSQL (MASTER_TEST_PG_URL)
    }
    let db = TestDb::new();
    let dsn = db.dsn().unwrap();
    // The same server, reached through the proxy.
    let url = url_host_port(&dsn);
    let proxy = Proxy::start(url.1).await;
    let proxied = dsn.replacen(&url.0, &format!("127.0.0.1:{}", proxy.port), 1);
    let app = spawn_with(move |s| {
        s.db_dsn = Some(proxied.clone().into());
        s.db_type = atlhyper_master::config::DbType::Postgres;
    })
    .await;
    let ready = |app: &TestApp| {
        let (client, url) = (app.client.clone(), format!("{}/ready", app.http));
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(ready(&app).await.0, 200);

    proxy.cut();
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "not_ready");
    assert!(
        body["checks"]["database"]
            .as_str()
            .unwrap()
            .starts_with("failed"),
        "{body}"
    );
    // A request that needs the database: a clear 503, no panic, the process lives on.
    let (status, body) = app.get("/api/v2/users").await;
    assert_eq!(status, 503, "{body}");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.http))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("atlhyper_db_up 0"), "{metrics}");
    let errors = metrics
        .lines()
        .find(|l| l.starts_with("atlhyper_db_checkout_errors_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "{metrics}");

    proxy.restore();
    crate::helpers::eventually(std::time::Duration::from_secs(30), || async {
        (ready(&app).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(app.get("/api/v2/users").await.0, 200);
}

/// `(host:port as written in the URL, resolved address)` of a `postgres://` URL.
fn url_host_port(url: &str) -> (String, std::net::SocketAddr) {
    let rest = url.split("://").nth(1).unwrap();
    let hostport = rest.split('/').next().unwrap();
    let hostport = hostport.rsplit('@').next().unwrap().to_owned();
    let with_port = if hostport.contains(':') {
        hostport.clone()
    } else {
        format!("{hostport}:5432")
    };
    use std::net::ToSocketAddrs;
    let addr = with_port.to_socket_addrs().unwrap().next().unwrap();
    (hostport, addr)
}

#[actix_web::test]
async fn both_migration_trees_build_the_same_tables_and_columns() {
    if crate::db::pg_url().is_none() {
        return; // needs PostgreSQL (MASTER_TEST_PG_URL)
    }
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Col {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        c: String,
    }
    let target = TestDb::new();
    let pg = Location::Postgres(target.dsn().unwrap());
    let columns = tokio::task::spawn_blocking(move || {
        let mut lite = Location::Sqlite(":memory:".into()).connect().unwrap();
        atlhyper_master::db::migrate(&mut lite).unwrap();
        let mut pgc = pg.connect().unwrap();
        atlhyper_master::db::migrate(&mut pgc).unwrap();
        let mut l: Vec<Col> = diesel::sql_query(
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '__diesel_schema_migrations'",
        )
        .load(&mut lite)
        .unwrap();
        let mut p: Vec<Col> = diesel::sql_query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '__diesel_schema_migrations'",
        )
        .load(&mut pgc)
        .unwrap();
        l.sort();
        p.sort();
        (l, p)
    })
    .await
    .unwrap();
    assert!(columns.0.len() > 100, "{}", columns.0.len());
    assert_eq!(columns.0, columns.1, "SQLite and PostgreSQL schemas differ");
    // Every table is one `db copy` moves.
    let mut tables: Vec<&str> = columns.0.iter().map(|c| c.t.as_str()).collect();
    tables.dedup();
    let mut copied = copy::TABLES.to_vec();
    copied.sort_unstable();
    assert_eq!(tables, copied);
}
