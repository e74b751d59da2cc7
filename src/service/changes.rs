//! Reading the change history: the changes list, the **timeline** (changes, Warning
//! events, commands and alerts of one object or namespace merged, newest first: "what
//! happened around 14:05"), and the recent changes the notifier adds to an alert.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

use atlhyper_actors::model::ClusterSnapshot;

use crate::db::changes::{ChangeFilter, ChangeRow};
use crate::db::commands::{CommandFilter, CommandRow};
use crate::db::events::{EventFilter, EventRow};
use crate::db::notify::{AlertFilter, AlertRow};
use crate::db::{from_db, Db, DbError};

/// Longest timeline window.
pub const MAX_TIMELINE_DAYS: i64 = 31;
/// The window when only one end is given, or none (ending now).
pub const DEFAULT_TIMELINE_HOURS: i64 = 1;
/// Most items of each source read for one timeline.
pub const MAX_PER_SOURCE: usize = 1_000;
/// How far back the notifier looks for changes to an alerted object.
pub const RECENT_MINUTES: i64 = 15;

/// What a timeline covers.
#[derive(Debug, Clone, Default)]
pub struct TimelineQuery {
    /// Kind (`""`: any).
    pub kind: String,
    /// Namespace (`""`: any, or cluster-scoped objects with a kind).
    pub namespace: String,
    /// Name (`""`: every object of the kind or namespace).
    pub name: String,
    /// Window start.
    pub since: Option<DateTime<Utc>>,
    /// Window end.
    pub until: Option<DateTime<Utc>>,
    /// Most items returned.
    pub limit: usize,
    /// Leave out Secrets' changes (callers below operator).
    pub hide_secrets: bool,
}

/// Why a timeline was refused.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// The window is empty, reversed or too long.
    #[error("{0}")]
    Window(String),
    /// A name without a kind.
    #[error("name needs kind")]
    NameWithoutKind,
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A merged timeline.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Items, newest first.
    pub items: Vec<Value>,
    /// The window.
    pub since: DateTime<Utc>,
    /// The window.
    pub until: DateTime<Utc>,
    /// Whether items were left out (over `limit`, or a source over [`MAX_PER_SOURCE`]).
    pub truncated: bool,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The window of `q`: both ends given, one end plus [`DEFAULT_TIMELINE_HOURS`], or the
/// last hour.
pub fn window(
    q: &TimelineQuery,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), TimelineError> {
    let span = Duration::hours(DEFAULT_TIMELINE_HOURS);
    let (since, until) = match (q.since, q.until) {
        (Some(s), Some(u)) => (s, u),
        (Some(s), None) => (s, (s + span).min(now).max(s)),
        (None, Some(u)) => (u - span, u),
        (None, None) => (now - span, now),
    };
    if until < since {
        return Err(TimelineError::Window("until is before since".into()));
    }
    if until - since > Duration::days(MAX_TIMELINE_DAYS) {
        return Err(TimelineError::Window(format!(
            "the window is longer than {MAX_TIMELINE_DAYS} days"
        )));
    }
    Ok((since, until))
}

/// One timeline item: the same keys for every source; what only one source has is in
/// `details`.
#[allow(clippy::too_many_arguments, reason = "one item, field by field")]
fn item(
    time: DateTime<Utc>,
    source: &str,
    (kind, namespace, name): (&str, &str, &str),
    ty: &str,
    summary: &str,
    reference: String,
    command_id: Option<&str>,
    details: Value,
) -> Value {
    json!({
        "time": ts(time),
        "source": source,
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "type": ty,
        "summary": summary,
        "ref": reference,
        "command_id": command_id,
        "details": details,
    })
}

fn change_item(r: &ChangeRow) -> Value {
    item(
        from_db(r.time),
        "change",
        (&r.kind, &r.namespace, &r.name),
        &r.change_type,
        &r.summary,
        r.id.to_string(),
        r.command_id.as_deref(),
        json!({"count": r.count, "last_time": ts(from_db(r.last_time)),
            "before": r.old_value, "after": r.new_value}),
    )
}

fn event_item(r: &EventRow) -> Value {
    item(
        from_db(r.last_timestamp),
        "event",
        (&r.involved_kind, &r.involved_namespace, &r.involved_name),
        &r.reason,
        &r.message,
        r.event_uid.clone(),
        None,
        json!({"count": r.count, "source_component": r.source_component}),
    )
}

fn command_item(r: &CommandRow) -> Value {
    let by = r.created_by.as_deref().unwrap_or(r.source.as_str());
    item(
        from_db(r.created_at),
        "command",
        (&r.target_kind, &r.target_namespace, &r.target_name),
        &r.action,
        &format!("{} by {by}: {}", r.action, r.status),
        r.command_id.clone(),
        Some(&r.command_id),
        json!({"status": r.status, "created_by": r.created_by}),
    )
}

fn alert_item(r: &AlertRow) -> Value {
    item(
        from_db(r.fired_at),
        "alert",
        (&r.resource_kind, &r.resource_namespace, &r.resource_name),
        &r.rule_name,
        &r.message,
        r.uid.clone(),
        None,
        json!({"severity": r.severity, "status": r.status,
            "resolved_at": r.resolved_at.map(|t| ts(from_db(t)))}),
    )
}

