//! `POST /updates`: the update check (the hot path), and `POST /updates/manifest_size`.

use crate::action::Action;
use crate::channel::{BUILTIN, Channel};
use crate::code::Code;
use crate::eligibility::stored_channel;
use crate::store::ports::*;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::bundle::Bundle;
use crate::decision::{Decision, decide_for};
use crate::device::{Counter, DeviceEvent, now_ms};
use crate::device_request::{
    DeviceInfo, Strictness, body_fields, into_object, parse_body, parse_device,
};
use crate::error::ApiError;
use crate::http_util::{Req, Resp, ok};
use crate::protocol::{FileSize, ManifestFile, ManifestSizes, RevertToBuiltin, UpdateAvailable};
use crate::state::State;
use crate::store::AppView;

pub fn on_premise_app(app_id: &str) -> ApiError {
    ApiError::new(
        http::StatusCode::TOO_MANY_REQUESTS,
        Code::OnPremiseApp,
        format!("App {app_id} is not served by this server"),
    )
}

/// Parses and validates a device body into the device and the raw object.
pub(super) fn device_body(req: &Req) -> Result<(DeviceInfo, Map<String, Value>), ApiError> {
    let obj = into_object(parse_body(req.body())?)?;
    let device = parse_device(&obj, Strictness::Check)?;
    Ok((device, obj))
}

/// The app's view for an update check or `/channel_self` (429 if the app is unknown).
pub(super) async fn app_view(state: &State, device: &DeviceInfo) -> Result<Arc<AppView>, ApiError> {
    state
        .store
        .view(&device.app_id)
        .await?
        .ok_or_else(|| on_premise_app(&device.app_id))
}

/// The device's stored channel, if it counts (`eligibility::stored_channel`); no storage
/// read at all when the app has no stored channels.
pub(crate) async fn stored_override<'a>(
    state: &State,
    view: &'a AppView,
    device: &DeviceInfo,
) -> Result<Option<&'a Channel>, ApiError> {
    if !view.has_overrides {
        return Ok(None);
    }
    let stored = state
        .store
        .get_override(&device.app_id, &device.device_id)
        .await?;
    Ok(stored_channel(&view.channels, stored.as_ref()))
}

pub async fn check(state: &State, req: &Req) -> Result<Resp, ApiError> {
    // Only the device's fields matter here: read from the bytes, no `Value` tree.
    let device = parse_device(&body_fields(req.body())?, Strictness::Check)?;
    state
        .limits
        .check_device(&device.app_id, &device.device_id)?;
    let view = app_view(state, &device).await?;
    let over = stored_override(state, &view, &device)
        .await?
        .map(|c| c.name.as_str());
    let decision = decide_for(&device, &view.app, &view.channels, over, |v| {
        view.served_bundle(v)
    });
    let (resp, outcome) = match decision {
        Decision::Update {
            bundle,
            with_manifest,
            with_metadata,
        } => (
            ok(&update_body(state, &device.app_id, bundle, with_manifest, with_metadata).await?),
            bundle.version.clone(),
        ),
        Decision::RevertToBuiltin => (
            ok(&RevertToBuiltin { version: BUILTIN }),
            BUILTIN.to_string(),
        ),
        Decision::NoUpdate(refusal) => {
            let mut err =
                ApiError::soft(refusal.code, refusal.message.clone()).with("kind", refusal.kind());
            for (k, v) in &refusal.extra {
                err = err.with(k, v.clone());
            }
            (err.into_response(), refusal.code.to_string())
        }
    };
    let log = view.is_debugged(&device.device_id, now_ms());
    state.store.enqueue_event(check_event(device, outcome, log));
    Ok(resp)
}

async fn update_body<'a>(
    state: &State,
    app_id: &str,
    bundle: &'a Bundle,
    with_manifest: bool,
    with_metadata: bool,
) -> Result<UpdateAvailable<'a>, ApiError> {
    let manifest = if with_manifest {
        let mut files = Vec::new();
        for f in bundle.manifest.iter().flatten() {
            files.push(ManifestFile {
                file_name: &f.file_name,
                file_hash: &f.file_hash,
                download_url: state
                    .storage
                    .downloads
                    .download_url(&f.storage_key(app_id))
                    .await?,
            });
        }
        Some(files)
    } else {
        None
    };
    Ok(UpdateAvailable {
        version: &bundle.version,
        url: state
            .storage
            .downloads
            .download_url(&bundle.storage_key)
            .await?,
        checksum: &bundle.checksum,
        session_key: &bundle.session_key,
        manifest,
        link: if with_metadata {
            bundle.link.as_deref()
        } else {
            None
        },
        comment: if with_metadata {
            bundle.comment.as_deref()
        } else {
            None
        },
    })
}

