//! `SloPersister`: turns SLO pushes into stored rows, and evaluates status and burn rates.
//!
//! - **Owns** two bus subscriptions: `SloPushed` (latest wins per cluster; the counters are
//!   cumulative, so a push skipped while the persister was behind is covered by the next
//!   delta) and `SnapshotReceived` (the newest snapshot of each cluster, for the Ingresses
//!   and the Services' port names that map hosts to routes). Per cluster it keeps the last
//!   cumulative values, the series rows of the current minute, hour and day per route, the
//!   stored route mappings and the last recorded status per (route, range).
//! - **Per push**, one transaction through the writer ([`crate::db::slo::write_push`]):
//!   the new last values, every series row the push touched (its full value, so a row is
//!   never added to twice) and the route changes. Only once it commits does the memory
//!   move on; after a failed write the cluster's memory is dropped and reloaded from the
//!   stored rows, so the next push's delta covers the failed one. A push older than the
//!   cluster's last one (by the agent's timestamp) is ignored: its counters would look like
//!   a reset.
//! - **After a push**, at most every `slo_evaluate_interval` per cluster, it reads the
//!   windows of every route (5m, 30m, 1h, 6h, 1d, 3d, 7d, 30d), records status changes in
//!   `slo_status_history`, and publishes `SloEvaluated` (burn rates per route) for the
//!   notifier's burn-rate rules.
//! - Pushes are handled one at a time (`ctx.wait`), in arrival order.
//! - A timer lets go of the snapshots of clusters silent for an hour and the memory of
//!   clusters without an SLO push for a day (reloaded from the rows if they come back).
//! - **Survives a restart:** every row. A cluster's memory is reloaded from them on its
//!   first push after a restart (`resume`), so the first delta after a restart is exact.
//!   The route mappings are never wiped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;
use atlhyper_actors::supervise::StartSupervised as _;
use chrono::{DateTime, TimeDelta, Utc};

use atlhyper_actors::bus::Subscription;
use atlhyper_actors::messages::{Bus, RouteBurn, SloEvaluated, SloPushed, SnapshotReceived};
use atlhyper_actors::model::{ClusterSnapshot, Text};

use super::ingest::{self, PushState, Resolved, RouteIndex};
use super::maths::{Acc, Metrics, Status};
use super::query::{self, RouteAcc, RouteKey, Targets};
use super::window::{floor, Range, DAY, HOUR, MINUTE};
use crate::config::Settings;
use crate::db::slo::{NewStatusChange, PushWrite, RouteRow, SeriesRow};
use crate::db::{from_db, to_db, Db, DbError};
use crate::metrics::Metrics as MasterMetrics;

/// This persister's name on the bus and in metrics.
const NAME: &str = "slo_persister";

/// A route's `last_seen` is rewritten at most this often while nothing else about it
/// changes: often enough to say when it was last seen, rarely enough not to double the
/// writes of every push.
const LAST_SEEN_REFRESH: TimeDelta = TimeDelta::hours(1);

/// A push older than the cluster's last one by at most this much is a late duplicate and
/// is ignored; an agent clock that jumped back further is believed.
const STALE_WINDOW_SECS: i64 = 3_600;

/// The burn-rate windows of the SRE workbook's multi-window alerts, shortest first.
pub const BURN_WINDOWS: [(&str, TimeDelta); 5] = [
    ("5m", TimeDelta::minutes(5)),
    ("30m", TimeDelta::minutes(30)),
    ("1h", TimeDelta::hours(1)),
    ("6h", TimeDelta::hours(6)),
    ("3d", TimeDelta::days(3)),
];

/// Handle to the running actor.
#[derive(Clone, Default)]
pub struct Handle {
    addr: Option<Addr<SloPersister>>,
}

impl Handle {
    /// Waits until every push received so far is written and evaluated (tests, shutdown).
    pub async fn flush(&self) {
        if let Some(addr) = &self.addr {
            if addr.send(Flush).await.is_err() {
                tracing::warn!("SLO persister is gone; nothing to flush");
            }
        }
    }
}

/// Writes and evaluates what has been received so far, then answers.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Flush;

/// What the per-push work needs, cheap to clone.
#[derive(Clone)]
struct Deps {
    db: Db,
    settings: Arc<Settings>,
    metrics: MasterMetrics,
    bus: Bus,
}

