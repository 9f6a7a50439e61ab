//! Bundle bytes in a local directory, behind URLs this process signs (HMAC-SHA256, expiry).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use updraft_core::code::Code;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use updraft_core::blobs::{
    BlobInfo, Blobs, DayUrls, DownloadUrls, STAGING_LIFETIME_SECS, STAGING_PREFIX, UploadTicket,
};
use updraft_core::device::now_ms;
use updraft_core::http_util::{percent_encode_path, query_pairs};
use updraft_core::key::random_hex;
use updraft_core::store::{StoreError, StoreResult};

type HmacSha256 = Hmac<Sha256>;

/// Download URLs live at least this long (the protocol's 7 days).
const DOWNLOAD_TTL_SECS: u64 = 7 * 24 * 3600;
const DAY: u64 = 24 * 3600;

#[derive(Clone)]
pub struct LocalBlobs {
    dir: PathBuf,
    secret: Vec<u8>,
    public_url: String,
    /// The day's download URLs, signed once a day per key.
    urls: Arc<Mutex<DayUrls>>,
}

/// Why an upload or download was refused; `status` is the HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadError {
    pub status: u16,
    pub code: Code,
    pub message: String,
}

impl UploadError {
    fn new(status: u16, code: Code, message: impl Into<String>) -> Self {
        UploadError {
            status,
            code,
            message: message.into(),
        }
    }
}

fn now_secs() -> u64 {
    (now_ms() / 1000) as u64
}

impl LocalBlobs {
    /// Uses `<data_dir>/blobs` and the signing secret in `<data_dir>/url-secret`, made on first use.
    pub fn open(data_dir: &Path, public_url: &str) -> std::io::Result<Self> {
        let dir = data_dir.join("blobs");
        std::fs::create_dir_all(dir.join(".tmp"))?;
        let secret_path = data_dir.join("url-secret");
        let secret = match std::fs::read_to_string(&secret_path) {
            Ok(s) if s.trim().len() >= 64 => s.trim().to_string(),
            _ => {
                let s = random_hex(32);
                let tmp = data_dir.join(".url-secret.tmp");
                let mut f = std::fs::File::create(&tmp)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                }
                f.write_all(s.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &secret_path)?;
                s
            }
        };
        Ok(LocalBlobs {
            dir,
            secret: secret.into_bytes(),
            public_url: public_url.trim_end_matches('/').to_string(),
            urls: Arc::default(),
        })
    }

    /// The file behind a key; `None` for keys that could escape the directory.
    pub fn path_of(&self, key: &str) -> Option<PathBuf> {
        let ok = !key.is_empty()
            && key.len() <= 512
            && key.split('/').all(|seg| {
                !seg.is_empty()
                    && !seg.starts_with('.')
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            });
        ok.then(|| self.dir.join(key))
    }

    fn sign(&self, text: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn check_sig(&self, text: &str, sig: &str) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        mac.verify_slice(&sig).is_ok() // constant time
    }

    /// Checks a download URL's signature and expiry.
    pub fn verify_download(&self, key: &str, query: Option<&str>) -> Result<PathBuf, UploadError> {
        let q = query_pairs(query);
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let exp: u64 = get("exp")
            .parse()
            .map_err(|_| UploadError::new(403, Code::Forbidden, "missing or bad expiry"))?;
        if !self.check_sig(&format!("GET\n{key}\n{exp}"), get("sig")) {
            return Err(UploadError::new(403, Code::Forbidden, "bad signature"));
        }
        if exp < now_secs() {
            return Err(UploadError::new(
                403,
                Code::Expired,
                "this download URL has expired",
            ));
        }
        self.path_of(key)
            .ok_or_else(|| UploadError::new(403, Code::Forbidden, "bad key"))
    }

    /// Checks an upload URL; returns the size and SHA-256 the body must have.
    pub fn verify_upload(
        &self,
        key: &str,
        query: Option<&str>,
    ) -> Result<(u64, String), UploadError> {
        let q = query_pairs(query);
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let bad = || UploadError::new(403, Code::Forbidden, "malformed upload URL");
        let exp: u64 = get("exp").parse().map_err(|_| bad())?;
        let size: u64 = get("size").parse().map_err(|_| bad())?;
        let sha = get("sha256");
        if !self.check_sig(&format!("PUT\n{key}\n{exp}\n{size}\n{sha}"), &get("sig")) {
            return Err(UploadError::new(403, Code::Forbidden, "bad signature"));
        }
        if exp < now_secs() {
            return Err(UploadError::new(
                403,
                Code::Expired,
                "this upload URL has expired: register the bundle again",
            ));
        }
        if self.path_of(key).is_none() {
            return Err(bad());
        }
        Ok((size, sha))
    }

    /// Starts receiving an upload into a temporary file beside the blobs.
    pub async fn begin_upload(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
    ) -> Result<UploadSink, UploadError> {
        let dest = self
            .path_of(key)
            .ok_or_else(|| UploadError::new(403, Code::Forbidden, "bad key"))?;
        let tmp = self.dir.join(".tmp").join(random_hex(12));
        let file = tokio::fs::File::create(&tmp).await.map_err(io_err)?;
        Ok(UploadSink {
            file: Some(file),
            tmp,
            dest,
            hasher: Sha256::new(),
            written: 0,
            size,
            sha256: sha256.to_string(),
        })
    }
}

fn io_err(e: std::io::Error) -> UploadError {
    UploadError::new(500, Code::StorageError, e.to_string())
}

/// Bytes of one upload on their way to disk; only a complete, matching body is kept.
pub struct UploadSink {
    file: Option<tokio::fs::File>,
    tmp: PathBuf,
    dest: PathBuf,
    hasher: Sha256,
    written: u64,
    size: u64,
    sha256: String,
}

