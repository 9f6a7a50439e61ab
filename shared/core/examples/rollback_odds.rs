//! How the default automatic-rollback rule behaves, by simulation with the rule's own code:
//! how many devices a broken release reaches before it is rolled back, and how often a
//! healthy one is rolled back by chance. README's figures come from
//! `cargo run --release -p updraft-core --example rollback_odds`.

use updraft_core::health::{AutoRollback, Health};

/// splitmix64: a small, seedable generator (the figures must be reproducible).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Devices that install a release in which each fails to start with probability `p`, one
/// after the other: the number of devices reached when the rule trips, if it does within
/// `fleet` devices. Each device reports `set`; a failing one then `update_fail`.
fn devices_until_rollback(rule: &AutoRollback, p: f64, fleet: u64, rng: &mut Rng) -> Option<u64> {
    let (mut installs, mut failures) = (0, 0);
    for device in 1..=fleet {
        installs += 1;
        if rng.next() < p {
            failures += 1;
            if rule.trips(&Health::new(installs, failures)) {
                return Some(device);
            }
        }
    }
    None
}

fn main() {
    let rule = AutoRollback::default();
    let mut rng = Rng(20261202);
    println!(
        "rule: failure rate lower bound (Wilson, 95 %) >= {} %, at least {} failed starts\n",
        f64::from(rule.threshold) / 100.0,
        rule.min_failures
    );
    println!(
        "broken releases (share of devices failing to start) -> devices reached before the rollback"
    );
    for p in [1.0, 0.75, 0.5, 0.35] {
        let runs = 10_000;
        let mut reached: Vec<u64> = (0..runs)
            .map(|_| devices_until_rollback(&rule, p, 100_000, &mut rng).unwrap_or(u64::MAX))
            .collect();
        reached.sort_unstable();
        let caught = reached.iter().filter(|d| **d != u64::MAX).count();
        println!(
            "  {:>4.0} % failing: median {} devices, 99th percentile {}, caught in {:.1} % of {runs} runs",
            p * 100.0,
            reached[runs / 2],
            reached[runs * 99 / 100],
            caught as f64 * 100.0 / runs as f64
        );
    }
    println!("\nhealthy releases -> share rolled back by chance within 10,000 installs");
    for p in [0.005, 0.01, 0.02, 0.05, 0.1] {
        let runs = 100_000;
        let tripped = (0..runs)
            .filter(|_| devices_until_rollback(&rule, p, 10_000, &mut rng).is_some())
            .count();
        println!(
            "  {:>4.1} % failing: {tripped} of {runs} runs ({:.4} %)",
            p * 100.0,
            tripped as f64 * 100.0 / runs as f64
        );
    }
}
