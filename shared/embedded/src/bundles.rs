use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use updraft_core::bundle::{Bundle, BundleStatus};
use updraft_core::store::{BundleStore, Registered, StoreError, StoreResult};

use crate::db::{SqliteStore, from_doc, to_doc, unavailable};

/// The storage key is kept out of the JSON document (it never leaves the server).
pub(crate) fn with_key(doc: &str, key: String) -> StoreResult<Bundle> {
    let mut b: Bundle = from_doc(doc)?;
    b.storage_key = key;
    Ok(b)
}

fn load(c: &rusqlite::Connection, app_id: &str, version: &str) -> StoreResult<Option<Bundle>> {
    let row: Option<(String, String)> = c
        .query_row(
            "SELECT doc, storage_key FROM bundles WHERE app_id = ?1 AND version = ?2",
            params![app_id, version],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(doc, key)| with_key(&doc, key)).transpose()
}

fn save(c: &rusqlite::Connection, app_id: &str, b: &Bundle) -> StoreResult<()> {
    c.execute(
        "INSERT INTO bundles (app_id, version, status, created_at, storage_key, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (app_id, version) DO UPDATE SET status = excluded.status, doc = excluded.doc",
        params![app_id, b.version, b.status.as_str(), b.created_at, b.storage_key, to_doc(b)?],
    )
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl BundleStore for SqliteStore {
    async fn register_bundle(&self, app_id: &str, bundle: &Bundle) -> StoreResult<Registered> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let outcome = match load(&tx, app_id, &bundle.version)? {
                None => {
                    save(&tx, app_id, bundle)?;
                    Registered::Created(bundle.clone())
                }
                Some(old) => old.reregister(bundle)?,
            };
            tx.commit().map_err(unavailable)?;
            Ok(outcome)
        })
    }

    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<Bundle>> {
        self.with(|c| load(c, app_id, version))
    }

    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<Bundle>> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT doc, storage_key FROM bundles WHERE app_id = ?1 AND status != 'deleted'
                     ORDER BY created_at DESC, version DESC",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([app_id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            rows.into_iter().map(|(d, k)| with_key(&d, k)).collect()
        })
    }

    async fn mark_ready(&self, app_id: &str, version: &str, at: i64) -> StoreResult<Bundle> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let b = load(&tx, app_id, version)?
                .ok_or_else(|| StoreError::NotFound(format!("no bundle {version} in {app_id}")))?;
            let Some(b) = b.finalized(at)? else {
                return Ok(b);
            };
            save(&tx, app_id, &b)?;
            tx.commit().map_err(unavailable)?;
            Ok(b)
        })
    }

    async fn delete_bundle(&self, app_id: &str, version: &str) -> StoreResult<Bundle> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let mut b = load(&tx, app_id, version)?
                .filter(|b| b.status != BundleStatus::Deleted)
                .ok_or_else(|| StoreError::NotFound(format!("no bundle {version} in {app_id}")))?;
            let serving: Option<String> = tx
                .query_row(
                    "SELECT name FROM channels WHERE app_id = ?1 AND (bundle = ?2 OR rollout_bundle = ?2) LIMIT 1",
                    params![app_id, version],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if let Some(channel) = serving {
                return Err(StoreError::bundle_in_use(&channel, version));
            }
            b.status = BundleStatus::Deleted;
            save(&tx, app_id, &b)?;
            tx.commit().map_err(unavailable)?;
            Ok(b)
        })
    }
}
