//! Staged rollouts end to end: the real CLI against a real `updraft serve`, devices over HTTP.

mod common;

use common::*;
use serde_json::{Value, json};

fn device_id(i: usize) -> String {
    format!(
        "{:08x}-0000-4000-8000-{i:012x}",
        i * 2_654_435_761 % (1 << 32)
    )
}

/// What each of `n` devices running `running` is offered: a version, or the refusal code.
async fn offers(s: &Server, n: usize, running: &str) -> Vec<String> {
    // One client (and connection) for all of them.
    let http = client();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let body = device_body(
            APP,
            json!({"device_id": device_id(i), "version_name": running}),
        );
        let resp = http
            .post(format!("{}/updates", s.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, _, v) = answer_json(resp).await;
        assert_eq!(status, 200, "{v}");
        out.push(
            v["version"]
                .as_str()
                .or(v["error"].as_str())
                .unwrap()
                .to_string(),
        );
    }
    out
}

/// Whether `k` of `n` devices is what a share `p` gives, within 4.5 standard deviations
/// (a random rollout id draws the cohort anew each run: a tighter bound fails now and then
/// by chance; this one about once in 150,000 runs).
fn within(k: usize, n: usize, p: f64) -> bool {
    let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    (k as f64 - mean).abs() <= 4.5 * sd
}

