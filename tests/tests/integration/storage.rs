//! The DynamoDB store against DynamoDB Local: round trips, conditional
//! writes, pagination, the concurrent limit, audit events.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::HashSet;
use std::sync::Arc;

use cog_integration_tests::{new_token, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::lifecycle::revoke_all;
use cog_tokens::records::{
    Account, Actor, AuditAction, AuditEvent, LastUse, OrgMembership, Owner, PrincipalStatus,
    Revocation, ServiceUser, StatusFilter, Timestamp, TokenRecord, TokenStatus,
};
use cog_tokens::store::{AuditLog, PrincipalStore, RevokeOutcome, StoreError, TokenStore};
use cog_tokens::{Pepper, PepperVersion};

fn pepper() -> Pepper {
    Pepper::new(PepperVersion(1), &[5; 32]).unwrap()
}

fn created(owner: &Owner, id: cog_tokens::TokenId, at: Timestamp) -> AuditEvent {
    AuditEvent::new(
        format!("user:{}", owner.id),
        AuditAction::TokenCreate,
        owner.clone(),
        at,
    )
    .for_token(id)
}

/// Stores a token record (limit 50) with its creation audit event.
async fn save(store: &DynamoStore, record: &TokenRecord) {
    let audit = created(&record.owner, record.id, record.created_at);
    store.create_token(record, 50, &audit).await.unwrap();
}

fn revocation(at: Timestamp, reason: &str) -> Revocation {
    Revocation {
        at,
        by: "user:alice".into(),
        reason: reason.into(),
    }
}

#[tokio::test]
async fn given_a_created_token_when_read_then_it_round_trips_and_verifies() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("alice");
    let now = Timestamp::now();
    let (token, record) = new_token(&owner, &pepper(), now, Some(now.plus_seconds(3600)));

    save(&store, &record).await;

    let read = store.get_token(&record.id).await.unwrap().unwrap();
    assert_eq!(read, record);
    assert!(pepper().verify(&token, &read.hash));
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 1);
    let unknown = cog_tokens::PlainToken::generate().unwrap().id();
    assert!(store.get_token(&unknown).await.unwrap().is_none());
}

#[tokio::test]
async fn given_an_existing_id_when_created_again_then_the_write_is_refused_and_nothing_changes() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("alice");
    let now = Timestamp::now();
    let (_, record) = new_token(&owner, &pepper(), now, None);
    save(&store, &record).await;

    let mut clash = record.clone();
    clash.name = "someone else's".into();
    clash.owner = Owner::user("mallory");
    let error = store
        .create_token(&clash, 50, &created(&clash.owner, clash.id, now))
        .await
        .unwrap_err();

    assert!(matches!(error, StoreError::AlreadyExists), "{error:?}");
    assert_eq!(store.get_token(&record.id).await.unwrap().unwrap(), record);
    // The refused transaction wrote neither a counter slot nor an audit event.
    assert_eq!(store.active_token_count(&clash.owner).await.unwrap(), 0);
    assert!(store
        .audit_events(Some(&clash.owner), 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn given_a_token_when_revoked_twice_then_the_second_is_a_no_op_and_both_are_audited_once() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("alice");
    let now = Timestamp::now();
    let (_, record) = new_token(&owner, &pepper(), now, None);
    save(&store, &record).await;

    let audit =
        // Later than the create event, so newest-first order is defined.
        AuditEvent::new("user:alice", AuditAction::TokenRevoke, owner.clone(), Timestamp(now.0 + 1))
            .for_token(record.id);
    let first = store
        .revoke_token(&record.id, &revocation(now, "lost laptop"), &audit)
        .await
        .unwrap();
    let second = store
        .revoke_token(
            &record.id,
            &revocation(now.plus_seconds(5), "again"),
            &audit,
        )
        .await
        .unwrap();

    assert_eq!(first, RevokeOutcome::Revoked);
    assert_eq!(second, RevokeOutcome::AlreadyRevoked);
    let read = store.get_token(&record.id).await.unwrap().unwrap();
    assert_eq!(read.revoked, Some(revocation(now, "lost laptop")));
    assert_eq!(read.status(now), TokenStatus::Revoked);
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 0);
    let actions = cog_integration_tests::audit_actions(&store, &owner).await;
    assert_eq!(actions, vec!["token.revoke", "token.create"]);
    let missing = cog_tokens::PlainToken::generate().unwrap().id();
    assert!(matches!(
        store
            .revoke_token(&missing, &revocation(now, "x"), &audit)
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn given_120_tokens_when_paged_then_every_token_appears_once_newest_first() {
    let stack = Stack::connect().await;
    let store = Arc::new(stack.fresh_store().await);
    let owner = Owner::user("pager");
    let base = Timestamp::now();
    let mut tasks = Vec::new();
    for i in 0..120 {
        let store = Arc::clone(&store);
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            // Some share a creation time: the id breaks the tie.
            let at = Timestamp(base.0 + i / 3);
            let (_, record) = new_token(&owner, &pepper(), at, None);
            store
                .create_token(&record, 500, &created(&owner, record.id, at))
                .await
                .unwrap();
            record.id
        }));
    }
    let mut expected = HashSet::new();
    for task in tasks {
        expected.insert(task.await.unwrap());
    }
    // Another owner's tokens never leak into the listing.
    let other = Owner::user("someone-else");
    let (_, foreign) = new_token(&other, &pepper(), base, None);
    save(&store, &foreign).await;

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_tokens(
                &owner,
                StatusFilter::All,
                Timestamp::now(),
                25,
                cursor.as_deref(),
            )
            .await
            .unwrap();
        assert!(page.tokens.len() <= 25);
        seen.extend(page.tokens.iter().map(|t| (t.created_at, t.id)));
        pages += 1;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }

    assert_eq!(seen.len(), 120, "duplicates or gaps");
    let unique: HashSet<_> = seen.iter().map(|(_, id)| *id).collect();
    assert_eq!(unique, expected);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "not newest first");
    assert!((5..=6).contains(&pages), "{pages} pages");
}

