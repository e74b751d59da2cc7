//! `GET /agent/commands`: the long poll.

use actix_web::{web, HttpRequest, HttpResponse};

use atlhyper_actors::command::{valid_topic, DEFAULT_TOPIC};
use atlhyper_actors::messages::{PollCommand, PollOutcome};
use atlhyper_actors::model::CommandResponse;

use super::AgentIdentity;
use crate::error::ApiError;
use crate::http::{header_cluster_id, pick_cluster_id, QueryParams};
use crate::state::AppState;

fn no_command() -> HttpResponse {
    HttpResponse::Ok().json(CommandResponse {
        has_command: false,
        command: None,
    })
}

/// Parks until a command is queued for (cluster, topic) or the poll timeout passes.
/// If the agent disconnects first, the handler is dropped and the command stays queued.
#[tracing::instrument(skip_all)]
pub async fn get_commands(
    req: HttpRequest,
    ident: AgentIdentity,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let fallback = ident.bound_cluster().map(str::to_owned);
    let cluster_id = pick_cluster_id(
        header_cluster_id(&req),
        q.get("cluster_id").or(fallback.as_deref()),
    )?;
    ident.check_cluster(&cluster_id)?;
    let topic = q.get("topic").unwrap_or(DEFAULT_TOPIC).to_owned();
    if !valid_topic(&topic) {
        return Err(ApiError::invalid_param(
            "topic",
            "1-64 characters of letters, digits, '_', '-' or '.'",
        ));
    }
    let addr = state.cluster(&cluster_id, true).await?;
    if let Some(link) = state.hub.link() {
        link.touch(&cluster_id);
    }
    if state.is_draining() {
        return Ok(no_command());
    }
    let rx = addr.send(PollCommand { topic }).await?;
    match rx.await {
        Ok(PollOutcome::Command(command)) => Ok(HttpResponse::Ok().json(CommandResponse {
            has_command: true,
            command: Some(*command),
        })),
        Ok(PollOutcome::Failed(why)) => Err(ApiError::unavailable(why)),
        Ok(PollOutcome::Empty) | Err(_) => Ok(no_command()),
    }
}
