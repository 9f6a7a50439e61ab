//! Bearer API keys: who is calling, and may they do this to this app.

use crate::code::Code;
use crate::store::ports::*;
use http::header::AUTHORIZATION;

use crate::device::now_ms;
use crate::error::ApiError;
use crate::http_util::Req;
use crate::key::{ApiKey, Mode, hash_key, new_key_id, new_secret};
use crate::state::State;
use crate::store::StoreResult;

/// The key behind the request's `Authorization: Bearer …`, or 401.
pub async fn authenticate(state: &State, req: &Req) -> Result<ApiKey, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized("missing `Authorization: Bearer <api key>` header")
        })?;
    let secret = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <api key>`")
        })?;
    // Looking up by hash means the secret itself is never compared byte by byte.
    let refused = match state.store.key_by_hash(&hash_key(secret)).await? {
        Some(key) if key.is_live(now_ms()) => return Ok(key),
        Some(_) => ApiError::unauthorized("this API key has expired"),
        None => ApiError::unauthorized("unknown or revoked API key"),
    };
    // Guessing keys is pointless, and also throttled: an address's failures are counted.
    state
        .limits
        .failed_auth(req.extensions().get::<crate::rate_limit::ClientIp>())?;
    Err(refused)
}

/// 403 unless the key has at least `mode`, and access to `app` when one is named.
pub fn require(key: &ApiKey, mode: Mode, app: Option<&str>) -> Result<(), ApiError> {
    if key.mode < mode {
        return Err(ApiError::forbidden(format!(
            "this key has mode `{}`; this needs `{}`",
            key.mode.as_str(),
            mode.as_str()
        )));
    }
    if let Some(app) = app
        && !key.allows_app(app)
    {
        return Err(ApiError::forbidden(format!(
            "this key has no access to app {app}"
        )));
    }
    Ok(())
}

/// Authenticates and authorises in one step.
pub async fn allow(
    state: &State,
    req: &Req,
    mode: Mode,
    app: Option<&str>,
) -> Result<ApiKey, ApiError> {
    let key = authenticate(state, req).await?;
    require(&key, mode, app)?;
    Ok(key)
}

/// A secret an operator may choose for the admin key: the generated format's prefix and at
/// least 24 more characters (`updraft keygen` makes 64 hex digits), so `a` or `admin` never
/// becomes a key.
pub fn is_strong_secret(s: &str) -> bool {
    s.strip_prefix(crate::key::KEY_PREFIX).is_some_and(|rest| {
        rest.len() >= 24
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Whether some live key of mode `all` for every app exists: while one does, start-up
/// leaves the keys alone.
async fn has_unlimited_admin(state: &State) -> StoreResult<bool> {
    let now = now_ms();
    Ok(state
        .store
        .list_keys()
        .await?
        .iter()
        .any(|k| k.is_unlimited_admin(now)))
}

/// At start: when no live key of mode `all` for every app exists (a first start, or the
/// last such key expired or was revoked), make one, from `given` or fresh. That is the way
/// back for an operator locked out. Returns the secret when one was generated (to show once).
pub async fn bootstrap_admin_key(state: &State, given: Option<&str>) -> StoreResult<Bootstrap> {
    // A weak secret is refused whether or not it is needed now: the operator learns at once.
    let given = given.map(str::trim).filter(|s| !s.is_empty());
    if given.is_some_and(|s| !is_strong_secret(s)) {
        return Err(crate::store::StoreError::invalid(
            Code::InvalidKey,
            "UPDRAFT_ADMIN_KEY must be `upd_` followed by at least 24 letters, digits, `_` or `-` \
             (`updraft keygen` makes one)",
        ));
    }
    if has_unlimited_admin(state).await? {
        return Ok(Bootstrap::Existing);
    }
    let (secret, generated) = match given {
        Some(s) => (s.to_string(), false),
        None => (new_secret(), true),
    };
    create_admin(state, hash_key(&secret)).await?;
    Ok(if generated {
        Bootstrap::Generated(secret)
    } else {
        Bootstrap::FromEnv
    })
}

/// Like `bootstrap_admin_key`, from the key's SHA-256 alone (a deployment parameter), so
/// the secret never passes through the infrastructure.
pub async fn bootstrap_admin_hash(state: &State, hash: &str) -> StoreResult<Bootstrap> {
    if !crate::bundle::is_sha256_hex(hash) {
        return Err(crate::store::StoreError::invalid(
            Code::InvalidKeyHash,
            "the admin key hash must be 64 lowercase hex characters",
        ));
    }
    if has_unlimited_admin(state).await? {
        return Ok(Bootstrap::Existing);
    }
    create_admin(state, hash.to_string()).await?;
    Ok(Bootstrap::FromEnv)
}

async fn create_admin(state: &State, hash: String) -> StoreResult<()> {
    let key = ApiKey {
        id: new_key_id(),
        name: "admin (bootstrap)".into(),
        mode: Mode::All,
        apps: None,
        hash,
        created_at: now_ms(),
        expires_at: None,
    };
    // A key with this secret may exist already, expired or limited: it gives way to the
    // restored admin key.
    if let Some(old) = state.store.key_by_hash(&key.hash).await? {
        state.store.delete_key(&old.id).await?;
    }
    match state.store.create_key(&key).await {
        // Two cold starts racing: the other one created it.
        Err(crate::store::StoreError::Conflict { .. }) => Ok(()),
        other => other,
    }
}

#[derive(Debug, PartialEq)]
pub enum Bootstrap {
    /// Keys already exist; nothing was done.
    Existing,
    /// The given secret became the admin key.
    FromEnv,
    /// A fresh admin key; print it once.
    Generated(String),
}

#[cfg(test)]
mod tests {
    use super::is_strong_secret;

    #[test]
    fn an_admin_secret_has_the_keys_form_and_enough_of_it() {
        assert!(is_strong_secret(&crate::key::new_secret()));
        assert!(is_strong_secret("upd_e2e_admin_key_0123456789abcdef"));
        for weak in [
            "a",
            "admin",
            "upd_short",
            "0123456789abcdef0123456789abcdef",
            "upd_has space 0123456789abcdef",
        ] {
            assert!(!is_strong_secret(weak), "{weak}");
        }
    }
}
