//! The `cluster_events` and `event_resource_snapshot` tables (seed 000 §9.2.7).
//!
//! Rows are keyed by (cluster, event uid). `count` and `last_timestamp` are overwritten
//! with the agent's values, never summed; `first_timestamp` keeps the first stored value.

use super::MultiBackend;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use std::sync::Arc;

use super::schema::{cluster_events as ce, event_resource_snapshot as ers};
use super::{from_db, on_engine, DbConn, DbError};

/// Rows per multi-row `INSERT`: 17 bound columns each, well under SQLite's 32,766
/// variables, and large enough that statement overhead stays negligible.
const UPSERT_CHUNK: usize = 500;

/// Ids per `IN (...)` list when looking rows up by uid (same variable limit).
const LOOKUP_CHUNK: usize = 5_000;

/// One event as written.
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = ce)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewEvent {
    /// Kubernetes event uid.
    pub event_uid: String,
    /// The cluster.
    pub cluster_id: String,
    /// Event namespace.
    pub namespace: String,
    /// Event name.
    pub name: String,
    /// Normal or Warning.
    #[diesel(column_name = type_)]
    pub event_type: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// Reporting component.
    pub source_component: String,
    /// Reporting host.
    pub source_host: String,
    /// Kind of the involved object.
    pub involved_kind: String,
    /// Name of the involved object.
    pub involved_name: String,
    /// Namespace of the involved object.
    pub involved_namespace: String,
    /// Uid of the involved object.
    pub involved_uid: String,
    /// First occurrence; `None` when the agent sent Go's zero time.
    pub first_timestamp: Option<NaiveDateTime>,
    /// Last occurrence (the event's creation time when the agent sent zero).
    pub last_timestamp: NaiveDateTime,
    /// Occurrence count, as the agent reported it.
    pub count: i32,
    /// When the row was first written.
    pub created_at: NaiveDateTime,
    /// When the row was last written.
    pub updated_at: NaiveDateTime,
}

/// The involved object of a Warning event, as seen in the snapshot that brought the event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResourceSnapshot {
    /// The event it belongs to.
    pub event_uid: String,
    /// Kind of the object.
    pub resource_kind: String,
    /// Name of the object.
    pub resource_name: String,
    /// Namespace of the object.
    pub resource_namespace: String,
    /// Uid of the object.
    pub resource_uid: String,
    /// The object as JSON.
    pub snapshot_data: String,
}

/// Writes one persister plan in one transaction: the cluster row, the events, the
/// involved-object copies.
pub fn write_plan(
    conn: &mut DbConn,
    cluster: &str,
    received_at: chrono::DateTime<chrono::Utc>,
    rows: &[NewEvent],
    resources: &[NewResourceSnapshot],
) -> Result<usize, DbError> {
    conn.transaction::<_, DbError, _>(|c| {
        super::clusters::register(c, cluster, received_at)?;
        let n = upsert(c, rows)?;
        if !resources.is_empty() {
            store_resource_snapshots(c, cluster, resources, super::to_db(received_at))?;
        }
        Ok(n)
    })
}

/// Upserts `rows` (all of one cluster or not) by (cluster, uid). Call inside a transaction.
pub fn upsert(conn: &mut DbConn, rows: &[NewEvent]) -> Result<usize, DbError> {
    let mut n = 0;
    for chunk in rows.chunks(UPSERT_CHUNK) {
        n += on_engine!(conn, |c| diesel::insert_into(ce::table)
            .values(chunk)
            .on_conflict((ce::cluster_id, ce::event_uid))
            .do_update()
            .set((
                ce::count.eq(excluded(ce::count)),
                ce::last_timestamp.eq(excluded(ce::last_timestamp)),
                ce::message.eq(excluded(ce::message)),
                ce::reason.eq(excluded(ce::reason)),
                ce::updated_at.eq(excluded(ce::updated_at)),
            ))
            .execute(c))?;
    }
    Ok(n)
}

