//! Storage faults: what a failed query says about the storage under it, the fault in force
//! (for 503 replies and `/ready`), and the SQLite WAL watchdog.
//!
//! - Every write's outcome is observed ([`Health::observe`]): a failure that is a storage
//!   fault (disk full, read-only, I/O error, database unreachable) is recorded with its
//!   detail and time; the next write that succeeds clears it. While a fault is recorded,
//!   `/ready` tries a one-row write (`storage_probe` in `settings`) so it reports the
//!   fault's end as soon as the storage works again, without waiting for a client's write.
//! - Clients get 503 with a code naming the fault (`storage_full`, `storage_read_only`,
//!   `storage_io_error`, or `unavailable` for a database that cannot be reached), never a
//!   500; nothing is acknowledged that was not stored.
//! - The SQLite writer reopens its connection after a read-only or I/O fault (at most once
//!   a second), so the fault's end is seen by a fresh connection (one opened while the file
//!   was read-only stays read-only for its lifetime).
//! - The WAL check (SQLite, [`WalWatch`]): after every write, before it is acknowledged,
//!   the writer checks that the `-wal` file it uses is still the one on disk, and a
//!   watchdog thread has it check once a second when nothing is written. A deleted (or
//!   replaced) WAL would leave every write since the last checkpoint only in an unlinked
//!   file, lost at the next crash, and would let new connections read the main file without
//!   it. On finding that, the writer checkpoints the old WAL into the main file through the
//!   connection that still holds it, and every connection is reopened, which starts a new
//!   WAL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::DbError;

/// The kinds of storage trouble a client or an operator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// The filesystem (or PostgreSQL's disk) is full.
    Full,
    /// The database file, its directory or its filesystem refuses writes.
    ReadOnly,
    /// The storage failed an I/O (or the WAL was lost).
    Io,
    /// The database cannot be reached (PostgreSQL down, no connection to be had).
    Unreachable,
}

impl StorageFault {
    /// Words for `/ready` and the logs.
    pub fn describe(self) -> &'static str {
        match self {
            StorageFault::Full => "disk full",
            StorageFault::ReadOnly => "database is read-only",
            StorageFault::Io => "storage I/O error",
            StorageFault::Unreachable => "database unreachable",
        }
    }

    /// What a refused write's message says to the client.
    pub fn client_message(self) -> &'static str {
        match self {
            StorageFault::Full => {
                "the database's disk is full: writes are refused until space is freed; nothing \
                 already stored is affected"
            }
            StorageFault::ReadOnly => {
                "the database is read-only: writes are refused until it is writable again; \
                 reads still work"
            }
            StorageFault::Io => "the database's storage failed an I/O; try again",
            StorageFault::Unreachable => "database unavailable",
        }
    }
}

/// PostgreSQL messages of a connection that is gone.
const GONE_CONNECTION: [&str; 7] = [
    "server closed the connection",
    "no connection to the server",
    "terminating connection",
    "could not receive data from server",
    "could not send data to server",
    "connection refused",
    "the database system is shutting down",
];

/// The storage fault `e` is, if it is one.
pub fn classify(e: &DbError) -> Option<StorageFault> {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        DbError::Storage(kind, _) => Some(*kind),
        DbError::Pool(_) | DbError::Gone => Some(StorageFault::Unreachable),
        DbError::Io(io) => Some(match io.raw_os_error() {
            Some(ENOSPC) => StorageFault::Full,
            Some(EROFS | EPERM | EACCES) => StorageFault::ReadOnly,
            _ => StorageFault::Io,
        }),
        DbError::Query(Error::DatabaseError(kind, info)) => {
            let msg = info.message().to_ascii_lowercase();
            if msg.contains("database or disk is full")
                || msg.contains("no space left")
                || msg.contains("could not extend file")
                || msg.contains("disk full")
            {
                Some(StorageFault::Full)
            } else if msg.contains("readonly database")
                || msg.contains("read-only file system")
                || matches!(kind, DatabaseErrorKind::ReadOnlyTransaction)
            {
                Some(StorageFault::ReadOnly)
            } else if msg.contains("disk i/o error")
                || msg.contains("unable to open database file")
                || msg.contains("database disk image is malformed")
            {
                Some(StorageFault::Io)
            } else if matches!(kind, DatabaseErrorKind::ClosedConnection)
                || GONE_CONNECTION.iter().any(|g| msg.contains(g))
            {
                Some(StorageFault::Unreachable)
            } else {
                None
            }
        }
        DbError::Query(Error::BrokenTransactionManager) => Some(StorageFault::Unreachable),
        _ => None,
    }
}

