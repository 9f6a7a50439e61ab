//! `/v1/apps/{app}/channels`: channels, their flags and the bundle they serve.

use crate::api::{ChannelDeleted, ChannelFields};
use crate::code::Code;
use crate::store::ports::*;

use super::apps::existing;
use super::auth::allow;
use crate::channel::{Channel, is_valid_channel_name};
use crate::device::now_ms;
use crate::error::ApiError;
use crate::history::{ChangeKind, ChannelChange};
use crate::http_util::{Req, Resp, created, ok, parse_json};
use crate::key::Mode;
use crate::state::State;

/// The channel with `fields` applied, or why not: a rolled-back bundle needs `repromote`,
/// and rollback settings must make sense.
fn with_fields(current: &Channel, fields: &ChannelFields) -> Result<Channel, ApiError> {
    let mut channel = fields.apply(current);
    if let Some(Some(version)) = &fields.bundle
        && current.bundle.as_ref() != Some(version)
    {
        crate::release::admit(&mut channel, version, fields.repromote == Some(true))?;
    }
    channel
        .auto_rollback
        .validate()
        .map_err(|m| ApiError::bad_request(Code::InvalidAutoRollback, m))?;
    Ok(channel)
}

pub async fn create(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    let fields: ChannelFields = parse_json(req.body())?;
    let Some(name) = fields.name.as_deref() else {
        return Err(ApiError::bad_request(
            Code::InvalidJsonBody,
            "`name` (a string) is required",
        ));
    };
    if !is_valid_channel_name(name) {
        return Err(ApiError::bad_request(
            Code::InvalidChannelName,
            "channel names have 1 to 64 letters, digits, `-`, `_` or `.`",
        ));
    }
    existing(state, app_id).await?;
    let mut channel = with_fields(&Channel::new(name), &fields)?;
    channel.created_at = now_ms();
    channel.updated_at = channel.created_at;
    let saved = state.store.create_channel(app_id, &channel).await?;
    Ok(created(&saved))
}

pub async fn list(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    existing(state, app_id).await?;
    Ok(ok(&state.store.list_channels(app_id).await?))
}

pub(super) async fn existing_channel(
    state: &State,
    app_id: &str,
    name: &str,
) -> Result<Channel, ApiError> {
    state
        .store
        .get_channel(app_id, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no channel {name} in {app_id}")))
}

pub async fn get(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    Ok(ok(&existing_channel(state, app_id, name).await?))
}

pub async fn update(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    let caller = allow(state, req, Mode::Write, Some(app_id)).await?;
    let fields: ChannelFields = parse_json(req.body())?;
    let current = existing_channel(state, app_id, name).await?;
    if fields.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(
            Code::InvalidJsonBody,
            "a channel cannot be renamed",
        ));
    }
    let mut channel = with_fields(&current, &fields)?;
    channel.updated_at = now_ms();
    let change = ChannelChange::between(&current, &channel, &caller.id, ChangeKind::Set, now_ms());
    let saved = state
        .store
        .update_channel(app_id, &channel, change.as_ref())
        .await?;
    if let Some(change) = &change {
        crate::webhook::announce(state, app_id, name, change);
    }
    Ok(ok(&saved))
}

pub async fn delete(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    let existed = state.store.delete_channel(app_id, name).await;
    if !existed? {
        return Err(ApiError::not_found(format!(
            "no channel {name} in {app_id}"
        )));
    }
    Ok(ok(&ChannelDeleted {
        name: name.to_string(),
        deleted: true,
    }))
}
