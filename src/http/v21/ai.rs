//! The AI assistant in v2.1's shapes: providers (`provider` for our `kind`, token and
//! cost totals), the active configuration, bare arrays of conversations and messages
//! (`tool_calls` as JSON text), and the chat as `event: message` SSE chunks
//! `{type, content, tool, params (JSON text), stats}`.
//!
//! Differences from v2.1: creating a provider and changing the active configuration need
//! an admin (v2.1: anyone); a conversation's messages and its deletion are the owner's
//! only; a proposal the assistant makes arrives as a text chunk naming it (the v2.1
//! dashboard has no approve button: an operator approves it through our API).

use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::extract::{Admin, Viewer};
use crate::error::ApiError;
use crate::http::api::ai::{caller, stream_chat, ChatBody};
use crate::http::{path_id, sse, status_ok, validate_cluster_id, QueryParams};
use crate::service::ai::chat::ChatEvent;
use crate::service::ai::{self as service, ActiveInput, Assistant, ProviderInput};
use crate::state::AppState;

/// Most messages of one conversation a history read returns.
const MAX_MESSAGES: i64 = 10_000;
/// Default and largest page of the conversation list.
const CONVERSATIONS_DEFAULT: i64 = 20;
const CONVERSATIONS_MAX: i64 = 200;

fn ser(v: impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// A provider as v2.1's `ProviderResponse`.
fn provider(p: Value) -> Value {
    let n = |k: &str| p.get(k).and_then(Value::as_i64).unwrap_or(0);
    let requests = n("total_requests");
    let errored_last = match (p.get("last_error_at"), p.get("last_used_at")) {
        (Some(Value::String(e)), Some(Value::String(u))) => e >= u,
        (Some(Value::String(_)), _) => true,
        _ => false,
    };
    let status = if errored_last {
        "error"
    } else if requests > 0 {
        "healthy"
    } else {
        "unknown"
    };
    json!({
        "id": p["id"],
        "name": p["name"],
        "provider": p["kind"],
        "model": p["model"],
        "description": p["description"],
        "api_key_masked": p["api_key_masked"],
        "api_key_set": p["api_key_set"],
        "is_active": p["is_active"],
        "status": status,
        "total_requests": requests,
        "total_tokens": n("total_input_tokens") + n("total_output_tokens"),
        "total_cost": 0.0,
        "last_used_at": p["last_used_at"],
        "last_error": p["last_error"],
        "created_at": p["created_at"],
        "updated_at": p["updated_at"],
    })
}

/// `{enabled, provider_id, tool_timeout}` of our active view.
fn active_config(a: &Value) -> Value {
    json!({
        "enabled": a["enabled"],
        "provider_id": a["provider_id"],
        "tool_timeout": a["tool_timeout"],
    })
}

/// `GET /v21/api/v2/ai/providers` (admin): `{providers, active_config, models}`.
pub async fn list_providers(
    _auth: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (items, active) = service::list_providers(&state.db, &state.secrets).await?;
    let providers = items
        .into_iter()
        .map(|p| ser(p).map(provider))
        .collect::<Result<Vec<_>, _>>()?;
    let models: Vec<Value> = service::MODELS
        .iter()
        .map(|(kind, models)| json!({"provider": kind.as_str(), "name": kind.as_str(), "models": models}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "providers": providers,
        "active_config": active_config(&ser(active)?),
        "models": models,
    })))
}

/// A create or update body: v2.1's names (`provider` is our `kind`).
#[derive(Deserialize)]
pub struct ProviderBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

fn input(b: ProviderBody) -> Result<ProviderInput, ApiError> {
    let mut v = serde_json::Map::new();
    for (k, val) in [
        ("name", b.name),
        ("kind", b.provider),
        ("model", b.model),
        ("description", b.description),
        // An empty key from the edit form means "unchanged", not "clear it".
        ("api_key", b.api_key.filter(|k| !k.is_empty())),
    ] {
        if let Some(val) = val {
            v.insert(k.to_owned(), Value::String(val));
        }
    }
    serde_json::from_value(Value::Object(v)).map_err(ApiError::internal)
}

/// `POST /v21/api/v2/ai/providers` (admin) → 201 with the provider.
pub async fn create_provider(
    auth: Admin,
    body: web::Json<ProviderBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let p = service::create_provider(
        &state.db,
        &state.secrets,
        input(body.into_inner())?,
        auth.principal.user_id,
    )
    .await?;
    Ok(HttpResponse::Created().json(provider(ser(p)?)))
}

/// `PUT /v21/api/v2/ai/providers/{id}` (admin): the given fields.
pub async fn update_provider(
    _auth: Admin,
    path: web::Path<String>,
    body: web::Json<ProviderBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "provider")?;
    let p =
        service::patch_provider(&state.db, &state.secrets, id, input(body.into_inner())?).await?;
    Ok(HttpResponse::Ok().json(provider(ser(p)?)))
}

/// `DELETE /v21/api/v2/ai/providers/{id}` (admin): 409 for the active one.
pub async fn delete_provider(
    _auth: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "provider")?;
    service::delete_provider(&state.db, id).await?;
    Ok(status_ok())
}

/// `GET /v21/api/v2/ai/active` (viewer: the chat page checks that AI is on).
pub async fn get_active(
    _auth: Viewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let a = ser(service::active(&state.db).await?)?;
    Ok(HttpResponse::Ok().json(active_config(&a)))
}

