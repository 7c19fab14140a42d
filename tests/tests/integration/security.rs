//! The security findings of issue 10, each as the attack or fault that
//! showed it, against the real local stack (DynamoDB Local, moto's KMS).
//! docs/security.md names these tests as the controls' proof.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::proxy::{closed_port_url, Fault, FaultProxy};
use cog_integration_tests::runtime_api::{RuntimeApi, RuntimeCall};
use cog_integration_tests::same_id_other_secret;
use cog_integration_tests::services::{authorizer, decide, manager, policy, request};
use cog_integration_tests::{
    audit_actions, caller, new_token, spawn_function, workspace_binary, Stack,
};
use cog_tokens::authorize::{Decision, DenyReason, Source};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::{IssuancePolicy, ManagementError, TokenRequest};
use cog_tokens::records::{AuditAction, AuditEvent, Owner, Timestamp, TokenStatus};
use cog_tokens::store::{AuditLog, PepperStore, PrincipalStore, TokenStore};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

fn is_revoked(decision: &Decision) -> bool {
    matches!(decision, Decision::Unauthorized(DenyReason::Revoked))
}

/// A1: DELETE, revoke-all and the operator's revoke-all end a token in its
/// rotation grace now, not when the grace would have ended.
#[tokio::test]
async fn revoking_a_token_in_its_rotation_grace_ends_it_now() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["grace"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let authorizer = authorizer(&stack, &store).await;
    let now = Timestamp::now();

    // DELETE of the old token.
    let old = manager
        .create(&caller("grace"), request("one"), None, now)
        .await
        .unwrap();
    manager
        .rotate(
            &caller("grace"),
            old.record.id.as_str(),
            Some(3600),
            None,
            now,
        )
        .await
        .unwrap();
    assert!(matches!(
        decide(&authorizer, &old.token, now).await,
        Decision::Allow(_)
    ));
    manager
        .revoke(&caller("grace"), old.record.id.as_str(), now)
        .await
        .unwrap();
    assert!(is_revoked(&decide(&authorizer, &old.token, now).await));
    let record = store.get_token(&old.record.id).await.unwrap().unwrap();
    assert_eq!(record.revoked.unwrap().at, now, "grace not brought forward");

    // Revoke-all by the owner.
    let old = manager
        .create(&caller("grace"), request("two"), None, now)
        .await
        .unwrap();
    let new = manager
        .rotate(
            &caller("grace"),
            old.record.id.as_str(),
            Some(3600),
            None,
            now,
        )
        .await
        .unwrap();
    manager.revoke_all(&caller("grace"), now).await.unwrap();
    assert!(is_revoked(&decide(&authorizer, &old.token, now).await));
    assert!(is_revoked(&decide(&authorizer, &new.token, now).await));

    // `cogadmin token revoke-all`, the operator's way, a moment later.
    let later = Timestamp::now().plus_seconds(1);
    let old = manager
        .create(&caller("grace"), request("three"), None, later)
        .await
        .unwrap();
    manager
        .rotate(
            &caller("grace"),
            old.record.id.as_str(),
            Some(3600),
            None,
            later,
        )
        .await
        .unwrap();
    let output = Command::new(workspace_binary("cogadmin"))
        .args(["token", "revoke-all", "--owner", "grace"])
        .env("TABLE_NAME", store.table())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let at = Timestamp::now();
    assert!(is_revoked(&decide(&authorizer, &old.token, at).await));
    let record = store.get_token(&old.record.id).await.unwrap().unwrap();
    assert!(
        record.revoked.unwrap().at <= at,
        "grace not brought forward"
    );
}

