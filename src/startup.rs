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

use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context as _;
use chrono::Utc;
use tokio::sync::{watch, Notify, Semaphore};
use tracing::{info, warn};

use atlhyper_actors::cluster::ClusterConfig;
use atlhyper_actors::messages::Bus;
use atlhyper_actors::registry::{DrainAll, Registry};

use crate::config::{AgentAuthMode, DatahubType, Settings};
use crate::db::store::{load_initial_state, SqlStore};
use crate::db::Db;
use crate::http;
use crate::secrets::SecretBox;
use crate::state::AppState;

/// Head of a request (line and headers) must arrive within this.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Descriptors kept for everything but client connections: database files and their
/// journals, PostgreSQL and Redis sockets, webhooks, SMTP, AI providers, the log.
const FD_RESERVE: u64 = 1024;

/// Raises the soft limit on open files to the hard limit (the common soft default, 1024,
/// is far below what a fleet's long polls need) and returns it.
fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open files limit; assuming 1024");
            1024
        }
    }
}

/// Connections the kernel completes and queues for a port before the master accepts them
/// (std's `bind` asks for 128): a fleet reconnecting at once after a restart, or
/// connections waiting for a slot under [`connections_per_worker`], queue instead of having
/// their SYNs dropped. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

fn listen_backlog(listener: &TcpListener) -> anyhow::Result<()> {
    socket2::SockRef::from(listener)
        .listen(LISTEN_BACKLOG)
        .context("setting the listen backlog")
}