/// (resolution, domain, path) → (period start, service key, requests so far).
type Periods = HashMap<(i32, String, String), (DateTime<Utc>, String, Acc)>;

/// What the persister remembers of one cluster.
#[derive(Debug, Default)]
struct ClusterSlo {
    /// Set once the rows below were loaded from the database.
    loaded: bool,
    /// The last cumulative values.
    state: Option<PushState>,
    /// When the push they come from was received.
    pushed_at: Option<DateTime<Utc>>,
    /// The series rows being filled: the minute rows of minutes not yet rolled up, and
    /// the hour and day rows of the roll-up mark's hour and day.
    current: Periods,
    /// The roll-up mark: hour and day rows hold every minute before it.
    rolled: Option<DateTime<Utc>>,
    /// The stored route mappings, gone ones included.
    routes: BTreeMap<RouteKey, RouteRow>,
    /// Unmapped hosts already logged.
    logged: BTreeSet<Text>,
    /// Unmapped hosts in the latest push.
    unmapped: usize,
    /// When it was last evaluated.
    last_eval: Option<DateTime<Utc>>,
    /// The last recorded status per (domain, path, range).
    statuses: HashMap<(String, String, Range), Status>,
    /// Replicas: the ownership epoch of this memory. A push with another epoch finds the
    /// memory dropped and reloaded from the rows the previous owner wrote, so its delta
    /// counts nothing twice.
    epoch: u64,
}

impl ClusterSlo {
    async fn load(&mut self, db: &Db, cluster: &str) -> Result<(), DbError> {
        if let Some((at, json, rolled)) = db.slo().stored_state(cluster).await? {
            match serde_json::from_str::<PushState>(&json) {
                Ok(s) => {
                    self.state = Some(s);
                    self.pushed_at = Some(from_db(at));
                }
                // Starting over costs one push interval; a corrupt row must not stop SLOs.
                Err(e) => {
                    tracing::error!(cluster_id = cluster, error = %e, "stored SLO state unreadable; starting from the next push");
                }
            }
            self.rolled = rolled.map(from_db);
        }
        if let Some(mark) = self.rolled {
            // The minute rows not rolled up yet, and the hour and day rows they go to.
            let one = TimeDelta::seconds(1);
            let (hour, day) = (floor(mark, HOUR), floor(mark, DAY));
            let spans = vec![
                (MINUTE, to_db(mark), to_db(mark + TimeDelta::days(365))),
                (HOUR, to_db(hour), to_db(hour + one)),
                (DAY, to_db(day), to_db(day + one)),
            ];
            for (res, start, r) in db.slo().series_in(cluster, None, spans).await? {
                let acc = query::acc_of(&r);
                self.current.insert(
                    (res, r.domain, r.path_prefix),
                    (from_db(start), r.service_key, acc),
                );
            }
        }
        for r in db.slo().list_routes(cluster).await? {
            self.routes
                .insert((r.domain.clone(), r.path_prefix.clone()), r);
        }
        for (domain, path, range, status) in db.slo().last_statuses(cluster).await? {
            if let (Some(range), Some(status)) = (Range::parse(&range), Status::parse(&status)) {
                self.statuses.insert((domain, path, range), status);
            }
        }
        self.loaded = true;
        Ok(())
    }
}

/// Stores SLO pushes; see the module header.
pub struct SloPersister {
    deps: Deps,
    pushes: Arc<Subscription<SloPushed>>,
    snapshot_sub: Arc<Subscription<SnapshotReceived>>,
    clusters: HashMap<Arc<str>, ClusterSlo>,
    /// The newest snapshot of each cluster, with when it was received.
    snapshots: HashMap<Arc<str>, (DateTime<Utc>, Arc<ClusterSnapshot>)>,
}

/// How often the memory of clusters that went quiet is let go.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// A snapshot not replaced for this long belongs to a cluster that is gone or offline:
/// it is dropped (the next one brings the routes back).
const SNAPSHOT_TTL: TimeDelta = TimeDelta::hours(1);

/// A cluster without an SLO push for this long is forgotten; its next push reloads it
/// from the database.
const CLUSTER_TTL: TimeDelta = TimeDelta::days(1);

type Work = Pin<Box<dyn ActorFuture<SloPersister, Output = ()>>>;

