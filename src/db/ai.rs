//! The AI assistant's tables (migration 000007): providers, the active configuration,
//! conversations with their messages and tool calls, and proposals.
//!
//! Provider keys arrive here already encrypted; nothing in this module sees one in clear.
//! Ownership is part of every conversation query (`WHERE user_id = ?`), so a caller can
//! never read or delete another user's conversation by guessing its id.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{ai_conversations as cv, ai_messages as msg, ai_proposals as pr};
use super::schema::{ai_providers as pv, ai_settings as st, ai_tool_calls as tc};
use super::{is_unique_violation, on_engine, to_db, DbConn, DbError, MultiBackend};

// ---------------------------------------------------------------------------------------
// Providers

/// One stored provider (its key encrypted).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pv)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct ProviderRow {
    pub id: i32,
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub model: String,
    pub api_key: String,
    pub description: String,
    pub total_requests: i64,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub total_errors: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub created_by: Option<i32>,
}

/// The writable columns of a provider (create and full update).
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = pv, treat_none_as_null = true)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct ProviderFields {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub model: String,
    pub api_key: String,
    pub description: String,
}

/// Outcome of a provider write.
#[derive(Debug)]
pub enum ProviderWrite {
    /// Written.
    Ok(Box<ProviderRow>),
    /// Another provider has this name.
    NameTaken,
    /// No such provider.
    NotFound,
}

/// Outcome of a provider delete.
#[derive(Debug, PartialEq, Eq)]
pub enum ProviderDelete {
    /// Deleted.
    Deleted,
    /// No such provider.
    NotFound,
    /// It is the active provider.
    InUse,
}

/// What one model request adds to a provider's counters.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Answer tokens.
    pub output_tokens: i64,
    /// The error, when the request failed.
    pub error: Option<String>,
}

/// Every provider, by id.
pub fn list_providers(c: &mut DbConn) -> Result<Vec<ProviderRow>, DbError> {
    Ok(pv::table
        .select(ProviderRow::as_select())
        .order(pv::id.asc())
        .load(c)?)
}

/// One provider.
pub fn get_provider(c: &mut DbConn, id: i32) -> Result<Option<ProviderRow>, DbError> {
    Ok(pv::table
        .find(id)
        .select(ProviderRow::as_select())
        .first(c)
        .optional()?)
}

/// Creates a provider.
pub fn insert_provider(
    c: &mut DbConn,
    f: &ProviderFields,
    by: i32,
    now: DateTime<Utc>,
) -> Result<ProviderWrite, DbError> {
    let res = on_engine!(c, |c| diesel::insert_into(pv::table)
        .values((
            f,
            pv::created_at.eq(to_db(now)),
            pv::updated_at.eq(to_db(now)),
            pv::created_by.eq(Some(by)),
        ))
        .returning(ProviderRow::as_returning())
        .get_result(c));
    match res {
        Ok(r) => Ok(ProviderWrite::Ok(Box::new(r))),
        Err(e) if is_unique_violation(&e) => Ok(ProviderWrite::NameTaken),
        Err(e) => Err(e.into()),
    }
}

