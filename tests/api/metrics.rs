//! `GET /metrics`: the exposition parses, every family is described, and the values move
//! with what the master did; the optional scrape token.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// One sample line: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition.
#[derive(Debug, Default)]
struct Exposition {
    help: HashSet<String>,
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

/// The labels of `{a="x",b="y\"z"}` (the text after the name, starting at `{`); returns
/// the labels and the rest of the line.
fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').unwrap();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (key, after) = rest.split_once("=\"").unwrap();
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "label name {key:?}"
        );
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next().expect("unterminated label value");
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?}"),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses the text, failing on any line that is not `# HELP`, `# TYPE`, a sample or the
/// final `# EOF`.
fn parse(text: &str) -> Exposition {
    assert!(text.ends_with("# EOF\n"), "no EOF marker");
    let mut e = Exposition::default();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            assert_eq!(i, lines.len() - 1, "EOF before the end");
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(!help.trim().is_empty(), "empty help for {name}");
            assert!(e.help.insert(name.to_owned()), "two HELP lines for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram", "info"].contains(&ty),
                "{line}"
            );
            assert!(
                e.types.insert(name.to_owned(), ty.to_owned()).is_none(),
                "two TYPE lines for {name}"
            );
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let name_end = line.find(['{', ' ']).unwrap();
            let name = &line[..name_end];
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "metric name {name:?}"
            );
            let (labels, rest) = if line[name_end..].starts_with('{') {
                parse_labels(&line[name_end..])
            } else {
                (BTreeMap::new(), &line[name_end..])
            };
            let value_text = rest.strip_prefix(' ').unwrap();
            assert!(
                !value_text.contains(' '),
                "timestamps are not used: {line:?}"
            );
            let value: f64 = value_text
                .parse()
                .unwrap_or_else(|_| panic!("value of {line:?}"));
            e.samples.push(Sample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
    }
    e
}

impl Exposition {
    /// The family a sample belongs to, by the OpenMetrics suffix rules for its type.
    fn family_of(&self, sample: &str) -> String {
        if self.types.contains_key(sample) {
            return sample.to_owned();
        }
        for (suffix, ty) in [
            ("_total", "counter"),
            ("_bucket", "histogram"),
            ("_sum", "histogram"),
            ("_count", "histogram"),
            ("_info", "info"),
        ] {
            if let Some(base) = sample.strip_suffix(suffix) {
                if self.types.get(base).map(String::as_str) == Some(ty) {
                    return base.to_owned();
                }
            }
        }
        panic!("sample {sample} belongs to no declared family");
    }

    /// Every sample of `name` whose labels include `labels`.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The sum of those samples (0 when there are none).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The one sample that matches exactly.
    fn one(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        found[0].value
    }

    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    app.api(Method::GET, "/metrics", token)
        .send()
        .await
        .unwrap()
}

/// Scrapes, checks the content type and the whole text, and parses it.
async fn scrape_ok(app: &TestApp) -> Exposition {
    let r = scrape(app, None).await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let e = parse(&r.text().await.unwrap());
    for s in &e.samples {
        let family = e.family_of(&s.name);
        assert!(e.help.contains(&family), "{family} has no HELP");
    }
    for family in e.types.keys() {
        assert!(e.help.contains(family), "{family} has TYPE but no HELP");
        assert!(
            family.starts_with("atlhyper_") || family.starts_with("process_"),
            "{family} lacks the prefix"
        );
    }
    e
}

fn json_len(gz: &[u8]) -> usize {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out.len()
}

