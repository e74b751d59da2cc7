//! SLO views and targets (`spec/api.md`, "SLO").
//!
//! - A domain lists its routes: every current route, and a route that is gone but still
//!   had requests in the window.
//! - A route's numbers are its series over the window; the domain's summary adds its
//!   routes up once per service key (two paths served by one service carry the same
//!   requests, since the proxy counts per service).
//! - Status, error budget and burn rate use the target in force for (domain, path, range):
//!   the route's own, else the domain's (`path_prefix` `""`), else the configured default.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::db::slo::{RouteRow, TargetRow};
use crate::db::{from_db, to_db, Db, DbError};
use crate::slo::maths::{round, trend, Acc, Metrics, Status, Target, Trend};
use crate::slo::query::{self, RouteAcc, RouteKey, Targets};
use crate::slo::window::{aligned_start, Range};

/// How many status changes a domain's detail shows.
const STATUS_CHANGES: i64 = 100;

/// The longest domain name a target may name (RFC 1035).
const MAX_DOMAIN: usize = 253;

/// The longest path prefix a target may name.
const MAX_PATH: usize = 1024;

/// A target as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SloTargetView)]
pub struct TargetView {
    /// Availability, percent.
    pub availability: f64,
    /// p95 latency, ms.
    pub p95_latency_ms: f64,
    /// `route`, `domain` or `default`: where it comes from.
    pub source: &'static str,
}

/// One route of a domain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RouteSLO)]
pub struct RouteSlo {
    /// Path prefix.
    pub path_prefix: String,
    /// Ingress or IngressRoute.
    pub ingress_name: String,
    /// Namespace.
    pub namespace: String,
    /// The service key whose requests these are.
    pub service_key: String,
    /// The Service.
    pub service_name: String,
    /// Its port.
    pub service_port: i32,
    /// TLS.
    pub tls: bool,
    /// When the route disappeared from the cluster (`null`: current).
    pub gone_at: Option<DateTime<Utc>>,
    /// The window.
    pub current: Metrics,
    /// The window before it, `null` without requests then.
    pub previous: Option<Metrics>,
    /// The target of every range.
    pub targets: BTreeMap<&'static str, TargetView>,
    /// The status against the target of the requested range.
    pub status: Status,
    /// Error budget left over the window, percent of the budget.
    pub error_budget_remaining: f64,
    /// Error rate ÷ error budget over the window.
    pub burn_rate: f64,
    /// Availability versus the previous window (`null` when either had no requests).
    pub trend: Option<Trend>,
}

/// One domain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DomainSLO)]
pub struct DomainSlo {
    /// Domain.
    pub domain: String,
    /// Whether any of its routes is served over TLS.
    pub tls: bool,
    /// The worst status of its routes (critical > warning > healthy > unknown).
    pub status: Status,
    /// Error budget left of the whole domain, against the domain's target.
    pub error_budget_remaining: f64,
    /// The domain's requests (once per service).
    pub summary: Metrics,
    /// The same over the previous window, `null` without requests then.
    pub previous: Option<Metrics>,
    /// Availability versus the previous window.
    pub trend: Option<Trend>,
    /// Its routes, by path prefix.
    pub routes: Vec<RouteSlo>,
}

/// Totals over the domains.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[schema(as = SloSummary)]
pub struct Summary {
    /// Domains listed.
    pub total_domains: usize,
    /// Domains per status.
    pub healthy_count: usize,
    /// See `healthy_count`.
    pub warning_count: usize,
    /// See `healthy_count`.
    pub critical_count: usize,
    /// See `healthy_count`.
    pub unknown_count: usize,
    /// Mean availability of the domains with requests.
    pub avg_availability: Option<f64>,
    /// Mean error budget left of the domains with requests.
    pub avg_error_budget: Option<f64>,
    /// Requests per second of every domain.
    pub total_rps: f64,
    /// Requests of every domain.
    pub total_requests: i64,
}

