//! A local Lambda Runtime API (feature `local-runtime`): hands queued function URL events to a
//! function process and collects its answers, so tests and benchmarks drive the real
//! bootstrap binaries the way Lambda does. It also serves the Extensions API for internal
//! extensions (INVOKE events) and tells when the sandbox would freeze: once the answer is in
//! and every extension has asked for its next event (`LocalRuntime::frozen`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// Where an invocation's answer (or error) goes.
type Answer = oneshot::Sender<Result<Value, String>>;

#[derive(Clone, Default)]
pub struct LocalRuntime {
    queue: Arc<Mutex<VecDeque<(String, Value)>>>,
    waiting: Arc<Mutex<HashMap<String, Answer>>>,
    ready: Arc<Notify>,
    init_error: Arc<Mutex<Option<String>>>,
    extensions: Arc<Mutex<HashMap<String, Extension>>>,
    /// Invocations handed to the function so far.
    invoked: Arc<Mutex<u64>>,
    /// Woken on every extension `next` call.
    extension_next: Arc<Notify>,
}

/// A registered extension: the INVOKE events not handed to it yet, and how many times it
/// has asked for the next one.
#[derive(Default)]
struct Extension {
    events: VecDeque<Value>,
    next_calls: u64,
}

const EXTENSION_ID: &str = "lambda-extension-identifier";

async fn register_extension(State(rt): State<LocalRuntime>) -> impl IntoResponse {
    let id = updraft_core::key::random_hex(8);
    if let Ok(mut e) = rt.extensions.lock() {
        e.insert(id.clone(), Extension::default());
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = id.parse() {
        headers.insert(EXTENSION_ID, v);
    }
    let body =
        json!({"functionName": "local", "functionVersion": "$LATEST", "handler": "bootstrap"});
    (headers, body.to_string())
}

async fn extension_next(State(rt): State<LocalRuntime>, headers: HeaderMap) -> impl IntoResponse {
    let id = headers
        .get(EXTENSION_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let Ok(mut all) = rt.extensions.lock() {
        match all.get_mut(&id) {
            Some(ext) => ext.next_calls += 1,
            None => return (StatusCode::FORBIDDEN, "unknown extension".to_string()),
        }
    }
    rt.extension_next.notify_waiters();
    loop {
        let notified = rt.ready.notified();
        let event = rt
            .extensions
            .lock()
            .ok()
            .and_then(|mut all| all.get_mut(&id).and_then(|e| e.events.pop_front()));
        if let Some(event) = event {
            return (StatusCode::OK, event.to_string());
        }
        notified.await;
    }
}

async fn next(State(rt): State<LocalRuntime>) -> impl IntoResponse {
    loop {
        let notified = rt.ready.notified();
        let item = rt.queue.lock().ok().and_then(|mut q| q.pop_front());
        if let Some((id, event)) = item {
            dispatched(&rt, &id);
            let mut headers = HeaderMap::new();
            let mut put = |k: &'static str, v: &str| {
                if let Ok(v) = v.parse() {
                    headers.insert(k, v);
                }
            };
            put("lambda-runtime-aws-request-id", &id);
            put("lambda-runtime-deadline-ms", "99999999999999");
            put(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:local",
            );
            put(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            );
            return (headers, event.to_string());
        }
        notified.await;
    }
}

/// The invocation starts: every registered extension gets its INVOKE event (extensions
/// register during init, before the runtime first asks for work).
fn dispatched(rt: &LocalRuntime, id: &str) {
    if let Ok(mut all) = rt.extensions.lock() {
        for ext in all.values_mut() {
            ext.events.push_back(json!({
                "eventType": "INVOKE", "deadlineMs": 99999999999999u64, "requestId": id,
                "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:local",
                "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-00000000-000000000000000000000000"}
            }));
        }
    }
    if let Ok(mut n) = rt.invoked.lock() {
        *n += 1;
    }
    rt.ready.notify_waiters();
}

fn deliver(rt: &LocalRuntime, id: &str, answer: Result<Value, String>) {
    if let Some(tx) = rt.waiting.lock().ok().and_then(|mut w| w.remove(id)) {
        let _ = tx.send(answer);
    }
}

async fn respond(
    State(rt): State<LocalRuntime>,
    Path(id): Path<String>,
    body: String,
) -> impl IntoResponse {
    deliver(
        &rt,
        &id,
        Ok(serde_json::from_str(&body).unwrap_or(Value::String(body))),
    );
    StatusCode::ACCEPTED
}

async fn error(
    State(rt): State<LocalRuntime>,
    Path(id): Path<String>,
    body: String,
) -> impl IntoResponse {
    deliver(&rt, &id, Err(body));
    StatusCode::ACCEPTED
}

