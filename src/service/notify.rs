//! Notify services (see `service`): alert rules, alerts, silences, channels and the
//! delivery outbox, between the handlers of `http/api/notify.rs` and `db.notify()`.
//!
//! - **Rules.** A write is validated as a whole (name, scope, condition, severity,
//!   channels, cooldown). A PATCH merges onto the stored rule in the API's shape
//!   ([`rule_document`]) and the result is validated like a create. A built-in rule keeps
//!   its name and metric and cannot be deleted; a user rule may only use metrics read from
//!   snapshots (the others are evaluated by built-in rules alone).
//! - **Silences.** At least one matcher, a future end after the start, at most
//!   [`MAX_SILENCE_DAYS`] long.
//! - **Channels.** A PUT keeps every stored secret the client sent back masked, seals the
//!   whole config with the [`SecretBox`] and stores it even when invalid (it is then not
//!   effective, and the reply says why). What leaves this module is masked
//!   ([`ChannelView`]); the clear config is only handed to the channel itself.
//! - Every change has the notifier and the dispatcher reload before the service returns,
//!   so the reply describes what the next evaluation uses.
//!
//! Cluster ids are checked by the handlers, where every cluster id of the API is parsed.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::db::notify::{
    AlertFilter, AlertRow, DeliveryFilter, DeliveryRow, NewSilence, RuleFields, RuleRow, RuleWrite,
    SilenceRow,
};
use crate::db::{from_db, to_db, Db, DbError};
use crate::notify::channel::{self, ChannelKind};
use crate::notify::dispatch::ChannelHealth;
use crate::notify::message::{Message, Severity};
use crate::notify::rules::{Condition, Scope};
use crate::notify::{HealthByChannel, LoadedChannel, Notify};
use crate::secrets::{SecretBox, SecretError};

/// Longest cooldown a rule may have: a week (longer is "disabled").
pub const MAX_COOLDOWN_SEC: i64 = 7 * 86_400;
/// Longest rule or channel name.
pub const MAX_NAME: usize = 100;
/// Longest silence: a silence forgotten for a year hides real outages.
pub const MAX_SILENCE_DAYS: i64 = 90;

/// Fields of a rule reply that a client may echo back in a write; ignored.
const RULE_READ_ONLY: &[&str] = &["id", "builtin", "created_at", "updated_at", "created_by"];
/// Fields of a channel reply that a client may echo back in a PUT; ignored.
const CHANNEL_READ_ONLY: &[&str] = &[
    "type",
    "effective",
    "validation_errors",
    "updated_at",
    "health",
];

/// Why a notify service refused or failed. The handler maps each to a status and code.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A field breaks a rule (400 `invalid_parameter`).
    #[error("invalid {field}: {why}")]
    InvalidField {
        /// The field, as the API names it.
        field: &'static str,
        /// What it must be.
        why: String,
    },
    /// The body is not the expected object (400 `invalid_body`).
    #[error("{0}")]
    InvalidBody(String),
    /// The rule's condition does not parse, or names a metric it may not use (400
    /// `invalid_condition`).
    #[error("{0}")]
    InvalidCondition(String),
    /// The rule's scope does not parse (400 `invalid_scope`).
    #[error("{0}")]
    InvalidScope(String),
    /// A PATCH would change a built-in rule's name or metric (400 `builtin_rule`).
    #[error("the built-in rule {0:?} keeps its name and metric; change its threshold, for, scope, severity, channels or enabled")]
    BuiltinRuleFixed(String),
    /// A built-in rule cannot be deleted (409 `builtin_rule`).
    #[error("built-in rules cannot be deleted; PATCH {{\"enabled\": false}} turns one off")]
    BuiltinRuleKept,
    /// No such rule (404 `rule_not_found`).
    #[error("no alert rule {0}")]
    RuleNotFound(i32),
    /// Another rule has this name (409 `rule_name_taken`).
    #[error("an alert rule named {0:?} already exists")]
    RuleNameTaken(String),
    /// No such silence (404 `silence_not_found`).
    #[error("no silence {0}")]
    SilenceNotFound(i32),
    /// The channel config could not be sealed (500; the cause names no secret).
    #[error("channel config could not be encrypted: {0}")]
    Seal(#[source] SecretError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn invalid(field: &'static str, why: impl Into<String>) -> NotifyError {
    NotifyError::InvalidField {
        field,
        why: why.into(),
    }
}

