//! Every port in memory, for handler tests and benchmarks that need no file or server. It
//! keeps the adapters' rules (the conformance suite runs on it too) with the same domain
//! helpers they use; nothing survives the process.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::app::App;
use crate::blobs::{BlobInfo, Blobs, DownloadUrls, UploadTicket};
use crate::bundle::{Bundle, BundleStatus};
use crate::channel::Channel;
use crate::code::Code;
use crate::device::{
    DailyStat, DeviceEvent, EVENT_RETENTION_MS, EVENTS_PER_DEVICE, Tally, now_ms, tally,
};
use crate::history::ChannelChange;
use crate::key::ApiKey;
use crate::store::{
    AppStore, AppView, AssignedBy, BundleStore, ChannelStore, DeviceStore, HealthCount,
    HealthStore, KeyStore, Override, Registered, StoreError, StoreResult,
};
use crate::store::{next_revision, servable};

type AppDevice = (String, String);

#[derive(Default, Debug)]
struct Data {
    apps: BTreeMap<String, App>,
    /// Per app, in creation (id) order.
    channels: BTreeMap<String, Vec<Channel>>,
    next_channel_id: i64,
    /// Per (app, version), tombstones included.
    bundles: BTreeMap<AppDevice, Bundle>,
    overrides: BTreeMap<AppDevice, Override>,
    sessions: BTreeMap<AppDevice, i64>,
    /// Logged events in arrival order.
    events: Vec<DeviceEvent>,
    /// Per (app, version, day).
    counters: BTreeMap<(String, String, String), Tally>,
    keys: BTreeMap<String, ApiKey>,
    /// Per (app, channel), oldest first.
    history: BTreeMap<AppDevice, Vec<ChannelChange>>,
    /// Per (app, channel, version, bucket): installs, failures.
    health: BTreeMap<(String, String, String, i64), (u64, u64)>,
    /// Per (app, channel, version, device): until when its failed start is remembered.
    failed: BTreeMap<(String, String, String, String), i64>,
}

#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends logged events (newest EVENTS_PER_DEVICE per device, none past the retention)
    /// and moves the counters.
    fn record(&self, events: &[DeviceEvent]) -> StoreResult<()> {
        let mut d = self.data()?;
        for ((app, version, day), t) in tally(events) {
            let c = d
                .counters
                .entry((app.to_string(), version.to_string(), day))
                .or_default();
            c.checks += t.checks;
            c.installs += t.installs;
            c.failures += t.failures;
        }
        d.events.extend(events.iter().filter(|e| e.log).cloned());
        // Keep the newest EVENTS_PER_DEVICE per device, and none past the retention.
        let oldest = now_ms() - EVENT_RETENTION_MS;
        let mut kept: BTreeMap<AppDevice, usize> = BTreeMap::new();
        let mut keep = vec![false; d.events.len()];
        for (i, e) in d.events.iter().enumerate().rev() {
            let n = kept.entry(key(&e.app_id, &e.device_id)).or_default();
            if *n < EVENTS_PER_DEVICE && e.at >= oldest {
                *n += 1;
                keep[i] = true;
            }
        }
        let mut i = 0;
        d.events.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        Ok(())
    }

    /// What the management API can change (apps, channels, bundles, overrides, debug
    /// sessions, keys), as text: equal snapshots mean nothing changed.
    pub fn snapshot(&self) -> String {
        let d = self.data.lock().expect("memory store lock");
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            d.apps, d.channels, d.bundles, d.overrides, d.sessions, d.keys
        )
    }

    fn data(&self) -> StoreResult<MutexGuard<'_, Data>> {
        self.data
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }
}

fn no_app(app_id: &str) -> StoreError {
    StoreError::NotFound(format!("no app {app_id}"))
}

fn key(a: &str, b: &str) -> AppDevice {
    (a.to_string(), b.to_string())
}

impl Data {
    fn require_app(&self, app_id: &str) -> StoreResult<()> {
        self.apps
            .contains_key(app_id)
            .then_some(())
            .ok_or_else(|| no_app(app_id))
    }

