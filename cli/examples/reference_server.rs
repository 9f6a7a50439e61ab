//! The load benchmark's yardstick: a minimal hyper server (via axum) that answers every
//! request with a fixed JSON body of the same size as an update answer. Updraft is measured
//! against it on the same machine, in the same run.
//!
//!   cargo run --release -p updraft --example reference_server -- 127.0.0.1:8790 <body-bytes>

use axum::Router;
use axum::body::Body;
use http::{Response, header};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8790".into());
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(400);
    // A JSON object padded to `size` bytes.
    let pad = size.saturating_sub(r#"{"version":"1.0.1","pad":""}"#.len());
    let body: &'static str =
        Box::leak(format!(r#"{{"version":"1.0.1","pad":"{}"}}"#, "x".repeat(pad)).into_boxed_str());
    let app = Router::new().fallback(move || async move {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    });
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!(
        "reference server on http://{addr}, {} byte body",
        body.len()
    );
    axum::serve(listener, app).await.expect("serve");
}
