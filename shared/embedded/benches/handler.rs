//! The whole in-process handler for POST /updates on the embedded store (view cache warm),
//! including the signed download URL and the off-path event enqueue.
//!   cargo bench -p updraft-embedded --bench handler

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use updraft_core::channel::Channel;
use updraft_core::conformance;
use updraft_embedded::{LocalBlobs, SqliteStore};

fn body(i: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"platform":"ios","device_id":"6aab1f2b-6b2a-4f4c-9d4b-{i:012x}","app_id":"com.bench.app","custom_id":"","version_build":"1.0.0","version_code":"1","version_os":"17.4","version_name":"builtin","plugin_version":"8.51.14","is_emulator":false,"is_prod":true,"defaultChannel":""}}"#
    ))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("updraft.db")).unwrap();
    let blobs = LocalBlobs::open(dir.path(), "http://127.0.0.1:8787").unwrap();
    // One device asks again and again: measure the answer, not the rate limiter.
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
    ch.bundle = Some("1.0.1".into());
    rt.block_on(conformance::seed(
        &store,
        &conformance::app("com.bench.app"),
        &["1.0.1", "1.0.2"],
        &ch,
    ));
    let mut i = 0u64;
    let mut group = c.benchmark_group("update_check");
    group.throughput(Throughput::Elements(1));
    group.bench_function("handler_embedded_warm", |b| {
        b.iter(|| {
            i += 1;
            let req = http::Request::post("/updates").body(body(i)).unwrap();
            let resp = rt.block_on(updraft_core::handle(&state, req));
            assert_eq!(resp.status(), 200);
            resp
        })
    });
    // The same with a rollout of 1.0.2 to half the devices.
    rt.block_on(async {
        use updraft_core::store::ports::ChannelStore;
        let mut ch = state
            .store
            .get_channel("com.bench.app", "production")
            .await
            .unwrap()
            .unwrap();
        ch.rollout = Some(updraft_core::rollout::Rollout {
            id: "bench".into(),
            bundle: "1.0.2".into(),
            share: 5000,
            paused: false,
            started_at: 0,
        });
        state
            .store
            .update_channel("com.bench.app", &ch, None)
            .await
            .unwrap();
    });
    group.bench_function("handler_embedded_warm_rollout", |b| {
        b.iter(|| {
            i += 1;
            let req = http::Request::post("/updates").body(body(i)).unwrap();
            let resp = rt.block_on(updraft_core::handle(&state, req));
            assert_eq!(resp.status(), 200);
            resp
        })
    });
    group.finish();
    store.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);
