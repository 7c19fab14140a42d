//! Fetching GitHub's key set over HTTP(S): one GET, bounded in time and size.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::github_keys::{KeySetError, KeySource};

/// GitHub's set is a few hundred bytes; anything near this is not it.
const MAX_KEY_SET_BYTES: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// GETs the key set from a URL (`https://`, or `http://` for local tests).
pub struct HttpKeySource {
    url: hyper::Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for HttpKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpKeySource")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl HttpKeySource {
    /// The system's trust roots are read here, so only when a fetched set
    /// is configured, not on every cold start of other functions.
    pub fn new(url: &str) -> Result<Self, KeySetError> {
        let url: hyper::Uri = url
            .parse()
            .map_err(|_| KeySetError(format!("not a URL: {url}")))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| KeySetError(format!("no trust roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { url, client })
    }
}

#[async_trait]
impl KeySource for HttpKeySource {
    async fn fetch(&self) -> Result<String, KeySetError> {
        let request = hyper::Request::get(&self.url)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "cog-tokens-leak-response")
            .body(Empty::new())
            .map_err(|e| KeySetError(e.to_string()))?;
        let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| KeySetError("timed out".into()))?
            .map_err(|e| KeySetError(e.to_string()))?;
        if !response.status().is_success() {
            return Err(KeySetError(format!("answered {}", response.status())));
        }
        let body = tokio::time::timeout(
            FETCH_TIMEOUT,
            Limited::new(response.into_body(), MAX_KEY_SET_BYTES).collect(),
        )
        .await
        .map_err(|_| KeySetError("timed out".into()))?
        .map_err(|e| KeySetError(e.to_string()))?
        .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| KeySetError("not UTF-8".into()))
    }
}
