//! Both cache tiers on, as the template deploys them: API Gateway's
//! authorizer cache (the local gateway's, with its control plane) and the
//! authorizers' credential cache, kept exact by the cache invalidator. Each
//! access-narrowing change, made the way whoever makes it makes it (the
//! owner, an org admin, GitHub's secret scanning, anyone holding the value,
//! the operator's `cogadmin`, the directory through `account-sync`, time),
//! is refused (or, when it only narrows the context, no longer seen by
//! whoami) within the bound of the request that made it: measured from just
//! before that request, through the local gateway, with an Allow proven to
//! be in the gateway's cache first. One table and chain per test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::process::Command;
use std::time::{Duration, Instant};

use cog_integration_tests::caching::{
    cached_chain, cached_chain_with, context_within_bound, refused_within_bound,
    refused_within_bound_of_end, settled, warm, MEASURING, ROUTE,
};
use cog_integration_tests::chain::{Answer, Chain, ChainConfig};
use cog_integration_tests::github::FakeGitHub;
use cog_integration_tests::{beta_account, member_of, new_token, workspace_binary, Stack};
use cog_tokens::records::{Account, AuditAction, AuditEvent, Owner, Timestamp};
use cog_tokens::store::gateway::FlushSchedule;
use cog_tokens::store::pepper::PepperSource;
use cog_tokens::store::{PrincipalStore, TokenStore};
use serde_json::json;

const JSON: (&str, &str) = ("content-type", "application/json");
/// The directory's AWS account, as `account-sync` is told it.
const DIRECTORY_ACCOUNT: &str = "123456789012";
/// The schedule's input (template.yaml, `CredentialEnds`).
const TICK: &str = r#"{"tick": "credential-ends"}"#;

/// A new PAT of the signed-in `cookie` whose Allow is in the gateway's
/// cache, with no earlier change's flush still to come: (token, id).
async fn cached_pat(chain: &Chain, cookie: &str) -> (String, String) {
    let created = chain.create_token(cookie, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let token = created["token"].as_str().unwrap().to_owned();
    settled(chain).await;
    warm(chain, &token, ROUTE).await;
    (token, created["id"].as_str().unwrap().to_owned())
}

/// A service user of org `acme` made by the admin `cookie`: its id.
async fn service_user(chain: &Chain, cookie: &str, role: &str) -> String {
    let body = json!({"name": "CI", "role": role}).to_string();
    let created = chain
        .call(
            "POST",
            "/v1/orgs/acme/service-users",
            &[("cookie", cookie), JSON],
            &body,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.json()["id"].as_str().unwrap().to_owned()
}

/// A new key of service user `su` whose Allow is in the gateway's cache,
/// with no earlier change's flush still to come: (token, id).
async fn cached_key(chain: &Chain, cookie: &str, su: &str) -> (String, String) {
    let key = chain
        .call(
            "POST",
            &format!("/v1/orgs/acme/service-users/{su}/keys"),
            &[("cookie", cookie), JSON],
            r#"{"name": "deploy", "scopes": ["tokens:read"], "expires_in_days": 7}"#,
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    let key = key.json();
    let token = key["token"].as_str().unwrap().to_owned();
    settled(chain).await;
    warm(chain, &token, ROUTE).await;
    (token, key["id"].as_str().unwrap().to_owned())
}

/// `user`'s account with `orgs` as (org, role) and every flag as seeded.
async fn put_account(store: &impl PrincipalStore, account: &Account) {
    let audit = account.audit_put("test", Timestamp::now());
    store.put_account(account, &audit).await.unwrap();
}

/// The directory's EventBridge event for `account`, versioned now (its
/// `updated_at`, milliseconds).
fn directory_event(account: &Account) -> String {
    let orgs: Vec<_> = account
        .orgs
        .iter()
        .map(|m| json!({"org": m.org_id, "role": m.role}))
        .collect();
    let status = serde_json::to_value(account.status).unwrap();
    json!({"version": "0", "id": "1", "detail-type": "AccountUpdated",
           "source": "platform.directory", "account": DIRECTORY_ACCOUNT,
           "time": "2026-11-28T10:00:00Z", "region": "eu-west-1", "resources": [],
           "detail": {"user_id": account.user_id, "status": status, "sso": account.sso,
                      "pat_beta": account.pat_beta, "orgs": orgs,
                      "version": Timestamp::now().0}})
    .to_string()
}

/// Starts `account-sync` in `chain` and applies a first event (an
/// unrelated account's), so the measured ones do not include its cold start.
async fn with_account_sync(chain: &mut Chain, table: &str) {
    chain.start_extra_function(
        "account-sync",
        "functions/account-sync/src",
        table,
        &[("DIRECTORY_ACCOUNT_ID", DIRECTORY_ACCOUNT)],
    );
    let first = directory_event(&member_of("bystander", &[]));
    assert_applied(&chain.invoke("account-sync", &first).await.unwrap());
}

fn assert_applied(answer: &Answer) {
    assert!(
        answer.status == 200 && answer.body.contains("Applied"),
        "account-sync: {} {}",
        answer.status,
        answer.body
    );
}

/// `cogadmin` with `args` against `table` (the stack's endpoints inherited).
async fn cogadmin(table: &str, args: &[&str]) {
    let (table, args) = (
        table.to_owned(),
        args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new(workspace_binary("cogadmin"))
            .args(&args)
            .env("TABLE_NAME", &table)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
}

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
    settled(&chain).await;
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

#[tokio::test]
async fn an_org_admin_revoking_a_cached_key_through_the_orgs_credentials_is_refused_within_a_second(
) {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["cred_admin"]).await;
    let chain = cached_chain(store.table());
    let root = chain.sign_in("cred_admin").await;
    let su = service_user(&chain, &root, "deployer").await;
    let (token, id) = cached_key(&chain, &root, &su).await;

    let since = Instant::now();
    let path = format!("/v1/orgs/acme/credentials/{id}");
    let answer = chain.call("DELETE", &path, &[("cookie", &root)], "").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "org admin revokes a key").await;
}

#[tokio::test]
async fn a_cached_pat_reported_leaked_by_github_is_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["leaker"]).await;
    let github = FakeGitHub::start().await;
    let chain = cached_chain_with(ChainConfig {
        table: store.table().to_owned(),
        function_env: vec![("GITHUB_KEYS_URL".into(), github.keys_url.clone())],
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("leaker").await;
    let (token, _) = cached_pat(&chain, &cookie).await;
    let body = FakeGitHub::report(&[token.as_str()]);
    let signature = github.sign(&body);
    let headers = [
        JSON,
        ("github-public-key-identifier", github.key_id.as_str()),
        ("github-public-key-signature", signature.as_str()),
    ];

    let since = Instant::now();
    let answer = chain
        .call("POST", "/v1/secret-scanning/github", &headers, &body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "GitHub leak report").await;
}

#[tokio::test]
async fn a_cached_pat_revoked_by_its_value_on_the_public_route_is_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["finder"]).await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("finder").await;
    let (token, _) = cached_pat(&chain, &cookie).await;
    let body = json!({ "credentials": [token] }).to_string();

    // Anyone holding the value may: no session, no signature.
    let since = Instant::now();
    let answer = chain
        .call("POST", "/v1/credentials/revoke", &[JSON], &body)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "public revoke by value").await;
}

