//! The hub: what lets several masters serve one fleet (`MASTER_DATAHUB_TYPE=redis`).
//!
//! With one master (`memory`, the default) the hub is inert: this replica owns every
//! cluster and is the leader, and nothing is relayed.
//!
//! With replicas (`redis`, on a shared PostgreSQL):
//! - **Every replica holds the live picture of every cluster.** An agent request is applied
//!   to the local cluster actor of the replica it reached, and **relayed** through Redis
//!   ([`Relay`]) to every other replica, which applies it to its own actor: snapshots and
//!   SLO pushes as a blob under a key plus a notice (latest wins per cluster), heartbeats
//!   and signs of life inline. So a dashboard read on any replica is answered locally, at
//!   most one push behind.
//! - **One owner per cluster** ([`lease`]): a PostgreSQL advisory lock per cluster, held
//!   by one replica's lock session. The owner's actor decides (liveness, command
//!   deadlines) and its persisters write; followers repeat the owner's decisions, which the
//!   [`bridge`] relays. A dead replica's session ends, its locks go with it and the other
//!   replicas take its clusters over at their next pass.
//! - **One leader** (another advisory lock) runs the cluster-wide singletons: the notifier
//!   and its dispatcher, and the cleaner.
//! - **Commands** are shared through PostgreSQL (their compare-and-set state is the
//!   source of truth) and woken through Redis: a command created on one replica is relayed
//!   to all, and whichever replica holds the agent's long poll hands it out once.
//!
//! PostgreSQL stays the source of truth: if Redis goes away, each replica keeps serving
//! what reaches it, `/ready` says why it is degraded, and the link recovers by itself.

pub mod bridge;
pub mod lease;
pub mod link;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use atlhyper_actors::bus::{Keyed, Topic};
use atlhyper_actors::messages::{
    AgentContact, AgentSeen, Bus, ClusterStatusChanged, MirrorCommand, MirrorStatus, QueuedCommand,
    RouteBurn, SloPushed, SnapshotReceived,
};

pub use link::Link;

/// Which clusters this replica owns and whether it leads. Shared by the persisters (they
/// write only for owned clusters) and the singletons (they run only on the leader).
pub struct Roles {
    replicated: bool,
    owned: RwLock<HashMap<Arc<str>, u64>>,
    epochs: AtomicU64,
    leader: watch::Sender<bool>,
}

impl Roles {
    /// One master: it owns every cluster and leads.
    pub fn single() -> Arc<Roles> {
        Arc::new(Roles {
            replicated: false,
            owned: RwLock::default(),
            epochs: AtomicU64::new(1),
            leader: watch::channel(true).0,
        })
    }

    /// A replica: it owns nothing and follows until the lease loop says otherwise.
    pub fn replicated() -> Arc<Roles> {
        Arc::new(Roles {
            replicated: true,
            owned: RwLock::default(),
            epochs: AtomicU64::new(1),
            leader: watch::channel(false).0,
        })
    }

    /// True when this master runs as one of several replicas.
    pub fn is_replicated(&self) -> bool {
        self.replicated
    }

    /// True when this replica decides and writes for `cluster`.
    pub fn owns(&self, cluster: &str) -> bool {
        self.epoch(cluster).is_some()
    }

    /// The ownership epoch of `cluster` here: a number that changes at every takeover, so
    /// that a consumer with per-cluster memory can tell that its memory is from an earlier
    /// ownership (and another replica may have written since). `None` when not owned.
    pub fn epoch(&self, cluster: &str) -> Option<u64> {
        if !self.replicated {
            return Some(0);
        }
        self.owned
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(cluster)
            .copied()
    }

