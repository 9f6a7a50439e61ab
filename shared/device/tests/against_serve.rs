//! The SDK against the real `updraft serve` over HTTP: a device folder picks up a bundle,
//! switches to it at the next start, confirms it; a bundle that never confirms is rolled
//! back and reported `update_fail`, which the server shows in the device's events. And no
//! server answer makes the SDK panic.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use updraft_device::{Check, Config, Error, Updater};

const ADMIN: &str = "upd_device_sdk_test_admin_0123456789";
const APP: &str = "com.example.desktop";
const DEVICE: &str = "0b0e1d5c-8a45-4c2e-9d0a-5d3f2a1b7c9e";

struct Serve(Child, String);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &std::path::Path) -> Serve {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug/updraft");
    assert!(
        bin.exists(),
        "{} is missing: `cargo build --workspace --bins` first (scripts/test does)",
        bin.display()
    );
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("UPDRAFT_ADMIN_KEY", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    Serve(child, url)
}

/// A client for the test's own calls (ring installed, as the SDK does).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn api(s: &Serve, method: &str, path: &str, body: Value) -> Value {
    let resp = client()
        .request(method.parse().unwrap(), format!("{}{path}", s.1))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v
}

/// `len` pseudo-random hex digits (xorshift from `seed`): content deflate cannot shrink
/// much, so a zip of it takes a while to download and unpack.
fn hex_noise(mut x: u64, len: usize) -> String {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"0123456789abcdef"[(x & 15) as usize])
        })
        .collect()
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    for (name, text) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    w.finish().unwrap();
    out.into_inner()
}

async fn upload(s: &Serve, version: &str, zip: &[u8]) {
    let sum = hex::encode(Sha256::digest(zip));
    let reg = api(
        s,
        "POST",
        &format!("/v1/apps/{APP}/bundles"),
        json!({"version": version, "size": zip.len(), "checksum": sum}),
    )
    .await;
    let put = client()
        .put(reg["upload"]["url"].as_str().unwrap())
        .body(zip.to_vec())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    api(
        s,
        "POST",
        &format!("/v1/apps/{APP}/bundles/{version}/finalize"),
        json!({}),
    )
    .await;
    api(
        s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/production"),
        json!({"bundle": version}),
    )
    .await;
}

fn config(url: &str) -> Config {
    Config {
        app_ready_timeout: Duration::from_secs(1),
        ..Config::new(url, APP, DEVICE, "1.0.0")
    }
}

/// The test app with its default channel (desktop devices included).
async fn app_with_channel(s: &Serve) {
    api(s, "POST", "/v1/apps", json!({"app_id": APP})).await;
    api(
        s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        json!({"name": "production", "public": true, "electron": true}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_folder_updates_confirms_and_rolls_back_a_bundle_that_never_starts() {
    let data = tempfile::tempdir().unwrap();
    let s = serve(data.path());
    app_with_channel(&s).await;
    upload(
        &s,
        "1.0.1",
        &zip_of(&[("index.html", "v1"), ("assets/app.js", "ready()")]),
    )
    .await;

    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&s.1), folder.path()).unwrap();
    assert_eq!(up.start().unwrap(), None, "builtin at first");
    let Check::Update(update) = up.check().await.unwrap() else {
        panic!("no update offered")
    };
    assert_eq!(update.version, "1.0.1");
    up.download(&update).await.unwrap();
    assert_eq!(
        up.current_dir(),
        None,
        "nothing changes before the next start"
    );

    // A restart (a new process: the state comes from disk) switches to it.
    drop(up);
    let up = Updater::open(config(&s.1), folder.path()).unwrap();
    let dir = up.start().unwrap().expect("the new bundle");
    assert_eq!(
        std::fs::read_to_string(dir.join("index.html")).unwrap(),
        "v1"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("assets/app.js")).unwrap(),
        "ready()"
    );
    up.notify_app_ready().unwrap();
    assert_eq!(up.ready_deadline().unwrap(), None, "a ready bundle stays");
    assert_eq!(
        up.flush_stats().await.unwrap(),
        2,
        "download_complete and set"
    );
    assert!(
        matches!(up.check().await.unwrap(), Check::Nothing { .. }),
        "up to date"
    );

    // 1.0.2 never calls notify_app_ready: rolled back to 1.0.1 and reported.
    upload(&s, "1.0.2", &zip_of(&[("index.html", "v2")])).await;
    let Check::Update(update) = up.check().await.unwrap() else {
        panic!("no update offered")
    };
    up.download(&update).await.unwrap();
    let dir2 = up.start().unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir2.join("index.html")).unwrap(),
        "v2"
    );
    let back = up.ready_deadline().unwrap().expect("rolled back");
    assert_eq!(back, Some(dir.clone()));
    assert_eq!(up.current_dir(), Some(dir));
    assert_eq!(
        up.flush_stats().await.unwrap(),
        4,
        "download_complete, set, app_launch_timeout, update_fail"
    );
    let events = api(
        &s,
        "GET",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/events"),
        Value::Null,
    )
    .await;
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"update_fail"), "{actions:?}");
    assert!(actions.contains(&"app_launch_timeout"), "{actions:?}");
    // The failed version is never installed again, though the channel still offers it.
    let Check::Update(again) = up.check().await.unwrap() else {
        panic!("the channel still offers 1.0.2")
    };
    up.download(&again).await.unwrap();
    assert_eq!(up.bundles().next, None);

    // A tampered download is refused and reported; nothing is staged.
    let mut bad = again.clone();
    bad.version = "1.0.3".into();
    bad.checksum = "00".repeat(32);
    assert!(matches!(up.download(&bad).await, Err(Error::Refused(_))));
    assert_eq!(up.bundles().next, None);
}

