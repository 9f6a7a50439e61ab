//! The update decision: which channel a device follows and what it gets. Pure: no I/O.

use semver::Version;
use serde_json::Value;

use crate::app::App;
use crate::bundle::Bundle;
use crate::channel::{AutoUpdateRule, BUILTIN, Channel};
use crate::code::Code;
use crate::device_request::{DeviceInfo, Platform};
use crate::version::{checks_key_id, supports_manifest, supports_metadata};

/// The channel a device follows and why.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    pub channel: &'a Channel,
    /// Set by an operator (or an old plugin through `/channel_self`): no platform or public filter.
    pub via_override: bool,
}

/// Step 3 of the protocol. `is_live` says whether a channel's bundle still exists:
/// a channel whose bundle is gone counts as absent.
pub fn resolve_channel<'a>(
    channels: &'a [Channel],
    override_channel: Option<&str>,
    default_channel: &str,
    platform: Platform,
    is_live: impl Fn(&Channel) -> bool,
) -> Option<Resolved<'a>> {
    if let Some(name) = override_channel
        && let Some(channel) = channels.iter().find(|c| c.name == name && is_live(c))
    {
        return Some(Resolved {
            channel,
            via_override: true,
        });
    }
    let chosen = crate::eligibility::default_channel(channels, default_channel, platform);
    chosen.filter(|c| is_live(c)).map(|channel| Resolved {
        channel,
        via_override: false,
    })
}

/// Steps 2–8 over an app's channels: the device's channel (its stored one, else the
/// default), the bundle that channel serves it, and the answer. `served` finds a ready
/// bundle by version. Every caller decides through here.
pub fn decide_for<'a>(
    device: &DeviceInfo,
    app: &App,
    channels: &'a [Channel],
    stored_channel: Option<&str>,
    served: impl Fn(&str) -> Option<&'a Bundle>,
) -> Decision<'a> {
    let resolved = resolve_channel(
        channels,
        stored_channel,
        &device.default_channel,
        device.platform,
        |c| c.bundle_version().is_none_or(|v| served(v).is_some()),
    );
    let bundle = resolved
        .and_then(|r| r.channel.serves(device))
        .and_then(&served);
    decide(device, app, resolved, bundle)
}

/// Why a device gets no update: a soft error the plugin reads as "no update".
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: Code,
    pub message: String,
    pub extra: Vec<(&'static str, Value)>,
}

impl Refusal {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    /// The protocol's `kind`: `up_to_date`, `blocked` or `failed`.
    pub fn kind(&self) -> &'static str {
        self.code.kind()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision<'a> {
    /// Send this bundle.
    Update {
        bundle: &'a Bundle,
        with_manifest: bool,
        with_metadata: bool,
    },
    /// Send the bare `{"version":"builtin"}`: current plugins reset to the native bundle.
    RevertToBuiltin,
    NoUpdate(Refusal),
}

fn up_to_date() -> Refusal {
    Refusal::new(Code::NoNewVersionAvailable, "No new version available")
}

/// Steps 2 and 4–8 of the protocol. `bundle` is the ready bundle the channel serves this
/// device (`Channel::serves`), if any.
pub fn decide<'a>(
    device: &DeviceInfo,
    app: &App,
    resolved: Option<Resolved<'_>>,
    bundle: Option<&'a Bundle>,
) -> Decision<'a> {
    if device.plugin_version.as_ref().is_some_and(|p| p.major <= 4) {
        return Decision::NoUpdate(Refusal::new(
            Code::UnsupportedPluginVersion,
            "Plugin versions 4 and older are not supported, update @capgo/capacitor-updater",
        ));
    }
    let Some(Resolved {
        channel,
        via_override,
    }) = resolved
    else {
        return Decision::NoUpdate(Refusal::new(
            Code::NoChannel,
            "No channel serves this device: make a channel public or set defaultChannel",
        ));
    };
    let Some(target) = channel.serves(device) else {
        return Decision::NoUpdate(Refusal::new(Code::NoBundle, "Cannot get bundle"));
    };
    if target == BUILTIN {
        return if device.on_builtin() {
            Decision::NoUpdate(up_to_date())
        } else {
            Decision::RevertToBuiltin
        };
    }
    let Some(bundle) = bundle else {
        return Decision::NoUpdate(Refusal::new(Code::NoBundle, "Cannot get bundle"));
    };
    let plugin = device.plugin_version.as_ref();
    if let (Some(sent), Some(recorded), Some(p)) = (&device.key_id, &bundle.key_id, plugin)
        && sent != recorded
        && checks_key_id(p)
    {
        return Decision::NoUpdate(Refusal::new(
            Code::KeyIdMismatch,
            "The bundle was encrypted with another key than the app's public key",
        ));
    }
    if device.version_name == bundle.version {
        return Decision::NoUpdate(up_to_date());
    }
    if let Some(refusal) = channel_rules(device, channel, via_override, bundle) {
        return Decision::NoUpdate(refusal);
    }
    Decision::Update {
        bundle,
        with_manifest: bundle.manifest.is_some() && plugin.is_some_and(supports_manifest),
        with_metadata: app.expose_metadata
            && (bundle.link.is_some() || bundle.comment.is_some())
            && plugin.is_some_and(supports_metadata),
    }
}

