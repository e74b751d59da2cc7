//! Configuration loading: built-in defaults, then a TOML file, then environment variables.
//!
//! Every setting is declared once, in the `settings!` table below. That single table
//! generates the [`Settings`] struct, its [`Default`], the documentation rows in [`KEYS`]
//! and the parsers used for both the file and the environment, so a key can never be
//! documented, defaulted or parsed in two different ways.
//!
//! Rules (see `spec/config.md`):
//! - the file is `./config.toml` when it exists (silently skipped when absent), or the
//!   path given by `--config PATH` / `MASTER_CONFIG` (which must then exist);
//! - TOML keys are flat: the environment name without `MASTER_`, lower-cased;
//! - the AtlHyper v2.1 names are accepted as aliases from the environment only; when the
//!   main name and an alias are both set, the main name wins;
//! - an empty environment variable counts as unset;
//! - an unknown key or an unparsable value is an error that names the key (or the
//!   variable); secret values are never echoed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use toml::Value;

/// The file read from the working directory when no explicit path is given.
const DEFAULT_FILE: &str = "config.toml";
/// The environment variable naming an explicit configuration file.
const CONFIG_ENV: &str = "MASTER_CONFIG";

use atlhyper_text::units::MIB;
/// The duration and size parsers of settings (and of alert rules: one syntax).
pub use atlhyper_text::units::{parse_duration, parse_size};

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}
const fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

/// A configuration error; its `Display` is the full, user-facing message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Documentation row for one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// TOML key (flat).
    pub key: &'static str,
    /// Environment variable.
    pub env: &'static str,
    /// AtlHyper v2.1 environment names also accepted (environment only).
    pub aliases: &'static [&'static str],
    /// The default as written in `config.toml` (a TOML literal); empty when unset.
    pub default: &'static str,
    /// One-line meaning.
    pub meaning: &'static str,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How agents authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAuthMode {
    /// Agents must present a token (the bootstrap token or a per-cluster token).
    Token,
    /// No agent authentication.
    Open,
}

/// Where live state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatahubType {
    Memory,
    Redis,
}

/// Which database stores persistent data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbType {
    Sqlite,
    Postgres,
}

/// Declares every setting once: field, type, default, parser, environment name and
/// aliases, the default as written in `config.toml`, and the one-line meaning.
macro_rules! settings {
    ($(
        $field:ident: $ty:ty = $default:expr => $parse:expr,
        $env:literal [$($alias:literal),*], $doc_default:literal, $meaning:literal;
    )*) => {
        /// The master's settings, loaded once at startup and passed down explicitly.
        ///
        /// `Debug` prints secrets as `[REDACTED]`.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $(
                #[doc = concat!($meaning, " (`", $env, "`)")]
                pub $field: $ty,
            )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        /// One row per setting, in `config.toml` order.
        pub const KEYS: &[KeyDoc] = &[$(
            KeyDoc {
                key: stringify!($field),
                env: $env,
                aliases: &[$($alias),*],
                default: $doc_default,
                meaning: $meaning,
            },
        )*];

        /// Setters, parallel to `KEYS`.
        const FIELDS: &[Field] = &[$(
            Field {
                secret: <$ty as FieldValue>::SECRET,
                set: |settings: &mut Settings, raw: Raw<'_>| {
                    settings.$field = ($parse)(raw)?;
                    Ok(())
                },
            },
        )*];
    };
}

