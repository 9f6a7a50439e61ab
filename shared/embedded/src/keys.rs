use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use updraft_core::code::Code;
use updraft_core::key::ApiKey;
use updraft_core::store::{KeyStore, StoreError, StoreResult};

use crate::db::{SqliteStore, from_doc, is_unique_violation, to_doc, unavailable};

fn with_hash(doc: &str, hash: String) -> StoreResult<ApiKey> {
    let mut k: ApiKey = from_doc(doc)?;
    k.hash = hash;
    Ok(k)
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_key(&self, key: &ApiKey) -> StoreResult<()> {
        let doc = to_doc(key)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO api_keys (id, hash, doc) VALUES (?1, ?2, ?3)",
                params![key.id, key.hash, doc],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::conflict(Code::KeyExists, "this key already exists")
                } else {
                    unavailable(e)
                }
            })?;
            Ok(())
        })
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.with(|c| {
            let doc: Option<String> = c
                .query_row("SELECT doc FROM api_keys WHERE hash = ?1", [hash], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(unavailable)?;
            doc.map(|d| with_hash(&d, hash.to_string())).transpose()
        })
    }

    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.with(|c| {
            let mut stmt = c
                .prepare("SELECT doc, hash FROM api_keys ORDER BY id")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            rows.into_iter().map(|(d, h)| with_hash(&d, h)).collect()
        })
    }

    async fn delete_key(&self, id: &str) -> StoreResult<bool> {
        self.with(|c| {
            Ok(c.execute("DELETE FROM api_keys WHERE id = ?1", [id])
                .map_err(unavailable)?
                > 0)
        })
    }

    async fn count_keys(&self) -> StoreResult<u64> {
        self.with(|c| {
            c.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(unavailable)
        })
    }
}
