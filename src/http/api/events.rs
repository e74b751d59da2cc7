//! Persisted events (`spec/api.md`, "Events"): the list with its filters and the
//! `related` view that follows a Deployment down to its ReplicaSets and Pods.

use actix_web::{web, HttpRequest, HttpResponse};

use atlhyper_actors::model::Kind;

use super::clusters::latest;
use crate::auth::extract::Viewer;
use crate::db::events::EventFilter;
use crate::error::ApiError;
use crate::http::{ListReply, Page, QueryParams};
use crate::service::events::related_filter;
use crate::state::AppState;

/// Reads the list filters of `GET /clusters/{id}/events`.
fn filter_of(q: &QueryParams) -> Result<EventFilter, ApiError> {
    let s = |k: &str| q.get(k).map(str::to_owned);
    Ok(EventFilter {
        event_type: s("type"),
        reason: s("reason"),
        kind: s("kind"),
        namespace: s("namespace"),
        name: s("name"),
        node: s("node"),
        since: q.time("since")?,
        until: q.time("until")?,
        any_of: None,
    })
}

async fn page_of(
    state: &AppState,
    cluster_id: String,
    filter: EventFilter,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let (rows, total) = state
        .db
        .events()
        .list(&cluster_id, filter, page.limit, page.offset)
        .await?;
    Ok(HttpResponse::Ok().json(ListReply {
        items: rows.iter().map(|r| r.to_json()).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// `GET /api/v2/clusters/{id}/events`: persisted events, newest `last_timestamp` first.
#[tracing::instrument(skip_all, fields(cluster_id = %path))]
pub async fn list_events(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let filter = filter_of(&q)?;
    let cluster_id = path.into_inner();
    state.cluster(&cluster_id, false).await?;
    page_of(&state, cluster_id, filter, page).await
}

/// `GET /api/v2/clusters/{id}/events/related?kind=&namespace=&name=`.
#[tracing::instrument(skip_all, fields(cluster_id = %path))]
pub async fn related_events(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let kind = q
        .get("kind")
        .ok_or_else(|| ApiError::invalid_param("kind", "required"))?;
    let name = q
        .get("name")
        .ok_or_else(|| ApiError::invalid_param("name", "required"))?
        .to_owned();
    let ns = q.get("namespace").unwrap_or("").to_owned();
    let cluster_id = path.into_inner();
    let addr = state.cluster(&cluster_id, false).await?;
    // Only a Deployment needs the snapshot (its ReplicaSets and Pods).
    let snap = match kind.parse() {
        Ok(Kind::Deployment) => latest(&addr).await?,
        _ => None,
    };
    let filter = related_filter(snap.as_ref().map(|l| &*l.snapshot), kind, &ns, &name);
    page_of(&state, cluster_id, filter, page).await
}
