//! Cold start of a Lambda bootstrap: process start to first answer through a local Runtime
//! API, median of N starts, for each binary given.
//!   cargo run --release -p updraft-lambda --features local-runtime --example startup -- \
//!       20 target/release/examples/hello target/release/updraft-updates

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use updraft_lambda::local_runtime::{LocalRuntime, function_url_event, origin_secrets_env};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let binaries: Vec<String> = args.collect();
    assert!(!binaries.is_empty(), "usage: startup RUNS BINARY...");
    let mut medians = Vec::new();
    for bin in &binaries {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (rt, addr) = LocalRuntime::start().await.expect("local runtime");
            let started = Instant::now();
            let mut child = Command::new(bin)
                .env("AWS_LAMBDA_RUNTIME_API", &addr)
                .env("AWS_LAMBDA_FUNCTION_NAME", "startup")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "startup")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", "startup")
                // The updates function's settings; no request reaches storage for GET /ok.
                .env("UPDRAFT_TABLE", "startup")
                .env("UPDRAFT_BUCKET", "startup")
                // As infra/template.yaml sets it.
                .env("UPDRAFT_TLS_ROOTS", "amazon")
                .env("UPDRAFT_ORIGIN_SECRETS", origin_secrets_env())
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "startup")
                .env("AWS_SECRET_ACCESS_KEY", "startup")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("binary starts");
            let answer = rt
                .invoke(
                    function_url_event("GET", "/ok", "", None, None),
                    Duration::from_secs(10),
                )
                .await
                .expect("first answer");
            times.push(started.elapsed());
            assert!(
                answer.get("statusCode").is_some() || answer.is_string(),
                "{answer}"
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{bin}: median {:.2} ms, min {:.2} ms, max {:.2} ms over {runs} starts, {} bytes",
            median.as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0,
            times[times.len() - 1].as_secs_f64() * 1000.0,
            std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0)
        );
        medians.push(median);
    }
    if medians.len() >= 2 {
        println!(
            "ratio (last / first): {:.2}",
            medians[medians.len() - 1].as_secs_f64() / medians[0].as_secs_f64()
        );
    }
}
