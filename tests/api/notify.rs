//! The notifier end to end: agents' pushes and silences in, real HTTP and SMTP receivers out.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_with, TestApp};
use crate::sinks::{HttpSink, SinkReply, SmtpSink};

const WEBHOOK_SECRET: &str = "whsec-0123456789abcdef";

/// Short timers: offline after 400 ms, groups wait 250 ms, retries start at 200 ms.
fn fast(s: &mut atlhyper_master::config::Settings) {
    s.heartbeat_timeout = Duration::from_millis(400);
    s.alert_group_wait = Duration::from_millis(250);
    s.notify_retry_base = Duration::from_millis(200);
    s.notify_retry_max = Duration::from_secs(2);
    s.notify_breaker_failures = 3;
    s.notify_breaker_cooldown = Duration::from_secs(1);
    s.notify_budget_window = Duration::from_secs(3);
}

async fn put_channel(app: &TestApp, kind: &str, body: Value) -> Value {
    let r = app
        .api(
            reqwest::Method::PUT,
            &format!("/api/v2/notify/channels/{kind}"),
            Some(&app.admin_token),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "put channel {kind}");
    r.json().await.unwrap()
}

async fn webhook(app: &TestApp, sink: &HttpSink, extra: Value) -> Value {
    let mut config = json!({"url": sink.url("/hook"), "secret": WEBHOOK_SECRET});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    put_channel(app, "webhook", json!({"enabled": true, "config": config})).await
}

/// Heartbeats `cluster` once; it goes offline after the heartbeat timeout.
async fn blip(app: &TestApp, cluster: &str) {
    assert_eq!(app.heartbeat(cluster).await.status(), 200);
}

