//! The SLO formulas (reference §6.3, corrected), as pure functions over [`Acc`], the
//! requests of a route over some period.
//!
//! Corrections to v2.1:
//! - quantiles interpolate on the agent's own bucket bounds (Traefik's 0.3 and 1.2
//!   included), and the total is the histogram `count` when `+Inf` is missing, so the
//!   tail is not skewed;
//! - mean latency is `sum / count` (v2.1 dropped `sum`);
//! - RPS divides by the real time the pushes covered, not by "rows × 10 s";
//! - the error budget is measured against the configured target, never a fixed 95 %;
//! - a window without requests is `unknown`, not 100 % healthy.

use serde::Serialize;

/// Histogram buckets: finite upper bounds in seconds, ascending, with cumulative counts.
/// `+Inf` is not stored: its count is the histogram's `count`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets(pub Vec<(f64, i64)>);

impl Buckets {
    /// Parses the stored form (see [`Buckets::encode`]). Malformed pairs are skipped (the
    /// column is only ever written by `encode`).
    pub fn parse(text: &str) -> Buckets {
        let mut v: Vec<(f64, i64)> = text
            .split_ascii_whitespace()
            .filter_map(|pair| {
                let (le, n) = pair.split_once(':')?;
                let ns: i64 = le.parse().ok()?;
                Some((ns as f64 / 1e9, n.parse().ok()?))
            })
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        Buckets(v)
    }

    /// The stored form: `le:count` separated by spaces, each bound in whole nanoseconds
    /// (`0.3` s is `300000000`; no real histogram has a finer bound). Integers only: this
    /// is written for every series row of every push, and float formatting was a visible
    /// part of its cost.
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(self.0.len() * 20);
        let mut i = itoa::Buffer::new();
        for (k, (le, n)) in self.0.iter().enumerate() {
            if k > 0 {
                s.push(' ');
            }
            s.push_str(i.format((le * 1e9).round() as i64));
            s.push(':');
            s.push_str(i.format(*n));
        }
        s
    }

    /// True when no bound is known.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The cumulative count at `le`: the count of the largest own bound `<= le` (a lower
    /// bound of the truth when the bounds differ), 0 below the first bound.
    pub fn count_at(&self, le: f64) -> i64 {
        match self.0.partition_point(|(b, _)| *b <= le) {
            0 => 0,
            i => self.0[i - 1].1,
        }
    }

    /// Adds `other` bound by bound. Histograms with the same bounds (the usual case) add
    /// pairwise; different bounds are merged over the union of bounds, each side counting
    /// at the largest of its own bounds below (never more than it observed).
    pub fn add(&mut self, other: &Buckets) {
        if other.0.is_empty() {
            return;
        }
        if self.0.is_empty() {
            self.0.clone_from(&other.0);
            return;
        }
        if self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a.0 == b.0) {
            for (a, b) in self.0.iter_mut().zip(&other.0) {
                a.1 = a.1.saturating_add(b.1);
            }
            return;
        }
        let mut bounds: Vec<f64> = self.0.iter().chain(&other.0).map(|(b, _)| *b).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let merged = bounds
            .into_iter()
            .map(|b| (b, self.count_at(b).saturating_add(other.count_at(b))))
            .collect();
        self.0 = merged;
    }

    /// The `q` quantile in seconds by Prometheus' `histogram_quantile` rules, with `total`
    /// observations in all (the `+Inf` count): linear interpolation inside the bucket that
    /// holds the rank, from 0 for the first bucket; the largest finite bound when the rank
    /// falls in `+Inf`. `None` without observations.
    pub fn quantile(&self, q: f64, total: i64) -> Option<f64> {
        if total <= 0 || self.0.is_empty() || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total as f64;
        let (mut prev_le, mut prev_n) = (0.0_f64, 0_i64);
        for &(le, n) in &self.0 {
            // Counts that go down (bad data) are treated as flat, as Prometheus does.
            let n = n.max(prev_n);
            if n as f64 >= rank && n > prev_n {
                if le <= 0.0 {
                    return Some(le);
                }
                let inside = (rank - prev_n as f64) / (n - prev_n) as f64;
                return Some(prev_le + (le - prev_le) * inside.clamp(0.0, 1.0));
            }
            prev_le = le;
            prev_n = n;
        }
        self.0.last().map(|(le, _)| *le)
    }
}

