//! The notification channels against real local receivers: an HTTP sink for Slack, the
//! generic webhook, DingTalk and Feishu, and an SMTP sink for email. Signatures are
//! recomputed here from the documented schemes, not with the code under test.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "support/sinks.rs"]
mod sinks;

use std::time::Duration;

use atlhyper_master::notify::channel::{self, ChannelKind, SendError, Sender};
use atlhyper_master::notify::message::{AlertLine, Message, MessageKind, ResourceId, Severity};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{TimeZone as _, Utc};
use hmac::{Hmac, Mac as _};
use serde_json::{json, Value};
use sha2::Sha256;
use sinks::{HttpSink, SinkReply, SmtpSink};

/// Long enough for a local round trip on a loaded CI machine.
const WAIT: Duration = Duration::from_secs(10);
const SLACK_PATH: &str = "/services/T0123ABCDE/B0123ABCDE/abcdefghijklmnopqrstuvwx";
const DING_TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const DING_SECRET: &str = "SECb1e5f0a7c3d9e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2";
const FEISHU_HOOK: &str = "6f0c3b5a-1d2e-4f60-8a9b-0c1d2e3f4a5b";
const FEISHU_SECRET: &str = "feishu-signing-secret-xyz";
const WEBHOOK_SECRET: &str = "webhook-hmac-secret-0123456789";
const SMTP_PASSWORD: &str = "smtp-password-do-not-leak";

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn message(title: &str) -> Message {
    let resource = ResourceId {
        kind: "Node".into(),
        namespace: String::new(),
        name: "node-1".into(),
    };
    Message {
        kind: MessageKind::Firing,
        severity: Severity::Critical,
        title: title.into(),
        summary: "CPU is saturated.".into(),
        cluster_id: "prod-eu".into(),
        rule: "node_cpu_high".into(),
        alerts: vec![AlertLine {
            alert_uid: "alert-1".into(),
            link: resource.link("prod-eu"),
            resource,
            status: "firing".into(),
            description: "cpu_usage 93.1 >= 90 for 5m".into(),
            value: Some(93.1),
            fired_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
            resolved_at: None,
            details: vec![("conditions".into(), "Ready".into())],
        }],
        omitted: 2,
        at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 5, 0).unwrap(),
    }
}

fn slack_config(sink: &HttpSink) -> Value {
    json!({ "webhook_url": sink.url(SLACK_PATH) })
}

fn dingtalk_config(sink: &HttpSink) -> Value {
    json!({
        "webhook_url": sink.url(&format!("/robot/send?access_token={DING_TOKEN}")),
        "secret": DING_SECRET,
    })
}

fn feishu_config(sink: &HttpSink) -> Value {
    json!({
        "webhook_url": sink.url(&format!("/open-apis/bot/v2/hook/{FEISHU_HOOK}")),
        "secret": FEISHU_SECRET,
    })
}

fn email_config(port: u16, tls: &str) -> Value {
    json!({
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": tls,
        "smtp_user": "alerts",
        "smtp_password": SMTP_PASSWORD,
        "from_address": "AtlHyper <alerts@example.com>",
        "to_addresses": ["ops@example.com", "Oncall <oncall@example.com>"],
    })
}

/// Fails the test when `e` mentions any secret of `config` or `extra`.
fn assert_secret_free(e: &SendError, kind: ChannelKind, config: &Value, extra: &[&str]) {
    let mut secrets = channel::secrets(kind, config);
    secrets.extend(extra.iter().map(|s| (*s).to_owned()));
    assert!(!secrets.is_empty());
    for secret in secrets {
        assert!(
            !e.message.contains(&secret),
            "error leaks {secret:?}: {}",
            e.message
        );
    }
}

#[actix_web::test]
async fn slack_gets_the_title_and_a_mrkdwn_section() {
    let sink = HttpSink::start().await;
    let msg = message("[FIRING:1] prod-eu · node_cpu_high");
    Sender::new()
        .send(ChannelKind::Slack, &slack_config(&sink), &msg)
        .await
        .unwrap();
    let req = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, SLACK_PATH);
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body = req.json();
    assert_eq!(body["text"], msg.title);
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    let text = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("*🔴 [FIRING:1] prod-eu · node_cpu_high*"),
        "{text}"
    );
    assert!(text.contains("*Node/node-1*"), "{text}");
    assert!(text.contains("… and 2 more"), "{text}");
    assert_eq!(sink.ok_count(), 1);
}

