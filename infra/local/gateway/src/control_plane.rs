//! API Gateway's control plane for the authorizer cache, on its own loopback
//! listener, so the flush Lambda's AWS SDK clients (pointed here with
//! `AWS_ENDPOINT_URL_APIGATEWAYV2` / `AWS_ENDPOINT_URL_API_GATEWAY`) get
//! AWS's paths, answers and quota:
//! - `DELETE /v2/apis/{apiId}/stages/{stageName}/cache/authorizers`
//!   (apigatewayv2 `ResetAuthorizersCache`): 204;
//! - `DELETE /restapis/{restApiId}/stages/{stageName}/cache/authorizers`
//!   (apigateway `FlushStageAuthorizersCache`): 202.
//!
//! Dev controls for fault tests and the load benchmark live under `/_dev/`
//! here, never on the API listener.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::authorizer::AnswerCache;
use crate::cache_stats::{CacheStats, FlushKind};
use crate::events::ApiIdentity;
use crate::quota::TokenBucket;
use crate::responses::{empty, json_response, message, set_header};
use crate::server::{is_loopback_host, redact, DEV_PREFIX};
use crate::stages::RestStage;

/// The control plane's error answers, named as the AWS SDKs read them: the
/// `x-amzn-ErrorType` header (it wins over a body `__type`/`code` in
/// smithy-rs's restJson1 error parsing) and a body `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Throttled,
    Internal,
}

impl Failure {
    fn status(self) -> StatusCode {
        match self {
            Self::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug)]
pub struct ControlPlane {
    identity: ApiIdentity,
    rest_stages: Vec<RestStage>,
    cache: Arc<AnswerCache>,
    stats: Arc<CacheStats>,
    quota: TokenBucket,
    /// Armed by `fail-next`: how many flush calls still fail, and how.
    fail_next: Mutex<(u32, Failure)>,
    requests: AtomicU64,
}

/// A flush call the paths name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Flush {
    Http { api_id: String, stage: String },
    Rest { rest_api_id: String, stage: String },
}

/// Smithy clients send nothing in a flush's body; anything bigger is not theirs.
const MAX_BODY_BYTES: usize = 64 * 1024;

impl ControlPlane {
    pub fn new(
        identity: ApiIdentity,
        rest_stages: Vec<RestStage>,
        cache: Arc<AnswerCache>,
        stats: Arc<CacheStats>,
        quota: TokenBucket,
    ) -> Self {
        Self {
            identity,
            rest_stages,
            cache,
            stats,
            quota,
            fail_next: Mutex::new((0, Failure::Internal)),
            requests: AtomicU64::new(0),
        }
    }