    /// The bundles a channel uses must be ready now.
    fn check_bundle_ready(&self, app_id: &str, channel: &Channel) -> StoreResult<()> {
        for version in channel.versions_in_use() {
            let status = self.bundles.get(&key(app_id, version)).map(|b| b.status);
            servable(app_id, version, status)?;
        }
        Ok(())
    }

    /// At most one public channel per platform: publishing one un-publishes the others.
    fn unpublish_overlapping(&mut self, app_id: &str, channel: &Channel) {
        if !channel.public {
            return;
        }
        for other in self.channels.entry(app_id.to_string()).or_default() {
            if other.name != channel.name && other.public && other.shares_platform_with(channel) {
                other.public = false;
                other.updated_at = channel.updated_at;
                other.revision += 1;
            }
        }
    }
}

#[async_trait]
impl AppStore for MemoryStore {
    async fn create_app(&self, app: &App) -> StoreResult<()> {
        let mut d = self.data()?;
        if d.apps.contains_key(&app.app_id) {
            return Err(StoreError::conflict(
                Code::AppExists,
                format!("app {} already exists", app.app_id),
            ));
        }
        d.apps.insert(app.app_id.clone(), app.clone());
        Ok(())
    }

    async fn update_app(&self, app: &App) -> StoreResult<()> {
        let mut d = self.data()?;
        let slot = d
            .apps
            .get_mut(&app.app_id)
            .ok_or_else(|| no_app(&app.app_id))?;
        *slot = app.clone();
        Ok(())
    }

    async fn get_app(&self, app_id: &str) -> StoreResult<Option<App>> {
        Ok(self.data()?.apps.get(app_id).cloned())
    }

    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        Ok(self.data()?.apps.values().cloned().collect())
    }

    async fn delete_app(&self, app_id: &str) -> StoreResult<Vec<String>> {
        let mut d = self.data()?;
        let keys = d
            .bundles
            .iter()
            .filter(|((a, _), b)| a == app_id && b.status != BundleStatus::Deleted)
            .map(|(_, b)| b.storage_key.clone())
            .collect();
        d.apps.remove(app_id);
        d.channels.remove(app_id);
        d.bundles.retain(|(a, _), _| a != app_id);
        d.overrides.retain(|(a, _), _| a != app_id);
        d.sessions.retain(|(a, _), _| a != app_id);
        d.events.retain(|e| e.app_id != app_id);
        d.counters.retain(|(a, _, _), _| a != app_id);
        d.history.retain(|(a, _), _| a != app_id);
        d.health.retain(|(a, _, _, _), _| a != app_id);
        d.failed.retain(|(a, _, _, _), _| a != app_id);
        Ok(keys)
    }

    async fn app_view(&self, app_id: &str) -> StoreResult<Option<AppView>> {
        let d = self.data()?;
        let Some(app) = d.apps.get(app_id) else {
            return Ok(None);
        };
        let channels = d.channels.get(app_id).cloned().unwrap_or_default();
        let served = d
            .bundles
            .iter()
            .filter(|((a, v), b)| {
                a == app_id
                    && b.status == BundleStatus::Ready
                    && channels.iter().any(|c| c.versions_in_use().any(|u| u == v))
            })
            .map(|(_, b)| b.clone())
            .collect();
        let now = now_ms();
        Ok(Some(AppView {
            app: app.clone(),
            channels,
            served,
            has_overrides: d.overrides.keys().any(|(a, _)| a == app_id),
            debug_sessions: d
                .sessions
                .iter()
                .filter(|((a, _), until)| a == app_id && **until > now)
                .map(|((_, dev), until)| (dev.clone(), *until))
                .collect(),
        }))
    }
}

