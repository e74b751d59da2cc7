//! The `node_metrics_latest` and `node_metrics_history` tables (seed 001 §2.1).

use chrono::NaiveDateTime;
use diesel::dsl::{max, sql};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::upsert::excluded;
use std::sync::Arc;

use super::schema::{node_metrics_history as hist, node_metrics_latest as latest};
use super::{clusters, on_engine, DbConn, DbError, Engine};

/// The latest metrics of one node, as written on every snapshot.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = latest)]
pub struct NewLatest {
    /// The cluster.
    pub cluster_id: String,
    /// The node.
    pub node_name: String,
    /// The node's own collection time.
    pub timestamp: NaiveDateTime,
    /// The full `NodeMetricsSnapshot` as JSON.
    pub snapshot: String,
    /// cpu.usage_percent.
    pub cpu_usage: f64,
    /// memory.usage_percent.
    pub mem_usage: f64,
    /// The primary disk's usage_percent.
    pub disk_usage: f64,
    /// temperature.cpu_temp.
    pub temperature: f64,
    /// When the master wrote it.
    pub updated_at: NaiveDateTime,
}

/// One sampled history point of one node.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = hist)]
pub struct NewHistory {
    /// The cluster.
    pub cluster_id: String,
    /// The node.
    pub node_name: String,
    /// The node's own collection time.
    pub timestamp: NaiveDateTime,
    /// cpu.usage_percent.
    pub cpu_usage: f64,
    /// memory.usage_percent.
    pub mem_usage: f64,
    /// The primary disk's usage_percent.
    pub disk_usage: f64,
    /// rx bytes/s summed over the interfaces other than `lo`.
    pub net_rx_bytes: f64,
    /// tx bytes/s summed over the interfaces other than `lo`.
    pub net_tx_bytes: f64,
    /// temperature.cpu_temp.
    pub temperature: f64,
}

/// One stored history point, as the history API reads it.
#[derive(Debug, Clone, Queryable)]
pub struct HistoryPoint {
    /// The node's collection time, unix milliseconds.
    pub timestamp_ms: i64,
    /// CPU usage percent.
    pub cpu_usage: f64,
    /// Memory usage percent.
    pub mem_usage: f64,
    /// Primary disk usage percent.
    pub disk_usage: f64,
    /// Receive rate, bytes/s.
    pub net_rx_bytes: f64,
    /// Send rate, bytes/s.
    pub net_tx_bytes: f64,
    /// CPU temperature.
    pub temperature: f64,
}

/// Writes one snapshot's node metrics in one transaction: registers the cluster, upserts
/// every latest row and inserts the sampled history rows (a repeated timestamp is ignored).
pub fn persist(
    conn: &mut DbConn,
    cluster_id: &str,
    seen_at: chrono::DateTime<chrono::Utc>,
    latest_rows: &[NewLatest],
    history_rows: &[NewHistory],
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        clusters::register(conn, cluster_id, seen_at)?;
        for row in latest_rows {
            on_engine!(conn, |c| diesel::insert_into(latest::table)
                .values(row)
                .on_conflict((latest::cluster_id, latest::node_name))
                .do_update()
                .set((
                    latest::timestamp.eq(excluded(latest::timestamp)),
                    latest::snapshot.eq(excluded(latest::snapshot)),
                    latest::cpu_usage.eq(excluded(latest::cpu_usage)),
                    latest::mem_usage.eq(excluded(latest::mem_usage)),
                    latest::disk_usage.eq(excluded(latest::disk_usage)),
                    latest::temperature.eq(excluded(latest::temperature)),
                    latest::updated_at.eq(excluded(latest::updated_at)),
                ))
                .execute(c))?;
        }
        for row in history_rows {
            on_engine!(conn, |c| diesel::insert_into(hist::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c))?;
        }
        Ok(())
    })
}

/// Inserts history rows as they are (benches and tests that need a long history).
pub fn insert_history(conn: &mut DbConn, rows: &[NewHistory]) -> Result<usize, DbError> {
    conn.transaction(|conn| {
        let mut n = 0;
        for chunk in rows.chunks(1_000) {
            n += match conn {
                DbConn::Sqlite(c) => diesel::insert_or_ignore_into(hist::table)
                    .values(chunk)
                    .execute(c)?,
                DbConn::Postgres(c) => diesel::insert_into(hist::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .execute(c)?,
            };
        }
        Ok(n)
    })
}

/// The newest history timestamp of every (cluster, node): the sampling state after a restart.
pub fn last_samples(conn: &mut DbConn) -> Result<Vec<(String, String, NaiveDateTime)>, DbError> {
    let rows: Vec<(String, String, Option<NaiveDateTime>)> = hist::table
        .group_by((hist::cluster_id, hist::node_name))
        .select((hist::cluster_id, hist::node_name, max(hist::timestamp)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, n, t)| t.map(|t| (c, n, t)))
        .collect())
}

