//! Login, logout, who am I; users (admin); API keys (own).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{SecurityEvent, SecurityKind};
use crate::auth::extract::{Admin, Viewer};
use crate::auth::{
    check_username, client_ip, new_secret, password, secret_hash, Principal, Role, TokenKind,
    MAX_USERNAME,
};
use crate::db::users::{self, TokenRow, UserChanges, UserRow};
use crate::db::{from_db, to_db};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Prefix of session tokens (`ats_`) and API keys (`atk_`), so a leaked one is recognisable.
const SESSION_PREFIX: &str = "ats_";
const API_KEY_PREFIX: &str = "atk_";

/// A user as the API shows it (never the hash).
#[derive(Serialize)]
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
        role: Role::from_i32(u.role).map_or("unknown", Role::as_str),
        status: if u.status == 1 { "active" } else { "disabled" },
        created_at: from_db(u.created_at),
        last_login_at: u.last_login_at.map(from_db),
        username: u.username,
        display_name: u.display_name,
        email: u.email,
        last_login_ip: u.last_login_ip,
    }
}

fn policy(pw: &str) -> Result<(), ApiError> {
    password::check_policy(pw).map_err(|e| ApiError::invalid_param("password", e))
}

async fn hash_password(pw: String) -> Result<String, ApiError> {
    web::block(move || password::hash(&pw))
        .await?
        .map_err(ApiError::internal)
}

/// Body of `POST /api/v2/auth/login`.
#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// `POST /api/v2/auth/login` (public): a session token. Failures say nothing about which
/// part was wrong; 5 failures per (user, IP) in 10 min lock the pair for 30 min.
pub async fn login(
    req: HttpRequest,
    body: web::Json<Login>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Login { username, password } = body.into_inner();
    let ip = client_ip(&req);
    let event = |kind: SecurityKind, user_id: Option<i32>| {
        state.audit.security(SecurityEvent {
            kind,
            ip: ip.clone(),
            user_id,
            token_id: None,
            resource: "POST /api/v2/auth/login".into(),
            details: json!({"username": username.chars().take(MAX_USERNAME).collect::<String>()}),
        })
    };
    if let Some(left) = state.limits.login_locked(&username, &ip) {
        event(SecurityKind::LoginLocked, None);
        return Err(ApiError::too_many(
            ErrorCode::LoginLocked,
            "too many failed logins; try again later",
            left,
        ));
    }
    let name = username.clone();
    let user = state.db.read(move |c| users::by_name(c, &name)).await?;
    let phc = user.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    // Verify even for an unknown user, so timing does not reveal which names exist.
    let matches = web::block(move || password::verify(&password, &phc)).await?;
    let user = match user {
        Some(u) if matches && u.status == 1 => u,
        other => {
            let locked = state.limits.login_failed(&username, &ip);
            event(
                if locked {
                    SecurityKind::LoginLocked
                } else {
                    SecurityKind::LoginFailed
                },
                other.map(|u| u.id),
            );
            return Err(ApiError::unauthorized("invalid username or password"));
        }
    };
    state.limits.login_succeeded(&username, &ip);
    let role =
        Role::from_i32(user.role).ok_or_else(|| ApiError::internal("user with an invalid role"))?;
    let secret = new_secret(SESSION_PREFIX).map_err(ApiError::internal)?;
    let now = Utc::now();
    let expires = now
        + chrono::Duration::from_std(state.settings.token_ttl)
            .unwrap_or(chrono::Duration::hours(24));
    let (hash, uid) = (secret_hash(&secret), user.id);
    state
        .db
        .write(move |c| {
            users::insert_token(
                c,
                uid,
                &hash,
                "session",
                TokenKind::Session as i32,
                role.as_i32(),
                Some(expires),
                now,
            )?;
            users::record_login(c, uid, now, &ip)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "token": secret,
        "expires_at": expires,
        "user": {"id": user.id, "username": user.username, "display_name": user.display_name, "email": user.email, "role": role.as_str()},
    })))
}

