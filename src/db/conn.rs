//! The one connection type of the storage layer: either engine behind one enum, so every
//! repository is written once against diesel's query builder.
//!
//! `diesel::MultiConnection` covers the common subset of PostgreSQL and SQLite (selects,
//! inserts, updates, deletes, `RETURNING`, boxed queries, transactions). The few statements
//! it cannot express (upserts: `ON CONFLICT`) go through [`on_engine!`], which runs the same
//! query-builder expression on the engine's own connection type; raw SQL goes through
//! [`sql`], which numbers placeholders for PostgreSQL.

/// A connection to the configured engine.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL (`MASTER_DB_TYPE=postgres`).
    Postgres(diesel::PgConnection),
    /// The embedded SQLite file (the default).
    Sqlite(diesel::SqliteConnection),
}

/// Which engine a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Engine {
    /// The config / log name.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Sqlite => "sqlite",
        }
    }
}

impl DbConn {
    /// The engine behind this connection.
    pub fn engine(&self) -> Engine {
        match self {
            DbConn::Postgres(_) => Engine::Postgres,
            DbConn::Sqlite(_) => Engine::Sqlite,
        }
    }
}

/// Raw SQL written with `?` placeholders, numbered (`$1`, `$2`, …) for PostgreSQL. The text
/// must not contain a literal `?` (none of ours do: they are fixed statements).
pub fn sql(engine: Engine, text: &str) -> String {
    match engine {
        Engine::Sqlite => text.to_owned(),
        Engine::Postgres => {
            let mut out = String::with_capacity(text.len() + 8);
            let mut n = 0;
            for ch in text.chars() {
                if ch == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(ch);
                }
            }
            out
        }
    }
}

/// Runs `$body` with `$c` bound to the engine's own connection (`&mut PgConnection` or
/// `&mut SqliteConnection`): for the statements outside the common subset, written once.
macro_rules! on_engine {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Postgres($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_engine;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        let q = "DELETE FROM t WHERE a = ? AND b < ? LIMIT ?";
        assert_eq!(sql(Engine::Sqlite, q), q);
        assert_eq!(
            sql(Engine::Postgres, q),
            "DELETE FROM t WHERE a = $1 AND b < $2 LIMIT $3"
        );
    }
}
