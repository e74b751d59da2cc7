//! SLO benchmark (issue 13), on SQLite and PostgreSQL side by side.
//!
//! `cargo bench --bench slo [-- --pushes 100 --iterations 50 --domains 100 --engines sqlite,postgres --pg-url URL]`
//!
//! Per engine, a real master (in-process, ports 0), then:
//!
//! 1. **Ingest.** One cluster pushes SLO data for 130 hosts × 12 status codes × 14 latency
//!    buckets (Traefik's 0.3 and 1.2 among them), each host behind its own route, counters
//!    growing every push. Two ways, alternated:
//!    - **persister**: the push is published on the bus as `SloPushed` and the SLO
//!      persister computes the deltas and writes the 130 minute rows (and, one push in six,
//!      the 260 hour and day rows of the minute that ended), the state and the routes in
//!      one transaction (timed to `flush()`). Receive times are 10 s apart, as agents push;
//!    - **http**: `POST /agent/slo` with the JSON body (decoded and parsed by the master),
//!      then the same persister work (received now, so its minutes roll up less often).
//!
//!    Reported: wall time per push and the CPU time of the whole process per push (the
//!    master's threads, SQLite's writer, and for `http` the client's few microseconds;
//!    PostgreSQL's own server process is not counted). Evaluation is kept out
//!    (`slo_evaluate_interval` = 1 day) and measured on its own: **evaluate** is one
//!    cluster's status and burn-rate evaluation over 130 routes (8 windows).
//!    Target: under 5 ms of CPU per push.
//! 2. **Query.** 30 days of series for `--domains` routes (one per domain) as the
//!    persister writes them: daily and hourly rows for 30 days and minute rows for the
//!    last 48 hours (the raw retention), inserted directly. Timed:
//!    - **window**: `slo::query::rolled` and `slo::query::window` over 30 days (the rows
//!      read and added up);
//!    - **api**: `GET /api/v2/slo/domains?cluster_id=bench&time_range=30d` end to end
//!      (current and previous window, targets, statuses, JSON).
//!
//!    Target: p99 under 50 ms. The table is `ANALYZE`d after the load, as one in use
//!    would be.
//!
//! Engines alternate every iteration, in a rotated order, so the comparison is made within
//! one run on a noisy shared machine. One warm-up iteration is not counted. Prints a
//! markdown table and writes `benches/results/slo.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark tool")]

mod common;
use common::*;

/// The allocator the master runs on (`src/main.rs`): ingest cost is mostly allocation, so
/// measuring under glibc's would not be the product's cost.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/db.rs"]
mod db;

use std::sync::Arc;
use std::time::{Duration, Instant};

use atlhyper_actors::messages::SloPushed;
use atlhyper_actors::model::SloPushRequest;
use atlhyper_master::config::Settings;
use atlhyper_master::db::slo::SeriesRow;
use atlhyper_master::db::{to_db, Engine};
use atlhyper_master::slo::window::{floor, DAY, HOUR, MINUTE};
use atlhyper_master::startup::{Application, Stopper};
use atlhyper_master::state::AppState;
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};

const TOKEN: &str = "bench-token";
const PASSWORD: &str = "bench-admin-password";
/// Hosts (services) of the pushing cluster, one route each.
const HOSTS: usize = 130;
/// Status codes per host.
const CODES: [&str; 12] = [
    "200", "201", "204", "301", "304", "400", "401", "404", "429", "500", "502", "503",
];
/// Latency bounds, seconds (`+Inf` dropped, as the v2.1 agent does).
const BOUNDS: [&str; 14] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.3", "0.5", "1", "1.2", "2.5", "5", "10",
    "30",
];

/// The cumulative counters of the simulated ingress controller.
struct Counters {
    rng: Rng,
    counters: Vec<[i64; 12]>,
    buckets: Vec<[i64; 14]>,
    sums: Vec<f64>,
    ts: i64,
}

