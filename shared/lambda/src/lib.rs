//! Runs `updraft-core` routes as a Lambda function: state from the environment once per
//! process, then every request CloudFront forwards to the function URL (payload v2) through
//! the origin check and `handle_jobs`.

#[cfg(feature = "local-runtime")]
pub mod local_runtime;
pub mod origin;
mod settle;

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use updraft_aws::Connection;
use updraft_core::blobs::Storage;
use updraft_core::{Job, State};

/// Tracing for Lambda: JSON lines when the function's log format is JSON, plain otherwise.
/// `RUST_LOG` is one level (`error`, `warn`, `info` — the default —, `debug`, `trace`):
/// per-module directives need tracing's regex-based filter, 240 KiB more in every bootstrap.
pub fn init_tracing() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let base = tracing_subscriber::fmt()
        .with_max_level(level)
        .without_time()
        .with_target(false);
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").as_deref() == Ok("JSON") {
        base.json().init();
    } else {
        base.with_ansi(false).init();
    }
}

/// Which bundle-storage adapter a function builds, and so links: a function pointer, not a
/// flag, so that a function naming `downloads` carries no S3 client code at all.
pub type StorageAdapter = fn(&Connection) -> Storage;

/// S3 itself: for functions that register, check and delete bundles.
pub fn s3(connection: &Connection) -> Storage {
    Storage::full(Arc::new(connection.s3_blobs()))
}

/// Download URLs only (SigV4 or CloudFront signing, no S3 client): for the functions that
/// never touch bundle bytes (`updates` hands out URLs; `stats` and `channels` none).
pub fn downloads(connection: &Connection) -> Storage {
    Storage::downloads_only(Arc::new(connection.downloads()))
}

/// Whether a function sends apps' webhooks, and so links the HTTPS client that does: a
/// function pointer, like `StorageAdapter`.
pub type Webhooks = fn(State) -> State;

/// Sends none: the functions whose routes change no channel.
pub fn no_webhooks(state: State) -> State {
    state
}

/// Sends them (`updraft_webhook`): the functions that change what channels serve
/// (`channels`: rollouts; `stats`: automatic rollback).
pub fn webhooks(state: State) -> State {
    let transport = updraft_webhook::HttpsWebhooks::new(state.config.webhooks_allow_private);
    state.with_webhooks(Arc::new(transport))
}

/// The state every invocation shares: AWS adapters from `UPDRAFT_*` and the AWS environment,
/// plus the first API key from `UPDRAFT_ADMIN_KEY_HASH` when the table has none.
pub async fn state_from_env(blobs: StorageAdapter, webhooks: Webhooks) -> Result<State, Error> {
    let connection = updraft_aws::AwsSettings::from_env()?.connect_lambda()?;
    let state = webhooks(State::with_config(
        Arc::new(connection.store()),
        blobs(&connection),
        State::config_from_env(),
    ));
    if let Ok(hash) = std::env::var("UPDRAFT_ADMIN_KEY_HASH")
        && !hash.is_empty()
    {
        updraft_core::routes::bootstrap_admin_hash(&state, &hash).await?;
    }
    Ok(state)
}

/// The caller's address. Behind CloudFront, the function URL's `sourceIp` is the edge's
/// address, so CloudFront's `CloudFront-Viewer-Address` (`ip:port`, forwarded by the
/// template's origin request policy) names the device; it is believed only when the origin
/// check proved the request came through CloudFront (`behind_cdn`), since anyone calling
/// the URL could send it. Otherwise `sourceIp` does.
fn source_ip(req: &Request, behind_cdn: bool) -> Option<updraft_core::rate_limit::ClientIp> {
    let viewer = req
        .headers()
        .get("cloudfront-viewer-address")
        .filter(|_| behind_cdn)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit_once(':'))
        .and_then(|(ip, _port)| ip.trim_matches(['[', ']']).parse().ok());
    if let Some(ip) = viewer {
        return Some(updraft_core::rate_limit::ClientIp(ip));
    }
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .http
            .source_ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .map(updraft_core::rate_limit::ClientIp),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn to_core(req: Request, behind_cdn: bool) -> http::Request<Bytes> {
    let ip = source_ip(&req, behind_cdn);
    let (mut parts, body) = req.into_parts();
    // The secret goes no further than the check: no route, event or log ever sees it.
    parts.headers.remove(origin::HEADER);
    if let Some(ip) = ip {
        parts.extensions.insert(ip);
    }
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    http::Request::from_parts(parts, bytes)
}

fn from_core(resp: http::Response<Bytes>) -> Response<Body> {
    let (parts, bytes) = resp.into_parts();
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    Response::from_parts(parts, body)
}

/// Serves `jobs` until the Lambda runtime stops the process. The `settle` extension holds
/// each freeze until the request's bookkeeping writes are done (see `settle.rs`).
pub async fn run(
    jobs: &'static [Job],
    blobs: StorageAdapter,
    webhooks: Webhooks,
) -> Result<(), Error> {
    init_tracing();
    let origin = origin::OriginSecrets::from_env()?;
    if origin.is_none() {
        tracing::warn!(
            "{} is not set: this function answers requests that did not come through CloudFront",
            origin::ENV
        );
    }
    let origin = &origin;
    let state = state_from_env(blobs, webhooks).await?;
    let (answered, answers) = tokio::sync::mpsc::unbounded_channel::<()>();
    // Extensions register before the runtime's first `next`, which ends the init phase.
    let settle = settle::Settle::register().await?;
    let store = state.store.clone();
    let state = &state;
    let function = lambda_http::run(service_fn(move |req: Request| {
        let answered = answered.clone();
        async move {
            // Refused before anything is parsed or stored: a request straight to the URL
            // costs one invocation of a millisecond, and reaches nothing.
            let resp = match origin {
                Some(secrets) if !secrets.admits(req.headers().get(origin::HEADER)) => {
                    origin::refusal()
                }
                _ => updraft_core::handle_jobs(state, jobs, to_core(req, origin.is_some())).await,
            };
            let _ = answered.send(());
            Ok::<_, Error>(from_core(resp))
        }
    }));
    // Lambda sends SIGTERM before it shuts a sandbox down (a registered extension makes it
    // do so): counters summed in memory are written then.
    let flushed = store.clone();
    let shutdown = async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        term.recv().await;
        updraft_core::store::DeviceStore::flush(&*flushed).await;
        std::process::exit(0);
        #[allow(unreachable_code)]
        Ok::<(), Error>(())
    };
    tokio::try_join!(function, settle.run(answers, store), shutdown)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(viewer: &str) -> Request {
        let mut req = Request::new(Body::Empty);
        req.headers_mut()
            .insert("cloudfront-viewer-address", viewer.parse().unwrap());
        req
    }

    #[test]
    fn the_viewer_address_is_believed_only_behind_the_distribution() {
        let ip = |viewer: &str, behind: bool| source_ip(&request(viewer), behind).map(|c| c.0);
        assert_eq!(
            ip("203.0.113.7:52344", true),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            ip("[2001:db8::1]:443", true),
            Some("2001:db8::1".parse().unwrap())
        );
        // Anyone calling the URL could send the header: without the check it is ignored.
        assert_eq!(ip("203.0.113.7:52344", false), None);
    }
}
