//! The AWS adapter: every core port on one DynamoDB table (single-table design) and bundle
//! bytes in S3 behind presigned URLs. See this crate's README for keys and access patterns.

mod apps;
mod bookkeeping;
mod bundles;
mod channels;
mod cloudfront;
mod config;
mod devices;
mod downloads;
mod edge_cache;
mod event_quota;
mod health;
mod keys;
mod metrics;
mod s3;
mod table;

pub use cloudfront::CloudFrontSigner;
pub use config::{AwsSettings, Connection, DownloadMode, TlsRoots, sdk_config};
pub use downloads::{Downloads, S3Location};
pub use edge_cache::EdgeCache;
pub use metrics::RequestCounter;
pub use s3::S3Blobs;
pub use table::{DynamoStore, create_table_if_missing};