#[actix_web::test]
async fn metrics_follow_requests_snapshots_clusters_commands_and_the_bus() {
    let app = spawn_app().await;
    let before = scrape_ok(&app).await;
    let ingested = |e: &Exposition, outcome: &str| {
        e.sum("atlhyper_snapshots_ingested_total", &[("outcome", outcome)])
    };
    let bytes =
        |e: &Exposition, enc: &str| e.sum("atlhyper_snapshot_bytes_total", &[("encoding", enc)]);

    // One good snapshot and one that does not parse.
    let good = fixture("small.json.gz");
    assert_eq!(app.push_gz("demo-small", good.clone()).await.status(), 200);
    let bad = gzip(b"not json");
    assert_eq!(app.push_gz("demo-small", bad.clone()).await.status(), 400);
    // A few dashboard routes, an unknown path, and a command.
    let (s, _) = app.get("/api/v2/clusters/demo-small/status").await;
    assert_eq!(s, 200);
    let (s, _) = app.get("/api/v2/clusters/demo-small").await;
    assert_eq!(s, 200);
    let (s, _) = app.get("/no/such/demo-small/path").await;
    assert_eq!(s, 404);
    app.create_command(&json!({
        "cluster_id": "demo-small",
        "action": "scale",
        "namespace": "shop",
        "name": "web",
        "params": {"replicas": 3},
    }))
    .await;
    app.state.persist.flush().await;

    let after = scrape_ok(&app).await;
    let moved = |f: &dyn Fn(&Exposition) -> f64| f(&after) - f(&before);

    // Snapshots: counts by outcome, bytes as sent and as JSON, one parse each.
    assert_eq!(moved(&|e| ingested(e, "ok")), 1.0);
    assert_eq!(moved(&|e| ingested(e, "rejected")), 1.0);
    assert_eq!(
        moved(&|e| bytes(e, "wire")),
        (good.len() + bad.len()) as f64
    );
    assert_eq!(
        moved(&|e| bytes(e, "json")),
        (json_len(&good) + b"not json".len()) as f64
    );
    assert_eq!(
        moved(&|e| e.sum("atlhyper_snapshot_parse_seconds_count", &[])),
        2.0
    );
    assert!(after.sum("atlhyper_snapshot_parse_seconds_sum", &[]) > 0.0);

    // Routes are labelled by pattern, never by the raw path with its ids.
    let status_route = [
        ("server", "api"),
        ("method", "GET"),
        ("route", "/api/v2/clusters/{id}/status"),
    ];
    let mut with_code = status_route.to_vec();
    with_code.push(("status", "200"));
    assert_eq!(after.one("atlhyper_http_requests_total", &with_code), 1.0);
    assert_eq!(
        after.one(
            "atlhyper_http_request_duration_seconds_count",
            &status_route
        ),
        1.0
    );
    let mut inf = status_route.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        after.one("atlhyper_http_request_duration_seconds_bucket", &inf),
        1.0
    );
    assert!(
        after
            .samples
            .iter()
            .filter_map(|s| s.labels.get("route"))
            .all(|r| !r.contains("demo-small")),
        "a raw path leaked into a route label"
    );
    assert_eq!(
        after.sum(
            "atlhyper_http_requests_total",
            &[("server", "api"), ("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    for (status, n) in [("200", 1.0), ("400", 1.0)] {
        let labels = [
            ("server", "agent"),
            ("method", "POST"),
            ("route", "/agent/snapshot"),
            ("status", status),
        ];
        assert_eq!(after.one("atlhyper_http_requests_total", &labels), n);
    }
    assert_eq!(
        after.one(
            "atlhyper_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/v2/command"),
                ("status", "202")
            ]
        ),
        1.0
    );

    // Live state, asked of its owners.
    assert_eq!(after.one("atlhyper_clusters", &[("status", "online")]), 1.0);
    assert_eq!(
        after.one("atlhyper_clusters", &[("status", "offline")]),
        0.0
    );
    assert_eq!(after.one("atlhyper_cluster_actor_revivals_total", &[]), 0.0);
    assert_eq!(after.one("atlhyper_commands", &[("state", "pending")]), 1.0);
    assert_eq!(after.one("atlhyper_commands", &[("state", "success")]), 0.0);
    for persister in ["event_persister", "metrics_persister"] {
        let labels = [("topic", "snapshots"), ("subscriber", persister)];
        assert!(after.one("atlhyper_bus_delivered_total", &labels) >= 1.0);
        after.one("atlhyper_bus_coalesced_total", &labels);
        after.one("atlhyper_bus_dropped_total", &labels);
        after.one("atlhyper_bus_pending", &labels);
        assert!(
            after.one(
                "atlhyper_persister_lag_seconds_count",
                &[("persister", persister)]
            ) >= 1.0
        );
    }
    let slack_states = after.sum("atlhyper_notify_breaker_state", &[("channel", "slack")]);
    assert_eq!(slack_states, 1.0, "exactly one breaker state is current");
    assert_eq!(
        after.one(
            "atlhyper_notify_breaker_state",
            &[("channel", "slack"), ("state", "closed")]
        ),
        1.0
    );
    assert_eq!(after.one("atlhyper_db_pool_max_connections", &[]), 10.0);
    assert!(after.sum("atlhyper_db_pool_connections", &[]) >= 1.0);
    after.one("atlhyper_db_writer_queue", &[]);
    assert_eq!(
        after.one(
            "atlhyper_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(
        !after.has("atlhyper_metrics_collect_errors_total"),
        "every source answered"
    );
    if cfg!(target_os = "linux") {
        assert!(after.one("process_resident_memory_bytes", &[]) > 0.0);
        assert!(after.one("process_virtual_memory_bytes", &[]) > 0.0);
        assert!(after.one("process_cpu_seconds_total", &[]) > 0.0);
        assert!(after.one("process_open_fds", &[]) >= 3.0);
        assert!(after.one("process_threads", &[]) >= 1.0);
        assert!(after.one("process_start_time_seconds", &[]) > 1.6e9);
    }

    // The scrapes themselves are requests too.
    let again = scrape_ok(&app).await;
    assert_eq!(
        again.one(
            "atlhyper_http_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ),
        2.0
    );
}

#[actix_web::test]
async fn metrics_token_guards_the_scrape() {
    const TOKEN: &str = "scrape-me-please";
    let app = spawn_with(|s| s.metrics_token = Some(TOKEN.to_owned().into())).await;
    let admin = app.admin_token.clone();
    for token in [None, Some("wrong-token"), Some(admin.as_str())] {
        let r = scrape(&app, token).await;
        assert_eq!(r.status(), 401, "{token:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized", "{body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let r = scrape(&app, Some(TOKEN)).await;
    assert_eq!(r.status(), 200);
    parse(&r.text().await.unwrap());
    // Only the dashboard port serves it.
    let r = app
        .client
        .get(format!("{}/metrics", app.agent))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[actix_web::test]
async fn public_scrapes_are_neither_limited_nor_security_events() {
    let app = spawn_with(|s| {
        s.api_rate_limit = 1;
        s.api_rate_burst = 1;
    })
    .await;
    // A Prometheus configured with a token the master does not expect still scrapes, as
    // often as it likes, without its bearer being taken for a bad user token.
    for _ in 0..5 {
        assert_eq!(scrape(&app, Some("stray-bearer")).await.status(), 200);
    }
    app.state.audit.flush().await;
    let (s, events) = app.get("/api/v2/security/events").await;
    assert_eq!(s, 200);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["resource"].as_str().unwrap_or("").contains("/metrics")),
        "{events}"
    );
}

/// Issue 12: a resent snapshot (same objects, newer `fetched_at`) reuses every list element
/// of the previous push instead of parsing it, and what the API serves from it is byte for
/// byte what it served from the first, fully parsed push.
#[actix_web::test]
async fn a_resent_snapshot_reuses_every_object_and_serves_the_same_bytes() {
    let app = spawn_app().await;
    let objects = |e: &Exposition, outcome: &str| {
        e.sum("atlhyper_snapshot_objects_total", &[("outcome", outcome)])
    };
    let raw = |path: String| {
        let (client, token) = (app.client.clone(), app.admin_token.clone());
        async move {
            let r = client.get(path).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap()
        }
    };
    let kinds = [
        "pods",
        "deployments",
        "services",
        "nodes",
        "events",
        "configmaps",
    ];
    let served = || async {
        let mut out = Vec::new();
        for k in kinds {
            let url = format!(
                "{}/api/v2/clusters/demo-medium/resources/{k}?limit=1000",
                app.http
            );
            out.push(raw(url).await);
        }
        out
    };

    let mut json = Vec::new();
    flate2::read::MultiGzDecoder::new(&fixture("medium-go.json.gz")[..])
        .read_to_end(&mut json)
        .unwrap();
    let text = String::from_utf8(json).unwrap();
    let newer = text.replacen(
        "\"fetched_at\":\"2026-02-04T13:31:23.608382836+09:00\"",
        "\"fetched_at\":\"2026-02-04T13:31:33.608382836+09:00\"",
        1,
    );
    assert_ne!(newer, text, "the fixture's fetched_at moved");

    let before = scrape_ok(&app).await;
    assert_eq!(
        app.push_gz("demo-medium", gzip(text.as_bytes()))
            .await
            .status(),
        200
    );
    let first = served().await;
    let mid = scrape_ok(&app).await;
    let parsed = objects(&mid, "parsed") - objects(&before, "parsed");
    assert!(
        parsed > 100.0,
        "the first push parses every object: {parsed}"
    );
    assert_eq!(objects(&mid, "reused"), objects(&before, "reused"));

    assert_eq!(
        app.push_gz("demo-medium", gzip(newer.as_bytes()))
            .await
            .status(),
        200
    );
    let after = scrape_ok(&app).await;
    assert_eq!(objects(&after, "parsed"), objects(&mid, "parsed"));
    assert_eq!(objects(&after, "reused") - objects(&mid, "reused"), parsed);
    let (s, st) = app.get("/api/v2/clusters/demo-medium/status").await;
    assert_eq!(s, 200);
    assert!(
        st["fetched_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-02-04T04:31:33"),
        "the resent snapshot is the one held: {st}"
    );
    assert_eq!(served().await, first, "replies are byte-identical");
}
