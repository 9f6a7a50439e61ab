//! `updraft simulate` against the real `updraft serve`: a fleet picks up a new bundle; with
//! a release that fails to start everywhere, the fleet reports `update_fail`, automatic
//! rollback takes the channel back, and the fleet converges on the previous bundle. The
//! simulator's own summary is the assertion.

mod common;

use common::*;
use serde_json::{Value, json};

fn simulate(s: &Server, extra: &[&str]) -> Value {
    let out = std::process::Command::new(bin())
        .args(["simulate", "--url", &s.url, "--app", APP, "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `updraft serve` with the app's first bundle on `production`, checks limited per device
/// to `device_rate` a minute (0: unlimited) and never per address (every simulated device
/// shares 127.0.0.1).
fn released_app(dir: &std::path::Path, device_rate: &str) -> (Server, Project) {
    let s = Server::spawn(
        dir,
        &[
            "--rate-ip-per-min",
            "0",
            "--rate-device-per-min",
            device_rate,
        ],
        &[],
    );
    let p = Project::with_app(&s);
    p.json(&["upload", "--channel", "production"]);
    (s, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_installs_a_release_and_converges_back_from_a_failing_one() {
    let dir = tempfile::tempdir().unwrap();
    let (s, p) = released_app(dir.path(), "0");

    // The run ends when the whole fleet runs 1.0.1 (the minute is only a bound).
    let run = simulate(
        &s,
        &[
            "--devices",
            "40",
            "--duration",
            "60s",
            "--check-every",
            "400ms",
            "--until",
            "1.0.1",
        ],
    );
    assert_eq!(
        run["installs"], 40,
        "every device installs 1.0.1 once: {run}"
    );
    assert_eq!(run["running"], json!({"1.0.1": 40}), "{run}");
    assert_eq!(run["errors"], json!({}), "{run}");
    assert!(run["checks"].as_u64().unwrap() >= 40, "{run}");
    assert!(run["latency"]["/updates"]["p99_ms"].as_f64().unwrap() > 0.0);
    let converged = run["converged_seconds"]
        .as_f64()
        .expect("the fleet converged");
    let seconds = run["seconds"].as_f64().unwrap();
    assert!(
        seconds < 60.0 && converged <= seconds,
        "the run stopped once the fleet ran 1.0.1: {run}"
    );

    // 1.0.2 never gets ready anywhere: devices roll it back and report it; the channel's
    // automatic rollback serves 1.0.1 again, and the fleet ends on 1.0.1.
    p.build("v2");
    p.json(&["upload", "--bundle", "1.0.2", "--channel", "production"]);
    let run = simulate(
        &s,
        &[
            "--devices",
            "40",
            "--duration",
            "60s",
            "--check-every",
            "300ms",
            "--fail-version",
            "1.0.2",
            "--fail-rate",
            "1",
            "--until",
            "1.0.1",
        ],
    );
    assert!(run["failures"].as_u64().unwrap() >= 5, "{run}");
    assert_eq!(
        run["running"],
        json!({"1.0.1": 40}),
        "the fleet converged back: {run}"
    );
    assert!(run["converged_seconds"].is_f64(), "{run}");
    let (_, channel) = admin(
        &s,
        "GET",
        &format!("/v1/apps/{APP}/channels/production"),
        None,
    )
    .await;
    assert_eq!(channel["bundle"], "1.0.1", "{channel}");
    assert!(
        channel["rolled_back"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "1.0.2"),
        "{channel}"
    );

    // Bad arguments: a clear message and a non-zero exit, nothing sent.
    for bad in [
        vec!["--fail-rate", "2"],
        vec!["--devices", "0"],
        vec!["--platform-mix", "windows=1"],
        vec!["--duration", "soon"],
        vec!["--until", "builtin"],
    ] {
        let out = std::process::Command::new(bin())
            .args(["simulate", "--url", &s.url, "--app", APP])
            .args(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(!out.stderr.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_devices_wait_out_retry_after_as_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    // Two checks a minute per device: the third is answered 429 with Retry-After.
    let (s, _p) = released_app(dir.path(), "2");
    let run = simulate(
        &s,
        &[
            "--devices",
            "10",
            "--duration",
            "3s",
            "--check-every",
            "100ms",
        ],
    );
    // Unthrottled, 10 devices would check about 300 times in 3 s; each waits out its
    // Retry-After (tens of seconds) after its first 429 instead.
    let throttled = run["throttled"].as_u64().unwrap();
    let checks = run["checks"].as_u64().unwrap();
    assert!(throttled >= 10, "every device was throttled: {run}");
    assert!(checks <= 40, "throttled devices kept checking: {run}");
    assert_eq!(run["errors"], json!({}), "a 429 is not an error: {run}");
}
