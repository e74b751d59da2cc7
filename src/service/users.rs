//! Users, sessions and API keys: the rules.
//!
//! - **Login** verifies the password even for an unknown name (against a dummy hash), so
//!   timing does not tell which names exist; a disabled user is refused like a wrong
//!   password; 5 failures per (name, IP) lock the pair (see [`Limits`]). A success opens a
//!   session token that expires after the configured TTL and records the login.
//! - **A bearer token** works while it is known, not revoked, not expired and its user is
//!   active; it acts with the lower of its own role and its user's.
//! - **The master never runs out of admins**: the last active admin cannot be disabled,
//!   demoted or deleted. The check runs inside the storage layer's serialized transaction
//!   (see [`crate::db::users::update_guarded`]), so concurrent writers cannot both pass it.
//! - **Nobody locks themselves out**: an admin cannot disable, demote or delete themselves.
//! - Disabling a user or setting a new password revokes every token of the user at once.
//! - **API keys** never exceed their creator's role; a token is revoked by its owner or an
//!   admin, and anyone else's token looks like no token.
//!
//! Functions take the narrow pieces they need (the [`Db`], the login [`Limits`]) and
//! return [`UserError`] (or [`LoginError`], [`AuthError`]), which the handlers map to
//! replies.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::auth::{
    check_username, new_secret, password, secret_hash, Principal, Role, TokenKind, UserStatus,
};
use crate::db::users::{self as repo, Guarded, NewToken, TokenRow, UserChanges, UserRow};
use crate::db::{from_db, Db, DbError};
use crate::ratelimit::Limits;

/// Prefix of session tokens, so that a leaked one is recognisable.
const SESSION_PREFIX: &str = "ats_";
/// Prefix of API keys, so that a leaked one is recognisable.
const API_KEY_PREFIX: &str = "atk_";

/// Longest shown name, in characters: any real name fits; bounded for tables and UIs.
pub const MAX_DISPLAY_NAME: usize = 128;
/// Longest e-mail address, in characters (RFC 5321's limit on a path).
pub const MAX_EMAIL: usize = 254;
/// Longest API key name, in characters: a label, not a document.
pub const MAX_TOKEN_NAME: usize = 128;

/// Session lifetime when the configured TTL does not fit a date (absurdly large).
const FALLBACK_TTL_HOURS: i64 = 24;

/// Why a users, tokens or API key operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A field breaks its rule.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What it must be.
        why: String,
    },
    /// The name is taken.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// An admin tried to disable or demote themselves.
    #[error("you cannot disable or demote yourself")]
    SelfLockout,
    /// An admin tried to delete themselves.
    #[error("you cannot delete yourself")]
    SelfDelete,
    /// The change would disable or demote the last active admin.
    #[error("the last active admin cannot be disabled or demoted")]
    LastAdmin,
    /// The last active admin would be deleted.
    #[error("the last active admin cannot be deleted")]
    LastAdminDelete,
    /// No such token, or someone else's.
    #[error("no such token")]
    TokenNotFound,
    /// An API key above its creator's role (the creator's role is given).
    #[error("an API key cannot exceed your own role ({})", .0.as_str())]
    RoleTooHigh(Role),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Hashing, the random generator or the blocking pool failed.
    #[error("{0}")]
    Internal(String),
}

/// Why a login did not open a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The (name, IP) pair is locked for this long.
    #[error("too many failed logins")]
    Locked(Duration),
    /// Wrong name or password, or a disabled user (the caller is never told which).
    #[error("invalid username or password")]
    Refused {
        /// The user, when the name exists.
        user_id: Option<i32>,
        /// This failure locked the pair.
        locked: bool,
    },
    /// Something failed on the way.
    #[error(transparent)]
    Failed(#[from] UserError),
}

impl From<DbError> for LoginError {
    fn from(e: DbError) -> Self {
        LoginError::Failed(e.into())
    }
}

/// Why a bearer token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No token has this hash.
    Unknown,
    /// Revoked (logout, a new password, a disabled user, or by hand).
    Revoked,
    /// Past its expiry.
    Expired,
    /// Its user is disabled.
    UserDisabled,
}

