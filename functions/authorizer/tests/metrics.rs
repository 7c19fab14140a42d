//! The authorizer's EMF lines from real decisions: every outcome counted
//! with its reason class, the latency under `Function` alone, and nothing
//! of the caller's (token, token id, user) in any line.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

mod common;
use common::http_v2;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authorizer::config::HttpResponseFormat;
use authorizer::handler::{handle_json_event, AuthorizerState};
use authorizer::metrics;
use cog_tokens::authorize::routes::RouteRules;
use cog_tokens::authorize::{Authorizer, AuthorizerSettings};
use cog_tokens::memory::{FixedPeppers, MemoryStore};
use cog_tokens::metrics::{Recorder, Sink};
use cog_tokens::records::{
    Account, AuditAction, AuditEvent, Owner, PrincipalStatus, Timestamp, TokenRecord,
};
use cog_tokens::store::pepper::PepperKeeper;
use cog_tokens::store::{PrincipalStore, TokenStore};
use cog_tokens::{PepperVersion, PlainToken};
use serde_json::{json, Value};

const RULES: &str =
    r#"[{"method": "POST", "path": "/v1/orgs/*/sessions", "scope": "sessions:write"}]"#;

async fn token(store: &MemoryStore, now: Timestamp, expires_at: Timestamp) -> PlainToken {
    let token = PlainToken::generate().unwrap();
    let pepper = FixedPeppers::pepper(1);
    let record = TokenRecord {
        id: token.id(),
        owner: Owner::user("u_metrics_alice"),
        name: format!("t-{}", token.id()),
        scopes: vec!["tokens:read".into()],
        hash: pepper.hash(&token),
        pepper_version: PepperVersion(1),
        created_at: Timestamp(now.0 - 7_200_000),
        expires_at: Some(expires_at),
        revoked: None,
        last_used_at: None,
        last_use: Default::default(),
        org_decisions: Default::default(),
        allowed_ips: Default::default(),
        org_limit: None,
        family: None,
        rate_limit: None,
        usage_key_placed: false,
    };
    let audit = AuditEvent::new("test", AuditAction::TokenCreate, record.owner.clone(), now);
    store.create_token(&record, 50, &audit).await.unwrap();
    token
}

#[tokio::test]
async fn given_each_outcome_then_its_decisions_line_has_the_outcome_and_reason_class_only() {
    // Interval 0: every decision is written at once, so each can be read back.
    assert!(metrics::install(Recorder::new(
        metrics::FUNCTION_NAME,
        0,
        Sink::Memory(Mutex::default()),
    )));
    let now = Timestamp::now();
    let store = Arc::new(MemoryStore::new());
    let account = Account {
        user_id: "u_metrics_alice".into(),
        status: PrincipalStatus::Active,
        sso: false,
        pat_beta: true,
        orgs: Vec::new(),
        tokens_valid_after: None,
    };
    store
        .put_account(&account, &account.audit_put("test", now))
        .await
        .unwrap();
    let live = token(&store, now, now.plus_seconds(3600)).await;
    let expired = token(&store, now, Timestamp(now.0 - 1_000)).await;
    let peppers = PepperKeeper::load(FixedPeppers::new(&[1]), Duration::ZERO)
        .await
        .unwrap();
    let settings = AuthorizerSettings {
        route_rules: RouteRules::from_json(RULES).unwrap(),
        last_used_interval: Duration::from_secs(300),
        org_policy_ttl: Duration::from_secs(30),
        caching: Default::default(),
    };
    let state = AuthorizerState {
        authorizer: Authorizer::new(Arc::clone(&store), peppers, settings),
        http_format: HttpResponseFormat::Simple,
        usage_plans: Default::default(),
    };
    let bearer = |t: &PlainToken| format!("Bearer {}", t.expose_secret());
    let events = [
        http_v2(Some(&bearer(&live)), "GET", "/v1/whoami"),
        http_v2(Some(&bearer(&live)), "GET", "/v1/whoami"),
        http_v2(None, "GET", "/v1/whoami"),
        http_v2(Some(&bearer(&expired)), "GET", "/v1/whoami"),
        http_v2(Some(&bearer(&live)), "POST", "/v1/orgs/acme/sessions"),
        http_v2(Some("Bearer cog_not-a-token"), "GET", "/v1/whoami"),
        "{not json".to_owned(),
    ];
    for event in &events {
        let _ = handle_json_event(&state, event, now).await;
    }

    let lines = metrics::recorder().take_written();
    let mut decisions: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut latencies = 0;
    for line in &lines {
        for secret in [live.expose_secret(), expired.expose_secret()] {
            assert!(!line.contains(secret), "a token in {line}");
        }
        for id in [live.id().to_string(), expired.id().to_string()] {
            assert!(!line.contains(&id), "a token id in {line}");
        }
        assert!(!line.contains("alice") && !line.contains("acme"), "{line}");
        let document: Value = serde_json::from_str(line).unwrap();
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CogTokens");
        assert_eq!(document["Function"], "authorizer");
        assert_eq!(document["_aws"]["Timestamp"], now.0);
        if let Some(count) = document["Decisions"].as_u64() {
            assert_eq!(
                directive["Metrics"],
                json!([{"Name": "Decisions", "Unit": "Count"}])
            );
            let outcome = document["Outcome"].as_str().unwrap().to_owned();
            let reason = document["Reason"].as_str().unwrap_or("").to_owned();
            let expected_sets = if reason.is_empty() {
                json!([["Function"], ["Function", "Outcome"]])
            } else {
                json!([
                    ["Function"],
                    ["Function", "Outcome"],
                    ["Function", "Outcome", "Reason"]
                ])
            };
            assert_eq!(directive["Dimensions"], expected_sets, "{line}");
            *decisions.entry((outcome, reason)).or_default() += count;
        } else {
            assert_eq!(
                directive["Metrics"],
                json!([{"Name": "DecisionLatency", "Unit": "Milliseconds"}])
            );
            assert_eq!(directive["Dimensions"], json!([["Function"]]));
            let latency = document["DecisionLatency"].as_f64().unwrap();
            assert!((0.0..10_000.0).contains(&latency), "{line}");
            latencies += 1;
        }
    }
    let pair = |o: &str, r: &str| (o.to_owned(), r.to_owned());
    assert_eq!(
        decisions,
        BTreeMap::from([
            (pair("allow", ""), 2),
            (pair("fault", ""), 1),
            (pair("forbidden", "scope"), 1),
            (pair("unauthorized", "expired"), 1),
            (pair("unauthorized", "malformed"), 1),
            (pair("unauthorized", "missing"), 1),
        ])
    );
    assert_eq!(
        latencies, 6,
        "one per decided event; the unreadable one has none"
    );
}
