//! The agent side of each simulated cluster: the v2.1 wire protocol on the master's agent
//! port. Per cluster there is a snapshot loop, a heartbeat loop, an SLO loop and one
//! long-poll loop per topic; commands run in their own task and post their result.
//!
//! A cluster's world sits behind a `std::sync::Mutex` that is only ever locked on the
//! blocking pool (tick + serialize + gzip, command execution, SLO build), never on a
//! runtime worker, so a 2 MB snapshot cannot stall the other clusters' requests.

use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atlhyper_actors::model::{Command, CommandResponse, CommandResultBody, GoTime};
use chrono::Utc;
use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::rng::Rng;
use crate::stats::{Journal, Stats, Summary};
use crate::world::{SloBurst, World};
use crate::{Config, SimError};

/// v2.1's collect+push deadline for a snapshot.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);
/// v2.1's heartbeat deadline.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
/// v2.1's long-poll context deadline (the master answers within its 50 s poll timeout).
const POLL_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline for a result or an SLO push.
const POST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed poll, so a down master is not hammered.
const POLL_ERROR_BACKOFF: Duration = Duration::from_secs(2);
/// How long in-flight requests may finish after the stop.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Shared state of one simulated cluster.
struct Cluster {
    id: String,
    world: Mutex<World>,
    /// True while a heartbeat gap silences the cluster.
    silent: watch::Sender<bool>,
    /// Milliseconds since the run started at the last accepted request.
    last_ok_ms: AtomicU64,
}

/// Everything the loops share.
struct Ctx {
    cfg: Config,
    client: reqwest::Client,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
    /// Bounds concurrent serialize+gzip jobs to the number of cores.
    encoders: Semaphore,
    started: Instant,
}

impl Ctx {
    fn post(&self, cluster: &Cluster, path: &str) -> reqwest::RequestBuilder {
        self.auth(self.client.post(format!("{}{path}", self.cfg.master)))
            .header("X-Cluster-ID", &cluster.id)
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cfg.token {
            Some(t) => r.header(AUTHORIZATION, format!("Bearer {t}")),
            None => r,
        }
    }

