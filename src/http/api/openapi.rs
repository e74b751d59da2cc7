//! The OpenAPI 3.1 description of the dashboard API, served at `GET /api/v2/openapi.json`.
//!
//! The document is generated from the route table: [`document`] walks
//! [`table`](super::table), so every route appears with its method, path and access
//! (security, `x-required-role`, 401 / 403 / 429) whatever this file says. What the table
//! does not know, the summary, parameters, body, reply and the route's own error codes, is
//! in [`docs`]: one [`RouteDoc`] per (method, path). A route without an entry still appears,
//! with what the table knows; the tests below fail on it, and on an entry whose route the
//! table does not have.
//!
//! Schemas are derived (`utoipa::ToSchema`) on the request and reply structs where they
//! exist; replies built with `json!` are described here. Kubernetes objects from the
//! snapshot are `object`s with a description: their shape is v2.1's, not ours to restate.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::http::Method;
use actix_web::HttpResponse;
use bytes::Bytes;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AllOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Ref, Schema,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, RefOr, Required, ResponseBuilder, Responses,
};
use utoipa::ToSchema;

use super::{
    admin, ai, audit, auth, clusters, commands, node_metrics, notify, query, table, RouteSpec,
};
use crate::auth::access::Access;
use crate::auth::Role;
use crate::error::{ApiError, ErrorCode};
use crate::service::ai as ai_service;

/// The security scheme every non-public operation names.
const BEARER: &str = "bearer";
/// The operation extension that names the role a route needs.
pub const ROLE_EXTENSION: &str = "x-required-role";

/// A schema and the named component schemas it refers to.
#[derive(Clone)]
pub struct Shape {
    schema: RefOr<Schema>,
    components: Vec<(String, RefOr<Schema>)>,
}

impl Shape {
    fn inline(schema: impl Into<Schema>) -> Shape {
        Shape {
            schema: RefOr::T(schema.into()),
            components: Vec::new(),
        }
    }

    /// This shape with a description.
    fn about(mut self, text: &str) -> Shape {
        match &mut self.schema {
            RefOr::T(Schema::Object(o)) => o.description = Some(text.to_owned()),
            RefOr::T(Schema::Array(a)) => a.description = Some(text.to_owned()),
            RefOr::T(Schema::OneOf(o)) => o.description = Some(text.to_owned()),
            RefOr::T(Schema::AllOf(a)) => a.description = Some(text.to_owned()),
            RefOr::Ref(r) => r.description = text.to_owned(),
            _ => {}
        }
        self
    }
}

/// A derived schema, as a reference to its component.
pub fn of<T: ToSchema>() -> Shape {
    let name = T::name().into_owned();
    let mut components = vec![(name.clone(), T::schema())];
    T::schemas(&mut components);
    Shape {
        schema: RefOr::Ref(Ref::from_schema_name(name)),
        components,
    }
}

/// A derived object schema with every property optional (a PATCH-like body), inline.
fn partial<T: ToSchema>() -> Shape {
    let mut shape = of::<T>();
    if let RefOr::T(Schema::Object(mut o)) = T::schema() {
        o.required.clear();
        shape.schema = RefOr::T(Schema::Object(o));
    }
    shape
}

fn typed(t: Type) -> Shape {
    Shape::inline(ObjectBuilder::new().schema_type(t))
}

/// A string.
pub fn string() -> Shape {
    typed(Type::String)
}

/// An integer.
pub fn integer() -> Shape {
    typed(Type::Integer)
}

/// A number.
pub fn number() -> Shape {
    typed(Type::Number)
}

/// A boolean.
pub fn boolean() -> Shape {
    typed(Type::Boolean)
}

/// An RFC 3339 time.
pub fn time() -> Shape {
    Shape::inline(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
    )
}

/// One of these strings.
pub fn one_of(values: &[&str]) -> Shape {
    Shape::inline(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied())),
    )
}

/// Any JSON value.
pub fn any() -> Shape {
    Shape::inline(ObjectBuilder::new().schema_type(SchemaType::AnyValue))
}

/// A JSON object whose shape is described in words (a v2.1 object from the snapshot).
pub fn opaque(text: &str) -> Shape {
    Shape::inline(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(text)),
    )
}

/// `shape` or `null`.
pub fn nullable(shape: Shape) -> Shape {
    match shape.schema {
        RefOr::T(Schema::Object(mut o)) if matches!(o.schema_type, SchemaType::Type(_)) => {
            if let SchemaType::Type(t) = o.schema_type {
                o.schema_type = SchemaType::from_iter([t, Type::Null]);
            }
            Shape {
                schema: RefOr::T(Schema::Object(o)),
                components: shape.components,
            }
        }
        schema => Shape {
            schema: RefOr::T(Schema::OneOf(
                OneOfBuilder::new()
                    .item(schema)
                    .item(ObjectBuilder::new().schema_type(Type::Null))
                    .build(),
            )),
            components: shape.components,
        },
    }
}

/// One of these shapes (a reply whose form depends on the request).
pub fn either(options: Vec<Shape>) -> Shape {
    let mut b = OneOfBuilder::new();
    let mut components = Vec::new();
    for o in options {
        b = b.item(o.schema);
        components.extend(o.components);
    }
    Shape {
        schema: RefOr::T(Schema::OneOf(b.build())),
        components,
    }
}

/// An array of `item`.
pub fn array(item: Shape) -> Shape {
    Shape {
        schema: RefOr::T(Schema::Array(
            ArrayBuilder::new().items(item.schema).build(),
        )),
        components: item.components,
    }
}

/// An object whose values are `value`, keyed by any string.
pub fn map_of(value: Shape) -> Shape {
    Shape {
        schema: RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(value.schema))
                .build(),
        )),
        components: value.components,
    }
}

/// An object with these properties, every one always present (`json!` writes them all;
/// a value that may be absent is [`nullable`]).
pub fn object(props: Vec<(&str, Shape)>) -> Shape {
    let mut b = ObjectBuilder::new().schema_type(Type::Object);
    let mut components = Vec::new();
    for (name, shape) in props {
        b = b.property(name, shape.schema).required(name);
        components.extend(shape.components);
    }
    Shape {
        schema: RefOr::T(Schema::Object(b.build())),
        components,
    }
}

/// `base` plus these properties (`base` serialized, then fields added).
fn extended(base: Shape, props: Vec<(&str, Shape)>) -> Shape {
    let more = object(props);
    let mut components = base.components;
    components.extend(more.components);
    Shape {
        schema: RefOr::T(Schema::AllOf(
            AllOfBuilder::new()
                .item(base.schema)
                .item(more.schema)
                .build(),
        )),
        components,
    }
}

/// The list envelope of every list reply (`http::ListReply`).
pub fn list(item: Shape) -> Shape {
    object(vec![
        ("items", array(item)),
        ("total", integer().about("Matches before paging.")),
        ("limit", integer().about("Page size.")),
        ("offset", integer().about("Items skipped.")),
    ])
}

/// `{"status": "ok"}`.
pub fn status_ok() -> Shape {
    object(vec![("status", one_of(&["ok"]))])
}

/// One parameter of an operation.
struct Param {
    name: &'static str,
    at: ParameterIn,
    required: bool,
    shape: Shape,
    description: &'static str,
}

/// The success reply of an operation.
enum Reply {
    /// JSON (boxed: a schema is large).
    Json(Box<Shape>),
    /// Another media type, described in words.
    Other {
        content_type: &'static str,
        description: &'static str,
    },
    /// No body.
    Empty,
}

