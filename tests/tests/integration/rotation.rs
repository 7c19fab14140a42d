//! A rotation hands every per-token field to the new token, including
//! those that changed while it ran: an org block or an allowlist change that
//! lands during a rotation ends on the new token, never vanishes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_integration_tests::proxy::FaultProxy;
use cog_integration_tests::services::{self, request};
use cog_integration_tests::{caller, new_token, unique, Stack};
use cog_tokens::authorize::{Decision, Source};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::memory::MemoryStore;
use cog_tokens::records::{
    Account, AuditAction, AuditEvent, IpAllowlist, OrgMembership, Owner, PrincipalStatus,
    Revocation, Timestamp, TokenRecord,
};
use cog_tokens::store::{PrincipalStore, TokenStore};
use cog_tokens::{Pepper, PepperVersion};

fn event(owner: &Owner, action: AuditAction, now: Timestamp) -> AuditEvent {
    AuditEvent::new("test", action, owner.clone(), now)
}

fn ips(entries: &[&str]) -> IpAllowlist {
    IpAllowlist::parse(entries).unwrap()
}

/// GIVEN a token carrying every per-token field, blocked and re-listed after
/// the rotation's caller read it; WHEN rotated from that stale read, and
/// blocked and narrowed again through the old id after the rotation; THEN the
/// new token carries all of it, and so does the old one in its grace.
async fn a_rotation_carries_every_field_and_every_racing_change<S: TokenStore>(store: &S) {
    let owner = Owner::user(unique("rotor"));
    let now = Timestamp::now();
    let pepper = Pepper::new(PepperVersion(1), &[7; 32]).unwrap();
    let (_, mut old) = new_token(&owner, &pepper, now, Some(now.plus_seconds(86_400)));
    old.scopes = vec!["tokens:read".into(), "orgs:read".into()];
    old.allowed_ips = ips(&["198.51.100.0/24"]);
    old.org_limit = Some(vec!["acme".into(), "globex".into(), "initech".into()]);
    store
        .create_token(&old, 50, &event(&owner, AuditAction::TokenCreate, now))
        .await
        .unwrap();
    // The rotation's caller read `old` here; these land before its write.
    let stale = old.clone();
    store
        .block_in_org(
            &old.id,
            "acme",
            &event(&owner, AuditAction::TokenBlock, now),
        )
        .await
        .unwrap();
    let changed = ips(&["198.51.100.0/25", "2001:db8::/32"]);
    store
        .set_allowed_ips(
            &old.id,
            &changed,
            &event(&owner, AuditAction::TokenUpdate, now),
        )
        .await
        .unwrap();

    let (_, mut new) = new_token(&owner, &pepper, now, stale.expires_at);
    new.name = stale.name.clone();
    new.scopes = stale.scopes.clone();
    new.allowed_ips = stale.allowed_ips.clone();
    new.org_limit = stale.org_limit.clone();
    let grace = Revocation {
        at: now.plus_seconds(3600),
        by: "test".into(),
        reason: "rotated".into(),
    };
    let audits = [event(&owner, AuditAction::TokenRotate, now)];
    store
        .rotate_token(&old.id, &grace, &new, 50, &audits)
        .await
        .unwrap();
    let stored = store.get_token(&new.id).await.unwrap().unwrap();
    assert_eq!(
        stored.org_decisions.blocked,
        vec!["acme".to_owned()],
        "block lost"
    );
    assert_eq!(stored.allowed_ips, changed, "allowlist change lost");
    assert_eq!(
        (
            &stored.name,
            &stored.scopes,
            &stored.org_limit,
            stored.expires_at
        ),
        (&old.name, &old.scopes, &old.org_limit, old.expires_at)
    );

    // Their callers read the old token before the rotation committed.
    store
        .block_in_org(
            &old.id,
            "globex",
            &event(&owner, AuditAction::TokenBlock, now),
        )
        .await
        .unwrap();
    let narrower = ips(&["198.51.100.7/32"]);
    store
        .set_allowed_ips(
            &old.id,
            &narrower,
            &event(&owner, AuditAction::TokenUpdate, now),
        )
        .await
        .unwrap();
    for id in [&new.id, &old.id] {
        let record: TokenRecord = store.get_token(id).await.unwrap().unwrap();
        assert_eq!(
            record.org_decisions.blocked,
            vec!["acme".to_owned(), "globex".to_owned()],
            "{id}"
        );
        assert_eq!(record.allowed_ips, narrower, "{id}");
    }

    // The owner narrows the new token itself; widening the old one in its
    // grace no longer reaches it: the new token's own list stands.
    let own = ips(&["198.51.100.7/32", "198.51.100.8/32"]);
    store
        .set_allowed_ips(&new.id, &own, &event(&owner, AuditAction::TokenUpdate, now))
        .await
        .unwrap();
    store
        .set_allowed_ips(
            &old.id,
            &ips(&["0.0.0.0/0"]),
            &event(&owner, AuditAction::TokenUpdate, now),
        )
        .await
        .unwrap();
    let kept = store.get_token(&new.id).await.unwrap().unwrap();
    assert_eq!(
        kept.allowed_ips, own,
        "a change of the old token undid the new one's own list"
    );
}

