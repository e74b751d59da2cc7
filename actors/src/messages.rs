//! Messages: what the actors publish on the [`Bus`], and what they answer.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::bus::{Keyed, Topic};
use crate::command::CommandState;
use crate::model::{Base, ClusterSnapshot, ClusterSummary, Command, GoTime, Memo, SloPushRequest};

/// Whether a cluster's agent is talking to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// Known from the database, not heard from since this master started.
    Unknown,
    /// An agent request arrived within the heartbeat timeout.
    Online,
    /// No agent request for longer than the heartbeat timeout.
    Offline,
}

impl Liveness {
    /// The API's two-valued status: a cluster not heard from is `offline`.
    pub fn api_str(self) -> &'static str {
        match self {
            Liveness::Online => "online",
            Liveness::Unknown | Liveness::Offline => "offline",
        }
    }
}

/// Published after a cluster actor has taken a new snapshot as its latest.
#[derive(Debug, Clone)]
pub struct SnapshotReceived {
    /// The cluster.
    pub cluster_id: Arc<str>,
    /// The snapshot now held by the actor (shared, never copied).
    pub snapshot: Arc<ClusterSnapshot>,
    /// When the master received it.
    pub received_at: DateTime<Utc>,
    /// Decompressed JSON size in bytes.
    pub bytes: u64,
    /// Replicas: the cluster's ownership epoch on this replica, stamped by the hub on the
    /// bus the persisters read (a changed epoch means another replica may have written for
    /// the cluster meanwhile). Always 0 with one master.
    pub epoch: u64,
}

impl Keyed for SnapshotReceived {
    type Key = Arc<str>;
    fn key(&self) -> Arc<str> {
        Arc::clone(&self.cluster_id)
    }
}

/// Published at every online/offline transition, exactly once per transition.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatusChanged {
    /// The cluster.
    pub cluster_id: Arc<str>,
    /// The new state.
    pub status: Liveness,
    /// The state before.
    pub previous: Liveness,
    /// When the transition was decided.
    pub at: DateTime<Utc>,
    /// The last agent request seen.
    pub last_seen: Option<DateTime<Utc>>,
    /// True when another replica decided it and this one only repeats it (replicas share
    /// decisions through the hub; only the deciding replica forwards it).
    #[serde(skip)]
    pub mirrored: bool,
}

impl Keyed for ClusterStatusChanged {
    type Key = Arc<str>;
    fn key(&self) -> Arc<str> {
        Arc::clone(&self.cluster_id)
    }
}

/// Published at every command state change.
#[derive(Debug, Clone, Serialize)]
pub struct CommandStateChanged {
    /// The command.
    pub command_id: Arc<str>,
    /// Its cluster.
    pub cluster_id: Arc<str>,
    /// Its action (`scale`, `get_logs`, ...).
    pub action: Arc<str>,
    /// The new state.
    pub status: CommandState,
    /// When it changed.
    pub at: DateTime<Utc>,
    /// True when another replica made the change and this one only repeats it.
    #[serde(skip)]
    pub mirrored: bool,
}

impl Keyed for CommandStateChanged {
    type Key = Arc<str>;
    fn key(&self) -> Arc<str> {
        Arc::clone(&self.command_id)
    }
}

/// Published when an alert starts firing or is resolved (after it is stored).
#[derive(Debug, Clone, Serialize)]
pub struct AlertChanged {
    /// The alert history row's uid.
    pub alert_uid: Arc<str>,
    /// The cluster.
    pub cluster_id: Arc<str>,
    /// The rule's name.
    pub rule: String,
    /// `firing` or `resolved`.
    pub status: &'static str,
    /// The resource identifier, `Kind/namespace/name`.
    pub resource: String,
    /// When.
    pub at: DateTime<Utc>,
    /// True when another replica's notifier decided it and this one only repeats it.
    #[serde(skip)]
    pub mirrored: bool,
}

impl Keyed for AlertChanged {
    type Key = Arc<str>;
    fn key(&self) -> Arc<str> {
        Arc::clone(&self.alert_uid)
    }
}

