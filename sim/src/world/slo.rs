//! The SLO push of a Traefik-fronted cluster, as the v2.1 agent scrapes and sends it:
//! cumulative request counters per (service, status code) and latency histograms per
//! service (Traefik's default buckets, `+Inf` dropped), plus the route info derived from
//! the Ingress objects.

use std::collections::BTreeMap;
use std::time::Duration;

use atlhyper_actors::model::{
    IngressCounterMetric, IngressHistogramMetric, IngressMetrics, IngressRouteInfo, SloPushRequest,
    Text,
};
use chrono::{DateTime, Utc};

use super::{st, World};
use crate::rng::Rng;

/// Traefik's default `traefik_service_request_duration_seconds` buckets (`+Inf` is dropped
/// by the agent).
const BUCKETS: [(&str, f64); 4] = [("0.1", 0.1), ("0.3", 0.3), ("1.2", 1.2), ("5", 5.0)];

/// Status codes of successful traffic and their shares.
const OK_CODES: [(&str, f64); 5] = [
    ("200", 0.93),
    ("201", 0.02),
    ("304", 0.03),
    ("404", 0.015),
    ("499", 0.005),
];

/// Status codes of failed traffic and their shares.
const ERROR_CODES: [(&str, f64); 4] = [("500", 0.5), ("502", 0.25), ("503", 0.15), ("504", 0.1)];

/// Traefik's own service that Prometheus scrapes: never mapped to a route.
const INTERNAL_HOST: &str = "prometheus@internal";

/// Traffic model and cumulative counters of one Traefik service.
#[derive(Debug, Clone)]
struct Host {
    key: String,
    rps: f64,
    err: f64,
    mu: f64,
    sigma: f64,
    /// Pushes left in an error burst.
    bad: u32,
    /// Error rate during the burst.
    bad_err: f64,
    /// Pushes left in a slow period.
    slow: u32,
    counters: BTreeMap<&'static str, i64>,
    buckets: [i64; 4],
    sum: f64,
    count: i64,
}

/// A sustained burst of 5xx on the service of the first route (the `slo-burst` fault).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SloBurst {
    /// Share of requests that fail (5xx) during the burst.
    pub error_rate: f64,
    /// How long after the first SLO push the burst begins.
    pub after: Duration,
    /// How long the burst lasts.
    pub duration: Duration,
}

/// The SLO side of a simulated cluster.
#[derive(Debug, Clone)]
pub struct SloState {
    rng: Rng,
    hosts: Vec<Host>,
    last: Option<DateTime<Utc>>,
    last_ts: i64,
    /// The injected error burst, if any.
    burst: Option<SloBurst>,
    /// Time of the first SLO push (the burst window is relative to it).
    start: Option<DateTime<Utc>>,
    /// Whether the last push was inside the burst window.
    burst_on: bool,
    /// The burst started or ended at the last push (taken by [`World::take_slo_notice`]).
    notice: Option<String>,
    /// Name Traefik services by the Service port's name when it has one.
    port_names: bool,
}

impl SloState {
    /// An empty state; hosts appear as ingresses route to them.
    pub fn new(rng: Rng) -> SloState {
        SloState {
            rng,
            hosts: Vec::new(),
            last: None,
            last_ts: 0,
            burst: None,
            start: None,
            burst_on: false,
            notice: None,
            port_names: false,
        }
    }
}

impl World {
    /// Injects (or, with `None`, removes) a sustained 5xx burst on the service of the first
    /// route, relative to the first SLO push.
    pub fn set_slo_burst(&mut self, burst: Option<SloBurst>) {
        self.slo.burst = burst;
    }

    /// Names Traefik services by the Service port's name (`ns-svc-http@kubernetes`) when
    /// the port has one, as Traefik does; the route info keeps the number form.
    pub fn set_traefik_port_names(&mut self, on: bool) {
        self.slo.port_names = on;
    }

    /// A line saying the SLO burst started or ended at the last push, once.
    pub fn take_slo_notice(&mut self) -> Option<String> {
        self.slo.notice.take()
    }

    /// The Traefik service name (counter and histogram `host`) of a route.
    fn traefik_host(&self, r: &IngressRouteInfo) -> String {
        let key = st(&r.service_key);
        if !self.slo.port_names {
            return key.to_owned();
        }
        let (ns, name) = (st(&r.namespace), st(&r.service_name));
        self.snap
            .services
            .iter()
            .filter(|s| st(&s.summary.namespace) == ns && st(&s.summary.name) == name)
            .flat_map(|s| s.ports.iter())
            .find(|p| i64::from(p.port) == r.service_port && !st(&p.name).is_empty())
            .map_or_else(
                || key.to_owned(),
                |p| format!("{ns}-{name}-{}@kubernetes", st(&p.name)),
            )
    }

