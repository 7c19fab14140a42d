//! `Idempotency-Key` on DynamoDB Local and the KMS emulator: concurrent
//! retries issue once and all get the same token; the same key with other
//! bodies lets exactly one through; an answer lost after the write commits
//! is given back by the retry; the kept record holds neither the token nor
//! the key as sent. HTTP semantics: `functions/management/tests/idempotency.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::sync::Arc;

use cog_integration_tests::proxy::FaultProxy;
use cog_integration_tests::services::{manager, policy, request};
use cog_integration_tests::{caller, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::{IssuedToken, ManagementError};
use cog_tokens::records::{AuditAction, Owner, RetryKey, StatusFilter, Timestamp};
use cog_tokens::store::{AuditLog, TokenStore};

fn retry_key(user: &str, key: &str, path: &str, body: &str) -> RetryKey {
    RetryKey::new(&format!("user:{user}"), key, "POST", path, body.as_bytes()).unwrap()
}

async fn all_tokens(store: &DynamoStore, user: &str) -> usize {
    store
        .list_tokens(
            &Owner::user(user),
            StatusFilter::All,
            Timestamp::now(),
            100,
            None,
        )
        .await
        .unwrap()
        .tokens
        .len()
}

async fn audited(store: &DynamoStore, user: &str, action: AuditAction) -> usize {
    let events = store
        .audit_events(Some(&Owner::user(user)), 100)
        .await
        .unwrap();
    events.iter().filter(|e| e.action == action).count()
}

/// Each task's result, with the other tasks' errors panicking.
async fn results(
    tasks: Vec<tokio::task::JoinHandle<Result<IssuedToken, ManagementError>>>,
) -> Vec<Result<IssuedToken, ManagementError>> {
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

/// Every task got the same token (id and secret); exactly one issued it,
/// the others were given it back.
async fn one_token_for_all(
    tasks: Vec<tokio::task::JoinHandle<Result<IssuedToken, ManagementError>>>,
) {
    let issued: Vec<IssuedToken> = results(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    for other in &issued {
        assert_eq!(other.record.id, issued[0].record.id);
        assert_eq!(other.token.expose_secret(), issued[0].token.expose_secret());
    }
    assert_eq!(issued.iter().filter(|i| !i.replayed).count(), 1);
}

#[tokio::test]
async fn ten_concurrent_retries_of_a_create_issue_one_token_and_all_get_it() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["retrier"]).await;
    let manager = Arc::new(manager(&stack, &store, policy(50)).await);
    let now = Timestamp::now();
    let key = retry_key("retrier", "k-1", "/v1/tokens", r#"{"name":"ci"}"#);
    let tasks = (0..10)
        .map(|_| {
            let (manager, key) = (Arc::clone(&manager), key.clone());
            tokio::spawn(async move {
                manager
                    .create(&caller("retrier"), request("ci"), Some(&key), now)
                    .await
            })
        })
        .collect();
    one_token_for_all(tasks).await;
    assert_eq!(all_tokens(&store, "retrier").await, 1);
    assert_eq!(
        audited(&store, "retrier", AuditAction::TokenCreate).await,
        1
    );
}

#[tokio::test]
async fn one_key_sent_with_ten_different_bodies_lets_exactly_one_through() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["mixer"]).await;
    let manager = Arc::new(manager(&stack, &store, policy(50)).await);
    let now = Timestamp::now();
    let tasks = (0..10)
        .map(|i| {
            let manager = Arc::clone(&manager);
            let name = format!("t{i}");
            let key = retry_key(
                "mixer",
                "k-1",
                "/v1/tokens",
                &format!(r#"{{"name":"{name}"}}"#),
            );
            tokio::spawn(async move {
                manager
                    .create(&caller("mixer"), request(&name), Some(&key), now)
                    .await
            })
        })
        .collect();
    let mut issued = 0;
    let mut refused = 0;
    for result in results(tasks).await {
        match result {
            Ok(token) => {
                assert!(!token.replayed);
                issued += 1;
            }
            Err(ManagementError::IdempotencyKeyReused) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((issued, refused), (1, 9));
    assert_eq!(all_tokens(&store, "mixer").await, 1);
}

#[tokio::test]
async fn ten_concurrent_retries_of_a_rotation_rotate_once() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["rotor"]).await;
    let manager = Arc::new(manager(&stack, &store, policy(50)).await);
    let now = Timestamp::now();
    let old = manager
        .create(&caller("rotor"), request("ci"), None, now)
        .await
        .unwrap();
    let path = format!("/v1/tokens/{}/rotate", old.record.id);
    let key = retry_key("rotor", "r-1", &path, r#"{"grace_seconds":60}"#);
    let tasks = (0..10)
        .map(|_| {
            let (manager, key) = (Arc::clone(&manager), key.clone());
            let id = old.record.id.to_string();
            tokio::spawn(async move {
                manager
                    .rotate(&caller("rotor"), &id, Some(60), Some(&key), now)
                    .await
            })
        })
        .collect();
    one_token_for_all(tasks).await;
    assert_eq!(all_tokens(&store, "rotor").await, 2);
    assert_eq!(audited(&store, "rotor", AuditAction::TokenRotate).await, 1);
    // The old token in its grace, the new one active: two slots.
    assert_eq!(
        store
            .active_token_count(&Owner::user("rotor"))
            .await
            .unwrap(),
        2
    );
}

/// The answer to a create is lost after DynamoDB committed it (the client
/// gave up waiting): the retry with the key gets that token, secret and all.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_given_back_by_its_retry() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["unlucky"]).await;
    let proxy = FaultProxy::dynamodb().await;
    let through_proxy = DynamoStore::new(proxy.client(1).await, store.table().to_owned());
    let first = Arc::new(manager(&stack, &through_proxy, policy(50)).await);
    let now = Timestamp::now();
    let key = retry_key("unlucky", "k-lost", "/v1/tokens", r#"{"name":"ci"}"#);

    let mut held = proxy.pause_next_answer("TransactWriteItems");
    let lost = {
        let (first, key) = (Arc::clone(&first), key.clone());
        tokio::spawn(async move {
            first
                .create(&caller("unlucky"), request("ci"), Some(&key), now)
                .await
        })
    };
    held.reached().await;
    lost.abort();
    drop(held);
    assert_eq!(
        all_tokens(&store, "unlucky").await,
        1,
        "the write committed"
    );

    let retry = manager(&stack, &store, policy(50)).await;
    let again = retry
        .create(&caller("unlucky"), request("ci"), Some(&key), now)
        .await
        .unwrap();
    assert!(again.replayed);
    let stored = store.get_token(&again.record.id).await.unwrap().unwrap();
    assert_eq!(stored.owner, Owner::user("unlucky"));
    assert_eq!(again.token.id(), stored.id);
    assert_eq!(all_tokens(&store, "unlucky").await, 1);
}

#[tokio::test]
async fn the_kept_record_holds_neither_the_token_nor_the_key_as_sent() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["keeper"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let header = "visible-idempotency-key-0001";
    let key = retry_key("keeper", header, "/v1/tokens", r#"{"name":"ci"}"#);
    let issued = manager
        .create(
            &caller("keeper"),
            request("ci"),
            Some(&key),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let items = stack
        .dynamodb
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let kept: Vec<_> = items
        .iter()
        .filter(|item| {
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| pk.starts_with("IDEMPOTENCY#"))
        })
        .collect();
    assert_eq!(kept.len(), 1);
    let text = format!("{:?}", kept[0]);
    let secret = issued.token.expose_secret();
    // Neither the token, nor its secret part, nor the key as sent.
    for needle in [secret, &secret[20..52], header] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
    // Nor in any binary attribute, as bytes.
    for value in kept[0].values() {
        if let Ok(bytes) = value.as_b() {
            let bytes = bytes.as_ref();
            assert!(!bytes.windows(32).any(|w| w == &secret.as_bytes()[20..52]));
            assert!(!bytes.windows(header.len()).any(|w| w == header.as_bytes()));
        }
    }
    // It expires: a TTL a day on.
    let ttl: i64 = kept[0]["ttl"].as_n().unwrap().parse().unwrap();
    let expected = Timestamp::now().plus_seconds(86_400).as_seconds();
    assert!((expected - ttl).abs() < 120, "{ttl} vs {expected}");
}

/// A record sealed under a pepper newer than the one an instance loaded
/// (a rotation since it started) is opened after a reload, not refused.
#[tokio::test]
async fn an_instance_with_an_older_pepper_ring_replays_a_record_sealed_under_a_newer_one() {
    let stack = Stack::connect().await;
    let (store, kms_key) = stack.seeded(&["ringer"]).await;
    let stale = manager(&stack, &store, policy(50)).await;
    cog_tokens::aws::kms::add_pepper_version(&stack.kms, &store, &kms_key, "test")
        .await
        .unwrap();
    let fresh = manager(&stack, &store, policy(50)).await;
    let now = Timestamp::now();
    let key = retry_key("ringer", "k-ring", "/v1/tokens", r#"{"name":"ci"}"#);
    let first = fresh
        .create(&caller("ringer"), request("ci"), Some(&key), now)
        .await
        .unwrap();
    assert_eq!(first.record.pepper_version.0, 2);
    let again = stale
        .create(&caller("ringer"), request("ci"), Some(&key), now)
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.token.expose_secret(), first.token.expose_secret());
}
