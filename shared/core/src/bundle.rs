//! A bundle: one uploaded version of an app's web build.

use crate::code::Code;
use serde::{Deserialize, Serialize};

use crate::store::{Registered, StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BundleStatus {
    /// Registered; storage may not hold its bytes yet. Never served.
    Pending,
    /// Storage holds exactly `size` bytes hashing to `checksum`.
    Ready,
    /// Gone; the version name stays taken so devices never confuse two builds.
    Deleted,
}

impl BundleStatus {
    /// The word stored and sent (`pending`, `ready`, `deleted`).
    pub fn as_str(self) -> &'static str {
        match self {
            BundleStatus::Pending => "pending",
            BundleStatus::Ready => "ready",
            BundleStatus::Deleted => "deleted",
        }
    }
}

/// One file of a bundle's delta-update manifest: stored on its own, content-addressed, so a
/// file that did not change between versions is stored (and downloaded) once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ManifestEntry {
    /// The path in the bundle, ending in `.br` when stored Brotli-compressed (the plugin
    /// strips it and decompresses).
    pub file_name: String,
    /// SHA-256 hex of the original file: what the plugin verifies, and how it recognises a
    /// file it already has.
    pub file_hash: String,
    /// Bytes stored (compressed for `.br`).
    #[serde(default)]
    pub size: u64,
    /// SHA-256 hex of the stored bytes.
    #[serde(default)]
    pub sha256: String,
}

impl ManifestEntry {
    /// Where storage keeps this file's bytes.
    pub fn storage_key(&self, app_id: &str) -> String {
        file_key(app_id, &self.sha256)
    }
}

/// Where storage keeps an app's file object with these stored bytes: content-addressed, so
/// every bundle listing the same bytes shares one object.
pub fn file_key(app_id: &str, sha256: &str) -> String {
    format!("{app_id}/{FILES_DIR}/{sha256}")
}

/// The folder of an app's file objects.
pub const FILES_DIR: &str = "files";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bundle {
    pub version: String,
    pub status: BundleStatus,
    pub size: u64,
    /// Lowercase SHA-256 hex of the plaintext zip (or the encrypted checksum for E2E bundles).
    pub checksum: String,
    #[serde(default)]
    pub session_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_update_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Where storage keeps the zip; unguessable, never derived from the version.
    #[serde(default, skip_serializing)]
    pub storage_key: String,
    /// SHA-256 of the stored object. Equals `checksum` unless the bundle is encrypted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub object_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Vec<ManifestEntry>>,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<i64>,
}

impl Bundle {
    pub fn is_ready(&self) -> bool {
        self.status == BundleStatus::Ready
    }

    /// Registering `new` under this existing version: the retry of an interrupted upload
    /// (still pending, same content) keeps this record; anything else is a conflict.
    pub fn reregister(self, new: &Bundle) -> StoreResult<Registered> {
        if self.status == BundleStatus::Pending
            && self.size == new.size
            && self.checksum == new.checksum
            && self.object_sha256 == new.object_sha256
        {
            return Ok(Registered::StillPending(self));
        }
        let why = match self.status {
            BundleStatus::Ready => "is already uploaded",
            BundleStatus::Deleted => "was deleted and cannot be reused",
            BundleStatus::Pending => "is pending with different content",
        };
        Err(StoreError::conflict(
            Code::VersionExists,
            format!("version {} {why}", new.version),
        ))
    }

    /// The ready record to store after finalize, or `None` when it is ready already
    /// (finalize is idempotent); a deleted bundle cannot become ready.
    pub fn finalized(&self, at: i64) -> StoreResult<Option<Bundle>> {
        match self.status {
            BundleStatus::Ready => Ok(None),
            BundleStatus::Deleted => Err(StoreError::conflict(
                Code::BundleDeleted,
                format!("bundle {} was deleted", self.version),
            )),
            BundleStatus::Pending => {
                let mut ready = self.clone();
                ready.status = BundleStatus::Ready;
                ready.ready_at = Some(at);
                Ok(Some(ready))
            }
        }
    }
}

pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
