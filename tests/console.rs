//! The web console in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! which `scripts/test` installs), driven over WebDriver against the real `updraft serve`
//! (embedded store; `UPDRAFT_TEST_STORE=aws`: DynamoDB + S3). Screenshots of the main pages
//! land in `$CARGO_TARGET_DIR/console-screenshots/` (README shows some of them).

mod common;

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// ChromeDriver on a free port and a new headless Chromium session with an empty profile.
async fn browser() -> Browser {
    let driver_bin =
        std::env::var("UPDRAFT_CHROMEDRIVER").unwrap_or("/usr/bin/chromedriver".into());
    let chromium = std::env::var("UPDRAFT_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&driver_bin).exists() && std::path::Path::new(&chromium).exists(),
        "{driver_bin} or {chromium} is missing: run ./scripts/test, which installs Debian's chromium and chromium-driver"
    );
    let port = free_port();
    let driver = Command::new(&driver_bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            // The machine's network is closed: no background requests to Google's hosts.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1280,1000",
                     format!("--user-data-dir={}", profile.path().display())]
        }
    });
    let caps: serde_json::Map<String, Value> = caps.as_object().unwrap().clone();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };
    Browser {
        client,
        driver,
        _profile: profile,
    }
}

fn shots() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// Waits (10 s at most) until the element's text contains `want`; returns the text.
async fn text_of(c: &Client, css: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(want) {
            return text;
        }
        if Instant::now() > deadline {
            let page = c
                .find(Locator::Css("body"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            panic!("`{css}` never showed {want:?}; it shows {text:?}; the page: {page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Finds `css` and acts on it, finding it again if the page re-rendered in between (an action
/// re-renders the page it was taken on; the operator would act on the new element).
async fn on_element<F, Fut>(c: &Client, css: &str, act: F)
where
    F: Fn(Element) -> Fut,
    Fut: Future<Output = Result<(), CmdError>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = c.wait().for_element(Locator::Css(css)).await.unwrap();
        match act(e).await {
            Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => continue,
            r => return r.unwrap(),
        }
    }
}

async fn fill_in(c: &Client, css: &str, value: &str) {
    on_element(c, css, |e| async move {
        e.clear().await?;
        e.send_keys(value).await
    })
    .await;
}

async fn click(c: &Client, css: &str) {
    on_element(c, css, |e| async move { e.click().await }).await;
}

/// Submits the form holding `css`.
async fn submit(c: &Client, css: &str) {
    on_element(c, css, |field| async move {
        let form = field.find(Locator::XPath("./ancestor::form")).await?;
        form.find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await
    })
    .await;
}

/// Chooses `value` in the `<select>` `css`.
async fn choose(c: &Client, css: &str, value: &str) {
    on_element(c, css, |e| async move { e.select_by_value(value).await }).await;
}

async fn sign_in(c: &Client, s: &Server, key: &str) {
    c.goto(&format!("{}/", s.url)).await.unwrap();
    fill_in(c, "#key", key).await;
    submit(c, "#key").await;
    text_of(c, "#who", "·").await;
}

async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_steers_a_release_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path());
    let b = browser().await;
    let c = &b.client;

    // The page is served with its policy; `/` leads to it.
    let page = client()
        .get(format!("{}/console/", s.url))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    // Sign in; create the app and a channel.
    c.goto(&format!("{}/", s.url)).await.unwrap();
    fill_in(c, "#key", "upd_not_a_real_key_0000000000000000").await;
    submit(c, "#key").await;
    text_of(c, "#signin-error", "not valid").await;
    shot(c, "sign-in").await;
    sign_in(c, &s, ADMIN).await;
    fill_in(c, "#new-app-id", APP).await;
    fill_in(c, "#new-app-name", "Console <script>alert('app')</script>").await;
    submit(c, "#new-app-id").await;
    let apps = text_of(c, "main table", APP).await;
    assert!(
        apps.contains("Console <script>alert('app')</script>"),
        "the name is shown as text: {apps}"
    );
    assert!(c.get_alert_text().await.is_err(), "no script ran");
    click(c, &format!("a[href='#/apps/{APP}']")).await;
    fill_in(c, "#new-channel-name", "production").await;
    click(c, "#new-channel-public").await;
    submit(c, "#new-channel-name").await;
    text_of(c, "main", "production").await;

    // A bundle uploaded by the CLI appears.
    let p = Project::new();
    p.json(&["login", ADMIN, "--api-url", &s.url]);
    p.json(&["upload"]);
    c.goto(&format!("{}/console/#/apps/{APP}/bundles", s.url))
        .await
        .unwrap();
    let bundles = text_of(c, "main table", "1.0.1").await;
    assert!(bundles.contains("ready"), "{bundles}");
    shot(c, "bundles").await;

    // Point the channel at it, then roll 1.0.2 out to half the devices.
    c.goto(&format!(
        "{}/console/#/apps/{APP}/channels/production",
        s.url
    ))
    .await
    .unwrap();
    text_of(c, "#serves", "builtin").await;
    choose(c, "#set-bundle", "1.0.1").await;
    submit(c, "#set-bundle").await;
    text_of(c, "#serves", "1.0.1").await;
    p.build("v2");
    p.json(&["upload", "--bundle", "1.0.2"]);
    c.refresh().await.unwrap();
    choose(c, "#rollout-bundle", "1.0.2").await;
    fill_in(c, "#rollout-percent", "50").await;
    submit(c, "#rollout-percent").await;
    text_of(c, "#rollout", "1.0.2 to 50.00 %").await;
    let (status, channel) = admin(
        &s,
        "GET",
        &format!("/v1/apps/{APP}/channels/production"),
        None,
    )
    .await;
    assert_eq!(
        (status, channel["rollout"]["share"].clone()),
        (200, json!(5000))
    );
    // A flag edited from the page reaches the server.
    click(c, "#auto-rollback").await;
    text_of(c, "#notice", "Automatic rollback off").await;
    let (_, channel) = admin(
        &s,
        "GET",
        &format!("/v1/apps/{APP}/channels/production"),
        None,
    )
    .await;
    assert_eq!(channel["auto_rollback"]["enabled"], json!(false));
    shot(c, "channel").await;

    // A device's timeline: a debug session from the console, then a device checks and
    // installs; the page refreshes by itself.
    c.goto(&format!("{}/console/#/apps/{APP}/devices/{DEVICE}", s.url))
        .await
        .unwrap();
    click(c, "#start-debug").await;
    text_of(c, "#debug", "refreshing").await;
    let (st, _) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(st, 200);
    let set = device_body(
        APP,
        json!({"action": "set", "version_name": "1.0.1", "old_version_name": "builtin"}),
    );
    let (st, _) = device(&s, "POST", "/stats", set).await;
    assert_eq!(st, 200);
    let timeline = text_of(c, "#timeline", "set 1.0.1").await;
    assert!(timeline.contains("plugin 8.51"), "{timeline}");
    shot(c, "device").await;

    // A device id with markup in the address is shown as text, and nothing runs.
    c.goto(&format!(
        "{}/console/#/apps/{APP}/devices/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%3Cscript%3Ealert(2)%3C%2Fscript%3E",
        s.url
    ))
    .await
    .unwrap();
    let shown = text_of(c, "#device", "<script>").await;
    assert!(shown.contains("<img src=x onerror=alert(1)>"), "{shown}");
    assert!(c.get_alert_text().await.is_err(), "no script ran");
    assert!(
        !exists(c, "main img").await,
        "no element was made from the id"
    );

    // The overview's charts.
    c.goto(&format!("{}/console/#/apps/{APP}", s.url))
        .await
        .unwrap();
    text_of(c, "section.charts", "Update checks per day").await;
    assert!(exists(c, "svg.chart rect").await, "the charts have bars");
    shot(c, "overview").await;

    // Keys: a read key, created in the console, its secret shown once.
    c.goto(&format!("{}/console/#/keys", s.url)).await.unwrap();
    fill_in(c, "#key-name", "viewer").await;
    choose(c, "#key-mode", "read").await;
    submit(c, "#key-name").await;
    let secret = text_of(c, "#secret", "upd_").await;
    shot(c, "keys").await;

    // Signed in with it, the console shows no control the key may not use.
    click(c, "#sign-out").await;
    sign_in(c, &s, secret.trim()).await;
    text_of(c, "main table", APP).await;
    assert!(
        !exists(c, "#new-app-id").await,
        "a read key cannot create apps"
    );
    assert!(
        exists(c, "[data-needs=all][hidden]").await,
        "no keys page for a read key"
    );
    c.goto(&format!(
        "{}/console/#/apps/{APP}/channels/production",
        s.url
    ))
    .await
    .unwrap();
    text_of(c, "#serves", "1.0.1").await;
    for control in [
        "#set-bundle",
        "#promote",
        "#pause",
        "#abort",
        "#delete-channel",
    ] {
        assert!(!exists(c, control).await, "a read key sees {control}");
    }
    let flags = c.find_all(Locator::Css("#flags input")).await.unwrap();
    assert!(!flags.is_empty());
    for f in flags {
        assert_eq!(f.prop("disabled").await.unwrap().as_deref(), Some("true"));
    }
    shot(c, "read-only-channel").await;

    // The key is revoked elsewhere: the open console signs itself out.
    let (_, keys) = admin(&s, "GET", "/v1/keys", None).await;
    let id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = admin(&s, "DELETE", &format!("/v1/keys/{id}"), None).await;
    assert_eq!(st, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !exists(c, "#key").await {
        assert!(Instant::now() < deadline, "the console never signed out");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    text_of(c, "#signin-error", "Signed out").await;
    let stored: Value = c
        .execute("return sessionStorage.getItem('updraft.key')", vec![])
        .await
        .unwrap();
    assert_eq!(stored, Value::Null, "the key is gone from the tab");
}
