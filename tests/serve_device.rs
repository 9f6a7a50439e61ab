//! End to end: the real `updraft serve`, seeded through /v1, played by a device over HTTP.

mod common;

use common::*;
use serde_json::{Value, json};

async fn seed(s: &Server) -> (Vec<u8>, String) {
    let (st, app) = admin(
        s,
        "POST",
        "/v1/apps",
        Some(json!({"app_id": APP, "name": "E2E"})),
    )
    .await;
    assert_eq!(st, 201, "{app}");
    let (st, dup) = admin(s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    assert_eq!((st, dup["error"].as_str()), (409, Some("app_exists")));
    let bytes = payload(7, 300_000);
    let sum = upload_bundle(s, APP, "1.1.0", &bytes).await;
    let (st, ch) = admin(
        s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "production", "public": true, "bundle": "1.1.0"})),
    )
    .await;
    assert_eq!(st, 201, "{ch}");
    assert!(ch["id"].is_number());
    assert_eq!(ch["disable_auto_update"], "major");
    assert_eq!(ch["allow_device_self_set"], false);
    (bytes, sum)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_gets_update_downloads_it_and_data_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let (bytes, sum) = seed(&s).await;

    let (st, upd) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(st, 200);
    assert_eq!(upd["version"], "1.1.0");
    assert_eq!(upd["checksum"], sum.as_str());
    assert_eq!(upd["session_key"], "");
    assert!(upd.get("error").is_none() && upd.get("manifest").is_none());

    // The download is the exact bytes, with Range and ETag.
    let url = upd["url"].as_str().unwrap();
    let got = client().get(url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let etag = got.headers()["etag"].to_str().unwrap().to_string();
    let body = got.bytes().await.unwrap();
    assert_eq!(sha256_hex(&body), sum);
    let part = client()
        .get(url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{}", bytes.len()).as_str()
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &bytes[100..200]);
    let tail = client()
        .get(url)
        .header("Range", format!("bytes={}-", bytes.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 416);
    let cached = client()
        .get(url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    if !on_aws() {
        // S3 and CloudFront answer 304 too; the s3s-fs stand-in ignores If-None-Match.
        assert_eq!(cached.status(), 304);
    }
    // Both URL kinds end with their signature: change its last digit.
    let mut forged = url.to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(client().get(&forged).send().await.unwrap().status(), 403);

    // That check was counted but not logged: nobody is debugging the device.
    let mut checks = 0;
    for _ in 0..100 {
        let (_, days) = admin(&s, "GET", &format!("/v1/apps/{APP}/stats"), None).await;
        checks = days.as_array().map_or(0, |a| {
            a.iter().map(|d| d["checks"].as_u64().unwrap_or(0)).sum()
        });
        if checks > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(checks, 1);
    let events_path = format!("/v1/apps/{APP}/devices/{DEVICE}/events");
    assert_eq!(admin(&s, "GET", &events_path, None).await.1, json!([]));

    // While a debug session runs (what `updraft app debug` starts), checks are logged.
    let (st, session) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/debug"),
        Some(json!({"minutes": 5})),
    )
    .await;
    assert_eq!(st, 200, "{session}");
    assert_eq!(session["device_id"], DEVICE);
    for (path, body, status, code) in [
        (
            format!("/v1/apps/{APP}/devices/{DEVICE}/debug"),
            json!({"minutes": 0}),
            400,
            "invalid_minutes",
        ),
        (
            format!("/v1/apps/{APP}/devices/{DEVICE}/debug"),
            json!({"minutes": 61}),
            400,
            "invalid_minutes",
        ),
        (
            format!("/v1/apps/{APP}/devices/{DEVICE}/debug"),
            json!({"hours": 1}),
            400,
            "invalid_json_body",
        ),
        (
            format!("/v1/apps/{APP}/devices/not-a-uuid/debug"),
            json!({}),
            400,
            "invalid_device_id",
        ),
        (
            format!("/v1/apps/com.none.app/devices/{DEVICE}/debug"),
            json!({}),
            404,
            "not_found",
        ),
    ] {
        let (st, e) = admin(&s, "POST", &path, Some(body)).await;
        assert_eq!(
            (st, e["error"].as_str()),
            (status, Some(code)),
            "{path}: {e}"
        );
    }
    let (st, _) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(st, 200);
    let mut events = Value::Null;
    for _ in 0..100 {
        let (_, e) = admin(&s, "GET", &events_path, None).await;
        if e.as_array().is_some_and(|a| !a.is_empty()) {
            events = e;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(events[0]["action"], "get");
    assert_eq!(events[0]["outcome"], "1.1.0");

    // Restart on the same data: same answers, same key.
    s.stop();
    let s = Server::start(dir.path());
    let (st, again) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(
        (st, &again["version"], &again["checksum"]),
        (200, &json!("1.1.0"), &json!(sum))
    );
    let body = download(again["url"].as_str().unwrap()).await;
    assert_eq!(sha256_hex(&body), sum);
    let (st, who) = admin(&s, "GET", "/v1/whoami", None).await;
    assert_eq!((st, who["mode"].as_str()), (200, Some("all")));
    if !on_aws() {
        let integrity: String = rusqlite::Connection::open(dir.path().join("updraft.db"))
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_errors_of_the_update_check() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    seed(&s).await;
    let bytes2 = payload(9, 1000);
    upload_bundle(&s, APP, "2.0.0", &bytes2).await;
    let soft = |v: &Value| {
        (
            v["error"].as_str().unwrap_or("").to_string(),
            v["kind"].as_str().unwrap_or("").to_string(),
        )
    };

    let (st, v) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"version_name": "1.1.0"})),
    )
    .await;
    assert_eq!(
        (st, soft(&v)),
        (
            200,
            ("no_new_version_available".into(), "up_to_date".into())
        )
    );
    let (st, v) = device(
        &s,
        "POST",
        "/updates",
        device_body("com.unknown.app", json!({})),
    )
    .await;
    assert_eq!((st, v["error"].as_str()), (429, Some("on_premise_app")));
    let (_, v) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"defaultChannel": "beta"})),
    )
    .await;
    assert_eq!(soft(&v), ("no_channel".into(), "failed".into()));
    let (_, v) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"plugin_version": "4.1.0"})),
    )
    .await;
    assert_eq!(soft(&v).0, "unsupported_plugin_version");

    // Major jump blocked with the versions flat at the top level.
    admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/production"),
        Some(json!({"bundle": "2.0.0"})),
    )
    .await;
    let (_, v) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"version_name": "1.1.0"})),
    )
    .await;
    assert_eq!(
        soft(&v),
        ("disable_auto_update_to_major".into(), "blocked".into())
    );
    assert_eq!(
        (&v["major"], &v["version"], &v["old"]),
        (&json!(true), &json!("2.0.0"), &json!("1.1.0"))
    );
    let (st, ch) = admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/production"),
        Some(json!({"disable_auto_update": "none", "allow_emulator": false})),
    )
    .await;
    assert_eq!(st, 200, "{ch}");
    let (_, v) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(v["version"], "2.0.0");
    let (_, v) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"is_emulator": true})),
    )
    .await;
    assert_eq!(soft(&v), ("disable_emulator".into(), "blocked".into()));

    // Builtin: devices on a bundle are sent back; devices already on builtin are up to date.
    admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/production"),
        Some(json!({"bundle": "builtin"})),
    )
    .await;
    let (_, v) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"version_name": "2.0.0"})),
    )
    .await;
    assert_eq!(v, json!({"version": "builtin"}));
    let (_, v) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"version_name": "1.0.0"})),
    )
    .await;
    assert_eq!(soft(&v).0, "no_new_version_available");

    // No bundle at all.
    admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/production"),
        Some(json!({"bundle": null})),
    )
    .await;
    let (_, v) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(
        (v["error"].as_str(), v["message"].as_str()),
        (Some("no_bundle"), Some("Cannot get bundle"))
    );

    // Operator override reaches a private channel.
    let (st, _) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "qa", "bundle": "2.0.0", "disable_auto_update": "none"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, o) = admin(
        &s,
        "PUT",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/channel"),
        Some(json!({"channel": "qa"})),
    )
    .await;
    assert_eq!(st, 200, "{o}");
    let (_, v) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(v["version"], "2.0.0");
    admin(
        &s,
        "DELETE",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/channel"),
        None,
    )
    .await;
    let (_, v) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(soft(&v).0, "no_bundle");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_batches_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    seed(&s).await;
    let ev = |action: &str, version: &str| {
        let mut b = device_body(
            APP,
            json!({"action": action, "version_name": version, "old_version_name": "builtin"}),
        );
        b.as_object_mut().unwrap().remove("defaultChannel");
        b
    };
    let (st, v) = device(&s, "POST", "/stats", ev("set", "1.1.0")).await;
    assert_eq!((st, v), (200, json!({"status": "ok"})));
    let (st, v) = device(&s, "POST", "/stats", ev("teleport", "1.1.0")).await;
    assert_eq!((st, v["error"].as_str()), (400, Some("invalid_json_body")));
    let (st, v) = device(&s, "POST", "/stats", ev("set", "9.9.9")).await;
    assert_eq!((st, v["error"].as_str()), (200, Some("version_not_found")));
    let mut unknown = ev("set", "1.1.0");
    unknown["app_id"] = json!("com.unknown.app");
    let (st, v) = device(&s, "POST", "/stats", unknown.clone()).await;
    assert_eq!((st, v["error"].as_str()), (429, Some("on_premise_app")));

    let batch = json!([
        ev("download_10", "1.1.0"),
        ev("teleport", "1.1.0"),
        ev("update_fail", "1.1.0"),
        ev("set", "7.7.7")
    ]);
    let (st, v) = device(&s, "POST", "/stats", batch).await;
    assert_eq!(st, 200);
    let results = v["results"].as_array().unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ok", "error", "ok", "error"]
    );
    assert_eq!(results[1]["index"], 1);
    assert_eq!(results[3]["error"], "version_not_found");
    let (_, v) = device(&s, "POST", "/stats", json!([])).await;
    assert_eq!(v, json!({"status": "ok", "results": []}));
    let (_, v) = device(&s, "POST", "/stats", json!([ev("set", "1.1.0"), unknown])).await;
    assert_eq!(v["error"], "mixed_app_ids");
    let too_many: Vec<Value> = (0..201).map(|_| ev("ping", "1.1.0")).collect();
    let (st, _) = device(&s, "POST", "/stats", Value::Array(too_many)).await;
    assert_eq!(st, 400);

    // Old plugins' download_fail is accepted and not counted.
    let mut old = ev("download_fail", "1.1.0");
    old["plugin_version"] = json!("7.16.0");
    let (st, v) = device(&s, "POST", "/stats", old).await;
    assert_eq!((st, v), (200, json!({"status": "ok"})));
    // The plugin charges these to the bundle it runs, not the one that failed: they join the
    // device's log, worded so by `app debug`, and count against no version.
    for action in ["checksum_fail", "download_fail"] {
        let (st, v) = device(&s, "POST", "/stats", ev(action, "1.1.0")).await;
        assert_eq!((st, v), (200, json!({"status": "ok"})), "{action}");
    }
    let (_, log) = admin(
        &s,
        "GET",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/events"),
        None,
    )
    .await;
    for action in ["checksum_fail", "download_fail"] {
        assert!(
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == action),
            "{action} in {log}"
        );
    }
    // Emulators are not counted.
    let mut emu = ev("set", "1.1.0");
    emu["is_emulator"] = json!(true);
    device(&s, "POST", "/stats", emu).await;

    let (st, stats) = admin(&s, "GET", &format!("/v1/apps/{APP}/stats"), None).await;
    assert_eq!(st, 200);
    let row = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == "1.1.0")
        .unwrap();
    assert_eq!(
        (row["installs"].as_u64(), row["failures"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_self_for_old_and_new_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    seed(&s).await;
    admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "beta", "allow_device_self_set": true, "bundle": "1.1.0"})),
    )
    .await;
    admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "internal"})),
    )
    .await;
    let new = |patch: Value| device_body(APP, patch);
    let old = |patch: Value| {
        let mut b = device_body(APP, patch);
        b["plugin_version"] = json!("6.2.0");
        b
    };

    // New plugins: validate only.
    let (_, v) = device(&s, "POST", "/channel_self", new(json!({"channel": "beta"}))).await;
    assert_eq!(v, json!({"status": "ok", "allowSet": true}));
    let (_, v) = device(&s, "POST", "/channel_self", new(json!({}))).await;
    assert_eq!(v["error"], "missing_channel");
    let (_, v) = device(&s, "POST", "/channel_self", new(json!({"channel": "nope"}))).await;
    assert_eq!(v["error"], "channel_not_found");
    let (_, v) = device(
        &s,
        "POST",
        "/channel_self",
        new(json!({"channel": "production"})),
    )
    .await;
    assert_eq!(v["error"], "public_channel_self_set_not_allowed");
    let (_, v) = device(
        &s,
        "POST",
        "/channel_self",
        new(json!({"channel": "internal"})),
    )
    .await;
    assert_eq!(v["error"], "channel_self_set_not_allowed");
    let (_, v) = device(&s, "PUT", "/channel_self", new(json!({"channel": "beta"}))).await;
    assert_eq!(
        v,
        json!({"channel": "beta", "status": "override", "allowSet": true})
    );
    let (_, v) = device(&s, "PUT", "/channel_self", new(json!({}))).await;
    assert_eq!(v, json!({"channel": "production", "status": "default"}));
    // getChannel reports the channel the device would follow, by the decision's own rule: a
    // private channel it may not pick is not its channel, whatever it asks for.
    let (_, v) = device(
        &s,
        "PUT",
        "/channel_self",
        new(json!({"defaultChannel": "beta"})),
    )
    .await;
    assert_eq!(v, json!({"channel": "beta", "status": "default"}));
    let (_, v) = device(
        &s,
        "PUT",
        "/channel_self",
        new(json!({"defaultChannel": "internal"})),
    )
    .await;
    assert_eq!(v["error"], "channel_not_found", "{v}");
    let (_, v) = device(&s, "DELETE", "/channel_self", new(json!({}))).await;
    assert_eq!(v, json!({"status": "ok"}));

    // Old plugins: the server stores the choice.
    let (_, v) = device(&s, "DELETE", "/channel_self", old(json!({}))).await;
    assert_eq!(v["error"], "cannot_override");
    let (_, v) = device(&s, "POST", "/channel_self", old(json!({"channel": "beta"}))).await;
    assert_eq!(v, json!({"status": "ok"}));
    let (_, v) = device(&s, "PUT", "/channel_self", old(json!({}))).await;
    assert_eq!(
        v,
        json!({"channel": "beta", "status": "override", "allowSet": true})
    );
    // The stored choice drives the update check (beta serves 1.1.0 too; the device is on it).
    let (_, v) = device(
        &s,
        "POST",
        "/updates",
        old(json!({"version_name": "1.1.0"})),
    )
    .await;
    assert_eq!(v["error"], "no_new_version_available");
    // DELETE with query parameters, as old plugins send it.
    let q = format!(
        "{}/channel_self?app_id={APP}&device_id={DEVICE}&platform=ios&version_build=1.0.0&version_name=builtin&plugin_version=6.2.0&is_emulator=false&is_prod=true",
        s.url
    );
    let v: Value = client()
        .delete(&q)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"status": "ok"}));
    let (_, v) = device(&s, "PUT", "/channel_self", old(json!({}))).await;
    assert_eq!(v, json!({"channel": "production", "status": "default"}));
    // An operator override on a channel devices may not pick cannot be changed by the device.
    admin(
        &s,
        "PUT",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/channel"),
        Some(json!({"channel": "internal"})),
    )
    .await;
    let (_, v) = device(&s, "POST", "/channel_self", old(json!({"channel": "beta"}))).await;
    assert_eq!(v["error"], "cannot_override");

    // GET lists what this kind of device may pick; ids are numbers.
    let list: Value = client()
        .get(format!(
            "{}/channel_self?app_id={APP}&platform=ios&is_emulator=false&is_prod=true",
            s.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["production", "beta"]);
    assert!(list[0]["id"].is_number());
    assert_eq!(list[1]["allow_self_set"], true);
    // A query without its app id lacks the app id; a query with nothing at all is malformed.
    for (query, want) in [
        ("?platform=ios", "missing_app_id"),
        ("?platform=ios&app_id=", "missing_app_id"),
        ("", "invalid_query_parameters"),
    ] {
        let (st, v) = call("GET", &format!("{}/channel_self{query}", s.url), None, None).await;
        assert_eq!((st, v["error"].as_str()), (400, Some(want)), "{query}: {v}");
    }
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_device_input_gets_its_400_code_never_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    seed(&s).await;
    let with = |patch: Value| device_body(APP, patch).to_string();
    let without = |field: &str| {
        let mut b = device_body(APP, json!({}));
        b.as_object_mut().unwrap().remove(field);
        b.to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "not json",
            "{\"app_id\": ".into(),
            "invalid_json_parse_body",
        ),
        ("array", "[1,2,3]".into(), "invalid_json_body"),
        ("string", "\"hello\"".into(), "invalid_json_body"),
        ("no app id", without("app_id"), "missing_app_id"),
        ("no device id", without("device_id"), "missing_device_id"),
        // The hosted service's order, from its own public tests.
        ("empty object", "{}".into(), "invalid_json_body"),
        (
            "platform only",
            json!({"platform": "android"}).to_string(),
            "missing_device_id",
        ),
        (
            "plugin version not semver",
            with(json!({"plugin_version": "latest"})),
            "invalid_json_body",
        ),
        (
            "empty version name",
            with(json!({"version_name": ""})),
            "invalid_json_body",
        ),
        (
            "terminal escape in the version name",
            with(json!({"version_name": "1.1.0\u{1b}]0;PWNED\u{7}\u{1b}[2K\r"})),
            "invalid_json_body",
        ),
        (
            "app id number",
            with(json!({"app_id": 5})),
            "invalid_json_body",
        ),
        (
            "bad app id",
            with(json!({"app_id": "not an id"})),
            "invalid_json_body",
        ),
        (
            "bad uuid",
            with(json!({"device_id": "1234"})),
            "invalid_json_body",
        ),
        (
            "huge device id",
            with(json!({"device_id": "a".repeat(10_000)})),
            "invalid_json_body",
        ),
        (
            "unknown platform",
            with(json!({"platform": "symbian"})),
            "invalid_json_body",
        ),
        (
            "bool as string",
            with(json!({"is_emulator": "false"})),
            "invalid_json_body",
        ),
        (
            "object as version",
            with(json!({"version_name": {"a": 1}})),
            "invalid_json_body",
        ),
        (
            "huge string",
            with(json!({"version_os": "x".repeat(50_000)})),
            "invalid_json_body",
        ),
        (
            "bad semver",
            with(json!({"version_build": "one.two"})),
            "semver_error",
        ),
        (
            "four parts",
            with(json!({"version_build": "1.2.3.4"})),
            "semver_error",
        ),
    ];
    for route in ["/updates", "/channel_self", "/updates/manifest_size"] {
        for (name, body, want) in &cases {
            let method = if route == "/channel_self" {
                "PUT"
            } else {
                "POST"
            };
            let resp = client()
                .request(method.parse().unwrap(), format!("{}{route}", s.url))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap();
            assert_eq!(
                (status, v["error"].as_str().unwrap_or("")),
                (400, *want),
                "{route} {name}: {v}"
            );
            assert!(v["message"].is_string());
        }
    }
    // Oversized bodies: 413 JSON, not a crash.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let resp = client()
        .post(format!("{}/updates", s.url))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "payload_too_large"
    );
    // Unknown routes: 404 JSON.
    let (st, v) = call("GET", &format!("{}/nope", s.url), None, None).await;
    assert_eq!((st, v["error"].as_str()), (404, Some("not_found")));
    s.stop();
}