async fn init_error(State(rt): State<LocalRuntime>, body: String) -> impl IntoResponse {
    if let Ok(mut e) = rt.init_error.lock() {
        *e = Some(body);
    }
    StatusCode::ACCEPTED
}

impl LocalRuntime {
    /// Listens on a free loopback port; returns the runtime and its `host:port`
    /// (the function's `AWS_LAMBDA_RUNTIME_API`).
    pub async fn start() -> std::io::Result<(LocalRuntime, String)> {
        let rt = LocalRuntime::default();
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/2020-01-01/extension/register", post(register_extension))
            .route("/2020-01-01/extension/event/next", get(extension_next))
            .with_state(rt.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((rt, addr))
    }

    /// Queues one event and waits (up to `timeout`) for the function's answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Value, String> {
        let id = updraft_core::key::random_hex(8);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(id.clone(), tx);
        }
        if let Ok(mut q) = self.queue.lock() {
            q.push_back((id, event));
        }
        self.ready.notify_waiters();
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer.map_err(|e| format!("the function reported an error: {e}")),
            _ => Err(match self.init_error.lock().ok().and_then(|e| e.clone()) {
                Some(e) => format!("the function failed to start: {e}"),
                None => format!("no answer from the function within {timeout:?}"),
            }),
        }
    }
}

impl LocalRuntime {
    /// How many extensions registered.
    pub fn extensions(&self) -> usize {
        self.extensions.lock().map_or(0, |e| e.len())
    }

    /// Waits (up to `timeout`) for the moment Lambda freezes the sandbox after the answers
    /// already returned by `invoke`: every extension has asked for its next event after the
    /// last INVOKE it was given. Work still running then would be frozen, and lost if the
    /// sandbox is retired. On timeout, says where each extension stands.
    pub async fn frozen(&self, timeout: Duration) -> Result<(), String> {
        let settled = async {
            loop {
                let notified = self.extension_next.notified();
                let invoked = self.invoked.lock().map_or(0, |n| *n);
                let all_back = self.extensions.lock().is_ok_and(|all| {
                    all.values()
                        .all(|e| e.events.is_empty() && e.next_calls > invoked)
                });
                if all_back {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, settled).await.map_err(|_| {
            let invoked = self.invoked.lock().map_or(0, |n| *n);
            let states: Vec<String> = self.extensions.lock().map_or_else(
                |_| Vec::new(),
                |all| {
                    all.values()
                        .map(|e| format!("{} queued, {} next calls", e.events.len(), e.next_calls))
                        .collect()
                },
            );
            format!("after {invoked} invocations, extensions: {states:?}")
        })
    }
}

/// The origin secret the local harness gives functions (`UPDRAFT_ORIGIN_SECRETS`) and puts
/// in its events, as CloudFront does.
pub const ORIGIN_SECRET: &str = "local-origin-secret-0123456789abcdef0123456789";

/// `UPDRAFT_ORIGIN_SECRETS` for a function run by the harness.
pub fn origin_secrets_env() -> String {
    json!({ "current": ORIGIN_SECRET }).to_string()
}

/// A function URL event (payload 2.0) as CloudFront forwards a viewer's request: the URL's
/// own host, the edge as `sourceIp`, the viewer in `CloudFront-Viewer-Address` and
/// `X-Forwarded-For`, and the origin secret header. Remove `x-updraft-origin` from
/// `headers` to send what a caller going straight to the URL would.
pub fn function_url_event(
    method: &str,
    path: &str,
    query: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Value {
    const URL_HOST: &str = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
    const VIEWER: &str = "203.0.113.7";
    const EDGE: &str = "130.176.0.12";
    let mut headers = json!({
        "content-type": "application/json",
        "user-agent": "updraft-local-runtime",
        "host": URL_HOST,
        "via": "2.0 0123456789abcdef.cloudfront.net (CloudFront)",
        "x-amz-cf-id": "local-cf-id",
        "x-forwarded-for": format!("{VIEWER}, {EDGE}"),
        "x-forwarded-proto": "https",
        "cloudfront-viewer-address": format!("{VIEWER}:52344"),
        "x-updraft-origin": ORIGIN_SECRET,
    });
    if let Some(k) = key {
        headers["authorization"] = json!(format!("Bearer {k}"));
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": URL_HOST, "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "requestId": "req", "routeKey": "$default", "stage": "$default",
            "time": "27/Nov/2026:12:00:00 +0000", "timeEpoch": 1795780800000u64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": EDGE, "userAgent": "updraft-local-runtime"}
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}
