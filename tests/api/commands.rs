//! Commands end to end: the dashboard creates, the agent long-polls and reports, the
//! dashboard reads, waits, cancels and lists. Timers come from settings, never sleeps.

use std::time::{Duration, Instant};

use atlhyper_actors::messages::GetStatus;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::helpers::{eventually, spawn_app, spawn_with, TestApp, AGENT_TOKEN};

/// Makes `cluster` known to the master (an agent heartbeat).
async fn make_cluster(app: &TestApp, cluster: &str) {
    let r = app.heartbeat(cluster).await;
    assert_eq!(r.status().as_u16(), 200, "heartbeat for {cluster}");
}

/// A valid `scale` command body.
fn scale(cluster: &str, name: &str, replicas: i64) -> Value {
    json!({
        "cluster_id": cluster,
        "action": "scale",
        "namespace": "shop",
        "name": name,
        "params": {"replicas": replicas},
    })
}

/// `GET /api/v2/commands/{id}`, which must exist.
async fn command(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v2/commands/{id}")).await;
    assert_eq!(status, 200, "get command {id}: {body}");
    body
}

/// One long poll; the raw body text and its JSON.
async fn poll_raw(app: &TestApp, cluster: &str, topic: &str) -> (String, Value) {
    let r = app.poll(cluster, topic).await;
    assert_eq!(r.status().as_u16(), 200, "poll {cluster}/{topic}");
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        ctype.as_deref(),
        Some("application/json"),
        "poll content type"
    );
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap();
    (text, v)
}

/// One long poll that must carry a command; returns the command JSON.
async fn deliver(app: &TestApp, cluster: &str, topic: &str) -> Value {
    let (_, v) = poll_raw(app, cluster, topic).await;
    assert_eq!(v["has_command"], json!(true), "expected a command: {v}");
    v["command"].clone()
}

/// Parked long polls the cluster actor holds for a live client.
async fn parked_polls(app: &TestApp, cluster: &str) -> usize {
    let addr = app.state.cluster(cluster, false).await.unwrap();
    addr.send(GetStatus).await.unwrap().parked_polls
}

/// Waits until `cluster` holds exactly `n` live parked polls.
async fn parked_becomes(app: &TestApp, cluster: &str, n: usize) {
    eventually(Duration::from_secs(5), || async {
        (parked_polls(app, cluster).await == n).then_some(())
    })
    .await;
}

/// POST a raw body on the dashboard API.
async fn post_raw(app: &TestApp, path: &str, body: &'static str) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}{}", app.http, path))
        .bearer_auth(&app.admin_token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An error reply: `{"error": <non-empty>, "code": code}` with `status`.
fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "status of {body}");
    assert_eq!(body["code"], json!(code), "code of {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error message in {body}"
    );
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}")))
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// A result body as the v2.1 agent posts it.
fn result_body(id: &str, success: bool, output: &str, error: &str) -> Value {
    json!({
        "command_id": id,
        "success": success,
        "output": output,
        "error": error,
        "executed_at": "2026-02-04T13:31:25.5+09:00",
    })
}

/// Posts a result that must be answered exactly `{"status":"ok"}`.
async fn post_result_ok(app: &TestApp, cluster: &str, body: &Value) {
    let r = app.result(cluster, body).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
}