    fn alive(&self, cluster: &Cluster) {
        let ms = self.started.elapsed().as_millis() as u64;
        cluster.last_ok_ms.store(ms.max(1), Relaxed);
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps `d`; false when the run stops first.
    async fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.stopping(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    /// Waits while the cluster is silenced by a heartbeat gap; false when the run stops.
    async fn wait_audible(&self, cluster: &Cluster) -> bool {
        let mut silent = cluster.silent.subscribe();
        let mut stop = self.stop.clone();
        tokio::select! {
            r = silent.wait_for(|s| !*s) => r.is_ok() && !self.stopping(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    /// `base` ± the configured jitter.
    fn jittered(&self, rng: &mut Rng, base: Duration) -> Duration {
        let j = self.cfg.jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 + j * (2.0 * rng.f64() - 1.0))
    }
}

/// Runs the simulation until `shutdown` resolves or the configured duration passes, then
/// stops every loop and returns the summary.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<Summary, SimError> {
    run_with(cfg, shutdown, Arc::new(Stats::default())).await
}

/// Like [`run`], counting into `stats` (so a caller can watch the run live).
pub async fn run_with(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send,
    stats: Arc<Stats>,
) -> Result<Summary, SimError> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("atlhyper-agent-sim/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(90))
        .build()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ctx = Arc::new(Ctx {
        cfg: cfg.clone(),
        client,
        stats: Arc::clone(&stats),
        stop: stop_rx,
        encoders: Semaphore::new(cores),
        started: Instant::now(),
    });
    let n = cfg.clusters;
    let seed = cfg.seed;
    let pods = cfg.pods;
    let prefix = cfg.prefix.clone();
    let worlds = tokio::task::spawn_blocking(move || {
        let now = Utc::now();
        (0..n)
            .map(|i| World::new(&cluster_id(&prefix, i), i, pods, seed, now))
            .collect::<Vec<World>>()
    })
    .await?;
    let mut tasks = JoinSet::new();
    let mut clusters = Vec::with_capacity(n);
    for (i, mut world) in worlds.into_iter().enumerate() {
        configure_slo(&mut world, &cfg, i);
        let cluster = Arc::new(Cluster {
            id: world.cluster_id().to_owned(),
            world: Mutex::new(world),
            silent: watch::channel(false).0,
            last_ok_ms: AtomicU64::new(0),
        });
        clusters.push(Arc::clone(&cluster));
        // Clusters start spread over the first interval so their pushes interleave.
        let offset = cfg.interval.mul_f64(i as f64 / n.max(1) as f64);
        let mut rng = Rng::derive(seed, &format!("timing/{i}"));
        let off = offset + ctx.jittered(&mut rng, Duration::ZERO);
        tasks.spawn(snapshot_loop(
            Arc::clone(&ctx),
            Arc::clone(&cluster),
            off,
            i,
        ));
        tasks.spawn(heartbeat_loop(
            Arc::clone(&ctx),
            Arc::clone(&cluster),
            off,
            i,
        ));
        if !cfg.slo_interval.is_zero() {
            tasks.spawn(slo_loop(Arc::clone(&ctx), Arc::clone(&cluster), off, i));
        }
        for topic in &cfg.topics {
            tasks.spawn(poll_loop(
                Arc::clone(&ctx),
                Arc::clone(&cluster),
                topic.clone(),
                off,
            ));
        }
    }
    let status = tokio::spawn(status_loop(Arc::clone(&ctx), clusters.clone()));
    let limit = async {
        match cfg.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = shutdown => {}
        _ = limit => {}
    }
    let elapsed = ctx.started.elapsed();
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(STOP_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    let _ = status.await;
    Ok(Summary::of(&stats, n, cfg.pods, elapsed))
}

/// Applies the SLO options: Traefik port names everywhere, the `slo-burst` fault on the
/// first cluster only.
pub(crate) fn configure_slo(world: &mut World, cfg: &Config, i: usize) {
    world.set_traefik_port_names(cfg.traefik_port_names);
    if cfg.faults.slo_burst && i == 0 {
        world.set_slo_burst(Some(SloBurst {
            error_rate: cfg.slo_burst_error_rate,
            after: cfg.slo_burst_after,
            duration: cfg.slo_burst_duration,
        }));
    }
}

/// Prints a one-off line to stderr on a line of its own (clearing a live status line).
fn notify(line: &str) {
    use std::io::IsTerminal as _;
    if std::io::stderr().is_terminal() {
        eprintln!("\r{line}\x1b[K");
    } else {
        eprintln!("{line}");
    }
}

/// `sim-0007`.
pub fn cluster_id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{:04}", i + 1)
}

/// Ticks the world, serializes it into the reused buffer and gzips it.
fn encode_snapshot(
    world: &Mutex<World>,
    json: &mut Vec<u8>,
    journal: Option<&Journal>,
) -> Result<Vec<u8>, SimError> {
    let mut w = world.lock().map_err(|_| SimError::Poisoned)?;
    w.tick(Utc::now());
    if let Some(j) = journal {
        j.events(w.snap.events.iter().map(|e| (&*e.uid, e.count)));
    }
    json.clear();
    serde_json::to_writer(&mut *json, &w.snap)?;
    drop(w);
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::fast());
    gz.write_all(json)?;
    Ok(gz.finish()?)
}

/// Damages a gzip body the way a broken proxy or a crashing agent would.
fn corrupt(body: &mut Vec<u8>, rng: &mut Rng) {
    match rng.range(0, 3) {
        // Cut short: the deflate stream and the trailer are missing.
        0 => body.truncate(body.len() / 2),
        // Not gzip at all.
        1 => {
            for b in body.iter_mut().take(4) {
                *b = b'{';
            }
        }
        // Flipped bytes in the middle: the inflater or the CRC catches it.
        _ => {
            let mid = body.len() / 2;
            for b in body.iter_mut().skip(mid).take(64) {
                *b ^= 0xA5;
            }
        }
    }
}

async fn snapshot_loop(ctx: Arc<Ctx>, cluster: Arc<Cluster>, offset: Duration, i: usize) {
    let mut rng = Rng::derive(ctx.cfg.seed, &format!("faults/{i}"));
    let mut json: Vec<u8> = Vec::new();
    if !ctx.sleep(offset).await {
        return;
    }
    loop {
        if !ctx.wait_audible(&cluster).await {
            return;
        }
        let started = Instant::now();
        let faults = &ctx.cfg.faults;
        if faults.heartbeat_gap && rng.chance(ctx.cfg.fault_rate) {
            start_gap(&ctx, &cluster);
            continue;
        }
        let broken = faults.corrupt && rng.chance(ctx.cfg.fault_rate);
        let Ok(permit) = ctx.encoders.acquire().await else {
            return;
        };
        let c = Arc::clone(&cluster);
        let stats = Arc::clone(&ctx.stats);
        let mut buf = std::mem::take(&mut json);
        let job = tokio::task::spawn_blocking(move || {
            let r = encode_snapshot(&c.world, &mut buf, stats.journal.as_ref());
            (buf, r)
        })
        .await;
        drop(permit);
        let mut body = match job {
            Ok((buf, Ok(body))) => {
                ctx.stats.json_bytes.fetch_add(buf.len() as u64, Relaxed);
                json = buf;
                body
            }
            Ok((buf, Err(e))) => {
                json = buf;
                ctx.stats
                    .error(format!("{}: encode snapshot: {e}", cluster.id));
                if !ctx.sleep(ctx.cfg.interval).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                ctx.stats.error(format!("{}: encode task: {e}", cluster.id));
                return;
            }
        };
        if broken {
            corrupt(&mut body, &mut rng);
        }
        ctx.stats.wire_bytes.fetch_add(body.len() as u64, Relaxed);
        let t = Instant::now();
        let reply = ctx
            .post(&cluster, "/agent/snapshot")
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .timeout(SNAPSHOT_TIMEOUT)
            .body(body)
            .send()
            .await;
        match reply {
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                if broken {
                    if status.as_u16() == 400 {
                        ctx.stats.faults.fetch_add(1, Relaxed);
                    } else {
                        ctx.stats.error(format!(
                            "{}: corrupt snapshot answered {status} (want 400): {}",
                            cluster.id,
                            short(&text)
                        ));
                    }
                } else if status.is_success() {
                    ctx.stats.push_latency.record(t.elapsed());
                    ctx.stats.snapshots.fetch_add(1, Relaxed);
                    ctx.alive(&cluster);
                } else {
                    ctx.stats.error(format!(
                        "{}: POST /agent/snapshot: {status}: {}",
                        cluster.id,
                        short(&text)
                    ));
                }
            }
            Err(_) if ctx.stopping() => return,
            Err(e) => ctx
                .stats
                .error(format!("{}: POST /agent/snapshot: {e}", cluster.id)),
        }
        let next = ctx.jittered(&mut rng, ctx.cfg.interval);
        if !ctx.sleep(next.saturating_sub(started.elapsed())).await {
            return;
        }
    }
}

/// Silences the cluster (no request of any kind) for the configured gap, longer than the
/// master's heartbeat timeout, so the master sees it go offline and come back.
fn start_gap(ctx: &Arc<Ctx>, cluster: &Arc<Cluster>) {
    ctx.stats.gaps.fetch_add(1, Relaxed);
    cluster.silent.send_replace(true);
    let c = Arc::clone(cluster);
    let ctx = Arc::clone(ctx);
    tokio::spawn(async move {
        let _ = ctx.sleep(ctx.cfg.gap).await;
        c.silent.send_replace(false);
    });
}

async fn heartbeat_loop(ctx: Arc<Ctx>, cluster: Arc<Cluster>, offset: Duration, i: usize) {
    let mut rng = Rng::derive(ctx.cfg.seed, &format!("heartbeat/{i}"));
    // v2.1 sends the first heartbeat one interval after start.
    if !ctx.sleep(offset).await {
        return;
    }
    loop {
        let d = ctx.jittered(&mut rng, ctx.cfg.heartbeat);
        if !ctx.sleep(d).await || !ctx.wait_audible(&cluster).await {
            return;
        }
        let reply = ctx
            .post(&cluster, "/agent/heartbeat")
            .timeout(HEARTBEAT_TIMEOUT)
            .send()
            .await;
        match reply {
            Ok(r) if r.status().as_u16() == 200 => {
                let _ = r.bytes().await;
                ctx.stats.heartbeats.fetch_add(1, Relaxed);
                ctx.alive(&cluster);
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                ctx.stats.error(format!(
                    "{}: POST /agent/heartbeat: {status}: {}",
                    cluster.id,
                    short(&text)
                ));
            }
            Err(_) if ctx.stopping() => return,
            Err(e) => ctx
                .stats
                .error(format!("{}: POST /agent/heartbeat: {e}", cluster.id)),
        }
    }
}

async fn slo_loop(ctx: Arc<Ctx>, cluster: Arc<Cluster>, offset: Duration, i: usize) {
    let mut rng = Rng::derive(ctx.cfg.seed, &format!("slo-timing/{i}"));
    if !ctx.sleep(offset).await {
        return;
    }
    loop {
        // v2.1 pushes the first SLO sample one interval after start.
        let d = ctx.jittered(&mut rng, ctx.cfg.slo_interval);
        if !ctx.sleep(d).await || !ctx.wait_audible(&cluster).await {
            return;
        }
        let c = Arc::clone(&cluster);
        let body = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, SimError> {
            let mut w = c.world.lock().map_err(|_| SimError::Poisoned)?;
            let push = w.slo_push(Utc::now());
            if let Some(notice) = w.take_slo_notice() {
                notify(&notice);
            }
            drop(w);
            Ok(serde_json::to_vec(&push)?)
        })
        .await;
        let body = match body {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                ctx.stats
                    .error(format!("{}: build SLO push: {e}", cluster.id));
                continue;
            }
            Err(e) => {
                ctx.stats.error(format!("{}: SLO task: {e}", cluster.id));
                return;
            }
        };
        ctx.stats.json_bytes.fetch_add(body.len() as u64, Relaxed);
        ctx.stats.wire_bytes.fetch_add(body.len() as u64, Relaxed);
        let reply = ctx
            .post(&cluster, "/agent/slo")
            .header(CONTENT_TYPE, "application/json")
            .timeout(POST_TIMEOUT)
            .body(body)
            .send()
            .await;
        match reply {
            Ok(r) if matches!(r.status().as_u16(), 200 | 202) => {
                let _ = r.bytes().await;
                ctx.stats.slo.fetch_add(1, Relaxed);
                ctx.alive(&cluster);
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                ctx.stats.error(format!(
                    "{}: POST /agent/slo: {status}: {}",
                    cluster.id,
                    short(&text)
                ));
            }
            Err(_) if ctx.stopping() => return,
            Err(e) => ctx
                .stats
                .error(format!("{}: POST /agent/slo: {e}", cluster.id)),
        }
    }
}

