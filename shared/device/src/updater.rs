//! The HTTP side: update checks, downloads and `/stats` reports, with the same requests
//! and fields as the plugin (the bodies are `updraft_core::protocol`'s types), driving the
//! lifecycle and persisting it before acting on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use updraft_core::device_request::Platform;
use updraft_core::protocol::{ChannelSelfRequest, DeviceRequest, StatsEvent};

use crate::lifecycle::{Bundles, Refused, Report};
use crate::state_file::StateFile;

/// The plugin release whose behaviour this SDK follows, sent as `plugin_version`.
pub const PLUGIN_VERSION: &str = "8.51.23";

/// Who the device is and where it reports, as the plugin's config and device info say.
#[derive(Debug, Clone)]
pub struct Config {
    /// `…/updates`, `…/stats` (empty: no reports).
    pub update_url: String,
    pub stats_url: String,
    /// `…/channel_self` (empty: the device never picks its channel).
    pub channel_url: String,
    pub app_id: String,
    /// A UUID, kept by the app for this install.
    pub device_id: String,
    pub platform: Platform,
    /// The app's own (native) version, semver.
    pub version_build: String,
    pub is_emulator: bool,
    pub is_prod: bool,
    pub default_channel: Option<String>,
    /// How long a new bundle has to call `notify_app_ready` (the plugin's `appReadyTimeout`).
    pub app_ready_timeout: Duration,
    /// Where the app was installed from (the plugin's `install_source`), if the app knows.
    pub install_source: Option<String>,
}

impl Config {
    /// A desktop app (`electron`, the protocol's word for desktop shells) of `app_id`, native
    /// version `version_build`, on the server at `server` (its `/updates`, `/stats` and
    /// `/channel_self`), production build, 10 s to get ready as the plugin's default.
    pub fn new(server: &str, app_id: &str, device_id: &str, version_build: &str) -> Config {
        let server = server.trim_end_matches('/');
        Config {
            update_url: format!("{server}/updates"),
            stats_url: format!("{server}/stats"),
            channel_url: format!("{server}/channel_self"),
            app_id: app_id.to_string(),
            device_id: device_id.to_string(),
            platform: Platform::Electron,
            version_build: version_build.to_string(),
            is_emulator: false,
            is_prod: true,
            default_channel: None,
            app_ready_timeout: Duration::from_secs(10),
            install_source: None,
        }
    }
}

