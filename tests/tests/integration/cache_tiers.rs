//! The two cache tiers' mechanisms against the real DynamoDB Local: the
//! authorizer's credential cache and the revocation feed that keeps it
//! exact, and the in-flight race at the gateway (an Allow computed before a
//! revocation, answered after the flush), reproduced with a held read.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test
#![allow(clippy::print_stdout)] // the race test prints its measured figure

use std::sync::Arc;
use std::time::{Duration, Instant};

use cog_integration_tests::caching::{cache_stats, time_to_refusal, ROUTE};
use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::proxy::FaultProxy;
use cog_integration_tests::services::{authorizer_with, DynamoAuthorizer};
use cog_integration_tests::{new_token, Stack};
use cog_tokens::authorize::credentials::CredentialCacheSettings;
use cog_tokens::authorize::{CachingSettings, Decision, DenyReason, Source};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::records::{AuditAction, AuditEvent, ChangeKey, Owner, Revocation, Timestamp};
use cog_tokens::store::feed::RevocationFeed;
use cog_tokens::store::pepper::PepperSource;
use cog_tokens::store::TokenStore;
use cog_tokens::PlainToken;

const FEED_INTERVAL: Duration = Duration::from_millis(300);

fn first_tier() -> CachingSettings {
    CachingSettings {
        credentials: Some(CredentialCacheSettings {
            feed_interval: FEED_INTERVAL,
            ..CredentialCacheSettings::default()
        }),
        ..CachingSettings::default()
    }
}

/// Two stored tokens of `user` (beta account seeded), and an authorizer
/// with the first tier on whose DynamoDB requests go through `proxy`.
async fn setup(user: &str) -> (DynamoStore, [PlainToken; 2], DynamoAuthorizer, FaultProxy) {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&[user]).await;
    let proxy = FaultProxy::dynamodb().await;
    let proxied = DynamoStore::new(proxy.client(1).await, store.table());
    let ring = cog_tokens::aws::kms::KmsPepperSource::new(stack.kms.clone(), store.clone())
        .load_ring()
        .await
        .unwrap();
    let owner = Owner::user(user);
    let now = Timestamp::now();
    let tokens =
        [(); 2].map(|_| new_token(&owner, ring.current(), now, Some(now.plus_seconds(3600))));
    for (_, record) in &tokens {
        let audit = AuditEvent::new("test", AuditAction::TokenCreate, owner.clone(), now)
            .for_token(record.id);
        store.create_token(record, 50, &audit).await.unwrap();
    }
    let authorizer = authorizer_with(&stack, &proxied, Duration::from_secs(30), first_tier()).await;
    proxy.take_operations();
    (store, tokens.map(|(token, _)| token), authorizer, proxy)
}

async fn decide(authorizer: &DynamoAuthorizer, token: &PlainToken) -> Decision {
    let header = format!("Bearer {}", token.expose_secret());
    authorizer
        .authorize(Some(&header), None, Source::default(), Timestamp::now())
        .await
        .unwrap()
}

