//! `Registry`: the directory of cluster actors.
//!
//! **State it owns**: one entry per known cluster (its descriptive info and the address of
//! its supervised [`ClusterActor`]), and the draining flag.
//!
//! **Startup**: the service reads the store (known clusters, pending and running commands)
//! and passes it to [`Registry::new`]; `started()` starts one supervised actor per known
//! cluster, each restoring its commands. Clusters first seen later are started on demand
//! and registered in the store without delaying the agent's request.
//!
//! **Restart**: the map survives a restart of the registry actor; supervised cluster
//! actors keep their addresses across their own restarts.
//!
//! **A cluster actor that panics** is not restarted by its supervisor: the runtime drops
//! the task, and the actor with it. The registry notices the closed address (on the next
//! lookup of that cluster, and by a sweep every second) and starts a new actor in its
//! place, from the live state the dead one left in its [`Vault`] (snapshot, liveness,
//! agent) and the cluster's unfinished commands read again from the store. Other clusters
//! never notice; requests that were waiting on the dead actor get a mailbox error (`503`),
//! and nothing is published for the revival (no offline alert).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{error, info, warn};

use crate::cluster::{ClusterActor, ClusterConfig, Restore, Vault};
use crate::messages::{Bus, Drain};
use crate::store::Store;

/// Descriptive information about a cluster, from the store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterInfo {
    /// The cluster id agents send.
    pub cluster_id: String,
    /// Display name (defaults to the id).
    pub name: String,
    /// `prod`, `staging`, ... (may be empty).
    pub environment: String,
    /// Free text.
    pub description: String,
    /// When the master first knew it.
    pub created_at: Option<DateTime<Utc>>,
}

/// A known cluster and its actor.
#[derive(Clone)]
pub struct ClusterHandle {
    /// Its info.
    pub info: ClusterInfo,
    /// Its actor.
    pub addr: Addr<ClusterActor>,
}

struct Entry {
    info: ClusterInfo,
    addr: Addr<ClusterActor>,
    vault: Arc<Vault>,
    /// When its actor was last revived.
    revived_at: Option<std::time::Instant>,
}

/// An actor that dies again within this long of its revival is revived without the
/// snapshot it held (see [`crate::cluster::Saved::without_parsed_state`]).
const REVIVAL_WINDOW: Duration = Duration::from_secs(60);

/// How often the registry looks for cluster actors that died.
const SWEEP: Duration = Duration::from_secs(1);

/// The registry actor. See the module docs.
pub struct Registry {
    cfg: ClusterConfig,
    store: Arc<dyn Store>,
    bus: Bus,
    clusters: HashMap<Arc<str>, Entry>,
    initial: Vec<(ClusterInfo, Restore)>,
    max_clusters: usize,
    draining: bool,
    revived: Arc<AtomicU64>,
}

impl Registry {
    /// A registry that will start actors for `initial` clusters when it starts.
    /// `max_clusters` bounds how many clusters first contact may create.
    pub fn new(
        cfg: ClusterConfig,
        store: Arc<dyn Store>,
        bus: Bus,
        initial: Vec<(ClusterInfo, Restore)>,
        max_clusters: usize,
    ) -> Self {
        Self {
            cfg,
            store,
            bus,
            clusters: HashMap::new(),
            initial,
            max_clusters,
            draining: false,
            revived: Arc::default(),
        }
    }