/// Replaces a provider's writable columns.
pub fn update_provider(
    c: &mut DbConn,
    id: i32,
    f: &ProviderFields,
    now: DateTime<Utc>,
) -> Result<ProviderWrite, DbError> {
    let res = on_engine!(c, |c| diesel::update(pv::table.find(id))
        .set((f, pv::updated_at.eq(to_db(now))))
        .returning(ProviderRow::as_returning())
        .get_result(c)
        .optional());
    match res {
        Ok(Some(r)) => Ok(ProviderWrite::Ok(Box::new(r))),
        Ok(None) => Ok(ProviderWrite::NotFound),
        Err(e) if is_unique_violation(&e) => Ok(ProviderWrite::NameTaken),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a provider unless it is the active one. One statement decides (the active one
/// is excluded in SQL), and the foreign key catches a `PUT /ai/active` that races it, so
/// the answer is `InUse` either way, never a half-done delete.
pub fn delete_provider(c: &mut DbConn, id: i32) -> Result<ProviderDelete, DbError> {
    let active = st::table
        .select(st::provider_id)
        .filter(st::provider_id.is_not_null());
    let deleted =
        diesel::delete(pv::table.find(id).filter(pv::id.nullable().ne_all(active))).execute(c);
    match deleted {
        Ok(1..) => Ok(ProviderDelete::Deleted),
        Ok(0) if get_provider(c, id)?.is_some() => Ok(ProviderDelete::InUse),
        Ok(_) => Ok(ProviderDelete::NotFound),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => Ok(ProviderDelete::InUse),
        Err(e) => Err(e.into()),
    }
}

/// Adds one model request to a provider's counters.
pub fn record_usage(c: &mut DbConn, id: i32, u: &Usage, now: DateTime<Utc>) -> Result<(), DbError> {
    let t = to_db(now);
    let base = diesel::update(pv::table.find(id));
    match &u.error {
        None => base
            .set((
                pv::total_requests.eq(pv::total_requests + 1),
                pv::total_input_tokens.eq(pv::total_input_tokens + u.input_tokens),
                pv::total_output_tokens.eq(pv::total_output_tokens + u.output_tokens),
                pv::last_used_at.eq(Some(t)),
            ))
            .execute(c)?,
        Some(e) => base
            .set((
                pv::total_requests.eq(pv::total_requests + 1),
                pv::total_input_tokens.eq(pv::total_input_tokens + u.input_tokens),
                pv::total_output_tokens.eq(pv::total_output_tokens + u.output_tokens),
                pv::total_errors.eq(pv::total_errors + 1),
                pv::last_error.eq(Some(e.as_str())),
                pv::last_error_at.eq(Some(t)),
                pv::last_used_at.eq(Some(t)),
            ))
            .execute(c)?,
    };
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The active configuration

/// The one configuration row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = st)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct SettingsRow {
    pub id: i32,
    pub enabled: bool,
    pub provider_id: Option<i32>,
    pub tool_timeout_secs: i32,
    pub updated_at: NaiveDateTime,
    pub updated_by: Option<i32>,
}

/// Outcome of a settings write.
#[derive(Debug)]
pub enum SettingsWrite {
    /// Written.
    Ok(SettingsRow),
    /// The named provider does not exist.
    NoSuchProvider,
}

/// The configuration, if it was ever written (startup seeds it).
pub fn get_settings(c: &mut DbConn) -> Result<Option<SettingsRow>, DbError> {
    Ok(st::table
        .find(1)
        .select(SettingsRow::as_select())
        .first(c)
        .optional()?)
}

/// Writes the configuration on first start only; an existing row is kept.
pub fn seed_settings(
    c: &mut DbConn,
    enabled: bool,
    tool_timeout_secs: i32,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    on_engine!(c, |c| diesel::insert_into(st::table)
        .values((
            st::id.eq(1),
            st::enabled.eq(enabled),
            st::tool_timeout_secs.eq(tool_timeout_secs),
            st::updated_at.eq(to_db(now)),
        ))
        .on_conflict(st::id)
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// Replaces the configuration; the provider must exist (checked in the transaction).
pub fn put_settings(
    c: &mut DbConn,
    enabled: bool,
    provider_id: Option<i32>,
    tool_timeout_secs: i32,
    by: i32,
    now: DateTime<Utc>,
) -> Result<SettingsWrite, DbError> {
    c.transaction(|c| {
        if let Some(p) = provider_id {
            if get_provider(c, p)?.is_none() {
                return Ok(SettingsWrite::NoSuchProvider);
            }
        }
        let values = (
            st::enabled.eq(enabled),
            st::provider_id.eq(provider_id),
            st::tool_timeout_secs.eq(tool_timeout_secs),
            st::updated_at.eq(to_db(now)),
            st::updated_by.eq(Some(by)),
        );
        on_engine!(c, |c| diesel::insert_into(st::table)
            .values((st::id.eq(1), values))
            .on_conflict(st::id)
            .do_update()
            .set(values)
            .execute(c))?;
        Ok(get_settings(c)?.map_or(SettingsWrite::NoSuchProvider, SettingsWrite::Ok))
    })
}

// ---------------------------------------------------------------------------------------
// Conversations

/// One conversation.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cv)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct ConversationRow {
    pub id: i32,
    pub user_id: i32,
    pub cluster_id: Option<String>,
    pub title: String,
    pub message_count: i32,
    pub total_input_tokens: i64,
    pub total_output_tokens: i64,
    pub total_tool_calls: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One message.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = msg)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct MessageRow {
    pub id: i32,
    pub conversation_id: i32,
    pub role: String,
    pub content: String,
    pub status: String,
    pub error: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub created_at: NaiveDateTime,
}

/// One tool call.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tc)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct ToolCallRow {
    pub id: i32,
    pub message_id: i32,
    pub round: i32,
    pub call_id: String,
    pub name: String,
    pub input: String,
    pub output: String,
    pub success: bool,
    pub duration_ms: i64,
    pub created_at: NaiveDateTime,
}

/// A tool call to store with its answer.
#[derive(Debug, Clone)]
pub struct NewToolCall {
    /// The tool round (1-based).
    pub round: i32,
    /// The provider's call id.
    pub call_id: String,
    /// The tool.
    pub name: String,
    /// Its arguments (JSON text).
    pub input: String,
    /// What it returned (text, cut to the tool output cap).
    pub output: String,
    /// Whether it succeeded.
    pub success: bool,
    /// How long it took.
    pub duration_ms: i64,
}

/// An assistant answer to store.
#[derive(Debug, Clone)]
pub struct NewAnswer {
    /// The text (the partial text when interrupted or failed).
    pub content: String,
    /// `complete`, `interrupted` or `error`.
    pub status: &'static str,
    /// What went wrong.
    pub error: Option<String>,
    /// Prompt tokens over every round.
    pub input_tokens: i64,
    /// Answer tokens over every round.
    pub output_tokens: i64,
    /// The tool calls, in order.
    pub tool_calls: Vec<NewToolCall>,
}

/// The caller's conversations, most recently used first, and how many there are.
pub fn list_conversations(
    c: &mut DbConn,
    user_id: i32,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ConversationRow>, i64), DbError> {
    let total = cv::table
        .filter(cv::user_id.eq(user_id))
        .count()
        .get_result(c)?;
    let rows = cv::table
        .filter(cv::user_id.eq(user_id))
        .select(ConversationRow::as_select())
        .order((cv::updated_at.desc(), cv::id.desc()))
        .limit(limit)
        .offset(offset)
        .load(c)?;
    Ok((rows, total))
}

/// Creates a conversation for `user_id`.
pub fn insert_conversation(
    c: &mut DbConn,
    user_id: i32,
    cluster_id: Option<String>,
    title: String,
    now: DateTime<Utc>,
) -> Result<ConversationRow, DbError> {
    Ok(on_engine!(c, |c| diesel::insert_into(cv::table)
        .values((
            cv::user_id.eq(user_id),
            cv::cluster_id.eq(cluster_id),
            cv::title.eq(title),
            cv::created_at.eq(to_db(now)),
            cv::updated_at.eq(to_db(now)),
        ))
        .returning(ConversationRow::as_returning())
        .get_result(c))?)
}

/// One of `user_id`'s conversations (another user's is `None`, as a missing one).
pub fn get_conversation(
    c: &mut DbConn,
    id: i32,
    user_id: i32,
) -> Result<Option<ConversationRow>, DbError> {
    Ok(cv::table
        .filter(cv::id.eq(id).and(cv::user_id.eq(user_id)))
        .select(ConversationRow::as_select())
        .first(c)
        .optional()?)
}

/// Deletes one of `user_id`'s conversations; its messages and tool calls go with it (the
/// foreign keys cascade, on both engines).
pub fn delete_conversation(c: &mut DbConn, id: i32, user_id: i32) -> Result<bool, DbError> {
    let n =
        diesel::delete(cv::table.filter(cv::id.eq(id).and(cv::user_id.eq(user_id)))).execute(c)?;
    Ok(n > 0)
}

/// A page of a conversation's messages, oldest first, each with its tool calls.
pub fn messages(
    c: &mut DbConn,
    conversation_id: i32,
    limit: i64,
    offset: i64,
) -> Result<Vec<(MessageRow, Vec<ToolCallRow>)>, DbError> {
    let rows: Vec<MessageRow> = msg::table
        .filter(msg::conversation_id.eq(conversation_id))
        .select(MessageRow::as_select())
        .order(msg::id.asc())
        .limit(limit)
        .offset(offset)
        .load(c)?;
    let ids: Vec<i32> = rows.iter().map(|m| m.id).collect();
    let calls: Vec<ToolCallRow> = tc::table
        .filter(tc::message_id.eq_any(&ids))
        .select(ToolCallRow::as_select())
        .order(tc::id.asc())
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let mine = calls
                .iter()
                .filter(|t| t.message_id == m.id)
                .cloned()
                .collect();
            (m, mine)
        })
        .collect())
}

