//! `updraft serve`: every route in one process, on the embedded store.

mod listener;
mod private;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use updraft_core::ApiError;
use updraft_core::code::Code;
use updraft_core::store::ports::*;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use updraft_core::State;
use updraft_core::rate_limit::{ClientIp, RateLimits};
use updraft_core::routes::{Bootstrap, body_limit, bootstrap_admin_key, too_large};
use updraft_embedded::{LocalBlobs, SqliteStore};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8787", env = "UPDRAFT_LISTEN")]
    pub listen: SocketAddr,
    /// Where the SQLite file, the bundles and the URL-signing secret live.
    #[arg(long, default_value = "./.updraft", env = "UPDRAFT_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The URL devices and the CLI reach this server at (used in download and upload URLs).
    /// Defaults to http://<listen address>.
    #[arg(long, env = "UPDRAFT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where records and bundles live: `embedded` (SQLite + the data dir) or `aws` (DynamoDB +
    /// S3, configured by UPDRAFT_TABLE, UPDRAFT_BUCKET and the usual AWS environment).
    #[arg(long, default_value = "embedded", env = "UPDRAFT_STORE", value_parser = ["embedded", "aws"])]
    pub store: String,
    /// With `--store aws`: create the table and bucket when missing (local servers, first runs).
    #[arg(long)]
    pub create_resources: bool,
    /// Device-route requests allowed per device per minute (0: no limit).
    #[arg(long, env = "UPDRAFT_RATE_DEVICE_PER_MIN", default_value_t = RateLimits::default().device_per_min)]
    pub rate_device_per_min: u32,
    /// Device-route requests allowed per client address per minute (0: no limit).
    #[arg(long, env = "UPDRAFT_RATE_IP_PER_MIN", default_value_t = RateLimits::default().ip_per_min)]
    pub rate_ip_per_min: u32,
    /// Behind a reverse proxy of yours: take the client address from the last entry of this
    /// header (e.g. X-Forwarded-For) instead of the TCP peer. Never set it without such a
    /// proxy, or clients choose their own address.
    #[arg(long, env = "UPDRAFT_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<http::HeaderName>,
    /// Seconds a client has to send each request's head (an idle keep-alive connection
    /// included) before the connection is closed.
    #[arg(long, env = "UPDRAFT_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a device or API request's body (answered 408 after).
    #[arg(long, env = "UPDRAFT_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Connections served at once; past it a new one gets 503 and is closed (default: what
    /// the open-files limit allows, less a margin).
    #[arg(long, env = "UPDRAFT_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Device events kept per app; past it the oldest go first (deleted at once on the
    /// embedded store, given shorter lifetimes on DynamoDB).
    #[arg(long, env = "UPDRAFT_EVENTS_PER_APP", default_value_t = updraft_core::device::EVENTS_PER_APP, value_parser = clap::value_parser!(usize))]
    pub events_per_app: usize,
}

/// The storage behind the routes, and what it needs at shutdown.
enum Backend {
    Embedded(SqliteStore, LocalBlobs),
    Aws,
}