async fn poll_loop(ctx: Arc<Ctx>, cluster: Arc<Cluster>, topic: String, offset: Duration) {
    if !ctx.sleep(offset).await {
        return;
    }
    let url = format!("{}/agent/commands", ctx.cfg.master);
    let query = [
        ("cluster_id", cluster.id.as_str()),
        ("topic", topic.as_str()),
    ];
    loop {
        if !ctx.wait_audible(&cluster).await {
            return;
        }
        let req = ctx
            .auth(ctx.client.get(&url))
            .query(&query)
            .header("X-Cluster-ID", &cluster.id)
            .timeout(POLL_TIMEOUT)
            .send();
        let mut silent = cluster.silent.subscribe();
        let mut stop = ctx.stop.clone();
        // A gap or the stop abandons the poll: the master keeps an undelivered command.
        let reply = tokio::select! {
            r = req => r,
            _ = silent.wait_for(|s| *s) => continue,
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut pause = ctx.cfg.poll_pause;
        match reply {
            Ok(r) if r.status().as_u16() == 200 => {
                let received = Utc::now();
                let arrived = Instant::now();
                match r.json::<CommandResponse>().await {
                    Ok(resp) => {
                        ctx.stats.polls.fetch_add(1, Relaxed);
                        ctx.alive(&cluster);
                        if let Some(cmd) = resp.command.filter(|_| resp.has_command) {
                            ctx.stats.commands.fetch_add(1, Relaxed);
                            if let Some(j) = &ctx.stats.journal {
                                j.handed(&cluster.id, &cmd.id);
                            }
                            if let Some(created) = cmd.created_at.to_utc() {
                                let d = (received - created).to_std().unwrap_or_default();
                                ctx.stats.cmd_delivery.record(d);
                            }
                            tokio::spawn(execute(
                                Arc::clone(&ctx),
                                Arc::clone(&cluster),
                                cmd,
                                arrived,
                            ));
                        }
                    }
                    Err(e) => ctx.stats.error(format!(
                        "{}: GET /agent/commands: bad reply: {e}",
                        cluster.id
                    )),
                }
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                ctx.stats.error(format!(
                    "{}: GET /agent/commands: {status}: {}",
                    cluster.id,
                    short(&text)
                ));
                pause = pause.max(POLL_ERROR_BACKOFF);
            }
            Err(_) if ctx.stopping() => return,
            Err(e) => {
                ctx.stats
                    .error(format!("{}: GET /agent/commands: {e}", cluster.id));
                pause = pause.max(POLL_ERROR_BACKOFF);
            }
        }
        if !ctx.sleep(pause).await {
            return;
        }
    }
}

/// Runs one command against the world and posts its result.
async fn execute(ctx: Arc<Ctx>, cluster: Arc<Cluster>, cmd: Command, arrived: Instant) {
    let c = Arc::clone(&cluster);
    let id = cmd.id.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut w = c
            .world
            .lock()
            .map_err(|_| "simulator state poisoned".to_owned())?;
        w.execute(&cmd, Utc::now())
    })
    .await
    .unwrap_or_else(|e| Err(format!("executor failed: {e}")));
    if outcome.is_err() {
        ctx.stats.commands_failed.fetch_add(1, Relaxed);
    }
    if !ctx.cfg.exec_delay.is_zero() && !ctx.sleep(ctx.cfg.exec_delay).await {
        return;
    }
    let (success, output, error) = match outcome {
        Ok(out) => (true, out, String::new()),
        Err(e) => (false, String::new(), e),
    };
    let body = CommandResultBody {
        command_id: id,
        success,
        output: output.into(),
        error: error.into(),
        executed_at: GoTime::now(),
    };
    if !ctx.wait_audible(&cluster).await {
        return;
    }
    let reply = ctx
        .post(&cluster, "/agent/result")
        .timeout(POST_TIMEOUT)
        .json(&body)
        .send()
        .await;
    match reply {
        Ok(r) if r.status().as_u16() == 200 => {
            let _ = r.bytes().await;
            ctx.stats.results.fetch_add(1, Relaxed);
            if let Some(j) = &ctx.stats.journal {
                j.result(&cluster.id, &body.command_id, body.success);
            }
            ctx.stats.cmd_ack.record(arrived.elapsed());
            ctx.alive(&cluster);
        }
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            ctx.stats.error(format!(
                "{}: POST /agent/result: {status}: {}",
                cluster.id,
                short(&text)
            ));
        }
        Err(e) => ctx
            .stats
            .error(format!("{}: POST /agent/result: {e}", cluster.id)),
    }
}

