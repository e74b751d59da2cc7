//! The alert lifecycle, as a pure state machine: no I/O, time passed in. The [`Notifier`]
//! actor feeds it observations and status changes and carries out the [`Effect`]s it
//! returns (history rows, outbox messages) in order.
//!
//! Per fingerprint (rule, cluster, resource) the states are `inactive → pending → firing →
//! resolved`:
//! - a match starts `pending`; it fires once it has held for the rule's `for` (at once when
//!   `for` is zero); a pending match that stops matching goes back to inactive silently;
//! - a firing alert is one `alert_history` row; when it stops matching it is resolved, and
//!   a resolved message goes out at once, only if the firing was notified;
//! - new firings wait in a group per (cluster, rule) for `group_wait`, then go out as one
//!   message; a firing that resolves inside the wait is never sent (no flapping spam);
//! - a firing is *suppressed* (recorded, not sent) while a silence matches it, while its
//!   cluster is offline (inhibited by `agent_offline`), during the rule's cooldown after a
//!   previous notified episode, or when no effective channel is left; once the reason goes
//!   away and it still fires, it is queued again;
//! - reminders go out every `repeat_interval` while a notified alert keeps firing;
//! - one-shot alerts (a failed command) have nothing to recover from: they resolve silently
//!   as soon as their firing has been notified or suppressed.
//!
//! [`Notifier`]: super::actor::Notifier

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::message::{AlertLine, Message, MessageKind, ResourceId, Severity, MAX_LINES};
use super::rules::{Condition, Observation, Scope};

/// The built-in rule keyed `agent_offline`, the source of inhibition.
pub const OFFLINE_RULE: &str = "agent_offline";
/// The built-in rule keyed `command_failed`, whose alerts are one-shot.
pub const COMMAND_RULE: &str = "command_failed";
/// The built-in rule keyed `agent_outdated` (the agent version policy).
pub const OUTDATED_RULE: &str = "agent_outdated";

/// A rule as the engine needs it.
#[derive(Debug, Clone)]
pub struct RuleView {
    /// Row id.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// What it watches, shown in messages.
    pub description: String,
    /// The built-in key, if any.
    pub builtin: Option<String>,
    /// Severity of its alerts.
    pub severity: Severity,
    /// No new notification for a fingerprint within this long of its previous one.
    pub cooldown: Duration,
    /// Channel types; empty means every effective channel.
    pub channels: Vec<String>,
    /// The condition.
    pub condition: Condition,
    /// Where it applies.
    pub scope: Scope,
}

impl RuleView {
    fn is(&self, builtin: &str) -> bool {
        self.builtin.as_deref() == Some(builtin)
    }
}

/// Why a firing alert was not notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    /// A silence matched.
    Silenced,
    /// Its cluster is offline.
    Inhibited,
    /// The rule's cooldown after a previous notified episode.
    Cooldown,
    /// No effective channel for this rule.
    NoChannel,
}

impl Suppressed {
    /// The database text.
    pub fn as_str(self) -> &'static str {
        match self {
            Suppressed::Silenced => "silenced",
            Suppressed::Inhibited => "inhibited",
            Suppressed::Cooldown => "cooldown",
            Suppressed::NoChannel => "no_channel",
        }
    }

    /// Parses the database text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "silenced" => Some(Suppressed::Silenced),
            "inhibited" => Some(Suppressed::Inhibited),
            "cooldown" => Some(Suppressed::Cooldown),
            "no_channel" => Some(Suppressed::NoChannel),
            _ => None,
        }
    }
}

/// A silence: matchers (`None` = any) and a window.
#[derive(Debug, Clone)]
pub struct Silence {
    /// Row id.
    pub id: i32,
    /// Cluster, exactly.
    pub cluster_id: Option<String>,
    /// Rule name, built-in key or id.
    pub rule: Option<String>,
    /// Resource key (`Kind/ns/name`), `*` matching any run of characters.
    pub resource: Option<String>,
    /// Start of the window.
    pub starts_at: DateTime<Utc>,
    /// End of the window (exclusive).
    pub ends_at: DateTime<Utc>,
}

impl Silence {
    /// Whether it silences `fp` of `rule` at `now`.
    pub fn matches(&self, rule: &RuleView, fp: &Active, now: DateTime<Utc>) -> bool {
        if now < self.starts_at || now >= self.ends_at {
            return false;
        }
        if self
            .cluster_id
            .as_deref()
            .is_some_and(|c| c != &*fp.cluster)
        {
            return false;
        }
        if let Some(r) = &self.rule {
            let by_id = r.parse::<i32>().ok() == Some(rule.id);
            if !(by_id || *r == rule.name || rule.builtin.as_deref() == Some(r.as_str())) {
                return false;
            }
        }
        if let Some(pattern) = &self.resource {
            let key = fp.obs.resource.key();
            if !glob(pattern, &key) && !glob(pattern, &fp.key) {
                return false;
            }
        }
        true
    }
}

