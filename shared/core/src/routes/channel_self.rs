//! `/channel_self`: a device picks its channel (setChannel, getChannel, unset, listChannels).

use crate::action::Action;
use crate::code::Code;
use crate::store::ports::*;

use serde_json::{Map, Value};

use super::updates::{app_view, device_event, on_premise_app, stored_override};
use crate::app::is_valid_app_id;
use crate::device_request::{
    DeviceInfo, Platform, Strictness, into_object, opt_str, parse_body, parse_device, required,
};
use crate::eligibility::{default_channel, listed_for, public_channel};
use crate::error::ApiError;
use crate::http_util::{Req, Resp, ok, query_pairs};
use crate::protocol::{ChannelChoice, SelfChannel};
use crate::state::State;
use crate::store::AssignedBy;
use crate::version::keeps_channel_locally;

fn soft(code: Code, message: &str) -> ApiError {
    ApiError::soft(code, message)
}

/// Query parameters as a JSON object, booleans and all, so one validator serves both forms.
fn query_object(req: &Req) -> Map<String, Value> {
    query_pairs(req.uri().query())
        .into_iter()
        .map(|(k, v)| {
            let value = match (k.as_str(), v.as_str()) {
                ("is_emulator" | "is_prod", "true") => Value::Bool(true),
                ("is_emulator" | "is_prod", "false") => Value::Bool(false),
                _ => Value::String(v),
            };
            (k, value)
        })
        .collect()
}

fn is_new(device: &DeviceInfo) -> bool {
    device
        .plugin_version
        .as_ref()
        .is_some_and(keeps_channel_locally)
}

fn body_device(state: &State, req: &Req) -> Result<(DeviceInfo, Map<String, Value>), ApiError> {
    let obj = into_object(parse_body(req.body())?)?;
    let device = parse_device(&obj, Strictness::Check)?;
    state
        .limits
        .check_device(&device.app_id, &device.device_id)?;
    Ok((device, obj))
}

pub(crate) async fn set(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let (device, obj) = body_device(state, req)?;
    let wanted = opt_str(&obj, "channel", 64)?.unwrap_or("").to_string();
    let view = app_view(state, &device).await?;
    let new = is_new(&device);
    let current = if new {
        None
    } else {
        stored_override(state, &view, &device).await?
    };
    if wanted.is_empty() {
        return Err(soft(Code::MissingChannel, "Missing channel"));
    }
    if current.is_some_and(|c| !c.allow_device_self_set) {
        return Err(soft(
            Code::CannotOverride,
            "An operator set this device's channel; it cannot be changed from the device",
        ));
    }
    let Some(target) = view.channels.iter().find(|c| c.name == wanted) else {
        return Err(soft(Code::ChannelNotFound, "Cannot find channel").with("channel", wanted));
    };
    if !target.allow_device_self_set {
        let err = if target.public {
            soft(
                Code::PublicChannelSelfSetNotAllowed,
                "This channel is public and does not allow device self-assignment. Unset the channel and the device will use the public channel.",
            )
        } else {
            soft(
                Code::ChannelSelfSetNotAllowed,
                "This channel does not allow devices to self associate",
            )
        };
        return Err(err.with("channel", wanted));
    }
    state.store.enqueue_event(device_event(
        &device,
        Action::SetChannel,
        Some(wanted.clone()),
    ));
    if new {
        return Ok(ok(&ChannelChoice::taken(Some(true))));
    }
    if public_channel(&view.channels, device.platform).is_some_and(|p| p.name == wanted) {
        state
            .store
            .delete_override(&device.app_id, &device.device_id)
            .await?;
    } else if current.is_none_or(|c| c.name != wanted) {
        state
            .store
            .set_override(
                &device.app_id,
                &device.device_id,
                &wanted,
                AssignedBy::Device,
            )
            .await?;
    }
    Ok(ok(&ChannelChoice::taken(None)))
}

pub(crate) async fn get(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let (device, obj) = body_device(state, req)?;
    let sent = opt_str(&obj, "channel", 64)?.unwrap_or("").to_string();
    let view = app_view(state, &device).await?;
    if is_new(&device) {
        if !sent.is_empty() {
            return Ok(ok(&ChannelChoice::stored(sent, true)));
        }
    } else if let Some(c) = stored_override(state, &view, &device).await? {
        return Ok(ok(&ChannelChoice::stored(
            c.name.clone(),
            c.allow_device_self_set,
        )));
    }
    match default_channel(&view.channels, &device.default_channel, device.platform) {
        Some(c) => Ok(ok(&ChannelChoice {
            status: "default",
            channel: Some(c.name.clone()),
            allow_set: None,
        })),
        None => Err(soft(Code::ChannelNotFound, "Cannot find channel")),
    }
}

pub(crate) async fn unset(state: &State, req: &Req) -> Result<Resp, ApiError> {
    // Old plugins send query parameters; accept a JSON body too.
    let obj = if req.body().iter().all(u8::is_ascii_whitespace) {
        query_object(req)
    } else {
        into_object(parse_body(req.body())?)?
    };
    let device = parse_device(&obj, Strictness::Check)?;
    state
        .limits
        .check_device(&device.app_id, &device.device_id)?;
    let view = app_view(state, &device).await?;
    if is_new(&device) {
        return Ok(ok(&ChannelChoice::taken(None)));
    }
    match stored_override(state, &view, &device).await? {
        Some(c) if c.allow_device_self_set => {
            state
                .store
                .delete_override(&device.app_id, &device.device_id)
                .await?;
            Ok(ok(&ChannelChoice::taken(None)))
        }
        _ => Err(soft(
            Code::CannotOverride,
            "This device has no channel it may unset itself",
        )),
    }
}

fn bad_query(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(Code::InvalidQueryParameters, msg)
}

pub(crate) async fn list(state: &State, req: &Req) -> Result<Resp, ApiError> {
    let q = query_object(req);
    if q.is_empty() {
        return Err(bad_query(
            "listing channels takes app_id, platform, is_emulator and is_prod as query parameters",
        ));
    }
    let app_id = required(&q, "app_id", Code::MissingAppId)?;
    if !is_valid_app_id(app_id) {
        return Err(bad_query(format!(
            "app_id `{}` is not a reverse domain",
            app_id.chars().take(64).collect::<String>()
        )));
    }
    let platform = q
        .get("platform")
        .and_then(Value::as_str)
        .and_then(Platform::parse)
        .ok_or_else(|| bad_query("platform must be ios, android or electron"))?;
    let flag = |k: &str, default: bool| match q.get(k) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad_query(format!("{k} must be true or false"))),
    };
    let is_emulator = flag("is_emulator", false)?;
    let is_prod = flag("is_prod", true)?;
    let view = state
        .store
        .view(app_id)
        .await?
        .ok_or_else(|| on_premise_app(app_id))?;
    let channels: Vec<SelfChannel> = view
        .channels
        .iter()
        .filter(|c| listed_for(c, platform, is_emulator, is_prod))
        .map(|c| SelfChannel {
            id: c.id,
            name: c.name.clone(),
            public: c.public,
            allow_self_set: c.allow_device_self_set,
        })
        .collect();
    Ok(ok(&channels))
}
