//! The handler's answers when GitHub's key set cannot be had.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cog_tokens::management::leaks::LeakResponder;
use cog_tokens::memory::{FixedPeppers, MemoryStore};
use cog_tokens::records::Timestamp;
use cog_tokens::store::pepper::PepperKeeper;
use lambda_http::Body;

use crate::github_keys::{GitHubKeys, KeyCachePolicy, KeySetError, KeySource};
use crate::{handle_counted, handle_request, LeakService, GITHUB_ROUTE};

/// GitHub's key endpoint, down.
struct Down;

#[async_trait]
impl KeySource for Down {
    async fn fetch(&self) -> Result<String, KeySetError> {
        Err(KeySetError("connection refused".into()))
    }
}

async fn service(keys: GitHubKeys) -> LeakService<MemoryStore, FixedPeppers> {
    let store = Arc::new(MemoryStore::new());
    let peppers = PepperKeeper::load(FixedPeppers::new(&[1]), Duration::from_secs(30))
        .await
        .unwrap();
    LeakService {
        responder: LeakResponder::new(Arc::clone(&store), peppers),
        limiter: store,
        github_keys: keys,
        public_requests_per_minute: 20,
    }
}

fn report(key_id: &str) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri(GITHUB_ROUTE)
        .header("github-public-key-identifier", key_id)
        .header("github-public-key-signature", "MEUCIQ==")
        .body(Body::from(r#"[{"token":"cog_x","type":"t"}]"#))
        .unwrap()
}

#[tokio::test]
async fn reports_get_503_with_retry_after_while_no_key_set_was_ever_fetched() {
    let policy = KeyCachePolicy {
        ttl: Duration::from_secs(3600),
        min_fetch_interval: Duration::from_secs(60),
    };
    let service = service(GitHubKeys::fetched(Down, policy)).await;
    for attempt in 0..3 {
        let response = handle_request(&service, report("k1"), Timestamp::now()).await;
        assert_eq!(response.status(), 503, "attempt {attempt}");
        let retry: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "attempt {attempt}: {retry}");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["code"], "service_unavailable");
    }
}

fn public_revoke(path: &str, body: &str) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri(path)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn given_reports_then_the_tally_counts_tokens_and_failures_and_names_the_route_template() {
    let policy = KeyCachePolicy {
        ttl: Duration::from_secs(3600),
        min_fetch_interval: Duration::from_secs(60),
    };
    let service = service(GitHubKeys::fetched(Down, policy)).await;
    let (_, down) = handle_counted(&service, report("k1"), Timestamp::now()).await;
    assert_eq!(down.route, "POST /v1/secret-scanning/github");
    assert_eq!((down.status, down.failed, down.reported), (503, true, 0));

    let body = r#"{"credentials": ["cog_not-ours", "hello"]}"#;
    let request = public_revoke(crate::PUBLIC_REVOKE_ROUTE, body);
    let (_, tally) = handle_counted(&service, request, Timestamp::now()).await;
    assert_eq!(tally.route, "POST /v1/credentials/revoke");
    assert_eq!(
        (
            tally.status,
            tally.reported,
            tally.revoked,
            tally.false_positives,
            tally.failed
        ),
        (202, 2, 0, 2, false)
    );
    let mut aggregate = cog_tokens::metrics::Aggregate::new();
    crate::record_tally(&mut aggregate, &tally);
    let lines = aggregate.lines(crate::FUNCTION_NAME, 1);
    // The leak counters under `Function`, the request under its route and status.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains("cog_not-ours")));
    let leaks: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(leaks["Function"], "leak-response");
    assert_eq!(leaks["LeakTokensReported"], 2);
    assert_eq!(leaks["LeakTokensRevoked"], 0);
    assert_eq!(leaks["LeakFalsePositives"], 2);
    assert_eq!(leaks["LeakResponseFailures"], 0);
    let requests: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(requests["Route"], "POST /v1/credentials/revoke");
    assert_eq!(requests["Status"], "202");
    assert_eq!(requests["Requests"], 1);

    let (_, stray) = handle_counted(
        &service,
        public_revoke("/v1/credentials/revoke/cog_in-the-path", "{}"),
        Timestamp::now(),
    )
    .await;
    assert_eq!((stray.route, stray.status), ("unmatched", 404));
}