/// The requests of one route over a period: what a series row holds, and what adding
/// rows gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acc {
    /// Requests.
    pub requests: i64,
    /// Requests answered 5xx: they count against availability.
    pub errors: i64,
    /// Requests answered 4xx: shown, not counted against availability.
    pub client_errors: i64,
    /// Sum of latencies, seconds.
    pub latency_sum: f64,
    /// Number of latency observations (the `+Inf` bucket).
    pub latency_count: i64,
    /// Latency buckets.
    pub buckets: Buckets,
    /// Time the pushes covered, ms.
    pub elapsed_ms: i64,
    /// Pushes that contributed.
    pub samples: i64,
}

impl Acc {
    /// Adds another period's requests.
    /// Counts saturate: an agent may send any `int64`, and a sum must never wrap.
    pub fn add(&mut self, o: &Acc) {
        self.requests = self.requests.saturating_add(o.requests);
        self.errors = self.errors.saturating_add(o.errors);
        self.client_errors = self.client_errors.saturating_add(o.client_errors);
        self.latency_sum += o.latency_sum;
        self.latency_count = self.latency_count.saturating_add(o.latency_count);
        self.buckets.add(&o.buckets);
        self.elapsed_ms = self.elapsed_ms.saturating_add(o.elapsed_ms);
        self.samples = self.samples.saturating_add(o.samples);
    }

    /// Adds the requests of another service over the *same* time (the routes of one
    /// domain, two hosts of one route in one push): counts add up, the time covered does
    /// not (so rates stay requests per second of wall time).
    pub fn add_parallel(&mut self, o: &Acc) {
        let (elapsed, samples) = (
            self.elapsed_ms.max(o.elapsed_ms),
            self.samples.max(o.samples),
        );
        self.add(o);
        self.elapsed_ms = elapsed;
        self.samples = samples;
    }

    /// True when no push contributed.
    pub fn is_empty(&self) -> bool {
        self.samples == 0 && self.requests == 0
    }

    /// The metrics of these requests.
    pub fn metrics(&self) -> Metrics {
        let requests = self.requests.max(0);
        let errors = self.errors.clamp(0, requests);
        let (availability, error_rate) = if requests == 0 {
            (100.0, 0.0)
        } else {
            let e = errors as f64 / requests as f64 * 100.0;
            (100.0 - e, e)
        };
        let ms = |q: f64| {
            self.buckets
                .quantile(q, self.latency_count)
                .map(|s| round(s * 1000.0, 1))
        };
        let secs = self.elapsed_ms as f64 / 1000.0;
        Metrics {
            availability,
            error_rate,
            client_error_rate: if requests == 0 {
                0.0
            } else {
                self.client_errors.clamp(0, requests) as f64 / requests as f64 * 100.0
            },
            p50_latency_ms: ms(0.50),
            p95_latency_ms: ms(0.95),
            p99_latency_ms: ms(0.99),
            mean_latency_ms: (self.latency_count > 0)
                .then(|| round(self.latency_sum / self.latency_count as f64 * 1000.0, 1)),
            requests_per_sec: if secs > 0.0 {
                round(requests as f64 / secs, 3)
            } else {
                0.0
            },
            total_requests: requests,
            errors,
            client_errors: self.client_errors.clamp(0, requests),
        }
    }
}

/// The API's `SLOMetrics`. Rates keep their full precision (status, budget and burn rate
/// are decided on them: 99.98996 % is below a 99.99 % target) and are rounded to four
/// decimals only in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = SLOMetrics)]
pub struct Metrics {
    /// (requests − 5xx) ÷ requests, percent; 100 without requests.
    #[serde(serialize_with = "four_decimals")]
    pub availability: f64,
    /// 5xx ÷ requests, percent.
    #[serde(serialize_with = "four_decimals")]
    pub error_rate: f64,
    /// 4xx ÷ requests, percent (not counted against availability).
    #[serde(serialize_with = "four_decimals")]
    pub client_error_rate: f64,
    /// Median latency, ms (`null` without latency data).
    pub p50_latency_ms: Option<f64>,
    /// 95th percentile latency, ms.
    pub p95_latency_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_latency_ms: Option<f64>,
    /// Mean latency (`sum / count`), ms.
    pub mean_latency_ms: Option<f64>,
    /// Requests per second over the time the pushes covered.
    pub requests_per_sec: f64,
    /// Requests.
    pub total_requests: i64,
    /// 5xx answers.
    pub errors: i64,
    /// 4xx answers.
    pub client_errors: i64,
}

