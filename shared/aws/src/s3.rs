//! Bundle bytes in S3: presigned PUTs that S3 itself checks; downloads are `Downloads`'.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use updraft_core::code::Code;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use updraft_core::blobs::{BlobInfo, Blobs, DownloadUrls, STAGING_PREFIX, UploadTicket};
use updraft_core::store::{StoreError, StoreResult};

use crate::downloads::Downloads;
use crate::edge_cache::EdgeCache;

#[derive(Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
    downloads: Arc<Downloads>,
    /// The distribution devices download through, when they do.
    edge: Option<EdgeCache>,
}

fn storage<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

impl S3Blobs {
    pub fn new(client: Client, bucket: &str, downloads: Downloads) -> Self {
        S3Blobs {
            client,
            bucket: bucket.to_string(),
            downloads: Arc::new(downloads),
            edge: None,
        }
    }

    /// Deleting a key also invalidates it at this CloudFront distribution.
    pub fn with_edge_cache(mut self, edge: EdgeCache) -> Self {
        self.edge = Some(edge);
        self
    }

    /// Creates the bucket when missing (local servers and first runs).
    pub async fn create_bucket_if_missing(&self) -> StoreResult<()> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(storage(e)),
        }
    }

    /// Hashes the object by reading it, for storage that does not keep checksums.
    async fn hash_object(&self, key: &str) -> StoreResult<Option<BlobInfo>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(storage(e)),
        };
        let mut body = out.body;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(storage)? {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok(Some(BlobInfo {
            size,
            sha256: hex::encode(hasher.finalize()),
        }))
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    async fn presign_upload(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
        ttl_secs: u64,
    ) -> StoreResult<UploadTicket> {
        let raw = hex::decode(sha256)
            .map_err(|_| StoreError::invalid(Code::InvalidChecksum, "sha256 is not hex"))?;
        let checksum = B64.encode(raw);
        let config =
            PresigningConfig::expires_in(Duration::from_secs(ttl_secs)).map_err(storage)?;
        // Length and checksum are signed: S3 refuses any other body.
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(size as i64)
            .checksum_sha256(&checksum)
            .content_type("application/zip")
            .presigned(config)
            .await
            .map_err(storage)?;
        let headers: BTreeMap<String, String> = req
            .headers()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        let expires_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
            + ttl_secs as i64 * 1000;
        Ok(UploadTicket {
            url: req.uri().to_string(),
            method: "PUT".into(),
            headers,
            expires_at,
        })
    }

    async fn stat(&self, key: &str) -> StoreResult<Option<BlobInfo>> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let head = match head {
            Ok(h) => h,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => return Ok(None),
            Err(e) => return Err(storage(e)),
        };
        match head.checksum_sha256().and_then(|c| B64.decode(c).ok()) {
            Some(raw) if raw.len() == 32 => Ok(Some(BlobInfo {
                size: head.content_length().unwrap_or(0).max(0) as u64,
                sha256: hex::encode(raw),
            })),
            _ => self.hash_object(key).await,
        }
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(storage)?;
        // Staged keys are never downloaded (the bucket policy denies CloudFront them).
        match &self.edge {
            Some(edge) if !key.starts_with(STAGING_PREFIX) => edge.forget(key).await,
            _ => Ok(()),
        }
    }

    async fn promote(&self, from: &str, to: &str) -> StoreResult<()> {
        // A server-side copy (up to 5 GB, far above the bundle limit) that keeps a SHA-256
        // checksum on the copy for `stat`, then the staged object goes.
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!(
                "{}/{}",
                self.bucket,
                updraft_core::http_util::percent_encode_path(from)
            ))
            .key(to)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .content_type("application/zip")
            .send()
            .await
            .map_err(storage)?;
        self.delete(from).await
    }

    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(next.take())
                .send()
                .await
                .map_err(storage)?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => next = Some(t.to_string()),
                _ => return Ok(keys),
            }
        }
    }
}

#[async_trait]
impl DownloadUrls for S3Blobs {
    async fn download_url(&self, key: &str) -> StoreResult<String> {
        self.downloads.url(key).await
    }
}
