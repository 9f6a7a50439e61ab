//! What every handler is given: the ports and a little configuration, built once per process.

use std::sync::Arc;

use crate::blobs::Blobs;
use crate::store::Store;

#[derive(Clone)]
pub struct State {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn Blobs>,
    pub config: Config,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// How long a presigned upload URL stays valid.
    pub upload_ttl_secs: u64,
    /// Largest bundle accepted at registration.
    pub max_bundle_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            upload_ttl_secs: 15 * 60,
            max_bundle_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

impl State {
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn Blobs>) -> Self {
        State {
            store,
            blobs,
            config: Config::default(),
        }
    }
}
