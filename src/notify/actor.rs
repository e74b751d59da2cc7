//! `Notifier`: evaluates the alert rules and runs the alert lifecycle.
//!
//! - **Owns** four bus subscriptions (`SnapshotReceived`, `ClusterStatusChanged`,
//!   `CommandStateChanged`, `SloEvaluated`; latest wins per key, so a slow notifier coalesces and never
//!   holds up ingestion), the rule [`Evaluator`] (restart memory per pod) and the
//!   [`Engine`] (pending/firing alerts, groups, cooldowns, silences, offline clusters).
//! - **Per input** it asks the engine what changes; the history rows and outbox messages
//!   of one input are written in one transaction (`db.notify().apply_changes`), strictly
//!   in order (`ctx.wait`), and the [`Dispatcher`] is kicked. Sending is the dispatcher's
//!   job.
//! - A timer ticks the engine (pending → firing after `for`, group flushes, reminders).
//! - **Survives a restart:** the rules, silences, channels, the firing alerts (with their
//!   notified/suppressed state) and the outbox. `started()` reloads them all before it
//!   handles any input, so a firing alert is neither fired twice nor left unresolved.
//!   Pending matches restart their `for` clock; cooldown memory is lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use atlhyper_actors::supervise::StartSupervised as _;
use chrono::Utc;
use tokio::sync::oneshot;

use atlhyper_actors::bus::Subscription;
use atlhyper_actors::command::CommandState;
use atlhyper_actors::messages::{
    AgentSeen, AlertChanged, Bus, ClusterStatusChanged, CommandStateChanged, Liveness,
    SloEvaluated, SnapshotReceived,
};
use atlhyper_actors::registry::ListClusters;

use crate::hub::LeaderChanged;

use super::dispatch::{Dispatcher, Kick};
use super::engine::{
    Effect, Engine, FiringRow, RuleView, Silence, Suppressed, Timing, COMMAND_RULE, OUTDATED_RULE,
};
use super::message::{MessageKind, ResourceId, Severity};
use super::rules::{Condition, Evaluator, Observation, Scope};
use crate::config::Settings;
use crate::db::notify::{AlertRow, HistoryOp, NewAlertRow, NewDelivery, RuleRow};
use crate::db::{from_db, to_db, Db};
use crate::secrets::SecretBox;

/// Reload rules, silences and channels from the database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload {
    /// Fired once applied.
    pub done: Option<oneshot::Sender<()>>,
}

/// Replies once every input received so far is evaluated and written.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flush {
    /// Fired after the writes.
    pub done: oneshot::Sender<()>,
}

/// The evaluator and lifecycle.
pub struct Notifier {
    db: Db,
    secrets: Arc<SecretBox>,
    engine: Engine,
    eval: Evaluator,
    snapshots: Arc<Subscription<SnapshotReceived>>,
    status: Arc<Subscription<ClusterStatusChanged>>,
    commands: Arc<Subscription<CommandStateChanged>>,
    slo: Arc<Subscription<SloEvaluated>>,
    agents: Arc<Subscription<AgentSeen>>,
    /// Each cluster's agent version as last published (`agent_outdated`).
    agent_versions: std::collections::HashMap<Arc<str>, Option<String>>,
    /// The agent version policy, reloaded with the rules.
    policy: crate::service::agents::Policy,
    dispatcher: Addr<Dispatcher>,
    bus: Bus,
    tick: Duration,
    /// Set once `started()` has loaded the state; inputs before that are kept waiting by
    /// `ctx.wait`, so this is only a guard for the tick.
    ready: bool,
    /// Replicas: the engine ticks only on the leader.
    leader: tokio::sync::watch::Receiver<bool>,
    /// The engine's timing, to start a fresh engine on a new leadership.
    timing: Timing,
    /// Replicas: where a new leader reads every cluster's liveness.
    registry: Option<Addr<atlhyper_actors::registry::Registry>>,
}

