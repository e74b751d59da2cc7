//! The SLO tables: route mappings, the last counter values, the series of every route at
//! three resolutions, targets and status history.
//!
//! One push is one transaction ([`write_push`]): the cluster row, the new last values, the
//! series rows it touched (each the full value of its period, so writing it again is
//! harmless) and the route changes. A crash between pushes therefore loses nothing: the
//! next push's delta is computed against the values stored with the last committed rows.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::{
    slo_push_state as state, slo_routes as routes, slo_series as series,
    slo_status_history as history, slo_targets as targets,
};
use super::{clusters, on_engine, to_db, DbConn, DbError};

/// One series row as written: a route's requests over one clock-aligned period.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = series)]
#[diesel(treat_none_as_default_value = false)]
pub struct SeriesRow {
    /// The cluster.
    pub cluster_id: String,
    /// Period length, seconds (60, 3600, 86400).
    pub resolution: i32,
    /// Period start.
    pub start_at: NaiveDateTime,
    /// Domain.
    pub domain: String,
    /// Path prefix.
    pub path_prefix: String,
    /// The service key whose traffic this is.
    pub service_key: String,
    /// Requests.
    pub requests: i64,
    /// 5xx.
    pub errors: i64,
    /// 4xx.
    pub client_errors: i64,
    /// Latency sum, seconds.
    pub latency_sum: f64,
    /// Latency observations.
    pub latency_count: i64,
    /// `le:count …`, cumulative.
    pub buckets: String,
    /// Time covered by pushes, ms.
    pub elapsed_ms: i64,
    /// Pushes.
    pub samples: i32,
}

/// A series row without its key columns: what a window adds up (no cluster id, and no
/// period start to parse back from SQLite's text timestamps, for each of thousands of rows).
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct SeriesPart {
    /// Domain.
    pub domain: String,
    /// Path prefix.
    pub path_prefix: String,
    /// The service key whose traffic this is.
    pub service_key: String,
    /// Requests.
    pub requests: i64,
    /// 5xx.
    pub errors: i64,
    /// 4xx.
    pub client_errors: i64,
    /// Latency sum, seconds.
    pub latency_sum: f64,
    /// Latency observations.
    pub latency_count: i64,
    /// `le:count …`, cumulative.
    pub buckets: String,
    /// Time covered by pushes, ms.
    pub elapsed_ms: i64,
    /// Pushes.
    pub samples: i32,
}

/// A stored route mapping.
#[derive(Debug, Clone, PartialEq, Insertable, Queryable)]
#[diesel(table_name = routes)]
pub struct RouteRow {
    /// The cluster.
    pub cluster_id: String,
    /// Domain.
    pub domain: String,
    /// Path prefix.
    pub path_prefix: String,
    /// Service key.
    pub service_key: String,
    /// Service name.
    pub service_name: String,
    /// Service port.
    pub service_port: i32,
    /// Ingress or IngressRoute.
    pub ingress_name: String,
    /// Namespace.
    pub namespace: String,
    /// TLS.
    pub tls: bool,
    /// `agent` or `ingress`.
    pub source: String,
    /// First seen.
    pub first_seen: NaiveDateTime,
    /// Last seen.
    pub last_seen: NaiveDateTime,
    /// When it disappeared (`None`: current).
    pub gone_at: Option<NaiveDateTime>,
}

/// A stored target.
#[derive(Debug, Clone, PartialEq, Insertable, Queryable)]
#[diesel(table_name = targets)]
pub struct TargetRow {
    /// The cluster.
    pub cluster_id: String,
    /// Domain.
    pub domain: String,
    /// Path prefix; `""` for the whole domain.
    pub path_prefix: String,
    /// `1h`, `1d`, `7d` or `30d`.
    pub time_range: String,
    /// Availability, percent.
    pub availability: f64,
    /// p95 latency, ms.
    pub p95_latency_ms: f64,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Who changed it.
    pub updated_by: Option<i32>,
}

