//! The `cluster_changes` and `change_state` tables: the change history found by diffing
//! snapshots, and the inventory each cluster's next snapshot is diffed against.
//!
//! [`record`] writes one snapshot's work in one transaction: new rows, rows folded into
//! (a noisy object's latest row of the same change type), and the cluster's state. A
//! change that one of our commands caused is linked to it there (see [`causes`]).

use super::MultiBackend;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use diesel::prelude::*;

use super::schema::{change_state as cs, cluster_changes as cc, command_history as ch};
use super::{from_db, on_engine, to_db, DbConn, DbError};

/// How long before a change a command on the same object counts as its cause.
pub const ATTRIBUTION_WINDOW_MINUTES: i64 = 15;

/// One change to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// Kubernetes kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Change type.
    pub change_type: String,
    /// Short summary.
    pub summary: String,
    /// Value before.
    pub old_value: String,
    /// Value after.
    pub new_value: String,
    /// `day`, `month` or `quarter` for periodic snapshots, else `""`.
    pub tier: String,
    /// Fold into the latest row of the same object and change type instead of inserting.
    pub fold: bool,
}

/// One stored change.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cc)]
pub struct ChangeRow {
    /// Row id.
    pub id: i32,
    /// Cluster.
    pub cluster_id: String,
    /// Snapshot time of the first change of the row.
    pub time: NaiveDateTime,
    /// Snapshot time of the latest change folded in.
    pub last_time: NaiveDateTime,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Change type.
    pub change_type: String,
    /// Summary.
    pub summary: String,
    /// Value before.
    pub old_value: String,
    /// Value after.
    pub new_value: String,
    /// Changes in this row.
    pub count: i32,
    /// The command of ours that caused it.
    pub command_id: Option<String>,
    /// Retention tier of a periodic snapshot.
    pub tier: String,
}

/// A folded summary, bounded.
fn clip(s: &str) -> String {
    const MAX: usize = 1_000;
    if s.chars().count() <= MAX {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX - 1).collect();
    out.push('…');
    out
}

fn rfc3339(t: NaiveDateTime) -> String {
    from_db(t).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl ChangeRow {
    /// The API item (`spec/api.md` "Changes and timeline"); also the DSL's `changes(...)`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "cluster_id": self.cluster_id,
            "time": rfc3339(self.time),
            "last_time": rfc3339(self.last_time),
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "change_type": self.change_type,
            "summary": self.summary,
            "before": self.old_value,
            "after": self.new_value,
            "count": self.count,
            "command_id": self.command_id,
            "tier": self.tier,
        })
    }
}

/// The filters of `GET /clusters/{id}/changes`.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    /// Kind.
    pub kind: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Change type.
    pub change_type: Option<String>,
    /// `last_time >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `time <= until`.
    pub until: Option<DateTime<Utc>>,
    /// Only these objects `(kind, namespace, name)` (the notifier's "this object and its
    /// owner"); empty matches nothing.
    pub any_of: Option<Vec<(String, String, String)>>,
    /// Leave out Secrets' rows (callers below operator, who may not see Secrets).
    pub hide_secrets: bool,
    /// Include periodic snapshots without asking for `change_type=periodic_snapshot`
    /// (they are retention markers, not changes).
    pub include_periodic: bool,
}

type Cond = super::Cond<cc::table>;