/// Connections each worker of each of the two servers may hold, so that client
/// connections never exhaust the process's descriptors (`EMFILE` would also fail database
/// files and outgoing sockets). A connection costs two descriptors: its socket and the
/// connection guard's duplicate (`http::conn_guard`). Past the cap, new connections wait
/// in the kernel's accept queue until one closes.
pub fn connections_per_worker(open_files: u64, workers: usize) -> usize {
    let budget = open_files.saturating_sub(FD_RESERVE) / 2;
    let per_worker = budget / 2 / (workers.max(1) as u64);
    if per_worker < 64 {
        tracing::warn!(
            open_files,
            workers,
            "the open files limit leaves fewer than 64 connections per worker; raise it (ulimit -n / LimitNOFILE)"
        );
    }
    usize::try_from(per_worker)
        .unwrap_or(usize::MAX)
        .clamp(1, 25_000)
}

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
        if settings.agent_auth == AgentAuthMode::Open {
            warn!("MASTER_AGENT_AUTH=open: agent requests are not authenticated; use only on a trusted network");
        } else if settings.agent_token.is_none() {
            warn!("MASTER_AGENT_AUTH=token and no MASTER_AGENT_TOKEN: agents are refused until they have a token");
        }
        let settings = Arc::new(settings);
        let tls = tls_config(&settings)?;
        let location = crate::db::Location::from_settings(&settings)?;
        let db = Db::connect(location.clone(), settings.db_max_conns)
            .with_context(|| format!("opening database {location:?}"))?;
        let secrets =
            Arc::new(SecretBox::from_settings(&settings).context("loading the secret key")?);
        check_secret_key(&db, &secrets, settings.datahub_type == DatahubType::Redis).await?;
        let initial = load_initial_state(
            &db,
            settings.command_pending_ttl,
            settings.command_result_timeout,
            Utc::now(),
        )
        .await?;
        let bus = Bus::default();
        let hub = match settings.datahub_type {
            DatahubType::Memory => crate::hub::Hub::single(),
            DatahubType::Redis => {
                let replica = replica_name();
                let link =
                    crate::hub::Link::new(&settings.redis_addr, &settings.redis_prefix, &replica)?;
                info!(%replica, prefix = %settings.redis_prefix, "running as a replica (MASTER_DATAHUB_TYPE=redis)");
                crate::hub::Hub::replicated(link)
            }
        };
        let cfg = ClusterConfig {
            heartbeat_timeout: settings.heartbeat_timeout,
            poll_timeout: settings.command_poll_timeout,
            result_timeout: settings.command_result_timeout,
            pending_ttl: settings.command_pending_ttl,
            snapshot_retention: settings.snapshot_retention,
            // Replicas: an actor follows until the lease loop hands it its cluster.
            owner: !hub.roles().is_replicated(),
            relay_down: hub
                .link()
                .map_or_else(Arc::default, |l| l.relay_down_flag()),
        };
        let store = Arc::new(SqlStore::new(db.clone()));
        let registry = {
            let bus = bus.clone();
            let mut initial = Some(initial);
            let max_clusters = settings.max_clusters;
            atlhyper_actors::supervise::start("registry", move |_| {
                Registry::new(
                    cfg,
                    store,
                    bus,
                    initial.take().unwrap_or_default(),
                    max_clusters,
                )
            })
        };
        ensure_admin(&db, &settings).await?;
        crate::service::ai::seed(&db, &settings)
            .await
            .context("seeding the AI assistant's configuration")?;
        let agent_tokens =
            crate::auth::AgentTokens::from_pairs(db.users().agent_token_hashes().await?);
        let metrics = crate::metrics::Metrics::new();
        let audit = crate::audit::Audit::new(db.clone());
        let persist =
            crate::persist::Persisters::start(&db, &bus, &settings, &metrics, &audit, &hub);
        let notify = crate::notify::Notify::start(&db, &bus, &settings, &secrets, &hub, &registry);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let state = AppState {
            settings: Arc::clone(&settings),
            db: db.clone(),
            registry,
            bus,
            decode_permits: Arc::new(Semaphore::new(cores.max(2))),
            shutdown: shutdown_rx,
            draining: Arc::new(AtomicBool::new(false)),
            secrets,
            audit,
            limits: match hub.link() {
                Some(link) => crate::ratelimit::Limits::from_settings(&settings)
                    .with_shared_lockout(Arc::new(crate::hub::link::SharedLogin(Arc::clone(link)))),
                None => crate::ratelimit::Limits::from_settings(&settings),
            },
            agent_tokens,
            persist,
            notify,
            metrics,
            hub,
        };
        start_replica(&state, &location);
        // The assistant's provider client and running answers: app data of the dashboard
        // on its own (only the chat handler needs it).
        let assistant = crate::service::ai::Assistant::new()
            .context("building the AI assistant's HTTP client")?;
        let shutdown_secs = settings.shutdown_timeout.as_secs().max(1);
        let open_files = raise_open_files_limit();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let max_conns = connections_per_worker(open_files, workers);
        info!(
            open_files,
            workers,
            connections_per_worker = max_conns,
            "connection limits"
        );

        let agent_listener =
            TcpListener::bind((settings.bind, settings.agent_port)).with_context(|| {
                format!(
                    "binding the agent port {}:{}",
                    settings.bind, settings.agent_port
                )
            })?;
        listen_backlog(&agent_listener)?;
        let agent_port = agent_listener.local_addr()?.port();
        let agent_state = state.clone();
        let agent_guard = http::conn_guard::ConnGuard::start();
        let agent_conns = agent_guard.clone();
        let agent = HttpServer::new(move || {
            App::new()
                .configure(|cfg| agent_state.register(cfg))
                .app_data(web::Data::new(agent_guard.clone()))
                .app_data(web::Data::new(http::middleware::BodyDeadline(
                    agent_state.settings.agent_read_timeout,
                )))
                // A body must arrive within MASTER_AGENT_READ_TIMEOUT.
                .wrap(middleware::from_fn(http::middleware::body_deadline))
                .wrap(middleware::from_fn(http::middleware::access_log))
                // Outside the log: a flood refused here costs no log line.
                .wrap(middleware::from_fn(
                    http::middleware::guard_unauthenticated_agent,
                ))
                .wrap(middleware::from_fn(http::headers::security_headers))
                // Outermost: counts and times everything, refusals included.
                .wrap(middleware::from_fn(crate::metrics::track_agent))
                // Around everything: a request is in progress until its body is sent.
                .wrap(middleware::from_fn(http::conn_guard::track))
                .configure(http::agent::routes)
                .default_service(web::to(http::unknown_path))
        })
        .on_connect(move |conn, ext| agent_conns.on_connect(conn, ext))
        .workers(workers)
        .max_connections(max_conns)
        .disable_signals()
        .shutdown_timeout(shutdown_secs)
        .client_request_timeout(REQUEST_HEAD_TIMEOUT)
        // A poller that closes its side is gone: drop its parked handler so that no
        // command is handed to a dead connection.
        .h1_allow_half_closed(false);
        let agent = match &tls {
            Some(tls) => agent.listen_rustls_0_23(agent_listener, tls.clone())?,
            None => agent.listen(agent_listener)?,
        }
        .run();

        let http_listener =
            TcpListener::bind((settings.bind, settings.http_port)).with_context(|| {
                format!(
                    "binding the HTTP port {}:{}",
                    settings.bind, settings.http_port
                )
            })?;
        listen_backlog(&http_listener)?;
        let http_port = http_listener.local_addr()?.port();
        let api_state = state.clone();
        let api_guard = http::conn_guard::ConnGuard::start();
        let api_conns = api_guard.clone();
        let dashboard = HttpServer::new(move || {
            App::new()
                .configure(|cfg| api_state.register(cfg))
                .app_data(web::Data::new(api_guard.clone()))
                .app_data(web::Data::new(http::middleware::BodyDeadline(
                    api_state.settings.api_read_timeout,
                )))
                .app_data(web::Data::new(assistant.clone()))
                .app_data(http::api::json_config())
                .app_data(http::api::path_config())
                // Inside the access log (preflights are logged), outside everything else
                // (a preflight needs no token).
                // Innermost: bearer tokens are checked before routing and body extraction.
                .wrap(middleware::from_fn(crate::auth::extract::authenticate_mw))
                // Records writes and refusals with the caller the line above found.
                .wrap(middleware::from_fn(http::audit_mw::audit))
                // A body must arrive within MASTER_API_READ_TIMEOUT (outside the audit,
                // which reads write bodies first).
                .wrap(middleware::from_fn(http::middleware::body_deadline))
                .wrap(middleware::from_fn(http::middleware::access_log))
                // Outside the log and the audit: a flood refused here costs nothing.
                .wrap(middleware::from_fn(
                    http::middleware::guard_unauthenticated_api,
                ))
                // Outside the limit: preflights are answered before it (they never carry
                // credentials), and a 429 carries CORS headers a browser can read.
                .wrap(http::headers::cors(&api_state.settings.cors_origins))
                .wrap(middleware::from_fn(http::headers::security_headers))
                // Outermost: counts and times everything, refusals and preflights included.
                .wrap(middleware::from_fn(crate::metrics::track_api))
                // Around everything: a request is in progress until its body is sent.
                .wrap(middleware::from_fn(http::conn_guard::track))
                .configure(http::dashboard_routes)
                .default_service(web::to(http::unknown_path))
        })
        .on_connect(move |conn, ext| api_conns.on_connect(conn, ext))
        .workers(workers)
        .max_connections(max_conns)
        .disable_signals()
        .shutdown_timeout(shutdown_secs)
        .client_request_timeout(REQUEST_HEAD_TIMEOUT);
        let dashboard = match tls {
            Some(tls) => dashboard.listen_rustls_0_23(http_listener, tls)?,
            None => dashboard.listen(http_listener)?,
        }
        .run();

        let tls = settings.tls_enabled();
        info!(http_port, agent_port, tls, db = %settings.db_path.display(), "atlhyper-master listening");
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
        state.audit.flush().await;
        state.persist.flush().await;
        state.notify.flush().await;
        let flushed = state.db.clusters().record_last_seen(seen).await;
        let flushed = match flushed {
            Ok(()) => state.db.checkpoint().await,
            Err(e) => Err(e),
        };
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

