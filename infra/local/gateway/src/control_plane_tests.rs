use super::*;
use std::time::Duration;

use crate::authorizer::Answer;

const SIGNED: &str =
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/apigateway/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=0000";
const HTTP_FLUSH: &str = "/v2/apis/local/stages/%24default/cache/authorizers";
const REST_FLUSH: &str = "/restapis/abc123/stages/prod/cache/authorizers";

fn plane(rate: f64, burst: u32, now: Instant) -> ControlPlane {
    ControlPlane::new(
        ApiIdentity {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            api_id: "local".into(),
            stage: "$default".into(),
        },
        vec!["abc123/prod".parse().unwrap()],
        Arc::new(AnswerCache::new(Duration::from_secs(300))),
        Arc::new(CacheStats::default()),
        TokenBucket::new(rate, burst, now),
    )
}

struct Answered {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answered {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

fn call(
    plane: &ControlPlane,
    method: Method,
    path: &str,
    extra: &[(&str, &str)],
    now: Instant,
) -> Answered {
    let mut headers = HeaderMap::new();
    headers.insert("host", "127.0.0.1:4510".parse().unwrap());
    if !path.starts_with(DEV_PREFIX) {
        headers.insert("authorization", SIGNED.parse().unwrap());
    }
    for (name, value) in extra {
        let name = hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
        match *value {
            "" => headers.remove(&name),
            _ => headers.insert(name, value.parse().unwrap()),
        };
    }
    let response = plane.respond(&method, &path.parse().unwrap(), &headers, now);
    let (parts, body) = response.into_parts();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let body = runtime.block_on(body.collect()).unwrap().to_bytes();
    Answered {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn fill(plane: &ControlPlane, now: Instant, count: usize) {
    let yes = Answer::parse(&json!({"isAuthorized": true}), true).unwrap();
    for i in 0..count {
        let key = AnswerCache::key("CogToken", &[format!("Bearer {i}")]);
        plane.cache.put(key, yes.clone(), now);
    }
}

#[test]
fn both_flush_paths_are_matched_with_the_stage_percent_encoded_or_not() {
    let http = |stage: &str| Flush::Http {
        api_id: "local".into(),
        stage: stage.into(),
    };
    let delete = |path: &str| flush_call(&Method::DELETE, path);
    assert_eq!(delete(HTTP_FLUSH), Some(http("$default")));
    assert_eq!(
        delete("/v2/apis/local/stages/$default/cache/authorizers"),
        Some(http("$default"))
    );
    assert_eq!(
        delete("/v2/apis/local/stages/%24DEFAULT/cache/authorizers"),
        Some(http("$DEFAULT"))
    );
    assert_eq!(
        delete(REST_FLUSH),
        Some(Flush::Rest {
            rest_api_id: "abc123".into(),
            stage: "prod".into()
        })
    );
    for path in [
        "/v2/apis/local/stages/%24default/cache/data",
        "/v2/apis/local/stages/%24default/cache/authorizers/",
        "/restapis/abc123/stages/prod/cache/data",
        "/apis/local/stages/%24default/cache/authorizers",
        "/v2/apis/local/stages/%ff/cache/authorizers",
        "/",
    ] {
        assert_eq!(delete(path), None, "{path}");
    }
    assert_eq!(flush_call(&Method::POST, HTTP_FLUSH), None);
    assert_eq!(flush_call(&Method::GET, REST_FLUSH), None);
}

#[test]
fn rest_stages_are_read_as_id_slash_stage() {
    assert_eq!(
        "a1b2c3/prod".parse::<RestStage>(),
        Ok(RestStage {
            rest_api_id: "a1b2c3".into(),
            stage: "prod".into()
        })
    );
    for bad in ["a1b2c3", "/prod", "a1b2c3/", "a/b/c", "a b/prod"] {
        assert!(bad.parse::<RestStage>().is_err(), "{bad}");
    }
}

#[test]
fn a_flush_clears_every_answer_and_answers_as_aws_does() {
    let now = Instant::now();
    let plane = plane(10.0, 40, now);
    fill(&plane, now, 3);
    let reset = call(&plane, Method::DELETE, HTTP_FLUSH, &[], now);
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    assert_eq!(reset.body, "");
    assert!(reset.header("x-amzn-requestid").is_some());
    assert_eq!(plane.cache.live(now), 0);

    fill(&plane, now, 2);
    let flush = call(&plane, Method::DELETE, REST_FLUSH, &[], now);
    assert_eq!(flush.status, StatusCode::ACCEPTED);
    assert_eq!(flush.body, "");
    assert_eq!(plane.cache.live(now), 0);

    let stats = call(&plane, Method::GET, "/_dev/authorizer-cache", &[], now).json();
    assert_eq!(stats["flushes"], json!({"http": 1, "rest": 1}));
    assert!(stats["last_flush_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
}

#[test]
fn unknown_apis_and_stages_are_not_found_and_flush_nothing() {
    let now = Instant::now();
    let plane = plane(10.0, 40, now);
    fill(&plane, now, 1);
    let cases = [
        (
            "/v2/apis/other/stages/%24default/cache/authorizers",
            "Invalid API identifier specified 000000000000:other",
        ),
        (
            "/v2/apis/local/stages/prod/cache/authorizers",
            "Invalid stage identifier specified",
        ),
        (
            "/restapis/local/stages/%24default/cache/authorizers",
            "Invalid API identifier specified 000000000000:local",
        ),
        (
            "/restapis/abc123/stages/dev/cache/authorizers",
            "Invalid stage identifier specified",
        ),
    ];
    for (path, text) in cases {
        let answer = call(&plane, Method::DELETE, path, &[], now);
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.header("x-amzn-errortype"), Some("NotFoundException"));
        assert_eq!(answer.json(), json!({ "message": text }), "{path}");
    }
    assert_eq!(plane.cache.live(now), 1);
}

#[test]
fn a_call_without_a_sigv4_authorization_header_is_refused() {
    let now = Instant::now();
    let plane = plane(10.0, 40, now);
    fill(&plane, now, 1);
    for authorization in ["", "Bearer cog_abc", "aws4-hmac-sha256 lowercase"] {
        let answer = call(
            &plane,
            Method::DELETE,
            HTTP_FLUSH,
            &[("authorization", authorization)],
            now,
        );
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{authorization:?}");
        assert_eq!(
            answer.header("x-amzn-errortype"),
            Some("MissingAuthenticationTokenException")
        );
        assert_eq!(
            answer.json(),
            json!({"message": "Missing Authentication Token"})
        );
    }
    assert_eq!(plane.cache.live(now), 1);
    let unknown = call(&plane, Method::GET, "/v2/apis", &[], now);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.header("x-amzn-errortype"),
        Some("UnknownOperationException")
    );
}

#[test]
fn both_paths_share_the_quota_and_a_throttled_call_says_when_to_retry() {
    let now = Instant::now();
    let plane = plane(1.0, 2, now);
    assert_eq!(
        call(&plane, Method::DELETE, HTTP_FLUSH, &[], now).status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&plane, Method::DELETE, REST_FLUSH, &[], now).status,
        StatusCode::ACCEPTED
    );
    fill(&plane, now, 1);
    let throttled = call(&plane, Method::DELETE, REST_FLUSH, &[], now);
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        throttled.header("x-amzn-errortype"),
        Some("TooManyRequestsException")
    );
    assert_eq!(throttled.header("retry-after"), Some("1"));
    assert_eq!(throttled.json(), json!({"message": "Too Many Requests"}));
    assert_eq!(
        plane.cache.live(now),
        1,
        "a throttled flush flushes nothing"
    );
    let later = now + Duration::from_secs(1);
    assert_eq!(
        call(&plane, Method::DELETE, HTTP_FLUSH, &[], later).status,
        StatusCode::NO_CONTENT
    );
    let stats = call(&plane, Method::GET, "/_dev/authorizer-cache", &[], later).json();
    assert_eq!(stats["throttled"], 1);
    assert_eq!(stats["flushes"], json!({"http": 2, "rest": 1}));
}

#[test]
fn fail_next_fails_that_many_flush_calls_then_flushing_resumes() {
    let now = Instant::now();
    let plane = plane(10.0, 40, now);
    fill(&plane, now, 1);
    let armed = call(
        &plane,
        Method::POST,
        "/_dev/control-plane/fail-next?count=2&status=500",
        &[],
        now,
    );
    assert_eq!(armed.json(), json!({"count": 2, "status": 500}));
    for path in [HTTP_FLUSH, REST_FLUSH] {
        let failed = call(&plane, Method::DELETE, path, &[], now);
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failed.header("x-amzn-errortype"), Some("InternalFailure"));
    }
    assert_eq!(plane.cache.live(now), 1);
    assert_eq!(
        call(&plane, Method::DELETE, HTTP_FLUSH, &[], now).status,
        StatusCode::NO_CONTENT
    );

