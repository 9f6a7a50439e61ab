//! Changes to what a channel serves: rollouts, promotion and rollback. Pure: each takes the
//! channel as read and answers the channel to write, or why not. The store refuses the
//! write when the channel moved since it was read (`store::next_revision`).

use crate::api::{RolloutChange, RolloutStart};
use crate::channel::{BUILTIN, Channel};
use crate::code::Code;
use crate::error::ApiError;
use crate::rollout::{ALL_DEVICES, Rollout};

/// How many rolled-back versions a channel remembers.
const ROLLED_BACK_KEPT: usize = 50;

pub fn check_share(share: u16) -> Result<(), ApiError> {
    if share > ALL_DEVICES {
        return Err(ApiError::bad_request(
            Code::InvalidShare,
            format!("a share is 0 to 10000 basis points (100 %), not {share}"),
        ));
    }
    Ok(())
}

/// A version may be sent again after a rollback only when an operator says so explicitly;
/// saying so clears its mark.
pub fn admit(channel: &mut Channel, version: &str, repromote: bool) -> Result<(), ApiError> {
    if !channel.was_rolled_back(version) {
        return Ok(());
    }
    if !repromote {
        return Err(ApiError::conflict(
            Code::BundleRolledBack,
            format!(
                "bundle {version} was rolled back on channel {}; re-promote it explicitly \
                 (`repromote: true`, `--repromote`) to serve it again",
                channel.name
            ),
        ));
    }
    channel.rolled_back.retain(|v| v != version);
    Ok(())
}

fn mark_rolled_back(channel: &mut Channel, version: &str) {
    if version == BUILTIN || channel.was_rolled_back(version) {
        return;
    }
    channel.rolled_back.push(version.to_string());
    if channel.rolled_back.len() > ROLLED_BACK_KEPT {
        channel.rolled_back.remove(0);
    }
}

/// Starts a rollout of `start.bundle`, or changes the share of the one running for it.
/// `new_id` names the cohort when the target is new.
pub fn start_rollout(
    channel: &Channel,
    start: &RolloutStart,
    new_id: String,
    now: i64,
) -> Result<Channel, ApiError> {
    check_share(start.share)?;
    if start.bundle == BUILTIN {
        return Err(ApiError::bad_request(
            Code::InvalidVersion,
            "a rollout sends a bundle version; point the channel at builtin instead",
        ));
    }
    if channel.bundle.as_deref() == Some(start.bundle.as_str()) {
        return Err(ApiError::conflict(
            Code::InvalidVersion,
            format!(
                "channel {} already serves {} to every device",
                channel.name, start.bundle
            ),
        ));
    }
    let mut c = channel.clone();
    admit(&mut c, &start.bundle, start.repromote)?;
    c.rollout = Some(match &channel.rollout {
        Some(r) if r.bundle == start.bundle => Rollout {
            share: start.share,
            ..r.clone()
        },
        _ => Rollout {
            id: new_id,
            bundle: start.bundle.clone(),
            share: start.share,
            paused: false,
            started_at: now,
        },
    });
    Ok(c)
}

fn no_rollout(channel: &Channel) -> ApiError {
    ApiError::conflict(
        Code::NoRollout,
        format!("channel {} has no rollout", channel.name),
    )
}

/// Changes the running rollout's share or pauses or resumes it.
pub fn change_rollout(channel: &Channel, change: &RolloutChange) -> Result<Channel, ApiError> {
    let mut c = channel.clone();
    let r = c.rollout.as_mut().ok_or_else(|| no_rollout(channel))?;
    if let Some(share) = change.share {
        check_share(share)?;
        r.share = share;
    }
    if let Some(paused) = change.paused {
        r.paused = paused;
    }
    Ok(c)
}

/// The rollout's target becomes the stable bundle for every device.
pub fn promote(channel: &Channel) -> Result<Channel, ApiError> {
    let target = channel
        .rollout
        .as_ref()
        .ok_or_else(|| no_rollout(channel))?
        .bundle
        .clone();
    let mut c = channel.clone();
    c.point_at(Some(target));
    Ok(c)
}

/// What a rollback did: the version left (now marked rolled back) and what devices get.
#[derive(Debug, Clone, PartialEq)]
pub struct RolledBack {
    pub from: String,
    pub to: Option<String>,
}

