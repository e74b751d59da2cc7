//! Commands from the dashboard side: create, read (with `?wait=`), list, cancel.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use atlhyper_actors::command::CommandState;

use crate::auth::extract::{Operator, Viewer};
use crate::auth::Role;
use crate::config::parse_duration;
use crate::db::commands::{self as repo, CommandFilter, CommandRow};
use crate::error::{ApiError, ErrorCode};
use crate::http::{ListReply, Page, QueryParams};
use crate::service::commands::{self, CommandError, CommandRequest, Creator};
use crate::state::AppState;

/// Longest `?wait=` a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Body of `POST /api/v2/command`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCommand {
    cluster_id: String,
    action: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    params: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    topic: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResultView {
    success: bool,
    output: String,
    error: String,
    executed_at: Option<String>,
    output_truncated: bool,
    output_hidden: bool,
}

/// A command as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CommandView {
    command_id: String,
    cluster_id: String,
    action: String,
    kind: String,
    namespace: String,
    name: String,
    params: serde_json::Value,
    status: String,
    topic: String,
    source: String,
    created_by: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    duration_ms: Option<i64>,
    result: Option<ResultView>,
}

fn view(row: CommandRow, viewer: Role) -> CommandView {
    // Secret values never reach a viewer (v2.1 served them on a public route).
    let hidden = viewer < Role::Operator && commands::output_is_secret(&row);
    let result = row.success.map(|success| ResultView {
        success,
        output: if hidden {
            String::new()
        } else {
            row.output.clone().unwrap_or_default()
        },
        output_hidden: hidden,
        error: row.error_message.clone().unwrap_or_default(),
        executed_at: row.executed_at.clone(),
        output_truncated: row.output_truncated,
    });
    CommandView {
        params: serde_json::from_str(&row.params)
            .unwrap_or(serde_json::Value::Object(Default::default())),
        created_at: repo::utc(row.created_at),
        started_at: row.started_at.map(repo::utc),
        finished_at: row.finished_at.map(repo::utc),
        command_id: row.command_id,
        cluster_id: row.cluster_id,
        action: row.action,
        kind: row.target_kind,
        namespace: row.target_namespace,
        name: row.target_name,
        status: row.status,
        topic: row.topic,
        source: row.source,
        created_by: row.created_by,
        duration_ms: row.duration_ms,
        result,
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Invalid { field, message } => {
                ApiError::bad_request(ErrorCode::InvalidCommand, message)
                    .with_extra(serde_json::json!({"field": field}))
            }
            CommandError::BadTopic => ApiError::invalid_param(
                "topic",
                "1-64 characters of letters, digits, '_', '-' or '.'",
            ),
            CommandError::NotFound(_) => {
                ApiError::not_found(ErrorCode::CommandNotFound, e.to_string())
            }
            CommandError::NotPending(_) => ApiError::conflict(ErrorCode::NotPending, e.to_string()),
            CommandError::Actor(m) => m.into(),
            CommandError::Store(_) => ApiError::internal(e),
            CommandError::Db(d) => d.into(),
        }
    }
}

/// `POST /api/v2/command`: validates, commits the command, then queues it. `202` means
/// it is durable.
#[tracing::instrument(skip_all)]
pub async fn create_command(
    auth: Operator,
    body: web::Json<CreateCommand>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    crate::http::validate_cluster_id(&body.cluster_id)?;
    let addr = state.cluster(&body.cluster_id, false).await?;
    let row = commands::create(
        &state.db,
        &addr,
        CommandRequest {
            cluster_id: body.cluster_id,
            action: body.action,
            kind: body.kind,
            namespace: body.namespace,
            name: body.name,
            params: body.params.unwrap_or_default(),
            topic: body.topic,
        },
        Creator {
            user_id: auth.principal.user_id,
            username: auth.principal.username.clone(),
        },
    )
    .await?;
    Ok(HttpResponse::Accepted()
        .json(serde_json::json!({"command_id": row.command_id, "status": "pending"})))
}

async fn load(state: &AppState, id: &str) -> Result<CommandRow, ApiError> {
    Ok(commands::get(&state.db, id).await?)
}

/// `GET /api/v2/commands/{id}`; `?wait=30s` (at most 60 s) holds the request until the
/// command reaches a final state.
pub async fn get_command(
    auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let wait = match q.get("wait") {
        None => Duration::ZERO,
        Some(w) => {
            let d = parse_duration(w).map_err(|e| ApiError::invalid_param("wait", e))?;
            if d > MAX_WAIT {
                return Err(ApiError::invalid_param("wait", "at most 60s"));
            }
            d
        }
    };
    let row = load(&state, &path).await?;
    if wait.is_zero() || row.state()?.is_final() {
        return Ok(HttpResponse::Ok().json(view(row, auth.principal.role)));
    }
    let addr = state.cluster(&row.cluster_id, false).await?;
    let row = commands::wait_final(
        &state.db,
        &addr,
        &row.command_id,
        wait,
        state.shutting_down(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(row, auth.principal.role)))
}

/// `GET /api/v2/clusters/{id}/commands`: history, newest first.
pub async fn list_cluster_commands(
    auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let status = q
        .all("status")
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| {
            s.trim()
                .parse::<CommandState>()
                .map_err(|e| ApiError::invalid_param("status", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = CommandFilter {
        status,
        action: q.get("action").map(str::to_owned),
        source: q.get("source").map(str::to_owned),
        since: q.time("since")?,
        until: q.time("until")?,
        ..CommandFilter::default()
    };
    let cluster_id = path.into_inner();
    let role = auth.principal.role;
    state.cluster(&cluster_id, false).await?;
    let (limit, offset) = (page.limit as i64, page.offset as i64);
    let (rows, total) = state
        .db
        .commands()
        .list(Some(&cluster_id), filter, limit, offset)
        .await?;
    Ok(HttpResponse::Ok().json(ListReply::of_page(
        rows.into_iter().map(|r| view(r, role)).collect(),
        total,
        page,
    )))
}

/// `POST /api/v2/commands/{id}/cancel`: pending → cancelled, otherwise 409.
#[tracing::instrument(skip_all)]
pub async fn cancel_command(
    auth: Operator,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let row = load(&state, &path).await?;
    let addr = state.cluster(&row.cluster_id, false).await?;
    let row = commands::cancel(&state.db, &addr, &row).await?;
    Ok(HttpResponse::Ok().json(view(row, auth.principal.role)))
}
