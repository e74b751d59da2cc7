//! `ClusterActor`: one per cluster, the owner of everything live about it.
//!
//! **State it owns**
//! - the latest snapshot (an `Arc`, shared with readers and subscribers, never copied),
//!   its `Memo` (the hashes of its list elements, handed with it as the base of the next
//!   parse: `GetParseBase`, see `model/memo.rs`), and the records of the last
//!   `snapshot_retention` snapshots;
//! - liveness: `last_seen` and one timer that fires exactly at the offline deadline. Every
//!   agent request moves `last_seen`; when the timer fires early it re-arms itself for the
//!   remaining time, so the transition is observed at the deadline, not by a sweep;
//! - the command mailbox: queued commands per topic (each with its pending-TTL deadline),
//!   parked long polls per topic (each with its poll deadline), commands being handed
//!   out, running commands (each with its result deadline), and `?wait=` waiters.
//!
//! **Durability.** The store is the source of truth for commands: a command is committed
//! before it is enqueued here, and `pending → running` is committed *before* the command is
//! written to the agent, so a crash can never make the master hand the same command out
//! twice. Snapshots and liveness are live state, rebuilt from the next agent push.
//!
//! **Restart.** The actor is supervised. Its fields survive a restart; the timers do not,
//! so `started()` re-arms every timer from the deadlines kept in the fields.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::command::CommandState;
use crate::messages::*;
use crate::model::{Base, GoTime, Memo, SloPushRequest};
use crate::store::{Store, StoreError};

/// Timers of a cluster actor, from the service configuration.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Online → offline after this long without an agent request.
    pub heartbeat_timeout: Duration,
    /// How long a long poll is held before `{"has_command":false}`.
    pub poll_timeout: Duration,
    /// Running → timeout after this long without a result.
    pub result_timeout: Duration,
    /// Pending → expired after this long without a poll.
    pub pending_ttl: Duration,
    /// Snapshot records kept.
    pub snapshot_retention: usize,
    /// Whether a new actor starts as its cluster's owner: always with one master; with
    /// replicas an actor starts as a follower until the hub hands it the ownership
    /// ([`SetRole`]).
    pub owner: bool,
    /// Replicas: set while the relay between replicas is down. An owner then cannot hear
    /// the signs of life its agent gives other replicas, so it defers going offline until
    /// the relay is back (and the heartbeat timeout has passed again without one).
    pub relay_down: Arc<std::sync::atomic::AtomicBool>,
}

/// What a cluster actor starts from: the stored commands of its cluster.
#[derive(Debug, Default)]
pub struct Restore {
    /// Pending commands, oldest first.
    pub pending: Vec<QueuedCommand>,
    /// Running commands whose result deadline has not passed.
    pub running: Vec<RunningCommand>,
    /// Last time the cluster was seen, from the store.
    pub last_seen: Option<DateTime<Utc>>,
    /// Set when the registry restarts an actor that died (a panic): its live state, saved
    /// as it was dropped. The actor then reads its unfinished commands from the store
    /// itself ([`Store::unfinished`]).
    pub revived: Option<Saved>,
}

/// The live state of a cluster that the store does not hold: what a dead actor leaves in
/// its [`Vault`] for the next one.
#[derive(Default)]
pub struct Saved {
    latest: Option<LatestSnapshot>,
    memo: Option<Arc<Memo>>,
    recent: VecDeque<SnapshotRecord>,
    slo: Option<Arc<SloPushRequest>>,
    liveness: Option<Liveness>,
    last_seen: Option<DateTime<Utc>>,
    last_seen_at: Option<Instant>,
    offline_since: Option<DateTime<Utc>>,
    agent: AgentMeta,
    contact: Option<AgentContact>,
    image_version: Option<String>,
    agent_published: AgentMeta,
    finished: (HashSet<String>, VecDeque<String>),
}

impl Saved {
    /// Drops the parsed state (snapshot, memo, records, SLO push), keeping liveness and the
    /// agent's metadata: for an actor that died again soon after a revival, in case what
    /// it held is what made it panic. The next push brings the snapshot back.
    pub fn without_parsed_state(mut self) -> Self {
        self.latest = None;
        self.memo = None;
        self.recent.clear();
        self.slo = None;
        self
    }
}

impl std::fmt::Debug for Saved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Saved")
            .field("has_snapshot", &self.latest.is_some())
            .field("liveness", &self.liveness)
            .field("last_seen", &self.last_seen)
            .finish_non_exhaustive()
    }
}

/// Where a cluster actor's live state outlives the actor. The registry keeps one per
/// cluster and hands it to each actor it starts; the actor writes into it only when it is
/// dropped (so nothing is paid per message). An actor that panics is dropped by the
/// runtime without stopping: the registry sees its address closed and starts a new actor
/// from what the vault holds (see `Registry`).
#[derive(Default)]
pub struct Vault(std::sync::Mutex<Option<Saved>>);

impl Vault {
    fn put(&self, saved: Saved) {
        // A poisoned lock only means a panic elsewhere mid-assignment of plain data.
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
    }

