//! Per-token IP allowlists on the real stack: set at creation and changed
//! by the owner (PATs) or an org admin (keys), enforced by the authorizer on
//! every event shape, and refused addresses recorded in the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::Duration;

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::services::{authorizer, manager, policy, request};
use cog_integration_tests::{caller, Stack};
use cog_tokens::authorize::{Decision, ForbidReason, Source};
use cog_tokens::management::{ManagementError, OrgCall, ServiceUserRequest, TokenRequest};
use cog_tokens::records::{AuditAction, Owner, Timestamp};
use cog_tokens::store::AuditLog;

fn ip(text: &str) -> Option<&str> {
    Some(text)
}

#[tokio::test]
async fn the_authorizer_admits_a_token_only_from_its_networks_and_never_from_an_unknown_one() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["ida"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let authorizer = authorizer(&stack, &store).await;
    let issued = manager
        .create(
            &caller("ida"),
            TokenRequest {
                allowed_ips: vec!["203.0.113.0/24".into(), "2001:db8::/32".into()],
                ..request("office")
            },
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        issued.record.allowed_ips.to_strings(),
        ["203.0.113.0/24", "2001:db8::/32"]
    );
    let header = format!("Bearer {}", issued.token.expose_secret());
    let decide = |source| {
        let (authorizer, header) = (&authorizer, &header);
        async move {
            authorizer
                .authorize(Some(header), None, Source::ip(source), Timestamp::now())
                .await
                .unwrap()
        }
    };
    assert!(matches!(
        decide(ip("203.0.113.77")).await,
        Decision::Allow(_)
    ));
    assert!(matches!(
        decide(ip("2001:db8:5::1")).await,
        Decision::Allow(_)
    ));
    assert!(matches!(
        decide(ip("198.51.100.1")).await,
        Decision::Forbidden(_, ForbidReason::SourceNotAllowed)
    ));
    // A REST TOKEN authorizer tells no address, and text that is no
    // address counts as none: a token with a list is refused.
    for unknown in [None, ip("not an address")] {
        assert!(matches!(
            decide(unknown).await,
            Decision::Forbidden(_, ForbidReason::SourceUnknown)
        ));
    }

    // The refused address is in the trail, once per interval however often refused.
    authorizer.finish_background_writes().await;
    let events = store
        .audit_events(Some(&Owner::user("ida")), 50)
        .await
        .unwrap();
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::TokenIpRefused)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].detail.as_deref(), Some("source_ip=198.51.100.1"));
    assert_eq!(refused[0].token_id, Some(issued.record.id));

    // Rotation keeps the list.
    let rotated = manager
        .rotate(
            &caller("ida"),
            issued.record.id.as_str(),
            None,
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(rotated.record.allowed_ips, issued.record.allowed_ips);
}

#[tokio::test]
async fn bad_lists_are_refused_with_a_reason_and_change_nothing() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["ivo"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    for (entries, code) in [
        (vec!["10.0.0.300/8".to_owned()], "invalid_cidr"),
        (vec!["10.1.0.0/8".to_owned()], "invalid_cidr"),
        (
            (0..21).map(|i| format!("10.{i}.0.0/16")).collect(),
            "too_many_cidrs",
        ),
    ] {
        let created = manager
            .create(
                &caller("ivo"),
                TokenRequest {
                    allowed_ips: entries.clone(),
                    ..request("bad")
                },
                None,
                Timestamp::now(),
            )
            .await;
        assert!(
            matches!(&created, Err(ManagementError::Invalid { field: "allowed_ips", code: c, .. }) if *c == code),
            "{created:?}"
        );
    }
    let issued = manager
        .create(&caller("ivo"), request("good"), None, Timestamp::now())
        .await
        .unwrap();
    let id = issued.record.id.as_str();
    let bad = manager
        .set_allowed_ips(&caller("ivo"), id, &["any".into()], Timestamp::now())
        .await;
    assert!(matches!(
        bad,
        Err(ManagementError::Invalid {
            code: "invalid_cidr",
            ..
        })
    ));
    assert!(manager
        .get(&caller("ivo"), id)
        .await
        .unwrap()
        .allowed_ips
        .is_empty());
    // Another user's token is not found, like a missing one.
    let foreign = manager
        .set_allowed_ips(
            &caller("someone"),
            id,
            &["10.0.0.0/8".into()],
            Timestamp::now(),
        )
        .await;
    assert!(matches!(foreign, Err(ManagementError::TokenNotFound)));
}

