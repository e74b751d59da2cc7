//! `ChangePersister`: records what changed between a cluster's snapshots.
//!
//! - **Owns** a subscription to `SnapshotReceived` (latest wins per cluster: a persister
//!   that falls behind diffs against the last snapshot it handled, so a change is never
//!   lost, only possibly merged with the next one), and per cluster the [`Inventory`] it
//!   last diffed, the time of the last periodic snapshot and which objects were noisy.
//! - **Per snapshot:** the inventory of the new snapshot is diffed against the previous
//!   one; the changes and the new inventory are written in one transaction. The first
//!   snapshot of a cluster is its baseline: no change rows, one `periodic_snapshot`.
//! - **Bounded.** Pod churn and metrics are not in the inventory; an object that changes
//!   more than [`MAX_ROWS_PER_HOUR`] times an hour in one way is folded into its latest
//!   row (`count` grows, `before` stays); one snapshot yields at most
//!   [`MAX_CHANGES_PER_SNAPSHOT`](super::inventory::MAX_CHANGES_PER_SNAPSHOT) rows.
//! - **Periodic snapshots:** the first snapshot of each UTC day writes one, tiered for
//!   retention: `quarter` (first of January, April, July, October), `month` (first of
//!   another month) or `day`.
//! - **Survives a restart:** the inventories are stored (`change_state`), so the first
//!   snapshot after a restart is diffed against the last one recorded, and nothing is
//!   recorded twice. The state is written only when it changed.
//! - Strictly sequential (`ctx.wait`); the memory moves only once the transaction commits,
//!   so a failed write is retried, whole, with the next snapshot.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use actix::prelude::*;
use atlhyper_actors::supervise::StartSupervised as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use atlhyper_actors::bus::Subscription;
use atlhyper_actors::messages::{Bus, SnapshotReceived};

use super::inventory::{diff, Change, Inventory, VERSION};
use crate::db::changes::NewChange;
use crate::db::{from_db, Db};
use crate::metrics::Metrics;
use crate::persist::flush::Flush;

/// This persister's name on the bus and in metrics.
const NAME: &str = "change_persister";

/// Rows one object may get per change type and hour before its changes are folded.
pub const MAX_ROWS_PER_HOUR: usize = 6;

/// Failed writes in a row after which a cluster starts again from a new baseline (a
/// change the database keeps refusing must not stop its history for good).
const MAX_FAILURES: u32 = 3;

/// `(kind, namespace, name, change_type)`.
type ObjectKey = (&'static str, String, String, &'static str);

/// What the persister remembers of one cluster.
#[derive(Debug, Default, Clone)]
pub struct ClusterMemory {
    /// The inventory last recorded (`None` before the baseline).
    pub inventory: Option<Inventory>,
    /// The day of the last periodic snapshot.
    pub last_periodic: Option<NaiveDate>,
    /// Row insert times in the last hour, per object and change type.
    pub recent: HashMap<ObjectKey, VecDeque<DateTime<Utc>>>,
    /// Failed writes in a row.
    pub failures: u32,
    /// Replicas: the ownership epoch this memory belongs to (see
    /// [`SnapshotReceived::epoch`]); a snapshot with another epoch reloads the cluster's
    /// memory from the database first, where the previous owner left it.
    pub epoch: u64,
}

/// The work one snapshot needs.
#[derive(Debug)]
pub struct Plan {
    /// Rows to write or fold.
    pub rows: Vec<NewChange>,
    /// The serialized inventory to store, when it changed.
    pub state: Option<String>,
    /// The memory once the rows are committed.
    pub memory: ClusterMemory,
    /// Whether the rows were found against a stored inventory (not a baseline).
    pub diffed: bool,
}

/// The retention tier of a periodic snapshot taken on `day`, the previous one on `last`.
pub fn tier(day: NaiveDate, last: Option<NaiveDate>) -> &'static str {
    let first_of_month = last.is_none_or(|l| (l.year(), l.month()) != (day.year(), day.month()));
    match (first_of_month, day.month()) {
        (true, 1 | 4 | 7 | 10) => "quarter",
        (true, _) => "month",
        (false, _) => "day",
    }
}

