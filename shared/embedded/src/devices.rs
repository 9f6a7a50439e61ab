use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use updraft_core::device::{DailyStat, DeviceEvent, EVENT_RETENTION_MS, now_ms};
use updraft_core::store::{AssignedBy, DeviceStore, Override, StoreError, StoreResult};

use crate::db::{SqliteStore, from_doc, unavailable};
use crate::event_writer::write_events;

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn set_override(
        &self,
        app_id: &str,
        device_id: &str,
        channel: &str,
        by: AssignedBy,
    ) -> StoreResult<()> {
        let by_device = by == AssignedBy::Device;
        self.with(|c| {
            let set = c
                .execute(
                    "INSERT INTO overrides (app_id, device_id, channel, by_device)
                     SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM apps WHERE app_id = ?1)
                     ON CONFLICT (app_id, device_id) DO UPDATE SET channel = excluded.channel,
                     by_device = excluded.by_device",
                    params![app_id, device_id, channel, by_device],
                )
                .map_err(unavailable)?;
            if set == 0 {
                return Err(StoreError::NotFound(format!("no app {app_id}")));
            }
            Ok(())
        })
    }

    async fn delete_override(&self, app_id: &str, device_id: &str) -> StoreResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM overrides WHERE app_id = ?1 AND device_id = ?2",
                params![app_id, device_id],
            )
            .map_err(unavailable)?
                > 0)
        })
    }

    async fn get_override(&self, app_id: &str, device_id: &str) -> StoreResult<Option<Override>> {
        self.with(|c| {
            c.query_row(
                "SELECT channel, by_device FROM overrides WHERE app_id = ?1 AND device_id = ?2",
                params![app_id, device_id],
                |r| {
                    Ok(Override {
                        channel: r.get(0)?,
                        by: if r.get::<_, bool>(1)? {
                            AssignedBy::Device
                        } else {
                            AssignedBy::Operator
                        },
                    })
                },
            )
            .optional()
            .map_err(unavailable)
        })
    }

    async fn record_events(&self, events: &[DeviceEvent]) -> StoreResult<()> {
        let quota = self.events_per_app;
        let records = self.records.clone();
        self.with(|c| write_events(c, events, quota, &records))
    }

    fn enqueue_event(&self, event: DeviceEvent) {
        self.writer.enqueue(event);
    }

    async fn settle(&self) {
        let writer = self.writer.clone();
        // The writer thread answers once it has committed what was queued before.
        let _ = tokio::task::spawn_blocking(move || writer.flush()).await;
    }

    async fn start_debug(&self, app_id: &str, device_id: &str, until: i64) -> StoreResult<()> {
        self.with(|c| {
            let tx = c.transaction().map_err(unavailable)?;
            // Ended sessions go when a new one starts: they are few, and the view skips them.
            tx.execute(
                "DELETE FROM debug_sessions WHERE app_id = ?1 AND until <= ?2",
                params![app_id, now_ms()],
            )
            .map_err(unavailable)?;
            let started = tx.execute(
                "INSERT INTO debug_sessions (app_id, device_id, until)
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM apps WHERE app_id = ?1)
                 ON CONFLICT (app_id, device_id) DO UPDATE SET until = excluded.until",
                params![app_id, device_id, until],
            );
            if started.map_err(unavailable)? == 0 {
                return Err(StoreError::NotFound(format!("no app {app_id}")));
            }
            tx.commit().map_err(unavailable)
        })
    }

    async fn end_debug(&self, app_id: &str, device_id: &str) -> StoreResult<bool> {
        self.with(|c| {
            Ok(c.execute(
                "DELETE FROM debug_sessions WHERE app_id = ?1 AND device_id = ?2",
                params![app_id, device_id],
            )
            .map_err(unavailable)?
                > 0)
        })
    }

    async fn device_events(
        &self,
        app_id: &str,
        device_id: &str,
        since: i64,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEvent>> {
        // Expired events are deleted in the background once a minute; never show them.
        let since = since.max(updraft_core::device::now_ms() - EVENT_RETENTION_MS - 1);
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT doc FROM events WHERE app_id = ?1 AND device_id = ?2 AND at > ?3 ORDER BY seq LIMIT ?4",
                )
                .map_err(unavailable)?;
            let docs = stmt
                .query_map(params![app_id, device_id, since, limit as i64], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            docs.iter().map(|d| from_doc(d)).collect()
        })
    }

    async fn daily_stats(&self, app_id: &str) -> StoreResult<Vec<DailyStat>> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT version, day, checks, installs, failures FROM counters WHERE app_id = ?1
                     ORDER BY day DESC, version",
                )
                .map_err(unavailable)?;
            stmt.query_map([app_id], |r| {
                Ok(DailyStat {
                    version: r.get(0)?,
                    day: r.get(1)?,
                    checks: r.get::<_, i64>(2)? as u64,
                    installs: r.get::<_, i64>(3)? as u64,
                    failures: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)
        })
    }
}
