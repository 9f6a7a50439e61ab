//! The lifecycle's state on disk: one JSON file, replaced atomically (written to a temporary
//! file, flushed, renamed over the old one, the folder flushed). A crash or power loss
//! leaves either the old state or the new one, never half of one; and a bundle's folder is
//! complete before any state names it, so whatever the file says can be loaded.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::lifecycle::Bundles;

pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state in `dir/state.json`.
    pub fn in_dir(dir: &Path) -> StateFile {
        StateFile {
            path: dir.join("state.json"),
        }
    }

    /// The saved state; none yet is the builtin bundle. A file that cannot be read as a state
    /// (written by something else) also means builtin, the one bundle always loadable.
    pub fn load(&self) -> Bundles {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Replaces the saved state atomically.
    pub fn save(&self, state: &Bundles) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &self.path)?;
        // The rename itself reaches the disk with the folder's entry.
        File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{BundleStatus, Verified};

    /// Unpacks a bundle the way the SDK does: into a staging folder, complete, then renamed
    /// into place. Only then may a state name it.
    fn unpack(root: &Path, id: &str, marker: &str) {
        let staging = root.join(format!(".staging-{id}"));
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("index.html"), marker).unwrap();
        std::fs::rename(&staging, root.join(id)).unwrap();
    }

    /// What the app would load after a crash right now: it must exist and be complete.
    fn loadable(root: &Path, file: &StateFile) -> String {
        match file.load().current {
            None => "builtin".to_string(),
            Some(b) => std::fs::read_to_string(root.join(&b.id).join("index.html"))
                .unwrap_or_else(|e| panic!("the state names {} but it cannot load: {e}", b.id)),
        }
    }

    #[test]
    fn a_crash_at_any_step_leaves_a_loadable_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let file = StateFile::in_dir(root);
        let mut seen = Vec::new();
        // Each step persists before acting; a "crash" is a reload from disk after it.
        let mut s = file.load();
        seen.push(loadable(root, &file));
        unpack(root, "b1", "v1");
        seen.push(loadable(root, &file)); // unpacked, not yet staged
        s.downloaded("b1", "1.0.1", "aa", &Verified::Sha256("aa"))
            .unwrap();
        file.save(&s).unwrap();
        seen.push(loadable(root, &file)); // staged
        s.start();
        file.save(&s).unwrap();
        seen.push(loadable(root, &file)); // switched, pending
        s.ready();
        file.save(&s).unwrap();
        unpack(root, "b2", "v2");
        s.downloaded("b2", "1.0.2", "bb", &Verified::Sha256("bb"))
            .unwrap();
        s.start();
        file.save(&s).unwrap();
        seen.push(loadable(root, &file)); // 1.0.2 pending
        s.ready_timeout();
        file.save(&s).unwrap();
        seen.push(loadable(root, &file)); // rolled back
        assert_eq!(seen, ["builtin", "builtin", "builtin", "v1", "v2", "v1"]);
        let reloaded = file.load();
        assert_eq!(reloaded, s);
        assert_eq!(reloaded.current.unwrap().status, BundleStatus::Success);
    }

    #[test]
    fn a_half_written_temporary_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        let mut s = Bundles::default();
        s.downloaded("b1", "1.0.1", "aa", &Verified::Sha256("aa"))
            .unwrap();
        file.save(&s).unwrap();
        // A crash while writing the next state leaves only its temporary file behind.
        std::fs::write(
            dir.path().join("state.json.tmp"),
            b"{\"current\": {\"id\": \"b",
        )
        .unwrap();
        assert_eq!(file.load(), s);
    }

    #[test]
    fn no_state_or_a_foreign_file_is_builtin() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        assert_eq!(file.load(), Bundles::default());
        std::fs::write(dir.path().join("state.json"), b"not json").unwrap();
        assert_eq!(file.load().current, None);
    }
}