/// Aborts the rollout (its devices go back to the stable bundle) or, without one, serves
/// `to` or the newest earlier bundle that was not rolled back. The version left is marked.
pub fn roll_back(channel: &Channel, to: Option<&str>) -> Result<(Channel, RolledBack), ApiError> {
    let mut c = channel.clone();
    if let Some(r) = c.rollout.take() {
        if to.is_some() {
            return Err(ApiError::bad_request(
                Code::InvalidVersion,
                "a rollback during a rollout returns its devices to the stable bundle; \
                 `to` is for a channel without a rollout",
            ));
        }
        mark_rolled_back(&mut c, &r.bundle);
        let done = RolledBack {
            from: r.bundle,
            to: c.bundle.clone(),
        };
        return Ok((c, done));
    }
    let Some(from) = c.bundle_version().map(str::to_string) else {
        return Err(ApiError::conflict(
            Code::NothingToRollBackTo,
            format!(
                "channel {} serves no bundle version to roll back from",
                channel.name
            ),
        ));
    };
    let target = match to {
        Some(v) => {
            // Naming a version is the explicit re-promotion.
            c.rolled_back.retain(|r| r != v);
            v.to_string()
        }
        None => c
            .previous
            .iter()
            .rev()
            .find(|v| **v != from && !c.was_rolled_back(v))
            .cloned()
            .ok_or_else(|| {
                ApiError::conflict(
                    Code::NothingToRollBackTo,
                    format!(
                        "channel {} has served no other bundle that was not rolled back; \
                         name one (`to`, `--to`)",
                        channel.name
                    ),
                )
            })?,
    };
    if target == from {
        return Err(ApiError::conflict(
            Code::NothingToRollBackTo,
            format!("channel {} already serves {from}", channel.name),
        ));
    }
    mark_rolled_back(&mut c, &from);
    c.point_at(Some(target.clone()));
    Ok((
        c,
        RolledBack {
            from,
            to: Some(target),
        },
    ))
}

/// The automatic rollback of `version`, if the channel still sends it: a rollout of it is
/// aborted; as the stable bundle it gives way to the newest earlier bundle that was not
/// rolled back, else to builtin. A rollout of another version keeps running.
pub fn auto_roll_back(channel: &Channel, version: &str) -> Option<Channel> {
    if channel
        .rollout
        .as_ref()
        .is_some_and(|r| r.bundle == version)
    {
        return roll_back(channel, None).ok().map(|(c, _)| c);
    }
    if channel.bundle_version() != Some(version) {
        return None;
    }
    let mut stable = channel.clone();
    let rollout = stable.rollout.take();
    let mut next = match roll_back(&stable, None) {
        Ok((c, _)) => c,
        Err(_) => to_builtin(&stable, version),
    };
    next.rollout = rollout.filter(|r| Some(&r.bundle) != next.bundle.as_ref());
    Some(next)
}

