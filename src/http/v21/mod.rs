//! The AtlHyper v2.1 web dashboard's API, under `/v21` on the dashboard port
//! (`spec/dashboard-v21.md` §3.1, reference §3).
//!
//! A dashboard built with `NEXT_PUBLIC_API_URL=http://<master>:8080/v21` calls
//! `/v21/api/v2/...` and works unchanged. This module only **translates**: each handler
//! parses the v2.1 request, calls the same service or actor our own API calls, and shapes
//! the reply as v2.1 did (`{"message","data","total"}` for lists, the nested agent shapes,
//! bare arrays for AI conversations and messages, `event: message` SSE for the chat).
//!
//! What stays ours ([`table`] declares it per route, the `Auth<R>` extractors enforce it):
//! every route needs a token (v2.1 served reads, SLO targets and AI settings to anyone);
//! roles are 1/2/3 = viewer/operator/admin; secrets and channel configs are masked; every
//! write goes through the audit middleware; errors are `{"error","code"}` with the real
//! status, which is what the dashboard reads (`error`, and 401 to open its login dialog).

mod ai;
mod auth;
mod metrics;
mod notify;
mod ops;
mod resources;
mod slo;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use atlhyper_actors::model::ClusterSnapshot;

use super::api::Routes;
use super::{validate_cluster_id, QueryParams};
use crate::auth::access::Access;
use crate::auth::Role;
use crate::error::ApiError;
use crate::state::AppState;

/// The prefix every route of this module lives under.
pub const PREFIX: &str = "/v21";

/// v2.1's success envelope: `{"message","data"}`, with `total` for lists.
#[derive(Serialize)]
struct Envelope<T: Serialize> {
    message: &'static str,
    data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<usize>,
}

/// `{"message":"ok","data":…}`.
fn data(data: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        message: "ok",
        data,
        total: None,
    })
}

/// `{"message":"ok","data":[…],"total":n}`; `data` is an array even when empty.
fn list<T: Serialize>(items: Vec<T>) -> HttpResponse {
    let total = items.len();
    page(items, total)
}

/// One page of a list of `total` matches, in the list envelope.
fn page<T: Serialize>(items: Vec<T>, total: usize) -> HttpResponse {
    HttpResponse::Ok().json(Envelope {
        message: "ok",
        data: items,
        total: Some(total),
    })
}

/// `{"message": text}`, v2.1's reply to an action without data.
fn done(message: &'static str) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "message": message }))
}

/// The `cluster_id` query parameter, required and checked.
fn cluster_param(q: &QueryParams) -> Result<String, ApiError> {
    let id = q.get("cluster_id").unwrap_or("").trim();
    validate_cluster_id(id)?;
    Ok(id.to_owned())
}

/// The latest snapshot of a known cluster, or an empty one before the first arrives (so
/// lists are `[]` and the overview all zeros, never `null`); 404 for an unknown cluster.
async fn snapshot(state: &AppState, cluster_id: &str) -> Result<Arc<ClusterSnapshot>, ApiError> {
    let addr = state.cluster(cluster_id, false).await?;
    Ok(crate::http::api::clusters::latest(&addr)
        .await?
        .map_or_else(|| Arc::new(ClusterSnapshot::default()), |l| l.snapshot))
}

/// `POST /v21/test/notifier/{type}`: the dashboard's "test" button calls v2.1's separate
/// tester port without a token. Sending messages for anyone who asks is not something the
/// master does: the reply says where the authenticated test lives.
async fn tester(_req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::unauthorized(
        "the unauthenticated notifier tester is not served: test a channel with \
         POST /api/v2/notify/channels/{type}/test as an admin",
    ))
}

