//! Staged rollouts: a channel serves its target bundle to a share of its devices.
//!
//! Assignment is sticky and stores nothing per device: a device's slot is a hash of the
//! rollout id and its device id into 0–9999, and the device is in the cohort while its
//! slot is below the share. Raising the share only adds devices; a new target gets a new
//! rollout id, so a fresh cohort.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A share of a channel's devices, in basis points: 10,000 is every device.
pub const ALL_DEVICES: u16 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rollout {
    /// Changes whenever the target does: each target has its own cohort.
    pub id: String,
    /// The ready bundle version the cohort gets.
    pub bundle: String,
    /// Basis points, 0–10000.
    pub share: u16,
    /// While paused no device joins the cohort; devices already on the target stay.
    #[serde(default)]
    pub paused: bool,
    /// Milliseconds since the epoch.
    pub started_at: i64,
}

impl Rollout {
    /// Whether this device gets the target: it runs it already, or its slot is in the share.
    pub fn includes(&self, device_id: &str, running: &str) -> bool {
        running == self.bundle || (!self.paused && slot(&self.id, device_id) < self.share)
    }

    /// The share as a percentage, for people.
    pub fn percent(&self) -> f64 {
        f64::from(self.share) / 100.0
    }
}

/// A device's place in a rollout's cohort order, 0–9999: uniform, and the same on every host.
pub fn slot(rollout_id: &str, device_id: &str) -> u16 {
    let digest = Sha256::new()
        .chain_update(rollout_id.as_bytes())
        .chain_update([0u8])
        .chain_update(device_id.as_bytes())
        .finalize();
    let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (head % u64::from(ALL_DEVICES)) as u16
}

/// A share from a percentage (`--percent 12.5`): basis points, or why not.
pub fn share_from_percent(percent: f64) -> Result<u16, String> {
    if !(0.0..=100.0).contains(&percent) {
        return Err(format!("a share is 0 to 100 percent, not {percent}"));
    }
    Ok((percent * 100.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(i: u32) -> String {
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            i.wrapping_mul(2_654_435_761),
            i
        )
    }

    fn rollout(id: &str, share: u16) -> Rollout {
        Rollout {
            id: id.into(),
            bundle: "1.1.0".into(),
            share,
            paused: false,
            started_at: 0,
        }
    }

    #[test]
    fn a_share_reaches_that_share_of_devices_within_half_a_percent() {
        for share in [100, 1000, 2500, 5000, 9000] {
            let r = rollout("a1b2c3d4", share);
            let n = 100_000;
            let inside = (0..n).filter(|&i| r.includes(&device(i), "1.0.0")).count();
            let got = inside as f64 / f64::from(n);
            let want = f64::from(share) / 10_000.0;
            assert!(
                (got - want).abs() <= 0.005,
                "share {share}: {got:.4} of devices, want {want:.4}"
            );
        }
    }

    #[test]
    fn raising_the_share_only_adds_devices() {
        let devices: Vec<String> = (0..20_000).map(device).collect();
        let mut before: Vec<bool> = vec![false; devices.len()];
        for share in (0..=ALL_DEVICES).step_by(250) {
            let r = rollout("cohort", share);
            for (i, d) in devices.iter().enumerate() {
                let now = r.includes(d, "1.0.0");
                assert!(now || !before[i], "{d} left the cohort at {share}");
                before[i] = now;
            }
        }
        assert!(before.iter().all(|&b| b), "every device is in at 100 %");
    }

    #[test]
    fn a_new_rollout_id_reshuffles_the_cohort() {
        let a = rollout("first", 5000);
        let b = rollout("second", 5000);
        let n = 10_000;
        let same = (0..n)
            .filter(|&i| a.includes(&device(i), "1.0.0") == b.includes(&device(i), "1.0.0"))
            .count();
        // Independent halves agree on about half the devices.
        let agree = same as f64 / f64::from(n);
        assert!((0.45..0.55).contains(&agree), "{agree}");
    }

    #[test]
    fn devices_on_the_target_stay_and_a_pause_adds_nobody() {
        let mut r = rollout("p", 0);
        assert!(r.includes(&device(1), "1.1.0"));
        assert!(!r.includes(&device(1), "1.0.0"));
        r.share = ALL_DEVICES;
        r.paused = true;
        assert!(!r.includes(&device(1), "1.0.0"));
        assert!(r.includes(&device(1), "1.1.0"));
    }

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(share_from_percent(12.5), Ok(1250));
        assert_eq!(share_from_percent(100.0), Ok(10_000));
        assert!(share_from_percent(100.5).is_err());
        assert!(share_from_percent(-1.0).is_err());
        assert!(share_from_percent(f64::NAN).is_err());
    }
}
