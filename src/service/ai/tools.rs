//! The assistant's tools: what the model may look at, and the one thing it may ask for.
//!
//! Every tool runs with the caller's role and through the same services as the API:
//! - **on the master's own state** (no agent round trip): `query` (the query DSL),
//!   `get_resource`, `events` (live or persisted), `related_events`, `node_metrics`,
//!   `slo_status`, `command_history`, `alerts`;
//! - **on the agent** (operator and above, since they are commands): `pod_logs` and
//!   `describe`, sent as read-only commands on the `ai` topic (recorded with `source: ai`)
//!   and awaited for at most the configured tool timeout;
//! - **`propose_command`**: stores a proposal that an operator may approve; nothing runs.
//!
//! Never: a Secret or its values (whatever the role), an agent tool in `kube-system`,
//! `kube-public` or `kube-node-lease`, or a write of any kind. Tool output is data, cut to
//! [`MAX_OUTPUT`] bytes; the system prompt tells the model it is not instructions.

use std::time::Duration;

use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use actix::Addr;

use atlhyper_actors::cluster::ClusterActor;
use atlhyper_actors::command::{CommandSpec, CommandState};
use atlhyper_actors::messages::GetSnapshot;
use atlhyper_actors::model::{KeyMetrics, Kind, NodeMetricsSnapshot};
use atlhyper_actors::registry::ListClusters;
use atlhyper_query::Filter;

use super::{Caller, ProposalInput, ProposalView};
use crate::ai::{ToolCall, ToolDef};
use crate::auth::Role;
use crate::db::commands::CommandFilter;
use crate::db::events::EventFilter;
use crate::db::notify::AlertFilter;
use crate::error::ApiError;
use crate::service::commands::{self, CommandRequest, Creator, Ran};
use crate::state::AppState;

/// The most a tool result may hold, in bytes: enough for a page of objects or 200 log
/// lines, small enough that five results fit a model's context with room to answer.
pub const MAX_OUTPUT: usize = 16 * 1024;

/// Namespaces the agent tools never read (v2.1's blacklist): the control plane's own.
pub const BLOCKED_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// Most items a list tool returns.
const MAX_ITEMS: usize = 50;

/// Most log lines `pod_logs` asks for (the agent caps at 200 itself).
const MAX_LOG_LINES: i64 = 200;

/// What running one tool produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The result text given to the model (JSON text for data), at most [`MAX_OUTPUT`].
    pub content: String,
    /// False when the tool refused or failed; `content` says why.
    pub success: bool,
    /// The proposal `propose_command` stored.
    pub proposal: Option<Box<ProposalView>>,
}

/// What a tool knows about its call.
pub struct ToolCtx<'a> {
    /// The running master.
    pub state: &'a AppState,
    /// Who is chatting.
    pub caller: &'a Caller,
    /// The conversation (proposals name it).
    pub conversation_id: i32,
    /// The cluster the conversation is about, used when a call names none.
    pub cluster: Option<&'a str>,
    /// How long an agent tool waits for its command.
    pub timeout: Duration,
}