impl Counters {
    fn new() -> Self {
        Counters {
            rng: Rng::new(13),
            counters: vec![[1_000; 12]; HOSTS],
            buckets: vec![[0; 14]; HOSTS],
            sums: vec![0.0; HOSTS],
            ts: 1_770_000_000,
        }
    }

    fn key(i: usize) -> String {
        format!("ns{i}-svc{i}-80@kubernetes")
    }

    /// The next push: every counter and bucket grows.
    fn next(&mut self, cluster: &str) -> Value {
        self.ts += 10;
        let mut counters = Vec::with_capacity(HOSTS * CODES.len());
        let mut hists = Vec::with_capacity(HOSTS);
        let mut routes = Vec::with_capacity(HOSTS);
        for h in 0..HOSTS {
            let key = Self::key(h);
            let mut n = 0;
            for (c, code) in CODES.iter().enumerate() {
                let d = 1 + self.rng.below(if c == 0 { 500 } else { 10 }) as i64;
                self.counters[h][c] += d;
                n += d;
                counters.push(json!({"host": key, "status": code, "metric_type": "requests", "value": self.counters[h][c]}));
            }
            let mut acc = 0;
            let mut buckets = serde_json::Map::new();
            for (b, le) in BOUNDS.iter().enumerate() {
                acc += n / 14 + i64::from(b == 0) * (n % 14);
                self.buckets[h][b] += acc.min(n);
                buckets.insert((*le).to_owned(), json!(self.buckets[h][b]));
            }
            self.sums[h] += n as f64 * 0.08;
            hists.push(json!({"host": key, "buckets": buckets, "sum": self.sums[h], "count": self.buckets[h][13]}));
            routes.push(
                json!({"name": format!("ing{h}"), "namespace": format!("ns{h}"),
                "domain": format!("d{h}.example.com"), "path_prefix": "/", "service_key": key,
                "service_name": format!("svc{h}"), "service_port": 80, "tls": true}),
            );
        }
        json!({"cluster_id": cluster, "metrics": {"timestamp": self.ts, "counters": counters, "histograms": hists}, "ingress_routes": routes})
    }
}

/// One engine's master and samples.
struct Side {
    engine: Engine,
    state: AppState,
    stopper: Stopper,
    run: actix_rt::task::JoinHandle<anyhow::Result<()>>,
    agent: String,
    url: String,
    token: String,
    counters: Counters,
    /// Counters of the cluster that pushes over HTTP (its own, so that the bus pushes'
    /// receive times stay its own too).
    http_counters: Counters,
    /// The receive time of the next push through the bus: 10 s apart, as agents push.
    next_at: chrono::DateTime<Utc>,
    persister: Vec<(Duration, f64)>,
    http: Vec<(Duration, f64)>,
    evaluate: Vec<(Duration, f64)>,
    window: Vec<Duration>,
    api: Vec<Duration>,
}

/// The series rows a route's 30 days leave: daily and hourly rows, and minutes for 48 h.
fn history(domains: usize) -> Vec<SeriesRow> {
    let now = Utc::now();
    let mut rows = Vec::new();
    let counts = [
        10, 40, 200, 700, 1500, 2600, 2800, 3200, 3500, 3550, 3580, 3595, 3599, 3600,
    ];
    let buckets = atlhyper_master::slo::maths::Buckets(
        BOUNDS
            .iter()
            .zip(counts)
            .map(|(le, n)| (le.parse::<f64>().unwrap(), n))
            .collect(),
    )
    .encode();
    let row = |d: usize, res: i32, start: chrono::DateTime<Utc>, scale: i64| SeriesRow {
        cluster_id: "bench".to_owned(),
        resolution: res,
        start_at: to_db(start),
        domain: format!("h{d}.example.com"),
        path_prefix: "/".to_owned(),
        service_key: format!("h{d}-svc-80@kubernetes"),
        requests: 3_600 * scale,
        errors: 3 * scale,
        client_errors: 40 * scale,
        latency_sum: 288.0 * scale as f64,
        latency_count: 3_600 * scale,
        buckets: buckets.clone(),
        elapsed_ms: 3_600_000 * scale,
        samples: i32::try_from(360 * scale).unwrap_or(i32::MAX),
    };
    for d in 0..domains {
        for day in 0..31 {
            rows.push(row(d, DAY, floor(now, DAY) - TimeDelta::days(day), 24));
        }
        for hour in 0..(31 * 24) {
            rows.push(row(d, HOUR, floor(now, HOUR) - TimeDelta::hours(hour), 1));
        }
        for minute in 0..(48 * 60) {
            let mut r = row(
                d,
                MINUTE,
                floor(now, MINUTE) - TimeDelta::minutes(minute),
                1,
            );
            r.requests /= 60;
            r.elapsed_ms /= 60;
            rows.push(r);
        }
    }
    rows
}