fn filtered<'a>(cluster: &'a str, f: &ChangeFilter) -> cc::BoxedQuery<'a, MultiBackend> {
    let mut q = cc::table.filter(cc::cluster_id.eq(cluster)).into_boxed();
    if let Some(v) = &f.kind {
        q = q.filter(cc::kind.eq(v.clone()));
    }
    if let Some(v) = &f.namespace {
        q = q.filter(cc::namespace.eq(v.clone()));
    }
    if let Some(v) = &f.name {
        q = q.filter(cc::name.eq(v.clone()));
    }
    match &f.change_type {
        Some(v) => q = q.filter(cc::change_type.eq(v.clone())),
        None if !f.include_periodic => q = q.filter(cc::change_type.ne("periodic_snapshot")),
        None => {}
    }
    if f.hide_secrets {
        q = q.filter(cc::kind.ne("Secret"));
    }
    if let Some(t) = f.since {
        q = q.filter(cc::last_time.ge(to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(cc::time.le(to_db(t)));
    }
    if let Some(any) = &f.any_of {
        q = q.filter(super::any_of(any.iter().map(|(k, ns, n)| -> Cond {
            Box::new(
                cc::kind
                    .eq(k.clone())
                    .and(cc::namespace.eq(ns.clone()))
                    .and(cc::name.eq(n.clone())),
            )
        })));
    }
    q
}

/// One page of `cluster`'s changes, newest first, and the total matching.
pub fn list(
    conn: &mut DbConn,
    cluster: &str,
    f: &ChangeFilter,
    limit: usize,
    offset: usize,
) -> Result<(Vec<ChangeRow>, usize), DbError> {
    let total: i64 = filtered(cluster, f).count().get_result(conn)?;
    let rows = filtered(cluster, f)
        .order((cc::time.desc(), cc::id.desc()))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .offset(i64::try_from(offset).unwrap_or(i64::MAX))
        .select(ChangeRow::as_select())
        .load(conn)?;
    Ok((rows, usize::try_from(total).unwrap_or(0)))
}

/// The command actions that make a change of `change_type` (none: not attributable).
fn causing_actions(change_type: &str) -> &'static [&'static str] {
    match change_type {
        "replicas_changed" => &["scale"],
        "rollout_started" | "rollout_finished" => &["restart", "update_image"],
        "image_changed" => &["update_image"],
        "cordoned" => &["cordon"],
        "uncordoned" => &["uncordon"],
        "removed" => &["delete"],
        _ => &[],
    }
}

/// A command that may have caused a change.
struct Cause {
    command_id: String,
    action: String,
    created_by: Option<String>,
    kind: String,
    namespace: String,
    name: String,
}

/// The commands of `cluster` that may have caused changes seen at `at`: created in the
/// [`ATTRIBUTION_WINDOW_MINUTES`] before it, not refused or cancelled, newest first. One
/// query for the whole snapshot, and none when no change is attributable.
fn causes(
    conn: &mut DbConn,
    cluster: &str,
    changes: &[NewChange],
    at: NaiveDateTime,
) -> Result<Vec<Cause>, DbError> {
    let mut actions: Vec<&str> = changes
        .iter()
        .flat_map(|c| causing_actions(&c.change_type).iter().copied())
        .collect();
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    actions.sort_unstable();
    actions.dedup();
    let from = at - chrono::Duration::minutes(ATTRIBUTION_WINDOW_MINUTES);
    let rows: Vec<(String, String, Option<String>, String, String, String)> = ch::table
        .filter(ch::cluster_id.eq(cluster))
        .filter(ch::action.eq_any(actions))
        .filter(ch::status.eq_any(["running", "success", "timeout"]))
        .filter(ch::created_at.ge(from))
        .filter(ch::created_at.le(at + chrono::Duration::minutes(1)))
        .order(ch::created_at.desc())
        .select((
            ch::command_id,
            ch::action,
            ch::created_by,
            ch::target_kind,
            ch::target_namespace,
            ch::target_name,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(command_id, action, created_by, kind, namespace, name)| Cause {
                command_id,
                action,
                created_by,
                kind,
                namespace,
                name,
            },
        )
        .collect())
}

/// The newest of `causes` on the same object as `c` whose action makes its kind of change.
fn cause_of<'a>(causes: &'a [Cause], c: &NewChange) -> Option<&'a Cause> {
    let actions = causing_actions(&c.change_type);
    causes.iter().find(|x| {
        x.kind == c.kind
            && x.namespace == c.namespace
            && x.name == c.name
            && actions.contains(&x.action.as_str())
    })
}