fn schema(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn cluster_prop() -> Value {
    json!({"type": "string", "description": "Cluster id; defaults to the conversation's cluster."})
}

/// The tools offered to a caller with `role` (agent tools need operator).
pub fn defs(role: Role) -> Vec<ToolDef> {
    let mut out = vec![
        ToolDef {
            name: "query",
            description: "Run a query DSL expression over the live state of the fleet. Examples: \
                pods(cluster=\"c1\", namespace=\"shop\", status=\"Running\"); \
                pods(cluster=\"*\").where(restarts > 5).sort(restarts desc).limit(10); \
                nodes(cluster=\"c1\").where(cpu_usage > 80%); deployments(cluster=\"c1\").where(unavailable_replicas > 0); \
                events(cluster=\"c1\", last=\"15m\", type=\"Warning\").group_by(reason). \
                Kinds: pods deployments statefulsets daemonsets replicasets jobs cronjobs services ingresses namespaces \
                configmaps nodes events pvs pvcs. Use .fields(a, b) to keep answers small.",
            parameters: schema(json!({"q": {"type": "string", "description": "The expression."}}), &["q"]),
        },
        ToolDef {
            name: "get_resource",
            description: "One object from the cluster's latest snapshot, in full (spec, status, containers).",
            parameters: schema(
                json!({
                    "cluster_id": cluster_prop(),
                    "kind": {"type": "string", "description": "Kind, e.g. Pod, Deployment, Service, Node, ConfigMap, Ingress."},
                    "namespace": {"type": "string", "description": "Namespace (omit for Node, Namespace, PersistentVolume)."},
                    "name": {"type": "string"}
                }),
                &["kind", "name"],
            ),
        },
        ToolDef {
            name: "events",
            description: "Kubernetes events of a cluster, newest first: live from the latest snapshot \
                (source=\"live\", the default) or persisted history (source=\"history\", kept for days).",
            parameters: schema(
                json!({
                    "cluster_id": cluster_prop(),
                    "source": {"type": "string", "enum": ["live", "history"]},
                    "type": {"type": "string", "enum": ["Normal", "Warning"]},
                    "reason": {"type": "string"},
                    "namespace": {"type": "string"},
                    "name": {"type": "string", "description": "Involved object's name (history) or a substring of the event's name (live)."},
                    "since": {"type": "string", "description": "A duration back from now, e.g. 30m, 6h."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS}
                }),
                &[],
            ),
        },
        ToolDef {
            name: "related_events",
            description: "Persisted events of one object and what it owns: a Deployment's with its \
                ReplicaSets' and Pods', a Node's, or any object's own.",
            parameters: schema(
                json!({
                    "cluster_id": cluster_prop(),
                    "kind": {"type": "string"},
                    "namespace": {"type": "string"},
                    "name": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS}
                }),
                &["kind", "name"],
            ),
        },
        ToolDef {
            name: "node_metrics",
            description: "Node CPU, memory, disk, network and temperature: the latest of every node, \
                or one node's history over the last `hours`.",
            parameters: schema(
                json!({
                    "cluster_id": cluster_prop(),
                    "node": {"type": "string"},
                    "hours": {"type": "integer", "minimum": 1, "maximum": 168, "description": "With node: history over this many hours."}
                }),
                &[],
            ),
        },
        ToolDef {
            name: "slo_status",
            description: "SLO status per domain and path: availability, p95 latency, error budget left, status.",
            parameters: schema(
                json!({
                    "cluster_id": cluster_prop(),
                    "time_range": {"type": "string", "enum": ["1h", "1d", "7d", "30d"]}
                }),
                &[],
            ),
        },
        ToolDef {
            name: "command_history",
            description: "Recent operational commands of a cluster (scale, restart, logs, …) with their state and who ran them.",
            parameters: schema(
                json!({
                    "cluster_id": cluster_prop(),
                    "status": {"type": "string", "enum": ["pending", "running", "success", "failed", "timeout", "cancelled", "expired"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS}
                }),
                &[],
            ),
        },
        ToolDef {
            name: "alerts",
            description: "Alerts, newest first: firing or resolved.",
            parameters: schema(
                json!({
                    "cluster_id": {"type": "string", "description": "Only this cluster's (default: every cluster)."},
                    "status": {"type": "string", "enum": ["firing", "resolved"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS}
                }),
                &[],
            ),
        },
    ];
    if role >= Role::Operator {
        out.push(ToolDef {
            name: "pod_logs",
            description: "The last lines of a pod's log, read by the cluster's agent (takes a few seconds).",
            parameters: schema(
                json!({
                    "cluster_id": cluster_prop(),
                    "namespace": {"type": "string"},
                    "name": {"type": "string", "description": "The pod."},
                    "container": {"type": "string"},
                    "tail_lines": {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES},
                    "previous": {"type": "boolean", "description": "The previous (crashed) container's log."}
                }),
                &["namespace", "name"],
            ),
        });
        out.push(ToolDef {
            name: "describe",
            description:
                "`kubectl describe`-like detail of one object, read live by the cluster's agent.",
            parameters: schema(
                json!({
                    "cluster_id": cluster_prop(),
                    "kind": {"type": "string"},
                    "namespace": {"type": "string"},
                    "name": {"type": "string"}
                }),
                &["kind", "name"],
            ),
        });
    }
    out.push(ToolDef {
        name: "propose_command",
        description: "Propose a change (scale, restart, update_image, cordon, uncordon) for a human operator \
            to approve. Nothing runs until an operator approves it. Always give the reason.",
        parameters: schema(
            json!({
                "cluster_id": cluster_prop(),
                "action": {"type": "string", "enum": super::PROPOSABLE},
                "namespace": {"type": "string", "description": "The Deployment's namespace (not for nodes)."},
                "name": {"type": "string", "description": "The Deployment or Node."},
                "replicas": {"type": "integer", "minimum": 0, "description": "scale: the new replica count."},
                "image": {"type": "string", "description": "update_image: the new image."},
                "container": {"type": "string", "description": "update_image: the container (default: the first)."},
                "reason": {"type": "string", "description": "Why, in one or two sentences, for the approver."}
            }),
            &["action", "name", "reason"],
        ),
    });
    out
}

/// A refusal or failure given back to the model.
struct Refusal(String);

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal(format!("{} ({})", e.message(), e.code().as_str()))
    }
}

