//! The conformance suite and the S3 adapter against local DynamoDB- and S3-compatible servers
//! (moto and s3s-fs), which `scripts/test` installs and starts.

use std::sync::Arc;

use updraft_aws::{AwsSettings, DownloadMode, DynamoStore, S3Blobs, create_table_if_missing};
use updraft_core::blobs::{Blobs, DownloadUrls};

/// Fails loudly (never skips) when the local servers are not configured.
fn require_local_servers() {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: run ./scripts/test, which starts moto (DynamoDB) and s3s-fs (S3) on 127.0.0.1"
        );
    }
}

async fn fresh(name: &str) -> (DynamoStore, S3Blobs) {
    require_local_servers();
    let suffix = updraft_core::key::random_hex(4);
    let settings = AwsSettings {
        table: format!("updraft-{name}-{suffix}"),
        bucket: format!("updraft-{name}-{suffix}"),
        download: DownloadMode::S3Presigned,
        force_path_style: true,
        // Generous: the local servers share two cores with the whole test suite.
        dynamodb_timeout: std::time::Duration::from_secs(30),
        tls_roots: updraft_aws::TlsRoots::System,
        events_per_app: updraft_core::device::EVENTS_PER_APP,
    };
    let (store, blobs) = settings.connect().await;
    create_table_if_missing(&store.client(), &settings.table)
        .await
        .unwrap();
    blobs.create_bucket_if_missing().await.unwrap();
    (store, blobs)
}

/// A fresh table per case.
async fn fresh_store() -> (Arc<dyn updraft_core::store::Store>, ()) {
    (Arc::new(fresh("conf").await.0), ())
}

/// The conformance suite, one test per case.
mod conformance {
    use super::fresh_store;
    updraft_core::conformance_suite!(fresh_store);
}

/// S3 through real HTTP (s3s-fs verifies signatures), as the CLI and devices reach it.
struct OverHttp(reqwest::Client);

#[async_trait::async_trait]
impl updraft_core::blob_conformance::BlobClient for OverHttp {
    async fn put(&self, ticket: &updraft_core::blobs::UploadTicket, body: Vec<u8>) -> bool {
        // The body sets its own length; sending the signed one with another body would hang.
        let mut req = self.0.put(&ticket.url).body(body);
        for (k, v) in ticket
            .headers
            .iter()
            .filter(|(k, _)| *k != "content-length")
        {
            req = req.header(k, v);
        }
        // The server may refuse before reading the body and close the connection: a no too.
        req.send().await.is_ok_and(|r| r.status().is_success())
    }

    async fn get(&self, url: &str, range: Option<&str>) -> (u16, Vec<u8>) {
        let mut req = self.0.get(url);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }
}

/// A fresh bucket per case.
async fn fresh_blobs() -> (updraft_core::blob_conformance::BlobWorld, ()) {
    let (_, blobs) = fresh("s3").await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A refused PUT may leave the server closing a connection the pool would reuse; the
    // suite asserts signatures, not keep-alive, so every request gets its own connection.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let blobs = Arc::new(blobs);
    let world = updraft_core::blob_conformance::BlobWorld {
        blobs: blobs.clone(),
        urls: blobs,
        client: Box::new(OverHttp(http)),
    };
    (world, ())
}

