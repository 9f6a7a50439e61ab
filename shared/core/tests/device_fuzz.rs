//! Property test of the device routes: whatever bytes a device sends, the answer is a 200 or
//! a 4xx JSON body, never a 5xx and never a panic (the plugin retries 5xx forever).
//! CI runs a fixed number of cases; `PROPTEST_CASES=100000 cargo test …` runs longer.

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Value, json};
use updraft_core::app::App;
use updraft_core::channel::Channel;
use updraft_core::conformance;
use updraft_core::memory::{MemoryBlobs, MemoryStore};

const FIELDS: &[&str] = &[
    "platform",
    "device_id",
    "app_id",
    "custom_id",
    "version_build",
    "version_code",
    "version_os",
    "version_name",
    "plugin_version",
    "is_emulator",
    "is_prod",
    "defaultChannel",
    "key_id",
    "action",
    "old_version_name",
    "metadata",
    "channel",
    "version",
    "manifest",
    "install_source",
];

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("com.fuzz.app"),
            Just("6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f"),
            Just("ios"),
            Just("android"),
            Just("1.0.0"),
            Just("builtin"),
            Just("8.51.14"),
            Just("4.0.0"),
            Just("set"),
            Just("update_fail"),
            Just("production"),
            Just("1.2"),
            Just("v2"),
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(FIELDS).prop_map(str::to_string),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A plausible device body with some fields replaced by anything at all.
fn device_body() -> impl Strategy<Value = Vec<u8>> {
    let base = json!({
        "platform": "ios", "device_id": "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f", "app_id": "com.fuzz.app",
        "version_build": "1.0.0", "version_name": "builtin", "plugin_version": "8.51.14",
        "is_emulator": false, "is_prod": true, "defaultChannel": "", "action": "set", "channel": "production"
    });
    prop::collection::vec((prop::sample::select(FIELDS), value()), 0..5).prop_map(move |changes| {
        let mut body = base.clone();
        for (k, v) in changes {
            body[k] = v;
        }
        body.to_string().into_bytes()
    })
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => device_body(),
        1 => value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => prop::collection::vec(device_body(), 0..4).prop_map(|items| {
            let parts: Vec<String> = items.into_iter().map(|b| String::from_utf8(b).unwrap()).collect();
            format!("[{}]", parts.join(",")).into_bytes()
        }),
    ]
}

fn setup() -> (tokio::runtime::Runtime, updraft_core::State) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let blobs = MemoryBlobs::new();
    let mut ch = Channel::new("production");
    ch.public = true;
    ch.allow_device_self_set = true;
    ch.bundle = Some("1.0.1".into());
    let app = App {
        expose_metadata: true,
        ..conformance::app("com.fuzz.app")
    };
    rt.block_on(conformance::seed(&store, &app, &["1.0.1"], &ch));
    let state = updraft_core::State::with_config(
        Arc::new(store),
        updraft_core::blobs::Storage::full(Arc::new(blobs)),
        updraft_core::state::Config {
            rate_limits: updraft_core::rate_limit::RateLimits::OFF,
            ..Default::default()
        },
    );
    (rt, state)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(1500),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn device_routes_never_answer_5xx(body in bodies(), route in 0usize..6) {
        thread_local! {
            static WORLD: (tokio::runtime::Runtime, updraft_core::State) = setup();
        }
        let (method, path) = [
            ("POST", "/updates"), ("POST", "/updates/manifest_size"), ("POST", "/stats"),
            ("POST", "/channel_self"), ("PUT", "/channel_self"), ("DELETE", "/channel_self"),
        ][route];
        let (status, answer) = WORLD.with(|(rt, state)| {
            let req = http::Request::builder().method(method).uri(path).body(Bytes::from(body.clone())).unwrap();
            let resp = rt.block_on(updraft_core::handle(state, req));
            (resp.status().as_u16(), resp.body().clone())
        });
        prop_assert!(status == 200 || (400..500).contains(&status), "{method} {path} answered {status}");
        let json: Result<Value, _> = serde_json::from_slice(&answer);
        prop_assert!(json.is_ok(), "{method} {path}: the answer is not JSON");
        if status != 200 {
            prop_assert!(json.unwrap()["error"].is_string(), "a refusal names its error");
        }
    }
}
