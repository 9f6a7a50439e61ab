//! What devices report: their event log, per-version daily counters, and the device record.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::action::Action;
use serde_json::{Map, Value};

/// Which daily counter an event moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    Check,
    Install,
    Failure,
}

/// One entry of a device's event log (what `updraft app debug` shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceEvent {
    pub app_id: String,
    pub device_id: String,
    /// Milliseconds since the epoch, set by the server.
    pub at: i64,
    pub action: Action,
    pub version_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub old_version_name: String,
    pub platform: String,
    pub version_build: String,
    #[serde(default)]
    pub plugin_version: String,
    pub is_emulator: bool,
    pub is_prod: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub custom_id: String,
    /// For update checks: the answer (`1.4.0`, `no_new_version_available`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// The counter this event moves (real production devices only).
    #[serde(default, skip_serializing)]
    pub counter: Option<Counter>,
    /// Whether the device record follows this event (failures do not change it).
    #[serde(default, skip_serializing)]
    pub updates_device: bool,
    /// Whether the event joins the device's log. Update checks do only while the device is
    /// being debugged (`AppView::is_debugged`): logging every check would be most of the
    /// storage writes of a fleet, for a log nobody reads. Everything else always does.
    #[serde(skip, default = "always")]
    pub log: bool,
}

fn always() -> bool {
    true
}

/// Failures the plugin reports under the bundle it is running rather than the one that failed
/// (8.51's `finishDownload` sends `checksum_fail` and `download_fail` with the current
/// bundle's name). They join the device's log, worded as such, and count against no version.
pub fn charged_to_running_bundle(action: Action) -> bool {
    matches!(action, Action::ChecksumFail | Action::DownloadFail)
}

/// How long a debug session lasts unless the caller says otherwise, and at most.
pub const DEBUG_MINUTES_DEFAULT: u32 = 10;
pub const DEBUG_MINUTES_MAX: u32 = 60;

/// The device record an event leaves: what the device last said about itself. Borrowed
/// from the event, serialized straight to the stored document.
#[derive(Serialize)]
pub struct DeviceRecord<'a> {
    device_id: &'a str,
    platform: &'a str,
    version_name: &'a str,
    version_build: &'a str,
    plugin_version: &'a str,
    custom_id: &'a str,
    is_emulator: bool,
    is_prod: bool,
    last_seen: i64,
}

/// How stale a device's `last_seen` may get when nothing else about it changes: a record
/// written by this process less than this long ago, with the same fingerprint, is not
/// rewritten (both stores' write diet).
pub const RECORD_REFRESH_MS: i64 = 60 * 60 * 1000;
/// Device records remembered per process; past it the memory starts over (a rewrite each).
const RECORDS_REMEMBERED: usize = 100_000;

/// Which device records this process wrote, with what, and when.
#[derive(Default)]
pub struct RecordsWritten {
    written: std::sync::Mutex<HashMap<(String, String), (u64, i64)>>,
}

impl RecordsWritten {
    /// Whether the device's record, with this fingerprint and seen at `at`, needs writing.
    pub fn needs_write(&self, app: &str, device: &str, fingerprint: u64, at: i64) -> bool {
        let w = self.written.lock().expect("records lock");
        match w.get(&(app.to_string(), device.to_string())) {
            Some((f, when)) => *f != fingerprint || at - when >= RECORD_REFRESH_MS,
            None => true,
        }
    }

    /// Notes a record written (once its write committed).
    pub fn wrote(&self, app: &str, device: &str, fingerprint: u64, at: i64) {
        let mut w = self.written.lock().expect("records lock");
        if w.len() >= RECORDS_REMEMBERED {
            w.clear();
        }
        w.insert((app.to_string(), device.to_string()), (fingerprint, at));
    }
}

impl DeviceRecord<'_> {
    /// What the record says about the device, apart from when it was last seen: equal
    /// fingerprints mean a rewrite would only move `last_seen` (in-process use only).
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            self.device_id,
            self.platform,
            self.version_name,
            self.version_build,
            self.plugin_version,
            self.custom_id,
            self.is_emulator,
            self.is_prod,
        )
            .hash(&mut h);
        h.finish()
    }

    pub fn last_seen(&self) -> i64 {
        self.last_seen
    }
}

