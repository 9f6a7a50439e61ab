//! The management API's request and answer bodies that are not domain records: what the
//! handlers read and write, and what the CLI sends and reads. (Apps, channels, bundles, keys,
//! device events and daily stats travel as their domain types: `App`, `Channel`, `Bundle`,
//! `ApiKey`, `DeviceEvent`, `DailyStat`.)

use serde::{Deserialize, Serialize};

use crate::blobs::UploadTicket;
use crate::bundle::BundleStatus;
use crate::key::{ApiKey, Mode};

/// `POST /v1/apps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    pub app_id: String,
    /// Defaults to the app id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub expose_metadata: bool,
}

/// `PATCH /v1/apps/{app}`: the fields to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_metadata: Option<bool>,
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret (`upd_…`); only its hash is stored.
    #[serde(rename = "key")]
    pub secret: String,
}

/// `POST /v1/apps/{app}/bundles`: a version to upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBundle {
    pub version: String,
    pub size: u64,
    /// What the plugin verifies: the SHA-256 of the plaintext zip, or the encrypted checksum.
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
}

/// The answer to a registration: where to PUT the bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredBundle {
    pub version: String,
    pub status: BundleStatus,
    pub upload: UploadTicket,
}

/// `PUT /v1/apps/{app}/devices/{device}/channel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDeviceChannel {
    pub channel: String,
}

/// A device's operator override (`GET`/`PUT …/devices/{device}/channel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceChannel {
    pub device_id: String,
    pub channel: Option<String>,
}

/// `POST …/devices/{device}/debug`; an empty body takes the default length.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartDebug {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

/// A debug session: until when (ms) the device's update checks are logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebugSession {
    pub device_id: String,
    pub until: i64,
}

/// `DELETE …/devices/{device}/debug`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebugEnded {
    pub device_id: String,
    pub ended: bool,
}

/// `DELETE …/devices/{device}/channel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideDeleted {
    pub device_id: String,
    pub deleted: bool,
}

/// `DELETE /v1/apps/{app}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppDeleted {
    pub app_id: String,
    pub deleted: bool,
}

/// `DELETE /v1/keys/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyDeleted {
    pub id: String,
    pub deleted: bool,
}

/// `DELETE /v1/apps/{app}/channels/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelDeleted {
    pub name: String,
    pub deleted: bool,
}

/// `DELETE /v1/apps/{app}/bundles/{version}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleDeleted {
    pub version: String,
    pub deleted: bool,
}
