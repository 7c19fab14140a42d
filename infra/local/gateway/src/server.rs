//! The gateway: route, authorize (dev session or Lambda authorizer), invoke,
//! answer, as an HTTP API would.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use time::OffsetDateTime;

use crate::access_log::{self, AccessRecord, AuthorizerCall, Integration};
use crate::authorizer::{Answer, AnswerCache, Verdict};
use crate::cache_stats::CacheStats;
use crate::dev;
use crate::events::{ApiIdentity, HttpAnswer, MatchedRoute, RequestView, CLF_TIME};
use crate::lambda::{Invocation, LambdaClient};
use crate::responses::{http_response, message};
use crate::sessions::Sessions;
use crate::stages::RestStage;
use crate::template::{Api, LambdaAuthorizer, RouteAuth, RouteConfig};
use crate::usage_plans::UsagePlans;

/// API Gateway's payload limit.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Where the dev-only session endpoints live; never a route of the real API.
pub const DEV_PREFIX: &str = "/_dev/";

#[derive(Debug)]
pub struct Gateway {
    api: Api,
    identity: ApiIdentity,
    lambda: LambdaClient,
    // Shared with the control plane, which flushes it and reports on it.
    cache: Arc<AnswerCache>,
    stats: Arc<CacheStats>,
    sessions: Sessions,
    requests: AtomicU64,
    /// Plays the token-authorized routes as this REST stage, with its
    /// usage plans (`--usage-plans-url`); `None`: the HTTP API.
    rest: Option<RestMode>,
}

/// A REST stage: its identity in method ARNs, and its keys and plans.
#[derive(Debug)]
struct RestMode {
    identity: ApiIdentity,
    plans: UsagePlans,
}

/// A Lambda authorizer's verdict, how it was reached, and the usage-plan
/// key its answer named.
type Authorized = (Verdict, AuthNote, Option<String>);

/// How a request was authorized, for the gateway's own log.
#[derive(Debug, Clone, Copy)]
enum AuthNote {
    None,
    Session,
    AuthorizerCalled,
    AuthorizerCached,
}

/// What serving one request did, for the logs.
struct Served {
    response: Response<Full<Bytes>>,
    route: Option<String>,
    note: AuthNote,
    /// The answer is the gateway's own (a refusal, a failure), not a function's.
    from_gateway: bool,
    authorizer: Option<AuthorizerCall>,
    integration: Option<Integration>,
}

impl Served {
    fn gateway(response: Response<Full<Bytes>>, route: Option<String>, note: AuthNote) -> Self {
        Self {
            response,
            route,
            note,
            from_gateway: true,
            authorizer: None,
            integration: None,
        }
    }
}

impl Gateway {
    /// `api_id` names the API in route ARNs and request contexts, and is the
    /// id the control plane's flush answers to.
    pub fn new(api: Api, lambda: LambdaClient, session_lifetime: Duration, api_id: &str) -> Self {
        // One token authorizer per API in this design; its TTL sizes the cache.
        let ttl = api
            .routes
            .iter()
            .find_map(|r| match &r.auth {
                RouteAuth::Lambda(a) => Some(a.ttl),
                _ => None,
            })
            .unwrap_or_default();
        Self {
            api,
            identity: ApiIdentity {
                region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
                account_id: "000000000000".into(),
                api_id: api_id.to_owned(),
                stage: "$default".into(),
            },
            lambda,
            cache: Arc::new(AnswerCache::new(ttl)),
            stats: Arc::new(CacheStats::default()),
            sessions: Sessions::new(session_lifetime),
            requests: AtomicU64::new(0),
            rest: None,
        }
    }

    /// Token-authorized routes as `plans`' REST stage: REST `REQUEST`
    /// authorizer events, then API keys and usage plans (`usage_plans`).
    /// The integration still gets payload 2.0: the functions are the HTTP
    /// API's.
    pub fn with_usage_plans(mut self, plans: UsagePlans) -> Self {
        let identity = ApiIdentity {
            api_id: plans.stage().rest_api_id.clone(),
            stage: plans.stage().stage.clone(),
            ..self.identity.clone()
        };
        self.rest = Some(RestMode { identity, plans });
        self
    }

    pub fn rest_stage(&self) -> Option<&RestStage> {
        self.rest.as_ref().map(|rest| rest.plans.stage())
    }