    /// The route info the v2.1 agent derives from Ingress objects (port default 80, path `/`).
    pub fn ingress_routes(&self) -> Vec<IngressRouteInfo> {
        let mut out: Vec<IngressRouteInfo> = Vec::new();
        for ing in &self.snap.ingresses {
            let ns = st(&ing.summary.namespace);
            let tls_hosts: Vec<&str> = ing
                .spec
                .tls
                .iter()
                .flat_map(|t| t.hosts.iter().map(st))
                .collect();
            for rule in &ing.spec.rules {
                for p in &rule.paths {
                    let Some(svc) = p.backend.as_ref().and_then(|b| b.service.as_ref()) else {
                        continue;
                    };
                    let port = if svc.port_number == 0 {
                        80
                    } else {
                        svc.port_number
                    };
                    let path: &str = if p.path.is_empty() { "/" } else { st(&p.path) };
                    let host = st(&rule.host);
                    if out
                        .iter()
                        .any(|r| st(&r.domain) == host && st(&r.path_prefix) == path)
                    {
                        continue;
                    }
                    out.push(IngressRouteInfo {
                        name: ing.summary.name.clone(),
                        namespace: ns.into(),
                        domain: host.into(),
                        path_prefix: path.into(),
                        service_key: format!("{ns}-{}-{port}@kubernetes", st(&svc.name)).into(),
                        service_name: svc.name.clone(),
                        service_port: i64::from(port),
                        tls: tls_hosts.contains(&host),
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (
                st(&a.namespace),
                st(&a.name),
                st(&a.domain),
                st(&a.path_prefix),
            )
                .cmp(&(
                    st(&b.namespace),
                    st(&b.name),
                    st(&b.domain),
                    st(&b.path_prefix),
                ))
        });
        out
    }

    /// The next SLO push at `now`: counters and histograms advance by the traffic since the
    /// previous push (the first push shows what Traefik counted since its start).
    pub fn slo_push(&mut self, now: DateTime<Utc>) -> SloPushRequest {
        let routes = self.ingress_routes();
        let mut keys: Vec<String> = routes.iter().map(|r| self.traefik_host(r)).collect();
        // The service failing in the burst: the first route's (deterministic, no rng).
        let burst_host = match (self.slo.burst, routes.first()) {
            (Some(b), Some(route)) => Some((b, route, self.traefik_host(route))),
            _ => None,
        };
        keys.sort();
        keys.dedup();
        keys.push(INTERNAL_HOST.to_owned());
        let cluster = st(&self.snap.cluster_id);
        let s = &mut self.slo;
        let r = &mut s.rng;
        let first = s.last.is_none();
        let start = *s.start.get_or_insert(now);
        let burst_host = burst_host.and_then(|(b, route, key)| {
            let on = (now - start)
                .to_std()
                .is_ok_and(|since| since >= b.after && since < b.after.saturating_add(b.duration));
            if on != s.burst_on {
                s.burst_on = on;
                s.notice = Some(format!(
                    "{cluster}: SLO burst {} on {} ({key}): {:.0}% 5xx",
                    if on { "started" } else { "ended" },
                    st(&route.domain),
                    b.error_rate * 100.0
                ));
            }
            on.then_some((key, b.error_rate))
        });
        let dt = s
            .last
            .map_or(0.0, |l| (now - l).num_milliseconds() as f64 / 1000.0)
            .clamp(0.0, 3600.0);
        s.last = Some(now);
        let uptime = r.uniform(3.0 * 3600.0, 48.0 * 3600.0);
        for k in &keys {
            if !s.hosts.iter().any(|h| &h.key == k) {
                let h = new_host(r, k);
                s.hosts.push(h);
            }
        }
        // Traefik restarted: every counter starts from zero again.
        let reset = !first && r.chance(0.0005);
        for h in &mut s.hosts {
            if !keys.contains(&h.key) {
                continue;
            }
            if reset {
                h.counters.clear();
                h.buckets = [0; 4];
                h.sum = 0.0;
                h.count = 0;
            }
            if h.bad == 0 && r.chance(0.004) {
                h.bad = r.range(3, 12) as u32;
                h.bad_err = r.uniform(0.03, 0.3);
            }
            if h.slow == 0 && r.chance(0.004) {
                h.slow = r.range(3, 12) as u32;
            }
            let mut err = if h.bad > 0 {
                h.bad -= 1;
                h.bad_err
            } else {
                h.err
            };
            if let Some((_, rate)) = burst_host.as_ref().filter(|(k, _)| *k == h.key) {
                err = *rate;
            }
            let mu = if h.slow > 0 {
                h.slow -= 1;
                h.mu + 1.5
            } else {
                h.mu
            };
            let secs = if first { uptime } else { dt };
            let n = r.poisson(h.rps * secs);
            let errors = binomial(r, n, err);
            let ok = n - errors;
            let ok_split = multinomial(r, ok, &OK_CODES.map(|c| c.1));
            let err_split = multinomial(r, errors, &ERROR_CODES.map(|c| c.1));
            for (code, x) in OK_CODES
                .iter()
                .zip(ok_split)
                .chain(ERROR_CODES.iter().zip(err_split))
            {
                if x > 0 {
                    *h.counters.entry(code.0).or_insert(0) += x as i64;
                }
            }
            let mut probs = [0.0; 5];
            let mut prev = 0.0;
            for (i, (_, le)) in BUCKETS.iter().enumerate() {
                let c = lognormal_cdf(*le, mu, h.sigma);
                probs[i] = (c - prev).max(0.0);
                prev = c;
            }
            probs[4] = (1.0 - prev).max(0.0);
            let bins = multinomial(r, n, &probs);
            let mut acc = 0i64;
            for (i, b) in h.buckets.iter_mut().enumerate() {
                acc += bins.get(i).copied().unwrap_or(0) as i64;
                *b += acc;
            }
            let mean = (mu + h.sigma * h.sigma / 2.0).exp();
            h.sum += n as f64 * mean * r.uniform(0.9, 1.1);
            h.count += n as i64;
        }
        let mut counters = Vec::new();
        let mut histograms = Vec::new();
        for k in &keys {
            let Some(h) = s.hosts.iter().find(|h| &h.key == k) else {
                continue;
            };
            for (code, v) in &h.counters {
                counters.push(IngressCounterMetric {
                    host: h.key.as_str().into(),
                    status: (*code).into(),
                    metric_type: "requests".into(),
                    value: *v,
                    ..Default::default()
                });
            }
            if h.count > 0 {
                histograms.push(IngressHistogramMetric {
                    host: h.key.as_str().into(),
                    ingress_name: Text::default(),
                    namespace: Text::default(),
                    buckets: BUCKETS
                        .iter()
                        .zip(h.buckets)
                        .map(|((le, _), v)| (Text::from(*le), v))
                        .collect(),
                    sum: (h.sum * 1e6).round() / 1e6,
                    count: h.count,
                });
            }
        }
        let ts = now.timestamp().max(s.last_ts);
        s.last_ts = ts;
        SloPushRequest {
            cluster_id: self.snap.cluster_id.clone(),
            metrics: IngressMetrics {
                timestamp: ts,
                counters,
                histograms,
            },
            ingress_routes: routes,
        }
    }
}

fn new_host(r: &mut Rng, key: &str) -> Host {
    let internal = key == INTERNAL_HOST;
    let web = key.contains("-web-") || key.contains("-frontend-") || key.contains("-grafana-");
    let rps = if internal {
        0.1
    } else {
        (r.gauss() * 0.9 + if web { 8.0f64.ln() } else { 5.0f64.ln() }).exp()
    };
    let median: f64 = (r.gauss() * 0.5 + if web { 0.035f64.ln() } else { 0.07f64.ln() }).exp();
    Host {
        key: key.to_owned(),
        rps,
        err: *r
            .pick(&[0.0005, 0.001, 0.002, 0.004, 0.01])
            .unwrap_or(&0.001),
        mu: median.ln(),
        sigma: r.uniform(0.55, 1.0),
        bad: 0,
        bad_err: 0.0,
        slow: 0,
        counters: BTreeMap::new(),
        buckets: [0; 4],
        sum: 0.0,
        count: 0,
    }
}

/// How many of `n` trials succeed with probability `p` (exact below 64 trials, normal
/// approximation above).
fn binomial(r: &mut Rng, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if n < 64 {
        return (0..n).filter(|_| r.chance(p)).count() as u64;
    }
    let mean = n as f64 * p;
    let sd = (mean * (1.0 - p)).sqrt();
    (mean + sd * r.gauss()).round().clamp(0.0, n as f64) as u64
}

/// Splits `n` over categories with the given weights (sequential binomials).
fn multinomial(r: &mut Rng, n: u64, weights: &[f64]) -> Vec<u64> {
    let total: f64 = weights.iter().sum();
    let mut left = n;
    let mut mass = total;
    let mut out = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let x = if i + 1 == weights.len() || mass <= 0.0 {
            left
        } else {
            binomial(r, left, (w / mass).clamp(0.0, 1.0))
        };
        out.push(x);
        left -= x;
        mass -= w;
    }
    out
}

/// P(X ≤ x) for a log-normal X.
fn lognormal_cdf(x: f64, mu: f64, sigma: f64) -> f64 {
    0.5 * (1.0 + erf((x.ln() - mu) / (sigma * std::f64::consts::SQRT_2)))
}

/// Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    sign * y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multinomial_keeps_the_total() {
        let mut r = Rng::new(3);
        for n in [0, 1, 10, 63, 64, 1000, 100_000] {
            let parts = multinomial(&mut r, n, &[0.5, 0.3, 0.2]);
            assert_eq!(parts.iter().sum::<u64>(), n);
        }
        assert!((erf(0.5) - 0.520_499_877_8).abs() < 1e-6);
        assert!((lognormal_cdf(1.0, 0.0, 1.0) - 0.5).abs() < 1e-9);
    }
}
