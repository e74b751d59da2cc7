//! Who is calling, and what they may do.
//!
//! - [`Role`]: `viewer < operator < admin`.
//! - [`Principal`]: the authenticated caller, put into the request extensions by the
//!   [`extract::Auth`] extractor, where the audit middleware finds it.
//! - Secrets (session tokens, API keys, agent tokens) are 256 random bits; only their
//!   SHA-256 is stored. Passwords are hashed with argon2id.

pub mod access;
pub mod extract;
pub mod password;

use actix_web::HttpRequest;
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A role. Checks are "at least".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything but secrets.
    Viewer = 1,
    /// Also runs commands and reads secrets.
    Operator = 2,
    /// Also manages users, clusters, tokens and settings.
    Admin = 3,
}

impl Role {
    /// The stored number (v2.1's numbering).
    pub fn as_i32(self) -> i32 {
        self as i32
    }
    /// From the stored number.
    pub fn from_i32(n: i32) -> Option<Role> {
        [Role::Viewer, Role::Operator, Role::Admin]
            .into_iter()
            .find(|r| r.as_i32() == n)
    }
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
    /// From the API name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    /// What this role may do, so a UI can hide controls (`GET /api/v2/auth/me`).
    pub fn permissions(self) -> Vec<&'static str> {
        let mut p = vec![
            "clusters:read",
            "resources:read",
            "commands:read",
            "events:read",
            "metrics:read",
            "alerts:read",
            "tokens:own",
        ];
        if self >= Role::Operator {
            p.extend([
                "commands:create",
                "commands:cancel",
                "secrets:read",
                "command_output:secret",
                "silences:manage",
            ]);
        }
        if self >= Role::Admin {
            p.extend([
                "users:manage",
                "clusters:manage",
                "agent_tokens:manage",
                "audit:read",
                "security:manage",
                "settings:manage",
                "alert_rules:manage",
                "notify:manage",
            ]);
        }
        p
    }
}

impl TryFrom<i32> for Role {
    type Error = UnknownNumber;
    /// Parses a stored role once, where rows are read (the column is an integer).
    fn try_from(n: i32) -> Result<Role, UnknownNumber> {
        Role::from_i32(n).ok_or(UnknownNumber { what: "role", n })
    }
}

/// Whether a user may sign in. Stored as `users.status`: 1 active, 0 disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Signs in; their tokens work.
    Active = 1,
    /// Refused at login and on every token.
    Disabled = 0,
}

impl UserStatus {
    /// The stored number.
    pub fn as_i32(self) -> i32 {
        self as i32
    }
    /// From the stored number.
    pub fn from_i32(n: i32) -> Option<UserStatus> {
        [UserStatus::Active, UserStatus::Disabled]
            .into_iter()
            .find(|s| s.as_i32() == n)
    }
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
    /// From the API name.
    pub fn parse(s: &str) -> Option<UserStatus> {
        [UserStatus::Active, UserStatus::Disabled]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl TryFrom<i32> for UserStatus {
    type Error = UnknownNumber;
    /// Parses a stored status once, where rows are read.
    fn try_from(n: i32) -> Result<UserStatus, UnknownNumber> {
        UserStatus::from_i32(n).ok_or(UnknownNumber {
            what: "user status",
            n,
        })
    }
}

/// How the caller authenticated. Stored as `tokens.kind`: 1 session, 2 API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A login session.
    Session = 1,
    /// An API key.
    ApiKey = 2,
}

impl TokenKind {
    /// The stored number.
    pub fn as_i32(self) -> i32 {
        self as i32
    }
    /// From the stored number.
    pub fn from_i32(n: i32) -> Option<TokenKind> {
        [TokenKind::Session, TokenKind::ApiKey]
            .into_iter()
            .find(|k| k.as_i32() == n)
    }
}

impl TryFrom<i32> for TokenKind {
    type Error = UnknownNumber;
    /// Parses a stored token kind once, where rows are read.
    fn try_from(n: i32) -> Result<TokenKind, UnknownNumber> {
        TokenKind::from_i32(n).ok_or(UnknownNumber {
            what: "token kind",
            n,
        })
    }
}

/// A stored number that names no role, status or kind (a corrupt row: the migrations'
/// `CHECK`s keep them out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} number {n}")]
pub struct UnknownNumber {
    /// What was being read.
    pub what: &'static str,
    /// The number found.
    pub n: i32,
}

/// The authenticated caller of a dashboard request.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    /// The user.
    pub user_id: i32,
    /// Their name.
    pub username: String,
    /// The effective role: the lower of the token's and the user's.
    pub role: Role,
    /// The token used.
    pub token_id: i32,
    /// Its kind.
    pub token_kind: TokenKind,
}

