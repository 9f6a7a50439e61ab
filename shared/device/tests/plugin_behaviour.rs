//! The SDK against servers played by the test: the requests and `/stats` sequences it sends
//! equal, field for field, those the plugin's code builds (recorded from its source in
//! `fixtures/plugin-8.51.23.json`, with file and line), for a zip update, a manifest
//! update, failed files and a failed start; and no server answer makes it panic.
//! (Against the real `updraft serve`: `tests/device_sdk.rs` at the workspace root.)

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use updraft_device::{Check, Config, Error, Update, Updater};
use updraft_testkit::zip_of;

const APP: &str = "com.example.desktop";
const DEVICE: &str = "0b0e1d5c-8a45-4c2e-9d0a-5d3f2a1b7c9e";

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/plugin-8.51.23.json")).unwrap()
}

fn config(url: &str) -> Config {
    Config {
        app_ready_timeout: Duration::from_secs(1),
        ..Config::new(url, APP, DEVICE, "1.0.0")
    }
}

/// `len` pseudo-random hex digits (xorshift from `seed`): content deflate cannot shrink
/// much, so a zip of it takes a while to download.
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

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliCompress(
        &mut std::io::Cursor::new(data),
        &mut out,
        &brotli::enc::BrotliEncoderParams::default(),
    )
    .unwrap();
    out
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// A server that records every JSON body it gets: `/updates` answers `update` (with
/// `{url}` replaced by its own address), `/stats` ok, and any path in `files` its bytes
/// (in pieces, with their length, so progress is seen).
async fn recording_server(update: Value, files: HashMap<String, Vec<u8>>) -> (String, Seen) {
    use tokio::io::AsyncWriteExt;
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let update = update.to_string().replace("{url}", &url);
    let files = Arc::new(files);
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (seen, update, files) = (seen2.clone(), update.clone(), files.clone());
            tokio::spawn(async move {
                let Some((head, body)) = updraft_testkit::read_request(&mut sock).await else {
                    return;
                };
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    seen.lock().unwrap().push((path.clone(), v));
                }
                if let Some(bytes) = files.get(&path) {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        bytes.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    for piece in bytes.chunks(bytes.len() / 20 + 1) {
                        let _ = sock.write_all(piece).await;
                        let _ = sock.flush().await;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    return;
                }
                let answer = if path == "/updates" {
                    update
                } else {
                    json!({"status": "ok"}).to_string()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = sock.write_all(format!("{head}{answer}").as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn set_of(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn list_of(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// Checks `actions` against a fixture sequence: each `action` in turn; a `progress` step
/// takes any run of its tenths in increasing order (the plugin skips tenths, never
/// repeats them). The actions after the sequence are returned.
fn follows<'a>(actions: &'a [&'a str], sequence: &Value) -> &'a [&'a str] {
    let mut i = 0;
    for step in sequence.as_array().unwrap() {
        if let Some(tenths) = step.get("progress") {
            let tenths = list_of(tenths);
            let mut last = None;
            while let Some(pos) = actions
                .get(i)
                .and_then(|a| tenths.iter().position(|t| t == a))
            {
                assert!(
                    last.is_none_or(|l| pos > l),
                    "progress repeats or goes back at {i}: {actions:?}"
                );
                last = Some(pos);
                i += 1;
            }
        } else {
            let want = step["action"].as_str().unwrap();
            assert_eq!(
                actions.get(i).copied(),
                Some(want),
                "step {i} of {actions:?} ({})",
                step["from"]
            );
            i += 1;
        }
    }
    &actions[i..]
}

/// The first update check the server got.
fn sent_check(seen: &Seen) -> Value {
    let seen = seen.lock().unwrap();
    let (_, check) = seen.iter().find(|(p, _)| p == "/updates").expect("a check");
    check.clone()
}

/// Every `/stats` event the server got, in order.
fn events(seen: &Seen) -> Vec<Value> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "/stats")
        .flat_map(|(_, v)| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
        .collect()
}

/// Each event has the fields the plugin's code gives that action: the worker's reports
/// fewer than the rest, the launch reports their `metadata` with its keys and source.
fn check_fields(events: &[Value], f: &Value) {
    let worker = set_of(&f["worker_event"]["actions"]);
    for e in events {
        let action = e["action"].as_str().unwrap();
        let launch = &f["launch"]["metadata"][action];
        let mut want = if worker.contains(action) {
            set_of(&f["worker_event"]["fields"])
        } else {
            set_of(&f["stats_event"]["fields"])
        };
        if !launch.is_null() {
            want.insert("metadata".into());
            assert_eq!(keys(&e["metadata"]), set_of(&launch["keys"]), "{e}");
            assert_eq!(e["metadata"]["source"], launch["source"], "{e}");
        }
        assert_eq!(keys(e), want, "the fields of {action}: {e}");
    }
}

/// The `old_version_name` of the event `action` for `version`.
fn left<'a>(events: &'a [Value], action: &str, version: &str) -> &'a str {
    events
        .iter()
        .find(|e| e["action"] == action && e["version_name"] == version)
        .and_then(|e| e["old_version_name"].as_str())
        .unwrap_or_else(|| panic!("no {action} for {version}: {events:?}"))
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_update_and_a_failed_start_are_reported_as_the_plugin_reports_them() {
    let f = fixture();
    let noise = hex_noise(0x9e37_79b9_7f4a_7c15u64, 300_000);
    let zip = zip_of(&[
        ("index.html", "v1"),
        ("noise.txt", &noise),
        ("more.txt", &noise[..100_000]),
    ]);
    let update =
        json!({"version": "1.0.1", "url": "{url}/b.zip", "checksum": sha(&zip), "session_key": ""});
    let size = zip.len() as u64;
    let (url, seen) = recording_server(update, HashMap::from([("/b.zip".into(), zip)])).await;
    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&url), folder.path()).unwrap();
    let Check::Update(u) = up.check().await.unwrap() else {
        panic!("no update")
    };
    let done = up.download(&u).await.unwrap();
    assert!(done.staged && done.received == size, "{done:?}");
    up.start().unwrap();
    up.ready_deadline().unwrap(); // never ready: rolled back
    up.flush_stats().await.unwrap();

    let check = sent_check(&seen);
    assert_eq!(
        keys(&check),
        set_of(&f["update_check"]["fields"]),
        "the update check's fields"
    );
    let events = events(&seen);
    check_fields(&events, &f);
    let actions = actions(&events);
    let rest = follows(&actions, &f["zip_update"]["sequence"]);
    assert_eq!(rest, list_of(&f["failed_start"]["actions"]), "{actions:?}");
    assert_eq!(left(&events, "set", "1.0.1"), "builtin");
    assert!(
        actions.contains(&"download_40"),
        "a long download reports its progress: {actions:?}"
    );
}

/// A manifest of three files: one as it is, one Brotli-compressed, one already in the
/// bundle on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_update_takes_what_it_has_decompresses_and_reports_as_the_plugin() {
    let f = fixture();
    let app_js = format!("function go() {{ {} }}\n", "ready();".repeat(400));
    let vendor = hex_noise(7, 50_000);
    let files = HashMap::from([
        ("/f/index.html".to_string(), b"<p>v2</p>".to_vec()),
        ("/f/app.js.br".to_string(), brotli(app_js.as_bytes())),
        ("/f/vendor.js".to_string(), vendor.as_bytes().to_vec()),
    ]);
    let manifest = json!([
        {"file_name": "index.html", "file_hash": sha(b"<p>v2</p>"), "download_url": "{url}/f/index.html"},
        {"file_name": "js/app.js.br", "file_hash": sha(app_js.as_bytes()), "download_url": "{url}/f/app.js.br"},
        {"file_name": "js/vendor.js", "file_hash": sha(vendor.as_bytes()), "download_url": "{url}/f/vendor.js"},
    ]);
    // The bundle on disk (1.0.1, a zip) already has vendor.js.
    let zip = zip_of(&[("index.html", "<p>v1</p>"), ("js/vendor.js", &vendor)]);
    let mut all = files.clone();
    all.insert("/b.zip".into(), zip.clone());
    let first = json!({"version": "1.0.1", "url": "{url}/b.zip", "checksum": sha(&zip)});
    let (url, _) = recording_server(first, all.clone()).await;
    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&url), folder.path()).unwrap();
    let Check::Update(u) = up.check().await.unwrap() else {
        panic!("no update")
    };
    up.download(&u).await.unwrap();
    up.start().unwrap();
    up.notify_app_ready().unwrap();
    up.flush_stats().await.unwrap();
    drop(up);

    let second = json!({"version": "1.0.2", "url": "{url}/b.zip", "checksum": sha(&zip), "session_key": "", "manifest": manifest});
    let (url, seen) = recording_server(second, all).await;
    let up = Updater::open(config(&url), folder.path()).unwrap();
    let Check::Update(u) = up.check().await.unwrap() else {
        panic!("no update")
    };
    assert_eq!(u.manifest.len(), 3);
    let done = up.download(&u).await.unwrap();
    assert_eq!(
        (done.files_downloaded, done.files_reused),
        (2, 1),
        "vendor.js came from the bundle on disk: {done:?}"
    );
    assert!(
        done.received < 10_000,
        "only the two small files came over the network: {done:?}"
    );
    let dir = up.start().unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("js/app.js")).unwrap(),
        app_js,
        "decompressed, and named without .br"
    );
    assert!(!dir.join("js/app.js.br").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("js/vendor.js")).unwrap(),
        vendor
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("index.html")).unwrap(),
        "<p>v2</p>"
    );
    up.notify_app_ready().unwrap();
    up.flush_stats().await.unwrap();
    let events = events(&seen);
    check_fields(&events, &f);
    let actions = actions(&events);
    let rest = follows(&actions, &f["manifest_update"]["sequence"]);
    assert!(rest.is_empty(), "{actions:?}");
    assert_eq!(left(&events, "set", "1.0.2"), "1.0.1");

    // 1.0.3 never gets ready: the device goes back to 1.0.2, reported as the plugin's
    // reset reports it.
    let v3 = zip_of(&[("index.html", "<p>v3</p>")]);
    let third = json!({"version": "1.0.3", "url": "{url}/v3.zip", "checksum": sha(&v3)});
    let (url, seen) = recording_server(third, HashMap::from([("/v3.zip".into(), v3)])).await;
    let up = Updater::open(config(&url), folder.path()).unwrap();
    let Check::Update(u) = up.check().await.unwrap() else {
        panic!("no update")
    };
    up.download(&u).await.unwrap();
    up.start().unwrap();
    let back = up.ready_deadline().unwrap().expect("rolled back");
    assert_eq!(back, Some(dir));
    up.flush_stats().await.unwrap();
    let later = self::events(&seen);
    check_fields(&later, &f);
    let done = self::actions(&later);
    let mut want = list_of(&f["failed_start"]["actions"]);
    want.extend(list_of(&f["failed_start"]["back_to_a_bundle"]));
    assert_eq!(done[done.len() - want.len()..], want[..], "{done:?}");
    assert_eq!(left(&later, "set", "1.0.2"), "builtin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_does_not_hash_or_decompress_fails_the_download_as_in_the_plugin() {
    let f = fixture();
    for (case, body, name) in [
        ("checksum", b"not the file".to_vec(), "app.js"),
        (
            "brotli",
            b"\xff\xfe not brotli at all".to_vec(),
            "app.js.br",
        ),
    ] {
        let good = b"<p>ok</p>".to_vec();
        let files = HashMap::from([
            (format!("/f/{name}"), body),
            ("/f/index.html".to_string(), good.clone()),
        ]);
        let manifest = json!([
            {"file_name": "index.html", "file_hash": sha(&good), "download_url": "{url}/f/index.html"},
            {"file_name": format!("js/{name}"), "file_hash": sha(b"the real file"), "download_url": format!("{{url}}/f/{name}")},
        ]);
        let update = json!({"version": "2.0.0", "url": "{url}/none.zip", "checksum": sha(b"x"), "manifest": manifest});
        let (url, seen) = recording_server(update, files).await;
        let folder = tempfile::tempdir().unwrap();
        let up = Updater::open(config(&url), folder.path()).unwrap();
        let Check::Update(u) = up.check().await.unwrap() else {
            panic!("no update")
        };
        match up.download(&u).await {
            Err(Error::Bundle(why)) => assert!(why.contains(name), "{case}: {why}"),
            other => panic!("{case}: {other:?}"),
        }
        assert_eq!(up.bundles().next, None, "{case}: nothing staged");
        up.flush_stats().await.unwrap();
        let events = events(&seen);
        check_fields(&events, &f);
        let failures: Vec<(&str, &str)> = events
            .iter()
            .filter(|e| e["action"] != "download_manifest_start" && e["action"] != "download_10")
            .map(|e| {
                (
                    e["action"].as_str().unwrap(),
                    e["version_name"].as_str().unwrap(),
                )
            })
            .filter(|(a, _)| !a.starts_with("download_") || a.ends_with("fail"))
            .collect();
        let want = list_of(&f["failed_manifest_file"][case]);
        assert_eq!(
            failures.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            want,
            "{case}: {events:?}"
        );
        let stripped = name.strip_suffix(".br").unwrap_or(name);
        assert_eq!(
            failures[0].1,
            format!("2.0.0:{stripped}"),
            "the file's own name"
        );
        assert_eq!(
            failures[1].1,
            format!("2.0.0:js/{name}"),
            "the manifest's name"
        );
        assert_eq!(failures[2].1, "2.0.0");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_public_key_checks_carry_its_id_and_a_plain_bundle_is_refused() {
    let f = fixture();
    let key = updraft_crypto::generate().unwrap();
    let pem = updraft_crypto::public_pem(&updraft_crypto::RsaPublicKey::from(&key)).unwrap();
    let zip = zip_of(&[("index.html", "plain")]);
    let update =
        json!({"version": "1.0.1", "url": "{url}/b.zip", "checksum": sha(&zip), "session_key": ""});
    let (url, seen) = recording_server(update, HashMap::from([("/b.zip".into(), zip)])).await;
    let folder = tempfile::tempdir().unwrap();
    let cfg = Config {
        public_key: Some(pem.clone()),
        ..config(&url)
    };
    let up = Updater::open(cfg, folder.path()).unwrap();
    let Check::Update(u) = up.check().await.unwrap() else {
        panic!("no update")
    };
    assert!(matches!(up.download(&u).await, Err(Error::Bundle(_))));
    assert_eq!(up.bundles().next, None);
    up.flush_stats().await.unwrap();
    let check = sent_check(&seen);
    let mut want = set_of(&f["update_check"]["fields"]);
    want.insert("key_id".into());
    assert_eq!(keys(&check), want);
    assert_eq!(check["key_id"], updraft_crypto::key_id(&pem));
    let events = events(&seen);
    assert_eq!(actions(&events), ["session_key_required"]);
    assert_eq!(events[0]["key_id"], updraft_crypto::key_id(&pem));

    // Not a public key at all: refused when the updater opens, with the reason.
    let bad = Config {
        public_key: Some("-----BEGIN RSA PUBLIC KEY-----\nnope\n".into()),
        ..config(&url)
    };
    match Updater::open(bad, folder.path()) {
        Err(Error::Config(why)) => assert!(why.contains("public key"), "{why}"),
        other => panic!("{:?}", other.err()),
    }
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
        "HTTP/1.1 200 OK\r\ncontent-length: 57\r\nconnection: close\r\n\r\n{\"version\":\"1\",\"url\":\"u\",\"checksum\":\"c\",\"manifest\":\"no\"}",
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
    let zip = Update::zip("9.9.9", &format!("{url}/b.zip"), &sha(b"zip"));
    assert!(
        matches!(up.download(&zip).await, Err(Error::Zip(_))),
        "a body that is not a zip"
    );
    // A manifest whose paths leave the bundle folder: nothing is downloaded.
    let mut evil = zip.clone();
    evil.manifest = vec![updraft_device::ManifestFile {
        file_name: "../../.bashrc".into(),
        file_hash: sha(b"x"),
        download_url: format!("{url}/x"),
    }];
    assert!(matches!(up.download(&evil).await, Err(Error::Bundle(_))));
    // More bytes than allowed: cut off.
    let small = Updater::open(
        Config {
            max_bundle_bytes: 2,
            ..config(&url)
        },
        folder.path(),
    )
    .unwrap();
    assert!(matches!(small.download(&zip).await, Err(Error::Bundle(_))));
    assert_eq!(up.bundles().next, None);
    assert!(!folder.path().join("../.bashrc").exists());
}

/// A server whose `/updates` answers `429` with `Retry-After: 1`, counting the checks it
/// gets and recording what `/stats` gets.
async fn throttling_server() -> (String, Arc<Mutex<usize>>, Seen) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (checks, seen): (Arc<Mutex<usize>>, Seen) = Default::default();
    let (c, s) = (checks.clone(), seen.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (checks, seen) = (c.clone(), s.clone());
            tokio::spawn(async move {
                let Some((head, body)) = updraft_testkit::read_request(&mut sock).await else {
                    return;
                };
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let answer = if path == "/updates" {
                    *checks.lock().unwrap() += 1;
                    let body = r#"{"error":"too_many_requests","message":"slow down"}"#;
                    format!(
                        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        seen.lock().unwrap().push((path, v));
                    }
                    "HTTP/1.1 200 OK\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"status\":\"ok\"}".to_string()
                };
                let _ = sock.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, checks, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_checks_and_reports_until_its_retry_after_as_in_the_plugin() {
    let f = fixture();
    let (url, checks, seen) = throttling_server().await;
    let folder = tempfile::tempdir().unwrap();
    let up = Updater::open(config(&url), folder.path()).unwrap();
    up.start().unwrap(); // a report waiting: app_launch_start
    let refused = |r: Result<Check, Error>| match r {
        Err(Error::Server { status, error, .. }) => (status, error),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(up.check().await),
        (429, "too_many_requests".to_string())
    );
    // Blocked: the next check fails without a request, and the reports wait.
    assert_eq!(
        refused(up.check().await),
        (429, "too_many_requests".to_string())
    );
    assert_eq!(up.flush_stats().await.unwrap(), 0);
    assert_eq!(*checks.lock().unwrap(), 1, "one check reached the server");
    // The 429 itself was reported once, in its own request, shaped as the plugin shapes it.
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let event = &got[0].1;
    assert!(event.is_object(), "one object, not a batch: {event}");
    assert_eq!(event["action"], f["rate_limited"]["action"]);
    assert_eq!(keys(event), set_of(&f["rate_limited"]["fields"]), "{event}");

    // After Retry-After: checks go out again; a second 429 is not reported again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(refused(up.check().await).0, 429);
    assert_eq!(*checks.lock().unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(up.flush_stats().await.unwrap(), 1, "the waiting report");
    let actions: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, v)| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(actions, ["rate_limit_reached", "app_launch_start"]);
}
