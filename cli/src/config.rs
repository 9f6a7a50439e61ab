//! Where settings come from: credentials files, environment, and the Capacitor project.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8787";
pub const LOCAL_FILE: &str = ".updraft.toml";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// `~/.config/updraft/credentials.toml` (or the platform's config dir; `UPDRAFT_CONFIG_DIR` overrides).
pub fn user_file() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("UPDRAFT_CONFIG_DIR") {
        return Ok(PathBuf::from(dir).join("credentials.toml"));
    }
    let dir = dirs::config_dir()
        .ok_or_else(|| anyhow!("no config directory on this system: use --local"))?;
    Ok(dir.join("updraft").join("credentials.toml"))
}

pub fn read_credentials(path: &Path) -> anyhow::Result<Option<Credentials>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Ok(Some(toml::from_str(&text).with_context(|| {
                format!("{} is not valid TOML", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes atomically (temp file + rename) with mode 0600: the file holds a secret.
pub fn write_credentials(path: &Path, creds: &Credentials) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string(creds)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Adds `.updraft.toml` to `./.gitignore` so a local key is never committed.
pub fn ignore_local_file(dir: &Path) -> anyhow::Result<()> {
    git_ignore(dir, LOCAL_FILE)
}

/// Adds `name` to `./.gitignore` unless it is there already.
pub fn git_ignore(dir: &Path, name: &str) -> anyhow::Result<()> {
    let path = dir.join(".gitignore");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    if existing
        .lines()
        .any(|l| l.trim() == name || l.trim() == format!("/{name}"))
    {
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(name);
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("cannot update {}", path.display()))
}

/// Resolved key and URL, with where each came from (for `whoami` and errors).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub api_key: Option<String>,
    pub api_url: String,
    pub key_source: &'static str,
}

/// Lookup order: flags, then `UPDRAFT_API_KEY`/`UPDRAFT_API_URL`, then `./.updraft.toml`, then the user file.
pub fn resolve(
    flag_key: Option<&str>,
    flag_url: Option<&str>,
    cwd: &Path,
    user: &Path,
) -> anyhow::Result<Resolved> {
    let env_key = std::env::var("UPDRAFT_API_KEY")
        .ok()
        .filter(|s| !s.is_empty());
    let env_url = std::env::var("UPDRAFT_API_URL")
        .ok()
        .filter(|s| !s.is_empty());
    let local = read_credentials(&cwd.join(LOCAL_FILE))?.unwrap_or_default();
    let global = read_credentials(user)?.unwrap_or_default();
    let (api_key, key_source) = if let Some(k) = flag_key {
        (Some(k.to_string()), "--api-key")
    } else if let Some(k) = env_key {
        (Some(k), "UPDRAFT_API_KEY")
    } else if let Some(k) = local.api_key.clone() {
        (Some(k), "./.updraft.toml")
    } else if let Some(k) = global.api_key.clone() {
        (Some(k), "user credentials file")
    } else {
        (None, "nowhere")
    };
    let api_url = flag_url
        .map(str::to_string)
        .or(env_url)
        .or(local.api_url)
        .or(global.api_url)
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    Ok(Resolved {
        api_key,
        api_url,
        key_source,
    })
}

/// What the Capacitor project says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Project {
    pub app_id: Option<String>,
    pub web_dir: Option<String>,
    /// `plugins.CapacitorUpdater.publicKey`: devices then accept encrypted bundles only.
    pub public_key: Option<String>,
    /// Set when a config exists but its values are not plain literals.
    pub problem: Option<String>,
}

/// Reads `capacitor.config.json`, else the literal `appId`/`webDir` of `capacitor.config.ts`/`.js`.
pub fn read_project(dir: &Path) -> anyhow::Result<Project> {
    let json_path = dir.join("capacitor.config.json");
    if let Ok(text) = std::fs::read_to_string(&json_path) {
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", json_path.display()))?;
        let app_id = v["plugins"]["CapacitorUpdater"]["appId"]
            .as_str()
            .or_else(|| v["appId"].as_str())
            .map(str::to_string);
        return Ok(Project {
            app_id,
            web_dir: v["webDir"].as_str().map(str::to_string),
            public_key: v["plugins"]["CapacitorUpdater"]["publicKey"]
                .as_str()
                .filter(|k| !k.trim().is_empty())
                .map(str::to_string),
            problem: None,
        });
    }
    for name in ["capacitor.config.ts", "capacitor.config.js"] {
        let path = dir.join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let app_id = literal(&text, "appId");
            let web_dir = literal(&text, "webDir");
            let problem = (app_id.is_none() && text.contains("appId")).then(|| {
                format!("{name} sets appId with an expression, not a literal: pass the app id as an argument")
            });
            // A PEM in a TS/JS string literal spells its line breaks `\n`.
            let public_key = literal(&text, "publicKey")
                .filter(|k| !k.trim().is_empty())
                .map(|k| k.replace("\\n", "\n"));
            return Ok(Project {
                app_id,
                web_dir,
                public_key,
                problem,
            });
        }
    }
    Ok(Project::default())
}

/// The string literal after `key:` (single, double or back quotes, no interpolation).
fn literal(text: &str, key: &str) -> Option<String> {
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        let after = &rest[i + key.len()..];
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        let after = after.trim_start();
        if before_ok && let Some(value) = after.strip_prefix(':') {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if matches!(quote, '\'' | '"' | '`') {
                let body = &value[1..];
                let end = body.find(quote)?;
                let lit = &body[..end];
                if quote == '`' && lit.contains("${") {
                    return None;
                }
                return Some(lit.to_string());
            }
            return None;
        }
        rest = &rest[i + key.len()..];
    }
    None
}

/// Sets `plugins.CapacitorUpdater.publicKey` in `capacitor.config.json` (the other settings
/// stay; keys are written sorted). A TS/JS config is code: it is left alone, and the caller
/// says what to paste.
pub fn write_public_key(dir: &Path, pem: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("capacitor.config.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no {}: add plugins.CapacitorUpdater.publicKey to your capacitor config yourself",
            path.display()
        )
    })?;
    let mut v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let root = v
        .as_object_mut()
        .with_context(|| format!("{} is not a JSON object", path.display()))?;
    let plugins = root
        .entry("plugins")
        .or_insert_with(|| Value::Object(Default::default()));
    let updater = plugins
        .as_object_mut()
        .context("`plugins` is not an object")?
        .entry("CapacitorUpdater")
        .or_insert_with(|| Value::Object(Default::default()));
    updater
        .as_object_mut()
        .context("`plugins.CapacitorUpdater` is not an object")?
        .insert("publicKey".into(), Value::String(pem.to_string()));
    let mut out = serde_json::to_string_pretty(&v)?;
    out.push('\n');
    std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `version` from `./package.json`.
