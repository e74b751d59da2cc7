//! `Dispatcher`: sends what the outbox (`notify_deliveries`) holds.
//!
//! - **Owns** the effective channels' configs (decrypted, in memory only), and per channel
//!   a circuit breaker, the send times inside the budget window, and whether a send is in
//!   flight (one at a time per channel, so a channel sees messages in order).
//! - **A pass** reads the pending rows: when kicked (a new message, a reload, a finished
//!   send or fold), and when the timer finds the earliest moment something held back can
//!   move has come (a retry's `next_attempt_at`, a breaker's trial, a budget slot). An
//!   idle outbox is not read at all.
//!   Per channel, the oldest due row is sent, unless the breaker is open or the budget is
//!   spent. When more rows are due than the budget has room for, all but the first
//!   `room - 1` are folded into one digest row (nothing is dropped).
//! - Every outcome is committed before the next send of that channel: delivered; retry at
//!   `base · 2^attempts` with jitter (at least the server's `Retry-After`), capped at
//!   `notify_retry_max`; failed for good on a permanent error or after
//!   `notify_max_attempts`.
//! - **Survives a restart:** the outbox. Pending rows are picked up by the first pass; a
//!   send in flight at a crash is sent again (at least once); breaker and budget state
//!   start fresh.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use atlhyper_actors::supervise::StartSupervised as _;
use chrono::{DateTime, Utc};

use super::channel::{ChannelKind, SendError, Sender};
use super::message::{Message, MessageKind, MAX_LINES};
use crate::config::Settings;
use crate::db::notify::{Attempt, DeliveryRow, NewDelivery};
use crate::db::{from_db, to_db, Db};
use crate::secrets::SecretBox;

/// How often the timer checks whether a held-back row can move: the granularity of
/// retries, breaker trials and budget slots.
const PASS_EVERY: Duration = Duration::from_millis(250);
/// How soon an outbox that could not be read is read again.
const READ_RETRY: Duration = Duration::from_secs(1);

/// Reload the channels.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload;

/// Look at the outbox now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kick;

/// A channel's breaker and budget, for `GET /api/v2/notify/channels`.
#[derive(Message)]
#[rtype(result = "HashMap<String, ChannelHealth>")]
pub struct GetHealth;

/// What the dispatcher knows about one channel.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ChannelHealth {
    /// `closed`, `open` or `half_open`.
    pub breaker: &'static str,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// When an open breaker lets one trial through.
    pub retry_at: Option<DateTime<Utc>>,
    /// Sends inside the current budget window.
    pub sent_in_window: usize,
    /// The budget per window.
    pub budget: usize,
}

#[derive(Debug, Default)]
struct Channel {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
    sent: VecDeque<DateTime<Utc>>,
    busy: bool,
    /// The dispatcher's epoch when this channel's last send finished: a pass that read the
    /// outbox before then saw that row still pending and must not act on this channel.
    finished_epoch: u64,
}

/// The outbox sender.
pub struct Dispatcher {
    /// Replicas: only the leader sends.
    leader: tokio::sync::watch::Receiver<bool>,
    db: Db,
    secrets: Arc<SecretBox>,
    settings: Arc<Settings>,
    sender: Sender,
    configs: HashMap<ChannelKind, (serde_json::Value, usize)>,
    channels: HashMap<ChannelKind, Channel>,
    passing: bool,
    again: bool,
    /// When the timer should start a pass: the earliest moment a held-back row can move;
    /// `None` while nothing waits on time.
    wake_at: Option<DateTime<Utc>>,
    /// Counts finished sends.
    epoch: u64,
}