/// Step 7: the channel's flags, in the protocol's order.
fn channel_rules(
    device: &DeviceInfo,
    channel: &Channel,
    via_override: bool,
    bundle: &Bundle,
) -> Option<Refusal> {
    let native = &device.version_build;
    // Version rules compare the bundle with the native version, never with the current bundle.
    let target = if bundle.version == BUILTIN || bundle.version == "unknown" {
        None
    } else {
        Version::parse(&bundle.version).ok()
    };
    if !channel.enabled_for(device.platform) {
        let code = match device.platform {
            Platform::Ios => Code::DisabledPlatformIos,
            Platform::Android => Code::DisabledPlatformAndroid,
            Platform::Electron => Code::DisabledPlatformElectron,
        };
        return Some(Refusal::new(
            code,
            format!(
                "Channel {} is disabled for {}",
                channel.name,
                device.platform.as_str()
            ),
        ));
    }
    let rule = channel.disable_auto_update;
    if let Some(t) = &target
        && rule == AutoUpdateRule::Major
        && t.major > native.major
    {
        let mut r = Refusal::new(
            Code::DisableAutoUpdateToMajor,
            "Cannot upgrade major version",
        );
        r.extra = vec![
            ("major", Value::Bool(true)),
            ("version", Value::String(bundle.version.clone())),
            ("old", Value::String(device.version_name.clone())),
        ];
        return Some(r);
    }
    if !channel.public && !channel.allow_device_self_set && !via_override {
        return Some(Refusal::new(
            Code::CannotUpdateViaPrivateChannel,
            "Cannot update via a private channel",
        ));
    }
    if let Some(t) = &target {
        match rule {
            AutoUpdateRule::Minor if (t.major, t.minor) != (native.major, native.minor) => {
                return Some(Refusal::new(
                    Code::DisableAutoUpdateToMinor,
                    "Cannot upgrade minor version",
                ));
            }
            AutoUpdateRule::Patch
                if (t.major, t.minor, t.patch) != (native.major, native.minor, native.patch) =>
            {
                return Some(Refusal::new(
                    Code::DisableAutoUpdateToPatch,
                    "Cannot upgrade patch version",
                ));
            }
            AutoUpdateRule::VersionNumber => {
                let min = bundle
                    .min_update_version
                    .as_deref()
                    .and_then(|m| Version::parse(m).ok());
                match min {
                    None => {
                        return Some(Refusal::new(
                            Code::MisconfiguredChannel,
                            "The channel compares min_update_version but the bundle has none",
                        ));
                    }
                    Some(min) if min > *native => {
                        return Some(Refusal::new(
                            Code::DisableAutoUpdateToMetadata,
                            format!("The bundle needs native version {min} or later"),
                        ));
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
        if channel.disable_auto_update_under_native && *t < *native {
            return Some(Refusal::new(
                Code::DisableAutoUpdateUnderNative,
                "Cannot revert under native version",
            ));
        }
    }
    // Build and device kind, each allowed or not by the channel.
    let rules = [
        (
            device.is_prod && !channel.allow_prod,
            Code::DisableProdBuild,
            "Cannot update production builds on this channel",
        ),
        (
            !device.is_prod && !channel.allow_dev,
            Code::DisableDevBuild,
            "Cannot update development builds on this channel",
        ),
        (
            !device.is_emulator && !channel.allow_device,
            Code::DisableDevice,
            "Cannot update physical devices on this channel",
        ),
        (
            device.is_emulator && !channel.allow_emulator,
            Code::DisableEmulator,
            "Cannot update emulators on this channel",
        ),
    ];
    rules
        .into_iter()
        .find(|(blocked, _, _)| *blocked)
        .map(|(_, code, msg)| Refusal::new(code, msg))
}
