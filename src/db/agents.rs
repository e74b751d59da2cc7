//! The `cluster_agents` and `agent_versions` tables: what each cluster's agent said about
//! itself and where it connected from, and the agent version catalogue with its policy.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{agent_versions as av, cluster_agents as ag};
use super::{to_db, DbConn, DbError};

/// What the master observed of an agent (the cluster actor's `AgentMeta`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentObserved {
    /// Version, when known.
    pub agent_version: Option<String>,
    /// Where the version came from: `heartbeat`, `snapshot` or `user_agent`.
    pub version_source: String,
    /// Host name the agent reported.
    pub hostname: String,
    /// IP the agent reported.
    pub reported_ip: String,
    /// Remote address of its last request.
    pub remote_addr: String,
    /// `User-Agent` of its last request.
    pub user_agent: String,
}

/// One stored agent row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ag)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct AgentRow {
    pub cluster_id: String,
    pub agent_version: Option<String>,
    pub version_source: String,
    pub hostname: String,
    pub reported_ip: String,
    pub remote_addr: String,
    pub user_agent: String,
    pub first_seen: NaiveDateTime,
    pub last_seen: NaiveDateTime,
    pub connected_at: Option<NaiveDateTime>,
    pub disconnected_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

/// What changed about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// Metadata only.
    Seen,
    /// Came online.
    Connected,
    /// Went offline.
    Disconnected,
}

/// What [`observe`] found before it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The row was created now (the agent's first contact).
    pub first: bool,
    /// The stored version before (a changed version is audited).
    pub previous_version: Option<String>,
    /// Whether the stored row said connected (its last connect after its last disconnect).
    pub was_connected: bool,
    /// Whether anything was written.
    pub written: bool,
}

/// Records an observation of `cluster`'s agent at `at`, in one transaction.
/// - With `meta` (what the agent said, where it came from): creates the row on first
///   contact, else updates what is known; a field the agent did not send this time
///   (`None` version, empty host) keeps its stored value.
/// - A status change only updates an existing row (a status alone creates none), and
///   only when it is one: a disconnect of a row already disconnected writes nothing.
pub fn observe(
    conn: &mut DbConn,
    cluster: &str,
    meta: Option<&AgentObserved>,
    what: Contact,
    at: DateTime<Utc>,
) -> Result<Observed, DbError> {
    let t = to_db(at);
    conn.transaction::<_, DbError, _>(|c| {
        let row: Option<AgentRow> = ag::table
            .filter(ag::cluster_id.eq(cluster))
            .select(AgentRow::as_select())
            .first(c)
            .optional()?;
        let Some(row) = row else {
            let Some(m) = meta else {
                return Ok(Observed::default());
            };
            super::clusters::register(c, cluster, at)?;
            diesel::insert_into(ag::table)
                .values((
                    ag::cluster_id.eq(cluster),
                    ag::agent_version.eq(&m.agent_version),
                    ag::version_source.eq(&m.version_source),
                    ag::hostname.eq(&m.hostname),
                    ag::reported_ip.eq(&m.reported_ip),
                    ag::remote_addr.eq(&m.remote_addr),
                    ag::user_agent.eq(&m.user_agent),
                    ag::first_seen.eq(t),
                    ag::last_seen.eq(t),
                    ag::connected_at.eq(Some(t)),
                    ag::disconnected_at.eq(None::<NaiveDateTime>),
                    ag::updated_at.eq(t),
                ))
                .execute(c)?;
            return Ok(Observed {
                first: true,
                written: true,
                ..Observed::default()
            });
        };
        let was_connected = match (row.connected_at, row.disconnected_at) {
            (Some(on), Some(off)) => on > off,
            (Some(_), None) => true,
            _ => false,
        };
        let found = Observed {
            first: false,
            previous_version: row.agent_version.clone(),
            was_connected,
            written: true,
        };
        let target = ag::table.filter(ag::cluster_id.eq(cluster));
        if let Some(m) = meta {
            let keep = |new: &str, old: &str| {
                if new.is_empty() {
                    old.to_owned()
                } else {
                    new.to_owned()
                }
            };
            let (version, source) = match &m.agent_version {
                Some(v) => (Some(v.clone()), m.version_source.clone()),
                None => (row.agent_version.clone(), row.version_source.clone()),
            };
            diesel::update(target)
                .set((
                    ag::agent_version.eq(version),
                    ag::version_source.eq(source),
                    ag::hostname.eq(keep(&m.hostname, &row.hostname)),
                    ag::reported_ip.eq(keep(&m.reported_ip, &row.reported_ip)),
                    ag::remote_addr.eq(keep(&m.remote_addr, &row.remote_addr)),
                    ag::user_agent.eq(keep(&m.user_agent, &row.user_agent)),
                    ag::last_seen.eq(t),
                    ag::updated_at.eq(t),
                ))
                .execute(c)?;
            return Ok(found);
        }
        match what {
            Contact::Connected if !was_connected => {
                diesel::update(target)
                    .set((
                        ag::last_seen.eq(t),
                        ag::connected_at.eq(Some(t)),
                        ag::updated_at.eq(t),
                    ))
                    .execute(c)?;
            }
            Contact::Disconnected if was_connected => {
                diesel::update(target)
                    .set((ag::disconnected_at.eq(Some(t)), ag::updated_at.eq(t)))
                    .execute(c)?;
            }
            _ => {
                return Ok(Observed {
                    written: false,
                    ..found
                })
            }
        }
        Ok(found)
    })
}

