//! Feishu/Lark custom bots: `POST <webhook_url>` (whose path carries the hook token) with an
//! interactive card:
//! `{"msg_type":"interactive","card":{"header":{"title":{"tag":"plain_text","content":
//! title},"template": colour},"elements":[{"tag":"markdown","content": markdown}]}}`.
//! The header is green for resolved messages, else red/orange/blue by severity.
//!
//! With a signing secret, the body also carries `"timestamp": "<unix secs>"` and
//! `"sign": base64(HMAC-SHA256(key = "{timestamp}\n{secret}", message = ""))`, Feishu's
//! documented scheme (the key/message roles are the reverse of DingTalk's). The verdict is
//! the JSON `code` (older deployments: `StatusCode`), 0 = sent.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::Sha256;

use super::fields::Fields;
use super::{http, SendError};
use crate::notify::message::{Message, MessageKind, Severity};
use crate::notify::render::{self, Flavor};

/// Secret fields: the URL carries the hook token.
pub(super) const SECRETS: &[&str] = &["webhook_url", "secret"];
/// "Request frequency limited" (100 a minute, 5 a second per bot).
const RATE_LIMITED: i64 = 11_232;
/// How long to wait after [`RATE_LIMITED`]: the bot's one-minute window.
const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

/// A valid Feishu config.
pub(super) struct Config {
    webhook_url: reqwest::Url,
    secret: Option<String>,
}

pub(super) fn parse(f: &mut Fields<'_>) -> Option<Config> {
    let webhook_url = f.req_url("webhook_url", true);
    let secret = f.opt_secret("secret");
    Some(Config {
        webhook_url: webhook_url?,
        secret: secret.map(str::to_owned),
    })
}

/// `base64(HMAC-SHA256(key = "{timestamp_secs}\n{secret}", message = ""))`.
pub(super) fn sign(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The card header colour.
fn template(msg: &Message) -> &'static str {
    match (msg.kind, msg.severity) {
        (MessageKind::Resolved, _) => "green",
        (_, Severity::Critical) => "red",
        (_, Severity::Warning) => "orange",
        (_, Severity::Info) => "blue",
    }
}

/// The JSON body for `msg`, signed when `secret` is set.
pub(super) fn payload(msg: &Message, secret: Option<&str>, timestamp_secs: i64) -> Value {
    let mut body = json!({
        "msg_type": "interactive",
        "card": {
            "header": {
                "title": {"tag": "plain_text", "content": msg.title},
                "template": template(msg),
            },
            "elements": [
                {"tag": "markdown", "content": render::markdown(msg, Flavor::Standard)},
            ],
        },
    });
    if let (Some(secret), Value::Object(map)) = (secret, &mut body) {
        map.insert(
            "timestamp".to_owned(),
            Value::from(timestamp_secs.to_string()),
        );
        map.insert("sign".to_owned(), Value::from(sign(secret, timestamp_secs)));
    }
    body
}

/// The error for a reply's `code`, `None` when it says the message was sent.
pub(super) fn classify(code: i64, msg: &str) -> Option<SendError> {
    if code == 0 {
        return None;
    }
    let message = format!("Feishu code {code}: {msg}");
    Some(match code {
        RATE_LIMITED => SendError {
            message,
            retry_after: Some(RATE_LIMIT_PAUSE),
            permanent: false,
        },
        // 19021 (bad signature), 19022 (IP not allowed), 19024 (keyword missing),
        // 9499 (bad request), ...: the same request would fail again.
        _ => SendError::permanent(message),
    })
}

pub(super) async fn send(
    client: &reqwest::Client,
    cfg: &Config,
    msg: &Message,
) -> Result<(), SendError> {
    let payload = payload(msg, cfg.secret.as_deref(), chrono::Utc::now().timestamp());
    let body = serde_json::to_vec(&payload).map_err(SendError::encoding)?;
    let reply = http::post(client, cfg.webhook_url.clone(), HeaderMap::new(), body).await?;
    reply.check_status()?;
    // A 2xx without a JSON code (a proxy, a test receiver) counts as sent.
    let Some(json) = reply.json() else {
        return Ok(());
    };
    let code = json
        .get("code")
        .or_else(|| json.get("StatusCode"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let text = json
        .get("msg")
        .or_else(|| json.get("StatusMessage"))
        .and_then(Value::as_str)
        .unwrap_or("");
    classify(code, text).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use chrono::Utc;

    use super::*;

    #[test]
    fn sign_matches_an_independent_computation() {
        // python3: base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", sha256).digest())
        assert_eq!(
            sign("feishu-secret-0123", 1_700_000_000),
            "+1U0CMYEwDTNNFL+y2fnyQM4HJAMb/Bh4gSg7jklS/s="
        );
    }

    #[test]
    fn codes_are_classified() {
        assert!(classify(0, "success").is_none());
        let limited = classify(11_232, "frequency limited").unwrap();
        assert!(!limited.permanent);
        assert!(limited.retry_after.is_some());
        assert!(classify(19_021, "sign match fail").unwrap().permanent);
    }

    #[test]
    fn the_card_is_coloured_and_signed() {
        let mut msg = Message {
            kind: MessageKind::Firing,
            severity: Severity::Warning,
            title: "t".into(),
            summary: String::new(),
            cluster_id: String::new(),
            rule: String::new(),
            alerts: vec![],
            omitted: 0,
            at: Utc::now(),
        };
        let p = payload(&msg, Some("feishu-secret-0123"), 1_700_000_000);
        assert_eq!(p["card"]["header"]["template"], "orange");
        assert_eq!(p["timestamp"], "1700000000");
        assert_eq!(p["sign"], "+1U0CMYEwDTNNFL+y2fnyQM4HJAMb/Bh4gSg7jklS/s=");
        msg.kind = MessageKind::Resolved;
        let p = payload(&msg, None, 0);
        assert_eq!(p["card"]["header"]["template"], "green");
        assert!(p.get("sign").is_none());
    }
}
