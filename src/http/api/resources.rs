//! Resource lists and single objects, straight from a cluster's latest snapshot.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use atlhyper_actors::model::{ClusterSnapshot, ResourceMeta};

use super::clusters::latest;
use crate::auth::extract::{Operator, Viewer};
use crate::error::{ApiError, ErrorCode};
use crate::http::{ListReply, Page, QueryParams};
use crate::state::AppState;

/// The kinds a snapshot carries, with their URL names and whether they are namespaced.
const KINDS: &[(&str, Kind, bool)] = &[
    ("pods", Kind::Pods, true),
    ("deployments", Kind::Deployments, true),
    ("statefulsets", Kind::StatefulSets, true),
    ("daemonsets", Kind::DaemonSets, true),
    ("replicasets", Kind::ReplicaSets, true),
    ("jobs", Kind::Jobs, true),
    ("cronjobs", Kind::CronJobs, true),
    ("services", Kind::Services, true),
    ("ingresses", Kind::Ingresses, true),
    ("namespaces", Kind::Namespaces, false),
    ("configmaps", Kind::ConfigMaps, true),
    ("secrets", Kind::Secrets, true),
    ("resourcequotas", Kind::ResourceQuotas, true),
    ("limitranges", Kind::LimitRanges, true),
    ("networkpolicies", Kind::NetworkPolicies, true),
    ("serviceaccounts", Kind::ServiceAccounts, true),
    ("pvs", Kind::Pvs, false),
    ("pvcs", Kind::Pvcs, true),
    ("nodes", Kind::Nodes, false),
    ("events", Kind::Events, true),
];

/// A resource kind of the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    #[allow(missing_docs, reason = "names say it")]
    Pods,
    #[allow(missing_docs, reason = "names say it")]
    Deployments,
    #[allow(missing_docs, reason = "names say it")]
    StatefulSets,
    #[allow(missing_docs, reason = "names say it")]
    DaemonSets,
    #[allow(missing_docs, reason = "names say it")]
    ReplicaSets,
    #[allow(missing_docs, reason = "names say it")]
    Jobs,
    #[allow(missing_docs, reason = "names say it")]
    CronJobs,
    #[allow(missing_docs, reason = "names say it")]
    Services,
    #[allow(missing_docs, reason = "names say it")]
    Ingresses,
    #[allow(missing_docs, reason = "names say it")]
    Namespaces,
    #[allow(missing_docs, reason = "names say it")]
    ConfigMaps,
    #[allow(missing_docs, reason = "names say it")]
    Secrets,
    #[allow(missing_docs, reason = "names say it")]
    ResourceQuotas,
    #[allow(missing_docs, reason = "names say it")]
    LimitRanges,
    #[allow(missing_docs, reason = "names say it")]
    NetworkPolicies,
    #[allow(missing_docs, reason = "names say it")]
    ServiceAccounts,
    #[allow(missing_docs, reason = "names say it")]
    Pvs,
    #[allow(missing_docs, reason = "names say it")]
    Pvcs,
    #[allow(missing_docs, reason = "names say it")]
    Nodes,
    #[allow(missing_docs, reason = "names say it")]
    Events,
}