/// A status change to record.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = history)]
pub struct NewStatusChange {
    /// The cluster.
    pub cluster_id: String,
    /// Domain.
    pub domain: String,
    /// Path prefix.
    pub path_prefix: String,
    /// Time range the status is of.
    pub time_range: String,
    /// Before.
    pub old_status: String,
    /// After.
    pub new_status: String,
    /// Availability at the change.
    pub availability: f64,
    /// p95 at the change, ms (0 without latency data).
    pub p95_latency_ms: f64,
    /// Error budget left at the change.
    pub error_budget_remaining: f64,
    /// When.
    pub changed_at: NaiveDateTime,
}

/// A recorded status change.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct StatusChange {
    /// Row id.
    pub id: i32,
    /// The cluster.
    pub cluster_id: String,
    /// Domain.
    pub domain: String,
    /// Path prefix.
    pub path_prefix: String,
    /// Time range.
    pub time_range: String,
    /// Before.
    pub old_status: String,
    /// After.
    pub new_status: String,
    /// Availability.
    pub availability: f64,
    /// p95, ms.
    pub p95_latency_ms: f64,
    /// Error budget left.
    pub error_budget_remaining: f64,
    /// When.
    pub changed_at: NaiveDateTime,
}

/// Everything one push writes.
#[derive(Debug, Default)]
pub struct PushWrite {
    /// The cluster.
    pub cluster_id: String,
    /// When the master received the push.
    pub pushed_at: DateTime<Utc>,
    /// The new last values (JSON).
    pub state: String,
    /// The hourly and daily rows hold every minute before this.
    pub rolled_until: Option<DateTime<Utc>>,
    /// Series rows, each with the full value of its period.
    pub series: Vec<SeriesRow>,
    /// Routes new or changed.
    pub routes: Vec<RouteRow>,
    /// Routes that disappeared: (domain, path prefix).
    pub gone: Vec<(String, String)>,
}

/// Writes one push in one transaction. Returns true when the cluster row had to be
/// created: the cluster was new, or deleted (with all its SLO rows) since the last push.
pub fn write_push(conn: &mut DbConn, w: &PushWrite) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let created = clusters::register_new(conn, &w.cluster_id, w.pushed_at)?;
        let at = to_db(w.pushed_at);
        on_engine!(conn, |c| diesel::insert_into(state::table)
            .values((
                state::cluster_id.eq(&w.cluster_id),
                state::pushed_at.eq(at),
                state::state.eq(&w.state),
                state::rolled_until.eq(w.rolled_until.map(to_db)),
            ))
            .on_conflict(state::cluster_id)
            .do_update()
            .set((
                state::pushed_at.eq(excluded(state::pushed_at)),
                state::state.eq(excluded(state::state)),
                state::rolled_until.eq(excluded(state::rolled_until)),
            ))
            .execute(c))?;
        // One statement per 500 rows (7,000 binds: under SQLite's 32,766 and PostgreSQL's
        // 65,535), not one per row: a push of 130 routes writes 390 rows.
        for rows in w.series.chunks(500) {
            on_engine!(conn, |c| diesel::insert_into(series::table)
                .values(rows)
                .on_conflict((
                    series::cluster_id,
                    series::resolution,
                    series::start_at,
                    series::domain,
                    series::path_prefix,
                ))
                .do_update()
                .set((
                    series::service_key.eq(excluded(series::service_key)),
                    series::requests.eq(excluded(series::requests)),
                    series::errors.eq(excluded(series::errors)),
                    series::client_errors.eq(excluded(series::client_errors)),
                    series::latency_sum.eq(excluded(series::latency_sum)),
                    series::latency_count.eq(excluded(series::latency_count)),
                    series::buckets.eq(excluded(series::buckets)),
                    series::elapsed_ms.eq(excluded(series::elapsed_ms)),
                    series::samples.eq(excluded(series::samples)),
                ))
                .execute(c))?;
        }
        for r in &w.routes {
            on_engine!(conn, |c| diesel::insert_into(routes::table)
                .values(r)
                .on_conflict((routes::cluster_id, routes::domain, routes::path_prefix))
                .do_update()
                .set((
                    routes::service_key.eq(excluded(routes::service_key)),
                    routes::service_name.eq(excluded(routes::service_name)),
                    routes::service_port.eq(excluded(routes::service_port)),
                    routes::ingress_name.eq(excluded(routes::ingress_name)),
                    routes::namespace.eq(excluded(routes::namespace)),
                    routes::tls.eq(excluded(routes::tls)),
                    routes::source.eq(excluded(routes::source)),
                    routes::last_seen.eq(excluded(routes::last_seen)),
                    routes::gone_at.eq(None::<NaiveDateTime>),
                ))
                .execute(c))?;
        }
        for (domain, path) in &w.gone {
            diesel::update(
                routes::table
                    .filter(routes::cluster_id.eq(&w.cluster_id))
                    .filter(routes::domain.eq(domain))
                    .filter(routes::path_prefix.eq(path))
                    .filter(routes::gone_at.is_null()),
            )
            .set(routes::gone_at.eq(Some(at)))
            .execute(conn)?;
        }
        Ok(created)
    })
}