async fn start(
    engine: Engine,
    settings: Settings,
    domains: usize,
    client: &reqwest::Client,
) -> Side {
    let app = Application::build(settings).await.unwrap();
    let http = format!("http://127.0.0.1:{}", app.http_port());
    let agent = format!("http://127.0.0.1:{}", app.agent_port());
    let state = app.state();
    let stopper = app.stopper();
    let run = actix_rt::spawn(app.run_until_stopped(false));
    // Cluster `bench` becomes known from an SLO push, as in production.
    let r = client
        .post(format!("{agent}/agent/slo"))
        .bearer_auth(TOKEN)
        .header("X-Cluster-ID", "bench")
        .json(&json!({"cluster_id": "bench", "metrics": {"timestamp": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    state.persist.flush().await;
    let rows = history(domains);
    let n = rows.len();
    assert_eq!(state.db.slo().insert_series(rows).await.unwrap(), n);
    // A table in use has statistics (autovacuum, or SQLite's optimizer notes); one just
    // bulk-loaded has none, and PostgreSQL would plan the first queries blind.
    state
        .db
        .write(|c| {
            use diesel::RunQueryDsl;
            diesel::sql_query("ANALYZE slo_series").execute(c)?;
            Ok(())
        })
        .await
        .unwrap();
    // Their routes, as the agent reports them.
    let routes: Vec<Value> = (0..domains)
        .map(|d| json!({"name": format!("ing{d}"), "namespace": "ns", "domain": format!("h{d}.example.com"),
            "path_prefix": "/", "service_key": format!("h{d}-svc-80@kubernetes"), "service_name": "svc",
            "service_port": 80, "tls": true}))
        .collect();
    let r = client
        .post(format!("{agent}/agent/slo"))
        .bearer_auth(TOKEN)
        .header("X-Cluster-ID", "bench")
        .json(
            &json!({"cluster_id": "bench", "metrics": {"timestamp": 2}, "ingress_routes": routes}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    state.persist.flush().await;
    let token = admin_login(client, &http, PASSWORD).await;
    Side {
        engine,
        state,
        stopper,
        run,
        agent,
        url: format!("{http}/api/v2/slo/domains?cluster_id=bench&time_range=30d"),
        token,
        counters: Counters::new(),
        http_counters: Counters::new(),
        next_at: Utc::now() - TimeDelta::days(2),
        persister: Vec::new(),
        http: Vec::new(),
        evaluate: Vec::new(),
        window: Vec::new(),
        api: Vec::new(),
    }
}

/// CPU seconds of every thread of this process so far, in nanoseconds' resolution (the
/// first field of each thread's `schedstat`; `/proc/self/stat` counts 10 ms ticks, too
/// coarse for one push).
fn cpu() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return proc_cpu_secs("self");
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum::<u64>() as f64
        / 1e9
}

/// One push through the bus (the persister's work; cluster `push`, received 10 s after its
/// previous push, so one push in six rolls a minute up into its hour and day rows, as in
/// production) and one through HTTP (cluster `push-http`, received now).
async fn ingest(side: &mut Side, client: &reqwest::Client) -> ((Duration, f64), (Duration, f64)) {
    let body = side.counters.next("push");
    let push: SloPushRequest = serde_json::from_value(body).unwrap();
    side.next_at += TimeDelta::seconds(10);
    let (t, c) = (Instant::now(), cpu());
    side.state.bus.slo.publish(SloPushed {
        cluster_id: Arc::from("push"),
        push: Arc::new(push),
        received_at: side.next_at,
        epoch: 0,
    });
    side.state.persist.slo.flush().await;
    let persister = (t.elapsed(), cpu() - c);

    let body = serde_json::to_vec(&side.http_counters.next("push-http")).unwrap();
    let (t, c) = (Instant::now(), cpu());
    let r = client
        .post(format!("{}/agent/slo", side.agent))
        .bearer_auth(TOKEN)
        .header("X-Cluster-ID", "push-http")
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    side.state.persist.slo.flush().await;
    (persister, (t.elapsed(), cpu() - c))
}

async fn query(side: &Side, client: &reqwest::Client, domains: usize) -> (Duration, Duration) {
    let now = Utc::now();
    let t = Instant::now();
    let db = &side.state.db;
    let rolled = atlhyper_master::slo::query::rolled(db, "bench")
        .await
        .unwrap();
    let w = atlhyper_master::slo::query::window(
        db,
        "bench",
        None,
        (now - TimeDelta::days(30), now),
        rolled,
    )
    .await
    .unwrap();
    let window = t.elapsed();
    assert_eq!(w.len(), domains);
    let t = Instant::now();
    let r = client
        .get(&side.url)
        .bearer_auth(&side.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let api = t.elapsed();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["domains"].as_array().unwrap().len(), domains);
    (window, api)
}

fn p(v: &[Duration], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort();
    as_ms(s[((s.len() as f64 - 1.0) * q).round() as usize])
}

fn cpu_ms(v: &[(Duration, f64)]) -> (f64, f64) {
    let mut walls: Vec<Duration> = v.iter().map(|x| x.0).collect();
    walls.sort();
    let cpu = v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64 * 1e3;
    (p(&walls, 0.5), cpu)
}

fn main() {
    let engines = engines();
    let pushes = arg("--pushes", 100).max(3);
    let iterations = arg("--iterations", 50).max(3);
    let domains = arg("--domains", 100).max(1);
    let dir = tempfile::tempdir().unwrap();
    let pg = engines.contains(&Engine::Postgres).then(db::TestDb::new);
    let settings = |engine: Engine| {
        let mut s = Settings {
            bind: "127.0.0.1".parse().unwrap(),
            http_port: 0,
            agent_port: 0,
            db_path: dir.path().join(format!("{}.db", engine.as_str())),
            agent_token: Some(TOKEN.to_owned().into()),
            admin_password: Some(PASSWORD.to_owned().into()),
            slo_evaluate_interval: Duration::from_secs(86_400),
            api_rate_limit: 0,
            agent_rate_limit: 0,
            ..Settings::default()
        };
        if engine == Engine::Postgres {
            pg.as_ref().expect("a PostgreSQL schema").apply(&mut s);
        }
        s
    };
    let all: Vec<(Engine, Settings)> = engines.iter().map(|&e| (e, settings(e))).collect();
    let sides = actix_rt::System::new().block_on(async move {
        let client = reqwest::Client::new();
        let mut sides = Vec::new();
        for (engine, s) in all {
            sides.push(start(engine, s, domains, &client).await);
        }
        let order: Vec<usize> = (0..sides.len()).collect();
        for i in 0..=pushes {
            for k in rotated(&order, i) {
                let (a, b) = ingest(&mut sides[k], &client).await;
                if i > 0 {
                    sides[k].persister.push(a);
                    sides[k].http.push(b);
                }
            }
        }
        // The evaluation of the pushing cluster's 130 routes, on its own.
        for i in 0..=10 {
            for k in rotated(&order, i) {
                let side = &mut sides[k];
                let body = side.counters.next("push");
                let push: SloPushRequest = serde_json::from_value(body).unwrap();
                let (t, c) = (Instant::now(), cpu());
                // A push a day later is due for evaluation.
                side.state.bus.slo.publish(SloPushed {
                    cluster_id: Arc::from("push"),
                    push: Arc::new(push),
                    received_at: side.next_at + TimeDelta::days(1 + i64::try_from(i).unwrap()),
                    epoch: 0,
                });
                side.state.persist.slo.flush().await;
                if i > 0 {
                    side.evaluate.push((t.elapsed(), cpu() - c));
                }
            }
        }
        for i in 0..=iterations {
            for k in rotated(&order, i) {
                let (w, a) = query(&sides[k], &client, domains).await;
                if i > 0 {
                    sides[k].window.push(w);
                    sides[k].api.push(a);
                }
            }
        }
        let mut out = Vec::new();
        for side in sides {
            side.stopper.stop();
            out.push(side);
        }
        for side in &mut out {
            (&mut side.run).await.unwrap().unwrap();
        }
        out
    });
    drop(pg);

    println!();
    println!(
        "SLO ingest: {HOSTS} hosts × {} codes × {} buckets, {pushes} pushes per way; query: {domains} domains × 30 days, {iterations} iterations",
        CODES.len(),
        BOUNDS.len()
    );
    let mut head = String::from("| measure |");
    let mut rule = String::from("|---|");
    for s in &sides {
        head += &format!(" {} |", engine_label(s.engine));
        rule += "---:|";
    }
    println!("{head}\n{rule}");
    let line = |name: &str, f: &dyn Fn(&Side) -> String| {
        let mut l = format!("| {name} |");
        for s in &sides {
            l += &format!(" {} |", f(s));
        }
        println!("{l}");
    };
    line("push via bus: wall p50 / CPU mean (ms)", &|s| {
        let (w, c) = cpu_ms(&s.persister);
        format!("{w:.2} / {c:.2}")
    });
    line("push via HTTP: wall p50 / CPU mean (ms)", &|s| {
        let (w, c) = cpu_ms(&s.http);
        format!("{w:.2} / {c:.2}")
    });
    line("evaluation, 130 routes: wall p50 / CPU mean (ms)", &|s| {
        let (w, c) = cpu_ms(&s.evaluate);
        format!("{w:.2} / {c:.2}")
    });
    line("30-day window read: p50 / p99 (ms)", &|s| {
        format!("{:.2} / {:.2}", p(&s.window, 0.5), p(&s.window, 0.99))
    });
    line("GET /slo/domains?time_range=30d: p50 / p99 (ms)", &|s| {
        format!("{:.2} / {:.2}", p(&s.api, 0.5), p(&s.api, 0.99))
    });

    let engines_json: serde_json::Map<String, Value> = sides
        .iter()
        .map(|s| {
            let (pw, pc) = cpu_ms(&s.persister);
            let (hw, hc) = cpu_ms(&s.http);
            let (ew, ec) = cpu_ms(&s.evaluate);
            (
                s.engine.as_str().to_owned(),
                json!({
                    "push_bus_ms": {"wall_p50": pw, "cpu_mean": pc},
                    "push_http_ms": {"wall_p50": hw, "cpu_mean": hc},
                    "evaluate_ms": {"wall_p50": ew, "cpu_mean": ec},
                    "window_30d_ms": {"p50": p(&s.window, 0.5), "p99": p(&s.window, 0.99)},
                    "api_30d_ms": {"p50": p(&s.api, 0.5), "p99": p(&s.api, 0.99)},
                    "push_cpu_over_target": pc / 5.0,
                    "api_p99_over_target": p(&s.api, 0.99) / 50.0,
                }),
            )
        })
        .collect();
    write_result(
        "slo",
        &json!({
            "bench": "slo",
            "hosts": HOSTS, "codes": CODES.len(), "buckets": BOUNDS.len(),
            "pushes": pushes, "domains": domains, "iterations": iterations,
            "targets": {"push_cpu_ms": 5, "api_p99_ms": 50},
            "engines": engines_json,
        }),
    );
}
