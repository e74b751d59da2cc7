//! The database a test runs on. By default a fresh SQLite file in a temporary directory.
//! With `MASTER_TEST_PG_URL` set (e.g. `postgres://postgres@127.0.0.1:5432/test`), a fresh
//! PostgreSQL schema in that database instead, one per test, so the suite stays parallel;
//! it is dropped when the test's last handle goes.
//!
//! Included by every test binary and bench that starts a master:
//! `#[path = "../support/db.rs"] mod db;` (or `"support/db.rs"` from `tests/`).
#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test support")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use atlhyper_master::config::{DbType, Settings};
use diesel::connection::SimpleConnection;
use diesel::Connection;

/// The variable that moves the tests onto PostgreSQL.
pub const PG_ENV: &str = "MASTER_TEST_PG_URL";

/// The PostgreSQL base URL, when the tests run there.
pub fn pg_url() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|v| !v.trim().is_empty())
}

struct Schema {
    base: String,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        // Best effort: a master still holding a lock must not hang the test's end.
        if let Ok(mut c) = diesel::PgConnection::establish(&self.base) {
            let _ = c.batch_execute(&format!(
                "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
                self.name
            ));
        }
    }
}

/// One test's database: a directory (the SQLite file, or just the secret key and backups
/// on PostgreSQL) and, on PostgreSQL, its own schema.
#[derive(Clone)]
pub struct TestDb {
    dir: Arc<tempfile::TempDir>,
    pg: Option<Arc<Schema>>,
}

impl TestDb {
    /// A fresh database on the engine the environment selects.
    pub fn new() -> TestDb {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let pg = pg_url().map(|base| {
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut c = diesel::PgConnection::establish(&base)
                .unwrap_or_else(|e| panic!("{PG_ENV}: cannot connect: {e}"));
            c.batch_execute(&format!("CREATE SCHEMA {name}"))
                .expect("create schema");
            Arc::new(Schema { base, name })
        });
        TestDb { dir, pg }
    }

    /// True on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The test's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite file (on PostgreSQL: where it would be; the secret key sits beside it).
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("master.db")
    }

    /// The PostgreSQL URL of this test's schema.
    pub fn dsn(&self) -> Option<String> {
        self.pg.as_ref().map(|s| {
            let sep = if s.base.contains('?') { '&' } else { '?' };
            format!("{}{sep}options=-csearch_path%3D{}", s.base, s.name)
        })
    }

    /// Points `s` at this database.
    pub fn apply(&self, s: &mut Settings) {
        s.db_path = self.sqlite_path();
        if let Some(dsn) = self.dsn() {
            s.db_type = DbType::Postgres;
            s.db_dsn = Some(dsn.into());
        }
    }

    /// The same as environment variables, for a master started as a child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![(
            "MASTER_DB_PATH",
            self.sqlite_path().to_string_lossy().into_owned(),
        )];
        if let Some(dsn) = self.dsn() {
            v.push(("MASTER_DB_TYPE", "postgres".to_owned()));
            v.push(("MASTER_DB_DSN", dsn));
        }
        v
    }
}
