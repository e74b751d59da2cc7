//! Wire-model compatibility tests against the Go-format fixtures in `tests/fixtures/`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::io::Read;

use atlhyper_model::{
    parse_snapshot, ClusterSnapshot, Command, CommandResponse, CommandResultBody, Deployment,
    Event, GoTime, Job, Kind, Node, Pod, ResourceMeta, SloPushRequest, VisitItems,
};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/");

/// Reads a fixture, gunzipping `.gz` files.
fn fixture(name: &str) -> Vec<u8> {
    let raw = std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    if !name.ends_with(".gz") {
        return raw;
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// `null`, `[]`, `{}` and an absent key are all "empty" for Go (nil slice / nil map / omitempty).
fn is_empty_like(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        // 3700 == 3700.0; allow a few ULPs for serde_json's fast (not always correctly rounded) float parser.
        (Some(x), Some(y)) => x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()),
        _ => false,
    }
}

/// Returns the JSON path and a description of the first difference, treating empty-likes as equal.
fn first_diff(want: Option<&Value>, got: Option<&Value>, path: &str) -> Option<String> {
    if is_empty_like(want) && is_empty_like(got) {
        return None;
    }
    let (Some(w), Some(g)) = (want, got) else {
        return Some(format!("{path}: want {want:?}, got {got:?}"));
    };
    match (w, g) {
        (Value::Object(wo), Value::Object(go)) => {
            let mut keys: Vec<&String> = wo.keys().chain(go.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .find_map(|k| first_diff(wo.get(k), go.get(k), &format!("{path}.{k}")))
        }
        (Value::Array(wa), Value::Array(ga)) => {
            if wa.len() != ga.len() {
                return Some(format!(
                    "{path}: want {} elements, got {}",
                    wa.len(),
                    ga.len()
                ));
            }
            wa.iter()
                .zip(ga)
                .enumerate()
                .find_map(|(i, (x, y))| first_diff(Some(x), Some(y), &format!("{path}[{i}]")))
        }
        (Value::Number(x), Value::Number(y)) if numbers_equal(x, y) => None,
        _ if w == g => None,
        _ => Some(format!("{path}: want {w}, got {g}")),
    }
}

/// Asserts that two JSON texts are equal modulo Go's empty-likes and number formatting.
fn assert_same_json(original: &[u8], written: &[u8]) {
    let want: Value = serde_json::from_slice(original).unwrap();
    let got: Value = serde_json::from_slice(written).unwrap();
    if let Some(d) = first_diff(Some(&want), Some(&got), "$") {
        panic!("first difference at {d}");
    }
}

/// Parses a snapshot fixture, writes it back and compares; returns the model and the written JSON.
fn round_trip_snapshot(name: &str) -> (ClusterSnapshot, Value) {
    let original = fixture(name);
    let snap = parse_snapshot(&original).unwrap_or_else(|e| panic!("{name}: {e}"));
    let written = serde_json::to_vec(&snap).unwrap();
    assert_same_json(&original, &written);
    // Writing is stable: our own output decodes to the same model.
    assert_eq!(
        parse_snapshot(&written).unwrap(),
        snap,
        "{name}: re-decoding"
    );
    (snap, serde_json::from_slice(&written).unwrap())
}

// ---------------------------------------------------------------------------------------------
// The comparison helper itself.

#[test]
fn diff_helper_finds_real_differences_and_ignores_go_empties() {
    let same = [
        (r#"{"a":null,"b":[1]}"#, r#"{"a":[],"b":[1.0],"c":{}}"#),
        (r#"{"x":3700}"#, r#"{"x":3700.0}"#),
    ];
    for (a, b) in same {
        assert_same_json(a.as_bytes(), b.as_bytes());
    }
    let want: Value = serde_json::from_str(r#"{"p":[{"n":"a"},{"n":"b","t":"x"}]}"#).unwrap();
    let got: Value = serde_json::from_str(r#"{"p":[{"n":"a"},{"n":"b"}]}"#).unwrap();
    let d = first_diff(Some(&want), Some(&got), "$").unwrap();
    assert!(d.starts_with("$.p[1].t:"), "{d}");
    let got0: Value = serde_json::from_str(r#"{"x":0}"#).unwrap();
    assert!(first_diff(Some(&serde_json::json!({})), Some(&got0), "$").is_some());
}

// ---------------------------------------------------------------------------------------------
// Snapshot fixtures.

#[test]
fn small_snapshot_round_trips() {
    let (snap, written) = round_trip_snapshot("small.json.gz");
    assert_eq!(snap.cluster_id, "demo-small");
    assert_eq!(written["fetched_at"], "2026-02-04T04:31:23Z");
    assert_eq!(snap.pods.len(), 50);
    assert_eq!(snap.summary.total_pods, 50);
    assert_eq!(snap.node_metrics.len(), 1);
}

#[test]
fn medium_go_snapshot_round_trips() {
    let (snap, written) = round_trip_snapshot("medium-go.json.gz");
    assert_eq!(snap.cluster_id, "demo-medium");
    assert_eq!(snap.pods.len(), 500);
    assert!(snap.jobs.is_empty(), "jobs is absent from the Go fixture");
    assert!(
        written.get("jobs").is_none(),
        "omitempty list stays omitted"
    );

    // Times are written back byte-identically: nanoseconds with +09:00, and the zero time.
    assert_eq!(written["fetched_at"], "2026-02-04T13:31:23.608382836+09:00");
    assert_eq!(snap.fetched_at.offset_minutes(), 9 * 60);
    let original: Value = serde_json::from_slice(&fixture("medium-go.json.gz")).unwrap();
    assert_eq!(
        written["pods"][0]["summary"]["createdAt"],
        original["pods"][0]["summary"]["createdAt"]
    );
    let zero_idx = snap
        .events
        .iter()
        .position(|e| e.first_timestamp.is_zero())
        .expect("a zero-time event");
    assert_eq!(
        written["events"][zero_idx]["first_timestamp"],
        "0001-01-01T00:00:00Z"
    );
    assert_eq!(
        original["events"][zero_idx]["first_timestamp"],
        "0001-01-01T00:00:00Z"
    );
    let (name, metrics) = snap.node_metrics.iter().next().unwrap();
    assert_eq!(&metrics.node_name, name);
    assert_eq!(
        written["node_metrics"][name.as_str()]["timestamp"],
        original["node_metrics"][name.as_str()]["timestamp"],
        "collector time with fraction"
    );
    // `"sensors": null` decoded as empty.
    assert!(snap
        .node_metrics
        .values()
        .any(|m| m.temperature.sensors.is_empty()));
}

#[test]
fn edge_go_snapshot_with_null_lists_and_negative_offsets_round_trips() {
    // gen_snapshot.py snapshot --cluster-id edge --pods 5 --seed 7 --go-quirks --tz=-05:30 --collector-tz=+05:45
    //   --empty statefulsets,daemonsets,replicasets,jobs,cronjobs,ingresses,secrets,resourceQuotas,limitRanges,
    //           networkPolicies,serviceAccounts,pvs,pvcs,events,node_metrics
    let raw = fixture("edge-empty-go.json.gz");
    let original: Value = serde_json::from_slice(&raw).unwrap();
    assert!(original["events"].is_null() && original["statefulsets"].is_null());
    let (snap, written) = round_trip_snapshot("edge-empty-go.json.gz");
    assert!(snap.events.is_empty() && snap.statefulsets.is_empty() && snap.node_metrics.is_empty());
    assert_eq!(written["fetched_at"], original["fetched_at"]);
    assert!(written["fetched_at"].as_str().unwrap().ends_with("-05:30"));
    assert_eq!(snap.fetched_at.offset_minutes(), -330);
}

#[test]
fn snapshot_summary_matches_the_reference_rules() {
    for name in ["small.json.gz", "medium-go.json.gz"] {
        let snap = parse_snapshot(&fixture(name)).unwrap();
        let s = &snap.summary;
        let count = |n: usize| i64::try_from(n).unwrap();
        assert_eq!(s.total_nodes, count(snap.nodes.len()), "{name}");
        assert_eq!(
            s.ready_nodes,
            count(snap.nodes.iter().filter(|n| n.is_ready()).count()),
            "{name}"
        );
        assert_eq!(s.total_pods, count(snap.pods.len()), "{name}");
        for (phase, want) in [
            ("Running", s.running_pods),
            ("Pending", s.pending_pods),
            ("Failed", s.failed_pods),
        ] {
            assert_eq!(
                want,
                count(snap.pods.iter().filter(|p| p.phase() == phase).count()),
                "{name} {phase}"
            );
        }
        assert_eq!(
            s.healthy_deployments,
            count(snap.deployments.iter().filter(|d| d.is_healthy()).count())
        );
        assert_eq!(
            s.warning_events,
            count(snap.events.iter().filter(|e| e.is_warning()).count())
        );
        assert_eq!(s.total_events, count(snap.events.len()));
    }
}

/// Checks kind, identity and labels of one list through the generic trait: every object
/// has a name, and a namespace exactly when [`Kind::is_namespaced`] says so.
struct CheckMeta(Kind);

impl VisitItems<'_> for CheckMeta {
    type Output = ();
    fn visit<T: ResourceMeta + serde::Serialize + 'static>(self, items: &[T]) {
        let kind = self.0;
        assert_eq!(T::kind(), kind);
        assert!(!items.is_empty(), "fixture without {kind}");
        for it in items {
            assert!(!it.name().is_empty(), "{kind} without name");
            assert_eq!(
                !it.namespace().is_empty(),
                kind.is_namespaced(),
                "{kind} {}: namespace {:?}",
                it.name(),
                it.namespace()
            );
            let _ = (it.labels().len(), it.uid());
        }
    }
}

#[test]
fn resource_meta_on_every_snapshot_list() {
    let s = parse_snapshot(&fixture("small.json.gz")).unwrap();
    for kind in Kind::ALL {
        kind.visit(&s, CheckMeta(kind));
    }
    assert!(s
        .pods
        .iter()
        .all(|p| !p.node_name().is_empty() || p.phase() == "Pending"));
    assert!(s.configmaps.iter().all(|c| !c.uid().is_empty()));
    assert!(s.pods.iter().any(|p| !p.labels().is_empty()));
}

// ---------------------------------------------------------------------------------------------
// SLO pushes, commands and results.

#[test]
fn slo_fixtures_round_trip_byte_identically() {
    for name in ["slo-1.json", "slo-2.json"] {
        let raw = fixture(name);
        let push: SloPushRequest = serde_json::from_slice(&raw).unwrap();
        assert_eq!(push.cluster_id, "demo-small");
        assert!(!push.metrics.counters.is_empty() && !push.metrics.histograms.is_empty());
        assert_eq!(push.ingress_routes.len(), 4);
        let written = serde_json::to_vec(&push).unwrap();
        assert_same_json(&raw, &written);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(raw).unwrap().trim_end(),
            "{name}"
        );
    }
    let one: SloPushRequest = serde_json::from_slice(&fixture("slo-1.json")).unwrap();
    let two: SloPushRequest = serde_json::from_slice(&fixture("slo-2.json")).unwrap();
    assert_eq!(two.metrics.timestamp - one.metrics.timestamp, 10);
    let h = &one.metrics.histograms[0];
    assert_eq!(
        h.buckets.get("10").copied(),
        Some(h.count),
        "le=10 holds every observation here"
    );
}

#[test]
fn command_response_round_trips_byte_identically() {
    // gen_snapshot.py command --cluster-id c1 --action scale --kind Deployment --namespace ns --name web
    //   --params '{"replicas":3}' --go-quirks
    let go = r#"{"has_command":true,"command":{"id":"797b6a91-887a-422a-b7cc-2e12a79c9b47","cluster_id":"c1","action":"scale","kind":"Deployment","namespace":"ns","name":"web","params":{"replicas":3},"source":"web","created_at":"2026-02-04T13:31:22.112374326+09:00"}}"#;
    let resp: CommandResponse = serde_json::from_str(go).unwrap();
    let cmd = resp.command.as_ref().unwrap();
    assert_eq!(
        (cmd.action.as_str(), cmd.kind.as_str(), cmd.name.as_str()),
        ("scale", "Deployment", "web")
    );
    assert_eq!(cmd.params.get("replicas").and_then(Value::as_i64), Some(3));
    assert!(cmd.created_by.is_empty());
    assert_eq!(serde_json::to_string(&resp).unwrap(), go);

    let none: CommandResponse = serde_json::from_str(r#"{"has_command":false}"#).unwrap();
    assert_eq!(none, CommandResponse::none());
    assert_eq!(
        serde_json::to_string(&none).unwrap(),
        r#"{"has_command":false}"#
    );
    let null_cmd: CommandResponse =
        serde_json::from_str(r#"{"has_command":false,"command":null}"#).unwrap();
    assert_eq!(null_cmd.command, None);

    // A bare command with only the mandatory keys; params null is accepted and omitted.
    let bare: Command =
        serde_json::from_str(r#"{"id":"x","cluster_id":"c","action":"cordon","params":null,"created_at":"2026-02-04T04:31:22Z"}"#)
            .unwrap();
    assert!(bare.params.is_empty());
    assert_eq!(
        serde_json::to_string(&bare).unwrap(),
        r#"{"id":"x","cluster_id":"c","action":"cordon","created_at":"2026-02-04T04:31:22Z"}"#
    );
}

#[test]
fn result_body_round_trips_and_ignores_extra_keys() {
    // gen_snapshot.py result --command-id abc --go-quirks
    let go = r#"{"command_id":"abc","success":true,"executed_at":"2026-02-04T13:31:28.602461648+09:00"}"#;
    let body: CommandResultBody = serde_json::from_str(go).unwrap();
    assert!(body.success && body.output.is_empty() && body.error.is_empty());
    assert_eq!(serde_json::to_string(&body).unwrap(), go);

    let failure = r#"{"command_id":"abc","success":false,"error":"deployments.apps \"web\" not found","exec_time":862246532,"executed_at":"2026-02-04T13:31:28.602461648+09:00","cluster_id":"c1","exec_time_ms":862}"#;
    let body: CommandResultBody = serde_json::from_str(failure).unwrap();
    assert_eq!(body.error, "deployments.apps \"web\" not found");
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        r#"{"command_id":"abc","success":false,"error":"deployments.apps \"web\" not found","executed_at":"2026-02-04T13:31:28.602461648+09:00"}"#
    );

    let no_time: CommandResultBody =
        serde_json::from_str(r#"{"command_id":"a","success":true,"output":"ok"}"#).unwrap();
    assert!(no_time.executed_at.is_zero());
    assert_eq!(
        serde_json::to_string(&no_time).unwrap(),
        r#"{"command_id":"a","success":true,"output":"ok","executed_at":"0001-01-01T00:00:00Z"}"#
    );
}

// ---------------------------------------------------------------------------------------------
// Go decoding quirks, one by one.

#[test]
fn quirk_null_lists_maps_and_metrics() {
    let snap = parse_snapshot(
        br#"{"cluster_id":"c","fetched_at":"2026-02-04T04:31:23Z","pods":null,"deployments":null,"statefulsets":null,
            "daemonsets":null,"services":null,"ingresses":null,"namespaces":null,"configmaps":null,"nodes":null,
            "events":null,"node_metrics":null,"secrets":null,"summary":null}"#,
    )
    .unwrap();
    assert!(snap.pods.is_empty() && snap.nodes.is_empty() && snap.node_metrics.is_empty());
    assert_eq!(snap.summary, Default::default());
    // Non-omitempty lists are written as [] (equivalent to Go's null), omitempty ones are left out.
    let v = serde_json::to_value(&snap).unwrap();
    assert_eq!(v["pods"], serde_json::json!([]));
    assert!(v.get("secrets").is_none() && v.get("node_metrics").is_none());
}

#[test]
fn quirk_missing_keys_give_zero_values() {
    let snap = parse_snapshot(b"{}").unwrap();
    assert_eq!(snap, ClusterSnapshot::default());
    assert!(snap.fetched_at.is_zero());
    let pod: Pod = serde_json::from_str(r#"{"summary":{"name":"p"}}"#).unwrap();
    assert_eq!(
        (pod.name(), pod.namespace(), pod.status.restarts),
        ("p", "", 0)
    );
    assert!(pod.summary.created_at.is_zero());
    // Every non-omitempty key is written back, with its zero value.
    let v = serde_json::to_value(&pod).unwrap();
    assert_eq!(v["summary"]["createdAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        v["status"],
        serde_json::json!({"phase":"","ready":"","restarts":0})
    );
}

#[test]
fn quirk_unknown_keys_are_ignored_at_every_level() {
    let snap = parse_snapshot(
        br#"{"cluster_id":"c","brandNew":{"x":[1,2]},"version":3,
            "pods":[{"summary":{"name":"p","namespace":"n","futureField":true},"mystery":null,
                     "status":{"phase":"Running","extra":{"deep":[{}]}}}],
            "summary":{"total_pods":1,"total_gpus":4}}"#,
    )
    .unwrap();
    assert_eq!(
        (snap.pods[0].name(), snap.pods[0].phase()),
        ("p", "Running")
    );
    assert_eq!(snap.summary.total_pods, 1);
    let out = serde_json::to_string(&snap).unwrap();
    assert!(
        !out.contains("brandNew") && !out.contains("futureField") && !out.contains("total_gpus")
    );
}

#[test]
fn quirk_nanosecond_offset_times_round_trip() {
    for t in [
        "2026-02-04T13:31:23.000000001+09:00",
        "2026-02-04T13:31:23.608382836+09:00",
        "2026-02-03T23:01:23.5-05:30",
        "2026-02-04T04:31:23.12Z",
    ] {
        let json =
            format!(r#"{{"summary":{{"name":"p","namespace":"n","createdAt":"{t}","age":"1s"}}}}"#);
        let pod: Pod = serde_json::from_str(&json).unwrap();
        assert_eq!(
            serde_json::to_value(&pod).unwrap()["summary"]["createdAt"],
            t
        );
    }
    let a: GoTime = "2026-02-04T13:31:23+09:00".parse().unwrap();
    let b: GoTime = "2026-02-04T04:31:23Z".parse().unwrap();
    assert!(a.same_instant(&b));
    assert_eq!(a.unix_millis(), b.unix_millis());
}

#[test]
fn quirk_zero_time_and_empty_string_time() {
    let e: Event = serde_json::from_str(
        r#"{"name":"e","namespace":"n","type":"Normal","count":0,
            "first_timestamp":"0001-01-01T00:00:00Z","last_timestamp":"","created_at":null}"#,
    )
    .unwrap();
    assert!(e.first_timestamp.is_zero() && e.last_timestamp.is_zero() && e.created_at.is_zero());
    let v = serde_json::to_value(&e).unwrap();
    for k in ["first_timestamp", "last_timestamp", "created_at"] {
        assert_eq!(v[k], "0001-01-01T00:00:00Z", "{k}");
    }
    let err =
        serde_json::from_str::<Event>(r#"{"first_timestamp":"2026-02-30T00:00:00Z"}"#).unwrap_err();
    assert!(err.to_string().contains("2026-02-30T00:00:00Z"), "{err}");
}

#[test]
fn quirk_null_nested_struct_pointers_and_structs() {
    let node: Node = serde_json::from_str(
        r#"{"summary":{"name":"n1"},"metrics":null,"spec":null,"capacity":null,"info":null,
            "taints":[{"key":"k","effect":"NoSchedule","timeAdded":null}],"labels":null}"#,
    )
    .unwrap();
    assert_eq!(node.metrics, None);
    assert_eq!(node.spec, Default::default());
    assert_eq!(node.taints[0].time_added, None);
    let v = serde_json::to_value(&node).unwrap();
    assert!(v.get("metrics").is_none(), "nil pointer omitted");
    assert_eq!(
        v["capacity"],
        serde_json::json!({}),
        "struct always written"
    );
    assert!(v["taints"][0].get("timeAdded").is_none());

    let d: Deployment = serde_json::from_str(
        r#"{"summary":{"name":"web","namespace":"shop"},"rollout":null,
            "spec":{"replicas":null,"selector":null,"strategy":{"type":"Recreate","rollingUpdate":null}},
            "template":{"containers":[{"name":"c","image":"i","livenessProbe":null}],"affinity":null}}"#,
    )
    .unwrap();
    assert_eq!(d.rollout, None);
    assert_eq!((d.spec.replicas, d.spec.selector.as_ref()), (None, None));
    assert_eq!(d.template.containers[0].liveness_probe, None);

    let job: Job = serde_json::from_str(
        r#"{"name":"j","start_time":"2026-02-04T13:31:23+09:00","finish_time":null}"#,
    )
    .unwrap();
    assert_eq!(
        job.start_time.map(|t| t.to_string()).as_deref(),
        Some("2026-02-04T13:31:23+09:00")
    );
    assert_eq!(job.finish_time, None);
    let v = serde_json::to_value(&job).unwrap();
    assert_eq!(v["start_time"], "2026-02-04T13:31:23+09:00");
    assert!(v.get("finish_time").is_none());
}
