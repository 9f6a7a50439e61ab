//! Parse + validate + decide + serialize for a realistic update-check body, no I/O.
//!   cargo bench -p updraft-core --bench decision

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use updraft_core::app::App;
use updraft_core::bundle::{Bundle, BundleStatus};
use updraft_core::channel::Channel;
use updraft_core::decision::{Decision, decide_for};
use updraft_core::device_request::{Strictness, into_object, parse_body, parse_device};

const BODY: &[u8] = br#"{"platform":"android","device_id":"6AAB1F2B-6B2A-4F4C-9D4B-1A2B3C4D5E6F","app_id":"com.example.app","custom_id":"","version_build":"1.2.0","version_code":"120","version_os":"14","version_name":"1.2.3","plugin_version":"8.51.14","is_emulator":false,"is_prod":true,"defaultChannel":"","install_source":"com.android.vending"}"#;

fn world() -> (App, Vec<Channel>, Vec<Bundle>) {
    let app = App {
        app_id: "com.example.app".into(),
        name: "Example".into(),
        expose_metadata: true,
        created_at: 0,
        webhook: None,
    };
    let mut channels = Vec::new();
    for (i, name) in ["production", "beta", "staging", "qa"].iter().enumerate() {
        let mut c = Channel::new(name);
        c.id = i as i64 + 1;
        c.public = i == 0;
        c.allow_device_self_set = i > 0;
        c.bundle = Some(format!("1.{}.0", 3 + i));
        channels.push(c);
    }
    let bundles = (0..4)
        .map(|i| Bundle {
            version: format!("1.{}.0", 3 + i),
            status: BundleStatus::Ready,
            size: 1_234_567,
            checksum: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            session_key: String::new(),
            key_id: None,
            min_update_version: None,
            link: Some("https://example.com/changelog".into()),
            comment: Some("Faster start".into()),
            storage_key: format!("com.example.app/{i:032x}.zip"),
            object_sha256: String::new(),
            manifest: None,
            created_at: 0,
            ready_at: Some(0),
        })
        .collect();
    (app, channels, bundles)
}

fn check(app: &App, channels: &[Channel], bundles: &[Bundle], body: &[u8]) -> Vec<u8> {
    // As the route does it: the parsed object is taken, not borrowed and copied.
    let obj = into_object(parse_body(body).unwrap()).unwrap();
    let device = parse_device(&obj, Strictness::Check).unwrap();
    let served = |v: &str| bundles.iter().find(|b| b.version == v);
    match decide_for(&device, app, channels, None, served) {
        Decision::Update {
            bundle,
            with_metadata,
            ..
        } => {
            let mut answer = serde_json::json!({
                "version": bundle.version,
                "url": "https://d111111abcdef8.cloudfront.net/com.example.app/0000000000000000000000000000000.zip?Expires=1796000000&Signature=abc&Key-Pair-Id=K2JCJMDEHXQW5F",
                "checksum": bundle.checksum,
                "session_key": bundle.session_key,
            });
            if with_metadata {
                answer["link"] = serde_json::json!(bundle.link);
                answer["comment"] = serde_json::json!(bundle.comment);
            }
            serde_json::to_vec(&answer).unwrap()
        }
        Decision::RevertToBuiltin => b"{\"version\":\"builtin\"}".to_vec(),
        Decision::NoUpdate(r) => serde_json::to_vec(
            &serde_json::json!({"error": r.code, "message": r.message, "kind": r.kind()}),
        )
        .unwrap(),
    }
}

fn bench(c: &mut Criterion) {
    let (app, channels, bundles) = world();
    assert!(
        String::from_utf8(check(&app, &channels, &bundles, BODY))
            .unwrap()
            .contains("\"version\":\"1.3.0\"")
    );
    let mut group = c.benchmark_group("update_check");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_validate_decide_serialize", |b| {
        b.iter(|| {
            check(
                black_box(&app),
                black_box(&channels),
                black_box(&bundles),
                black_box(BODY),
            )
        })
    });
    // The same with a rollout on the device's channel: 1.4.0 to half the devices (this
    // device's slot decides which it gets; the hash is the added cost).
    let mut staged = channels.clone();
    staged[0].rollout = Some(updraft_core::rollout::Rollout {
        id: "bench".into(),
        bundle: "1.4.0".into(),
        share: 5000,
        paused: false,
        started_at: 0,
    });
    group.bench_function("parse_validate_decide_serialize_rollout", |b| {
        b.iter(|| {
            check(
                black_box(&app),
                black_box(&staged),
                black_box(&bundles),
                black_box(BODY),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
