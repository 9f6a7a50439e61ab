//! `updraft key create`: the key pair of end-to-end bundle encryption.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::json;

use super::Ctx;
use crate::config;

/// Where the private key lives (the name Capgo's CLI uses, so projects move either way).
pub const PRIVATE_KEY_FILE: &str = ".capgo_key_v2";
pub const PUBLIC_KEY_FILE: &str = ".capgo_key_v2.pub";

pub fn default_private_key(dir: &Path) -> PathBuf {
    dir.join(PRIVATE_KEY_FILE)
}

pub fn create(ctx: &Ctx, force: bool, write_config: bool) -> anyhow::Result<()> {
    let private_path = default_private_key(&ctx.cwd);
    let public_path = ctx.cwd.join(PUBLIC_KEY_FILE);
    if private_path.exists() && !force {
        bail!(
            "{} exists: bundles encrypted with it need its public key in every installed app; \
             pass --force to replace it anyway",
            private_path.display()
        );
    }
    let key = updraft_crypto::generate()?;
    let private_pem = updraft_crypto::private_pem(&key)?;
    let public_pem = updraft_crypto::public_pem(&updraft_crypto::RsaPublicKey::from(&key))?;
    write_private(&private_path, &private_pem)?;
    std::fs::write(&public_path, &public_pem)
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    config::git_ignore(&ctx.cwd, PRIVATE_KEY_FILE)?;
    let configured = if write_config {
        Some(config::write_public_key(&ctx.cwd, &public_pem)?)
    } else {
        None
    };
    let mut human = format!(
        "Private key: {} (mode 0600, added to .gitignore; keep it with whoever uploads bundles)\n\
         Public key: {}\n",
        private_path.display(),
        public_path.display()
    );
    match &configured {
        Some(path) => human.push_str(&format!(
            "Wrote it to plugins.CapacitorUpdater.publicKey in {}: rebuild the native app.",
            path.display()
        )),
        None => human.push_str(&format!(
            "Put it in capacitor.config as plugins.CapacitorUpdater.publicKey (or rerun with --write-config), then rebuild the native app:\n\n{public_pem}"
        )),
    }
    ctx.out.done(
        human,
        &json!({
            "private_key": private_path,
            "public_key_file": public_path,
            "public_key": public_pem,
            "key_id": updraft_crypto::key_id(&public_pem),
            "config": configured,
        }),
    );
    Ok(())
}

/// Written 0600 from the start: the key is never readable by others, even for a moment.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(pem.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