/// The topics every actor publishes to. Cheap to clone.
#[derive(Clone, Default)]
pub struct Bus {
    /// New snapshots.
    pub snapshots: Topic<SnapshotReceived>,
    /// Online/offline transitions.
    pub status: Topic<ClusterStatusChanged>,
    /// Command lifecycle.
    pub commands: Topic<CommandStateChanged>,
    /// Alerts firing and resolved.
    pub alerts: Topic<AlertChanged>,
    /// SLO pushes.
    pub slo: Topic<SloPushed>,
    /// SLO evaluations (burn rates per route).
    pub slo_evaluated: Topic<SloEvaluated>,
    /// Agent metadata changes.
    pub agents: Topic<AgentSeen>,
}

impl Bus {
    /// Closes every topic, so that subscribers' streams end (shutdown).
    pub fn close(&self) {
        self.snapshots.close();
        self.status.close();
        self.commands.close();
        self.alerts.close();
        self.slo.close();
        self.slo_evaluated.close();
        self.agents.close();
    }
}

/// What the master knows of a cluster's agent: the optional heartbeat body (version,
/// host name, IP), and what its requests showed (remote address, `User-Agent`, the agent
/// image in its snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgentMeta {
    /// Agent version: from the heartbeat body, else the agent's image tag in the snapshot,
    /// else its `User-Agent`.
    pub agent_version: Option<String>,
    /// Where `agent_version` came from: `heartbeat`, `snapshot` or `user_agent`.
    pub version_source: Option<&'static str>,
    /// Host the agent runs on.
    pub hostname: Option<String>,
    /// The agent's IP as it reports it.
    pub ip: Option<String>,
    /// The address its last heartbeat or snapshot came from.
    pub remote_addr: Option<String>,
    /// The `User-Agent` of its last heartbeat or snapshot.
    pub user_agent: Option<String>,
}

/// Where an agent request came from; sent by the agent handlers beside their message.
#[derive(Debug, Clone, Message, Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct AgentContact {
    /// Remote address.
    pub remote_addr: String,
    /// `User-Agent` header (`""` when absent).
    pub user_agent: String,
}

/// Published when what the master knows of an agent changed (its version, address, …),
/// latest wins per cluster.
#[derive(Debug, Clone, Serialize)]
pub struct AgentSeen {
    /// The cluster.
    pub cluster_id: Arc<str>,
    /// What is known now.
    pub agent: AgentMeta,
    /// When.
    pub at: DateTime<Utc>,
}

impl Keyed for AgentSeen {
    type Key = Arc<str>;
    fn key(&self) -> Arc<str> {
        Arc::clone(&self.cluster_id)
    }
}

/// What the actor remembers of each snapshot it accepted.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotRecord {
    /// The agent's collection time.
    pub fetched_at: GoTime,
    /// When the master received it.
    pub received_at: DateTime<Utc>,
    /// Decompressed JSON size in bytes.
    pub bytes: u64,
    /// The agent's summary.
    pub summary: ClusterSummary,
}

/// The latest snapshot and its record.
#[derive(Debug, Clone)]
pub struct LatestSnapshot {
    /// The snapshot, shared.
    pub snapshot: Arc<ClusterSnapshot>,
    /// Its record.
    pub record: SnapshotRecord,
}

/// A command waiting in a cluster's mailbox.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct QueuedCommand {
    /// The command in its v2.1 wire form.
    pub command: Command,
    /// The long-poll topic it is delivered on.
    pub topic: String,
    /// Creation time, from which the pending TTL runs.
    pub created_at: DateTime<Utc>,
}

/// A command handed to an agent, waiting for its result.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunningCommand {
    /// The command id.
    pub command_id: String,
    /// Its action, for published messages.
    pub action: String,
    /// When it was handed out, from which the result timeout runs.
    pub started_at: DateTime<Utc>,
}

/// Take this snapshot as the latest, unless a newer one is held. Also a sign of life.
#[derive(Message)]
#[rtype(result = "SnapshotApplied")]
pub struct ApplySnapshot {
    /// The parsed snapshot.
    pub snapshot: Arc<ClusterSnapshot>,
    /// Decompressed size in bytes.
    pub bytes: u64,
    /// Receive time.
    pub received_at: DateTime<Utc>,
    /// The hashes of its list elements, for the next push to reuse what is unchanged
    /// (`None` when its parse made none).
    pub memo: Option<Arc<Memo>>,
}