fn chrono_d(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The delay before retry `attempts` (1 = the first retry): exponential with full jitter
/// between half and all of it, never below the server's `Retry-After`.
pub fn backoff(
    attempts: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exp = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
    let capped = exp.min(max);
    let jittered = capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
    match retry_after {
        // Honour the server, but not beyond an hour: a bogus header must not park a
        // message for days.
        Some(ra) => ra.min(Duration::from_secs(3600)),
        None => jittered,
    }
}

fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 1.0;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

impl Dispatcher {
    fn budget_room(&mut self, kind: ChannelKind, budget: usize, now: DateTime<Utc>) -> usize {
        let window = chrono_d(self.settings.notify_budget_window);
        let ch = self.channels.entry(kind).or_default();
        while ch.sent.front().is_some_and(|t| now - *t >= window) {
            ch.sent.pop_front();
        }
        budget.saturating_sub(ch.sent.len())
    }

    fn pass(&mut self, ctx: &mut Context<Self>) {
        if !*self.leader.borrow() {
            // Replicas: the leader sends; its outbox rows wait in the database meanwhile.
            return;
        }
        if self.passing {
            self.again = true;
            return;
        }
        self.passing = true;
        let read_at = self.epoch;
        let db = self.db.clone();
        ctx.spawn(
            async move { db.notify().pending_deliveries().await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    match res {
                        Ok(rows) => act.plan(rows, read_at, ctx),
                        Err(e) => {
                            tracing::warn!(error = %e, "outbox could not be read");
                            act.wake_at = Some(Utc::now() + chrono_d(READ_RETRY));
                        }
                    }
                    act.passing = false;
                    if std::mem::take(&mut act.again) {
                        act.pass(ctx);
                    }
                }),
        );
    }

    fn plan(&mut self, rows: Vec<DeliveryRow>, read_at: u64, ctx: &mut Context<Self>) {
        let now = Utc::now();
        let window = chrono_d(self.settings.notify_budget_window);
        let mut wake: Option<DateTime<Utc>> = None;
        let mut later = |t: DateTime<Utc>| wake = Some(wake.map_or(t, |w| w.min(t)));
        let mut by_channel: HashMap<String, Vec<DeliveryRow>> = HashMap::new();
        for r in rows {
            let due_at = from_db(r.next_attempt_at);
            if due_at <= now {
                by_channel.entry(r.channel.clone()).or_default().push(r);
            } else {
                later(due_at);
            }
        }
        for (name, due) in by_channel {
            let Some(kind) = ChannelKind::parse(&name) else {
                continue;
            };
            let Some((config, budget)) = self.configs.get(&kind).cloned() else {
                // Disabled or invalid since the message was queued: not effective, not sent.
                self.finish(
                    due.iter().map(|r| r.id).collect(),
                    Attempt::Failed {
                        error: format!("channel {name} is not effective (disabled or invalid)"),
                    },
                    ctx,
                );
                continue;
            };
            let ch = self.channels.entry(kind).or_default();
            if ch.busy {
                continue;
            }
            if ch.finished_epoch > read_at {
                // Stale read: a send finished after it; look again.
                self.again = true;
                continue;
            }
            if let Some(t) = ch.open_until.filter(|t| now < *t) {
                later(t);
                continue;
            }
            let room = self.budget_room(kind, budget, now);
            if room == 0 {
                if let Some(t) = self.channels.get(&kind).and_then(|c| c.sent.front()) {
                    later(*t + window);
                }
                continue;
            }
            if due.len() > room {
                let keep = room - 1;
                self.fold(kind, &due[keep..], now, ctx);
                if keep == 0 {
                    continue;
                }
            }
            if let Some(first) = due.into_iter().next() {
                self.send(kind, config, first, ctx);
            }
        }
        self.wake_at = wake;
    }

    fn finish(&mut self, ids: Vec<i32>, attempt: Attempt, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        ctx.spawn(
            async move { db.notify().record_attempts(ids, attempt, Utc::now()).await }
                .into_actor(self)
                .map(|res, _, _| {
                    if let Err(e) = res {
                        tracing::warn!(error = %e, "delivery outcome could not be written");
                    }
                }),
        );
    }

    /// Folds `rows` into one digest; it is sent by the next pass.
    fn fold(
        &mut self,
        kind: ChannelKind,
        rows: &[DeliveryRow],
        now: DateTime<Utc>,
        ctx: &mut Context<Self>,
    ) {
        let messages: Vec<Message> = rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.message).ok())
            .collect();
        let digest = digest(kind, &messages, now);
        let Ok(json) = serde_json::to_string(&digest) else {
            return;
        };
        let row = NewDelivery {
            channel: kind.as_str().to_string(),
            kind: MessageKind::Digest.as_str().to_string(),
            alert_uid: None,
            cluster_id: digest.cluster_id.clone(),
            rule_name: digest.rule.clone(),
            title: digest.title.clone(),
            message: json,
            status: "pending".into(),
            next_attempt_at: to_db(now),
            created_at: to_db(now),
            updated_at: to_db(now),
        };
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let n = ids.len();
        let db = self.db.clone();
        ctx.wait(
            async move { db.notify().fold_into_digest(ids, row).await }
                .into_actor(self)
                .map(move |res, act, ctx| match res {
                    Ok(id) => {
                        tracing::info!(
                            channel = kind.as_str(),
                            folded = n,
                            digest = id,
                            "budget overflow folded into a digest"
                        );
                        act.pass(ctx);
                    }
                    Err(e) => tracing::warn!(error = %e, "digest could not be written"),
                }),
        );
    }

    fn send(
        &mut self,
        kind: ChannelKind,
        config: serde_json::Value,
        row: DeliveryRow,
        ctx: &mut Context<Self>,
    ) {
        let message: Message = match serde_json::from_str(&row.message) {
            Ok(m) => m,
            Err(e) => {
                self.finish(
                    vec![row.id],
                    Attempt::Failed {
                        error: format!("stored message unreadable: {e}"),
                    },
                    ctx,
                );
                return;
            }
        };
        let ch = self.channels.entry(kind).or_default();
        ch.busy = true;
        ch.sent.push_back(Utc::now());
        let sender = self.sender.clone();
        let db = self.db.clone();
        let settings = Arc::clone(&self.settings);
        let attempts = u32::try_from(row.attempts).unwrap_or(0) + 1;
        let id = row.id;
        ctx.spawn(
            async move {
                let res = sender.send(kind, &config, &message).await;
                let now = Utc::now();
                let attempt = match &res {
                    Ok(()) => Attempt::Delivered,
                    Err(e) if e.permanent || attempts >= settings.notify_max_attempts => {
                        Attempt::Failed {
                            error: e.message.clone(),
                        }
                    }
                    Err(e) => Attempt::Retry {
                        error: e.message.clone(),
                        next: now
                            + chrono_d(backoff(
                                attempts,
                                settings.notify_retry_base,
                                settings.notify_retry_max,
                                e.retry_after,
                                random_unit(),
                            )),
                    },
                };
                let written = db.notify().record_attempt(id, attempt.clone(), now).await;
                (res, attempt, written)
            }
            .into_actor(self)
            .map(move |(res, attempt, written), act, ctx| {
                if let Err(e) = written {
                    tracing::warn!(error = %e, delivery = id, "delivery outcome could not be written");
                }
                act.outcome(kind, id, &res, &attempt);
                act.pass(ctx);
            }),
        );
    }

    fn outcome(
        &mut self,
        kind: ChannelKind,
        id: i32,
        res: &Result<(), SendError>,
        attempt: &Attempt,
    ) {
        let threshold = self.settings.notify_breaker_failures;
        let cooldown = chrono_d(self.settings.notify_breaker_cooldown);
        self.epoch += 1;
        let epoch = self.epoch;
        let ch = self.channels.entry(kind).or_default();
        ch.busy = false;
        ch.finished_epoch = epoch;
        match res {
            Ok(()) => {
                if ch.open_until.is_some() {
                    tracing::info!(channel = kind.as_str(), "circuit breaker closed");
                }
                ch.failures = 0;
                ch.open_until = None;
                tracing::info!(
                    channel = kind.as_str(),
                    delivery = id,
                    "notification delivered"
                );
            }
            Err(e) => {
                ch.failures += 1;
                tracing::warn!(
                    channel = kind.as_str(),
                    delivery = id,
                    error = %e.message,
                    retry = matches!(attempt, Attempt::Retry { .. }),
                    "notification not delivered"
                );
                // A half-open trial that fails reopens at once.
                if ch.failures >= threshold || ch.open_until.is_some() {
                    if ch.open_until.is_none() {
                        tracing::warn!(
                            channel = kind.as_str(),
                            failures = ch.failures,
                            "circuit breaker opened"
                        );
                    }
                    ch.open_until = Some(Utc::now() + cooldown);
                }
            }
        }
    }

    fn reload(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let secrets = Arc::clone(&self.secrets);
        ctx.wait(
            async move { super::load_channels(&db, &secrets).await }
                .into_actor(self)
                .map(|res, act, ctx| match res {
                    Ok(channels) => {
                        act.configs = channels
                            .into_iter()
                            .filter(|c| c.effective())
                            .map(|c| {
                                let budget =
                                    super::channel::budget_per_minute(c.kind, &c.config) as usize;
                                (c.kind, (c.config, budget))
                            })
                            .collect();
                        act.pass(ctx);
                    }
                    Err(e) => tracing::warn!(error = %e, "channels could not be loaded"),
                }),
        );
    }
}

