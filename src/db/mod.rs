//! The storage layer: diesel on bundled SQLite (the default) or PostgreSQL.
//!
//! Every query, every transaction and the connection type live under `db/`; the rest of
//! the master calls the named async functions of the repositories (one module per
//! aggregate: `db.users()`, `db.commands()`, `db.notify()`, …), never a connection. Each
//! repository method runs one named function of its module, as a read on the pool or as
//! a write (see [`Db::write`]); transactions are opened inside those functions only.
//!
//! - **SQLite: one writer.** Every write runs on a single `SyncArbiter` thread that owns
//!   the only writing connection, so SQLite never sees two writers fight over its lock.
//!   Reads run on the blocking pool with their own connections; WAL lets them proceed
//!   while the writer commits. WAL with `synchronous=NORMAL`: a committed transaction
//!   survives `kill -9`; only a power loss may lose the last few.
//! - **PostgreSQL: a pool.** Reads and writes share one pool of `MASTER_DB_MAX_CONNS`
//!   connections and run concurrently, so every state change that must happen once is a
//!   compare-and-set in SQL (`UPDATE … WHERE status = 'pending'`), never read-then-write.
//!   A lost connection fails the request with 503, shows on `/ready` and `/metrics`, and
//!   is replaced on the next checkout.
//! - Migrations are embedded per engine (`migrations/sqlite`, `migrations/postgres`, the
//!   same semantics) and run at startup.

pub mod agents;
pub mod ai;
pub mod audit;
pub mod changes;
pub mod clusters;
pub mod commands;
mod conn;
pub mod copy;
pub mod events;
pub mod health;
pub mod metrics;
pub mod notify;
pub mod retention;
pub mod schema;
pub mod slo;
pub mod store;
pub mod users;

pub(crate) use conn::on_engine;
pub use conn::{sql, DbConn, Engine, MultiBackend};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tokio::sync::oneshot;

/// The SQLite migrations, compiled in.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// The PostgreSQL migrations (the same schema, in PostgreSQL's types), compiled in.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long a connection waits on a locked database before failing. Long enough to ride
/// out a checkpoint or a backup, short enough to surface a real deadlock.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// How long a request waits for a pooled connection before answering 503. A PostgreSQL
/// that is down must fail requests quickly, not hold every worker.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the readiness probe waits for a connection: under `/ready`'s own 2 s limit,
/// so the reply carries the connection error rather than "timed out".
const PING_CHECKOUT: Duration = Duration::from_millis(1_500);

/// How long startup keeps retrying a PostgreSQL that does not answer yet (a database
/// container that starts beside the master), before it gives up with the reason.
const STARTUP_RETRY: Duration = Duration::from_secs(30);

type DbPool = Pool<Manager>;

/// A boxed SQL condition on `table` `T`, for filters built at run time.
pub type Cond<T> =
    Box<dyn diesel::BoxableExpression<T, MultiBackend, SqlType = diesel::sql_types::Bool>>;

/// `a OR b OR …`; no condition at all matches nothing (`1 = 0`).
pub fn any_of<T: 'static>(conds: impl IntoIterator<Item = Cond<T>>) -> Cond<T> {
    use diesel::BoolExpressionMethods as _;
    let mut conds = conds.into_iter();
    match conds.next() {
        Some(first) => conds.fold(first, |acc, c| Box::new(acc.or(c))),
        None => Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 0")),
    }
}

/// A database failure. Shown to operators in logs only; clients get a generic 500/503.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be had.
    #[error("connection pool: {0}")]
    Pool(String),
    /// Migrations failed at startup.
    #[error("migrations: {0}")]
    Migration(String),
    /// The database file or its directory.
    #[error("database file: {0}")]
    Io(#[from] std::io::Error),
    /// Stored data that does not parse (a corrupted row).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// What this engine cannot do (e.g. an online file backup of PostgreSQL).
    #[error("{0}")]
    Unsupported(&'static str),
    /// The writer thread or blocking pool is gone (shutdown).
    #[error("database worker unavailable")]
    Gone,
    /// A storage fault the engine reported in other words (an I/O error found to be a
    /// read-only file, see [`health::diagnose`]).
    #[error("{1}")]
    Storage(health::StorageFault, String),
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Pool(e.to_string())
    }
}

