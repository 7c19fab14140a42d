//! The authorizer handler against the real local stack: DynamoDB Local for
//! records, moto's KMS for the pepper ring, tokens made the production way.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::sync::Arc;
use std::time::Duration;

use authorizer::config::HttpResponseFormat;
use authorizer::handler::{handle_json_event, AuthorizerState};
use authorizer::response::AuthorizerFailure;
use cog_integration_tests::{new_token, Stack};
use cog_tokens::authorize::routes::RouteRules;
use cog_tokens::authorize::{Authorizer, AuthorizerSettings};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::{add_pepper_version, KmsPepperSource};
use cog_tokens::records::{
    Account, AuditAction, AuditEvent, OrgMembership, Owner, Revocation, Timestamp,
};
use cog_tokens::store::pepper::{PepperKeeper, PepperSource};
use cog_tokens::store::{PrincipalStore, TokenStore};
use cog_tokens::{PepperVersion, PlainToken};
use serde_json::{json, Value};

const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/v1/whoami";

fn rest_token(token: &PlainToken) -> String {
    json!({"type": "TOKEN", "authorizationToken": format!("Bearer {}", token.expose_secret()), "methodArn": ARN})
        .to_string()
}

struct Setup {
    stack: Stack,
    store: DynamoStore,
    key: String,
    state: AuthorizerState<DynamoStore, KmsPepperSource<DynamoStore>>,
}

/// The current pepper, decrypted the way a function decrypts it.
async fn current_pepper(stack: &Stack, store: &DynamoStore) -> cog_tokens::Pepper {
    KmsPepperSource::new(stack.kms.clone(), store.clone())
        .load_ring()
        .await
        .unwrap()
        .current()
        .clone()
}

async fn setup() -> Setup {
    let stack = Stack::connect().await;
    let (store, key) = stack.seeded(&["alice"]).await;
    let state = state_for(&stack, &store).await;
    Setup {
        stack,
        store,
        key,
        state,
    }
}

/// A cold start: a new process's authorizer over the same table and key.
async fn state_for(
    stack: &Stack,
    store: &DynamoStore,
) -> AuthorizerState<DynamoStore, KmsPepperSource<DynamoStore>> {
    let peppers = PepperKeeper::load(
        KmsPepperSource::new(stack.kms.clone(), store.clone()),
        Duration::ZERO,
    )
    .await
    .unwrap();
    AuthorizerState {
        authorizer: Authorizer::new(
            Arc::new(store.clone()),
            peppers,
            AuthorizerSettings {
                route_rules: RouteRules::default(),
                last_used_interval: Duration::from_secs(300),
                org_policy_ttl: Duration::from_secs(30),
                caching: Default::default(),
            },
        ),
        http_format: HttpResponseFormat::Simple,
        usage_plans: Default::default(),
    }
}

impl Setup {
    async fn issue(&self) -> PlainToken {
        let pepper = current_pepper(&self.stack, &self.store).await;
        let now = Timestamp::now();
        let (token, record) = new_token(
            &Owner::user("alice"),
            &pepper,
            now,
            Some(now.plus_seconds(3_600)),
        );
        let audit = AuditEvent::new(
            "user:alice",
            AuditAction::TokenCreate,
            Owner::user("alice"),
            now,
        );
        self.store.create_token(&record, 50, &audit).await.unwrap();
        token
    }

    async fn call(&self, event: &str) -> Result<Value, AuthorizerFailure> {
        handle_json_event(&self.state, event, Timestamp::now())
            .await
            .map(|r| serde_json::to_value(r).unwrap())
    }
}