/// A3: the flags that gate access fail closed; a damaged account is never an Allow.
#[tokio::test]
async fn missing_or_mistyped_account_flags_fail_closed() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["template"]).await;
    let pepper = cog_integration_tests::services::authorizer(&stack, &store).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let ring_pepper = {
        use cog_tokens::store::pepper::PepperSource;
        cog_tokens::aws::kms::KmsPepperSource::new(stack.kms.clone(), store.clone())
            .load_ring()
            .await
            .unwrap()
            .current()
            .clone()
    };
    let now = Timestamp::now();
    let base = |user: &str| -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(format!("USER#{user}"))),
            ("sk".into(), AttributeValue::S("ACCOUNT".into())),
            ("user_id".into(), AttributeValue::S(user.into())),
            ("status".into(), AttributeValue::S("active".into())),
            ("sso".into(), AttributeValue::Bool(false)),
            ("pat_beta".into(), AttributeValue::Bool(true)),
            ("orgs".into(), AttributeValue::M(HashMap::new())),
        ])
    };
    type Edit = fn(&mut HashMap<String, AttributeValue>);
    let cases: [(&str, Edit); 7] = [
        ("sso-absent", |i| {
            i.remove("sso");
        }),
        ("sso-string", |i| {
            i.insert("sso".into(), AttributeValue::S("false".into()));
        }),
        ("sso-number", |i| {
            i.insert("sso".into(), AttributeValue::N("0".into()));
        }),
        ("status-absent", |i| {
            i.remove("status");
        }),
        ("status-unknown", |i| {
            i.insert("status".into(), AttributeValue::S("pending".into()));
        }),
        ("beta-string", |i| {
            i.insert("pat_beta".into(), AttributeValue::S("true".into()));
        }),
        ("orgs-corrupt", |i| {
            i.insert("orgs".into(), AttributeValue::S("acme:admin".into()));
        }),
    ];
    for (user, edit) in cases {
        // A token made while the account was sound, then the account damaged.
        let (token, record) = new_token(&Owner::user(user), &ring_pepper, now, None);
        let mut item = base(user);
        store
            .client()
            .put_item()
            .table_name(store.table())
            .set_item(Some(item.clone()))
            .send()
            .await
            .unwrap();
        let audit = AuditEvent::new("test", AuditAction::TokenCreate, Owner::user(user), now);
        store.create_token(&record, 50, &audit).await.unwrap();
        assert!(matches!(
            decide(&pepper, &token, now).await,
            Decision::Allow(_)
        ));
        edit(&mut item);
        store
            .client()
            .put_item()
            .table_name(store.table())
            .set_item(Some(item))
            .send()
            .await
            .unwrap();

        let header = format!("Bearer {}", token.expose_secret());
        let fresh = authorizer(&stack, &store).await;
        for checker in [&pepper, &fresh] {
            match checker
                .authorize(Some(&header), None, Source::default(), now)
                .await
            {
                Ok(Decision::Unauthorized(_)) | Err(_) => {}
                other => panic!("{user}: {other:?}"),
            }
        }
        let created = manager
            .create(&caller(user), request("new"), None, now)
            .await;
        assert!(created.is_err(), "{user}: a PAT was issued");
    }
}

/// A5: revoking needs no KMS: the revocation function starts and revokes
/// with KMS unreachable.
#[tokio::test]
async fn revoke_token_starts_and_revokes_with_kms_unreachable() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["kmsless"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let now = Timestamp::now();
    let issued = manager
        .create(&caller("kmsless"), request("k"), None, now)
        .await
        .unwrap();

    let api = RuntimeApi::start().unwrap();
    let mut child = spawn_function(
        &workspace_binary("revoke-token"),
        &api,
        &[
            ("TABLE_NAME", store.table().to_owned()),
            ("AWS_ENDPOINT_URL_KMS", closed_port_url()),
        ],
    );
    let path = format!("/v1/tokens/{}", issued.record.id);
    api.push(
        json!({
            "version": "2.0", "routeKey": format!("DELETE {path}"), "rawPath": path, "rawQueryString": "",
            "headers": {"host": "api.example.com"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
                "domainPrefix": "api", "http": {"method": "DELETE", "path": path, "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1", "userAgent": "test"}, "requestId": "r", "routeKey": format!("DELETE {path}"),
                "stage": "$default", "time": "28/Nov/2026:08:00:00 +0000", "timeEpoch": 0,
                "authorizer": {"jwt": {"claims": {"sub": "kmsless"}, "scopes": null}}
            },
            "isBase64Encoded": false
        })
        .to_string(),
    );
    let answer = loop {
        match api.calls.recv_timeout(Duration::from_secs(60)).unwrap() {
            RuntimeCall::Next(_) => {}
            RuntimeCall::InitError { body } => panic!("init failed without KMS: {body}"),
            other => break other,
        }
    };
    child.kill().unwrap();
    let _ = child.wait();
    let RuntimeCall::Response { body, .. } = answer else {
        panic!("{answer:?}");
    };
    let response: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(response["statusCode"], 204, "{body}");
    let record = store.get_token(&issued.record.id).await.unwrap().unwrap();
    assert_eq!(record.status(Timestamp::now()), TokenStatus::Revoked);
}