/// One error an operation can answer: its status, its code and, for some codes, one more
/// field of the body.
struct Failure {
    status: u16,
    code: ErrorCode,
    field: Option<(&'static str, Shape)>,
}

/// The documentation of one route: everything the route table does not say.
pub struct RouteDoc {
    summary: &'static str,
    description: Option<&'static str>,
    params: Vec<Param>,
    body: Option<Shape>,
    status: u16,
    reply: Reply,
    also: Vec<(u16, &'static str)>,
    errors: Vec<Failure>,
}

impl RouteDoc {
    /// A route answering 200 with no body yet; the other methods fill it in.
    pub fn new(summary: &'static str) -> Self {
        Self {
            summary,
            description: None,
            params: Vec::new(),
            body: None,
            status: 200,
            reply: Reply::Empty,
            also: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// A longer description, after the summary.
    pub fn about(mut self, text: &'static str) -> Self {
        self.description = Some(text);
        self
    }

    fn param(
        mut self,
        at: ParameterIn,
        name: &'static str,
        required: bool,
        shape: Shape,
        description: &'static str,
    ) -> Self {
        self.params.push(Param {
            name,
            at,
            required,
            shape,
            description,
        });
        self
    }

    /// A path parameter (every `{name}` of the path needs one).
    pub fn path(self, name: &'static str, shape: Shape, description: &'static str) -> Self {
        self.param(ParameterIn::Path, name, true, shape, description)
    }

    /// An optional query parameter.
    pub fn query(self, name: &'static str, shape: Shape, description: &'static str) -> Self {
        self.param(ParameterIn::Query, name, false, shape, description)
    }

    /// A required query parameter.
    pub fn query_required(
        self,
        name: &'static str,
        shape: Shape,
        description: &'static str,
    ) -> Self {
        self.param(ParameterIn::Query, name, true, shape, description)
    }

    /// An optional request header.
    pub fn header(self, name: &'static str, description: &'static str) -> Self {
        self.param(ParameterIn::Header, name, false, string(), description)
    }

    /// `limit` and `offset` (`http::Page`), and the 400 for a bad one.
    pub fn paged(self) -> Self {
        self.query("limit", integer(), "Page size, 1 to 1000 (default 100).")
            .query("offset", integer(), "Items to skip (default 0).")
            .error(400, ErrorCode::InvalidParameter)
    }

    /// A JSON body, and the errors of reading one (`json_config`).
    pub fn body(mut self, shape: Shape) -> Self {
        self.body = Some(shape);
        self.error(400, ErrorCode::InvalidJson)
            .error(400, ErrorCode::InvalidBody)
            .error(413, ErrorCode::PayloadTooLarge)
            .error(415, ErrorCode::UnsupportedMediaType)
    }

    /// A JSON reply with this status.
    pub fn reply(mut self, status: u16, shape: Shape) -> Self {
        self.status = status;
        self.reply = Reply::Json(Box::new(shape));
        self
    }

    /// A reply of another media type.
    pub fn reply_other(
        mut self,
        status: u16,
        content_type: &'static str,
        description: &'static str,
    ) -> Self {
        self.status = status;
        self.reply = Reply::Other {
            content_type,
            description,
        };
        self
    }

    /// A reply without a body.
    pub fn no_content(mut self, status: u16) -> Self {
        self.status = status;
        self.reply = Reply::Empty;
        self
    }

    /// Another non-error reply, without a body (a 304).
    pub fn also(mut self, status: u16, description: &'static str) -> Self {
        self.also.push((status, description));
        self
    }

    /// An error this route answers.
    pub fn error(mut self, status: u16, code: ErrorCode) -> Self {
        self.errors.push(Failure {
            status,
            code,
            field: None,
        });
        self
    }

    /// An error whose body carries one more field.
    pub fn error_with(
        mut self,
        status: u16,
        code: ErrorCode,
        field: &'static str,
        shape: Shape,
    ) -> Self {
        self.errors.push(Failure {
            status,
            code,
            field: Some((field, shape)),
        });
        self
    }

    /// The 404 of a cluster id that is not known.
    fn unknown_cluster(self) -> Self {
        self.error(404, ErrorCode::ClusterNotFound)
    }
}

/// The `{id}` of a cluster.
fn cluster_path(d: RouteDoc) -> RouteDoc {
    d.path("id", string(), "The cluster id.").unknown_cluster()
}

/// The persisted event as `db::events` writes it.
fn event() -> Shape {
    object(vec![
        (
            "event_uid",
            string().about("The Kubernetes event uid (the key)."),
        ),
        ("cluster_id", string()),
        ("namespace", string()),
        ("name", string()),
        ("type", string().about("Normal or Warning.")),
        ("reason", string()),
        ("message", string()),
        ("source_component", string()),
        ("source_host", string()),
        ("involved_kind", string()),
        ("involved_name", string()),
        ("involved_namespace", string()),
        ("involved_uid", string()),
        ("first_timestamp", nullable(time())),
        ("last_timestamp", time()),
        (
            "count",
            integer().about("As the agent reports it; never summed."),
        ),
    ])
}

/// A change as `db::changes::ChangeRow::to_json` writes it.
fn change() -> Shape {
    object(vec![
        ("id", integer()),
        ("cluster_id", string()),
        (
            "time",
            time().about("The snapshot time of the (first) change."),
        ),
        (
            "last_time",
            time().about("The latest change folded into this row."),
        ),
        ("kind", string()),
        ("namespace", string()),
        ("name", string()),
        (
            "change_type",
            one_of(crate::changes::inventory::CHANGE_TYPES),
        ),
        ("summary", string().about("A short before → after line.")),
        ("before", string()),
        ("after", string()),
        ("count", integer().about("Changes folded into this row.")),
        (
            "command_id",
            nullable(string()).about("The command of ours that caused it."),
        ),
        (
            "tier",
            one_of(&["", "day", "month", "quarter"])
                .about("A periodic snapshot's retention tier; `\"\"` for changes."),
        ),
    ])
}

/// An alert rule as `service::notify::rule_document` writes it.
fn rule() -> Shape {
    object(vec![
        ("id", integer()),
        ("name", string()),
        ("description", string()),
        (
            "builtin",
            nullable(string())
                .about("The built-in rule's key; null for a rule made through the API."),
        ),
        ("cluster_id", nullable(string())),
        ("namespace", nullable(string())),
        ("labels", any().about("Labels that must all match.")),
        ("resource_type", string()),
        (
            "condition",
            any().about("{metric, op, threshold, for, reasons?}."),
        ),
        ("severity", one_of(&["info", "warning", "critical"])),
        (
            "for",
            any().about("How long the condition must hold; null when immediate."),
        ),
        ("enabled", boolean()),
        ("notify_channels", array(string())),
        ("cooldown_sec", integer()),
        ("created_at", time()),
        ("updated_at", time()),
        ("created_by", nullable(integer())),
    ])
}

/// A silence as `http::api::notify` writes it.
fn silence() -> Shape {
    object(vec![
        ("id", integer()),
        (
            "matchers",
            object(vec![
                ("cluster_id", nullable(string())),
                ("rule", nullable(string())),
                ("resource", nullable(string())),
            ]),
        ),
        ("starts_at", time()),
        ("ends_at", time()),
        ("comment", string()),
        ("created_by", string()),
        ("created_at", time()),
        ("state", one_of(&["pending", "active", "expired"])),
    ])
}

/// A notification channel as `http::api::notify` writes it.
fn channel() -> Shape {
    object(vec![
        ("type", one_of(&channel_types())),
        ("name", string()),
        ("enabled", boolean()),
        (
            "effective",
            boolean().about("Enabled and valid: messages are sent."),
        ),
        ("validation_errors", array(string())),
        ("config", any().about("The config, every secret masked.")),
        ("updated_at", nullable(time())),
        (
            "health",
            nullable(of::<crate::notify::dispatch::ChannelHealth>()),
        ),
    ])
}

fn channel_types() -> Vec<&'static str> {
    crate::notify::channel::ChannelKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect()
}

/// A delivery of the outbox as `http::api::notify` writes it.
fn delivery() -> Shape {
    object(vec![
        ("id", integer()),
        ("channel", string()),
        ("kind", string()),
        ("alert_uid", nullable(string())),
        ("cluster_id", string()),
        ("rule", string()),
        ("title", string()),
        (
            "status",
            one_of(&["pending", "delivered", "failed", "folded"]),
        ),
        ("attempts", integer()),
        (
            "next_attempt_at",
            nullable(time()).about("Set while pending."),
        ),
        ("last_error", nullable(string())),
        ("digest_id", nullable(integer())),
        ("created_at", time()),
        ("updated_at", time()),
        ("delivered_at", nullable(time())),
    ])
}

/// The readiness checks of `GET /ready`.
fn ready_checks() -> Shape {
    object(vec![
        ("database", string().about("`ok` or `failed: …`.")),
        ("actors", string().about("`ok` or `failed: …`.")),
        ("shutting_down", boolean()),
    ])
}

fn kinds() -> Vec<&'static str> {
    atlhyper_actors::model::Kind::ALL
        .iter()
        .map(|k| k.plural())
        .collect()
}

/// A snapshot object of the `{kind}` path segment.
fn k8s_object() -> Shape {
    opaque("The object as in the cluster's latest snapshot (v2.1 JSON of its kind).")
}

/// `GET`/`POST /api/v2/query`: what both reply and refuse.
fn query_doc() -> RouteDoc {
    let common = || {
        vec![
            ("kind", string().about("The kind queried (its API plural).")),
            ("clusters", integer().about("How many clusters were read.")),
        ]
    };
    let with = |more: Vec<(&'static str, Shape)>| {
        let mut v = common();
        v.extend(more);
        object(v)
    };
    RouteDoc::new("Evaluate a query DSL expression on the latest snapshots")
        .about("Viewer; `secrets(...)` needs operator. Items carry their `cluster_id`. `.count()` replies `count`; `.group_by()` replies `groups`. `events(history=true)` replies also carry `scanned` (persisted events read) and `truncated` (more matched than were read).")
        .reply(
            200,
            either(vec![
                with(vec![
                    ("items", array(any())),
                    ("total", integer()),
                    ("limit", integer()),
                ]),
                with(vec![("count", integer())]),
                with(vec![
                    (
                        "groups",
                        array(object(vec![("value", any()), ("count", integer())])),
                    ),
                    ("total", integer()),
                    ("limit", integer()),
                ]),
            ]),
        )
        .error(400, ErrorCode::InvalidParameter)
        .error_with(
            400,
            ErrorCode::QuerySyntax,
            "position",
            integer().about("The byte offset of the problem in the text."),
        )
        .error_with(
            400,
            ErrorCode::QueryInvalid,
            "hint",
            string().about("The closest valid name (also `position`)."),
        )
        .error(403, ErrorCode::Forbidden)
        .error(404, ErrorCode::ClusterNotFound)
        .error(413, ErrorCode::QueryTooLarge)
}

/// The doc table: one entry per (method, path) of the route table, in any order.
///
/// An entry is `(method, path, d("Summary")…)`: `.path` for each `{name}` of the path
/// (`cluster_path` for a cluster's `{id}` and its 404), `.query` / `.query_required`,
/// `.paged()` for `limit` / `offset`, `.body(shape)` for a JSON body (its 400 / 413 / 415
/// come with it), `.reply(status, shape)`, and `.error(status, code)` for each error the
/// handler itself can answer (`.error_with` when the body carries one more field). What
/// the access implies (401, 403, 429, 503) and 500 are added from the route table.
pub fn docs() -> Vec<(Method, &'static str, RouteDoc)> {
    use ErrorCode as E;
    use Method as M;
    let d = RouteDoc::new;
    vec![
        // Health and operations.
        (
            M::GET,
            "/health",
            d("Liveness").reply(200, status_ok()),
        ),
        (
            M::GET,
            "/ready",
            d("Readiness: the database and the actors answer")
                .reply(
                    200,
                    object(vec![
                        ("status", one_of(&["ready"])),
                        ("checks", ready_checks()),
                    ]),
                )
                .error_with(503, E::NotReady, "checks", ready_checks()),
        ),
        (
            M::GET,
            crate::metrics::PATH,
            d("Prometheus scrape")
                .about("Public, or with `metrics_token` set, `Authorization: Bearer <metrics_token>` (never a user's token).")
                .reply_other(200, crate::metrics::CONTENT_TYPE, "OpenMetrics text exposition."),
        ),
        // Auth and users.
        (
            M::POST,
            "/api/v2/auth/login",
            d("Log in: a session token")
                .about("Failures say nothing about which part was wrong; 5 failures per (user, address) in 10 minutes lock the pair for 30 minutes (429, `Retry-After`).")
                .body(of::<auth::Login>())
                .reply(
                    200,
                    object(vec![
                        ("token", string()),
                        ("expires_at", time()),
                        (
                            "user",
                            object(vec![
                                ("id", integer()),
                                ("username", string()),
                                ("display_name", string()),
                                ("email", string()),
                                ("role", one_of(&["viewer", "operator", "admin"])),
                            ]),
                        ),
                    ]),
                )
                .error(400, E::InvalidParameter)
                .error(401, E::Unauthorized)
                .error(429, E::LoginLocked)
                .error(503, E::Unavailable),
        ),
        (
            M::POST,
            "/api/v2/auth/logout",
            d("Revoke the presented token").reply(200, status_ok()),
        ),
        (
            M::GET,
            "/api/v2/auth/me",
            d("The caller, their role and what it permits").reply(
                200,
                object(vec![
                    ("user", of::<auth::UserView>()),
                    ("role", one_of(&["viewer", "operator", "admin"])),
                    (
                        "permissions",
                        array(string()).about("What the role may do, so a UI can hide controls."),
                    ),
                    (
                        "token",
                        object(vec![("id", integer()), ("kind", string())]),
                    ),
                ]),
            ),
        ),
        (
            M::GET,
            "/api/v2/users",
            d("List users").reply(200, list(of::<auth::UserView>())),
        ),
        (
            M::POST,
            "/api/v2/users",
            d("Create a user")
                .body(of::<auth::NewUser>())
                .reply(201, of::<auth::UserView>())
                .error(400, E::InvalidParameter)
                .error(409, E::UserExists),
        ),
        (
            M::PATCH,
            "/api/v2/users/{id}",
            d("Change a user's role, status, password or names")
                .about("Disabling or a new password revokes the user's tokens at once. An admin cannot disable or demote themselves, nor the last active admin.")
                .path("id", integer(), "The user id.")
                .body(of::<auth::PatchUser>())
                .reply(200, of::<auth::UserView>())
                .error(400, E::InvalidPath)
                .error(400, E::InvalidParameter)
                .error(404, E::UserNotFound)
                .error(409, E::SelfLockout)
                .error(409, E::LastAdmin),
        ),
        (
            M::DELETE,
            "/api/v2/users/{id}",
            d("Delete a user and their tokens")
                .path("id", integer(), "The user id.")
                .reply(200, status_ok())
                .error(400, E::InvalidPath)
                .error(404, E::UserNotFound)
                .error(409, E::SelfLockout)
                .error(409, E::LastAdmin),
        ),
        (
            M::GET,
            "/api/v2/tokens",
            d("The caller's API keys (never the secrets)")
                .reply(200, list(of::<auth::TokenView>())),
        ),
        (
            M::POST,
            "/api/v2/tokens",
            d("Create an API key")
                .about("Its role is at most the caller's (default: the caller's). The secret `token` is in this reply only.")
                .body(of::<auth::NewToken>())
                .reply(
                    201,
                    extended(of::<auth::TokenView>(), vec![("token", string())]),
                )
                .error(400, E::InvalidParameter)
                .error(403, E::RoleTooHigh),
        ),
        (
            M::DELETE,
            "/api/v2/tokens/{id}",
            d("Revoke an API key (the owner, or an admin)")
                .about("Another user's token answers 404, unless the caller is an admin.")
                .path("id", integer(), "The token id.")
                .reply(200, status_ok())
                .error(400, E::InvalidPath)
                .error(404, E::TokenNotFound),
        ),
        // Clusters and live state.
        (
            M::GET,
            "/api/v2/clusters",
            d("List clusters")
                .query("status", one_of(&["online", "offline"]), "Only clusters with this status.")
                .query("environment", string(), "Only clusters of this environment.")
                .paged()
                .reply(200, list(of::<clusters::ClusterItem>())),
        ),
        (
            M::POST,
            "/api/v2/clusters",
            d("Create a cluster and its agent token")
                .about("The agent token is in this reply only.")
                .body(of::<clusters::NewCluster>())
                .reply(
                    201,
                    object(vec![
                        ("cluster_id", string()),
                        ("name", string()),
                        ("environment", string()),
                        ("description", string()),
                        ("created_at", nullable(time())),
                        ("agent_token", string().about("Shown once; only its hash is stored.")),
                    ]),
                )
                .error(400, E::MissingClusterId)
                .error(400, E::InvalidClusterId)
                .error(400, E::InvalidParameter)
                .error(409, E::ClusterExists),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}",
            cluster_path(d("One cluster")).reply(200, of::<clusters::ClusterItem>()),
        ),
        (
            M::DELETE,
            "/api/v2/clusters/{id}",
            cluster_path(d("Forget a cluster"))
                .about("Revokes its agent token and cancels its pending commands; command history is kept.")
                .reply(
                    200,
                    object(vec![("status", one_of(&["ok"])), ("cluster_id", string())]),
                ),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/status",
            cluster_path(d("Liveness, the latest summary and the recent snapshot records"))
                .reply(200, of::<clusters::StatusReply>()),
        ),
        (
            M::POST,
            "/api/v2/clusters/{id}/agent-token",
            cluster_path(d("Rotate the agent token"))
                .about("The old token stops working at once; the new one is in this reply only.")
                .reply(
                    200,
                    object(vec![("cluster_id", string()), ("agent_token", string())]),
                ),
        ),
        (
            M::DELETE,
            "/api/v2/clusters/{id}/agent-token",
            cluster_path(d("Revoke the agent token"))
                .reply(200, status_ok())
                .error(404, E::AgentTokenNotFound),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/snapshot",
            cluster_path(d("The latest snapshot as received"))
                .header("If-None-Match", "An `ETag` of an earlier reply: 304 when it still holds.")
                .reply(200, opaque("The v2.1 ClusterSnapshot JSON, as the agent sent it. Carries an `ETag`."))
                .also(304, "The snapshot has not changed since the `If-None-Match` ETag.")
                .error(404, E::NoSnapshot),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/commands",
            cluster_path(d("Command history of a cluster, newest first"))
                .query("status", string(), "Command states; repeatable or a comma-separated list.")
                .query("action", string(), "Only this action.")
                .query("source", string(), "Only this source.")
                .query("since", time(), "Created at or after.")
                .query("until", time(), "Created before.")
                .paged()
                .reply(200, list(of::<commands::CommandView>())),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/resources/secrets",
            cluster_path(d("Secrets of the latest snapshot"))
                .about("Key names only, as the agent sends them: secret values never reach the master.")
                .query("namespace", string(), "Only this namespace.")
                .query("name", string(), "Names containing this.")
                .query("label", string(), "`k=v`, `k!=v` or `k`; repeatable, all must match.")
                .paged()
                .reply(200, list(k8s_object())),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/resources/secrets/{namespace}/{name}",
            cluster_path(d("One Secret of the latest snapshot"))
                .path("namespace", string(), "The namespace.")
                .path("name", string(), "The name.")
                .reply(200, k8s_object())
                .error(404, E::ResourceNotFound),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/resources/{kind}",
            cluster_path(d("One kind's objects from the latest snapshot"))
                .about("A cluster that has sent no snapshot yet gives an empty list. `secrets` are served by their own route (operator).")
                .path("kind", one_of(&kinds()), "The kind, plural.")
                .query("namespace", string(), "Only this namespace.")
                .query("name", string(), "Names containing this.")
                .query("label", string(), "`k=v`, `k!=v` or `k`; repeatable, all must match.")
                .query("node", string(), "Pods only: on this node.")
                .query("phase", string(), "Pods only: in this phase (any case).")
                .query("type", string(), "Events only: of this type (any case).")
                .query("reason", string(), "Events only: with this reason (any case).")
                .paged()
                .reply(200, list(k8s_object()))
                .error(400, E::UnknownKind)
                .error(404, E::UnknownPath),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/resources/{kind}/{name}",
            cluster_path(d("One cluster-scoped object (nodes, namespaces, pvs)"))
                .path("kind", one_of(&kinds()), "The kind, plural.")
                .path("name", string(), "The name.")
                .reply(200, k8s_object())
                .error(400, E::UnknownKind)
                .error(400, E::NamespacedKind)
                .error(404, E::ResourceNotFound)
                .error(404, E::UnknownPath),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/resources/{kind}/{namespace}/{name}",
            cluster_path(d("One namespaced object"))
                .path("kind", one_of(&kinds()), "The kind, plural.")
                .path("namespace", string(), "The namespace.")
                .path("name", string(), "The name.")
                .reply(200, k8s_object())
                .error(400, E::UnknownKind)
                .error(400, E::ClusterScopedKind)
                .error(404, E::ResourceNotFound)
                .error(404, E::UnknownPath),
        ),
        (
            M::GET,
            "/api/v2/subscribe",
            d("Live feed (Server-Sent Events)")
                .query("cluster_id", string(), "Only this cluster's events.")
                .reply_other(
                    200,
                    "text/event-stream",
                    "Events `cluster_status` {cluster_id, status, previous, at, last_seen}, `snapshot` {cluster_id, fetched_at, received_at, summary}, `command` and `alert`, each with JSON data; a `: keepalive` comment every 15 s.",
                )
                .unknown_cluster(),
        ),
        // The query DSL.
        (M::GET, "/api/v2/query", query_doc().query_required("q", string(), "The expression, e.g. `pods(cluster=\"*\").where(restarts > 5).count()` (README \"Query the fleet\").")),
        (M::POST, "/api/v2/query", query_doc().about("The same as GET, with the text in the body (for texts longer than a URL).").body(of::<query::QueryBody>())),
        // Commands.
        (
            M::POST,
            "/api/v2/command",
            d("Create a command")
                .about("Validated, committed, then queued for the cluster's agent: 202 means it is durable.")
                .body(of::<commands::CreateCommand>())
                .reply(
                    202,
                    object(vec![
                        ("command_id", string()),
                        ("status", one_of(&["pending"])),
                    ]),
                )
                .error(400, E::MissingClusterId)
                .error(400, E::InvalidClusterId)
                .error(400, E::InvalidParameter)
                .error_with(
                    400,
                    E::InvalidCommand,
                    "field",
                    string().about("With `invalid_command`: the offending field."),
                )
                .unknown_cluster(),
        ),
        (
            M::GET,
            "/api/v2/commands/{id}",
            d("One command")
                .about("`get_secret` output is visible to operator and above only.")
                .path("id", string(), "The command id.")
                .query("wait", string(), "Hold the request until the command is final or this passes (`30s`; at most 60 s).")
                .reply(200, of::<commands::CommandView>())
                .error(400, E::InvalidParameter)
                .error(404, E::CommandNotFound)
                .unknown_cluster(),
        ),
        (
            M::POST,
            "/api/v2/commands/{id}/cancel",
            d("Cancel a pending command")
                .path("id", string(), "The command id.")
                .reply(200, of::<commands::CommandView>())
                .error(404, E::CommandNotFound)
                .unknown_cluster()
                .error(409, E::NotPending),
        ),
        // Audit and security.
        (
            M::GET,
            "/api/v2/audit/logs",
            d("The audit log, newest first")
                .about("Bodies are stored sanitized: passwords, tokens and secrets never appear.")
                .query("user_id", integer(), "Only this user.")
                .query("action", string(), "Only this action.")
                .query("success", boolean(), "Only successes, or only failures.")
                .query("since", time(), "At or after.")
                .query("until", time(), "Before.")
                .paged()
                .reply(200, list(of::<audit::AuditView>())),
        ),
        (
            M::GET,
            "/api/v2/security/events",
            d("Security events, newest first")
                .query(
                    "event_type",
                    one_of(
                        &crate::audit::SecurityKind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>(),
                    ),
                    "Only this type.",
                )
                .query("resolved", boolean(), "Only resolved, or only open ones.")
                .query("since", time(), "At or after.")
                .query("until", time(), "Before.")
                .paged()
                .reply(200, list(of::<audit::SecurityEventView>())),
        ),
        (
            M::PATCH,
            "/api/v2/security/events/{id}",
            d("Resolve or reopen a security event")
                .path("id", integer(), "The event id.")
                .body(of::<audit::ResolveEvent>())
                .reply(200, of::<audit::SecurityEventView>())
                .error(400, E::InvalidPath)
                .error(404, E::SecurityEventNotFound),
        ),
        // Events and node metrics.
        (
            M::GET,
            "/api/v2/clusters/{id}/events",
            cluster_path(d("Persisted events, newest `last_timestamp` first"))
                .query("type", string(), "Only this type.")
                .query("reason", string(), "Only this reason.")
                .query("kind", string(), "Involved kind.")
                .query("namespace", string(), "Namespace.")
                .query("name", string(), "Involved name.")
                .query("node", string(), "The involved Node, or `source_host`.")
                .query("since", time(), "`last_timestamp` at or after.")
                .query("until", time(), "`last_timestamp` before.")
                .paged()
                .reply(200, list(event())),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/changes",
            cluster_path(d("Changes found by diffing the cluster's snapshots, newest first"))
                .about("Workload images, replicas and rollouts; ConfigMap and Secret key sets (never values); Services and Ingresses added, removed or re-pointed; nodes added, removed, cordoned, NotReady or upgraded; namespaces; pods per owner without a replica count. A noisy object's changes are folded into one row (`count`). A change one of our commands caused carries its `command_id`.")
                .query("kind", string(), "Kind (`Deployment`, `Node`, …).")
                .query("namespace", string(), "Namespace.")
                .query("name", string(), "Name.")
                .query("change_type", one_of(crate::changes::inventory::CHANGE_TYPES), "Only this change type.")
                .query("since", time(), "Changed at or after (`last_time`).")
                .query("until", time(), "First changed at or before (`time`).")
                .paged()
                .reply(200, list(change()))
                .error(400, E::InvalidParameter),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/timeline",
            cluster_path(d("What happened to one object or namespace: changes, Warning events, commands and alerts merged, newest first"))
                .about("Without `since`/`until`: the last hour; with one end, an hour from it; at most 31 days. A Deployment's timeline includes its ReplicaSets' and Pods' events. Each source reads at most 1000 items; `truncated` says when some were left out.")
                .query("kind", string(), "Kind.")
                .query("namespace", string(), "Namespace.")
                .query("name", string(), "Name (needs `kind`).")
                .query("since", time(), "Window start.")
                .query("until", time(), "Window end.")
                .query("limit", integer(), "Most items (1–1000, default 200).")
                .reply(
                    200,
                    object(vec![
                        (
                            "items",
                            array(object(vec![
                                ("time", time()),
                                ("source", one_of(&["change", "event", "command", "alert"])),
                                ("kind", string()),
                                ("namespace", string()),
                                ("name", string()),
                                ("type", string().about("Change type, event reason, command action or alert rule.")),
                                ("summary", string()),
                                ("ref", string().about("The change id, event uid, command id or alert uid.")),
                                ("command_id", nullable(string()).about("A command's id, or the command that caused a change.")),
                                ("details", opaque("What only this source has: a change's count, before and after; an event's count; a command's status; an alert's severity, status and resolved_at.")),
                            ])),
                        ),
                        ("since", time()),
                        ("until", time()),
                        ("truncated", boolean()),
                    ]),
                )
                .error(400, E::InvalidParameter),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/agent",
            cluster_path(d("The cluster's agent and its nodes' versions"))
                .about("The version comes from the heartbeat body, else the agent's image in the snapshot, else its `User-Agent` (`version_source`). `outdated` is null without a policy or a comparable version.")
                .reply(
                    200,
                    object(vec![
                        ("cluster_id", string()),
                        ("status", one_of(&["online", "offline", "unknown"])),
                        ("agent_version", nullable(string())),
                        ("version_source", nullable(string()).about("`heartbeat`, `snapshot` or `user_agent`.")),
                        ("outdated", nullable(boolean())),
                        ("update_available", nullable(boolean())),
                        ("min_version", nullable(string())),
                        ("latest_version", nullable(string())),
                        ("hostname", nullable(string())),
                        ("reported_ip", nullable(string())),
                        ("remote_addr", nullable(string())),
                        ("user_agent", nullable(string())),
                        ("first_seen", nullable(time())),
                        ("last_seen", nullable(time())),
                        ("connected_at", nullable(time())),
                        ("disconnected_at", nullable(time())),
                        ("node_versions", nullable(any())),
                        ("nodes", array(object(vec![
                            ("name", string()),
                            ("os_image", string()),
                            ("kernel", string()),
                            ("runtime", string()),
                            ("kubelet", string()),
                            ("arch", string()),
                        ]))),
                    ]),
                ),
        ),
        (
            M::GET,
            "/api/v2/agent-versions",
            d("The agent version catalogue and its policy")
                .reply(
                    200,
                    object(vec![
                        ("items", array(of::<crate::db::agents::VersionRow>())),
                        ("total", integer()),
                        ("min_version", nullable(string())),
                        ("latest_version", nullable(string())),
                    ]),
                ),
        ),
        (
            M::POST,
            "/api/v2/agent-versions",
            d("Add an agent version")
                .about("`latest: true` or `minimum: true` moves that flag to this version. Agents older than the `minimum` are outdated.")
                .body(object(vec![
                    ("version", string()),
                    ("release_date", nullable(time())),
                    ("latest", boolean()),
                    ("minimum", boolean()),
                    ("min_master_version", nullable(string())),
                    ("notes", string()),
                ]))
                .reply(201, of::<crate::db::agents::VersionRow>())
                .error(400, E::InvalidParameter)
                .error(409, E::VersionExists),
        ),
        (
            M::PATCH,
            "/api/v2/agent-versions/{version}",
            d("Change an agent version")
                .path("version", string(), "The version.")
                .body(object(vec![
                    ("release_date", nullable(time())),
                    ("latest", boolean()),
                    ("minimum", boolean()),
                    ("min_master_version", nullable(string())),
                    ("notes", string()),
                ]))
                .reply(200, of::<crate::db::agents::VersionRow>())
                .error(400, E::InvalidParameter)
                .error(404, E::VersionNotFound),
        ),
        (
            M::DELETE,
            "/api/v2/agent-versions/{version}",
            d("Remove an agent version")
                .path("version", string(), "The version.")
                .no_content(204)
                .error(404, E::VersionNotFound),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/events/related",
            cluster_path(d("The events of an object and of what belongs to it"))
                .about("A Deployment: its events, its ReplicaSets' and their Pods' (owner references of the latest snapshot). A Node: its events and those whose `source_host` it is. Any other kind: that object's events.")
                .query_required("kind", string(), "The object's kind (`Deployment`, `Node`, …).")
                .query("namespace", string(), "Its namespace.")
                .query_required("name", string(), "Its name.")
                .paged()
                .reply(200, list(event())),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/node-metrics",
            cluster_path(d("Every node's latest metrics and the cluster summary"))
                .reply(200, of::<node_metrics::ClusterNodeMetrics>()),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/node-metrics/{node}/history",
            cluster_path(d("A node's sampled history, oldest first"))
                .path("node", string(), "The node name.")
                .query("hours", integer(), "1 to 720 (default 24).")
                .reply(200, of::<node_metrics::NodeHistory>())
                .error(400, E::InvalidParameter),
        ),
        (
            M::GET,
            "/api/v2/clusters/{id}/node-metrics/{node}",
            cluster_path(d("A node's latest metrics"))
                .path("node", string(), "The node name.")
                .reply(200, opaque("The node's latest NodeMetricsSnapshot (v2.1 JSON)."))
                .error(404, E::NodeNotFound),
        ),
        // SLOs.
        (
            M::GET,
            "/api/v2/slo/domains",
            d("SLOs per domain and route")
                .query("cluster_id", string(), "Required when the master holds more than one cluster.")
                .query("time_range", one_of(&["1h", "1d", "7d", "30d"]), "The window (default 1d).")
                .reply(200, of::<crate::service::slo::DomainsView>())
                .error(400, E::InvalidParameter)
                .error(400, E::InvalidClusterId)
                .unknown_cluster(),
        ),
        (
            M::GET,
            "/api/v2/slo/domains/{domain}",
            d("One domain's SLOs with their history and status changes")
                .path("domain", string(), "The domain.")
                .query("cluster_id", string(), "Required when the master holds more than one cluster.")
                .query("time_range", one_of(&["1h", "1d", "7d", "30d"]), "The window (default 1d).")
                .reply(200, of::<crate::service::slo::DomainDetail>())
                .error(400, E::InvalidParameter)
                .error(400, E::InvalidClusterId)
                .unknown_cluster()
                .error(404, E::DomainNotFound),
        ),
        (
            M::GET,
            "/api/v2/slo/targets",
            d("SLO targets set, and the defaults")
                .query("cluster_id", string(), "Only this cluster's (default: every cluster's).")
                .reply(200, of::<crate::service::slo::TargetsView>())
                .error(400, E::InvalidClusterId)
                .unknown_cluster(),
        ),
        (
            M::PUT,
            "/api/v2/slo/targets",
            d("Set the SLO target of a route or a domain")
                .about("No `path_prefix`: the whole domain; no `time_range`: all four ranges.")
                .body(of::<crate::service::slo::TargetInput>())
                .reply(
                    200,
                    object(vec![(
                        "targets",
                        array(of::<crate::service::slo::TargetItem>()),
                    )]),
                )
                .error(400, E::InvalidParameter)
                .error(400, E::MissingClusterId)
                .error(400, E::InvalidClusterId)
                .unknown_cluster(),
        ),
        // Retention, cleanup and backup.
        (
            M::GET,
            "/api/v2/admin/retention",
            d("The retention policy in force")
                .reply(200, of::<crate::db::retention::RetentionPolicy>()),
        ),
        (
            M::PUT,
            "/api/v2/admin/retention",
            d("Change the retention policy")
                .about("The given fields change, the rest stay; the next cleanup uses them, without a restart.")
                .body(partial::<crate::db::retention::RetentionPolicy>())
                .reply(200, of::<crate::db::retention::RetentionPolicy>())
                .error(400, E::InvalidParameter),
        ),
        (
            M::POST,
            "/api/v2/admin/cleanup",
            d("Run retention now")
                .about("Targets: events, node_metrics, commands, audit, slo, security_events, alerts, ai, changes (default: all).")
                .body(of::<admin::CleanupBody>())
                .reply(200, of::<crate::persist::cleaner::CleanupReport>())
                .error(400, E::InvalidParameter)
                .error(400, E::MissingClusterId)
                .error(400, E::InvalidClusterId),
        ),
        (
            M::POST,
            "/api/v2/admin/backup",
            d("A consistent online copy of the embedded database")
                .reply(200, of::<crate::persist::cleaner::Backup>())
                .error(409, E::BackupRunning)
                .error(501, E::BackupUnsupported),
        ),
        // Alerts and notifications.
        (
            M::GET,
            "/api/v2/alert-rules",
            d("Alert rules, built-in ones included")
                .paged()
                .reply(200, list(rule())),
        ),
        (
            M::POST,
            "/api/v2/alert-rules",
            d("Create an alert rule")
                .body(of::<crate::service::notify::RuleInput>())
                .reply(201, rule())
                .error(400, E::InvalidParameter)
                .error(400, E::InvalidCondition)
                .error(400, E::InvalidScope)
                .error(400, E::MissingClusterId)
                .error(400, E::InvalidClusterId)
                .error(409, E::RuleNameTaken),
        ),
        (
            M::GET,
            "/api/v2/alert-rules/{id}",
            d("One alert rule")
                .path("id", integer(), "The rule id.")
                .reply(200, rule())
                .error(400, E::InvalidParameter)
                .error(404, E::RuleNotFound),
        ),
        (
            M::PATCH,
            "/api/v2/alert-rules/{id}",
            d("Change an alert rule")
                .about("The given fields change, the rest stay; the result is validated as a whole. A built-in rule keeps its name and metric.")
                .path("id", integer(), "The rule id.")
                .body(partial::<crate::service::notify::RuleInput>())
                .reply(200, rule())
                .error(400, E::InvalidParameter)
                .error(400, E::InvalidCondition)
                .error(400, E::InvalidScope)
                .error(400, E::BuiltinRule)
                .error(400, E::MissingClusterId)
                .error(400, E::InvalidClusterId)
                .error(404, E::RuleNotFound)
                .error(409, E::RuleNameTaken),
        ),
        (
            M::DELETE,
            "/api/v2/alert-rules/{id}",
            d("Delete an alert rule (its firing alerts resolve)")
                .path("id", integer(), "The rule id.")
                .no_content(204)
                .error(400, E::InvalidParameter)
                .error(404, E::RuleNotFound)
                .error(409, E::BuiltinRule),
        ),
        (
            M::GET,
            "/api/v2/alerts",
            d("Alert history, newest first")
                .query("status", one_of(&["firing", "resolved"]), "Only this status.")
                .query("cluster_id", string(), "Only this cluster.")
                .query("severity", one_of(&["info", "warning", "critical"]), "Only this severity.")
                .query("since", time(), "Fired at or after.")
                .paged()
                .reply(200, list(of::<notify::AlertItem>()))
                .error(400, E::InvalidClusterId),
        ),
        (
            M::GET,
            "/api/v2/silences",
            d("Silences, newest first")
                .query("active", boolean(), "`true` hides expired ones.")
                .paged()
                .reply(200, list(silence())),
        ),
        (
            M::POST,
            "/api/v2/silences",
            d("Create a silence")
                .about("At least one matcher; `resource` takes `*` globs; at most 90 days.")
                .body(of::<crate::service::notify::SilenceInput>())
                .reply(201, silence())
                .error(400, E::InvalidParameter)
                .error(400, E::MissingClusterId)
                .error(400, E::InvalidClusterId),
        ),
        (
            M::DELETE,
            "/api/v2/silences/{id}",
            d("Expire a silence now")
                .path("id", integer(), "The silence id.")
                .reply(200, silence())
                .error(400, E::InvalidParameter)
                .error(404, E::SilenceNotFound),
        ),
        (
            M::GET,
            "/api/v2/notify/channels",
            d("Every notification channel type, configured or not, secrets masked")
                .reply(200, list(channel())),
        ),
        (
            M::GET,
            "/api/v2/notify/channels/{type}",
            d("One notification channel, secrets masked")
                .path("type", one_of(&channel_types()), "The channel type.")
                .reply(200, channel())
                .error(404, E::ChannelNotFound),
        ),
        (
            M::PUT,
            "/api/v2/notify/channels/{type}",
            d("Configure a notification channel")
                .about("Stored encrypted, even when invalid (then not `effective`, and `validation_errors` says why). Masked secrets sent back keep their stored value.")
                .path("type", one_of(&channel_types()), "The channel type.")
                .body(of::<crate::service::notify::ChannelInput>())
                .reply(200, channel())
                .error(400, E::InvalidParameter)
                .error(404, E::ChannelNotFound),
        ),
        (
            M::POST,
            "/api/v2/notify/channels/{type}/test",
            d("Send a real test message with the stored config")
                .path("type", one_of(&channel_types()), "The channel type.")
                .reply(
                    200,
                    Shape::inline(
                        ObjectBuilder::new()
                            .schema_type(Type::Object)
                            .property("success", ObjectBuilder::new().schema_type(Type::Boolean))
                            .required("success")
                            .property("error", ObjectBuilder::new().schema_type(Type::String))
                            .property("effective", ObjectBuilder::new().schema_type(Type::Boolean))
                            .required("effective"),
                    ),
                )
                .error(404, E::ChannelNotFound),
        ),
        (
            M::GET,
            "/api/v2/notify/deliveries",
            d("The notification outbox and its history, newest first")
                .query("channel", one_of(&channel_types()), "Only this channel.")
                .query("status", one_of(&["pending", "delivered", "failed", "folded"]), "Only this status.")
                .query("alert_uid", string(), "Only this alert's.")
                .paged()
                .reply(200, list(delivery())),
        ),
        // The AI assistant.
        (
            M::GET,
            "/api/v2/ai/providers",
            d("AI providers, keys masked; the active configuration and the model catalogue")
                .reply(
                    200,
                    extended(
                        list(of::<ai_service::ProviderView>()),
                        vec![
                            ("active", of::<ai_service::ActiveView>()),
                            (
                                "models",
                                array(object(vec![
                                    ("kind", one_of(&["openai", "anthropic", "gemini"])),
                                    ("default_base_url", string()),
                                    ("models", array(string())),
                                ])),
                            ),
                        ],
                    ),
                ),
        ),
        (
            M::POST,
            "/api/v2/ai/providers",
            d("Add an AI provider")
                .about("`kind` is `openai` (any OpenAI-compatible server: OpenAI, DeepSeek, vLLM, Ollama, LM Studio; `base_url` e.g. `http://localhost:11434/v1`), `anthropic` or `gemini`. The key is stored encrypted and never returned (`api_key_masked`, `api_key_set`); it is required except for `openai`.")
                .body(of::<ai_service::ProviderInput>())
                .reply(201, of::<ai_service::ProviderView>())
                .error(400, E::InvalidParameter)
                .error(409, E::ProviderNameTaken),
        ),
        (
            M::GET,
            "/api/v2/ai/providers/{id}",
            d("One AI provider, key masked")
                .path("id", integer(), "The provider id.")
                .reply(200, of::<ai_service::ProviderView>())
                .error(400, E::InvalidParameter)
                .error(404, E::ProviderNotFound),
        ),
        (
            M::PATCH,
            "/api/v2/ai/providers/{id}",
            d("Change an AI provider: the given fields")
                .about("`api_key` replaces the stored key (`\"\"` clears it, `openai` only); `base_url: null` returns to the kind's default.")
                .path("id", integer(), "The provider id.")
                .body(partial::<ai_service::ProviderInput>())
                .reply(200, of::<ai_service::ProviderView>())
                .error(400, E::InvalidParameter)
                .error(404, E::ProviderNotFound)
                .error(409, E::ProviderNameTaken),
        ),
        (
            M::DELETE,
            "/api/v2/ai/providers/{id}",
            d("Delete an AI provider (not the active one)")
                .path("id", integer(), "The provider id.")
                .no_content(204)
                .error(400, E::InvalidParameter)
                .error(404, E::ProviderNotFound)
                .error(409, E::ProviderInUse),
        ),
        (
            M::GET,
            "/api/v2/ai/active",
            d("The assistant's configuration: on or off, the provider, the tool timeout")
                .reply(200, of::<ai_service::ActiveView>()),
        ),
        (
            M::PUT,
            "/api/v2/ai/active",
            d("Change the assistant's configuration (the given fields)")
                .body(partial::<ai_service::ActiveInput>())
                .reply(200, of::<ai_service::ActiveView>())
                .error(400, E::InvalidParameter)
                .error(404, E::ProviderNotFound),
        ),
        (
            M::GET,
            "/api/v2/ai/conversations",
            d("The caller's conversations, most recently used first")
                .paged()
                .reply(200, list(of::<ai_service::ConversationView>())),
        ),
        (
            M::POST,
            "/api/v2/ai/conversations",
            d("Start a conversation (about a cluster, optionally)")
                .body(of::<ai::CreateConversation>())
                .reply(201, of::<ai_service::ConversationView>())
                .error(400, E::InvalidParameter)
                .error(400, E::InvalidClusterId),
        ),
        (
            M::GET,
            "/api/v2/ai/conversations/{id}",
            d("One of the caller's conversations")
                .path("id", integer(), "The conversation id.")
                .reply(200, of::<ai_service::ConversationView>())
                .error(400, E::InvalidParameter)
                .error(404, E::ConversationNotFound),
        ),
        (
            M::DELETE,
            "/api/v2/ai/conversations/{id}",
            d("Delete one of the caller's conversations, with its messages and tool calls")
                .path("id", integer(), "The conversation id.")
                .no_content(204)
                .error(400, E::InvalidParameter)
                .error(404, E::ConversationNotFound),
        ),
        (
            M::GET,
            "/api/v2/ai/conversations/{id}/messages",
            d("A conversation's messages, oldest first, each with its tool calls")
                .path("id", integer(), "The conversation id.")
                .paged()
                .reply(200, list(of::<ai_service::MessageView>()))
                .error(404, E::ConversationNotFound),
        ),
        (
            M::POST,
            "/api/v2/ai/chat",
            d("Ask the assistant: the answer as Server-Sent Events")
                .about("Each event's `data` is JSON with `type`: `text` {content}, `tool_call` {id, tool, params}, `tool_result` {id, tool, success, content, duration_ms}, `proposal` {proposal}, then `done` {message_id, stats: {rounds, total_tool_calls, input_tokens, output_tokens}} or `error` {code, content, retry_after?, message_id}. Closing the connection stops the answer; what was said is stored as `interrupted`.")
                .body(of::<ai::ChatBody>())
                .reply_other(200, "text/event-stream", "The answer's events.")
                .error(400, E::InvalidParameter)
                .error(400, E::InvalidClusterId)
                .error(404, E::ConversationNotFound)
                .error(409, E::AiDisabled)
                .error(409, E::AiNoProvider)
                .error(409, E::ChatBusy)
                .error(429, E::RateLimited),
        ),
        (
            M::GET,
            "/api/v2/ai/proposals",
            d("Commands the assistant proposed, newest first")
                .about("A viewer sees the proposals of their own conversations; operators see all.")
                .query("status", one_of(&["pending", "approved", "rejected", "expired"]), "Only this state.")
                .query("cluster_id", string(), "Only this cluster's.")
                .paged()
                .reply(200, list(of::<ai_service::ProposalView>())),
        ),
        (
            M::POST,
            "/api/v2/ai/proposals/{id}/approve",
            d("Approve a proposal: creates the command, once")
                .path("id", integer(), "The proposal id.")
                .reply(
                    202,
                    object(vec![
                        ("command_id", string()),
                        ("proposal", of::<ai_service::ProposalView>()),
                    ]),
                )
                .error(400, E::InvalidParameter)
                .error(404, E::ProposalNotFound)
                .error(409, E::ProposalDecided),
        ),
        (
            M::POST,
            "/api/v2/ai/proposals/{id}/reject",
            d("Reject a proposal")
                .path("id", integer(), "The proposal id.")
                .reply(200, of::<ai_service::ProposalView>())
                .error(400, E::InvalidParameter)
                .error(404, E::ProposalNotFound)
                .error(409, E::ProposalDecided),
        ),
        // The API description.
        (
            M::GET,
            "/api/v2/openapi.json",
            d("This document: OpenAPI 3.1 of the dashboard API")
                .reply(200, opaque("An OpenAPI 3.1 document.")),
        ),
    ]
}

/// The `x-required-role` value of an access.
pub fn role_name(access: Access) -> &'static str {
    match access {
        Access::Public => "public",
        Access::Scrape => "scrape",
        Access::Role(r) => r.as_str(),
    }
}