/// SQLite reports a write the filesystem refused (`EPERM`, `EROFS`) as a plain "disk I/O
/// error". When `e` is that, looks at the file and its WAL: if either cannot be opened for
/// writing, the fault is a read-only database, and `e` becomes [`DbError::Storage`] saying so.
pub fn diagnose(e: DbError, db: &Path) -> DbError {
    if classify(&e) != Some(StorageFault::Io) {
        return e;
    }
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    // `access(W_OK)`, not an open: closing a descriptor of the database file would drop
    // every POSIX lock this process holds on it (SQLite's own locks included).
    let refused = [db.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter(|p| p.exists())
        .find_map(|p| {
            writable(p)
                .err()
                .filter(|err| matches!(err.raw_os_error(), Some(EROFS | EPERM | EACCES)))
                .map(|err| format!("{}: {err}", p.display()))
        });
    match refused {
        Some(why) => DbError::Storage(StorageFault::ReadOnly, format!("{e} ({why})")),
        None => e,
    }
}

/// Whether this process may write `p` (the kernel's answer: an immutable file, a read-only
/// mount and, for others than root, permissions).
#[cfg(unix)]
fn writable(p: &Path) -> std::io::Result<()> {
    rustix::fs::access(p, rustix::fs::Access::WRITE_OK).map_err(std::io::Error::from)
}

#[cfg(not(unix))]
fn writable(p: &Path) -> std::io::Result<()> {
    match std::fs::metadata(p)?.permissions().readonly() {
        true => Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        false => Ok(()),
    }
}

// errno values (Linux, and the same on the BSDs and macOS for these four).
const EPERM: i32 = 1;
const EACCES: i32 = 13;
const ENOSPC: i32 = 28;
const EROFS: i32 = 30;

/// A fault in force.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What kind.
    pub kind: StorageFault,
    /// The engine's own words.
    pub detail: String,
    /// When it was first seen (since the last success).
    pub since: DateTime<Utc>,
}

impl Fault {
    /// `/ready`'s text: `disk full since …: database or disk is full`.
    pub fn readiness(&self) -> String {
        format!(
            "{} since {}: {}",
            self.kind.describe(),
            self.since.format("%Y-%m-%dT%H:%M:%SZ"),
            self.detail
        )
    }
}

/// The storage's health as the writes see it. One per [`super::Db`], shared by its clones.
#[derive(Debug, Default)]
pub struct Health {
    fault: Mutex<Option<Fault>>,
    /// Storage faults seen since start (`/metrics`).
    faults: AtomicU64,
    /// Times the WAL watchdog found the WAL gone and rebuilt it.
    wal_rebuilds: AtomicU64,
}

impl Health {
    /// Records a write's outcome: a storage fault is remembered (the first time with a
    /// log line), a success ends it; other errors (a constraint, a bad row) say nothing
    /// about the storage.
    pub fn observe<R>(&self, r: &Result<R, DbError>) {
        match r {
            Ok(_) => self.clear(),
            Err(e) => {
                if let Some(kind) = classify(e) {
                    self.set(kind, e.to_string());
                }
            }
        }
    }

    /// Records a fault (keeping the first time it was seen).
    fn set(&self, kind: StorageFault, detail: String) {
        let Ok(mut f) = self.fault.lock() else {
            return;
        };
        if f.as_ref().is_none_or(|old| old.kind != kind) {
            tracing::error!(fault = kind.describe(), error = %detail, "storage fault: writes refused until it clears");
            self.faults.fetch_add(1, Ordering::Relaxed);
            *f = Some(Fault {
                kind,
                detail,
                since: Utc::now(),
            });
        }
    }

    /// Ends the fault in force, if any.
    fn clear(&self) {
        if let Ok(mut f) = self.fault.lock() {
            if let Some(old) = f.take() {
                tracing::warn!(fault = old.kind.describe(), since = %old.since, "storage fault cleared: writes accepted again");
            }
        }
    }

    /// The fault in force.
    pub fn current(&self) -> Option<Fault> {
        self.fault.lock().ok().and_then(|f| f.clone())
    }

    /// Storage faults seen since start.
    pub fn faults_seen(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }

    /// WAL rebuilds since start.
    pub fn wal_rebuilds(&self) -> u64 {
        self.wal_rebuilds.load(Ordering::Relaxed)
    }