/// Where the data lives.
#[derive(Clone)]
pub enum Location {
    /// A SQLite file (created with its directory when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://…`).
    Postgres(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            // The URL may carry a password: never printed.
            Location::Postgres(_) => f.write_str("postgres:[REDACTED]"),
        }
    }
}

impl Location {
    /// The engine this target runs on.
    pub fn engine(&self) -> Engine {
        match self {
            Location::Sqlite(_) => Engine::Sqlite,
            Location::Postgres(_) => Engine::Postgres,
        }
    }

    /// The target the settings name.
    pub fn from_settings(s: &crate::config::Settings) -> Result<Location, DbError> {
        use secrecy::ExposeSecret;
        match s.db_type {
            crate::config::DbType::Sqlite => Ok(Location::Sqlite(s.db_path.clone())),
            crate::config::DbType::Postgres => s
                .db_dsn
                .as_ref()
                .map(|d| Location::Postgres(d.expose_secret().to_owned()))
                .ok_or(DbError::Pool("db_type = postgres requires db_dsn".into())),
        }
    }

    /// Opens one connection (no pool), with the engine's session settings.
    pub fn connect(&self) -> Result<DbConn, DbError> {
        Manager::new(self.clone())
            .connect()
            .map_err(|e| DbError::Pool(e.to_string()))
    }
}

/// Makes connections of one engine; applies SQLite's pragmas to each.
#[derive(Debug)]
struct Manager {
    target: Location,
}

