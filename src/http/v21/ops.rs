//! The dashboard's operations (reference §3.3 `/ops/*`) as our durable commands, and the
//! command history.
//!
//! Changes (restart, scale, image, cordon, uncordon) answer at once with the queued
//! command, as v2.1 did. Reads (logs, a ConfigMap's or Secret's data) wait up to 30 s for
//! the agent's answer, as v2.1 did: 504 when no answer came (a command no agent picked up
//! is withdrawn, so it does not run after the dashboard gave up), 502 with the agent's
//! error when it failed.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use atlhyper_actors::command::CommandState;
use atlhyper_actors::model::Kind;

use super::snapshot;
use crate::auth::extract::{Operator, Viewer};
use crate::auth::{Principal, Role};
use crate::db::commands::{self as repo, CommandFilter, CommandRow};
use crate::error::{ApiError, ErrorCode};
use crate::http::{validate_cluster_id, QueryParams};
use crate::service::commands::{self, CommandRequest, Creator, Ran};
use crate::state::AppState;

/// Log lines when the dashboard sends none, and the most the agent returns.
const DEFAULT_TAIL: i64 = 100;
const MAX_TAIL: i64 = 200;
/// Page size of the command history: default and largest (v2.1's).
const HISTORY_DEFAULT: i64 = 20;
const HISTORY_MAX: i64 = 100;

/// The body every `/ops/*` route takes (each reads what it needs).
#[derive(Debug, Deserialize)]
pub struct OpsBody {
    cluster_id: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    tail_lines: Option<i64>,
    #[serde(default)]
    replicas: Option<i64>,
    #[serde(default)]
    image: Option<String>,
}

fn creator(p: &Principal) -> Creator {
    Creator {
        user_id: p.user_id,
        username: p.username.clone(),
    }
}

/// The command `b` asks for on its cluster.
fn request(b: &OpsBody, action: &str, kind: Kind, params: Map<String, Value>) -> CommandRequest {
    CommandRequest {
        cluster_id: b.cluster_id.clone(),
        action: action.to_owned(),
        kind: kind.as_str().to_owned(),
        namespace: if kind.is_namespaced() {
            b.namespace.clone()
        } else {
            String::new()
        },
        name: b.name.clone(),
        params,
        topic: None,
    }
}

/// Queues a change and answers v2.1's `{"message","command_id","status":"pending"}`.
async fn change(
    state: &AppState,
    who: &Principal,
    b: &OpsBody,
    action: &str,
    kind: Kind,
    params: Map<String, Value>,
) -> Result<HttpResponse, ApiError> {
    validate_cluster_id(&b.cluster_id)?;
    let addr = state.cluster(&b.cluster_id, false).await?;
    let row = commands::create(
        &state.db,
        &addr,
        request(b, action, kind, params),
        creator(who),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "message": "command queued",
        "command_id": row.command_id,
        "status": "pending",
    })))
}

/// Runs a read and returns the agent's output.
async fn read(
    state: &AppState,
    who: &Principal,
    b: &OpsBody,
    action: &str,
    kind: Kind,
    params: Map<String, Value>,
) -> Result<String, ApiError> {
    validate_cluster_id(&b.cluster_id)?;
    let addr = state.cluster(&b.cluster_id, false).await?;
    // v2.1 waited 30 s; the default stays under the dashboard's own 30 s timeout.
    let wait = state.settings.v21_command_wait;
    let ran = commands::run(
        &state.db,
        &addr,
        request(b, action, kind, params),
        creator(who),
        wait,
        state.shutting_down(),
    )
    .await?;
    let timeout =
        |why: String| ApiError::new(StatusCode::GATEWAY_TIMEOUT, ErrorCode::AgentTimeout, why);
    match ran {
        Ran::NotPickedUp(row) => Err(timeout(format!(
            "no agent of {} picked the command up within {} s; it was withdrawn (command {})",
            row.cluster_id,
            wait.as_secs(),
            row.command_id
        ))),
        Ran::StillRunning(row) => Err(timeout(format!(
            "the agent did not answer within {} s (command {})",
            wait.as_secs(),
            row.command_id
        ))),
        Ran::Final(row) if row.state()? == CommandState::Success => {
            Ok(row.output.unwrap_or_default())
        }
        Ran::Final(row) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            ErrorCode::CommandFailed,
            format!(
                "{} {}: {}",
                row.action,
                row.status,
                row.error_message
                    .as_deref()
                    .unwrap_or("the agent gave no reason")
            ),
        )
        .with_extra(json!({ "command_id": row.command_id }))),
    }
}

fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// `POST /v21/api/v2/ops/pods/logs` → `data.logs`. `tail_lines` defaults to 100 and is
/// capped at the agent's 200.
pub async fn pod_logs(
    auth: Operator,
    body: web::Json<OpsBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let tail = b
        .tail_lines
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_TAIL)
        .min(MAX_TAIL);
    let mut p = params(&[("tailLines", json!(tail))]);
    if let Some(c) = b.container.as_deref().filter(|c| !c.is_empty()) {
        p.insert("container".into(), json!(c));
    }
    let logs = read(&state, &auth.principal, &b, "get_logs", Kind::Pod, p).await?;
    Ok(super::data(json!({ "logs": logs })))
}

/// `POST /v21/api/v2/ops/pods/restart`: deletes the pod (its controller recreates it), as
/// v2.1.
pub async fn pod_restart(
    auth: Operator,
    body: web::Json<OpsBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change(
        &state,
        &auth.principal,
        &body,
        "delete",
        Kind::Pod,
        Map::new(),
    )
    .await
}

/// `POST /v21/api/v2/ops/nodes/cordon`.
pub async fn node_cordon(
    auth: Operator,
    body: web::Json<OpsBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change(
        &state,
        &auth.principal,
        &body,
        "cordon",
        Kind::Node,
        Map::new(),
    )
    .await
}

/// `POST /v21/api/v2/ops/nodes/uncordon`.
pub async fn node_uncordon(
    auth: Operator,
    body: web::Json<OpsBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change(
        &state,
        &auth.principal,
        &body,
        "uncordon",
        Kind::Node,
        Map::new(),
    )
    .await
}

/// `POST /v21/api/v2/ops/deployments/scale`: `replicas` ≥ 0 is required.
pub async fn deployment_scale(
    auth: Operator,
    body: web::Json<OpsBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(replicas) = body.replicas else {
        return Err(ApiError::invalid_param("replicas", "required, 0 or more"));
    };
    let p = params(&[("replicas", json!(replicas))]);
    change(&state, &auth.principal, &body, "scale", Kind::Deployment, p).await
}

/// The container whose image to set. The dashboard always sends `"main"`; when the
/// Deployment has no container of that name but exactly one container, that one is meant.
fn image_container(asked: &str, template: &[String]) -> String {
    if template.len() == 1 && !template.iter().any(|c| c == asked) {
        template[0].clone()
    } else {
        asked.to_owned()
    }
}

/// `POST /v21/api/v2/ops/deployments/image`: `image` is required.
pub async fn deployment_image(
    auth: Operator,
    body: web::Json<OpsBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let Some(image) = b.image.clone().filter(|i| !i.trim().is_empty()) else {
        return Err(ApiError::invalid_param("image", "required"));
    };
    validate_cluster_id(&b.cluster_id)?;
    let asked = b.container.clone().unwrap_or_default();
    let snap = snapshot(&state, &b.cluster_id).await?;
    let names: Vec<String> = snap
        .deployments
        .iter()
        .find(|d| d.summary.namespace == b.namespace.as_str() && d.summary.name == b.name.as_str())
        .map(|d| {
            d.template
                .containers
                .iter()
                .map(|c| c.name.to_string())
                .collect()
        })
        .unwrap_or_default();
    let container = image_container(&asked, &names);
    let mut p = params(&[("image", json!(image))]);
    if !container.is_empty() {
        p.insert("container".into(), json!(container));
    }
    change(
        &state,
        &auth.principal,
        &b,
        "update_image",
        Kind::Deployment,
        p,
    )
    .await
}