/// One POST to a device route with an optional X-Forwarded-For; status, Retry-After, body.
async fn limited_call(
    s: &Server,
    path: &str,
    body: Value,
    xff: Option<&str>,
) -> (u16, Option<u64>, Value) {
    let mut req = client().post(format!("{}{path}", s.url)).json(&body);
    if let Some(ip) = xff {
        req = req.header("X-Forwarded-For", format!("198.51.100.7, {ip}"));
    }
    answer_json(req.send().await.unwrap()).await
}

fn device_n(n: u32) -> Value {
    device_body(
        APP,
        json!({"device_id": format!("6aab1f2b-6b2a-4f4c-9d4b-{n:012x}")}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_per_device_and_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(
        dir.path(),
        &["--rate-device-per-min", "3", "--rate-ip-per-min", "8"],
    );
    seed(&s).await;

    // A device's budget is shared by its checks and stats, then it is told when to retry.
    for path in ["/updates", "/stats", "/updates"] {
        let mut body = device_n(1);
        if path == "/stats" {
            body["action"] = json!("app_moved_to_foreground");
        }
        let (st, retry, body) = limited_call(&s, path, body, None).await;
        assert_eq!((st, retry), (200, None), "{path}: {body}");
    }
    let (st, retry, body) = limited_call(&s, "/updates", device_n(1), None).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (429, Some("too_many_requests")),
        "{body}"
    );
    // 3 a minute refills one every 20 s.
    assert!(retry.is_some_and(|r| (1..=20).contains(&r)), "{retry:?}");

    // Another device from the same address still gets through, until the address (8 a
    // minute; 4 spent above) runs out too.
    for n in 2..=5 {
        let (st, _, body) = limited_call(&s, "/updates", device_n(n), None).await;
        assert_eq!(st, 200, "device {n}: {body}");
    }
    let (st, retry, body) = limited_call(&s, "/updates", device_n(6), None).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (429, Some("too_many_requests")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("address"),
        "{body}"
    );
    assert!(retry.is_some_and(|r| r >= 1));

    // The management API is not a device route: operators are never throttled by devices.
    for _ in 0..10 {
        assert_eq!(admin(&s, "GET", "/v1/apps", None).await.0, 200);
    }
    // Without a trusted proxy header configured, a forged X-Forwarded-For changes nothing.
    let (st, _, _) = limited_call(&s, "/updates", device_n(7), Some("203.0.113.9")).await;
    assert_eq!(st, 429);
    drop(s);

    // Behind the operator's proxy, the header's last entry is the client.
    let s = Server::start_with(
        dir.path(),
        &[
            "--rate-ip-per-min",
            "2",
            "--client-ip-header",
            "x-forwarded-for",
        ],
    );
    for _ in 0..2 {
        let (st, _, body) = limited_call(&s, "/updates", device_n(8), Some("203.0.113.1")).await;
        assert_eq!(st, 200, "{body}");
    }
    let (st, _, _) = limited_call(&s, "/updates", device_n(8), Some("203.0.113.1")).await;
    assert_eq!(st, 429);
    let (st, _, body) = limited_call(&s, "/updates", device_n(9), Some("203.0.113.2")).await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stats_batch_is_charged_to_every_device_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &["--rate-device-per-min", "1"]);
    seed(&s).await;
    let event = |n: u32| {
        let mut e = device_n(n);
        e["action"] = json!("app_moved_to_foreground");
        e
    };
    // One request per device a minute: a batch for two devices spends both budgets…
    let (st, _, v) = limited_call(&s, "/stats", json!([event(1), event(2)]), None).await;
    assert_eq!(st, 200, "{v}");
    // …so the second device, not only the first, has none left.
    for n in [1, 2] {
        let (st, retry, v) = limited_call(&s, "/updates", device_n(n), None).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (429, Some("too_many_requests")),
            "device {n}: {v}"
        );
        assert!(retry.is_some());
    }
    let (st, _, _) = limited_call(&s, "/updates", device_n(3), None).await;
    assert_eq!(st, 200, "a device the batch did not name keeps its budget");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devices_own_channel_choice_ends_when_the_channel_stops_allowing_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    seed(&s).await;
    upload_bundle(&s, APP, "1.2.0", &payload(8, 2048)).await;
    let (st, _) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "beta", "allow_device_self_set": true, "bundle": "1.2.0"})),
    )
    .await;
    assert_eq!(st, 201);
    // An old plugin (6.x) has the server store its choice.
    let old = |patch: Value| {
        let mut b = device_body(APP, patch);
        b["plugin_version"] = json!("6.2.0");
        b
    };
    let (_, v) = device(&s, "POST", "/channel_self", old(json!({"channel": "beta"}))).await;
    assert_eq!(v, json!({"status": "ok"}));
    let (_, v) = device(&s, "POST", "/updates", old(json!({}))).await;
    assert_eq!(v["version"], "1.2.0", "the device follows its choice: {v}");

    // The operator closes beta to self-assignment: the device's choice stops counting…
    let (st, _) = admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/beta"),
        Some(json!({"allow_device_self_set": false})),
    )
    .await;
    assert_eq!(st, 200);
    let (_, v) = device(&s, "POST", "/updates", old(json!({}))).await;
    assert_eq!(v["version"], "1.1.0", "back on the public channel: {v}");
    let (_, v) = device(&s, "PUT", "/channel_self", old(json!({}))).await;
    assert_eq!(
        v,
        json!({"channel": "production", "status": "default"}),
        "and it is not reported as set by an operator"
    );

    // …while an operator's assignment to the same channel holds.
    let (st, _) = admin(
        &s,
        "PUT",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/channel"),
        Some(json!({"channel": "beta"})),
    )
    .await;
    assert_eq!(st, 200);
    let (_, v) = device(&s, "POST", "/updates", old(json!({}))).await;
    assert_eq!(v["version"], "1.2.0", "{v}");
    let (_, v) = device(&s, "PUT", "/channel_self", old(json!({}))).await;
    assert_eq!(
        v,
        json!({"channel": "beta", "status": "override", "allowSet": false})
    );
    s.stop();
}

