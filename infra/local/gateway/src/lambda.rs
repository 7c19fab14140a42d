//! Invokes functions through `cargo lambda watch`'s Lambda Invoke API
//! (`POST /2015-03-31/functions/{name}/invocations`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct LambdaClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base_url: String,
    timeout: Duration,
}

/// A function's result: what it returned, or the error it reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    Returned(Value),
    FunctionError { error_type: String, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("cannot reach cargo lambda watch at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{function} did not answer within {0:?}", .timeout)]
    Timeout { function: String, timeout: Duration },
    #[error("cargo lambda watch answered {status} for {function}: {body}")]
    Refused {
        function: String,
        status: StatusCode,
        body: String,
    },
    #[error("{function} returned something that is not JSON")]
    NotJson { function: String },
}

impl LambdaClient {
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    pub async fn invoke(&self, function: &str, event: &Value) -> Result<Invocation, InvokeError> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.base_url
        );
        let unreachable = |reason: String| InvokeError::Unreachable {
            url: self.base_url.clone(),
            reason,
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(event.to_string())))
            .map_err(|e| unreachable(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, InvokeError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| InvokeError::Timeout {
                function: function.to_owned(),
                timeout: self.timeout,
            })??;
        let json = || {
            serde_json::from_slice::<Value>(&body).map_err(|_| InvokeError::NotJson {
                function: function.to_owned(),
            })
        };
        match status {
            StatusCode::OK => Ok(Invocation::Returned(json()?)),
            // cargo lambda watch reports a function error as 500 with the runtime's error body.
            StatusCode::INTERNAL_SERVER_ERROR => match json() {
                Ok(error) if error.get("errorType").is_some() => Ok(Invocation::FunctionError {
                    error_type: error["errorType"].as_str().unwrap_or_default().to_owned(),
                    message: error["errorMessage"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                }),
                _ => Err(refused(function, status, &body)),
            },
            _ => Err(refused(function, status, &body)),
        }
    }
}

fn refused(function: &str, status: StatusCode, body: &[u8]) -> InvokeError {
    let text = String::from_utf8_lossy(body);
    InvokeError::Refused {
        function: function.to_owned(),
        status,
        body: text.chars().take(300).collect(),
    }
}
