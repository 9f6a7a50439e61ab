//! The stock plugin, for real: `@capgo/capacitor-updater`'s own Android classes (`CapgoUpdater`,
//! `DownloadService`, `DownloadWorkerManager`, `CryptoCipher`… unmodified, fetched from the npm
//! registry and compiled by `scripts/plugin-harness`) play an app's life against a real
//! `updraft serve`, on the embedded store and, with `UPDRAFT_TEST_STORE=aws`, on DynamoDB + S3.
//! The driver (`tests/plugin/driver`) prints `N passed, N failed`; see `tests/plugin/README.md`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The harness's class path, built (and cached) by `scripts/plugin-harness`.
fn harness() -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/plugin-harness");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("{} could not start: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/plugin-harness failed (it installs a JDK, Debian's OkHttp and the plugin):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A web build: an index page, a script, and 96 KiB that do not compress, so that the zip is
/// large enough to be cut half way.
fn web_build(dir: &Path, marker: &str) -> PathBuf {
    let dist = dir.join(format!("dist-{marker}"));
    std::fs::create_dir_all(dist.join("assets/img")).unwrap();
    std::fs::write(
        dist.join("index.html"),
        format!("<!doctype html><title>{marker}</title><script src=assets/app.js></script>"),
    )
    .unwrap();
    std::fs::write(
        dist.join("assets/app.js"),
        format!("CapacitorUpdater.notifyAppReady(); // {marker}\n").repeat(200),
    )
    .unwrap();
    let seed = marker.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    std::fs::write(dist.join("assets/img/noise.bin"), noise(seed, 96 * 1024)).unwrap();
    dist
}

/// Runs the real CLI against the server, as an operator would.
fn updraft(s: &Server, config: &Path, args: &[&str]) {
    updraft_in(
        s,
        config,
        config.parent().expect("the config dir is in the work dir"),
        args,
    );
}

/// The same, in a project folder (where `capacitor.config.json` and the keys are).
fn updraft_in(s: &Server, config: &Path, cwd: &Path, args: &[&str]) {
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("UPDRAFT_API_KEY", ADMIN)
        .env("UPDRAFT_API_URL", &s.url)
        .env("UPDRAFT_CONFIG_DIR", config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "updraft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An app with a public channel serving 1.0.1 and a channel devices may pick serving 1.1.0.
/// Returns the folder 1.0.1 was built from.
fn publish(s: &Server, work: &Path) -> PathBuf {
    let config = work.join("cli-config");
    let v1 = web_build(work, "v1");
    let beta = web_build(work, "beta");
    updraft(s, &config, &["app", "add", APP]);
    updraft(
        s,
        &config,
        &["channel", "add", "production", APP, "--default"],
    );
    updraft(
        s,
        &config,
        &[
            "upload",
            APP,
            "--path",
            v1.to_str().unwrap(),
            "--bundle",
            "1.0.1",
            "--channel",
            "production",
        ],
    );
    updraft(
        s,
        &config,
        &["channel", "add", "beta", APP, "--self-assign"],
    );
    updraft(
        s,
        &config,
        &[
            "upload",
            APP,
            "--path",
            beta.to_str().unwrap(),
            "--bundle",
            "1.1.0",
            "--channel",
            "beta",
        ],
    );
    v1
}

/// Runs one scenario of the driver; its whole output on failure.
fn play(scenario: &str, s: &Server, work: &Path, bundle_dir: &Path) {
    play_with(scenario, s, work, bundle_dir, &[]);
}

fn play_with(scenario: &str, s: &Server, work: &Path, bundle_dir: &Path, env: &[(&str, &str)]) {
    let classpath = harness();
    let out = Command::new("java")
        .args(["-cp", &classpath, "dev.updraft.plugintest.Main", scenario])
        .envs(env.iter().copied())
        .env("UPDRAFT_URL", &s.url)
        .env("UPDRAFT_KEY", ADMIN)
        .env("UPDRAFT_APP", APP)
        .env("UPDRAFT_PLUGIN_VERSION", plugin_version())
        .env("UPDRAFT_VERSION", "1.0.1")
        .env("UPDRAFT_BUNDLE_DIR", bundle_dir)
        .env("UPDRAFT_BETA_CHANNEL", "beta")
        .env("UPDRAFT_BETA_VERSION", "1.1.0")
        .env("UPDRAFT_PLUGIN_WORK", work.join("phones"))
        .output()
        .expect("java starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success()
            && stdout
                .lines()
                .last()
                .is_some_and(|l| l.ends_with(" 0 failed")),
        "the stock plugin's {scenario} scenario failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The version the harness pins (`UPDRAFT_PLUGIN_VERSION` moves it; see tests/plugin/README.md).
fn plugin_version() -> String {
    std::env::var("UPDRAFT_PLUGIN_VERSION").unwrap_or_else(|_| "8.51.23".into())
}

#[test]
fn the_stock_plugin_updates_reports_and_switches_channels() {
    let work = tempfile::tempdir().unwrap();
    let s = Server::start(&work.path().join("data"));
    let v1 = publish(&s, work.path());
    play("life", &s, work.path(), &v1);
    s.stop();
}

#[test]
fn the_stock_plugin_honours_the_servers_rate_limit() {
    let work = tempfile::tempdir().unwrap();
    // 20 a minute: a burst of 20, then one every 3 s, so Retry-After is 3 s: long enough
    // for the phone's next check to land inside it on a busy machine.
    let s = Server::start_with(&work.path().join("data"), &["--rate-device-per-min", "20"]);
    let v1 = publish(&s, work.path());
    play("rate-limit", &s, work.path(), &v1);
    s.stop();
}

/// An app whose project has an encryption key (`updraft key create --write-config`) and
/// whose public channel serves a bundle uploaded encrypted (automatically, because the
/// config names the public key): the stock plugin decrypts, verifies and installs it.
#[test]
fn the_stock_plugin_installs_an_end_to_end_encrypted_bundle() {
    let work = tempfile::tempdir().unwrap();
    let s = Server::start(&work.path().join("data"));
    let config = work.path().join("cli-config");
    let project = work.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("capacitor.config.json"),
        serde_json::json!({"appId": APP, "appName": "Encrypted", "webDir": "dist"}).to_string(),
    )
    .unwrap();
    let dist = web_build(&project, "secret");
    std::fs::rename(&dist, project.join("dist")).unwrap();
    updraft_in(&s, &config, &project, &["key", "create", "--write-config"]);
    updraft(&s, &config, &["app", "add", APP]);
    updraft(
        &s,
        &config,
        &["channel", "add", "production", APP, "--default"],
    );
    updraft_in(
        &s,
        &config,
        &project,
        &["upload", "--bundle", "1.0.1", "--channel", "production"],
    );
    let public = std::fs::read_to_string(project.join(".capgo_key_v2.pub")).unwrap();
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/crypto-rsa.json")).unwrap();
    let other = fixture["publicKeyPem"].as_str().unwrap();
    play_with(
        "encrypted",
        &s,
        work.path(),
        &project.join("dist"),
        &[
            ("UPDRAFT_PUBLIC_KEY", &public),
            ("UPDRAFT_OTHER_PUBLIC_KEY", other),
        ],
    );
    s.stop();
}

/// Delta updates with the stock plugin: two builds that differ in one file, on two channels;
/// the plugin installs the first from its manifest, then downloads only the changed file of
/// the second.
#[test]
fn the_stock_plugin_downloads_only_the_files_that_changed() {
    let work = tempfile::tempdir().unwrap();
    let s = Server::start(&work.path().join("data"));
    let config = work.path().join("cli-config");
    let v1 = web_build(work.path(), "delta");
    for i in 0..12 {
        std::fs::write(
            v1.join(format!("assets/lib{i}.js")),
            format!("export const part{i} = () => {i}; // shared\n").repeat(60),
        )
        .unwrap();
    }
    let v2 = work.path().join("dist-delta-2");
    copy_dir(&v1, &v2);
    std::fs::write(
        v2.join("assets/lib4.js"),
        "export const part4 = () => 'changed';\n".repeat(60),
    )
    .unwrap();
    updraft(&s, &config, &["app", "add", APP]);
    updraft(
        &s,
        &config,
        &["channel", "add", "production", APP, "--default"],
    );
    updraft(
        &s,
        &config,
        &["channel", "add", "beta", APP, "--self-assign"],
    );
    for (dir, version, channel) in [(&v1, "1.0.1", "production"), (&v2, "1.1.0", "beta")] {
        updraft(
            &s,
            &config,
            &[
                "upload",
                APP,
                "--path",
                dir.to_str().unwrap(),
                "--bundle",
                version,
                "--channel",
                channel,
            ],
        );
    }
    play_with(
        "delta",
        &s,
        work.path(),
        &v1,
        &[
            ("UPDRAFT_BETA_DIR", v2.to_str().unwrap()),
            ("UPDRAFT_CHANGED_FILES", "1"),
        ],
    );
    s.stop();
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
