//! Persisted events (`spec/api.md`, "Events"): the list with its filters and the
//! `related` view that follows a Deployment down to its ReplicaSets and Pods.

use actix_web::{web, HttpRequest, HttpResponse};

use atlhyper_actors::model::{ClusterSnapshot, Kind};

use super::clusters::latest;
use crate::auth::extract::Viewer;
use crate::db::events::{EventFilter, Involved};
use crate::error::ApiError;
use crate::http::{ListReply, Page, QueryParams};
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

/// The objects whose events belong to Deployment `ns/name`: itself, the ReplicaSets it
/// owns and their Pods, resolved through the owner references of `snap`.
fn deployment_family(snap: Option<&ClusterSnapshot>, ns: &str, name: &str) -> Vec<Involved> {
    let one = |kind: &str, names: Vec<String>| Involved {
        kind: kind.to_owned(),
        namespace: ns.to_owned(),
        names,
    };
    let mut out = vec![one("Deployment", vec![name.to_owned()])];
    let Some(snap) = snap else { return out };
    let rs: Vec<String> = snap
        .replicasets
        .iter()
        .filter(|r| r.namespace == ns && r.owner_kind == "Deployment" && r.owner_name == name)
        .map(|r| r.name.to_string())
        .collect();
    let pods: Vec<String> = snap
        .pods
        .iter()
        .filter(|p| {
            p.summary.namespace == ns
                && p.summary.owner_kind == "ReplicaSet"
                && rs.iter().any(|r| *r == p.summary.owner_name)
        })
        .map(|p| p.summary.name.to_string())
        .collect();
    out.push(one("ReplicaSet", rs));
    out.push(one("Pod", pods));
    out
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
    let mut filter = EventFilter::default();
    match kind.parse() {
        Ok(Kind::Deployment) => {
            let snap = latest(&addr).await?;
            filter.any_of = Some(deployment_family(
                snap.as_ref().map(|l| &*l.snapshot),
                &ns,
                &name,
            ));
        }
        Ok(Kind::Node) => filter.node = Some(name),
        _ => {
            filter.any_of = Some(vec![Involved {
                kind: kind.to_owned(),
                namespace: ns,
                names: vec![name],
            }]);
        }
    }
    page_of(&state, cluster_id, filter, page).await
}
