//! Middleware shared by both ports: every request is logged with its status and
//! duration, a panicking handler becomes a JSON 500 instead of a dropped connection,
//! unauthenticated floods are limited per client IP, and dashboard bodies must arrive
//! within a deadline.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use std::future::Future;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
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

/// Paths a load balancer probes without credentials; never limited.
fn is_probe(path: &str) -> bool {
    matches!(path, "/health" | "/ready")
}

/// The per-IP limit on unauthenticated requests, dashboard port.
pub async fn guard_unauthenticated_api(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    guard_unauthenticated(req, next, false).await
}

/// The per-IP limit on unauthenticated requests, agent port (off in `open` mode, where
/// agents send no token).
pub async fn guard_unauthenticated_agent(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let open = req
        .app_data::<web::Data<crate::config::Settings>>()
        .is_some_and(|s| s.agent_auth == crate::config::AgentAuthMode::Open);
    guard_unauthenticated(req, next, open).await
}

/// A flood of requests without valid credentials is refused per client IP before it costs
/// anything (`MASTER_UNAUTH_RATE_LIMIT`, `MASTER_UNAUTH_RATE_BURST`):
/// - a request without credentials, or with credentials that did not authenticate
///   lately, takes one token from its IP's bucket first (IPv6: its /64), and gets `429
///   rate_limited` with `Retry-After` when the bucket is empty, before any lookup;
/// - when authentication accepts the credentials ([`crate::ratelimit::confirm_credentials`],
///   at once, so a long poll counts from its first moment), the token is given back and
///   they are remembered for [`KNOWN_FOR`](crate::ratelimit::KNOWN_FOR): a request
///   carrying them then passes without taking a token, so a user or agent behind the same
///   address as a flooder keeps working; a 401 forgets them.
///
/// Probes (`/health`, `/ready`) are never limited. Refusals are counted in
/// `atlhyper_http_requests_total{status="429"}`, not written to the audit log one by one
/// (the point is that a flood costs nothing).
async fn guard_unauthenticated(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    off: bool,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limits = req
        .app_data::<web::Data<crate::ratelimit::Limits>>()
        .cloned()
        .filter(|l| !off && !l.unauthenticated_off() && !is_probe(req.path()));
    let (Some(limits), Some(ip)) = (limits, req.peer_addr().map(|a| a.ip())) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let known = limits.known_credentials();
    let digest = crate::auth::bearer(req.request()).map(crate::ratelimit::KnownCredentials::digest);
    let trusted = digest.as_ref().is_some_and(|d| known.contains(d));
    if !trusted {
        if let Err(retry) = limits.check_unauthenticated(ip) {
            debug!(%ip, "unauthenticated request over the per-IP limit");
            let res = ApiError::too_many(
                crate::error::ErrorCode::RateLimited,
                "too many unauthenticated requests from this address; authenticate or slow down",
                retry,
            )
            .error_response();
            return Ok(req.into_response(res).map_into_right_body());
        }
        if let Some(d) = digest {
            // Given back by `confirm_credentials` if authentication accepts them.
            req.extensions_mut()
                .insert(crate::ratelimit::Unconfirmed::new(
                    d,
                    ip,
                    crate::ratelimit::Limits::clone(&limits),
                ));
        }
    }
    let res = next.call(req).await?;
    if let Some(d) = digest {
        if res.status() == actix_web::http::StatusCode::UNAUTHORIZED {
            known.remove(&d);
        }
    }
    Ok(res.map_into_left_body())
}

/// How long a whole request body may take to arrive on a port (app data of each server:
/// `MASTER_API_READ_TIMEOUT` on the dashboard port, `MASTER_AGENT_READ_TIMEOUT` on the
/// agent port).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// Bounds how long a request body may take to arrive ([`BodyDeadline`], counted from the
/// request head): past the deadline the body reads as an error, which the readers answer
/// `408 body_timeout` ([`body_timeout_error`]), and the connection is closed (its body was
/// not read to the end). A client trickling a body a byte a second holds a connection for
/// that long at most.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = req.app_data::<web::Data<BodyDeadline>>().map(|d| d.0);
    if let Some(limit) = limit {
        let inner = req.take_payload();
        if matches!(inner, actix_web::dev::Payload::None) {
            return next.call(req).await;
        }
        req.set_payload(actix_web::dev::Payload::Stream {
            payload: Box::pin(TimedPayload {
                inner,
                deadline: Box::pin(tokio::time::sleep(limit)),
                limit,
                done: false,
            }),
        });
    }
    next.call(req).await
}

/// A request body that fails once its deadline passes.
struct TimedPayload {
    inner: actix_web::dev::Payload,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
    done: bool,
}

/// How a body-reading extractor learns that the body was too slow (see
/// [`is_body_timeout`]).
const BODY_TIMEOUT_KIND: std::io::ErrorKind = std::io::ErrorKind::TimedOut;

/// The `408 body_timeout` for a payload error that is [`body_deadline`]'s; `None` for any
/// other payload error.
pub fn body_timeout_error(e: &actix_web::error::PayloadError) -> Option<ApiError> {
    match e {
        actix_web::error::PayloadError::Io(io) if io.kind() == BODY_TIMEOUT_KIND => {
            Some(ApiError::new(
                actix_web::http::StatusCode::REQUEST_TIMEOUT,
                crate::error::ErrorCode::BodyTimeout,
                io.to_string(),
            ))
        }
        _ => None,
    }
}

impl futures_util::Stream for TimedPayload {
    type Item = Result<bytes::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.done {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    let secs = self.limit.as_secs();
                    Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                        std::io::Error::new(
                            BODY_TIMEOUT_KIND,
                            format!("the body did not arrive within {secs}s"),
                        ),
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