#[tokio::test]
async fn an_org_admin_limits_a_key_to_the_orgs_network() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["adm"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let admin = caller("adm");
    let at = || OrgCall {
        admin: &admin,
        org: "acme",
        now: Timestamp::now(),
    };
    let ci = manager
        .create_service_user(
            at(),
            ServiceUserRequest {
                name: "CI".into(),
                role: "deployer".into(),
            },
        )
        .await
        .unwrap();
    let key = manager
        .create_key(at(), &ci.id, request("deploy"), None)
        .await
        .unwrap();
    let changed = manager
        .set_key_allowed_ips(
            at(),
            &ci.id,
            key.record.id.as_str(),
            &["192.0.2.0/24".into()],
        )
        .await
        .unwrap();
    assert_eq!(changed.allowed_ips.to_strings(), ["192.0.2.0/24"]);
    let authorizer = authorizer(&stack, &store).await;
    let header = format!("Bearer {}", key.token.expose_secret());
    let inside = authorizer
        .authorize(
            Some(&header),
            None,
            Source::ip(ip("192.0.2.10")),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(matches!(inside, Decision::Allow(_)));
    let outside = authorizer
        .authorize(
            Some(&header),
            None,
            Source::ip(ip("192.0.3.10")),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(matches!(outside, Decision::Forbidden(..)));
    let trail = store
        .audit_events(Some(&Owner::service_user(&ci.id)), 10)
        .await
        .unwrap();
    assert!(trail
        .iter()
        .any(|e| e.action == AuditAction::TokenUpdate && e.actor == "user:adm"));
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_gateway_tokens_and_keys_work_only_from_their_lists() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["gil"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("gil").await;
    let json = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    let body = r#"{"name": "office", "scopes": ["tokens:read"], "expires_in_days": 7, "allowed_ips": ["10.0.0.0/8"]}"#;
    let created = chain.call("POST", "/v1/tokens", &json, body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.json()["allowed_ips"],
        serde_json::json!(["10.0.0.0/8"])
    );
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let id = created.json()["id"].as_str().unwrap().to_owned();

    // The gateway's peer is 127.0.0.1: outside the list.
    let refused = chain.with_token("GET", "/v1/whoami", &token).await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let path = format!("/v1/tokens/{id}");
    let bad = chain
        .call("PATCH", &path, &json, r#"{"allowed_ips": ["127.0.0.1/8"]}"#)
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        (bad.json()["code"].as_str(), bad.json()["field"].as_str()),
        (Some("invalid_cidr"), Some("allowed_ips"))
    );
    let patched = chain
        .call("PATCH", &path, &json, r#"{"allowed_ips": ["127.0.0.1"]}"#)
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        patched.json()["allowed_ips"],
        serde_json::json!(["127.0.0.1/32"])
    );
    let allowed = chain.with_token("GET", "/v1/whoami", &token).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);

    // An org admin limits a service key the same way (gil is admin of acme).
    let su = chain
        .call(
            "POST",
            "/v1/orgs/acme/service-users",
            &json,
            r#"{"name": "ci", "role": "deployer"}"#,
        )
        .await;
    assert_eq!(su.status, 201, "{}", su.body);
    let su_id = su.json()["id"].as_str().unwrap().to_owned();
    let keys = format!("/v1/orgs/acme/service-users/{su_id}/keys");
    let key = chain
        .call(
            "POST",
            &keys,
            &json,
            r#"{"name": "deploy", "scopes": ["tokens:read"], "expires_in_days": 7}"#,
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    let key_token = key.json()["token"].as_str().unwrap().to_owned();
    let key_path = format!("{keys}/{}", key.json()["id"].as_str().unwrap());
    for (list, whoami_status) in [(r#"["10.0.0.0/8"]"#, 403), (r#"["127.0.0.0/8"]"#, 200)] {
        let body = format!(r#"{{"allowed_ips": {list}}}"#);
        let patched = chain.call("PATCH", &key_path, &json, &body).await;
        assert_eq!(patched.status, 200, "{}", patched.body);
        let answer = chain.with_token("GET", "/v1/whoami", &key_token).await;
        assert_eq!(answer.status, whoami_status, "{list}: {}", answer.body);
    }

    // The authorizer's refusal reached the trail (a background write).
    let mut refused_events = 0;
    for _ in 0..50 {
        let events = store
            .audit_events(Some(&Owner::user("gil")), 50)
            .await
            .unwrap();
        refused_events = events
            .iter()
            .filter(|e| e.action == AuditAction::TokenIpRefused)
            .count();
        if refused_events > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused_events, 1);
}
