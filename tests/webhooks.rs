//! Release webhooks end to end: a real receiver over HTTP, signatures checked independently,
//! retries, and refusals of URLs into the server's own network.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Delivery {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Delivery {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on 127.0.0.1 that answers each request with the next status of
/// `statuses` (then 200), and keeps what it got.
async fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            let Some((head, body)) = updraft_testkit::read_request(&mut conn).await else {
                continue;
            };
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            seen.lock().unwrap().push(Delivery { headers, body });
            let status = statuses.next().unwrap_or(200);
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = conn.write_all(answer.as_bytes()).await;
        }
    });
    (url, got)
}

/// Waits (polling, up to 30 s) until the receiver holds `n` deliveries.
async fn deliveries(got: &Arc<Mutex<Vec<Delivery>>>, n: usize) -> Vec<Delivery> {
    for _ in 0..300 {
        let now = got.lock().unwrap().clone();
        if now.len() >= n {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{n} deliveries expected, got {:?}", got.lock().unwrap());
}

fn signed_by(secret: &str, d: &Delivery) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(d.header("x-updraft-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&d.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    d.header("x-updraft-signature") == want
}

async fn app_with_two_bundles(s: &Server) -> String {
    admin(s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    upload_bundle(s, APP, "1.0.1", &payload(1, 300)).await;
    upload_bundle(s, APP, "1.1.0", &payload(2, 300)).await;
    let channels = format!("/v1/apps/{APP}/channels");
    let (st, _) = admin(
        s,
        "POST",
        &channels,
        Some(json!({"name": "production", "public": true, "bundle": "1.0.1"})),
    )
    .await;
    assert_eq!(st, 201);
    format!("{channels}/production")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_and_automatic_rollbacks_are_announced_signed_and_retried() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::spawn(data.path(), &[], &[("UPDRAFT_WEBHOOK_ALLOW_PRIVATE", "1")]);
    let path = app_with_two_bundles(&s).await;
    // The receiver refuses the first delivery: the server tries again.
    let (url, got) = receiver(vec![500]).await;
    let (st, app) = admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}"),
        Some(json!({"webhook": url})),
    )
    .await;
    assert_eq!(st, 200, "{app}");
    let secret = app["webhook"]["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{app}");
    // Shown once: reads never carry it.
    let (_, read) = admin(&s, "GET", &format!("/v1/apps/{APP}"), None).await;
    assert_eq!(read["webhook"], json!({"url": url}));
    let (_, list) = admin(&s, "GET", "/v1/apps", None).await;
    assert_eq!(list[0]["webhook"], json!({"url": url}));

    let (st, _) = admin(
        &s,
        "POST",
        &format!("{path}/rollout"),
        Some(json!({"bundle": "1.1.0", "share": 2500})),
    )
    .await;
    assert_eq!(st, 200);
    let two = deliveries(&got, 2).await;
    let (first, retry) = (&two[0], &two[1]);
    for d in [first, retry] {
        assert!(signed_by(&secret, d), "{d:?}");
        assert_eq!(d.header("x-updraft-event"), "channel.changed");
        assert_eq!(d.header("content-type"), "application/json");
    }
    assert_eq!(first.body, retry.body, "a retry sends the same event");
    assert_eq!(
        first.header("x-updraft-delivery"),
        retry.header("x-updraft-delivery")
    );
    let event = first.json();
    assert_eq!(
        (event["app_id"].as_str(), event["channel"].as_str()),
        (Some(APP), Some("production"))
    );
    assert_eq!(event["change"]["kind"], "rollout_started");
    assert_eq!(event["change"]["rollout_after"]["share"], 2500);
    // A body altered on the way no longer matches its signature.
    let mut forged = first.clone();
    forged.body = serde_json::to_vec(&json!({"event": "channel.changed"})).unwrap();
    assert!(!signed_by(&secret, &forged));

    // Devices that fail to start the rollout's bundle: the rollback is announced too.
    let events: Vec<Value> = (0..6)
        .flat_map(|i| {
            let id = format!("6aab1f2b-6b2a-4f4c-9d4b-{i:012}");
            ["set", "update_fail"].map(|action| {
                device_body(
                    APP,
                    json!({"device_id": id, "action": action, "version_name": "1.1.0"}),
                )
            })
        })
        .collect();
    let (st, _) = device(&s, "POST", "/stats", Value::Array(events)).await;
    assert_eq!(st, 200);
    let all = deliveries(&got, 3).await;
    let rollback = all[2].json();
    assert!(signed_by(&secret, &all[2]));
    assert_eq!(rollback["change"]["kind"], "auto_rolled_back");
    assert_eq!(rollback["change"]["by"], "auto-rollback");
    assert!(rollback["change"]["health"]["failures"].as_u64().unwrap() >= 5);
    assert_ne!(
        all[2].header("x-updraft-delivery"),
        first.header("x-updraft-delivery")
    );

    // Removed: nothing more is sent.
    let (st, app) = admin(
        &s,
        "PATCH",
        &format!("/v1/apps/{APP}"),
        Some(json!({"webhook": null})),
    )
    .await;
    assert_eq!((st, &app["webhook"]), (200, &Value::Null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_into_the_servers_own_network_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    app_with_two_bundles(&s).await;
    let app_path = format!("/v1/apps/{APP}");
    let (_, before) = admin(&s, "GET", &app_path, None).await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://10.0.0.7/hook",
        "http://hooks.example.com/hook",
        "https://user:pw@hooks.example.com/hook",
        "not a url",
    ] {
        let (st, v) = admin(&s, "PATCH", &app_path, Some(json!({"webhook": url}))).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (400, Some("invalid_webhook")),
            "{url}: {v}"
        );
        let (_, now) = admin(&s, "GET", &app_path, None).await;
        assert_eq!(now, before, "{url} changed the app");
    }
    // A public https URL is fine (nothing is sent until a channel changes).
    let (st, v) = admin(
        &s,
        "PATCH",
        &app_path,
        Some(json!({"webhook": "https://hooks.example.com/updraft"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    // The CLI prints the new secret once, and says why a bad URL is refused.
    let p = Project::new();
    p.json(&["login", ADMIN, "--api-url", &s.url]);
    let out = p.run(&[
        "app",
        "set",
        APP,
        "--webhook",
        "https://hooks.example.com/v2",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("shown only now") && text.contains("whsec_"),
        "{text}"
    );
    let why = p.fails(&["app", "set", APP, "--webhook", "https://10.0.0.7/x"]);
    assert!(why.contains("not a public address"), "{why}");
    let cleared = p.json(&["app", "set", APP, "--no-webhook"]);
    assert_eq!(cleared["webhook"], Value::Null);
    // Only a key of mode `all` may set one (it receives the secret).
    let (_, key) = admin(
        &s,
        "POST",
        "/v1/keys",
        Some(json!({"name": "w", "mode": "write", "apps": [APP]})),
    )
    .await;
    let (st, _) = call(
        "PATCH",
        &format!("{}{app_path}", s.url),
        key["key"].as_str(),
        Some(json!({"webhook": "https://other.example.com/x"})),
    )
    .await;
    assert_eq!(st, 403);
}