async fn alerts(app: &TestApp, query: &str) -> Value {
    let (s, v) = app.get(&format!("/api/v2/alerts?{query}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn deliveries(app: &TestApp, query: &str) -> Value {
    let (s, v) = app.get(&format!("/api/v2/notify/deliveries?{query}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn settle(app: &TestApp, d: Duration) {
    tokio::time::sleep(d).await;
    app.state.notify.flush().await;
}

#[actix_web::test]
async fn offline_then_recovery_sends_exactly_one_message_each() {
    let sink = HttpSink::start().await;
    let app = spawn_with(fast).await;
    webhook(&app, &sink, json!({})).await;
    // The live feed carries the alert too (subscribed before the cluster exists).
    let sse = app
        .api(
            reqwest::Method::GET,
            "/api/v2/subscribe",
            Some(&app.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    blip(&app, "c1").await;
    let mut feed = sse.bytes_stream();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        use futures_util::StreamExt;
        while !text.contains("event: alert") {
            let chunk = feed.next().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("an alert event on the live feed");
    assert!(text.contains(r#""status":"firing""#), "{text}");
    assert!(text.contains(r#""rule":"agent_offline""#), "{text}");
    let fired = got[0].json();
    assert_eq!(fired["kind"], "firing");
    assert_eq!(fired["rule"], "agent_offline");
    assert_eq!(fired["severity"], "critical");
    assert_eq!(fired["alerts"][0]["resource"]["kind"], "Cluster");
    assert_eq!(fired["alerts"][0]["link"], "/api/v2/clusters/c1/status");
    // The signature covers the exact body.
    let sig = got[0].header("x-signature").unwrap().to_string();
    assert_eq!(
        sig,
        format!("sha256={}", hmac_hex(WEBHOOK_SECRET, &got[0].body))
    );

    blip(&app, "c1").await;
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    let resolved = got[1].json();
    assert_eq!(resolved["kind"], "resolved");
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    // It goes offline again later, but in this window: nothing more than the two.
    assert_eq!(sink.requests().len(), 2);
    let hist = alerts(&app, "cluster_id=c1&status=resolved").await;
    assert_eq!(hist["total"], 1, "{hist}");
    assert_eq!(hist["items"][0]["notified"], true);
    assert!(hist["items"][0]["resolved_at"].is_string());
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    m.update(body);
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[actix_web::test]
async fn flapping_inside_group_wait_sends_nothing_but_records_history() {
    let sink = HttpSink::start().await;
    let app = spawn_with(|s| {
        fast(s);
        s.alert_group_wait = Duration::from_secs(2);
    })
    .await;
    webhook(&app, &sink, json!({})).await;
    for round in 1..=3 {
        blip(&app, "flappy").await;
        eventually(Duration::from_secs(5), || async {
            let v = alerts(&app, "cluster_id=flappy&status=firing").await;
            (v["total"] == 1).then_some(())
        })
        .await;
        blip(&app, "flappy").await; // back online before the group is sent
        eventually(Duration::from_secs(5), || async {
            let v = alerts(&app, "cluster_id=flappy&status=resolved").await;
            (v["total"] == round).then_some(())
        })
        .await;
    }
    // Keep it online past the group wait.
    let until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < until {
        blip(&app, "flappy").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    app.state.notify.flush().await;
    assert_eq!(sink.requests().len(), 0, "flapping must not page anyone");
    let v = alerts(&app, "cluster_id=flappy").await;
    assert_eq!(v["total"], 3);
    assert!(v["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["notified"] == false));
}

fn warning_snapshot(cluster: &str, pods: usize) -> Value {
    let now = chrono::Utc::now().to_rfc3339();
    let events: Vec<Value> = (0..pods)
        .map(|i| {
            json!({
                "uid": format!("ev-{i}"), "name": format!("web-7d9f-{i}.17a"), "namespace": "shop",
                "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
                "source": "kubelet", "count": 5, "first_timestamp": now, "last_timestamp": now,
                "created_at": now,
                "involved_object": {"kind": "Pod", "name": format!("web-7d9f-{i}"), "namespace": "shop"},
            })
        })
        .collect();
    json!({"cluster_id": cluster, "fetched_at": now, "events": events, "summary": {"total_pods": pods}})
}

#[actix_web::test]
async fn fifty_warnings_of_one_reason_on_one_deployment_make_one_message() {
    let sink = HttpSink::start().await;
    let app = spawn_with(fast).await;
    webhook(&app, &sink, json!({})).await;
    let r = app
        .push_json("shop-prod", &warning_snapshot("shop-prod", 50))
        .await;
    assert_eq!(r.status(), 200);
    // The same events again (the agent repeats them every push): still one episode each.
    let r = app
        .push_json("shop-prod", &warning_snapshot("shop-prod", 50))
        .await;
    assert_eq!(r.status(), 200);
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    settle(&app, Duration::from_millis(800)).await;
    let warnings: Vec<Value> = sink
        .requests()
        .iter()
        .map(|r| r.json())
        .filter(|m| m["rule"] == "warning_events")
        .collect();
    assert_eq!(warnings.len(), 1, "one grouped message");
    let m = &got[0].json();
    assert_eq!(m["alerts"].as_array().unwrap().len(), 20);
    assert_eq!(m["omitted"], 30);
    assert!(
        m["title"].as_str().unwrap().contains("FIRING:50"),
        "{}",
        m["title"]
    );
    let line = &m["alerts"][0];
    assert_eq!(line["resource"]["kind"], "Pod");
    let details: Vec<String> = line["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[0].as_str().unwrap().to_string())
        .collect();
    assert!(details.contains(&"reason".to_string()), "{details:?}");
    let v = alerts(&app, "cluster_id=shop-prod&status=firing&limit=1000").await;
    let n = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule_name"] == "warning_events")
        .count();
    assert_eq!(n, 50);
}

#[actix_web::test]
async fn a_silence_suppresses_messages_but_history_is_recorded() {
    let sink = HttpSink::start().await;
    let app = spawn_with(fast).await;
    webhook(&app, &sink, json!({})).await;
    let ends = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (s, silence) = app
        .post(
            "/api/v2/silences",
            &json!({"matchers": {"cluster_id": "quiet", "rule": "agent_offline"}, "ends_at": ends, "comment": "maintenance"}),
        )
        .await;
    assert_eq!(s, 201, "{silence}");
    assert_eq!(silence["state"], "active");
    blip(&app, "quiet").await;
    blip(&app, "loud").await;
    // The unsilenced cluster's message arrives; the silenced one's never does.
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    settle(&app, Duration::from_millis(600)).await;
    assert_eq!(sink.requests().len(), 1);
    assert_eq!(got[0].json()["cluster_id"], "loud");
    let v = alerts(&app, "cluster_id=quiet").await;
    assert_eq!(v["total"], 1, "history is still recorded: {v}");
    assert_eq!(v["items"][0]["notified"], false);
    assert_eq!(v["items"][0]["suppressed"], "silenced");

    // Expiring the silence while it still fires: now it is sent.
    let id = silence["id"].as_i64().unwrap();
    let r = app
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v2/silences/{id}"),
            Some(&app.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[1].json()["cluster_id"], "quiet");
}

#[actix_web::test]
async fn a_500_then_success_is_delivered_once() {
    let sink = HttpSink::start().await;
    sink.script(vec![SinkReply::Status(500)]);
    let app = spawn_with(fast).await;
    webhook(&app, &sink, json!({})).await;
    blip(&app, "c5").await;
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[0].status, 500);
    assert_eq!(got[1].status, 200);
    assert_eq!(got[0].body, got[1].body, "the retry sends the same message");
    settle(&app, Duration::from_millis(700)).await;
    assert_eq!(sink.ok_count(), 1);
    let d = deliveries(&app, "channel=webhook").await;
    assert_eq!(d["total"], 1, "{d}");
    assert_eq!(d["items"][0]["status"], "delivered");
    assert_eq!(d["items"][0]["attempts"], 2);
    assert!(
        d["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{d}"
    );
}

#[actix_web::test]
async fn a_429_retry_after_is_respected() {
    let sink = HttpSink::start().await;
    sink.script(vec![SinkReply::WithHeaders(
        429,
        vec![("Retry-After".into(), "2".into())],
    )]);
    let app = spawn_with(fast).await;
    webhook(&app, &sink, json!({})).await;
    blip(&app, "c6").await;
    let got = sink.wait_for(2, Duration::from_secs(8)).await;
    let gap = got[1].at - got[0].at;
    // Without the header the retry would come after at most 200 ms.
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
    assert_eq!(got[1].status, 200);
}

#[actix_web::test]
async fn the_breaker_opens_after_n_failures_and_closes_again() {
    let sink = HttpSink::start().await;
    sink.script(vec![
        SinkReply::Status(503),
        SinkReply::Status(503),
        SinkReply::Status(503),
    ]);
    let app = spawn_with(|s| {
        fast(s);
        s.notify_breaker_cooldown = Duration::from_secs(3);
    })
    .await;
    webhook(&app, &sink, json!({})).await;
    blip(&app, "c7").await;
    sink.wait_for(3, Duration::from_secs(5)).await;
    let open = eventually(Duration::from_secs(2), || async {
        let (_, c) = app.get("/api/v2/notify/channels/webhook").await;
        (c["health"]["breaker"] == "open").then_some(c)
    })
    .await;
    assert_eq!(open["health"]["consecutive_failures"], 3);
    let got = sink.wait_for(4, Duration::from_secs(8)).await;
    // The trial waited for the cooldown (3 s), far longer than the backoff would have.
    let gap = got[3].at - got[2].at;
    assert!(gap >= Duration::from_millis(2900), "{gap:?}");
    assert_eq!(got[3].status, 200);
    eventually(Duration::from_secs(2), || async {
        let (_, c) = app.get("/api/v2/notify/channels/webhook").await;
        (c["health"]["breaker"] == "closed" && c["health"]["consecutive_failures"] == 0)
            .then_some(())
    })
    .await;
}

#[actix_web::test]
async fn a_restart_between_failure_and_retry_still_delivers_exactly_once() {
    let sink = HttpSink::start().await;
    sink.script(vec![SinkReply::Status(500)]);
    let app = spawn_with(|s| {
        fast(s);
        s.notify_retry_base = Duration::from_secs(3);
        s.notify_retry_max = Duration::from_secs(3);
    })
    .await;
    webhook(&app, &sink, json!({})).await;
    blip(&app, "c8").await;
    sink.wait_for(1, Duration::from_secs(5)).await;
    eventually(Duration::from_secs(3), || async {
        let d = deliveries(&app, "channel=webhook").await;
        (d["items"][0]["attempts"] == 1 && d["items"][0]["status"] == "pending").then_some(())
    })
    .await;
    let app = app
        .restart_with(|s| {
            s.notify_retry_base = Duration::from_millis(200);
        })
        .await;
    let got = sink.wait_for(2, Duration::from_secs(8)).await;
    assert_eq!(got[1].status, 200);
    settle(&app, Duration::from_secs(1)).await;
    assert_eq!(sink.ok_count(), 1, "delivered exactly once");
    let d = deliveries(&app, "channel=webhook").await;
    assert_eq!(d["total"], 1, "{d}");
    assert_eq!(d["items"][0]["status"], "delivered");
    // The firing alert was rebuilt, not fired twice.
    let v = alerts(&app, "cluster_id=c8").await;
    assert_eq!(v["total"], 1, "{v}");
}

#[actix_web::test]
async fn a_budget_overflow_becomes_one_digest() {
    let sink = HttpSink::start().await;
    let app = spawn_with(fast).await;
    webhook(&app, &sink, json!({"max_per_minute": 2})).await;
    for c in ["b1", "b2", "b3", "b4", "b5"] {
        blip(&app, c).await;
    }
    // Every alert reaches the receiver (folded, not dropped)...
    let lines = |got: &[crate::sinks::Received]| -> usize {
        got.iter()
            .map(|r| r.json()["alerts"].as_array().map_or(0, Vec::len))
            .sum()
    };
    eventually(Duration::from_secs(10), || async {
        (lines(&sink.requests()) == 5).then_some(())
    })
    .await;
    settle(&app, Duration::from_millis(500)).await;
    let got = sink.requests();
    assert_eq!(lines(&got), 5, "each alert exactly once");
    // ...in fewer messages than alerts, never more than 2 inside one 3 s window.
    assert!(got.len() < 5, "{} requests", got.len());
    for w in got.windows(3) {
        assert!(
            w[2].at - w[0].at >= Duration::from_millis(2900),
            "3 sends inside one budget window"
        );
    }
    let digest = got
        .iter()
        .map(|r| r.json())
        .find(|m| m["kind"] == "digest")
        .expect("a digest");
    assert!(digest["title"].as_str().unwrap().contains("DIGEST"));
    let folded = deliveries(&app, "status=folded").await;
    assert!(folded["total"].as_i64().unwrap() >= 2, "{folded}");
    assert!(folded["items"][0]["digest_id"].is_number());
}

#[actix_web::test]
async fn disabled_or_invalid_channels_are_not_effective_and_send_nothing() {
    let sink = HttpSink::start().await;
    let app = spawn_with(fast).await;
    let c = put_channel(
        &app,
        "webhook",
        json!({"enabled": false, "config": {"url": sink.url("/hook")}}),
    )
    .await;
    assert_eq!(c["effective"], false);
    assert_eq!(c["validation_errors"], json!([]));
    let c = put_channel(
        &app,
        "slack",
        json!({"enabled": true, "config": {"webhook_url": "not a url"}}),
    )
    .await;
    assert_eq!(c["enabled"], true);
    assert_eq!(c["effective"], false);
    assert!(
        !c["validation_errors"].as_array().unwrap().is_empty(),
        "{c}"
    );
    blip(&app, "c9").await;
    eventually(Duration::from_secs(5), || async {
        let v = alerts(&app, "cluster_id=c9&status=firing").await;
        (v["items"][0]["suppressed"] == "no_channel").then_some(())
    })
    .await;
    settle(&app, Duration::from_millis(500)).await;
    assert_eq!(sink.requests().len(), 0);
    assert_eq!(deliveries(&app, "").await["total"], 0);
    // The test endpoint reports the real problem.
    let (s, t) = app
        .post("/api/v2/notify/channels/slack/test", &json!({}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(t["success"], false);
    assert!(t["error"].as_str().unwrap().contains("webhook_url"), "{t}");
    let (_, t) = app
        .post("/api/v2/notify/channels/feishu/test", &json!({}))
        .await;
    assert_eq!(t["success"], false);
}

#[actix_web::test]
async fn channel_secrets_never_appear_in_replies_and_are_encrypted_at_rest() {
    let sink = HttpSink::start().await;
    let app = spawn_with(fast).await;
    let slack_token = "T0001/B0002/slack-secret-token-XYZ";
    let ding_secret = "SECdingtalk-signing-secret-123";
    let smtp_password = "smtp-password-very-secret";
    let replies = vec![
        put_channel(&app, "slack", json!({"enabled": true, "config": {"webhook_url": sink.url(&format!("/services/{slack_token}"))}})).await,
        webhook(&app, &sink, json!({})).await,
        put_channel(&app, "dingtalk", json!({"enabled": true, "config": {"webhook_url": sink.url("/robot/send?access_token=ding-access-token-abc"), "secret": ding_secret}})).await,
        put_channel(&app, "email", json!({"enabled": true, "config": {"smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_user": "u", "smtp_password": smtp_password, "smtp_tls": "none", "from_address": "alerts@example.com", "to_addresses": ["ops@example.com"]}})).await,
    ];
    let secrets = [
        slack_token,
        WEBHOOK_SECRET,
        ding_secret,
        "ding-access-token-abc",
        smtp_password,
    ];
    let (_, list) = app.get("/api/v2/notify/channels").await;
    let (_, one) = app.get("/api/v2/notify/channels/email").await;
    let (_, audit) = app.get("/api/v2/audit/logs?limit=1000").await;
    let all = format!("{replies:?}{list}{one}{audit}");
    for s in secrets {
        assert!(!all.contains(s), "secret {s:?} leaked");
    }
    assert_eq!(one["config"]["smtp_password"], "****cret");
    // A GET → PUT round trip keeps the stored secret.
    let back = put_channel(
        &app,
        "email",
        json!({"enabled": true, "config": one["config"].clone()}),
    )
    .await;
    assert_eq!(back["effective"], true, "{back}");
    // At rest: the database file holds none of them in clear.
    app.state.audit.flush().await;
    let (raw, wal) = match app.state.db.path() {
        Some(path) => (
            std::fs::read(path).unwrap(),
            std::fs::read(path.with_extension("db-wal")).unwrap_or_default(),
        ),
        // PostgreSQL: every text column a secret could have reached.
        None => {
            use atlhyper_master::db::schema::{audit_logs, notify_channels, notify_deliveries};
            use diesel::prelude::*;
            let text = app
                .state
                .db
                .read(|c| {
                    let mut all: Vec<String> = notify_channels::table
                        .select(notify_channels::config)
                        .load(c)?;
                    all.extend(
                        audit_logs::table
                            .select(audit_logs::request_body)
                            .load::<Option<String>>(c)?
                            .into_iter()
                            .flatten(),
                    );
                    all.extend(
                        notify_deliveries::table
                            .select(notify_deliveries::message)
                            .load::<String>(c)?,
                    );
                    Ok(all.join("\n"))
                })
                .await
                .unwrap();
            (text.into_bytes(), Vec::new())
        }
    };
    for s in secrets {
        for bytes in [&raw, &wal] {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "secret {s:?} stored in clear"
            );
        }
    }
}

#[actix_web::test]
async fn email_slack_dingtalk_and_feishu_each_get_the_alert() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let app = spawn_with(fast).await;
    put_channel(
        &app,
        "slack",
        json!({"enabled": true, "config": {"webhook_url": sink.url("/slack")}}),
    )
    .await;
    put_channel(&app, "dingtalk", json!({"enabled": true, "config": {"webhook_url": sink.url("/ding?access_token=abc"), "secret": "SECabcdef0123456789"}})).await;
    put_channel(&app, "feishu", json!({"enabled": true, "config": {"webhook_url": sink.url("/feishu"), "secret": "feishu-secret-0123"}})).await;
    let c = put_channel(
        &app,
        "email",
        json!({"enabled": true, "config": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port(), "smtp_tls": "none", "from_address": "alerts@example.com", "to_addresses": ["ops@example.com", "oncall@example.com"]}}),
    )
    .await;
    assert_eq!(c["effective"], true, "{c}");
    blip(&app, "multi").await;
    let got = sink.wait_for(3, Duration::from_secs(6)).await;
    let mut paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/ding", "/feishu", "/slack"]);
    let ding = got.iter().find(|r| r.path == "/ding").unwrap();
    assert!(ding.query.contains("sign=") && ding.query.contains("timestamp="));
    assert_eq!(ding.json()["msgtype"], "markdown");
    let feishu = got.iter().find(|r| r.path == "/feishu").unwrap().json();
    assert!(feishu["sign"].is_string());
    let slack = got.iter().find(|r| r.path == "/slack").unwrap().json();
    assert!(slack["text"].as_str().unwrap().contains("agent_offline"));
    let mails = smtp.wait_for(1, Duration::from_secs(6)).await;
    assert_eq!(mails[0].to.len(), 2);
    assert!(mails[0].data.contains("Message-ID:") || mails[0].data.contains("Message-Id:"));
    assert!(mails[0].data.contains("multipart/alternative"));
}

#[actix_web::test]
async fn user_rules_are_validated_and_built_in_rules_are_kept() {
    let app = spawn_with(fast).await;
    let (s, list) = app.get("/api/v2/alert-rules").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for b in [
        "agent_offline",
        "warning_events",
        "node_cpu_high",
        "deployment_unavailable",
        "pod_restarting",
        "command_failed",
    ] {
        assert!(names.contains(&b), "{b} missing from {names:?}");
    }
    let (s, e) = app
        .post(
            "/api/v2/alert-rules",
            &json!({"name": "bad", "resource_type": "node", "severity": "warning",
                    "condition": {"metric": "node.cpuu", "op": ">", "threshold": 1}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        e["error"].as_str().unwrap().contains("condition.metric"),
        "{e}"
    );
    let (s, e) = app
        .post(
            "/api/v2/alert-rules",
            &json!({"name": "bad", "resource_type": "node", "severity": "warning",
                    "condition": {"metric": "node.cpu_usage", "op": "~", "threshold": 1}}),
        )
        .await;
    assert_eq!(s, 400);
    assert!(e["error"].as_str().unwrap().contains("condition.op"), "{e}");
    let (s, rule) = app
        .post(
            "/api/v2/alert-rules",
            &json!({"name": "hot shop pods", "resource_type": "pod", "severity": "critical",
                    "namespace": "shop", "labels": {"app": "web"}, "for": "2m",
                    "condition": {"metric": "pod.restarts", "op": ">=", "threshold": 10},
                    "notify_channels": ["slack"], "cooldown_sec": 600}),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    assert_eq!(rule["condition"]["for"], "2m");
    let (s, _) = app
        .post("/api/v2/alert-rules", &json!({"name": "hot shop pods", "resource_type": "pod", "severity": "info", "condition": {"metric": "pod.restarts", "op": ">", "threshold": 1}}))
        .await;
    assert_eq!(s, 409);
    let id = rule["id"].as_i64().unwrap();
    let r = app
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v2/alert-rules/{id}"),
            Some(&app.admin_token),
        )
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["enabled"], false);
    assert_eq!(v["condition"]["threshold"], 10.0);
    // Built-in: tunable, not deletable.
    let cpu = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "node_cpu_high")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = app
        .api(reqwest::Method::PATCH, &format!("/api/v2/alert-rules/{cpu}"), Some(&app.admin_token))
        .json(&json!({"condition": {"metric": "node.cpu_usage", "op": ">=", "threshold": 75, "for": "1m"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v2/alert-rules/{cpu}"),
            Some(&app.admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    // Viewers read, only admins write.
    let viewer = app.token_for("vera", "viewer").await;
    let r = app
        .api(reqwest::Method::GET, "/api/v2/alert-rules", Some(&viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .api(reqwest::Method::POST, "/api/v2/alert-rules", Some(&viewer))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

fn node_snapshot(cluster: &str, cpu: f64) -> Value {
    let now = chrono::Utc::now().to_rfc3339();
    json!({
        "cluster_id": cluster, "fetched_at": now,
        "nodes": [{"summary": {"name": "node-a", "ready": "True"}, "labels": {"pool": "gpu"}}],
        "node_metrics": {"node-a": {"node_name": "node-a", "timestamp": now, "cpu": {"usage_percent": cpu},
                                      "memory": {"usage_percent": 10.0}}},
        "summary": {"total_nodes": 1},
    })
}

#[actix_web::test]
async fn an_offline_cluster_inhibits_its_other_alerts_and_says_how_many() {
    let sink = HttpSink::start().await;
    let app = spawn_with(fast).await;
    webhook(&app, &sink, json!({})).await;
    let (s, r) = app
        .post(
            "/api/v2/alert-rules",
            &json!({"name": "cpu over 50", "resource_type": "node", "severity": "warning",
                    "condition": {"metric": "node.cpu_usage", "op": ">", "threshold": 50}}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        app.push_json("inh", &node_snapshot("inh", 97.0))
            .await
            .status(),
        200
    );
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    let m = got[0].json();
    assert_eq!(m["rule"], "cpu over 50");
    assert!(
        m["alerts"][0]["description"]
            .as_str()
            .unwrap()
            .contains("97"),
        "{m}"
    );
    // Silence from the agent: offline, and the offline message counts the inhibited one.
    let got = sink.wait_for(2, Duration::from_secs(5)).await;
    let off = got[1].json();
    assert_eq!(off["rule"], "agent_offline");
    assert!(
        off["summary"].as_str().unwrap().contains("1 other alert"),
        "{off}"
    );
    // It recovers with cool nodes: the offline recovery and the cpu resolve both arrive.
    assert_eq!(
        app.push_json("inh", &node_snapshot("inh", 12.0))
            .await
            .status(),
        200
    );
    let got = sink.wait_for(4, Duration::from_secs(5)).await;
    let kinds: Vec<(String, String)> = got[2..]
        .iter()
        .map(|r| {
            let m = r.json();
            (
                m["rule"].as_str().unwrap().to_string(),
                m["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("agent_offline".into(), "resolved".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("cpu over 50".into(), "resolved".into())),
        "{kinds:?}"
    );
}

#[actix_web::test]
async fn retention_removes_old_resolved_alerts_and_finished_deliveries_only() {
    use diesel::RunQueryDsl;
    let app = spawn_with(fast).await;
    app.state
        .db
        .write(|c| {
            diesel::sql_query(
                "INSERT INTO alert_history (uid, rule_name, fingerprint, cluster_id, severity, title, message,
                   resource_kind, resource_namespace, resource_name, status, fired_at, resolved_at)
                 VALUES ('old', 'r', '1|c|a', 'c', 'info', 't', 'm', 'Node', '', 'a', 'resolved',
                         '2020-01-01 00:00:00', '2020-01-01 00:10:00'),
                        ('old-firing', 'r', '1|c|b', 'c', 'info', 't', 'm', 'Node', '', 'b', 'firing',
                         '2020-01-01 00:00:00', NULL)",
            )
            .execute(c)?;
            diesel::sql_query(
                "INSERT INTO notify_deliveries (channel, kind, title, message, status, next_attempt_at, created_at, updated_at)
                 VALUES ('webhook', 'firing', 't', '{}', 'delivered', '2020-01-01 00:00:00', '2020-01-01 00:00:00', '2020-01-01 00:00:00'),
                        ('webhook', 'firing', 't', '{}', 'pending', '2099-01-01 00:00:00', '2020-01-01 00:00:00', '2020-01-01 00:00:00')",
            )
            .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    let (s, r) = app
        .post("/api/v2/admin/cleanup", &json!({"targets": ["alerts"]}))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["deleted"]["alerts"], 2, "{r}");
    assert_eq!(alerts(&app, "").await["total"], 1, "the firing one stays");
    let d = deliveries(&app, "").await;
    assert_eq!(d["total"], 1);
    assert_eq!(d["items"][0]["status"], "pending");
}
