use async_trait::async_trait;
use rusqlite::params;
use updraft_core::device::now_ms;
use updraft_core::health::oldest_kept;
use updraft_core::store::{HealthCount, HealthStore, StoreResult};

use crate::db::{SqliteStore, unavailable};

#[async_trait]
impl HealthStore for SqliteStore {
    async fn count_health(&self, app_id: &str, counts: &[HealthCount]) -> StoreResult<()> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            {
                let mut add = tx
                    .prepare_cached(
                        "INSERT INTO health (app_id, channel, version, bucket, installs, failures)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT DO UPDATE SET installs = installs + excluded.installs,
                                                   failures = failures + excluded.failures",
                    )
                    .map_err(unavailable)?;
                for h in counts {
                    add.execute(params![
                        app_id,
                        h.channel,
                        h.version,
                        h.bucket,
                        h.installs as i64,
                        h.failures as i64
                    ])
                    .map_err(unavailable)?;
                }
            }
            // Buckets no window reaches any more.
            tx.execute(
                "DELETE FROM health WHERE app_id = ?1 AND bucket < ?2",
                params![app_id, oldest_kept(now_ms())],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
    }

    async fn first_failures(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        devices: &[String],
        until: i64,
    ) -> StoreResult<u64> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(unavailable)?;
            tx.execute(
                "DELETE FROM health_failed WHERE app_id = ?1 AND until <= ?2",
                params![app_id, now_ms()],
            )
            .map_err(unavailable)?;
            let mut first = 0;
            {
                let mut mark = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO health_failed (app_id, channel, version, device_id, until)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(unavailable)?;
                for device in devices {
                    first += mark
                        .execute(params![app_id, channel, version, device, until])
                        .map_err(unavailable)? as u64;
                }
            }
            tx.commit().map_err(unavailable)?;
            Ok(first)
        })
    }

    async fn health_since(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        since: i64,
    ) -> StoreResult<(u64, u64)> {
        self.with(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(installs), 0), COALESCE(SUM(failures), 0) FROM health
                 WHERE app_id = ?1 AND channel = ?2 AND version = ?3 AND bucket >= ?4",
                params![app_id, channel, version, since],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(unavailable)
        })
    }
}
