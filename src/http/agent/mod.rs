//! The agent API (port 8081): the five v2.1 endpoints, byte-compatible with stock agents.

mod body;
mod commands;
mod heartbeat;
pub mod relay;
mod result;
mod slo;
mod snapshot;

pub use body::{decode, encoding, json_error, parse_object, parse_snapshot, read, Encoding};

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use crate::audit::{SecurityEvent, SecurityKind};
use crate::auth::{bearer, client_ip};
use crate::config::AgentAuthMode;
use crate::error::{ApiError, ErrorCode};
use crate::http::{header_cluster_id, resource};
use crate::state::AppState;

/// How an agent request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentKind {
    /// `MASTER_AGENT_AUTH=open`: nothing checked.
    Open,
    /// The bootstrap token `MASTER_AGENT_TOKEN`: valid for any cluster id.
    Bootstrap,
    /// A per-cluster agent token: valid for that cluster only.
    Cluster(String),
}

/// Who an agent request speaks for, once its token is checked.
pub struct AgentIdentity {
    /// How it authenticated.
    pub kind: AgentKind,
    audit: crate::audit::Audit,
    ip: String,
    resource: String,
}

impl AgentIdentity {
    /// `403` (and a security event) when this identity may not speak for `cluster_id`.
    pub fn check_cluster(&self, cluster_id: &str) -> Result<(), ApiError> {
        match &self.kind {
            AgentKind::Cluster(own) if own != cluster_id => {
                self.audit.security(SecurityEvent {
                    kind: SecurityKind::AgentTokenMismatch,
                    ip: self.ip.clone(),
                    user_id: None,
                    token_id: None,
                    resource: self.resource.clone(),
                    details: serde_json::json!({"token_cluster": own, "requested_cluster": cluster_id}),
                });
                Err(ApiError::forbidden(
                    ErrorCode::AgentTokenMismatch,
                    "this agent token is not valid for the requested cluster",
                ))
            }
            _ => Ok(()),
        }
    }

    /// The cluster the token is bound to, if any.
    pub fn bound_cluster(&self) -> Option<&str> {
        match &self.kind {
            AgentKind::Cluster(c) => Some(c),
            _ => None,
        }
    }
}

fn authenticate(req: &HttpRequest) -> Result<AgentIdentity, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal("agent app state missing"));
    };
    let ident = |kind| AgentIdentity {
        kind,
        audit: state.audit.clone(),
        ip: client_ip(req),
        resource: format!("{} {}", req.method(), req.path()),
    };
    let refuse = |why: &str, message: &str| {
        state.audit.security(SecurityEvent {
            kind: SecurityKind::InvalidToken,
            ip: client_ip(req),
            user_id: None,
            token_id: None,
            resource: format!("{} {}", req.method(), req.path()),
            details: serde_json::json!({"api": "agent", "reason": why, "cluster_id": header_cluster_id(req)}),
        });
        ApiError::unauthorized(message.to_owned())
    };
    let identity = if state.settings.agent_auth == AgentAuthMode::Open {
        ident(AgentKind::Open)
    } else {
        let Some(token) = bearer(req) else {
            return Err(refuse(
                "missing token",
                "missing agent token: send Authorization: Bearer <token>",
            ));
        };
        let boot = state.settings.expose_agent_token();
        if boot.is_some_and(|b| bool::from(b.as_bytes().ct_eq(token.as_bytes()))) {
            ident(AgentKind::Bootstrap)
        } else if let Some(cluster) = state
            .agent_tokens
            .cluster_of(&crate::auth::secret_hash(token))
        {
            ident(AgentKind::Cluster(cluster))
        } else {
            return Err(refuse("unknown token", "invalid agent token"));
        }
    };
    crate::ratelimit::confirm_credentials(req);
    // A runaway agent is slowed per cluster, whatever its token.
    let q = crate::http::QueryParams::of(req);
    let cluster = identity
        .bound_cluster()
        .map(str::to_owned)
        .or_else(|| header_cluster_id(req).map(str::to_owned))
        .or_else(|| q.get("cluster_id").map(str::to_owned));
    if let Some(c) = cluster {
        if let Err(retry) = state.limits.check_agent(&c) {
            state.audit.security(SecurityEvent {
                kind: SecurityKind::RateLimit,
                ip: client_ip(req),
                user_id: None,
                token_id: None,
                resource: format!("{} {}", req.method(), req.path()),
                details: serde_json::json!({"api": "agent", "cluster_id": c}),
            });
            return Err(ApiError::too_many(
                ErrorCode::RateLimited,
                "too many agent requests for this cluster",
                retry,
            ));
        }
    }
    Ok(identity)
}

impl FromRequest for AgentIdentity {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// Where an agent request came from, for its cluster actor (the `User-Agent` bounded).
fn contact(req: &HttpRequest) -> atlhyper_actors::messages::AgentContact {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect();
    atlhyper_actors::messages::AgentContact {
        remote_addr: client_ip(req),
        user_agent,
    }
}

/// Registers the agent routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/agent/snapshot").route(web::post().to(snapshot::post_snapshot)))
        .service(resource("/agent/heartbeat").route(web::post().to(heartbeat::post_heartbeat)))
        .service(resource("/agent/commands").route(web::get().to(commands::get_commands)))
        .service(resource("/agent/result").route(web::post().to(result::post_result)))
        .service(resource("/agent/slo").route(web::post().to(slo::post_slo)))
        .service(resource("/health").route(web::get().to(crate::http::api::health::get_health)));
}
