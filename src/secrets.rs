//! Secrets at rest (notification channel passwords, webhook tokens, ...): AES-256-GCM.
//!
//! A stored value is `enc:v1:` followed by base64 (standard alphabet, padded) of
//! `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`, with a fresh random nonce for every
//! encryption. A value that does not decrypt (tampered, truncated, or encrypted under
//! another key) is an error and is never handed back as if it were the plaintext; AtlHyper
//! v2.1 did that, and so used ciphertext as a password.
//!
//! The key comes from `MASTER_SECRET_KEY` when it is set:
//! - a value that is base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`) is the key;
//! - any other value of at least 16 characters is a passphrase, and the key is its
//!   SHA-256 (no salt, no work factor: prefer a random key).
//!
//! Otherwise the key is the file `secret.key` beside the SQLite file (`db_path`). It is
//! created on first start with 32 random bytes, written as base64 (so it can be moved into
//! `MASTER_SECRET_KEY` as it is; 32 raw bytes are read too), mode 0600 from the moment it
//! exists; a key file that group or others may access is refused at startup.
//! Lose the key and every stored secret must be entered again.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::Settings;

/// Marks an encrypted value, and its format version so that the scheme can change later.
pub const PREFIX: &str = "enc:v1:";
/// The key file's name, in the directory of `db_path`.
pub const KEY_FILE: &str = "secret.key";
/// AES-256.
const KEY_LEN: usize = 32;
/// GCM's standard 96-bit nonce: random nonces of this size are safe for far more
/// encryptions than a master will ever make under one key.
const NONCE_LEN: usize = 12;
/// GCM's authentication tag.
const TAG_LEN: usize = 16;
/// A shorter passphrase is too easy to guess for a key that is only hashed once.
const MIN_PASSPHRASE_CHARS: usize = 16;

/// Why a secret could not be sealed, opened, or the key loaded. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Not of the form `enc:v1:<base64>`.
    #[error("not an encrypted value (expected \"enc:v1:\" and base64)")]
    Malformed,
    /// Authentication failed: the value was altered or was encrypted under another key.
    #[error("the value does not decrypt with this key (altered, or encrypted under another key)")]
    Decrypt,
    /// The cipher refused (cannot happen for inputs below GCM's size limit).
    #[error("encryption failed")]
    Encrypt,
    /// The operating system's random generator failed.
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
    /// `MASTER_SECRET_KEY` is neither a 32-byte base64 key nor a long enough passphrase.
    #[error(
        "MASTER_SECRET_KEY must be base64 of 32 bytes (e.g. `openssl rand -base64 32`) or a \
         passphrase of at least {MIN_PASSPHRASE_CHARS} characters"
    )]
    WeakKey,
    /// The key file could not be read or created.
    #[error("secret key file {}: {source}", .path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file may be read by group or others.
    #[error(
        "secret key file {} is accessible by group or others (mode {mode:03o}); \
         run `chmod 600 {}` (and check who could have read it) or set MASTER_SECRET_KEY",
        .path.display(), .path.display()
    )]
    KeyFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold 32 bytes of key.
    #[error(
        "secret key file {} does not hold a key (base64 of 32 bytes); if nothing was \
         encrypted with it yet, delete it and a new one is generated",
        .path.display()
    )]
    KeyFileContent {
        /// The file.
        path: PathBuf,
    },
}

/// Encrypts and decrypts secrets at rest. Cheap to share behind an `Arc`; its `Debug` does
/// not print the key.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox([REDACTED])")
    }
}

impl SecretBox {
    /// A box with this raw key.
    pub fn from_key(key: &[u8; KEY_LEN]) -> SecretBox {
        SecretBox {
            cipher: Aes256Gcm::new(&(*key).into()),
        }
    }

    /// The box the settings ask for: `MASTER_SECRET_KEY`, else the key file beside
    /// `db_path` (created on first start). Call it after the database directory exists.
    pub fn from_settings(settings: &Settings) -> Result<SecretBox, SecretError> {
        match &settings.secret_key {
            Some(key) => SecretBox::from_configured_key(key.expose_secret()),
            None => SecretBox::from_key_file(&key_file_path(&settings.db_path)),
        }
    }

