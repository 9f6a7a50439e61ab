//! `updraft simulate`: a fleet of virtual devices, each running the device SDK's bundle
//! lifecycle (`updraft_device::Bundles`, in memory) against one server: checks on a rhythm,
//! downloads verified by SHA-256, the switch at the next start, `notify_app_ready` or — for
//! a chosen version and share — a start that never gets ready and is rolled back, reports
//! to `/stats` in batches. Bounded and polite: only the URL given, stops at the duration
//! (or once the whole fleet runs the `--until` version), honours `429` + `Retry-After`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use updraft_core::device_request::Platform;
use updraft_core::protocol::{DeviceRequest, StatsEvent};
use updraft_device::lifecycle::BUILTIN;
use updraft_device::rate_limit::retry_deadline;
use updraft_device::{BundleStatus, Bundles, Report, Verified};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The server (its device routes: /updates, /stats). Nothing else is contacted but the
    /// download URLs it hands out.
    #[arg(long)]
    pub url: String,
    /// The app the devices run.
    #[arg(long)]
    pub app: String,
    /// How many virtual devices.
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// How long the run lasts (e.g. 30s, 10m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// How often each device starts the app and checks (±20 %, first start spread over it).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub check_every: Duration,
    /// A version whose starts fail (never call notify_app_ready) on some devices.
    #[arg(long)]
    pub fail_version: Option<String>,
    /// The share of devices on which `--fail-version` fails to start (0 to 1).
    #[arg(long, default_value_t = 1.0)]
    pub fail_rate: f64,
    /// Platforms by weight.
    #[arg(long, default_value = "ios=45,android=50,electron=5")]
    pub platform_mix: String,
    /// The native version every device runs.
    #[arg(long, default_value = "1.0.0")]
    pub native_version: String,
    /// Stop as soon as every device runs this version (a rollout or a rollback has
    /// reached the whole fleet); `--duration` still bounds the run. The summary says when.
    #[arg(long, value_name = "VERSION")]
    pub until: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `30s`, `10m`, `500ms`, `1h`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 10m, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: the unit is one of ms, s, m, h")),
    };
    if !(secs > 0.0 && secs < 86_400.0 * 7.0) {
        return Err(format!("`{s}` is not between 1 ms and 7 days"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_mix(s: &str) -> anyhow::Result<Vec<(Platform, u32)>> {
    let mut mix = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .with_context(|| format!("`{part}`: write platform=weight, e.g. ios=45"))?;
        let platform = Platform::parse(name.trim())
            .with_context(|| format!("`{name}` is not ios, android or electron"))?;
        let weight: u32 = weight
            .trim()
            .parse()
            .with_context(|| format!("`{weight}` is not a whole number"))?;
        mix.push((platform, weight));
    }
    if mix.iter().map(|(_, w)| w).sum::<u32>() == 0 {
        bail!("--platform-mix gives every platform a weight of 0");
    }
    Ok(mix)
}

/// A small deterministic generator per device (xorshift64*): reproducible runs, no crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the fleet did, summed.
#[derive(Default)]
struct Tally {
    checks: AtomicU64,
    downloads: AtomicU64,
    bytes: AtomicU64,
    installs: AtomicU64,
    failures: AtomicU64,
    rollbacks_seen: AtomicU64,
    throttled: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    latency_us: Mutex<HashMap<&'static str, Vec<u32>>>,
    /// How many devices run each version now ("builtin" until their first install).
    running: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    fn error(&self, what: String) {
        *self.errors.lock().unwrap().entry(what).or_default() += 1;
    }
    fn latency(&self, route: &'static str, since: Instant) {
        let us = since.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.latency_us
            .lock()
            .unwrap()
            .entry(route)
            .or_default()
            .push(us);
    }
}

struct Fleet {
    http: reqwest::Client,
    args: SimulateArgs,
    mix: Vec<(Platform, u32)>,
    started: Instant,
    deadline: Instant,
    tally: Tally,
    /// When the whole fleet first ran the `--until` version (after the start): the run is
    /// over then, before the deadline.
    converged: tokio::sync::watch::Sender<Option<Duration>>,
}

impl Fleet {
    fn device_request(
        &self,
        id: &str,
        platform: Platform,
        running: Option<&str>,
        rng: &mut Rng,
    ) -> DeviceRequest {
        DeviceRequest {
            app_id: self.args.app.clone(),
            device_id: id.to_string(),
            platform,
            version_build: self.args.native_version.clone(),
            version_name: Some(running.unwrap_or(BUILTIN).to_string()),
            version_code: Some("1".into()),
            version_os: Some("14".into()),
            plugin_version: Some(updraft_device::updater::PLUGIN_VERSION.into()),
            custom_id: Some(String::new()),
            // 2 % emulators, 5 % development builds, as a real fleet has a few.
            is_emulator: Some(rng.unit() < 0.02),
            is_prod: Some(rng.unit() >= 0.05),
            default_channel: Some(String::new()),
            install_source: Some(String::new()),
            key_id: None,
        }
    }

    /// Sleeps `d`, but never past the deadline or the fleet's convergence; false when the
    /// run is over.
    async fn pause(&self, d: Duration) -> bool {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let mut converged = self.converged.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(d.min(left)) => {}
            _ = converged.wait_for(Option::is_some) => {}
        }
        Instant::now() < self.deadline && self.converged.borrow().is_none()
    }

    /// A device moved from one version to another; ends the run when the whole fleet runs
    /// the `--until` version.
    fn moved(&self, from: &str, to: &str) {
        let mut running = self.tally.running.lock().unwrap();
        if let Some(n) = running.get_mut(from) {
            *n -= 1;
            if *n == 0 {
                running.remove(from);
            }
        }
        let here = running.entry(to.to_string()).or_default();
        *here += 1;
        if self.args.until.as_deref() == Some(to) && *here == self.args.devices as u64 {
            let at = self.started.elapsed();
            self.converged.send_if_modified(|first| {
                let new = first.is_none();
                first.get_or_insert(at);
                new
            });
        }
    }

    /// A POST to a device route; on 429 waits out `Retry-After` (as the plugin does).
    async fn post(&self, route: &'static str, body: &impl serde::Serialize) -> Option<Value> {
        let started = Instant::now();
        let resp = self
            .http
            .post(format!("{}{route}", self.args.url))
            .json(body)
            .send()
            .await;
        self.tally.latency(route, started);
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection"
                };
                self.tally.error(format!("{route} {kind}"));
                return None;
            }
        };
        let status = resp.status().as_u16();
        if status == 429 {
            self.tally.throttled.fetch_add(1, Ordering::Relaxed);
            let header = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.bytes().await.unwrap_or_default();
            // The SDK's (the plugin's) rule for how long to wait; no hint, no wait.
            let now = updraft_core::device::now_ms();
            if let Some(until) = retry_deadline(now, header.as_deref(), &body) {
                self.pause(Duration::from_millis((until - now).max(0) as u64))
                    .await;
            }
            return None;
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            let code = body["error"].as_str().unwrap_or("").to_string();
            self.tally.error(format!("{route} {status} {code}"));
            return None;
        }
        Some(body)
    }

    async fn device(self: Arc<Self>, index: usize) {
        let mut rng =
            Rng(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
        let id = {
            let (a, b) = (rng.next(), rng.next());
            format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                a >> 32,
                (a >> 16) & 0xffff,
                a & 0xfff,
                b >> 52,
                b & 0xffff_ffff_ffff
            )
        };
        let total: u32 = self.mix.iter().map(|(_, w)| w).sum();
        let mut pick = (rng.next() % total as u64) as u32;
        let platform = self
            .mix
            .iter()
            .find(|(_, w)| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .map_or(Platform::Android, |(p, _)| *p);
        let fails_here = rng.unit() < self.args.fail_rate;
        let mut bundles = Bundles::default();
        let mut reports: Vec<Report> = Vec::new();
        let mut had: HashSet<String> = HashSet::new();
        let mut was = BUILTIN.to_string();
        // The first start is spread over one period, so the fleet does not start in step.
        let first = self.args.check_every.mul_f64(rng.unit());
        if !self.pause(first).await {
            return;
        }
        loop {
            // The app starts: a staged bundle becomes current.
            let (_, r) = bundles.start();
            if !r.is_empty() {
                self.tally.installs.fetch_add(1, Ordering::Relaxed);
            }
            reports.extend(r);
            let pending = bundles
                .current
                .as_ref()
                .is_some_and(|b| b.status == BundleStatus::Pending);
            if pending {
                let fails = fails_here && bundles.running() == self.args.fail_version.as_deref();
                if fails {
                    let (_, r) = bundles.ready_timeout();
                    self.tally.failures.fetch_add(1, Ordering::Relaxed);
                    reports.extend(r);
                } else {
                    bundles.ready();
                    if let Some(v) = bundles.running() {
                        had.insert(v.to_string());
                    }
                }
            }
            let running = bundles.running().map(str::to_string);
            let now = running.as_deref().unwrap_or(BUILTIN);
            if now != was {
                self.moved(&was, now);
                was = now.to_string();
            }
            if !reports.is_empty() {
                let events: Vec<StatsEvent> = reports
                    .iter()
                    .map(|r| {
                        let device =
                            self.device_request(&id, platform, running.as_deref(), &mut rng);
                        updraft_device::reports::event(r, device)
                    })
                    .collect();
                if self.post("/stats", &events).await.is_some() {
                    reports.clear();
                }
            }
            self.tally.checks.fetch_add(1, Ordering::Relaxed);
            let body = self.device_request(&id, platform, running.as_deref(), &mut rng);
            if let Some(answer) = self.post("/updates", &body).await
                && answer["error"].is_null()
                && let (Some(version), Some(url), Some(checksum)) = (
                    answer["version"].as_str(),
                    answer["url"].as_str(),
                    answer["checksum"].as_str(),
                )
                && bundles.wants(version)
            {
                if had.contains(version) {
                    // The server sends the device back to a bundle it ran before.
                    self.tally.rollbacks_seen.fetch_add(1, Ordering::Relaxed);
                }
                self.download(&mut bundles, &mut reports, version, url, checksum)
                    .await;
            }
            let jitter = 0.8 + 0.4 * rng.unit();
            if !self.pause(self.args.check_every.mul_f64(jitter)).await {
                break;
            }
        }
    }

    async fn download(
        &self,
        bundles: &mut Bundles,
        reports: &mut Vec<Report>,
        version: &str,
        url: &str,
        checksum: &str,
    ) {
        let started = Instant::now();
        let got = match self.http.get(url).send().await {
            Ok(r) if r.status().is_success() => r.bytes().await.ok(),
            Ok(r) => {
                self.tally
                    .error(format!("download {}", r.status().as_u16()));
                None
            }
            Err(_) => {
                self.tally.error("download connection".into());
                None
            }
        };
        self.tally.latency("download", started);
        let Some(bytes) = got else { return };
        self.tally.downloads.fetch_add(1, Ordering::Relaxed);
        self.tally
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let sha = hex::encode(Sha256::digest(&bytes));
        match bundles.downloaded(version, version, checksum, &Verified::Sha256(&sha)) {
            Ok(r) => reports.extend(r),
            Err((_, r)) => {
                self.tally.error("download checksum".into());
                reports.extend(r);
            }
        }
    }

    fn summary(&self, elapsed: Duration) -> Value {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut latency = serde_json::Map::new();
        for (route, samples) in self.tally.latency_us.lock().unwrap().iter_mut() {
            samples.sort_unstable();
            let pct = |p: f64| {
                samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)] as f64
                    / 1000.0
            };
            latency.insert(
                route.to_string(),
                json!({"count": samples.len(), "p50_ms": pct(0.5), "p99_ms": pct(0.99)}),
            );
        }
        json!({
            "devices": self.args.devices,
            "seconds": elapsed.as_secs_f64(),
            "checks": n(&self.tally.checks),
            "downloads": n(&self.tally.downloads),
            "bytes": n(&self.tally.bytes),
            "installs": n(&self.tally.installs),
            "failures": n(&self.tally.failures),
            "rollbacks_seen": n(&self.tally.rollbacks_seen),
            "throttled": n(&self.tally.throttled),
            "errors": *self.tally.errors.lock().unwrap(),
            "latency": latency,
            "running": *self.tally.running.lock().unwrap(),
            "until": self.args.until,
            "converged_seconds": self.converged.borrow().map(|d| d.as_secs_f64()),
        })
    }
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.fail_rate) {
        bail!(
            "--fail-rate is a share between 0 and 1, not {}",
            args.fail_rate
        );
    }
    if args.devices == 0 || args.devices > 1_000_000 {
        bail!("--devices is between 1 and 1,000,000");
    }
    if !updraft_core::app::is_valid_app_id(&args.app) {
        bail!("--app `{}` is not a reverse-domain app id", args.app);
    }
    if args
        .until
        .as_deref()
        .is_some_and(|v| v.trim().is_empty() || v == BUILTIN)
    {
        bail!("--until names a version the fleet is to reach (every device starts on builtin)");
    }
    let url = args.url.trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("--url must start with http:// or https://");
    }
    let mix = parse_mix(&args.platform_mix)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()?;
    let started = Instant::now();
    let json_out = args.json;
    let tally = Tally::default();
    // Every device runs the builtin bundle until its first install.
    tally
        .running
        .lock()
        .unwrap()
        .insert(BUILTIN.into(), args.devices as u64);
    let fleet = Arc::new(Fleet {
        http,
        started,
        deadline: started + args.duration,
        mix,
        args: SimulateArgs { url, ..args },
        tally,
        converged: tokio::sync::watch::channel(None).0,
    });
    let mut tasks = Vec::with_capacity(fleet.args.devices);
    for i in 0..fleet.args.devices {
        tasks.push(tokio::spawn(fleet.clone().device(i)));
    }
    let progress = {
        let fleet = fleet.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let t = &fleet.tally;
                let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
                let errors: u64 = t.errors.lock().unwrap().values().sum();
                eprint!(
                    "\r{:>5.0}s  checks {}  downloads {}  installs {}  failures {}  errors {}   ",
                    started.elapsed().as_secs_f64(),
                    n(&t.checks),
                    n(&t.downloads),
                    n(&t.installs),
                    n(&t.failures),
                    errors
                );
            }
        })
    };
    for t in tasks {
        let _ = t.await;
    }
    progress.abort();
    eprintln!();
    let summary = fleet.summary(started.elapsed());
    if json_out {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} devices for {:.0} s",
            summary["devices"],
            summary["seconds"].as_f64().unwrap_or(0.0)
        );
        for k in [
            "checks",
            "downloads",
            "bytes",
            "installs",
            "failures",
            "rollbacks_seen",
            "throttled",
        ] {
            println!("  {k:<15} {}", summary[k]);
        }
        println!("  running now     {}", summary["running"]);
        if let Some(v) = &fleet.args.until {
            match summary["converged_seconds"].as_f64() {
                Some(s) => println!("  every device ran {v} after {s:.1} s"),
                None => println!("  not every device ran {v} by the end"),
            }
        }
        println!("  errors          {}", summary["errors"]);
        for (route, l) in summary["latency"].as_object().into_iter().flatten() {
            println!(
                "  {route:<15} p50 {} ms, p99 {} ms ({} requests)",
                l["p50_ms"], l["p99_ms"], l["count"]
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_mixes_parse_or_say_why() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
        let mix = parse_mix("ios=45,android=50,electron=5").unwrap();
        assert_eq!(mix.len(), 3);
        assert!(parse_mix("windows=3").is_err());
        assert!(parse_mix("ios=0").is_err());
        assert!(parse_mix("ios").is_err());
    }
}
