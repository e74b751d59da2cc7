//! Login, users and the audit log in v2.1's shapes (reference §3.2, §3.5): camelCase user
//! and audit items, roles and statuses as numbers.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{data, done, list};
use crate::auth::extract::Admin;
use crate::auth::{Role, UserStatus};
use crate::db::audit::{AuditFilter, AuditRow};
use crate::db::from_db;
use crate::db::users::UserRow;
use crate::error::{ApiError, ErrorCode};
use crate::http::api::auth::{sign_in, Login};
use crate::http::QueryParams;
use crate::service::users as service;
use crate::state::AppState;

/// Default and largest page of the audit log (v2.1's).
const AUDIT_DEFAULT_LIMIT: usize = 50;
const AUDIT_MAX_LIMIT: usize = 200;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// v2.1's `UserDTO`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserDto {
    id: i32,
    username: String,
    display_name: String,
    email: String,
    role: i32,
    status: i32,
    created_at: String,
    last_login: Option<String>,
    #[serde(rename = "lastLoginIP")]
    last_login_ip: String,
}

fn user_dto(u: UserRow) -> UserDto {
    UserDto {
        id: u.id,
        role: u.role.as_i32(),
        status: u.status.as_i32(),
        created_at: rfc3339(from_db(u.created_at)),
        last_login: u.last_login_at.map(|t| rfc3339(from_db(t))),
        last_login_ip: u.last_login_ip.unwrap_or_default(),
        username: u.username,
        display_name: u.display_name,
        email: u.email,
    }
}

/// `POST /v21/api/v2/user/login`: our session (lockout and security events included);
/// `data.{token, user{id, username, displayName, email, role}, cluster_ids}`.
pub async fn login(
    req: HttpRequest,
    body: web::Json<Login>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Login { username, password } = body.into_inner();
    if username.is_empty() || password.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidParameter,
            "username and password are required",
        ));
    }
    let session = sign_in(
        &state,
        &req,
        "POST /v21/api/v2/user/login",
        username,
        password,
    )
    .await?;
    // The registry alone knows the ids; no cluster actor needs asking.
    let mut cluster_ids: Vec<String> = state
        .registry
        .send(atlhyper_actors::registry::ListClusters)
        .await?
        .into_iter()
        .map(|h| h.info.cluster_id)
        .collect();
    cluster_ids.sort();
    let u = session.user;
    Ok(HttpResponse::Ok().json(json!({
        "message": "login successful",
        "data": {
            "token": session.token,
            "expires_at": session.expires_at,
            "user": {
                "id": u.id,
                "username": u.username,
                "displayName": u.display_name,
                "email": u.email,
                "role": u.role.as_i32(),
            },
            "cluster_ids": cluster_ids,
        },
    })))
}

/// `GET /v21/api/v2/user/list` (admin).
pub async fn list_users(
    _auth: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let users = service::list_users(&state.db).await?;
    Ok(list(users.into_iter().map(user_dto).collect()))
}

fn role_of(n: i64) -> Result<Role, ApiError> {
    i32::try_from(n)
        .ok()
        .and_then(Role::from_i32)
        .ok_or_else(|| ApiError::invalid_param("role", "1 (viewer), 2 (operator) or 3 (admin)"))
}

/// Body of `POST /v21/api/v2/user/register`.
#[derive(Deserialize)]
pub struct Register {
    username: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<i64>,
}

/// `POST /v21/api/v2/user/register` (admin): role 0 or absent is a viewer (as v2.1), other
/// values outside 1–3 are refused (v2.1 stored them).
pub async fn register(
    _auth: Admin,
    body: web::Json<Register>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let role = match b.role {
        None | Some(0) => Role::Viewer,
        Some(n) => role_of(n)?,
    };
    let user = service::create_user(
        &state.db,
        service::NewUser {
            username: b.username,
            password: b.password,
            display_name: b.display_name.unwrap_or_default(),
            email: b.email.unwrap_or_default(),
            role,
        },
    )
    .await?;
    Ok(data(user_dto(user)))
}