/// One message standing for `messages` that a channel's budget could not take.
pub fn digest(kind: ChannelKind, messages: &[Message], now: DateTime<Utc>) -> Message {
    let severity = messages
        .iter()
        .map(|m| m.severity)
        .max()
        .unwrap_or(super::message::Severity::Info);
    let mut alerts = Vec::new();
    let mut total = 0;
    let mut titles = Vec::new();
    for m in messages {
        total += m.alerts.len() + m.omitted;
        titles.push(format!("- {}", m.title));
        alerts.extend(m.alerts.iter().cloned());
    }
    let omitted = total.saturating_sub(MAX_LINES.min(alerts.len()));
    alerts.truncate(MAX_LINES);
    let clusters: std::collections::BTreeSet<&str> =
        messages.iter().map(|m| m.cluster_id.as_str()).collect();
    Message {
        kind: MessageKind::Digest,
        severity,
        title: format!("[DIGEST] {} notifications held back by the {} budget", messages.len(), kind.as_str()),
        summary: format!(
            "The {} channel's message budget overflowed; these notifications are folded into one:\n{}",
            kind.as_str(),
            titles.join("\n")
        ),
        cluster_id: if clusters.len() == 1 {
            clusters.into_iter().next().unwrap_or_default().to_string()
        } else {
            String::new()
        },
        rule: String::new(),
        alerts,
        omitted,
        at: now,
    }
}

