//! `/v1/keys` and `/v1/whoami`.

use crate::api::{CreatedKey, KeyDeleted, NewKey};
use crate::code::Code;
use crate::store::ports::*;

use super::auth::{allow, authenticate};
use crate::app::is_valid_app_id;
use crate::device::now_ms;
use crate::error::ApiError;
use crate::http_util::{Req, Resp, created, ok, parse_json};
use crate::key::{ApiKey, Mode, hash_key, new_key_id, new_secret};
use crate::state::State;

pub async fn whoami(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let key = authenticate(state, req).await?;
    Ok(ok(&key))
}

pub async fn create(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let caller = allow(state, req, Mode::All, None).await?;
    let body: NewKey = parse_json(req.body())?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::bad_request(
            Code::InvalidName,
            "a key name of 1 to 128 characters is required",
        ));
    }
    if let Some(apps) = &body.apps {
        if let Some(bad) = apps.iter().find(|a| !is_valid_app_id(a)) {
            return Err(ApiError::bad_request(
                Code::InvalidAppId,
                format!("`{bad}` is not an app id"),
            ));
        }
        // A key limited to some apps cannot mint a key for others.
        if let Some(bad) = apps.iter().find(|a| !caller.allows_app(a)) {
            return Err(ApiError::forbidden(format!(
                "this key has no access to app {bad}"
            )));
        }
    } else if caller.apps.is_some() {
        return Err(ApiError::forbidden(
            "a key limited to some apps cannot create a key for every app",
        ));
    }
    if body.expires_at.is_some_and(|t| t <= now_ms()) {
        return Err(ApiError::bad_request(
            Code::InvalidExpiry,
            "expires_at is in the past",
        ));
    }
    // A key never outlives the key that made it: without an expiry it takes its creator's.
    let expires_at = match (body.expires_at, caller.expires_at) {
        (Some(mine), Some(theirs)) if mine > theirs => {
            return Err(ApiError::bad_request(
                Code::InvalidExpiry,
                format!("this key expires at {theirs} (ms): a key it creates must expire by then"),
            ));
        }
        (mine, theirs) => mine.or(theirs),
    };
    let secret = new_secret();
    let key = ApiKey {
        id: new_key_id(),
        name: name.to_string(),
        mode: body.mode,
        apps: body.apps,
        hash: hash_key(&secret),
        created_at: now_ms(),
        expires_at,
    };
    state.store.create_key(&key).await?;
    Ok(created(&CreatedKey {
        key,
        secret: secret.to_string(),
    }))
}

/// The keys the caller manages (`ApiKey::manages`): all of them for a key for every app.
pub async fn list(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let caller = allow(state, req, Mode::All, None).await?;
    let mut keys = state.store.list_keys().await?;
    keys.retain(|k| caller.manages(k));
    Ok(ok(&keys))
}

pub async fn delete(state: &State, req: &Req, id: &str) -> Result<Resp, ApiError> {
    let caller = allow(state, req, Mode::All, None).await?;
    // Revoking the key in hand would lock its holder out mid-rotation; rotate by creating the
    // new key first and revoking the old one with it.
    if caller.id == id {
        return Err(ApiError::conflict(
            Code::OwnKey,
            "a key cannot revoke itself: create its replacement, then revoke this one with it",
        ));
    }
    // A key the caller does not manage is, to it, no key at all.
    let managed = state
        .store
        .list_keys()
        .await?
        .into_iter()
        .any(|k| k.id == id && caller.manages(&k));
    if !managed || !state.store.delete_key(id).await? {
        return Err(ApiError::not_found(format!("no key {id}")));
    }
    Ok(ok(&KeyDeleted {
        id: id.to_string(),
        deleted: true,
    }))
}