/// `GET /api/v2/slo/domains`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SloDomains)]
pub struct DomainsView {
    /// The cluster.
    pub cluster_id: String,
    /// The range.
    pub time_range: &'static str,
    /// Domains by name.
    pub domains: Vec<DomainSlo>,
    /// Totals.
    pub summary: Summary,
}

/// One point of a domain's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SloHistoryPoint)]
pub struct HistoryPoint {
    /// Period start.
    pub timestamp: DateTime<Utc>,
    /// Availability, percent.
    pub availability: f64,
    /// p95 latency, ms.
    pub p95_latency_ms: Option<f64>,
    /// Error rate, percent.
    pub error_rate: f64,
    /// Requests per second.
    pub requests_per_sec: f64,
    /// Requests.
    pub total_requests: i64,
}

/// A recorded status change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SloStatusChange)]
pub struct StatusChangeView {
    /// Path prefix.
    pub path_prefix: String,
    /// Range.
    pub time_range: String,
    /// Before.
    pub old_status: String,
    /// After.
    pub new_status: String,
    /// Availability then.
    pub availability: f64,
    /// p95 then, ms.
    pub p95_latency_ms: f64,
    /// Error budget left then.
    pub error_budget_remaining: f64,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// `GET /api/v2/slo/domains/{domain}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DomainSLODetail)]
pub struct DomainDetail {
    /// The cluster.
    pub cluster_id: String,
    /// The range.
    pub time_range: &'static str,
    /// The domain.
    #[serde(flatten)]
    pub domain: DomainSlo,
    /// Points over the range: per minute for 1h, per hour for 1d and 7d, per day for 30d.
    pub history: Vec<HistoryPoint>,
    /// Status changes of its routes over the range, newest first (at most 100).
    pub status_changes: Vec<StatusChangeView>,
}

/// The targets of a cluster.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SloTargets)]
pub struct TargetsView {
    /// The cluster, or `null` for every cluster.
    pub cluster_id: Option<String>,
    /// What applies where nothing is set.
    pub defaults: Target,
    /// The targets set.
    pub targets: Vec<TargetItem>,
}

/// One target set through the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SloTargetItem)]
pub struct TargetItem {
    /// The cluster.
    pub cluster_id: String,
    /// Domain.
    pub domain: String,
    /// Path prefix; `""` for every path of the domain without its own.
    pub path_prefix: String,
    /// Range.
    pub time_range: String,
    /// Availability, percent.
    pub availability: f64,
    /// p95 latency, ms.
    pub p95_latency_ms: f64,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Who changed it.
    pub updated_by: Option<i32>,
}

/// `PUT /api/v2/slo/targets`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SloTargetInput)]
pub struct TargetInput {
    /// The cluster.
    pub cluster_id: String,
    /// Domain.
    pub domain: String,
    /// Path prefix; absent or `""` for the whole domain.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Range; absent: every range.
    #[serde(default)]
    pub time_range: Option<String>,
    /// Availability, percent, above 0 and below 100.
    pub availability: f64,
    /// p95 latency, ms, above 0 and at most 10 minutes.
    pub p95_latency_ms: f64,
}

/// Why an SLO request was refused.
#[derive(Debug, thiserror::Error)]
pub enum SloError {
    /// A parameter with a bad value: (field, why).
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    /// No such domain in the cluster.
    #[error("domain {0:?} has no routes in this cluster")]
    DomainNotFound(String),
    /// Storage.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Parses a `time_range` (absent: `1d`).
pub fn parse_range(s: Option<&str>) -> Result<Range, SloError> {
    match s {
        None | Some("") => Ok(Range::D1),
        Some(s) => Range::parse(s).ok_or_else(|| {
            SloError::Invalid(
                "time_range",
                format!("unknown range {s:?}; expected one of 1h, 1d, 7d, 30d"),
            )
        }),
    }
}

/// Every range's target of a route, for the API.
fn target_views(t: &Targets, domain: &str, path: &str) -> BTreeMap<&'static str, TargetView> {
    Range::ALL
        .into_iter()
        .map(|r| {
            let (target, source) = t.get(domain, path, r);
            (
                r.as_str(),
                TargetView {
                    availability: target.availability,
                    p95_latency_ms: target.p95_latency_ms,
                    source,
                },
            )
        })
        .collect()
}

/// The requests of several routes, once per service key (the busiest copy of each).
fn once_per_service<'a>(accs: impl Iterator<Item = (&'a str, &'a Acc)>) -> Acc {
    let mut by_key: HashMap<&str, &Acc> = HashMap::new();
    for (key, acc) in accs {
        let e = by_key.entry(key).or_insert(acc);
        if acc.requests > e.requests {
            *e = acc;
        }
    }
    // Different services over the same window: counts add, time does not.
    let mut total = Acc::default();
    for acc in by_key.values() {
        total.add_parallel(acc);
    }
    total
}

