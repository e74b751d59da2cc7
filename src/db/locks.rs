//! Ownership locks for replicas: PostgreSQL session-level advisory locks held by one
//! dedicated connection per replica (the *lock session*).
//!
//! Why PostgreSQL and not a Redis lease: PostgreSQL is already the source of truth and a
//! session lock dies with its session. A replica killed with SIGKILL closes its socket, the
//! server ends the session at once and its locks are free at the other replicas' next pass
//! (a lease would wait out its TTL); a replica whose machine vanishes is detected by the
//! TCP keepalive set on the session. And the locks keep working while Redis is down.
//!
//! Keys are the first 8 bytes of SHA-256 over the Redis prefix and the name, so that
//! installations sharing one database (different `MASTER_REDIS_PREFIX`) never contend.
//! Blocking: call from `spawn_blocking`.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use sha2::{Digest, Sha256};

use super::DbError;

/// The advisory lock key of `name` under `prefix`.
pub fn key(prefix: &str, name: &str) -> i64 {
    let d = Sha256::new()
        .chain_update(prefix.as_bytes())
        .chain_update([0u8])
        .chain_update(name.as_bytes())
        .finalize();
    let mut k = [0u8; 8];
    k.copy_from_slice(&d[..8]);
    i64::from_be_bytes(k)
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    ok: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One replica's lock session.
pub struct LockSession {
    conn: PgConnection,
    app: String,
}

impl LockSession {
    /// Opens the session as `app` (its `application_name`: the replicas of one
    /// installation share it, which is how they count each other). `keepalive_secs`: a
    /// vanished peer machine is noticed by the server after about that long.
    pub fn connect(dsn: &str, app: &str, keepalive_secs: u64) -> Result<LockSession, DbError> {
        // The client side too: a server that vanishes without closing the socket (a
        // failover) fails this session's next query within seconds, not the OS's minutes.
        let sep = if dsn.contains('?') { '&' } else { '?' };
        let dsn = format!(
            "{dsn}{sep}keepalives=1&keepalives_idle=1&keepalives_interval=1&keepalives_count=3\
             &tcp_user_timeout={}&connect_timeout=5",
            keepalive_secs.saturating_mul(1000)
        );
        let mut conn = PgConnection::establish(&dsn)
            .map_err(|e| DbError::Pool(format!("lock session: {e}")))?;
        let idle = keepalive_secs.div_ceil(2).max(1);
        conn.batch_execute(&format!(
            "SET application_name = '{}'; SET tcp_keepalives_idle = {idle}; \
             SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = {idle}; \
             SET statement_timeout = '5s'",
            app.replace('\'', "")
        ))?;
        Ok(LockSession {
            conn,
            app: app.to_owned(),
        })
    }

    /// Takes `key` if no other session holds it. Taking a key this session already holds
    /// succeeds again (and must be released as often).
    pub fn try_lock(&mut self, key: i64) -> Result<bool, DbError> {
        let r: Flag = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS ok")
            .bind::<BigInt, _>(key)
            .get_result(&mut self.conn)?;
        Ok(r.ok)
    }

    /// Releases `key` (false when this session did not hold it).
    pub fn unlock(&mut self, key: i64) -> Result<bool, DbError> {
        let r: Flag = diesel::sql_query("SELECT pg_advisory_unlock($1) AS ok")
            .bind::<BigInt, _>(key)
            .get_result(&mut self.conn)?;
        Ok(r.ok)
    }

    /// How many sessions of this installation are connected (the live replicas, this one
    /// included). Also proves the session is alive.
    pub fn peers(&mut self) -> Result<i64, DbError> {
        let r: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database()",
        )
        .bind::<Text, _>(&self.app)
        .get_result(&mut self.conn)?;
        Ok(r.n.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_prefix_and_name_and_are_stable() {
        assert_eq!(key("a", "c1"), key("a", "c1"));
        assert_ne!(key("a", "c1"), key("b", "c1"));
        assert_ne!(key("a", "c1"), key("a", "c2"));
        // The separator: "ab"+"c" is not "a"+"bc".
        assert_ne!(key("ab", "c"), key("a", "bc"));
    }
}
