//! `/health` and `/ready`.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use atlhyper_actors::registry::ListClusters;

use crate::error::ErrorCode;
use crate::state::AppState;

/// How long a readiness check may take before it counts as failed.
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 while the process runs.
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the database and the actors answer; 503 naming the failing check.
pub async fn get_ready(state: web::Data<AppState>) -> HttpResponse {
    let db = match tokio::time::timeout(READY_CHECK_TIMEOUT, state.db.readiness()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("failed: {e}"),
        Err(_) => "failed: timed out".to_owned(),
    };
    let actors =
        match tokio::time::timeout(READY_CHECK_TIMEOUT, state.registry.send(ListClusters)).await {
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err(e)) => format!("failed: {e}"),
            Err(_) => "failed: timed out".to_owned(),
        };
    let draining = state.is_draining();
    let mut checks = json!({"database": db, "actors": actors, "shutting_down": draining});
    // Replicas: Redis carries the relay between them. Without it this replica still serves
    // what reaches it (PostgreSQL holds everything acknowledged), but it is degraded: its
    // picture of the clusters whose agents reach other replicas goes stale.
    let redis = state.hub.link().map(|link| {
        let redis = state
            .hub
            .trouble()
            .map_or_else(|| "ok".to_owned(), |why| format!("failed: {why}"));
        checks["redis"] = json!(redis);
        checks["replica"] = json!({
            "name": link.replica(),
            "owned_clusters": state.hub.roles().owned_count(),
            "leader": state.hub.roles().is_leader(),
        });
        redis
    });
    let redis_ok = redis.as_deref().is_none_or(|r| r == "ok");
    if db == "ok" && actors == "ok" && !draining && redis_ok {
        HttpResponse::Ok().json(json!({"status": "ready", "checks": checks}))
    } else {
        let failing = if draining {
            "shutting_down"
        } else if db != "ok" {
            "database"
        } else if actors != "ok" {
            "actors"
        } else {
            "redis"
        };
        HttpResponse::ServiceUnavailable().json(json!({
            "error": format!("not ready: {failing} check failed"),
            "code": ErrorCode::NotReady.as_str(),
            "checks": checks,
        }))
    }
}
