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
    ) -> Self {
        Self {
            events: events::start_measured(db, bus, settings, m),
            metrics: metrics::start(db, bus, settings, m),
            cleaner: cleaner::start(db, bus, settings),
            slo: crate::slo::persister::start(db, bus, settings, m),
            changes: crate::changes::persister::start(db, bus, m),
            agents: agents::start(db, bus, audit),
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