/// `POST /api/v2/auth/logout`: revokes the presented token.
pub async fn logout(auth: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let id = auth.principal.token_id;
    state
        .db
        .write(move |c| users::revoke(c, id, Utc::now()))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}

/// `GET /api/v2/auth/me`: the caller, their role and what it permits.
pub async fn me(auth: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Principal {
        user_id,
        role,
        token_kind,
        token_id,
        ..
    } = auth.principal;
    let user = state
        .db
        .read(move |c| users::by_id(c, user_id))
        .await?
        .ok_or_else(|| ApiError::unauthorized("user no longer exists"))?;
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
    let all = state.db.read(users::list).await?;
    let items: Vec<UserView> = all.into_iter().map(user_view).collect();
    let total = items.len();
    Ok(HttpResponse::Ok()
        .json(json!({"items": items, "total": total, "limit": total, "offset": 0})))
}

/// Body of `POST /api/v2/users`.
#[derive(Deserialize)]
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

/// `POST /api/v2/users` (admin) → 201.
pub async fn create_user(
    _auth: Admin,
    body: web::Json<NewUser>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    check_username(&b.username)?;
    policy(&b.password)?;
    let role = parse_role(&b.role)?;
    if b.display_name.chars().count() > 128 || b.email.chars().count() > 254 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidParameter,
            "display_name or email too long",
        ));
    }
    let hash = hash_password(b.password).await?;
    let name = b.username.clone();
    let created = state
        .db
        .write(move |c| {
            if users::by_name(c, &name)?.is_some() {
                return Ok(None);
            }
            users::insert(
                c,
                &name,
                &hash,
                &b.display_name,
                &b.email,
                role.as_i32(),
                Utc::now(),
            )
            .map(Some)
        })
        .await?;
    match created {
        Some(u) => Ok(HttpResponse::Created().json(user_view(u))),
        None => Err(ApiError::conflict(
            ErrorCode::UserExists,
            format!("user {:?} already exists", b.username),
        )),
    }
}

/// Body of `PATCH /api/v2/users/{id}`.
#[derive(Deserialize)]
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
    let id = path.into_inner();
    let b = body.into_inner();
    let role = b.role.as_deref().map(parse_role).transpose()?;
    let status = match b.status.as_deref() {
        None => None,
        Some("active") => Some(1),
        Some("disabled") => Some(0),
        Some(_) => return Err(ApiError::invalid_param("status", "active or disabled")),
    };
    if let Some(pw) = &b.password {
        policy(pw)?;
    }
    let self_edit = id == auth.principal.user_id;
    if self_edit && (status == Some(0) || role.is_some_and(|r| r < Role::Admin)) {
        return Err(ApiError::conflict(
            ErrorCode::SelfLockout,
            "you cannot disable or demote yourself",
        ));
    }
    let password_hash = match b.password {
        Some(pw) => Some(hash_password(pw).await?),
        None => None,
    };
    let revoke = status == Some(0) || password_hash.is_some();
    let changes = UserChanges {
        role: role.map(Role::as_i32),
        status,
        password_hash,
        display_name: b.display_name,
        email: b.email,
        updated_at: Some(to_db(Utc::now())),
    };
    let updated = state
        .db
        .write(move |c| {
            users::serialized(c, |c| {
                let Some(before) = users::by_id(c, id)? else {
                    return Ok(Err("not_found"));
                };
                let loses_admin = before.role == 3
                    && before.status == 1
                    && (changes.status == Some(0) || changes.role.is_some_and(|r| r < 3));
                if loses_admin && users::active_admins(c)? <= 1 {
                    return Ok(Err("last_admin"));
                }
                users::update(c, id, &changes)?;
                if revoke {
                    users::revoke_all(c, id, Utc::now())?;
                }
                Ok(users::by_id(c, id)?.ok_or("not_found"))
            })
        })
        .await?;
    match updated {
        Ok(u) => Ok(HttpResponse::Ok().json(user_view(u))),
        Err("last_admin") => Err(ApiError::conflict(
            ErrorCode::LastAdmin,
            "the last active admin cannot be disabled or demoted",
        )),
        Err(_) => Err(ApiError::not_found(ErrorCode::UserNotFound, "no such user")),
    }
}