/// Serves one raw HTTP answer to every connection.
async fn raw_server(answer: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn no_server_answer_makes_it_panic() {
    for answer in [
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]",
        "HTTP/1.1 200 OK\r\ncontent-length: 30\r\nconnection: close\r\n\r\n{\"version\":1,\"url\":[],\"x\":{}}",
        "HTTP/1.1 500 Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        "HTTP/1.1 429 Too Many\r\nretry-after: 60\r\ncontent-length: 27\r\nconnection: close\r\n\r\n{\"error\":\"too_many_requests\"}",
        "garbage\r\n\r\n",
    ] {
        let url = raw_server(answer).await;
        let folder = tempfile::tempdir().unwrap();
        let up = Updater::open(config(&url), folder.path()).unwrap();
        if let Ok(Check::Update(u)) = up.check().await {
            panic!("{answer:?} offered {u:?}");
        }
        up.start().unwrap();
        assert_eq!(up.current_dir(), None, "still builtin after {answer:?}");
    }
    let url =
        raw_server("HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nzip").await;
    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&url), folder.path()).unwrap();
    let update = updraft_device::Update {
        version: "9.9.9".into(),
        url: format!("{url}/b.zip"),
        checksum: hex::encode(Sha256::digest(b"zip")),
    };
    assert!(
        matches!(up.download(&update).await, Err(Error::Zip(_))),
        "a body that is not a zip"
    );
    assert_eq!(up.bundles().next, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_lists_picks_reads_and_leaves_a_channel() {
    let data = tempfile::tempdir().unwrap();
    let s = serve(data.path());
    app_with_channel(&s).await;
    api(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        json!({"name": "beta", "electron": true, "allow_device_self_set": true}),
    )
    .await;
    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&s.1), folder.path()).unwrap();
    let names: Vec<String> = up
        .channels()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(names.contains(&"beta".to_string()), "{names:?}");
    let on = |c: updraft_device::updater::ChannelState| c.channel;
    assert_eq!(
        on(up.channel().await.unwrap()).as_deref(),
        Some("production"),
        "the default at first"
    );
    up.set_channel("beta").await.unwrap();
    assert_eq!(on(up.channel().await.unwrap()).as_deref(), Some("beta"));
    up.unset_channel().await.unwrap();
    assert_eq!(
        on(up.channel().await.unwrap()).as_deref(),
        Some("production")
    );
    // A channel devices may not pick themselves is refused, with the server's reason.
    match up.set_channel("production").await {
        Err(Error::Server { error, .. }) => assert!(!error.is_empty()),
        other => panic!("production was picked: {other:?}"),
    }
}

