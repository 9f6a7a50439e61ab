//! Deterministic bundle zips: the same folder always gives the same bytes and SHA-256.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::zip_entry;

#[derive(Debug, Clone)]
pub struct ZipOptions {
    /// Deflate level 0–9 (0 stores everything).
    pub level: u32,
    pub exclude: Vec<String>,
}

/// One file to put in the zip: its `/`-separated path inside the bundle and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug)]
pub struct Zipped {
    pub file: tempfile::NamedTempFile,
    pub size: u64,
    pub sha256: String,
    pub files: usize,
    /// Some `.js` file mentions `notifyAppReady` (without it devices roll every update back).
    pub calls_notify: bool,
}

/// Every file under `root`, sorted by path. Symlinks are followed, but only inside `root`.
pub fn collect(root: &Path, exclude: &[String]) -> anyhow::Result<Vec<Entry>> {
    let canon_root = root
        .canonicalize()
        .with_context(|| format!("build folder {} does not exist", root.display()))?;
    let mut set = globset::GlobSetBuilder::new();
    for pattern in exclude {
        set.add(
            globset::Glob::new(pattern)
                .with_context(|| format!("bad --exclude pattern {pattern}"))?,
        );
    }
    let excluded = set.build()?;
    let mut entries = Vec::new();
    for item in walkdir::WalkDir::new(&canon_root).follow_links(true) {
        let item = item.map_err(|e| anyhow!("cannot read the build folder: {e}"))?;
        if !item.file_type().is_file() {
            continue;
        }
        let real = item.path().canonicalize()?;
        if !real.starts_with(&canon_root) {
            bail!(
                "{} links outside the build folder; refusing to zip it",
                item.path().display()
            );
        }
        let rel = item
            .path()
            .strip_prefix(&canon_root)
            .map_err(|_| anyhow!("unexpected path {}", item.path().display()))?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                std::path::Component::Normal(s) => parts.push(
                    s.to_str()
                        .ok_or_else(|| anyhow!("{} is not UTF-8", rel.display()))?
                        .to_string(),
                ),
                _ => bail!("unsafe path {} in the build folder", rel.display()),
            }
        }
        let name = parts.join("/");
        if excluded.is_match(&name) {
            continue;
        }
        entries.push(Entry {
            name,
            path: item.path().to_path_buf(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Files up to this size are compressed by worker threads into memory; larger ones stream.
const PARALLEL_MAX: u64 = 4 * 1024 * 1024;

fn options_for(e: &Entry, level: u32, deflate: bool) -> anyhow::Result<SimpleFileOptions> {
    let len = std::fs::metadata(&e.path)
        .with_context(|| format!("cannot read {}", e.path.display()))?
        .len();
    let method = if deflate {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    };
    let mut o = SimpleFileOptions::default()
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644)
        .compression_method(method)
        .large_file(len >= u32::MAX as u64);
    if method == CompressionMethod::Deflated {
        o = o.compression_level(Some(level as i64));
    }
    Ok(o)
}

/// Without this call in the app's scripts, devices roll every update back.
const NEEDLE: &[u8] = b"notifyAppReady";

fn is_js(name: &str) -> bool {
    name.ends_with(".js") || name.ends_with(".mjs")
}

/// Copies one file into an open entry; for scripts, also says whether they call notifyAppReady.
/// Streams in fixed chunks (keeping a tail across chunk borders), so memory stays bounded.
fn copy_entry(e: &Entry, dest: &mut impl Write) -> anyhow::Result<bool> {
    let mut f = File::open(&e.path).with_context(|| format!("cannot read {}", e.path.display()))?;
    let scan = is_js(&e.name);
    let mut found = false;
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::with_capacity(NEEDLE.len() * 2);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(found);
        }
        dest.write_all(&buf[..n])?;
        if scan && !found {
            tail.extend_from_slice(&buf[..n.min(NEEDLE.len())]);
            found = tail.windows(NEEDLE.len()).any(|w| w == NEEDLE)
                || buf[..n].windows(NEEDLE.len()).any(|w| w == NEEDLE);
            tail.clear();
            tail.extend_from_slice(&buf[n.saturating_sub(NEEDLE.len() - 1)..n]);
        }
    }
}

/// A worker's buffers, reused from file to file.
#[derive(Default)]
struct Worker {
    deflater: zip_entry::Deflater,
    data: Vec<u8>,
}