/// Deletes every item whose TTL has passed at `now`, as DynamoDB's TTL would.
async fn ttl_sweep(store: &DynamoStore, now: Timestamp) -> usize {
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut deleted = 0;
    for item in items {
        let expired = item
            .get("ttl")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|ttl| ttl <= now.as_seconds());
        if expired {
            store
                .client()
                .delete_item()
                .table_name(store.table())
                .set_key(Some(HashMap::from([
                    ("pk".to_owned(), item["pk"].clone()),
                    ("sk".to_owned(), item["sk"].clone()),
                ])))
                .send()
                .await
                .unwrap();
            deleted += 1;
        }
    }
    deleted
}

/// A6: TTL never removes an item that still holds a slot, so the count
/// cannot drift and a user is never locked out.
#[tokio::test]
async fn items_removed_by_ttl_never_take_a_slot_with_them() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["ttl"]).await;
    let manager = manager(&stack, &store, policy(3)).await;
    let owner = Owner::user("ttl");
    let start = Timestamp::now();
    for name in ["a", "b", "c"] {
        let short = TokenRequest {
            expires_in_days: Some(Some(1)),
            ..request(name)
        };
        manager
            .create(&caller("ttl"), short, None, start)
            .await
            .unwrap();
    }
    // A year on, after every TTL has passed: DynamoDB deletes what it may.
    let later = start.plus_seconds(400 * 86_400);
    ttl_sweep(&store, later).await;
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 3);
    for name in ["d", "e", "f"] {
        manager
            .create(&caller("ttl"), request(name), None, later)
            .await
            .unwrap();
    }
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 3);
    // The released items got their TTL when released and go; the live ones have none.
    assert_eq!(ttl_sweep(&store, later).await, 3);
    let even_later = later.plus_seconds(400 * 86_400);
    ttl_sweep(&store, even_later).await;
    let page = manager
        .list(
            &caller("ttl"),
            cog_tokens::records::StatusFilter::All,
            100,
            None,
            even_later,
        )
        .await
        .unwrap();
    assert_eq!(page.tokens.len(), 3, "a slot holder was swept");
}

/// A7: an unknown id and a known id (first seen by this process) cost the
/// same DynamoDB reads, in the same order.
#[tokio::test]
async fn unknown_and_known_ids_cost_the_same_reads() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["timing"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let now = Timestamp::now();
    let issued = manager
        .create(&caller("timing"), request("t"), None, now)
        .await
        .unwrap();
    let proxy = FaultProxy::dynamodb().await;
    let proxied = DynamoStore::new(proxy.client(1).await, store.table());
    let authorizer = authorizer(&stack, &proxied).await;
    proxy.take_operations();

    let unknown = cog_tokens::PlainToken::generate().unwrap();
    decide(&authorizer, &unknown, now).await;
    let for_unknown = proxy.take_operations();
    let wrong =
        cog_tokens::PlainToken::parse(&same_id_other_secret(issued.token.expose_secret())).unwrap();
    decide(&authorizer, &wrong, now).await;
    let for_known = proxy.take_operations();
    assert_eq!(for_unknown, vec!["GetItem", "GetItem"]);
    assert_eq!(for_known, for_unknown);
}