/// Stores the involved-object snapshots of `cluster`'s events that have none yet.
pub fn store_resource_snapshots(
    conn: &mut DbConn,
    cluster: &str,
    snaps: &[NewResourceSnapshot],
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    let mut n = 0;
    for chunk in snaps.chunks(LOOKUP_CHUNK) {
        let uids: Vec<&str> = chunk.iter().map(|s| s.event_uid.as_str()).collect();
        let ids: Vec<(String, i32)> = ce::table
            .filter(ce::cluster_id.eq(cluster))
            .filter(ce::event_uid.eq_any(&uids))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                ers::table.filter(ers::event_id.eq(ce::id)),
            )))
            .select((ce::event_uid, ce::id))
            .load(conn)?;
        let ids: std::collections::HashMap<String, i32> = ids.into_iter().collect();
        for s in chunk {
            if let Some(id) = ids.get(&s.event_uid) {
                n += diesel::insert_into(ers::table)
                    .values((
                        ers::event_id.eq(id),
                        ers::resource_kind.eq(&s.resource_kind),
                        ers::resource_name.eq(&s.resource_name),
                        ers::resource_namespace.eq(&s.resource_namespace),
                        ers::resource_uid.eq(&s.resource_uid),
                        ers::snapshot_data.eq(&s.snapshot_data),
                        ers::created_at.eq(at),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(n)
}

/// What was last written per event: `(cluster, uid, count, last_timestamp)` of every row.
pub fn written_state(
    conn: &mut DbConn,
) -> Result<Vec<(String, String, i32, NaiveDateTime)>, DbError> {
    Ok(ce::table
        .select((ce::cluster_id, ce::event_uid, ce::count, ce::last_timestamp))
        .load(conn)?)
}

/// One stored event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ce)]
pub struct EventRow {
    /// Kubernetes event uid.
    pub event_uid: String,
    /// The cluster.
    pub cluster_id: String,
    /// Event namespace.
    pub namespace: String,
    /// Event name.
    pub name: String,
    /// Normal or Warning.
    #[diesel(column_name = type_)]
    pub event_type: String,
    /// Reason.
    pub reason: String,
    /// Message.
    pub message: String,
    /// Reporting component.
    pub source_component: String,
    /// Reporting host.
    pub source_host: String,
    /// Involved kind.
    pub involved_kind: String,
    /// Involved name.
    pub involved_name: String,
    /// Involved namespace.
    pub involved_namespace: String,
    /// Involved uid.
    pub involved_uid: String,
    /// First occurrence.
    pub first_timestamp: Option<NaiveDateTime>,
    /// Last occurrence.
    pub last_timestamp: NaiveDateTime,
    /// Occurrence count.
    pub count: i32,
}

fn rfc3339(t: NaiveDateTime) -> String {
    from_db(t).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl EventRow {
    /// The API item of `spec/api.md` ("Events"); also what the query DSL's
    /// `events(history=true)` returns, whose field list
    /// ([`atlhyper_query::HISTORY_EVENT_FIELDS`]) a test holds to these keys.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "event_uid": self.event_uid,
            "cluster_id": self.cluster_id,
            "namespace": self.namespace,
            "name": self.name,
            "type": self.event_type,
            "reason": self.reason,
            "message": self.message,
            "source_component": self.source_component,
            "source_host": self.source_host,
            "involved_kind": self.involved_kind,
            "involved_name": self.involved_name,
            "involved_namespace": self.involved_namespace,
            "involved_uid": self.involved_uid,
            "first_timestamp": self.first_timestamp.map(rfc3339),
            "last_timestamp": rfc3339(self.last_timestamp),
            "count": self.count,
        })
    }
}

/// Objects whose events are wanted: one kind, one namespace, any of these names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Involved {
    /// Involved kind.
    pub kind: String,
    /// Involved namespace (`""` for cluster-scoped objects).
    pub namespace: String,
    /// Involved names.
    pub names: Vec<String>,
}

/// The filters of `GET /clusters/{id}/events` and `/events/related`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Exact event type.
    pub event_type: Option<String>,
    /// Exact reason.
    pub reason: Option<String>,
    /// Involved kind.
    pub kind: Option<String>,
    /// Event namespace.
    pub namespace: Option<String>,
    /// Involved name.
    pub name: Option<String>,
    /// The involved Node, or the reporting host.
    pub node: Option<String>,
    /// `last_timestamp >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `last_timestamp <= until`.
    pub until: Option<DateTime<Utc>>,
    /// When set, only events of one of these objects (related queries); empty matches nothing.
    pub any_of: Option<Vec<Involved>>,
}

type Cond = super::Cond<ce::table>;

fn node_cond(node: &str) -> Cond {
    Box::new(
        ce::involved_kind
            .eq("Node")
            .and(ce::involved_name.eq(node.to_owned()))
            .or(ce::source_host.eq(node.to_owned())),
    )
}

fn involved_cond(i: &Involved) -> Cond {
    Box::new(
        ce::involved_kind
            .eq(i.kind.clone())
            .and(ce::involved_namespace.eq(i.namespace.clone()))
            .and(ce::involved_name.eq_any(i.names.clone())),
    )
}

