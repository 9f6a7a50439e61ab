use updraft_core::api::{AppPatch, NewApp};
use updraft_core::app::App;

use super::{Ctx, confirm};
use crate::client::seg;

pub async fn add(ctx: &Ctx, app: Option<String>, name: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let body = NewApp {
        app_id: app_id.clone(),
        name,
        expose_metadata: false,
    };
    let created: App = ctx.api()?.post("/v1/apps", &body).await?;
    ctx.out.done(
        format!("Created app {app_id}. Next: updraft channel add production {app_id} --default"),
        &created,
    );
    Ok(())
}

pub async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let apps: Vec<App> = ctx.api()?.get("/v1/apps").await?;
    let mut human = if apps.is_empty() {
        "No apps yet: updraft app add com.example.app".to_string()
    } else {
        String::new()
    };
    for a in &apps {
        human.push_str(&format!("{}  {}\n", a.app_id, a.name));
    }
    ctx.out.done(human.trim_end(), &apps);
    Ok(())
}

pub async fn set(
    ctx: &Ctx,
    app: Option<String>,
    name: Option<String>,
    webhook: Option<String>,
    no_webhook: bool,
) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let patch = AppPatch {
        name,
        expose_metadata: None,
        webhook: if no_webhook {
            Some(None)
        } else {
            webhook.map(Some)
        },
    };
    if patch == AppPatch::default() {
        anyhow::bail!("nothing to change: pass --name, --webhook URL or --no-webhook");
    }
    let app: App = ctx
        .api()?
        .patch(&format!("/v1/apps/{}", seg(&app_id)), &patch)
        .await?;
    let mut human = format!("Updated app {app_id}.");
    match &app.webhook {
        Some(w) if !w.secret.is_empty() => human.push_str(&format!(
            "\nWebhook: {}\nIts signing secret, shown only now (keep it with the receiver):\n\n    {}\n",
            w.url, w.secret
        )),
        Some(w) => human.push_str(&format!("\nWebhook: {}", w.url)),
        None if no_webhook => human.push_str("\nNo webhook."),
        None => {}
    }
    ctx.out.done(human, &app);
    Ok(())
}

pub async fn delete(ctx: &Ctx, app: String, yes: bool) -> anyhow::Result<()> {
    confirm(
        &format!("Delete app {app} with all its channels, bundles and device data?"),
        yes,
    )?;
    let v = ctx
        .api()?
        .delete(&format!("/v1/apps/{}", seg(&app)))
        .await?;
    ctx.out.done(format!("Deleted app {app}."), &v);
    Ok(())
}