/// A8: rotation applies today's policy and a token in grace still counts.
#[tokio::test]
async fn rotation_applies_todays_policy_and_the_limit() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["rot"]).await;
    let now = Timestamp::now();
    let lenient = manager(
        &stack,
        &store,
        IssuancePolicy {
            allow_non_expiring: true,
            max_active_tokens: 2,
            ..policy(2)
        },
    )
    .await;
    let forever = TokenRequest {
        expires_in_days: Some(None),
        scopes: vec!["tokens:read".into(), "orgs:read".into()],
        ..request("forever")
    };
    let forever = lenient
        .create(&caller("rot"), forever, None, now)
        .await
        .unwrap();
    let long = TokenRequest {
        expires_in_days: Some(Some(366)),
        ..request("long")
    };
    let long = lenient
        .create(&caller("rot"), long, None, now)
        .await
        .unwrap();

    // Today: tokens expire within 30 days, and `orgs:read` is no longer offered.
    let strict = manager(
        &stack,
        &store,
        IssuancePolicy {
            max_expiry_days: 30,
            scope_catalog: vec!["tokens:read".into()],
            ..policy(2)
        },
    )
    .await;
    let refused = strict
        .rotate(&caller("rot"), forever.record.id.as_str(), None, None, now)
        .await;
    assert!(
        matches!(refused, Err(ManagementError::ScopeRetired(ref s)) if s == "orgs:read"),
        "{refused:?}"
    );
    let rotated = strict
        .rotate(&caller("rot"), long.record.id.as_str(), None, None, now)
        .await
        .unwrap();
    assert_eq!(
        rotated.record.expires_at,
        Some(Timestamp(now.0 + 30 * DAY_MS))
    );

    // At the limit (2), a rotation with grace needs a third slot: refused.
    let graced = strict
        .rotate(
            &caller("rot"),
            rotated.record.id.as_str(),
            Some(600),
            None,
            now,
        )
        .await;
    assert!(
        matches!(graced, Err(ManagementError::LimitReached { limit: 2 })),
        "{graced:?}"
    );
    // Once a slot is free, a grace rotation leaves two live tokens, both counted.
    strict
        .revoke(&caller("rot"), forever.record.id.as_str(), now)
        .await
        .unwrap();
    let next = strict
        .rotate(
            &caller("rot"),
            rotated.record.id.as_str(),
            Some(600),
            None,
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        store.active_token_count(&Owner::user("rot")).await.unwrap(),
        2
    );
    // And the chain stops there: no third live token.
    assert!(matches!(
        strict
            .rotate(
                &caller("rot"),
                next.record.id.as_str(),
                Some(600),
                None,
                now
            )
            .await,
        Err(ManagementError::LimitReached { .. })
    ));
    // When the grace has passed, its slot comes back.
    let after = now.plus_seconds(601);
    strict
        .rotate(
            &caller("rot"),
            next.record.id.as_str(),
            Some(600),
            None,
            after,
        )
        .await
        .unwrap();
}

/// A10: revoke-all is immediate and complete, even for a token the
/// listing does not show yet.
#[tokio::test]
async fn revoke_all_covers_tokens_the_listing_misses() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["all"]).await;
    let authorizer = authorizer(&stack, &store).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let owner = Owner::user("all");
    let now = Timestamp::now();
    let issued = manager
        .create(&caller("all"), request("a"), None, now)
        .await
        .unwrap();

    // The watermark alone, before any token is marked revoked.
    let audit = AuditEvent::new("user:all", AuditAction::TokenRevokeAll, owner.clone(), now);
    store
        .revoke_tokens_before(&owner, now, &audit)
        .await
        .unwrap();
    let record = store.get_token(&issued.record.id).await.unwrap().unwrap();
    assert!(record.revoked.is_none());
    assert!(is_revoked(&decide(&authorizer, &issued.token, now).await));
    assert!(audit_actions(&store, &owner)
        .await
        .contains(&"token.revoke_all".to_owned()));

    // A token made afterwards works; an account change keeps the watermark.
    let later = now.plus_seconds(1);
    let fresh = manager
        .create(&caller("all"), request("b"), None, later)
        .await
        .unwrap();
    assert!(matches!(
        decide(&authorizer, &fresh.token, later).await,
        Decision::Allow(_)
    ));
    let account = cog_integration_tests::beta_account("all");
    store
        .put_account(&account, &account.audit_put("test", later))
        .await
        .unwrap();
    assert!(is_revoked(&decide(&authorizer, &issued.token, later).await));
}