/// Requests by service key.
type Keyed<'a> = Vec<(&'a str, &'a Acc)>;

/// Builds the domains of a cluster from its routes and the two windows.
fn build(
    routes: &[RouteRow],
    current: &BTreeMap<RouteKey, RouteAcc>,
    previous: &BTreeMap<RouteKey, RouteAcc>,
    targets: &Targets,
    range: Range,
) -> Vec<DomainSlo> {
    let empty = RouteAcc::default();
    let mut by_domain: BTreeMap<&str, Vec<RouteSlo>> = BTreeMap::new();
    let mut accs: BTreeMap<&str, (Keyed<'_>, Keyed<'_>)> = BTreeMap::new();
    for r in routes {
        let key = (r.domain.clone(), r.path_prefix.clone());
        let cur = current.get(&key).unwrap_or(&empty);
        if r.gone_at.is_some() && cur.acc.requests == 0 {
            continue;
        }
        let prev = previous.get(&key);
        let m = cur.acc.metrics();
        let pm = prev
            .map(|p| p.acc.metrics())
            .filter(|p| p.total_requests > 0);
        let (target, _) = targets.get(&r.domain, &r.path_prefix, range);
        by_domain.entry(&r.domain).or_default().push(RouteSlo {
            path_prefix: r.path_prefix.clone(),
            ingress_name: r.ingress_name.clone(),
            namespace: r.namespace.clone(),
            service_key: r.service_key.clone(),
            service_name: r.service_name.clone(),
            service_port: r.service_port,
            tls: r.tls,
            gone_at: r.gone_at.map(from_db),
            targets: target_views(targets, &r.domain, &r.path_prefix),
            status: target.status(&m),
            error_budget_remaining: target.budget_remaining(&m),
            burn_rate: target.burn_rate(&m),
            trend: trend(&m, pm.as_ref()),
            current: m,
            previous: pm,
        });
        let e = accs.entry(&r.domain).or_default();
        e.0.push((&r.service_key, &cur.acc));
        if let Some(p) = prev {
            e.1.push((&r.service_key, &p.acc));
        }
    }
    by_domain
        .into_iter()
        .map(|(domain, routes)| {
            let (cur, prev) = accs.remove(domain).unwrap_or_default();
            let summary = once_per_service(cur.into_iter()).metrics();
            let previous =
                Some(once_per_service(prev.into_iter()).metrics()).filter(|p| p.total_requests > 0);
            let (target, _) = targets.get(domain, "", range);
            DomainSlo {
                domain: domain.to_owned(),
                tls: routes.iter().any(|r| r.tls),
                status: routes
                    .iter()
                    .map(|r| r.status)
                    .max()
                    .unwrap_or(Status::Unknown),
                error_budget_remaining: target.budget_remaining(&summary),
                trend: trend(&summary, previous.as_ref()),
                summary,
                previous,
                routes,
            }
        })
        .collect()
}