/// An update check, for the device record and the daily `checks` counter (and the device's
/// log while it is debugged). Takes the device: the check is done with it, and its strings
/// move into the event instead of being copied on every check.
pub(super) fn check_event(device: DeviceInfo, outcome: String, log: bool) -> DeviceEvent {
    DeviceEvent {
        log,
        ..event_of(device, Action::Get, Some(outcome))
    }
}

pub(super) fn device_event(
    device: &DeviceInfo,
    action: Action,
    outcome: Option<String>,
) -> DeviceEvent {
    event_of(device.clone(), action, outcome)
}

fn event_of(device: DeviceInfo, action: Action, outcome: Option<String>) -> DeviceEvent {
    DeviceEvent {
        counter: (action == Action::Get && device.is_real()).then_some(Counter::Check),
        version_build: device.native(),
        app_id: device.app_id,
        device_id: device.device_id,
        at: now_ms(),
        action,
        version_name: device.version_name,
        old_version_name: String::new(),
        platform: device.platform.as_str().to_string(),
        plugin_version: device
            .plugin_version
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        is_emulator: device.is_emulator,
        is_prod: device.is_prod,
        custom_id: device.custom_id,
        outcome,
        metadata: None,
        updates_device: true,
        log: true,
    }
}

/// The size of the files a device still needs for a delta update.
pub async fn manifest_size(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let (device, obj) = device_body(req)?;
    state
        .limits
        .check_device(&device.app_id, &device.device_id)?;
    let version = match obj.get("version") {
        Some(Value::String(v)) if !v.is_empty() && v.len() <= 64 => v.clone(),
        _ => {
            return Err(ApiError::bad_request(
                Code::InvalidJsonBody,
                "`version` (the bundle version) is required",
            ));
        }
    };
    let wanted = match obj.get("manifest") {
        Some(Value::Array(items)) if items.len() <= 10_000 => items,
        _ => {
            return Err(ApiError::bad_request(
                Code::InvalidJsonBody,
                "`manifest` must be an array of {file_name, file_hash}",
            ));
        }
    };
    if state.store.get_app(&device.app_id).await?.is_none() {
        return Err(on_premise_app(&device.app_id));
    }
    let bundle = state
        .store
        .get_bundle(&device.app_id, &version)
        .await?
        .filter(Bundle::is_ready);
    let files = bundle.as_ref().and_then(|b| b.manifest.as_ref());
    let mut out = Vec::with_capacity(wanted.len());
    let (mut total, mut known) = (0u64, 0u64);
    for item in wanted {
        let (Some(name), Some(hash)) = (
            item.get("file_name").and_then(Value::as_str),
            item.get("file_hash").and_then(Value::as_str),
        ) else {
            return Err(ApiError::bad_request(
                Code::InvalidJsonBody,
                "each manifest entry needs string `file_name` and `file_hash`",
            ));
        };
        match files.and_then(|fs| fs.iter().find(|f| f.file_hash == hash)) {
            Some(f) => {
                known += 1;
                total += f.size;
                out.push(FileSize {
                    file_name: name.to_string(),
                    file_hash: hash.to_string(),
                    download_url: Some(
                        state
                            .storage
                            .downloads
                            .download_url(&f.storage_key(&device.app_id))
                            .await?,
                    ),
                    size: Some(f.size),
                    error: None,
                });
            }
            None => out.push(FileSize {
                file_name: name.to_string(),
                file_hash: hash.to_string(),
                download_url: None,
                size: None,
                error: Some("size_unknown"),
            }),
        }
    }
    Ok(ok(&ManifestSizes {
        total_size: total,
        known_files: known,
        unknown_files: wanted.len() as u64 - known,
        files: out,
    }))
}
