//! Dashboard handlers of alerts and notifications (`spec/api.md`, "Alerts and
//! notifications"): rules, alerts, silences, channels, deliveries. The notifier, the
//! dispatcher and the channels themselves live in `crate::notify`.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth::extract::{Admin, Operator, Viewer};
use crate::db::notify::{self as repo, AlertFilter, DeliveryFilter, RuleFields, RuleWrite};
use crate::db::{from_db, to_db};
use crate::error::{ApiError, ErrorCode};
use crate::http::{validate_cluster_id, ListReply, Page, QueryParams};
use crate::notify::channel::{self, ChannelKind};
use crate::notify::message::{Message, ResourceId, Severity};
use crate::notify::rules::{Condition, Scope};
use crate::notify::{HealthByChannel, LoadedChannel};
use crate::state::AppState;

/// Longest cooldown a rule may have: a week (longer is "disabled").
const MAX_COOLDOWN_SEC: i64 = 7 * 86_400;
/// Longest rule name.
const MAX_NAME: usize = 100;
/// Longest silence: a silence forgotten for a year hides real outages.
const MAX_SILENCE_DAYS: i64 = 90;

// ---------------------------------------------------------------------------------------
// Rules

/// A rule as the API reads and writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    cluster_id: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Option<Value>,
    resource_type: String,
    condition: Value,
    severity: String,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    notify_channels: Vec<String>,
    #[serde(default)]
    cooldown_sec: i64,
}

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

fn yes() -> bool {
    true
}

/// Validates `body`; returns the row fields and the parsed condition.
fn rule_fields(body: RuleBody) -> Result<(RuleFields, Condition), ApiError> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid_param(
            "name",
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    if let Some(c) = &body.cluster_id {
        validate_cluster_id(c)?;
    }
    let condition = Condition::parse(&body.resource_type, &body.condition, body.for_.as_deref())
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidCondition, e))?;
    let scope = Scope::parse(
        body.cluster_id.clone(),
        body.namespace.clone(),
        body.labels.as_ref(),
    )
    .map_err(|e| ApiError::bad_request(ErrorCode::InvalidScope, e))?;
    let severity = Severity::parse(&body.severity).ok_or_else(|| {
        ApiError::invalid_param("severity", "must be one of info, warning, critical")
    })?;
    for c in &body.notify_channels {
        if ChannelKind::parse(c).is_none() {
            return Err(ApiError::invalid_param(
                "notify_channels",
                format!("unknown channel type {c:?}; expected slack, email, webhook, dingtalk or feishu"),
            ));
        }
    }
    let mut channels = body.notify_channels.clone();
    channels.sort();
    channels.dedup();
    if !(0..=MAX_COOLDOWN_SEC).contains(&body.cooldown_sec) {
        return Err(ApiError::invalid_param(
            "cooldown_sec",
            format!("must be between 0 and {MAX_COOLDOWN_SEC}"),
        ));
    }
    let labels = serde_json::to_string(&scope.labels).unwrap_or_else(|_| "{}".into());
    Ok((
        RuleFields {
            name,
            description: body.description,
            cluster_id: scope.cluster_id.clone(),
            namespace: scope.namespace.clone(),
            labels,
            resource_type: body.resource_type,
            condition: condition.to_json().to_string(),
            severity: severity.as_str().to_string(),
            enabled: body.enabled,
            notify_channels: serde_json::to_string(&channels).unwrap_or_else(|_| "[]".into()),
            cooldown_sec: i32::try_from(body.cooldown_sec).unwrap_or(0),
        },
        condition,
    ))
}

fn rule_json(r: &repo::RuleRow) -> Value {
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

fn path_id(raw: &str, what: &str) -> Result<i32, ApiError> {
    raw.parse::<i32>()
        .map_err(|_| ApiError::invalid_param("id", format!("{what} ids are integers")))
}

/// Deserializes a write body, dropping the reply-only keys a client may echo back; any
/// other unknown key is refused by the target's `deny_unknown_fields`.
fn parse_body<T: serde::de::DeserializeOwned>(
    mut v: Value,
    read_only: &[&str],
) -> Result<T, ApiError> {
    if let Value::Object(m) = &mut v {
        for k in read_only {
            m.remove(*k);
        }
    }
    serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidBody, e.to_string()))
}