    /// What the last actor left, once.
    pub fn take(&self) -> Option<Saved> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

struct Queued {
    cmd: QueuedCommand,
    expires: Instant,
    timer: Option<SpawnHandle>,
}

struct Parked {
    id: u64,
    tx: oneshot::Sender<PollOutcome>,
    deadline: Instant,
    timer: Option<SpawnHandle>,
}

struct Running {
    cmd: RunningCommand,
    deadline: Instant,
    timer: Option<SpawnHandle>,
}

/// The actor. See the module docs.
pub struct ClusterActor {
    id: Arc<str>,
    cfg: ClusterConfig,
    store: Arc<dyn Store>,
    bus: Bus,
    latest: Option<LatestSnapshot>,
    /// The element hashes of `latest`, for the next parse ([`GetParseBase`]).
    memo: Option<Arc<Memo>>,
    recent: VecDeque<SnapshotRecord>,
    slo: Option<Arc<SloPushRequest>>,
    liveness: Liveness,
    last_seen: Option<DateTime<Utc>>,
    last_seen_at: Option<Instant>,
    offline_since: Option<DateTime<Utc>>,
    liveness_timer: Option<SpawnHandle>,
    /// The heartbeat body's metadata.
    agent: AgentMeta,
    /// Where the agent's last heartbeat or snapshot came from.
    contact: Option<AgentContact>,
    /// The agent's image tag in the latest snapshot.
    image_version: Option<String>,
    /// What was last published on `bus.agents`.
    agent_published: AgentMeta,
    queues: HashMap<String, VecDeque<Queued>>,
    parked: HashMap<String, VecDeque<Parked>>,
    dispatching: HashSet<String>,
    running: HashMap<String, Running>,
    waiters: HashMap<String, Vec<oneshot::Sender<()>>>,
    next_poll_id: u64,
    draining: bool,
    /// Decides liveness and command deadlines (see [`SetRole`]).
    owner: bool,
    /// Replicas: commands that reached a final state lately, so that a relay or a resync
    /// arriving late never brings one back (bounded: the oldest are forgotten).
    finished: (HashSet<String>, VecDeque<String>),
    /// Where this actor's live state is left when it is dropped (see [`Vault`]).
    vault: Option<Arc<Vault>>,
    /// A revived actor reads its unfinished commands from the store when it starts.
    reload_commands: bool,
}

impl Drop for ClusterActor {
    /// Leaves the live state in the vault, for the actor the registry starts when this one
    /// died. Moves, never clones, and cannot panic (this may run while a panic unwinds).
    fn drop(&mut self) {
        let Some(vault) = self.vault.take() else {
            return;
        };
        vault.put(Saved {
            latest: self.latest.take(),
            memo: self.memo.take(),
            recent: std::mem::take(&mut self.recent),
            slo: self.slo.take(),
            liveness: Some(self.liveness),
            last_seen: self.last_seen,
            last_seen_at: self.last_seen_at,
            offline_since: self.offline_since,
            agent: std::mem::take(&mut self.agent),
            contact: self.contact.take(),
            image_version: self.image_version.take(),
            agent_published: std::mem::take(&mut self.agent_published),
            finished: std::mem::take(&mut self.finished),
        });
    }
}

/// How many finished command ids an actor remembers.
const FINISHED_MEMORY: usize = 4096;

/// Time left until a wall-clock instant, as an `Instant` (now if it has passed).
fn instant_at(at: DateTime<Utc>) -> Instant {
    let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + left
}

fn after(d: Duration, from: DateTime<Utc>) -> DateTime<Utc> {
    from + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl ClusterActor {
    /// A new actor for `cluster_id`, restoring stored commands.
    pub fn new(
        cluster_id: Arc<str>,
        cfg: ClusterConfig,
        store: Arc<dyn Store>,
        bus: Bus,
        restore: Restore,
    ) -> Self {
        let cfg_owner = cfg.owner;
        let mut queues: HashMap<String, VecDeque<Queued>> = HashMap::new();
        for cmd in restore.pending {
            let expires = instant_at(after(cfg.pending_ttl, cmd.created_at));
            queues
                .entry(cmd.topic.clone())
                .or_default()
                .push_back(Queued {
                    cmd,
                    expires,
                    timer: None,
                });
        }
        let running = restore
            .running
            .into_iter()
            .map(|cmd| {
                let deadline = instant_at(after(cfg.result_timeout, cmd.started_at));
                (
                    cmd.command_id.clone(),
                    Running {
                        cmd,
                        deadline,
                        timer: None,
                    },
                )
            })
            .collect();
        let reload_commands = restore.revived.is_some();
        let saved = restore.revived.unwrap_or(Saved {
            liveness: None,
            last_seen: restore.last_seen,
            ..Saved::default()
        });
        Self {
            id: cluster_id,
            cfg,
            store,
            bus,
            latest: saved.latest,
            memo: saved.memo,
            recent: saved.recent,
            slo: saved.slo,
            liveness: saved.liveness.unwrap_or(Liveness::Unknown),
            last_seen: saved.last_seen,
            last_seen_at: saved.last_seen_at,
            offline_since: saved.offline_since,
            liveness_timer: None,
            agent: saved.agent,
            contact: saved.contact,
            image_version: saved.image_version,
            agent_published: saved.agent_published,
            queues,
            parked: HashMap::new(),
            dispatching: HashSet::new(),
            running,
            waiters: HashMap::new(),
            next_poll_id: 0,
            draining: false,
            // Always from the configuration, never from a dead actor's vault: with replicas
            // the lease loop hands ownership again at its next pass, so a release that the
            // dead actor never received cannot leave two owners.
            owner: cfg_owner,
            finished: saved.finished,
            vault: None,
            reload_commands,
        }
    }

    /// Keeps this actor's live state in `vault` when it is dropped.
    pub fn with_vault(mut self, vault: Arc<Vault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// Reads the cluster's unfinished commands from the store (a revived actor, or one that
    /// found a command no longer pending; retrying
    /// every second while the store fails) and adopts those it does not hold.
    fn reload_commands(&mut self, ctx: &mut Context<Self>) {
        let fut = self.store.unfinished(&self.id);
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| match res {
            Ok((pending, running)) => {
                info!(cluster_id = %act.id, pending = pending.len(), running = running.len(), "cluster actor reloaded its commands from the store");
                act.adopt(pending, running, ctx);
            }
            Err(e) => {
                warn!(cluster_id = %act.id, error = %e, "cluster actor cannot read its commands yet; retrying");
                ctx.run_later(Duration::from_secs(1), |act, ctx| act.reload_commands(ctx));
            }
        }));
    }

    /// Appends a stored pending command to its topic's queue, with its pending-TTL
    /// deadline (armed when this actor owns the cluster). Returns the topic.
    fn queue(&mut self, cmd: QueuedCommand, ctx: &mut Context<Self>) -> String {
        let id = cmd.command.id.to_string();
        let topic = cmd.topic.clone();
        let expires = instant_at(after(self.cfg.pending_ttl, cmd.created_at));
        let timer = self
            .owner
            .then(|| self.arm_expiry(&topic, &id, expires, ctx));
        self.queues
            .entry(topic.clone())
            .or_default()
            .push_back(Queued {
                cmd,
                expires,
                timer,
            });
        topic
    }

    /// Holds a command handed out to the agent, with its result deadline (armed when this
    /// actor owns the cluster).
    fn track_running(&mut self, cmd: RunningCommand, ctx: &mut Context<Self>) {
        let id = cmd.command_id.clone();
        let deadline = instant_at(after(self.cfg.result_timeout, cmd.started_at));
        let timer = self.owner.then(|| self.arm_timeout(&id, deadline, ctx));
        self.running.insert(
            id,
            Running {
                cmd,
                deadline,
                timer,
            },
        );
    }

    /// Takes stored unfinished commands this actor does not hold yet (nothing is
    /// published: they were announced when they were created or handed out).
    fn adopt(
        &mut self,
        pending: Vec<QueuedCommand>,
        running: Vec<RunningCommand>,
        ctx: &mut Context<Self>,
    ) {
        if self.draining {
            // Stored already; the next master run delivers and times them.
            return;
        }
        let mut topics = HashSet::new();
        for cmd in pending {
            let id = cmd.command.id.to_string();
            if self.known(&id) || self.finished.0.contains(&id) {
                continue;
            }
            topics.insert(self.queue(cmd, ctx));
        }
        for cmd in running {
            if self.known(&cmd.command_id) || self.finished.0.contains(&cmd.command_id) {
                continue;
            }
            self.track_running(cmd, ctx);
        }
        for topic in topics {
            self.dispatch(&topic, ctx);
        }
    }

    // ---- agent -------------------------------------------------------------------

    /// What is known of the agent: the heartbeat body, its version from the best source,
    /// and where it connects from.
    fn agent_view(&self) -> AgentMeta {
        let mut m = self.agent.clone();
        let from_ua = || {
            self.contact
                .as_ref()
                .and_then(|c| crate::model::user_agent_version(&c.user_agent))
        };
        (m.agent_version, m.version_source) = match m.agent_version.take() {
            Some(v) => (Some(v), Some("heartbeat")),
            None => match (&self.image_version, from_ua()) {
                (Some(v), _) => (Some(v.clone()), Some("snapshot")),
                (None, Some(v)) => (Some(v), Some("user_agent")),
                (None, None) => (None, None),
            },
        };
        if let Some(c) = &self.contact {
            m.remote_addr = Some(c.remote_addr.clone());
            m.user_agent = (!c.user_agent.is_empty()).then(|| c.user_agent.clone());
        }
        m
    }

    /// Publishes the agent's metadata when it changed.
    fn publish_agent(&mut self) {
        let view = self.agent_view();
        if view != self.agent_published {
            self.agent_published = view.clone();
            self.bus.agents.publish(AgentSeen {
                cluster_id: Arc::clone(&self.id),
                agent: view,
                at: Utc::now(),
            });
        }
    }

    // ---- liveness ----------------------------------------------------------------

    fn touch(&mut self, ctx: &mut Context<Self>) {
        let now = Utc::now();
        self.last_seen = Some(now);
        self.last_seen_at = Some(Instant::now());
        if !self.owner {
            // A follower only remembers; the owner decides (and its decision is mirrored).
            return;
        }
        if self.liveness != Liveness::Online {
            let previous = self.liveness;
            self.liveness = Liveness::Online;
            self.offline_since = None;
            info!(cluster_id = %self.id, ?previous, "cluster online");
            self.publish_status(previous, now);
        }
        if self.liveness_timer.is_none() {
            self.arm_liveness(self.cfg.heartbeat_timeout, ctx);
        }
    }

    fn arm_liveness(&mut self, after: Duration, ctx: &mut Context<Self>) {
        self.liveness_timer = Some(ctx.run_later(after, |act, ctx| act.check_liveness(ctx)));
    }

    fn check_liveness(&mut self, ctx: &mut Context<Self>) {
        self.liveness_timer = None;
        if !self.owner {
            return;
        }
        let elapsed = self.last_seen_at.map_or(Duration::MAX, |t| t.elapsed());
        if elapsed < self.cfg.heartbeat_timeout {
            self.arm_liveness(self.cfg.heartbeat_timeout - elapsed, ctx);
            return;
        }
        if self
            .cfg
            .relay_down
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            debug!(cluster_id = %self.id, "relay down: offline deferred");
            self.last_seen_at = Some(Instant::now());
            self.arm_liveness(self.cfg.heartbeat_timeout, ctx);
            return;
        }
        if self.liveness == Liveness::Offline {
            return;
        }
        let previous = self.liveness;
        let now = Utc::now();
        self.liveness = Liveness::Offline;
        self.offline_since = Some(now);
        info!(cluster_id = %self.id, last_seen = ?self.last_seen, "cluster offline");
        self.publish_status(previous, now);
        if let Some(seen) = self.last_seen {
            let fut = self.store.record_last_seen(&self.id, seen);
            let id = Arc::clone(&self.id);
            ctx.spawn(
                async move {
                    if let Err(e) = fut.await {
                        warn!(cluster_id = %id, error = %e, "could not record last_seen");
                    }
                }
                .into_actor(self),
            );
        }
    }

