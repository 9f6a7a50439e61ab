//! `updraft-device`: a live-update client for apps that load their web assets from a folder
//! (Tauri and other desktop shells), behaving like the stock `@capgo/capacitor-updater`
//! plugin (8.51.23, read for facts).
//!
//! - `lifecycle`: download verified → staged → switched at the next start → ready, or
//!   rolled back when the app does not call `notify_app_ready` in time; pure, no I/O.
//! - `state_file`: that state on disk, one JSON file replaced atomically, so a crash or
//!   power loss at any step leaves a loadable bundle.
//! - `updater`: the HTTP side, with the plugin's request bodies: update checks; downloads
//!   of the zip, or of a manifest's files (`manifest`) taking every file it can from the
//!   bundles on disk (`files`), Brotli-decompressed, resumed with `Range` (`fetch`),
//!   decrypted when the app has a public key (`encryption`), each verified by SHA-256 and
//!   unpacked to a staging folder renamed into place (`download`, `unpack`); `/stats`
//!   reports in batches, kept on disk until sent and shaped per action as the plugin
//!   shapes them (`reports`), with its progress steps (`progress`) and launch reports
//!   (`launch`); `/channel_self` (`channel`).
//!
//! `updraft simulate` plays fleets of devices on `lifecycle`.

pub mod channel;
mod download;
mod encryption;
mod fetch;
mod files;
mod launch;
pub mod lifecycle;
pub mod manifest;
mod progress;
pub mod rate_limit;
pub mod reports;
pub mod state_file;
mod unpack;
pub mod updater;

pub use channel::{ChannelState, SelfChannel};
pub use lifecycle::{Bundle, BundleStatus, Bundles, Report, Verified};
pub use manifest::ManifestFile;
pub use state_file::StateFile;
pub use updater::{Check, Config, Downloaded, Error, Update, Updater};