/// The bundle-storage conformance suite on S3, one test per case.
mod blob_conformance {
    use super::fresh_blobs;
    updraft_core::blob_conformance_suite!(fresh_blobs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_signs_the_checksum_and_downloads_refuse_a_tampered_signature() {
    let (_, blobs) = fresh("s3sig").await;
    let ticket = blobs
        .presign_upload(
            "com.example.app/0123456789abcdef.zip",
            10,
            &"a".repeat(64),
            900,
        )
        .await
        .unwrap();
    assert!(
        ticket.headers.contains_key("x-amz-checksum-sha256"),
        "storage itself checks the bytes: {:?}",
        ticket.headers
    );
    let url = blobs
        .download_url("com.example.app/0123456789abcdef.zip")
        .await
        .unwrap();
    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let status = reqwest::get(&tampered).await.unwrap().status();
    assert!(status.is_client_error(), "{status}");
}

/// One update check, in process, through the same handler every host runs.
async fn check(state: &updraft_core::State, device: &str) -> serde_json::Value {
    let body = serde_json::json!({
        "platform": "ios", "device_id": device, "app_id": "com.budget.app", "version_build": "1.0.0",
        "version_name": "builtin", "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true
    });
    let req = http::Request::post("/updates")
        .body(bytes::Bytes::from(body.to_string()))
        .unwrap();
    let resp = updraft_core::handle(state, req).await;
    assert_eq!(resp.status(), 200);
    serde_json::from_slice(resp.body()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_checks_stay_within_the_read_budget() {
    use updraft_core::store::{AppStore, BundleStore, ChannelStore, DeviceStore};
    let (store, blobs) = fresh("budget").await;
    let app = "com.budget.app";
    store
        .create_app(&updraft_core::app::App {
            app_id: app.into(),
            name: "b".into(),
            expose_metadata: false,
            created_at: 0,
            webhook: None,
        })
        .await
        .unwrap();
    for (v, c) in [("1.0.1", 'a'), ("1.0.2", 'b')] {
        let mut b = updraft_core::conformance::bundle(v, c);
        b.storage_key = format!("{app}/{v}.zip");
        store.register_bundle(app, &b).await.unwrap();
        store.mark_ready(app, v, 1).await.unwrap();
    }
    // A rollout of 1.0.2 to half the devices: it costs no read either.
    let mut ch = updraft_core::channel::Channel::new("production");
    ch.public = true;
    ch.bundle = Some("1.0.1".into());
    ch.rollout = Some(updraft_core::rollout::Rollout {
        id: "budget".into(),
        bundle: "1.0.2".into(),
        share: 5000,
        paused: false,
        started_at: 0,
    });
    store.create_channel(app, &ch).await.unwrap();
    // A long view lifetime: the counts below must not depend on how fast this machine is.
    let config = updraft_core::state::Config {
        view_ttl: std::time::Duration::from_secs(600),
        ..Default::default()
    };
    let state = updraft_core::State::with_config(
        Arc::new(store.clone()),
        updraft_core::blobs::Storage::full(Arc::new(blobs)),
        config,
    );
    let counter = store.requests().clone();

    // Cold: one Query reads the app, its channels and the served bundle.
    counter.reset();
    let first = check(&state, "11111111-1111-4111-8111-111111111111").await;
    assert!(first["version"] == "1.0.1" || first["version"] == "1.0.2");
    assert_eq!(counter.reads(), 1, "{:?}", counter.snapshot());

    // Steady state, no overrides: no read at all, and the rollout reaches about half.
    counter.reset();
    let mut on_target = 0;
    for i in 0..200 {
        let device = format!("22222222-2222-4222-8222-{i:012}");
        let version = check(&state, &device).await["version"].clone();
        assert!(version == "1.0.1" || version == "1.0.2", "{version}");
        on_target += usize::from(version == "1.0.2");
    }
    assert_eq!(counter.reads(), 0, "{:?}", counter.snapshot());
    assert!((60..140).contains(&on_target), "{on_target} of 200 at 50 %");

    // With overrides: the override lookup, and nothing else.
    // Through the state's store, which forgets the app's view as every write path does.
    state
        .store
        .set_override(
            app,
            "33333333-3333-4333-8333-333333333333",
            "production",
            updraft_core::store::AssignedBy::Operator,
        )
        .await
        .unwrap();
    check(&state, "44444444-4444-4444-8444-444444444444").await;
    counter.reset();
    for i in 0..100 {
        let device = format!("55555555-5555-4555-8555-{i:012}");
        check(&state, &device).await;
    }
    let reads = counter.snapshot();
    assert_eq!(
        counter.reads(),
        100,
        "one override lookup per check: {reads:?}"
    );
    assert_eq!(reads.get("GetItem"), Some(&100), "{reads:?}");
}

/// Deleting a bundle's bytes invalidates its path at the distribution devices download
/// through (moto plays CloudFront), so a URL signed before the delete stops at the edge too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_bytes_invalidates_their_path_at_the_edge() {
    use aws_sdk_cloudfront::types::{
        DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig,
        ViewerProtocolPolicy,
    };
    assert!(
        std::env::var("AWS_ENDPOINT_URL_CLOUDFRONT").is_ok_and(|v| !v.is_empty()),
        "AWS_ENDPOINT_URL_CLOUDFRONT is not set: run ./scripts/test (moto plays CloudFront)"
    );
    let (_, blobs) = fresh("edge").await;
    let sdk = updraft_aws::sdk_config(updraft_aws::TlsRoots::System).await;
    let cf = aws_sdk_cloudfront::Client::from_conf(
        aws_sdk_cloudfront::config::Builder::from(&sdk)
            .endpoint_url(std::env::var("AWS_ENDPOINT_URL_CLOUDFRONT").unwrap())
            .build(),
    );
    let origin = Origin::builder()
        .id("bundles")
        .domain_name("bundles.s3.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(updraft_core::key::random_hex(8))
        .comment("updraft test")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("bundles")
                .viewer_protocol_policy(ViewerProtocolPolicy::HttpsOnly)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // moto creates the distribution but answers in XML the SDK does not parse (a
    // `CreateDistributionResult` root, `True` for booleans): read the id from the raw answer.
    let id = match cf
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
    {
        Ok(out) => out.distribution().unwrap().id().to_string(),
        Err(e) => {
            let raw = e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(raw);
            text.split("<Id>")
                .nth(1)
                .and_then(|t| t.split("</Id>").next())
                .unwrap_or_else(|| panic!("no distribution id in {text}"))
                .to_string()
        }
    };
    let blobs = blobs.with_edge_cache(updraft_aws::EdgeCache::new(cf.clone(), &id));

    let key = "com.example.app/0123456789abcdef.zip";
    let body = b"bundle bytes".to_vec();
    let sum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    let staged = updraft_core::blobs::staging_key(key);
    let ticket = blobs
        .presign_upload(&staged, body.len() as u64, &sum, 900)
        .await
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut put = reqwest::Client::new().put(&ticket.url).body(body.clone());
    for (k, v) in ticket
        .headers
        .iter()
        .filter(|(k, _)| *k != "content-length")
    {
        put = put.header(k, v);
    }
    assert!(put.send().await.unwrap().status().is_success());
    blobs.promote(&staged, key).await.unwrap();
    let invalidated =
        |list: aws_sdk_cloudfront::operation::list_invalidations::ListInvalidationsOutput| {
            list.invalidation_list().map_or(0, |l| l.items().len())
        };
    let before = cf
        .list_invalidations()
        .distribution_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        invalidated(before),
        0,
        "promoting a staged upload invalidates nothing"
    );

    updraft_core::blobs::delete_bundle_bytes(&blobs, key)
        .await
        .unwrap();
    let after = cf
        .list_invalidations()
        .distribution_id(&id)
        .send()
        .await
        .unwrap();
    let items = after
        .invalidation_list()
        .map(|l| l.items().to_vec())
        .unwrap_or_default();
    assert_eq!(
        items.len(),
        1,
        "one invalidation for the deleted key, none for staging"
    );
    let one = cf
        .get_invalidation()
        .distribution_id(&id)
        .id(items[0].id())
        .send()
        .await
        .unwrap();
    let paths = one
        .invalidation()
        .and_then(|i| i.invalidation_batch())
        .and_then(|b| b.paths())
        .map(|p| p.items().to_vec())
        .unwrap_or_default();
    assert_eq!(paths, vec![format!("/{key}")]);
}

/// The TTLs (seconds) of a device's stored events, read from the table as they are.
async fn stored_lifetimes(store: &DynamoStore, app: &str, device: &str) -> Vec<i64> {
    let out = store
        .client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("EV#{app}#{device}")),
        )
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|i| i["expires_at"].as_n().unwrap().parse().unwrap())
        .collect()
}