type Work = std::pin::Pin<Box<dyn ActorFuture<Notifier, Output = ()>>>;

impl Notifier {
    fn on_snapshot(&mut self, msg: SnapshotReceived) -> Vec<Effect> {
        let now = msg.received_at;
        let cluster = msg.cluster_id;
        self.eval.observe_snapshot(&cluster, &msg.snapshot, now);
        self.engine.seen(&cluster);
        // Match every rule first (the engine is only read), then let the engine change.
        let eval = &self.eval;
        let matched: Vec<(i32, Vec<Observation>)> = self
            .engine
            .rules()
            .filter(|r| r.condition.metric.from_snapshot() && r.scope.matches_cluster(&cluster))
            .map(|r| {
                let m = eval.matches(&r.condition, &r.scope, &cluster, &msg.snapshot, now);
                (r.id, m)
            })
            .collect();
        let mut fx = Vec::new();
        for (id, matches) in matched {
            fx.extend(self.engine.evaluate(id, &cluster, matches, now));
        }
        fx
    }

    /// The burn-rate and latency rules, against the SLO persister's evaluation.
    fn on_slo(&mut self, msg: SloEvaluated) -> Vec<Effect> {
        let cluster = msg.cluster_id;
        let matched: Vec<(i32, Vec<Observation>)> = self
            .engine
            .rules()
            .filter(|r| r.condition.metric.from_slo())
            .map(|r| {
                let m = super::rules::slo::matches(&r.condition, &r.scope, &cluster, &msg.routes);
                (r.id, m)
            })
            .collect();
        let mut fx = Vec::new();
        for (id, matches) in matched {
            fx.extend(self.engine.evaluate(id, &cluster, matches, msg.at));
        }
        fx
    }

    fn on_status(&mut self, msg: ClusterStatusChanged) -> Vec<Effect> {
        let online = match msg.status {
            Liveness::Online => true,
            Liveness::Offline => false,
            Liveness::Unknown => return Vec::new(),
        };
        let last_seen = msg
            .last_seen
            .map_or_else(|| "never".to_string(), |t| t.to_rfc3339());
        let obs = Observation {
            resource: ResourceId {
                kind: "Cluster".into(),
                namespace: String::new(),
                name: msg.cluster_id.to_string(),
            },
            subkey: String::new(),
            value: 1.0,
            description: format!("no agent request since {last_seen}"),
            details: vec![
                ("last_seen".into(), last_seen),
                ("offline_since".into(), msg.at.to_rfc3339()),
            ],
        };
        if !online {
            self.eval.forget_cluster(&msg.cluster_id);
        }
        self.engine
            .cluster_status(&msg.cluster_id, online, obs, msg.at)
    }

    /// The `agent_outdated` rule for one cluster: one match while its agent is older than
    /// the policy's minimum.
    fn outdated(&mut self, cluster: &Arc<str>, now: chrono::DateTime<Utc>) -> Vec<Effect> {
        let Some(rule) = self.engine.builtin(OUTDATED_RULE) else {
            return Vec::new();
        };
        if !self
            .engine
            .rules()
            .any(|r| r.id == rule && r.scope.matches_cluster(cluster))
        {
            return Vec::new();
        }
        let version = self.agent_versions.get(cluster).cloned().flatten();
        let matches = match (
            self.policy.outdated(version.as_deref()),
            &self.policy.min_version,
        ) {
            (Some(true), Some(min)) => {
                let v = version.unwrap_or_default();
                vec![Observation {
                    resource: ResourceId {
                        kind: "Cluster".into(),
                        namespace: String::new(),
                        name: cluster.to_string(),
                    },
                    subkey: String::new(),
                    value: 1.0,
                    description: format!("agent {v} is older than the minimum {min}"),
                    details: vec![
                        ("agent_version".into(), v),
                        ("min_version".into(), min.clone()),
                    ],
                }]
            }
            _ => Vec::new(),
        };
        self.engine.evaluate(rule, cluster, matches, now)
    }

