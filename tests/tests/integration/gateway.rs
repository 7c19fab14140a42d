//! End to end through the local gateway: HTTP in, dev session or Lambda
//! authorizer, the real function binaries behind `cargo lambda watch`, the
//! real DynamoDB Local and KMS emulator underneath.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::process::Command;

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::events::EventTap;
use cog_integration_tests::same_id_other_secret;
use cog_integration_tests::{beta_account, repo_root, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::records::Account;
use cog_tokens::store::{PrincipalStore, TokenStore};
use serde_json::Value;

async fn sso_account(store: &DynamoStore, user: &str) {
    let account = Account {
        sso: true,
        ..beta_account(user)
    };
    store
        .put_account(
            &account,
            &account.audit_put("test", cog_tokens::records::Timestamp::now()),
        )
        .await
        .unwrap();
}

async fn create(chain: &Chain, cookie: &str, scopes: &str) -> (u16, Value) {
    let answer = chain.create_token(cookie, scopes).await;
    (answer.status, answer.json())
}

#[tokio::test]
async fn the_make_dev_walkthrough_runs_as_printed_through_the_gateway() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["walker"]).await;
    let tap = EventTap::create();
    // As `make dev` runs it: both cache tiers on, so a revocation the
    // walkthrough shows refused went through the cache invalidator.
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        function_env: vec![("EVENT_BUS_NAME".into(), tap.bus.clone())],
        stream_deliveries: Some(1),
        caching: true,
        ..ChainConfig::default()
    });
    let session_file = chain.logs().join("session");

    // Twice in a row, as a developer runs it again: each run the same.
    for run in 1..=2 {
        let output = Command::new("bash")
            .arg(repo_root().join("infra/local/walkthrough.sh"))
            .current_dir(repo_root())
            .env("EVENTS_QUEUE_URL", tap.queue_url())
            .env("GATEWAY_URL", &chain.url)
            .env("DEV_USER", "walker")
            .env("DEV_ORG", "acme")
            .env("SESSION_FILE", &session_file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "run {run}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        check_walkthrough(&store, &stdout).await;
    }
}

/// What one run of the walkthrough printed, and what it left in the table.
async fn check_walkthrough(store: &DynamoStore, stdout: &str) {
    // sign in, create, whoami, list, revoke, whoami again; then as the org's
    // admin: service user, key, whoami as it, the inventory, block a PAT,
    // whoami with it, disable, whoami refused, the org's trail; a PAT
    // limited to an org the user is not in (400), one limited to the org
    // (whoami); a leak reported (202) and the leaked token refused; the
    // tidy-up's three revocations
    let statuses: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("HTTP "))
        .collect();
    assert_eq!(
        statuses,
        [
            "201", "201", "200", "200", "204", "401", "201", "201", "200", "200", "204", "200",
            "200", "401", "200", "400", "200", "202", "401", "204", "204", "204"
        ],
        "{stdout}"
    );
    let tokens: Vec<&str> = regex_lite::Regex::new("cog_[0-9A-Za-z]{54}")
        .unwrap()
        .find_iter(stdout)
        .map(|m| m.as_str())
        .collect();
    let (token, key) = (tokens[0].to_owned(), tokens[1]);
    // Every secret is printed once, at creation, and nowhere after (the
    // blocked PAT's never: the walkthrough keeps it in a variable).
    assert_eq!(tokens.len(), 2, "{stdout}");
    let id = &token[4..20];
    let json_lines: Vec<Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let whoamis: Vec<&Value> = json_lines
        .iter()
        .filter(|v| v.get("auth_method").is_some())
        .collect();
    assert_eq!(whoamis.len(), 4, "{stdout}");
    assert_eq!(
        whoamis[3]["orgs"], "acme:admin",
        "the limited PAT carries its org"
    );
    assert_eq!(whoamis[0]["principal_id"], "walker", "{stdout}");
    assert_eq!(whoamis[0]["auth_method"], "pat");
    assert_eq!(whoamis[0]["token_id"], id);
    assert_eq!(whoamis[0]["orgs"], "acme:admin");
    assert_eq!(whoamis[1]["auth_method"], "service_key");
    assert_eq!(whoamis[1]["token_id"], &key[4..20]);
    assert_eq!(whoamis[1]["orgs"], "acme:deployer");
    assert_eq!(whoamis[2]["auth_method"], "pat");
    assert_eq!(whoamis[2]["orgs"], "", "the blocked PAT carries no org");
    // The list shows this run's token, and no earlier run's: those were revoked.
    let listed = json_lines
        .iter()
        .find(|v| v.get("tokens").is_some())
        .unwrap();
    let listed: Vec<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [id], "{stdout}");
    let inventory = json_lines
        .iter()
        .find(|v| v.get("credentials").is_some())
        .unwrap();
    let credentials = inventory["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 1, "{inventory}");
    assert_eq!(credentials[0]["type"], "service_key");
    assert_eq!(credentials[0]["id"], &key[4..20]);
    assert!(
        credentials[0].get("token").is_none(),
        "no secret in the inventory"
    );
    let trail = json_lines
        .iter()
        .rfind(|v| v.get("events").is_some())
        .unwrap();
    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "service_user.update",
            "token.block",
            "token.create",
            "service_user.create"
        ],
        "{stdout}"
    );

    // Every change of this run reached the bus once, the leak's revocation
    // and the tidy-up's too, and none of an earlier run's.
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("Credential"))
        .collect();
    let count = |kind: &str, by: &str| {
        summary
            .iter()
            .filter(|l| l.starts_with(kind) && l.ends_with(by))
            .count()
    };
    assert_eq!(
        count("Credential Revoked", "by=public-revoke"),
        1,
        "{stdout}"
    );
    assert_eq!(count("Credential Created", "by=user:walker"), 5, "{stdout}");
    assert_eq!(count("Credential Revoked", "by=user:walker"), 4, "{stdout}");
    assert_eq!(
        count("Credential Blocked In Org", "by=user:walker"),
        1,
        "{stdout}"
    );

    // The revocation is durable, by the user, in DynamoDB.
    let record = store
        .get_token(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.revoked.unwrap().by, "user:walker");
}

