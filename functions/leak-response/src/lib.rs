//! The leak-response function: two public routes that can only revoke.
//!
//! - `POST /v1/secret-scanning/github`: GitHub's secret-scanning partner
//!   reports, signed by GitHub; answered with the partner feedback array.
//! - `POST /v1/credentials/revoke`: anyone who finds a token can kill it;
//!   the answer is the same 202 whatever the tokens were, and each source IP
//!   has a request budget per minute.

pub mod github_keys;
#[cfg(feature = "aws")]
pub mod key_fetch;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use cog_tokens::logging::Causes;
use cog_tokens::management::leaks::{
    Finding, LeakError, LeakResponder, Reporter, Sighting, MAX_REPORTED_TOKENS,
};
use cog_tokens::metrics::Aggregate;
use cog_tokens::records::Timestamp;
use cog_tokens::store::pepper::PepperSource;
use cog_tokens::store::{RateLimiter, StoreError, TokenStore};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use management::caller::origin;
use management::metrics::{count_request, UNMATCHED_ROUTE};
use management::response::json;
use management::Problem;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::github_keys::GitHubKeys;

pub const GITHUB_ROUTE: &str = "/v1/secret-scanning/github";
pub const PUBLIC_REVOKE_ROUTE: &str = "/v1/credentials/revoke";
/// Every route this function serves, as (method, path).
pub const ROUTES: [(&str, &str); 2] = [("POST", GITHUB_ROUTE), ("POST", PUBLIC_REVOKE_ROUTE)];
/// The same routes as route keys (`METHOD /path`), for metrics.
pub const ROUTE_KEYS: [&str; 2] = [
    "POST /v1/secret-scanning/github",
    "POST /v1/credentials/revoke",
];
/// A report of 1,000 matches with long URLs is about 400 KB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The public route's fixed window.
const RATE_WINDOW_SECONDS: i64 = 60;

/// What the function keeps between invocations.
pub struct LeakService<S, P> {
    pub responder: LeakResponder<S, P>,
    pub limiter: Arc<S>,
    pub github_keys: GitHubKeys,
    /// Requests per source IP per minute on the public revoke route.
    pub public_requests_per_minute: u32,
}

impl<S, P> std::fmt::Debug for LeakService<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakService")
            .field("github_keys", &self.github_keys)
            .field(
                "public_requests_per_minute",
                &self.public_requests_per_minute,
            )
            .finish_non_exhaustive()
    }
}

/// One request in, one response out; never the tokens in either log or answer.
pub async fn handle_request<S, P>(
    service: &LeakService<S, P>,
    request: Request,
    now: Timestamp,
) -> Response<Body>
where
    S: TokenStore + RateLimiter,
    P: PepperSource,
{
    handle_counted(service, request, now).await.0
}

/// What one request did, counted for the metrics: no token, no id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeakTally {
    /// The route key from [`ROUTE_KEYS`], or `unmatched`.
    pub route: &'static str,
    pub status: u16,
    /// Tokens in a report that was handled.
    pub reported: usize,
    /// Live tokens of ours this report revoked.
    pub revoked: usize,
    /// Reported strings that are no token of ours.
    pub false_positives: usize,
    /// The report could not be handled (a 5xx: the caller sends it again).
    pub failed: bool,
}

impl LeakTally {
    fn add(&mut self, findings: &[Finding]) {
        let count = |wanted: Finding| findings.iter().filter(|f| **f == wanted).count();
        self.reported += findings.len();
        self.revoked += count(Finding::Revoked);
        self.false_positives += count(Finding::NotOurs);
    }
}

/// The `Function` dimension's value.
pub const FUNCTION_NAME: &str = "leak-response";
/// Count: tokens in the reports handled.
pub const LEAK_TOKENS_REPORTED: &str = "LeakTokensReported";
/// Count: live tokens of ours those reports revoked.
pub const LEAK_TOKENS_REVOKED: &str = "LeakTokensRevoked";
/// Count: reported strings that are no token of ours.
pub const LEAK_FALSE_POSITIVES: &str = "LeakFalsePositives";
/// Count: requests that could not be handled (5xx; the reporter retries).
pub const LEAK_RESPONSE_FAILURES: &str = "LeakResponseFailures";

