//! What a device reports to `/stats`, and the events the server logs itself: one enum,
//! serialised to the protocol's words (`set`, `update_fail`, `download_40`…).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! actions {
    ($($variant:ident => $word:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)*
            /// Logged by the server when a device picks its channel through `/channel_self`;
            /// never accepted from a device.
            SetChannel,
        }

        impl Action {
            /// Every action a device may send.
            pub const REPORTED: &[Action] = &[$(Action::$variant,)*];

            /// The protocol's word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $word,)*
                    Action::SetChannel => "setChannel",
                }
            }
        }
    };
}

actions! {
    Set => "set",
    SetFail => "set_fail",
    UpdateFail => "update_fail",
    Delete => "delete",
    Reset => "reset",
    SetNext => "set_next",
    DownloadFail => "download_fail",
    Download0 => "download_0",
    Download10 => "download_10",
    Download20 => "download_20",
    Download30 => "download_30",
    Download40 => "download_40",
    Download50 => "download_50",
    Download60 => "download_60",
    Download70 => "download_70",
    Download80 => "download_80",
    Download90 => "download_90",
    DownloadComplete => "download_complete",
    DownloadZipStart => "download_zip_start",
    DownloadZipComplete => "download_zip_complete",
    DownloadManifestStart => "download_manifest_start",
    DownloadManifestComplete => "download_manifest_complete",
    DownloadManifestFileFail => "download_manifest_file_fail",
    DownloadManifestChecksumFail => "download_manifest_checksum_fail",
    DownloadManifestBrotliFail => "download_manifest_brotli_fail",
    FinishDownloadFail => "finish_download_fail",
    ManifestPathFail => "manifest_path_fail",
    WindowsPathFail => "windows_path_fail",
    CanonicalPathFail => "canonical_path_fail",
    DirectoryPathFail => "directory_path_fail",
    UnzipFail => "unzip_fail",
    LowMemFail => "low_mem_fail",
    DecryptFail => "decrypt_fail",
    ChecksumFail => "checksum_fail",
    ChecksumRequired => "checksum_required",
    SessionKeyRequired => "session_key_required",
    InsufficientDiskSpace => "insufficient_disk_space",
    AppMovedToForeground => "app_moved_to_foreground",
    AppMovedToBackground => "app_moved_to_background",
    AppLaunchStart => "app_launch_start",
    AppLaunchReady => "app_launch_ready",
    AppLaunchTimeout => "app_launch_timeout",
    BlockedByServerUrl => "blocked_by_server_url",
    RateLimitReached => "rate_limit_reached",
    AppCrash => "app_crash",
    AppCrashNative => "app_crash_native",
    AppAnr => "app_anr",
    AppKilledLowMemory => "app_killed_low_memory",
    AppKilledExcessiveResourceUsage => "app_killed_excessive_resource_usage",
    AppInitializationFailure => "app_initialization_failure",
    WebviewJavascriptError => "webview_javascript_error",
    WebviewUnhandledRejection => "webview_unhandled_rejection",
    WebviewResourceError => "webview_resource_error",
    WebviewSecurityPolicyViolation => "webview_security_policy_violation",
    WebviewUncleanRestart => "webview_unclean_restart",
    WebviewRenderProcessGone => "webview_render_process_gone",
    WebviewContentProcessTerminated => "webview_content_process_terminated",
    WebviewDomContentLoaded => "webview_dom_content_loaded",
    WebviewPageLoaded => "webview_page_loaded",
    OsVersionChanged => "os_version_changed",
    NativeAppVersionChanged => "native_app_version_changed",
    Ping => "ping",
    Get => "get",
    Uninstall => "uninstall",
    AppMemoryWarning => "app_memory_warning",
}

impl Action {
    /// Any action by its word, the server's own included (stored events).
    pub fn parse(word: &str) -> Option<Action> {
        if word == Action::SetChannel.as_str() {
            return Some(Action::SetChannel);
        }
        Action::from_device(word)
    }

    /// An action a device may report to `/stats`.
    pub fn from_device(word: &str) -> Option<Action> {
        Action::REPORTED
            .iter()
            .copied()
            .find(|a| a.as_str() == word)
    }

    /// The plugin's failure reports (`set_fail`, `update_fail`, `download_manifest_file_fail`…).
    pub fn is_failure(self) -> bool {
        self.as_str().ends_with("_fail")
    }

    /// `download_0` … `download_90`: the percentage, for progress reports.
    pub fn download_percent(self) -> Option<u32> {
        self.as_str().strip_prefix("download_")?.parse().ok()
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        Action::parse(&word)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown action `{word}`")))
    }
}

impl PartialEq<&str> for Action {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_devices_cannot_send_the_servers_own() {
        for a in Action::REPORTED {
            assert_eq!(Action::from_device(a.as_str()), Some(*a));
            let json = serde_json::to_string(a).unwrap();
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), *a);
        }
        assert_eq!(Action::from_device("setChannel"), None);
        assert_eq!(Action::parse("setChannel"), Some(Action::SetChannel));
        assert_eq!(Action::from_device("teleport"), None);
        assert!(Action::UpdateFail.is_failure() && !Action::Set.is_failure());
        assert_eq!(Action::Download40.download_percent(), Some(40));
        assert_eq!(Action::DownloadComplete.download_percent(), None);
    }
}