#[tokio::test]
async fn given_a_status_filter_then_listing_returns_only_that_status() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("filter");
    let now = Timestamp::now();
    let (_, active) = new_token(
        &owner,
        &pepper(),
        Timestamp(now.0 - 3),
        Some(now.plus_seconds(60)),
    );
    let (_, expired) = new_token(
        &owner,
        &pepper(),
        Timestamp(now.0 - 2),
        Some(Timestamp(now.0 - 1)),
    );
    let (_, revoked) = new_token(&owner, &pepper(), Timestamp(now.0 - 1), None);
    for record in [&active, &expired, &revoked] {
        save(&store, record).await;
    }
    let audit = AuditEvent::new("user:filter", AuditAction::TokenRevoke, owner.clone(), now);
    store
        .revoke_token(&revoked.id, &revocation(now, "test"), &audit)
        .await
        .unwrap();

    let ids = |filter| {
        let store = &store;
        let owner = &owner;
        async move {
            store
                .list_tokens(owner, filter, now, 10, None)
                .await
                .unwrap()
                .tokens
                .into_iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(StatusFilter::Active).await, vec![active.id]);
    assert_eq!(ids(StatusFilter::Expired).await, vec![expired.id]);
    assert_eq!(ids(StatusFilter::Revoked).await, vec![revoked.id]);
    assert_eq!(
        ids(StatusFilter::All).await,
        vec![revoked.id, expired.id, active.id]
    );
    assert!(matches!(
        store
            .list_tokens(&owner, StatusFilter::All, now, 10, Some("not-a-cursor"))
            .await,
        Err(StoreError::InvalidCursor)
    ));
}

#[tokio::test]
async fn given_a_limit_of_10_when_50_creates_race_then_exactly_10_succeed() {
    let stack = Stack::connect().await;
    let store = Arc::new(stack.fresh_store().await);
    let owner = Owner::user("racer");
    let now = Timestamp::now();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = Arc::clone(&store);
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            let (_, record) = new_token(&owner, &pepper(), now, None);
            store
                .create_token(&record, 10, &created(&owner, record.id, now))
                .await
        }));
    }
    let (mut succeeded, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => succeeded += 1,
            Err(StoreError::LimitReached { limit: 10 }) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    assert_eq!((succeeded, refused), (10, 40));
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 10);
    let listed = store
        .list_tokens(&owner, StatusFilter::All, now, 100, None)
        .await
        .unwrap();
    assert_eq!(listed.tokens.len(), 10);
    assert_eq!(
        store.audit_events(Some(&owner), 100).await.unwrap().len(),
        10
    );
}