/// The newest `n` messages, oldest first: the history sent to the model.
pub fn recent_messages(
    c: &mut DbConn,
    conversation_id: i32,
    n: i64,
) -> Result<Vec<MessageRow>, DbError> {
    let mut rows: Vec<MessageRow> = msg::table
        .filter(msg::conversation_id.eq(conversation_id))
        .select(MessageRow::as_select())
        .order(msg::id.desc())
        .limit(n)
        .load(c)?;
    rows.reverse();
    Ok(rows)
}

/// Longest automatic title, in characters.
const TITLE_CHARS: usize = 80;

/// Stores the user's message; the first one also titles an untitled conversation.
pub fn insert_user_message(
    c: &mut DbConn,
    conversation_id: i32,
    content: &str,
    now: DateTime<Utc>,
) -> Result<MessageRow, DbError> {
    c.transaction(|c| {
        let row = on_engine!(c, |c| diesel::insert_into(msg::table)
            .values((
                msg::conversation_id.eq(conversation_id),
                msg::role.eq("user"),
                msg::content.eq(content),
                msg::created_at.eq(to_db(now)),
            ))
            .returning(MessageRow::as_returning())
            .get_result(c))?;
        let title: String = content
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(TITLE_CHARS)
            .collect();
        diesel::update(cv::table.find(conversation_id).filter(cv::title.eq("")))
            .set(cv::title.eq(title))
            .execute(c)?;
        diesel::update(cv::table.find(conversation_id))
            .set((
                cv::message_count.eq(cv::message_count + 1),
                cv::updated_at.eq(to_db(now)),
            ))
            .execute(c)?;
        Ok(row)
    })
}

