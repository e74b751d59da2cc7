//! The `clusters` table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::clusters;
use super::{from_db, to_db, DbError};

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
pub fn list_all(conn: &mut SqliteConnection) -> Result<Vec<ClusterRow>, DbError> {
    Ok(clusters::table
        .select(ClusterRow::as_select())
        .order(clusters::cluster_uid)
        .load(conn)?)
}

/// Stores a cluster first seen at `at`; nothing happens if it is already known.
pub fn register(conn: &mut SqliteConnection, uid: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    diesel::insert_or_ignore_into(clusters::table)
        .values((
            clusters::cluster_uid.eq(uid),
            clusters::name.eq(uid),
            clusters::created_at.eq(to_db(at)),
            clusters::updated_at.eq(to_db(at)),
            clusters::last_seen_at.eq(Some(to_db(at))),
        ))
        .execute(conn)?;
    Ok(())
}

/// Remembers the last time a cluster was seen.
pub fn record_last_seen(
    conn: &mut SqliteConnection,
    uid: &str,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::update(clusters::table.filter(clusters::cluster_uid.eq(uid)))
        .set(clusters::last_seen_at.eq(Some(to_db(at))))
        .execute(conn)?;
    Ok(())
}

/// A cluster by its id.
pub fn get(conn: &mut SqliteConnection, uid: &str) -> Result<Option<ClusterRow>, DbError> {
    Ok(clusters::table
        .filter(clusters::cluster_uid.eq(uid))
        .select(ClusterRow::as_select())
        .first(conn)
        .optional()?)
}

/// Creates a cluster; `None` when one with that id exists.
pub fn create(
    conn: &mut SqliteConnection,
    uid: &str,
    name: &str,
    environment: &str,
    description: &str,
    at: DateTime<Utc>,
) -> Result<Option<ClusterRow>, DbError> {
    if get(conn, uid)?.is_some() {
        return Ok(None);
    }
    diesel::insert_into(clusters::table)
        .values((
            clusters::cluster_uid.eq(uid),
            clusters::name.eq(name),
            clusters::environment.eq(environment),
            clusters::description.eq(description),
            clusters::created_at.eq(to_db(at)),
            clusters::updated_at.eq(to_db(at)),
        ))
        .execute(conn)?;
    get(conn, uid)
}

/// Deletes a cluster row (its agent token goes with it); returns whether it existed.
pub fn delete(conn: &mut SqliteConnection, uid: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(clusters::table.filter(clusters::cluster_uid.eq(uid))).execute(conn)? > 0)
}