impl ClusterMemory {
    /// Plans the snapshot whose inventory is `inv`, taken at `at`.
    pub fn plan(&self, mut inv: Inventory, at: DateTime<Utc>) -> Plan {
        let mut memory = ClusterMemory {
            inventory: None,
            last_periodic: self.last_periodic,
            recent: self.recent.clone(),
            failures: 0,
            epoch: self.epoch,
        };
        let diffed = self.inventory.as_ref().is_some_and(|p| p.v == VERSION);
        let mut rows = Vec::new();
        let changes: Vec<Change> = match &self.inventory {
            Some(prev) if prev.v == VERSION => diff(prev, &mut inv),
            _ => Vec::new(),
        };
        let hour_ago = at - Duration::hours(1);
        memory.recent.retain(|_, times| {
            while times.front().is_some_and(|t| *t < hour_ago) {
                times.pop_front();
            }
            !times.is_empty()
        });
        for c in changes {
            let key = (c.kind, c.namespace.clone(), c.name.clone(), c.change_type);
            let times = memory.recent.entry(key).or_default();
            let fold = times.len() >= MAX_ROWS_PER_HOUR;
            if !fold {
                times.push_back(at);
            }
            rows.push(NewChange {
                kind: c.kind.to_owned(),
                namespace: c.namespace,
                name: c.name,
                change_type: c.change_type.to_owned(),
                summary: c.summary,
                old_value: c.old_value,
                new_value: c.new_value,
                tier: String::new(),
                fold,
            });
        }
        let day = at.date_naive();
        let periodic = self.last_periodic != Some(day);
        if periodic {
            rows.push(NewChange {
                kind: "Cluster".into(),
                namespace: String::new(),
                name: String::new(),
                change_type: "periodic_snapshot".into(),
                summary: inv.census(),
                old_value: String::new(),
                new_value: inv.census_json(),
                tier: tier(day, self.last_periodic).into(),
                fold: false,
            });
            memory.last_periodic = Some(day);
        }
        let changed = self.inventory.as_ref() != Some(&inv);
        let state = changed.then(|| serde_json::to_string(&inv).unwrap_or_default());
        memory.inventory = Some(inv);
        Plan {
            rows,
            state,
            memory,
            diffed,
        }
    }
}

/// Records the changes of every snapshot.
pub struct ChangePersister {
    db: Db,
    sub: Arc<Subscription<SnapshotReceived>>,
    clusters: HashMap<Arc<str>, ClusterMemory>,
    metrics: Metrics,
}

/// Largest agent clock skew a snapshot's own time is trusted with.
const MAX_SKEW_SECS: i64 = 120;

/// The snapshot's own time (when the agent collected it), never later than its receipt
/// (an agent clock running ahead would hide its changes from "the last hour"); the
/// receive time when the agent's clock is off by more than [`MAX_SKEW_SECS`] either way,
/// or unset.
fn snapshot_time(msg: &SnapshotReceived) -> DateTime<Utc> {
    msg.snapshot
        .fetched_at
        .to_utc()
        .filter(|t| (*t - msg.received_at).num_seconds().abs() <= MAX_SKEW_SECS)
        .map_or(msg.received_at, |t| t.min(msg.received_at))
}