/// Why a step did not happen. Never a panic: any answer a server gives ends up here.
#[derive(Debug)]
pub enum Error {
    /// The server could not be reached or answered outside the protocol.
    Http(String),
    /// The server refused (`{"error": …}` or a 4xx/5xx status).
    Server {
        status: u16,
        error: String,
        message: String,
    },
    /// The download did not verify.
    Refused(Refused),
    /// The bundle folder or the state file could not be written.
    Io(std::io::Error),
    /// The zip could not be unpacked.
    Zip(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Http(e) => write!(f, "no answer from the update server: {e}"),
            Error::Server {
                status,
                error,
                message,
            } => write!(f, "the server refused ({status} {error}): {message}"),
            Error::Refused(r) => write!(f, "the download was refused: {r:?}"),
            Error::Io(e) => write!(f, "cannot write the bundles folder: {e}"),
            Error::Zip(e) => write!(f, "cannot unpack the bundle: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// An update the server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub version: String,
    pub url: String,
    pub checksum: String,
}

/// What an update check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A bundle to download.
    Update(Update),
    /// The server wants the builtin bundle.
    Builtin,
    /// Nothing to do (the server's reason: `no_new_version_available`…).
    Nothing { reason: String },
}

/// The answer to `POST /updates` without `error`, read leniently: unknown fields ignored.
#[derive(Deserialize)]
struct Answer {
    version: Option<String>,
    url: Option<String>,
    checksum: Option<String>,
    message: Option<String>,
}

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

/// A live-update client over one bundles folder.
pub struct Updater {
    config: Config,
    dir: PathBuf,
    http: reqwest::Client,
    file: StateFile,
    state: Mutex<Bundles>,
    /// Reports not sent yet, kept on disk like the plugin's pending-stats file, so a
    /// restart does not lose them.
    reports: Mutex<Vec<Report>>,
}

/// The channel the device picked (`/channel_self`), kept locally as current plugins keep
/// it: sent as `defaultChannel` with every check, and with `PUT /channel_self`.
fn picked_path(dir: &Path) -> PathBuf {
    dir.join("channel")
}

fn picked(dir: &Path) -> Option<String> {
    std::fs::read_to_string(picked_path(dir))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Where unsent reports wait: `[["set", "1.0.1"], …]`.
fn reports_path(dir: &Path) -> PathBuf {
    dir.join("pending-stats.json")
}

fn load_reports(dir: &Path) -> Vec<Report> {
    let pairs: Vec<(String, String)> = std::fs::read(reports_path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    pairs
        .into_iter()
        .filter_map(|(a, version)| {
            Some(Report {
                action: updraft_core::action::Action::parse(&a)?,
                version,
            })
        })
        .collect()
}

fn save_reports(dir: &Path, reports: &[Report]) -> std::io::Result<()> {
    let pairs: Vec<(&str, &str)> = reports
        .iter()
        .map(|r| (r.action.as_str(), r.version.as_str()))
        .collect();
    let tmp = reports_path(dir).with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(&pairs).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, reports_path(dir))
}

impl Updater {
    /// The updater for `dir` (created if missing), its state as saved there.
    pub fn open(config: Config, dir: &Path) -> Result<Updater, Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        std::fs::create_dir_all(dir)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        let file = StateFile::in_dir(dir);
        let state = Mutex::new(file.load());
        let reports = Mutex::new(load_reports(dir));
        Ok(Updater {
            config,
            dir: dir.to_path_buf(),
            http,
            file,
            state,
            reports,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Bundles> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a transition and saves the state before anything acts on it.
    fn step<T>(&self, f: impl FnOnce(&mut Bundles) -> (T, Vec<Report>)) -> Result<T, Error> {
        let mut state = self.state();
        let mut next = state.clone();
        let (out, reports) = f(&mut next);
        self.file.save(&next)?;
        *state = next;
        self.queue(reports)?;
        Ok(out)
    }

    /// Queues reports for the next `/stats` batch, on disk.
    fn queue(&self, reports: Vec<Report>) -> Result<(), Error> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut queue = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        queue.extend(reports);
        // At most the plugin's 200 pending events: the oldest go first.
        let excess = queue.len().saturating_sub(200);
        queue.drain(..excess);
        save_reports(&self.dir, &queue)?;
        Ok(())
    }

    /// The folder the app should load now (`None`: its builtin assets).
    pub fn current_dir(&self) -> Option<PathBuf> {
        self.state().current.as_ref().map(|b| self.dir.join(&b.id))
    }

    /// The lifecycle state, as saved.
    pub fn bundles(&self) -> Bundles {
        self.state().clone()
    }

    fn device(&self) -> DeviceRequest {
        let running = self.state().running().map(str::to_string);
        DeviceRequest {
            app_id: self.config.app_id.clone(),
            device_id: self.config.device_id.clone(),
            platform: self.config.platform,
            version_build: self.config.version_build.clone(),
            version_name: Some(running.unwrap_or_else(|| "builtin".into())),
            version_code: Some(String::new()),
            version_os: Some(std::env::consts::OS.to_string()),
            plugin_version: Some(PLUGIN_VERSION.into()),
            custom_id: Some(String::new()),
            is_emulator: Some(self.config.is_emulator),
            is_prod: Some(self.config.is_prod),
            default_channel: Some(
                picked(&self.dir)
                    .or_else(|| self.config.default_channel.clone())
                    .unwrap_or_default(),
            ),
            install_source: Some(self.config.install_source.clone().unwrap_or_default()),
            key_id: None,
        }
    }

    /// `POST /updates`.
    pub async fn check(&self) -> Result<Check, Error> {
        let url = self.config.update_url.clone();
        let answer = match self
            .device_call(reqwest::Method::POST, url, Some(&self.device()))
            .await
        {
            Ok(v) => v,
            // A 200 with `error` is the protocol's "nothing to do" (`no_new_version_available`…).
            Err(Error::Server {
                status: 200, error, ..
            }) => {
                return Ok(Check::Nothing { reason: error });
            }
            Err(e) => return Err(e),
        };
        let answer: Answer = serde_json::from_value(answer).map_err(|e| Error::Server {
            status: 200,
            error: "not_an_update".into(),
            message: e.to_string(),
        })?;
        Ok(match answer {
            Answer {
                version: Some(v), ..
            } if v == "builtin" => Check::Builtin,
            Answer {
                version: Some(version),
                url: Some(url),
                checksum: Some(checksum),
                ..
            } => Check::Update(Update {
                version,
                url,
                checksum,
            }),
            _ => Check::Nothing {
                reason: answer
                    .message
                    .unwrap_or_else(|| "no update in the answer".into()),
            },
        })
    }

    /// Sends a device request to a device route and reads its JSON answer: a status of 400
    /// or more, or a 200 with `error`, is `Error::Server`.
    async fn device_call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<&impl serde::Serialize>,
    ) -> Result<serde_json::Value, Error> {
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| Error::Http(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| Error::Server {
            status,
            error: "not_json".into(),
            message: String::from_utf8_lossy(&body).chars().take(200).collect(),
        })?;
        if let Some(error) = v.get("error").and_then(|e| e.as_str()) {
            return Err(Error::Server {
                status,
                error: error.to_string(),
                message: v["message"].as_str().unwrap_or("").to_string(),
            });
        }
        if status >= 400 {
            return Err(Error::Server {
                status,
                error: String::new(),
                message: String::new(),
            });
        }
        Ok(v)
    }

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

    /// Downloads `update`'s zip, verifies its SHA-256, unpacks it into a staging folder and
    /// renames that into place, then stages it for the next start.
    pub async fn download(&self, update: &Update) -> Result<(), Error> {
        if !self.state().wants(&update.version) {
            return Ok(());
        }
        let resp = self
            .http
            .get(&update.url)
            .send()
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(Error::Server {
                status,
                error: "download".into(),
                message: format!("GET {} answered {status}", update.url),
            });
        }
        // Progress as the plugin reports it: `download_10` … `download_90` for each tenth
        // the download crosses (`download_complete` comes from the lifecycle).
        let total = resp.content_length().filter(|t| *t > 0);
        let mut resp = resp;
        let mut body = Vec::with_capacity(total.unwrap_or(0).min(256 << 20) as usize);
        let mut reported = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| Error::Http(e.to_string()))? {
            body.extend_from_slice(&chunk);
            let Some(total) = total else { continue };
            let tenth = (body.len() as u64 * 100 / total) / 10 * 10;
            if tenth > reported && tenth < 100 {
                reported = tenth;
                let action = updraft_core::action::Action::parse(&format!("download_{tenth}"));
                self.queue(
                    action
                        .into_iter()
                        .map(|action| Report {
                            action,
                            version: update.version.clone(),
                        })
                        .collect(),
                )?;
            }
        }
        let got = hex::encode(Sha256::digest(&body));
        let (version, checksum) = (update.version.as_str(), update.checksum.as_str());
        // Refused (checksum, a failed version): reported, and nothing is unpacked.
        let accepted = self.state().accepts(version, checksum, &got);
        if let Err((why, reports)) = accepted {
            self.queue(reports)?;
            return Err(Error::Refused(why));
        }
        let id = format!("{}-{}", sanitize(version), &got[..12]);
        let dir = self.dir.clone();
        let unpack_id = id.clone();
        tokio::task::spawn_blocking(move || unpack(&dir, &unpack_id, &body))
            .await
            .map_err(|e| Error::Zip(e.to_string()))??;
        let refused = self.step(|s| match s.downloaded(&id, version, checksum, &got) {
            Ok(r) => (None, r),
            Err((why, r)) => (Some(why), r),
        })?;
        match refused {
            Some(why) => Err(Error::Refused(why)),
            None => Ok(()),
        }
    }