impl UploadSink {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.written += chunk.len() as u64;
        if self.written > self.size {
            return Err(UploadError::new(
                400,
                Code::SizeMismatch,
                format!("the body is longer than the signed {} bytes", self.size),
            ));
        }
        self.hasher.update(chunk);
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io_err(std::io::Error::other("closed")))?;
        file.write_all(chunk).await.map_err(io_err)
    }

    /// Keeps the bytes only if length and SHA-256 match what the URL was signed for.
    pub async fn finish(mut self) -> Result<(), UploadError> {
        if self.written != self.size {
            return Err(UploadError::new(
                400,
                Code::SizeMismatch,
                format!(
                    "received {} bytes, the URL was signed for {}",
                    self.written, self.size
                ),
            ));
        }
        let got = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if got != self.sha256 {
            return Err(UploadError::new(
                400,
                Code::ChecksumMismatch,
                format!(
                    "the body's SHA-256 is {got}, the URL was signed for {}",
                    self.sha256
                ),
            ));
        }
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io_err(std::io::Error::other("closed")))?;
        file.flush().await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        drop(file);
        if let Some(parent) = self.dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io_err)?;
        }
        // Rename is atomic: readers see no bytes or all of them.
        tokio::fs::rename(&self.tmp, &self.dest)
            .await
            .map_err(io_err)
    }
}

impl Drop for UploadSink {
    fn drop(&mut self) {
        // Whatever did not reach `finish` leaves nothing behind.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn hash_file(path: &Path) -> std::io::Result<Option<BlobInfo>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut hasher = Sha256::new();
    let size = std::io::copy(&mut file, &mut hasher)?;
    Ok(Some(BlobInfo {
        size,
        sha256: hex::encode(hasher.finalize()),
    }))
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl Blobs for LocalBlobs {
    async fn presign_upload(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
        ttl_secs: u64,
    ) -> StoreResult<UploadTicket> {
        if self.path_of(key).is_none() {
            return Err(StoreError::invalid(Code::InvalidKey, "bad storage key"));
        }
        self.sweep_staging().await;
        let exp = now_secs() + ttl_secs;
        let sig = self.sign(&format!("PUT\n{key}\n{exp}\n{size}\n{sha256}"));
        let url = format!(
            "{}/blobs/{}?size={size}&sha256={sha256}&exp={exp}&sig={sig}",
            self.public_url,
            percent_encode_path(key)
        );
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("content-type".to_string(), "application/zip".to_string());
        Ok(UploadTicket {
            url,
            method: "PUT".into(),
            headers,
            expires_at: exp as i64 * 1000,
        })
    }

    async fn stat(&self, key: &str) -> StoreResult<Option<BlobInfo>> {
        let path = self
            .path_of(key)
            .ok_or_else(|| StoreError::invalid(Code::InvalidKey, "bad storage key"))?;
        tokio::task::spawn_blocking(move || hash_file(&path))
            .await
            .map_err(storage)?
            .map_err(storage)
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        let path = self
            .path_of(key)
            .ok_or_else(|| StoreError::invalid(Code::InvalidKey, "bad storage key"))?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }

    async fn promote(&self, from: &str, to: &str) -> StoreResult<()> {
        let bad = || StoreError::invalid(Code::InvalidKey, "bad storage key");
        let from = self.path_of(from).ok_or_else(bad)?;
        let to = self.path_of(to).ok_or_else(bad)?;
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(storage)?;
        }
        // One directory tree, one file system: the rename is atomic.
        tokio::fs::rename(&from, &to).await.map_err(storage)
    }

    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>> {
        let dir = self
            .path_of(prefix.trim_end_matches('/'))
            .ok_or_else(|| StoreError::invalid(Code::InvalidKey, "bad storage prefix"))?;
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            for entry in walkdir::WalkDir::new(&dir).into_iter().flatten() {
                if entry.file_type().is_file()
                    && let Ok(rel) = entry.path().strip_prefix(&dir)
                {
                    keys.push(format!("{prefix}{}", rel.to_string_lossy()));
                }
            }
            keys
        })
        .await
        .map_err(storage)
    }
}

impl LocalBlobs {
    /// Forgets staged uploads older than `STAGING_LIFETIME_SECS`: bytes a replayed upload URL
    /// left, or an upload never finalized. Called when a new upload is signed.
    async fn sweep_staging(&self) {
        let root = self.dir.join(STAGING_PREFIX.trim_end_matches('/'));
        let _ = tokio::task::spawn_blocking(move || {
            let cutoff = std::time::SystemTime::now()
                - std::time::Duration::from_secs(STAGING_LIFETIME_SECS);
            let Ok(apps) = std::fs::read_dir(&root) else {
                return;
            };
            for app in apps.flatten() {
                let Ok(files) = std::fs::read_dir(app.path()) else {
                    continue;
                };
                for f in files.flatten() {
                    let old = f
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t < cutoff);
                    if old {
                        let _ = std::fs::remove_file(f.path());
                    }
                }
            }
        })
        .await;
    }
}

#[async_trait]
impl DownloadUrls for LocalBlobs {
    async fn download_url(&self, key: &str) -> StoreResult<String> {
        // Expiry rounded to the day: the URL stays the same all day, so it is signed once.
        let day = DayUrls::day_of(now_secs());
        let mut urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(url) = urls.get(day, key) {
            return Ok(url);
        }
        let exp = (day + 1) * DAY + DOWNLOAD_TTL_SECS;
        let sig = self.sign(&format!("GET\n{key}\n{exp}"));
        let url = format!(
            "{}/blobs/{}?exp={exp}&sig={sig}",
            self.public_url,
            percent_encode_path(key)
        );
        urls.put(day, key, &url);
        Ok(url)
    }
}
