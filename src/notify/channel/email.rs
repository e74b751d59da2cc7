//! Email over SMTP with lettre: one connection per message (alerts are rare enough that a
//! pool would mostly hold idle sockets), `multipart/alternative` with a text and an HTML
//! part, the subject MIME-encoded when it is not ASCII, `Date` and `Message-ID` set.
//!
//! `smtp_tls`:
//! - `"starttls"` (default): plain connect, then STARTTLS is required;
//! - `"tls"`: implicit TLS from the first byte (port 465);
//! - `"opportunistic"`: STARTTLS when the server offers it, else plain;
//! - `"none"`: plain only, for a relay on localhost or a trusted network.
//!
//! AtlHyper v2.1 stored a bool: `true` reads as `"tls"` on port 465 and `"starttls"`
//! elsewhere, `false` as `"opportunistic"` (Go's `smtp.SendMail` upgrades when offered).
//! Without `smtp_port`, the port is 465 for `"tls"` and 587 otherwise.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};
use serde_json::Value;

use super::fields::Fields;
use super::{SendError, TIMEOUT};
use crate::notify::message::Message;
use crate::notify::render;

/// Secret fields.
pub(super) const SECRETS: &[&str] = &["smtp_password"];
/// The submission port (RFC 6409), the default for STARTTLS.
const SUBMISSION_PORT: u16 = 587;
/// The implicit-TLS submission port (RFC 8314).
const SUBMISSIONS_PORT: u16 = 465;
/// A whole SMTP conversation, on top of lettre's per-operation timeout: a server that
/// trickles replies must not hold a delivery worker for long.
const CONVERSATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The right-hand side of generated Message-IDs.
const MESSAGE_ID_DOMAIN: &str = "atlhyper-master";

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TlsMode {
    Starttls,
    Tls,
    None,
    Opportunistic,
}

impl TlsMode {
    fn as_str(self) -> &'static str {
        match self {
            TlsMode::Starttls => "starttls",
            TlsMode::Tls => "tls",
            TlsMode::None => "none",
            TlsMode::Opportunistic => "opportunistic",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            TlsMode::Starttls,
            TlsMode::Tls,
            TlsMode::None,
            TlsMode::Opportunistic,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// A valid email config.
pub(super) struct Config {
    host: String,
    port: u16,
    tls: TlsMode,
    credentials: Option<(String, String)>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

pub(super) fn parse(f: &mut Fields<'_>) -> Option<Config> {
    let host = f.req_str("smtp_host");
    if host.is_some_and(|h| h.contains(['/', ' ', '\t']) || h.contains("://")) {
        f.error("smtp_host", "must be a host name or IP address");
    }
    let port = f
        .opt_int("smtp_port", 1, u64::from(u16::MAX))
        .and_then(|p| u16::try_from(p).ok());
    let tls = match f.get("smtp_tls") {
        None => Some(TlsMode::Starttls),
        Some(Value::Bool(true)) if port == Some(SUBMISSIONS_PORT) => Some(TlsMode::Tls),
        Some(Value::Bool(true)) => Some(TlsMode::Starttls),
        Some(Value::Bool(false)) => Some(TlsMode::Opportunistic),
        Some(Value::String(s)) if TlsMode::parse(s).is_some() => TlsMode::parse(s),
        Some(_) => {
            f.error(
                "smtp_tls",
                "must be \"starttls\", \"tls\", \"none\" or \"opportunistic\"",
            );
            None
        }
    };
    let user = f.opt_str("smtp_user");
    let password = f.opt_secret("smtp_password");
    match (user, password) {
        (Some(_), None) if !f.has_error_for("smtp_password") => {
            f.error("smtp_password", "is required when smtp_user is set");
        }
        (None, Some(_)) => f.error("smtp_user", "is required when smtp_password is set"),
        _ => {}
    }
    let from = f
        .req_str("from_address")
        .and_then(|s| match s.parse::<Mailbox>() {
            Ok(m) => Some(m),
            Err(_) => {
                f.error("from_address", "must be a valid email address");
                None
            }
        });
    let to = parse_recipients(f);

    // Any error recorded above makes the whole config invalid; what is built here is
    // only used when there is none.
    let tls = tls?;
    Some(Config {
        host: host?.to_owned(),
        port: port.unwrap_or(if tls == TlsMode::Tls {
            SUBMISSIONS_PORT
        } else {
            SUBMISSION_PORT
        }),
        tls,
        credentials: user
            .zip(password)
            .map(|(u, p)| (u.to_owned(), p.to_owned())),
        from: from?,
        to: to?,
    })
}

fn parse_recipients(f: &mut Fields<'_>) -> Option<Vec<Mailbox>> {
    let Some(value) = f.get("to_addresses") else {
        f.error("to_addresses", "is required");
        return None;
    };
    let Value::Array(items) = value else {
        f.error("to_addresses", "must be an array of email addresses");
        return None;
    };
    if items.is_empty() {
        f.error("to_addresses", "must list at least one address");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(str::parse::<Mailbox>) {
            Some(Ok(m)) => out.push(m),
            _ => f.error(
                &format!("to_addresses[{i}]"),
                "must be a valid email address",
            ),
        }
    }
    (out.len() == items.len()).then_some(out)
}

#[cfg(test)]
impl Config {
    pub(super) fn tls_mode(&self) -> &'static str {
        self.tls.as_str()
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }
}

/// The email for `msg`.
fn build(cfg: &Config, msg: &Message) -> Result<lettre::Message, SendError> {
    let mut builder = lettre::Message::builder()
        .from(cfg.from.clone())
        // Header injection is impossible (lettre encodes), but a folded subject reads badly.
        .subject(msg.title.replace(['\r', '\n'], " "))
        .date_now()
        .message_id(Some(format!(
            "<{}@{MESSAGE_ID_DOMAIN}>",
            uuid::Uuid::new_v4()
        )));
    for to in &cfg.to {
        builder = builder.to(to.clone());
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            render::text(msg),
            render::html(msg),
        ))
        .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))
}

