//! `POST /stats` (device events, single or batched) and `GET /v1/apps/{app}/stats`.

use crate::action::Action;
use crate::code::Code;
use crate::store::ports::*;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::apps::existing;
use super::auth::allow;
use super::updates::{device_event, on_premise_app};
use crate::device::{Counter, DeviceEvent, charged_to_running_bundle};
use crate::device_request::{DeviceInfo, MAX_TEXT, Strictness, opt_str, parse_body, parse_device};
use crate::error::ApiError;
use crate::http_util::{Req, Resp, ok};
use crate::key::Mode;
use crate::protocol::{StatsReply, StatsResult};
use crate::release_health;
use crate::state::State;
use crate::version::download_fail_is_real;

pub const MAX_BATCH: usize = 200;
const MAX_METADATA_KEYS: usize = 30;
const MAX_METADATA_KEY: usize = 64;
const MAX_METADATA_VALUE: usize = 2048;

/// A validated event, or one that is accepted but deliberately not recorded.
enum Parsed {
    Record(Box<DeviceEvent>),
    Ignore,
}

fn schema(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(Code::InvalidJsonBody, msg)
}

fn parse_event(value: &Value) -> Result<(DeviceInfo, Parsed), ApiError> {
    let obj = value
        .as_object()
        .ok_or_else(|| schema("each event must be a JSON object"))?;
    let device = parse_device(obj, Strictness::Stats)?;
    let word = opt_str(obj, "action", 64)?.ok_or_else(|| schema("`action` is required"))?;
    let action =
        Action::from_device(word).ok_or_else(|| schema(format!("unknown action `{word}`")))?;
    if action == Action::DownloadFail
        && !device
            .plugin_version
            .as_ref()
            .is_some_and(download_fail_is_real)
    {
        return Ok((device, Parsed::Ignore));
    }
    let old = opt_str(obj, "old_version_name", MAX_TEXT)?
        .unwrap_or("")
        .to_string();
    let metadata = parse_metadata(obj)?;
    let failure = action.is_failure();
    // The plugin names the bundle it runs on these, not the one whose download failed: they
    // say nothing about that version's health.
    let counted_failure = failure && !charged_to_running_bundle(action);
    let mut event = device_event(&device, action, None);
    event.old_version_name = old;
    event.metadata = metadata;
    event.updates_device = !failure;
    event.counter = if !device.is_real() {
        None
    } else if action == Action::Set {
        Some(Counter::Install)
    } else if counted_failure {
        Some(Counter::Failure)
    } else {
        None
    };
    Ok((device, Parsed::Record(Box::new(event))))
}

fn parse_metadata(obj: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    let map = match obj.get("metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(schema("`metadata` must be an object")),
    };
    if map.len() > MAX_METADATA_KEYS {
        return Err(schema(format!(
            "`metadata` has more than {MAX_METADATA_KEYS} keys"
        )));
    }
    for (k, v) in map {
        if k.chars().count() > MAX_METADATA_KEY {
            return Err(schema(format!(
                "a `metadata` key is longer than {MAX_METADATA_KEY} characters"
            )));
        }
        let len = match v {
            Value::String(s) => s.chars().count(),
            other => other.to_string().len(),
        };
        if len > MAX_METADATA_VALUE {
            return Err(schema(format!(
                "`metadata.{k}` is longer than {MAX_METADATA_VALUE} characters"
            )));
        }
    }
    Ok(Some(bounded(map)))
}

/// Metadata an event keeps, at most (keys and values, in bytes of JSON text). The protocol
/// lets a device send 30 values of 2 KB; a log entry keeps 4 KiB of them, so reports from
/// free device ids cannot fill the disk (or the table) 60 KB at a time. Past the budget,
/// values are cut (marked with `…`) and later keys dropped: the event is never refused.
pub const MAX_METADATA_BYTES: usize = 4096;

fn bounded(map: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut left = MAX_METADATA_BYTES;
    for (k, v) in map {
        let cost = k.len() + v.to_string().len();
        if cost <= left {
            out.insert(k.clone(), v.clone());
            left -= cost;
            continue;
        }
        // Room for part of a string value: cut at a character boundary, and say so.
        if let Value::String(s) = v
            && left > k.len() + 8
        {
            let room = left - k.len() - 8;
            let cut: String = s
                .char_indices()
                .take_while(|(i, c)| i + c.len_utf8() <= room)
                .map(|(_, c)| c)
                .collect();
            out.insert(k.clone(), Value::String(format!("{cut}…")));
        }
        break;
    }
    out
}

/// Versions the server need not know: the native bundle and unknown ones.
fn needs_no_bundle(event: &DeviceEvent) -> bool {
    let v = event.bundle_version();
    v.is_empty() || v == "builtin" || v == "unknown" || v == event.version_build
}

/// Checks the version exists, caching lookups for the batch.
async fn version_known(
    state: &State,
    event: &DeviceEvent,
    cache: &mut HashMap<String, bool>,
) -> Result<bool, ApiError> {
    if needs_no_bundle(event) {
        return Ok(true);
    }
    let v = event.bundle_version().to_string();
    if let Some(known) = cache.get(&v) {
        return Ok(*known);
    }
    let known = state.store.get_bundle(&event.app_id, &v).await?.is_some();
    cache.insert(v, known);
    Ok(known)
}

