//! Every route, as one function over `State`. Hosts (Lambda, `updraft serve`, tests) call `handle`.

mod apps;
mod auth;
mod bundles;
mod channel_self;
mod channels;
mod devices;
mod keys;
pub mod openapi;
mod stats;
mod updates;

pub use auth::{Bootstrap, bootstrap_admin_hash, bootstrap_admin_key};

use http::{Method, StatusCode};

use crate::error::ApiError;
use crate::http_util::{Req, Resp, ok, segments};
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
        "payload_too_large",
        format!("the body is larger than {limit} bytes"),
    )
}

/// Which job serves a path, if any.
pub fn job_of(path: &str) -> Option<Job> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["updates"] | ["updates", "manifest_size"] => Some(Job::Updates),
        ["stats"] => Some(Job::Stats),
        ["openapi.json"] => Some(Job::Admin),
        ["channel_self"] => Some(Job::Channels),
        ["v1", "whoami"] | ["v1", "keys", ..] | ["v1", "apps"] | ["v1", "apps", _] => {
            Some(Job::Admin)
        }
        ["v1", "apps", _, "channels", ..] => Some(Job::Channels),
        ["v1", "apps", _, "devices", _, "channel"] => Some(Job::Channels),
        ["v1", "apps", _, "devices", _, "events" | "debug"] | ["v1", "apps", _, "stats"] => {
            Some(Job::Stats)
        }
        ["v1", "apps", _, "bundles", ..] => Some(Job::Uploads),
        _ => None,
    }
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
    let result = match job_of(&path) {
        Some(job) if jobs.contains(&job) => dispatch(state, job, req).await,
        _ => Err(ApiError::not_found(format!(
            "no route for {} {path}",
            req.method()
        ))),
    };
    result.unwrap_or_else(ApiError::into_response)
}

fn method_not_allowed(req: &Req) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn dispatch(state: &State, job: Job, req: Req) -> Result<Resp, ApiError> {
    let segs = segments(req.uri().path());
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = req.method().clone();
    match (job, segs.as_slice()) {
        (Job::Updates, ["updates"]) if method == Method::POST => updates::check(state, &req).await,
        (Job::Updates, ["updates", "manifest_size"]) if method == Method::POST => {
            updates::manifest_size(state, &req).await
        }
        (Job::Stats, ["stats"]) if method == Method::POST => stats::post(state, &req).await,
        (Job::Channels, ["channel_self"]) => channel_self::handle(state, &req).await,
        (Job::Admin, ["openapi.json"]) if method == Method::GET => Ok(openapi::document()),
        (Job::Admin, ["v1", "whoami"]) if method == Method::GET => keys::whoami(state, &req).await,
        (Job::Admin, ["v1", "keys"]) => match method {
            Method::POST => keys::create(state, &req).await,
            Method::GET => keys::list(state, &req).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Admin, ["v1", "keys", id]) if method == Method::DELETE => {
            keys::delete(state, &req, id).await
        }
        (Job::Admin, ["v1", "apps"]) => match method {
            Method::POST => apps::create(state, &req).await,
            Method::GET => apps::list(state, &req).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Admin, ["v1", "apps", app]) => match method {
            Method::GET => apps::get(state, &req, app).await,
            Method::PATCH => apps::update(state, &req, app).await,
            Method::DELETE => apps::delete(state, &req, app).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Channels, ["v1", "apps", app, "channels"]) => match method {
            Method::POST => channels::create(state, &req, app).await,
            Method::GET => channels::list(state, &req, app).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Channels, ["v1", "apps", app, "channels", name]) => match method {
            Method::GET => channels::get(state, &req, app, name).await,
            Method::PATCH => channels::update(state, &req, app, name).await,
            Method::DELETE => channels::delete(state, &req, app, name).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Channels, ["v1", "apps", app, "devices", device, "channel"]) => match method {
            Method::GET => devices::get_override(state, &req, app, device).await,
            Method::PUT => devices::set_override(state, &req, app, device).await,
            Method::DELETE => devices::delete_override(state, &req, app, device).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Stats, ["v1", "apps", app, "devices", device, "events"]) if method == Method::GET => {
            devices::events(state, &req, app, device).await
        }
        (Job::Stats, ["v1", "apps", app, "devices", device, "debug"]) => match method {
            Method::POST => devices::start_debug(state, &req, app, device).await,
            Method::DELETE => devices::end_debug(state, &req, app, device).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Stats, ["v1", "apps", app, "stats"]) if method == Method::GET => {
            stats::daily(state, &req, app).await
        }
        (Job::Uploads, ["v1", "apps", app, "bundles"]) => match method {
            Method::POST => bundles::register(state, &req, app).await,
            Method::GET => bundles::list(state, &req, app).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Uploads, ["v1", "apps", app, "bundles", version]) => match method {
            Method::GET => bundles::get(state, &req, app, version).await,
            Method::DELETE => bundles::delete(state, &req, app, version).await,
            _ => Err(method_not_allowed(&req)),
        },
        (Job::Uploads, ["v1", "apps", app, "bundles", version, "finalize"])
            if method == Method::POST =>
        {
            bundles::finalize(state, &req, app, version).await
        }
        _ => Err(method_not_allowed(&req)),
    }
}