settings! {
    http_port: u16 = 8080 => port,
        "MASTER_HTTP_PORT" ["MASTER_GATEWAY_PORT"], "8080",
        "Dashboard REST API port";
    agent_port: u16 = 8081 => port,
        "MASTER_AGENT_PORT" ["MASTER_AGENTSDK_PORT"], "8081",
        "Agent API port";
    bind: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED) => ip,
        "MASTER_BIND" [], "\"0.0.0.0\"",
        "Listen address for both APIs";
    tls_cert: Option<PathBuf> = None => optional_path,
        "MASTER_TLS_CERT" [], "",
        "PEM certificate chain: serve HTTPS on both ports (needs tls_key)";
    tls_key: Option<PathBuf> = None => optional_path,
        "MASTER_TLS_KEY" [], "",
        "PEM private key of tls_cert (needs tls_cert)";
    cors_origins: Vec<String> = Vec::new() => origins,
        "MASTER_CORS_ORIGINS" [], "",
        "Comma-separated origins allowed to call the dashboard API from a browser (unset: CORS off)";
    metrics_token: Option<SecretString> = None => secret,
        "MASTER_METRICS_TOKEN" [], "",
        "Bearer token a Prometheus scrape of /metrics must send (unset: /metrics is public)";
    log_level: String = "info".to_owned() => log_filter,
        "MASTER_LOG_LEVEL" [], "\"info\"",
        "Log filter: a level or any tracing EnvFilter directive string";
    log_format: LogFormat = LogFormat::Text => choice::<LogFormat>,
        "MASTER_LOG_FORMAT" [], "\"text\"",
        "Log format: \"text\" or \"json\" (structured logs)";
    command_poll_timeout: Duration = secs(50) => duration,
        "MASTER_COMMAND_POLL_TIMEOUT" ["MASTER_TIMEOUT_COMMAND_POLL"], "\"50s\"",
        "Agent command long-poll hold (below the v2.1 agent's own 60 s deadline)";
    command_result_timeout: Duration = mins(5) => duration,
        "MASTER_COMMAND_RESULT_TIMEOUT" [], "\"5m\"",
        "A running command with no result after this becomes timeout";
    command_pending_ttl: Duration = mins(10) => duration,
        "MASTER_COMMAND_PENDING_TTL" [], "\"10m\"",
        "A pending command not picked up after this becomes expired";
    command_max_output: u64 = MIB => size,
        "MASTER_COMMAND_MAX_OUTPUT" [], "\"1MiB\"",
        "Cap on the stored output of one command";
    v21_command_wait: Duration = secs(29) => nonzero_duration,
        "MASTER_V21_COMMAND_WAIT" [], "\"29s\"",
        "How long the AtlHyper dashboard's log and data reads (/v21) wait for the agent's answer (under its own 30 s timeout)";
    heartbeat_timeout: Duration = secs(45) => duration,
        "MASTER_HEARTBEAT_TIMEOUT" ["MASTER_DATAHUB_HEARTBEAT_EXPIRE"], "\"45s\"",
        "A cluster without a heartbeat for this long goes offline";
    snapshot_retention: usize = 10 => positive::<usize>,
        "MASTER_SNAPSHOT_RETENTION" [], "10",
        "Snapshot summaries kept per cluster, >= 1 (the newest is kept in full)";
    agent_auth: AgentAuthMode = AgentAuthMode::Token => choice::<AgentAuthMode>,
        "MASTER_AGENT_AUTH" [], "\"token\"",
        "Agent authentication: \"token\" or \"open\"";
    agent_token: Option<SecretString> = None => secret,
        "MASTER_AGENT_TOKEN" [], "",
        "Bootstrap agent token, valid for any cluster id";
    agent_max_body: u64 = 64 * MIB => size,
        "MASTER_AGENT_MAX_BODY" [], "\"64MiB\"",
        "Cap on a compressed agent request body";
    agent_max_snapshot: u64 = 512 * MIB => size,
        "MASTER_AGENT_MAX_SNAPSHOT" [], "\"512MiB\"",
        "Cap on a decompressed agent snapshot";
    agent_read_timeout: Duration = secs(60) => nonzero_duration,
        "MASTER_AGENT_READ_TIMEOUT" [], "\"60s\"",
        "Deadline for a whole agent request body to arrive";
    api_read_timeout: Duration = secs(30) => nonzero_duration,
        "MASTER_API_READ_TIMEOUT" [], "\"30s\"",
        "Deadline for a whole dashboard request body to arrive (408 past it)";
    max_clusters: usize = 10_000 => positive::<usize>,
        "MASTER_MAX_CLUSTERS" [], "10000",
        "How many clusters first contact may create (bounds a runaway agent)";
    api_rate_limit: u32 = 20 => count::<u32>,
        "MASTER_API_RATE_LIMIT" [], "20",
        "Dashboard requests per second per session or API token (0: off)";
    api_rate_burst: u32 = 100 => positive::<u32>,
        "MASTER_API_RATE_BURST" [], "100",
        "Dashboard requests a token may make at once above the rate (>= 1)";
    agent_rate_limit: u32 = 10 => count::<u32>,
        "MASTER_AGENT_RATE_LIMIT" [], "10",
        "Agent requests per second per cluster (0: off)";
    agent_rate_burst: u32 = 60 => positive::<u32>,
        "MASTER_AGENT_RATE_BURST" [], "60",
        "Agent requests a cluster may make at once above the rate (>= 1)";
    unauth_rate_limit: u32 = 10 => count::<u32>,
        "MASTER_UNAUTH_RATE_LIMIT" [], "10",
        "Unauthenticated requests per second per client IP, on either port (0: off)";
    unauth_rate_burst: u32 = 100 => positive::<u32>,
        "MASTER_UNAUTH_RATE_BURST" [], "100",
        "Unauthenticated requests a client IP may make at once above the rate (>= 1)";
    datahub_type: DatahubType = DatahubType::Memory => choice::<DatahubType>,
        "MASTER_DATAHUB_TYPE" [], "\"memory\"",
        "Live state store: \"memory\" or \"redis\" (shared by several masters)";
    redis_addr: String = "redis://127.0.0.1:6379".to_owned() => text,
        "MASTER_REDIS_ADDR" [], "\"redis://127.0.0.1:6379\"",
        "Redis address, used when datahub_type = \"redis\"; a path selects the database (redis://h:6379/7)";
    redis_prefix: String = "atlhyper".to_owned() => text,
        "MASTER_REDIS_PREFIX" [], "\"atlhyper\"",
        "Prefix of every Redis key and channel (and of the ownership locks), so that several installations can share one Redis and one PostgreSQL";
    lease_ttl: Duration = secs(5) => nonzero_duration,
        "MASTER_LEASE_TTL" [], "\"5s\"",
        "Replicas: a dead replica's clusters and singletons get a new owner within twice this";
    db_type: DbType = DbType::Sqlite => choice::<DbType>,
        "MASTER_DB_TYPE" [], "\"sqlite\"",
        "Database: \"sqlite\" or \"postgres\"";
    db_path: PathBuf = PathBuf::from("data/master.db") => path,
        "MASTER_DB_PATH" [], "\"data/master.db\"",
        "SQLite file, created together with its directory";
    db_dsn: Option<SecretString> = None => secret,
        "MASTER_DB_DSN" [], "",
        "PostgreSQL URL, required when db_type = \"postgres\"";
    db_max_conns: u32 = 10 => positive::<u32>,
        "MASTER_DB_MAX_CONNS" [], "10",
        "Database connection pool size (>= 1)";
    event_retention_days: u32 = 30 => count::<u32>,
        "MASTER_EVENT_RETENTION_DAYS" [], "30",
        "Days Kubernetes events are kept";
    event_max_count: u64 = 100_000 => count::<u64>,
        "MASTER_EVENT_MAX_COUNT" [], "100000",
        "Maximum events kept per cluster";
    event_cleanup_interval: Duration = hours(1) => nonzero_duration,
        "MASTER_EVENT_CLEANUP_INTERVAL" [], "\"1h\"",
        "How often old events are deleted";
    metrics_sample_interval: Duration = mins(5) => nonzero_duration,
        "MASTER_METRICS_SAMPLE_INTERVAL" [], "\"5m\"",
        "Node-metrics history sampling period";
    metrics_retention_days: u32 = 30 => count::<u32>,
        "MASTER_METRICS_RETENTION_DAYS" [], "30",
        "Days node-metrics history is kept";
    metrics_cleanup_interval: Duration = hours(1) => nonzero_duration,
        "MASTER_METRICS_CLEANUP_INTERVAL" [], "\"1h\"",
        "How often old node-metrics history is deleted";
    command_history_days: u32 = 90 => count::<u32>,
        "MASTER_COMMAND_HISTORY_DAYS" [], "90",
        "Days finished commands are kept";
    audit_retention_days: u32 = 180 => count::<u32>,
        "MASTER_AUDIT_RETENTION_DAYS" [], "180",
        "Days audit records, resolved alerts, finished deliveries, unused AI conversations and decided AI proposals are kept (unresolved security events and firing alerts: forever)";
    change_detail_days: u32 = 90 => count::<u32>,
        "MASTER_CHANGE_DETAIL_DAYS" [], "90",
        "Days every change found in the snapshots is kept; after that only the monthly and quarterly periodic snapshots";
    change_snapshot_days: u32 = 365 => count::<u32>,
        "MASTER_CHANGE_SNAPSHOT_DAYS" [], "365",
        "Days monthly periodic snapshots are kept; after that only quarterly ones (January, April, July, October), forever";
    slo_raw_retention: Duration = hours(48) => duration,
        "MASTER_SLO_RAW_RETENTION" [], "\"48h\"",
        "How long raw SLO data is kept";
    slo_hourly_retention: Duration = hours(2160) => duration,
        "MASTER_SLO_HOURLY_RETENTION" [], "\"2160h\"",
        "How long hourly and daily SLO aggregates and SLO status history are kept";
    slo_target_availability: f64 = 99.0 => availability_percent,
        "MASTER_SLO_TARGET_AVAILABILITY" [], "99.0",
        "Availability target, percent (0 < x < 100), of every route without a target of its own";
    slo_target_p95: Duration = Duration::from_millis(300) => nonzero_duration,
        "MASTER_SLO_TARGET_P95" [], "\"300ms\"",
        "p95 latency target of every route without a target of its own";
    slo_evaluate_interval: Duration = secs(30) => duration,
        "MASTER_SLO_EVALUATE_INTERVAL" [], "\"30s\"",
        "How often a cluster's SLO status and burn rates are evaluated, at most (0s: after every push)";
    admin_username: String = "admin".to_owned() => text,
        "MASTER_ADMIN_USERNAME" [], "\"admin\"",
        "First-start admin user name";
    admin_password: Option<SecretString> = None => secret,
        "MASTER_ADMIN_PASSWORD" [], "",
        "First-start admin password (generated when unset)";
    secret_key: Option<SecretString> = None => secret,
        "MASTER_SECRET_KEY" [], "",
        "Key encrypting secrets at rest (generated into the data dir when unset)";
    token_ttl: Duration = hours(24) => nonzero_duration,
        "MASTER_TOKEN_TTL" [], "\"24h\"",
        "Session token lifetime";
    alert_group_wait: Duration = secs(30) => duration,
        "MASTER_ALERT_GROUP_WAIT" [], "\"30s\"",
        "How long alerts of one (cluster, rule) are gathered into one message";
    alert_repeat_interval: Duration = hours(4) => nonzero_duration,
        "MASTER_ALERT_REPEAT_INTERVAL" [], "\"4h\"",
        "Reminder period while an alert keeps firing";
    notify_retry_base: Duration = secs(1) => nonzero_duration,
        "MASTER_NOTIFY_RETRY_BASE" [], "\"1s\"",
        "Notification delivery backoff start";
    notify_retry_max: Duration = mins(10) => nonzero_duration,
        "MASTER_NOTIFY_RETRY_MAX" [], "\"10m\"",
        "Notification delivery backoff ceiling (>= notify_retry_base)";
    notify_max_attempts: u32 = 20 => positive::<u32>,
        "MASTER_NOTIFY_MAX_ATTEMPTS" [], "20",
        "Delivery attempts before a message is marked failed";
    notify_breaker_failures: u32 = 5 => positive::<u32>,
        "MASTER_NOTIFY_BREAKER_FAILURES" [], "5",
        "Consecutive failures that open a channel's circuit breaker";
    notify_breaker_cooldown: Duration = secs(60) => nonzero_duration,
        "MASTER_NOTIFY_BREAKER_COOLDOWN" [], "\"60s\"",
        "How long an open breaker waits before one trial send";
    notify_budget_window: Duration = secs(60) => nonzero_duration,
        "MASTER_NOTIFY_BUDGET_WINDOW" [], "\"60s\"",
        "The window a channel's message budget (max_per_minute) counts in";
    ai_enabled: bool = false => boolean,
        "MASTER_AI_ENABLED" [], "false",
        "Whether the AI assistant is on: seeds the stored setting on first start only (then PUT /api/v2/ai/active)";
    ai_tool_timeout: Duration = secs(30) => nonzero_duration,
        "MASTER_AI_TOOL_TIMEOUT" [], "\"30s\"",
        "How long one assistant tool may take (an agent tool waits this long for its command): seeds the stored setting on first start only";
    ai_max_rounds: u32 = 5 => positive::<u32>,
        "MASTER_AI_MAX_ROUNDS" [], "5",
        "Tool rounds per chat answer, at most";
    ai_max_calls_per_round: u32 = 5 => positive::<u32>,
        "MASTER_AI_MAX_CALLS_PER_ROUND" [], "5",
        "Tool calls per round, at most (the rest of a round's calls are dropped)";
    ai_chat_timeout: Duration = mins(3) => nonzero_duration,
        "MASTER_AI_CHAT_TIMEOUT" [], "\"3m\"",
        "How long one chat answer may take in all";
    ai_history_messages: u32 = 20 => positive::<u32>,
        "MASTER_AI_HISTORY_MESSAGES" [], "20",
        "Earlier messages of a conversation sent to the model, at most (and within a token budget)";
    ai_provider_timeout: Duration = secs(60) => nonzero_duration,
        "MASTER_AI_PROVIDER_TIMEOUT" [], "\"60s\"",
        "How long a model provider may stay silent (no byte) before its request fails";
    ai_proposal_ttl: Duration = mins(15) => nonzero_duration,
        "MASTER_AI_PROPOSAL_TTL" [], "\"15m\"",
        "How long an assistant's proposed command waits for approval before it expires";
    shutdown_timeout: Duration = secs(8) => duration,
        "MASTER_SHUTDOWN_TIMEOUT" [], "\"8s\"",
        "Graceful-stop budget (keep it below the 10 s a supervisor usually waits)";
}

