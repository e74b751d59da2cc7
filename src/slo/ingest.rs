//! From one SLO push to per-route deltas: pure functions, no I/O.
//!
//! - [`deltas`]: the requests since the previous push, from the cumulative counters and
//!   histograms against the last values ([`PushState`]). `delta = value − prev`; a value
//!   below `prev` is a counter reset, so the delta is the value itself. A host seen for the
//!   first time counts nothing (its counters hold everything since the ingress controller
//!   started); a new series of a host already known (a status code seen for the first time)
//!   counts from zero, since it was created after the previous scrape.
//! - [`RouteIndex`]: which routes a host's traffic belongs to. Traefik and Kong name a host
//!   by its service key; Traefik uses the Service port's *name* when it has one
//!   (`ns-svc-http@kubernetes`) where the route says the number (`ns-svc-80@kubernetes`),
//!   so each route also answers to the name of its port in the latest snapshot. nginx names
//!   the real host, which is the route's domain. Entry points (`web@entrypoint`,
//!   `websecure`, …) and Traefik's own services (`…@internal`) are not services.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use atlhyper_actors::model::{
    ClusterSnapshot, IngressCounterMetric, IngressMetrics, IngressRouteInfo, Text,
};

use super::maths::{Acc, Buckets};

/// One counter series of a host: status, method, ingress, namespace and service (nginx
/// reports a host once per Ingress), status first because it tells series apart soonest.
/// The push's own shared strings, so building and cloning a key allocates nothing; stored
/// as `method|status|ingress|namespace|service`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey(pub [Text; 5]);

impl std::fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [s, m, i, n, v] = &self.0;
        write!(f, "{m}|{s}|{i}|{n}|{v}")
    }
}

impl Serialize for SeriesKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SeriesKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let mut parts = text.splitn(5, '|').map(Text::from);
        let mut next = || parts.next().unwrap_or_default();
        let (method, status) = (next(), next());
        Ok(SeriesKey([status, method, next(), next(), next()]))
    }
}

/// The last cumulative values of one host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// Series → value.
    #[serde(default, rename = "c", skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<SeriesKey, i64>,
    /// `le` (as the agent wrote it) → cumulative count.
    #[serde(default, rename = "b", skip_serializing_if = "BTreeMap::is_empty")]
    pub buckets: BTreeMap<Text, i64>,
    /// Histogram sum, seconds.
    #[serde(default, rename = "s")]
    pub sum: f64,
    /// Histogram count.
    #[serde(default, rename = "n")]
    pub count: i64,
    /// Whether the host had a histogram.
    #[serde(default, rename = "h")]
    pub histogram: bool,
    /// When these values were taken (the master's receive time, unix ms).
    #[serde(default, rename = "t")]
    pub at_ms: i64,
}

/// The last values of every host of a cluster, stored as one JSON document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushState {
    /// The agent's scrape time of the push these values come from (unix seconds).
    #[serde(default)]
    pub timestamp: i64,
    /// Host → values.
    #[serde(default)]
    pub hosts: BTreeMap<Text, HostState>,
}

/// What one push amounts to.
#[derive(Debug, Default)]
pub struct Deltas {
    /// The values to remember for the next push.
    pub state: PushState,
    /// The requests of each known host since the previous push (first sightings left out).
    pub hosts: Vec<(Text, Acc)>,
    /// Series skipped as malformed (negative values, unparsable bounds, non-finite sums).
    pub malformed: usize,
}

/// True for a series that is an entry point or a proxy-internal service, not a service
/// behind a route.
pub fn is_entry_point(host: &str) -> bool {
    host.ends_with("@entrypoint")
        || host.ends_with("@internal")
        || matches!(host, "web" | "websecure" | "traefik" | "metrics" | "ping")
}

/// The delta of one cumulative value against its previous value.
fn delta(value: i64, prev: i64) -> i64 {
    if value >= prev {
        value - prev
    } else {
        value
    }
}