impl TokenRefusal {
    /// The reason recorded in the security event.
    pub fn reason(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "unknown token",
            TokenRefusal::Revoked => "revoked",
            TokenRefusal::Expired => "expired",
            TokenRefusal::UserDisabled => "user disabled",
        }
    }
}

/// Why a bearer token did not authenticate.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token does not work.
    #[error("token refused: {}", .0.reason())]
    Refused(TokenRefusal),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Runs CPU-heavy work (argon2) on the blocking pool.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, UserError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| UserError::Internal(format!("blocking task: {e}")))
}

async fn hash_password(pw: String) -> Result<String, UserError> {
    blocking(move || password::hash(&pw))
        .await?
        .map_err(|e| UserError::Internal(format!("hashing a password: {e}")))
}

fn secret(prefix: &str) -> Result<String, UserError> {
    new_secret(prefix).map_err(|e| UserError::Internal(format!("random generator: {e}")))
}

fn invalid(field: &'static str, why: impl Into<String>) -> UserError {
    UserError::Invalid {
        field,
        why: why.into(),
    }
}

fn check_name(username: &str) -> Result<(), UserError> {
    check_username(username).map_err(|why| invalid("username", why))
}

fn check_password(pw: &str) -> Result<(), UserError> {
    password::check_policy(pw).map_err(|why| invalid("password", why))
}

fn check_profile(display_name: Option<&str>, email: Option<&str>) -> Result<(), UserError> {
    if display_name.is_some_and(|n| n.chars().count() > MAX_DISPLAY_NAME) {
        return Err(invalid(
            "display_name",
            format!("at most {MAX_DISPLAY_NAME} characters"),
        ));
    }
    if email.is_some_and(|e| e.chars().count() > MAX_EMAIL) {
        return Err(invalid("email", format!("at most {MAX_EMAIL} characters")));
    }
    Ok(())
}

/// The last-admin rule: a change that leaves user `before` as `after` (`None`: deleted)
/// is allowed unless `before` is an active admin, `after` is not, and `before` is the
/// only one of `active_admins`.
fn keeps_an_admin(before: &UserRow, after: Option<(Role, UserStatus)>, active_admins: i64) -> bool {
    let stays =
        after.is_some_and(|(role, status)| role == Role::Admin && status == UserStatus::Active);
    !before.is_active_admin() || stays || active_admins > 1
}

/// A login attempt.
pub struct LoginAttempt {
    /// The name given.
    pub username: String,
    /// The password given.
    pub password: String,
    /// The caller's IP (the lockout is per name and IP).
    pub ip: String,
}

/// An opened session.
#[derive(Debug)]
pub struct Session {
    /// The session token (the only time it is seen).
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Who signed in.
    pub user: UserRow,
}

/// Signs a user in: a session token valid for `ttl` (see the module header for the
/// rules).
pub async fn login(
    db: &Db,
    limits: &Limits,
    ttl: Duration,
    attempt: LoginAttempt,
) -> Result<Session, LoginError> {
    let LoginAttempt {
        username,
        password: given,
        ip,
    } = attempt;
    if let Some(left) = limits.login_locked(&username, &ip).await {
        return Err(LoginError::Locked(left));
    }
    let user = db.users().by_name(&username).await?;
    let phc = user.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    // Verify even for an unknown user, so timing does not reveal which names exist.
    let matches = blocking(move || password::verify(&given, &phc)).await?;
    let user = match user {
        Some(u) if matches && u.status == UserStatus::Active => u,
        other => {
            let locked = limits.login_failed(&username, &ip).await;
            return Err(LoginError::Refused {
                user_id: other.map(|u| u.id),
                locked,
            });
        }
    };
    limits.login_succeeded(&username, &ip).await;
    let token = secret(SESSION_PREFIX)?;
    let now = Utc::now();
    let expires_at = now
        + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(FALLBACK_TTL_HOURS));
    let session = NewToken {
        user_id: user.id,
        hash: secret_hash(&token),
        name: "session".into(),
        kind: TokenKind::Session,
        role: user.role,
        expires_at: Some(expires_at),
    };
    db.users().open_session(session, ip, now).await?;
    Ok(Session {
        token,
        expires_at,
        user,
    })
}

