//! An app's event quota on DynamoDB.
//!
//! SQLite evicts an app's oldest events in the transaction that adds new ones. DynamoDB
//! cannot find an app's oldest event without an index that would cost a write per event,
//! so it bounds storage the other way round: each app counts the events it logged over
//! the last hour (one `ADD` per batch on `APP#{app}`/`E`), and an app writing faster than
//! `quota` per retention period gives its new events a shorter lifetime, `quota ÷ rate`.
//! In a steady flood the app then holds about `quota` events, the oldest expiring first;
//! below the rate everything keeps the full seven days. Reads skip expired events, as
//! DynamoDB's TTL deletes them only within a few days.

use aws_sdk_dynamodb::types::ReturnValue;
use updraft_core::device::EVENT_RETENTION_MS;
use updraft_core::store::StoreResult;

use crate::table::*;

const HOUR_MS: i64 = 3_600_000;
/// Sort key of an app's event-rate item: after the view's range (`sk < "D"`).
const RATE_SK: &str = "E";

/// How long an event lives when its app logged `per_hour` events over the last hour and may
/// keep `quota`: the full retention, or less, so that `per_hour × lifetime ≤ quota`.
pub(crate) fn event_lifetime_ms(quota: usize, per_hour: f64) -> i64 {
    let fits = quota as f64 * HOUR_MS as f64 / per_hour.max(1.0);
    (fits as i64).clamp(1000, EVENT_RETENTION_MS)
}

/// The sliding-window estimate of events in the last hour: this hour's count plus the
/// previous hour's, weighted by how much of it is still inside the window.
fn last_hour(count: i64, previous: i64, now: i64) -> f64 {
    let left = 1.0 - (now % HOUR_MS) as f64 / HOUR_MS as f64;
    count as f64 + previous as f64 * left
}

impl DynamoStore {
    /// Counts `n` new events of `app` and answers how long they may live.
    pub(crate) async fn event_lifetime(&self, app: &str, n: usize, now: i64) -> StoreResult<i64> {
        let hour = now / HOUR_MS;
        // The hour rolls over at most once per hour per app; a lost race retries.
        for _ in 0..3 {
            let added = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(app_pk(app), RATE_SK)))
                .update_expression("ADD #count :n")
                .condition_expression("#hour = :h")
                .expression_attribute_names("#count", "count")
                .expression_attribute_names("#hour", "hour")
                .expression_attribute_values(":n", number_attr(n as i64))
                .expression_attribute_values(":h", number_attr(hour))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            let old = match added {
                Ok(out) => {
                    let item = out.attributes.unwrap_or_default();
                    let rate = last_hour(get_n(&item, "count"), get_n(&item, "previous"), now);
                    return Ok(event_lifetime_ms(self.events_per_app, rate));
                }
                Err(e) if condition_failed(&e) => self.rate_item(app).await?,
                Err(e) => return Err(unavailable(e)),
            };
            let old_hour = old.as_ref().map(|i| get_n(i, "hour"));
            if old_hour.is_some_and(|h| h > hour) {
                // Another instance's clock is ahead: count against its hour instead.
                let item = old.unwrap_or_default();
                let rate = last_hour(get_n(&item, "count") + n as i64, 0, now);
                return Ok(event_lifetime_ms(self.events_per_app, rate));
            }
            let previous = match &old {
                Some(i) if get_n(i, "hour") == hour - 1 => get_n(i, "count"),
                _ => 0,
            };
            let mut item = key(app_pk(app), RATE_SK);
            item.insert("hour".into(), number_attr(hour));
            item.insert("count".into(), number_attr(n as i64));
            item.insert("previous".into(), number_attr(previous));
            // Forgotten once it no longer says anything about the last hour.
            item.insert(TTL_ATTR.into(), number_attr((hour + 3) * HOUR_MS / 1000));
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            put = match old_hour {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(h) => put
                    .condition_expression("#hour = :old")
                    .expression_attribute_names("#hour", "hour")
                    .expression_attribute_values(":old", number_attr(h)),
            };
            match put.send().await {
                Ok(_) => {
                    let rate = last_hour(n as i64, previous, now);
                    return Ok(event_lifetime_ms(self.events_per_app, rate));
                }
                Err(e) if condition_failed(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(updraft_core::store::StoreError::Unavailable(
            "the app's event count kept changing; try again".into(),
        ))
    }

    async fn rate_item(&self, app: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(app_pk(app), RATE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_quota_rate_events_keep_the_full_retention() {
        // 1,000,000 per 168 hours is 5,952 an hour.
        assert_eq!(event_lifetime_ms(1_000_000, 5000.0), EVENT_RETENTION_MS);
        assert_eq!(event_lifetime_ms(1_000_000, 0.0), EVENT_RETENTION_MS);
    }

    #[test]
    fn a_flood_shortens_the_lifetime_so_the_app_holds_about_its_quota() {
        // A million an hour against a quota of a million: an hour each.
        assert_eq!(event_lifetime_ms(1_000_000, 1_000_000.0), HOUR_MS);
        let ms = event_lifetime_ms(1_000_000, 10_000_000.0);
        assert_eq!(ms, HOUR_MS / 10);
        // Never zero: an event is readable for at least a second.
        assert_eq!(event_lifetime_ms(1, 1e12), 1000);
    }

    #[test]
    fn the_previous_hour_fades_out_of_the_window() {
        assert_eq!(last_hour(10, 100, 5 * HOUR_MS), 110.0);
        assert_eq!(last_hour(10, 100, 5 * HOUR_MS + HOUR_MS / 2), 60.0);
    }
}
