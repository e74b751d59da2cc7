//! The AI assistant: providers, the active configuration, conversations, proposals, and
//! the chat itself ([`chat`]) with its tools ([`tools`]).
//!
//! Rules kept here:
//! - a provider's key is encrypted with the master's secret box before it is stored and
//!   shown only masked (`****` and the last 4 characters of a key longer than 8); it is
//!   decrypted only for the time of one chat;
//! - a conversation belongs to its user: every read and delete filters on the caller, so
//!   another user's conversation answers 404 exactly like a missing one;
//! - the assistant never acts: a change it wants is a *proposal*, and only an operator's
//!   approval turns it into an ordinary command, exactly once, within
//!   `MASTER_AI_PROPOSAL_TTL`.

pub mod chat;
pub mod tools;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use atlhyper_actors::command::CommandSpec;

use crate::ai::ProviderKind;
use crate::auth::Role;
use crate::db::ai::{
    ConversationRow, MessageRow, NewProposal, ProposalFilter, ProposalRow, ProviderDelete,
    ProviderFields, ProviderRow, ProviderWrite, SettingsRow, SettingsWrite, ToolCallRow,
};
use crate::db::{from_db, to_db, Db, DbError};
use crate::secrets::SecretBox;
use crate::service::commands::{self, CommandError, CommandRequest, Creator};
use crate::state::AppState;

/// Why an assistant service call refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// A field does not validate.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such provider.
    #[error("provider {0} is unknown")]
    ProviderNotFound(i32),
    /// Another provider has the name.
    #[error("a provider named {0:?} exists")]
    ProviderNameTaken(String),
    /// The active provider cannot be deleted.
    #[error(
        "provider {0} is the active provider: choose another one first (PUT /api/v2/ai/active)"
    )]
    ProviderInUse(i32),
    /// No such conversation among the caller's.
    #[error("conversation {0} is unknown")]
    ConversationNotFound(i32),
    /// The assistant is switched off.
    #[error("the AI assistant is disabled: an admin turns it on with PUT /api/v2/ai/active")]
    Disabled,
    /// The assistant is on but has no provider.
    #[error("the AI assistant has no active provider: an admin adds one (POST /api/v2/ai/providers) and selects it (PUT /api/v2/ai/active)")]
    NoProvider,
    /// A chat is already answering in this conversation.
    #[error("conversation {0} is already answering a message; wait for it to finish")]
    Busy(i32),
    /// The caller already has [`MAX_ANSWERS_PER_USER`] answers running.
    #[error(
        "at most {MAX_ANSWERS_PER_USER} answers may run at once per user; wait for one to finish"
    )]
    TooManyAnswers,
    /// No such proposal.
    #[error("proposal {0} is unknown")]
    ProposalNotFound(i32),
    /// The proposal is no longer pending.
    #[error("proposal {id} is {status}: only a pending proposal can be approved or rejected")]
    ProposalDecided {
        /// The proposal.
        id: i32,
        /// Its state.
        status: String,
    },
    /// The command an approval creates failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A stored key could not be decrypted (the secret key changed).
    #[error("the provider's stored API key cannot be decrypted: {0}")]
    Secret(String),
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> AiError {
    AiError::Invalid {
        field,
        message: message.into(),
    }
}

/// What the assistant keeps in memory: the HTTP client of its providers and the answers
/// running right now, by conversation and by user (one answer at a time per conversation,
/// so two tabs cannot interleave their rounds; a few per user, so one user cannot spend
/// the provider's quota for everyone).
#[derive(Clone)]
pub struct Assistant {
    client: reqwest::Client,
    running: Arc<Mutex<Running>>,
}

/// The answers running now.
#[derive(Default)]
struct Running {
    conversations: HashSet<i32>,
    per_user: HashMap<i32, usize>,
}

/// How long connecting to a provider may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers one user may have running at once (several tabs, several questions); more
/// wait their turn with 429.
pub const MAX_ANSWERS_PER_USER: usize = 3;

