//! What every handler is given: the ports and a little configuration, built once per process.

use std::sync::Arc;

use crate::blobs::Storage;
use crate::cached_store::CachedStore;
use crate::rate_limit::{RateLimiter, RateLimits};
use crate::store::Store;
use crate::webhook::WebhookTransport;

#[derive(Clone)]
pub struct State {
    /// The adapter's store, with the app views update checks keep in memory; every write
    /// through it forgets the app's view.
    pub store: Arc<CachedStore>,
    /// Bundle storage: download URLs, and the bytes where this host has them.
    pub storage: Storage,
    pub config: Config,
    /// Device routes' per-device and per-IP budgets.
    pub limits: Arc<RateLimiter>,
    /// Sends apps' webhooks; none: webhooks are stored but not sent.
    pub webhooks: Option<Arc<dyn WebhookTransport>>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// How long a presigned upload URL stays valid.
    pub upload_ttl_secs: u64,
    /// Largest bundle accepted at registration.
    pub max_bundle_bytes: u64,
    /// How long an update check may reuse what it read about an app (0: always read).
    pub view_ttl: std::time::Duration,
    pub rate_limits: RateLimits,
    /// Webhooks may use `http` and private addresses (an intranet receiver, tests).
    pub webhooks_allow_private: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            upload_ttl_secs: 15 * 60,
            max_bundle_bytes: 2 * 1024 * 1024 * 1024,
            view_ttl: std::time::Duration::from_secs(2),
            rate_limits: RateLimits::default(),
            webhooks_allow_private: false,
        }
    }
}

impl State {
    pub fn new(store: Arc<dyn Store>, storage: Storage) -> Self {
        Self::with_config(store, storage, Config::default())
    }

    pub fn with_config(store: Arc<dyn Store>, storage: Storage, config: Config) -> Self {
        let limits = Arc::new(RateLimiter::new(config.rate_limits));
        State {
            store: Arc::new(CachedStore::new(store, config.view_ttl)),
            storage,
            config,
            limits,
            webhooks: None,
        }
    }

    /// Sends apps' webhooks with `transport`.
    pub fn with_webhooks(mut self, transport: Arc<dyn WebhookTransport>) -> Self {
        self.webhooks = Some(transport);
        self
    }

    /// `UPDRAFT_VIEW_TTL_MS` overrides how long checks reuse an app's view;
    /// `UPDRAFT_RATE_DEVICE_PER_MIN` and `UPDRAFT_RATE_IP_PER_MIN` the device routes' rate
    /// limits (0 turns one off); `UPDRAFT_WEBHOOK_ALLOW_PRIVATE=1` lets webhooks use `http`
    /// and private addresses.
    pub fn config_from_env() -> Config {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
        }
        let mut config = Config::default();
        if let Some(ms) = var("UPDRAFT_VIEW_TTL_MS") {
            config.view_ttl = std::time::Duration::from_millis(ms);
        }
        if let Some(n) = var("UPDRAFT_RATE_DEVICE_PER_MIN") {
            config.rate_limits.device_per_min = n;
        }
        if let Some(n) = var("UPDRAFT_RATE_IP_PER_MIN") {
            config.rate_limits.ip_per_min = n;
        }
        config.webhooks_allow_private = matches!(
            std::env::var("UPDRAFT_WEBHOOK_ALLOW_PRIVATE").as_deref(),
            Ok("1" | "true")
        );
        config
    }
}
