//! The `users`, `tokens` and `agent_tokens` tables.
//!
//! The rules about them (who may change whom, the last active admin, token ceilings) are
//! in [`crate::service::users`]; a rule that must hold against concurrent writers runs
//! here, inside [`serialized`], as a closure the service passes in.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{agent_tokens, tokens, users};
use super::{on_engine, to_db, DbConn, DbError};
use crate::auth::{Role, TokenKind, UserStatus};

/// A stored user. Role and status are parsed here, once, from their integer columns.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct UserRow {
    pub id: i32,
    pub username: String,
    pub password_hash: String,
    pub display_name: String,
    pub email: String,
    #[diesel(deserialize_as = i32)]
    pub role: Role,
    #[diesel(deserialize_as = i32)]
    pub status: UserStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub last_login_ip: Option<String>,
}

impl UserRow {
    /// An admin who may sign in: the kind the master must never run out of.
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && self.status == UserStatus::Active
    }
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
    #[diesel(deserialize_as = i32)]
    pub kind: TokenKind,
    #[diesel(deserialize_as = i32)]
    pub role: Role,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A user to insert (the password already hashed); new users are active.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Unique name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Shown name.
    pub display_name: String,
    /// Contact address.
    pub email: String,
    /// Role.
    pub role: Role,
}

/// A token to insert (its secret already hashed).
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The owner.
    pub user_id: i32,
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// Label (`session` for logins).
    pub name: String,
    /// Session or API key.
    pub kind: TokenKind,
    /// What it may do (never above its owner's role: the service checks).
    pub role: Role,
    /// No use after this.
    pub expires_at: Option<DateTime<Utc>>,
}

/// How many users exist.
pub fn count(c: &mut DbConn) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(c)?)
}

/// Inserts an active user and returns it; `None` when the name is taken.
pub fn insert(
    c: &mut DbConn,
    new: &NewUser,
    at: DateTime<Utc>,
) -> Result<Option<UserRow>, DbError> {
    let inserted = on_engine!(c, |c| diesel::insert_into(users::table)
        .values((
            users::username.eq(&new.username),
            users::password_hash.eq(&new.password_hash),
            users::display_name.eq(&new.display_name),
            users::email.eq(&new.email),
            users::role.eq(new.role.as_i32()),
            users::status.eq(UserStatus::Active.as_i32()),
            users::created_at.eq(to_db(at)),
            users::updated_at.eq(to_db(at)),
        ))
        .on_conflict(users::username)
        .do_nothing()
        .execute(c))?;
    if inserted == 0 {
        return Ok(None);
    }
    by_name(c, &new.username)?
        .map(Some)
        .ok_or_else(|| DbError::Corrupt("inserted user not found".into()))
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

/// How many admins may sign in (see [`UserRow::is_active_admin`]).
pub fn active_admins(c: &mut DbConn) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::role.eq(Role::Admin.as_i32()))
        .filter(users::status.eq(UserStatus::Active.as_i32()))
        .count()
        .get_result(c)?)
}

/// Changes of a user (`None` = unchanged).
#[derive(Debug, Default, Clone)]
pub struct UserChanges {
    /// New role.
    pub role: Option<Role>,
    /// New status.
    pub status: Option<UserStatus>,
    /// New password (hashed).
    pub password_hash: Option<String>,
    /// New shown name.
    pub display_name: Option<String>,
    /// New contact address.
    pub email: Option<String>,
}

/// [`UserChanges`] as columns.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct Changeset<'a> {
    role: Option<i32>,
    status: Option<i32>,
    password_hash: Option<&'a str>,
    display_name: Option<&'a str>,
    email: Option<&'a str>,
    updated_at: NaiveDateTime,
}

