//! `atlhyper-agent-sim`: simulates N Kubernetes clusters whose agents speak the exact
//! AtlHyper v2.1 agent protocol to a master.
//!
//! - [`world::World`] is one cluster, kept as the master's own model structs and mutated in
//!   place: pods restart, crash-loop and get rescheduled, events repeat with rising counts,
//!   node metrics drift, nodes go NotReady, and commands change it so the next snapshot
//!   shows their effect.
//! - [`run`] drives every cluster against a master: gzip snapshots, heartbeats, SLO pushes,
//!   one long poll per topic, command results; optional faults; a live status line; and a
//!   [`Summary`] at the end.
//! - [`dump`] writes sample payloads to files (for `gen_snapshot.py check`).

// Model text fields are always built with `.into()` and read as `&str`, so this crate keeps
// compiling when the model's `Text` alias becomes an interned string type.
#![allow(
    clippy::useless_conversion,
    reason = "model Text fields are built with .into(): Text may become an interned newtype"
)]

mod agent;
pub mod cli;
pub mod proxy;
pub mod rng;
pub mod stats;
pub mod world;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

pub use agent::{cluster_id, run, run_with};
pub use stats::{Journal, Stats, Summary};

/// Why the simulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    /// Writing a dump or a gzip body failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Serializing a payload failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A background task panicked.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A cluster's state lock was poisoned by a panic.
    #[error("simulator state poisoned by an earlier panic")]
    Poisoned,
}

/// Injected faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Now and then a cluster goes silent (no request at all) for [`Config::gap`].
    pub heartbeat_gap: bool,
    /// Now and then a snapshot body is truncated or garbled (the master must answer 400).
    pub corrupt: bool,
    /// The first cluster's first route fails with a sustained 5xx burst
    /// ([`Config::slo_burst_error_rate`] for [`Config::slo_burst_duration`], starting
    /// [`Config::slo_burst_after`] after its first SLO push).
    pub slo_burst: bool,
}

/// What to simulate and where to send it.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the master's agent API, e.g. `http://127.0.0.1:8081` (no trailing slash).
    pub master: String,
    /// Bearer token; `None` sends no `Authorization` header (stock v2.1 agents, `open` mode).
    pub token: Option<String>,
    /// Number of clusters.
    pub clusters: usize,
    /// Pods per cluster at start.
    pub pods: usize,
    /// Cluster ids are `<prefix>-0001`, `<prefix>-0002`, ...
    pub prefix: String,
    /// Snapshot interval.
    pub interval: Duration,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// SLO push interval (zero: no SLO pushes).
    pub slo_interval: Duration,
    /// Each wait is the interval ± this fraction.
    pub jitter: f64,
    /// Stop after this long (`None`: until the shutdown future resolves).
    pub duration: Option<Duration>,
    /// Seed of every cluster's content (the cluster index is mixed in).
    pub seed: u64,
    /// Long-poll topics; one loop per topic per cluster.
    pub topics: Vec<String>,
    /// Faults to inject.
    pub faults: Faults,
    /// Probability, per cluster and snapshot interval, of each enabled fault.
    pub fault_rate: f64,
    /// Length of a heartbeat gap (longer than the master's heartbeat timeout).
    pub gap: Duration,
    /// Pause after each long poll (v2.1 agents wait 1 s).
    pub poll_pause: Duration,
    /// The master's heartbeat timeout, for the live "online" count.
    pub heartbeat_timeout: Duration,
    /// Print the live status line.
    pub status: bool,
    /// Share of 5xx during the `slo-burst` fault.
    pub slo_burst_error_rate: f64,
    /// How long after the first SLO push the `slo-burst` fault begins.
    pub slo_burst_after: Duration,
    /// How long the `slo-burst` fault lasts.
    pub slo_burst_duration: Duration,
    /// Name Traefik services by the Service port's name (`ns-svc-http@kubernetes`) when it
    /// has one, as Traefik does; the route info keeps the number (`ns-svc-80@kubernetes`).
    pub traefik_port_names: bool,
    /// How long an agent takes to run a command before it posts the result (0: at once).
    /// A history checker sets it so that commands are still running when the master dies.
    pub exec_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            master: "http://127.0.0.1:8081".to_owned(),
            token: None,
            clusters: 3,
            pods: 200,
            prefix: "sim".to_owned(),
            interval: Duration::from_secs(10),
            heartbeat: Duration::from_secs(15),
            slo_interval: Duration::from_secs(10),
            jitter: 0.1,
            duration: None,
            seed: 1,
            topics: vec!["ops".to_owned()],
            faults: Faults::default(),
            fault_rate: 0.01,
            gap: Duration::from_secs(60),
            poll_pause: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(45),
            status: true,
            slo_burst_error_rate: 0.5,
            slo_burst_after: Duration::from_secs(60),
            slo_burst_duration: Duration::from_secs(600),
            traefik_port_names: false,
            exec_delay: Duration::ZERO,
        }
    }
}

/// Writes, for each cluster, two consecutive snapshots and two consecutive SLO pushes:
/// `<id>.snapshot-1.json`, `<id>.snapshot-2.json`, `<id>.slo-1.json`, `<id>.slo-2.json`.
pub fn dump(cfg: &Config, dir: &Path) -> Result<Vec<PathBuf>, SimError> {
    std::fs::create_dir_all(dir)?;
    let now = Utc::now();
    let step = chrono::TimeDelta::from_std(cfg.interval).unwrap_or(chrono::TimeDelta::seconds(10));
    let slo_step =
        chrono::TimeDelta::from_std(cfg.slo_interval).unwrap_or(chrono::TimeDelta::seconds(10));
    let mut files = Vec::new();
    for i in 0..cfg.clusters {
        let id = cluster_id(&cfg.prefix, i);
        let mut w = world::World::new(&id, i, cfg.pods, cfg.seed, now);
        agent::configure_slo(&mut w, cfg, i);
        let mut write = |name: String, bytes: Vec<u8>| -> Result<(), SimError> {
            let path = dir.join(name);
            std::fs::write(&path, bytes)?;
            files.push(path);
            Ok(())
        };
        write(
            format!("{id}.snapshot-1.json"),
            serde_json::to_vec(&w.snap)?,
        )?;
        w.tick(now + step);
        write(
            format!("{id}.snapshot-2.json"),
            serde_json::to_vec(&w.snap)?,
        )?;
        write(
            format!("{id}.slo-1.json"),
            serde_json::to_vec(&w.slo_push(now + slo_step))?,
        )?;
        write(
            format!("{id}.slo-2.json"),
            serde_json::to_vec(&w.slo_push(now + slo_step * 2))?,
        )?;
    }
    Ok(files)
}