/// Silence resource patterns (`*` matches any run of characters).
pub use atlhyper_text::glob::glob;

/// The stored side of a firing alert, as rebuilt after a restart.
#[derive(Debug, Clone)]
pub struct FiringRow {
    /// History uid.
    pub uid: String,
    /// Rule id.
    pub rule_id: i32,
    /// Cluster.
    pub cluster_id: String,
    /// The fingerprint's resource key.
    pub key: String,
    /// The resource.
    pub resource: ResourceId,
    /// Last description.
    pub description: String,
    /// Last value.
    pub value: Option<f64>,
    /// Last enrichment.
    pub details: Vec<(String, String)>,
    /// When it fired.
    pub fired_at: DateTime<Utc>,
    /// Whether a message went out.
    pub notified: bool,
    /// Why not, if suppressed.
    pub suppressed: Option<Suppressed>,
    /// When the last message about it went out.
    pub last_notified_at: Option<DateTime<Utc>>,
}

/// What the actor must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Insert a firing `alert_history` row.
    Fire(NewAlert),
    /// Mark a row resolved.
    Resolve {
        /// History uid.
        uid: String,
        /// When.
        at: DateTime<Utc>,
        /// Its cluster.
        cluster: Arc<str>,
        /// Its rule's name.
        rule: String,
        /// Its resource key.
        resource: String,
    },
    /// Mark rows notified now.
    Notified {
        /// History uids.
        uids: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Record (or clear) why a row was not notified.
    Suppress {
        /// History uid.
        uid: String,
        /// Why; `None` clears it.
        reason: Option<Suppressed>,
    },
    /// Queue a message in the outbox, one delivery per channel.
    Send {
        /// Channel types (already filtered to effective ones).
        channels: Vec<String>,
        /// The message.
        message: Message,
    },
}

/// A new firing row.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// Fresh uid.
    pub uid: String,
    /// Rule id.
    pub rule_id: i32,
    /// Rule name.
    pub rule_name: String,
    /// `rule|cluster|key`.
    pub fingerprint: String,
    /// Cluster.
    pub cluster_id: String,
    /// Rule severity.
    pub severity: Severity,
    /// Title.
    pub title: String,
    /// What is wrong.
    pub observation: Observation,
    /// When.
    pub fired_at: DateTime<Utc>,
}

/// One fingerprint's live state.
#[derive(Debug, Clone)]
pub struct Active {
    rule_id: i32,
    cluster: Arc<str>,
    key: String,
    obs: Observation,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    Pending {
        since: DateTime<Utc>,
    },
    Firing {
        uid: String,
        fired_at: DateTime<Utc>,
        notified: bool,
        suppressed: Option<Suppressed>,
        last_notified_at: Option<DateTime<Utc>>,
        /// Waiting in a group.
        queued: bool,
    },
}

#[derive(Debug)]
struct Group {
    first_at: DateTime<Utc>,
    fps: Vec<String>,
}

/// Timing knobs.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long new firings of one (cluster, rule) gather before one message.
    pub group_wait: Duration,
    /// Reminder period while firing.
    pub repeat_interval: Duration,
}

/// The lifecycle of every alert.
pub struct Engine {
    timing: Timing,
    rules: HashMap<i32, RuleView>,
    active: HashMap<String, Active>,
    groups: BTreeMap<(Arc<str>, i32), Group>,
    /// fingerprint → when its last resolved episode was last notified (cooldowns).
    recent: HashMap<String, DateTime<Utc>>,
    offline: HashSet<Arc<str>>,
    silences: Vec<Silence>,
    effective: HashSet<String>,
}

fn fingerprint(rule_id: i32, cluster: &str, key: &str) -> String {
    format!("{rule_id}|{cluster}|{key}")
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>, d: Duration) -> bool {
    chrono::Duration::from_std(d).is_ok_and(|d| now - since >= d)
}

impl Engine {
    /// An engine with no rules, no channels and nothing active.
    pub fn new(timing: Timing) -> Self {
        Self {
            timing,
            rules: HashMap::new(),
            active: HashMap::new(),
            groups: BTreeMap::new(),
            recent: HashMap::new(),
            offline: HashSet::new(),
            silences: Vec::new(),
            effective: HashSet::new(),
        }
    }

    /// The enabled rules.
    pub fn rules(&self) -> impl Iterator<Item = &RuleView> {
        self.rules.values()
    }

