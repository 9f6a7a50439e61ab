//! Every error code the API and the device protocol answer with, once: `{"error": CODE}`.
//! Handlers, adapters and the decision name a variant; the wire sees its word.

use serde::{Serialize, Serializer};

macro_rules! codes {
    ($($variant:ident => $word:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &[Code] = &[$(Code::$variant,)*];

            /// The protocol's word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $word,)*
                }
            }
        }
    };
}

codes! {
    AlreadyOnBuiltin => "already_on_builtin",
    AppExists => "app_exists",
    BundleDeleted => "bundle_deleted",
    BundleInUse => "bundle_in_use",
    BundleNotReady => "bundle_not_ready",
    BundleRolledBack => "bundle_rolled_back",
    CannotOverride => "cannot_override",
    CannotUpdateViaPrivateChannel => "cannot_update_via_private_channel",
    ChannelExists => "channel_exists",
    ChannelNotFound => "channel_not_found",
    ChannelSelfSetNotAllowed => "channel_self_set_not_allowed",
    ConcurrentUpdate => "concurrent_update",
    DisableAutoUpdateToMajor => "disable_auto_update_to_major",
    DisableAutoUpdateToMetadata => "disable_auto_update_to_metadata",
    DisableAutoUpdateToMinor => "disable_auto_update_to_minor",
    DisableAutoUpdateToPatch => "disable_auto_update_to_patch",
    DisableAutoUpdateUnderNative => "disable_auto_update_under_native",
    DisableDevBuild => "disable_dev_build",
    DisableDevice => "disable_device",
    DisableEmulator => "disable_emulator",
    DisableProdBuild => "disable_prod_build",
    DisabledPlatformAndroid => "disabled_platform_android",
    DisabledPlatformElectron => "disabled_platform_electron",
    DisabledPlatformIos => "disabled_platform_ios",
    Forbidden => "forbidden",
    InvalidAppId => "invalid_app_id",
    InvalidChannelName => "invalid_channel_name",
    InvalidChecksum => "invalid_checksum",
    InvalidDeviceId => "invalid_device_id",
    InvalidExpiry => "invalid_expiry",
    InvalidJsonBody => "invalid_json_body",
    RequestTimeout => "request_timeout",
    IncompleteBody => "incomplete_body",
    Expired => "expired",
    StorageError => "storage_error",
    SizeMismatch => "size_mismatch",
    ChecksumMismatch => "checksum_mismatch",
    InvalidSessionKey => "invalid_session_key",
    InvalidShare => "invalid_share",
    InvalidAutoRollback => "invalid_auto_rollback",
    NoRollout => "no_rollout",
    NothingToRollBackTo => "nothing_to_roll_back_to",
    InvalidComment => "invalid_comment",
    InvalidSize => "invalid_size",
    InvalidLink => "invalid_link",
    InvalidManifest => "invalid_manifest",
    InvalidMinUpdateVersion => "invalid_min_update_version",
    InvalidKeyId => "invalid_key_id",
    InvalidJsonParseBody => "invalid_json_parse_body",
    InvalidKey => "invalid_key",
    InvalidKeyHash => "invalid_key_hash",
    InvalidMinutes => "invalid_minutes",
    InvalidName => "invalid_name",
    InvalidPath => "invalid_path",
    InvalidQueryParameters => "invalid_query_parameters",
    InvalidVersion => "invalid_version",
    InvalidWebhook => "invalid_webhook",
    KeyExists => "key_exists",
    KeyIdMismatch => "key_id_mismatch",
    MethodNotAllowed => "method_not_allowed",
    MisconfiguredChannel => "misconfigured_channel",
    MissingAppId => "missing_app_id",
    MissingChannel => "missing_channel",
    MissingDeviceId => "missing_device_id",
    MixedAppIds => "mixed_app_ids",
    NoBundle => "no_bundle",
    NoChannel => "no_channel",
    NoNewVersionAvailable => "no_new_version_available",
    NotFound => "not_found",
    OnPremiseApp => "on_premise_app",
    OwnKey => "own_key",
    PayloadTooLarge => "payload_too_large",
    PublicChannelSelfSetNotAllowed => "public_channel_self_set_not_allowed",
    SemverError => "semver_error",
    ServiceUnavailable => "service_unavailable",
    TooManyRequests => "too_many_requests",
    Unauthorized => "unauthorized",
    UnsupportedPluginVersion => "unsupported_plugin_version",
    UploadMismatch => "upload_mismatch",
    UploadMissing => "upload_missing",
    VersionExists => "version_exists",
    VersionNotFound => "version_not_found",
}

impl Code {
    /// For the update check's soft errors, the protocol's `kind`: `up_to_date`, `blocked`
    /// or `failed` (every other code).
    pub fn kind(self) -> &'static str {
        use Code::*;
        match self {
            AlreadyOnBuiltin | NoNewVersionAvailable => "up_to_date",
            CannotUpdateViaPrivateChannel
            | DisableAutoUpdateToMajor
            | DisableAutoUpdateToMetadata
            | DisableAutoUpdateToMinor
            | DisableAutoUpdateToPatch
            | DisableAutoUpdateUnderNative
            | DisableDevBuild
            | DisableDevice
            | DisableEmulator
            | DisableProdBuild
            | DisabledPlatformAndroid
            | DisabledPlatformElectron
            | DisabledPlatformIos
            | KeyIdMismatch => "blocked",
            _ => "failed",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Tests and clients compare codes with the words they read.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            let w = c.as_str();
            assert!(
                w.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{w}"
            );
            assert!(seen.insert(w), "{w} twice");
        }
    }

    #[test]
    fn kinds_of_the_update_checks_soft_errors() {
        assert_eq!(Code::NoNewVersionAvailable.kind(), "up_to_date");
        assert_eq!(Code::DisableAutoUpdateToMajor.kind(), "blocked");
        assert_eq!(Code::KeyIdMismatch.kind(), "blocked");
        assert_eq!(Code::NoChannel.kind(), "failed");
        assert_eq!(Code::MisconfiguredChannel.kind(), "failed");
        assert_eq!(
            serde_json::json!({"error": Code::TooManyRequests}),
            serde_json::json!({"error": "too_many_requests"})
        );
    }
}
