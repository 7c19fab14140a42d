//! More access-narrowing changes, each refused within a second through the
//! local gateway with both cache tiers on: an allowlist narrowed and "revoke
//! all" through the management routes; an org admin revoking a key,
//! disabling a service user and blocking a member's PAT; and account changes
//! (suspension, SSO, the beta flag removed, a role lowered, a membership
//! removed) written as account-sync and cogadmin write them
//! (`PrincipalStore::put_account`, with its audit event: the outbox).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::{Duration, Instant};

use cog_integration_tests::caching::{
    cached_chain, refused_within_bound, warm, MEASURING, REVOCATION_BOUND, ROUTE,
};
use cog_integration_tests::chain::Chain;
use cog_integration_tests::{beta_account, Stack};
use cog_tokens::records::{Account, OrgMembership, PrincipalStatus, Timestamp};
use cog_tokens::store::PrincipalStore;

/// A new PAT of the signed-in `cookie`, cached at the gateway: (token, id).
async fn cached_pat(chain: &Chain, cookie: &str) -> (String, String) {
    let created = chain.create_token(cookie, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let token = created["token"].as_str().unwrap().to_owned();
    warm(chain, &token, ROUTE).await;
    (token, created["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_narrowed_allowlist_and_revoke_all_are_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["narrower"]).await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("narrower").await;
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];

    // The tests call from 127.0.0.1: an allowlist without it refuses them.
    let (token, id) = cached_pat(&chain, &cookie).await;
    let since = Instant::now();
    let body = r#"{"allowed_ips": ["203.0.113.9/32"]}"#;
    let answer = chain
        .call("PATCH", &format!("/v1/tokens/{id}"), &headers, body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "allowlist narrowed").await;

    let (token, _) = cached_pat(&chain, &cookie).await;
    let since = Instant::now();
    let answer = chain.call("DELETE", "/v1/tokens", &headers, "").await;
    assert!(answer.status < 300, "{} {}", answer.status, answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "revoke all").await;
}

#[tokio::test]
async fn an_account_suspended_moved_to_sso_or_out_of_the_beta_is_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let users = ["suspended_u", "sso_u", "no_beta_u"];
    let (store, _key) = stack.seeded(&users).await;
    let chain = cached_chain(store.table());
    let changed: [fn(Account) -> Account; 3] = [
        |a| Account {
            status: PrincipalStatus::Suspended,
            ..a
        },
        |a| Account { sso: true, ..a },
        |a| Account {
            pat_beta: false,
            ..a
        },
    ];
    for (user, change) in users.into_iter().zip(changed) {
        let cookie = chain.sign_in(user).await;
        let (token, _) = cached_pat(&chain, &cookie).await;
        let account = change(beta_account(user));
        let since = Instant::now();
        store
            .put_account(
                &account,
                &account.audit_put("account-sync", Timestamp::now()),
            )
            .await
            .unwrap();
        refused_within_bound(&chain, &token, ROUTE, since, user).await;
    }
}

/// How long after `since` whoami, called with `token`, first reports `orgs`
/// (the context a cached Allow carries); asserted within the bound.
async fn orgs_within_bound(chain: &Chain, token: &str, orgs: &str, since: Instant, what: &str) {
    loop {
        let answer = chain.with_token("GET", ROUTE, token).await;
        assert_eq!(answer.status, 200, "{what}: {}", answer.body);
        if answer.json()["orgs"] == orgs {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "{what}: context never changed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = since.elapsed();
    assert!(
        took < REVOCATION_BOUND,
        "{what}: context changed only after {took:?}"
    );
}

#[tokio::test]
async fn org_admin_changes_to_keys_service_users_and_member_pats_apply_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["org_root", "member"]).await;
    let member = Account {
        orgs: vec![OrgMembership {
            org_id: "acme".into(),
            role: "viewer".into(),
        }],
        ..beta_account("member")
    };
    store
        .put_account(&member, &member.audit_put("test", Timestamp::now()))
        .await
        .unwrap();
    let chain = cached_chain(store.table());
    let root = chain.sign_in("org_root").await;
    let json = ("content-type", "application/json");
    let created = chain
        .call(
            "POST",
            "/v1/orgs/acme/service-users",
            &[("cookie", &root), json],
            r#"{"name": "CI", "role": "deployer"}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let su = created.json()["id"].as_str().unwrap().to_owned();
    let keys = format!("/v1/orgs/acme/service-users/{su}/keys");
    let new_key = || async {
        let key = chain
            .call(
                "POST",
                &keys,
                &[("cookie", &root), json],
                r#"{"name": "deploy", "scopes": ["tokens:read"], "expires_in_days": 7}"#,
            )
            .await;
        assert_eq!(key.status, 201, "{}", key.body);
        let key = key.json();
        let token = key["token"].as_str().unwrap().to_owned();
        warm(&chain, &token, ROUTE).await;
        (token, key["id"].as_str().unwrap().to_owned())
    };

    // An org admin revokes one key.
    let (token, id) = new_key().await;
    let since = Instant::now();
    let path = format!("/v1/orgs/acme/credentials/{id}");
    let answer = chain.call("DELETE", &path, &[("cookie", &root)], "").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "org admin revokes a key").await;

    // An org admin disables the service user: its other key stops.
    let (token, _) = new_key().await;
    let since = Instant::now();
    let answer = chain
        .call(
            "PATCH",
            &format!("/v1/orgs/acme/service-users/{su}"),
            &[("cookie", &root), json],
            r#"{"status": "disabled"}"#,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "service user disabled").await;

    // An org admin blocks a member's PAT in the org: the org leaves its context.
    let cookie = chain.sign_in("member").await;
    let (token, id) = cached_pat(&chain, &cookie).await;
    let since = Instant::now();
    let path = format!("/v1/orgs/acme/credentials/{id}");
    let answer = chain.call("DELETE", &path, &[("cookie", &root)], "").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    orgs_within_bound(&chain, &token, "", since, "org block").await;
}

#[tokio::test]
async fn a_role_lowered_or_a_membership_removed_by_the_directory_applies_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["moving"]).await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("moving").await;
    let (token, _) = cached_pat(&chain, &cookie).await;
    let with_role = |role: Option<&str>| Account {
        orgs: role
            .map(|role| OrgMembership {
                org_id: "acme".into(),
                role: role.into(),
            })
            .into_iter()
            .collect(),
        ..beta_account("moving")
    };
    for (role, expected, what) in [
        (Some("viewer"), "acme:viewer", "role lowered"),
        (None, "", "membership removed"),
    ] {
        let account = with_role(role);
        let since = Instant::now();
        store
            .put_account(
                &account,
                &account.audit_put("account-sync", Timestamp::now()),
            )
            .await
            .unwrap();
        orgs_within_bound(&chain, &token, expected, since, what).await;
    }
}