impl Manager {
    fn new(target: Location) -> Self {
        Self { target }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        use diesel::r2d2::Error;
        match &self.target {
            Location::Sqlite(path) => {
                let mut c = diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(Error::ConnectionError)?;
                c.batch_execute(&format!(
                    "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
                ))
                .map_err(Error::QueryError)?;
                Ok(DbConn::Sqlite(c))
            }
            Location::Postgres(url) => {
                let mut c = diesel::PgConnection::establish(url).map_err(Error::ConnectionError)?;
                // Times are `timestamp without time zone` holding UTC; `now()` in SQL must
                // agree with them.
                c.batch_execute("SET TIME ZONE 'UTC'")
                    .map_err(Error::QueryError)?;
                Ok(DbConn::Postgres(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// One write on the writer's connection, given the writer's [`WalGuard`] to make the write
/// durable before it is acknowledged; it returns true when the connection must be dropped
/// (after a read-only or I/O fault), so a later write opens a fresh one.
type JobFn = Box<dyn FnOnce(Result<&mut DbConn, DbError>, &mut WalGuard) -> bool + Send>;

/// One unit of work for the SQLite writer thread.
struct Job(JobFn);

impl Message for Job {
    type Result = ();
}

/// The writer's check that its WAL is still the file on disk (see [`health`]).
#[derive(Clone)]
struct WalGuard {
    watch: health::WalWatch,
    /// Set once a lost WAL was checkpointed: the writer reopens every connection.
    rebuild: bool,
}

/// How long a lost WAL's checkpoint waits for readers to let go of it.
const WAL_CHECKPOINT_TRIES: u32 = 50;

impl WalGuard {
    /// After a write on `conn`: when the WAL that `conn` writes to is no longer the file on
    /// disk (deleted or replaced), copies it into the main file now, through `conn`, which
    /// still holds it open, so the write is durable before it is acknowledged. An error
    /// when readers held the checkpoint back for five seconds: the write is then not known
    /// to survive a crash, and is not acknowledged.
    fn secure(&mut self, conn: &mut DbConn) -> Result<(), DbError> {
        use diesel::RunQueryDsl;
        if self.rebuild || !self.watch.lost() {
            return Ok(());
        }
        let DbConn::Sqlite(c) = conn else {
            return Ok(());
        };
        tracing::error!(wal = %self.watch.path().display(), "the SQLite WAL file was deleted or replaced under the running master; checkpointing it through the writer's open connection, then reopening every connection");
        for _ in 0..WAL_CHECKPOINT_TRIES {
            let reply: Vec<CheckpointReply> =
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").load(c)?;
            if reply.first().is_some_and(|r| r.busy == 0) {
                self.rebuild = true;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(DbError::Storage(
            health::StorageFault::Io,
            "the WAL file was deleted or replaced and readers held its checkpoint back".into(),
        ))
    }
}

/// SQLite's single writer. Owns a one-connection pool (so a broken connection is replaced),
/// whose connection is never reaped while it works: it keeps the WAL open.
struct DbWriter {
    pool: DbPool,
    target: Location,
    wal: WalGuard,
    /// The readers' pool, replaced after a WAL rebuild.
    readers: std::sync::Weak<RwLock<DbPool>>,
    max_readers: u32,
    health: Arc<health::Health>,
    /// When the connection was last reopened after a fault (at most once a second).
    reopened: Option<std::time::Instant>,
}

impl Actor for DbWriter {
    type Context = SyncContext<Self>;
}

impl DbWriter {
    /// A fresh connection (the old one closed first), and the WAL it opened learnt.
    fn reopen(&mut self) {
        self.pool = writer_pool(&self.target);
        self.reopened = Some(std::time::Instant::now());
        if self.pool.get().is_ok() {
            self.wal.watch.learn();
        }
    }
}

impl Handler<Job> for DbWriter {
    type Result = ();
    fn handle(&mut self, job: Job, _: &mut SyncContext<Self>) {
        let drop_connection = match self.pool.get() {
            Ok(mut conn) => (job.0)(Ok(&mut conn), &mut self.wal),
            Err(e) => (job.0)(Err(e.into()), &mut self.wal),
        };
        if self.wal.rebuild {
            // Everything the lost WAL held is in the main file: every connection starts
            // over, which starts a new WAL.
            if let Some(readers) = self.readers.upgrade() {
                if let Ok(mut p) = readers.write() {
                    *p = pool(&self.target, self.max_readers);
                }
            }
            self.reopen();
            self.wal.rebuild = false;
            self.health.count_wal_rebuild();
            tracing::warn!("SQLite WAL rebuilt: every acknowledged write is in the main file");
        } else if drop_connection
            && self
                .reopened
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.reopen();
        }
    }
}

/// Where writes go.
#[derive(Clone)]
enum Writer {
    /// SQLite: the one writer thread, in submission order.
    Single(Addr<DbWriter>),
    /// PostgreSQL: the shared pool, concurrently.
    Pooled,
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    /// The readers (SQLite) or every connection (PostgreSQL); replaced when the WAL
    /// watchdog rebuilds a lost WAL.
    pool: Arc<RwLock<DbPool>>,
    /// Storage faults seen by the writes ([`health`]).
    health: Arc<health::Health>,
    writer: Writer,
    /// Writes submitted and not finished yet (the writer's backlog, for `/metrics`).
    writer_queue: Arc<AtomicU64>,
    target: Location,
    /// Checkouts that failed since start (`/metrics`: a lost PostgreSQL shows here).
    checkout_errors: Arc<AtomicU64>,
}

/// The connection pool and the writer queue right now (`/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Pooled connections open.
    pub connections: u32,
    /// Pooled connections open and idle.
    pub idle: u32,
    /// The pool's size limit (`db_max_conns`).
    pub max: u32,
    /// Writes waiting for, or running on, a writer.
    pub writer_queue: u64,
    /// Connection checkouts that failed since start.
    pub checkout_errors: u64,
    /// Storage faults (disk full, read-only, I/O, unreachable) seen by writes since start.
    pub storage_faults: u64,
    /// Lost WAL files rebuilt by the watchdog since start.
    pub wal_rebuilds: u64,
}

/// One write counted in the writer queue until it is finished or dropped unrun.
struct Queued(Arc<AtomicU64>);

impl Queued {
    fn new(queue: &Arc<AtomicU64>) -> Self {
        queue.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(queue))
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn pool(target: &Location, size: u32) -> DbPool {
    Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(0))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .build_unchecked(Manager::new(target.clone()))
}

/// SQLite's writer: one connection, kept open (not reaped when idle nor recycled by age) so
/// the WAL it opened stays the one on disk while the master runs.
fn writer_pool(target: &Location) -> DbPool {
    Pool::builder()
        .max_size(1)
        .min_idle(Some(0))
        .idle_timeout(None)
        .max_lifetime(None)
        .connection_timeout(CHECKOUT_TIMEOUT)
        .build_unchecked(Manager::new(target.clone()))
}

/// How often the WAL watchdog has the writer look at the `-wal` file when no write does.
const WAL_WATCH_EVERY: Duration = Duration::from_secs(1);

/// `PRAGMA wal_checkpoint(TRUNCATE)`'s reply.
#[derive(diesel::QueryableByName)]
struct CheckpointReply {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
}

/// The PostgreSQL advisory lock held while migrating.
const MIGRATIONS_LOCK: i64 = 0x6174_6c68_6d69_6731; // "atlhmig1"

pub mod locks;

/// Runs the engine's migrations on `conn`.
pub fn migrate(conn: &mut DbConn) -> Result<(), DbError> {
    let result = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
        DbConn::Postgres(c) => {
            // Replicas starting together on a fresh database: one migrates, the others
            // wait on this session lock and then find nothing pending.
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATIONS_LOCK})"))
                .map_err(|e| DbError::Migration(e.to_string()))?;
            let r = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop);
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATIONS_LOCK})"));
            r
        }
    };
    result.map_err(|e| DbError::Migration(e.to_string()))
}

