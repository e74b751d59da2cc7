//! Server-Sent Events: the one frame format and response shape of every stream the
//! dashboard serves (`/api/v2/subscribe`, `/api/v2/ai/chat`).

use actix_web::http::header;
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;

use crate::state::AppState;

/// `event: <name>` and `data: <JSON>`; `None` if `data` does not serialize.
pub fn frame(name: &str, data: &impl Serialize) -> Option<Bytes> {
    let json = serde_json::to_string(data).ok()?;
    Some(Bytes::from(format!("event: {name}\ndata: {json}\n\n")))
}

/// A comment line: ignored by clients, it keeps proxies from closing a quiet stream and
/// lets the server notice a client that left (actix-web sees it only when a write fails,
/// actix/actix-web#1313).
pub fn comment(text: &'static str) -> Bytes {
    Bytes::from(format!(": {text}\n\n"))
}

/// The streaming reply: `text/event-stream`, no caching or proxy buffering, and the body
/// ends when shutdown starts.
pub fn response<S>(state: &AppState, body: S) -> HttpResponse
where
    S: Stream<Item = Bytes> + 'static,
{
    let shutdown = {
        let s = state.clone();
        async move { s.shutting_down().await }
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body.take_until(shutdown).map(Ok::<_, actix_web::Error>))
}
