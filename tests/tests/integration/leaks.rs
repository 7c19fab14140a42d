//! Leak response on the real stack: GitHub's signed reports and the public
//! revoke route, through the gateway and at the handler.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::github::FakeGitHub;
use cog_integration_tests::services::{self, leak_service};
use cog_integration_tests::{caller, same_id_other_secret, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::records::{AuditAction, Owner, Timestamp, TokenStatus};
use cog_tokens::store::{AuditLog, TokenStore};
use cog_tokens::{PlainToken, TokenId};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use leak_response::github_keys::{GitHubKeys, KeyCachePolicy};
use leak_response::key_fetch::HttpKeySource;
use sha2::{Digest, Sha256};

/// A live token of `user`'s and one it revoked.
async fn live_and_revoked(stack: &Stack, store: &DynamoStore, user: &str) -> (String, String) {
    let manager = services::manager(stack, store, services::policy(50)).await;
    let now = Timestamp::now();
    let live = manager
        .create(&caller(user), services::request("live"), None, now)
        .await
        .unwrap();
    let ended = manager
        .create(&caller(user), services::request("ended"), None, now)
        .await
        .unwrap();
    manager
        .revoke(&caller(user), ended.record.id.as_str(), now)
        .await
        .unwrap();
    (
        live.token.expose_secret().to_owned(),
        ended.token.expose_secret().to_owned(),
    )
}

async fn status_of(store: &DynamoStore, token: &str) -> (TokenStatus, String) {
    let id: TokenId = PlainToken::parse(token).unwrap().id();
    let record = store.get_token(&id).await.unwrap().unwrap();
    let reason = record.revoked.as_ref().map(|r| r.reason.clone());
    (record.status(Timestamp::now()), reason.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_github_report_revokes_live_tokens_and_nothing_unsigned_does() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["lea"]).await;
    let github = FakeGitHub::start().await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        function_env: vec![("GITHUB_KEYS_URL".into(), github.keys_url.clone())],
        ..ChainConfig::default()
    });
    let (live, ended) = live_and_revoked(&stack, &store, "lea").await;
    let unknown = PlainToken::generate().unwrap().expose_secret().to_owned();
    let forged = same_id_other_secret(&live);
    let tokens = [live.as_str(), &ended, &unknown, "cog_garbage", &forged];
    let body = FakeGitHub::report(&tokens);
    let post = |key_id: String, signature: String, body: String| {
        let chain = &chain;
        async move {
            let headers = [
                ("content-type", "application/json"),
                ("github-public-key-identifier", key_id.as_str()),
                ("github-public-key-signature", signature.as_str()),
            ];
            chain
                .call("POST", "/v1/secret-scanning/github", &headers, &body)
                .await
        }
    };

    // Not signed by the published key: 401 and nothing revoked.
    let tampered = body.replacen("content", "commit", 1);
    let refused = [
        post(github.key_id.clone(), github.sign(&body), tampered).await,
        post("unpublished".into(), github.sign(&body), body.clone()).await,
        post(
            github.key_id.clone(),
            "bm90IGEgc2lnbmF0dXJl".into(),
            body.clone(),
        )
        .await,
        chain
            .call("POST", "/v1/secret-scanning/github", &[], &body)
            .await,
    ];
    for answer in &refused {
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(answer.json()["code"], "invalid_signature");
    }
    assert_eq!(status_of(&store, &live).await.0, TokenStatus::Active);

    let answer = post(github.key_id.clone(), github.sign(&body), body.clone()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let feedback = answer.json();
    let labels: Vec<&str> = feedback
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "true_positive",
            "true_positive",
            "false_positive",
            "false_positive",
            "false_positive"
        ]
    );
    for (item, token) in feedback.as_array().unwrap().iter().zip(tokens) {
        assert_eq!(
            item["token_hash"],
            hex::encode(Sha256::digest(token.as_bytes()))
        );
        assert_eq!(item["token_type"], "cog_personal_access_token");
        assert!(
            item.get("token_raw").is_none(),
            "tokens are never sent back"
        );
    }
    assert!(
        !answer.body.contains(&live),
        "the answer never holds a token"
    );
    assert_eq!(
        status_of(&store, &live).await,
        (TokenStatus::Revoked, "leaked".to_owned())
    );
    let events = store
        .audit_events(Some(&Owner::user("lea")), 50)
        .await
        .unwrap();
    let leaked: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::TokenLeaked)
        .collect();
    assert_eq!(leaked.len(), 1);
    assert_eq!(leaked[0].actor, "github-secret-scanning");
    let detail = leaked[0].detail.as_deref().unwrap();
    assert!(detail.contains("url=https://github.com/octo/app/blob/0a1b2c/.env source=content"));

    // The same report again: still true positives, nothing written twice.
    let again = post(github.key_id.clone(), github.sign(&body), body.clone()).await;
    assert_eq!(again.json(), feedback);
    let events = store
        .audit_events(Some(&Owner::user("lea")), 50)
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == AuditAction::TokenLeaked)
            .count(),
        1
    );

    // The revoked token no longer passes the authorizer.
    let whoami = chain.with_token("GET", "/v1/whoami", &live).await;
    assert_eq!(whoami.status, 401);
    // One fetch for the known key; the unpublished id's refetch is rate-limited.
    assert!(
        github.fetches() <= 2,
        "{} key set fetches",
        github.fetches()
    );

    let huge = format!("[{}]", "\"x\",".repeat(leak_response::MAX_BODY_BYTES / 4));
    let too_large = post(github.key_id.clone(), github.sign(&huge), huge).await;
    assert_eq!(too_large.status, 413, "{}", too_large.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn while_githubs_key_set_cannot_be_fetched_reports_get_503_and_nothing_is_revoked() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["kai"]).await;
    let github = FakeGitHub::start().await;
    github.serve_keys(false);
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        function_env: vec![
            ("GITHUB_KEYS_URL".into(), github.keys_url.clone()),
            ("GITHUB_KEYS_MIN_FETCH_SECONDS".into(), "1".into()),
        ],
        ..ChainConfig::default()
    });
    let (live, _ended) = live_and_revoked(&stack, &store, "kai").await;
    let body = FakeGitHub::report(&[live.as_str()]);
    let post = |key_id: &str| {
        let (chain, body, key_id) = (&chain, &body, key_id.to_owned());
        let signature = github.sign(body);
        async move {
            let headers = [
                ("content-type", "application/json"),
                ("github-public-key-identifier", key_id.as_str()),
                ("github-public-key-signature", signature.as_str()),
            ];
            chain
                .call("POST", "/v1/secret-scanning/github", &headers, body)
                .await
        }
    };

    // Never fetched: our fault, whatever the report; GitHub retries later.
    for _ in 0..3 {
        let answer = post(&github.key_id).await;
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(answer.json()["code"], "service_unavailable");
        let retry = answer.headers["retry-after"].to_str().unwrap();
        assert!(retry.parse::<u64>().unwrap() >= 1, "{retry}");
    }
    assert_eq!(status_of(&store, &live).await.0, TokenStatus::Active);

    github.serve_keys(true);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let answer = post(&github.key_id).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(status_of(&store, &live).await.0, TokenStatus::Revoked);
    // A good, fresh set that lacks the id: not signed by GitHub.
    let unknown = post("unpublished").await;
    assert_eq!(unknown.status, 401, "{}", unknown.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_revoke_route_answers_the_same_whatever_it_gets() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["rex"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let (live, ended) = live_and_revoked(&stack, &store, "rex").await;
    let unknown = PlainToken::generate().unwrap().expose_secret().to_owned();
    let forged = same_id_other_secret(&live);
    let mut answers = Vec::new();
    for list in [
        vec![forged.as_str()],
        vec![unknown.as_str(), "not a token", ""],
        vec![ended.as_str()],
        vec![live.as_str()],
    ] {
        let body = serde_json::json!({ "credentials": list }).to_string();
        let headers = [("content-type", "application/json")];
        let answer = chain
            .call("POST", "/v1/credentials/revoke", &headers, &body)
            .await;
        answers.push((answer.status, answer.body));
    }
    assert!(
        answers.iter().all(|a| *a == answers[0]) && answers[0].0 == 202,
        "{answers:?}"
    );
    assert_eq!(
        status_of(&store, &live).await,
        (TokenStatus::Revoked, "reported".to_owned())
    );
    let events = store
        .audit_events(Some(&Owner::user("rex")), 50)
        .await
        .unwrap();
    let reported: Vec<_> = events
        .iter()
        .filter(|e| e.actor == "public-revoke")
        .collect();
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].action, AuditAction::TokenRevoke);
    assert_eq!(
        reported[0].origin.as_ref().map(|o| o.source_ip.as_str()),
        Some("127.0.0.1")
    );
    assert_eq!(
        chain.with_token("GET", "/v1/whoami", &live).await.status,
        401
    );

    let bad = chain
        .call("POST", "/v1/credentials/revoke", &[], "[\"cog_x\"]")
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let list: Vec<String> = (0..1001).map(|i| format!("cog_{i}")).collect();
    let many = serde_json::json!({ "credentials": list }).to_string();
    let too_many = chain
        .call("POST", "/v1/credentials/revoke", &[], &many)
        .await;
    assert_eq!(too_many.status, 413, "{}", too_many.body);
}

