//! Org administration against DynamoDB Local and moto's KMS: who may manage
//! an org's service users and keys, what a key then acts as, the limits under
//! concurrency, and the listing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::sync::Arc;
use std::time::Duration;

use cog_integration_tests::services::{
    authorizer, authorizer_with_policy_ttl, decide, manager, policy, request, Manager,
};
use cog_integration_tests::{beta_account, caller, Stack};
use cog_tokens::authorize::Decision;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::{
    CredentialFilter, IssuancePolicy, ManagementError, OrgCall, Removal, ServiceUserChanges,
    ServiceUserRequest, TokenRequest,
};
use cog_tokens::records::audit::AuditFilter;
use cog_tokens::records::{
    Account, AuditAction, Caller, OrgMembership, OrgPolicy, Owner, OwnerKind, PatAccess,
    PrincipalStatus, StatusFilter, Timestamp,
};
use cog_tokens::store::{AuditLog, PrincipalStore, TokenStore};

/// `admin` is admin of acme, `member` a plain member of acme (SSO, no beta:
/// neither matters for org administration), `outsider` admin of another org.
async fn org(policy: IssuancePolicy) -> (Stack, DynamoStore, Arc<Manager>) {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["admin"]).await;
    for (user, org, role) in [
        ("member", "acme", "viewer"),
        ("outsider", "globex", "admin"),
    ] {
        let account = Account {
            sso: true,
            pat_beta: false,
            orgs: vec![OrgMembership {
                org_id: org.into(),
                role: role.into(),
            }],
            ..beta_account(user)
        };
        let audit = account.audit_put("test", Timestamp::now());
        store.put_account(&account, &audit).await.unwrap();
    }
    let manager = Arc::new(manager(&stack, &store, policy).await);
    (stack, store, manager)
}

fn at<'a>(admin: &'a Caller, org: &'a str) -> OrgCall<'a> {
    OrgCall {
        admin,
        org,
        now: Timestamp::now(),
    }
}

fn deployer(name: &str) -> ServiceUserRequest {
    ServiceUserRequest {
        name: name.into(),
        role: "deployer".into(),
    }
}

#[tokio::test]
async fn an_admin_creates_a_service_user_whose_key_acts_in_exactly_its_org_until_disabled() {
    let (stack, store, manager) = org(policy(50)).await;
    let admin = caller("admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    assert!(ci.id.starts_with("svc_"));
    let key = manager
        .create_key(at(&admin, "acme"), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    let authorizer = authorizer(&stack, &store).await;
    let Decision::Allow(identity) = decide(&authorizer, &key.token, Timestamp::now()).await else {
        panic!("the new key is refused");
    };
    assert_eq!(identity.owner, Owner::service_user(&ci.id));
    assert_eq!(identity.orgs, vec![ci.membership()]);
    assert_eq!(identity.orgs_text(), "acme:deployer");

    // A new role is read at the next request.
    let changes = ServiceUserChanges {
        role: Some("viewer".into()),
        ..ServiceUserChanges::default()
    };
    manager
        .update_service_user(at(&admin, "acme"), &ci.id, changes)
        .await
        .unwrap();
    let Decision::Allow(identity) = decide(&authorizer, &key.token, Timestamp::now()).await else {
        panic!("a role change refused the key");
    };
    assert_eq!(identity.orgs_text(), "acme:viewer");

    // Disabled: every key fails at the next request, and no key can be made.
    let disable = ServiceUserChanges {
        status: Some(PrincipalStatus::Disabled),
        ..ServiceUserChanges::default()
    };
    let disabled = manager
        .update_service_user(at(&admin, "acme"), &ci.id, disable)
        .await
        .unwrap();
    assert_eq!(disabled.status, PrincipalStatus::Disabled);
    assert!(matches!(
        decide(&authorizer, &key.token, Timestamp::now()).await,
        Decision::Unauthorized(_)
    ));
    assert!(matches!(
        manager
            .create_key(at(&admin, "acme"), &ci.id, request("more"), None)
            .await,
        Err(ManagementError::ServiceUserDisabled)
    ));

    // Every change is in the service user's trail, by the admin.
    let events = store
        .audit_events(Some(&Owner::service_user(&ci.id)), 10)
        .await
        .unwrap();
    let actions: Vec<AuditAction> = events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::ServiceUserUpdate,
            AuditAction::ServiceUserUpdate,
            AuditAction::TokenCreate,
            AuditAction::ServiceUserCreate
        ]
    );
    assert!(events.iter().all(|e| e.actor == "user:admin"));
}

