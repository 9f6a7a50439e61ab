//! Release health from what devices report, and the automatic rollback it triggers.
//!
//! Reports are not authenticated (the plugin has no device credential): a device id's
//! failed start counts once per version and channel, so one device repeating itself cannot
//! trip a rollback; see SECURITY.md for what free device ids still allow.
//!
//! Runs where the reports arrive (`POST /stats`), after the answer: counting never slows or
//! fails a device's request, and a failed evaluation is simply retried by the next report.
//! Two hosts that see the threshold crossed at once both try the same conditional write;
//! one wins, so there is one rollback and one history entry.

use std::collections::BTreeMap;

use crate::action::Action;
use crate::channel::Channel;
use crate::code::Code;
use crate::decision::resolve_channel;
use crate::device::{DeviceEvent, now_ms};
use crate::device_request::DeviceInfo;
use crate::error::ApiError;
use crate::health::{Health, MAX_WINDOW_MINUTES, bucket, window_start};
use crate::history::{AUTO_ROLLBACK, ChangeKind, ChannelChange};
use crate::release;
use crate::state::State;
use crate::store::ports::*;
use crate::store::{HealthCount, StoreError};

/// An install or a failed start of a version, from a real production device.
#[derive(Debug, Clone)]
pub struct Report {
    device: DeviceInfo,
    version: String,
    failure: bool,
}

/// The report an event makes, if it says anything about a release's health.
pub fn report(device: &DeviceInfo, event: &DeviceEvent) -> Option<Report> {
    let failure = match event.action {
        Action::Set => false,
        // The plugin's report of a bundle that did not start (notifyAppReady not called).
        Action::UpdateFail => true,
        _ => return None,
    };
    // Emulators, development builds and unknown versions never count.
    event.counter?;
    Some(Report {
        device: device.clone(),
        version: event.bundle_version().to_string(),
        failure,
    })
}

/// Counts the reports against the channels that sent the versions, and rolls back any
/// release that crosses its channel's rule: after the answer.
pub fn observe(state: &State, app_id: &str, reports: Vec<Report>) {
    if reports.is_empty() {
        return;
    }
    let (state_, app_id) = (state.clone(), app_id.to_string());
    state.store.spawn_after_answer(async move {
        if let Err(e) = evaluate(&state_, &app_id, &reports).await {
            tracing::warn!(app = %app_id, error = %e.message, "release health not evaluated; the next report retries");
        }
    });
}

/// The version's health on the channel over the channel's window.
pub async fn health_of(
    state: &State,
    app_id: &str,
    channel: &Channel,
    version: &str,
) -> Result<Health, ApiError> {
    let since = window_start(now_ms(), channel.auto_rollback.window_minutes);
    let (installs, failures) = state
        .store
        .health_since(app_id, &channel.name, version, since)
        .await?;
    Ok(Health::new(installs, failures))
}