    /// A push that does not tell the version (a bare heartbeat before the first snapshot)
    /// changes nothing: the alert neither resolves nor fires on what is not known.
    fn on_agent(&mut self, msg: AgentSeen) -> Vec<Effect> {
        let Some(version) = msg.agent.agent_version else {
            return Vec::new();
        };
        let known = self.agent_versions.get(&msg.cluster_id);
        if known.is_some_and(|k| k.as_deref() == Some(version.as_str())) {
            return Vec::new();
        }
        self.agent_versions
            .insert(Arc::clone(&msg.cluster_id), Some(version));
        self.outdated(&msg.cluster_id, msg.at)
    }

    fn on_command(&mut self, msg: CommandStateChanged) -> Vec<Effect> {
        if !matches!(msg.status, CommandState::Failed | CommandState::Timeout) {
            return Vec::new();
        }
        let Some(rule) = self.engine.builtin(COMMAND_RULE) else {
            return Vec::new();
        };
        if !self
            .engine
            .rules()
            .any(|r| r.id == rule && r.scope.matches_cluster(&msg.cluster_id))
        {
            return Vec::new();
        }
        let status = msg.status.to_string();
        let obs = Observation {
            resource: ResourceId {
                kind: "Command".into(),
                namespace: String::new(),
                name: msg.command_id.to_string(),
            },
            subkey: String::new(),
            value: 1.0,
            description: format!("command {} ({}) ended {status}", msg.command_id, msg.action),
            details: vec![
                ("action".into(), msg.action.to_string()),
                ("status".into(), status),
            ],
        };
        self.engine
            .fire_one_shot(rule, &msg.cluster_id, obs, msg.at)
    }

    /// Writes `fx` in one transaction, then kicks the dispatcher.
    fn apply(&mut self, fx: Vec<Effect>) -> Option<Work> {
        if fx.is_empty() {
            return None;
        }
        let now = Utc::now();
        let mut ops = Vec::new();
        let mut sends = Vec::new();
        let mut published = Vec::new();
        for e in fx {
            match e {
                Effect::Fire(a) => {
                    published.push(AlertChanged {
                        alert_uid: Arc::from(a.uid.as_str()),
                        cluster_id: Arc::from(a.cluster_id.as_str()),
                        rule: a.rule_name.clone(),
                        status: "firing",
                        resource: a.observation.resource.key(),
                        at: a.fired_at,
                        mirrored: false,
                    });
                    ops.push(HistoryOp::Fire(Box::new(NewAlertRow {
                        uid: a.uid,
                        rule_id: Some(a.rule_id),
                        rule_name: a.rule_name,
                        fingerprint: a.fingerprint,
                        cluster_id: a.cluster_id,
                        severity: a.severity.as_str().to_string(),
                        title: a.title,
                        message: a.observation.description.clone(),
                        resource_kind: a.observation.resource.kind.clone(),
                        resource_namespace: a.observation.resource.namespace.clone(),
                        resource_name: a.observation.resource.name.clone(),
                        value: Some(a.observation.value),
                        details: serde_json::to_string(&a.observation.details)
                            .unwrap_or_else(|_| "[]".into()),
                        status: "firing".into(),
                        fired_at: to_db(a.fired_at),
                    })));
                }
                Effect::Resolve {
                    uid,
                    at,
                    cluster,
                    rule,
                    resource,
                } => {
                    published.push(AlertChanged {
                        alert_uid: Arc::from(uid.as_str()),
                        cluster_id: cluster,
                        rule,
                        status: "resolved",
                        resource,
                        at,
                        mirrored: false,
                    });
                    ops.push(HistoryOp::Resolve { uid, at });
                }
                Effect::Notified { uids, at } => ops.push(HistoryOp::Notified { uids, at }),
                Effect::Suppress { uid, reason } => ops.push(HistoryOp::Suppress {
                    uid,
                    reason: reason.map(|r| r.as_str().to_string()),
                }),
                Effect::Send { channels, message } => sends.push((channels, message)),
            }
        }
        let kick = !sends.is_empty();
        let db = self.db.clone();
        let write = async move {
            let mut deliveries = Vec::new();
            for (channels, mut message) in sends {
                with_recent_changes(&db, &mut message).await;
                let Ok(json) = serde_json::to_string(&message) else {
                    continue;
                };
                for channel in channels {
                    deliveries.push(NewDelivery {
                        channel,
                        kind: message.kind.as_str().to_string(),
                        alert_uid: message.alerts.first().map(|a| a.alert_uid.clone()),
                        cluster_id: message.cluster_id.clone(),
                        rule_name: message.rule.clone(),
                        title: message.title.clone(),
                        message: json.clone(),
                        status: "pending".into(),
                        next_attempt_at: to_db(now),
                        created_at: to_db(now),
                        updated_at: to_db(now),
                    });
                }
            }
            db.notify().apply_changes(ops, deliveries).await
        };
        Some(Box::pin(write.into_actor(self).map(
            move |res, act, _| match res {
                Ok(()) => {
                    if kick {
                        act.dispatcher.do_send(Kick);
                    }
                    for m in published {
                        act.bus.alerts.publish(m);
                    }
                }
                Err(e) => tracing::error!(error = %e, "alert state could not be written"),
            },
        )))
    }

