//! SLO in v2.1's `/slo/domains/v2` shape (reference §6.6): domains → services (the routes
//! grouped by service key) → paths, from [`crate::service::slo`]'s numbers; and target
//! edits.
//!
//! A domain's `error_budget_remaining` is against 95 %, the target the dashboard prints on
//! the domain's card (fixed in its code); each service's budget, status and `targets` are
//! against the targets set here. A target edit needs an operator (v2.1: anyone).

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cluster_param;
use crate::auth::extract::{Operator, Viewer};
use crate::error::ApiError;
use crate::http::QueryParams;
use crate::service::slo::{self as service, DomainSlo, RouteSlo, TargetInput};
use crate::slo::maths::{Metrics, Status, Target};
use crate::state::AppState;

/// v2.1's `SLOMetrics`; a latency without data is 0, as v2.1 wrote it.
#[derive(Serialize)]
struct MetricsV21 {
    availability: f64,
    p95_latency: f64,
    p99_latency: f64,
    error_rate: f64,
    requests_per_sec: f64,
    total_requests: i64,
}

fn metrics(m: &Metrics) -> MetricsV21 {
    MetricsV21 {
        availability: m.availability,
        p95_latency: m.p95_latency_ms.unwrap_or(0.0),
        p99_latency: m.p99_latency_ms.unwrap_or(0.0),
        error_rate: m.error_rate,
        requests_per_sec: m.requests_per_sec,
        total_requests: m.total_requests,
    }
}

/// v2.1's `ServiceSLO`: the routes of one service key.
#[derive(Serialize)]
struct ServiceV21 {
    service_key: String,
    service_name: String,
    service_port: i32,
    namespace: String,
    ingress_name: String,
    paths: Vec<String>,
    current: MetricsV21,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<MetricsV21>,
    targets: BTreeMap<&'static str, serde_json::Value>,
    status: Status,
    error_budget_remaining: f64,
}

/// The routes of a domain grouped by service key (in path order). The proxy counts per
/// service, so every route of one service carries the same numbers; the service's status
/// is its routes' worst and its budget their smallest.
fn services(routes: &[RouteSlo]) -> Vec<ServiceV21> {
    let mut by_key: BTreeMap<&str, Vec<&RouteSlo>> = BTreeMap::new();
    for r in routes {
        by_key.entry(r.service_key.as_str()).or_default().push(r);
    }
    by_key
        .into_values()
        .filter_map(|group| {
            let first = *group.first()?;
            Some(ServiceV21 {
                service_key: first.service_key.clone(),
                service_name: first.service_name.clone(),
                service_port: first.service_port,
                namespace: first.namespace.clone(),
                ingress_name: first.ingress_name.clone(),
                paths: group.iter().map(|r| r.path_prefix.clone()).collect(),
                current: metrics(&first.current),
                previous: first.previous.as_ref().map(metrics),
                targets: first
                    .targets
                    .iter()
                    .map(|(range, t)| {
                        (
                            *range,
                            json!({"availability": t.availability, "p95_latency": t.p95_latency_ms}),
                        )
                    })
                    .collect(),
                status: group.iter().map(|r| r.status).max().unwrap_or(Status::Unknown),
                error_budget_remaining: group
                    .iter()
                    .map(|r| r.error_budget_remaining)
                    .fold(f64::INFINITY, f64::min),
            })
        })
        .collect()
}

/// The availability target the dashboard prints beside every domain (it is fixed in its
/// code); a domain's budget in this API is against it, so the figures on one card agree.
/// Services carry their real targets (and statuses) as ours.
const DASHBOARD_DOMAIN_TARGET: Target = Target {
    availability: 95.0,
    p95_latency_ms: 300.0,
};

fn domain(d: &DomainSlo) -> serde_json::Value {
    json!({
        "domain": d.domain,
        "tls": d.tls,
        "status": d.status,
        "error_budget_remaining": DASHBOARD_DOMAIN_TARGET.budget_remaining(&d.summary),
        "summary": (d.summary.total_requests > 0).then(|| metrics(&d.summary)),
        "services": services(&d.routes),
    })
}

/// `GET /v21/api/v2/slo/domains/v2?cluster_id=&time_range=1d|7d|30d`.
pub async fn domains(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let id = cluster_param(&q)?;
    let range = service::parse_range(q.get("time_range"))?;
    let v = service::domains(&state.db, &state.settings, &id, range, Utc::now()).await?;
    let s = &v.summary;
    Ok(HttpResponse::Ok().json(json!({
        "domains": v.domains.iter().map(domain).collect::<Vec<_>>(),
        "summary": {
            "total_domains": s.total_domains,
            "healthy_count": s.healthy_count,
            "warning_count": s.warning_count,
            "critical_count": s.critical_count,
            "avg_availability": s.avg_availability.unwrap_or(0.0),
            "avg_error_budget": s.avg_error_budget.unwrap_or(0.0),
            "total_rps": s.total_rps,
        },
    })))
}

/// Body of `PUT /v21/api/v2/slo/targets`.
#[derive(Deserialize)]
pub struct TargetBody {
    cluster_id: String,
    host: String,
    #[serde(default)]
    time_range: Option<String>,
    availability_target: f64,
    p95_latency_target: f64,
}

/// `PUT /v21/api/v2/slo/targets` (operator): the domain's target for one range (all four
/// when `time_range` is empty) → `{"status":"ok"}`.
pub async fn put_target(
    auth: Operator,
    body: web::Json<TargetBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    crate::http::validate_cluster_id(&b.cluster_id)?;
    service::put_target(
        &state.db,
        TargetInput {
            cluster_id: b.cluster_id,
            domain: b.host,
            path_prefix: None,
            time_range: b.time_range,
            availability: b.availability_target,
            p95_latency_ms: b.p95_latency_target,
        },
        auth.principal.user_id,
        Utc::now(),
    )
    .await?;
    Ok(crate::http::status_ok())
}
