//! The query DSL (`spec/api.md`, "Query DSL"): `GET /api/v2/query?q=<expr>`, and the same
//! as `POST /api/v2/query` with `{"q": "<expr>"}` for texts too long for a URL.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::extract::Viewer;
use crate::error::ApiError;
use crate::http::QueryParams;
use crate::service::query as service;
use crate::state::AppState;

async fn answer(
    state: &AppState,
    auth: &Viewer,
    q: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let q = q.filter(|q| !q.trim().is_empty()).ok_or_else(|| {
        ApiError::invalid_param("q", "required: a query such as pods(cluster=\"*\")")
    })?;
    let body = service::run(state, q, auth.principal.role).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// `GET /api/v2/query?q=<expr>`.
#[tracing::instrument(skip_all)]
pub async fn get_query(
    auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    answer(&state, &auth, q.get("q")).await
}

/// The body of `POST /api/v2/query`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// The query text.
    pub q: String,
}

/// `POST /api/v2/query` with `{"q": "<expr>"}`.
#[tracing::instrument(skip_all)]
pub async fn post_query(
    auth: Viewer,
    body: web::Json<QueryBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(&state, &auth, Some(&body.q)).await
}
