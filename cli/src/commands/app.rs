use serde_json::{Value, json};

use super::{Ctx, confirm};
use crate::client::seg;

pub async fn add(ctx: &Ctx, app: Option<String>, name: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let mut body = json!({"app_id": app_id});
    if let Some(n) = name {
        body["name"] = json!(n);
    }
    let created: Value = ctx.api()?.post("/v1/apps", &body).await?;
    ctx.out.done(
        format!("Created app {app_id}. Next: updraft channel add production {app_id} --default"),
        &created,
    );
    Ok(())
}

pub async fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let apps: Value = ctx.api()?.get("/v1/apps").await?;
    let rows = apps.as_array().cloned().unwrap_or_default();
    let mut human = if rows.is_empty() {
        "No apps yet: updraft app add com.example.app".to_string()
    } else {
        String::new()
    };
    for a in &rows {
        human.push_str(&format!(
            "{}  {}\n",
            a["app_id"].as_str().unwrap_or(""),
            a["name"].as_str().unwrap_or("")
        ));
    }
    ctx.out.done(human.trim_end(), &apps);
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