    pub fn authorizer_ttl(&self) -> Duration {
        self.cache.ttl()
    }

    pub fn routes(&self) -> &[RouteConfig] {
        &self.api.routes
    }

    pub fn identity(&self) -> &ApiIdentity {
        &self.identity
    }

    pub fn cache(&self) -> &Arc<AnswerCache> {
        &self.cache
    }

    pub fn stats(&self) -> &Arc<CacheStats> {
        &self.stats
    }

    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let time = OffsetDateTime::now_utc();
        let (method, path) = (request.method().clone(), redact(request.uri().path()));
        let number = self.requests.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("local-{number:08}");
        let served = match self.view(request, peer, &request_id, time).await {
            Ok(view) => self.serve(view).await,
            Err(response) => Served::gateway(response, None, AuthNote::None),
        };
        let status = served.response.status();
        // Never the headers or body: they carry tokens and session cookies.
        tracing::info!(
            %method,
            %path,
            route = served.route.as_deref().unwrap_or("-"),
            status = status.as_u16(),
            auth = ?served.note,
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        if let Some(format) = &self.api.access_log_format {
            let record = AccessRecord {
                request_id,
                request_time: time.format(CLF_TIME).unwrap_or_default(),
                http_method: method.to_string(),
                route_key: served.route,
                status: status.as_u16(),
                response_length: served.response.body().size_hint().exact().unwrap_or(0) as usize,
                response_latency: started.elapsed(),
                integration: served.integration,
                authorizer: served.authorizer,
                error_message: served
                    .from_gateway
                    .then(|| status.canonical_reason().map(str::to_owned))
                    .flatten(),
                source_ip: peer.ip().to_string(),
            };
            // Its own line on stdout, as the stage writes to its own log group.
            let line = access_log::render(format, &record);
            // A lost line must not fail the request (the stage's log is best effort too).
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        served.response
    }

    async fn view(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
        time: OffsetDateTime,
    ) -> Result<RequestView, Response<Full<Bytes>>> {
        let (parts, body) = request.into_parts();
        // A page on another site could reach this loopback server through a
        // name rebound to 127.0.0.1 (and sign in with a dev session): only
        // loopback names are served.
        let host = parts
            .headers
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok());
        if !host.is_some_and(is_loopback_host) {
            return Err(message(
                StatusCode::MISDIRECTED_REQUEST,
                "Misdirected Request",
            ));
        }
        let body = Limited::new(body, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|_| message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"))?
            .to_bytes();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        let mut cookies = Vec::new();
        for (name, value) in &parts.headers {
            let Ok(value) = value.to_str() else {
                return Err(message(StatusCode::BAD_REQUEST, "Bad Request"));
            };
            if name == hyper::header::COOKIE {
                cookies.extend(
                    value
                        .split(';')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty()),
                );
                continue;
            }
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(value)
                })
                .or_insert_with(|| value.to_owned());
        }
        Ok(RequestView {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            raw_query: parts.uri.query().unwrap_or_default().to_owned(),
            headers,
            cookies,
            body,
            source_ip: peer.ip().to_string(),
            request_id: request_id.to_owned(),
            time,
        })
    }

    async fn serve(&self, view: RequestView) -> Served {
        if view.path.starts_with(DEV_PREFIX) {
            let response = dev::endpoint(&self.sessions, &view);
            return Served::gateway(response, None, AuthNote::None);
        }
        let Some((config, matched)) = self.match_route(&view) else {
            let response = message(StatusCode::NOT_FOUND, "Not Found");
            return Served::gateway(response, None, AuthNote::None);
        };
        let route_key = Some(matched.route_key.clone());
        let mut call = None;
        let (authorizer, note) = match &config.auth {
            RouteAuth::None => (None, AuthNote::None),
            RouteAuth::Jwt => match self
                .sessions
                .find(view.cookie_header().as_deref(), view.time)
            {
                Some(session) => (
                    Some(json!({"jwt": {"claims": session.claims(), "scopes": null}})),
                    AuthNote::Session,
                ),
                None => {
                    let response = message(StatusCode::UNAUTHORIZED, "Unauthorized");
                    return Served::gateway(response, route_key, AuthNote::Session);
                }
            },
            RouteAuth::Lambda(authorizer) => {
                let refused = match self.authorize(authorizer, &view, &matched, &mut call).await {
                    Ok((Verdict::Allow(context), note, usage_key)) => {
                        match self.meter(usage_key.as_deref()).await {
                            Ok(()) => Ok((Some(json!({"lambda": context})), note)),
                            Err(response) => Err((response, note)),
                        }
                    }
                    Ok((Verdict::Forbidden, note, _)) => {
                        Err((message(StatusCode::FORBIDDEN, "Forbidden"), note))
                    }
                    Err(response) => Err((response, AuthNote::AuthorizerCalled)),
                };
                match refused {
                    Ok(allowed) => allowed,
                    Err((response, note)) => {
                        return Served {
                            authorizer: call,
                            ..Served::gateway(response, route_key, note)
                        }
                    }
                }
            }
        };
        let event = view.integration_event(&matched, &self.identity, authorizer);
        let invoked = Instant::now();
        let answer = match self.lambda.invoke(&config.function, &event).await {
            Ok(Invocation::Returned(result)) => {
                HttpAnswer::from_function(&result).map_err(|e| e.to_string())
            }
            Ok(Invocation::FunctionError { error_type, .. }) => {
                Err(format!("function error {error_type}"))
            }
            Err(error) => Err(error.to_string()),
        };
        let latency = invoked.elapsed();
        let (response, from_gateway) = match answer {
            Ok(answer) => (http_response(answer), false),
            Err(error) => {
                tracing::error!(function = %config.function, %error, "integration failed");
                let response = message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                (response, true)
            }
        };
        let integration = Integration {
            latency,
            status: (!from_gateway).then(|| response.status().as_u16()),
        };
        Served {
            response,
            route: route_key,
            note,
            from_gateway,
            authorizer: call,
            integration: Some(integration),
        }
    }

    /// A REST stage's API key and usage plan check of an allowed request
    /// (nothing for the HTTP API).
    async fn meter(&self, usage_key: Option<&str>) -> Result<(), Response<Full<Bytes>>> {
        match &self.rest {
            Some(rest) => rest.plans.admit(usage_key, Instant::now()).await,
            None => Ok(()),
        }
    }

    /// Runs the Lambda authorizer (or uses its cached answer) as API Gateway does:
    /// a missing identity source is 401 without a call; an `Unauthorized`
    /// error is 401; any other failure is 500.
    ///
    /// Cached, with a TTL above 0: Allow and Deny answers alike (a simple
    /// response "fully allows or denies all API requests that match the cached
    /// identity source values"). Not cached: function errors, and the
    /// `Unauthorized` error too. "Control access to HTTP APIs with AWS Lambda
    /// authorizers" (sections "Caching authorizer responses", "Troubleshooting")
    /// caches "the authorizer result" and documents no `Unauthorized` error
    /// for HTTP APIs at all; nothing states that a 401 is cached, so it is not.
    ///
    /// `call` is set when the authorizer was invoked: its latency, and its
    /// failure if it failed (never the event or its answer's text).
    async fn authorize(
        &self,
        authorizer: &LambdaAuthorizer,
        view: &RequestView,
        route: &MatchedRoute,
        call: &mut Option<AuthorizerCall>,
    ) -> Result<Authorized, Response<Full<Bytes>>> {
        let unauthorized = || message(StatusCode::UNAUTHORIZED, "Unauthorized");
        let internal = || message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        let identity = authorizer
            .identity_sources
            .iter()
            .map(|source| view.identity_value(source, route, &self.identity))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(unauthorized)?;
        let api = self
            .rest
            .as_ref()
            .map_or(&self.identity, |rest| &rest.identity);
        let route_arn = view.route_arn(api);
        let key = AnswerCache::key(&authorizer.name, &identity);
        // AWS caches only for an authorizer with an identity source; without
        // one, every caller would share one key.
        let cacheable = !authorizer.identity_sources.is_empty();
        if let Some(answer) = cacheable
            .then(|| self.cache.get(&key, Instant::now()))
            .flatten()
        {
            self.stats.hit();
            let usage_key = answer.usage_identifier_key().map(str::to_owned);
            return Ok((
                answer.verdict(&route_arn),
                AuthNote::AuthorizerCached,
                usage_key,
            ));
        }
        self.stats.miss();
        let event = match &self.rest {
            Some(rest) => view.rest_authorizer_event(route, &rest.identity),
            None => view.authorizer_event(route, &self.identity, &identity),
        };
        // A REST authorizer always answers with an IAM policy.
        let simple = authorizer.simple_responses && self.rest.is_none();
        self.stats.invocation();
        let invoked = Instant::now();
        let result = self.lambda.invoke(&authorizer.function, &event).await;
        let mut failed = |error: &str| {
            *call = Some(AuthorizerCall {
                latency: invoked.elapsed(),
                error: Some(error.to_owned()),
            });
        };
        let answer = match result {
            Ok(Invocation::Returned(result)) => {
                Answer::parse(&result, simple).map_err(|error| {
                    tracing::error!(%error, simple, "authorizer answer refused");
                    failed("the authorizer's answer is invalid");
                    internal()
                })?
            }
            Ok(Invocation::FunctionError { message, .. }) if message == "Unauthorized" => {
                failed("Unauthorized");
                return Err(unauthorized());
            }
            Ok(Invocation::FunctionError { error_type, .. }) => {
                tracing::error!(%error_type, "authorizer failed");
                failed(&format!("the authorizer failed: {error_type}"));
                return Err(internal());
            }
            Err(error) => {
                tracing::error!(%error, "authorizer not invoked");
                failed("the authorizer was not invoked");
                return Err(internal());
            }
        };
        *call = Some(AuthorizerCall {
            latency: invoked.elapsed(),
            error: None,
        });
        let verdict = answer.verdict(&route_arn);
        let usage_key = answer.usage_identifier_key().map(str::to_owned);
        if cacheable {
            self.cache.put(key, answer, Instant::now());
        }
        Ok((verdict, AuthNote::AuthorizerCalled, usage_key))
    }

    fn match_route(&self, view: &RequestView) -> Option<(&RouteConfig, MatchedRoute)> {
        let segments: Vec<&str> = view.path.split('/').collect();
        let mut best: Option<(&RouteConfig, MatchedRoute, usize)> = None;
        for config in &self.api.routes {
            if config.method != view.method && config.method != "ANY" {
                continue;
            }
            let pattern: Vec<&str> = config.path.split('/').collect();
            if pattern.len() != segments.len() {
                continue;
            }
            let mut parameters = BTreeMap::new();
            let matched = pattern.iter().zip(&segments).all(|(p, s)| {
                match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !s.is_empty() => {
                        parameters.insert(name.to_owned(), (*s).to_owned());
                        true
                    }
                    Some(_) => false,
                    None => p == s,
                }
            });
            // The most literal route wins, as in API Gateway.
            if matched
                && best
                    .as_ref()
                    .is_none_or(|(_, _, params)| parameters.len() < *params)
            {
                let count = parameters.len();
                let route = MatchedRoute {
                    route_key: config.route_key(),
                    path_parameters: parameters,
                };
                best = Some((config, route, count));
            }
        }
        best.map(|(config, route, _)| (config, route))
    }
}

