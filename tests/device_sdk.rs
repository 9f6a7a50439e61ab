//! The device SDK (`updraft-device`) against the real `updraft serve`, on both stores: a
//! device folder picks up a bundle, switches to it at the next start and confirms it; a
//! bundle that never confirms is rolled back and reported; a delta upload reaches it file by
//! file, taking unchanged files from the bundle it has; an encrypted upload installs only
//! with the app's key; a cut download resumes with `Range`; a process killed at any moment
//! leaves a loadable bundle. (Against servers the test plays: the SDK's own tests.)

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use updraft_device::{Check, Config, Downloaded, Error, Updater};
use updraft_testkit::zip_of;

fn config(url: &str) -> Config {
    Config {
        app_ready_timeout: Duration::from_secs(1),
        ..Config::new(url, APP, DEVICE, "1.0.0")
    }
}

async fn ok(s: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = admin(s, method, path, body).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}

/// The test app with its default channel (desktop devices included).
async fn app_with_channel(s: &Server) {
    ok(s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    ok(
        s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "production", "public": true, "electron": true})),
    )
    .await;
}

async fn point(s: &Server, version: &str) {
    ok(
        s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/production"),
        Some(json!({"bundle": version})),
    )
    .await;
}

/// Uploads a zip (no manifest) and points the channel at it.
async fn release(s: &Server, version: &str, zip: &[u8]) {
    upload_bundle(s, APP, version, zip).await;
    point(s, version).await;
}

async fn update(up: &Updater) -> updraft_device::Update {
    match up.check().await.unwrap() {
        Check::Update(u) => u,
        other => panic!("no update offered: {other:?}"),
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_folder_updates_confirms_and_rolls_back_a_bundle_that_never_starts() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    app_with_channel(&s).await;
    let v1 = zip_of(&[("index.html", "v1"), ("assets/app.js", "ready()")]);
    release(&s, "1.0.1", &v1).await;

    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&s.url), folder.path()).unwrap();
    assert_eq!(up.start().unwrap(), None, "builtin at first");
    let u = update(&up).await;
    assert_eq!(u.version, "1.0.1");
    let done = up.download(&u).await.unwrap();
    assert!(done.staged);
    assert_eq!(done.received, v1.len() as u64);
    assert_eq!(
        up.current_dir(),
        None,
        "nothing changes before the next start"
    );

    // A restart (a new process: the state comes from disk) switches to it.
    drop(up);
    let up = Updater::open(config(&s.url), folder.path()).unwrap();
    let dir = up.start().unwrap().expect("the new bundle");
    assert_eq!(read(&dir, "index.html"), "v1");
    assert_eq!(read(&dir, "assets/app.js"), "ready()");
    up.notify_app_ready().unwrap();
    assert_eq!(up.ready_deadline().unwrap(), None, "a ready bundle stays");
    up.flush_stats().await.unwrap();
    assert!(
        matches!(up.check().await.unwrap(), Check::Nothing { .. }),
        "up to date"
    );

    // 1.0.2 never calls notify_app_ready: rolled back to 1.0.1 and reported.
    release(&s, "1.0.2", &zip_of(&[("index.html", "v2")])).await;
    up.download(&update(&up).await).await.unwrap();
    let dir2 = up.start().unwrap().unwrap();
    assert_eq!(read(&dir2, "index.html"), "v2");
    let back = up.ready_deadline().unwrap().expect("rolled back");
    assert_eq!(back, Some(dir.clone()));
    assert_eq!(up.current_dir(), Some(dir));
    up.flush_stats().await.unwrap();
    let events = ok(
        &s,
        "GET",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/events"),
        None,
    )
    .await;
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "download_zip_start",
        "download_complete",
        "set",
        "app_launch_timeout",
        "update_fail",
    ] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    // The failed version is never installed again, though the channel still offers it.
    let again = update(&up).await;
    assert_eq!(up.download(&again).await.unwrap(), Downloaded::default());
    assert_eq!(up.bundles().next, None);

    // A tampered download is refused and reported; nothing is staged.
    let mut bad = again.clone();
    bad.version = "1.0.3".into();
    bad.checksum = "00".repeat(32);
    assert!(matches!(up.download(&bad).await, Err(Error::Refused(_))));
    assert_eq!(up.bundles().next, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_lists_picks_reads_and_leaves_a_channel() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    app_with_channel(&s).await;
    ok(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "beta", "electron": true, "allow_device_self_set": true})),
    )
    .await;
    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&s.url), folder.path()).unwrap();
    let names: Vec<String> = up
        .channels()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(names.contains(&"beta".to_string()), "{names:?}");
    let on = |c: updraft_device::ChannelState| c.channel;
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

