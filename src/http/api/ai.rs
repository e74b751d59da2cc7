//! The AI assistant (`spec/api.md`, "AI assistant"): providers and the active
//! configuration (admin), conversations (the caller's own), the SSE chat, and proposals
//! (operators decide).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::extract::{Admin, Operator, Viewer};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::http::{path_id, sse, validate_cluster_id, ListReply, Page, QueryParams};
use crate::service::ai::chat::{self, ChatEvent, ChatInput};
use crate::service::ai::{self as service, ActiveInput, AiError, Assistant, Caller, ProviderInput};
use crate::state::AppState;

impl From<AiError> for ApiError {
    fn from(e: AiError) -> Self {
        let msg = e.to_string();
        match e {
            AiError::Invalid { .. } => ApiError::bad_request(ErrorCode::InvalidParameter, msg),
            AiError::ProviderNotFound(_) => ApiError::not_found(ErrorCode::ProviderNotFound, msg),
            AiError::ProviderNameTaken(_) => ApiError::conflict(ErrorCode::ProviderNameTaken, msg),
            AiError::ProviderInUse(_) => ApiError::conflict(ErrorCode::ProviderInUse, msg),
            AiError::ConversationNotFound(_) => {
                ApiError::not_found(ErrorCode::ConversationNotFound, msg)
            }
            AiError::Disabled => ApiError::conflict(ErrorCode::AiDisabled, msg),
            AiError::NoProvider => ApiError::conflict(ErrorCode::AiNoProvider, msg),
            AiError::Busy(_) => ApiError::conflict(ErrorCode::ChatBusy, msg),
            AiError::TooManyAnswers => ApiError::too_many(
                ErrorCode::RateLimited,
                msg,
                std::time::Duration::from_secs(5),
            ),
            AiError::ProposalNotFound(_) => ApiError::not_found(ErrorCode::ProposalNotFound, msg),
            AiError::ProposalDecided { status, .. } => {
                ApiError::conflict(ErrorCode::ProposalDecided, msg)
                    .with_extra(serde_json::json!({ "status": status }))
            }
            AiError::Command(c) => c.into(),
            AiError::Secret(cause) => ApiError::internal(cause),
            AiError::Db(d) => d.into(),
        }
    }
}

/// The assistant's view of an authenticated caller.
pub fn caller(p: &Principal) -> Caller {
    Caller {
        user_id: p.user_id,
        username: p.username.clone(),
        role: p.role,
    }
}

// ---------------------------------------------------------------------------------------
// Providers (admin)

/// `GET /api/v2/ai/providers`: every provider (keys masked), the active configuration
/// and the model catalogue per kind.
#[tracing::instrument(skip_all)]
pub async fn list_providers(
    _auth: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (items, active) = service::list_providers(&state.db, &state.secrets).await?;
    let models: Vec<serde_json::Value> = service::MODELS
        .iter()
        .map(|(kind, models)| {
            serde_json::json!({
                "kind": kind.as_str(),
                "default_base_url": kind.default_base_url(),
                "models": models,
            })
        })
        .collect();
    let total = items.len();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": items,
        "total": total,
        "limit": total,
        "offset": 0,
        "active": active,
        "models": models,
    })))
}

/// `POST /api/v2/ai/providers`.
#[tracing::instrument(skip_all)]
pub async fn create_provider(
    auth: Admin,
    body: web::Json<ProviderInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let p = service::create_provider(
        &state.db,
        &state.secrets,
        body.into_inner(),
        auth.principal.user_id,
    )
    .await?;
    Ok(HttpResponse::Created().json(p))
}

/// `GET /api/v2/ai/providers/{id}`.
#[tracing::instrument(skip_all)]
pub async fn get_provider(
    _auth: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "provider")?;
    Ok(HttpResponse::Ok().json(service::get_provider(&state.db, &state.secrets, id).await?))
}

/// `PATCH /api/v2/ai/providers/{id}`: the given fields; `api_key` replaces the key.
#[tracing::instrument(skip_all)]
pub async fn patch_provider(
    _auth: Admin,
    path: web::Path<String>,
    body: web::Json<ProviderInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "provider")?;
    let p = service::patch_provider(&state.db, &state.secrets, id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(p))
}

/// `DELETE /api/v2/ai/providers/{id}`: 409 for the active provider.
#[tracing::instrument(skip_all)]
pub async fn delete_provider(
    _auth: Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "provider")?;
    service::delete_provider(&state.db, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v2/ai/active` (viewer: the dashboard checks whether chat is available).
#[tracing::instrument(skip_all)]
pub async fn get_active(
    _auth: Viewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(service::active(&state.db).await?))
}

/// `PUT /api/v2/ai/active` (admin): `{enabled?, provider_id?, tool_timeout?}`.
#[tracing::instrument(skip_all)]
pub async fn put_active(
    auth: Admin,
    body: web::Json<ActiveInput>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let v = service::put_active(&state.db, body.into_inner(), auth.principal.user_id).await?;
    Ok(HttpResponse::Ok().json(v))
}

// ---------------------------------------------------------------------------------------
// Conversations (the caller's own)

/// Body of `POST /api/v2/ai/conversations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    #[serde(default)]
    cluster_id: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// `GET /api/v2/ai/conversations`: the caller's, most recently used first.
#[tracing::instrument(skip_all)]
pub async fn list_conversations(
    auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::from_query(&QueryParams::of(&req))?;
    let (items, total) = service::list_conversations(
        &state.db,
        &caller(&auth.principal),
        page.limit as i64,
        page.offset as i64,
    )
    .await?;
    Ok(HttpResponse::Ok().json(ListReply::of_page(items, total, page)))
}

/// `POST /api/v2/ai/conversations`: `{cluster_id?, title?}`.
#[tracing::instrument(skip_all)]
pub async fn create_conversation(
    auth: Viewer,
    body: web::Json<CreateConversation>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(c) = body.cluster_id.as_deref().filter(|c| !c.is_empty()) {
        validate_cluster_id(c)?;
    }
    let c = service::create_conversation(
        &state.db,
        &caller(&auth.principal),
        body.cluster_id,
        body.title,
    )
    .await?;
    Ok(HttpResponse::Created().json(c))
}

/// `GET /api/v2/ai/conversations/{id}`.
#[tracing::instrument(skip_all)]
pub async fn get_conversation(
    auth: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "conversation")?;
    let c = service::conversation_view(&state.db, &caller(&auth.principal), id).await?;
    Ok(HttpResponse::Ok().json(c))
}

