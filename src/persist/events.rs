//! `EventPersister`: keeps Kubernetes events long after their one-hour TTL (seed 000 §9.2.7).
//!
//! - **Owns** a subscription to `SnapshotReceived` (latest wins per cluster, so when the
//!   actor is behind it coalesces to the newest snapshot of each cluster) and the
//!   [`Written`] memory: per (cluster, uid), the `count` and `last_timestamp` last committed.
//! - **Per snapshot**, one transaction on the single writer: the cluster row is made to
//!   exist, then only new or changed events are upserted (each snapshot repeats almost
//!   every event of the previous one, and a row costs ~60 µs to write). New Warning events
//!   also get a JSON copy of their involved object from the same snapshot.
//! - Processing is strictly sequential (`ctx.wait`): the memory is updated only once the
//!   transaction has committed, so a failed write is retried with the next snapshot.
//! - **Lag:** when a snapshot's transaction commits (or it needs no write), the time since
//!   the master received it goes to `atlhyper_persister_lag_seconds{persister="event_persister"}`.
//! - **Survives a restart:** the rows. `started()` rebuilds the memory from them before it
//!   handles anything, and re-attaches the bus subscription as a stream.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use atlhyper_actors::supervise::StartSupervised as _;
use chrono::{DateTime, NaiveDateTime, Utc};

use atlhyper_actors::bus::Subscription;
use atlhyper_actors::messages::{Bus, SnapshotReceived};
use atlhyper_actors::model::{ClusterSnapshot, Event, Kind, ResourceMeta, Text, VisitItems};

use super::flush::Flush;
use crate::config::Settings;
use crate::db::events::{NewEvent, NewResourceSnapshot};
use crate::db::{to_db, Db};
use crate::metrics::Metrics;

/// This persister's name on the bus and in metrics.
const NAME: &str = "event_persister";

/// What was last committed for one event: `(count, last_timestamp)`.
type Mark = (i32, NaiveDateTime);

/// What the persister has written, per cluster and event uid.
#[derive(Debug, Default)]
pub struct Written {
    by_cluster: HashMap<Arc<str>, HashMap<Text, Mark>>,
}

/// The work one snapshot needs.
#[derive(Debug, Default)]
pub struct Plan {
    /// New or changed events.
    pub rows: Vec<NewEvent>,
    /// Involved-object copies for new Warning events.
    pub resources: Vec<NewResourceSnapshot>,
    /// The memory of this cluster once `rows` are committed (the events of this snapshot).
    pub marks: HashMap<Text, Mark>,
    /// Events skipped because they carry no uid.
    pub without_uid: usize,
}

impl Written {
    /// Rebuilds the memory from stored rows `(cluster, uid, count, last_timestamp)`.
    pub fn from_rows(rows: Vec<(String, String, i32, NaiveDateTime)>) -> Self {
        let mut w = Written::default();
        for (cluster, uid, count, last) in rows {
            w.by_cluster
                .entry(Arc::from(cluster))
                .or_default()
                .insert(Text::from(uid), (count, last));
        }
        w
    }

