//! Admin views of the audit log and the security events (`spec/api.md`, "Audit and
//! security"). Stored bodies are already sanitized; nothing here un-redacts anything.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::SecurityKind;
use crate::auth::extract::Admin;
use crate::auth::Role;
use crate::db::audit::{AuditFilter, AuditRow, SecurityEventRow, SecurityFilter};
use crate::db::from_db;
use crate::error::{ApiError, ErrorCode};
use crate::http::{ListReply, Page, QueryParams};
use crate::state::AppState;

/// An audit row as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditView {
    id: i32,
    timestamp: DateTime<Utc>,
    user_id: Option<i32>,
    username: String,
    role: Option<&'static str>,
    source: String,
    action: String,
    resource: String,
    method: String,
    request_body: Option<String>,
    status_code: i32,
    success: bool,
    error_message: Option<String>,
    ip: String,
    user_agent: String,
    duration_ms: i64,
}

fn audit_view(r: AuditRow) -> AuditView {
    AuditView {
        id: r.id,
        timestamp: from_db(r.timestamp),
        user_id: r.user_id,
        username: r.username,
        role: r.role.and_then(Role::from_i32).map(Role::as_str),
        source: r.source,
        action: r.action,
        resource: r.resource,
        method: r.method,
        request_body: r.request_body,
        status_code: r.status_code,
        success: r.success,
        error_message: r.error_message,
        ip: r.ip,
        user_agent: r.user_agent,
        duration_ms: r.duration_ms,
    }
}

/// A security event as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SecurityEventView {
    id: i32,
    timestamp: DateTime<Utc>,
    event_type: String,
    severity: String,
    ip: String,
    user_id: Option<i32>,
    token_id: Option<i32>,
    resource: String,
    details: serde_json::Value,
    resolved: bool,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<i32>,
}

fn event_view(r: SecurityEventRow) -> SecurityEventView {
    SecurityEventView {
        id: r.id,
        timestamp: from_db(r.timestamp),
        event_type: r.event_type,
        severity: r.severity,
        ip: r.ip,
        user_id: r.user_id,
        token_id: r.token_id,
        resource: r.resource,
        // Written by us as JSON; anything else is shown as the string it is.
        details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::String(r.details)),
        resolved: r.resolved,
        resolved_at: r.resolved_at.map(from_db),
        resolved_by: r.resolved_by,
    }
}

/// `GET /api/v2/audit/logs`: newest first; filters `user_id`, `action`, `success`,
/// `since`, `until`; `total` counts every match.
#[tracing::instrument(skip_all)]
pub async fn list_audit_logs(
    _auth: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let filter = AuditFilter {
        user_id: q.parse::<i32>("user_id")?,
        action: q.get("action").map(str::to_owned),
        success: q.parse::<bool>("success")?,
        since: q.time("since")?,
        until: q.time("until")?,
    };
    let (limit, offset) = (page.limit as i64, page.offset as i64);
    let (rows, total) = state.db.audit().list_audit(filter, limit, offset).await?;
    Ok(HttpResponse::Ok().json(ListReply::of_page(
        rows.into_iter().map(audit_view).collect(),
        total,
        page,
    )))
}

/// `GET /api/v2/security/events`: newest first; filters `event_type`, `resolved`,
/// `since`, `until`.
#[tracing::instrument(skip_all)]
pub async fn list_security_events(
    _auth: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let event_type = q
        .get("event_type")
        .map(|t| {
            SecurityKind::parse(t)
                .map(SecurityKind::as_str)
                .ok_or_else(|| {
                    let known: Vec<&str> = SecurityKind::ALL.iter().map(|k| k.as_str()).collect();
                    ApiError::invalid_param("event_type", format!("one of {}", known.join(", ")))
                })
        })
        .transpose()?;
    let filter = SecurityFilter {
        event_type: event_type.map(str::to_owned),
        resolved: q.parse::<bool>("resolved")?,
        since: q.time("since")?,
        until: q.time("until")?,
    };
    let (limit, offset) = (page.limit as i64, page.offset as i64);
    let (rows, total) = state
        .db
        .audit()
        .list_security(filter, limit, offset)
        .await?;
    Ok(HttpResponse::Ok().json(ListReply::of_page(
        rows.into_iter().map(event_view).collect(),
        total,
        page,
    )))
}

/// Body of `PATCH /api/v2/security/events/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveEvent {
    /// `true` marks the event resolved by the caller; `false` reopens it.
    resolved: bool,
}

/// `PATCH /api/v2/security/events/{id}` `{"resolved": true}`: records who resolved the
/// event and when → 200 with the event; 404 when unknown; 400 for a bad id or body.
#[tracing::instrument(skip_all, fields(event_id = *path))]
pub async fn resolve_security_event(
    auth: Admin,
    path: web::Path<i32>,
    body: web::Json<ResolveEvent>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let by = auth.principal.user_id;
    let resolved = body.resolved;
    let row = state
        .db
        .audit()
        .set_resolved(id, resolved, by, Utc::now())
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::SecurityEventNotFound,
                format!("security event {id} is unknown"),
            )
        })?;
    tracing::info!(event_id = id, resolved, by, "security event updated");
    Ok(HttpResponse::Ok().json(event_view(row)))
}