impl Assistant {
    /// A new assistant (its client follows no redirects: a provider URL is what the admin
    /// set, not where a server would send the key next).
    pub fn new() -> Result<Assistant, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("atlhyper-master/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Assistant {
            client,
            running: Arc::default(),
        })
    }

    /// Marks an answer as running; the guard frees its place when dropped.
    fn claim(&self, conversation_id: i32, user_id: i32) -> Result<BusyGuard, AiError> {
        let mut r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if r.conversations.contains(&conversation_id) {
            return Err(AiError::Busy(conversation_id));
        }
        let mine = r.per_user.entry(user_id).or_default();
        if *mine >= MAX_ANSWERS_PER_USER {
            return Err(AiError::TooManyAnswers);
        }
        *mine += 1;
        r.conversations.insert(conversation_id);
        Ok(BusyGuard {
            running: Arc::clone(&self.running),
            conversation_id,
            user_id,
        })
    }
}

/// Frees an answer's place when it ends, however it ends.
struct BusyGuard {
    running: Arc<Mutex<Running>>,
    conversation_id: i32,
    user_id: i32,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut r = self.running.lock().unwrap_or_else(|p| p.into_inner());
        r.conversations.remove(&self.conversation_id);
        if let Some(n) = r.per_user.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                r.per_user.remove(&self.user_id);
            }
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id.
    pub user_id: i32,
    /// User name.
    pub username: String,
    /// Role: the tools see what this role sees.
    pub role: Role,
}

// ---------------------------------------------------------------------------------------
// Providers

/// The models offered per kind when creating a provider (any other name is accepted: a
/// local server serves whatever it has pulled).
pub const MODELS: &[(ProviderKind, &[&str])] = &[
    (
        ProviderKind::Openai,
        &[
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-4.1-mini",
            "o3-mini",
            "deepseek-chat",
            "llama3.1",
        ],
    ),
    (
        ProviderKind::Anthropic,
        &[
            "claude-sonnet-4-5",
            "claude-opus-4-1",
            "claude-3-5-haiku-latest",
        ],
    ),
    (
        ProviderKind::Gemini,
        &["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash"],
    ),
];

/// A provider as the API shows it: the key masked, never in clear.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    id: i32,
    name: String,
    kind: String,
    /// The stored base URL (`null`: the kind's default, in `effective_base_url`).
    base_url: Option<String>,
    effective_base_url: String,
    model: String,
    description: String,
    api_key_masked: String,
    api_key_set: bool,
    /// False when the stored key no longer decrypts (the master's secret key changed):
    /// set a new one.
    api_key_readable: bool,
    is_active: bool,
    total_requests: i64,
    total_input_tokens: i64,
    total_output_tokens: i64,
    total_errors: i64,
    last_error: Option<String>,
    last_error_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A stored key as replies show it ([`crate::secrets::mask`]); empty when there is none.
fn mask(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        crate::secrets::mask(key)
    }
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    from_db(t)
}

fn provider_view(
    row: ProviderRow,
    secrets: &SecretBox,
    active: Option<i32>,
) -> Result<ProviderView, AiError> {
    // A key that no longer decrypts (the secret key changed) must not hide the provider
    // or block replacing the key: it shows as set but unreadable.
    let (masked, readable) = match decrypt_key(secrets, &row.api_key) {
        Ok(key) => (mask(&key), true),
        Err(e) => {
            tracing::warn!(provider_id = row.id, error = %e, "stored AI provider key does not decrypt");
            (crate::secrets::MASK.to_owned(), false)
        }
    };
    let kind = ProviderKind::parse(&row.kind)
        .ok_or_else(|| DbError::Corrupt(format!("provider kind {:?}", row.kind)))?;
    Ok(ProviderView {
        is_active: active == Some(row.id),
        effective_base_url: effective_base_url(kind, row.base_url.as_deref()),
        api_key_masked: masked,
        api_key_set: !row.api_key.is_empty(),
        api_key_readable: readable,
        id: row.id,
        name: row.name,
        kind: row.kind,
        base_url: row.base_url,
        model: row.model,
        description: row.description,
        total_requests: row.total_requests,
        total_input_tokens: row.total_input_tokens,
        total_output_tokens: row.total_output_tokens,
        total_errors: row.total_errors,
        last_error: row.last_error,
        last_error_at: row.last_error_at.map(utc),
        last_used_at: row.last_used_at.map(utc),
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

fn effective_base_url(kind: ProviderKind, base: Option<&str>) -> String {
    base.unwrap_or(kind.default_base_url())
        .trim_end_matches('/')
        .to_owned()
}

fn decrypt_key(secrets: &SecretBox, stored: &str) -> Result<String, AiError> {
    if stored.is_empty() {
        return Ok(String::new());
    }
    secrets
        .decrypt(stored)
        .map_err(|e| AiError::Secret(e.to_string()))
}

/// A provider's fields as a create or patch body gives them (`None`: not given). Its
/// `Debug` never prints the key.
#[derive(Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    name: Option<String>,
    kind: Option<String>,
    /// `null` or `""`: the kind's default.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    base_url: Option<Option<String>>,
    model: Option<String>,
    /// Write-only; `""` clears it (OpenAI-compatible local servers need none).
    api_key: Option<String>,
    description: Option<String>,
}

impl std::fmt::Debug for ProviderInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderInput")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("description", &self.description)
            .finish()
    }
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Ok(Some(Option::deserialize(d)?))
    }
}

