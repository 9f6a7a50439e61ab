//! The HTTP side: update checks, downloads and `/stats` reports, with the same requests
//! and fields as the plugin (the bodies are `updraft_core::protocol`'s types), driving the
//! lifecycle and persisting it before acting on it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use updraft_core::action::Action;
use updraft_core::device_request::Platform;
use updraft_core::protocol::{DeviceRequest, StatsEvent};

use crate::encryption::Key;
use crate::lifecycle::{BUILTIN, Bundles, Refused, Report};
use crate::manifest::ManifestFile;
use crate::reports::Queue;
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
    /// The app's public key (PKCS#1 PEM, the plugin's `publicKey`): with one, only bundles
    /// encrypted for it are accepted, and checks send its `key_id`.
    pub public_key: Option<String>,
    /// The most bytes one download, or one file of a bundle, may take on disk: a server
    /// that sends more (or a decompression bomb) is cut off there.
    pub max_bundle_bytes: u64,
    /// How many manifest files download at once (the plugin: twice the cores, 8 to 64).
    pub parallel_files: usize,
}

impl Config {
    /// A desktop app (`electron`, the protocol's word for desktop shells) of `app_id`, native
    /// version `version_build`, on the server at `server` (its `/updates`, `/stats` and
    /// `/channel_self`), production build, 10 s to get ready as the plugin's default.
    pub fn new(server: &str, app_id: &str, device_id: &str, version_build: &str) -> Config {
        let server = server.trim_end_matches('/');
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
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
            public_key: None,
            max_bundle_bytes: 1 << 30,
            parallel_files: (cores * 2).clamp(8, 64),
        }
    }
}

/// Why a step did not happen. Never a panic: any answer a server gives ends up here.
#[derive(Debug)]
pub enum Error {
    /// The configuration cannot work (a public key that is not one…).
    Config(String),
    /// The server could not be reached or answered outside the protocol.
    Http(String),
    /// The server refused (`{"error": …}` or a 4xx/5xx status).
    Server {
        status: u16,
        error: String,
        message: String,
    },
    /// The download did not verify against the update's checksum, or the version failed
    /// here before.
    Refused(Refused),
    /// The bundle cannot be used: a manifest that is not sound, a file that does not hash
    /// to its entry, bytes that do not decrypt or decompress, too many bytes.
    Bundle(String),
    /// The bundles folder or the state file could not be written.
    Io(std::io::Error),
    /// The zip could not be unpacked.
    Zip(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(e) => write!(f, "the updater's configuration: {e}"),
            Error::Http(e) => write!(f, "no answer from the update server: {e}"),
            Error::Server {
                status,
                error,
                message,
            } => write!(f, "the server refused ({status} {error}): {message}"),
            Error::Refused(r) => write!(f, "the download was refused: {r:?}"),
            Error::Bundle(e) => write!(f, "the bundle cannot be used: {e}"),
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
    /// The zip.
    pub url: String,
    /// The zip's SHA-256 hex; RSA-encrypted when the bundle is.
    pub checksum: String,
    /// Empty unless the bundle is encrypted: base64(IV):base64(encrypted AES key).
    pub session_key: String,
    /// The bundle's files, when the server offers them one by one (delta updates): then
    /// only the files no bundle on disk has are downloaded.
    pub manifest: Vec<ManifestFile>,
}

impl Update {
    /// A plain zip update.
    pub fn zip(version: &str, url: &str, checksum: &str) -> Update {
        Update {
            version: version.into(),
            url: url.into(),
            checksum: checksum.into(),
            session_key: String::new(),
            manifest: Vec::new(),
        }
    }
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

/// What a download did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Downloaded {
    /// The bundle is staged for the next start (false: nothing to do, the version is
    /// running, staged, or failed here before).
    pub staged: bool,
    /// Bytes that came over the network.
    pub received: u64,
    /// Manifest files downloaded, and taken from bundles on disk (0 for a zip).
    pub files_downloaded: usize,
    pub files_reused: usize,
}

/// The answer to `POST /updates` without `error`, read leniently: unknown fields ignored.
#[derive(Deserialize)]
struct Answer {
    version: Option<String>,
    url: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    manifest: Option<Vec<ManifestFile>>,
    message: Option<String>,
}

/// A live-update client over one bundles folder.
pub struct Updater {
    pub(crate) config: Config,
    pub(crate) dir: PathBuf,
    pub(crate) http: reqwest::Client,
    file: StateFile,
    state: Mutex<Bundles>,
    reports: Queue,
    pub(crate) key: Option<Key>,
    /// Held for the whole of a download: a second `download` waits for the first, then
    /// finds the version staged, instead of writing the same partial files at once.
    pub(crate) downloading: tokio::sync::Mutex<()>,
    launch: crate::launch::Launch,
    rate_limit: crate::rate_limit::RateLimit,
}

/// Downloads in progress and their leftovers: resumable partial files.
pub(crate) fn partials(dir: &Path) -> PathBuf {
    dir.join(".partial")
}

/// How long a partial download waits for its next attempt before it is cleared.
const PARTIAL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A partial download or staging folder nobody resumed for `PARTIAL_MAX_AGE`.
fn stale(e: &std::fs::DirEntry) -> bool {
    e.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > PARTIAL_MAX_AGE)
}

