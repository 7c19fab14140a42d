//! The management service against DynamoDB Local and moto's KMS: isolation
//! between users, the limit under concurrency, and a rotation that fails
//! half-way.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::sync::Arc;
use std::time::Duration;

use cog_integration_tests::{caller, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::KmsPepperSource;
use cog_tokens::management::{IssuancePolicy, ManagementError, TokenManager, TokenRequest};
use cog_tokens::records::{
    AuditAction, AuditEvent, Owner, Revocation, StatusFilter, Timestamp, TokenStatus,
};
use cog_tokens::store::pepper::PepperKeeper;
use cog_tokens::store::{AuditLog, TokenStore};

type Manager = TokenManager<DynamoStore, KmsPepperSource<DynamoStore>>;

async fn setup(limit: u32) -> (Stack, DynamoStore, Arc<Manager>) {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["alice", "bob"]).await;
    let peppers = PepperKeeper::load(
        KmsPepperSource::new(stack.kms.clone(), store.clone()),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let policy = IssuancePolicy {
        scope_catalog: vec!["tokens:read".into()],
        default_expiry_days: 30,
        max_expiry_days: 366,
        allow_non_expiring: false,
        max_active_tokens: limit,
        max_rotation_grace_seconds: 3600,
        role_catalog: vec!["admin".into(), "deployer".into(), "viewer".into()],
        max_service_users_per_org: 100,
        max_keys_per_service_user: 10,
        idle_expiry_days: Some(365),
    };
    let manager = Arc::new(TokenManager::new(Arc::new(store.clone()), peppers, policy));
    (stack, store, manager)
}

fn request(name: &str) -> TokenRequest {
    TokenRequest {
        name: name.into(),
        scopes: vec!["tokens:read".into()],
        expires_in_days: None,
        allowed_ips: Vec::new(),
        orgs: None,
        rate_limit: None,
    }
}

#[tokio::test]
async fn user_a_cannot_read_rotate_or_revoke_user_bs_tokens() {
    let (_stack, store, manager) = setup(50).await;
    let now = Timestamp::now();
    let bobs = manager
        .create(&caller("bob"), request("bob's"), None, now)
        .await
        .unwrap();
    let id = bobs.record.id.to_string();

    assert!(matches!(
        manager.get(&caller("alice"), &id).await,
        Err(ManagementError::TokenNotFound)
    ));
    assert!(matches!(
        manager.rotate(&caller("alice"), &id, None, None, now).await,
        Err(ManagementError::TokenNotFound)
    ));
    assert!(matches!(
        manager.revoke(&caller("alice"), &id, now).await,
        Err(ManagementError::TokenNotFound)
    ));
    assert_eq!(manager.revoke_all(&caller("alice"), now).await.unwrap(), 0);
    let page = manager
        .list(&caller("alice"), StatusFilter::All, 100, None, now)
        .await
        .unwrap();
    assert!(page.tokens.is_empty());

    let record = store.get_token(&bobs.record.id).await.unwrap().unwrap();
    assert_eq!(record, bobs.record, "bob's token changed");
    assert_eq!(manager.get(&caller("bob"), &id).await.unwrap(), bobs.record);
}

#[tokio::test]
async fn given_a_limit_of_50_when_100_creates_race_then_exactly_50_succeed() {
    let (_stack, store, manager) = setup(50).await;
    let now = Timestamp::now();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let manager = Arc::clone(&manager);
        tasks.push(tokio::spawn(async move {
            manager
                .create(&caller("alice"), request(&format!("t{i}")), None, now)
                .await
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(ManagementError::LimitReached { limit: 50 }) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((created, refused), (50, 50));
    let owner = Owner::user("alice");
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 50);
    let page = manager
        .list(&caller("alice"), StatusFilter::All, 100, None, now)
        .await
        .unwrap();
    assert_eq!(page.tokens.len(), 50);
    let creates = store.audit_events(Some(&owner), 1000).await.unwrap();
    assert_eq!(
        creates
            .iter()
            .filter(|e| e.action == AuditAction::TokenCreate)
            .count(),
        50
    );
}

#[tokio::test]
async fn a_rotation_that_fails_half_way_leaves_the_old_token_valid_and_no_new_one() {
    let (_stack, store, manager) = setup(50).await;
    let now = Timestamp::now();
    let issued = manager
        .create(&caller("alice"), request("ci"), None, now)
        .await
        .unwrap();
    let owner = Owner::user("alice");

    // A rotation whose second half cannot be written (the new record's id
    // is taken) must cancel as a whole: old token untouched, nothing new.
    let revocation = Revocation {
        at: now,
        by: "user:alice".into(),
        reason: "race".into(),
    };
    let audit = AuditEvent::new("user:alice", AuditAction::TokenRevoke, owner.clone(), now)
        .for_token(issued.record.id);
    let mut clash = issued.record.clone();
    clash.name = "replacement".into();
    let error = store
        .rotate_token(
            &issued.record.id,
            &revocation,
            &clash,
            50,
            std::slice::from_ref(&audit),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, cog_tokens::store::StoreError::AlreadyExists),
        "{error:?}"
    );

    let after = store.get_token(&issued.record.id).await.unwrap().unwrap();
    assert_eq!(after, issued.record, "the old token changed");
    assert_eq!(after.status(now), TokenStatus::Active);
    let page = manager
        .list(&caller("alice"), StatusFilter::All, 100, None, now)
        .await
        .unwrap();
    assert_eq!(page.tokens.len(), 1, "a new token appeared");
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 1);
    let actions = cog_integration_tests::audit_actions(&store, &owner).await;
    assert_eq!(
        actions,
        vec!["token.create", "account.put"],
        "a failed rotation wrote an audit event"
    );

    // And a clean rotation through the manager works end to end.
    let rotated = manager
        .rotate(
            &caller("alice"),
            issued.record.id.as_str(),
            Some(0),
            None,
            now,
        )
        .await
        .unwrap();
    let old = store.get_token(&issued.record.id).await.unwrap().unwrap();
    assert_eq!(old.revoked.unwrap().reason, "rotated");
    assert_eq!(
        store.get_token(&rotated.record.id).await.unwrap().unwrap(),
        rotated.record
    );
}

#[tokio::test]
async fn revocation_is_durable_before_the_call_returns_and_audited_with_the_actor() {
    let (_stack, store, manager) = setup(50).await;
    let now = Timestamp::now();
    let issued = manager
        .create(&caller("alice"), request("laptop"), None, now)
        .await
        .unwrap();
    manager
        .revoke(&caller("alice"), issued.record.id.as_str(), now)
        .await
        .unwrap();
    // A strongly consistent read right after sees it.
    let record = store.get_token(&issued.record.id).await.unwrap().unwrap();
    assert_eq!(record.status(now), TokenStatus::Revoked);
    assert_eq!(record.revoked.unwrap().by, "user:alice");
    let events = store
        .audit_events(Some(&Owner::user("alice")), 10)
        .await
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == AuditAction::TokenRevoke && e.actor == "user:alice"));
    // Idempotent.
    manager
        .revoke(&caller("alice"), issued.record.id.as_str(), now)
        .await
        .unwrap();
}