async fn evaluate(state: &State, app_id: &str, reports: &[Report]) -> Result<(), ApiError> {
    let Some(view) = state.store.view(app_id).await? else {
        return Ok(());
    };
    let now = now_ms();
    // (channel, version) → (installs, failing devices), for versions the device's channel
    // sends.
    let mut reported: BTreeMap<(String, String), (u64, Vec<String>)> = BTreeMap::new();
    // A batch is mostly one device's reports: its channel is resolved (and its stored
    // channel read) once.
    let mut channel_of: BTreeMap<&str, Option<&Channel>> = BTreeMap::new();
    for r in reports {
        let channel = match channel_of.get(r.device.device_id.as_str()) {
            Some(c) => *c,
            None => {
                let stored = crate::routes::stored_override(state, &view, &r.device).await?;
                let resolved = resolve_channel(
                    &view.channels,
                    stored.map(|c| c.name.as_str()),
                    &r.device.default_channel,
                    r.device.platform,
                    |_| true,
                )
                .map(|r| r.channel);
                channel_of.insert(&r.device.device_id, resolved);
                resolved
            }
        };
        let Some(channel) = channel else {
            continue;
        };
        if !channel.versions_in_use().any(|v| v == r.version) {
            continue;
        }
        let n = reported
            .entry((channel.name.clone(), r.version.clone()))
            .or_default();
        if r.failure {
            n.1.push(r.device.device_id.clone());
        } else {
            n.0 += 1;
        }
    }
    // A device's failed start counts once per version and channel, for as long as any
    // window may look back.
    let remember_until = now + i64::from(MAX_WINDOW_MINUTES) * 60_000;
    let mut counts = Vec::with_capacity(reported.len());
    for ((channel, version), (installs, mut failing)) in reported {
        failing.sort();
        failing.dedup();
        let failures = if failing.is_empty() {
            0
        } else {
            state
                .store
                .first_failures(app_id, &channel, &version, &failing, remember_until)
                .await?
        };
        counts.push(HealthCount {
            channel,
            version,
            bucket: bucket(now),
            installs,
            failures,
        });
    }
    state.store.count_health(app_id, &counts).await?;
    // Only a new failure can make a release worse: installs alone never trigger a read.
    for count in counts {
        let Some(channel) = view.channels.iter().find(|c| c.name == count.channel) else {
            continue;
        };
        if count.failures == 0 || !channel.auto_rollback.enabled {
            continue;
        }
        let health = health_of(state, app_id, channel, &count.version).await?;
        if channel.auto_rollback.trips(&health) {
            auto_roll_back(state, app_id, &count.channel, &count.version, health).await?;
        }
    }
    Ok(())
}

/// Rolls `version` back on the channel, if the channel still sends it: one conditional
/// write against the channel as read now, with its history entry. Whether it did.
pub async fn auto_roll_back(
    state: &State,
    app_id: &str,
    name: &str,
    version: &str,
    health: Health,
) -> Result<bool, ApiError> {
    match state.store.get_channel(app_id, name).await? {
        Some(current) => auto_roll_back_from(state, app_id, &current, version, health).await,
        None => Ok(false),
    }
}

/// The same, from the channel as it was read: refused (false) when it changed since.
pub async fn auto_roll_back_from(
    state: &State,
    app_id: &str,
    current: &Channel,
    version: &str,
    health: Health,
) -> Result<bool, ApiError> {
    let name = &current.name;
    let Some(mut next) = release::auto_roll_back(current, version) else {
        return Ok(false);
    };
    let rule = current.auto_rollback;
    let reason = format!(
        "{} failed starts and {} installs of {version} in the last {} min: failure rate {:.1} %, \
         at least {:.1} % (95 %), over the {:.1} % threshold",
        health.failures,
        health.installs,
        rule.window_minutes,
        health.failure_rate * 100.0,
        health.lower_bound * 100.0,
        f64::from(rule.threshold) / 100.0
    );
    next.updated_at = now_ms();
    let mut change = ChannelChange::between(
        current,
        &next,
        AUTO_ROLLBACK,
        ChangeKind::AutoRolledBack,
        next.updated_at,
    )
    .expect("a rollback changes what the channel serves");
    change.reason = Some(reason);
    change.health = Some(health);
    let written = match state
        .store
        .update_channel(app_id, &next, Some(&change))
        .await
    {
        Err(StoreError::NotFound(_)) => {
            // The bundle to go back to was deleted meanwhile: the native one is safe.
            let mut builtin = release::to_builtin(current, version);
            builtin.updated_at = next.updated_at;
            change.to = builtin.bundle.clone();
            change.rollout_after = builtin.rollout.clone();
            state
                .store
                .update_channel(app_id, &builtin, Some(&change))
                .await
        }
        other => other,
    };
    match written {
        Ok(_) => {
            tracing::warn!(app = %app_id, channel = %name, %version, "{}", change.describe());
            crate::webhook::announce(state, app_id, name, &change);
            Ok(true)
        }
        // Someone changed the channel since it was read (another host rolled it back, or an
        // operator acted): their write stands, and the next report looks again.
        Err(StoreError::Conflict {
            code: Code::ConcurrentUpdate,
            ..
        }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
