//! `/channel_self`: the channels a device may pick, picking one, reading and leaving it.
//! The pick is kept locally as current plugins keep it: sent as `defaultChannel` with
//! every check, and with `PUT /channel_self`.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use updraft_core::protocol::ChannelSelfRequest;

use crate::updater::{Error, PLUGIN_VERSION, Updater};

/// A channel a device may pick (`GET /channel_self`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SelfChannel {
    pub name: String,
    pub public: bool,
    pub allow_self_set: bool,
}

/// The channel the device is on as the server sees it (`PUT /channel_self`): the one it
/// picked, else the default; and whether it may pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelState {
    pub channel: Option<String>,
    pub allow_set: bool,
}

fn picked_path(dir: &Path) -> PathBuf {
    dir.join("channel")
}

/// The channel this device picked, if any.
pub(crate) fn picked(dir: &Path) -> Option<String> {
    std::fs::read_to_string(picked_path(dir))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Updater {
    fn channel_body(&self, channel: Option<&str>) -> ChannelSelfRequest {
        ChannelSelfRequest {
            device: self.device(),
            channel: channel.map(str::to_string),
        }
    }

    /// The channels this device may pick (`GET /channel_self`).
    pub async fn channels(&self) -> Result<Vec<SelfChannel>, Error> {
        let d = self.device();
        let platform = d.platform.as_str();
        let query = [
            ("app_id", d.app_id.as_str()),
            ("platform", platform),
            ("device_id", d.device_id.as_str()),
            (
                "version_name",
                d.version_name.as_deref().unwrap_or("builtin"),
            ),
            ("version_build", d.version_build.as_str()),
            ("plugin_version", PLUGIN_VERSION),
            (
                "is_emulator",
                if self.config.is_emulator {
                    "true"
                } else {
                    "false"
                },
            ),
            (
                "is_prod",
                if self.config.is_prod { "true" } else { "false" },
            ),
        ];
        let url = reqwest::Url::parse_with_params(&self.config.channel_url, query)
            .map_err(|e| Error::Http(e.to_string()))?;
        let v = self
            .device_call(reqwest::Method::GET, url.to_string(), None::<&()>)
            .await?;
        serde_json::from_value(v).map_err(|e| Error::Server {
            status: 200,
            error: "not_a_channel_list".into(),
            message: e.to_string(),
        })
    }

    /// Picks `channel` for this device (`POST /channel_self`).
    pub async fn set_channel(&self, channel: &str) -> Result<(), Error> {
        let body = self.channel_body(Some(channel));
        self.device_call(
            reqwest::Method::POST,
            self.config.channel_url.clone(),
            Some(&body),
        )
        .await?;
        std::fs::write(picked_path(&self.dir), channel)?;
        Ok(())
    }

    /// The channel the device is on (`PUT /channel_self`, sending the one it picked).
    pub async fn channel(&self) -> Result<ChannelState, Error> {
        let body = self.channel_body(picked(&self.dir).as_deref());
        let v = self
            .device_call(
                reqwest::Method::PUT,
                self.config.channel_url.clone(),
                Some(&body),
            )
            .await?;
        Ok(ChannelState {
            channel: v["channel"].as_str().map(str::to_string),
            allow_set: v["allowSet"].as_bool().unwrap_or(false),
        })
    }

    /// Goes back to the default channel (`DELETE /channel_self`).
    pub async fn unset_channel(&self) -> Result<(), Error> {
        let body = self.channel_body(None);
        self.device_call(
            reqwest::Method::DELETE,
            self.config.channel_url.clone(),
            Some(&body),
        )
        .await?;
        match std::fs::remove_file(picked_path(&self.dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}