/// The latest snapshot and its [`Memo`], as the base of the next parse of this cluster
/// (`None` before the first snapshot, or when the latest came without a memo).
#[derive(Message)]
#[rtype(result = "Option<Base>")]
pub struct GetParseBase;

/// The outcome of [`ApplySnapshot`].
#[derive(Debug, MessageResponse)]
pub struct SnapshotApplied {
    /// True when it is now the latest; false when it was not newer than the one held
    /// (then it only counted as a sign of life).
    pub applied: bool,
    /// A snapshot the actor no longer needs (the replaced one, or the stale one), handed
    /// back so that the caller frees it off the actor's thread.
    pub garbage: Option<Arc<ClusterSnapshot>>,
}

/// A heartbeat: a sign of life, with optional agent metadata.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Heartbeat {
    /// Metadata from the optional body.
    pub agent: Option<AgentMeta>,
}

/// Any other accepted agent request: a sign of life.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Touch;

/// An SLO push: kept as the cluster's latest and a sign of life, then published on the bus
/// for the SLO persister (latest wins per cluster: the counters are cumulative, so a
/// persister that skips a push loses nothing, the next delta covers both).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SloPushed {
    /// The cluster.
    pub cluster_id: Arc<str>,
    /// The push.
    pub push: Arc<SloPushRequest>,
    /// When the master received it.
    pub received_at: DateTime<Utc>,
    /// Replicas: the ownership epoch (see [`SnapshotReceived::epoch`]).
    pub epoch: u64,
}

impl Keyed for SloPushed {
    type Key = Arc<str>;
    fn key(&self) -> Arc<str> {
        Arc::clone(&self.cluster_id)
    }
}

/// The SLO state of one route after an SLO evaluation, as the alert rules read it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RouteBurn {
    /// Domain.
    pub domain: String,
    /// Path prefix.
    pub path_prefix: String,
    /// Namespace of the route's Ingress.
    pub namespace: String,
    /// The service key whose traffic the route carries.
    pub service_key: String,
    /// The availability target the burn rates are measured against, percent.
    pub target_availability: f64,
    /// The p95 latency target, ms.
    pub target_p95_ms: f64,
    /// Burn rate (error rate ÷ error budget) per window, e.g. `("1h", 15.2)`, shortest
    /// window first; a window without requests is left out.
    pub burn: Vec<(String, f64)>,
    /// Error budget left over the budget period (30 days), percent.
    pub budget_remaining: f64,
    /// p95 latency over the last hour, ms (`None` without latency data).
    pub p95_ms: Option<f64>,
    /// Availability over the last hour, percent (`None` without requests).
    pub availability_1h: Option<f64>,
}

/// Published after the SLO persister has evaluated a cluster's routes; latest wins per
/// cluster.
#[derive(Debug, Clone)]
pub struct SloEvaluated {
    /// The cluster.
    pub cluster_id: Arc<str>,
    /// Every route with a target, active or with requests in the burn windows.
    pub routes: Arc<Vec<RouteBurn>>,
    /// When it was evaluated.
    pub at: DateTime<Utc>,
    /// True when another replica evaluated it and this one only repeats it.
    pub mirrored: bool,
}

impl Keyed for SloEvaluated {
    type Key = Arc<str>;
    fn key(&self) -> Arc<str> {
        Arc::clone(&self.cluster_id)
    }
}

/// What a long poll ends with.
#[derive(Debug, Clone)]
pub enum PollOutcome {
    /// One command for the agent.
    Command(Box<Command>),
    /// Nothing within the poll timeout (or the master is shutting down).
    Empty,
    /// The command could not be marked running; it stays queued.
    Failed(String),
}

/// An agent long poll. The reply is a receiver: the actor's mailbox is not held while
/// the poll waits. Dropping the receiver (client gone) leaves any command queued.
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<PollOutcome>")]
pub struct PollCommand {
    /// The topic polled.
    pub topic: String,
}

/// A stored command to deliver.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EnqueueCommand {
    /// The command, already committed to the store.
    pub queued: QueuedCommand,
    /// True when the hub relays a command another replica created.
    pub mirrored: bool,
}

/// Cancel a pending command.
#[derive(Message)]
#[rtype(result = "Result<CancelOutcome, crate::store::StoreError>")]
pub struct CancelCommand {
    /// The command.
    pub command_id: String,
}

