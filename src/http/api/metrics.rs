//! `GET /metrics`: the scrape. Access is [`Access::Scrape`](crate::auth::access::Access)
//! in the route table: public, or, with `metrics_token` set,
//! `Authorization: Bearer <metrics_token>`. The scrape is not rate-limited and a
//! successful one is not audited. What it serves is rendered by `crate::metrics`.

use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

use crate::auth::bearer;
use crate::config::Settings;
use crate::error::ApiError;
use crate::metrics::{LiveState, CONTENT_TYPE};
use crate::state::AppState;

/// With `metrics_token` set, the scrape must carry it as a bearer token (compared in
/// constant time); dashboard user tokens are not accepted here.
fn check_token(settings: &Settings, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(want) = settings.expose_metrics_token() else {
        return Ok(());
    };
    match bearer(req) {
        Some(got) if bool::from(got.as_bytes().ct_eq(want.as_bytes())) => Ok(()),
        _ => Err(ApiError::unauthorized(
            "metrics require Authorization: Bearer <metrics_token>",
        )),
    }
}

/// `GET /metrics`.
#[tracing::instrument(skip_all)]
pub async fn get_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_token(&state.settings, &req)?;
    let live = LiveState {
        db: &state.db,
        registry: &state.registry,
        bus: &state.bus,
        notify: &state.notify,
        hub: &state.hub,
    };
    let body = state
        .metrics
        .render(&live)
        .await
        .map_err(|e| ApiError::internal(format!("encoding metrics: {e}")))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(body))
}