/// `version` stops being sent, and devices go back to the bundle inside the app.
pub fn to_builtin(channel: &Channel, version: &str) -> Channel {
    let mut c = channel.clone();
    if c.rollout.as_ref().is_some_and(|r| r.bundle == version) {
        c.rollout = None;
    }
    mark_rolled_back(&mut c, version);
    if c.bundle_version() == Some(version) {
        c.point_at(Some(BUILTIN.to_string()));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> Channel {
        let mut c = Channel::new("production");
        c.point_at(Some("1.0.0".into()));
        c.point_at(Some("1.1.0".into()));
        c
    }

    fn start(bundle: &str, share: u16) -> RolloutStart {
        RolloutStart {
            bundle: bundle.into(),
            share,
            repromote: false,
        }
    }

    #[test]
    fn a_rollout_starts_changes_and_is_promoted() {
        let c = start_rollout(&channel(), &start("1.2.0", 1000), "r1".into(), 5).unwrap();
        let r = c.rollout.clone().unwrap();
        assert_eq!((r.id.as_str(), r.share, r.started_at), ("r1", 1000, 5));
        // The same target keeps its cohort; the share moves.
        let c = start_rollout(&c, &start("1.2.0", 5000), "r2".into(), 9).unwrap();
        assert_eq!(c.rollout.as_ref().unwrap().id, "r1");
        assert_eq!(c.rollout.as_ref().unwrap().share, 5000);
        let paused = change_rollout(
            &c,
            &RolloutChange {
                paused: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(paused.rollout.as_ref().unwrap().paused);
        let done = promote(&paused).unwrap();
        assert_eq!(done.bundle.as_deref(), Some("1.2.0"));
        assert!(done.rollout.is_none());
        assert_eq!(done.previous, vec!["1.0.0", "1.1.0"]);
    }

    #[test]
    fn bad_rollouts_are_refused() {
        let c = channel();
        let code = |r: Result<Channel, ApiError>| r.unwrap_err().code;
        assert_eq!(
            code(start_rollout(&c, &start("1.2.0", 10_001), "r".into(), 0)),
            Code::InvalidShare
        );
        assert_eq!(
            code(start_rollout(&c, &start("builtin", 10), "r".into(), 0)),
            Code::InvalidVersion
        );
        assert_eq!(
            code(start_rollout(&c, &start("1.1.0", 10), "r".into(), 0)),
            Code::InvalidVersion
        );
        assert_eq!(code(promote(&c)), Code::NoRollout);
        assert_eq!(
            code(change_rollout(&c, &RolloutChange::default())),
            Code::NoRollout
        );
    }

    #[test]
    fn rolling_back_a_rollout_aborts_it_and_marks_its_target() {
        let c = start_rollout(&channel(), &start("1.2.0", 1000), "r1".into(), 0).unwrap();
        let (c, done) = roll_back(&c, None).unwrap();
        assert!(c.rollout.is_none());
        assert_eq!(c.bundle.as_deref(), Some("1.1.0"));
        assert_eq!(done.from, "1.2.0");
        assert!(c.was_rolled_back("1.2.0"));
        // Not again without saying so.
        let err = start_rollout(&c, &start("1.2.0", 1000), "r2".into(), 0).unwrap_err();
        assert_eq!(err.code, Code::BundleRolledBack);
        let again = RolloutStart {
            repromote: true,
            ..start("1.2.0", 1000)
        };
        let c = start_rollout(&c, &again, "r2".into(), 0).unwrap();
        assert!(!c.was_rolled_back("1.2.0"));
        assert_eq!(c.rollout.unwrap().id, "r2", "a new cohort");
    }

    #[test]
    fn an_automatic_rollback_takes_back_only_the_failing_version() {
        let staged = start_rollout(&channel(), &start("1.2.0", 1000), "r1".into(), 0).unwrap();
        // The rollout's target fails: the rollout is aborted, the stable bundle stays.
        let c = auto_roll_back(&staged, "1.2.0").unwrap();
        assert_eq!(
            (c.bundle.as_deref(), c.rollout.is_none()),
            (Some("1.1.0"), true)
        );
        assert!(c.was_rolled_back("1.2.0"));
        // The stable bundle fails during a rollout of another: it goes, the rollout stays.
        let c = auto_roll_back(&staged, "1.1.0").unwrap();
        assert_eq!(c.bundle.as_deref(), Some("1.0.0"));
        assert_eq!(c.rollout, staged.rollout);
        // A version the channel no longer sends: nothing to do.
        assert!(auto_roll_back(&c, "1.1.0").is_none());
        // Nothing earlier to go back to: the native bundle.
        let mut first = Channel::new("beta");
        first.point_at(Some("2.0.0".into()));
        let c = auto_roll_back(&first, "2.0.0").unwrap();
        assert_eq!(c.bundle.as_deref(), Some(BUILTIN));
        assert!(c.was_rolled_back("2.0.0"));
    }

    #[test]
    fn rolling_back_a_channel_serves_the_newest_earlier_bundle_not_rolled_back() {
        let (c, done) = roll_back(&channel(), None).unwrap();
        assert_eq!(c.bundle.as_deref(), Some("1.0.0"));
        assert_eq!(
            done,
            RolledBack {
                from: "1.1.0".into(),
                to: Some("1.0.0".into())
            }
        );
        // 1.1.0 is rolled back, 1.0.0 is served: nothing else is left.
        let err = roll_back(&c, None).unwrap_err();
        assert_eq!(err.code, Code::NothingToRollBackTo);
        // Naming one works, and re-promotes it.
        let (c, _) = roll_back(&c, Some("1.1.0")).unwrap();
        assert_eq!(c.bundle.as_deref(), Some("1.1.0"));
        assert!(!c.was_rolled_back("1.1.0"));
        assert!(c.was_rolled_back("1.0.0"));
    }
}
