use serde_json::json;
use updraft_core::api::{
    AutoRollbackFields, ChannelFields, ChannelStatus, RollbackRequest, RolloutChange, RolloutStart,
};
use updraft_core::channel::{BUILTIN, Channel};
use updraft_core::device_request::Platform;
use updraft_core::history::ChannelChange;
use updraft_core::rollout::share_from_percent;

use super::Ctx;
use crate::client::seg;

/// `--x/--no-x` pairs: `Some(true)`, `Some(false)`, or untouched.
fn flag(on: bool, off: bool) -> Option<bool> {
    if on {
        Some(true)
    } else if off {
        Some(false)
    } else {
        None
    }
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// Channel name.
    pub name: String,
    /// App id (default: from capacitor.config).
    pub app: Option<String>,
    /// Serve this ready bundle version.
    #[arg(long, conflicts_with = "builtin")]
    pub bundle: Option<String>,
    /// Send devices back to the bundle inside the native app.
    #[arg(long)]
    pub builtin: bool,
    /// Make this the channel devices get when they ask for none (public).
    #[arg(long, conflicts_with = "no_default")]
    pub default: bool,
    #[arg(long)]
    pub no_default: bool,
    #[arg(long, conflicts_with = "no_ios")]
    pub ios: bool,
    #[arg(long)]
    pub no_ios: bool,
    #[arg(long, conflicts_with = "no_android")]
    pub android: bool,
    #[arg(long)]
    pub no_android: bool,
    #[arg(long, conflicts_with = "no_electron")]
    pub electron: bool,
    #[arg(long)]
    pub no_electron: bool,
    /// Let devices pick this channel themselves (setChannel).
    #[arg(long, conflicts_with = "no_self_assign")]
    pub self_assign: bool,
    #[arg(long)]
    pub no_self_assign: bool,
    /// Allow development builds.
    #[arg(long, conflicts_with = "no_dev")]
    pub dev: bool,
    #[arg(long)]
    pub no_dev: bool,
    /// Allow production builds.
    #[arg(long, conflicts_with = "no_prod")]
    pub prod: bool,
    #[arg(long)]
    pub no_prod: bool,
    /// Allow emulators.
    #[arg(long, conflicts_with = "no_emulator")]
    pub emulator: bool,
    #[arg(long)]
    pub no_emulator: bool,
    /// Allow physical devices.
    #[arg(long, conflicts_with = "no_device")]
    pub device: bool,
    #[arg(long)]
    pub no_device: bool,
    /// Refuse automatic jumps past this part of the native version.
    #[arg(long, value_parser = ["major", "minor", "patch", "metadata", "none"])]
    pub disable_auto_update: Option<String>,
    /// Allow bundles older than the native version.
    #[arg(long, conflicts_with = "no_downgrade")]
    pub downgrade: bool,
    #[arg(long)]
    pub no_downgrade: bool,
    /// Serve --bundle although it was rolled back on this channel.
    #[arg(long, requires = "bundle")]
    pub repromote: bool,
    /// Roll back automatically when a release fails on start (on by default).
    #[arg(long, value_parser = ["on", "off"])]
    pub auto_rollback: Option<String>,
    /// Failure rate (percent, the 95 % lower bound) that triggers a rollback (default 20).
    #[arg(long, value_name = "PERCENT")]
    pub rollback_threshold: Option<f64>,
    /// Failed starts needed before a rollback (default 5).
    #[arg(long, value_name = "N")]
    pub rollback_min_failures: Option<u32>,
    /// Minutes of reports a rollback looks at (default 60).
    #[arg(long, value_name = "MINUTES")]
    pub rollback_window: Option<u32>,
}

