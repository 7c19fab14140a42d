//! Every function's EMF lines from a run of the whole local chain (both
//! cache tiers, the stream pollers, account-sync and the expiry sweep too):
//! each line is a valid EMF document, and every metric docs/deploy.md lists
//! for a function is in that function's log, with no token, token id or
//! user id in any line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cog_integration_tests::caching::cached_chain_with;
use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::events::EventTap;
use cog_integration_tests::usage_plans::{api_gateway, bus_event, rest_api, ApiKeySourceType};
use cog_integration_tests::{repo_root, same_id_other_secret, unique, Stack};
use cog_tokens::records::{AuditAction, Owner, Timestamp};
use serde_json::{json, Value};

const DIRECTORY_ACCOUNT: &str = "210987654321";
const UNITS: [&str; 3] = ["Count", "Milliseconds", "Seconds"];

/// (function, metric) for each row of the metric table in docs/deploy.md.
fn documented_metrics() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("docs/deploy.md")).unwrap();
    let section = text
        .split("## Metrics (Embedded Metric Format)")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/deploy.md has a metrics section");
    let mut metrics = BTreeSet::new();
    for row in section.lines().filter(|line| line.starts_with("| ")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (functions, metric) = (cells[1], cells[2]);
        if functions == "function" || !metric.starts_with('`') {
            continue; // the header
        }
        for function in functions.split(", ") {
            metrics.insert((function.to_owned(), metric.trim_matches('`').to_owned()));
        }
    }
    assert!(metrics.len() >= 20, "the table was not read: {metrics:?}");
    metrics
}

/// The EMF documents in `function`'s log, each checked against the format:
/// the directive's namespace, dimension sets and units, a value for every
/// dimension and metric it names, and `Function` = `function`.
fn emf_documents(chain: &Chain, function: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(chain.logs().join(format!("{function}.log"))).unwrap();
    let mut documents = Vec::new();
    for line in text.lines().filter(|line| line.contains("\"_aws\"")) {
        let document: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{function}: {e}: {line}"));
        let aws = &document["_aws"];
        assert!(
            aws["Timestamp"].as_i64().unwrap() > 1_700_000_000_000,
            "{line}"
        );
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1, "{line}");
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], "CogTokens", "{line}");
        assert_eq!(document["Function"], function, "{line}");
        for set in directive["Dimensions"].as_array().unwrap() {
            let names = set.as_array().unwrap();
            assert!(!names.is_empty() && names.len() <= 30, "{line}");
            assert_eq!(names[0], "Function", "{line}");
            for name in names {
                let value = document[name.as_str().unwrap()].as_str();
                assert!(value.is_some_and(|v| !v.is_empty()), "{name} in {line}");
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            assert!(UNITS.contains(&metric["Unit"].as_str().unwrap()), "{line}");
            let value = &document[metric["Name"].as_str().unwrap()];
            let numbers = match value {
                Value::Array(values) => values.clone(),
                other => vec![other.clone()],
            };
            assert!(
                !numbers.is_empty()
                    && numbers.len() <= 100
                    && numbers
                        .iter()
                        .all(|n| n.as_f64().is_some_and(f64::is_finite)),
                "{metric} in {line}"
            );
        }
        documents.push(document);
    }
    documents
}

/// The metric names in `documents`.
fn names(documents: &[Value]) -> BTreeSet<String> {
    documents
        .iter()
        .flat_map(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
        })
        .map(|m| m["Name"].as_str().unwrap().to_owned())
        .collect()
}

