//! `POST /agent/result`.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use atlhyper_actors::messages::{ResultRecorded, Touch};
use atlhyper_actors::model::CommandResultBody;

use super::{body, AgentIdentity};
use crate::db::commands::ResultOutcome;
use crate::error::{ApiError, ErrorCode};
use crate::http::{header_cluster_id, pick_cluster_id, status_ok};
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClusterField {
    cluster_id: String,
}

/// Records a command result. It is committed before the agent gets its 200; the first
/// result wins and a repeat changes nothing.
#[tracing::instrument(skip_all)]
pub async fn post_result(
    req: HttpRequest,
    payload: web::Payload,
    ident: AgentIdentity,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let s = &state.settings;
    let enc = body::encoding(&req)?;
    let raw = body::read(&req, payload, s.agent_max_body).await?;
    let max = s.agent_max_snapshot;
    let (result, body_cluster) = web::block(move || {
        let json = body::decode(raw, enc, max)?;
        let r: CommandResultBody = body::parse_object(&json)?;
        let c: ClusterField = serde_json::from_slice(&json).unwrap_or_default();
        Ok::<_, ApiError>((r, c.cluster_id))
    })
    .await??;
    if result.command_id.trim().is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::MissingCommandId,
            "command_id is required",
        ));
    }
    // The cluster the agent speaks for: its header or body, else its token's cluster.
    let claimed = header_cluster_id(&req)
        .filter(|h| !h.trim().is_empty())
        .or(Some(body_cluster.as_str()).filter(|b| !b.trim().is_empty()))
        .or(ident.bound_cluster());
    let claimed = match claimed {
        Some(c) => {
            let id = pick_cluster_id(header_cluster_id(&req), Some(c))?;
            ident.check_cluster(&id)?;
            Some(id)
        }
        None => None,
    };
    let max_output = usize::try_from(s.command_max_output).unwrap_or(usize::MAX);
    let command_id = result.command_id.to_string();
    let outcome = state
        .db
        .commands()
        .record_result(result, claimed.clone(), max_output, Utc::now())
        .await?;
    match outcome {
        ResultOutcome::NotFound => Err(ApiError::not_found(
            ErrorCode::CommandNotFound,
            "unknown command_id",
        )),
        ResultOutcome::WrongCluster => {
            tracing::warn!(claimed = ?claimed, "result for another cluster's command refused");
            Err(ApiError::forbidden(
                ErrorCode::CommandClusterMismatch,
                "the command belongs to another cluster",
            ))
        }
        ResultOutcome::Duplicate { cluster_id } => {
            tracing::debug!(%cluster_id, "repeated result ignored");
            state.cluster(&cluster_id, false).await?.do_send(Touch);
            if let Some(link) = state.hub.link() {
                link.touch(&cluster_id);
            }
            Ok(status_ok())
        }
        ResultOutcome::Applied {
            cluster_id,
            action,
            status,
        } => {
            let addr = state.cluster(&cluster_id, false).await?;
            if let Some(link) = state.hub.link() {
                link.touch(&cluster_id);
            }
            addr.do_send(ResultRecorded {
                command_id,
                action,
                status,
            });
            Ok(status_ok())
        }
    }
}
