//! One suite of store-level cases every adapter must pass, the same cases and expectations.

use crate::action::Action;
use crate::code::Code;
use std::sync::Arc;

use crate::app::App;
use crate::bundle::{Bundle, BundleStatus};
use crate::channel::{BUILTIN, Channel};
use crate::device::{Counter, DeviceEvent, EVENTS_PER_DEVICE, now_ms, utc_day};
use crate::key::{ApiKey, Mode, hash_key};
use crate::store::{AssignedBy, Override, Registered, Store, StoreError};

pub fn app(id: &str) -> App {
    App {
        app_id: id.into(),
        name: id.into(),
        expose_metadata: false,
        created_at: now_ms(),
        webhook: None,
    }
}

pub fn bundle(version: &str, checksum_byte: char) -> Bundle {
    let sum: String = std::iter::repeat_n(checksum_byte, 64).collect();
    Bundle {
        version: version.into(),
        status: BundleStatus::Pending,
        size: 1234,
        checksum: sum.clone(),
        session_key: String::new(),
        key_id: None,
        min_update_version: None,
        link: None,
        comment: None,
        storage_key: format!("com.conf.app/{version}-{checksum_byte}.zip"),
        object_sha256: sum,
        manifest: None,
        created_at: now_ms(),
        ready_at: None,
    }
}

fn code(e: StoreError) -> Code {
    match e {
        StoreError::Conflict { code, .. } | StoreError::Invalid { code, .. } => code,
        StoreError::NotFound(_) => Code::NotFound,
        StoreError::Unavailable(_) => Code::ServiceUnavailable,
    }
}

/// A fixture for tests and benchmarks: the app, a ready bundle for each version (storage
/// keys `{app}/<16 hex>.zip`), and `channel`.
pub async fn seed(s: &dyn Store, app: &App, ready: &[&str], channel: &Channel) {
    s.create_app(app).await.unwrap();
    for (i, version) in ready.iter().enumerate() {
        let mut b = bundle(version, char::from(b'a' + i as u8));
        b.storage_key = format!("{}/{}.zip", app.app_id, &b.checksum[..16]);
        s.register_bundle(&app.app_id, &b).await.unwrap();
        s.mark_ready(&app.app_id, version, 1).await.unwrap();
    }
    s.create_channel(&app.app_id, channel).await.unwrap();
}