    /// The id of the enabled built-in rule `key`.
    pub fn builtin(&self, key: &str) -> Option<i32> {
        self.rules.values().find(|r| r.is(key)).map(|r| r.id)
    }

    /// How many fingerprints are pending or firing.
    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    /// Replaces the channel types that are effective (enabled and valid).
    pub fn set_effective(&mut self, types: HashSet<String>) {
        self.effective = types;
    }

    /// Replaces the silences.
    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
    }

    /// Replaces the enabled rules. Alerts of rules that are gone (deleted or disabled)
    /// resolve; a rule whose condition changed keeps its alerts until the next evaluation.
    pub fn set_rules(&mut self, rules: Vec<RuleView>, now: DateTime<Utc>) -> Vec<Effect> {
        let old = std::mem::replace(
            &mut self.rules,
            rules.into_iter().map(|r| (r.id, r)).collect(),
        );
        let gone: Vec<String> = self
            .active
            .iter()
            .filter(|(_, a)| !self.rules.contains_key(&a.rule_id))
            .map(|(fp, _)| fp.clone())
            .collect();
        let mut fx = Vec::new();
        let mut resolved: BTreeMap<(Arc<str>, i32), Vec<AlertLine>> = BTreeMap::new();
        for fp in gone {
            let Some(a) = self.active.remove(&fp) else {
                continue;
            };
            let Some(rule) = old.get(&a.rule_id) else {
                continue;
            };
            if let Some(line) = self.resolve(rule, &fp, a, now, &mut fx) {
                resolved
                    .entry((Arc::clone(&line.0), rule.id))
                    .or_default()
                    .push(line.1);
            }
        }
        for ((cluster, rule_id), lines) in resolved {
            if let Some(rule) = old.get(&rule_id) {
                self.send(rule, &cluster, MessageKind::Resolved, lines, now, &mut fx);
            }
        }
        self.groups.retain(|(_, r), _| self.rules.contains_key(r));
        fx
    }

    /// Rebuilds firing alerts from the history after a restart. Pending state is not
    /// stored: a pending match restarts its `for` clock.
    pub fn restore(&mut self, rows: Vec<FiringRow>) {
        for r in rows {
            let fp = fingerprint(r.rule_id, &r.cluster_id, &r.key);
            let subkey = r
                .key
                .strip_prefix(&r.resource.key())
                .and_then(|s| s.strip_prefix('#'))
                .unwrap_or_default()
                .to_string();
            self.active.insert(
                fp,
                Active {
                    rule_id: r.rule_id,
                    cluster: Arc::from(r.cluster_id.as_str()),
                    key: r.key,
                    obs: Observation {
                        resource: r.resource,
                        subkey,
                        value: r.value.unwrap_or_default(),
                        description: r.description,
                        details: r.details,
                    },
                    state: State::Firing {
                        uid: r.uid,
                        fired_at: r.fired_at,
                        notified: r.notified,
                        suppressed: r.suppressed,
                        last_notified_at: r.last_notified_at,
                        queued: false,
                    },
                },
            );
        }
    }

    /// Takes the complete set of current matches of `rule_id` in `cluster`: new matches
    /// start pending (or fire), matches that are gone resolve.
    pub fn evaluate(
        &mut self,
        rule_id: i32,
        cluster: &Arc<str>,
        matches: Vec<Observation>,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(rule) = self.rules.get(&rule_id).cloned() else {
            return fx;
        };
        let mut seen = HashSet::with_capacity(matches.len());
        for obs in matches {
            let key = obs.fingerprint_key();
            let fp = fingerprint(rule_id, cluster, &key);
            seen.insert(fp.clone());
            self.observe(&rule, cluster, fp, key, obs, now, &mut fx);
        }
        let gone: Vec<String> = self
            .active
            .iter()
            .filter(|(fp, a)| a.rule_id == rule_id && a.cluster == *cluster && !seen.contains(*fp))
            .map(|(fp, _)| fp.clone())
            .collect();
        let mut lines = Vec::new();
        for fp in gone {
            if let Some(a) = self.active.remove(&fp) {
                if let Some((_, line)) = self.resolve(&rule, &fp, a, now, &mut fx) {
                    lines.push(line);
                }
            }
        }
        self.send(&rule, cluster, MessageKind::Resolved, lines, now, &mut fx);
        fx
    }

    /// A one-shot alert (a failed command): fires at once, resolves once handled.
    pub fn fire_one_shot(
        &mut self,
        rule_id: i32,
        cluster: &Arc<str>,
        obs: Observation,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let Some(rule) = self.rules.get(&rule_id).cloned() else {
            return fx;
        };
        let key = obs.fingerprint_key();
        let fp = fingerprint(rule_id, cluster, &key);
        if !self.active.contains_key(&fp) {
            self.observe(&rule, cluster, fp, key, obs, now, &mut fx);
        }
        fx
    }

    /// A snapshot arrived: the cluster is alive, whatever the liveness message says (it
    /// may still be on its way), so its alerts are no longer inhibited.
    pub fn seen(&mut self, cluster: &str) {
        self.offline.remove(cluster);
    }

    /// A cluster went offline or came back: drives the `agent_offline` rule and inhibition.
    pub fn cluster_status(
        &mut self,
        cluster: &Arc<str>,
        online: bool,
        obs: Observation,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        if online {
            self.offline.remove(cluster);
        } else {
            self.offline.insert(Arc::clone(cluster));
        }
        let Some(rule_id) = self.builtin(OFFLINE_RULE) else {
            return Vec::new();
        };
        let matches = if online { Vec::new() } else { vec![obs] };
        self.evaluate(rule_id, cluster, matches, now)
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; the pieces of a match"
    )]
    fn observe(
        &mut self,
        rule: &RuleView,
        cluster: &Arc<str>,
        fp: String,
        key: String,
        obs: Observation,
        now: DateTime<Utc>,
        fx: &mut Vec<Effect>,
    ) {
        match self.active.get_mut(&fp) {
            Some(a) => {
                a.obs = obs;
                if let State::Pending { since } = a.state {
                    if elapsed(since, now, rule.condition.for_) {
                        self.fire(rule, &fp, now, fx);
                    }
                }
            }
            None => {
                self.active.insert(
                    fp.clone(),
                    Active {
                        rule_id: rule.id,
                        cluster: Arc::clone(cluster),
                        key,
                        obs,
                        state: State::Pending { since: now },
                    },
                );
                if rule.condition.for_.is_zero() {
                    self.fire(rule, &fp, now, fx);
                }
            }
        }
    }

    fn fire(&mut self, rule: &RuleView, fp: &str, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let Some(a) = self.active.get_mut(fp) else {
            return;
        };
        let uid = uuid::Uuid::new_v4().to_string();
        let title = format!("[{}] {} · {}", a.cluster, rule.name, a.obs.resource.key());
        fx.push(Effect::Fire(NewAlert {
            uid: uid.clone(),
            rule_id: rule.id,
            rule_name: rule.name.clone(),
            fingerprint: fp.to_string(),
            cluster_id: a.cluster.to_string(),
            severity: rule.severity,
            title,
            observation: a.obs.clone(),
            fired_at: now,
        }));
        a.state = State::Firing {
            uid,
            fired_at: now,
            notified: false,
            suppressed: None,
            last_notified_at: None,
            queued: true,
        };
        self.groups
            .entry((Arc::clone(&a.cluster), rule.id))
            .or_insert_with(|| Group {
                first_at: now,
                fps: Vec::new(),
            })
            .fps
            .push(fp.to_string());
    }

    /// Ends `a` (already removed from `active`); returns the line for a resolved message
    /// when one is due.
    fn resolve(
        &mut self,
        rule: &RuleView,
        fp: &str,
        a: Active,
        now: DateTime<Utc>,
        fx: &mut Vec<Effect>,
    ) -> Option<(Arc<str>, AlertLine)> {
        let State::Firing {
            uid,
            fired_at,
            notified,
            last_notified_at,
            queued,
            ..
        } = a.state.clone()
        else {
            return None;
        };
        fx.push(Effect::Resolve {
            uid: uid.clone(),
            at: now,
            cluster: Arc::clone(&a.cluster),
            rule: rule.name.clone(),
            resource: a.obs.resource.key(),
        });
        if queued {
            if let Some(g) = self.groups.get_mut(&(Arc::clone(&a.cluster), rule.id)) {
                g.fps.retain(|f| f != fp);
            }
        }
        if let Some(t) = last_notified_at {
            self.recent.insert(fp.to_string(), t);
        }
        let quiet = self.silenced(rule, &a, now) || self.inhibited(rule, &a);
        if !notified || quiet || rule.is(COMMAND_RULE) {
            return None;
        }
        let mut line = line(&a, &uid, fired_at);
        line.status = "resolved".into();
        line.resolved_at = Some(now);
        Some((a.cluster, line))
    }

    fn silenced(&self, rule: &RuleView, a: &Active, now: DateTime<Utc>) -> bool {
        self.silences.iter().any(|s| s.matches(rule, a, now))
    }

    fn inhibited(&self, rule: &RuleView, a: &Active) -> bool {
        !rule.is(OFFLINE_RULE) && self.offline.contains(&a.cluster)
    }

    fn channels(&self, rule: &RuleView) -> Vec<String> {
        let mut out: Vec<String> = if rule.channels.is_empty() {
            self.effective.iter().cloned().collect()
        } else {
            rule.channels
                .iter()
                .filter(|c| self.effective.contains(*c))
                .cloned()
                .collect()
        };
        out.sort();
        out
    }

    fn suppression(
        &self,
        rule: &RuleView,
        fp: &str,
        a: &Active,
        now: DateTime<Utc>,
    ) -> Option<Suppressed> {
        if self.silenced(rule, a, now) {
            return Some(Suppressed::Silenced);
        }
        if self.inhibited(rule, a) {
            return Some(Suppressed::Inhibited);
        }
        if let Some(t) = self.recent.get(fp) {
            if !elapsed(*t, now, rule.cooldown) {
                return Some(Suppressed::Cooldown);
            }
        }
        if self.channels(rule).is_empty() {
            return Some(Suppressed::NoChannel);
        }
        None
    }

    /// Advances time: promotes pending matches whose `for` has passed, sends the groups
    /// whose wait is over, requeues firings whose suppression ended, sends reminders.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        let mut fx = Vec::new();
        // Pending → firing, on the last observation (clusters that went quiet excepted).
        let due: Vec<(String, i32)> = self
            .active
            .iter()
            .filter_map(|(fp, a)| match a.state {
                State::Pending { since } => {
                    let rule = self.rules.get(&a.rule_id)?;
                    (elapsed(since, now, rule.condition.for_) && !self.offline.contains(&a.cluster))
                        .then(|| (fp.clone(), a.rule_id))
                }
                State::Firing { .. } => None,
            })
            .collect();
        for (fp, rule_id) in due {
            if let Some(rule) = self.rules.get(&rule_id).cloned() {
                self.fire(&rule, &fp, now, &mut fx);
            }
        }
        // Firings that were suppressed and no longer are: queue them again.
        let mut requeue = Vec::new();
        for (fp, a) in &self.active {
            let State::Firing {
                notified: false,
                queued: false,
                suppressed,
                ..
            } = a.state
            else {
                continue;
            };
            let Some(rule) = self.rules.get(&a.rule_id) else {
                continue;
            };
            let now_reason = self.suppression(rule, fp, a, now);
            if now_reason != suppressed || now_reason.is_none() {
                requeue.push((fp.clone(), now_reason));
            }
        }
        for (fp, reason) in requeue {
            let Some(a) = self.active.get_mut(&fp) else {
                continue;
            };
            let State::Firing {
                uid,
                suppressed,
                queued,
                ..
            } = &mut a.state
            else {
                continue;
            };
            if *suppressed != reason {
                fx.push(Effect::Suppress {
                    uid: uid.clone(),
                    reason,
                });
                *suppressed = reason;
            }
            if reason.is_none() {
                *queued = true;
                self.groups
                    .entry((Arc::clone(&a.cluster), a.rule_id))
                    .or_insert_with(|| Group {
                        first_at: now,
                        fps: Vec::new(),
                    })
                    .fps
                    .push(fp);
            }
        }
        self.flush_groups(now, &mut fx);
        self.remind(now, &mut fx);
        let longest = self
            .rules
            .values()
            .map(|r| r.cooldown)
            .max()
            .unwrap_or_default();
        self.recent.retain(|_, t| !elapsed(*t, now, longest));
        fx
    }

    fn flush_groups(&mut self, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let ready: Vec<(Arc<str>, i32)> = self
            .groups
            .iter()
            .filter(|(_, g)| elapsed(g.first_at, now, self.timing.group_wait))
            .map(|(k, _)| k.clone())
            .collect();
        for key in ready {
            let Some(group) = self.groups.remove(&key) else {
                continue;
            };
            let Some(rule) = self.rules.get(&key.1).cloned() else {
                continue;
            };
            let mut lines = Vec::new();
            let mut uids = Vec::new();
            let mut notify = Vec::new();
            let mut one_shots = Vec::new();
            for fp in group.fps {
                let Some(a) = self.active.get(&fp) else {
                    continue;
                };
                let State::Firing {
                    ref uid, fired_at, ..
                } = a.state
                else {
                    continue;
                };
                let reason = self.suppression(&rule, &fp, a, now);
                let (uid, fired_at) = (uid.clone(), fired_at);
                let l = line(a, &uid, fired_at);
                if let Some(State::Firing {
                    queued, suppressed, ..
                }) = self.active.get_mut(&fp).map(|a| &mut a.state)
                {
                    *queued = false;
                    if *suppressed != reason {
                        *suppressed = reason;
                        if reason.is_some() {
                            fx.push(Effect::Suppress {
                                uid: uid.clone(),
                                reason,
                            });
                        }
                    }
                }
                if reason.is_none() {
                    lines.push(l);
                    uids.push(uid.clone());
                    notify.push(fp.clone());
                }
                if rule.is(COMMAND_RULE) {
                    one_shots.push(fp);
                }
            }
            if !uids.is_empty() {
                for fp in &notify {
                    if let Some(State::Firing {
                        notified,
                        last_notified_at,
                        ..
                    }) = self.active.get_mut(fp).map(|a| &mut a.state)
                    {
                        *notified = true;
                        *last_notified_at = Some(now);
                    }
                }
                fx.push(Effect::Notified { uids, at: now });
                self.send(&rule, &key.0, MessageKind::Firing, lines, now, fx);
            }
            for fp in one_shots {
                if let Some(a) = self.active.remove(&fp) {
                    self.resolve(&rule, &fp, a, now, fx);
                }
            }
        }
    }

    fn remind(&mut self, now: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let mut due: BTreeMap<(Arc<str>, i32), Vec<String>> = BTreeMap::new();
        for (fp, a) in &self.active {
            let State::Firing {
                notified: true,
                last_notified_at: Some(t),
                ..
            } = a.state
            else {
                continue;
            };
            let Some(rule) = self.rules.get(&a.rule_id) else {
                continue;
            };
            if elapsed(t, now, self.timing.repeat_interval)
                && !self.silenced(rule, a, now)
                && !self.inhibited(rule, a)
            {
                due.entry((Arc::clone(&a.cluster), a.rule_id))
                    .or_default()
                    .push(fp.clone());
            }
        }
        for ((cluster, rule_id), fps) in due {
            let Some(rule) = self.rules.get(&rule_id).cloned() else {
                continue;
            };
            let mut lines = Vec::new();
            let mut uids = Vec::new();
            for fp in fps {
                if let Some(a) = self.active.get_mut(&fp) {
                    if let State::Firing {
                        uid,
                        fired_at,
                        last_notified_at,
                        ..
                    } = &mut a.state
                    {
                        *last_notified_at = Some(now);
                        uids.push(uid.clone());
                        let (uid, fired_at) = (uid.clone(), *fired_at);
                        lines.push(line(a, &uid, fired_at));
                    }
                }
            }
            fx.push(Effect::Notified { uids, at: now });
            self.send(&rule, &cluster, MessageKind::Reminder, lines, now, fx);
        }
    }

    /// Builds and queues one message for `lines` of `rule` in `cluster`.
    fn send(
        &self,
        rule: &RuleView,
        cluster: &Arc<str>,
        kind: MessageKind,
        mut lines: Vec<AlertLine>,
        now: DateTime<Utc>,
        fx: &mut Vec<Effect>,
    ) {
        if lines.is_empty() {
            return;
        }
        let channels = self.channels(rule);
        if channels.is_empty() {
            return;
        }
        lines.sort_by(|a, b| a.resource.cmp(&b.resource));
        let count = lines.len();
        let omitted = count.saturating_sub(MAX_LINES);
        lines.truncate(MAX_LINES);
        let label = match kind {
            MessageKind::Firing => "FIRING",
            MessageKind::Resolved => "RESOLVED",
            MessageKind::Reminder => "STILL FIRING",
            MessageKind::Digest => "DIGEST",
            MessageKind::Test => "TEST",
        };
        let mut summary = rule.description.clone();
        if kind == MessageKind::Firing && rule.is(OFFLINE_RULE) {
            let inhibited = self
                .active
                .values()
                .filter(|a| {
                    a.cluster == *cluster
                        && a.rule_id != rule.id
                        && matches!(a.state, State::Firing { .. })
                })
                .count();
            if inhibited > 0 {
                summary.push_str(&format!(
                    " While the cluster is offline, {inhibited} other alert(s) of it are suppressed."
                ));
            }
        }
        fx.push(Effect::Send {
            channels,
            message: Message {
                kind,
                severity: if kind == MessageKind::Resolved {
                    Severity::Info
                } else {
                    rule.severity
                },
                title: format!("[{label}:{count}] {cluster} · {}", rule.name),
                summary,
                cluster_id: cluster.to_string(),
                rule: rule.name.clone(),
                alerts: lines,
                omitted,
                at: now,
            },
        });
    }
}

