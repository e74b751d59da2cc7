//! Resource lists and single objects, straight from a cluster's latest snapshot.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use atlhyper_actors::model::{ClusterSnapshot, Kind, ResourceMeta, VisitItems};

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

#[derive(Debug)]
enum LabelSel {
    Eq(String, String),
    NotEq(String, String),
    Exists(String),
}

impl LabelSel {
    fn parse(s: &str) -> Result<Self, ApiError> {
        let bad =
            || ApiError::invalid_param("label", format!("{s:?}: use key=value, key!=value or key"));
        if let Some((k, v)) = s.split_once("!=") {
            (!k.is_empty())
                .then(|| LabelSel::NotEq(k.to_owned(), v.to_owned()))
                .ok_or_else(bad)
        } else if let Some((k, v)) = s.split_once('=') {
            (!k.is_empty())
                .then(|| LabelSel::Eq(k.to_owned(), v.to_owned()))
                .ok_or_else(bad)
        } else {
            Ok(LabelSel::Exists(s.to_owned()))
        }
    }

    fn matches(&self, labels: &atlhyper_actors::model::StrMap) -> bool {
        match self {
            LabelSel::Eq(k, v) => labels.get(k.as_str()).is_some_and(|x| x == v),
            LabelSel::NotEq(k, v) => labels.get(k.as_str()).is_none_or(|x| x != v),
            LabelSel::Exists(k) => labels.contains_key(k.as_str()),
        }
    }
}

/// The list filters of `spec/api.md`.
#[derive(Debug, Default)]
struct Filter {
    namespace: Option<String>,
    name: Option<String>,
    labels: Vec<LabelSel>,
    node: Option<String>,
    phase: Option<String>,
    event_type: Option<String>,
    reason: Option<String>,
}

impl Filter {
    fn from_query(q: &QueryParams, kind: Kind) -> Result<Self, ApiError> {
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
                .map(LabelSel::parse)
                .collect::<Result<_, _>>()?,
            node: only("node", kind == Kind::Pod, "pods")?,
            phase: only("phase", kind == Kind::Pod, "pods")?,
            event_type: only("type", kind == Kind::Event, "events")?,
            reason: only("reason", kind == Kind::Event, "events")?,
        })
    }

    fn common<T: ResourceMeta>(&self, r: &T) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| r.namespace() == ns)
            && self.name.as_deref().is_none_or(|n| r.name().contains(n))
            && self.labels.iter().all(|l| l.matches(r.labels()))
    }
}

fn eq_ci(want: Option<&str>, have: &str) -> bool {
    want.is_none_or(|w| w.eq_ignore_ascii_case(have))
}

fn page_of<T: ResourceMeta + Serialize>(
    items: &[T],
    f: &Filter,
    extra: impl Fn(&T) -> bool,
    page: Page,
) -> HttpResponse {
    let hits: Vec<&T> = items.iter().filter(|r| f.common(*r) && extra(r)).collect();
    HttpResponse::Ok().json(ListReply::paged(hits, page))
}

fn list(snap: &ClusterSnapshot, kind: Kind, f: &Filter, page: Page) -> HttpResponse {
    match kind {
        Kind::Pod => page_of(
            &snap.pods,
            f,
            |p| {
                f.node.as_deref().is_none_or(|n| p.summary.node_name == n)
                    && eq_ci(f.phase.as_deref(), &p.status.phase)
            },
            page,
        ),
        Kind::Event => page_of(
            &snap.events,
            f,
            |e| eq_ci(f.event_type.as_deref(), &e.type_) && eq_ci(f.reason.as_deref(), &e.reason),
            page,
        ),
        _ => {
            struct Plain<'f>(&'f Filter, Page);
            impl VisitItems<'_> for Plain<'_> {
                type Output = HttpResponse;
                fn visit<T: ResourceMeta + Serialize + 'static>(self, items: &[T]) -> HttpResponse {
                    page_of(items, self.0, |_| true, self.1)
                }
            }
            kind.visit(snap, Plain(f, page))
        }
    }
}

fn find_one(
    snap: &ClusterSnapshot,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> Option<HttpResponse> {
    struct One<'k>(&'k str, &'k str);
    impl VisitItems<'_> for One<'_> {
        type Output = Option<HttpResponse>;
        fn visit<T: ResourceMeta + Serialize + 'static>(self, items: &[T]) -> Self::Output {
            items
                .iter()
                .find(|r| r.namespace() == self.0 && r.name() == self.1)
                .map(|r| HttpResponse::Ok().json(r))
        }
    }
    kind.visit(snap, One(namespace, name))
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
    let filter = Filter::from_query(&q, kind)?;
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
