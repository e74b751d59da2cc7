//! `Auth<R>`: the only place dashboard roles are enforced.
//!
//! Every dashboard handler that is not public takes one of [`Viewer`], [`Operator`] or
//! [`Admin`] as a parameter. The extractor
//! 1. takes what [`authenticate_mw`] found for `Authorization: Bearer <token>` (checked by
//!    [`crate::service::users::authenticate`]: a missing, unknown, expired or revoked
//!    token or a disabled user is refused with 401), the [`Principal`] being in the
//!    request extensions, where the audit log reads it;
//! 2. refuses (403) a role below `R`, and (429) a token over its rate limit.
//!
//! Refusals other than a missing token are recorded as security events.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;
use serde_json::json;

use super::access::RouteAccess;
use super::{bearer, client_ip, Principal, Role};
use crate::audit::{Audit, SecurityEvent, SecurityKind};
use crate::db::Db;
use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::Limits;
use crate::service::users::AuthError;

/// The least role a route needs.
pub trait MinRole: 'static {
    /// That role.
    const ROLE: Role;
}

/// Marker: viewer and above (every authenticated caller).
pub struct ViewerRole;
/// Marker: operator and above.
pub struct OperatorRole;
/// Marker: admin.
pub struct AdminRole;

impl MinRole for ViewerRole {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for OperatorRole {
    const ROLE: Role = Role::Operator;
}
impl MinRole for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// An authenticated caller with at least role `R`.
pub struct Auth<R: MinRole> {
    /// Who it is.
    pub principal: Principal,
    _role: PhantomData<R>,
}

/// Any authenticated caller.
pub type Viewer = Auth<ViewerRole>;
/// Operator or admin.
pub type Operator = Auth<OperatorRole>;
/// Admin.
pub type Admin = Auth<AdminRole>;

fn security(
    audit: &Audit,
    req: &HttpRequest,
    kind: SecurityKind,
    p: Option<&Principal>,
    details: serde_json::Value,
) {
    audit.security(SecurityEvent {
        kind,
        ip: client_ip(req),
        user_id: p.map(|p| p.user_id),
        token_id: p.map(|p| p.token_id),
        resource: format!("{} {}", req.method(), req.path()),
        details,
    });
}

/// Authenticates the request's bearer token (no role check); refusals are recorded in
/// `audit`.
pub async fn authenticate(
    db: &Db,
    audit: &Audit,
    req: &HttpRequest,
) -> Result<Principal, ApiError> {
    let Some(token) = bearer(req) else {
        return Err(ApiError::unauthorized(
            "authentication required: send Authorization: Bearer <token>",
        ));
    };
    match crate::service::users::authenticate(db, token, Utc::now()).await {
        Ok(p) => Ok(p),
        Err(AuthError::Refused(why)) => {
            security(
                audit,
                req,
                SecurityKind::InvalidToken,
                None,
                json!({"reason": why.reason()}),
            );
            Err(ApiError::unauthorized("invalid, expired or revoked token"))
        }
        Err(AuthError::Db(e)) => Err(e.into()),
    }
}

/// What the authentication middleware found, for the extractor.
#[derive(Clone)]
enum Authn {
    Ok(Principal),
    Refused(ApiError),
}

/// Dashboard middleware: authenticates any bearer token **before** routing and body
/// extraction (actix polls a handler's extractors together, so an async check inside the
/// extractor could lose the race to a body error). The outcome goes into the request
/// extensions; [`Auth`] enforces it.
///
/// Whether the bearer is a user token at all is what the route table declares for the
/// matched route ([`RouteAccess`]): a scrape route's bearer is not looked up.
pub async fn authenticate_mw(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let user_token = req
        .app_data::<web::Data<RouteAccess>>()
        .is_none_or(|t| t.takes_user_token(req.method(), req.match_pattern().as_deref()));
    if bearer(req.request()).is_some() && user_token {
        let db = req.app_data::<web::Data<Db>>().cloned();
        let audit = req.app_data::<web::Data<Audit>>().cloned();
        if let (Some(db), Some(audit)) = (db, audit) {
            let outcome = match authenticate(&db, &audit, req.request()).await {
                Ok(p) => {
                    crate::ratelimit::confirm_credentials(req.request());
                    req.extensions_mut().insert(p.clone());
                    Authn::Ok(p)
                }
                Err(e) => Authn::Refused(e),
            };
            req.extensions_mut().insert(outcome);
        }
    }
    next.call(req).await
}

fn extract<R: MinRole>(req: &HttpRequest) -> Result<Auth<R>, ApiError> {
    let (Some(audit), Some(limits)) = (
        req.app_data::<web::Data<Audit>>(),
        req.app_data::<web::Data<Limits>>(),
    ) else {
        return Err(ApiError::internal(
            "audit or limits missing from the app data",
        ));
    };
    let outcome = req.extensions().get::<Authn>().cloned();
    let principal = match outcome {
        Some(Authn::Ok(p)) => p,
        Some(Authn::Refused(e)) => return Err(e),
        None => {
            return Err(ApiError::unauthorized(
                "authentication required: send Authorization: Bearer <token>",
            ))
        }
    };
    if principal.role < R::ROLE {
        security(
            audit,
            req,
            SecurityKind::PermissionDenied,
            Some(&principal),
            json!({"role": principal.role.as_str(), "required": R::ROLE.as_str()}),
        );
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            format!(
                "this needs the {} role; you are {}",
                R::ROLE.as_str(),
                principal.role.as_str()
            ),
        ));
    }
    if let Err(retry) = limits.check_api(principal.token_id) {
        security(
            audit,
            req,
            SecurityKind::RateLimit,
            Some(&principal),
            json!({"limit": "api"}),
        );
        return Err(ApiError::too_many(
            ErrorCode::RateLimited,
            "too many requests for this token",
            retry,
        ));
    }
    Ok(Auth {
        principal,
        _role: PhantomData,
    })
}

impl<R: MinRole> FromRequest for Auth<R> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(extract::<R>(req))
    }
}
