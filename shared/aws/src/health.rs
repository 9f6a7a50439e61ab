use async_trait::async_trait;
use updraft_core::health::{BUCKET_MS, MAX_WINDOW_MINUTES};
use updraft_core::store::{HealthCount, HealthStore, StoreResult};

use crate::table::*;

/// `{channel}#{version}#` then the bucket, zero-padded so that keys sort by time.
fn health_sk(channel: &str, version: &str, bucket: i64) -> String {
    format!("{channel}#{version}#{bucket:012}")
}

/// A device's failed start of a version on a channel: `~` sorts after every bucket key
/// (channel names never start with it).
fn failed_sk(channel: &str, version: &str, device: &str) -> String {
    format!("~{channel}#{version}#{device}")
}

#[async_trait]
impl HealthStore for DynamoStore {
    async fn count_health(&self, app_id: &str, counts: &[HealthCount]) -> StoreResult<()> {
        // Kept a day past the longest window, then TTL deletes it.
        let keep_secs = i64::from(MAX_WINDOW_MINUTES) * 60 * 2;
        for h in counts {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(
                    health_pk(app_id),
                    health_sk(&h.channel, &h.version, h.bucket),
                )))
                .update_expression("ADD installs :i, failures :f SET #ttl = :ttl")
                .expression_attribute_names("#ttl", TTL_ATTR)
                .expression_attribute_values(":i", number_attr(h.installs as i64))
                .expression_attribute_values(":f", number_attr(h.failures as i64))
                .expression_attribute_values(
                    ":ttl",
                    number_attr((h.bucket + 1) * BUCKET_MS / 1000 + keep_secs),
                )
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn first_failures(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        devices: &[String],
        until: i64,
    ) -> StoreResult<u64> {
        // One conditional put per failed start: rare in a healthy release, and in a failing
        // one, a handful before the rollback stops them.
        let now = updraft_core::device::now_ms() / 1000;
        let mut first = 0;
        for device in devices {
            let mut item = key(health_pk(app_id), failed_sk(channel, version, device));
            item.insert(TTL_ATTR.into(), number_attr(until / 1000));
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                // A marker past its time counts as gone (TTL deletes within days).
                .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                .expression_attribute_names("#ttl", TTL_ATTR)
                .expression_attribute_values(":now", number_attr(now))
                .send()
                .await;
            match put {
                Ok(_) => first += 1,
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(first)
    }

    async fn health_since(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        since: i64,
    ) -> StoreResult<(u64, u64)> {
        let (from, to) = (
            &health_sk(channel, version, since),
            &health_sk(channel, version, i64::MAX / BUCKET_MS),
        );
        let pk = &health_pk(app_id);
        let items = pages(usize::MAX, |start, _| async move {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", string_attr(pk.clone()))
                .expression_attribute_values(":from", string_attr(from.clone()))
                .expression_attribute_values(":to", string_attr(to.clone()))
                // Strongly consistent: two instances evaluating at once see each other's adds.
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await?;
        Ok(items.iter().fold((0, 0), |acc, i| {
            (
                acc.0 + get_n(i, "installs") as u64,
                acc.1 + get_n(i, "failures") as u64,
            )
        }))
    }
}
