//! `Cleaner`: retention, periodic and on demand.
//!
//! - **State.** The database handle and the config defaults of the retention policy. The
//!   policy in force lives in `settings` and is read at the start of every run, so a
//!   `PUT /api/v2/admin/retention` takes effect on the next run without a restart.
//! - **Runs** one at a time (`AtomicResponse`): on `event_cleanup_interval` for events,
//!   commands, audit, security events and SLO data; on `metrics_cleanup_interval` for node
//!   metrics; and on demand through `POST /api/v2/admin/cleanup`.
//! - **Batches.** Every delete is a series of bounded batches, each its own trip through
//!   the single writer, so snapshot ingestion interleaves with a large cleanup. Batches are
//!   sized from the time the previous one took ([`BATCH_TARGET`]), not a fixed row count:
//!   what a row costs depends on the table, its indexes and the disk.
//! - **Every cluster** the database knows is cleaned, connected or not.
//! - **Restart.** Nothing to rebuild: `started()` re-arms the two timers; an interrupted run
//!   has committed its finished batches and the next run finishes the rest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use atlhyper_actors::supervise::StartSupervised as _;
use chrono::Utc;

use crate::config::Settings;
use crate::db::retention::{self, RetentionPolicy, Rule, Target};
use crate::db::{Db, DbError};

/// Targets the event-interval timer runs.
const EVENT_TIMER_TARGETS: [Target; 8] = [
    Target::Events,
    Target::Commands,
    Target::Audit,
    Target::SecurityEvents,
    Target::Slo,
    Target::Alerts,
    Target::Ai,
    Target::Changes,
];

/// What one delete batch should hold the writer for. A write waits behind at most about
/// one batch, so this keeps the ingestion stall far under its 100 ms budget, with room
/// left for a WAL checkpoint landing on the same commit.
const BATCH_TARGET: Duration = Duration::from_millis(10);
/// Bounds on a batch: below the minimum the per-statement overhead dominates; above the
/// maximum one statement's undo data grows large for little gain.
const MIN_BATCH: i64 = 50;
const MAX_BATCH: i64 = 20_000;

/// Sizes delete batches from the time the previous one took.
#[derive(Debug, Clone, Copy)]
struct Batcher {
    rows: i64,
}

impl Batcher {
    fn new() -> Self {
        Self {
            rows: retention::BATCH_ROWS,
        }
    }

    /// Learns from a batch that deleted `deleted` rows in `took`. Short final batches say
    /// little and are ignored; the size shrinks at once but at most doubles per step.
    fn observe(&mut self, deleted: u64, took: Duration) {
        if deleted < MIN_BATCH as u64 || took.is_zero() {
            return;
        }
        let per_row = took.as_secs_f64() / deleted as f64;
        let ideal = (BATCH_TARGET.as_secs_f64() / per_row).round() as i64;
        self.rows = ideal
            .min(self.rows.saturating_mul(2))
            .clamp(MIN_BATCH, MAX_BATCH);
    }
}

/// Runs retention now.
#[derive(Debug, Clone)]
pub struct RunCleanup {
    /// What to clean (each once, in `Target::ALL` order).
    pub targets: Vec<Target>,
    /// Only this cluster's rows; cluster-less targets (audit, security events, SLO) are
    /// then left alone.
    pub cluster_id: Option<String>,
    /// Count what would go, delete nothing.
    pub dry_run: bool,
}

impl Message for RunCleanup {
    type Result = Result<CleanupReport, DbError>;
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CleanupReport {
    /// Rows deleted (or, in a dry run, that would be) per target.
    pub deleted: BTreeMap<&'static str, u64>,
    /// Whether nothing was deleted on purpose.
    pub dry_run: bool,
    /// Wall time of the run.
    pub duration_ms: u64,
}

/// Waits for the run in progress, if any.
struct Flush;

impl Message for Flush {
    type Result = ();
}

/// The retention actor.
pub struct Cleaner {
    db: Db,
    defaults: RetentionPolicy,
    settings: Arc<Settings>,
    /// Replicas: the timed passes run on the leader only (a pass asked for through the
    /// API runs wherever it was asked).
    leader: tokio::sync::watch::Receiver<bool>,
}

impl Actor for Cleaner {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let timer = |targets: Vec<Target>| RunCleanup {
            targets,
            cluster_id: None,
            dry_run: false,
        };
        ctx.run_interval(self.settings.event_cleanup_interval, move |act, ctx| {
            if *act.leader.borrow() {
                ctx.notify(timer(EVENT_TIMER_TARGETS.to_vec()));
            }
        });
        ctx.run_interval(self.settings.metrics_cleanup_interval, move |act, ctx| {
            if !*act.leader.borrow() {
                return;
            }
            ctx.notify(RunCleanup {
                targets: vec![Target::NodeMetrics],
                cluster_id: None,
                dry_run: false,
            });
        });
    }
}

/// Restarted in place after a panic ([`atlhyper_actors::supervise`]); `started` rebuilds
/// what it keeps in memory from the database.
impl Supervised for Cleaner {}

