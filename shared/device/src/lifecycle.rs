//! The bundle lifecycle as the stock plugin runs it, without I/O: which bundle the app loads,
//! which one it goes back to, what is staged for the next start, which versions failed here,
//! and the `/stats` reports each step makes. Every transition is a method; the caller
//! persists the result (`StateFile`) before acting on it.
//!
//! From the plugin's source (Android, `CapacitorUpdaterPlugin.java`, `CapgoUpdater.java`):
//! a downloaded bundle is verified against the update's checksum (`checksum_fail`
//! otherwise) and reported `download_complete`; it becomes the current bundle at the next
//! start (`set`); if the app does not call `notifyAppReady()` within `appReadyTimeout`
//! (10 s by default, at least 1 s) the plugin reports `app_launch_timeout` and
//! `update_fail` (`checkRevert`, `reportAppLaunchTimeout`), marks the bundle
//! `error` and goes back to the fallback (the previous good bundle, else builtin). A
//! version marked failed is not installed again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use updraft_core::action::Action;

/// A bundle's state on the device (the plugin's `BundleStatus` words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleStatus {
    /// Staged or switched to, not yet confirmed by `notify_app_ready`.
    Pending,
    /// Started and confirmed.
    Success,
    /// Failed to start here.
    Error,
}

/// A downloaded bundle: its folder's id (under the SDK's bundles folder) and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub id: String,
    pub version: String,
    pub checksum: String,
    pub status: BundleStatus,
}

/// A `/stats` event the step asks the caller to send: the action and the version it names,
/// the version the device left (`set`), and details (the launch reports' timings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub action: Action,
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub old_version: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl Report {
    pub fn new(action: Action, version: &str) -> Report {
        Report {
            action,
            version: version.to_string(),
            old_version: String::new(),
            metadata: BTreeMap::new(),
        }
    }

    fn from(mut self, old_version: &str) -> Report {
        self.old_version = old_version.to_string();
        self
    }
}

/// The builtin bundle's version name, as the plugin reports it (the protocol word is core's).
pub use updraft_core::channel::BUILTIN;

/// How a download was checked before it is offered to `accepts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified<'a> {
    /// A whole zip: the SHA-256 hex of its bytes (decrypted, when the bundle is encrypted),
    /// which must be the update's checksum.
    Sha256(&'a str),
    /// A manifest's files: each one's SHA-256 was its manifest hash before it was placed (a
    /// file that was not stops the download before this point, as in the plugin, which
    /// does not check the bundle checksum of a manifest download).
    Files,
}

/// Why a downloaded bundle is not staged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Its SHA-256 is not the update's checksum (reported `checksum_fail`).
    Checksum { expected: String, got: String },
    /// The version failed here before.
    Failed,
}

/// Everything the device knows about its bundles. `None` is the builtin bundle, always
/// loadable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundles {
    /// What the app loads.
    pub current: Option<Bundle>,
    /// What it goes back to when `current` fails to start.
    pub fallback: Option<Bundle>,
    /// Verified and unpacked, switched to at the next start.
    pub next: Option<Bundle>,
    /// Versions that failed to start here, never installed again.
    pub failed: Vec<String>,
}

impl Bundles {
    /// The version the app runs (`None`: builtin), as update checks send it.
    pub fn running(&self) -> Option<&str> {
        self.current.as_ref().map(|b| b.version.as_str())
    }

    /// Whether an update offering `version` should be downloaded: not the running or the
    /// staged version, and not one that failed here.
    pub fn wants(&self, version: &str) -> bool {
        self.running() != Some(version)
            && self.next.as_ref().map(|b| b.version.as_str()) != Some(version)
            && !self.failed.iter().any(|f| f == version)
    }

