//! Reading windows and targets: the one place both the API and the SLO persister's
//! evaluation get a route's requests over a window and its target.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::config::Settings;
use crate::db::slo::{SeriesPart, TargetRow};
use crate::db::{from_db, to_db, Db, DbError};

use super::maths::{Acc, Buckets, Target};
use super::window::{cover, Range};

/// (domain, path prefix).
pub type RouteKey = (String, String);

/// A route's requests over a window, with the service key they were counted for.
#[derive(Debug, Clone, Default)]
pub struct RouteAcc {
    /// The service key of the newest row.
    pub service_key: String,
    /// The requests.
    pub acc: Acc,
}

/// A stored row as the maths sees it.
pub fn acc_of(r: &SeriesPart) -> Acc {
    Acc {
        requests: r.requests,
        errors: r.errors,
        client_errors: r.client_errors,
        latency_sum: r.latency_sum,
        latency_count: r.latency_count,
        buckets: Buckets::parse(&r.buckets),
        elapsed_ms: r.elapsed_ms,
        samples: i64::from(r.samples),
    }
}

/// Adds rows up per route (taking them: their strings become the keys).
pub fn fold(rows: Vec<SeriesPart>) -> BTreeMap<RouteKey, RouteAcc> {
    let mut out: BTreeMap<RouteKey, RouteAcc> = BTreeMap::new();
    for r in rows {
        let acc = acc_of(&r);
        let e = out.entry((r.domain, r.path_prefix)).or_default();
        e.acc.add(&acc);
        if e.service_key.is_empty() || !r.service_key.is_empty() {
            e.service_key = r.service_key;
        }
    }
    out
}

/// The spans of a window as the repository takes them.
fn spans(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rolled: Option<DateTime<Utc>>,
) -> Vec<(i32, NaiveDateTime, NaiveDateTime)> {
    cover(from, to, rolled)
        .into_iter()
        .map(|s| (s.resolution, to_db(s.from), to_db(s.to)))
        .collect()
}

/// A cluster's roll-up mark (see [`super::window`]): read once by whoever reads several
/// windows of the cluster, and handed to [`window`].
pub async fn rolled(db: &Db, cluster_id: &str) -> Result<Option<DateTime<Utc>>, DbError> {
    Ok(db.slo().rolled_until(cluster_id).await?.map(from_db))
}

/// Every route's requests over `[from, to)` (of one domain, or of all), given the
/// cluster's roll-up mark ([`rolled`]).
pub async fn window(
    db: &Db,
    cluster_id: &str,
    domain: Option<&str>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    rolled: Option<DateTime<Utc>>,
) -> Result<BTreeMap<RouteKey, RouteAcc>, DbError> {
    let rows = db
        .slo()
        .parts_in(cluster_id, domain, spans(from, to, rolled))
        .await?;
    Ok(fold(rows))
}

/// One domain's rows at one resolution over `[from, to)`, as `(period start, requests)`
/// per route: the points of a history chart.
pub async fn periods(
    db: &Db,
    cluster_id: &str,
    domain: &str,
    resolution: i32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, RouteKey, String, Acc)>, DbError> {
    let from = super::window::floor(from, resolution);
    let rows = db
        .slo()
        .series_in(
            cluster_id,
            Some(domain),
            vec![(resolution, to_db(from), to_db(to))],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(_, start, r)| {
            let acc = acc_of(&r);
            (
                from_db(start),
                (r.domain, r.path_prefix),
                r.service_key,
                acc,
            )
        })
        .collect())
}

/// A cluster's targets: per (domain, path, range), then per (domain, range) for every path
/// of the domain (`path_prefix` `""`), then the configured default.
#[derive(Debug, Clone)]
pub struct Targets {
    rows: HashMap<(String, String, Range), Target>,
    default: Target,
}

impl Targets {
    /// From stored rows and the settings' defaults.
    pub fn new(rows: &[TargetRow], settings: &Settings) -> Targets {
        let default = Target {
            availability: settings.slo_target_availability,
            p95_latency_ms: settings.slo_target_p95.as_secs_f64() * 1000.0,
        };
        let rows = rows
            .iter()
            .filter_map(|r| {
                let range = Range::parse(&r.time_range)?;
                Some((
                    (r.domain.clone(), r.path_prefix.clone(), range),
                    Target {
                        availability: r.availability,
                        p95_latency_ms: r.p95_latency_ms,
                    },
                ))
            })
            .collect();
        Targets { rows, default }
    }

    /// Loads a cluster's targets.
    pub async fn load(db: &Db, cluster_id: &str, settings: &Settings) -> Result<Targets, DbError> {
        let rows = db.slo().list_targets(Some(cluster_id)).await?;
        Ok(Targets::new(&rows, settings))
    }

    /// The target of a route for a range, and where it comes from: `route` (its own),
    /// `domain` (the domain's, `path_prefix` `""`) or `default`.
    pub fn get(&self, domain: &str, path: &str, range: Range) -> (Target, &'static str) {
        let key = |p: &str| (domain.to_owned(), p.to_owned(), range);
        if let Some(t) = self.rows.get(&key(path)) {
            return (*t, if path.is_empty() { "domain" } else { "route" });
        }
        match self.rows.get(&key("")) {
            Some(t) => (*t, "domain"),
            None => (self.default, "default"),
        }
    }

    /// The default target.
    pub fn default_target(&self) -> Target {
        self.default
    }
}
