//! Fleet capacity (issue item b) and dashboard queries under load (item c).
//!
//! `cargo bench --bench fleet [-- --pods 500 --interval 10 --seconds 60
//!  --steps 100,250,500,750,1000,1250,1500 --refine 2 --qps 50 --evolve 12 --nice -10
//!  --quick --master-bin PATH]`
//!
//! - **ceiling**: gunzip + parse of the 5,000-pod snapshot in this process, the code the
//!   handler runs (`http::agent::{decode, parse_object}`), as benches/ingest.rs does: MB/s
//!   of JSON one core parses.
//! - **b. capacity**: the real release binary runs as a child process (temp SQLite, ports
//!   0, JSON logs at `info` as in production). For each step K, K simulated agents push a
//!   P-pod snapshot every I seconds (random start offset, ±5 % jitter per push, sequential
//!   per agent like a real one; a tick more than half an interval late is skipped and
//!   counts as missed) for S seconds. Each POST is timed from send to the full reply.
//!   - A step **keeps up** when no push fails (30 s timeout), ≥ 95 % of the offered pushes
//!     complete in the window and POST p99 < 250 ms; it **passes** when memory is also
//!     flat: master RSS grows < 5 % over the last third of the step (the clusters new to
//!     a step all arrive in its first interval).
//!   - Steps run against **one** master in order: clusters of earlier steps keep pushing
//!     in later ones (ids are reused), as in a fleet that grows. Stepping up stops at the
//!     first step that does not keep up (a memory-only failure does not stop it, so the
//!     CPU limit is still found); then `--refine` steps bisect (multiples of 25) between
//!     the largest passing step and the next one, on the same master.
//!   - A step stops early if the machine's `MemAvailable` falls below `--min-free-mib`
//!     (4096), so a large step cannot starve the shared box.
//!   - Reported besides: master CPU (200 % = both cores), master CPU ms per push and the
//!     projection "both cores alone would carry 2000 / that pushes/s", the load
//!     generator's and the other processes' CPU (a shared machine), and the bus and
//!     persister lines of the master's `/metrics` when it serves them.
//! - **c. queries under load**: a fresh master with K/2 agents (K = the largest passing
//!   step, else the largest keeping up). After one interval of warm-up, one client sends
//!   the pod list with filters, the cluster status and the node-metrics summary
//!   round-robin, sequentially on one keep-alive connection, at `--qps` requests/s in all,
//!   for S seconds, each to a random pushing cluster (target p99 < 10 ms); then the same
//!   for S/4 seconds with the pushes stopped, to show what the load adds.
//!
//! The load generator is cheap on purpose (see `common::PushBody`): the bodies are built
//! once, and each push only swaps in its own `cluster_id` and a fresh `fetched_at`. They
//! are `--evolve` (12) successive states of one cluster of atlhyper-agent-sim's world, 10 s
//! apart (pods restart, crash-loop and get rescheduled, events repeat with rising counts,
//! usage drifts), and each agent walks them from its own starting state: so from one push
//! to the next a cluster changes as a real one does, and the master's reuse of unchanged
//! objects is measured at its real rate, not at 100 %. (Going from the last state back to
//! the first changes more than one tick does: a little pessimistic.) `--evolve 0` pushes
//! the generator's snapshot unchanged, as before. Clusters share pod names. Per-cluster
//! memory is measured by benches/memory.rs. Master CPU and RSS come
//! from `/proc/<pid>/stat` and `/proc/<pid>/status`, separately from the load generator's.
//! `--nice -10` (root) gives the master and the load generator priority over other
//! people's builds on a shared machine; `--master-env K=V,..` passes diagnostics such as
//! `MALLOC_ARENA_MAX=2`; `--skip-queries` runs b only; `--quick` makes steps 20 s.
//! Prints two tables and writes `benches/results/fleet.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlhyper_actors::model::ClusterSnapshot;
use atlhyper_master::http::agent::{decode, parse_object, Encoding};

/// Snapshot POST p99 a step must stay under (issue item b).
const PUSH_P99_TARGET: Duration = Duration::from_millis(250);
/// Query p99 target (issue item c).
const QUERY_P99_TARGET: Duration = Duration::from_millis(10);
/// "Flat memory": RSS may grow at most this fraction over the last third of a step.
/// Clusters new to a step all arrive in its first interval, well before the last third.
const FLAT_GROWTH: f64 = 0.05;
/// Share of the offered pushes that must complete inside the step window.
const MIN_ACHIEVED: f64 = 0.95;
/// Per-push jitter, as a fraction of the interval (agents' tickers drift a little).
const JITTER: f64 = 0.05;
/// Refinement steps are multiples of this many clusters.
const REFINE_GRAIN: usize = 25;
/// A request still unanswered after this counts as an error (and a step always ends).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle keep-alive connections are dropped before actix's 5 s keep-alive closes them,
/// so a reused connection is never one the server is closing.
const POOL_IDLE: Duration = Duration::from_secs(4);