impl From<crate::db::DbError> for Refusal {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::from(e).into()
    }
}

fn refuse(msg: impl Into<String>) -> Refusal {
    Refusal(msg.into())
}

/// Runs one call with the caller's role; never fails: a refusal is an outcome the model
/// reads.
pub async fn run(ctx: &ToolCtx<'_>, call: &ToolCall) -> Outcome {
    let allowed = defs(ctx.caller.role).iter().any(|d| d.name == call.name);
    let result = if !allowed {
        Err(refuse(format!(
            "there is no tool {:?} for this user; use one of the tools offered",
            call.name
        )))
    } else if let Some(raw) = call.arguments.get("_invalid_arguments") {
        Err(refuse(format!(
            "the arguments are not a JSON object: {}",
            raw.as_str().unwrap_or_default()
        )))
    } else {
        dispatch(ctx, call).await
    };
    match result {
        Ok(Done::Data(v)) => Outcome {
            content: cut(serde_json::to_string(&v).unwrap_or_default()),
            success: true,
            proposal: None,
        },
        Ok(Done::Text(t)) => Outcome {
            content: cut(t),
            success: true,
            proposal: None,
        },
        Ok(Done::Proposed(p)) => Outcome {
            content: cut(serde_json::to_string(&json!({
                "proposal": &p,
                "note": "Stored as a proposal; nothing ran. An operator must approve it."
            }))
            .unwrap_or_default()),
            success: true,
            proposal: Some(p),
        },
        Err(Refusal(m)) => Outcome {
            content: cut(json!({ "error": m }).to_string()),
            success: false,
            proposal: None,
        },
    }
}

enum Done {
    Data(Value),
    Text(String),
    Proposed(Box<ProposalView>),
}

/// `s` cut to [`MAX_OUTPUT`] bytes on a character boundary, saying so.
pub fn cut(mut s: String) -> String {
    if s.len() <= MAX_OUTPUT {
        return s;
    }
    let total = s.len();
    let mut end = MAX_OUTPUT - 100;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(&format!(
        "… [cut: {total} bytes in all; narrow the request, e.g. with .fields() or .limit()]"
    ));
    s
}

fn args<T: for<'de> Deserialize<'de>>(call: &ToolCall) -> Result<T, Refusal> {
    serde_json::from_value(call.arguments.clone())
        .map_err(|e| refuse(format!("invalid arguments for {}: {e}", call.name)))
}

fn limit(n: Option<usize>) -> usize {
    n.unwrap_or(20).clamp(1, MAX_ITEMS)
}

/// A cluster a call is about, resolved once: its id and its actor.
struct Target {
    id: String,
    addr: Addr<ClusterActor>,
}

/// The cluster a call is about: its own `cluster_id`, the conversation's, or the only one.
async fn cluster(ctx: &ToolCtx<'_>, given: Option<&str>) -> Result<Target, Refusal> {
    if let Some(c) = given.filter(|c| !c.is_empty()).or(ctx.cluster) {
        let addr = ctx.state.cluster(c, false).await?;
        return Ok(Target {
            id: c.to_owned(),
            addr,
        });
    }
    let mut all = ctx
        .state
        .registry
        .send(ListClusters)
        .await
        .map_err(ApiError::from)?;
    if all.len() == 1 {
        let h = all.swap_remove(0);
        return Ok(Target {
            id: h.info.cluster_id,
            addr: h.addr,
        });
    }
    let mut ids: Vec<String> = all.into_iter().map(|h| h.info.cluster_id).collect();
    ids.sort();
    Err(refuse(format!(
        "name a cluster_id; the clusters are: {}",
        ids.join(", ")
    )))
}

