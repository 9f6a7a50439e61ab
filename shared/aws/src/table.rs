//! The single table: key layout, item helpers, and error mapping.
//!
//! | pk | sk | item |
//! |---|---|---|
//! | `APP#{app}` | `A` | app: `doc`, `stamp` (bumped by every channel write), `next_channel_id`, `override_count` |
//! | `APP#{app}` | `C#{name}` | channel: `doc`, `bundle`, `served` (the served bundle's record, denormalised) |
//! | `APP#{app}` | `D#{device}` | device record (TTL) |
//! | `APP#{app}` | `E` | events logged this hour and the last (`event_quota`, TTL) |
//! | `APP#{app}` | `O#{device}` | operator override: `channel` |
//! | `APP#{app}` | `V#{version}` | bundle: `doc`, `status`, `storage_key` |
//! | `KEY#{sha256}` | `K` | API key: `doc`, `id` |
//! | `ST#{app}` | `{day}#{version}` | daily counters (atomic `ADD`) |
//! | `EV#{app}#{device}` | `{at}#{rand}` | device event (TTL) |
//! | `APP#{app}` | `H#{channel}#{at}#{rand}` | channel history entry |
//! | `HL#{app}` | `{channel}#{version}#{bucket}` | release health counts (atomic `ADD`, TTL) |

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use updraft_core::store::{StoreError, StoreResult};

pub type Item = HashMap<String, AttributeValue>;

/// Every port over one DynamoDB table. Cheap to clone.
#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    requests: crate::RequestCounter,
    /// Bookkeeping writes still running after their answer (`DeviceStore::settle`).
    pub(crate) pending: updraft_core::background::Pending,
    /// About how many events an app keeps (`event_quota`).
    pub(crate) events_per_app: usize,
    /// Counters summed in the process, and the device records it wrote (`bookkeeping`).
    pub(crate) counters: std::sync::Arc<crate::bookkeeping::Counters>,
    pub(crate) records: std::sync::Arc<updraft_core::device::RecordsWritten>,
}

impl DynamoStore {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoStore {
            client,
            table: table.to_string(),
            requests: crate::RequestCounter::default(),
            pending: Default::default(),
            events_per_app: updraft_core::device::EVENTS_PER_APP,
            counters: Default::default(),
            records: Default::default(),
        }
    }

    /// Keeps about `events_per_app` events per app (at least one).
    pub fn with_event_quota(mut self, events_per_app: usize) -> Self {
        self.events_per_app = events_per_app.max(1);
        self
    }

    /// Shares the counter the client's interceptor fills (see `AwsSettings::connect`).
    pub fn counting(mut self, requests: crate::RequestCounter) -> Self {
        self.requests = requests;
        self
    }

    /// DynamoDB requests made so far, by operation.
    pub fn requests(&self) -> &crate::RequestCounter {
        &self.requests
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client, for provisioning in tests and `updraft serve --store aws`.
    pub fn client(&self) -> Client {
        self.client.clone()
    }
}

pub(crate) const APP_SK: &str = "A";
pub(crate) const TTL_ATTR: &str = "expires_at";

pub(crate) fn app_pk(app: &str) -> String {
    format!("APP#{app}")
}
pub(crate) fn channel_sk(name: &str) -> String {
    format!("C#{name}")
}
pub(crate) fn device_sk(device: &str) -> String {
    format!("D#{device}")
}
/// Debug sessions sort between the app item and its channels: the view's one query reads them.
pub(crate) fn debug_sk(device: &str) -> String {
    format!("B#{device}")
}
pub(crate) fn override_sk(device: &str) -> String {
    format!("O#{device}")
}
pub(crate) fn bundle_sk(version: &str) -> String {
    format!("V#{version}")
}
pub(crate) fn key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}
pub(crate) fn stats_pk(app: &str) -> String {
    format!("ST#{app}")
}
pub(crate) fn health_pk(app: &str) -> String {
    format!("HL#{app}")
}
pub(crate) fn events_pk(app: &str, device: &str) -> String {
    format!("EV#{app}#{device}")
}

