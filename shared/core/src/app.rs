//! An app: the unit devices are served under, identified by its reverse-domain id.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct App {
    pub app_id: String,
    pub name: String,
    /// Send `link` and `comment` to plugins that understand them.
    #[serde(default)]
    pub expose_metadata: bool,
    #[serde(default)]
    pub created_at: i64,
    /// Told about every change of what the app's channels serve (`webhook`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::webhook::Webhook>,
}

impl App {
    /// The app as answers show it: the webhook's secret is shown once, when it is set.
    pub fn redacted(mut self) -> App {
        if let Some(w) = &mut self.webhook {
            w.secret.clear();
        }
        self
    }
}

/// Longest app id.
pub const MAX_APP_ID_LEN: usize = 128;

/// The app id rule of the plugin protocol: `^[a-z0-9]+(\.[\w-]+)+$`, case-insensitive
/// (`openapi::app_id` says the same to clients).
pub fn is_valid_app_id(id: &str) -> bool {
    if id.is_empty() || id.len() > MAX_APP_ID_LEN {
        return false;
    }
    let mut parts = id.split('.');
    let first = parts.next().unwrap_or("");
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let mut rest = 0;
    for part in parts {
        if part.is_empty()
            || !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return false;
        }
        rest += 1;
    }
    rest > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids() {
        for ok in ["com.example.app", "io.ionic.starter", "A1.b_c.d-e", "com.x"] {
            assert!(is_valid_app_id(ok), "{ok}");
        }
        for bad in [
            "", "com", "com.", ".com", "com..x", "co m.x", "com.x/y", "é.x",
        ] {
            assert!(!is_valid_app_id(bad), "{bad}");
        }
    }
}
