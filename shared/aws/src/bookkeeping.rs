//! The update check's bookkeeping on DynamoDB, on a write diet.
//!
//! Every check used to write its device's record and `ADD` to a daily counter: two write
//! units per check. Now:
//! - counters are summed in the process and flushed, one `ADD` per (app, version, day),
//!   once they have waited `FLUSH_EVERY` (checked at each bookkeeping write and `settle`),
//!   before a stats read, and at shutdown (`DeviceStore::flush`: `updraft serve`'s end, a
//!   Lambda sandbox's SIGTERM). A crash loses what was waiting;
//! - a device record is written when something in it changed, or when the one this process
//!   wrote is older than an hour (`updraft_core::device::RecordsWritten`, shared with the
//!   embedded store).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use updraft_core::device::Tally;

/// How long summed counters may wait in memory.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(10);

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
