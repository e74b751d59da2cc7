//! The embedded database: diesel on bundled SQLite.
//!
//! - **One writer.** Every write runs on a single `SyncArbiter` thread that owns the only
//!   writing connection, so SQLite never sees two writers fight over its lock and writes
//!   are applied in the order they were submitted.
//! - **Pooled readers.** Reads run on the blocking pool with their own connections; WAL
//!   lets them proceed while the writer commits.
//! - **Durability.** WAL with `synchronous=NORMAL`: a committed transaction survives a
//!   process crash (`kill -9`); only a power loss may lose the last few.
//! - Migrations are embedded and run at startup.

pub mod audit;
pub mod clusters;
pub mod commands;
pub mod events;
pub mod metrics;
pub mod notify;
pub mod retention;
pub mod schema;
pub mod store;
pub mod users;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tokio::sync::oneshot;

/// The migrations in `migrations/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long a connection waits on a locked database before failing. Long enough to ride
/// out a checkpoint or a backup, short enough to surface a real deadlock.
const BUSY_TIMEOUT_MS: u32 = 5_000;

type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

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
    /// The writer thread or blocking pool is gone (shutdown).
    #[error("database worker unavailable")]
    Gone,
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Pool(e.to_string())
    }
}

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

type JobFn = Box<dyn FnOnce(Result<&mut SqliteConnection, DbError>) + Send>;

/// One unit of work for the writer thread.
struct Job(JobFn);

impl Message for Job {
    type Result = ();
}

/// The single writer. Owns a one-connection pool (so a broken connection is replaced).
struct DbWriter {
    pool: SqlitePool,
}

impl Actor for DbWriter {
    type Context = SyncContext<Self>;
}

impl Handler<Job> for DbWriter {
    type Result = ();
    fn handle(&mut self, job: Job, _: &mut SyncContext<Self>) {
        match self.pool.get() {
            Ok(mut conn) => (job.0)(Ok(&mut conn)),
            Err(e) => (job.0)(Err(e.into())),
        }
    }
}

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    readers: SqlitePool,
    writer: Addr<DbWriter>,
    /// Writes submitted and not finished yet (the writer's backlog, for `/metrics`).
    writer_queue: Arc<AtomicU64>,
    path: PathBuf,
}

/// The reader pool and the writer queue right now (`/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Reader connections open.
    pub connections: u32,
    /// Reader connections open and idle.
    pub idle: u32,
    /// The reader pool's size limit (`db_max_conns`).
    pub max: u32,
    /// Writes waiting for, or running on, the single writer.
    pub writer_queue: u64,
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

impl Db {
    /// Opens (creating it and its directory if needed) the SQLite file at `path`, runs the
    /// migrations and starts the writer thread. Must run inside an actix `System`.
    pub fn open(path: &Path, max_readers: u32) -> Result<Db, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let url = path.to_string_lossy().into_owned();
        let build = |size: u32| {
            Pool::builder()
                .max_size(size)
                .connection_timeout(Duration::from_secs(10))
                .connection_customizer(Box::new(Pragmas))
                .build(ConnectionManager::<SqliteConnection>::new(url.clone()))
        };
        let writer_pool = build(1)?;
        {
            let mut conn = writer_pool.get()?;
            conn.run_pending_migrations(MIGRATIONS)
                .map_err(|e| DbError::Migration(e.to_string()))?;
        }
        let readers = build(max_readers.max(1))?;
        let writer = SyncArbiter::start(1, move || DbWriter {
            pool: writer_pool.clone(),
        });
        Ok(Db {
            readers,
            writer,
            writer_queue: Arc::new(AtomicU64::new(0)),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the single writer thread. The work is done even if the caller stops
    /// waiting, so an acknowledged write is never half-abandoned.
    pub async fn write<R, F>(&self, f: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<R, DbError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let queued = Queued::new(&self.writer_queue);
        self.writer.do_send(Job(Box::new(move |conn| {
            let _ = tx.send(conn.and_then(f));
            drop(queued);
        })));
        rx.await.map_err(|_| DbError::Gone)?
    }

    /// Runs `f` on the blocking pool with a reader connection.
    pub async fn read<R, F>(&self, f: F) -> Result<R, DbError>
    where
        R: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> Result<R, DbError> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|_| DbError::Gone)?
    }

    /// Runs `f` synchronously with a reader connection (startup only).
    pub fn read_now<R>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> Result<R, DbError>,
    ) -> Result<R, DbError> {
        let mut conn = self.readers.get()?;
        f(&mut conn)
    }

    /// The reader pool's connections and the writer's backlog (cheap: one short lock).
    pub fn pool_usage(&self) -> PoolUsage {
        let state = self.readers.state();
        PoolUsage {
            connections: state.connections,
            idle: state.idle_connections,
            max: self.readers.max_size(),
            writer_queue: self.writer_queue.load(Ordering::Relaxed),
        }
    }

    /// True when a trivial query answers (readiness probe).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read(|c| {
            c.batch_execute("SELECT 1")?;
            Ok(())
        })
        .await
    }
}

/// UTC time as stored: diesel's `Timestamp` text, one sortable format everywhere.
pub fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Stored time back to UTC.
pub fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}
