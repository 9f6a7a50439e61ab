//! Every branch of the update decision, as a table.

use serde_json::{Value, json};
use updraft_core::app::App;
use updraft_core::bundle::{Bundle, BundleStatus};
use updraft_core::channel::Channel;
use updraft_core::decision::{Decision, decide, resolve_channel};
use updraft_core::device_request::{DeviceInfo, Platform, Strictness, parse_device};

fn device(patch: Value) -> DeviceInfo {
    let mut v = json!({
        "platform": "ios", "device_id": "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f",
        "app_id": "com.example.app", "version_build": "1.0.0", "version_name": "builtin",
        "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true, "defaultChannel": ""
    });
    for (k, val) in patch.as_object().unwrap() {
        v[k] = val.clone();
    }
    parse_device(v.as_object().unwrap(), Strictness::Check).unwrap()
}

fn bundle(version: &str) -> Bundle {
    Bundle {
        version: version.into(),
        status: BundleStatus::Ready,
        size: 10,
        checksum: "0".repeat(64),
        session_key: String::new(),
        key_id: None,
        min_update_version: None,
        link: Some("https://example.com/notes".into()),
        comment: Some("fixes".into()),
        storage_key: "k".into(),
        object_sha256: "0".repeat(64),
        manifest: None,
        created_at: 0,
        ready_at: Some(0),
    }
}

