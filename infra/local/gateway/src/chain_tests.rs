//! The gateway and its control plane on real loopback sockets, in front of
//! a stand-in for `cargo lambda watch`: cache hits and misses as the
//! benchmark reads them, a flush, and the in-flight race as AWS has it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};

use crate::control_plane::ControlPlane;
use crate::lambda::LambdaClient;
use crate::quota::TokenBucket;
use crate::serve::accept_loop;
use crate::server::Gateway;

const TEMPLATE: &str = r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          Token:
            FunctionArn: !GetAtt AuthFn.Arn
            EnableSimpleResponses: true
            Identity:
              Headers: [Authorization]
              ReauthorizeEvery: 300
  AuthFn:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: authorizer
  App:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: app
    Properties:
      Events:
        Me:
          Type: HttpApi
          Properties: {Method: GET, Path: /v1/me, Auth: {Authorizer: Token}}
"#;

/// Stands in for watch: the authorizer allows everyone, except that a call
/// for `Bearer slow` reports its arrival and waits to be released.
struct Watch {
    authorizer_calls: AtomicU64,
    arrived: mpsc::UnboundedSender<()>,
    release: Notify,
}

impl Watch {
    async fn answer(&self, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let event: Value = serde_json::from_slice(&body).unwrap();
        let result = if path.contains("/functions/authorizer/") {
            self.authorizer_calls.fetch_add(1, Ordering::SeqCst);
            if event["identitySource"][0] == "Bearer slow" {
                self.arrived.send(()).unwrap();
                self.release.notified().await;
            }
            json!({"isAuthorized": true, "context": {"principal_id": "u"}})
        } else {
            json!({"statusCode": 200, "body": "ok"})
        };
        Response::new(Full::new(Bytes::from(result.to_string())))
    }
}

async fn listen<H, F>(handler: H) -> String
where
    H: Fn(Request<hyper::body::Incoming>, std::net::SocketAddr) -> F + Send + Sync + 'static,
    F: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(accept_loop(listener, handler));
    base
}

async fn send(url: String, method: Method, authorization: &str) -> (StatusCode, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", authorization)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test]
async fn a_flush_forces_a_new_call_but_an_answer_in_flight_is_cached_after_it() {
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
    let watch = Arc::new(Watch {
        authorizer_calls: AtomicU64::new(0),
        arrived: arrived_tx,
        release: Notify::new(),
    });
    let stand_in = Arc::clone(&watch);
    let watch_url = listen(move |request, _| {
        let watch = Arc::clone(&stand_in);
        async move { watch.answer(request).await }
    })
    .await;
    let api = crate::template::read(TEMPLATE, &BTreeMap::new()).unwrap();
    let lambda = LambdaClient::new(&watch_url, Duration::from_secs(10));
    let gateway = Arc::new(Gateway::new(api, lambda, Duration::from_secs(60), "local"));
    let plane = Arc::new(ControlPlane::new(
        gateway.identity().clone(),
        Vec::new(),
        Arc::clone(gateway.cache()),
        Arc::clone(gateway.stats()),
        TokenBucket::new(10.0, 40, Instant::now()),
    ));
    let served = Arc::clone(&gateway);
    let api_url = listen(move |request, peer| Arc::clone(&served).handle(request, peer)).await;
    let control_url = listen(move |request, _| {
        let plane = Arc::clone(&plane);
        async move { plane.handle(request).await }
    })
    .await;
    let me = || format!("{api_url}/v1/me");
    let flush = || {
        send(
            format!("{control_url}/v2/apis/local/stages/%24default/cache/authorizers"),
            Method::DELETE,
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/apigateway/aws4_request",
        )
    };
    let calls = || watch.authorizer_calls.load(Ordering::SeqCst);

    assert_eq!(send(me(), Method::GET, "Bearer a").await.0, StatusCode::OK);
    assert_eq!(send(me(), Method::GET, "Bearer a").await.0, StatusCode::OK);
    assert_eq!(calls(), 1, "the second request is answered from the cache");
    assert_eq!(flush().await.0, StatusCode::NO_CONTENT);
    assert_eq!(send(me(), Method::GET, "Bearer a").await.0, StatusCode::OK);
    assert_eq!(calls(), 2, "after a flush the authorizer is called again");

    // An authorization in flight across a flush: its Allow is cached after it.
    let slow = tokio::spawn(send(me(), Method::GET, "Bearer slow"));
    arrived.recv().await.unwrap();
    assert_eq!(flush().await.0, StatusCode::NO_CONTENT);
    watch.release.notify_one();
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    assert_eq!(
        send(me(), Method::GET, "Bearer slow").await.0,
        StatusCode::OK
    );
    assert_eq!(calls(), 3, "the in-flight answer outlived the flush");

    let (status, body) = send(
        format!("{control_url}/_dev/authorizer-cache"),
        Method::GET,
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stats: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (
            &stats["entries"],
            &stats["hits"],
            &stats["misses"],
            &stats["invocations"]
        ),
        // Only the in-flight answer is held: the second flush dropped `a`'s.
        (&json!(1), &json!(2), &json!(3), &json!(3))
    );
    assert_eq!(stats["flushes"], json!({"http": 2, "rest": 0}));
    // The API listener has no such control.
    let (status, _) = send(format!("{api_url}/_dev/authorizer-cache"), Method::GET, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_authorizer_without_identity_sources_is_never_cached() {
    let (arrived, _) = mpsc::unbounded_channel();
    let watch = Arc::new(Watch {
        authorizer_calls: AtomicU64::new(0),
        arrived,
        release: Notify::new(),
    });
    let stand_in = Arc::clone(&watch);
    let watch_url = listen(move |request, _| {
        let watch = Arc::clone(&stand_in);
        async move { watch.answer(request).await }
    })
    .await;
    // Same authorizer, same TTL, but nothing to key a cached answer by.
    let template = TEMPLATE.replace("Headers: [Authorization]\n", "");
    let api = crate::template::read(&template, &BTreeMap::new()).unwrap();
    let lambda = LambdaClient::new(&watch_url, Duration::from_secs(10));
    let gateway = Arc::new(Gateway::new(api, lambda, Duration::from_secs(60), "local"));
    assert_eq!(gateway.authorizer_ttl(), Duration::from_secs(300));
    let served = Arc::clone(&gateway);
    let api_url = listen(move |request, peer| Arc::clone(&served).handle(request, peer)).await;
    for caller in ["Bearer a", "Bearer b", "Bearer a"] {
        let (status, _) = send(format!("{api_url}/v1/me"), Method::GET, caller).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(watch.authorizer_calls.load(Ordering::SeqCst), 3);
    assert_eq!(gateway.cache().live(Instant::now()), 0);
}