#[tokio::test]
async fn given_a_rotation_whose_new_id_clashes_then_nothing_changes() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("rotator");
    let now = Timestamp::now();
    let (_, old) = new_token(&owner, &pepper(), now, None);
    let (_, other) = new_token(&owner, &pepper(), now, None);
    for record in [&old, &other] {
        save(&store, record).await;
    }
    let audit = AuditEvent::new("user:rotator", AuditAction::TokenRotate, owner.clone(), now);

    // The "new" token's id is taken: the transaction must fail as a whole.
    let mut clash = other.clone();
    clash.name = "replacement".into();
    let error = store
        .rotate_token(
            &old.id,
            &revocation(now, "rotated"),
            &clash,
            50,
            std::slice::from_ref(&audit),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::AlreadyExists), "{error:?}");
    assert_eq!(store.get_token(&old.id).await.unwrap().unwrap(), old);
    assert_eq!(store.get_token(&other.id).await.unwrap().unwrap(), other);
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 2);

    // A clean rotation: old revoked, new stored, the count unchanged.
    let (_, new) = new_token(&owner, &pepper(), now, None);
    store
        .rotate_token(
            &old.id,
            &revocation(now, "rotated"),
            &new,
            50,
            std::slice::from_ref(&audit),
        )
        .await
        .unwrap();
    let old_now = store.get_token(&old.id).await.unwrap().unwrap();
    assert_eq!(old_now.revoked.unwrap().reason, "rotated");
    // As given, with what the old one carries over (the chain's start).
    assert_eq!(
        store.get_token(&new.id).await.unwrap().unwrap(),
        old.carry_to(new.clone())
    );
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 2);
    // A revoked token cannot be rotated again.
    assert!(matches!(
        store
            .rotate_token(
                &old.id,
                &revocation(now, "rotated"),
                &new,
                50,
                std::slice::from_ref(&audit)
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn given_expired_tokens_when_released_then_their_slots_are_freed_once() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("expiring");
    let now = Timestamp::now();
    let (_, expired) = new_token(
        &owner,
        &pepper(),
        Timestamp(now.0 - 10),
        Some(Timestamp(now.0 - 1)),
    );
    let (_, live) = new_token(&owner, &pepper(), now, Some(now.plus_seconds(60)));
    for record in [&expired, &live] {
        store
            .create_token(record, 2, &created(&owner, record.id, now))
            .await
            .unwrap();
    }
    let (_, third) = new_token(&owner, &pepper(), now, None);
    assert!(matches!(
        store
            .create_token(&third, 2, &created(&owner, third.id, now))
            .await,
        Err(StoreError::LimitReached { limit: 2 })
    ));

    assert_eq!(store.release_ended(&owner, now).await.unwrap(), 1);
    assert_eq!(store.release_ended(&owner, now).await.unwrap(), 0);
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 1);
    store
        .create_token(&third, 2, &created(&owner, third.id, now))
        .await
        .unwrap();
    // Revoking the released token later must not free a second slot.
    let audit = AuditEvent::new(
        "user:expiring",
        AuditAction::TokenRevoke,
        owner.clone(),
        now,
    );
    store
        .revoke_token(&expired.id, &revocation(now, "cleanup"), &audit)
        .await
        .unwrap();
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 2);
}