    /// Counts the cluster actors revived after they died (for `/metrics`).
    pub fn revived_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.revived)
    }

    fn start_cluster(&mut self, info: ClusterInfo, restore: Restore) -> Addr<ClusterActor> {
        let id: Arc<str> = Arc::from(info.cluster_id.as_str());
        let vault = Arc::new(Vault::default());
        let addr = self.spawn_actor(&id, &vault, restore);
        self.clusters.insert(
            id,
            Entry {
                info,
                addr: addr.clone(),
                vault,
                revived_at: None,
            },
        );
        addr
    }

    fn spawn_actor(
        &self,
        id: &Arc<str>,
        vault: &Arc<Vault>,
        restore: Restore,
    ) -> Addr<ClusterActor> {
        let (cfg, store, bus, actor_id, vault) = (
            self.cfg.clone(),
            Arc::clone(&self.store),
            self.bus.clone(),
            Arc::clone(id),
            Arc::clone(vault),
        );
        Supervisor::start(move |_| {
            ClusterActor::new(actor_id, cfg, store, bus, restore).with_vault(vault)
        })
    }

    /// Starts a new actor for a cluster whose actor died, from what it left in its vault.
    fn revive(&mut self, id: &str) -> Option<Addr<ClusterActor>> {
        let (key, vault, again) = {
            let (k, e) = self.clusters.get_key_value(id)?;
            if e.addr.connected() {
                return Some(e.addr.clone());
            }
            let again = e.revived_at.is_some_and(|t| t.elapsed() < REVIVAL_WINDOW);
            (Arc::clone(k), Arc::clone(&e.vault), again)
        };
        let mut saved = vault.take().unwrap_or_default();
        if again {
            // Died again soon after its revival: perhaps what it holds makes it panic.
            saved = saved.without_parsed_state();
            error!(cluster_id = %id, "cluster actor died again within a minute of its revival; starting it without its snapshot");
        } else {
            error!(cluster_id = %id, state = ?saved, "cluster actor died (a panic); starting a new one from its state");
        }
        self.revived.fetch_add(1, Ordering::Relaxed);
        let restore = Restore {
            revived: Some(saved),
            ..Restore::default()
        };
        let addr = self.spawn_actor(&key, &vault, restore);
        if self.draining {
            addr.do_send(Drain);
        }
        if let Some(e) = self.clusters.get_mut(id) {
            e.addr = addr.clone();
            e.revived_at = Some(std::time::Instant::now());
        }
        Some(addr)
    }

    /// The live actor of a known cluster (revived if it died).
    fn live(&mut self, id: &str) -> Option<Addr<ClusterActor>> {
        match self.clusters.get(id) {
            Some(e) if e.addr.connected() => Some(e.addr.clone()),
            Some(_) => self.revive(id),
            None => None,
        }
    }

    fn sweep(&mut self) {
        let dead: Vec<Arc<str>> = self
            .clusters
            .iter()
            .filter(|(_, e)| !e.addr.connected())
            .map(|(k, _)| Arc::clone(k))
            .collect();
        for id in dead {
            self.revive(&id);
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        for (info, restore) in std::mem::take(&mut self.initial) {
            self.start_cluster(info, restore);
        }
        ctx.run_interval(SWEEP, |act, _| act.sweep());
        info!(clusters = self.clusters.len(), "registry started");
    }
}

impl Supervised for Registry {}

/// Find a cluster's actor; with `register`, start one on first contact.
#[derive(Message)]
#[rtype(result = "Result<Option<Addr<ClusterActor>>, RegistryFull>")]
pub struct Resolve {
    /// The cluster id.
    pub cluster_id: String,
    /// Create and register the cluster when unknown.
    pub register: bool,
}

/// First contact refused: the registry already holds `max_clusters` clusters.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("cluster limit reached")]
pub struct RegistryFull;

impl Handler<Resolve> for Registry {
    type Result = Result<Option<Addr<ClusterActor>>, RegistryFull>;

    fn handle(&mut self, msg: Resolve, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.live(&msg.cluster_id) {
            return Ok(Some(addr));
        }
        if !msg.register {
            return Ok(None);
        }
        if self.clusters.len() >= self.max_clusters {
            warn!(cluster_id = %msg.cluster_id, max = self.max_clusters, "cluster limit reached; first contact refused");
            return Err(RegistryFull);
        }
        let now = Utc::now();
        let info = ClusterInfo {
            cluster_id: msg.cluster_id.clone(),
            name: msg.cluster_id.clone(),
            created_at: Some(now),
            ..ClusterInfo::default()
        };
        info!(cluster_id = %msg.cluster_id, "new cluster registered on first contact");
        let fut = self.store.register_cluster(&msg.cluster_id, now);
        let id = msg.cluster_id.clone();
        ctx.spawn(
            async move {
                if let Err(e) = fut.await {
                    warn!(cluster_id = %id, error = %e, "could not store new cluster");
                }
            }
            .into_actor(self),
        );
        Ok(Some(self.start_cluster(info, Restore::default())))
    }
}

