use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, PutRequest, ReturnValue, TransactWriteItem, Update, WriteRequest,
};
use std::collections::BTreeMap;

use updraft_core::device::{
    DailyStat, DeviceEvent, EVENTS_PER_DEVICE, latest_per_device, now_ms, tally,
};
use updraft_core::key::random_hex;
use updraft_core::store::{AssignedBy, DeviceStore, Override, StoreError, StoreResult};

use crate::table::*;

/// Device records outlive their events: a device silent for this long is forgotten.
const DEVICE_RECORD_TTL_SECS: i64 = 90 * 24 * 3600;

fn override_count_change(table: &str, app_id: &str, by: i64) -> TransactWriteItem {
    TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key(app_pk(app_id), APP_SK)))
                .update_expression("ADD override_count :by")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":by", number_attr(by))
                .build()
                .expect("fields set"),
        )
        .build()
}

/// Sort key of an event: time first (zero-padded ms), then a random tail for uniqueness.
fn event_sk(at: i64) -> String {
    format!("{at:013}#{}", random_hex(4))
}

impl DynamoStore {
    /// Writes the summed counters (all, or only if due): one `ADD` per key. What could not be
    /// written waits for the next flush.
    pub(crate) async fn flush_counters(&self, only_if_due: bool) -> StoreResult<()> {
        let mut waiting = self.counters.take(only_if_due).into_iter();
        while let Some(((app, version, day), t)) = waiting.next() {
            let added = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(stats_pk(&app), format!("{day}#{version}"))))
                .update_expression(
                    "ADD checks :c, installs :i, failures :f SET version = :v, #day = :d",
                )
                .expression_attribute_names("#day", "day")
                .expression_attribute_values(":c", number_attr(t.checks))
                .expression_attribute_values(":i", number_attr(t.installs))
                .expression_attribute_values(":f", number_attr(t.failures))
                .expression_attribute_values(":v", string_attr(version.clone()))
                .expression_attribute_values(":d", string_attr(day.clone()))
                .send()
                .await;
            if let Err(e) = added {
                let mut left = vec![((app, version, day), t)];
                left.extend(waiting);
                self.counters.restore(left);
                return Err(unavailable(e));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DeviceStore for DynamoStore {
    async fn set_override(
        &self,
        app_id: &str,
        device_id: &str,
        channel: &str,
        by: AssignedBy,
    ) -> StoreResult<()> {
        let mut item = key(app_pk(app_id), override_sk(device_id));
        item.insert("channel".into(), string_attr(channel));
        if by == AssignedBy::Device {
            item.insert("by".into(), string_attr("device"));
        }
        // A new override also counts up on the app item, so checks can skip the lookup at zero.
        let writes = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item.clone()))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .expect("fields set"),
                )
                .build(),
            override_count_change(&self.table, app_id, 1),
        ];
        match self.transact(writes).await? {
            Txn::Done => Ok(()),
            Txn::Cancelled(r) if Txn::failed_at(&r, 0) => {
                // Already overridden: replace the channel, the count stays.
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }
            Txn::Cancelled(_) => Err(StoreError::NotFound(format!("no app {app_id}"))),
        }
    }

    async fn delete_override(&self, app_id: &str, device_id: &str) -> StoreResult<bool> {
        let writes = vec![
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(app_pk(app_id), override_sk(device_id))))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .expect("fields set"),
                )
                .build(),
            override_count_change(&self.table, app_id, -1),
        ];
        // Cancelled: there was no override (or no app): nothing to delete.
        Ok(matches!(self.transact(writes).await?, Txn::Done))
    }

    async fn get_override(&self, app_id: &str, device_id: &str) -> StoreResult<Option<Override>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(app_pk(app_id), override_sk(device_id))))
            .projection_expression("channel, #by")
            .expression_attribute_names("#by", "by")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item.as_ref().and_then(|i| {
            Some(Override {
                channel: get_s(i, "channel")?.to_string(),
                // Absent on overrides stored before devices' choices were told apart.
                by: match get_s(i, "by") {
                    Some("device") => AssignedBy::Device,
                    _ => AssignedBy::Operator,
                },
            })
        }))
    }

    async fn record_events(&self, events: &[DeviceEvent]) -> StoreResult<()> {
        let mut puts = Vec::with_capacity(events.len());
        // Each app's logged events count against its quota, once per batch.
        let mut logged: BTreeMap<&str, usize> = BTreeMap::new();
        for e in events.iter().filter(|e| e.log) {
            *logged.entry(&e.app_id).or_default() += 1;
        }
        let now = now_ms();
        let mut lifetimes = BTreeMap::new();
        for (app, n) in logged {
            lifetimes.insert(app, self.event_lifetime(app, n, now).await?);
        }
        for e in events.iter().filter(|e| e.log) {
            let mut item = key(events_pk(&e.app_id, &e.device_id), event_sk(e.at));
            item.insert("doc".into(), to_doc(e)?);
            let lifetime = lifetimes[e.app_id.as_str()];
            item.insert(TTL_ATTR.into(), number_attr((e.at + lifetime) / 1000));
            puts.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item set"),
                    )
                    .build(),
            );
        }
        // Device records: the newest state per device, written only when it changed or the
        // one this process wrote is old (`bookkeeping`).
        let mut records = Vec::new();
        for ((app, dev), e) in latest_per_device(events) {
            let record = e.record();
            let fingerprint = record.fingerprint();
            if !self.records.needs_write(app, dev, fingerprint, e.at) {
                continue;
            }
            let mut item = key(app_pk(app), device_sk(dev));
            item.insert("doc".into(), to_doc(&record)?);
            item.insert(
                TTL_ATTR.into(),
                number_attr(e.at / 1000 + DEVICE_RECORD_TTL_SECS),
            );
            puts.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item set"),
                    )
                    .build(),
            );
            records.push((app, dev, fingerprint, e.at));
        }
        while !puts.is_empty() {
            let chunk: Vec<WriteRequest> = puts.drain(..puts.len().min(25)).collect();
            self.write_batch(chunk).await?;
        }
        for (app, dev, fingerprint, at) in records {
            self.records.wrote(app, dev, fingerprint, at);
        }
        // Counters: summed in the process, flushed when due (`bookkeeping`).
        if self.counters.add(tally(events)) {
            self.flush_counters(true).await?;
        }
        Ok(())
    }

    fn enqueue_event(&self, event: DeviceEvent) {
        // Off the answer path: the write runs while the answer goes out, and the host waits
        // for it with `settle` before its process may stop or freeze.
        let store = self.clone();
        self.pending.spawn(async move {
            if let Err(e) = store.record_events(&[event]).await {
                tracing::error!(error = %e, "could not record a device event");
            }
        });
    }

    async fn settle(&self) {
        self.pending.settle().await;
        if let Err(e) = self.flush_counters(true).await {
            tracing::error!(error = %e, "could not flush counters; the next flush retries");
        }
    }

    async fn flush(&self) {
        self.pending.settle().await;
        if let Err(e) = self.flush_counters(false).await {
            tracing::error!(error = %e, "could not flush counters at shutdown");
        }
    }

    async fn start_debug(&self, app_id: &str, device_id: &str, until: i64) -> StoreResult<()> {
        let mut item = key(app_pk(app_id), debug_sk(device_id));
        item.insert("until".into(), number_attr(until));
        // DynamoDB's TTL deletes ended sessions (within days; the view skips them before).
        item.insert(TTL_ATTR.into(), number_attr(until / 1000 + 3600));
        let writes = vec![
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(app_pk(app_id), APP_SK)))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .expect("fields set"),
                )
                .build(),
            put(&self.table, item),
        ];
        match self.transact(writes).await? {
            Txn::Done => Ok(()),
            Txn::Cancelled(r) if Txn::failed_at(&r, 0) => {
                Err(StoreError::NotFound(format!("no app {app_id}")))
            }
            Txn::Cancelled(_) => Err(StoreError::Unavailable(
                "the debug session collided with another write; try again".into(),
            )),
        }
    }

    async fn end_debug(&self, app_id: &str, device_id: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(app_pk(app_id), debug_sk(device_id))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn device_events(
        &self,
        app_id: &str,
        device_id: &str,
        since: i64,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEvent>> {
        // Newest first, at most the retained number, then oldest first for the caller.
        let after = &format!("{since:013}$"); // '$' sorts after every "{since}#…" key
        let now = now_ms() / 1000;
        let mut items = pages(EVENTS_PER_DEVICE, |start, have| async move {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk > :after")
                // DynamoDB's TTL deletes within days of the expiry; until then, skip them.
                .filter_expression("#ttl > :now")
                .expression_attribute_names("#ttl", TTL_ATTR)
                .expression_attribute_values(":now", number_attr(now))
                .expression_attribute_values(":pk", string_attr(events_pk(app_id, device_id)))
                .expression_attribute_values(":after", string_attr(after.clone()))
                .scan_index_forward(false)
                .limit((EVENTS_PER_DEVICE - have) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await?;
        items.reverse();
        items.iter().take(limit).map(from_doc).collect()
    }

    async fn daily_stats(&self, app_id: &str) -> StoreResult<Vec<DailyStat>> {
        // This process's own counts first; other instances' join within `FLUSH_EVERY`.
        self.flush_counters(false).await?;
        let mut rows: Vec<DailyStat> = self
            .query_prefix(stats_pk(app_id), "")
            .await?
            .iter()
            .map(|i| DailyStat {
                version: get_s(i, "version").unwrap_or_default().to_string(),
                day: get_s(i, "day").unwrap_or_default().to_string(),
                checks: get_n(i, "checks") as u64,
                installs: get_n(i, "installs") as u64,
                failures: get_n(i, "failures") as u64,
            })
            .collect();
        rows.sort_by(|a, b| b.day.cmp(&a.day).then_with(|| a.version.cmp(&b.version)));
        Ok(rows)
    }
}
