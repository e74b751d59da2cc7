//! What changed, and when (`spec/api.md`, "Changes and timeline"): the change history
//! found by diffing snapshots, the merged timeline, the cluster's agent, and the agent
//! version catalogue.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::clusters::latest;
use crate::auth::extract::{Admin, Viewer};
use crate::auth::Role;
use crate::changes::inventory::CHANGE_TYPES;
use crate::db::agents::VersionPatch;
use crate::db::changes::ChangeFilter;
use crate::error::{ApiError, ErrorCode};
use crate::http::{ListReply, Page, QueryParams};
use crate::service::agents::{self, Policy};
use crate::service::changes::{self as service, TimelineError, TimelineQuery};
use crate::state::AppState;

/// `GET /api/v2/clusters/{id}/changes`: changes found by diffing snapshots, newest first.
#[tracing::instrument(skip_all, fields(cluster_id = %path))]
pub async fn list_changes(
    auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let page = Page::from_query(&q)?;
    let s = |k: &str| q.get(k).map(str::to_owned);
    let change_type = s("change_type");
    if let Some(t) = &change_type {
        if !CHANGE_TYPES.contains(&t.as_str()) {
            return Err(ApiError::invalid_param(
                "change_type",
                format!("must be one of {}", CHANGE_TYPES.join(", ")),
            ));
        }
    }
    let filter = ChangeFilter {
        kind: s("kind"),
        namespace: s("namespace"),
        name: s("name"),
        change_type,
        since: q.time("since")?,
        until: q.time("until")?,
        any_of: None,
        hide_secrets: auth.principal.role < Role::Operator,
        include_periodic: false,
    };
    let cluster_id = path.into_inner();
    state.cluster(&cluster_id, false).await?;
    let (rows, total) = state
        .db
        .changes()
        .list(cluster_id, filter, page.limit, page.offset)
        .await?;
    Ok(HttpResponse::Ok().json(ListReply {
        items: rows.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// `GET /api/v2/clusters/{id}/timeline`: changes, Warning events, commands and alerts of
/// one object or namespace, merged, newest first.
#[tracing::instrument(skip_all, fields(cluster_id = %path))]
pub async fn timeline(
    auth: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = QueryParams::of(&req);
    let limit = q.parse::<usize>("limit")?.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_param("limit", "must be from 1 to 1000"));
    }
    let s = |k: &str| q.get(k).unwrap_or("").to_owned();
    let query = TimelineQuery {
        kind: s("kind"),
        namespace: s("namespace"),
        name: s("name"),
        since: q.time("since")?,
        until: q.time("until")?,
        limit,
        hide_secrets: auth.principal.role < Role::Operator,
    };
    if query.hide_secrets && query.kind == "Secret" {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "secrets need the operator role",
        ));
    }
    let cluster_id = path.into_inner();
    let addr = state.cluster(&cluster_id, false).await?;
    let snap = if query.kind == "Deployment" && !query.name.is_empty() {
        latest(&addr).await?
    } else {
        None
    };
    let t = service::timeline(
        &state.db,
        &cluster_id,
        snap.as_ref().map(|l| &*l.snapshot),
        query,
    )
    .await
    .map_err(|e| match e {
        TimelineError::Window(why) => ApiError::invalid_param("since", why),
        TimelineError::NameWithoutKind => ApiError::invalid_param("kind", "required with name"),
        TimelineError::Db(e) => e.into(),
    })?;
    Ok(HttpResponse::Ok().json(json!({
        "items": t.items,
        "since": t.since,
        "until": t.until,
        "truncated": t.truncated,
    })))
}

/// Counts of each value, for the node version summary.
fn tally<'a>(values: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for v in values {
        *m.entry(v.to_owned()).or_default() += 1;
    }
    m
}

