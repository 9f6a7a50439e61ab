use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};
use updraft_core::bundle::BundleStatus;
use updraft_core::channel::Channel;
use updraft_core::code::Code;
use updraft_core::history::ChannelChange;
use updraft_core::store::{ChannelStore, StoreError, StoreResult, next_revision, servable};

use crate::db::{SqliteStore, from_doc, is_unique_violation, to_doc, unavailable};

pub(crate) fn load_channels(tx: &Transaction<'_>, app_id: &str) -> StoreResult<Vec<Channel>> {
    let mut stmt = tx
        .prepare("SELECT id, doc FROM channels WHERE app_id = ?1 ORDER BY id")
        .map_err(unavailable)?;
    let rows = stmt
        .query_map([app_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    rows.into_iter()
        .map(|(id, doc)| {
            let mut ch: Channel = from_doc(&doc)?;
            ch.id = id;
            Ok(ch)
        })
        .collect()
}

/// Inside the transaction: the bundles must be ready now, not just when the handler looked.
fn check_bundle_ready(tx: &Transaction<'_>, app_id: &str, channel: &Channel) -> StoreResult<()> {
    for version in channel.versions_in_use() {
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM bundles WHERE app_id = ?1 AND version = ?2",
                params![app_id, version],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        let status = match status.as_deref() {
            Some("ready") => Some(BundleStatus::Ready),
            Some("pending") => Some(BundleStatus::Pending),
            _ => None,
        };
        servable(app_id, version, status)?;
    }
    Ok(())
}

fn rollout_bundle(channel: &Channel) -> Option<&str> {
    channel.rollout.as_ref().map(|r| r.bundle.as_str())
}

/// At most one public channel per platform: publishing one un-publishes the others it overlaps.
fn unpublish_overlapping(tx: &Transaction<'_>, app_id: &str, channel: &Channel) -> StoreResult<()> {
    if !channel.public {
        return Ok(());
    }
    for mut other in load_channels(tx, app_id)? {
        if other.name != channel.name && other.public && other.shares_platform_with(channel) {
            other.public = false;
            other.updated_at = channel.updated_at;
            other.revision += 1;
            tx.execute(
                "UPDATE channels SET doc = ?2 WHERE id = ?1",
                params![other.id, to_doc(&other)?],
            )
            .map_err(unavailable)?;
        }
    }
    Ok(())
}

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn create_channel(&self, app_id: &str, channel: &Channel) -> StoreResult<Channel> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            check_bundle_ready(&tx, app_id, channel)?;
            unpublish_overlapping(&tx, app_id, channel)?;
            let mut saved = next_revision(None, channel)?;
            tx.execute(
                "INSERT INTO channels (app_id, name, bundle, rollout_bundle, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![app_id, saved.name, saved.bundle, rollout_bundle(&saved), to_doc(&saved)?],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::conflict(
                        Code::ChannelExists,
                        format!("channel {} already exists", channel.name),
                    )
                } else {
                    unavailable(e)
                }
            })?;
            saved.id = tx.last_insert_rowid();
            tx.commit().map_err(unavailable)?;
            Ok(saved)
        })
    }

    async fn update_channel(
        &self,
        app_id: &str,
        channel: &Channel,
        change: Option<&ChannelChange>,
    ) -> StoreResult<Channel> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let row: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, doc FROM channels WHERE app_id = ?1 AND name = ?2",
                    params![app_id, channel.name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            let (id, doc) = row.ok_or_else(|| {
                StoreError::NotFound(format!("no channel {} in {app_id}", channel.name))
            })?;
            let stored: Channel = from_doc(&doc)?;
            let mut saved = next_revision(Some(&stored), channel)?;
            saved.id = id;
            check_bundle_ready(&tx, app_id, channel)?;
            unpublish_overlapping(&tx, app_id, channel)?;
            tx.execute(
                "UPDATE channels SET bundle = ?2, rollout_bundle = ?3, doc = ?4 WHERE id = ?1",
                params![id, saved.bundle, rollout_bundle(&saved), to_doc(&saved)?],
            )
            .map_err(unavailable)?;
            if let Some(change) = change {
                tx.execute(
                    "INSERT INTO channel_history (app_id, channel, doc) VALUES (?1, ?2, ?3)",
                    params![app_id, saved.name, to_doc(change)?],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(saved)
        })
    }

    async fn channel_history(
        &self,
        app_id: &str,
        name: &str,
        limit: usize,
    ) -> StoreResult<Vec<ChannelChange>> {
        self.with(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT doc FROM channel_history WHERE app_id = ?1 AND channel = ?2
                     ORDER BY seq DESC LIMIT ?3",
                )
                .map_err(unavailable)?;
            let docs = stmt
                .query_map(params![app_id, name, limit as i64], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            docs.iter().map(|d| from_doc(d)).collect()
        })
    }

    async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>> {
        self.with(|c| {
            let row: Option<(i64, String)> = c
                .query_row(
                    "SELECT id, doc FROM channels WHERE app_id = ?1 AND name = ?2",
                    params![app_id, name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            row.map(|(id, doc)| {
                let mut ch: Channel = from_doc(&doc)?;
                ch.id = id;
                Ok(ch)
            })
            .transpose()
        })
    }

    async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>> {
        self.with(|c| {
            let tx = c.transaction().map_err(unavailable)?;
            load_channels(&tx, app_id)
        })
    }

    async fn delete_channel(&self, app_id: &str, name: &str) -> StoreResult<bool> {
        self.with(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            for table in ["overrides", "channel_history", "health", "health_failed"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE app_id = ?1 AND channel = ?2"),
                    params![app_id, name],
                )
                .map_err(unavailable)?;
            }
            let n = tx
                .execute(
                    "DELETE FROM channels WHERE app_id = ?1 AND name = ?2",
                    params![app_id, name],
                )
                .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(n > 0)
        })
    }
}