/// One catalogue entry.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = av)]
pub struct VersionRow {
    /// Row id.
    #[serde(skip)]
    pub id: i32,
    /// The version string (`v2.1.0`).
    pub version: String,
    /// Release date.
    #[schema(value_type = Option<String>)]
    pub release_date: Option<NaiveDateTime>,
    /// The latest release.
    #[serde(rename = "latest")]
    pub is_latest: bool,
    /// The policy's minimum: older agents are outdated.
    #[serde(rename = "minimum")]
    pub is_minimum: bool,
    /// The oldest master version this agent works with.
    pub min_master_version: Option<String>,
    /// Free text (what changed).
    pub notes: String,
    /// Created.
    #[schema(value_type = String)]
    pub created_at: NaiveDateTime,
    /// Last changed.
    #[schema(value_type = String)]
    pub updated_at: NaiveDateTime,
}

/// A catalogue entry to create or the fields to change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct VersionPatch {
    /// Release date (`Some(None)` clears it).
    pub release_date: Option<Option<NaiveDateTime>>,
    /// Latest flag.
    pub is_latest: Option<bool>,
    /// Minimum flag.
    pub is_minimum: Option<bool>,
    /// Minimum master version (`Some(None)` clears it).
    pub min_master_version: Option<Option<String>>,
    /// Notes.
    pub notes: Option<String>,
}

/// Every catalogue entry, in insertion order.
pub fn versions(conn: &mut DbConn) -> Result<Vec<VersionRow>, DbError> {
    Ok(av::table
        .order(av::id.asc())
        .select(VersionRow::as_select())
        .load(conn)?)
}

/// Creates `version` (false: it exists). A `latest` or `minimum` flag moves from the entry
/// that had it, in the same transaction.
pub fn create_version(
    conn: &mut DbConn,
    version: &str,
    p: &VersionPatch,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let t = to_db(at);
    conn.transaction::<_, DbError, _>(|c| {
        let exists: bool = diesel::select(diesel::dsl::exists(
            av::table.filter(av::version.eq(version)),
        ))
        .get_result(c)?;
        if exists {
            return Ok(false);
        }
        clear_flags(c, p)?;
        diesel::insert_into(av::table)
            .values((
                av::version.eq(version),
                av::release_date.eq(p.release_date.flatten()),
                av::is_latest.eq(p.is_latest.unwrap_or(false)),
                av::is_minimum.eq(p.is_minimum.unwrap_or(false)),
                av::min_master_version.eq(p.min_master_version.clone().flatten()),
                av::notes.eq(p.notes.clone().unwrap_or_default()),
                av::created_at.eq(t),
                av::updated_at.eq(t),
            ))
            .execute(c)?;
        Ok(true)
    })
}