    fn publish_status(&self, previous: Liveness, at: DateTime<Utc>) {
        self.bus.status.publish(ClusterStatusChanged {
            cluster_id: Arc::clone(&self.id),
            status: self.liveness,
            previous,
            at,
            last_seen: self.last_seen,
            mirrored: false,
        });
    }

    // ---- commands ----------------------------------------------------------------

    fn publish_command(&self, command_id: &str, action: &str, status: CommandState) {
        self.publish_command_as(command_id, action, status, false);
    }

    fn publish_command_as(
        &self,
        command_id: &str,
        action: &str,
        status: CommandState,
        mirrored: bool,
    ) {
        self.bus.commands.publish(CommandStateChanged {
            command_id: Arc::from(command_id),
            cluster_id: Arc::clone(&self.id),
            action: Arc::from(action),
            status,
            at: Utc::now(),
            mirrored,
        });
    }

    fn remember_finished(&mut self, command_id: &str) {
        let (set, order) = &mut self.finished;
        if set.insert(command_id.to_owned()) {
            order.push_back(command_id.to_owned());
            while order.len() > FINISHED_MEMORY {
                if let Some(old) = order.pop_front() {
                    set.remove(&old);
                }
            }
        }
    }

    fn wake(&mut self, command_id: &str) {
        // Every final transition wakes: remember it here.
        self.remember_finished(command_id);
        for tx in self.waiters.remove(command_id).unwrap_or_default() {
            let _ = tx.send(());
        }
    }

    fn arm_expiry(
        &mut self,
        topic: &str,
        command_id: &str,
        expires: Instant,
        ctx: &mut Context<Self>,
    ) -> SpawnHandle {
        let (topic, id) = (topic.to_owned(), command_id.to_owned());
        let left = expires.saturating_duration_since(Instant::now());
        ctx.run_later(left, move |act, ctx| act.expire_pending(&topic, &id, ctx))
    }

    fn arm_timeout(
        &mut self,
        command_id: &str,
        deadline: Instant,
        ctx: &mut Context<Self>,
    ) -> SpawnHandle {
        let id = command_id.to_owned();
        let left = deadline.saturating_duration_since(Instant::now());
        ctx.run_later(left, move |act, ctx| act.timeout_running(&id, ctx))
    }

    fn arm_poll(
        &mut self,
        topic: &str,
        poll_id: u64,
        deadline: Instant,
        ctx: &mut Context<Self>,
    ) -> SpawnHandle {
        let topic = topic.to_owned();
        let left = deadline.saturating_duration_since(Instant::now());
        ctx.run_later(left, move |act, _| act.expire_poll(&topic, poll_id))
    }

    fn remove_queued(&mut self, command_id: &str) -> Option<Queued> {
        for q in self.queues.values_mut() {
            if let Some(pos) = q.iter().position(|c| c.cmd.command.id == command_id) {
                return q.remove(pos);
            }
        }
        None
    }