/// Opens a socket to the server and sends `bytes`, keeping it open.
async fn slow_client(s: &Server, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = s.url.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(bytes).await.unwrap();
    sock
}

/// What the server sends before it closes the socket (within `wait`).
async fn read_until_closed(
    sock: &mut tokio::net::TcpStream,
    wait: std::time::Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed
        .ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_hold_nothing_and_past_the_cap_a_connection_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(
        dir.path(),
        &[
            "--max-connections",
            "8",
            "--header-timeout-secs",
            "3",
            "--body-timeout-secs",
            "1",
        ],
    );
    seed(&s).await;
    // Slowloris: eight sockets that never finish their request head take every slot. A
    // socket answered at once was refused (the setup's connections may still hold a slot
    // for a moment): it does not count, and another is opened.
    let mut slow = Vec::new();
    while slow.len() < 8 {
        let mut sock = slow_client(&s, b"POST /updates HTTP/1.1\r\nHost: x\r\n").await;
        if read_until_closed(&mut sock, std::time::Duration::from_millis(150))
            .await
            .is_none()
        {
            slow.push(sock);
        }
    }
    // …so the next connection is refused at once, clearly, rather than left hanging.
    let mut extra = slow_client(&s, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let refused = read_until_closed(&mut extra, std::time::Duration::from_secs(5))
        .await
        .expect("refused and closed");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("service_unavailable") && refused.contains("retry-after: 1"));
    // Within the header timeout the server drops them all, and serves again.
    for sock in &mut slow {
        assert!(
            read_until_closed(sock, std::time::Duration::from_secs(5))
                .await
                .is_some(),
            "a slow client kept its connection"
        );
    }
    let (st, _) = call("GET", &format!("{}/ok", s.url), None, None).await;
    assert_eq!(st, 200);
    // A body that drips in is answered 408 (which the plugin retries later).
    let mut drip = slow_client(
        &s,
        b"POST /stats HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"app",
    )
    .await;
    let answer = read_until_closed(&mut drip, std::time::Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_keeps_at_most_4_kib_of_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    seed(&s).await;
    // The protocol's most: 30 keys of 2,048 characters (about 60 KB). Accepted, and cut.
    let metadata: serde_json::Map<String, Value> = (0..30)
        .map(|i| (format!("k{i:02}"), json!("x".repeat(2048))))
        .collect();
    let mut event = device_body(
        APP,
        json!({"action": "webview_javascript_error", "version_name": "1.1.0"}),
    );
    event["metadata"] = Value::Object(metadata);
    let (st, v) = device(&s, "POST", "/stats", event).await;
    assert_eq!((st, v), (200, json!({"status": "ok"})));
    let (_, log) = admin(
        &s,
        "GET",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/events"),
        None,
    )
    .await;
    let kept = log[0]["metadata"].to_string().len();
    assert!(
        kept <= updraft_core::routes::MAX_METADATA_BYTES + 200,
        "{kept} bytes of metadata kept"
    );
    s.stop();
}