fn parse_kind(s: &str) -> Result<Kind, Refusal> {
    let k = s
        .parse::<Kind>()
        .ok()
        .or_else(|| Kind::from_plural(&s.to_ascii_lowercase()))
        .ok_or_else(|| refuse(format!("unknown kind {s:?}")))?;
    if k == Kind::Secret {
        return Err(refuse(
            "Secrets are not available to the assistant, nor their values",
        ));
    }
    Ok(k)
}

fn not_blocked(namespace: &str) -> Result<(), Refusal> {
    if BLOCKED_NAMESPACES.contains(&namespace) {
        return Err(refuse(format!(
            "the assistant does not read namespace {namespace} through the agent"
        )));
    }
    Ok(())
}

async fn dispatch(ctx: &ToolCtx<'_>, call: &ToolCall) -> Result<Done, Refusal> {
    match call.name.as_str() {
        "query" => query(ctx, args(call)?).await,
        "get_resource" => get_resource(ctx, args(call)?).await,
        "events" => events(ctx, args(call)?).await,
        "related_events" => related_events(ctx, args(call)?).await,
        "node_metrics" => node_metrics(ctx, args(call)?).await,
        "slo_status" => slo_status(ctx, args(call)?).await,
        "command_history" => command_history(ctx, args(call)?).await,
        "alerts" => alerts(ctx, args(call)?).await,
        "pod_logs" => pod_logs(ctx, args(call)?).await,
        "describe" => describe(ctx, args(call)?).await,
        "propose_command" => propose(ctx, args(call)?).await,
        other => Err(refuse(format!("unknown tool {other:?}"))),
    }
}

#[derive(Deserialize)]
struct QueryArgs {
    q: String,
}

async fn query(ctx: &ToolCtx<'_>, a: QueryArgs) -> Result<Done, Refusal> {
    // Secrets stay out of the assistant's reach whatever the caller's role.
    if atlhyper_query::compile(&a.q).is_ok_and(|p| p.kind == Kind::Secret) {
        return Err(refuse("Secrets are not available to the assistant"));
    }
    let bytes = crate::service::query::run(ctx.state, &a.q, ctx.caller.role).await?;
    Ok(Done::Text(String::from_utf8_lossy(&bytes).into_owned()))
}

#[derive(Deserialize)]
struct ObjectArgs {
    cluster_id: Option<String>,
    kind: String,
    #[serde(default)]
    namespace: String,
    name: String,
    limit: Option<usize>,
}

async fn get_resource(ctx: &ToolCtx<'_>, a: ObjectArgs) -> Result<Done, Refusal> {
    let kind = parse_kind(&a.kind)?;
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let cluster = target.id.as_str();
    let ns = if kind.is_namespaced() {
        a.namespace.as_str()
    } else {
        ""
    };
    let addr = &target.addr;
    let snap = addr.send(GetSnapshot).await.map_err(ApiError::from)?;
    let snap = snap.ok_or_else(|| refuse(format!("cluster {cluster} has sent no snapshot yet")))?;
    crate::service::resources::find(&snap.snapshot, kind, ns, &a.name)
        .map(Done::Data)
        .ok_or_else(|| {
            refuse(format!(
                "no {kind} {}{} in cluster {cluster}",
                if ns.is_empty() {
                    String::new()
                } else {
                    format!("{ns}/")
                },
                a.name
            ))
        })
}

