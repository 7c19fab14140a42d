//! `scripts/smoke.sh`, the deployed stack's smoke test, run against the local
//! gateway with both cache tiers on as the template deploys them: it passes,
//! prints its checks and never the token, and leaves no live token behind
//! when a check fails half-way.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::process::{Command, Output};

use cog_integration_tests::caching::{
    cache_stats, cached_chain, settled, MEASURING, REVOCATION_BOUND,
};
use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::{repo_root, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::store::TokenStore;
use cog_tokens::TokenId;

fn smoke(chain: &Chain, cookie: &str) -> Output {
    Command::new("bash")
        .arg(repo_root().join("scripts/smoke.sh"))
        .current_dir(repo_root())
        .env("COG_SMOKE_API_URL", &chain.url)
        .env("COG_SMOKE_COOKIE", cookie)
        .env_remove("COG_SMOKE_SESSION")
        .env_remove("COG_SMOKE_WITHIN_MS")
        .output()
        .unwrap()
}

/// The id the script printed for the token it made.
fn created_id(stdout: &str) -> TokenId {
    let line = stdout
        .lines()
        .find(|line| line.starts_with("ok   POST /v1/tokens: 201"))
        .unwrap_or_else(|| panic!("no creation in {stdout}"));
    let id = line
        .split("token ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    id.parse().unwrap()
}

async fn assert_revoked(store: &DynamoStore, id: &TokenId) {
    let record = store.get_token(id).await.unwrap().unwrap();
    assert!(record.revoked.is_some(), "{id:?} was left live");
}

fn assert_no_token(printed: &str) {
    let token = regex_lite::Regex::new("cog_[0-9A-Za-z]{54}").unwrap();
    assert!(
        !token.is_match(printed),
        "the script printed a token: {printed}"
    );
}

/// The stage's access log, in the template's format (the local gateway
/// writes it to its own log): whoami allowed by the authorizer's answer,
/// then refused.
fn access_log_shows_the_whoami_calls(chain: &Chain) {
    let log = std::fs::read_to_string(chain.logs().join("gateway.log")).unwrap();
    let whoami: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| line.starts_with(r#"{"requestId":"#))
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["routeKey"] == "GET /v1/whoami")
        .collect();
    let allowed = whoami.first().expect("no access log line for whoami");
    assert_eq!(allowed["status"], "200", "{allowed}");
    assert_eq!(allowed["integrationStatus"], "200", "{allowed}");
    assert_eq!(allowed["authorizerError"], "-", "{allowed}");
    let latency: u64 = allowed["authorizerLatency"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(latency < 3_000, "{allowed}");
    let refused = whoami.last().unwrap();
    assert_eq!(refused["status"], "401", "{refused}");
    assert_eq!(refused["error"], "Unauthorized", "{refused}");
    assert_eq!(refused["integrationStatus"], "-", "{refused}");
    assert!(
        refused["sourceIp"].as_str().unwrap().starts_with("127."),
        "{refused}"
    );
}

#[tokio::test]
async fn given_the_gateway_with_its_caches_on_when_the_smoke_test_runs_then_each_check_passes() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["smoker"]).await;
    let _alone = MEASURING.lock().await;
    let chain = cached_chain(store.table());
    let cookie = chain.sign_in("smoker").await;
    // The seeded accounts' flushes done, the count starts from the script's.
    settled(&chain).await;
    let reset = chain
        .control("POST", "/_dev/authorizer-cache/reset-stats")
        .await;
    assert!(reset.status < 300, "{}", reset.body);

    let output = smoke(&chain, &cookie);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let checks: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("ok   "))
        .map(|check| check.split(':').next().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "POST /v1/tokens",
            "GET /v1/whoami",
            format!("DELETE /v1/tokens/{}", created_id(&stdout).as_str()).as_str(),
            "GET /v1/whoami after the revocation",
        ],
        "{stdout}"
    );
    assert!(stdout.ends_with("smoke test passed\n"), "{stdout}");
    // Printed and measured: "401 after N ms (bound 1000 ms)".
    let refused = stdout.lines().nth(4).unwrap();
    let waited: u64 = refused
        .split("401 after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        u128::from(waited) <= REVOCATION_BOUND.as_millis(),
        "{refused}"
    );
    println!("smoke: {refused}");
    assert_no_token(&format!("{stdout}{stderr}"));
    assert_revoked(&store, &created_id(&stdout)).await;
    access_log_shows_the_whoami_calls(&chain);
    let leaks = chain.leaks(&[]);
    assert!(leaks.is_empty(), "{leaks:?} in {}", chain.logs().display());
    // whoami's Allow was cached (TTL above 0): the revocation flushed it.
    let stats = cache_stats(&chain).await;
    assert!(stats["flushes"]["http"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["misses"].as_u64().unwrap() >= 1, "{stats}");
}

/// A check failing after the token exists (whoami refused by a route rule)
/// fails the run, and the exit trap still revokes the token. Without a
/// session, the run fails before making anything.
#[tokio::test]
async fn given_a_failing_check_when_the_smoke_test_stops_then_its_token_is_revoked() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["smoke-fails"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        route_rules: r#"[{"method": "GET", "path": "/v1/whoami", "scope": "orgs:read"}]"#.into(),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("smoke-fails").await;

    let output = smoke(&chain, &cookie);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL whoami with the new token: HTTP 403"),
        "{stdout}"
    );
    let id = created_id(&stdout);
    assert!(
        stdout.contains(&format!("ok   cleanup: token {} revoked", id.as_str())),
        "{stdout}"
    );
    assert_revoked(&store, &id).await;
    assert_no_token(&format!(
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    ));

    let unsigned = Command::new("bash")
        .arg(repo_root().join("scripts/smoke.sh"))
        .env("COG_SMOKE_API_URL", &chain.url)
        .env_remove("COG_SMOKE_SESSION")
        .env_remove("COG_SMOKE_COOKIE")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&unsigned.stdout);
    assert!(!unsigned.status.success(), "{printed}");
    assert!(printed.contains("FAIL set COG_SMOKE_SESSION"), "{printed}");
}