    /// At the app's start: switches to a staged bundle, and returns the folder to load
    /// (`None`: builtin). Call `ready_deadline` `app_ready_timeout` later.
    pub fn start(&self) -> Result<Option<PathBuf>, Error> {
        self.step(|s| s.start())?;
        self.collect_garbage();
        Ok(self.current_dir())
    }

    /// The app loaded fine.
    pub fn notify_app_ready(&self) -> Result<(), Error> {
        self.step(|s| {
            s.ready();
            ((), Vec::new())
        })
    }

    /// The app's ready deadline: rolls back a bundle that never called `notify_app_ready`.
    /// Returns the folder to load instead, if it changed.
    pub fn ready_deadline(&self) -> Result<Option<Option<PathBuf>>, Error> {
        let changed = self.step(|s| s.ready_timeout())?;
        Ok(changed.map(|b| b.map(|b| self.dir.join(b.id))))
    }

    /// Sends the reports waiting, as one `/stats` batch (the plugin flushes its queue every
    /// second). On failure they wait for the next flush.
    pub async fn flush_stats(&self) -> Result<usize, Error> {
        let waiting: Vec<Report> =
            std::mem::take(&mut *self.reports.lock().unwrap_or_else(|e| e.into_inner()));
        if waiting.is_empty() || self.config.stats_url.is_empty() {
            return Ok(0);
        }
        let events: Vec<StatsEvent> = waiting
            .iter()
            .map(|r| {
                let mut device = self.device();
                device.version_name = Some(r.version.clone());
                StatsEvent {
                    device,
                    action: r.action.as_str().to_string(),
                    old_version_name: Some(String::new()),
                    metadata: None,
                    timestamp: Some(updraft_core::device::now_ms()),
                }
            })
            .collect();
        let sent = self
            .http
            .post(&self.config.stats_url)
            .json(&events)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                let queue = self.reports.lock().unwrap_or_else(|e| e.into_inner());
                save_reports(&self.dir, &queue)?;
                Ok(events.len())
            }
            other => {
                self.reports
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .splice(0..0, waiting);
                Err(match other {
                    Ok(r) => Error::Server {
                        status: r.status().as_u16(),
                        error: "stats".into(),
                        message: "the batch was not taken".into(),
                    },
                    Err(e) => Error::Http(e.to_string()),
                })
            }
        }
    }

    /// Removes bundle folders no state names (failed, replaced, interrupted downloads).
    fn collect_garbage(&self) {
        let keep: Vec<String> = self
            .state()
            .referenced()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() && !keep.contains(&name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// A version as a folder name: letters, digits, dots, dashes.
fn sanitize(version: &str) -> String {
    version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Unpacks `zip` into `dir/.staging-{id}`, complete, then renames it to `dir/{id}`: no state
/// names a folder before it is whole. Entries that would land outside the folder are refused.
fn unpack(dir: &Path, id: &str, zip: &[u8]) -> Result<(), Error> {
    let target = dir.join(id);
    if target.exists() {
        return Ok(());
    }
    let staging = dir.join(format!(".staging-{id}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| Error::Zip(e.to_string()))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| Error::Zip(e.to_string()))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(Error::Zip(format!(
                "entry {} leaves the bundle folder",
                entry.name()
            )));
        };
        let path = staging.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&path)?;
        std::io::copy(&mut entry, &mut out)?;
        out.flush()?;
        out.sync_all()?;
    }
    std::fs::rename(&staging, &target)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}
