use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use updraft_core::bundle::{Bundle, BundleStatus};
use updraft_core::channel::Channel;
use updraft_core::code::Code;
use updraft_core::store::{BundleStore, Registered, StoreError, StoreResult};

use crate::table::*;

fn bundle_of(item: &Item) -> StoreResult<Bundle> {
    let mut b: Bundle = from_doc(item)?;
    b.storage_key = get_s(item, "storage_key").unwrap_or_default().to_string();
    Ok(b)
}

fn item_of(app_id: &str, b: &Bundle) -> StoreResult<Item> {
    let mut item = key(app_pk(app_id), bundle_sk(&b.version));
    item.insert("doc".into(), to_doc(b)?);
    item.insert("status".into(), string_attr(b.status.as_str()));
    item.insert("storage_key".into(), string_attr(b.storage_key.clone()));
    Ok(item)
}

impl DynamoStore {
    async fn load_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<Bundle>> {
        self.get(app_pk(app_id), &bundle_sk(version))
            .await?
            .map(|i| bundle_of(&i))
            .transpose()
    }
}

#[async_trait]
impl BundleStore for DynamoStore {
    async fn register_bundle(&self, app_id: &str, bundle: &Bundle) -> StoreResult<Registered> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(app_id, bundle)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Registered::Created(bundle.clone())),
            Err(e) if condition_failed(&e) => {
                let old = self
                    .load_bundle(app_id, &bundle.version)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Unavailable("bundle vanished during registration".into())
                    })?;
                old.reregister(bundle)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<Bundle>> {
        self.load_bundle(app_id, version).await
    }

    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<Bundle>> {
        let mut list: Vec<Bundle> = self
            .query_prefix(app_pk(app_id), "V#")
            .await?
            .iter()
            .filter(|i| get_s(i, "status") != Some("deleted"))
            .map(bundle_of)
            .collect::<StoreResult<_>>()?;
        list.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.version.cmp(&a.version))
        });
        Ok(list)
    }

    async fn mark_ready(&self, app_id: &str, version: &str, at: i64) -> StoreResult<Bundle> {
        let current = self
            .load_bundle(app_id, version)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no bundle {version} in {app_id}")))?;
        let Some(b) = current.finalized(at)? else {
            return Ok(current);
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(app_id, &b)?))
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", string_attr("pending"))
            .send()
            .await;
        match put {
            Ok(_) => Ok(b),
            // Another finalize or a delete got there first: report what is there now.
            Err(e) if condition_failed(&e) => match self.load_bundle(app_id, version).await? {
                Some(now) if now.is_ready() => Ok(now),
                _ => Err(StoreError::conflict(
                    Code::BundleDeleted,
                    format!("bundle {version} was deleted"),
                )),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete_bundle(&self, app_id: &str, version: &str) -> StoreResult<Bundle> {
        for attempt in 0..STAMP_ATTEMPTS {
            let app = self
                .get(app_pk(app_id), APP_SK)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no app {app_id}")))?;
            let stamp = get_n(&app, "stamp");
            let mut b = self
                .load_bundle(app_id, version)
                .await?
                .filter(|b| b.status != BundleStatus::Deleted)
                .ok_or_else(|| StoreError::NotFound(format!("no bundle {version} in {app_id}")))?;
            for item in self.query_prefix(app_pk(app_id), "C#").await? {
                let c: Channel = from_doc(&item)?;
                if c.versions_in_use().any(|v| v == version) {
                    return Err(StoreError::bundle_in_use(&c.name, version));
                }
            }
            b.status = BundleStatus::Deleted;
            // The stamp condition proves no channel started serving it since we looked.
            let writes = vec![
                crate::channels::stamp_bump(&self.table, app_id, stamp),
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(app_pk(app_id), bundle_sk(version))))
                            .update_expression("SET #st = :deleted, doc = :d")
                            .condition_expression("#st <> :deleted")
                            .expression_attribute_names("#st", "status")
                            .expression_attribute_values(":deleted", string_attr("deleted"))
                            .expression_attribute_values(":d", to_doc(&b)?)
                            .build()
                            .expect("fields set"),
                    )
                    .build(),
            ];
            match self.transact(writes).await? {
                Txn::Done => return Ok(b),
                Txn::Cancelled(r) if Txn::failed_at(&r, 1) => {
                    return Err(StoreError::NotFound(format!(
                        "no bundle {version} in {app_id}"
                    )));
                }
                // The stamp moved: read again and retry.
                Txn::Cancelled(_) => backoff(attempt).await,
            }
        }
        Err(StoreError::conflict(
            Code::ConcurrentUpdate,
            "the channels changed concurrently; retry",
        ))
    }
}
