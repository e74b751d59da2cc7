//! Notification channels: what each kind's config looks like ([`validate`]), which of its
//! fields are secrets ([`mask`], [`merge_masked`], [`secrets`]), and how a [`Message`]
//! reaches it ([`Sender::send`]).
//!
//! Configs are JSON objects (as stored and as the API takes them). Every kind accepts an
//! optional `max_per_minute` (1..=10000) overriding [`ChannelKind::default_budget_per_minute`].
//! Keys a kind does not know are errors, and optional strings given as `""` count as
//! absent (forms send empty inputs).
//!
//! | kind | fields (`?` optional) | secrets |
//! |---|---|---|
//! | slack | `webhook_url` | `webhook_url` |
//! | email | `smtp_host`, `smtp_port?`, `smtp_user?`, `smtp_password?`, `smtp_tls?`, `from_address`, `to_addresses` | `smtp_password` |
//! | webhook | `url`, `secret?` (≥ 16 chars), `headers?` | `secret`, every `headers` value |
//! | dingtalk | `webhook_url`, `secret?` (`SEC...`) | `webhook_url`, `secret` |
//! | feishu | `webhook_url`, `secret?` | `webhook_url`, `secret` |
//!
//! A [`SendError`] never contains a secret: reqwest errors are stripped of their URL, and
//! every message is scrubbed of the config's secrets and URL tokens before it is returned.

mod dingtalk;
mod email;
mod feishu;
mod fields;
mod http;
mod slack;
mod webhook;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::message::Message;
use fields::Fields;

pub use crate::secrets::MASK;
/// Every remote call (HTTP request, SMTP operation) gives up after this long, so one
/// dead endpoint cannot hold a delivery worker.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds of the `max_per_minute` override.
const MAX_PER_MINUTE: (u64, u64) = (1, 10_000);
/// URL path segments and query values at least this long are treated as tokens when
/// scrubbing error messages (`services` in a Slack URL is not one; its token is).
const MIN_URL_TOKEN_CHARS: usize = 9;

/// A kind of notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// A Slack incoming webhook.
    Slack,
    /// Email over SMTP.
    Email,
    /// A generic JSON webhook, optionally HMAC-signed.
    Webhook,
    /// A DingTalk custom robot.
    DingTalk,
    /// A Feishu/Lark custom bot.
    Feishu,
}

