//! `MetricsPersister`: node hardware metrics, latest and sampled history (seed 001).
//!
//! - **Owns** its `SnapshotReceived` subscription (latest wins per cluster, so when it falls
//!   behind it sees only the newest snapshot of each cluster) and the sampling state: the
//!   time of the last history row of every (cluster, node).
//! - **Per snapshot** it writes one transaction: the cluster row, an upsert of every node's
//!   latest row, and a history row for each node whose last sample is at least
//!   `metrics_sample_interval` older than the node's own timestamp (the receive time when
//!   the node sent the zero time).
//! - **Survives a restart:** everything it wrote. `started()` rebuilds the sampling state
//!   from `MAX(timestamp)` per (cluster, node) in the history, before it takes the first
//!   snapshot, so a restart never samples twice inside one interval.
//! - Snapshots are handled one at a time (`ctx.wait`), so writes commit in arrival order.
//! - **Lag:** when a snapshot's transaction commits (or it has no node metrics), the time
//!   since the master received it goes to
//!   `atlhyper_persister_lag_seconds{persister="metrics_persister"}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use atlhyper_actors::supervise::StartSupervised as _;
use chrono::{DateTime, Utc};

use atlhyper_actors::bus::Subscription;
use atlhyper_actors::messages::{Bus, SnapshotReceived};
use atlhyper_actors::model::KeyMetrics;

use crate::config::Settings;
use crate::db::metrics::{NewHistory, NewLatest};
use crate::db::{from_db, to_db, Db};
use crate::metrics::Metrics;

/// This persister's name on the bus and in metrics.
const NAME: &str = "metrics_persister";

/// Handle to the running actor of this module.
#[derive(Clone, Default)]
pub struct Handle {
    addr: Option<Addr<MetricsPersister>>,
}

impl Handle {
    /// Waits until everything received so far is written (tests, shutdown).
    pub async fn flush(&self) {
        if let Some(addr) = &self.addr {
            if addr.send(Flush).await.is_err() {
                tracing::warn!("metrics persister is gone; nothing to flush");
            }
        }
    }
}

/// Starts the persister, subscribed to the bus, recording its lag into `metrics`. Runs
/// inside the actix System.
pub fn start(db: &Db, bus: &Bus, settings: &Arc<Settings>, metrics: &Metrics) -> Handle {
    let sub = Arc::new(bus.snapshots.subscribe(NAME));
    let addr = MetricsPersister {
        db: db.clone(),
        sub,
        interval: settings.metrics_sample_interval,
        last_sample: HashMap::new(),
        metrics: metrics.clone(),
    }
    .start_supervised("metrics_persister");
    Handle { addr: Some(addr) }
}

/// Writes what has been received so far, then answers.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

/// Persists node metrics from snapshots.
pub struct MetricsPersister {
    db: Db,
    sub: Arc<Subscription<SnapshotReceived>>,
    interval: Duration,
    /// (cluster, node) → timestamp of its newest history row.
    last_sample: HashMap<(Arc<str>, String), DateTime<Utc>>,
    metrics: Metrics,
}

impl Actor for MetricsPersister {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        // `wait` holds the stream back until the sampling state is rebuilt.
        ctx.wait(
            async move { db.node_metrics().last_samples().await }
                .into_actor(self)
                .map(|res, act, _| match res {
                    Ok(rows) => {
                        for (cluster, node, at) in rows {
                            act.last_sample
                                .insert((Arc::from(cluster), node), from_db(at));
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot rebuild metrics sampling state"),
                }),
        );
        let stream = futures_util::stream::unfold(Arc::clone(&self.sub), |sub| async move {
            let m = sub.recv().await?;
            Some((m, sub))
        });
        ctx.add_stream(stream);
    }
}

/// Restarted in place after a panic ([`atlhyper_actors::supervise`]); `started` rebuilds
/// what it keeps in memory from the database.
impl Supervised for MetricsPersister {
    /// Forget what the panic may have left half-updated; `started` reloads it.
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.last_sample.clear();
    }
}

/// One snapshot's rows, ready for the writer.
struct Batch {
    cluster_id: Arc<str>,
    received_at: DateTime<Utc>,
    latest: Vec<NewLatest>,
    history: Vec<NewHistory>,
}

