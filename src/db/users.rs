//! `users`, `tokens` and `agent_tokens`.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{agent_tokens, tokens, users};
use super::{on_engine, to_db, DbConn, DbError};

/// A stored user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct UserRow {
    pub id: i32,
    pub username: String,
    pub password_hash: String,
    pub display_name: String,
    pub email: String,
    pub role: i32,
    pub status: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub last_login_ip: Option<String>,
}

/// A stored session token or API key (never the secret itself).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct TokenRow {
    pub id: i32,
    pub user_id: i32,
    pub token_hash: String,
    pub name: String,
    pub kind: i32,
    pub role: i32,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// How many users exist.
pub fn count(c: &mut DbConn) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(c)?)
}

/// Inserts a user; returns it.
#[allow(clippy::too_many_arguments, reason = "one argument per column")]
pub fn insert(
    c: &mut DbConn,
    username: &str,
    password_hash: &str,
    display_name: &str,
    email: &str,
    role: i32,
    at: DateTime<Utc>,
) -> Result<UserRow, DbError> {
    diesel::insert_into(users::table)
        .values((
            users::username.eq(username),
            users::password_hash.eq(password_hash),
            users::display_name.eq(display_name),
            users::email.eq(email),
            users::role.eq(role),
            users::status.eq(1),
            users::created_at.eq(to_db(at)),
            users::updated_at.eq(to_db(at)),
        ))
        .execute(c)?;
    by_name(c, username)?.ok_or_else(|| DbError::Corrupt("inserted user not found".into()))
}

/// A user by name.
pub fn by_name(c: &mut DbConn, username: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(c)
        .optional()?)
}

/// A user by id.
pub fn by_id(c: &mut DbConn, id: i32) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(c)
        .optional()?)
}

/// Every user, by id.
pub fn list(c: &mut DbConn) -> Result<Vec<UserRow>, DbError> {
    Ok(users::table
        .order(users::id)
        .select(UserRow::as_select())
        .load(c)?)
}

/// Active admins.
pub fn active_admins(c: &mut DbConn) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::role.eq(3))
        .filter(users::status.eq(1))
        .count()
        .get_result(c)?)
}

/// Changes of a user (None = unchanged).
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct UserChanges {
    pub role: Option<i32>,
    pub status: Option<i32>,
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Applies changes to a user.
pub fn update(c: &mut DbConn, id: i32, ch: &UserChanges) -> Result<(), DbError> {
    diesel::update(users::table.find(id)).set(ch).execute(c)?;
    Ok(())
}

/// Deletes a user (their tokens go with them).
pub fn delete(c: &mut DbConn, id: i32) -> Result<(), DbError> {
    diesel::delete(users::table.find(id)).execute(c)?;
    Ok(())
}

/// Records a successful login.
pub fn record_login(c: &mut DbConn, id: i32, at: DateTime<Utc>, ip: &str) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((
            users::last_login_at.eq(Some(to_db(at))),
            users::last_login_ip.eq(Some(ip)),
        ))
        .execute(c)?;
    Ok(())
}