/// Per-cluster agent token hashes, held in memory so that agent requests never wait on
/// the database; every change is written to `agent_tokens` first.
#[derive(Clone, Default)]
pub struct AgentTokens {
    by_hash: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, String>>>,
}

impl AgentTokens {
    /// From `(cluster, hash)` pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let t = Self::default();
        for (cluster, hash) in pairs {
            t.set(&cluster, hash);
        }
        t
    }
    /// Replaces every token with what the database holds (replicas refresh from it).
    pub fn replace(&self, pairs: Vec<(String, String)>) {
        let fresh = Self::from_pairs(pairs);
        let map = std::mem::take(&mut *fresh.by_hash.write().unwrap_or_else(|e| e.into_inner()));
        *self.by_hash.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// The cluster whose token hashes to `hash`.
    pub fn cluster_of(&self, hash: &str) -> Option<String> {
        self.by_hash
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .cloned()
    }
    /// Makes `hash` the cluster's only token (rotation revokes the old one at once).
    pub fn set(&self, cluster: &str, hash: String) {
        let mut m = self.by_hash.write().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, c| c != cluster);
        m.insert(hash, cluster.to_owned());
    }
    /// Revokes the cluster's token.
    pub fn remove(&self, cluster: &str) {
        self.by_hash
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, c| c != cluster);
    }
}

/// Longest accepted user name.
pub const MAX_USERNAME: usize = 64;

/// Checks a user name: 1–64 characters, letters (any script), digits, `._@-`. The error
/// says what is accepted.
pub fn check_username(name: &str) -> Result<(), &'static str> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_USERNAME
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err("1-64 letters, digits or . _ @ -")
    }
}

/// The bearer token of `Authorization: Bearer <token>`, if any.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let v = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The caller's IP, as audit rows and security events record it: the connection's peer
/// (proxies' headers are not trusted by default).
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

/// A fresh secret: `prefix` + 256 random bits, base64url. `Err` only if the OS RNG fails.
pub fn new_secret(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// What is stored for a secret: its SHA-256, hex. Secrets are high-entropy, so a fast
/// hash is enough; lookups by hash make the comparison independent of the secret.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn roles_order_and_round_trip() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::from_i32(r.as_i32()), Some(r));
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::from_i32(0), None);
        assert!(Role::try_from(7).is_err());
        for s in [UserStatus::Active, UserStatus::Disabled] {
            assert_eq!(UserStatus::try_from(s.as_i32()), Ok(s));
            assert_eq!(UserStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(UserStatus::Active.as_i32(), 1);
        assert_eq!(UserStatus::Disabled.as_i32(), 0);
        assert!(UserStatus::try_from(2).is_err());
        for k in [TokenKind::Session, TokenKind::ApiKey] {
            assert_eq!(TokenKind::try_from(k.as_i32()), Ok(k));
        }
        assert!(TokenKind::try_from(0).is_err());
        assert!(Role::Admin.permissions().len() > Role::Viewer.permissions().len());
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, b) = (new_secret("ath_").unwrap(), new_secret("ath_").unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("ath_") && a.len() > 40);
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), secret_hash(&b));
    }
}
