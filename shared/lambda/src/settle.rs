//! The internal extension that holds the sandbox's freeze until the bookkeeping writes a
//! request started are done (`DeviceStore::settle`).
//!
//! Lambda freezes a sandbox once the answer is sent and every extension has asked for its
//! next event. This extension takes each INVOKE event, waits for that request's answer,
//! then for the writes, and only then asks for the next event: the device has its answer at
//! once, and the freeze waits for the writes.
//!
//! It speaks the Extensions API through the runtime's own client
//! (`lambda_runtime_api_client`, in every bootstrap already): an internal extension needs
//! only `register` and `event/next`, and the `lambda-extension` crate's logs and telemetry
//! servers added 0.44 MB to each bootstrap, past its 6 MB budget (BENCHMARKS.md).

use std::sync::Arc;

use http_body_util::BodyExt;
use lambda_http::Error;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{Client, build_request};
use tokio::sync::mpsc::UnboundedReceiver;
use updraft_core::cached_store::CachedStore;
use updraft_core::store::DeviceStore;

const NAME: &str = "updraft-settle";
const ID_HEADER: &str = "lambda-extension-identifier";

pub struct Settle {
    client: Client,
    id: String,
}

impl Settle {
    /// Registers for INVOKE events (the only ones an internal extension gets). Must run
    /// before the runtime first asks for work, which ends the init phase.
    pub async fn register() -> Result<Settle, Error> {
        let client = Client::builder().build()?;
        let req = build_request()
            .method(http::Method::POST)
            .uri("/2020-01-01/extension/register")
            .header("lambda-extension-name", NAME)
            .body(Body::from(&br#"{"events":["INVOKE"]}"#[..]))?;
        let resp = client.call(req).await?;
        if !resp.status().is_success() {
            return Err(format!("extension registration answered {}", resp.status()).into());
        }
        let id = resp
            .headers()
            .get(ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or("extension registration gave no identifier")?
            .to_string();
        let _ = resp.into_body().collect().await;
        Ok(Settle { client, id })
    }

    /// For every invocation: its answer (one message on `answered`), then the writes.
    pub async fn run(
        self,
        mut answered: UnboundedReceiver<()>,
        store: Arc<CachedStore>,
    ) -> Result<(), Error> {
        loop {
            let req = build_request()
                .method(http::Method::GET)
                .uri("/2020-01-01/extension/event/next")
                .header(ID_HEADER, &self.id)
                .body(Body::empty())?;
            let event = self.client.call(req).await?;
            if !event.status().is_success() {
                return Err(format!("extension event/next answered {}", event.status()).into());
            }
            // An INVOKE event: what it says does not matter, only that a request started.
            let _ = event.into_body().collect().await;
            if answered.recv().await.is_none() {
                return Ok(());
            }
            store.settle().await;
        }
    }
}
