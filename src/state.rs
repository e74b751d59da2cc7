//! What the handlers of both ports can reach, built once by `startup` and shared.
//!
//! [`AppState`] bundles every running part; [`AppState::register`] also puts the narrow
//! pieces ([`Settings`], [`Db`], [`Audit`], [`Limits`], [`Metrics`]) into the app data on
//! their own, so that an extractor or middleware can take `web::Data<Db>` instead of the
//! whole state.
//! This module sits beside `http/`, not in it: modules below `http/` never import from it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::Addr;
use actix_web::web;
use tokio::sync::{watch, Semaphore};

use atlhyper_actors::cluster::ClusterActor;
use atlhyper_actors::messages::Bus;
use atlhyper_actors::registry::{Registry, Resolve};

use crate::audit::Audit;
use crate::config::Settings;
use crate::db::Db;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::ratelimit::Limits;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The settings, loaded once.
    pub settings: Arc<Settings>,
    /// The database.
    pub db: Db,
    /// The cluster directory.
    pub registry: Addr<Registry>,
    /// The actors' publish points.
    pub bus: Bus,
    /// Bounds how many snapshots are decompressed and parsed at once (and so the memory
    /// that decoding can take: permits × `MASTER_AGENT_MAX_SNAPSHOT`).
    pub decode_permits: Arc<Semaphore>,
    /// Becomes `true` when shutdown starts.
    pub shutdown: watch::Receiver<bool>,
    /// Set at shutdown: new long polls are answered at once.
    pub draining: Arc<AtomicBool>,
    /// Encrypts secrets at rest (notification channel credentials).
    pub secrets: Arc<crate::secrets::SecretBox>,
    /// Audit rows and security events.
    pub audit: Audit,
    /// Rate limits and login lockout.
    pub limits: Limits,
    /// The persistence actors.
    pub persist: crate::persist::Persisters,
    /// The notifier and the outbox dispatcher.
    pub notify: crate::notify::Notify,
    /// Per-cluster agent tokens (hashes), in memory, mirrored in the database.
    pub agent_tokens: crate::auth::AgentTokens,
    /// What `/metrics` exposes.
    pub metrics: Metrics,
    /// Replicas: ownership, leadership and the relay (inert with one master).
    pub hub: crate::hub::Hub,
}

impl AppState {
    /// Registers the state, and each narrow piece on its own, as app data of an `App`
    /// (`App::new().configure(|c| state.register(c))`).
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()))
            .app_data(web::Data::from(Arc::clone(&self.settings)))
            .app_data(web::Data::new(self.db.clone()))
            .app_data(web::Data::new(self.audit.clone()))
            .app_data(web::Data::new(self.limits.clone()))
            .app_data(web::Data::new(self.metrics.clone()));
    }

    /// The actor of `cluster_id`: `register` creates it on first contact (agents only).
    pub async fn cluster(
        &self,
        cluster_id: &str,
        register: bool,
    ) -> Result<Addr<ClusterActor>, ApiError> {
        self.registry
            .send(Resolve {
                cluster_id: cluster_id.to_owned(),
                register,
            })
            .await?
            .map_err(|_| {
                ApiError::new(
                    actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::ClusterLimit,
                    "the master already holds its maximum number of clusters",
                )
            })?
            .ok_or_else(|| {
                ApiError::not_found(
                    ErrorCode::ClusterNotFound,
                    format!("cluster {cluster_id:?} is unknown"),
                )
            })
    }

    /// True once shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Resolves when shutdown starts.
    pub async fn shutting_down(&self) {
        let mut rx = self.shutdown.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}
