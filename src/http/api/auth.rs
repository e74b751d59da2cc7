//! Login, logout, who am I; users (admin); API keys (own). The rules are in
//! [`crate::service::users`]; these handlers parse, call it and shape the reply.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{SecurityEvent, SecurityKind};
use crate::auth::extract::{Admin, Viewer};
use crate::auth::{client_ip, Principal, Role, UserStatus, MAX_USERNAME};
use crate::db::from_db;
use crate::db::users::{TokenRow, UserRow};
use crate::error::{ApiError, ErrorCode};
use crate::service::users::{self as service, LoginError, UserError};
use crate::state::AppState;

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        let message = e.to_string();
        match e {
            UserError::Invalid { field, why } => ApiError::invalid_param(field, why),
            UserError::Exists(_) => ApiError::conflict(ErrorCode::UserExists, message),
            UserError::NotFound => ApiError::not_found(ErrorCode::UserNotFound, message),
            UserError::SelfLockout | UserError::SelfDelete => {
                ApiError::conflict(ErrorCode::SelfLockout, message)
            }
            UserError::LastAdmin | UserError::LastAdminDelete => {
                ApiError::conflict(ErrorCode::LastAdmin, message)
            }
            UserError::TokenNotFound => ApiError::not_found(ErrorCode::TokenNotFound, message),
            UserError::RoleTooHigh(_) => ApiError::forbidden(ErrorCode::RoleTooHigh, message),
            UserError::Db(e) => e.into(),
            UserError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// A user as the API shows it (never the hash).
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    id: i32,
    username: String,
    display_name: String,
    email: String,
    role: &'static str,
    status: &'static str,
    created_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
    last_login_ip: Option<String>,
}

fn user_view(u: UserRow) -> UserView {
    UserView {
        id: u.id,
        role: u.role.as_str(),
        status: u.status.as_str(),
        created_at: from_db(u.created_at),
        last_login_at: u.last_login_at.map(from_db),
        username: u.username,
        display_name: u.display_name,
        email: u.email,
        last_login_ip: u.last_login_ip,
    }
}

/// Body of `POST /api/v2/auth/login` (and of the AtlHyper dashboard's `…/user/login`).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    /// The user's name.
    pub username: String,
    /// Their password.
    pub password: String,
}

/// Signs `username` in for a login route (`route`, as security events name it): the
/// session, or the refusal. 5 failures per (user, IP) in 10 min lock the pair for 30 min;
/// failures and lockouts are security events. Both login routes (ours and the AtlHyper
/// dashboard's) go through here.
pub async fn sign_in(
    state: &AppState,
    req: &HttpRequest,
    route: &'static str,
    username: String,
    password: String,
) -> Result<service::Session, ApiError> {
    let ip = client_ip(req);
    let event = |kind: SecurityKind, user_id: Option<i32>| {
        state.audit.security(SecurityEvent {
            kind,
            ip: ip.clone(),
            user_id,
            token_id: None,
            resource: route.into(),
            details: json!({"username": username.chars().take(MAX_USERNAME).collect::<String>()}),
        })
    };
    let attempt = service::LoginAttempt {
        username: username.clone(),
        password,
        ip: ip.clone(),
    };
    match service::login(&state.db, &state.limits, state.settings.token_ttl, attempt).await {
        Ok(s) => Ok(s),
        Err(LoginError::Locked(left)) => {
            event(SecurityKind::LoginLocked, None);
            Err(ApiError::too_many(
                ErrorCode::LoginLocked,
                "too many failed logins; try again later",
                left,
            ))
        }
        Err(e @ LoginError::Refused { user_id, locked }) => {
            let kind = if locked {
                SecurityKind::LoginLocked
            } else {
                SecurityKind::LoginFailed
            };
            event(kind, user_id);
            Err(ApiError::unauthorized(e.to_string()))
        }
        Err(LoginError::Failed(e)) => Err(e.into()),
    }
}

/// `POST /api/v2/auth/login` (public): a session token. Failures say nothing about which
/// part was wrong ([`sign_in`]).
pub async fn login(
    req: HttpRequest,
    body: web::Json<Login>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Login { username, password } = body.into_inner();
    let session = sign_in(&state, &req, "POST /api/v2/auth/login", username, password).await?;
    let user = session.user;
    Ok(HttpResponse::Ok().json(json!({
        "token": session.token,
        "expires_at": session.expires_at,
        "user": {"id": user.id, "username": user.username, "display_name": user.display_name, "email": user.email, "role": user.role.as_str()},
    })))
}

/// `POST /api/v2/auth/logout`: revokes the presented token.
pub async fn logout(auth: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    service::logout(&state.db, &auth.principal).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}