/// Starts the persister, subscribed to the bus. Runs inside the actix System.
pub fn start(db: &Db, bus: &Bus, settings: &Arc<Settings>, metrics: &MasterMetrics) -> Handle {
    let addr = SloPersister {
        deps: Deps {
            db: db.clone(),
            settings: Arc::clone(settings),
            metrics: metrics.clone(),
            bus: bus.clone(),
        },
        pushes: Arc::new(bus.slo.subscribe(NAME)),
        snapshot_sub: Arc::new(bus.snapshots.subscribe(NAME)),
        clusters: HashMap::new(),
        snapshots: HashMap::new(),
    }
    .start_supervised("slo_persister");
    Handle { addr: Some(addr) }
}

impl Actor for SloPersister {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let s = Arc::clone(&self.snapshot_sub);
        ctx.add_stream(futures_util::stream::unfold(s, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
        let s = Arc::clone(&self.pushes);
        ctx.add_stream(futures_util::stream::unfold(s, |s| async move {
            let m = s.recv().await?;
            Some((m, s))
        }));
        ctx.run_interval(SWEEP_EVERY, |act, _| {
            let now = Utc::now();
            act.snapshots.retain(|_, (at, _)| now - *at < SNAPSHOT_TTL);
            act.clusters
                .retain(|_, c| c.pushed_at.is_some_and(|p| now - p < CLUSTER_TTL));
        });
    }
}

/// Restarted in place after a panic ([`atlhyper_actors::supervise`]); `started` rebuilds
/// what it keeps in memory from the database.
impl Supervised for SloPersister {}

impl SloPersister {
    /// The work of one push: the cluster's memory is taken out, handed to the async work
    /// and put back when it is done.
    fn process(&mut self, msg: SloPushed) -> Work {
        let id = Arc::clone(&msg.cluster_id);
        let cs = self
            .clusters
            .remove(&id)
            .filter(|cs| cs.epoch == msg.epoch)
            .unwrap_or_else(|| ClusterSlo {
                epoch: msg.epoch,
                ..ClusterSlo::default()
            });
        let snapshot = self.snapshots.get(&id).map(|(_, s)| Arc::clone(s));
        let deps = self.deps.clone();
        Box::pin(
            handle_push(deps, cs, msg, snapshot)
                .into_actor(self)
                .map(move |cs, act, _| {
                    act.clusters.insert(id, cs);
                    let unmapped = act.clusters.values().map(|c| c.unmapped).sum();
                    act.deps.metrics.slo_unmapped(unmapped);
                }),
        )
    }
}

impl StreamHandler<SnapshotReceived> for SloPersister {
    fn handle(&mut self, msg: SnapshotReceived, _: &mut Context<Self>) {
        self.snapshots
            .insert(msg.cluster_id, (msg.received_at, msg.snapshot));
    }

    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl StreamHandler<SloPushed> for SloPersister {
    #[tracing::instrument(skip_all, fields(cluster_id = %msg.cluster_id))]
    fn handle(&mut self, msg: SloPushed, ctx: &mut Context<Self>) {
        let work = self.process(msg);
        ctx.wait(work);
    }

    /// The bus closed (shutdown): stay alive for the final `Flush`.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<Flush> for SloPersister {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        while let Some(m) = self.snapshot_sub.try_recv() {
            self.snapshots
                .insert(m.cluster_id, (m.received_at, m.snapshot));
        }
        let mut chain: Work = Box::pin(fut::ready(()));
        while let Some(msg) = self.pushes.try_recv() {
            chain = Box::pin(chain.then(move |(), act, _| act.process(msg)));
        }
        AtomicResponse::new(chain)
    }
}

