//! A verified zip unpacked into `.staging-{id}`, complete, then placed as the bundle folder
//! `{id}` with its file index: no state names a folder before it is whole. Entries that
//! would land outside the folder are refused.

use std::path::Path;

use crate::files::{Index, place, write_file};
use crate::progress::unpacking;
use crate::updater::Error;

/// Unpacks the zip at `zip` as the bundle `id`; the plugin's progress percents along the
/// way (one per file, by compressed bytes).
pub fn unpack(dir: &Path, id: &str, zip: &Path, limit: u64) -> Result<Vec<u32>, Error> {
    let zerr = |e: zip::result::ZipError| Error::Zip(e.to_string());
    let staging = dir.join(format!(".staging-{id}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip)?).map_err(zerr)?;
    let total: u64 = (0..archive.len())
        .filter_map(|i| archive.by_index_raw(i).ok().map(|e| e.compressed_size()))
        .sum();
    let (mut index, mut percents, mut done) = (Index::new(), Vec::new(), 0u64);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(zerr)?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(Error::Zip(format!(
                "entry {} leaves the bundle folder",
                entry.name()
            )));
        };
        let path = staging.join(&rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        let sha = write_file(&mut entry, &path, limit)?;
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        index.insert(name, sha);
        done += entry.compressed_size();
        percents.push(unpacking(done, total));
    }
    place(dir, id, &staging, &index)?;
    Ok(percents)
}
