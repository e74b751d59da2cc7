//! Replicas: what the other replicas relayed, applied to this replica's actors and bus
//! (see `crate::hub`). It lives beside the agent handlers because it finishes their work
//! elsewhere: a relayed snapshot is decoded and parsed exactly as a pushed one is.
//!
//! - Relays are applied **in arrival order** by one task, so a cluster's status changes
//!   and a command's lifecycle arrive at its actor in the order they were made.
//! - Bodies (snapshots, SLO pushes) are fetched and parsed off that task, **latest wins**
//!   per cluster: while one is being parsed, newer notices only mark it for one more fetch.
//! - Every few seconds, and whenever the subscription comes back, the mailboxes are
//!   resynchronised from PostgreSQL (pending and running commands), so a lost relay delays
//!   a command by at most that long and never loses it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use atlhyper_actors::command::CommandState;
use atlhyper_actors::messages::{
    AgentMeta, AlertChanged, ApplySnapshot, EnqueueCommand, GetParseBase, GetStatus, Heartbeat,
    Liveness, MirrorCommand, MirrorStatus, PruneFinished, SloEvaluated, SloPushed, Touch,
};
use atlhyper_actors::model::SloPushRequest;
use atlhyper_actors::registry::{ForgetCluster, ListClusters, UpsertCluster};

use super::body::{self, Encoding};
use crate::db::from_db;
use crate::hub::{Blob, BlobKind, Relay};
use crate::state::AppState;

/// Entries younger than this are never pruned by a resync (clock skew between replicas,
/// and a command created while the database was being read).
const PRUNE_MARGIN_SECS: i64 = 5;

/// How often the mailboxes are resynchronised from PostgreSQL.
const RESYNC_EVERY: Duration = Duration::from_secs(5);

/// Applies relays to `state`. See the module docs.
pub struct Applier {
    state: AppState,
    tx: mpsc::UnboundedSender<Relay>,
    /// Bodies being fetched: `true` when a newer notice came meanwhile.
    fetching: Mutex<HashMap<(BlobKindKey, String), bool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BlobKindKey {
    Snapshot,
    Slo,
}

impl Applier {
    /// Starts the in-order task and the periodic resync; give the result to
    /// [`crate::hub::Link::start`].
    pub fn start(state: AppState) -> Arc<Applier> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let me = Arc::new(Applier {
            state,
            tx,
            fetching: Mutex::new(HashMap::new()),
        });
        let worker = Arc::clone(&me);
        actix_web::rt::spawn(async move {
            while let Some(r) = rx.recv().await {
                worker.apply(r).await;
            }
        });
        let periodic = Arc::clone(&me);
        actix_web::rt::spawn(async move {
            let mut shutdown = periodic.state.shutdown.clone();
            loop {
                tokio::select! {
                    () = tokio::time::sleep(RESYNC_EVERY) => {}
                    _ = shutdown.changed() => return,
                }
                periodic.resync_commands().await;
                periodic.announce_owned().await;
            }
        });
        me
    }

    async fn actor(&self, c: &str) -> Option<actix::Addr<atlhyper_actors::cluster::ClusterActor>> {
        match self.state.cluster(c, true).await {
            Ok(a) => Some(a),
            Err(e) => {
                warn!(cluster_id = c, error = %e.message(), "relay for a cluster this replica cannot hold");
                None
            }
        }
    }