/// Every route of the AtlHyper dashboard, under [`PREFIX`], with the role each needs.
pub fn table() -> Routes {
    use Method as M;
    const VIEWER: Access = Access::Role(Role::Viewer);
    const OPERATOR: Access = Access::Role(Role::Operator);
    const ADMIN: Access = Access::Role(Role::Admin);
    let mut t = Routes::default();
    // Login (public by nature) and users, audit (admin).
    t.add(
        M::POST,
        "/v21/api/v2/user/login",
        Access::Public,
        auth::login,
    )
    .add(M::GET, "/v21/api/v2/user/list", ADMIN, auth::list_users)
    .add(M::POST, "/v21/api/v2/user/register", ADMIN, auth::register)
    .add(
        M::POST,
        "/v21/api/v2/user/update-role",
        ADMIN,
        auth::update_role,
    )
    .add(
        M::POST,
        "/v21/api/v2/user/update-status",
        ADMIN,
        auth::update_status,
    )
    .add(M::POST, "/v21/api/v2/user/delete", ADMIN, auth::delete_user)
    .add(M::GET, "/v21/api/v2/audit/logs", ADMIN, auth::audit_logs)
    // Clusters, the overview and the resources of the latest snapshot.
    .add(M::GET, "/v21/api/v2/clusters", VIEWER, resources::clusters)
    .add(M::GET, "/v21/api/v2/overview", VIEWER, resources::overview)
    .add(M::GET, "/v21/api/v2/pods", VIEWER, resources::pods)
    .add(M::GET, "/v21/api/v2/pods/{name}", VIEWER, resources::pod)
    .add(M::GET, "/v21/api/v2/nodes", VIEWER, resources::nodes)
    .add(
        M::GET,
        "/v21/api/v2/deployments",
        VIEWER,
        resources::deployments,
    )
    .add(
        M::GET,
        "/v21/api/v2/deployments/{name}",
        VIEWER,
        resources::deployment,
    )
    .add(M::GET, "/v21/api/v2/services", VIEWER, resources::services)
    .add(
        M::GET,
        "/v21/api/v2/services/{name}",
        VIEWER,
        resources::service,
    )
    .add(
        M::GET,
        "/v21/api/v2/namespaces",
        VIEWER,
        resources::namespaces,
    )
    .add(
        M::GET,
        "/v21/api/v2/configmaps",
        VIEWER,
        resources::configmaps,
    )
    .add(M::GET, "/v21/api/v2/secrets", OPERATOR, resources::secrets)
    .add(
        M::GET,
        "/v21/api/v2/ingresses",
        VIEWER,
        resources::ingresses,
    )
    .add(
        M::GET,
        "/v21/api/v2/ingresses/{name}",
        VIEWER,
        resources::ingress,
    )
    // Operations: durable commands; reads wait for the agent's answer.
    .add(
        M::POST,
        "/v21/api/v2/ops/pods/logs",
        OPERATOR,
        ops::pod_logs,
    )
    .add(
        M::POST,
        "/v21/api/v2/ops/pods/restart",
        OPERATOR,
        ops::pod_restart,
    )
    .add(
        M::POST,
        "/v21/api/v2/ops/nodes/cordon",
        OPERATOR,
        ops::node_cordon,
    )
    .add(
        M::POST,
        "/v21/api/v2/ops/nodes/uncordon",
        OPERATOR,
        ops::node_uncordon,
    )
    .add(
        M::POST,
        "/v21/api/v2/ops/deployments/scale",
        OPERATOR,
        ops::deployment_scale,
    )
    .add(
        M::POST,
        "/v21/api/v2/ops/deployments/image",
        OPERATOR,
        ops::deployment_image,
    )
    .add(
        M::POST,
        "/v21/api/v2/ops/configmaps/data",
        OPERATOR,
        ops::configmap_data,
    )
    .add(
        M::POST,
        "/v21/api/v2/ops/secrets/data",
        OPERATOR,
        ops::secret_data,
    )
    .add(
        M::GET,
        "/v21/api/v2/commands/history",
        VIEWER,
        ops::command_history,
    )
    // Node metrics, SLO.
    .add(M::GET, "/v21/api/v2/node-metrics", VIEWER, metrics::list)
    .add(
        M::GET,
        "/v21/api/v2/node-metrics/{node}/history",
        VIEWER,
        metrics::history,
    )
    .add(M::GET, "/v21/api/v2/slo/domains/v2", VIEWER, slo::domains)
    .add(M::PUT, "/v21/api/v2/slo/targets", OPERATOR, slo::put_target)
    // Notification channels (admin, as ours).
    .add(M::GET, "/v21/api/v2/notify/channels", ADMIN, notify::list)
    .add(
        M::PUT,
        "/v21/api/v2/notify/channels/{type}",
        ADMIN,
        notify::put,
    )
    // The AI assistant.
    .add(
        M::GET,
        "/v21/api/v2/ai/providers",
        ADMIN,
        ai::list_providers,
    )
    .add(
        M::POST,
        "/v21/api/v2/ai/providers",
        ADMIN,
        ai::create_provider,
    )
    .add(
        M::PUT,
        "/v21/api/v2/ai/providers/{id}",
        ADMIN,
        ai::update_provider,
    )
    .add(
        M::DELETE,
        "/v21/api/v2/ai/providers/{id}",
        ADMIN,
        ai::delete_provider,
    )
    .add(M::GET, "/v21/api/v2/ai/active", VIEWER, ai::get_active)
    .add(M::PUT, "/v21/api/v2/ai/active", ADMIN, ai::put_active)
    .add(
        M::GET,
        "/v21/api/v2/ai/conversations",
        VIEWER,
        ai::list_conversations,
    )
    .add(
        M::POST,
        "/v21/api/v2/ai/conversations",
        VIEWER,
        ai::create_conversation,
    )
    .add(
        M::DELETE,
        "/v21/api/v2/ai/conversations/{id}",
        VIEWER,
        ai::delete_conversation,
    )
    .add(
        M::GET,
        "/v21/api/v2/ai/conversations/{id}/messages",
        VIEWER,
        ai::list_messages,
    )
    .add(M::POST, "/v21/api/v2/ai/chat", VIEWER, ai::chat)
    // The tester button: refused (see `tester`).
    .add(M::POST, "/v21/test/notifier/{type}", Access::Public, tester);
    t
}
