//! The diesel implementation of the actors' [`Store`] trait, and the startup loader that
//! rebuilds the registry's state from the database.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use atlhyper_actors::cluster::Restore;
use atlhyper_actors::command::CommandState;
use atlhyper_actors::messages::{QueuedCommand, RunningCommand};
use atlhyper_actors::model::Command;
use atlhyper_actors::registry::ClusterInfo;
use atlhyper_actors::store::{Store, StoreError, StoreFuture};

use super::commands::CommandRow;
use super::{clusters, commands, from_db, Db, DbConn, DbError};

/// [`Store`] on the storage layer's repositories. Transitions are compare-and-set, so
/// they hold on either engine (SQLite's single writer or PostgreSQL's pool).
#[derive(Clone)]
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    /// Wraps a database handle.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The store's half of [`Store::unfinished`].
    async fn unfinished_of(
        db: Db,
        cluster_id: String,
    ) -> Result<(Vec<QueuedCommand>, Vec<RunningCommand>), StoreError> {
        let rows = db
            .commands()
            .unfinished_of(&cluster_id)
            .await
            .map_err(store_err)?;
        let (mut pending, mut running) = (Vec::new(), Vec::new());
        for row in rows {
            match row.state().map_err(store_err)? {
                CommandState::Pending => pending.push(queued_command(&row)),
                CommandState::Running => running.push(running_command(&row)),
                _ => {}
            }
        }
        Ok((pending, running))
    }
}

fn store_err(e: DbError) -> StoreError {
    StoreError(e.to_string())
}

impl Store for SqlStore {
    fn transition(
        &self,
        command_id: &str,
        from: &'static [CommandState],
        to: CommandState,
        at: DateTime<Utc>,
    ) -> StoreFuture<bool> {
        let (db, id) = (self.db.clone(), command_id.to_owned());
        Box::pin(async move {
            db.commands()
                .transition(&id, from, to, at)
                .await
                .map_err(store_err)
        })
    }

    fn register_cluster(&self, cluster_id: &str, at: DateTime<Utc>) -> StoreFuture<()> {
        let (db, id) = (self.db.clone(), cluster_id.to_owned());
        Box::pin(async move { db.clusters().register(&id, at).await.map_err(store_err) })
    }

    fn record_last_seen(&self, cluster_id: &str, at: DateTime<Utc>) -> StoreFuture<()> {
        let (db, id) = (self.db.clone(), cluster_id.to_owned());
        Box::pin(async move {
            db.clusters()
                .record_last_seen(vec![(id, at)])
                .await
                .map_err(store_err)
        })
    }

    fn unfinished(
        &self,
        cluster_id: &str,
    ) -> StoreFuture<(Vec<QueuedCommand>, Vec<RunningCommand>)> {
        Box::pin(Self::unfinished_of(self.db.clone(), cluster_id.to_owned()))
    }
}

/// A stored pending command as a cluster actor queues it.
pub fn queued_command(row: &CommandRow) -> QueuedCommand {
    QueuedCommand {
        command: wire_command(row),
        topic: row.topic.clone(),
        created_at: from_db(row.created_at),
    }
}

/// A stored running command as a cluster actor holds it.
fn running_command(row: &CommandRow) -> RunningCommand {
    RunningCommand {
        command_id: row.command_id.clone(),
        action: row.action.clone(),
        started_at: row
            .started_at
            .map_or_else(|| from_db(row.created_at), from_db),
    }
}

/// The wire form of a stored command (what an agent receives).
pub fn wire_command(row: &CommandRow) -> Command {
    Command {
        id: row.command_id.as_str().into(),
        cluster_id: row.cluster_id.as_str().into(),
        action: row.action.as_str().into(),
        kind: row.target_kind.as_str().into(),
        namespace: row.target_namespace.as_str().into(),
        name: row.target_name.as_str().into(),
        params: serde_json::from_str(&row.params).unwrap_or_default(),
        source: row.source.as_str().into(),
        created_by: row.created_by.as_deref().unwrap_or_default().into(),
        created_at: atlhyper_actors::model::GoTime::from_utc(from_db(row.created_at)),
    }
}

/// Rebuilds what the registry starts from, and settles what the downtime decided:
/// pending commands older than the pending TTL become `expired`, running commands past
/// their result deadline become `timeout`.
pub async fn load_initial_state(
    db: &Db,
    pending_ttl: Duration,
    result_timeout: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<(ClusterInfo, Restore)>, DbError> {
    db.write(move |c| settle_and_load(c, pending_ttl, result_timeout, now))
        .await
}

/// The body of [`load_initial_state`], on the writer (it settles what the downtime decided).
fn settle_and_load(
    conn: &mut DbConn,
    pending_ttl: Duration,
    result_timeout: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<(ClusterInfo, Restore)>, DbError> {
    let mut out: BTreeMap<String, (ClusterInfo, Restore)> = BTreeMap::new();
    for row in clusters::list_all(conn)? {
        let restore = Restore {
            last_seen: row.last_seen_at.map(from_db),
            ..Restore::default()
        };
        out.insert(row.cluster_uid.clone(), (row.info(), restore));
    }
    let ttl = chrono::Duration::from_std(pending_ttl).unwrap_or(chrono::Duration::MAX);
    let result_to = chrono::Duration::from_std(result_timeout).unwrap_or(chrono::Duration::MAX);
    let (mut expired, mut timed_out, mut restored) = (0, 0, 0);
    for row in commands::load_unfinished(conn, None)? {
        let state = row.state()?;
        let entry = out.entry(row.cluster_id.clone()).or_insert_with(|| {
            let info = ClusterInfo {
                cluster_id: row.cluster_id.clone(),
                name: row.cluster_id.clone(),
                ..ClusterInfo::default()
            };
            (info, Restore::default())
        });
        let created = from_db(row.created_at);
        match state {
            CommandState::Pending if created + ttl <= now => {
                commands::transition(
                    conn,
                    &row.command_id,
                    &[CommandState::Pending],
                    CommandState::Expired,
                    now,
                )?;
                expired += 1;
            }
            CommandState::Pending => {
                entry.1.pending.push(queued_command(&row));
                restored += 1;
            }
            CommandState::Running => {
                let started = row.started_at.map_or(created, from_db);
                if started + result_to <= now {
                    commands::transition(
                        conn,
                        &row.command_id,
                        &[CommandState::Running],
                        CommandState::Timeout,
                        now,
                    )?;
                    timed_out += 1;
                } else {
                    entry.1.running.push(running_command(&row));
                    restored += 1;
                }
            }
            other => {
                warn!(command_id = %row.command_id, status = %other, "unexpected unfinished state")
            }
        }
    }
    info!(
        clusters = out.len(),
        restored, expired, timed_out, "state rebuilt from the database"
    );
    Ok(out.into_values().collect())
}
