//! The data dir is private to the user running `updraft serve`: it holds key hashes, device
//! data and unreleased bundles. New files are made 0600 and folders 0700 (the process
//! umask), and what an older version left readable by others is tightened at start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Files 0600, folders 0700, for everything this process creates from now on.
pub fn private_umask() {
    // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Removes group and other permissions from the data dir and everything in it.
pub fn tighten(data_dir: &Path) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(data_dir).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        if entry.path_is_symlink() {
            continue;
        }
        let meta = entry.metadata().map_err(std::io::Error::other)?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}
