//! Clusters, the overview, and the resources of a cluster's latest snapshot in the nested
//! shapes the agent sends (reference §2, §3.3–§3.5).

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};

use atlhyper_actors::model::{
    quantity, ClusterSnapshot, Kind, Pod, ResourceMeta, StrMap, Text, VisitItems,
};
use atlhyper_query::Filter;
use chrono::{DateTime, Utc};

use super::{cluster_param, data, list, snapshot};
use crate::auth::extract::{Operator, Viewer};
use crate::error::{ApiError, ErrorCode};
use crate::http::QueryParams;
use crate::state::AppState;

/// `GET /v21/api/v2/clusters`: `{"clusters":[{cluster_id, status, last_seen, node_count,
/// pod_count}],"total"}`, by id.
pub async fn clusters(_auth: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut items: Vec<Value> = crate::service::clusters::live(&state.registry)
        .await?
        .into_iter()
        .map(|(info, v)| {
            let summary = v.latest.as_ref().map(|r| &r.summary);
            json!({
                "cluster_id": info.cluster_id,
                "status": v.liveness.api_str(),
                "last_seen": v.last_seen,
                "node_count": summary.map_or(0, |s| s.total_nodes),
                "pod_count": summary.map_or(0, |s| s.total_pods),
            })
        })
        .collect();
    items.sort_by(|a, b| a["cluster_id"].as_str().cmp(&b["cluster_id"].as_str()));
    let total = items.len();
    Ok(HttpResponse::Ok().json(json!({ "clusters": items, "total": total })))
}

/// `GET /v21/api/v2/overview?cluster_id=`: [`crate::service::overview`], unwrapped as v2.1.
pub async fn overview(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = cluster_param(&QueryParams::of(&req))?;
    let snap = snapshot(&state, &id).await?;
    let o = crate::service::overview::overview(&state.db, &snap, &id, chrono::Utc::now()).await?;
    Ok(HttpResponse::Ok().json(o))
}

/// The items of `kind` that pass `f`, in snapshot order, as the `data` of a v2.1 list.
fn matching(snap: &ClusterSnapshot, kind: Kind, f: &Filter) -> HttpResponse {
    struct Hits<'f>(&'f Filter);
    impl VisitItems<'_> for Hits<'_> {
        type Output = HttpResponse;
        fn visit<T: ResourceMeta + Serialize + 'static>(self, items: &[T]) -> HttpResponse {
            list(items.iter().filter(|r| self.0.matches(*r)).collect())
        }
    }
    kind.visit(snap, Hits(f))
}

/// A list of `kind` filtered by the optional `namespace`.
async fn list_kind(
    req: &HttpRequest,
    state: &AppState,
    kind: Kind,
) -> Result<HttpResponse, ApiError> {
    let (snap, namespace) = scoped(req, state).await?;
    let filter = Filter {
        namespace,
        ..Filter::default()
    };
    Ok(matching(&snap, kind, &filter))
}

/// The snapshot of the `cluster_id` parameter and the optional `namespace` of a list.
async fn scoped(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(Arc<ClusterSnapshot>, Option<String>), ApiError> {
    let q = QueryParams::of(req);
    let id = cluster_param(&q)?;
    Ok((
        snapshot(state, &id).await?,
        q.get("namespace").map(str::to_owned),
    ))
}

/// One object of `kind` by `{name}` and the `namespace` parameter.
async fn one(
    req: &HttpRequest,
    state: &AppState,
    kind: Kind,
    name: &str,
) -> Result<Value, ApiError> {
    let q = QueryParams::of(req);
    let (id, ns) = (cluster_param(&q)?, namespace_param(&q)?);
    let snap = snapshot(state, &id).await?;
    crate::service::resources::find(&snap, kind, ns, name).ok_or_else(|| not_found(kind, ns, name))
}

/// The `namespace` of a detail request: required (v2.1 answered the first object of that
/// name in any namespace).
fn namespace_param(q: &QueryParams) -> Result<&str, ApiError> {
    q.get("namespace").ok_or_else(|| {
        ApiError::invalid_param("namespace", "required: names are unique per namespace only")
    })
}

fn not_found(kind: Kind, ns: &str, name: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::ResourceNotFound,
        format!("no {} {ns}/{name} in the latest snapshot", kind.as_str()),
    )
}