    call(
        &plane,
        Method::POST,
        "/_dev/control-plane/fail-next?count=1&status=429",
        &[],
        now,
    );
    let failed = call(&plane, Method::DELETE, REST_FLUSH, &[], now);
    assert_eq!(failed.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        failed.header("x-amzn-errortype"),
        Some("TooManyRequestsException")
    );
    assert_eq!(failed.header("retry-after"), Some("1"));
    let stats = call(&plane, Method::GET, "/_dev/authorizer-cache", &[], now).json();
    assert_eq!(stats["failed_injected"], 3);
    assert_eq!(stats["throttled"], 0);

    for query in [
        "count=1&status=503",
        "count=-1&status=500",
        "status=500",
        "",
    ] {
        let path = format!("/_dev/control-plane/fail-next?{query}");
        let refused = call(&plane, Method::POST, &path, &[], now);
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{query}");
    }
}

#[test]
fn the_dev_stats_report_live_entries_and_reset_to_zero() {
    let now = Instant::now();
    let plane = plane(10.0, 40, now);
    fill(&plane, now, 4);
    plane.stats.hit();
    plane.stats.miss();
    plane.stats.invocation();
    call(&plane, Method::DELETE, HTTP_FLUSH, &[], now);
    fill(&plane, now, 2);
    let stats = call(&plane, Method::GET, "/_dev/authorizer-cache", &[], now);
    assert_eq!(stats.status, StatusCode::OK);
    let stats = stats.json();
    assert_eq!(
        (
            &stats["entries"],
            &stats["hits"],
            &stats["misses"],
            &stats["invocations"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(1))
    );
    let reset = call(
        &plane,
        Method::POST,
        "/_dev/authorizer-cache/reset-stats",
        &[],
        now,
    );
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let stats = call(&plane, Method::GET, "/_dev/authorizer-cache", &[], now).json();
    assert_eq!(stats["entries"], 2, "resetting counters keeps the cache");
    assert_eq!(stats["hits"], 0);
    assert_eq!(stats["flushes"], json!({"http": 0, "rest": 0}));
    assert_eq!(stats["last_flush_unix_ms"], json!(null));
    let missing = call(&plane, Method::GET, "/_dev/session", &[], now);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[test]
fn browsers_and_rebound_host_names_are_refused() {
    let now = Instant::now();
    let plane = plane(10.0, 40, now);
    fill(&plane, now, 1);
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], StatusCode);
    let refused: [Case; 4] = [
        (
            HTTP_FLUSH,
            &[("origin", "https://evil.example")],
            StatusCode::FORBIDDEN,
        ),
        (
            "/_dev/control-plane/fail-next?count=9&status=500",
            &[("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
        ),
        (
            "/_dev/authorizer-cache/reset-stats",
            &[("origin", "null")],
            StatusCode::FORBIDDEN,
        ),
        (
            HTTP_FLUSH,
            &[("host", "rebound.evil.example:4510")],
            StatusCode::MISDIRECTED_REQUEST,
        ),
    ];
    for (path, headers, status) in refused {
        let method = if path.starts_with(DEV_PREFIX) {
            Method::POST
        } else {
            Method::DELETE
        };
        assert_eq!(call(&plane, method, path, headers, now).status, status);
    }
    assert_eq!(plane.cache.live(now), 1);
    assert_eq!(
        call(&plane, Method::DELETE, HTTP_FLUSH, &[], now).status,
        StatusCode::NO_CONTENT,
        "no failure was armed"
    );
}