/// Deserializes a write body, dropping the reply-only keys a client may echo back; any
/// other unknown key is refused by the target's `deny_unknown_fields`.
fn from_api_json<T: DeserializeOwned>(mut v: Value, read_only: &[&str]) -> Result<T, NotifyError> {
    if let Value::Object(m) = &mut v {
        for k in read_only {
            m.remove(*k);
        }
    }
    serde_json::from_value(v).map_err(|e| NotifyError::InvalidBody(e.to_string()))
}

// ---------------------------------------------------------------------------------------
// Rules

/// A rule as the API writes it (a POST body, or a PATCH merged onto the stored rule).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// 1 to [`MAX_NAME`] characters, unique.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Only this cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Only this namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels that must all match.
    #[serde(default)]
    pub labels: Option<Value>,
    /// What the condition is evaluated on.
    pub resource_type: String,
    /// The condition (metric, operator, threshold, `for`).
    pub condition: Value,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// How long the condition must hold (overrides `condition.for`).
    #[serde(default, rename = "for")]
    pub for_: Option<String>,
    /// Whether the rule is evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Channel types to notify.
    #[serde(default)]
    pub notify_channels: Vec<String>,
    /// Seconds between notifications of one alert.
    #[serde(default)]
    pub cooldown_sec: i64,
}

fn yes() -> bool {
    true
}

impl RuleInput {
    /// Parses a rule body; the reply-only keys a client may echo back are ignored.
    pub fn from_json(body: Value) -> Result<RuleInput, NotifyError> {
        from_api_json(body, RULE_READ_ONLY)
    }
}