#[tokio::test]
async fn last_used_is_written_at_most_once_per_interval() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("user");
    let now = Timestamp::now();
    let (_, record) = new_token(&owner, &pepper(), now, None);
    save(&store, &record).await;

    let from =
        |ip: &str, agent: Option<&str>| LastUse::default().after(now, ip.parse().ok(), agent);
    let first = from("192.0.2.1", Some("cli/1"));
    assert!(store
        .touch_last_used(&record.id, now, 60_000, &first)
        .await
        .unwrap());
    assert!(!store
        .touch_last_used(
            &record.id,
            now.plus_seconds(30),
            60_000,
            &from("192.0.2.9", None)
        )
        .await
        .unwrap());
    let read = store.get_token(&record.id).await.unwrap().unwrap();
    assert_eq!(read.last_use, first, "the refused write left the details");
    let second = first.after(now.plus_seconds(61), "2001:db8::5".parse().ok(), None);
    assert!(store
        .touch_last_used(&record.id, now.plus_seconds(61), 60_000, &second)
        .await
        .unwrap());
    let read = store.get_token(&record.id).await.unwrap().unwrap();
    assert_eq!(read.last_used_at, Some(now.plus_seconds(61)));
    assert_eq!(read.last_use, second);
    assert_eq!(
        read.last_use.user_agent, None,
        "an older use's agent is not kept"
    );
    assert_eq!(read.last_use.recent.len(), 2);
    let missing = cog_tokens::PlainToken::generate().unwrap().id();
    assert!(!store
        .touch_last_used(&missing, now, 0, &first)
        .await
        .unwrap());
    assert!(
        store.get_token(&missing).await.unwrap().is_none(),
        "touch must not create items"
    );
}

#[tokio::test]
async fn a_hash_is_replaced_only_if_it_is_still_the_old_one() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("user");
    let now = Timestamp::now();
    let (token, record) = new_token(&owner, &pepper(), now, None);
    save(&store, &record).await;
    let newer = Pepper::new(PepperVersion(2), &[6; 32]).unwrap();
    let new_hash = newer.hash(&token);
    let rehash = AuditEvent::new("authorizer", AuditAction::TokenRehash, owner.clone(), now);

    assert!(store
        .replace_hash(
            &record.id,
            &record.hash,
            &new_hash,
            newer.version(),
            &rehash
        )
        .await
        .unwrap());
    assert!(!store
        .replace_hash(
            &record.id,
            &record.hash,
            &new_hash,
            newer.version(),
            &rehash
        )
        .await
        .unwrap());
    let read = store.get_token(&record.id).await.unwrap().unwrap();
    assert_eq!(read.pepper_version, PepperVersion(2));
    assert!(newer.verify(&token, &read.hash));
}

