//! The bridge: what this replica decided, relayed to the others.
//!
//! It subscribes to the local bus and relays every message this replica's actors,
//! persisters and notifier published themselves (`mirrored: false`): liveness decisions,
//! command changes (a new command with its whole body, read from the database), SLO
//! evaluations and alerts. What it receives back from the others is published on their
//! buses with `mirrored: true`, so nothing goes round twice. Latest wins per key, like
//! every bus subscriber: a command that went from pending to success before the bridge
//! read it is relayed as success only, which is all the other replicas need.

use atlhyper_actors::command::CommandState;
use atlhyper_actors::messages::{
    Bus, ClusterStatusChanged, CommandStateChanged, MirrorCommand, MirrorStatus, QueuedCommand,
};

use super::{Hub, Relay};
use crate::db::{from_db, Db};

/// Starts the bridge (replicas only; inside the actix System).
pub fn start(hub: &Hub, bus: &Bus, db: &Db) {
    if hub.link().is_none() {
        return;
    }
    let status = bus.status.subscribe("hub");
    let commands = bus.commands.subscribe("hub");
    let slo = bus.slo_evaluated.subscribe("hub");
    let alerts = bus.alerts.subscribe("hub");
    let h = hub.clone();
    actix_web::rt::spawn(async move {
        while let Some(m) = status.recv().await {
            if !m.mirrored {
                h.relay(status_relay(&m));
            }
        }
    });
    let (h, db) = (hub.clone(), db.clone());
    actix_web::rt::spawn(async move {
        while let Some(m) = commands.recv().await {
            if m.mirrored {
                continue;
            }
            if let Some(r) = command_relay(&db, &m).await {
                h.relay(r);
            }
        }
    });
    let h = hub.clone();
    actix_web::rt::spawn(async move {
        while let Some(m) = slo.recv().await {
            if !m.mirrored {
                h.relay(Relay::SloEvaluated {
                    c: m.cluster_id.to_string(),
                    routes: (*m.routes).clone(),
                    at: m.at,
                });
            }
        }
    });
    let h = hub.clone();
    actix_web::rt::spawn(async move {
        while let Some(m) = alerts.recv().await {
            if !m.mirrored {
                h.relay(Relay::Alert {
                    c: m.cluster_id.to_string(),
                    uid: m.alert_uid.to_string(),
                    rule: m.rule.clone(),
                    status: m.status.to_owned(),
                    resource: m.resource.clone(),
                    at: m.at,
                });
            }
        }
    });
}

fn status_relay(m: &ClusterStatusChanged) -> Relay {
    Relay::Status {
        c: m.cluster_id.to_string(),
        m: MirrorStatus {
            status: m.status,
            previous: m.previous,
            at: m.at,
            last_seen: m.last_seen,
        },
    }
}

async fn command_relay(db: &Db, m: &CommandStateChanged) -> Option<Relay> {
    let c = m.cluster_id.to_string();
    if m.status != CommandState::Pending {
        return Some(Relay::Command {
            c,
            m: MirrorCommand {
                command_id: m.command_id.to_string(),
                action: m.action.to_string(),
                status: m.status,
                at: m.at,
            },
        });
    }
    // A new command: the others need its body to hand it out.
    let row = match db.commands().get(&m.command_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(command_id = %m.command_id, error = %e, "cannot read a new command to relay it; the other replicas find it at their next resync");
            return None;
        }
    };
    if row.status != CommandState::Pending.as_str() {
        return None;
    }
    Some(Relay::Enqueued {
        c,
        q: QueuedCommand {
            command: crate::db::store::wire_command(&row),
            topic: row.topic.clone(),
            created_at: from_db(row.created_at),
        },
    })
}