/// `PUT /v21/api/v2/ai/active` (admin): `{enabled?, provider_id?, tool_timeout?}`.
pub async fn put_active(
    auth: Admin,
    body: web::Json<ActiveInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let a = service::put_active(&state.db, body.into_inner(), auth.principal.user_id).await?;
    Ok(HttpResponse::Ok().json(active_config(&ser(a)?)))
}

/// A conversation as v2.1 (`cluster_id` a string).
fn conversation(c: impl Serialize) -> Result<Value, ApiError> {
    let mut v = ser(c)?;
    if v.get("cluster_id").is_none_or(Value::is_null) {
        v["cluster_id"] = json!("");
    }
    Ok(v)
}

/// `GET /v21/api/v2/ai/conversations?limit=&offset=`: the caller's, as a bare array.
pub async fn list_conversations(
    auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let limit = q
        .parse::<i64>("limit")?
        .filter(|n| *n > 0)
        .unwrap_or(CONVERSATIONS_DEFAULT)
        .min(CONVERSATIONS_MAX);
    let offset = q.parse::<i64>("offset")?.unwrap_or(0).max(0);
    let (items, _) =
        service::list_conversations(&state.db, &caller(&auth.principal), limit, offset).await?;
    let items = items
        .into_iter()
        .map(conversation)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(items))
}

/// Body of `POST /v21/api/v2/ai/conversations`.
#[derive(Deserialize)]
pub struct NewConversation {
    #[serde(default)]
    cluster_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// `POST /v21/api/v2/ai/conversations` → the conversation.
pub async fn create_conversation(
    auth: Viewer,
    body: web::Json<NewConversation>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let cluster = b.cluster_id.filter(|c| !c.is_empty());
    if let Some(c) = &cluster {
        validate_cluster_id(c)?;
    }
    let c =
        service::create_conversation(&state.db, &caller(&auth.principal), cluster, b.title).await?;
    Ok(HttpResponse::Ok().json(conversation(c)?))
}

/// `DELETE /v21/api/v2/ai/conversations/{id}` (own only) → `{"status":"ok"}`.
pub async fn delete_conversation(
    auth: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "conversation")?;
    service::delete_conversation(&state.db, &caller(&auth.principal), id).await?;
    Ok(status_ok())
}

/// A message as v2.1: `tool_calls` is the JSON text of `[{ID, Name, Params}]` (what the
/// dashboard parses), absent without calls.
fn message(m: impl Serialize) -> Result<Value, ApiError> {
    let v = ser(m)?;
    let calls: Vec<Value> = v["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| json!({"ID": c["call_id"], "Name": c["name"], "Params": c["input"].to_string()}))
                .collect()
        })
        .unwrap_or_default();
    let mut out = json!({
        "id": v["id"],
        "conversation_id": v["conversation_id"],
        "role": v["role"],
        "content": v["content"],
        "created_at": v["created_at"],
    });
    if !calls.is_empty() {
        out["tool_calls"] = json!(Value::Array(calls).to_string());
    }
    Ok(out)
}

/// `GET /v21/api/v2/ai/conversations/{id}/messages` (own only): a bare array, oldest
/// first.
pub async fn list_messages(
    auth: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "conversation")?;
    let (items, _) =
        service::messages(&state.db, &caller(&auth.principal), id, MAX_MESSAGES, 0).await?;
    let items = items
        .into_iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(items))
}

/// v2.1's `ChatChunk`.
#[derive(Serialize)]
struct Chunk {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    content: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tool: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    params: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<Value>,
}

/// One chat event as the dashboard reads it: `event: message`, `data: <ChatChunk>`.
fn frame(e: &ChatEvent) -> Bytes {
    let chunk = |kind, content: String| Chunk {
        kind,
        content,
        tool: String::new(),
        params: String::new(),
        stats: None,
    };
    let c = match e {
        ChatEvent::Text { content } => chunk("text", content.clone()),
        ChatEvent::ToolCall { tool, params, .. } => Chunk {
            tool: tool.clone(),
            params: params.to_string(),
            ..chunk("tool_call", String::new())
        },
        ChatEvent::ToolResult { tool, content, .. } => Chunk {
            tool: tool.clone(),
            ..chunk("tool_result", content.clone())
        },
        ChatEvent::Proposal { proposal } => {
            let p = serde_json::to_value(proposal).unwrap_or(Value::Null);
            let target = match p["namespace"].as_str().unwrap_or("") {
                "" => p["name"].as_str().unwrap_or("").to_owned(),
                ns => format!("{ns}/{}", p["name"].as_str().unwrap_or("")),
            };
            chunk(
                "text",
                format!(
                    "\n[proposal #{}: {} {} {} — nothing ran; an operator approves it with POST /api/v2/ai/proposals/{}/approve]\n",
                    p["id"],
                    p["action"].as_str().unwrap_or(""),
                    p["kind"].as_str().unwrap_or(""),
                    target,
                    p["id"],
                ),
            )
        }
        ChatEvent::Done { stats, .. } => Chunk {
            stats: serde_json::to_value(stats).ok(),
            ..chunk("done", String::new())
        },
        ChatEvent::Error { content, .. } => chunk("error", content.clone()),
    };
    sse::frame("message", &c).unwrap_or_else(|| sse::comment("unserializable event"))
}

/// `POST /v21/api/v2/ai/chat` (`{conversation_id, cluster_id, message}`, as ours): the
/// same answer as ours, as v2.1's SSE chunks.
pub async fn chat(
    auth: Viewer,
    body: web::Json<ChatBody>,
    state: web::Data<AppState>,
    assistant: web::Data<Assistant>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().into_input();
    stream_chat(&state, &assistant, &auth.principal, input, frame).await
}