    fn run(&mut self, fx: Vec<Effect>, ctx: &mut Context<Self>) {
        if !*self.leader.borrow() {
            // Replicas: only the leader writes alert history and outbox rows.
            return;
        }
        if let Some(work) = self.apply(fx) {
            ctx.wait(work);
        }
    }

    /// Loads rules, silences and channel effectiveness into the engine.
    fn reload(&mut self, restore: bool) -> Work {
        let db = self.db.clone();
        let secrets = Arc::clone(&self.secrets);
        let load = async move {
            let rules = db.notify().list_rules().await?;
            let silences = db.notify().current_silences(Utc::now()).await?;
            let channels = super::load_channels(&db, &secrets).await?;
            let versions = db.agents().versions().await?;
            let firing = if restore {
                Some(db.notify().firing_alerts().await?)
            } else {
                None
            };
            Ok::<_, crate::db::DbError>((rules, silences, channels, firing, versions))
        };
        Box::pin(load.into_actor(self).map(|res, act, ctx| match res {
            Ok((rules, silences, channels, firing, versions)) => {
                act.policy = crate::service::agents::Policy::of(&versions);
                let views = rules.into_iter().filter_map(rule_view).collect();
                act.engine.set_silences(
                    silences
                        .into_iter()
                        .map(|s| Silence {
                            id: s.id,
                            cluster_id: s.cluster_id,
                            rule: s.rule,
                            resource: s.resource,
                            starts_at: from_db(s.starts_at),
                            ends_at: from_db(s.ends_at),
                        })
                        .collect(),
                );
                act.engine.set_effective(
                    channels
                        .iter()
                        .filter(|c| c.effective())
                        .map(|c| c.kind.as_str().to_string())
                        .collect::<HashSet<_>>(),
                );
                if let Some(rows) = firing {
                    let n = rows.len();
                    act.engine
                        .restore(rows.into_iter().filter_map(firing_row).collect());
                    tracing::info!(firing = n, "alert state rebuilt");
                }
                let mut fx = act.engine.set_rules(views, Utc::now());
                let known: Vec<Arc<str>> = act.agent_versions.keys().cloned().collect();
                for cluster in known {
                    fx.extend(act.outdated(&cluster, Utc::now()));
                }
                act.ready = true;
                act.run(fx, ctx);
            }
            Err(e) => tracing::error!(error = %e, "notifier could not load its rules"),
        }))
    }
}

