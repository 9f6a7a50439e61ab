//! Webhooks: an app may name a URL that is told about every change of what its channels
//! serve (automatic rollbacks above all, and rollout steps), signed so that the receiver
//! can trust it. Delivered after the answer, with a few retries; never on a device's path.
//!
//! Each delivery is a `POST` of a JSON `WebhookEvent` with
//! `x-updraft-signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>` and
//! `x-updraft-timestamp: <unix seconds>`: a receiver recomputes the signature and refuses
//! old timestamps, so a captured delivery cannot be replayed later.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::app::App;
use crate::device::now_ms;
use crate::history::ChannelChange;
use crate::key::random_hex;
use crate::state::State;

pub const SIGNATURE_HEADER: &str = "x-updraft-signature";
pub const TIMESTAMP_HEADER: &str = "x-updraft-timestamp";
pub const EVENT_HEADER: &str = "x-updraft-event";
pub const DELIVERY_HEADER: &str = "x-updraft-delivery";
pub const MAX_URL_LEN: usize = 2048;
/// The one event there is.
pub const CHANNEL_CHANGED: &str = "channel.changed";

/// Attempts per delivery, and the pause before each retry. With a 2 s timeout per attempt
/// the worst case stays under the functions' 10 s Lambda timeout, which the wait before
/// the sandbox freezes counts against.
const ATTEMPTS: usize = 3;
const BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    pub url: String,
    /// The signing secret (`whsec_…`): in the answer that sets the webhook only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub secret: String,
}

impl Webhook {
    /// A webhook to `url` with a fresh secret.
    pub fn new(url: &str) -> Webhook {
        Webhook {
            url: url.to_string(),
            secret: format!("whsec_{}", random_hex(24)),
        }
    }
}

/// What a webhook receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEvent {
    /// Unique per event; retries of one delivery repeat it (`x-updraft-delivery` too).
    pub id: String,
    /// `channel.changed`.
    pub event: String,
    pub app_id: String,
    pub channel: String,
    pub change: ChannelChange,
}

/// The signature header's value for a body sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether an address is on the public internet: not loopback, private, link-local (the
/// cloud metadata service), shared, documentation, multicast or unspecified. A webhook is a
/// request the server makes for whoever set it: it must not reach the server's own network.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// A URL a webhook may use, or why not: `https` to a named host or a public address;
/// `http` and private addresses only when the server allows them (an intranet receiver,
/// tests: `UPDRAFT_WEBHOOK_ALLOW_PRIVATE`).
pub fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!(
            "a webhook URL has at most {MAX_URL_LEN} characters"
        ));
    }
    let uri: http::Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if allow_private => {}
        _ => return Err("a webhook URL starts with https://".into()),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| "a webhook URL names a host".to_string())?;
    if authority.as_str().contains('@') {
        return Err("a webhook URL carries no user name or password".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if allow_private {
        return Ok(());
    }
    if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") {
        return Err("a webhook may not call this server's own machine".into());
    }
    if let Ok(ip) = host.parse::<IpAddr>()
        && !is_public(ip)
    {
        return Err(format!("{ip} is not a public address"));
    }
    Ok(())
}

/// Sends a webhook's HTTP request: each host provides one (the checks on where it may go
/// are `check_url` and, for every address a name resolves to, `is_public`).
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    /// POSTs `body` with `headers` to `url` within `ATTEMPT_TIMEOUT`; the status, or why
    /// there is none.
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<u16, String>;
}

/// Tells the app's webhook, if it has one, about a change of one of its channels: after
/// the answer (the app is read then too), with retries.
pub fn announce(state: &State, app_id: &str, channel: &str, change: &ChannelChange) {
    let Some(transport) = state.webhooks.clone() else {
        return;
    };
    let event = WebhookEvent {
        id: random_hex(12),
        event: CHANNEL_CHANGED.into(),
        app_id: app_id.to_string(),
        channel: channel.to_string(),
        change: change.clone(),
    };
    let store = state.store.clone();
    state.store.spawn_after_answer(async move {
        use crate::store::ports::AppStore;
        match store.get_app(&event.app_id).await {
            Ok(Some(App {
                webhook: Some(hook),
                ..
            })) => deliver(transport, hook, event).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(app = %event.app_id, error = %e, "webhook not sent: the app could not be read")
            }
        }
    });
}

async fn deliver(transport: Arc<dyn WebhookTransport>, hook: Webhook, event: WebhookEvent) {
    let body = serde_json::to_vec(&event).expect("events serialise");
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(BACKOFF[attempt - 1]).await;
        }
        let timestamp = now_ms() / 1000;
        let headers = vec![
            ("content-type", "application/json".to_string()),
            (EVENT_HEADER, event.event.clone()),
            (DELIVERY_HEADER, event.id.clone()),
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, signature(&hook.secret, timestamp, &body)),
        ];
        match transport.post(&hook.url, headers, body.clone()).await {
            Ok(status) if (200..300).contains(&status) => return,
            Ok(status) => {
                tracing::warn!(app = %event.app_id, url = %hook.url, status, attempt, "webhook refused")
            }
            Err(e) => {
                tracing::warn!(app = %event.app_id, url = %hook.url, error = %e, attempt, "webhook not delivered")
            }
        }
    }
    tracing::error!(app = %event.app_id, url = %hook.url, id = %event.id, "webhook given up after {ATTEMPTS} attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231-style check against an independent computation of the same construction:
        // HMAC-SHA256(key = "whsec_test", "1700000000.{}").
        let sig = signature("whsec_test", 1_700_000_000, b"{}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
        assert_ne!(sig, signature("whsec_other", 1_700_000_000, b"{}"));
        assert_ne!(sig, signature("whsec_test", 1_700_000_001, b"{}"));
        assert_eq!(sig, signature("whsec_test", 1_700_000_000, b"{}"));
    }

    #[test]
    fn only_public_https_urls_unless_private_ones_are_allowed() {
        assert!(check_url("https://hooks.example.com/updraft", false).is_ok());
        assert!(check_url("https://8.8.8.8/x", false).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://localhost:8080/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://user:pw@example.com/x",
            "ftp://example.com/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(3000)), true).is_err());
    }

    #[test]
    fn public_addresses_are_told_from_internal_ones() {
        for ip in ["1.1.1.1", "2606:4700::1111", "100.63.0.1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
