//! A build's files as delta-update objects: each file's SHA-256, and the bytes to store —
//! its Brotli compression (named `file.br`, as the plugin expects) when that is smaller.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use updraft_core::api::NewFile;

use crate::zipper::collect;

/// Brotli quality for stored files, by measurement (BENCHMARKS.md, "Delta updates"): on the
/// benchmark build's 75 MB of text, 11 (the maximum) takes 18× as long as 9 (169 s against
/// 9.5 s) for 16 % fewer bytes; 5 is 3.7× faster for 18 % more.
pub const BROTLI_QUALITY: u32 = 9;
/// Smaller files are stored as they are: a few bytes saved are not worth a decompression.
const MIN_COMPRESS: usize = 512;

/// One file of the build as it will be stored. Its bytes stay on disk (the build's file
/// itself, or its compressed or encrypted form in the upload's temporary folder), so memory
/// does not grow with the build.
pub struct FileObject {
    pub file: NewFile,
    pub path: PathBuf,
}

fn brotli(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 3);
    let params = brotli::enc::BrotliEncoderParams {
        quality: BROTLI_QUALITY as i32,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut std::io::Cursor::new(data), &mut out, &params)
        .context("brotli compression failed")?;
    Ok(out)
}

/// Writes `bytes` to a new file in `tmp`.
fn spill(tmp: &Path, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let (_, path) = tempfile::Builder::new()
        .prefix("file-")
        .tempfile_in(tmp)?
        .keep()
        .map_err(|e| anyhow::anyhow!("cannot keep a temporary file: {e}"))?;
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn object(name: &str, path: &Path, tmp: &Path) -> anyhow::Result<FileObject> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file_hash = hex::encode(Sha256::digest(&data));
    let compressed = if data.len() >= MIN_COMPRESS {
        Some(brotli(&data)?).filter(|c| c.len() < data.len())
    } else {
        None
    };
    let (file_name, size, sha256, stored) = match compressed {
        Some(c) => (
            format!("{name}.br"),
            c.len(),
            hex::encode(Sha256::digest(&c)),
            spill(tmp, &c)?,
        ),
        None => (
            name.to_string(),
            data.len(),
            file_hash.clone(),
            path.to_path_buf(),
        ),
    };
    Ok(FileObject {
        file: NewFile {
            file_name,
            file_hash,
            size: size as u64,
            sha256,
        },
        path: stored,
    })
}

/// The same files for an encrypted bundle, as the plugin reads them: the stored bytes
/// encrypted with the bundle's session, and each `file_hash` the RSA-encrypted SHA-256 of
/// the original file. (Ciphertexts differ per bundle: encrypted files are not shared in
/// storage; devices still skip files they hold, by the decrypted hash.)
pub fn encrypt(
    files: Vec<FileObject>,
    rsa: &updraft_crypto::RsaPrivateKey,
    session: &updraft_crypto::Session,
    tmp: &Path,
) -> anyhow::Result<Vec<FileObject>> {
    files
        .into_iter()
        .map(|f| {
            let plain = std::fs::read(&f.path)?;
            let bytes = session.encrypt(&plain);
            let original = hex::decode(&f.file.file_hash)?;
            Ok(FileObject {
                file: NewFile {
                    file_name: f.file.file_name,
                    file_hash: updraft_crypto::encrypted_checksum(rsa, &original)?,
                    size: bytes.len() as u64,
                    sha256: hex::encode(Sha256::digest(&bytes)),
                },
                path: spill(tmp, &bytes)?,
            })
        })
        .collect()
}

/// Every file under `root` (the zip's files, same exclusions), on every core; compressed
/// forms go to `tmp`, which the caller keeps until the upload is done.
pub fn files(root: &Path, exclude: &[String], tmp: &Path) -> anyhow::Result<Vec<FileObject>> {
    let entries = collect(root, exclude)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = entries.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|e| object(&e.name, &e.path, tmp))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(entries.len());
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a compression thread panicked"))??,
            );
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn text_is_stored_compressed_and_noise_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let text = "function notifyAppReady() { return 1 }\n".repeat(100);
        std::fs::write(dir.path().join("app.js"), &text).unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(dir.path().join("noise.bin"), &noise).unwrap();
        std::fs::write(dir.path().join("tiny.txt"), "hi").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut objects = files(dir.path(), &[], tmp.path()).unwrap();
        let bytes = |o: &FileObject| std::fs::read(&o.path).unwrap();
        objects.sort_by(|a, b| a.file.file_name.cmp(&b.file.file_name));
        let names: Vec<&str> = objects.iter().map(|o| o.file.file_name.as_str()).collect();
        let sizes: Vec<u64> = objects.iter().map(|o| o.file.size).collect();
        assert_eq!(names, ["app.js.br", "noise.bin", "tiny.txt"], "{sizes:?}");
        // The plugin's check: decompress, then the hash of the original.
        let mut plain = Vec::new();
        brotli::Decompressor::new(&bytes(&objects[0])[..], 4096)
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, text.as_bytes());
        assert_eq!(
            objects[0].file.file_hash,
            hex::encode(Sha256::digest(&plain))
        );
        assert_eq!(
            objects[0].file.sha256,
            hex::encode(Sha256::digest(bytes(&objects[0])))
        );
        assert_eq!(bytes(&objects[1]), noise);
        assert_eq!(
            objects[1].path,
            dir.path().join("noise.bin"),
            "stored as it is: not copied"
        );
        assert_eq!(objects[1].file.sha256, objects[1].file.file_hash);
    }
}