/// A stored rule as the engine needs it; a rule that no longer parses is skipped (logged).
pub fn rule_view(r: RuleRow) -> Option<RuleView> {
    if !r.enabled {
        return None;
    }
    let parsed = (|| {
        let cond: serde_json::Value =
            serde_json::from_str(&r.condition).map_err(|e| e.to_string())?;
        let condition = Condition::parse(&r.resource_type, &cond, None)?;
        let labels: serde_json::Value =
            serde_json::from_str(&r.labels).map_err(|e| e.to_string())?;
        let scope = Scope::parse(r.cluster_id.clone(), r.namespace.clone(), Some(&labels))?;
        let channels: Vec<String> =
            serde_json::from_str(&r.notify_channels).map_err(|e| e.to_string())?;
        let severity = Severity::parse(&r.severity).ok_or("unknown severity")?;
        Ok::<_, String>((condition, scope, channels, severity))
    })();
    match parsed {
        Ok((condition, scope, channels, severity)) => Some(RuleView {
            id: r.id,
            name: r.name,
            description: r.description,
            builtin: r.builtin,
            severity,
            cooldown: Duration::from_secs(u64::try_from(r.cooldown_sec).unwrap_or(0)),
            channels,
            condition,
            scope,
        }),
        Err(e) => {
            tracing::warn!(rule_id = r.id, error = %e, "stored alert rule skipped");
            None
        }
    }
}