impl DeviceEvent {
    pub fn record(&self) -> DeviceRecord<'_> {
        DeviceRecord {
            device_id: &self.device_id,
            platform: &self.platform,
            version_name: &self.version_name,
            version_build: &self.version_build,
            plugin_version: &self.plugin_version,
            custom_id: &self.custom_id,
            is_emulator: self.is_emulator,
            is_prod: self.is_prod,
            last_seen: self.at,
        }
    }

    /// The bundle version without the `:file` suffix of per-file failure reports.
    pub fn bundle_version(&self) -> &str {
        self.version_name
            .split_once(':')
            .map_or(self.version_name.as_str(), |(v, _)| v)
    }
}

/// What a batch of events adds to one version-day's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub checks: i64,
    pub installs: i64,
    pub failures: i64,
}

/// The counters a batch moves, summed per (app, bundle version, UTC day), so that storage
/// takes one write per key rather than one per event. Every adapter writes these.
pub fn tally(events: &[DeviceEvent]) -> HashMap<(&str, &str, String), Tally> {
    let mut out: HashMap<(&str, &str, String), Tally> = HashMap::new();
    for e in events {
        let Some(counter) = e.counter else { continue };
        let t = out
            .entry((e.app_id.as_str(), e.bundle_version(), utc_day(e.at)))
            .or_default();
        match counter {
            Counter::Check => t.checks += 1,
            Counter::Install => t.installs += 1,
            Counter::Failure => t.failures += 1,
        }
    }
    out
}

/// The newest event per (app, device) among those that update the device record: a batch
/// writes each device's record once.
pub fn latest_per_device(events: &[DeviceEvent]) -> HashMap<(&str, &str), &DeviceEvent> {
    let mut out = HashMap::new();
    for e in events.iter().filter(|e| e.updates_device) {
        out.insert((e.app_id.as_str(), e.device_id.as_str()), e);
    }
    out
}

/// Per version and UTC day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DailyStat {
    pub version: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub checks: u64,
    pub installs: u64,
    pub failures: u64,
}

/// Keep the newest this many events per device…
pub const EVENTS_PER_DEVICE: usize = 1000;
/// …and per app (by default; `updraft serve --events-per-app`), evicting the oldest: device
/// ids are free, so the per-device bound alone does not bound an app's storage.
pub const EVENTS_PER_APP: usize = 1_000_000;
/// …and none older than this.
pub const EVENT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// `YYYY-MM-DD` of a UTC millisecond timestamp (Howard Hinnant's civil-from-days).
pub fn utc_day(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(device: &str, version: &str, at: i64, counter: Option<Counter>) -> DeviceEvent {
        DeviceEvent {
            app_id: "com.a.b".into(),
            device_id: device.into(),
            at,
            action: Action::Set,
            version_name: version.into(),
            old_version_name: String::new(),
            platform: "ios".into(),
            version_build: "1.0.0".into(),
            plugin_version: "8.51.23".into(),
            is_emulator: false,
            is_prod: true,
            custom_id: String::new(),
            outcome: None,
            metadata: None,
            counter,
            updates_device: counter != Some(Counter::Failure),
            log: true,
        }
    }

    #[test]
    fn a_batch_is_tallied_per_version_and_day_and_each_device_written_once() {
        let day = 1_795_000_000_000;
        let events = [
            event("d1", "1.0.1", day, Some(Counter::Check)),
            event("d2", "1.0.1", day + 1, Some(Counter::Check)),
            event("d1", "1.0.1", day + 2, Some(Counter::Install)),
            event("d2", "1.0.1:index.html", day + 3, Some(Counter::Failure)),
            event("d1", "1.0.1", day + 86_400_000, Some(Counter::Check)),
            event("d3", "1.0.2", day, None),
        ];
        let t = tally(&events);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(
            t[&("com.a.b", "1.0.1", utc_day(day))],
            Tally {
                checks: 2,
                installs: 1,
                failures: 1
            }
        );
        assert_eq!(
            t[&("com.a.b", "1.0.1", utc_day(day + 86_400_000))],
            Tally {
                checks: 1,
                installs: 0,
                failures: 0
            }
        );
        let latest = latest_per_device(&events);
        assert_eq!(latest.len(), 3);
        assert_eq!(latest[&("com.a.b", "d1")].at, day + 86_400_000);
        // d2's last event is a failure, which leaves the record as it was.
        assert_eq!(latest[&("com.a.b", "d2")].at, day + 1);
    }

    #[test]
    fn days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_795_000_000_000), "2026-11-18");
        assert_eq!(utc_day(-1), "1969-12-31");
    }
}
