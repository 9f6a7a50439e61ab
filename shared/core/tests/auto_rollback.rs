//! Automatic rollback's write, between hosts and against operators: one rollback, one
//! history entry, and an operator's change always wins.

use std::sync::Arc;

use updraft_core::channel::Channel;
use updraft_core::health::Health;
use updraft_core::history::{AUTO_ROLLBACK, ChangeKind};
use updraft_core::memory::{MemoryBlobs, MemoryStore};
use updraft_core::release_health::{auto_roll_back, auto_roll_back_from};
use updraft_core::store::Store;
use updraft_core::store::ports::*;

const APP: &str = "com.conf.app";

/// Two hosts (two states, each with its own caches) over one store, with a channel that
/// served 1.0.0 and now serves 1.1.0.
async fn two_hosts() -> (Arc<MemoryStore>, updraft_core::State, updraft_core::State) {
    let store = Arc::new(MemoryStore::new());
    let mut channel = Channel::new("production");
    channel.public = true;
    updraft_core::conformance::seed(
        &*store,
        &updraft_core::conformance::app(APP),
        &["1.0.0", "1.1.0"],
        &channel,
    )
    .await;
    let mut c = store.get_channel(APP, "production").await.unwrap().unwrap();
    c.point_at(Some("1.0.0".into()));
    let c = store.update_channel(APP, &c, None).await.unwrap();
    let mut c2 = c.clone();
    c2.point_at(Some("1.1.0".into()));
    store.update_channel(APP, &c2, None).await.unwrap();
    let host = || {
        let blobs = Arc::new(MemoryBlobs::default());
        updraft_core::State::new(
            store.clone() as Arc<dyn Store>,
            updraft_core::blobs::Storage::full(blobs),
        )
    };
    (store.clone(), host(), host())
}

fn failing() -> Health {
    Health::new(5, 5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_crossing_the_threshold_at_once_roll_back_once() {
    for _ in 0..20 {
        let (store, a, b) = two_hosts().await;
        let (ra, rb) = tokio::join!(
            auto_roll_back(&a, APP, "production", "1.1.0", failing()),
            auto_roll_back(&b, APP, "production", "1.1.0", failing()),
        );
        let done = [ra.unwrap(), rb.unwrap()];
        assert_eq!(done.iter().filter(|d| **d).count(), 1, "{done:?}");
        let c = store.get_channel(APP, "production").await.unwrap().unwrap();
        assert_eq!(c.bundle.as_deref(), Some("1.0.0"));
        assert!(c.was_rolled_back("1.1.0"));
        let history = store.channel_history(APP, "production", 10).await.unwrap();
        assert_eq!(history.len(), 1, "{history:?}");
        let entry = &history[0];
        assert_eq!(
            (entry.by.as_str(), entry.kind),
            (AUTO_ROLLBACK, ChangeKind::AutoRolledBack)
        );
        assert_eq!(
            (entry.from.as_deref(), entry.to.as_deref()),
            (Some("1.1.0"), Some("1.0.0"))
        );
        assert_eq!(entry.health, Some(failing()));
        assert!(entry.reason.as_deref().unwrap().contains("5 failed starts"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_change_during_the_evaluation_wins() {
    let (store, host, _) = two_hosts().await;
    // The evaluation read the channel…
    let read = store.get_channel(APP, "production").await.unwrap().unwrap();
    // …an operator moves it meanwhile (turns the rule off and keeps 1.1.0)…
    let mut operator = read.clone();
    operator.auto_rollback.enabled = false;
    store.update_channel(APP, &operator, None).await.unwrap();
    // …so the rollback, written against what it read, is refused.
    let done = auto_roll_back_from(&host, APP, &read, "1.1.0", failing())
        .await
        .unwrap();
    assert!(!done);
    let c = store.get_channel(APP, "production").await.unwrap().unwrap();
    assert_eq!(c.bundle.as_deref(), Some("1.1.0"));
    assert!(!c.auto_rollback.enabled);
    assert!(
        store
            .channel_history(APP, "production", 10)
            .await
            .unwrap()
            .is_empty()
    );
}