fn cluster_id(i: usize) -> String {
    format!("fleet-{i:05}")
}

/// What every step shares.
struct Load {
    /// The push body builders: successive states of one evolving cluster.
    bodies: Arc<Vec<PushBody>>,
    /// Push interval per agent.
    interval: Duration,
    /// A step stops when the machine's `MemAvailable` falls below this.
    min_free_kib: u64,
}

/// What the agents of one step share.
struct Step {
    client: reqwest::Client,
    url: String,
    bodies: Arc<Vec<PushBody>>,
    start: tokio::time::Instant,
    end: tokio::time::Instant,
    interval: Duration,
    /// Set when the step must stop early.
    stop: Arc<AtomicBool>,
}

/// What one simulated agent saw in a step.
#[derive(Default)]
struct AgentLog {
    latencies: Vec<Duration>,
    /// (seconds into the step when sent, latency) of pushes slower than the p99 target.
    slow: Vec<(u64, Duration)>,
    ok: u64,
    errors: u64,
    missed: u64,
    error_samples: Vec<String>,
}

/// One agent: pushes at `offset + n·interval ± jitter` until `end`, one at a time.
async fn agent(step: Arc<Step>, id: String, seed: u64) -> AgentLog {
    let Step {
        client,
        url,
        bodies,
        start,
        end,
        interval,
        stop,
    } = &*step;
    let (start, end, interval) = (*start, *end, *interval);
    let mut rng = Rng::new(seed);
    let offset = interval.mul_f64(rng.unit());
    // Each agent walks the states from its own starting point, so neighbours differ.
    let phase = rng.below(bodies.len().max(1));
    let mut log = AgentLog::default();
    let mut n: u32 = 0;
    loop {
        let jitter = interval.as_secs_f64() * JITTER * (2.0 * rng.unit() - 1.0);
        let ideal = start + offset + interval * n;
        let at = if jitter >= 0.0 {
            ideal + Duration::from_secs_f64(jitter)
        } else {
            ideal
                .checked_sub(Duration::from_secs_f64(-jitter))
                .unwrap_or(ideal)
        };
        if at >= end {
            break;
        }
        tokio::time::sleep_until(at).await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let body = &bodies[(phase + n as usize) % bodies.len()];
        let payload = body.body(&id, &fetched_at_now());
        let t = Instant::now();
        let sent = client
            .post(url)
            .bearer_auth(AGENT_TOKEN)
            .header("X-Cluster-ID", id.as_str())
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/json")
            .body(payload)
            .send()
            .await;
        let outcome = match sent {
            Ok(r) => {
                let status = r.status();
                match r.bytes().await {
                    Ok(_) if status == 200 => Ok(()),
                    Ok(b) => Err(format!("{status}: {}", String::from_utf8_lossy(&b))),
                    Err(e) => Err(format!("{status}: reading the reply: {e}")),
                }
            }
            Err(e) => Err(format!("send: {e:?}")),
        };
        let took = t.elapsed();
        log.latencies.push(took);
        if took >= PUSH_P99_TARGET {
            log.slow
                .push(((tokio::time::Instant::from_std(t) - start).as_secs(), took));
        }
        match outcome {
            Ok(()) => log.ok += 1,
            Err(e) => {
                log.errors += 1;
                if log.error_samples.len() < 3 {
                    log.error_samples.push(e);
                }
            }
        }
        n += 1;
        // A tick more than half an interval late is skipped, as a ticker drops ticks.
        let now = tokio::time::Instant::now();
        while start + offset + interval * n + interval / 2 < now {
            n += 1;
            log.missed += 1;
        }
    }
    log
}

/// One sample of the master's (and this process's) resources.
#[derive(Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kib: u64,
}

/// What a whole step saw.
struct StepResult {
    clusters: usize,
    seconds: f64,
    offered_per_s: f64,
    achieved_per_s: f64,
    push: Stats,
    ok: u64,
    errors: u64,
    missed: u64,
    error_samples: Vec<String>,
    json_mb_s: f64,
    master_cpu_pct: f64,
    bench_cpu_pct: f64,
    /// CPU used by everything else on the machine (other people's builds), % of one core.
    others_cpu_pct: f64,
    rss_start_kib: u64,
    rss_mid_kib: u64,
    rss_end_kib: u64,
    rss_last_third_growth: f64,
    peak_rss_kib: u64,
    /// (seconds into the step, MiB) every 5 s.
    rss_series: Vec<(u64, f64)>,
    /// Why the step was cut short, if it was.
    aborted: Option<String>,
    /// Pushes slower than the p99 target per 5 s of the step in which they were sent:
    /// (start second, count, slowest ms). Shows a stall (one bucket) vs queueing (all).
    slow_by_5s: Vec<(u64, u64, f64)>,
    /// Bus and persister lines of the master's `/metrics` after the step (when served).
    metrics: Vec<String>,
}

impl StepResult {
    fn flat(&self) -> bool {
        self.rss_last_third_growth < FLAT_GROWTH
    }

