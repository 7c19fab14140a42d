//! REST usage plans on the real stack: DynamoDB Local for the tokens, moto's
//! API Gateway for the keys and plans. The sync places a rate-limited
//! token's key in its limit's plan, moves it to a new key when the limit
//! changes, and removes it when the limit is lifted or the token ends; the
//! authorizer's REST answers name the placed key, else the default one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::sync::Arc;

use authorizer::config::HttpResponseFormat;
use authorizer::handler::{handle_json_event, AuthorizerState};
use authorizer::response::AuthorizerResponse;
use authorizer::usage_plans::UsagePlanKeys;
use cog_integration_tests::services::{authorizer, manager, policy, request, Manager};
use cog_integration_tests::usage_plans::{
    api_gateway, bus_event, rest_api, ApiGateway, ApiKeySourceType,
};
use cog_integration_tests::{caller, unique, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::events::usage_plans::{SyncReport, UsagePlanSync};
use cog_tokens::management::{RateLimitRequest, TokenRequest};
use cog_tokens::records::{AuditAction, Owner, RateLimit, Timestamp, UsageKey};
use cog_tokens::store::usage_plans::UsagePlans;
use cog_tokens::store::TokenStore;
use cog_tokens::PlainToken;
use lifecycle::plan_sync::handle;
use lifecycle::usage_plans::SdkUsagePlans;
use serde_json::json;

const DEFAULT_KEY: &str = "cogdefault0123456789abcdef";

type Sync = UsagePlanSync<DynamoStore, SdkUsagePlans>;

struct Setup {
    stack: Stack,
    store: DynamoStore,
    manager: Manager,
    gateway: ApiGateway,
    prefix: String,
    api_id: String,
    sync: Sync,
}

async fn setup(users: &[&str]) -> Setup {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(users).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let gateway = api_gateway().await;
    let api_id = rest_api(&gateway, ApiKeySourceType::Authorizer).await;
    let prefix = unique("it");
    let plans = SdkUsagePlans::new(
        gateway.clone(),
        prefix.clone(),
        vec![(api_id.clone(), "v1".into())],
    );
    let sync = UsagePlanSync::new(Arc::new(store.clone()), plans);
    Setup {
        stack,
        store,
        manager,
        gateway,
        prefix,
        api_id,
        sync,
    }
}

fn limited(name: &str, requests_per_second: u32, burst: u32) -> TokenRequest {
    TokenRequest {
        rate_limit: Some(RateLimitRequest {
            requests_per_second,
            burst: Some(burst),
        }),
        ..request(name)
    }
}

fn limit(per_second: u32, burst: u32) -> RateLimit {
    RateLimit::new(per_second, Some(burst)).unwrap()
}

impl Setup {
    /// Key values (with their names) this test's prefix holds on the gateway.
    async fn values(&self) -> Vec<(String, String)> {
        let keys = self
            .gateway
            .get_api_keys()
            .name_query(format!("{}-", self.prefix))
            .include_values(true)
            .send()
            .await
            .unwrap();
        let mut values: Vec<_> = keys
            .items()
            .iter()
            .map(|k| (k.name().unwrap().to_owned(), k.value().unwrap().to_owned()))
            .collect();
        values.sort();
        values
    }

    /// The plans holding the key named `name`: (plan name, rate, burst, stages).
    async fn plans_of(&self, name: &str) -> Vec<(String, f64, i32, Vec<String>)> {
        let keys = self
            .gateway
            .get_api_keys()
            .name_query(name)
            .send()
            .await
            .unwrap();
        let id = keys.items()[0].id().unwrap();
        let plans = self
            .gateway
            .get_usage_plans()
            .key_id(id)
            .send()
            .await
            .unwrap();
        plans
            .items()
            .iter()
            .map(|plan| {
                let throttle = plan.throttle().unwrap();
                let stages = plan
                    .api_stages()
                    .iter()
                    .map(|s| format!("{}/{}", s.api_id().unwrap(), s.stage().unwrap()))
                    .collect();
                (
                    plan.name().unwrap().to_owned(),
                    throttle.rate_limit(),
                    throttle.burst_limit(),
                    stages,
                )
            })
            .collect()
    }

    async fn plans_named(&self, name: &str) -> usize {
        let plans = self.gateway.get_usage_plans().send().await.unwrap();
        plans
            .items()
            .iter()
            .filter(|p| p.name() == Some(name))
            .count()
    }

    /// The `usageIdentifierKey` a fresh authorizer (no cached copies) answers
    /// a REST `REQUEST` event of `token` with.
    async fn rest_usage_key(&self, token: &PlainToken) -> Option<String> {
        let state = AuthorizerState {
            authorizer: authorizer(&self.stack, &self.store).await,
            http_format: HttpResponseFormat::Simple,
            usage_plans: UsagePlanKeys::with_default_key(DEFAULT_KEY).unwrap(),
        };
        let event = json!({
            "type": "REQUEST",
            "methodArn": format!("arn:aws:execute-api:us-east-1:123456789012:{}/v1/GET/v1/whoami", self.api_id),
            "resource": "/v1/whoami",
            "path": "/v1/whoami",
            "httpMethod": "GET",
            "headers": {"Authorization": format!("Bearer {}", token.expose_secret())},
            "requestContext": {"identity": {"sourceIp": "203.0.113.7"}}
        });
        let answer = handle_json_event(&state, &event.to_string(), Timestamp::now())
            .await
            .unwrap();
        match answer {
            AuthorizerResponse::Rest(rest) => {
                assert!(rest.policy_document.statement[0].resource[0].ends_with("/v1/*"));
                rest.usage_identifier_key
            }
            other => panic!("{other:?}"),
        }
    }

    async fn sync(&self, token: &cog_tokens::TokenId) -> SyncReport {
        self.sync.sync(token, Timestamp::now()).await.unwrap()
    }
}

fn key(token: cog_tokens::TokenId, per_second: u32, burst: u32) -> UsageKey {
    UsageKey {
        token,
        limit: limit(per_second, burst),
    }
}

#[tokio::test]
async fn a_limited_token_gets_a_key_in_its_limits_plan_a_new_one_per_change_and_none_once_lifted() {
    let s = setup(&["uma"]).await;
    let uma = caller("uma");
    let created = s
        .manager
        .create(&uma, limited("ci", 4, 6), None, Timestamp::now())
        .await
        .unwrap();
    let id = created.record.id;
    // Before the sync: the default key (no plan of its own yet).
    assert_eq!(
        s.rest_usage_key(&created.token).await.as_deref(),
        Some(DEFAULT_KEY)
    );

    // The sync runs from the bus event the creation's audit becomes.
    let event = bus_event(&s.store, &Owner::user("uma"), AuditAction::TokenCreate, id).await;
    let (result, tally) = handle(&s.sync, &event).await;
    assert_eq!(
        result.unwrap(),
        SyncReport {
            placed: 1,
            removed: 0
        }
    );
    assert!(!tally.failed);

    let first = key(id, 4, 6);
    let name = first.name(&s.prefix);
    assert_eq!(s.values().await, vec![(name.clone(), first.value())]);
    let plan = format!("{}-rate-4-burst-6", s.prefix);
    assert_eq!(
        s.plans_of(&name).await,
        vec![(plan.clone(), 4.0, 6, vec![format!("{}/v1", s.api_id)])]
    );
    assert!(
        s.store
            .get_token(&id)
            .await
            .unwrap()
            .unwrap()
            .usage_key_placed
    );
    assert_eq!(s.rest_usage_key(&created.token).await, Some(first.value()));
    // Nothing to do the second time.
    assert_eq!(s.sync(&id).await, SyncReport::default());

    // A new limit: the default key until the sync, then a new key in the
    // new limit's plan, the old key gone (its plan stays for others).
    s.manager
        .set_rate_limit(
            &uma,
            id.as_str(),
            Some(RateLimitRequest {
                requests_per_second: 10,
                burst: Some(20),
            }),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        s.rest_usage_key(&created.token).await.as_deref(),
        Some(DEFAULT_KEY)
    );
    assert_eq!(
        s.sync(&id).await,
        SyncReport {
            placed: 1,
            removed: 0
        },
        "the old key stays until the reconcile: a cached answer may name it"
    );
    let second = key(id, 10, 20);
    assert_eq!(s.values().await.len(), 2);
    assert_eq!(s.rest_usage_key(&created.token).await, Some(second.value()));
    assert_eq!(s.sync.reconcile(Timestamp::now()).await.unwrap().removed, 1);
    assert_eq!(
        s.values().await,
        vec![(second.name(&s.prefix), second.value())]
    );
    assert_eq!(s.plans_named(&plan).await, 1);

    // Another token of the same limit joins the same plan.
    let other = s
        .manager
        .create(&uma, limited("deploy", 10, 20), None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        s.sync(&other.record.id).await,
        SyncReport {
            placed: 1,
            removed: 0
        }
    );
    let shared = format!("{}-rate-10-burst-20", s.prefix);
    assert_eq!(s.plans_named(&shared).await, 1);
    assert_eq!(
        s.plans_of(&key(other.record.id, 10, 20).name(&s.prefix))
            .await[0]
            .0,
        shared
    );

    // Lifted: the default key at once; the key goes at the reconcile.
    s.manager
        .set_rate_limit(&uma, id.as_str(), None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        s.rest_usage_key(&created.token).await.as_deref(),
        Some(DEFAULT_KEY)
    );
    assert_eq!(s.sync(&id).await, SyncReport::default());
    assert!(
        !s.store
            .get_token(&id)
            .await
            .unwrap()
            .unwrap()
            .usage_key_placed
    );
    assert_eq!(s.sync.reconcile(Timestamp::now()).await.unwrap().removed, 1);

    // Revoked: its key goes too.
    s.manager
        .revoke(&uma, other.record.id.as_str(), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        s.sync(&other.record.id).await,
        SyncReport {
            placed: 0,
            removed: 1
        }
    );
    assert_eq!(s.values().await, vec![]);
    // An unlimited token never gets one; a foreign event changes nothing.
    let plain = s
        .manager
        .create(&uma, request("plain"), None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(s.sync(&plain.record.id).await, SyncReport::default());
    assert_eq!(
        s.rest_usage_key(&plain.token).await.as_deref(),
        Some(DEFAULT_KEY)
    );
    let foreign =
        json!({"source": "other", "detail": {"action": "deploy", "token_id": id.as_str()}});
    assert_eq!(
        handle(&s.sync, &foreign).await.0.unwrap(),
        SyncReport::default()
    );
}

#[tokio::test]
async fn the_reconcile_removes_the_keys_of_tokens_that_ended_without_an_event_of_their_own() {
    let s = setup(&["vic", "wes"]).await;
    let (vic, wes) = (caller("vic"), caller("wes"));
    let kept = s
        .manager
        .create(&vic, limited("kept", 2, 2), None, Timestamp::now())
        .await
        .unwrap();
    let ended = s
        .manager
        .create(&wes, limited("ended", 3, 3), None, Timestamp::now())
        .await
        .unwrap();
    for token in [&kept, &ended] {
        assert_eq!(s.sync(&token.record.id).await.placed, 1);
    }
    // A key whose token is gone from the table, and one a failed sync left
    // behind for a superseded limit.
    let gone = PlainToken::generate().unwrap().id();
    s.sync.reconcile(Timestamp::now()).await.unwrap();
    let plans = SdkUsagePlans::new(
        s.gateway.clone(),
        s.prefix.clone(),
        vec![(s.api_id.clone(), "v1".into())],
    );
    plans.place(&key(gone, 1, 1)).await.unwrap();
    plans.place(&key(kept.record.id, 9, 9)).await.unwrap();
    // Revoke-all's per-token events are not delivered here (as if lost):
    // only the reconcile sees `ended` end.
    assert_eq!(
        s.manager.revoke_all(&wes, Timestamp::now()).await.unwrap(),
        1
    );

    let report = s.sync.reconcile(Timestamp::now()).await.unwrap();
    assert_eq!(
        report,
        SyncReport {
            placed: 0,
            removed: 3
        }
    );
    let kept_key = key(kept.record.id, 2, 2);
    assert_eq!(
        s.values().await,
        vec![(kept_key.name(&s.prefix), kept_key.value())]
    );
    // In line now: the next reconcile calls nothing but the listing.
    assert_eq!(
        s.sync.reconcile(Timestamp::now()).await.unwrap(),
        SyncReport::default()
    );
    assert_eq!(s.rest_usage_key(&kept.token).await, Some(kept_key.value()));
}

#[tokio::test]
async fn the_reconcile_adds_a_new_stage_to_every_plan_and_refuses_a_rest_api_taking_keys_from_headers(
) {
    let s = setup(&["yan"]).await;
    let created = s
        .manager
        .create(&caller("yan"), limited("ci", 7, 7), None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(s.sync(&created.record.id).await.placed, 1);
    let name = key(created.record.id, 7, 7).name(&s.prefix);
    assert_eq!(
        s.plans_of(&name).await[0].3,
        vec![format!("{}/v1", s.api_id)]
    );

    // A second stage: every plan of this prefix covers it after the reconcile.
    let second = rest_api(&s.gateway, ApiKeySourceType::Authorizer).await;
    let stages = vec![
        (s.api_id.clone(), "v1".into()),
        (second.clone(), "live".into()),
    ];
    let widened = UsagePlanSync::new(
        Arc::new(s.store.clone()),
        SdkUsagePlans::new(s.gateway.clone(), s.prefix.clone(), stages),
    );
    assert_eq!(
        widened.reconcile(Timestamp::now()).await.unwrap(),
        SyncReport::default()
    );
    let mut covered = s.plans_of(&name).await[0].3.clone();
    covered.sort();
    let mut expected = vec![format!("{}/v1", s.api_id), format!("{second}/live")];
    expected.sort();
    assert_eq!(covered, expected);

    // With keys from a header, any client could present any key: refused.
    let header = rest_api(&s.gateway, ApiKeySourceType::Header).await;
    let refused = UsagePlanSync::new(
        Arc::new(s.store.clone()),
        SdkUsagePlans::new(
            s.gateway.clone(),
            s.prefix.clone(),
            vec![(header, "v1".into())],
        ),
    );
    let error = refused.reconcile(Timestamp::now()).await.unwrap_err();
    assert!(
        error.to_string().contains("key source is not AUTHORIZER"),
        "{error}"
    );
}

#[tokio::test]
async fn with_usage_plans_on_the_first_tier_keeps_no_limited_credential_before_its_key_is_placed() {
    use cog_integration_tests::services::authorizer_with;
    use cog_tokens::authorize::credentials::CredentialCacheSettings;
    use cog_tokens::authorize::{CachingSettings, Decision};
    use std::time::Duration;

    let s = setup(&["xia"]).await;
    let created = s
        .manager
        .create(&caller("xia"), limited("ci", 5, 5), None, Timestamp::now())
        .await
        .unwrap();
    let first_tier = |awaits_usage_keys| CachingSettings {
        credentials: Some(CredentialCacheSettings::default()),
        awaits_usage_keys,
        ..CachingSettings::default()
    };
    let awaiting = authorizer_with(
        &s.stack,
        &s.store,
        Duration::from_secs(30),
        first_tier(true),
    )
    .await;
    let plain = authorizer_with(
        &s.stack,
        &s.store,
        Duration::from_secs(30),
        first_tier(false),
    )
    .await;
    let header = format!("Bearer {}", created.token.expose_secret());
    let usage_key = |decision: Decision| match decision {
        Decision::Allow(identity) => identity.usage_key,
        other => panic!("{other:?}"),
    };
    for authorizer in [&awaiting, &plain] {
        assert_eq!(usage_key(decide(authorizer, &header).await), None);
    }
    // The sync's mark is no access change: no feed entry drops copies.
    assert_eq!(s.sync(&created.record.id).await.placed, 1);
    assert_eq!(
        usage_key(decide(&awaiting, &header).await),
        Some(limit(5, 5)),
        "read again, not kept"
    );
    assert_eq!(
        usage_key(decide(&plain, &header).await),
        None,
        "the copy kept from before the mark"
    );
}

async fn decide(
    authorizer: &cog_integration_tests::services::DynamoAuthorizer,
    header: &str,
) -> cog_tokens::authorize::Decision {
    authorizer
        .authorize(
            Some(header),
            None,
            cog_tokens::authorize::Source::default(),
            Timestamp::now(),
        )
        .await
        .unwrap()
}

/// GIVEN the gateway playing a REST stage with API keys and usage plans (its
/// answers cached for 2 s) and a PAT limited to 1/s, burst 3; WHEN it calls
/// in a quick run before and after the usage-plan sync binary placed its
/// key; THEN before, cached answers pass unmetered (the authorizer sees one
/// request a TTL); after, API Gateway's plan throttles each request, cached
/// or not, with 429; lifted, it passes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_rest_stage_a_limited_token_is_throttled_429_by_its_usage_plan_on_cached_answers_too(
) {
    use cog_integration_tests::caching::cache_stats;
    use cog_integration_tests::chain::{Chain, ChainConfig};
    use std::time::{Duration, Instant};

    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["zed"]).await;
    let gateway = api_gateway().await;
    let api_id = rest_api(&gateway, ApiKeySourceType::Authorizer).await;
    // What the template makes: the default plan (no throttle) and its key.
    let default_key = unique("cogdefault").replace('-', "");
    let plan = gateway
        .create_usage_plan()
        .name(unique("default"))
        .api_stages(
            aws_sdk_apigateway::types::ApiStage::builder()
                .api_id(&api_id)
                .stage("v1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let key = gateway
        .create_api_key()
        .name(unique("default"))
        .value(&default_key)
        .enabled(true)
        .send()
        .await
        .unwrap();
    gateway
        .create_usage_plan_key()
        .usage_plan_id(plan.id().unwrap())
        .key_id(key.id().unwrap())
        .key_type("API_KEY")
        .send()
        .await
        .unwrap();

    let table = store.table().to_owned();
    let mut chain = Chain::start(&ChainConfig {
        table: table.clone(),
        parameters: vec![("AuthorizerResultTtl".into(), "2".into())],
        one_function_env: vec![(
            "authorizer".into(),
            "USAGE_PLAN_DEFAULT_KEY".into(),
            default_key.clone(),
        )],
        usage_plan_stage: Some(format!("{api_id}/v1")),
        ..ChainConfig::default()
    });
    let moto = std::env::var("AWS_ENDPOINT_URL_KMS").unwrap();
    let stages = format!("{api_id}/v1");
    let prefix = unique("chain");
    chain.start_extra_function(
        "usage-plan-sync",
        "functions/lifecycle/src",
        &table,
        &[
            ("USAGE_PLAN_STAGES", &stages),
            ("USAGE_PLAN_PREFIX", &prefix),
            ("AWS_ENDPOINT_URL_API_GATEWAY", &moto),
        ],
    );
    let cookie = chain.sign_in("zed").await;
    let json = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    let body = r#"{"name": "ci", "scopes": ["tokens:read"], "rate_limit": {"requests_per_second": 1, "burst": 3}}"#;
    let created = chain.call("POST", "/v1/tokens", &json, body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let id: cog_tokens::TokenId = created.json()["id"].as_str().unwrap().parse().unwrap();
    let run = |n: usize| {
        let (chain, token) = (&chain, &token);
        async move {
            let started = Instant::now();
            let mut statuses = Vec::new();
            for _ in 0..n {
                statuses.push(chain.with_token("GET", "/v1/whoami", token).await.status);
            }
            (statuses, started.elapsed().as_secs_f64())
        }
    };
    // The sync as the bus rule would run it, with the change's event.
    let sync = |action: AuditAction| {
        let (chain, store) = (&chain, &store);
        async move {
            let event = bus_event(store, &Owner::user("zed"), action, id).await;
            let answer = chain
                .invoke("usage-plan-sync", &event.to_string())
                .await
                .unwrap();
            assert_eq!(answer.status, 200, "{}", answer.body);
            answer.body
        }
    };

    // Before the sync: the default key, and cached answers are not metered.
    let invocations = || async { cache_stats(&chain).await["invocations"].as_u64().unwrap() };
    let called = invocations().await;
    let (before, _) = run(8).await;
    assert_eq!(before, vec![200; 8]);
    assert_eq!(
        invocations().await - called,
        1,
        "the authorizer saw one of them"
    );

    assert!(sync(AuditAction::TokenCreate).await.contains("placed: 1"));
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let (after, elapsed) = run(10).await;
    let passed = after.iter().filter(|s| **s == 200).count();
    assert!(after.iter().all(|s| *s == 200 || *s == 429), "{after:?}");
    assert!(passed >= 3, "{after:?}");
    assert!(
        passed as f64 <= 3.0 + elapsed.floor() + 1.0,
        "{after:?} in {elapsed:.2}s"
    );
    if elapsed < 6.0 {
        assert!(after.contains(&429), "{after:?} in {elapsed:.2}s");
    }

    // Lifted: the default key from the next answer the authorizer gives.
    let path = format!("/v1/tokens/{id}");
    let lifted = chain
        .call("PATCH", &path, &json, r#"{"rate_limit": null}"#)
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    sync(AuditAction::TokenUpdate).await;
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let (freed, _) = run(8).await;
    assert_eq!(freed, vec![200; 8]);
}

/// GIVEN rate-limited tokens made while usage plans were off (no key, no
/// mark), an unlimited one and a revoked limited one; WHEN the operator runs
/// `cogadmin token usage-plan-backfill`; THEN the dry run counts the two
/// active limited ones and changes nothing, the run places both keys, and
/// a second run finds nothing to do.
#[tokio::test]
async fn the_backfill_places_the_keys_of_tokens_limited_before_usage_plans_were_on() {
    use cog_integration_tests::cogadmin_json;

    let s = setup(&["ada"]).await;
    let ada = caller("ada");
    let mut keys = Vec::new();
    for (name, rate, burst) in [("a", 3, 3), ("b", 4, 8)] {
        let made = s
            .manager
            .create(&ada, limited(name, rate, burst), None, Timestamp::now())
            .await
            .unwrap();
        keys.push(key(made.record.id, rate, burst));
    }
    s.manager
        .create(&ada, request("plain"), None, Timestamp::now())
        .await
        .unwrap();
    let gone = s
        .manager
        .create(&ada, limited("gone", 5, 5), None, Timestamp::now())
        .await
        .unwrap();
    s.manager
        .revoke(&ada, gone.record.id.as_str(), Timestamp::now())
        .await
        .unwrap();

    let moto = std::env::var("AWS_ENDPOINT_URL_KMS").unwrap();
    let stage = format!("{}/v1", s.api_id);
    let backfill = |extra: &[&str]| {
        let base = [
            "token",
            "usage-plan-backfill",
            "--stage",
            &stage,
            "--prefix",
            &s.prefix,
        ];
        let args: Vec<&str> = base.into_iter().chain(extra.iter().copied()).collect();
        cogadmin_json(
            s.store.table(),
            &args,
            &[("AWS_ENDPOINT_URL_API_GATEWAY", &moto)],
        )
    };
    let dry = backfill(&["--dry-run"]);
    assert_eq!(
        (dry["unplaced"].as_u64(), dry["placed"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(s.values().await, vec![]);

    assert_eq!(backfill(&[])["placed"], 2);
    let mut expected: Vec<_> = keys
        .iter()
        .map(|k| (k.name(&s.prefix), k.value()))
        .collect();
    expected.sort();
    assert_eq!(s.values().await, expected);
    for key in &keys {
        assert!(
            s.store
                .get_token(&key.token)
                .await
                .unwrap()
                .unwrap()
                .usage_key_placed
        );
    }
    assert_eq!(backfill(&[])["unplaced"], 0, "idempotent");
}