fn channel(bundle: &str, patch: Value) -> Channel {
    let mut c = Channel::new("production");
    c.public = true;
    c.bundle = Some(bundle.to_string());
    let mut v = serde_json::to_value(&c).unwrap();
    for (k, val) in patch.as_object().unwrap() {
        v[k] = val.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn app() -> App {
    App {
        app_id: "com.example.app".into(),
        name: "x".into(),
        expose_metadata: false,
        created_at: 0,
        webhook: None,
    }
}

/// Runs the decision with one channel (resolved publicly unless `over`), returns the outcome code.
fn outcome(dev: Value, ch: Channel, b: Option<Bundle>, over: bool) -> String {
    let d = device(dev);
    let channels = vec![ch];
    let resolved = resolve_channel(
        &channels,
        over.then_some("production"),
        &d.default_channel,
        d.platform,
        |_| true,
    );
    match decide(&d, &app(), resolved, b.as_ref()) {
        Decision::Update { bundle, .. } => format!("update:{}", bundle.version),
        Decision::RevertToBuiltin => "builtin".into(),
        Decision::NoUpdate(r) => r.code.to_string(),
    }
}

/// (name, device fields, channel, ready bundle, via override, expected outcome)
type Case = (
    &'static str,
    Value,
    Channel,
    Option<&'static str>,
    bool,
    &'static str,
);

#[test]
fn decision_table() {
    let none = json!({});
    let cases: Vec<Case> = vec![
        (
            "plain update",
            none.clone(),
            channel("1.1.0", json!({})),
            Some("1.1.0"),
            false,
            "update:1.1.0",
        ),
        (
            "plugin 4",
            json!({"plugin_version": "4.2.0"}),
            channel("1.1.0", json!({})),
            Some("1.1.0"),
            false,
            "unsupported_plugin_version",
        ),
        (
            "no public channel",
            none.clone(),
            channel("1.1.0", json!({"public": false})),
            Some("1.1.0"),
            false,
            "no_channel",
        ),
        (
            "public channel off for platform",
            none.clone(),
            channel("1.1.0", json!({"ios": false})),
            Some("1.1.0"),
            false,
            "no_channel",
        ),
        (
            "override wins even when not public",
            none.clone(),
            channel("1.1.0", json!({"public": false})),
            Some("1.1.0"),
            true,
            "update:1.1.0",
        ),
        (
            "override on disabled platform",
            none.clone(),
            channel("1.1.0", json!({"public": false, "ios": false})),
            Some("1.1.0"),
            true,
            "disabled_platform_ios",
        ),
        (
            "defaultChannel not self-settable",
            json!({"defaultChannel": "production"}),
            channel("1.1.0", json!({"public": false})),
            Some("1.1.0"),
            false,
            "no_channel",
        ),
        (
            "defaultChannel self-settable",
            json!({"defaultChannel": "production"}),
            channel(
                "1.1.0",
                json!({"public": false, "allow_device_self_set": true}),
            ),
            Some("1.1.0"),
            false,
            "update:1.1.0",
        ),
        (
            "defaultChannel unknown: no fallback",
            json!({"defaultChannel": "beta"}),
            channel("1.1.0", json!({})),
            Some("1.1.0"),
            false,
            "no_channel",
        ),
        (
            "no bundle",
            none.clone(),
            {
                let mut c = channel("x", json!({}));
                c.bundle = None;
                c
            },
            None,
            false,
            "no_bundle",
        ),
        (
            "builtin when on a bundle",
            json!({"version_name": "1.0.5"}),
            channel("builtin", json!({})),
            None,
            false,
            "builtin",
        ),
        (
            "builtin when on builtin",
            none.clone(),
            channel("builtin", json!({})),
            None,
            false,
            "no_new_version_available",
        ),
        (
            "builtin when version_name equals native",
            json!({"version_name": "1.0.0"}),
            channel("builtin", json!({})),
            None,
            false,
            "no_new_version_available",
        ),
        (
            "already on it",
            json!({"version_name": "1.1.0"}),
            channel("1.1.0", json!({})),
            Some("1.1.0"),
            false,
            "no_new_version_available",
        ),
        (
            "major blocked",
            none.clone(),
            channel("2.0.0", json!({})),
            Some("2.0.0"),
            false,
            "disable_auto_update_to_major",
        ),
        (
            "major allowed with none",
            none.clone(),
            channel("2.0.0", json!({"disable_auto_update": "none"})),
            Some("2.0.0"),
            false,
            "update:2.0.0",
        ),
        (
            "private channel via defaultChannel can't happen; via override ok",
            none.clone(),
            channel("1.1.0", json!({"public": false})),
            Some("1.1.0"),
            true,
            "update:1.1.0",
        ),
        (
            "minor blocked",
            none.clone(),
            channel("1.1.0", json!({"disable_auto_update": "minor"})),
            Some("1.1.0"),
            false,
            "disable_auto_update_to_minor",
        ),
        (
            "minor same",
            none.clone(),
            channel("1.0.7", json!({"disable_auto_update": "minor"})),
            Some("1.0.7"),
            false,
            "update:1.0.7",
        ),
        (
            "patch blocked",
            none.clone(),
            channel("1.0.1", json!({"disable_auto_update": "patch"})),
            Some("1.0.1"),
            false,
            "disable_auto_update_to_patch",
        ),
        (
            "patch same core, prerelease",
            none.clone(),
            channel(
                "1.0.0-hotfix.1",
                json!({"disable_auto_update": "patch", "disable_auto_update_under_native": false}),
            ),
            Some("1.0.0-hotfix.1"),
            false,
            "update:1.0.0-hotfix.1",
        ),
        (
            "metadata missing",
            none.clone(),
            channel("1.1.0", json!({"disable_auto_update": "version_number"})),
            Some("1.1.0"),
            false,
            "misconfigured_channel",
        ),
        (
            "under native",
            json!({"version_build": "1.2.0"}),
            channel("1.1.0", json!({})),
            Some("1.1.0"),
            false,
            "disable_auto_update_under_native",
        ),
        (
            "under native allowed",
            json!({"version_build": "1.2.0"}),
            channel("1.1.0", json!({"disable_auto_update_under_native": false})),
            Some("1.1.0"),
            false,
            "update:1.1.0",
        ),
        (
            "prod disallowed",
            none.clone(),
            channel("1.1.0", json!({"allow_prod": false})),
            Some("1.1.0"),
            false,
            "disable_prod_build",
        ),
        (
            "dev disallowed",
            json!({"is_prod": false}),
            channel("1.1.0", json!({"allow_dev": false})),
            Some("1.1.0"),
            false,
            "disable_dev_build",
        ),
        (
            "device disallowed",
            none.clone(),
            channel("1.1.0", json!({"allow_device": false})),
            Some("1.1.0"),
            false,
            "disable_device",
        ),
        (
            "emulator disallowed",
            json!({"is_emulator": true}),
            channel("1.1.0", json!({"allow_emulator": false})),
            Some("1.1.0"),
            false,
            "disable_emulator",
        ),
        (
            "platform checked before major",
            none.clone(),
            channel("2.0.0", json!({"android": false, "ios": false})),
            Some("2.0.0"),
            true,
            "disabled_platform_ios",
        ),
    ];
    for (name, dev, ch, b, over, want) in cases {
        assert_eq!(outcome(dev, ch, b.map(bundle), over), want, "{name}");
    }
}

#[test]
fn private_channel_rule() {
    // A channel that is neither public nor self-settable, reached without an override.
    let d = device(json!({}));
    let mut c = channel("1.1.0", json!({"public": false}));
    c.public = false;
    let b = bundle("1.1.0");
    let resolved = updraft_core::decision::Resolved {
        channel: &c,
        via_override: false,
    };
    match decide(&d, &app(), Some(resolved), Some(&b)) {
        Decision::NoUpdate(r) => assert_eq!(r.code, "cannot_update_via_private_channel"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn metadata_rule() {
    let b = {
        let mut b = bundle("1.1.0");
        b.min_update_version = Some("1.5.0".into());
        b
    };
    let ch = channel(
        "1.1.0",
        json!({"disable_auto_update": "version_number", "disable_auto_update_under_native": false}),
    );
    assert_eq!(
        outcome(json!({}), ch.clone(), Some(b.clone()), false),
        "disable_auto_update_to_metadata"
    );
    assert_eq!(
        outcome(json!({"version_build": "1.5.0"}), ch, Some(b), false),
        "update:1.1.0"
    );
}

#[test]
fn major_refusal_carries_versions() {
    let d = device(json!({"version_name": "1.0.3"}));
    let channels = vec![channel("2.0.0", json!({}))];
    let b = bundle("2.0.0");
    let r = resolve_channel(&channels, None, "", Platform::Ios, |_| true);
    let Decision::NoUpdate(refusal) = decide(&d, &app(), r, Some(&b)) else {
        panic!()
    };
    assert_eq!(refusal.kind(), "blocked");
    let extra: serde_json::Map<String, Value> = refusal
        .extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(
        Value::Object(extra),
        json!({"major": true, "version": "2.0.0", "old": "1.0.3"})
    );
}

#[test]
fn key_id_mismatch_only_for_new_plugins() {
    let mut b = bundle("1.1.0");
    b.key_id = Some("MIIBCgKCAQEAqJikYizo".into());
    let ch = channel("1.1.0", json!({}));
    assert_eq!(
        outcome(
            json!({"key_id": "OTHERKEYOTHERKEY0000"}),
            ch.clone(),
            Some(b.clone()),
            false
        ),
        "key_id_mismatch"
    );
    assert_eq!(
        outcome(
            json!({"key_id": "OTHERKEYOTHERKEY0000", "plugin_version": "8.40.7"}),
            ch.clone(),
            Some(b.clone()),
            false
        ),
        "update:1.1.0"
    );
    assert_eq!(
        outcome(
            json!({"key_id": "MIIBCgKCAQEAqJikYizo"}),
            ch,
            Some(b),
            false
        ),
        "update:1.1.0"
    );
}

#[test]
fn gates_for_manifest_and_metadata() {
    let mut b = bundle("1.1.0");
    b.manifest = Some(vec![]);
    let channels = vec![channel("1.1.0", json!({}))];
    let mut a = app();
    a.expose_metadata = true;
    for (plugin, manifest, metadata) in [
        ("8.51.14", true, true),
        ("8.30.0", true, false),
        ("6.24.0", false, false),
        ("8.51.14-beta.1", true, false),
    ] {
        let d = device(json!({"plugin_version": plugin}));
        let r = resolve_channel(&channels, None, "", Platform::Ios, |_| true);
        match decide(&d, &a, r, Some(&b)) {
            Decision::Update {
                with_manifest,
                with_metadata,
                ..
            } => {
                assert_eq!(
                    (with_manifest, with_metadata),
                    (manifest, metadata),
                    "{plugin}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn channel_with_missing_bundle_counts_as_absent() {
    let channels = vec![channel("1.1.0", json!({}))];
    assert!(resolve_channel(&channels, None, "", Platform::Ios, |_| false).is_none());
}

/// What a device gets from a public channel serving 1.0.1 with a rollout of 1.1.0.
fn staged(device_id: &str, running: &str, share: u16, paused: bool) -> String {
    use updraft_core::decision::decide_for;
    let d = device(json!({"device_id": device_id, "version_name": running}));
    let mut ch = channel("1.0.1", json!({}));
    ch.rollout = Some(updraft_core::rollout::Rollout {
        id: "r1".into(),
        bundle: "1.1.0".into(),
        share,
        paused,
        started_at: 0,
    });
    let bundles = [bundle("1.0.1"), bundle("1.1.0")];
    let channels = vec![ch];
    match decide_for(&d, &app(), &channels, None, |v| {
        bundles.iter().find(|b| b.version == v)
    }) {
        Decision::Update { bundle, .. } => bundle.version.clone(),
        Decision::RevertToBuiltin => "builtin".into(),
        Decision::NoUpdate(r) => r.code.to_string(),
    }
}

#[test]
fn a_rollout_serves_its_target_to_its_cohort_and_the_stable_bundle_to_the_rest() {
    let ids: Vec<String> = (0..2000)
        .map(|i| format!("6aab1f2b-6b2a-4f4c-9d4b-{i:012}"))
        .collect();
    let target = ids
        .iter()
        .filter(|id| staged(id, "builtin", 2500, false) == "1.1.0")
        .count();
    let stable = ids
        .iter()
        .filter(|id| staged(id, "builtin", 2500, false) == "1.0.1")
        .count();
    assert_eq!(target + stable, ids.len());
    assert!((400..600).contains(&target), "{target} of 2000 at 25 %");
    // The same device gets the same answer every time.
    let first = staged(&ids[0], "builtin", 2500, false);
    assert!((0..10).all(|_| staged(&ids[0], "builtin", 2500, false) == first));
}

#[test]
fn a_device_on_the_target_stays_there_when_the_share_drops_or_pauses() {
    let id = "6aab1f2b-6b2a-4f4c-9d4b-000000000001";
    assert_eq!(staged(id, "1.1.0", 0, false), "no_new_version_available");
    assert_eq!(staged(id, "1.1.0", 5000, true), "no_new_version_available");
    // Not on it yet: a paused rollout takes nobody new, even at 100 %.
    assert_eq!(
        staged(id, "1.0.1", 10_000, true),
        "no_new_version_available"
    );
    assert_eq!(staged(id, "builtin", 10_000, true), "1.0.1");
    assert_eq!(staged(id, "builtin", 10_000, false), "1.1.0");
}