fn summarise(domains: &[DomainSlo]) -> Summary {
    let mut s = Summary {
        total_domains: domains.len(),
        ..Summary::default()
    };
    let (mut avail, mut budget, mut n) = (0.0, 0.0, 0usize);
    for d in domains {
        match d.status {
            Status::Healthy => s.healthy_count += 1,
            Status::Warning => s.warning_count += 1,
            Status::Critical => s.critical_count += 1,
            Status::Unknown => s.unknown_count += 1,
        }
        s.total_rps += d.summary.requests_per_sec;
        s.total_requests = s.total_requests.saturating_add(d.summary.total_requests);
        if d.summary.total_requests > 0 {
            avail += d.summary.availability;
            budget += d.error_budget_remaining;
            n += 1;
        }
    }
    if n > 0 {
        s.avg_availability = Some(round(avail / n as f64, 4));
        s.avg_error_budget = Some(round(budget / n as f64, 2));
    }
    s.total_rps = round(s.total_rps, 3);
    s
}

/// The domains of one cluster over a range ending now.
pub async fn domains(
    db: &Db,
    settings: &Settings,
    cluster_id: &str,
    range: Range,
    now: DateTime<Utc>,
) -> Result<DomainsView, SloError> {
    let domains = load(db, settings, cluster_id, None, range, now).await?;
    Ok(DomainsView {
        cluster_id: cluster_id.to_owned(),
        time_range: range.as_str(),
        summary: summarise(&domains),
        domains,
    })
}

async fn load(
    db: &Db,
    settings: &Settings,
    cluster_id: &str,
    domain: Option<&str>,
    range: Range,
    now: DateTime<Utc>,
) -> Result<Vec<DomainSlo>, SloError> {
    let len = range.length();
    let mut routes = db.slo().list_routes(cluster_id).await?;
    // By bytes, whatever the database's collation.
    routes.sort_by(|a, b| (&a.domain, &a.path_prefix).cmp(&(&b.domain, &b.path_prefix)));
    if let Some(d) = domain {
        routes.retain(|r| r.domain == d);
        if routes.is_empty() {
            return Err(SloError::DomainNotFound(d.to_owned()));
        }
    }
    // The previous window ends where the current one really starts (aligned), so no
    // period is read by both.
    let start = aligned_start(now - len, now);
    // Both windows read from one roll-up mark; the three reads then are independent, and
    // on PostgreSQL they run side by side on the pool.
    let rolled = query::rolled(db, cluster_id).await?;
    let (current, previous, targets) = futures_util::try_join!(
        query::window(db, cluster_id, domain, (now - len, now), rolled),
        query::window(db, cluster_id, domain, (start - len, start), rolled),
        Targets::load(db, cluster_id, settings),
    )?;
    Ok(build(&routes, &current, &previous, &targets, range))
}

/// One domain, with its history and status changes over the range.
pub async fn domain(
    db: &Db,
    settings: &Settings,
    cluster_id: &str,
    domain: &str,
    range: Range,
    now: DateTime<Utc>,
) -> Result<DomainDetail, SloError> {
    let mut list = load(db, settings, cluster_id, Some(domain), range, now).await?;
    let Some(d) = list.pop() else {
        return Err(SloError::DomainNotFound(domain.to_owned()));
    };
    let from = now - range.length();
    let periods = query::periods(
        db,
        cluster_id,
        domain,
        range.history_resolution(),
        from,
        now,
    )
    .await?;
    let mut by_start: BTreeMap<DateTime<Utc>, Vec<(String, Acc)>> = BTreeMap::new();
    for (start, _key, service, acc) in periods {
        by_start.entry(start).or_default().push((service, acc));
    }
    let history = by_start
        .into_iter()
        .map(|(timestamp, accs)| {
            let m = once_per_service(accs.iter().map(|(k, a)| (k.as_str(), a))).metrics();
            HistoryPoint {
                timestamp,
                availability: m.availability,
                p95_latency_ms: m.p95_latency_ms,
                error_rate: m.error_rate,
                requests_per_sec: m.requests_per_sec,
                total_requests: m.total_requests,
            }
        })
        .collect();
    let status_changes = db
        .slo()
        .status_changes(cluster_id, domain, to_db(from), STATUS_CHANGES)
        .await?
        .into_iter()
        .map(|c| StatusChangeView {
            path_prefix: c.path_prefix,
            time_range: c.time_range,
            old_status: c.old_status,
            new_status: c.new_status,
            availability: c.availability,
            p95_latency_ms: c.p95_latency_ms,
            error_budget_remaining: c.error_budget_remaining,
            changed_at: from_db(c.changed_at),
        })
        .collect();
    Ok(DomainDetail {
        cluster_id: cluster_id.to_owned(),
        time_range: range.as_str(),
        domain: d,
        history,
        status_changes,
    })
}

