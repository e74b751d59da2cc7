//! One error type for both ports: every failure becomes `{"error", "code"}` JSON with the
//! right status. Internal causes are logged, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::DbError;

/// Defines [`ErrorCode`] from one list, so that the variants, [`ErrorCode::ALL`] and
/// [`ErrorCode::as_str`] cannot drift apart.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal,)+) => {
        /// Every `code` an error reply of either port carries: one closed table. Clients
        /// match on these strings, so a code is never renamed; the README's "Error codes"
        /// section lists them all (a test keeps it true).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The stable snake_case string sent as `code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }
        }
    };
}

error_codes! {
    // Requests that are malformed (400 unless noted).
    /// A query, path or body parameter has a bad value; the message names it.
    InvalidParameter = "invalid_parameter",
    /// A JSON body (or agent payload) that does not parse, or is not an object.
    InvalidJson = "invalid_json",
    /// A JSON body that parses but does not have the expected shape.
    InvalidBody = "invalid_body",
    /// A path segment that does not parse.
    InvalidPath = "invalid_path",
    /// An agent body that is not valid gzip.
    InvalidGzip = "invalid_gzip",
    /// The agent body could not be read from the connection.
    BodyReadFailed = "body_read_failed",
    /// 408: the agent body did not arrive within `MASTER_AGENT_READ_TIMEOUT`.
    BodyTimeout = "body_timeout",
    /// 413: a body over its limit (or a gzip body expanding past it).
    PayloadTooLarge = "payload_too_large",
    /// 415: an agent `Content-Encoding` other than gzip or identity.
    UnsupportedEncoding = "unsupported_encoding",
    /// 415: a dashboard JSON body sent without `Content-Type: application/json`.
    UnsupportedMediaType = "unsupported_media_type",
    /// An empty or missing cluster id.
    MissingClusterId = "missing_cluster_id",
    /// A cluster id that is too long or holds whitespace, control characters or `/`.
    InvalidClusterId = "invalid_cluster_id",
    /// The `X-Cluster-ID` header and the body name different clusters.
    ClusterIdMismatch = "cluster_id_mismatch",
    /// An agent result without `command_id`.
    MissingCommandId = "missing_command_id",
    /// A command the v2.1 agent would not run (the reply names the `field`).
    InvalidCommand = "invalid_command",
    /// An alert rule condition that does not parse or is not allowed.
    InvalidCondition = "invalid_condition",
    /// An alert rule scope (cluster, namespace, labels) that does not parse.
    InvalidScope = "invalid_scope",
    /// A change a built-in alert rule does not allow (400), or deleting one (409).
    BuiltinRule = "builtin_rule",
    /// A resource kind the master does not know.
    UnknownKind = "unknown_kind",
    /// A namespaced path for a cluster-scoped kind.
    ClusterScopedKind = "cluster_scoped_kind",
    /// A cluster-scoped path for a namespaced kind.
    NamespacedKind = "namespaced_kind",
    /// A query DSL text that does not follow the grammar; the reply's `position` is the
    /// byte offset of the problem.
    QuerySyntax = "query_syntax",
    /// A query that names an unknown kind, argument or field, or a value that does not
    /// apply; the reply carries `position` and, when one is close, a `hint`.
    QueryInvalid = "query_invalid",
    /// 413: a query whose reply would exceed its cap.
    QueryTooLarge = "query_too_large",
    // Who is calling.
    /// 401: no bearer token, or an unknown, expired or revoked one.
    Unauthorized = "unauthorized",
    /// 403: a role below what the route needs.
    Forbidden = "forbidden",
    /// 403: an agent token used for another cluster.
    AgentTokenMismatch = "agent_token_mismatch",
    /// 403: an agent result for another cluster's command.
    CommandClusterMismatch = "command_cluster_mismatch",
    /// 403: an API key asked for with a role above its creator's.
    RoleTooHigh = "role_too_high",
    // What does not exist (404 unless noted).
    /// No route for this path.
    UnknownPath = "unknown_path",
    /// 405: the path exists, the method does not.
    MethodNotAllowed = "method_not_allowed",
    /// The cluster is not known.
    ClusterNotFound = "cluster_not_found",
    /// The cluster has not sent a snapshot yet.
    NoSnapshot = "no_snapshot",
    /// No such object in the cluster's latest snapshot.
    ResourceNotFound = "resource_not_found",
    /// No metrics for that node.
    NodeNotFound = "node_not_found",
    /// No such command.
    CommandNotFound = "command_not_found",
    /// No such user.
    UserNotFound = "user_not_found",
    /// No such token among the caller's (another user's looks the same).
    TokenNotFound = "token_not_found",
    /// The cluster has no agent token to revoke.
    AgentTokenNotFound = "agent_token_not_found",
    /// No such security event.
    SecurityEventNotFound = "security_event_not_found",
    /// No such alert rule.
    RuleNotFound = "rule_not_found",
    /// No route of the cluster has that domain.
    DomainNotFound = "domain_not_found",
    /// No such silence.
    SilenceNotFound = "silence_not_found",
    /// No such notification channel type.
    ChannelNotFound = "channel_not_found",
    /// No such AI provider.
    ProviderNotFound = "provider_not_found",
    /// No such conversation among the caller's (another user's looks the same).
    ConversationNotFound = "conversation_not_found",
    /// No such proposal.
    ProposalNotFound = "proposal_not_found",
    /// No such agent version in the catalogue.
    VersionNotFound = "version_not_found",
    // Conflicts with the current state (409).
    /// A user with that name exists.
    UserExists = "user_exists",
    /// A cluster with that id exists.
    ClusterExists = "cluster_exists",
    /// That agent version is in the catalogue already.
    VersionExists = "version_exists",
    /// An alert rule with that name exists.
    RuleNameTaken = "rule_name_taken",
    /// An admin disabling, demoting or deleting themselves.
    SelfLockout = "self_lockout",
    /// The last active admin cannot be disabled, demoted or deleted.
    LastAdmin = "last_admin",
    /// Only a pending command can be cancelled.
    NotPending = "not_pending",
    /// A backup is already running.
    BackupRunning = "backup_running",
    /// The engine has no built-in backup (PostgreSQL: use `pg_dump`); 501.
    BackupUnsupported = "backup_unsupported",
    /// An AI provider with that name exists.
    ProviderNameTaken = "provider_name_taken",
    /// The active AI provider cannot be deleted.
    ProviderInUse = "provider_in_use",
    /// The AI assistant is switched off.
    AiDisabled = "ai_disabled",
    /// The AI assistant has no active provider.
    AiNoProvider = "ai_no_provider",
    /// The conversation is already answering a message.
    ChatBusy = "chat_busy",
    /// The proposal was already approved, rejected, or has expired.
    ProposalDecided = "proposal_decided",
    // The agent, for a request that waits on its answer.
    /// 502: the agent ran the command and reported a failure (the message is its error).
    CommandFailed = "command_failed",
    /// 504: no agent answered the command in time.
    AgentTimeout = "agent_timeout",
    // Limits (429, with `Retry-After`).
    /// Too many requests for this token or cluster.
    RateLimited = "rate_limited",
    /// Too many failed logins for this user from this address.
    LoginLocked = "login_locked",
    /// The master already holds `MASTER_MAX_CLUSTERS` clusters.
    ClusterLimit = "cluster_limit",
    // The master itself.
    /// 500: an internal error (the cause is logged, never sent).
    Internal = "internal",
    /// 503: the database or an actor is unavailable; try again.
    Unavailable = "unavailable",
    /// 503: the database's disk is full; writes are refused until space is freed.
    StorageFull = "storage_full",
    /// 503: the database (file, directory or filesystem) is read-only.
    StorageReadOnly = "storage_read_only",
    /// 503: the database's storage failed an I/O (or its WAL was lost and is being rebuilt).
    StorageIoError = "storage_io_error",
    /// 503 from `GET /ready`: a readiness check failed (`checks` names it).
    NotReady = "not_ready",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error reply. `code` is one of the closed [`ErrorCode`] table.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    extra: Option<serde_json::Value>,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Value>,
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: None,
            retry_after: None,
        }
    }
    /// Adds fields to the JSON body (they must be an object).
    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }
    /// 429 with `Retry-After` (whole seconds, rounded up).
    pub fn too_many(
        code: ErrorCode,
        message: impl Into<String>,
        retry_after: std::time::Duration,
    ) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, code, message);
        e.retry_after = Some(crate::ratelimit::retry_after_secs(retry_after));
        e
    }
    /// 400.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 400 naming the offending parameter.
    pub fn invalid_param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad_request(
            ErrorCode::InvalidParameter,
            format!("invalid {name}: {why}"),
        )
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }
    /// 403.
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }
    /// 404.
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }
    /// 409.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            message,
        )
    }
    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
        )
    }
    /// 500. The cause is logged here and replaced by a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error",
        )
    }
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        res.json(Body {
            error: &self.message,
            code: self.code.as_str(),
            extra: self.extra.as_ref(),
        })
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        use crate::db::health::{classify, StorageFault};
        let Some(fault) = classify(&e) else {
            return ApiError::internal(e);
        };
        let code = match fault {
            StorageFault::Unreachable => ErrorCode::Unavailable,
            StorageFault::Full => ErrorCode::StorageFull,
            StorageFault::ReadOnly => ErrorCode::StorageReadOnly,
            StorageFault::Io => ErrorCode::StorageIoError,
        };
        tracing::error!(error = %e, fault = fault.describe(), "storage fault");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            fault.client_message(),
        )
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        tracing::error!(error = %e, "actor mailbox error");
        ApiError::unavailable("actor unavailable, try again")
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// Codes set inside a constructor of this file: they are used when the constructor is.
    const IMPLIED_BY: &[(ErrorCode, &str)] = &[
        (ErrorCode::InvalidParameter, "ApiError::invalid_param("),
        (ErrorCode::Unauthorized, "ApiError::unauthorized("),
        (ErrorCode::PayloadTooLarge, "ApiError::too_large("),
        (ErrorCode::Unavailable, "ApiError::unavailable("),
        (ErrorCode::Internal, "ApiError::internal("),
        // `From<DbError>` sends these when `db::health` classifies a failure so.
        (ErrorCode::StorageFull, "StorageFault::Full"),
        (ErrorCode::StorageReadOnly, "StorageFault::ReadOnly"),
        (ErrorCode::StorageIoError, "StorageFault::Io"),
    ];

    fn variant_name(code: ErrorCode) -> String {
        format!("{code:?}")
    }

    /// Every `.rs` file under `dir`, with `//` comment lines removed.
    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect();
                out.push((path.display().to_string(), code.join("\n")));
            }
        }
    }

    /// Whether `text` names `ErrorCode::<variant>` (not a longer variant).
    fn names(text: &str, variant: &str) -> bool {
        let needle = format!("ErrorCode::{variant}");
        text.match_indices(&needle).any(|(i, _)| {
            !text[i + needle.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = BTreeSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} is in the table twice");
            assert!(
                !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && !s.starts_with('_')
                    && !s.ends_with('_'),
                "{s} is not snake_case"
            );
            // The variant is the code in CamelCase, so a reader can find one from the other.
            let camel: String = s
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(variant_name(*code), camel);
        }
    }

    #[test]
    fn every_code_is_used() {
        let mut files = Vec::new();
        sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        // The API description names codes to document them, not to send them.
        let described = Path::new("http").join("api").join("openapi.rs");
        files.retain(|(path, _)| !Path::new(path).ends_with(&described));
        let this = Path::new("src").join("error.rs").display().to_string();
        let (here, elsewhere): (Vec<_>, Vec<_>) =
            files.iter().partition(|(path, _)| path.ends_with(&this));
        // This file counts only for the constructors it calls (the `From` impls), up to
        // its tests.
        let here: Vec<&str> = here
            .iter()
            .map(|(_, text)| text.split("#[cfg(test)]").next().unwrap_or(""))
            .collect();
        for code in ErrorCode::ALL {
            let variant = variant_name(*code);
            let direct = elsewhere.iter().any(|(_, text)| names(text, &variant));
            let via = IMPLIED_BY
                .iter()
                .filter(|(c, _)| c == code)
                .any(|(_, call)| {
                    elsewhere.iter().any(|(_, t)| t.contains(call))
                        || here.iter().any(|t| t.contains(call))
                });
            assert!(
                direct || via,
                "ErrorCode::{variant} ({code}) is never used: remove it from the table"
            );
        }
    }

    #[test]
    fn readme_lists_exactly_the_table() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .unwrap();
        let section = readme
            .split("\n## Error codes\n")
            .nth(1)
            .expect("README.md has an \"Error codes\" section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let listed: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .collect();
        let table: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, table, "README's error-code table, in table order");
        // Wherever else the README quotes a code after a 4xx/5xx status, it is a real one.
        let known: BTreeSet<&str> = table.iter().copied().collect();
        for line in readme.lines() {
            for quoted in quoted_codes(line) {
                assert!(
                    known.contains(quoted),
                    "README quotes `{quoted}` as an error code: not in ErrorCode"
                );
            }
        }
    }

    /// The snake_case words a README line quotes after a 4xx/5xx status: "415 `a`",
    /// "400 `a` / `b`".
    fn quoted_codes(line: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let bytes = line.as_bytes();
        for (i, _) in line.match_indices(" `") {
            let status_at = i.checked_sub(3);
            let is_status = status_at.is_some_and(|s| {
                matches!(bytes[s], b'4' | b'5')
                    && bytes[s + 1].is_ascii_digit()
                    && bytes[s + 2].is_ascii_digit()
                    && (s == 0 || !bytes[s - 1].is_ascii_alphanumeric())
            });
            if !is_status {
                continue;
            }
            let mut rest = &line[i + 1..];
            while let Some(after) = rest.strip_prefix('`') {
                let Some((code, tail)) = after.split_once('`') else {
                    break;
                };
                // Header names and the like (`Retry-After`) are not codes.
                if code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    out.push(code);
                }
                match tail.strip_prefix(" / ") {
                    Some(next) => rest = next,
                    None => break,
                }
            }
        }
        out
    }

    #[actix_web::test]
    async fn the_reply_carries_the_code_string() {
        let e = ApiError::conflict(ErrorCode::LastAdmin, "no");
        assert_eq!(e.code(), ErrorCode::LastAdmin);
        assert_eq!(e.to_string(), "409 (last_admin): no");
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, serde_json::json!({"error": "no", "code": "last_admin"}));
    }
}
