//! The query DSL over the live fleet (`spec/api.md`, "Query DSL"): compile the text
//! (`atlhyper_query`), pick the clusters, take each cluster's latest snapshot from its actor
//! (a shared pointer: the actor is held for the time of one message, never for the
//! query), run the plan on the clusters in parallel on the blocking pool, merge, and write
//! the reply with a hard cap on its size.
//!
//! `events(history=true)` reads the persisted events of each cluster instead, with the
//! arguments pushed down to the database, at most [`HISTORY_SCAN`] newest per cluster.
//!
//! The HTTP handler and the AI assistant's tool both call [`run`], with the caller's role.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use atlhyper_actors::messages::{GetSnapshot, LatestSnapshot};
use atlhyper_actors::model::Kind;
use atlhyper_actors::registry::{ClusterHandle, ListClusters};
use atlhyper_query::{Clusters, Partial, Plan, QueryError};

use crate::auth::Role;
use crate::db::events::EventFilter;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The largest reply, in bytes; past it the query is refused (413) and should be narrowed
/// with a filter, `.fields()` or `.limit()`.
pub const MAX_REPLY_BYTES: usize = 8 * 1024 * 1024;
/// How many persisted events per cluster `events(history=true)` reads at most (newest
/// first) before `.where()` runs on them.
pub const HISTORY_SCAN: usize = 10_000;
/// How many persisted events one `events(history=true)` reads at most over all its
/// clusters (each reads this divided by their number, at least 100 and at most
/// [`HISTORY_SCAN`]).
pub const HISTORY_BUDGET: usize = 100_000;

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Syntax { position, message } => {
                ApiError::bad_request(ErrorCode::QuerySyntax, message)
                    .with_extra(serde_json::json!({ "position": position }))
            }
            QueryError::Invalid {
                position,
                message,
                hint,
            } => ApiError::bad_request(ErrorCode::QueryInvalid, message)
                .with_extra(serde_json::json!({ "position": position, "hint": hint })),
        }
    }
}

/// Runs one query for a caller with `role`; the reply's JSON.
pub async fn run(state: &AppState, text: &str, role: Role) -> Result<Vec<u8>, ApiError> {
    let now = Utc::now();
    let mut plan = atlhyper_query::compile(text)?;
    plan.at(now);
    if plan.kind == Kind::Secret && role < Role::Operator {
        return Err(ApiError::forbidden(
            ErrorCode::Forbidden,
            "secrets need the operator role",
        ));
    }
    let clusters = pick(state, &plan).await?;
    if plan.changes {
        return changes(state, plan, clusters, now, role).await;
    }
    if plan.history {
        return history(state, plan, clusters, now).await;
    }
    // One message per actor, all in flight together; each answers with its Arc. An actor
    // that stopped in between (its cluster just forgotten) counts as no snapshot.
    let latest: Vec<Option<LatestSnapshot>> =
        futures_util::future::join_all(clusters.iter().map(|h| h.addr.send(GetSnapshot)))
            .await
            .into_iter()
            .map(|r| r.ok().flatten())
            .collect();
    let ids: Vec<String> = clusters.into_iter().map(|h| h.info.cluster_id).collect();
    let plan = Arc::new(plan);
    // Each evaluation spreads over the cores; a few at once keep the threads bounded.
    let _slot = SLOTS.acquire().await.map_err(ApiError::internal)?;
    actix_web::web::block(move || live(&plan, &ids, &latest, now))
        .await
        .map_err(ApiError::internal)?
}

/// How many queries are evaluated at once (each on up to one thread per core); the others
/// wait their turn.
const CONCURRENT_QUERIES: usize = 4;

static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_QUERIES);

/// The clusters the query names, in id order.
async fn pick(state: &AppState, plan: &Plan) -> Result<Vec<ClusterHandle>, ApiError> {
    let mut all = state.registry.send(ListClusters).await?;
    all.sort_by(|a, b| a.info.cluster_id.cmp(&b.info.cluster_id));
    match &plan.clusters {
        Clusters::All => Ok(all),
        Clusters::Unspecified if all.len() <= 1 => Ok(all),
        Clusters::Unspecified => Err(ApiError::bad_request(
            ErrorCode::QueryInvalid,
            format!(
                "the master holds {} clusters: name one with cluster=\"<id>\", several with \
                 cluster=[\"a\",\"b\"], or all with cluster=\"*\"",
                all.len()
            ),
        )
        .with_extra(serde_json::json!({ "position": 0, "hint": "cluster" }))),
        Clusters::Named(names) => {
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let Some(i) = all.iter().position(|h| &h.info.cluster_id == name) else {
                    return Err(ApiError::not_found(
                        ErrorCode::ClusterNotFound,
                        format!("cluster {name:?} is unknown"),
                    ));
                };
                out.push(all.swap_remove(i));
            }
            out.sort_by(|a, b| a.info.cluster_id.cmp(&b.info.cluster_id));
            Ok(out)
        }
    }
}