/// `GET /api/v2/alert-rules`.
#[tracing::instrument(skip_all)]
pub async fn list_rules(
    _auth: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = Page::from_query(&QueryParams::of(&req))?;
    let rows = state.db.read(repo::list_rules).await?;
    let items: Vec<Value> = rows.iter().map(rule_json).collect();
    Ok(HttpResponse::Ok().json(ListReply::paged(items, page)))
}

/// `GET /api/v2/alert-rules/{id}`.
#[tracing::instrument(skip_all)]
pub async fn get_rule(
    _auth: Viewer,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "rule")?;
    match state.db.read(move |c| repo::get_rule(c, id)).await? {
        Some(r) => Ok(HttpResponse::Ok().json(rule_json(&r))),
        None => Err(ApiError::not_found(
            ErrorCode::RuleNotFound,
            format!("no alert rule {id}"),
        )),
    }
}

fn write_reply(w: RuleWrite, name: &str, created: bool) -> Result<HttpResponse, ApiError> {
    match w {
        RuleWrite::Ok(r) => Ok(if created {
            HttpResponse::Created().json(rule_json(&r))
        } else {
            HttpResponse::Ok().json(rule_json(&r))
        }),
        RuleWrite::NameTaken => Err(ApiError::conflict(
            ErrorCode::RuleNameTaken,
            format!("an alert rule named {name:?} already exists"),
        )),
        RuleWrite::NotFound => Err(ApiError::not_found(
            ErrorCode::RuleNotFound,
            "no such alert rule",
        )),
    }
}

/// `POST /api/v2/alert-rules`.
#[tracing::instrument(skip_all)]
pub async fn create_rule(
    auth: Admin,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (fields, cond) = rule_fields(parse_body(body.into_inner(), RULE_READ_ONLY)?)?;
    if !cond.metric.from_snapshot() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidCondition,
            format!(
                "condition.metric: {} is evaluated by a built-in rule only; tune that rule instead",
                cond.metric.name()
            ),
        ));
    }
    let by = auth.principal.user_id;
    let name = fields.name.clone();
    save_rule(&state, &name, true, move |c| {
        repo::insert_rule(c, &fields, Some(by), Utc::now())
    })
    .await
}

/// Runs a rule write, has the notifier reload, and maps the outcome.
async fn save_rule<F>(
    state: &AppState,
    name: &str,
    created: bool,
    write: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn) -> Result<RuleWrite, crate::db::DbError> + Send + 'static,
{
    let w = state.db.write(write).await?;
    state.notify.reload().await;
    write_reply(w, name, created)
}

/// `PATCH /api/v2/alert-rules/{id}`: the given fields change, the rest stay; the result
/// is validated as a whole. A built-in rule keeps its name and metric.
#[tracing::instrument(skip_all)]
pub async fn patch_rule(
    _auth: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "rule")?;
    let Some(current) = state.db.read(move |c| repo::get_rule(c, id)).await? else {
        return Err(ApiError::not_found(
            ErrorCode::RuleNotFound,
            format!("no alert rule {id}"),
        ));
    };
    let mut merged = rule_json(&current);
    let patch = body.into_inner();
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
    let (fields, cond) = rule_fields(parse_body(merged, RULE_READ_ONLY)?)?;
    if let Some(key) = &current.builtin {
        let stored: Value = serde_json::from_str(&current.condition).unwrap_or(Value::Null);
        let stored_metric = stored
            .get("metric")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if fields.name != current.name || cond.metric.name() != stored_metric {
            return Err(ApiError::bad_request(
                ErrorCode::BuiltinRule,
                format!("the built-in rule {key:?} keeps its name and metric; change its threshold, for, scope, severity, channels or enabled"),
            ));
        }
    } else if !cond.metric.from_snapshot() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidCondition,
            format!(
                "condition.metric: {} is evaluated by a built-in rule only",
                cond.metric.name()
            ),
        ));
    }
    let name = fields.name.clone();
    save_rule(&state, &name, false, move |c| {
        repo::update_rule(c, id, &fields, Utc::now())
    })
    .await
}

/// `DELETE /api/v2/alert-rules/{id}`: its firing alerts resolve.
#[tracing::instrument(skip_all)]
pub async fn delete_rule(
    _auth: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "rule")?;
    let Some(current) = state.db.read(move |c| repo::get_rule(c, id)).await? else {
        return Err(ApiError::not_found(
            ErrorCode::RuleNotFound,
            format!("no alert rule {id}"),
        ));
    };
    if current.builtin.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::BuiltinRule,
            "built-in rules cannot be deleted; PATCH {\"enabled\": false} turns one off",
        ));
    }
    state.db.write(move |c| repo::delete_rule(c, id)).await?;
    state.notify.reload().await;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------