#[tokio::test]
async fn an_operators_cogadmin_revoke_all_or_suspension_is_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["op_revoked", "op_suspended"]).await;
    let chain = cached_chain(store.table());

    // `cogadmin` has no one-token revoke: revoke-all is the operator's.
    let cookie = chain.sign_in("op_revoked").await;
    let (token, _) = cached_pat(&chain, &cookie).await;
    let since = Instant::now();
    cogadmin(
        store.table(),
        &["token", "revoke-all", "--owner", "op_revoked"],
    )
    .await;
    refused_within_bound(&chain, &token, ROUTE, since, "cogadmin token revoke-all").await;

    let cookie = chain.sign_in("op_suspended").await;
    let (token, _) = cached_pat(&chain, &cookie).await;
    let since = Instant::now();
    let suspend = [
        "account",
        "put",
        "op_suspended",
        "--status",
        "suspended",
        "--beta",
        "--org",
        "acme:admin",
    ];
    cogadmin(store.table(), &suspend).await;
    refused_within_bound(
        &chain,
        &token,
        ROUTE,
        since,
        "cogadmin account put suspended",
    )
    .await;
}

#[tokio::test]
async fn the_old_pat_of_a_rotation_without_grace_is_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["rotator"]).await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("rotator").await;
    let (old, id) = cached_pat(&chain, &cookie).await;

    let since = Instant::now();
    let path = format!("/v1/tokens/{id}/rotate");
    let answer = chain.call("POST", &path, &[("cookie", &cookie)], "").await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    refused_within_bound(&chain, &old, ROUTE, since, "rotation without grace").await;
    let new = answer.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(chain.with_token("GET", ROUTE, &new).await.status, 200);
}