/// A response's `Retry-After` header, as text.
fn retry_after(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Runs file work off the async threads.
pub(crate) fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T, Error>> {
    let task = tokio::task::spawn_blocking(f);
    async move { task.await.map_err(|e| Error::Io(std::io::Error::other(e))) }
}

impl Updater {
    /// The updater for `dir` (created if missing), its state as saved there.
    pub fn open(config: Config, dir: &Path) -> Result<Updater, Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = config.public_key.as_deref().map(Key::parse).transpose()?;
        std::fs::create_dir_all(partials(dir))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        let file = StateFile::in_dir(dir);
        let state = Mutex::new(file.load());
        Ok(Updater {
            config,
            dir: dir.to_path_buf(),
            http,
            file,
            state,
            reports: Queue::open(dir),
            key,
            downloading: tokio::sync::Mutex::new(()),
            launch: crate::launch::Launch::new(),
            rate_limit: Default::default(),
        })
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, Bundles> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a transition and saves the state before anything acts on it.
    pub(crate) fn step<T>(
        &self,
        f: impl FnOnce(&mut Bundles) -> (T, Vec<Report>),
    ) -> Result<T, Error> {
        let mut state = self.state();
        let mut next = state.clone();
        let (out, reports) = f(&mut next);
        self.file.save(&next)?;
        *state = next;
        self.reports.push(reports)?;
        Ok(out)
    }

    /// Queues reports for the next `/stats` batch, on disk.
    pub(crate) fn queue(&self, reports: impl IntoIterator<Item = Report>) -> Result<(), Error> {
        Ok(self.reports.push(reports)?)
    }

    pub(crate) fn report(&self, action: Action, version: &str) -> Result<(), Error> {
        self.queue([Report::new(action, version)])
    }

    /// A download that failed: its own reports, then `download_fail`, as the plugin ends
    /// every failed download.
    pub(crate) fn failed(&self, version: &str, reports: Vec<Report>, e: Error) -> Error {
        let _ = self.queue(reports);
        let _ = self.report(Action::DownloadFail, version);
        e
    }

    /// The folder the app should load now (`None`: its builtin assets).
    pub fn current_dir(&self) -> Option<PathBuf> {
        self.state().current.as_ref().map(|b| self.dir.join(&b.id))
    }

    /// The lifecycle state, as saved.
    pub fn bundles(&self) -> Bundles {
        self.state().clone()
    }

    pub(crate) fn device(&self) -> DeviceRequest {
        let running = self.state().running().map(str::to_string);
        DeviceRequest {
            app_id: self.config.app_id.clone(),
            device_id: self.config.device_id.clone(),
            platform: self.config.platform,
            version_build: self.config.version_build.clone(),
            version_name: Some(running.unwrap_or_else(|| BUILTIN.into())),
            version_code: Some(String::new()),
            version_os: Some(std::env::consts::OS.to_string()),
            plugin_version: Some(PLUGIN_VERSION.into()),
            custom_id: Some(String::new()),
            is_emulator: Some(self.config.is_emulator),
            is_prod: Some(self.config.is_prod),
            default_channel: Some(
                crate::channel::picked(&self.dir)
                    .or_else(|| self.config.default_channel.clone())
                    .unwrap_or_default(),
            ),
            install_source: Some(self.config.install_source.clone().unwrap_or_default()),
            key_id: self.key.as_ref().map(|k| k.id().to_string()),
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
                session_key,
                manifest,
                ..
            } => Check::Update(Update {
                version,
                url,
                checksum,
                session_key: session_key.unwrap_or_default(),
                manifest: manifest.unwrap_or_default(),
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
    pub(crate) async fn device_call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<&impl serde::Serialize>,
    ) -> Result<serde_json::Value, Error> {
        self.not_blocked()?;
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(&resp);
        let body = resp.bytes().await.map_err(|e| Error::Http(e.to_string()))?;
        if status == 429 {
            self.throttled(retry_after.as_deref(), &body).await;
        }
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

    /// While a `429`'s `Retry-After` is in force, device calls fail at once, as the
    /// plugin's do (`isRemoteBlocked`).
    fn not_blocked(&self) -> Result<(), Error> {
        match self.rate_limit.blocked(updraft_core::device::now_ms()) {
            Some((error, message)) => Err(Error::Server {
                status: 429,
                error,
                message,
            }),
            None => Ok(()),
        }
    }

    /// A `429`: blocks device calls until its deadline, and reports `rate_limit_reached`
    /// (once per run, in its own request as the plugin sends it).
    async fn throttled(&self, retry_after: Option<&str>, body: &[u8]) {
        let now = updraft_core::device::now_ms();
        if !self.rate_limit.hit(now, retry_after, body) || self.config.stats_url.is_empty() {
            return;
        }
        let running = self.state().running().unwrap_or(BUILTIN).to_string();
        let report = Report::new(Action::RateLimitReached, &running);
        let event = crate::reports::event(&report, self.device());
        let sent = self
            .http
            .post(&self.config.stats_url)
            .json(&event)
            .send()
            .await;
        if !sent.is_ok_and(|r| r.status().is_success()) {
            self.rate_limit.report_failed();
        }
    }

    /// At the app's start: switches to a staged bundle, and returns the folder to load
    /// (`None`: builtin). Call `ready_deadline` `app_ready_timeout` later.
    pub fn start(&self) -> Result<Option<PathBuf>, Error> {
        let launch = &self.launch;
        self.step(|s| {
            let (loaded, mut reports) = s.start();
            let version = loaded.as_ref().map_or(BUILTIN, |b| b.version.as_str());
            reports.push(launch.started(version));
            (loaded, reports)
        })?;
        self.collect_garbage();
        Ok(self.current_dir())
    }

    /// The app loaded fine.
    pub fn notify_app_ready(&self) -> Result<(), Error> {
        let launch = &self.launch;
        self.step(|s| {
            s.ready();
            let version = s.running().unwrap_or(BUILTIN);
            ((), launch.ready(version).into_iter().collect())
        })
    }

    /// The app's ready deadline: rolls back a bundle that never called `notify_app_ready`.
    /// Returns the folder to load instead, if it changed.
    pub fn ready_deadline(&self) -> Result<Option<Option<PathBuf>>, Error> {
        let (launch, timeout) = (&self.launch, self.config.app_ready_timeout);
        let changed = self.step(|s| {
            let (changed, reports) = s.ready_timeout();
            (changed, launch.timed_out(reports, timeout))
        })?;
        Ok(changed.map(|b| b.map(|b| self.dir.join(b.id))))
    }

    /// Sends the reports waiting, as one `/stats` batch (the plugin flushes its queue every
    /// second). On failure they wait for the next flush.
    pub async fn flush_stats(&self) -> Result<usize, Error> {
        if self.config.stats_url.is_empty() {
            return Ok(0);
        }
        // While a `429` is in force the reports wait, as the plugin's do.
        if self
            .rate_limit
            .blocked(updraft_core::device::now_ms())
            .is_some()
        {
            return Ok(0);
        }
        let waiting = self.reports.take();
        if waiting.is_empty() {
            return Ok(0);
        }
        let events: Vec<StatsEvent> = waiting
            .iter()
            .map(|r| crate::reports::event(r, self.device()))
            .collect();
        let sent = self
            .http
            .post(&self.config.stats_url)
            .json(&events)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                self.reports.sent()?;
                Ok(events.len())
            }
            Ok(r) if r.status().as_u16() == 429 => {
                self.reports.put_back();
                let retry_after = retry_after(&r);
                let body = r.bytes().await.unwrap_or_default();
                self.throttled(retry_after.as_deref(), &body).await;
                Err(Error::Server {
                    status: 429,
                    error: "too_many_requests".into(),
                    message: "the batch waits for the server's Retry-After".into(),
                })
            }
            other => {
                self.reports.put_back();
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

    /// Removes what no state names: bundle folders failed, replaced or left half-written,
    /// their file indexes, and partial downloads nobody resumed for a week.
    fn collect_garbage(&self) {
        let keep: Vec<String> = self
            .state()
            .referenced()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let ours = name == ".partial" || name == ".files";
                // A manifest download's staging folder holds the files it placed so far:
                // the next attempt keeps them, unless nobody came back for a week.
                let resumable = name.starts_with(".staging-") && !stale(&e);
                if e.path().is_dir() && !ours && !resumable && !keep.contains(&name.as_str()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        crate::files::prune(&self.dir, &keep);
        if let Ok(entries) = std::fs::read_dir(partials(&self.dir)) {
            for e in entries.flatten().filter(stale) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// A version as a folder name: letters, digits, dots, dashes.
pub(crate) fn sanitize(version: &str) -> String {
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
