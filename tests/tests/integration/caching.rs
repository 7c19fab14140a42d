//! Both cache tiers on, as the template deploys them: API Gateway's
//! authorizer cache (the local gateway's, with its control plane) and the
//! authorizers' credential cache, kept exact by the cache invalidator. Each
//! access-narrowing change is refused within a second of the request that
//! made it, measured (not slept for) through the local gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::Instant;

use cog_integration_tests::caching::{cached_chain, refused_within_bound, warm, MEASURING, ROUTE};
use cog_integration_tests::Stack;

#[tokio::test]
async fn an_owner_revoking_a_cached_pat_is_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["cache_owner"]).await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("cache_owner").await;
    let created = chain.create_token(&cookie, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let (token, id) = (
        created["token"].as_str().unwrap(),
        created["id"].as_str().unwrap(),
    );
    warm(&chain, token, ROUTE).await;

    let since = Instant::now();
    let answer = chain
        .call(
            "DELETE",
            &format!("/v1/tokens/{id}"),
            &[("cookie", &cookie)],
            "",
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    refused_within_bound(&chain, token, ROUTE, since, "owner revocation").await;
}
