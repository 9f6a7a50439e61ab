//! The SQLite cost of device bookkeeping per update check: bursts of `get` events from
//! devices seen for the first time (the load benchmark's case), written as the background
//! writer writes them (one transaction per burst).
//!   cargo bench -p updraft-embedded --bench events

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use updraft_core::device::{Counter, DeviceEvent, now_ms};
use updraft_core::store::DeviceStore;
use updraft_embedded::SqliteStore;

const BURST: usize = 512;

fn check(i: u64, at: i64) -> DeviceEvent {
    DeviceEvent {
        app_id: "com.bench.app".into(),
        device_id: format!("6aab1f2b-6b2a-4f4c-9d4b-{i:012x}"),
        at,
        action: updraft_core::action::Action::Get,
        version_name: "builtin".into(),
        old_version_name: String::new(),
        platform: "android".into(),
        version_build: "1.0.0".into(),
        plugin_version: "8.51.14".into(),
        is_emulator: false,
        is_prod: true,
        custom_id: String::new(),
        outcome: Some("1.0.1".into()),
        metadata: None,
        counter: Some(Counter::Check),
        updates_device: true,
        log: false,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("updraft.db")).unwrap();
    let mut next = 0u64;
    let mut group = c.benchmark_group("device_bookkeeping");
    group.throughput(Throughput::Elements(BURST as u64));
    group.bench_function("burst_of_512_new_devices", |b| {
        b.iter_batched(
            || {
                let at = now_ms();
                let events: Vec<DeviceEvent> =
                    (0..BURST as u64).map(|i| check(next + i, at)).collect();
                next += BURST as u64;
                events
            },
            |events| rt.block_on(store.record_events(&events)).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
    store.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);