fn transport(cfg: &Config) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let tls_error = |e: lettre::transport::smtp::Error| {
        SendError::permanent(format!("cannot set up TLS for {}: {e}", cfg.host))
    };
    let builder = match cfg.tls {
        TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
        TlsMode::Opportunistic => {
            let params = TlsParameters::new(cfg.host.clone()).map_err(tls_error)?;
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
                .tls(Tls::Opportunistic(params))
        }
        TlsMode::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host).map_err(tls_error)?
        }
        TlsMode::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host).map_err(tls_error)?
        }
    };
    let mut builder = builder.port(cfg.port).timeout(Some(TIMEOUT));
    if let Some((user, password)) = &cfg.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

/// Classifies a lettre error: 5xx replies are permanent, and so are client-side refusals
/// (no STARTTLS offered when it is required, no common AUTH mechanism), which the same
/// configuration would meet again; network trouble, TLS handshakes and 4xx are transient.
fn classify(cfg: &Config, e: &lettre::transport::smtp::Error) -> SendError {
    let target = format!("SMTP {}:{} ({})", cfg.host, cfg.port, cfg.tls.as_str());
    let text = e.to_string();
    if cfg.tls == TlsMode::Starttls && e.is_client() && text.contains("STARTTLS") {
        return SendError::permanent(format!(
            "{target}: the server does not offer STARTTLS, which smtp_tls \"starttls\" \
             requires; use \"tls\" for implicit TLS, or \"none\"/\"opportunistic\" only for \
             a trusted relay"
        ));
    }
    let message = format!("{target}: {text}");
    if e.is_permanent() || e.is_client() {
        SendError::permanent(message)
    } else if e.is_timeout() {
        SendError::transient(format!("{target}: timed out"))
    } else {
        SendError::transient(message)
    }
}

pub(super) async fn send(cfg: &Config, msg: &Message) -> Result<(), SendError> {
    let email = build(cfg, msg)?;
    let transport = transport(cfg)?;
    match tokio::time::timeout(CONVERSATION_TIMEOUT, transport.send(email)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(classify(cfg, &e)),
        Err(_) => Err(SendError::transient(format!(
            "SMTP {}:{}: no answer within {} s",
            cfg.host,
            cfg.port,
            CONVERSATION_TIMEOUT.as_secs()
        ))),
    }
}