/// Stores an assistant answer, its tool calls and the conversation's new totals in one
/// transaction. `None` when the conversation was deleted meanwhile.
pub fn insert_answer(
    c: &mut DbConn,
    conversation_id: i32,
    a: &NewAnswer,
    now: DateTime<Utc>,
) -> Result<Option<MessageRow>, DbError> {
    c.transaction(|c| {
        let exists: i64 = cv::table
            .filter(cv::id.eq(conversation_id))
            .count()
            .get_result(c)?;
        if exists == 0 {
            return Ok(None);
        }
        let row = on_engine!(c, |c| diesel::insert_into(msg::table)
            .values((
                msg::conversation_id.eq(conversation_id),
                msg::role.eq("assistant"),
                msg::content.eq(&a.content),
                msg::status.eq(a.status),
                msg::error.eq(&a.error),
                msg::input_tokens.eq(a.input_tokens),
                msg::output_tokens.eq(a.output_tokens),
                msg::created_at.eq(to_db(now)),
            ))
            .returning(MessageRow::as_returning())
            .get_result(c))?;
        for t in &a.tool_calls {
            diesel::insert_into(tc::table)
                .values((
                    tc::message_id.eq(row.id),
                    tc::round.eq(t.round),
                    tc::call_id.eq(&t.call_id),
                    tc::name.eq(&t.name),
                    tc::input.eq(&t.input),
                    tc::output.eq(&t.output),
                    tc::success.eq(t.success),
                    tc::duration_ms.eq(t.duration_ms),
                    tc::created_at.eq(to_db(now)),
                ))
                .execute(c)?;
        }
        let calls = i32::try_from(a.tool_calls.len()).unwrap_or(i32::MAX);
        diesel::update(cv::table.find(conversation_id))
            .set((
                cv::message_count.eq(cv::message_count + 1),
                cv::total_input_tokens.eq(cv::total_input_tokens + a.input_tokens),
                cv::total_output_tokens.eq(cv::total_output_tokens + a.output_tokens),
                cv::total_tool_calls.eq(cv::total_tool_calls + calls),
                cv::updated_at.eq(to_db(now)),
            ))
            .execute(c)?;
        Ok(Some(row))
    })
}