#[async_trait]
impl ChannelStore for MemoryStore {
    async fn create_channel(&self, app_id: &str, channel: &Channel) -> StoreResult<Channel> {
        let mut d = self.data()?;
        d.require_app(app_id)?;
        d.check_bundle_ready(app_id, channel)?;
        if d.channels
            .get(app_id)
            .is_some_and(|list| list.iter().any(|c| c.name == channel.name))
        {
            return Err(StoreError::conflict(
                Code::ChannelExists,
                format!("channel {} already exists", channel.name),
            ));
        }
        d.unpublish_overlapping(app_id, channel);
        d.next_channel_id += 1;
        let mut saved = next_revision(None, channel)?;
        saved.id = d.next_channel_id;
        d.channels
            .entry(app_id.to_string())
            .or_default()
            .push(saved.clone());
        Ok(saved)
    }

    async fn update_channel(
        &self,
        app_id: &str,
        channel: &Channel,
        change: Option<&ChannelChange>,
    ) -> StoreResult<Channel> {
        let mut d = self.data()?;
        let stored = d
            .channels
            .get(app_id)
            .and_then(|list| list.iter().find(|c| c.name == channel.name))
            .ok_or_else(|| {
                StoreError::NotFound(format!("no channel {} in {app_id}", channel.name))
            })?;
        let id = stored.id;
        let mut saved = next_revision(Some(stored), channel)?;
        saved.id = id;
        d.check_bundle_ready(app_id, channel)?;
        d.unpublish_overlapping(app_id, channel);
        if let Some(slot) = d
            .channels
            .get_mut(app_id)
            .and_then(|list| list.iter_mut().find(|c| c.id == id))
        {
            *slot = saved.clone();
        }
        if let Some(change) = change {
            d.history
                .entry(key(app_id, &channel.name))
                .or_default()
                .push(change.clone());
        }
        Ok(saved)
    }

    async fn channel_history(
        &self,
        app_id: &str,
        name: &str,
        limit: usize,
    ) -> StoreResult<Vec<ChannelChange>> {
        let d = self.data()?;
        let all = d
            .history
            .get(&key(app_id, name))
            .cloned()
            .unwrap_or_default();
        Ok(all.into_iter().rev().take(limit).collect())
    }

    async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>> {
        Ok(self
            .data()?
            .channels
            .get(app_id)
            .and_then(|list| list.iter().find(|c| c.name == name))
            .cloned())
    }

