//! Two ports for bundles in storage: the bytes (presigned uploads straight to storage, what
//! storage holds, deletes) and the URLs devices download them from. A host that never
//! touches the bytes (the `updates`, `stats` and `channels` functions) has only the second.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use std::sync::Arc;

use crate::store::{StoreError, StoreResult};

/// What the CLI needs to send the bytes itself, without passing through our handlers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Bundle bytes in storage.
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
    /// Moves the object at `from` to `to` (replacing what is there), keeping its bytes.
    async fn promote(&self, from: &str, to: &str) -> StoreResult<()>;
    /// Every key under `prefix` (which ends in `/`).
    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>>;
}

/// Where an upload URL puts a bundle's bytes: never where devices download from. Finalize
/// checks them there and promotes them to the bundle's key; an upload URL replayed after
/// that (or after a delete) only refills this staging key, which nothing serves and storage
/// forgets (an S3 lifecycle rule, the embedded store's sweep).
pub fn staging_key(storage_key: &str) -> String {
    format!("{STAGING_PREFIX}{storage_key}")
}

/// The prefix of every staging key.
pub const STAGING_PREFIX: &str = "staging/";

/// How long staged bytes may wait for their finalize before storage forgets them.
pub const STAGING_LIFETIME_SECS: u64 = 24 * 3600;

/// Removes a bundle's bytes wherever they are (staged or promoted).
pub async fn delete_bundle_bytes(blobs: &dyn Blobs, storage_key: &str) -> StoreResult<()> {
    blobs.delete(&staging_key(storage_key)).await?;
    blobs.delete(storage_key).await
}

/// Where devices download bundles from.
#[async_trait]
pub trait DownloadUrls: Send + Sync {
    /// A URL a device can GET (with Range), valid for days. Cheap: called on the hot path.
    async fn download_url(&self, key: &str) -> StoreResult<String>;
}

/// What a host has of bundle storage: always download URLs, and the bytes unless it is a
/// function that never touches them.
#[derive(Clone)]
pub struct Storage {
    pub downloads: Arc<dyn DownloadUrls>,
    blobs: Option<Arc<dyn Blobs>>,
}

impl Storage {
    /// Bytes and URLs from one adapter (the embedded store, S3).
    pub fn full<S: Blobs + DownloadUrls + 'static>(storage: Arc<S>) -> Self {
        Storage {
            downloads: storage.clone(),
            blobs: Some(storage),
        }
    }

    /// URLs only.
    pub fn downloads_only(downloads: Arc<dyn DownloadUrls>) -> Self {
        Storage {
            downloads,
            blobs: None,
        }
    }
}

/// A process's download URLs for the current UTC day. Adapters sign a key's URL from the
/// start of the day (expiry rounded to the day), so it is the same for every device all
/// day: it is signed once a day per process rather than on every update check that offers
/// it (an HMAC, a SigV4 or an RSA signature). Bounded: past `MAX` keys in a day it starts
/// over, whatever the number of apps and bundles.
#[derive(Debug, Default)]
pub struct DayUrls {
    day: u64,
    urls: std::collections::HashMap<String, String>,
}

impl DayUrls {
    pub const MAX: usize = 4096;

    /// The UTC day of a Unix time in seconds.
    pub fn day_of(unix_secs: u64) -> u64 {
        unix_secs / 86_400
    }

    /// `key`'s URL signed on `day`, if this process has it (an earlier day's are forgotten).
    pub fn get(&mut self, day: u64, key: &str) -> Option<String> {
        if self.day != day {
            self.day = day;
            self.urls.clear();
        }
        self.urls.get(key).cloned()
    }

    /// Keeps `url`, signed on `day`, for the rest of that day.
    pub fn put(&mut self, day: u64, key: &str, url: &str) {
        if self.day != day {
            return;
        }
        if self.urls.len() >= Self::MAX {
            self.urls.clear();
        }
        self.urls.insert(key.to_string(), url.to_string());
    }

    /// Forgets every URL (e.g. when the credentials that signed them expire).
    pub fn clear(&mut self) {
        self.urls.clear();
    }
}

impl Storage {
    /// The bytes; a host without them answers 503 (the route table never sends such a host
    /// a route that needs them).
    pub fn blobs(&self) -> StoreResult<&dyn Blobs> {
        self.blobs.as_deref().ok_or_else(|| {
            StoreError::Unavailable("this host has no bundle storage, only download URLs".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_kept_for_its_day_only() {
        let mut urls = DayUrls::default();
        assert_eq!(urls.get(10, "a"), None);
        urls.put(10, "a", "a@10");
        assert_eq!(urls.get(10, "a").as_deref(), Some("a@10"));
        assert_eq!(
            urls.get(11, "a"),
            None,
            "a new day forgets yesterday's URLs"
        );
        urls.put(10, "b", "b@10");
        assert_eq!(
            urls.get(11, "b"),
            None,
            "a URL signed yesterday is not kept today"
        );
        urls.put(11, "a", "a@11");
        urls.clear();
        assert_eq!(urls.get(11, "a"), None);
    }

    #[test]
    fn past_its_size_the_memory_starts_over() {
        let mut urls = DayUrls::default();
        urls.get(1, "x");
        for i in 0..=DayUrls::MAX {
            urls.put(1, &i.to_string(), "u");
        }
        assert!(urls.urls.len() <= DayUrls::MAX);
    }
}
