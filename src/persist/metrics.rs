//! STUB (issue 4, in progress).

use std::sync::Arc;

use atlhyper_actors::messages::Bus;

use crate::config::Settings;
use crate::db::Db;

/// Handle to the running actor(s) of this module.
#[derive(Clone, Default)]
pub struct Handle {}

impl Handle {
    /// Waits until everything received so far is written (tests, shutdown).
    pub async fn flush(&self) {}
}

/// Starts this module's actor(s), subscribed to the bus. Runs inside the actix System.
pub fn start(_db: &Db, _bus: &Bus, _settings: &Arc<Settings>) -> Handle {
    Handle::default()
}

/// This module's dashboard routes.
pub fn routes(_t: &mut crate::http::api::Routes) {}
