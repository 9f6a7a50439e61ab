//! Starts the real `updraft` binary and plays devices and operators over real HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ADMIN: &str = "upd_e2e_admin_key_0123456789abcdef";
pub const DEVICE: &str = "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f";
pub const APP: &str = "com.example.e2e";

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
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("UPDRAFT_ADMIN_KEY", ADMIN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("updraft binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn call(method: &str, url: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = client().request(method.parse().unwrap(), url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

pub async fn admin(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call(method, &format!("{}{path}", s.url), Some(ADMIN), body).await
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Registers, uploads through the signed URL and finalizes a bundle; returns its checksum.
pub async fn upload_bundle(s: &Server, app: &str, version: &str, bytes: &[u8]) -> String {
    let sum = sha256_hex(bytes);
    let (st, reg) = admin(
        s,
        "POST",
        &format!("/v1/apps/{app}/bundles"),
        Some(json!({"version": version, "size": bytes.len(), "checksum": sum})),
    )
    .await;
    assert_eq!(st, 201, "{reg}");
    let put = client()
        .put(reg["upload"]["url"].as_str().unwrap())
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
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

/// A small but real zip-like payload, distinct per seed.
pub fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