    async fn apply(self: &Arc<Self>, r: Relay) {
        match r {
            Relay::Snapshot { c } => self.fetch(BlobKindKey::Snapshot, c),
            Relay::Slo { c } => self.fetch(BlobKindKey::Slo, c),
            Relay::Heartbeat { c, agent, contact } => {
                if let Some(a) = self.actor(&c).await {
                    if let Some(contact) = contact {
                        a.do_send(contact);
                    }
                    a.do_send(Heartbeat {
                        agent: agent.map(|m| AgentMeta {
                            agent_version: m.agent_version,
                            hostname: m.hostname,
                            ip: m.ip,
                            ..AgentMeta::default()
                        }),
                    });
                }
            }
            Relay::Touch { c } => {
                if let Ok(a) = self.state.cluster(&c, false).await {
                    a.do_send(Touch);
                }
            }
            Relay::Status { c, m } => {
                if let Some(a) = self.actor(&c).await {
                    a.do_send(m);
                }
            }
            Relay::Enqueued { c, q } => {
                if let Some(a) = self.actor(&c).await {
                    a.do_send(EnqueueCommand {
                        queued: q,
                        mirrored: true,
                    });
                }
            }
            Relay::Command { c, m } => {
                if let Ok(a) = self.state.cluster(&c, false).await {
                    a.do_send(m);
                }
            }
            Relay::SloEvaluated { c, routes, at } => {
                self.state.bus.slo_evaluated.publish(SloEvaluated {
                    cluster_id: Arc::from(c.as_str()),
                    routes: Arc::new(routes),
                    at,
                    mirrored: true,
                });
            }
            Relay::Alert {
                c,
                uid,
                rule,
                status,
                resource,
                at,
            } => {
                self.state.bus.alerts.publish(AlertChanged {
                    alert_uid: Arc::from(uid.as_str()),
                    cluster_id: Arc::from(c.as_str()),
                    rule,
                    status: if status == "resolved" {
                        "resolved"
                    } else {
                        "firing"
                    },
                    resource,
                    at,
                    mirrored: true,
                });
            }
            Relay::Cluster { c, exists } => self.cluster_changed(&c, exists).await,
            Relay::NotifyReload => self.state.notify.reload_here().await,
        }
    }

    async fn cluster_changed(&self, c: &str, exists: bool) {
        let registry = &self.state.registry;
        if !exists {
            let _ = registry
                .send(ForgetCluster {
                    cluster_id: c.to_owned(),
                })
                .await;
            return;
        }
        match self.state.db.clusters().get(c).await {
            Ok(Some(row)) => {
                let _ = registry.send(UpsertCluster { info: row.info() }).await;
            }
            Ok(None) => {}
            Err(e) => warn!(cluster_id = c, error = %e, "cannot read a relayed cluster change"),
        }
    }

    /// Starts fetching the latest body of `kind` for `c`, unless a fetch is running (then
    /// that fetch goes once more when it is done).
    fn fetch(self: &Arc<Self>, kind: BlobKindKey, c: String) {
        {
            let mut f = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(again) = f.get_mut(&(kind, c.clone())) {
                *again = true;
                return;
            }
            f.insert((kind, c.clone()), false);
        }
        let me = Arc::clone(self);
        actix_web::rt::spawn(async move {
            loop {
                me.fetch_once(kind, &c).await;
                let mut f = me.fetching.lock().unwrap_or_else(|e| e.into_inner());
                match f.get_mut(&(kind, c.clone())) {
                    Some(again) if *again => *again = false,
                    _ => {
                        f.remove(&(kind, c.clone()));
                        return;
                    }
                }
            }
        });
    }

    async fn fetch_once(&self, kind: BlobKindKey, c: &str) {
        let Some(link) = self.state.hub.link() else {
            return;
        };
        let bk = match kind {
            BlobKindKey::Snapshot => BlobKind::Snapshot,
            BlobKindKey::Slo => BlobKind::Slo,
        };
        let blob = match link.fetch_blob(bk, c).await {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => {
                warn!(cluster_id = c, error = %e, "cannot fetch a relayed body");
                return;
            }
        };
        let outcome = match kind {
            BlobKindKey::Snapshot => self.apply_snapshot(c, blob).await,
            BlobKindKey::Slo => self.apply_slo(c, blob).await,
        };
        if let Err(e) = outcome {
            warn!(cluster_id = c, error = %e, "a relayed body was not applied");
        }
    }

    async fn apply_snapshot(&self, c: &str, blob: Blob) -> anyhow::Result<()> {
        let addr = self
            .actor(c)
            .await
            .ok_or_else(|| anyhow::anyhow!("no actor"))?;
        let base = addr.send(GetParseBase).await?;
        let permit = Arc::clone(&self.state.decode_permits)
            .acquire_owned()
            .await?;
        let max = self.state.settings.agent_max_snapshot;
        let (mut snapshot, memo, bytes) = actix_web::web::block(move || {
            let _permit = permit;
            let enc = if blob.gzip {
                Encoding::Gzip
            } else {
                Encoding::Identity
            };
            let json = body::decode(blob.body, enc, max)?;
            let (s, memo, _) = body::parse_snapshot(&json, base.as_ref())?;
            Ok::<_, crate::error::ApiError>((s, memo, json.len() as u64))
        })
        .await?
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        snapshot.cluster_id = c.into();
        let applied = addr
            .send(ApplySnapshot {
                snapshot: Arc::new(snapshot),
                bytes,
                received_at: blob.received_at,
                memo: memo.map(Arc::new),
            })
            .await?;
        if let Some(garbage) = applied.garbage {
            actix_web::rt::task::spawn_blocking(move || drop(garbage));
        }
        debug!(
            cluster_id = c,
            applied = applied.applied,
            "relayed snapshot"
        );
        Ok(())
    }

