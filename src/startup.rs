//! Wiring: database, actors, both HTTP servers, and the graceful shutdown.
//!
//! Shutdown (SIGTERM, SIGINT, or [`Stopper::stop`]):
//! 1. both listeners stop accepting connections;
//! 2. every parked long poll is answered `{"has_command":false}`, and later polls at once;
//!    `?wait=` requests and SSE streams end;
//! 3. in-flight requests finish (bounded by `MASTER_SHUTDOWN_TIMEOUT`);
//! 4. last-seen times are stored and the database writer is flushed and checkpointed.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Supervisor;
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context as _;
use chrono::Utc;
use diesel::connection::SimpleConnection;
use tokio::sync::{watch, Notify, Semaphore};
use tracing::{info, warn};

use atlhyper_actors::cluster::ClusterConfig;
use atlhyper_actors::messages::Bus;
use atlhyper_actors::registry::{DrainAll, Registry};

use crate::config::{AgentAuthMode, DatahubType, DbType, Settings};
use crate::db::store::{load_initial_state, SqlStore};
use crate::db::{clusters, Db};
use crate::http::{self, AppState};

/// How many clusters first contact may create. A runaway or hostile agent holding the
/// bootstrap token cannot make the master start unbounded actors.
pub const MAX_CLUSTERS: usize = 10_000;

/// Head of a request (line and headers) must arrive within this.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Triggers a graceful shutdown from code (tests, embedding).
#[derive(Clone, Default)]
pub struct Stopper {
    notify: Arc<Notify>,
    stopped: Arc<AtomicBool>,
}

impl Stopper {
    /// Starts the graceful shutdown.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    async fn wait(&self) {
        loop {
            let n = self.notify.notified();
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            n.await;
        }
    }
}

/// A built, not yet running, master.
pub struct Application {
    dashboard: actix_web::dev::Server,
    agent: actix_web::dev::Server,
    http_port: u16,
    agent_port: u16,
    state: AppState,
    shutdown_tx: watch::Sender<bool>,
    stopper: Stopper,
}