/// The files of the project's `dist` folder, relative path → content.
fn build_files(p: &Project) -> Vec<(String, Vec<u8>)> {
    let dist = p.dir.path().join("dist");
    let mut out: Vec<(String, Vec<u8>)> = walk(&dist)
        .into_iter()
        .map(|f| {
            let rel = f
                .strip_prefix(&dist)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read(&f).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// The loaded folder holds exactly the project's build.
fn holds_build(dir: &Path, p: &Project) {
    for (rel, bytes) in build_files(p) {
        assert_eq!(std::fs::read(dir.join(&rel)).unwrap(), bytes, "{rel}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_upload_reaches_the_device_file_by_file() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = Project::with_app(&s);
    p.build_files(12, &[], "v1");
    p.json(&["upload", "--channel", "production", "--bundle", "1.0.1"]);

    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&s.url), folder.path()).unwrap();
    let u = update(&up).await;
    assert_eq!(u.manifest.len(), 14, "index.html, 12 scripts, noise.bin");
    assert!(u.manifest.iter().any(|f| f.file_name.ends_with(".js.br")));
    let first = up.download(&u).await.unwrap();
    assert_eq!((first.files_downloaded, first.files_reused), (14, 0));
    let dir = up.start().unwrap().unwrap();
    holds_build(&dir, &p);
    up.notify_app_ready().unwrap();

    // Two scripts change: only they come over the network.
    p.build_files(12, &[3, 7], "v2");
    p.json(&["upload", "--channel", "production", "--bundle", "1.0.2"]);
    let u = update(&up).await;
    let second = up.download(&u).await.unwrap();
    assert_eq!(
        (second.files_downloaded, second.files_reused),
        (2, 12),
        "{second:?}"
    );
    assert!(
        second.received * 5 < first.received,
        "the delta is a fraction of the bundle: {second:?} vs {first:?}"
    );
    let dir = up.start().unwrap().unwrap();
    holds_build(&dir, &p);
    up.notify_app_ready().unwrap();
    up.flush_stats().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_upload_installs_only_with_the_apps_key() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = Project::with_app(&s);
    p.json(&["key", "create", "--write-config"]);
    let pem = std::fs::read_to_string(p.dir.path().join(".capgo_key_v2.pub")).unwrap();
    p.build("secret-v1");
    p.json(&["upload", "--channel", "production", "--bundle", "1.0.1"]);

    // With the app's key: the manifest's files, decrypted and verified.
    let keyed = |folder: &Path| {
        let cfg = Config {
            public_key: Some(pem.clone()),
            ..config(&s.url)
        };
        Updater::open(cfg, folder).unwrap()
    };
    let folder = tempfile::tempdir().unwrap();
    let up = keyed(folder.path());
    let u = update(&up).await;
    assert!(!u.session_key.is_empty() && !u.manifest.is_empty());
    up.download(&u).await.unwrap();
    let dir = up.start().unwrap().unwrap();
    holds_build(&dir, &p);
    up.notify_app_ready().unwrap();

    // The zip alone (no manifest), encrypted too.
    p.build("secret-v2");
    p.json(&[
        "upload",
        "--channel",
        "production",
        "--bundle",
        "1.0.2",
        "--no-delta",
    ]);
    let u = update(&up).await;
    assert!(u.manifest.is_empty());
    up.download(&u).await.unwrap();
    let dir = up.start().unwrap().unwrap();
    holds_build(&dir, &p);

    // Without the key, the bytes are not what the checksum says: refused, nothing staged.
    let folder = tempfile::tempdir().unwrap();
    let plain = Updater::open(config(&s.url), folder.path()).unwrap();
    let u = update(&plain).await;
    assert!(matches!(plain.download(&u).await, Err(Error::Refused(_))));
    assert_eq!(plain.bundles().next, None);
    plain.start().unwrap();
    assert_eq!(plain.current_dir(), None);
}

/// A proxy in front of `updraft serve` that cuts the first download it relays after
/// `cut` bytes of body, and records the `Range` header of every download.
struct CuttingProxy {
    url: String,
    ranges: Arc<Mutex<Vec<Option<String>>>>,
}

async fn cutting_proxy(cut: usize) -> (CuttingProxy, tokio::sync::oneshot::Sender<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let seen = ranges.clone();
    tokio::spawn(async move {
        let upstream = rx.await.unwrap();
        let upstream = upstream.trim_start_matches("http://").to_string();
        let cuts = Arc::new(Mutex::new(1u32));
        while let Ok((mut client, _)) = listener.accept().await {
            let (upstream, seen, cuts) = (upstream.clone(), seen.clone(), cuts.clone());
            tokio::spawn(async move {
                // One request per connection.
                let Some((head, body)) = updraft_testkit::read_request(&mut client).await else {
                    return;
                };
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                // A device's GET of a bundle: not a device or API route, and not the
                // server's own S3 calls when the proxy stands in front of S3.
                let download = head.starts_with("GET ")
                    && !["/updates", "/stats", "/channel_self", "/v1"]
                        .iter()
                        .any(|p| path.starts_with(p))
                    && !head.to_ascii_lowercase().contains("aws-sdk-rust");
                if download {
                    let range = head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("range")
                            .then(|| v.trim().to_string())
                    });
                    seen.lock().unwrap().push(range);
                }
                // Relay, one request per upstream connection.
                let request = head.replacen("\r\n", "\r\nconnection: close\r\n", 1);
                let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = up.write_all(format!("{request}\r\n\r\n").as_bytes()).await;
                let _ = up.write_all(&body).await;
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer).await;
                let cut_now = download && {
                    let mut left = cuts.lock().unwrap();
                    let now = *left > 0;
                    *left = (*left).saturating_sub(1);
                    now
                };
                if cut_now {
                    let body = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let _ = client.write_all(&answer[..body + cut]).await;
                } else {
                    let _ = client.write_all(&answer).await;
                }
                let _ = client.shutdown().await;
            });
        }
    });
    (CuttingProxy { url, ranges }, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_download_resumes_where_it_stopped() {
    let (proxy, upstream) = cutting_proxy(100_000).await;
    let data = tempfile::tempdir().unwrap();
    // Download URLs name the proxy, so downloads go through it: on the embedded store the
    // proxy stands in front of the server (its public URL), on the AWS store in front of S3
    // (its endpoint: presigned URLs are signed for the proxy's host, which the proxy keeps).
    let (s, device_url) = if on_aws() {
        let s3 = std::env::var("AWS_ENDPOINT_URL_S3").expect("scripts/aws-local sets it");
        upstream.send(s3).unwrap();
        let s = Server::spawn(data.path(), &[], &[("AWS_ENDPOINT_URL_S3", &proxy.url)]);
        let url = s.url.clone();
        (s, url)
    } else {
        let s = Server::start_with(data.path(), &["--public-url", &proxy.url]);
        upstream.send(s.url.clone()).unwrap();
        (s, proxy.url.clone())
    };
    app_with_channel(&s).await;
    // Letters at random: about 60 % after deflate, so the zip is well over the cut.
    let filler: String = noise(0x9E37_79B9, 300_000)
        .iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    let zip = zip_of(&[("index.html", "resumed"), ("big.txt", &filler)]);
    release(&s, "1.0.1", &zip).await;

    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&device_url), folder.path()).unwrap();
    let u = update(&up).await;
    assert!(
        u.url.starts_with(&proxy.url),
        "the download goes through the proxy: {}",
        u.url
    );
    assert!(
        matches!(up.download(&u).await, Err(Error::Http(_))),
        "the cut download fails"
    );
    assert_eq!(up.bundles().next, None);
    // The next attempt (a new check, a fresh signed URL) asks for the rest only.
    let u = update(&up).await;
    let done = up.download(&u).await.unwrap();
    assert!(done.staged);
    assert_eq!(
        done.received,
        zip.len() as u64 - 100_000,
        "only the rest came over the network"
    );
    assert_eq!(
        proxy.ranges.lock().unwrap().clone(),
        vec![None, Some("bytes=100000-".to_string())]
    );
    let dir = up.start().unwrap().unwrap();
    assert_eq!(read(&dir, "index.html"), "resumed");
    assert_eq!(read(&dir, "big.txt"), filler);
}