/// An SLO target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = SloTarget)]
pub struct Target {
    /// Availability, percent, in (0, 100).
    pub availability: f64,
    /// p95 latency, ms.
    pub p95_latency_ms: f64,
}

impl Target {
    /// The error budget as a fraction of requests (`1 − availability`).
    pub fn budget(&self) -> f64 {
        (100.0 - self.availability) / 100.0
    }

    /// Error budget left over a window with these metrics, percent of the budget:
    /// `(budget − spent) ÷ budget`, clamped to [−100, 100] (−100: spent twice over or
    /// more). 100 without requests.
    pub fn budget_remaining(&self, m: &Metrics) -> f64 {
        let budget = self.budget();
        let spent = m.error_rate / 100.0;
        if budget <= 0.0 {
            return if spent <= 0.0 { 100.0 } else { -100.0 };
        }
        round(((budget - spent) / budget * 100.0).clamp(-100.0, 100.0), 2)
    }

    /// How many times faster than the target allows the budget is spent:
    /// error rate ÷ budget (1: exactly used up by the end of the period).
    pub fn burn_rate(&self, m: &Metrics) -> f64 {
        let budget = self.budget();
        if budget <= 0.0 {
            return 0.0;
        }
        round(m.error_rate / 100.0 / budget, 3)
    }

    /// The status of a window: `unknown` without requests; `critical` below the
    /// availability target; `warning` when p95 is over its target; else `healthy`.
    pub fn status(&self, m: &Metrics) -> Status {
        if m.total_requests == 0 {
            Status::Unknown
        } else if m.availability < self.availability {
            Status::Critical
        } else if m.p95_latency_ms.is_some_and(|p| p > self.p95_latency_ms) {
            Status::Warning
        } else {
            Status::Healthy
        }
    }
}

/// A route's or domain's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SloStatus)]
pub enum Status {
    /// No requests in the window.
    Unknown,
    /// Within target.
    Healthy,
    /// p95 over target.
    Warning,
    /// Availability under target.
    Critical,
}

impl Status {
    /// The API text.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }

    /// Parses the API text.
    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Unknown,
            Status::Healthy,
            Status::Warning,
            Status::Critical,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Availability now versus the previous window of the same length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SloTrend)]
pub enum Trend {
    /// More than 0.1 points better.
    Up,
    /// More than 0.1 points worse.
    Down,
    /// Within 0.1 points.
    Stable,
}

/// The trend from `previous` to `current`; `None` when either window had no requests.
pub fn trend(current: &Metrics, previous: Option<&Metrics>) -> Option<Trend> {
    let p = previous.filter(|p| p.total_requests > 0)?;
    if current.total_requests == 0 {
        return None;
    }
    let d = current.availability - p.availability;
    Some(if d > 0.1 {
        Trend::Up
    } else if d < -0.1 {
        Trend::Down
    } else {
        Trend::Stable
    })
}

fn four_decimals<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round(*x, 4))
}