/// How long the values of a host that stopped appearing are kept: a scrape that failed,
/// or a service gone for a while, must not reset the baseline; one gone for a day is gone.
pub const HOST_TTL_MS: i64 = 24 * 3_600 * 1_000;

/// One host's histogram in a push, its label variants added up.
#[derive(Default)]
struct Hist {
    buckets: BTreeMap<Text, i64>,
    sum: f64,
    count: i64,
}

/// Computes the deltas of `push`, received at `now_ms` (unix ms, the master's clock),
/// against `prev` (`None`: nothing known yet, the push only sets the baseline). `prev` is
/// taken and updated in place (a push of 130 hosts holds ~3,400 values; copying them on
/// every push was a good part of its cost); the caller keeps what it needs beforehand.
///
/// The new state is `prev` with this push's values laid over it: a series (or a whole
/// host) missing from one push keeps its last value, so when it comes back only its
/// growth counts; a host not seen for [`HOST_TTL_MS`] is forgotten. Each host's delta
/// covers the time since its own values were taken.
pub fn deltas(prev: Option<PushState>, push: &IngressMetrics, now_ms: i64) -> Deltas {
    let first_push = prev.is_none();
    let mut state = prev.unwrap_or_default();
    state.timestamp = push.timestamp;
    state
        .hosts
        .retain(|_, h| now_ms.saturating_sub(h.at_ms) < HOST_TTL_MS);
    let mut out = Deltas::default();
    let mut accs: BTreeMap<Text, Acc> = BTreeMap::new();
    // When each host touched by this push had its values taken before (None: new host).
    let mut before_at: HashMap<Text, Option<i64>> = HashMap::new();
    let mut touch = |hosts: &mut BTreeMap<Text, HostState>, host: &Text| -> Option<i64> {
        *before_at.entry(host.clone()).or_insert_with(|| {
            let known = hosts.get(host).map(|h| h.at_ms);
            let st = hosts.entry(host.clone()).or_default();
            st.at_ms = now_ms;
            known.filter(|_| !first_push)
        })
    };

    // Agents list a host's counters together: each run of one host is looked up once.
    let counters = &push.counters;
    let mut i = 0;
    while i < counters.len() {
        let host = &counters[i].host;
        let end = i + counters[i..].iter().take_while(|c| c.host == *host).count();
        let run = &counters[i..end];
        i = end;
        if host.is_empty() || is_entry_point(host) {
            continue;
        }
        // `errors` series repeat requests that a `requests` series already counts.
        let valid = |c: &&IngressCounterMetric| c.metric_type.as_str() != "errors";
        if !run.iter().any(|c| valid(&c) && c.value >= 0) {
            out.malformed += run.iter().filter(|c| valid(c) && c.value < 0).count();
            continue;
        }
        let known = touch(&mut state.hosts, host).is_some();
        let Some(st) = state.hosts.get_mut(host.as_str()) else {
            continue;
        };
        let mut acc = Acc::default();
        for c in run.iter().filter(valid) {
            if c.value < 0 {
                out.malformed += 1;
                continue;
            }
            let key = SeriesKey([
                c.status.clone(),
                c.method.clone(),
                c.ingress_name.clone(),
                c.namespace.clone(),
                c.service.clone(),
            ]);
            // A series listed twice in one push: the last value wins, as in the exposition.
            let old = st.counters.insert(key, c.value);
            let d = delta(c.value, old.unwrap_or(0));
            acc.requests = acc.requests.saturating_add(d);
            match c.status.as_bytes().first() {
                Some(b'5') => acc.errors = acc.errors.saturating_add(d),
                Some(b'4') => acc.client_errors = acc.client_errors.saturating_add(d),
                _ => {}
            }
        }
        if known {
            accs.entry(host.clone()).or_default().add(&acc);
        }
    }

    // One histogram per host: label variants of a host are added up first.
    let mut hists: BTreeMap<&Text, Hist> = BTreeMap::new();
    for h in &push.histograms {
        let host = h.host.as_str();
        if host.is_empty() || is_entry_point(host) {
            continue;
        }
        if h.count < 0 || !h.sum.is_finite() || h.sum < 0.0 {
            out.malformed += 1;
            continue;
        }
        let e = hists.entry(&h.host).or_default();
        let mut count = h.count;
        for (le_text, v) in &h.buckets {
            let le = le_text.as_str();
            if *v < 0 {
                out.malformed += 1;
                continue;
            }
            match le.parse::<f64>() {
                Ok(x) if x.is_finite() => {
                    let b = e.buckets.entry(le_text.clone()).or_insert(0);
                    *b = b.saturating_add(*v);
                }
                // An agent that keeps `+Inf` gives the total directly.
                Ok(x) if x == f64::INFINITY => count = count.max(*v),
                _ => out.malformed += 1,
            }
        }
        e.sum += h.sum;
        e.count = e.count.saturating_add(count);
    }
    for (host, h) in hists {
        let known = touch(&mut state.hosts, host).is_some();
        let Some(st) = state.hosts.get_mut(host.as_str()) else {
            continue;
        };
        let had = st.histogram;
        let (old_sum, old_count) = (st.sum, st.count);
        let reset = h.count < old_count;
        let buckets = if known {
            bucket_deltas(&h.buckets, (had && !reset).then_some(&st.buckets))
        } else {
            Buckets::default()
        };
        st.histogram = true;
        st.sum = h.sum;
        st.count = h.count;
        for (le, v) in h.buckets {
            st.buckets.insert(le, v);
        }
        if !known {
            continue;
        }
        let acc = accs.entry(host.clone()).or_default();
        acc.buckets = buckets;
        if !had {
            // The histogram is new on a known host: everything in it is new.
            acc.latency_sum += h.sum;
            acc.latency_count = acc.latency_count.saturating_add(h.count);
            continue;
        }
        acc.latency_count =
            acc.latency_count
                .saturating_add(if reset { h.count } else { h.count - old_count });
        acc.latency_sum += if reset || h.sum < old_sum {
            h.sum
        } else {
            h.sum - old_sum
        };
    }

    // A host missing from this push adds nothing now; its values stay, so its next push
    // counts everything since these.
    for (host, mut acc) in accs {
        let since = before_at.get(&host).copied().flatten().unwrap_or(0);
        acc.elapsed_ms = if since > 0 {
            now_ms.saturating_sub(since).max(0)
        } else {
            0
        };
        acc.samples = 1;
        out.hosts.push((host, acc));
    }
    out.state = state;
    out
}