#[tokio::test]
async fn management_needs_a_session_and_a_token_is_not_one() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["mia"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("mia").await;
    let (status, created) = create(&chain, &cookie, r#"["tokens:read"]"#).await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();

    // A page whose name was rebound to 127.0.0.1 reaches no route, not even sign-in.
    for path in ["/_dev/session", "/v1/tokens"] {
        let answer = chain
            .call(
                "POST",
                path,
                &[("host", "rebound.example:8080"), ("cookie", &cookie)],
                r#"{"sub": "mia"}"#,
            )
            .await;
        assert_eq!(answer.status, 421, "{path}: {}", answer.body);
    }

    // No session: the JWT authorizer's 401, before any function runs.
    let answer = chain.call("GET", "/v1/tokens", &[], "").await;
    assert_eq!(
        (answer.status, answer.json()["message"].as_str()),
        (401, Some("Unauthorized"))
    );
    // A cog_ token cannot manage tokens.
    let answer = chain.with_token("GET", "/v1/tokens", &token).await;
    assert_eq!(answer.status, 401);
    // A session that ended is no session.
    let ended = chain
        .call("DELETE", "/_dev/session", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(ended.status, 204);
    let answer = chain
        .call("GET", "/v1/tokens", &[("cookie", &cookie)], "")
        .await;
    assert_eq!(answer.status, 401);
    // Unknown routes are API Gateway's 404.
    let answer = chain.call("GET", "/v1/nothing", &[], "").await;
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn sso_is_refused_bad_tokens_are_401_and_a_missing_scope_is_403() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["reader"]).await;
    sso_account(&store, "corp-user").await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        route_rules: r#"[{"method": "GET", "path": "/v1/whoami", "scope": "orgs:read"}]"#.into(),
        ..ChainConfig::default()
    });

    // An SSO/enterprise account may not have PATs.
    let sso = chain.sign_in("corp-user").await;
    let (status, problem) = create(&chain, &sso, r#"["tokens:read"]"#).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["code"], "pat_unavailable_for_sso");

    let reader = chain.sign_in("reader").await;
    let (_, narrow) = create(&chain, &reader, r#"["tokens:read"]"#).await;
    let (_, scoped) = create(&chain, &reader, r#"["orgs:read"]"#).await;
    let narrow = narrow["token"].as_str().unwrap().to_owned();
    let scoped = scoped["token"].as_str().unwrap().to_owned();

    let whoami = |token: String| {
        let chain = &chain;
        async move { chain.with_token("GET", "/v1/whoami", &token).await }
    };
    // Valid, but the rule on GET /v1/whoami wants orgs:read: 403.
    let answer = whoami(narrow.clone()).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (403, r#"{"message":"Forbidden"}"#)
    );
    let answer = whoami(scoped.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["scopes"], "orgs:read");

    // Wrong secret, unknown id, malformed, missing: all 401, all alike.
    let unknown = cog_tokens::PlainToken::generate().unwrap();
    for token in [
        same_id_other_secret(&scoped),
        unknown.expose_secret().to_owned(),
        "cog_nope".to_owned(),
    ] {
        let answer = whoami(token.clone()).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (401, r#"{"message":"Unauthorized"}"#),
            "{token}"
        );
    }
    let answer = chain.call("GET", "/v1/whoami", &[], "").await;
    assert_eq!(answer.status, 401);
}

/// With a cache TTL and no cache invalidator the gateway reuses the
/// authorizer's answer, as API Gateway does: a revoked token keeps working
/// until its answer expires. This is why the template pairs its TTL with the
/// invalidator (docs/authorizer.md, "Caching"; tests in `caching.rs`).
#[tokio::test]
async fn with_a_cache_ttl_a_revoked_token_works_until_its_answer_expires() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["cacher"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        parameters: vec![("AuthorizerResultTtl".into(), "300".into())],
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("cacher").await;
    let (_, cached) = create(&chain, &cookie, r#"["tokens:read"]"#).await;
    let (_, uncached) = create(&chain, &cookie, r#"["tokens:read"]"#).await;
    let (cached, uncached) = (
        cached["token"].as_str().unwrap().to_owned(),
        uncached["token"].as_str().unwrap().to_owned(),
    );
    let whoami = |token: &str| {
        let chain = &chain;
        let token = token.to_owned();
        async move { chain.with_token("GET", "/v1/whoami", &token).await.status }
    };
    assert_eq!(whoami(&cached).await, 200);
    for token in [&cached, &uncached] {
        let path = format!("/v1/tokens/{}", &token[4..20]);
        let answer = chain
            .call("DELETE", &path, &[("cookie", &cookie)], "")
            .await;
        assert_eq!(answer.status, 204);
    }
    assert_eq!(whoami(&cached).await, 200, "served from the cache");
    assert_eq!(
        whoami(&uncached).await,
        401,
        "never cached: asks the authorizer"
    );
}

/// Issue 12's first flow, through the gateway: an org admin makes a service
/// user and a key; the key acts as the service user in exactly its org;
/// disabling the service user ends the key at the next request. A member
/// who is not an admin is refused; an outsider is told nothing.
#[tokio::test]
async fn an_org_admin_issues_a_service_key_that_acts_in_one_org_until_disabled() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["root", "viewer"]).await;
    let viewer = Account {
        orgs: vec![cog_tokens::records::OrgMembership {
            org_id: "acme".into(),
            role: "viewer".into(),
        }],
        ..beta_account("viewer")
    };
    let audit = viewer.audit_put("test", cog_tokens::records::Timestamp::now());
    store.put_account(&viewer, &audit).await.unwrap();
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let root = chain.sign_in("root").await;
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
    let key = chain
        .call(
            "POST",
            &keys,
            &[("cookie", &root), json],
            r#"{"name": "deploy", "scopes": ["tokens:read"], "expires_in_days": 7}"#,
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    let token = key.json()["token"].as_str().unwrap().to_owned();

    let whoami = chain.with_token("GET", "/v1/whoami", &token).await;
    assert_eq!(whoami.status, 200, "{}", whoami.body);
    let whoami = whoami.json();
    assert_eq!(whoami["principal_type"], "service_user");
    assert_eq!(whoami["principal_id"], su.as_str());
    assert_eq!(whoami["auth_method"], "service_key");
    assert_eq!(whoami["orgs"], "acme:deployer");

    // The key is not a session: the JWT authorizer refuses it.
    let refused = chain.with_token("GET", &keys, &token).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    // A member who is not an admin: 403; no member at all: 404.
    let viewer = chain.sign_in("viewer").await;
    let answer = chain.call("GET", &keys, &[("cookie", &viewer)], "").await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(answer.json()["code"], "org_admin_required");
    let stranger = chain.sign_in("stranger").await;
    let answer = chain.call("GET", &keys, &[("cookie", &stranger)], "").await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.json()["code"], "org_not_found");

    let disabled = chain
        .call(
            "PATCH",
            &format!("/v1/orgs/acme/service-users/{su}"),
            &[("cookie", &root), json, ("user-agent", "cog-e2e/1")],
            r#"{"status": "disabled"}"#,
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(disabled.json()["status"], "disabled");
    let after = chain.with_token("GET", "/v1/whoami", &token).await;
    assert_eq!(after.status, 401, "{}", after.body);

    // The org's trail: every change, by the admin, from where it came.
    let trail = chain
        .call("GET", "/v1/orgs/acme/audit", &[("cookie", &root)], "")
        .await;
    assert_eq!(trail.status, 200, "{}", trail.body);
    let trail = trail.json();
    let events = trail["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["service_user.update", "token.create", "service_user.create"],
        "{trail}"
    );
    assert!(events.iter().all(|e| e["actor"] == "user:root"
        && e["source_ip"] == "127.0.0.1"
        && e["target"] == format!("service_user:{su}").as_str()));
    assert_eq!(events[0]["user_agent"], "cog-e2e/1");

    // An admin blocks a member's PAT in the org: the next request through
    // the gateway no longer carries the org.
    let pat = chain.create_token(&viewer, r#"["tokens:read"]"#).await;
    assert_eq!(pat.status, 201, "{}", pat.body);
    let pat = pat.json();
    let (pat_token, pat_id) = (pat["token"].as_str().unwrap(), pat["id"].as_str().unwrap());
    let before = chain
        .with_token("GET", "/v1/whoami", pat_token)
        .await
        .json();
    assert_eq!(before["orgs"], "acme:viewer");
    let removed = chain
        .call(
            "DELETE",
            &format!("/v1/orgs/acme/credentials/{pat_id}"),
            &[("cookie", &root)],
            "",
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    let after = chain.with_token("GET", "/v1/whoami", pat_token).await;
    assert_eq!(
        after.status, 200,
        "the PAT itself still works: {}",
        after.body
    );
    assert_eq!(after.json()["orgs"], "");
    assert!(chain.leaks(&[pat_token.to_owned()]).is_empty());
    assert!(chain.leaks(&[token]).is_empty());
}