fn filtered<'a>(cluster: &'a str, f: &EventFilter) -> ce::BoxedQuery<'a, MultiBackend> {
    let mut q = ce::table.filter(ce::cluster_id.eq(cluster)).into_boxed();
    if let Some(v) = &f.event_type {
        q = q.filter(ce::type_.eq(v.clone()));
    }
    if let Some(v) = &f.reason {
        q = q.filter(ce::reason.eq(v.clone()));
    }
    if let Some(v) = &f.kind {
        q = q.filter(ce::involved_kind.eq(v.clone()));
    }
    if let Some(v) = &f.namespace {
        q = q.filter(ce::namespace.eq(v.clone()));
    }
    if let Some(v) = &f.name {
        q = q.filter(ce::involved_name.eq(v.clone()));
    }
    if let Some(v) = &f.node {
        q = q.filter(node_cond(v));
    }
    if let Some(t) = f.since {
        q = q.filter(ce::last_timestamp.ge(super::to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(ce::last_timestamp.le(super::to_db(t)));
    }
    if let Some(any) = &f.any_of {
        q = q.filter(super::any_of(
            any.iter()
                .filter(|i| !i.names.is_empty())
                .map(involved_cond),
        ));
    }
    q
}

/// One page of `cluster`'s events, newest `last_timestamp` first, and the total matching.
pub fn list(
    conn: &mut DbConn,
    cluster: &str,
    f: &EventFilter,
    limit: usize,
    offset: usize,
) -> Result<(Vec<EventRow>, usize), DbError> {
    let total: i64 = filtered(cluster, f).count().get_result(conn)?;
    let rows = filtered(cluster, f)
        .order((ce::last_timestamp.desc(), ce::id.desc()))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .offset(i64::try_from(offset).unwrap_or(i64::MAX))
        .select(EventRow::as_select())
        .load(conn)?;
    Ok((rows, usize::try_from(total).unwrap_or(0)))
}

/// The involved kind, reason and last time of up to `cap` of `cluster`'s events matching
/// `f`, newest first: enough to count them per kind, severity and hour without loading
/// whole rows.
pub fn kind_reason_times(
    conn: &mut DbConn,
    cluster: &str,
    f: &EventFilter,
    cap: usize,
) -> Result<Vec<(String, String, NaiveDateTime)>, DbError> {
    Ok(filtered(cluster, f)
        .order((ce::last_timestamp.desc(), ce::id.desc()))
        .limit(i64::try_from(cap).unwrap_or(i64::MAX))
        .select((ce::involved_kind, ce::reason, ce::last_timestamp))
        .load(conn)?)
}

/// Stored Kubernetes events and their involved-object copies. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Events<'a>(pub(super) &'a super::Db);

impl Events<'_> {
    /// Writes one persister plan in one transaction (see [`write_plan`]).
    pub async fn write_plan(
        &self,
        cluster: Arc<str>,
        received_at: chrono::DateTime<chrono::Utc>,
        rows: Vec<NewEvent>,
        resources: Vec<NewResourceSnapshot>,
    ) -> Result<usize, DbError> {
        self.0
            .write(move |c| write_plan(c, &cluster, received_at, &rows, &resources))
            .await
    }

    /// What was last written per event (the persister's state after a restart).
    pub async fn written_state(
        &self,
    ) -> Result<Vec<(String, String, i32, NaiveDateTime)>, DbError> {
        self.0.read(written_state).await
    }

    /// One page of a cluster's events and the total matching.
    pub async fn list(
        &self,
        cluster: &str,
        filter: EventFilter,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<EventRow>, usize), DbError> {
        let cluster = cluster.to_owned();
        self.0
            .read(move |c| list(c, &cluster, &filter, limit, offset))
            .await
    }

    /// See [`kind_reason_times`].
    pub async fn kind_reason_times(
        &self,
        cluster: &str,
        filter: EventFilter,
        cap: usize,
    ) -> Result<Vec<(String, String, NaiveDateTime)>, DbError> {
        let cluster = cluster.to_owned();
        self.0
            .read(move |c| kind_reason_times(c, &cluster, &filter, cap))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query DSL checks `events(history=true)` fields against this list.
    #[test]
    fn the_json_item_has_the_query_dsl_fields() {
        let row = EventRow {
            event_uid: String::new(),
            cluster_id: String::new(),
            namespace: String::new(),
            name: String::new(),
            event_type: String::new(),
            reason: String::new(),
            message: String::new(),
            source_component: String::new(),
            source_host: String::new(),
            involved_kind: String::new(),
            involved_name: String::new(),
            involved_namespace: String::new(),
            involved_uid: String::new(),
            first_timestamp: None,
            last_timestamp: NaiveDateTime::default(),
            count: 0,
        };
        let json = row.to_json();
        let mut keys: Vec<&str> = json
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut want = atlhyper_query::HISTORY_EVENT_FIELDS.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
    }
}
