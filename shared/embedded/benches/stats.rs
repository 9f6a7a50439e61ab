//! `POST /stats` ingestion on the embedded store, health counting included: batches of 200
//! installs from devices seen for the first time, through the whole handler, each batch
//! settled (its events written, its release health counted) before the next.
//!   cargo bench -p updraft-embedded --bench stats

mod world;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use updraft_core::store::DeviceStore;

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
    let w = world::world(&["1.0.1"]);
    let mut next = 0u64;
    let mut group = c.benchmark_group("stats");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("batch_of_200_installs_with_health", |b| {
        b.iter(|| {
            let req = http::Request::post("/stats").body(batch(next)).unwrap();
            next += BATCH;
            w.rt.block_on(async {
                let resp = updraft_core::handle(&w.state, req).await;
                assert_eq!(resp.status(), 200);
                w.state.store.settle().await;
            })
        })
    });
    group.finish();
    w.store.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);
