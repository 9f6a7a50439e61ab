//! What the runtime-API tests and the cost benchmark (`examples/cost.rs`) share: the
//! function binaries on a local Runtime API, `updraft serve --store aws` to seed data, and
//! the plugin's request body.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use updraft_lambda::local_runtime::{LocalRuntime, origin_secrets_env};

pub const ADMIN: &str = "upd_lambda_test_admin_key_000000000000";
pub const APP: &str = "com.example.lambda";
pub const DEVICE: &str = "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f";

pub fn require_local_servers() {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: run ./scripts/test, which starts moto and s3s-fs and builds the function binaries"
        );
    }
}

pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    // Tests run the debug build; the cost benchmark the release one (UPDRAFT_BIN_PROFILE).
    let profile = std::env::var("UPDRAFT_BIN_PROFILE").unwrap_or_else(|_| "debug".into());
    let path = target.join(profile).join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// The local Runtime API, answering or failing the test.
pub struct Runtime(pub LocalRuntime);

impl Runtime {
    pub async fn start() -> (Runtime, String) {
        let (rt, addr) = LocalRuntime::start().await.unwrap();
        (Runtime(rt), addr)
    }

    pub async fn invoke(&self, event: Value) -> Value {
        self.0
            .invoke(event, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A function URL event as CloudFront forwards it (with the origin secret).
pub use updraft_lambda::local_runtime::function_url_event as event;

pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A function binary as Lambda starts it (the template's environment), on `table`.
pub fn function_command(name: &str, runtime_addr: &str, table: &str) -> Command {
    let mut cmd = Command::new(binary(name));
    cmd.env("AWS_LAMBDA_RUNTIME_API", runtime_addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("UPDRAFT_TABLE", table)
        .env("UPDRAFT_BUCKET", table)
        .env("UPDRAFT_S3_FORCE_PATH_STYLE", "true")
        .env("UPDRAFT_ORIGIN_SECRETS", origin_secrets_env())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    cmd
}

pub fn start_function(name: &str, runtime_addr: &str, table: &str) -> Proc {
    Proc(function_command(name, runtime_addr, table).spawn().unwrap())
}

pub struct Serve {
    pub _proc: Proc,
    pub url: String,
}

pub fn start_serve(table: &str) -> Serve {
    let (child, url) = updraft_testkit::spawn_serve(
        Command::new(binary("updraft"))
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
            .env("RUST_LOG", "warn"),
    );
    Serve {
        _proc: Proc(child),
        url,
    }
}

/// An HTTP client for the local servers (ring installed, as the binaries install it).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The same request to `updraft serve`, as (status, headers we compare, body bytes).
pub async fn via_serve(
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

pub fn device(patch: Value) -> Value {
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
pub async fn upload(serve: &Serve, version: &str, zip: &[u8]) {
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

/// Creates the test app through `updraft serve`.
pub async fn create_app(serve: &Serve) {
    let (status, body) = via_serve(
        serve,
        "POST",
        "/v1/apps",
        "",
        Some(ADMIN),
        Some(&json!({"app_id": APP})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}
