//! `GET /api/v2/subscribe`: the live feed as Server-Sent Events.
//!
//! Each client is an ordinary bus subscriber: if it reads slowly it gets the latest event
//! per cluster (per command for `command` events), never an unbounded backlog.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::Serialize;

use crate::auth::extract::Viewer;
use crate::error::ApiError;
use crate::http::QueryParams;
use crate::state::AppState;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

fn event(name: &str, data: &impl Serialize) -> Option<Bytes> {
    let json = serde_json::to_string(data).ok()?;
    Some(Bytes::from(format!("event: {name}\ndata: {json}\n\n")))
}

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
                event(
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
                event(
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
            let out = k3(&m.cluster_id).then(|| event("command", &m));
            async move { out.flatten() }
        });
    let alerts = state
        .bus
        .alerts
        .subscribe("sse")
        .into_stream()
        .filter_map(move |m| {
            let out = k4(&m.cluster_id).then(|| event("alert", &m));
            async move { out.flatten() }
        });
    let keepalive = stream::unfold((), |()| async {
        tokio::time::sleep(KEEPALIVE).await;
        Some((Bytes::from_static(b": keepalive\n\n"), ()))
    });
    let hello = stream::once(async { Bytes::from_static(b": connected\n\n") });
    let streams: Vec<BoxStream<'static, Bytes>> = vec![
        snapshots.boxed(),
        status.boxed(),
        commands.boxed(),
        alerts.boxed(),
        keepalive.boxed(),
    ];
    let shutdown = {
        let s = state.clone();
        async move { s.shutting_down().await }
    };
    let body = hello
        .chain(stream::select_all(streams))
        .take_until(shutdown)
        .map(Ok::<_, actix_web::Error>);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