fn line(a: &Active, uid: &str, fired_at: DateTime<Utc>) -> AlertLine {
    AlertLine {
        alert_uid: uid.to_string(),
        resource: a.obs.resource.clone(),
        status: "firing".into(),
        description: a.obs.description.clone(),
        value: Some(a.obs.value),
        fired_at,
        resolved_at: None,
        details: a.obs.details.clone(),
        link: a.obs.resource.link(&a.cluster),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::milliseconds(ms)
    }

    fn rule(id: i32, builtin: Option<&str>, for_: &str, cooldown: u64) -> RuleView {
        let cond = Condition::parse(
            "node",
            &json!({"metric": "node.cpu_usage", "op": ">=", "threshold": 90, "for": for_}),
            None,
        )
        .unwrap();
        RuleView {
            id,
            name: format!("r{id}"),
            description: String::new(),
            builtin: builtin.map(str::to_string),
            severity: Severity::Warning,
            cooldown: Duration::from_secs(cooldown),
            channels: Vec::new(),
            condition: cond,
            scope: Scope::default(),
        }
    }

    fn obs(name: &str) -> Observation {
        Observation {
            resource: ResourceId {
                kind: "Node".into(),
                namespace: String::new(),
                name: name.into(),
            },
            subkey: String::new(),
            value: 95.0,
            description: "hot".into(),
            details: Vec::new(),
        }
    }

    fn engine(rules: Vec<RuleView>) -> Engine {
        let mut e = Engine::new(Timing {
            group_wait: Duration::from_secs(30),
            repeat_interval: Duration::from_secs(3600),
        });
        e.set_effective(["webhook".to_string()].into_iter().collect());
        e.set_rules(rules, t(0));
        e
    }

    fn sends(fx: &[Effect]) -> Vec<&Message> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Send { message, .. } => Some(message),
                _ => None,
            })
            .collect()
    }

    fn fires(fx: &[Effect]) -> usize {
        fx.iter().filter(|e| matches!(e, Effect::Fire(_))).count()
    }

    #[test]
    fn pending_then_firing_after_for_then_grouped_then_resolved() {
        let c: Arc<str> = Arc::from("c");
        let mut e = engine(vec![rule(1, None, "1m", 0)]);
        let fx = e.evaluate(1, &c, vec![obs("a"), obs("b")], t(0));
        assert_eq!(fires(&fx), 0, "pending first");
        let fx = e.evaluate(1, &c, vec![obs("a"), obs("b")], t(60_000));
        assert_eq!(fires(&fx), 2);
        assert!(sends(&fx).is_empty(), "waits for the group");
        assert!(sends(&e.tick(t(80_000))).is_empty());
        let fx = e.tick(t(90_000));
        let m = sends(&fx);
        assert_eq!(m.len(), 1, "one message for the group");
        assert_eq!(m[0].alerts.len(), 2);
        assert_eq!(m[0].kind, MessageKind::Firing);
        // b stops matching: resolved at once, one message.
        let fx = e.evaluate(1, &c, vec![obs("a")], t(100_000));
        let m = sends(&fx);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].kind, MessageKind::Resolved);
        assert_eq!(m[0].alerts[0].resource.name, "b");
    }

    #[test]
    fn a_pending_match_that_goes_away_never_fires() {
        let c: Arc<str> = Arc::from("c");
        let mut e = engine(vec![rule(1, None, "1m", 0)]);
        e.evaluate(1, &c, vec![obs("a")], t(0));
        let fx = e.evaluate(1, &c, vec![], t(30_000));
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(e.active_len(), 0);
        assert!(e.tick(t(120_000)).is_empty());
    }

    #[test]
    fn flapping_inside_group_wait_is_silent() {
        let c: Arc<str> = Arc::from("c");
        let mut e = engine(vec![rule(1, None, "0s", 0)]);
        let mut all = Vec::new();
        for i in 0..5 {
            all.extend(e.evaluate(1, &c, vec![obs("a")], t(i * 2000)));
            all.extend(e.evaluate(1, &c, vec![], t(i * 2000 + 1000)));
            all.extend(e.tick(t(i * 2000 + 1500)));
        }
        all.extend(e.tick(t(100_000)));
        assert_eq!(fires(&all), 5, "every episode is recorded");
        assert!(sends(&all).is_empty(), "{all:?}");
    }

    #[test]
    fn reminders_repeat_and_cooldown_suppresses_a_quick_refire() {
        let c: Arc<str> = Arc::from("c");
        let mut e = engine(vec![rule(1, None, "0s", 600)]);
        e.evaluate(1, &c, vec![obs("a")], t(0));
        assert_eq!(sends(&e.tick(t(30_000))).len(), 1);
        assert!(sends(&e.tick(t(3_000_000))).is_empty());
        let fx = e.tick(t(3_630_000));
        assert_eq!(sends(&fx)[0].kind, MessageKind::Reminder);
        let fx = e.evaluate(1, &c, vec![], t(3_700_000));
        assert_eq!(sends(&fx)[0].kind, MessageKind::Resolved);
        // Fires again within the cooldown (600 s after the last notification).
        e.evaluate(1, &c, vec![obs("a")], t(3_800_000));
        let fx = e.tick(t(3_830_000));
        assert!(sends(&fx).is_empty());
        assert!(fx.contains(&Effect::Suppress {
            uid: match &fx[0] {
                Effect::Suppress { uid, .. } => uid.clone(),
                other => panic!("{other:?}"),
            },
            reason: Some(Suppressed::Cooldown)
        }));
        // Once the cooldown is over and it still fires, it is sent.
        let fx = e.tick(t(4_300_000));
        assert!(sends(&fx).is_empty(), "queued again, waits for the group");
        let fx = e.tick(t(4_330_000));
        assert_eq!(sends(&fx).len(), 1);
    }

    #[test]
    fn offline_inhibits_other_alerts_and_counts_them() {
        let c: Arc<str> = Arc::from("c");
        let mut e = engine(vec![
            rule(1, None, "0s", 0),
            rule(2, Some(OFFLINE_RULE), "0s", 0),
        ]);
        e.evaluate(1, &c, vec![obs("a")], t(0));
        e.cluster_status(&c, false, obs("c"), t(1000));
        let fx = e.tick(t(40_000));
        let m = sends(&fx);
        assert_eq!(m.len(), 1, "only the offline message: {m:?}");
        assert_eq!(m[0].rule, "r2");
        assert!(m[0].summary.contains("1 other alert"), "{}", m[0].summary);
        assert!(fx.iter().any(|f| matches!(
            f,
            Effect::Suppress {
                reason: Some(Suppressed::Inhibited),
                ..
            }
        )));
        // Back online: offline resolves (notified), the inhibited alert is sent now.
        let fx = e.cluster_status(&c, true, obs("c"), t(50_000));
        assert_eq!(sends(&fx)[0].kind, MessageKind::Resolved);
        let fx = e.tick(t(51_000));
        assert!(sends(&fx).is_empty());
        let fx = e.tick(t(81_000));
        assert_eq!(sends(&fx).len(), 1);
        assert_eq!(sends(&fx)[0].rule, "r1");
    }

    #[test]
    fn restored_alerts_resolve_instead_of_firing_twice() {
        let c: Arc<str> = Arc::from("c");
        let mut e = engine(vec![rule(1, None, "0s", 0)]);
        e.restore(vec![FiringRow {
            uid: "u1".into(),
            rule_id: 1,
            cluster_id: "c".into(),
            key: "Node/a".into(),
            resource: obs("a").resource,
            description: "hot".into(),
            value: Some(95.0),
            details: Vec::new(),
            fired_at: t(0),
            notified: true,
            suppressed: None,
            last_notified_at: Some(t(0)),
        }]);
        let fx = e.evaluate(1, &c, vec![obs("a")], t(10_000));
        assert_eq!(fires(&fx), 0, "still the same episode");
        let fx = e.evaluate(1, &c, vec![], t(20_000));
        assert!(fx.contains(&Effect::Resolve {
            uid: "u1".into(),
            at: t(20_000),
            cluster: Arc::clone(&c),
            rule: "r1".into(),
            resource: "Node/a".into(),
        }));
        assert_eq!(sends(&fx)[0].kind, MessageKind::Resolved);
    }

    #[test]
    fn silences_match_by_cluster_rule_and_resource_glob() {
        let c: Arc<str> = Arc::from("prod");
        let mut e = engine(vec![rule(1, None, "0s", 0)]);
        e.set_silences(vec![Silence {
            id: 1,
            cluster_id: Some("prod".into()),
            rule: Some("r1".into()),
            resource: Some("Node/gpu-*".into()),
            starts_at: t(0),
            ends_at: t(100_000),
        }]);
        e.evaluate(1, &c, vec![obs("gpu-1"), obs("cpu-1")], t(1000));
        let fx = e.tick(t(40_000));
        let m = sends(&fx);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].alerts.len(), 1);
        assert_eq!(m[0].alerts[0].resource.name, "cpu-1");
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abcd"));
        assert!(glob("*", ""));
    }

    #[test]
    fn no_effective_channel_is_recorded_as_such() {
        let c: Arc<str> = Arc::from("c");
        let mut e = engine(vec![rule(1, None, "0s", 0)]);
        e.set_effective(HashSet::new());
        e.evaluate(1, &c, vec![obs("a")], t(0));
        let fx = e.tick(t(40_000));
        assert!(sends(&fx).is_empty());
        assert!(fx.iter().any(|f| matches!(
            f,
            Effect::Suppress {
                reason: Some(Suppressed::NoChannel),
                ..
            }
        )));
    }
}