    /// Whether a downloaded bundle may be staged: not a version that failed here, and, for a
    /// zip, its SHA-256 is the update's `checksum` (already decrypted when the bundle is
    /// encrypted). Called before unpacking, so a refused download is never written out;
    /// `downloaded` applies it too.
    pub fn accepts(
        &self,
        version: &str,
        checksum: &str,
        verified: &Verified,
    ) -> Result<(), (Refused, Vec<Report>)> {
        if self.failed.iter().any(|f| f == version) {
            return Err((Refused::Failed, Vec::new()));
        }
        match verified {
            Verified::Sha256(got) if !got.eq_ignore_ascii_case(checksum) => {
                let refused = Refused::Checksum {
                    expected: checksum.to_string(),
                    got: got.to_string(),
                };
                Err((refused, vec![Report::new(Action::ChecksumFail, version)]))
            }
            _ => Ok(()),
        }
    }

    /// A download finished, unpacked into the folder `id`: staged for the next start when
    /// `accepts` does.
    pub fn downloaded(
        &mut self,
        id: &str,
        version: &str,
        checksum: &str,
        verified: &Verified,
    ) -> Result<Vec<Report>, (Refused, Vec<Report>)> {
        self.accepts(version, checksum, verified)?;
        self.next = Some(Bundle {
            id: id.to_string(),
            version: version.to_string(),
            checksum: checksum.to_ascii_lowercase(),
            status: BundleStatus::Pending,
        });
        Ok(vec![Report::new(Action::DownloadComplete, version)])
    }

    /// The app starts: a staged bundle becomes the current one (the current one, if it
    /// started fine, becomes the fallback). Returns the bundle to load.
    pub fn start(&mut self) -> (Option<Bundle>, Vec<Report>) {
        let mut reports = Vec::new();
        if let Some(next) = self.next.take() {
            let previous = self.current.take();
            let left = previous.as_ref().map_or(BUILTIN, |p| p.version.as_str());
            reports.push(Report::new(Action::Set, &next.version).from(left));
            // Only a bundle that started fine is worth going back to.
            if let Some(p) = previous.filter(|p| p.status == BundleStatus::Success) {
                self.fallback = Some(p);
            }
            self.current = Some(next);
        }
        (self.current.clone(), reports)
    }

    /// The app called `notify_app_ready`: the current bundle is good.
    pub fn ready(&mut self) {
        if let Some(c) = self.current.as_mut() {
            c.status = BundleStatus::Success;
        }
    }

    /// `app_ready_timeout` passed since the start: a current bundle that never confirmed is
    /// marked failed and the device goes back to the fallback (else builtin), as the plugin
    /// does. Returns what to load now, if it changed.
    pub fn ready_timeout(&mut self) -> (Option<Option<Bundle>>, Vec<Report>) {
        match self.current.take() {
            Some(c) if c.status != BundleStatus::Success => {
                if !self.failed.contains(&c.version) {
                    self.failed.push(c.version.clone());
                }
                self.current = self.fallback.take();
                // The plugin reports the launch timeout, then the failed update; going back
                // to a bundle (not builtin) is a `set` from builtin, as its reset does it.
                let mut reports = vec![
                    Report::new(Action::AppLaunchTimeout, &c.version),
                    Report::new(Action::UpdateFail, &c.version),
                ];
                if let Some(back) = &self.current {
                    reports.push(Report::new(Action::Set, &back.version).from(BUILTIN));
                }
                (Some(self.current.clone()), reports)
            }
            other => {
                self.current = other;
                (None, Vec::new())
            }
        }
    }

