//! `POST /agent/heartbeat`.

use actix_web::{web, HttpRequest, HttpResponse};

use atlhyper_actors::messages::{AgentMeta, Heartbeat};

use super::{body, AgentIdentity};
use crate::error::ApiError;
use crate::http::{header_cluster_id, pick_cluster_id, status_ok};
use crate::state::AppState;

/// A heartbeat body is optional metadata; anything larger is not a heartbeat.
const MAX_HEARTBEAT_BODY: u64 = 64 * 1024;
/// A sign of life. v2.1 agents send an empty body; newer ones may send metadata.
#[tracing::instrument(skip_all, fields(cluster_id = header_cluster_id(&req).unwrap_or("")))]
pub async fn post_heartbeat(
    req: HttpRequest,
    payload: web::Payload,
    ident: AgentIdentity,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let fallback = ident.bound_cluster().map(str::to_owned);
    let cluster_id = pick_cluster_id(header_cluster_id(&req), fallback.as_deref())?;
    ident.check_cluster(&cluster_id)?;
    let enc = body::encoding(&req)?;
    let raw = body::read(&req, payload, MAX_HEARTBEAT_BODY).await?;
    let raw = body::decode(raw, enc, MAX_HEARTBEAT_BODY)?;
    let agent = atlhyper_actors::model::wire::parse_heartbeat(&raw)
        .map_err(body::wire_error)?
        .map(|b| AgentMeta {
            agent_version: b.agent_version,
            hostname: b.hostname,
            ip: b.ip,
            ..AgentMeta::default()
        });
    let addr = state.cluster(&cluster_id, true).await?;
    let contact = super::contact(&req);
    if state.hub.link().is_some() {
        state.hub.relay(crate::hub::Relay::Heartbeat {
            c: cluster_id.clone(),
            agent: agent.as_ref().map(|a| crate::hub::HeartbeatMeta {
                agent_version: a.agent_version.clone(),
                hostname: a.hostname.clone(),
                ip: a.ip.clone(),
            }),
            contact: Some(contact.clone()),
        });
    }
    addr.do_send(contact);
    addr.send(Heartbeat { agent }).await?;
    Ok(status_ok())
}