impl ChangePersister {
    fn apply(&mut self, msg: SnapshotReceived) -> Option<Work> {
        if msg.epoch != 0
            && self
                .clusters
                .get(&msg.cluster_id)
                .is_none_or(|m| m.epoch != msg.epoch)
        {
            return Some(self.reload_then_apply(msg));
        }
        let at = snapshot_time(&msg);
        let inv = Inventory::of(&msg.snapshot);
        let plan = match self.clusters.get(&msg.cluster_id) {
            Some(memory) => memory.plan(inv, at),
            None => ClusterMemory::default().plan(inv, at),
        };
        let cluster = msg.cluster_id;
        let received = msg.received_at;
        if plan.rows.is_empty() && plan.state.is_none() {
            self.clusters.insert(cluster, plan.memory);
            self.metrics.persisted(NAME, received);
            return None;
        }
        let db = self.db.clone();
        let (rows, state, memory, diffed) = (plan.rows, plan.state, plan.memory, plan.diffed);
        let c = Arc::clone(&cluster);
        let write = async move { db.changes().record(c, at, rows, state, diffed).await };
        Some(Box::pin(write.into_actor(self).map(
            move |res, act, _| match res {
                Ok(Some((inserted, folded))) => {
                    tracing::debug!(cluster_id = %cluster, inserted, folded, "changes recorded");
                    act.clusters.insert(cluster, memory);
                    act.metrics.persisted(NAME, received);
                }
                Ok(None) => {
                    // The cluster was deleted (and maybe registered again) since the last
                    // snapshot: its next snapshot is a new baseline.
                    tracing::info!(cluster_id = %cluster, "change history starts again from a new baseline");
                    act.clusters.remove(&cluster);
                    act.metrics.persisted(NAME, received);
                }
                Err(e) => {
                    act.metrics.persist_failed(NAME);
                    let failures = act.clusters.get_mut(&cluster).map_or(0, |m| {
                        m.failures += 1;
                        m.failures
                    });
                    if failures >= MAX_FAILURES {
                        tracing::error!(cluster_id = %cluster, error = %e, "change recording failed {failures} times in a row; the next snapshot is a new baseline");
                        act.clusters.remove(&cluster);
                    } else {
                        tracing::warn!(cluster_id = %cluster, error = %e, "change recording failed; retried with the next snapshot");
                    }
                }
            },
        )))
    }
}

impl ChangePersister {
    /// Replicas: this replica (again) owns the cluster, and the other owner may have
    /// recorded changes meanwhile. Its memory is read back from the stored state before
    /// the snapshot is diffed, so nothing is recorded twice and nothing is skipped.
    fn reload_then_apply(&mut self, msg: SnapshotReceived) -> Work {
        let db = self.db.clone();
        let c = Arc::clone(&msg.cluster_id);
        let load = async move { db.changes().memory_of(&c).await };
        Box::pin(load.into_actor(self).then(move |res, act, _| {
            let mut memory = ClusterMemory {
                epoch: msg.epoch,
                ..ClusterMemory::default()
            };
            match res {
                Ok((state, periodic)) => {
                    memory.inventory = state.and_then(|s| serde_json::from_str(&s).ok());
                    memory.last_periodic = periodic.map(|t| from_db(t).date_naive());
                }
                // Without it the snapshot is a new baseline: nothing is recorded twice.
                Err(e) => tracing::warn!(cluster_id = %msg.cluster_id, error = %e, "change memory not reloaded; a new baseline follows"),
            }
            act.clusters.insert(Arc::clone(&msg.cluster_id), memory);
            let work: Work = act.apply(msg).unwrap_or_else(|| Box::pin(fut::ready(())));
            work
        }))
    }
}

/// One pending write of the actor.
type Work = crate::persist::flush::Work<ChangePersister>;

impl Actor for ChangePersister {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let load = async move {
            let states = db.changes().states().await?;
            let periodic = db.changes().last_periodic().await?;
            Ok::<_, crate::db::DbError>((states, periodic))
        };
        ctx.wait(load.into_actor(self).map(|res, act, _| match res {
            Ok((states, periodic)) => {
                for (cluster, _, state) in states {
                    let inventory = serde_json::from_str::<Inventory>(&state).ok();
                    act.clusters
                        .entry(Arc::from(cluster))
                        .or_default()
                        .inventory = inventory;
                }
                for (cluster, t) in periodic {
                    act.clusters
                        .entry(Arc::from(cluster))
                        .or_default()
                        .last_periodic = Some(from_db(t).date_naive());
                }
                tracing::info!(
                    clusters = act.clusters.len(),
                    "change persister memory rebuilt"
                );
            }
            Err(e) => {
                // Without the memory each cluster's next snapshot is a new baseline: the
                // changes in between are not recorded, nothing is recorded twice.
                tracing::warn!(error = %e, "change persister could not rebuild its memory");
            }
        }));
        let sub = Arc::clone(&self.sub);
        ctx.add_stream(futures_util::stream::unfold(sub, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
    }
}

/// Restarted in place after a panic ([`atlhyper_actors::supervise`]); `started` rebuilds
/// what it keeps in memory from the database.
impl Supervised for ChangePersister {
    /// Forget what the panic may have left half-updated; `started` reloads it.
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.clusters.clear();
    }
}

