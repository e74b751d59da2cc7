//! Alert rules, alert history, silences, channels and the delivery outbox (migration
//! 000005). Channel configs arrive here already encrypted; nothing in this module sees a
//! secret in clear.

use super::MultiBackend;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{alert_history as ah, alert_rules as ar, notify_channels as nc};
use super::schema::{notify_deliveries as nd, silences as si};
use super::{is_unique_violation, on_engine, to_db, DbConn, DbError};

// ---------------------------------------------------------------------------------------
// Rules

/// One stored rule.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ar)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct RuleRow {
    pub id: i32,
    pub name: String,
    pub description: String,
    pub builtin: Option<String>,
    pub cluster_id: Option<String>,
    pub namespace: Option<String>,
    pub labels: String,
    pub resource_type: String,
    pub condition: String,
    pub severity: String,
    pub enabled: bool,
    pub notify_channels: String,
    pub cooldown_sec: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub created_by: Option<i32>,
}

/// The writable columns of a rule (create and full update).
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = ar, treat_none_as_null = true)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct RuleFields {
    pub name: String,
    pub description: String,
    pub cluster_id: Option<String>,
    pub namespace: Option<String>,
    pub labels: String,
    pub resource_type: String,
    pub condition: String,
    pub severity: String,
    pub enabled: bool,
    pub notify_channels: String,
    pub cooldown_sec: i32,
}

/// Outcome of a rule write.
#[derive(Debug)]
pub enum RuleWrite {
    /// Written.
    Ok(Box<RuleRow>),
    /// Another rule has this name.
    NameTaken,
    /// No such rule.
    NotFound,
}

/// Every rule, by id.
pub fn list_rules(conn: &mut DbConn) -> Result<Vec<RuleRow>, DbError> {
    Ok(ar::table
        .select(RuleRow::as_select())
        .order(ar::id.asc())
        .load(conn)?)
}

/// One rule.
pub fn get_rule(conn: &mut DbConn, id: i32) -> Result<Option<RuleRow>, DbError> {
    Ok(ar::table
        .find(id)
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?)
}

/// Creates a rule.
pub fn insert_rule(
    conn: &mut DbConn,
    fields: &RuleFields,
    by: Option<i32>,
    now: DateTime<Utc>,
) -> Result<RuleWrite, DbError> {
    let res = on_engine!(conn, |c| diesel::insert_into(ar::table)
        .values((
            fields,
            ar::created_at.eq(to_db(now)),
            ar::updated_at.eq(to_db(now)),
            ar::created_by.eq(by),
        ))
        .returning(RuleRow::as_returning())
        .get_result(c));
    match res {
        Ok(r) => Ok(RuleWrite::Ok(Box::new(r))),
        Err(e) if is_unique_violation(&e) => Ok(RuleWrite::NameTaken),
        Err(e) => Err(e.into()),
    }
}

/// Replaces a rule's writable columns.
pub fn update_rule(
    conn: &mut DbConn,
    id: i32,
    fields: &RuleFields,
    now: DateTime<Utc>,
) -> Result<RuleWrite, DbError> {
    let res = on_engine!(conn, |c| diesel::update(ar::table.find(id))
        .set((fields, ar::updated_at.eq(to_db(now))))
        .returning(RuleRow::as_returning())
        .get_result(c)
        .optional());
    match res {
        Ok(Some(r)) => Ok(RuleWrite::Ok(Box::new(r))),
        Ok(None) => Ok(RuleWrite::NotFound),
        Err(e) if is_unique_violation(&e) => Ok(RuleWrite::NameTaken),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a user rule; built-in rules are kept (`Ok(false)` when nothing was deleted).
pub fn delete_rule(conn: &mut DbConn, id: i32) -> Result<bool, DbError> {
    let n = diesel::delete(ar::table.find(id).filter(ar::builtin.is_null())).execute(conn)?;
    Ok(n > 0)
}

// ---------------------------------------------------------------------------------------
// History

/// One stored alert.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ah)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct AlertRow {
    pub id: i32,
    pub uid: String,
    pub rule_id: Option<i32>,
    pub rule_name: String,
    pub fingerprint: String,
    pub cluster_id: String,
    pub severity: String,
    pub title: String,
    pub message: String,
    pub resource_kind: String,
    pub resource_namespace: String,
    pub resource_name: String,
    pub value: Option<f64>,
    pub details: String,
    pub status: String,
    pub fired_at: NaiveDateTime,
    pub resolved_at: Option<NaiveDateTime>,
    pub notified: bool,
    pub suppressed: Option<String>,
    pub last_notified_at: Option<NaiveDateTime>,
}

/// A firing alert to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = ah)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct NewAlertRow {
    pub uid: String,
    pub rule_id: Option<i32>,
    pub rule_name: String,
    pub fingerprint: String,
    pub cluster_id: String,
    pub severity: String,
    pub title: String,
    pub message: String,
    pub resource_kind: String,
    pub resource_namespace: String,
    pub resource_name: String,
    pub value: Option<f64>,
    pub details: String,
    pub status: String,
    pub fired_at: NaiveDateTime,
}