impl Actor for Dispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.reload(ctx);
        // A new leader sends what the outbox holds at once.
        ctx.add_stream(crate::hub::leader_changes(self.leader.clone()));
        ctx.run_interval(PASS_EVERY, |act, ctx| {
            if act.wake_at.is_some_and(|t| Utc::now() >= t) {
                act.pass(ctx);
            }
        });
    }
}

/// Restarted in place after a panic ([`atlhyper_actors::supervise`]); `started` rebuilds
/// what it keeps in memory from the database.
impl Supervised for Dispatcher {
    /// The futures that would clear `passing` and each channel's `busy` were dropped with
    /// the panic: clear them here, and ignore outbox reads from before (the epoch). A send
    /// that was in flight stays pending in the outbox and goes again (at least once).
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.passing = false;
        self.again = false;
        for ch in self.channels.values_mut() {
            ch.busy = false;
        }
        self.epoch += 1;
        self.wake_at = Some(Utc::now());
    }
}

impl Handler<Reload> for Dispatcher {
    type Result = ();
    fn handle(&mut self, _: Reload, ctx: &mut Context<Self>) {
        self.reload(ctx);
    }
}

impl StreamHandler<crate::hub::LeaderChanged> for Dispatcher {
    fn handle(&mut self, msg: crate::hub::LeaderChanged, ctx: &mut Context<Self>) {
        if msg.0 {
            self.pass(ctx);
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<Kick> for Dispatcher {
    type Result = ();
    fn handle(&mut self, _: Kick, ctx: &mut Context<Self>) {
        self.pass(ctx);
    }
}

impl Handler<GetHealth> for Dispatcher {
    type Result = MessageResult<GetHealth>;
    fn handle(&mut self, _: GetHealth, _: &mut Context<Self>) -> Self::Result {
        let now = Utc::now();
        let mut out = HashMap::new();
        for kind in ChannelKind::ALL {
            let budget = self
                .configs
                .get(&kind)
                .map_or_else(|| kind.default_budget_per_minute() as usize, |c| c.1);
            let room = self.budget_room(kind, budget, now);
            let ch = self.channels.entry(kind).or_default();
            let breaker = match ch.open_until {
                None => "closed",
                Some(t) if now < t => "open",
                Some(_) => "half_open",
            };
            out.insert(
                kind.as_str().to_string(),
                ChannelHealth {
                    breaker,
                    consecutive_failures: ch.failures,
                    retry_at: ch.open_until,
                    sent_in_window: budget - room,
                    budget,
                },
            );
        }
        MessageResult(out)
    }
}

/// Starts the dispatcher. Runs inside the actix System.
pub fn start(
    db: &Db,
    settings: &Arc<Settings>,
    secrets: &Arc<SecretBox>,
    leader: tokio::sync::watch::Receiver<bool>,
) -> Addr<Dispatcher> {
    Dispatcher {
        leader,
        db: db.clone(),
        secrets: Arc::clone(secrets),
        settings: Arc::clone(settings),
        sender: Sender::new(),
        configs: HashMap::new(),
        channels: HashMap::new(),
        passing: false,
        again: false,
        wake_at: None,
        epoch: 0,
    }
    .start_supervised("dispatcher")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(600);
        assert_eq!(backoff(1, base, max, None, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(3, base, max, None, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(3, base, max, None, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(30, base, max, None, 1.0), max);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(600);
        let d = backoff(1, base, max, Some(Duration::from_secs(7)), 0.3);
        assert_eq!(d, Duration::from_secs(7));
        // capped at an hour
        let d = backoff(1, base, max, Some(Duration::from_secs(86_400)), 0.3);
        assert_eq!(d, Duration::from_secs(3600));
    }
}
