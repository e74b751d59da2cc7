//! Generic webhook: `POST <url>` with the [`Message`] as JSON, plus
//! `"source": "atlhyper-master"` and `"version": 1` at the top level, and the configured
//! extra headers.
//!
//! When `secret` is set, the request carries
//! `X-Signature: sha256=<lowercase hex of HMAC-SHA256(key = secret, message = body)>`,
//! computed over the exact body bytes as sent. A receiver verifies it by recomputing the
//! HMAC over the raw body it read, before parsing it, and comparing in constant time. The
//! signature does not cover a timestamp: a receiver that must refuse replays can dedupe on
//! the body's `at` and alert uids.

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use sha2::Sha256;

use super::fields::Fields;
use super::{http, SendError, MASK};
use crate::notify::message::Message;

/// Secret fields; every value of `headers` is a secret too (API keys live there).
pub(super) const SECRETS: &[&str] = &["secret"];
/// The header that carries the body's HMAC.
pub(super) const SIGNATURE_HEADER: &str = "x-signature";
/// `source` in every payload.
pub(super) const SOURCE: &str = "atlhyper-master";
/// `version` in every payload: bumped when the payload's shape changes incompatibly.
pub(super) const PAYLOAD_VERSION: u32 = 1;
/// A shorter HMAC key is too easy to guess.
const MIN_SECRET_CHARS: usize = 16;
/// Headers the sender owns: the body's type and framing, the target host, and the
/// signature. Letting a config override them would corrupt or forge requests.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    SIGNATURE_HEADER,
];

/// A valid webhook config.
pub(super) struct Config {
    url: reqwest::Url,
    secret: Option<String>,
    headers: HeaderMap,
}

pub(super) fn parse(f: &mut Fields<'_>) -> Option<Config> {
    let url = f.req_url("url", false);
    let secret = f.opt_secret("secret");
    if secret.is_some_and(|s| s.chars().count() < MIN_SECRET_CHARS) {
        f.error(
            "secret",
            format!("must be at least {MIN_SECRET_CHARS} characters"),
        );
    }
    let headers = parse_headers(f);
    // Any error recorded above makes the whole config invalid; what is built here is
    // only used when there is none.
    Some(Config {
        url: url?,
        secret: secret.map(str::to_owned),
        headers: headers?,
    })
}

fn parse_headers(f: &mut Fields<'_>) -> Option<HeaderMap> {
    let mut out = HeaderMap::new();
    let Some(value) = f.get("headers") else {
        return Some(out);
    };
    let Value::Object(map) = value else {
        f.error(
            "headers",
            "must be an object of header name to string value",
        );
        return None;
    };
    let mut ok = true;
    for (name, value) in map {
        let field = format!("headers.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            f.error(&field, "is not a valid header name");
            ok = false;
            continue;
        };
        if RESERVED_HEADERS.contains(&header.as_str()) {
            f.error(&field, "is set by the sender and may not be overridden");
            ok = false;
            continue;
        }
        let Value::String(value) = value else {
            f.error(&field, "must be a string");
            ok = false;
            continue;
        };
        if value.starts_with(MASK) {
            f.error(
                &field,
                "is still masked and no stored secret exists; enter the secret again",
            );
            ok = false;
            continue;
        }
        match HeaderValue::from_str(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                out.append(header, v);
            }
            Err(_) => {
                f.error(&field, "is not a valid header value");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// The exact body bytes for `msg`.
pub(super) fn body(msg: &Message) -> Result<Vec<u8>, SendError> {
    let mut value = serde_json::to_value(msg).map_err(SendError::encoding)?;
    if let Value::Object(map) = &mut value {
        map.insert("source".to_owned(), Value::from(SOURCE));
        map.insert("version".to_owned(), Value::from(PAYLOAD_VERSION));
    }
    serde_json::to_vec(&value).map_err(SendError::encoding)
}

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
pub(super) fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error arm cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

pub(super) async fn send(
    client: &reqwest::Client,
    cfg: &Config,
    msg: &Message,
) -> Result<(), SendError> {
    let body = body(msg)?;
    let mut headers = cfg.headers.clone();
    if let Some(secret) = &cfg.secret {
        let value =
            HeaderValue::from_str(&signature(secret, &body)).map_err(SendError::encoding)?;
        headers.insert(HeaderName::from_static(SIGNATURE_HEADER), value);
    }
    http::post(client, cfg.url.clone(), headers, body)
        .await?
        .check_status()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
