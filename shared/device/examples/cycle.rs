//! Start, confirm, check, download, in a loop: the crash test (`tests/device_sdk.rs` at the
//! workspace root) kills this process at random moments and checks that what it left can be
//! loaded.
//!   cycle SERVER_URL APP_ID DEVICE_ID BUNDLES_FOLDER

use std::time::Duration;

use updraft_device::{Check, Config, Updater};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, app_id, device_id, folder] = &args[..] else {
        eprintln!("usage: cycle SERVER_URL APP_ID DEVICE_ID BUNDLES_FOLDER");
        std::process::exit(2);
    };
    let config = Config {
        app_ready_timeout: Duration::from_secs(1),
        ..Config::new(server, app_id, device_id, "1.0.0")
    };
    loop {
        let Ok(updater) = Updater::open(config.clone(), std::path::Path::new(folder)) else {
            continue;
        };
        let _ = updater.start();
        let _ = updater.notify_app_ready();
        if let Ok(Check::Update(u)) = updater.check().await {
            let _ = updater.download(&u).await;
        }
        let _ = updater.flush_stats().await;
    }
}