    /// The folders the state names; any other folder under the bundles folder is garbage
    /// (a download interrupted, a bundle replaced or failed) and may be deleted.
    pub fn referenced(&self) -> Vec<&str> {
        [&self.current, &self.fallback, &self.next]
            .into_iter()
            .flatten()
            .map(|b| b.id.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "aa11";

    fn staged(b: &mut Bundles, id: &str, version: &str) {
        b.downloaded(id, version, SUM, &Verified::Sha256(SUM))
            .unwrap();
    }

    #[test]
    fn a_verified_download_is_staged_and_switched_to_at_the_next_start() {
        let mut b = Bundles::default();
        assert!(b.wants("1.0.1"));
        let reports = b
            .downloaded("b1", "1.0.1", SUM, &Verified::Sha256("AA11"))
            .unwrap();
        assert_eq!(
            reports,
            vec![Report::new(Action::DownloadComplete, "1.0.1")]
        );
        assert_eq!(b.running(), None, "nothing changes before the next start");
        assert!(
            !b.wants("1.0.1"),
            "a staged version is not downloaded again"
        );
        let (load, reports) = b.start();
        assert_eq!(load.unwrap().version, "1.0.1");
        assert_eq!(
            reports,
            vec![Report::new(Action::Set, "1.0.1").from(BUILTIN)]
        );
        assert!(!b.wants("1.0.1"));
        b.ready();
        assert_eq!(b.current.as_ref().unwrap().status, BundleStatus::Success);
        assert_eq!(b.ready_timeout(), (None, vec![]), "a ready bundle stays");
    }

    #[test]
    fn a_wrong_checksum_is_refused_and_reported() {
        let mut b = Bundles::default();
        let (why, reports) = b
            .downloaded("b1", "1.0.1", SUM, &Verified::Sha256("bb22"))
            .unwrap_err();
        assert!(matches!(why, Refused::Checksum { .. }));
        assert_eq!(reports, vec![Report::new(Action::ChecksumFail, "1.0.1")]);
        assert_eq!(b, Bundles::default(), "nothing staged");
    }

    #[test]
    fn a_bundle_that_never_gets_ready_is_rolled_back_to_the_last_good_one() {
        let mut b = Bundles::default();
        staged(&mut b, "b1", "1.0.1");
        b.start();
        b.ready();
        staged(&mut b, "b2", "1.0.2");
        let (_, reports) = b.start();
        assert_eq!(
            reports,
            vec![Report::new(Action::Set, "1.0.2").from("1.0.1")],
            "a set names the bundle it left"
        );
        // No notify_app_ready: the timeout rolls back to 1.0.1 and reports the failure.
        let (load, reports) = b.ready_timeout();
        assert_eq!(load.unwrap().unwrap().version, "1.0.1");
        assert_eq!(
            reports,
            vec![
                Report::new(Action::AppLaunchTimeout, "1.0.2"),
                Report::new(Action::UpdateFail, "1.0.2"),
                // Back to 1.0.1, as the plugin's reset reports it.
                Report::new(Action::Set, "1.0.1").from(BUILTIN),
            ]
        );
        assert_eq!(b.failed, vec!["1.0.2"]);
        assert!(
            !b.wants("1.0.2"),
            "a failed version is never installed again"
        );
        assert_eq!(
            b.downloaded("b3", "1.0.2", SUM, &Verified::Files)
                .unwrap_err()
                .0,
            Refused::Failed
        );
        assert!(b.wants("1.0.3"));
    }

    #[test]
    fn a_first_bundle_that_fails_goes_back_to_builtin() {
        let mut b = Bundles::default();
        staged(&mut b, "b1", "1.0.1");
        b.start();
        let (load, reports) = b.ready_timeout();
        assert_eq!(load, Some(None), "builtin");
        assert_eq!(
            reports.last(),
            Some(&Report::new(Action::UpdateFail, "1.0.1"))
        );
        assert_eq!(b.running(), None);
    }

    #[test]
    fn a_bundle_that_never_got_ready_is_not_kept_as_a_fallback() {
        let mut b = Bundles::default();
        staged(&mut b, "b1", "1.0.1");
        b.start(); // never ready (the app crashed before it could say so)
        staged(&mut b, "b2", "1.0.2");
        b.start();
        assert_eq!(
            b.fallback, None,
            "only a bundle that started fine is a fallback"
        );
        let (load, _) = b.ready_timeout();
        assert_eq!(load, Some(None));
    }

    #[test]
    fn only_the_named_folders_are_kept() {
        let mut b = Bundles::default();
        staged(&mut b, "b1", "1.0.1");
        b.start();
        b.ready();
        staged(&mut b, "b2", "1.0.2");
        let mut kept = b.referenced();
        kept.sort();
        assert_eq!(kept, vec!["b1", "b2"]);
    }
}
