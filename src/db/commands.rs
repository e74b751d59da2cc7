//! The `command_history` table: the durable side of the command lifecycle.
//!
//! Every state change is a compare-and-set: one `UPDATE … WHERE command_id = ? AND status
//! IN (<the states it may leave>)`, and the change happened only if a row was updated. So
//! "handed to an agent once", "the first result wins" and "only a pending command can be
//! cancelled" hold with concurrent writers (PostgreSQL's pool, several masters), not only
//! on SQLite's single writer.

use super::MultiBackend;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use atlhyper_actors::command::CommandState;
use atlhyper_actors::model::CommandResultBody;

use super::schema::command_history as ch;
use super::{from_db, to_db, DbConn, DbError};

/// One stored command.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ch)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct CommandRow {
    pub id: i32,
    pub command_id: String,
    pub cluster_id: String,
    pub topic: String,
    pub source: String,
    pub user_id: Option<i32>,
    pub created_by: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target_namespace: String,
    pub target_name: String,
    pub params: String,
    pub status: String,
    pub result: Option<String>,
    pub success: Option<bool>,
    pub output: Option<String>,
    pub output_truncated: bool,
    pub error_message: Option<String>,
    pub executed_at: Option<String>,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub duration_ms: Option<i64>,
}

impl CommandRow {
    /// The parsed status.
    pub fn state(&self) -> Result<CommandState, DbError> {
        self.status
            .parse()
            .map_err(|e: atlhyper_actors::command::UnknownState| DbError::Corrupt(e.to_string()))
    }
}

/// A command to insert, status `pending`.
#[derive(Debug, Insertable)]
#[diesel(table_name = ch)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct NewCommand {
    pub command_id: String,
    pub cluster_id: String,
    pub topic: String,
    pub source: String,
    pub user_id: Option<i32>,
    pub created_by: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target_namespace: String,
    pub target_name: String,
    pub params: String,
    pub status: String,
    pub created_at: NaiveDateTime,
}

/// Inserts a new pending command.
pub fn insert(conn: &mut DbConn, new: &NewCommand) -> Result<(), DbError> {
    diesel::insert_into(ch::table).values(new).execute(conn)?;
    Ok(())
}

/// One command by id.
pub fn get(conn: &mut DbConn, command_id: &str) -> Result<Option<CommandRow>, DbError> {
    Ok(ch::table
        .filter(ch::command_id.eq(command_id))
        .select(CommandRow::as_select())
        .first(conn)
        .optional()?)
}

fn millis_between(from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    (to - from).num_milliseconds().max(0)
}

fn state_names(states: &[CommandState]) -> Vec<&'static str> {
    states.iter().map(|s| s.as_str()).collect()
}

