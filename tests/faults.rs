//! Faults, caused for real: storage servers that hang or die under a running `updraft serve`,
//! and `updraft serve` itself killed with SIGKILL in the middle of writes.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// A local storage server this test owns, so stopping it disturbs no other test.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
    fn signal(&self, sig: &str) {
        assert!(
            Command::new("kill")
                .args([sig, &self.pid()])
                .status()
                .unwrap()
                .success()
        );
    }
    fn kill9(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tool(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: run the tests through scripts/test (it sources scripts/aws-local)"
        )
    })
}

async fn wait_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on {port} after 20 s");
}

async fn start_moto(port: u16) -> Proc {
    let child = Command::new(tool("UPDRAFT_MOTO_SERVER"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port).await;
    Proc(child)
}

async fn start_s3s(port: u16, dir: &Path) -> Proc {
    let child = Command::new(tool("UPDRAFT_S3S_FS"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", &tool("AWS_ACCESS_KEY_ID")])
        .args(["--secret-key", &tool("AWS_SECRET_ACCESS_KEY")])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port).await;
    Proc(child)
}

async fn check(s: &Server) -> (u16, Option<u64>, Value) {
    call_full(
        "POST",
        &format!("{}/updates", s.url),
        None,
        Some(device_body(APP, json!({}))),
    )
    .await
}

/// A fault of storage is a 503 with `Retry-After`, never a 500 (the plugin retries 5xx at
/// once and forever; Retry-After spaces the retries out).
fn assert_unavailable((status, retry, body): (u16, Option<u64>, Value), what: &str) {
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(body["error"], "service_unavailable", "{what}: {body}");
    assert!(
        retry.is_some_and(|r| r >= 1),
        "{what}: Retry-After {retry:?}"
    );
}

async fn until_ok(s: &Server) -> Value {
    for _ in 0..40 {
        let (st, _, body) = check(s).await;
        if st == 200 {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("update checks did not recover within 10 s");
}

async fn seed_app(s: &Server, bytes: &[u8]) {
    let (st, body) = admin(s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    assert_eq!(st, 201, "{body}");
    upload_bundle(s, APP, "1.1.0", bytes).await;
    let (st, body) = admin(
        s,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        Some(json!({"name": "production", "public": true, "bundle": "1.1.0"})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_that_hangs_or_dies_answers_503_with_retry_after_and_recovers() {
    let (moto_port, s3_port) = (free_port(), free_port());
    let s3_dir = tempfile::tempdir().unwrap();
    let moto = start_moto(moto_port).await;
    let s3s = start_s3s(s3_port, s3_dir.path()).await;
    let data = tempfile::tempdir().unwrap();
    let dynamo_url = format!("http://127.0.0.1:{moto_port}");
    let s3_url = format!("http://127.0.0.1:{s3_port}");
    let s = Server::spawn(
        data.path(),
        &["--store", "aws", "--create-resources"],
        &[
            ("AWS_ENDPOINT_URL_DYNAMODB", &dynamo_url),
            ("AWS_ENDPOINT_URL_S3", &s3_url),
            ("UPDRAFT_S3_FORCE_PATH_STYLE", "true"),
            ("UPDRAFT_TABLE", "updraft-faults"),
            ("UPDRAFT_BUCKET", "updraft-faults"),
            // Every check reads storage, and a hung call gives up quickly.
            ("UPDRAFT_VIEW_TTL_MS", "0"),
            ("UPDRAFT_DYNAMODB_TIMEOUT_MS", "1500"),
        ],
    );
    let first = payload(1, 50_000);
    seed_app(&s, &first).await;
    assert_eq!(check(&s).await.2["version"], "1.1.0");

    // DynamoDB hangs (process stopped): devices get 503 + Retry-After, not a hung request.
    moto.signal("-STOP");
    assert_unavailable(check(&s).await, "check while DynamoDB hangs");
    let stats = json!({"action": "app_moved_to_foreground"});
    let mut event = device_body(APP, json!({}));
    event
        .as_object_mut()
        .unwrap()
        .extend(stats.as_object().unwrap().clone());
    assert_unavailable(
        call_full("POST", &format!("{}/stats", s.url), None, Some(event)).await,
        "stats while DynamoDB hangs",
    );
    moto.signal("-CONT");
    // It comes back, with everything it held: no restart of updraft serve needed.
    assert_eq!(until_ok(&s).await["version"], "1.1.0");

    // S3 dies between registration and finalize: finalize says 503, the bundle stays
    // pending (never offered), and devices keep getting the current one meanwhile.
    s3s.kill9();
    let next = payload(2, 60_000);
    let (st, reg) = register_bundle(&s, APP, "1.2.0", &next).await;
    assert_eq!(st, 201, "{reg}");
    assert!(put_upload(&reg["upload"], next.clone()).await.is_err());
    let finalize = format!("{}/v1/apps/{APP}/bundles/1.2.0/finalize", s.url);
    assert_unavailable(
        call_full("POST", &finalize, Some(ADMIN), None).await,
        "finalize while S3 is down",
    );
    let (_, b) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles/1.2.0"), None).await;
    assert_eq!(b["status"], "pending", "{b}");
    let (st, _, body) = check(&s).await;
    assert_eq!(
        (st, body["version"].as_str()),
        (200, Some("1.1.0")),
        "{body}"
    );

    // S3 returns on the same disk: the same ticket uploads and finalize succeeds.
    let _s3s = start_s3s(s3_port, s3_dir.path()).await;
    let put = put_upload(&reg["upload"], next.clone()).await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let (st, _, fin) = call_full("POST", &finalize, Some(ADMIN), None).await;
    assert_eq!((st, fin["status"].as_str()), (200, Some("ready")), "{fin}");

    // DynamoDB dies: reads and writes answer 503 promptly, the API stays JSON.
    moto.kill9();
    assert_unavailable(check(&s).await, "check with DynamoDB gone");
    assert_unavailable(
        call_full(
            "PATCH",
            &format!("{}/v1/apps/{APP}/channels/production", s.url),
            Some(ADMIN),
            Some(json!({"bundle": "1.2.0"})),
        )
        .await,
        "channel write with DynamoDB gone",
    );
}

/// Starts a PUT of `bytes` to an upload ticket and sends only the first `sent` bytes.
async fn partial_put(ticket: &Value, bytes: &[u8], sent: usize) -> tokio::net::TcpStream {
    let url = reqwest::Url::parse(ticket["url"].as_str().unwrap()).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut head = format!(
        "PUT {}?{} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n",
        url.path(),
        url.query().unwrap_or(""),
        bytes.len()
    );
    for (k, v) in ticket["headers"].as_object().into_iter().flatten() {
        if k != "content-length" {
            head.push_str(&format!("{k}: {}\r\n", v.as_str().unwrap()));
        }
    }
    head.push_str("\r\n");
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&bytes[..sent]).await.unwrap();
    conn.flush().await.unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_an_upload_and_stats_bursts_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let first = payload(3, 200_000);
    seed_app(&s, &first).await;

    // Bursts of stats batches from many devices, running when the process dies.
    let stats_url = format!("{}/stats", s.url);
    let burst = tokio::spawn(async move {
        let mut sent = 0u32;
        for round in 0u32.. {
            let batch: Vec<Value> = (0..100u32)
                .map(|i| {
                    device_body(
                        APP,
                        json!({
                            "device_id": format!("00000000-0000-4000-8000-{:012x}", round * 100 + i),
                            "action": if i % 2 == 0 { "set" } else { "download_complete" },
                            "version_name": "1.1.0",
                        }),
                    )
                })
                .collect();
            match client().post(&stats_url).json(&batch).send().await {
                Ok(r) if r.status() == 200 => sent += 1,
                Ok(r) => panic!("a stats batch answered {}", r.status()),
                Err(_) => break,
            }
        }
        sent
    });

    // An upload halfway through its bytes.
    let next = payload(4, 4 * 1024 * 1024);
    let (st, reg) = register_bundle(&s, APP, "1.2.0", &next).await;
    assert_eq!(st, 201, "{reg}");
    let _conn = partial_put(&reg["upload"], &next, next.len() / 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.kill9();
    let batches = burst.await.unwrap();
    assert!(batches > 0, "the burst was running when the process died");

    // The database is whole.
    {
        let db = rusqlite::Connection::open(data.path().join("updraft.db")).unwrap();
        let verdict: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(verdict, "ok");
    }

    // Restarted on the same data dir: every ready bundle downloads as its exact bytes, the
    // interrupted one is not ready and finalize refuses its partial bytes.
    let s = Server::start(data.path());
    let (st, list) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles"), None).await;
    assert_eq!(st, 200, "{list}");
    for b in list.as_array().unwrap() {
        match b["version"].as_str().unwrap() {
            "1.1.0" => assert_eq!(b["status"], "ready", "{b}"),
            "1.2.0" => assert_eq!(b["status"], "pending", "{b}"),
            other => panic!("unexpected bundle {other}"),
        }
    }
    let (st, fin) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/bundles/1.2.0/finalize"),
        None,
    )
    .await;
    assert!(
        (400..500).contains(&st),
        "finalize of partial bytes: {st} {fin}"
    );
    let (_, upd) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(upd["version"], "1.1.0", "{upd}");
    let got = client()
        .get(upd["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().to_vec(), first);
    let (st, stats) = admin(&s, "GET", &format!("/v1/apps/{APP}/stats"), None).await;
    assert_eq!(st, 200, "{stats}");

    // The interrupted upload is retried from the start (registering the same content again
    // answers 200 with a fresh ticket) and ships.
    let (st, again) = register_bundle(&s, APP, "1.2.0", &next).await;
    assert_eq!(
        (st, again["status"].as_str()),
        (200, Some("pending")),
        "{again}"
    );
    let put = put_upload(&again["upload"], next.clone()).await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let (st, fin) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/bundles/1.2.0/finalize"),
        None,
    )
    .await;
    assert_eq!((st, fin["status"].as_str()), (200, Some("ready")), "{fin}");
    let (st, ch) = admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}/channels/production"),
        Some(json!({"bundle": "1.2.0"})),
    )
    .await;
    assert_eq!(st, 200, "{ch}");
    let (_, upd) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(upd["version"], "1.2.0", "{upd}");
    let got = client()
        .get(upd["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&got.bytes().await.unwrap()), sha256_hex(&next));
}
