//! The real CLI in a project folder of its own.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use super::{APP, bin};

/// A Capacitor project folder and a CLI config dir of its own, for running the real CLI.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub config: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join("capacitor.config.json"),
            json!({"appId": APP, "appName": "E2E", "webDir": "dist"}).to_string(),
        )
        .unwrap();
        std::fs::write(
            p.join("package.json"),
            json!({"name": "e2e", "version": "1.0.1"}).to_string(),
        )
        .unwrap();
        write_build(p, "v1");
        Project {
            dir,
            config: tempfile::tempdir().unwrap(),
        }
    }

    /// A project logged in to `s` with its app and a default `production` channel.
    pub fn with_app(s: &super::Server) -> Project {
        let p = Project::new();
        p.json(&["login", super::ADMIN, "--api-url", &s.url]);
        p.json(&["app", "add"]);
        p.json(&["channel", "add", "production", "--default"]);
        p
    }

    /// The CLI in this project, with its own config and no key from the environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("UPDRAFT_CONFIG_DIR", self.config.path())
            .env_remove("UPDRAFT_API_KEY")
            .env_remove("UPDRAFT_API_URL");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs with --json, expects success, returns the one JSON document on stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not one JSON document ({e}): {:?}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Starts a command without waiting for it.
    pub fn start(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Replaces the project's build with one marked `marker`.
    pub fn build(&self, marker: &str) {
        write_build(self.dir.path(), marker);
    }

    /// Replaces the project's build with `n` script files (text that compresses) and one
    /// binary that does not; the scripts named in `changed` carry `marker`.
    pub fn build_files(&self, n: usize, changed: &[usize], marker: &str) {
        let dist = self.dir.path().join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        std::fs::write(
            dist.join("index.html"),
            "<html><script src=assets/f0.js></script></html>",
        )
        .unwrap();
        for i in 0..n {
            let tag = if changed.contains(&i) { marker } else { "v1" };
            std::fs::write(
                dist.join(format!("assets/f{i}.js")),
                format!("CapacitorUpdater.notifyAppReady(); // file {i} {tag}\n").repeat(40),
            )
            .unwrap();
        }
        std::fs::write(
            dist.join("assets/noise.bin"),
            super::noise(0x2545_F491_4F6C_DD1D, 20_000),
        )
        .unwrap();
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

/// A web build in `p/dist` whose content depends on `marker`.
pub fn write_build(p: &Path, marker: &str) {
    let dist = p.join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(
        dist.join("index.html"),
        format!("<html><body>{marker}</body><script src=assets/app.js></script></html>"),
    )
    .unwrap();
    std::fs::write(dist.join("assets/app.js"), format!("import {{ CapacitorUpdater }} from 'x'; CapacitorUpdater.notifyAppReady(); // {marker}\n").repeat(50)).unwrap();
}
