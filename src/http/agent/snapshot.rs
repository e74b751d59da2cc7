//! `POST /agent/snapshot`.

use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use atlhyper_actors::messages::ApplySnapshot;
use atlhyper_actors::model::ClusterSnapshot;

use super::{body, AgentIdentity};
use crate::error::ApiError;
use crate::http::{header_cluster_id, pick_cluster_id, status_ok};
use crate::metrics::Metrics;
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
    if let Some(h) = header_cluster_id(req).filter(|h| !h.is_empty()) {
        ident.check_cluster(h)?;
    }
    let s = &state.settings;
    let raw = body::read(req, payload, s.agent_max_body, s.agent_read_timeout).await?;
    state.metrics.snapshot_bytes("wire", raw.len());
    let received_at = Utc::now();
    let permit = Arc::clone(&state.decode_permits)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::unavailable("shutting down"))?;
    let max = s.agent_max_snapshot;
    let metrics = state.metrics.clone();
    let (mut snapshot, bytes) = web::block(move || {
        let _permit = permit;
        let started = Instant::now();
        let parsed = decode_and_parse(raw, enc, max, &metrics);
        metrics.snapshot_parsed(started.elapsed());
        parsed
    })
    .await??;
    let cluster_id = pick_cluster_id(header_cluster_id(req), Some(&snapshot.cluster_id))?;
    ident.check_cluster(&cluster_id)?;
    snapshot.cluster_id = cluster_id.as_str().into();
    let addr = state.cluster(&cluster_id, true).await?;
    let applied = addr
        .send(ApplySnapshot {
            snapshot: Arc::new(snapshot),
            bytes,
            received_at,
        })
        .await?;
    if let Some(garbage) = applied.garbage {
        // Freeing a large snapshot is real work; keep it off the worker and the actor.
        actix_web::rt::task::spawn_blocking(move || drop(garbage));
    }
    Ok(status_ok())
}

/// Decompresses and parses one body (blocking); returns the snapshot and its JSON size.
fn decode_and_parse(
    raw: bytes::Bytes,
    enc: body::Encoding,
    max: u64,
    metrics: &Metrics,
) -> Result<(ClusterSnapshot, u64), ApiError> {
    let json = body::decode(raw, enc, max)?;
    metrics.snapshot_bytes("json", json.len());
    let snap: ClusterSnapshot = body::parse_object(&json)?;
    Ok((snap, json.len() as u64))
}
