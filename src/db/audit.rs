//! The `audit_logs` and `security_events` tables.
//!
//! Rows are inserted in batches by the audit writer ([`crate::audit::Audit`]) and read by
//! the admin endpoints. Every list counts its `total` with the same filters as its page.

use super::MultiBackend;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{audit_logs as al, security_events as se};
use super::{on_engine, to_db, DbConn, DbError};
use crate::auth::Role;

/// One audit row (seed 000 §9.2.3 columns). `request_body` must already be sanitized.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Request start.
    pub timestamp: DateTime<Utc>,
    /// The caller, when known.
    pub user_id: Option<i32>,
    /// The caller's name ("" when unknown).
    pub username: String,
    /// The caller's role, when known.
    pub role: Option<Role>,
    /// `web`, `api` (API key) or `agent`.
    pub source: String,
    /// What was attempted (`create`, `update`, `delete`, `login`, ...).
    pub action: String,
    /// The resource path.
    pub resource: String,
    /// HTTP method.
    pub method: String,
    /// Sanitized body: passwords, tokens, secrets and channel configs never appear.
    pub request_body: Option<String>,
    /// Reply status.
    pub status_code: i32,
    /// 2xx.
    pub success: bool,
    /// Error text of a refused request.
    pub error_message: Option<String>,
    /// Client IP.
    pub ip: String,
    /// User-Agent.
    pub user_agent: String,
    /// Handling time.
    pub duration_ms: i64,
}

/// Kinds of security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityKind {
    /// A bearer token that is unknown, expired or revoked.
    InvalidToken,
    /// A role too low for the route.
    PermissionDenied,
    /// A rate limit hit.
    RateLimit,
    /// An agent token used for another cluster.
    AgentTokenMismatch,
    /// A failed login.
    LoginFailed,
    /// A login refused because the (user, IP) pair is locked.
    LoginLocked,
}

impl SecurityKind {
    /// Every kind.
    pub const ALL: [SecurityKind; 6] = [
        Self::InvalidToken,
        Self::PermissionDenied,
        Self::RateLimit,
        Self::AgentTokenMismatch,
        Self::LoginFailed,
        Self::LoginLocked,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid_token",
            Self::PermissionDenied => "permission_denied",
            Self::RateLimit => "rate_limit",
            Self::AgentTokenMismatch => "agent_token_mismatch",
            Self::LoginFailed => "login_failed",
            Self::LoginLocked => "login_locked",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<SecurityKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Severity: `low`, `medium`, `high` or `critical`.
    pub fn severity(self) -> &'static str {
        match self {
            Self::LoginFailed | Self::RateLimit => "low",
            Self::InvalidToken | Self::PermissionDenied => "medium",
            Self::LoginLocked | Self::AgentTokenMismatch => "high",
        }
    }
}

/// A security event to record.
#[derive(Debug, Clone)]
pub struct SecurityEvent {
    /// Kind.
    pub kind: SecurityKind,
    /// Client IP.
    pub ip: String,
    /// User, when known.
    pub user_id: Option<i32>,
    /// Token, when known.
    pub token_id: Option<i32>,
    /// Path or cluster concerned.
    pub resource: String,
    /// Details (never a secret).
    pub details: serde_json::Value,
}

/// One stored audit row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = al)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct AuditRow {
    pub id: i32,
    pub timestamp: NaiveDateTime,
    pub user_id: Option<i32>,
    pub username: String,
    pub role: Option<i32>,
    pub source: String,
    pub action: String,
    pub resource: String,
    pub method: String,
    pub request_body: Option<String>,
    pub status_code: i32,
    pub success: bool,
    pub error_message: Option<String>,
    pub ip: String,
    pub user_agent: String,
    pub duration_ms: i64,
}

/// One stored security event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = se)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct SecurityEventRow {
    pub id: i32,
    pub timestamp: NaiveDateTime,
    pub event_type: String,
    pub severity: String,
    pub ip: String,
    pub user_id: Option<i32>,
    pub token_id: Option<i32>,
    pub resource: String,
    pub details: String,
    pub resolved: bool,
    pub resolved_at: Option<NaiveDateTime>,
    pub resolved_by: Option<i32>,
}

/// Writes one batch of audit rows and security events in one transaction.
pub fn insert_batch(
    conn: &mut DbConn,
    audits: &[AuditEntry],
    events: &[(DateTime<Utc>, SecurityEvent)],
) -> Result<(), DbError> {
    conn.transaction(|c| {
        for a in audits {
            insert_audit(c, a)?;
        }
        for (at, e) in events {
            insert_security(c, *at, e)?;
        }
        Ok(())
    })
}

