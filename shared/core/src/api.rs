//! The management API's request and answer bodies that are not domain records: what the
//! handlers read and write, and what the CLI sends and reads. (Apps, channels, bundles, keys,
//! device events and daily stats travel as their domain types: `App`, `Channel`, `Bundle`,
//! `ApiKey`, `DeviceEvent`, `DailyStat`.)

use serde::{Deserialize, Serialize};

use crate::blobs::UploadTicket;
use crate::bundle::BundleStatus;
use crate::channel::{AutoUpdateRule, Channel};
use crate::health::AutoRollback;
use crate::key::{ApiKey, Mode};

/// `POST /v1/apps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// Reverse-domain id, as in `capacitor.config` (`appId`).
    #[schema(schema_with = crate::openapi::app_id)]
    pub app_id: String,
    /// Defaults to the app id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub expose_metadata: bool,
}

/// `PATCH /v1/apps/{app_id}`: the fields to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_metadata: Option<bool>,
    /// An `https` URL told about every change of what the app's channels serve (a new
    /// signing secret comes back in this answer only); `null` removes it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub webhook: Option<Option<String>>,
}

/// `POST /v1/apps/{app_id}/channels` (where `name` is required) and
/// `PATCH /v1/apps/{app_id}/channels/{channel}`: the fields a client may set; an absent field keeps
/// its value (or the protocol's default, on creation). Ids and timestamps are the server's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelFields {
    /// Required on creation; on a change, the channel's own name or absent (no renames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", examples("production"))]
    pub name: Option<String>,
    /// The default channel: devices with no other assignment get it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ios: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electron: Option<bool>,
    /// Devices may pick this channel themselves (`/channel_self`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_device_self_set: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_emulator: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_device: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_dev: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_prod: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_auto_update: Option<AutoUpdateRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_auto_update_under_native: Option<bool>,
    /// A ready bundle version or `"builtin"`; `null` serves nothing; absent keeps it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub bundle: Option<Option<String>>,
    /// Serve `bundle` although it was rolled back on this channel (it stops counting as
    /// rolled back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repromote: Option<bool>,
    /// Automatic-rollback settings to change; absent ones keep their values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<AutoRollbackFields>,
}

/// Automatic-rollback settings to change (see `AutoRollback`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRollbackFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Basis points of failure rate (lower bound), 1–10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_failures: Option<u32>,
    /// 1–10080.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_minutes: Option<u32>,
}

impl AutoRollbackFields {
    pub fn apply(&self, to: &mut AutoRollback) {
        if let Some(v) = self.enabled {
            to.enabled = v;
        }
        if let Some(v) = self.threshold {
            to.threshold = v;
        }
        if let Some(v) = self.min_failures {
            to.min_failures = v;
        }
        if let Some(v) = self.window_minutes {
            to.window_minutes = v;
        }
    }
}

/// `POST /v1/apps/{app_id}/channels/{channel}/rollout`: serve `bundle` to `share` of the
/// channel's devices. A new target starts a new cohort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutStart {
    pub bundle: String,
    /// Basis points, 0–10000.
    pub share: u16,
    /// Roll out a bundle that was rolled back on this channel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repromote: bool,
}

/// `PATCH /v1/apps/{app_id}/channels/{channel}/rollout`: change the share, pause or resume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutChange {
    /// Basis points, 0–10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// `POST /v1/apps/{app_id}/channels/{channel}/rollback`: abort the rollout, or else serve the
/// previous bundle (or `to`) again. The bundle left is marked rolled back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `GET …/channels/{channel}/status`: what the channel serves, each served version's
/// health over the channel's window, and its latest changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelStatus {
    pub channel: Channel,
    pub health: Vec<VersionHealth>,
    /// Newest first.
    pub history: Vec<crate::history::ChannelChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionHealth {
    pub version: String,
    #[serde(flatten)]
    pub health: crate::health::Health,
    /// Whether these figures cross the channel's automatic-rollback rule.
    pub rolls_back: bool,
}

