//! Serves HTTP/1.1 connections of one listener with one handler: the API
//! listener's gateway, or the control listener's control plane.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Accepts until the listener fails; the caller stops it on a signal by
/// dropping this future.
pub async fn accept_loop<H, F>(listener: TcpListener, handler: H) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let handler = Arc::new(handler);
    loop {
        let (stream, peer) = listener.accept().await?;
        let handler = Arc::clone(&handler);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let answer = handler(request, peer);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use http_body_util::BodyExt;
    use hyper::{Method, StatusCode};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use serde_json::{json, Value};

    use crate::authorizer::{Answer, AnswerCache};
    use crate::cache_stats::CacheStats;
    use crate::control_plane::ControlPlane;
    use crate::events::ApiIdentity;
    use crate::quota::TokenBucket;

    async fn send(
        base: &str,
        method: Method,
        path: &str,
        signed: bool,
    ) -> (StatusCode, Option<String>, Bytes) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{base}{path}"));
        if signed {
            request = request.header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/apigateway/aws4_request, \
                 SignedHeaders=host, Signature=0000",
            );
        }
        let response = client
            .request(request.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, error_type, body)
    }

    #[tokio::test]
    async fn the_control_plane_flushes_over_a_real_loopback_socket() {
        let cache = Arc::new(AnswerCache::new(Duration::from_secs(300)));
        let stats = Arc::new(CacheStats::default());
        let yes = Answer::parse(&json!({"isAuthorized": true}), true).unwrap();
        for i in 0..5 {
            let key = AnswerCache::key("CogToken", &[format!("Bearer {i}")]);
            cache.put(key, yes.clone(), Instant::now());
        }
        let identity = ApiIdentity {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            api_id: "local".into(),
            stage: "$default".into(),
        };
        let plane = Arc::new(ControlPlane::new(
            identity,
            Vec::new(),
            Arc::clone(&cache),
            stats,
            TokenBucket::new(10.0, 40, Instant::now()),
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(accept_loop(listener, move |request, _| {
            let plane = Arc::clone(&plane);
            async move { plane.handle(request).await }
        }));

        let path = "/v2/apis/local/stages/%24default/cache/authorizers";
        let (status, error_type, _) = send(&base, Method::DELETE, path, false).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            error_type.as_deref(),
            Some("MissingAuthenticationTokenException")
        );
        assert_eq!(cache.live(Instant::now()), 5);

        let (status, _, body) = send(&base, Method::DELETE, path, true).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(body.is_empty());
        assert_eq!(cache.live(Instant::now()), 0);

        let (status, _, body) = send(&base, Method::GET, "/_dev/authorizer-cache", false).await;
        assert_eq!(status, StatusCode::OK);
        let stats: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(stats["entries"], 0);
        assert_eq!(stats["flushes"], json!({"http": 1, "rest": 0}));
        server.abort();
    }
}
