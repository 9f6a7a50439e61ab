//! What update checks and stats batches cost on AWS, from measurements of the real function
//! binaries: each invocation driven through the local Runtime API as CloudFront forwards it
//! to a function URL, its DynamoDB requests counted at a proxy in front of moto, its CPU time
//! read from the kernel, its log bytes counted; then priced at list prices, for this design
//! and the one before it (API Gateway in front, two bookkeeping writes per check).
//!
//!   . scripts/aws-local
//!   cargo build --release -p updraft --bin updraft -p updraft-updates -p updraft-stats
//!   UPDRAFT_BIN_PROFILE=release cargo run --release -p updraft-lambda \
//!       --features local-runtime --example cost
//!
//! Prints Markdown: BENCHMARKS.md ("What a million update checks cost") is its output.

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::collections::HashMap;
use std::io::Read;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use harness::*;
use serde_json::{Value, json};

/// DynamoDB requests by operation, and the capacity units they consume (items here are
/// under 1 KB written and 4 KB read: a write is one unit per item, a transactional write
/// two, an eventually consistent read half).
#[derive(Default)]
struct Dynamo {
    ops: Mutex<HashMap<String, u64>>,
    write_units: AtomicU64,
    read_half_units: AtomicU64,
}

impl Dynamo {
    fn record(&self, op: &str, body: &[u8]) {
        *self.ops.lock().unwrap().entry(op.to_string()).or_default() += 1;
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let items = |key: &str| v[key].as_array().map_or(0, |a| a.len() as u64);
        let writes = match op {
            "PutItem" | "UpdateItem" | "DeleteItem" => 1,
            "BatchWriteItem" => v["RequestItems"].as_object().map_or(0, |t| {
                t.values()
                    .filter_map(Value::as_array)
                    .map(|a| a.len() as u64)
                    .sum()
            }),
            "TransactWriteItems" => 2 * items("TransactItems"),
            _ => 0,
        };
        let reads = match op {
            "GetItem" | "Query" | "Scan" => 1,
            "TransactGetItems" => 4 * items("TransactItems"),
            _ => 0,
        };
        self.write_units.fetch_add(writes, Ordering::Relaxed);
        self.read_half_units.fetch_add(reads, Ordering::Relaxed);
    }
    fn reset(&self) {
        self.ops.lock().unwrap().clear();
        self.write_units.store(0, Ordering::Relaxed);
        self.read_half_units.store(0, Ordering::Relaxed);
    }
}

/// A plain HTTP proxy in front of moto that counts what passes.
async fn counting_proxy(target: String, dynamo: Arc<Dynamo>) -> String {
    let client = http();
    let app = axum::Router::new().fallback(move |req: axum::http::Request<Body>| {
        let (client, target, dynamo) = (client.clone(), target.clone(), dynamo.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 16 << 20)
                .await
                .unwrap_or_default();
            let op = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('.').next())
                .unwrap_or("?")
                .to_string();
            dynamo.record(&op, &body);
            let mut fwd = client.request(
                parts.method.as_str().parse().unwrap(),
                format!("{target}{}", parts.uri),
            );
            for (k, v) in &parts.headers {
                if k != "host" && k != "content-length" {
                    fwd = fwd.header(k.as_str(), v.as_bytes());
                }
            }
            let resp = fwd.body(body).send().await.unwrap();
            let mut out = axum::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                if k != "content-length" && k != "transfer-encoding" {
                    out = out.header(k.as_str(), v.as_bytes());
                }
            }
            out.body(Body::from(resp.bytes().await.unwrap())).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// CPU time of every thread of a process so far (`/proc/<pid>/task/*/schedstat`), in ns.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Counts the bytes a pipe carries (a function's log lines) until it closes.
fn count_bytes(mut pipe: impl Read + Send + 'static) -> Arc<AtomicU64> {
    let n = Arc::new(AtomicU64::new(0));
    let counter = n.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(k) = pipe.read(&mut buf) {
            if k == 0 {
                break;
            }
            counter.fetch_add(k as u64, Ordering::Relaxed);
        }
    });
    n
}

/// What one kind of invocation measured, per invocation.
struct Measured {
    name: &'static str,
    invocations: u64,
    wall_ms_p50: f64,
    wall_ms_p99: f64,
    cpu_ms: f64,
    write_units: f64,
    read_units: f64,
    ops: String,
    log_bytes: f64,
}

