use serde_json::json;
use updraft_core::key::ApiKey;

use super::Ctx;
use crate::client::Api;
use crate::config::{self, Credentials, LOCAL_FILE};

pub async fn login(
    ctx: &Ctx,
    key: Option<String>,
    url: Option<String>,
    local: bool,
) -> anyhow::Result<()> {
    let resolved = ctx.resolved()?;
    let key = key
        .or_else(|| ctx.flag_key.clone())
        .or_else(|| std::env::var("UPDRAFT_API_KEY").ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no API key: `updraft login <API_KEY>` (your server printed one on first start)"
            )
        })?;
    let api_url = url.unwrap_or(resolved.api_url);
    let who: ApiKey = Api::new(&api_url, &key)?.get("/v1/whoami").await?;
    let path = if local {
        ctx.cwd.join(LOCAL_FILE)
    } else {
        config::user_file()?
    };
    config::write_credentials(
        &path,
        &Credentials {
            api_key: Some(key),
            api_url: Some(api_url.clone()),
        },
    )?;
    if local {
        config::ignore_local_file(&ctx.cwd)?;
    }
    ctx.out.done(
        format!(
            "Logged in to {api_url} as key {} ({}), mode {}. Saved to {}",
            who.id,
            who.name,
            who.mode.as_str(),
            path.display()
        ),
        &json!({"api_url": api_url, "key": who, "saved_to": path}),
    );
    Ok(())
}

pub async fn logout(ctx: &Ctx) -> anyhow::Result<()> {
    let mut removed = Vec::new();
    for path in [ctx.cwd.join(LOCAL_FILE), config::user_file()?] {
        if let Some(mut creds) = config::read_credentials(&path)?
            && creds.api_key.take().is_some()
        {
            config::write_credentials(&path, &creds)?;
            removed.push(path.display().to_string());
        }
    }
    let human = if removed.is_empty() {
        "No saved API key to remove.".to_string()
    } else {
        format!("Removed the API key from {}", removed.join(", "))
    };
    ctx.out.done(human, &json!({"removed_from": removed}));
    Ok(())
}

pub async fn whoami(ctx: &Ctx) -> anyhow::Result<()> {
    let r = ctx.resolved()?;
    let who: ApiKey = ctx.api()?.get("/v1/whoami").await?;
    let apps = match &who.apps {
        Some(a) => a.join(", "),
        None => "all apps".into(),
    };
    ctx.out.done(
        format!(
            "{} — key {} ({}), mode {}, {apps} (key from {})",
            r.api_url,
            who.id,
            who.name,
            who.mode.as_str(),
            r.key_source
        ),
        &json!({"api_url": r.api_url, "key": who}),
    );
    Ok(())
}

/// A fresh key for a deployment: the stack stores only the hash, the operator keeps the key.
pub fn keygen(ctx: &Ctx) -> anyhow::Result<()> {
    let key = updraft_core::key::new_secret();
    let hash = updraft_core::key::hash_key(&key);
    ctx.out.done(
        format!(
            "API key (keep it secret; shown once):\n    {key}\nSHA-256 (deploy with InitialAdminKeyHash={hash}):\n    {hash}"
        ),
        &json!({"key": key, "sha256": hash}),
    );
    Ok(())
}