#[tokio::test]
async fn given_a_real_token_then_allowed_twice_and_refused_once_revoked() {
    let s = setup().await;
    let token = s.issue().await;

    // First call: sequential reads; second: the owner is known, one batch read.
    for _ in 0..2 {
        let response = s.call(&rest_token(&token)).await.unwrap();
        assert_eq!(response["principalId"], "user:alice");
        assert_eq!(response["context"]["orgs"], "acme:admin");
        assert_eq!(response["context"]["token_id"], token.id().to_string());
    }
    s.state.authorizer.finish_background_writes().await;
    let record = s.store.get_token(&token.id()).await.unwrap().unwrap();
    assert!(
        record.last_used_at.is_some(),
        "last_used_at was not written"
    );

    let audit = AuditEvent::new(
        "user:alice",
        AuditAction::TokenRevoke,
        Owner::user("alice"),
        Timestamp::now(),
    );
    let revocation = Revocation {
        at: Timestamp::now(),
        by: "user:alice".into(),
        reason: "test".into(),
    };
    s.store
        .revoke_token(&token.id(), &revocation, &audit)
        .await
        .unwrap();
    assert!(matches!(
        s.call(&rest_token(&token)).await,
        Err(AuthorizerFailure::Unauthorized)
    ));

    // A membership change shows on the next request even with the owner cached.
    let other = s.issue().await;
    s.call(&rest_token(&other)).await.unwrap();
    let moved = Account {
        orgs: vec![OrgMembership {
            org_id: "initech".into(),
            role: "member".into(),
        }],
        ..cog_integration_tests::beta_account("alice")
    };
    s.store
        .put_account(&moved, &moved.audit_put("test", Timestamp::now()))
        .await
        .unwrap();
    let response = s.call(&rest_token(&other)).await.unwrap();
    assert_eq!(response["context"]["orgs"], "initech:member");
}

/// An HTTP API 2.0 event and a REST `REQUEST` event from `ip` with `agent`.
fn from_address(token: &PlainToken, ip: &str, agent: &str) -> [String; 2] {
    let header = format!("Bearer {}", token.expose_secret());
    [
        json!({"version": "2.0", "type": "REQUEST", "routeArn": ARN, "headers": {"authorization": header},
            "requestContext": {"http": {"method": "GET", "path": "/v1/whoami", "sourceIp": ip, "userAgent": agent}}})
        .to_string(),
        json!({"type": "REQUEST", "methodArn": ARN, "headers": {"Authorization": header},
            "requestContext": {"identity": {"sourceIp": ip, "userAgent": agent}}})
        .to_string(),
    ]
}

#[tokio::test]
async fn each_recorded_use_keeps_its_address_and_agent_and_the_recent_addresses() {
    let s = setup().await;
    let token = s.issue().await;
    let start = Timestamp::now();
    let at = |intervals: i64| start.plus_seconds(intervals * 301);
    let [http, rest] = from_address(&token, "192.0.2.10", "deploy-bot/3.1");
    let [_, other] = from_address(&token, "2001:db8::20", "curl/8.5");
    let calls = [
        (&http, at(0)),
        (&rest, at(0)),
        (&other, at(1)),
        (&rest, at(2)),
    ];
    for (event, now) in calls {
        handle_json_event(&s.state, event, now).await.unwrap();
        s.state.authorizer.finish_background_writes().await;
    }
    let record = s.store.get_token(&token.id()).await.unwrap().unwrap();
    assert_eq!(record.last_used_at, Some(at(2)));
    let used = &record.last_use;
    assert_eq!(used.source_ip, "192.0.2.10".parse().ok());
    assert_eq!(used.user_agent.as_deref(), Some("deploy-bot/3.1"));
    let recent: Vec<_> = used
        .recent
        .iter()
        .map(|a| (a.ip.to_string(), a.seen_at))
        .collect();
    assert_eq!(
        recent,
        [
            ("192.0.2.10".to_owned(), at(2)),
            ("2001:db8::20".to_owned(), at(1))
        ],
        "distinct addresses, most recent first; the second call of an interval wrote nothing"
    );

    // A REST TOKEN event tells neither: the last use names none, the
    // recent addresses stay.
    handle_json_event(&s.state, &rest_token(&token), at(3))
        .await
        .unwrap();
    s.state.authorizer.finish_background_writes().await;
    let record = s.store.get_token(&token.id()).await.unwrap().unwrap();
    assert_eq!(record.last_used_at, Some(at(3)));
    assert_eq!(record.last_use.source_ip, None);
    assert_eq!(record.last_use.user_agent, None);
    assert_eq!(record.last_use.recent.len(), 2);
}

