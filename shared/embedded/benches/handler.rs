//! The whole in-process handler for POST /updates on the embedded store (view cache warm),
//! including the signed download URL and the off-path event enqueue; then the same with a
//! rollout on the channel.
//!   cargo bench -p updraft-embedded --bench handler

mod world;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn body(i: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"platform":"ios","device_id":"6aab1f2b-6b2a-4f4c-9d4b-{i:012x}","app_id":"com.bench.app","custom_id":"","version_build":"1.0.0","version_code":"1","version_os":"17.4","version_name":"builtin","plugin_version":"8.51.14","is_emulator":false,"is_prod":true,"defaultChannel":""}}"#
    ))
}

fn bench(c: &mut Criterion) {
    let w = world::world(&["1.0.1", "1.0.2"]);
    let mut i = 0u64;
    let mut group = c.benchmark_group("update_check");
    group.throughput(Throughput::Elements(1));
    let mut check = |name: &str, group: &mut criterion::BenchmarkGroup<'_, _>| {
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let req = http::Request::post("/updates").body(body(i)).unwrap();
                let resp = w.rt.block_on(updraft_core::handle(&w.state, req));
                assert_eq!(resp.status(), 200);
                resp
            })
        });
    };
    check("handler_embedded_warm", &mut group);
    // The same with a rollout of 1.0.2 to half the devices.
    w.rt.block_on(async {
        use updraft_core::store::ports::ChannelStore;
        let store = &w.state.store;
        let mut ch = store
            .get_channel(world::APP, "production")
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
        store.update_channel(world::APP, &ch, None).await.unwrap();
    });
    check("handler_embedded_warm_rollout", &mut group);
    group.finish();
    w.store.close();
}

criterion_group!(benches, bench);
criterion_main!(benches);