/// Cumulative bucket deltas by bound (`prev` `None`: from zero).
fn bucket_deltas(now: &BTreeMap<Text, i64>, prev: Option<&BTreeMap<Text, i64>>) -> Buckets {
    let mut v: Vec<(f64, i64)> = now
        .iter()
        .filter_map(|(le, n)| {
            let x: f64 = le.parse().ok()?;
            let p = prev.and_then(|p| p.get(le)).copied().unwrap_or(0);
            Some((x, delta(*n, p)))
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Cumulative counts never go down; a delta that does (a bucket reset on its own) is
    // lifted to its predecessor.
    for i in 1..v.len() {
        if v[i].1 < v[i - 1].1 {
            v[i].1 = v[i - 1].1;
        }
    }
    Buckets(v)
}

/// Where a route mapping came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The agent's `ingress_routes` (Ingress and Traefik IngressRoute objects).
    Agent,
    /// An Ingress of the latest snapshot.
    Ingress,
}

impl Source {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Agent => "agent",
            Source::Ingress => "ingress",
        }
    }
}

/// One route: a (domain, path prefix) served by a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Domain.
    pub domain: String,
    /// Path prefix (`/` when the rule has none).
    pub path_prefix: String,
    /// The service key the proxy reports, e.g. `ns-svc-80@kubernetes`.
    pub service_key: String,
    /// The Kubernetes Service.
    pub service_name: String,
    /// Its port number.
    pub service_port: i32,
    /// The Ingress or IngressRoute.
    pub ingress_name: String,
    /// Namespace.
    pub namespace: String,
    /// Whether the domain is served over TLS.
    pub tls: bool,
    /// Where it came from.
    pub source: Source,
}