/// Counts one request: the leak counters (zeros too, so they have data
/// points) and `Requests` by route and status, as the management functions do.
pub fn record_tally(aggregate: &mut Aggregate, tally: &LeakTally) {
    aggregate.count(LEAK_TOKENS_REPORTED, &[], tally.reported as u64);
    aggregate.count(LEAK_TOKENS_REVOKED, &[], tally.revoked as u64);
    aggregate.count(LEAK_FALSE_POSITIVES, &[], tally.false_positives as u64);
    aggregate.count(LEAK_RESPONSE_FAILURES, &[], u64::from(tally.failed));
    count_request(aggregate, tally.route, tally.status);
}

/// [`handle_request`], with what the request did.
pub async fn handle_counted<S, P>(
    service: &LeakService<S, P>,
    request: Request,
    now: Timestamp,
) -> (Response<Body>, LeakTally)
where
    S: TokenStore + RateLimiter,
    P: PepperSource,
{
    let mut tally = LeakTally {
        route: route_key(request.method(), request.uri().path()),
        ..LeakTally::default()
    };
    let response = answer(service, &request, now, &mut tally).await;
    tally.status = response.status().as_u16();
    tally.failed = response.status().is_server_error();
    (response, tally)
}

/// The route key of a request, from [`ROUTES`]; `unmatched` for any other.
pub fn route_key(method: &Method, path: &str) -> &'static str {
    ROUTES
        .iter()
        .zip(ROUTE_KEYS)
        .find(|((m, p), _)| method.as_str() == *m && path == *p)
        .map_or(UNMATCHED_ROUTE, |(_, key)| key)
}

async fn answer<S, P>(
    service: &LeakService<S, P>,
    request: &Request,
    now: Timestamp,
    tally: &mut LeakTally,
) -> Response<Body>
where
    S: TokenStore + RateLimiter,
    P: PepperSource,
{
    let body: &[u8] = request.body();
    if body.len() > MAX_BODY_BYTES {
        return too_large(format!("the body is over {MAX_BODY_BYTES} bytes"));
    }
    let result = match (request.method(), request.uri().path()) {
        (&Method::POST, GITHUB_ROUTE) => {
            if let Err(refused) = verify_github_signature(service, request).await {
                return refused;
            }
            github_report(service, request, now, tally).await
        }
        (&Method::POST, PUBLIC_REVOKE_ROUTE) => public_revoke(service, request, now, tally).await,
        _ => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "no such route",
        )),
    };
    result.unwrap_or_else(Problem::into_response)
}

/// One match in a GitHub report.
#[derive(Deserialize)]
struct GitHubMatch {
    token: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// The partner program's feedback for one match: the token only as its SHA-256.
#[derive(Serialize)]
struct Feedback<'a> {
    token_hash: String,
    token_type: &'a str,
    label: &'static str,
}

/// A report [`verify_github_signature`] let through.
async fn github_report<S, P>(
    service: &LeakService<S, P>,
    request: &Request,
    now: Timestamp,
    tally: &mut LeakTally,
) -> Result<Response<Body>, Problem>
where
    S: TokenStore + RateLimiter,
    P: PepperSource,
{
    let matches: Vec<GitHubMatch> = serde_json::from_slice(request.body()).map_err(|_| {
        Problem::invalid(
            "body",
            "invalid_body",
            "the body is not a JSON array of matches",
        )
    })?;
    if matches.len() > MAX_REPORTED_TOKENS {
        return Err(too_many());
    }
    let sightings: Vec<Sighting> = matches
        .iter()
        .map(|m| Sighting {
            token: &m.token,
            url: m.url.as_deref(),
            source: m.source.as_deref(),
        })
        .collect();
    let findings = service
        .responder
        .respond(
            &sightings,
            Reporter::GitHubSecretScanning,
            origin(request),
            now,
        )
        .await
        .map_err(fault)?;
    log_findings("GitHub report", &findings);
    tally.add(&findings);
    Ok(json(StatusCode::OK, &feedback(&matches, &findings)))
}

