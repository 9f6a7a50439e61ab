//! The in-memory store keeps the adapters' rules: the conformance suite, one test per case.

use std::sync::Arc;

use updraft_core::memory::MemoryStore;
use updraft_core::store::Store;

async fn fresh() -> (Arc<dyn Store>, ()) {
    (Arc::new(MemoryStore::new()), ())
}

updraft_core::conformance_suite!(fresh);
