use serde_json::json;
use updraft_core::api::ChannelFields;
use updraft_core::channel::{BUILTIN, Channel};
use updraft_core::device_request::Platform;

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
}

impl SetArgs {
    fn patch(&self) -> anyhow::Result<ChannelFields> {
        let disable_auto_update = match &self.disable_auto_update {
            // `metadata` is the older word for `version_number`; the server takes both.
            Some(rule) => Some(serde_json::from_value(json!(rule))?),
            None => None,
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
    format!(
        "{}{}: {serves} → {} (self-assign {}, auto-update limit {})",
        c.name,
        if c.public { " (default)" } else { "" },
        if platforms.is_empty() {
            "no platform".to_string()
        } else {
            platforms.join(", ")
        },
        if c.allow_device_self_set { "on" } else { "off" },
        c.disable_auto_update.as_str(),
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
