//! API keys: what a caller of `/v1` may do, and for which apps.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Ordered: each mode can do everything the ones before it can.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Read,
    Upload,
    Write,
    All,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Read => "read",
            Mode::Upload => "upload",
            Mode::Write => "write",
            Mode::All => "all",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub mode: Mode,
    /// The apps it may use; null: every app.
    #[serde(default)]
    pub apps: Option<Vec<String>>,
    /// SHA-256 hex of the secret; the secret itself is never stored.
    #[serde(default, skip_serializing)]
    pub hash: String,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl ApiKey {
    pub fn allows_app(&self, app_id: &str) -> bool {
        self.apps
            .as_ref()
            .is_none_or(|apps| apps.iter().any(|a| a == app_id))
    }

    /// Not expired at `now` (ms).
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }

    /// A live key of mode `all` for every app: what can always manage the rest.
    pub fn is_unlimited_admin(&self, now: i64) -> bool {
        self.mode == Mode::All && self.apps.is_none() && self.is_live(now)
    }

    /// Whether this key may see and revoke `other`: a key for every app may manage any key;
    /// a key limited to some apps only keys limited to apps all within its own, never a key
    /// for every app.
    pub fn manages(&self, other: &ApiKey) -> bool {
        match (&self.apps, &other.apps) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(theirs)) => theirs.iter().all(|a| self.allows_app(a)),
        }
    }
}

/// Prefix that lets secret scanners recognise a leaked key.
pub const KEY_PREFIX: &str = "upd_";

pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    hex::encode(buf)
}

/// A fresh secret: 32 random bytes behind the scanner-friendly prefix.
pub fn new_secret() -> String {
    format!("{KEY_PREFIX}{}", random_hex(32))
}

pub fn new_key_id() -> String {
    format!("key_{}", random_hex(8))
}
