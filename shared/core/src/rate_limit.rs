//! Rate limits on the device routes, per client IP and per device, so one misbehaving build or
//! one abusive host cannot crowd out a fleet. Answers 429 with `Retry-After`, which the plugin
//! honours before its next attempt.
//!
//! Limits are per process: `updraft serve` enforces them exactly; on Lambda each instance
//! enforces its own share, and the front door (API Gateway throttling, WAF rate rules) is the
//! fleet-wide backstop (see SECURITY.md).

use crate::code::Code;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use http::StatusCode;

use crate::error::ApiError;

/// The client's address, as the host saw it (socket peer, trusted proxy header, or API
/// Gateway's `sourceIp`). Hosts put it in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Requests per minute allowed per device and per IP; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub device_per_min: u32,
    pub ip_per_min: u32,
}

impl Default for RateLimits {
    /// A device checks at start and resume and posts a few stats per update: 120 a minute is
    /// far above a healthy device. Carrier NAT puts many phones behind one address, so the IP
    /// limit is generous.
    fn default() -> Self {
        RateLimits {
            device_per_min: 120,
            ip_per_min: 6000,
        }
    }
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits {
        device_per_min: 0,
        ip_per_min: 0,
    };
}

/// Past this many tracked keys, keys whose budget has fully refilled are dropped.
const PRUNE_ABOVE: usize = 50_000;
/// How often (in calls) the size is checked.
const PRUNE_EVERY: u64 = 1024;

/// Failed `/v1` authentications (a bearer token that is no live key) allowed per address and
/// minute, always on: a key has 256 random bits, so this only makes guessing pointless to
/// try, and a valid key is never slowed by it.
pub const AUTH_FAILURES_PER_MIN: u32 = 30;

pub struct RateLimiter {
    limits: RateLimits,
    devices: Option<DefaultKeyedRateLimiter<u64>>,
    ips: Option<DefaultKeyedRateLimiter<IpAddr>>,
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    calls: AtomicU64,
    hasher: std::collections::hash_map::RandomState,
}

fn keyed<K: Hash + Eq + Clone>(per_min: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_min).map(|n| governor::RateLimiter::dashmap(Quota::per_minute(n)))
}

fn limited(wait: std::time::Duration, what: &str) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        Code::TooManyRequests,
        format!("too many requests from this {what}, retry in {secs} s"),
    );
    e.retry_after = Some(secs.max(1));
    e
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits,
            devices: keyed(limits.device_per_min),
            ips: keyed(limits.ip_per_min),
            auth_failures: governor::RateLimiter::dashmap(Quota::per_minute(
                NonZeroU32::new(AUTH_FAILURES_PER_MIN).expect("non-zero"),
            )),
            calls: AtomicU64::new(0),
            hasher: Default::default(),
        }
    }

    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    /// Spends one of `ip`'s budget in `limiter` (nothing when the host did not say who called).
    fn spend_address(
        &self,
        limiter: &DefaultKeyedRateLimiter<IpAddr>,
        ip: Option<&ClientIp>,
    ) -> Result<(), ApiError> {
        let Some(ip) = ip else {
            return Ok(());
        };
        self.maybe_prune();
        limiter
            .check_key(&ip.0)
            .map_err(|not| limited(not.wait_time_from(DefaultClock::default().now()), "address"))
    }

    /// Spends one request of `ip`'s budget on the device routes.
    pub fn check_ip(&self, ip: Option<&ClientIp>) -> Result<(), ApiError> {
        match &self.ips {
            Some(limiter) => self.spend_address(limiter, ip),
            None => Ok(()),
        }
    }

    /// Spends one of `ip`'s failed authentications: past the budget, 429 instead of 401.
    pub fn failed_auth(&self, ip: Option<&ClientIp>) -> Result<(), ApiError> {
        self.spend_address(&self.auth_failures, ip)
    }

    /// Spends one request of a device's budget. Keys are hashed so the map holds no strings.
    pub fn check_device(&self, app_id: &str, device_id: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.devices else {
            return Ok(());
        };
        self.maybe_prune();
        let key = self.hasher.hash_one((app_id, device_id));
        limiter
            .check_key(&key)
            .map_err(|not| limited(not.wait_time_from(DefaultClock::default().now()), "device"))
    }

    fn maybe_prune(&self) {
        if !self
            .calls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PRUNE_EVERY)
        {
            return;
        }
        if let Some(l) = &self.devices
            && l.len() > PRUNE_ABOVE
        {
            l.retain_recent();
        }
        if let Some(l) = &self.ips
            && l.len() > PRUNE_ABOVE
        {
            l.retain_recent();
        }
        if self.auth_failures.len() > PRUNE_ABOVE {
            self.auth_failures.retain_recent();
        }
    }

    /// Keys currently tracked (devices, addresses).
    pub fn tracked(&self) -> (usize, usize) {
        (
            self.devices.as_ref().map_or(0, |l| l.len()),
            self.ips.as_ref().map_or(0, |l| l.len()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_past_its_budget_is_told_when_to_retry() {
        let rl = RateLimiter::new(RateLimits {
            device_per_min: 3,
            ip_per_min: 0,
        });
        for _ in 0..3 {
            rl.check_device("app", "dev-a").unwrap();
        }
        let e = rl.check_device("app", "dev-a").unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.code, "too_many_requests");
        // One request refills every 20 s at 3 per minute.
        assert!((1..=20).contains(&e.retry_after.unwrap()), "{e:?}");
        // Other devices, and the same device id in another app, keep their own budget.
        rl.check_device("app", "dev-b").unwrap();
        rl.check_device("other.app", "dev-a").unwrap();
    }

    #[test]
    fn addresses_are_limited_apart_and_off_means_off() {
        let rl = RateLimiter::new(RateLimits {
            device_per_min: 0,
            ip_per_min: 2,
        });
        let a = ClientIp("10.0.0.1".parse().unwrap());
        let b = ClientIp("10.0.0.2".parse().unwrap());
        rl.check_ip(Some(&a)).unwrap();
        rl.check_ip(Some(&a)).unwrap();
        assert!(rl.check_ip(Some(&a)).is_err());
        rl.check_ip(Some(&b)).unwrap();
        rl.check_ip(None).unwrap();
        for _ in 0..1000 {
            rl.check_device("app", "dev").unwrap();
        }
        let off = RateLimiter::new(RateLimits::OFF);
        for _ in 0..1000 {
            off.check_ip(Some(&a)).unwrap();
        }
        assert_eq!(off.tracked(), (0, 0));
    }
}
