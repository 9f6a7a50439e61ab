use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, ReturnValue, TransactWriteItem, Update};
use updraft_core::channel::Channel;
use updraft_core::code::Code;
use updraft_core::history::ChannelChange;
use updraft_core::key::random_hex;
use updraft_core::store::{
    ChannelStore, DeviceStore, StoreError, StoreResult, next_revision, servable,
};

use crate::table::*;

/// A channel's history entries sort under this, oldest first: `H#{channel}#{at}#{random}`.
fn history_prefix(channel: &str) -> String {
    format!("H#{channel}#")
}

pub(crate) fn stamp_bump(table: &str, app_id: &str, stamp: i64) -> TransactWriteItem {
    // Every channel write moves the app's stamp, conditioned on the value it read: channel
    // writes of one app are serialised, and caches can tell when to reload.
    TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key(app_pk(app_id), APP_SK)))
                .update_expression("SET stamp = :next")
                .condition_expression("stamp = :seen")
                .expression_attribute_values(":next", number_attr(stamp + 1))
                .expression_attribute_values(":seen", number_attr(stamp))
                .build()
                .expect("fields set"),
        )
        .build()
}

impl DynamoStore {
    async fn app_stamp(&self, app_id: &str) -> StoreResult<i64> {
        let item = self
            .get(app_pk(app_id), APP_SK)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no app {app_id}")))?;
        Ok(get_n(&item, "stamp"))
    }

