//! `/v1/apps/{app}/bundles`: register a version, upload straight to storage, finalize, list, delete.

use crate::api::{BundleDeleted, NewBundle, RegisteredBundle};
use crate::blobs::{delete_bundle_bytes, staging_key};
use crate::code::Code;
use crate::store::ports::*;

use super::apps::existing;
use super::auth::allow;
use crate::bundle::{Bundle, BundleStatus, is_sha256_hex};
use crate::channel::BUILTIN;
use crate::device::now_ms;
use crate::error::ApiError;
use crate::http_util::{Req, Resp, created, ok, parse_json};
use crate::key::{Mode, random_hex};
use crate::state::State;
use crate::store::Registered;

fn bad(code: Code, msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, msg)
}

fn validate(body: &NewBundle, max: u64) -> Result<(), ApiError> {
    if body.version == BUILTIN || body.version == "unknown" {
        return Err(bad(
            Code::InvalidVersion,
            format!("`{}` is a reserved name", body.version),
        ));
    }
    if body.version.len() > 64 || semver::Version::parse(&body.version).is_err() {
        return Err(bad(
            Code::InvalidVersion,
            format!("version `{}` is not semver (e.g. 1.4.0)", body.version),
        ));
    }
    if body.size == 0 || body.size > max {
        return Err(bad(
            Code::InvalidSize,
            format!("size must be between 1 and {max} bytes"),
        ));
    }
    let encrypted = body.session_key.as_deref().is_some_and(|s| !s.is_empty());
    if encrypted {
        if body.checksum.is_empty()
            || body.checksum.len() > 1024
            || !body.checksum.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(bad(Code::InvalidChecksum, "checksum must be hex"));
        }
        if !body.sha256.as_deref().is_some_and(is_sha256_hex) {
            return Err(bad(
                Code::InvalidChecksum,
                "an encrypted bundle needs `sha256`: the SHA-256 hex of the uploaded bytes",
            ));
        }
        if body
            .session_key
            .as_deref()
            .is_some_and(|s| s.len() > 1024 || !s.contains(':'))
        {
            return Err(bad(
                Code::InvalidSessionKey,
                "session_key must be base64(iv):base64(key)",
            ));
        }
    } else {
        if !is_sha256_hex(&body.checksum) {
            return Err(bad(
                Code::InvalidChecksum,
                "checksum must be the lowercase SHA-256 hex of the zip",
            ));
        }
        if body.sha256.as_deref().is_some_and(|s| s != body.checksum) {
            return Err(bad(
                Code::InvalidChecksum,
                "sha256 differs from checksum for an unencrypted bundle",
            ));
        }
    }
    if let Some(m) = &body.min_update_version
        && semver::Version::parse(m).is_err()
    {
        return Err(bad(
            Code::InvalidMinUpdateVersion,
            format!("min_update_version `{m}` is not semver"),
        ));
    }
    if body.key_id.as_deref().is_some_and(|k| k.len() > 64) {
        return Err(bad(Code::InvalidKeyId, "key_id is at most 64 characters"));
    }
    if body
        .link
        .as_deref()
        .is_some_and(|l| l.len() > 2048 || !(l.starts_with("https://") || l.starts_with("http://")))
    {
        return Err(bad(
            Code::InvalidLink,
            "link must be an http(s) URL of at most 2048 characters",
        ));
    }
    if let Some(files) = &body.manifest {
        super::bundle_files::validate(files, max, encrypted)?;
    }
    if body.comment.as_deref().is_some_and(|c| c.len() > 4096) {
        return Err(bad(
            Code::InvalidComment,
            "comment is at most 4096 characters",
        ));
    }
    Ok(())
}

