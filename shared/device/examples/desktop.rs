//! Keeps a folder of web assets up to date from an Updraft channel, as a Tauri or other
//! desktop shell would: at start, load what the SDK says (or the assets built into the
//! app); confirm once the page is up; check for an update in the background, which the
//! next start loads; report to `/stats`.
//!
//!   updraft serve &                                   # and an app with a channel and a bundle
//!   cargo run -p updraft-device --example desktop -- http://127.0.0.1:8787 com.example.app ./bundles [1.0.0]
//!
//! The last argument is the app's own version (semver; default 1.0.0): channels by default
//! do not offer a bundle across a major version.
//!
//! Run it twice: the first run downloads the channel's bundle, the second loads it. For an
//! app whose bundles are encrypted, set `UPDRAFT_PUBLIC_KEY` to the public key file
//! (`.capgo_key_v2.pub`, written by `updraft key create`).

use std::time::Duration;

use updraft_device::{Check, Config, Updater};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(app_id), Some(folder)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: desktop SERVER_URL APP_ID BUNDLES_FOLDER [APP_VERSION]");
        std::process::exit(2);
    };
    let app_version = args.next().unwrap_or_else(|| "1.0.0".to_string());
    let folder = std::path::PathBuf::from(folder);
    // One id per install, kept next to the bundles.
    let id_file = folder.join("device-id");
    std::fs::create_dir_all(&folder)?;
    let device_id = match std::fs::read_to_string(&id_file) {
        Ok(id) => id.trim().to_string(),
        Err(_) => {
            let id = updraft_core::key::random_hex(16);
            let id = format!(
                "{}-{}-4{}-8{}-{}",
                &id[..8],
                &id[8..12],
                &id[13..16],
                &id[17..20],
                &id[20..32]
            );
            std::fs::write(&id_file, &id)?;
            id
        }
    };
    let mut config = Config::new(&server, &app_id, &device_id, &app_version);
    if let Ok(path) = std::env::var("UPDRAFT_PUBLIC_KEY") {
        config.public_key = Some(std::fs::read_to_string(&path)?);
    }
    let timeout = config.app_ready_timeout;
    let updater = Updater::open(config, &folder)?;

    // 1. Start: the folder to serve the web view from.
    match updater.start()? {
        Some(dir) => println!("loading {}", dir.display()),
        None => println!("loading the assets built into the app"),
    }
    // 2. The page came up (a real shell calls this from the page, when it has rendered).
    updater.notify_app_ready()?;
    // Had it not, this would roll back to the last bundle that started fine.
    tokio::time::sleep(timeout.min(Duration::from_millis(100))).await;
    if let Some(now) = updater.ready_deadline()? {
        println!("the bundle never got ready: back to {now:?}");
    }
    // 3. In the background: check, download, stage for the next start.
    match updater.check().await {
        Ok(Check::Update(update)) => {
            match updater.download(&update).await {
                Ok(done) => println!(
                    "{} downloaded ({} bytes; files: {} downloaded, {} reused): it loads at the next start",
                    update.version, done.received, done.files_downloaded, done.files_reused
                ),
                // Reported to the server too; the next check tries again (resuming a cut
                // download), unless the version failed here before.
                Err(e) => println!("{} not downloaded: {e}", update.version),
            }
        }
        Ok(Check::Builtin) => println!("the server wants the built-in assets"),
        Ok(Check::Nothing { reason }) => println!("up to date ({reason})"),
        Err(e) => println!("no check this time: {e}"),
    }
    // 4. Reports, in one batch.
    match updater.flush_stats().await {
        Ok(n) => println!("{n} events reported"),
        Err(e) => println!("reports wait for the next run: {e}"),
    }
    Ok(())
}
