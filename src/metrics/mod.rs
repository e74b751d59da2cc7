//! `GET /metrics`: the master's own health in the Prometheus (OpenMetrics) text format.
//!
//! Two kinds of values, one home each:
//! - **Events counted where they happen**, in the families this module owns: HTTP requests
//!   and their latency per route (a middleware on both ports), snapshots ingested with
//!   their bytes and parse time (the snapshot handler), persister lag (the persisters).
//! - **State that already lives elsewhere** is asked of its owner at scrape time and never
//!   copied into counters that could drift ([`live`]): clusters online/offline (the cluster
//!   actors), commands by state and deliveries by channel and status (one grouped query per
//!   table on a reader connection, never on the writer), breaker state (the dispatcher),
//!   bus delivered/coalesced/dropped (the bus topics), the DB pool and writer queue, and
//!   the process (`/proc/self`, Linux only).
//!
//! A scrape is bounded: each owner gets [`ASK_TIMEOUT`]; an owner that does not answer in
//! time is left out of that scrape and counted in `atlhyper_metrics_collect_errors_total`.
//! The handler of `GET /metrics` (its access check and the reply) is in
//! `http/api/metrics.rs`; this module renders what it serves.

mod live;
pub mod process;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use atlhyper_actors::messages::Bus;

use crate::db::Db;
use crate::notify::Notify;

/// Where the exposition is served (dashboard port).
pub const PATH: &str = "/metrics";

/// The OpenMetrics text format, which Prometheus negotiates and parses natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scrape waits for each owner of live state. Well inside Prometheus's default
/// 10 s scrape timeout, so one stuck actor costs a family, not the whole scrape.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Request latency buckets: an API answers in milliseconds; 10 s is already an outage.
/// Agent long polls (`/agent/commands`) are held up to `command_poll_timeout` and land in
/// `+Inf` by design.
const HTTP_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Decode + parse buckets: a small snapshot takes about a millisecond, a 512 MiB one tens
/// of seconds.
const PARSE_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Persister lag buckets: normally tens of milliseconds; minutes mean the writer is
/// saturated and the bus is coalescing.
const LAG_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

fn lag_histogram() -> Histogram {
    Histogram::new(LAG_BUCKETS)
}

/// One request, fully labelled.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    server: &'static str,
    method: &'static str,
    route: String,
    status: u16,
}

/// One route (latency is not split by status: it would multiply the buckets).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    server: &'static str,
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EncodingLabels {
    encoding: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PersisterLabels {
    persister: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    snapshots: Family<OutcomeLabels, Counter>,
    snapshot_bytes: Family<EncodingLabels, Counter>,
    snapshot_objects: Family<OutcomeLabels, Counter>,
    snapshot_object_bytes: Family<OutcomeLabels, Counter>,
    parse_seconds: Histogram,
    persister_lag: Family<PersisterLabels, Histogram>,
    persister_failures: Family<PersisterLabels, Counter>,
    collect_errors: Family<SourceLabels, Counter>,
    slo_pushes: Family<OutcomeLabels, Counter>,
    slo_unmapped: Gauge,
}

/// The owners of the state a scrape asks for ([`live`]).
pub struct LiveState<'a> {
    /// Stored rows (grouped counts) and the pool and writer queue.
    pub db: &'a Db,
    /// The cluster actors, for liveness.
    pub registry: &'a Addr<atlhyper_actors::registry::Registry>,
    /// The bus topics' delivered, coalesced and dropped counts.
    pub bus: &'a Bus,
    /// The dispatcher's breakers.
    pub notify: &'a Notify,
    /// Replicas: the Redis link and this replica's roles.
    pub hub: &'a crate::hub::Hub,
}