    async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>> {
        Ok(self
            .data()?
            .channels
            .get(app_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn delete_channel(&self, app_id: &str, name: &str) -> StoreResult<bool> {
        let mut d = self.data()?;
        d.overrides
            .retain(|(a, _), o| !(a == app_id && o.channel == name));
        let Some(list) = d.channels.get_mut(app_id) else {
            return Ok(false);
        };
        let before = list.len();
        list.retain(|c| c.name != name);
        let existed = list.len() < before;
        d.history.remove(&key(app_id, name));
        Ok(existed)
    }
}

#[async_trait]
impl HealthStore for MemoryStore {
    async fn count_health(&self, app_id: &str, counts: &[HealthCount]) -> StoreResult<()> {
        let mut d = self.data()?;
        let oldest = crate::health::oldest_kept(now_ms());
        d.health.retain(|(_, _, _, b), _| *b >= oldest);
        for c in counts {
            let slot = d
                .health
                .entry((
                    app_id.into(),
                    c.channel.clone(),
                    c.version.clone(),
                    c.bucket,
                ))
                .or_default();
            slot.0 += c.installs;
            slot.1 += c.failures;
        }
        Ok(())
    }

    async fn first_failures(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        devices: &[String],
        until: i64,
    ) -> StoreResult<u64> {
        let mut d = self.data()?;
        let now = now_ms();
        d.failed.retain(|_, until| *until > now);
        let mut first = 0;
        for device in devices {
            let k = (
                app_id.into(),
                channel.into(),
                version.into(),
                device.clone(),
            );
            if let std::collections::btree_map::Entry::Vacant(slot) = d.failed.entry(k) {
                slot.insert(until);
                first += 1;
            }
        }
        Ok(first)
    }

    async fn health_since(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        since: i64,
    ) -> StoreResult<(u64, u64)> {
        let d = self.data()?;
        Ok(d.health
            .iter()
            .filter(|((a, c, v, b), _)| a == app_id && c == channel && v == version && *b >= since)
            .fold((0, 0), |acc, (_, n)| (acc.0 + n.0, acc.1 + n.1)))
    }
}

#[async_trait]
impl BundleStore for MemoryStore {
    async fn register_bundle(&self, app_id: &str, bundle: &Bundle) -> StoreResult<Registered> {
        let mut d = self.data()?;
        d.require_app(app_id)?;
        match d.bundles.get(&key(app_id, &bundle.version)).cloned() {
            Some(old) => old.reregister(bundle),
            None => {
                d.bundles
                    .insert(key(app_id, &bundle.version), bundle.clone());
                Ok(Registered::Created(bundle.clone()))
            }
        }
    }

    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<Bundle>> {
        Ok(self.data()?.bundles.get(&key(app_id, version)).cloned())
    }

    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<Bundle>> {
        let d = self.data()?;
        let mut list: Vec<Bundle> = d
            .bundles
            .iter()
            .filter(|((a, _), b)| a == app_id && b.status != BundleStatus::Deleted)
            .map(|(_, b)| b.clone())
            .collect();
        list.sort_by(|x, y| (y.created_at, &y.version).cmp(&(x.created_at, &x.version)));
        Ok(list)
    }

    async fn mark_ready(&self, app_id: &str, version: &str, at: i64) -> StoreResult<Bundle> {
        let mut d = self.data()?;
        let b = d
            .bundles
            .get(&key(app_id, version))
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("no bundle {version} in {app_id}")))?;
        let Some(ready) = b.finalized(at)? else {
            return Ok(b);
        };
        d.bundles.insert(key(app_id, version), ready.clone());
        Ok(ready)
    }

    async fn delete_bundle(&self, app_id: &str, version: &str) -> StoreResult<Bundle> {
        let mut d = self.data()?;
        let mut b = d
            .bundles
            .get(&key(app_id, version))
            .filter(|b| b.status != BundleStatus::Deleted)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(format!("no bundle {version} in {app_id}")))?;
        if let Some(channel) = d.channels.get(app_id).and_then(|list| {
            list.iter()
                .find(|c| c.versions_in_use().any(|v| v == version))
        }) {
            return Err(StoreError::bundle_in_use(&channel.name, version));
        }
        b.status = BundleStatus::Deleted;
        d.bundles.insert(key(app_id, version), b.clone());
        Ok(b)
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn set_override(
        &self,
        app_id: &str,
        device_id: &str,
        channel: &str,
        by: AssignedBy,
    ) -> StoreResult<()> {
        let mut d = self.data()?;
        d.require_app(app_id)?;
        d.overrides.insert(
            key(app_id, device_id),
            Override {
                channel: channel.to_string(),
                by,
            },
        );
        Ok(())
    }

    async fn delete_override(&self, app_id: &str, device_id: &str) -> StoreResult<bool> {
        Ok(self
            .data()?
            .overrides
            .remove(&key(app_id, device_id))
            .is_some())
    }

    async fn get_override(&self, app_id: &str, device_id: &str) -> StoreResult<Option<Override>> {
        Ok(self.data()?.overrides.get(&key(app_id, device_id)).cloned())
    }

    async fn record_events(&self, events: &[DeviceEvent]) -> StoreResult<()> {
        self.record(events)
    }

    fn enqueue_event(&self, event: DeviceEvent) {
        // In memory the write is instant: nothing runs after the answer.
        if let Err(e) = self.record(&[event]) {
            tracing::error!(error = %e, "could not record a device event");
        }
    }

    async fn settle(&self) {}

    async fn start_debug(&self, app_id: &str, device_id: &str, until: i64) -> StoreResult<()> {
        let mut d = self.data()?;
        d.require_app(app_id)?;
        d.sessions.insert(key(app_id, device_id), until);
        Ok(())
    }

    async fn end_debug(&self, app_id: &str, device_id: &str) -> StoreResult<bool> {
        Ok(self
            .data()?
            .sessions
            .remove(&key(app_id, device_id))
            .is_some())
    }

    async fn device_events(
        &self,
        app_id: &str,
        device_id: &str,
        since: i64,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEvent>> {
        let since = since.max(now_ms() - EVENT_RETENTION_MS - 1);
        Ok(self
            .data()?
            .events
            .iter()
            .filter(|e| e.app_id == app_id && e.device_id == device_id && e.at > since)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn daily_stats(&self, app_id: &str) -> StoreResult<Vec<DailyStat>> {
        let d = self.data()?;
        let mut out: Vec<DailyStat> = d
            .counters
            .iter()
            .filter(|((a, _, _), _)| a == app_id)
            .map(|((_, version, day), t)| DailyStat {
                version: version.clone(),
                day: day.clone(),
                checks: t.checks as u64,
                installs: t.installs as u64,
                failures: t.failures as u64,
            })
            .collect();
        out.sort_by(|x, y| y.day.cmp(&x.day).then_with(|| x.version.cmp(&y.version)));
        Ok(out)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn create_key(&self, k: &ApiKey) -> StoreResult<()> {
        let mut d = self.data()?;
        if d.keys.contains_key(&k.id) || d.keys.values().any(|o| o.hash == k.hash) {
            return Err(StoreError::conflict(
                Code::KeyExists,
                "this key already exists",
            ));
        }
        d.keys.insert(k.id.clone(), k.clone());
        Ok(())
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        Ok(self.data()?.keys.values().find(|k| k.hash == hash).cloned())
    }

    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        Ok(self.data()?.keys.values().cloned().collect())
    }

    async fn delete_key(&self, id: &str) -> StoreResult<bool> {
        Ok(self.data()?.keys.remove(id).is_some())
    }

    async fn count_keys(&self) -> StoreResult<u64> {
        Ok(self.data()?.keys.len() as u64)
    }
}

/// Bundle bytes in memory. Upload tickets name `memory://` URLs nothing serves: a test puts
/// the bytes itself (`put`), as a client would PUT them to storage.
#[derive(Default)]
pub struct MemoryBlobs {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBlobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `bytes` under `key`, as a presigned PUT would.
    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        if let Ok(mut o) = self.objects.lock() {
            o.insert(key.to_string(), bytes);
        }
    }

    /// The keys held, for "nothing changed" assertions.
    pub fn keys(&self) -> Vec<String> {
        self.objects
            .lock()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Blobs for MemoryBlobs {
    async fn presign_upload(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
        ttl_secs: u64,
    ) -> StoreResult<UploadTicket> {
        Ok(UploadTicket {
            url: format!("memory://{key}"),
            method: "PUT".into(),
            headers: [
                ("content-length".to_string(), size.to_string()),
                ("x-amz-checksum-sha256".to_string(), sha256.to_string()),
            ]
            .into_iter()
            .collect(),
            expires_at: now_ms() + ttl_secs as i64 * 1000,
        })
    }

    async fn stat(&self, key: &str) -> StoreResult<Option<BlobInfo>> {
        use sha2::Digest;
        let objects = self
            .objects
            .lock()
            .map_err(|_| StoreError::Unavailable("memory blobs lock poisoned".into()))?;
        Ok(objects.get(key).map(|b| BlobInfo {
            size: b.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(b)),
        }))
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        if let Ok(mut o) = self.objects.lock() {
            o.remove(key);
        }
        Ok(())
    }

    async fn promote(&self, from: &str, to: &str) -> StoreResult<()> {
        let mut objects = self
            .objects
            .lock()
            .map_err(|_| StoreError::Unavailable("memory blobs lock poisoned".into()))?;
        let bytes = objects
            .remove(from)
            .ok_or_else(|| StoreError::Unavailable(format!("nothing staged at {from}")))?;
        objects.insert(to.to_string(), bytes);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .objects
            .lock()
            .map_err(|_| StoreError::Unavailable("memory blobs lock poisoned".into()))?
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
}

#[async_trait]
impl DownloadUrls for MemoryBlobs {
    async fn download_url(&self, key: &str) -> StoreResult<String> {
        Ok(format!("memory://{key}"))
    }
}
