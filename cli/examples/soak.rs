//! Soak: mixed device traffic (update checks, stats batches, channel_self) plus a steady
//! stream of bundle uploads against a running `updraft serve`, for a fixed time. Every answer
//! must be the expected 2xx; the server's resident memory and open files are sampled from
//! /proc and must stay flat. Used by `scripts/soak`.
//!
//!   soak <base-url> <admin-key> <server-pid> <seconds>

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const APP: &str = "com.soak.app";
const DEVICES: u64 = 5_000;

#[derive(Default)]
struct Tally {
    checks: AtomicU64,
    stats: AtomicU64,
    channel_self: AtomicU64,
    uploads: AtomicU64,
    errors: AtomicU64,
}

struct Ctx {
    url: String,
    key: String,
    http: reqwest::Client,
    tally: Tally,
    stop: AtomicBool,
}

impl Ctx {
    fn fail(&self, what: &str, detail: String) {
        // Print the first few; the count is what decides.
        if self.tally.errors.fetch_add(1, Ordering::Relaxed) < 10 {
            eprintln!("soak: {what}: {detail}");
        }
    }

    async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> Option<Value> {
        match req.send().await {
            Ok(r) if r.status().is_success() => r.json().await.ok().or(Some(Value::Null)),
            Ok(r) => {
                let status = r.status();
                self.fail(
                    what,
                    format!("{status}: {}", r.text().await.unwrap_or_default()),
                );
                None
            }
            Err(e) => {
                self.fail(what, e.to_string());
                None
            }
        }
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(path, req).await
    }
}

fn device(n: u64, extra: Value) -> Value {
    let mut v = json!({
        "platform": if n.is_multiple_of(2) { "ios" } else { "android" },
        "device_id": format!("50a50a50-0000-4000-8000-{n:012x}"),
        "app_id": APP, "version_build": "1.0.0", "version_name": "builtin",
        "plugin_version": "7.25.0", "is_emulator": false, "is_prod": true,
    });
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

/// A cheap deterministic generator: the soak needs variety, not quality.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn checks(ctx: Arc<Ctx>, seed: u64) {
    let mut r = seed;
    while !ctx.stop.load(Ordering::Relaxed) {
        let body = device(next(&mut r) % DEVICES, json!({}));
        let req = ctx.http.post(format!("{}/updates", ctx.url)).json(&body);
        if let Some(v) = ctx.send("/updates", req).await {
            if v.get("version").is_some() || v.get("error").is_some() {
                ctx.tally.checks.fetch_add(1, Ordering::Relaxed);
            } else {
                ctx.fail("/updates", format!("neither an update nor a reason: {v}"));
            }
        }
    }
}