/// The most routes one cluster may have: far above any real cluster (a few hundred), low
/// enough that a hostile agent cannot grow the route table without bound.
pub const MAX_ROUTES: usize = 10_000;

/// The longest domain (RFC 1035) and the longest path prefix kept; longer ones are not
/// routes anyone configured, and they would bloat every row.
const MAX_DOMAIN: usize = 253;
/// See [`MAX_DOMAIN`].
const MAX_PATH: usize = 1024;

/// The routes of a cluster: the push's `ingress_routes` first, then the snapshot's
/// Ingresses for any (domain, path) the push did not name. Sorted by (domain, path).
pub fn routes(push: &[IngressRouteInfo], snapshot: Option<&ClusterSnapshot>) -> Vec<Route> {
    let mut out: BTreeMap<(String, String), Route> = BTreeMap::new();
    for r in push {
        let path = if r.path_prefix.is_empty() {
            "/"
        } else {
            r.path_prefix.as_str()
        };
        if r.domain.is_empty() || r.service_key.is_empty() || !valid(&r.domain, path) {
            continue;
        }
        if out.len() >= MAX_ROUTES {
            break;
        }
        out.entry((r.domain.to_string(), path.to_owned()))
            .or_insert_with(|| Route {
                domain: r.domain.to_string(),
                path_prefix: path.to_owned(),
                service_key: r.service_key.to_string(),
                service_name: r.service_name.to_string(),
                service_port: i32::try_from(r.service_port).unwrap_or(0),
                ingress_name: r.name.to_string(),
                namespace: r.namespace.to_string(),
                tls: r.tls,
                source: Source::Agent,
            });
    }
    for ing in snapshot.map_or(&[][..], |s| &s.ingresses[..]) {
        let ns = ing.summary.namespace.as_str();
        for rule in &ing.spec.rules {
            let domain = rule.host.as_str();
            let tls = ing
                .spec
                .tls
                .iter()
                .any(|t| t.hosts.iter().any(|h| h.as_str() == domain));
            for p in &rule.paths {
                let Some(svc) = p.backend.as_ref().and_then(|b| b.service.as_ref()) else {
                    continue;
                };
                let path = if p.path.is_empty() {
                    "/"
                } else {
                    p.path.as_str()
                };
                if domain.is_empty() || svc.name.is_empty() || !valid(domain, path) {
                    continue;
                }
                if out.len() >= MAX_ROUTES {
                    return out.into_values().collect();
                }
                // As the v2.1 agent derives it: the port number, 80 when the Ingress names
                // the port instead.
                let port = if svc.port_number > 0 {
                    svc.port_number
                } else {
                    80
                };
                out.entry((domain.to_owned(), path.to_owned()))
                    .or_insert_with(|| Route {
                        domain: domain.to_owned(),
                        path_prefix: path.to_owned(),
                        service_key: format!("{ns}-{}-{port}@kubernetes", svc.name),
                        service_name: svc.name.to_string(),
                        service_port: port,
                        ingress_name: ing.summary.name.to_string(),
                        namespace: ns.to_owned(),
                        tls,
                        source: Source::Ingress,
                    });
            }
        }
    }
    out.into_values().collect()
}

fn valid(domain: &str, path: &str) -> bool {
    domain.len() <= MAX_DOMAIN && path.len() <= MAX_PATH && !domain.contains(char::is_whitespace)
}

/// Where a host's traffic goes.
#[derive(Debug, PartialEq)]
pub enum Resolved<'a> {
    /// To these routes (indexes into the route list).
    Routes(&'a [usize]),
    /// An entry point or proxy-internal series: not a service.
    EntryPoint,
    /// No route names it.
    Unmapped,
}