/// Runs the plan on every snapshot (split over the cores), merges and writes the reply.
fn live(
    plan: &Plan,
    ids: &[String],
    latest: &[Option<LatestSnapshot>],
    now: DateTime<Utc>,
) -> Result<Vec<u8>, ApiError> {
    let run = |i: usize| match &latest[i] {
        Some(l) => plan.run_snapshot(&ids[i], &l.snapshot, now),
        None => Partial::default(),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(ids.len().div_ceil(8))
        .max(1);
    let mut parts: Vec<Partial> = if threads == 1 {
        (0..ids.len()).map(run).collect()
    } else {
        let chunk = ids.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let run = &run;
                    s.spawn(move || {
                        (t * chunk..((t + 1) * chunk).min(ids.len()))
                            .map(run)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut parts = Vec::with_capacity(ids.len());
            for h in handles {
                // A worker that panicked would misalign the parts with the clusters.
                parts.extend(
                    h.join()
                        .map_err(|_| ApiError::internal("a query worker failed"))?,
                );
            }
            Ok::<_, ApiError>(parts)
        })?
    };
    let merged = plan.merge(&mut parts);
    let mut w = Reply::new(plan, ids.len());
    if !plan.is_count() && !plan.is_groups() {
        for (part, index) in merged.picks.iter().copied() {
            if let Some(l) = &latest[part] {
                w.item(|out| plan.render(&ids[part], &l.snapshot, index, now, out))?;
            }
        }
    }
    w.finish(plan, &merged)
}

/// `events(history=true)`: the persisted events of each cluster.
async fn history(
    state: &AppState,
    plan: Plan,
    clusters: Vec<ClusterHandle>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, ApiError> {
    // The database compares exactly: the two event types are given their stored spelling
    // (the live filter ignores case); reasons are matched as stored.
    let event_type = plan.filter.event_type.as_deref().map(|t| {
        ["Normal", "Warning"]
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(t))
            .unwrap_or(t)
            .to_owned()
    });
    let filter = EventFilter {
        event_type,
        reason: plan.filter.reason.clone(),
        namespace: plan.filter.namespace.clone(),
        since: plan.filter.since,
        ..EventFilter::default()
    };
    let ids: Vec<String> = clusters.into_iter().map(|h| h.info.cluster_id).collect();
    // One budget for the whole query, split over the clusters, read a few at a time.
    let per_cluster = (HISTORY_BUDGET / ids.len().max(1)).clamp(100, HISTORY_SCAN);
    let events = state.db.events();
    use futures_util::StreamExt as _;
    let pages: Vec<(Vec<crate::db::events::EventRow>, usize)> = futures_util::stream::iter(
        ids.iter()
            .map(|id| events.list(id, filter.clone(), per_cluster, 0)),
    )
    .buffered(4)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<_, _>>()?;
    let _slot = SLOTS.acquire().await.map_err(ApiError::internal)?;
    actix_web::web::block(move || {
        let stored: usize = pages.iter().map(|(_, total)| total).sum();
        let rows: Vec<Vec<serde_json::Value>> = pages
            .into_iter()
            .map(|(rows, _)| rows.iter().map(|r| r.to_json()).collect())
            .collect();
        let scanned: usize = rows.iter().map(Vec::len).sum();
        let mut parts: Vec<Partial> = ids
            .iter()
            .zip(&rows)
            .map(|(id, r)| plan.run_values(id, r, now))
            .collect();
        let mut merged = plan.merge(&mut parts);
        if !plan.has_condition() {
            // Without a condition every stored match counts, read or not.
            merged.total = stored;
        }
        let mut w = Reply::new(&plan, ids.len());
        if !plan.is_count() && !plan.is_groups() {
            for (part, index) in merged.picks.iter().copied() {
                w.item(|out| plan.render_value(&ids[part], &rows[part][index], now, out))?;
            }
        }
        w.scanned = Some((scanned, stored > scanned));
        w.finish(&plan, &merged)
    })
    .await
    .map_err(ApiError::internal)?
}

/// `changes(...)`: the change history of each cluster, newest first, with `namespace`,
/// `type` (the change type) and `last` pushed down to the database and `name` matched as
/// a substring, as everywhere in the DSL. Periodic snapshots are retention markers, not
/// changes: only `type="periodic_snapshot"` reads them. Secrets' changes need the
/// operator role, as `secrets(...)` does.
async fn changes(
    state: &AppState,
    plan: Plan,
    clusters: Vec<ClusterHandle>,
    now: DateTime<Utc>,
    role: Role,
) -> Result<Vec<u8>, ApiError> {
    let filter = crate::db::changes::ChangeFilter {
        namespace: plan.filter.namespace.clone(),
        change_type: plan.filter.event_type.clone(),
        since: plan.filter.since,
        // Secrets' changes are for operators, as `secrets(...)` is.
        hide_secrets: role < Role::Operator,
        ..Default::default()
    };
    let ids: Vec<String> = clusters.into_iter().map(|h| h.info.cluster_id).collect();
    let per_cluster = (HISTORY_BUDGET / ids.len().max(1)).clamp(100, HISTORY_SCAN);
    let db = state.db.changes();
    use futures_util::StreamExt as _;
    let pages: Vec<(Vec<crate::db::changes::ChangeRow>, usize)> = futures_util::stream::iter(
        ids.iter()
            .map(|id| db.list(id.clone(), filter.clone(), per_cluster, 0)),
    )
    .buffered(4)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<_, _>>()?;
    let name = plan.filter.name.clone();
    let _slot = SLOTS.acquire().await.map_err(ApiError::internal)?;
    actix_web::web::block(move || {
        let (mut stored, mut read) = (0, 0);
        let rows: Vec<Vec<serde_json::Value>> = pages
            .into_iter()
            .map(|(rows, total)| {
                stored += total;
                read += rows.len();
                rows.iter()
                    .filter(|r| name.as_deref().is_none_or(|n| r.name.contains(n)))
                    .map(|r| r.to_json())
                    .collect()
            })
            .collect();
        let mut parts: Vec<Partial> = ids
            .iter()
            .zip(&rows)
            .map(|(id, r)| plan.run_values(id, r, now))
            .collect();
        let merged = plan.merge(&mut parts);
        let mut w = Reply::new(&plan, ids.len());
        if !plan.is_count() && !plan.is_groups() {
            for (part, index) in merged.picks.iter().copied() {
                w.item(|out| plan.render_value(&ids[part], &rows[part][index], now, out))?;
            }
        }
        w.scanned = Some((read, stored > read));
        w.finish(&plan, &merged)
    })
    .await
    .map_err(ApiError::internal)?
}

/// The reply under construction, bounded by [`MAX_REPLY_BYTES`].
struct Reply {
    out: Vec<u8>,
    items: usize,
    /// `history=true`: the persisted events read, and whether more matched the arguments
    /// than were read (then `.where()`, `.count()` with a condition and `.group_by()` saw
    /// only the newest).
    scanned: Option<(usize, bool)>,
}

impl Reply {
    fn new(plan: &Plan, clusters: usize) -> Self {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"kind\":\"");
        out.extend_from_slice(plan.source().as_bytes());
        out.extend_from_slice(b"\",\"clusters\":");
        out.extend_from_slice(clusters.to_string().as_bytes());
        if !plan.is_count() && !plan.is_groups() {
            out.extend_from_slice(b",\"items\":[");
        }
        Reply {
            out,
            items: 0,
            scanned: None,
        }
    }

    fn item(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), ApiError> {
        if self.items > 0 {
            self.out.push(b',');
        }
        self.items += 1;
        write(&mut self.out);
        if self.out.len() > MAX_REPLY_BYTES {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::QueryTooLarge,
                format!(
                    "the reply would exceed {} MiB after {} items: narrow the query with a \
                     filter, .fields() or .limit()",
                    MAX_REPLY_BYTES / (1024 * 1024),
                    self.items - 1
                ),
            ));
        }
        Ok(())
    }

    fn finish(mut self, plan: &Plan, merged: &atlhyper_query::Merged) -> Result<Vec<u8>, ApiError> {
        if merged.too_many_groups {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::QueryTooLarge,
                format!(
                    "the field takes more than {} distinct values: group by a field with fewer \
                     values, or filter first",
                    atlhyper_query::MAX_GROUPS
                ),
            ));
        }
        let tail = if plan.is_count() {
            serde_json::json!({ "count": merged.total })
        } else if plan.is_groups() {
            let groups: Vec<serde_json::Value> = merged
                .groups
                .iter()
                .map(|(value, count)| serde_json::json!({ "value": value, "count": count }))
                .collect();
            serde_json::json!({ "groups": groups, "total": merged.total, "limit": plan.limit })
        } else {
            self.out.push(b']');
            serde_json::json!({ "total": merged.total, "limit": plan.limit })
        };
        let mut tail = tail;
        if let (Some((scanned, truncated)), Some(o)) = (self.scanned, tail.as_object_mut()) {
            o.insert("scanned".into(), scanned.into());
            o.insert("truncated".into(), truncated.into());
        }
        // `{"a":1,"b":2}` appended as `,"a":1,"b":2}`.
        let tail = tail.to_string();
        self.out.push(b',');
        self.out.extend_from_slice(&tail.as_bytes()[1..]);
        Ok(self.out)
    }
}