fn role_sentence(access: Access) -> &'static str {
    match access {
        Access::Public => "Public: no token.",
        Access::Scrape => {
            "Scrape: public, or with `metrics_token` set, that bearer token (401 without it)."
        }
        Access::Role(Role::Viewer) => "Role: viewer (any signed-in user or API key).",
        Access::Role(Role::Operator) => "Role: operator or admin.",
        Access::Role(Role::Admin) => "Role: admin.",
    }
}

/// The `{name}`s of a path template, in order.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn http_method(m: &Method) -> Option<HttpMethod> {
    Some(match *m {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::HEAD => HttpMethod::Head,
        Method::OPTIONS => HttpMethod::Options,
        Method::TRACE => HttpMethod::Trace,
        _ => return None,
    })
}

/// The tag of a path: its section of `spec/api.md`.
fn tag(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/api/v2/") else {
        return "operations";
    };
    let mut segs = rest.split('/');
    let first = segs.next().unwrap_or(rest);
    match (first, segs.next(), segs.next()) {
        (
            "clusters",
            Some(_),
            Some(sub @ ("resources" | "events" | "node-metrics" | "commands")),
        ) => sub,
        ("auth" | "users" | "tokens", _, _) => "auth",
        ("command" | "commands", _, _) => "commands",
        ("audit" | "security", _, _) => "audit",
        ("alert-rules" | "alerts" | "silences" | "notify", _, _) => "alerts",
        ("openapi.json", _, _) => "meta",
        _ => first,
    }
}

