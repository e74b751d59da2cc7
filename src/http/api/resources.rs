//! Resource lists and single objects, straight from a cluster's latest snapshot.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use atlhyper_actors::model::{ClusterSnapshot, Kind, ResourceMeta, VisitItems};
use atlhyper_query::{Filter, LabelSel};

use super::clusters::latest;
use crate::auth::extract::{Operator, Viewer};
use crate::error::{ApiError, ErrorCode};
use crate::http::{ListReply, Page, QueryParams};
use crate::state::AppState;

/// Parses a `{kind}` path segment (its [`Kind::plural`]); `400` for an unknown kind.
pub fn parse_kind(s: &str) -> Result<Kind, ApiError> {
    Kind::from_plural(s).ok_or_else(|| {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.plural()).collect();
        ApiError::bad_request(
            ErrorCode::UnknownKind,
            format!("unknown kind {s:?}; one of: {}", names.join(" ")),
        )
    })
}

/// The list filters of `spec/api.md`, from the query string (`phase`, `node`: pods only;
/// `type`, `reason`: events only).
fn filter_from_query(q: &QueryParams, kind: Kind) -> Result<Filter, ApiError> {
    let only = |param: &str, allowed: bool, what: &str| -> Result<Option<String>, ApiError> {
        match q.get(param) {
            Some(_) if !allowed => Err(ApiError::invalid_param(
                param,
                format!("applies to {what} only"),
            )),
            v => Ok(v.map(str::to_owned)),
        }
    };
    Ok(Filter {
        namespace: q.get("namespace").map(str::to_owned),
        name: q.get("name").map(str::to_owned),
        labels: q
            .all("label")
            .into_iter()
            .map(|l| LabelSel::parse(l).map_err(|m| ApiError::invalid_param("label", m)))
            .collect::<Result<_, _>>()?,
        node: only("node", kind == Kind::Pod, "pods")?,
        phase: only("phase", kind == Kind::Pod, "pods")?,
        event_type: only("type", kind == Kind::Event, "events")?,
        reason: only("reason", kind == Kind::Event, "events")?,
        ..Filter::default()
    })
}

fn list(snap: &ClusterSnapshot, kind: Kind, f: &Filter, page: Page) -> HttpResponse {
    struct Page1<'f>(&'f Filter, Page);
    impl VisitItems<'_> for Page1<'_> {
        type Output = HttpResponse;
        fn visit<T: ResourceMeta + Serialize + 'static>(self, items: &[T]) -> HttpResponse {
            let hits: Vec<&T> = items.iter().filter(|r| self.0.matches(*r)).collect();
            HttpResponse::Ok().json(ListReply::paged(hits, self.1))
        }
    }
    kind.visit(snap, Page1(f, page))
}

fn find_one(
    snap: &ClusterSnapshot,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> Option<HttpResponse> {
    crate::service::resources::find(snap, kind, namespace, name).map(|v| HttpResponse::Ok().json(v))
}

/// Secrets have routes of their own (operator); the generic routes do not serve them.
fn not_secrets(kind: Kind) -> Result<(), ApiError> {
    if kind == Kind::Secret {
        return Err(ApiError::not_found(
            ErrorCode::UnknownPath,
            "secrets are served by /resources/secrets",
        ));
    }
    Ok(())
}

async fn list_kind(
    req: &HttpRequest,
    state: &AppState,
    cluster_id: &str,
    kind: Kind,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(req);
    let page = Page::from_query(&q)?;
    let filter = filter_from_query(&q, kind)?;
    let addr = state.cluster(cluster_id, false).await?;
    match latest(&addr).await? {
        Some(l) => Ok(list(&l.snapshot, kind, &filter, page)),
        None => Ok(HttpResponse::Ok().json(ListReply::<()>::paged(Vec::new(), page))),
    }
}

/// `GET /api/v2/clusters/{id}/resources/{kind}`.
pub async fn list_resources(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (cluster_id, kind) = path.into_inner();
    let kind = parse_kind(&kind)?;
    not_secrets(kind)?;
    list_kind(&req, &state, &cluster_id, kind).await
}

/// `GET /api/v2/clusters/{id}/resources/secrets` (operator): key names only, as the agent
/// sends them; secret values never reach the master.
pub async fn list_secrets(
    _auth: Operator,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    list_kind(&req, &state, &path, Kind::Secret).await
}

/// `GET /api/v2/clusters/{id}/resources/secrets/{namespace}/{name}` (operator).
pub async fn get_secret(
    _auth: Operator,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (cluster_id, ns, name) = path.into_inner();
    get_object(&state, &cluster_id, Kind::Secret, &ns, &name).await
}

async fn get_object(
    state: &AppState,
    cluster_id: &str,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let addr = state.cluster(cluster_id, false).await?;
    let snap = latest(&addr).await?;
    snap.and_then(|l| find_one(&l.snapshot, kind, ns, name))
        .ok_or_else(|| {
            let what = if ns.is_empty() {
                name.to_owned()
            } else {
                format!("{ns}/{name}")
            };
            ApiError::not_found(
                ErrorCode::ResourceNotFound,
                format!("no such object {what}"),
            )
        })
}

/// `GET /api/v2/clusters/{id}/resources/{kind}/{namespace}/{name}`.
pub async fn get_namespaced(
    _auth: Viewer,
    path: web::Path<(String, String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (cluster_id, kind, ns, name) = path.into_inner();
    let kind_v = parse_kind(&kind)?;
    not_secrets(kind_v)?;
    if !kind_v.is_namespaced() {
        return Err(ApiError::bad_request(
            ErrorCode::ClusterScopedKind,
            format!("{kind} are cluster-scoped: use /resources/{kind}/{{name}}"),
        ));
    }
    get_object(&state, &cluster_id, kind_v, &ns, &name).await
}

/// `GET /api/v2/clusters/{id}/resources/{kind}/{name}` for cluster-scoped kinds.
pub async fn get_cluster_scoped(
    _auth: Viewer,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (cluster_id, kind, name) = path.into_inner();
    let kind_v = parse_kind(&kind)?;
    not_secrets(kind_v)?;
    if kind_v.is_namespaced() {
        return Err(ApiError::bad_request(
            ErrorCode::NamespacedKind,
            format!("{kind} are namespaced: use /resources/{kind}/{{namespace}}/{{name}}"),
        ));
    }
    get_object(&state, &cluster_id, kind_v, "", &name).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// The `{kind}` segments, their order in the error and the error code are the API's.
    #[test]
    fn kind_path_segments_are_unchanged() {
        let plurals = "pods deployments statefulsets daemonsets replicasets jobs cronjobs \
                       services ingresses namespaces configmaps secrets resourcequotas \
                       limitranges networkpolicies serviceaccounts pvs pvcs nodes events";
        for p in plurals.split(' ') {
            assert_eq!(parse_kind(p).unwrap().plural(), p);
        }
        let cluster_scoped: Vec<&str> = plurals
            .split(' ')
            .filter(|p| !parse_kind(p).unwrap().is_namespaced())
            .collect();
        assert_eq!(cluster_scoped, ["namespaces", "pvs", "nodes"]);
        let err = parse_kind("widgets").unwrap_err();
        assert_eq!(err.code().as_str(), "unknown_kind");
        assert_eq!(
            err.message(),
            format!("unknown kind \"widgets\"; one of: {plurals}")
        );
        assert_eq!(
            parse_kind("Pods").unwrap_err().code().as_str(),
            "unknown_kind"
        );
    }
}