/// The caller a bearer token stands for at `now`.
pub async fn authenticate(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Principal, AuthError> {
    let (t, u) = db
        .users()
        .lookup(&secret_hash(token))
        .await?
        .ok_or(AuthError::Refused(TokenRefusal::Unknown))?;
    principal_of(t, u, now).map_err(AuthError::Refused)
}

/// Whether a stored token (and its user) works at `now`, and as whom.
fn principal_of(t: TokenRow, u: UserRow, now: DateTime<Utc>) -> Result<Principal, TokenRefusal> {
    if t.revoked_at.is_some() {
        return Err(TokenRefusal::Revoked);
    }
    if t.expires_at.is_some_and(|e| from_db(e) <= now) {
        return Err(TokenRefusal::Expired);
    }
    if u.status != UserStatus::Active {
        return Err(TokenRefusal::UserDisabled);
    }
    Ok(Principal {
        user_id: u.id,
        username: u.username,
        role: t.role.min(u.role),
        token_id: t.id,
        token_kind: t.kind,
    })
}

/// Revokes the token the caller used.
pub async fn logout(db: &Db, caller: &Principal) -> Result<(), UserError> {
    Ok(db.users().revoke_token(caller.token_id, Utc::now()).await?)
}

/// The caller's own user row; [`UserError::NotFound`] once it is deleted.
pub async fn current_user(db: &Db, caller: &Principal) -> Result<UserRow, UserError> {
    db.users()
        .by_id(caller.user_id)
        .await?
        .ok_or(UserError::NotFound)
}

/// Every user, by id.
pub async fn list_users(db: &Db) -> Result<Vec<UserRow>, UserError> {
    Ok(db.users().list().await?)
}

/// A user to create.
pub struct NewUser {
    /// 1–64 letters, digits or `._@-`.
    pub username: String,
    /// The password (policy: [`password::check_policy`]).
    pub password: String,
    /// At most [`MAX_DISPLAY_NAME`] characters.
    pub display_name: String,
    /// At most [`MAX_EMAIL`] characters.
    pub email: String,
    /// Role.
    pub role: Role,
}

/// Creates an active user; [`UserError::Exists`] when the name is taken.
pub async fn create_user(db: &Db, new: NewUser) -> Result<UserRow, UserError> {
    check_name(&new.username)?;
    check_password(&new.password)?;
    check_profile(Some(&new.display_name), Some(&new.email))?;
    let row = repo::NewUser {
        password_hash: hash_password(new.password).await?,
        username: new.username,
        display_name: new.display_name,
        email: new.email,
        role: new.role,
    };
    let name = row.username.clone();
    db.users()
        .create(row, Utc::now())
        .await?
        .ok_or(UserError::Exists(name))
}

/// Changes to a user (`None`: unchanged).
#[derive(Default)]
pub struct UserUpdate {
    /// New role.
    pub role: Option<Role>,
    /// New status.
    pub status: Option<UserStatus>,
    /// New password (policy: [`password::check_policy`]).
    pub password: Option<String>,
    /// New shown name.
    pub display_name: Option<String>,
    /// New contact address.
    pub email: Option<String>,
}

/// Changes user `id` on behalf of admin `actor`: nobody disables or demotes themselves,
/// the last active admin stays one, and disabling or a new password revokes the user's
/// tokens.
pub async fn update_user(
    db: &Db,
    actor: &Principal,
    id: i32,
    up: UserUpdate,
) -> Result<UserRow, UserError> {
    if let Some(pw) = &up.password {
        check_password(pw)?;
    }
    check_profile(up.display_name.as_deref(), up.email.as_deref())?;
    let disables = up.status == Some(UserStatus::Disabled);
    if id == actor.user_id && (disables || up.role.is_some_and(|r| r < Role::Admin)) {
        return Err(UserError::SelfLockout);
    }
    let password_hash = match up.password {
        Some(pw) => Some(hash_password(pw).await?),
        None => None,
    };
    let revoke_tokens = disables || password_hash.is_some();
    let changes = UserChanges {
        role: up.role,
        status: up.status,
        password_hash,
        display_name: up.display_name,
        email: up.email,
    };
    let (role, status) = (changes.role, changes.status);
    let rule = move |before: &UserRow, active_admins: i64| {
        let after = (role.unwrap_or(before.role), status.unwrap_or(before.status));
        if keeps_an_admin(before, Some(after), active_admins) {
            Ok(())
        } else {
            Err(UserError::LastAdmin)
        }
    };
    match db
        .users()
        .update_guarded(id, changes, revoke_tokens, Utc::now(), rule)
        .await?
    {
        Guarded::Done(user) => Ok(user),
        Guarded::NotFound => Err(UserError::NotFound),
        Guarded::Refused(why) => Err(why),
    }
}

/// Deletes user `id` and their tokens on behalf of admin `actor`: not oneself, not the
/// last active admin.
pub async fn delete_user(db: &Db, actor: &Principal, id: i32) -> Result<(), UserError> {
    if id == actor.user_id {
        return Err(UserError::SelfDelete);
    }
    let rule = |before: &UserRow, active_admins: i64| {
        if keeps_an_admin(before, None, active_admins) {
            Ok(())
        } else {
            Err(UserError::LastAdminDelete)
        }
    };
    match db.users().delete_guarded(id, Utc::now(), rule).await? {
        Guarded::Done(()) => Ok(()),
        Guarded::NotFound => Err(UserError::NotFound),
        Guarded::Refused(why) => Err(why),
    }
}

/// What [`ensure_first_admin`] did.
#[derive(Debug)]
pub enum FirstStart {
    /// Users exist already: nothing done.
    UsersExist,
    /// The admin was created; with the password generated for it, when none was given.
    Created {
        /// To be shown once to the operator; stored only hashed.
        generated_password: Option<SecretString>,
    },
}

/// First start: when no user exists, creates admin `username` with `password`, or with a
/// generated password when none is given. Name and password are checked only then.
pub async fn ensure_first_admin(
    db: &Db,
    username: &str,
    password: Option<&str>,
) -> Result<FirstStart, UserError> {
    if db.users().count().await? > 0 {
        return Ok(FirstStart::UsersExist);
    }
    let (password, generated) = match password {
        Some(p) => (p.to_owned(), false),
        // 24 base64url characters: 144 random bits.
        None => (secret("")?.chars().take(24).collect::<String>(), true),
    };
    let new = NewUser {
        username: username.to_owned(),
        password: password.clone(),
        display_name: "Administrator".into(),
        email: String::new(),
        role: Role::Admin,
    };
    match create_user(db, new).await {
        Ok(_) => Ok(FirstStart::Created {
            generated_password: generated.then(|| SecretString::from(password)),
        }),
        // Another master on the same database created it first.
        Err(UserError::Exists(_)) => Ok(FirstStart::UsersExist),
        Err(e) => Err(e),
    }
}

/// An API key to create.
pub struct NewApiKey {
    /// 1–[`MAX_TOKEN_NAME`] characters, no control characters (trimmed).
    pub name: String,
    /// Its role; the creator's when `None`. Never above the creator's.
    pub role: Option<Role>,
    /// When it stops working (in the future), or never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created API key.
#[derive(Debug)]
pub struct ApiKey {
    /// As stored.
    pub row: TokenRow,
    /// The secret: shown in this reply only, stored only hashed.
    pub secret: String,
}

/// Creates an API key for `owner`, with a role no higher than theirs.
pub async fn create_api_key(
    db: &Db,
    owner: &Principal,
    key: NewApiKey,
) -> Result<ApiKey, UserError> {
    let name = key.name.trim().to_owned();
    if name.is_empty()
        || name.chars().count() > MAX_TOKEN_NAME
        || name.chars().any(char::is_control)
    {
        return Err(invalid("name", format!("1-{MAX_TOKEN_NAME} characters")));
    }
    let role = key.role.unwrap_or(owner.role);
    if role > owner.role {
        return Err(UserError::RoleTooHigh(owner.role));
    }
    let now = Utc::now();
    if key.expires_at.is_some_and(|e| e <= now) {
        return Err(invalid("expires_at", "must be in the future"));
    }
    let secret = secret(API_KEY_PREFIX)?;
    let token = NewToken {
        user_id: owner.user_id,
        hash: secret_hash(&secret),
        name,
        kind: TokenKind::ApiKey,
        role,
        expires_at: key.expires_at,
    };
    let row = db.users().create_token(token, now).await?;
    Ok(ApiKey { row, secret })
}

/// The caller's API keys, newest first (never the secrets).
pub async fn list_api_keys(db: &Db, owner: &Principal) -> Result<Vec<TokenRow>, UserError> {
    Ok(db
        .users()
        .tokens_of(owner.user_id, TokenKind::ApiKey)
        .await?)
}

/// Revokes token `id`: its owner or an admin may; to anyone else it does not exist.
pub async fn revoke_token(db: &Db, caller: &Principal, id: i32) -> Result<(), UserError> {
    match db.users().token(id).await? {
        Some(t) if t.user_id == caller.user_id || caller.role == Role::Admin => {
            Ok(db.users().revoke_token(id, Utc::now()).await?)
        }
        // Someone else's token looks the same as no token: nothing to learn.
        _ => Err(UserError::TokenNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::to_db;

    fn user(role: Role, status: UserStatus) -> UserRow {
        let t = to_db(Utc::now());
        UserRow {
            id: 1,
            username: "u".into(),
            password_hash: String::new(),
            display_name: String::new(),
            email: String::new(),
            role,
            status,
            created_at: t,
            updated_at: t,
            last_login_at: None,
            last_login_ip: None,
        }
    }

    fn token(role: Role, kind: TokenKind) -> TokenRow {
        TokenRow {
            id: 9,
            user_id: 1,
            token_hash: String::new(),
            name: String::new(),
            kind,
            role,
            expires_at: None,
            last_used_at: None,
            created_at: to_db(Utc::now()),
            revoked_at: None,
        }
    }

    #[test]
    fn the_last_active_admin_stays_one() {
        use {Role::*, UserStatus::*};
        let admin = user(Admin, Active);
        // The only admin: neither demoted, disabled nor deleted.
        assert!(!keeps_an_admin(&admin, Some((Operator, Active)), 1));
        assert!(!keeps_an_admin(&admin, Some((Admin, Disabled)), 1));
        assert!(!keeps_an_admin(&admin, None, 1));
        // Still an active admin afterwards (a name change): fine.
        assert!(keeps_an_admin(&admin, Some((Admin, Active)), 1));
        // Another active admin remains: fine.
        assert!(keeps_an_admin(&admin, Some((Viewer, Disabled)), 2));
        assert!(keeps_an_admin(&admin, None, 2));
        // Not an active admin before: the count does not matter.
        assert!(keeps_an_admin(&user(Admin, Disabled), None, 1));
        assert!(keeps_an_admin(
            &user(Operator, Active),
            Some((Viewer, Active)),
            1
        ));
    }

    #[test]
    fn a_token_acts_with_the_lower_role_while_it_works() {
        let now = Utc::now();
        let p = principal_of(
            token(Role::Admin, TokenKind::ApiKey),
            user(Role::Operator, UserStatus::Active),
            now,
        )
        .map_err(|r| r.reason())
        .unwrap_or_else(|r| panic!("refused: {r}"));
        assert_eq!((p.role, p.token_kind), (Role::Operator, TokenKind::ApiKey));

        let mut revoked = token(Role::Viewer, TokenKind::Session);
        revoked.revoked_at = Some(to_db(now));
        let active = user(Role::Admin, UserStatus::Active);
        let refusal = |t, u| principal_of(t, u, now).err();
        assert_eq!(
            refusal(revoked, active.clone()),
            Some(TokenRefusal::Revoked)
        );
        let mut expired = token(Role::Viewer, TokenKind::Session);
        expired.expires_at = Some(to_db(now));
        assert_eq!(
            refusal(expired, active.clone()),
            Some(TokenRefusal::Expired)
        );
        assert_eq!(
            refusal(
                token(Role::Viewer, TokenKind::Session),
                user(Role::Admin, UserStatus::Disabled)
            ),
            Some(TokenRefusal::UserDisabled)
        );
    }

    #[test]
    fn profile_fields_are_bounded() {
        assert!(check_profile(Some(&"n".repeat(MAX_DISPLAY_NAME)), None).is_ok());
        assert!(matches!(
            check_profile(Some(&"n".repeat(MAX_DISPLAY_NAME + 1)), None),
            Err(UserError::Invalid {
                field: "display_name",
                ..
            })
        ));
        assert!(matches!(
            check_profile(None, Some(&"e".repeat(MAX_EMAIL + 1))),
            Err(UserError::Invalid { field: "email", .. })
        ));
    }
}