/// Checks text: trimmed, 1..=max characters, no control characters.
fn text_field(field: &'static str, v: &str, max: usize) -> Result<String, AiError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(v.to_owned())
}

/// An `http(s)://host[:port][/path]` base URL with no credentials, query or fragment.
fn base_url_field(v: &str) -> Result<Option<String>, AiError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    const WHAT: &str = "an http(s):// URL with a host and no user, query or fragment, such as \
                        http://localhost:11434/v1";
    let url = reqwest::Url::parse(v).map_err(|_| invalid("base_url", WHAT))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || v.len() > 512
    {
        return Err(invalid("base_url", WHAT));
    }
    Ok(Some(v.trim_end_matches('/').to_owned()))
}

/// Builds the stored fields from `input` over `before` (a create has no `before`).
fn merge_provider(
    input: ProviderInput,
    before: Option<(&ProviderRow, String)>,
    secrets: &SecretBox,
) -> Result<ProviderFields, AiError> {
    let required = |v: Option<String>, field: &'static str, old: Option<&str>| match (v, old) {
        (Some(v), _) => Ok(v),
        (None, Some(old)) => Ok(old.to_owned()),
        (None, None) => Err(invalid(field, "is required")),
    };
    let old = before.as_ref().map(|(r, _)| *r);
    let name = text_field(
        "name",
        &required(input.name, "name", old.map(|r| r.name.as_str()))?,
        64,
    )?;
    let kind_s = required(input.kind, "kind", old.map(|r| r.kind.as_str()))?;
    let kind = ProviderKind::parse(kind_s.trim())
        .ok_or_else(|| invalid("kind", "one of: openai, anthropic, gemini"))?;
    let model = text_field(
        "model",
        &required(input.model, "model", old.map(|r| r.model.as_str()))?,
        128,
    )?;
    if model.chars().any(char::is_whitespace) {
        return Err(invalid("model", "no whitespace"));
    }
    let base_url = match input.base_url {
        Some(v) => base_url_field(v.as_deref().unwrap_or(""))?,
        None => old.and_then(|r| r.base_url.clone()),
    };
    let description = match input.description {
        Some(d) if d.chars().count() > 1024 => {
            return Err(invalid("description", "at most 1024 characters"))
        }
        Some(d) => d.trim().to_owned(),
        None => old.map(|r| r.description.clone()).unwrap_or_default(),
    };
    // A key goes only where it went before: pointing a provider somewhere else (another
    // base URL or format) needs the key given again, so an admin session cannot send a
    // stored key it never saw to a host of its choosing.
    let moved = old.is_some_and(|r| r.base_url != base_url || r.kind != kind.as_str());
    let key = match (input.api_key, &before) {
        (Some(k), _) => k.trim().to_owned(),
        (None, Some((r, _))) if moved && !r.api_key.is_empty() => {
            return Err(invalid(
                "api_key",
                "give the key again when base_url or kind changes",
            ))
        }
        (None, Some((_, clear))) => clear.clone(),
        (None, None) => String::new(),
    };
    if key.len() > 4096 || key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            "api_key",
            "at most 4096 characters, no whitespace or control characters",
        ));
    }
    // OpenAI-compatible local servers (Ollama, LM Studio, vLLM) take no key; the hosted
    // Anthropic and Gemini APIs always do.
    if key.is_empty() && kind != ProviderKind::Openai {
        return Err(invalid(
            "api_key",
            format!("is required for {}", kind.as_str()),
        ));
    }
    let api_key = if key.is_empty() {
        String::new()
    } else {
        secrets
            .encrypt(&key)
            .map_err(|e| AiError::Secret(e.to_string()))?
    };
    Ok(ProviderFields {
        name,
        kind: kind.as_str().to_owned(),
        base_url,
        model,
        api_key,
        description,
    })
}

