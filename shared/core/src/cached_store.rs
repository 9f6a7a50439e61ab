//! The store as handlers see it: every port of the adapter underneath, plus the app views
//! update checks read from memory (`view`). Every write this process makes for an app goes
//! through here and forgets that app's view, so no write path can forget to.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::app::App;
use crate::background::Pending;
use crate::bundle::Bundle;
use crate::channel::Channel;
use crate::device::{DailyStat, DeviceEvent};
use crate::history::ChannelChange;
use crate::key::ApiKey;
use crate::store::{
    AppStore, AppView, AssignedBy, BundleStore, ChannelStore, DeviceStore, HealthCount,
    HealthStore, KeyStore, Override, Registered, Store, StoreResult,
};
use crate::view_cache::ViewCache;

pub struct CachedStore {
    inner: Arc<dyn Store>,
    views: ViewCache,
    /// Work handlers start after their answer (release health); `settle` waits for it.
    background: Pending,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>, view_ttl: Duration) -> Self {
        CachedStore {
            inner,
            views: ViewCache::new(view_ttl),
            background: Pending::default(),
        }
    }

    /// Runs `work` after the answer; the host's `settle` waits for it.
    pub fn spawn_after_answer(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.background.spawn(work);
    }

    /// The app's view as update checks read it: from memory while fresh (see `ViewCache`).
    pub async fn view(&self, app_id: &str) -> StoreResult<Option<Arc<AppView>>> {
        self.views.get(&*self.inner, app_id).await
    }

    /// Runs a write for `app_id`, then forgets the app's view, whatever the outcome (a
    /// failed conditional write may still mean the stored state moved on).
    async fn writing<T>(&self, app_id: &str, write: impl Future<Output = T>) -> T {
        let out = write.await;
        self.views.forget(app_id);
        out
    }
}

#[async_trait]
impl AppStore for CachedStore {
    async fn create_app(&self, app: &App) -> StoreResult<()> {
        self.writing(&app.app_id, self.inner.create_app(app)).await
    }
    async fn update_app(&self, app: &App) -> StoreResult<()> {
        self.writing(&app.app_id, self.inner.update_app(app)).await
    }
    async fn get_app(&self, app_id: &str) -> StoreResult<Option<App>> {
        self.inner.get_app(app_id).await
    }
    async fn list_apps(&self) -> StoreResult<Vec<App>> {
        self.inner.list_apps().await
    }
    async fn delete_app(&self, app_id: &str) -> StoreResult<Vec<String>> {
        self.writing(app_id, self.inner.delete_app(app_id)).await
    }
    /// Straight from storage; update checks use `view`.
    async fn app_view(&self, app_id: &str) -> StoreResult<Option<AppView>> {
        self.inner.app_view(app_id).await
    }
}

#[async_trait]
impl ChannelStore for CachedStore {
    async fn create_channel(&self, app_id: &str, channel: &Channel) -> StoreResult<Channel> {
        self.writing(app_id, self.inner.create_channel(app_id, channel))
            .await
    }
    async fn update_channel(
        &self,
        app_id: &str,
        channel: &Channel,
        change: Option<&ChannelChange>,
    ) -> StoreResult<Channel> {
        self.writing(app_id, self.inner.update_channel(app_id, channel, change))
            .await
    }
    async fn channel_history(
        &self,
        app_id: &str,
        name: &str,
        limit: usize,
    ) -> StoreResult<Vec<ChannelChange>> {
        self.inner.channel_history(app_id, name, limit).await
    }
    async fn get_channel(&self, app_id: &str, name: &str) -> StoreResult<Option<Channel>> {
        self.inner.get_channel(app_id, name).await
    }
    async fn list_channels(&self, app_id: &str) -> StoreResult<Vec<Channel>> {
        self.inner.list_channels(app_id).await
    }
    async fn delete_channel(&self, app_id: &str, name: &str) -> StoreResult<bool> {
        self.writing(app_id, self.inner.delete_channel(app_id, name))
            .await
    }
}

