use std::path::{Path, PathBuf};
use std::time::Instant;
use updraft_core::api::{ChannelFields, FilesCleaned, NewBundle, RegisteredBundle, RolloutStart};
use updraft_core::blobs::UploadTicket;
use updraft_core::bundle::Bundle;
use updraft_core::channel::Channel;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::{Ctx, confirm};
use crate::client::{Api, ServerError, seg, unreachable_error};
use crate::config;
use crate::zipper::{ZipOptions, Zipped, zip_folder};

/// Above this, say that every device downloads it on every update.
const BIG_BUNDLE: u64 = 20 * 1024 * 1024;

#[derive(Debug, Clone, clap::Args)]
pub struct ZipArgs {
    /// Build folder (default: webDir from capacitor.config).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Bundle version (default: version in package.json).
    #[arg(long)]
    pub bundle: Option<String>,
    /// Deflate level, 0 (store) to 9.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression: u32,
    /// Leave out files matching this glob (repeatable), e.g. --exclude '**/*.map'.
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Skip the index.html check.
    #[arg(long)]
    pub no_code_check: bool,
}

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// App id (default: from capacitor.config).
    pub app: Option<String>,
    #[command(flatten)]
    pub zip: ZipArgs,
    /// Point this channel at the new bundle once it is ready.
    #[arg(long)]
    pub channel: Option<String>,
    /// With --channel: roll it out to this percentage of the channel's devices instead.
    #[arg(long, value_name = "PERCENT", requires = "channel")]
    pub rollout: Option<f64>,
    /// Lowest native version this bundle runs on (for channels with --disable-auto-update metadata).
    #[arg(long)]
    pub min_update_version: Option<String>,
    /// Link shown to users by plugins ≥ 8.35 when the app exposes metadata.
    #[arg(long)]
    pub link: Option<String>,
    #[arg(long)]
    pub comment: Option<String>,
    /// Succeed when this version already exists with the same content (finishing a pending upload).
    #[arg(long)]
    pub version_exists_ok: bool,
    /// Encrypt end to end for the app's public key (the default when capacitor.config has
    /// plugins.CapacitorUpdater.publicKey: devices then accept nothing else).
    #[arg(long)]
    pub encrypt: bool,
    /// The private key to encrypt with (default: ./.capgo_key_v2, from `updraft key create`).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Upload the zip only: no per-file objects for delta updates.
    #[arg(long)]
    pub no_delta: bool,
}