async fn active_id(db: &Db) -> Result<Option<i32>, AiError> {
    Ok(db.ai().settings().await?.and_then(|s| s.provider_id))
}

/// Every provider.
/// Every provider, and the active configuration (one read of each).
pub async fn list_providers(
    db: &Db,
    secrets: &SecretBox,
) -> Result<(Vec<ProviderView>, ActiveView), AiError> {
    let settings = db.ai().settings().await?;
    let rows = db.ai().list_providers().await?;
    let active_id = settings.as_ref().and_then(|s| s.provider_id);
    let active = active_view(settings, rows.iter().find(|r| Some(r.id) == active_id));
    let views = rows
        .into_iter()
        .map(|r| provider_view(r, secrets, active_id))
        .collect::<Result<_, _>>()?;
    Ok((views, active))
}

/// One provider.
pub async fn get_provider(db: &Db, secrets: &SecretBox, id: i32) -> Result<ProviderView, AiError> {
    let row = db
        .ai()
        .get_provider(id)
        .await?
        .ok_or(AiError::ProviderNotFound(id))?;
    provider_view(row, secrets, active_id(db).await?)
}

/// Creates a provider.
pub async fn create_provider(
    db: &Db,
    secrets: &SecretBox,
    input: ProviderInput,
    by: i32,
) -> Result<ProviderView, AiError> {
    let fields = merge_provider(input, None, secrets)?;
    let name = fields.name.clone();
    match db.ai().insert_provider(fields, by, Utc::now()).await? {
        ProviderWrite::Ok(row) => provider_view(*row, secrets, active_id(db).await?),
        ProviderWrite::NameTaken => Err(AiError::ProviderNameTaken(name)),
        ProviderWrite::NotFound => Err(DbError::Corrupt("insert found no row".into()).into()),
    }
}

/// Changes the given fields of a provider.
pub async fn patch_provider(
    db: &Db,
    secrets: &SecretBox,
    id: i32,
    input: ProviderInput,
) -> Result<ProviderView, AiError> {
    let row = db
        .ai()
        .get_provider(id)
        .await?
        .ok_or(AiError::ProviderNotFound(id))?;
    // The stored key is read back only when the patch keeps it.
    let clear = match input.api_key {
        Some(_) => String::new(),
        None => decrypt_key(secrets, &row.api_key)?,
    };
    let fields = merge_provider(input, Some((&row, clear)), secrets)?;
    let name = fields.name.clone();
    match db.ai().update_provider(id, fields, Utc::now()).await? {
        ProviderWrite::Ok(row) => provider_view(*row, secrets, active_id(db).await?),
        ProviderWrite::NameTaken => Err(AiError::ProviderNameTaken(name)),
        ProviderWrite::NotFound => Err(AiError::ProviderNotFound(id)),
    }
}

/// Deletes a provider that is not the active one.
pub async fn delete_provider(db: &Db, id: i32) -> Result<(), AiError> {
    match db.ai().delete_provider(id).await? {
        ProviderDelete::Deleted => Ok(()),
        ProviderDelete::NotFound => Err(AiError::ProviderNotFound(id)),
        ProviderDelete::InUse => Err(AiError::ProviderInUse(id)),
    }
}

// ---------------------------------------------------------------------------------------
// The active configuration

/// The active configuration as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActiveView {
    enabled: bool,
    provider_id: Option<i32>,
    /// Seconds one tool may take.
    tool_timeout: i32,
    /// The active provider's name, kind and model (`null` when none).
    provider: Option<serde_json::Value>,
    /// True when a chat can start: enabled with a provider.
    ready: bool,
    updated_at: Option<DateTime<Utc>>,
}