#[derive(Clone)]
struct Host {
    state: State,
    /// The local blob routes, on the embedded store only (S3 serves its own URLs).
    blobs: Option<LocalBlobs>,
    client_ip_header: Option<http::HeaderName>,
    /// How long a device or API body may take to arrive.
    body_timeout: std::time::Duration,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    private::private_umask();
    let open_files = listener::raise_open_files_limit();
    let limits = listener::Limits {
        header_timeout: std::time::Duration::from_secs(args.header_timeout_secs.max(1)),
        body_timeout: std::time::Duration::from_secs(args.body_timeout_secs.max(1)),
        max_connections: args
            .max_connections
            .unwrap_or_else(|| listener::default_max_connections(open_files))
            .max(1),
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    private::tighten(&args.data_dir).with_context(|| {
        format!(
            "cannot make data dir {} private to this user",
            args.data_dir.display()
        )
    })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_string();
    let mut config = State::config_from_env();
    config.rate_limits = RateLimits {
        device_per_min: args.rate_device_per_min,
        ip_per_min: args.rate_ip_per_min,
    };
    let (state, backend) = if args.store == "aws" {
        let mut settings = updraft_aws::AwsSettings::from_env()
            .map_err(|e| anyhow::anyhow!("--store aws: {e}"))?;
        settings.events_per_app = args.events_per_app.max(1);
        let (store, blobs) = settings.connect().await;
        if args.create_resources {
            updraft_aws::create_table_if_missing(&store.client(), &settings.table)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create table {}: {e}", settings.table))?;
            blobs
                .create_bucket_if_missing()
                .await
                .map_err(|e| anyhow::anyhow!("cannot create bucket {}: {e}", settings.bucket))?;
        }
        (
            State::with_config(
                Arc::new(store),
                updraft_core::blobs::Storage::full(Arc::new(blobs)),
                config.clone(),
            ),
            Backend::Aws,
        )
    } else {
        let db_path = args.data_dir.join("updraft.db");
        let store = SqliteStore::open_with_event_quota(&db_path, args.events_per_app.max(1))
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", db_path.display()))?;
        let blobs = LocalBlobs::open(&args.data_dir, &public_url)
            .context("cannot prepare the blob directory")?;
        let state = State::with_config(
            Arc::new(store.clone()),
            updraft_core::blobs::Storage::full(Arc::new(blobs.clone())),
            config.clone(),
        );
        (state, Backend::Embedded(store, blobs))
    };
    // Apps' webhooks, to public HTTPS addresses (`UPDRAFT_WEBHOOK_ALLOW_PRIVATE=1`: any).
    let transport = updraft_webhook::HttpsWebhooks::new(config.webhooks_allow_private);
    let state = state.with_webhooks(Arc::new(transport));

    let given = std::env::var("UPDRAFT_ADMIN_KEY").ok();
    match bootstrap_admin_key(&state, given.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        Bootstrap::Existing => {}
        Bootstrap::FromEnv => eprintln!("updraft: created an admin API key from UPDRAFT_ADMIN_KEY"),
        Bootstrap::Generated(secret) => {
            eprintln!(
                "updraft: no live API key of mode `all` for every app existed, so one was created. It is shown only this once:"
            );
            eprintln!();
            eprintln!("    {secret}");
            eprintln!();
            eprintln!("updraft: log in with: updraft login {secret} --api-url {public_url}");
        }
    }

    let blobs = match &backend {
        Backend::Embedded(_, blobs) => Some(blobs.clone()),
        Backend::Aws => None,
    };
    // Kept to wait for the bookkeeping writes still running at shutdown.
    let store = state.store.clone();
    let host = Host {
        state,
        blobs,
        client_ip_header: args.client_ip_header.clone(),
        body_timeout: limits.body_timeout,
    };
    // Behind an Arc: every connection holds a copy.
    let host = Arc::new(host);
    // Tests and scripts read this line to find the port.
    let data = match &backend {
        Backend::Embedded(..) => format!("data in {}", args.data_dir.display()),
        Backend::Aws => "DynamoDB + S3".to_string(),
    };
    println!("updraft serve: listening on http://{addr} (public URL {public_url}, {data})");
    tracing::info!(%addr, "listening");
    listener::serve(listener, host, limits, shutdown_signal()).await;
    // Nothing a device reported is lost on a normal shutdown: wait for the writes that were
    // still running when the last answer went out, flush what is summed in memory, then
    // close the embedded store.
    store.flush().await;
    if let Backend::Embedded(store, _) = backend {
        store.close();
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// The client's address: the TCP peer, or the operator's proxy header when configured.
fn client_ip<B>(host: &Host, peer: SocketAddr, req: &Request<B>) -> ClientIp {
    let forwarded = host.client_ip_header.as_ref().and_then(|name| {
        let last = req.headers().get_all(name).iter().next_back()?;
        let last = last.to_str().ok()?.rsplit(',').next()?.trim();
        last.parse::<std::net::IpAddr>().ok()
    });
    ClientIp(forwarded.unwrap_or(peer.ip()))
}

/// An answer: the core's bytes as they are, or a blob streamed from disk.
type AnswerBody = Either<Full<Bytes>, updraft_embedded::blob_routes::Body>;

/// Every request of a connection: the local blob routes, else the core's routes. Plain hyper,
/// no router: the core's route table is the only one.
async fn dispatch(
    host: Arc<Host>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<AnswerBody>, std::convert::Infallible> {
    let ip = client_ip(&host, peer, &req);
    req.extensions_mut().insert(ip);
    // Request lines cost a clone and a clock read: only when they are logged.
    let logged = tracing::enabled!(tracing::Level::INFO)
        .then(|| (req.method().clone(), req.uri().clone(), Instant::now()));
    let resp = if let (true, Some(blobs)) = (req.uri().path().starts_with("/blobs/"), &host.blobs) {
        updraft_embedded::blob_routes::handle(blobs, req)
            .await
            .map(Either::Right)
    } else {
        core_route(&host.state, req, host.body_timeout)
            .await
            .map(|b| Either::Left(Full::new(b)))
    };
    if let Some((method, uri, started)) = logged {
        log(&method, &uri, resp.status(), started);
    }
    Ok(resp)
}

fn log(method: &http::Method, uri: &http::Uri, status: http::StatusCode, started: Instant) {
    tracing::info!(
        method = %method,
        path = %uri.path(),
        status = status.as_u16(),
        ms = format!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
}

async fn core_route(
    state: &State,
    req: Request<Incoming>,
    body_timeout: std::time::Duration,
) -> Response<Bytes> {
    let limit = body_limit(req.uri().path());
    let (parts, body) = req.into_parts();
    // A device's body nearly always arrives with its head: taken at once, without arming a
    // timer; only a body still on its way gets `body_timeout` to arrive.
    let collect = Limited::new(body, limit).collect();
    tokio::pin!(collect);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(collect.as_mut().poll(cx))).await;
    let collected = match first {
        std::task::Poll::Ready(done) => done,
        std::task::Poll::Pending => match tokio::time::timeout(body_timeout, collect).await {
            Ok(done) => done,
            // The plugin retries 408 later; a client that drips its body holds nothing longer.
            Err(_) => {
                return ApiError::new(
                    http::StatusCode::REQUEST_TIMEOUT,
                    Code::RequestTimeout,
                    format!(
                        "the body did not arrive within {} s",
                        body_timeout.as_secs()
                    ),
                )
                .into_response();
            }
        },
    };
    let bytes = match collected {
        Ok(c) => c.to_bytes(),
        Err(_) => return too_large(limit).into_response(),
    };
    updraft_core::handle(state, Request::from_parts(parts, bytes)).await
}
