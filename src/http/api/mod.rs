//! The dashboard REST API (port 8080), per `spec/api.md`.

pub mod clusters;
pub mod commands;
pub mod health;
pub mod resources;
pub mod subscribe;

use actix_web::web;

use crate::error::ApiError;
use crate::http::resource;

/// Largest JSON body the dashboard API accepts.
const MAX_JSON_BODY: usize = 1024 * 1024;

/// JSON body errors as `{"error","code"}`: 413 when too large, otherwise 400.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY)
        .error_handler(|err, _| {
            use actix_web::error::JsonPayloadError as E;
            let e = match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => {
                    ApiError::too_large(format!("JSON body exceeds {MAX_JSON_BODY} bytes"))
                }
                E::ContentType => ApiError::new(
                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send Content-Type: application/json",
                ),
                E::Deserialize(d) => {
                    ApiError::bad_request("invalid_json", format!("invalid JSON body: {d}"))
                }
                other => ApiError::bad_request("invalid_body", format!("invalid body: {other}")),
            };
            e.into()
        })
}

/// Path segments that fail to parse are 400s naming the problem.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| {
        ApiError::bad_request("invalid_path", format!("invalid path parameter: {err}")).into()
    })
}

/// Registers the dashboard routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use clusters::*;
    use commands::*;
    use resources::*;
    cfg.service(resource("/health").route(web::get().to(health::get_health)))
        .service(resource("/ready").route(web::get().to(health::get_ready)))
        .service(resource("/api/v2/clusters").route(web::get().to(list_clusters)))
        .service(resource("/api/v2/clusters/{id}").route(web::get().to(get_cluster)))
        .service(resource("/api/v2/clusters/{id}/status").route(web::get().to(get_cluster_status)))
        .service(resource("/api/v2/clusters/{id}/snapshot").route(web::get().to(get_snapshot)))
        .service(
            resource("/api/v2/clusters/{id}/commands").route(web::get().to(list_cluster_commands)),
        )
        .service(
            resource("/api/v2/clusters/{id}/resources/{kind}").route(web::get().to(list_resources)),
        )
        .service(
            resource("/api/v2/clusters/{id}/resources/{kind}/{name}")
                .route(web::get().to(get_cluster_scoped)),
        )
        .service(
            resource("/api/v2/clusters/{id}/resources/{kind}/{namespace}/{name}")
                .route(web::get().to(get_namespaced)),
        )
        .service(resource("/api/v2/subscribe").route(web::get().to(subscribe::subscribe)))
        .service(resource("/api/v2/command").route(web::post().to(create_command)))
        .service(resource("/api/v2/commands/{id}").route(web::get().to(get_command)))
        .service(resource("/api/v2/commands/{id}/cancel").route(web::post().to(cancel_command)));
}
