//! Retention: the policy stored in `settings` (key `retention`) and the batched deletes the
//! cleaner runs.
//!
//! Every delete removes at most a given number of rows in one statement, so the caller can
//! give each batch its own trip through the single writer and let ingestion interleave.

use super::MultiBackend;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde::{Deserialize, Serialize};

use super::schema::settings;
use super::{on_engine, sql, to_db, DbConn, DbError};
use crate::config::Settings;

/// The `settings` key the policy is stored under.
pub const SETTINGS_KEY: &str = "retention";

/// Rows the first delete batch of a run removes. The cleaner then sizes each batch from the
/// time the previous one took (see `persist::cleaner`): measured here, an event row costs
/// ~50 µs to delete (six indexes plus the cascade check), so 2,000 rows took ~110 ms.
pub const BATCH_ROWS: i64 = 500;

/// The retention policy in force. A zero in any field disables that rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionPolicy {
    /// Events whose `last_timestamp` is older are deleted.
    pub event_retention_days: u32,
    /// Newest events kept per cluster.
    pub event_max_count: u64,
    /// Node-metrics history (and latest rows not updated since) older than this is deleted.
    pub metrics_retention_days: u32,
    /// Finished commands older than this are deleted.
    pub command_history_days: u32,
    /// Audit rows and resolved security events older than this are deleted.
    pub audit_retention_days: u32,
    /// Raw (per-minute) SLO series rows.
    pub slo_raw_retention_hours: u32,
    /// Hourly and daily SLO series rows, and SLO status history.
    pub slo_hourly_retention_hours: u32,
    /// Changes, and the daily periodic snapshots, older than this are deleted.
    #[serde(default = "default_change_detail_days")]
    pub change_detail_days: u32,
    /// Monthly periodic snapshots older than this are deleted (quarterly ones stay).
    #[serde(default = "default_change_snapshot_days")]
    pub change_snapshot_days: u32,
}

fn default_change_detail_days() -> u32 {
    90
}

fn default_change_snapshot_days() -> u32 {
    365
}

fn hours(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs() / 3600).unwrap_or(u32::MAX)
}

impl RetentionPolicy {
    /// The defaults, from config.
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            event_retention_days: s.event_retention_days,
            event_max_count: s.event_max_count,
            metrics_retention_days: s.metrics_retention_days,
            command_history_days: s.command_history_days,
            audit_retention_days: s.audit_retention_days,
            slo_raw_retention_hours: hours(s.slo_raw_retention),
            slo_hourly_retention_hours: hours(s.slo_hourly_retention),
            change_detail_days: s.change_detail_days,
            change_snapshot_days: s.change_snapshot_days,
        }
    }

    /// Applies a JSON object of changes. Every field must be a positive integer within its
    /// maximum; the error names the offending field.
    pub fn apply(
        mut self,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, PolicyError> {
        /// A century in days, and in hours: longer is a typo, not a policy.
        const MAX_DAYS: u64 = 36_500;
        const MAX_HOURS: u64 = MAX_DAYS * 24;
        /// A billion events per cluster is far past what one SQLite file should hold.
        const MAX_EVENTS: u64 = 1_000_000_000;
        for (field, value) in patch {
            let max = match field.as_str() {
                "event_max_count" => MAX_EVENTS,
                "slo_raw_retention_hours" | "slo_hourly_retention_hours" => MAX_HOURS,
                "event_retention_days"
                | "change_detail_days"
                | "change_snapshot_days"
                | "metrics_retention_days"
                | "command_history_days"
                | "audit_retention_days" => MAX_DAYS,
                _ => return Err(PolicyError::new(field, "is not a retention setting")),
            };
            let n = value
                .as_u64()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    PolicyError::new(field, format!("must be an integer from 1 to {max}"))
                })?;
            let small = || u32::try_from(n).unwrap_or(u32::MAX);
            match field.as_str() {
                "event_retention_days" => self.event_retention_days = small(),
                "event_max_count" => self.event_max_count = n,
                "metrics_retention_days" => self.metrics_retention_days = small(),
                "command_history_days" => self.command_history_days = small(),
                "audit_retention_days" => self.audit_retention_days = small(),
                "slo_raw_retention_hours" => self.slo_raw_retention_hours = small(),
                "change_detail_days" => self.change_detail_days = small(),
                "change_snapshot_days" => self.change_snapshot_days = small(),
                _ => self.slo_hourly_retention_hours = small(),
            }
        }
        Ok(self)
    }
}