fn firing_row(r: AlertRow) -> Option<FiringRow> {
    let rule_id = r.rule_id?;
    // fingerprint = rule|cluster|key
    let key = r.fingerprint.splitn(3, '|').nth(2)?.to_string();
    Some(FiringRow {
        uid: r.uid,
        rule_id,
        cluster_id: r.cluster_id,
        key,
        resource: ResourceId {
            kind: r.resource_kind,
            namespace: r.resource_namespace,
            name: r.resource_name,
        },
        description: r.message,
        value: r.value,
        details: serde_json::from_str(&r.details).unwrap_or_default(),
        fired_at: from_db(r.fired_at),
        notified: r.notified,
        suppressed: r.suppressed.as_deref().and_then(Suppressed::parse),
        last_notified_at: r.last_notified_at.map(from_db),
    })
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let load = self.reload(true);
        ctx.wait(load);
        let s = Arc::clone(&self.snapshots);
        ctx.add_stream(futures_util::stream::unfold(s, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
        let s = Arc::clone(&self.status);
        ctx.add_stream(futures_util::stream::unfold(s, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
        let s = Arc::clone(&self.commands);
        ctx.add_stream(futures_util::stream::unfold(s, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
        let s = Arc::clone(&self.slo);
        ctx.add_stream(futures_util::stream::unfold(s, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
        let s = Arc::clone(&self.agents);
        ctx.add_stream(futures_util::stream::unfold(s, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
        ctx.add_stream(crate::hub::leader_changes(self.leader.clone()));
        ctx.run_interval(self.tick, |act, ctx| {
            if act.ready && *act.leader.borrow() {
                let fx = act.engine.tick(Utc::now());
                act.run(fx, ctx);
            }
        });
    }
}

/// Restarted in place after a panic ([`atlhyper_actors::supervise`]); `started` rebuilds
/// what it keeps in memory from the database.
impl Supervised for Notifier {
    /// As on a new leadership: a fresh engine, rebuilt by `started` from the firing alerts
    /// stored (so none fires twice), nothing half-applied kept.
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.engine = Engine::new(self.timing);
        self.eval = Evaluator::default();
        self.agent_versions.clear();
        self.ready = false;
    }
}

impl StreamHandler<SnapshotReceived> for Notifier {
    fn handle(&mut self, msg: SnapshotReceived, ctx: &mut Context<Self>) {
        let fx = self.on_snapshot(msg);
        self.run(fx, ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl StreamHandler<ClusterStatusChanged> for Notifier {
    fn handle(&mut self, msg: ClusterStatusChanged, ctx: &mut Context<Self>) {
        let fx = self.on_status(msg);
        self.run(fx, ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl StreamHandler<AgentSeen> for Notifier {
    fn handle(&mut self, msg: AgentSeen, ctx: &mut Context<Self>) {
        let fx = self.on_agent(msg);
        self.run(fx, ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl StreamHandler<CommandStateChanged> for Notifier {
    fn handle(&mut self, msg: CommandStateChanged, ctx: &mut Context<Self>) {
        let fx = self.on_command(msg);
        self.run(fx, ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl StreamHandler<SloEvaluated> for Notifier {
    fn handle(&mut self, msg: SloEvaluated, ctx: &mut Context<Self>) {
        let fx = self.on_slo(msg);
        self.run(fx, ctx);
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl StreamHandler<LeaderChanged> for Notifier {
    /// A new leader starts from the database, as after a restart: the firing alerts the
    /// previous leader stored (so none is fired twice or left unresolved), a fresh engine
    /// (pending `for` clocks restart).
    fn handle(&mut self, msg: LeaderChanged, ctx: &mut Context<Self>) {
        if !msg.0 {
            return;
        }
        tracing::info!("this replica leads: alert state rebuilt from the database");
        self.engine = Engine::new(self.timing);
        self.eval = Evaluator::default();
        self.agent_versions.clear();
        self.ready = false;
        let load = self.reload(true);
        ctx.wait(load);
        // What changed while no replica led is not on the bus any more: every cluster's
        // liveness now is fed in, so an offline cluster alerts (once: a firing alert was
        // restored above) and one that came back resolves its alert.
        if let Some(registry) = self.registry.clone() {
            let current = async move {
                let all = registry.send(ListClusters).await.unwrap_or_default();
                let views = futures_util::future::join_all(
                    all.iter()
                        .map(|h| h.addr.send(atlhyper_actors::messages::GetStatus)),
                )
                .await;
                views.into_iter().flatten().collect::<Vec<_>>()
            };
            ctx.wait(current.into_actor(self).map(|views, act, ctx| {
                let now = Utc::now();
                let mut fx = Vec::new();
                for v in views {
                    fx.extend(act.on_status(ClusterStatusChanged {
                        cluster_id: Arc::from(v.cluster_id.as_str()),
                        status: v.liveness,
                        previous: Liveness::Unknown,
                        at: v.offline_since.unwrap_or(now),
                        last_seen: v.last_seen,
                        mirrored: true,
                    }));
                }
                act.run(fx, ctx);
            }));
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<Reload> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: Reload, ctx: &mut Context<Self>) {
        let load = self.reload(false);
        let done = msg.done;
        ctx.wait(load.map(move |(), _, _| {
            if let Some(done) = done {
                let _ = done.send(());
            }
        }));
    }
}

impl Handler<Flush> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: Flush, ctx: &mut Context<Self>) {
        // One chained future: actix runs several `ctx.wait` futures last-in first-out.
        let mut fx = Vec::new();
        while let Some(m) = self.status.try_recv() {
            fx.extend(self.on_status(m));
        }
        while let Some(m) = self.snapshots.try_recv() {
            fx.extend(self.on_snapshot(m));
        }
        while let Some(m) = self.commands.try_recv() {
            fx.extend(self.on_command(m));
        }
        while let Some(m) = self.slo.try_recv() {
            fx.extend(self.on_slo(m));
        }
        fx.extend(self.engine.tick(Utc::now()));
        let work: Work = self.apply(fx).unwrap_or_else(|| Box::pin(fut::ready(())));
        let done = msg.done;
        ctx.wait(work.map(move |(), _, _| {
            let _ = done.send(());
        }));
    }
}

/// How often the engine ticks: often enough that `group_wait` is honoured within a few
/// percent, never more than 10 times a second.
fn tick_for(group_wait: Duration) -> Duration {
    (group_wait / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// Starts the notifier, subscribed to the bus. Runs inside the actix System.
pub fn start(
    db: &Db,
    bus: &Bus,
    settings: &Arc<Settings>,
    secrets: &Arc<SecretBox>,
    dispatcher: Addr<Dispatcher>,
    leader: tokio::sync::watch::Receiver<bool>,
    registry: Option<Addr<atlhyper_actors::registry::Registry>>,
) -> Addr<Notifier> {
    // Subscribe now, before the actor runs, so nothing published meanwhile is missed.
    let notifier = Notifier {
        db: db.clone(),
        secrets: Arc::clone(secrets),
        engine: Engine::new(Timing {
            group_wait: settings.alert_group_wait,
            repeat_interval: settings.alert_repeat_interval,
        }),
        // (`timing` below repeats it for a new leadership.)
        eval: Evaluator::default(),
        snapshots: Arc::new(bus.snapshots.subscribe("notifier")),
        status: Arc::new(bus.status.subscribe("notifier")),
        commands: Arc::new(bus.commands.subscribe("notifier")),
        slo: Arc::new(bus.slo_evaluated.subscribe("notifier")),
        agents: Arc::new(bus.agents.subscribe("notifier")),
        agent_versions: std::collections::HashMap::new(),
        policy: crate::service::agents::Policy::default(),
        dispatcher,
        bus: bus.clone(),
        tick: tick_for(settings.alert_group_wait),
        ready: false,
        leader,
        registry,
        timing: Timing {
            group_wait: settings.alert_group_wait,
            repeat_interval: settings.alert_repeat_interval,
        },
    };
    notifier.start_supervised("notifier")
}
/// Most recent changes added to one alert line.
const RECENT_CHANGES_PER_ALERT: usize = 5;

/// Adds to each firing alert line the changes of the last
/// [`RECENT_MINUTES`](crate::service::changes::RECENT_MINUTES) to its object and the
/// object's owner ("what changed just before this fired"), as `change` details: `image
/// web:1.4 → web:1.5 at 14:02, by scale command …`. A lookup that fails leaves the
/// message as it was: an alert is never held back for its context.
async fn with_recent_changes(db: &Db, message: &mut super::message::Message) {
    if !matches!(message.kind, MessageKind::Firing | MessageKind::Reminder) {
        return;
    }
    // Each line's object and its Deployment; one query for the whole message.
    let objects_of: Vec<Vec<(String, String, String)>> = message
        .alerts
        .iter()
        .map(|line| {
            let r = &line.resource;
            let mut objects = vec![(r.kind.clone(), r.namespace.clone(), r.name.clone())];
            if let Some((_, dep)) = line.details.iter().find(|(k, _)| k == "deployment") {
                objects.push(("Deployment".into(), r.namespace.clone(), dep.clone()));
            }
            objects
        })
        .collect();
    let mut all: Vec<(String, String, String)> = objects_of.iter().flatten().cloned().collect();
    all.sort_unstable();
    all.dedup();
    // Enough that a noisy object cannot crowd out another line's changes (15 minutes of
    // folded rows); each line keeps its newest few.
    let limit = 1_000;
    let rows = match crate::service::changes::recent(
        db,
        &message.cluster_id,
        all,
        message.at,
        limit,
    )
    .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!(error = %e, "recent changes not added to an alert");
            return;
        }
    };
    for (line, objects) in message.alerts.iter_mut().zip(&objects_of) {
        let mine = rows.iter().filter(|c| {
            objects
                .iter()
                .any(|(k, ns, n)| c.kind == *k && c.namespace == *ns && c.name == *n)
        });
        for c in mine.take(RECENT_CHANGES_PER_ALERT) {
            let at = crate::db::from_db(c.time).format("%H:%M");
            line.details
                .push(("change".into(), format!("{} at {at} UTC", c.summary)));
        }
    }
}