impl Application {
    /// Opens the database, rebuilds the actors' state from it and binds both ports
    /// (port 0 binds a free port; see [`Application::http_port`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        if settings.db_type == DbType::Postgres {
            anyhow::bail!("MASTER_DB_TYPE=postgres is not supported yet; use sqlite (the default)");
        }
        if settings.datahub_type == DatahubType::Redis {
            anyhow::bail!(
                "MASTER_DATAHUB_TYPE=redis is not supported yet; use memory (the default)"
            );
        }
        if settings.agent_auth == AgentAuthMode::Open {
            warn!("MASTER_AGENT_AUTH=open: agent requests are not authenticated; use only on a trusted network");
        } else if settings.agent_token.is_none() {
            warn!("MASTER_AGENT_AUTH=token and no MASTER_AGENT_TOKEN: agents are refused until they have a token");
        }
        let settings = Arc::new(settings);
        let db = Db::open(&settings.db_path, settings.db_max_conns)
            .with_context(|| format!("opening database {}", settings.db_path.display()))?;
        let initial = db.read_now(|c| {
            load_initial_state(
                c,
                settings.command_pending_ttl,
                settings.command_result_timeout,
                Utc::now(),
            )
        })?;
        let bus = Bus::default();
        let cfg = ClusterConfig {
            heartbeat_timeout: settings.heartbeat_timeout,
            poll_timeout: settings.command_poll_timeout,
            result_timeout: settings.command_result_timeout,
            pending_ttl: settings.command_pending_ttl,
            snapshot_retention: settings.snapshot_retention,
        };
        let store = Arc::new(SqlStore::new(db.clone()));
        let registry = {
            let bus = bus.clone();
            let mut initial = Some(initial);
            Supervisor::start(move |_| {
                Registry::new(
                    cfg,
                    store,
                    bus,
                    initial.take().unwrap_or_default(),
                    MAX_CLUSTERS,
                )
            })
        };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let state = AppState {
            settings: Arc::clone(&settings),
            db,
            registry,
            bus,
            decode_permits: Arc::new(Semaphore::new(cores.max(2))),
            shutdown: shutdown_rx,
            draining: Arc::new(AtomicBool::new(false)),
        };
        let shutdown_secs = settings.shutdown_timeout.as_secs().max(1);

        let agent_listener =
            TcpListener::bind((settings.bind, settings.agent_port)).with_context(|| {
                format!(
                    "binding the agent port {}:{}",
                    settings.bind, settings.agent_port
                )
            })?;
        let agent_port = agent_listener.local_addr()?.port();
        let agent_state = web::Data::new(state.clone());
        let agent = HttpServer::new(move || {
            App::new()
                .app_data(agent_state.clone())
                .wrap(middleware::from_fn(http::middleware::access_log))
                .configure(http::agent::routes)
                .default_service(web::to(http::unknown_path))
        })
        .disable_signals()
        .shutdown_timeout(shutdown_secs)
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        // A poller that closes its side is gone: drop its parked handler so that no
        // command is handed to a dead connection.
        .h1_allow_half_closed(false)
        .listen(agent_listener)?
        .run();

        let http_listener =
            TcpListener::bind((settings.bind, settings.http_port)).with_context(|| {
                format!(
                    "binding the HTTP port {}:{}",
                    settings.bind, settings.http_port
                )
            })?;
        let http_port = http_listener.local_addr()?.port();
        let api_state = web::Data::new(state.clone());
        let dashboard = HttpServer::new(move || {
            App::new()
                .app_data(api_state.clone())
                .app_data(http::api::json_config())
                .app_data(http::api::path_config())
                .wrap(middleware::from_fn(http::middleware::access_log))
                .configure(http::api::routes)
                .default_service(web::to(http::unknown_path))
        })
        .disable_signals()
        .shutdown_timeout(shutdown_secs)
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        .listen(http_listener)?
        .run();

        info!(http_port, agent_port, db = %settings.db_path.display(), "atlhyper-master listening");
        Ok(Application {
            dashboard,
            agent,
            http_port,
            agent_port,
            state,
            shutdown_tx,
            stopper: Stopper::default(),
        })
    }

    /// The dashboard API port actually bound.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The agent API port actually bound.
    pub fn agent_port(&self) -> u16 {
        self.agent_port
    }

    /// Handles to the running parts (tests use them to subscribe to the bus).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// A handle that starts the graceful shutdown.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves until a shutdown is asked for (`signals`: also SIGTERM/SIGINT), then shuts
    /// down gracefully.
    pub async fn run_until_stopped(self, signals: bool) -> anyhow::Result<()> {
        let Application {
            dashboard,
            agent,
            state,
            shutdown_tx,
            stopper,
            ..
        } = self;
        let (dash_handle, agent_handle) = (dashboard.handle(), agent.handle());
        // The server futures process pause/stop commands, so they must keep running.
        let mut servers = actix_web::rt::spawn(futures_util::future::join(dashboard, agent));
        let trigger = async {
            if signals {
                wait_for_signal(&stopper).await;
            } else {
                stopper.wait().await;
            }
        };
        tokio::select! {
            done = &mut servers => {
                let (a, b) = done?;
                a?;
                b?;
                return Ok(());
            }
            () = trigger => {}
        }
        let started = std::time::Instant::now();
        info!("shutting down: no new connections; answering parked polls");
        futures_util::future::join(dash_handle.pause(), agent_handle.pause()).await;
        state.draining.store(true, Ordering::SeqCst);
        let _ = shutdown_tx.send(true);
        let seen = state.registry.send(DrainAll).await.unwrap_or_default();
        state.bus.close();
        futures_util::future::join(dash_handle.stop(true), agent_handle.stop(true)).await;
        match servers.await {
            Ok((a, b)) => {
                if let Err(e) = a.and(b) {
                    warn!(error = %e, "server error during shutdown");
                }
            }
            Err(e) => warn!(error = %e, "server task failed during shutdown"),
        }
        let flushed = state
            .db
            .write(move |c| {
                for (id, at) in &seen {
                    clusters::record_last_seen(c, id, *at)?;
                }
                c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
                Ok(())
            })
            .await;
        if let Err(e) = flushed {
            warn!(error = %e, "final database flush failed");
        }
        info!(
            ms = started.elapsed().as_millis() as u64,
            "shutdown complete"
        );
        Ok(())
    }
}

async fn wait_for_signal(stopper: &Stopper) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
                    () = stopper.wait() => {}
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the master");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
                    () = stopper.wait() => {}
                }
            }
        }
    }
    #[cfg(not(unix))]
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
        () = stopper.wait() => {}
    }
}
