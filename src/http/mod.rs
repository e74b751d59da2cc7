//! The two HTTP faces: `agent` (port 8081, the v2.1 agent protocol) and `api` (port 8080,
//! the dashboard REST API). Handlers are thin: validate, send one message, map the reply.

pub mod agent;
pub mod api;
pub mod audit_mw;
pub mod conn_guard;
pub mod console;
pub mod headers;
pub mod middleware;
pub mod sse;
pub mod v21;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{ApiError, ErrorCode};

/// Registers every route of the dashboard port: ours ([`api::table`]) and, under `/v21`,
/// the AtlHyper dashboard's ([`v21::table`]), so one route-access table declares both.
pub fn dashboard_routes(cfg: &mut web::ServiceConfig) {
    let mut t = api::table();
    t.merge(v21::table());
    t.merge(console::table());
    t.configure(cfg);
}

/// Longest accepted cluster id. Kubernetes UIDs are 36 characters, names 63.
pub const MAX_CLUSTER_ID_LEN: usize = 128;

/// Checks a cluster id: 1–128 characters, no whitespace, control characters or `/`.
pub fn validate_cluster_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::MissingClusterId,
            "cluster_id is required",
        ));
    }
    if id.chars().count() > MAX_CLUSTER_ID_LEN
        || id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidClusterId,
            format!("invalid cluster_id: at most {MAX_CLUSTER_ID_LEN} characters, no whitespace, control characters or '/'"),
        ));
    }
    Ok(())
}

/// Picks the cluster id from its possible sources; two different non-empty values are a
/// conflict (400), none is a missing id (400).
pub fn pick_cluster_id(first: Option<&str>, second: Option<&str>) -> Result<String, ApiError> {
    let first = first.map(str::trim).filter(|s| !s.is_empty());
    let second = second.map(str::trim).filter(|s| !s.is_empty());
    let id = match (first, second) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(
                ErrorCode::ClusterIdMismatch,
                format!("cluster id {a:?} in the header differs from {b:?} in the request"),
            ))
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => "",
    };
    validate_cluster_id(id)?;
    Ok(id.to_owned())
}

/// The `X-Cluster-ID` header, if present and valid UTF-8.
pub fn header_cluster_id(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("x-cluster-id")
        .and_then(|v| v.to_str().ok())
}

/// An integer `{id}` path segment of a `what` (rule, provider, …); 400 otherwise.
pub fn path_id(raw: &str, what: &str) -> Result<i32, ApiError> {
    raw.parse::<i32>()
        .map_err(|_| ApiError::invalid_param("id", format!("{what} ids are integers")))
}

/// Parsed query string that keeps repeated keys (`label=a=b&label=c=d`).
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parses `req`'s query string.
    pub fn of(req: &HttpRequest) -> Self {
        Self(
            form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect(),
        )
    }
    /// The last value of `name`, when non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// `name` parsed, 400 naming it when it does not parse.
    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|e| ApiError::invalid_param(name, format!("{v:?}: {e}")))
            })
            .transpose()
    }
    /// An RFC 3339 time parameter.
    pub fn time(&self, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
        self.get(name)
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|e| {
                        ApiError::invalid_param(name, format!("{v:?} is not an RFC 3339 time: {e}"))
                    })
            })
            .transpose()
    }
}

/// Default page size of every list.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size of every list.
pub const MAX_LIMIT: usize = 1000;

/// `limit` / `offset` of a list request.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Page {
    /// Page size, 1–1000.
    pub limit: usize,
    /// Items skipped.
    pub offset: usize,
}

impl Page {
    /// Reads and checks `limit` and `offset`.
    pub fn from_query(q: &QueryParams) -> Result<Page, ApiError> {
        let limit = q.parse::<usize>("limit")?.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_param(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = q.parse::<usize>("offset")?.unwrap_or(0);
        Ok(Page { limit, offset })
    }
}

/// The list envelope of every list reply.
#[derive(Debug, serde::Serialize)]
pub struct ListReply<T: serde::Serialize> {
    /// This page.
    pub items: Vec<T>,
    /// Matches before paging.
    pub total: usize,
    /// Page size.
    pub limit: usize,
    /// Items skipped.
    pub offset: usize,
}

impl<T: serde::Serialize> ListReply<T> {
    /// A page the database already cut, with the database's count of all matches.
    pub fn of_page(items: Vec<T>, total: i64, page: Page) -> Self {
        Self {
            items,
            total: usize::try_from(total).unwrap_or(0),
            limit: page.limit,
            offset: page.offset,
        }
    }

    /// Pages `all` (already filtered).
    pub fn paged(all: Vec<T>, page: Page) -> Self {
        let total = all.len();
        let items = all.into_iter().skip(page.offset).take(page.limit).collect();
        Self {
            items,
            total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// `{"status":"ok"}`, the v2.1 success body.
pub fn status_ok() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// JSON 404 for paths no route matches.
pub async fn unknown_path(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(
        ErrorCode::UnknownPath,
        format!("no route for {}", req.path()),
    ))
}

/// JSON 405 for a known path with the wrong method.
pub async fn wrong_method(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("method {} is not allowed on {}", req.method(), req.path()),
    ))
}

/// A route's resource: unmatched methods get the JSON 405 and a panicking handler a
/// JSON 500. Every route of both ports is built through this.
pub fn resource(
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::resource(path)
        .default_service(web::to(wrong_method))
        .wrap(actix_web::middleware::from_fn(middleware::catch_panic))
}
