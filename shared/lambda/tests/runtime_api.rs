//! Every function binary, driven through a local Lambda Runtime API with function URL events
//! (payload v2) as CloudFront forwards them, against the local DynamoDB and S3 servers;
//! answers compared byte for byte with `updraft serve --store aws` on the same data.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use updraft_lambda::local_runtime::ORIGIN_SECRET;

mod harness;
use harness::*;

/// (function, method, path, query, API key, body)
type Case = (
    &'static str,
    &'static str,
    String,
    &'static str,
    Option<&'static str>,
    Option<Value>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_answers_like_updraft_serve() {
    require_local_servers();
    let table = format!("updraft-lambda-{}", updraft_core::key::random_hex(4));
    let serve = start_serve(&table);
    // Seed through the local server: an app, a bundle uploaded to S3, a public channel.
    let http = http();
    let call = |m: &str, p: &str, b: Value| {
        http.request(m.parse().unwrap(), format!("{}{p}", serve.url))
            .bearer_auth(ADMIN)
            .json(&b)
            .send()
    };
    assert_eq!(
        call("POST", "/v1/apps", json!({"app_id": APP}))
            .await
            .unwrap()
            .status(),
        201
    );
    let zip: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    upload(&serve, "1.0.1", &zip).await;
    assert_eq!(
        call(
            "POST",
            &format!("/v1/apps/{APP}/channels"),
            json!({"name": "production", "public": true, "bundle": "1.0.1"})
        )
        .await
        .unwrap()
        .status(),
        201
    );

    // (function, method, path, query, key, body): device routes and /v1 routes of each job.
    let cases: Vec<Case> = vec![
        (
            "updraft-updates",
            "POST",
            "/updates".into(),
            "",
            None,
            Some(device(json!({}))),
        ),
        (
            "updraft-updates",
            "POST",
            "/updates".into(),
            "",
            None,
            Some(device(json!({"version_name": "1.0.1"}))),
        ),
        (
            "updraft-updates",
            "POST",
            "/updates".into(),
            "",
            None,
            Some(device(json!({"app_id": "com.unknown.app"}))),
        ),
        (
            "updraft-updates",
            "POST",
            "/updates".into(),
            "",
            None,
            Some(json!({"app_id": APP})),
        ),
        ("updraft-updates", "GET", "/ok".into(), "", None, None),
        (
            "updraft-stats",
            "POST",
            "/stats".into(),
            "",
            None,
            Some(device(json!({"action": "set", "version_name": "1.0.1"}))),
        ),
        (
            "updraft-stats",
            "GET",
            format!("/v1/apps/{APP}/stats"),
            "",
            Some(ADMIN),
            None,
        ),
        (
            "updraft-channels",
            "PUT",
            "/channel_self".into(),
            "",
            None,
            Some(device(json!({}))),
        ),
        (
            "updraft-channels",
            "GET",
            "/channel_self".into(),
            "app_id=com.example.lambda&platform=android",
            None,
            None,
        ),
        (
            "updraft-channels",
            "GET",
            format!("/v1/apps/{APP}/channels"),
            "",
            Some(ADMIN),
            None,
        ),
        // File-object cleanup (delta updates) is the uploads function's: it lists S3.
        (
            "updraft-uploads",
            "POST",
            format!("/v1/apps/{APP}/files/cleanup"),
            "",
            Some(ADMIN),
            Some(json!({})),
        ),
        // Release steps are the channels function's (no rollout here: both refuse alike).
        (
            "updraft-channels",
            "POST",
            format!("/v1/apps/{APP}/channels/production/promote"),
            "",
            Some(ADMIN),
            Some(json!({})),
        ),
        (
            "updraft-channels",
            "PATCH",
            format!("/v1/apps/{APP}/channels/production/rollout"),
            "",
            Some(ADMIN),
            Some(json!({"share": 10})),
        ),
        (
            "updraft-uploads",
            "GET",
            format!("/v1/apps/{APP}/bundles"),
            "",
            Some(ADMIN),
            None,
        ),
        (
            "updraft-uploads",
            "GET",
            format!("/v1/apps/{APP}/bundles"),
            "",
            Some("upd_wrong"),
            None,
        ),
        (
            "updraft-admin",
            "GET",
            "/v1/whoami".into(),
            "",
            Some(ADMIN),
            None,
        ),
        (
            "updraft-admin",
            "GET",
            "/v1/apps".into(),
            "",
            Some(ADMIN),
            None,
        ),
    ];
    let mut functions: HashMap<&str, (Runtime, Proc)> = HashMap::new();
    for (name, method, path, query, key, body) in &cases {
        if !functions.contains_key(name) {
            let (rt, addr) = Runtime::start().await;
            let proc = start_function(name, &addr, &table);
            functions.insert(name, (rt, proc));
        }
        let rt = &functions[name].0;
        let answer = rt
            .invoke(event(method, path, query, *key, body.as_ref()))
            .await;
        let (status, text) = via_serve(&serve, method, path, query, *key, body.as_ref()).await;
        assert_eq!(
            answer["statusCode"].as_u64(),
            Some(status as u64),
            "{name} {method} {path}: {answer}"
        );
        // Daily counters are summed in each process and flushed every few seconds (the
        // write diet): two hosts agree on them only after a flush, so the shape is compared.
        if path.ends_with("/stats") && *method == "GET" {
            let (a, b): (Value, Value) = (
                serde_json::from_str(answer["body"].as_str().unwrap()).unwrap(),
                serde_json::from_str(&text).unwrap(),
            );
            assert!(a.is_array() && b.is_array(), "{name} {path}: {a} / {b}");
            continue;
        }
        assert_eq!(
            answer["body"].as_str().unwrap_or(""),
            text,
            "{name} {method} {path}: byte-identical body"
        );
        if status == 200 && !text.is_empty() {
            let ct = answer["headers"]["content-type"].as_str().unwrap_or("");
            assert_eq!(ct, "application/json", "{name} {path}");
        }
    }
    // The update check offered the uploaded bundle, with a URL that serves its bytes.
    let offered = functions["updraft-updates"]
        .0
        .invoke(event(
            "POST",
            "/updates",
            "",
            None,
            Some(&device(json!({}))),
        ))
        .await;
    let body: Value = serde_json::from_str(offered["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["version"], "1.0.1");
    let got = http
        .get(body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.to_vec(), zip);

    // A route of another function: 404 JSON, not a crash.
    let other = functions["updraft-admin"]
        .0
        .invoke(event(
            "POST",
            "/updates",
            "",
            None,
            Some(&device(json!({}))),
        ))
        .await;
    assert_eq!(other["statusCode"], 404);
    assert_eq!(
        serde_json::from_str::<Value>(other["body"].as_str().unwrap()).unwrap()["error"],
        "not_found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_key_from_its_hash_on_a_fresh_table() {
    require_local_servers();
    let table = format!("updraft-lambda-{}", updraft_core::key::random_hex(4));
    // An empty table, as the stack creates it.
    let settings = updraft_aws::AwsSettings {
        table: table.clone(),
        bucket: table.clone(),
        download: updraft_aws::DownloadMode::S3Presigned,
        force_path_style: true,
        // Generous: the local servers share two cores with the whole test suite.
        dynamodb_timeout: std::time::Duration::from_secs(30),
        tls_roots: updraft_aws::TlsRoots::System,
        events_per_app: updraft_core::device::EVENTS_PER_APP,
    };
    let (store, _) = settings.connect().await;
    updraft_aws::create_table_if_missing(&store.client(), &table)
        .await
        .unwrap();
    let secret = "upd_from_hash_0123456789";
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()));
    let (rt, addr) = Runtime::start().await;
    let _admin = Proc(
        function_command("updraft-admin", &addr, &table)
            .env("UPDRAFT_ADMIN_KEY_HASH", &hash)
            .spawn()
            .unwrap(),
    );
    // The first key exists after deploy, with no hand edits: the secret works, mode `all`.
    let who = rt
        .invoke(event("GET", "/v1/whoami", "", Some(secret), None))
        .await;
    assert_eq!(who["statusCode"], 200, "{who}");
    let body: Value = serde_json::from_str(who["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["mode"], "all");
    let wrong = rt
        .invoke(event("GET", "/v1/whoami", "", Some(ADMIN), None))
        .await;
    assert_eq!(wrong["statusCode"], 401);
}

/// A function URL is public, so the functions are the lock on the front door: a request
/// without CloudFront's secret header, or with a wrong one, is answered 403 before anything
/// else runs. The function here has a table that does not exist: what got past the check
/// would fail on storage instead. During a rotation the old value and the new both open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_straight_to_a_function_url_is_refused_before_any_storage_call() {
    require_local_servers();
    let table = format!(
        "updraft-lambda-missing-{}",
        updraft_core::key::random_hex(4)
    );
    let rotated = "rotated-origin-secret-abcdef0123456789abcdef0123";
    let (rt, addr) = Runtime::start().await;
    let _updates = Proc(
        function_command("updraft-updates", &addr, &table)
            .env(
                "UPDRAFT_ORIGIN_SECRETS",
                json!({"current": rotated, "previous": ORIGIN_SECRET}).to_string(),
            )
            .spawn()
            .unwrap(),
    );
    let check = device(json!({}));
    let with_origin = |value: Option<&str>| {
        let mut e = event("POST", "/updates", "", None, Some(&check));
        match value {
            Some(v) => e["headers"]["x-updraft-origin"] = json!(v),
            None => {
                e["headers"]
                    .as_object_mut()
                    .unwrap()
                    .remove("x-updraft-origin");
            }
        }
        e
    };
    for (what, value) in [
        ("no header", None),
        (
            "a wrong value",
            Some("not-the-secret-0123456789abcdef0123456789"),
        ),
        ("an empty value", Some("")),
    ] {
        let answer = rt.invoke(with_origin(value)).await;
        assert_eq!(answer["statusCode"], 403, "{what}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "forbidden", "{what}: {body}");
    }
    let mut health = event("GET", "/ok", "", None, None);
    health["headers"]
        .as_object_mut()
        .unwrap()
        .remove("x-updraft-origin");
    assert_eq!(rt.invoke(health).await["statusCode"], 403);
    // Both values of a rotation get through the check, and reach storage (which fails here).
    for value in [rotated, ORIGIN_SECRET] {
        let answer = rt.invoke(with_origin(Some(value))).await;
        assert_ne!(answer["statusCode"], 403, "{answer}");
        assert_ne!(
            answer["statusCode"], 200,
            "the table does not exist: {answer}"
        );
    }
}

/// Lambda freezes a sandbox once its answer is out and every extension has asked for its next
/// event, and may retire it while frozen. The `updates` function's device records must reach
/// DynamoDB before that moment: here the process is really frozen (SIGSTOP) at that point
/// after every check, and thawed for the next. Counters wait in memory for their flush, which
/// a shutdown forces: Lambda's SIGTERM, after which every check is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_check_bookkeeping_reaches_dynamodb_before_the_sandbox_freezes() {
    require_local_servers();
    let table = format!("updraft-lambda-{}", updraft_core::key::random_hex(4));
    let serve = start_serve(&table);
    create_app(&serve).await;
    let (rt, addr) = Runtime::start().await;
    let updates = start_function("updraft-updates", &addr, &table);
    let pid = updates.0.id().to_string();
    let signal = |sig: &str| {
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    const CHECKS: usize = 12;
    for i in 0..CHECKS {
        if i > 0 {
            signal("-CONT");
        }
        let body = device(json!({"device_id": format!("6aab1f2b-6b2a-4f4c-9d4b-{i:012}")}));
        let answer = rt
            .invoke(event("POST", "/updates", "", None, Some(&body)))
            .await;
        assert_eq!(answer["statusCode"], 200, "{answer}");
        if let Err(e) = rt.0.frozen(Duration::from_secs(30)).await {
            panic!("the sandbox never reached its freeze point: {e}");
        }
        signal("-STOP");
    }
    assert_eq!(
        rt.0.extensions(),
        1,
        "the function registers its settle extension"
    );
    // Frozen: every device's record is in DynamoDB already.
    let settings = updraft_aws::AwsSettings {
        table: table.clone(),
        bucket: table.clone(),
        download: updraft_aws::DownloadMode::S3Presigned,
        force_path_style: true,
        dynamodb_timeout: Duration::from_secs(30),
        tls_roots: updraft_aws::TlsRoots::System,
        events_per_app: updraft_core::device::EVENTS_PER_APP,
    };
    let (store, _) = settings.connect().await;
    let records = store
        .client()
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :d)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("APP#{APP}")),
        )
        .expression_attribute_values(
            ":d",
            aws_sdk_dynamodb::types::AttributeValue::S("D#".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        records.count(),
        CHECKS as i32,
        "device records before the freeze"
    );
    // Lambda shuts the sandbox down: thawed, then SIGTERM. The summed counters are written.
    signal("-CONT");
    signal("-TERM");
    let mut updates = updates;
    let status = updates.0.wait().unwrap();
    assert!(
        status.success(),
        "the function exits cleanly on SIGTERM: {status}"
    );
    let (st, stats) = via_serve(
        &serve,
        "GET",
        &format!("/v1/apps/{APP}/stats"),
        "",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(st, 200, "{stats}");
    let checks: u64 = serde_json::from_str::<Value>(&stats)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["checks"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(checks, CHECKS as u64, "checks counted in DynamoDB: {stats}");
}

/// The `stats` function rolls a release that fails on start back before its sandbox
/// freezes: the rollback is written by the time Lambda may retire the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_function_rolls_a_failing_release_back_before_the_freeze() {
    require_local_servers();
    let table = format!("updraft-lambda-{}", updraft_core::key::random_hex(4));
    let serve = start_serve(&table);
    let admin = |m: &'static str, p: String, b: Value| {
        let serve = &serve;
        async move { via_serve(serve, m, &p, "", Some(ADMIN), Some(&b)).await }
    };
    assert_eq!(
        admin("POST", "/v1/apps".into(), json!({"app_id": APP}))
            .await
            .0,
        201
    );
    upload(&serve, "1.0.1", &[1u8; 300]).await;
    upload(&serve, "1.1.0", &[2u8; 300]).await;
    let channels = format!("/v1/apps/{APP}/channels");
    let created = admin(
        "POST",
        channels.clone(),
        json!({"name": "production", "public": true, "bundle": "1.0.1"}),
    )
    .await;
    assert_eq!(created.0, 201, "{}", created.1);
    let path = format!("{channels}/production");
    assert_eq!(
        admin("PATCH", path.clone(), json!({"bundle": "1.1.0"}))
            .await
            .0,
        200
    );

    let (rt, addr) = Runtime::start().await;
    let stats = start_function("updraft-stats", &addr, &table);
    // Five devices install 1.1.0 and fail to start it.
    let batch: Vec<Value> = (0..5)
        .flat_map(|i| {
            let id = format!("6aab1f2b-6b2a-4f4c-9d4b-{i:012}");
            [
                device(json!({"device_id": id, "action": "set", "version_name": "1.1.0"})),
                device(json!({"device_id": id, "action": "update_fail", "version_name": "1.1.0"})),
            ]
        })
        .collect();
    let answer = rt
        .invoke(event(
            "POST",
            "/stats",
            "",
            None,
            Some(&Value::Array(batch)),
        ))
        .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    if let Err(e) = rt.0.frozen(Duration::from_secs(30)).await {
        panic!("the sandbox never reached its freeze point: {e}");
    }
    // Frozen for good: what DynamoDB holds now is all the function wrote.
    let pid = stats.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (_, channel) = via_serve(&serve, "GET", &path, "", Some(ADMIN), None).await;
    let channel: Value = serde_json::from_str(&channel).unwrap();
    assert_eq!(channel["bundle"], "1.0.1", "{channel}");
    assert_eq!(channel["rolled_back"], json!(["1.1.0"]));
    let (_, history) = via_serve(
        &serve,
        "GET",
        &format!("{path}/history"),
        "",
        Some(ADMIN),
        None,
    )
    .await;
    let history: Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history[0]["by"], "auto-rollback", "{history}");
}