/// Runs `function` for `events` (after one warm-up invocation), each to the freeze, then
/// stops it as Lambda does (SIGTERM, which flushes what it summed).
async fn measure(
    name: &'static str,
    function: &str,
    table: &str,
    dynamo_url: &str,
    dynamo: &Dynamo,
    events: Vec<Value>,
) -> Measured {
    let (rt, addr) = Runtime::start().await;
    let mut child = function_command(function, &addr, table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamo_url)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = count_bytes(child.stdout.take().unwrap());
    let err = count_bytes(child.stderr.take().unwrap());
    let mut warm = events[0].clone();
    warm["rawPath"] = json!("/ok");
    warm["requestContext"]["http"]["method"] = json!("GET");
    warm["requestContext"]["http"]["path"] = json!("/ok");
    warm["body"] = Value::Null;
    rt.invoke(warm).await;
    rt.0.frozen(Duration::from_secs(30)).await.unwrap();
    dynamo.reset();
    let logged_before = out.load(Ordering::Relaxed) + err.load(Ordering::Relaxed);
    let cpu_before = cpu_ns(pid);
    let mut walls = Vec::with_capacity(events.len());
    let n = events.len() as u64;
    for e in events {
        let started = Instant::now();
        let answer = rt.invoke(e).await;
        assert_eq!(answer["statusCode"], 200, "{name}: {answer}");
        rt.0.frozen(Duration::from_secs(30)).await.unwrap();
        walls.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu = cpu_ns(pid) - cpu_before;
    // Lambda's shutdown: SIGTERM, then the process flushes its summed counters and exits.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    walls.sort_by(f64::total_cmp);
    let pct = |p: f64| walls[((walls.len() as f64 * p) as usize).min(walls.len() - 1)];
    let ops = {
        let mut ops: Vec<_> = dynamo.ops.lock().unwrap().clone().into_iter().collect();
        ops.sort();
        ops.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Measured {
        name,
        invocations: n,
        wall_ms_p50: pct(0.5),
        wall_ms_p99: pct(0.99),
        cpu_ms: cpu as f64 / 1e6 / n as f64,
        write_units: dynamo.write_units.load(Ordering::Relaxed) as f64 / n as f64,
        read_units: dynamo.read_half_units.load(Ordering::Relaxed) as f64 / 2.0 / n as f64,
        ops,
        log_bytes: (out.load(Ordering::Relaxed) + err.load(Ordering::Relaxed) - logged_before)
            as f64
            / n as f64,
    }
}

/// us-east-1 list prices, read 2026-12-02 from the services' pricing pages.
mod price {
    pub const CLOUDFRONT_REQUEST: f64 = 0.0100 / 10_000.0; // HTTPS, North America/Europe
    pub const CLOUDFRONT_OUT_GB: f64 = 0.085; // to the internet, first 10 TB
    pub const CLOUDFRONT_TO_ORIGIN_GB: f64 = 0.020; // request bodies to the origin
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6; // first 300 million
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    pub const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
    pub const DYNAMO_WRU: f64 = 0.625 / 1e6; // on-demand
    pub const DYNAMO_RRU: f64 = 0.125 / 1e6;
    pub const LOGS_GB: f64 = 0.50; // CloudWatch Logs ingestion
    pub const WAF_REQUEST: f64 = 0.60 / 1e6; // plus $5/month a web ACL and $1/month a rule
}

/// The function's memory, and the vCPU share Lambda gives it (a full vCPU at 1,769 MB).
const MEMORY_GB: f64 = 0.25;
const CPU_SCALE: f64 = 1769.0 / 256.0;
/// Lambda's own START and REPORT records per invocation, in the JSON log format, when
/// `SystemLogLevel` lets them through (the design before this one).
const PLATFORM_LOG_BYTES: f64 = 520.0;

/// Billed ms: the CPU measured here stretched to a 256 MB share of a vCPU, or the wall time
/// measured here (which includes the local harness), whichever is longer, rounded up.
fn billed_ms(m: &Measured) -> f64 {
    (m.cpu_ms * CPU_SCALE).max(m.wall_ms_p50).ceil()
}

struct Line {
    item: String,
    new: f64,
    old: f64,
}

/// Cost of a million requests of kind `m`, bytes in and out as given, new design and old
/// (which wrote `old_writes` units per request).
fn per_million(m: &Measured, old_writes: f64, bytes_in: f64, bytes_out: f64) -> Vec<Line> {
    let million = 1e6;
    let gb = |b: f64| b * million / 1e9;
    let billed = billed_ms(m);
    let duration = million * billed / 1000.0 * MEMORY_GB * price::LAMBDA_GB_SECOND_ARM;
    vec![
        Line {
            item: "CloudFront requests".into(),
            new: million * price::CLOUDFRONT_REQUEST,
            old: million * price::CLOUDFRONT_REQUEST,
        },
        Line {
            item: format!("CloudFront data ({bytes_in:.0} B in, {bytes_out:.0} B out)"),
            new: gb(bytes_in) * price::CLOUDFRONT_TO_ORIGIN_GB
                + gb(bytes_out) * price::CLOUDFRONT_OUT_GB,
            old: gb(bytes_in) * price::CLOUDFRONT_TO_ORIGIN_GB
                + gb(bytes_out) * price::CLOUDFRONT_OUT_GB,
        },
        Line {
            item: "API Gateway HTTP API".into(),
            new: 0.0,
            old: million * price::HTTP_API_REQUEST,
        },
        Line {
            item: "Lambda requests".into(),
            new: million * price::LAMBDA_REQUEST,
            old: million * price::LAMBDA_REQUEST,
        },
        Line {
            item: format!("Lambda duration ({billed:.0} ms billed at 256 MB)"),
            new: duration,
            old: duration,
        },
        Line {
            item: format!(
                "DynamoDB writes ({:.3} WRU new, {old_writes:.3} old)",
                m.write_units
            ),
            new: million * m.write_units * price::DYNAMO_WRU,
            old: million * old_writes * price::DYNAMO_WRU,
        },
        Line {
            item: format!("DynamoDB reads ({:.3} RRU)", m.read_units),
            new: million * m.read_units * price::DYNAMO_RRU,
            old: million * m.read_units * price::DYNAMO_RRU,
        },
        Line {
            item: format!(
                "CloudWatch Logs ({:.0} B new, {:.0} B old)",
                m.log_bytes,
                m.log_bytes + PLATFORM_LOG_BYTES
            ),
            new: gb(m.log_bytes) * price::LOGS_GB,
            old: gb(m.log_bytes + PLATFORM_LOG_BYTES) * price::LOGS_GB,
        },
    ]
}

fn print_lines(title: &str, lines: &[Line]) -> (f64, f64) {
    println!("\n| {title} | now | before |\n|---|---|---|");
    for l in lines {
        println!("| {} | ${:.3} | ${:.3} |", l.item, l.new, l.old);
    }
    let (new, old) = lines
        .iter()
        .fold((0.0, 0.0), |(a, b), l| (a + l.new, b + l.old));
    println!("| **total** | **${new:.2}** | **${old:.2}** |");
    (new, old)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    require_local_servers();
    let moto = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap();
    let dynamo = Arc::new(Dynamo::default());
    let proxy = counting_proxy(moto, dynamo.clone()).await;
    let table = format!("updraft-cost-{}", updraft_core::key::random_hex(4));
    let serve = start_serve(&table);
    // An app, a 5 MB bundle on S3, a public channel serving it.
    let http = http();
    create_app(&serve).await;
    let zip: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    upload(&serve, "1.0.1", &zip).await;
    let (st, _) = via_serve(
        &serve,
        "POST",
        &format!("/v1/apps/{APP}/channels"),
        "",
        Some(ADMIN),
        Some(&json!({"name": "production", "public": true, "bundle": "1.0.1"})),
    )
    .await;
    assert_eq!(st, 201);
    drop(http);

    // 1,000 checks from 100 devices that each check 10 times, still on their builtin bundle
    // (so every answer carries a signed download URL): the write budget's workload.
    let device_id = |d: usize| format!("6aab1f2b-6b2a-4f4c-9d4b-{d:012}");
    let checks: Vec<Value> = (0..10)
        .flat_map(|_| (0..100).map(|d| device(json!({"device_id": device_id(d)}))))
        .map(|b| event("POST", "/updates", "", None, Some(&b)))
        .collect();
    let check_in = checks[0]["body"].as_str().unwrap().len() as f64 + 900.0;
    let check = measure(
        "update check",
        "updraft-updates",
        &table,
        &proxy,
        &dynamo,
        checks,
    )
    .await;

    // 250 stats batches of 5 events (an update's download progress, completion and switch),
    // from 250 devices: the plugin flushes its queue every second, so an update's 20 events
    // arrive in about 4 batches.
    let actions = [
        "download_zip_start",
        "download_50",
        "download_complete",
        "set",
        "app_launch_ready",
    ];
    let batches: Vec<Value> = (0..250)
        .map(|d| {
            Value::Array(
                actions
                    .iter()
                    .map(|a| device(json!({"device_id": device_id(1000 + d), "action": a, "version_name": "1.0.1"})))
                    .collect(),
            )
        })
        .map(|b| event("POST", "/stats", "", None, Some(&b)))
        .collect();
    let batch_in = batches[0]["body"].as_str().unwrap().len() as f64 + 900.0;
    let stats = measure(
        "stats batch (5 events)",
        "updraft-stats",
        &table,
        &proxy,
        &dynamo,
        batches,
    )
    .await;

    println!("## Measured per invocation (release binaries, this machine)\n");
    println!(
        "| invocation | n | wall to freeze p50 / p99 | CPU | billed at 256 MB | DynamoDB requests (all n) | WRU | RRU | log bytes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for m in [&check, &stats] {
        println!(
            "| {} | {} | {:.2} / {:.2} ms | {:.3} ms | {:.0} ms | {} | {:.3} | {:.3} | {:.0} |",
            m.name,
            m.invocations,
            m.wall_ms_p50,
            m.wall_ms_p99,
            m.cpu_ms,
            billed_ms(m),
            m.ops,
            m.write_units,
            m.read_units,
            m.log_bytes
        );
    }
    println!(
        "\nRequest sizes at the edge (body and headers): check {check_in:.0} B in, ≈ 700 B out; batch {batch_in:.0} B in, ≈ 300 B out."
    );
    let (check_new, check_old) = print_lines(
        "a million update checks",
        // The old design wrote the device record and the checks counter on every check.
        &per_million(&check, 2.0, check_in, 700.0),
    );
    let (batch_new, batch_old) = print_lines(
        "a million stats batches",
        // For stats batches the same writes are assumed (BENCHMARKS.md says why).
        &per_million(&stats, stats.write_units, batch_in, 300.0),
    );

    // A fleet month: 1M devices, 3 checks a day, one 5 MB release a week; each update sends
    // 20 events in 4 batches and downloads, with delta updates, the changed files only
    // (assumed 10 % of the bundle, in 10 files), through CloudFront.
    let checks_month = 1e6 * 3.0 * 30.0;
    let updates_month = 1e6 * 52.0 / 12.0;
    let batches_month = updates_month * 4.0;
    let delta_bytes = updates_month * 5e6 * 0.10;
    let download = delta_bytes / 1e9 * price::CLOUDFRONT_OUT_GB
        + updates_month * 10.0 * price::CLOUDFRONT_REQUEST;
    println!("\n| a fleet month (1M devices) | volume | now | before |\n|---|---|---|---|");
    println!(
        "| update checks (3 a day) | {:.0} M | ${:.0} | ${:.0} |",
        checks_month / 1e6,
        checks_month / 1e6 * check_new,
        checks_month / 1e6 * check_old
    );
    println!(
        "| stats batches (20 events an update, 4 batches) | {:.1} M | ${:.0} | ${:.0} |",
        batches_month / 1e6,
        batches_month / 1e6 * batch_new,
        batches_month / 1e6 * batch_old
    );
    println!(
        "| delta downloads (10 % of 5 MB, 10 files an update) | {:.2} TB | ${download:.0} | ${download:.0} |",
        delta_bytes / 1e12
    );
    let (now, before) = (
        checks_month / 1e6 * check_new + batches_month / 1e6 * batch_new + download,
        checks_month / 1e6 * check_old + batches_month / 1e6 * batch_old + download,
    );
    println!("| **total** | | **${now:.0}** | **${before:.0}** |");
    println!(
        "\nOptional WAF rate rule: $6/month plus ${:.2} per million requests (≈ ${:.0} on this fleet month).",
        price::WAF_REQUEST * 1e6,
        (checks_month + batches_month + updates_month * 10.0) * price::WAF_REQUEST + 6.0
    );
}