/// A11: names are unique among the owner's live tokens, case- and
/// width-insensitively, even under concurrent creates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_case_insensitively_and_without_races() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["names"]).await;
    let manager = Arc::new(manager(&stack, &store, policy(50)).await);
    let now = Timestamp::now();
    let first = manager
        .create(&caller("names"), request("Deploy Bot"), None, now)
        .await
        .unwrap();
    for same in [
        "deploy bot",
        "DEPLOY BOT",
        "ｄｅｐｌｏｙ ｂｏｔ",
        "  Deploy Bot ",
    ] {
        assert!(
            matches!(
                manager
                    .create(&caller("names"), request(same), None, now)
                    .await,
                Err(ManagementError::NameTaken)
            ),
            "{same}"
        );
    }
    // Twenty at once with one new name: exactly one wins.
    let racers: Vec<_> = (0..20)
        .map(|_| {
            let manager = Arc::clone(&manager);
            tokio::spawn(async move {
                manager
                    .create(&caller("names"), request("race"), None, now)
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => won += 1,
            Err(ManagementError::NameTaken) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 1);
    // Revoking frees the name; an expired holder's name may be taken again.
    manager
        .revoke(&caller("names"), first.record.id.as_str(), now)
        .await
        .unwrap();
    manager
        .create(&caller("names"), request("deploy bot"), None, now)
        .await
        .unwrap();
    let short = TokenRequest {
        expires_in_days: Some(Some(1)),
        ..request("short")
    };
    manager
        .create(&caller("names"), short, None, now)
        .await
        .unwrap();
    manager
        .create(
            &caller("names"),
            request("SHORT"),
            None,
            now.plus_seconds(2 * 86_400),
        )
        .await
        .unwrap();
    // Format characters never get in.
    assert!(matches!(
        manager
            .create(&caller("names"), request("evil\u{202E}gpj.exe"), None, now)
            .await,
        Err(ManagementError::Invalid {
            code: "invalid_name",
            ..
        })
    ));
}

/// A12: every change to the table's security state writes its audit event.
#[tokio::test]
async fn every_security_change_is_audited() {
    let stack = Stack::connect().await;
    let (store, key) = stack.seeded(&["audited"]).await;
    let owner = Owner::user("audited");
    assert_eq!(audit_actions(&store, &owner).await, vec!["account.put"]);

    // Rotation: the new token has its own `token.create`.
    let manager = manager(&stack, &store, policy(50)).await;
    let now = Timestamp::now();
    let old = manager
        .create(&caller("audited"), request("r"), None, now)
        .await
        .unwrap();
    let new = manager
        .rotate(&caller("audited"), old.record.id.as_str(), None, None, now)
        .await
        .unwrap();
    let events = store.audit_events(Some(&owner), 10).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == AuditAction::TokenCreate && e.token_id == Some(new.record.id)));
    assert!(events
        .iter()
        .any(|e| e.action == AuditAction::TokenRotate && e.token_id == Some(old.record.id)));

    // Pepper add and retire, and the lazy re-hash they cause.
    cog_tokens::aws::kms::add_pepper_version(&stack.kms, &store, &key, "operator")
        .await
        .unwrap();
    let authorizer = authorizer(&stack, &store).await;
    assert!(matches!(
        decide(&authorizer, &new.token, now).await,
        Decision::Allow(_)
    ));
    authorizer.finish_background_writes().await;
    let events = store.audit_events(Some(&owner), 10).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == AuditAction::TokenRehash && e.token_id == Some(new.record.id)));
    store
        .retire_pepper(
            cog_tokens::PepperVersion(1),
            &AuditEvent::system("operator", AuditAction::PepperRetire, now),
        )
        .await
        .unwrap();
    let system: Vec<AuditAction> = store
        .audit_events(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(system.contains(&AuditAction::PepperAdd), "{system:?}");
    assert!(system.contains(&AuditAction::PepperRetire), "{system:?}");
}

/// A9 and C5: with `RUST_LOG=trace`, the authorizer's log holds no token text.
#[tokio::test]
async fn trace_logging_never_writes_a_token() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["logged"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let issued = manager
        .create(&caller("logged"), request("l"), None, Timestamp::now())
        .await
        .unwrap();
    let api = RuntimeApi::start().unwrap();
    let log = std::env::temp_dir().join(cog_integration_tests::unique("trace-log"));
    let mut child = Command::new(workspace_binary("authorizer"))
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "authorizer")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("RUST_LOG", "trace")
        .env("TABLE_NAME", store.table())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let arn = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/v1/whoami";
    for token in [
        issued.token.expose_secret().to_owned(),
        same_id_other_secret(issued.token.expose_secret()),
    ] {
        api.push(
            json!({"type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": arn})
                .to_string(),
        );
    }
    let mut answers = 0;
    while answers < 2 {
        match api.calls.recv_timeout(Duration::from_secs(60)).unwrap() {
            RuntimeCall::Next(_) => {}
            RuntimeCall::InitError { body } => panic!("init failed: {body}"),
            _ => answers += 1,
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("authorizer ready"), "no log captured");
    let secret = &issued.token.expose_secret()[20..52];
    assert!(!text.contains(secret), "a token secret reached the log");
    let token_shape = regex_lite::Regex::new("cog_[0-9A-Za-z]{20,}").unwrap();
    assert!(
        !token_shape.is_match(&text),
        "a token reached the log: {:?}",
        token_shape.find(&text)
    );
    let _ = std::fs::remove_file(&log);
}