    /// How many clusters this replica owns (replicas only; 0 with one master).
    pub fn owned_count(&self) -> usize {
        self.owned.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True on the replica that runs the singletons.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// Follows the leadership (the notifier reloads its state when it becomes leader).
    pub fn watch_leader(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    pub(crate) fn set_owned(&self, cluster: &Arc<str>, owned: bool) {
        let mut map = self.owned.write().unwrap_or_else(|e| e.into_inner());
        if owned {
            let epoch = self.epochs.fetch_add(1, Ordering::Relaxed);
            map.insert(Arc::clone(cluster), epoch);
        } else {
            map.remove(cluster);
        }
    }

    pub(crate) fn set_leader(&self, leader: bool) {
        self.leader
            .send_if_modified(|l| std::mem::replace(l, leader) != leader);
    }
}

/// What one replica tells the others. Serialized as JSON on the relay channel; `o` is the
/// sender (a replica ignores its own messages).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending replica.
    pub o: String,
    /// The message.
    #[serde(flatten)]
    pub relay: Relay,
}

/// One relayed fact.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Relay {
    /// A snapshot was accepted: its body is under the cluster's blob key.
    Snapshot {
        /// The cluster.
        c: String,
    },
    /// An SLO push was accepted: its body is under the cluster's blob key.
    Slo {
        /// The cluster.
        c: String,
    },
    /// A heartbeat, with what its body and request told of the agent.
    Heartbeat {
        /// The cluster.
        c: String,
        /// Version, host name, IP from the body.
        agent: Option<HeartbeatMeta>,
        /// Where it came from.
        contact: Option<AgentContact>,
    },
    /// Any other agent request: a sign of life (sent at most once a second per cluster).
    Touch {
        /// The cluster.
        c: String,
    },
    /// The owner's liveness decision.
    Status {
        /// The cluster.
        c: String,
        /// The decision.
        m: MirrorStatus,
    },
    /// A new command, to be handed out by whichever replica holds the agent's poll.
    Enqueued {
        /// The cluster.
        c: String,
        /// The command.
        q: QueuedCommand,
    },
    /// A command moved on (running, or final).
    Command {
        /// The cluster.
        c: String,
        /// The change.
        m: MirrorCommand,
    },
    /// The owner's SLO evaluation.
    SloEvaluated {
        /// The cluster.
        c: String,
        /// The routes.
        routes: Vec<RouteBurn>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The leader's alert lifecycle, for the live feed.
    Alert {
        /// The cluster.
        c: String,
        /// The alert's uid.
        uid: String,
        /// The rule.
        rule: String,
        /// `firing` or `resolved`.
        status: String,
        /// `Kind/namespace/name`.
        resource: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Alert rules, silences, channels or the agent version catalogue changed: reload them.
    NotifyReload,
    /// A cluster was created, edited or forgotten by an administrator.
    Cluster {
        /// The cluster.
        c: String,
        /// False when it was forgotten.
        exists: bool,
    },
}

/// The heartbeat body's fields, as relayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatMeta {
    /// Agent version.
    pub agent_version: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// IP.
    pub ip: Option<String>,
}

/// The kind of a relayed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// `POST /agent/snapshot`.
    Snapshot,
    /// `POST /agent/slo`.
    Slo,
}

impl BlobKind {
    fn key_part(self) -> &'static str {
        match self {
            BlobKind::Snapshot => "snap",
            BlobKind::Slo => "slo",
        }
    }
}

/// A relayed body as another replica stored it: the bytes as the agent sent them.
#[derive(Debug, Clone)]
pub struct Blob {
    /// True when gzip.
    pub gzip: bool,
    /// When the receiving replica accepted it.
    pub received_at: DateTime<Utc>,
    /// The body.
    pub body: bytes::Bytes,
}

/// The hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    roles: Arc<Roles>,
    link: Option<Arc<Link>>,
}

impl Hub {
    /// One master: no relay, every cluster owned, always the leader.
    pub fn single() -> Hub {
        Hub {
            roles: Roles::single(),
            link: None,
        }
    }

    /// A replica relaying through `link`.
    pub fn replicated(link: Arc<Link>) -> Hub {
        Hub {
            roles: Roles::replicated(),
            link: Some(link),
        }
    }

    /// Ownership and leadership.
    pub fn roles(&self) -> &Arc<Roles> {
        &self.roles
    }

    /// The Redis link, with replicas.
    pub fn link(&self) -> Option<&Arc<Link>> {
        self.link.as_ref()
    }

    /// Tells the other replicas (never waits: a relay that fails is counted and logged,
    /// and the link's health says so).
    pub fn relay(&self, relay: Relay) {
        if let Some(link) = &self.link {
            link.publish(relay);
        }
    }

