//! Counters and latency histograms shared by every cluster task, the live status line and
//! the closing summary.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Relative width of a histogram bucket: 5 %, so a percentile is off by at most 2.5 %.
const STEP: f64 = 1.05;
/// Buckets cover 1 µs to about 25 minutes.
const BUCKETS: usize = 440;
/// Error messages printed in full before the sim only counts them.
const PRINTED_ERRORS: u64 = 20;

/// A lock-free log-scale histogram of durations (microsecond resolution).
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = d.as_micros().max(1) as f64;
        let i = ((us.ln() / STEP.ln()) as usize).min(BUCKETS - 1);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The `q` quantile (0..=1) in milliseconds; `None` without samples.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                // Geometric middle of the bucket.
                let us = STEP.powf(i as f64 + 0.5);
                return Some(us / 1000.0);
            }
        }
        None
    }
}

/// Everything the simulator counts.
#[derive(Default)]
pub struct Stats {
    /// Snapshots accepted (2xx).
    pub snapshots: AtomicU64,
    /// Heartbeats accepted.
    pub heartbeats: AtomicU64,
    /// SLO pushes accepted.
    pub slo: AtomicU64,
    /// Long polls answered.
    pub polls: AtomicU64,
    /// Commands received.
    pub commands: AtomicU64,
    /// Commands that ran with `success: false` (unknown action, missing object...).
    pub commands_failed: AtomicU64,
    /// Results acknowledged by the master.
    pub results: AtomicU64,
    /// Unexpected failures: non-2xx replies and transport errors.
    pub errors: AtomicU64,
    /// Injected faults that got the expected answer (a corrupt body's 400).
    pub faults: AtomicU64,
    /// Heartbeat gaps started.
    pub gaps: AtomicU64,
    /// Uncompressed snapshot and SLO JSON sent.
    pub json_bytes: AtomicU64,
    /// Bytes on the wire for the same.
    pub wire_bytes: AtomicU64,
    /// Snapshot POST round trips.
    pub push_latency: Histogram,
    /// A command's `created_at` (master clock) to its arrival in a long poll.
    pub cmd_delivery: Histogram,
    /// A command's arrival to the master's 200 for its result (execution included).
    pub cmd_ack: Histogram,
    /// What happened, item by item, for a history checker (`None` unless asked for with
    /// [`Stats::journaled`]).
    pub journal: Option<Journal>,
    last_error: Mutex<String>,
}

/// The agents' side of a run's history, for a checker that compares it with what the master
/// stored (the kill -9 soak test): which commands each long poll handed out, which results
/// the master acknowledged, and the highest count each event was ever sent with.
#[derive(Default)]
pub struct Journal {
    /// Every command a long poll delivered: (cluster, command id), in arrival order.
    pub handed: Mutex<Vec<(String, String)>>,
    /// Every result the master answered 200 to: (cluster, command id, success).
    pub results: Mutex<Vec<(String, String, bool)>>,
    /// The highest `count` any snapshot carried for each event uid.
    pub event_counts: Mutex<HashMap<String, i32>>,
}

impl Journal {
    fn push<T>(list: &Mutex<Vec<T>>, item: T) {
        if let Ok(mut l) = list.lock() {
            l.push(item);
        }
    }

    /// Records a command a poll delivered.
    pub fn handed(&self, cluster: &str, command: &str) {
        Self::push(&self.handed, (cluster.to_owned(), command.to_owned()));
    }

    /// Records a result the master acknowledged.
    pub fn result(&self, cluster: &str, command: &str, success: bool) {
        Self::push(
            &self.results,
            (cluster.to_owned(), command.to_owned(), success),
        );
    }

    /// Records the counts a snapshot is about to carry.
    pub fn events<'a>(&self, events: impl Iterator<Item = (&'a str, i32)>) {
        if let Ok(mut m) = self.event_counts.lock() {
            for (uid, count) in events {
                let max = m.entry(uid.to_owned()).or_insert(count);
                *max = (*max).max(count);
            }
        }
    }
}

impl Stats {
    /// Counters plus a [`Journal`].
    pub fn journaled() -> Stats {
        Stats {
            journal: Some(Journal::default()),
            ..Stats::default()
        }
    }

    /// Counts an unexpected failure; the first few are printed in full.
    pub fn error(&self, what: impl fmt::Display) {
        let n = self.errors.fetch_add(1, Relaxed) + 1;
        let msg = what.to_string();
        if n <= PRINTED_ERRORS || n % 1000 == 0 {
            eprintln!("\nerror #{n}: {msg}");
        }
        if let Ok(mut last) = self.last_error.lock() {
            *last = msg;
        }
    }

    /// The most recent error message.
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Accepted pushes (snapshots, heartbeats, SLO).
    pub fn pushes(&self) -> u64 {
        self.snapshots.load(Relaxed) + self.heartbeats.load(Relaxed) + self.slo.load(Relaxed)
    }
}

