//! Sends webhooks (`updraft_core::webhook`) over HTTPS, to public addresses only.
//!
//! A webhook is a request the server makes on behalf of whoever set the URL, so where it
//! may go is checked twice: the URL itself (`check_url`: `https`, no private address
//! literal), and every address its host name resolves to (`is_public`), at the moment of
//! sending — a name that resolves to the metadata service or a private network is refused,
//! and so is one that changed to such an address since the URL was set. Redirects are not
//! followed. `allow_private` (`UPDRAFT_WEBHOOK_ALLOW_PRIVATE`) lifts both for intranet
//! receivers and tests.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use updraft_core::webhook::{ATTEMPT_TIMEOUT, WebhookTransport, check_url, is_public};

type Https = hyper_rustls::HttpsConnector<HttpConnector<PublicResolver>>;

/// Resolves host names with the system resolver and keeps only public addresses.
#[derive(Clone)]
struct PublicResolver {
    allow_private: bool,
}

type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for PublicResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{host} resolves to no public address"
                )));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// The transport both hosts use. The client (and the system's certificate roots) is built
/// on the first webhook, not at start-up.
pub struct HttpsWebhooks {
    allow_private: bool,
    client: OnceLock<Result<Client<Https, Full<Bytes>>, String>>,
}

impl HttpsWebhooks {
    pub fn new(allow_private: bool) -> Self {
        HttpsWebhooks {
            allow_private,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&Client<Https, Full<Bytes>>, String> {
        self.client
            .get_or_init(|| {
                let mut http = HttpConnector::new_with_resolver(PublicResolver {
                    allow_private: self.allow_private,
                });
                http.enforce_http(false);
                http.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
                let builder = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
                    .map_err(|e| format!("no certificate roots: {e}"))?;
                let https = if self.allow_private {
                    builder.https_or_http()
                } else {
                    builder.https_only()
                }
                .enable_http1()
                .wrap_connector(http);
                Ok(Client::builder(TokioExecutor::new()).build(https))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[async_trait]
impl WebhookTransport for HttpsWebhooks {
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<u16, String> {
        // Checked again at sending: the server's settings may have changed since.
        check_url(url, self.allow_private)?;
        let mut req = http::Request::post(url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req = req.header("user-agent", "updraft-webhook");
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let client = self.client()?;
        let resp = tokio::time::timeout(ATTEMPT_TIMEOUT, client.request(req))
            .await
            .map_err(|_| format!("no answer within {ATTEMPT_TIMEOUT:?}"))?
            .map_err(|e| format!("{e:?}"))?;
        Ok(resp.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use tower_service::Service;

    #[tokio::test]
    async fn names_that_resolve_to_this_machine_are_refused() {
        let name = Name::from_str("localhost").unwrap();
        let refused = PublicResolver {
            allow_private: false,
        }
        .call(name.clone())
        .await
        .unwrap_err();
        assert!(
            refused.to_string().contains("no public address"),
            "{refused}"
        );
        let allowed: Vec<SocketAddr> = PublicResolver {
            allow_private: true,
        }
        .call(name)
        .await
        .unwrap()
        .collect();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()) && !allowed.is_empty());
    }

    #[tokio::test]
    async fn a_private_url_is_refused_before_any_connection() {
        let hooks = HttpsWebhooks::new(false);
        for url in [
            "http://127.0.0.1:9/x",
            "https://10.0.0.1/x",
            "https://localhost/x",
        ] {
            assert!(hooks.post(url, vec![], vec![]).await.is_err(), "{url}");
        }
    }
}