/// Applies changes to a user (and stamps `updated_at`).
pub fn update(c: &mut DbConn, id: i32, ch: &UserChanges, at: DateTime<Utc>) -> Result<(), DbError> {
    let set = Changeset {
        role: ch.role.map(Role::as_i32),
        status: ch.status.map(UserStatus::as_i32),
        password_hash: ch.password_hash.as_deref(),
        display_name: ch.display_name.as_deref(),
        email: ch.email.as_deref(),
        updated_at: to_db(at),
    };
    diesel::update(users::table.find(id)).set(&set).execute(c)?;
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
pub fn insert_token(c: &mut DbConn, t: &NewToken, at: DateTime<Utc>) -> Result<TokenRow, DbError> {
    diesel::insert_into(tokens::table)
        .values((
            tokens::user_id.eq(t.user_id),
            tokens::token_hash.eq(&t.hash),
            tokens::name.eq(&t.name),
            tokens::kind.eq(t.kind.as_i32()),
            tokens::role.eq(t.role.as_i32()),
            tokens::expires_at.eq(t.expires_at.map(to_db)),
            tokens::created_at.eq(to_db(at)),
        ))
        .execute(c)?;
    Ok(tokens::table
        .filter(tokens::token_hash.eq(&t.hash))
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
pub fn tokens_of(c: &mut DbConn, user_id: i32, kind: TokenKind) -> Result<Vec<TokenRow>, DbError> {
    Ok(tokens::table
        .filter(tokens::user_id.eq(user_id))
        .filter(tokens::kind.eq(kind.as_i32()))
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
fn serialized<R>(
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

/// What a guarded change found (see [`update_guarded`] and [`delete_guarded`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Guarded<T, E> {
    /// The rule allowed it: done.
    Done(T),
    /// No such user: nothing changed.
    NotFound,
    /// The rule refused, for this reason: nothing changed.
    Refused(E),
}

/// Changes user `id` if `rule` allows it, given the user as stored and the number of
/// active admins, both read in the same serialized transaction as the change (so two
/// admins demoting each other at once cannot both pass a last-admin rule). With
/// `revoke_tokens`, every token of the user is revoked in that transaction too.
pub fn update_guarded<E>(
    c: &mut DbConn,
    id: i32,
    ch: &UserChanges,
    revoke_tokens: bool,
    at: DateTime<Utc>,
    rule: impl FnOnce(&UserRow, i64) -> Result<(), E>,
) -> Result<Guarded<UserRow, E>, DbError> {
    serialized(c, |c| {
        let Some(before) = by_id(c, id)? else {
            return Ok(Guarded::NotFound);
        };
        if let Err(why) = rule(&before, active_admins(c)?) {
            return Ok(Guarded::Refused(why));
        }
        update(c, id, ch, at)?;
        if revoke_tokens {
            revoke_all(c, id, at)?;
        }
        Ok(by_id(c, id)?.map_or(Guarded::NotFound, Guarded::Done))
    })
}

/// Deletes user `id` and revokes their tokens if `rule` allows it (see
/// [`update_guarded`]).
pub fn delete_guarded<E>(
    c: &mut DbConn,
    id: i32,
    at: DateTime<Utc>,
    rule: impl FnOnce(&UserRow, i64) -> Result<(), E>,
) -> Result<Guarded<(), E>, DbError> {
    serialized(c, |c| {
        let Some(before) = by_id(c, id)? else {
            return Ok(Guarded::NotFound);
        };
        if let Err(why) = rule(&before, active_admins(c)?) {
            return Ok(Guarded::Refused(why));
        }
        revoke_all(c, id, at)?;
        delete(c, id)?;
        Ok(Guarded::Done(()))
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

/// Users, their session tokens and API keys, and the agent tokens. Async; see
/// [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Users<'a>(pub(super) &'a super::Db);

impl Users<'_> {
    /// How many users exist.
    pub async fn count(&self) -> Result<i64, DbError> {
        self.0.read(count).await
    }

    /// A user by name.
    pub async fn by_name(&self, username: &str) -> Result<Option<UserRow>, DbError> {
        let name = username.to_owned();
        self.0.read(move |c| by_name(c, &name)).await
    }

    /// A user by id.
    pub async fn by_id(&self, id: i32) -> Result<Option<UserRow>, DbError> {
        self.0.read(move |c| by_id(c, id)).await
    }

    /// Every user, by id.
    pub async fn list(&self) -> Result<Vec<UserRow>, DbError> {
        self.0.read(list).await
    }

    /// Inserts an active user; `None` when the name is taken (see [`insert`]).
    pub async fn create(
        &self,
        new: NewUser,
        at: DateTime<Utc>,
    ) -> Result<Option<UserRow>, DbError> {
        self.0.write(move |c| insert(c, &new, at)).await
    }

    /// Changes a user if `rule` allows it, atomically (see [`update_guarded`]).
    pub async fn update_guarded<E, F>(
        &self,
        id: i32,
        changes: UserChanges,
        revoke_tokens: bool,
        at: DateTime<Utc>,
        rule: F,
    ) -> Result<Guarded<UserRow, E>, DbError>
    where
        E: Send + 'static,
        F: FnOnce(&UserRow, i64) -> Result<(), E> + Send + 'static,
    {
        self.0
            .write(move |c| update_guarded(c, id, &changes, revoke_tokens, at, rule))
            .await
    }

    /// Deletes a user if `rule` allows it, atomically (see [`delete_guarded`]).
    pub async fn delete_guarded<E, F>(
        &self,
        id: i32,
        at: DateTime<Utc>,
        rule: F,
    ) -> Result<Guarded<(), E>, DbError>
    where
        E: Send + 'static,
        F: FnOnce(&UserRow, i64) -> Result<(), E> + Send + 'static,
    {
        self.0.write(move |c| delete_guarded(c, id, at, rule)).await
    }

    /// Stores a login's session token and records the login (time, IP), in one
    /// transaction.
    pub async fn open_session(
        &self,
        token: NewToken,
        ip: String,
        at: DateTime<Utc>,
    ) -> Result<TokenRow, DbError> {
        self.0
            .write(move |c| {
                c.transaction(|c| {
                    let row = insert_token(c, &token, at)?;
                    record_login(c, token.user_id, at, &ip)?;
                    Ok(row)
                })
            })
            .await
    }

    /// Stores a token (an API key); returns its row.
    pub async fn create_token(
        &self,
        token: NewToken,
        at: DateTime<Utc>,
    ) -> Result<TokenRow, DbError> {
        self.0.write(move |c| insert_token(c, &token, at)).await
    }

    /// A token and its user, by the token's hash.
    pub async fn lookup(&self, hash: &str) -> Result<Option<(TokenRow, UserRow)>, DbError> {
        let hash = hash.to_owned();
        self.0.read(move |c| lookup(c, &hash)).await
    }

    /// A token by id.
    pub async fn token(&self, id: i32) -> Result<Option<TokenRow>, DbError> {
        self.0.read(move |c| token_by_id(c, id)).await
    }

    /// A user's tokens of one kind, newest first.
    pub async fn tokens_of(&self, user_id: i32, kind: TokenKind) -> Result<Vec<TokenRow>, DbError> {
        self.0.read(move |c| tokens_of(c, user_id, kind)).await
    }

    /// Revokes one token (a no-op when it is already revoked).
    pub async fn revoke_token(&self, id: i32, at: DateTime<Utc>) -> Result<(), DbError> {
        self.0.write(move |c| revoke(c, id, at)).await
    }

    /// Every (cluster, agent token hash).
    pub async fn agent_token_hashes(&self) -> Result<Vec<(String, String)>, DbError> {
        self.0.read(agent_token_hashes).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn conn() -> DbConn {
        super::super::test_conn()
    }

    fn new_user(name: &str, role: Role) -> NewUser {
        NewUser {
            username: name.into(),
            password_hash: "x".into(),
            display_name: String::new(),
            email: String::new(),
            role,
        }
    }

    fn session(user_id: i32, hash: &str) -> NewToken {
        NewToken {
            user_id,
            hash: hash.into(),
            name: "session".into(),
            kind: TokenKind::Session,
            role: Role::Viewer,
            expires_at: None,
        }
    }

    #[test]
    fn a_taken_name_inserts_nothing() {
        let mut c = conn();
        let now = Utc::now();
        let u = insert(&mut c, &new_user("ann", Role::Admin), now)
            .unwrap()
            .unwrap();
        assert_eq!((u.role, u.status), (Role::Admin, UserStatus::Active));
        assert!(insert(&mut c, &new_user("ann", Role::Viewer), now)
            .unwrap()
            .is_none());
        assert_eq!(count(&mut c).unwrap(), 1);
    }

    #[test]
    fn active_admins_counts_enabled_admins_only() {
        let mut c = conn();
        let now = Utc::now();
        for (name, role) in [
            ("a", Role::Admin),
            ("b", Role::Admin),
            ("o", Role::Operator),
        ] {
            insert(&mut c, &new_user(name, role), now).unwrap();
        }
        let b = by_name(&mut c, "b").unwrap().unwrap();
        let off = UserChanges {
            status: Some(UserStatus::Disabled),
            ..Default::default()
        };
        update(&mut c, b.id, &off, now).unwrap();
        assert_eq!(active_admins(&mut c).unwrap(), 1);
    }

    #[test]
    fn a_refused_change_changes_nothing_and_an_allowed_one_revokes_tokens() {
        let mut c = conn();
        let now = Utc::now();
        let u = insert(&mut c, &new_user("ann", Role::Admin), now)
            .unwrap()
            .unwrap();
        insert_token(&mut c, &session(u.id, "h1"), now).unwrap();
        let demote = UserChanges {
            role: Some(Role::Viewer),
            ..Default::default()
        };
        let seen = std::cell::Cell::new(0);
        let refused = update_guarded(&mut c, u.id, &demote, true, now, |before, admins| {
            seen.set(admins);
            assert!(before.is_active_admin());
            Err("no")
        })
        .unwrap();
        assert!(matches!(refused, Guarded::Refused("no")));
        assert_eq!(seen.get(), 1);
        assert_eq!(by_id(&mut c, u.id).unwrap().unwrap().role, Role::Admin);
        assert!(lookup(&mut c, "h1")
            .unwrap()
            .unwrap()
            .0
            .revoked_at
            .is_none());

        let Guarded::Done(after) =
            update_guarded(&mut c, u.id, &demote, true, now, |_, _| Ok::<(), ()>(())).unwrap()
        else {
            panic!("not done");
        };
        assert_eq!(after.role, Role::Viewer);
        assert!(lookup(&mut c, "h1")
            .unwrap()
            .unwrap()
            .0
            .revoked_at
            .is_some());
        let missing =
            update_guarded(&mut c, 999, &demote, false, now, |_, _| Ok::<(), ()>(())).unwrap();
        assert!(matches!(missing, Guarded::NotFound));
    }

    #[test]
    fn a_guarded_delete_takes_the_tokens_along() {
        let mut c = conn();
        let now = Utc::now();
        let u = insert(&mut c, &new_user("ann", Role::Viewer), now)
            .unwrap()
            .unwrap();
        insert_token(&mut c, &session(u.id, "h1"), now).unwrap();
        assert_eq!(
            delete_guarded(&mut c, u.id, now, |_, _| Err("kept")).unwrap(),
            Guarded::Refused("kept")
        );
        assert!(by_id(&mut c, u.id).unwrap().is_some());
        assert_eq!(
            delete_guarded(&mut c, u.id, now, |_, _| Ok::<(), ()>(())).unwrap(),
            Guarded::Done(())
        );
        assert!(by_id(&mut c, u.id).unwrap().is_none());
        assert!(lookup(&mut c, "h1").unwrap().is_none());
    }
}