/// Bounds of `tool_timeout`, seconds: long enough for a slow agent, short enough to stay
/// inside one chat's time.
const TOOL_TIMEOUT_SECS: std::ops::RangeInclusive<i64> = 1..=600;

/// Seeds the configuration on first start from `MASTER_AI_ENABLED` and
/// `MASTER_AI_TOOL_TIMEOUT`; later starts keep what the API set.
pub async fn seed(db: &Db, settings: &crate::config::Settings) -> Result<(), AiError> {
    let secs = settings.ai_tool_timeout.as_secs().clamp(
        *TOOL_TIMEOUT_SECS.start() as u64,
        *TOOL_TIMEOUT_SECS.end() as u64,
    );
    db.ai()
        .seed_settings(settings.ai_enabled, secs as i32, Utc::now())
        .await?;
    Ok(())
}

/// The active configuration.
pub async fn active(db: &Db) -> Result<ActiveView, AiError> {
    let settings = db.ai().settings().await?;
    let provider = match settings.as_ref().and_then(|s| s.provider_id) {
        Some(id) => db.ai().get_provider(id).await?,
        None => None,
    };
    Ok(active_view(settings, provider.as_ref()))
}

/// The configuration as the API shows it, with its provider's row.
fn active_view(settings: Option<SettingsRow>, provider: Option<&ProviderRow>) -> ActiveView {
    let Some(s) = settings else {
        return ActiveView {
            enabled: false,
            provider_id: None,
            tool_timeout: 30,
            provider: None,
            ready: false,
            updated_at: None,
        };
    };
    ActiveView {
        ready: s.enabled && provider.is_some(),
        provider: provider.map(
            |p| serde_json::json!({"id": p.id, "name": p.name, "kind": p.kind, "model": p.model}),
        ),
        enabled: s.enabled,
        provider_id: s.provider_id,
        tool_timeout: s.tool_timeout_secs,
        updated_at: Some(utc(s.updated_at)),
    }
}

/// A change to the active configuration (`None`: unchanged).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveInput {
    enabled: Option<bool>,
    /// `null` clears the provider.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i32>)]
    provider_id: Option<Option<i32>>,
    /// Seconds, 1–600.
    tool_timeout: Option<i64>,
}

/// Changes the active configuration.
pub async fn put_active(db: &Db, input: ActiveInput, by: i32) -> Result<ActiveView, AiError> {
    let now = db.ai().settings().await?;
    let enabled = input
        .enabled
        .unwrap_or(now.as_ref().is_some_and(|s| s.enabled));
    let provider_id = match input.provider_id {
        Some(p) => p,
        None => now.as_ref().and_then(|s| s.provider_id),
    };
    let timeout = match input.tool_timeout {
        Some(t) if !TOOL_TIMEOUT_SECS.contains(&t) => {
            return Err(invalid("tool_timeout", "seconds, between 1 and 600"))
        }
        Some(t) => t as i32,
        None => now.as_ref().map_or(30, |s| s.tool_timeout_secs),
    };
    match db
        .ai()
        .put_settings(enabled, provider_id, timeout, by, Utc::now())
        .await?
    {
        SettingsWrite::Ok(_) => active(db).await,
        SettingsWrite::NoSuchProvider => Err(AiError::ProviderNotFound(provider_id.unwrap_or(0))),
    }
}

// ---------------------------------------------------------------------------------------
// Conversations