/// `DELETE /api/v2/users/{id}` (admin): the user and their tokens are gone at once.
pub async fn delete_user(
    auth: Admin,
    path: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id == auth.principal.user_id {
        return Err(ApiError::conflict(
            ErrorCode::SelfLockout,
            "you cannot delete yourself",
        ));
    }
    let done = state
        .db
        .write(move |c| {
            users::serialized(c, |c| {
                let Some(u) = users::by_id(c, id)? else {
                    return Ok(Err("not_found"));
                };
                if u.role == 3 && u.status == 1 && users::active_admins(c)? <= 1 {
                    return Ok(Err("last_admin"));
                }
                users::revoke_all(c, id, Utc::now())?;
                users::delete(c, id)?;
                Ok(Ok(()))
            })
        })
        .await?;
    match done {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "ok"}))),
        Err("last_admin") => Err(ApiError::conflict(
            ErrorCode::LastAdmin,
            "the last active admin cannot be deleted",
        )),
        Err(_) => Err(ApiError::not_found(ErrorCode::UserNotFound, "no such user")),
    }
}

#[derive(Serialize)]
struct TokenView {
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
        role: Role::from_i32(t.role).map_or("unknown", Role::as_str),
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
    let uid = auth.principal.user_id;
    let rows = state
        .db
        .read(move |c| users::tokens_of(c, uid, TokenKind::ApiKey as i32))
        .await?;
    let items: Vec<TokenView> = rows.into_iter().map(token_view).collect();
    let total = items.len();
    Ok(HttpResponse::Ok()
        .json(json!({"items": items, "total": total, "limit": total, "offset": 0})))
}

/// Body of `POST /api/v2/tokens`.
#[derive(Deserialize)]
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
    let name = b.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_param("name", "1-128 characters"));
    }
    let role = match b.role.as_deref() {
        Some(r) => parse_role(r)?,
        None => auth.principal.role,
    };
    if role > auth.principal.role {
        return Err(ApiError::forbidden(
            ErrorCode::RoleTooHigh,
            format!(
                "an API key cannot exceed your own role ({})",
                auth.principal.role.as_str()
            ),
        ));
    }
    let now = Utc::now();
    if b.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::invalid_param(
            "expires_at",
            "must be in the future",
        ));
    }
    let secret = new_secret(API_KEY_PREFIX).map_err(ApiError::internal)?;
    let (hash, uid) = (secret_hash(&secret), auth.principal.user_id);
    let row = state
        .db
        .write(move |c| {
            users::insert_token(
                c,
                uid,
                &hash,
                &name,
                TokenKind::ApiKey as i32,
                role.as_i32(),
                b.expires_at,
                now,
            )
        })
        .await?;
    let mut view = serde_json::to_value(token_view(row)).map_err(ApiError::internal)?;
    view["token"] = json!(secret);
    Ok(HttpResponse::Created().json(view))
}

/// `DELETE /api/v2/tokens/{id}`: the owner or an admin revokes it.
pub async fn delete_token(
    auth: Viewer,
    path: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let p = auth.principal;
    let row = state.db.read(move |c| users::token_by_id(c, id)).await?;
    match row {
        Some(t) if t.user_id == p.user_id || p.role == Role::Admin => {
            state
                .db
                .write(move |c| users::revoke(c, id, Utc::now()))
                .await?;
            Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
        }
        // Someone else's token looks the same as no token: nothing to learn.
        _ => Err(ApiError::not_found(
            ErrorCode::TokenNotFound,
            "no such token",
        )),
    }
}
