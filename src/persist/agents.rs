//! `AgentPersister`: keeps what the master knows of each cluster's agent, and audits its
//! comings and goings (seed 003: `client.register`, `client.connect`, `client.disconnect`).
//!
//! - **Subscribes** to `AgentSeen` (the cluster actor publishes it when the agent's
//!   version, host, address or `User-Agent` changed) and to `ClusterStatusChanged`
//!   (online/offline transitions); latest wins per cluster on both.
//! - **Writes** the `cluster_agents` row (`db::agents::observe`, one transaction): first
//!   seen on the first observation, the metadata, `connected_at` / `disconnected_at`.
//! - **Audits** (source `agent`), judged against the stored row, so a master restart
//!   invents nothing: `client.register` when a cluster's agent is first seen (its first
//!   contact, including a cluster registered by it; a status change alone creates no
//!   row), `client.disconnect` when a connected agent goes offline, `client.connect` when
//!   a disconnected one comes back, and `client.update` when its version changes from
//!   one known value to another.
//! - Nothing to rebuild after a restart: the rows are the memory.

use std::sync::Arc;

use actix::prelude::*;
use atlhyper_actors::supervise::StartSupervised as _;
use chrono::Utc;

use atlhyper_actors::bus::Subscription;
use atlhyper_actors::messages::{AgentMeta, AgentSeen, Bus, ClusterStatusChanged, Liveness};

use super::flush::Flush;
use crate::audit::{Audit, AuditEntry};
use crate::db::agents::{AgentObserved, Contact};
use crate::db::Db;

/// This persister's name on the bus.
const NAME: &str = "agent_persister";

/// One thing to record.
enum Seen {
    Meta(AgentSeen),
    Status(ClusterStatusChanged),
}

/// The actor.
pub struct AgentPersister {
    db: Db,
    audit: Audit,
    agents: Arc<Subscription<AgentSeen>>,
    status: Arc<Subscription<ClusterStatusChanged>>,
}

fn observed(m: &AgentMeta) -> AgentObserved {
    AgentObserved {
        agent_version: m.agent_version.clone(),
        version_source: m.version_source.unwrap_or_default().to_owned(),
        hostname: m.hostname.clone().unwrap_or_default(),
        reported_ip: m.ip.clone().unwrap_or_default(),
        remote_addr: m.remote_addr.clone().unwrap_or_default(),
        user_agent: m.user_agent.clone().unwrap_or_default(),
    }
}