/// Parses a `{kind}` path segment; `400` for an unknown kind.
pub fn parse_kind(s: &str) -> Result<(Kind, bool), ApiError> {
    KINDS
        .iter()
        .find(|(n, _, _)| *n == s)
        .map(|(_, k, ns)| (*k, *ns))
        .ok_or_else(|| {
            let names: Vec<&str> = KINDS.iter().map(|(n, _, _)| *n).collect();
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
            node: only("node", kind == Kind::Pods, "pods")?,
            phase: only("phase", kind == Kind::Pods, "pods")?,
            event_type: only("type", kind == Kind::Events, "events")?,
            reason: only("reason", kind == Kind::Events, "events")?,
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

macro_rules! each_kind {
    ($snap:expr, $kind:expr, $f:ident, $on:ident) => {
        match $kind {
            Kind::Pods => $f(&$snap.pods, $on),
            Kind::Deployments => $f(&$snap.deployments, $on),
            Kind::StatefulSets => $f(&$snap.statefulsets, $on),
            Kind::DaemonSets => $f(&$snap.daemonsets, $on),
            Kind::ReplicaSets => $f(&$snap.replicasets, $on),
            Kind::Jobs => $f(&$snap.jobs, $on),
            Kind::CronJobs => $f(&$snap.cronjobs, $on),
            Kind::Services => $f(&$snap.services, $on),
            Kind::Ingresses => $f(&$snap.ingresses, $on),
            Kind::Namespaces => $f(&$snap.namespaces, $on),
            Kind::ConfigMaps => $f(&$snap.configmaps, $on),
            Kind::Secrets => $f(&$snap.secrets, $on),
            Kind::ResourceQuotas => $f(&$snap.resource_quotas, $on),
            Kind::LimitRanges => $f(&$snap.limit_ranges, $on),
            Kind::NetworkPolicies => $f(&$snap.network_policies, $on),
            Kind::ServiceAccounts => $f(&$snap.service_accounts, $on),
            Kind::Pvs => $f(&$snap.pvs, $on),
            Kind::Pvcs => $f(&$snap.pvcs, $on),
            Kind::Nodes => $f(&$snap.nodes, $on),
            Kind::Events => $f(&$snap.events, $on),
        }
    };
}

fn list(snap: &ClusterSnapshot, kind: Kind, f: &Filter, page: Page) -> HttpResponse {
    match kind {
        Kind::Pods => page_of(
            &snap.pods,
            f,
            |p| {
                f.node.as_deref().is_none_or(|n| p.summary.node_name == n)
                    && eq_ci(f.phase.as_deref(), &p.status.phase)
            },
            page,
        ),
        Kind::Events => page_of(
            &snap.events,
            f,
            |e| eq_ci(f.event_type.as_deref(), &e.type_) && eq_ci(f.reason.as_deref(), &e.reason),
            page,
        ),
        _ => {
            fn plain<T: ResourceMeta + Serialize>(items: &[T], a: (&Filter, Page)) -> HttpResponse {
                page_of(items, a.0, |_| true, a.1)
            }
            let args = (f, page);
            each_kind!(snap, kind, plain, args)
        }
    }
}

fn find_one(
    snap: &ClusterSnapshot,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> Option<HttpResponse> {
    fn one<T: ResourceMeta + Serialize>(items: &[T], key: (&str, &str)) -> Option<HttpResponse> {
        items
            .iter()
            .find(|r| r.namespace() == key.0 && r.name() == key.1)
            .map(|r| HttpResponse::Ok().json(r))
    }
    let key = (namespace, name);
    each_kind!(snap, kind, one, key)
}

/// Secrets have routes of their own (operator); the generic routes do not serve them.
fn not_secrets(kind: Kind) -> Result<(), ApiError> {
    if kind == Kind::Secrets {
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
    let (kind, _) = parse_kind(&kind)?;
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
    list_kind(&req, &state, &path, Kind::Secrets).await
}

/// `GET /api/v2/clusters/{id}/resources/secrets/{namespace}/{name}` (operator).
pub async fn get_secret(
    _auth: Operator,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (cluster_id, ns, name) = path.into_inner();
    get_object(&state, &cluster_id, Kind::Secrets, &ns, &name).await
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
    let (kind_v, namespaced) = parse_kind(&kind)?;
    not_secrets(kind_v)?;
    if !namespaced {
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
    let (kind_v, namespaced) = parse_kind(&kind)?;
    not_secrets(kind_v)?;
    if namespaced {
        return Err(ApiError::bad_request(
            ErrorCode::NamespacedKind,
            format!("{kind} are namespaced: use /resources/{kind}/{{namespace}}/{{name}}"),
        ));
    }
    get_object(&state, &cluster_id, kind_v, "", &name).await
}
