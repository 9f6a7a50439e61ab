//! Port for bundle bytes: presigned uploads straight to storage, and download URLs.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::store::StoreResult;

/// What the CLI needs to send the bytes itself, without passing through our handlers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadTicket {
    pub url: String,
    pub method: String,
    /// Headers the PUT must carry exactly (they are part of the signature).
    pub headers: BTreeMap<String, String>,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// What storage holds under a key.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobInfo {
    pub size: u64,
    pub sha256: String,
}

#[async_trait]
pub trait Blobs: Send + Sync {
    /// A PUT URL that only accepts exactly `size` bytes hashing to `sha256`, for `ttl_secs`.
    async fn presign_upload(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
        ttl_secs: u64,
    ) -> StoreResult<UploadTicket>;
    /// Size and SHA-256 of what storage holds, `None` when nothing is there.
    async fn stat(&self, key: &str) -> StoreResult<Option<BlobInfo>>;
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// A URL a device can GET (with Range), valid for days. Cheap: called on the hot path.
    async fn download_url(&self, key: &str) -> StoreResult<String>;
}