impl Handler<RunCleanup> for Cleaner {
    type Result = AtomicResponse<Self, Result<CleanupReport, DbError>>;

    #[tracing::instrument(skip_all, fields(cluster_id = msg.cluster_id.as_deref(), dry_run = msg.dry_run))]
    fn handle(&mut self, msg: RunCleanup, _: &mut Context<Self>) -> Self::Result {
        let db = self.db.clone();
        let defaults = self.defaults;
        AtomicResponse::new(Box::pin(
            async move {
                let r = run(&db, defaults, &msg).await;
                match &r {
                    Ok(rep) => {
                        tracing::info!(deleted = ?rep.deleted, ms = rep.duration_ms, "cleanup")
                    }
                    Err(e) => tracing::warn!(error = %e, "cleanup failed"),
                }
                r
            }
            .into_actor(self),
        ))
    }
}

impl Handler<Flush> for Cleaner {
    type Result = ();
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) {}
}

/// One run: reads the policy in force, then each target in turn.
async fn run(
    db: &Db,
    defaults: RetentionPolicy,
    msg: &RunCleanup,
) -> Result<CleanupReport, DbError> {
    let started = Instant::now();
    let policy = db.retention().load(defaults).await?;
    let now = Utc::now();
    let clusters = match &msg.cluster_id {
        Some(id) => vec![id.clone()],
        None => db.retention().known_clusters().await?,
    };
    let cluster = msg.cluster_id.as_deref();
    let mut deleted = BTreeMap::new();
    let mut batcher = Batcher::new();
    let b = &mut batcher;
    for target in Target::ALL {
        if !msg.targets.contains(&target) {
            continue;
        }
        let mut n = 0;
        if cluster.is_none() || target.per_cluster() {
            match target {
                Target::Events => {
                    for c in &clusters {
                        n += clean_events(db, c, &policy, now, msg.dry_run, b).await?;
                    }
                }
                Target::NodeMetrics if policy.metrics_retention_days > 0 => {
                    let days = policy.metrics_retention_days;
                    let history = Rule::metrics_history(cluster, now, days);
                    n += apply(db, history, msg.dry_run, b).await?;
                    let latest = Rule::metrics_latest(cluster, now, days);
                    n += apply(db, latest, msg.dry_run, b).await?;
                }
                Target::Commands if policy.command_history_days > 0 => {
                    for c in &clusters {
                        let rule = Rule::commands(c, now, policy.command_history_days);
                        n += apply(db, rule, msg.dry_run, b).await?;
                    }
                }
                Target::Audit if policy.audit_retention_days > 0 => {
                    let rule = Rule::audit(now, policy.audit_retention_days);
                    n += apply(db, rule, msg.dry_run, b).await?;
                }
                Target::SecurityEvents if policy.audit_retention_days > 0 => {
                    let rule = Rule::security_events(now, policy.audit_retention_days);
                    n += apply(db, rule, msg.dry_run, b).await?;
                }
                Target::Alerts if policy.audit_retention_days > 0 => {
                    let days = policy.audit_retention_days;
                    n += apply(db, Rule::alerts(now, days), msg.dry_run, b).await?;
                    n += apply(db, Rule::deliveries(now, days), msg.dry_run, b).await?;
                }
                Target::Ai if policy.audit_retention_days > 0 => {
                    let days = policy.audit_retention_days;
                    n += apply(db, Rule::ai_conversations(now, days), msg.dry_run, b).await?;
                    n += apply(db, Rule::ai_proposals(now, days), msg.dry_run, b).await?;
                }
                Target::Slo => {
                    if policy.slo_raw_retention_hours > 0 {
                        let rule = Rule::slo_series(true, now, policy.slo_raw_retention_hours);
                        n += apply(db, rule, msg.dry_run, b).await?;
                    }
                    if policy.slo_hourly_retention_hours > 0 {
                        let hours = policy.slo_hourly_retention_hours;
                        n += apply(db, Rule::slo_series(false, now, hours), msg.dry_run, b).await?;
                        n += apply(db, Rule::slo_status(now, hours), msg.dry_run, b).await?;
                        n += apply(db, Rule::slo_routes_gone(now, hours), msg.dry_run, b).await?;
                    }
                }
                Target::Changes => {
                    for c in &clusters {
                        if policy.change_detail_days > 0 {
                            let rule = Rule::change_detail(c, now, policy.change_detail_days);
                            n += apply(db, rule, msg.dry_run, b).await?;
                        }
                        if policy.change_snapshot_days > 0 {
                            let rule = Rule::change_monthly(c, now, policy.change_snapshot_days);
                            n += apply(db, rule, msg.dry_run, b).await?;
                        }
                    }
                }
                // Disabled rules delete nothing.
                _ => {}
            }
        }
        deleted.insert(target.as_str(), n);
    }
    Ok(CleanupReport {
        deleted,
        dry_run: msg.dry_run,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Applies one age rule: counts it (dry run) or deletes it batch by batch, each batch its
/// own write so other writes get the writer in between.
async fn apply(db: &Db, rule: Rule, dry_run: bool, b: &mut Batcher) -> Result<u64, DbError> {
    let rule = Arc::new(rule);
    if dry_run {
        return db.retention().count(rule).await;
    }
    let mut total = 0;
    loop {
        // The batch's own size: `observe` resizes the next one.
        let limit = b.rows;
        let (n, took) = db
            .retention()
            .delete_batch(Arc::clone(&rule), limit)
            .await?;
        b.observe(n, took);
        total += n;
        if n < limit as u64 {
            return Ok(total);
        }
    }
}

/// Events of one cluster: past their age first, then the oldest beyond the max count.
async fn clean_events(
    db: &Db,
    cluster: &str,
    policy: &RetentionPolicy,
    now: chrono::DateTime<Utc>,
    dry_run: bool,
    b: &mut Batcher,
) -> Result<u64, DbError> {
    let aged = if policy.event_retention_days > 0 {
        let rule = Rule::events(cluster, now, policy.event_retention_days);
        apply(db, rule, dry_run, b).await?
    } else {
        0
    };
    if policy.event_max_count == 0 {
        return Ok(aged);
    }
    let stored = db.retention().event_count(cluster).await?;
    // In a dry run the aged rows are still there: count them as gone.
    let remaining = if dry_run {
        stored.saturating_sub(aged)
    } else {
        stored
    };
    let mut excess = remaining.saturating_sub(policy.event_max_count);
    if dry_run {
        return Ok(aged + excess);
    }
    // The excess is fixed at the start: events stored meanwhile are newer and stay.
    let mut trimmed = 0;
    while excess > 0 {
        let limit = i64::try_from(excess).unwrap_or(i64::MAX).min(b.rows);
        let (n, took) = db.retention().delete_oldest_events(cluster, limit).await?;
        b.observe(n, took);
        if n == 0 {
            break;
        }
        trimmed += n;
        excess = excess.saturating_sub(n);
    }
    Ok(aged + trimmed)
}

/// Why a backup did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Another backup is running.
    #[error("a backup is already running")]
    Busy,
    /// The database or the file system failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A finished backup.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Backup {
    /// The file written.
    pub path: String,
    /// Its size.
    pub bytes: u64,
}

/// Handle to the running cleaner.
#[derive(Clone, Default)]
pub struct Handle {
    addr: Option<Addr<Cleaner>>,
    backup_running: Arc<AtomicBool>,
}

impl Handle {
    /// Waits until everything received so far is written (tests, shutdown): the run in
    /// progress, if any, finishes first.
    pub async fn flush(&self) {
        if let Some(addr) = &self.addr {
            let _ = addr.send(Flush).await;
        }
    }

    /// Runs a cleanup now and waits for its report.
    pub async fn run(&self, msg: RunCleanup) -> Result<CleanupReport, DbError> {
        match &self.addr {
            Some(addr) => addr.send(msg).await.map_err(|_| DbError::Gone)?,
            None => Err(DbError::Gone),
        }
    }

    /// Writes `<db dir>/backups/master-<UTC time>.db`, a consistent copy made while writes
    /// continue. One at a time.
    pub async fn backup(&self, db: &Db) -> Result<Backup, BackupError> {
        if self.backup_running.swap(true, Ordering::AcqRel) {
            return Err(BackupError::Busy);
        }
        let r = make_backup(db).await;
        self.backup_running.store(false, Ordering::Release);
        Ok(r?)
    }
}

async fn make_backup(db: &Db) -> Result<Backup, DbError> {
    let file = format!("master-{}.db", Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
    let (path, bytes) = db.retention().backup(file).await?;
    Ok(Backup { path, bytes })
}

/// Starts the cleaner. Runs inside the actix System.
pub fn start(
    db: &Db,
    leader: tokio::sync::watch::Receiver<bool>,
    settings: &Arc<Settings>,
) -> Handle {
    let cleaner = Cleaner {
        db: db.clone(),
        defaults: RetentionPolicy::from_settings(settings),
        settings: Arc::clone(settings),
        leader,
    };
    Handle {
        addr: Some(cleaner.start_supervised("cleaner")),
        backup_running: Arc::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_the_time_target() {
        let mut b = Batcher::new();
        let first = b.rows;
        // Rows four times as slow as the target allows: the batch shrinks to a quarter.
        b.observe(first as u64, BATCH_TARGET * 4);
        assert_eq!(b.rows, first / 4);
        // Very fast rows: at most doubles per step, never past the maximum.
        for _ in 0..20 {
            b.observe(b.rows as u64, Duration::from_micros(10));
        }
        assert_eq!(b.rows, MAX_BATCH);
        // Very slow rows: never below the minimum.
        for _ in 0..20 {
            b.observe(b.rows as u64, Duration::from_secs(5));
        }
        assert_eq!(b.rows, MIN_BATCH);
        // A short final batch teaches nothing.
        b.observe(3, Duration::from_secs(5));
        assert_eq!(b.rows, MIN_BATCH);
    }
}