/// The result of a run, printed as one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Simulated clusters.
    pub clusters: usize,
    /// Pods per cluster at start.
    pub pods: usize,
    /// Wall time of the run.
    pub duration: Duration,
    /// Snapshots accepted.
    pub snapshots: u64,
    /// Heartbeats accepted.
    pub heartbeats: u64,
    /// SLO pushes accepted.
    pub slo: u64,
    /// Long polls answered.
    pub polls: u64,
    /// Commands received.
    pub commands: u64,
    /// Commands answered with `success: false`.
    pub commands_failed: u64,
    /// Results acknowledged.
    pub results: u64,
    /// Unexpected failures.
    pub errors: u64,
    /// Injected faults answered as expected.
    pub faults: u64,
    /// Heartbeat gaps.
    pub gaps: u64,
    /// Snapshot round trip p50 (ms).
    pub push_p50_ms: f64,
    /// Snapshot round trip p99 (ms).
    pub push_p99_ms: f64,
    /// Command delivery p50 (ms): `created_at` to arrival in the poll.
    pub cmd_latency_p50_ms: f64,
    /// Command delivery p99 (ms).
    pub cmd_latency_p99_ms: f64,
    /// Command arrival to result acknowledged, p50 (ms).
    pub cmd_ack_p50_ms: f64,
    /// Same, p99 (ms).
    pub cmd_ack_p99_ms: f64,
    /// Uncompressed JSON sent (MB).
    pub json_mb: f64,
    /// Bytes on the wire (MB).
    pub gzip_mb: f64,
}

impl Summary {
    /// The summary of `stats` after `duration`.
    pub fn of(stats: &Stats, clusters: usize, pods: usize, duration: Duration) -> Summary {
        let q = |h: &Histogram, x: f64| h.quantile_ms(x).unwrap_or(0.0);
        Summary {
            clusters,
            pods,
            duration,
            snapshots: stats.snapshots.load(Relaxed),
            heartbeats: stats.heartbeats.load(Relaxed),
            slo: stats.slo.load(Relaxed),
            polls: stats.polls.load(Relaxed),
            commands: stats.commands.load(Relaxed),
            commands_failed: stats.commands_failed.load(Relaxed),
            results: stats.results.load(Relaxed),
            errors: stats.errors.load(Relaxed),
            faults: stats.faults.load(Relaxed),
            gaps: stats.gaps.load(Relaxed),
            push_p50_ms: q(&stats.push_latency, 0.5),
            push_p99_ms: q(&stats.push_latency, 0.99),
            cmd_latency_p50_ms: q(&stats.cmd_delivery, 0.5),
            cmd_latency_p99_ms: q(&stats.cmd_delivery, 0.99),
            cmd_ack_p50_ms: q(&stats.cmd_ack, 0.5),
            cmd_ack_p99_ms: q(&stats.cmd_ack, 0.99),
            json_mb: stats.json_bytes.load(Relaxed) as f64 / 1e6,
            gzip_mb: stats.wire_bytes.load(Relaxed) as f64 / 1e6,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "summary: clusters={} pods/cluster={} duration={}s snapshots={} heartbeats={} slo={} \
             polls={} commands={} commands_failed={} results={} errors={} faults={} gaps={} \
             push_p50_ms={:.1} push_p99_ms={:.1} cmd_latency_p50_ms={:.1} cmd_latency_p99_ms={:.1} \
             cmd_ack_p50_ms={:.1} cmd_ack_p99_ms={:.1} json_MB={:.1} gzip_MB={:.1}",
            self.clusters,
            self.pods,
            self.duration.as_secs(),
            self.snapshots,
            self.heartbeats,
            self.slo,
            self.polls,
            self.commands,
            self.commands_failed,
            self.results,
            self.errors,
            self.faults,
            self.gaps,
            self.push_p50_ms,
            self.push_p99_ms,
            self.cmd_latency_p50_ms,
            self.cmd_latency_p99_ms,
            self.cmd_ack_p50_ms,
            self.cmd_ack_p99_ms,
            self.json_mb,
            self.gzip_mb,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let h = Histogram::default();
        assert_eq!(h.quantile_ms(0.5), None);
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile_ms(0.5).unwrap();
        let p99 = h.quantile_ms(0.99).unwrap();
        assert!((47.0..53.0).contains(&p50), "{p50}");
        assert!((95.0..104.0).contains(&p99), "{p99}");
    }

    #[test]
    fn summary_is_one_line_with_the_documented_keys() {
        let s = Summary::of(&Stats::default(), 3, 60, Duration::from_secs(5));
        let line = s.to_string();
        assert!(!line.contains('\n'));
        for key in [
            "clusters=3",
            "pods/cluster=60",
            "errors=0",
            "faults=0",
            "push_p99_ms=",
            "cmd_latency_p50_ms=",
            "gzip_MB=",
        ] {
            assert!(line.contains(key), "{key} in {line}");
        }
    }
}