/// Validates `input`; returns the row fields and the parsed condition.
fn validate_rule(input: RuleInput) -> Result<(RuleFields, Condition), NotifyError> {
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(invalid(
            "name",
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    let condition = Condition::parse(
        &input.resource_type,
        &input.condition,
        input.for_.as_deref(),
    )
    .map_err(NotifyError::InvalidCondition)?;
    let scope = Scope::parse(
        input.cluster_id.clone(),
        input.namespace.clone(),
        input.labels.as_ref(),
    )
    .map_err(NotifyError::InvalidScope)?;
    let severity = Severity::parse(&input.severity)
        .ok_or_else(|| invalid("severity", "must be one of info, warning, critical"))?;
    for c in &input.notify_channels {
        if ChannelKind::parse(c).is_none() {
            return Err(invalid(
                "notify_channels",
                format!("unknown channel type {c:?}; expected slack, email, webhook, dingtalk or feishu"),
            ));
        }
    }
    let mut channels = input.notify_channels.clone();
    channels.sort();
    channels.dedup();
    if !(0..=MAX_COOLDOWN_SEC).contains(&input.cooldown_sec) {
        return Err(invalid(
            "cooldown_sec",
            format!("must be between 0 and {MAX_COOLDOWN_SEC}"),
        ));
    }
    let labels = serde_json::to_string(&scope.labels).unwrap_or_else(|_| "{}".into());
    Ok((
        RuleFields {
            name,
            description: input.description,
            cluster_id: scope.cluster_id.clone(),
            namespace: scope.namespace.clone(),
            labels,
            resource_type: input.resource_type,
            condition: condition.to_json().to_string(),
            severity: severity.as_str().to_string(),
            enabled: input.enabled,
            notify_channels: serde_json::to_string(&channels).unwrap_or_else(|_| "[]".into()),
            cooldown_sec: i32::try_from(input.cooldown_sec).unwrap_or(0),
        },
        condition,
    ))
}

/// A stored rule in the API's shape: what a GET returns and what a PATCH merges onto.
pub fn rule_document(r: &RuleRow) -> Value {
    let condition: Value = serde_json::from_str(&r.condition).unwrap_or(Value::Null);
    let for_ = condition.get("for").cloned().unwrap_or(Value::Null);
    json!({
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "builtin": r.builtin,
        "cluster_id": r.cluster_id,
        "namespace": r.namespace,
        "labels": serde_json::from_str::<Value>(&r.labels).unwrap_or_else(|_| json!({})),
        "resource_type": r.resource_type,
        "condition": condition,
        "severity": r.severity,
        "for": for_,
        "enabled": r.enabled,
        "notify_channels": serde_json::from_str::<Value>(&r.notify_channels).unwrap_or_else(|_| json!([])),
        "cooldown_sec": r.cooldown_sec,
        "created_at": from_db(r.created_at),
        "updated_at": from_db(r.updated_at),
        "created_by": r.created_by,
    })
}

/// `patch` over the stored rule: the given fields change, the rest stay.
fn merge_patch(current: &RuleRow, patch: Map<String, Value>) -> Value {
    let mut merged = rule_document(current);
    // A PATCH that sets only `for` must not be overridden by the stored condition's.
    let patch_sets_condition = patch.contains_key("condition");
    if let Value::Object(m) = &mut merged {
        if !patch_sets_condition && patch.contains_key("for") {
            if let Some(Value::Object(c)) = m.get_mut("condition") {
                c.remove("for");
            }
        }
        if !patch.contains_key("for") {
            m.remove("for");
        }
        for (k, v) in patch {
            m.insert(k, v);
        }
    }
    merged
}

fn only_builtin_metric(cond: &Condition, hint: &str) -> NotifyError {
    NotifyError::InvalidCondition(format!(
        "condition.metric: {} is evaluated by a built-in rule only{hint}",
        cond.metric.name()
    ))
}

/// Has the notifier reload, then maps a rule write's outcome.
async fn saved(
    notifier: &Notify,
    w: RuleWrite,
    id: Option<i32>,
    name: String,
) -> Result<RuleRow, NotifyError> {
    notifier.reload().await;
    match w {
        RuleWrite::Ok(r) => Ok(*r),
        RuleWrite::NameTaken => Err(NotifyError::RuleNameTaken(name)),
        RuleWrite::NotFound => Err(NotifyError::RuleNotFound(id.unwrap_or_default())),
    }
}

/// Every rule, by id.
pub async fn list_rules(db: &Db) -> Result<Vec<RuleRow>, NotifyError> {
    Ok(db.notify().list_rules().await?)
}

/// One rule.
pub async fn get_rule(db: &Db, id: i32) -> Result<RuleRow, NotifyError> {
    db.notify()
        .get_rule(id)
        .await?
        .ok_or(NotifyError::RuleNotFound(id))
}

/// Creates a user rule (only snapshot metrics; the rest belong to built-in rules).
pub async fn create_rule(
    db: &Db,
    notifier: &Notify,
    input: RuleInput,
    by: i32,
) -> Result<RuleRow, NotifyError> {
    let (fields, cond) = validate_rule(input)?;
    if !cond.metric.from_snapshot() && !cond.metric.from_slo() {
        return Err(only_builtin_metric(&cond, "; tune that rule instead"));
    }
    let name = fields.name.clone();
    let w = db
        .notify()
        .insert_rule(fields, Some(by), Utc::now())
        .await?;
    saved(notifier, w, None, name).await
}

/// Applies a PATCH: `patch` merges onto the stored rule and the result is validated as a
/// whole. A built-in rule keeps its name and metric.
pub async fn patch_rule(
    db: &Db,
    notifier: &Notify,
    id: i32,
    patch: Map<String, Value>,
) -> Result<RuleRow, NotifyError> {
    let current = get_rule(db, id).await?;
    let input = RuleInput::from_json(merge_patch(&current, patch))?;
    let (fields, cond) = validate_rule(input)?;
    if let Some(key) = &current.builtin {
        let stored: Value = serde_json::from_str(&current.condition).unwrap_or(Value::Null);
        let stored_metric = stored
            .get("metric")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if fields.name != current.name || cond.metric.name() != stored_metric {
            return Err(NotifyError::BuiltinRuleFixed(key.clone()));
        }
    } else if !cond.metric.from_snapshot() && !cond.metric.from_slo() {
        return Err(only_builtin_metric(&cond, ""));
    }
    let name = fields.name.clone();
    let w = db.notify().update_rule(id, fields, Utc::now()).await?;
    saved(notifier, w, Some(id), name).await
}

/// Deletes a user rule; its firing alerts resolve. Built-in rules are only disabled.
pub async fn delete_rule(db: &Db, notifier: &Notify, id: i32) -> Result<(), NotifyError> {
    let current = get_rule(db, id).await?;
    if current.builtin.is_some() {
        return Err(NotifyError::BuiltinRuleKept);
    }
    db.notify().delete_rule(id).await?;
    notifier.reload().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Alerts and deliveries

/// One page of the alert history, newest first, and the number matching.
pub async fn list_alerts(
    db: &Db,
    filter: AlertFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AlertRow>, i64), NotifyError> {
    Ok(db.notify().list_alerts(filter, limit, offset).await?)
}

/// One page of the outbox and its history, newest first, and the number matching.
pub async fn list_deliveries(
    db: &Db,
    filter: DeliveryFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DeliveryRow>, i64), NotifyError> {
    Ok(db.notify().list_deliveries(filter, limit, offset).await?)
}

// ---------------------------------------------------------------------------------------
// Silences

/// What a silence matches; blank values count as absent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceMatchers {
    /// Only this cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Only this rule (by name).
    #[serde(default)]
    pub rule: Option<String>,
    /// Only this resource (its key).
    #[serde(default)]
    pub resource: Option<String>,
}

/// A silence as the API creates it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    /// What it matches.
    pub matchers: SilenceMatchers,
    /// When it starts (now when absent).
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl SilenceInput {
    /// Parses a silence body; matchers are trimmed, blank ones dropped.
    pub fn from_json(body: Value) -> Result<SilenceInput, NotifyError> {
        let mut s: SilenceInput = from_api_json(body, &[])?;
        let m = &mut s.matchers;
        m.cluster_id = non_empty(m.cluster_id.take());
        m.rule = non_empty(m.rule.take());
        m.resource = non_empty(m.resource.take());
        Ok(s)
    }
}

/// One page of silences, newest first; `active_only` keeps those not ended by `now`.
pub async fn list_silences(
    db: &Db,
    active_only: bool,
    now: DateTime<Utc>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<SilenceRow>, i64), NotifyError> {
    Ok(db
        .notify()
        .list_silences(active_only, now, limit, offset)
        .await?)
}

/// Creates a silence: at least one matcher (a silence of everything hides every alert),
/// ending in the future, after its start, at most [`MAX_SILENCE_DAYS`] later.
pub async fn create_silence(
    db: &Db,
    notifier: &Notify,
    input: SilenceInput,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<SilenceRow, NotifyError> {
    let SilenceInput {
        matchers,
        starts_at,
        ends_at,
        comment,
    } = input;
    if matchers.cluster_id.is_none() && matchers.rule.is_none() && matchers.resource.is_none() {
        return Err(invalid(
            "matchers",
            "give at least one of cluster_id, rule, resource (a silence of everything hides every alert)",
        ));
    }
    let starts_at = starts_at.unwrap_or(now);
    if ends_at <= starts_at {
        return Err(invalid("ends_at", "must be after starts_at"));
    }
    if ends_at <= now {
        return Err(invalid("ends_at", "must be in the future"));
    }
    if ends_at - starts_at > chrono::Duration::days(MAX_SILENCE_DAYS) {
        return Err(invalid(
            "ends_at",
            format!("a silence lasts at most {MAX_SILENCE_DAYS} days"),
        ));
    }
    let row = NewSilence {
        cluster_id: matchers.cluster_id,
        rule: matchers.rule,
        resource: matchers.resource,
        starts_at: to_db(starts_at),
        ends_at: to_db(ends_at),
        comment,
        created_by: created_by.to_owned(),
        created_at: to_db(now),
    };
    let saved = db.notify().insert_silence(row).await?;
    notifier.reload().await;
    Ok(saved)
}

/// Ends a silence at `now` (one already ended is returned as it is).
pub async fn expire_silence(
    db: &Db,
    notifier: &Notify,
    id: i32,
    now: DateTime<Utc>,
) -> Result<SilenceRow, NotifyError> {
    let s = db
        .notify()
        .expire_silence(id, now)
        .await?
        .ok_or(NotifyError::SilenceNotFound(id))?;
    notifier.reload().await;
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// Channels

/// A channel as the API shows it. The config is masked: no secret leaves this module.
#[derive(Debug, Clone)]
pub struct ChannelView {
    /// Its type.
    pub kind: ChannelKind,
    /// Display name.
    pub name: String,
    /// The enabled flag.
    pub enabled: bool,
    /// Enabled and valid: messages are sent.
    pub effective: bool,
    /// What is wrong with the config; empty when valid.
    pub errors: Vec<String>,
    /// The config, every secret masked.
    pub masked_config: Value,
    /// When it was last changed; `None` when never configured.
    pub updated_at: Option<DateTime<Utc>>,
    /// The dispatcher's breaker and budget state; `None` when it does not answer.
    pub health: Option<ChannelHealth>,
}

impl ChannelView {
    fn of(c: &LoadedChannel, health: Option<&HealthByChannel>) -> ChannelView {
        ChannelView {
            kind: c.kind,
            name: c.name.clone(),
            enabled: c.enabled,
            effective: c.effective(),
            errors: c.errors.clone(),
            masked_config: channel::mask(c.kind, &c.config),
            updated_at: c.updated_at,
            health: health.and_then(|h| h.get(c.kind.as_str())).cloned(),
        }
    }
}

/// A channel as the API writes it (`PUT`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// The enabled flag.
    pub enabled: bool,
    /// Display name (the type's default when blank).
    #[serde(default)]
    pub name: Option<String>,
    /// The config; secrets may be sent back masked to keep the stored ones.
    pub config: Value,
}

impl ChannelInput {
    /// Parses a channel body; the reply-only keys a client may echo back are ignored.
    pub fn from_json(body: Value) -> Result<ChannelInput, NotifyError> {
        from_api_json(body, CHANNEL_READ_ONLY)
    }
}

/// Every channel type, configured or not, with its health.
pub async fn list_channels(
    db: &Db,
    secrets: &SecretBox,
    notifier: &Notify,
) -> Result<Vec<ChannelView>, NotifyError> {
    let all = crate::notify::load_channels(db, secrets).await?;
    let health = notifier.channel_health().await;
    Ok(all
        .iter()
        .map(|c| ChannelView::of(c, health.as_ref()))
        .collect())
}

/// The channel of type `kind`, configured or not, with its health.
pub async fn get_channel(
    db: &Db,
    secrets: &SecretBox,
    notifier: &Notify,
    kind: ChannelKind,
) -> Result<ChannelView, NotifyError> {
    let c = crate::notify::load_channel(db, secrets, kind).await?;
    let health = notifier.channel_health().await;
    Ok(ChannelView::of(&c, health.as_ref()))
}

/// The config to store: `new` with every secret sent back masked replaced by the stored
/// one, sealed whole with `secrets`.
fn seal_config(
    secrets: &SecretBox,
    kind: ChannelKind,
    new: Value,
    stored: &Value,
) -> Result<String, NotifyError> {
    let config = channel::merge_masked(kind, new, stored);
    secrets
        .encrypt(&config.to_string())
        .map_err(NotifyError::Seal)
}

/// Stores the channel of type `kind`: masked secrets keep their stored value (so a GET →
/// PUT round trip never overwrites a secret with its mask), the whole config is sealed,
/// and an invalid config is stored too (not effective; the view lists why).
pub async fn put_channel(
    db: &Db,
    secrets: &SecretBox,
    notifier: &Notify,
    kind: ChannelKind,
    input: ChannelInput,
    by: i32,
) -> Result<ChannelView, NotifyError> {
    if !input.config.is_object() {
        return Err(invalid("config", "must be a JSON object"));
    }
    let name = input
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| kind.default_name().to_string());
    if name.chars().count() > MAX_NAME {
        return Err(invalid("name", format!("at most {MAX_NAME} characters")));
    }
    let stored = crate::notify::load_channel(db, secrets, kind).await?;
    let sealed = seal_config(secrets, kind, input.config, &stored.config)?;
    db.notify()
        .upsert_channel(
            kind.as_str(),
            name,
            input.enabled,
            sealed,
            Some(by),
            Utc::now(),
        )
        .await?;
    notifier.reload().await;
    get_channel(db, secrets, notifier, kind).await
}

/// The outcome of a test send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelTest {
    /// The type has never been configured: nothing sent.
    NotConfigured,
    /// The stored config is invalid: nothing sent.
    Invalid(Vec<String>),
    /// The channel accepted the message.
    Sent {
        /// Whether the channel is effective (a disabled one can be tested too).
        effective: bool,
    },
    /// The channel refused; the error names no secret.
    Failed {
        /// What went wrong.
        error: String,
        /// Whether the channel is effective.
        effective: bool,
    },
}

/// Sends a real test message now with the stored config, enabled or not (so a channel can
/// be checked before it is switched on).
pub async fn test_channel(
    db: &Db,
    secrets: &SecretBox,
    kind: ChannelKind,
) -> Result<ChannelTest, NotifyError> {
    let c = crate::notify::load_channel(db, secrets, kind).await?;
    if c.updated_at.is_none() {
        return Ok(ChannelTest::NotConfigured);
    }
    if !c.errors.is_empty() {
        return Ok(ChannelTest::Invalid(c.errors));
    }
    let msg = Message::test(kind.as_str(), &c.name, Utc::now());
    let effective = c.effective();
    Ok(
        match channel::Sender::new().send(kind, &c.config, &msg).await {
            Ok(()) => ChannelTest::Sent { effective },
            Err(e) => ChannelTest::Failed {
                error: e.message,
                effective,
            },
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn rule(builtin: Option<&str>) -> RuleRow {
        let t = to_db(Utc::now());
        RuleRow {
            id: 7,
            name: "pods restarting".into(),
            description: String::new(),
            builtin: builtin.map(str::to_string),
            cluster_id: None,
            namespace: None,
            labels: "{}".into(),
            resource_type: "pod".into(),
            condition: r#"{"metric":"restart_count","op":">","threshold":3,"for":"5m"}"#.into(),
            severity: "warning".into(),
            enabled: true,
            notify_channels: r#"["slack"]"#.into(),
            cooldown_sec: 600,
            created_at: t,
            updated_at: t,
            created_by: None,
        }
    }

    fn patch(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let merged = merge_patch(&rule(None), patch(json!({"severity": "critical"})));
        assert_eq!(merged["severity"], "critical");
        assert_eq!(merged["name"], "pods restarting");
        assert_eq!(merged["cooldown_sec"], 600);
        assert_eq!(merged["condition"]["for"], "5m");
        // The read-only keys of the document are dropped when it is parsed back.
        RuleInput::from_json(merged).unwrap();
    }

    #[test]
    fn a_patch_of_for_alone_overrides_the_stored_condition() {
        let merged = merge_patch(&rule(None), patch(json!({"for": "1m"})));
        assert_eq!(merged["for"], "1m");
        assert!(merged["condition"].get("for").is_none());
        let merged = merge_patch(&rule(None), patch(json!({"enabled": false})));
        assert!(merged.get("for").is_none());
        assert_eq!(merged["condition"]["for"], "5m");
    }

    #[test]
    fn unknown_fields_are_refused_and_read_only_ones_ignored() {
        let body = json!({"name": "x", "resource_type": "pod", "condition": {}, "severity": "info",
                          "id": 3, "created_at": "whenever"});
        assert!(RuleInput::from_json(body).is_ok());
        let body = json!({"name": "x", "resource_type": "pod", "condition": {}, "severity": "info",
                          "colour": "red"});
        assert!(matches!(
            RuleInput::from_json(body),
            Err(NotifyError::InvalidBody(_))
        ));
    }

    #[test]
    fn silence_matchers_are_trimmed_and_blank_ones_dropped() {
        let s = SilenceInput::from_json(json!({
            "matchers": {"cluster_id": "  prod ", "rule": "   "},
            "ends_at": "2999-01-01T00:00:00Z",
        }))
        .unwrap();
        assert_eq!(s.matchers.cluster_id.as_deref(), Some("prod"));
        assert_eq!(s.matchers.rule, None);
        assert_eq!(s.matchers.resource, None);
    }

    #[test]
    fn a_masked_secret_keeps_the_stored_one_and_the_whole_config_is_sealed() {
        let secrets = SecretBox::from_key(&[7u8; 32]);
        let stored = json!({"url": "https://hooks.example/a", "secret": "whsec-0123456789abcdef"});
        let masked = channel::mask(ChannelKind::Webhook, &stored);
        assert_ne!(masked["secret"], stored["secret"]);
        let sealed = seal_config(&secrets, ChannelKind::Webhook, masked, &stored).unwrap();
        assert!(SecretBox::is_encrypted(&sealed));
        assert!(!sealed.contains("whsec") && !sealed.contains("hooks.example"));
        let back: Value = serde_json::from_str(&secrets.decrypt(&sealed).unwrap()).unwrap();
        assert_eq!(back, stored);
    }

    #[test]
    fn a_new_secret_replaces_the_stored_one() {
        let secrets = SecretBox::from_key(&[7u8; 32]);
        let stored = json!({"url": "https://hooks.example/a", "secret": "whsec-old-0123456789"});
        let new = json!({"url": "https://hooks.example/a", "secret": "whsec-new-0123456789"});
        let sealed = seal_config(&secrets, ChannelKind::Webhook, new.clone(), &stored).unwrap();
        let back: Value = serde_json::from_str(&secrets.decrypt(&sealed).unwrap()).unwrap();
        assert_eq!(back, new);
    }
}