/// The outcome of [`CancelCommand`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was pending and is now cancelled.
    Cancelled,
    /// It is past pending (being delivered, running or finished).
    NotPending,
    /// This actor does not hold it; ask the store.
    NotHere,
}

/// The store has committed an agent result for this command.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ResultRecorded {
    /// The command.
    pub command_id: String,
    /// Its action.
    pub action: String,
    /// `success` or `failed`.
    pub status: CommandState,
}

/// Wake me when this command reaches a final state.
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<()>")]
pub struct WaitCommand {
    /// The command.
    pub command_id: String,
}

/// Ask for the cluster's live status.
#[derive(Message)]
#[rtype(result = "ClusterStatusView")]
pub struct GetStatus;

/// A cluster actor's live state, as the API shows it.
#[derive(Debug, Clone, Serialize, MessageResponse)]
pub struct ClusterStatusView {
    /// The cluster.
    pub cluster_id: String,
    /// Liveness.
    pub liveness: Liveness,
    /// Last agent request.
    pub last_seen: Option<DateTime<Utc>>,
    /// When it went offline, while offline.
    pub offline_since: Option<DateTime<Utc>>,
    /// The latest snapshot's record.
    pub latest: Option<SnapshotRecord>,
    /// The recent snapshot records, oldest first (the latest included).
    pub recent: Vec<SnapshotRecord>,
    /// Agent metadata from heartbeats.
    pub agent: AgentMeta,
    /// Commands queued.
    pub queued_commands: usize,
    /// Commands handed out and waiting for a result.
    pub running_commands: usize,
    /// Long polls parked right now.
    pub parked_polls: usize,
}

/// Ask for the cluster's liveness only: the cheap question a metrics scrape asks every
/// cluster (no records are cloned).
#[derive(Message)]
#[rtype(result = "Liveness")]
pub struct GetLiveness;

/// Ask for the latest snapshot.
#[derive(Message)]
#[rtype(result = "Option<LatestSnapshot>")]
pub struct GetSnapshot;

/// Ask for the latest SLO push.
#[derive(Message)]
#[rtype(result = "Option<Arc<SloPushRequest>>")]
pub struct GetSloPush;

/// Shutdown: answer every parked poll with "no command", and every later one at once.
#[derive(Message)]
#[rtype(result = "Option<DateTime<Utc>>")]
pub struct Drain;

/// Replicas (`MASTER_DATAHUB_TYPE=redis`): whether this replica owns the cluster. The
/// owner decides (liveness, command deadlines) and its persisters write; a follower keeps
/// the same live picture from what the hub relays and repeats the owner's decisions.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetRole {
    /// True: this replica holds the cluster's ownership lock.
    pub owner: bool,
}

/// Replicas: the owner's liveness decision, repeated on a follower (published on the local
/// bus with `mirrored: true`; ignored by the owner itself).
#[derive(Debug, Clone, Message, Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct MirrorStatus {
    /// The new state.
    pub status: Liveness,
    /// The state before, as the owner saw it.
    pub previous: Liveness,
    /// When the owner decided it.
    pub at: DateTime<Utc>,
    /// The last agent request the owner had seen.
    pub last_seen: Option<DateTime<Utc>>,
}

/// Replicas: the commands the database held as pending or running when it was read at
/// `before` (minus a margin). Queued and running entries older than that and not among
/// them finished elsewhere and their relay was lost: they are dropped and their `?wait=`
/// waiters woken (the waiter reads the final state from the database).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct PruneFinished {
    /// Pending and running command ids of this cluster.
    pub active: std::collections::HashSet<String>,
    /// The running ones among them. A command held here as running that the database
    /// holds as pending was put back by its dispatcher (its poller left): it is dropped
    /// from `running` so that the resync queues it again.
    pub running: std::collections::HashSet<String>,
    /// Only entries created (queued) or started (running) before this are considered.
    pub before: DateTime<Utc>,
}

/// Replicas: another replica moved a command to `status` (running, or a final state).
#[derive(Debug, Clone, Message, Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct MirrorCommand {
    /// The command.
    pub command_id: String,
    /// Its action.
    pub action: String,
    /// The new state.
    pub status: CommandState,
    /// When it changed (for `running`: when it was handed out, where the result deadline
    /// runs from).
    pub at: DateTime<Utc>,
}