impl AgentPersister {
    fn entry(
        &self,
        cluster: &str,
        action: &str,
        ip: &str,
        ua: &str,
        details: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            timestamp: Utc::now(),
            user_id: None,
            username: String::new(),
            role: None,
            source: "agent".into(),
            action: action.into(),
            resource: format!("/api/v2/clusters/{cluster}"),
            method: String::new(),
            request_body: Some(details.to_string()),
            status_code: 200,
            success: true,
            error_message: None,
            ip: ip.into(),
            user_agent: ua.into(),
            duration_ms: 0,
        }
    }

    fn apply(&mut self, seen: Seen) -> Work {
        let (cluster, meta, what, at) = match &seen {
            Seen::Meta(m) => (
                Arc::clone(&m.cluster_id),
                Some(observed(&m.agent)),
                Contact::Seen,
                m.at,
            ),
            Seen::Status(s) => (
                Arc::clone(&s.cluster_id),
                None,
                match s.status {
                    Liveness::Online => Contact::Connected,
                    _ => Contact::Disconnected,
                },
                s.at,
            ),
        };
        let db = self.db.clone();
        let c = Arc::clone(&cluster);
        let m = meta.clone();
        let write = async move { db.agents().observe(c, m, what, at).await };
        Box::pin(write.into_actor(self).map(move |res, act, _| {
            let found = match res {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(cluster_id = %cluster, error = %e, "agent row not recorded");
                    return;
                }
            };
            let (ip, ua) = meta
                .as_ref()
                .map(|m| (m.remote_addr.clone(), m.user_agent.clone()))
                .unwrap_or_default();
            let details = |extra: serde_json::Value| {
                let mut d = serde_json::json!({"cluster_id": &*cluster, "at": at});
                if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
                    d.extend(e.clone());
                }
                d
            };
            if found.first {
                act.audit.log(act.entry(
                    &cluster,
                    "client.register",
                    &ip,
                    &ua,
                    details(serde_json::json!({})),
                ));
            }
            match &seen {
                Seen::Meta(m) => {
                    // A version is audited when it changes from one known value to
                    // another; a push that does not tell it (None) changes nothing.
                    let now = m.agent.agent_version.as_deref();
                    if let (Some(before), Some(now)) = (found.previous_version.as_deref(), now) {
                        if before != now {
                            act.audit.log(act.entry(
                                &cluster,
                                "client.update",
                                &ip,
                                &ua,
                                details(serde_json::json!({"from": before, "to": now})),
                            ));
                        }
                    }
                }
                Seen::Status(s) if found.written => {
                    let action = match s.status {
                        Liveness::Offline => "client.disconnect",
                        _ => "client.connect",
                    };
                    act.audit.log(act.entry(
                        &cluster,
                        action,
                        "",
                        "",
                        details(serde_json::json!({
                            "previous": s.previous.api_str(),
                            "last_seen": s.last_seen,
                        })),
                    ));
                }
                Seen::Status(_) => {}
            }
        }))
    }
}

type Work = super::flush::Work<AgentPersister>;

impl Actor for AgentPersister {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let agents = Arc::clone(&self.agents);
        ctx.add_stream(futures_util::stream::unfold(agents, |s| async move {
            let m = s.recv().await?;
            Some((Seen::Meta(m), s))
        }));
        let status = Arc::clone(&self.status);
        ctx.add_stream(futures_util::stream::unfold(status, |s| async move {
            let m = s.recv().await?;
            Some((Seen::Status(m), s))
        }));
    }
}

/// Restarted in place after a panic ([`atlhyper_actors::supervise`]); `started` rebuilds
/// what it keeps in memory from the database.
impl Supervised for AgentPersister {}

impl StreamHandler<Seen> for AgentPersister {
    /// A bus topic closed (shutdown): stay alive for the final `Flush`.
    fn finished(&mut self, _: &mut Context<Self>) {}

    fn handle(&mut self, msg: Seen, ctx: &mut Context<Self>) {
        let work = self.apply(msg);
        ctx.wait(work);
    }
}

impl Handler<Flush> for AgentPersister {
    type Result = ();

    fn handle(&mut self, msg: Flush, ctx: &mut Context<Self>) {
        let mut chain: Work = Box::pin(fut::ready(()));
        let mut pending = Vec::new();
        while let Some(m) = self.agents.try_recv() {
            pending.push(Seen::Meta(m));
        }
        while let Some(m) = self.status.try_recv() {
            pending.push(Seen::Status(m));
        }
        for seen in pending {
            let work = self.apply(seen);
            chain = Box::pin(chain.then(move |(), _, _| work));
        }
        let done = msg.done;
        ctx.wait(chain.map(move |(), _, _| {
            let _ = done.send(());
        }));
    }
}

/// Handle to the running actor.
pub type Handle = super::flush::Handle<AgentPersister>;

/// Starts the actor, subscribed to the bus. Runs inside the actix System.
pub fn start(db: &Db, bus: &Bus, audit: &Audit) -> Handle {
    let addr = AgentPersister {
        db: db.clone(),
        audit: audit.clone(),
        agents: Arc::new(bus.agents.subscribe(NAME)),
        status: Arc::new(bus.status.subscribe(NAME)),
    }
    .start_supervised("agent_persister");
    Handle::new(addr)
}