    /// How many events are remembered in all.
    pub fn len(&self) -> usize {
        self.by_cluster.values().map(HashMap::len).sum()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows `snap` needs written: those not yet written with the same count and last time.
    pub fn plan(&self, cluster: &str, snap: &ClusterSnapshot, received_at: DateTime<Utc>) -> Plan {
        let known = self.by_cluster.get(cluster);
        let now = to_db(received_at);
        let mut plan = Plan {
            marks: HashMap::with_capacity(snap.events.len()),
            ..Plan::default()
        };
        for e in &snap.events {
            if e.uid.is_empty() {
                plan.without_uid += 1;
                continue;
            }
            if plan.marks.contains_key(&e.uid) {
                continue;
            }
            let last = e
                .last_timestamp
                .to_utc()
                .or_else(|| e.created_at.to_utc())
                .unwrap_or(received_at);
            let mark = (e.count, to_db(last));
            let before = known.and_then(|k| k.get(&e.uid));
            plan.marks.insert(e.uid.clone(), mark);
            if before == Some(&mark) {
                continue;
            }
            if before.is_none() && e.is_warning() {
                if let Some(r) = involved_object(snap, e) {
                    plan.resources.push(r);
                }
            }
            plan.rows.push(new_event(cluster, e, mark, now));
        }
        plan
    }

    /// Records a committed plan: the cluster's memory becomes the events of that snapshot,
    /// so events that left the cluster are forgotten and the memory stays bounded.
    pub fn commit(&mut self, cluster: Arc<str>, marks: HashMap<Text, Mark>) {
        self.by_cluster.insert(cluster, marks);
    }
}

fn new_event(cluster: &str, e: &Event, (count, last): Mark, now: NaiveDateTime) -> NewEvent {
    NewEvent {
        event_uid: e.uid.to_string(),
        cluster_id: cluster.to_owned(),
        namespace: e.namespace.to_string(),
        name: e.name.to_string(),
        event_type: e.type_.to_string(),
        reason: e.reason.to_string(),
        message: e.message.to_string(),
        source_component: e.source.to_string(),
        // The v2.1 agent model does not send the reporting host.
        source_host: String::new(),
        involved_kind: e.involved_object.kind.to_string(),
        involved_name: e.involved_object.name.to_string(),
        involved_namespace: e.involved_object.namespace.to_string(),
        involved_uid: e.involved_object.uid.to_string(),
        first_timestamp: e.first_timestamp.to_utc().map(to_db),
        last_timestamp: last,
        count,
        created_at: now,
        updated_at: now,
    }
}

/// The involved object of `e`, found by kind, namespace and name in `snap`, as JSON.
fn involved_object(snap: &ClusterSnapshot, e: &Event) -> Option<NewResourceSnapshot> {
    struct CopyOf<'e>(&'e Event);
    impl VisitItems<'_> for CopyOf<'_> {
        type Output = Option<NewResourceSnapshot>;
        fn visit<T: ResourceMeta + serde::Serialize + 'static>(
            self,
            items: &[T],
        ) -> Option<NewResourceSnapshot> {
            let e = self.0;
            let io = &e.involved_object;
            let r = items
                .iter()
                .find(|r| r.name() == io.name && r.namespace() == io.namespace)?;
            Some(NewResourceSnapshot {
                event_uid: e.uid.to_string(),
                resource_kind: io.kind.to_string(),
                resource_name: io.name.to_string(),
                resource_namespace: io.namespace.to_string(),
                resource_uid: if io.uid.is_empty() {
                    r.uid().to_owned()
                } else {
                    io.uid.to_string()
                },
                snapshot_data: serde_json::to_string(r).ok()?,
            })
        }
    }
    let kind = Kind::from_kind_name(&e.involved_object.kind)?;
    // Workloads, services, nodes and volumes get a copy; Secrets never, nor config,
    // policy, namespaces or events.
    let copied = matches!(
        kind,
        Kind::Pod
            | Kind::Deployment
            | Kind::StatefulSet
            | Kind::DaemonSet
            | Kind::ReplicaSet
            | Kind::Job
            | Kind::CronJob
            | Kind::Service
            | Kind::Ingress
            | Kind::Node
            | Kind::PersistentVolumeClaim
            | Kind::PersistentVolume
    );
    copied.then(|| kind.visit(snap, CopyOf(e))).flatten()
}

/// Persists the events of every snapshot.
pub struct EventPersister {
    db: Db,
    sub: Arc<Subscription<SnapshotReceived>>,
    written: Written,
    /// Events skipped because they had no uid, in all.
    without_uid: u64,
    metrics: Metrics,
}

impl EventPersister {
    /// Plans `msg`; returns its write, which commits the memory once the rows are in.
    fn apply(&mut self, msg: SnapshotReceived) -> Option<Work> {
        let plan = self
            .written
            .plan(&msg.cluster_id, &msg.snapshot, msg.received_at);
        if plan.without_uid > 0 {
            self.without_uid += plan.without_uid as u64;
            tracing::debug!(
                cluster_id = %msg.cluster_id,
                skipped = plan.without_uid,
                total = self.without_uid,
                "events without uid skipped"
            );
        }
        let cluster = msg.cluster_id;
        let at = msg.received_at;
        if plan.rows.is_empty() {
            self.written.commit(cluster, plan.marks);
            self.metrics.persisted(NAME, at);
            return None;
        }
        let (rows, resources, marks) = (plan.rows, plan.resources, plan.marks);
        let db = self.db.clone();
        let c = Arc::clone(&cluster);
        let write = async move { db.events().write_plan(c, at, rows, resources).await };
        Some(Box::pin(write.into_actor(self).map(
            move |res, act, _| match res {
                Ok(n) => {
                    tracing::debug!(cluster_id = %cluster, rows = n, "events persisted");
                    act.written.commit(cluster, marks);
                    act.metrics.persisted(NAME, at);
                }
                Err(e) => {
                    act.metrics.persist_failed(NAME);
                    tracing::warn!(cluster_id = %cluster, error = %e, "event persistence failed; retried with the next snapshot");
                }
            },
        )))
    }
}