async fn stats(ctx: Arc<Ctx>, seed: u64) {
    let mut r = seed;
    let actions = [
        "download_complete",
        "set",
        "app_moved_to_foreground",
        "update_fail",
    ];
    while !ctx.stop.load(Ordering::Relaxed) {
        let batch: Vec<Value> = (0..25)
            .map(|i| {
                device(
                    next(&mut r) % DEVICES,
                    json!({"action": actions[i % actions.len()], "version_name": "1.0.0"}),
                )
            })
            .collect();
        let req = ctx.http.post(format!("{}/stats", ctx.url)).json(&batch);
        if ctx.send("/stats", req).await.is_some() {
            ctx.tally.stats.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn channel_self(ctx: Arc<Ctx>, seed: u64) {
    let mut r = seed;
    while !ctx.stop.load(Ordering::Relaxed) {
        let n = next(&mut r) % DEVICES;
        let url = format!("{}/channel_self", ctx.url);
        let calls = [
            ctx.http
                .post(&url)
                .json(&device(n, json!({"channel": "beta"}))),
            ctx.http.put(&url).json(&device(n, json!({}))),
            ctx.http.delete(&url).json(&device(n, json!({}))),
        ];
        for req in calls {
            if ctx.send("/channel_self", req).await.is_some() {
                ctx.tally.channel_self.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Registers, uploads, finalizes, serves, and retires bundles, one every half second, so
/// storage is written all along but stays bounded.
async fn uploads(ctx: Arc<Ctx>) {
    let path = format!("/v1/apps/{APP}/bundles");
    let mut previous: Option<String> = None;
    for n in 1u64.. {
        if ctx.stop.load(Ordering::Relaxed) {
            break;
        }
        let version = format!("1.1.{n}");
        let bytes: Vec<u8> = (0..256 * 1024u64)
            .map(|i| (i.wrapping_mul(n | 1) >> 3) as u8)
            .collect();
        let sum = hex::encode(Sha256::digest(&bytes));
        let body = json!({"version": version, "size": bytes.len(), "checksum": sum});
        let Some(reg) = ctx.admin(reqwest::Method::POST, &path, Some(body)).await else {
            continue;
        };
        let mut put = ctx
            .http
            .put(reg["upload"]["url"].as_str().unwrap_or_default());
        for (k, v) in reg["upload"]["headers"].as_object().into_iter().flatten() {
            if k != "content-length" {
                put = put.header(k.as_str(), v.as_str().unwrap_or_default());
            }
        }
        if ctx.send("upload PUT", put.body(bytes)).await.is_none() {
            continue;
        }
        let fin = format!("{path}/{version}/finalize");
        if ctx.admin(reqwest::Method::POST, &fin, None).await.is_none() {
            continue;
        }
        let set = json!({"bundle": version});
        let channel = format!("/v1/apps/{APP}/channels/production");
        if ctx
            .admin(reqwest::Method::PATCH, &channel, Some(set))
            .await
            .is_some()
        {
            ctx.tally.uploads.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(old) = previous.replace(version) {
            ctx.admin(reqwest::Method::DELETE, &format!("{path}/{old}"), None)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Resident set (KiB) and open descriptors of a process, from /proc.
fn sample(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    (rss, fds)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, key, pid, secs] = args.as_slice() else {
        eprintln!("usage: soak <base-url> <admin-key> <server-pid> <seconds>");
        std::process::exit(2);
    };
    let pid: u32 = pid.parse().expect("pid");
    let secs: u64 = secs.parse().expect("seconds");
    let ctx = Arc::new(Ctx {
        url: url.trim_end_matches('/').to_string(),
        key: key.clone(),
        http: {
            // reqwest brings no TLS provider of its own here (see cli/Cargo.toml).
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::new()
        },
        tally: Tally::default(),
        stop: AtomicBool::new(false),
    });

    use reqwest::Method;
    ctx.admin(Method::POST, "/v1/apps", Some(json!({"app_id": APP})))
        .await
        .expect("create the app");
    let channels = format!("/v1/apps/{APP}/channels");
    for body in [
        json!({"name": "production", "public": true}),
        json!({"name": "beta", "allow_device_self_set": true}),
    ] {
        ctx.admin(Method::POST, &channels, Some(body))
            .await
            .expect("create a channel");
    }

    let mut tasks = Vec::new();
    for i in 0..4 {
        tasks.push(tokio::spawn(checks(ctx.clone(), 0x9e37_79b9 + i)));
    }
    tasks.push(tokio::spawn(stats(ctx.clone(), 0x51ed_270b)));
    tasks.push(tokio::spawn(channel_self(ctx.clone(), 0x2545_f491)));
    tasks.push(tokio::spawn(uploads(ctx.clone())));

    let started = Instant::now();
    let every = Duration::from_secs(if secs >= 300 { 30 } else { 5 });
    let mut samples = Vec::new();
    println!("   t(s)   RSS(KiB)  fds   checks  stats-batches  channel_self  uploads  errors");
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(every).await;
        let (rss, fds) = sample(pid);
        let t = &ctx.tally;
        println!(
            "{:>7} {:>10} {:>4} {:>8} {:>14} {:>13} {:>8} {:>7}",
            started.elapsed().as_secs(),
            rss,
            fds,
            t.checks.load(Ordering::Relaxed),
            t.stats.load(Ordering::Relaxed),
            t.channel_self.load(Ordering::Relaxed),
            t.uploads.load(Ordering::Relaxed),
            t.errors.load(Ordering::Relaxed),
        );
        samples.push((rss, fds));
    }
    ctx.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }

    // Flat: after the first fifth (warm-up: caches, SQLite pages, connection pools), the
    // highest later reading stays within 25 % (+ 8 MiB) of memory and 16 descriptors.
    let warm = (samples.len() / 5).max(1).min(samples.len() - 1);
    let (base_rss, base_fds) = samples[warm];
    let peak_rss = samples[warm..].iter().map(|s| s.0).max().unwrap();
    let peak_fds = samples[warm..].iter().map(|s| s.1).max().unwrap();
    let errors = ctx.tally.errors.load(Ordering::Relaxed);
    let rss_ok = peak_rss <= base_rss + base_rss / 4 + 8 * 1024;
    let fds_ok = peak_fds <= base_fds + 16;
    println!(
        "soak: {} s, errors {errors}; RSS {base_rss} → peak {peak_rss} KiB ({}); fds {base_fds} → peak {peak_fds} ({})",
        secs,
        if rss_ok { "flat" } else { "GROWING" },
        if fds_ok { "flat" } else { "GROWING" },
    );
    let (c, u) = (
        ctx.tally.checks.load(Ordering::Relaxed),
        ctx.tally.uploads.load(Ordering::Relaxed),
    );
    if errors > 0 || !rss_ok || !fds_ok || c == 0 || u == 0 {
        std::process::exit(1);
    }
}