/// C5: the walkthrough and every management and token call through the
/// whole chain, every binary at `RUST_LOG=trace`: no log holds a token, a
/// token's secret part, or a pepper in hex or base64.
#[tokio::test]
async fn a_trace_run_of_the_chain_logs_no_token_secret_or_pepper() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["tracer"]).await;
    let tap = cog_integration_tests::events::EventTap::create();
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        log_level: Some("trace".into()),
        function_env: vec![("EVENT_BUS_NAME".into(), tap.bus.clone())],
        stream_deliveries: Some(1),
        ..ChainConfig::default()
    });
    let walkthrough = Command::new("bash")
        .arg(cog_integration_tests::repo_root().join("infra/local/walkthrough.sh"))
        .current_dir(cog_integration_tests::repo_root())
        .env("EVENTS_QUEUE_URL", tap.queue_url())
        .env("GATEWAY_URL", &chain.url)
        .env("DEV_USER", "tracer")
        .env("DEV_ORG", "acme")
        .env("SESSION_FILE", chain.logs().join("session"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&walkthrough.stdout);
    assert!(walkthrough.status.success(), "{printed}");
    // The walkthrough's PAT and the service key it makes.
    let mut tokens: Vec<String> = regex_lite::Regex::new("cog_[0-9A-Za-z]{54}")
        .unwrap()
        .find_iter(&printed)
        .map(|m| m.as_str().to_owned())
        .collect();
    assert_eq!(tokens.len(), 2, "{printed}");

    let cookie = chain.sign_in("tracer").await;
    let created = chain
        .create_token(&cookie, r#"["tokens:read"]"#)
        .await
        .json();
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    for bearer in [token.clone(), same_id_other_secret(&token)] {
        chain.with_token("GET", "/v1/whoami", &bearer).await;
    }
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    let rotated = chain
        .call("POST", &format!("/v1/tokens/{id}/rotate"), &headers, "")
        .await
        .json();
    tokens.push(token);
    tokens.push(rotated["token"].as_str().unwrap().to_owned());
    chain
        .call("GET", "/v1/tokens?status=all", &headers, "")
        .await;
    chain.call("DELETE", "/v1/tokens", &headers, "").await;
    assert_eq!(tokens.len(), 4, "the walkthrough's tokens were not found");

    let mut secrets = stack.pepper_texts(&store).await;
    for token in &tokens {
        secrets.push(token[20..52].to_owned());
        secrets.push(same_id_other_secret(token)[20..52].to_owned());
    }
    let authorizer_log = std::fs::read_to_string(chain.logs().join("authorizer.log")).unwrap();
    assert!(
        authorizer_log.contains("authorizer ready"),
        "no log captured"
    );
    let leaks = chain.leaks(&secrets);
    assert!(leaks.is_empty(), "{leaks:?} in {}", chain.logs().display());
}

/// C2: DynamoDB stopped, slow past the timeout, or throttling: the
/// authorizer never allows, management answers `service_unavailable`, and
/// the table is left as it was.
#[tokio::test]
async fn dynamodb_faults_never_allow_and_change_nothing() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["faulty"]).await;
    let direct = manager(&stack, &store, policy(50)).await;
    let now = Timestamp::now();
    let issued = direct
        .create(&caller("faulty"), request("f"), None, now)
        .await
        .unwrap();

    let proxy = FaultProxy::dynamodb().await;
    let proxied = DynamoStore::new(proxy.client(2).await, store.table());
    // Built while DynamoDB answers (the cold start needs the pepper ring).
    let authorizer = authorizer(&stack, &proxied).await;
    let faulty = manager(&stack, &proxied, policy(50)).await;
    let before = table_snapshot(&store).await;

    for fault in [
        Fault::Drop,
        Fault::Throttle,
        Fault::ThroughputExceeded,
        Fault::Delay(Duration::from_secs(3)),
    ] {
        proxy.set_fault(fault.clone());
        let header = format!("Bearer {}", issued.token.expose_secret());
        let decision = authorizer
            .authorize(Some(&header), None, Source::default(), now)
            .await;
        assert!(decision.is_err(), "{fault:?}: {decision:?}");
        for outcome in [
            faulty
                .create(&caller("faulty"), request("g"), None, now)
                .await
                .map(|_| ()),
            faulty
                .revoke(&caller("faulty"), issued.record.id.as_str(), now)
                .await
                .map(|_| ()),
            faulty
                .rotate(
                    &caller("faulty"),
                    issued.record.id.as_str(),
                    None,
                    None,
                    now,
                )
                .await
                .map(|_| ()),
            faulty.revoke_all(&caller("faulty"), now).await.map(|_| ()),
        ] {
            assert!(
                matches!(outcome, Err(ManagementError::Unavailable(_))),
                "{fault:?}: {outcome:?}"
            );
        }
        assert_eq!(
            table_snapshot(&store).await,
            before,
            "{fault:?} changed the table"
        );
    }
    proxy.set_fault(Fault::None);
    assert!(matches!(
        decide(&authorizer, &issued.token, now).await,
        Decision::Allow(_)
    ));
}