/// Inserts one audit row (the caller holds the batch's transaction).
pub fn insert_audit(conn: &mut DbConn, e: &AuditEntry) -> Result<(), DbError> {
    diesel::insert_into(al::table)
        .values((
            al::timestamp.eq(to_db(e.timestamp)),
            al::user_id.eq(e.user_id),
            al::username.eq(&e.username),
            al::role.eq(e.role.map(Role::as_i32)),
            al::source.eq(&e.source),
            al::action.eq(&e.action),
            al::resource.eq(&e.resource),
            al::method.eq(&e.method),
            al::request_body.eq(e.request_body.as_deref()),
            al::status_code.eq(e.status_code),
            al::success.eq(e.success),
            al::error_message.eq(e.error_message.as_deref()),
            al::ip.eq(&e.ip),
            al::user_agent.eq(&e.user_agent),
            al::duration_ms.eq(e.duration_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// Inserts one security event that happened at `at`.
pub fn insert_security(
    conn: &mut DbConn,
    at: DateTime<Utc>,
    e: &SecurityEvent,
) -> Result<(), DbError> {
    diesel::insert_into(se::table)
        .values((
            se::timestamp.eq(to_db(at)),
            se::event_type.eq(e.kind.as_str()),
            se::severity.eq(e.kind.severity()),
            se::ip.eq(&e.ip),
            se::user_id.eq(e.user_id),
            se::token_id.eq(e.token_id),
            se::resource.eq(&e.resource),
            se::details.eq(e.details.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Filters of `GET /api/v2/audit/logs`.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Only this user's rows.
    pub user_id: Option<i32>,
    /// Only this action.
    pub action: Option<String>,
    /// Only allowed (`true`) or refused/failed (`false`) requests.
    pub success: Option<bool>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

fn audit_filtered(f: &AuditFilter) -> al::BoxedQuery<'_, MultiBackend> {
    let mut q = al::table.into_boxed();
    if let Some(u) = f.user_id {
        q = q.filter(al::user_id.eq(u));
    }
    if let Some(a) = &f.action {
        q = q.filter(al::action.eq(a));
    }
    if let Some(s) = f.success {
        q = q.filter(al::success.eq(s));
    }
    if let Some(t) = f.since {
        q = q.filter(al::timestamp.ge(to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(al::timestamp.lt(to_db(t)));
    }
    q
}

/// One page of audit rows, newest first, and the number of rows matching `f`.
pub fn list_audit(
    conn: &mut DbConn,
    f: &AuditFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditRow>, i64), DbError> {
    let total: i64 = audit_filtered(f).count().get_result(conn)?;
    let rows = audit_filtered(f)
        .select(AuditRow::as_select())
        .order((al::timestamp.desc(), al::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

/// Filters of `GET /api/v2/security/events`.
#[derive(Debug, Default, Clone)]
pub struct SecurityFilter {
    /// Only this kind (its stored name).
    pub event_type: Option<String>,
    /// Only resolved (`true`) or open (`false`) events.
    pub resolved: Option<bool>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

fn security_filtered(f: &SecurityFilter) -> se::BoxedQuery<'_, MultiBackend> {
    let mut q = se::table.into_boxed();
    if let Some(k) = &f.event_type {
        q = q.filter(se::event_type.eq(k));
    }
    if let Some(r) = f.resolved {
        q = q.filter(se::resolved.eq(r));
    }
    if let Some(t) = f.since {
        q = q.filter(se::timestamp.ge(to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(se::timestamp.lt(to_db(t)));
    }
    q
}

/// One page of security events, newest first, and the number matching `f`.
pub fn list_security(
    conn: &mut DbConn,
    f: &SecurityFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<SecurityEventRow>, i64), DbError> {
    let total: i64 = security_filtered(f).count().get_result(conn)?;
    let rows = security_filtered(f)
        .select(SecurityEventRow::as_select())
        .order((se::timestamp.desc(), se::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

/// Marks event `id` resolved by `by` at `at` (or reopens it: `resolved = false` clears
/// who and when). `None` when there is no such event.
pub fn set_resolved(
    conn: &mut DbConn,
    id: i32,
    resolved: bool,
    by: i32,
    at: DateTime<Utc>,
) -> Result<Option<SecurityEventRow>, DbError> {
    let (when, who) = if resolved {
        (Some(to_db(at)), Some(by))
    } else {
        (None, None)
    };
    Ok(on_engine!(conn, |c| diesel::update(se::table.find(id))
        .set((
            se::resolved.eq(resolved),
            se::resolved_at.eq(when),
            se::resolved_by.eq(who),
        ))
        .returning(SecurityEventRow::as_returning())
        .get_result(c)
        .optional())?)
}

/// The audit log and security events. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Audit<'a>(pub(super) &'a super::Db);

impl Audit<'_> {
    /// Writes one batch of audit rows and security events in one transaction.
    pub async fn insert_batch(
        &self,
        audits: Vec<AuditEntry>,
        events: Vec<(DateTime<Utc>, SecurityEvent)>,
    ) -> Result<(), DbError> {
        self.0
            .write(move |c| insert_batch(c, &audits, &events))
            .await
    }

    /// One page of audit rows, newest first, and the number matching `filter`.
    pub async fn list_audit(
        &self,
        filter: AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditRow>, i64), DbError> {
        self.0
            .read(move |c| list_audit(c, &filter, limit, offset))
            .await
    }

    /// One page of security events, newest first, and the number matching `filter`.
    pub async fn list_security(
        &self,
        filter: SecurityFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SecurityEventRow>, i64), DbError> {
        self.0
            .read(move |c| list_security(c, &filter, limit, offset))
            .await
    }

    /// Marks event `id` resolved by `by` at `at`, or reopens it (see [`set_resolved`]);
    /// `None` when there is no such event.
    pub async fn set_resolved(
        &self,
        id: i32,
        resolved: bool,
        by: i32,
        at: DateTime<Utc>,
    ) -> Result<Option<SecurityEventRow>, DbError> {
        self.0
            .write(move |c| set_resolved(c, id, resolved, by, at))
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::audit::SecurityKind;

    fn conn() -> DbConn {
        super::super::test_conn()
    }

    fn entry(user: Option<i32>, action: &str, success: bool, at: DateTime<Utc>) -> AuditEntry {
        AuditEntry {
            timestamp: at,
            user_id: user,
            username: user.map(|u| format!("u{u}")).unwrap_or_default(),
            role: user.map(|_| Role::Admin),
            source: "web".into(),
            action: action.into(),
            resource: "/api/v2/x".into(),
            method: "POST".into(),
            request_body: None,
            status_code: if success { 200 } else { 403 },
            success,
            error_message: None,
            ip: "127.0.0.1".into(),
            user_agent: "t".into(),
            duration_ms: 1,
        }
    }

    fn event(kind: SecurityKind) -> SecurityEvent {
        SecurityEvent {
            kind,
            ip: "10.0.0.1".into(),
            user_id: None,
            token_id: None,
            resource: "/api/v2/x".into(),
            details: serde_json::json!({"why": "test"}),
        }
    }

    #[test]
    fn audit_total_honours_every_filter() {
        let mut c = conn();
        let t0 = Utc::now() - chrono::Duration::hours(1);
        for i in 0..10 {
            let user = if i % 2 == 0 { Some(1) } else { Some(2) };
            let action = if i < 5 { "create" } else { "delete" };
            let at = t0 + chrono::Duration::minutes(i);
            insert_audit(&mut c, &entry(user, action, i % 3 != 0, at)).unwrap();
        }
        let all = list_audit(&mut c, &AuditFilter::default(), 3, 0).unwrap();
        assert_eq!((all.0.len(), all.1), (3, 10));
        assert!(all.0[0].timestamp >= all.0[1].timestamp, "newest first");
        let f = AuditFilter {
            user_id: Some(1),
            action: Some("create".into()),
            ..Default::default()
        };
        assert_eq!(list_audit(&mut c, &f, 100, 0).unwrap().1, 3); // i = 0, 2, 4
        let f = AuditFilter {
            success: Some(false),
            ..Default::default()
        };
        assert_eq!(list_audit(&mut c, &f, 1, 0).unwrap().1, 4); // i = 0, 3, 6, 9
        let f = AuditFilter {
            since: Some(t0 + chrono::Duration::minutes(2)),
            until: Some(t0 + chrono::Duration::minutes(5)),
            ..Default::default()
        };
        let (rows, total) = list_audit(&mut c, &f, 100, 1).unwrap();
        assert_eq!((rows.len(), total), (2, 3));
        let f = AuditFilter {
            action: Some("' OR 1=1 --".into()),
            ..Default::default()
        };
        assert_eq!(list_audit(&mut c, &f, 100, 0).unwrap().1, 0);
    }

    #[test]
    fn security_events_filter_and_resolve() {
        let mut c = conn();
        let now = Utc::now();
        insert_security(&mut c, now, &event(SecurityKind::LoginFailed)).unwrap();
        insert_security(&mut c, now, &event(SecurityKind::LoginFailed)).unwrap();
        insert_security(&mut c, now, &event(SecurityKind::AgentTokenMismatch)).unwrap();
        let f = SecurityFilter {
            event_type: Some("login_failed".into()),
            ..Default::default()
        };
        let (rows, total) = list_security(&mut c, &f, 100, 0).unwrap();
        assert_eq!((rows.len(), total), (2, 2));
        assert_eq!(rows[0].severity, "low");
        let id = rows[0].id;
        let row = set_resolved(&mut c, id, true, 7, now).unwrap().unwrap();
        assert!(row.resolved);
        assert_eq!(row.resolved_by, Some(7));
        assert!(row.resolved_at.is_some());
        let open = SecurityFilter {
            resolved: Some(false),
            ..Default::default()
        };
        assert_eq!(list_security(&mut c, &open, 100, 0).unwrap().1, 2);
        let row = set_resolved(&mut c, id, false, 7, now).unwrap().unwrap();
        assert_eq!(
            (row.resolved, row.resolved_by, row.resolved_at),
            (false, None, None)
        );
        assert!(set_resolved(&mut c, 9999, true, 7, now).unwrap().is_none());
    }
}
