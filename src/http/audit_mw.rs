//! The dashboard's audit middleware: every mutating request (POST, PUT, PATCH, DELETE)
//! and every refused request of any method (401, 403, 429) becomes an audit row.
//!
//! - It wraps the whole dashboard app, outside every role check, so refused attempts are
//!   recorded too. Who called comes from the [`Principal`] the `Auth` extractor leaves in
//!   the request extensions (also on a 403); unauthenticated requests have no user. For
//!   the login route the username comes from the body (and there is no user id).
//! - A mutating request's body (up to [`MAX_AUDITED_BODY`]) is read, sanitized with
//!   [`sanitize_body`] and handed back to the handler unchanged. A larger body is passed
//!   through untouched and not recorded.
//! - The row is handed to the audit writer without waiting ([`crate::audit::Audit::log`]).
//!
//! Actions, from the method and the path's last segment:
//!
//! | Request | `action` |
//! |---|---|
//! | `POST …/auth/login` or `…/user/login`, `POST …/auth/logout` | `login`, `logout` |
//! | `POST …/cancel`, `…/test`, `…/cleanup`, `…/backup` | that word |
//! | `POST …/agent-token` | `rotate` |
//! | `POST …/proposals/{id}/approve`, `…/reject`, `POST …/ai/chat` | that word |
//! | `POST /api/v2/query` (a read: audited only when refused) | `read` |
//! | `POST …/user/update-role`, `…/user/update-status`, `…/user/delete` (`/v21`) | `update`, `update`, `delete` |
//! | any other `POST` | `create` |
//! | `PUT`, `PATCH` | `update` |
//! | `DELETE` | `delete` |
//! | any other method (a refused read) | `read` |

use std::pin::Pin;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::HttpMessage;
use chrono::Utc;
use futures_util::{stream, Stream, StreamExt};

use crate::audit::{body_username, sanitize_body, Audit, AuditEntry};
use crate::auth::{client_ip, Principal, TokenKind};

/// Largest body that is read and recorded: the dashboard's JSON limit, so every body a
/// handler can accept is recorded, and nothing larger is ever buffered here.
pub const MAX_AUDITED_BODY: usize = 1024 * 1024;

/// Bodies up to this size are sanitized on the worker (microseconds); larger ones go to
/// the blocking pool, since parsing a megabyte of JSON takes milliseconds.
const INLINE_SANITIZE: usize = 64 * 1024;

/// Longest stored path and user agent, in characters: enough to read, bounded so a
/// hostile client cannot bloat the table.
const MAX_FIELD_CHARS: usize = 1024;

/// The login routes (ours and the AtlHyper dashboard's), whose caller is named in the body.
const LOGIN_PATHS: [&str; 2] = ["/api/v2/auth/login", "/v21/api/v2/user/login"];

type BoxedStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// POST routes that only read (a query text too long for a URL): audited like a GET,
/// that is when refused.
const READS_BY_POST: [&str; 1] = ["/api/v2/query"];

/// True for the methods whose requests are always audited.
pub fn is_mutating(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// True for the refusals that are audited whatever the method.
pub fn is_refusal(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    )
}

/// The audit `action` of a request (see the module table).
pub fn action_for(method: &Method, path: &str) -> &'static str {
    let path = path.trim_end_matches('/');
    let last = path.rsplit('/').next().unwrap_or("");
    match *method {
        Method::POST => {
            if path.ends_with("/auth/login") || path.ends_with("/user/login") {
                "login"
            } else if path.ends_with("/auth/logout") {
                "logout"
            } else {
                match last {
                    "cancel" => "cancel",
                    "test" => "test",
                    "cleanup" => "cleanup",
                    "backup" => "backup",
                    "agent-token" => "rotate",
                    "approve" => "approve",
                    "reject" => "reject",
                    "chat" => "chat",
                    "query" => "read",
                    // The AtlHyper dashboard's user routes (`/v21/api/v2/user/…`).
                    "update-role" | "update-status" => "update",
                    "delete" => "delete",
                    _ => "create",
                }
            }
        }
        Method::PUT | Method::PATCH => "update",
        Method::DELETE => "delete",
        _ => "read",
    }
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_FIELD_CHARS).collect()
}