/// A name for this replica in logs and on the relay: host, process and a random tag.
fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "master".to_owned());
    let mut tag = [0u8; 3];
    let _ = getrandom::fill(&mut tag);
    format!(
        "{host}-{}-{:02x}{:02x}{:02x}",
        std::process::id(),
        tag[0],
        tag[1],
        tag[2]
    )
}

/// Replicas: the relay (both directions), the ownership loop and the agent-token refresh.
fn start_replica(state: &AppState, location: &crate::db::Location) {
    let Some(link) = state.hub.link() else {
        return;
    };
    let crate::db::Location::Postgres(dsn) = location else {
        return;
    };
    link.start(http::agent::relay::Applier::start(state.clone()));
    crate::hub::bridge::start(&state.hub, &state.bus, &state.db);
    crate::hub::lease::start(
        crate::hub::lease::LeaseConfig {
            dsn: dsn.clone(),
            prefix: state.settings.redis_prefix.clone(),
            ttl: state.settings.lease_ttl,
        },
        std::sync::Arc::clone(state.hub.roles()),
        state.registry.clone(),
        state.shutdown.clone(),
    );
    // Agent tokens are cached in memory for every agent request: re-read them every second
    // so that a rotation or a revocation on another replica holds here within a second.
    let (db, tokens, mut shutdown) = (
        state.db.clone(),
        state.agent_tokens.clone(),
        state.shutdown.clone(),
    );
    actix_web::rt::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
            match db.users().agent_token_hashes().await {
                Ok(pairs) => tokens.replace(pairs),
                Err(e) => tracing::debug!(error = %e, "agent tokens not refreshed"),
            }
        }
    });
}