fn operation_id(method: &Method, path: &str) -> String {
    let rest = path.strip_prefix("/api/v2").unwrap_or(path);
    let words: Vec<String> = rest
        .split(['/', '-', '.'])
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_start_matches('{').trim_end_matches('}').to_owned())
        .collect();
    format!(
        "{}_{}",
        method.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

/// The error responses of one operation: one per status, its `code` narrowed to the codes
/// this operation can send with it.
fn error_responses(failures: &[Failure], responses: &mut Responses) {
    let mut by_status: BTreeMap<u16, Vec<&Failure>> = BTreeMap::new();
    for f in failures {
        let same = by_status.entry(f.status).or_default();
        if !same.iter().any(|g| g.code == f.code) {
            same.push(f);
        }
    }
    for (status, fs) in by_status {
        let codes: Vec<&str> = fs.iter().map(|f| f.code.as_str()).collect();
        let mut narrowed = ObjectBuilder::new().schema_type(Type::Object).property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.iter().copied())),
        );
        for f in &fs {
            if let Some((name, shape)) = &f.field {
                narrowed = narrowed.property(*name, shape.schema.clone());
            }
        }
        let schema = Schema::AllOf(
            AllOfBuilder::new()
                .item(Ref::from_schema_name("Error"))
                .item(narrowed)
                .build(),
        );
        let response = ResponseBuilder::new()
            .description(
                codes
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build();
        responses
            .responses
            .insert(status.to_string(), RefOr::T(response));
    }
}