/// Every latest row of a cluster as (node name, snapshot JSON), by node name.
pub fn list_latest(conn: &mut DbConn, cluster_id: &str) -> Result<Vec<(String, String)>, DbError> {
    Ok(latest::table
        .filter(latest::cluster_id.eq(cluster_id))
        .select((latest::node_name, latest::snapshot))
        .order(latest::node_name)
        .load(conn)?)
}

/// The latest snapshot JSON of one node.
pub fn get_latest(
    conn: &mut DbConn,
    cluster_id: &str,
    node_name: &str,
) -> Result<Option<String>, DbError> {
    Ok(latest::table
        .filter(latest::cluster_id.eq(cluster_id))
        .filter(latest::node_name.eq(node_name))
        .select(latest::snapshot)
        .first(conn)
        .optional()?)
}

/// The history of one node at or after `since`, oldest first.
pub fn history(
    conn: &mut DbConn,
    cluster_id: &str,
    node_name: &str,
    since: NaiveDateTime,
) -> Result<Vec<HistoryPoint>, DbError> {
    // The engine turns the stored time into unix ms itself: parsing 8,640 timestamps with
    // chrono was most of a 30-day query. Both keep milliseconds, as the API does.
    let unix_ms = match conn.engine() {
        Engine::Sqlite => "CAST(ROUND((julianday(timestamp) - 2440587.5) * 86400000.0) AS INTEGER)",
        // date_part is float8; EXTRACT is numeric (slower) since PostgreSQL 14.
        Engine::Postgres => "CAST(ROUND(date_part('epoch', timestamp) * 1000) AS BIGINT)",
    };
    Ok(hist::table
        .filter(hist::cluster_id.eq(cluster_id))
        .filter(hist::node_name.eq(node_name))
        .filter(hist::timestamp.ge(since))
        .order(hist::timestamp.asc())
        .select((
            sql::<BigInt>(unix_ms),
            hist::cpu_usage,
            hist::mem_usage,
            hist::disk_usage,
            hist::net_rx_bytes,
            hist::net_tx_bytes,
            hist::temperature,
        ))
        .load(conn)?)
}

/// Latest node metrics and the sampled history. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct NodeMetrics<'a>(pub(super) &'a super::Db);

impl NodeMetrics<'_> {
    /// Writes one snapshot's node metrics in one transaction (see [`persist`]).
    pub async fn persist(
        &self,
        cluster_id: Arc<str>,
        seen_at: chrono::DateTime<chrono::Utc>,
        latest_rows: Vec<NewLatest>,
        history_rows: Vec<NewHistory>,
    ) -> Result<(), DbError> {
        self.0
            .write(move |c| persist(c, &cluster_id, seen_at, &latest_rows, &history_rows))
            .await
    }

    /// The newest history timestamp of every (cluster, node).
    pub async fn last_samples(&self) -> Result<Vec<(String, String, NaiveDateTime)>, DbError> {
        self.0.read(last_samples).await
    }

    /// Every latest row of a cluster as (node, snapshot JSON).
    pub async fn list_latest(&self, cluster_id: &str) -> Result<Vec<(String, String)>, DbError> {
        let id = cluster_id.to_owned();
        self.0.read(move |c| list_latest(c, &id)).await
    }

    /// The latest snapshot JSON of one node.
    pub async fn get_latest(
        &self,
        cluster_id: &str,
        node: &str,
    ) -> Result<Option<String>, DbError> {
        let (id, node) = (cluster_id.to_owned(), node.to_owned());
        self.0.read(move |c| get_latest(c, &id, &node)).await
    }

    /// One node's history at or after `since`, oldest first.
    pub async fn history(
        &self,
        cluster_id: &str,
        node: &str,
        since: NaiveDateTime,
    ) -> Result<Vec<HistoryPoint>, DbError> {
        let (id, node) = (cluster_id.to_owned(), node.to_owned());
        self.0.read(move |c| history(c, &id, &node, since)).await
    }
}
