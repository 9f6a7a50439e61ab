//! Every route, as one function over `State`. Hosts (Lambda, `updraft serve`, tests) call `handle`.

mod apps;
mod auth;
mod bundle_files;
mod bundles;
mod channel_self;
mod channels;
mod console;
mod devices;
mod keys;
pub mod openapi;
mod rollouts;
mod stats;
pub(crate) mod table;
mod updates;

pub(crate) use updates::stored_override;

pub use auth::{Bootstrap, bootstrap_admin_hash, bootstrap_admin_key};
pub use stats::MAX_METADATA_BYTES;

use crate::code::Code;
use http::StatusCode;

use crate::error::ApiError;
use crate::http_util::{Req, Resp, ok};
use crate::rate_limit::ClientIp;
use crate::state::State;

/// The deployment unit that hosts a route (one Lambda function each in production).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Updates,
    Stats,
    Channels,
    Uploads,
    Admin,
}

impl Job {
    pub const ALL: [Job; 5] = [
        Job::Updates,
        Job::Stats,
        Job::Channels,
        Job::Uploads,
        Job::Admin,
    ];
}

/// Largest body a device route reads.
pub const DEVICE_BODY_LIMIT: usize = 64 * 1024;
/// Largest body a management route reads.
pub const API_BODY_LIMIT: usize = 1024 * 1024;

/// The body limit for a path, so hosts can refuse oversized bodies before reading them.
pub fn body_limit(path: &str) -> usize {
    if path.starts_with("/v1/") || path == "/v1" {
        API_BODY_LIMIT
    } else {
        DEVICE_BODY_LIMIT
    }
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Code::PayloadTooLarge,
        format!("the body is larger than {limit} bytes"),
    )
}

/// Which job serves a path, if any.
pub fn job_of(path: &str) -> Option<Job> {
    table::find(path).ok().flatten().map(|m| m.job())
}

/// Serves every route.
pub async fn handle(state: &State, req: Req) -> Resp {
    handle_jobs(state, &Job::ALL, req).await
}

/// Serves the routes of the given jobs; anything else is a 404 JSON.
pub async fn handle_jobs(state: &State, jobs: &[Job], req: Req) -> Resp {
    let path = req.uri().path().to_string();
    if path == "/ok" {
        return ok(&serde_json::json!({"status": "ok"}));
    }
    let limit = body_limit(&path);
    if req.body().len() > limit {
        return too_large(limit).into_response();
    }
    if !path.starts_with("/v1/")
        && let Err(e) = state.limits.check_ip(req.extensions().get::<ClientIp>())
    {
        return e.into_response();
    }
    let result = match table::find(&path) {
        Ok(Some(m)) if jobs.contains(&m.job()) => dispatch(state, &m, req).await,
        Ok(_) => Err(ApiError::not_found(format!(
            "no route for {} {path}",
            req.method()
        ))),
        Err(e) => Err(e),
    };
    result.unwrap_or_else(ApiError::into_response)
}

async fn dispatch(state: &State, m: &table::Matched, req: Req) -> Result<Resp, ApiError> {
    use table::Handler as H;
    let (app, req) = (m.param("app_id"), &req);
    match m.for_method(req.method(), req.uri().path())? {
        H::Check => updates::check(state, req).await,
        H::ManifestSize => updates::manifest_size(state, req).await,
        H::PostStats => stats::post(state, req).await,
        H::ChannelSelfSet => channel_self::set(state, req).await,
        H::ChannelSelfGet => channel_self::get(state, req).await,
        H::ChannelSelfUnset => channel_self::unset(state, req).await,
        H::ChannelSelfList => channel_self::list(state, req).await,
        H::OpenApi => Ok(openapi::document()),
        H::ConsoleRoot => Ok(console::root()),
        H::ConsoleFile => Ok(console::file(m.param("file"))),
        H::Whoami => keys::whoami(state, req).await,
        H::CreateKey => keys::create(state, req).await,
        H::ListKeys => keys::list(state, req).await,
        H::DeleteKey => keys::delete(state, req, m.param("key_id")).await,
        H::CreateApp => apps::create(state, req).await,
        H::ListApps => apps::list(state, req).await,
        H::GetApp => apps::get(state, req, app).await,
        H::UpdateApp => apps::update(state, req, app).await,
        H::DeleteApp => apps::delete(state, req, app).await,
        H::CreateChannel => channels::create(state, req, app).await,
        H::ListChannels => channels::list(state, req, app).await,
        H::GetChannel => channels::get(state, req, app, m.param("channel")).await,
        H::UpdateChannel => channels::update(state, req, app, m.param("channel")).await,
        H::DeleteChannel => channels::delete(state, req, app, m.param("channel")).await,
        H::StartRollout => rollouts::start(state, req, app, m.param("channel")).await,
        H::ChangeRollout => rollouts::change(state, req, app, m.param("channel")).await,
        H::PromoteRollout => rollouts::promote(state, req, app, m.param("channel")).await,
        H::Rollback => rollouts::rollback(state, req, app, m.param("channel")).await,
        H::ChannelHistory => rollouts::history(state, req, app, m.param("channel")).await,
        H::ChannelStatus => rollouts::status(state, req, app, m.param("channel")).await,
        H::GetOverride => devices::get_override(state, req, app, m.param("device_id")).await,
        H::SetOverride => devices::set_override(state, req, app, m.param("device_id")).await,
        H::DeleteOverride => devices::delete_override(state, req, app, m.param("device_id")).await,
        H::DeviceEvents => devices::events(state, req, app, m.param("device_id")).await,
        H::StartDebug => devices::start_debug(state, req, app, m.param("device_id")).await,
        H::EndDebug => devices::end_debug(state, req, app, m.param("device_id")).await,
        H::DailyStats => stats::daily(state, req, app).await,
        H::RegisterBundle => bundles::register(state, req, app).await,
        H::ListBundles => bundles::list(state, req, app).await,
        H::GetBundle => bundles::get(state, req, app, m.param("version")).await,
        H::DeleteBundle => bundles::delete(state, req, app, m.param("version")).await,
        H::FinalizeBundle => bundles::finalize(state, req, app, m.param("version")).await,
        H::CleanupFiles => bundle_files::cleanup(state, req, app).await,
    }
}