/// The timeline of `cluster` (see the module docs). The snapshot, when given, lets a
/// Deployment's timeline include its ReplicaSets' and Pods' events.
pub async fn timeline(
    db: &Db,
    cluster: &str,
    snap: Option<&ClusterSnapshot>,
    q: TimelineQuery,
) -> Result<Timeline, TimelineError> {
    if !q.name.is_empty() && q.kind.is_empty() {
        return Err(TimelineError::NameWithoutKind);
    }
    let (since, until) = window(&q, Utc::now())?;
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    // An empty kind, namespace or name matches any, in all four sources alike.
    let target = Some((q.kind.clone(), q.namespace.clone(), q.name.clone()));
    let change_filter = ChangeFilter {
        kind: opt(&q.kind),
        namespace: opt(&q.namespace),
        name: opt(&q.name),
        since: Some(since),
        until: Some(until),
        hide_secrets: q.hide_secrets,
        ..ChangeFilter::default()
    };
    let mut event_filter = if q.name.is_empty() {
        EventFilter {
            kind: opt(&q.kind),
            namespace: opt(&q.namespace),
            ..EventFilter::default()
        }
    } else {
        crate::service::events::related_filter(snap, &q.kind, &q.namespace, &q.name)
    };
    event_filter.event_type = Some("Warning".into());
    event_filter.since = Some(since);
    event_filter.until = Some(until);
    let command_filter = CommandFilter {
        since: Some(since),
        until: Some(until + Duration::milliseconds(1)),
        target: target.clone(),
        ..CommandFilter::default()
    };
    let alert_filter = AlertFilter {
        cluster_id: Some(cluster.to_owned()),
        since: Some(since),
        until: Some(until),
        resource: target,
        ..AlertFilter::default()
    };
    let cap = MAX_PER_SOURCE;
    let (changes_db, events_db, commands_db, notify_db) =
        (db.changes(), db.events(), db.commands(), db.notify());
    let (changes, events, commands, alerts) = futures_util::try_join!(
        changes_db.list(cluster.to_owned(), change_filter, cap, 0),
        events_db.list(cluster, event_filter, cap, 0),
        commands_db.list(Some(cluster), command_filter, cap as i64, 0),
        notify_db.list_alerts(alert_filter, cap as i64, 0),
    )?;
    let mut truncated =
        changes.1 > cap || events.1 > cap || commands.1 > cap as i64 || alerts.1 > cap as i64;
    let mut items: Vec<(DateTime<Utc>, Value)> = Vec::new();
    items.extend(changes.0.iter().map(|r| (from_db(r.time), change_item(r))));
    items.extend(
        events
            .0
            .iter()
            .map(|r| (from_db(r.last_timestamp), event_item(r))),
    );
    items.extend(
        commands
            .0
            .iter()
            .map(|r| (from_db(r.created_at), command_item(r))),
    );
    items.extend(
        alerts
            .0
            .iter()
            .map(|r| (from_db(r.fired_at), alert_item(r))),
    );
    // Newest first; at the same instant, the cause before its effects (a command, then
    // the change it made, then the events and alerts that followed).
    let rank = |v: &Value| match v["source"].as_str() {
        Some("alert") => 0,
        Some("event") => 1,
        Some("change") => 2,
        _ => 3,
    };
    items.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| rank(&a.1).cmp(&rank(&b.1))));
    if items.len() > q.limit {
        items.truncate(q.limit);
        truncated = true;
    }
    Ok(Timeline {
        items: items.into_iter().map(|(_, v)| v).collect(),
        since,
        until,
        truncated,
    })
}

/// The changes of the last [`RECENT_MINUTES`] before `at` to any of `objects`
/// (`(kind, namespace, name)`), newest first, at most `limit`: what the notifier adds to
/// an alert.
pub async fn recent(
    db: &Db,
    cluster: &str,
    objects: Vec<(String, String, String)>,
    at: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<ChangeRow>, DbError> {
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    let f = ChangeFilter {
        since: Some(at - Duration::minutes(RECENT_MINUTES)),
        until: Some(at),
        any_of: Some(objects),
        ..ChangeFilter::default()
    };
    Ok(db.changes().list(cluster.to_owned(), f, limit, 0).await?.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_default_to_an_hour_and_are_bounded() {
        let now = at("2026-12-03T14:00:00Z");
        let q = |since: Option<&str>, until: Option<&str>| TimelineQuery {
            since: since.map(at),
            until: until.map(at),
            ..TimelineQuery::default()
        };
        assert_eq!(
            window(&q(None, None), now).unwrap(),
            (at("2026-12-03T13:00:00Z"), now)
        );
        assert_eq!(
            window(&q(None, Some("2026-12-03T10:00:00Z")), now).unwrap(),
            (at("2026-12-03T09:00:00Z"), at("2026-12-03T10:00:00Z"))
        );
        assert_eq!(
            window(&q(Some("2026-12-03T13:30:00Z"), None), now).unwrap(),
            (at("2026-12-03T13:30:00Z"), now)
        );
        assert!(window(
            &q(Some("2026-12-03T13:30:00Z"), Some("2026-12-03T13:00:00Z")),
            now
        )
        .is_err());
        assert!(window(
            &q(Some("2026-10-01T00:00:00Z"), Some("2026-12-03T00:00:00Z")),
            now
        )
        .is_err());
    }
}