/// A rejected policy field.
#[derive(Debug, thiserror::Error)]
#[error("{field} {why}")]
pub struct PolicyError {
    /// The field.
    pub field: String,
    /// What is wrong with it.
    pub why: String,
}

impl PolicyError {
    fn new(field: &str, why: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            why: why.into(),
        }
    }
}

/// The policy in force: the stored one, or `defaults` when none is stored. A stored policy
/// missing fields (written by an older version) takes them from `defaults`.
pub fn load(conn: &mut DbConn, defaults: RetentionPolicy) -> Result<RetentionPolicy, DbError> {
    let raw: Option<String> = settings::table
        .find(SETTINGS_KEY)
        .select(settings::value)
        .first(conn)
        .optional()?;
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&raw).map_err(|e| DbError::Corrupt(format!("retention: {e}")))?;
    defaults
        .apply(&map)
        .map_err(|e| DbError::Corrupt(format!("retention: {e}")))
}

/// Stores `policy` as the one in force.
pub fn save(
    conn: &mut DbConn,
    policy: &RetentionPolicy,
    by: Option<i32>,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    let value = serde_json::to_string(policy).map_err(|e| DbError::Corrupt(e.to_string()))?;
    on_engine!(conn, |c| diesel::insert_into(settings::table)
        .values((
            settings::key.eq(SETTINGS_KEY),
            settings::value.eq(&value),
            settings::description.eq("retention policy (admin/retention)"),
            settings::updated_at.eq(to_db(at)),
            settings::updated_by.eq(by),
        ))
        .on_conflict(settings::key)
        .do_update()
        .set((
            settings::value.eq(&value),
            settings::updated_at.eq(to_db(at)),
            settings::updated_by.eq(by),
        ))
        .execute(c))?;
    Ok(())
}

/// The `settings` row that proves which secret key sealed this database's secrets.
const KEY_CHECK: &str = "secret_key_check";

