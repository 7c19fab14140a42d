//! Per-credential rate limits on the real stack: set at creation by the
//! owner (PATs) or an org admin (keys), changed and lifted the same way,
//! kept by rotation, enforced by the authorizer without a write per request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::Instant;

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::services::{
    authorizer, manager, policy, request, DynamoAuthorizer, Manager,
};
use cog_integration_tests::{caller, Stack};
use cog_tokens::authorize::{Decision, ForbidReason, Source};
use cog_tokens::management::{
    ManagementError, OrgCall, RateLimitRequest, ServiceUserRequest, TokenRequest, ROTATE_SELF_SCOPE,
};
use cog_tokens::records::{AuditAction, Origin, Owner, RateLimit, ServiceUser, Timestamp};
use cog_tokens::store::{AuditLog, TokenStore};

fn limit(requests_per_second: u32, burst: Option<u32>) -> Option<RateLimitRequest> {
    Some(RateLimitRequest {
        requests_per_second,
        burst,
    })
}

/// How many of `n` requests at `at` the authorizer allows; any refusal
/// must be the rate limit's.
async fn allowed_of(authorizer: &DynamoAuthorizer, header: &str, at: Timestamp, n: u32) -> u32 {
    let mut allowed = 0;
    for _ in 0..n {
        match authorizer
            .authorize(Some(header), None, Source::ip(None), at)
            .await
            .unwrap()
        {
            Decision::Allow(_) => allowed += 1,
            Decision::Forbidden(_, ForbidReason::RateLimited) => {}
            other => panic!("{other:?}"),
        }
    }
    allowed
}

/// A deployer service user "CI" in the call's org.
async fn service_user(manager: &Manager, at: OrgCall<'_>) -> ServiceUser {
    let request = ServiceUserRequest {
        name: "CI".into(),
        role: "deployer".into(),
    };
    manager.create_service_user(at, request).await.unwrap()
}