impl Settings {
    /// Reads the process environment and the file: `explicit_path` (from `--config`), else
    /// `MASTER_CONFIG`, else `./config.toml` when it exists.
    pub fn load(explicit_path: Option<&Path>) -> Result<Settings, ConfigError> {
        let env = process_env()?;
        let explicit = match explicit_path {
            Some(path) => Some((path.to_path_buf(), "--config")),
            None => env
                .get(CONFIG_ENV)
                .filter(|value| !value.is_empty())
                .map(|value| (PathBuf::from(value), CONFIG_ENV)),
        };
        let file = match explicit {
            Some((path, given_by)) => match std::fs::read_to_string(&path) {
                Ok(text) => Some((path.display().to_string(), text)),
                Err(e) => {
                    return Err(ConfigError(format!(
                        "cannot read config file \"{}\" (given by {given_by}): {e}",
                        path.display()
                    )))
                }
            },
            None => match std::fs::read_to_string(DEFAULT_FILE) {
                Ok(text) => Some((DEFAULT_FILE.to_owned(), text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(ConfigError(format!(
                        "cannot read config file \"{DEFAULT_FILE}\": {e}"
                    )))
                }
            },
        };
        Self::from_sources(
            file.as_ref()
                .map(|(name, text)| (name.as_str(), text.as_str())),
            &env,
        )
    }

    /// Testable core: `env` is the environment as a map; `file` is (display name, TOML
    /// text) or `None`.
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: &HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        if let Some((name, text)) = file {
            settings.apply_file(name, text)?;
        }
        settings.apply_env(env)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Whether both ports serve HTTPS (`tls_cert` and `tls_key` are set).
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// The bootstrap agent token, if configured.
    pub fn expose_agent_token(&self) -> Option<&str> {
        self.agent_token.as_ref().map(|token| token.expose_secret())
    }

    /// The token a `/metrics` scrape must send, if configured.
    pub fn expose_metrics_token(&self) -> Option<&str> {
        self.metrics_token
            .as_ref()
            .map(|token| token.expose_secret())
    }

    fn apply_file(&mut self, name: &str, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError(toml_error(name, text, &e)))?;
        let mut entries = Vec::with_capacity(table.len());
        for (key, value) in &table {
            let Some(index) = KEYS.iter().position(|doc| doc.key == key) else {
                return Err(ConfigError(unknown_key(name, key)));
            };
            entries.push((index, value));
        }
        for (index, value) in entries {
            let (doc, field) = (&KEYS[index], &FIELDS[index]);
            let raw = Raw::Toml(value);
            (field.set)(self, raw).map_err(|reason| {
                ConfigError(format!(
                    "{name}: key \"{}\": invalid value {}: {reason}",
                    doc.key,
                    raw.shown(field.secret)
                ))
            })?;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        for (doc, field) in KEYS.iter().zip(FIELDS) {
            let found = std::iter::once(doc.env)
                .chain(doc.aliases.iter().copied())
                .find_map(|var| {
                    env.get(var)
                        .filter(|value| !value.is_empty())
                        .map(|value| (var, value.as_str()))
                });
            if let Some((var, value)) = found {
                let raw = Raw::Text(value);
                (field.set)(self, raw).map_err(|reason| {
                    ConfigError(format!(
                        "{var}: invalid value {}: {reason}",
                        raw.shown(field.secret)
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// Checks that span several keys. Single values (ports and counts >= 1, non-zero
    /// periods) are checked while parsing, so the message names where the value came from.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError(format!("invalid configuration: {message}")));
        if self.http_port == self.agent_port && self.http_port != 0 {
            return invalid(&format!(
                "http_port and agent_port are both {} (MASTER_HTTP_PORT, MASTER_AGENT_PORT); \
                 they must differ",
                self.http_port
            ));
        }
        if self.datahub_type == DatahubType::Redis && self.db_type != DbType::Postgres {
            return invalid(
                "datahub_type = \"redis\" (MASTER_DATAHUB_TYPE) needs db_type = \"postgres\": \
                 replicas share one PostgreSQL database",
            );
        }
        if self.db_type == DbType::Postgres && self.db_dsn.is_none() {
            return invalid("db_type = \"postgres\" requires db_dsn (MASTER_DB_DSN)");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid(
                "tls_cert (MASTER_TLS_CERT) and tls_key (MASTER_TLS_KEY) must be set together",
            );
        }
        if self.notify_retry_base > self.notify_retry_max {
            return invalid(
                "notify_retry_base (MASTER_NOTIFY_RETRY_BASE) must not exceed \
                 notify_retry_max (MASTER_NOTIFY_RETRY_MAX)",
            );
        }
        Ok(())
    }
}

/// The `MASTER_*` part of the process environment. A non-UTF-8 value is an error.
fn process_env() -> Result<HashMap<String, String>, ConfigError> {
    let mut env = HashMap::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("MASTER_") {
            continue;
        }
        let value = value
            .into_string()
            .map_err(|_| ConfigError(format!("{name}: value is not valid UTF-8")))?;
        env.insert(name.to_owned(), value);
    }
    Ok(env)
}

/// A TOML syntax error with its position, without the toml crate's source excerpt (which
/// could echo a secret).
fn toml_error(name: &str, text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end().replace('\n', "; ");
    match error.span().and_then(|span| text.get(..span.start)) {
        Some(before) => {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("{name}: invalid TOML at line {line}, column {column}: {message}")
        }
        None => format!("{name}: invalid TOML: {message}"),
    }
}

/// Names the key that was probably meant: for a v2.1 alias, an environment name or a
/// different case.
fn unknown_key(name: &str, key: &str) -> String {
    let upper = key.to_ascii_uppercase();
    let wanted = upper.strip_prefix("MASTER_").unwrap_or(&upper);
    let hint = KEYS.iter().find(|doc| {
        std::iter::once(doc.env)
            .chain(doc.aliases.iter().copied())
            .any(|var| var.strip_prefix("MASTER_") == Some(wanted))
    });
    match hint {
        Some(doc) => format!(
            "{name}: unknown key \"{key}\" (did you mean \"{}\"?)",
            doc.key
        ),
        None => format!("{name}: unknown key \"{key}\""),
    }
}

/// Sets one field from a raw value; the error is the reason, without the value.
type Setter = fn(&mut Settings, Raw<'_>) -> Result<(), String>;

struct Field {
    secret: bool,
    set: Setter,
}

/// A raw value, from the environment or from the file.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Text(&'a str),
    Toml(&'a Value),
}

impl<'a> Raw<'a> {
    /// The value as shown in an error message.
    fn shown(self, secret: bool) -> String {
        match self {
            _ if secret => "(hidden)".to_owned(),
            Raw::Text(s) => format!("{s:?}"),
            Raw::Toml(Value::String(s)) => format!("{s:?}"),
            Raw::Toml(value) => value.to_string(),
        }
    }

    /// The text of an environment value or of a TOML string.
    fn text(self, expected: &str) -> Result<&'a str, String> {
        match self {
            Raw::Text(s) => Ok(s),
            Raw::Toml(Value::String(s)) => Ok(s),
            Raw::Toml(value) => Err(format!(
                "expected {expected}, found a TOML {}",
                value.type_str()
            )),
        }
    }
}

/// Per-type facts the table needs.
trait FieldValue {
    /// Values of this type are never echoed.
    const SECRET: bool = false;
}
impl FieldValue for bool {}
impl FieldValue for u16 {}
impl FieldValue for u32 {}
impl FieldValue for u64 {}
impl FieldValue for f64 {}
impl FieldValue for usize {}
impl FieldValue for Duration {}
impl FieldValue for IpAddr {}
impl FieldValue for String {}
impl FieldValue for PathBuf {}
impl FieldValue for Option<PathBuf> {}
impl FieldValue for Vec<String> {}
impl FieldValue for LogFormat {}
impl FieldValue for AgentAuthMode {}
impl FieldValue for DatahubType {}
impl FieldValue for DbType {}
impl FieldValue for Option<SecretString> {
    const SECRET: bool = true;
}

/// An enum setting spelled as a lower-case word.
trait Choice: Copy + 'static {
    const NAMES: &'static [(&'static str, Self)];
}
impl Choice for LogFormat {
    const NAMES: &'static [(&'static str, Self)] = &[("text", Self::Text), ("json", Self::Json)];
}
impl Choice for AgentAuthMode {
    const NAMES: &'static [(&'static str, Self)] = &[("token", Self::Token), ("open", Self::Open)];
}
impl Choice for DatahubType {
    const NAMES: &'static [(&'static str, Self)] =
        &[("memory", Self::Memory), ("redis", Self::Redis)];
}
impl Choice for DbType {
    const NAMES: &'static [(&'static str, Self)] =
        &[("sqlite", Self::Sqlite), ("postgres", Self::Postgres)];
}