/// The errors every route of this access can answer, whatever the handler does.
fn access_failures(access: Access) -> Vec<Failure> {
    let f = |status, code| Failure {
        status,
        code,
        field: None,
    };
    let mut out = vec![f(500, ErrorCode::Internal)];
    match access {
        Access::Public => {}
        Access::Scrape => out.push(f(401, ErrorCode::Unauthorized)),
        Access::Role(role) => {
            out.push(f(401, ErrorCode::Unauthorized));
            // Every signed-in caller is at least a viewer: a viewer route never answers 403.
            if role > Role::Viewer {
                out.push(f(403, ErrorCode::Forbidden));
            }
            out.push(f(429, ErrorCode::RateLimited));
            out.push(f(503, ErrorCode::Unavailable));
            // A write the storage refuses (README "Storage faults").
            out.push(f(503, ErrorCode::StorageFull));
            out.push(f(503, ErrorCode::StorageReadOnly));
            out.push(f(503, ErrorCode::StorageIoError));
        }
    }
    out
}

fn operation(spec: &RouteSpec, doc: Option<&RouteDoc>) -> utoipa::openapi::path::Operation {
    let mut description = String::new();
    if let Some(text) = doc.and_then(|d| d.description) {
        description.push_str(text);
        description.push_str("\n\n");
    }
    description.push_str(role_sentence(spec.access));
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id(&spec.method, spec.path)))
        .tag(tag(spec.path))
        .summary(doc.map(|d| d.summary))
        .description(Some(description))
        .extensions(Some(
            [(ROLE_EXTENSION, role_name(spec.access))]
                .into_iter()
                .collect::<Extensions>(),
        ));
    op = match spec.access {
        Access::Public => op,
        // The scrape token is optional: an empty requirement says "or none".
        Access::Scrape => op
            .security(SecurityRequirement::default())
            .security(SecurityRequirement::new(BEARER, Vec::<String>::new())),
        Access::Role(_) => op.security(SecurityRequirement::new(BEARER, Vec::<String>::new())),
    };
    // Path parameters: as the entry declares them, else (an undocumented route) strings.
    let mut params = Vec::new();
    for name in path_params(spec.path) {
        let declared = doc.and_then(|d| {
            d.params
                .iter()
                .find(|p| p.at == ParameterIn::Path && p.name == name)
        });
        let (schema, text) = match declared {
            Some(p) => (p.shape.schema.clone(), p.description),
            None => (string().schema, ""),
        };
        params.push(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description((!text.is_empty()).then_some(text))
                .schema(Some(schema))
                .build(),
        );
    }
    let mut responses = Responses::new();
    let mut failures = access_failures(spec.access);
    if let Some(d) = doc {
        for p in d.params.iter().filter(|p| p.at != ParameterIn::Path) {
            params.push(
                ParameterBuilder::new()
                    .name(p.name)
                    .parameter_in(p.at.clone())
                    .required(if p.required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(p.description))
                    .schema(Some(p.shape.schema.clone()))
                    .build(),
            );
        }
        if let Some(body) = &d.body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(body.schema.clone()))
                            .build(),
                    )
                    .build(),
            ));
        }
        let ok = match &d.reply {
            Reply::Json(shape) => ResponseBuilder::new().description("OK").content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(shape.schema.clone()))
                    .build(),
            ),
            Reply::Other {
                content_type,
                description,
            } => ResponseBuilder::new()
                .description(*description)
                .content(*content_type, ContentBuilder::new().build()),
            Reply::Empty => ResponseBuilder::new().description("No content."),
        };
        responses
            .responses
            .insert(d.status.to_string(), RefOr::T(ok.build()));
        for (status, text) in &d.also {
            responses.responses.insert(
                status.to_string(),
                RefOr::T(ResponseBuilder::new().description(*text).build()),
            );
        }
        failures.extend(d.errors.iter().map(|f| Failure {
            status: f.status,
            code: f.code,
            field: f.field.clone(),
        }));
    } else {
        responses.responses.insert(
            "200".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description("Not documented yet.")
                    .build(),
            ),
        );
    }
    error_responses(&failures, &mut responses);
    op.parameters(Some(params)).responses(responses).build()
}

