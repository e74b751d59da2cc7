//! Admin maintenance: the retention policy, cleanup on demand, and online backups.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use crate::auth::extract::Admin;
use crate::db::retention::{RetentionPolicy, Target};
use crate::error::{ApiError, ErrorCode};
use crate::http::validate_cluster_id;
use crate::persist::cleaner::{BackupError, RunCleanup};
use crate::state::AppState;

/// Body of `POST /api/v2/admin/cleanup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupBody {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    cluster_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

fn defaults(state: &AppState) -> RetentionPolicy {
    RetentionPolicy::from_settings(&state.settings)
}

/// `GET /api/v2/admin/retention`: the policy in force.
#[tracing::instrument(skip_all)]
pub async fn get_retention(
    _auth: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let d = defaults(&state);
    let policy = state.db.retention().load(d).await?;
    Ok(HttpResponse::Ok().json(policy))
}

/// `PUT /api/v2/admin/retention`: changes the given fields; the next cleanup uses them.
#[tracing::instrument(skip_all)]
pub async fn put_retention(
    auth: Admin,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    let d = defaults(&state);
    let by = auth.principal.user_id;
    let patch = body.into_inner();
    // Read, change and store in one write so two PUTs cannot lose each other's fields.
    let policy = state
        .db
        .retention()
        .patch(d, patch, Some(by), Utc::now())
        .await?
        .map_err(|e| ApiError::invalid_param(&e.field, e.why))?;
    Ok(HttpResponse::Ok().json(policy))
}

/// `POST /api/v2/admin/cleanup`: runs retention now through the cleaner.
#[tracing::instrument(skip_all)]
pub async fn post_cleanup(
    _auth: Admin,
    state: web::Data<AppState>,
    body: web::Json<CleanupBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let targets = match body.targets {
        None => Target::ALL.to_vec(),
        Some(names) => names
            .iter()
            .map(|n| {
                Target::parse(n).ok_or_else(|| {
                    let known: Vec<_> = Target::ALL.iter().map(|t| t.as_str()).collect();
                    ApiError::invalid_param(
                        "targets",
                        format!("unknown target {n:?}; expected one of {}", known.join(", ")),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if let Some(id) = &body.cluster_id {
        validate_cluster_id(id)?;
    }
    let report = state
        .persist
        .cleaner
        .run(RunCleanup {
            targets,
            cluster_id: body.cluster_id,
            dry_run: body.dry_run,
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `POST /api/v2/admin/backup`: a consistent copy of the database, made while writes go on.
#[tracing::instrument(skip_all)]
pub async fn post_backup(
    _auth: Admin,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    match state.persist.cleaner.backup(&state.db).await {
        Ok(b) => Ok(HttpResponse::Ok().json(b)),
        Err(BackupError::Busy) => Err(ApiError::conflict(
            ErrorCode::BackupRunning,
            "a backup is already running",
        )),
        Err(BackupError::Db(crate::db::DbError::Unsupported(why))) => Err(ApiError::new(
            actix_web::http::StatusCode::NOT_IMPLEMENTED,
            ErrorCode::BackupUnsupported,
            why,
        )),
        Err(BackupError::Db(e)) => Err(e.into()),
    }
}