#[actix_web::test]
async fn webhook_posts_the_message_signed_over_the_exact_body() {
    let sink = HttpSink::start().await;
    let config = json!({
        "url": sink.url("/hooks/alerts?team=ops"),
        "secret": WEBHOOK_SECRET,
        "headers": {"Authorization": "Bearer receiver-token-123", "X-Team": "ops"},
    });
    let msg = message("[FIRING:1] prod-eu · node_cpu_high");
    Sender::new()
        .send(ChannelKind::Webhook, &config, &msg)
        .await
        .unwrap();
    let req = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(req.path, "/hooks/alerts");
    assert_eq!(req.query, "team=ops");
    assert_eq!(
        req.header("authorization"),
        Some("Bearer receiver-token-123")
    );
    assert_eq!(req.header("x-team"), Some("ops"));
    assert_eq!(req.header("content-type"), Some("application/json"));

    let expected = format!(
        "sha256={}",
        hex(&hmac_sha256(WEBHOOK_SECRET.as_bytes(), &req.body))
    );
    assert_eq!(req.header("x-signature"), Some(expected.as_str()));

    let body = req.json();
    assert_eq!(body["source"], "atlhyper-master");
    assert_eq!(body["version"], 1);
    let mut without_envelope = body.clone();
    let map = without_envelope.as_object_mut().unwrap();
    map.remove("source");
    map.remove("version");
    let back: Message = serde_json::from_value(without_envelope).unwrap();
    assert_eq!(back, msg);
}

#[actix_web::test]
async fn webhook_without_a_secret_is_not_signed() {
    let sink = HttpSink::start().await;
    let config = json!({ "url": sink.url("/hook") });
    Sender::new()
        .send(ChannelKind::Webhook, &config, &message("t"))
        .await
        .unwrap();
    let req = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(req.header("x-signature"), None);
}

#[actix_web::test]
async fn dingtalk_signs_the_url_and_sends_markdown() {
    let sink = HttpSink::start().await;
    let msg = message("[FIRING:1] prod-eu · node_cpu_high");
    let before = Utc::now().timestamp_millis();
    Sender::new()
        .send(ChannelKind::DingTalk, &dingtalk_config(&sink), &msg)
        .await
        .unwrap();
    let after = Utc::now().timestamp_millis();
    let req = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(req.path, "/robot/send");
    assert_eq!(req.query_param("access_token").as_deref(), Some(DING_TOKEN));

    let ts: i64 = req.query_param("timestamp").unwrap().parse().unwrap();
    assert!(
        (before..=after).contains(&ts),
        "{before} <= {ts} <= {after}"
    );
    let expected = BASE64.encode(hmac_sha256(
        DING_SECRET.as_bytes(),
        format!("{ts}\n{DING_SECRET}").as_bytes(),
    ));
    assert_eq!(req.query_param("sign"), Some(expected.clone()));
    // The raw query carries the signature URL-encoded.
    let encoded: String = form_urlencoded::byte_serialize(expected.as_bytes()).collect();
    assert!(
        req.query.ends_with(&format!("&sign={encoded}")),
        "{}",
        req.query
    );

    let body = req.json();
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(body["markdown"]["title"], msg.title);
    let text = body["markdown"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("**🔴 [FIRING:1] prod-eu · node_cpu_high**"),
        "{text}"
    );
    assert!(text.contains("**Node/node-1**"), "{text}");
}

#[actix_web::test]
async fn feishu_sends_a_signed_card() {
    let sink = HttpSink::start().await;
    let msg = message("[FIRING:1] prod-eu · node_cpu_high");
    let before = Utc::now().timestamp();
    Sender::new()
        .send(ChannelKind::Feishu, &feishu_config(&sink), &msg)
        .await
        .unwrap();
    let after = Utc::now().timestamp();
    let req = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(req.path, format!("/open-apis/bot/v2/hook/{FEISHU_HOOK}"));
    let body = req.json();

    let ts: i64 = body["timestamp"].as_str().unwrap().parse().unwrap();
    assert!((before..=after).contains(&ts));
    let expected = BASE64.encode(hmac_sha256(
        format!("{ts}\n{FEISHU_SECRET}").as_bytes(),
        b"",
    ));
    assert_eq!(body["sign"], expected);

    assert_eq!(body["msg_type"], "interactive");
    let header = &body["card"]["header"];
    assert_eq!(header["title"]["tag"], "plain_text");
    assert_eq!(header["title"]["content"], msg.title);
    assert_eq!(header["template"], "red");
    let elements = body["card"]["elements"].as_array().unwrap();
    assert_eq!(elements[0]["tag"], "markdown");
    assert!(elements[0]["content"]
        .as_str()
        .unwrap()
        .contains("cpu_usage 93.1 >= 90 for 5m"));
}

