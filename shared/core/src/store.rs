//! Ports: what the handlers need from storage, named after access patterns, not tables.

use async_trait::async_trait;

use crate::app::App;
use crate::bundle::{Bundle, BundleStatus};
use crate::channel::Channel;
use crate::code::Code;
use crate::device::{DailyStat, DeviceEvent};
use crate::history::ChannelChange;
use crate::key::ApiKey;

#[derive(Debug, Clone, PartialEq)]
pub enum StoreError {
    NotFound(String),
    /// A conditional write lost: the record exists, is in use, or changed meanwhile.
    Conflict {
        code: Code,
        message: String,
    },
    /// A reference to something that cannot be used (a channel pointing at a pending bundle).
    Invalid {
        code: Code,
        message: String,
    },
    /// Storage could not be reached or failed: a fault of ours, never the caller's.
    Unavailable(String),
}

impl StoreError {
    /// A bundle cannot be deleted while a channel serves it (every store says it so).
    pub fn bundle_in_use(channel: &str, version: &str) -> Self {
        StoreError::conflict(
            Code::BundleInUse,
            format!("channel {channel} serves {version}: point it elsewhere first"),
        )
    }

    pub fn conflict(code: Code, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(code: Code, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound(m) => write!(f, "not found: {m}"),
            StoreError::Conflict { code, message } | StoreError::Invalid { code, message } => {
                write!(f, "{code}: {message}")
            }
            StoreError::Unavailable(m) => write!(f, "storage unavailable: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// A channel may serve only ready bundles: every store's answer for the status it read of
/// a version the channel uses (`None`: no such bundle, or a deleted one).
pub fn servable(app_id: &str, version: &str, status: Option<BundleStatus>) -> StoreResult<()> {
    match status {
        Some(BundleStatus::Ready) => Ok(()),
        Some(BundleStatus::Pending) => Err(StoreError::conflict(
            Code::BundleNotReady,
            format!("bundle {version} is not ready: finalize its upload first"),
        )),
        _ => Err(StoreError::NotFound(format!(
            "no bundle {version} in {app_id}"
        ))),
    }
}

/// The channel to store for a write of `written` over `stored` (none: a new channel):
/// refused when the channel moved since the writer read it, else with the next revision.
pub fn next_revision(stored: Option<&Channel>, written: &Channel) -> StoreResult<Channel> {
    let mut saved = written.clone();
    match stored {
        None => saved.revision = 1,
        Some(s) if s.revision == written.revision => saved.revision = s.revision + 1,
        Some(s) => {
            return Err(StoreError::conflict(
                Code::ConcurrentUpdate,
                format!(
                    "channel {} changed since it was read (revision {} is now {}): read it again",
                    s.name, written.revision, s.revision
                ),
            ));
        }
    }
    Ok(saved)
}

/// Everything an update check reads about an app, in one request.
#[derive(Debug, Clone, PartialEq)]
pub struct AppView {
    pub app: App,
    pub channels: Vec<Channel>,
    /// The ready bundles that channels point at.
    pub served: Vec<Bundle>,
    /// Lets the hot path skip the override lookup for apps that have none.
    pub has_overrides: bool,
    /// Devices being debugged, with the end of each session (ms); may include ended ones.
    pub debug_sessions: Vec<(String, i64)>,
}

impl AppView {
    /// Whether the device's update checks are logged now. Sessions are few: a scan is
    /// cheaper than hashing the device id.
    pub fn is_debugged(&self, device_id: &str, now: i64) -> bool {
        self.debug_sessions
            .iter()
            .any(|(d, until)| d == device_id && *until > now)
    }

    pub fn served_bundle(&self, version: &str) -> Option<&Bundle> {
        self.served.iter().find(|b| b.version == version)
    }
}

/// Outcome of registering a bundle version.
#[derive(Debug, Clone, PartialEq)]
pub enum Registered {
    Created(Bundle),
    /// Same version, size and checksum, still pending: the retry of an interrupted upload.
    StillPending(Bundle),
}

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Conflict `app_exists` when the id is taken.
    async fn create_app(&self, app: &App) -> StoreResult<()>;
    /// Replaces name and flags of an existing app; NotFound otherwise.
    async fn update_app(&self, app: &App) -> StoreResult<()>;
    async fn get_app(&self, app_id: &str) -> StoreResult<Option<App>>;
    async fn list_apps(&self) -> StoreResult<Vec<App>>;
    /// Removes the app and everything under it. Returns the storage keys of its bundles.
    async fn delete_app(&self, app_id: &str) -> StoreResult<Vec<String>>;
    /// The hot path's one read.
    async fn app_view(&self, app_id: &str) -> StoreResult<Option<AppView>>;
}

#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Assigns the numeric id. Conflict `channel_exists`; a `bundle` that is not ready → Invalid.
    /// Making it public un-publics any other channel sharing a platform, atomically.
    async fn create_channel(&self, app_id: &str, channel: &Channel) -> StoreResult<Channel>;
    /// Replaces the channel's fields (not its id or name) under the same rules as create, if
    /// the stored channel still has the revision `channel` was read at (`next_revision`).
    /// `change` joins the channel's history in the same atomic write.
    async fn update_channel(
        &self,
        app_id: &str,
        channel: &Channel,
        change: Option<&ChannelChange>,
    ) -> StoreResult<Channel>;
    /// The channel's changes, newest first, at most `limit`.
    async fn channel_history(
        &self,
        app_id: &str,
        name: &str,
        limit: usize,
    ) -> StoreResult<Vec<ChannelChange>>;
    async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>>;
    async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>>;
    /// Also removes device overrides to it. Returns whether it existed.
    async fn delete_channel(&self, app_id: &str, name: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait BundleStore: Send + Sync {
    /// Put if the version is new; see `Registered`. Conflict `version_exists` otherwise.
    async fn register_bundle(&self, app_id: &str, bundle: &Bundle) -> StoreResult<Registered>;
    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<Bundle>>;
    /// Every bundle that is not deleted, newest first.
    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<Bundle>>;
    /// Pending → ready, only if still pending with the same checksum.
    async fn mark_ready(&self, app_id: &str, version: &str, at: i64) -> StoreResult<Bundle>;
    /// Conflict `bundle_in_use` while a channel serves it. Keeps a tombstone so the
    /// version cannot be reused. Returns the deleted bundle (for its storage key).
    async fn delete_bundle(&self, app_id: &str, version: &str) -> StoreResult<Bundle>;
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Stores (or replaces) the device's channel and who chose it. NotFound without the app.
    async fn set_override(
        &self,
        app_id: &str,
        device_id: &str,
        channel: &str,
        by: AssignedBy,
    ) -> StoreResult<()>;
    async fn delete_override(&self, app_id: &str, device_id: &str) -> StoreResult<bool>;
    async fn get_override(&self, app_id: &str, device_id: &str) -> StoreResult<Option<Override>>;
    /// Appends to the event logs, moves counters, updates device records — in one write.
    async fn record_events(&self, events: &[DeviceEvent]) -> StoreResult<()>;
    /// Off the answer path: may be buffered and written in batches. Never blocks. The write
    /// may still be running once the answer is out: a host calls `settle` before its process
    /// may stop or freeze.
    fn enqueue_event(&self, event: DeviceEvent);
    /// Returns once every event enqueued before the call is written (or its failure logged).
    /// A Lambda function calls it after every answer, before the sandbox freezes. Counters
    /// an adapter aggregates in memory may still wait for their next flush (`flush`).
    async fn settle(&self);
    /// Everything written, aggregated counters included: at shutdown (`updraft serve`'s
    /// end, a Lambda sandbox's SIGTERM).
    async fn flush(&self) {
        self.settle().await
    }
    /// Starts or renews the device's debug session until `until` (ms): it shows in
    /// `AppView::debug_sessions`. NotFound without the app.
    async fn start_debug(&self, app_id: &str, device_id: &str, until: i64) -> StoreResult<()>;
    /// Ends it; whether there was one.
    async fn end_debug(&self, app_id: &str, device_id: &str) -> StoreResult<bool>;
    /// Oldest first, at most `limit`, strictly after `since` (ms).
    async fn device_events(
        &self,
        app_id: &str,
        device_id: &str,
        since: i64,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEvent>>;
    async fn daily_stats(&self, app_id: &str) -> StoreResult<Vec<DailyStat>>;
}

/// Installs and failed starts of one version on one channel in one time bucket
/// (`health::bucket`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCount {
    pub channel: String,
    pub version: String,
    pub bucket: i64,
    pub installs: u64,
    pub failures: u64,
}

#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Adds each count to its bucket, atomically per bucket. Buckets older than the longest
    /// window are forgotten.
    async fn count_health(&self, app_id: &str, counts: &[HealthCount]) -> StoreResult<()>;
    /// Marks each device as having failed to start `version` on `channel` (until `until`,
    /// ms) and answers how many had not been marked: a device's failed starts count once,
    /// so one device id repeating a report cannot trip a rollback.
    async fn first_failures(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        devices: &[String],
        until: i64,
    ) -> StoreResult<u64>;
    /// Installs and failures of the version on the channel, summed over buckets `≥ since`.
    async fn health_since(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        since: i64,
    ) -> StoreResult<(u64, u64)>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn create_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>>;
    async fn delete_key(&self, id: &str) -> StoreResult<bool>;
    async fn count_keys(&self) -> StoreResult<u64>;
}

/// Who chose a device's channel: an operator (`/v1`), or the device itself through
/// `/channel_self` (plugins older than 5.34 / 6.34 / 7.34 store their choice on the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignedBy {
    Operator,
    Device,
}

/// A device's stored channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub channel: String,
    pub by: AssignedBy,
}

/// The port traits, for code that calls them on a concrete store (`State::store`).
pub mod ports {
    pub use super::{AppStore, BundleStore, ChannelStore, DeviceStore, HealthStore, KeyStore};
}

/// One adapter provides every port.
pub trait Store:
    AppStore + ChannelStore + BundleStore + DeviceStore + HealthStore + KeyStore
{
}
impl<T: AppStore + ChannelStore + BundleStore + DeviceStore + HealthStore + KeyStore> Store for T {}
