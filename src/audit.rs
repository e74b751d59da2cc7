//! Audit log and security events: a batching writer and the body sanitizer.
//!
//! - **Off the request path.** [`Audit::log`] and [`Audit::security`] hand the record to a
//!   bounded queue with `try_send` and return at once. When the queue is full (the
//!   database is stuck), the record is counted in [`Audit::dropped`] and logged, never
//!   waited for: a slow disk must not become an outage of the API.
//! - **Batched.** One writer task takes whatever has queued up (up to [`BATCH_MAX`]) and
//!   writes it in one transaction on the database's single writer thread.
//! - **Not lost on a normal exit.** [`Audit::flush`] queues a marker behind every record
//!   accepted so far and returns once the writer has committed them all; shutdown calls it
//!   after the servers have stopped.
//! - **Sanitized.** [`sanitize_body`] replaces the values of secret-looking keys and
//!   channel configs by `"***"` in JSON bodies, and never stores a non-JSON body at all.
//!   (v2.1's sanitizer left the cleartext password in place.)
//!
//! The writer task owns only the queue's receiving end; records are not kept anywhere
//! else, so what sits in the queue when the process is killed (not stopped) is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;

/// How many records may wait for the writer. At a few hundred refused requests a second
/// this is well over ten seconds of backlog; a queue that fills up means the database is
/// stuck, and then dropping (and counting) beats holding requests or growing memory.
pub const QUEUE_CAPACITY: usize = 10_000;

/// Most records written per transaction: enough to amortise the commit under a flood,
/// small enough not to hold the single database writer for long.
pub const BATCH_MAX: usize = 256;

/// Longest stored body text, in characters. Enough to see what was asked; bounded so a
/// large request cannot bloat the audit table.
pub const MAX_STORED_BODY_CHARS: usize = 2_000;

/// What replaces a secret value.
pub const REDACTED: &str = "***";

/// Key fragments (of the lower-cased key) whose values are never stored.
const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "credential",
    "private_key",
    "webhook",
    "smtp_password",
];

/// Keys whose whole value is hidden: notification channel configs hold SMTP passwords and
/// webhook URLs under names that cannot all be foreseen.
const SECRET_KEYS: &[&str] = &["config"];

// The rows the writer records live with their table (the storage layer defines them;
// nothing there imports this module back).
pub use crate::db::audit::{AuditEntry, SecurityEvent, SecurityKind};

/// What travels to the writer task.
enum Record {
    Audit(AuditEntry),
    Security(DateTime<Utc>, SecurityEvent),
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Records audit rows and security events without delaying requests. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Record>,
    dropped: Arc<AtomicU64>,
}

impl Audit {
    /// Starts the writer task on the given database. Must run inside an actix `System`.
    pub fn new(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        actix_web::rt::spawn(run_writer(db, rx, Arc::clone(&dropped)));
        Self { tx, dropped }
    }

    /// Queues an audit row; never waits.
    pub fn log(&self, e: AuditEntry) {
        self.offer(Record::Audit(e));
    }

    /// Queues a security event (timestamped now); never waits.
    pub fn security(&self, e: SecurityEvent) {
        tracing::warn!(
            kind = e.kind.as_str(),
            severity = e.kind.severity(),
            ip = %e.ip,
            resource = %e.resource,
            "security event"
        );
        self.offer(Record::Security(Utc::now(), e));
    }

    /// Returns once every record accepted before this call is committed (shutdown,
    /// tests). Waits for room in the queue, unlike [`Audit::log`].
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Record::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Records dropped so far because the queue was full or the writer was gone.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn offer(&self, r: Record) {
        if let Err(e) = self.tx.try_send(r) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Log the first drop and then every 1000th, so a flood does not flood the log.
            if n == 1 || n % 1000 == 0 {
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "writer stopped",
                };
                tracing::error!(dropped_total = n, why, "audit record dropped");
            }
        }
    }
}