/// The sealed key check, storing `sealed` first when there is none (the first start of
/// this database, or of a database older than the check). Returns what is stored.
/// With `replace`, `sealed` replaces what is stored.
pub fn key_check(
    conn: &mut DbConn,
    sealed: &str,
    at: DateTime<Utc>,
    replace: bool,
) -> Result<String, DbError> {
    if replace {
        diesel::update(settings::table.find(KEY_CHECK))
            .set((
                settings::value.eq(sealed),
                settings::updated_at.eq(to_db(at)),
            ))
            .execute(conn)?;
    }
    on_engine!(conn, |c| diesel::insert_into(settings::table)
        .values((
            settings::key.eq(KEY_CHECK),
            settings::value.eq(sealed),
            settings::description.eq(
                "a known text sealed with the secret key: every start (every replica) must open it"
            ),
            settings::updated_at.eq(to_db(at)),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(settings::table
        .find(KEY_CHECK)
        .select(settings::value)
        .first(conn)?)
}

/// What a cleanup can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// `cluster_events`: by age, then by count per cluster.
    Events,
    /// `node_metrics_history` by age, `node_metrics_latest` by staleness.
    NodeMetrics,
    /// Finished rows of `command_history`.
    Commands,
    /// `audit_logs`.
    Audit,
    /// `slo_series` by resolution and age, `slo_status_history` by age.
    Slo,
    /// Resolved `security_events`.
    SecurityEvents,
    /// Resolved `alert_history` rows and finished `notify_deliveries`.
    Alerts,
    /// AI conversations not used for the audit retention (their messages and tool calls
    /// go with them), and decided or expired proposals.
    Ai,
    /// `cluster_changes`, tiered: every change for `change_detail_days`, then the monthly
    /// periodic snapshots for `change_snapshot_days`, then the quarterly ones.
    Changes,
}

impl Target {
    /// Every target, in the order a full cleanup runs them.
    pub const ALL: [Target; 9] = [
        Target::Events,
        Target::NodeMetrics,
        Target::Commands,
        Target::Audit,
        Target::Slo,
        Target::SecurityEvents,
        Target::Alerts,
        Target::Ai,
        Target::Changes,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Events => "events",
            Target::NodeMetrics => "node_metrics",
            Target::Commands => "commands",
            Target::Audit => "audit",
            Target::Slo => "slo",
            Target::SecurityEvents => "security_events",
            Target::Alerts => "alerts",
            Target::Ai => "ai",
            Target::Changes => "changes",
        }
    }

    /// Parses an API name.
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// True when the target's rows belong to a cluster (a `cluster_id` filter applies).
    pub fn per_cluster(self) -> bool {
        matches!(
            self,
            Target::Events | Target::NodeMetrics | Target::Commands | Target::Changes
        )
    }
}

/// One age rule: rows of `table` matching `cond` (one `?`, bound to the cutoff), optionally
/// restricted to one cluster.
#[derive(Debug, Clone)]
pub struct Rule {
    table: &'static str,
    /// The row key the batch selects on (the whole primary key for tables without an
    /// integer id: a row value, portable to both engines).
    key: &'static str,
    cond: &'static str,
    cluster: Option<String>,
    cutoff: chrono::NaiveDateTime,
}

fn cutoff(now: DateTime<Utc>, days: u32) -> chrono::NaiveDateTime {
    to_db(now - Duration::days(i64::from(days)))
}

impl Rule {
    fn new(
        table: &'static str,
        key: &'static str,
        cond: &'static str,
        cluster: Option<&str>,
        cutoff: chrono::NaiveDateTime,
    ) -> Self {
        Self {
            table,
            key,
            cond,
            cluster: cluster.map(str::to_owned),
            cutoff,
        }
    }

    /// Events of `cluster` last seen more than `days` ago (uses the (cluster, time) index).
    pub fn events(cluster: &str, now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "cluster_events",
            "id",
            "last_timestamp < ?",
            Some(cluster),
            cutoff(now, days),
        )
    }
    /// Node-metrics history samples older than `days`.
    pub fn metrics_history(cluster: Option<&str>, now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "node_metrics_history",
            "id",
            "timestamp < ?",
            cluster,
            cutoff(now, days),
        )
    }
    /// Latest-node rows not updated for `days`.
    pub fn metrics_latest(cluster: Option<&str>, now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "node_metrics_latest",
            "cluster_id, node_name",
            "updated_at < ?",
            cluster,
            cutoff(now, days),
        )
    }
    /// Finished commands of `cluster` older than `days` (never pending or running ones).
    pub fn commands(cluster: &str, now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "command_history",
            "id",
            "status NOT IN ('pending', 'running') AND COALESCE(finished_at, created_at) < ?",
            Some(cluster),
            cutoff(now, days),
        )
    }
    /// Audit rows older than `days`.
    pub fn audit(now: DateTime<Utc>, days: u32) -> Self {
        Self::new("audit_logs", "id", "timestamp < ?", None, cutoff(now, days))
    }
    /// Resolved security events older than `days`; unresolved ones are kept forever.
    pub fn security_events(now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "security_events",
            "id",
            "resolved AND timestamp < ?",
            None,
            cutoff(now, days),
        )
    }

    /// SLO series rows of the raw tier (`raw`) or of the hourly and daily tiers whose period
    /// started more than `hours` ago (uses the (resolution, start) index).
    pub fn slo_series(raw: bool, now: DateTime<Utc>, hours: u32) -> Self {
        Self::new(
            "slo_series",
            "cluster_id, resolution, start_at, domain, path_prefix",
            if raw {
                "resolution = 60 AND start_at < ?"
            } else {
                "resolution > 60 AND start_at < ?"
            },
            None,
            to_db(now - Duration::hours(i64::from(hours))),
        )
    }

    /// SLO route mappings gone for more than `hours` (current ones are kept, however old).
    pub fn slo_routes_gone(now: DateTime<Utc>, hours: u32) -> Self {
        Self::new(
            "slo_routes",
            "cluster_id, domain, path_prefix",
            "gone_at IS NOT NULL AND gone_at < ?",
            None,
            to_db(now - Duration::hours(i64::from(hours))),
        )
    }

    /// SLO status changes older than `hours`.
    pub fn slo_status(now: DateTime<Utc>, hours: u32) -> Self {
        Self::new(
            "slo_status_history",
            "id",
            "changed_at < ?",
            None,
            to_db(now - Duration::hours(i64::from(hours))),
        )
    }

    /// Resolved alerts older than `days` (firing ones are kept, however old).
    pub fn alerts(now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "alert_history",
            "id",
            "status = 'resolved' AND resolved_at < ?",
            None,
            cutoff(now, days),
        )
    }
    /// Delivered, failed or folded deliveries last changed more than `days` ago (pending
    /// ones are kept).
    pub fn deliveries(now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "notify_deliveries",
            "id",
            "status <> 'pending' AND updated_at < ?",
            None,
            cutoff(now, days),
        )
    }

    /// AI conversations last used more than `days` ago; the foreign keys take their
    /// messages and tool calls along.
    pub fn ai_conversations(now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "ai_conversations",
            "id",
            "updated_at < ?",
            None,
            cutoff(now, days),
        )
    }
    /// Proposals decided, or expired unapproved, more than `days` ago.
    pub fn ai_proposals(now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "ai_proposals",
            "id",
            "COALESCE(decided_at, expires_at) < ?",
            None,
            cutoff(now, days),
        )
    }

    /// Changes of `cluster` older than `days`, and its daily periodic snapshots: detail
    /// is kept `change_detail_days` (uses the (cluster, time) index).
    pub fn change_detail(cluster: &str, now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "cluster_changes",
            "id",
            "(change_type <> 'periodic_snapshot' OR tier = 'day') AND time < ?",
            Some(cluster),
            cutoff(now, days),
        )
    }
    /// Monthly periodic snapshots of `cluster` older than `days`; quarterly ones stay.
    pub fn change_monthly(cluster: &str, now: DateTime<Utc>, days: u32) -> Self {
        Self::new(
            "cluster_changes",
            "id",
            "change_type = 'periodic_snapshot' AND tier = 'month' AND time < ?",
            Some(cluster),
            cutoff(now, days),
        )
    }

    fn filter(&self) -> String {
        match self.cluster {
            Some(_) => format!("cluster_id = ? AND {}", self.cond),
            None => self.cond.to_owned(),
        }
    }

    fn bind<'a>(
        &self,
        q: diesel::query_builder::BoxedSqlQuery<'a, MultiBackend, diesel::query_builder::SqlQuery>,
    ) -> diesel::query_builder::BoxedSqlQuery<'a, MultiBackend, diesel::query_builder::SqlQuery>
    {
        let q = match &self.cluster {
            Some(c) => q.bind::<Text, _>(c.clone()),
            None => q,
        };
        q.bind::<Timestamp, _>(self.cutoff)
    }

    /// How many rows match.
    pub fn count(&self, conn: &mut DbConn) -> Result<u64, DbError> {
        let text = format!(
            "SELECT COUNT(*) AS n FROM {} WHERE {}",
            self.table,
            self.filter()
        );
        let q = self.bind(diesel::sql_query(sql(conn.engine(), &text)).into_boxed());
        Ok(to_u64(q.get_result::<Count>(conn)?.n))
    }

    /// Deletes at most `limit` matching rows; returns how many went.
    pub fn delete_batch(&self, conn: &mut DbConn, limit: i64) -> Result<u64, DbError> {
        let text = format!(
            "DELETE FROM {t} WHERE ({k}) IN (SELECT {k} FROM {t} WHERE {f} LIMIT ?)",
            t = self.table,
            k = self.key,
            f = self.filter()
        );
        let q = self
            .bind(diesel::sql_query(sql(conn.engine(), &text)).into_boxed())
            .bind::<BigInt, _>(limit);
        Ok(q.execute(conn)? as u64)
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct ClusterId {
    #[diesel(sql_type = Text)]
    id: String,
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Every cluster the database knows, connected or not. The `clusters` table covers every
/// table with a foreign key to it (events, node metrics); command history has none, so its
/// cluster ids are added.
pub fn known_clusters(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let rows: Vec<ClusterId> = diesel::sql_query(
        "SELECT cluster_uid AS id FROM clusters \
         UNION SELECT DISTINCT cluster_id AS id FROM command_history ORDER BY id",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Events stored for `cluster`.
pub fn event_count(conn: &mut DbConn, cluster: &str) -> Result<u64, DbError> {
    let q = diesel::sql_query(sql(
        conn.engine(),
        "SELECT COUNT(*) AS n FROM cluster_events WHERE cluster_id = ?",
    ))
    .bind::<Text, _>(cluster);
    Ok(to_u64(q.get_result::<Count>(conn)?.n))
}

/// Deletes the oldest `limit` events of `cluster` (by `last_timestamp`, then id; a reverse
/// walk of the (cluster, time) index).
pub fn delete_oldest_events(conn: &mut DbConn, cluster: &str, limit: i64) -> Result<u64, DbError> {
    let n = limit;
    let q = diesel::sql_query(sql(
        conn.engine(),
        "DELETE FROM cluster_events WHERE id IN (SELECT id FROM cluster_events \
         WHERE cluster_id = ? ORDER BY last_timestamp ASC, id ASC LIMIT ?)",
    ))
    .bind::<Text, _>(cluster)
    .bind::<BigInt, _>(n);
    Ok(q.execute(conn)? as u64)
}

/// Runs `f`, timing it (on the writer: the time the writer was held).
fn timed(f: impl FnOnce() -> Result<u64, DbError>) -> Result<(u64, std::time::Duration), DbError> {
    let start = std::time::Instant::now();
    let n = f()?;
    Ok((n, start.elapsed()))
}

/// What a backup of PostgreSQL is made with instead of [`vacuum_into`].
pub const PG_BACKUP_HINT: &str = "online backup is built in for the embedded SQLite database only; \
     on PostgreSQL use pg_dump (e.g. `pg_dump -Fc -f master.dump \"$MASTER_DB_DSN\"`), which takes a \
     consistent snapshot without stopping the master";

/// Writes an online, consistent copy of the SQLite database to `dest` (`VACUUM INTO`: one
/// read transaction, so it runs on a reader connection while the writer keeps committing).
fn vacuum_into(conn: &mut DbConn, dest: &str) -> Result<(), DbError> {
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(dest)
        .execute(conn)?;
    Ok(())
}

/// The retention policy, batched deletes and backups. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Retention<'a>(pub(super) &'a super::Db);

impl Retention<'_> {
    /// The sealed secret-key check (see [`key_check`]).
    pub async fn key_check(
        &self,
        sealed: String,
        at: DateTime<Utc>,
        replace: bool,
    ) -> Result<String, DbError> {
        self.0
            .write(move |c| key_check(c, &sealed, at, replace))
            .await
    }

    /// The policy in force (`defaults` where nothing is stored).
    pub async fn load(&self, defaults: RetentionPolicy) -> Result<RetentionPolicy, DbError> {
        self.0.read(move |c| load(c, defaults)).await
    }

    /// Merges `patch` into the policy in force and stores the result, in one write (two
    /// admins patching different fields at once both keep their change). `Ok(Err(_))`
    /// names the field that does not validate; nothing is stored then.
    pub async fn patch(
        &self,
        defaults: RetentionPolicy,
        patch: serde_json::Map<String, serde_json::Value>,
        by: Option<i32>,
        at: DateTime<Utc>,
    ) -> Result<Result<RetentionPolicy, PolicyError>, DbError> {
        self.0
            .write(move |c| {
                c.transaction(|c| {
                    let current = load(c, defaults)?;
                    match current.apply(&patch) {
                        Ok(next) => {
                            save(c, &next, by, at)?;
                            Ok(Ok(next))
                        }
                        Err(e) => Ok(Err(e)),
                    }
                })
            })
            .await
    }

    /// Every cluster the database knows, connected or not.
    pub async fn known_clusters(&self) -> Result<Vec<String>, DbError> {
        self.0.read(known_clusters).await
    }

    /// Rows `rule` matches (dry run).
    pub async fn count(&self, rule: Arc<Rule>) -> Result<u64, DbError> {
        self.0.read(move |c| rule.count(c)).await
    }

    /// Deletes at most `limit` rows `rule` matches, as one write; returns how many went
    /// and how long the writer was held.
    pub async fn delete_batch(
        &self,
        rule: Arc<Rule>,
        limit: i64,
    ) -> Result<(u64, std::time::Duration), DbError> {
        self.0
            .write(move |c| timed(|| rule.delete_batch(c, limit)))
            .await
    }

    /// Events stored for `cluster`.
    pub async fn event_count(&self, cluster: &str) -> Result<u64, DbError> {
        let cluster = cluster.to_owned();
        self.0.read(move |c| event_count(c, &cluster)).await
    }

    /// Deletes the oldest `limit` events of `cluster`; returns how many went and how long
    /// the writer was held.
    pub async fn delete_oldest_events(
        &self,
        cluster: &str,
        limit: i64,
    ) -> Result<(u64, std::time::Duration), DbError> {
        let cluster = cluster.to_owned();
        self.0
            .write(move |c| timed(|| delete_oldest_events(c, &cluster, limit)))
            .await
    }

    /// Writes a consistent copy of the SQLite file to `backups/<file_name>` beside it
    /// (the directory is created if needed); returns its path and size. PostgreSQL, which
    /// has no file: [`DbError::Unsupported`], see [`PG_BACKUP_HINT`].
    pub async fn backup(&self, file_name: String) -> Result<(String, u64), DbError> {
        let Some(path) = self.0.path() else {
            return Err(DbError::Unsupported(PG_BACKUP_HINT));
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join("backups");
        self.0
            .read(move |c| {
                std::fs::create_dir_all(&dir)?;
                let dest = dir.join(file_name).to_string_lossy().into_owned();
                vacuum_into(c, &dest)?;
                let bytes = std::fs::metadata(&dest)?.len();
                Ok((dest, bytes))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn defaults() -> RetentionPolicy {
        RetentionPolicy::from_settings(&Settings::default())
    }

    #[test]
    fn defaults_follow_config() {
        let p = defaults();
        assert_eq!(p.event_retention_days, 30);
        assert_eq!(p.event_max_count, 100_000);
        assert_eq!(p.slo_raw_retention_hours, 48);
        assert_eq!(p.slo_hourly_retention_hours, 2160);
    }

    #[test]
    fn apply_names_the_bad_field() {
        let patch = |v: serde_json::Value| v.as_object().unwrap().clone();
        let p = defaults()
            .apply(&patch(serde_json::json!({"event_retention_days": 7})))
            .unwrap();
        assert_eq!(p.event_retention_days, 7);
        for bad in [
            serde_json::json!({"audit_retention_days": 0}),
            serde_json::json!({"audit_retention_days": -3}),
            serde_json::json!({"audit_retention_days": "5"}),
            serde_json::json!({"audit_retention_days": 1.5}),
            serde_json::json!({"audit_retention_days": 100_000}),
        ] {
            let e = defaults().apply(&patch(bad)).unwrap_err();
            assert_eq!(e.field, "audit_retention_days");
        }
        let e = defaults()
            .apply(&patch(serde_json::json!({"nope": 1})))
            .unwrap_err();
        assert_eq!(e.field, "nope");
    }

    #[test]
    fn targets_round_trip() {
        for t in Target::ALL {
            assert_eq!(Target::parse(t.as_str()), Some(t));
        }
        assert_eq!(Target::parse("pods"), None);
    }
}
