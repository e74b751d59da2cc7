//! DingTalk custom robots: `POST <webhook_url>` (which carries `access_token`) with
//! `{"msgtype":"markdown","markdown":{"title": title,"text": markdown}}`.
//!
//! With a signing secret (`SEC...`), the URL gets `timestamp=<unix ms>` and
//! `sign=<urlencoded base64(HMAC-SHA256(key = secret, message = "{timestamp}\n{secret}"))>`.
//! DingTalk answers HTTP 200 even for refused messages; the verdict is the JSON
//! `errcode` (0 = sent).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::Sha256;

use super::fields::Fields;
use super::{http, SendError};
use crate::notify::message::Message;
use crate::notify::render::{self, Flavor};

/// Secret fields: the URL carries the access token.
pub(super) const SECRETS: &[&str] = &["webhook_url", "secret"];
/// "Sending too fast": a robot takes 20 messages a minute, so the window has passed
/// after a minute.
const RATE_LIMITED: i64 = 130_101;
/// "System busy".
const BUSY: i64 = -1;
/// How long to wait after [`RATE_LIMITED`]: the robot's one-minute window.
const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

/// A valid DingTalk config.
pub(super) struct Config {
    webhook_url: reqwest::Url,
    secret: Option<String>,
}

pub(super) fn parse(f: &mut Fields<'_>) -> Option<Config> {
    let webhook_url = f.req_url("webhook_url", true);
    let secret = f.opt_secret("secret");
    if secret.is_some_and(|s| !s.starts_with("SEC")) {
        f.error(
            "secret",
            "must be the robot's signing secret, which starts with SEC",
        );
    }
    Some(Config {
        webhook_url: webhook_url?,
        secret: secret.map(str::to_owned),
    })
}

/// `base64(HMAC-SHA256(key = secret, message = "{timestamp_ms}\n{secret}"))`, before URL
/// encoding.
pub(super) fn sign(secret: &str, timestamp_ms: i64) -> String {
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `url` with `timestamp` and `sign` appended to its query (form-urlencoded, so `+`, `/`
/// and `=` of the base64 are escaped).
pub(super) fn signed_url(url: &reqwest::Url, secret: &str, timestamp_ms: i64) -> reqwest::Url {
    let mut url = url.clone();
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &sign(secret, timestamp_ms));
    url
}

/// The JSON body for `msg`.
pub(super) fn payload(msg: &Message) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": {"title": msg.title, "text": render::markdown(msg, Flavor::Standard)},
    })
}

/// The error for a reply's `errcode`, `None` when it says the message was sent.
pub(super) fn classify(errcode: i64, errmsg: &str) -> Option<SendError> {
    if errcode == 0 {
        return None;
    }
    let message = format!("DingTalk errcode {errcode}: {errmsg}");
    Some(match errcode {
        RATE_LIMITED => SendError {
            message,
            retry_after: Some(RATE_LIMIT_PAUSE),
            permanent: false,
        },
        BUSY => SendError::transient(message),
        // 310000 (signature, keyword or IP allow-list refused), 300001/400101 (no such
        // token), 400102 (robot disabled), ...: the same request would fail again.
        _ => SendError::permanent(message),
    })
}

pub(super) async fn send(
    client: &reqwest::Client,
    cfg: &Config,
    msg: &Message,
) -> Result<(), SendError> {
    let url = match &cfg.secret {
        Some(secret) => signed_url(
            &cfg.webhook_url,
            secret,
            chrono::Utc::now().timestamp_millis(),
        ),
        None => cfg.webhook_url.clone(),
    };
    let body = serde_json::to_vec(&payload(msg)).map_err(SendError::encoding)?;
    let reply = http::post(client, url, HeaderMap::new(), body).await?;
    reply.check_status()?;
    // A 2xx without a JSON errcode (a proxy, a test receiver) counts as sent.
    let Some(json) = reply.json() else {
        return Ok(());
    };
    let errcode = json.get("errcode").and_then(Value::as_i64).unwrap_or(0);
    let errmsg = json.get("errmsg").and_then(Value::as_str).unwrap_or("");
    classify(errcode, errmsg).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    const SECRET: &str = "SEC0123456789abcdef0123456789abcdef";

    #[test]
    fn sign_matches_an_independent_computation() {
        // python3: base64.b64encode(hmac.new(secret, f"{ts}\n{secret}", sha256).digest())
        assert_eq!(
            sign(SECRET, 1_700_000_000_123),
            "RJSy35h38CnlhhVbDVC4mP8mJp86O4gB70JzBX17Npw="
        );
    }

    #[test]
    fn signed_url_appends_an_encoded_signature() {
        let url =
            reqwest::Url::parse("https://oapi.dingtalk.com/robot/send?access_token=abc").unwrap();
        assert_eq!(
            signed_url(&url, SECRET, 1_700_000_000_124).as_str(),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000124\
             &sign=Lg56Q%2B2xtgZQQ9CGevQXCdnwhn%2Barrepz%2FIsv0uyY0s%3D"
        );
        let bare = reqwest::Url::parse("https://example.com/robot").unwrap();
        assert!(signed_url(&bare, SECRET, 1)
            .as_str()
            .starts_with("https://example.com/robot?timestamp=1&sign="));
    }

    #[test]
    fn errcodes_are_classified() {
        assert!(classify(0, "ok").is_none());
        let limited = classify(130_101, "send too fast").unwrap();
        assert!(!limited.permanent);
        assert_eq!(limited.retry_after, Some(Duration::from_secs(60)));
        let busy = classify(-1, "busy").unwrap();
        assert!(!busy.permanent);
        assert!(classify(310_000, "sign not match").unwrap().permanent);
        assert!(classify(300_001, "token is not exist").unwrap().permanent);
    }
}