    /// A key given in configuration: base64 of 32 bytes is the key itself; another value of
    /// at least 16 characters is a passphrase, stretched with SHA-256.
    pub fn from_configured_key(value: &str) -> Result<SecretBox, SecretError> {
        if let Some(key) = decode_key(value.trim().as_bytes()) {
            return Ok(SecretBox::from_key(&key));
        }
        if value.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(SecretError::WeakKey);
        }
        Ok(SecretBox::from_key(
            &Sha256::digest(value.as_bytes()).into(),
        ))
    }

    /// The key in `path`, created (mode 0600, 32 random bytes as base64) when absent. A file
    /// that group or others may access is refused.
    pub fn from_key_file(path: &Path) -> Result<SecretBox, SecretError> {
        let io = |source| SecretError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        // On PostgreSQL nothing else creates the directory of `db_path` the key sits in.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let mut key = [0u8; KEY_LEN];
                random(&mut key)?;
                let mut text = STANDARD.encode(key);
                text.push('\n');
                file.write_all(text.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                tracing::info!(path = %path.display(), "generated the secret key file");
                Ok(SecretBox::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
                    if mode & 0o077 != 0 {
                        return Err(SecretError::KeyFileMode {
                            path: path.to_path_buf(),
                            mode,
                        });
                    }
                }
                let bytes = std::fs::read(path).map_err(io)?;
                // Base64 as generated, or 32 raw bytes (`head -c 32 /dev/urandom`).
                let key = decode_key(bytes.trim_ascii())
                    .or_else(|| bytes.as_slice().try_into().ok())
                    .ok_or_else(|| SecretError::KeyFileContent {
                        path: path.to_path_buf(),
                    })?;
                Ok(SecretBox::from_key(&key))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// `enc:v1:` + base64(nonce ‖ ciphertext ‖ tag), with a fresh random nonce.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .map_err(|_| SecretError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// The plaintext of a value made by [`SecretBox::encrypt`] with the same key. Anything
    /// else is an error, never returned as it is.
    pub fn decrypt(&self, stored: &str) -> Result<String, SecretError> {
        let encoded = stored.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Malformed)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Malformed)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| SecretError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Decrypt)
    }

    /// Whether `stored` looks like a value made by [`SecretBox::encrypt`] (a migration from
    /// clear-text storage can tell what still needs encrypting).
    pub fn is_encrypted(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

/// What a masked secret starts with; a value starting with it is never a real secret.
pub const MASK: &str = "****";

/// Secrets shorter than this are masked completely: their last four characters would
/// give away too much of them.
const MIN_CHARS_TO_SHOW_TAIL: usize = 12;

/// A secret as replies show it: `****` and, for a secret of at least 12 characters, its
/// last 4 characters (enough to tell two keys apart, not to guess one).
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < MIN_CHARS_TO_SHOW_TAIL {
        return MASK.to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{MASK}{tail}")
}

/// `secret.key` in the directory of `db_path` (the working directory for a bare file name).
pub fn key_file_path(db_path: &Path) -> PathBuf {
    match db_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(KEY_FILE),
        _ => PathBuf::from(KEY_FILE),
    }
}

/// Base64 of exactly 32 bytes.
fn decode_key(text: &[u8]) -> Option<[u8; KEY_LEN]> {
    STANDARD
        .decode(text)
        .ok()
        .and_then(|raw| raw.try_into().ok())
}