    pub(super) fn count_wal_rebuild(&self) {
        self.wal_rebuilds.fetch_add(1, Ordering::Relaxed);
    }
}

/// The identity of a file on disk (device, inode), if it exists.
#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|_| (0, 0))
}

/// Watches one SQLite file's WAL: [`WalWatch::lost`] is true when the WAL the connections
/// opened is no longer the file on disk.
#[derive(Debug, Clone)]
pub struct WalWatch {
    wal: PathBuf,
    known: Option<(u64, u64)>,
}

impl WalWatch {
    /// Watches `db`'s `-wal` file.
    pub fn new(db: &Path) -> WalWatch {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        WalWatch {
            wal: PathBuf::from(wal),
            known: None,
        }
    }

    /// The `-wal` file's path.
    pub fn path(&self) -> &Path {
        &self.wal
    }

    /// Learns the WAL on disk now (after the connections opened it, or after a rebuild).
    pub fn learn(&mut self) {
        self.known = identity(&self.wal);
    }

    /// True when a WAL was known and it is gone or another file took its name.
    pub fn lost(&self) -> bool {
        self.known.is_some() && identity(&self.wal) != self.known
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn db_error(kind: diesel::result::DatabaseErrorKind, msg: &str) -> DbError {
        DbError::Query(diesel::result::Error::DatabaseError(
            kind,
            Box::new(msg.to_owned()),
        ))
    }

    #[test]
    fn engine_messages_are_classified() {
        use diesel::result::DatabaseErrorKind::{ClosedConnection, UniqueViolation, Unknown};
        let cases = [
            (
                db_error(Unknown, "database or disk is full"),
                Some(StorageFault::Full),
            ),
            (
                db_error(
                    Unknown,
                    "could not extend file \"base/1/2\": No space left on device",
                ),
                Some(StorageFault::Full),
            ),
            (
                db_error(Unknown, "attempt to write a readonly database"),
                Some(StorageFault::ReadOnly),
            ),
            (db_error(Unknown, "disk I/O error"), Some(StorageFault::Io)),
            (
                db_error(
                    ClosedConnection,
                    "server closed the connection unexpectedly",
                ),
                Some(StorageFault::Unreachable),
            ),
            (
                db_error(
                    Unknown,
                    "FATAL: terminating connection due to administrator command",
                ),
                Some(StorageFault::Unreachable),
            ),
            (db_error(UniqueViolation, "UNIQUE constraint failed"), None),
            (
                DbError::Pool("timed out".into()),
                Some(StorageFault::Unreachable),
            ),
            (
                DbError::Io(std::io::Error::from_raw_os_error(ENOSPC)),
                Some(StorageFault::Full),
            ),
            (
                DbError::Io(std::io::Error::from_raw_os_error(EROFS)),
                Some(StorageFault::ReadOnly),
            ),
            (DbError::Corrupt("x".into()), None),
        ];
        for (e, want) in cases {
            assert_eq!(classify(&e), want, "{e}");
        }
    }

    #[test]
    fn a_fault_is_kept_until_a_write_succeeds() {
        let h = Health::default();
        h.observe::<()>(&Err(db_error(
            diesel::result::DatabaseErrorKind::Unknown,
            "database or disk is full",
        )));
        let f = h.current().unwrap();
        assert_eq!(f.kind, StorageFault::Full);
        assert!(
            f.readiness().starts_with("disk full since "),
            "{}",
            f.readiness()
        );
        // A constraint violation says nothing about the storage.
        h.observe::<()>(&Err(db_error(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            "UNIQUE",
        )));
        assert!(h.current().is_some());
        h.observe(&Ok(()));
        assert!(h.current().is_none());
        assert_eq!(h.faults_seen(), 1);
    }

    #[test]
    fn a_deleted_or_replaced_wal_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let wal = dir.path().join("m.db-wal");
        let mut w = WalWatch::new(&db);
        w.learn();
        assert!(!w.lost(), "no WAL known yet: nothing lost");
        std::fs::write(&wal, b"x").unwrap();
        w.learn();
        assert!(!w.lost());
        // Replaced: another file renamed over it (made while the first exists, so it
        // cannot reuse its inode).
        let other = dir.path().join("other");
        std::fs::write(&other, b"y").unwrap();
        std::fs::rename(&other, &wal).unwrap();
        assert!(w.lost(), "another file under the WAL's name");
        // Deleted.
        w.learn();
        assert!(!w.lost());
        std::fs::remove_file(&wal).unwrap();
        assert!(w.lost());
    }
}
