//! Every function binary, driven through a local Lambda Runtime API with API Gateway HTTP API
//! v2 events, against the local DynamoDB and S3 servers; answers compared byte for byte with
//! `updraft serve --store aws` on the same data.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use updraft_lambda::local_runtime::{LocalRuntime, http_api_event};

const ADMIN: &str = "upd_lambda_test_admin_key_000000000000";
const APP: &str = "com.example.lambda";
const DEVICE: &str = "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f";

fn require_local_servers() {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: run ./scripts/test, which starts moto and s3s-fs and builds the function binaries"
        );
    }
}

fn binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// The local Runtime API, answering or failing the test.
struct Runtime(LocalRuntime);

impl Runtime {
    async fn start() -> (Runtime, String) {
        let (rt, addr) = LocalRuntime::start().await.unwrap();
        (Runtime(rt), addr)
    }

    async fn invoke(&self, event: Value) -> Value {
        self.0
            .invoke(event, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn event(method: &str, path: &str, query: &str, key: Option<&str>, body: Option<&Value>) -> Value {
    http_api_event(method, path, query, key, body)
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_function(name: &str, runtime_addr: &str, table: &str) -> Proc {
    Proc(
        Command::new(binary(name))
            .env("AWS_LAMBDA_RUNTIME_API", runtime_addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("UPDRAFT_TABLE", table)
            .env("UPDRAFT_BUCKET", table)
            .env("UPDRAFT_S3_FORCE_PATH_STYLE", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

struct Serve {
    _proc: Proc,
    url: String,
}

fn start_serve(table: &str) -> Serve {
    let mut child = Command::new(binary("updraft"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "aws",
            "--create-resources",
        ])
        .env("UPDRAFT_TABLE", table)
        .env("UPDRAFT_BUCKET", table)
        .env("UPDRAFT_ADMIN_KEY", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("serve prints its URL")
        .to_string();
    Serve {
        _proc: Proc(child),
        url,
    }
}

/// An HTTP client for the local servers (ring installed, as the binaries install it).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The same request to `updraft serve`, as (status, headers we compare, body bytes).
async fn via_serve(
    s: &Serve,
    method: &str,
    path: &str,
    query: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let url = if query.is_empty() {
        format!("{}{path}", s.url)
    } else {
        format!("{}{path}?{query}", s.url)
    };
    let mut req = http()
        .request(method.parse().unwrap(), url)
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn device(patch: Value) -> Value {
    let mut v = json!({
        "platform": "android", "device_id": DEVICE, "app_id": APP, "custom_id": "",
        "version_build": "1.0.0", "version_code": "1", "version_os": "14", "version_name": "builtin",
        "plugin_version": "8.51.14", "is_emulator": false, "is_prod": true, "defaultChannel": ""
    });
    for (k, val) in patch.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

/// Registers, uploads (to S3, through the presigned URL) and finalizes a bundle.
async fn upload(serve: &Serve, version: &str, zip: &[u8]) {
    let http = http();
    let sum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(zip));
    let (status, reg) = via_serve(
        serve,
        "POST",
        &format!("/v1/apps/{APP}/bundles"),
        "",
        Some(ADMIN),
        Some(&json!({"version": version, "size": zip.len(), "checksum": sum})),
    )
    .await;
    assert_eq!(status, 201, "{reg}");
    let reg: Value = serde_json::from_str(&reg).unwrap();
    let mut put = http
        .put(reg["upload"]["url"].as_str().unwrap())
        .body(zip.to_vec());
    for (k, v) in reg["upload"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "content-length")
    {
        put = put.header(k.as_str(), v.as_str().unwrap());
    }
    assert!(put.send().await.unwrap().status().is_success());
    let (status, done) = via_serve(
        serve,
        "POST",
        &format!("/v1/apps/{APP}/bundles/{version}/finalize"),
        "",
        Some(ADMIN),
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{done}");
}

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
        Command::new(binary("updraft-admin"))
            .env("AWS_LAMBDA_RUNTIME_API", &addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", "admin")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
            .env("UPDRAFT_TABLE", &table)
            .env("UPDRAFT_BUCKET", &table)
            .env("UPDRAFT_S3_FORCE_PATH_STYLE", "true")
            .env("UPDRAFT_ADMIN_KEY_HASH", &hash)
            .stdout(Stdio::null())
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
    let (st, _) = via_serve(
        &serve,
        "POST",
        "/v1/apps",
        "",
        Some(ADMIN),
        Some(&json!({"app_id": APP})),
    )
    .await;
    assert_eq!(st, 201);
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