pub(crate) fn string_attr(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn number_attr(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An unconditional put, as one write of a transaction.
pub(crate) fn put(table: &str, item: Item) -> aws_sdk_dynamodb::types::TransactWriteItem {
    aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .put(
            aws_sdk_dynamodb::types::Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .build()
                .expect("fields set"),
        )
        .build()
}

pub(crate) fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([
        ("pk".to_string(), string_attr(pk)),
        ("sk".to_string(), string_attr(sk)),
    ])
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}
/// A bundle item's status; a deleted bundle counts as none.
pub(crate) fn bundle_status(item: &Item) -> Option<updraft_core::bundle::BundleStatus> {
    use updraft_core::bundle::BundleStatus;
    match get_s(item, "status")? {
        "ready" => Some(BundleStatus::Ready),
        "pending" => Some(BundleStatus::Pending),
        _ => None,
    }
}

pub(crate) fn get_n(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn to_doc<T: Serialize>(v: &T) -> StoreResult<AttributeValue> {
    serde_json::to_string(v)
        .map(string_attr)
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}
pub(crate) fn from_doc<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let doc =
        get_s(item, "doc").ok_or_else(|| StoreError::Unavailable("record without doc".into()))?;
    serde_json::from_str(doc).map_err(|e| StoreError::Unavailable(format!("corrupt record: {e}")))
}

pub(crate) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

/// True when a single conditional write lost.
pub(crate) fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

/// For a cancelled transaction: which items' conditions failed, by position.
pub(crate) fn cancelled_at<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Option<Vec<bool>> {
    match e.as_service_error() {
        Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t)) => Some(
            t.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

/// How a transaction ended, when DynamoDB answered.
pub(crate) enum Txn {
    Done,
    /// Cancelled; `true` at each position whose condition failed.
    Cancelled(Vec<bool>),
}

impl Txn {
    /// Did the condition of the `i`-th item fail?
    pub(crate) fn failed_at(reasons: &[bool], i: usize) -> bool {
        reasons.get(i).copied().unwrap_or(false)
    }
}

impl DynamoStore {
    /// Runs a transaction; a cancellation is an answer, not an error.
    pub(crate) async fn transact(
        &self,
        writes: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> StoreResult<Txn> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(Txn::Done),
            Err(e) => match cancelled_at(&e) {
                Some(reasons) => Ok(Txn::Cancelled(reasons)),
                None => Err(unavailable(e)),
            },
        }
    }

    pub(crate) async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Every item of a partition whose sort key begins with `prefix`, following pages.
    pub(crate) async fn query_prefix(&self, pk: String, prefix: &str) -> StoreResult<Vec<Item>> {
        let pk = &pk;
        pages(usize::MAX, |start, _| async move {
            let q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true);
            let q = if prefix.is_empty() {
                q.key_condition_expression("pk = :pk")
            } else {
                q.key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                    .expression_attribute_values(":p", string_attr(prefix))
            };
            let out = q
                .expression_attribute_values(":pk", string_attr(pk.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await
    }

    /// Every item of the table whose `pk` starts with `pk_prefix` and whose `sk` is `sk`:
    /// a filtered scan, for rare admin listings only (keys, apps).
    pub(crate) async fn scan_kind(&self, pk_prefix: &str, sk: &str) -> StoreResult<Vec<Item>> {
        pages(usize::MAX, |start, _| async move {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :p) AND sk = :k")
                .expression_attribute_values(":p", string_attr(pk_prefix))
                .expression_attribute_values(":k", string_attr(sk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
        })
        .await
    }

    /// Deletes keys in batches of 25, retrying what DynamoDB leaves unprocessed.
    pub(crate) async fn delete_keys(&self, keys: Vec<Item>) -> StoreResult<()> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let mut requests: Vec<WriteRequest> = keys
            .into_iter()
            .map(|k| {
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(k))
                            .build()
                            .expect("key is set"),
                    )
                    .build()
            })
            .collect();
        while !requests.is_empty() {
            let chunk: Vec<WriteRequest> = requests.drain(..requests.len().min(25)).collect();
            self.write_batch(chunk).await?;
        }
        Ok(())
    }

    pub(crate) async fn write_batch(
        &self,
        chunk: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> StoreResult<()> {
        let mut pending = HashMap::from([(self.table.clone(), chunk)]);
        for attempt in 0..8u32 {
            let out = self
                .client
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(unavailable)?;
            match out
                .unprocessed_items
                .filter(|m| m.values().any(|v| !v.is_empty()))
            {
                None => return Ok(()),
                Some(rest) => {
                    pending = rest;
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "DynamoDB kept items unprocessed".into(),
        ))
    }
}

/// Creates the table (on-demand, `pk`/`sk`, TTL on `expires_at`) when it does not exist.
/// For local servers and first runs; production tables come from the SAM template.
pub async fn create_table_if_missing(client: &Client, table: &str) -> StoreResult<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    if client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("fields set")
    };
    let key = |name: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .expect("fields set")
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await;
    if let Err(e) = created
        && e.as_service_error().and_then(|s| s.code()) != Some("ResourceInUseException")
    {
        return Err(unavailable(e));
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTR)
                .build()
                .expect("fields set"),
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Stamp-guarded writes that lose a race read again and retry, this many times in all.
pub const STAMP_ATTEMPTS: usize = 16;

/// Waits a little before retrying a lost race, longer each time and jittered, so writers
/// racing on one app spread out instead of colliding again in step.
pub async fn backoff(attempt: usize) {
    let jitter = u64::from_str_radix(&updraft_core::key::random_hex(1), 16).unwrap_or(0) % 8;
    let ms = (attempt as u64 * 3 + jitter).min(60);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Follows DynamoDB's pages: `page(start, items so far)` sends one request and answers its
/// items and the next start key. Stops after the last page or once `enough` items are in.
pub(crate) async fn pages<F, Fut>(enough: usize, mut page: F) -> StoreResult<Vec<Item>>
where
    F: FnMut(Option<Item>, usize) -> Fut,
    Fut: std::future::Future<Output = StoreResult<(Vec<Item>, Option<Item>)>>,
{
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let (got, next) = page(start, items.len()).await?;
        items.extend(got);
        start = next;
        if start.is_none() || items.len() >= enough {
            return Ok(items);
        }
    }
}