/// A conversation as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    id: i32,
    cluster_id: Option<String>,
    title: String,
    message_count: i32,
    total_input_tokens: i64,
    total_output_tokens: i64,
    total_tool_calls: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ConversationRow> for ConversationView {
    fn from(r: ConversationRow) -> Self {
        ConversationView {
            id: r.id,
            cluster_id: r.cluster_id,
            title: r.title,
            message_count: r.message_count,
            total_input_tokens: r.total_input_tokens,
            total_output_tokens: r.total_output_tokens,
            total_tool_calls: r.total_tool_calls,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

/// A message as the API shows it, with its tool calls.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    id: i32,
    conversation_id: i32,
    role: String,
    content: String,
    /// `complete`, `interrupted` (the client left: the partial answer) or `error`.
    status: String,
    error: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    created_at: DateTime<Utc>,
    tool_calls: Vec<ToolCallView>,
}

/// A stored tool call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolCallView {
    round: i32,
    call_id: String,
    name: String,
    input: serde_json::Value,
    output: String,
    success: bool,
    duration_ms: i64,
}

fn message_view(m: MessageRow, calls: Vec<ToolCallRow>) -> MessageView {
    MessageView {
        id: m.id,
        conversation_id: m.conversation_id,
        role: m.role,
        content: m.content,
        status: m.status,
        error: m.error,
        input_tokens: m.input_tokens,
        output_tokens: m.output_tokens,
        created_at: utc(m.created_at),
        tool_calls: calls
            .into_iter()
            .map(|t| ToolCallView {
                input: serde_json::from_str(&t.input).unwrap_or(serde_json::Value::String(t.input)),
                round: t.round,
                call_id: t.call_id,
                name: t.name,
                output: t.output,
                success: t.success,
                duration_ms: t.duration_ms,
            })
            .collect(),
    }
}

/// Longest conversation title, in characters.
const MAX_TITLE: usize = 200;

/// The caller's conversations, most recently used first.
pub async fn list_conversations(
    db: &Db,
    caller: &Caller,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ConversationView>, i64), AiError> {
    let (rows, total) = db
        .ai()
        .list_conversations(caller.user_id, limit, offset)
        .await?;
    Ok((rows.into_iter().map(Into::into).collect(), total))
}

/// Starts a conversation (about `cluster_id` when given).
pub async fn create_conversation(
    db: &Db,
    caller: &Caller,
    cluster_id: Option<String>,
    title: Option<String>,
) -> Result<ConversationView, AiError> {
    let title = match title.map(|t| t.trim().to_owned()) {
        Some(t) if t.chars().count() > MAX_TITLE || t.chars().any(char::is_control) => {
            return Err(invalid(
                "title",
                format!("at most {MAX_TITLE} characters, no control characters"),
            ))
        }
        Some(t) => t,
        None => String::new(),
    };
    let row = db
        .ai()
        .insert_conversation(
            caller.user_id,
            cluster_id.filter(|c| !c.is_empty()),
            title,
            Utc::now(),
        )
        .await?;
    Ok(row.into())
}

/// One of the caller's conversations.
pub async fn get_conversation(
    db: &Db,
    caller: &Caller,
    id: i32,
) -> Result<ConversationRow, AiError> {
    db.ai()
        .get_conversation(id, caller.user_id)
        .await?
        .ok_or(AiError::ConversationNotFound(id))
}

/// One of the caller's conversations, as the API shows it.
pub async fn conversation_view(
    db: &Db,
    caller: &Caller,
    id: i32,
) -> Result<ConversationView, AiError> {
    Ok(get_conversation(db, caller, id).await?.into())
}

/// Deletes one of the caller's conversations with its messages and tool calls.
pub async fn delete_conversation(db: &Db, caller: &Caller, id: i32) -> Result<(), AiError> {
    if db.ai().delete_conversation(id, caller.user_id).await? {
        Ok(())
    } else {
        Err(AiError::ConversationNotFound(id))
    }
}

/// A page of one of the caller's conversations' messages, oldest first.
pub async fn messages(
    db: &Db,
    caller: &Caller,
    id: i32,
    limit: i64,
    offset: i64,
) -> Result<(Vec<MessageView>, i64), AiError> {
    let conv = get_conversation(db, caller, id).await?;
    let rows = db.ai().messages(id, limit, offset).await?;
    Ok((
        rows.into_iter().map(|(m, c)| message_view(m, c)).collect(),
        i64::from(conv.message_count),
    ))
}

// ---------------------------------------------------------------------------------------
// Proposals

/// A proposal as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProposalView {
    id: i32,
    conversation_id: Option<i32>,
    /// Who was chatting when the assistant proposed it.
    requested_by: String,
    cluster_id: String,
    action: String,
    kind: String,
    namespace: String,
    name: String,
    params: serde_json::Value,
    /// The model's reason, as it gave it.
    reason: String,
    /// `pending`, `approved`, `rejected` or `expired`.
    status: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    decided_by: Option<String>,
    command_id: Option<String>,
}

