//! The dashboard REST API (port 8080), per `spec/api.md`.
//!
//! [`table`] is the one route table: it registers every route **and** declares who may
//! call it. Handlers enforce the role with the `Auth<R>` extractor; the route-table test
//! (`tests/api/security.rs`) walks this table and proves, route by route, that the
//! declared access and the enforced one agree.

pub mod admin;
pub mod ai;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod clusters;
pub mod commands;
pub mod events;
pub mod health;
pub mod metrics;
pub mod node_metrics;
pub mod notify;
pub mod openapi;
pub mod query;
pub mod resources;
pub mod slo;
pub mod subscribe;

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder, Route};

use crate::auth::access::{Access, RouteAccess};
use crate::auth::Role;
use crate::error::{ApiError, ErrorCode};
use crate::http::resource;

/// Largest JSON body the dashboard API accepts.
const MAX_JSON_BODY: usize = 1024 * 1024;

/// JSON body errors as `{"error","code"}`: 413 when too large, otherwise 400.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY)
        .error_handler(|err, _| {
            use actix_web::error::JsonPayloadError as E;
            if let Some(timed_out) = match &err {
                E::Payload(p) => crate::http::middleware::body_timeout_error(p),
                _ => None,
            } {
                return timed_out.into();
            }
            let e = match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => {
                    ApiError::too_large(format!("JSON body exceeds {MAX_JSON_BODY} bytes"))
                }
                E::ContentType => ApiError::new(
                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::UnsupportedMediaType,
                    "send Content-Type: application/json",
                ),
                E::Deserialize(d) => {
                    ApiError::bad_request(ErrorCode::InvalidJson, format!("invalid JSON body: {d}"))
                }
                other => {
                    ApiError::bad_request(ErrorCode::InvalidBody, format!("invalid body: {other}"))
                }
            };
            e.into()
        })
}

/// Path segments that fail to parse are 400s naming the problem.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| {
        ApiError::bad_request(
            ErrorCode::InvalidPath,
            format!("invalid path parameter: {err}"),
        )
        .into()
    })
}

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path pattern, actix syntax.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// The route table under construction.
#[derive(Default)]
pub struct Routes {
    specs: Vec<RouteSpec>,
    groups: Vec<(&'static str, Vec<Route>)>,
}

impl Routes {
    /// Adds one route with the access it needs.
    pub fn add<F, Args>(
        &mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: F,
    ) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::method(method.clone()).to(handler);
        match self.groups.iter_mut().find(|(p, _)| *p == path) {
            Some((_, routes)) => routes.push(route),
            None => self.groups.push((path, vec![route])),
        }
        self.specs.push(RouteSpec {
            method,
            path,
            access,
        });
        self
    }

    /// Adds every route of `other`, a table served by the same app (the AtlHyper
    /// dashboard's, `crate::http::v21`), so one [`RouteAccess`] declares both.
    pub fn merge(&mut self, other: Routes) -> &mut Self {
        for (path, routes) in other.groups {
            match self.groups.iter_mut().find(|(p, _)| *p == path) {
                Some((_, mine)) => mine.extend(routes),
                None => self.groups.push((path, routes)),
            }
        }
        self.specs.extend(other.specs);
        self
    }

    /// The declared routes.
    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }

    /// Registers every route, in table order (literal paths before patterns), and the
    /// declared access of each as [`RouteAccess`] app data for the authentication
    /// middleware.
    pub fn configure(self, cfg: &mut web::ServiceConfig) {
        let mut access = RouteAccess::default();
        for spec in self.specs {
            access.declare(spec.method, spec.path, spec.access);
        }
        cfg.app_data(web::Data::new(access));
        for (path, routes) in self.groups {
            let mut r = resource(path);
            for route in routes {
                r = r.route(route);
            }
            cfg.service(r);
        }
    }
}