// Alerts

#[derive(Serialize)]
struct AlertItem {
    id: i32,
    uid: String,
    rule_id: Option<i32>,
    rule_name: String,
    cluster_id: String,
    severity: String,
    title: String,
    message: String,
    resource: Value,
    value: Option<f64>,
    details: BTreeMap<String, String>,
    status: String,
    fired_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    notified: bool,
    suppressed: Option<String>,
    last_notified_at: Option<DateTime<Utc>>,
}

fn alert_item(r: repo::AlertRow) -> AlertItem {
    let res = ResourceId {
        kind: r.resource_kind,
        namespace: r.resource_namespace,
        name: r.resource_name,
    };
    let details: Vec<(String, String)> = serde_json::from_str(&r.details).unwrap_or_default();
    AlertItem {
        id: r.id,
        resource: json!({
            "kind": res.kind, "namespace": res.namespace, "name": res.name,
            "key": res.key(), "link": res.link(&r.cluster_id),
        }),
        uid: r.uid,
        rule_id: r.rule_id,
        rule_name: r.rule_name,
        cluster_id: r.cluster_id,
        severity: r.severity,
        title: r.title,
        message: r.message,
        value: r.value,
        details: details.into_iter().collect(),
        status: r.status,
        fired_at: from_db(r.fired_at),
        resolved_at: r.resolved_at.map(from_db),
        notified: r.notified,
        suppressed: r.suppressed,
        last_notified_at: r.last_notified_at.map(from_db),
    }
}

/// `GET /api/v2/alerts`: the alert history, newest first.
#[tracing::instrument(skip_all)]
pub async fn list_alerts(
    _auth: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let status = q.get("status").map(str::to_string);
    if status
        .as_deref()
        .is_some_and(|s| s != "firing" && s != "resolved")
    {
        return Err(ApiError::invalid_param(
            "status",
            "must be firing or resolved",
        ));
    }
    let severity = q.get("severity").map(str::to_string);
    if severity
        .as_deref()
        .is_some_and(|s| Severity::parse(s).is_none())
    {
        return Err(ApiError::invalid_param(
            "severity",
            "must be info, warning or critical",
        ));
    }
    let cluster_id = q.get("cluster_id").map(str::to_string);
    if let Some(c) = &cluster_id {
        validate_cluster_id(c)?;
    }
    let f = AlertFilter {
        status,
        cluster_id,
        severity,
        since: q.time("since")?,
    };
    let (limit, offset) = (page.limit as i64, page.offset as i64);
    let (rows, total) = state
        .db
        .read(move |c| repo::list_alerts(c, &f, limit, offset))
        .await?;
    let items = rows.into_iter().map(alert_item).collect();
    Ok(HttpResponse::Ok().json(ListReply::of_page(items, total, page)))
}

