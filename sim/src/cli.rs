//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::{Config, Faults};

/// Simulates N Kubernetes clusters speaking the AtlHyper v2.1 agent protocol to a master.
#[derive(Debug, Parser)]
#[command(name = "atlhyper-agent-sim", version)]
pub struct Args {
    /// Base URL of the master's agent API.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub master: String,
    /// Bearer token (bootstrap or per-cluster agent token); omit for a master in `open` mode.
    #[arg(long)]
    pub token: Option<String>,
    /// Number of simulated clusters.
    #[arg(long, default_value_t = 3)]
    pub clusters: usize,
    /// Pods per cluster at start (nodes: pods/30, at least 3).
    #[arg(long, default_value_t = 200)]
    pub pods: usize,
    /// Cluster ids are <prefix>-0001, <prefix>-0002, ...
    #[arg(long, default_value = "sim")]
    pub cluster_prefix: String,
    /// Snapshot interval.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Heartbeat interval.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// SLO push interval (0s: no SLO pushes).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub slo_interval: Duration,
    /// Random spread of every interval: a fraction (0.1) or a percentage (10%).
    #[arg(long, default_value = "10%", value_parser = parse_fraction)]
    pub jitter: f64,
    /// Stop after this long and print the summary (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Seed of the simulated content (the cluster index is mixed in).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Comma-separated long-poll topics (one poll loop per topic and cluster).
    #[arg(long, default_value = "ops", value_delimiter = ',')]
    pub topics: Vec<String>,
    /// Comma-separated faults: heartbeat-gap (a cluster goes silent for --gap), corrupt
    /// (a truncated or garbled gzip snapshot; the master's 400 counts as a fault, not an error),
    /// slo-burst (the first cluster's first route answers 5xx at --slo-burst-error-rate for
    /// --slo-burst-duration, from --slo-burst-after after its first SLO push).
    #[arg(long, value_delimiter = ',')]
    pub fault: Vec<String>,
    /// Probability, per cluster and snapshot interval, of each enabled fault.
    #[arg(long, default_value = "0.01", value_parser = parse_fraction)]
    pub fault_rate: f64,
    /// How long a heartbeat gap lasts (longer than the master's 45 s heartbeat timeout).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub gap: Duration,
    /// Pause after each long poll (v2.1 agents wait 1 s).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub poll_pause: Duration,
    /// Share of 5xx responses during the slo-burst fault: a fraction (0.5) or a percentage (50%).
    #[arg(long, default_value = "0.5", value_parser = parse_fraction)]
    pub slo_burst_error_rate: f64,
    /// How long after the first SLO push the slo-burst fault begins.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub slo_burst_after: Duration,
    /// How long the slo-burst fault lasts.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub slo_burst_duration: Duration,
    /// Name Traefik services by the Service port's name (ns-svc-http@kubernetes) when it has
    /// one, as Traefik does; the pushed route info keeps the number (ns-svc-80@kubernetes).
    #[arg(long)]
    pub traefik_port_names: bool,
    /// Write one snapshot pair and one SLO push pair per cluster into DIR and exit.
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// No live status line.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    /// The simulator configuration these flags describe.
    pub fn config(&self) -> Result<Config, String> {
        let mut faults = Faults::default();
        for f in &self.fault {
            match f.trim() {
                "heartbeat-gap" | "gap" => faults.heartbeat_gap = true,
                "corrupt" => faults.corrupt = true,
                "slo-burst" => faults.slo_burst = true,
                "" => {}
                other => {
                    return Err(format!(
                        "unknown fault {other:?}: use heartbeat-gap, corrupt and/or slo-burst"
                    ))
                }
            }
        }
        if self.interval.is_zero() || self.heartbeat.is_zero() {
            return Err("--interval and --heartbeat must be positive".to_owned());
        }
        let topics: Vec<String> = self
            .topics
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        Ok(Config {
            master: self.master.trim_end_matches('/').to_owned(),
            token: self.token.clone().filter(|t| !t.is_empty()),
            clusters: self.clusters,
            pods: self.pods,
            prefix: self.cluster_prefix.clone(),
            interval: self.interval,
            heartbeat: self.heartbeat,
            slo_interval: self.slo_interval,
            jitter: self.jitter,
            duration: self.duration,
            seed: self.seed,
            topics,
            faults,
            fault_rate: self.fault_rate,
            gap: self.gap,
            poll_pause: self.poll_pause,
            status: !self.quiet,
            slo_burst_error_rate: self.slo_burst_error_rate,
            slo_burst_after: self.slo_burst_after,
            slo_burst_duration: self.slo_burst_duration,
            traefik_port_names: self.traefik_port_names,
            ..Config::default()
        })
    }
}

/// `500ms`, `10s`, `5m`, `1h`, `1m30s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs, s);
    }
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".to_owned());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {s:?} (want e.g. 500ms, 10s, 5m, 1h)"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let factor = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => {
                return Err(format!(
                    "invalid duration unit {unit:?} in {s:?} (ms, s, m, h)"
                ))
            }
        };
        total += value * factor;
        rest = next;
    }
    secs_to_duration(total, s)
}

fn secs_to_duration(secs: f64, s: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {s:?}"))
}

/// `0.1` or `10%` → 0.1 (between 0 and 1).
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|_| format!("invalid fraction {s:?} (want e.g. 0.1 or 10%)"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?} is not between 0 and 1 (0%..100%)"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_the_master_config() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn fractions_and_faults() {
        assert_eq!(parse_fraction("10%").unwrap(), 0.1);
        assert_eq!(parse_fraction("0.25").unwrap(), 0.25);
        assert!(parse_fraction("150%").is_err());
        let args = Args::parse_from([
            "sim",
            "--fault",
            "heartbeat-gap,corrupt",
            "--master",
            "http://h:1/",
            "--topics",
            "ops,ai",
        ]);
        let cfg = args.config().unwrap();
        assert!(cfg.faults.heartbeat_gap && cfg.faults.corrupt);
        assert_eq!(cfg.master, "http://h:1");
        assert_eq!(cfg.topics, vec!["ops", "ai"]);
        assert!(!cfg.faults.slo_burst && !cfg.traefik_port_names);
        assert_eq!(cfg.slo_burst_error_rate, 0.5);
        assert_eq!(cfg.slo_burst_after, Duration::from_secs(60));
        assert_eq!(cfg.slo_burst_duration, Duration::from_secs(600));
        let burst = Args::parse_from([
            "sim",
            "--fault",
            "slo-burst",
            "--slo-burst-error-rate",
            "20%",
            "--slo-burst-after",
            "30s",
            "--slo-burst-duration",
            "5m",
            "--traefik-port-names",
        ])
        .config()
        .unwrap();
        assert!(burst.faults.slo_burst && !burst.faults.corrupt);
        assert_eq!(burst.slo_burst_error_rate, 0.2);
        assert_eq!(burst.slo_burst_after, Duration::from_secs(30));
        assert_eq!(burst.slo_burst_duration, Duration::from_secs(300));
        assert!(burst.traefik_port_names);
        let bad = Args::parse_from(["sim", "--fault", "meteor"]);
        assert!(bad.config().is_err());
    }
}
