//! `/stats` reports waiting to be sent, kept on disk like the plugin's pending-stats file
//! so that a restart does not lose them: `pending-stats.json`, at most the plugin's 200
//! (the oldest go first); and each report as the event the plugin would send.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use updraft_core::action::Action;

use updraft_core::protocol::{DeviceRequest, StatsEvent};

use crate::lifecycle::Report;

/// Whether the plugin sends `action` from its download worker (`DownloadService
/// .sendStatsAsync`), whose events carry neither `timestamp` nor `key_id`. They go in the
/// same batches here, shaped as the worker shapes them.
pub fn from_worker(action: Action) -> bool {
    matches!(
        action,
        Action::DownloadZipStart
            | Action::DownloadZipComplete
            | Action::DownloadManifestStart
            | Action::DownloadManifestComplete
            | Action::DownloadManifestFileFail
            | Action::DownloadManifestChecksumFail
            | Action::DownloadManifestBrotliFail
            | Action::ManifestPathFail
    )
}

/// The `/stats` event the plugin sends for `report`, on top of the device's request fields.
pub fn event(report: &Report, mut device: DeviceRequest) -> StatsEvent {
    device.version_name = Some(report.version.clone());
    let worker = from_worker(report.action);
    if worker {
        device.key_id = None;
    }
    // `sendRateLimitStatistic` builds its event without a timestamp too.
    let timed = !worker && report.action != Action::RateLimitReached;
    let metadata = (!report.metadata.is_empty()).then(|| {
        report
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    });
    StatsEvent {
        device,
        action: report.action.as_str().to_string(),
        old_version_name: Some(report.old_version.clone()),
        metadata,
        timestamp: timed.then(updraft_core::device::now_ms),
    }
}

/// The plugin's cap on pending events.
const MAX_PENDING: usize = 200;

pub struct Queue {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// A batch being sent: still on disk until the server took it.
    in_flight: Vec<Report>,
    pending: Vec<Report>,
}

impl Queue {
    /// The queue saved in `dir` (empty if none or unreadable).
    pub fn open(dir: &Path) -> Queue {
        let path = dir.join("pending-stats.json");
        let pending = std::fs::read(&path)
            .ok()
            .and_then(|b| {
                serde_json::from_slice::<Vec<Report>>(&b).ok().or_else(|| {
                    // The first format: `[["set", "1.0.1"], …]`.
                    let pairs: Vec<(String, String)> = serde_json::from_slice(&b).ok()?;
                    Some(
                        pairs
                            .into_iter()
                            .filter_map(|(a, v)| Some(Report::new(Action::parse(&a)?, &v)))
                            .collect(),
                    )
                })
            })
            .unwrap_or_default();
        Queue {
            path,
            inner: Mutex::new(Inner {
                in_flight: Vec::new(),
                pending,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, inner: &Inner) -> std::io::Result<()> {
        let all: Vec<&Report> = inner.in_flight.iter().chain(&inner.pending).collect();
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec(&all).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, &self.path)
    }

    /// Adds reports for the next batch, on disk before this returns.
    pub fn push(&self, reports: impl IntoIterator<Item = Report>) -> std::io::Result<()> {
        let mut inner = self.lock();
        let before = inner.pending.len();
        inner.pending.extend(reports);
        if inner.pending.len() == before {
            return Ok(());
        }
        let excess = (inner.in_flight.len() + inner.pending.len()).saturating_sub(MAX_PENDING);
        let from_pending = excess.min(inner.pending.len());
        inner.pending.drain(..from_pending);
        self.save(&inner)
    }

    /// Everything waiting, as the next batch (empty while one is in flight); `sent` or
    /// `put_back` once it is known how it went.
    pub fn take(&self) -> Vec<Report> {
        let mut inner = self.lock();
        if !inner.in_flight.is_empty() {
            return Vec::new();
        }
        inner.in_flight = std::mem::take(&mut inner.pending);
        inner.in_flight.clone()
    }

    /// The batch was taken: the file now holds only what came since.
    pub fn sent(&self) -> std::io::Result<()> {
        let mut inner = self.lock();
        inner.in_flight.clear();
        self.save(&inner)
    }

    /// The batch was not taken: it waits again, ahead of what came since.
    pub fn put_back(&self) {
        let mut inner = self.lock();
        let batch = std::mem::take(&mut inner.in_flight);
        inner.pending.splice(0..0, batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(action: Action, v: &str) -> Report {
        Report::new(action, v)
    }

    #[test]
    fn reports_survive_a_restart_until_sent_and_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path());
        q.push([r(Action::Set, "1.0.1")]).unwrap();
        assert_eq!(q.take().len(), 1);
        assert!(q.take().is_empty(), "one batch in flight at a time");
        q.push([r(Action::DownloadComplete, "1.0.2")]).unwrap();
        assert_eq!(
            Queue::open(dir.path()).take().len(),
            2,
            "on disk: the batch in flight and what came since (a crash loses neither)"
        );
        q.put_back();
        let again = q.take();
        assert_eq!(again[0], r(Action::Set, "1.0.1"), "the batch again, first");
        q.sent().unwrap();
        assert!(Queue::open(dir.path()).take().is_empty());
        q.push((0..250).map(|i| r(Action::Set, &i.to_string())))
            .unwrap();
        let kept = Queue::open(dir.path()).take();
        assert_eq!(kept.len(), 200);
        assert_eq!(kept[0].version, "50", "the oldest went first");
    }
}