    /// Applies a store transition off the mailbox, then publishes and wakes waiters.
    fn spawn_final_transition(
        &mut self,
        command_id: String,
        action: String,
        from: &'static [CommandState],
        to: CommandState,
        ctx: &mut Context<Self>,
    ) {
        let fut = self.store.transition(&command_id, from, to, Utc::now());
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| match res {
            Ok(true) => {
                info!(cluster_id = %act.id, command_id, status = %to, "command finished");
                act.publish_command(&command_id, &action, to);
                act.wake(&command_id);
            }
            Ok(false) => debug!(command_id, status = %to, "transition not applied: state moved on"),
            Err(e) => {
                warn!(command_id, status = %to, error = %e, "could not store command transition")
            }
        }));
    }

    fn expire_pending(&mut self, topic: &str, command_id: &str, ctx: &mut Context<Self>) {
        if !self.owner {
            // The owner expires it; its decision comes back as a `MirrorCommand`.
            return;
        }
        let Some(q) = self.queues.get_mut(topic) else {
            return;
        };
        let Some(pos) = q.iter().position(|c| c.cmd.command.id == command_id) else {
            return;
        };
        let Some(gone) = q.remove(pos) else { return };
        let action = gone.cmd.command.action.to_string();
        self.spawn_final_transition(
            command_id.to_owned(),
            action,
            &[CommandState::Pending],
            CommandState::Expired,
            ctx,
        );
    }

    fn timeout_running(&mut self, command_id: &str, ctx: &mut Context<Self>) {
        if !self.owner {
            return;
        }
        let Some(run) = self.running.remove(command_id) else {
            return;
        };
        warn!(cluster_id = %self.id, command_id, "no result within the result timeout");
        self.spawn_final_transition(
            command_id.to_owned(),
            run.cmd.action,
            &[CommandState::Running],
            CommandState::Timeout,
            ctx,
        );
    }

    fn expire_poll(&mut self, topic: &str, poll_id: u64) {
        if let Some(polls) = self.parked.get_mut(topic) {
            if let Some(pos) = polls.iter().position(|p| p.id == poll_id) {
                if let Some(p) = polls.remove(pos) {
                    let _ = p.tx.send(PollOutcome::Empty);
                }
            }
        }
    }

    /// Pairs queued commands with live parked polls on `topic`, oldest first.
    fn dispatch(&mut self, topic: &str, ctx: &mut Context<Self>) {
        loop {
            let Some(polls) = self.parked.get_mut(topic) else {
                return;
            };
            // Polls whose client went away are skipped: their command stays queued.
            while polls.front().is_some_and(|p| p.tx.is_closed()) {
                if let Some(p) = polls.pop_front() {
                    if let Some(t) = p.timer {
                        ctx.cancel_future(t);
                    }
                }
            }
            if polls.is_empty() {
                return;
            }
            // An empty queue must not pop (and so drop) a parked poll.
            let Some(queue) = self.queues.get_mut(topic).filter(|q| !q.is_empty()) else {
                return;
            };
            let (Some(mut queued), Some(poll)) = (queue.pop_front(), polls.pop_front()) else {
                return;
            };
            if let Some(t) = queued.timer.take() {
                ctx.cancel_future(t);
            }
            let id = queued.cmd.command.id.to_string();
            self.dispatching.insert(id.clone());
            let started_at = Utc::now();
            let fut = self.store.transition(
                &id,
                &[CommandState::Pending],
                CommandState::Running,
                started_at,
            );
            let topic = topic.to_owned();
            ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
                act.finish_dispatch(&topic, poll, queued, res, started_at, ctx)
            }));
        }
    }

    fn finish_dispatch(
        &mut self,
        topic: &str,
        mut poll: Parked,
        mut queued: Queued,
        res: Result<bool, StoreError>,
        started_at: DateTime<Utc>,
        ctx: &mut Context<Self>,
    ) {
        let id = queued.cmd.command.id.to_string();
        self.dispatching.remove(&id);
        match res {
            Ok(true) => {
                if let Some(t) = poll.timer.take() {
                    ctx.cancel_future(t);
                }
                let action = queued.cmd.command.action.to_string();
                match poll
                    .tx
                    .send(PollOutcome::Command(Box::new(queued.cmd.command.clone())))
                {
                    Ok(()) => {
                        info!(cluster_id = %self.id, command_id = %id, %action, "command delivered");
                        self.track_running(
                            RunningCommand {
                                command_id: id.clone(),
                                action: action.clone(),
                                started_at,
                            },
                            ctx,
                        );
                        self.publish_command(&id, &action, CommandState::Running);
                    }
                    Err(_) => {
                        // The poller left while the store was writing: undo, keep it queued.
                        debug!(command_id = %id, "poller gone before delivery; command stays pending");
                        let undo = self.store.transition(
                            &id,
                            &[CommandState::Running],
                            CommandState::Pending,
                            Utc::now(),
                        );
                        ctx.spawn(
                            async move {
                                if let Err(e) = undo.await {
                                    warn!(error = %e, "could not return command to pending");
                                }
                            }
                            .into_actor(self),
                        );
                        queued.timer = Some(self.arm_expiry(topic, &id, queued.expires, ctx));
                        self.queues
                            .entry(topic.to_owned())
                            .or_default()
                            .push_front(queued);
                    }
                }
            }
            Ok(false) => {
                // No longer pending in the store (cancelled, expired, or handed out by an
                // actor that died meanwhile or by another replica): drop it here, and read
                // the store again shortly so that one that is running gets its result
                // deadline (the reload takes only what this actor does not hold).
                warn!(command_id = %id, "queued command was not pending in the store; dropped");
                self.parked
                    .entry(topic.to_owned())
                    .or_default()
                    .push_front(poll);
                ctx.run_later(Duration::from_secs(1), |act, ctx| act.reload_commands(ctx));
            }
            Err(e) => {
                warn!(command_id = %id, error = %e, "could not mark command running; it stays queued");
                queued.timer = Some(self.arm_expiry(topic, &id, queued.expires, ctx));
                self.queues
                    .entry(topic.to_owned())
                    .or_default()
                    .push_front(queued);
                if let Some(t) = poll.timer.take() {
                    ctx.cancel_future(t);
                }
                let _ = poll
                    .tx
                    .send(PollOutcome::Failed("command store unavailable".into()));
                return;
            }
        }
        self.dispatch(topic, ctx);
    }

    /// Cancels the decision timers (liveness, pending expiry, result deadline); parked
    /// polls keep theirs.
    fn cancel_decision_timers(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.liveness_timer.take() {
            ctx.cancel_future(t);
        }
        for q in self.queues.values_mut() {
            for c in q.iter_mut() {
                if let Some(t) = c.timer.take() {
                    ctx.cancel_future(t);
                }
            }
        }
        for r in self.running.values_mut() {
            if let Some(t) = r.timer.take() {
                ctx.cancel_future(t);
            }
        }
    }

    fn known(&self, command_id: &str) -> bool {
        self.running.contains_key(command_id)
            || self.dispatching.contains(command_id)
            || self
                .queues
                .values()
                .any(|q| q.iter().any(|c| c.cmd.command.id == command_id))
    }

    fn rearm_timers(&mut self, ctx: &mut Context<Self>) {
        if self.owner {
            self.rearm_decision_timers(ctx);
        }
        let polls: Vec<(String, u64, Instant)> = self
            .parked
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), p.id, p.deadline)))
            .collect();
        for (topic, id, deadline) in polls {
            let h = self.arm_poll(&topic, id, deadline, ctx);
            if let Some(p) = self
                .parked
                .get_mut(&topic)
                .and_then(|ps| ps.iter_mut().find(|p| p.id == id))
            {
                p.timer = Some(h);
            }
        }
    }

    /// The owner's timers: pending expiries, result deadlines and the liveness deadline.
    fn rearm_decision_timers(&mut self, ctx: &mut Context<Self>) {
        let mut expiries = Vec::new();
        for (topic, q) in &self.queues {
            for c in q {
                expiries.push((topic.clone(), c.cmd.command.id.to_string(), c.expires));
            }
        }
        for (topic, id, expires) in expiries {
            let h = self.arm_expiry(&topic, &id, expires, ctx);
            if let Some(c) = self
                .queues
                .get_mut(&topic)
                .and_then(|q| q.iter_mut().find(|c| c.cmd.command.id == id))
            {
                c.timer = Some(h);
            }
        }
        let deadlines: Vec<(String, Instant)> = self
            .running
            .iter()
            .map(|(k, r)| (k.clone(), r.deadline))
            .collect();
        for (id, deadline) in deadlines {
            let h = self.arm_timeout(&id, deadline, ctx);
            if let Some(r) = self.running.get_mut(&id) {
                r.timer = Some(h);
            }
        }
        let left = self.last_seen_at.map_or(self.cfg.heartbeat_timeout, |t| {
            self.cfg.heartbeat_timeout.saturating_sub(t.elapsed())
        });
        self.arm_liveness(left, ctx);
    }
}

impl Actor for ClusterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Unbounded mailbox growth is prevented upstream (handlers await replies); give
        // bursts of concurrent polls and snapshots room.
        ctx.set_mailbox_capacity(1024);
        self.rearm_timers(ctx);
        if std::mem::take(&mut self.reload_commands) {
            self.reload_commands(ctx);
        }
        debug!(cluster_id = %self.id, "cluster actor started");
    }
}

impl Supervised for ClusterActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        warn!(cluster_id = %self.id, "cluster actor restarting");
        self.liveness_timer = None;
    }
}

impl Handler<ApplySnapshot> for ClusterActor {
    type Result = SnapshotApplied;

    #[tracing::instrument(skip_all, fields(cluster_id = %self.id))]
    fn handle(&mut self, msg: ApplySnapshot, ctx: &mut Context<Self>) -> SnapshotApplied {
        self.touch(ctx);
        let effective = |t: GoTime, received: DateTime<Utc>| {
            if t.is_zero() {
                GoTime::from_utc(received)
            } else {
                t
            }
        };
        let incoming = effective(msg.snapshot.fetched_at, msg.received_at);
        if let Some(held) = &self.latest {
            if incoming <= effective(held.snapshot.fetched_at, held.record.received_at) {
                debug!(fetched_at = %incoming, "older snapshot ignored");
                return SnapshotApplied {
                    applied: false,
                    garbage: Some(msg.snapshot),
                };
            }
        }
        let record = SnapshotRecord {
            fetched_at: msg.snapshot.fetched_at,
            received_at: msg.received_at,
            bytes: msg.bytes,
            summary: msg.snapshot.summary.clone(),
        };
        self.recent.push_back(record.clone());
        while self.recent.len() > self.cfg.snapshot_retention.max(1) {
            self.recent.pop_front();
        }
        self.bus.snapshots.publish(SnapshotReceived {
            cluster_id: Arc::clone(&self.id),
            snapshot: Arc::clone(&msg.snapshot),
            received_at: msg.received_at,
            bytes: msg.bytes,
            epoch: 0,
        });
        self.memo = msg.memo;
        self.image_version = msg.snapshot.agent_image_version();
        self.publish_agent();
        let previous = self.latest.replace(LatestSnapshot {
            snapshot: msg.snapshot,
            record,
        });
        SnapshotApplied {
            applied: true,
            garbage: previous.map(|p| p.snapshot),
        }
    }
}