#[actix_web::test]
async fn feishu_resolved_cards_are_green() {
    let sink = HttpSink::start().await;
    let mut msg = message("[RESOLVED:1] prod-eu · node_cpu_high");
    msg.kind = MessageKind::Resolved;
    let config = json!({ "webhook_url": sink.url("/open-apis/bot/v2/hook/x") });
    Sender::new()
        .send(ChannelKind::Feishu, &config, &msg)
        .await
        .unwrap();
    let body = sink.wait_for(1, WAIT).await.remove(0).json();
    assert_eq!(body["card"]["header"]["template"], "green");
    assert!(body.get("sign").is_none());
}

/// Decodes a header value with RFC 2047 `=?utf-8?b?...?=` words; whitespace between two
/// encoded words is not part of the text.
fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut previous_encoded = false;
    for (i, word) in value.split_whitespace().enumerate() {
        let lower = word.to_ascii_lowercase();
        let encoded = lower.starts_with("=?utf-8?b?") && lower.ends_with("?=");
        if i > 0 && !(encoded && previous_encoded) {
            out.push(' ');
        }
        if encoded {
            let bytes = BASE64.decode(&word[10..word.len() - 2]).unwrap();
            out.push_str(&String::from_utf8(bytes).unwrap());
        } else {
            out.push_str(word);
        }
        previous_encoded = encoded;
    }
    out
}

#[actix_web::test]
async fn email_goes_through_a_real_smtp_conversation() {
    let sink = SmtpSink::start().await;
    let title = "[FIRING:1] 生产集群 · Überlast on node-1";
    let msg = message(title);
    Sender::new()
        .send(ChannelKind::Email, &email_config(sink.port(), "none"), &msg)
        .await
        .unwrap();
    let mail = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(mail.from, "alerts@example.com");
    assert_eq!(mail.to, vec!["ops@example.com", "oncall@example.com"]);
    assert_eq!(
        mail.auth.as_deref(),
        Some(format!("alerts:{SMTP_PASSWORD}").as_str())
    );

    let subject = mail.header("Subject").unwrap();
    assert!(
        subject.to_ascii_lowercase().contains("=?utf-8?"),
        "{subject}"
    );
    assert!(subject.is_ascii(), "{subject}");
    assert_eq!(decode_encoded_words(&subject), title);
    assert!(mail.header("Date").is_some(), "{}", mail.data);
    let id = mail.header("Message-ID").unwrap();
    assert!(
        id.starts_with('<') && id.ends_with('>') && id.contains('@'),
        "{id}"
    );
    assert!(mail.header("To").unwrap().contains("oncall@example.com"));
    let content_type = mail.header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    let data = mail.data.to_ascii_lowercase();
    assert!(data.contains("content-type: text/plain"), "{}", mail.data);
    assert!(data.contains("content-type: text/html"), "{}", mail.data);
}

#[actix_web::test]
async fn a_500_is_transient() {
    let sink = HttpSink::start().await;
    sink.script(vec![SinkReply::Status(500)]);
    let e = Sender::new()
        .send(ChannelKind::Slack, &slack_config(&sink), &message("t"))
        .await
        .unwrap_err();
    assert!(!e.permanent, "{e:?}");
    assert_eq!(e.retry_after, None);
    assert!(e.message.contains("500"), "{}", e.message);
    assert_eq!(sink.ok_count(), 0);
}

#[actix_web::test]
async fn a_429_with_retry_after_says_when_to_retry() {
    let sink = HttpSink::start().await;
    sink.script(vec![SinkReply::WithHeaders(
        429,
        vec![("Retry-After".into(), "7".into())],
    )]);
    let e = Sender::new()
        .send(
            ChannelKind::Webhook,
            &json!({"url": sink.url("/h")}),
            &message("t"),
        )
        .await
        .unwrap_err();
    assert!(!e.permanent);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
}

#[actix_web::test]
async fn a_404_is_permanent() {
    let sink = HttpSink::start().await;
    sink.script(vec![SinkReply::Json(404, json!({"error": "no_service"}))]);
    let config = slack_config(&sink);
    let e = Sender::new()
        .send(ChannelKind::Slack, &config, &message("t"))
        .await
        .unwrap_err();
    assert!(e.permanent);
    assert!(
        e.message.contains("404") && e.message.contains("no_service"),
        "{}",
        e.message
    );
    assert_secret_free(
        &e,
        ChannelKind::Slack,
        &config,
        &["abcdefghijklmnopqrstuvwx"],
    );
}