impl SetArgs {
    fn patch(&self) -> anyhow::Result<ChannelFields> {
        let disable_auto_update = match &self.disable_auto_update {
            // `metadata` is the older word for `version_number`; the server takes both.
            Some(rule) => Some(serde_json::from_value(json!(rule))?),
            None => None,
        };
        let threshold = match self.rollback_threshold {
            Some(p) => Some(share_from_percent(p).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let auto_rollback = AutoRollbackFields {
            enabled: self.auto_rollback.as_deref().map(|v| v == "on"),
            threshold,
            min_failures: self.rollback_min_failures,
            window_minutes: self.rollback_window,
        };
        let bundle = match (&self.bundle, self.builtin) {
            (Some(b), _) => Some(Some(b.clone())),
            (None, true) => Some(Some(BUILTIN.to_string())),
            (None, false) => None,
        };
        Ok(ChannelFields {
            name: None,
            public: flag(self.default, self.no_default),
            ios: flag(self.ios, self.no_ios),
            android: flag(self.android, self.no_android),
            electron: flag(self.electron, self.no_electron),
            allow_device_self_set: flag(self.self_assign, self.no_self_assign),
            allow_emulator: flag(self.emulator, self.no_emulator),
            allow_device: flag(self.device, self.no_device),
            allow_dev: flag(self.dev, self.no_dev),
            allow_prod: flag(self.prod, self.no_prod),
            disable_auto_update,
            // Downgrades allowed means the under-native rule is off.
            disable_auto_update_under_native: flag(self.no_downgrade, self.downgrade),
            bundle,
            repromote: self.repromote.then_some(true),
            auto_rollback: (auto_rollback != AutoRollbackFields::default())
                .then_some(auto_rollback),
        })
    }
}

/// One line that says what devices on this channel get.
pub fn describe(c: &Channel) -> String {
    let serves = match c.bundle.as_deref() {
        Some(BUILTIN) => "the native builtin bundle".to_string(),
        Some(v) => format!("bundle {v}"),
        None => "no bundle yet".to_string(),
    };
    let platforms: Vec<&str> = [Platform::Ios, Platform::Android, Platform::Electron]
        .into_iter()
        .filter(|p| c.enabled_for(*p))
        .map(Platform::as_str)
        .collect();
    let rollout = match &c.rollout {
        Some(r) => format!(
            ", {} to {}% of devices{}",
            r.bundle,
            r.percent(),
            if r.paused { " (paused)" } else { "" }
        ),
        None => String::new(),
    };
    format!(
        "{}{}: {serves}{rollout} → {} (self-assign {}, auto-update limit {}, auto-rollback {})",
        c.name,
        if c.public { " (default)" } else { "" },
        if platforms.is_empty() {
            "no platform".to_string()
        } else {
            platforms.join(", ")
        },
        if c.allow_device_self_set { "on" } else { "off" },
        c.disable_auto_update.as_str(),
        if c.auto_rollback.enabled { "on" } else { "off" },
    )
}

pub async fn add(
    ctx: &Ctx,
    name: String,
    app: Option<String>,
    default: bool,
    self_assign: bool,
) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let body = ChannelFields {
        name: Some(name),
        public: Some(default),
        allow_device_self_set: Some(self_assign),
        ..ChannelFields::default()
    };
    let c: Channel = ctx
        .api()?
        .post(&format!("/v1/apps/{}/channels", seg(&app_id)), &body)
        .await?;
    ctx.out
        .done(format!("Created channel {}", describe(&c)), &c);
    Ok(())
}

pub async fn list(ctx: &Ctx, app: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let rows: Vec<Channel> = ctx
        .api()?
        .get(&format!("/v1/apps/{}/channels", seg(&app_id)))
        .await?;
    let human = if rows.is_empty() {
        format!("No channels in {app_id}: updraft channel add production {app_id} --default")
    } else {
        rows.iter().map(describe).collect::<Vec<_>>().join("\n")
    };
    ctx.out.done(human, &rows);
    Ok(())
}

pub async fn set(ctx: &Ctx, args: SetArgs) -> anyhow::Result<()> {
    let app_id = ctx.app_id(args.app.as_deref())?;
    let patch = args.patch()?;
    if patch == ChannelFields::default() {
        anyhow::bail!(
            "nothing to change: pass --bundle, --builtin or a flag (see `updraft channel set --help`)"
        );
    }
    if let Some(fields) = &patch.auto_rollback {
        let mut check = updraft_core::health::AutoRollback::default();
        fields.apply(&mut check);
        check.validate().map_err(anyhow::Error::msg)?;
    }
    let c: Channel = ctx
        .api()?
        .patch(
            &format!("/v1/apps/{}/channels/{}", seg(&app_id), seg(&args.name)),
            &patch,
        )
        .await?;
    ctx.out
        .done(format!("Updated channel {}", describe(&c)), &c);
    Ok(())
}

pub async fn current(ctx: &Ctx, name: String, app: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let c: Channel = ctx
        .api()?
        .get(&format!(
            "/v1/apps/{}/channels/{}",
            seg(&app_id),
            seg(&name)
        ))
        .await?;
    ctx.out.done(describe(&c), &c);
    Ok(())
}

pub async fn delete(ctx: &Ctx, name: String, app: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let v = ctx
        .api()?
        .delete(&format!(
            "/v1/apps/{}/channels/{}",
            seg(&app_id),
            seg(&name)
        ))
        .await?;
    ctx.out.done(format!("Deleted channel {name}."), &v);
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Channel name.
    pub name: String,
    /// App id (default: from capacitor.config).
    pub app: Option<String>,
    /// Start rolling out this ready bundle version (a new cohort of devices).
    #[arg(long, requires = "percent")]
    pub bundle: Option<String>,
    /// Share of the channel's devices that get it, 0–100 (decimals allowed: 0.5).
    #[arg(long)]
    pub percent: Option<f64>,
    /// Stop adding devices; those on the new bundle keep it.
    #[arg(long, conflicts_with_all = ["resume", "bundle"])]
    pub pause: bool,
    #[arg(long, conflicts_with = "bundle")]
    pub resume: bool,
    /// Roll out a bundle that was rolled back on this channel.
    #[arg(long, requires = "bundle")]
    pub repromote: bool,
}

fn channel_path(app_id: &str, name: &str) -> String {
    format!("/v1/apps/{}/channels/{}", seg(app_id), seg(name))
}

pub async fn rollout(ctx: &Ctx, args: RolloutArgs) -> anyhow::Result<()> {
    let app_id = ctx.app_id(args.app.as_deref())?;
    let share = match args.percent {
        Some(p) => Some(share_from_percent(p).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let path = format!("{}/rollout", channel_path(&app_id, &args.name));
    let api = ctx.api()?;
    let c: Channel = match (&args.bundle, share) {
        (Some(bundle), Some(share)) => {
            let body = RolloutStart {
                bundle: bundle.clone(),
                share,
                repromote: args.repromote,
            };
            api.post(&path, &body).await?
        }
        _ => {
            let change = RolloutChange {
                share,
                paused: flag(args.pause, args.resume),
            };
            if change == RolloutChange::default() {
                anyhow::bail!(
                    "nothing to change: pass --bundle V --percent P to start, or --percent, --pause or --resume"
                );
            }
            api.patch(&path, &change).await?
        }
    };
    ctx.out.done(format!("Channel {}", describe(&c)), &c);
    Ok(())
}

pub async fn promote(ctx: &Ctx, name: String, app: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let c: Channel = ctx
        .api()?
        .post(
            &format!("{}/promote", channel_path(&app_id, &name)),
            &json!({}),
        )
        .await?;
    ctx.out.done(
        format!(
            "Promoted: every device gets it now.\nChannel {}",
            describe(&c)
        ),
        &c,
    );
    Ok(())
}

pub async fn rollback(
    ctx: &Ctx,
    name: String,
    app: Option<String>,
    to: Option<String>,
) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let c: Channel = ctx
        .api()?
        .post(
            &format!("{}/rollback", channel_path(&app_id, &name)),
            &RollbackRequest { to },
        )
        .await?;
    let marked = c.rolled_back.last().cloned().unwrap_or_default();
    ctx.out.done(
        format!(
            "Rolled back {marked}: no automatic path serves it again (re-promote with --repromote).\nChannel {}",
            describe(&c)
        ),
        &c,
    );
    Ok(())
}

/// One history line: when, then who did what and why.
fn history_line(h: &ChannelChange) -> String {
    format!(
        "{}  {}",
        crate::output::utc_time(h.at),
        crate::output::printable(&h.describe())
    )
}

pub async fn history(ctx: &Ctx, name: String, app: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let rows: Vec<ChannelChange> = ctx
        .api()?
        .get(&format!("{}/history", channel_path(&app_id, &name)))
        .await?;
    let human = if rows.is_empty() {
        format!("Channel {name} has not changed what it serves yet.")
    } else {
        rows.iter().map(history_line).collect::<Vec<_>>().join("\n")
    };
    ctx.out.done(human, &rows);
    Ok(())
}

pub async fn status(ctx: &Ctx, name: String, app: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let s: ChannelStatus = ctx
        .api()?
        .get(&format!("{}/status", channel_path(&app_id, &name)))
        .await?;
    let rule = s.channel.auto_rollback;
    let mut lines = vec![describe(&s.channel)];
    lines.push(if rule.enabled {
        format!(
            "Health, last {} min (automatic rollback at a failure rate of at least {}% with {}+ failed starts):",
            rule.window_minutes,
            f64::from(rule.threshold) / 100.0,
            rule.min_failures
        )
    } else {
        format!(
            "Health, last {} min (automatic rollback off):",
            rule.window_minutes
        )
    });
    if s.health.is_empty() {
        lines.push("  no bundle version served".into());
    }
    for h in &s.health {
        lines.push(format!(
            "  {:<12} {:>7} installs {:>6} failed starts  failure rate {:>5.1}% (at least {:.1}%){}",
            h.version,
            h.health.installs,
            h.health.failures,
            h.health.failure_rate * 100.0,
            h.health.lower_bound * 100.0,
            if h.rolls_back { "  → rolling back" } else { "" }
        ));
    }
    if !s.channel.rolled_back.is_empty() {
        lines.push(format!(
            "Rolled back (not served again unless re-promoted): {}",
            s.channel.rolled_back.join(", ")
        ));
    }
    if !s.history.is_empty() {
        lines.push("Recent changes:".into());
        lines.extend(
            s.history
                .iter()
                .take(5)
                .map(|h| format!("  {}", history_line(h))),
        );
    }
    ctx.out.done(lines.join("\n"), &s);
    Ok(())
}
