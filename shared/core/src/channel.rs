//! A channel: a named stream of bundles (production, beta…) with the rules that gate it.

use serde::{Deserialize, Serialize};

use crate::device_request::{DeviceInfo, Platform};
use crate::health::AutoRollback;
use crate::rollout::Rollout;

/// How many bundles a channel remembers having served (its rollback targets).
pub const PREVIOUS_KEPT: usize = 10;

/// Which version jumps a channel refuses to deliver automatically, relative to the native version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoUpdateRule {
    #[default]
    Major,
    Minor,
    Patch,
    /// Each bundle says the lowest native version it needs (`min_update_version`).
    #[serde(alias = "metadata")]
    VersionNumber,
    None,
}

impl AutoUpdateRule {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoUpdateRule::Major => "major",
            AutoUpdateRule::Minor => "minor",
            AutoUpdateRule::Patch => "patch",
            AutoUpdateRule::VersionNumber => "version_number",
            AutoUpdateRule::None => "none",
        }
    }
}

/// The bundle name that sends devices back to the one inside the native app.
pub const BUILTIN: &str = "builtin";

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub public: bool,
    #[serde(default = "yes")]
    pub ios: bool,
    #[serde(default = "yes")]
    pub android: bool,
    #[serde(default = "yes")]
    pub electron: bool,
    #[serde(default)]
    pub allow_device_self_set: bool,
    #[serde(default = "yes")]
    pub allow_emulator: bool,
    #[serde(default = "yes")]
    pub allow_device: bool,
    #[serde(default = "yes")]
    pub allow_dev: bool,
    #[serde(default = "yes")]
    pub allow_prod: bool,
    #[serde(default)]
    pub disable_auto_update: AutoUpdateRule,
    #[serde(default = "yes")]
    pub disable_auto_update_under_native: bool,
    /// A ready bundle version, `"builtin"`, or none (devices get `no_bundle`).
    #[serde(default)]
    pub bundle: Option<String>,
    /// A staged rollout of another bundle to part of the channel's devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    #[serde(default)]
    pub auto_rollback: AutoRollback,
    /// Bundles served before, newest last: where a rollback goes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<String>,
    /// Versions rolled back on this channel: no automatic path serves them again until an
    /// operator explicitly re-promotes one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_back: Vec<String>,
    /// Moves with every write; a write must name the revision it read, so two operators'
    /// changes never interleave.
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub updated_at: i64,
}

impl Channel {
    /// A channel with the protocol's defaults.
    pub fn new(name: &str) -> Self {
        Channel {
            id: 0,
            name: name.to_string(),
            public: false,
            ios: true,
            android: true,
            electron: true,
            allow_device_self_set: false,
            allow_emulator: true,
            allow_device: true,
            allow_dev: true,
            allow_prod: true,
            disable_auto_update: AutoUpdateRule::Major,
            disable_auto_update_under_native: true,
            bundle: None,
            rollout: None,
            auto_rollback: AutoRollback::default(),
            previous: Vec::new(),
            rolled_back: Vec::new(),
            revision: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// The bundle (version or `builtin`) this device gets: the rollout's target when the
    /// device is in its cohort, else the stable bundle.
    pub fn serves(&self, device: &DeviceInfo) -> Option<&str> {
        match &self.rollout {
            Some(r) if r.includes(&device.device_id, &device.version_name) => Some(&r.bundle),
            _ => self.bundle.as_deref(),
        }
    }

    /// Every bundle version the channel may send: its stable one and its rollout's target.
    pub fn versions_in_use(&self) -> impl Iterator<Item = &str> {
        self.bundle_version()
            .into_iter()
            .chain(self.rollout.as_ref().map(|r| r.bundle.as_str()))
    }

    /// Makes `bundle` the stable bundle, remembering the one it replaces. A rollout of that
    /// bundle is thereby complete.
    pub fn point_at(&mut self, bundle: Option<String>) {
        if self.bundle == bundle {
            return;
        }
        if let Some(old) = self.bundle.take() {
            self.previous.retain(|v| *v != old);
            self.previous.push(old);
            if self.previous.len() > PREVIOUS_KEPT {
                self.previous.remove(0);
            }
        }
        if self
            .rollout
            .as_ref()
            .is_some_and(|r| Some(&r.bundle) == bundle.as_ref())
        {
            self.rollout = None;
        }
        self.bundle = bundle;
    }

    /// Whether `version` was rolled back on this channel.
    pub fn was_rolled_back(&self, version: &str) -> bool {
        self.rolled_back.iter().any(|v| v == version)
    }

    pub fn enabled_for(&self, platform: Platform) -> bool {
        match platform {
            Platform::Ios => self.ios,
            Platform::Android => self.android,
            Platform::Electron => self.electron,
        }
    }

    /// Two channels clash as "public" when both are public on a platform they share.
    pub fn shares_platform_with(&self, other: &Channel) -> bool {
        (self.ios && other.ios)
            || (self.android && other.android)
            || (self.electron && other.electron)
    }

    /// The version a channel serves, unless it is builtin or empty.
    pub fn bundle_version(&self) -> Option<&str> {
        self.bundle.as_deref().filter(|b| *b != BUILTIN)
    }
}

/// Channel names appear in URLs and CLI arguments: keep them plain.
pub fn is_valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
