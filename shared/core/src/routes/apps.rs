//! `/v1/apps`.

use crate::api::{AppDeleted, AppPatch, NewApp};
use crate::code::Code;
use crate::store::ports::*;

use super::auth::allow;
use crate::app::{App, is_valid_app_id};
use crate::device::now_ms;
use crate::error::ApiError;
use crate::http_util::{Req, Resp, created, ok, parse_json};
use crate::key::Mode;
use crate::state::State;
use crate::webhook::{Webhook, check_url};

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 128 {
        return Err(ApiError::bad_request(
            Code::InvalidName,
            "the app name must have 1 to 128 characters",
        ));
    }
    Ok(())
}

pub async fn create(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let body: NewApp = parse_json(req.body())?;
    allow(state, req, Mode::All, Some(&body.app_id)).await?;
    if !is_valid_app_id(&body.app_id) {
        return Err(ApiError::bad_request(
            Code::InvalidAppId,
            format!(
                "`{}` is not a reverse-domain app id such as com.example.app",
                body.app_id
            ),
        ));
    }
    let name = body.name.unwrap_or_else(|| body.app_id.clone());
    check_name(&name)?;
    let app = App {
        app_id: body.app_id,
        name,
        expose_metadata: body.expose_metadata,
        created_at: now_ms(),
        webhook: None,
    };
    state.store.create_app(&app).await?;
    Ok(created(&app))
}

pub async fn list(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let key = allow(state, req, Mode::Read, None).await?;
    let apps: Vec<App> = state
        .store
        .list_apps()
        .await?
        .into_iter()
        .filter(|a| key.allows_app(&a.app_id))
        .map(App::redacted)
        .collect();
    Ok(ok(&apps))
}

/// The app, or 404; the caller must already be allowed on it.
pub async fn existing(state: &State, app_id: &str) -> Result<App, ApiError> {
    state
        .store
        .get_app(app_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no app {app_id}")))
}

pub async fn get(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    Ok(ok(&existing(state, app_id).await?.redacted()))
}

pub async fn update(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::All, Some(app_id)).await?;
    let patch: AppPatch = parse_json(req.body())?;
    let mut app = existing(state, app_id).await?;
    if let Some(name) = patch.name {
        check_name(&name)?;
        app.name = name;
    }
    if let Some(e) = patch.expose_metadata {
        app.expose_metadata = e;
    }
    let new_secret = match &patch.webhook {
        None => false,
        Some(None) => {
            app.webhook = None;
            false
        }
        Some(Some(url)) => {
            check_url(url, state.config.webhooks_allow_private)
                .map_err(|m| ApiError::bad_request(Code::InvalidWebhook, m))?;
            app.webhook = Some(Webhook::new(url));
            true
        }
    };
    state.store.update_app(&app).await?;
    // The secret is shown in the answer that made it, never again.
    Ok(ok(&if new_secret { app } else { app.redacted() }))
}

pub async fn delete(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::All, Some(app_id)).await?;
    existing(state, app_id).await?;
    let mut keys = state.store.delete_app(app_id).await?;
    // Its file objects (delta updates) go too.
    let blobs = state.storage.blobs()?;
    keys.extend(
        blobs
            .list(&format!("{app_id}/{}/", crate::bundle::FILES_DIR))
            .await?,
    );
    for key in keys {
        if let Err(e) = crate::blobs::delete_bundle_bytes(state.storage.blobs()?, &key).await {
            tracing::warn!(%key, error = %e, "could not delete a bundle's bytes");
        }
    }
    Ok(ok(&AppDeleted {
        app_id: app_id.to_string(),
        deleted: true,
    }))
}
