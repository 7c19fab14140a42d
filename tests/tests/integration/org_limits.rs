//! PATs limited to the orgs their owner chooses, on the real stack: the
//! authorizer carries the intersection of the limit and the owner's live
//! memberships, and an org's `limited_only` policy admits only PATs that
//! name it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_integration_tests::services::{authorizer, decide, manager, policy, request, Manager};
use cog_integration_tests::{caller, member_of, Stack};
use cog_tokens::authorize::Decision;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::{
    CredentialFilter, ManagementError, OrgCall, ServiceUserRequest, TokenRequest,
};
use cog_tokens::records::{Account, OrgPolicy, PatAccess, Timestamp};
use cog_tokens::store::PrincipalStore;
use cog_tokens::PlainToken;

async fn put(store: &DynamoStore, account: &Account) {
    let audit = account.audit_put("test", Timestamp::now());
    store.put_account(account, &audit).await.unwrap();
}

async fn pat(manager: &Manager, user: &str, name: &str, orgs: Option<&[&str]>) -> PlainToken {
    let request = TokenRequest {
        orgs: orgs.map(|orgs| orgs.iter().map(|o| (*o).to_owned()).collect()),
        ..request(name)
    };
    manager
        .create(&caller(user), request, None, Timestamp::now())
        .await
        .unwrap()
        .token
}

/// The orgs an allowed token carries, as `org:role`.
fn carried(decision: Decision) -> Vec<String> {
    let Decision::Allow(identity) = decision else {
        panic!("not allowed: {decision:?}");
    };
    assert_eq!(identity.scopes, ["tokens:read"], "scopes intact");
    identity
        .orgs
        .iter()
        .map(|m| format!("{}:{}", m.org_id, m.role))
        .collect()
}

#[tokio::test]
async fn a_limited_pat_carries_its_orgs_among_its_owners_live_memberships_only() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&[]).await;
    put(
        &store,
        &member_of("lia", &[("acme", "admin"), ("globex", "viewer")]),
    )
    .await;
    let manager = manager(&stack, &store, policy(50)).await;
    let limited = pat(&manager, "lia", "acme-only", Some(&["acme"])).await;
    let unlimited = pat(&manager, "lia", "everywhere", None).await;
    let authorizer = authorizer(&stack, &store).await;
    let now = Timestamp::now();
    assert_eq!(
        carried(decide(&authorizer, &limited, now).await),
        ["acme:admin"]
    );
    assert_eq!(
        carried(decide(&authorizer, &unlimited, now).await),
        ["acme:admin", "globex:viewer"]
    );

    // Listings and reads show the limit; rotation keeps it.
    let record = manager
        .get(&caller("lia"), limited.id().as_str())
        .await
        .unwrap();
    assert_eq!(record.org_limit, Some(vec!["acme".to_owned()]));
    let rotated = manager
        .rotate(&caller("lia"), limited.id().as_str(), Some(60), None, now)
        .await
        .unwrap();
    assert_eq!(rotated.record.org_limit, record.org_limit);

    // Leaving acme leaves the limited PAT with no org (still a valid
    // identity); joining initech adds nothing to it.
    put(
        &store,
        &member_of("lia", &[("globex", "viewer"), ("initech", "admin")]),
    )
    .await;
    let later = Timestamp::now();
    assert!(carried(decide(&authorizer, &limited, later).await).is_empty());
    assert!(carried(decide(&authorizer, &rotated.token, later).await).is_empty());
    assert_eq!(
        carried(decide(&authorizer, &unlimited, later).await),
        ["globex:viewer", "initech:admin"]
    );
}

