//! The plugin's launch reports (`CapacitorUpdaterPlugin.reportAppLaunchStart`,
//! `reportAppLaunchReady`, `reportAppLaunchTimeout`): `app_launch_start` when it loads,
//! then one of `app_launch_ready` (the app called `notifyAppReady`) or
//! `app_launch_timeout` (it did not in time), with their timings as `metadata`. The plugin
//! loads once per process; here each `Updater::start` is a launch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use updraft_core::action::Action;
use updraft_core::device::now_ms;

use crate::lifecycle::Report;

pub struct Launch {
    started_at: AtomicI64,
    /// Ready or timed out: the plugin reports one of the two, once.
    ended: AtomicBool,
}

impl Launch {
    pub fn new() -> Launch {
        Launch {
            started_at: AtomicI64::new(now_ms()),
            ended: AtomicBool::new(false),
        }
    }

    fn metadata(&self, source: &str, with_duration: bool) -> BTreeMap<String, String> {
        let started_at = self.started_at.load(Ordering::SeqCst);
        let mut m = BTreeMap::from([
            ("launch_started_at".to_string(), started_at.to_string()),
            ("source".to_string(), source.to_string()),
        ]);
        if with_duration {
            let ms = (now_ms() - started_at).max(0);
            m.insert("duration_ms".into(), ms.to_string());
        }
        m
    }

    /// A new launch: `app_launch_start` for the bundle the app loads.
    pub fn started(&self, version: &str) -> Report {
        self.started_at.store(now_ms(), Ordering::SeqCst);
        self.ended.store(false, Ordering::SeqCst);
        let mut r = Report::new(Action::AppLaunchStart, version);
        r.metadata = self.metadata("plugin_load", false);
        r
    }

    /// `app_launch_ready`, unless this launch already reported how it ended.
    pub fn ready(&self, version: &str) -> Option<Report> {
        if self.ended.swap(true, Ordering::SeqCst) {
            return None;
        }
        let mut r = Report::new(Action::AppLaunchReady, version);
        r.metadata = self.metadata("notify_app_ready", true);
        Some(r)
    }

    /// Gives the lifecycle's `app_launch_timeout` its timings; drops it if this launch
    /// already reported how it ended.
    pub fn timed_out(&self, reports: Vec<Report>, timeout: Duration) -> Vec<Report> {
        reports
            .into_iter()
            .filter_map(|mut r| {
                if r.action != Action::AppLaunchTimeout {
                    return Some(r);
                }
                if self.ended.swap(true, Ordering::SeqCst) {
                    return None;
                }
                r.metadata = self.metadata("app_ready_timeout", true);
                r.metadata
                    .insert("timeout_ms".into(), timeout.as_millis().to_string());
                Some(r)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_ends_once_ready_or_timed_out() {
        let l = Launch::new();
        let start = l.started("1.0.1");
        assert_eq!(start.metadata["source"], "plugin_load");
        assert!(!start.metadata.contains_key("duration_ms"));
        let ready = l.ready("1.0.1").unwrap();
        assert_eq!(ready.metadata["source"], "notify_app_ready");
        assert!(ready.metadata.contains_key("duration_ms"));
        assert_eq!(l.ready("1.0.1"), None, "once");
        let timeout = Report::new(Action::AppLaunchTimeout, "1.0.1");
        let fail = Report::new(Action::UpdateFail, "1.0.1");
        let kept = l.timed_out(vec![timeout.clone(), fail.clone()], Duration::from_secs(10));
        assert_eq!(kept, vec![fail.clone()], "ended already: no timeout report");

        let l = Launch::new();
        let kept = l.timed_out(vec![timeout, fail], Duration::from_secs(10));
        assert_eq!(kept[0].metadata["timeout_ms"], "10000");
        assert_eq!(kept[0].metadata["source"], "app_ready_timeout");
        assert_eq!(kept[1].action, Action::UpdateFail);
        assert_eq!(l.ready("1.0.1"), None, "timed out already");
        l.started("1.0.2");
        assert!(l.ready("1.0.2").is_some(), "a new launch reports again");
    }
}