/// A field that is present, even as `null` (`Some(None)`), as opposed to absent (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl ChannelFields {
    /// The channel with these fields set.
    pub fn apply(&self, channel: &Channel) -> Channel {
        let mut c = channel.clone();
        let set = |field: &mut bool, value: Option<bool>| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(&mut c.public, self.public);
        set(&mut c.ios, self.ios);
        set(&mut c.android, self.android);
        set(&mut c.electron, self.electron);
        set(&mut c.allow_device_self_set, self.allow_device_self_set);
        set(&mut c.allow_emulator, self.allow_emulator);
        set(&mut c.allow_device, self.allow_device);
        set(&mut c.allow_dev, self.allow_dev);
        set(&mut c.allow_prod, self.allow_prod);
        set(
            &mut c.disable_auto_update_under_native,
            self.disable_auto_update_under_native,
        );
        if let Some(rule) = self.disable_auto_update {
            c.disable_auto_update = rule;
        }
        if let Some(bundle) = &self.bundle {
            c.point_at(bundle.clone());
        }
        if let Some(fields) = &self.auto_rollback {
            fields.apply(&mut c.auto_rollback);
        }
        c
    }
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    pub mode: Mode,
    /// `None`: every app the creating key may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<Vec<String>>,
    /// Milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The answer to `POST /v1/keys`: the key, and its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret (`upd_…`); only its hash is stored.
    #[serde(rename = "key")]
    pub secret: String,
}

/// `POST /v1/apps/{app_id}/bundles`: a version to upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBundle {
    /// Semver, unique in the app for ever (a deleted version stays taken).
    #[schema(max_length = 64, examples("1.0.0"))]
    pub version: String,
    /// Bytes of the zip.
    #[schema(minimum = 1, maximum = 2147483648_u64)]
    pub size: u64,
    /// What the plugin verifies: the SHA-256 of the plaintext zip, or the encrypted checksum.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub checksum: String,
    /// SHA-256 of the stored bytes when they differ from `checksum` (encrypted bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_update_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Every file of the build, each stored on its own, for delta updates (plugins that
    /// support them download only the files they lack). Absent: the zip only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Vec<NewFile>>,
}

/// One file of a build in a registration's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFile {
    /// Its path in the bundle (`/`-separated, relative), plus `.br` when the stored bytes
    /// are its Brotli compression.
    pub file_name: String,
    /// SHA-256 hex of the original file.
    pub file_hash: String,
    /// Bytes and SHA-256 hex of what is stored.
    pub size: u64,
    pub sha256: String,
}

/// The answer to a registration: where to PUT the bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegisteredBundle {
    pub version: String,
    pub status: BundleStatus,
    pub upload: UploadTicket,
    /// Upload URLs for the manifest's file objects storage does not hold yet, by their
    /// stored SHA-256; files it holds already (from earlier versions) need no upload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileUpload>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileUpload {
    pub sha256: String,
    pub upload: UploadTicket,
}

/// `POST /v1/apps/{app_id}/files/cleanup`: file objects no bundle lists any more, removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FilesCleaned {
    pub deleted: u64,
    pub kept: u64,
}

/// `PUT /v1/apps/{app_id}/devices/{device_id}/channel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDeviceChannel {
    pub channel: String,
}

/// A device's operator override (`GET`/`PUT …/devices/{device_id}/channel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceChannel {
    pub device_id: String,
    pub channel: Option<String>,
}

/// `POST …/devices/{device_id}/debug`; an empty body takes the default length.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartDebug {
    /// How long the session lasts (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 60)]
    pub minutes: Option<u32>,
}

/// A debug session: until when (ms) the device's update checks are logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DebugSession {
    pub device_id: String,
    pub until: i64,
}

/// `DELETE …/devices/{device_id}/debug`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DebugEnded {
    pub device_id: String,
    pub ended: bool,
}

/// `DELETE …/devices/{device_id}/channel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OverrideDeleted {
    pub device_id: String,
    pub deleted: bool,
}

/// `DELETE /v1/apps/{app_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AppDeleted {
    pub app_id: String,
    pub deleted: bool,
}

/// `DELETE /v1/keys/{key_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyDeleted {
    pub id: String,
    pub deleted: bool,
}

/// `DELETE /v1/apps/{app_id}/channels/{channel}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelDeleted {
    pub name: String,
    pub deleted: bool,
}

/// `DELETE /v1/apps/{app_id}/bundles/{version}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BundleDeleted {
    pub version: String,
    pub deleted: bool,
}