fn count(offers: &[String], version: &str) -> usize {
    offers.iter().filter(|v| *v == version).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_rollout_grows_pauses_is_promoted_and_rolled_back() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = Project::with_app(&s);
    p.json(&["upload", "--bundle", "1.0.1", "--channel", "production"]);

    // 1.1.0 to 10 % of the channel: the stable bundle stays for the rest.
    p.build("v2");
    let up = p.json(&[
        "upload",
        "--bundle",
        "1.1.0",
        "--channel",
        "production",
        "--rollout",
        "10",
    ]);
    assert_eq!(up["channel"]["bundle"], "1.0.1");
    assert_eq!(up["channel"]["rollout"]["bundle"], "1.1.0");
    assert_eq!(up["channel"]["rollout"]["share"], 1000);
    // Fewer on DynamoDB: moto writes each check's bookkeeping far slower than devices check.
    let n = if on_aws() { 250 } else { 1000 };
    let few = n / 5;
    let at_10 = offers(&s, n, "builtin").await;
    let target = count(&at_10, "1.1.0");
    assert_eq!(target + count(&at_10, "1.0.1"), n);
    assert!(within(target, n, 0.10), "{target} of {n} at 10 %");
    // Sticky: the same devices get the same answer again.
    assert_eq!(offers(&s, n, "builtin").await, at_10);

    // Raised to 50 %: only devices are added.
    let c = p.json(&["channel", "rollout", "production", "--percent", "50"]);
    assert_eq!(c["rollout"]["share"], 5000);
    let at_50 = offers(&s, n, "builtin").await;
    for (before, after) in at_10.iter().zip(&at_50) {
        assert!(
            before != "1.1.0" || after == "1.1.0",
            "a device left the cohort"
        );
    }
    let target = count(&at_50, "1.1.0");
    assert!(within(target, n, 0.50), "{target} of {n} at 50 %");

    // Paused: nobody new joins; devices already on 1.1.0 keep it.
    let c = p.json(&["channel", "rollout", "production", "--pause"]);
    assert_eq!(c["rollout"]["paused"], true);
    assert_eq!(count(&offers(&s, few, "builtin").await, "1.1.0"), 0);
    let on_target = offers(&s, few, "1.1.0").await;
    assert_eq!(count(&on_target, "no_new_version_available"), few);
    p.json(&["channel", "rollout", "production", "--resume"]);

    // Promoted: every device gets it, the rollout is over.
    let c = p.json(&["channel", "promote", "production"]);
    assert_eq!(
        (c["bundle"].as_str(), &c["rollout"]),
        (Some("1.1.0"), &Value::Null)
    );
    assert_eq!(count(&offers(&s, few, "builtin").await, "1.1.0"), few);

    // Rolled back: the previous bundle again, and 1.1.0 is marked.
    let c = p.json(&["channel", "rollback", "production"]);
    assert_eq!(c["bundle"], "1.0.1");
    assert_eq!(c["rolled_back"], json!(["1.1.0"]));
    assert_eq!(count(&offers(&s, few, "1.1.0").await, "1.0.1"), few);
    let why = p.fails(&[
        "channel",
        "rollout",
        "production",
        "--bundle",
        "1.1.0",
        "--percent",
        "5",
    ]);
    assert!(
        why.contains("rolled back") && why.contains("--repromote"),
        "{why}"
    );
    let c = p.json(&[
        "channel",
        "rollout",
        "production",
        "--bundle",
        "1.1.0",
        "--percent",
        "5",
        "--repromote",
    ]);
    assert_eq!(c["rollout"]["share"], 500);
    assert_eq!(c["rolled_back"], Value::Null);

    // Aborting the rollout sends its devices back to the stable bundle.
    let c = p.json(&["channel", "rollback", "production"]);
    assert_eq!(
        (c["bundle"].as_str(), &c["rollout"]),
        (Some("1.0.1"), &Value::Null)
    );
    assert_eq!(count(&offers(&s, few, "1.1.0").await, "1.0.1"), few);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rollout_requests_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    upload_bundle(&s, APP, "1.0.1", &payload(1, 300)).await;
    upload_bundle(&s, APP, "1.1.0", &payload(2, 300)).await;
    register_bundle(&s, APP, "1.2.0", &payload(3, 300)).await;
    let channels = format!("/v1/apps/{APP}/channels");
    let (status, _) = admin(
        &s,
        "POST",
        &channels,
        Some(json!({"name": "production", "public": true, "bundle": "1.0.1"})),
    )
    .await;
    assert_eq!(status, 201);
    let path = format!("{channels}/production");
    let (_, before) = admin(&s, "GET", &path, None).await;

    let cases = [
        (
            "POST",
            "rollout",
            json!({"bundle": "1.1.0", "share": 10001}),
            400,
            "invalid_share",
        ),
        (
            "POST",
            "rollout",
            json!({"bundle": "1.1.0", "share": -1}),
            400,
            "invalid_json_body",
        ),
        (
            "POST",
            "rollout",
            json!({"bundle": "9.9.9", "share": 10}),
            404,
            "not_found",
        ),
        (
            "POST",
            "rollout",
            json!({"bundle": "1.2.0", "share": 10}),
            409,
            "bundle_not_ready",
        ),
        (
            "POST",
            "rollout",
            json!({"bundle": "1.0.1", "share": 10}),
            409,
            "invalid_version",
        ),
        (
            "POST",
            "rollout",
            json!({"bundle": "builtin", "share": 10}),
            400,
            "invalid_version",
        ),
        (
            "POST",
            "rollout",
            json!({"bundle": "1.1.0", "share": 10, "x": 1}),
            400,
            "invalid_json_body",
        ),
        ("PATCH", "rollout", json!({"share": 20}), 409, "no_rollout"),
        ("POST", "promote", json!({}), 409, "no_rollout"),
        (
            "POST",
            "rollback",
            json!({}),
            409,
            "nothing_to_roll_back_to",
        ),
    ];
    for (method, tail, body, want_status, want_code) in cases {
        let (status, v) = admin(&s, method, &format!("{path}/{tail}"), Some(body.clone())).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (want_status, Some(want_code)),
            "{method} {tail} {body}: {v}"
        );
        let (_, now) = admin(&s, "GET", &path, None).await;
        assert_eq!(now, before, "{method} {tail} {body} changed the channel");
    }
    // A rolled-back bundle is refused until re-promoted explicitly, and the refusal
    // changes nothing.
    let (st, _) = admin(
        &s,
        "POST",
        &format!("{path}/rollout"),
        Some(json!({"bundle": "1.1.0", "share": 10})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = admin(&s, "POST", &format!("{path}/rollback"), None).await;
    assert_eq!(st, 200);
    let (_, marked) = admin(&s, "GET", &path, None).await;
    assert_eq!(marked["rolled_back"], json!(["1.1.0"]));
    for (method, tail, body) in [
        ("POST", "/rollout", json!({"bundle": "1.1.0", "share": 10})),
        ("PATCH", "", json!({"bundle": "1.1.0"})),
    ] {
        let (st, v) = admin(&s, method, &format!("{path}{tail}"), Some(body)).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (409, Some("bundle_rolled_back")),
            "{method} {tail}: {v}"
        );
        let (_, now) = admin(&s, "GET", &path, None).await;
        assert_eq!(now, marked);
    }
    let (status, v) = admin(
        &s,
        "PATCH",
        &path,
        Some(json!({"auto_rollback": {"threshold": 0}})),
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_auto_rollback"))
    );

    // The CLI checks a percentage before it sends anything.
    let p = Project::new();
    p.json(&["login", ADMIN, "--api-url", &s.url]);
    let why = p.fails(&[
        "channel",
        "rollout",
        "production",
        "--bundle",
        "1.1.0",
        "--percent",
        "150",
    ]);
    assert!(why.contains("0 to 100 percent"), "{why}");
    let why = p.fails(&["channel", "rollout", "production"]);
    assert!(why.contains("nothing to change"), "{why}");
    let (_, now) = admin(&s, "GET", &path, None).await;
    assert_eq!(now, marked);
}