#[tokio::test]
async fn the_old_pat_of_a_rotation_is_refused_within_a_second_of_its_grace_ending() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["graceful"]).await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("graceful").await;
    let (old, id) = cached_pat(&chain, &cookie).await;
    // Long enough for the rotation's own flushes to be done before it ends.
    let path = format!("/v1/tokens/{id}/rotate");
    let answer = chain
        .call(
            "POST",
            &path,
            &[("cookie", &cookie), JSON],
            r#"{"grace_seconds": 3}"#,
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let record = store
        .get_token(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let end = record.revoked.unwrap().at;

    // Nothing is written when a grace ends: the invalidator recorded the
    // end from the rotation's audit item, and its scheduled run (EventBridge
    // Scheduler's, each minute) flushes then. Started once the end is there.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ends = store
            .scheduled_ends(Timestamp::now(), end.plus_seconds(1))
            .await
            .unwrap();
        if ends
            .iter()
            .any(|(at, token)| *at == end && token.as_str() == id)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the grace's end was never scheduled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tick = chain.invoke("cache-invalidator", TICK);
    refused_within_bound_of_end(&chain, &old, ROUTE, end, "rotation grace ended").await;
    let tick = tick.await.unwrap();
    assert_eq!(tick.status, 200, "{}", tick.body);
}

#[tokio::test]
async fn a_narrowed_ip_allowlist_is_refused_within_a_second_and_no_route_narrows_scopes_or_orgs() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["networked"]).await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("networked").await;
    let headers = [("cookie", cookie.as_str()), JSON];
    let body = r#"{"name": "office", "scopes": ["tokens:read"], "expires_in_days": 7, "allowed_ips": ["127.0.0.1"]}"#;
    let created = chain.call("POST", "/v1/tokens", &headers, body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let (token, id) = (
        created.json()["token"].as_str().unwrap().to_owned(),
        created.json()["id"].as_str().unwrap().to_owned(),
    );
    warm(&chain, &token, ROUTE).await;
    let path = format!("/v1/tokens/{id}");

    // The tests call from 127.0.0.1: a list without it refuses them.
    let since = Instant::now();
    let narrowed = r#"{"allowed_ips": ["203.0.113.0/24"]}"#;
    let answer = chain.call("PATCH", &path, &headers, narrowed).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "allowlist narrowed").await;

    // A token's scopes and org limit are fixed at creation: PATCH takes
    // only `allowed_ips`, so no route narrows them and there is nothing to
    // measure. Should one appear, these turn into that test.
    for change in [r#"{"scopes": []}"#, r#"{"orgs": []}"#] {
        let answer = chain.call("PATCH", &path, &headers, change).await;
        assert_eq!(answer.status, 400, "{change}: {}", answer.body);
    }
}

#[tokio::test]
async fn an_org_admin_blocking_a_members_cached_pat_drops_the_org_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["block_admin"]).await;
    put_account(&store, &member_of("blocked_member", &[("acme", "viewer")])).await;
    let chain = cached_chain(store.table());
    let root = chain.sign_in("block_admin").await;
    let cookie = chain.sign_in("blocked_member").await;
    let (token, id) = cached_pat(&chain, &cookie).await;
    assert_eq!(
        chain.with_token("GET", ROUTE, &token).await.json()["orgs"],
        "acme:viewer"
    );

    // The PAT keeps working for the member; the org leaves its context.
    let since = Instant::now();
    let path = format!("/v1/orgs/acme/credentials/{id}");
    let answer = chain.call("DELETE", &path, &[("cookie", &root)], "").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    context_within_bound(&chain, &token, ROUTE, ("orgs", ""), since, "org block").await;
}

#[tokio::test]
async fn an_org_blocking_pats_drops_it_from_a_cached_pats_context_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["policy_admin"]).await;
    put_account(
        &store,
        &member_of("policy_member", &[("acme", "viewer"), ("globex", "admin")]),
    )
    .await;
    let chain = cached_chain(store.table());
    let root = chain.sign_in("policy_admin").await;
    let cookie = chain.sign_in("policy_member").await;
    let (token, _) = cached_pat(&chain, &cookie).await;
    let orgs = chain.with_token("GET", ROUTE, &token).await.json()["orgs"].clone();
    assert_eq!(orgs, "acme:viewer,globex:admin");

    // The authorizer drops the org from the context (org_policies.rs):
    // the PAT still works, for globex and for routes tied to no org.
    let since = Instant::now();
    let answer = chain
        .call(
            "PUT",
            "/v1/orgs/acme/policy",
            &[("cookie", &root), JSON],
            r#"{"pat_access": "blocked"}"#,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let dropped = ("orgs", "globex:admin");
    context_within_bound(&chain, &token, ROUTE, dropped, since, "org blocks PATs").await;
}