/// The path for the log, with anything shaped like a token cut to its prefix
/// (a token pasted into a URL must not reach the log).
pub(crate) fn redact(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find("cog_") {
        let tail = &rest[start + 4..];
        let run = tail.len()
            - tail
                .trim_start_matches(|c: char| c.is_ascii_alphanumeric())
                .len();
        out.push_str(&rest[..start + 4]);
        if run >= 20 {
            out.push('…');
        } else {
            out.push_str(&tail[..run]);
        }
        rest = &tail[run..];
    }
    out.push_str(rest);
    out
}

/// `127.0.0.1`, `localhost` or `[::1]`, with or without a port.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((name, port)) if port.is_empty() || valid_port(port) => name,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        },
    };
    matches!(
        name.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "::1"
    )
}

fn valid_port(text: &str) -> bool {
    text.strip_prefix(':')
        .unwrap_or(text)
        .parse::<u16>()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_host_names_are_served() {
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "[::1]",
            "127.0.0.1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1.evil.example:8080",
            "localhost.evil.example",
            "127.0.0.2:8080",
            "[::2]:8080",
            "localhost:http",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn tokens_in_paths_are_cut_from_the_log() {
        let token = format!("cog_{}", "a1B2".repeat(13) + "xy");
        assert_eq!(redact(&format!("/v1/{token}/x")), "/v1/cog_…/x");
        assert_eq!(
            redact("/v1/tokens/0123456789ABCDEF"),
            "/v1/tokens/0123456789ABCDEF"
        );
        assert_eq!(redact("/cog_short/cog_"), "/cog_short/cog_");
    }
}