fn choice<T: Choice>(raw: Raw<'_>) -> Result<T, String> {
    let names: Vec<String> = T::NAMES
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect();
    let expected = format!("one of {}", names.join(", "));
    let s = raw.text(&expected)?.trim();
    T::NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|(_, value)| *value)
        .ok_or_else(|| format!("expected {expected}"))
}

/// A switch: a TOML boolean, or `true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off` in any case.
fn boolean(raw: Raw<'_>) -> Result<bool, String> {
    const EXPECTED: &str = "true or false";
    if let Raw::Toml(Value::Boolean(b)) = raw {
        return Ok(*b);
    }
    match raw.text(EXPECTED)?.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected {EXPECTED}")),
    }
}

/// A non-negative integer: a TOML integer, or a decimal string.
fn count<T: TryFrom<i64> + std::str::FromStr>(raw: Raw<'_>) -> Result<T, String> {
    const EXPECTED: &str = "a non-negative integer";
    let parsed = match raw {
        Raw::Toml(Value::Integer(i)) => T::try_from(*i).ok(),
        _ => raw.text(EXPECTED)?.trim().parse().ok(),
    };
    parsed.ok_or_else(|| format!("expected {EXPECTED}"))
}

fn positive<T: TryFrom<i64> + std::str::FromStr + PartialEq + From<u8>>(
    raw: Raw<'_>,
) -> Result<T, String> {
    match count::<T>(raw) {
        Ok(n) if n != T::from(0) => Ok(n),
        _ => Err("expected an integer >= 1".to_owned()),
    }
}

/// A TCP port; 0 asks the OS for a free one (the log says which was bound).
fn port(raw: Raw<'_>) -> Result<u16, String> {
    count::<u16>(raw).map_err(|_| "expected a port number (0-65535)".to_owned())
}

fn size(raw: Raw<'_>) -> Result<u64, String> {
    const EXPECTED: &str = "a size such as \"64MiB\", \"10KB\" or a number of bytes";
    match raw {
        Raw::Toml(Value::Integer(i)) => {
            u64::try_from(*i).map_err(|_| format!("expected {EXPECTED}"))
        }
        _ => {
            parse_size(raw.text(EXPECTED)?.trim()).map_err(|e| format!("{e}; expected {EXPECTED}"))
        }
    }
}

/// An availability target in percent: a number strictly between 0 and 100 (100 % leaves
/// no error budget to measure a burn rate against).
fn availability_percent(raw: Raw<'_>) -> Result<f64, String> {
    const EXPECTED: &str = "a percentage above 0 and below 100, such as 99.9";
    let parsed = match raw {
        Raw::Toml(Value::Float(f)) => Some(*f),
        Raw::Toml(Value::Integer(i)) => Some(*i as f64),
        _ => raw.text(EXPECTED)?.trim().parse::<f64>().ok(),
    };
    parsed
        .filter(|x| x.is_finite() && *x > 0.0 && *x < 100.0)
        .ok_or_else(|| format!("expected {EXPECTED}"))
}

fn duration(raw: Raw<'_>) -> Result<Duration, String> {
    const EXPECTED: &str = "a duration such as \"45s\", \"5m\" or \"1h30m\"";
    parse_duration(raw.text(EXPECTED)?.trim()).map_err(|e| format!("{e}; expected {EXPECTED}"))
}

fn nonzero_duration(raw: Raw<'_>) -> Result<Duration, String> {
    match duration(raw)? {
        d if d.is_zero() => Err("expected a duration greater than 0".to_owned()),
        d => Ok(d),
    }
}

fn ip(raw: Raw<'_>) -> Result<IpAddr, String> {
    const EXPECTED: &str = "an IP address such as \"0.0.0.0\" or \"::\"";
    raw.text(EXPECTED)?
        .trim()
        .parse()
        .map_err(|_| format!("expected {EXPECTED}"))
}

fn text(raw: Raw<'_>) -> Result<String, String> {
    const EXPECTED: &str = "a non-empty string";
    match raw.text(EXPECTED)? {
        s if s.trim().is_empty() => Err(format!("expected {EXPECTED}")),
        s => Ok(s.to_owned()),
    }
}

fn path(raw: Raw<'_>) -> Result<PathBuf, String> {
    text(raw).map(PathBuf::from)
}

/// A path that may be unset: an empty string counts as unset.
fn optional_path(raw: Raw<'_>) -> Result<Option<PathBuf>, String> {
    let s = raw.text("a file path")?.trim();
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}