#[tokio::test]
async fn an_orgs_limited_only_policy_drops_unlimited_pats_from_it() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&[]).await;
    put(
        &store,
        &member_of("leo", &[("acme", "admin"), ("globex", "viewer")]),
    )
    .await;
    let manager = manager(&stack, &store, policy(50)).await;
    let limited = pat(&manager, "leo", "named", Some(&["acme", "globex"])).await;
    let unlimited = pat(&manager, "leo", "unnamed", None).await;
    let limited_only = OrgPolicy {
        pat_access: PatAccess::LimitedOnly,
        pat_max_lifetime_days: None,
        idle_expiry_days: None,
        pat_approval: Default::default(),
    };
    manager
        .put_org_policy(
            OrgCall {
                admin: &caller("leo"),
                org: "acme",
                now: Timestamp::now(),
            },
            limited_only,
        )
        .await
        .unwrap();
    let authorizer = authorizer(&stack, &store).await;
    let now = Timestamp::now();
    assert_eq!(
        carried(decide(&authorizer, &limited, now).await),
        ["acme:admin", "globex:viewer"]
    );
    assert_eq!(
        carried(decide(&authorizer, &unlimited, now).await),
        ["globex:viewer"],
        "an unlimited PAT does not name acme"
    );

    // acme's inventory lists the PATs that can act in acme, not one limited elsewhere.
    let elsewhere = pat(&manager, "leo", "globex-only", Some(&["globex"])).await;
    let page = manager
        .credentials(
            OrgCall {
                admin: &caller("leo"),
                org: "acme",
                now: Timestamp::now(),
            },
            CredentialFilter::default(),
            100,
            None,
        )
        .await
        .unwrap();
    let listed: Vec<_> = page.credentials.iter().map(|c| c.record.id).collect();
    assert!(listed.contains(&limited.id()) && listed.contains(&unlimited.id()));
    assert!(!listed.contains(&elsewhere.id()), "{listed:?}");
    // Of a PAT limited to acme and globex, acme's admins see acme only.
    let shown = page
        .credentials
        .iter()
        .find(|c| c.record.id == limited.id())
        .unwrap();
    assert_eq!(shown.record.org_limit, Some(vec!["acme".to_owned()]));
    let unlimited_shown = page
        .credentials
        .iter()
        .find(|c| c.record.id == unlimited.id())
        .unwrap();
    assert_eq!(unlimited_shown.record.org_limit, None);
}

#[tokio::test]
async fn org_lists_that_are_not_the_callers_orgs_are_refused() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["lou"]).await; // admin of acme
    let manager = manager(&stack, &store, policy(50)).await;
    let cases: [(Vec<String>, &str); 3] = [
        (vec!["acme".into(), "globex".into()], "unknown_org"),
        (vec![], "invalid_orgs"),
        (
            (0..21).map(|i| format!("org-{i}")).collect(),
            "too_many_orgs",
        ),
    ];
    for (orgs, code) in cases {
        let created = manager
            .create(
                &caller("lou"),
                TokenRequest {
                    orgs: Some(orgs),
                    ..request("bad")
                },
                None,
                Timestamp::now(),
            )
            .await;
        assert!(
            matches!(&created, Err(ManagementError::Invalid { field: "orgs", code: c, .. }) if *c == code),
            "{created:?}"
        );
    }
    let unknown = manager
        .create(
            &caller("lou"),
            TokenRequest {
                orgs: Some(vec!["globex".into()]),
                ..request("bad")
            },
            None,
            Timestamp::now(),
        )
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("globex"), "{unknown}");

    // A service key acts in its service user's org: no limit to choose.
    let at = OrgCall {
        admin: &caller("lou"),
        org: "acme",
        now: Timestamp::now(),
    };
    let ci = manager
        .create_service_user(
            at,
            ServiceUserRequest {
                name: "CI".into(),
                role: "deployer".into(),
            },
        )
        .await
        .unwrap();
    let key = manager
        .create_key(
            at,
            &ci.id,
            TokenRequest {
                orgs: Some(vec!["acme".into()]),
                ..request("deploy")
            },
            None,
        )
        .await;
    assert!(matches!(
        key,
        Err(ManagementError::Invalid {
            code: "invalid_orgs",
            ..
        })
    ));
}