/// Writes one snapshot's changes and the cluster's new state in one transaction; returns
/// the rows inserted and folded. With `diffed` (the changes were found against a stored
/// state) and no stored state any more (the cluster was deleted since), nothing is
/// written and `None` says the persister's memory is stale.
pub fn record(
    conn: &mut DbConn,
    cluster: &str,
    at: DateTime<Utc>,
    changes: &[NewChange],
    state: Option<&str>,
    diffed: bool,
) -> Result<Option<(usize, usize)>, DbError> {
    let t = to_db(at);
    let now = to_db(Utc::now());
    conn.transaction::<_, DbError, _>(|c| {
        if diffed {
            let known: bool = diesel::select(diesel::dsl::exists(
                cs::table.filter(cs::cluster_id.eq(cluster)),
            ))
            .get_result(c)?;
            if !known {
                return Ok(None);
            }
        }
        super::clusters::register(c, cluster, at)?;
        let (mut inserted, mut folded) = (0, 0);
        let candidates = causes(c, cluster, changes, t)?;
        for ch in changes {
            let cause = cause_of(&candidates, ch);
            let mut summary = ch.summary.clone();
            if let Some(x) = cause {
                summary.push_str(&format!(", by {} command {}", x.action, x.command_id));
                if let Some(by) = x.created_by.as_deref().filter(|b| !b.is_empty()) {
                    summary.push_str(&format!(" ({by})"));
                }
            }
            if ch.fold && fold_into_latest(c, cluster, ch, t, &summary)? {
                folded += 1;
                continue;
            }
            diesel::insert_into(cc::table)
                .values((
                    cc::cluster_id.eq(cluster),
                    cc::time.eq(t),
                    cc::last_time.eq(t),
                    cc::kind.eq(&ch.kind),
                    cc::namespace.eq(&ch.namespace),
                    cc::name.eq(&ch.name),
                    cc::change_type.eq(&ch.change_type),
                    cc::summary.eq(&summary),
                    cc::old_value.eq(&ch.old_value),
                    cc::new_value.eq(&ch.new_value),
                    cc::count.eq(1),
                    cc::command_id.eq(cause.map(|x| x.command_id.clone())),
                    cc::tier.eq(&ch.tier),
                    cc::created_at.eq(now),
                ))
                .execute(c)?;
            inserted += 1;
        }
        if let Some(state) = state {
            on_engine!(c, |c| diesel::insert_into(cs::table)
                .values((
                    cs::cluster_id.eq(cluster),
                    cs::snapshot_at.eq(t),
                    cs::state.eq(state),
                    cs::updated_at.eq(now),
                ))
                .on_conflict(cs::cluster_id)
                .do_update()
                .set((
                    cs::snapshot_at.eq(t),
                    cs::state.eq(state),
                    cs::updated_at.eq(now),
                ))
                .execute(c))?;
        }
        Ok(Some((inserted, folded)))
    })
}