/// The TLS server configuration for both ports, when `tls_cert` and `tls_key` are set. Any
/// problem with the files stops startup with a message naming the file.
fn tls_config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let (cert_path, key_path) = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => return Ok(None),
        // Loaded settings are validated already; this guards settings built in code.
        (Some(path), None) | (None, Some(path)) => anyhow::bail!(
            "TLS needs both tls_cert and tls_key (MASTER_TLS_CERT, MASTER_TLS_KEY); only {} is set",
            path.display()
        ),
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "reading the TLS certificate {} (MASTER_TLS_CERT)",
                cert_path.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!(
            "the TLS certificate {} (MASTER_TLS_CERT) holds no PEM certificate",
            cert_path.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
        format!(
            "reading the TLS private key {} (MASTER_TLS_KEY)",
            key_path.display()
        )
    })?;
    // The ring provider explicitly: no process-wide default to install or to race on.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .with_context(|| {
        format!(
            "the TLS private key {} does not fit the certificate {}",
            key_path.display(),
            cert_path.display()
        )
    })?;
    Ok(Some(config))
}

/// Refuses to start when the key cannot open the secrets already stored (a database
/// copied or moved without its `secret.key`, or another `MASTER_SECRET_KEY`): running on
/// would silently break every notification channel.
async fn check_secret_key(db: &Db, secrets: &SecretBox, replicas: bool) -> anyhow::Result<()> {
    // A known text sealed by the first start: a replica with another key is refused here,
    // before it seals anything the others cannot open. One master whose key changed
    // re-seals it (what it can no longer open is checked below, as before).
    const CHECK: &str = "atlhyper-master secret key check";
    let mine = secrets
        .encrypt(CHECK)
        .context("sealing the secret key check")?;
    let stored = db
        .retention()
        .key_check(mine.clone(), Utc::now(), false)
        .await?;
    let opens = secrets.decrypt(&stored).ok().as_deref() == Some(CHECK);
    if !opens && !replicas {
        warn!("the secret key changed since the key check was sealed; sealing it again");
        db.retention().key_check(mine, Utc::now(), true).await?;
    } else if !opens {
        anyhow::bail!(
            "the secret key cannot open this database's secrets: it was sealed with another \
             key. Every replica (and every restart) needs the same key: the `secret.key` of \
             the install the data came from (beside its SQLite file), or the same \
             MASTER_SECRET_KEY"
        );
    }
    let sealed = db.notify().list_channels().await?;
    for row in sealed {
        if secrets.decrypt(&row.config).is_err() {
            anyhow::bail!(
                "the secret key cannot open the stored config of notification channel {:?}: \
                 this database was sealed with another key. Use the `secret.key` of the \
                 install the data came from (beside its SQLite file), or the same \
                 MASTER_SECRET_KEY",
                row.type_
            );
        }
    }
    Ok(())
}

/// First start with no users: creates the admin from `MASTER_ADMIN_USERNAME` and
/// `MASTER_ADMIN_PASSWORD`; without a password one is generated and logged once.
async fn ensure_admin(db: &Db, settings: &Settings) -> anyhow::Result<()> {
    use crate::service::users::{ensure_first_admin, FirstStart, UserError};
    use secrecy::ExposeSecret;
    let username = &settings.admin_username;
    let password = settings.admin_password.as_ref().map(|p| p.expose_secret());
    match ensure_first_admin(db, username, password).await {
        Ok(FirstStart::UsersExist) => {}
        Ok(FirstStart::Created {
            generated_password: Some(generated),
        }) => {
            // Printed once, on the first start only; it is never stored in clear.
            warn!(username = %username, password = %generated.expose_secret(), "first start: admin created with a generated password; change it");
        }
        Ok(FirstStart::Created {
            generated_password: None,
        }) => {
            info!(username = %username, "first start: admin created from MASTER_ADMIN_PASSWORD");
        }
        Err(UserError::Invalid { field, why }) => {
            let var = if field == "username" {
                "MASTER_ADMIN_USERNAME"
            } else {
                "MASTER_ADMIN_PASSWORD"
            };
            anyhow::bail!("{var}: {why}");
        }
        Err(e) => return Err(anyhow::Error::new(e).context("creating the first admin")),
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::connections_per_worker;

    #[test]
    fn connections_fit_in_the_open_files_limit() {
        // 20,000 descriptors, 2 workers per server, 2 servers, 2 descriptors each.
        let per = connections_per_worker(20_000, 2);
        assert_eq!(per, 2372);
        assert!(2 * 2 * 2 * per as u64 + 1024 <= 20_000);
        // A tiny limit still lets each worker take some; a huge one is capped.
        assert_eq!(connections_per_worker(1024, 8), 1);
        assert_eq!(connections_per_worker(4096, 2), 384);
        assert_eq!(connections_per_worker(1 << 20, 2), 25_000);
    }
}
