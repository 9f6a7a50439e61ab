//! Starts the real `updraft` binary and plays devices and operators over real HTTP.
#![allow(dead_code)]

mod project;
#[allow(unused_imports)]
pub use project::Project;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ADMIN: &str = "upd_e2e_admin_key_0123456789abcdef";
pub const DEVICE: &str = "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f";
pub const APP: &str = "com.example.e2e";

/// The same end-to-end tests run on the embedded store and, with `UPDRAFT_TEST_STORE=aws`,
/// on DynamoDB + S3 (the local servers `scripts/test` starts).
pub fn on_aws() -> bool {
    std::env::var("UPDRAFT_TEST_STORE").as_deref() == Ok("aws")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_updraft"))
}

pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts `updraft serve` on a free port over `data_dir`.
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    /// Starts `updraft serve` with extra arguments.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        Self::spawn(data_dir, extra, &[])
    }

    /// Starts `updraft serve` with extra arguments and environment.
    pub fn spawn(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra);
        if on_aws() {
            // One table and bucket per data dir: a restart finds the same data.
            let name = format!(
                "updraft-e2e-{}",
                &sha256_hex(data_dir.to_string_lossy().as_bytes())[..12]
            );
            cmd.args(["--store", "aws", "--create-resources"])
                .env("UPDRAFT_TABLE", &name)
                .env("UPDRAFT_BUCKET", &name);
        }
        cmd.env("UPDRAFT_ADMIN_KEY", ADMIN)
            .env("RUST_LOG", "warn")
            // Rate limits are off unless a test turns them on with flags (which beat env).
            .env("UPDRAFT_RATE_DEVICE_PER_MIN", "0")
            .env("UPDRAFT_RATE_IP_PER_MIN", "0")
            .envs(env.iter().copied())
            .stderr(Stdio::inherit());
        let (child, url) = updraft_testkit::spawn_serve(&mut cmd);
        Server {
            child,
            url,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "clean shutdown, got {status}");
    }
}

impl Server {
    /// SIGKILL: no shutdown path runs, as in a power cut or an OOM kill.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    // The CLI's reqwest has no TLS provider of its own (cli/Cargo.toml): install the one the
    // binary installs, as the binary does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// GETs a URL (a download URL storage signed) and answers its bytes.
pub async fn download(url: &str) -> bytes::Bytes {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
}

pub async fn call(method: &str, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let (status, _, value) = call_full(method, url, key, body).await;
    (status, value)
}

/// Like `call`, with the `Retry-After` seconds too, and the body must be JSON.
pub async fn call_full(
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<u64>, Value) {
    let mut req = client().request(method.parse().unwrap(), url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    answer_json(req.send().await.unwrap()).await
}

/// `answer`, for routes that always answer JSON: anything else fails the test.
pub async fn answer_json(resp: reqwest::Response) -> (u16, Option<u64>, Value) {
    let (status, retry, value) = answer(resp).await;
    assert!(
        !matches!(value, Value::String(_) | Value::Null),
        "{status} answered non-JSON {value:?}"
    );
    (status, retry, value)
}

/// Status, `Retry-After` (which must be whole seconds) and body (JSON, else the text).
pub async fn answer(resp: reqwest::Response) -> (u16, Option<u64>, Value) {
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, retry, value)
}

pub async fn admin(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call(method, &format!("{}{path}", s.url), Some(ADMIN), body).await
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `POST /v1/apps/{app}/bundles` for these bytes: status and answer.
pub async fn register_bundle(s: &Server, app: &str, version: &str, bytes: &[u8]) -> (u16, Value) {
    let body = json!({"version": version, "size": bytes.len(), "checksum": sha256_hex(bytes)});
    admin(s, "POST", &format!("/v1/apps/{app}/bundles"), Some(body)).await
}

/// Registers, uploads through the signed URL and finalizes a bundle; returns its checksum.
pub async fn upload_bundle(s: &Server, app: &str, version: &str, bytes: &[u8]) -> String {
    let sum = sha256_hex(bytes);
    let (st, reg) = register_bundle(s, app, version, bytes).await;
    assert_eq!(st, 201, "{reg}");
    let put = put_upload(&reg["upload"], bytes.to_vec()).await.unwrap();
    let status = put.status().as_u16();
    assert_eq!(
        status,
        200,
        "upload refused: {}",
        put.text().await.unwrap_or_default()
    );
    let (st, fin) = admin(
        s,
        "POST",
        &format!("/v1/apps/{app}/bundles/{version}/finalize"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{fin}");
    assert_eq!(fin["status"], "ready");
    sum
}

/// PUTs bytes to an upload ticket, with the headers it names (they are signed on S3).
pub async fn put_upload(ticket: &Value, bytes: Vec<u8>) -> reqwest::Result<reqwest::Response> {
    let mut req = client().put(ticket["url"].as_str().unwrap()).body(bytes);
    // The body sets its own length; sending the signed one with another body would hang.
    for (k, v) in ticket["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "content-length")
    {
        req = req.header(k.as_str(), v.as_str().unwrap());
    }
    req.send().await
}

/// Whether storage refused a body: a 4xx, or a connection it closed before reading all of it.
pub fn refused(resp: reqwest::Result<reqwest::Response>) -> bool {
    resp.map_or(true, |r| r.status().is_client_error())
}

/// An update-check body as the plugin sends it.
pub fn device_body(app: &str, patch: Value) -> Value {
    let mut v = json!({
        "platform": "ios", "device_id": DEVICE, "app_id": app, "custom_id": "",
        "version_build": "1.0.0", "version_code": "1", "version_os": "17.4",
        "version_name": "builtin", "plugin_version": "8.51.14", "is_emulator": false,
        "is_prod": true, "defaultChannel": ""
    });
    for (k, val) in patch.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

pub async fn device(s: &Server, method: &str, path: &str, body: Value) -> (u16, Value) {
    call(method, &format!("{}{path}", s.url), None, Some(body)).await
}

/// Bytes that do not compress (xorshift64 from `seed`): a build's images and fonts.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A small but real zip-like payload, distinct per seed.
pub fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