/// Stores a token hash; returns the row.
#[allow(clippy::too_many_arguments, reason = "one argument per column")]
pub fn insert_token(
    c: &mut DbConn,
    user_id: i32,
    hash: &str,
    name: &str,
    kind: i32,
    role: i32,
    expires_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<TokenRow, DbError> {
    diesel::insert_into(tokens::table)
        .values((
            tokens::user_id.eq(user_id),
            tokens::token_hash.eq(hash),
            tokens::name.eq(name),
            tokens::kind.eq(kind),
            tokens::role.eq(role),
            tokens::expires_at.eq(expires_at.map(to_db)),
            tokens::created_at.eq(to_db(at)),
        ))
        .execute(c)?;
    Ok(tokens::table
        .filter(tokens::token_hash.eq(hash))
        .select(TokenRow::as_select())
        .first(c)?)
}

/// A token and its user, by the token's hash.
pub fn lookup(c: &mut DbConn, hash: &str) -> Result<Option<(TokenRow, UserRow)>, DbError> {
    Ok(tokens::table
        .inner_join(users::table)
        .filter(tokens::token_hash.eq(hash))
        .select((TokenRow::as_select(), UserRow::as_select()))
        .first(c)
        .optional()?)
}

/// A token by id.
pub fn token_by_id(c: &mut DbConn, id: i32) -> Result<Option<TokenRow>, DbError> {
    Ok(tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(c)
        .optional()?)
}

/// A user's tokens of one kind, newest first.
pub fn tokens_of(c: &mut DbConn, user_id: i32, kind: i32) -> Result<Vec<TokenRow>, DbError> {
    Ok(tokens::table
        .filter(tokens::user_id.eq(user_id))
        .filter(tokens::kind.eq(kind))
        .order(tokens::id.desc())
        .select(TokenRow::as_select())
        .load(c)?)
}

/// Revokes one token.
pub fn revoke(c: &mut DbConn, id: i32, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(tokens::table.find(id).filter(tokens::revoked_at.is_null()))
        .set(tokens::revoked_at.eq(Some(to_db(at))))
        .execute(c)?;
    Ok(())
}

/// Revokes every token of a user.
pub fn revoke_all(c: &mut DbConn, user_id: i32, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(
        tokens::table
            .filter(tokens::user_id.eq(user_id))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(Some(to_db(at))))
    .execute(c)?;
    Ok(())
}

/// Lock key of user administration (an arbitrary constant: "ATLU").
const USERS_LOCK: i64 = 0x4154_4C55;

/// Runs `f` in one transaction during which no other user-administration transaction
/// runs, so a rule that reads users and then writes (the last active admin is never
/// disabled, demoted or deleted) holds with concurrent writers. SQLite's single writer
/// serializes already; PostgreSQL takes a transaction-scoped advisory lock.
pub fn serialized<R>(
    c: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<R, DbError>,
) -> Result<R, DbError> {
    c.transaction(|c| {
        if c.engine() == super::Engine::Postgres {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(USERS_LOCK)
                .execute(c)?;
        }
        f(c)
    })
}

/// Every (cluster, agent token hash) (startup).
pub fn agent_token_hashes(c: &mut DbConn) -> Result<Vec<(String, String)>, DbError> {
    Ok(agent_tokens::table
        .select((agent_tokens::cluster_uid, agent_tokens::token_hash))
        .load(c)?)
}

/// Sets (creates or replaces) a cluster's agent token hash.
pub fn set_agent_token(
    c: &mut DbConn,
    cluster: &str,
    hash: &str,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    on_engine!(c, |c| diesel::insert_into(agent_tokens::table)
        .values((
            agent_tokens::cluster_uid.eq(cluster),
            agent_tokens::token_hash.eq(hash),
            agent_tokens::created_at.eq(to_db(at)),
        ))
        .on_conflict(agent_tokens::cluster_uid)
        .do_update()
        .set((
            agent_tokens::token_hash.eq(hash),
            agent_tokens::created_at.eq(to_db(at)),
        ))
        .execute(c))?;
    Ok(())
}

/// Removes a cluster's agent token; returns whether there was one.
pub fn revoke_agent_token(c: &mut DbConn, cluster: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(agent_tokens::table.find(cluster)).execute(c)? > 0)
}

/// Users, their session tokens and API keys, and the agent tokens. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Users<'a>(pub(super) &'a super::Db);

impl Users<'_> {
    /// How many users exist.
    pub async fn count(&self) -> Result<i64, DbError> {
        self.0.read(count).await
    }

    /// Every (cluster, agent token hash).
    pub async fn agent_token_hashes(&self) -> Result<Vec<(String, String)>, DbError> {
        self.0.read(agent_token_hashes).await
    }
}