/// A CPU quantity as v2.1's pod list showed it: `Nm` below one core, else cores with two
/// decimals; anything unreadable as sent.
fn display_cpu(raw: &str) -> String {
    match quantity::cpu_millis(raw) {
        Some(m) if m < 1000.0 => format!("{}m", m.round()),
        Some(m) => format!("{:.2}", m / 1000.0),
        None => raw.to_owned(),
    }
}

/// A memory quantity as v2.1's pod list showed it: `NMi` below 1 GiB, else `x.xxGi`.
fn display_memory(raw: &str) -> String {
    const MI: f64 = 1024.0 * 1024.0;
    match quantity::parse(raw) {
        Some(b) if b < 1024.0 * MI => format!("{}Mi", (b / MI).round()),
        Some(b) => format!("{:.2}Gi", b / MI / 1024.0),
        None => raw.to_owned(),
    }
}

/// A pod with its usage shown as v2.1 showed it (a copy: the snapshot keeps the raw
/// values; the copy shares its strings, so it costs little).
fn pod_shown(pod: &Pod) -> Pod {
    let mut p = pod.clone();
    if !p.status.cpu_usage.is_empty() {
        p.status.cpu_usage = Text::from(display_cpu(&p.status.cpu_usage));
    }
    if !p.status.memory_usage.is_empty() {
        p.status.memory_usage = Text::from(display_memory(&p.status.memory_usage));
    }
    p
}

/// `GET /v21/api/v2/pods?cluster_id=`: filters `namespace`, `node`, `phase`; `limit` and
/// `offset` page the matches (`total` counts them all).
pub async fn pods(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let id = cluster_param(&q)?;
    let filter = Filter {
        namespace: q.get("namespace").map(str::to_owned),
        node: q.get("node").map(str::to_owned),
        phase: q.get("phase").map(str::to_owned),
        ..Filter::default()
    };
    let limit = q.parse::<usize>("limit")?.filter(|n| *n > 0);
    let offset = q.parse::<usize>("offset")?.unwrap_or(0);
    let snap = snapshot(&state, &id).await?;
    let hits: Vec<_> = snap.pods.iter().filter(|p| filter.matches(*p)).collect();
    let total = hits.len();
    let page: Vec<Pod> = hits
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(pod_shown)
        .collect();
    Ok(super::page(page, total))
}

/// `GET /v21/api/v2/pods/{name}?cluster_id=&namespace=`.
pub async fn pod(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let (id, ns) = (cluster_param(&q)?, namespace_param(&q)?);
    let snap = snapshot(&state, &id).await?;
    let pod = snap
        .pods
        .iter()
        .find(|p| p.summary.namespace == ns && p.summary.name == path.as_str())
        .ok_or_else(|| not_found(Kind::Pod, ns, &path))?;
    Ok(data(pod_shown(pod)))
}

/// `GET /v21/api/v2/nodes?cluster_id=` (the dashboard's node detail picks from this list).
pub async fn nodes(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    list_kind(&req, &state, Kind::Node).await
}

/// `GET /v21/api/v2/deployments?cluster_id=`.
pub async fn deployments(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    list_kind(&req, &state, Kind::Deployment).await
}

/// `GET /v21/api/v2/deployments/{name}?cluster_id=&namespace=`.
pub async fn deployment(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(data(one(&req, &state, Kind::Deployment, &path).await?))
}

/// `GET /v21/api/v2/services?cluster_id=`.
pub async fn services(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    list_kind(&req, &state, Kind::Service).await
}

/// `GET /v21/api/v2/services/{name}?cluster_id=&namespace=`.
pub async fn service(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(data(one(&req, &state, Kind::Service, &path).await?))
}