/// The writer loop: waits for one record, takes whatever else is queued (up to
/// [`BATCH_MAX`]), commits it in one transaction, then answers the flushes it met.
async fn run_writer(db: Db, mut rx: mpsc::Receiver<Record>, dropped: Arc<AtomicU64>) {
    while let Some(first) = rx.recv().await {
        let mut audits = Vec::new();
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(r) = next.take() {
            match r {
                Record::Audit(a) => audits.push(a),
                Record::Security(at, e) => events.push((at, e)),
                // Stop at a flush: it is answered once what came before is committed.
                Record::Flush(f) => {
                    flushes.push(f);
                    break;
                }
            }
            if audits.len() + events.len() < BATCH_MAX {
                next = rx.try_recv().ok();
            }
        }
        let n = audits.len() + events.len();
        if n > 0 {
            let written = db.audit().insert_batch(audits, events).await;
            if let Err(e) = written {
                let total = dropped.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                tracing::error!(error = %e, rows = n, dropped_total = total, "audit batch not written");
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// The text stored for a request body:
/// - empty: `None`;
/// - JSON (by content type, or no content type): the values of secret-looking keys (see
///   [`is_secret_key`]) replaced by `"***"` at any depth, cut to
///   [`MAX_STORED_BODY_CHARS`] characters;
/// - anything else, or JSON that does not parse: `"[non-JSON body, N bytes]"`. The raw
///   bytes are never stored: they might hold a secret that cannot be found.
pub fn sanitize_body(body: &[u8], content_type: Option<&str>) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let placeholder = || Some(format!("[non-JSON body, {} bytes]", body.len()));
    if !content_type.is_none_or(is_json_type) {
        return placeholder();
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return placeholder();
    };
    redact(&mut value);
    Some(truncate_chars(value.to_string(), MAX_STORED_BODY_CHARS))
}

/// The `username` of a JSON body (the login route's), at most 256 characters.
pub fn body_username(body: &[u8], content_type: Option<&str>) -> Option<String> {
    if body.is_empty() || !content_type.is_none_or(is_json_type) {
        return None;
    }
    let value = serde_json::from_slice::<Value>(body).ok()?;
    let name = value.get("username")?.as_str()?;
    Some(name.chars().take(256).collect())
}

/// True for a key whose value must never be stored.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.contains(&k.as_str()) || SECRET_KEY_PARTS.iter().any(|p| k.contains(p))
}

fn is_json_type(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// `s` cut to at most `max` characters, the last three being `...` when it was cut.
fn truncate_chars(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    const JSON: Option<&str> = Some("application/json");

    fn san(v: &Value) -> String {
        sanitize_body(v.to_string().as_bytes(), JSON).unwrap()
    }

    #[test]
    fn every_secret_key_is_redacted_and_the_rest_kept() {
        let keys = [
            "password",
            "Password",
            "new_password",
            "passwd",
            "client_secret",
            "token",
            "agent_token",
            "refresh_TOKEN",
            "api_key",
            "apiKey",
            "Authorization",
            "credentials",
            "private_key",
            "webhook_url",
            "smtp_password",
            "config",
            "CONFIG",
        ];
        for k in keys {
            let body = json!({ k: "hunter2-secret-value", "name": "keep-me" });
            let out = san(&body);
            assert!(!out.contains("hunter2"), "{k}: {out}");
            let back: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(back[k], "***", "{k}");
            assert_eq!(back["name"], "keep-me", "{k}");
        }
        for k in [
            "username",
            "name",
            "configured",
            "role",
            "key",
            "description",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn nested_objects_and_arrays_are_redacted_at_any_depth() {
        let body = json!({
            "username": "alice",
            "users": [
                {"name": "a", "password": "p1"},
                {"name": "b", "nested": {"deeper": [{"token": "t1"}, {"api_key": {"x": "k1"}}]}}
            ],
            "config": {"smtp_host": "h", "smtp_password": "p2", "to": ["x@y"]},
            "list": ["p3", {"secret": ["p4", "p5"]}],
            "count": 3
        });
        let out = san(&body);
        for s in ["p1", "t1", "k1", "p2", "p4", "p5", "smtp_host"] {
            assert!(!out.contains(&format!("\"{s}\"")), "{s} leaked: {out}");
        }
        let back: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["username"], "alice");
        assert_eq!(back["users"][0]["name"], "a");
        assert_eq!(back["users"][0]["password"], "***");
        assert_eq!(back["users"][1]["nested"]["deeper"][0]["token"], "***");
        assert_eq!(back["users"][1]["nested"]["deeper"][1]["api_key"], "***");
        assert_eq!(back["config"], "***");
        assert_eq!(back["list"][0], "p3", "array values without a key are kept");
        assert_eq!(back["list"][1]["secret"], "***");
        assert_eq!(back["count"], 3);
    }

    #[test]
    fn non_secret_values_of_any_type_survive() {
        let body = json!({"a": null, "b": true, "c": 1.5, "d": [], "e": {}});
        assert_eq!(san(&body), body.to_string());
        // A bare array or scalar body is still JSON.
        assert_eq!(san(&json!([1, {"token": "x"}])), r#"[1,{"token":"***"}]"#);
        assert_eq!(san(&json!("text")), r#""text""#);
    }

    #[test]
    fn non_json_and_unparsable_bodies_are_never_stored() {
        let secret = b"password=hunter2&user=alice";
        assert_eq!(
            sanitize_body(secret, Some("application/x-www-form-urlencoded")).as_deref(),
            Some("[non-JSON body, 27 bytes]")
        );
        // Says JSON, is not: the raw bytes might still hold a secret.
        let broken = br#"{"password": "hunter2""#;
        assert_eq!(
            sanitize_body(broken, JSON).as_deref(),
            Some("[non-JSON body, 22 bytes]")
        );
        assert_eq!(
            sanitize_body(b"\xff\xfe\x00", None).as_deref(),
            Some("[non-JSON body, 3 bytes]")
        );
        assert_eq!(
            sanitize_body(br#"{"token":"x"}"#, Some("text/plain")).as_deref(),
            Some("[non-JSON body, 13 bytes]")
        );
        // Deeper than serde_json's recursion limit: unparsable, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(sanitize_body(deep.as_bytes(), JSON)
            .unwrap()
            .starts_with("[non-JSON body"));
    }

    #[test]
    fn content_types_and_empty_bodies() {
        assert_eq!(sanitize_body(b"", JSON), None);
        assert_eq!(sanitize_body(b"", Some("text/plain")), None);
        let b = br#"{"password":"x"}"#;
        for ct in [
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
            Some("application/merge-patch+json"),
            None,
        ] {
            assert_eq!(
                sanitize_body(b, ct).as_deref(),
                Some(r#"{"password":"***"}"#),
                "{ct:?}"
            );
        }
    }

    #[test]
    fn huge_bodies_are_cut_to_2000_chars_without_leaking() {
        let items: Vec<Value> = (0..30_000)
            .map(|i| json!({"name": format!("item-{i}-ü"), "password": format!("pw-{i}")}))
            .collect();
        let body = serde_json::to_vec(&json!({"items": items})).unwrap();
        assert!(body.len() > 1_000_000);
        let out = sanitize_body(&body, JSON).unwrap();
        assert_eq!(out.chars().count(), MAX_STORED_BODY_CHARS);
        assert!(out.ends_with("..."));
        assert!(!out.contains("pw-"));
        // Multi-byte characters are cut on a character boundary.
        let wide = json!({"name": "ü".repeat(5_000)}).to_string();
        let out = sanitize_body(wide.as_bytes(), JSON).unwrap();
        assert_eq!(out.chars().count(), MAX_STORED_BODY_CHARS);
        // Exactly at the limit: kept whole.
        let exact = json!({"n": "a".repeat(MAX_STORED_BODY_CHARS - 8)}).to_string();
        assert_eq!(exact.chars().count(), MAX_STORED_BODY_CHARS);
        assert_eq!(sanitize_body(exact.as_bytes(), JSON).unwrap(), exact);
    }

    #[test]
    fn login_username_is_read_from_the_body() {
        let b = br#"{"username":"alice","password":"hunter2"}"#;
        assert_eq!(body_username(b, JSON).as_deref(), Some("alice"));
        assert_eq!(body_username(b"nope", JSON), None);
        assert_eq!(body_username(br#"{"username":5}"#, JSON), None);
        assert_eq!(body_username(b, Some("text/plain")), None);
        let long = json!({"username": "x".repeat(1000)}).to_string();
        assert_eq!(body_username(long.as_bytes(), JSON).unwrap().len(), 256);
    }

    #[test]
    fn kinds_round_trip() {
        for k in SecurityKind::ALL {
            assert_eq!(SecurityKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(SecurityKind::parse("nope"), None);
    }
}
