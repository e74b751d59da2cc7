//! `GET /api/v2/subscribe`: the live feed as Server-Sent Events.
//!
//! Each client is an ordinary bus subscriber: if it reads slowly it gets the latest event
//! per cluster (per command for `command` events), never an unbounded backlog.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};

use crate::auth::extract::Viewer;
use crate::error::ApiError;
use crate::http::{sse, QueryParams};
use crate::state::AppState;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Streams `cluster_status`, `snapshot`, `command` and `alert` events; `?cluster_id=`
/// filters.
pub async fn subscribe(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let only = q.get("cluster_id").map(str::to_owned);
    if let Some(id) = &only {
        state.cluster(id, false).await?;
    }
    let keep = move |cluster: &str| only.as_deref().is_none_or(|c| c == cluster);
    let (k1, k2, k3, k4) = (keep.clone(), keep.clone(), keep.clone(), keep);

    let snapshots = state
        .bus
        .snapshots
        .subscribe("sse")
        .into_stream()
        .filter_map(move |m| {
            let out = k1(&m.cluster_id).then(|| {
                sse::frame(
                    "snapshot",
                    &serde_json::json!({
                        "cluster_id": &*m.cluster_id,
                        "fetched_at": m.snapshot.fetched_at.to_utc(),
                        "received_at": m.received_at,
                        "summary": &m.snapshot.summary,
                    }),
                )
            });
            async move { out.flatten() }
        });
    let status = state
        .bus
        .status
        .subscribe("sse")
        .into_stream()
        .filter_map(move |m| {
            let out = k2(&m.cluster_id).then(|| {
                sse::frame(
                    "cluster_status",
                    &serde_json::json!({
                        "cluster_id": &*m.cluster_id,
                        "status": m.status.api_str(),
                        "previous": m.previous.api_str(),
                        "at": m.at,
                        "last_seen": m.last_seen,
                    }),
                )
            });
            async move { out.flatten() }
        });
    let commands = state
        .bus
        .commands
        .subscribe("sse")
        .into_stream()
        .filter_map(move |m| {
            let out = k3(&m.cluster_id).then(|| sse::frame("command", &m));
            async move { out.flatten() }
        });
    let alerts = state
        .bus
        .alerts
        .subscribe("sse")
        .into_stream()
        .filter_map(move |m| {
            let out = k4(&m.cluster_id).then(|| sse::frame("alert", &m));
            async move { out.flatten() }
        });
    let keepalive = stream::unfold((), |()| async {
        tokio::time::sleep(KEEPALIVE).await;
        Some((sse::comment("keepalive"), ()))
    });
    let hello = stream::once(async { sse::comment("connected") });
    let streams: Vec<BoxStream<'static, Bytes>> = vec![
        snapshots.boxed(),
        status.boxed(),
        commands.boxed(),
        alerts.boxed(),
        keepalive.boxed(),
    ];
    Ok(sse::response(
        &state,
        hello.chain(stream::select_all(streams)),
    ))
}
