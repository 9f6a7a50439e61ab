//! `/v1/apps/{app}/devices/{device}/…`: operator overrides, a device's recent events, and
//! debug sessions.

use crate::api::{
    DebugEnded, DebugSession, DeviceChannel, OverrideDeleted, SetDeviceChannel, StartDebug,
};
use crate::code::Code;
use crate::store::AssignedBy;
use crate::store::ports::*;

use super::apps::existing;
use super::auth::allow;
use crate::device::{DEBUG_MINUTES_DEFAULT, DEBUG_MINUTES_MAX, now_ms};
use crate::device_request::is_uuid;
use crate::error::ApiError;
use crate::http_util::{Req, Resp, ok, parse_json, query_pairs};
use crate::key::Mode;
use crate::state::State;

fn device_id(raw: &str) -> Result<String, ApiError> {
    if !is_uuid(raw) {
        return Err(ApiError::bad_request(
            Code::InvalidDeviceId,
            format!("`{raw}` is not a device UUID"),
        ));
    }
    Ok(raw.to_ascii_lowercase())
}

pub async fn get_override(
    state: &State,
    req: &Req,
    app_id: &str,
    device: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    let device = device_id(device)?;
    existing(state, app_id).await?;
    let channel = state
        .store
        .get_override(app_id, &device)
        .await?
        .map(|o| o.channel);
    Ok(ok(&DeviceChannel {
        device_id: device,
        channel,
    }))
}

pub async fn set_override(
    state: &State,
    req: &Req,
    app_id: &str,
    device: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    let device = device_id(device)?;
    let body: SetDeviceChannel = parse_json(req.body())?;
    existing(state, app_id).await?;
    if state
        .store
        .get_channel(app_id, &body.channel)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "no channel {} in {app_id}",
            body.channel
        )));
    }
    state
        .store
        .set_override(app_id, &device, &body.channel, AssignedBy::Operator)
        .await?;
    Ok(ok(&DeviceChannel {
        device_id: device,
        channel: Some(body.channel),
    }))
}

pub async fn delete_override(
    state: &State,
    req: &Req,
    app_id: &str,
    device: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    let device = device_id(device)?;
    existing(state, app_id).await?;
    let deleted = state.store.delete_override(app_id, &device).await?;
    Ok(ok(&OverrideDeleted {
        device_id: device,
        deleted,
    }))
}

pub async fn events(
    state: &State,
    req: &Req,
    app_id: &str,
    device: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    let device = device_id(device)?;
    let mut since = 0i64;
    let mut limit = 200usize;
    for (k, v) in query_pairs(req.uri().query()) {
        match k.as_str() {
            "since" => {
                since = v.parse().map_err(|_| {
                    ApiError::bad_request(
                        Code::InvalidQueryParameters,
                        "since must be milliseconds since the epoch",
                    )
                })?
            }
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=1000).contains(l))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            Code::InvalidQueryParameters,
                            "limit must be 1 to 1000",
                        )
                    })?
            }
            _ => {}
        }
    }
    existing(state, app_id).await?;
    Ok(ok(&state
        .store
        .device_events(app_id, &device, since, limit)
        .await?))
}

/// Starts or renews a debug session: until it ends, the device's update checks are logged
/// (its other events always are). A read key may do it: it only decides what gets recorded
/// about the device, and watching a device is what read keys are for.
pub async fn start_debug(
    state: &State,
    req: &Req,
    app_id: &str,
    device: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    let device = device_id(device)?;
    let body: StartDebug = if req.body().iter().all(u8::is_ascii_whitespace) {
        StartDebug::default()
    } else {
        parse_json(req.body())?
    };
    let minutes = body.minutes.unwrap_or(DEBUG_MINUTES_DEFAULT);
    if !(1..=DEBUG_MINUTES_MAX).contains(&minutes) {
        return Err(ApiError::bad_request(
            Code::InvalidMinutes,
            format!("minutes must be 1 to {DEBUG_MINUTES_MAX}"),
        ));
    }
    existing(state, app_id).await?;
    let until = now_ms() + i64::from(minutes) * 60_000;
    state.store.start_debug(app_id, &device, until).await?;
    Ok(ok(&DebugSession {
        device_id: device,
        until,
    }))
}

pub async fn end_debug(
    state: &State,
    req: &Req,
    app_id: &str,
    device: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    let device = device_id(device)?;
    existing(state, app_id).await?;
    let ended = state.store.end_debug(app_id, &device).await?;
    Ok(ok(&DebugEnded {
        device_id: device,
        ended,
    }))
}