/// A proposal's state now: a pending one past its expiry is `expired`.
fn proposal_status(r: &ProposalRow, now: DateTime<Utc>) -> String {
    if r.status == "pending" && r.expires_at <= to_db(now) {
        "expired".into()
    } else {
        r.status.clone()
    }
}

/// The view of a stored proposal at `now`.
pub fn proposal_view(r: ProposalRow, now: DateTime<Utc>) -> ProposalView {
    ProposalView {
        status: proposal_status(&r, now),
        params: serde_json::from_str(&r.params).unwrap_or_default(),
        id: r.id,
        conversation_id: r.conversation_id,
        requested_by: r.username,
        cluster_id: r.cluster_id,
        action: r.action,
        kind: r.target_kind,
        namespace: r.target_namespace,
        name: r.target_name,
        reason: r.reason,
        created_at: utc(r.created_at),
        expires_at: utc(r.expires_at),
        decided_at: r.decided_at.map(utc),
        decided_by: r.decided_by,
        command_id: r.command_id,
    }
}

/// Actions the assistant may propose: the operator's everyday changes. Deletes and
/// reading Secrets are not among them.
pub const PROPOSABLE: &[&str] = &["scale", "restart", "update_image", "cordon", "uncordon"];

/// A proposal as the model gives it.
#[derive(Debug, Clone)]
pub struct ProposalInput {
    /// The cluster.
    pub cluster_id: String,
    /// The command, validated like any command.
    pub spec: CommandSpec,
    /// The model's reason.
    pub reason: String,
}

/// Stores a proposal the model made in `conversation_id`; nothing runs.
pub async fn propose(
    state: &AppState,
    caller: &Caller,
    conversation_id: i32,
    mut input: ProposalInput,
) -> Result<ProposalView, AiError> {
    if !PROPOSABLE.contains(&input.spec.action.trim()) {
        return Err(invalid(
            "action",
            format!("one of: {}", PROPOSABLE.join(", ")),
        ));
    }
    input.spec.validate().map_err(|e| AiError::Invalid {
        field: "command",
        message: e.to_string(),
    })?;
    state
        .cluster(&input.cluster_id, false)
        .await
        .map_err(|e| invalid("cluster_id", e.message().to_owned()))?;
    let reason = input.reason.trim().chars().take(2000).collect::<String>();
    if reason.is_empty() {
        return Err(invalid("reason", "say why the change is needed"));
    }
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(state.settings.ai_proposal_ttl)
        .unwrap_or_else(|_| chrono::Duration::minutes(15));
    let row = state
        .db
        .ai()
        .insert_proposal(NewProposal {
            conversation_id: Some(conversation_id),
            user_id: caller.user_id,
            username: caller.username.clone(),
            cluster_id: input.cluster_id,
            action: input.spec.action,
            target_kind: input.spec.kind,
            target_namespace: input.spec.namespace,
            target_name: input.spec.name,
            params: serde_json::Value::Object(input.spec.params).to_string(),
            reason,
            status: "pending".into(),
            created_at: to_db(now),
            expires_at: to_db(now + ttl),
        })
        .await?;
    tracing::info!(proposal_id = row.id, cluster_id = %row.cluster_id, action = %row.action, user = %caller.username, "assistant proposed a command");
    Ok(proposal_view(row, now))
}

/// A page of proposals, newest first: a viewer sees the ones made in their own chats, an
/// operator every one (they are the ones who decide).
pub async fn list_proposals(
    db: &Db,
    caller: &Caller,
    status: Option<String>,
    cluster_id: Option<String>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ProposalView>, i64), AiError> {
    if let Some(s) = &status {
        if !["pending", "approved", "rejected", "expired"].contains(&s.as_str()) {
            return Err(invalid(
                "status",
                "one of: pending, approved, rejected, expired",
            ));
        }
    }
    let filter = ProposalFilter {
        user_id: (caller.role < Role::Operator).then_some(caller.user_id),
        status,
        cluster_id,
    };
    let now = Utc::now();
    let (rows, total) = db.ai().list_proposals(filter, now, limit, offset).await?;
    Ok((
        rows.into_iter().map(|r| proposal_view(r, now)).collect(),
        total,
    ))
}

