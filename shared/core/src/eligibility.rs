//! Which channels a device may use without an operator's say, in one place: the update
//! decision and every `/channel_self` method ask these functions.

use crate::channel::Channel;
use crate::device_request::Platform;
use crate::store::{AssignedBy, Override};

/// A channel a device may follow of its own accord: enabled for its platform, and public or
/// open to self-assignment.
pub fn device_may_follow(channel: &Channel, platform: Platform) -> bool {
    channel.enabled_for(platform) && (channel.public || channel.allow_device_self_set)
}

/// The stored channel that counts: an operator's always (no platform or public filter); a
/// device's own choice only while its channel still allows self-assignment, so turning
/// `allow_device_self_set` off takes back every device's choice of that channel.
pub fn stored_channel<'a>(
    channels: &'a [Channel],
    stored: Option<&Override>,
) -> Option<&'a Channel> {
    let o = stored?;
    channels
        .iter()
        .find(|c| c.name == o.channel)
        .filter(|c| o.by == AssignedBy::Operator || c.allow_device_self_set)
}

/// The public channel of a platform (at most one per platform; the API refuses a second).
pub fn public_channel(channels: &[Channel], platform: Platform) -> Option<&Channel> {
    channels
        .iter()
        .find(|c| c.public && c.enabled_for(platform))
}

/// The channel a device follows when no operator chose one: the one it asks for
/// (`defaultChannel`), if it may follow it, with no fallback; else its platform's public one.
pub fn default_channel<'a>(
    channels: &'a [Channel],
    asked: &str,
    platform: Platform,
) -> Option<&'a Channel> {
    if asked.is_empty() {
        public_channel(channels, platform)
    } else {
        channels
            .iter()
            .find(|c| c.name == asked && device_may_follow(c, platform))
    }
}

/// A channel `listChannels` shows a device: one it may follow that also takes its kind of
/// device (emulator or physical) and build (production or development).
pub fn listed_for(channel: &Channel, platform: Platform, is_emulator: bool, is_prod: bool) -> bool {
    device_may_follow(channel, platform)
        && if is_emulator {
            channel.allow_emulator
        } else {
            channel.allow_device
        }
        && if is_prod {
            channel.allow_prod
        } else {
            channel.allow_dev
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str, public: bool, self_set: bool, platforms: [bool; 3]) -> Channel {
        let mut c = Channel::new(name);
        c.public = public;
        c.allow_device_self_set = self_set;
        [c.ios, c.android, c.electron] = platforms;
        c
    }

    const ALL: [bool; 3] = [true, true, true];
    const IOS: [bool; 3] = [true, false, false];

    #[test]
    fn which_channel_a_device_follows() {
        let channels = vec![
            channel("production", true, false, ALL),
            channel("beta", false, true, ALL),
            channel("internal", false, false, ALL),
            channel("ios-only", false, true, IOS),
        ];
        // (asked, platform, expected)
        let cases = [
            ("", Platform::Ios, Some("production")),
            ("", Platform::Electron, Some("production")),
            ("beta", Platform::Android, Some("beta")),
            ("production", Platform::Ios, Some("production")),
            // Private and not self-assignable: never by asking, and no fallback.
            ("internal", Platform::Ios, None),
            ("ios-only", Platform::Ios, Some("ios-only")),
            ("ios-only", Platform::Android, None),
            ("missing", Platform::Ios, None),
        ];
        for (asked, platform, want) in cases {
            assert_eq!(
                default_channel(&channels, asked, platform).map(|c| c.name.as_str()),
                want,
                "{asked:?} on {platform:?}"
            );
        }
        let ios_public = vec![channel("p-ios", true, false, IOS)];
        assert!(public_channel(&ios_public, Platform::Android).is_none());
    }

    #[test]
    fn a_devices_own_choice_counts_while_its_channel_allows_it() {
        let mut beta = channel("beta", false, true, ALL);
        let stored = |by| Override {
            channel: "beta".into(),
            by,
        };
        for by in [AssignedBy::Operator, AssignedBy::Device] {
            let channels = vec![beta.clone()];
            assert!(
                stored_channel(&channels, Some(&stored(by))).is_some(),
                "{by:?}"
            );
        }
        beta.allow_device_self_set = false;
        let channels = vec![beta];
        assert!(stored_channel(&channels, Some(&stored(AssignedBy::Operator))).is_some());
        assert!(stored_channel(&channels, Some(&stored(AssignedBy::Device))).is_none());
        assert!(stored_channel(&channels, None).is_none());
    }

    #[test]
    fn which_channels_a_device_is_shown() {
        let mut emu_only = channel("emu", false, true, ALL);
        emu_only.allow_device = false;
        let mut dev_only = channel("dev", true, false, ALL);
        dev_only.allow_prod = false;
        let channels = [
            channel("production", true, false, ALL),
            channel("internal", false, false, ALL),
            channel("ios-only", false, true, IOS),
            emu_only,
            dev_only,
        ];
        // (platform, emulator, prod) → names shown
        let cases: [(Platform, bool, bool, &[&str]); 4] = [
            (Platform::Ios, false, true, &["production", "ios-only"]),
            (Platform::Android, false, true, &["production"]),
            (Platform::Android, true, true, &["production", "emu"]),
            (
                Platform::Ios,
                true,
                false,
                &["production", "ios-only", "emu", "dev"],
            ),
        ];
        for (platform, emulator, prod, want) in cases {
            let shown: Vec<&str> = channels
                .iter()
                .filter(|c| listed_for(c, platform, emulator, prod))
                .map(|c| c.name.as_str())
                .collect();
            assert_eq!(shown, want, "{platform:?} emulator={emulator} prod={prod}");
        }
    }
}