async fn revoke(store: &DynamoStore, token: &PlainToken, user: &str) {
    let now = Timestamp::now();
    let revocation = Revocation {
        at: now,
        by: "test".into(),
        reason: "test".into(),
    };
    let audit = AuditEvent::new("test", AuditAction::TokenRevoke, Owner::user(user), now)
        .for_token(token.id());
    store
        .revoke_token(&token.id(), &revocation, &audit)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_warm_authorizer_answers_a_repeated_credential_with_no_dynamodb_read_but_the_feed() {
    let (_store, [token, _], authorizer, proxy) = setup("tier_warm").await;
    assert!(matches!(
        decide(&authorizer, &token).await,
        Decision::Allow(_)
    ));
    let cold = proxy.take_operations();
    assert!(
        cold.iter()
            .any(|op| op == "GetItem" || op == "BatchGetItem"),
        "{cold:?}"
    );
    authorizer.finish_background_writes().await;
    proxy.take_operations();

    let started = Instant::now();
    let mut answers = 0;
    while started.elapsed() < FEED_INTERVAL * 3 {
        assert!(matches!(
            decide(&authorizer, &token).await,
            Decision::Allow(_)
        ));
        answers += 1;
    }
    let operations = proxy.take_operations();
    // Only the feed, at most once per interval (and once more at the edges).
    assert!(
        operations.iter().all(|op| op == "GetItem"),
        "{operations:?}"
    );
    assert!(
        operations.len() <= 5,
        "{} reads for {answers} answers: {operations:?}",
        operations.len()
    );
    assert!(answers > 20, "{answers}");
}

#[tokio::test]
async fn a_revocation_the_feed_names_is_refused_within_one_feed_interval() {
    let (store, [token, _], authorizer, _proxy) = setup("tier_feed").await;
    assert!(matches!(
        decide(&authorizer, &token).await,
        Decision::Allow(_)
    ));
    assert!(matches!(
        decide(&authorizer, &token).await,
        Decision::Allow(_)
    ));

    // Revoked, not yet in the feed: the cached copy still answers, which is
    // why every change must reach the feed.
    revoke(&store, &token, "tier_feed").await;
    assert!(matches!(
        decide(&authorizer, &token).await,
        Decision::Allow(_)
    ));

    store
        .append_to_feed(&[ChangeKey::Token(token.id())], Timestamp::now())
        .await
        .unwrap();
    let fed = Instant::now();
    loop {
        match decide(&authorizer, &token).await {
            Decision::Unauthorized(DenyReason::Revoked) => break,
            Decision::Allow(_) => assert!(fed.elapsed() < FEED_INTERVAL * 2, "still allowed"),
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        fed.elapsed() <= FEED_INTERVAL + Duration::from_millis(100),
        "{:?}",
        fed.elapsed()
    );
}

#[tokio::test]
async fn a_record_read_before_a_change_the_feed_already_named_is_not_kept() {
    let (store, [token, other], authorizer, proxy) = setup("tier_race").await;
    let authorizer = Arc::new(authorizer);
    // `other` is cached: its hits make the instance read the feed.
    assert!(matches!(
        decide(&authorizer, &other).await,
        Decision::Allow(_)
    ));
    authorizer.finish_background_writes().await;

    // `token`'s read is held after DynamoDB answered: state before the change.
    let mut held = proxy.pause_next_answer("GetItem");
    let deciding = {
        let (authorizer, token) = (Arc::clone(&authorizer), token.clone());
        tokio::spawn(async move { decide(&authorizer, &token).await })
    };
    held.reached().await;
    revoke(&store, &token, "tier_race").await;
    store
        .append_to_feed(&[ChangeKey::Token(token.id())], Timestamp::now())
        .await
        .unwrap();
    // The instance reads the feed (naming `token`, which it does not hold yet).
    tokio::time::sleep(FEED_INTERVAL).await;
    assert!(matches!(
        decide(&authorizer, &other).await,
        Decision::Allow(_)
    ));
    held.release();
    // The in-flight answer was computed from the earlier state...
    assert!(matches!(deciding.await.unwrap(), Decision::Allow(_)));
    // ...and its record was not kept: the very next request reads again,
    // well within the feed interval (the feed would not name it again).
    assert_eq!(
        decide(&authorizer, &token).await,
        Decision::Unauthorized(DenyReason::Revoked)
    );
}

/// A chain with both tiers on whose authorizer reads DynamoDB through
/// `proxy`, with `deadline_ms` as the authorizer's deadline (and so the
/// invalidator's settle time).
fn proxied_chain(store: &DynamoStore, proxy: &FaultProxy, deadline_ms: &str) -> Chain {
    let deadline = |function: &str| {
        (
            function.to_owned(),
            "AUTHORIZER_DEADLINE_MS".to_owned(),
            deadline_ms.to_owned(),
        )
    };
    Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        caching: true,
        one_function_env: vec![
            (
                "authorizer".into(),
                "AWS_ENDPOINT_URL_DYNAMODB".into(),
                proxy.url.clone(),
            ),
            deadline("authorizer"),
            deadline("cache-invalidator"),
        ],
        ..ChainConfig::default()
    })
}

