//! End to end: the real `updraft` CLI against a real `updraft serve`, then a device.

mod common;

use std::process::Output;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_commands_ship_an_update_to_a_device() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = Project::new();

    let login = p.json(&["login", ADMIN, "--api-url", &s.url]);
    assert_eq!(login["key"]["mode"], "all");
    let creds = p.config.path().join("credentials.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(p.json(&["whoami"])["api_url"], s.url.as_str());
    assert_eq!(p.json(&["app", "add"])["app_id"], APP);
    assert_eq!(p.json(&["app", "list"])[0]["app_id"], APP);
    let ch = p.json(&["channel", "add", "production", "--default"]);
    assert_eq!(
        (ch["public"].as_bool(), ch["bundle"].clone()),
        (Some(true), Value::Null)
    );

    let up = p.json(&["upload", "--channel", "production"]);
    assert_eq!(up["version"], "1.0.1");
    assert_eq!(up["channel"]["bundle"], "1.0.1");
    let checksum = up["checksum"].as_str().unwrap().to_string();

    // `app debug` follows the device from here: its session logs the update check.
    let mut watch = p.start(&["app", "debug", "--device", DEVICE, "--expect", "1.0.1"]);
    let mut watch_err = std::io::BufReader::new(watch.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut watch_err, &mut first).unwrap();
    assert!(first.contains("Following device"), "{first}");

    // A device now gets it, and the bytes match.
    let (_, upd) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(
        (upd["version"].as_str(), upd["checksum"].as_str()),
        (Some("1.0.1"), Some(checksum.as_str()))
    );
    let zip = download(upd["url"].as_str().unwrap()).await;
    assert_eq!(sha256_hex(&zip), checksum);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    assert!(archive.by_name("index.html").is_ok());

    // The device reports the install: the watch shows both in words and stops by itself.
    let mut set = device_body(APP, json!({"action": "set", "version_name": "1.0.1"}));
    set.as_object_mut().unwrap().remove("defaultChannel");
    device(&s, "POST", "/stats", set).await;
    let mut status = None;
    for _ in 0..300 {
        status = watch.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let Some(status) = status else {
        let _ = watch.kill();
        panic!("app debug did not stop after the device reported set");
    };
    let mut followed = String::new();
    std::io::Read::read_to_string(&mut watch_err, &mut followed).unwrap();
    assert!(status.success(), "{followed}");
    assert!(
        followed.contains("checked for an update: offered 1.0.1")
            && followed.contains("bundle 1.0.1 set"),
        "{followed}"
    );
    // It ended its session on the way out.
    let (_, ended) = admin(
        &s,
        "DELETE",
        &format!("/v1/apps/{APP}/devices/{DEVICE}/debug"),
        None,
    )
    .await;
    assert_eq!(ended["ended"], false);

    // `app debug --once` shows what is logged and exits.
    let debug = p.json(&["app", "debug", "--device", DEVICE, "--once"]);
    let actions: Vec<&str> = debug["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["get", "set"]);
    let human = p.run(&["app", "debug", "--device", DEVICE, "--once"]);
    let text = String::from_utf8_lossy(&human.stderr);
    assert!(
        text.contains("checked for an update: offered 1.0.1") && text.contains("bundle 1.0.1 set"),
        "{text}"
    );
    assert!(human.stdout.is_empty(), "human text stays off stdout");

    // Listing, current, set.
    assert_eq!(p.json(&["bundle", "list"])[0]["status"], "ready");
    assert_eq!(
        p.json(&["channel", "current", "production"])["bundle"],
        "1.0.1"
    );
    let set = p.json(&[
        "channel",
        "set",
        "production",
        "--no-emulator",
        "--disable-auto-update",
        "minor",
    ]);
    assert_eq!(
        (
            set["allow_emulator"].as_bool(),
            set["disable_auto_update"].as_str()
        ),
        (Some(false), Some("minor"))
    );
    assert_eq!(p.json(&["channel", "list"]).as_array().unwrap().len(), 1);

    // Same bytes as the served bundle under a new version: refused.
    let err = p.fails(&["upload", "--bundle", "1.0.4"]);
    assert!(err.contains("same content as 1.0.1 on production"), "{err}");
    // Same version again: refused, unless it is this same build and --version-exists-ok.
    let err = p.fails(&["upload"]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        p.json(&["upload", "--version-exists-ok"])["uploaded"],
        false
    );

    // Cleanup never deletes what a channel serves.
    p.build("v2");
    assert_eq!(p.json(&["upload", "--bundle", "1.0.2"])["version"], "1.0.2");
    let cleaned = p.json(&["bundle", "cleanup", "--keep", "0", "--yes"]);
    assert_eq!(cleaned["deleted"], json!(["1.0.2"]));
    let left: Vec<String> = p
        .json(&["bundle", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["version"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["1.0.1"]);
    let err = p.fails(&["bundle", "delete", "1.0.1"]);
    assert!(err.contains("serves 1.0.1"), "{err}");

    // Builtin and back.
    assert_eq!(
        p.json(&["channel", "set", "production", "--builtin"])["bundle"],
        "builtin"
    );
    let (_, v) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"version_name": "1.0.1"})),
    )
    .await;
    assert_eq!(v, json!({"version": "builtin"}));
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_why_and_exit_non_zero() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = Project::new();

    let err = p.fails(&["login", "upd_wrong", "--api-url", &s.url]);
    assert!(err.contains("unknown or revoked API key"), "{err}");
    let out = p.run(&["whoami", "--json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not logged in"));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"], "cli_error", "--json failures are JSON too");

    let err = p.fails(&[
        "whoami",
        "--api-key",
        ADMIN,
        "--api-url",
        "http://127.0.0.1:9",
    ]);
    assert!(err.contains("cannot reach http://127.0.0.1:9"), "{err}");

    p.json(&["login", ADMIN, "--api-url", &s.url, "--local"]);
    assert!(p.dir.path().join(".updraft.toml").exists());
    assert!(
        std::fs::read_to_string(p.dir.path().join(".gitignore"))
            .unwrap()
            .contains(".updraft.toml")
    );
    p.json(&["app", "add"]);
    let err = p.fails(&["app", "add"]);
    assert!(
        err.contains("already exists") && err.contains("409"),
        "{err}"
    );
    let err = p.fails(&["upload", "--bundle", "not-semver"]);
    assert!(err.contains("not semver"), "{err}");
    let err = p.fails(&["upload", "--path", "nowhere"]);
    assert!(err.contains("does not exist"), "{err}");
    let err = p.fails(&["app", "delete", APP]);
    assert!(err.contains("--yes"), "{err}");

    // An interrupted upload leaves the bundle pending; the same command completes it.
    let zipped = p.json(&["bundle", "zip", "--bundle", "1.0.3"]);
    assert!(p.dir.path().join("bundle-1.0.3.zip").exists());
    let (st, _) = admin(
        &s,
        "POST",
        &format!("/v1/apps/{APP}/bundles"),
        Some(json!({
        "version": "1.0.3", "size": zipped["size"], "checksum": zipped["checksum"]})),
    )
    .await;
    assert_eq!(st, 201);
    let (_, list) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles"), None).await;
    assert_eq!(list[0]["status"], "pending");
    let done = p.json(&["upload", "--bundle", "1.0.3"]);
    assert_eq!(
        (done["version"].as_str(), done["checksum"].as_str()),
        (Some("1.0.3"), zipped["checksum"].as_str())
    );
    let (_, list) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles"), None).await;
    assert_eq!(list[0]["status"], "ready");

    p.json(&["logout"]);
    let err = p.fails(&["whoami"]);
    assert!(err.contains("not logged in"), "{err}");
    s.stop();
}

