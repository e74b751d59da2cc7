//! Online/offline at the deadline, each transition published exactly once.

use std::time::{Duration, Instant};

use atlhyper_actors::messages::Liveness;

use crate::helpers::*;

const TIMEOUT: Duration = Duration::from_millis(1200);

#[actix_web::test]
async fn offline_cluster_comes_back_online() {
    let app = spawn_with(|s| s.heartbeat_timeout = TIMEOUT).await;
    let sub = app.state.bus.status.subscribe("test");

    assert_eq!(app.heartbeat("live").await.status(), 200);
    let last_contact = Instant::now();
    let first = tokio::time::timeout(Duration::from_secs(2), sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.previous, first.status),
        (Liveness::Unknown, Liveness::Online)
    );
    assert_eq!(app.get("/api/v2/clusters/live").await.1["status"], "online");

    // Offline is decided at the deadline: within 1 s of it, never before it.
    let off = tokio::time::timeout(TIMEOUT + Duration::from_secs(2), sub.recv())
        .await
        .unwrap()
        .unwrap();
    let at = last_contact.elapsed();
    assert_eq!(
        (off.previous, off.status),
        (Liveness::Online, Liveness::Offline)
    );
    assert!(
        at >= TIMEOUT - Duration::from_millis(50),
        "offline too early: {at:?}"
    );
    assert!(
        at < TIMEOUT + Duration::from_secs(1),
        "offline too late: {at:?}"
    );
    let (_, st) = app.get("/api/v2/clusters/live/status").await;
    assert_eq!(st["status"], "offline");
    assert!(st["offline_since"].is_string());

    // Any accepted agent request brings it back, at once: here a long poll.
    let (client, url) = (
        app.client.clone(),
        format!("{}/agent/commands?cluster_id=live", app.agent),
    );
    let poll =
        actix_web::rt::spawn(async move { client.get(url).bearer_auth(AGENT_TOKEN).send().await });
    let back = tokio::time::timeout(Duration::from_secs(1), sub.recv())
        .await
        .unwrap()
        .unwrap();
    poll.abort();
    assert_eq!(
        (back.previous, back.status),
        (Liveness::Offline, Liveness::Online)
    );
    assert_eq!(app.get("/api/v2/clusters/live").await.1["status"], "online");
}

#[actix_web::test]
async fn steady_traffic_keeps_a_cluster_online_and_publishes_nothing() {
    let app = spawn_with(|s| s.heartbeat_timeout = TIMEOUT).await;
    assert_eq!(app.heartbeat("steady").await.status(), 200);
    let sub = app.state.bus.status.subscribe("test");
    let until = Instant::now() + TIMEOUT * 2;
    while Instant::now() < until {
        assert_eq!(app.heartbeat("steady").await.status(), 200);
        tokio::time::sleep(TIMEOUT / 4).await;
    }
    assert!(
        sub.try_recv().is_none(),
        "no transition while heartbeats keep arriving"
    );
    assert_eq!(
        app.get("/api/v2/clusters/steady").await.1["status"],
        "online"
    );
}

#[actix_web::test]
async fn each_transition_is_published_exactly_once() {
    let app = spawn_with(|s| s.heartbeat_timeout = Duration::from_millis(400)).await;
    let sub = app.state.bus.status.subscribe("test");
    for _ in 0..2 {
        for _ in 0..5 {
            assert_eq!(app.heartbeat("flap").await.status(), 200);
        }
        let on = tokio::time::timeout(Duration::from_secs(1), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(on.status, Liveness::Online);
        let off = tokio::time::timeout(Duration::from_secs(2), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(off.status, Liveness::Offline);
        assert!(
            sub.try_recv().is_none(),
            "five heartbeats, one transition each way"
        );
    }
    let stats = sub.stats();
    assert_eq!((stats.delivered, stats.coalesced, stats.dropped), (4, 0, 0));
}

#[actix_web::test]
async fn known_clusters_go_offline_after_a_restart_if_silent() {
    let app = spawn_with(|s| s.heartbeat_timeout = Duration::from_millis(500)).await;
    assert_eq!(app.heartbeat("silent").await.status(), 200);
    let app = app.restart().await;
    let sub = app.state.bus.status.subscribe("test");
    let (_, c) = app.get("/api/v2/clusters/silent").await;
    assert_eq!(c["status"], "offline", "not heard from since the restart");
    assert!(c["last_seen"].is_string(), "last_seen survives a restart");
    let m = tokio::time::timeout(Duration::from_secs(2), sub.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.previous, m.status),
        (Liveness::Unknown, Liveness::Offline)
    );
}