fn revoke_request(source_ip: &str) -> lambda_http::Request {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(source_ip.to_owned());
    lambda_http::http::Request::builder()
        .method("POST")
        .uri(leak_response::PUBLIC_REVOKE_ROUTE)
        .body(Body::from(r#"{"credentials": ["cog_nothing"]}"#))
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV2(context))
}

#[tokio::test]
async fn each_source_ip_has_its_own_budget_per_minute() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&[]).await;
    let keys = GitHubKeys::fetched(
        HttpKeySource::new("http://127.0.0.1:9/unused").unwrap(),
        KeyCachePolicy::default(),
    );
    let service = leak_service(&stack, &store, keys, 3).await;
    let minute = Timestamp(60_000 * 29_000_000);
    let ip = format!("198.51.100.{}", rand::random::<u8>());
    let mut statuses = Vec::new();
    for second in 0..5 {
        let now = minute.plus_seconds(second);
        let response = leak_response::handle_request(&service, revoke_request(&ip), now).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry = response.headers()["retry-after"].to_str().unwrap();
            assert_eq!(retry.parse::<i64>().unwrap(), 60 - second);
        }
    }
    assert_eq!(statuses, [202, 202, 202, 429, 429]);
    let other =
        leak_response::handle_request(&service, revoke_request("203.0.113.9"), minute).await;
    assert_eq!(other.status(), 202, "another address has its own budget");
    let next = minute.plus_seconds(60);
    let later = leak_response::handle_request(&service, revoke_request(&ip), next).await;
    assert_eq!(later.status(), 202, "a new minute, a new budget");
}