impl Handler<Heartbeat> for ClusterActor {
    type Result = ();
    fn handle(&mut self, msg: Heartbeat, ctx: &mut Context<Self>) {
        self.touch(ctx);
        if let Some(agent) = msg.agent {
            self.agent = agent;
            self.publish_agent();
        }
    }
}

impl Handler<AgentContact> for ClusterActor {
    type Result = ();
    /// Kept, not published: the heartbeat or snapshot that follows publishes it together
    /// with what it tells of the agent (a publish now would say "version unknown").
    fn handle(&mut self, msg: AgentContact, _: &mut Context<Self>) {
        self.contact = Some(msg);
    }
}

impl Handler<Touch> for ClusterActor {
    type Result = ();
    fn handle(&mut self, _: Touch, ctx: &mut Context<Self>) {
        self.touch(ctx);
    }
}

impl Handler<SloPushed> for ClusterActor {
    type Result = ();
    fn handle(&mut self, msg: SloPushed, ctx: &mut Context<Self>) {
        self.touch(ctx);
        self.slo = Some(Arc::clone(&msg.push));
        self.bus.slo.publish(msg);
    }
}

impl Handler<PollCommand> for ClusterActor {
    type Result = MessageResult<PollCommand>;

    fn handle(&mut self, msg: PollCommand, ctx: &mut Context<Self>) -> Self::Result {
        self.touch(ctx);
        let (tx, rx) = oneshot::channel();
        if self.draining {
            let _ = tx.send(PollOutcome::Empty);
            return MessageResult(rx);
        }
        self.next_poll_id += 1;
        let id = self.next_poll_id;
        let deadline = Instant::now() + self.cfg.poll_timeout;
        let timer = Some(self.arm_poll(&msg.topic, id, deadline, ctx));
        self.parked
            .entry(msg.topic.clone())
            .or_default()
            .push_back(Parked {
                id,
                tx,
                deadline,
                timer,
            });
        self.dispatch(&msg.topic, ctx);
        MessageResult(rx)
    }
}

impl Handler<EnqueueCommand> for ClusterActor {
    type Result = ();

    fn handle(&mut self, msg: EnqueueCommand, ctx: &mut Context<Self>) {
        let cmd = msg.queued;
        if self.draining {
            // Stored already; the next master run will deliver it.
            return;
        }
        let id = cmd.command.id.to_string();
        if self.known(&id) || self.finished.0.contains(&id) {
            // Replicas: the hub relays a command that this replica already holds, or one
            // that finished meanwhile. Its creator still announces it.
            if !msg.mirrored {
                self.publish_command(&id, &cmd.command.action, CommandState::Pending);
            }
            return;
        }
        self.publish_command_as(
            &id,
            &cmd.command.action,
            CommandState::Pending,
            msg.mirrored,
        );
        let topic = self.queue(cmd, ctx);
        self.dispatch(&topic, ctx);
    }
}

impl Handler<CancelCommand> for ClusterActor {
    type Result = ResponseActFuture<Self, Result<CancelOutcome, StoreError>>;

    fn handle(&mut self, msg: CancelCommand, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.command_id;
        if self.dispatching.contains(&id) || self.running.contains_key(&id) {
            return Box::pin(fut::ready(Ok(CancelOutcome::NotPending)));
        }
        let Some(mut gone) = self.remove_queued(&id) else {
            return Box::pin(fut::ready(Ok(CancelOutcome::NotHere)));
        };
        if let Some(t) = gone.timer.take() {
            ctx.cancel_future(t);
        }
        let action = gone.cmd.command.action.to_string();
        let fut = self.store.transition(
            &id,
            &[CommandState::Pending],
            CommandState::Cancelled,
            Utc::now(),
        );
        Box::pin(fut.into_actor(self).map(move |res, act, _| {
            let applied = res?;
            if applied {
                act.publish_command(&id, &action, CommandState::Cancelled);
                act.wake(&id);
                Ok(CancelOutcome::Cancelled)
            } else {
                Ok(CancelOutcome::NotPending)
            }
        }))
    }
}

impl Handler<ResultRecorded> for ClusterActor {
    type Result = ();

    fn handle(&mut self, msg: ResultRecorded, ctx: &mut Context<Self>) {
        self.touch(ctx);
        if let Some(run) = self.running.remove(&msg.command_id) {
            if let Some(t) = run.timer {
                ctx.cancel_future(t);
            }
        }
        if let Some(mut q) = self.remove_queued(&msg.command_id) {
            if let Some(t) = q.timer.take() {
                ctx.cancel_future(t);
            }
        }
        self.publish_command(&msg.command_id, &msg.action, msg.status);
        self.wake(&msg.command_id);
    }
}

impl Handler<WaitCommand> for ClusterActor {
    type Result = MessageResult<WaitCommand>;

    fn handle(&mut self, msg: WaitCommand, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let list = self.waiters.entry(msg.command_id).or_default();
        list.retain(|w| !w.is_closed());
        list.push(tx);
        MessageResult(rx)
    }
}

impl Handler<GetStatus> for ClusterActor {
    type Result = ClusterStatusView;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> ClusterStatusView {
        ClusterStatusView {
            cluster_id: self.id.to_string(),
            liveness: self.liveness,
            last_seen: self.last_seen,
            offline_since: self.offline_since,
            latest: self.latest.as_ref().map(|l| l.record.clone()),
            recent: self.recent.iter().cloned().collect(),
            agent: self.agent_view(),
            queued_commands: self.queues.values().map(VecDeque::len).sum(),
            running_commands: self.running.len(),
            // Polls whose client went away linger until the next dispatch or their deadline;
            // they are not waiting any more, so they are not counted.
            parked_polls: self
                .parked
                .values()
                .flatten()
                .filter(|p| !p.tx.is_closed())
                .count(),
        }
    }
}

impl Handler<GetLiveness> for ClusterActor {
    type Result = MessageResult<GetLiveness>;

    fn handle(&mut self, _: GetLiveness, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.liveness)
    }
}

impl Handler<GetSnapshot> for ClusterActor {
    type Result = Option<LatestSnapshot>;
    fn handle(&mut self, _: GetSnapshot, _: &mut Context<Self>) -> Option<LatestSnapshot> {
        self.latest.clone()
    }
}

impl Handler<GetParseBase> for ClusterActor {
    type Result = Option<Base>;
    fn handle(&mut self, _: GetParseBase, _: &mut Context<Self>) -> Option<Base> {
        Some(Base {
            snapshot: Arc::clone(&self.latest.as_ref()?.snapshot),
            memo: Arc::clone(self.memo.as_ref()?),
        })
    }
}

impl Handler<GetSloPush> for ClusterActor {
    type Result = Option<Arc<SloPushRequest>>;
    fn handle(&mut self, _: GetSloPush, _: &mut Context<Self>) -> Option<Arc<SloPushRequest>> {
        self.slo.clone()
    }
}

impl Handler<SetRole> for ClusterActor {
    type Result = ();