/// Body of `POST /v21/api/v2/user/update-role`.
#[derive(Deserialize)]
pub struct UpdateRole {
    user_id: i32,
    role: i64,
}

/// `POST /v21/api/v2/user/update-role` (admin): our rules hold (nobody demotes themselves
/// or the last admin).
pub async fn update_role(
    auth: Admin,
    body: web::Json<UpdateRole>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let update = service::UserUpdate {
        role: Some(role_of(b.role)?),
        ..service::UserUpdate::default()
    };
    service::update_user(&state.db, &auth.principal, b.user_id, update).await?;
    Ok(done("role updated"))
}

/// Body of `POST /v21/api/v2/user/update-status`.
#[derive(Deserialize)]
pub struct UpdateStatus {
    user_id: i32,
    status: i64,
}

/// `POST /v21/api/v2/user/update-status` (admin): 1 active, 0 disabled; disabling revokes
/// the user's tokens at once.
pub async fn update_status(
    auth: Admin,
    body: web::Json<UpdateStatus>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let status = i32::try_from(b.status)
        .ok()
        .and_then(UserStatus::from_i32)
        .ok_or_else(|| ApiError::invalid_param("status", "1 (active) or 0 (disabled)"))?;
    let update = service::UserUpdate {
        status: Some(status),
        ..service::UserUpdate::default()
    };
    service::update_user(&state.db, &auth.principal, b.user_id, update).await?;
    Ok(done("status updated"))
}

/// Body of `POST /v21/api/v2/user/delete`.
#[derive(Deserialize)]
pub struct DeleteUser {
    user_id: i32,
}

/// `POST /v21/api/v2/user/delete` (admin).
pub async fn delete_user(
    auth: Admin,
    body: web::Json<DeleteUser>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    service::delete_user(&state.db, &auth.principal, body.user_id).await?;
    Ok(done("user deleted"))
}

/// v2.1's `AuditLogResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditDto {
    id: i32,
    timestamp: String,
    user_id: i32,
    username: String,
    role: i32,
    source: String,
    action: String,
    resource: String,
    method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_summary: Option<String>,
    status: i32,
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
    ip: String,
    duration_ms: i64,
}

/// The stored (already sanitized) body cut to 100 characters, as v2.1's summary.
fn summary(body: Option<String>) -> Option<String> {
    body.filter(|b| !b.is_empty())
        .map(|b| b.chars().take(100).collect())
}

fn audit_dto(r: AuditRow) -> AuditDto {
    AuditDto {
        id: r.id,
        timestamp: rfc3339(from_db(r.timestamp)),
        user_id: r.user_id.unwrap_or(0),
        role: r.role.unwrap_or(0),
        request_summary: summary(r.request_body),
        status: r.status_code,
        username: r.username,
        source: r.source,
        action: r.action,
        resource: r.resource,
        method: r.method,
        success: r.success,
        error_message: r.error_message,
        ip: r.ip,
        duration_ms: r.duration_ms,
    }
}

/// `GET /v21/api/v2/audit/logs` (admin): newest first; `user_id`, `action`, `since`,
/// `until`, `limit` (50, at most 200), `offset`; `total` counts every match (v2.1 ignored
/// some filters in it).
pub async fn audit_logs(
    _auth: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let limit = q
        .parse::<usize>("limit")?
        .filter(|n| *n > 0)
        .unwrap_or(AUDIT_DEFAULT_LIMIT)
        .min(AUDIT_MAX_LIMIT);
    let offset = q.parse::<usize>("offset")?.unwrap_or(0);
    let filter = AuditFilter {
        user_id: q.parse::<i32>("user_id")?,
        action: q.get("action").map(str::to_owned),
        success: None,
        since: q.time("since")?,
        until: q.time("until")?,
    };
    let (rows, total) = state
        .db
        .audit()
        .list_audit(filter, limit as i64, offset as i64)
        .await?;
    let items: Vec<AuditDto> = rows.into_iter().map(audit_dto).collect();
    Ok(HttpResponse::Ok().json(json!({
        "message": "ok",
        "data": items,
        "total": total,
    })))
}
