//! Scrape-time collection: each value is asked of the part that owns it, concurrently,
//! each ask bounded by [`ASK_TIMEOUT`], and written into a registry built for this scrape
//! only (so nothing here can drift from its source).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use atlhyper_actors::bus::{Keyed, SubscriptionStats, Topic};
use atlhyper_actors::command::CommandState;
use atlhyper_actors::messages::{Bus, GetLiveness, Liveness};
use atlhyper_actors::registry::{GetRegistryStats, ListClusters};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::process::{self, ProcessStats};
use super::{LiveState, Metrics, ASK_TIMEOUT};
use crate::db::PoolUsage;
use crate::notify::dispatch::ChannelHealth;

/// Label pairs of a per-scrape family.
type Labels = Vec<(&'static str, String)>;

/// Stored rows per command status and per (channel, delivery status).
struct Counts {
    commands: Vec<(String, i64)>,
    deliveries: Vec<(String, String, i64)>,
}

/// Every live value, asked of its owner.
pub(super) async fn collect(state: &LiveState<'_>, metrics: &Metrics) -> Registry {
    // Read before the query below takes a reader connection of its own.
    let pool = state.db.pool_usage();
    let (clusters, counts, health, proc) = tokio::join!(
        ask(metrics, "clusters", cluster_liveness(state)),
        ask(metrics, "database", stored_counts(state)),
        ask(metrics, "dispatcher", channel_health(state)),
        process_stats(metrics),
    );
    let mut reg = Registry::default();
    if let Some((online, offline, revived)) = clusters {
        clusters_family(&mut reg, online, offline);
        counter_family(
            &mut reg,
            "atlhyper_cluster_actor_revivals",
            "Cluster actors that died (a panic: a bug, logged at error level) and were started \
             again from their saved state",
            &[(Vec::new(), revived)],
        );
    }
    let panics: Vec<(Labels, u64)> = atlhyper_actors::supervise::panics()
        .into_iter()
        .map(|(actor, n)| (vec![("actor", actor.to_owned())], n))
        .collect();
    counter_family(
        &mut reg,
        "atlhyper_actor_panics",
        "Panics caught in the singleton actors (registry, persisters, notifier, dispatcher, \
         cleaner), each restarted in place on the same mailbox (a bug: logged at error level)",
        &panics,
    );
    plain_gauge(
        &mut reg,
        "atlhyper_db_up",
        "1 when the database answered this scrape's queries, 0 when it did not (see /ready)",
        i64::from(counts.is_some()),
    );
    if let Some(counts) = counts {
        commands_family(&mut reg, &counts.commands);
        deliveries_family(&mut reg, &counts.deliveries);
    }
    if let Some(health) = health {
        breaker_families(&mut reg, &health);
    }
    bus_families(&mut reg, state.bus);
    hub_families(&mut reg, state.hub);
    pool_families(&mut reg, pool);
    if let Some(p) = proc {
        process_families(&mut reg, &p);
    }
    reg
}

/// `fut` within [`ASK_TIMEOUT`]; a failure or a timeout is logged, counted and `None`.
async fn ask<T>(
    metrics: &Metrics,
    source: &'static str,
    fut: impl Future<Output = Option<T>>,
) -> Option<T> {
    match tokio::time::timeout(ASK_TIMEOUT, fut).await {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            tracing::warn!(source, "metrics: source failed; its families are left out");
            metrics.collect_failed(source);
            None
        }
        Err(_) => {
            tracing::warn!(source, timeout = ?ASK_TIMEOUT, "metrics: source did not answer in time; its families are left out");
            metrics.collect_failed(source);
            None
        }
    }
}

/// The process, read off the worker. Without procfs (not Linux) there is nothing to read
/// and nothing failed.
async fn process_stats(metrics: &Metrics) -> Option<ProcessStats> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let read = async { actix_web::web::block(process::read).await.ok().flatten() };
    ask(metrics, "process", read).await
}

/// (online, offline) over every known cluster; "not heard from since start" is offline,
/// as in the API.
async fn cluster_liveness(state: &LiveState<'_>) -> Option<(i64, i64, u64)> {
    let stats = state.registry.send(GetRegistryStats).await.ok()?;
    let handles = state.registry.send(ListClusters).await.ok()?;
    let replies =
        futures_util::future::join_all(handles.iter().map(|h| h.addr.send(GetLiveness))).await;
    let (mut online, mut offline) = (0, 0);
    for reply in replies.into_iter().flatten() {
        match reply {
            Liveness::Online => online += 1,
            Liveness::Offline | Liveness::Unknown => offline += 1,
        }
    }
    Some((online, offline, stats.revived))
}

async fn stored_counts(state: &LiveState<'_>) -> Option<Counts> {
    let res = async {
        Ok::<_, crate::db::DbError>(Counts {
            commands: state.db.commands().count_by_status().await?,
            deliveries: state.db.notify().count_deliveries().await?,
        })
    }
    .await;
    res.map_err(|e| tracing::warn!(error = %e, "metrics: counting stored rows failed"))
        .ok()
}

