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
use crate::{handle_request, LeakService, GITHUB_ROUTE};

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
