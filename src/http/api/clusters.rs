//! Clusters and their live state.

use actix::Addr;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use atlhyper_actors::cluster::ClusterActor;
use atlhyper_actors::messages::{ClusterStatusView, GetSnapshot, GetStatus, SnapshotRecord};
use atlhyper_actors::model::ClusterSummary;
use atlhyper_actors::registry::{ClusterHandle, ClusterInfo, GetCluster};

use crate::auth::extract::Viewer;
use crate::error::{ApiError, ErrorCode};
use crate::http::{ListReply, Page, QueryParams};
use crate::service::clusters::{self, ClusterError};
use crate::state::AppState;

/// A cluster as the list and item endpoints show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClusterItem {
    cluster_id: String,
    name: String,
    environment: String,
    description: String,
    status: &'static str,
    last_seen: Option<DateTime<Utc>>,
    offline_since: Option<DateTime<Utc>>,
    last_snapshot_at: Option<DateTime<Utc>>,
    fetched_at: Option<DateTime<Utc>>,
    agent_version: Option<String>,
    /// The snapshot's ClusterSummary (v2.1 JSON), or null before the first snapshot.
    #[schema(value_type = Option<Object>)]
    summary: Option<ClusterSummary>,
    created_at: Option<DateTime<Utc>>,
}

fn fetched_utc(r: &SnapshotRecord) -> Option<DateTime<Utc>> {
    r.fetched_at.to_utc()
}

fn item(info: ClusterInfo, v: ClusterStatusView) -> ClusterItem {
    ClusterItem {
        status: v.liveness.api_str(),
        last_seen: v.last_seen,
        offline_since: v.offline_since,
        last_snapshot_at: v.latest.as_ref().map(|r| r.received_at),
        fetched_at: v.latest.as_ref().and_then(fetched_utc),
        agent_version: v.agent.agent_version,
        summary: v.latest.map(|r| r.summary),
        cluster_id: info.cluster_id,
        name: info.name,
        environment: info.environment,
        description: info.description,
        created_at: info.created_at,
    }
}

async fn find(state: &AppState, id: &str) -> Result<ClusterHandle, ApiError> {
    state
        .registry
        .send(GetCluster {
            cluster_id: id.to_owned(),
        })
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::ClusterNotFound,
                format!("cluster {id:?} is unknown"),
            )
        })
}

/// `GET /api/v2/clusters`: every known cluster; filters `status`, `environment`.
pub async fn list_clusters(
    _auth: Viewer,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let status = q.get("status");
    if let Some(s) = status.filter(|s| !matches!(*s, "online" | "offline")) {
        return Err(ApiError::invalid_param(
            "status",
            format!("{s:?}: use online or offline"),
        ));
    }
    let live = clusters::live(&state.registry).await?;
    let mut items = Vec::with_capacity(live.len());
    for (info, v) in live {
        let it = item(info, v);
        if status.is_some_and(|s| s != it.status)
            || q.get("environment").is_some_and(|e| e != it.environment)
        {
            continue;
        }
        items.push(it);
    }
    Ok(HttpResponse::Ok().json(ListReply::paged(items, page)))
}