async fn list(app: &TestApp, cluster: &str, query: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v2/clusters/{cluster}/commands?{query}"))
        .await;
    assert_eq!(status, 200, "list {query}: {body}");
    body
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command_id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn create_command_validates_and_returns_202() {
    let app = spawn_app().await;
    make_cluster(&app, "c1").await;

    let (status, reply) = app.post("/api/v2/command", &scale("c1", "web", 3)).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(keys(&reply), ["command_id", "status"]);
    assert_eq!(reply["status"], json!("pending"));
    let id = reply["command_id"].as_str().unwrap();
    uuid::Uuid::parse_str(id).expect("command_id is a UUID");
    let stored = command(&app, id).await;
    assert_eq!(stored["status"], json!("pending"));
    assert_eq!(stored["cluster_id"], json!("c1"));
    assert_eq!(stored["action"], json!("scale"));
    assert_eq!(
        stored["kind"],
        json!("Deployment"),
        "scale implies a Deployment"
    );
    assert_eq!(stored["namespace"], json!("shop"));
    assert_eq!(stored["name"], json!("web"));
    assert_eq!(stored["params"], json!({"replicas": 3}));
    assert_eq!(stored["source"], json!("web"));
    assert_eq!(stored["result"], Value::Null);
    assert_eq!(stored["started_at"], Value::Null);
    assert_eq!(stored["finished_at"], Value::Null);

    let invalid = [
        (
            json!({"cluster_id": "c1", "action": "reboot", "name": "x"}),
            "action",
        ),
        (
            json!({"cluster_id": "c1", "action": "delete_pod", "kind": "Pod", "namespace": "a", "name": "p"}),
            "action",
        ),
        (
            json!({"cluster_id": "c1", "action": "exec", "kind": "Pod", "namespace": "a", "name": "p", "params": {"command": "ls"}}),
            "action",
        ),
        (
            json!({"cluster_id": "c1", "action": "drain", "kind": "Node", "name": "n1"}),
            "action",
        ),
        (
            json!({"cluster_id": "c1", "action": "scale", "namespace": "shop", "name": "web"}),
            "params.replicas",
        ),
        (scale("c1", "web", -1), "params.replicas"),
    ];
    for (body, field) in invalid {
        let got = app.post("/api/v2/command", &body).await;
        assert_error(&got, 400, "invalid_command");
        assert_eq!(got.1["field"], json!(field), "field for {body}: {}", got.1);
    }

    let got = app
        .post("/api/v2/command", &scale("nowhere", "web", 1))
        .await;
    assert_error(&got, 404, "cluster_not_found");

    let got = post_raw(
        &app,
        "/api/v2/command",
        r#"{"cluster_id": "c1", "action": "#,
    )
    .await;
    assert_error(&got, 400, "invalid_json");
    let got = post_raw(&app, "/api/v2/command", r#"{"action": "restart"}"#).await;
    assert_eq!(got.0, 400, "cluster_id is required: {}", got.1);

    for topic in ["a b", "ops/x", &"t".repeat(65)] {
        let mut body = scale("c1", "web", 1);
        body["topic"] = json!(topic);
        let got = app.post("/api/v2/command", &body).await;
        assert_error(&got, 400, "invalid_parameter");
        assert!(
            got.1["error"].as_str().unwrap().contains("topic"),
            "{}",
            got.1
        );
    }

    // Only the accepted command was stored.
    let all = list(&app, "c1", "").await;
    assert_eq!(all["total"], json!(1), "{all}");
    assert_eq!(ids(&all), [id]);
}

#[actix_web::test]
async fn long_poll_wakes_on_enqueue_without_a_timer() {
    let app = spawn_with(|s| s.command_poll_timeout = Duration::from_secs(3)).await;
    make_cluster(&app, "c1").await;
    // A first command through the same (cluster, topic): the queue exists but is empty
    // when the next poll parks.
    let first = app.create_command(&scale("c1", "first", 1)).await;
    assert_eq!(deliver(&app, "c1", "ops").await["id"], json!(first));

    let agent = app.agent.clone();
    let client = app.client.clone();
    let poll = actix_web::rt::spawn(async move {
        let r = client
            .get(format!("{agent}/agent/commands?cluster_id=c1&topic=ops"))
            .bearer_auth(AGENT_TOKEN)
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap(),
            Instant::now(),
        )
    });
    parked_becomes(&app, "c1", 1).await;
    assert!(!poll.is_finished(), "the poll must wait for a command");

    let enqueued = Instant::now();
    let id = app
        .create_command(&json!({
            "cluster_id": "c1",
            "action": "get_logs",
            "namespace": "shop",
            "name": "web-0",
            "params": {"container": "app", "tailLines": 50},
        }))
        .await;
    let (status, reply, returned) = poll.await.unwrap();
    let waited = returned.duration_since(enqueued);
    assert!(
        waited < Duration::from_secs(1),
        "poll answered {waited:?} after the enqueue"
    );
    assert_eq!(status, 200);
    assert_eq!(keys(&reply), ["command", "has_command"]);
    assert_eq!(reply["has_command"], json!(true));
    let cmd = &reply["command"];
    assert_eq!(
        keys(cmd),
        [
            "action",
            "cluster_id",
            "created_at",
            "created_by",
            "id",
            "kind",
            "name",
            "namespace",
            "params",
            "source"
        ],
        "v2.1 Command keys (created_by is filled, unlike v2.1): {cmd}"
    );
    assert_eq!(cmd["created_by"], json!("admin"));
    assert_eq!(cmd["id"], json!(id));
    assert_eq!(cmd["cluster_id"], json!("c1"));
    assert_eq!(cmd["action"], json!("get_logs"));
    assert_eq!(cmd["kind"], json!("Pod"));
    assert_eq!(cmd["namespace"], json!("shop"));
    assert_eq!(cmd["name"], json!("web-0"));
    assert_eq!(cmd["params"], json!({"container": "app", "tailLines": 50}));
    assert_eq!(cmd["source"], json!("web"));

    let stored = command(&app, &id).await;
    assert_eq!(time(&cmd["created_at"]), time(&stored["created_at"]));
    assert_eq!(
        stored["status"],
        json!("running"),
        "a delivered command is running"
    );
    assert!(time(&stored["started_at"]) >= time(&stored["created_at"]));
}

#[actix_web::test]
async fn long_poll_times_out_with_has_command_false() {
    let timeout = Duration::from_millis(500);
    let app = spawn_with(move |s| s.command_poll_timeout = timeout).await;
    make_cluster(&app, "c1").await;

    let check = |(text, v): (String, Value), waited: Duration| {
        assert_eq!(text, r#"{"has_command":false}"#);
        assert_eq!(v, json!({"has_command": false}));
        assert!(
            waited >= timeout,
            "answered after {waited:?}, before the poll timeout"
        );
        assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    };
    let t = Instant::now();
    let got = poll_raw(&app, "c1", "ops").await;
    check(got, t.elapsed());

    // Still a long poll once the topic has carried a command.
    let id = app.create_command(&scale("c1", "web", 2)).await;
    assert_eq!(deliver(&app, "c1", "ops").await["id"], json!(id));
    let t = Instant::now();
    let got = poll_raw(&app, "c1", "ops").await;
    check(got, t.elapsed());
}

#[actix_web::test]
async fn agent_disconnect_before_delivery_leaves_command_pending() {
    let app = spawn_with(|s| s.command_poll_timeout = Duration::from_secs(10)).await;
    make_cluster(&app, "c1").await;

    let addr = app.agent.strip_prefix("http://").unwrap();
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /agent/commands?cluster_id=c1&topic=ops HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {AGENT_TOKEN}\r\nAccept: */*\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).await.unwrap();
    sock.flush().await.unwrap();
    parked_becomes(&app, "c1", 1).await;
    sock.shutdown().await.unwrap();
    drop(sock);
    // The server notices the FIN and drops the parked handler.
    parked_becomes(&app, "c1", 0).await;

    let id = app.create_command(&scale("c1", "web", 4)).await;
    let stored = command(&app, &id).await;
    assert_eq!(stored["status"], json!("pending"), "{stored}");
    assert_eq!(stored["started_at"], Value::Null);
    let status = app
        .state
        .cluster("c1", false)
        .await
        .unwrap()
        .send(GetStatus)
        .await
        .unwrap();
    assert_eq!((status.queued_commands, status.running_commands), (1, 0));

    let cmd = deliver(&app, "c1", "ops").await;
    assert_eq!(cmd["id"], json!(id));
    assert_eq!(command(&app, &id).await["status"], json!("running"));
}

#[actix_web::test]
async fn results_first_wins_duplicate_is_noop_unknown_is_404() {
    let app = spawn_app().await;
    make_cluster(&app, "c1").await;
    make_cluster(&app, "c2").await;
    let id = app.create_command(&scale("c1", "web", 3)).await;
    assert_eq!(deliver(&app, "c1", "ops").await["id"], json!(id));

    post_result_ok(&app, "c1", &result_body(&id, true, "scaled to 3", "")).await;
    let done = command(&app, &id).await;
    assert_eq!(done["status"], json!("success"), "{done}");
    let result = &done["result"];
    assert_eq!(result["success"], json!(true));
    assert_eq!(result["output"], json!("scaled to 3"));
    assert_eq!(result["error"], json!(""));
    assert_eq!(
        time(&result["executed_at"]),
        time(&json!("2026-02-04T04:31:25.5Z"))
    );
    assert_eq!(result["output_truncated"], json!(false));
    let (started, finished) = (time(&done["started_at"]), time(&done["finished_at"]));
    assert!(finished >= started);
    assert_eq!(
        done["duration_ms"],
        json!((finished - started).num_milliseconds())
    );

    // A repeat, even a contradicting one, changes nothing.
    post_result_ok(&app, "c1", &result_body(&id, false, "", "boom")).await;
    assert_eq!(command(&app, &id).await, done);

    let r = app
        .result("c1", &result_body("no-such-command", true, "", ""))
        .await;
    let got = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    assert_error(&got, 404, "command_not_found");

    let r = app
        .result(
            "c1",
            &json!({"success": true, "executed_at": "2026-02-04T13:31:25+09:00"}),
        )
        .await;
    let got = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    assert_eq!(got.0, 400, "{}", got.1);
    assert!(
        got.1["error"].as_str().unwrap().contains("command_id"),
        "{}",
        got.1
    );

    // Another cluster's agent cannot settle c1's running command.
    let other = app.create_command(&scale("c1", "api", 1)).await;
    assert_eq!(deliver(&app, "c1", "ops").await["id"], json!(other));
    let before = command(&app, &other).await;
    let r = app
        .result("c2", &result_body(&other, false, "", "not mine"))
        .await;
    let got = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    assert_error(&got, 403, "command_cluster_mismatch");
    let after = command(&app, &other).await;
    assert_eq!(after, before);
    assert_eq!(after["status"], json!("running"));
    assert_eq!(after["result"], Value::Null);
    // Its own agent still can.
    post_result_ok(
        &app,
        "c1",
        &result_body(&other, false, "", "quota exceeded"),
    )
    .await;
    let failed = command(&app, &other).await;
    assert_eq!(failed["status"], json!("failed"));
    assert_eq!(failed["result"]["success"], json!(false));
    assert_eq!(failed["result"]["error"], json!("quota exceeded"));
}

#[actix_web::test]
async fn pending_command_survives_restart() {
    let app = spawn_app().await;
    make_cluster(&app, "c1").await;
    let id = app.create_command(&scale("c1", "web", 5)).await;
    let before = command(&app, &id).await;

    let app = app.restart().await;
    assert_eq!(
        command(&app, &id).await,
        before,
        "stored unchanged across the restart"
    );
    let cmd = deliver(&app, "c1", "ops").await;
    assert_eq!(cmd["id"], json!(id));
    assert_eq!(cmd["params"], json!({"replicas": 5}));
    assert_eq!(command(&app, &id).await["status"], json!("running"));
}

#[actix_web::test]
async fn overdue_running_command_becomes_timeout_at_startup() {
    let app = spawn_app().await;
    make_cluster(&app, "c1").await;
    let id = app.create_command(&scale("c1", "web", 2)).await;
    deliver(&app, "c1", "ops").await;
    let running = command(&app, &id).await;
    assert_eq!(running["status"], json!("running"));

    let app = app
        .restart_with(|s| s.command_result_timeout = Duration::from_millis(1))
        .await;
    let after = command(&app, &id).await;
    assert_eq!(after["status"], json!("timeout"), "{after}");
    assert_eq!(after["started_at"], running["started_at"]);
    assert!(time(&after["finished_at"]) > time(&after["started_at"]));
    assert!(after["duration_ms"].as_i64().is_some(), "{after}");
    assert_eq!(after["result"], Value::Null);
    // It is not handed out again.
    let status = app
        .state
        .cluster("c1", false)
        .await
        .unwrap()
        .send(GetStatus)
        .await
        .unwrap();
    assert_eq!((status.queued_commands, status.running_commands), (0, 0));
}

#[actix_web::test]
async fn running_command_times_out() {
    let app = spawn_with(|s| {
        s.command_result_timeout = Duration::from_millis(800);
        s.command_poll_timeout = Duration::from_millis(300);
    })
    .await;
    make_cluster(&app, "c1").await;
    let id = app.create_command(&scale("c1", "web", 2)).await;
    deliver(&app, "c1", "ops").await;
    assert_eq!(command(&app, &id).await["status"], json!("running"));

    // A `?wait=` waiter is woken by the timeout too.
    let t = Instant::now();
    let (status, timed_out) = app.get(&format!("/api/v2/commands/{id}?wait=30s")).await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "woken after {:?}",
        t.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(timed_out["status"], json!("timeout"), "{timed_out}");
    assert_eq!(command(&app, &id).await, timed_out);
    let (started, finished) = (
        time(&timed_out["started_at"]),
        time(&timed_out["finished_at"]),
    );
    assert!(
        finished - started >= chrono::Duration::milliseconds(800),
        "{timed_out}"
    );
    assert_eq!(
        timed_out["duration_ms"],
        json!((finished - started).num_milliseconds())
    );
    assert_eq!(timed_out["result"], Value::Null);
    // Not sent again.
    assert_eq!(
        poll_raw(&app, "c1", "ops").await.1,
        json!({"has_command": false})
    );

    // The agent did run it after all: the late result is the truth (actors/src/command.rs).
    post_result_ok(&app, "c1", &result_body(&id, true, "late", "")).await;
    let late = command(&app, &id).await;
    assert_eq!(late["status"], json!("success"), "{late}");
    assert_eq!(late["result"]["output"], json!("late"));
    assert_eq!(late["started_at"], timed_out["started_at"]);
}

#[actix_web::test]
async fn pending_command_expires() {
    let app = spawn_with(|s| {
        s.command_pending_ttl = Duration::from_millis(500);
        s.command_poll_timeout = Duration::from_millis(300);
    })
    .await;
    make_cluster(&app, "c1").await;
    let id = app.create_command(&scale("c1", "web", 2)).await;

    let expired = eventually(Duration::from_secs(5), || async {
        let c = command(&app, &id).await;
        (c["status"] == json!("expired")).then_some(c)
    })
    .await;
    assert!(
        time(&expired["finished_at"]) - time(&expired["created_at"])
            >= chrono::Duration::milliseconds(500),
        "{expired}"
    );
    assert_eq!(expired["started_at"], Value::Null);
    assert_eq!(expired["result"], Value::Null);
    assert_eq!(
        poll_raw(&app, "c1", "ops").await.1,
        json!({"has_command": false})
    );

    // Nobody ran it, so a stray result is ignored (accepted with 200).
    post_result_ok(&app, "c1", &result_body(&id, true, "?", "")).await;
    assert_eq!(command(&app, &id).await, expired);
}

#[actix_web::test]
async fn wait_returns_as_soon_as_the_result_arrives() {
    let app = spawn_app().await;
    make_cluster(&app, "c1").await;
    // Several waiters, answered one after another: the later ones are surely parked on
    // the actor (not just re-reading the row) when their result arrives.
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = app
            .create_command(&scale("c1", &format!("web-{i}"), 3))
            .await;
        assert_eq!(deliver(&app, "c1", "ops").await["id"], json!(id));
        ids.push(id);
    }

    let started = Instant::now();
    let waits: Vec<_> = ids
        .iter()
        .map(|id| {
            let url = format!("{}/api/v2/commands/{id}?wait=30s", app.http);
            let client = app.client.clone();
            let token = app.admin_token.clone();
            actix_web::rt::spawn(async move {
                let r = client.get(url).bearer_auth(token).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let id = &ids[0];
    assert_eq!(command(&app, id).await["status"], json!("running"));
    for (id, wait) in ids.iter().zip(&waits) {
        assert!(!wait.is_finished(), "the wait returned before the result");
        post_result_ok(
            &app,
            "c1",
            &result_body(id, true, &format!("done {id}"), ""),
        )
        .await;
    }
    for (id, wait) in ids.iter().zip(waits) {
        let (status, body) = tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("the wait ends with the result")
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(body["command_id"], json!(id));
        assert_eq!(body["status"], json!("success"), "{body}");
        assert_eq!(body["result"]["output"], json!(format!("done {id}")));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waits took {:?}",
        started.elapsed()
    );

    // A final command answers at once; a wait that runs out gives the current state.
    let t = Instant::now();
    assert_eq!(
        app.get(&format!("/api/v2/commands/{id}?wait=30s")).await.1["status"],
        json!("success")
    );
    assert!(t.elapsed() < Duration::from_secs(1));
    let other = app.create_command(&scale("c1", "api", 1)).await;
    let t = Instant::now();
    let (status, body) = app
        .get(&format!("/api/v2/commands/{other}?wait=300ms"))
        .await;
    assert_eq!((status, &body["status"]), (200, &json!("pending")));
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "wait ended after {:?}",
        t.elapsed()
    );

    for bad in ["90s", "61s", "abc", "-1s"] {
        let got = app.get(&format!("/api/v2/commands/{id}?wait={bad}")).await;
        assert_error(&got, 400, "invalid_parameter");
        assert!(
            got.1["error"].as_str().unwrap().contains("wait"),
            "{}",
            got.1
        );
    }
    assert_error(
        &app.get("/api/v2/commands/nope?wait=1s").await,
        404,
        "command_not_found",
    );
}

#[actix_web::test]
async fn cancel_pending_command() {
    let app = spawn_with(|s| s.command_poll_timeout = Duration::from_millis(300)).await;
    make_cluster(&app, "c1").await;
    let id = app.create_command(&scale("c1", "web", 3)).await;

    let (status, body) = app
        .post(&format!("/api/v2/commands/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["command_id"], json!(id));
    assert_eq!(body["status"], json!("cancelled"));
    assert!(time(&body["finished_at"]) >= time(&body["created_at"]));
    assert_eq!(command(&app, &id).await, body);
    assert_eq!(
        poll_raw(&app, "c1", "ops").await.1,
        json!({"has_command": false})
    );

    let again = app
        .post(&format!("/api/v2/commands/{id}/cancel"), &json!({}))
        .await;
    assert_error(&again, 409, "not_pending");
    assert_eq!(command(&app, &id).await["status"], json!("cancelled"));

    // A running command cannot be cancelled either.
    let running = app.create_command(&scale("c1", "api", 1)).await;
    deliver(&app, "c1", "ops").await;
    let got = app
        .post(&format!("/api/v2/commands/{running}/cancel"), &json!({}))
        .await;
    assert_error(&got, 409, "not_pending");
    assert_eq!(command(&app, &running).await["status"], json!("running"));

    let got = app
        .post("/api/v2/commands/no-such-command/cancel", &json!({}))
        .await;
    assert_error(&got, 404, "command_not_found");
}

#[actix_web::test]
async fn command_history_lists_newest_first_with_filters() {
    let app = spawn_app().await;
    make_cluster(&app, "c1").await;
    make_cluster(&app, "c2").await;
    let a = app.create_command(&scale("c1", "web", 1)).await;
    let b = app
        .create_command(
            &json!({"cluster_id": "c1", "action": "restart", "namespace": "shop", "name": "web"}),
        )
        .await;
    let c = app
        .create_command(&json!({"cluster_id": "c1", "action": "cordon", "name": "node-1"}))
        .await;
    let d = app
        .create_command(&json!({
            "cluster_id": "c1", "action": "get_logs", "namespace": "shop", "name": "web-0", "topic": "ai",
        }))
        .await;
    let e = app.create_command(&scale("c1", "api", 2)).await;
    let f = app.create_command(&scale("c2", "web", 1)).await;
    assert_eq!(
        deliver(&app, "c1", "ops").await["id"],
        json!(a),
        "oldest first"
    );
    let (status, _) = app
        .post(&format!("/api/v2/commands/{c}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200);

    let all = list(&app, "c1", "").await;
    assert_eq!(
        ids(&all),
        [e.as_str(), d.as_str(), c.as_str(), b.as_str(), a.as_str()]
    );
    assert_eq!(
        (&all["total"], &all["limit"], &all["offset"]),
        (&json!(5), &json!(100), &json!(0))
    );
    let statuses: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!("pending"),
            &json!("pending"),
            &json!("cancelled"),
            &json!("pending"),
            &json!("running")
        ]
    );

    let pending = list(&app, "c1", "status=pending").await;
    assert_eq!(
        (ids(&pending), &pending["total"]),
        (vec![e.clone(), d.clone(), b.clone()], &json!(3))
    );
    let two = list(&app, "c1", "status=running,cancelled").await;
    assert_eq!(ids(&two), [c.as_str(), a.as_str()]);
    let scales = list(&app, "c1", "action=scale").await;
    assert_eq!(
        (ids(&scales), &scales["total"]),
        (vec![e.clone(), a.clone()], &json!(2))
    );
    let ai = list(&app, "c1", "source=ai").await;
    assert_eq!(ids(&ai), [d.as_str()]);

    let page = list(&app, "c1", "limit=2&offset=1").await;
    assert_eq!(ids(&page), [d.as_str(), c.as_str()]);
    assert_eq!(
        (&page["total"], &page["limit"], &page["offset"]),
        (&json!(5), &json!(2), &json!(1))
    );
    let page = list(&app, "c1", "action=scale&limit=1").await;
    assert_eq!((ids(&page), &page["total"]), (vec![e.clone()], &json!(2)));
    let past = list(&app, "c1", "offset=10").await;
    assert_eq!((ids(&past).len(), &past["total"]), (0, &json!(5)));

    assert_eq!(ids(&list(&app, "c2", "").await), [f.as_str()]);

    for bad in ["status=bogus", "limit=0", "limit=1001", "offset=-1"] {
        let got = app
            .get(&format!("/api/v2/clusters/c1/commands?{bad}"))
            .await;
        assert_error(&got, 400, "invalid_parameter");
        let param = bad.split('=').next().unwrap();
        assert!(
            got.1["error"].as_str().unwrap().contains(param),
            "{bad}: {}",
            got.1
        );
    }
    assert_error(
        &app.get("/api/v2/clusters/nowhere/commands").await,
        404,
        "cluster_not_found",
    );
}

#[actix_web::test]
async fn large_output_is_truncated_with_a_marker() {
    let app = spawn_with(|s| s.command_max_output = 1024).await;
    make_cluster(&app, "c1").await;
    let logs = |name: &str| json!({"cluster_id": "c1", "action": "get_logs", "namespace": "shop", "name": name});

    let big: String = (0..10 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let id = app.create_command(&logs("web-0")).await;
    deliver(&app, "c1", "ops").await;
    post_result_ok(&app, "c1", &result_body(&id, true, &big, "")).await;
    let stored = command(&app, &id).await;
    let out = stored["result"]["output"].as_str().unwrap();
    assert_eq!(stored["result"]["output_truncated"], json!(true));
    assert!(out.starts_with(&big[..1024]), "keeps the first 1024 bytes");
    let marker = &out[1024..];
    assert!(marker.contains("truncated"), "marker: {marker:?}");
    assert!(
        !marker.is_empty() && marker.len() <= 200,
        "marker: {marker:?}"
    );

    // A cut inside a multi-byte character backs off to a character boundary.
    let wide = format!("x{}", "é".repeat(5000));
    let id = app.create_command(&logs("web-1")).await;
    deliver(&app, "c1", "ops").await;
    post_result_ok(&app, "c1", &result_body(&id, true, &wide, "")).await;
    let stored = command(&app, &id).await;
    let out = stored["result"]["output"].as_str().unwrap();
    assert_eq!(stored["result"]["output_truncated"], json!(true));
    assert!(
        out.starts_with(&wide[..1023]) && !out.starts_with(&wide[..1025]),
        "{out:?}"
    );
    assert!(out.len() <= 1024 + 200);

    // Output at the cap is stored whole.
    let id = app.create_command(&logs("web-2")).await;
    deliver(&app, "c1", "ops").await;
    post_result_ok(&app, "c1", &result_body(&id, true, &big[..1024], "")).await;
    let stored = command(&app, &id).await;
    assert_eq!(stored["result"]["output"], json!(&big[..1024]));
    assert_eq!(stored["result"]["output_truncated"], json!(false));
}

#[actix_web::test]
async fn topics_are_separate_queues() {
    let app = spawn_with(|s| s.command_poll_timeout = Duration::from_millis(500)).await;
    make_cluster(&app, "c1").await;
    let id = app
        .create_command(&json!({
            "cluster_id": "c1", "action": "dynamic", "params": {"command": "list", "kind": "Pod"}, "topic": "ai",
        }))
        .await;
    assert_eq!(command(&app, &id).await["source"], json!("ai"));

    assert_eq!(
        poll_raw(&app, "c1", "ops").await.1,
        json!({"has_command": false})
    );
    assert_eq!(command(&app, &id).await["status"], json!("pending"));
    let cmd = deliver(&app, "c1", "ai").await;
    assert_eq!(cmd["id"], json!(id));
    assert_eq!(cmd["source"], json!("ai"));

    // An ops command does not wake a parked ai poll.
    let agent = app.agent.clone();
    let client = app.client.clone();
    let ai_poll = actix_web::rt::spawn(async move {
        let r = client
            .get(format!("{agent}/agent/commands?cluster_id=c1&topic=ai"))
            .bearer_auth(AGENT_TOKEN)
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    });
    parked_becomes(&app, "c1", 1).await;
    let ops = app.create_command(&scale("c1", "web", 2)).await;
    assert_eq!(ai_poll.await.unwrap(), json!({"has_command": false}));
    assert_eq!(deliver(&app, "c1", "ops").await["id"], json!(ops));
}