#[tokio::test]
async fn members_are_refused_and_outsiders_never_learn_the_org_exists() {
    let (_stack, _store, manager) = org(policy(50)).await;
    let admin = caller("admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    let key = manager
        .create_key(at(&admin, "acme"), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    let key_id = key.record.id.to_string();
    for (name, expected) in [
        ("member", "org_admin_required"),
        ("outsider", "org_not_found"),
        ("nobody", "org_not_found"),
    ] {
        let who = caller(name);
        let call = at(&who, "acme");
        let outcomes = [
            manager.create_service_user(call, deployer("x")).await.err(),
            manager.list_service_users(call, None, 10, None).await.err(),
            manager.get_service_user(call, &ci.id).await.err(),
            manager
                .update_service_user(call, &ci.id, ServiceUserChanges::default())
                .await
                .err(),
            manager
                .create_key(call, &ci.id, request("k"), None)
                .await
                .err(),
            manager
                .list_keys(call, &ci.id, StatusFilter::All, 10, None)
                .await
                .err(),
            manager
                .rotate_key(call, &ci.id, &key_id, None, None)
                .await
                .err(),
            manager.revoke_key(call, &ci.id, &key_id).await.err(),
            manager.get_org_policy(call).await.err(),
            manager
                .put_org_policy(call, OrgPolicy::default())
                .await
                .err(),
            manager
                .credentials(call, CredentialFilter::default(), 10, None)
                .await
                .err(),
            manager.remove_credential(call, &key_id).await.err(),
            manager
                .org_audit(call, AuditFilter::default(), 10, None)
                .await
                .err(),
        ];
        for outcome in outcomes {
            let code = match outcome {
                Some(ManagementError::OrgAdminRequired) => "org_admin_required",
                Some(ManagementError::OrgNotFound) => "org_not_found",
                other => panic!("{name}: {other:?}"),
            };
            assert_eq!(code, expected, "{name}");
        }
    }
    // The admin of another org cannot reach acme's service user through it.
    let outsider = caller("outsider");
    assert!(matches!(
        manager
            .get_service_user(at(&outsider, "globex"), &ci.id)
            .await,
        Err(ManagementError::ServiceUserNotFound)
    ));
    assert!(matches!(
        manager
            .revoke_key(at(&outsider, "globex"), &ci.id, &key_id)
            .await,
        Err(ManagementError::ServiceUserNotFound)
    ));
    // Nothing above touched the key.
    assert!(manager
        .list_keys(at(&admin, "acme"), &ci.id, StatusFilter::Active, 10, None)
        .await
        .unwrap()
        .tokens
        .iter()
        .any(|t| t.id == key.record.id));
}

#[tokio::test]
async fn twenty_concurrent_key_creations_at_a_limit_of_ten_make_exactly_ten() {
    let (_stack, store, manager) = org(policy(50)).await;
    let admin = caller("admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (manager, ci) = (Arc::clone(&manager), ci.id.clone());
            tokio::spawn(async move {
                let admin = caller("admin");
                manager
                    .create_key(at(&admin, "acme"), &ci, request(&format!("k{i}")), None)
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let made = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(ManagementError::LimitReached { limit: 10 })))
        .count();
    assert_eq!((made, refused), (10, 10), "{outcomes:?}");
    let owner = Owner::service_user(&ci.id);
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 10);
}

#[tokio::test]
async fn an_orgs_service_user_limit_holds_under_concurrency_and_disabled_ones_count() {
    let (_stack, _store, manager) = org(IssuancePolicy {
        max_service_users_per_org: 3,
        ..policy(50)
    })
    .await;
    let admin = caller("admin");
    let first = manager
        .create_service_user(at(&admin, "acme"), deployer("first"))
        .await
        .unwrap();
    let disable = ServiceUserChanges {
        status: Some(PrincipalStatus::Disabled),
        ..ServiceUserChanges::default()
    };
    manager
        .update_service_user(at(&admin, "acme"), &first.id, disable)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let manager = Arc::clone(&manager);
            tokio::spawn(async move {
                let admin = caller("admin");
                manager
                    .create_service_user(at(&admin, "acme"), deployer(&format!("su{i}")))
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let made = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(made, 2, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o.is_ok()
        || matches!(
            o,
            Err(ManagementError::ServiceUserLimitReached { limit: 3 })
        )));
}

#[tokio::test]
async fn service_users_list_newest_first_in_pages_and_by_status_with_checked_input() {
    let (_stack, _store, manager) = org(policy(50)).await;
    let admin = caller("admin");
    let mut made = Vec::new();
    for i in 0..5 {
        let call = OrgCall {
            now: Timestamp(Timestamp::now().0 + i),
            ..at(&admin, "acme")
        };
        made.push(
            manager
                .create_service_user(call, deployer(&format!("su{i}")))
                .await
                .unwrap(),
        );
    }
    let disable = ServiceUserChanges {
        status: Some(PrincipalStatus::Disabled),
        ..ServiceUserChanges::default()
    };
    manager
        .update_service_user(at(&admin, "acme"), &made[1].id, disable)
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = manager
            .list_service_users(at(&admin, "acme"), None, 2, cursor.as_deref())
            .await
            .unwrap();
        assert!(page.service_users.len() <= 2);
        seen.extend(page.service_users.into_iter().map(|u| u.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<String> = made.iter().rev().map(|u| u.id.clone()).collect();
    assert_eq!(seen, newest_first);
    let disabled = manager
        .list_service_users(
            at(&admin, "acme"),
            Some(PrincipalStatus::Disabled),
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(disabled.service_users.len(), 1);
    assert_eq!(disabled.service_users[0].id, made[1].id);
    assert!(matches!(
        manager
            .list_service_users(at(&admin, "acme"), None, 10, Some("bm90LWEtY3Vyc29y"))
            .await,
        Err(ManagementError::InvalidCursor)
    ));

    // Bad input is refused by field, and changes nothing.
    let unknown_role = ServiceUserRequest {
        name: "x".into(),
        role: "owner".into(),
    };
    let refused = manager
        .create_service_user(at(&admin, "acme"), unknown_role)
        .await;
    assert!(
        matches!(
            refused,
            Err(ManagementError::Invalid {
                code: "unknown_role",
                ..
            })
        ),
        "{refused:?}"
    );
    let bad_status = ServiceUserChanges {
        name: Some("renamed".into()),
        status: Some(PrincipalStatus::Deleted),
        ..ServiceUserChanges::default()
    };
    let refused = manager
        .update_service_user(at(&admin, "acme"), &made[0].id, bad_status)
        .await;
    assert!(
        matches!(
            refused,
            Err(ManagementError::Invalid {
                code: "invalid_status",
                ..
            })
        ),
        "{refused:?}"
    );
    let unchanged = manager
        .get_service_user(at(&admin, "acme"), &made[0].id)
        .await
        .unwrap();
    assert_eq!(unchanged, made[0]);
}

#[tokio::test]
async fn an_admin_rotates_and_revokes_keys_and_a_revoked_key_is_refused() {
    let (stack, store, manager) = org(policy(50)).await;
    let admin = caller("admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    let old = manager
        .create_key(at(&admin, "acme"), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    let new = manager
        .rotate_key(
            at(&admin, "acme"),
            &ci.id,
            old.record.id.as_str(),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(new.record.owner, Owner::service_user(&ci.id));
    assert_eq!(new.record.name, "deploy");
    let authorizer = authorizer(&stack, &store).await;
    let now = Timestamp::now();
    assert!(matches!(
        decide(&authorizer, &old.token, now).await,
        Decision::Unauthorized(_)
    ));
    assert!(matches!(
        decide(&authorizer, &new.token, now).await,
        Decision::Allow(_)
    ));
    manager
        .revoke_key(at(&admin, "acme"), &ci.id, new.record.id.as_str())
        .await
        .unwrap();
    // Idempotent, and durable before the call returned.
    manager
        .revoke_key(at(&admin, "acme"), &ci.id, new.record.id.as_str())
        .await
        .unwrap();
    let record = store.get_token(&new.record.id).await.unwrap().unwrap();
    assert_eq!(record.revoked.unwrap().by, "user:admin");
    assert!(matches!(
        decide(&authorizer, &new.token, Timestamp::now()).await,
        Decision::Unauthorized(_)
    ));
}

#[tokio::test]
async fn every_org_change_is_in_the_orgs_trail_with_actor_ip_and_user_agent() {
    let (_stack, _store, manager) = org(policy(50)).await;
    let admin = caller("admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    let key = manager
        .create_key(at(&admin, "acme"), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    let rotated = manager
        .rotate_key(
            at(&admin, "acme"),
            &ci.id,
            key.record.id.as_str(),
            None,
            None,
        )
        .await
        .unwrap();
    manager
        .revoke_key(at(&admin, "acme"), &ci.id, rotated.record.id.as_str())
        .await
        .unwrap();
    let disable = ServiceUserChanges {
        status: Some(PrincipalStatus::Disabled),
        ..ServiceUserChanges::default()
    };
    manager
        .update_service_user(at(&admin, "acme"), &ci.id, disable)
        .await
        .unwrap();
    // Another org's admin works in their own trail only.
    let outsider = caller("outsider");
    manager
        .create_service_user(at(&outsider, "globex"), deployer("theirs"))
        .await
        .unwrap();

    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let page = manager
            .org_audit(
                at(&admin, "acme"),
                AuditFilter::default(),
                2,
                cursor.as_deref(),
            )
            .await
            .unwrap();
        events.extend(page.events);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut actions: Vec<AuditAction> = events.iter().map(|e| e.action).collect();
    // A rotation's two events share their millisecond: either order.
    if actions.get(2) == Some(&AuditAction::TokenRotate) {
        actions.swap(2, 3);
    }
    assert_eq!(
        actions,
        [
            AuditAction::ServiceUserUpdate,
            AuditAction::TokenRevoke,
            AuditAction::TokenCreate,
            AuditAction::TokenRotate,
            AuditAction::TokenCreate,
            AuditAction::ServiceUserCreate,
        ],
        "{events:#?}"
    );
    for event in &events {
        assert_eq!(event.actor, "user:admin");
        assert_eq!(event.org.as_deref(), Some("acme"));
        assert_eq!(event.owner, Some(Owner::service_user(&ci.id)));
        let origin = event.origin.as_ref().unwrap();
        assert_eq!(
            (origin.source_ip.as_str(), origin.user_agent.as_str()),
            ("192.0.2.1", "cog-tests")
        );
    }

    // Filters: one action; a time range that ends before everything.
    let creates = AuditFilter {
        action: Some(AuditAction::TokenCreate),
        ..AuditFilter::default()
    };
    let page = manager
        .org_audit(at(&admin, "acme"), creates, 10, None)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 2);
    let before = AuditFilter {
        to: Some(Timestamp(events.last().unwrap().at.0 - 1)),
        ..AuditFilter::default()
    };
    let page = manager
        .org_audit(at(&admin, "acme"), before, 10, None)
        .await
        .unwrap();
    assert!(page.events.is_empty());
    // Only admins read it; a member is refused.
    let member = caller("member");
    assert!(matches!(
        manager
            .org_audit(at(&member, "acme"), AuditFilter::default(), 10, None)
            .await,
        Err(ManagementError::OrgAdminRequired)
    ));
    // The caller's own trail holds what happened to their own credentials.
    let own = manager
        .own_audit(&admin, AuditFilter::default(), 10, None)
        .await
        .unwrap();
    assert!(own
        .events
        .iter()
        .all(|e| e.owner == Some(Owner::user("admin"))));
}

#[tokio::test]
async fn an_sso_admin_manages_keys_while_an_sso_member_still_gets_no_pat() {
    let (_stack, store, manager) = org(policy(50)).await;
    let sso_admin = Account {
        sso: true,
        ..beta_account("sso-admin")
    };
    let audit = sso_admin.audit_put("test", Timestamp::now());
    store.put_account(&sso_admin, &audit).await.unwrap();
    let admin = caller("sso-admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    manager
        .create_key(at(&admin, "acme"), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    assert!(matches!(
        manager
            .create(&caller("member"), request("mine"), None, Timestamp::now())
            .await,
        Err(ManagementError::PatUnavailableForSso)
    ));
    assert!(matches!(
        manager
            .create(&admin, request("mine"), None, Timestamp::now())
            .await,
        Err(ManagementError::PatUnavailableForSso)
    ));
}

/// `multi` is a member of acme and admin of globex, with the PAT beta.
async fn member_of_two_orgs(store: &DynamoStore) {
    let account = Account {
        orgs: vec![
            OrgMembership {
                org_id: "acme".into(),
                role: "viewer".into(),
            },
            OrgMembership {
                org_id: "globex".into(),
                role: "admin".into(),
            },
        ],
        ..beta_account("multi")
    };
    let audit = account.audit_put("test", Timestamp::now());
    store.put_account(&account, &audit).await.unwrap();
}

fn org_ids(decision: &Decision) -> Vec<String> {
    match decision {
        Decision::Allow(identity) => identity.orgs.iter().map(|m| m.org_id.clone()).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn blocking_a_members_pat_drops_only_that_org_at_the_next_request() {
    let (stack, store, manager) = org(policy(50)).await;
    member_of_two_orgs(&store).await;
    let pat = manager
        .create(&caller("multi"), request("laptop"), None, Timestamp::now())
        .await
        .unwrap();
    let authorizer = authorizer(&stack, &store).await;
    let decide_now = || decide(&authorizer, &pat.token, Timestamp::now());
    assert_eq!(org_ids(&decide_now().await), ["acme", "globex"]);

    let admin = caller("admin");
    let id = pat.record.id.to_string();
    let removal = manager
        .remove_credential(at(&admin, "acme"), &id)
        .await
        .unwrap();
    assert_eq!(removal, Removal::PatBlocked);
    // Idempotent; and the PAT still works in the member's other org.
    manager
        .remove_credential(at(&admin, "acme"), &id)
        .await
        .unwrap();
    assert_eq!(org_ids(&decide_now().await), ["globex"]);
    let record = store.get_token(&pat.record.id).await.unwrap().unwrap();
    assert!(record.revoked.is_none());
    assert_eq!(record.org_decisions.blocked, ["acme"]);

    // An admin of an org the owner is no member of cannot touch it.
    let stranger_org = Account {
        orgs: vec![OrgMembership {
            org_id: "initech".into(),
            role: "admin".into(),
        }],
        ..beta_account("boss")
    };
    let audit = stranger_org.audit_put("test", Timestamp::now());
    store.put_account(&stranger_org, &audit).await.unwrap();
    assert!(matches!(
        manager
            .remove_credential(at(&caller("boss"), "initech"), &id)
            .await,
        Err(ManagementError::TokenNotFound)
    ));
    let trail = manager
        .org_audit(at(&admin, "acme"), AuditFilter::default(), 10, None)
        .await
        .unwrap();
    let block = trail
        .events
        .iter()
        .find(|e| e.action == AuditAction::TokenBlock)
        .unwrap();
    assert_eq!(block.token_id, Some(pat.record.id));
    assert_eq!(block.owner, Some(Owner::user("multi")));
    assert_eq!(block.actor, "user:admin");
}

#[tokio::test]
async fn removing_a_service_key_from_its_org_revokes_it_and_others_are_not_found() {
    let (stack, store, manager) = org(policy(50)).await;
    let admin = caller("admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    let key = manager
        .create_key(at(&admin, "acme"), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    let id = key.record.id.to_string();
    // Another org's admin: not theirs, so "not found"; a made-up id too.
    let outsider = caller("outsider");
    assert!(matches!(
        manager
            .remove_credential(at(&outsider, "globex"), &id)
            .await,
        Err(ManagementError::TokenNotFound)
    ));
    let unknown = cog_tokens::PlainToken::generate().unwrap().id().to_string();
    for bad in [unknown.as_str(), "not-an-id"] {
        assert!(matches!(
            manager.remove_credential(at(&admin, "acme"), bad).await,
            Err(ManagementError::TokenNotFound)
        ));
    }
    assert_eq!(
        manager
            .remove_credential(at(&admin, "acme"), &id)
            .await
            .unwrap(),
        Removal::KeyRevoked
    );
    let authorizer = authorizer(&stack, &store).await;
    assert!(matches!(
        decide(&authorizer, &key.token, Timestamp::now()).await,
        Decision::Unauthorized(_)
    ));
}

#[tokio::test]
async fn an_orgs_pat_policy_applies_within_the_cache_time() {
    let (stack, store, manager) = org(policy(50)).await;
    member_of_two_orgs(&store).await;
    let multi = caller("multi");
    let month = manager
        .create(&multi, request("month"), None, Timestamp::now())
        .await
        .unwrap();
    let week = manager
        .create(
            &multi,
            TokenRequest {
                expires_in_days: Some(Some(7)),
                ..request("week")
            },
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let ttl = Duration::from_millis(400);
    let authorizer = authorizer_with_policy_ttl(&stack, &store, ttl).await;
    let decide_now = |token| decide(&authorizer, token, Timestamp::now());
    assert_eq!(org_ids(&decide_now(&month.token).await), ["acme", "globex"]);

    let admin = caller("admin");
    let blocked = OrgPolicy {
        pat_access: PatAccess::Blocked,
        pat_max_lifetime_days: None,
        idle_expiry_days: None,
        pat_approval: Default::default(),
    };
    manager
        .put_org_policy(at(&admin, "acme"), blocked)
        .await
        .unwrap();
    assert_eq!(
        manager.get_org_policy(at(&admin, "acme")).await.unwrap(),
        blocked
    );
    // Served from the cache until it expires, then applied.
    assert_eq!(org_ids(&decide_now(&month.token).await), ["acme", "globex"]);
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(org_ids(&decide_now(&month.token).await), ["globex"]);

    let short_lived = OrgPolicy {
        pat_access: PatAccess::Allowed,
        pat_max_lifetime_days: Some(7),
        idle_expiry_days: None,
        pat_approval: Default::default(),
    };
    manager
        .put_org_policy(at(&admin, "acme"), short_lived)
        .await
        .unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(org_ids(&decide_now(&month.token).await), ["globex"]);
    assert_eq!(org_ids(&decide_now(&week.token).await), ["acme", "globex"]);

    // Out of range, and only for admins.
    let too_long = OrgPolicy {
        pat_access: PatAccess::Allowed,
        pat_max_lifetime_days: Some(0),
        idle_expiry_days: None,
        pat_approval: Default::default(),
    };
    assert!(matches!(
        manager.put_org_policy(at(&admin, "acme"), too_long).await,
        Err(ManagementError::Invalid {
            code: "invalid_expiry",
            ..
        })
    ));
    assert!(matches!(
        manager.put_org_policy(at(&multi, "acme"), blocked).await,
        Err(ManagementError::OrgAdminRequired)
    ));
    let trail = manager
        .org_audit(at(&admin, "acme"), AuditFilter::default(), 10, None)
        .await
        .unwrap();
    let changes = trail
        .events
        .iter()
        .filter(|e| e.action == AuditAction::OrgPolicyPut)
        .count();
    assert_eq!(changes, 2);
}

#[tokio::test]
async fn the_inventory_lists_the_orgs_keys_and_its_members_pats_and_follows_membership() {
    let (_stack, store, manager) = org(policy(50)).await;
    member_of_two_orgs(&store).await;
    let admin = caller("admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    let key = manager
        .create_key(at(&admin, "acme"), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    let pat = manager
        .create(&caller("multi"), request("laptop"), None, Timestamp::now())
        .await
        .unwrap();
    manager
        .remove_credential(at(&admin, "acme"), pat.record.id.as_str())
        .await
        .unwrap();
    // Somebody else's credentials never show: another org's key.
    manager
        .create_service_user(at(&caller("outsider"), "globex"), deployer("theirs"))
        .await
        .unwrap();

    let all = |filter: CredentialFilter| {
        let manager = &manager;
        let admin = &admin;
        async move {
            let mut found = Vec::new();
            let mut cursor = None;
            loop {
                let page = manager
                    .credentials(at(admin, "acme"), filter.clone(), 1, cursor.as_deref())
                    .await
                    .unwrap();
                found.extend(page.credentials);
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => return found,
                }
            }
        }
    };
    let everything = all(CredentialFilter::default()).await;
    let ids: Vec<_> = everything.iter().map(|c| c.record.id).collect();
    assert_eq!(
        ids,
        [pat.record.id, key.record.id],
        "newest first, one per page"
    );
    assert!(everything[0].blocked_here && !everything[1].blocked_here);
    let keys = all(CredentialFilter {
        kind: Some(OwnerKind::ServiceUser),
        ..CredentialFilter::default()
    })
    .await;
    assert_eq!(keys.len(), 1);
    let mine = all(CredentialFilter {
        owner: Some(Owner::user("multi")),
        ..CredentialFilter::default()
    })
    .await;
    assert_eq!(mine.len(), 1);

    // multi leaves acme (a directory update): their PAT leaves the inventory.
    let mut left = store.get_account("multi").await.unwrap().unwrap();
    left.orgs.retain(|m| m.org_id != "acme");
    let audit = left.audit_put("test", Timestamp::now());
    store.put_account(&left, &audit).await.unwrap();
    let members = store.org_members("acme").await.unwrap();
    assert!(members.iter().all(|m| m.user_id != "multi"), "{members:?}");
    assert!(store
        .org_members("globex")
        .await
        .unwrap()
        .iter()
        .any(|m| m.user_id == "multi"));
    let after = all(CredentialFilter::default()).await;
    assert_eq!(after.len(), 1);
    // Only admins list it.
    assert!(matches!(
        manager
            .credentials(
                at(&caller("member"), "acme"),
                CredentialFilter::default(),
                10,
                None
            )
            .await,
        Err(ManagementError::OrgAdminRequired)
    ));
}

/// Ten admins retry the same `If-Match` write at once (DynamoDB Local):
/// exactly one lands, the nine others are refused as stale, and what is
/// stored is the one that landed.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_naming_one_version_land_once_and_the_rest_get_412() {
    use cog_tokens::management::preconditions::IfMatch;
    let (_stack, store, manager) = org(policy(50)).await;
    let admin = caller("admin");
    let ci = manager
        .create_service_user(at(&admin, "acme"), deployer("CI"))
        .await
        .unwrap();
    let read = IfMatch::Tags(vec![ci.entity_tag()]);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (manager, id, read) = (Arc::clone(&manager), ci.id.clone(), read.clone());
            tokio::spawn(async move {
                let admin = caller("admin");
                let changes = ServiceUserChanges {
                    name: Some(format!("CI {i}")),
                    ..ServiceUserChanges::default()
                };
                manager
                    .update_service_user_if(at(&admin, "acme"), &id, changes, Some(&read))
                    .await
            })
        })
        .collect();
    let mut landed = Vec::new();
    let mut stale = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(user) => landed.push(user),
            Err(ManagementError::PreconditionFailed) => stale += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((landed.len(), stale), (1, 9), "{landed:?}");
    let stored = store.get_service_user(&ci.id).await.unwrap().unwrap();
    assert_eq!(stored.name, landed[0].name);

    let unset = IfMatch::Tags(vec![OrgPolicy::default().entity_tag()]);
    let tasks: Vec<_> = [PatAccess::Blocked, PatAccess::LimitedOnly]
        .into_iter()
        .cycle()
        .take(10)
        .map(|access| {
            let (manager, unset) = (Arc::clone(&manager), unset.clone());
            tokio::spawn(async move {
                let admin = caller("admin");
                let wanted = OrgPolicy {
                    pat_access: access,
                    pat_max_lifetime_days: None,
                    idle_expiry_days: None,
                    pat_approval: Default::default(),
                };
                manager
                    .put_org_policy_if(at(&admin, "acme"), wanted, Some(&unset))
                    .await
            })
        })
        .collect();
    let mut landed = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(policy) => landed.push(policy),
            Err(ManagementError::PreconditionFailed) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert_eq!(store.get_org_policy("acme").await.unwrap(), Some(landed[0]));
}