/// Host → routes, built from the route list and the latest snapshot's Services.
#[derive(Debug, Default)]
pub struct RouteIndex {
    by_host: HashMap<String, Vec<usize>>,
}

impl RouteIndex {
    /// Indexes `routes`: by service key, by the port-name form of the key, and by domain
    /// (nginx; the domain's `/` route, else its shortest path, since nginx reports no path).
    pub fn new(routes: &[Route], snapshot: Option<&ClusterSnapshot>) -> Self {
        let mut by_host: HashMap<String, Vec<usize>> = HashMap::new();
        let mut add = |key: String, i: usize| {
            let v = by_host.entry(key).or_default();
            if !v.contains(&i) {
                v.push(i);
            }
        };
        for (i, r) in routes.iter().enumerate() {
            add(r.service_key.clone(), i);
            if let Some(alias) = port_name_alias(r, snapshot) {
                add(alias, i);
            }
        }
        let mut by_domain: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, r) in routes.iter().enumerate() {
            let best = by_domain.entry(r.domain.as_str()).or_insert(i);
            if r.path_prefix.len() < routes[*best].path_prefix.len() {
                *best = i;
            }
        }
        for (domain, i) in by_domain {
            by_host.entry(domain.to_owned()).or_insert_with(|| vec![i]);
        }
        RouteIndex { by_host }
    }

    /// Where `host`'s traffic goes.
    pub fn resolve(&self, host: &str) -> Resolved<'_> {
        if is_entry_point(host) {
            return Resolved::EntryPoint;
        }
        match self.by_host.get(host) {
            Some(v) => Resolved::Routes(v),
            None => Resolved::Unmapped,
        }
    }
}