/// One change to the history, applied in order inside one transaction.
#[derive(Debug, Clone)]
pub enum HistoryOp {
    /// A new firing episode.
    Fire(Box<NewAlertRow>),
    /// An episode ended.
    Resolve {
        /// Alert uid.
        uid: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Alerts were notified.
    Notified {
        /// Alert uids.
        uids: Vec<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Why an alert was not notified (`None` clears it).
    Suppress {
        /// Alert uid.
        uid: String,
        /// Reason text.
        reason: Option<String>,
    },
}

/// Applies the engine's history changes and queues their deliveries, in one transaction.
pub fn apply_changes(
    conn: &mut DbConn,
    ops: &[HistoryOp],
    deliveries: &[NewDelivery],
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        for op in ops {
            apply_history(conn, op)?;
        }
        insert_deliveries(conn, deliveries)
    })
}

/// Applies one history change.
pub fn apply_history(conn: &mut DbConn, op: &HistoryOp) -> Result<(), DbError> {
    match op {
        HistoryOp::Fire(row) => {
            // The partial unique index keeps one firing row per fingerprint; a duplicate
            // (possible only if memory and disk disagree) keeps the stored one.
            on_engine!(conn, |c| diesel::insert_into(ah::table)
                .values(row.as_ref())
                .on_conflict_do_nothing()
                .execute(c))?;
        }
        HistoryOp::Resolve { uid, at } => {
            diesel::update(
                ah::table
                    .filter(ah::uid.eq(uid))
                    .filter(ah::status.eq("firing")),
            )
            .set((ah::status.eq("resolved"), ah::resolved_at.eq(to_db(*at))))
            .execute(conn)?;
        }
        HistoryOp::Notified { uids, at } => {
            diesel::update(ah::table.filter(ah::uid.eq_any(uids)))
                .set((
                    ah::notified.eq(true),
                    ah::suppressed.eq(None::<String>),
                    ah::last_notified_at.eq(to_db(*at)),
                ))
                .execute(conn)?;
        }
        HistoryOp::Suppress { uid, reason } => {
            diesel::update(ah::table.filter(ah::uid.eq(uid)))
                .set(ah::suppressed.eq(reason))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Every firing alert (the engine's state after a restart).
pub fn firing_alerts(conn: &mut DbConn) -> Result<Vec<AlertRow>, DbError> {
    Ok(ah::table
        .filter(ah::status.eq("firing"))
        .select(AlertRow::as_select())
        .order(ah::id.asc())
        .load(conn)?)
}

/// Filters of `GET /api/v2/alerts`.
#[derive(Debug, Default, Clone)]
pub struct AlertFilter {
    /// `firing` or `resolved`.
    pub status: Option<String>,
    /// Cluster.
    pub cluster_id: Option<String>,
    /// Severity.
    pub severity: Option<String>,
    /// Fired at or after.
    pub since: Option<DateTime<Utc>>,
    /// Firing at or before (fired then, whether resolved since or not).
    pub until: Option<DateTime<Utc>>,
    /// Only alerts on this resource: `(kind, namespace, name)`; an empty kind, namespace
    /// or name matches any.
    pub resource: Option<(String, String, String)>,
}

fn alerts_filtered(f: &AlertFilter) -> ah::BoxedQuery<'_, MultiBackend> {
    let mut q = ah::table.into_boxed();
    if let Some(s) = &f.status {
        q = q.filter(ah::status.eq(s));
    }
    if let Some(c) = &f.cluster_id {
        q = q.filter(ah::cluster_id.eq(c));
    }
    if let Some(s) = &f.severity {
        q = q.filter(ah::severity.eq(s));
    }
    if let Some(t) = f.since {
        q = q.filter(ah::fired_at.ge(to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(ah::fired_at.le(to_db(t)));
    }
    if let Some((kind, namespace, name)) = &f.resource {
        if !kind.is_empty() {
            q = q.filter(ah::resource_kind.eq(kind));
        }
        if !namespace.is_empty() {
            q = q.filter(ah::resource_namespace.eq(namespace));
        }
        if !name.is_empty() {
            q = q.filter(ah::resource_name.eq(name));
        }
    }
    q
}

/// One page of alerts, newest first, and the number matching.
pub fn list_alerts(
    conn: &mut DbConn,
    f: &AlertFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AlertRow>, i64), DbError> {
    let total: i64 = alerts_filtered(f).count().get_result(conn)?;
    let rows = alerts_filtered(f)
        .select(AlertRow::as_select())
        .order((ah::fired_at.desc(), ah::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

// ---------------------------------------------------------------------------------------
// Silences

/// One stored silence.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = si)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct SilenceRow {
    pub id: i32,
    pub cluster_id: Option<String>,
    pub rule: Option<String>,
    pub resource: Option<String>,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub comment: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

/// A silence to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = si)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct NewSilence {
    pub cluster_id: Option<String>,
    pub rule: Option<String>,
    pub resource: Option<String>,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub comment: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

/// Creates a silence.
pub fn insert_silence(conn: &mut DbConn, s: &NewSilence) -> Result<SilenceRow, DbError> {
    Ok(on_engine!(conn, |c| diesel::insert_into(si::table)
        .values(s)
        .returning(SilenceRow::as_returning())
        .get_result(c))?)
}

/// Silences that have not ended by `now` (the engine's set).
pub fn current_silences(conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<SilenceRow>, DbError> {
    Ok(si::table
        .filter(si::ends_at.gt(to_db(now)))
        .select(SilenceRow::as_select())
        .order(si::id.asc())
        .load(conn)?)
}

/// One page of silences, newest first; `active_only` keeps those not ended by `now`.
pub fn list_silences(
    conn: &mut DbConn,
    active_only: bool,
    now: DateTime<Utc>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<SilenceRow>, i64), DbError> {
    let q = || {
        let mut q = si::table.into_boxed();
        if active_only {
            q = q.filter(si::ends_at.gt(to_db(now)));
        }
        q
    };
    let total: i64 = q().count().get_result(conn)?;
    let rows = q()
        .select(SilenceRow::as_select())
        .order(si::id.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

/// Expires a silence now (ends it; an already ended one is left as it was).
pub fn expire_silence(
    conn: &mut DbConn,
    id: i32,
    now: DateTime<Utc>,
) -> Result<Option<SilenceRow>, DbError> {
    let Some(row) = si::table
        .find(id)
        .select(SilenceRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if row.ends_at <= to_db(now) {
        return Ok(Some(row));
    }
    // Keep ends_at > starts_at (CHECK): a silence not yet started ends where it starts + 1 µs.
    let end = std::cmp::max(
        to_db(now),
        row.starts_at + chrono::Duration::microseconds(1),
    );
    Ok(Some(on_engine!(conn, |c| diesel::update(
        si::table.find(id)
    )
    .set(si::ends_at.eq(end))
    .returning(SilenceRow::as_returning())
    .get_result(c))?))
}

// ---------------------------------------------------------------------------------------
// Channels

/// One stored channel; `config` is encrypted.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = nc)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct ChannelRow {
    pub id: i32,
    pub type_: String,
    pub name: String,
    pub enabled: bool,
    pub config: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub updated_by: Option<i32>,
}

/// Every stored channel.
pub fn list_channels(conn: &mut DbConn) -> Result<Vec<ChannelRow>, DbError> {
    Ok(nc::table
        .select(ChannelRow::as_select())
        .order(nc::id.asc())
        .load(conn)?)
}

/// Creates or replaces the channel of `kind`.
pub fn upsert_channel(
    conn: &mut DbConn,
    kind: &str,
    name: &str,
    enabled: bool,
    encrypted_config: &str,
    by: Option<i32>,
    now: DateTime<Utc>,
) -> Result<ChannelRow, DbError> {
    Ok(on_engine!(conn, |c| diesel::insert_into(nc::table)
        .values((
            nc::type_.eq(kind),
            nc::name.eq(name),
            nc::enabled.eq(enabled),
            nc::config.eq(encrypted_config),
            nc::created_at.eq(to_db(now)),
            nc::updated_at.eq(to_db(now)),
            nc::updated_by.eq(by),
        ))
        .on_conflict(nc::type_)
        .do_update()
        .set((
            nc::name.eq(name),
            nc::enabled.eq(enabled),
            nc::config.eq(encrypted_config),
            nc::updated_at.eq(to_db(now)),
            nc::updated_by.eq(by),
        ))
        .returning(ChannelRow::as_returning())
        .get_result(c))?)
}

// ---------------------------------------------------------------------------------------
// Deliveries (the outbox)

/// One outbox row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = nd)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct DeliveryRow {
    pub id: i32,
    pub channel: String,
    pub kind: String,
    pub alert_uid: Option<String>,
    pub cluster_id: String,
    pub rule_name: String,
    pub title: String,
    pub message: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub digest_id: Option<i32>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// A message to queue.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = nd)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct NewDelivery {
    pub channel: String,
    pub kind: String,
    pub alert_uid: Option<String>,
    pub cluster_id: String,
    pub rule_name: String,
    pub title: String,
    pub message: String,
    pub status: String,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Queues messages.
pub fn insert_deliveries(conn: &mut DbConn, rows: &[NewDelivery]) -> Result<(), DbError> {
    if !rows.is_empty() {
        on_engine!(conn, |c| diesel::insert_into(nd::table)
            .values(rows)
            .execute(c))?;
    }
    Ok(())
}

/// Every pending delivery, oldest first (the dispatcher's queue; small by construction:
/// budgets fold overflow into digests).
pub fn pending_deliveries(conn: &mut DbConn) -> Result<Vec<DeliveryRow>, DbError> {
    Ok(nd::table
        .filter(nd::status.eq("pending"))
        .select(DeliveryRow::as_select())
        .order(nd::id.asc())
        .load(conn)?)
}

/// How many outbox rows each (channel, status) holds (`/metrics`): one grouped query;
/// finished rows are kept `audit_retention_days`.
pub fn count_deliveries(conn: &mut DbConn) -> Result<Vec<(String, String, i64)>, DbError> {
    Ok(nd::table
        .group_by((nd::channel, nd::status))
        .select((nd::channel, nd::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// The channel accepted it.
    Delivered,
    /// Failed; try again at `next`.
    Retry {
        /// The error (secret-free).
        error: String,
        /// When to try again.
        next: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        /// The error (secret-free).
        error: String,
    },
}

/// Records an attempt on a pending delivery.
pub fn record_attempt(
    conn: &mut DbConn,
    id: i32,
    attempt: &Attempt,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let row = nd::table.find(id).filter(nd::status.eq("pending"));
    let n = to_db(now);
    match attempt {
        Attempt::Delivered => diesel::update(row)
            .set((
                nd::status.eq("delivered"),
                nd::attempts.eq(nd::attempts + 1),
                nd::delivered_at.eq(n),
                nd::updated_at.eq(n),
            ))
            .execute(conn)?,
        Attempt::Retry { error, next } => diesel::update(row)
            .set((
                nd::attempts.eq(nd::attempts + 1),
                nd::last_error.eq(error),
                nd::next_attempt_at.eq(to_db(*next)),
                nd::updated_at.eq(n),
            ))
            .execute(conn)?,
        Attempt::Failed { error } => diesel::update(row)
            .set((
                nd::status.eq("failed"),
                nd::attempts.eq(nd::attempts + 1),
                nd::last_error.eq(error),
                nd::updated_at.eq(n),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Records the same outcome on each of the pending deliveries `ids`, in one transaction
/// (a delivery that is no longer pending is left as it is).
pub fn record_attempts(
    conn: &mut DbConn,
    ids: &[i32],
    attempt: &Attempt,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        for id in ids {
            record_attempt(conn, *id, attempt, now)?;
        }
        Ok(())
    })
}

/// Folds pending deliveries `ids` into a new digest row; returns the digest's id.
pub fn fold_into_digest(
    conn: &mut DbConn,
    ids: &[i32],
    digest: &NewDelivery,
) -> Result<i32, DbError> {
    conn.transaction(|conn| {
        let id: i32 = diesel::insert_into(nd::table)
            .values(digest)
            .returning(nd::id)
            .get_result(conn)?;
        diesel::update(
            nd::table
                .filter(nd::id.eq_any(ids))
                .filter(nd::status.eq("pending")),
        )
        .set((
            nd::status.eq("folded"),
            nd::digest_id.eq(id),
            nd::updated_at.eq(digest.created_at),
        ))
        .execute(conn)?;
        Ok(id)
    })
}

/// Filters of `GET /api/v2/notify/deliveries`.
#[derive(Debug, Default, Clone)]
pub struct DeliveryFilter {
    /// Channel type.
    pub channel: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Alert uid.
    pub alert_uid: Option<String>,
}

fn deliveries_filtered(f: &DeliveryFilter) -> nd::BoxedQuery<'_, MultiBackend> {
    let mut q = nd::table.into_boxed();
    if let Some(c) = &f.channel {
        q = q.filter(nd::channel.eq(c));
    }
    if let Some(s) = &f.status {
        q = q.filter(nd::status.eq(s));
    }
    if let Some(a) = &f.alert_uid {
        q = q.filter(nd::alert_uid.eq(a));
    }
    q
}

/// One page of deliveries, newest first, and the number matching.
pub fn list_deliveries(
    conn: &mut DbConn,
    f: &DeliveryFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DeliveryRow>, i64), DbError> {
    let total: i64 = deliveries_filtered(f).count().get_result(conn)?;
    let rows = deliveries_filtered(f)
        .select(DeliveryRow::as_select())
        .order(nd::id.desc())
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

/// Alert rules, alert history, silences, channels and the outbox. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Notify<'a>(pub(super) &'a super::Db);

impl Notify<'_> {
    // Rules

    /// Every rule, by id.
    pub async fn list_rules(&self) -> Result<Vec<RuleRow>, DbError> {
        self.0.read(list_rules).await
    }

    /// One rule.
    pub async fn get_rule(&self, id: i32) -> Result<Option<RuleRow>, DbError> {
        self.0.read(move |c| get_rule(c, id)).await
    }

    /// Creates a rule (see [`insert_rule`]).
    pub async fn insert_rule(
        &self,
        fields: RuleFields,
        by: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<RuleWrite, DbError> {
        self.0
            .write(move |c| insert_rule(c, &fields, by, now))
            .await
    }

    /// Replaces a rule's writable columns (see [`update_rule`]).
    pub async fn update_rule(
        &self,
        id: i32,
        fields: RuleFields,
        now: DateTime<Utc>,
    ) -> Result<RuleWrite, DbError> {
        self.0
            .write(move |c| update_rule(c, id, &fields, now))
            .await
    }

    /// Deletes a user rule; built-in rules are kept (see [`delete_rule`]).
    pub async fn delete_rule(&self, id: i32) -> Result<bool, DbError> {
        self.0.write(move |c| delete_rule(c, id)).await
    }

    // History

    /// Applies history changes and queues their deliveries in one transaction (see
    /// [`apply_changes`]).
    pub async fn apply_changes(
        &self,
        ops: Vec<HistoryOp>,
        deliveries: Vec<NewDelivery>,
    ) -> Result<(), DbError> {
        self.0
            .write(move |c| apply_changes(c, &ops, &deliveries))
            .await
    }

    /// Every firing alert.
    pub async fn firing_alerts(&self) -> Result<Vec<AlertRow>, DbError> {
        self.0.read(firing_alerts).await
    }

    /// One page of alerts, newest first, and the number matching.
    pub async fn list_alerts(
        &self,
        filter: AlertFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AlertRow>, i64), DbError> {
        self.0
            .read(move |c| list_alerts(c, &filter, limit, offset))
            .await
    }

    // Silences

    /// Creates a silence.
    pub async fn insert_silence(&self, silence: NewSilence) -> Result<SilenceRow, DbError> {
        self.0.write(move |c| insert_silence(c, &silence)).await
    }

    /// Silences that have not ended by `now`.
    pub async fn current_silences(&self, now: DateTime<Utc>) -> Result<Vec<SilenceRow>, DbError> {
        self.0.read(move |c| current_silences(c, now)).await
    }

    /// One page of silences, newest first (see [`list_silences`]).
    pub async fn list_silences(
        &self,
        active_only: bool,
        now: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<SilenceRow>, i64), DbError> {
        self.0
            .read(move |c| list_silences(c, active_only, now, limit, offset))
            .await
    }

    /// Expires a silence now (see [`expire_silence`]); `None` when there is no such silence.
    pub async fn expire_silence(
        &self,
        id: i32,
        now: DateTime<Utc>,
    ) -> Result<Option<SilenceRow>, DbError> {
        self.0.write(move |c| expire_silence(c, id, now)).await
    }

    // Channels

    /// Every stored channel (configs still sealed).
    pub async fn list_channels(&self) -> Result<Vec<ChannelRow>, DbError> {
        self.0.read(list_channels).await
    }

    /// Creates or replaces the channel of `kind`; `encrypted_config` is already sealed.
    pub async fn upsert_channel(
        &self,
        kind: &str,
        name: String,
        enabled: bool,
        encrypted_config: String,
        by: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<ChannelRow, DbError> {
        let kind = kind.to_owned();
        self.0
            .write(move |c| upsert_channel(c, &kind, &name, enabled, &encrypted_config, by, now))
            .await
    }

    // Deliveries

    /// Every pending delivery, oldest first.
    pub async fn pending_deliveries(&self) -> Result<Vec<DeliveryRow>, DbError> {
        self.0.read(pending_deliveries).await
    }

    /// Records an attempt on a pending delivery.
    pub async fn record_attempt(
        &self,
        id: i32,
        attempt: Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.0
            .write(move |c| record_attempt(c, id, &attempt, now))
            .await
    }

    /// Records the same outcome on several pending deliveries (see [`record_attempts`]).
    pub async fn record_attempts(
        &self,
        ids: Vec<i32>,
        attempt: Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.0
            .write(move |c| record_attempts(c, &ids, &attempt, now))
            .await
    }

    /// Folds pending deliveries into a new digest row; returns the digest's id.
    pub async fn fold_into_digest(
        &self,
        ids: Vec<i32>,
        digest: NewDelivery,
    ) -> Result<i32, DbError> {
        self.0
            .write(move |c| fold_into_digest(c, &ids, &digest))
            .await
    }

    /// How many outbox rows each (channel, status) holds.
    pub async fn count_deliveries(&self) -> Result<Vec<(String, String, i64)>, DbError> {
        self.0.read(count_deliveries).await
    }

    /// One page of deliveries, newest first, and the number matching.
    pub async fn list_deliveries(
        &self,
        filter: DeliveryFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DeliveryRow>, i64), DbError> {
        self.0
            .read(move |c| list_deliveries(c, &filter, limit, offset))
            .await
    }
}
