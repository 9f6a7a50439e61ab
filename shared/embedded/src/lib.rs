//! The embedded adapter: every port on one SQLite file (WAL) plus a local blob directory,
//! so `updraft serve` needs no cloud. Uploads and downloads use URLs this process signs
//! itself (HMAC-SHA256 with expiry), so clients follow the same flow as with S3.

mod apps;
pub mod blob_routes;
mod blobs;
mod bundles;
mod channels;
mod db;
mod devices;
mod event_writer;
mod health;
mod keys;

pub use blobs::{LocalBlobs, UploadError};
pub use db::SqliteStore;
