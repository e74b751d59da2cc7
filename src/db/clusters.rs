//! The `clusters` table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::clusters;
use super::{from_db, on_engine, to_db, DbConn, DbError};

/// One stored cluster.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clusters)]
pub struct ClusterRow {
    /// Row id.
    pub id: i32,
    /// The cluster id agents send.
    pub cluster_uid: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Environment label.
    pub environment: String,
    /// First known.
    pub created_at: chrono::NaiveDateTime,
    /// Last changed.
    pub updated_at: chrono::NaiveDateTime,
    /// Last agent request recorded.
    pub last_seen_at: Option<chrono::NaiveDateTime>,
}

impl ClusterRow {
    /// The actors' view of this row.
    pub fn info(&self) -> atlhyper_actors::registry::ClusterInfo {
        atlhyper_actors::registry::ClusterInfo {
            cluster_id: self.cluster_uid.clone(),
            name: self.name.clone(),
            environment: self.environment.clone(),
            description: self.description.clone(),
            created_at: Some(from_db(self.created_at)),
        }
    }
}

/// Every stored cluster.
pub fn list_all(conn: &mut DbConn) -> Result<Vec<ClusterRow>, DbError> {
    Ok(clusters::table
        .select(ClusterRow::as_select())
        .order(clusters::cluster_uid)
        .load(conn)?)
}

/// Stores a cluster first seen at `at`; nothing happens if it is already known.
pub fn register(conn: &mut DbConn, uid: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    register_new(conn, uid, at).map(|_| ())
}