/// What is stored of a cluster's last push: `(pushed_at, state JSON, rolled_until)`.
pub type StoredState = (NaiveDateTime, String, Option<NaiveDateTime>);

/// The stored last values of a cluster, if any.
pub fn stored_state(conn: &mut DbConn, cluster_id: &str) -> Result<Option<StoredState>, DbError> {
    Ok(state::table
        .filter(state::cluster_id.eq(cluster_id))
        .select((state::pushed_at, state::state, state::rolled_until))
        .first::<StoredState>(conn)
        .optional()?)
}

/// Up to when a cluster's hourly and daily rows are complete (see `rolled_until`).
pub fn rolled_until(conn: &mut DbConn, cluster_id: &str) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(state::table
        .filter(state::cluster_id.eq(cluster_id))
        .select(state::rolled_until)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?
        .flatten())
}

/// Every route of a cluster, gone ones included, by (domain, path).
pub fn list_routes(conn: &mut DbConn, cluster_id: &str) -> Result<Vec<RouteRow>, DbError> {
    Ok(routes::table
        .filter(routes::cluster_id.eq(cluster_id))
        .order((routes::domain, routes::path_prefix))
        .load(conn)?)
}

/// The rows of `cluster_id` (one domain, or all) whose period starts in `[from, to)` at
/// resolution `res`.
fn in_span<'a>(
    cluster_id: &'a str,
    domain: Option<&'a str>,
    (res, from, to): (i32, NaiveDateTime, NaiveDateTime),
) -> series::BoxedQuery<'a, super::MultiBackend> {
    let mut q = series::table
        .filter(series::cluster_id.eq(cluster_id))
        .filter(series::resolution.eq(res))
        .filter(series::start_at.ge(from))
        .filter(series::start_at.lt(to))
        .into_boxed();
    if let Some(d) = domain {
        q = q.filter(series::domain.eq(d));
    }
    q
}

/// The columns of a [`SeriesPart`].
type PartColumns = (
    series::domain,
    series::path_prefix,
    series::service_key,
    series::requests,
    series::errors,
    series::client_errors,
    series::latency_sum,
    series::latency_count,
    series::buckets,
    series::elapsed_ms,
    series::samples,
);

/// The columns of a [`SeriesPart`].
const PART: PartColumns = (
    series::domain,
    series::path_prefix,
    series::service_key,
    series::requests,
    series::errors,
    series::client_errors,
    series::latency_sum,
    series::latency_count,
    series::buckets,
    series::elapsed_ms,
    series::samples,
);

/// Rows of `cluster_id` (one domain, or all) in the spans, given as `(resolution, from,
/// to)` with `from` inclusive and `to` exclusive, each as `(resolution, period start,
/// part)`.
pub fn series_in(
    conn: &mut DbConn,
    cluster_id: &str,
    domain: Option<&str>,
    spans: &[(i32, NaiveDateTime, NaiveDateTime)],
) -> Result<Vec<(i32, NaiveDateTime, SeriesPart)>, DbError> {
    let mut out = Vec::new();
    for span in spans {
        out.extend(
            in_span(cluster_id, domain, *span)
                .select((series::resolution, series::start_at, PART))
                .load::<(i32, NaiveDateTime, SeriesPart)>(conn)?,
        );
    }
    Ok(out)
}