#[tokio::test]
async fn a_key_gets_its_burst_then_its_rate_and_an_admins_change_applies_at_the_next_request() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["rae"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let admin = caller("rae");
    let at = || OrgCall {
        admin: &admin,
        org: "acme",
        now: Timestamp::now(),
    };
    let ci = service_user(&manager, at()).await;
    let key = manager
        .create_key(
            at(),
            &ci.id,
            TokenRequest {
                rate_limit: limit(4, Some(6)),
                ..request("deploy")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(key.record.rate_limit, RateLimit::new(4, Some(6)).ok());
    let stored = manager
        .list_keys(at(), &ci.id, Default::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(stored.tokens[0].rate_limit, key.record.rate_limit);
    let unlimited = manager
        .create(&caller("rae"), request("mine"), None, Timestamp::now())
        .await
        .unwrap();

    let authorizer = authorizer(&stack, &store).await;
    let header = format!("Bearer {}", key.token.expose_secret());
    let t0 = Timestamp::now();
    assert_eq!(allowed_of(&authorizer, &header, t0, 10).await, 6);
    // Half a second at 4/s: two more.
    let half = Timestamp(t0.0 + 500);
    assert_eq!(allowed_of(&authorizer, &header, half, 10).await, 2);
    // A credential without a limit is never refused for one.
    let mine = format!("Bearer {}", unlimited.token.expose_secret());
    assert_eq!(allowed_of(&authorizer, &mine, half, 20).await, 20);

    // The admin narrows it: the next request is counted under the new limit.
    let narrowed = manager
        .set_key_rate_limit(at(), &ci.id, key.record.id.as_str(), limit(1, None))
        .await
        .unwrap();
    assert_eq!(narrowed.rate_limit, RateLimit::new(1, Some(1)).ok());
    let later = Timestamp(t0.0 + 10_000);
    assert_eq!(allowed_of(&authorizer, &header, later, 5).await, 1);
    // Lifted: no limit at all.
    let lifted = manager
        .set_key_rate_limit(at(), &ci.id, key.record.id.as_str(), None)
        .await
        .unwrap();
    assert_eq!(lifted.rate_limit, None);
    assert_eq!(allowed_of(&authorizer, &header, later, 20).await, 20);

    // Each change is in the service user's trail, as the admin.
    let trail = store
        .audit_events(Some(&Owner::service_user(&ci.id)), 20)
        .await
        .unwrap();
    let details: Vec<_> = trail
        .iter()
        .filter(|e| e.action == AuditAction::TokenUpdate && e.actor == "user:rae")
        .filter_map(|e| e.detail.as_deref())
        .collect();
    assert!(details.contains(&"rate_limit=1/s burst 1"), "{details:?}");
    assert!(details.contains(&"rate_limit=none"), "{details:?}");
}

#[tokio::test]
async fn bad_limits_are_refused_with_a_reason_and_change_nothing_and_rotation_keeps_a_limit() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["rob"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let me = caller("rob");
    for bad in [
        limit(0, None),
        limit(10_001, None),
        limit(10, Some(9)),
        limit(10, Some(5_001)),
        limit(u32::MAX, None),
    ] {
        let created = manager
            .create(
                &me,
                TokenRequest {
                    rate_limit: bad,
                    ..request("bad")
                },
                None,
                Timestamp::now(),
            )
            .await;
        assert!(
            matches!(
                &created,
                Err(ManagementError::Invalid {
                    field: "rate_limit",
                    code: "invalid_rate_limit",
                    ..
                })
            ),
            "{bad:?}: {created:?}"
        );
    }
    let listed = manager
        .list(&me, Default::default(), 10, None, Timestamp::now())
        .await
        .unwrap();
    assert!(listed.tokens.is_empty(), "a refused create made a token");

    let issued = manager
        .create(
            &me,
            TokenRequest {
                rate_limit: limit(20, None),
                ..request("good")
            },
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let id = issued.record.id.as_str();
    let refused = manager
        .set_rate_limit(&me, id, limit(0, None), Timestamp::now())
        .await;
    assert!(matches!(
        refused,
        Err(ManagementError::Invalid {
            code: "invalid_rate_limit",
            ..
        })
    ));
    assert_eq!(
        manager.get(&me, id).await.unwrap().rate_limit,
        RateLimit::new(20, None).ok()
    );
    // Another user's token is not found, like a missing one.
    let foreign = manager
        .set_rate_limit(&caller("someone"), id, None, Timestamp::now())
        .await;
    assert!(matches!(foreign, Err(ManagementError::TokenNotFound)));

    let rotated = manager
        .rotate(&me, id, None, None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(rotated.record.rate_limit, RateLimit::new(20, None).ok());
    let reread = manager.get(&me, rotated.record.id.as_str()).await.unwrap();
    assert_eq!(reread.rate_limit, RateLimit::new(20, None).ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_gateway_a_limited_token_is_refused_over_its_rate_and_freed_by_lifting_it() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["rex"]).await;
    // Caching off (the default here): every request reaches the authorizer.
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("rex").await;
    let json = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    let body = r#"{"name": "slow", "scopes": ["tokens:read"], "expires_in_days": 7, "rate_limit": {"requests_per_second": 1, "burst": 2}}"#;
    let created = chain.call("POST", "/v1/tokens", &json, body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.json()["rate_limit"],
        serde_json::json!({"requests_per_second": 1, "burst": 2})
    );
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let path = format!("/v1/tokens/{}", created.json()["id"].as_str().unwrap());

    // At most the burst and what the rate refilled meanwhile pass; the rest
    // are the gateway's 403.
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(chain.with_token("GET", "/v1/whoami", &token).await.status);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 403),
        "{statuses:?}"
    );
    assert!(allowed >= 2, "{statuses:?}");
    assert!(
        allowed as f64 <= 2.0 + elapsed.floor() + 1.0,
        "{statuses:?} in {elapsed:.2}s"
    );
    if elapsed < 4.0 {
        assert!(statuses.contains(&403), "{statuses:?} in {elapsed:.2}s");
    }

    // Bad changes are refused by field, and change nothing.
    for (bad, code) in [
        (
            r#"{"rate_limit": {"requests_per_second": -1}}"#,
            "invalid_rate_limit",
        ),
        (
            r#"{"rate_limit": {"requests_per_second": 5, "burst": 2}}"#,
            "invalid_rate_limit",
        ),
        (r#"{"rate_limit": {"per_second": 5}}"#, "invalid_body"),
        (r#"{"rate_limit": null, "allowed_ips": []}"#, "invalid_body"),
        (
            r#"{"allowed_ips": null, "rate_limit": {"requests_per_second": 5}}"#,
            "invalid_body",
        ),
        (
            r#"{"rate_limit": {"requests_per_second": 1.5}}"#,
            "invalid_body",
        ),
        (r#"{}"#, "invalid_body"),
    ] {
        let answer = chain.call("PATCH", &path, &json, bad).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.json()["code"], code, "{bad}: {}", answer.body);
    }
    let unchanged = chain.call("GET", &path, &json, "").await;
    assert_eq!(
        unchanged.json()["rate_limit"],
        serde_json::json!({"requests_per_second": 1, "burst": 2})
    );

    // Lifted: every request passes again.
    let lifted = chain
        .call("PATCH", &path, &json, r#"{"rate_limit": null}"#)
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert_eq!(lifted.json()["rate_limit"], serde_json::Value::Null);
    for _ in 0..5 {
        let answer = chain.with_token("GET", "/v1/whoami", &token).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let account = chain.call("GET", "/v1/account", &json, "").await;
    assert_eq!(
        account.json()["issuance"]["max_rate_limit"],
        serde_json::json!({"requests_per_second": 10000, "burst": 5000})
    );
}

#[tokio::test]
async fn a_token_rotating_itself_keeps_its_spent_bucket_and_a_session_rotation_starts_afresh() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["rio"]).await;
    let mut issuance = policy(50);
    issuance.scope_catalog.push(ROTATE_SELF_SCOPE.into());
    let manager = manager(&stack, &store, issuance).await;
    let issued = manager
        .create(
            &caller("rio"),
            TokenRequest {
                scopes: vec!["tokens:read".into(), ROTATE_SELF_SCOPE.into()],
                rate_limit: limit(1, Some(3)),
                ..request("ci")
            },
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let authorizer = authorizer(&stack, &store).await;
    let bearer = |token: &cog_tokens::management::IssuedToken| {
        format!("Bearer {}", token.token.expose_secret())
    };
    let t0 = Timestamp::now();
    assert_eq!(allowed_of(&authorizer, &bearer(&issued), t0, 5).await, 3);
    // Rotated by itself, at once: the new token's bucket is the spent one.
    let rotated = manager
        .rotate_self(
            &Owner::user("rio"),
            issued.record.id.as_str(),
            Some(0),
            None,
            Origin::default(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(rotated.record.rate_limit, issued.record.rate_limit);
    assert_eq!(allowed_of(&authorizer, &bearer(&rotated), t0, 5).await, 0);
    // A session's rotation is the owner's own act: a chain, and a bucket, of its own.
    let by_session = manager
        .rotate(
            &caller("rio"),
            rotated.record.id.as_str(),
            None,
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        allowed_of(&authorizer, &bearer(&by_session), t0, 5).await,
        3
    );
}

#[tokio::test]
async fn a_change_through_a_key_in_its_grace_follows_to_its_successor_unless_it_has_its_own() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["rue"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let admin = caller("rue");
    let at = || OrgCall {
        admin: &admin,
        org: "acme",
        now: Timestamp::now(),
    };
    let ci = service_user(&manager, at()).await;
    let old = manager
        .create_key(at(), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    let new = manager
        .rotate_key(at(), &ci.id, old.record.id.as_str(), Some(600), None)
        .await
        .unwrap();
    let read = |id: cog_tokens::TokenId| {
        let store = &store;
        async move { store.get_token(&id).await.unwrap().unwrap().rate_limit }
    };
    // Through the old key, in its grace: both get it.
    manager
        .set_key_rate_limit(at(), &ci.id, old.record.id.as_str(), limit(10, None))
        .await
        .unwrap();
    let ten = RateLimit::new(10, None).ok();
    assert_eq!(
        (read(old.record.id).await, read(new.record.id).await),
        (ten, ten)
    );
    // The successor's own limit, then a change through the old key: the successor keeps its own.
    manager
        .set_key_rate_limit(at(), &ci.id, new.record.id.as_str(), limit(2, None))
        .await
        .unwrap();
    manager
        .set_key_rate_limit(at(), &ci.id, old.record.id.as_str(), None)
        .await
        .unwrap();
    assert_eq!(read(old.record.id).await, None);
    assert_eq!(read(new.record.id).await, RateLimit::new(2, None).ok());
}
