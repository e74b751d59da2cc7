//! `POST /agent/slo`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use atlhyper_actors::messages::SloPushed;
use atlhyper_actors::model::SloPushRequest;

use super::{body, AgentIdentity};
use crate::error::ApiError;
use crate::http::{header_cluster_id, pick_cluster_id};
use crate::state::AppState;

/// Takes an SLO push (plain or gzip JSON) and answers 202 with an empty body, as v2.1 did.
/// The cluster id comes from the body first, then the header (the v2.1 order).
#[tracing::instrument(skip_all)]
pub async fn post_slo(
    req: HttpRequest,
    payload: web::Payload,
    ident: AgentIdentity,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let s = &state.settings;
    let enc = body::encoding(&req)?;
    let raw = body::read(&req, payload, s.agent_max_body).await?;
    let relayed = state.hub.link().is_some().then(|| raw.clone());
    let max = s.agent_max_snapshot;
    let mut push = web::block(move || {
        let json = body::decode(raw, enc, max)?;
        body::parse_object::<SloPushRequest>(&json)
    })
    .await??;
    let received_at = chrono::Utc::now();
    let fallback = ident.bound_cluster().map(str::to_owned);
    let body_id = Some(push.cluster_id.as_str())
        .filter(|b| !b.is_empty())
        .or(fallback.as_deref());
    let cluster_id = pick_cluster_id(body_id, header_cluster_id(&req))?;
    ident.check_cluster(&cluster_id)?;
    push.cluster_id = cluster_id.as_str().into();
    state
        .cluster(&cluster_id, true)
        .await?
        .send(SloPushed {
            cluster_id: Arc::from(cluster_id.as_str()),
            push: Arc::new(push),
            received_at,
            epoch: 0,
        })
        .await?;
    if let Some(body) = relayed {
        state.hub.relay_blob(
            crate::hub::BlobKind::Slo,
            &cluster_id,
            crate::hub::Blob {
                gzip: enc == body::Encoding::Gzip,
                received_at,
                body,
            },
        );
    }
    Ok(HttpResponse::Accepted().finish())
}