/// The parts of the rows in the spans (see [`series_in`]), without their periods: what a
/// window adds up.
pub fn parts_in(
    conn: &mut DbConn,
    cluster_id: &str,
    domain: Option<&str>,
    spans: &[(i32, NaiveDateTime, NaiveDateTime)],
) -> Result<Vec<SeriesPart>, DbError> {
    let mut out = Vec::new();
    for span in spans {
        out.extend(
            in_span(cluster_id, domain, *span)
                .select(PART)
                .load::<SeriesPart>(conn)?,
        );
    }
    Ok(out)
}

/// Every target of a cluster (all clusters with `None`).
pub fn list_targets(
    conn: &mut DbConn,
    cluster_id: Option<&str>,
) -> Result<Vec<TargetRow>, DbError> {
    let mut q = targets::table.into_boxed();
    if let Some(c) = cluster_id {
        q = q.filter(targets::cluster_id.eq(c.to_owned()));
    }
    Ok(q.order((
        targets::cluster_id,
        targets::domain,
        targets::path_prefix,
        targets::time_range,
    ))
    .load(conn)?)
}

/// Creates or replaces a target.
pub fn put_target(conn: &mut DbConn, t: &TargetRow) -> Result<(), DbError> {
    conn.transaction(|conn| {
        clusters::register(conn, &t.cluster_id, super::from_db(t.updated_at))?;
        on_engine!(conn, |c| diesel::insert_into(targets::table)
            .values(t)
            .on_conflict((
                targets::cluster_id,
                targets::domain,
                targets::path_prefix,
                targets::time_range,
            ))
            .do_update()
            .set((
                targets::availability.eq(excluded(targets::availability)),
                targets::p95_latency_ms.eq(excluded(targets::p95_latency_ms)),
                targets::updated_at.eq(excluded(targets::updated_at)),
                targets::updated_by.eq(excluded(targets::updated_by)),
            ))
            .execute(c))?;
        Ok(())
    })
}

/// Records status changes.
pub fn record_status(conn: &mut DbConn, rows: &[NewStatusChange]) -> Result<(), DbError> {
    conn.transaction(|conn| {
        for r in rows {
            on_engine!(conn, |c| diesel::insert_into(history::table)
                .values(r)
                .execute(c))?;
        }
        Ok(())
    })
}

/// The newest status of every (domain, path, range) of a cluster: the state the status
/// recorder continues from after a restart.
pub fn last_statuses(
    conn: &mut DbConn,
    cluster_id: &str,
) -> Result<Vec<(String, String, String, String)>, DbError> {
    let newest = diesel::dsl::sql::<diesel::sql_types::Bool>(
        "id IN (SELECT MAX(id) FROM slo_status_history GROUP BY cluster_id, domain, path_prefix, time_range)",
    );
    Ok(history::table
        .filter(history::cluster_id.eq(cluster_id))
        .filter(newest)
        .select((
            history::domain,
            history::path_prefix,
            history::time_range,
            history::new_status,
        ))
        .load(conn)?)
}

/// Status changes of one domain since `since`, newest first, at most `limit`.
pub fn status_changes(
    conn: &mut DbConn,
    cluster_id: &str,
    domain: &str,
    since: NaiveDateTime,
    limit: i64,
) -> Result<Vec<StatusChange>, DbError> {
    Ok(history::table
        .filter(history::cluster_id.eq(cluster_id))
        .filter(history::domain.eq(domain))
        .filter(history::changed_at.ge(since))
        .order(history::id.desc())
        .limit(limit)
        .load(conn)?)
}