/// What a crash left must load: builtin, or a complete bundle folder.
fn loadable(folder: &Path) -> Option<String> {
    let state = updraft_device::StateFile::in_dir(folder).load();
    state.current.map(|b| {
        std::fs::read_to_string(folder.join(&b.id).join("index.html"))
            .unwrap_or_else(|e| panic!("the state names {} but it does not load: {e}", b.id))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_at_any_moment_leaves_a_loadable_bundle() {
    // The SDK's example that starts, confirms, checks and downloads in a loop.
    let cycle = bin().parent().unwrap().join("examples/cycle");
    assert!(
        cycle.exists(),
        "{} is missing: `cargo test --workspace` builds the examples",
        cycle.display()
    );
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    app_with_channel(&s).await;
    // Big enough that a kill often lands mid-download or mid-unpack.
    let filler: String = noise(0x2545_f491_4f6c_dd1d, 600_000)
        .iter()
        .map(|b| char::from(b"0123456789abcdef"[(b & 15) as usize]))
        .collect();
    upload_bundle(
        &s,
        APP,
        "1.0.1",
        &zip_of(&[("index.html", "v1"), ("big.txt", &filler)]),
    )
    .await;
    upload_bundle(
        &s,
        APP,
        "1.0.2",
        &zip_of(&[("index.html", "v2"), ("big.txt", &filler)]),
    )
    .await;
    let folder = tempfile::tempdir().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut delay = 7u64;
    for round in 0..24 {
        point(&s, if round % 2 == 0 { "1.0.1" } else { "1.0.2" }).await;
        let mut child = Command::new(&cycle)
            .args([&s.url, APP, DEVICE])
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
        seen.insert(loadable(folder.path()).unwrap_or_else(|| "builtin".into()));
    }
    assert!(
        seen.len() >= 2,
        "the kills never let an update through: {seen:?}"
    );
}