/// `POST /v21/api/v2/ops/configmaps/data` → `data`: the agent's JSON object text.
pub async fn configmap_data(
    auth: Operator,
    body: web::Json<OpsBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let out = read(
        &state,
        &auth.principal,
        &body,
        "get_configmap",
        Kind::ConfigMap,
        Map::new(),
    )
    .await?;
    Ok(super::data(out))
}

/// `POST /v21/api/v2/ops/secrets/data` (operator) → `data`: the agent's JSON object text
/// of the decoded values (stored with the command, shown to operators only).
pub async fn secret_data(
    auth: Operator,
    body: web::Json<OpsBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let out = read(
        &state,
        &auth.principal,
        &body,
        "get_secret",
        Kind::Secret,
        Map::new(),
    )
    .await?;
    Ok(super::data(out))
}

/// v2.1's `CommandHistoryResponse`: `params` and `result` are JSON text.
fn history_item(r: CommandRow, viewer: Role) -> Value {
    let hidden = viewer < Role::Operator && commands::output_is_secret(&r);
    let result = r.success.map(|success| {
        json!({
            "command_id": r.command_id,
            "success": success,
            "output": if hidden { None } else { r.output.clone() },
            "output_hidden": hidden,
            "error": r.error_message,
        })
        .to_string()
    });
    json!({
        "id": r.id,
        "command_id": r.command_id,
        "cluster_id": r.cluster_id,
        "source": r.source,
        "user_id": r.user_id.unwrap_or(0),
        "action": r.action,
        "target_kind": r.target_kind,
        "target_namespace": r.target_namespace,
        "target_name": r.target_name,
        "params": r.params,
        "status": r.status,
        "result": result.unwrap_or_default(),
        "error_message": r.error_message.clone().unwrap_or_default(),
        "created_at": repo::utc(r.created_at),
        "started_at": r.started_at.map(repo::utc),
        "finished_at": r.finished_at.map(repo::utc),
        "duration_ms": r.duration_ms.unwrap_or(0),
    })
}

/// `GET /v21/api/v2/commands/history`: `cluster_id`, `source`, `status`, `action`,
/// `search` (in the target name, any case) — empty values mean "any", as the dashboard
/// sends them all — `limit` (20, at most 100) and `offset`; newest first.
pub async fn command_history(
    auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let cluster = q.get("cluster_id");
    if let Some(c) = cluster {
        validate_cluster_id(c)?;
    }
    let status = q
        .get("status")
        .map(|s| {
            s.parse::<CommandState>()
                .map_err(|e| ApiError::invalid_param("status", e))
        })
        .transpose()?;
    let limit = q
        .parse::<i64>("limit")?
        .filter(|n| *n > 0)
        .unwrap_or(HISTORY_DEFAULT)
        .min(HISTORY_MAX);
    let offset = q.parse::<i64>("offset")?.unwrap_or(0).max(0);
    let filter = CommandFilter {
        status: status.into_iter().collect(),
        action: q.get("action").map(str::to_owned),
        source: q.get("source").map(str::to_owned),
        name_contains: q.get("search").map(str::to_owned),
        ..CommandFilter::default()
    };
    let (rows, total) = state
        .db
        .commands()
        .list(cluster, filter, limit, offset)
        .await?;
    let role = auth.principal.role;
    let items: Vec<Value> = rows.into_iter().map(|r| history_item(r, role)).collect();
    Ok(HttpResponse::Ok().json(json!({ "commands": items, "total": total })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboards_main_container_means_the_only_one() {
        let one = vec!["web".to_owned()];
        let two = vec!["web".to_owned(), "sidecar".to_owned()];
        assert_eq!(image_container("main", &one), "web");
        assert_eq!(image_container("web", &one), "web");
        assert_eq!(image_container("main", &two), "main");
        assert_eq!(image_container("main", &[]), "main");
    }
}
