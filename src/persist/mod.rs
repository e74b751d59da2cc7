//! Persistence actors: events, node metrics, and the cleaner (and, from `slo/`, the SLO
//! persister, and from `changes/` the change persister). They subscribe to the
//! cluster actors' `SnapshotReceived` on the bus (latest wins per cluster, so a persister
//! that falls behind coalesces instead of queueing) and write through the single DB writer.

pub mod agents;
pub mod cleaner;
pub mod events;
pub mod flush;
pub mod metrics;

use std::sync::Arc;

use atlhyper_actors::messages::Bus;

use crate::config::Settings;
use crate::db::Db;
use crate::metrics::Metrics;

/// Handles to every persistence actor.
#[derive(Clone, Default)]
pub struct Persisters {
    /// Event persistence.
    pub events: events::Handle,
    /// Node-metrics persistence.
    pub metrics: metrics::Handle,
    /// Retention.
    pub cleaner: cleaner::Handle,
    /// SLO pushes.
    pub slo: crate::slo::persister::Handle,
    /// The change history.
    pub changes: crate::changes::persister::Handle,
    /// Agent rows and their audit entries.
    pub agents: agents::Handle,
}

impl Persisters {
    /// Starts them all; the persisters record their lag into `m`.
    pub fn start(
        db: &Db,
        bus: &Bus,
        settings: &Arc<Settings>,
        m: &Metrics,
        audit: &crate::audit::Audit,
        hub: &crate::hub::Hub,
    ) -> Self {
        // Replicas: each persister sees only the clusters this replica owns, and the
        // cleaner runs only on the leader (see `crate::hub`).
        let owned = hub.owned_bus(bus);
        Self {
            events: events::start_measured(db, &owned, settings, m),
            metrics: metrics::start(db, &owned, settings, m),
            cleaner: cleaner::start(db, hub.roles().watch_leader(), settings),
            slo: crate::slo::persister::start(db, &owned, settings, m),
            changes: crate::changes::persister::start(db, &owned, m),
            agents: agents::start(db, &owned, audit),
        }
    }

    /// Waits until everything received so far is written.
    pub async fn flush(&self) {
        self.events.flush().await;
        self.metrics.flush().await;
        self.slo.flush().await;
        self.changes.flush().await;
        self.agents.flush().await;
        self.cleaner.flush().await;
    }
}