/// What a crash left must load: builtin, or a complete bundle folder.
fn loadable(folder: &std::path::Path) -> Option<String> {
    let state = updraft_device::StateFile::in_dir(folder).load();
    state.current.map(|b| {
        std::fs::read_to_string(folder.join(&b.id).join("index.html"))
            .unwrap_or_else(|e| panic!("the state names {} but it does not load: {e}", b.id))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_at_any_moment_leaves_a_loadable_bundle() {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let cycle = target.join("debug/examples/cycle");
    assert!(
        cycle.exists(),
        "{} is missing: cargo test builds the examples",
        cycle.display()
    );
    let data = tempfile::tempdir().unwrap();
    let s = serve(data.path());
    app_with_channel(&s).await;
    // Big enough that a kill often lands mid-download or mid-unpack.
    let filler = hex_noise(0x2545_f491_4f6c_dd1du64, 600_000);
    upload(
        &s,
        "1.0.1",
        &zip_of(&[("index.html", "v1"), ("big.txt", &filler)]),
    )
    .await;
    upload(
        &s,
        "1.0.2",
        &zip_of(&[("index.html", "v2"), ("big.txt", &filler)]),
    )
    .await;
    let folder = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut delay = 7u64;
    for round in 0..24 {
        let version = if round % 2 == 0 { "1.0.1" } else { "1.0.2" };
        api(
            &s,
            "PATCH",
            &format!("/v1/apps/{APP}/channels/production"),
            json!({"bundle": version}),
        )
        .await;
        let mut child = Command::new(&cycle)
            .args([&s.1, APP, DEVICE])
            .arg(folder.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Pseudo-random moments from 5 to 300 ms.
        delay = (delay * 7919 + 13) % 295 + 5;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();
        let loaded = loadable(folder.path());
        seen.insert(loaded.unwrap_or_else(|| "builtin".into()));
    }
    assert!(
        seen.len() >= 2,
        "the kills never let an update through: {seen:?}"
    );
}

/// Records every request body it gets; answers `/updates` with an update whose zip it
/// serves itself (in pieces, with its length, so progress is seen), `/stats` with ok.
async fn recording_server(
    zip: Vec<u8>,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen2, url2) = (seen.clone(), url.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (seen, url, zip) = (seen2.clone(), url2.clone(), zip.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                let (head, body) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let len = text[..i]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= i + 4 + len {
                            break (text[..i].to_string(), buf[i + 4..i + 4 + len].to_vec());
                        }
                    }
                };
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    seen.lock().unwrap().push((path.clone(), v));
                }
                if path == "/b.zip" {
                    let _ = sock
                        .write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", zip.len()).as_bytes())
                        .await;
                    for piece in zip.chunks(zip.len() / 20 + 1) {
                        let _ = sock.write_all(piece).await;
                        let _ = sock.flush().await;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    return;
                }
                let answer = if path == "/updates" {
                    json!({"version": "1.0.1", "url": format!("{url}/b.zip"), "checksum": hex::encode(Sha256::digest(&zip)), "session_key": ""}).to_string()
                } else {
                    json!({"status": "ok"}).to_string()
                };
                let _ = sock
                    .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}", answer.len()).as_bytes())
                    .await;
            });
        }
    });
    (url, seen)
}

/// The requests the SDK sends equal, field for field, those the plugin's code builds
/// (recorded from its source in `fixtures/plugin-8.51.23.json`), and so do its `/stats`
/// sequences for a normal update and for a failed start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn its_requests_are_the_plugins_field_for_field() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/plugin-8.51.23.json")).unwrap();
    let names = |v: &Value| -> std::collections::BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let noise = hex_noise(0x9e37_79b9_7f4a_7c15u64, 300_000);
    let zip = zip_of(&[("index.html", "v1"), ("noise.txt", &noise)]);
    let (url, seen) = recording_server(zip).await;
    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&url), folder.path()).unwrap();
    let Check::Update(u) = up.check().await.unwrap() else {
        panic!("no update")
    };
    up.download(&u).await.unwrap();
    up.start().unwrap();
    up.ready_deadline().unwrap(); // never ready: rolled back
    up.flush_stats().await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let (_, check) = seen.iter().find(|(p, _)| p == "/updates").expect("a check");
    let sent: std::collections::BTreeSet<String> =
        check.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        sent,
        names(&fixture["update_check"]["fields"]),
        "the update check's fields"
    );
    let (_, batch) = seen
        .iter()
        .find(|(p, _)| p == "/stats")
        .expect("a stats batch");
    let events = batch.as_array().unwrap();
    for e in events {
        let sent: std::collections::BTreeSet<String> =
            e.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            sent,
            names(&fixture["stats_event"]["fields"]),
            "a stats event's fields: {e}"
        );
    }
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // The progress the download crossed, in order; then the plugin's fixed sequences.
    let progress: Vec<&str> = fixture["normal_update"]["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let crossed: Vec<&str> = actions
        .iter()
        .copied()
        .take_while(|a| a.starts_with("download_") && *a != "download_complete")
        .collect();
    assert!(!crossed.is_empty(), "no progress was reported: {actions:?}");
    let mut in_order = progress.iter().filter(|p| crossed.contains(p));
    assert!(
        crossed.iter().all(|c| in_order.next() == Some(c)),
        "progress out of order: {crossed:?}"
    );
    let rest: Vec<&str> = actions[crossed.len()..].to_vec();
    let mut want: Vec<&str> = names_in_order(&fixture["normal_update"]["then"]);
    want.extend(names_in_order(&fixture["failed_start"]["actions"]));
    assert_eq!(rest, want, "{actions:?}");
}

fn names_in_order(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}