#[tokio::test]
async fn accounts_and_service_users_round_trip() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let account = Account {
        user_id: "alice".into(),
        status: PrincipalStatus::Active,
        sso: false,
        pat_beta: true,
        orgs: vec![
            OrgMembership {
                org_id: "acme".into(),
                role: "admin".into(),
            },
            OrgMembership {
                org_id: "globex".into(),
                role: "viewer".into(),
            },
        ],
        tokens_valid_after: None,
    };
    store
        .put_account(&account, &account.audit_put("test", Timestamp::now()))
        .await
        .unwrap();
    assert_eq!(
        store.get_account("alice").await.unwrap(),
        Some(account.clone())
    );
    let suspended = Account {
        status: PrincipalStatus::Suspended,
        ..account
    };
    store
        .put_account(&suspended, &suspended.audit_put("test", Timestamp::now()))
        .await
        .unwrap();
    assert_eq!(store.get_account("alice").await.unwrap(), Some(suspended));
    assert_eq!(store.get_account("nobody").await.unwrap(), None);

    let user = ServiceUser {
        id: "svc_ci".into(),
        name: "CI".into(),
        org_id: "acme".into(),
        role: "deployer".into(),
        status: PrincipalStatus::Active,
        created_at: Timestamp(1_700_000_000_000),
        tokens_valid_after: None,
    };
    let owner = Owner::service_user("svc_ci");
    let audit = AuditEvent::new(
        "operator",
        AuditAction::ServiceUserCreate,
        owner.clone(),
        Timestamp::now(),
    );
    store.create_service_user(&user, 100, &audit).await.unwrap();
    assert!(matches!(
        store.create_service_user(&user, 100, &audit).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(store.get_service_user("svc_ci").await.unwrap(), Some(user));
    assert_eq!(store.audit_events(Some(&owner), 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn revoke_all_revokes_every_live_token_of_one_owner_only() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("leaver");
    let bystander = Owner::user("bystander");
    let now = Timestamp::now();
    for who in [&owner, &owner, &owner, &bystander] {
        let (_, record) = new_token(who, &pepper(), now, None);
        save(&store, &record).await;
    }

    assert_eq!(
        revoke_all(&store, &owner, &Actor::new("operator"), "left", now)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        revoke_all(&store, &owner, &Actor::new("operator"), "left", now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 0);
    assert_eq!(store.active_token_count(&bystander).await.unwrap(), 1);
    let events = store.audit_events(Some(&owner), 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == AuditAction::TokenRevoke)
            .count(),
        3
    );
    assert!(events
        .iter()
        .filter(|e| e.action == AuditAction::TokenRevoke)
        .all(|e| e.actor == "operator" && e.detail.as_deref() == Some("left")));
}

#[tokio::test]
async fn token_and_owner_reads_both_with_or_without_a_hint() {
    use cog_tokens::store::{CredentialLookup, Principal};
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let account = cog_integration_tests::beta_account("alice");
    store
        .put_account(&account, &account.audit_put("test", Timestamp::now()))
        .await
        .unwrap();
    let owner = Owner::user("alice");
    let now = Timestamp::now();
    let (_, record) = new_token(&owner, &pepper(), now, None);
    save(&store, &record).await;
    let expected = (Some(record.clone()), Some(Principal::User(account.clone())));

    // No hint: token, then owner. Right hint: one batch read. Wrong hint: corrected.
    assert_eq!(
        store.token_and_owner(&record.id, None).await.unwrap(),
        expected
    );
    assert_eq!(
        store
            .token_and_owner(&record.id, Some(&owner))
            .await
            .unwrap(),
        expected
    );
    let wrong = Owner::service_user("alice");
    assert_eq!(
        store
            .token_and_owner(&record.id, Some(&wrong))
            .await
            .unwrap(),
        expected
    );
    // Unknown token: nothing, with or without a hint.
    let unknown = cog_tokens::PlainToken::generate().unwrap().id();
    assert_eq!(
        store.token_and_owner(&unknown, None).await.unwrap(),
        (None, None)
    );
    assert_eq!(
        store.token_and_owner(&unknown, Some(&owner)).await.unwrap(),
        (None, None)
    );
    // Owner record gone: the token comes back without a principal.
    let (_, orphan) = new_token(&Owner::user("ghost"), &pepper(), now, None);
    save(&store, &orphan).await;
    let (found, principal) = store
        .token_and_owner(&orphan.id, Some(&orphan.owner))
        .await
        .unwrap();
    assert_eq!((found, principal), (Some(orphan), None));
}

#[tokio::test]
async fn revoking_a_token_as_read_writes_once_and_falls_back_when_it_changed() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("rita");
    let now = Timestamp::now();
    let revoked = |record: &TokenRecord| {
        AuditEvent::new("test", AuditAction::TokenRevoke, owner.clone(), now).for_token(record.id)
    };

    // As read and unchanged: revoked, its slot and name given back.
    let (_, first) = new_token(&owner, &pepper(), now, Some(now.plus_seconds(3600)));
    save(&store, &first).await;
    let read = store.get_tokens(&[first.id]).await.unwrap().remove(0);
    let outcome = store
        .revoke_active_token(&read, &revocation(now, "leaked"), &revoked(&read))
        .await
        .unwrap();
    assert_eq!(outcome, RevokeOutcome::Revoked);
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 0);
    let stored = store.get_token(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked.unwrap().reason, "leaked");

    // Revoked by someone else after it was read: the stale record writes
    // nothing and reads as already revoked.
    let (_, second) = new_token(&owner, &pepper(), now, Some(now.plus_seconds(3600)));
    save(&store, &second).await;
    let stale = store.get_tokens(&[second.id]).await.unwrap().remove(0);
    store
        .revoke_token(&second.id, &revocation(now, "owner"), &revoked(&second))
        .await
        .unwrap();
    let outcome = store
        .revoke_active_token(&stale, &revocation(now, "leaked"), &revoked(&stale))
        .await
        .unwrap();
    assert_eq!(outcome, RevokeOutcome::AlreadyRevoked);
    let stored = store.get_token(&second.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked.unwrap().reason, "owner");
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 0);
    let revocations = store
        .audit_events(Some(&owner), 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::TokenRevoke)
        .count();
    assert_eq!(revocations, 2, "one event per revocation that happened");
}