    /// Throughput and latency held: no error, ≥ 95 % of the offered pushes, p99 < 250 ms.
    fn keeps_up(&self) -> bool {
        self.aborted.is_none()
            && self.errors == 0
            && self.achieved_per_s >= MIN_ACHIEVED * self.offered_per_s
            && self.push.p99 < PUSH_P99_TARGET
    }

    /// Every criterion of item b: keeps up and flat memory.
    fn pass(&self) -> bool {
        self.keeps_up() && self.flat()
    }

    /// Master CPU time per successful push, ms.
    fn cpu_ms_per_push(&self) -> f64 {
        self.master_cpu_pct / 100.0 * self.seconds * 1e3 / (self.ok.max(1) as f64)
    }

    fn json(&self, ceiling_mb_s: f64) -> serde_json::Value {
        serde_json::json!({
            "clusters": self.clusters,
            "seconds": self.seconds,
            "offered_pushes_per_s": self.offered_per_s,
            "achieved_pushes_per_s": self.achieved_per_s,
            "ok": self.ok,
            "errors": self.errors,
            "missed_ticks": self.missed,
            "error_samples": self.error_samples,
            "post_ms": self.push.json(),
            "json_mb_s": self.json_mb_s,
            "fraction_of_ceiling": self.json_mb_s / ceiling_mb_s,
            "master_cpu_pct": self.master_cpu_pct,
            "loadgen_cpu_pct": self.bench_cpu_pct,
            "other_processes_cpu_pct": self.others_cpu_pct,
            "master_rss_mib": {
                "start": mib(self.rss_start_kib),
                "middle": mib(self.rss_mid_kib),
                "end": mib(self.rss_end_kib),
                "peak": mib(self.peak_rss_kib),
                "last_third_growth": self.rss_last_third_growth,
                "series_every_5s": self.rss_series,
            },
            "aborted": self.aborted,
            "slow_pushes_by_5s": self.slow_by_5s,
            "master_metrics_after": self.metrics,
            "master_cpu_ms_per_push": self.cpu_ms_per_push(),
            "keeps_up": self.keeps_up(),
            "flat_memory": self.flat(),
            "pass": self.pass(),
        })
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs `k` agents for `seconds` against `master`.
async fn run_step(
    master: &MasterProcess,
    client: &reqwest::Client,
    load: &Load,
    k: usize,
    seconds: u64,
    seed: u64,
) -> StepResult {
    let (body, interval) = (&load.bodies[0], load.interval);
    let pid = master.pid();
    let url = format!("{}/agent/snapshot", master.agent);
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs(seconds);
    let (cpu0, self0, box0) = (
        master.cpu_secs(),
        proc_cpu_secs("self"),
        machine_busy_secs(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let guard = Arc::clone(&stop);
    let min_free_kib = load.min_free_kib;
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval_at(start, Duration::from_secs(1));
        loop {
            let at = tick.tick().await;
            samples.push(Sample {
                at: at - start,
                rss_kib: proc_status_kib(pid, "VmRSS:"),
            });
            let free = mem_available_kib();
            if free < min_free_kib {
                guard.store(true, Ordering::Relaxed);
                break (
                    samples,
                    Some(format!(
                        "stopped at {:?}: MemAvailable {} MiB < {} MiB",
                        at - start,
                        free / 1024,
                        min_free_kib / 1024
                    )),
                );
            }
            if at >= end {
                break (samples, None);
            }
        }
    });
    let step = Arc::new(Step {
        client: client.clone(),
        url,
        bodies: Arc::clone(&load.bodies),
        start,
        end,
        interval,
        stop: Arc::clone(&stop),
    });
    let agents: Vec<_> = (0..k)
        .map(|i| {
            tokio::spawn(agent(
                Arc::clone(&step),
                cluster_id(i),
                seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D),
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut slow = std::collections::BTreeMap::<u64, (u64, Duration)>::new();
    let (mut ok, mut errors, mut missed) = (0, 0, 0);
    let mut error_samples = Vec::new();
    for a in agents {
        let log = a.await.expect("agent task");
        latencies.extend(log.latencies);
        for (at, took) in log.slow {
            let e = slow.entry(at / 5 * 5).or_default();
            e.0 += 1;
            e.1 = e.1.max(took);
        }
        ok += log.ok;
        errors += log.errors;
        missed += log.missed;
        for e in log.error_samples {
            if error_samples.len() < 5 {
                error_samples.push(e);
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let (cpu1, self1, box1) = (
        master.cpu_secs(),
        proc_cpu_secs("self"),
        machine_busy_secs(),
    );
    let (samples, aborted) = sampler.await.expect("sampler");
    let rss_at = |frac: f64| {
        let t = Duration::from_secs_f64(seconds as f64 * frac);
        samples
            .iter()
            .find(|s| s.at >= t)
            .or(samples.last())
            .map_or(0, |s| s.rss_kib)
    };
    let third = rss_at(2.0 / 3.0).max(1);
    let last = samples.last().map_or(0, |s| s.rss_kib);
    let secs = seconds as f64;
    StepResult {
        clusters: k,
        seconds: secs,
        offered_per_s: k as f64 / interval.as_secs_f64(),
        achieved_per_s: ok as f64 / secs,
        push: Stats::of(latencies),
        ok,
        errors,
        missed,
        error_samples,
        json_mb_s: ok as f64 * body.json_len(&cluster_id(0), &fetched_at_now()) as f64 / 1e6 / secs,
        master_cpu_pct: (cpu1 - cpu0) / wall * 100.0,
        bench_cpu_pct: (self1 - self0) / wall * 100.0,
        others_cpu_pct: ((box1 - box0) - (cpu1 - cpu0) - (self1 - self0)) / wall * 100.0,
        rss_start_kib: samples.first().map_or(0, |s| s.rss_kib),
        rss_mid_kib: rss_at(0.5),
        rss_end_kib: last,
        rss_last_third_growth: (last as f64 - third as f64) / third as f64,
        peak_rss_kib: master.peak_rss_kib(),
        rss_series: samples
            .iter()
            .filter(|s| s.at.as_secs() % 5 == 0)
            .map(|s| (s.at.as_secs(), mib(s.rss_kib)))
            .collect(),
        aborted,
        slow_by_5s: slow
            .into_iter()
            .map(|(at, (n, max))| (at, n, as_ms(max)))
            .collect(),
        metrics: scrape_metrics(client, &master.http).await,
    }
}

/// The three dashboard queries of item c.
const QUERIES: [&str; 3] = [
    "pods (ns, phase, limit 50)",
    "cluster status",
    "node-metrics",
];

/// Item c's client: sequential, one keep-alive connection, `qps` in all, round-robin.
fn query_load(
    http: String,
    token: String,
    clusters: usize,
    namespace: String,
    qps: f64,
    seconds: u64,
) -> (Vec<Vec<Duration>>, Vec<u64>, Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(POOL_IDLE)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        let mut rng = Rng::new(42);
        let mut lat = vec![Vec::new(); QUERIES.len()];
        let mut errors = vec![0u64; QUERIES.len()];
        let mut samples = Vec::new();
        let gap = Duration::from_secs_f64(1.0 / qps);
        let start = tokio::time::Instant::now();
        let end = start + Duration::from_secs(seconds);
        let mut i = 0usize;
        while start + gap * (i as u32) < end {
            tokio::time::sleep_until(start + gap * i as u32).await;
            let q = i % QUERIES.len();
            let id = cluster_id(rng.below(clusters));
            let url = match q {
                0 => format!(
                    "{http}/api/v2/clusters/{id}/resources/pods?namespace={namespace}&phase=Running&limit=50"
                ),
                1 => format!("{http}/api/v2/clusters/{id}/status"),
                _ => format!("{http}/api/v2/clusters/{id}/node-metrics"),
            };
            let t = Instant::now();
            let r = client.get(&url).bearer_auth(&token).send().await;
            let ok = match r {
                Ok(r) => {
                    let status = r.status();
                    let body = r.bytes().await;
                    match body {
                        Ok(b) if status == 200 => {
                            if i < QUERIES.len() {
                                check_reply(q, &b);
                            }
                            Ok(())
                        }
                        Ok(b) => Err(format!("{url}: {status}: {}", String::from_utf8_lossy(&b))),
                        Err(e) => Err(format!("{url}: {e}")),
                    }
                }
                Err(e) => Err(format!("{url}: {e:?}")),
            };
            lat[q].push(t.elapsed());
            if let Err(e) = ok {
                errors[q] += 1;
                if samples.len() < 5 {
                    samples.push(e);
                }
            }
            i += 1;
        }
        (lat, errors, samples)
    })
}

/// What item c measured.
struct QueryResult {
    /// The push load while the queries ran.
    under: StepResult,
    stats: Vec<Stats>,
    errors: Vec<u64>,
    error_samples: Vec<String>,
    /// The same queries right after, with no push load.
    idle: Vec<Stats>,
    idle_errors: u64,
    idle_secs: u64,
}

impl QueryResult {
    fn pass(&self, q: usize) -> bool {
        self.stats[q].p99 < QUERY_P99_TARGET && self.errors[q] == 0
    }

    fn print(&self, half: usize, qps: f64, seconds: u64) {
        let u = &self.under;
        println!();
        println!(
            "c. queries under load: {half} clusters pushing ({:.1} pushes/s, POST p99 {:.1} ms, {} errors, master CPU {:.0} %, other processes {:.0} %), {qps} req/s sequential on one connection, {seconds} s",
            u.achieved_per_s,
            as_ms(u.push.p99),
            u.errors,
            u.master_cpu_pct,
            u.others_cpu_pct,
        );
        println!();
        println!(
            "| query | n | p50 ms | p99 ms | max ms | errors | p99 < 10 ms | no load ({} s after): p50 ms | p99 ms | max ms |",
            self.idle_secs
        );
        println!("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|");
        for (q, s) in self.stats.iter().enumerate() {
            let i = &self.idle[q];
            println!(
                "| {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {:.2} | {:.2} | {:.2} |",
                QUERIES[q],
                s.n,
                as_ms(s.p50),
                as_ms(s.p99),
                as_ms(s.max),
                self.errors[q],
                if self.pass(q) { "yes" } else { "**no**" },
                as_ms(i.p50),
                as_ms(i.p99),
                as_ms(i.max),
            );
        }
        if !self.error_samples.is_empty() {
            println!("query errors, e.g.: {:?}", self.error_samples);
        }
    }

    fn json(
        &self,
        half: usize,
        qps: f64,
        seconds: u64,
        namespace: &str,
        ceiling: f64,
    ) -> serde_json::Value {
        serde_json::json!({
            "clusters": half,
            "qps": qps,
            "seconds": seconds,
            "namespace": namespace,
            "load": self.under.json(ceiling),
            "results": (0..QUERIES.len()).map(|q| serde_json::json!({
                "query": QUERIES[q],
                "ms": self.stats[q].json(),
                "errors": self.errors[q],
                "pass": self.pass(q),
                "no_load_ms": self.idle[q].json(),
            })).collect::<Vec<_>>(),
            "p99_target_ms": as_ms(QUERY_P99_TARGET),
            "no_load_seconds": self.idle_secs,
            "no_load_errors": self.idle_errors,
        })
    }
}

/// Item c: a fresh master, `half` agents, and after one interval of warm-up the query
/// client on its own thread (so the agents' runtime does not delay it).
async fn queries_under_load(
    client: &reqwest::Client,
    load: &Load,
    half: usize,
    namespace: &str,
    qps: f64,
    seconds: u64,
) -> QueryResult {
    let master = MasterProcess::start(&master_env());
    let token = master.login(client).await;
    let warmup = load.interval.as_secs() + 2;
    let query = {
        let (http, ns, token) = (master.http.clone(), namespace.to_owned(), token.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(warmup) + Duration::from_millis(200));
            query_load(http, token, half, ns, qps, seconds)
        })
    };
    let under = run_step(&master, client, load, half, warmup + seconds + 1, 99).await;
    let (lat, errors, error_samples) = query.join().unwrap();
    // The same queries with the pushes stopped (the snapshots still held): what the load
    // adds to them.
    let idle_secs = (seconds / 4).max(5);
    let (http, ns) = (master.http.clone(), namespace.to_owned());
    let (idle, idle_errors, _) =
        std::thread::spawn(move || query_load(http, token, half, ns, qps, idle_secs))
            .join()
            .unwrap();
    QueryResult {
        under,
        stats: lat.into_iter().map(Stats::of).collect(),
        errors,
        error_samples,
        idle: idle.into_iter().map(Stats::of).collect(),
        idle_errors: idle_errors.iter().sum(),
        idle_secs,
    }
}

/// The first reply of each query is checked for the expected shape.
fn check_reply(q: usize, body: &[u8]) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    match q {
        0 => assert_eq!(v["items"].as_array().map(Vec::len), Some(50), "pods page"),
        1 => assert!(v["fetched_at"].is_string(), "status has fetched_at: {v}"),
        _ => assert!(v["summary"].is_object(), "node-metrics has a summary: {v}"),
    }
}

/// Two pushes to one cluster: both `200`, and the held `fetched_at` advances.
async fn verify_push(master: &MasterProcess, client: &reqwest::Client, body: &PushBody) {
    let token = master.login(client).await;
    let id = cluster_id(0);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let sent = fetched_at_now();
        let r = client
            .post(format!("{}/agent/snapshot", master.agent))
            .bearer_auth(AGENT_TOKEN)
            .header("X-Cluster-ID", &id)
            .header("Content-Encoding", "gzip")
            .body(body.body(&id, &sent))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "{text}");
        let st: serde_json::Value = client
            .get(format!("{}/api/v2/clusters/{id}/status", master.http))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let held =
            chrono::DateTime::parse_from_rfc3339(st["fetched_at"].as_str().unwrap()).unwrap();
        assert_eq!(
            held,
            chrono::DateTime::parse_from_rfc3339(&sent).unwrap(),
            "the pushed snapshot is the held one"
        );
        seen.push(held);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(seen[1] > seen[0], "fetched_at advances: {seen:?}");
    println!(
        "verified: push → 200 and the held fetched_at advances ({} → {})",
        seen[0], seen[1]
    );
}

fn main() {
    renice_self();
    let quick = flag("--quick");
    let pods = arg("--pods", 500);
    let interval = Duration::from_secs_f64(arg_str("--interval", "10").parse().unwrap());
    let seconds = arg("--seconds", if quick { 20 } else { 60 }) as u64;
    let steps = arg_list("--steps", "100,250,500,750,1000,1250,1500");
    let qps = arg_str("--qps", "50").parse::<f64>().unwrap();
    let ceiling_pods = arg("--ceiling-pods", 5000);
    let min_free_kib = arg("--min-free-mib", 4096) as u64 * 1024;
    let refine = arg("--refine", 2);
    let ceiling_iters = arg("--ceiling-iterations", if quick { 5 } else { 15 }).max(3);

    // Ceiling: as benches/ingest.rs, in this process.
    let big = snapshot_gz(ceiling_pods);
    let mut big_json = Vec::new();
    flate2::read::GzDecoder::new(&big[..])
        .read_to_end(&mut big_json)
        .unwrap();
    let mut parse = Vec::new();
    for _ in 0..ceiling_iters {
        let t = Instant::now();
        let raw = decode(bytes::Bytes::from(big.clone()), Encoding::Gzip, u64::MAX).unwrap();
        let snap: ClusterSnapshot = parse_object(&raw).unwrap();
        parse.push(t.elapsed());
        drop(snap);
    }
    let parse = Stats::of(parse);
    let big_mb = big_json.len() as f64 / 1e6;
    let ceiling = big_mb / parse.p50.as_secs_f64();
    drop(big_json);
    println!(
        "ceiling: gunzip + parse of {ceiling_pods} pods ({big_mb:.1} MB JSON): p50 {:.1} ms → {ceiling:.0} MB/s on one core",
        as_ms(parse.p50)
    );

    let evolve = arg("--evolve", 12);
    let (bodies, gz) = if evolve == 0 {
        let gz = snapshot_gz(pods);
        (vec![PushBody::from_gzip(&gz)], gz)
    } else {
        evolving_bodies(pods, evolve, interval)
    };
    let bodies = Arc::new(bodies);
    let body = &bodies[0];
    let json_bytes = body.json_len(&cluster_id(0), &fetched_at_now());
    let (namespace, _) = busiest_namespace(&gz);
    println!(
        "push body: {pods} pods, {json_bytes} bytes JSON, {} bytes gzip; every {:.1} s per cluster; \
         {}",
        body.gzip_len(),
        interval.as_secs_f64(),
        if evolve == 0 {
            "all clusters push the same pods (own cluster_id, fresh fetched_at)".to_owned()
        } else {
            format!(
                "each cluster cycles through {evolve} successive states of one simulated \
                 cluster (atlhyper-agent-sim's world: restarts, reschedules, events, usage), \
                 from its own starting state"
            )
        }
    );
    println!(
        "target (issue b): 1,000 clusters → {:.0} MB/s of JSON with this snapshot",
        1000.0 * json_bytes as f64 / 1e6 / interval.as_secs_f64()
    );

    let load = Load {
        bodies: Arc::clone(&bodies),
        interval,
        min_free_kib,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .pool_idle_timeout(POOL_IDLE)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();

    // b. Capacity steps, one master.
    let mut results: Vec<StepResult> = Vec::new();
    let (master_pid, master_warnings) = {
        let mut master = MasterProcess::start(&master_env());
        let pid = master.pid();
        println!(
            "master pid {pid}: dashboard {}, agent {}",
            master.http, master.agent
        );
        rt.block_on(verify_push(&master, &client, body));
        for (n, &k) in steps.iter().enumerate() {
            println!("step {}: {k} clusters for {seconds} s ...", n + 1);
            let r = rt.block_on(run_step(&master, &client, &load, k, seconds, n as u64));
            print_step_line(&r, ceiling);
            // A memory-only failure does not stop the search: the CPU limit is still found.
            let go_on = r.keeps_up();
            results.push(r);
            if !master.alive() {
                println!("the master exited");
                break;
            }
            if !go_on {
                break;
            }
            std::thread::sleep(Duration::from_secs(3));
        }
        // Refine between the largest passing step and the next one, on the same master.
        for round in 0..refine {
            let lo = results
                .iter()
                .filter(|r| r.pass())
                .map(|r| r.clusters)
                .max()
                .unwrap_or(0);
            let Some(hi) = results
                .iter()
                .filter(|r| !r.pass() && r.clusters > lo)
                .map(|r| r.clusters)
                .min()
            else {
                break;
            };
            let mid = (lo + hi) / 2 / REFINE_GRAIN * REFINE_GRAIN;
            if mid <= lo || !master.alive() {
                break;
            }
            std::thread::sleep(Duration::from_secs(3));
            println!("refine {}: {mid} clusters for {seconds} s ...", round + 1);
            let r = rt.block_on(run_step(
                &master,
                &client,
                &load,
                mid,
                seconds,
                100 + round as u64,
            ));
            print_step_line(&r, ceiling);
            results.push(r);
        }
        let w = master
            .warning_count
            .load(std::sync::atomic::Ordering::Relaxed);
        let samples = master.warnings.lock().unwrap().clone();
        (pid, (w, samples))
    };
    let largest = results
        .iter()
        .filter(|r| r.pass())
        .map(|r| r.clusters)
        .max();
    let keeps_up = results
        .iter()
        .filter(|r| r.keeps_up())
        .map(|r| r.clusters)
        .max();
    // CPU cost per push at the largest step that kept up: a projection for a quiet box.
    let cpu_ms = results
        .iter()
        .rev()
        .find(|r| r.keeps_up())
        .or(results.first())
        .map_or(0.0, StepResult::cpu_ms_per_push);
    let projected = 2000.0 / cpu_ms.max(1e-9) * interval.as_secs_f64();

    // c. Queries at half the capacity, fresh master. Without a step passing every
    // criterion, "capacity" is the largest step that kept up (memory aside).
    let capacity = largest.or(keeps_up);
    let half = (capacity.unwrap_or(steps[0]) / 2).max(1);
    let queries = (!flag("--skip-queries")).then(|| {
        println!(
            "queries: {half} clusters pushing (half of {}), {qps} req/s for {seconds} s after {:.0} s warm-up ...",
            capacity.map_or("the first step (none kept up)".to_owned(), |k| k.to_string()),
            interval.as_secs_f64() + 2.0
        );
        rt.block_on(queries_under_load(&client, &load, half, &namespace, qps, seconds))
    });

    // Tables.
    println!();
    println!(
        "b. fleet capacity: {pods} pods ({:.2} MB JSON) per push, every {:.0} s ±{:.0} %, {seconds} s per step, one master; ceiling {ceiling:.0} MB/s (one core)",
        json_bytes as f64 / 1e6,
        interval.as_secs_f64(),
        JITTER * 100.0
    );
    println!();
    println!("| clusters | pushes/s offered | pushes/s achieved | POST p50 ms | POST p99 ms | POST max ms | errors | missed ticks | JSON MB/s | of ceiling | master CPU % (of 200) | loadgen CPU % | other processes CPU % | master CPU ms per push | master RSS MiB start / mid / end | last-third growth | keeps up | memory flat | pass |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} | {:.2} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} / {:.0} / {:.0} | {:+.1} % | {} | {} | {} |",
            r.clusters,
            r.offered_per_s,
            r.achieved_per_s,
            as_ms(r.push.p50),
            as_ms(r.push.p99),
            as_ms(r.push.max),
            r.errors,
            r.missed,
            r.json_mb_s,
            r.json_mb_s / ceiling,
            r.master_cpu_pct,
            r.bench_cpu_pct,
            r.others_cpu_pct,
            r.cpu_ms_per_push(),
            mib(r.rss_start_kib),
            mib(r.rss_mid_kib),
            mib(r.rss_end_kib),
            r.rss_last_third_growth * 100.0,
            yes_no(r.keeps_up()),
            yes_no(r.flat()),
            yes_no(r.pass()),
        );
    }
    for r in results.iter().filter(|r| !r.error_samples.is_empty()) {
        println!(
            "errors at {} clusters, e.g.: {:?}",
            r.clusters, r.error_samples
        );
    }
    println!();
    let show = |k: Option<usize>| k.map_or("none".to_owned(), |k| k.to_string());
    println!(
        "largest passing every criterion: {} clusters × {pods} pods every {:.0} s (target 1,000)",
        show(largest),
        interval.as_secs_f64()
    );
    println!(
        "largest keeping up (p99, throughput, no errors; memory aside): {}",
        show(keeps_up)
    );
    println!(
        "master CPU per push {cpu_ms:.1} ms → both cores alone would carry at most {:.0} pushes/s = {projected:.0} clusters at {:.0} s",
        2000.0 / cpu_ms.max(1e-9),
        interval.as_secs_f64()
    );
    if master_warnings.0 > 0 {
        println!(
            "master logged {} WARN/ERROR lines during b; first: {:?}",
            master_warnings.0,
            master_warnings.1.first()
        );
    }
    if let Some(q) = &queries {
        q.print(half, qps, seconds);
    }

    let out = serde_json::json!({
        "bench": "fleet",
        "pods": pods,
        "json_bytes_per_push": json_bytes,
        "gzip_bytes_per_push": body.gzip_len(),
        "interval_s": interval.as_secs_f64(),
        "jitter_fraction": JITTER,
        "seconds_per_step": seconds,
        "quick": quick,
        "ceiling": {
            "pods": ceiling_pods,
            "iterations": parse.n,
            "parse_ms": parse.json(),
            "json_mb": big_mb,
            "mb_s": ceiling,
        },
        "steps": results.iter().map(|r| r.json(ceiling)).collect::<Vec<_>>(),
        "largest_passing_clusters": largest,
        "largest_keeping_up_clusters": keeps_up,
        "master_cpu_ms_per_push": cpu_ms,
        "projected_clusters_at_200pct_cpu": projected,
        "target_clusters": 1000,
        "push_p99_target_ms": as_ms(PUSH_P99_TARGET),
        "master_pid_b": master_pid,
        "master_warnings_b": master_warnings.0,
        "queries": queries.as_ref().map(|q| q.json(half, qps, seconds, &namespace, ceiling)),
        "notes": [
            "one master process for all capacity steps; clusters of earlier steps keep pushing in later ones",
            "all clusters push the same snapshot (same pod names) with their own cluster_id and a fresh fetched_at",
            "bodies are concatenated gzip members: static parts gzipped once, varying values per push",
            "master and load generator share the 2 cores; CPU % is of one core (200 % = both)",
        ],
    });
    write_result("fleet", &out);
}

fn print_step_line(r: &StepResult, ceiling: f64) {
    println!(
        "  {} clusters: {:.1}/{:.1} pushes/s, POST p50 {:.1} ms p99 {:.1} ms max {:.1} ms, {} errors, {} missed, {:.1} MB/s ({:.2} of ceiling), master CPU {:.0} % (loadgen {:.0} %, others {:.0} %), RSS {:.0}→{:.0}→{:.0} MiB ({:+.1} % last third) → {}",
        r.clusters,
        r.achieved_per_s,
        r.offered_per_s,
        as_ms(r.push.p50),
        as_ms(r.push.p99),
        as_ms(r.push.max),
        r.errors,
        r.missed,
        r.json_mb_s,
        r.json_mb_s / ceiling,
        r.master_cpu_pct,
        r.bench_cpu_pct,
        r.others_cpu_pct,
        mib(r.rss_start_kib),
        mib(r.rss_mid_kib),
        mib(r.rss_end_kib),
        r.rss_last_third_growth * 100.0,
        if r.pass() {
            "pass"
        } else if r.keeps_up() {
            "keeps up, memory not flat"
        } else {
            "FAIL"
        }
    );
    if !r.error_samples.is_empty() {
        println!("  errors, e.g.: {:?}", r.error_samples);
    }
    if let Some(why) = &r.aborted {
        println!("  aborted: {why}");
    }
    if !r.slow_by_5s.is_empty() {
        println!(
            "  pushes ≥ 250 ms by 5 s of sending (s: count, slowest ms): {}",
            r.slow_by_5s
                .iter()
                .map(|(t, n, m)| format!("{t}s: {n}, {m:.0}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    for l in r
        .metrics
        .iter()
        .filter(|l| ["coalesc", "dropped", "lag"].iter().any(|k| l.contains(k)))
    {
        println!("  /metrics: {l}");
    }
    println!(
        "  RSS MiB every 5 s: {}",
        r.rss_series
            .iter()
            .map(|(t, m)| format!("{t}s {m:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The bus, persister and DB lines of the master's `/metrics`, if it serves them: they
/// show whether persistence keeps up (coalesced, dropped, lag). Absent: empty.
async fn scrape_metrics(client: &reqwest::Client, http: &str) -> Vec<String> {
    const KEYS: [&str; 7] = [
        "bus", "persist", "lag", "coalesc", "dropped", "db_", "writer",
    ];
    let Ok(r) = client.get(format!("{http}/metrics")).send().await else {
        return Vec::new();
    };
    if r.status() != 200 {
        return Vec::new();
    }
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_bucket{"))
        .filter(|l| KEYS.iter().any(|k| l.contains(k)))
        .take(60)
        .map(str::to_owned)
        .collect()
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "**no**"
    }
}

/// Busy CPU seconds of the whole machine (all cores) from `/proc/stat`.
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    let busy: f64 =
        f.iter().take(8).sum::<f64>() - f.get(3).unwrap_or(&0.0) - f.get(4).unwrap_or(&0.0);
    busy / clock_ticks()
}

/// Extra environment for the master from `--master-env K=V,K=V` (diagnostics, e.g.
/// `MALLOC_ARENA_MAX=2` or `MASTER_LOG_LEVEL=warn`).
fn master_env() -> Vec<(String, String)> {
    arg_str("--master-env", "")
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `MemAvailable` of the machine, KiB: steps stop before the bench starves the box.
fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(u64::MAX)
}

/// `ticks` successive states of one simulated cluster of `pods` pods, `interval` apart, as
/// push bodies, and the gzip JSON of the first (for the query filter).
fn evolving_bodies(pods: usize, ticks: usize, interval: Duration) -> (Vec<PushBody>, Vec<u8>) {
    use std::io::Write as _;
    let now = chrono::Utc::now();
    let mut w = atlhyper_agent_sim::world::World::new("fleet-template", 0, pods, 1, now);
    let step = chrono::TimeDelta::from_std(interval).unwrap();
    let mut first = None;
    let bodies = (0..ticks)
        .map(|t| {
            if t > 0 {
                w.tick(now + step * t as i32);
            }
            let json = serde_json::to_string(&w.snap).unwrap();
            if first.is_none() {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(json.as_bytes()).unwrap();
                first = Some(e.finish().unwrap());
            }
            PushBody::from_json(&json)
        })
        .collect();
    (bodies, first.unwrap())
}

/// The namespace with the most Running pods (the pod query's filter) and its count.
fn busiest_namespace(gz: &[u8]) -> (String, usize) {
    let mut json = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut json)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for p in v["pods"].as_array().unwrap() {
        if p["status"]["phase"] == "Running" {
            *counts
                .entry(p["summary"]["namespace"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).unwrap()
}