    pub async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(_) => self.respond(&parts.method, &parts.uri, &parts.headers, Instant::now()),
            Err(_) => message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        };
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info!(
            method = %parts.method,
            path = %redact(parts.uri.path()),
            status = response.status().as_u16(),
            error_type,
            "control plane request"
        );
        response
    }

    /// The answer to one request, at `now` on the quota's clock.
    pub fn respond(
        &self,
        method: &Method,
        uri: &hyper::Uri,
        headers: &HeaderMap,
        now: Instant,
    ) -> Response<Full<Bytes>> {
        let mut response = self.answer(method, uri, headers, now);
        let number = self.requests.fetch_add(1, Ordering::Relaxed);
        set_header(
            &mut response,
            "x-amzn-RequestId",
            &format!("local-control-{number:08}"),
        );
        response
    }

    fn answer(
        &self,
        method: &Method,
        uri: &hyper::Uri,
        headers: &HeaderMap,
        now: Instant,
    ) -> Response<Full<Bytes>> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        // As on the API listener: a name rebound to 127.0.0.1 is not served.
        if !header("host").is_some_and(is_loopback_host) {
            return message(StatusCode::MISDIRECTED_REQUEST, "Misdirected Request");
        }
        // No browser page may flush, arm failures or reset counters: the SDK
        // sends neither header, a cross-site request always sends one.
        if header("origin").is_some()
            || header("sec-fetch-site").is_some_and(|site| !site.eq_ignore_ascii_case("none"))
        {
            return aws_error(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "The control plane does not serve browsers",
            );
        }
        let path = uri.path();
        if path.starts_with(DEV_PREFIX) {
            return self.dev(method, path, uri.query().unwrap_or_default(), now);
        }
        // SigV4-signed, as every SDK call is; the signature is not checked.
        if !header("authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")) {
            return aws_error(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            );
        }
        let Some(flush) = flush_call(method, path) else {
            return aws_error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "Unknown operation",
            );
        };
        if let Some(failure) = self.take_injected_failure() {
            self.stats.failed_injected();
            return failure_response(failure);
        }
        if !self.quota.try_take(now) {
            self.stats.throttled();
            return failure_response(Failure::Throttled);
        }
        self.flush(&flush, now)
    }

    fn flush(&self, flush: &Flush, now: Instant) -> Response<Full<Bytes>> {
        let (api, stage, kind, success) = match flush {
            Flush::Http { api_id, stage } => {
                (api_id, stage, FlushKind::Http, StatusCode::NO_CONTENT)
            }
            Flush::Rest { rest_api_id, stage } => {
                (rest_api_id, stage, FlushKind::Rest, StatusCode::ACCEPTED)
            }
        };
        let stages: Vec<&str> = match kind {
            FlushKind::Http if *api == self.identity.api_id => vec![self.identity.stage.as_str()],
            FlushKind::Http => Vec::new(),
            FlushKind::Rest => self
                .rest_stages
                .iter()
                .filter(|s| s.rest_api_id == *api)
                .map(|s| s.stage.as_str())
                .collect(),
        };
        // AWS's wording for each (aws-sam-cli#7030, localstack#3086).
        if stages.is_empty() {
            let account = &self.identity.account_id;
            return aws_error(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                &format!("Invalid API identifier specified {account}:{api}"),
            );
        }
        if !stages.contains(&stage.as_str()) {
            return aws_error(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                "Invalid stage identifier specified",
            );
        }
        // Every stage flushes the one cache: the gateway serves one API.
        let dropped = self.cache.clear(now);
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.stats.flushed(kind, unix_ms);
        tracing::info!(api = %api, stage = %stage, kind = ?kind, entries_dropped = dropped, "authorizer cache flushed");
        empty(success)
    }

    fn take_injected_failure(&self) -> Option<Failure> {
        let mut armed = self
            .fail_next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (armed.0 > 0).then(|| {
            armed.0 -= 1;
            armed.1
        })
    }

    fn dev(&self, method: &Method, path: &str, query: &str, now: Instant) -> Response<Full<Bytes>> {
        match (method.as_str(), path) {
            ("GET", "/_dev/authorizer-cache") => {
                json_response(StatusCode::OK, &self.stats.snapshot(self.cache.live(now)))
            }
            ("POST", "/_dev/authorizer-cache/reset-stats") => {
                self.stats.reset();
                empty(StatusCode::NO_CONTENT)
            }
            ("POST", "/_dev/control-plane/fail-next") => self.arm(query),
            _ => message(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    /// `?count=N&status=S`: the next N flush calls answer S (429 or 500).
    fn arm(&self, query: &str) -> Response<Full<Bytes>> {
        let mut count = None;
        let mut failure = None;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "count" => count = value.parse::<u32>().ok(),
                "status" => {
                    failure = match value.as_ref() {
                        "429" => Some(Failure::Throttled),
                        "500" => Some(Failure::Internal),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        let (Some(count), Some(failure)) = (count, failure) else {
            return message(
                StatusCode::BAD_REQUEST,
                "send ?count=<0 or more>&status=<429 or 500>",
            );
        };
        *self
            .fail_next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (count, failure);
        json_response(
            StatusCode::OK,
            &json!({"count": count, "status": failure.status().as_u16()}),
        )
    }
}

/// The flush call a `DELETE` path names; labels arrive percent-encoded
/// (the SDKs send `$default` as `%24default`).
fn flush_call(method: &Method, path: &str) -> Option<Flush> {
    if method != Method::DELETE {
        return None;
    }
    let segments = path
        .split('/')
        .map(decode_segment)
        .collect::<Option<Vec<String>>>()?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["", "v2", "apis", api, "stages", stage, "cache", "authorizers"] => Some(Flush::Http {
            api_id: (*api).to_owned(),
            stage: (*stage).to_owned(),
        }),
        ["", "restapis", api, "stages", stage, "cache", "authorizers"] => Some(Flush::Rest {
            rest_api_id: (*api).to_owned(),
            stage: (*stage).to_owned(),
        }),
        _ => None,
    }
}

/// `%XX` escapes decoded; `None` if that is not UTF-8. A bad escape stays as is.
fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| segment.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn failure_response(failure: Failure) -> Response<Full<Bytes>> {
    match failure {
        Failure::Throttled => {
            let mut response = aws_error(
                failure.status(),
                "TooManyRequestsException",
                "Too Many Requests",
            );
            // apigateway's model binds this header to `retryAfterSeconds`.
            set_header(&mut response, "retry-after", "1");
            response
        }
        // AWS's common error for a 500; the SDKs retry it as transient.
        Failure::Internal => aws_error(failure.status(), "InternalFailure", "Internal Failure"),
    }
}

fn aws_error(status: StatusCode, error_type: &str, text: &str) -> Response<Full<Bytes>> {
    let mut response = message(status, text);
    set_header(&mut response, "x-amzn-ErrorType", error_type);
    response
}

#[cfg(test)]
#[path = "control_plane_tests.rs"]
mod tests;
