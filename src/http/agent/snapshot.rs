//! `POST /agent/snapshot`.

use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use atlhyper_actors::messages::{ApplySnapshot, GetParseBase};
use atlhyper_actors::model::Base;

use super::{body, AgentIdentity};
use crate::error::ApiError;
use crate::http::{header_cluster_id, pick_cluster_id, status_ok};
use crate::hub::{Blob, BlobKind};
use crate::state::AppState;

/// Takes a full cluster snapshot. Decoding and parsing run on the blocking pool; the
/// reply is sent as soon as the cluster actor holds the snapshot. Nothing is written to
/// the database here: persistence subscribes to the actor's `SnapshotReceived`.
#[tracing::instrument(skip_all, fields(cluster_id = header_cluster_id(&req).unwrap_or("")))]
pub async fn post_snapshot(
    req: HttpRequest,
    payload: web::Payload,
    ident: AgentIdentity,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let res = ingest(&req, payload, &ident, &state).await;
    state.metrics.snapshot_handled(res.is_ok());
    res
}

async fn ingest(
    req: &HttpRequest,
    payload: web::Payload,
    ident: &AgentIdentity,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let enc = body::encoding(req)?;
    let header = header_cluster_id(req).filter(|h| !h.is_empty());
    if let Some(h) = header {
        ident.check_cluster(h)?;
    }
    let s = &state.settings;
    let raw = body::read(req, payload, s.agent_max_body).await?;
    // Replicas: the body as sent, for the others (a cheap reference-counted clone).
    let relayed = state.hub.link().is_some().then(|| raw.clone());
    state.metrics.snapshot_bytes("wire", raw.len());
    let received_at = Utc::now();
    let permit = Arc::clone(&state.decode_permits)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::unavailable("shutting down"))?;
    let max = s.agent_max_snapshot;
    let metrics = state.metrics.clone();
    // The permit travels with the blocking work, so a client that disconnects mid-decode
    // does not free it early.
    let peek = header.is_none();
    let decoded = web::block(move || {
        let started = Instant::now();
        let json = body::decode(raw, enc, max);
        let took = started.elapsed();
        if json.is_err() {
            metrics.snapshot_parsed(took);
        }
        let json = json?;
        let id = if peek {
            atlhyper_actors::model::wire::peek_cluster_id(&json)
        } else {
            None
        };
        Ok::<_, ApiError>((json, id, took, permit))
    })
    .await??;
    let (json, body_id, decode_took, permit) = decoded;
    let bytes = json.len() as u64;
    state.metrics.snapshot_bytes("json", json.len());
    let base = parse_base(state, ident, header.map(str::to_owned).or(body_id)).await;
    let metrics = state.metrics.clone();
    let (mut snapshot, memo) = web::block(move || {
        let _permit = permit;
        let started = Instant::now();
        let parsed = body::parse_snapshot(&json, base.as_ref());
        metrics.snapshot_parsed(decode_took + started.elapsed());
        let (snapshot, memo, reuse) = parsed?;
        metrics.snapshot_reuse(&reuse);
        Ok::<_, ApiError>((snapshot, memo))
    })
    .await??;
    let cluster_id = pick_cluster_id(header_cluster_id(req), Some(&snapshot.cluster_id))?;
    ident.check_cluster(&cluster_id)?;
    snapshot.cluster_id = cluster_id.as_str().into();
    let addr = state.cluster(&cluster_id, true).await?;
    addr.do_send(super::contact(req));
    let applied = addr
        .send(ApplySnapshot {
            snapshot: Arc::new(snapshot),
            bytes,
            received_at,
            memo: memo.map(Arc::new),
        })
        .await?;
    if let Some(garbage) = applied.garbage {
        // Freeing a large snapshot is real work; keep it off the worker and the actor.
        actix_web::rt::task::spawn_blocking(move || drop(garbage));
    }
    if let (true, Some(body)) = (applied.applied, relayed) {
        state.hub.relay_blob(
            BlobKind::Snapshot,
            &cluster_id,
            Blob {
                gzip: enc == body::Encoding::Gzip,
                received_at,
                body,
            },
        );
    }
    Ok(status_ok())
}

/// The previous snapshot of the cluster this body claims, to reuse its unchanged objects:
/// only for a cluster this agent may push to and that already has a snapshot.
async fn parse_base(state: &AppState, ident: &AgentIdentity, id: Option<String>) -> Option<Base> {
    let id = id?;
    ident.check_cluster(&id).ok()?;
    let addr = state.cluster(&id, false).await.ok()?;
    addr.send(GetParseBase).await.ok()?
}
