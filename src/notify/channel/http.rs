//! HTTP plumbing shared by the webhook-style channels (Slack, webhook, DingTalk, Feishu):
//! one POST, and the classification of what went wrong into a [`SendError`].

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use super::SendError;

/// Enough of a reply body for an error message and the chat robots' JSON status; a
/// receiver that streams more is cut off rather than buffered.
const MAX_REPLY_BYTES: usize = 64 * 1024;
/// How much of a non-2xx reply body goes into the error message.
const MAX_DETAIL_CHARS: usize = 200;
/// A receiver may ask for a pause, but not for one longer than this: beyond an hour the
/// alert is stale anyway and the engine's own backoff takes over.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A reply to a POST.
pub(super) struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The reply headers.
    pub headers: HeaderMap,
    /// The body, at most [`MAX_REPLY_BYTES`] of it.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON, `None` when it is not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `Ok` for 2xx, otherwise the classified error.
    pub fn check_status(&self) -> Result<(), SendError> {
        if self.status.is_success() {
            return Ok(());
        }
        Err(classify_status(
            self.status.as_u16(),
            retry_after(&self.headers, SystemTime::now()),
            &detail(&self.body),
        ))
    }
}

/// POSTs `body` as JSON with the extra `headers`.
pub(super) async fn post(
    client: &reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<Reply, SendError> {
    let mut resp = client
        .post(url)
        .headers(headers)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(body)
        .send()
        .await
        .map_err(request_error)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while body.len() < MAX_REPLY_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            // The status already arrived; a broken body only matters for the robots'
            // JSON status, which then reads as absent.
            Err(_) => break,
        }
    }
    body.truncate(MAX_REPLY_BYTES);
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Classifies a non-2xx status: 408, 429 and 5xx are worth retrying, and 429/503 may say
/// when; any other status means the request itself is wrong (a 404 for a deleted
/// webhook, a 403 for a revoked token, a 3xx since redirects are not followed).
pub(super) fn classify_status(
    status: u16,
    retry_after: Option<Duration>,
    detail: &str,
) -> SendError {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut message = format!("HTTP {status} {reason}").trim_end().to_owned();
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(detail);
    }
    let transient = status == 408 || status == 429 || (500..=599).contains(&status);
    let retry_after = if status == 429 || status == 503 {
        retry_after
    } else {
        None
    };
    SendError {
        message,
        retry_after,
        permanent: !transient,
    }
}

/// `Retry-After` as delay seconds or an HTTP date (RFC 9110 §10.2.3), relative to `now`
/// and capped at [`MAX_RETRY_AFTER`].
pub(super) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// A reqwest failure without its URL (which may carry a token) but with its causes:
/// "error sending request: client error (Connect): tcp connect error: Connection refused".
pub(super) fn request_error(e: reqwest::Error) -> SendError {
    let e = e.without_url();
    let permanent = e.is_builder() || e.is_redirect();
    let mut message = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        String::new()
    };
    let mut cause: Option<&dyn std::error::Error> = Some(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        cause = c.source();
    }
    SendError {
        message,
        retry_after: None,
        permanent,
    }
}

/// The start of a reply body, on one line, for an error message.
fn detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        h
    }

    #[test]
    fn server_errors_timeouts_and_throttling_are_transient() {
        for status in [500, 502, 503, 504, 408, 429] {
            let e = classify_status(status, None, "");
            assert!(!e.permanent, "{status} should be transient");
        }
    }

    #[test]
    fn other_client_errors_and_redirects_are_permanent() {
        for status in [400, 401, 403, 404, 410, 301, 302] {
            let e = classify_status(status, Some(Duration::from_secs(5)), "");
            assert!(e.permanent, "{status} should be permanent");
            assert_eq!(e.retry_after, None);
        }
    }

    #[test]
    fn retry_after_is_kept_for_429_and_503_only() {
        let d = Some(Duration::from_secs(7));
        assert_eq!(classify_status(429, d, "").retry_after, d);
        assert_eq!(classify_status(503, d, "").retry_after, d);
        assert_eq!(classify_status(500, d, "").retry_after, None);
    }

    #[test]
    fn the_message_names_the_status_and_the_reply() {
        let e = classify_status(404, None, "no_service");
        assert_eq!(e.message, "HTTP 404 Not Found: no_service");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(
            retry_after(&headers(&later), now),
            Some(Duration::from_secs(120))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(120));
        assert_eq!(retry_after(&headers(&earlier), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("999999"), now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn details_are_one_short_line() {
        assert_eq!(detail(b"a\n  b\tc"), "a b c");
        let long = "x".repeat(500);
        assert_eq!(
            detail(long.as_bytes()).chars().count(),
            MAX_DETAIL_CHARS + 1
        );
    }
}