fn random(buf: &mut [u8]) -> Result<(), SecretError> {
    getrandom::fill(buf).map_err(|e| SecretError::Random(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::collections::HashSet;

    use super::*;

    fn boxed() -> SecretBox {
        SecretBox::from_key(&[7u8; KEY_LEN])
    }

    #[test]
    fn round_trip() {
        let b = boxed();
        for plain in ["", "hunter2", "pässwörd ✓ with spaces", &"x".repeat(10_000)] {
            let sealed = b.encrypt(plain).unwrap();
            assert!(sealed.starts_with(PREFIX), "{sealed}");
            assert!(SecretBox::is_encrypted(&sealed));
            assert!(!sealed.contains(plain) || plain.is_empty());
            assert_eq!(b.decrypt(&sealed).unwrap(), plain);
        }
    }

    #[test]
    fn tampering_is_detected() {
        let b = boxed();
        let sealed = b.encrypt("smtp-password").unwrap();
        let mut raw = STANDARD.decode(&sealed[PREFIX.len()..]).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 0x01;
            let forged = format!("{PREFIX}{}", STANDARD.encode(&raw));
            assert!(
                matches!(b.decrypt(&forged), Err(SecretError::Decrypt)),
                "{i}"
            );
            raw[i] ^= 0x01;
        }
        // Truncated, foreign or clear-text values are errors too, never passed through.
        let truncated = format!("{PREFIX}{}", STANDARD.encode(&raw[..raw.len() - 1]));
        assert!(matches!(b.decrypt(&truncated), Err(SecretError::Decrypt)));
        for foreign in [
            "smtp-password",
            "enc:v1:",
            "enc:v1:!!!",
            "enc:v1:AAAA",
            "enc:v2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(
                matches!(b.decrypt(foreign), Err(SecretError::Malformed)),
                "{foreign}"
            );
        }
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = boxed().encrypt("webhook-token").unwrap();
        let other = SecretBox::from_key(&[8u8; KEY_LEN]);
        assert!(matches!(other.decrypt(&sealed), Err(SecretError::Decrypt)));
    }

    #[test]
    fn nonces_are_unique() {
        let b = boxed();
        let nonces: HashSet<Vec<u8>> = (0..1000)
            .map(|_| {
                let sealed = b.encrypt("same plaintext").unwrap();
                STANDARD.decode(&sealed[PREFIX.len()..]).unwrap()[..NONCE_LEN].to_vec()
            })
            .collect();
        assert_eq!(nonces.len(), 1000);
    }

    #[test]
    fn configured_keys() {
        let raw = [42u8; KEY_LEN];
        let from_b64 = SecretBox::from_configured_key(&STANDARD.encode(raw)).unwrap();
        let sealed = SecretBox::from_key(&raw).encrypt("x").unwrap();
        assert_eq!(from_b64.decrypt(&sealed).unwrap(), "x");

        let phrase = "correct horse battery staple";
        let a = SecretBox::from_configured_key(phrase).unwrap();
        let b = SecretBox::from_key(&Sha256::digest(phrase.as_bytes()).into());
        assert_eq!(b.decrypt(&a.encrypt("y").unwrap()).unwrap(), "y");

        assert!(matches!(
            SecretBox::from_configured_key("short-pass"),
            Err(SecretError::WeakKey)
        ));
        assert!(!format!("{a:?}").contains(phrase));
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = key_file_path(&dir.path().join("master.db"));
        assert_eq!(path, dir.path().join(KEY_FILE));
        let first = SecretBox::from_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = first.encrypt("kept across restarts").unwrap();
        let again = SecretBox::from_key_file(&path).unwrap();
        assert_eq!(again.decrypt(&sealed).unwrap(), "kept across restarts");
        // The file holds the key as base64, usable as MASTER_SECRET_KEY.
        let text = std::fs::read_to_string(&path).unwrap();
        let moved = SecretBox::from_configured_key(text.trim()).unwrap();
        assert_eq!(moved.decrypt(&sealed).unwrap(), "kept across restarts");
        assert_eq!(
            key_file_path(Path::new("master.db")),
            PathBuf::from(KEY_FILE)
        );
    }

    #[test]
    fn readable_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, STANDARD.encode([1u8; KEY_LEN])).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = SecretBox::from_key_file(&path).unwrap_err();
        assert!(
            matches!(e, SecretError::KeyFileMode { mode: 0o644, .. }),
            "{e}"
        );
        let message = e.to_string();
        assert!(message.contains("chmod 600"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(SecretBox::from_key_file(&path).is_ok());

        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            SecretBox::from_key_file(&path),
            Err(SecretError::KeyFileContent { .. })
        ));
    }
}
