//! A manifest (delta) download, as the plugin's `handleManifestDownload` does it: every
//! entry checked first (a path inside the bundle, one file per path, a SHA-256 — decrypted
//! when the bundle is encrypted); then each file taken from a bundle already on disk when
//! one has its hash, else downloaded (resumed with `Range`), decrypted, Brotli-decompressed
//! when its name ends in `.br`, and placed only if it hashes to its entry.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use updraft_core::action::Action;
use updraft_crypto::Session;

use crate::encryption::Key;
use crate::fetch::fetch;
use crate::files::{FileIndex, hash_file, write_file};
use crate::lifecycle::Report;
use crate::updater::{Error, blocking};

/// One file of an update's manifest, as the server sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestFile {
    pub file_name: String,
    pub file_hash: String,
    pub download_url: String,
}

/// An entry that passed the checks.
#[derive(Debug, Clone)]
pub struct Task {
    /// As the manifest names it (`js/app.js.br`).
    pub file_name: String,
    /// Where it goes in the bundle (`js/app.js`).
    pub target: String,
    pub brotli: bool,
    /// The SHA-256 hex of the file as placed.
    pub sha: String,
    pub url: String,
}

fn report(action: Action, version: &str, file: &str) -> Report {
    Report::new(action, &format!("{version}:{file}"))
}

/// The file's own name, as the plugin names a file in its per-file reports.
fn base_name(target: &str) -> &str {
    target.rsplit('/').next().unwrap_or(target)
}

/// A path that stays inside the bundle folder: relative, `/`-separated, no `.`/`..`.
fn inside(target: &str) -> bool {
    !target.is_empty()
        && !target.contains('\\')
        && !target.contains('\0')
        && !target.ends_with('/')
        && Path::new(target)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Checks every entry before anything is downloaded. On refusal, the reports the plugin
/// makes (`manifest_path_fail` with `version:file`).
pub fn plan(
    files: &[ManifestFile],
    key: Option<&Key>,
    version: &str,
) -> Result<Vec<Task>, (Error, Vec<Report>)> {
    let mut tasks: Vec<Task> = Vec::with_capacity(files.len());
    let mut seen = std::collections::HashSet::new();
    for f in files {
        let brotli = f.file_name.ends_with(".br");
        let target = f.file_name.strip_suffix(".br").unwrap_or(&f.file_name);
        if !inside(target) || !seen.insert(target.to_string()) {
            return Err((
                Error::Bundle(format!(
                    "the manifest's {:?} is not a path inside the bundle, or comes twice",
                    f.file_name
                )),
                vec![report(Action::ManifestPathFail, version, &f.file_name)],
            ));
        }
        let sha = match key {
            Some(k) => k.checksum(&f.file_hash).map_err(|e| (e, vec![]))?,
            None => f.file_hash.to_ascii_lowercase(),
        };
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err((
                Error::Bundle(format!(
                    "the manifest's hash for {:?} is not a SHA-256{}",
                    f.file_name,
                    if key.is_none() && f.file_hash.len() == 512 {
                        " (it looks encrypted: configure the app's public key)"
                    } else {
                        ""
                    }
                )),
                vec![report(
                    Action::DownloadManifestFileFail,
                    version,
                    &f.file_name,
                )],
            ));
        }
        tasks.push(Task {
            file_name: f.file_name.clone(),
            target: target.to_string(),
            brotli,
            sha,
            url: f.download_url.clone(),
        });
    }
    Ok(tasks)
}

/// The folder id of a manifest bundle: its version and a digest of its files.
pub fn bundle_id(version_folder: &str, tasks: &[Task]) -> String {
    let mut h = Sha256::new();
    let mut lines: Vec<_> = tasks.iter().map(|t| (&t.target, &t.sha)).collect();
    lines.sort();
    for (target, sha) in lines {
        h.update(target.as_bytes());
        h.update([0]);
        h.update(sha.as_bytes());
        h.update([b'\n']);
    }
    format!("{version_folder}-m{}", &hex::encode(h.finalize())[..12])
}