/// Moves a command to `to` if its state is one of `from` (compare-and-set); returns
/// whether it changed.
pub fn transition(
    conn: &mut DbConn,
    command_id: &str,
    from: &[CommandState],
    to: CommandState,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let at = to_db(at);
    let target = ch::table
        .filter(ch::command_id.eq(command_id))
        .filter(ch::status.eq_any(state_names(from)));
    let changed = match to {
        CommandState::Running => diesel::update(target)
            .set((ch::status.eq(to.as_str()), ch::started_at.eq(Some(at))))
            .execute(conn)?,
        CommandState::Pending => diesel::update(target)
            .set((
                ch::status.eq(to.as_str()),
                ch::started_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?,
        _ => {
            // The duration needs the start; the update below still decides, so a row
            // that moved on meanwhile is left alone.
            let Some(row) = get(conn, command_id)? else {
                return Ok(false);
            };
            let duration = row.started_at.map(|s| millis_between(s, at));
            diesel::update(target)
                .set((
                    ch::status.eq(to.as_str()),
                    ch::finished_at.eq(Some(at)),
                    ch::duration_ms.eq(duration),
                ))
                .execute(conn)?
        }
    };
    Ok(changed > 0)
}

/// What happened to an agent result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultOutcome {
    /// Stored; the command is now `status`.
    Applied {
        /// The command's cluster.
        cluster_id: String,
        /// Its action.
        action: String,
        /// `success` or `failed`.
        status: CommandState,
    },
    /// A result was already stored (or the command was cancelled/expired): nothing changed.
    Duplicate {
        /// The command's cluster.
        cluster_id: String,
    },
    /// No such command.
    NotFound,
    /// The command belongs to another cluster.
    WrongCluster,
}

/// Appended to output cut at `MASTER_COMMAND_MAX_OUTPUT`.
fn truncation_marker(kept: usize, total: usize) -> String {
    format!("\n[output truncated by atlhyper-master: kept {kept} of {total} bytes]")
}

use atlhyper_actors::model::wire::cut;

/// Records an agent result: the first one wins. `claimed_cluster` is the cluster the
/// agent spoke for, when it said.
pub fn record_result(
    conn: &mut DbConn,
    body: &CommandResultBody,
    claimed_cluster: Option<&str>,
    max_output: usize,
    at: DateTime<Utc>,
) -> Result<ResultOutcome, DbError> {
    {
        let c = conn;
        let Some(row) = get(c, &body.command_id)? else {
            return Ok(ResultOutcome::NotFound);
        };
        if claimed_cluster.is_some_and(|cl| cl != row.cluster_id) {
            return Ok(ResultOutcome::WrongCluster);
        }
        if !CommandState::ACCEPTS_RESULT.contains(&row.state()?) {
            return Ok(ResultOutcome::Duplicate {
                cluster_id: row.cluster_id,
            });
        }
        let status = if body.success {
            CommandState::Success
        } else {
            CommandState::Failed
        };
        let total = body.output.len();
        let kept = cut(&body.output, max_output);
        let truncated = kept.len() < total;
        let output = if truncated {
            format!("{kept}{}", truncation_marker(kept.len(), total))
        } else {
            kept.to_owned()
        };
        let executed_at = (!body.executed_at.is_zero()).then(|| body.executed_at.to_string());
        let error = (!body.error.is_empty()).then(|| cut(&body.error, max_output).to_owned());
        let result_json = serde_json::json!({
            "command_id": body.command_id,
            "success": body.success,
            "output": output,
            "error": error.clone().unwrap_or_default(),
            "executed_at": executed_at,
            "output_truncated": truncated,
        })
        .to_string();
        let at = to_db(at);
        let started = row.started_at.unwrap_or(at);
        // Compare-and-set: a concurrent result (or a cancel) that got there first leaves
        // nothing to update, and this one is the duplicate.
        let changed = diesel::update(
            ch::table
                .filter(ch::command_id.eq(body.command_id.as_str()))
                .filter(ch::status.eq_any(state_names(CommandState::ACCEPTS_RESULT))),
        )
        .set((
            ch::status.eq(status.as_str()),
            ch::success.eq(Some(body.success)),
            ch::output.eq(Some(output)),
            ch::output_truncated.eq(truncated),
            ch::error_message.eq(error),
            ch::executed_at.eq(executed_at),
            ch::result.eq(Some(result_json)),
            ch::started_at.eq(Some(started)),
            ch::finished_at.eq(Some(at)),
            ch::duration_ms.eq(Some(millis_between(started, at))),
        ))
        .execute(c)?;
        if changed == 0 {
            return Ok(ResultOutcome::Duplicate {
                cluster_id: row.cluster_id,
            });
        }
        Ok(ResultOutcome::Applied {
            cluster_id: row.cluster_id,
            action: row.action,
            status,
        })
    }
}

/// Filters of the command history list.
#[derive(Debug, Default, Clone)]
pub struct CommandFilter {
    /// Only these states.
    pub status: Vec<CommandState>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this source.
    pub source: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Target names containing this text, ignoring ASCII case on both engines (`%` and
    /// `_` are taken literally).
    pub name_contains: Option<String>,
    /// Only commands on this object: `(kind, namespace, name)`; an empty kind, namespace
    /// or name matches any.
    pub target: Option<(String, String, String)>,
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on SQLite and PostgreSQL for ASCII.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// `text` as a `LIKE` pattern that matches it anywhere, its wildcards escaped with `\`.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn filtered<'a>(
    cluster_id: Option<&'a str>,
    f: &'a CommandFilter,
) -> ch::BoxedQuery<'a, MultiBackend> {
    let mut q = ch::table.into_boxed();
    if let Some(id) = cluster_id {
        q = q.filter(ch::cluster_id.eq(id));
    }
    if let Some(text) = &f.name_contains {
        let pattern = contains_pattern(&text.to_ascii_lowercase());
        q = q.filter(lower(ch::target_name).like(pattern).escape('\\'));
    }
    if !f.status.is_empty() {
        q = q.filter(ch::status.eq_any(f.status.iter().map(|s| s.as_str())));
    }
    if let Some((kind, namespace, name)) = &f.target {
        if !kind.is_empty() {
            q = q.filter(ch::target_kind.eq(kind));
        }
        if !namespace.is_empty() {
            q = q.filter(ch::target_namespace.eq(namespace));
        }
        if !name.is_empty() {
            q = q.filter(ch::target_name.eq(name));
        }
    }
    if let Some(a) = &f.action {
        q = q.filter(ch::action.eq(a));
    }
    if let Some(s) = &f.source {
        q = q.filter(ch::source.eq(s));
    }
    if let Some(t) = f.since {
        q = q.filter(ch::created_at.ge(to_db(t)));
    }
    if let Some(t) = f.until {
        q = q.filter(ch::created_at.lt(to_db(t)));
    }
    q
}

/// One page of a cluster's history (every cluster's with `None`), newest first, and the
/// total before paging.
pub fn list(
    conn: &mut DbConn,
    cluster_id: Option<&str>,
    f: &CommandFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<CommandRow>, i64), DbError> {
    let total: i64 = filtered(cluster_id, f).count().get_result(conn)?;
    let rows = filtered(cluster_id, f)
        .select(CommandRow::as_select())
        .order((ch::created_at.desc(), ch::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(conn)?;
    Ok((rows, total))
}

/// Pending and running commands, oldest first: every cluster's (startup, replicas'
/// resync) or one cluster's (a revived cluster actor).
pub fn load_unfinished(
    conn: &mut DbConn,
    cluster_id: Option<&str>,
) -> Result<Vec<CommandRow>, DbError> {
    let mut q = ch::table
        .filter(ch::status.eq_any(["pending", "running"]))
        .into_boxed();
    if let Some(c) = cluster_id {
        q = q.filter(ch::cluster_id.eq(c));
    }
    Ok(q.select(CommandRow::as_select())
        .order((ch::created_at.asc(), ch::id.asc()))
        .load(conn)?)
}

/// How many stored commands are in each status (`/metrics`): one grouped scan of the
/// table, which command history retention keeps bounded.
pub fn count_by_status(conn: &mut DbConn) -> Result<Vec<(String, i64)>, DbError> {
    Ok(ch::table
        .group_by(ch::status)
        .select((ch::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Cancels every pending command of a cluster (the cluster is being forgotten).
pub fn cancel_pending_of(
    conn: &mut DbConn,
    cluster_id: &str,
    at: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        ch::table
            .filter(ch::cluster_id.eq(cluster_id))
            .filter(ch::status.eq("pending")),
    )
    .set((
        ch::status.eq(CommandState::Cancelled.as_str()),
        ch::finished_at.eq(Some(to_db(at))),
    ))
    .execute(conn)?)
}

/// Stored time helper for callers that show rows.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    from_db(t)
}

/// The command history and its compare-and-set lifecycle. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Commands<'a>(pub(super) &'a super::Db);

impl Commands<'_> {
    /// Inserts a pending command and returns it as stored.
    pub async fn create(&self, new: NewCommand) -> Result<CommandRow, DbError> {
        self.0
            .write(move |c| {
                insert(c, &new)?;
                get(c, &new.command_id)?
                    .ok_or_else(|| DbError::Corrupt("inserted command not found".into()))
            })
            .await
    }

    /// Every pending or running command, oldest first (replicas resynchronise their
    /// mailboxes from it).
    pub async fn unfinished(&self) -> Result<Vec<CommandRow>, DbError> {
        self.0.read(|c| load_unfinished(c, None)).await
    }

    /// Every pending or running command of one cluster, oldest first.
    pub async fn unfinished_of(&self, cluster_id: &str) -> Result<Vec<CommandRow>, DbError> {
        let id = cluster_id.to_owned();
        self.0.read(move |c| load_unfinished(c, Some(&id))).await
    }

    /// One command.
    pub async fn get(&self, command_id: &str) -> Result<Option<CommandRow>, DbError> {
        let id = command_id.to_owned();
        self.0.read(move |c| get(c, &id)).await
    }

    /// Compare-and-set state change (see [`transition`]).
    pub async fn transition(
        &self,
        command_id: &str,
        from: &'static [CommandState],
        to: CommandState,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let id = command_id.to_owned();
        self.0
            .write(move |c| transition(c, &id, from, to, at))
            .await
    }

    /// Records an agent result; the first one wins (see [`record_result`]).
    pub async fn record_result(
        &self,
        body: CommandResultBody,
        claimed_cluster: Option<String>,
        max_output: usize,
        at: DateTime<Utc>,
    ) -> Result<ResultOutcome, DbError> {
        self.0
            .write(move |c| record_result(c, &body, claimed_cluster.as_deref(), max_output, at))
            .await
    }

    /// One page of a cluster's history (every cluster's with `None`) and the total.
    pub async fn list(
        &self,
        cluster_id: Option<&str>,
        filter: CommandFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<CommandRow>, i64), DbError> {
        let id = cluster_id.map(str::to_owned);
        self.0
            .read(move |c| list(c, id.as_deref(), &filter, limit, offset))
            .await
    }

    /// Stored commands per status (`/metrics`).
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, DbError> {
        self.0.read(count_by_status).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_pattern_escapes_wildcards() {
        assert_eq!(contains_pattern("web"), "%web%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn cut_respects_char_boundaries() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }
}
