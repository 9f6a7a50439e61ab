//! The files of the bundles on disk, addressed by their SHA-256: a manifest (delta)
//! download takes every file it can from here and downloads only the rest, as the plugin
//! takes files from its download cache. Each bundle folder has an index (`.files/{id}.json`,
//! path → SHA-256) written, complete, before the folder is renamed into place; the index
//! goes when its folder goes. A file is copied, never linked (an app that writes into its
//! bundle folder cannot change another bundle), and its hash is checked as it is copied.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Path inside the bundle (with `/`) → SHA-256 hex of the file.
pub type Index = BTreeMap<String, String>;

fn index_dir(dir: &Path) -> PathBuf {
    dir.join(".files")
}

fn index_path(dir: &Path, id: &str) -> PathBuf {
    index_dir(dir).join(format!("{id}.json"))
}

/// A writer that hashes what goes through it, and refuses more than `limit` bytes (a
/// decompression bomb stops there, not when the disk is full).
pub struct Hashing<W> {
    inner: W,
    sha: Sha256,
    written: u64,
    limit: u64,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W, limit: u64) -> Self {
        Hashing {
            inner,
            sha: Sha256::new(),
            written: 0,
            limit,
        }
    }

    /// The SHA-256 hex of everything written, and the writer.
    pub fn finish(mut self) -> std::io::Result<(String, W)> {
        self.inner.flush()?;
        Ok((hex::encode(self.sha.finalize()), self.inner))
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit {
            return Err(std::io::Error::other(format!(
                "more than the {} bytes allowed for one bundle",
                self.limit
            )));
        }
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `from` into a new file at `to` (parents made), synced; its SHA-256 hex.
pub fn write_file(from: &mut impl Read, to: &Path, limit: u64) -> std::io::Result<String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = Hashing::new(std::fs::File::create(to)?, limit);
    std::io::copy(from, &mut out)?;
    let (sha, file) = out.finish()?;
    file.sync_all()?;
    Ok(sha)
}

/// The SHA-256 hex of the file at `path`.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// The files of the given bundles, by hash.
pub struct FileIndex {
    by_hash: HashMap<String, PathBuf>,
}

impl FileIndex {
    /// The indexes of the bundles `ids` (a missing or unreadable one adds nothing).
    pub fn load(dir: &Path, ids: &[&str]) -> FileIndex {
        let mut by_hash = HashMap::new();
        for id in ids {
            let Some(index) = std::fs::read(index_path(dir, id))
                .ok()
                .and_then(|b| serde_json::from_slice::<Index>(&b).ok())
            else {
                continue;
            };
            for (path, sha) in index {
                by_hash
                    .entry(sha)
                    .or_insert_with(|| dir.join(id).join(&path));
            }
        }
        FileIndex { by_hash }
    }

    /// Copies the file with SHA-256 `sha` to `to`: true when one was there and its bytes
    /// still hash to `sha` (otherwise `to` is removed and the caller downloads it).
    pub fn copy(&self, sha: &str, to: &Path, limit: u64) -> bool {
        let Some(from) = self.by_hash.get(sha) else {
            return false;
        };
        let copied = std::fs::File::open(from).and_then(|mut f| write_file(&mut f, to, limit));
        match copied {
            Ok(got) if got == sha => true,
            _ => {
                let _ = std::fs::remove_file(to);
                false
            }
        }
    }
}

/// Makes a complete staging folder the bundle `id`: its index first, then the rename, so
/// a folder under its final name always has its index and all its files.
pub fn place(dir: &Path, id: &str, staging: &Path, index: &Index) -> std::io::Result<()> {
    std::fs::create_dir_all(index_dir(dir))?;
    let path = index_path(dir, id);
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(index).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    let target = dir.join(id);
    if target.exists() {
        // The same bundle, unpacked before (its id names its content).
        std::fs::remove_dir_all(staging)?;
    } else {
        std::fs::rename(staging, &target)?;
    }
    std::fs::File::open(dir)?.sync_all()
}

/// Removes the indexes of bundles not in `keep`.
pub fn prune(dir: &Path, keep: &[&str]) {
    let Ok(entries) = std::fs::read_dir(index_dir(dir)) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let id = name.strip_suffix(".json").unwrap_or(&name);
        if !keep.contains(&id) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn files_are_found_by_hash_and_copied_only_when_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let staging = root.join(".staging-b1");
        let mut index = Index::new();
        for (name, text) in [("index.html", "<p>1</p>"), ("js/app.js", "go()")] {
            let got = write_file(&mut text.as_bytes(), &staging.join(name), 1 << 20).unwrap();
            assert_eq!(got, sha(text.as_bytes()));
            index.insert(name.into(), got);
        }
        place(root, "b1", &staging, &index).unwrap();
        assert!(!staging.exists() && root.join("b1/js/app.js").exists());

        let files = FileIndex::load(root, &["b1", "gone"]);
        let out = root.join("out/app.js");
        assert!(files.copy(&sha(b"go()"), &out, 1 << 20));
        assert_eq!(std::fs::read(&out).unwrap(), b"go()");
        assert!(!files.copy(&sha(b"other"), &root.join("out/x"), 1 << 20));

        // A file changed in its folder since is not taken.
        std::fs::write(root.join("b1/index.html"), "tampered").unwrap();
        let out = root.join("out/index.html");
        assert!(!files.copy(&sha(b"<p>1</p>"), &out, 1 << 20));
        assert!(!out.exists(), "nothing half-copied is left");

        prune(root, &[]);
        assert!(!FileIndex::load(root, &["b1"]).copy(&sha(b"go()"), &out, 1 << 20));
    }

    #[test]
    fn a_writer_stops_at_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_file(&mut &[0u8; 100][..], &dir.path().join("f"), 99).unwrap_err();
        assert!(err.to_string().contains("more than the 99 bytes"), "{err}");
    }
}
