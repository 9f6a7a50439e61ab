//! The SQLite file: schema, connection settings, and the blocking-call helper.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use updraft_core::device::EVENTS_PER_APP;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde::de::DeserializeOwned;
use updraft_core::store::{StoreError, StoreResult};

use crate::event_writer::EventWriter;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    bundle TEXT,
    -- The rollout's target, beside the stable bundle: both are served, neither deletable.
    rollout_bundle TEXT,
    doc TEXT NOT NULL,
    UNIQUE (app_id, name)
);
-- Every change of what a channel serves, written in the transaction that makes it.
CREATE TABLE IF NOT EXISTS channel_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS channel_history_by_channel ON channel_history (app_id, channel, seq);
-- Installs and failed starts per channel, version and five-minute bucket (release health).
CREATE TABLE IF NOT EXISTS health (
    app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    installs INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (app_id, channel, version, bucket)
) WITHOUT ROWID;
-- Devices whose failed start of a version on a channel was counted, until when.
CREATE TABLE IF NOT EXISTS health_failed (
    app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    device_id TEXT NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (app_id, channel, version, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bundles (
    app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    storage_key TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, version)
);
CREATE TABLE IF NOT EXISTS overrides (
    app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    by_device INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, device_id)
);
CREATE TABLE IF NOT EXISTS debug_sessions (
    app_id TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (app_id, device_id)
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_device ON events (app_id, device_id, seq);
-- Each app's number of stored events, kept exact by triggers whoever inserts or deletes
-- (writes, per-device trims, expiry, app deletion), for the per-app quota.
CREATE TABLE IF NOT EXISTS event_counts (
    app_id TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS event_counted AFTER INSERT ON events BEGIN
    INSERT INTO event_counts (app_id, n) VALUES (NEW.app_id, 1)
    ON CONFLICT (app_id) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS event_uncounted AFTER DELETE ON events BEGIN
    UPDATE event_counts SET n = n - 1 WHERE app_id = OLD.app_id;
END;
-- Retention walks events in seq order (they arrive in time order), so no index on `at`:
-- one b-tree fewer to update on every event.
DROP INDEX IF EXISTS events_by_time;
CREATE TABLE IF NOT EXISTS counters (
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    day TEXT NOT NULL,
    checks INTEGER NOT NULL DEFAULT 0,
    installs INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, version, day)
);
CREATE TABLE IF NOT EXISTS devices (
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, device_id)
);
";

pub(crate) fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL: readers never wait for the writer; NORMAL is durable across process crashes.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Brings a database made by an older version up to the schema: columns added since are
/// added with their defaults (an override stored before `by_device` existed counts as an
/// operator's, which is what it was treated as then).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let added = [
        ("overrides", "by_device", "INTEGER NOT NULL DEFAULT 0"),
        ("channels", "rollout_bundle", "TEXT"),
    ];
    for (table, column, kind) in added {
        let has: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    // Events stored before the counts existed.
    conn.execute(
        "INSERT INTO event_counts (app_id, n)
         SELECT app_id, COUNT(*) FROM events
         WHERE NOT EXISTS (SELECT 1 FROM event_counts) GROUP BY app_id",
        [],
    )?;
    Ok(())
}

/// Every port over one SQLite file. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) conn: Arc<Mutex<Connection>>,
    pub(crate) writer: Arc<EventWriter>,
    path: PathBuf,
    /// Most events kept per app; past it the oldest go.
    pub(crate) events_per_app: usize,
    /// Device records written, shared by both write paths (the write diet).
    pub(crate) records: Arc<updraft_core::device::RecordsWritten>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its schema.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with_event_quota(path, EVENTS_PER_APP)
    }

    /// Opens it keeping at most `events_per_app` events per app (oldest evicted first).
    pub fn open_with_event_quota(
        path: impl AsRef<Path>,
        events_per_app: usize,
    ) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = open_connection(&path).map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        migrate(&conn).map_err(unavailable)?;
        let records = Arc::new(updraft_core::device::RecordsWritten::default());
        let writer =
            EventWriter::start(&path, events_per_app, records.clone()).map_err(unavailable)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            writer: Arc::new(writer),
            path,
            events_per_app,
            records,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes every buffered event and stops the background writer. Call before exit.
    pub fn close(&self) {
        self.writer.close();
        if let Ok(conn) = self.conn.lock() {
            let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
        }
    }

    /// Waits until events enqueued so far are written (tests, shutdown).
    pub fn flush(&self) {
        self.writer.flush();
    }

    /// Runs `f` on the store's one connection: calls take turns, reads included. They are
    /// short, update checks read their app view from memory (`CachedStore`), and device
    /// events go through the event writer's own connection, so the turns are rarely waited for.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Unavailable("database lock poisoned".into()))?;
        f(&mut conn)
    }
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(crate) fn to_doc<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(unavailable)
}

pub(crate) fn from_doc<T: DeserializeOwned>(doc: &str) -> StoreResult<T> {
    serde_json::from_str(doc).map_err(|e| StoreError::Unavailable(format!("corrupt record: {e}")))
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}