/// One pending write of the actor.
type Work = super::flush::Work<EventPersister>;

impl Actor for EventPersister {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let load = async move { db.events().written_state().await };
        ctx.wait(load.into_actor(self).map(|res, act, _| match res {
            Ok(rows) => {
                act.written = Written::from_rows(rows);
                tracing::info!(events = act.written.len(), "event persister memory rebuilt");
            }
            Err(e) => {
                // Without the memory every event is rewritten once: slower, still correct.
                tracing::warn!(error = %e, "event persister could not rebuild its memory");
            }
        }));
        let sub = Arc::clone(&self.sub);
        ctx.add_stream(futures_util::stream::unfold(sub, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
    }
}

/// Restarted in place after a panic ([`atlhyper_actors::supervise`]); `started` rebuilds
/// what it keeps in memory from the database.
impl Supervised for EventPersister {}

impl StreamHandler<SnapshotReceived> for EventPersister {
    /// The bus closed (shutdown): stay alive, so the final `Flush` is answered after the
    /// last write instead of finding the actor gone. It stops with the System.
    fn finished(&mut self, _: &mut Context<Self>) {}

    fn handle(&mut self, msg: SnapshotReceived, ctx: &mut Context<Self>) {
        if let Some(work) = self.apply(msg) {
            ctx.wait(work);
        }
    }
}

impl Handler<Flush> for EventPersister {
    type Result = ();