/// Folds `ch` into the latest row of the same object and change type: its `after` value,
/// `last_time` and `count` move on, its `before` stays. False when there is no such row.
fn fold_into_latest(
    conn: &mut DbConn,
    cluster: &str,
    ch: &NewChange,
    t: NaiveDateTime,
    summary: &str,
) -> Result<bool, DbError> {
    let latest: Option<(i32, String, i32)> = cc::table
        .filter(cc::cluster_id.eq(cluster))
        .filter(cc::kind.eq(&ch.kind))
        .filter(cc::namespace.eq(&ch.namespace))
        .filter(cc::name.eq(&ch.name))
        .filter(cc::change_type.eq(&ch.change_type))
        .order((cc::time.desc(), cc::id.desc()))
        .select((cc::id, cc::old_value, cc::count))
        .first(conn)
        .optional()?;
    let Some((id, old_value, count)) = latest else {
        return Ok(false);
    };
    let count = count.saturating_add(1);
    let summary = if old_value.is_empty() && ch.new_value.is_empty() {
        format!("{summary} ({count} times, summarised)")
    } else {
        format!(
            "{old_value} → {} ({count} changes, summarised; latest: {summary})",
            ch.new_value
        )
    };
    diesel::update(cc::table.find(id))
        .set((
            cc::new_value.eq(&ch.new_value),
            cc::last_time.eq(t),
            cc::count.eq(count),
            cc::summary.eq(clip(&summary)),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Every cluster's stored state: `(cluster, snapshot_at, state)`.
pub fn states(conn: &mut DbConn) -> Result<Vec<(String, NaiveDateTime, String)>, DbError> {
    Ok(cs::table
        .select((cs::cluster_id, cs::snapshot_at, cs::state))
        .load(conn)?)
}

/// Per cluster, the time of its latest periodic snapshot.
pub fn last_periodic(conn: &mut DbConn) -> Result<Vec<(String, NaiveDateTime)>, DbError> {
    let rows: Vec<(String, Option<NaiveDateTime>)> = cc::table
        .filter(cc::change_type.eq("periodic_snapshot"))
        .group_by(cc::cluster_id)
        .select((cc::cluster_id, diesel::dsl::max(cc::time)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, t)| t.map(|t| (c, t)))
        .collect())
}

/// One cluster's stored inventory and the time of its latest periodic snapshot.
pub fn memory_of(
    conn: &mut DbConn,
    cluster: &str,
) -> Result<(Option<String>, Option<NaiveDateTime>), DbError> {
    let state: Option<String> = cs::table
        .filter(cs::cluster_id.eq(cluster))
        .select(cs::state)
        .first(conn)
        .optional()?;
    let periodic: Option<NaiveDateTime> = cc::table
        .filter(cc::cluster_id.eq(cluster))
        .filter(cc::change_type.eq("periodic_snapshot"))
        .select(diesel::dsl::max(cc::time))
        .first(conn)?;
    Ok((state, periodic))
}

/// The change history and diff state. Async; see [`super::Db`] for where reads and writes run.
pub struct Changes<'a>(pub(super) &'a super::Db);

impl Changes<'_> {
    /// Writes one snapshot's work (see [`record`]).
    pub async fn record(
        &self,
        cluster: std::sync::Arc<str>,
        at: DateTime<Utc>,
        changes: Vec<NewChange>,
        state: Option<String>,
        diffed: bool,
    ) -> Result<Option<(usize, usize)>, DbError> {
        self.0
            .write(move |c| record(c, &cluster, at, &changes, state.as_deref(), diffed))
            .await
    }

    /// Every cluster's stored state (the persister's memory after a restart).
    pub async fn states(&self) -> Result<Vec<(String, NaiveDateTime, String)>, DbError> {
        self.0.read(states).await
    }

    /// One cluster's stored inventory and latest periodic snapshot time (see [`memory_of`]).
    pub async fn memory_of(
        &self,
        cluster: &str,
    ) -> Result<(Option<String>, Option<NaiveDateTime>), DbError> {
        let c = cluster.to_owned();
        self.0.read(move |conn| memory_of(conn, &c)).await
    }

    /// Per cluster, its latest periodic snapshot's time.
    pub async fn last_periodic(&self) -> Result<Vec<(String, NaiveDateTime)>, DbError> {
        self.0.read(last_periodic).await
    }

    /// One page of changes (see [`list`]).
    pub async fn list(
        &self,
        cluster: String,
        f: ChangeFilter,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<ChangeRow>, usize), DbError> {
        self.0
            .read(move |c| list(c, &cluster, &f, limit, offset))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `changes(...)` in the query DSL checks fields against this row's JSON keys.
    #[test]
    fn the_json_keys_are_the_dsl_fields() {
        let row = ChangeRow {
            id: 1,
            cluster_id: String::new(),
            time: NaiveDateTime::default(),
            last_time: NaiveDateTime::default(),
            kind: String::new(),
            namespace: String::new(),
            name: String::new(),
            change_type: String::new(),
            summary: String::new(),
            old_value: String::new(),
            new_value: String::new(),
            count: 1,
            command_id: None,
            tier: String::new(),
        };
        let json = row.to_json();
        let mut keys: Vec<&str> = json
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut want = atlhyper_query::CHANGE_FIELDS.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
    }
}