/// One push: deltas, rows, one transaction; then, when due, the evaluation.
async fn handle_push(
    deps: Deps,
    mut cs: ClusterSlo,
    msg: SloPushed,
    snapshot: Option<Arc<ClusterSnapshot>>,
) -> ClusterSlo {
    // A clock that stepped back must not move a push into a period already closed: its
    // row would be rewritten with this push's delta alone.
    let now = cs
        .pushed_at
        .map_or(msg.received_at, |p| msg.received_at.max(p));
    let cluster = &*msg.cluster_id;
    if !cs.loaded {
        if let Err(e) = cs.load(&deps.db, cluster).await {
            tracing::error!(cluster_id = cluster, error = %e, "SLO state not loaded; push skipped");
            deps.metrics.slo_push("failed");
            deps.metrics.persist_failed(NAME);
            return ClusterSlo::default();
        }
    }
    let ts = msg.push.metrics.timestamp;
    if let Some(st) = &cs.state {
        // A late duplicate: older than the last push, by less than an hour. An agent clock
        // that jumped back further, or a stored time in the future (a clock that was
        // ahead), must not stop the cluster's SLOs: such a push is taken, and its counters
        // are read as they come (a reset where they went down).
        let late = ts > 0 && ts < st.timestamp && st.timestamp - ts <= STALE_WINDOW_SECS;
        let stored_in_future = st.timestamp > now.timestamp() + STALE_WINDOW_SECS;
        if late && !stored_in_future {
            tracing::warn!(
                cluster_id = cluster,
                push = ts,
                last = st.timestamp,
                "SLO push older than the last one ignored"
            );
            deps.metrics.slo_push("stale");
            return cs;
        }
    }
    // Without a snapshot yet (just restarted), hosts only the snapshot can map keep their
    // old values below: keep them aside (rare, so the copy is fine).
    let old_state = if snapshot.is_none() {
        cs.state.clone()
    } else {
        None
    };
    let mut d = ingest::deltas(cs.state.take(), &msg.push.metrics, now.timestamp_millis());
    if d.malformed > 0 {
        tracing::warn!(
            cluster_id = cluster,
            series = d.malformed,
            "malformed SLO series skipped"
        );
    }
    let routes = ingest::routes(&msg.push.ingress_routes, snapshot.as_deref());
    let index = RouteIndex::new(&routes, snapshot.as_deref());

    let mut unmapped = 0;
    let mut held = Vec::new();
    for host in d.state.hosts.keys() {
        if index.resolve(host) == Resolved::Unmapped {
            // Just restarted, no snapshot yet: a host only the snapshot can map (a Traefik
            // port name, an Ingress-only route) keeps its old values, so that its delta is
            // counted once the snapshot is here instead of being lost.
            if snapshot.is_none() {
                if let Some(old) = old_state.as_ref().and_then(|s| s.hosts.get(host)) {
                    held.push((host.clone(), old.clone()));
                }
            }
            unmapped += 1;
            if cs.logged.len() < 10_000 && cs.logged.insert(host.clone()) {
                tracing::info!(
                    cluster_id = cluster,
                    host = %host,
                    "SLO series maps to no route; counted in atlhyper_slo_unmapped_series, not shown"
                );
            }
        }
    }

    for (host, before) in held {
        d.state.hosts.insert(host, before);
    }

    // Each route's requests in this push (two hosts of one route: the same time, once).
    let mut per_route: BTreeMap<usize, Acc> = BTreeMap::new();
    for (host, acc) in &d.hosts {
        if let Resolved::Routes(ix) = index.resolve(host) {
            for &i in ix {
                per_route.entry(i).or_default().add_parallel(acc);
            }
        }
    }
    // The rows this push writes, each with its full new value. First the roll-up: the
    // minutes that are over go into their hour and day rows (written now, once per
    // minute); then this push goes into its minute's row.
    let minute = floor(now, MINUTE);
    let mut touched: Periods = HashMap::new();
    let mut rolled = cs.rolled;
    let over: Periods = cs
        .current
        .iter()
        .filter(|((res, _, _), (start, _, _))| *res == MINUTE && *start < minute)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for ((_, domain, path), (start, key, acc)) in &over {
        for res in [HOUR, DAY] {
            let period = floor(*start, res);
            let k = (res, domain.clone(), path.clone());
            let base = match touched.get(&k).or_else(|| cs.current.get(&k)) {
                Some((s, _, a)) if *s == period => a.clone(),
                _ => Acc::default(),
            };
            let mut sum = base;
            sum.add(acc);
            touched.insert(k, (period, key.clone(), sum));
        }
    }
    if rolled.is_none_or(|r| r < minute) {
        rolled = Some(minute);
    }
    for (i, acc) in &per_route {
        let r = &routes[*i];
        let key = (MINUTE, r.domain.clone(), r.path_prefix.clone());
        let base = match cs.current.get(&key) {
            Some((s, _, a)) if *s == minute => a.clone(),
            _ => Acc::default(),
        };
        let entry = touched
            .entry(key)
            .or_insert((minute, r.service_key.clone(), base));
        entry.2.add(acc);
    }
    let series: Vec<SeriesRow> = touched
        .iter()
        .map(|((res, domain, path), (start, key, a))| SeriesRow {
            cluster_id: cluster.to_owned(),
            resolution: *res,
            start_at: to_db(*start),
            domain: domain.clone(),
            path_prefix: path.clone(),
            service_key: key.clone(),
            requests: a.requests,
            errors: a.errors,
            client_errors: a.client_errors,
            latency_sum: a.latency_sum,
            latency_count: a.latency_count,
            buckets: a.buckets.encode(),
            elapsed_ms: a.elapsed_ms,
            samples: i32::try_from(a.samples).unwrap_or(i32::MAX),
        })
        .collect();

    // Route changes: new or changed mappings, a stale last_seen, and the disappeared.
    let mut changed: Vec<RouteRow> = Vec::new();
    let mut seen: BTreeSet<RouteKey> = BTreeSet::new();
    for r in &routes {
        let key = (r.domain.clone(), r.path_prefix.clone());
        let stored = cs.routes.get(&key);
        let row = RouteRow {
            cluster_id: cluster.to_owned(),
            domain: r.domain.clone(),
            path_prefix: r.path_prefix.clone(),
            service_key: r.service_key.clone(),
            service_name: r.service_name.clone(),
            service_port: r.service_port,
            ingress_name: r.ingress_name.clone(),
            namespace: r.namespace.clone(),
            tls: r.tls,
            source: r.source.as_str().to_owned(),
            first_seen: stored.map_or(to_db(now), |s| s.first_seen),
            last_seen: to_db(now),
            gone_at: None,
        };
        let same = stored.is_some_and(|s| {
            s.gone_at.is_none()
                && RouteRow {
                    last_seen: row.last_seen,
                    ..s.clone()
                } == row
                && to_db(now) - s.last_seen < LAST_SEEN_REFRESH
        });
        if !same {
            changed.push(row);
        }
        seen.insert(key);
    }
    // A push without any route information says nothing about routes; without a snapshot
    // yet (just restarted), the Ingress-derived routes are not known to be gone.
    // Each source speaks only for itself: agent routes are gone when a push that carries
    // routes no longer names them, Ingress routes when the snapshot no longer has them.
    let mut gone = Vec::new();
    let agent_spoke = !msg.push.ingress_routes.is_empty();
    for (key, r) in &cs.routes {
        let spoke = if r.source == ingest::Source::Agent.as_str() {
            agent_spoke
        } else {
            snapshot.is_some()
        };
        if spoke && r.gone_at.is_none() && !seen.contains(key) {
            gone.push(key.clone());
        }
    }

    let state_json = match serde_json::to_string(&d.state) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(cluster_id = cluster, error = %e, "SLO state not serialisable");
            // The state was updated in place: start again from the stored rows.
            return ClusterSlo::default();
        }
    };
    let write = PushWrite {
        cluster_id: cluster.to_owned(),
        pushed_at: now,
        state: state_json,
        rolled_until: rolled,
        series,
        routes: changed.clone(),
        gone: gone.clone(),
    };
    let created = match deps.db.slo().write_push(write).await {
        Ok(created) => created,
        Err(e) => {
            tracing::error!(cluster_id = cluster, error = %e, "SLO push not stored; the next push covers it");
            deps.metrics.slo_push("failed");
            deps.metrics.persist_failed(NAME);
            // The state was updated in place: the next push reloads the stored one, and its
            // delta covers this push too.
            return ClusterSlo::default();
        }
    };
    deps.metrics.slo_push("stored");
    deps.metrics.persisted(NAME, now);

    let before = cs.pushed_at.replace(now);
    cs.state = Some(d.state);
    cs.unmapped = unmapped;
    cs.rolled = rolled;
    // The minutes rolled up are done; the hour and day rows carry on from the mark's.
    for k in over.keys() {
        cs.current.remove(k);
    }
    cs.current.extend(touched);
    if let Some(mark) = rolled {
        cs.current.retain(|(res, _, _), (start, _, _)| match *res {
            MINUTE => *start >= mark,
            res => *start == floor(mark, res),
        });
    }
    if created && before.is_some() {
        // The cluster was deleted since its last push, and its routes with it: the next
        // push writes them all again.
        cs.routes.clear();
        cs.statuses.clear();
    }
    for r in changed {
        cs.routes
            .insert((r.domain.clone(), r.path_prefix.clone()), r);
    }
    for key in gone {
        if let Some(r) = cs.routes.get_mut(&key) {
            r.gone_at = Some(to_db(now));
        }
    }

    let due = cs.last_eval.is_none_or(|t| {
        (now - t)
            .to_std()
            .is_ok_and(|d| d >= deps.settings.slo_evaluate_interval)
    });
    if due {
        cs.last_eval = Some(now);
        if let Err(e) = evaluate(&deps, &msg.cluster_id, &mut cs, now).await {
            tracing::error!(cluster_id = cluster, error = %e, "SLO evaluation failed");
        }
    }
    cs
}