pub async fn register(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Upload, Some(app_id)).await?;
    let body: NewBundle = parse_json(req.body())?;
    validate(&body, state.config.max_bundle_bytes)?;
    existing(state, app_id).await?;
    let object_sha256 = body.sha256.clone().unwrap_or_else(|| body.checksum.clone());
    let bundle = Bundle {
        version: body.version,
        status: BundleStatus::Pending,
        size: body.size,
        checksum: body.checksum,
        session_key: body.session_key.unwrap_or_default(),
        key_id: body.key_id.filter(|k| !k.is_empty()),
        min_update_version: body.min_update_version,
        link: body.link,
        comment: body.comment,
        storage_key: format!("{app_id}/{}.zip", random_hex(16)),
        object_sha256,
        manifest: body.manifest.as_deref().map(super::bundle_files::entries),
        created_at: now_ms(),
        ready_at: None,
    };
    let (bundle, fresh) = match state.store.register_bundle(app_id, &bundle).await? {
        Registered::Created(b) => (b, true),
        Registered::StillPending(b) => (b, false),
    };
    let upload = state
        .storage
        .blobs()?
        .presign_upload(
            &staging_key(&bundle.storage_key),
            bundle.size,
            &bundle.object_sha256,
            state.config.upload_ttl_secs,
        )
        .await?;
    let files = match &bundle.manifest {
        Some(m) => super::bundle_files::tickets(state, app_id, m).await?,
        None => Vec::new(),
    };
    let reply = RegisteredBundle {
        version: bundle.version.clone(),
        status: bundle.status,
        upload,
        files,
    };
    Ok(if fresh { created(&reply) } else { ok(&reply) })
}

async fn existing_bundle(state: &State, app_id: &str, version: &str) -> Result<Bundle, ApiError> {
    match state.store.get_bundle(app_id, version).await? {
        Some(b) if b.status != BundleStatus::Deleted => Ok(b),
        _ => Err(ApiError::not_found(format!(
            "no bundle {version} in {app_id}"
        ))),
    }
}

pub async fn finalize(
    state: &State,
    req: &Req,
    app_id: &str,
    version: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Upload, Some(app_id)).await?;
    let bundle = existing_bundle(state, app_id, version).await?;
    if bundle.is_ready() {
        return Ok(ok(&bundle));
    }
    if let Some(m) = &bundle.manifest {
        super::bundle_files::check_present(state, app_id, m).await?;
    }
    let blobs = state.storage.blobs()?;
    let staged = staging_key(&bundle.storage_key);
    // Staged bytes, or bytes an earlier finalize promoted before it could mark the bundle
    // ready: both are checked the same way.
    let (at, info) = match blobs.stat(&staged).await? {
        Some(info) => (staged.as_str(), info),
        None => match blobs.stat(&bundle.storage_key).await? {
            Some(info) => (bundle.storage_key.as_str(), info),
            None => {
                return Err(ApiError::conflict(
                    Code::UploadMissing,
                    format!(
                        "storage holds no bytes for {version} yet: PUT them to the upload URL first"
                    ),
                ));
            }
        },
    };
    if info.size != bundle.size || info.sha256 != bundle.object_sha256 {
        // Never leave wrong bytes where a device could one day fetch them.
        blobs.delete(at).await?;
        return Err(ApiError::conflict(
            Code::UploadMismatch,
            format!(
                "storage held {} bytes with SHA-256 {}, expected {} bytes with {}; upload again",
                info.size, info.sha256, bundle.size, bundle.object_sha256
            ),
        ));
    }
    if at == staged {
        blobs.promote(&staged, &bundle.storage_key).await?;
    }
    match state.store.mark_ready(app_id, version, now_ms()).await {
        Ok(ready) => Ok(ok(&ready)),
        Err(e) => {
            // Deleted while we promoted: its bytes go with it (a retry finds them otherwise).
            if state
                .store
                .get_bundle(app_id, version)
                .await
                .is_ok_and(|b| b.is_none_or(|b| b.status == BundleStatus::Deleted))
            {
                delete_bundle_bytes(blobs, &bundle.storage_key).await?;
            }
            Err(e.into())
        }
    }
}

pub async fn list(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    existing(state, app_id).await?;
    Ok(ok(&state.store.list_bundles(app_id).await?))
}

pub async fn get(state: &State, req: &Req, app_id: &str, version: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    Ok(ok(&existing_bundle(state, app_id, version).await?))
}

pub async fn delete(
    state: &State,
    req: &Req,
    app_id: &str,
    version: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    existing_bundle(state, app_id, version).await?;
    let gone = state.store.delete_bundle(app_id, version).await?;
    delete_bundle_bytes(state.storage.blobs()?, &gone.storage_key).await?;
    Ok(ok(&BundleDeleted {
        version: version.to_string(),
        deleted: true,
    }))
}
