//! `/v1/apps/{app_id}/channels/{channel}/rollout` and `…/rollback`: staged rollouts,
//! promotion and rollback. Each reads the channel, changes it (`release`) and writes it back
//! on the condition that nobody changed it in between.

use crate::api::{ChannelStatus, RollbackRequest, RolloutChange, RolloutStart, VersionHealth};
use crate::channel::Channel;
use crate::device::now_ms;
use crate::error::ApiError;
use crate::history::{ChangeKind, ChannelChange, HISTORY_LIMIT};
use crate::http_util::{Req, Resp, ok, parse_json};
use crate::key::{ApiKey, Mode, random_hex};
use crate::release;
use crate::state::State;
use crate::store::ports::*;

use super::auth::allow;
use super::channels::existing_channel;

/// Writes the changed channel, stamped now, with its history entry, if `current` is still
/// what is stored.
async fn save(
    state: &State,
    app_id: &str,
    current: &Channel,
    mut next: Channel,
    by: &ApiKey,
    kind: ChangeKind,
) -> Result<Resp, ApiError> {
    next.updated_at = now_ms();
    let change = ChannelChange::between(current, &next, &by.id, kind, next.updated_at);
    let saved = state
        .store
        .update_channel(app_id, &next, change.as_ref())
        .await?;
    if let Some(change) = &change {
        crate::webhook::announce(state, app_id, &saved.name, change);
    }
    Ok(ok(&saved))
}

pub async fn start(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    let caller = allow(state, req, Mode::Write, Some(app_id)).await?;
    let body: RolloutStart = parse_json(req.body())?;
    let current = existing_channel(state, app_id, name).await?;
    let next = release::start_rollout(&current, &body, random_hex(8), now_ms())?;
    let kind = match &current.rollout {
        Some(r) if r.bundle == body.bundle => ChangeKind::RolloutChanged,
        _ => ChangeKind::RolloutStarted,
    };
    save(state, app_id, &current, next, &caller, kind).await
}

pub async fn change(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    let caller = allow(state, req, Mode::Write, Some(app_id)).await?;
    let body: RolloutChange = parse_json(req.body())?;
    let current = existing_channel(state, app_id, name).await?;
    let next = release::change_rollout(&current, &body)?;
    save(
        state,
        app_id,
        &current,
        next,
        &caller,
        ChangeKind::RolloutChanged,
    )
    .await
}

pub async fn promote(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    let caller = allow(state, req, Mode::Write, Some(app_id)).await?;
    let current = existing_channel(state, app_id, name).await?;
    let next = release::promote(&current)?;
    save(state, app_id, &current, next, &caller, ChangeKind::Promoted).await
}

pub async fn rollback(
    state: &State,
    req: &Req,
    app_id: &str,
    name: &str,
) -> Result<Resp, ApiError> {
    let caller = allow(state, req, Mode::Write, Some(app_id)).await?;
    // An empty body is a rollback to wherever the channel came from.
    let body: RollbackRequest = if req.body().is_empty() {
        RollbackRequest::default()
    } else {
        parse_json(req.body())?
    };
    let current = existing_channel(state, app_id, name).await?;
    let (next, _) = release::roll_back(&current, body.to.as_deref())?;
    save(
        state,
        app_id,
        &current,
        next,
        &caller,
        ChangeKind::RolledBack,
    )
    .await
}

pub async fn history(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    existing_channel(state, app_id, name).await?;
    let entries = state
        .store
        .channel_history(app_id, name, HISTORY_LIMIT)
        .await?;
    Ok(ok(&entries))
}

pub async fn status(state: &State, req: &Req, app_id: &str, name: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    let channel = existing_channel(state, app_id, name).await?;
    let mut health = Vec::new();
    for version in channel.versions_in_use() {
        let h = crate::release_health::health_of(state, app_id, &channel, version).await?;
        health.push(VersionHealth {
            version: version.to_string(),
            rolls_back: channel.auto_rollback.trips(&h),
            health: h,
        });
    }
    let history = state.store.channel_history(app_id, name, 10).await?;
    Ok(ok(&ChannelStatus {
        channel,
        health,
        history,
    }))
}
