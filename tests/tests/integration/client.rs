//! A client generated from the contract by a real generator
//! (openapi-python-client, pinned in `tests/client/run.sh`), from
//! `openapi.yaml` (3.1) and from `openapi-3.0.yaml` (3.0.3), runs the
//! walkthrough's calls against the local gateway: every answer, the
//! gateway's own 401s and the function's problems included, comes back
//! parsed as the model the spec declares for its status.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::process::Command;
use std::time::Instant;

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::{repo_root, Stack};

/// Every check `tests/client/run.py` prints, per generated client, in order.
const CHECKS: [&str; 11] = [
    "signed in as",
    "POST /v1/tokens: 201 IssuedToken",
    "POST /v1/tokens retried: 201 IssuedToken",
    "POST /v1/tokens, the key with another body: 422 Problem idempotency_key_reused",
    "GET /v1/whoami: 200 AuthorizerContext user:",
    "GET /v1/tokens: 200 TokenPage",
    "GET /v1/tokens/self: 200 TokenSelf acting as user:",
    "DELETE /v1/tokens/",
    "GET /v1/whoami after the revocation: 401 GatewayMessage Unauthorized",
    "POST /v1/tokens with an empty name: 400 Problem invalid_name (name)",
    "GET /v1/tokens without a session: 401 GatewayMessage Unauthorized",
];

fn run_client(chain: &Chain, user: &str) -> (bool, String) {
    let output = Command::new("bash")
        .arg(repo_root().join("tests/client/run.sh"))
        .arg(&chain.url)
        .arg(user)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_client_parses_every_answer_of_the_walkthrough_errors_included() {
    let stack = Stack::connect().await;
    let user = "client-gen";
    let (store, _key) = stack.seeded(&[user]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });

    let started = Instant::now();
    let (passed, printed) = run_client(&chain, user);
    println!(
        "client: generated and ran in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(passed, "{printed}");
    for spec in ["openapi.yaml", "openapi-3.0.yaml"] {
        assert!(
            printed.contains(&format!("ok   client generated from {spec}")),
            "{printed}"
        );
        let prefix = format!("ok   [{spec}] ");
        let checks: Vec<&str> = printed
            .lines()
            .filter_map(|line| line.strip_prefix(prefix.as_str()))
            .collect();
        assert_eq!(checks.len(), CHECKS.len(), "{printed}");
        for (check, expected) in checks.iter().zip(CHECKS) {
            assert!(check.starts_with(expected), "{check:?} is not {expected:?}");
        }
        assert!(
            printed.contains(&format!("client walkthrough passed ({spec})")),
            "{printed}"
        );
    }
    let token = regex_lite::Regex::new("cog_[0-9A-Za-z]{54}").unwrap();
    assert!(!token.is_match(&printed), "a token was printed: {printed}");
    let leaks = chain.leaks(&[]);
    assert!(leaks.is_empty(), "{leaks:?} in {}", chain.logs().display());
}

/// The generated client meets the gateway's 403 (a route rule asks a scope
/// the token lacks) as a parsed `GatewayMessage`: the walkthrough fails on
/// its check, with the status, rather than crashing in the client.
#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_refusal_the_walkthrough_does_not_expect_fails_it_parsed() {
    let stack = Stack::connect().await;
    let user = "client-refused";
    let (store, _key) = stack.seeded(&[user]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        route_rules: r#"[{"method": "GET", "path": "/v1/whoami", "scope": "orgs:read"}]"#.into(),
        ..ChainConfig::default()
    });

    let (passed, printed) = run_client(&chain, user);
    assert!(!passed, "{printed}");
    assert!(
        printed.contains(
            "FAIL [openapi.yaml] GET /v1/whoami: expected 200: HTTP 403 GatewayMessage(message='Forbidden'"
        ),
        "{printed}"
    );
    assert!(!printed.contains("Traceback"), "{printed}");
}
