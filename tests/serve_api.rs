//! End to end: the management API's rules, over real HTTP against the real binary.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_modes_and_apps() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let url = |p: &str| format!("{}{p}", s.url);
    assert_eq!(call("GET", &url("/v1/apps"), None, None).await.0, 401);
    assert_eq!(
        call("GET", &url("/v1/apps"), Some("upd_nope"), None)
            .await
            .0,
        401
    );
    admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    admin(
        &s,
        "POST",
        "/v1/apps",
        Some(json!({"app_id": "com.other.app"})),
    )
    .await;

    let (st, k) = admin(
        &s,
        "POST",
        "/v1/keys",
        Some(json!({"name": "ci", "mode": "upload", "apps": [APP]})),
    )
    .await;
    assert_eq!(st, 201, "{k}");
    let secret = k["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("upd_") && secret.len() >= 68);
    let (_, listed) = admin(&s, "GET", "/v1/keys", None).await;
    assert!(
        listed.to_string().find(&secret).is_none(),
        "the secret is shown once, never listed"
    );
    if !on_aws() {
        let db = std::fs::read(dir.path().join("updraft.db")).unwrap();
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "stored hashed"
        );
    }

    let ci = Some(secret.as_str());
    let (st, who) = call("GET", &url("/v1/whoami"), ci, None).await;
    assert_eq!(
        (st, who["mode"].as_str(), who["apps"].clone()),
        (200, Some("upload"), json!([APP]))
    );
    let (st, apps) = call("GET", &url("/v1/apps"), ci, None).await;
    assert_eq!(
        (st, apps.as_array().unwrap().len()),
        (200, 1),
        "only its apps are listed"
    );
    assert_eq!(
        call(
            "POST",
            &url("/v1/apps"),
            ci,
            Some(json!({"app_id": "com.third.app"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            "POST",
            &url(&format!("/v1/apps/{APP}/channels")),
            ci,
            Some(json!({"name": "x"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call("GET", &url("/v1/apps/com.other.app/bundles"), ci, None)
            .await
            .0,
        403
    );
    let sum = sha256_hex(b"abc");
    let (st, reg) = call(
        "POST",
        &url(&format!("/v1/apps/{APP}/bundles")),
        ci,
        Some(json!({"version": "1.0.0", "size": 3, "checksum": sum})),
    )
    .await;
    assert_eq!(st, 201, "{reg}");
    let kid = k["id"].as_str().unwrap();
    assert_eq!(
        admin(&s, "DELETE", &format!("/v1/keys/{kid}"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call("GET", &url("/v1/whoami"), ci, None).await.0,
        401,
        "revoked"
    );
    // A key cannot revoke itself (no lock-out by accident); it stays valid.
    let (_, me) = admin(&s, "GET", "/v1/whoami", None).await;
    let own = format!("/v1/keys/{}", me["id"].as_str().unwrap());
    let (st, body) = admin(&s, "DELETE", &own, None).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (409, Some("own_key")),
        "{body}"
    );
    assert_eq!(admin(&s, "GET", "/v1/whoami", None).await.0, 200);
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_only_accept_the_registered_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    let bytes = payload(3, 50_000);
    let sum = sha256_hex(&bytes);
    let path = format!("/v1/apps/{APP}/bundles");
    let (st, reg) = register_bundle(&s, APP, "1.0.0", &bytes).await;
    assert_eq!(st, 201);
    let ticket = reg["upload"].clone();
    assert!(ticket["expires_at"].as_i64().unwrap() > 0);

    // Wrong bytes, wrong length, forged URL: refused, nothing stored.
    let mut wrong = bytes.clone();
    wrong[10] ^= 1;
    assert!(refused(put_upload(&ticket, wrong).await), "wrong bytes");
    assert!(
        refused(put_upload(&ticket, bytes[..100].to_vec()).await),
        "short body"
    );
    let mut forged = ticket.clone();
    forged["url"] = json!(ticket["url"].as_str().unwrap().replace(".zip", "0.zip"));
    assert!(
        refused(put_upload(&forged, bytes.clone()).await),
        "forged URL"
    );
    let (st, fin) = admin(&s, "POST", &format!("{path}/1.0.0/finalize"), None).await;
    // Storage kept nothing (or, on S3 stand-ins that keep refused bodies, not these bytes).
    assert_eq!(st, 409);
    assert!(
        matches!(
            fin["error"].as_str(),
            Some("upload_missing" | "upload_mismatch")
        ),
        "{fin}"
    );
    let (_, list) = admin(&s, "GET", &path, None).await;
    assert_eq!(list[0]["status"], "pending");
    // A pending bundle cannot be served.
    let (st, v) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "production", "bundle": "1.0.0"})),
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (409, Some("bundle_not_ready")));

    // Retry after an interrupted upload: same registration → a fresh URL.
    let (st, again) = register_bundle(&s, APP, "1.0.0", &bytes).await;
    assert_eq!((st, again["status"].as_str()), (200, Some("pending")));
    let (st, v) = admin(
        &s,
        "POST",
        &path,
        Some(json!({"version": "1.0.0", "size": 9, "checksum": sha256_hex(b"different")})),
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (409, Some("version_exists")));
    assert_eq!(
        put_upload(&again["upload"], bytes.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    let (st, fin) = admin(&s, "POST", &format!("{path}/1.0.0/finalize"), None).await;
    assert_eq!((st, fin["status"].as_str()), (200, Some("ready")));
    let (st, _) = register_bundle(&s, APP, "1.0.0", &bytes).await;
    assert_eq!(st, 409, "a ready version is never overwritten");

    // Validation.
    for (body, code) in [
        (
            json!({"version": "latest", "size": 1, "checksum": sum}),
            "invalid_version",
        ),
        (
            json!({"version": "builtin", "size": 1, "checksum": sum}),
            "invalid_version",
        ),
        (
            json!({"version": "1.0.1", "size": 0, "checksum": sum}),
            "invalid_size",
        ),
        (
            json!({"version": "1.0.1", "size": 1, "checksum": "abc"}),
            "invalid_checksum",
        ),
        (json!({"version": "1.0.1", "size": 1}), "invalid_json_body"),
    ] {
        let (st, v) = admin(&s, "POST", &path, Some(body)).await;
        assert_eq!((st, v["error"].as_str()), (400, Some(code)));
    }

    // Delete: refused while served, then gone for good.
    admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "production", "bundle": "1.0.0"})),
    )
    .await;
    let (st, v) = admin(&s, "DELETE", &format!("{path}/1.0.0"), None).await;
    assert_eq!((st, v["error"].as_str()), (409, Some("bundle_in_use")));
    admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/production"),
        Some(json!({"bundle": null})),
    )
    .await;
    assert_eq!(
        admin(&s, "DELETE", &format!("{path}/1.0.0"), None).await.0,
        200
    );
    if !on_aws() {
        let left = std::fs::read_dir(dir.path().join("blobs").join(APP))
            .unwrap()
            .count();
        assert_eq!(left, 0, "bytes removed");
    }
    let (st, _) = register_bundle(&s, APP, "1.0.0", &bytes).await;
    assert_eq!(st, 409, "a deleted version cannot be reused");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_upload_url_never_brings_a_deleted_bundle_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    let bytes = payload(9, 30_000);
    let (st, reg) = register_bundle(&s, APP, "1.0.1", &bytes).await;
    assert_eq!(st, 201, "{reg}");
    let ticket = reg["upload"].clone();
    assert_eq!(
        put_upload(&ticket, bytes.clone()).await.unwrap().status(),
        200
    );
    let finalize = format!("/v1/apps/{APP}/bundles/1.0.1/finalize");
    assert_eq!(admin(&s, "POST", &finalize, None).await.0, 200);
    // A device is offered it: the download URL it gets serves the bytes.
    let channel = format!("/v1/apps/{APP}/channels");
    admin(
        &s,
        "POST",
        &channel,
        Some(json!({"name": "production", "public": true, "bundle": "1.0.1"})),
    )
    .await;
    let (st, offer) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(
        (st, offer["version"].as_str()),
        (200, Some("1.0.1")),
        "{offer}"
    );
    let url = offer["url"].as_str().unwrap().to_string();
    let got = client().get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // Replaying the upload URL while the bundle is ready changes nothing devices see.
    let _ = put_upload(&ticket, bytes.clone()).await;
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);

    admin(
        &s,
        "PATCH",
        &format!("{channel}/production"),
        Some(json!({"bundle": null})),
    )
    .await;
    assert_eq!(
        admin(&s, "DELETE", &format!("/v1/apps/{APP}/bundles/1.0.1"), None)
            .await
            .0,
        200
    );
    let gone = client().get(&url).send().await.unwrap().status().as_u16();
    assert!((400..500).contains(&gone), "deleted: {gone}");
    // The attack: the same, still valid upload URL again. Whatever storage does with the
    // body, the deleted bundle's download URL stays dead and finalize cannot revive it.
    let _ = put_upload(&ticket, bytes.clone()).await;
    let after = client().get(&url).send().await.unwrap().status().as_u16();
    assert!(
        (400..500).contains(&after),
        "replayed upload served again: {after}"
    );
    let (st, v) = admin(&s, "POST", &finalize, None).await;
    assert_eq!(st, 404, "{v}");
    let (st, _) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles/1.0.1"), None).await;
    assert_eq!(st, 404);
    if !on_aws() {
        assert!(
            std::fs::read_dir(dir.path().join("blobs").join(APP)).map_or(true, |d| d.count() == 0),
            "nothing where downloads read"
        );
    }
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_public_channel_per_platform_and_channel_validation() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    let ch = format!("/v1/apps/{APP}/channels");
    assert_eq!(
        admin(
            &s,
            "POST",
            &ch,
            Some(json!({"name": "production", "public": true}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        admin(
            &s,
            "POST",
            &ch,
            Some(json!({"name": "android-beta", "public": true, "ios": false, "electron": false}))
        )
        .await
        .0,
        201
    );
    let (_, list) = admin(&s, "GET", &ch, None).await;
    let public: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["public"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(public, ["android-beta"]);
    for (body, code) in [
        (json!({"name": "bad name!"}), "invalid_channel_name"),
        (json!({"name": "x", "public": "yes"}), "invalid_json_body"),
        (
            json!({"name": "x", "disable_auto_update": "sometimes"}),
            "invalid_json_body",
        ),
        (json!({"name": "x", "id": 7}), "invalid_json_body"),
    ] {
        let (st, v) = admin(&s, "POST", &ch, Some(body)).await;
        assert_eq!((st, v["error"].as_str()), (400, Some(code)), "{v}");
    }
    assert_eq!(
        admin(
            &s,
            "POST",
            &ch,
            Some(json!({"name": "y", "bundle": "9.9.9"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(admin(&s, "GET", &format!("{ch}/nope"), None).await.0, 404);
    assert_eq!(
        admin(&s, "DELETE", &format!("/v1/apps/{APP}"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        admin(&s, "GET", &format!("/v1/apps/{APP}"), None).await.0,
        404
    );
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_racing_on_one_channel_leave_it_on_one_bundle_seen_the_same_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let (st, _) = admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    assert_eq!(st, 201);
    let sums = [
        upload_bundle(&s, APP, "1.1.0", &payload(1, 10_000)).await,
        upload_bundle(&s, APP, "1.2.0", &payload(2, 10_000)).await,
    ];
    let (st, _) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "production", "public": true, "bundle": "1.1.0"})),
    )
    .await;
    assert_eq!(st, 201);

    for round in 0..3 {
        // Two operators, each repeating their choice, all at once.
        let mut writers = tokio::task::JoinSet::new();
        for i in 0..16 {
            let url = format!("{}/v1/apps/{APP}/channels/production", s.url);
            let bundle = if i % 2 == 0 { "1.1.0" } else { "1.2.0" };
            writers.spawn(async move {
                call("PATCH", &url, Some(ADMIN), Some(json!({"bundle": bundle}))).await
            });
        }
        // Each write either lands or is told the channel moved under it (409): none is
        // applied on top of a state its writer never saw.
        let mut landed = 0;
        while let Some(done) = writers.join_next().await {
            let (st, body) = done.unwrap();
            match st {
                200 => landed += 1,
                409 => assert_eq!(body["error"], "concurrent_update", "round {round}: {body}"),
                _ => panic!("round {round}: {st} {body}"),
            }
        }
        assert!(landed >= 1, "round {round}: no write landed");
        let (_, one) = admin(
            &s,
            "GET",
            &format!("/v1/apps/{APP}/channels/production"),
            None,
        )
        .await;
        let (_, all) = admin(&s, "GET", &format!("/v1/apps/{APP}/channels"), None).await;
        let (_, upd) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
        let served = one["bundle"].as_str().unwrap();
        assert!(["1.1.0", "1.2.0"].contains(&served), "{one}");
        let listed: Vec<&serde_json::Value> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == "production")
            .collect();
        assert_eq!(listed.len(), 1, "{all}");
        assert_eq!(listed[0]["bundle"], served, "list agrees with get");
        assert_eq!(
            upd["version"], served,
            "devices get what the channel says: {upd}"
        );
        let sum = &sums[usize::from(served == "1.2.0")];
        assert_eq!(upd["checksum"], sum.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_decode_as_rfc_3986_and_unknown_paths_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    // Semver build metadata: `+` in a path is a plus, not a space.
    let bytes = payload(9, 2048);
    upload_bundle(&s, APP, "1.0.0+b1", &bytes).await;
    for path in ["1.0.0+b1", "1.0.0%2Bb1"] {
        let (st, v) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles/{path}"), None).await;
        assert_eq!(
            (st, v["version"].as_str()),
            (200, Some("1.0.0+b1")),
            "{path}: {v}"
        );
    }
    let (st, v) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles/1.0.0 b1"), None).await;
    assert_eq!(st, 404, "{v}");
    // A path no route has is 404; a routed path with another method is 405.
    let (st, v) = admin(
        &s,
        "GET",
        &format!("/v1/apps/{APP}/bundles/1.0.0+b1/extra"),
        None,
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (404, Some("not_found")), "{v}");
    let (st, v) = admin(&s, "PUT", &format!("/v1/apps/{APP}/bundles/1.0.0+b1"), None).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (405, Some("method_not_allowed")),
        "{v}"
    );
    let (st, _) = admin(
        &s,
        "DELETE",
        &format!("/v1/apps/{APP}/bundles/1.0.0+b1"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    s.stop();
}

/// Creates a key as `by`; its secret and id.
async fn new_key(s: &Server, by: &str, body: serde_json::Value) -> (String, String) {
    let (st, v) = call("POST", &format!("{}/v1/keys", s.url), Some(by), Some(body)).await;
    assert_eq!(st, 201, "{v}");
    (
        v["key"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_manages_only_keys_within_its_apps_and_an_operator_can_always_get_back_in() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let keys_url = format!("{}/v1/keys", s.url);
    let (_, all) = call("GET", &keys_url, Some(ADMIN), None).await;
    let admin_id = all[0]["id"].as_str().unwrap().to_string();
    let one = json!({"name": "app1 ops", "mode": "all", "apps": ["com.one.app"]});
    let (ops, ops_id) = new_key(&s, ADMIN, one).await;
    let (_, reader_id) = new_key(
        &s,
        ADMIN,
        json!({"name": "app1 reader", "mode": "read", "apps": ["com.one.app"]}),
    )
    .await;
    let (_, other_id) = new_key(
        &s,
        ADMIN,
        json!({"name": "app2", "mode": "all", "apps": ["com.two.app"]}),
    )
    .await;
    let ops = ops.as_str();

    // A key for one app sees only keys within that app: not the admin key, not app2's.
    let (st, seen) = call("GET", &keys_url, Some(ops), None).await;
    assert_eq!(st, 200);
    let mut ids: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![ops_id.as_str(), reader_id.as_str()];
    want.sort();
    assert_eq!(ids, want);
    // …and revokes only those: the admin key and app2's are, to it, no keys at all.
    for id in [&admin_id, &other_id] {
        let (st, v) = call(
            "DELETE",
            &format!("{}/v1/keys/{id}", s.url),
            Some(ops),
            None,
        )
        .await;
        assert_eq!(
            (st, v["error"].as_str()),
            (404, Some("not_found")),
            "{id}: {v}"
        );
    }
    let (st, _) = call("GET", &format!("{}/v1/whoami", s.url), Some(ADMIN), None).await;
    assert_eq!(st, 200, "the admin key survived");
    let (st, _) = call(
        "DELETE",
        &format!("{}/v1/keys/{reader_id}", s.url),
        Some(ops),
        None,
    )
    .await;
    assert_eq!(st, 200);

    // A key never outlives its creator: without an expiry it takes the creator's; a later
    // one is refused.
    let soon = updraft_core::device::now_ms() + 3_000;
    let (temp, temp_id) = new_key(
        &s,
        ADMIN,
        json!({"name": "temp admin", "mode": "all", "expires_at": soon}),
    )
    .await;
    let temp = temp.as_str();
    let (st, child) = call(
        "POST",
        &format!("{}/v1/keys", s.url),
        Some(temp),
        Some(json!({"name": "child", "mode": "read"})),
    )
    .await;
    assert_eq!(
        (st, child["expires_at"].as_i64()),
        (201, Some(soon)),
        "{child}"
    );
    let (st, v) = call(
        "POST",
        &format!("{}/v1/keys", s.url),
        Some(temp),
        Some(json!({"name": "longer", "mode": "read", "expires_at": soon + 60_000})),
    )
    .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_expiry")),
        "{v}"
    );

    // The way back: the expiring key revokes the admin key, then expires. No live key for
    // every app is left; a restart with UPDRAFT_ADMIN_KEY restores it.
    let (st, _) = call(
        "DELETE",
        &format!("{}/v1/keys/{admin_id}", s.url),
        Some(temp),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = call("GET", &format!("{}/v1/whoami", s.url), Some(ADMIN), None).await;
    assert_eq!(st, 401);
    tokio::time::sleep(std::time::Duration::from_millis(
        (soon - updraft_core::device::now_ms()).max(0) as u64 + 200,
    ))
    .await;
    let (st, _) = call("GET", &format!("{}/v1/whoami", s.url), Some(temp), None).await;
    assert_eq!(st, 401, "expired");
    s.stop();
    let s = Server::start(dir.path());
    let (st, who) = call("GET", &format!("{}/v1/whoami", s.url), Some(ADMIN), None).await;
    assert_eq!((st, who["mode"].as_str()), (200, Some("all")), "{who}");
    assert!(who["apps"].is_null(), "for every app: {who}");
    // The limited keys are untouched, and the expired one stays expired.
    let (_, left) = call("GET", &format!("{}/v1/keys", s.url), Some(ADMIN), None).await;
    let left: Vec<&str> = left
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert!(
        left.contains(&ops_id.as_str()) && left.contains(&temp_id.as_str()),
        "{left:?}"
    );
    s.stop();
}

/// Every file and folder under `dir` whose group or other users have any permission.
fn readable_by_others(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.permissions().mode() & 0o077 != 0 {
            out.push(format!(
                "{} {:o}",
                p.display(),
                meta.permissions().mode() & 0o777
            ));
        }
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // What an older version (or a loose umask) left behind.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("notes.txt"), "x").unwrap();
    std::fs::set_permissions(
        data.join("notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let s = Server::start(&data);
    admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    upload_bundle(&s, APP, "1.0.0", &payload(3, 4096)).await;
    let (st, _) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(st, 200);
    // Key hashes, device data and bundles: nobody else on the machine reads them.
    assert_eq!(readable_by_others(&data), Vec::<String>::new());
    s.stop();
    assert_eq!(
        readable_by_others(&data),
        Vec::<String>::new(),
        "after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_keys_is_throttled_per_address_and_a_weak_admin_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let whoami = format!("{}/v1/whoami", s.url);
    let limit = updraft_core::rate_limit::AUTH_FAILURES_PER_MIN;
    for i in 0..limit {
        let (st, _) = call("GET", &whoami, Some(&format!("upd_guess_{i:032}")), None).await;
        assert_eq!(st, 401, "guess {i}");
    }
    let (st, retry, v) = call_full(
        "GET",
        &whoami,
        Some("upd_guess_one_more_000000000000"),
        None,
    )
    .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (429, Some("too_many_requests")),
        "{v}"
    );
    assert!(retry.is_some_and(|r| r >= 1), "Retry-After");
    // A valid key from the same address is never slowed.
    let (st, _) = call("GET", &whoami, Some(ADMIN), None).await;
    assert_eq!(st, 200);
    s.stop();

    // `a` never becomes the admin key: the server refuses to start, and says why.
    let out = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("weak"))
        .env("UPDRAFT_ADMIN_KEY", "a")
        .env_remove("UPDRAFT_TEST_STORE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("UPDRAFT_ADMIN_KEY must be `upd_`"), "{err}");
}