/// A migrated in-memory SQLite connection, for the repositories' unit tests.
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
pub(crate) fn test_conn() -> DbConn {
    let mut c = Location::Sqlite(":memory:".into()).connect().unwrap();
    migrate(&mut c).unwrap();
    c
}

impl Db {
    /// Opens (creating it and its directory if needed) the SQLite file at `path`, runs the
    /// migrations and starts the writer thread. Must run inside an actix `System`.
    pub fn open(path: &Path, max_readers: u32) -> Result<Db, DbError> {
        Db::connect(Location::Sqlite(path.to_path_buf()), max_readers)
    }

    /// Opens `target`, runs its migrations and starts its writer. PostgreSQL that does not
    /// answer yet is retried for a while. Must run inside an actix `System`.
    pub fn connect(target: Location, max_conns: u32) -> Result<Db, DbError> {
        let checkout_errors = Arc::new(AtomicU64::new(0));
        let writer_queue = Arc::new(AtomicU64::new(0));
        match &target {
            Location::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let first = writer_pool(&target);
                migrate(&mut *first.get()?)?;
                let readers = Arc::new(RwLock::new(pool(&target, max_conns)));
                let health = Arc::new(health::Health::default());
                let mut watch = health::WalWatch::new(path);
                // The WAL the writer's connection (open since the migrations) uses.
                watch.learn();
                let writer = {
                    let (target, readers, health) = (
                        target.clone(),
                        Arc::downgrade(&readers),
                        Arc::clone(&health),
                    );
                    SyncArbiter::start(1, move || DbWriter {
                        pool: first.clone(),
                        target: target.clone(),
                        wal: WalGuard {
                            watch: watch.clone(),
                            rebuild: false,
                        },
                        readers: readers.clone(),
                        max_readers: max_conns,
                        health: Arc::clone(&health),
                        reopened: None,
                    })
                };
                let db = Db {
                    pool: readers,
                    health,
                    writer: Writer::Single(writer),
                    writer_queue,
                    target,
                    checkout_errors,
                };
                db.watch_wal();
                Ok(db)
            }
            Location::Postgres(_) => {
                let pool = pool(&target, max_conns);
                let deadline = std::time::Instant::now() + STARTUP_RETRY;
                let mut conn = loop {
                    match pool.get() {
                        Ok(c) => break c,
                        Err(e) if std::time::Instant::now() < deadline => {
                            tracing::warn!(error = %e, "PostgreSQL not reachable yet; retrying");
                            std::thread::sleep(Duration::from_secs(1));
                        }
                        Err(e) => return Err(e.into()),
                    }
                };
                migrate(&mut conn)?;
                drop(conn);
                Ok(Db {
                    pool: Arc::new(RwLock::new(pool)),
                    health: Arc::default(),
                    writer: Writer::Pooled,
                    writer_queue,
                    target,
                    checkout_errors,
                })
            }
        }
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        self.target.engine()
    }

    /// The SQLite file, if that is the engine.
    pub fn path(&self) -> Option<&Path> {
        match &self.target {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// A pooled connection, waiting at most `wait`; a failure is counted for `/metrics`.
    fn checkout(&self, wait: Duration) -> Result<diesel::r2d2::PooledConnection<Manager>, DbError> {
        self.current_pool().get_timeout(wait).map_err(|e| {
            self.checkout_errors.fetch_add(1, Ordering::Relaxed);
            DbError::from(e)
        })
    }

    /// Runs `f` as a write: on SQLite's single writer thread, on PostgreSQL on a pooled
    /// connection. The work is done even if the caller stops waiting, so an acknowledged
    /// write is never half-abandoned.
    ///
    /// For the storage layer, and for tests and benches that set up or inspect rows; the
    /// rest of the master calls the repositories (a test in `db::layering` holds that).
    pub async fn write<R, F>(&self, f: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<R, DbError> + Send + 'static,
    {
        let queued = Queued::new(&self.writer_queue);
        let health = Arc::clone(&self.health);
        match &self.writer {
            Writer::Single(writer) => {
                let (tx, rx) = oneshot::channel();
                let file = self.path().map(Path::to_path_buf);
                writer.do_send(Job(Box::new(move |conn, wal| {
                    let r = conn
                        .and_then(|c| {
                            let r = f(c);
                            wal.secure(c)?;
                            r
                        })
                        .map_err(|e| match &file {
                            Some(file) => health::diagnose(e, file),
                            None => e,
                        });
                    health.observe(&r);
                    let suspect = matches!(
                        r.as_ref().err().and_then(health::classify),
                        Some(health::StorageFault::ReadOnly | health::StorageFault::Io)
                    );
                    let _ = tx.send(r);
                    drop(queued);
                    suspect
                })));
                rx.await.map_err(|_| DbError::Gone)?
            }
            Writer::Pooled => {
                let db = self.clone();
                tokio::task::spawn_blocking(move || {
                    let r = db
                        .checkout(CHECKOUT_TIMEOUT)
                        .and_then(|mut conn| f(&mut conn));
                    health.observe(&r);
                    drop(queued);
                    r
                })
                .await
                .map_err(|_| DbError::Gone)?
            }
        }
    }

    /// The pool reads (and, on PostgreSQL, writes) check out from.
    fn current_pool(&self) -> DbPool {
        match self.pool.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Starts the WAL watchdog (SQLite): a thread that, every second, has the writer check
    /// its WAL as every write does ([`WalGuard::secure`]), so a WAL deleted while nothing
    /// is written is rebuilt too. It ends when the last handle to this database is dropped.
    fn watch_wal(&self) {
        let Writer::Single(writer) = &self.writer else {
            return;
        };
        let (writer, health) = (writer.clone(), Arc::clone(&self.health));
        let alive = Arc::downgrade(&self.pool);
        let spawned = std::thread::Builder::new()
            .name("wal-watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(WAL_WATCH_EVERY);
                if alive.strong_count() == 0 {
                    return;
                }
                let health = Arc::clone(&health);
                writer.do_send(Job(Box::new(move |conn, wal| {
                    if let Ok(c) = conn {
                        // Only a failure is news: a success here proves nothing about
                        // another fault in force.
                        let r = wal.secure(c);
                        if r.is_err() {
                            health.observe(&r);
                        }
                    }
                    false
                })));
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "WAL watchdog not started");
        }
    }

    /// Runs `f` on the blocking pool with a pooled connection (see [`Db::write`] on who
    /// may call it).
    pub async fn read<R, F>(&self, f: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<R, DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.checkout(CHECKOUT_TIMEOUT)?;
            f(&mut conn)
        })
        .await
        .map_err(|_| DbError::Gone)?
    }

    /// Users, their tokens and the agent tokens.
    pub fn users(&self) -> users::Users<'_> {
        users::Users(self)
    }

    /// The cluster registry's rows.
    pub fn clusters(&self) -> clusters::Clusters<'_> {
        clusters::Clusters(self)
    }

    /// The durable command lifecycle.
    pub fn commands(&self) -> commands::Commands<'_> {
        commands::Commands(self)
    }

    /// Stored Kubernetes events.
    pub fn events(&self) -> events::Events<'_> {
        events::Events(self)
    }

    /// Agent rows and the agent version catalogue.
    pub fn agents(&self) -> agents::Agents<'_> {
        agents::Agents(self)
    }

    /// The change history and the inventory each cluster is diffed against.
    pub fn changes(&self) -> changes::Changes<'_> {
        changes::Changes(self)
    }

    /// Node metrics: latest rows and sampled history.
    pub fn node_metrics(&self) -> metrics::NodeMetrics<'_> {
        metrics::NodeMetrics(self)
    }

    /// The SLO tables.
    pub fn slo(&self) -> slo::Slo<'_> {
        slo::Slo(self)
    }

    /// The audit log and security events.
    pub fn audit(&self) -> audit::Audit<'_> {
        audit::Audit(self)
    }

    /// Alert rules, alerts, silences, channels and the delivery outbox.
    pub fn notify(&self) -> notify::Notify<'_> {
        notify::Notify(self)
    }

    /// The AI assistant's providers, configuration, conversations and proposals.
    pub fn ai(&self) -> ai::Ai<'_> {
        ai::Ai(self)
    }

    /// The retention policy, batched deletes and backups.
    pub fn retention(&self) -> retention::Retention<'_> {
        retention::Retention(self)
    }

    /// The pool's connections and the writer's backlog (cheap: one short lock).
    pub fn pool_usage(&self) -> PoolUsage {
        let pool = self.current_pool();
        let state = pool.state();
        PoolUsage {
            connections: state.connections,
            idle: state.idle_connections,
            max: pool.max_size(),
            writer_queue: self.writer_queue.load(Ordering::Relaxed),
            checkout_errors: self.checkout_errors.load(Ordering::Relaxed),
            storage_faults: self.health.faults_seen(),
            wal_rebuilds: self.health.wal_rebuilds(),
        }
    }

    /// Ok when a trivial query answers (readiness probe); the error says why not (for a
    /// PostgreSQL that is gone: the connection error, e.g. "connection refused").
    pub async fn ping(&self) -> Result<(), DbError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.checkout(PING_CHECKOUT)?;
            conn.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await
        .map_err(|_| DbError::Gone)?
    }

    /// `/ready`'s database check: the database answers, and no storage fault is in force.
    /// While one is, a one-row write (`storage_probe` in `settings`) tests whether it has
    /// cleared, so readiness returns without waiting for a client's write. The error text
    /// names the fault and when it began.
    pub async fn readiness(&self) -> Result<(), String> {
        self.ping().await.map_err(|e| e.to_string())?;
        if self.health.current().is_none() {
            return Ok(());
        }
        let probe = self
            .write(|c| {
                c.batch_execute(
                    "INSERT INTO settings (key, value, description, updated_at) \
                     VALUES ('storage_probe', 'ok', 'written by /ready while a storage fault lasts', CURRENT_TIMESTAMP) \
                     ON CONFLICT (key) DO UPDATE SET updated_at = CURRENT_TIMESTAMP",
                )?;
                Ok(())
            })
            .await;
        match (probe, self.health.current()) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(fault)) => Err(fault.readiness()),
            (Err(e), None) => Err(e.to_string()),
        }
    }

    /// Flushes what the engine buffers (SQLite: checkpoints the WAL into the main file) at
    /// shutdown.
    pub async fn checkpoint(&self) -> Result<(), DbError> {
        self.write(|c| {
            if let DbConn::Sqlite(c) = c {
                c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
            }
            Ok(())
        })
        .await
    }
}