/// An app's event quota on DynamoDB: an app logging faster than its quota per retention
/// period gives new events shorter lives (so it holds about its quota), other apps keep the
/// full week, and expired events are never read back, though TTL has not deleted them yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_logging_past_its_quota_keeps_about_its_quota() {
    use updraft_core::device::{EVENT_RETENTION_MS, now_ms};
    use updraft_core::store::DeviceStore;
    let (store, _) = fresh("quota").await;
    // 1,680 a week is ten an hour.
    let store = store.with_event_quota(1680);
    let event = |app: &str, device: &str, at: i64| {
        let mut e = updraft_core::conformance::event(device, "set", "1.0.1", None, at);
        e.app_id = app.into();
        e
    };
    let week = EVENT_RETENTION_MS / 1000;
    let start = now_ms();

    // Within the rate: a week each.
    let calm: Vec<_> = (0..5)
        .map(|_| event("com.flood.app", "calm", start))
        .collect();
    store.record_events(&calm).await.unwrap();
    let ttls = stored_lifetimes(&store, "com.flood.app", "calm").await;
    assert_eq!(ttls, vec![start / 1000 + week; 5]);

    // A flood from fresh device ids: 205 in the hour, so 1,680 / 205 ≈ 8.2 hours each.
    let at = now_ms();
    for batch in 0..4 {
        let flood: Vec<_> = (0..50)
            .map(|i| event("com.flood.app", &format!("d{batch}-{i}"), at))
            .collect();
        store.record_events(&flood).await.unwrap();
    }
    let last = stored_lifetimes(&store, "com.flood.app", "d3-49").await;
    let hours = (last[0] - at / 1000) as f64 / 3600.0;
    assert!(
        (7.5..=8.5).contains(&hours),
        "the last of 205 events an hour against 1,680 a week lives {hours:.2} h"
    );
    let first = stored_lifetimes(&store, "com.flood.app", "d0-0").await;
    assert!(first[0] > last[0], "the flood's later events expire sooner");
    // Another app is not charged for it.
    store
        .record_events(&[event("com.quiet.app", "q", at)])
        .await
        .unwrap();
    assert_eq!(
        stored_lifetimes(&store, "com.quiet.app", "q").await,
        vec![at / 1000 + week]
    );

    // An expired event still in the table (TTL deletes within days) is not read back.
    let old = start - EVENT_RETENTION_MS - 60_000;
    store
        .record_events(&[
            event("com.quiet.app", "old", old),
            event("com.quiet.app", "old", start),
        ])
        .await
        .unwrap();
    assert_eq!(
        stored_lifetimes(&store, "com.quiet.app", "old").await.len(),
        2
    );
    let read = store
        .device_events("com.quiet.app", "old", 0, 100)
        .await
        .unwrap();
    assert_eq!(read.iter().map(|e| e.at).collect::<Vec<_>>(), vec![start]);
}