/// `GET /api/v2/clusters/{id}`.
pub async fn get_cluster(
    _auth: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let h = find(&state, &path).await?;
    let v = h.addr.send(GetStatus).await?;
    Ok(HttpResponse::Ok().json(item(h.info, v)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusReply {
    cluster_id: String,
    status: &'static str,
    last_seen: Option<DateTime<Utc>>,
    offline_since: Option<DateTime<Utc>>,
    last_snapshot_at: Option<DateTime<Utc>>,
    fetched_at: Option<DateTime<Utc>>,
    /// The snapshot's ClusterSummary (v2.1 JSON), or null before the first snapshot.
    #[schema(value_type = Option<Object>)]
    summary: Option<ClusterSummary>,
    /// What the agent reported about itself (version, address, first and last seen).
    #[schema(value_type = Object)]
    agent: atlhyper_actors::messages::AgentMeta,
    recent_snapshots: Vec<RecentSnapshot>,
    commands: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecentSnapshot {
    fetched_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    bytes: u64,
    /// The snapshot's ClusterSummary (v2.1 JSON).
    #[schema(value_type = Object)]
    summary: ClusterSummary,
}

/// `GET /api/v2/clusters/{id}/status`: liveness, the latest summary and the recent
/// snapshot records (`MASTER_SNAPSHOT_RETENTION` of them, oldest first).
pub async fn get_cluster_status(
    _auth: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let addr = state.cluster(&path, false).await?;
    let v = addr.send(GetStatus).await?;
    Ok(HttpResponse::Ok().json(StatusReply {
        cluster_id: v.cluster_id,
        status: v.liveness.api_str(),
        last_seen: v.last_seen,
        offline_since: v.offline_since,
        last_snapshot_at: v.latest.as_ref().map(|r| r.received_at),
        fetched_at: v.latest.as_ref().and_then(fetched_utc),
        summary: v.latest.map(|r| r.summary),
        agent: v.agent,
        recent_snapshots: v
            .recent
            .into_iter()
            .map(|r| RecentSnapshot {
                fetched_at: fetched_utc(&r),
                received_at: r.received_at,
                bytes: r.bytes,
                summary: r.summary,
            })
            .collect(),
        commands: serde_json::json!({
            "queued": v.queued_commands,
            "running": v.running_commands,
            "parked_polls": v.parked_polls,
        }),
    }))
}

/// The latest snapshot of a cluster actor, or `None` when it has sent none yet.
pub async fn latest(
    addr: &Addr<ClusterActor>,
) -> Result<Option<atlhyper_actors::messages::LatestSnapshot>, ApiError> {
    Ok(addr.send(GetSnapshot).await?)
}

/// `GET /api/v2/clusters/{id}/snapshot`: the latest snapshot as received, with an ETag.
pub async fn get_snapshot(
    _auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let addr = state.cluster(&path, false).await?;
    let Some(latest) = latest(&addr).await? else {
        return Err(ApiError::not_found(
            ErrorCode::NoSnapshot,
            "this cluster has not sent a snapshot yet",
        ));
    };
    let etag = format!(
        "\"{:x}-{:x}\"",
        latest.record.received_at.timestamp_micros(),
        latest.record.bytes
    );
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim() == "*"
                || v.split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == etag)
        });
    if matches {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let snapshot = latest.snapshot;
    let body = web::block(move || serde_json::to_vec(&*snapshot))
        .await?
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body))
}

/// Body of `POST /api/v2/clusters`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    cluster_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    description: String,
}

impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::TooLong => {
                ApiError::bad_request(ErrorCode::InvalidParameter, e.to_string())
            }
            ClusterError::Exists(_) => ApiError::conflict(ErrorCode::ClusterExists, e.to_string()),
            ClusterError::NotFound(_) => {
                ApiError::not_found(ErrorCode::ClusterNotFound, e.to_string())
            }
            ClusterError::NoToken(_) => {
                ApiError::not_found(ErrorCode::AgentTokenNotFound, e.to_string())
            }
            ClusterError::Random(_) => ApiError::internal(e),
            ClusterError::Actor(m) => m.into(),
            ClusterError::Db(d) => d.into(),
        }
    }
}

/// `POST /api/v2/clusters` (admin) → 201 with the cluster's agent token, shown only here.
#[tracing::instrument(skip_all)]
pub async fn create_cluster(
    _auth: crate::auth::extract::Admin,
    body: web::Json<NewCluster>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    crate::http::validate_cluster_id(&b.cluster_id)?;
    let (row, token) = clusters::create(
        &state.db,
        &state.agent_tokens,
        &state.registry,
        clusters::NewCluster {
            cluster_id: b.cluster_id,
            name: b.name,
            environment: b.environment,
            description: b.description,
        },
    )
    .await?;
    let info = row.info();
    state.hub.relay(crate::hub::Relay::Cluster {
        c: info.cluster_id.clone(),
        exists: true,
    });
    Ok(HttpResponse::Created().json(serde_json::json!({
        "cluster_id": info.cluster_id,
        "name": info.name,
        "environment": info.environment,
        "description": info.description,
        "created_at": info.created_at,
        "agent_token": token,
    })))
}

/// `POST /api/v2/clusters/{id}/agent-token` (admin): a new agent token; the old one stops
/// working at once.
#[tracing::instrument(skip_all)]
pub async fn rotate_agent_token(
    _auth: crate::auth::extract::Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let token = clusters::rotate_agent_token(&state.db, &state.agent_tokens, &id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"cluster_id": id, "agent_token": token})))
}

/// `DELETE /api/v2/clusters/{id}/agent-token` (admin): revokes it.
#[tracing::instrument(skip_all)]
pub async fn revoke_agent_token(
    _auth: crate::auth::extract::Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    clusters::revoke_agent_token(&state.db, &state.agent_tokens, &id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok"})))
}

/// `DELETE /api/v2/clusters/{id}` (admin): forgets the cluster, revokes its token and
/// cancels its pending commands. Command history is kept.
#[tracing::instrument(skip_all)]
pub async fn delete_cluster(
    _auth: crate::auth::extract::Admin,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    clusters::delete(&state.db, &state.agent_tokens, &state.registry, &id).await?;
    state.hub.relay(crate::hub::Relay::Cluster {
        c: id.clone(),
        exists: false,
    });
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ok", "cluster_id": id})))
}
