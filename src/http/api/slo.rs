//! SLO handlers (`spec/api.md`, "SLO"): each parses the query or body, calls one function
//! of `service::slo` and shapes the reply.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use crate::auth::extract::{Operator, Viewer};
use crate::error::{ApiError, ErrorCode};
use crate::http::{validate_cluster_id, QueryParams};
use crate::service::slo::{self as service, SloError, TargetInput};
use crate::state::AppState;

impl From<SloError> for ApiError {
    fn from(e: SloError) -> Self {
        let msg = e.to_string();
        match e {
            SloError::Invalid(field, why) => ApiError::invalid_param(field, why),
            SloError::DomainNotFound(_) => ApiError::not_found(ErrorCode::DomainNotFound, msg),
            SloError::Db(cause) => cause.into(),
        }
    }
}

/// The cluster a query names; without `cluster_id`, the only cluster there is. With none
/// or several, it must be named.
async fn cluster_of(q: &QueryParams, state: &AppState) -> Result<String, ApiError> {
    if let Some(id) = q.get("cluster_id").filter(|s| !s.is_empty()) {
        validate_cluster_id(id)?;
        state.cluster(id, false).await?;
        return Ok(id.to_owned());
    }
    let all = state.db.clusters().list().await?;
    match all.as_slice() {
        [only] => Ok(only.cluster_uid.clone()),
        [] => Err(ApiError::not_found(
            ErrorCode::ClusterNotFound,
            "no cluster is known yet",
        )),
        _ => Err(ApiError::invalid_param(
            "cluster_id",
            format!("required: the master holds {} clusters", all.len()),
        )),
    }
}

/// `GET /api/v2/slo/domains?cluster_id=&time_range=`.
#[tracing::instrument(skip_all)]
pub async fn list_domains(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let range = service::parse_range(q.get("time_range"))?;
    let cluster = cluster_of(&q, &state).await?;
    let view = service::domains(&state.db, &state.settings, &cluster, range, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v2/slo/domains/{domain}?cluster_id=&time_range=`.
#[tracing::instrument(skip_all, fields(domain = %path.as_str()))]
pub async fn get_domain(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let range = service::parse_range(q.get("time_range"))?;
    let cluster = cluster_of(&q, &state).await?;
    let view = service::domain(
        &state.db,
        &state.settings,
        &cluster,
        path.as_str(),
        range,
        Utc::now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v2/slo/targets?cluster_id=`: the targets set (of every cluster without
/// `cluster_id`) and the defaults.
#[tracing::instrument(skip_all)]
pub async fn list_targets(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let cluster = match q.get("cluster_id").filter(|s| !s.is_empty()) {
        Some(id) => {
            validate_cluster_id(id)?;
            state.cluster(id, false).await?;
            Some(id)
        }
        None => None,
    };
    let view = service::targets(&state.db, &state.settings, cluster).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `PUT /api/v2/slo/targets`: sets the target of a route (or of a whole domain, with no
/// `path_prefix`) for one range (or all four, with no `time_range`).
#[tracing::instrument(skip_all)]
pub async fn put_target(
    auth: Operator,
    state: web::Data<AppState>,
    body: web::Json<TargetInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    validate_cluster_id(&input.cluster_id)?;
    state.cluster(&input.cluster_id, false).await?;
    let stored = service::put_target(&state.db, input, auth.principal.user_id, Utc::now()).await?;
    // The next evaluation of each route uses it; nothing else caches targets.
    Ok(HttpResponse::Ok().json(serde_json::json!({ "targets": stored })))
}
