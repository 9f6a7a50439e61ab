//! The update check's bookkeeping on DynamoDB, on a write diet.
//!
//! Every check used to write its device's record and `ADD` to a daily counter: two write
//! units per check. Now:
//! - counters are summed in the process and flushed, one `ADD` per (app, version, day),
//!   every `FLUSH_EVERY` at most, and at shutdown (`DeviceStore::flush`: `updraft serve`'s
//!   end, a Lambda sandbox's SIGTERM). A crash loses at most the last interval's counts;
//! - a device record is written when something in it changed, or when the one this process
//!   wrote is older than `RECORD_REFRESH` (so `last_seen` is at most that stale).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use updraft_core::device::Tally;

/// How long summed counters may wait in memory.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// How stale a device's `last_seen` may get when nothing else about it changes.
pub(crate) const RECORD_REFRESH_MS: i64 = 60 * 60 * 1000;
/// Device records remembered per process; past it the memory starts over (a rewrite each).
const REMEMBERED: usize = 100_000;

type CounterKey = (String, String, String);

#[derive(Default)]
pub(crate) struct Counters {
    pending: Mutex<(HashMap<CounterKey, Tally>, Option<Instant>)>,
}

impl Counters {
    /// Adds tallies; answers whether the oldest waiting ones are due.
    pub(crate) fn add<'a>(
        &self,
        tallies: impl IntoIterator<Item = ((&'a str, &'a str, String), Tally)>,
    ) -> bool {
        let mut p = self.pending.lock().expect("counters lock");
        for ((app, version, day), t) in tallies {
            let slot =
                p.0.entry((app.to_string(), version.to_string(), day))
                    .or_default();
            slot.checks += t.checks;
            slot.installs += t.installs;
            slot.failures += t.failures;
        }
        if !p.0.is_empty() && p.1.is_none() {
            p.1 = Some(Instant::now());
        }
        p.1.is_some_and(|since| since.elapsed() >= FLUSH_EVERY)
    }

    /// Takes what waits (all of it, or only if due); the caller writes it, and gives it
    /// back with `restore` if it could not.
    pub(crate) fn take(&self, only_if_due: bool) -> Vec<(CounterKey, Tally)> {
        let mut p = self.pending.lock().expect("counters lock");
        let due = p.1.is_some_and(|since| since.elapsed() >= FLUSH_EVERY);
        if only_if_due && !due {
            return Vec::new();
        }
        p.1 = None;
        p.0.drain().collect()
    }

    pub(crate) fn restore(&self, left: Vec<(CounterKey, Tally)>) {
        if left.is_empty() {
            return;
        }
        self.add(
            left.iter()
                .map(|((a, v, d), t)| ((a.as_str(), v.as_str(), d.clone()), *t)),
        );
    }
}

/// Which device records this process wrote, with what, and when.
#[derive(Default)]
pub(crate) struct Records {
    written: Mutex<HashMap<(String, String), (u64, i64)>>,
}

impl Records {
    /// Whether a record with this fingerprint, seen at `at`, needs writing.
    pub(crate) fn needs_write(&self, app: &str, device: &str, fingerprint: u64, at: i64) -> bool {
        let w = self.written.lock().expect("records lock");
        match w.get(&(app.to_string(), device.to_string())) {
            Some((f, when)) => *f != fingerprint || at - when >= RECORD_REFRESH_MS,
            None => true,
        }
    }

    pub(crate) fn wrote(&self, app: &str, device: &str, fingerprint: u64, at: i64) {
        let mut w = self.written.lock().expect("records lock");
        if w.len() >= REMEMBERED {
            w.clear();
        }
        w.insert((app.to_string(), device.to_string()), (fingerprint, at));
    }
}
