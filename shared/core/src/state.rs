//! What every handler is given: the ports and a little configuration, built once per process.

use std::sync::Arc;

use crate::blobs::Blobs;
use crate::store::Store;
use crate::view_cache::ViewCache;

#[derive(Clone)]
pub struct State {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn Blobs>,
    pub config: Config,
    /// Update checks' per-process copy of app views.
    pub views: Arc<ViewCache>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// How long a presigned upload URL stays valid.
    pub upload_ttl_secs: u64,
    /// Largest bundle accepted at registration.
    pub max_bundle_bytes: u64,
    /// How long an update check may reuse what it read about an app (0: always read).
    pub view_ttl: std::time::Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            upload_ttl_secs: 15 * 60,
            max_bundle_bytes: 2 * 1024 * 1024 * 1024,
            view_ttl: std::time::Duration::from_secs(2),
        }
    }
}

impl State {
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn Blobs>) -> Self {
        Self::with_config(store, blobs, Config::default())
    }

    pub fn with_config(store: Arc<dyn Store>, blobs: Arc<dyn Blobs>, config: Config) -> Self {
        let views = Arc::new(ViewCache::new(config.view_ttl));
        State {
            store,
            blobs,
            config,
            views,
        }
    }

    /// `UPDRAFT_VIEW_TTL_MS` overrides how long checks reuse an app's view.
    pub fn config_from_env() -> Config {
        let mut config = Config::default();
        if let Some(ms) = std::env::var("UPDRAFT_VIEW_TTL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            config.view_ttl = std::time::Duration::from_millis(ms);
        }
        config
    }
}