async fn decided(db: &Db, id: i32) -> AiError {
    match db.ai().get_proposal(id).await {
        Ok(Some(r)) => AiError::ProposalDecided {
            id,
            status: proposal_status(&r, Utc::now()),
        },
        Ok(None) => AiError::ProposalNotFound(id),
        Err(e) => e.into(),
    }
}

/// Approves a pending proposal: exactly one approval wins, and it creates one ordinary
/// command, created by the approver. If the command cannot be created (the cluster was
/// deleted meanwhile), the proposal is pending again and the error is returned.
pub async fn approve(
    state: &AppState,
    approver: &Caller,
    id: i32,
) -> Result<(ProposalView, String), AiError> {
    let now = Utc::now();
    let Some(mut row) = state
        .db
        .ai()
        .decide_proposal(id, "approved", approver.username.clone(), now)
        .await?
    else {
        return Err(decided(&state.db, id).await);
    };
    let created = async {
        let addr = state
            .cluster(&row.cluster_id, false)
            .await
            .map_err(|e| invalid("cluster_id", e.message().to_owned()))?;
        let params = serde_json::from_str(&row.params).unwrap_or_default();
        let cmd = commands::create(
            &state.db,
            &addr,
            CommandRequest {
                cluster_id: row.cluster_id.clone(),
                action: row.action.clone(),
                kind: row.target_kind.clone(),
                namespace: row.target_namespace.clone(),
                name: row.target_name.clone(),
                params,
                topic: None,
            },
            Creator {
                user_id: approver.user_id,
                username: approver.username.clone(),
            },
        )
        .await?;
        Ok::<_, AiError>(cmd.command_id)
    }
    .await;
    match created {
        Ok(command_id) => {
            state
                .db
                .ai()
                .set_proposal_command(id, command_id.clone())
                .await?;
            tracing::info!(proposal_id = id, %command_id, approver = %approver.username, "proposal approved");
            row.command_id = Some(command_id.clone());
            Ok((proposal_view(row, now), command_id))
        }
        // The command row is committed before it is queued: when only the queueing
        // failed, the command exists (and is queued at the next start), so the proposal
        // stays approved and cannot make a second one.
        Err(e @ AiError::Command(CommandError::Actor(_))) => Err(e),
        Err(e) => {
            state.db.ai().reopen_proposal(id).await?;
            Err(e)
        }
    }
}

/// Rejects a pending proposal.
pub async fn reject(db: &Db, by: &Caller, id: i32) -> Result<ProposalView, AiError> {
    let now = Utc::now();
    match db
        .ai()
        .decide_proposal(id, "rejected", by.username.clone(), now)
        .await?
    {
        Some(row) => Ok(proposal_view(row, now)),
        None => Err(decided(db, id).await),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn keys_are_masked_to_their_last_four() {
        assert_eq!(mask(""), "");
        assert_eq!(mask("short"), "****");
        assert_eq!(mask("12345678901"), "****");
        assert_eq!(mask("sk-abcdefghijklmnop"), "****mnop");
    }

    #[test]
    fn answers_run_one_per_conversation_and_a_few_per_user() {
        let a = Assistant::new().unwrap();
        let first = a.claim(1, 7).unwrap();
        assert!(matches!(a.claim(1, 8), Err(AiError::Busy(1))));
        let _second = a.claim(2, 7).unwrap();
        let _third = a.claim(3, 7).unwrap();
        assert!(matches!(a.claim(4, 7), Err(AiError::TooManyAnswers)));
        drop(a.claim(4, 8).unwrap());
        drop(first);
        assert!(a.claim(4, 7).is_ok(), "a finished answer frees its places");
        assert!(a.claim(1, 8).is_ok());
    }

    #[test]
    fn base_urls_are_plain_http_locations() {
        assert_eq!(
            base_url_field("http://localhost:11434/v1/")
                .unwrap()
                .as_deref(),
            Some("http://localhost:11434/v1")
        );
        assert_eq!(base_url_field(" ").unwrap(), None);
        for bad in [
            "ftp://x",
            "http://user:pw@host/v1",
            "http://host/v1?key=1",
            "not a url",
            "http://host/v1#frag",
        ] {
            assert!(base_url_field(bad).is_err(), "{bad}");
        }
    }
}
