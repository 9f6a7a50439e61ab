use async_trait::async_trait;
use updraft_core::code::Code;
use updraft_core::key::ApiKey;
use updraft_core::store::{KeyStore, StoreError, StoreResult};

use crate::table::*;

const KEY_SK: &str = "K";

fn key_of(item: &Item) -> StoreResult<ApiKey> {
    let mut k: ApiKey = from_doc(item)?;
    k.hash = get_s(item, "pk")
        .and_then(|p| p.strip_prefix("KEY#"))
        .unwrap_or_default()
        .to_string();
    Ok(k)
}

impl DynamoStore {
    /// Keys are few and listed rarely (admin only): a filtered scan.
    async fn scan_keys(&self) -> StoreResult<Vec<Item>> {
        self.scan_kind("KEY#", KEY_SK).await
    }
}

#[async_trait]
impl KeyStore for DynamoStore {
    async fn create_key(&self, k: &ApiKey) -> StoreResult<()> {
        let mut item = key(key_pk(&k.hash), KEY_SK);
        item.insert("doc".into(), to_doc(k)?);
        item.insert("id".into(), string_attr(k.id.clone()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(StoreError::conflict(
                Code::KeyExists,
                "this key already exists",
            )),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.get(key_pk(hash), KEY_SK)
            .await?
            .map(|i| key_of(&i))
            .transpose()
    }

    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let mut keys: Vec<ApiKey> = self
            .scan_keys()
            .await?
            .iter()
            .map(key_of)
            .collect::<StoreResult<_>>()?;
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(keys)
    }

    async fn delete_key(&self, id: &str) -> StoreResult<bool> {
        let Some(item) = self
            .scan_keys()
            .await?
            .into_iter()
            .find(|i| get_s(i, "id") == Some(id))
        else {
            return Ok(false);
        };
        let pk = get_s(&item, "pk").unwrap_or_default().to_string();
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, KEY_SK)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn count_keys(&self) -> StoreResult<u64> {
        Ok(self.scan_keys().await?.len() as u64)
    }
}