/// Browser origins: a comma-separated string (or, in the file, an array of strings) of
/// `scheme://host[:port]`; an empty string is the empty list.
fn origins(raw: Raw<'_>) -> Result<Vec<String>, String> {
    const EXPECTED: &str = "comma-separated origins such as \"https://dash.example.com\"";
    let items: Vec<&str> = match raw {
        Raw::Toml(Value::Array(values)) => values
            .iter()
            .map(|value| match value {
                Value::String(s) => Ok(s.as_str()),
                other => Err(format!(
                    "expected {EXPECTED}, found a TOML {} in the array",
                    other.type_str()
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => raw.text(EXPECTED)?.split(',').collect(),
    };
    let mut out: Vec<String> = Vec::new();
    for item in items.iter().map(|item| item.trim()) {
        if item.is_empty() {
            continue;
        }
        let origin = origin(item).map_err(|e| format!("{e}; expected {EXPECTED}"))?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// One origin as a browser sends it: `http(s)://host[:port]`, lower-cased, with no path.
/// A wildcard is refused: credentials-bearing APIs must name their origins.
fn origin(s: &str) -> Result<String, String> {
    if s == "*" {
        return Err("the wildcard origin \"*\" is not allowed".to_owned());
    }
    let bad = || {
        format!("origin {s:?} must be http(s)://host[:port] with no path, query or trailing slash")
    };
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let (host, port) = match rest.strip_prefix('[') {
        // An IPv6 literal keeps its colons inside the brackets.
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            match after {
                "" => (addr, None),
                _ => (addr, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !host_ok || port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(bad());
    }
    Ok(lower)
}

fn log_filter(raw: Raw<'_>) -> Result<String, String> {
    const EXPECTED: &str = "a log filter such as \"info\" or \"info,atlhyper_master=debug\"";
    let s = raw.text(EXPECTED)?;
    if s.trim().is_empty() {
        return Err(format!("expected {EXPECTED}"));
    }
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("{e}; expected {EXPECTED}"))
}

/// A secret string; an empty string counts as unset. Never echoed.
fn secret(raw: Raw<'_>) -> Result<Option<SecretString>, String> {
    let s = raw.text("a string")?;
    Ok((!s.is_empty()).then(|| SecretString::from(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn ok(file: Option<&str>, pairs: &[(&str, &str)]) -> Settings {
        match Settings::from_sources(file.map(|text| ("config.toml", text)), &env(pairs)) {
            Ok(settings) => settings,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(file: Option<&str>, pairs: &[(&str, &str)]) -> String {
        match Settings::from_sources(file.map(|text| ("config.toml", text)), &env(pairs)) {
            Ok(settings) => panic!("expected an error, got {settings:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn dur(s: &str) -> Duration {
        match parse_duration(s) {
            Ok(d) => d,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    #[test]
    fn defaults() {
        let s = Settings::default();
        assert_eq!(s.http_port, 8080);
        assert_eq!(s.agent_port, 8081);
        assert_eq!(s.bind, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(s.tls_cert.is_none() && s.tls_key.is_none() && !s.tls_enabled());
        assert!(s.cors_origins.is_empty());
        assert!(s.metrics_token.is_none());
        assert_eq!(s.log_level, "info");
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.command_poll_timeout, secs(50));
        assert_eq!(s.command_result_timeout, secs(300));
        assert_eq!(s.command_pending_ttl, secs(600));
        assert_eq!(s.command_max_output, 1024 * 1024);
        assert_eq!(s.heartbeat_timeout, secs(45));
        assert_eq!(s.snapshot_retention, 10);
        assert_eq!(s.agent_auth, AgentAuthMode::Token);
        assert!(s.agent_token.is_none());
        assert_eq!(s.agent_max_body, 64 * 1024 * 1024);
        assert_eq!(s.agent_max_snapshot, 512 * 1024 * 1024);
        assert_eq!(s.agent_read_timeout, secs(60));
        assert_eq!(s.max_clusters, 10_000);
        assert_eq!(s.api_rate_limit, 20);
        assert_eq!(s.api_rate_burst, 100);
        assert_eq!(s.agent_rate_limit, 10);
        assert_eq!(s.agent_rate_burst, 60);
        assert_eq!(s.unauth_rate_limit, 10);
        assert_eq!(s.unauth_rate_burst, 100);
        assert_eq!(s.api_read_timeout, secs(30));
        assert_eq!(s.datahub_type, DatahubType::Memory);
        assert_eq!(s.redis_addr, "redis://127.0.0.1:6379");
        assert_eq!(s.db_type, DbType::Sqlite);
        assert_eq!(s.db_path, PathBuf::from("data/master.db"));
        assert!(s.db_dsn.is_none());
        assert_eq!(s.db_max_conns, 10);
        assert_eq!(s.event_retention_days, 30);
        assert_eq!(s.event_max_count, 100_000);
        assert_eq!(s.event_cleanup_interval, secs(3600));
        assert_eq!(s.metrics_sample_interval, secs(300));
        assert_eq!(s.metrics_retention_days, 30);
        assert_eq!(s.metrics_cleanup_interval, secs(3600));
        assert_eq!(s.command_history_days, 90);
        assert_eq!(s.audit_retention_days, 180);
        assert_eq!(s.slo_raw_retention, secs(48 * 3600));
        assert_eq!(s.slo_hourly_retention, secs(2160 * 3600));
        assert_eq!(s.admin_username, "admin");
        assert!(s.admin_password.is_none());
        assert!(s.secret_key.is_none());
        assert_eq!(s.token_ttl, secs(24 * 3600));
        assert_eq!(s.alert_group_wait, secs(30));
        assert_eq!(s.alert_repeat_interval, secs(4 * 3600));
        assert_eq!(s.notify_retry_base, secs(1));
        assert_eq!(s.notify_retry_max, secs(600));
        assert_eq!(s.shutdown_timeout, secs(8));
        assert!(s.shutdown_timeout < secs(10));
        // No file and no environment: exactly the defaults.
        assert_eq!(format!("{:?}", ok(None, &[])), format!("{s:?}"));
    }

    #[test]
    fn keys_table_is_consistent() {
        assert_eq!(KEYS.len(), FIELDS.len());
        for (i, doc) in KEYS.iter().enumerate() {
            assert_eq!(doc.env, format!("MASTER_{}", doc.key.to_ascii_uppercase()));
            assert!(!doc.meaning.is_empty(), "{}", doc.key);
            assert!(
                KEYS[..i].iter().all(|other| other.key != doc.key),
                "duplicate key {}",
                doc.key
            );
            for alias in doc.aliases {
                assert!(KEYS.iter().all(|other| other.env != *alias), "{alias}");
            }
        }
        // Every documented default parses back to the built-in default.
        let file: String = KEYS
            .iter()
            .filter(|doc| !doc.default.is_empty())
            .map(|doc| format!("{} = {}\n", doc.key, doc.default))
            .collect();
        assert_eq!(
            format!("{:?}", ok(Some(&file), &[])),
            format!("{:?}", Settings::default())
        );
        let secret_keys: Vec<&str> = KEYS
            .iter()
            .zip(FIELDS)
            .filter(|(_, field)| field.secret)
            .map(|(doc, _)| doc.key)
            .collect();
        assert_eq!(
            secret_keys,
            [
                "metrics_token",
                "agent_token",
                "db_dsn",
                "admin_password",
                "secret_key"
            ]
        );
    }

    #[test]
    fn every_key_reads_its_env_var() {
        // Each documented default, given through the environment, yields the defaults.
        let vars: Vec<(&str, &str)> = KEYS
            .iter()
            .filter(|doc| !doc.default.is_empty())
            .map(|doc| (doc.env, doc.default.trim_matches('"')))
            .collect();
        assert_eq!(
            format!("{:?}", ok(None, &vars)),
            format!("{:?}", Settings::default())
        );
        // And each key really is read: a non-default value for every one of them.
        let s = ok(
            None,
            &[
                ("MASTER_HTTP_PORT", "1"),
                ("MASTER_AGENT_PORT", "2"),
                ("MASTER_BIND", "::1"),
                ("MASTER_TLS_CERT", "/c.pem"),
                ("MASTER_TLS_KEY", "/k.pem"),
                ("MASTER_CORS_ORIGINS", "https://A.example, http://b:8000"),
                ("MASTER_METRICS_TOKEN", "m"),
                ("MASTER_LOG_LEVEL", "debug,actix_web=warn"),
                ("MASTER_LOG_FORMAT", "JSON"),
                ("MASTER_COMMAND_POLL_TIMEOUT", "1s"),
                ("MASTER_COMMAND_RESULT_TIMEOUT", "2s"),
                ("MASTER_COMMAND_PENDING_TTL", "3s"),
                ("MASTER_COMMAND_MAX_OUTPUT", "4"),
                ("MASTER_V21_COMMAND_WAIT", "45s"),
                ("MASTER_HEARTBEAT_TIMEOUT", "5s"),
                ("MASTER_SNAPSHOT_RETENTION", "6"),
                ("MASTER_AGENT_AUTH", "open"),
                ("MASTER_AGENT_TOKEN", "t"),
                ("MASTER_AGENT_MAX_BODY", "7"),
                ("MASTER_AGENT_MAX_SNAPSHOT", "8"),
                ("MASTER_AGENT_READ_TIMEOUT", "9s"),
                ("MASTER_DATAHUB_TYPE", "Redis"),
                ("MASTER_REDIS_ADDR", "redis://r:1"),
                ("MASTER_DB_TYPE", "postgres"),
                ("MASTER_DB_PATH", "/tmp/x.db"),
                ("MASTER_DB_DSN", "postgres://h/db"),
                ("MASTER_DB_MAX_CONNS", "11"),
                ("MASTER_EVENT_RETENTION_DAYS", "12"),
                ("MASTER_EVENT_MAX_COUNT", "13"),
                ("MASTER_EVENT_CLEANUP_INTERVAL", "14s"),
                ("MASTER_METRICS_SAMPLE_INTERVAL", "15s"),
                ("MASTER_METRICS_RETENTION_DAYS", "16"),
                ("MASTER_METRICS_CLEANUP_INTERVAL", "17s"),
                ("MASTER_COMMAND_HISTORY_DAYS", "18"),
                ("MASTER_AUDIT_RETENTION_DAYS", "19"),
                ("MASTER_CHANGE_DETAIL_DAYS", "46"),
                ("MASTER_CHANGE_SNAPSHOT_DAYS", "47"),
                ("MASTER_SLO_RAW_RETENTION", "20s"),
                ("MASTER_SLO_HOURLY_RETENTION", "21s"),
                ("MASTER_SLO_TARGET_AVAILABILITY", "99.95"),
                ("MASTER_SLO_TARGET_P95", "250ms"),
                ("MASTER_SLO_EVALUATE_INTERVAL", "37s"),
                ("MASTER_ADMIN_USERNAME", "root"),
                ("MASTER_ADMIN_PASSWORD", "p"),
                ("MASTER_SECRET_KEY", "k"),
                ("MASTER_TOKEN_TTL", "22s"),
                ("MASTER_ALERT_GROUP_WAIT", "23s"),
                ("MASTER_ALERT_REPEAT_INTERVAL", "24s"),
                ("MASTER_NOTIFY_RETRY_BASE", "25s"),
                ("MASTER_NOTIFY_RETRY_MAX", "26s"),
                ("MASTER_SHUTDOWN_TIMEOUT", "27s"),
                ("MASTER_MAX_CLUSTERS", "28"),
                ("MASTER_API_RATE_LIMIT", "29"),
                ("MASTER_API_RATE_BURST", "30"),
                ("MASTER_AGENT_RATE_LIMIT", "31"),
                ("MASTER_AGENT_RATE_BURST", "32"),
                ("MASTER_UNAUTH_RATE_LIMIT", "48"),
                ("MASTER_UNAUTH_RATE_BURST", "49"),
                ("MASTER_API_READ_TIMEOUT", "50s"),
                ("MASTER_NOTIFY_MAX_ATTEMPTS", "33"),
                ("MASTER_NOTIFY_BREAKER_FAILURES", "34"),
                ("MASTER_NOTIFY_BREAKER_COOLDOWN", "35s"),
                ("MASTER_NOTIFY_BUDGET_WINDOW", "36s"),
                ("MASTER_AI_ENABLED", "Yes"),
                ("MASTER_AI_TOOL_TIMEOUT", "38s"),
                ("MASTER_AI_MAX_ROUNDS", "39"),
                ("MASTER_AI_MAX_CALLS_PER_ROUND", "40"),
                ("MASTER_AI_CHAT_TIMEOUT", "41s"),
                ("MASTER_AI_HISTORY_MESSAGES", "42"),
                ("MASTER_AI_PROVIDER_TIMEOUT", "43s"),
                ("MASTER_AI_PROPOSAL_TTL", "44s"),
            ],
        );
        let expected = "Settings { http_port: 1, agent_port: 2, bind: ::1, \
            tls_cert: Some(\"/c.pem\"), tls_key: Some(\"/k.pem\"), \
            cors_origins: [\"https://a.example\", \"http://b:8000\"], \
            metrics_token: Some(SecretBox<str>([REDACTED])), log_level: \"debug,actix_web=warn\", log_format: Json, command_poll_timeout: 1s, \
            command_result_timeout: 2s, command_pending_ttl: 3s, command_max_output: 4, \
            v21_command_wait: 45s, heartbeat_timeout: 5s, snapshot_retention: 6, agent_auth: Open, \
            agent_token: Some(SecretBox<str>([REDACTED])), agent_max_body: 7, \
            agent_max_snapshot: 8, agent_read_timeout: 9s, api_read_timeout: 50s, max_clusters: 28, \
            api_rate_limit: 29, api_rate_burst: 30, agent_rate_limit: 31, \
            agent_rate_burst: 32, unauth_rate_limit: 48, unauth_rate_burst: 49, datahub_type: Redis, \
            redis_addr: \"redis://r:1\", redis_prefix: \"atlhyper\", lease_ttl: 5s, db_type: Postgres, db_path: \"/tmp/x.db\", \
            db_dsn: Some(SecretBox<str>([REDACTED])), db_max_conns: 11, \
            event_retention_days: 12, event_max_count: 13, event_cleanup_interval: 14s, \
            metrics_sample_interval: 15s, metrics_retention_days: 16, \
            metrics_cleanup_interval: 17s, command_history_days: 18, \
            audit_retention_days: 19, change_detail_days: 46, change_snapshot_days: 47, \
            slo_raw_retention: 20s, slo_hourly_retention: 21s, \
            slo_target_availability: 99.95, slo_target_p95: 250ms, slo_evaluate_interval: 37s, \
            admin_username: \"root\", admin_password: Some(SecretBox<str>([REDACTED])), \
            secret_key: Some(SecretBox<str>([REDACTED])), token_ttl: 22s, \
            alert_group_wait: 23s, alert_repeat_interval: 24s, notify_retry_base: 25s, \
            notify_retry_max: 26s, notify_max_attempts: 33, notify_breaker_failures: 34, \
            notify_breaker_cooldown: 35s, notify_budget_window: 36s, ai_enabled: true, \
            ai_tool_timeout: 38s, ai_max_rounds: 39, ai_max_calls_per_round: 40, \
            ai_chat_timeout: 41s, ai_history_messages: 42, ai_provider_timeout: 43s, \
            ai_proposal_ttl: 44s, shutdown_timeout: 27s }";
        assert_eq!(format!("{s:?}"), expected);
        assert_eq!(s.expose_agent_token(), Some("t"));
    }

    #[test]
    fn parse_duration_accepts_go_syntax() {
        assert_eq!(dur("45s"), secs(45));
        assert_eq!(dur("5m"), secs(300));
        assert_eq!(dur("1h"), secs(3600));
        assert_eq!(dur("2160h"), secs(2160 * 3600));
        assert_eq!(dur("1h30m"), secs(5400));
        assert_eq!(dur("1.5h"), secs(5400));
        assert_eq!(dur("300ms"), Duration::from_millis(300));
        assert_eq!(dur("0"), Duration::ZERO);
        assert_eq!(dur("-0"), Duration::ZERO);
        assert_eq!(dur("+5s"), secs(5));
        assert_eq!(dur("0s"), Duration::ZERO);
        assert_eq!(dur(".5s"), Duration::from_millis(500));
        assert_eq!(dur("1.s"), secs(1));
        assert_eq!(dur("10ns"), Duration::from_nanos(10));
        assert_eq!(dur("7us"), Duration::from_micros(7));
        assert_eq!(dur("7µs"), Duration::from_micros(7));
        assert_eq!(dur("7μs"), Duration::from_micros(7));
        assert_eq!(dur("1h0m0.25s"), Duration::from_millis(3_600_250));
        assert_eq!(dur("1.000000000000000000001s"), secs(1));
    }

    #[test]
    fn parse_duration_rejects_bad_input() {
        for bad in [
            "",
            "45",
            "5x",
            "-5s",
            "s",
            ".s",
            "1h 30m",
            " 5s",
            "5S",
            "1e3s",
            "99999999999999999999999h",
            "6000000h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_duration("5x").is_err_and(|e| e.contains("unknown unit \"x\"")));
        assert!(parse_duration("45").is_err_and(|e| e.contains("missing unit")));
    }

    #[test]
    fn parse_size_accepts_units() {
        let cases = [
            ("1MiB", 1 << 20),
            ("64MiB", 64 << 20),
            ("512MiB", 512 << 20),
            ("1GiB", 1 << 30),
            ("1TiB", 1 << 40),
            ("10KB", 10_000),
            ("10KiB", 10_240),
            ("2MB", 2_000_000),
            ("3GB", 3_000_000_000),
            ("123", 123),
            ("0", 0),
            ("7B", 7),
            ("64 MiB", 64 << 20),
            ("1mib", 1 << 20),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_size(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn parse_size_rejects_bad_input() {
        for bad in [
            "",
            "MiB",
            "1.5MiB",
            "10XB",
            "-1",
            "10 MiB extra",
            "99999999999999999999",
            "99999999TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let file = "http_port = 9000\nagent_port = \"9001\"\nheartbeat_timeout = \"1m\"\n\
                    agent_max_body = 2048\nagent_max_snapshot = \"1GiB\"\nlog_format = \"json\"\n";
        let s = ok(
            Some(file),
            &[
                ("MASTER_HTTP_PORT", "9100"),
                ("MASTER_COMMAND_POLL_TIMEOUT", "100ms"),
                ("MASTER_BIND", "127.0.0.1"),
                ("UNRELATED", "x"),
            ],
        );
        assert_eq!(s.http_port, 9100); // env beats file
        assert_eq!(s.agent_port, 9001); // file (string integer) beats default
        assert_eq!(s.heartbeat_timeout, secs(60));
        assert_eq!(s.agent_max_body, 2048);
        assert_eq!(s.agent_max_snapshot, 1 << 30);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.command_poll_timeout, Duration::from_millis(100));
        assert_eq!(s.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(s.snapshot_retention, 10); // default
    }

    #[test]
    fn aliases_are_accepted_from_env() {
        let s = ok(
            None,
            &[
                ("MASTER_GATEWAY_PORT", "7000"),
                ("MASTER_AGENTSDK_PORT", "7001"),
                ("MASTER_TIMEOUT_COMMAND_POLL", "20s"),
                ("MASTER_DATAHUB_HEARTBEAT_EXPIRE", "2m"),
            ],
        );
        assert_eq!(s.http_port, 7000);
        assert_eq!(s.agent_port, 7001);
        assert_eq!(s.command_poll_timeout, secs(20));
        assert_eq!(s.heartbeat_timeout, secs(120));
    }

    #[test]
    fn main_name_beats_alias() {
        let s = ok(
            None,
            &[
                ("MASTER_GATEWAY_PORT", "7000"),
                ("MASTER_HTTP_PORT", "7100"),
                ("MASTER_DATAHUB_HEARTBEAT_EXPIRE", "abc"),
                ("MASTER_HEARTBEAT_TIMEOUT", "10s"),
            ],
        );
        assert_eq!(s.http_port, 7100);
        // The alias is not even parsed when the main name is set.
        assert_eq!(s.heartbeat_timeout, secs(10));
    }

    #[test]
    fn aliases_are_not_file_keys() {
        assert_eq!(
            err(Some("gateway_port = 7000"), &[]),
            "config.toml: unknown key \"gateway_port\" (did you mean \"http_port\"?)"
        );
        assert_eq!(
            err(Some("datahub_heartbeat_expire = \"1m\""), &[]),
            "config.toml: unknown key \"datahub_heartbeat_expire\" (did you mean \"heartbeat_timeout\"?)"
        );
        assert_eq!(
            err(Some("MASTER_HTTP_PORT = 7000"), &[]),
            "config.toml: unknown key \"MASTER_HTTP_PORT\" (did you mean \"http_port\"?)"
        );
        assert_eq!(
            err(Some("Agent_Port = 7000"), &[]),
            "config.toml: unknown key \"Agent_Port\" (did you mean \"agent_port\"?)"
        );
    }

    #[test]
    fn empty_env_counts_as_unset() {
        let s = ok(
            Some("http_port = 9000"),
            &[
                ("MASTER_HTTP_PORT", ""),
                ("MASTER_AGENT_PORT", ""),
                ("MASTER_AGENTSDK_PORT", "7001"),
                ("MASTER_AGENT_TOKEN", ""),
                ("MASTER_DB_TYPE", ""),
            ],
        );
        assert_eq!(s.http_port, 9000);
        assert_eq!(s.agent_port, 7001); // empty main name falls through to the alias
        assert!(s.agent_token.is_none());
        assert_eq!(s.db_type, DbType::Sqlite);
    }

    #[test]
    fn unknown_key_names_the_key() {
        assert_eq!(
            err(Some("htp_port = 8080"), &[]),
            "config.toml: unknown key \"htp_port\""
        );
        assert_eq!(
            err(Some("[server]\nport = 1"), &[]),
            "config.toml: unknown key \"server\""
        );
        // The file's display name is used as given.
        let e = Settings::from_sources(Some(("/etc/master.toml", "nope = 1")), &env(&[]));
        assert!(e.is_err_and(|e| e.to_string() == "/etc/master.toml: unknown key \"nope\""));
    }

    #[test]
    fn bad_value_names_the_key() {
        assert_eq!(
            err(None, &[("MASTER_HTTP_PORT", "abc")]),
            "MASTER_HTTP_PORT: invalid value \"abc\": expected a port number (0-65535)"
        );
        assert_eq!(
            err(Some("http_port = \"abc\""), &[]),
            "config.toml: key \"http_port\": invalid value \"abc\": expected a port number (0-65535)"
        );
        assert_eq!(
            err(Some("http_port = 80.5"), &[]),
            "config.toml: key \"http_port\": invalid value 80.5: expected a port number (0-65535)"
        );
        let cases: &[(&str, &str, &str)] = &[
            ("MASTER_AGENT_PORT", "70000", "port number"),
            ("MASTER_GATEWAY_PORT", "-1", "port number"),
            ("MASTER_HEARTBEAT_TIMEOUT", "45", "missing unit"),
            ("MASTER_COMMAND_RESULT_TIMEOUT", "5 minutes", "unknown unit"),
            ("MASTER_COMMAND_MAX_OUTPUT", "1.5MiB", "size"),
            ("MASTER_SNAPSHOT_RETENTION", "0", ">= 1"),
            ("MASTER_DB_MAX_CONNS", "0", ">= 1"),
            ("MASTER_EVENT_RETENTION_DAYS", "-3", "non-negative integer"),
            ("MASTER_LOG_FORMAT", "xml", "one of \"text\", \"json\""),
            ("MASTER_DB_TYPE", "mysql", "one of \"sqlite\", \"postgres\""),
            ("MASTER_BIND", "localhost", "IP address"),
            ("MASTER_LOG_LEVEL", "info,foo=loud", "log filter"),
            ("MASTER_ADMIN_USERNAME", "  ", "non-empty"),
            ("MASTER_EVENT_CLEANUP_INTERVAL", "0", "greater than 0"),
            ("MASTER_NOTIFY_RETRY_BASE", "0s", "greater than 0"),
            ("MASTER_SLO_TARGET_AVAILABILITY", "100", "below 100"),
            ("MASTER_SLO_TARGET_AVAILABILITY", "0", "above 0"),
            ("MASTER_SLO_TARGET_AVAILABILITY", "NaN", "percentage"),
            ("MASTER_SLO_TARGET_P95", "0s", "greater than 0"),
        ];
        for (var, value, reason) in cases {
            let e = err(None, &[(var, value)]);
            let prefix = format!("{var}: invalid value {value:?}: ");
            assert!(e.starts_with(&prefix), "{e}");
            assert!(e.contains(reason), "{e}");
        }
        let file_cases: &[(&str, &str)] = &[
            ("heartbeat_timeout = 45", "expected a duration"),
            ("agent_max_body = -1", "expected a size"),
            ("bind = 0", "expected an IP address"),
            ("snapshot_retention = 0", ">= 1"),
            ("log_format = true", "found a TOML boolean"),
            ("db_path = \"\"", "non-empty"),
            ("slo_target_availability = 100", "below 100"),
            ("slo_target_availability = \"x\"", "percentage"),
        ];
        for (line, reason) in file_cases {
            let e = err(Some(line), &[]);
            let key = line.split(' ').next().unwrap_or_default();
            assert!(
                e.starts_with(&format!("config.toml: key \"{key}\": invalid value ")),
                "{e}"
            );
            assert!(e.contains(reason), "{e}");
        }
    }

    #[test]
    fn toml_syntax_error_has_position() {
        let e = err(Some("http_port = 8080\nagent_port = = 1\n"), &[]);
        assert!(
            e.starts_with("config.toml: invalid TOML at line 2, column "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn secrets_are_not_echoed() {
        let s = ok(
            None,
            &[
                ("MASTER_AGENT_TOKEN", "tok-s3cr3t"),
                ("MASTER_ADMIN_PASSWORD", "pw-s3cr3t"),
                ("MASTER_SECRET_KEY", "key-s3cr3t"),
                ("MASTER_DB_DSN", "dsn-s3cr3t"),
                ("MASTER_METRICS_TOKEN", "scrape-s3cr3t"),
            ],
        );
        assert_eq!(s.expose_agent_token(), Some("tok-s3cr3t"));
        assert_eq!(s.expose_metrics_token(), Some("scrape-s3cr3t"));
        let debug = format!("{s:?} {s:#?} {:?}", s.clone());
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("REDACTED"));

        // A wrongly typed secret in the file is reported without its value.
        let e = err(Some("agent_token = 123456789"), &[]);
        assert_eq!(
            e,
            "config.toml: key \"agent_token\": invalid value (hidden): expected a string, found a TOML integer"
        );
        // A syntax error on a secret's line does not quote the line.
        let e = err(Some("db_dsn = \"postgres://u:s3cr3t@h/db\n"), &[]);
        assert!(e.starts_with("config.toml: invalid TOML at line 1"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
        // Validation errors do not include secrets either.
        let e = err(
            Some("db_type = \"postgres\"\nadmin_password = \"pw-s3cr3t\""),
            &[],
        );
        assert!(!e.contains("s3cr3t"), "{e}");
        // An empty secret in the file counts as unset.
        assert!(ok(Some("agent_token = \"\""), &[]).agent_token.is_none());
        assert_eq!(ok(None, &[]).expose_agent_token(), None);
    }

    #[test]
    fn postgres_requires_dsn() {
        let e = err(None, &[("MASTER_DB_TYPE", "postgres")]);
        assert_eq!(
            e,
            "invalid configuration: db_type = \"postgres\" requires db_dsn (MASTER_DB_DSN)"
        );
        let s = ok(
            Some("db_type = \"postgres\"\ndb_dsn = \"postgres://localhost/atlhyper\""),
            &[],
        );
        assert_eq!(s.db_type, DbType::Postgres);
    }

    #[test]
    fn token_auth_without_token_is_fine() {
        let s = ok(Some("agent_auth = \"token\""), &[]);
        assert_eq!(s.agent_auth, AgentAuthMode::Token);
        assert!(s.agent_token.is_none());
    }

    #[test]
    fn tls_cert_and_key_go_together() {
        for (var, value) in [("MASTER_TLS_CERT", "/c.pem"), ("MASTER_TLS_KEY", "/k.pem")] {
            let e = err(None, &[(var, value)]);
            assert_eq!(
                e,
                "invalid configuration: tls_cert (MASTER_TLS_CERT) and tls_key \
                 (MASTER_TLS_KEY) must be set together"
            );
        }
        let s = ok(Some("tls_cert = \"c.pem\"\ntls_key = \"k.pem\""), &[]);
        assert!(s.tls_enabled());
        assert_eq!(s.tls_key, Some(PathBuf::from("k.pem")));
        // Empty means unset.
        assert!(!ok(Some("tls_cert = \"\"\ntls_key = \"\""), &[]).tls_enabled());
    }

    #[test]
    fn cors_origins_are_checked_and_normalised() {
        let s = ok(
            Some("cors_origins = [\"https://Dash.example.com\", \"http://[::1]:3000\"]"),
            &[("MASTER_CORS_ORIGINS", "")],
        );
        assert_eq!(
            s.cors_origins,
            ["https://dash.example.com", "http://[::1]:3000"]
        );
        let s = ok(
            None,
            &[(
                "MASTER_CORS_ORIGINS",
                " http://localhost:5173 ,,https://a.io,https://a.io",
            )],
        );
        assert_eq!(s.cors_origins, ["http://localhost:5173", "https://a.io"]);
        assert!(ok(Some("cors_origins = \"\""), &[]).cors_origins.is_empty());
        for bad in [
            "*",
            "dash.example.com",
            "ftp://a.io",
            "https://a.io/",
            "https://a.io/path",
            "https://a.io:99999",
            "https://a.io:",
            "https://",
            "https://[zz]:80",
            "https://a.io?x=1",
        ] {
            let e = err(None, &[("MASTER_CORS_ORIGINS", bad)]);
            assert!(
                e.starts_with("MASTER_CORS_ORIGINS: invalid value"),
                "{bad}: {e}"
            );
        }
        let e = err(Some("cors_origins = [1]"), &[]);
        assert!(e.starts_with("config.toml: key \"cors_origins\""), "{e}");
    }

    #[test]
    fn rate_limits_may_be_off_but_bursts_and_cluster_cap_may_not() {
        let s = ok(
            None,
            &[
                ("MASTER_API_RATE_LIMIT", "0"),
                ("MASTER_AGENT_RATE_LIMIT", "0"),
            ],
        );
        assert_eq!((s.api_rate_limit, s.agent_rate_limit), (0, 0));
        for var in [
            "MASTER_API_RATE_BURST",
            "MASTER_AGENT_RATE_BURST",
            "MASTER_MAX_CLUSTERS",
        ] {
            assert!(err(None, &[(var, "0")]).contains(">= 1"), "{var}");
        }
    }

    #[test]
    fn cross_key_validation() {
        let e = err(None, &[("MASTER_AGENT_PORT", "8080")]);
        assert!(e.contains("must differ"), "{e}");
        let e = err(None, &[("MASTER_NOTIFY_RETRY_BASE", "11m")]);
        assert!(e.contains("notify_retry_base"), "{e}");
    }

    #[test]
    fn load_reads_an_explicit_file() -> Result<(), Box<dyn std::error::Error>> {
        let missing = std::env::temp_dir().join("atlhyper-no-such-dir/none.toml");
        let e = Settings::load(Some(&missing)).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.starts_with("cannot read config file")
                    && e.contains("none.toml")
                    && e.contains("--config")),
            "{e:?}"
        );

        let dir = tempfile::tempdir()?;
        let path = dir.path().join("master.toml");
        std::fs::write(&path, "snapshot_retention = 4\n")?;
        assert_eq!(Settings::load(Some(&path))?.snapshot_retention, 4);

        std::fs::write(&path, "snapshot_retention = 4\nnope = 1\n")?;
        let e = Settings::load(Some(&path)).err().map(|e| e.to_string());
        assert_eq!(e, Some(format!("{}: unknown key \"nope\"", path.display())));
        Ok(())
    }
}