/// `GET /api/v2/auth/me`: the caller, their role and what it permits.
pub async fn me(auth: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = match service::current_user(&state.db, &auth.principal).await {
        Err(UserError::NotFound) => return Err(ApiError::unauthorized("user no longer exists")),
        other => other?,
    };
    let Principal {
        role,
        token_kind,
        token_id,
        ..
    } = auth.principal;
    Ok(HttpResponse::Ok().json(json!({
        "user": user_view(user),
        "role": role.as_str(),
        "permissions": role.permissions(),
        "token": {"id": token_id, "kind": token_kind},
    })))
}

/// `GET /api/v2/users` (admin).
pub async fn list_users(
    _auth: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let all = service::list_users(&state.db).await?;
    let items: Vec<UserView> = all.into_iter().map(user_view).collect();
    let total = items.len();
    Ok(HttpResponse::Ok()
        .json(json!({"items": items, "total": total, "limit": total, "offset": 0})))
}

/// Body of `POST /api/v2/users`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    role: String,
}

fn parse_role(s: &str) -> Result<Role, ApiError> {
    Role::parse(s).ok_or_else(|| ApiError::invalid_param("role", "viewer, operator or admin"))
}

fn parse_status(s: &str) -> Result<UserStatus, ApiError> {
    UserStatus::parse(s).ok_or_else(|| ApiError::invalid_param("status", "active or disabled"))
}

/// `POST /api/v2/users` (admin) → 201.
pub async fn create_user(
    _auth: Admin,
    body: web::Json<NewUser>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let new = service::NewUser {
        role: parse_role(&b.role)?,
        username: b.username,
        password: b.password,
        display_name: b.display_name,
        email: b.email,
    };
    let user = service::create_user(&state.db, new).await?;
    Ok(HttpResponse::Created().json(user_view(user)))
}

/// Body of `PATCH /api/v2/users/{id}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    role: Option<String>,
    status: Option<String>,
    password: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
}

/// `PATCH /api/v2/users/{id}` (admin): role, status, password, names. Disabling revokes the
/// user's tokens at once; so does a new password. An admin cannot disable or demote
/// themselves, nor the last active admin.
pub async fn patch_user(
    auth: Admin,
    path: web::Path<i32>,
    body: web::Json<PatchUser>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let update = service::UserUpdate {
        role: b.role.as_deref().map(parse_role).transpose()?,
        status: b.status.as_deref().map(parse_status).transpose()?,
        password: b.password,
        display_name: b.display_name,
        email: b.email,
    };
    let user = service::update_user(&state.db, &auth.principal, path.into_inner(), update).await?;
    Ok(HttpResponse::Ok().json(user_view(user)))
}

/// `DELETE /api/v2/users/{id}` (admin): the user and their tokens are gone at once.
pub async fn delete_user(
    auth: Admin,
    path: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    service::delete_user(&state.db, &auth.principal, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    id: i32,
    name: String,
    role: &'static str,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked: bool,
}

fn token_view(t: TokenRow) -> TokenView {
    TokenView {
        id: t.id,
        role: t.role.as_str(),
        created_at: from_db(t.created_at),
        expires_at: t.expires_at.map(from_db),
        revoked: t.revoked_at.is_some(),
        name: t.name,
    }
}

/// `GET /api/v2/tokens`: the caller's API keys (never the secrets).
pub async fn list_tokens(
    auth: Viewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = service::list_api_keys(&state.db, &auth.principal).await?;
    let items: Vec<TokenView> = rows.into_iter().map(token_view).collect();
    let total = items.len();
    Ok(HttpResponse::Ok()
        .json(json!({"items": items, "total": total, "limit": total, "offset": 0})))
}

/// Body of `POST /api/v2/tokens`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    role: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

/// `POST /api/v2/tokens`: an API key with a role no higher than the caller's; the secret
/// is in this reply only.
pub async fn create_token(
    auth: Viewer,
    body: web::Json<NewToken>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let key = service::NewApiKey {
        name: b.name,
        role: b.role.as_deref().map(parse_role).transpose()?,
        expires_at: b.expires_at,
    };
    let created = service::create_api_key(&state.db, &auth.principal, key).await?;
    let mut view = serde_json::to_value(token_view(created.row)).map_err(ApiError::internal)?;
    view["token"] = json!(created.secret);
    Ok(HttpResponse::Created().json(view))
}

/// `DELETE /api/v2/tokens/{id}`: the owner or an admin revokes it.
pub async fn delete_token(
    auth: Viewer,
    path: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    service::revoke_token(&state.db, &auth.principal, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}