impl MetricsPersister {
    /// Builds the rows of one snapshot and advances the sampling state.
    fn prepare(&mut self, msg: &SnapshotReceived) -> Batch {
        let mut batch = Batch {
            cluster_id: Arc::clone(&msg.cluster_id),
            received_at: msg.received_at,
            latest: Vec::with_capacity(msg.snapshot.node_metrics.len()),
            history: Vec::new(),
        };
        for (node, m) in &msg.snapshot.node_metrics {
            let at = m.timestamp.to_utc().unwrap_or(msg.received_at);
            let key = KeyMetrics::of(m);
            let snapshot = match serde_json::to_string(m) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(cluster_id = %msg.cluster_id, node = %node, error = %e, "unserialisable node metrics");
                    continue;
                }
            };
            batch.latest.push(NewLatest {
                cluster_id: msg.cluster_id.to_string(),
                node_name: node.to_string(),
                timestamp: to_db(at),
                snapshot,
                cpu_usage: key.cpu,
                mem_usage: key.mem,
                disk_usage: key.disk,
                temperature: key.temp,
                updated_at: to_db(msg.received_at),
            });
            if self.should_sample(&msg.cluster_id, node, at) {
                batch.history.push(NewHistory {
                    cluster_id: msg.cluster_id.to_string(),
                    node_name: node.to_string(),
                    timestamp: to_db(at),
                    cpu_usage: key.cpu,
                    mem_usage: key.mem,
                    disk_usage: key.disk,
                    net_rx_bytes: key.rx,
                    net_tx_bytes: key.tx,
                    temperature: key.temp,
                });
            }
        }
        batch
    }

    /// True (and remembered) when `at` is a full interval away from the last sample. A
    /// clock that jumped back by more than an interval samples again rather than going
    /// silent until it catches up.
    fn should_sample(&mut self, cluster: &Arc<str>, node: &str, at: DateTime<Utc>) -> bool {
        let key = (Arc::clone(cluster), node.to_owned());
        let due = match self.last_sample.get(&key) {
            None => true,
            Some(last) => (at - *last)
                .abs()
                .to_std()
                .is_ok_and(|gap| gap >= self.interval),
        };
        if due {
            self.last_sample.insert(key, at);
        }
        due
    }
}

/// Commits one batch through the single writer, then records the snapshot's lag.
async fn commit(db: Db, batch: Batch, metrics: Metrics) {
    let received_at = batch.received_at;
    if batch.latest.is_empty() {
        metrics.persisted(NAME, received_at);
        return;
    }
    let cluster_id = Arc::clone(&batch.cluster_id);
    let res = db
        .node_metrics()
        .persist(
            batch.cluster_id,
            batch.received_at,
            batch.latest,
            batch.history,
        )
        .await;
    match res {
        Ok(()) => metrics.persisted(NAME, received_at),
        Err(e) => {
            metrics.persist_failed(NAME);
            tracing::error!(cluster_id = %cluster_id, error = %e, "node metrics not persisted");
        }
    }
}

impl StreamHandler<SnapshotReceived> for MetricsPersister {
    /// The bus closed (shutdown): stay alive, so the final `Flush` is answered after the
    /// last write instead of finding the actor gone. It stops with the System.
    fn finished(&mut self, _: &mut Context<Self>) {}

    #[tracing::instrument(skip_all, fields(cluster_id = %msg.cluster_id))]
    fn handle(&mut self, msg: SnapshotReceived, ctx: &mut Context<Self>) {
        let batch = self.prepare(&msg);
        ctx.wait(commit(self.db.clone(), batch, self.metrics.clone()).into_actor(self));
    }
}

impl Handler<Flush> for MetricsPersister {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        // The snapshots still waiting in the subscription count as received.
        let mut batches = Vec::new();
        while let Some(msg) = self.sub.try_recv() {
            batches.push(self.prepare(&msg));
        }
        let (db, metrics) = (self.db.clone(), self.metrics.clone());
        AtomicResponse::new(Box::pin(
            async move {
                for batch in batches {
                    commit(db.clone(), batch, metrics.clone()).await;
                }
            }
            .into_actor(self),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use atlhyper_actors::model::NodeMetricsSnapshot;

    #[test]
    fn key_metrics_use_root_disk_and_sum_non_loopback_interfaces() {
        let m: NodeMetricsSnapshot = serde_json::from_value(serde_json::json!({
            "cpu": {"usage_percent": 12.5},
            "memory": {"usage_percent": 40.0},
            "disks": [
                {"mount_point": "/data", "usage_percent": 90.0},
                {"mount_point": "/", "usage_percent": 33.0}
            ],
            "networks": [
                {"interface": "lo", "status": "up", "rx_rate": 1000.0, "tx_rate": 1000.0},
                {"interface": "eth0", "status": "up", "rx_rate": 10.0, "tx_rate": 20.0},
                {"interface": "eth1", "status": "down", "rx_rate": 1.5, "tx_rate": 2.5}
            ],
            "temperature": {"cpu_temp": 55.0}
        }))
        .unwrap();
        let k = KeyMetrics::of(&m);
        assert_eq!(
            k,
            KeyMetrics {
                cpu: 12.5,
                mem: 40.0,
                disk: 33.0,
                rx: 11.5,
                tx: 22.5,
                temp: 55.0
            }
        );
    }

    #[test]
    fn key_metrics_fall_back_to_first_disk() {
        let m: NodeMetricsSnapshot = serde_json::from_value(serde_json::json!({
            "disks": [{"mount_point": "/a", "usage_percent": 7.0}, {"mount_point": "/b", "usage_percent": 8.0}]
        }))
        .unwrap();
        assert_eq!(KeyMetrics::of(&m).disk, 7.0);
        assert_eq!(KeyMetrics::of(&NodeMetricsSnapshot::default()).disk, 0.0);
    }
}
