//! Browser-facing hardening for both ports: security headers on every response, and CORS
//! (dashboard port only, off unless `MASTER_CORS_ORIGINS` names origins).
//!
//! The headers go on error responses too: a middleware error further in is wrapped so that
//! the response actix builds from it carries them. The API serves JSON only; the strict CSP
//! costs nothing there and covers any HTML page added later (which may set its own).

use std::fmt;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Condition, Next};
use actix_web::{web, HttpResponse, ResponseError};

use crate::config::Settings;

/// Always set: no MIME sniffing, no framing, no referrer leaking dashboard URLs.
const FIXED: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];
/// Set unless the handler chose its own: nothing loads, nothing frames us, nothing caches
/// cluster data or secrets (an ETag-aware handler sets its own `Cache-Control`).
const DEFAULTS: [(HeaderName, &str); 2] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::CACHE_CONTROL, "no-store"),
];
/// With TLS: browsers keep to HTTPS for a year. No `includeSubDomains`: the master must not
/// decide for other hosts of the domain.
const HSTS: &str = "max-age=31536000";
/// Browsers may cache a preflight answer this long (seconds).
const CORS_MAX_AGE: usize = 3600;

/// Adds the security headers to every response, `Strict-Transport-Security` when the ports
/// serve TLS. Wrap it outermost (app level): it does not clone the request.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hsts = req
        .app_data::<web::Data<Settings>>()
        .is_some_and(|settings| settings.tls_enabled());
    match next.call(req).await {
        Ok(mut res) => {
            apply(res.headers_mut(), hsts);
            Ok(res)
        }
        Err(inner) => Err(WithHeaders { inner, hsts }.into()),
    }
}

fn apply(headers: &mut HeaderMap, hsts: bool) {
    for (name, value) in FIXED {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for (name, value) in DEFAULTS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

/// An error from further in, whose response gets the security headers.
struct WithHeaders {
    inner: actix_web::Error,
    hsts: bool,
}

impl fmt::Debug for WithHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for WithHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl ResponseError for WithHeaders {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = self.inner.error_response();
        apply(res.headers_mut(), self.hsts);
        res
    }
}

/// CORS for the dashboard port: disabled (no CORS headers, preflights not answered) when
/// `origins` is empty; otherwise exactly those origins, the API's methods, and the two
/// request headers a browser client needs. Credentials (cookies) are not allowed: the API
/// authenticates with a bearer token.
pub fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::ETAG, header::RETRY_AFTER])
        .max_age(CORS_MAX_AGE);
    // Origins were checked when the settings were loaded (`scheme://host[:port]`, no "*").
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use actix_web::body::BoxBody;
    use actix_web::dev::Service as _;
    use actix_web::middleware::from_fn;
    use actix_web::test::{init_service, TestRequest};
    use actix_web::App;

    use super::*;

    /// A middleware further in that fails instead of answering.
    async fn refuse(
        _req: ServiceRequest,
        _next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        Err(actix_web::error::ErrorForbidden("refused"))
    }

    #[actix_web::test]
    async fn errors_from_further_in_get_the_headers() {
        let app = init_service(
            App::new()
                .wrap(from_fn(refuse))
                .wrap(from_fn(security_headers))
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let Err(e) = app.call(TestRequest::get().uri("/").to_request()).await else {
            panic!("the inner middleware should fail");
        };
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(e.as_response_error().status_code(), StatusCode::FORBIDDEN);
        let h = res.headers();
        assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert!(h.get(header::STRICT_TRANSPORT_SECURITY).is_none());
    }

    #[test]
    fn handler_choices_are_kept_and_hsts_only_with_tls() {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        apply(&mut h, true);
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-cache");
        assert_eq!(
            h.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            "default-src 'self'"
        );
        assert_eq!(h.get(header::STRICT_TRANSPORT_SECURITY).unwrap(), HSTS);
        assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
    }
}