fn version_not_found(event: &DeviceEvent) -> ApiError {
    ApiError::soft(Code::VersionNotFound, "Version not found")
        .with("app_id", event.app_id.clone())
        .with("version_name", event.version_name.clone())
}

pub async fn post(state: &State, req: &Req) -> Result<Resp, ApiError> {
    match parse_body(req.body())? {
        Value::Array(items) => batch(state, &items).await,
        value @ Value::Object(_) => single(state, &value).await,
        _ => Err(schema(
            "the body must be an event object or an array of events",
        )),
    }
}

async fn single(state: &State, value: &Value) -> Result<Resp, ApiError> {
    let (device, parsed) = parse_event(value)?;
    state
        .limits
        .check_device(&device.app_id, &device.device_id)?;
    if state.store.get_app(&device.app_id).await?.is_none() {
        return Err(on_premise_app(&device.app_id));
    }
    let Parsed::Record(event) = parsed else {
        return Ok(ok(&StatsReply::ok()));
    };
    let mut event = *event;
    if !version_known(state, &event, &mut HashMap::new()).await? {
        event.counter = None;
        state.store.record_events(&[event.clone()]).await?;
        return Err(version_not_found(&event));
    }
    let health = release_health::report(&device, &event);
    state.store.record_events(&[event]).await?;
    release_health::observe(state, &device.app_id, health.into_iter().collect());
    Ok(ok(&StatsReply::ok()))
}

fn item_error(index: usize, e: &ApiError) -> StatsResult {
    StatsResult {
        status: "error",
        index,
        error: Some(e.code),
        message: Some(e.message.clone()),
    }
}

async fn batch(state: &State, items: &[Value]) -> Result<Resp, ApiError> {
    if items.len() > MAX_BATCH {
        return Err(schema(format!("a batch holds at most {MAX_BATCH} events")));
    }
    let mut app_ids = items
        .iter()
        .filter_map(|i| i.get("app_id").and_then(Value::as_str));
    if let Some(first) = app_ids.next()
        && app_ids.any(|a| a != first)
    {
        return Ok(ApiError::soft(
            Code::MixedAppIds,
            "All events in a batch must have the same app_id",
        )
        .into_response());
    }
    let mut results = Vec::with_capacity(items.len());
    let mut events = Vec::with_capacity(items.len());
    let mut reports = Vec::new();
    let mut app_known: Option<bool> = None;
    let mut versions = HashMap::new();
    // Each device in the batch spends one request of its own budget (the plugin batches one
    // device's events; a batch naming many devices pays for each).
    let mut charged: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let (device, parsed) = match parse_event(item) {
            Ok(p) => p,
            Err(e) => {
                results.push(item_error(index, &e));
                continue;
            }
        };
        if charged.insert(device.device_id.clone()) {
            state
                .limits
                .check_device(&device.app_id, &device.device_id)?;
        }
        let known = match app_known {
            Some(k) => k,
            None => *app_known.insert(state.store.get_app(&device.app_id).await?.is_some()),
        };
        if !known {
            results.push(item_error(index, &on_premise_app(&device.app_id)));
            continue;
        }
        if let Parsed::Record(event) = parsed {
            let mut event = *event;
            if version_known(state, &event, &mut versions).await? {
                reports.extend(release_health::report(&device, &event));
                events.push(event);
            } else {
                results.push(item_error(index, &version_not_found(&event)));
                event.counter = None;
                events.push(event);
                continue;
            }
        }
        results.push(StatsResult {
            status: "ok",
            index,
            error: None,
            message: None,
        });
    }
    if !events.is_empty() {
        state.store.record_events(&events).await?;
    }
    if let Some(app_id) = events.first().map(|e| e.app_id.clone()) {
        release_health::observe(state, &app_id, reports);
    }
    Ok(ok(&StatsReply {
        status: "ok",
        results: Some(results),
    }))
}

pub async fn daily(state: &State, req: &Req, app_id: &str) -> Result<Resp, ApiError> {
    allow(state, req, Mode::Read, Some(app_id)).await?;
    existing(state, app_id).await?;
    Ok(ok(&state.store.daily_stats(app_id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_keeps_at_most_its_metadata_budget_and_is_never_refused_for_it() {
        let big: Map<String, Value> = (0..30)
            .map(|i| (format!("key{i:02}"), Value::String("é".repeat(1000))))
            .collect();
        let kept = bounded(&big);
        let size: usize = kept
            .iter()
            .map(|(k, v)| k.len() + v.to_string().len())
            .sum();
        assert!(size <= MAX_METADATA_BYTES + 8, "{size}");
        assert!(kept.len() < big.len());
        let last = kept.values().next_back().unwrap().as_str().unwrap();
        assert!(last.ends_with('…'), "the cut value says so");
        let small: Map<String, Value> = [("launch_ms".to_string(), Value::from(812))]
            .into_iter()
            .collect();
        assert_eq!(bounded(&small), small, "small metadata is kept whole");
    }
}