/// The dashboard's route table.
pub fn table() -> Routes {
    use Access::Public;
    use Method as M;
    const VIEWER: Access = Access::Role(Role::Viewer);
    const OPERATOR: Access = Access::Role(Role::Operator);
    const ADMIN: Access = Access::Role(Role::Admin);
    let mut t = Routes::default();
    t.add(M::GET, "/health", Public, health::get_health)
        .add(M::GET, "/ready", Public, health::get_ready)
        .add(
            M::GET,
            crate::metrics::PATH,
            Access::Scrape,
            metrics::get_metrics,
        )
        // Auth and users.
        .add(M::POST, "/api/v2/auth/login", Public, auth::login)
        .add(M::POST, "/api/v2/auth/logout", VIEWER, auth::logout)
        .add(M::GET, "/api/v2/auth/me", VIEWER, auth::me)
        .add(M::GET, "/api/v2/users", ADMIN, auth::list_users)
        .add(M::POST, "/api/v2/users", ADMIN, auth::create_user)
        .add(M::PATCH, "/api/v2/users/{id}", ADMIN, auth::patch_user)
        .add(M::DELETE, "/api/v2/users/{id}", ADMIN, auth::delete_user)
        .add(M::GET, "/api/v2/tokens", VIEWER, auth::list_tokens)
        .add(M::POST, "/api/v2/tokens", VIEWER, auth::create_token)
        .add(M::DELETE, "/api/v2/tokens/{id}", VIEWER, auth::delete_token)
        // Clusters and live state.
        .add(M::GET, "/api/v2/clusters", VIEWER, clusters::list_clusters)
        .add(M::POST, "/api/v2/clusters", ADMIN, clusters::create_cluster)
        .add(
            M::GET,
            "/api/v2/clusters/{id}",
            VIEWER,
            clusters::get_cluster,
        )
        .add(
            M::DELETE,
            "/api/v2/clusters/{id}",
            ADMIN,
            clusters::delete_cluster,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/status",
            VIEWER,
            clusters::get_cluster_status,
        )
        .add(
            M::POST,
            "/api/v2/clusters/{id}/agent-token",
            ADMIN,
            clusters::rotate_agent_token,
        )
        .add(
            M::DELETE,
            "/api/v2/clusters/{id}/agent-token",
            ADMIN,
            clusters::revoke_agent_token,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/snapshot",
            VIEWER,
            clusters::get_snapshot,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/commands",
            VIEWER,
            commands::list_cluster_commands,
        )
        // Secrets need operator: their literal routes come before the `{kind}` patterns.
        .add(
            M::GET,
            "/api/v2/clusters/{id}/resources/secrets",
            OPERATOR,
            resources::list_secrets,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/resources/secrets/{namespace}/{name}",
            OPERATOR,
            resources::get_secret,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/resources/{kind}",
            VIEWER,
            resources::list_resources,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/resources/{kind}/{name}",
            VIEWER,
            resources::get_cluster_scoped,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/resources/{kind}/{namespace}/{name}",
            VIEWER,
            resources::get_namespaced,
        )
        .add(M::GET, "/api/v2/subscribe", VIEWER, subscribe::subscribe)
        // The query DSL over the live state (and persisted events).
        .add(M::GET, "/api/v2/query", VIEWER, query::get_query)
        .add(M::POST, "/api/v2/query", VIEWER, query::post_query)
        // Commands.
        .add(
            M::POST,
            "/api/v2/command",
            OPERATOR,
            commands::create_command,
        )
        .add(
            M::GET,
            "/api/v2/commands/{id}",
            VIEWER,
            commands::get_command,
        )
        .add(
            M::POST,
            "/api/v2/commands/{id}/cancel",
            OPERATOR,
            commands::cancel_command,
        )
        // Audit and security.
        .add(M::GET, "/api/v2/audit/logs", ADMIN, audit::list_audit_logs)
        .add(
            M::GET,
            "/api/v2/security/events",
            ADMIN,
            audit::list_security_events,
        )
        .add(
            M::PATCH,
            "/api/v2/security/events/{id}",
            ADMIN,
            audit::resolve_security_event,
        )
        // Events and node metrics (stored by the persisters).
        .add(
            M::GET,
            "/api/v2/clusters/{id}/events",
            VIEWER,
            events::list_events,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/events/related",
            VIEWER,
            events::related_events,
        )
        // What changed: the change history, the timeline, the agent and its versions.
        .add(
            M::GET,
            "/api/v2/clusters/{id}/changes",
            VIEWER,
            changes::list_changes,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/timeline",
            VIEWER,
            changes::timeline,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/agent",
            VIEWER,
            changes::get_agent,
        )
        .add(
            M::GET,
            "/api/v2/agent-versions",
            VIEWER,
            changes::list_agent_versions,
        )
        .add(
            M::POST,
            "/api/v2/agent-versions",
            ADMIN,
            changes::create_agent_version,
        )
        .add(
            M::PATCH,
            "/api/v2/agent-versions/{version}",
            ADMIN,
            changes::patch_agent_version,
        )
        .add(
            M::DELETE,
            "/api/v2/agent-versions/{version}",
            ADMIN,
            changes::delete_agent_version,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/node-metrics",
            VIEWER,
            node_metrics::list_node_metrics,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/node-metrics/{node}/history",
            VIEWER,
            node_metrics::get_node_history,
        )
        .add(
            M::GET,
            "/api/v2/clusters/{id}/node-metrics/{node}",
            VIEWER,
            node_metrics::get_node_metrics,
        )
        // SLOs per domain and path.
        .add(M::GET, "/api/v2/slo/domains", VIEWER, slo::list_domains)
        .add(
            M::GET,
            "/api/v2/slo/domains/{domain}",
            VIEWER,
            slo::get_domain,
        )
        .add(M::GET, "/api/v2/slo/targets", VIEWER, slo::list_targets)
        .add(M::PUT, "/api/v2/slo/targets", OPERATOR, slo::put_target)
        // Retention, cleanup and backup (the cleaner).
        .add(
            M::GET,
            "/api/v2/admin/retention",
            ADMIN,
            admin::get_retention,
        )
        .add(
            M::PUT,
            "/api/v2/admin/retention",
            ADMIN,
            admin::put_retention,
        )
        .add(M::POST, "/api/v2/admin/cleanup", ADMIN, admin::post_cleanup)
        .add(M::POST, "/api/v2/admin/backup", ADMIN, admin::post_backup)
        // Alerts and notifications.
        .add(M::GET, "/api/v2/alert-rules", VIEWER, notify::list_rules)
        .add(M::POST, "/api/v2/alert-rules", ADMIN, notify::create_rule)
        .add(M::GET, "/api/v2/alert-rules/{id}", VIEWER, notify::get_rule)
        .add(
            M::PATCH,
            "/api/v2/alert-rules/{id}",
            ADMIN,
            notify::patch_rule,
        )
        .add(
            M::DELETE,
            "/api/v2/alert-rules/{id}",
            ADMIN,
            notify::delete_rule,
        )
        .add(M::GET, "/api/v2/alerts", VIEWER, notify::list_alerts)
        .add(M::GET, "/api/v2/silences", VIEWER, notify::list_silences)
        .add(
            M::POST,
            "/api/v2/silences",
            OPERATOR,
            notify::create_silence,
        )
        .add(
            M::DELETE,
            "/api/v2/silences/{id}",
            OPERATOR,
            notify::expire_silence,
        )
        .add(
            M::GET,
            "/api/v2/notify/channels",
            ADMIN,
            notify::list_channels,
        )
        .add(
            M::GET,
            "/api/v2/notify/channels/{type}",
            ADMIN,
            notify::get_channel,
        )
        .add(
            M::PUT,
            "/api/v2/notify/channels/{type}",
            ADMIN,
            notify::put_channel,
        )
        .add(
            M::POST,
            "/api/v2/notify/channels/{type}/test",
            ADMIN,
            notify::test_channel,
        )
        .add(
            M::GET,
            "/api/v2/notify/deliveries",
            ADMIN,
            notify::list_deliveries,
        )
        // The AI assistant.
        .add(M::GET, "/api/v2/ai/providers", ADMIN, ai::list_providers)
        .add(M::POST, "/api/v2/ai/providers", ADMIN, ai::create_provider)
        .add(M::GET, "/api/v2/ai/providers/{id}", ADMIN, ai::get_provider)
        .add(
            M::PATCH,
            "/api/v2/ai/providers/{id}",
            ADMIN,
            ai::patch_provider,
        )
        .add(
            M::DELETE,
            "/api/v2/ai/providers/{id}",
            ADMIN,
            ai::delete_provider,
        )
        .add(M::GET, "/api/v2/ai/active", VIEWER, ai::get_active)
        .add(M::PUT, "/api/v2/ai/active", ADMIN, ai::put_active)
        .add(
            M::GET,
            "/api/v2/ai/conversations",
            VIEWER,
            ai::list_conversations,
        )
        .add(
            M::POST,
            "/api/v2/ai/conversations",
            VIEWER,
            ai::create_conversation,
        )
        .add(
            M::GET,
            "/api/v2/ai/conversations/{id}",
            VIEWER,
            ai::get_conversation,
        )
        .add(
            M::DELETE,
            "/api/v2/ai/conversations/{id}",
            VIEWER,
            ai::delete_conversation,
        )
        .add(
            M::GET,
            "/api/v2/ai/conversations/{id}/messages",
            VIEWER,
            ai::list_messages,
        )
        .add(M::POST, "/api/v2/ai/chat", VIEWER, ai::chat)
        .add(M::GET, "/api/v2/ai/proposals", VIEWER, ai::list_proposals)
        .add(
            M::POST,
            "/api/v2/ai/proposals/{id}/approve",
            OPERATOR,
            ai::approve_proposal,
        )
        .add(
            M::POST,
            "/api/v2/ai/proposals/{id}/reject",
            OPERATOR,
            ai::reject_proposal,
        )
        // The API description (generated from this table: openapi.rs).
        .add(M::GET, "/api/v2/openapi.json", Public, openapi::get_openapi);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_declared_once() {
        let t = table();
        let mut seen = std::collections::HashSet::new();
        for s in t.specs() {
            assert!(
                seen.insert((s.method.clone(), s.path)),
                "{} {} is declared twice",
                s.method,
                s.path
            );
        }
    }
}