    fn handle(&mut self, msg: SetRole, ctx: &mut Context<Self>) {
        if msg.owner == self.owner || self.draining {
            return;
        }
        self.owner = msg.owner;
        self.cancel_decision_timers(ctx);
        if msg.owner {
            // The state a follower kept (the mirrored liveness, the last sign of life any
            // replica relayed, the mirrored commands) is the owner's starting point: no
            // transition is published for the takeover itself.
            info!(cluster_id = %self.id, liveness = ?self.liveness, "cluster taken over");
            // Not known to be online (first contact reached a follower, or this replica
            // just started) but heard from within the timeout: online, as after a restart.
            let alive = self
                .last_seen_at
                .is_some_and(|t| t.elapsed() < self.cfg.heartbeat_timeout);
            if alive && self.liveness != Liveness::Online {
                let previous = self.liveness;
                self.liveness = Liveness::Online;
                self.offline_since = None;
                self.publish_status(previous, Utc::now());
            }
            self.rearm_decision_timers(ctx);
        } else {
            info!(cluster_id = %self.id, "cluster handed over");
        }
    }
}

impl Handler<MirrorStatus> for ClusterActor {
    type Result = ();

    fn handle(&mut self, msg: MirrorStatus, _: &mut Context<Self>) {
        if msg.last_seen > self.last_seen {
            self.last_seen = msg.last_seen;
        }
        if self.owner || self.liveness == msg.status {
            return;
        }
        // `previous` is this replica's own: an owner's repeated announcement (to a replica
        // that just started) reads "not heard from → online" here.
        let previous = self.liveness;
        self.liveness = msg.status;
        self.offline_since = (msg.status == Liveness::Offline).then_some(msg.at);
        self.bus.status.publish(ClusterStatusChanged {
            cluster_id: Arc::clone(&self.id),
            status: msg.status,
            previous,
            at: msg.at,
            last_seen: msg.last_seen,
            mirrored: true,
        });
    }
}

impl Handler<PruneFinished> for ClusterActor {
    type Result = ();

    fn handle(&mut self, msg: PruneFinished, ctx: &mut Context<Self>) {
        let gone = |id: &str, at: DateTime<Utc>| !msg.active.contains(id) && at < msg.before;
        let mut pruned = Vec::new();
        for q in self.queues.values_mut() {
            q.retain_mut(|c| {
                if gone(&c.cmd.command.id, c.cmd.created_at) {
                    if let Some(t) = c.timer.take() {
                        ctx.cancel_future(t);
                    }
                    pruned.push(c.cmd.command.id.to_string());
                    false
                } else {
                    true
                }
            });
        }
        let stale: Vec<String> = self
            .running
            .iter()
            .filter(|(id, r)| !msg.running.contains(*id) && r.cmd.started_at < msg.before)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(r) = self.running.remove(&id) {
                if let Some(t) = r.timer {
                    ctx.cancel_future(t);
                }
            }
            // Still pending in the database: back to pending, not finished (the resync
            // queues it again); a waiter keeps waiting.
            if !msg.active.contains(&id) {
                pruned.push(id);
            }
        }
        for id in &pruned {
            debug!(cluster_id = %self.id, command_id = %id, "finished elsewhere; dropped");
            self.wake(id);
        }
    }
}

impl Handler<MirrorCommand> for ClusterActor {
    type Result = ();

    fn handle(&mut self, msg: MirrorCommand, ctx: &mut Context<Self>) {
        let id = msg.command_id.as_str();
        if let Some(mut q) = self.remove_queued(id) {
            if let Some(t) = q.timer.take() {
                ctx.cancel_future(t);
            }
        }
        if msg.status == CommandState::Running {
            if self.running.contains_key(id)
                || self.dispatching.contains(id)
                || self.finished.0.contains(id)
            {
                return;
            }
            self.track_running(
                RunningCommand {
                    command_id: msg.command_id.clone(),
                    action: msg.action.clone(),
                    started_at: msg.at,
                },
                ctx,
            );
        } else if msg.status.is_final() {
            if let Some(run) = self.running.remove(id) {
                if let Some(t) = run.timer {
                    ctx.cancel_future(t);
                }
            }
            self.wake(id);
        }
        self.publish_command_as(id, &msg.action, msg.status, true);
    }
}