/// The live status line: rewritten in place every second on a terminal, otherwise one
/// line every 10 s.
async fn status_loop(ctx: Arc<Ctx>, clusters: Vec<Arc<Cluster>>) {
    use std::io::IsTerminal as _;
    if !ctx.cfg.status {
        return;
    }
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let mut last = (Instant::now(), ctx.stats.pushes());
    while ctx.sleep(every).await {
        let now_ms = ctx.started.elapsed().as_millis() as u64;
        let timeout_ms = ctx.cfg.heartbeat_timeout.as_millis() as u64;
        let online = clusters
            .iter()
            .filter(|c| {
                let ok = c.last_ok_ms.load(Relaxed);
                ok > 0 && now_ms.saturating_sub(ok) < timeout_ms && !*c.silent.borrow()
            })
            .count();
        let pushes = ctx.stats.pushes();
        let rate = (pushes - last.1) as f64 / last.0.elapsed().as_secs_f64().max(0.001);
        last = (Instant::now(), pushes);
        let s = &ctx.stats;
        let q = |h: &crate::stats::Histogram, x| {
            h.quantile_ms(x)
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}ms"))
        };
        let line = format!(
            "clusters {online}/{} online | pushes/s {rate:.1} | snapshots {} | errors {} | faults {} | gaps {} | cmds {} (p50 {} p99 {}) | push p99 {}",
            clusters.len(),
            s.snapshots.load(Relaxed),
            s.errors.load(Relaxed),
            s.faults.load(Relaxed),
            s.gaps.load(Relaxed),
            s.commands.load(Relaxed),
            q(&s.cmd_delivery, 0.5),
            q(&s.cmd_delivery, 0.99),
            q(&s.push_latency, 0.99),
        );
        if tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    }
    if tty {
        eprintln!();
    }
}

