//! Dashboard handlers of alerts and notifications (`spec/api.md`, "Alerts and
//! notifications"): rules, alerts, silences, channels, deliveries. Each parses the
//! request (path ids, query filters, bodies, cluster ids), calls one function of
//! `service::notify`, where the rules live, and shapes the reply. The notifier, the
//! dispatcher and the channels themselves live in `crate::notify`.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::extract::{Admin, Operator, Viewer};
use crate::db::from_db;
use crate::db::notify::{AlertFilter, AlertRow, DeliveryFilter, SilenceRow};
use crate::error::{ApiError, ErrorCode};
use crate::http::{path_id, validate_cluster_id, ListReply, Page, QueryParams};
use crate::notify::channel::ChannelKind;
use crate::notify::message::{ResourceId, Severity};
use crate::service::notify::{
    self as service, ChannelInput, ChannelTest, ChannelView, NotifyError, RuleInput, SilenceInput,
};
use crate::state::AppState;

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        let msg = e.to_string();
        match e {
            NotifyError::InvalidField { field, why } => ApiError::invalid_param(field, why),
            NotifyError::InvalidBody(_) => ApiError::bad_request(ErrorCode::InvalidBody, msg),
            NotifyError::InvalidCondition(_) => {
                ApiError::bad_request(ErrorCode::InvalidCondition, msg)
            }
            NotifyError::InvalidScope(_) => ApiError::bad_request(ErrorCode::InvalidScope, msg),
            NotifyError::BuiltinRuleFixed(_) => ApiError::bad_request(ErrorCode::BuiltinRule, msg),
            NotifyError::BuiltinRuleKept => ApiError::conflict(ErrorCode::BuiltinRule, msg),
            NotifyError::RuleNotFound(_) => ApiError::not_found(ErrorCode::RuleNotFound, msg),
            NotifyError::RuleNameTaken(_) => ApiError::conflict(ErrorCode::RuleNameTaken, msg),
            NotifyError::SilenceNotFound(_) => ApiError::not_found(ErrorCode::SilenceNotFound, msg),
            NotifyError::Seal(cause) => ApiError::internal(cause),
            NotifyError::Db(cause) => cause.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rules

/// `GET /api/v2/alert-rules`.
#[tracing::instrument(skip_all)]
pub async fn list_rules(
    _auth: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = Page::from_query(&QueryParams::of(&req))?;
    let rows = service::list_rules(&state.db).await?;
    let items: Vec<Value> = rows.iter().map(service::rule_document).collect();
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
    let rule = service::get_rule(&state.db, id).await?;
    Ok(HttpResponse::Ok().json(service::rule_document(&rule)))
}

/// `POST /api/v2/alert-rules`.
#[tracing::instrument(skip_all)]
pub async fn create_rule(
    auth: Admin,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let input = RuleInput::from_json(body.into_inner())?;
    if let Some(c) = &input.cluster_id {
        validate_cluster_id(c)?;
    }
    let rule =
        service::create_rule(&state.db, &state.notify, input, auth.principal.user_id).await?;
    Ok(HttpResponse::Created().json(service::rule_document(&rule)))
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
    let patch = body.into_inner();
    // The stored cluster id was checked when it was written; a new one is checked here.
    if let Some(Value::String(c)) = patch.get("cluster_id") {
        validate_cluster_id(c)?;
    }
    let rule = service::patch_rule(&state.db, &state.notify, id, patch).await?;
    Ok(HttpResponse::Ok().json(service::rule_document(&rule)))
}

/// `DELETE /api/v2/alert-rules/{id}`: its firing alerts resolve.
#[tracing::instrument(skip_all)]
pub async fn delete_rule(
    _auth: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "rule")?;
    service::delete_rule(&state.db, &state.notify, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------
// Alerts

#[derive(Serialize, utoipa::ToSchema)]
pub struct AlertItem {
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

fn alert_item(r: AlertRow) -> AlertItem {
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
        ..AlertFilter::default()
    };
    let (limit, offset) = (page.limit as i64, page.offset as i64);
    let (rows, total) = service::list_alerts(&state.db, f, limit, offset).await?;
    let items = rows.into_iter().map(alert_item).collect();
    Ok(HttpResponse::Ok().json(ListReply::of_page(items, total, page)))
}

// ---------------------------------------------------------------------------------------
// Silences

fn silence_json(s: &SilenceRow, now: DateTime<Utc>) -> Value {
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
    let (rows, total) = service::list_silences(&state.db, active, now, limit, offset).await?;
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
    let input = SilenceInput::from_json(body.into_inner())?;
    if let Some(c) = &input.matchers.cluster_id {
        validate_cluster_id(c)?;
    }
    let now = Utc::now();
    let saved = service::create_silence(
        &state.db,
        &state.notify,
        input,
        &auth.principal.username,
        now,
    )
    .await?;
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
    let s = service::expire_silence(&state.db, &state.notify, id, now).await?;
    Ok(HttpResponse::Ok().json(silence_json(&s, now)))
}

// ---------------------------------------------------------------------------------------
// Channels

/// A `{type}` path segment; 404 for an unknown type.
pub fn channel_kind(raw: &str) -> Result<ChannelKind, ApiError> {
    ChannelKind::parse(raw).ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::ChannelNotFound,
            format!(
                "unknown channel type {raw:?}; expected slack, email, webhook, dingtalk or feishu"
            ),
        )
    })
}

fn channel_json(c: &ChannelView) -> Value {
    json!({
        "type": c.kind.as_str(),
        "name": c.name,
        "enabled": c.enabled,
        "effective": c.effective,
        "validation_errors": c.errors,
        "config": c.masked_config,
        "updated_at": c.updated_at,
        "health": c.health,
    })
}

/// `GET /api/v2/notify/channels`: every type, configured or not, secrets masked.
#[tracing::instrument(skip_all)]
pub async fn list_channels(
    _auth: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let all = service::list_channels(&state.db, &state.secrets, &state.notify).await?;
    let items: Vec<Value> = all.iter().map(channel_json).collect();
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
    let c = service::get_channel(&state.db, &state.secrets, &state.notify, kind).await?;
    Ok(HttpResponse::Ok().json(channel_json(&c)))
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
    let input = ChannelInput::from_json(body.into_inner())?;
    let c = service::put_channel(
        &state.db,
        &state.secrets,
        &state.notify,
        kind,
        input,
        auth.principal.user_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(channel_json(&c)))
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
    let reply = match service::test_channel(&state.db, &state.secrets, kind).await? {
        ChannelTest::NotConfigured => json!({
            "success": false, "error": "channel is not configured", "effective": false,
        }),
        ChannelTest::Invalid(errors) => json!({
            "success": false,
            "error": format!("invalid channel configuration: {}", errors.join("; ")),
            "effective": false,
        }),
        ChannelTest::Sent { effective } => json!({"success": true, "effective": effective}),
        ChannelTest::Failed { error, effective } => {
            json!({"success": false, "error": error, "effective": effective})
        }
    };
    Ok(HttpResponse::Ok().json(reply))
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
    let (rows, total) = service::list_deliveries(&state.db, f, limit, offset).await?;
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
