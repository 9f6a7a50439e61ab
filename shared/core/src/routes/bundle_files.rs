//! A bundle's file objects (delta updates): checked at registration, uploaded only when
//! storage lacks them, verified before the bundle is ready, and cleaned up once no bundle
//! lists them.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;

use super::apps::existing;
use super::auth::allow;
use crate::api::{FileUpload, FilesCleaned, NewFile};
use crate::blobs::{BlobInfo, Blobs};
use crate::bundle::{FILES_DIR, ManifestEntry, is_sha256_hex};
use crate::code::Code;
use crate::error::ApiError;
use crate::http_util::{Req, Resp, ok};
use crate::key::Mode;
use crate::state::State;
use crate::store::ports::*;

/// Files one bundle may list.
pub const MAX_FILES: usize = 10_000;
/// Storage requests in flight at once when checking a manifest's objects.
const CONCURRENCY: usize = 16;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(Code::InvalidManifest, msg)
}

/// A manifest a device can apply, or why not: relative paths that stay inside the bundle,
/// each once (the plugin refuses duplicates and escaping paths), SHA-256 hashes (for an
/// encrypted bundle, `file_hash` is the hex of the RSA-encrypted hash), and at most `max`
/// bytes in all.
pub fn validate(files: &[NewFile], max: u64, encrypted: bool) -> Result<(), ApiError> {
    if files.is_empty() || files.len() > MAX_FILES {
        return Err(bad(format!("a manifest lists 1 to {MAX_FILES} files")));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0u64;
    for f in files {
        let path = f.file_name.strip_suffix(".br").unwrap_or(&f.file_name);
        let plain = !path.is_empty()
            && path.len() <= 1024
            && !path.starts_with('/')
            && !path.contains('\\')
            && !path.chars().any(char::is_control)
            && path
                .split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
        if !plain {
            return Err(bad(format!(
                "`{}` is not a relative path inside the bundle",
                f.file_name
            )));
        }
        if !seen.insert(path) {
            return Err(bad(format!("`{path}` is listed twice")));
        }
        let hash_ok = if encrypted {
            !f.file_hash.is_empty()
                && f.file_hash.len() <= 1024
                && f.file_hash.bytes().all(|b| b.is_ascii_hexdigit())
        } else {
            is_sha256_hex(&f.file_hash)
        };
        if !hash_ok || !is_sha256_hex(&f.sha256) {
            return Err(bad(format!(
                "`{}`: file_hash and sha256 are lowercase SHA-256 hex",
                f.file_name
            )));
        }
        total = total.saturating_add(f.size);
    }
    if total > max {
        return Err(bad(format!("the files hold more than {max} bytes")));
    }
    Ok(())
}

/// The manifest as stored (each file at its content-addressed key, `file_key`).
pub fn entries(files: &[NewFile]) -> Vec<ManifestEntry> {
    files
        .iter()
        .map(|f| ManifestEntry {
            file_name: f.file_name.clone(),
            file_hash: f.file_hash.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
        })
        .collect()
}

/// The distinct objects a manifest needs (entry, storage key), with what storage holds of
/// each.
async fn holdings(
    blobs: &dyn Blobs,
    app_id: &str,
    manifest: &[ManifestEntry],
) -> Result<Vec<(ManifestEntry, String, Option<BlobInfo>)>, ApiError> {
    let distinct: Vec<(String, &ManifestEntry)> = manifest
        .iter()
        .map(|e| (e.storage_key(app_id), e))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let mut found = Vec::with_capacity(distinct.len());
    for part in distinct.chunks(CONCURRENCY) {
        // The adapters' futures are boxed and `Send` already: joined a few at a time.
        let stats = join_all(part.iter().map(|(key, _)| blobs.stat(key))).await;
        for ((key, e), held) in part.iter().zip(stats) {
            found.push(((*e).clone(), key.clone(), held?));
        }
    }
    Ok(found)
}

/// Upload URLs for the objects storage lacks (or holds wrongly).
pub async fn tickets(
    state: &State,
    app_id: &str,
    manifest: &[ManifestEntry],
) -> Result<Vec<FileUpload>, ApiError> {
    let blobs = state.storage.blobs()?;
    let mut out = Vec::new();
    for (e, key, held) in holdings(blobs, app_id, manifest).await? {
        if held.is_some_and(|h| h.size == e.size && h.sha256 == e.sha256) {
            continue;
        }
        let upload = blobs
            .presign_upload(&key, e.size, &e.sha256, state.config.upload_ttl_secs)
            .await?;
        out.push(FileUpload {
            sha256: e.sha256,
            upload,
        });
    }
    out.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    Ok(out)
}

/// Before a bundle is ready: every object of its manifest is in storage with its bytes.
/// Wrong bytes are deleted, so a retry uploads them again.
pub async fn check_present(
    state: &State,
    app_id: &str,
    manifest: &[ManifestEntry],
) -> Result<(), ApiError> {
    let blobs = state.storage.blobs()?;
    for (e, key, held) in holdings(blobs, app_id, manifest).await? {
        match held {
            None => {
                return Err(ApiError::conflict(
                    Code::UploadMissing,
                    format!(
                        "storage holds no {} yet (stored SHA-256 {}): PUT it to its upload URL first",
                        e.file_name, e.sha256
                    ),
                ));
            }
            Some(h) if h.size != e.size || h.sha256 != e.sha256 => {
                blobs.delete(&key).await?;
                return Err(ApiError::conflict(
                    Code::UploadMismatch,
                    format!(
                        "storage held other bytes for {} than its manifest says; register again to upload it",
                        e.file_name
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `POST /v1/apps/{app_id}/files/cleanup`: deletes the app's file objects that no bundle
/// (ready or pending) lists. A bundle registered meanwhile that counted on a deleted object
/// finds it missing at finalize, and its upload is asked for again.
pub async fn cleanup(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    existing(state, app_id).await?;
    let blobs = state.storage.blobs()?;
    let stored = blobs.list(&format!("{app_id}/{FILES_DIR}/")).await?;
    let listed: BTreeSet<String> = state
        .store
        .list_bundles(app_id)
        .await?
        .iter()
        .flat_map(|b| b.manifest.iter().flatten())
        .map(|e| e.storage_key(app_id))
        .collect();
    let (mut deleted, mut kept) = (0, 0);
    for key in stored {
        if listed.contains(&key) {
            kept += 1;
        } else {
            blobs.delete(&key).await?;
            deleted += 1;
        }
    }
    Ok(ok(&FilesCleaned { deleted, kept }))
}