/// The first 200 characters of a reply body, on one line.
fn short(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn encoded_snapshots_are_gzip_json_with_increasing_fetched_at() {
        let world = Mutex::new(World::new("sim-0001", 0, 60, 1, Utc::now()));
        let mut buf = Vec::new();
        let mut prev = None;
        for _ in 0..3 {
            let gz = encode_snapshot(&world, &mut buf, None).unwrap();
            let mut json = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut json)
                .unwrap();
            assert_eq!(json, buf);
            let snap: atlhyper_actors::model::ClusterSnapshot =
                serde_json::from_slice(&json).unwrap();
            assert_eq!(snap.pods.len(), 60);
            if let Some(p) = prev {
                assert!(snap.fetched_at > p);
            }
            prev = Some(snap.fetched_at);
        }
    }

    #[test]
    fn corrupt_bodies_do_not_decode() {
        let world = Mutex::new(World::new("sim-0001", 0, 30, 1, Utc::now()));
        let mut buf = Vec::new();
        let good = encode_snapshot(&world, &mut buf, None).unwrap();
        let mut rng = Rng::new(5);
        for _ in 0..12 {
            let mut bad = good.clone();
            corrupt(&mut bad, &mut rng);
            let mut out = Vec::new();
            let decoded = flate2::read::GzDecoder::new(&bad[..]).read_to_end(&mut out);
            let parsed = decoded
                .ok()
                .and_then(|_| serde_json::from_slice::<serde_json::Value>(&out).ok());
            assert!(parsed.is_none(), "a corrupt body decoded to JSON");
        }
    }
}