// ---------------------------------------------------------------------------------------
// Silences

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Matchers {
    #[serde(default)]
    cluster_id: Option<String>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    resource: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SilenceBody {
    matchers: Matchers,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    ends_at: DateTime<Utc>,
    #[serde(default)]
    comment: String,
}

fn silence_json(s: &repo::SilenceRow, now: DateTime<Utc>) -> Value {
    let (start, end) = (from_db(s.starts_at), from_db(s.ends_at));
    let state = if now < start {
        "pending"
    } else if now < end {
        "active"
    } else {
        "expired"
    };
    json!({
        "id": s.id,
        "matchers": {"cluster_id": s.cluster_id, "rule": s.rule, "resource": s.resource},
        "starts_at": start,
        "ends_at": end,
        "comment": s.comment,
        "created_by": s.created_by,
        "created_at": from_db(s.created_at),
        "state": state,
    })
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `GET /api/v2/silences` (`?active=true` hides expired ones).
#[tracing::instrument(skip_all)]
pub async fn list_silences(
    _auth: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let active = q.parse::<bool>("active")?.unwrap_or(false);
    let now = Utc::now();
    let (limit, offset) = (page.limit as i64, page.offset as i64);
    let (rows, total) = state
        .db
        .read(move |c| repo::list_silences(c, active, now, limit, offset))
        .await?;
    let items = rows.iter().map(|s| silence_json(s, now)).collect();
    Ok(HttpResponse::Ok().json(ListReply::of_page(items, total, page)))
}

/// `POST /api/v2/silences`.
#[tracing::instrument(skip_all)]
pub async fn create_silence(
    auth: Operator,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let body: SilenceBody = parse_body(body.into_inner(), &[])?;
    let now = Utc::now();
    let cluster_id = non_empty(body.matchers.cluster_id);
    if let Some(c) = &cluster_id {
        validate_cluster_id(c)?;
    }
    let rule = non_empty(body.matchers.rule);
    let resource = non_empty(body.matchers.resource);
    if cluster_id.is_none() && rule.is_none() && resource.is_none() {
        return Err(ApiError::invalid_param(
            "matchers",
            "give at least one of cluster_id, rule, resource (a silence of everything hides every alert)",
        ));
    }
    let starts_at = body.starts_at.unwrap_or(now);
    if body.ends_at <= starts_at {
        return Err(ApiError::invalid_param(
            "ends_at",
            "must be after starts_at",
        ));
    }
    if body.ends_at <= now {
        return Err(ApiError::invalid_param("ends_at", "must be in the future"));
    }
    if body.ends_at - starts_at > chrono::Duration::days(MAX_SILENCE_DAYS) {
        return Err(ApiError::invalid_param(
            "ends_at",
            format!("a silence lasts at most {MAX_SILENCE_DAYS} days"),
        ));
    }
    let row = repo::NewSilence {
        cluster_id,
        rule,
        resource,
        starts_at: to_db(starts_at),
        ends_at: to_db(body.ends_at),
        comment: body.comment,
        created_by: auth.principal.username.clone(),
        created_at: to_db(now),
    };
    let saved = state
        .db
        .write(move |c| repo::insert_silence(c, &row))
        .await?;
    state.notify.reload().await;
    Ok(HttpResponse::Created().json(silence_json(&saved, now)))
}

/// `DELETE /api/v2/silences/{id}`: expires it now.
#[tracing::instrument(skip_all)]
pub async fn expire_silence(
    _auth: Operator,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "silence")?;
    let now = Utc::now();
    match state
        .db
        .write(move |c| repo::expire_silence(c, id, now))
        .await?
    {
        Some(s) => {
            state.notify.reload().await;
            Ok(HttpResponse::Ok().json(silence_json(&s, now)))
        }
        None => Err(ApiError::not_found(
            ErrorCode::SilenceNotFound,
            format!("no silence {id}"),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Channels

fn channel_kind(raw: &str) -> Result<ChannelKind, ApiError> {
    ChannelKind::parse(raw).ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::ChannelNotFound,
            format!(
                "unknown channel type {raw:?}; expected slack, email, webhook, dingtalk or feishu"
            ),
        )
    })
}

/// The dispatcher's breaker and budget state of every channel.
async fn health(state: &AppState) -> Option<HealthByChannel> {
    state.notify.channel_health().await
}

fn channel_json(c: &LoadedChannel, health: Option<&HealthByChannel>) -> Value {
    json!({
        "type": c.kind.as_str(),
        "name": c.name,
        "enabled": c.enabled,
        "effective": c.effective(),
        "validation_errors": c.errors,
        "config": channel::mask(c.kind, &c.config),
        "updated_at": c.updated_at,
        "health": health.and_then(|h| h.get(c.kind.as_str())),
    })
}

async fn loaded(state: &AppState, kind: ChannelKind) -> Result<LoadedChannel, ApiError> {
    Ok(crate::notify::load_channel(&state.db, &state.secrets, kind).await?)
}

/// `GET /api/v2/notify/channels`: every type, configured or not, secrets masked.
#[tracing::instrument(skip_all)]
pub async fn list_channels(
    _auth: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let all = crate::notify::load_channels(&state.db, &state.secrets).await?;
    let health = health(&state).await;
    let items: Vec<Value> = all
        .iter()
        .map(|c| channel_json(c, health.as_ref()))
        .collect();
    let page = Page {
        limit: items.len().max(1),
        offset: 0,
    };
    Ok(HttpResponse::Ok().json(ListReply::paged(items, page)))
}

/// `GET /api/v2/notify/channels/{type}`.
#[tracing::instrument(skip_all)]
pub async fn get_channel(
    _auth: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let kind = channel_kind(&path)?;
    let c = loaded(&state, kind).await?;
    Ok(HttpResponse::Ok().json(channel_json(&c, health(&state).await.as_ref())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    enabled: bool,
    #[serde(default)]
    name: Option<String>,
    config: Value,
}

/// `PUT /api/v2/notify/channels/{type}`: stores the config encrypted, even when invalid
/// (it is then not effective and the reply lists why). Masked secrets keep their stored
/// value, so a GET → PUT round trip never overwrites a secret with its mask.
#[tracing::instrument(skip_all)]
pub async fn put_channel(
    auth: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let kind = channel_kind(&path)?;
    let body: ChannelBody = parse_body(body.into_inner(), CHANNEL_READ_ONLY)?;
    if !body.config.is_object() {
        return Err(ApiError::invalid_param("config", "must be a JSON object"));
    }
    let name = body
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| kind.default_name().to_string());
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid_param(
            "name",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    let stored = loaded(&state, kind).await?;
    let config = channel::merge_masked(kind, body.config, &stored.config);
    let encrypted = state
        .secrets
        .encrypt(&config.to_string())
        .map_err(ApiError::internal)?;
    let by = auth.principal.user_id;
    let enabled = body.enabled;
    state
        .db
        .write(move |c| {
            repo::upsert_channel(
                c,
                kind.as_str(),
                &name,
                enabled,
                &encrypted,
                Some(by),
                Utc::now(),
            )
        })
        .await?;
    state.notify.reload().await;
    let c = loaded(&state, kind).await?;
    Ok(HttpResponse::Ok().json(channel_json(&c, health(&state).await.as_ref())))
}

/// `POST /api/v2/notify/channels/{type}/test`: sends a real message now, with the stored
/// config (enabled or not, so a channel can be checked before it is switched on), and
/// reports the real error.
#[tracing::instrument(skip_all)]
pub async fn test_channel(
    _auth: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let kind = channel_kind(&path)?;
    let c = loaded(&state, kind).await?;
    if c.updated_at.is_none() {
        return Ok(HttpResponse::Ok().json(json!({
            "success": false, "error": "channel is not configured", "effective": false,
        })));
    }
    if !c.errors.is_empty() {
        return Ok(HttpResponse::Ok().json(json!({
            "success": false,
            "error": format!("invalid channel configuration: {}", c.errors.join("; ")),
            "effective": false,
        })));
    }
    let msg = Message::test(kind.as_str(), &c.name, Utc::now());
    let res = channel::Sender::new().send(kind, &c.config, &msg).await;
    Ok(HttpResponse::Ok().json(match res {
        Ok(()) => json!({"success": true, "effective": c.effective()}),
        Err(e) => json!({"success": false, "error": e.message, "effective": c.effective()}),
    }))
}

// ---------------------------------------------------------------------------------------
// Deliveries

/// `GET /api/v2/notify/deliveries`: the outbox and its history, newest first. Filters:
/// `channel`, `status` (pending, delivered, failed, folded), `alert_uid`.
#[tracing::instrument(skip_all)]
pub async fn list_deliveries(
    _auth: Admin,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let channel = q.get("channel").map(str::to_string);
    if let Some(c) = &channel {
        channel_kind(c).map_err(|_| ApiError::invalid_param("channel", "unknown channel type"))?;
    }
    let status = q.get("status").map(str::to_string);
    if status
        .as_deref()
        .is_some_and(|s| !["pending", "delivered", "failed", "folded"].contains(&s))
    {
        return Err(ApiError::invalid_param(
            "status",
            "must be pending, delivered, failed or folded",
        ));
    }
    let f = DeliveryFilter {
        channel,
        status,
        alert_uid: q.get("alert_uid").map(str::to_string),
    };
    let (limit, offset) = (page.limit as i64, page.offset as i64);
    let (rows, total) = state
        .db
        .read(move |c| repo::list_deliveries(c, &f, limit, offset))
        .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "channel": r.channel,
                "kind": r.kind,
                "alert_uid": r.alert_uid,
                "cluster_id": r.cluster_id,
                "rule": r.rule_name,
                "title": r.title,
                "status": r.status,
                "attempts": r.attempts,
                "next_attempt_at": (r.status == "pending").then(|| from_db(r.next_attempt_at)),
                "last_error": r.last_error,
                "digest_id": r.digest_id,
                "created_at": from_db(r.created_at),
                "updated_at": from_db(r.updated_at),
                "delivered_at": r.delivered_at.map(from_db),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListReply::of_page(items, total, page)))
}
