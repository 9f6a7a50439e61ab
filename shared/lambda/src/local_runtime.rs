//! A local Lambda Runtime API (feature `local-runtime`): hands queued API Gateway events to a
//! function process and collects its answers, so tests and benchmarks drive the real
//! bootstrap binaries the way Lambda does.

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
}

async fn next(State(rt): State<LocalRuntime>) -> impl IntoResponse {
    loop {
        let notified = rt.ready.notified();
        let item = rt.queue.lock().ok().and_then(|mut q| q.pop_front());
        if let Some((id, event)) = item {
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

/// An API Gateway HTTP API (payload 2.0) event.
pub fn http_api_event(
    method: &str,
    path: &str,
    query: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Value {
    let mut headers =
        json!({"content-type": "application/json", "user-agent": "updraft-local-runtime"});
    if let Some(k) = key {
        headers["authorization"] = json!(format!("Bearer {k}"));
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "req", "routeKey": "$default", "stage": "$default",
            "time": "27/Nov/2026:12:00:00 +0000", "timeEpoch": 1795780800000u64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "updraft-local-runtime"}
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}