#[async_trait]
impl BundleStore for CachedStore {
    async fn register_bundle(&self, app_id: &str, bundle: &Bundle) -> StoreResult<Registered> {
        self.writing(app_id, self.inner.register_bundle(app_id, bundle))
            .await
    }
    async fn get_bundle(&self, app_id: &str, version: &str) -> StoreResult<Option<Bundle>> {
        self.inner.get_bundle(app_id, version).await
    }
    async fn list_bundles(&self, app_id: &str) -> StoreResult<Vec<Bundle>> {
        self.inner.list_bundles(app_id).await
    }
    async fn mark_ready(&self, app_id: &str, version: &str, at: i64) -> StoreResult<Bundle> {
        self.writing(app_id, self.inner.mark_ready(app_id, version, at))
            .await
    }
    async fn delete_bundle(&self, app_id: &str, version: &str) -> StoreResult<Bundle> {
        self.writing(app_id, self.inner.delete_bundle(app_id, version))
            .await
    }
}

#[async_trait]
impl DeviceStore for CachedStore {
    async fn set_override(
        &self,
        app_id: &str,
        device_id: &str,
        channel: &str,
        by: AssignedBy,
    ) -> StoreResult<()> {
        self.writing(
            app_id,
            self.inner.set_override(app_id, device_id, channel, by),
        )
        .await
    }
    async fn delete_override(&self, app_id: &str, device_id: &str) -> StoreResult<bool> {
        self.writing(app_id, self.inner.delete_override(app_id, device_id))
            .await
    }
    async fn get_override(&self, app_id: &str, device_id: &str) -> StoreResult<Option<Override>> {
        self.inner.get_override(app_id, device_id).await
    }
    /// Events change no view: the hot path's writes never cost it a read.
    async fn record_events(&self, events: &[DeviceEvent]) -> StoreResult<()> {
        self.inner.record_events(events).await
    }
    fn enqueue_event(&self, event: DeviceEvent) {
        self.inner.enqueue_event(event)
    }
    async fn settle(&self) {
        // Background work may enqueue writes of its own: wait for it first.
        self.background.settle().await;
        self.inner.settle().await
    }
    async fn flush(&self) {
        self.background.settle().await;
        self.inner.flush().await
    }
    async fn start_debug(&self, app_id: &str, device_id: &str, until: i64) -> StoreResult<()> {
        self.writing(app_id, self.inner.start_debug(app_id, device_id, until))
            .await
    }
    async fn end_debug(&self, app_id: &str, device_id: &str) -> StoreResult<bool> {
        self.writing(app_id, self.inner.end_debug(app_id, device_id))
            .await
    }
    async fn device_events(
        &self,
        app_id: &str,
        device_id: &str,
        since: i64,
        limit: usize,
    ) -> StoreResult<Vec<DeviceEvent>> {
        self.inner
            .device_events(app_id, device_id, since, limit)
            .await
    }
    async fn daily_stats(&self, app_id: &str) -> StoreResult<Vec<DailyStat>> {
        self.inner.daily_stats(app_id).await
    }
}

#[async_trait]
impl HealthStore for CachedStore {
    async fn count_health(&self, app_id: &str, counts: &[HealthCount]) -> StoreResult<()> {
        self.inner.count_health(app_id, counts).await
    }
    async fn first_failures(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        devices: &[String],
        until: i64,
    ) -> StoreResult<u64> {
        self.inner
            .first_failures(app_id, channel, version, devices, until)
            .await
    }
    async fn health_since(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
        since: i64,
    ) -> StoreResult<(u64, u64)> {
        self.inner
            .health_since(app_id, channel, version, since)
            .await
    }
}

#[async_trait]
impl KeyStore for CachedStore {
    async fn create_key(&self, key: &ApiKey) -> StoreResult<()> {
        self.inner.create_key(key).await
    }
    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.inner.key_by_hash(hash).await
    }
    async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.inner.list_keys().await
    }
    async fn delete_key(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_key(id).await
    }
    async fn count_keys(&self) -> StoreResult<u64> {
        self.inner.count_keys().await
    }
}