#[derive(Deserialize)]
struct EventArgs {
    cluster_id: Option<String>,
    source: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    reason: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

async fn events(ctx: &ToolCtx<'_>, a: EventArgs) -> Result<Done, Refusal> {
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let cluster = target.id.as_str();
    let since = match &a.since {
        Some(s) => {
            let d = crate::config::parse_duration(s).map_err(|e| refuse(format!("since: {e}")))?;
            let d = chrono::Duration::from_std(d).map_err(|_| refuse("since: too long"))?;
            Some(Utc::now() - d)
        }
        None => None,
    };
    let n = limit(a.limit);
    match a.source.as_deref().unwrap_or("live") {
        "live" => {
            let addr = &target.addr;
            let Some(snap) = addr.send(GetSnapshot).await.map_err(ApiError::from)? else {
                return Ok(Done::Data(json!({"events": [], "note": "no snapshot yet"})));
            };
            let f = Filter {
                namespace: a.namespace,
                name: a.name,
                event_type: a.type_,
                reason: a.reason,
                since,
                ..Filter::default()
            };
            let mut hits: Vec<_> = snap
                .snapshot
                .events
                .iter()
                .filter(|e| f.matches(*e))
                .collect();
            hits.sort_by_key(|e| std::cmp::Reverse(e.last_seen()));
            let total = hits.len();
            hits.truncate(n);
            Ok(Done::Data(
                json!({"source": "live", "total": total, "events": hits}),
            ))
        }
        "history" => {
            let filter = EventFilter {
                event_type: a.type_,
                reason: a.reason,
                namespace: a.namespace,
                name: a.name,
                since,
                ..EventFilter::default()
            };
            let (rows, total) = ctx.state.db.events().list(cluster, filter, n, 0).await?;
            let events: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
            Ok(Done::Data(
                json!({"source": "history", "total": total, "events": events}),
            ))
        }
        other => Err(refuse(format!("source {other:?}: live or history"))),
    }
}

async fn related_events(ctx: &ToolCtx<'_>, a: ObjectArgs) -> Result<Done, Refusal> {
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let cluster = target.id.as_str();
    let addr = &target.addr;
    let snap = addr.send(GetSnapshot).await.map_err(ApiError::from)?;
    let filter = crate::service::events::related_filter(
        snap.as_ref().map(|l| &*l.snapshot),
        &a.kind,
        &a.namespace,
        &a.name,
    );
    let (rows, total) = ctx
        .state
        .db
        .events()
        .list(cluster, filter, limit(a.limit), 0)
        .await?;
    let events: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
    Ok(Done::Data(json!({"total": total, "events": events})))
}

#[derive(Deserialize)]
struct MetricsArgs {
    cluster_id: Option<String>,
    node: Option<String>,
    hours: Option<i64>,
}

/// Most history points returned: a day at the default sampling, enough to see a trend.
const MAX_POINTS: usize = 96;

async fn node_metrics(ctx: &ToolCtx<'_>, a: MetricsArgs) -> Result<Done, Refusal> {
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let cluster = target.id.as_str();
    let db = ctx.state.db.node_metrics();
    if let (Some(node), Some(hours)) = (&a.node, a.hours) {
        let hours = hours.clamp(1, 168);
        let since = crate::db::to_db(Utc::now() - chrono::Duration::hours(hours));
        let points = db.history(cluster, node, since).await?;
        let step = points.len().div_ceil(MAX_POINTS).max(1);
        let series: Vec<Value> = points
            .iter()
            .step_by(step)
            .map(|p| {
                json!({
                    "at": chrono::DateTime::from_timestamp_millis(p.timestamp_ms),
                    "cpu": round1(p.cpu_usage), "mem": round1(p.mem_usage),
                    "disk": round1(p.disk_usage), "temp": round1(p.temperature),
                })
            })
            .collect();
        return Ok(Done::Data(
            json!({"node": node, "hours": hours, "points": points.len(), "series": series}),
        ));
    }
    let mut nodes = Vec::new();
    for (name, text) in db.list_latest(cluster).await? {
        if a.node.as_deref().is_some_and(|n| n != name) {
            continue;
        }
        let Ok(m) = serde_json::from_str::<NodeMetricsSnapshot>(&text) else {
            continue;
        };
        let k = KeyMetrics::of(&m);
        nodes.push(json!({
            "node": name, "cpu_percent": round1(k.cpu), "memory_percent": round1(k.mem),
            "disk_percent": round1(k.disk), "temperature_c": round1(k.temp),
            "rx_bytes_per_s": k.rx.round(), "tx_bytes_per_s": k.tx.round(),
        }));
    }
    Ok(Done::Data(json!({"cluster_id": cluster, "nodes": nodes})))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[derive(Deserialize)]
struct SloArgs {
    cluster_id: Option<String>,
    time_range: Option<String>,
}

async fn slo_status(ctx: &ToolCtx<'_>, a: SloArgs) -> Result<Done, Refusal> {
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let cluster = target.id.as_str();
    let range = crate::service::slo::parse_range(a.time_range.as_deref())
        .map_err(|e| refuse(e.to_string()))?;
    let view = crate::service::slo::domains(
        &ctx.state.db,
        &ctx.state.settings,
        cluster,
        range,
        Utc::now(),
    )
    .await
    .map_err(|e| refuse(e.to_string()))?;
    Ok(Done::Data(serde_json::to_value(view).unwrap_or_default()))
}

#[derive(Deserialize)]
struct HistoryArgs {
    cluster_id: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

/// Longest command output shown in `command_history`.
const HISTORY_OUTPUT: usize = 500;

async fn command_history(ctx: &ToolCtx<'_>, a: HistoryArgs) -> Result<Done, Refusal> {
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let cluster = target.id.as_str();
    let status = match a.status.as_deref() {
        Some(s) => vec![s
            .parse::<CommandState>()
            .map_err(|e| refuse(e.to_string()))?],
        None => Vec::new(),
    };
    let (rows, total) = ctx
        .state
        .db
        .commands()
        .list(
            Some(cluster),
            CommandFilter {
                status,
                ..CommandFilter::default()
            },
            limit(a.limit) as i64,
            0,
        )
        .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let output = if commands::output_is_secret(&r) {
                None
            } else {
                r.output
                    .map(|o| o.chars().take(HISTORY_OUTPUT).collect::<String>())
            };
            json!({
                "command_id": r.command_id, "action": r.action, "kind": r.target_kind,
                "namespace": r.target_namespace, "name": r.target_name, "status": r.status,
                "source": r.source, "created_by": r.created_by,
                "created_at": crate::db::from_db(r.created_at), "error": r.error_message,
                "output": output,
            })
        })
        .collect();
    Ok(Done::Data(json!({"total": total, "commands": items})))
}

#[derive(Deserialize)]
struct AlertArgs {
    cluster_id: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

async fn alerts(ctx: &ToolCtx<'_>, a: AlertArgs) -> Result<Done, Refusal> {
    if let Some(s) = a.status.as_deref() {
        if s != "firing" && s != "resolved" {
            return Err(refuse("status: firing or resolved"));
        }
    }
    let (rows, total) = crate::service::notify::list_alerts(
        &ctx.state.db,
        AlertFilter {
            status: a.status,
            cluster_id: a.cluster_id,
            ..AlertFilter::default()
        },
        limit(a.limit) as i64,
        0,
    )
    .await
    .map_err(|e| refuse(e.to_string()))?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "rule": r.rule_name, "cluster_id": r.cluster_id, "severity": r.severity,
                "status": r.status, "title": r.title, "message": r.message,
                "resource": format!("{}/{}/{}", r.resource_kind, r.resource_namespace, r.resource_name),
                "value": r.value, "fired_at": crate::db::from_db(r.fired_at),
                "resolved_at": r.resolved_at.map(crate::db::from_db),
            })
        })
        .collect();
    Ok(Done::Data(json!({"total": total, "alerts": items})))
}

