//! The front door's lock. Each function is an origin of the CloudFront distribution through
//! its function URL, which is public: CloudFront's Origin Access Control for Lambda would
//! need devices to sign their POST bodies, which the updater plugin does not. So CloudFront
//! adds a secret header to every request it forwards (replacing any a viewer sent), and a
//! function answers a request without it `403` before it parses or stores anything.
//!
//! The secret is JSON from Secrets Manager, `{"current": …, "previous": …}`: CloudFront sends
//! `current`; a function admits both, so that during a rotation the edge locations still
//! sending the old value keep working (`scripts/rotate-origin-secret`).

use http::HeaderValue;
use subtle::ConstantTimeEq;
use updraft_core::ApiError;
use updraft_core::code::Code;

/// The header CloudFront adds (infra/template.yaml, `OriginCustomHeaders`).
pub const HEADER: &str = "x-updraft-origin";

/// The environment variable holding the secret's JSON.
pub const ENV: &str = "UPDRAFT_ORIGIN_SECRETS";

/// Shortest value admitted: Secrets Manager generates 48 characters.
const MIN_LEN: usize = 32;

/// The header values a function admits.
#[derive(Debug, Clone)]
pub struct OriginSecrets {
    admitted: Vec<Vec<u8>>,
}

impl OriginSecrets {
    /// The secrets from `UPDRAFT_ORIGIN_SECRETS`; `None` when it is unset or empty (a function
    /// run with no distribution in front, e.g. `sam local`). A value that is set but not a
    /// valid secret stops the function at start: failing open would unlock the URL.
    pub fn from_env() -> Result<Option<OriginSecrets>, String> {
        match std::env::var(ENV) {
            Ok(json) if !json.trim().is_empty() => OriginSecrets::parse(&json).map(Some),
            _ => Ok(None),
        }
    }

    /// `{"current": "…", "previous": "…"}`; `previous` may be absent, empty or null.
    pub fn parse(json: &str) -> Result<OriginSecrets, String> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| format!("{ENV} is not the origin secret's JSON: {e}"))?;
        let field = |name: &str| match value.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) if s.len() >= MIN_LEN => Ok(Some(s.clone())),
            Some(serde_json::Value::String(_)) => Err(format!(
                "{ENV}: `{name}` is shorter than {MIN_LEN} characters"
            )),
            Some(_) => Err(format!("{ENV}: `{name}` must be a string")),
        };
        let current = field("current")?.ok_or_else(|| format!("{ENV} has no `current`"))?;
        let admitted = std::iter::once(current)
            .chain(field("previous")?)
            .map(String::into_bytes)
            .collect();
        Ok(OriginSecrets { admitted })
    }

    /// Whether a request carrying `value` came through the distribution. Every admitted
    /// value is compared, each in constant time, so the answer's timing tells nothing.
    pub fn admits(&self, value: Option<&HeaderValue>) -> bool {
        let Some(value) = value else { return false };
        self.admitted
            .iter()
            .fold(subtle::Choice::from(0), |found, secret| {
                found | secret.as_slice().ct_eq(value.as_bytes())
            })
            .into()
    }
}

/// The answer to a request that did not come through the distribution.
pub fn refusal() -> http::Response<bytes::Bytes> {
    ApiError::new(
        http::StatusCode::FORBIDDEN,
        Code::Forbidden,
        "this function is reached through its CloudFront distribution only",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn the_current_value_is_admitted_and_nothing_else() {
        let s = OriginSecrets::parse(&format!(r#"{{"current":"{A}"}}"#)).unwrap();
        assert!(s.admits(Some(&header(A))));
        assert!(!s.admits(Some(&header(B))));
        assert!(
            !s.admits(Some(&header(&A[1..]))),
            "a prefix is not the secret"
        );
        assert!(!s.admits(Some(&header(&format!("{A}a")))));
        assert!(!s.admits(Some(&header(""))));
        assert!(!s.admits(None));
    }

    #[test]
    fn during_a_rotation_both_values_are_admitted() {
        let s = OriginSecrets::parse(&format!(r#"{{"current":"{B}","previous":"{A}"}}"#)).unwrap();
        assert!(s.admits(Some(&header(A))));
        assert!(s.admits(Some(&header(B))));
        let done = OriginSecrets::parse(&format!(r#"{{"current":"{B}","previous":""}}"#)).unwrap();
        assert!(
            !done.admits(Some(&header(A))),
            "after it, the old value is refused"
        );
    }

    #[test]
    fn a_broken_secret_is_an_error_not_an_open_door() {
        for bad in [
            "not json",
            "{}",
            r#"{"current":""}"#,
            r#"{"current":"short"}"#,
            r#"{"current":42}"#,
            &format!(r#"{{"current":"{A}","previous":"short"}}"#),
        ] {
            assert!(OriginSecrets::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_refusal_is_a_json_403() {
        let r = refusal();
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["error"], "forbidden");
    }
}