#[cfg(test)]
mod tests {
    //! The wrapper's promise, on a store that counts view reads.
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers an empty view for every app, counting reads; every other port is unused here.
    struct Counting(AtomicUsize);

    macro_rules! unused {
        () => {
            unreachable!("not used by this test")
        };
    }

    #[async_trait]
    impl AppStore for Counting {
        async fn create_app(&self, _: &App) -> StoreResult<()> {
            Ok(())
        }
        async fn update_app(&self, _: &App) -> StoreResult<()> {
            Ok(())
        }
        async fn get_app(&self, _: &str) -> StoreResult<Option<App>> {
            unused!()
        }
        async fn list_apps(&self) -> StoreResult<Vec<App>> {
            unused!()
        }
        async fn delete_app(&self, _: &str) -> StoreResult<Vec<String>> {
            Ok(vec![])
        }
        async fn app_view(&self, _: &str) -> StoreResult<Option<AppView>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }
    }
    #[async_trait]
    impl ChannelStore for Counting {
        async fn create_channel(&self, _: &str, c: &Channel) -> StoreResult<Channel> {
            Ok(c.clone())
        }
        async fn update_channel(
            &self,
            _: &str,
            c: &Channel,
            _: Option<&ChannelChange>,
        ) -> StoreResult<Channel> {
            Ok(c.clone())
        }
        async fn channel_history(
            &self,
            _: &str,
            _: &str,
            _: usize,
        ) -> StoreResult<Vec<ChannelChange>> {
            unused!()
        }
        async fn get_channel(&self, _: &str, _: &str) -> StoreResult<Option<Channel>> {
            unused!()
        }
        async fn list_channels(&self, _: &str) -> StoreResult<Vec<Channel>> {
            unused!()
        }
        async fn delete_channel(&self, _: &str, _: &str) -> StoreResult<bool> {
            Ok(true)
        }
    }
    #[async_trait]
    impl BundleStore for Counting {
        async fn register_bundle(&self, _: &str, b: &Bundle) -> StoreResult<Registered> {
            Ok(Registered::Created(b.clone()))
        }
        async fn get_bundle(&self, _: &str, _: &str) -> StoreResult<Option<Bundle>> {
            unused!()
        }
        async fn list_bundles(&self, _: &str) -> StoreResult<Vec<Bundle>> {
            unused!()
        }
        async fn mark_ready(&self, _: &str, _: &str, _: i64) -> StoreResult<Bundle> {
            Err(crate::store::StoreError::NotFound("x".into()))
        }
        async fn delete_bundle(&self, _: &str, _: &str) -> StoreResult<Bundle> {
            Err(crate::store::StoreError::NotFound("x".into()))
        }
    }
    #[async_trait]
    impl DeviceStore for Counting {
        async fn set_override(&self, _: &str, _: &str, _: &str, _: AssignedBy) -> StoreResult<()> {
            Ok(())
        }
        async fn delete_override(&self, _: &str, _: &str) -> StoreResult<bool> {
            Ok(true)
        }
        async fn get_override(&self, _: &str, _: &str) -> StoreResult<Option<Override>> {
            unused!()
        }
        async fn record_events(&self, _: &[DeviceEvent]) -> StoreResult<()> {
            Ok(())
        }
        fn enqueue_event(&self, _: DeviceEvent) {}
        async fn settle(&self) {}
        async fn start_debug(&self, _: &str, _: &str, _: i64) -> StoreResult<()> {
            Ok(())
        }
        async fn end_debug(&self, _: &str, _: &str) -> StoreResult<bool> {
            Ok(true)
        }
        async fn device_events(
            &self,
            _: &str,
            _: &str,
            _: i64,
            _: usize,
        ) -> StoreResult<Vec<DeviceEvent>> {
            unused!()
        }
        async fn daily_stats(&self, _: &str) -> StoreResult<Vec<DailyStat>> {
            unused!()
        }
    }
    #[async_trait]
    impl HealthStore for Counting {
        async fn count_health(&self, _: &str, _: &[HealthCount]) -> StoreResult<()> {
            unused!()
        }
        async fn first_failures(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &[String],
            _: i64,
        ) -> StoreResult<u64> {
            unused!()
        }
        async fn health_since(&self, _: &str, _: &str, _: &str, _: i64) -> StoreResult<(u64, u64)> {
            unused!()
        }
    }
    #[async_trait]
    impl KeyStore for Counting {
        async fn create_key(&self, _: &ApiKey) -> StoreResult<()> {
            unused!()
        }
        async fn key_by_hash(&self, _: &str) -> StoreResult<Option<ApiKey>> {
            unused!()
        }
        async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
            unused!()
        }
        async fn delete_key(&self, _: &str) -> StoreResult<bool> {
            unused!()
        }
        async fn count_keys(&self) -> StoreResult<u64> {
            unused!()
        }
    }

    /// A named write, run once.
    type Write<'a> = (
        &'static str,
        std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>,
    );

    #[tokio::test]
    async fn every_write_for_an_app_forgets_its_view_and_nothing_else_does() {
        let inner = Arc::new(Counting(AtomicUsize::new(0)));
        let s = CachedStore::new(inner.clone(), Duration::from_secs(3600));
        let reads = || inner.0.load(Ordering::SeqCst);
        let a = "com.a.app";
        s.view(a).await.unwrap();
        s.view(a).await.unwrap();
        assert_eq!(reads(), 1, "a fresh view is read once");
        let app: App =
            serde_json::from_value(serde_json::json!({"app_id": a, "name": "A"})).unwrap();
        let other: App =
            serde_json::from_value(serde_json::json!({"app_id": "com.other.app", "name": "B"}))
                .unwrap();
        let ch = Channel::new("production");
        let b: Bundle = serde_json::from_value(
            serde_json::json!({"version": "1.0.0", "status": "pending", "size": 1, "checksum": "00"}),
        )
        .unwrap();
        // Each write, then a view: it must be read again.
        let writes: Vec<Write<'_>> = vec![
            (
                "update_app",
                Box::pin(async {
                    let _ = s.update_app(&app).await;
                }),
            ),
            (
                "delete_app",
                Box::pin(async {
                    let _ = s.delete_app(a).await;
                }),
            ),
            (
                "create_channel",
                Box::pin(async {
                    let _ = s.create_channel(a, &ch).await;
                }),
            ),
            (
                "update_channel",
                Box::pin(async {
                    let _ = s.update_channel(a, &ch, None).await;
                }),
            ),
            (
                "delete_channel",
                Box::pin(async {
                    let _ = s.delete_channel(a, "x").await;
                }),
            ),
            (
                "register_bundle",
                Box::pin(async {
                    let _ = s.register_bundle(a, &b).await;
                }),
            ),
            (
                "mark_ready",
                Box::pin(async {
                    let _ = s.mark_ready(a, "1.0.0", 0).await;
                }),
            ),
            (
                "delete_bundle",
                Box::pin(async {
                    let _ = s.delete_bundle(a, "1.0.0").await;
                }),
            ),
            (
                "set_override",
                Box::pin(async {
                    let _ = s.set_override(a, "d", "c", AssignedBy::Operator).await;
                }),
            ),
            (
                "delete_override",
                Box::pin(async {
                    let _ = s.delete_override(a, "d").await;
                }),
            ),
            (
                "start_debug",
                Box::pin(async {
                    let _ = s.start_debug(a, "d", 1).await;
                }),
            ),
            (
                "end_debug",
                Box::pin(async {
                    let _ = s.end_debug(a, "d").await;
                }),
            ),
        ];
        for (name, write) in writes {
            let before = reads();
            write.await;
            s.view(a).await.unwrap();
            assert_eq!(reads(), before + 1, "{name} did not forget the view");
        }
        // Device reports and other apps' writes leave it cached.
        let before = reads();
        s.record_events(&[]).await.unwrap();
        s.update_app(&other).await.unwrap();
        s.view(a).await.unwrap();
        assert_eq!(reads(), before, "events and other apps keep the view");
    }
}