async fn flushes(chain: &Chain) -> u64 {
    cache_stats(chain).await["flushes"]["http"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn an_allow_put_back_by_an_authorization_in_flight_at_the_flush_is_removed_by_the_second_flush(
) {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["racer"]).await;
    let proxy = FaultProxy::dynamodb().await;
    // A 5 s deadline makes the window between the two flushes long enough
    // to observe, even on a loaded machine; the default (400 ms) narrows
    // it, it does not remove it.
    let chain = Arc::new(proxied_chain(&store, &proxy, "5000"));
    let cookie = chain.sign_in("racer").await;
    let created = chain.create_token(&cookie, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    // The authorizer reads the token; its answer waits in the proxy.
    let mut held = proxy.pause_next_answer("GetItem");
    let in_flight = {
        let (chain, token) = (Arc::clone(&chain), token.clone());
        tokio::spawn(async move { chain.with_token("GET", ROUTE, &token).await })
    };
    held.reached().await;
    let since = Instant::now();
    let revoked = chain
        .call(
            "DELETE",
            &format!("/v1/tokens/{id}"),
            &[("cookie", &cookie)],
            "",
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    while flushes(&chain).await == 0 {
        assert!(since.elapsed() < Duration::from_secs(5), "no first flush");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    held.release();

    // Read before the revocation: allowed, and cached after the flush.
    assert_eq!(in_flight.await.unwrap().status, 200);
    let invocations = cache_stats(&chain).await["invocations"].as_u64().unwrap();
    assert_eq!(chain.with_token("GET", ROUTE, &token).await.status, 200);
    assert_eq!(
        cache_stats(&chain).await["invocations"].as_u64().unwrap(),
        invocations,
        "the stale Allow is served from the gateway's cache"
    );
    // The second flush removes it: refused long before the TTL.
    let took = time_to_refusal(&chain, &token, ROUTE, since).await;
    println!(
        "in-flight race: refused {} ms after the revocation",
        took.as_millis()
    );
    assert!(
        took < Duration::from_millis(5_000 + 300 + 3_000),
        "{took:?}"
    );
    assert!(flushes(&chain).await >= 2);
}

#[tokio::test]
async fn an_authorization_slower_than_its_deadline_fails_closed_and_leaves_nothing_cached() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["slowpoke"]).await;
    let proxy = FaultProxy::dynamodb().await;
    let chain = Arc::new(proxied_chain(&store, &proxy, "400"));
    let cookie = chain.sign_in("slowpoke").await;
    let created = chain.create_token(&cookie, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.json()["token"].as_str().unwrap().to_owned();

    let mut held = proxy.pause_next_answer("GetItem");
    let slow = {
        let (chain, token) = (Arc::clone(&chain), token.clone());
        tokio::spawn(async move { chain.with_token("GET", ROUTE, &token).await })
    };
    held.reached().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    held.release();
    assert_eq!(
        slow.await.unwrap().status,
        500,
        "an answer past the deadline is a fault"
    );
    assert_eq!(cache_stats(&chain).await["entries"].as_u64().unwrap(), 0);

    let invocations = cache_stats(&chain).await["invocations"].as_u64().unwrap();
    assert_eq!(chain.with_token("GET", ROUTE, &token).await.status, 200);
    assert_eq!(
        cache_stats(&chain).await["invocations"].as_u64().unwrap(),
        invocations + 1,
        "nothing was cached: the next request asks the authorizer"
    );
}

#[tokio::test]
async fn with_the_gateway_cache_on_an_allow_waits_for_its_last_used_write() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["toucher"]).await;
    let proxy = FaultProxy::dynamodb().await;
    let chain = Arc::new(proxied_chain(&store, &proxy, "2000"));
    let cookie = chain.sign_in("toucher").await;
    let created = chain.create_token(&cookie, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let token = created["token"].as_str().unwrap().to_owned();
    let id: cog_tokens::token::TokenId = created["id"].as_str().unwrap().parse().unwrap();

    let mut held = proxy.pause_next("UpdateItem");
    let request = {
        let (chain, token) = (Arc::clone(&chain), token.clone());
        tokio::spawn(async move { chain.with_token("GET", ROUTE, &token).await })
    };
    held.reached().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !request.is_finished(),
        "answered before last_used_at was written"
    );
    held.release();
    assert_eq!(request.await.unwrap().status, 200);
    let stored = store.get_token(&id).await.unwrap().unwrap();
    assert!(stored.last_used_at.is_some());
}

#[tokio::test]
async fn concurrent_feed_writers_lose_no_entry_and_an_overflow_resets_the_feed() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let writers = (0..4).map(|writer| {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..5 {
                let key = ChangeKey::Org(format!("org-{writer}-{n}"));
                store
                    .append_to_feed(&[key], Timestamp::now())
                    .await
                    .unwrap();
            }
        })
    });
    for writer in writers {
        writer.await.unwrap();
    }
    let feed = store.read_feed().await.unwrap();
    assert_eq!(feed.entries.len(), 20, "{:?}", feed.entries);
    assert_eq!(feed.reset_at, None);

    let many: Vec<ChangeKey> = (0..cog_tokens::store::feed::FEED_MAX_ENTRIES)
        .map(|n| ChangeKey::Org(format!("flood-{n}")))
        .collect();
    let at = Timestamp::now();
    store.append_to_feed(&many, at).await.unwrap();
    let feed = store.read_feed().await.unwrap();
    assert!(feed.entries.is_empty());
    assert_eq!(feed.reset_at, Some(at));
}