/// `GET /api/v2/clusters/{id}/agent`: the agent (live, else as stored), the policy's
/// verdict, and the nodes' OS, kernel, runtime and kubelet versions.
#[tracing::instrument(skip_all, fields(cluster_id = %path))]
pub async fn get_agent(
    _auth: Viewer,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let cluster_id = path.into_inner();
    let addr = state.cluster(&cluster_id, false).await?;
    let view = addr.send(atlhyper_actors::messages::GetStatus).await?;
    let agents_db = state.db.agents();
    let (stored, catalogue) =
        futures_util::try_join!(agents_db.get(&cluster_id), agents_db.versions())?;
    let policy = Policy::of(&catalogue);
    let live = &view.agent;
    let version = live
        .agent_version
        .clone()
        .or_else(|| stored.as_ref().and_then(|s| s.agent_version.clone()));
    let pick = |live: &Option<String>, stored: Option<&String>| {
        live.clone()
            .or_else(|| stored.filter(|s| !s.is_empty()).cloned())
    };
    let snap = latest(&addr).await?;
    let nodes: Vec<Value> = snap
        .as_ref()
        .map(|l| {
            l.snapshot
                .nodes
                .iter()
                .map(|n| {
                    json!({
                        "name": n.summary.name,
                        "os_image": n.info.os_image,
                        "kernel": n.info.kernel_version,
                        "runtime": n.info.container_runtime_version,
                        "kubelet": n.info.kubelet_version,
                        "arch": n.info.architecture,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let summary = snap.as_ref().map(|l| {
        let n = &l.snapshot.nodes;
        json!({
            "count": n.len(),
            "os_images": tally(n.iter().map(|n| n.info.os_image.as_str())),
            "kernels": tally(n.iter().map(|n| n.info.kernel_version.as_str())),
            "runtimes": tally(n.iter().map(|n| n.info.container_runtime_version.as_str())),
            "kubelets": tally(n.iter().map(|n| n.info.kubelet_version.as_str())),
            "architectures": tally(n.iter().map(|n| n.info.architecture.as_str())),
        })
    });
    let t = |x: Option<chrono::NaiveDateTime>| x.map(crate::db::from_db);
    Ok(HttpResponse::Ok().json(json!({
        "cluster_id": cluster_id,
        "status": view.liveness.api_str(),
        "agent_version": version,
        "version_source": live.version_source.map(str::to_owned)
            .or_else(|| stored.as_ref().map(|s| s.version_source.clone()).filter(|s| !s.is_empty())),
        "outdated": policy.outdated(version.as_deref()),
        "update_available": policy.update_available(version.as_deref()),
        "min_version": policy.min_version,
        "latest_version": policy.latest_version,
        "hostname": pick(&live.hostname, stored.as_ref().map(|s| &s.hostname)),
        "reported_ip": pick(&live.ip, stored.as_ref().map(|s| &s.reported_ip)),
        "remote_addr": pick(&live.remote_addr, stored.as_ref().map(|s| &s.remote_addr)),
        "user_agent": pick(&live.user_agent, stored.as_ref().map(|s| &s.user_agent)),
        "first_seen": t(stored.as_ref().map(|s| s.first_seen)),
        "last_seen": view.last_seen.or_else(|| t(stored.as_ref().map(|s| s.last_seen))),
        "connected_at": t(stored.as_ref().and_then(|s| s.connected_at)),
        "disconnected_at": t(stored.as_ref().and_then(|s| s.disconnected_at)),
        "node_versions": summary,
        "nodes": nodes,
    })))
}

/// `GET /api/v2/agent-versions`: the catalogue and the policy it sets.
pub async fn list_agent_versions(
    _auth: Viewer,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db.agents().versions().await?;
    let policy = Policy::of(&rows);
    Ok(HttpResponse::Ok().json(json!({
        "total": rows.len(),
        "items": rows,
        "min_version": policy.min_version,
        "latest_version": policy.latest_version,
    })))
}

/// Reads the writable fields of a catalogue entry; unknown fields are refused.
fn version_patch(body: &Map<String, Value>) -> Result<VersionPatch, ApiError> {
    let mut p = VersionPatch::default();
    for (k, v) in body {
        let bad = |why: &str| ApiError::invalid_param(k, why);
        match k.as_str() {
            "version" => {}
            "release_date" => {
                p.release_date = Some(match v {
                    Value::Null => None,
                    Value::String(s) => Some(
                        chrono::DateTime::parse_from_rfc3339(s)
                            .map(|t| crate::db::to_db(t.with_timezone(&chrono::Utc)))
                            .or_else(|_| {
                                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                            })
                            .map_err(|_| bad("must be an RFC 3339 time or a YYYY-MM-DD date"))?,
                    ),
                    _ => return Err(bad("must be a string or null")),
                });
            }
            "latest" => p.is_latest = Some(v.as_bool().ok_or_else(|| bad("must be a boolean"))?),
            "minimum" => p.is_minimum = Some(v.as_bool().ok_or_else(|| bad("must be a boolean"))?),
            "min_master_version" => {
                p.min_master_version = Some(match v {
                    Value::Null => None,
                    Value::String(s) if agents::is_version(s) && s.len() <= 64 => Some(s.clone()),
                    _ => return Err(bad("must be a version (2.1.0) or null")),
                });
            }
            "notes" => {
                let s = v.as_str().ok_or_else(|| bad("must be a string"))?;
                if s.chars().count() > 4_000 {
                    return Err(bad("must be at most 4000 characters"));
                }
                p.notes = Some(s.to_owned());
            }
            _ => {
                return Err(bad(
                    "is not a field of an agent version (version, release_date, latest, minimum, min_master_version, notes)",
                ))
            }
        }
    }
    Ok(p)
}

fn checked_version(v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > agents::MAX_VERSION_CHARS || !agents::is_version(v) {
        return Err(ApiError::invalid_param(
            "version",
            "must be a version such as v2.1.0 (at most 64 characters)",
        ));
    }
    Ok(v.to_owned())
}

/// `POST /api/v2/agent-versions`: adds a version; `latest` / `minimum` move to it.
pub async fn create_agent_version(
    _auth: Admin,
    state: web::Data<AppState>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let version = checked_version(body.get("version").and_then(Value::as_str).unwrap_or(""))?;
    let patch = version_patch(&body)?;
    if !state
        .db
        .agents()
        .create_version(version.clone(), patch)
        .await?
    {
        return Err(ApiError::conflict(
            ErrorCode::VersionExists,
            format!("agent version {version:?} is in the catalogue already"),
        ));
    }
    // The policy may have moved: the notifier re-judges every agent.
    state.notify.reload().await;
    version_reply(&state, &version, actix_web::http::StatusCode::CREATED).await
}

async fn version_reply(
    state: &AppState,
    version: &str,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    let rows = state.db.agents().versions().await?;
    let row = rows
        .into_iter()
        .find(|r| r.version == version)
        .ok_or_else(|| not_found(version))?;
    Ok(HttpResponse::build(status).json(row))
}

fn not_found(version: &str) -> ApiError {
    ApiError::not_found(
        ErrorCode::VersionNotFound,
        format!("agent version {version:?} is not in the catalogue"),
    )
}

/// `PATCH /api/v2/agent-versions/{version}`.
pub async fn patch_agent_version(
    _auth: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let version = path.into_inner();
    let body = body.into_inner();
    if body.contains_key("version") {
        return Err(ApiError::invalid_param(
            "version",
            "cannot change; add the new version and delete this one",
        ));
    }
    let patch = version_patch(&body)?;
    if !state
        .db
        .agents()
        .patch_version(version.clone(), patch)
        .await?
    {
        return Err(not_found(&version));
    }
    state.notify.reload().await;
    version_reply(&state, &version, actix_web::http::StatusCode::OK).await
}

/// `DELETE /api/v2/agent-versions/{version}`.
pub async fn delete_agent_version(
    _auth: Admin,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let version = path.into_inner();
    if !state.db.agents().delete_version(version.clone()).await? {
        return Err(not_found(&version));
    }
    state.notify.reload().await;
    Ok(HttpResponse::NoContent().finish())
}