impl StreamHandler<SnapshotReceived> for ChangePersister {
    /// The bus closed (shutdown): stay alive for the final `Flush`.
    fn finished(&mut self, _: &mut Context<Self>) {}

    fn handle(&mut self, msg: SnapshotReceived, ctx: &mut Context<Self>) {
        if let Some(work) = self.apply(msg) {
            ctx.wait(work);
        }
    }
}

impl Handler<Flush> for ChangePersister {
    type Result = ();

    fn handle(&mut self, msg: Flush, ctx: &mut Context<Self>) {
        let sub = Arc::clone(&self.sub);
        ctx.wait(crate::persist::flush::chain_pending(
            self,
            &sub,
            Self::apply,
            msg.done,
        ));
    }
}

/// Handle to the running actor.
pub type Handle = crate::persist::flush::Handle<ChangePersister>;

/// Starts the actor, subscribed to the bus, recording its lag into `metrics`. Runs inside
/// the actix System.
pub fn start(db: &Db, bus: &Bus, metrics: &Metrics) -> Handle {
    let sub = Arc::new(bus.snapshots.subscribe(NAME));
    let addr = ChangePersister {
        db: db.clone(),
        sub,
        clusters: HashMap::new(),
        metrics: metrics.clone(),
    }
    .start_supervised("change_persister");
    Handle::new(addr)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periodic_snapshots_are_tiered() {
        assert_eq!(tier(day("2026-04-01"), None), "quarter");
        assert_eq!(tier(day("2026-04-02"), Some(day("2026-04-01"))), "day");
        assert_eq!(tier(day("2026-05-03"), Some(day("2026-04-30"))), "month");
        assert_eq!(tier(day("2027-01-01"), Some(day("2026-12-31"))), "quarter");
    }

    fn scaled(n: i32) -> Inventory {
        Inventory::of(
            &serde_json::from_value(serde_json::json!({"deployments": [{
                "summary": {"name": "web", "namespace": "shop"}, "spec": {"replicas": n},
                "status": {"replicas": n, "updatedReplicas": n, "availableReplicas": n}}]}))
            .unwrap(),
        )
    }

    #[test]
    fn baseline_then_changes_then_a_noisy_object_folds() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let plan = ClusterMemory::default().plan(scaled(1), t0);
        assert_eq!(
            plan.rows.len(),
            1,
            "the baseline is a periodic snapshot only"
        );
        assert_eq!(plan.rows[0].change_type, "periodic_snapshot");
        assert!(plan.state.is_some());
        let mut memory = plan.memory;
        // Unchanged, same day: nothing to write at all.
        let plan = memory.plan(scaled(1), t0 + Duration::minutes(1));
        assert!(plan.rows.is_empty() && plan.state.is_none());
        // Scaled over and over within an hour: rows up to the limit, then folds.
        let mut folds = 0;
        for i in 0..10 {
            let plan = memory.plan(scaled(i + 2), t0 + Duration::minutes(2 + i64::from(i)));
            assert_eq!(plan.rows.len(), 1);
            folds += usize::from(plan.rows[0].fold);
            assert!(plan.state.is_some());
            memory = plan.memory;
        }
        assert_eq!(folds, 10 - MAX_ROWS_PER_HOUR);
        // An hour later rows are written again; the next day brings a periodic snapshot.
        let plan = memory.plan(scaled(50), t0 + Duration::minutes(75));
        assert!(!plan.rows[0].fold);
        let plan = plan.memory.plan(scaled(50), t0 + Duration::days(1));
        assert_eq!(plan.rows.len(), 1);
        assert_eq!(
            (
                plan.rows[0].change_type.as_str(),
                plan.rows[0].tier.as_str()
            ),
            ("periodic_snapshot", "day")
        );
    }
}
