//! A fault-injecting HTTP proxy on 127.0.0.1 in front of DynamoDB Local or
//! the KMS emulator: it records each operation (`X-Amz-Target`) and can
//! delay, throttle or drop requests, so tests see what the code does when
//! AWS misbehaves.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What the proxy does to each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward as is.
    None,
    /// Forward after a delay.
    Delay(Duration),
    /// Answer `ThrottlingException` (HTTP 400), as DynamoDB does under load.
    Throttle,
    /// Answer `ProvisionedThroughputExceededException` (HTTP 400).
    ThroughputExceeded,
    /// Close the connection without an answer, as a stopped service does.
    Drop,
}

#[derive(Debug)]
struct Shared {
    fault: Mutex<Fault>,
    operations: Mutex<Vec<String>>,
    /// Each request's `X-Amz-Target` and body, in order.
    requests: Mutex<Vec<(String, Bytes)>>,
    /// The next request of this operation waits here (see [`FaultProxy::pause_next`]).
    pause: Mutex<Option<Held>>,
}

/// A request held by the proxy: it says when it arrives, and waits for release.
#[derive(Debug)]
struct Held {
    operation: String,
    /// Held once the upstream has answered (the read happened; its answer
    /// waits), not before forwarding.
    answered: bool,
    arrived: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
}

/// The test's end of a held request.
#[derive(Debug)]
pub struct Pause {
    arrived: tokio::sync::oneshot::Receiver<()>,
    release: tokio::sync::oneshot::Sender<()>,
}

impl Pause {
    /// Waits until the request is held (at most 10 s).
    pub async fn reached(&mut self) {
        tokio::time::timeout(Duration::from_secs(10), &mut self.arrived)
            .await
            .expect("the paused request never came")
            .unwrap();
    }

    /// Lets the held request go on to the upstream.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

/// The running proxy; dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to the stack's DynamoDB (`AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn dynamodb() -> Self {
        crate::require_stack();
        Self::start(std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default()).await
    }

    /// A proxy to the stack's KMS (`AWS_ENDPOINT_URL_KMS`).
    pub async fn kms() -> Self {
        crate::require_stack();
        Self::start(std::env::var("AWS_ENDPOINT_URL_KMS").unwrap_or_default()).await
    }

    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::None),
            operations: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            pause: Mutex::new(None),
        });
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let state = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, client, upstream) =
                    (Arc::clone(&state), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        forward(
                            Arc::clone(&state),
                            client.clone(),
                            upstream.clone(),
                            request,
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, shared, task }
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    /// The operations seen since the last call (`GetItem`, `BatchGetItem`, …), in order.
    pub fn take_operations(&self) -> Vec<String> {
        std::mem::take(&mut *self.shared.operations.lock().unwrap())
    }

    /// Holds the next request of `operation` (`TransactWriteItems`, ...)
    /// until the returned [`Pause`] releases it: what the code read before
    /// it can then be changed underneath, deterministically.
    pub fn pause_next(&self, operation: &str) -> Pause {
        self.hold(operation, false)
    }

    /// Lets the next request of `operation` reach the upstream and holds its
    /// answer until released: the caller acts on state read before whatever
    /// the test changes meanwhile.
    pub fn pause_next_answer(&self, operation: &str) -> Pause {
        self.hold(operation, true)
    }

    fn hold(&self, operation: &str, answered: bool) -> Pause {
        let (arrived_tx, arrived_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel();
        *self.shared.pause.lock().unwrap() = Some(Held {
            operation: operation.to_owned(),
            answered,
            arrived: arrived_tx,
            release: release_rx,
        });
        Pause {
            arrived: arrived_rx,
            release: release_tx,
        }
    }

    /// The requests seen since the last call: `X-Amz-Target` and body.
    pub fn take_requests(&self) -> Vec<(String, Bytes)> {
        std::mem::take(&mut *self.shared.requests.lock().unwrap())
    }

    /// A KMS client that goes through this proxy.
    pub async fn kms_client(&self) -> aws_sdk_kms::Client {
        let sdk = cog_tokens::aws::sdk_config().await;
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(&sdk)
                .endpoint_url(&self.url)
                .build(),
        )
    }

    /// A DynamoDB client that goes through this proxy, making at most
    /// `attempts` attempts per call, each cut off after 2 s.
    pub async fn client(&self, attempts: u32) -> aws_sdk_dynamodb::Client {
        let sdk = cog_tokens::aws::sdk_config().await;
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&self.url)
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                    .with_max_attempts(attempts),
            )
            .timeout_config(
                aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .build(),
            )
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }
}

type ProxyResult = Result<Response<Full<Bytes>>, std::io::Error>;

async fn forward(
    state: Arc<Shared>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: String,
    request: Request<Incoming>,
) -> ProxyResult {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let operation = target.rsplit('.').next().unwrap_or("?").to_owned();
    let held = {
        let mut pause = state.pause.lock().unwrap();
        match pause.as_ref() {
            Some(held) if held.operation == operation => pause.take(),
            _ => None,
        }
    };
    state.operations.lock().unwrap().push(operation);
    let (held_before, held_after) = match held {
        Some(held) if held.answered => (None, Some(held)),
        held => (held, None),
    };
    if let Some(held) = held_before {
        let _ = held.arrived.send(());
        let _ = held.release.await;
    }
    let fault = state.fault.lock().unwrap().clone();
    match fault {
        Fault::Drop => return Err(std::io::Error::other("dropped by the fault proxy")),
        Fault::Throttle => return Ok(error_answer("ThrottlingException", "Rate exceeded")),
        Fault::ThroughputExceeded => {
            return Ok(error_answer(
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded",
            ))
        }
        Fault::Delay(delay) => tokio::time::sleep(delay).await,
        Fault::None => {}
    }
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    state.requests.lock().unwrap().push((target, body.clone()));
    let mut outgoing = Request::builder().method(parts.method).uri(format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    ));
    for (name, value) in &parts.headers {
        outgoing = outgoing.header(name, value);
    }
    let outgoing = outgoing
        .body(Full::new(body))
        .map_err(std::io::Error::other)?;
    let response = client
        .request(outgoing)
        .await
        .map_err(std::io::Error::other)?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if let Some(held) = held_after {
        let _ = held.arrived.send(());
        let _ = held.release.await;
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn error_answer(code: &str, message: &str) -> Response<Full<Bytes>> {
    let body =
        format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#);
    Response::builder()
        .status(400)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", code)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// The address a client can use to reach nothing (a port bound and closed).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}
