//! Updraft's domain, shared by every Lambda function, `updraft serve` and the tests.
//!
//! Knows no storage technology: adapters implement the ports in [`store`] and [`blobs`].

pub mod action;
pub mod api;
pub mod app;
pub mod background;
pub mod blobs;
pub mod bundle;
pub mod cached_store;
pub mod channel;
pub mod code;
pub mod decision;
pub mod device;
pub mod device_request;
pub mod eligibility;
pub mod error;
pub mod health;
pub mod history;
pub mod http_util;
pub mod key;
pub mod memory;
pub mod openapi;
pub mod protocol;
pub mod rate_limit;
pub mod release;
pub mod release_health;
pub mod rollout;
pub mod routes;
pub mod state;
pub mod store;
pub mod version;
pub mod view_cache;
pub mod webhook;

pub use error::ApiError;
pub use routes::{Job, handle, handle_jobs};
pub use state::State;
#[cfg(feature = "conformance")]
pub mod blob_conformance;
#[cfg(feature = "conformance")]
pub mod conformance;