/// Records the request (see the module header). Wrap the dashboard `App` with
/// `middleware::from_fn(audit_mw::audit)`.
pub async fn audit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(audit) = req.app_data::<web::Data<Audit>>().cloned() else {
        return next.call(req).await;
    };
    let start = Instant::now();
    let timestamp = Utc::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let mutating = is_mutating(&method) && !READS_BY_POST.contains(&path.trim_end_matches('/'));
    let is_login = method == Method::POST && LOGIN_PATHS.contains(&path.as_str());
    let (body, login_user) = if mutating {
        capture_body(&mut req, is_login).await
    } else {
        (None, None)
    };
    // Read before the call: the app-level request must not be cloned before routing.
    let ip = client_ip(req.request());
    let user_agent = req
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(cut)
        .unwrap_or_default();

    let res = next.call(req).await;

    let (status, principal) = match &res {
        Ok(r) => (
            r.status(),
            r.request().extensions().get::<Principal>().cloned(),
        ),
        Err(e) => (e.as_response_error().status_code(), None),
    };
    if !mutating && !is_refusal(status) {
        return res;
    }
    let success = status.is_success();
    // A login names its user in the body, whatever token came along with it.
    let principal = principal.filter(|_| !is_login);
    let (user_id, username, role, source) = match principal {
        Some(p) => (
            Some(p.user_id),
            p.username,
            Some(p.role),
            if p.token_kind == TokenKind::ApiKey {
                "api"
            } else {
                "web"
            },
        ),
        None => (None, login_user.unwrap_or_default(), None, "web"),
    };
    audit.log(AuditEntry {
        timestamp,
        user_id,
        username,
        role,
        source: source.to_owned(),
        action: action_for(&method, &path).to_owned(),
        resource: cut(&path),
        method: method.as_str().to_owned(),
        request_body: body,
        status_code: i32::from(status.as_u16()),
        success,
        error_message: (!success).then(|| status.canonical_reason().unwrap_or("error").to_owned()),
        ip,
        user_agent,
        duration_ms: i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX),
    });
    res
}

/// Reads the body (up to [`MAX_AUDITED_BODY`]) and puts it back for the handler.
/// Returns the text to store and, for the login route, the username in the body.
async fn capture_body(req: &mut ServiceRequest, login: bool) -> (Option<String>, Option<String>) {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared.filter(|n| *n > MAX_AUDITED_BODY as u64) {
        // Left unread: the handler refuses it (413) without our buffering it first.
        return (Some(format!("[body of {len} bytes, not recorded]")), None);
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut payload = req.take_payload();
    let mut buf = BytesMut::new();
    loop {
        match payload.next().await {
            None => break,
            Some(Ok(chunk)) => {
                buf.extend_from_slice(&chunk);
                if buf.len() > MAX_AUDITED_BODY {
                    // Hand back what was read followed by the unread rest.
                    let rest: BoxedStream =
                        Box::pin(stream::once(async move { Ok(buf.freeze()) }).chain(payload));
                    req.set_payload(Payload::from(rest));
                    return (
                        Some(format!(
                            "[body over {MAX_AUDITED_BODY} bytes, not recorded]"
                        )),
                        None,
                    );
                }
            }
            Some(Err(e)) => {
                // The handler sees the same failure after the same bytes.
                let n = buf.len();
                let again: BoxedStream = Box::pin(stream::iter([Ok(buf.freeze()), Err(e)]));
                req.set_payload(Payload::from(again));
                return (Some(format!("[incomplete body, {n} bytes]")), None);
            }
        }
    }
    let body = buf.freeze();
    req.set_payload(Payload::from(body.clone()));
    let inline = body.len() <= INLINE_SANITIZE;
    let work = move || {
        let ct = content_type.as_deref();
        let user = if login {
            body_username(&body, ct)
        } else {
            None
        };
        (sanitize_body(&body, ct), user)
    };
    if inline {
        work()
    } else {
        web::block(work)
            .await
            .unwrap_or_else(|_| (Some("[body not sanitized]".to_owned()), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_table() {
        let cases = [
            (Method::POST, "/api/v2/auth/login", "login"),
            (Method::POST, "/api/v2/auth/logout", "logout"),
            (Method::POST, "/api/v2/commands/abc/cancel", "cancel"),
            (Method::POST, "/api/v2/notify/channels/slack/test", "test"),
            (Method::POST, "/api/v2/admin/cleanup", "cleanup"),
            (Method::POST, "/api/v2/admin/backup", "backup"),
            (Method::POST, "/api/v2/clusters/c1/agent-token", "rotate"),
            (Method::POST, "/api/v2/clusters/c1/agent-token/", "rotate"),
            (Method::POST, "/api/v2/clusters", "create"),
            (Method::POST, "/api/v2/command", "create"),
            (Method::PUT, "/api/v2/settings/x", "update"),
            (Method::PATCH, "/api/v2/users/3", "update"),
            (Method::DELETE, "/api/v2/clusters/c1/agent-token", "delete"),
            (Method::DELETE, "/api/v2/tokens/4", "delete"),
            (Method::GET, "/api/v2/audit/logs", "read"),
            (Method::POST, "/api/v2/query", "read"),
            (Method::HEAD, "/", "read"),
            (Method::POST, "/v21/api/v2/user/login", "login"),
            (Method::POST, "/v21/api/v2/user/register", "create"),
            (Method::POST, "/v21/api/v2/user/update-role", "update"),
            (Method::POST, "/v21/api/v2/user/update-status", "update"),
            (Method::POST, "/v21/api/v2/user/delete", "delete"),
            (Method::POST, "/v21/api/v2/ops/pods/restart", "create"),
        ];
        for (m, p, want) in cases {
            assert_eq!(action_for(&m, p), want, "{m} {p}");
        }
    }

    #[test]
    fn what_is_audited() {
        assert!(is_mutating(&Method::DELETE) && !is_mutating(&Method::GET));
        assert!(is_refusal(StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_refusal(StatusCode::NOT_FOUND));
    }
}