/// GIVEN a rotation that has read the old token; WHEN an org block lands
/// before its write commits; THEN the write fails on the old token's change
/// count, the rotation reads again, and the new token carries the block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_between_a_rotations_read_and_its_write_reaches_the_new_token() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let proxy = FaultProxy::dynamodb().await;
    let rotating = DynamoStore::new(proxy.client(3).await, store.table().to_owned());
    let owner = Owner::user(unique("racer"));
    let now = Timestamp::now();
    let pepper = Pepper::new(PepperVersion(1), &[9; 32]).unwrap();
    let (_, old) = new_token(&owner, &pepper, now, None);
    store
        .create_token(&old, 50, &event(&owner, AuditAction::TokenCreate, now))
        .await
        .unwrap();
    let (_, mut new) = new_token(&owner, &pepper, now, None);
    new.name = old.name.clone();

    let mut pause = proxy.pause_next("TransactWriteItems");
    let (old_id, new_record) = (old.id, new.clone());
    let rotation_owner = owner.clone();
    let rotation = tokio::spawn(async move {
        let revocation = Revocation {
            at: now,
            by: "test".into(),
            reason: "rotated".into(),
        };
        let audits = [event(&rotation_owner, AuditAction::TokenRotate, now)];
        rotating
            .rotate_token(&old_id, &revocation, &new_record, 50, &audits)
            .await
    });
    pause.reached().await;
    store
        .block_in_org(
            &old.id,
            "acme",
            &event(&owner, AuditAction::TokenBlock, now),
        )
        .await
        .unwrap();
    pause.release();

    let answered = rotation.await.unwrap().unwrap();
    assert_eq!(answered.org_decisions.blocked, vec!["acme".to_owned()]);
    let stored = store.get_token(&new.id).await.unwrap().unwrap();
    assert_eq!(
        stored.org_decisions.blocked,
        vec!["acme".to_owned()],
        "the block vanished"
    );
}

#[tokio::test]
async fn a_rotation_carries_every_field_and_every_racing_change_in_dynamodb() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    a_rotation_carries_every_field_and_every_racing_change(&store).await;
}

#[tokio::test]
async fn a_rotation_carries_every_field_and_every_racing_change_in_memory() {
    a_rotation_carries_every_field_and_every_racing_change(&MemoryStore::new()).await;
}

/// GIVEN a PAT limited to two orgs, with scopes, an expiry and an allowlist,
/// blocked by one org's admin; WHEN its owner rotates it; THEN the new token
/// keeps every field, and the authorizer still leaves the blocking org out.
#[tokio::test]
async fn a_rotated_pat_keeps_its_org_block_and_every_other_field() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&[]).await;
    let user = unique("u");
    let member = |org: &str| OrgMembership {
        org_id: org.into(),
        role: "admin".into(),
    };
    let account = Account {
        user_id: user.clone(),
        status: PrincipalStatus::Active,
        sso: false,
        pat_beta: true,
        orgs: vec![member("acme"), member("globex"), member("initech")],
        tokens_valid_after: None,
    };
    store
        .put_account(&account, &account.audit_put("test", Timestamp::now()))
        .await
        .unwrap();
    let manager = services::manager(&stack, &store, services::policy(10)).await;
    let now = Timestamp::now();
    let mut wanted = request("ci");
    wanted.scopes = vec!["tokens:read".into(), "orgs:read".into()];
    wanted.expires_in_days = Some(Some(10));
    wanted.allowed_ips = vec!["0.0.0.0/0".into()];
    wanted.orgs = Some(vec!["acme".into(), "globex".into()]);
    let issued = manager
        .create(&caller(&user), wanted, None, now)
        .await
        .unwrap();
    let owner = Owner::user(&user);
    store
        .block_in_org(
            &issued.record.id,
            "acme",
            &event(&owner, AuditAction::TokenBlock, now),
        )
        .await
        .unwrap();

    let later = now.plus_seconds(60);
    let rotated = manager
        .rotate(&caller(&user), issued.record.id.as_str(), None, None, later)
        .await
        .unwrap();
    let new = store.get_token(&rotated.record.id).await.unwrap().unwrap();
    let old = &issued.record;
    assert_eq!(new.org_decisions.blocked, vec!["acme".to_owned()]);
    assert_eq!(
        rotated.record.org_decisions.blocked, new.org_decisions.blocked,
        "the answer"
    );
    assert_eq!(
        (&new.name, &new.scopes, &new.allowed_ips, &new.org_limit),
        (&old.name, &old.scopes, &old.allowed_ips, &old.org_limit)
    );
    assert_eq!(
        new.expires_at.unwrap().0 - new.created_at.0,
        old.expires_at.unwrap().0 - old.created_at.0,
        "the same lifetime"
    );
    let authorizer = services::authorizer(&stack, &store).await;
    let header = format!("Bearer {}", rotated.token.expose_secret());
    let decision = authorizer
        .authorize(Some(&header), None, Source::ip(Some("192.0.2.1")), later)
        .await
        .unwrap();
    match decision {
        Decision::Allow(identity) => {
            let orgs: Vec<_> = identity.orgs.iter().map(|m| m.org_id.as_str()).collect();
            assert_eq!(orgs, ["globex"]);
        }
        other => panic!("{other:?}"),
    }
}