/// Every item of the table, sorted, as text.
async fn table_snapshot(store: &DynamoStore) -> Vec<String> {
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut rows: Vec<String> = items
        .iter()
        .map(|item| {
            let mut fields: Vec<String> = item.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            fields.sort();
            fields.join(",")
        })
        .collect();
    rows.sort();
    rows
}

/// C2: KMS stopped. At cold start nothing is served; mid-life the ring in
/// memory keeps verifying, and a token under a version the process cannot
/// decrypt now is refused with an error, never allowed.
#[tokio::test]
async fn kms_faults_fail_closed() {
    use cog_tokens::aws::kms::KmsPepperSource;
    use cog_tokens::store::pepper::PepperKeeper;
    let stack = Stack::connect().await;
    let (store, key) = stack.seeded(&["kms"]).await;
    let now = Timestamp::now();
    let old = manager(&stack, &store, policy(50))
        .await
        .create(&caller("kms"), request("k"), None, now)
        .await
        .unwrap();

    let proxy = FaultProxy::kms().await;
    let kms = proxy.kms_client().await;
    let keeper = || {
        PepperKeeper::load(
            KmsPepperSource::new(kms.clone(), store.clone()),
            Duration::ZERO,
        )
    };
    // Cold start with KMS down: no ring, so no authorizer at all.
    proxy.set_fault(Fault::Drop);
    assert!(keeper().await.is_err());

    // Mid-life: the ring was loaded while KMS answered.
    proxy.set_fault(Fault::None);
    let authorizer = cog_tokens::authorize::Authorizer::new(
        Arc::new(store.clone()),
        keeper().await.unwrap(),
        cog_tokens::authorize::AuthorizerSettings {
            route_rules: Default::default(),
            last_used_interval: Duration::from_secs(300),
            org_policy_ttl: Duration::from_secs(30),
            caching: Default::default(),
        },
    );
    // A new version is added elsewhere and a token hashed under it.
    cog_tokens::aws::kms::add_pepper_version(&stack.kms, &store, &key, "operator")
        .await
        .unwrap();
    let new = manager(&stack, &store, policy(50))
        .await
        .create(&caller("kms"), request("k2"), None, now)
        .await
        .unwrap();
    proxy.set_fault(Fault::Drop);
    assert!(matches!(
        decide(&authorizer, &old.token, now).await,
        Decision::Allow(_)
    ));
    let header = format!("Bearer {}", new.token.expose_secret());
    let decision = authorizer
        .authorize(Some(&header), None, Source::default(), now)
        .await;
    assert!(decision.is_err(), "{decision:?}");
}