fn clear_flags(c: &mut DbConn, p: &VersionPatch) -> Result<(), DbError> {
    if p.is_latest == Some(true) {
        diesel::update(av::table.filter(av::is_latest.eq(true)))
            .set(av::is_latest.eq(false))
            .execute(c)?;
    }
    if p.is_minimum == Some(true) {
        diesel::update(av::table.filter(av::is_minimum.eq(true)))
            .set(av::is_minimum.eq(false))
            .execute(c)?;
    }
    Ok(())
}

/// Changes `version` (false: unknown).
pub fn patch_version(
    conn: &mut DbConn,
    version: &str,
    p: &VersionPatch,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let t = to_db(at);
    conn.transaction::<_, DbError, _>(|c| {
        let row = av::table.filter(av::version.eq(version));
        let exists: bool = diesel::select(diesel::dsl::exists(row)).get_result(c)?;
        if !exists {
            return Ok(false);
        }
        clear_flags(c, p)?;
        let row = av::table.filter(av::version.eq(version));
        if let Some(v) = p.release_date {
            diesel::update(row).set(av::release_date.eq(v)).execute(c)?;
        }
        if let Some(v) = p.is_latest {
            diesel::update(row).set(av::is_latest.eq(v)).execute(c)?;
        }
        if let Some(v) = p.is_minimum {
            diesel::update(row).set(av::is_minimum.eq(v)).execute(c)?;
        }
        if let Some(v) = &p.min_master_version {
            diesel::update(row)
                .set(av::min_master_version.eq(v.clone()))
                .execute(c)?;
        }
        if let Some(v) = &p.notes {
            diesel::update(row).set(av::notes.eq(v)).execute(c)?;
        }
        diesel::update(row).set(av::updated_at.eq(t)).execute(c)?;
        Ok(true)
    })
}

/// Deletes `version` (false: unknown).
pub fn delete_version(conn: &mut DbConn, version: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(av::table.filter(av::version.eq(version))).execute(conn)? > 0)
}

/// Agent rows and the version catalogue. Async; see [`super::Db`] for where reads and writes run.
pub struct Agents<'a>(pub(super) &'a super::Db);

impl Agents<'_> {
    /// Records an observation (see [`observe`]).
    pub async fn observe(
        &self,
        cluster: std::sync::Arc<str>,
        meta: Option<AgentObserved>,
        what: Contact,
        at: DateTime<Utc>,
    ) -> Result<Observed, DbError> {
        self.0
            .write(move |c| observe(c, &cluster, meta.as_ref(), what, at))
            .await
    }

    /// The stored row of `cluster`'s agent.
    pub async fn get(&self, cluster: &str) -> Result<Option<AgentRow>, DbError> {
        let cluster = cluster.to_owned();
        self.0
            .read(move |c| {
                Ok(ag::table
                    .filter(ag::cluster_id.eq(cluster))
                    .select(AgentRow::as_select())
                    .first(c)
                    .optional()?)
            })
            .await
    }

    /// The catalogue.
    pub async fn versions(&self) -> Result<Vec<VersionRow>, DbError> {
        self.0.read(versions).await
    }

    /// Creates an entry (see [`create_version`]).
    pub async fn create_version(&self, version: String, p: VersionPatch) -> Result<bool, DbError> {
        self.0
            .write(move |c| create_version(c, &version, &p, Utc::now()))
            .await
    }

    /// Changes an entry (see [`patch_version`]).
    pub async fn patch_version(&self, version: String, p: VersionPatch) -> Result<bool, DbError> {
        self.0
            .write(move |c| patch_version(c, &version, &p, Utc::now()))
            .await
    }

    /// Deletes an entry.
    pub async fn delete_version(&self, version: String) -> Result<bool, DbError> {
        self.0.write(move |c| delete_version(c, &version)).await
    }
}