#[derive(Deserialize)]
struct LogArgs {
    cluster_id: Option<String>,
    namespace: String,
    name: String,
    container: Option<String>,
    tail_lines: Option<i64>,
    previous: Option<bool>,
}

async fn pod_logs(ctx: &ToolCtx<'_>, a: LogArgs) -> Result<Done, Refusal> {
    not_blocked(&a.namespace)?;
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let mut params = serde_json::Map::new();
    // The agent reads `tailLines` (v2.1's AI path sent `tail_lines`, which it ignored).
    params.insert(
        "tailLines".into(),
        json!(a.tail_lines.unwrap_or(100).clamp(1, MAX_LOG_LINES)),
    );
    if let Some(c) = a.container.filter(|c| !c.is_empty()) {
        params.insert("container".into(), json!(c));
    }
    if a.previous == Some(true) {
        params.insert("previous".into(), json!(true));
    }
    let out = agent(
        ctx,
        &target,
        "get_logs",
        "Pod",
        &a.namespace,
        &a.name,
        params,
    )
    .await?;
    Ok(Done::Text(out))
}

async fn describe(ctx: &ToolCtx<'_>, a: ObjectArgs) -> Result<Done, Refusal> {
    let kind = parse_kind(&a.kind)?;
    let ns = if kind.is_namespaced() {
        a.namespace.as_str()
    } else {
        ""
    };
    not_blocked(ns)?;
    if kind == Kind::Namespace {
        not_blocked(&a.name)?;
    }
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let mut params = serde_json::Map::new();
    params.insert("command".into(), json!("describe"));
    params.insert("kind".into(), json!(kind.as_str()));
    let out = agent(ctx, &target, "dynamic", kind.as_str(), ns, &a.name, params).await?;
    Ok(Done::Text(out))
}

