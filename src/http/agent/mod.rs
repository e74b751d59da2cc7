//! The agent API (port 8081): the five v2.1 endpoints, byte-compatible with stock agents.

mod body;
mod commands;
mod heartbeat;
mod result;
mod slo;
mod snapshot;

pub use body::{decode, encoding, json_error, parse_object, read, Encoding};

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use crate::config::AgentAuthMode;
use crate::error::ApiError;
use crate::http::{resource, AppState};

/// Who an agent request speaks for, once its token is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentIdentity {
    /// `MASTER_AGENT_AUTH=open`: nothing checked.
    Open,
    /// The bootstrap token `MASTER_AGENT_TOKEN`: valid for any cluster id.
    Bootstrap,
    /// A per-cluster agent token: valid for that cluster only.
    Cluster(String),
}

impl AgentIdentity {
    /// `403` when this identity may not speak for `cluster_id`.
    pub fn check_cluster(&self, cluster_id: &str) -> Result<(), ApiError> {
        match self {
            AgentIdentity::Cluster(own) if own != cluster_id => {
                tracing::warn!(token_cluster = %own, requested = %cluster_id, "agent token used for another cluster");
                Err(ApiError::forbidden(
                    "agent_token_mismatch",
                    "this agent token is not valid for the requested cluster",
                ))
            }
            _ => Ok(()),
        }
    }

    /// The cluster the token is bound to, if any.
    pub fn bound_cluster(&self) -> Option<&str> {
        match self {
            AgentIdentity::Cluster(c) => Some(c),
            _ => None,
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let v = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn authenticate(req: &HttpRequest) -> Result<AgentIdentity, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal("agent app state missing"));
    };
    if state.settings.agent_auth == AgentAuthMode::Open {
        return Ok(AgentIdentity::Open);
    }
    let Some(token) = bearer(req) else {
        tracing::warn!(path = %req.path(), "agent request without a bearer token");
        return Err(ApiError::unauthorized(
            "missing agent token: send Authorization: Bearer <token>",
        ));
    };
    if let Some(boot) = state.settings.expose_agent_token() {
        if bool::from(boot.as_bytes().ct_eq(token.as_bytes())) {
            return Ok(AgentIdentity::Bootstrap);
        }
    }
    tracing::warn!(path = %req.path(), "agent request with an unknown token");
    Err(ApiError::unauthorized("invalid agent token"))
}

impl FromRequest for AgentIdentity {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
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