/// One known cluster and its actor.
#[derive(Message)]
#[rtype(result = "Option<ClusterHandle>")]
pub struct GetCluster {
    /// The cluster id.
    pub cluster_id: String,
}

impl Handler<GetCluster> for Registry {
    type Result = Option<ClusterHandle>;

    fn handle(&mut self, msg: GetCluster, _: &mut Context<Self>) -> Option<ClusterHandle> {
        let addr = self.live(&msg.cluster_id)?;
        self.clusters
            .get(msg.cluster_id.as_str())
            .map(|e| ClusterHandle {
                info: e.info.clone(),
                addr,
            })
    }
}

/// Adds a cluster (an admin created it) or updates its info.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpsertCluster {
    /// The cluster's info.
    pub info: ClusterInfo,
}

impl Handler<UpsertCluster> for Registry {
    type Result = ();

    fn handle(&mut self, msg: UpsertCluster, _: &mut Context<Self>) {
        match self.clusters.get_mut(msg.info.cluster_id.as_str()) {
            Some(e) => e.info = msg.info,
            None => {
                self.start_cluster(msg.info, Restore::default());
            }
        }
    }
}

/// Forgets a cluster: its parked polls are answered and its actor stops once the last
/// request holding its address is done. Replies whether it was known.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct ForgetCluster {
    /// The cluster id.
    pub cluster_id: String,
}

impl Handler<ForgetCluster> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: ForgetCluster, _: &mut Context<Self>) -> bool {
        match self.clusters.remove(msg.cluster_id.as_str()) {
            Some(e) => {
                info!(cluster_id = %msg.cluster_id, "cluster forgotten");
                e.addr.do_send(Drain);
                true
            }
            None => false,
        }
    }
}

/// List every known cluster, sorted by id.
#[derive(Message)]
#[rtype(result = "Vec<ClusterHandle>")]
pub struct ListClusters;

impl Handler<ListClusters> for Registry {
    type Result = MessageResult<ListClusters>;

    fn handle(&mut self, _: ListClusters, _: &mut Context<Self>) -> Self::Result {
        self.sweep();
        let mut all: Vec<ClusterHandle> = self
            .clusters
            .values()
            .map(|e| ClusterHandle {
                info: e.info.clone(),
                addr: e.addr.clone(),
            })
            .collect();
        all.sort_by(|a, b| a.info.cluster_id.cmp(&b.info.cluster_id));
        MessageResult(all)
    }
}

/// Shutdown: every cluster answers its parked polls now and every later poll at once.
/// Replies with the last-seen time of every cluster, for the store.
#[derive(Message)]
#[rtype(result = "Vec<(String, DateTime<Utc>)>")]
pub struct DrainAll;

impl Handler<DrainAll> for Registry {
    type Result = ResponseFuture<Vec<(String, DateTime<Utc>)>>;

    fn handle(&mut self, _: DrainAll, _: &mut Context<Self>) -> Self::Result {
        // A dead actor is revived first, so its last sign of life is saved too.
        self.sweep();
        self.draining = true;
        let addrs: Vec<(String, Addr<ClusterActor>)> = self
            .clusters
            .iter()
            .map(|(k, e)| (k.to_string(), e.addr.clone()))
            .collect();
        Box::pin(async move {
            let replies = futures_util::future::join_all(
                addrs
                    .into_iter()
                    .map(|(id, a)| async move { (id, a.send(Drain).await.ok().flatten()) }),
            )
            .await;
            replies
                .into_iter()
                .filter_map(|(id, seen)| seen.map(|s| (id, s)))
                .collect()
        })
    }
}

/// The registry's own counters (`/metrics`).
#[derive(Message)]
#[rtype(result = "RegistryStats")]
pub struct GetRegistryStats;

/// See [`GetRegistryStats`].
#[derive(Debug, Clone, Copy, Default, MessageResponse)]
pub struct RegistryStats {
    /// Cluster actors started again after they died (a panic) since the master started.
    pub revived: u64,
}

impl Handler<GetRegistryStats> for Registry {
    type Result = RegistryStats;

    fn handle(&mut self, _: GetRegistryStats, _: &mut Context<Self>) -> RegistryStats {
        RegistryStats {
            revived: self.revived.load(Ordering::Relaxed),
        }
    }
}
