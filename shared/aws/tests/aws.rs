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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_presigned_upload_accepts_only_the_signed_bytes() {
    let (_, blobs) = fresh("s3").await;
    // A refused PUT may leave the server closing a connection the pool would reuse; the
    // test asserts signatures, not keep-alive, so every request gets its own connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    let key = "com.example.app/0123456789abcdef.zip";
    let put = |ticket: &updraft_core::blobs::UploadTicket, bytes: Vec<u8>| {
        let mut req = http.put(&ticket.url).body(bytes);
        for (k, v) in &ticket.headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let ticket = blobs
        .presign_upload(key, body.len() as u64, &sha, 900)
        .await
        .unwrap();
    assert!(
        ticket.headers.contains_key("x-amz-checksum-sha256"),
        "{:?}",
        ticket.headers
    );

    // Same length, different bytes: the signed checksum refuses it.
    let mut wrong = body.clone();
    wrong[5] ^= 0xff;
    let resp = put(&ticket, wrong).await.unwrap();
    assert!(
        resp.status().is_client_error(),
        "wrong bytes answered {}",
        resp.status()
    );
    // S3 stores nothing; s3s-fs may keep the refused bytes. Either way they are not the
    // registered bytes, so finalize (which compares size and SHA-256) refuses them.
    let kept = blobs.stat(key).await.unwrap();
    assert!(kept.as_ref().is_none_or(|k| k.sha256 != sha), "{kept:?}");
    // A forged URL (other key) is refused by the signature.
    let mut forged = ticket.clone();
    forged.url = forged.url.replace("0123456789abcdef", "fedcba9876543210");
    // The server may refuse before reading the body and close the connection: both are a no.
    let refused = put(&forged, body.clone()).await;
    assert!(
        refused
            .as_ref()
            .map_or(true, |r| r.status().is_client_error()),
        "{refused:?}"
    );

    let resp = put(&ticket, body.clone()).await.unwrap();
    assert!(
        resp.status().is_success(),
        "{}: {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    );
    let info = blobs.stat(key).await.unwrap().unwrap();
    assert_eq!(
        (info.size, info.sha256.as_str()),
        (body.len() as u64, sha.as_str())
    );

    // Devices download it, with Range.
    let url = blobs.download_url(key).await.unwrap();
    assert_eq!(
        url,
        blobs.download_url(key).await.unwrap(),
        "stable within a day"
    );
    let got = http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), body);
    let part = http
        .get(&url)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().to_vec(), body[10..20].to_vec());
    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert!(
        http.get(&tampered)
            .send()
            .await
            .unwrap()
            .status()
            .is_client_error()
    );

    blobs.delete(key).await.unwrap();
    assert!(blobs.stat(key).await.unwrap().is_none());
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
        })
        .await
        .unwrap();
    let mut b = updraft_core::conformance::bundle("1.0.1", 'a');
    b.storage_key = format!("{app}/b.zip");
    store.register_bundle(app, &b).await.unwrap();
    store.mark_ready(app, "1.0.1", 1).await.unwrap();
    let mut ch = updraft_core::channel::Channel::new("production");
    ch.public = true;
    ch.bundle = Some("1.0.1".into());
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
    assert_eq!(
        check(&state, "11111111-1111-4111-8111-111111111111").await["version"],
        "1.0.1"
    );
    assert_eq!(counter.reads(), 1, "{:?}", counter.snapshot());

    // Steady state, no overrides: no read at all.
    counter.reset();
    for i in 0..200 {
        let device = format!("22222222-2222-4222-8222-{i:012}");
        assert_eq!(check(&state, &device).await["version"], "1.0.1");
    }
    assert_eq!(counter.reads(), 0, "{:?}", counter.snapshot());

    // With overrides: the override lookup, and nothing else.
    // Through the state's store, which forgets the app's view as every write path does.
    state
        .store
        .set_override(app, "33333333-3333-4333-8333-333333333333", "production")
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