/// Inserts series rows as they are (benches and tests that need a long history).
pub fn insert_series(conn: &mut DbConn, rows: &[SeriesRow]) -> Result<usize, DbError> {
    conn.transaction(|conn| {
        let mut n = 0;
        for chunk in rows.chunks(500) {
            n += on_engine!(conn, |c| diesel::insert_into(series::table)
                .values(chunk)
                .execute(c))?;
        }
        Ok(n)
    })
}

/// The SLO tables. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Slo<'a>(pub(super) &'a super::Db);

impl Slo<'_> {
    /// Writes one push (see [`write_push`]).
    pub async fn write_push(&self, w: PushWrite) -> Result<bool, DbError> {
        self.0.write(move |c| write_push(c, &w)).await
    }

    /// The stored last values of a cluster.
    pub async fn stored_state(&self, cluster_id: &str) -> Result<Option<StoredState>, DbError> {
        let id = cluster_id.to_owned();
        self.0.read(move |c| stored_state(c, &id)).await
    }

    /// Up to when a cluster's hourly and daily rows are complete.
    pub async fn rolled_until(&self, cluster_id: &str) -> Result<Option<NaiveDateTime>, DbError> {
        let id = cluster_id.to_owned();
        self.0.read(move |c| rolled_until(c, &id)).await
    }

    /// Every route of a cluster.
    pub async fn list_routes(&self, cluster_id: &str) -> Result<Vec<RouteRow>, DbError> {
        let id = cluster_id.to_owned();
        self.0.read(move |c| list_routes(c, &id)).await
    }

    /// Series rows in the spans.
    pub async fn series_in(
        &self,
        cluster_id: &str,
        domain: Option<&str>,
        spans: Vec<(i32, NaiveDateTime, NaiveDateTime)>,
    ) -> Result<Vec<(i32, NaiveDateTime, SeriesPart)>, DbError> {
        let (id, domain) = (cluster_id.to_owned(), domain.map(str::to_owned));
        self.0
            .read(move |c| series_in(c, &id, domain.as_deref(), &spans))
            .await
    }

    /// The parts of series rows in the spans.
    pub async fn parts_in(
        &self,
        cluster_id: &str,
        domain: Option<&str>,
        spans: Vec<(i32, NaiveDateTime, NaiveDateTime)>,
    ) -> Result<Vec<SeriesPart>, DbError> {
        let (id, domain) = (cluster_id.to_owned(), domain.map(str::to_owned));
        self.0
            .read(move |c| parts_in(c, &id, domain.as_deref(), &spans))
            .await
    }

    /// Targets of a cluster, or of all.
    pub async fn list_targets(&self, cluster_id: Option<&str>) -> Result<Vec<TargetRow>, DbError> {
        let id = cluster_id.map(str::to_owned);
        self.0.read(move |c| list_targets(c, id.as_deref())).await
    }

    /// Creates or replaces a target.
    pub async fn put_target(&self, t: TargetRow) -> Result<(), DbError> {
        self.0.write(move |c| put_target(c, &t)).await
    }

    /// Records status changes.
    pub async fn record_status(&self, rows: Vec<NewStatusChange>) -> Result<(), DbError> {
        self.0.write(move |c| record_status(c, &rows)).await
    }

    /// The newest status per (domain, path, range) of a cluster.
    pub async fn last_statuses(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<(String, String, String, String)>, DbError> {
        let id = cluster_id.to_owned();
        self.0.read(move |c| last_statuses(c, &id)).await
    }

    /// Status changes of one domain.
    pub async fn status_changes(
        &self,
        cluster_id: &str,
        domain: &str,
        since: NaiveDateTime,
        limit: i64,
    ) -> Result<Vec<StatusChange>, DbError> {
        let (id, d) = (cluster_id.to_owned(), domain.to_owned());
        self.0
            .read(move |c| status_changes(c, &id, &d, since, limit))
            .await
    }

    /// Inserts series rows as they are (benches, tests).
    pub async fn insert_series(&self, rows: Vec<SeriesRow>) -> Result<usize, DbError> {
        self.0.write(move |c| insert_series(c, &rows)).await
    }
}
