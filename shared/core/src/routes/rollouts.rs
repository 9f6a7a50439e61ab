//! `/v1/apps/{app_id}/channels/{channel}/rollout` and `…/rollback`: staged rollouts,
//! promotion and rollback. Each reads the channel, changes it (`release`) and writes it back
//! on the condition that nobody changed it in between.

use crate::api::{RollbackRequest, RolloutChange, RolloutStart};
use crate::channel::Channel;
use crate::device::now_ms;
use crate::error::ApiError;
use crate::http_util::{Req, Resp, ok, parse_json};
use crate::key::{Mode, random_hex};
use crate::release;
use crate::state::State;
use crate::store::ports::*;

use super::auth::allow;
use super::channels::existing_channel;

/// Writes the changed channel, stamped now.
async fn save(state: &State, app_id: &str, mut channel: Channel) -> Result<Resp, ApiError> {
    channel.updated_at = now_ms();
    Ok(ok(&state.store.update_channel(app_id, &channel).await?))
}

pub async fn start(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    let body: RolloutStart = parse_json(req.body())?;
    let current = existing_channel(state, app_id, name).await?;
    let next = release::start_rollout(&current, &body, random_hex(8), now_ms())?;
    save(state, app_id, next).await
}

pub async fn change(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    let body: RolloutChange = parse_json(req.body())?;
    let current = existing_channel(state, app_id, name).await?;
    save(state, app_id, release::change_rollout(&current, &body)?).await
}

pub async fn promote(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    let current = existing_channel(state, app_id, name).await?;
    save(state, app_id, release::promote(&current)?).await
}

pub async fn rollback(
    state: &State,
    req: &Req,
    app_id: &str,
    name: &str,
) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Write, Some(app_id)).await?;
    // An empty body is a rollback to wherever the channel came from.
    let body: RollbackRequest = if req.body().is_empty() {
        RollbackRequest::default()
    } else {
        parse_json(req.body())?
    };
    let current = existing_channel(state, app_id, name).await?;
    let (next, _) = release::roll_back(&current, body.to.as_deref())?;
    save(state, app_id, next).await
}