/// One entry compressed on its own, as a one-file zip in memory (written into `out`), ready
/// for a raw copy; for scripts, also whether they call notifyAppReady.
fn compress_alone(
    e: &Entry,
    level: u32,
    worker: &mut Worker,
    mut out: Vec<u8>,
) -> anyhow::Result<(Vec<u8>, bool)> {
    worker.data.clear();
    File::open(&e.path)
        .and_then(|mut f| f.read_to_end(&mut worker.data))
        .with_context(|| format!("cannot read {}", e.path.display()))?;
    let data = &worker.data;
    let notify = is_js(&e.name) && data.windows(NEEDLE.len()).any(|w| w == NEEDLE);
    zip_entry::one_entry_zip(&e.name, data, level, &mut worker.deflater, &mut out)?;
    Ok((out, notify))
}

/// Writes the zip to a temp file in `tmp_dir`. Worker threads compress small files ahead of
/// the writer (a bounded window, so memory stays bounded); entries keep their sorted order.
pub fn zip_folder(root: &Path, opts: &ZipOptions, tmp_dir: &Path) -> anyhow::Result<Zipped> {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex, mpsc};

    let entries = collect(root, &opts.exclude)?;
    let mut out = tempfile::Builder::new()
        .prefix(".updraft-bundle-")
        .suffix(".zip")
        .tempfile_in(tmp_dir)?;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let window = workers * 2;
    let next = AtomicUsize::new(0);
    let written = (Mutex::new(0usize), Condvar::new());
    let pool: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    let small = |e: &Entry| {
        std::fs::metadata(&e.path)
            .map(|m| m.len() <= PARALLEL_MAX)
            .unwrap_or(false)
    };
    let mut calls_notify = false;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = mpsc::channel::<(usize, anyhow::Result<(Vec<u8>, bool)>)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (entries, next, written) = (&entries, &next, &written);
            let pool = &pool;
            scope.spawn(move || {
                let mut worker = Worker::default();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(e) = entries.get(i) else { break };
                    if !small(e) {
                        continue; // the writer streams big files itself
                    }
                    let (lock, cv) = written;
                    let mut done = lock.lock().unwrap_or_else(|p| p.into_inner());
                    while i >= *done + window {
                        done = cv.wait(done).unwrap_or_else(|p| p.into_inner());
                    }
                    drop(done);
                    let out = pool
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .pop()
                        .unwrap_or_default();
                    if tx
                        .send((i, compress_alone(e, opts.level, &mut worker, out)))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut zip = ZipWriter::new(std::io::BufWriter::with_capacity(
            256 * 1024,
            out.as_file_mut(),
        ));
        let mut ready: BTreeMap<usize, (Vec<u8>, bool)> = BTreeMap::new();
        let result = (|| -> anyhow::Result<()> {
            for (i, e) in entries.iter().enumerate() {
                if small(e) {
                    let (bytes, notify) = loop {
                        if let Some(piece) = ready.remove(&i) {
                            break piece;
                        }
                        let (j, piece) = rx
                            .recv()
                            .map_err(|_| anyhow!("a compression worker stopped"))?;
                        ready.insert(j, piece?);
                    };
                    let mut one = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
                    zip.raw_copy_file(one.by_index_raw(0)?)?;
                    // Entry buffers go back to the workers instead of being freed on this
                    // thread: memory stays at a window's worth of entries.
                    pool.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(one.into_inner().into_inner());
                    calls_notify |= notify;
                } else {
                    let deflate = zip_entry::deflate_it(&e.name, opts.level);
                    zip.start_file(e.name.as_str(), options_for(e, opts.level, deflate)?)?;
                    calls_notify |= copy_entry(e, &mut zip)?;
                }
                let (lock, cv) = &written;
                *lock.lock().unwrap_or_else(|p| p.into_inner()) = i + 1;
                cv.notify_all();
            }
            zip.finish()?.flush()?;
            Ok(())
        })();
        // On error, release waiting workers so the scope can end.
        next.store(usize::MAX / 2, Ordering::SeqCst);
        let (lock, cv) = &written;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = usize::MAX / 2;
        cv.notify_all();
        drop(rx);
        result
    })?;
    // The writer seeks back to patch headers, so hash the finished file in one pass. (No
    // fsync: the zip is uploaded or kept as a build artefact; a crash just means zipping again.)
    let file = out.as_file_mut();
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let size = std::io::copy(
        &mut BufReader::with_capacity(256 * 1024, &mut *file),
        &mut hasher,
    )?;
    Ok(Zipped {
        size,
        sha256: hex::encode(hasher.finalize()),
        files: entries.len(),
        calls_notify,
        file: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("assets/img")).unwrap();
        std::fs::write(
            root.join("index.html"),
            "<html><script src=app.js></script></html>".repeat(20),
        )
        .unwrap();
        std::fs::write(
            root.join("app.js"),
            "CapacitorUpdater.notifyAppReady();\n".repeat(200),
        )
        .unwrap();
        std::fs::write(root.join(".well-known"), "hidden").unwrap();
        // xorshift: bytes deflate cannot shrink, like a real JPEG.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        std::fs::write(root.join("assets/img/photo.jpg"), &noise).unwrap();
        // Incompressible under a name that does not say so: stored after a try.
        std::fs::write(root.join("assets/data.bin"), &noise).unwrap();
    }

    fn opts() -> ZipOptions {
        ZipOptions {
            level: 6,
            exclude: vec![],
        }
    }

    #[test]
    fn same_bytes_twice_even_after_touching_files() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("www");
        tree(&root);
        let a = zip_folder(&root, &opts(), d.path()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        for f in ["index.html", "app.js"] {
            let p = root.join(f);
            let text = std::fs::read(&p).unwrap();
            std::fs::write(&p, text).unwrap(); // new mtime, same content
        }
        let b = zip_folder(&root, &opts(), d.path()).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(
            std::fs::read(a.file.path()).unwrap(),
            std::fs::read(b.file.path()).unwrap()
        );
        assert!(a.calls_notify);
        assert_eq!(a.files, 5, "hidden files are included");
    }

    #[test]
    fn unzips_to_exactly_the_input_tree() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("www");
        tree(&root);
        let z = zip_folder(&root, &opts(), d.path()).unwrap();
        let mut archive = zip::ZipArchive::new(File::open(z.file.path()).unwrap()).unwrap();
        let mut names = Vec::new();
        for i in 0..archive.len() {
            let mut f = archive.by_index(i).unwrap();
            let name = f.name().to_string();
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            assert_eq!(got, std::fs::read(root.join(&name)).unwrap(), "{name}");
            if name.ends_with(".jpg") || name.ends_with(".bin") {
                assert_eq!(
                    f.compression(),
                    CompressionMethod::Stored,
                    "incompressible files are stored"
                );
            }
            if name == "app.js" {
                assert_eq!(f.compression(), CompressionMethod::Deflated);
            }
            names.push(name);
        }
        assert_eq!(
            names,
            [
                ".well-known",
                "app.js",
                "assets/data.bin",
                "assets/img/photo.jpg",
                "index.html"
            ]
        );
    }

    #[test]
    fn exclude_and_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("www");
        tree(&root);
        let names = |r: &Path, ex: &[String]| {
            collect(r, ex)
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(
                &root,
                &[
                    "**/*.jpg".to_string(),
                    ".*".to_string(),
                    "*.bin".to_string()
                ]
            ),
            ["app.js", "index.html"]
        );
        #[cfg(unix)]
        {
            std::fs::write(d.path().join("secret.txt"), "outside").unwrap();
            std::os::unix::fs::symlink(root.join("app.js"), root.join("alias.js")).unwrap();
            assert!(
                names(&root, &[]).contains(&"alias.js".to_string()),
                "links inside the folder are followed"
            );
            std::os::unix::fs::symlink(d.path().join("secret.txt"), root.join("leak.txt")).unwrap();
            let err = collect(&root, &[]).unwrap_err().to_string();
            assert!(err.contains("outside the build folder"), "{err}");
        }
    }

    #[test]
    fn finds_notify_across_chunk_borders() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("www");
        std::fs::create_dir_all(&root).unwrap();
        let mut js = vec![b' '; 64 * 1024 - 5];
        js.extend_from_slice(b"notifyAppReady();");
        std::fs::write(root.join("main.js"), &js).unwrap();
        assert!(zip_folder(&root, &opts(), d.path()).unwrap().calls_notify);
        std::fs::write(root.join("main.js"), "console.log('no call')").unwrap();
        assert!(!zip_folder(&root, &opts(), d.path()).unwrap().calls_notify);
    }
}