/// `x` rounded to `digits` decimals (display only; `-0` becomes `0`).
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f + 0.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    fn b(pairs: &[(f64, i64)]) -> Buckets {
        Buckets(pairs.to_vec())
    }

    #[test]
    fn buckets_round_trip_their_stored_form() {
        let x = b(&[(0.005, 1), (0.1, 3), (0.3, 7), (1.2, 9), (5.0, 10)]);
        assert_eq!(
            x.encode(),
            "5000000:1 100000000:3 300000000:7 1200000000:9 5000000000:10"
        );
        assert_eq!(Buckets::parse(&x.encode()), x);
        assert_eq!(Buckets::parse(""), Buckets::default());
        // Garbage pairs are skipped, order is restored.
        assert_eq!(
            Buckets::parse("5000000000:10 x:1 100000000:3 0.4:4 300000000:"),
            b(&[(0.1, 3), (5.0, 10)])
        );
    }

    #[test]
    fn quantile_interpolates_on_the_real_bounds() {
        // Traefik's bounds: 100 observations, 40 ≤ 0.1 s, 80 ≤ 0.3 s, 95 ≤ 1.2 s, 100 ≤ 5 s.
        let x = b(&[(0.1, 40), (0.3, 80), (1.2, 95), (5.0, 100)]);
        // p50: rank 50, in (0.1, 0.3]: 0.1 + 0.2 × (50 − 40) / (80 − 40) = 0.15.
        assert!((x.quantile(0.5, 100).unwrap() - 0.15).abs() < 1e-12);
        // p95: rank 95 is exactly the 1.2 bucket's count: 0.3 + 0.9 × 15/15 = 1.2.
        assert!((x.quantile(0.95, 100).unwrap() - 1.2).abs() < 1e-12);
        // p99: rank 99, in (1.2, 5]: 1.2 + 3.8 × 4/5 = 4.24.
        assert!((x.quantile(0.99, 100).unwrap() - 4.24).abs() < 1e-12);
        // p20: first bucket, from 0: 0.1 × 20/40 = 0.05.
        assert!((x.quantile(0.2, 100).unwrap() - 0.05).abs() < 1e-12);
    }

    #[test]
    fn quantile_uses_the_count_when_inf_is_missing() {
        // 100 observations, only 90 under the largest finite bound: 10 are above 5 s.
        let x = b(&[(0.1, 40), (0.3, 80), (1.2, 85), (5.0, 90)]);
        // v2.1 took 90 as the total, so p95 came out inside the finite buckets (≈ 4.6 s).
        // With the count (100) the rank 95 is in +Inf: the largest finite bound.
        assert_eq!(x.quantile(0.95, 100), Some(5.0));
        // p50 with total 100: rank 50, (0.1, 0.3]: 0.1 + 0.2 × 10/40 = 0.15.
        assert!((x.quantile(0.5, 100).unwrap() - 0.15).abs() < 1e-12);
        // With the wrong total (90) the median would move: 0.1 + 0.2 × 5/40 = 0.125.
        assert!((x.quantile(0.5, 90).unwrap() - 0.125).abs() < 1e-12);
        assert_eq!(x.quantile(0.5, 0), None);
        assert_eq!(Buckets::default().quantile(0.5, 10), None);
    }

    #[test]
    fn buckets_with_different_bounds_merge_without_overcounting() {
        let mut a = b(&[(0.1, 10), (1.0, 20)]);
        a.add(&b(&[(0.1, 1), (1.0, 2)]));
        assert_eq!(a, b(&[(0.1, 11), (1.0, 22)]));
        let mut c = b(&[(0.1, 10), (1.0, 20)]);
        c.add(&b(&[(0.3, 5), (5.0, 6)]));
        // At 0.1 the second histogram has observed nothing it can prove ≤ 0.1 (0);
        // at 0.3 the first still counts 10 (its own 0.1), and so on.
        assert_eq!(c, b(&[(0.1, 10), (0.3, 15), (1.0, 25), (5.0, 26)]));
    }

    fn acc(requests: i64, errors: i64, client: i64, elapsed_ms: i64) -> Acc {
        Acc {
            requests,
            errors,
            client_errors: client,
            elapsed_ms,
            samples: 1,
            ..Acc::default()
        }
    }

    #[test]
    fn availability_error_rate_rps_and_mean() {
        let mut a = acc(2_000, 5, 40, 10_000);
        a.latency_sum = 150.0;
        a.latency_count = 2_000;
        let m = a.metrics();
        assert!((m.availability - 99.75).abs() < 1e-9);
        assert!((m.error_rate - 0.25).abs() < 1e-9);
        assert!((m.client_error_rate - 2.0).abs() < 1e-9);
        assert_eq!(m.requests_per_sec, 200.0);
        assert_eq!(m.mean_latency_ms, Some(75.0));
        assert_eq!(m.total_requests, 2_000);
        assert_eq!(m.p95_latency_ms, None);
    }

    #[test]
    fn rps_uses_the_real_elapsed_time() {
        // Two pushes 7 s and 13 s apart carrying 140 and 260 requests: 400 / 20 s = 20/s.
        let mut a = acc(140, 0, 0, 7_000);
        a.add(&acc(260, 0, 0, 13_000));
        assert_eq!(a.metrics().requests_per_sec, 20.0);
        assert_eq!(a.samples, 2);
    }

    #[test]
    fn parallel_services_add_requests_not_time() {
        // Two services, 100 rps each over the same 10 s: the domain does 200 rps.
        let mut a = acc(1_000, 0, 0, 10_000);
        a.add_parallel(&acc(1_000, 0, 0, 10_000));
        assert_eq!(a.metrics().requests_per_sec, 200.0);
        assert_eq!((a.requests, a.elapsed_ms, a.samples), (2_000, 10_000, 1));
    }

    #[test]
    fn status_is_decided_on_unrounded_availability() {
        let t = Target {
            availability: 99.99,
            p95_latency_ms: 300.0,
        };
        // 99.98996 %: four decimals would say 99.99, which is not below the target.
        let m = acc(99_601, 10, 0, 1).metrics();
        assert!(m.availability < 99.99);
        assert_eq!(t.status(&m), Status::Critical);
        assert_eq!(
            serde_json::to_value(&m).unwrap()["availability"],
            serde_json::json!(99.99)
        );
    }

    #[test]
    fn an_idle_window_is_unknown_not_healthy() {
        // A host that pushed for the whole window with no requests.
        let a = acc(0, 0, 0, 3_600_000);
        let m = a.metrics();
        assert_eq!(
            (m.availability, m.error_rate, m.requests_per_sec),
            (100.0, 0.0, 0.0)
        );
        let t = Target {
            availability: 99.9,
            p95_latency_ms: 300.0,
        };
        assert_eq!(t.status(&m), Status::Unknown);
        assert_eq!(t.budget_remaining(&m), 100.0);
        assert_eq!(t.burn_rate(&m), 0.0);
        assert_eq!(trend(&m, Some(&acc(10, 0, 0, 1).metrics())), None);
    }

    #[test]
    fn budget_burn_and_status_against_the_configured_target() {
        let t = Target {
            availability: 99.0,
            p95_latency_ms: 300.0,
        };
        // 0.5 % errors against a 1 % budget: half spent, burn rate 0.5.
        let m = acc(10_000, 50, 0, 1).metrics();
        assert_eq!(t.budget_remaining(&m), 50.0);
        assert_eq!(t.burn_rate(&m), 0.5);
        assert_eq!(t.status(&m), Status::Healthy);
        // 2 % errors: budget overspent (−100 %), burn 2, critical.
        let m = acc(10_000, 200, 0, 1).metrics();
        assert_eq!(t.budget_remaining(&m), -100.0);
        assert_eq!(t.burn_rate(&m), 2.0);
        assert_eq!(t.status(&m), Status::Critical);
        // The same errors against 95 %: 60 % of the budget left (v2.1 always used 95).
        let loose = Target {
            availability: 95.0,
            p95_latency_ms: 300.0,
        };
        assert_eq!(loose.budget_remaining(&m), 60.0);
        assert_eq!(loose.burn_rate(&m), 0.4);
    }

    #[test]
    fn slow_but_available_is_a_warning() {
        let t = Target {
            availability: 99.0,
            p95_latency_ms: 300.0,
        };
        let mut a = acc(100, 0, 0, 1);
        a.latency_count = 100;
        a.buckets = b(&[(0.1, 10), (0.5, 50), (1.0, 100)]);
        // p95: rank 95 in (0.5, 1.0]: 0.5 + 0.5 × 45/50 = 0.95 s.
        let m = a.metrics();
        assert_eq!(m.p95_latency_ms, Some(950.0));
        assert_eq!(t.status(&m), Status::Warning);
    }

    #[test]
    fn trend_compares_availability_with_the_previous_window() {
        let now = acc(1_000, 1, 0, 1).metrics(); // 99.9
        assert_eq!(
            trend(&now, Some(&acc(1_000, 5, 0, 1).metrics())),
            Some(Trend::Up)
        );
        assert_eq!(
            trend(&now, Some(&acc(1_000, 0, 0, 1).metrics())),
            Some(Trend::Stable)
        );
        assert_eq!(
            trend(&acc(1_000, 9, 0, 1).metrics(), Some(&now)),
            Some(Trend::Down)
        );
        assert_eq!(trend(&now, None), None);
    }

    #[test]
    fn status_parses_back() {
        for s in ["unknown", "healthy", "warning", "critical"] {
            assert_eq!(Status::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(Status::parse("ok"), None);
    }
}