/// The master's metrics: the families recorded as things happen, and the scrape. Cheap to
/// clone; every clone records into the same families.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Every recorded family, registered with its help text.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "atlhyper_http_requests",
            "HTTP requests answered, by server (api or agent), method, matched route pattern \
             (\"unmatched\" for unknown paths) and status code",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            http_histogram as fn() -> Histogram,
        );
        registry.register(
            "atlhyper_http_request_duration_seconds",
            "Time from request to response head, by server, method and route pattern (agent \
             long polls are held up to command_poll_timeout)",
            latency.clone(),
        );
        let snapshots = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "atlhyper_snapshots_ingested",
            "Agent snapshots handled by POST /agent/snapshot after authentication, by outcome \
             (ok: held by its cluster actor; rejected: refused with an error)",
            snapshots.clone(),
        );
        let snapshot_bytes = Family::<EncodingLabels, Counter>::default();
        registry.register(
            "atlhyper_snapshot_bytes",
            "Snapshot bytes: wire is the request body as sent (gzip or not), json the \
             decompressed JSON",
            snapshot_bytes.clone(),
        );
        let snapshot_objects = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "atlhyper_snapshot_objects",
            "Snapshot list elements (pods, events, ...) by outcome: reused (byte for byte what \
             the cluster's previous snapshot had, so cloned instead of parsed) or parsed",
            snapshot_objects.clone(),
        );
        let snapshot_object_bytes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "atlhyper_snapshot_object_bytes",
            "JSON bytes of the snapshot list elements, by outcome (reused or parsed)",
            snapshot_object_bytes.clone(),
        );
        let parse_seconds = Histogram::new(PARSE_BUCKETS);
        registry.register(
            "atlhyper_snapshot_parse_seconds",
            "Time to decompress and parse one snapshot on the blocking pool, failures included",
            parse_seconds.clone(),
        );
        let persister_lag = Family::<PersisterLabels, Histogram>::new_with_constructor(
            lag_histogram as fn() -> Histogram,
        );
        registry.register(
            "atlhyper_persister_lag_seconds",
            "Seconds from a snapshot's receipt by the master to the moment a persister finished \
             with it (its transaction committed, or nothing needed writing)",
            persister_lag.clone(),
        );
        let persister_failures = Family::<PersisterLabels, Counter>::default();
        registry.register(
            "atlhyper_persister_failures",
            "Snapshots a persister could not write (retried with the cluster's next snapshot)",
            persister_failures.clone(),
        );
        let collect_errors = Family::<SourceLabels, Counter>::default();
        registry.register(
            "atlhyper_metrics_collect_errors",
            "Scrapes that left out a source's families because it failed or did not answer \
             in time",
            collect_errors.clone(),
        );
        let slo_pushes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "atlhyper_slo_pushes",
            "SLO pushes the SLO persister handled, by outcome (stored; stale: older than the \
             cluster's last push, ignored; failed: not written, the next push covers it)",
            slo_pushes.clone(),
        );
        let slo_unmapped = Gauge::default();
        registry.register(
            "atlhyper_slo_unmapped_series",
            "Service series (hosts) in the latest SLO push of every cluster that no route maps; \
             they are stored nowhere and shown nowhere",
            slo_unmapped.clone(),
        );
        let build = Family::<VersionLabels, Gauge>::default();
        build
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "atlhyper_build_info",
            "Always 1; the version label names the running build",
            build,
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
                snapshots,
                snapshot_bytes,
                snapshot_objects,
                snapshot_object_bytes,
                parse_seconds,
                persister_lag,
                persister_failures,
                collect_errors,
                slo_pushes,
                slo_unmapped,
            }),
        }
    }

    /// Records one answered request.
    fn observe_request(
        &self,
        server: &'static str,
        method: &'static str,
        route: String,
        status: u16,
        took: Duration,
    ) {
        let i = &self.inner;
        i.latency
            .get_or_create(&RouteLabels {
                server,
                method,
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        i.requests
            .get_or_create(&RequestLabels {
                server,
                method,
                route,
                status,
            })
            .inc();
    }

    /// Counts one snapshot request that reached the handler.
    pub fn snapshot_handled(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "rejected" };
        self.inner
            .snapshots
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts a snapshot body as received (`wire`) or decompressed (`json`).
    pub fn snapshot_bytes(&self, encoding: &'static str, bytes: usize) {
        self.inner
            .snapshot_bytes
            .get_or_create(&EncodingLabels { encoding })
            .inc_by(bytes as u64);
    }

    /// Records what one parse reused from the cluster's previous snapshot.
    pub fn snapshot_reuse(&self, r: &atlhyper_actors::model::Reuse) {
        let i = &self.inner;
        for (outcome, n, bytes) in [
            ("reused", r.reused, r.reused_bytes),
            ("parsed", r.parsed, r.parsed_bytes),
        ] {
            i.snapshot_objects
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(n);
            i.snapshot_object_bytes
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(bytes);
        }
    }

    /// Records one decode + parse.
    pub fn snapshot_parsed(&self, took: Duration) {
        self.inner.parse_seconds.observe(took.as_secs_f64());
    }

    /// `persister` finished with a snapshot received at `received_at`.
    pub fn persisted(&self, persister: &'static str, received_at: DateTime<Utc>) {
        let lag = (Utc::now() - received_at)
            .to_std()
            .map_or(0.0, |d| d.as_secs_f64());
        self.inner
            .persister_lag
            .get_or_create(&PersisterLabels { persister })
            .observe(lag);
    }

    /// `persister` failed to write a snapshot.
    pub fn persist_failed(&self, persister: &'static str) {
        self.inner
            .persister_failures
            .get_or_create(&PersisterLabels { persister })
            .inc();
    }

    /// Counts one SLO push by outcome (`stored`, `stale`, `failed`).
    pub fn slo_push(&self, outcome: &'static str) {
        self.inner
            .slo_pushes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Sets the number of unmapped service series over every cluster.
    pub fn slo_unmapped(&self, n: usize) {
        self.inner
            .slo_unmapped
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    fn collect_failed(&self, source: &'static str) {
        self.inner
            .collect_errors
            .get_or_create(&SourceLabels { source })
            .inc();
    }

    /// The whole exposition: the recorded families, then the live state, then `# EOF`.
    pub async fn render(&self, state: &LiveState<'_>) -> Result<String, std::fmt::Error> {
        let live = live::collect(state, self).await;
        let mut out = String::with_capacity(32 * 1024);
        encode_registry(&mut out, &self.inner.registry)?;
        encode_registry(&mut out, &live)?;
        encode_eof(&mut out)?;
        Ok(out)
    }
}

/// The method as a label: the standard ones, else `other`, so that a client inventing
/// methods cannot create series.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times every dashboard request (wrap the dashboard `App`).
pub async fn track_api(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    track("api", req, next).await
}

/// Counts and times every agent request (wrap the agent `App`).
pub async fn track_agent(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    track("agent", req, next).await
}

async fn track<B: MessageBody + 'static>(
    server: &'static str,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let Some(metrics) = req
        .app_data::<web::Data<Metrics>>()
        .map(|m| Metrics::clone(m))
    else {
        return next.call(req).await;
    };
    let method = method_label(req.method());
    // The pattern comes from the app's resource map, so it is known before routing; paths
    // no route matches share one label, which keeps the series bounded.
    let route = req
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let start = Instant::now();
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    metrics.observe_request(server, method, route, status, start.elapsed());
    res
}
