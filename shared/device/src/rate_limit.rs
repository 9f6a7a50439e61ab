//! How the plugin honours `429` (`CapgoUpdater.checkAndHandleRateLimitResponse`,
//! `resolveRateLimitBlockedUntilMs`, `isRemoteBlocked`): a `429` from a device route blocks
//! update checks, channel calls and `/stats` flushes until its `Retry-After` (seconds, or
//! the body's `retryAfterSeconds` / `moreInfo.retryAfterSeconds`, or `rateLimitResetAt` in
//! epoch ms), capped at 24 h; a 429 without a hint blocks nothing. While blocked, calls fail
//! at once with the server's error, without a request; reports wait. The first 429 of a run
//! is reported once as `rate_limit_reached` (again only if that report failed to go out).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

/// The plugin's cap on a client-side block: a bogus `Retry-After` cannot stop an app for days.
pub const MAX_BLOCK_MS: i64 = 24 * 3600 * 1000;

/// Until when a `429` answer asks the device to wait (epoch ms), if it says.
pub fn retry_deadline(now_ms: i64, retry_after: Option<&str>, body: &[u8]) -> Option<i64> {
    let seconds = |v: &Value| v.as_f64().filter(|s| *s >= 0.0);
    let raw = retry_after
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| *s >= 0.0)
        .map(|s| now_ms as f64 + s * 1000.0)
        .or_else(|| {
            let json: Value = serde_json::from_slice(body).ok()?;
            let more = &json["moreInfo"];
            let after = if more.get("retryAfterSeconds").is_some() {
                seconds(&more["retryAfterSeconds"])
            } else {
                seconds(&json["retryAfterSeconds"])
            };
            after.map(|s| now_ms as f64 + s * 1000.0).or_else(|| {
                if more.get("rateLimitResetAt").is_some() {
                    more["rateLimitResetAt"].as_f64()
                } else {
                    json["rateLimitResetAt"].as_f64()
                }
            })
        })?;
    // Past deadlines and NaN block nothing; anything further out than the cap is capped.
    (raw > now_ms as f64).then(|| raw.min((now_ms + MAX_BLOCK_MS) as f64) as i64)
}

/// The block in force, and whether `rate_limit_reached` went out.
#[derive(Default)]
pub struct RateLimit {
    block: Mutex<Option<Block>>,
    reported: AtomicBool,
}

#[derive(Clone)]
struct Block {
    until_ms: i64,
    error: String,
    message: String,
}

impl RateLimit {
    /// The server's error and message while a block is in force.
    pub fn blocked(&self, now_ms: i64) -> Option<(String, String)> {
        let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
        match block.as_ref() {
            Some(b) if now_ms < b.until_ms => Some((b.error.clone(), b.message.clone())),
            _ => {
                *block = None;
                None
            }
        }
    }

    /// A `429` came: blocks until its deadline (a later deadline wins). True when this is
    /// the one to report as `rate_limit_reached`.
    pub fn hit(&self, now_ms: i64, retry_after: Option<&str>, body: &[u8]) -> bool {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |k: &str, default: &str| {
            json[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(default)
                .to_string()
        };
        let error = text("error", "too_many_requests");
        let message = text("message", "Too many requests");
        if let Some(until_ms) = retry_deadline(now_ms, retry_after, body) {
            let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
            if block.as_ref().is_none_or(|b| until_ms > b.until_ms) {
                *block = Some(Block {
                    until_ms,
                    error: error.clone(),
                    message,
                });
            }
        }
        error == "too_many_requests" && !self.reported.swap(true, Ordering::SeqCst)
    }

    /// The `rate_limit_reached` report did not go out: the next `429` reports again.
    pub fn report_failed(&self) {
        self.reported.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    #[test]
    fn deadlines_come_from_the_header_then_the_body_and_are_capped() {
        assert_eq!(retry_deadline(NOW, Some("2"), b""), Some(NOW + 2000));
        assert_eq!(retry_deadline(NOW, Some(" 1.5 "), b""), Some(NOW + 1500));
        let body = br#"{"retryAfterSeconds": 3}"#;
        assert_eq!(retry_deadline(NOW, None, body), Some(NOW + 3000));
        assert_eq!(retry_deadline(NOW, Some("soon"), body), Some(NOW + 3000));
        let more = br#"{"moreInfo": {"retryAfterSeconds": 4}, "retryAfterSeconds": 9}"#;
        assert_eq!(retry_deadline(NOW, None, more), Some(NOW + 4000));
        let reset = format!(r#"{{"rateLimitResetAt": {}}}"#, NOW + 5000);
        assert_eq!(
            retry_deadline(NOW, None, reset.as_bytes()),
            Some(NOW + 5000)
        );
        assert_eq!(
            retry_deadline(NOW, Some("999999999"), b""),
            Some(NOW + MAX_BLOCK_MS)
        );
        // No hint, a past one or a negative one: no block.
        assert_eq!(retry_deadline(NOW, None, b"{}"), None);
        assert_eq!(retry_deadline(NOW, None, b"not json"), None);
        assert_eq!(retry_deadline(NOW, Some("-1"), b""), None);
        let past = format!(r#"{{"rateLimitResetAt": {}}}"#, NOW - 1);
        assert_eq!(retry_deadline(NOW, None, past.as_bytes()), None);
    }

    #[test]
    fn a_block_lasts_until_its_deadline_and_is_reported_once() {
        let r = RateLimit::default();
        let body = br#"{"error": "too_many_requests", "message": "slow down"}"#;
        assert!(r.hit(NOW, Some("2"), body), "the first 429 is reported");
        assert_eq!(
            r.blocked(NOW + 1999),
            Some(("too_many_requests".into(), "slow down".into()))
        );
        assert_eq!(r.blocked(NOW + 2000), None);
        assert!(!r.hit(NOW + 3000, Some("1"), body), "once");
        r.report_failed();
        assert!(
            r.hit(NOW + 3000, Some("1"), body),
            "again after a failed report"
        );
        // A shorter deadline does not shorten a longer block.
        r.hit(NOW, Some("10"), body);
        r.hit(NOW, Some("1"), body);
        assert!(r.blocked(NOW + 5000).is_some());
        // Another error code blocks without the report.
        let other = RateLimit::default();
        assert!(!other.hit(NOW, Some("1"), br#"{"error": "on_premise_app"}"#));
        assert!(other.blocked(NOW).is_some());
    }
}