/// Events as the plugin reports them, from device `i`, for `version`.
fn report(i: usize, action: &str, version: &str) -> Value {
    device_body(
        APP,
        json!({"device_id": device_id(i), "action": action, "version_name": version}),
    )
}

async fn post_stats(s: &Server, events: Vec<Value>) {
    for chunk in events.chunks(200) {
        let (status, v) = device(s, "POST", "/stats", Value::Array(chunk.to_vec())).await;
        assert_eq!(status, 200, "{v}");
        assert!(
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "ok"),
            "{v}"
        );
    }
}

/// An app whose public `production` channel served 1.0.1 and now serves 1.1.0.
async fn released(s: &Server) -> String {
    admin(s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    upload_bundle(s, APP, "1.0.1", &payload(1, 300)).await;
    upload_bundle(s, APP, "1.1.0", &payload(2, 300)).await;
    let channels = format!("/v1/apps/{APP}/channels");
    admin(
        s,
        "POST",
        &channels,
        Some(json!({"name": "production", "public": true, "bundle": "1.0.1"})),
    )
    .await;
    let path = format!("{channels}/production");
    let (status, _) = admin(s, "PATCH", &path, Some(json!({"bundle": "1.1.0"}))).await;
    assert_eq!(status, 200);
    path
}

/// Waits (polling, up to 30 s) until the channel no longer serves `version`.
async fn until_not_served(s: &Server, path: &str, version: &str) -> Value {
    for _ in 0..300 {
        let (_, c) = admin(s, "GET", path, None).await;
        if c["bundle"] != version && c["rollout"]["bundle"] != version {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{version} was not rolled back");
}

/// Waits (polling, up to 30 s) until the channel's status counts `installs` installs of the
/// version it serves, and answers the status.
async fn until_counted(s: &Server, path: &str, installs: usize) -> Value {
    for _ in 0..300 {
        let (_, status) = admin(s, "GET", &format!("{path}/status"), None).await;
        if status["health"][0]["installs"] == installs {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{installs} installs were never counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_fails_on_start_is_rolled_back_automatically() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let path = released(&s).await;
    let n = 300;
    assert_eq!(count(&offers(&s, n, "builtin").await, "1.1.0"), n);

    // Every device installs it and fails to start it, as the plugin reports that.
    for i in 0..n {
        post_stats(
            &s,
            vec![report(i, "set", "1.1.0"), report(i, "update_fail", "1.1.0")],
        )
        .await;
        let (_, c) = admin(&s, "GET", &path, None).await;
        if c["bundle"] != "1.1.0" {
            break;
        }
    }
    let c = until_not_served(&s, &path, "1.1.0").await;
    assert_eq!(c["bundle"], "1.0.1");
    assert_eq!(c["rolled_back"], json!(["1.1.0"]));
    // Devices get the previous bundle on their next check, 1.1.0 included.
    assert_eq!(count(&offers(&s, n, "1.1.0").await, "1.0.1"), n);

    // More failures change nothing: one rollback, one history entry, with its figures.
    post_stats(
        &s,
        (0..50).map(|i| report(i, "update_fail", "1.1.0")).collect(),
    )
    .await;
    let (_, history) = admin(&s, "GET", &format!("{path}/history"), None).await;
    let autos: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["by"] == "auto-rollback")
        .collect();
    assert_eq!(autos.len(), 1, "{history}");
    let entry = autos[0];
    assert_eq!(
        (entry["from"].as_str(), entry["to"].as_str()),
        (Some("1.1.0"), Some("1.0.1"))
    );
    assert!(
        entry["health"]["failures"].as_u64().unwrap() >= 5,
        "{entry}"
    );
    assert!(
        entry["reason"].as_str().unwrap().contains("failed starts"),
        "{entry}"
    );
    assert_eq!(history[0], *entry, "the newest entry");
    let (_, status) = admin(&s, "GET", &format!("{path}/status"), None).await;
    assert_eq!(status["channel"]["bundle"], "1.0.1");
    assert_eq!(status["history"][0], *entry);

    // The CLI says it in words, and the same as JSON.
    let p = Project::new();
    p.json(&["login", ADMIN, "--api-url", &s.url]);
    let out = p.run(&["channel", "status", "production"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("auto-rollback rolled 1.1.0 back to 1.0.1: ")
            && text.contains("failed starts")
            && text.contains("Rolled back (not served again unless re-promoted): 1.1.0"),
        "{text}"
    );
    assert_eq!(p.json(&["channel", "history", "production"]), history);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_release_with_rare_failures_is_never_rolled_back() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let path = released(&s).await;
    // 3,000 installs, one in 200 failing to start (0.5 %), spread as a fleet would.
    let n = 3000;
    let mut events = Vec::new();
    for i in 0..n {
        events.push(report(i, "set", "1.1.0"));
        if i % 200 == 199 {
            events.push(report(i, "update_fail", "1.1.0"));
        }
    }
    post_stats(&s, events).await;
    // The status reads the same counts the rule does (after the background count lands).
    let status = until_counted(&s, &path, n).await;
    let h = &status["health"][0];
    assert_eq!(
        (
            h["version"].as_str(),
            h["installs"].as_u64(),
            h["failures"].as_u64()
        ),
        (Some("1.1.0"), Some(n as u64), Some(15))
    );
    assert_eq!(h["rolls_back"], false);
    assert!(h["lower_bound"].as_f64().unwrap() < 0.01, "{h}");
    assert_eq!(status["channel"]["bundle"], "1.1.0");
    let (_, history) = admin(&s, "GET", &format!("{path}/history"), None).await;
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["by"] != "auto-rollback"),
        "{history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_device_repeating_its_failure_cannot_trip_a_rollback() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let path = released(&s).await;
    // One device id reports 30 failed starts (and the odd install), in batches and alone.
    post_stats(
        &s,
        (0..20).map(|_| report(7, "update_fail", "1.1.0")).collect(),
    )
    .await;
    for _ in 0..10 {
        post_stats(
            &s,
            vec![report(7, "set", "1.1.0"), report(7, "update_fail", "1.1.0")],
        )
        .await;
    }
    let status = until_counted(&s, &path, 10).await;
    assert_eq!(status["health"][0]["failures"], 1, "{status}");
    assert_eq!(status["channel"]["bundle"], "1.1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_batches_that_cross_the_threshold_roll_back_once() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let path = released(&s).await;
    // Just under the rule: 4 failed starts of 8 reports.
    post_stats(
        &s,
        (0..4)
            .flat_map(|i| [report(i, "set", "1.1.0"), report(i, "update_fail", "1.1.0")])
            .collect(),
    )
    .await;
    // Once those are counted (and did nothing), two batches at once, each enough to cross it.
    let status = until_counted(&s, &path, 4).await;
    assert_eq!(
        status["channel"]["bundle"], "1.1.0",
        "four failures are not enough"
    );
    assert_eq!(status["health"][0]["rolls_back"], false);
    let batch = |from: usize| {
        (from..from + 3)
            .flat_map(|i| [report(i, "set", "1.1.0"), report(i, "update_fail", "1.1.0")])
            .collect::<Vec<_>>()
    };
    tokio::join!(post_stats(&s, batch(10)), post_stats(&s, batch(20)));
    let c = until_not_served(&s, &path, "1.1.0").await;
    assert_eq!(c["bundle"], "1.0.1");
    let (_, history) = admin(&s, "GET", &format!("{path}/history"), None).await;
    let autos = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "auto_rolled_back")
        .count();
    assert_eq!(autos, 1, "{history}");
}