async fn channel_health(state: &LiveState<'_>) -> Option<HashMap<String, ChannelHealth>> {
    state.notify.channel_health().await
}

/// A label value as the text encoder needs it: it writes values verbatim, so `\`, `"` and
/// newlines from stored text are escaped here.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn gauge_family(reg: &mut Registry, name: &str, help: &str, rows: &[(Labels, i64)]) {
    let family = Family::<Labels, Gauge>::default();
    for (labels, v) in rows {
        family.get_or_create(labels).set(*v);
    }
    reg.register(name, help, family);
}

/// Replicas only: the Redis link's health and traffic, and this replica's roles.
fn hub_families(reg: &mut Registry, hub: &crate::hub::Hub) {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(link) = hub.link() else { return };
    plain_gauge(
        reg,
        "atlhyper_hub_redis_up",
        "1 while this replica is subscribed to the Redis relay and can publish to it, 0 when not (see /ready)",
        i64::from(hub.trouble().is_none()),
    );
    plain_gauge(
        reg,
        "atlhyper_hub_owned_clusters",
        "Clusters this replica owns (decides liveness and command deadlines, writes their history)",
        i64::try_from(hub.roles().owned_count()).unwrap_or(i64::MAX),
    );
    plain_gauge(
        reg,
        "atlhyper_hub_leader",
        "1 on the replica that runs the notifier, the dispatcher and the cleaner",
        i64::from(hub.roles().is_leader()),
    );
    let s = &link.stats;
    counter_family(
        reg,
        "atlhyper_hub_relays",
        "Relays between replicas: sent, received from the others, failed (not sent: Redis unreachable)",
        &[
            (vec![("direction", "sent".to_owned())], s.sent.load(Relaxed)),
            (vec![("direction", "received".to_owned())], s.received.load(Relaxed)),
            (vec![("direction", "failed".to_owned())], s.failed.load(Relaxed)),
        ],
    );
}

fn plain_gauge(reg: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    reg.register(name, help, g);
}

fn counter_family(reg: &mut Registry, name: &str, help: &str, rows: &[(Labels, u64)]) {
    let family = Family::<Labels, Counter>::default();
    for (labels, v) in rows {
        family.get_or_create(labels).inc_by(*v);
    }
    reg.register(name, help, family);
}

fn clusters_family(reg: &mut Registry, online: i64, offline: i64) {
    let rows = [
        (vec![("status", "online".to_owned())], online),
        (vec![("status", "offline".to_owned())], offline),
    ];
    gauge_family(
        reg,
        "atlhyper_clusters",
        "Known clusters by liveness (offline includes clusters not heard from since the \
         master started)",
        &rows,
    );
}

fn commands_family(reg: &mut Registry, stored: &[(String, i64)]) {
    // Every state, zeros included, so that a series does not vanish when it empties.
    let mut by_state: BTreeMap<String, i64> = CommandState::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    for (state, n) in stored {
        *by_state.entry(state.clone()).or_default() += n;
    }
    let rows: Vec<(Labels, i64)> = by_state
        .into_iter()
        .map(|(state, n)| (vec![("state", escape(&state))], n))
        .collect();
    gauge_family(
        reg,
        "atlhyper_commands",
        "Stored commands by state (finished ones are kept command_history_days)",
        &rows,
    );
}

fn deliveries_family(reg: &mut Registry, stored: &[(String, String, i64)]) {
    let rows: Vec<(Labels, i64)> = stored
        .iter()
        .map(|(channel, status, n)| {
            (
                vec![("channel", escape(channel)), ("status", escape(status))],
                *n,
            )
        })
        .collect();
    gauge_family(
        reg,
        "atlhyper_notify_deliveries",
        "Notification outbox rows by channel and status (pending, delivered, failed, folded; \
         finished rows are kept audit_retention_days)",
        &rows,
    );
}

fn breaker_families(reg: &mut Registry, health: &HashMap<String, ChannelHealth>) {
    let mut states = Vec::new();
    let mut failures = Vec::new();
    for (channel, h) in health {
        for state in ["closed", "open", "half_open"] {
            states.push((
                vec![("channel", escape(channel)), ("state", state.to_owned())],
                i64::from(h.breaker == state),
            ));
        }
        failures.push((
            vec![("channel", escape(channel))],
            i64::from(h.consecutive_failures),
        ));
    }
    gauge_family(
        reg,
        "atlhyper_notify_breaker_state",
        "1 for the state each channel's circuit breaker is in (closed, open, half_open)",
        &states,
    );
    gauge_family(
        reg,
        "atlhyper_notify_channel_consecutive_failures",
        "Consecutive failed sends per channel (the breaker opens at notify_breaker_failures)",
        &failures,
    );
}