    /// Stores a body for the other replicas and tells them (see [`Relay::Snapshot`]).
    pub fn relay_blob(&self, kind: BlobKind, cluster: &str, blob: Blob) {
        if let Some(link) = &self.link {
            link.publish_blob(kind, cluster, blob);
        }
    }

    /// Why the hub is degraded, if it is (`/ready`).
    pub fn trouble(&self) -> Option<String> {
        self.link.as_ref().and_then(|l| l.trouble())
    }

    /// The bus the per-cluster persisters read: with one master, `bus` itself; with
    /// replicas, the snapshots, SLO pushes, agent changes and liveness decisions of the
    /// clusters this replica owns only, stamped with their ownership epoch. What the
    /// persisters publish (SLO evaluations) goes to `bus`.
    pub fn owned_bus(&self, bus: &Bus) -> Bus {
        if !self.roles.is_replicated() {
            return bus.clone();
        }
        let r = Arc::clone(&self.roles);
        let snapshots = forward(&bus.snapshots, "owned", move |mut m: SnapshotReceived| {
            m.epoch = r.epoch(&m.cluster_id)?;
            Some(m)
        });
        let r = Arc::clone(&self.roles);
        let slo = forward(&bus.slo, "owned", move |mut m: SloPushed| {
            m.epoch = r.epoch(&m.cluster_id)?;
            Some(m)
        });
        let r = Arc::clone(&self.roles);
        let agents = forward(&bus.agents, "owned", move |m: AgentSeen| {
            r.owns(&m.cluster_id).then_some(m)
        });
        let r = Arc::clone(&self.roles);
        let status = forward(&bus.status, "owned", move |m: ClusterStatusChanged| {
            (!m.mirrored && r.owns(&m.cluster_id)).then_some(m)
        });
        Bus {
            snapshots,
            slo,
            agents,
            status,
            ..bus.clone()
        }
    }

    /// The bus the singletons (the notifier) read: with one master, `bus` itself; with
    /// replicas, everything of every cluster while this replica leads, nothing otherwise.
    /// What the notifier publishes (alerts) goes to `bus`.
    pub fn leader_bus(&self, bus: &Bus) -> Bus {
        if !self.roles.is_replicated() {
            return bus.clone();
        }
        fn lead<M: Keyed>(roles: &Arc<Roles>, t: &Topic<M>) -> Topic<M> {
            let r = Arc::clone(roles);
            forward(t, "leader", move |m| r.is_leader().then_some(m))
        }
        Bus {
            snapshots: lead(&self.roles, &bus.snapshots),
            status: lead(&self.roles, &bus.status),
            commands: lead(&self.roles, &bus.commands),
            slo_evaluated: lead(&self.roles, &bus.slo_evaluated),
            agents: lead(&self.roles, &bus.agents),
            ..bus.clone()
        }
    }
}

/// Replicas: this replica became (`true`) or stopped being (`false`) the leader.
#[derive(Debug, Clone, Copy)]
pub struct LeaderChanged(pub bool);

/// Every change of the leadership `rx` follows, as a stream for a singleton actor
/// (`ctx.add_stream`); it ends when the roles are dropped.
pub fn leader_changes(
    rx: watch::Receiver<bool>,
) -> impl futures_util::Stream<Item = LeaderChanged> + Send + 'static {
    futures_util::stream::unfold(rx, |mut l| async move {
        l.changed().await.ok()?;
        let now = *l.borrow_and_update();
        Some((LeaderChanged(now), l))
    })
}

/// A topic fed from `from` with what `keep` lets through (latest wins on both sides). The
/// subscription is taken now, so nothing published after this call is missed; the new
/// topic closes when `from` does.
fn forward<M: Keyed>(
    from: &Topic<M>,
    name: &str,
    keep: impl Fn(M) -> Option<M> + Send + 'static,
) -> Topic<M> {
    let sub = from.subscribe(name);
    let to = Topic::new();
    let out = to.clone();
    actix_web::rt::spawn(async move {
        while let Some(m) = sub.recv().await {
            if let Some(m) = keep(m) {
                out.publish(m);
            }
        }
        out.close();
    });
    to
}
