//! `POST /stats` ingestion on the embedded store, health counting included: batches of 200
//! installs from devices seen for the first time, through the whole handler, each batch
//! settled (its events written, its release health counted) before the next.
//!   cargo bench -p updraft-embedded --bench stats

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use updraft_core::channel::Channel;
use updraft_core::conformance;
use updraft_core::store::DeviceStore;
use updraft_embedded::{LocalBlobs, SqliteStore};

const BATCH: u64 = 200;

fn batch(from: u64) -> Bytes {
    let events: Vec<String> = (from..from + BATCH)
        .map(|i| format!(
            r#"{{"platform":"android","device_id":"6aab1f2b-6b2a-4f4c-9d4b-{i:012x}","app_id":"com.bench.app","custom_id":"","version_build":"1.0.0","version_code":"1","version_os":"14","version_name":"1.0.1","plugin_version":"8.51.14","is_emulator":false,"is_prod":true,"action":"set"}}"#
        ))
        .collect();
    Bytes::from(format!("[{}]", events.join(",")))
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
        &["1.0.1"],
        &ch,
    ));
    let mut next = 0u64;
    let mut group = c.benchmark_group("stats");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("batch_of_200_installs_with_health", |b| {
        b.iter(|| {
            let req = http::Request::post("/stats").body(batch(next)).unwrap();
            next += BATCH;
            rt.block_on(async {
                let resp = updraft_core::handle(&state, req).await;
                assert_eq!(resp.status(), 200);
                state.store.settle().await;
            })
        })
    });
    group.finish();
    store.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);
