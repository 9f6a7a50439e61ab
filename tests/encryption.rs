//! End-to-end encryption with the real CLI against a real `updraft serve`: the key pair,
//! the encrypted upload, what a device downloads and how it decrypts, and refusals.
//! (The stock plugin decrypting these bundles is `tests/plugin.rs`.)

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_bundle_reaches_devices_that_hold_the_public_key() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = Project::with_app(&s);
    let dir = p.dir.path();

    // The key pair: the private half 0600 and ignored by git, the public half in the config.
    let key = p.json(&["key", "create", "--write-config"]);
    let private = dir.join(".capgo_key_v2");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let pem = key["public_key"].as_str().unwrap().to_string();
    assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----"), "{pem}");
    assert!(
        std::fs::read_to_string(&private)
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    assert!(
        std::fs::read_to_string(dir.join(".gitignore"))
            .unwrap()
            .contains(".capgo_key_v2")
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("capacitor.config.json")).unwrap())
            .unwrap();
    assert_eq!(
        config["plugins"]["CapacitorUpdater"]["publicKey"],
        pem.as_str()
    );
    assert_eq!(config["appId"], APP, "the other settings stay");
    // Never replaced by accident.
    let why = p.fails(&["key", "create"]);
    assert!(why.contains("--force"), "{why}");
    assert_eq!(
        std::fs::read_to_string(dir.join(".capgo_key_v2.pub")).unwrap(),
        pem
    );

    // The config names a public key: uploads are encrypted without being asked.
    let up = p.json(&["upload", "--channel", "production"]);
    let enc = &up["encrypted"];
    let key_id = key["key_id"].as_str().unwrap();
    assert_eq!(enc["key_id"], key_id);
    assert_eq!(key_id.len(), 20);
    let plain = p.json(&["bundle", "zip", "--name", "plain.zip"]);

    // A device holding the key: the answer carries the session key and encrypted checksum.
    let (_, offer) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"key_id": key_id})),
    )
    .await;
    assert_eq!(offer["version"], "1.0.1", "{offer}");
    assert_eq!(offer["session_key"], enc["session_key"]);
    assert_eq!(offer["checksum"], enc["checksum"]);
    assert_eq!(offer["checksum"].as_str().unwrap().len(), 512);
    let cipher = download(offer["url"].as_str().unwrap()).await;
    assert_ne!(
        sha256_hex(&cipher),
        plain["checksum"].as_str().unwrap(),
        "storage holds ciphertext"
    );
    assert_eq!(
        sha256_hex(&cipher),
        up["checksum"].as_str().unwrap(),
        "the ciphertext's SHA-256 is what storage checked"
    );
    // Decrypted as a device does, with the public key only: the zip `bundle zip` makes.
    std::fs::write(dir.join("got.enc"), &cipher).unwrap();
    let opened = p.json(&[
        "bundle",
        "decrypt",
        "got.enc",
        "--session-key",
        offer["session_key"].as_str().unwrap(),
        "--checksum",
        offer["checksum"].as_str().unwrap(),
    ]);
    assert_eq!(opened["sha256"], plain["checksum"]);
    assert_eq!(
        std::fs::read(dir.join("got.zip")).unwrap(),
        std::fs::read(dir.join("plain.zip")).unwrap()
    );
    // A tampered download does not decrypt to anything accepted.
    let mut bad = cipher.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(dir.join("bad.enc"), &bad).unwrap();
    let why = p.fails(&[
        "bundle",
        "decrypt",
        "bad.enc",
        "--session-key",
        offer["session_key"].as_str().unwrap(),
        "--checksum",
        offer["checksum"].as_str().unwrap(),
    ]);
    assert!(why.contains("checksum") || why.contains("decrypt"), "{why}");

    // A device whose app carries another public key gets the protocol's soft error.
    let (st, other) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"key_id": "MIIBCgKCAQEAqJikYizo"})),
    )
    .await;
    assert_eq!(
        (st, other["error"].as_str()),
        (200, Some("key_id_mismatch")),
        "{other}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_session_keys_are_refused_and_nothing_is_ready() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = Project::with_app(&s);
    let dir = p.dir.path();
    let list = format!("/v1/apps/{APP}/bundles");
    let bundles = || admin(&s, "GET", &list, None);
    let (_, before) = bundles().await;

    // No key at all.
    let why = p.fails(&["upload", "--encrypt"]);
    assert!(why.contains("updraft key create"), "{why}");
    // A key file of the wrong kind: the public half, or not a key.
    p.json(&["key", "create"]);
    let why = p.fails(&["upload", "--key", ".capgo_key_v2.pub"]);
    assert!(why.contains("is a public key"), "{why}");
    std::fs::write(
        dir.join("junk.pem"),
        "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let why = p.fails(&["upload", "--key", "junk.pem"]);
    assert!(why.contains("not an RSA private key"), "{why}");
    // A config naming another public key than the private key's.
    let fixture: Value = serde_json::from_str(include_str!("fixtures/crypto-rsa.json")).unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("capacitor.config.json")).unwrap())
            .unwrap();
    config["plugins"] = json!({"CapacitorUpdater": {"publicKey": fixture["publicKeyPem"]}});
    std::fs::write(dir.join("capacitor.config.json"), config.to_string()).unwrap();
    let why = p.fails(&["upload"]);
    assert!(why.contains("does not match"), "{why}");
    // …or no private key while the config says devices want encrypted bundles.
    std::fs::remove_file(dir.join(".capgo_key_v2")).unwrap();
    let why = p.fails(&["upload"]);
    assert!(why.contains("accept only encrypted bundles"), "{why}");
    assert_eq!(bundles().await.1, before, "nothing was registered");

    // The API refuses malformed encrypted registrations.
    let (st, v) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/bundles"),
        Some(
            json!({"version": "2.0.0", "size": 32, "checksum": "ab".repeat(256),
                    "sha256": "cd".repeat(32), "session_key": "not-a-session-key"}),
        ),
    )
    .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("invalid_session_key")),
        "{v}"
    );
    assert_eq!(bundles().await.1, before);
}