    async fn apply_slo(&self, c: &str, blob: Blob) -> anyhow::Result<()> {
        let addr = self
            .actor(c)
            .await
            .ok_or_else(|| anyhow::anyhow!("no actor"))?;
        let max = self.state.settings.agent_max_snapshot;
        let mut push = actix_web::web::block(move || {
            let enc = if blob.gzip {
                Encoding::Gzip
            } else {
                Encoding::Identity
            };
            let json = body::decode(blob.body, enc, max)?;
            body::parse_object::<SloPushRequest>(&json)
        })
        .await?
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        push.cluster_id = c.into();
        addr.send(SloPushed {
            cluster_id: Arc::from(c),
            push: Arc::new(push),
            received_at: blob.received_at,
            epoch: 0,
        })
        .await?;
        Ok(())
    }

    /// Repeats the liveness of every cluster this replica owns. The owner relays its
    /// transitions as they happen; this is for the replicas that were not there to hear
    /// them (one that just started holds every cluster as not heard from).
    async fn announce_owned(&self) {
        let Ok(all) = self.state.registry.send(ListClusters).await else {
            return;
        };
        let roles = self.state.hub.roles();
        for h in all.into_iter().filter(|h| roles.owns(&h.info.cluster_id)) {
            let Ok(v) = h.addr.send(GetStatus).await else {
                continue;
            };
            if v.liveness == Liveness::Unknown {
                continue;
            }
            self.state.hub.relay(Relay::Status {
                c: v.cluster_id,
                m: MirrorStatus {
                    status: v.liveness,
                    previous: v.liveness,
                    at: v.offline_since.unwrap_or_else(Utc::now),
                    last_seen: v.last_seen,
                },
            });
        }
    }

    /// Hands every pending command to its cluster's actor and tells it of every running
    /// one (the actor ignores what it already holds).
    async fn resync_commands(&self) {
        // Anything queued or running here since before this read that the database no
        // longer holds as unfinished finished elsewhere (its relay was lost).
        let before = Utc::now() - chrono::TimeDelta::seconds(PRUNE_MARGIN_SECS);
        let rows = match self.state.db.commands().unfinished().await {
            Ok(rows) => rows,
            Err(e) => {
                warn!(error = %e, "cannot resynchronise commands");
                return;
            }
        };
        let mut active: HashMap<String, (HashSet<String>, HashSet<String>)> = HashMap::new();
        for row in &rows {
            let (all, running) = active.entry(row.cluster_id.clone()).or_default();
            all.insert(row.command_id.clone());
            if row.status == CommandState::Running.as_str() {
                running.insert(row.command_id.clone());
            }
        }
        if let Ok(all) = self.state.registry.send(ListClusters).await {
            for h in all {
                let (active, running) = active.remove(&h.info.cluster_id).unwrap_or_default();
                h.addr.do_send(PruneFinished {
                    active,
                    running,
                    before,
                });
            }
        }
        for row in rows {
            let Ok(state) = row.state() else { continue };
            let Ok(addr) = self.state.cluster(&row.cluster_id, true).await else {
                continue;
            };
            match state {
                CommandState::Pending => addr.do_send(EnqueueCommand {
                    queued: crate::db::store::queued_command(&row),
                    mirrored: true,
                }),
                CommandState::Running => addr.do_send(MirrorCommand {
                    command_id: row.command_id.clone(),
                    action: row.action.clone(),
                    status: CommandState::Running,
                    at: row.started_at.map_or_else(Utc::now, from_db),
                }),
                _ => {}
            }
        }
    }
}

impl crate::hub::link::Receiver for Applier {
    fn receive(&self, relay: Relay) {
        let _ = self.tx.send(relay);
    }

    fn resync(&self) {
        // Run on the in-order task's side: a resync is itself harmless to repeat.
        let state = self.state.clone();
        let me = Applier {
            state,
            tx: self.tx.clone(),
            fetching: Mutex::new(HashMap::new()),
        };
        actix_web::rt::spawn(async move { me.resync_commands().await });
    }
}
