//! Middleware shared by both ports: every request is logged with its status and
//! duration, and a panicking handler becomes a JSON 500 instead of a dropped connection.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use futures_util::FutureExt;
use tracing::{debug, error, info};

use crate::error::ApiError;

/// Requests slower than this are logged at info level even when they succeed.
const SLOW_REQUEST: Duration = Duration::from_secs(1);

/// Logs every request (app level: it must not clone the request before routing).
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let path = req.path().to_owned();
    let start = Instant::now();
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let took = start.elapsed();
    let quiet = matches!(
        method,
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    ) && status < 400
        && took < SLOW_REQUEST;
    let ms = took.as_secs_f64() * 1e3;
    if quiet {
        debug!(%method, %path, status, ms, "request");
    } else {
        info!(%method, %path, status, ms, "request");
    }
    res
}

/// Turns a panicking handler into a JSON 500 (resource level, after routing, where the
/// request may be cloned).
pub async fn catch_panic(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let http_req = req.request().clone();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            error!(method = %http_req.method(), path = %http_req.path(), "handler panicked");
            Ok(ServiceResponse::new(
                http_req,
                ApiError::internal("handler panicked").error_response(),
            ))
        }
    }
}