/// The windows an evaluation reads, by name.
fn eval_windows() -> Vec<(&'static str, TimeDelta)> {
    let mut w: Vec<(&'static str, TimeDelta)> = BURN_WINDOWS.to_vec();
    for r in Range::ALL {
        if !w.iter().any(|(n, _)| *n == r.as_str()) {
            w.push((r.as_str(), r.length()));
        }
    }
    w
}

/// Reads the windows of every current route; records status changes and publishes the
/// burn rates.
async fn evaluate(
    deps: &Deps,
    cluster: &Arc<str>,
    cs: &mut ClusterSlo,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let targets = Targets::load(&deps.db, cluster, &deps.settings).await?;
    let mut windows: HashMap<&str, BTreeMap<RouteKey, RouteAcc>> = HashMap::new();
    // The mark this actor itself keeps: no need to read it back.
    let rolled = cs.rolled;
    for (name, len) in eval_windows() {
        windows.insert(
            name,
            query::window(&deps.db, cluster, None, (now - len, now), rolled).await?,
        );
    }
    let metrics_of = |window: &str, key: &RouteKey| -> Option<Metrics> {
        windows
            .get(window)
            .and_then(|w| w.get(key))
            .map(|ra| ra.acc.metrics())
    };
    let mut burns = Vec::new();
    let mut changes = Vec::new();
    for (key, route) in &cs.routes {
        if route.gone_at.is_some() {
            continue;
        }
        let (domain, path) = key;
        let (t30, _) = targets.get(domain, path, Range::D30);
        let (t1h, _) = targets.get(domain, path, Range::H1);
        let burn = BURN_WINDOWS
            .iter()
            .filter_map(|(name, _)| {
                let m = metrics_of(name, key).filter(|m| m.total_requests > 0)?;
                Some(((*name).to_owned(), t30.burn_rate(&m)))
            })
            .collect();
        let month = metrics_of("30d", key);
        let hour = metrics_of("1h", key).filter(|m| m.total_requests > 0);
        burns.push(RouteBurn {
            domain: domain.clone(),
            path_prefix: path.clone(),
            namespace: route.namespace.clone(),
            service_key: route.service_key.clone(),
            target_availability: t30.availability,
            target_p95_ms: t1h.p95_latency_ms,
            burn,
            budget_remaining: month.as_ref().map_or(100.0, |m| t30.budget_remaining(m)),
            p95_ms: hour.as_ref().and_then(|m| m.p95_latency_ms),
            availability_1h: hour.as_ref().map(|m| m.availability),
        });
        for range in Range::ALL {
            let (t, _) = targets.get(domain, path, range);
            let m = metrics_of(range.as_str(), key).unwrap_or_else(|| Acc::default().metrics());
            let status = t.status(&m);
            let k = (domain.clone(), path.clone(), range);
            let before = cs.statuses.get(&k).copied().unwrap_or(Status::Unknown);
            if status != before {
                changes.push(NewStatusChange {
                    cluster_id: cluster.to_string(),
                    domain: domain.clone(),
                    path_prefix: path.clone(),
                    time_range: range.as_str().to_owned(),
                    old_status: before.as_str().to_owned(),
                    new_status: status.as_str().to_owned(),
                    availability: m.availability,
                    p95_latency_ms: m.p95_latency_ms.unwrap_or(0.0),
                    error_budget_remaining: t.budget_remaining(&m),
                    changed_at: to_db(now),
                });
            }
        }
    }
    if !changes.is_empty() {
        deps.db.slo().record_status(changes.clone()).await?;
        for c in changes {
            if let (Some(range), Some(status)) =
                (Range::parse(&c.time_range), Status::parse(&c.new_status))
            {
                cs.statuses.insert((c.domain, c.path_prefix, range), status);
            }
        }
    }
    deps.bus.slo_evaluated.publish(SloEvaluated {
        cluster_id: Arc::clone(cluster),
        routes: Arc::new(burns),
        at: now,
        mirrored: false,
    });
    Ok(())
}