/// [`register`], telling whether the row was created now (a cluster deleted meanwhile, and
/// every row hanging off it with it, comes back as new).
pub fn register_new(conn: &mut DbConn, uid: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
    let n = on_engine!(conn, |c| diesel::insert_into(clusters::table)
        .values((
            clusters::cluster_uid.eq(uid),
            clusters::name.eq(uid),
            clusters::created_at.eq(to_db(at)),
            clusters::updated_at.eq(to_db(at)),
            clusters::last_seen_at.eq(Some(to_db(at))),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n > 0)
}

/// Remembers the last time a cluster was seen.
pub fn record_last_seen(conn: &mut DbConn, uid: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::update(clusters::table.filter(clusters::cluster_uid.eq(uid)))
        .set(clusters::last_seen_at.eq(Some(to_db(at))))
        .execute(conn)?;
    Ok(())
}

/// A cluster by its id.
pub fn get(conn: &mut DbConn, uid: &str) -> Result<Option<ClusterRow>, DbError> {
    Ok(clusters::table
        .filter(clusters::cluster_uid.eq(uid))
        .select(ClusterRow::as_select())
        .first(conn)
        .optional()?)
}

/// Creates a cluster; `None` when one with that id exists.
pub fn create(
    conn: &mut DbConn,
    uid: &str,
    name: &str,
    environment: &str,
    description: &str,
    at: DateTime<Utc>,
) -> Result<Option<ClusterRow>, DbError> {
    // Insert-or-nothing in one statement: two creates of the same id racing on
    // PostgreSQL's pool get one row and one `None`, never a constraint error.
    let inserted = on_engine!(conn, |c| diesel::insert_into(clusters::table)
        .values((
            clusters::cluster_uid.eq(uid),
            clusters::name.eq(name),
            clusters::environment.eq(environment),
            clusters::description.eq(description),
            clusters::created_at.eq(to_db(at)),
            clusters::updated_at.eq(to_db(at)),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted == 0 {
        return Ok(None);
    }
    get(conn, uid)
}

/// Creates a cluster with its agent token hash, in one transaction; `None` when the id
/// is taken (nothing is written then).
pub fn create_with_agent_token(
    conn: &mut DbConn,
    uid: &str,
    name: &str,
    environment: &str,
    description: &str,
    token_hash: &str,
    at: DateTime<Utc>,
) -> Result<Option<ClusterRow>, DbError> {
    conn.transaction(|c| {
        let Some(row) = create(c, uid, name, environment, description, at)? else {
            return Ok(None);
        };
        super::users::set_agent_token(c, uid, token_hash, at)?;
        Ok(Some(row))
    })
}

/// Sets a known cluster's agent token hash; false (nothing written) when the cluster is
/// unknown.
pub fn set_agent_token_if_known(
    conn: &mut DbConn,
    uid: &str,
    token_hash: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    conn.transaction(|c| {
        if get(c, uid)?.is_none() {
            return Ok(false);
        }
        super::users::set_agent_token(c, uid, token_hash, at)?;
        Ok(true)
    })
}

/// Forgets a cluster in one transaction: its pending commands are cancelled and its row
/// (with its agent token, events and node metrics) deleted. Command history stays.
/// Returns whether the row existed.
pub fn forget(conn: &mut DbConn, uid: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
    conn.transaction(|c| {
        super::commands::cancel_pending_of(c, uid, at)?;
        delete(c, uid)
    })
}

/// Deletes a cluster row (its agent token goes with it); returns whether it existed.
pub fn delete(conn: &mut DbConn, uid: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(clusters::table.filter(clusters::cluster_uid.eq(uid))).execute(conn)? > 0)
}

/// The `clusters` table. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Clusters<'a>(pub(super) &'a super::Db);

impl Clusters<'_> {
    /// Every stored cluster, by id.
    pub async fn list(&self) -> Result<Vec<ClusterRow>, DbError> {
        self.0.read(list_all).await
    }

    /// One cluster.
    pub async fn get(&self, uid: &str) -> Result<Option<ClusterRow>, DbError> {
        let uid = uid.to_owned();
        self.0.read(move |c| get(c, &uid)).await
    }

    /// Creates a cluster; `None` when one with that id exists.
    pub async fn create(
        &self,
        uid: &str,
        name: &str,
        environment: &str,
        description: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ClusterRow>, DbError> {
        let (uid, name, env, desc) = (
            uid.to_owned(),
            name.to_owned(),
            environment.to_owned(),
            description.to_owned(),
        );
        self.0
            .write(move |c| create(c, &uid, &name, &env, &desc, at))
            .await
    }

    /// Creates a cluster with its agent token hash, atomically; `None` when the id is
    /// taken.
    pub async fn create_with_agent_token(
        &self,
        uid: &str,
        name: &str,
        environment: &str,
        description: &str,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ClusterRow>, DbError> {
        let (uid, name, env, desc, hash) = (
            uid.to_owned(),
            name.to_owned(),
            environment.to_owned(),
            description.to_owned(),
            token_hash.to_owned(),
        );
        self.0
            .write(move |c| create_with_agent_token(c, &uid, &name, &env, &desc, &hash, at))
            .await
    }

    /// Replaces a known cluster's agent token hash; false when the cluster is unknown.
    pub async fn set_agent_token(
        &self,
        uid: &str,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let (uid, hash) = (uid.to_owned(), token_hash.to_owned());
        self.0
            .write(move |c| set_agent_token_if_known(c, &uid, &hash, at))
            .await
    }

    /// Removes a cluster's agent token; returns whether there was one.
    pub async fn revoke_agent_token(&self, uid: &str) -> Result<bool, DbError> {
        let uid = uid.to_owned();
        self.0
            .write(move |c| super::users::revoke_agent_token(c, &uid))
            .await
    }

    /// Stores a cluster first seen at `at` (nothing if known).
    pub async fn register(&self, uid: &str, at: DateTime<Utc>) -> Result<(), DbError> {
        let uid = uid.to_owned();
        self.0.write(move |c| register(c, &uid, at)).await
    }

    /// Records when clusters were last seen, in one write.
    pub async fn record_last_seen(
        &self,
        seen: Vec<(String, DateTime<Utc>)>,
    ) -> Result<(), DbError> {
        self.0
            .write(move |c| {
                for (uid, at) in &seen {
                    record_last_seen(c, uid, *at)?;
                }
                Ok(())
            })
            .await
    }

    /// Forgets a cluster: pending commands cancelled, row deleted (see [`forget`]).
    pub async fn forget(&self, uid: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
        let uid = uid.to_owned();
        self.0.write(move |c| forget(c, &uid, at)).await
    }
}
