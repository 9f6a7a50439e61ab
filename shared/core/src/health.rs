//! A release's health, and when it is bad enough to roll back automatically.
//!
//! From production, non-emulator devices: installs (`set`) and failed starts
//! (`update_fail`) of a version. A bundle that fails on every device shows about 50 %
//! failures (each device reports `set`, then `update_fail`), healthy ones rare failures.
//! The rule looks at the Wilson lower bound (95 %) of the failure rate, so a handful of
//! early failures cannot trip it and a real failure is caught after a few devices.

use serde::{Deserialize, Serialize};

/// Health is counted in buckets of this many milliseconds (five minutes)…
pub const BUCKET_MS: i64 = 5 * 60_000;
/// …and a window is at most a day of them.
pub const MAX_WINDOW_MINUTES: u32 = 24 * 60;

/// The bucket a moment falls in.
pub fn bucket(at_ms: i64) -> i64 {
    at_ms.div_euclid(BUCKET_MS)
}

/// The first bucket of a window of `minutes` ending at `now` (the current bucket included).
pub fn window_start(now_ms: i64, minutes: u32) -> i64 {
    let buckets = ((i64::from(minutes) * 60_000 + BUCKET_MS - 1) / BUCKET_MS).max(1);
    bucket(now_ms) - buckets + 1
}

/// The oldest bucket any window may still read: older ones can be deleted.
pub fn oldest_kept(now_ms: i64) -> i64 {
    window_start(now_ms, MAX_WINDOW_MINUTES)
}

/// z for a two-sided 95 % interval.
const Z: f64 = 1.959_964;

/// A channel's automatic-rollback settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AutoRollback {
    pub enabled: bool,
    /// The failure rate's lower bound that triggers it, in basis points (2000 = 20 %).
    pub threshold: u16,
    /// Failures needed before the bound counts at all.
    pub min_failures: u32,
    /// How far back events count, in minutes.
    pub window_minutes: u32,
}

impl Default for AutoRollback {
    fn default() -> Self {
        AutoRollback {
            enabled: true,
            threshold: 2000,
            min_failures: 5,
            window_minutes: 60,
        }
    }
}

/// Installs and failed starts of one version on one channel, over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub installs: u64,
    pub failures: u64,
    /// failures / (installs + failures).
    pub failure_rate: f64,
    /// The Wilson lower bound (95 %) of the failure rate.
    pub lower_bound: f64,
}

impl Health {
    pub fn new(installs: u64, failures: u64) -> Self {
        let n = (installs + failures) as f64;
        let rate = if n > 0.0 { failures as f64 / n } else { 0.0 };
        Health {
            installs,
            failures,
            failure_rate: rate,
            lower_bound: wilson_lower_bound(failures, installs + failures),
        }
    }
}

/// The lower end of the Wilson score interval (95 %) of `hits` in `n`.
pub fn wilson_lower_bound(hits: u64, n: u64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    let p = hits as f64 / n;
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let spread = Z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    ((centre - spread) / (1.0 + z2 / n)).max(0.0)
}

impl AutoRollback {
    /// Whether a release with this health is rolled back.
    pub fn trips(&self, health: &Health) -> bool {
        self.enabled
            && health.failures >= u64::from(self.min_failures)
            && health.lower_bound * 10_000.0 >= f64::from(self.threshold)
    }

    /// Settings a person may write, or why not.
    pub fn validate(&self) -> Result<(), String> {
        if self.threshold == 0 || self.threshold > 10_000 {
            return Err("the threshold is 1 to 10000 basis points of failure rate".into());
        }
        if self.min_failures == 0 {
            return Err("at least one failure must be seen before a rollback".into());
        }
        if !(1..=MAX_WINDOW_MINUTES).contains(&self.window_minutes) {
            return Err(format!(
                "the window is 1 to {MAX_WINDOW_MINUTES} minutes (a day)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wilson_bound_matches_known_values() {
        // 5 of 10: [0.237, 0.763]; 0 of n: 0; 1 of 200 (0.5 %): 0.00088.
        assert!((wilson_lower_bound(5, 10) - 0.2366).abs() < 1e-3);
        assert_eq!(wilson_lower_bound(0, 100), 0.0);
        assert!((wilson_lower_bound(1, 200) - 0.00088).abs() < 1e-4);
        assert_eq!(wilson_lower_bound(0, 0), 0.0);
    }

    #[test]
    fn a_bundle_failing_everywhere_trips_after_five_devices() {
        let rule = AutoRollback::default();
        // Each failing device reports `set` then `update_fail`.
        assert!(!rule.trips(&Health::new(4, 4)), "four failures are too few");
        assert!(rule.trips(&Health::new(5, 5)));
    }

    #[test]
    fn a_healthy_bundle_with_rare_failures_never_trips() {
        let rule = AutoRollback::default();
        assert!(!rule.trips(&Health::new(10_000, 50)));
        assert!(!rule.trips(&Health::new(995, 5)));
        // Even an unlucky early burst: 5 failures in the first 20 reports.
        assert!(!rule.trips(&Health::new(15, 5)));
    }

    #[test]
    fn turned_off_it_never_trips() {
        let rule = AutoRollback {
            enabled: false,
            ..Default::default()
        };
        assert!(!rule.trips(&Health::new(0, 1000)));
    }

    #[test]
    fn settings_are_checked() {
        assert!(AutoRollback::default().validate().is_ok());
        for bad in [
            AutoRollback {
                threshold: 0,
                ..Default::default()
            },
            AutoRollback {
                min_failures: 0,
                ..Default::default()
            },
            AutoRollback {
                window_minutes: 0,
                ..Default::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