// ---------------------------------------------------------------------------------------
// Proposals

/// One proposal.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pr)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct ProposalRow {
    pub id: i32,
    pub conversation_id: Option<i32>,
    pub user_id: i32,
    pub username: String,
    pub cluster_id: String,
    pub action: String,
    pub target_kind: String,
    pub target_namespace: String,
    pub target_name: String,
    pub params: String,
    pub reason: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
    pub decided_by: Option<String>,
    pub command_id: Option<String>,
}

/// A proposal to store.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = pr)]
#[allow(missing_docs, reason = "columns are documented in the migration")]
pub struct NewProposal {
    pub conversation_id: Option<i32>,
    pub user_id: i32,
    pub username: String,
    pub cluster_id: String,
    pub action: String,
    pub target_kind: String,
    pub target_namespace: String,
    pub target_name: String,
    pub params: String,
    pub reason: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Which proposals to list.
#[derive(Debug, Clone, Default)]
pub struct ProposalFilter {
    /// Only this user's (a viewer sees their own).
    pub user_id: Option<i32>,
    /// `pending`, `approved`, `rejected` or `expired` (pending past its expiry).
    pub status: Option<String>,
    /// Only this cluster's.
    pub cluster_id: Option<String>,
}

/// Stores a proposal.
pub fn insert_proposal(c: &mut DbConn, p: &NewProposal) -> Result<ProposalRow, DbError> {
    Ok(on_engine!(c, |c| diesel::insert_into(pr::table)
        .values(p)
        .returning(ProposalRow::as_returning())
        .get_result(c))?)
}

/// One page of proposals, newest first, and how many match.
pub fn list_proposals(
    c: &mut DbConn,
    f: &ProposalFilter,
    now: DateTime<Utc>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ProposalRow>, i64), DbError> {
    let now = to_db(now);
    let query = || {
        let mut q = pr::table.into_boxed::<MultiBackend>();
        if let Some(u) = f.user_id {
            q = q.filter(pr::user_id.eq(u));
        }
        if let Some(cl) = &f.cluster_id {
            q = q.filter(pr::cluster_id.eq(cl.clone()));
        }
        match f.status.as_deref() {
            Some("pending") => q = q.filter(pr::status.eq("pending").and(pr::expires_at.gt(now))),
            Some("expired") => q = q.filter(pr::status.eq("pending").and(pr::expires_at.le(now))),
            Some(s) => q = q.filter(pr::status.eq(s.to_owned())),
            None => {}
        }
        q
    };
    let total = query().count().get_result(c)?;
    let rows = query()
        .select(ProposalRow::as_select())
        .order(pr::id.desc())
        .limit(limit)
        .offset(offset)
        .load(c)?;
    Ok((rows, total))
}

/// One proposal.
pub fn get_proposal(c: &mut DbConn, id: i32) -> Result<Option<ProposalRow>, DbError> {
    Ok(pr::table
        .find(id)
        .select(ProposalRow::as_select())
        .first(c)
        .optional()?)
}

/// Moves a pending, unexpired proposal to `to` (`approved` or `rejected`), once: of two
/// concurrent decisions exactly one returns the row.
pub fn decide_proposal(
    c: &mut DbConn,
    id: i32,
    to: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Option<ProposalRow>, DbError> {
    let t = to_db(now);
    Ok(on_engine!(c, |c| diesel::update(
        pr::table
            .find(id)
            .filter(pr::status.eq("pending").and(pr::expires_at.gt(t)))
    )
    .set((
        pr::status.eq(to),
        pr::decided_at.eq(Some(t)),
        pr::decided_by.eq(Some(by)),
    ))
    .returning(ProposalRow::as_returning())
    .get_result(c)
    .optional())?)
}

/// Records the command an approval created.
pub fn set_proposal_command(c: &mut DbConn, id: i32, command_id: &str) -> Result<(), DbError> {
    diesel::update(pr::table.find(id))
        .set(pr::command_id.eq(Some(command_id)))
        .execute(c)?;
    Ok(())
}

/// Puts an approved proposal whose command could not be created back to pending.
pub fn reopen_proposal(c: &mut DbConn, id: i32) -> Result<(), DbError> {
    diesel::update(
        pr::table
            .find(id)
            .filter(pr::status.eq("approved").and(pr::command_id.is_null())),
    )
    .set((
        pr::status.eq("pending"),
        pr::decided_at.eq(None::<NaiveDateTime>),
        pr::decided_by.eq(None::<String>),
    ))
    .execute(c)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------

/// The assistant's tables. Async; see [`super::Db`] for where reads and writes run.
#[derive(Clone, Copy)]
pub struct Ai<'a>(pub(super) &'a super::Db);

impl Ai<'_> {
    /// Every provider.
    pub async fn list_providers(&self) -> Result<Vec<ProviderRow>, DbError> {
        self.0.read(list_providers).await
    }
    /// One provider.
    pub async fn get_provider(&self, id: i32) -> Result<Option<ProviderRow>, DbError> {
        self.0.read(move |c| get_provider(c, id)).await
    }
    /// Creates a provider.
    pub async fn insert_provider(
        &self,
        f: ProviderFields,
        by: i32,
        now: DateTime<Utc>,
    ) -> Result<ProviderWrite, DbError> {
        self.0.write(move |c| insert_provider(c, &f, by, now)).await
    }
    /// Replaces a provider.
    pub async fn update_provider(
        &self,
        id: i32,
        f: ProviderFields,
        now: DateTime<Utc>,
    ) -> Result<ProviderWrite, DbError> {
        self.0.write(move |c| update_provider(c, id, &f, now)).await
    }
    /// Deletes a provider unless it is active.
    pub async fn delete_provider(&self, id: i32) -> Result<ProviderDelete, DbError> {
        self.0.write(move |c| delete_provider(c, id)).await
    }
    /// Adds one request to a provider's counters.
    pub async fn record_usage(&self, id: i32, u: Usage, now: DateTime<Utc>) -> Result<(), DbError> {
        self.0.write(move |c| record_usage(c, id, &u, now)).await
    }
    /// The active configuration.
    pub async fn settings(&self) -> Result<Option<SettingsRow>, DbError> {
        self.0.read(get_settings).await
    }
    /// Seeds the configuration on first start.
    pub async fn seed_settings(
        &self,
        enabled: bool,
        tool_timeout_secs: i32,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        self.0
            .write(move |c| seed_settings(c, enabled, tool_timeout_secs, now))
            .await
    }
    /// Replaces the configuration.
    pub async fn put_settings(
        &self,
        enabled: bool,
        provider_id: Option<i32>,
        tool_timeout_secs: i32,
        by: i32,
        now: DateTime<Utc>,
    ) -> Result<SettingsWrite, DbError> {
        self.0
            .write(move |c| put_settings(c, enabled, provider_id, tool_timeout_secs, by, now))
            .await
    }
    /// The caller's conversations.
    pub async fn list_conversations(
        &self,
        user_id: i32,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ConversationRow>, i64), DbError> {
        self.0
            .read(move |c| list_conversations(c, user_id, limit, offset))
            .await
    }
    /// Creates a conversation.
    pub async fn insert_conversation(
        &self,
        user_id: i32,
        cluster_id: Option<String>,
        title: String,
        now: DateTime<Utc>,
    ) -> Result<ConversationRow, DbError> {
        self.0
            .write(move |c| insert_conversation(c, user_id, cluster_id, title, now))
            .await
    }
    /// One of the caller's conversations.
    pub async fn get_conversation(
        &self,
        id: i32,
        user_id: i32,
    ) -> Result<Option<ConversationRow>, DbError> {
        self.0.read(move |c| get_conversation(c, id, user_id)).await
    }
    /// Deletes one of the caller's conversations.
    pub async fn delete_conversation(&self, id: i32, user_id: i32) -> Result<bool, DbError> {
        self.0
            .write(move |c| delete_conversation(c, id, user_id))
            .await
    }
    /// A page of messages with their tool calls.
    pub async fn messages(
        &self,
        conversation_id: i32,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<(MessageRow, Vec<ToolCallRow>)>, DbError> {
        self.0
            .read(move |c| messages(c, conversation_id, limit, offset))
            .await
    }
    /// The newest `n` messages, oldest first.
    pub async fn recent_messages(
        &self,
        conversation_id: i32,
        n: i64,
    ) -> Result<Vec<MessageRow>, DbError> {
        self.0
            .read(move |c| recent_messages(c, conversation_id, n))
            .await
    }
    /// Stores a user message.
    pub async fn insert_user_message(
        &self,
        conversation_id: i32,
        content: String,
        now: DateTime<Utc>,
    ) -> Result<MessageRow, DbError> {
        self.0
            .write(move |c| insert_user_message(c, conversation_id, &content, now))
            .await
    }
    /// Stores an answer with its tool calls.
    pub async fn insert_answer(
        &self,
        conversation_id: i32,
        a: NewAnswer,
        now: DateTime<Utc>,
    ) -> Result<Option<MessageRow>, DbError> {
        self.0
            .write(move |c| insert_answer(c, conversation_id, &a, now))
            .await
    }
    /// Stores a proposal.
    pub async fn insert_proposal(&self, p: NewProposal) -> Result<ProposalRow, DbError> {
        self.0.write(move |c| insert_proposal(c, &p)).await
    }
    /// A page of proposals.
    pub async fn list_proposals(
        &self,
        f: ProposalFilter,
        now: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ProposalRow>, i64), DbError> {
        self.0
            .read(move |c| list_proposals(c, &f, now, limit, offset))
            .await
    }
    /// One proposal.
    pub async fn get_proposal(&self, id: i32) -> Result<Option<ProposalRow>, DbError> {
        self.0.read(move |c| get_proposal(c, id)).await
    }
    /// Decides a pending proposal, once.
    pub async fn decide_proposal(
        &self,
        id: i32,
        to: &'static str,
        by: String,
        now: DateTime<Utc>,
    ) -> Result<Option<ProposalRow>, DbError> {
        self.0
            .write(move |c| decide_proposal(c, id, to, &by, now))
            .await
    }
    /// Records the command an approval created.
    pub async fn set_proposal_command(&self, id: i32, command_id: String) -> Result<(), DbError> {
        self.0
            .write(move |c| set_proposal_command(c, id, &command_id))
            .await
    }
    /// Reopens an approval whose command could not be created.
    pub async fn reopen_proposal(&self, id: i32) -> Result<(), DbError> {
        self.0.write(move |c| reopen_proposal(c, id)).await
    }
}