impl ChannelKind {
    /// Every kind, in display order.
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Slack,
        ChannelKind::Email,
        ChannelKind::Webhook,
        ChannelKind::DingTalk,
        ChannelKind::Feishu,
    ];

    /// The API and database text.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::DingTalk => "dingtalk",
            ChannelKind::Feishu => "feishu",
        }
    }

    /// Parses the API text.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The name a channel gets until an admin names it.
    pub fn default_name(self) -> &'static str {
        match self {
            ChannelKind::Slack => "Slack",
            ChannelKind::Email => "Email",
            ChannelKind::Webhook => "Webhook",
            ChannelKind::DingTalk => "DingTalk",
            ChannelKind::Feishu => "Feishu",
        }
    }

    /// Messages a minute the channel takes without being throttled:
    /// - DingTalk robots accept 20 a minute and then block for 10 minutes;
    /// - Feishu bots accept 100 a minute (5 a second);
    /// - Slack webhooks allow about one a second;
    /// - email: 30 keeps a burst from looking like spam to the relay and the inbox;
    /// - a generic webhook is ours to flood least: 120.
    pub fn default_budget_per_minute(self) -> u32 {
        match self {
            ChannelKind::Slack => 60,
            ChannelKind::Email => 30,
            ChannelKind::Webhook => 120,
            ChannelKind::DingTalk => 20,
            ChannelKind::Feishu => 100,
        }
    }

    /// The secret top-level string fields of this kind's config.
    fn secret_fields(self) -> &'static [&'static str] {
        match self {
            ChannelKind::Slack => slack::SECRETS,
            ChannelKind::Email => email::SECRETS,
            ChannelKind::Webhook => webhook::SECRETS,
            ChannelKind::DingTalk => dingtalk::SECRETS,
            ChannelKind::Feishu => feishu::SECRETS,
        }
    }

    /// Whether every value of the `headers` object is a secret.
    fn has_secret_headers(self) -> bool {
        self == ChannelKind::Webhook
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed, valid config.
enum Config {
    Slack(slack::Config),
    Email(email::Config),
    Webhook(webhook::Config),
    DingTalk(dingtalk::Config),
    Feishu(feishu::Config),
}

/// Reads `config` as a config of `kind`, or lists every problem.
fn parse(kind: ChannelKind, config: &Value) -> Result<Config, Vec<String>> {
    let mut f = Fields::new(config)?;
    f.opt_int("max_per_minute", MAX_PER_MINUTE.0, MAX_PER_MINUTE.1);
    let parsed = match kind {
        ChannelKind::Slack => slack::parse(&mut f).map(Config::Slack),
        ChannelKind::Email => email::parse(&mut f).map(Config::Email),
        ChannelKind::Webhook => webhook::parse(&mut f).map(Config::Webhook),
        ChannelKind::DingTalk => dingtalk::parse(&mut f).map(Config::DingTalk),
        ChannelKind::Feishu => feishu::parse(&mut f).map(Config::Feishu),
    };
    let errors = f.finish();
    match parsed {
        Some(cfg) if errors.is_empty() => Ok(cfg),
        // Every `None` recorded its reason.
        _ if !errors.is_empty() => Err(errors),
        _ => Err(vec!["config: invalid".to_owned()]),
    }
}

/// The problems with `config` as a config of `kind`; empty when it is valid. Each names
/// its field, e.g. `config.webhook_url: must be an absolute http(s) URL`.
pub fn validate(kind: ChannelKind, config: &Value) -> Vec<String> {
    parse(kind, config).err().unwrap_or_default()
}

/// The channel's messages a minute: the config's valid `max_per_minute`, else the kind's
/// default.
pub fn budget_per_minute(kind: ChannelKind, config: &Value) -> u32 {
    config
        .get("max_per_minute")
        .and_then(Value::as_u64)
        .filter(|n| (MAX_PER_MINUTE.0..=MAX_PER_MINUTE.1).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| kind.default_budget_per_minute())
}

/// `config` with every secret string replaced by `****` and, for secrets of at least 12
/// characters, their last 4 characters. Anything else is returned as it is.
pub fn mask(kind: ChannelKind, config: &Value) -> Value {
    let mut out = config.clone();
    for_each_secret_mut(kind, &mut out, |_, value| {
        if let Value::String(s) = value {
            *s = crate::secrets::mask(s);
        }
    });
    out
}

/// `new` with every secret that is still masked (starts with `****`) replaced by the
/// stored one, so that a GET → edit → PUT round trip keeps secrets the admin did not
/// retype. A masked value with no stored counterpart stays, and [`validate`] refuses it.
pub fn merge_masked(kind: ChannelKind, new: Value, stored: &Value) -> Value {
    let mut out = new;
    for_each_secret_mut(kind, &mut out, |path, value| {
        let masked = value.as_str().is_some_and(|s| s.starts_with(MASK));
        if !masked {
            return;
        }
        if let Some(Value::String(old)) = lookup(stored, path) {
            *value = Value::String(old.clone());
        }
    });
    out
}

/// The raw secret strings in `config` (non-empty, not masked), e.g. to check that logs
/// and errors never contain them.
pub fn secrets(kind: ChannelKind, config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut config = config.clone();
    for_each_secret_mut(kind, &mut config, |_, value| {
        if let Value::String(s) = value {
            if !s.is_empty() && !s.starts_with(MASK) {
                out.push(s.clone());
            }
        }
    });
    out
}

/// Where a secret sits in a config.
enum SecretPath<'a> {
    /// A top-level field.
    Field(&'a str),
    /// A value of the `headers` object.
    Header(&'a str),
}

/// Calls `f` on every secret value present in `config`.
fn for_each_secret_mut(
    kind: ChannelKind,
    config: &mut Value,
    mut f: impl FnMut(SecretPath<'_>, &mut Value),
) {
    let Value::Object(map) = config else {
        return;
    };
    for &field in kind.secret_fields() {
        if let Some(value) = map.get_mut(field) {
            f(SecretPath::Field(field), value);
        }
    }
    if kind.has_secret_headers() {
        if let Some(Value::Object(headers)) = map.get_mut("headers") {
            for (name, value) in headers.iter_mut() {
                f(SecretPath::Header(name), value);
            }
        }
    }
}

/// The value at `path` in `config`; header names match case-insensitively, as HTTP's do.
fn lookup<'v>(config: &'v Value, path: SecretPath<'_>) -> Option<&'v Value> {
    match path {
        SecretPath::Field(field) => config.get(field),
        SecretPath::Header(name) => {
            let headers = config.get("headers")?.as_object()?;
            headers.get(name).or_else(|| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
        }
    }
}

/// Why a message did not reach a channel. `message` never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What went wrong, for the delivery log and the admin.
    pub message: String,
    /// How long the receiver asked us to wait before trying again.
    pub retry_after: Option<Duration>,
    /// Trying the same again will fail the same way (bad config, refused by the receiver).
    pub permanent: bool,
}

impl SendError {
    /// An error that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            retry_after: None,
            permanent: true,
        }
    }

    /// An error that may go away.
    pub fn transient(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            retry_after: None,
            permanent: false,
        }
    }

    /// A message that could not be encoded; it will not encode next time either.
    fn encoding(e: impl fmt::Display) -> Self {
        SendError::permanent(format!("cannot encode the message: {e}"))
    }

    /// This error with every occurrence of `needles` replaced by `****`.
    fn scrubbed(mut self, needles: &[String]) -> Self {
        for needle in needles {
            if !needle.is_empty() && self.message.contains(needle.as_str()) {
                self.message = self.message.replace(needle.as_str(), MASK);
            }
        }
        self
    }
}