/// The sum of `metric` over the documents whose dimensions are exactly `dimensions`.
fn total(documents: &[Value], metric: &str, dimensions: &[(&str, &str)]) -> f64 {
    documents
        .iter()
        .filter(|d| {
            let set = d["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .as_array()
                .unwrap()
                .len();
            set == dimensions.len() + 1 && dimensions.iter().all(|(name, value)| d[*name] == *value)
        })
        .filter_map(|d| d[metric].as_f64())
        .sum()
}

/// Waits until every function's log holds its documented metrics.
async fn all_documented(chain: &Chain, wanted: &BTreeSet<(String, String)>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing: Vec<_> = wanted
            .iter()
            .filter(|(function, metric)| !names(&emf_documents(chain, function)).contains(metric))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no EMF line with {missing:?}; logs: {}",
            chain.logs().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn directory_event(account: &str, user: &str) -> String {
    json!({"version": "0", "id": "1", "detail-type": "AccountUpdated",
           "source": "platform.directory", "account": account,
           "time": "2026-11-28T10:00:00Z", "region": "eu-west-1", "resources": [],
           "detail": {"user_id": user, "status": "active", "sso": false,
                      "pat_beta": true, "orgs": [{"org": "acme", "role": "admin"}],
                      "version": Timestamp::now().0}})
    .to_string()
}

#[tokio::test]
async fn every_function_writes_its_documented_metrics_as_emf_from_a_local_stack_run() {
    let stack = Stack::connect().await;
    let user = unique("metered");
    let (store, _key) = stack.seeded(&[user.as_str()]).await;
    let tap = EventTap::create();
    let mut chain = cached_chain_with(ChainConfig {
        table: store.table().to_owned(),
        function_env: vec![("EVENT_BUS_NAME".into(), tap.bus.clone())],
        // One line per decision, so the run need not wait for an interval.
        one_function_env: vec![(
            "authorizer".into(),
            "METRICS_INTERVAL_SECONDS".into(),
            "0".into(),
        )],
        stream_deliveries: Some(1),
        ..ChainConfig::default()
    });
    chain.start_extra_function(
        "account-sync",
        "functions/account-sync/src",
        store.table(),
        &[("DIRECTORY_ACCOUNT_ID", DIRECTORY_ACCOUNT)],
    );
    chain.start_extra_function(
        "expiry-sweep",
        "functions/lifecycle/src",
        store.table(),
        &[],
    );
    let gateway = api_gateway().await;
    let stages = format!(
        "{}/v1",
        rest_api(&gateway, ApiKeySourceType::Authorizer).await
    );
    let (prefix, moto) = (
        unique("metered"),
        std::env::var("AWS_ENDPOINT_URL_KMS").unwrap(),
    );
    chain.start_extra_function(
        "usage-plan-sync",
        "functions/lifecycle/src",
        store.table(),
        &[
            ("USAGE_PLAN_STAGES", &stages),
            ("USAGE_PLAN_PREFIX", &prefix),
            ("AWS_ENDPOINT_URL_API_GATEWAY", &moto),
        ],
    );

    // Management, the authorizer and whoami: a token made, used, forged, revoked.
    let cookie = chain.sign_in(&user).await;
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let created = chain.create_token(&cookie, r#"["tokens:read"]"#).await;
        assert_eq!(created.status, 201, "{}", created.body);
        ids.push(created.json()["id"].as_str().unwrap().to_owned());
        tokens.push(created.json()["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        chain
            .with_token("GET", "/v1/whoami", &tokens[0])
            .await
            .status,
        200
    );
    let forged = same_id_other_secret(&tokens[0]);
    assert_eq!(
        chain.with_token("GET", "/v1/whoami", &forged).await.status,
        401
    );
    // (No header at all is the gateway's own 401: the authorizer never sees it.)
    assert_eq!(
        chain
            .with_token("GET", "/v1/whoami", "cog_short")
            .await
            .status,
        401
    );
    let session = [("cookie", cookie.as_str())];
    let revoked = chain
        .call("DELETE", &format!("/v1/tokens/{}", ids[0]), &session, "")
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    // The leak route revokes the second token; a made-up string is a false positive.
    let body = json!({"credentials": [tokens[1], "cog_not-one-of-ours"]}).to_string();
    let json_body = [("content-type", "application/json")];
    let reported = chain
        .call("POST", "/v1/credentials/revoke", &json_body, &body)
        .await;
    assert_eq!(reported.status, 202, "{}", reported.body);
    assert_eq!(chain.call("GET", "/settings", &[], "").await.status, 200);
    // Account-sync: one applied update and one from a foreign account.
    let applied = chain
        .invoke("account-sync", &directory_event(DIRECTORY_ACCOUNT, &user))
        .await
        .unwrap();
    assert!(applied.body.contains("Applied"), "{}", applied.body);
    chain
        .invoke("account-sync", &directory_event("999999999999", &user))
        .await
        .unwrap();
    let swept = chain.invoke("expiry-sweep", "{}").await.unwrap();
    assert_eq!(swept.status, 200, "{}", swept.body);
    // The usage-plan sync: a rate-limited token's creation, then a reconcile.
    let body = r#"{"name": "metered", "scopes": ["tokens:read"], "rate_limit": {"requests_per_second": 5}}"#;
    let json_session = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    let limited = chain.call("POST", "/v1/tokens", &json_session, body).await;
    assert_eq!(limited.status, 201, "{}", limited.body);
    let limited_id = limited.json()["id"].as_str().unwrap().parse().unwrap();
    let created = bus_event(
        &store,
        &Owner::user(&user),
        AuditAction::TokenCreate,
        limited_id,
    )
    .await;
    for event in [created.to_string(), r#"{"tick": "reconcile"}"#.to_owned()] {
        let synced = chain.invoke("usage-plan-sync", &event).await.unwrap();
        assert_eq!(synced.status, 200, "{}", synced.body);
    }

    let documented = documented_metrics();
    all_documented(&chain, &documented).await;

    let authorizer = emf_documents(&chain, "authorizer");
    let allow = [("Outcome", "allow")];
    assert!(
        total(&authorizer, "Decisions", &allow) >= 1.0,
        "{authorizer:?}"
    );
    let forged_refused = [("Outcome", "unauthorized"), ("Reason", "wrong_secret")];
    assert_eq!(total(&authorizer, "Decisions", &forged_refused), 1.0);
    let malformed = [("Outcome", "unauthorized"), ("Reason", "malformed")];
    assert_eq!(total(&authorizer, "Decisions", &malformed), 1.0);
    let issued = emf_documents(&chain, "issue-token");
    let created = [("Route", "POST /v1/tokens"), ("Status", "201")];
    // Two used and revoked, one rate-limited for the usage-plan sync.
    assert_eq!(total(&issued, "Requests", &created), 3.0);
    let revocations = emf_documents(&chain, "revoke-token");
    let deleted = [("Route", "DELETE /v1/tokens/{id}"), ("Status", "204")];
    assert_eq!(total(&revocations, "Requests", &deleted), 1.0);
    let leaks = emf_documents(&chain, "leak-response");
    assert_eq!(total(&leaks, "LeakTokensReported", &[]), 2.0);
    assert_eq!(total(&leaks, "LeakTokensRevoked", &[]), 1.0);
    assert_eq!(total(&leaks, "LeakFalsePositives", &[]), 1.0);
    assert_eq!(total(&leaks, "LeakResponseFailures", &[]), 0.0);
    let plans = emf_documents(&chain, "usage-plan-sync");
    assert_eq!(total(&plans, "UsageKeysPlaced", &[]), 1.0);
    assert_eq!(total(&plans, "UsagePlanSyncFailures", &[]), 0.0);
    let sync = emf_documents(&chain, "account-sync");
    assert_eq!(total(&sync, "AccountSyncApplied", &[]), 1.0);
    assert_eq!(total(&sync, "AccountSyncRefused", &[]), 1.0);
    let publisher = emf_documents(&chain, "event-publisher");
    assert!(
        total(&publisher, "EventsPublished", &[]) >= 3.0,
        "{publisher:?}"
    );
    assert!(
        total(
            &emf_documents(&chain, "cache-invalidator"),
            "CacheFlushes",
            &[]
        ) >= 1.0
    );

    // Nothing of the caller's: no token, token id or user id in any line.
    let mut per_function = BTreeMap::new();
    for (function, _) in &documented {
        per_function
            .entry(function.clone())
            .or_insert_with(|| emf_documents(&chain, function));
    }
    for (function, documents) in per_function {
        for document in documents {
            let line = document.to_string();
            for secret in tokens.iter().chain(&ids).chain([&user, &forged]) {
                assert!(!line.contains(secret.as_str()), "{function}: {line}");
            }
            assert!(!line.contains("cog_"), "{function}: {line}");
        }
    }
}