#[tokio::test]
async fn after_a_pepper_rotation_old_tokens_work_and_are_rehashed() {
    let s = setup().await;
    let old = s.issue().await;
    add_pepper_version(&s.stack.kms, &s.store, &s.key, "test")
        .await
        .unwrap();
    // A new token under v2, seen by a process that loaded only v1: one reload.
    let new = s.issue().await;
    assert_eq!(
        s.store
            .get_token(&new.id())
            .await
            .unwrap()
            .unwrap()
            .pepper_version,
        PepperVersion(2)
    );
    s.call(&rest_token(&new)).await.unwrap();

    s.call(&rest_token(&old)).await.unwrap();
    s.state.authorizer.finish_background_writes().await;
    let record = s.store.get_token(&old.id()).await.unwrap().unwrap();
    assert_eq!(record.pepper_version, PepperVersion(2), "not re-hashed");
    // A cold start sees the re-hashed record and still allows it.
    let cold = state_for(&s.stack, &s.store).await;
    assert!(
        handle_json_event(&cold, &rest_token(&old), Timestamp::now())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn given_dynamodb_unreachable_then_an_error_never_an_allow() {
    let s = setup().await;
    let token = s.issue().await;
    s.call(&rest_token(&token)).await.unwrap();

    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = aws_sdk_dynamodb::config::Builder::from(&cog_tokens::aws::sdk_config().await)
        .endpoint_url(format!("http://127.0.0.1:{closed_port}"))
        .build();
    let broken = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), s.store.table());
    let peppers = PepperKeeper::load(
        KmsPepperSource::new(s.stack.kms.clone(), s.store.clone()),
        Duration::ZERO,
    )
    .await
    .unwrap();
    let state = AuthorizerState {
        authorizer: Authorizer::new(
            Arc::new(broken),
            peppers,
            AuthorizerSettings {
                route_rules: RouteRules::default(),
                last_used_interval: Duration::from_secs(300),
                org_policy_ttl: Duration::from_secs(30),
                caching: Default::default(),
            },
        ),
        http_format: HttpResponseFormat::Simple,
        usage_plans: Default::default(),
    };
    let result = handle_json_event(&state, &rest_token(&token), Timestamp::now()).await;
    assert!(
        matches!(result, Err(AuthorizerFailure::Fault)),
        "{result:?}"
    );
}

/// The real binary: cold start (config, clients, pepper decrypt) and one
/// event through a Lambda Runtime API, with nothing of main.rs bypassed.
#[tokio::test]
async fn the_authorizer_binary_cold_starts_and_answers_through_the_runtime_api() {
    use cog_integration_tests::runtime_api::{RuntimeApi, RuntimeCall};
    use cog_integration_tests::{spawn_function, workspace_binary};
    let s = setup().await;
    let token = s.issue().await;
    let api = RuntimeApi::start().unwrap();
    let mut child = spawn_function(
        &workspace_binary("authorizer"),
        &api,
        &[("TABLE_NAME", s.store.table().to_owned())],
    );
    api.push(rest_token(&token));
    api.push(
        json!({"type": "TOKEN", "authorizationToken": "Bearer cog_wrong", "methodArn": ARN})
            .to_string(),
    );

    let mut answers = Vec::new();
    while answers.len() < 2 {
        match api.calls.recv_timeout(Duration::from_secs(60)).unwrap() {
            RuntimeCall::Next(_) => {}
            RuntimeCall::InitError { body } => panic!("init failed: {body}"),
            other => answers.push(other),
        }
    }
    child.kill().unwrap();
    let _ = child.wait();

    let RuntimeCall::Response { body, .. } = &answers[0] else {
        panic!("{answers:?}");
    };
    let allowed: Value = serde_json::from_str(body).unwrap();
    assert_eq!(allowed["principalId"], "user:alice");
    let RuntimeCall::InvocationError { body, .. } = &answers[1] else {
        panic!("{answers:?}");
    };
    let error: Value = serde_json::from_str(body).unwrap();
    assert_eq!(error["errorMessage"], "Unauthorized");
}

#[test]
fn the_authorizer_binary_refuses_to_start_without_its_table() {
    use cog_integration_tests::runtime_api::{RuntimeApi, RuntimeCall};
    use cog_integration_tests::{spawn_function, workspace_binary};
    cog_integration_tests::require_stack();
    let api = RuntimeApi::start().unwrap();
    let mut child = spawn_function(
        &workspace_binary("authorizer"),
        &api,
        &[("TABLE_NAME", "no-such-table".to_owned())],
    );
    // No pepper ring can be loaded: the cold start fails, nothing is served.
    let status = child.wait().unwrap();
    assert!(!status.success());
    while let Ok(call) = api.calls.try_recv() {
        assert!(!matches!(call, RuntimeCall::Response { .. }), "{call:?}");
    }
}