#[test]
fn every_command_has_help_with_an_example() {
    let p = Project::new();
    for cmd in [
        vec!["serve"],
        vec!["keygen"],
        vec!["login"],
        vec!["logout"],
        vec!["whoami"],
        vec!["upload"],
        vec!["app", "add"],
        vec!["app", "list"],
        vec!["app", "delete"],
        vec!["app", "debug"],
        vec!["channel", "add"],
        vec!["channel", "list"],
        vec!["channel", "set"],
        vec!["channel", "current"],
        vec!["channel", "delete"],
        vec!["bundle", "upload"],
        vec!["bundle", "list"],
        vec!["bundle", "delete"],
        vec!["bundle", "cleanup"],
        vec!["bundle", "zip"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = p.run(&args);
        assert!(out.status.success(), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Example: updraft"),
            "{cmd:?} help has an example"
        );
    }
}

#[test]
fn keygen_prints_a_key_and_its_hash() {
    let p = Project::new();
    let out = p.json(&["keygen"]);
    let key = out["key"].as_str().unwrap();
    assert!(key.starts_with("upd_"));
    assert_eq!(out["sha256"].as_str().unwrap(), sha256_hex(key.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clis_uploading_one_version_at_once_exactly_one_wins() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let (a, b) = (Project::new(), Project::new());
    b.build("built elsewhere");
    for p in [&a, &b] {
        p.json(&["login", ADMIN, "--api-url", &s.url]);
    }
    a.json(&["app", "add"]);

    for version in ["2.0.0", "2.0.1", "2.0.2"] {
        let args = ["upload", "--bundle", version, "--json"];
        let runs = [a.start(&args), b.start(&args)].map(|c| c.wait_with_output().unwrap());
        let winners: Vec<&Output> = runs.iter().filter(|o| o.status.success()).collect();
        assert_eq!(
            winners.len(),
            1,
            "{version}: {:?}",
            runs.iter()
                .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
                .collect::<Vec<_>>()
        );
        let loser = runs.iter().find(|o| !o.status.success()).unwrap();
        let why = String::from_utf8_lossy(&loser.stderr);
        assert!(
            why.contains(version) && (why.contains("already") || why.contains("different content")),
            "{version}: the loser says why: {why}"
        );
        // The server holds the winner's bytes under that version, ready, and only those.
        let won: Value = serde_json::from_slice(&winners[0].stdout).unwrap();
        let (st, bundle) = admin(
            &s,
            "GET",
            &format!("/v1/apps/{APP}/bundles/{version}"),
            None,
        )
        .await;
        assert_eq!(st, 200, "{bundle}");
        assert_eq!(
            (bundle["status"].as_str(), bundle["checksum"].as_str()),
            (Some("ready"), won["checksum"].as_str())
        );
    }
}