/// The peer CLI (`@capgo/cli`, offline), from `scripts/peer-cli`, run in `dir`.
fn capgo(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peer-cli");
    let out = std::process::Command::new(script).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let modules = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let link = dir.join("node_modules");
    if !link.exists() {
        std::os::unix::fs::symlink(&modules, &link).unwrap();
    }
    std::process::Command::new("node")
        .arg(format!("{modules}/.bin/capgo"))
        .args(args)
        .current_dir(dir)
        .env("CAPGO_DISABLE_TELEMETRY", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// A project the peer CLI accepts: it wants @capgo/capacitor-updater declared.
fn peer_project() -> Project {
    let p = Project::new();
    std::fs::write(
        p.dir.path().join("package.json"),
        json!({"name": "interop", "version": "1.0.1",
               "dependencies": {"@capgo/capacitor-updater": "8.51.23"}})
        .to_string(),
    )
    .unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_cli_decrypts_updrafts_bundles_and_updraft_decrypts_the_peers() {
    // Updraft encrypts (on upload); the peer CLI decrypts what storage serves.
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = peer_project();
    p.json(&["login", ADMIN, "--api-url", &s.url]);
    p.json(&["app", "add"]);
    p.json(&["channel", "add", "production", "--default"]);
    p.json(&["key", "create", "--write-config"]);
    let up = p.json(&["upload", "--channel", "production"]);
    let plain = p.json(&["bundle", "zip", "--name", "plain.zip"]);
    let (_, offer) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    let cipher = download(offer["url"].as_str().unwrap()).await;
    let dir = p.dir.path();
    std::fs::write(dir.join("served.zip"), &cipher).unwrap();
    let session = up["encrypted"]["session_key"].as_str().unwrap();
    let out = capgo(dir, &["bundle", "decrypt", "served.zip", session]);
    assert!(
        out.status.success(),
        "capgo bundle decrypt: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let back = std::fs::read(dir.join("served.zip_decrypted.zip")).unwrap();
    assert_eq!(sha256_hex(&back), plain["checksum"].as_str().unwrap());

    // The peer CLI makes the key and encrypts; updraft decrypts and verifies the checksum.
    let peer = peer_project();
    let dir = peer.dir.path();
    let out = capgo(dir, &["key", "create"]);
    assert!(
        dir.join(".capgo_key_v2.pub").exists(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let zipped = peer.json(&["bundle", "zip", "--name", "plain.zip"]);
    let out = capgo(
        dir,
        &[
            "bundle",
            "encrypt",
            "plain.zip",
            zipped["checksum"].as_str().unwrap(),
            "--json",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text
        .find('{')
        .unwrap_or_else(|| panic!("no JSON from capgo: {text}"));
    let enc: Value = serde_json::from_str(&text[start..]).unwrap();
    let opened = peer.json(&[
        "bundle",
        "decrypt",
        enc["filename"].as_str().unwrap(),
        "--session-key",
        enc["ivSessionKey"].as_str().unwrap(),
        "--checksum",
        enc["checksum"].as_str().unwrap(),
        "--out",
        "back.zip",
    ]);
    assert_eq!(opened["sha256"], zipped["checksum"]);
    assert_eq!(
        std::fs::read(dir.join("back.zip")).unwrap(),
        std::fs::read(dir.join("plain.zip")).unwrap()
    );
}