#[tokio::test]
async fn an_org_admin_denying_a_members_cached_pat_drops_the_org_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["deny_admin"]).await;
    put_account(&store, &member_of("denied_member", &[("acme", "viewer")])).await;
    let chain = cached_chain(store.table());
    let root = chain.sign_in("deny_admin").await;
    let cookie = chain.sign_in("denied_member").await;
    let (token, id) = cached_pat(&chain, &cookie).await;
    // Approval turned on: the PAT there before it counts as approved.
    put_policy(
        &chain,
        &root,
        r#"{"pat_access": "allowed", "pat_approval": "required"}"#,
    )
    .await;
    settled(&chain).await;
    assert_eq!(
        chain.with_token("GET", ROUTE, &token).await.json()["orgs"],
        "acme:viewer"
    );
    warm(&chain, &token, ROUTE).await;

    let since = Instant::now();
    let path = format!("/v1/orgs/acme/credentials/{id}/approval");
    let body = r#"{"decision": "deny", "reason": "not in this org"}"#;
    let answer = chain
        .call("POST", &path, &[("cookie", &root), JSON], body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    context_within_bound(&chain, &token, ROUTE, ("orgs", ""), since, "org denial").await;
}

/// `PUT /v1/orgs/acme/policy` by the admin `cookie`.
async fn put_policy(chain: &Chain, cookie: &str, body: &str) {
    let headers = [("cookie", cookie), JSON];
    let answer = chain
        .call("PUT", "/v1/orgs/acme/policy", &headers, body)
        .await;
    assert_eq!(answer.status, 200, "{body}: {}", answer.body);
}

#[tokio::test]
async fn an_org_max_lifetime_a_cached_pat_exceeds_drops_the_org_from_its_context_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["lifetime_admin"]).await;
    let chain = cached_chain(store.table());
    let root = chain.sign_in("lifetime_admin").await;
    let (token, _) = cached_pat(&chain, &root).await;

    // A 7-day PAT exceeds a 1-day maximum lifetime.
    let since = Instant::now();
    put_policy(
        &chain,
        &root,
        r#"{"pat_access": "allowed", "pat_max_lifetime_days": 1}"#,
    )
    .await;
    let dropped = ("orgs", "");
    context_within_bound(&chain, &token, ROUTE, dropped, since, "org max lifetime").await;
}

#[tokio::test]
async fn an_org_admitting_only_limited_pats_drops_it_from_an_unlimited_cached_pat_within_a_second()
{
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["limited_admin"]).await;
    let chain = cached_chain(store.table());
    let root = chain.sign_in("limited_admin").await;
    let body = r#"{"name": "acme only", "scopes": ["tokens:read"], "expires_in_days": 7, "orgs": ["acme"]}"#;
    let limited = chain
        .call("POST", "/v1/tokens", &[("cookie", &root), JSON], body)
        .await;
    assert_eq!(limited.status, 201, "{}", limited.body);
    let limited = limited.json()["token"].as_str().unwrap().to_owned();
    let (token, _) = cached_pat(&chain, &root).await;

    let since = Instant::now();
    put_policy(&chain, &root, r#"{"pat_access": "limited_only"}"#).await;
    let dropped = ("orgs", "");
    context_within_bound(&chain, &token, ROUTE, dropped, since, "org limited_only").await;
    let kept = chain.with_token("GET", ROUTE, &limited).await;
    assert_eq!(
        kept.json()["orgs"],
        "acme:admin",
        "the limited PAT keeps it"
    );
}

#[tokio::test]
async fn a_lowered_role_is_seen_and_a_disabled_service_users_cached_key_is_refused_within_a_second()
{
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["su_admin"]).await;
    let chain = cached_chain(store.table());
    let root = chain.sign_in("su_admin").await;
    let su = service_user(&chain, &root, "deployer").await;
    let (token, _) = cached_key(&chain, &root, &su).await;
    let path = format!("/v1/orgs/acme/service-users/{su}");

    let since = Instant::now();
    let lowered = r#"{"role": "viewer"}"#;
    let answer = chain
        .call("PATCH", &path, &[("cookie", &root), JSON], lowered)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let viewer = ("orgs", "acme:viewer");
    context_within_bound(
        &chain,
        &token,
        ROUTE,
        viewer,
        since,
        "service user role lowered",
    )
    .await;

    settled(&chain).await;
    warm(&chain, &token, ROUTE).await;
    let since = Instant::now();
    let disabled = r#"{"status": "disabled"}"#;
    let answer = chain
        .call("PATCH", &path, &[("cookie", &root), JSON], disabled)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "service user disabled").await;
}

