//! Version rules of the protocol: native-version normalisation and the plugin-version gates.

use semver::Version;

/// Normalises a native `version_build` the way the plugin's backends do:
/// `1` → `1.0.0`, `1.2` → `1.2.0`, `builtin`/`unknown` → `0.0.0`, a leading `v` allowed.
pub fn normalize_native(raw: &str) -> Option<Version> {
    let s = raw.trim();
    if s.eq_ignore_ascii_case("builtin") || s.eq_ignore_ascii_case("unknown") {
        return Some(Version::new(0, 0, 0));
    }
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    if let Ok(v) = Version::parse(s) {
        return Some(v);
    }
    // Pad a short core (`1`, `1.2`) while keeping any pre-release or build suffix.
    let core_end = s.find(['-', '+']).unwrap_or(s.len());
    let (core, suffix) = s.split_at(core_end);
    let dots = core.matches('.').count();
    let padded = match dots {
        0 => format!("{core}.0.0{suffix}"),
        1 => format!("{core}.0{suffix}"),
        _ => return None,
    };
    Version::parse(&padded).ok()
}

/// A plugin version as sent; lenient like the device: `v8.1.0` and `8.1` are accepted.
pub fn parse_plugin(raw: &str) -> Option<Version> {
    normalize_native(raw).filter(|_| !raw.trim().is_empty())
}

fn at_least(v: &Version, major: u64, minor: u64, patch: u64) -> bool {
    (v.major, v.minor, v.patch) >= (major, minor, patch)
}

/// Plugins that keep their channel choice locally (≥ 5.34 / 6.34 / 7.34 / 8.0).
pub fn keeps_channel_locally(plugin: &Version) -> bool {
    match plugin.major {
        0..=4 => false,
        5..=7 => plugin.minor >= 34,
        _ => true,
    }
}

/// Plugins that understand a delta-update `manifest` (≥ 5.10.0 / 6.25.0 / 7.0.35 / any 8.x).
pub fn supports_manifest(plugin: &Version) -> bool {
    match plugin.major {
        0..=4 => false,
        5 => at_least(plugin, 5, 10, 0),
        6 => at_least(plugin, 6, 25, 0),
        7 => at_least(plugin, 7, 0, 35),
        _ => true,
    }
}

/// Plugins that show `link` and `comment` (≥ 8.35.0, or 5.35/6.35/7.35), pre-releases excluded.
pub fn supports_metadata(plugin: &Version) -> bool {
    if !plugin.pre.is_empty() {
        return false;
    }
    match plugin.major {
        0..=4 => false,
        5..=8 => plugin.minor >= 35,
        _ => true,
    }
}

/// Plugins that enforce `key_id` and so need `key_id_mismatch` (> 8.40.7).
pub fn checks_key_id(plugin: &Version) -> bool {
    (plugin.major, plugin.minor, plugin.patch) > (8, 40, 7)
}

/// Older plugins send `download_fail` on every "no update": such reports are not failures.
pub fn download_fail_is_real(plugin: &Version) -> bool {
    at_least(plugin, 7, 17, 0) || (plugin.major == 6 && at_least(plugin, 6, 14, 25))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn native_normalisation() {
        let cases = [
            ("1", Some("1.0.0")),
            ("1.2", Some("1.2.0")),
            ("1.2.3", Some("1.2.3")),
            ("v2.0.1", Some("2.0.1")),
            ("builtin", Some("0.0.0")),
            ("unknown", Some("0.0.0")),
            ("1.2-beta.1", Some("1.2.0-beta.1")),
            ("1.2.3.4", None),
            ("abc", None),
            ("", None),
            ("1.02.0", None),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_native(raw), want.map(v), "{raw}");
        }
    }

    #[test]
    fn plugin_gates() {
        assert!(!keeps_channel_locally(&v("7.33.9")));
        assert!(keeps_channel_locally(&v("7.34.0")));
        assert!(keeps_channel_locally(&v("8.0.0")));
        assert!(!keeps_channel_locally(&v("4.99.0")));
        assert!(!supports_manifest(&v("6.24.9")));
        assert!(supports_manifest(&v("6.25.0")));
        assert!(!supports_manifest(&v("7.0.34")));
        assert!(supports_manifest(&v("7.0.35")));
        assert!(supports_manifest(&v("8.0.0")));
        assert!(supports_metadata(&v("8.35.0")));
        assert!(!supports_metadata(&v("8.34.9")));
        assert!(!supports_metadata(&v("8.35.0-beta.1")));
        assert!(supports_metadata(&v("7.35.1")));
        assert!(checks_key_id(&v("8.40.8")));
        assert!(!checks_key_id(&v("8.40.7")));
        assert!(!download_fail_is_real(&v("7.16.9")));
        assert!(download_fail_is_real(&v("7.17.0")));
        assert!(download_fail_is_real(&v("6.14.25")));
        assert!(!download_fail_is_real(&v("6.14.24")));
        assert!(!download_fail_is_real(&v("5.99.0")));
    }
}
