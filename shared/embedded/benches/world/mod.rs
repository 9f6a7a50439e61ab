//! The benches' shared setup: an embedded store in a temp dir with `com.bench.app`, its
//! ready bundles and a public `production` channel serving the first, and a state over it
//! with rate limits off (the benches measure the work, not the limiter).

use std::sync::Arc;

use updraft_core::channel::Channel;
use updraft_core::conformance;
use updraft_embedded::{LocalBlobs, SqliteStore};

pub const APP: &str = "com.bench.app";

pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub store: SqliteStore,
    pub state: updraft_core::State,
    _dir: tempfile::TempDir,
}

pub fn world(versions: &[&str]) -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("updraft.db")).unwrap();
    let blobs = LocalBlobs::open(dir.path(), "http://127.0.0.1:8787").unwrap();
    let state = updraft_core::State::with_config(
        Arc::new(store.clone()),
        updraft_core::blobs::Storage::full(Arc::new(blobs)),
        updraft_core::state::Config {
            rate_limits: updraft_core::rate_limit::RateLimits::OFF,
            ..Default::default()
        },
    );
    let mut ch = Channel::new("production");
    ch.public = true;
    ch.bundle = Some(versions[0].into());
    rt.block_on(conformance::seed(
        &store,
        &conformance::app(APP),
        versions,
        &ch,
    ));
    World {
        rt,
        store,
        state,
        _dir: dir,
    }
}