/// Instantiates the suite for one adapter: one test per case, each on a fresh, empty store
/// from `$fresh` (an `async fn() -> (Arc<dyn Store>, G)`, where `G` is kept alive for the
/// case: a temp dir, say), so a failure names its case and no case depends on another's
/// leftovers.
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance_suite!(@cases $fresh;
            apps, channels_and_bundles, public_channel_is_unique_per_platform, overrides, keys,
            events_and_counters, debug_sessions, racing_registrations, racing_channel_updates,
            rollouts, history_and_health, delete_app_cascades);
    };
    (@cases $fresh:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $fresh().await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

const APP: &str = "com.conf.app";

/// The app the cases work on, with a private `production` channel serving nothing.
async fn given_app_and_channel(s: &dyn Store) {
    seed(s, &app(APP), &[], &Channel::new("production")).await;
}

pub async fn apps(store: Arc<dyn Store>) {
    let s = &*store;
    s.create_app(&app("com.conf.app")).await.unwrap();
    assert_eq!(
        code(s.create_app(&app("com.conf.app")).await.unwrap_err()),
        "app_exists"
    );
    assert_eq!(
        s.get_app("com.conf.app").await.unwrap().unwrap().app_id,
        "com.conf.app"
    );
    assert!(s.get_app("com.conf.none").await.unwrap().is_none());
    let mut a = app("com.conf.app");
    a.name = "Renamed".into();
    s.update_app(&a).await.unwrap();
    assert_eq!(
        s.get_app("com.conf.app").await.unwrap().unwrap().name,
        "Renamed"
    );
    assert_eq!(
        code(s.update_app(&app("com.conf.none")).await.unwrap_err()),
        "not_found"
    );
    assert!(
        s.list_apps()
            .await
            .unwrap()
            .iter()
            .any(|a| a.app_id == "com.conf.app")
    );
    assert!(s.app_view("com.conf.none").await.unwrap().is_none());
}

pub async fn channels_and_bundles(store: Arc<dyn Store>) {
    let s = &*store;
    s.create_app(&app(APP)).await.unwrap();
    let id = "com.conf.app";
    // Register, retry while pending, conflict on other content.
    let b = bundle("1.0.0", 'a');
    assert!(matches!(
        s.register_bundle(id, &b).await.unwrap(),
        Registered::Created(_)
    ));
    match s.register_bundle(id, &bundle("1.0.0", 'a')).await.unwrap() {
        Registered::StillPending(old) => assert_eq!(
            old.storage_key, b.storage_key,
            "a retry keeps the storage key"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        code(
            s.register_bundle(id, &bundle("1.0.0", 'b'))
                .await
                .unwrap_err()
        ),
        "version_exists"
    );

    // A channel cannot point at a pending bundle.
    let mut ch = Channel::new("production");
    ch.bundle = Some("1.0.0".into());
    assert_eq!(
        code(s.create_channel(id, &ch).await.unwrap_err()),
        "bundle_not_ready"
    );
    assert_eq!(
        code(
            s.create_channel(id, &{
                let mut c = ch.clone();
                c.bundle = Some("9.9.9".into());
                c
            })
            .await
            .unwrap_err()
        ),
        "not_found"
    );

    let ready = s.mark_ready(id, "1.0.0", 42).await.unwrap();
    assert_eq!(ready.status, BundleStatus::Ready);
    assert_eq!(ready.ready_at, Some(42));
    assert_eq!(
        s.mark_ready(id, "1.0.0", 43).await.unwrap().ready_at,
        Some(42),
        "finalize is idempotent"
    );
    assert_eq!(
        code(
            s.register_bundle(id, &bundle("1.0.0", 'a'))
                .await
                .unwrap_err()
        ),
        "version_exists"
    );

    let created = s.create_channel(id, &ch).await.unwrap();
    assert!(created.id > 0);
    assert_eq!(
        code(s.create_channel(id, &ch).await.unwrap_err()),
        "channel_exists"
    );
    let other = s.create_channel(id, &Channel::new("beta")).await.unwrap();
    assert_ne!(other.id, created.id);

    let view = s.app_view(id).await.unwrap().unwrap();
    assert_eq!(view.channels.len(), 2);
    assert_eq!(view.served.len(), 1);
    assert_eq!(view.served[0].storage_key, b.storage_key);
    assert!(!view.has_overrides);

    // Deleting a served bundle is refused; once unassigned it goes, and its version stays taken.
    assert_eq!(
        code(s.delete_bundle(id, "1.0.0").await.unwrap_err()),
        "bundle_in_use"
    );
    let mut ch2 = s.get_channel(id, "production").await.unwrap().unwrap();
    ch2.bundle = Some(BUILTIN.into());
    s.update_channel(id, &ch2, None).await.unwrap();
    assert_eq!(
        s.get_channel(id, "production")
            .await
            .unwrap()
            .unwrap()
            .bundle
            .as_deref(),
        Some(BUILTIN)
    );
    let gone = s.delete_bundle(id, "1.0.0").await.unwrap();
    assert_eq!(gone.storage_key, b.storage_key);
    assert_eq!(
        code(s.delete_bundle(id, "1.0.0").await.unwrap_err()),
        "not_found"
    );
    assert_eq!(
        code(
            s.register_bundle(id, &bundle("1.0.0", 'a'))
                .await
                .unwrap_err()
        ),
        "version_exists"
    );
    assert!(
        s.list_bundles(id)
            .await
            .unwrap()
            .iter()
            .all(|b| b.version != "1.0.0")
    );
    assert_eq!(
        code(s.mark_ready(id, "1.0.0", 1).await.unwrap_err()),
        "bundle_deleted"
    );

    assert!(s.delete_channel(id, "beta").await.unwrap());
    assert!(!s.delete_channel(id, "beta").await.unwrap());
    assert_eq!(
        code(
            s.update_channel(id, &Channel::new("beta"), None)
                .await
                .unwrap_err()
        ),
        "not_found"
    );
}

pub async fn public_channel_is_unique_per_platform(store: Arc<dyn Store>) {
    let s = &*store;
    given_app_and_channel(s).await;
    let id = "com.conf.app";
    let mut ios = Channel::new("ios-only");
    ios.public = true;
    ios.android = false;
    ios.electron = false;
    s.create_channel(id, &ios).await.unwrap();
    let mut android = Channel::new("android-only");
    android.public = true;
    android.ios = false;
    android.electron = false;
    s.create_channel(id, &android).await.unwrap();
    let both = |list: &[Channel]| {
        list.iter()
            .filter(|c| c.public)
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    let list = s.list_channels(id).await.unwrap();
    assert_eq!(
        both(&list),
        vec!["ios-only", "android-only"],
        "disjoint platforms may both be public"
    );
    let mut all = s.get_channel(id, "production").await.unwrap().unwrap();
    all.public = true;
    s.update_channel(id, &all, None).await.unwrap();
    let list = s.list_channels(id).await.unwrap();
    assert_eq!(
        both(&list),
        vec!["production"],
        "publishing an overlapping channel un-publishes the others"
    );
    s.delete_channel(id, "ios-only").await.unwrap();
    s.delete_channel(id, "android-only").await.unwrap();
}

pub async fn overrides(store: Arc<dyn Store>) {
    let s = &*store;
    given_app_and_channel(s).await;
    let id = "com.conf.app";
    let dev = "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f";
    assert!(s.get_override(id, dev).await.unwrap().is_none());
    assert_eq!(
        s.set_override("com.conf.none", dev, "production", AssignedBy::Operator)
            .await
            .map_err(code),
        Err(Code::NotFound)
    );
    s.set_override(id, dev, "production", AssignedBy::Device)
        .await
        .unwrap();
    assert_eq!(
        s.get_override(id, dev).await.unwrap(),
        Some(Override {
            channel: "production".into(),
            by: AssignedBy::Device
        }),
        "who chose it is kept"
    );
    // An operator's choice replaces the device's, and says so.
    s.set_override(id, dev, "production", AssignedBy::Operator)
        .await
        .unwrap();
    assert_eq!(
        s.get_override(id, dev).await.unwrap(),
        Some(Override {
            channel: "production".into(),
            by: AssignedBy::Operator
        })
    );
    assert!(s.app_view(id).await.unwrap().unwrap().has_overrides);
    assert!(s.delete_override(id, dev).await.unwrap());
    assert!(!s.delete_override(id, dev).await.unwrap());
    assert!(!s.app_view(id).await.unwrap().unwrap().has_overrides);
    // Deleting a channel drops the overrides that point at it.
    s.create_channel(id, &Channel::new("temp")).await.unwrap();
    s.set_override(id, dev, "temp", AssignedBy::Operator)
        .await
        .unwrap();
    s.delete_channel(id, "temp").await.unwrap();
    assert!(s.get_override(id, dev).await.unwrap().is_none());
}

pub async fn keys(store: Arc<dyn Store>) {
    let s = &*store;
    let before = s.count_keys().await.unwrap();
    let key = ApiKey {
        id: "key_conformance".into(),
        name: "ci".into(),
        mode: Mode::Upload,
        apps: Some(vec!["com.conf.app".into()]),
        hash: hash_key("upd_secret"),
        created_at: now_ms(),
        expires_at: None,
    };
    s.create_key(&key).await.unwrap();
    assert_eq!(s.count_keys().await.unwrap(), before + 1);
    let found = s
        .key_by_hash(&hash_key("upd_secret"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, key);
    assert!(
        s.key_by_hash(&hash_key("upd_other"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.list_keys()
            .await
            .unwrap()
            .iter()
            .any(|k| k.id == key.id && k.hash == key.hash)
    );
    assert!(s.delete_key(&key.id).await.unwrap());
    assert!(!s.delete_key(&key.id).await.unwrap());
    assert!(
        s.key_by_hash(&hash_key("upd_secret"))
            .await
            .unwrap()
            .is_none()
    );
}

/// A production device's event in the suite's app (`com.conf.app`).
pub fn event(
    device: &str,
    action: &str,
    version: &str,
    counter: Option<Counter>,
    at: i64,
) -> DeviceEvent {
    DeviceEvent {
        app_id: "com.conf.app".into(),
        device_id: device.into(),
        at,
        action: Action::parse(action).expect("a known action"),
        version_name: version.into(),
        old_version_name: String::new(),
        platform: "ios".into(),
        version_build: "1.0.0".into(),
        plugin_version: "8.51.14".into(),
        is_emulator: false,
        is_prod: true,
        custom_id: String::new(),
        outcome: None,
        metadata: None,
        counter,
        updates_device: !action.ends_with("_fail"),
        log: true,
    }
}

pub async fn events_and_counters(store: Arc<dyn Store>) {
    let s = &*store;
    s.create_app(&app(APP)).await.unwrap();
    let dev = "11111111-1111-4111-8111-111111111111";
    let now = now_ms();
    s.record_events(&[
        event(dev, "get", "1.0.0", Some(Counter::Check), now),
        event(dev, "set", "1.1.0", Some(Counter::Install), now + 1),
        event(
            dev,
            "update_fail",
            "1.1.0:main.js",
            Some(Counter::Failure),
            now + 2,
        ),
        event(dev, "app_launch_ready", "1.0.0", None, now + 3),
    ])
    .await
    .unwrap();
    let got = s.device_events("com.conf.app", dev, 0, 100).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["get", "set", "update_fail", "app_launch_ready"]
    );
    let since = s
        .device_events("com.conf.app", dev, now + 1, 100)
        .await
        .unwrap();
    assert_eq!(since.len(), 2, "since is exclusive");
    let stats = s.daily_stats("com.conf.app").await.unwrap();
    let day = utc_day(now);
    let v110 = stats
        .iter()
        .find(|d| d.version == "1.1.0" && d.day == day)
        .unwrap();
    assert_eq!(
        (v110.installs, v110.failures),
        (1, 1),
        "per-file failures count for their bundle"
    );
    let v100 = stats
        .iter()
        .find(|d| d.version == "1.0.0" && d.day == day)
        .unwrap();
    assert_eq!(v100.checks, 1);

    // A check of a device nobody debugs moves the counter but stays out of the log.
    let quiet = "33333333-3333-4333-8333-333333333333";
    s.record_events(&[DeviceEvent {
        log: false,
        ..event(quiet, "get", "1.2.0", Some(Counter::Check), now)
    }])
    .await
    .unwrap();
    assert!(
        s.device_events("com.conf.app", quiet, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let stats = s.daily_stats("com.conf.app").await.unwrap();
    assert!(
        stats
            .iter()
            .any(|d| d.version == "1.2.0" && d.day == day && d.checks == 1)
    );

    // Off-path writes land too.
    s.enqueue_event(event(dev, "get", "1.0.0", Some(Counter::Check), now + 4));
    let mut seen = false;
    for _ in 0..200 {
        if s.device_events("com.conf.app", dev, now + 3, 10)
            .await
            .unwrap()
            .len()
            == 1
        {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(seen, "an enqueued event is written");

    // The log keeps the newest events per device, and nothing older than the retention.
    let busy = "22222222-2222-4222-8222-222222222222";
    let batch: Vec<DeviceEvent> = (0..EVENTS_PER_DEVICE + 25)
        .map(|i| event(busy, "ping", "1.0.0", None, now + i as i64))
        .collect();
    s.record_events(&batch).await.unwrap();
    let kept = s
        .device_events("com.conf.app", busy, 0, 1000)
        .await
        .unwrap();
    assert_eq!(kept.len(), EVENTS_PER_DEVICE);
    assert_eq!(kept[0].at, now + 25, "the oldest were dropped");
}

async fn sessions(s: &dyn Store, app_id: &str) -> Vec<(String, i64)> {
    s.app_view(app_id).await.unwrap().unwrap().debug_sessions
}

pub async fn debug_sessions(store: Arc<dyn Store>) {
    let s = &*store;
    s.create_app(&app(APP)).await.unwrap();
    let id = "com.conf.app";
    let dev = "44444444-4444-4444-8444-444444444444";
    let now = now_ms();
    assert_eq!(
        s.start_debug("com.conf.none", dev, now + 60_000)
            .await
            .map_err(code),
        Err(Code::NotFound)
    );
    assert!(sessions(s, id).await.is_empty());
    s.start_debug(id, dev, now + 60_000).await.unwrap();
    let view = s.app_view(id).await.unwrap().unwrap();
    assert_eq!(view.debug_sessions, [(dev.to_string(), now + 60_000)]);
    assert!(view.is_debugged(dev, now) && !view.is_debugged(dev, now + 60_000));
    // Renewing moves the end; it is still one session.
    s.start_debug(id, dev, now + 120_000).await.unwrap();
    assert_eq!(sessions(s, id).await, [(dev.to_string(), now + 120_000)]);
    assert!(s.end_debug(id, dev).await.unwrap());
    assert!(!s.end_debug(id, dev).await.unwrap());
    assert!(sessions(s, id).await.is_empty());
    // Left running, for the cascade below.
    s.start_debug(id, dev, now + 60_000).await.unwrap();
}

pub async fn racing_registrations(s: Arc<dyn Store>) {
    s.create_app(&app(APP)).await.unwrap();
    // Two uploaders register the same version with different bytes: exactly one wins.
    let a = {
        let s = s.clone();
        tokio::spawn(async move {
            s.register_bundle("com.conf.app", &bundle("3.0.0", 'c'))
                .await
        })
    };
    let b = {
        let s = s.clone();
        tokio::spawn(async move {
            s.register_bundle("com.conf.app", &bundle("3.0.0", 'd'))
                .await
        })
    };
    let results = [a.await.unwrap(), b.await.unwrap()];
    let wins = results
        .iter()
        .filter(|r| matches!(r, Ok(Registered::Created(_))))
        .count();
    let conflicts = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(StoreError::Conflict {
                    code: Code::VersionExists,
                    ..
                })
            )
        })
        .count();
    assert_eq!((wins, conflicts), (1, 1), "{results:?}");
}

pub async fn racing_channel_updates(s: Arc<dyn Store>) {
    given_app_and_channel(&*s).await;
    let id = "com.conf.app";
    for (v, c) in [("4.0.0", 'e'), ("4.0.1", 'f')] {
        s.register_bundle(id, &bundle(v, c)).await.unwrap();
        s.mark_ready(id, v, now_ms()).await.unwrap();
    }
    // Two operators read the same channel and each points it elsewhere: exactly one wins,
    // the other is told the channel moved (no write is lost silently).
    let read = s.get_channel(id, "production").await.unwrap().unwrap();
    let mut handles = Vec::new();
    for v in ["4.0.0", "4.0.1"] {
        let (s, mut ch) = (s.clone(), read.clone());
        handles.push(tokio::spawn(async move {
            ch.bundle = Some(v.into());
            (v, s.update_channel(id, &ch, None).await)
        }));
    }
    let mut winners = Vec::new();
    for h in handles {
        match h.await.unwrap() {
            (v, Ok(saved)) => {
                assert_eq!(saved.revision, read.revision + 1);
                winners.push(v);
            }
            (_, Err(e)) => assert_eq!(code(e), "concurrent_update"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of two racing writes wins");
    let final_bundle = s
        .get_channel(id, "production")
        .await
        .unwrap()
        .unwrap()
        .bundle
        .unwrap();
    assert_eq!(final_bundle, winners[0]);
    let view = s.app_view(id).await.unwrap().unwrap();
    assert_eq!(
        view.served
            .iter()
            .map(|b| b.version.clone())
            .collect::<Vec<_>>(),
        vec![final_bundle],
        "the hot path sees the same bundle"
    );
    // A write from the fresh state goes through.
    let mut fresh = s.get_channel(id, "production").await.unwrap().unwrap();
    fresh.public = true;
    assert!(s.update_channel(id, &fresh, None).await.is_ok());
}

/// A rollout's target is served beside the stable bundle: it must be ready, the hot path's
/// one read carries it, and it cannot be deleted while the rollout runs.
pub async fn rollouts(s: Arc<dyn Store>) {
    given_app_and_channel(&*s).await;
    let id = APP;
    for (v, c) in [("1.0.0", 'a'), ("1.1.0", 'b'), ("1.2.0", 'c')] {
        s.register_bundle(id, &bundle(v, c)).await.unwrap();
    }
    for v in ["1.0.0", "1.1.0"] {
        s.mark_ready(id, v, now_ms()).await.unwrap();
    }
    let mut ch = s.get_channel(id, "production").await.unwrap().unwrap();
    ch.bundle = Some("1.0.0".into());
    let ch = s.update_channel(id, &ch, None).await.unwrap();
    let with_target = |v: &str| {
        let mut c = ch.clone();
        c.rollout = Some(crate::rollout::Rollout {
            id: "r1".into(),
            bundle: v.into(),
            share: 1000,
            paused: false,
            started_at: 1,
        });
        c
    };
    assert_eq!(
        code(
            s.update_channel(id, &with_target("1.2.0"), None)
                .await
                .unwrap_err()
        ),
        "bundle_not_ready"
    );
    assert_eq!(
        code(
            s.update_channel(id, &with_target("9.9.9"), None)
                .await
                .unwrap_err()
        ),
        "not_found"
    );
    let saved = s
        .update_channel(id, &with_target("1.1.0"), None)
        .await
        .unwrap();
    assert_eq!(
        s.get_channel(id, "production").await.unwrap(),
        Some(saved.clone())
    );
    let view = s.app_view(id).await.unwrap().unwrap();
    let mut served: Vec<_> = view.served.iter().map(|b| b.version.as_str()).collect();
    served.sort();
    assert_eq!(served, ["1.0.0", "1.1.0"]);
    assert_eq!(view.channels[0].rollout, saved.rollout);
    assert_eq!(
        code(s.delete_bundle(id, "1.1.0").await.unwrap_err()),
        "bundle_in_use"
    );
    // Aborted: the target is neither served nor protected any more.
    let mut aborted = saved.clone();
    aborted.rollout = None;
    s.update_channel(id, &aborted, None).await.unwrap();
    let view = s.app_view(id).await.unwrap().unwrap();
    assert_eq!(view.served.len(), 1);
    s.delete_bundle(id, "1.1.0").await.unwrap();
}

/// A channel's history is written with the change it records, or not at all; release
/// health sums per channel, version and window.
pub async fn history_and_health(s: Arc<dyn Store>) {
    use crate::history::{ChangeKind, ChannelChange};
    use crate::store::HealthCount;
    given_app_and_channel(&*s).await;
    let id = APP;
    for (v, c) in [("1.0.0", 'a'), ("1.1.0", 'b')] {
        s.register_bundle(id, &bundle(v, c)).await.unwrap();
        s.mark_ready(id, v, now_ms()).await.unwrap();
    }
    let read = s.get_channel(id, "production").await.unwrap().unwrap();
    let mut next = read.clone();
    let mut written = Vec::new();
    for (i, v) in ["1.0.0", "1.1.0"].into_iter().enumerate() {
        let before = next.clone();
        next.point_at(Some(v.into()));
        let change = ChannelChange::between(&before, &next, "key1", ChangeKind::Set, i as i64)
            .expect("the bundle changed");
        next = s.update_channel(id, &next, Some(&change)).await.unwrap();
        written.push(change);
    }
    written.reverse();
    assert_eq!(
        s.channel_history(id, "production", 10).await.unwrap(),
        written,
        "newest first"
    );
    assert_eq!(
        s.channel_history(id, "production", 1).await.unwrap().len(),
        1
    );
    // A stale write records nothing.
    let mut stale = read.clone();
    stale.point_at(Some("1.0.0".into()));
    let change = ChannelChange::between(&read, &stale, "key2", ChangeKind::Set, 9).unwrap();
    assert_eq!(
        code(
            s.update_channel(id, &stale, Some(&change))
                .await
                .unwrap_err()
        ),
        "concurrent_update"
    );
    assert_eq!(
        s.channel_history(id, "production", 10).await.unwrap(),
        written
    );
    assert!(s.channel_history(id, "beta", 10).await.unwrap().is_empty());

    let now = crate::health::bucket(now_ms());
    let count =
        |channel: &str, version: &str, bucket: i64, installs: u64, failures: u64| HealthCount {
            channel: channel.into(),
            version: version.into(),
            bucket,
            installs,
            failures,
        };
    s.count_health(
        id,
        &[
            count("production", "1.1.0", now, 10, 1),
            count("production", "1.1.0", now - 3, 5, 2),
            count("production", "1.0.0", now, 7, 7),
            count("beta", "1.1.0", now, 100, 100),
        ],
    )
    .await
    .unwrap();
    s.count_health(id, &[count("production", "1.1.0", now, 1, 1)])
        .await
        .unwrap();
    assert_eq!(
        s.health_since(id, "production", "1.1.0", now)
            .await
            .unwrap(),
        (11, 2)
    );
    assert_eq!(
        s.health_since(id, "production", "1.1.0", now - 3)
            .await
            .unwrap(),
        (16, 4)
    );
    assert_eq!(
        s.health_since(id, "production", "1.2.0", now - 3)
            .await
            .unwrap(),
        (0, 0)
    );

    // A device's failed start counts once per version and channel.
    let until = now_ms() + 60_000;
    let ids = |v: &[&str]| v.iter().map(|d| d.to_string()).collect::<Vec<_>>();
    let first = |ch: &'static str, v: &'static str, d: Vec<String>| {
        let s = s.clone();
        async move { s.first_failures(id, ch, v, &d, until).await.unwrap() }
    };
    assert_eq!(first("production", "1.1.0", ids(&["d1", "d2"])).await, 2);
    assert_eq!(first("production", "1.1.0", ids(&["d1", "d3"])).await, 1);
    assert_eq!(first("production", "1.0.0", ids(&["d1"])).await, 1);
    assert_eq!(first("beta", "1.1.0", ids(&["d1"])).await, 1);
    // Once its time is past, the mark is gone.
    assert_eq!(
        s.first_failures(id, "qa", "1.1.0", &ids(&["d9"]), now_ms() - 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.first_failures(id, "qa", "1.1.0", &ids(&["d9"]), until)
            .await
            .unwrap(),
        1
    );

    // The channel's history goes with it.
    assert!(s.delete_channel(id, "production").await.unwrap());
    assert!(
        s.channel_history(id, "production", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn delete_app_cascades(store: Arc<dyn Store>) {
    let s = &*store;
    // An app with bundles, a channel serving one, and a debug session.
    s.create_app(&app(APP)).await.unwrap();
    for (v, c) in [("1.0.0", 'a'), ("4.0.0", 'e')] {
        s.register_bundle(APP, &bundle(v, c)).await.unwrap();
        s.mark_ready(APP, v, now_ms()).await.unwrap();
    }
    let mut production = Channel::new("production");
    production.bundle = Some("4.0.0".into());
    s.create_channel(APP, &production).await.unwrap();
    s.start_debug(
        APP,
        "44444444-4444-4444-8444-444444444444",
        now_ms() + 60_000,
    )
    .await
    .unwrap();
    let keys = s.delete_app("com.conf.app").await.unwrap();
    assert!(
        keys.iter().any(|k| k.contains("4.0.0")),
        "returns the storage keys to delete: {keys:?}"
    );
    assert!(s.get_app("com.conf.app").await.unwrap().is_none());
    assert!(s.list_channels("com.conf.app").await.unwrap().is_empty());
    assert!(s.list_bundles("com.conf.app").await.unwrap().is_empty());
    s.create_app(&app("com.conf.app")).await.unwrap();
    assert!(
        sessions(s, "com.conf.app").await.is_empty(),
        "debug sessions went with the app"
    );
    assert!(
        s.get_bundle("com.conf.app", "1.0.0")
            .await
            .unwrap()
            .is_none(),
        "a re-created app starts empty"
    );
}