/// What became of one file.
pub enum Outcome {
    /// Already in the staging folder from an earlier attempt, or copied from a bundle on
    /// disk.
    Reused,
    /// Downloaded: the bytes that came over the network.
    Downloaded(u64),
    /// Not placed; the reports the plugin makes.
    Failed(Error, Vec<Report>),
}

/// What each file's download shares.
pub struct Job {
    pub http: reqwest::Client,
    pub staging: PathBuf,
    pub partials: PathBuf,
    pub index: Arc<FileIndex>,
    pub session: Option<Arc<Session>>,
    pub limit: u64,
    pub version: String,
}

/// Brotli's read errors, told apart from the writer's (a full disk is not a bad stream).
struct Brotli<R>(R);

impl<R: Read> Read for Brotli<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, BrotliError(e)))
    }
}

#[derive(Debug)]
struct BrotliError(std::io::Error);

impl std::fmt::Display for BrotliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a Brotli stream: {}", self.0)
    }
}

impl std::error::Error for BrotliError {}

/// How decoding a downloaded file failed.
enum Decode {
    Decrypt(String),
    Brotli(String),
    Checksum(String),
    Io(std::io::Error),
}

/// Decrypts, decompresses and places `partial` at `target`, checking its hash.
fn decode(
    partial: &Path,
    target: &Path,
    task: &Task,
    session: Option<&Session>,
    limit: u64,
) -> Result<(), Decode> {
    let work = partial.with_extension("plain");
    let source = match session {
        Some(s) => {
            let mut out =
                std::io::BufWriter::new(std::fs::File::create(&work).map_err(Decode::Io)?);
            let mut input = std::fs::File::open(partial).map_err(Decode::Io)?;
            s.decrypt_stream(&mut input, &mut out)
                .map_err(|e| Decode::Decrypt(e.to_string()))?;
            out.flush().map_err(Decode::Io)?;
            work.clone()
        }
        None => partial.to_path_buf(),
    };
    let placed = (|| {
        let file = std::fs::File::open(&source).map_err(Decode::Io)?;
        let got = if task.brotli {
            let mut reader = Brotli(brotli_decompressor::Decompressor::new(file, 64 << 10));
            write_file(&mut reader, target, limit).map_err(|e| {
                match e.get_ref().and_then(|i| i.downcast_ref::<BrotliError>()) {
                    Some(b) => Decode::Brotli(b.to_string()),
                    None => Decode::Io(e),
                }
            })?
        } else {
            write_file(&mut std::io::BufReader::new(file), target, limit).map_err(Decode::Io)?
        };
        if got != task.sha {
            let _ = std::fs::remove_file(target);
            return Err(Decode::Checksum(got));
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&work);
    placed
}

/// Places one file in the staging folder.
pub async fn one(job: &Job, task: &Task) -> Outcome {
    let target = job.staging.join(&task.target);
    let (sha, to, index, limit) = (
        task.sha.clone(),
        target.clone(),
        job.index.clone(),
        job.limit,
    );
    let reused = blocking(move || {
        // From an earlier attempt at this same bundle, or from a bundle on disk.
        hash_file(&to).ok().as_deref() == Some(sha.as_str()) || index.copy(&sha, &to, limit)
    })
    .await;
    if matches!(reused, Ok(true)) {
        return Outcome::Reused;
    }
    let v = job.version.as_str();
    let partial = job.partials.join(format!("file-{}", task.sha));
    let fetched = match fetch(&job.http, &task.url, &partial, job.limit, |_, _| {}).await {
        Ok(f) => f,
        Err(e) => {
            let mut reports = Vec::new();
            if let Error::Server { .. } = e {
                reports.push(report(
                    Action::DownloadManifestFileFail,
                    v,
                    base_name(&task.target),
                ));
            }
            if let Error::Bundle(_) = e {
                let _ = std::fs::remove_file(&partial);
            }
            reports.push(report(Action::DownloadManifestFileFail, v, &task.file_name));
            return Outcome::Failed(e, reports);
        }
    };
    let (p, t, tk, session) = (partial.clone(), target, task.clone(), job.session.clone());
    let decoded = blocking(move || decode(&p, &t, &tk, session.as_deref(), limit)).await;
    let file_fail = report(Action::DownloadManifestFileFail, v, &task.file_name);
    let name = base_name(&task.target);
    let failed = match decoded {
        Ok(Ok(())) => {
            let _ = std::fs::remove_file(&partial);
            return Outcome::Downloaded(fetched.received);
        }
        // Writing failed (a full disk…): the downloaded bytes are fine and stay.
        Err(e) => return Outcome::Failed(e, vec![file_fail]),
        Ok(Err(Decode::Io(e))) => return Outcome::Failed(Error::Io(e), vec![file_fail]),
        Ok(Err(Decode::Decrypt(why))) => (
            Error::Bundle(format!("{}: {why}", task.file_name)),
            vec![file_fail],
        ),
        Ok(Err(Decode::Brotli(why))) => (
            Error::Bundle(format!("{}: {why}", task.file_name)),
            vec![
                report(Action::DownloadManifestBrotliFail, v, name),
                file_fail,
            ],
        ),
        Ok(Err(Decode::Checksum(got))) => (
            Error::Bundle(format!(
                "{} hashes to {got}, not {} as its manifest entry says",
                task.file_name, task.sha
            )),
            vec![
                report(Action::DownloadManifestChecksumFail, v, name),
                file_fail,
            ],
        ),
    };
    // Bytes that do not decode never will: the next attempt downloads the file again.
    let _ = std::fs::remove_file(&partial);
    Outcome::Failed(failed.0, failed.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, hash: &str) -> ManifestFile {
        ManifestFile {
            file_name: name.into(),
            file_hash: hash.into(),
            download_url: "http://x/f".into(),
        }
    }

    const H: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn paths_must_stay_inside_the_bundle_and_come_once() {
        let ok = plan(
            &[entry("index.html", H), entry("js/app.js.br", H)],
            None,
            "1.0.1",
        )
        .unwrap();
        assert_eq!(ok[1].target, "js/app.js");
        assert!(ok[1].brotli && !ok[0].brotli);
        for bad in [
            "../evil.js",
            "/etc/passwd",
            "a/../../b",
            "./a",
            "a\\..\\b",
            "",
            ".br",
            "dir/",
        ] {
            let (_, reports) = plan(&[entry(bad, H)], None, "1.0.1").unwrap_err();
            assert_eq!(
                reports,
                vec![report(Action::ManifestPathFail, "1.0.1", bad)],
                "{bad:?}"
            );
        }
        // `a.js` and `a.js.br` would write the same file.
        assert!(plan(&[entry("a.js", H), entry("a.js.br", H)], None, "1").is_err());
    }

    #[test]
    fn hashes_must_be_sha256s() {
        let (e, reports) = plan(&[entry("a.js", "abc")], None, "1").unwrap_err();
        assert!(e.to_string().contains("not a SHA-256"), "{e}");
        assert_eq!(reports[0].action, Action::DownloadManifestFileFail);
        let (e, _) = plan(&[entry("a.js", &"ab".repeat(256))], None, "1").unwrap_err();
        assert!(e.to_string().contains("public key"), "{e}");
        assert_eq!(
            plan(&[entry("a", &H.to_uppercase())], None, "1").unwrap()[0].sha,
            H
        );
    }

    #[test]
    fn the_bundle_id_names_the_files_not_their_order() {
        let a = plan(&[entry("a", H), entry("b", H)], None, "1").unwrap();
        let b = plan(&[entry("b", H), entry("a", H)], None, "1").unwrap();
        let c = plan(&[entry("a", H), entry("c", H)], None, "1").unwrap();
        assert_eq!(bundle_id("1", &a), bundle_id("1", &b));
        assert_ne!(bundle_id("1", &a), bundle_id("1", &c));
    }
}