#[actix_web::test]
async fn dingtalk_errcodes_in_a_200_are_errors() {
    let sink = HttpSink::start().await;
    sink.script(vec![
        SinkReply::Json(200, json!({"errcode": 310000, "errmsg": "sign not match"})),
        SinkReply::Json(200, json!({"errcode": 130101, "errmsg": "send too fast"})),
    ]);
    let config = dingtalk_config(&sink);
    let sender = Sender::new();
    let e = sender
        .send(ChannelKind::DingTalk, &config, &message("t"))
        .await
        .unwrap_err();
    assert!(e.permanent, "{e:?}");
    assert!(e.message.contains("310000"), "{}", e.message);
    let e = sender
        .send(ChannelKind::DingTalk, &config, &message("t"))
        .await
        .unwrap_err();
    assert!(!e.permanent);
    assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
}

#[actix_web::test]
async fn feishu_codes_in_a_200_are_errors() {
    let sink = HttpSink::start().await;
    sink.script(vec![SinkReply::Json(
        200,
        json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}),
    )]);
    let e = Sender::new()
        .send(ChannelKind::Feishu, &feishu_config(&sink), &message("t"))
        .await
        .unwrap_err();
    assert!(e.permanent);
    assert!(e.message.contains("19021"));
}

#[actix_web::test]
async fn errors_never_contain_tokens_or_secrets() {
    let sink = HttpSink::start().await;
    let sender = Sender::new();
    // A receiver that echoes the token and the secret in its reply.
    let echo = format!("token {DING_TOKEN} secret {DING_SECRET} hook {FEISHU_HOOK}");
    sink.script(vec![
        SinkReply::Json(200, json!({"errcode": 300001, "errmsg": echo})),
        SinkReply::Json(200, json!({"code": 9499, "msg": echo})),
        SinkReply::Json(400, json!({"error": echo})),
    ]);
    let cases = [
        (ChannelKind::DingTalk, dingtalk_config(&sink), DING_TOKEN),
        (ChannelKind::Feishu, feishu_config(&sink), FEISHU_HOOK),
        (
            ChannelKind::Slack,
            slack_config(&sink),
            "abcdefghijklmnopqrstuvwx",
        ),
    ];
    for (kind, config, token) in &cases {
        let e = sender.send(*kind, config, &message("t")).await.unwrap_err();
        assert_secret_free(&e, *kind, config, &[token]);
    }
    assert_eq!(sink.requests().len(), 3);

    // Connection refused: reqwest's error would name the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = json!({
        "webhook_url": format!("http://127.0.0.1:{port}/robot/send?access_token={DING_TOKEN}"),
        "secret": DING_SECRET,
    });
    let e = sender
        .send(ChannelKind::DingTalk, &config, &message("t"))
        .await
        .unwrap_err();
    assert!(!e.permanent, "{e:?}");
    assert!(!e.message.is_empty());
    assert_secret_free(&e, ChannelKind::DingTalk, &config, &[DING_TOKEN]);
}

#[actix_web::test]
async fn required_starttls_against_a_plain_server_fails_clearly() {
    let sink = SmtpSink::start().await;
    let config = email_config(sink.port(), "starttls");
    let e = Sender::new()
        .send(ChannelKind::Email, &config, &message("t"))
        .await
        .unwrap_err();
    assert!(e.permanent, "{e:?}");
    assert!(e.message.contains("STARTTLS"), "{}", e.message);
    assert_secret_free(&e, ChannelKind::Email, &config, &[]);
    assert!(sink.mails().is_empty());
}

#[actix_web::test]
async fn smtp_5xx_is_permanent_and_4xx_transient() {
    for (code, permanent) in [(554, true), (451, false)] {
        let sink = SmtpSink::start_rejecting(code).await;
        let config = email_config(sink.port(), "none");
        let e = Sender::new()
            .send(ChannelKind::Email, &config, &message("t"))
            .await
            .unwrap_err();
        assert_eq!(e.permanent, permanent, "{code}: {e:?}");
        assert!(e.message.contains(&code.to_string()), "{}", e.message);
        assert_secret_free(&e, ChannelKind::Email, &config, &[]);
    }
}

#[actix_web::test]
async fn an_unreachable_smtp_server_is_transient() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = email_config(port, "none");
    let e = Sender::new()
        .send(ChannelKind::Email, &config, &message("t"))
        .await
        .unwrap_err();
    assert!(!e.permanent, "{e:?}");
    assert_secret_free(&e, ChannelKind::Email, &config, &[]);
}