/// 401 unless the raw body carries a published GitHub key's signature; 503
/// when the key set that would decide cannot be had.
async fn verify_github_signature<S, P>(
    service: &LeakService<S, P>,
    request: &Request,
) -> Result<(), Response<Body>> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let verified = service
        .github_keys
        .verify_report(
            header("github-public-key-identifier"),
            header("github-public-key-signature"),
            request.body(),
        )
        .await
        .map_err(|error| {
            tracing::error!(%error, "GitHub report: key set unavailable, nothing read");
            let mut response = unavailable().into_response();
            if let Ok(value) =
                header::HeaderValue::from_str(&error.retry_after.as_secs().to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        })?;
    verified.map_err(|reason| {
        tracing::warn!(%reason, "GitHub report refused: not signed by GitHub");
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "the report is not signed by a published GitHub key",
        )
        .into_response()
    })
}

/// The partner program's feedback, one item per match, in order.
fn feedback<'a>(matches: &'a [GitHubMatch], findings: &[Finding]) -> Vec<Feedback<'a>> {
    matches
        .iter()
        .zip(findings)
        .map(|(m, finding)| Feedback {
            token_hash: hex::encode(Sha256::digest(m.token.as_bytes())),
            token_type: &m.kind,
            label: if finding.is_ours() {
                "true_positive"
            } else {
                "false_positive"
            },
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicReport {
    credentials: Vec<String>,
}

#[derive(Serialize)]
struct Accepted {
    status: &'static str,
    detail: &'static str,
}

async fn public_revoke<S, P>(
    service: &LeakService<S, P>,
    request: &Request,
    now: Timestamp,
    tally: &mut LeakTally,
) -> Result<Response<Body>, Problem>
where
    S: TokenStore + RateLimiter,
    P: PepperSource,
{
    let origin = origin(request);
    let ip = origin.as_ref().map_or("unknown", |o| o.source_ip.as_str());
    let window = Timestamp(now.0 - now.0.rem_euclid(RATE_WINDOW_SECONDS * 1000));
    let admitted = service
        .limiter
        .admit(
            &format!("revoke#{ip}"),
            window,
            RATE_WINDOW_SECONDS,
            service.public_requests_per_minute,
        )
        .await
        .map_err(|e| fault(LeakError::Store(e)))?;
    if !admitted {
        return Ok(rate_limited(window, now));
    }
    let report: PublicReport = serde_json::from_slice(request.body()).map_err(|_| {
        Problem::invalid(
            "credentials",
            "invalid_body",
            "the body is {\"credentials\": [\"cog_…\", …]}",
        )
    })?;
    if report.credentials.len() > MAX_REPORTED_TOKENS {
        return Err(too_many());
    }
    let sightings: Vec<Sighting> = report
        .credentials
        .iter()
        .map(|token| Sighting {
            token,
            ..Sighting::default()
        })
        .collect();
    let findings = service
        .responder
        .respond(&sightings, Reporter::Public, origin, now)
        .await
        .map_err(fault)?;
    log_findings("public revoke", &findings);
    tally.add(&findings);
    let body = Accepted {
        status: "accepted",
        detail: "every live cog_ token in the list is revoked",
    };
    Ok(json(StatusCode::ACCEPTED, &body))
}

/// Counts only: which tokens were ours is not logged with the request.
fn log_findings(what: &str, findings: &[Finding]) {
    let count = |wanted: Finding| findings.iter().filter(|f| **f == wanted).count();
    tracing::info!(
        reported = findings.len(),
        revoked = count(Finding::Revoked),
        already_ended = count(Finding::AlreadyEnded),
        not_ours = count(Finding::NotOurs),
        "{what} handled"
    );
}

fn fault(error: LeakError) -> Problem {
    tracing::error!(error = %Causes(&error), "leak report failed: nothing answered, caller retries");
    match error {
        LeakError::Store(StoreError::Malformed(_)) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the report could not be handled; send it again",
        ),
        _ => unavailable(),
    }
}

fn unavailable() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        "a service this request needs is unavailable; send it again",
    )
}

fn too_many() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_tokens",
        format!("at most {MAX_REPORTED_TOKENS} tokens per request"),
    )
}

fn too_large(detail: String) -> Response<Body> {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", detail).into_response()
}

/// 429 with the seconds left in the window.
fn rate_limited(window: Timestamp, now: Timestamp) -> Response<Body> {
    let left = (window.plus_seconds(RATE_WINDOW_SECONDS).0 - now.0).max(1000) / 1000;
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many revoke requests from this address; try again shortly",
    )
    .into_response();
    if let Ok(value) = header::HeaderValue::from_str(&left.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
