//! The device protocol's bodies as types: what the plugin sends (`DeviceRequest`, the shape
//! `device_request::parse_device` reads field by field to answer the protocol's error codes in
//! its order) and what the device routes answer. The OpenAPI document is generated from them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::code::Code;

/// What the updater plugin sends about itself with every request (see device-protocol.md).
/// Unknown fields are ignored: plugins add fields over time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceRequest {
    #[schema(schema_with = crate::openapi::app_id)]
    pub app_id: String,
    /// The plugin's UUID for this install (any case; stored lowercased).
    #[schema(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        examples("6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f")
    )]
    pub device_id: String,
    pub platform: crate::device_request::Platform,
    /// The native app's version (semver; `1.2` is read as `1.2.0`). Required by update
    /// checks and `/channel_self`.
    #[schema(
        max_length = 256,
        pattern = r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$",
        examples("1.0.0")
    )]
    pub version_build: String,
    /// The bundle running now, or `builtin`.
    #[schema(max_length = 256, examples("1.0.0", "builtin"))]
    pub version_name: Option<String>,
    #[schema(max_length = 256)]
    pub version_code: Option<String>,
    #[schema(max_length = 256)]
    pub version_os: Option<String>,
    /// The plugin's own version (semver).
    #[schema(
        max_length = 64,
        pattern = r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$",
        examples("8.51.23")
    )]
    pub plugin_version: Option<String>,
    /// Chosen by the app's developer (at most 36 characters on `/stats`).
    #[schema(max_length = 256)]
    pub custom_id: Option<String>,
    pub is_emulator: Option<bool>,
    pub is_prod: Option<bool>,
    /// The channel the app's config names (`defaultChannel`).
    #[serde(rename = "defaultChannel")]
    #[schema(max_length = 64)]
    pub default_channel: Option<String>,
    /// Where the app was installed from (e.g. `com.android.vending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub install_source: Option<String>,
    /// The id of the public key the app decrypts bundles with, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub key_id: Option<String>,
}

/// `POST /updates` when there is a bundle to download.
// Borrowed from the bundle: the hot path copies no string into it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdateAvailable<'a> {
    pub version: &'a str,
    /// Where to download the zip (signed when signing is on).
    pub url: String,
    /// What the plugin verifies the download against.
    pub checksum: &'a str,
    /// Empty unless the bundle is encrypted.
    pub session_key: &'a str,
    /// The bundle's files, for plugins that download file by file (delta updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Vec<ManifestFile<'a>>>,
    /// Only when the app exposes metadata to devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<&'a str>,
}

/// One file of an update's manifest.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManifestFile<'a> {
    pub file_name: &'a str,
    pub file_hash: &'a str,
    pub download_url: String,
}

/// `POST /updates` when the device must go back to the bundle inside the native app.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevertToBuiltin {
    /// Always `builtin`.
    #[schema(examples("builtin"))]
    pub version: &'static str,
}

/// An answer with status 200 that carries `error`: "no update" (or "not done") with the
/// reason; the plugin does not retry it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SoftError {
    pub error: Code,
    pub message: String,
    /// For update checks: which rule refused (`disable_auto_update`, `platform`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Every error body: `{"error": CODE, "message": TEXT}`, sometimes with more fields.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: Code,
    /// What went wrong, for people.
    pub message: String,
}

/// `POST /stats` (and `/channel_self` set and unset): done.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsReply {
    /// Always `ok`.
    pub status: &'static str,
    /// For a batch: each event's fate, by its index in the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<StatsResult>>,
}

impl StatsReply {
    pub fn ok() -> Self {
        StatsReply {
            status: "ok",
            results: None,
        }
    }
}