/// C3: 200 concurrent creates against a limit of 50 make exactly 50 tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_creates_at_a_limit_of_fifty_make_exactly_fifty() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["crowd"]).await;
    // DynamoDB Local answers a few of 200 concurrent transactions with a
    // 500 (AWS would throttle); a patient client retries those.
    let config = aws_sdk_dynamodb::config::Builder::from(&cog_tokens::aws::sdk_config().await)
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(10),
        )
        .build();
    let patient = aws_sdk_dynamodb::Client::from_conf(config);
    let store = DynamoStore::new(patient, store.table().to_owned());
    let manager = Arc::new(manager(&stack, &store, policy(50)).await);
    let now = Timestamp::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let manager = Arc::clone(&manager);
            tokio::spawn(async move {
                manager
                    .create(&caller("crowd"), request(&format!("t{i}")), None, now)
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(ManagementError::LimitReached { limit: 50 }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 50);
    let owner = Owner::user("crowd");
    assert_eq!(store.active_token_count(&owner).await.unwrap(), 50);
    let page = manager
        .list(
            &caller("crowd"),
            cog_tokens::records::StatusFilter::Active,
            100,
            None,
            now,
        )
        .await
        .unwrap();
    assert_eq!(page.tokens.len(), 50);
}

/// C3: no authorization that starts after the DELETE returned is allowed,
/// with 1,000 authorizations racing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_racing_a_thousand_authorizations_lets_none_through_after_it_returns() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["racer"]).await;
    let manager = Arc::new(manager(&stack, &store, policy(50)).await);
    let authorizer = Arc::new(authorizer(&stack, &store).await);
    let issued = manager
        .create(&caller("racer"), request("r"), None, Timestamp::now())
        .await
        .unwrap();
    let header = Arc::new(format!("Bearer {}", issued.token.expose_secret()));
    let revoked_at: Arc<tokio::sync::OnceCell<std::time::Instant>> = Arc::default();
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (authorizer, header, revoked_at) = (
                Arc::clone(&authorizer),
                Arc::clone(&header),
                Arc::clone(&revoked_at),
            );
            tokio::spawn(async move {
                let mut late_allows = 0;
                for _ in 0..32 {
                    let started = std::time::Instant::now();
                    let decision = authorizer
                        .authorize(Some(&header), None, Source::default(), Timestamp::now())
                        .await
                        .unwrap();
                    let after_revoke = revoked_at.get().is_some_and(|at| started > *at);
                    if after_revoke && matches!(decision, Decision::Allow(_)) {
                        late_allows += 1;
                    }
                }
                late_allows
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    manager
        .revoke(
            &caller("racer"),
            issued.record.id.as_str(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    revoked_at.set(std::time::Instant::now()).unwrap();
    let mut late = 0;
    for worker in workers {
        late += worker.await.unwrap();
    }
    assert_eq!(late, 0, "authorizations allowed after the DELETE returned");
}

/// C3: a rotation racing a revocation of the same token ends in one
/// consistent state: the old token revoked, and a new one only if the
/// rotation won, with the count matching the live tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_racing_a_revocation_ends_consistent() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["both"]).await;
    let manager = Arc::new(manager(&stack, &store, policy(50)).await);
    let owner = Owner::user("both");
    for round in 0..8 {
        let now = Timestamp::now();
        let old = manager
            .create(&caller("both"), request(&format!("r{round}")), None, now)
            .await
            .unwrap();
        let id = old.record.id.to_string();
        let (rotated, revoked) = tokio::join!(
            {
                let (manager, id) = (Arc::clone(&manager), id.clone());
                async move { manager.rotate(&caller("both"), &id, None, None, now).await }
            },
            {
                let (manager, id) = (Arc::clone(&manager), id.clone());
                async move { manager.revoke(&caller("both"), &id, now).await }
            }
        );
        revoked.unwrap();
        let old_now = store.get_token(&old.record.id).await.unwrap().unwrap();
        assert_eq!(old_now.status(now), TokenStatus::Revoked);
        match rotated {
            Ok(new) => {
                let new_now = store.get_token(&new.record.id).await.unwrap().unwrap();
                assert_eq!(new_now.status(now), TokenStatus::Active);
            }
            Err(ManagementError::TokenNotActive) => {}
            Err(other) => panic!("{other:?}"),
        }
        let live = manager
            .list(
                &caller("both"),
                cog_tokens::records::StatusFilter::Active,
                100,
                None,
                now,
            )
            .await
            .unwrap()
            .tokens
            .len();
        assert_eq!(
            store.active_token_count(&owner).await.unwrap() as usize,
            live
        );
    }
}
