//! What update checks read, kept per process for a few seconds: a steady stream of checks
//! costs no storage read. Writes made through this process forget the app at once; other
//! processes (other Lambda instances) see them when their copy expires.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::{AppView, Store, StoreResult};

/// When it was read, and what (`None`: no such app).
type Entry = (Instant, Option<Arc<AppView>>);

pub struct ViewCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, Entry>>,
}

/// Entries kept at most; past this the cache starts over (apps are few per deployment).
const MAX_APPS: usize = 10_000;

impl ViewCache {
    pub fn new(ttl: Duration) -> Self {
        ViewCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The app's view, from memory when fresh. Unknown apps are remembered too, so a
    /// misconfigured fleet hammering an unknown id costs no reads either.
    pub async fn get(&self, store: &dyn Store, app_id: &str) -> StoreResult<Option<Arc<AppView>>> {
        if !self.ttl.is_zero()
            && let Ok(map) = self.entries.read()
            && let Some((at, view)) = map.get(app_id)
            && at.elapsed() < self.ttl
        {
            return Ok(view.clone());
        }
        let view = store.app_view(app_id).await?.map(Arc::new);
        if !self.ttl.is_zero()
            && let Ok(mut map) = self.entries.write()
        {
            if map.len() >= MAX_APPS {
                map.clear();
            }
            map.insert(app_id.to_string(), (Instant::now(), view.clone()));
        }
        Ok(view)
    }

    /// Called by `CachedStore` after every write for the app.
    pub fn forget(&self, app_id: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(app_id);
        }
    }
}