/// True for an insert or update refused by a UNIQUE constraint, on either engine.
pub(crate) fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// UTC time as stored: diesel's `Timestamp` text, one sortable format everywhere.
pub fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Stored time back to UTC.
pub fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

#[cfg(test)]
mod layering {
    //! The storage layer is the only home of diesel, SQL, transactions and connections:
    //! every other module under `src/` calls named repository methods.
    #![allow(clippy::unwrap_used, reason = "test")]

    /// What only `src/db/` may write (whitespace removed before matching, so a call
    /// split over lines is still found).
    const FORBIDDEN: [&str; 14] = [
        "diesel::",
        "usediesel",
        "DbConn",
        "SqliteConnection",
        "PgConnection",
        "sql_query",
        "transaction(",
        ".read(move|",
        ".read(|",
        ".write(move|",
        ".write(|",
        "db.read(",
        "db.write(",
        "db.now(",
    ];

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn only_the_storage_layer_touches_the_database() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut found = Vec::new();
        for file in files.iter().filter(|f| !f.starts_with(src.join("db"))) {
            let text = std::fs::read_to_string(file).unwrap();
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<String>()
                .split_whitespace()
                .collect();
            for needle in FORBIDDEN {
                if code.contains(needle) {
                    found.push(format!("{}: {needle}", file.display()));
                }
            }
        }
        assert!(found.is_empty(), "outside src/db/:\n{}", found.join("\n"));
        assert!(files.len() > 50, "the scan saw the source tree");
    }
}