/// Bus counters per (topic, subscriber). Subscriptions sharing a name (one per open SSE
/// stream) are summed.
fn bus_families(reg: &mut Registry, bus: &Bus) {
    fn add<M: Keyed>(
        out: &mut BTreeMap<(&'static str, String), SubscriptionStats>,
        topic: &'static str,
        t: &Topic<M>,
    ) {
        for (name, s) in t.stats() {
            let e = out.entry((topic, name)).or_default();
            e.delivered += s.delivered;
            e.coalesced += s.coalesced;
            e.dropped += s.dropped;
            e.pending += s.pending;
        }
    }
    let mut all = BTreeMap::new();
    add(&mut all, "snapshots", &bus.snapshots);
    add(&mut all, "status", &bus.status);
    add(&mut all, "commands", &bus.commands);
    add(&mut all, "alerts", &bus.alerts);
    add(&mut all, "slo", &bus.slo);
    add(&mut all, "slo_evaluated", &bus.slo_evaluated);
    let labels = |(topic, sub): &(&'static str, String)| -> Labels {
        vec![("topic", (*topic).to_owned()), ("subscriber", escape(sub))]
    };
    let counters = |pick: fn(&SubscriptionStats) -> u64| -> Vec<(Labels, u64)> {
        all.iter().map(|(k, s)| (labels(k), pick(s))).collect()
    };
    counter_family(
        reg,
        "atlhyper_bus_delivered",
        "Bus messages handed to a subscriber, by topic and subscriber",
        &counters(|s| s.delivered),
    );
    counter_family(
        reg,
        "atlhyper_bus_coalesced",
        "Bus messages replaced by a newer one for the same key before the subscriber took \
         them (latest wins)",
        &counters(|s| s.coalesced),
    );
    counter_family(
        reg,
        "atlhyper_bus_dropped",
        "Bus messages dropped because a subscriber already held its maximum of pending keys",
        &counters(|s| s.dropped),
    );
    let pending: Vec<(Labels, i64)> = all
        .iter()
        .map(|(k, s)| (labels(k), i64::try_from(s.pending).unwrap_or(i64::MAX)))
        .collect();
    gauge_family(
        reg,
        "atlhyper_bus_pending",
        "Bus messages waiting for their subscriber right now",
        &pending,
    );
}

fn pool_families(reg: &mut Registry, p: PoolUsage) {
    let conns = [
        (vec![("state", "idle".to_owned())], i64::from(p.idle)),
        (
            vec![("state", "busy".to_owned())],
            i64::from(p.connections.saturating_sub(p.idle)),
        ),
    ];
    gauge_family(
        reg,
        "atlhyper_db_pool_connections",
        "Open connections of the database pool, idle or busy (SQLite: the readers)",
        &conns,
    );
    plain_gauge(
        reg,
        "atlhyper_db_pool_max_connections",
        "The pool's size limit (db_max_conns)",
        i64::from(p.max),
    );
    plain_gauge(
        reg,
        "atlhyper_db_writer_queue",
        "Writes waiting for or running on a database writer (SQLite: the single writer)",
        i64::try_from(p.writer_queue).unwrap_or(i64::MAX),
    );
    counter_family(
        reg,
        "atlhyper_db_checkout_errors",
        "Database connections that could not be had (PostgreSQL down or the pool exhausted)",
        &[(Vec::new(), p.checkout_errors)],
    );
    counter_family(
        reg,
        "atlhyper_db_storage_faults",
        "Storage faults seen by writes (disk full, read-only, I/O error, unreachable); /ready names the one in force",
        &[(Vec::new(), p.storage_faults)],
    );
    counter_family(
        reg,
        "atlhyper_db_wal_rebuilds",
        "SQLite WAL files found deleted or replaced under the running master and rebuilt",
        &[(Vec::new(), p.wal_rebuilds)],
    );
}

fn process_families(reg: &mut Registry, p: &ProcessStats) {
    let cpu = Counter::<f64, std::sync::atomic::AtomicU64>::default();
    cpu.inc_by(p.cpu_seconds);
    reg.register(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        cpu,
    );
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    plain_gauge(
        reg,
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        clamp(p.resident_bytes),
    );
    plain_gauge(
        reg,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes",
        clamp(p.virtual_bytes),
    );
    plain_gauge(
        reg,
        "process_open_fds",
        "Number of open file descriptors",
        clamp(p.open_fds),
    );
    if let Some(max) = p.max_fds {
        plain_gauge(
            reg,
            "process_max_fds",
            "Maximum number of open file descriptors",
            clamp(max),
        );
    }
    plain_gauge(
        reg,
        "process_threads",
        "Number of OS threads in the process",
        clamp(p.threads),
    );
    let start = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    start.set(p.start_time_seconds);
    reg.register(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch in seconds",
        start,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("slack"), "slack");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