/// `app` with 1.0.1 ready and served by its public `production` channel, and a state over
/// it that keeps app views for the test's length and limits no rate: the request counts
/// must not depend on how fast this machine is.
async fn serving(store: &DynamoStore, blobs: S3Blobs, app: &str) -> updraft_core::State {
    let mut production = updraft_core::channel::Channel::new("production");
    production.public = true;
    production.bundle = Some("1.0.1".into());
    let seeded = updraft_core::conformance::app(app);
    updraft_core::conformance::seed(store, &seeded, &["1.0.1"], &production).await;
    let config = updraft_core::state::Config {
        view_ttl: std::time::Duration::from_secs(600),
        rate_limits: updraft_core::rate_limit::RateLimits::OFF,
        ..Default::default()
    };
    updraft_core::State::with_config(
        Arc::new(store.clone()),
        updraft_core::blobs::Storage::full(Arc::new(blobs)),
        config,
    )
}

/// What a `/stats` batch costs in DynamoDB requests, health counting included: 200
/// installs of one version from 200 devices (counted like the update check's reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stats_batch_stays_within_its_write_budget() {
    let (store, blobs) = fresh("writes").await;
    let app = "com.writes.app";
    let state = serving(&store, blobs, app).await;
    let batch = |from: usize| {
        let events: Vec<serde_json::Value> = (from..from + 200)
            .map(|i| {
                serde_json::json!({
                    "platform": "ios", "device_id": format!("77777777-7777-4777-8777-{i:012}"),
                    "app_id": app, "version_build": "1.0.0", "version_name": "1.0.1",
                    "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true,
                    "action": "set"
                })
            })
            .collect();
        http::Request::post("/stats")
            .body(bytes::Bytes::from(serde_json::to_vec(&events).unwrap()))
            .unwrap()
    };
    // The first batch also creates the app's event-rate item and loads the view.
    let resp = updraft_core::handle(&state, batch(0)).await;
    assert_eq!(resp.status(), 200);
    updraft_core::store::DeviceStore::flush(&*state.store).await;
    let counter = store.requests().clone();
    counter.reset();
    let resp = updraft_core::handle(&state, batch(200)).await;
    assert_eq!(resp.status(), 200);
    // Flushed, as every few seconds or at shutdown: the day's counters are written too.
    updraft_core::store::DeviceStore::flush(&*state.store).await;
    let ops = counter.snapshot();
    // 200 events + 200 device records, 25 per BatchWriteItem; one ADD each for the event
    // quota, the day's counters and the release health; the app and the version looked up.
    let want: std::collections::BTreeMap<String, u64> =
        [("BatchWriteItem", 16), ("UpdateItem", 3), ("GetItem", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(ops, want);
}

/// The update check's bookkeeping on a diet: 1,000 checks from 100 devices that each check
/// 10 times with nothing changing cost one device-record write per device and one counter
/// `ADD` at the flush (≤ 0.2 write units per check, against 2 before); a check that changes
/// a device's version is always written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_checks_stay_within_the_write_budget() {
    use updraft_core::store::DeviceStore;
    let (store, blobs) = fresh("wbudget").await;
    let app = "com.wbudget.app";
    let state = serving(&store, blobs, app).await;
    let check_as = |device: String, running: &'static str| {
        let body = serde_json::json!({
            "platform": "android", "device_id": device, "app_id": app,
            "version_build": "1.0.0", "version_name": running,
            "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true
        });
        http::Request::post("/updates")
            .body(bytes::Bytes::from(body.to_string()))
            .unwrap()
    };
    let counter = store.requests().clone();
    counter.reset();
    for round in 0..10 {
        for d in 0..100 {
            let device = format!("88888888-8888-4888-8888-{d:012}");
            let resp = updraft_core::handle(&state, check_as(device, "builtin")).await;
            assert_eq!(resp.status(), 200, "round {round}");
        }
        state.store.settle().await;
    }
    state.store.flush().await;
    let ops = counter.snapshot();
    let writes: u64 = [
        "BatchWriteItem",
        "PutItem",
        "UpdateItem",
        "TransactWriteItems",
    ]
    .iter()
    .filter_map(|op| ops.get(*op))
    .sum();
    // Each bookkeeping write here carries one item: requests are write units.
    assert_eq!(
        ops.get("BatchWriteItem"),
        Some(&100),
        "one record per device: {ops:?}"
    );
    assert!(
        writes <= 200,
        "{writes} write units for 1,000 checks: {ops:?}"
    );
    let (_, stats) = {
        let rows = store.daily_stats(app).await.unwrap();
        ((), rows)
    };
    assert_eq!(
        stats.iter().map(|r| r.checks).sum::<u64>(),
        1000,
        "every check counted"
    );

    // A device now running 1.0.1: its record changes, so it is written.
    counter.reset();
    let device = "88888888-8888-4888-8888-000000000007".to_string();
    updraft_core::handle(&state, check_as(device, "1.0.1")).await;
    state.store.settle().await;
    assert_eq!(counter.snapshot().get("BatchWriteItem"), Some(&1));
}
