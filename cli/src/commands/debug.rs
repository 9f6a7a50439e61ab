//! `updraft app debug`: a device's events as they arrive, in words.

use std::time::{Duration, Instant};

use serde_json::json;

use updraft_core::action::Action;
use updraft_core::api::{DebugSession, StartDebug};
use updraft_core::device::{DeviceEvent, charged_to_running_bundle};

use super::Ctx;
use crate::client::seg;

/// The debug session is asked for this long and renewed every minute: a watch killed
/// without a chance to end it stops costing log writes soon after, and when two people
/// watch one device and one of them ends the session, the other's renewal brings it back
/// within a minute.
const SESSION_MINUTES: u32 = 5;
const RENEW_EVERY: Duration = Duration::from_secs(60);

/// What an event means, for a person. `download_fail` and `checksum_fail` name the bundle
/// the device was running (`charged_to_running_bundle`), not the one
/// whose download failed, and are worded so.
pub fn describe(e: &DeviceEvent) -> String {
    let version = &e.version_name;
    match e.action {
        Action::Get => match e.outcome.as_deref() {
            Some(o) if o.contains('_') => format!("checked for an update: {}", o.replace('_', " ")),
            Some("builtin") => {
                "checked for an update: told to go back to the builtin bundle".into()
            }
            Some(o) => format!("checked for an update: offered {o}"),
            None => "checked for an update".into(),
        },
        Action::Set => format!("bundle {version} set"),
        Action::UpdateFail => format!("rolled back {version}: notifyAppReady not called"),
        Action::SetFail => format!("could not set bundle {version}"),
        Action::DownloadComplete => format!("downloaded {version}"),
        a if charged_to_running_bundle(a) => {
            let what = match a {
                Action::ChecksumFail => "a download did not match its checksum",
                _ => "a download failed",
            };
            format!("{what} while running {version}")
        }
        Action::DecryptFail => format!("could not decrypt {version}"),
        Action::UnzipFail => format!("could not unzip {version}"),
        Action::Reset => "reset to the builtin bundle".into(),
        Action::Delete => format!("deleted bundle {version}"),
        Action::SetChannel => format!("picked channel {}", e.outcome.as_deref().unwrap_or("?")),
        a => match a.download_percent() {
            Some(p) => format!("downloaded {p}%"),
            None => a.as_str().replace('_', " "),
        },
    }
}

pub async fn debug(
    ctx: &Ctx,
    app: Option<String>,
    device: String,
    once: bool,
    expect: Option<String>,
) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let api = ctx.api()?;
    let device = device.to_ascii_lowercase();
    let path = format!("/v1/apps/{}/devices/{}/events", seg(&app_id), seg(&device));
    let session = format!("/v1/apps/{}/devices/{}/debug", seg(&app_id), seg(&device));
    let started = updraft_core::device::now_ms();
    let mut since = 0i64;
    let mut seen: Vec<DeviceEvent> = Vec::new();
    let mut renewed = Instant::now();
    if !once {
        let _: DebugSession = api
            .post(
                &session,
                &StartDebug {
                    minutes: Some(SESSION_MINUTES),
                },
            )
            .await?;
        ctx.out.say(format!(
            "Following device {device} of {app_id}; its update checks are logged until this \
             stops (Ctrl-C to stop) …"
        ));
    }
    loop {
        if !once && renewed.elapsed() >= RENEW_EVERY {
            let _: DebugSession = api
                .post(
                    &session,
                    &StartDebug {
                        minutes: Some(SESSION_MINUTES),
                    },
                )
                .await?;
            renewed = Instant::now();
        }
        let batch: Vec<DeviceEvent> = api.get(&format!("{path}?since={since}&limit=1000")).await?;
        let mut done = false;
        for e in batch {
            since = since.max(e.at);
            if !ctx.out.json {
                ctx.out.say(format!(
                    "{}  {}",
                    crate::output::utc_time(e.at),
                    describe(&e)
                ));
            }
            if e.action == Action::Set
                && e.at >= started
                && expect.as_deref().is_none_or(|v| e.version_name == v)
            {
                done = true;
            }
            seen.push(e);
        }
        if once || done {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    if !once {
        // Best effort: an unended session lapses by itself within SESSION_MINUTES.
        let _ = api.delete(&session).await;
    }
    if ctx.out.json {
        println!(
            "{}",
            json!({"app_id": app_id, "device_id": device, "events": seen})
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::describe;
    use serde_json::json;
    use updraft_core::device::DeviceEvent;

    #[test]
    fn failures_the_plugin_charges_to_the_running_bundle_are_worded_so() {
        let e = |action: &str| -> DeviceEvent {
            serde_json::from_value(json!({
                "app_id": "com.example.app", "device_id": "d", "at": 0, "action": action,
                "version_name": "1.0.0", "platform": "ios", "version_build": "1.0.0",
                "is_emulator": false, "is_prod": true,
            }))
            .unwrap()
        };
        assert_eq!(
            describe(&e("download_fail")),
            "a download failed while running 1.0.0"
        );
        assert_eq!(
            describe(&e("checksum_fail")),
            "a download did not match its checksum while running 1.0.0"
        );
        assert_eq!(
            describe(&e("update_fail")),
            "rolled back 1.0.0: notifyAppReady not called"
        );
    }
}
