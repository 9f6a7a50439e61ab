//! `updraft-device`: a live-update client for apps that load their web assets from a folder
//! (Tauri and other desktop shells), behaving like the stock `@capgo/capacitor-updater`
//! plugin (8.51.23, read for facts).
//!
//! - `lifecycle`: download verified → staged → switched at the next start → ready, or
//!   rolled back when the app does not call `notify_app_ready` in time; pure, no I/O.
//! - `state_file`: that state on disk, one JSON file replaced atomically, so a crash or
//!   power loss at any step leaves a loadable bundle.
//! - `updater`: the HTTP side, with the plugin's request bodies: update checks, full-zip
//!   downloads verified by SHA-256 and unpacked to a staging folder renamed into place,
//!   `/stats` reports sent in batches (kept on disk until sent), `/channel_self`.
//!
//! Not yet: manifest (delta) downloads with a content-addressed cache, resumed downloads,
//! and decryption. `updraft simulate` plays fleets of devices on `lifecycle`.

pub mod lifecycle;
pub mod state_file;
pub mod updater;

pub use lifecycle::{Bundle, BundleStatus, Bundles, Report};
pub use state_file::StateFile;
pub use updater::{Check, Config, Error, Update, Updater};
