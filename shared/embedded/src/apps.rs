use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use updraft_core::app::App;
use updraft_core::bundle::Bundle;
use updraft_core::channel::Channel;
use updraft_core::code::Code;
use updraft_core::device::now_ms;
use updraft_core::store::{AppStore, AppView, StoreError, StoreResult};

use crate::db::{SqliteStore, from_doc, is_unique_violation, to_doc, unavailable};

#[async_trait]
impl AppStore for SqliteStore {
    async fn create_app(&self, app: &App) -> StoreResult<()> {
        let doc = to_doc(app)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO apps (app_id, doc) VALUES (?1, ?2)",
                params![app.app_id, doc],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::conflict(
                        Code::AppExists,
                        format!("app {} already exists", app.app_id),
                    )
                } else {
                    unavailable(e)
                }
            })?;
            Ok(())
        })
    }

    async fn update_app(&self, app: &App) -> StoreResult<()> {
        let doc = to_doc(app)?;
        self.with(|c| {
            let n = c
                .execute(
                    "UPDATE apps SET doc = ?2 WHERE app_id = ?1",
                    params![app.app_id, doc],
                )
                .map_err(unavailable)?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no app {}", app.app_id)));
            }
            Ok(())
        })
    }

    async fn get_app(&self, app_id: &str) -> StoreResult<Option<App>> {
        self.with(|c| {
            let doc: Option<String> = c
                .query_row("SELECT doc FROM apps WHERE app_id = ?1", [app_id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(unavailable)?;
            doc.map(|d| from_doc(&d)).transpose()
        })
    }

    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT doc FROM apps ORDER BY app_id")
                .map_err(unavailable)?;
            let docs = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            docs.iter().map(|d| from_doc(d)).collect()
        })
    }

    async fn delete_app(&self, app_id: &str) -> StoreResult<Vec<String>> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let keys = {
                let mut stmt = tx
                    .prepare(
                        "SELECT storage_key FROM bundles WHERE app_id = ?1 AND status != 'deleted'",
                    )
                    .map_err(unavailable)?;
                stmt.query_map([app_id], |r| r.get::<_, String>(0))
                    .map_err(unavailable)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(unavailable)?
            };
            for sql in [
                "DELETE FROM events WHERE app_id = ?1",
                "DELETE FROM event_counts WHERE app_id = ?1",
                "DELETE FROM counters WHERE app_id = ?1",
                "DELETE FROM devices WHERE app_id = ?1",
                "DELETE FROM apps WHERE app_id = ?1",
            ] {
                tx.execute(sql, [app_id]).map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(keys)
        })
    }

    async fn app_view(&self, app_id: &str) -> StoreResult<Option<AppView>> {
        self.with(|c| {
            let tx = c.transaction().map_err(unavailable)?;
            let Some(app_doc) = tx
                .query_row("SELECT doc FROM apps WHERE app_id = ?1", [app_id], |r| r.get::<_, String>(0))
                .optional()
                .map_err(unavailable)?
            else {
                return Ok(None);
            };
            let channels = crate::channels::load_channels(&tx, app_id)?;
            let served = {
                let mut stmt = tx
                    .prepare(
                        "SELECT b.doc, b.storage_key FROM bundles b WHERE b.app_id = ?1 AND b.status = 'ready'
                         AND (b.version IN (SELECT bundle FROM channels WHERE app_id = ?1)
                              OR b.version IN (SELECT rollout_bundle FROM channels WHERE app_id = ?1))",
                    )
                    .map_err(unavailable)?;
                let rows = stmt
                    .query_map([app_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .map_err(unavailable)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(unavailable)?;
                rows.into_iter()
                    .map(|(doc, key)| crate::bundles::with_key(&doc, key))
                    .collect::<StoreResult<Vec<Bundle>>>()?
            };
            let has_overrides: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM overrides WHERE app_id = ?1)", [app_id], |r| r.get(0))
                .map_err(unavailable)?;
            let debug_sessions = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT device_id, until FROM debug_sessions WHERE app_id = ?1 AND until > ?2",
                    )
                    .map_err(unavailable)?;
                stmt.query_map(params![app_id, now_ms()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(unavailable)?
                    .collect::<Result<Vec<(String, i64)>, _>>()
                    .map_err(unavailable)?
            };
            Ok(Some(AppView {
                app: from_doc(&app_doc)?,
                channels: channels.into_iter().collect::<Vec<Channel>>(),
                served,
                has_overrides,
                debug_sessions,
            }))
        })
    }
}