/// One event of a `/stats` batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsResult {
    /// `ok` or `error`.
    #[schema(examples("ok", "error"))]
    pub status: &'static str,
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Code>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST`/`PUT /channel_self`: the device's channel, or that its choice was taken.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelChoice {
    /// `ok` (choice taken), `override` (a stored assignment), `default` (the default channel).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Whether the device may change it itself.
    #[serde(rename = "allowSet", skip_serializing_if = "Option::is_none")]
    pub allow_set: Option<bool>,
}

impl ChannelChoice {
    /// The device's choice was taken (or there was nothing to do).
    pub fn taken(allow_set: Option<bool>) -> Self {
        ChannelChoice {
            status: "ok",
            channel: None,
            allow_set,
        }
    }
    /// The device's stored channel.
    pub fn stored(channel: String, allow_set: bool) -> Self {
        ChannelChoice {
            status: "override",
            channel: Some(channel),
            allow_set: Some(allow_set),
        }
    }
}

/// `GET /channel_self`: a channel the device may pick.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SelfChannel {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub allow_self_set: bool,
}

/// `POST /updates/manifest_size`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManifestSizes {
    /// Bytes to download for the files whose size is known.
    #[serde(rename = "totalSize")]
    pub total_size: u64,
    #[serde(rename = "knownFiles")]
    pub known_files: u64,
    #[serde(rename = "unknownFiles")]
    pub unknown_files: u64,
    pub files: Vec<FileSize>,
}

/// One file asked about in `POST /updates/manifest_size`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileSize {
    pub file_name: String,
    pub file_hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// `size_unknown` when the server has no such file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// `POST /stats`: one event (or a batch of up to 200 of them).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsEvent {
    #[serde(flatten)]
    pub device: DeviceRequest,
    /// What happened (`set`, `update_fail`, `download_40`…); unknown words are refused.
    #[schema(max_length = 64, examples("set"))]
    pub action: String,
    /// The bundle the device left, for `set`.
    #[schema(max_length = 256)]
    pub old_version_name: Option<String>,
    /// Free-form details; at most 4 KiB of it is kept. Absent, as the plugin sends it, when
    /// there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// When it happened on the device (ms since the epoch), as the plugin sends it; the
    /// server keeps its own time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// `POST`/`PUT`/`DELETE /channel_self`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelSelfRequest {
    #[serde(flatten)]
    pub device: DeviceRequest,
    /// The channel to pick (`POST`), or the one the app believes it is on (`PUT`).
    #[schema(max_length = 64)]
    pub channel: Option<String>,
}

/// `POST /updates/manifest_size`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ManifestSizeRequest {
    #[serde(flatten)]
    pub device: DeviceRequest,
    /// The bundle version the files belong to.
    #[schema(max_length = 64)]
    pub version: String,
    /// The files the device lacks (at most 10,000).
    pub manifest: Vec<FileRef>,
}

/// A file named by a device.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileRef {
    pub file_name: String,
    pub file_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_request::{Platform, Strictness, into_object, parse_device};

    /// The documented request is the one the parser reads: every field, under its
    /// documented name, lands in the parsed device.
    #[test]
    fn every_documented_device_field_is_read_by_the_parser() {
        let sent = DeviceRequest {
            app_id: "com.example.app".into(),
            device_id: "6AAB1F2B-6B2A-4F4C-9D4B-1A2B3C4D5E6F".into(),
            platform: Platform::Android,
            version_build: "2.1.0".into(),
            version_name: Some("1.4.0".into()),
            version_code: Some("21".into()),
            version_os: Some("14".into()),
            plugin_version: Some("8.51.23".into()),
            custom_id: Some("user-7".into()),
            is_emulator: Some(true),
            is_prod: Some(false),
            default_channel: Some("beta".into()),
            install_source: Some("com.android.vending".into()),
            key_id: Some("a1b2c3d4".into()),
        };
        let obj = into_object(serde_json::to_value(&sent).unwrap()).unwrap();
        let d = parse_device(&obj, Strictness::Check).unwrap();
        assert_eq!(d.app_id, sent.app_id);
        assert_eq!(d.device_id, sent.device_id.to_ascii_lowercase());
        assert_eq!(d.platform, Platform::Android);
        assert_eq!(d.native(), "2.1.0");
        assert_eq!(d.version_name, "1.4.0");
        assert_eq!(d.version_code, "21");
        assert_eq!(d.version_os, "14");
        assert_eq!(d.plugin_version.unwrap().to_string(), "8.51.23");
        assert_eq!(d.custom_id, "user-7");
        assert!(d.is_emulator && !d.is_prod);
        assert_eq!(d.default_channel, "beta");
        assert_eq!(d.install_source.as_deref(), Some("com.android.vending"));
        assert_eq!(d.key_id.as_deref(), Some("a1b2c3d4"));
    }
}