/// Sends a read-only command on the `ai` topic and waits for its result.
async fn agent(
    ctx: &ToolCtx<'_>,
    target: &Target,
    action: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    params: serde_json::Map<String, Value>,
) -> Result<String, Refusal> {
    let state = ctx.state;
    let (cluster, addr) = (target.id.as_str(), &target.addr);
    let ran = commands::run(
        &state.db,
        addr,
        CommandRequest {
            cluster_id: cluster.to_owned(),
            action: action.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            params,
            topic: Some("ai".into()),
        },
        Creator {
            user_id: ctx.caller.user_id,
            username: ctx.caller.username.clone(),
        },
        ctx.timeout,
        state.shutting_down(),
    )
    .await
    .map_err(|e| refuse(e.to_string()))?;
    match ran {
        Ran::NotPickedUp(_) => Err(refuse(format!(
            "the agent of {cluster} did not pick the request up within {} s (is it polling the ai topic?)",
            ctx.timeout.as_secs()
        ))),
        Ran::StillRunning(row) => Err(refuse(format!(
            "the agent did not answer within {} s (command {})",
            ctx.timeout.as_secs(),
            row.command_id
        ))),
        Ran::Final(row) => match row.state() {
            Ok(CommandState::Success) => Ok(row.output.unwrap_or_default()),
            Ok(s) => Err(refuse(format!(
                "the agent's {action} {s}: {}",
                row.error_message.unwrap_or_default()
            ))),
            Err(e) => Err(e.into()),
        },
    }
}

#[derive(Deserialize)]
struct ProposeArgs {
    cluster_id: Option<String>,
    action: String,
    #[serde(default)]
    namespace: String,
    name: String,
    replicas: Option<i64>,
    image: Option<String>,
    container: Option<String>,
    reason: String,
}

async fn propose(ctx: &ToolCtx<'_>, a: ProposeArgs) -> Result<Done, Refusal> {
    let target = cluster(ctx, a.cluster_id.as_deref()).await?;
    let cluster = target.id.as_str();
    let mut params = serde_json::Map::new();
    if let Some(r) = a.replicas {
        params.insert("replicas".into(), json!(r));
    }
    if let Some(i) = a.image {
        params.insert("image".into(), json!(i));
    }
    if let Some(c) = a.container.filter(|c| !c.is_empty()) {
        params.insert("container".into(), json!(c));
    }
    let spec = CommandSpec {
        action: a.action,
        kind: String::new(),
        namespace: a.namespace,
        name: a.name,
        params,
    };
    let p = super::propose(
        ctx.state,
        ctx.caller,
        ctx.conversation_id,
        ProposalInput {
            cluster_id: cluster.to_owned(),
            spec,
            reason: a.reason,
        },
    )
    .await
    .map_err(|e| refuse(e.to_string()))?;
    Ok(Done::Proposed(Box::new(p)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_viewer_is_not_offered_agent_tools() {
        let names = |r| defs(r).iter().map(|d| d.name).collect::<Vec<_>>();
        assert!(!names(Role::Viewer).contains(&"pod_logs"));
        assert!(!names(Role::Viewer).contains(&"describe"));
        assert!(names(Role::Operator).contains(&"pod_logs"));
        assert!(names(Role::Viewer).contains(&"propose_command"));
        for d in defs(Role::Admin) {
            assert_eq!(d.parameters["type"], "object", "{}", d.name);
        }
    }

    #[test]
    fn long_output_is_cut_on_a_character_boundary() {
        let s = "é".repeat(MAX_OUTPUT);
        let c = cut(s);
        assert!(c.len() <= MAX_OUTPUT);
        assert!(c.contains("[cut: "));
        assert_eq!(cut("short".into()), "short");
    }

    #[test]
    fn secrets_are_no_kind_for_the_assistant() {
        assert!(parse_kind("Secret").is_err());
        assert!(parse_kind("secrets").is_err());
        assert_eq!(parse_kind("pods").ok(), Some(Kind::Pod));
        assert_eq!(parse_kind("Deployment").ok(), Some(Kind::Deployment));
    }
}