/// The key to encrypt with, if this upload is encrypted; checked against the app's
/// configured public key before anything is uploaded.
fn encryption_key(
    ctx: &Ctx,
    args: &UploadArgs,
) -> anyhow::Result<Option<updraft_crypto::RsaPrivateKey>> {
    let configured = config::read_project(&ctx.cwd)?.public_key;
    if !(args.encrypt || args.key.is_some() || configured.is_some()) {
        return Ok(None);
    }
    let path = args
        .key
        .clone()
        .unwrap_or_else(|| super::key::default_private_key(&ctx.cwd));
    if !path.exists() {
        if configured.is_some() && !args.encrypt {
            bail!(
                "capacitor.config has a publicKey, so devices accept only encrypted bundles, and there is no private key at {}: pass --key PATH (or make one with `updraft key create`)",
                path.display()
            );
        }
        bail!(
            "no private key at {}: make one with `updraft key create`, or pass --key PATH",
            path.display()
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the private key {}", path.display()))?;
    let key = updraft_crypto::parse_private(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(pem) = configured {
        let public = updraft_crypto::parse_public(&pem)
            .context("capacitor.config's plugins.CapacitorUpdater.publicKey")?;
        if public != updraft_crypto::RsaPublicKey::from(&key) {
            bail!(
                "the private key {} does not match capacitor.config's publicKey: devices would refuse these bundles",
                path.display()
            );
        }
    }
    Ok(Some(key))
}

fn build_folder(ctx: &Ctx, args: &ZipArgs) -> anyhow::Result<PathBuf> {
    let dir = match &args.path {
        Some(p) => p.clone(),
        None => match config::read_project(&ctx.cwd)?.web_dir {
            Some(w) => ctx.cwd.join(w),
            None => bail!("no build folder: pass --path, or set webDir in capacitor.config"),
        },
    };
    let dir = if dir.is_absolute() {
        dir
    } else {
        ctx.cwd.join(dir)
    };
    if !dir.is_dir() {
        bail!(
            "build folder {} does not exist: build your web app first",
            dir.display()
        );
    }
    if !args.no_code_check && !dir.join("index.html").is_file() {
        bail!(
            "{} has no index.html at its root (pass --no-code-check to skip this check)",
            dir.display()
        );
    }
    Ok(dir)
}

fn make_zip(ctx: &Ctx, args: &ZipArgs, dir: &Path) -> anyhow::Result<Zipped> {
    let opts = ZipOptions {
        level: args.compression,
        exclude: args.exclude.clone(),
    };
    let tmp = std::env::temp_dir();
    let z = zip_folder(dir, &opts, &tmp)?;
    if !args.no_code_check && !z.calls_notify {
        ctx.out.warn(
            "no .js file calls notifyAppReady(): without it every device rolls this update back",
        );
    }
    if z.size > BIG_BUNDLE {
        ctx.out.warn(format!(
            "the bundle is {}: devices download this on every update",
            human_size(z.size)
        ));
    }
    Ok(z)
}

pub fn human_size(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

pub async fn zip(ctx: &Ctx, args: ZipArgs, name: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = build_folder(ctx, &args)?;
    let version = config::bundle_version(args.bundle.as_deref(), &ctx.cwd)?;
    let started = Instant::now();
    let z = make_zip(ctx, &args, &dir)?;
    let dest = name.unwrap_or_else(|| ctx.cwd.join(format!("bundle-{version}.zip")));
    z.file
        .persist(&dest)
        .with_context(|| format!("cannot write {}", dest.display()))?;
    ctx.out.done(
        format!(
            "Wrote {} ({}, {} files), version {version}, SHA-256 {} in {:.2}s",
            dest.display(),
            human_size(z.size),
            z.files,
            z.sha256,
            started.elapsed().as_secs_f64()
        ),
        &json!({"path": dest, "version": version, "checksum": z.sha256, "size": z.size, "files": z.files}),
    );
    Ok(())
}

/// PUTs the file objects storage asked for, a few at a time; (how many, bytes).
async fn put_files(
    ctx: &Ctx,
    api: &Api,
    wanted: &[updraft_core::api::FileUpload],
    files: &[crate::delta::FileObject],
) -> anyhow::Result<(usize, u64)> {
    if wanted.is_empty() {
        return Ok((0, 0));
    }
    let by_sha: std::collections::HashMap<&str, &crate::delta::FileObject> =
        files.iter().map(|f| (f.file.sha256.as_str(), f)).collect();
    let mut jobs = Vec::with_capacity(wanted.len());
    let mut bytes = 0;
    for w in wanted {
        let f = by_sha.get(w.sha256.as_str()).with_context(|| {
            format!(
                "the server asked for an object this build lacks: {}",
                w.sha256
            )
        })?;
        bytes += f.file.size;
        jobs.push((w, f));
    }
    ctx.out.say(format!(
        "Uploading {} changed files ({}) …",
        jobs.len(),
        human_size(bytes)
    ));
    futures_util::stream::iter(jobs)
        .map(|(w, f)| async move {
            let bytes = tokio::fs::read(&f.path)
                .await
                .with_context(|| format!("cannot read {}", f.path.display()))?;
            put_object(api, &w.upload, bytes).await
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok((wanted.len(), bytes))
}

/// One object from memory to its signed URL.
async fn put_object(api: &Api, upload: &UploadTicket, body: Vec<u8>) -> anyhow::Result<()> {
    let len = body.len() as u64;
    signed_put(api, upload, reqwest::Body::from(body), len, "a file").await
}

/// PUTs `body` (`len` bytes) to a signed upload URL with the headers it was signed with.
async fn signed_put(
    api: &Api,
    upload: &UploadTicket,
    body: reqwest::Body,
    len: u64,
    what: &str,
) -> anyhow::Result<()> {
    let url = upload.url.as_str();
    let mut req = api
        .http()
        .put(url)
        .header(reqwest::header::CONTENT_LENGTH, len)
        .body(body);
    for (k, v) in upload
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
    {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| unreachable_error(url.split('?').next().unwrap_or(url), e))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        return Err(ServerError {
            status,
            code: v["error"].as_str().unwrap_or("upload_failed").into(),
            message: format!(
                "storage refused {what}: {}",
                v["message"].as_str().unwrap_or("")
            ),
        }
        .into());
    }
    Ok(())
}

/// Streams the file to the signed URL, with a byte-level progress bar on a terminal.
async fn put_bytes(ctx: &Ctx, api: &Api, upload: &UploadTicket, z: &Zipped) -> anyhow::Result<()> {
    let file = tokio::fs::File::open(z.file.path()).await?;
    let bar = if ctx.out.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(z.size);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    };
    let progress = bar.clone();
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
            if let Ok(c) = chunk {
                progress.inc(c.len() as u64);
            }
        });
    let sent = signed_put(
        api,
        upload,
        reqwest::Body::wrap_stream(stream),
        z.size,
        "the upload",
    )
    .await;
    bar.finish_and_clear();
    sent
}

pub async fn upload(ctx: &Ctx, args: UploadArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let app_id = ctx.app_id(args.app.as_deref())?;
    let version = config::bundle_version(args.zip.bundle.as_deref(), &ctx.cwd)?;
    let dir = build_folder(ctx, &args.zip)?;
    let api = ctx.api()?;
    let app_path = format!("/v1/apps/{}", seg(&app_id));
    ctx.out.say(format!("Zipping {} …", dir.display()));
    // Checked before anything is uploaded.
    let share = match args.rollout {
        Some(p) => Some(updraft_core::rollout::share_from_percent(p).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let key = encryption_key(ctx, &args)?;
    let z = make_zip(ctx, &args.zip, &dir)?;
    // Encrypted: the ciphertext is what storage holds and checks.
    let session = key
        .as_ref()
        .map(|_| updraft_crypto::Session::new())
        .transpose()?;
    let (z, sealed) = match (&key, &session) {
        (Some(key), Some(session)) => {
            let out = tempfile::NamedTempFile::new()?;
            let sealed = updraft_crypto::seal(key, session, z.file.path(), out.path())?;
            let cipher = Zipped {
                file: out,
                size: sealed.size,
                sha256: sealed.sha256.clone(),
                files: z.files,
                calls_notify: z.calls_notify,
            };
            (cipher, Some(sealed))
        }
        _ => (z, None),
    };

    // Delta updates: every file on its own, content-addressed (encrypted like the zip when
    // the bundle is).
    let delta_tmp = tempfile::tempdir()?;
    let delta = if args.no_delta {
        None
    } else {
        let files = crate::delta::files(&dir, &args.zip.exclude, delta_tmp.path())?;
        Some(match (&key, &session) {
            (Some(key), Some(session)) => {
                crate::delta::encrypt(files, key, session, delta_tmp.path())?
            }
            _ => files,
        })
    };

    // Refuse to ship the exact bytes a channel already serves under another name.
    let bundles: Vec<Bundle> = api.get(&format!("{app_path}/bundles")).await?;
    let channels: Vec<Channel> = api.get(&format!("{app_path}/channels")).await?;
    for c in &channels {
        for served in c.versions_in_use() {
            let same = bundles
                .iter()
                .any(|b| b.version == served && b.checksum == z.sha256 && served != version);
            if same {
                bail!(
                    "same content as {served} on {}: nothing changed since that upload",
                    c.name
                );
            }
        }
    }

    let body = NewBundle {
        version: version.clone(),
        size: z.size,
        checksum: sealed
            .as_ref()
            .map_or_else(|| z.sha256.clone(), |s| s.checksum.clone()),
        sha256: sealed.as_ref().map(|s| s.sha256.clone()),
        session_key: sealed.as_ref().map(|s| s.session_key.clone()),
        key_id: sealed.as_ref().map(|s| s.key_id.clone()),
        manifest: delta
            .as_ref()
            .map(|files| files.iter().map(|f| f.file.clone()).collect()),
        min_update_version: args.min_update_version.clone(),
        link: args.link.clone(),
        comment: args.comment.clone(),
    };
    let existing = bundles.iter().find(|b| b.version == version);
    let already_ready = match existing {
        Some(b) if b.is_ready() && b.checksum == z.sha256 && args.version_exists_ok => true,
        Some(b) if b.is_ready() => {
            bail!(
                "version {version} already exists in {app_id}: bump the version (or pass --version-exists-ok if it is this same build)"
            )
        }
        _ => false,
    };
    let mut delta_sent = None;
    if !already_ready {
        let reg: RegisteredBundle = api.post(&format!("{app_path}/bundles"), &body).await?;
        if let Some(files) = &delta {
            delta_sent = Some(put_files(ctx, &api, &reg.files, files).await?);
        }
        ctx.out.say(format!("Uploading {} …", human_size(z.size)));
        put_bytes(ctx, &api, &reg.upload, &z).await?;
        let _: Value = api
            .post(
                &format!("{app_path}/bundles/{}/finalize", seg(&version)),
                &json!({}),
            )
            .await?;
    }
    let mut result = json!({
        "app_id": app_id, "version": version, "size": z.size, "checksum": z.sha256,
        "files": z.files, "uploaded": !already_ready,
    });
    let mut human = format!(
        "Uploaded {app_id} {version}: {} ({} files), SHA-256 {}",
        human_size(z.size),
        z.files,
        z.sha256
    );
    if let (Some(files), Some((sent, bytes))) = (&delta, delta_sent) {
        let stored: u64 = files.iter().map(|f| f.file.size).sum();
        human.push_str(&format!(
            "\nDelta: {} files ({} stored), {sent} uploaded ({}), {} already in storage.",
            files.len(),
            human_size(stored),
            human_size(bytes),
            files.len() - sent
        ));
        result["delta"] = json!({"files": files.len(), "uploaded": sent, "uploaded_bytes": bytes, "stored_bytes": stored});
    }
    if let Some(s) = &sealed {
        human.push_str(&format!(
            "\nEncrypted end to end for public key {} (devices with another key get key_id_mismatch).",
            s.key_id
        ));
        result["encrypted"] =
            json!({"key_id": s.key_id, "session_key": s.session_key, "checksum": s.checksum});
    }
    if let Some(channel) = &args.channel {
        let channel_path = format!("{app_path}/channels/{}", seg(channel));
        let (c, who): (Channel, String) = match share {
            Some(share) => {
                let start = RolloutStart {
                    bundle: version.clone(),
                    share,
                    repromote: false,
                };
                let c = api.post(&format!("{channel_path}/rollout"), &start).await?;
                (c, format!("{}% of devices", f64::from(share) / 100.0))
            }
            None => {
                let fields = ChannelFields {
                    bundle: Some(Some(version.clone())),
                    ..ChannelFields::default()
                };
                (api.patch(&channel_path, &fields).await?, "Devices".into())
            }
        };
        human.push_str(&format!(
            "\nChannel {}\n{who} on {channel} get {version} on their next check.",
            super::channel::describe(&c)
        ));
        result["channel"] = serde_json::to_value(&c)?;
    } else {
        human.push_str(&format!(
            "\nNo device gets it yet: updraft channel set <channel> --bundle {version}"
        ));
    }
    let secs = started.elapsed().as_secs_f64();
    human.push_str(&format!("\nDone in {secs:.2}s."));
    result["seconds"] = json!(secs);
    ctx.out.done(human, &result);
    Ok(())
}

pub async fn list(ctx: &Ctx, app: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let rows: Vec<Bundle> = ctx
        .api()?
        .get(&format!("/v1/apps/{}/bundles", seg(&app_id)))
        .await?;
    let human = if rows.is_empty() {
        format!("No bundles in {app_id}: updraft bundle upload {app_id} --channel production")
    } else {
        rows.iter()
            .map(|b| {
                format!(
                    "{}  {}  {}  {}",
                    b.version,
                    b.status.as_str(),
                    human_size(b.size),
                    b.checksum
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    ctx.out.done(human, &rows);
    Ok(())
}

pub async fn delete(ctx: &Ctx, version: String, app: Option<String>) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let v = ctx
        .api()?
        .delete(&format!(
            "/v1/apps/{}/bundles/{}",
            seg(&app_id),
            seg(&version)
        ))
        .await?;
    ctx.out
        .done(format!("Deleted bundle {version} of {app_id}."), &v);
    Ok(())
}

pub async fn cleanup(ctx: &Ctx, app: Option<String>, keep: usize, yes: bool) -> anyhow::Result<()> {
    let app_id = ctx.app_id(app.as_deref())?;
    let api = ctx.api()?;
    let app_path = format!("/v1/apps/{}", seg(&app_id));
    let bundles: Vec<Bundle> = api.get(&format!("{app_path}/bundles")).await?;
    let channels: Vec<Channel> = api.get(&format!("{app_path}/channels")).await?;
    let served: Vec<&str> = channels.iter().flat_map(Channel::versions_in_use).collect();
    // Newest first by semver; keep the newest `keep` and anything a channel serves.
    let mut all: Vec<(semver::Version, String)> = bundles
        .iter()
        .filter_map(|b| {
            semver::Version::parse(&b.version)
                .ok()
                .map(|s| (s, b.version.clone()))
        })
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0));
    let doomed: Vec<String> = all
        .into_iter()
        .skip(keep)
        .map(|(_, v)| v)
        .filter(|v| !served.contains(&v.as_str()))
        .collect();
    if doomed.is_empty() {
        let files: FilesCleaned = api
            .post(&format!("{app_path}/files/cleanup"), &json!({}))
            .await?;
        ctx.out.done(
            format!(
                "Nothing to delete in {app_id} (keeping the newest {keep} and every served bundle); {} unused file objects removed.",
                files.deleted
            ),
            &json!({"deleted": [], "files": files}),
        );
        return Ok(());
    }
    confirm(
        &format!(
            "Delete {} bundle(s) of {app_id}: {}?",
            doomed.len(),
            doomed.join(", ")
        ),
        yes,
    )?;
    for v in &doomed {
        api.delete(&format!("{app_path}/bundles/{}", seg(v)))
            .await?;
    }
    // File objects only the deleted bundles listed (delta updates) go too.
    let files: FilesCleaned = api
        .post(&format!("{app_path}/files/cleanup"), &json!({}))
        .await?;
    ctx.out.done(
        format!(
            "Deleted {}: {}; {} unused file objects removed.",
            doomed.len(),
            doomed.join(", "),
            files.deleted
        ),
        &json!({"deleted": doomed, "files": files}),
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct DecryptArgs {
    /// The encrypted bundle.
    pub file: PathBuf,
    /// The bundle's session key (base64(iv):base64(key)).
    #[arg(long)]
    pub session_key: String,
    /// The bundle's encrypted checksum (hex).
    #[arg(long)]
    pub checksum: String,
    /// The public key (PKCS#1 PEM; default: capacitor.config's publicKey, else ./.capgo_key_v2.pub).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Where to write the zip (default: FILE with `.enc` replaced by `.zip`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn decrypt(ctx: &Ctx, args: DecryptArgs) -> anyhow::Result<()> {
    let pem = match &args.key {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => match config::read_project(&ctx.cwd)?.public_key {
            Some(pem) => pem,
            None => {
                let path = ctx.cwd.join(super::key::PUBLIC_KEY_FILE);
                std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "no public key: pass --key PATH (none in capacitor.config, no {})",
                        path.display()
                    )
                })?
            }
        },
    };
    let public = updraft_crypto::parse_public(&pem)?;
    let cipher = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let plain = updraft_crypto::open(
        &public,
        args.session_key.trim(),
        args.checksum.trim(),
        &cipher,
    )?;
    let out = args.out.clone().unwrap_or_else(|| {
        let name = args.file.to_string_lossy();
        let base = name.strip_suffix(".enc").unwrap_or(&name);
        PathBuf::from(if base.ends_with(".zip") && base != name {
            base.to_string()
        } else {
            format!("{base}.zip")
        })
    });
    std::fs::write(&out, &plain).with_context(|| format!("cannot write {}", out.display()))?;
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&plain));
    ctx.out.done(
        format!(
            "Decrypted {} → {} ({}), checksum verified: SHA-256 {sha}",
            args.file.display(),
            out.display(),
            human_size(plain.len() as u64)
        ),
        &json!({"out": out, "size": plain.len(), "sha256": sha}),
    );
    Ok(())
}