pub fn package_version(dir: &Path) -> anyhow::Result<Option<String>> {
    let path = dir.join("package.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            Ok(v["version"].as_str().map(str::to_string))
        }
        Err(_) => Ok(None),
    }
}

/// The app id: the argument, else the project's config.
pub fn app_id(arg: Option<&str>, dir: &Path) -> anyhow::Result<String> {
    if let Some(a) = arg {
        return Ok(a.to_string());
    }
    let project = read_project(dir)?;
    if let Some(id) = project.app_id {
        return Ok(id);
    }
    match project.problem {
        Some(p) => bail!("{p}"),
        None => bail!(
            "no app id: pass it as an argument, or run in a Capacitor project (capacitor.config.json/.ts/.js with appId)"
        ),
    }
}

/// The bundle version: `--bundle`, else `version` in `./package.json`; must be semver.
pub fn bundle_version(arg: Option<&str>, dir: &Path) -> anyhow::Result<String> {
    let v = match arg {
        Some(v) => v.to_string(),
        None => package_version(dir)?.ok_or_else(|| {
            anyhow!("no version: pass --bundle 1.2.3, or set \"version\" in package.json")
        })?,
    };
    semver::Version::parse(&v)
        .map_err(|e| anyhow!("version `{v}` is not semver ({e}); e.g. 1.4.0"))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacitor_json_prefers_updater_app_id() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("capacitor.config.json"),
            r#"{"appId":"com.main.app","webDir":"dist","plugins":{"CapacitorUpdater":{"appId":"com.updater.app"}}}"#,
        )
        .unwrap();
        let p = read_project(d.path()).unwrap();
        assert_eq!(p.app_id.as_deref(), Some("com.updater.app"));
        assert_eq!(p.web_dir.as_deref(), Some("dist"));
    }

    #[test]
    fn capacitor_ts_and_js_literals() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("capacitor.config.ts"),
            "import { CapacitorConfig } from '@capacitor/cli';\nconst config: CapacitorConfig = {\n  appId: 'com.ts.app',\n  appName: 'x',\n  webDir: \"www\",\n};\nexport default config;\n",
        )
        .unwrap();
        let p = read_project(d.path()).unwrap();
        assert_eq!(
            (p.app_id.as_deref(), p.web_dir.as_deref()),
            (Some("com.ts.app"), Some("www"))
        );

        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("capacitor.config.js"),
            "module.exports = { appId: process.env.APP_ID, webDir: `build` }",
        )
        .unwrap();
        let p = read_project(d.path()).unwrap();
        assert_eq!(p.app_id, None);
        assert!(p.problem.unwrap().contains("not a literal"));
        assert_eq!(p.web_dir.as_deref(), Some("build"));
        assert!(
            app_id(None, d.path())
                .unwrap_err()
                .to_string()
                .contains("not a literal")
        );
    }

    #[test]
    fn missing_config() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_project(d.path()).unwrap(), Project::default());
        assert!(app_id(None, d.path()).is_err());
        assert_eq!(
            app_id(Some("com.arg.app"), d.path()).unwrap(),
            "com.arg.app"
        );
    }

    #[test]
    fn version_inference() {
        let d = tempfile::tempdir().unwrap();
        assert!(bundle_version(None, d.path()).is_err());
        std::fs::write(
            d.path().join("package.json"),
            r#"{"name":"x","version":"2.3.4"}"#,
        )
        .unwrap();
        assert_eq!(bundle_version(None, d.path()).unwrap(), "2.3.4");
        assert_eq!(
            bundle_version(Some("3.0.0-beta.1"), d.path()).unwrap(),
            "3.0.0-beta.1"
        );
        assert!(bundle_version(Some("v3"), d.path()).is_err());
    }

    #[test]
    fn credential_lookup_order_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let user = d.path().join("cfg").join("credentials.toml");
        write_credentials(
            &user,
            &Credentials {
                api_key: Some("upd_user".into()),
                api_url: Some("http://user".into()),
            },
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&user).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // SAFETY: this test alone touches these variables.
        unsafe {
            std::env::remove_var("UPDRAFT_API_KEY");
            std::env::remove_var("UPDRAFT_API_URL");
        }
        let r = resolve(None, None, d.path(), &user).unwrap();
        assert_eq!(
            (r.api_key.as_deref(), r.api_url.as_str()),
            (Some("upd_user"), "http://user")
        );
        write_credentials(
            &d.path().join(LOCAL_FILE),
            &Credentials {
                api_key: Some("upd_local".into()),
                api_url: None,
            },
        )
        .unwrap();
        let r = resolve(None, None, d.path(), &user).unwrap();
        assert_eq!(
            (r.api_key.as_deref(), r.api_url.as_str()),
            (Some("upd_local"), "http://user")
        );
        unsafe { std::env::set_var("UPDRAFT_API_KEY", "upd_env") };
        let r = resolve(None, None, d.path(), &user).unwrap();
        assert_eq!(r.api_key.as_deref(), Some("upd_env"));
        let r = resolve(Some("upd_flag"), Some("http://flag"), d.path(), &user).unwrap();
        assert_eq!(
            (r.api_key.as_deref(), r.api_url.as_str()),
            (Some("upd_flag"), "http://flag")
        );
        unsafe { std::env::remove_var("UPDRAFT_API_KEY") };
        ignore_local_file(d.path()).unwrap();
        ignore_local_file(d.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join(".gitignore")).unwrap(),
            ".updraft.toml\n"
        );
    }
}
