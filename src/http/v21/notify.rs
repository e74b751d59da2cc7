//! Notification channels in v2.1's `ChannelResponse` shape (reference §3.5) on our
//! channels: secrets masked (v2.1 served the raw config to anyone), stored encrypted.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::extract::Admin;
use crate::error::ApiError;
use crate::http::api::notify::channel_kind;
use crate::notify::channel::ChannelKind;
use crate::service::notify::{self as service, ChannelInput, ChannelView};
use crate::state::AppState;

fn channel(c: &ChannelView) -> Value {
    json!({
        "type": c.kind.as_str(),
        "name": c.name,
        "enabled": c.enabled,
        "effective_enabled": c.effective,
        "validation_errors": c.errors,
        "config": c.masked_config,
        "updated_at": c.updated_at,
    })
}

/// `GET /v21/api/v2/notify/channels` (admin): Slack and email always (the two the
/// dashboard edits), the other types when configured; `{"channels","total"}`.
pub async fn list(_auth: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let all = service::list_channels(&state.db, &state.secrets, &state.notify).await?;
    let items: Vec<Value> = all
        .iter()
        .filter(|c| {
            matches!(c.kind, ChannelKind::Slack | ChannelKind::Email) || c.updated_at.is_some()
        })
        .map(channel)
        .collect();
    let total = items.len();
    Ok(HttpResponse::Ok().json(json!({ "channels": items, "total": total })))
}

/// Body of `PUT /v21/api/v2/notify/channels/{type}`: only what changed.
#[derive(Deserialize)]
pub struct ChannelPatch {
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    config: Option<Map<String, Value>>,
}

/// `PUT /v21/api/v2/notify/channels/{type}` (admin): the given config fields over the
/// stored ones (a masked secret sent back keeps the stored secret), `enabled` when given;
/// answers the updated channel.
pub async fn put(
    auth: Admin,
    path: web::Path<String>,
    body: web::Json<ChannelPatch>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let kind = channel_kind(&path)?;
    let patch = body.into_inner();
    let now = service::get_channel(&state.db, &state.secrets, &state.notify, kind).await?;
    let mut config = now.masked_config.as_object().cloned().unwrap_or_default();
    config.extend(patch.config.unwrap_or_default());
    let input = ChannelInput {
        enabled: patch.enabled.unwrap_or(now.enabled),
        name: Some(now.name.clone()),
        config: Value::Object(config),
    };
    let c = service::put_channel(
        &state.db,
        &state.secrets,
        &state.notify,
        kind,
        input,
        auth.principal.user_id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(channel(&c)))
}
