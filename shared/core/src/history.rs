//! A channel's history: every change of what it serves, by whom, when and why.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::health::Health;
use crate::rollout::Rollout;

/// Who changed a channel automatically (operators are named by their key id).
pub const AUTO_ROLLBACK: &str = "auto-rollback";
/// How many entries a history read returns at most.
pub const HISTORY_LIMIT: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The stable bundle was pointed elsewhere (`PATCH` with `bundle`).
    Set,
    RolloutStarted,
    /// Share, pause or resume.
    RolloutChanged,
    Promoted,
    RolledBack,
    AutoRolledBack,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelChange {
    /// Milliseconds since the epoch.
    pub at: i64,
    /// The API key id that made it, or `auto-rollback`.
    pub by: String,
    pub kind: ChangeKind,
    /// The stable bundle before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The rollout before and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_before: Option<Rollout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_after: Option<Rollout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The failing version's health when an automatic rollback fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

impl ChannelChange {
    /// The entry for a change from `before` to `after`, or none when what the channel
    /// serves did not change (flags only).
    pub fn between(
        before: &Channel,
        after: &Channel,
        by: &str,
        kind: ChangeKind,
        at: i64,
    ) -> Option<ChannelChange> {
        if before.bundle == after.bundle && before.rollout == after.rollout {
            return None;
        }
        Some(ChannelChange {
            at,
            by: by.to_string(),
            kind,
            from: before.bundle.clone(),
            to: after.bundle.clone(),
            rollout_before: before.rollout.clone(),
            rollout_after: after.rollout.clone(),
            reason: None,
            health: None,
        })
    }

    /// One line for people: "auto-rollback rolled 1.4.0 back to 1.3.0: …".
    pub fn describe(&self) -> String {
        let name = |v: &Option<String>| v.clone().unwrap_or_else(|| "nothing".into());
        let share = |r: &Option<Rollout>| {
            r.as_ref()
                .map(|r| format!("{} to {}%", r.bundle, r.percent()))
                .unwrap_or_default()
        };
        let what = match self.kind {
            ChangeKind::Set => {
                format!("pointed it from {} to {}", name(&self.from), name(&self.to))
            }
            ChangeKind::RolloutStarted | ChangeKind::RolloutChanged => {
                let paused = self.rollout_after.as_ref().is_some_and(|r| r.paused);
                format!(
                    "rollout {}{}",
                    share(&self.rollout_after),
                    if paused { " (paused)" } else { "" }
                )
            }
            ChangeKind::Promoted => format!("promoted {}", name(&self.to)),
            ChangeKind::RolledBack | ChangeKind::AutoRolledBack => {
                let left = self
                    .rollout_before
                    .as_ref()
                    .filter(|_| self.rollout_after.is_none())
                    .map(|r| r.bundle.clone())
                    .or_else(|| self.from.clone());
                format!(
                    "rolled {} back to {}",
                    left.unwrap_or_else(|| "nothing".into()),
                    name(&self.to)
                )
            }
        };
        let mut line = format!("{} {what}", self.by);
        if let Some(r) = &self.reason {
            line.push_str(&format!(": {r}"));
        }
        line
    }
}