/// The targets set for a cluster (every cluster with `None`) and the defaults.
pub async fn targets(
    db: &Db,
    settings: &Settings,
    cluster_id: Option<&str>,
) -> Result<TargetsView, SloError> {
    let rows = db.slo().list_targets(cluster_id).await?;
    Ok(TargetsView {
        cluster_id: cluster_id.map(str::to_owned),
        defaults: Targets::new(&[], settings).default_target(),
        targets: rows.into_iter().map(item).collect(),
    })
}

fn item(r: TargetRow) -> TargetItem {
    TargetItem {
        cluster_id: r.cluster_id,
        domain: r.domain,
        path_prefix: r.path_prefix,
        time_range: r.time_range,
        availability: r.availability,
        p95_latency_ms: r.p95_latency_ms,
        updated_at: from_db(r.updated_at),
        updated_by: r.updated_by,
    }
}

/// Sets a target (for one range, or for all four); returns what was stored.
pub async fn put_target(
    db: &Db,
    input: TargetInput,
    by: i32,
    now: DateTime<Utc>,
) -> Result<Vec<TargetItem>, SloError> {
    let cluster = input.cluster_id.trim();
    if cluster.is_empty() {
        return Err(SloError::Invalid("cluster_id", "required".to_owned()));
    }
    let domain = input.domain.trim();
    if domain.is_empty() || domain.len() > MAX_DOMAIN || domain.contains(char::is_whitespace) {
        return Err(SloError::Invalid(
            "domain",
            format!("must be a host name of 1 to {MAX_DOMAIN} characters without spaces"),
        ));
    }
    let path = input.path_prefix.as_deref().unwrap_or("").trim();
    if path.len() > MAX_PATH || (!path.is_empty() && !path.starts_with('/')) {
        return Err(SloError::Invalid(
            "path_prefix",
            format!(
                "must be empty (the whole domain) or start with / (at most {MAX_PATH} characters)"
            ),
        ));
    }
    let ranges = match input.time_range.as_deref() {
        None | Some("") => Range::ALL.to_vec(),
        Some(s) => vec![parse_range(Some(s))?],
    };
    let a = input.availability;
    if !(a.is_finite() && a > 0.0 && a < 100.0) {
        return Err(SloError::Invalid(
            "availability",
            "must be a percentage above 0 and below 100 (100 leaves no error budget)".to_owned(),
        ));
    }
    let p = input.p95_latency_ms;
    if !(p.is_finite() && p > 0.0 && p <= 600_000.0) {
        return Err(SloError::Invalid(
            "p95_latency_ms",
            "must be above 0 and at most 600000 (10 minutes)".to_owned(),
        ));
    }
    let mut out = Vec::new();
    for r in ranges {
        let row = TargetRow {
            cluster_id: cluster.to_owned(),
            domain: domain.to_owned(),
            path_prefix: path.to_owned(),
            time_range: r.as_str().to_owned(),
            availability: a,
            p95_latency_ms: p,
            updated_at: to_db(now),
            updated_by: Some(by),
        };
        db.slo().put_target(row.clone()).await?;
        out.push(item(row));
    }
    Ok(out)
}