/// The `Error` component: every error reply of the API.
fn error_schema() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Every error reply. `code` is stable (clients match on it); some codes add a field, named in the operation's response.",
            ))
            .property(
                "error",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("Human readable; names the offending parameter.")),
            )
            .required("error")
            .property(
                "code",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str()))),
            )
            .required("code")
            .build(),
    )
}

/// The document of every route of [`table`].
pub fn document() -> OpenApi {
    let mut entries = docs();
    let mut paths = PathsBuilder::new();
    let mut components = ComponentsBuilder::new()
        .schema("Error", error_schema())
        .security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    let mut schemas: BTreeMap<String, RefOr<Schema>> = BTreeMap::new();
    for spec in table().specs() {
        let Some(method) = http_method(&spec.method) else {
            continue;
        };
        let at = entries
            .iter()
            .position(|(m, p, _)| *m == spec.method && *p == spec.path);
        let doc = at.map(|i| entries.swap_remove(i).2);
        if let Some(d) = &doc {
            let shapes = d
                .params
                .iter()
                .map(|p| &p.shape)
                .chain(d.body.iter())
                .chain(match &d.reply {
                    Reply::Json(s) => Some(&**s),
                    _ => None,
                })
                .chain(
                    d.errors
                        .iter()
                        .filter_map(|f| f.field.as_ref().map(|(_, s)| s)),
                );
            for s in shapes {
                schemas.extend(s.components.iter().cloned());
            }
        }
        paths = paths.path(
            spec.path,
            PathItem::new(method, operation(spec, doc.as_ref())),
        );
    }
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("atlhyper-master dashboard API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The dashboard REST API of atlhyper-master, generated from its route table. The human contract is `spec/api.md`. Lists are `{items, total, limit, offset}`; errors are `{error, code}` (see the `Error` schema). A path no route matches answers 404 `unknown_path`; a method a path does not serve, 405 `method_not_allowed`.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// The document serialized once, at the first request.
static DOCUMENT: LazyLock<Result<Bytes, String>> = LazyLock::new(|| {
    serde_json::to_vec(&document())
        .map(Bytes::from)
        .map_err(|e| e.to_string())
});

/// `GET /api/v2/openapi.json` (public): the OpenAPI 3.1 document.
#[tracing::instrument(skip_all)]
pub async fn get_openapi() -> Result<HttpResponse, ApiError> {
    match &*DOCUMENT {
        Ok(body) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(body.clone())),
        Err(e) => Err(ApiError::internal(format!(
            "serializing the OpenAPI document: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn shapes_keep_the_components_they_refer_to() {
        let s = either(vec![
            object(vec![("kind", string()), ("count", integer())]),
            list(of::<crate::persist::cleaner::Backup>()),
        ]);
        let v = serde_json::to_value(&s.schema).unwrap();
        assert_eq!(
            v["oneOf"][0]["required"],
            serde_json::json!(["kind", "count"])
        );
        assert_eq!(
            v["oneOf"][1]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/Backup"
        );
        assert!(s.components.iter().any(|(n, _)| n == "Backup"));
        let n = serde_json::to_value(&nullable(time()).schema).unwrap();
        assert_eq!(n["type"], serde_json::json!(["string", "null"]));
    }

    #[test]
    fn every_route_has_one_entry_and_every_entry_a_route() {
        let routes: Vec<(Method, &str)> = table()
            .specs()
            .iter()
            .map(|s| (s.method.clone(), s.path))
            .collect();
        let entries = docs();
        for (m, p) in &routes {
            let n = entries
                .iter()
                .filter(|(em, ep, _)| em == m && ep == p)
                .count();
            assert_eq!(
                n, 1,
                "{m} {p}: {n} entries in openapi::docs (want exactly one)"
            );
        }
        for (m, p, _) in &entries {
            assert!(
                routes.iter().any(|(rm, rp)| rm == m && rp == p),
                "openapi::docs documents {m} {p}, which the route table does not have"
            );
        }
    }

    #[test]
    fn every_entry_declares_exactly_its_path_parameters() {
        for (m, p, d) in docs() {
            let declared: Vec<&str> = d
                .params
                .iter()
                .filter(|x| x.at == ParameterIn::Path)
                .map(|x| x.name)
                .collect();
            assert_eq!(declared, path_params(p), "{m} {p}: path parameters");
            let mut seen = BTreeSet::new();
            for x in &d.params {
                let at = serde_json::to_string(&x.at).unwrap();
                assert!(seen.insert((x.name, at)), "{m} {p}: {} twice", x.name);
            }
            assert!(
                !matches!(d.reply, Reply::Empty) || d.status == 204,
                "{m} {p}: say what it replies"
            );
        }
    }

    #[test]
    fn the_document_serializes_as_openapi_3_1_with_every_schema_it_refers_to() {
        let v = serde_json::to_value(document()).unwrap();
        assert!(v["openapi"].as_str().unwrap().starts_with("3.1"));
        assert_eq!(v["info"]["version"], env!("CARGO_PKG_VERSION"));
        let text = v.to_string();
        let schemas = v["components"]["schemas"].as_object().unwrap();
        for (i, _) in text.match_indices("\"#/components/schemas/") {
            let name = text[i + 22..].split('"').next().unwrap();
            assert!(
                schemas.contains_key(name),
                "$ref to a missing schema {name}"
            );
        }
        let codes: Vec<&str> = v["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, all);
    }
}