    async fn reserve_channel_id(&self, app_id: &str) -> StoreResult<i64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(app_pk(app_id), APP_SK)))
            .update_expression("ADD next_channel_id :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", number_attr(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(o) => Ok(o
                .attributes
                .as_ref()
                .map(|a| get_n(a, "next_channel_id"))
                .unwrap_or(1)),
            Err(e) if condition_failed(&e) => Err(StoreError::NotFound(format!("no app {app_id}"))),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn write_channel(
        &self,
        app_id: &str,
        channel: &Channel,
        create: bool,
        change: Option<&ChannelChange>,
    ) -> StoreResult<Channel> {
        let mut saved = channel.clone();
        if create {
            saved.id = self.reserve_channel_id(app_id).await?;
        }
        for attempt in 0..STAMP_ATTEMPTS {
            let stamp = self.app_stamp(app_id).await?;
            let current = self.query_prefix(app_pk(app_id), "C#").await?;
            let mut others = Vec::new();
            let mut stored = None;
            for item in &current {
                let c: Channel = from_doc(item)?;
                if c.name == saved.name {
                    stored = Some(c);
                } else if saved.public && c.public && c.shares_platform_with(&saved) {
                    others.push(c);
                }
            }
            if create && stored.is_some() {
                return Err(StoreError::conflict(
                    Code::ChannelExists,
                    format!("channel {} already exists", saved.name),
                ));
            }
            if !create && stored.is_none() {
                return Err(StoreError::NotFound(format!(
                    "no channel {} in {app_id}",
                    saved.name
                )));
            }
            let id = stored.as_ref().map_or(saved.id, |c| c.id);
            let mut next = next_revision(stored.as_ref(), channel)?;
            next.id = id;
            let mut item = key(app_pk(app_id), channel_sk(&next.name));
            item.insert("doc".into(), to_doc(&next)?);
            if let Some(b) = &next.bundle {
                item.insert("bundle".into(), string_attr(b.clone()));
            }
            // Each bundle the channel sends is copied into its item, for the hot path's one
            // read, and must still be ready when the transaction commits.
            let mut sent = Vec::new();
            if let Some(v) = next.bundle_version() {
                sent.push(("served", v));
            }
            if let Some(r) = &next.rollout {
                sent.push(("rollout_served", r.bundle.as_str()));
            }
            let mut checks = Vec::new();
            for (attr, v) in sent {
                let bundle_item = self.get(app_pk(app_id), &bundle_sk(v)).await?;
                let status = bundle_item.as_ref().and_then(bundle_status);
                servable(app_id, v, status)?;
                let bundle_item = bundle_item.unwrap_or_default();
                item.insert(
                    attr.into(),
                    string_attr(get_s(&bundle_item, "doc").unwrap_or_default()),
                );
                item.insert(
                    format!("{attr}_key"),
                    string_attr(get_s(&bundle_item, "storage_key").unwrap_or_default()),
                );
                checks.push(
                    TransactWriteItem::builder()
                        .condition_check(
                            ConditionCheck::builder()
                                .table_name(&self.table)
                                .set_key(Some(key(app_pk(app_id), bundle_sk(v))))
                                .condition_expression("#st = :ready")
                                .expression_attribute_names("#st", "status")
                                .expression_attribute_values(":ready", string_attr("ready"))
                                .build()
                                .expect("fields set"),
                        )
                        .build(),
                );
            }
            let bundle_checks = 2..2 + checks.len();
            let mut writes = vec![
                stamp_bump(&self.table, app_id, stamp),
                put(&self.table, item),
            ];
            writes.extend(checks);
            if let Some(change) = change {
                let mut entry = key(
                    app_pk(app_id),
                    format!(
                        "{}{:013}#{}",
                        history_prefix(&next.name),
                        change.at,
                        random_hex(4)
                    ),
                );
                entry.insert("doc".into(), to_doc(change)?);
                writes.push(put(&self.table, entry));
            }
            for mut other in others {
                other.public = false;
                other.updated_at = next.updated_at;
                other.revision += 1;
                writes.push(
                    TransactWriteItem::builder()
                        .update(
                            Update::builder()
                                .table_name(&self.table)
                                .set_key(Some(key(app_pk(app_id), channel_sk(&other.name))))
                                .update_expression("SET doc = :d")
                                .expression_attribute_values(":d", to_doc(&other)?)
                                .build()
                                .expect("fields set"),
                        )
                        .build(),
                );
            }
            match self.transact(writes).await? {
                Txn::Done => return Ok(next),
                Txn::Cancelled(r) if bundle_checks.clone().any(|i| Txn::failed_at(&r, i)) => {
                    return Err(StoreError::conflict(
                        Code::BundleNotReady,
                        "the bundle changed meanwhile",
                    ));
                }
                // The stamp moved: another channel write won; read again and retry.
                Txn::Cancelled(_) => backoff(attempt).await,
            }
        }
        Err(StoreError::conflict(
            Code::ConcurrentUpdate,
            "the channels changed concurrently; retry",
        ))
    }
}

#[async_trait]
impl ChannelStore for DynamoStore {
    async fn create_channel(&self, app_id: &str, channel: &Channel) -> StoreResult<Channel> {
        self.write_channel(app_id, channel, true, None).await
    }

    async fn update_channel(
        &self,
        app_id: &str,
        channel: &Channel,
        change: Option<&ChannelChange>,
    ) -> StoreResult<Channel> {
        self.write_channel(app_id, channel, false, change).await
    }

    async fn channel_history(
        &self,
        app_id: &str,
        name: &str,
        limit: usize,
    ) -> StoreResult<Vec<ChannelChange>> {
        let (pk, prefix) = (&app_pk(app_id), &history_prefix(name));
        let items = pages(limit, |start, have| async move {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", string_attr(pk.clone()))
                .expression_attribute_values(":prefix", string_attr(prefix.clone()))
                .scan_index_forward(false)
                .limit((limit - have).max(1) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await?;
        items.iter().take(limit).map(from_doc).collect()
    }

    async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>> {
        self.get(app_pk(app_id), &channel_sk(name))
            .await?
            .map(|i| from_doc(&i))
            .transpose()
    }

    async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>> {
        let mut list: Vec<Channel> = self
            .query_prefix(app_pk(app_id), "C#")
            .await?
            .iter()
            .map(from_doc)
            .collect::<StoreResult<_>>()?;
        list.sort_by_key(|c| c.id);
        Ok(list)
    }

    async fn delete_channel(&self, app_id: &str, name: &str) -> StoreResult<bool> {
        // Overrides to this channel go first, each keeping the app's override count right.
        for item in self.query_prefix(app_pk(app_id), "O#").await? {
            if get_s(&item, "channel") == Some(name)
                && let Some(device) = get_s(&item, "sk").and_then(|s| s.strip_prefix("O#"))
            {
                self.delete_override(app_id, device).await?;
            }
        }
        // Its history goes with it (a new channel of that name starts afresh).
        let history = self
            .query_prefix(app_pk(app_id), &history_prefix(name))
            .await?;
        self.delete_keys(
            history
                .iter()
                .map(|i| key(app_pk(app_id), get_s(i, "sk").unwrap_or_default()))
                .collect(),
        )
        .await?;
        for attempt in 0..STAMP_ATTEMPTS {
            let stamp = match self.app_stamp(app_id).await {
                Ok(s) => s,
                Err(StoreError::NotFound(_)) => return Ok(false),
                Err(e) => return Err(e),
            };
            let writes = vec![
                stamp_bump(&self.table, app_id, stamp),
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(app_pk(app_id), channel_sk(name))))
                            .condition_expression("attribute_exists(pk)")
                            .build()
                            .expect("fields set"),
                    )
                    .build(),
            ];
            match self.transact(writes).await? {
                Txn::Done => return Ok(true),
                Txn::Cancelled(r) if Txn::failed_at(&r, 1) => return Ok(false),
                Txn::Cancelled(_) => backoff(attempt).await,
            }
        }
        Err(StoreError::conflict(
            Code::ConcurrentUpdate,
            "the channels changed concurrently; retry",
        ))
    }
}
