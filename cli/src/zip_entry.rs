//! One file of a bundle, compressed in memory by libdeflate and framed as a one-entry zip,
//! which the bundle's `ZipWriter` then copies in raw (`raw_copy_file`).
//!
//! Why not `ZipWriter::start_file`: the `zip` crate deflates through flate2 (streaming zlib),
//! and in a profile of `updraft bundle zip` 95 % of the time was deflate itself. libdeflate
//! compresses whole buffers about twice as fast at the same level, but the `zip` crate has no
//! way to add data that is compressed already, so the entry's two headers are written here;
//! the `zip` crate still reads them back (checking them) and writes the bundle itself.

/// Formats that are compressed already: deflating them costs time and saves nothing.
const PRECOMPRESSED: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "avif", "heic", "ico", "woff", "woff2", "mp3", "mp4",
    "m4a", "aac", "webm", "ogg", "ogv", "zip", "gz", "br", "zst", "xz", "7z", "pdf",
];

/// Whether to deflate a file: not at level 0, not formats that are compressed already.
pub fn deflate_it(name: &str, level: u32) -> bool {
    level > 0
        && !name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| PRECOMPRESSED.iter().any(|p| ext.eq_ignore_ascii_case(p)))
}

/// A worker's reusable state: the compressor and its output buffer.
#[derive(Default)]
pub struct Deflater {
    compressor: Option<libdeflater::Compressor>,
    deflated: Vec<u8>,
}

/// The file's bytes as a one-entry zip, written into `out` (cleared first): deflated when
/// that shrinks them by at least 3 %, stored otherwise. Metadata is fixed (1980-01-01, mode
/// 0644) so zips are reproducible.
pub fn one_entry_zip(
    name: &str,
    data: &[u8],
    level: u32,
    state: &mut Deflater,
    out: &mut Vec<u8>,
) -> anyhow::Result<()> {
    let Deflater {
        compressor,
        deflated,
    } = state;
    deflated.clear();
    if deflate_it(name, level) && !data.is_empty() {
        let c = compressor.get_or_insert_with(|| {
            libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(level.min(12) as i32)
                    .unwrap_or_else(|_| libdeflater::CompressionLvl::default()),
            )
        });
        deflated.resize(c.deflate_compress_bound(data.len()), 0);
        let n = c
            .deflate_compress(data, deflated)
            .map_err(|e| anyhow::anyhow!("cannot compress {name}: {e:?}"))?;
        deflated.truncate(n);
    }
    let shrank = !deflated.is_empty() && deflated.len() * 100 < data.len() * 97;
    let (method, body): (u16, &[u8]) = if shrank { (8, deflated) } else { (0, data) };
    anyhow::ensure!(
        data.len() < u32::MAX as usize,
        "{name} is too large for an in-memory entry"
    );
    let crc = libdeflater::crc32(data);
    let name_bytes = name.as_bytes();
    // Bit 11: the name is UTF-8 (as the zip crate marks it).
    let flags: u16 = if name.is_ascii() { 0 } else { 1 << 11 };
    // 1980-01-01 00:00:00 in MS-DOS form, the zip crate's `DateTime::default()`.
    let (time, date): (u16, u16) = (0, (1 << 5) | 1);

    out.clear();
    out.reserve(body.len() + 2 * name_bytes.len() + 128);
    let common = |out: &mut Vec<u8>| {
        for v in [20u16, flags, method, time, date] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, body.len() as u32, data.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(name_bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    };
    // Local file header, then the data.
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    common(out);
    out.extend_from_slice(name_bytes);
    out.extend_from_slice(body);
    // Central directory header: made by Unix (3) with zip 2.0, mode 0644 regular file.
    let central_at = out.len();
    out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    out.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
    common(out);
    for v in [0u16, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes()); // comment length, disk, internal attributes
    }
    out.extend_from_slice(&((0o100644u32) << 16).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    out.extend_from_slice(name_bytes);
    let central_len = out.len() - central_at;
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, 1, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central_len as u32).to_le_bytes());
    out.extend_from_slice(&(central_at as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_back(zip: Vec<u8>) -> (String, Vec<u8>, zip::CompressionMethod, Option<u32>) {
        let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut f = a.by_index(0).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap(); // checks the CRC too
        (f.name().to_string(), data, f.compression(), f.unix_mode())
    }

    fn entry(name: &str, data: &[u8], level: u32, state: &mut Deflater) -> Vec<u8> {
        let mut out = b"left over".to_vec();
        one_entry_zip(name, data, level, state, &mut out).unwrap();
        out
    }

    #[test]
    fn the_zip_crate_reads_back_deflated_and_stored_entries() {
        let text = b"CapacitorUpdater.notifyAppReady();\n".repeat(500);
        let mut c = Deflater::default();
        let (name, data, method, mode) = read_back(entry("assets/app.js", &text, 6, &mut c));
        assert_eq!(
            (name.as_str(), data, method, mode),
            (
                "assets/app.js",
                text.clone(),
                zip::CompressionMethod::Deflated,
                Some(0o100644)
            )
        );
        // Level 0, a compressed format, an empty file, a non-ASCII name: all stored.
        for (name, bytes, level) in [
            ("app.js", &text[..], 0),
            ("photo.jpg", &text[..], 6),
            ("empty.txt", &b""[..], 6),
            ("données/é.js", &text[..], 0),
        ] {
            let (got_name, data, method, _) = read_back(entry(name, bytes, level, &mut c));
            assert_eq!(
                (got_name.as_str(), data.as_slice(), method),
                (name, bytes, zip::CompressionMethod::Stored)
            );
        }
    }
}