    fn handle(&mut self, msg: Flush, ctx: &mut Context<Self>) {
        let sub = Arc::clone(&self.sub);
        ctx.wait(super::flush::chain_pending(
            self,
            &sub,
            Self::apply,
            msg.done,
        ));
    }
}

/// Handle to the running actor of this module.
pub type Handle = super::flush::Handle<EventPersister>;

/// Starts this module's actor(s), subscribed to the bus, with metrics of its own (benches
/// and tools). Runs inside the actix System.
pub fn start(db: &Db, bus: &Bus, settings: &Arc<Settings>) -> Handle {
    start_measured(db, bus, settings, &Metrics::new())
}

/// Starts this module's actor(s), subscribed to the bus, recording into `metrics`. Runs
/// inside the actix System.
pub fn start_measured(db: &Db, bus: &Bus, _settings: &Arc<Settings>, metrics: &Metrics) -> Handle {
    // Subscribe now, before the actor runs, so no snapshot published meanwhile is missed.
    let sub = Arc::new(bus.snapshots.subscribe(NAME));
    let addr = EventPersister {
        db: db.clone(),
        sub,
        written: Written::default(),
        without_uid: 0,
        metrics: metrics.clone(),
    }
    .start_supervised("event_persister");
    Handle::new(addr)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    fn snap(events: serde_json::Value) -> ClusterSnapshot {
        serde_json::from_value(serde_json::json!({
            "cluster_id": "c1", "fetched_at": "2026-01-01T00:00:00Z",
            "pods": [{"summary": {"name": "p1", "namespace": "ns"}}],
            "events": events,
        }))
        .unwrap()
    }

    fn ev(uid: &str, count: i32, last: &str, ty: &str) -> serde_json::Value {
        serde_json::json!({"uid": uid, "name": uid, "namespace": "ns", "kind": "Event",
            "created_at": "2026-01-01T00:00:00Z", "type": ty, "reason": "R", "message": "m",
            "involved_object": {"kind": "Pod", "namespace": "ns", "name": "p1"},
            "count": count, "first_timestamp": "2026-01-01T00:00:00Z", "last_timestamp": last})
    }

    #[test]
    fn only_new_or_changed_events_are_planned() {
        let at = Utc::now();
        let mut w = Written::default();
        let s1 = snap(serde_json::json!([
            ev("a", 1, "2026-01-01T00:01:00Z", "Normal"),
            ev("b", 2, "2026-01-01T00:02:00Z", "Warning"),
            ev("", 1, "2026-01-01T00:02:00Z", "Normal"),
        ]));
        let p = w.plan("c1", &s1, at);
        assert_eq!((p.rows.len(), p.without_uid, p.resources.len()), (2, 1, 1));
        w.commit(Arc::from("c1"), p.marks);
        // Same snapshot again: nothing to write.
        assert!(w.plan("c1", &s1, at).rows.is_empty());
        // Another cluster with the same uids is independent.
        assert_eq!(w.plan("c2", &s1, at).rows.len(), 2);
        // A changed count is written, with the agent's value.
        let s2 = snap(serde_json::json!([
            ev("a", 1, "2026-01-01T00:01:00Z", "Normal"),
            ev("b", 5, "2026-01-01T00:09:00Z", "Warning"),
        ]));
        let p = w.plan("c1", &s2, at);
        assert_eq!(p.rows.len(), 1);
        assert_eq!((p.rows[0].event_uid.as_str(), p.rows[0].count), ("b", 5));
        assert!(p.resources.is_empty(), "only new warnings get a copy");
    }

    #[test]
    fn zero_times_use_created_at_and_null_first() {
        let mut e = ev("z", 0, "0001-01-01T00:00:00Z", "Normal");
        e["first_timestamp"] = "0001-01-01T00:00:00Z".into();
        e["created_at"] = "2026-02-04T13:31:23+09:00".into();
        let p = Written::default().plan("c1", &snap(serde_json::json!([e])), Utc::now());
        let row = &p.rows[0];
        assert_eq!(row.first_timestamp, None);
        assert_eq!(
            row.last_timestamp.to_string(),
            "2026-02-04 04:31:23".to_owned()
        );
    }

    #[test]
    fn memory_rebuilt_from_rows_skips_unchanged() {
        let s = snap(serde_json::json!([ev(
            "a",
            3,
            "2026-01-01T00:01:00Z",
            "Normal"
        )]));
        let last = Written::default().plan("c1", &s, Utc::now()).rows[0].last_timestamp;
        let w = Written::from_rows(vec![("c1".into(), "a".into(), 3, last)]);
        assert!(w.plan("c1", &s, Utc::now()).rows.is_empty());
    }

    /// A bug in a handler, injected.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Explode;

    impl Handler<Explode> for EventPersister {
        type Result = ();
        fn handle(&mut self, _: Explode, _: &mut Context<Self>) {
            // Half-done work first: memory the restart must not trust.
            self.written = Written::default();
            panic!("injected panic");
        }
    }

    #[actix_web::test]
    async fn a_panic_in_the_persister_is_survived_and_events_keep_being_stored() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("m.db"), 2).unwrap();
        let bus = Bus::default();
        let handle = start(&db, &bus, &Arc::new(Settings::default()));
        let publish = |events: serde_json::Value| {
            bus.snapshots.publish(SnapshotReceived {
                cluster_id: Arc::from("c1"),
                snapshot: Arc::new(snap(events)),
                received_at: Utc::now(),
                bytes: 1,
                epoch: 0,
            });
        };
        let a = ev("a", 1, "2026-01-01T00:01:00Z", "Warning");
        publish(serde_json::json!([a.clone()]));
        handle.flush().await;
        assert_eq!(db.events().written_state().await.unwrap().len(), 1);
        let addr = handle.addr().unwrap().clone();
        assert!(
            addr.send(Explode).await.is_err(),
            "the panicking message is lost"
        );
        // The same address serves on; memory was rebuilt from the database, so `a` is not
        // written again, and `b` is.
        publish(serde_json::json!([
            a,
            ev("b", 4, "2026-01-01T00:02:00Z", "Warning")
        ]));
        handle.flush().await;
        let rows = db.events().written_state().await.unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(atlhyper_actors::supervise::panics().contains(&("event_persister", 1)));
    }
}