/// What to scrub from error messages for `config`: its secrets, and the long path
/// segments and query values of its URLs (tokens in disguise), longest first.
fn scrub_list(kind: ChannelKind, config: &Value) -> Vec<String> {
    let secrets = secrets(kind, config);
    let mut out = secrets.clone();
    for field in ["webhook_url", "url"] {
        let Some(url) = config
            .get(field)
            .and_then(Value::as_str)
            .and_then(fields::parse_http_url)
        else {
            continue;
        };
        out.extend(url.path_segments().into_iter().flatten().map(str::to_owned));
        out.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
        if let Some(password) = url.password() {
            out.push(password.to_owned());
        }
    }
    out.retain(|s| s.chars().count() >= MIN_URL_TOKEN_CHARS || secrets.contains(s));
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Delivers messages to channels. Cheap to clone: clones share one HTTP client (and its
/// connection pool).
#[derive(Debug, Clone)]
pub struct Sender {
    /// The client, or why it could not be built (then every HTTP send fails with that).
    http: Result<reqwest::Client, Arc<str>>,
}

impl Default for Sender {
    fn default() -> Self {
        Self::new()
    }
}

impl Sender {
    /// A sender whose HTTP client times out after 10 s and never follows redirects (a
    /// redirect would carry the signed body, and for DingTalk the token, elsewhere).
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("atlhyper-master/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                tracing::error!(error = %e, "cannot build the notification HTTP client");
                Arc::from(format!("no HTTP client: {e}"))
            });
        Sender { http }
    }

    /// Sends `msg` to the channel of `kind` configured by `config`. An invalid config is a
    /// permanent error listing its problems.
    pub async fn send(
        &self,
        kind: ChannelKind,
        config: &Value,
        msg: &Message,
    ) -> Result<(), SendError> {
        let cfg = parse(kind, config).map_err(|errors| {
            SendError::permanent(format!("invalid {kind} config: {}", errors.join("; ")))
        })?;
        let result = match (&cfg, &self.http) {
            (Config::Email(c), _) => email::send(c, msg).await,
            (_, Err(why)) => Err(SendError::transient(why.to_string())),
            (Config::Slack(c), Ok(client)) => slack::send(client, c, msg).await,
            (Config::Webhook(c), Ok(client)) => webhook::send(client, c, msg).await,
            (Config::DingTalk(c), Ok(client)) => dingtalk::send(client, c, msg).await,
            (Config::Feishu(c), Ok(client)) => feishu::send(client, c, msg).await,
        };
        result.map_err(|e| e.scrubbed(&scrub_list(kind, config)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    fn errors(kind: ChannelKind, config: Value) -> Vec<String> {
        validate(kind, &config)
    }

    fn email() -> Value {
        json!({
            "smtp_host": "smtp.example.com",
            "from_address": "Alerts <alerts@example.com>",
            "to_addresses": ["ops@example.com", "oncall@example.com"],
        })
    }

    #[test]
    fn kinds_round_trip() {
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
            assert!(!kind.default_name().is_empty());
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                Value::from(kind.as_str())
            );
        }
        assert_eq!(ChannelKind::parse("mail"), None);
        assert_eq!(ChannelKind::DingTalk.default_budget_per_minute(), 20);
    }

    #[test]
    fn valid_configs_pass() {
        let slack = json!({"webhook_url": "https://hooks.slack.com/services/T0/B0/abc"});
        assert!(errors(ChannelKind::Slack, slack).is_empty());
        assert!(errors(ChannelKind::Email, email()).is_empty());
        let webhook = json!({
            "url": "http://127.0.0.1:9000/hook",
            "secret": "0123456789abcdef",
            "headers": {"Authorization": "Bearer x", "X-Team": "ops"},
            "max_per_minute": 10,
        });
        assert!(errors(ChannelKind::Webhook, webhook).is_empty());
        let ding = json!({"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret": "SECabc"});
        assert!(errors(ChannelKind::DingTalk, ding).is_empty());
        let feishu =
            json!({"webhook_url": "https://open.feishu.cn/open-apis/bot/v2/hook/x", "secret": ""});
        assert!(errors(ChannelKind::Feishu, feishu).is_empty());
    }

    #[test]
    fn config_must_be_an_object_without_unknown_keys() {
        assert_eq!(
            errors(ChannelKind::Slack, json!([])),
            vec!["config: must be a JSON object"]
        );
        assert_eq!(
            errors(
                ChannelKind::Slack,
                json!({"webhook_url": "https://x.example/h", "webhook_ur1": "y"})
            ),
            vec!["config.webhook_ur1: unknown field"]
        );
    }

    #[test]
    fn urls_must_be_absolute_http() {
        for url in ["hooks.slack.com/x", "ftp://x.example/", "", "https://"] {
            let e = errors(ChannelKind::Slack, json!({ "webhook_url": url }));
            assert_eq!(e.len(), 1, "{url}: {e:?}");
            assert!(e[0].starts_with("config.webhook_url: "), "{e:?}");
        }
        assert_eq!(
            errors(ChannelKind::Slack, json!({"webhook_url": "nope"})),
            vec!["config.webhook_url: must be an absolute http(s) URL"]
        );
        assert_eq!(
            errors(ChannelKind::Webhook, json!({})),
            vec!["config.url: is required"]
        );
    }

    #[test]
    fn max_per_minute_is_checked_on_every_kind() {
        for kind in ChannelKind::ALL {
            let e = errors(kind, json!({"max_per_minute": 0}));
            assert!(
                e.contains(&"config.max_per_minute: must be an integer from 1 to 10000".to_owned()),
                "{kind}: {e:?}"
            );
        }
        assert_eq!(
            budget_per_minute(ChannelKind::Slack, &json!({"max_per_minute": 5})),
            5
        );
        assert_eq!(budget_per_minute(ChannelKind::DingTalk, &json!({})), 20);
        assert_eq!(
            budget_per_minute(ChannelKind::Feishu, &json!({"max_per_minute": 0})),
            100
        );
    }

    #[test]
    fn email_fields_are_checked() {
        let mut c = email();
        c["smtp_port"] = json!(70000);
        c["smtp_tls"] = json!("ssl");
        c["smtp_user"] = json!("me");
        c["from_address"] = json!("not an address");
        c["to_addresses"] = json!(["ok@example.com", "bad@"]);
        let e = errors(ChannelKind::Email, c);
        assert_eq!(
            e,
            vec![
                "config.smtp_port: must be an integer from 1 to 65535",
                "config.smtp_tls: must be \"starttls\", \"tls\", \"none\" or \"opportunistic\"",
                "config.smtp_password: is required when smtp_user is set",
                "config.from_address: must be a valid email address",
                "config.to_addresses[1]: must be a valid email address",
            ]
        );
        let mut c = email();
        c["to_addresses"] = json!([]);
        c["smtp_password"] = json!("pw");
        assert_eq!(
            errors(ChannelKind::Email, c),
            vec![
                "config.smtp_user: is required when smtp_password is set",
                "config.to_addresses: must list at least one address",
            ]
        );
        let mut c = email();
        c.as_object_mut().unwrap().remove("smtp_host");
        c.as_object_mut().unwrap().remove("to_addresses");
        assert_eq!(
            errors(ChannelKind::Email, c),
            vec![
                "config.smtp_host: is required",
                "config.to_addresses: is required"
            ]
        );
    }

    #[test]
    fn email_tls_modes_and_v21_bools() {
        let tls = |tls: Value, port: Option<u16>| {
            let mut c = email();
            c["smtp_tls"] = tls;
            if let Some(p) = port {
                c["smtp_port"] = json!(p);
            }
            match parse(ChannelKind::Email, &c) {
                Ok(Config::Email(e)) => (e.tls_mode(), e.port()),
                _ => panic!("invalid"),
            }
        };
        assert_eq!(tls(Value::Null, None), ("starttls", 587));
        assert_eq!(tls(json!("tls"), None), ("tls", 465));
        assert_eq!(tls(json!("none"), Some(25)), ("none", 25));
        assert_eq!(tls(json!("opportunistic"), None), ("opportunistic", 587));
        assert_eq!(tls(json!(true), Some(465)), ("tls", 465));
        assert_eq!(tls(json!(true), Some(587)), ("starttls", 587));
        assert_eq!(tls(json!(true), None), ("starttls", 587));
        assert_eq!(tls(json!(false), Some(25)), ("opportunistic", 25));
    }

    #[test]
    fn webhook_headers_and_secret_are_checked() {
        let mut e = errors(
            ChannelKind::Webhook,
            json!({
                "url": "https://example.com/h",
                "secret": "short",
                "headers": {"Content-Type": "text/plain", "host": "evil", "X-Signature": "x", "bad name": "v", "X-Num": 1},
            }),
        );
        e.sort();
        assert_eq!(
            e,
            vec![
                "config.headers.Content-Type: is set by the sender and may not be overridden",
                "config.headers.X-Num: must be a string",
                "config.headers.X-Signature: is set by the sender and may not be overridden",
                "config.headers.bad name: is not a valid header name",
                "config.headers.host: is set by the sender and may not be overridden",
                "config.secret: must be at least 16 characters",
            ]
        );
        assert_eq!(
            errors(
                ChannelKind::Webhook,
                json!({"url": "https://e.x/", "headers": []})
            ),
            vec!["config.headers: must be an object of header name to string value"]
        );
    }

    #[test]
    fn dingtalk_secret_must_be_a_signing_secret() {
        assert_eq!(
            errors(
                ChannelKind::DingTalk,
                json!({"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret": "abc"})
            ),
            vec!["config.secret: must be the robot's signing secret, which starts with SEC"]
        );
    }

    #[test]
    fn masking_shows_at_most_the_last_four_characters_of_long_secrets() {
        let c = json!({
            "webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=abcd1234",
            "secret": "SECshort",
            "max_per_minute": 5,
        });
        let m = mask(ChannelKind::DingTalk, &c);
        assert_eq!(m["webhook_url"], "****1234");
        assert_eq!(m["secret"], "****");
        assert_eq!(m["max_per_minute"], 5);

        let w = json!({"url": "https://e.x/hook", "secret": "0123456789abcdef", "headers": {"Authorization": "Bearer 0123456789", "X": "v"}});
        let m = mask(ChannelKind::Webhook, &w);
        assert_eq!(m["url"], "https://e.x/hook");
        assert_eq!(m["secret"], "****cdef");
        assert_eq!(m["headers"]["Authorization"], "****6789");
        assert_eq!(m["headers"]["X"], "****");

        let e = json!({"smtp_host": "h", "smtp_password": "pässwörd-long-ü"});
        assert_eq!(mask(ChannelKind::Email, &e)["smtp_password"], "****ng-ü");
        assert_eq!(mask(ChannelKind::Email, &json!("x")), json!("x"));
    }

    #[test]
    fn merge_keeps_stored_secrets_for_masked_values() {
        let stored = json!({"url": "https://e.x/hook", "secret": "0123456789abcdef", "headers": {"Authorization": "Bearer 0123456789"}});
        let masked = mask(ChannelKind::Webhook, &stored);
        let mut edited = masked.clone();
        edited["url"] = json!("https://e.x/new");
        let merged = merge_masked(ChannelKind::Webhook, edited, &stored);
        assert_eq!(merged["secret"], "0123456789abcdef");
        assert_eq!(merged["headers"]["Authorization"], "Bearer 0123456789");
        assert_eq!(merged["url"], "https://e.x/new");
        assert!(validate(ChannelKind::Webhook, &merged).is_empty());

        // A retyped secret wins; header names match case-insensitively.
        let new = json!({"url": "https://e.x/hook", "secret": "fedcba9876543210", "headers": {"authorization": "****6789"}});
        let merged = merge_masked(ChannelKind::Webhook, new, &stored);
        assert_eq!(merged["secret"], "fedcba9876543210");
        assert_eq!(merged["headers"]["authorization"], "Bearer 0123456789");

        // Nothing stored: the masked value stays and is refused.
        let merged = merge_masked(
            ChannelKind::Slack,
            json!({"webhook_url": "****abcd"}),
            &json!({}),
        );
        assert_eq!(
            validate(ChannelKind::Slack, &merged),
            vec!["config.webhook_url: is still masked and no stored secret exists; enter the secret again"]
        );
    }

    #[test]
    fn secrets_lists_raw_secret_values() {
        let c =
            json!({"url": "https://e.x/h", "secret": "0123456789abcdef", "headers": {"A": "b"}});
        let mut s = secrets(ChannelKind::Webhook, &c);
        s.sort();
        assert_eq!(s, vec!["0123456789abcdef", "b"]);
        assert!(secrets(ChannelKind::Email, &email()).is_empty());
    }

    #[test]
    fn scrubbing_removes_secrets_and_url_tokens() {
        let c = json!({"webhook_url": "https://hooks.slack.com/services/T0123ABCDE/B0123ABCDE/abcdefghijklmnopqrstuvwx"});
        let e = SendError::transient(
            "failed https://hooks.slack.com/services/T0123ABCDE/B0123ABCDE/abcdefghijklmnopqrstuvwx and abcdefghijklmnopqrstuvwx",
        )
        .scrubbed(&scrub_list(ChannelKind::Slack, &c));
        assert_eq!(e.message, "failed **** and ****");
        let d = json!({"webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef"});
        let e = SendError::transient("token 0123456789abcdef")
            .scrubbed(&scrub_list(ChannelKind::DingTalk, &d));
        assert_eq!(e.message, "token ****");
    }

    #[actix_web::test]
    async fn invalid_configs_fail_permanently_without_sending() {
        let msg = Message {
            kind: crate::notify::message::MessageKind::Test,
            severity: crate::notify::message::Severity::Info,
            title: "t".into(),
            summary: String::new(),
            cluster_id: String::new(),
            rule: String::new(),
            alerts: vec![],
            omitted: 0,
            at: chrono::Utc::now(),
        };
        let e = Sender::new()
            .send(ChannelKind::Slack, &json!({}), &msg)
            .await
            .unwrap_err();
        assert!(e.permanent);
        assert_eq!(
            e.message,
            "invalid slack config: config.webhook_url: is required"
        );
    }
}