#[tokio::test]
async fn a_revoked_service_user_key_is_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["key_admin"]).await;
    let chain = cached_chain(store.table());
    let root = chain.sign_in("key_admin").await;
    let su = service_user(&chain, &root, "deployer").await;
    let (token, id) = cached_key(&chain, &root, &su).await;

    let since = Instant::now();
    let path = format!("/v1/orgs/acme/service-users/{su}/keys/{id}");
    let answer = chain.call("DELETE", &path, &[("cookie", &root)], "").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    refused_within_bound(&chain, &token, ROUTE, since, "service user key revoked").await;
}

#[tokio::test]
async fn an_account_suspended_moved_to_sso_or_out_of_the_beta_by_the_directory_is_refused_within_a_second(
) {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let users = ["dir_suspended", "dir_sso", "dir_no_beta"];
    let (store, _key) = stack.seeded(&users).await;
    let mut chain = cached_chain(store.table());
    with_account_sync(&mut chain, store.table()).await;
    let changed: [fn(Account) -> Account; 3] = [
        |a| Account {
            status: cog_tokens::records::PrincipalStatus::Suspended,
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
        let event = directory_event(&change(beta_account(user)));
        let since = Instant::now();
        assert_applied(&chain.invoke("account-sync", &event).await.unwrap());
        refused_within_bound(&chain, &token, ROUTE, since, &format!("directory: {user}")).await;
    }
}

#[tokio::test]
async fn a_role_lowered_or_a_membership_removed_through_account_sync_leaves_the_context_within_a_second(
) {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["dir_member"]).await;
    let mut chain = cached_chain(store.table());
    with_account_sync(&mut chain, store.table()).await;
    let cookie = chain.sign_in("dir_member").await;
    let (token, _) = cached_pat(&chain, &cookie).await;
    assert_eq!(
        chain.with_token("GET", ROUTE, &token).await.json()["orgs"],
        "acme:admin"
    );

    for (orgs, expected, what) in [
        (
            &[("acme", "viewer")][..],
            "acme:viewer",
            "directory: role lowered",
        ),
        (&[][..], "", "directory: membership removed"),
    ] {
        settled(&chain).await;
        warm(&chain, &token, ROUTE).await;
        let event = directory_event(&member_of("dir_member", orgs));
        let since = Instant::now();
        assert_applied(&chain.invoke("account-sync", &event).await.unwrap());
        context_within_bound(&chain, &token, ROUTE, ("orgs", expected), since, what).await;
    }
}

#[tokio::test]
async fn an_owner_revoking_all_their_cached_pats_is_refused_within_a_second() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["revoker"]).await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("revoker").await;
    let (first, _) = cached_pat(&chain, &cookie).await;
    let (second, _) = cached_pat(&chain, &cookie).await;

    let since = Instant::now();
    let answer = chain
        .call("DELETE", "/v1/tokens", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["revoked"], 2, "{}", answer.body);
    refused_within_bound(&chain, &second, ROUTE, since, "revoke all (newest)").await;
    refused_within_bound(&chain, &first, ROUTE, since, "revoke all (oldest)").await;
}

#[tokio::test]
async fn a_cached_pat_is_refused_within_a_second_of_its_expiry() {
    let _one_at_a_time = MEASURING.lock().await;
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["expiring"]).await;
    let chain = cached_chain(store.table());
    settled(&chain).await;
    // Expiry is in days through the routes: a record made here ends in
    // seconds, as a 7-day token does on its last day.
    let ring = cog_tokens::aws::kms::KmsPepperSource::new(stack.kms.clone(), store.clone())
        .load_ring()
        .await
        .unwrap();
    let owner = Owner::user("expiring");
    let now = Timestamp::now();
    let end = now.plus_seconds(4);
    let (token, record) = new_token(&owner, ring.current(), now, Some(end));
    let audit = AuditEvent::new("test", AuditAction::TokenCreate, owner, now).for_token(record.id);
    store.create_token(&record, 50, &audit).await.unwrap();
    let token = token.expose_secret().to_owned();
    // The scheduled run flushes for tokens used recently: used first.
    warm(&chain, &token, ROUTE).await;

    let tick = chain.invoke("cache-invalidator", TICK);
    refused_within_bound_of_end(&chain, &token, ROUTE, end, "expiry").await;
    let tick = tick.await.unwrap();
    assert_eq!(tick.status, 200, "{}", tick.body);
}