/// `DELETE /api/v2/ai/conversations/{id}`: with its messages and tool calls.
#[tracing::instrument(skip_all)]
pub async fn delete_conversation(
    auth: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "conversation")?;
    service::delete_conversation(&state.db, &caller(&auth.principal), id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v2/ai/conversations/{id}/messages`: oldest first, with tool calls.
#[tracing::instrument(skip_all)]
pub async fn list_messages(
    auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "conversation")?;
    let page = Page::from_query(&QueryParams::of(&req))?;
    let (items, total) = service::messages(
        &state.db,
        &caller(&auth.principal),
        id,
        page.limit as i64,
        page.offset as i64,
    )
    .await?;
    Ok(HttpResponse::Ok().json(ListReply::of_page(items, total, page)))
}

// ---------------------------------------------------------------------------------------
// Chat

/// How long the chat stream stays silent before it writes a comment ([`sse::comment`]):
/// the answer stops within about two of these after its client leaves, not when the model
/// next speaks.
const PING: std::time::Duration = std::time::Duration::from_secs(1);

/// Body of `POST /api/v2/ai/chat`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    conversation_id: i32,
    message: String,
    #[serde(default)]
    cluster_id: Option<String>,
}

impl ChatBody {
    /// What the assistant is asked (an empty `cluster_id` is none).
    pub fn into_input(self) -> ChatInput {
        ChatInput {
            conversation_id: self.conversation_id,
            message: self.message,
            cluster_id: self.cluster_id.filter(|c| !c.is_empty()),
        }
    }
}

/// `POST /api/v2/ai/chat`: the answer as Server-Sent Events (`text`, `tool_call`,
/// `tool_result`, `proposal`, then `done` or `error`). Closing the connection stops the
/// answer; what was said is stored as `interrupted`.
#[tracing::instrument(skip_all, fields(conversation_id = body.conversation_id))]
pub async fn chat(
    auth: Viewer,
    body: web::Json<ChatBody>,
    state: web::Data<AppState>,
    assistant: web::Data<Assistant>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().into_input();
    stream_chat(&state, &assistant, &auth.principal, input, frame).await
}

/// One chat event as our SSE frame: named by its type, the event as data.
fn frame(e: &ChatEvent) -> bytes::Bytes {
    sse::frame(e.name(), e).unwrap_or_else(|| sse::comment("unserializable event"))
}

/// Starts an answer and streams it as Server-Sent Events, each event written by `render`
/// (ours, or the AtlHyper dashboard's `event: message` chunks), with a comment every
/// [`PING`] of silence.
pub async fn stream_chat(
    state: &AppState,
    assistant: &Assistant,
    who: &Principal,
    input: ChatInput,
    render: fn(&ChatEvent) -> bytes::Bytes,
) -> Result<HttpResponse, ApiError> {
    if let Some(c) = input.cluster_id.as_deref().filter(|c| !c.is_empty()) {
        validate_cluster_id(c)?;
    }
    let rx = chat::start(state, assistant, caller(who), input).await?;
    let events = futures_util::stream::unfold(rx, move |mut rx| async move {
        let frame = tokio::select! {
            e = rx.recv() => {
                render(&e?)
            }
            () = tokio::time::sleep(PING) => sse::comment("ping"),
        };
        Some((frame, rx))
    });
    Ok(sse::response(state, events))
}

// ---------------------------------------------------------------------------------------
// Proposals

/// `GET /api/v2/ai/proposals`: `status`, `cluster_id`, `limit`, `offset`; a viewer sees
/// the proposals of their own chats, an operator all.
#[tracing::instrument(skip_all)]
pub async fn list_proposals(
    auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let (items, total) = service::list_proposals(
        &state.db,
        &caller(&auth.principal),
        q.get("status").map(str::to_owned),
        q.get("cluster_id").map(str::to_owned),
        page.limit as i64,
        page.offset as i64,
    )
    .await?;
    Ok(HttpResponse::Ok().json(ListReply::of_page(items, total, page)))
}

/// `POST /api/v2/ai/proposals/{id}/approve` (operator): creates the command (202).
#[tracing::instrument(skip_all)]
pub async fn approve_proposal(
    auth: Operator,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "proposal")?;
    let (proposal, command_id) = service::approve(&state, &caller(&auth.principal), id).await?;
    Ok(HttpResponse::Accepted()
        .json(serde_json::json!({ "command_id": command_id, "proposal": proposal })))
}

/// `POST /api/v2/ai/proposals/{id}/reject` (operator).
#[tracing::instrument(skip_all)]
pub async fn reject_proposal(
    auth: Operator,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "proposal")?;
    let p = service::reject(&state.db, &caller(&auth.principal), id).await?;
    Ok(HttpResponse::Ok().json(p))
}
