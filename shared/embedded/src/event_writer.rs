//! Writes device events off the answer path: a thread with its own connection drains a
//! queue and commits each burst in one transaction.

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use updraft_core::device::{
    DeviceEvent, EVENT_RETENTION_MS, EVENTS_PER_DEVICE, RecordsWritten, latest_per_device, now_ms,
    tally,
};
use updraft_core::store::StoreResult;

use crate::db::{open_connection, to_doc, unavailable};

enum Msg {
    Event(Box<DeviceEvent>),
    Flush(mpsc::SyncSender<()>),
}

pub(crate) struct EventWriter {
    tx: Mutex<Option<Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Most events written per transaction. Past a few hundred, per-event cost no longer falls
/// (`cargo bench -p updraft-embedded --bench events`); the cap bounds one transaction.
const BURST: usize = 2048;

impl EventWriter {
    pub(crate) fn start(
        path: &Path,
        events_per_app: usize,
        records: Arc<RecordsWritten>,
    ) -> rusqlite::Result<Self> {
        let conn = open_connection(path)?;
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("updraft-events".into())
            .spawn(move || run(conn, rx, events_per_app, records))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(EventWriter {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn enqueue(&self, event: DeviceEvent) {
        if let Ok(guard) = self.tx.lock()
            && let Some(tx) = guard.as_ref()
        {
            let _ = tx.send(Msg::Event(Box::new(event)));
        }
    }

    pub(crate) fn flush(&self) {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let sent = self
            .tx
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|tx| tx.send(Msg::Flush(done_tx)).is_ok()))
            .unwrap_or(false);
        if sent {
            let _ = done_rx.recv();
        }
    }

    pub(crate) fn close(&self) {
        drop(self.tx.lock().ok().and_then(|mut g| g.take()));
        if let Some(handle) = self.thread.lock().ok().and_then(|mut g| g.take()) {
            let _ = handle.join();
        }
    }
}

/// How often expired events are deleted.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// Once woken, the writer lets events gather this long before writing them. Under load it
/// then finds the queue non-empty every time and never parks, so request threads never pay
/// a syscall to wake it, and a busy moment's events share one transaction.
const GATHER: Duration = Duration::from_millis(5);

fn run(
    mut conn: Connection,
    rx: Receiver<Msg>,
    events_per_app: usize,
    records: Arc<RecordsWritten>,
) {
    let mut expired_at = Instant::now() - EXPIRE_EVERY;
    // A full burst means the queue had more: write on at once rather than gather, or a
    // writer slower than the arrivals would let the queue (and memory) grow without end.
    let mut behind = false;
    loop {
        if expired_at.elapsed() >= EXPIRE_EVERY {
            if let Err(e) = expire_events(&conn, now_ms()) {
                tracing::error!(error = %e, "could not delete expired device events");
            }
            expired_at = Instant::now();
        }
        let first = match rx.recv_timeout(EXPIRE_EVERY) {
            Ok(msg) => msg,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if !behind {
            std::thread::sleep(GATHER);
        }
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Event(e) => events.push(*e),
                Msg::Flush(done) => flushes.push(done),
            }
            next = if events.len() < BURST {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        behind = events.len() >= BURST;
        if !events.is_empty()
            && let Err(e) = write_events(&mut conn, &events, events_per_app, &records)
        {
            tracing::error!(error = %e, count = events.len(), "could not record device events");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Appends events, moves counters, updates device records and trims logs (per device, then
/// per app, oldest first), in one transaction.
pub(crate) fn write_events(
    conn: &mut Connection,
    events: &[DeviceEvent],
    events_per_app: usize,
    records: &RecordsWritten,
) -> StoreResult<()> {
    let mut written = Vec::new();
    let tx = conn.transaction().map_err(unavailable)?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO events (app_id, device_id, at, doc) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(unavailable)?;
        let mut count = tx
            .prepare_cached(
                "INSERT INTO counters (app_id, version, day, checks, installs, failures) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (app_id, version, day) DO UPDATE SET checks = checks + excluded.checks,
                 installs = installs + excluded.installs, failures = failures + excluded.failures",
            )
            .map_err(unavailable)?;
        let mut device = tx
            .prepare_cached(
                "INSERT INTO devices (app_id, device_id, last_seen, doc) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app_id, device_id) DO UPDATE SET last_seen = excluded.last_seen, doc = excluded.doc",
            )
            .map_err(unavailable)?;
        for e in events.iter().filter(|e| e.log) {
            insert
                .execute(params![e.app_id, e.device_id, e.at, to_doc(e)?])
                .map_err(unavailable)?;
        }
        // One upsert per distinct counter key and device, not one per event.
        for ((app, version, day), t) in tally(events) {
            count
                .execute(params![app, version, day, t.checks, t.installs, t.failures])
                .map_err(unavailable)?;
        }
        // Only records that changed, or that this process wrote an hour ago (the write diet).
        for ((app, dev), e) in latest_per_device(events) {
            let record = e.record();
            let fingerprint = record.fingerprint();
            if !records.needs_write(app, dev, fingerprint, e.at) {
                continue;
            }
            device
                .execute(params![app, dev, e.at, to_doc(&record)?])
                .map_err(unavailable)?;
            written.push((app, dev, fingerprint, e.at));
        }
        let mut seen: Vec<(&str, &str)> = events
            .iter()
            .filter(|e| e.log)
            .map(|e| (e.app_id.as_str(), e.device_id.as_str()))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let mut trim = tx
            .prepare_cached(
                "DELETE FROM events WHERE app_id = ?1 AND device_id = ?2 AND seq <= (
                   SELECT seq FROM events WHERE app_id = ?1 AND device_id = ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
            )
            .map_err(unavailable)?;
        for &(app, dev) in &seen {
            trim.execute(params![app, dev, EVENTS_PER_DEVICE as i64])
                .map_err(unavailable)?;
        }
        // The app's oldest events beyond its quota. They are the first rows of the app in
        // `seq` order, so the scan stops as soon as it has them.
        let mut over = tx
            .prepare_cached("SELECT n - ?2 FROM event_counts WHERE app_id = ?1 AND n > ?2")
            .map_err(unavailable)?;
        let mut evict = tx
            .prepare_cached(
                "DELETE FROM events WHERE seq IN (
                   SELECT seq FROM events WHERE app_id = ?1 ORDER BY seq LIMIT ?2)",
            )
            .map_err(unavailable)?;
        let mut apps: Vec<&str> = seen.iter().map(|(app, _)| *app).collect();
        apps.dedup();
        for app in apps {
            let excess: Option<i64> = over
                .query_row(params![app, events_per_app as i64], |r| r.get(0))
                .optional()
                .map_err(unavailable)?;
            if let Some(excess) = excess {
                evict.execute(params![app, excess]).map_err(unavailable)?;
            }
        }
    }
    tx.commit().map_err(unavailable)?;
    for (app, dev, fingerprint, at) in written {
        records.wrote(app, dev, fingerprint, at);
    }
    Ok(())
}

/// Deletes events past the retention. Events arrive in time order, so the expired ones are
/// the head of the table in `seq` order: the scan stops at the first live one.
pub(crate) fn expire_events(conn: &Connection, now: i64) -> StoreResult<usize> {
    conn.execute(
        "DELETE FROM events WHERE seq < COALESCE(
           (SELECT seq FROM events WHERE at >= ?1 ORDER BY seq LIMIT 1),
           (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))",
        [now - EVENT_RETENTION_MS],
    )
    .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(device: &str, at: i64) -> DeviceEvent {
        DeviceEvent {
            app_id: "com.test.app".into(),
            device_id: device.into(),
            at,
            action: updraft_core::action::Action::Ping,
            version_name: "1.0.0".into(),
            old_version_name: String::new(),
            platform: "ios".into(),
            version_build: "1.0.0".into(),
            plugin_version: String::new(),
            is_emulator: false,
            is_prod: true,
            custom_id: String::new(),
            outcome: None,
            metadata: None,
            counter: None,
            updates_device: false,
            log: true,
        }
    }

    #[test]
    fn expiry_deletes_exactly_the_events_past_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(dir.path().join("t.db")).unwrap();
        let mut conn = open_connection(store.path()).unwrap();
        let now = now_ms();
        let old = now - EVENT_RETENTION_MS - 1000;
        let events: Vec<DeviceEvent> = (0..10)
            .map(|i| event("a", old + i))
            .chain((0..5).map(|i| event("b", now + i)))
            .collect();
        write_events(&mut conn, &events, 1_000, &RecordsWritten::default()).unwrap();
        // The store's own sweeper may expire some of them first: count what is left.
        assert!(expire_events(&conn, now).unwrap() <= 10);
        assert_eq!(
            expire_events(&conn, now).unwrap(),
            0,
            "nothing left to expire"
        );
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 5);
        let oldest: i64 = conn
            .query_row("SELECT MIN(at) FROM events", [], |r| r.get(0))
            .unwrap();
        assert!(oldest >= now, "only the live events are left");
        // Everything expired at once: the table empties.
        assert_eq!(
            expire_events(&conn, now + EVENT_RETENTION_MS + 10).unwrap(),
            5
        );
    }

    #[test]
    fn an_app_keeps_its_newest_events_up_to_its_quota() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let store = crate::SqliteStore::open_with_event_quota(&path, 50).unwrap();
        let mut conn = open_connection(&path).unwrap();
        let memo = RecordsWritten::default();
        let now = now_ms();
        // 30 fresh device ids, 3 events each, in time order: 90 events for a quota of 50.
        for d in 0..30 {
            let batch: Vec<DeviceEvent> = (0..3)
                .map(|i| event(&format!("dev-{d:02}"), now + d * 10 + i))
                .collect();
            write_events(&mut conn, &batch, 50, &memo).unwrap();
        }
        let mut other = event("dev-x", now);
        other.app_id = "com.other.app".into();
        write_events(&mut conn, &[other], 50, &memo).unwrap();
        let count = |app: &str| -> (i64, i64, i64) {
            conn.query_row(
                "SELECT COUNT(*), MIN(at), (SELECT n FROM event_counts WHERE app_id = ?1)
                 FROM events WHERE app_id = ?1",
                [app],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        let (n, oldest, counted) = count("com.test.app");
        assert_eq!(
            (n, counted),
            (50, 50),
            "the quota, and the count kept exact"
        );
        // The 40 oldest went: the newest 50 are the last 16 devices' and part of one more.
        assert_eq!(oldest, now + 13 * 10 + 1);
        assert_eq!(count("com.other.app").0, 1, "another app keeps its own");
        drop(store);
    }

    /// The write diet: a device's record is rewritten only when it changed or an hour on.
    #[test]
    fn unchanged_device_records_are_not_rewritten_until_an_hour_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let store = crate::SqliteStore::open(&path).unwrap();
        let mut conn = open_connection(&path).unwrap();
        let memo = RecordsWritten::default();
        let seen = |conn: &Connection| -> (i64, String) {
            conn.query_row(
                "SELECT last_seen, doc FROM devices WHERE device_id = 'dev'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        let check = |at: i64, version: &str| {
            let mut e = event("dev", at);
            e.updates_device = true;
            e.version_name = version.into();
            e
        };
        let t0 = now_ms();
        write_events(&mut conn, &[check(t0, "1.0.0")], 1_000, &memo).unwrap();
        write_events(&mut conn, &[check(t0 + 60_000, "1.0.0")], 1_000, &memo).unwrap();
        assert_eq!(seen(&conn).0, t0, "nothing changed: not rewritten");
        write_events(&mut conn, &[check(t0 + 120_000, "1.1.0")], 1_000, &memo).unwrap();
        let (at, doc) = seen(&conn);
        assert_eq!(at, t0 + 120_000, "a new version is written at once");
        assert!(doc.contains("1.1.0"));
        let hour = updraft_core::device::RECORD_REFRESH_MS;
        write_events(
            &mut conn,
            &[check(t0 + 120_000 + hour, "1.1.0")],
            1_000,
            &memo,
        )
        .unwrap();
        assert_eq!(
            seen(&conn).0,
            t0 + 120_000 + hour,
            "an hour on: last_seen moves"
        );
        store.close();
    }
}
