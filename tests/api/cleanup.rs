//! Retention through the cleaner: `/api/v2/admin/{retention,cleanup,backup}`.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use atlhyper_master::db::schema::{
    audit_logs, cluster_events, command_history, node_metrics_history, node_metrics_latest,
    security_events,
};
use atlhyper_master::db::{clusters, to_db};

use crate::helpers::{spawn_app, TestApp};

/// A cluster that never connected: only its `clusters` row exists (the FKs need it).
async fn ghost_cluster(app: &TestApp, id: &str) {
    let id = id.to_owned();
    app.state
        .db
        .write(move |c| clusters::register(c, &id, Utc::now() - Duration::days(100)))
        .await
        .unwrap();
}

/// Stores `n` events of `cluster` last seen `days_ago`, uids `<prefix>-<i>`.
async fn events(app: &TestApp, cluster: &str, prefix: &str, n: usize, days_ago: i64) {
    let cluster = cluster.to_owned();
    let prefix = prefix.to_owned();
    app.state
        .db
        .write(move |c| {
            let base = Utc::now() - Duration::days(days_ago);
            let rows: Vec<_> = (0..n)
                .map(|i| {
                    let t = to_db(base + Duration::seconds(i as i64));
                    (
                        cluster_events::event_uid.eq(format!("{prefix}-{i}")),
                        cluster_events::cluster_id.eq(cluster.clone()),
                        cluster_events::last_timestamp.eq(t),
                        cluster_events::created_at.eq(t),
                        cluster_events::updated_at.eq(t),
                    )
                })
                .collect();
            c.transaction::<_, diesel::result::Error, _>(|c| {
                for row in rows {
                    diesel::insert_into(cluster_events::table)
                        .values(row)
                        .execute(c)?;
                }
                Ok(())
            })?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn count_events(app: &TestApp, cluster: &str) -> i64 {
    let cluster = cluster.to_owned();
    app.state
        .db
        .read(move |c| {
            Ok(cluster_events::table
                .filter(cluster_events::cluster_id.eq(cluster))
                .count()
                .get_result(c)?)
        })
        .await
        .unwrap()
}

async fn cleanup(app: &TestApp, body: Value) -> Value {
    let (s, reply) = app.post("/api/v2/admin/cleanup", &body).await;
    assert_eq!(s, 200, "cleanup: {reply}");
    reply
}

async fn put_retention(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app
        .api(
            Method::PUT,
            "/api/v2/admin/retention",
            Some(&app.admin_token),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn cleanup_by_age_and_max_count_on_an_offline_cluster() {
    let app = spawn_app().await;
    ghost_cluster(&app, "ghost").await;
    events(&app, "ghost", "old", 10, 40).await;
    events(&app, "ghost", "new", 30, 1).await;
    // Node metrics: two old history samples, one recent; one stale latest row.
    app.state
        .db
        .write(|c| {
            let sample = |node: &str, days: i64| {
                (
                    node_metrics_history::cluster_id.eq("ghost"),
                    node_metrics_history::node_name.eq(node.to_owned()),
                    node_metrics_history::timestamp.eq(to_db(Utc::now() - Duration::days(days))),
                )
            };
            c.transaction::<_, diesel::result::Error, _>(|c| {
                for row in [sample("n1", 40), sample("n2", 35), sample("n1", 2)] {
                    diesel::insert_into(node_metrics_history::table)
                        .values(row)
                        .execute(c)?;
                }
                Ok(())
            })?;
            let latest = |node: &str, days: i64| {
                let t = to_db(Utc::now() - Duration::days(days));
                (
                    node_metrics_latest::cluster_id.eq("ghost"),
                    node_metrics_latest::node_name.eq(node.to_owned()),
                    node_metrics_latest::timestamp.eq(t),
                    node_metrics_latest::snapshot.eq("{}"),
                    node_metrics_latest::updated_at.eq(t),
                )
            };
            c.transaction::<_, diesel::result::Error, _>(|c| {
                for row in [latest("gone", 31), latest("n1", 0)] {
                    diesel::insert_into(node_metrics_latest::table)
                        .values(row)
                        .execute(c)?;
                }
                Ok(())
            })?;
            Ok(())
        })
        .await
        .unwrap();
    let (s, _) = put_retention(&app, json!({"event_max_count": 20})).await;
    assert_eq!(s, 200);

    let body = json!({"targets": ["events", "node_metrics"], "dry_run": true});
    let dry = cleanup(&app, body).await;
    assert_eq!(dry["dry_run"], true);
    // 10 past their age, then 10 of the 30 left beyond the max of 20.
    assert_eq!(dry["deleted"]["events"], 20, "{dry}");
    assert_eq!(dry["deleted"]["node_metrics"], 3, "{dry}");
    assert!(dry["duration_ms"].is_u64());
    assert_eq!(
        count_events(&app, "ghost").await,
        40,
        "a dry run deletes nothing"
    );

    let real = cleanup(&app, json!({"targets": ["events", "node_metrics"]})).await;
    assert_eq!(real["dry_run"], false);
    assert_eq!(
        real["deleted"], dry["deleted"],
        "dry-run counts equal the real ones"
    );
    assert_eq!(count_events(&app, "ghost").await, 20);
    // The newest 20 stay: new-10 .. new-29.
    let kept: Vec<String> = app
        .state
        .db
        .read(|c| {
            Ok(cluster_events::table
                .select(cluster_events::event_uid)
                .order(cluster_events::event_uid)
                .load(c)?)
        })
        .await
        .unwrap();
    let mut want: Vec<String> = (10..30).map(|i| format!("new-{i}")).collect();
    want.sort();
    assert_eq!(kept, want);
    let (history, latest): (i64, Vec<String>) = app
        .state
        .db
        .read(|c| {
            let h = node_metrics_history::table.count().get_result(c)?;
            let l = node_metrics_latest::table
                .select(node_metrics_latest::node_name)
                .load(c)?;
            Ok((h, l))
        })
        .await
        .unwrap();
    assert_eq!(history, 1);
    assert_eq!(latest, vec!["n1".to_owned()]);

    // A second run finds nothing left to do.
    let again = cleanup(&app, json!({"targets": ["events", "node_metrics"]})).await;
    assert_eq!(again["deleted"], json!({"events": 0, "node_metrics": 0}));
}

#[actix_web::test]
async fn finished_commands_are_deleted_pending_and_running_kept() {
    let app = spawn_app().await;
    app.state
        .db
        .write(|c| {
            let old = to_db(Utc::now() - Duration::days(200));
            let row = |id: &str, status: &str, finished: bool| {
                (
                    command_history::command_id.eq(id.to_owned()),
                    command_history::cluster_id.eq("never-registered"),
                    command_history::action.eq("restart"),
                    command_history::status.eq(status.to_owned()),
                    command_history::created_at.eq(old),
                    command_history::finished_at.eq(finished.then_some(old)),
                )
            };
            c.transaction::<_, diesel::result::Error, _>(|c| {
                for row in [
                    row("c-ok", "success", true),
                    row("c-fail", "failed", true),
                    row("c-timeout", "timeout", true),
                    row("c-pending", "pending", false),
                    row("c-running", "running", false),
                ] {
                    diesel::insert_into(command_history::table)
                        .values(row)
                        .execute(c)?;
                }
                Ok(())
            })?;
            Ok(())
        })
        .await
        .unwrap();
    let dry = cleanup(&app, json!({"targets": ["commands"], "dry_run": true})).await;
    assert_eq!(dry["deleted"], json!({"commands": 3}));
    let real = cleanup(&app, json!({"targets": ["commands"]})).await;
    assert_eq!(real["deleted"], json!({"commands": 3}));
    let mut left: Vec<String> = app
        .state
        .db
        .read(|c| {
            Ok(command_history::table
                .select(command_history::command_id)
                .load(c)?)
        })
        .await
        .unwrap();
    left.sort();
    assert_eq!(left, vec!["c-pending", "c-running"]);
}

#[actix_web::test]
async fn audit_rows_age_out_but_unresolved_security_events_stay() {
    let app = spawn_app().await;
    app.state
        .db
        .write(|c| {
            let at = |days: i64| to_db(Utc::now() - Duration::days(days));
            let audit = |action: &str, days: i64| {
                (
                    audit_logs::timestamp.eq(at(days)),
                    audit_logs::action.eq(action.to_owned()),
                    audit_logs::resource.eq("/x"),
                    audit_logs::method.eq("GET"),
                    audit_logs::status_code.eq(200),
                    audit_logs::success.eq(true),
                )
            };
            c.transaction::<_, diesel::result::Error, _>(|c| {
                for row in [audit("test.old", 200), audit("test.new", 1)] {
                    diesel::insert_into(audit_logs::table)
                        .values(row)
                        .execute(c)?;
                }
                Ok(())
            })?;
            let sec = |kind: &str, days: i64, resolved: bool| {
                (
                    security_events::timestamp.eq(at(days)),
                    security_events::event_type.eq(kind.to_owned()),
                    security_events::severity.eq("low"),
                    security_events::resolved.eq(resolved),
                )
            };
            c.transaction::<_, diesel::result::Error, _>(|c| {
                for row in [
                    sec("test.old_resolved", 200, true),
                    sec("test.old_unresolved", 200, false),
                    sec("test.new_resolved", 1, true),
                ] {
                    diesel::insert_into(security_events::table)
                        .values(row)
                        .execute(c)?;
                }
                Ok(())
            })?;
            Ok(())
        })
        .await
        .unwrap();
    let body = json!({"targets": ["audit", "security_events"]});
    let dry = cleanup(
        &app,
        json!({"targets": ["audit", "security_events"], "dry_run": true}),
    )
    .await;
    let real = cleanup(&app, body).await;
    assert_eq!(real["deleted"], json!({"audit": 1, "security_events": 1}));
    assert_eq!(real["deleted"], dry["deleted"]);
    let (audit, sec): (Vec<String>, Vec<String>) = app
        .state
        .db
        .read(|c| {
            let a = audit_logs::table
                .select(audit_logs::action)
                .filter(audit_logs::action.like("test.%"))
                .load(c)?;
            let mut s: Vec<String> = security_events::table
                .select(security_events::event_type)
                .filter(security_events::event_type.like("test.%"))
                .load(c)?;
            s.sort();
            Ok((a, s))
        })
        .await
        .unwrap();
    assert_eq!(audit, vec!["test.new"]);
    assert_eq!(sec, vec!["test.new_resolved", "test.old_unresolved"]);
}

#[actix_web::test]
async fn a_policy_change_takes_effect_without_a_restart() {
    let app = spawn_app().await;
    ghost_cluster(&app, "ghost").await;
    events(&app, "ghost", "ten-days", 5, 10).await;
    let (s, policy) = app.get("/api/v2/admin/retention").await;
    assert_eq!(s, 200);
    assert_eq!(policy["event_retention_days"], 30);
    assert_eq!(policy["event_max_count"], 100_000);
    assert_eq!(policy["audit_retention_days"], 180);
    assert_eq!(policy["slo_raw_retention_hours"], 48);
    let r = cleanup(&app, json!({"targets": ["events"], "cluster_id": "ghost"})).await;
    assert_eq!(r["deleted"]["events"], 0);

    let (s, changed) = put_retention(&app, json!({"event_retention_days": 7})).await;
    assert_eq!(s, 200, "{changed}");
    assert_eq!(changed["event_retention_days"], 7);
    assert_eq!(
        changed["event_max_count"], 100_000,
        "other fields unchanged"
    );
    let (_, policy) = app.get("/api/v2/admin/retention").await;
    assert_eq!(policy, changed);
    let r = cleanup(&app, json!({"targets": ["events"], "cluster_id": "ghost"})).await;
    assert_eq!(r["deleted"]["events"], 5);
    assert_eq!(count_events(&app, "ghost").await, 0);

    // Bad values are refused, naming the field; the policy stays as it was.
    for bad in [
        json!({"metrics_retention_days": 0}),
        json!({"metrics_retention_days": -1}),
        json!({"metrics_retention_days": "30"}),
        json!({"metrics_retention_days": 1_000_000}),
    ] {
        let (s, e) = put_retention(&app, bad).await;
        assert_eq!(s, 400, "{e}");
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("metrics_retention_days"),
            "{e}"
        );
    }
    let (s, e) = put_retention(&app, json!({"bogus": 1})).await;
    assert_eq!(s, 400, "{e}");
    let (_, after) = app.get("/api/v2/admin/retention").await;
    assert_eq!(after, changed);

    // The stored policy survives a restart.
    let app = app.restart().await;
    let (_, after) = app.get("/api/v2/admin/retention").await;
    assert_eq!(after, changed);
}

#[actix_web::test]
async fn unknown_targets_are_refused_and_cleanup_is_admin_only() {
    let app = spawn_app().await;
    let (s, e) = app
        .post("/api/v2/admin/cleanup", &json!({"targets": ["pods"]}))
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("pods"), "{e}");
    let viewer = app.token_for("viewer1", "viewer").await;
    for (m, path) in [
        (Method::POST, "/api/v2/admin/cleanup"),
        (Method::POST, "/api/v2/admin/backup"),
        (Method::GET, "/api/v2/admin/retention"),
        (Method::PUT, "/api/v2/admin/retention"),
    ] {
        let r = app
            .api(m, path, Some(&viewer))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
}

#[actix_web::test]
async fn a_backup_opens_and_holds_the_rows() {
    let app = spawn_app().await;
    if app.db.is_postgres() {
        return; // a file backup is SQLite's; PostgreSQL answers 501 (storage.rs)
    }
    ghost_cluster(&app, "ghost").await;
    events(&app, "ghost", "e", 250, 1).await;
    // Writes keep going while the backup runs.
    let db = app.state.db.clone();
    let writer = actix_web::rt::spawn(async move {
        for i in 0..50 {
            let uid = format!("during-{i}");
            db.write(move |c| {
                let t = to_db(Utc::now());
                diesel::insert_into(cluster_events::table)
                    .values((
                        cluster_events::event_uid.eq(uid),
                        cluster_events::cluster_id.eq("ghost"),
                        cluster_events::last_timestamp.eq(t),
                        cluster_events::created_at.eq(t),
                        cluster_events::updated_at.eq(t),
                    ))
                    .execute(c)?;
                Ok(())
            })
            .await
            .unwrap();
        }
    });
    let (s, b) = app.post("/api/v2/admin/backup", &json!({})).await;
    writer.await.unwrap();
    assert_eq!(s, 200, "{b}");
    let path = b["path"].as_str().unwrap();
    assert!(path.contains("/backups/master-"), "{path}");
    assert_eq!(
        b["bytes"].as_u64().unwrap(),
        std::fs::metadata(path).unwrap().len()
    );
    let mut conn = SqliteConnection::establish(path).unwrap();
    let n: i64 = cluster_events::table
        .filter(cluster_events::cluster_id.eq("ghost"))
        .filter(cluster_events::event_uid.like("e-%"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(n, 250);
    let integrity: Vec<String> = diesel::sql_query("PRAGMA integrity_check")
        .load::<Check>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.integrity_check)
        .collect();
    assert_eq!(integrity, vec!["ok"]);
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = diesel::sql_types::Text)]
    integrity_check: String,
}

#[actix_web::test]
async fn a_large_cleanup_runs_in_many_batches_and_misses_nothing() {
    let app = spawn_app().await;
    ghost_cluster(&app, "big").await;
    events(&app, "big", "old", 3_000, 60).await;
    events(&app, "big", "new", 7, 0).await;
    let dry = cleanup(&app, json!({"targets": ["events"], "dry_run": true})).await;
    assert_eq!(dry["deleted"]["events"], 3_000);
    let real = cleanup(&app, json!({"targets": ["events"]})).await;
    assert_eq!(real["deleted"]["events"], 3_000);
    assert_eq!(count_events(&app, "big").await, 7);
}