/// `GET /v21/api/v2/namespaces?cluster_id=`.
pub async fn namespaces(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    list_kind(&req, &state, Kind::Namespace).await
}

/// An age as kubectl shows it: `45s`, `12m`, `5h`, `3d`.
fn age(created: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(created) = created else {
        return String::new();
    };
    let secs = (now - created).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// v2.1's web `ConfigMapDTO` (what the namespace modal's ConfigMaps tab reads): key
/// counts and names. Values never reach the master (`ops/configmaps/data` asks the agent),
/// so sizes are 0 and there are no previews.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigMapDto<'a> {
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
    created_at: Option<DateTime<Utc>>,
    age: String,
    labels: &'a StrMap,
    keys: usize,
    binary_keys: usize,
    total_size_bytes: u64,
    binary_total_size_bytes: u64,
    data: Vec<Value>,
}

/// `GET /v21/api/v2/configmaps?cluster_id=&namespace=`.
pub async fn configmaps(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (snap, ns) = scoped(&req, &state).await?;
    let now = Utc::now();
    let items: Vec<ConfigMapDto<'_>> = snap
        .configmaps
        .iter()
        .filter(|c| ns.as_deref().is_none_or(|n| c.namespace == n))
        .map(|c| ConfigMapDto {
            name: &c.name,
            namespace: &c.namespace,
            uid: &c.uid,
            created_at: c.created_at.to_utc(),
            age: age(c.created_at.to_utc(), now),
            labels: &c.labels,
            keys: c.data_keys.len(),
            binary_keys: 0,
            total_size_bytes: 0,
            binary_total_size_bytes: 0,
            data: c
                .data_keys
                .iter()
                .map(|k| json!({"key": k, "size": 0}))
                .collect(),
        })
        .collect();
    Ok(list(items))
}

/// v2.1's web `SecretDTO`: key names only (values never reach the master).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretDto<'a> {
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
    created_at: Option<DateTime<Utc>>,
    age: String,
    #[serde(rename = "type")]
    kind: &'a str,
    data_keys: &'a [Text],
}

/// `GET /v21/api/v2/secrets?cluster_id=&namespace=` (operator).
pub async fn secrets(
    _auth: Operator,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (snap, ns) = scoped(&req, &state).await?;
    let now = Utc::now();
    let items: Vec<SecretDto<'_>> = snap
        .secrets
        .iter()
        .filter(|s| ns.as_deref().is_none_or(|n| s.namespace == n))
        .map(|s| SecretDto {
            name: &s.name,
            namespace: &s.namespace,
            uid: &s.uid,
            created_at: s.created_at.to_utc(),
            age: age(s.created_at.to_utc(), now),
            kind: &s.type_,
            data_keys: &s.data_keys,
        })
        .collect();
    Ok(list(items))
}

/// `GET /v21/api/v2/ingresses?cluster_id=`.
pub async fn ingresses(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    list_kind(&req, &state, Kind::Ingress).await
}

/// `GET /v21/api/v2/ingresses/{name}?cluster_id=&namespace=`.
pub async fn ingress(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(data(one(&req, &state, Kind::Ingress, &path).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_kubectl_shows_them() {
        let now = Utc::now();
        let ago = |s: i64| Some(now - chrono::Duration::seconds(s));
        assert_eq!(age(ago(45), now), "45s");
        assert_eq!(age(ago(12 * 60), now), "12m");
        assert_eq!(age(ago(5 * 3600), now), "5h");
        assert_eq!(age(ago(3 * 86_400 + 7), now), "3d");
        assert_eq!(age(None, now), "");
    }

    #[test]
    fn usage_is_shown_as_v21_showed_it() {
        assert_eq!(display_cpu("123456789n"), "123m");
        assert_eq!(display_cpu("250m"), "250m");
        assert_eq!(display_cpu("1500m"), "1.50");
        assert_eq!(display_cpu("oops"), "oops");
        assert_eq!(display_memory("123456Ki"), "121Mi");
        assert_eq!(display_memory("2Gi"), "2.00Gi");
        assert_eq!(display_memory(""), "");
    }
}