impl Handler<Drain> for ClusterActor {
    type Result = Option<DateTime<Utc>>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Option<DateTime<Utc>> {
        // Stop every timer: a draining master must not change stored state any more.
        self.draining = true;
        self.cancel_decision_timers(ctx);
        for (_, polls) in self.parked.drain() {
            for mut p in polls {
                if let Some(t) = p.timer.take() {
                    ctx.cancel_future(t);
                }
                let _ = p.tx.send(PollOutcome::Empty);
            }
        }
        self.last_seen
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use std::sync::Mutex;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::model::Command;
    use crate::store::StoreFuture;

    /// Command states in memory. Each transition takes a permit from `gate`, so a test
    /// can hold the "database" while it changes the world.
    struct FakeStore {
        states: Arc<Mutex<HashMap<String, CommandState>>>,
        /// Every command enqueued, for [`Store::unfinished`].
        commands: Arc<Mutex<Vec<QueuedCommand>>>,
        gate: Arc<Semaphore>,
    }

    impl FakeStore {
        fn new(open: bool) -> Arc<FakeStore> {
            let permits = if open { Semaphore::MAX_PERMITS } else { 0 };
            Arc::new(FakeStore {
                states: Arc::default(),
                commands: Arc::default(),
                gate: Arc::new(Semaphore::new(permits)),
            })
        }
        fn pending(&self, id: &str) {
            self.states
                .lock()
                .unwrap()
                .insert(id.to_owned(), CommandState::Pending);
        }
        fn state(&self, id: &str) -> Option<CommandState> {
            self.states.lock().unwrap().get(id).copied()
        }
    }

    impl Store for FakeStore {
        fn transition(
            &self,
            command_id: &str,
            from: &'static [CommandState],
            to: CommandState,
            _at: DateTime<Utc>,
        ) -> StoreFuture<bool> {
            let (states, gate, id) = (
                Arc::clone(&self.states),
                Arc::clone(&self.gate),
                command_id.to_owned(),
            );
            Box::pin(async move {
                gate.acquire().await.unwrap().forget();
                let mut states = states.lock().unwrap();
                match states.get_mut(&id) {
                    Some(st) if from.contains(st) => {
                        *st = to;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            })
        }
        fn register_cluster(&self, _: &str, _: DateTime<Utc>) -> StoreFuture<()> {
            Box::pin(async { Ok(()) })
        }
        fn record_last_seen(&self, _: &str, _: DateTime<Utc>) -> StoreFuture<()> {
            Box::pin(async { Ok(()) })
        }
        fn unfinished(
            &self,
            cluster_id: &str,
        ) -> StoreFuture<(Vec<QueuedCommand>, Vec<RunningCommand>)> {
            let states = self.states.lock().unwrap();
            let mine = self
                .commands
                .lock()
                .unwrap()
                .iter()
                .filter(|c| &*c.command.cluster_id == cluster_id)
                .cloned()
                .collect::<Vec<_>>();
            let in_state = |c: &QueuedCommand, s| states.get(&*c.command.id) == Some(&s);
            let pending = mine
                .iter()
                .filter(|c| in_state(c, CommandState::Pending))
                .cloned()
                .collect();
            let running = mine
                .iter()
                .filter(|c| in_state(c, CommandState::Running))
                .map(|c| RunningCommand {
                    command_id: c.command.id.to_string(),
                    action: c.command.action.to_string(),
                    started_at: Utc::now(),
                })
                .collect();
            Box::pin(async move { Ok((pending, running)) })
        }
    }

    fn start(store: &Arc<FakeStore>, poll_timeout: Duration) -> Addr<ClusterActor> {
        let cfg = ClusterConfig {
            heartbeat_timeout: Duration::from_secs(60),
            poll_timeout,
            result_timeout: Duration::from_secs(60),
            pending_ttl: Duration::from_secs(60),
            snapshot_retention: 3,
            owner: true,
            relay_down: Arc::default(),
        };
        let store: Arc<dyn Store> = Arc::clone(store) as Arc<dyn Store>;
        ClusterActor::new(
            Arc::from("c1"),
            cfg,
            store,
            Bus::default(),
            Restore::default(),
        )
        .start()
    }

    /// Stores `id` as pending and enqueues it on `ops`.
    async fn enqueue(addr: &Addr<ClusterActor>, store: &FakeStore, id: &str) {
        enqueue_on(addr, store, "c1", id).await;
    }

    async fn enqueue_on(addr: &Addr<ClusterActor>, store: &FakeStore, cluster: &str, id: &str) {
        store.pending(id);
        let command = Command {
            id: id.into(),
            cluster_id: cluster.into(),
            action: "restart".into(),
            created_at: GoTime::now(),
            ..Command::default()
        };
        let queued = QueuedCommand {
            command,
            topic: "ops".into(),
            created_at: Utc::now(),
        };
        store.commands.lock().unwrap().push(queued.clone());
        addr.send(EnqueueCommand {
            queued,
            mirrored: false,
        })
        .await
        .unwrap();
    }

    async fn poll(addr: &Addr<ClusterActor>) -> oneshot::Receiver<PollOutcome> {
        addr.send(PollCommand {
            topic: "ops".into(),
        })
        .await
        .unwrap()
    }

    /// (queued, running, parked).
    async fn counts(addr: &Addr<ClusterActor>) -> (usize, usize, usize) {
        let v = addr.send(GetStatus).await.unwrap();
        (v.queued_commands, v.running_commands, v.parked_polls)
    }

    fn delivered(outcome: PollOutcome) -> String {
        match outcome {
            PollOutcome::Command(c) => c.id.to_string(),
            other => panic!("expected a command, got {other:?}"),
        }
    }

    #[actix_rt::test]
    async fn enqueue_wakes_a_parked_poll_and_the_command_runs() {
        let store = FakeStore::new(true);
        let addr = start(&store, Duration::from_secs(30));
        let rx = poll(&addr).await;
        assert_eq!(counts(&addr).await, (0, 0, 1));
        enqueue(&addr, &store, "a").await;
        assert_eq!(delivered(rx.await.unwrap()), "a");
        assert_eq!(store.state("a"), Some(CommandState::Running));
        assert_eq!(counts(&addr).await, (0, 1, 0));
    }

    #[actix_rt::test]
    async fn a_poll_on_an_empty_queue_stays_parked() {
        let store = FakeStore::new(true);
        let addr = start(&store, Duration::from_secs(30));
        enqueue(&addr, &store, "a").await;
        assert_eq!(delivered(poll(&addr).await.await.unwrap()), "a");
        // The topic's queue now exists and is empty: the next poll must wait.
        let mut rx = poll(&addr).await;
        assert_eq!(counts(&addr).await, (0, 1, 1));
        assert!(rx.try_recv().is_err(), "answered without a command");
        enqueue(&addr, &store, "b").await;
        assert_eq!(delivered(rx.await.unwrap()), "b");
    }

    #[actix_rt::test]
    async fn a_poll_times_out_empty() {
        let store = FakeStore::new(true);
        let addr = start(&store, Duration::from_millis(50));
        assert!(matches!(
            poll(&addr).await.await.unwrap(),
            PollOutcome::Empty
        ));
        assert_eq!(counts(&addr).await, (0, 0, 0));
    }

    #[actix_rt::test]
    async fn a_dropped_poll_leaves_the_command_queued() {
        let store = FakeStore::new(true);
        let addr = start(&store, Duration::from_secs(30));
        drop(poll(&addr).await);
        assert_eq!(
            counts(&addr).await,
            (0, 0, 0),
            "a gone poller is not parked"
        );
        enqueue(&addr, &store, "a").await;
        assert_eq!(counts(&addr).await, (1, 0, 0));
        assert_eq!(store.state("a"), Some(CommandState::Pending));
        assert_eq!(delivered(poll(&addr).await.await.unwrap()), "a");
    }

    #[actix_rt::test]
    async fn a_poll_dropped_while_marking_running_puts_the_command_back() {
        let store = FakeStore::new(false);
        let addr = start(&store, Duration::from_secs(30));
        let rx = poll(&addr).await;
        enqueue(&addr, &store, "a").await;
        // pending → running is held in the store; the poller leaves meanwhile.
        drop(rx);
        store.gate.add_permits(2);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(counts(&addr).await == (1, 0, 0) && store.state("a") == Some(CommandState::Pending))
        {
            assert!(Instant::now() < deadline, "command not returned to pending");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        store.gate.add_permits(1);
        assert_eq!(delivered(poll(&addr).await.await.unwrap()), "a");
        assert_eq!(store.state("a"), Some(CommandState::Running));
    }

    #[actix_rt::test]
    async fn cancel_takes_a_queued_command_out() {
        let store = FakeStore::new(true);
        let addr = start(&store, Duration::from_millis(50));
        enqueue(&addr, &store, "a").await;
        let cancel = |id: &str| {
            addr.send(CancelCommand {
                command_id: id.to_owned(),
            })
        };
        assert_eq!(
            cancel("a").await.unwrap().unwrap(),
            CancelOutcome::Cancelled
        );
        assert_eq!(store.state("a"), Some(CommandState::Cancelled));
        assert_eq!(counts(&addr).await, (0, 0, 0));
        assert!(matches!(
            poll(&addr).await.await.unwrap(),
            PollOutcome::Empty
        ));
        assert_eq!(cancel("a").await.unwrap().unwrap(), CancelOutcome::NotHere);

        enqueue(&addr, &store, "b").await;
        assert_eq!(delivered(poll(&addr).await.await.unwrap()), "b");
        assert_eq!(
            cancel("b").await.unwrap().unwrap(),
            CancelOutcome::NotPending
        );
        assert_eq!(store.state("b"), Some(CommandState::Running));
    }

    /// A follower (replicas) with a short heartbeat timeout, and its bus.
    fn follower(store: &Arc<FakeStore>) -> (Addr<ClusterActor>, Bus) {
        let cfg = ClusterConfig {
            heartbeat_timeout: Duration::from_millis(150),
            poll_timeout: Duration::from_secs(5),
            result_timeout: Duration::from_millis(150),
            pending_ttl: Duration::from_millis(150),
            snapshot_retention: 3,
            owner: false,
            relay_down: Arc::default(),
        };
        let bus = Bus::default();
        let store: Arc<dyn Store> = Arc::clone(store) as Arc<dyn Store>;
        let addr =
            ClusterActor::new(Arc::from("c1"), cfg, store, bus.clone(), Restore::default()).start();
        (addr, bus)
    }

    #[actix_rt::test]
    async fn a_follower_decides_nothing_and_its_takeover_publishes_no_transition() {
        let store = FakeStore::new(true);
        let (addr, bus) = follower(&store);
        let status = bus.status.subscribe("test");
        // The owner elsewhere said online; the follower repeats it as mirrored.
        addr.send(MirrorStatus {
            status: Liveness::Online,
            previous: Liveness::Unknown,
            at: Utc::now(),
            last_seen: Some(Utc::now()),
        })
        .await
        .unwrap();
        let m = status.try_recv().expect("mirrored transition");
        assert!(m.mirrored);
        // No liveness timer, no pending expiry: nothing happens past the deadlines.
        addr.send(Touch).await.unwrap();
        enqueue(&addr, &store, "a").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(addr.send(GetLiveness).await.unwrap(), Liveness::Online);
        assert_eq!(store.state("a"), Some(CommandState::Pending));
        assert!(status.try_recv().is_none());
        // Taking over publishes nothing while the agent keeps talking...
        addr.send(SetRole { owner: true }).await.unwrap();
        addr.send(Touch).await.unwrap();
        assert!(status.try_recv().is_none());
        assert_eq!(addr.send(GetLiveness).await.unwrap(), Liveness::Online);
        // ...and the owner's timers now run: the command expires, the quiet cluster goes
        // offline, once, as the owner's own decision.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(store.state("a"), Some(CommandState::Expired));
        let m = status.try_recv().expect("offline");
        assert_eq!(m.status, Liveness::Offline);
        assert!(!m.mirrored);
        assert!(status.try_recv().is_none());
    }

    #[actix_rt::test]
    async fn mirrored_and_pruned_commands_leave_the_mailbox_and_wake_their_waiters() {
        let store = FakeStore::new(true);
        let (addr, _bus) = follower(&store);
        enqueue(&addr, &store, "a").await;
        enqueue(&addr, &store, "b").await;
        // The same command relayed again is not queued twice.
        enqueue(&addr, &store, "a").await;
        assert_eq!(counts(&addr).await, (2, 0, 0));
        let wait_a = addr
            .send(WaitCommand {
                command_id: "a".into(),
            })
            .await
            .unwrap();
        let wait_b = addr
            .send(WaitCommand {
                command_id: "b".into(),
            })
            .await
            .unwrap();
        // "a" was handed out and finished on another replica.
        for status in [CommandState::Running, CommandState::Success] {
            addr.send(MirrorCommand {
                command_id: "a".into(),
                action: "restart".into(),
                status,
                at: Utc::now(),
            })
            .await
            .unwrap();
        }
        wait_a.await.expect("woken by the relayed result");
        assert_eq!(counts(&addr).await, (1, 0, 0));
        // "b" finished elsewhere too, but its relay was lost: the resync prunes it.
        addr.send(PruneFinished {
            active: HashSet::new(),
            running: HashSet::new(),
            before: Utc::now() - chrono::TimeDelta::hours(1),
        })
        .await
        .unwrap();
        assert_eq!(counts(&addr).await, (1, 0, 0), "too recent to prune");
        addr.send(PruneFinished {
            active: HashSet::new(),
            running: HashSet::new(),
            before: Utc::now() + chrono::TimeDelta::seconds(1),
        })
        .await
        .unwrap();
        wait_b.await.expect("woken by the prune");
        assert_eq!(counts(&addr).await, (0, 0, 0));
    }

    /// A fault injected into one actor (tests only).
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Explode;

    impl Handler<Explode> for ClusterActor {
        type Result = ();
        fn handle(&mut self, _: Explode, _: &mut Context<Self>) {
            panic!("injected fault in cluster {}", self.id);
        }
    }

    #[actix_rt::test]
    async fn a_panicking_cluster_actor_is_revived_with_its_state_and_the_others_never_notice() {
        use crate::registry::{ListClusters, Registry, Resolve};
        let store = FakeStore::new(true);
        let cfg = ClusterConfig {
            heartbeat_timeout: Duration::from_secs(2),
            poll_timeout: Duration::from_secs(5),
            result_timeout: Duration::from_secs(60),
            pending_ttl: Duration::from_secs(60),
            snapshot_retention: 3,
            owner: true,
            relay_down: Arc::default(),
        };
        let bus = Bus::default();
        let status = bus.status.subscribe("test");
        let dyn_store: Arc<dyn Store> = Arc::clone(&store) as Arc<dyn Store>;
        let registry = Registry::new(cfg, dyn_store, bus.clone(), Vec::new(), 100);
        let revived = registry.revived_counter();
        let registry = registry.start();
        let resolve = |id: &str| {
            registry.send(Resolve {
                cluster_id: id.to_owned(),
                register: true,
            })
        };
        let mut addrs = Vec::new();
        for id in ["c1", "c2", "c3"] {
            let addr = resolve(id).await.unwrap().unwrap().unwrap();
            let applied = addr
                .send(ApplySnapshot {
                    snapshot: Arc::new(crate::model::ClusterSnapshot::default()),
                    bytes: 1,
                    received_at: Utc::now(),
                    memo: None,
                })
                .await
                .unwrap();
            assert!(applied.applied);
            addrs.push(addr);
        }
        for _ in 0..3 {
            assert_eq!(status.try_recv().expect("online").status, Liveness::Online);
        }
        // c1 holds a pending command and a running one.
        enqueue_on(&addrs[0], &store, "c1", "run").await;
        assert_eq!(delivered(poll(&addrs[0]).await.await.unwrap()), "run");
        enqueue_on(&addrs[0], &store, "c1", "wait").await;
        assert_eq!(counts(&addrs[0]).await, (1, 1, 0));
        let parked = poll(&addrs[1]).await;

        // The fault: c1's handler panics, the runtime drops the actor.
        assert!(
            addrs[0].send(Explode).await.is_err(),
            "the panic answers nothing"
        );
        assert!(!addrs[0].connected());
        // The others keep working, their parked poll included.
        for addr in &addrs[1..] {
            let v = addr.send(GetStatus).await.unwrap();
            assert_eq!(v.liveness, Liveness::Online);
            assert!(v.latest.is_some());
        }
        enqueue_on(&addrs[1], &store, "c2", "other").await;
        assert_eq!(delivered(parked.await.unwrap()), "other");

        // The next lookup gets a new actor with the state the dead one had.
        let again = resolve("c1").await.unwrap().unwrap().unwrap();
        assert!(again.connected());
        let deadline = Instant::now() + Duration::from_secs(5);
        while counts(&again).await != (1, 1, 0) {
            assert!(
                Instant::now() < deadline,
                "commands not reloaded from the store"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let v = again.send(GetStatus).await.unwrap();
        assert_eq!(v.liveness, Liveness::Online, "a revival is not an outage");
        assert!(v.latest.is_some(), "the snapshot survived");
        assert_eq!(revived.load(std::sync::atomic::Ordering::Relaxed), 1);
        // The pending command is still handed out exactly once; the running one is not
        // handed out again.
        assert_eq!(delivered(poll(&again).await.await.unwrap()), "wait");
        assert_eq!(store.state("wait"), Some(CommandState::Running));
        let mut next = poll(&again).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(next.try_recv().is_err(), "nothing else to hand out");
        // No liveness transition was published for the revival; the agent keeps talking
        // and the cluster never goes offline.
        for _ in 0..3 {
            again.send(Touch).await.unwrap();
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        while let Some(m) = status.try_recv() {
            // c2 and c3 went quiet meanwhile (their own, real transitions).
            assert_ne!(&*m.cluster_id, "c1", "a revival publishes nothing: {m:?}");
        }

        // Without any lookup, the sweep revives a dead actor within about a second.
        assert!(addrs[2].send(Explode).await.is_err());
        let deadline = Instant::now() + Duration::from_secs(3);
        while revived.load(std::sync::atomic::Ordering::Relaxed) < 2 {
            assert!(Instant::now() < deadline, "the sweep did not revive c3");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all = registry.send(ListClusters).await.unwrap();
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|h| h.addr.connected()));

        // c1 dies again within the minute: revived without the snapshot it held (in case
        // that is what makes it panic), still online, commands still there.
        assert!(again.send(Explode).await.is_err());
        let third = resolve("c1").await.unwrap().unwrap().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while counts(&third).await != (0, 2, 0) {
            assert!(Instant::now() < deadline, "commands not reloaded again");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let v = third.send(GetStatus).await.unwrap();
        assert!(v.latest.is_none(), "the snapshot was dropped");
        assert_eq!(v.liveness, Liveness::Online);
        assert_eq!(revived.load(std::sync::atomic::Ordering::Relaxed), 3);
    }
}