/// `ns-svc-http@provider` for a route `ns-svc-80@provider` whose Service (in the snapshot)
/// names port 80 `http`.
fn port_name_alias(r: &Route, snapshot: Option<&ClusterSnapshot>) -> Option<String> {
    let s = snapshot?;
    let (_, provider) = r.service_key.rsplit_once('@')?;
    let svc = s.services.iter().find(|x| {
        x.summary.namespace.as_str() == r.namespace && x.summary.name.as_str() == r.service_name
    })?;
    let port = svc
        .ports
        .iter()
        .find(|p| p.port == r.service_port && !p.name.is_empty())?;
    Some(format!(
        "{}-{}-{}@{provider}",
        r.namespace, r.service_name, port.name
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use atlhyper_actors::model::{IngressCounterMetric, IngressHistogramMetric, SloPushRequest};

    fn counter(host: &str, status: &str, value: i64) -> IngressCounterMetric {
        IngressCounterMetric {
            host: host.into(),
            status: status.into(),
            metric_type: "requests".into(),
            value,
            ..Default::default()
        }
    }

    fn hist(host: &str, buckets: &[(&str, i64)], sum: f64, count: i64) -> IngressHistogramMetric {
        IngressHistogramMetric {
            host: host.into(),
            buckets: buckets.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
            sum,
            count,
            ..Default::default()
        }
    }

    /// The master's clock at the first push of a test, unix ms.
    const T0: i64 = 1_770_000_000_000;

    fn push(
        ts: i64,
        c: Vec<IngressCounterMetric>,
        h: Vec<IngressHistogramMetric>,
    ) -> IngressMetrics {
        IngressMetrics {
            timestamp: ts,
            counters: c,
            histograms: h,
        }
    }

    #[test]
    fn the_first_push_only_sets_the_baseline() {
        let d = deltas(
            None,
            &push(10, vec![counter("a", "200", 1_000)], vec![]),
            T0,
        );
        assert!(d.hosts.is_empty());
        let key = SeriesKey(["200".into(), "".into(), "".into(), "".into(), "".into()]);
        assert_eq!(d.state.hosts["a"].counters[&key], 1_000);
        // Stored as text, and read back (older two-part keys too).
        let json = serde_json::to_string(&d.state).unwrap();
        assert!(json.contains(r#""|200|||":1000"#), "{json}");
        let back: PushState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d.state);
    }

    #[test]
    fn deltas_count_5xx_as_errors_and_4xx_apart() {
        let p1 = push(
            10,
            vec![
                counter("a", "200", 1_000),
                counter("a", "404", 10),
                counter("a", "502", 5),
            ],
            vec![],
        );
        let s1 = deltas(None, &p1, T0).state;
        let p2 = push(
            20,
            vec![
                counter("a", "200", 1_090),
                counter("a", "404", 13),
                counter("a", "502", 7),
            ],
            vec![],
        );
        let d = deltas(Some(s1.clone()), &p2, T0 + 10_000);
        let (host, acc) = &d.hosts[0];
        assert_eq!(host, "a");
        assert_eq!((acc.requests, acc.errors, acc.client_errors), (95, 2, 3));
        assert_eq!((acc.elapsed_ms, acc.samples), (10_000, 1));
    }

    #[test]
    fn a_drop_is_a_counter_reset_and_a_new_status_counts_from_zero() {
        let s1 = deltas(
            None,
            &push(10, vec![counter("a", "200", 1_000)], vec![]),
            T0,
        )
        .state;
        // Traefik restarted: 200 is back at 40; a 503 appeared for the first time with 2.
        let p2 = push(
            20,
            vec![counter("a", "200", 40), counter("a", "503", 2)],
            vec![],
        );
        let d = deltas(Some(s1.clone()), &p2, T0 + 10_000);
        let acc = &d.hosts[0].1;
        assert_eq!((acc.requests, acc.errors), (42, 2));
        // A host never seen before counts nothing, even beside known ones.
        let p3 = push(
            30,
            vec![counter("a", "200", 50), counter("b", "200", 9_999)],
            vec![],
        );
        let d = deltas(Some(d.state.clone()), &p3, T0 + 10_000);
        assert_eq!(d.hosts.len(), 1);
        assert_eq!(d.hosts[0].1.requests, 10);
        assert!(d.state.hosts.contains_key("b"));
    }

    #[test]
    fn histogram_deltas_keep_the_real_bounds_sum_and_count() {
        let b1 = [("0.1", 40), ("0.3", 80), ("1.2", 95), ("5", 100)];
        let s1 = deltas(None, &push(10, vec![], vec![hist("a", &b1, 30.0, 104)]), T0).state;
        let b2 = [("0.1", 50), ("0.3", 100), ("1.2", 120), ("5", 130)];
        let d = deltas(
            Some(s1.clone()),
            &push(20, vec![], vec![hist("a", &b2, 40.5, 136)]),
            T0 + 10_000,
        );
        let acc = &d.hosts[0].1;
        assert_eq!(acc.latency_count, 32);
        assert!((acc.latency_sum - 10.5).abs() < 1e-9);
        assert_eq!(
            acc.buckets,
            Buckets(vec![(0.1, 10), (0.3, 20), (1.2, 25), (5.0, 30)])
        );
        // Reset: the count went down, so every value is new.
        let b3 = [("0.1", 1), ("0.3", 2), ("1.2", 2), ("5", 3)];
        let d = deltas(
            Some(d.state.clone()),
            &push(30, vec![], vec![hist("a", &b3, 0.5, 3)]),
            T0 + 10_000,
        );
        let acc = &d.hosts[0].1;
        assert_eq!((acc.latency_count, acc.latency_sum), (3, 0.5));
        assert_eq!(
            acc.buckets,
            Buckets(vec![(0.1, 1), (0.3, 2), (1.2, 2), (5.0, 3)])
        );
    }

    #[test]
    fn an_inf_bucket_is_the_total_and_garbage_is_counted_not_stored() {
        let s1 = deltas(
            None,
            &push(10, vec![], vec![hist("a", &[("1", 1)], 1.0, 1)]),
            T0,
        )
        .state;
        let h = hist("a", &[("1", 5), ("+Inf", 9), ("x", 3), ("2", -1)], 4.0, 0);
        let d = deltas(
            Some(s1.clone()),
            &push(20, vec![counter("a", "200", -5)], vec![h]),
            T0 + 1,
        );
        assert_eq!(d.malformed, 3);
        let acc = &d.hosts[0].1;
        assert_eq!(acc.latency_count, 8);
        assert_eq!(acc.buckets, Buckets(vec![(1.0, 4)]));
    }

    #[test]
    fn counters_near_the_int64_limit_saturate_instead_of_wrapping() {
        let s1 = deltas(None, &push(10, vec![counter("a", "200", 0)], vec![]), T0).state;
        let huge = vec![counter("a", "200", i64::MAX), counter("a", "500", i64::MAX)];
        let d = deltas(Some(s1.clone()), &push(20, huge, vec![]), T0 + 1);
        let mut acc = d.hosts[0].1.clone();
        assert_eq!(acc.requests, i64::MAX);
        acc.add(&d.hosts[0].1);
        assert_eq!(acc.requests, i64::MAX);
        let m = acc.metrics();
        assert!(m.availability.is_finite() && m.error_rate >= 0.0);
    }

    #[test]
    fn a_series_or_host_missing_for_a_push_keeps_its_baseline() {
        let p1 = push(
            10,
            vec![counter("a", "200", 100), counter("a", "503", 40)],
            vec![],
        );
        let s1 = deltas(None, &p1, T0).state;
        // The 503 series is missing once, then back with 2 more; the whole host is missing
        // once (a failed scrape), then back.
        let s2 = deltas(
            Some(s1.clone()),
            &push(20, vec![counter("a", "200", 110)], vec![]),
            T0 + 10_000,
        )
        .state;
        let d3 = deltas(
            Some(s2.clone()),
            &push(
                30,
                vec![counter("a", "200", 120), counter("a", "503", 42)],
                vec![],
            ),
            T0 + 20_000,
        );
        assert_eq!((d3.hosts[0].1.requests, d3.hosts[0].1.errors), (12, 2));
        let s4 = deltas(
            Some(d3.state.clone()),
            &push(40, vec![], vec![]),
            T0 + 30_000,
        )
        .state;
        let d5 = deltas(
            Some(s4.clone()),
            &push(
                50,
                vec![counter("a", "200", 150), counter("a", "503", 42)],
                vec![],
            ),
            T0 + 40_000,
        );
        // 30 requests over the 20 s since the host's values were last taken.
        assert_eq!(
            (d5.hosts[0].1.requests, d5.hosts[0].1.elapsed_ms),
            (30, 20_000)
        );
        // A host unseen for a day is forgotten.
        let gone = deltas(
            Some(d5.state.clone()),
            &push(60, vec![], vec![]),
            T0 + HOST_TTL_MS + 40_000,
        );
        assert!(gone.state.hosts.is_empty());
    }

    #[test]
    fn label_variants_of_a_host_are_separate_series_and_histograms_add_up() {
        let ing = |name: &str, v: i64| IngressCounterMetric {
            ingress_name: name.into(),
            ..counter("shop.example.com", "200", v)
        };
        let s1 = deltas(
            None,
            &push(10, vec![ing("a", 10), ing("b", 1_000)], vec![]),
            T0,
        )
        .state;
        let d = deltas(
            Some(s1.clone()),
            &push(20, vec![ing("a", 15), ing("b", 1_001)], vec![]),
            T0 + 1,
        );
        assert_eq!(d.hosts[0].1.requests, 6);
        let h = |n: i64| hist("a", &[("1", n)], n as f64, n);
        let s1 = deltas(None, &push(10, vec![], vec![h(10), h(20)]), T0).state;
        assert_eq!(s1.hosts["a"].count, 30);
        let d = deltas(
            Some(s1.clone()),
            &push(20, vec![], vec![h(11), h(22)]),
            T0 + 1,
        );
        assert_eq!(d.hosts[0].1.latency_count, 3);
        assert_eq!(d.hosts[0].1.buckets, Buckets(vec![(1.0, 3)]));
    }

    #[test]
    fn entry_points_and_errors_typed_series_are_skipped() {
        let c = vec![
            counter("web@entrypoint", "200", 5),
            counter("websecure", "200", 5),
            counter("api@internal", "200", 5),
            IngressCounterMetric {
                metric_type: "errors".into(),
                ..counter("a", "500", 5)
            },
        ];
        let d = deltas(None, &push(1, c, vec![]), T0);
        assert!(d.state.hosts.is_empty());
    }

    #[test]
    fn an_idle_known_host_still_covers_the_interval() {
        let s1 = deltas(None, &push(10, vec![counter("a", "200", 7)], vec![]), T0).state;
        let d = deltas(
            Some(s1.clone()),
            &push(20, vec![counter("a", "200", 7)], vec![]),
            T0 + 10_000,
        );
        assert_eq!(d.hosts.len(), 1);
        assert_eq!(
            (d.hosts[0].1.requests, d.hosts[0].1.elapsed_ms),
            (0, 10_000)
        );
    }

    fn route(domain: &str, path: &str, key: &str) -> IngressRouteInfo {
        IngressRouteInfo {
            name: "ing".into(),
            namespace: "shop".into(),
            domain: domain.into(),
            path_prefix: path.into(),
            service_key: key.into(),
            service_name: "api".into(),
            service_port: 80,
            tls: true,
        }
    }

    #[test]
    fn hosts_resolve_by_key_by_port_name_and_by_domain() {
        let snap: ClusterSnapshot = serde_json::from_value(serde_json::json!({
            "cluster_id": "c",
            "services": [{"summary": {"name": "api", "namespace": "shop"},
                          "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]
        }))
        .unwrap();
        let rs = routes(
            &[
                route("shop.example.com", "/api", "shop-api-80@kubernetes"),
                route("www.example.com", "", "shop-api-80@kubernetes"),
            ],
            Some(&snap),
        );
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[1].path_prefix, "/");
        let idx = RouteIndex::new(&rs, Some(&snap));
        assert_eq!(
            idx.resolve("shop-api-80@kubernetes"),
            Resolved::Routes(&[0, 1])
        );
        assert_eq!(
            idx.resolve("shop-api-http@kubernetes"),
            Resolved::Routes(&[0, 1])
        );
        assert_eq!(idx.resolve("www.example.com"), Resolved::Routes(&[1]));
        assert_eq!(idx.resolve("web@entrypoint"), Resolved::EntryPoint);
        assert_eq!(
            idx.resolve("shop-other-80@kubernetescrd"),
            Resolved::Unmapped
        );
        // Without the Service, the port name means nothing.
        let idx = RouteIndex::new(&rs, None);
        assert_eq!(idx.resolve("shop-api-http@kubernetes"), Resolved::Unmapped);
    }

    #[test]
    fn the_fixture_pair_gives_the_generated_traffic() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
        let (Ok(a), Ok(b)) = (
            std::fs::read(dir.join("slo-1.json")),
            std::fs::read(dir.join("slo-2.json")),
        ) else {
            eprintln!("skipped: fixtures not found");
            return;
        };
        let a: SloPushRequest = serde_json::from_slice(&a).unwrap();
        let b: SloPushRequest = serde_json::from_slice(&b).unwrap();
        let s = deltas(None, &a.metrics, T0).state;
        let d = deltas(Some(s.clone()), &b.metrics, T0 + 10_000);
        let total = |p: &SloPushRequest| p.metrics.counters.iter().map(|c| c.value).sum::<i64>();
        let got: i64 = d.hosts.iter().map(|(_, a)| a.requests).sum();
        // Every counter only grows here, and the 503 first seen in the second push counts.
        assert_eq!(got, total(&b) - total(&a));
        assert!(d.hosts.iter().any(|(_, a)| a.errors > 0));
    }
}
