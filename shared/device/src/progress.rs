//! Download progress as the plugin reports it to `/stats`. Its download worker maps bytes
//! (or files, for a manifest) to 10–70 % (`DownloadService.calcTotalPercent`); unpacking a
//! zip goes from 75 to 90 % (`CapgoUpdater.unzip`); placing the files is 91 %, and 100 % is
//! `download_complete` (`finishDownload`). Each notification sends `download_N` for its
//! tenth when that tenth is above the last one sent (`CapacitorUpdaterPlugin
//! .notifyDownload`), so tenths can be skipped but never repeat.
//!
//! One difference, on purpose: the plugin keeps the last tenth sent for the life of the
//! process, so a second download in the same run reports no progress at all; here each
//! download starts again from zero.

use updraft_core::action::Action;

/// Placing a downloaded bundle's files, the last step before `download_complete`.
pub const PLACED: u32 = 91;

/// Where a download is, in the plugin's overall percent.
#[derive(Debug, Default)]
pub struct Progress {
    last_tenth: u32,
}

/// The worker's share: `done` of `total` (bytes, or files), as 10–70 %.
pub fn downloading(done: u64, total: u64) -> u32 {
    if total == 0 {
        return 0;
    }
    ((done.min(total) * 100 / total) as u32).clamp(10, 70)
}

/// Unpacking a zip: `done` of `total` compressed bytes, as 75–90 %.
pub fn unpacking(done: u64, total: u64) -> u32 {
    if total == 0 {
        return 75;
    }
    75 + (done.min(total) * 15 / total) as u32
}

impl Progress {
    /// The `download_N` report a notification at `percent` makes, if any (100 is the
    /// lifecycle's `download_complete`).
    pub fn at(&mut self, percent: u32) -> Option<Action> {
        let tenth = percent / 10 * 10;
        if percent >= 100 || tenth <= self.last_tenth {
            return None;
        }
        self.last_tenth = tenth;
        Action::parse(&format!("download_{tenth}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &mut Progress, percents: &[u32]) -> Vec<String> {
        percents
            .iter()
            .filter_map(|&x| p.at(x))
            .map(|a| a.as_str().to_string())
            .collect()
    }

    #[test]
    fn a_zip_reports_each_tenth_once_from_10_to_90() {
        let mut p = Progress::default();
        let mut percents = vec![0, 5];
        percents.extend((0..=100).map(|i| downloading(i, 100)));
        percents.extend([71]);
        percents.extend((0..=10).map(|i| unpacking(i, 10)));
        percents.extend([PLACED, 100]);
        assert_eq!(
            names(&mut p, &percents),
            [
                "download_10",
                "download_20",
                "download_30",
                "download_40",
                "download_50",
                "download_60",
                "download_70",
                "download_80",
                "download_90"
            ]
        );
    }

    #[test]
    fn a_manifest_of_three_files_skips_tenths_as_the_plugin_does() {
        let mut p = Progress::default();
        let mut percents: Vec<u32> = (1..=3).map(|i| downloading(i, 3)).collect();
        percents.extend([71, PLACED, 100]);
        assert_eq!(
            names(&mut p, &percents),
            ["download_30", "download_60", "download_70", "download_90"]
        );
        assert_eq!(downloading(0, 0), 0, "an empty download makes no report");
    }
}
