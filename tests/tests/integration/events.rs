//! Lifecycle events on the real local stack: DynamoDB Local's stream, the
//! publisher function under `cargo lambda watch` (fed by the poller that
//! plays the event source mapping, delivering every batch twice), moto's
//! EventBridge and an SQS queue subscribed to the bus.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::BTreeMap;
use std::time::Duration;

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::events::EventTap;
use cog_integration_tests::Stack;
use cog_tokens::events::expiry::{sweep, SweepReport};
use cog_tokens::records::{Timestamp, DAY_MS};
use serde_json::Value;

/// (detail-type, token id) of each event, counted.
fn tally(events: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for event in events {
        let key = (
            event["detail-type"].as_str().unwrap().to_owned(),
            event["detail"]["token_id"]
                .as_str()
                .unwrap_or("-")
                .to_owned(),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn each_credential_change_is_published_exactly_once() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["eve"]).await;
    let mut tap = EventTap::create();
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        function_env: vec![("EVENT_BUS_NAME".into(), tap.bus.clone())],
        stream_deliveries: Some(2),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("eve").await;
    let json = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    let create = |name: &'static str, days: u32| {
        let (chain, json) = (&chain, &json);
        async move {
            let body = format!(
                r#"{{"name": "{name}", "scopes": ["tokens:read"], "expires_in_days": {days}}}"#
            );
            let answer = chain.call("POST", "/v1/tokens", json, &body).await;
            assert_eq!(answer.status, 201, "{}", answer.body);
            answer.json()
        }
    };
    let kept = create("kept", 8).await;
    let dropped = create("dropped", 30).await;
    let leaked = create("leaked", 30).await;
    let id = |token: &Value| token["id"].as_str().unwrap().to_owned();

    let path = format!("/v1/tokens/{}", id(&kept));
    let patched = chain
        .call("PATCH", &path, &json, r#"{"allowed_ips": ["127.0.0.1"]}"#)
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let path = format!("/v1/tokens/{}", id(&dropped));
    assert_eq!(chain.call("DELETE", &path, &json, "").await.status, 204);
    let report = serde_json::json!({ "credentials": [leaked["token"]] }).to_string();
    let revoked = chain
        .call("POST", "/v1/credentials/revoke", &[], &report)
        .await;
    assert_eq!(revoked.status, 202);

    // The hourly sweep, as if run a day and a half later: "kept" (8 days)
    // is now within 7 days of expiry. A second run records nothing again.
    let later = Timestamp(Timestamp::now().0 + 3 * DAY_MS / 2);
    let first = sweep(&store, later).await.unwrap();
    assert_eq!(
        first,
        SweepReport {
            seven_days: 1,
            ..SweepReport::default()
        }
    );
    assert_eq!(sweep(&store, later).await.unwrap(), SweepReport::default());

    let events = tap
        .wait_for(7, Duration::from_secs(60), Duration::from_secs(3))
        .to_vec();
    let expected: BTreeMap<(String, String), usize> = [
        ("Credential Created", id(&kept)),
        ("Credential Created", id(&dropped)),
        ("Credential Created", id(&leaked)),
        ("Credential Updated", id(&kept)),
        ("Credential Revoked", id(&dropped)),
        ("Credential Revoked", id(&leaked)),
        ("Credential Expiring", id(&kept)),
    ]
    .into_iter()
    .map(|(kind, id)| ((kind.to_owned(), id), 1))
    .collect();
    assert_eq!(tally(&events), expected, "{events:#?}");

    for event in &events {
        assert_eq!(event["source"], "cog.tokens");
        assert_eq!(event["detail"]["owner"]["id"], "eve");
        let text = event.to_string();
        for token in [&kept, &dropped, &leaked] {
            assert!(
                !text.contains(token["token"].as_str().unwrap()),
                "a token in an event"
            );
        }
    }
    let revoked_by_public = events
        .iter()
        .find(|e| {
            e["detail"]["token_id"] == leaked["id"] && e["detail-type"] == "Credential Revoked"
        })
        .unwrap();
    assert_eq!(revoked_by_public["detail"]["actor"], "public-revoke");
    assert!(revoked_by_public["detail"]["detail"]
        .as_str()
        .unwrap()
        .starts_with("reported"));
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
}

#[tokio::test]
async fn the_sweep_finds_tokens_on_the_expiry_index_and_notices_each_once() {
    use cog_integration_tests::caller;
    use cog_integration_tests::services::{manager, policy, request};
    use cog_tokens::events::expiry::ExpiryIndex;
    use cog_tokens::management::TokenRequest;
    use cog_tokens::records::{AuditAction, Owner};
    use cog_tokens::store::AuditLog;

    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["ned"]).await;
    let manager = manager(&stack, &store, policy(50)).await;
    let now = Timestamp::now();
    let day = manager
        .create(
            &caller("ned"),
            TokenRequest {
                expires_in_days: Some(Some(2)),
                ..request("two-days")
            },
            None,
            now,
        )
        .await
        .unwrap();
    let revoked = manager
        .create(
            &caller("ned"),
            TokenRequest {
                expires_in_days: Some(Some(2)),
                ..request("revoked")
            },
            None,
            now,
        )
        .await
        .unwrap();
    manager
        .revoke(&caller("ned"), revoked.record.id.as_str(), now)
        .await
        .unwrap();
    let at = |days: f64| Timestamp(now.0 + (days * DAY_MS as f64) as i64);

    // 1.5 days in: the 1-day notice (a 2-day token never crossed 7 days).
    let one_day = SweepReport {
        one_day: 1,
        ..SweepReport::default()
    };
    assert_eq!(sweep(&store, at(1.5)).await.unwrap(), one_day);
    assert_eq!(
        sweep(&store, at(1.6)).await.unwrap(),
        SweepReport::default()
    );
    // Expired: noticed once, then out of the index.
    let expired = SweepReport {
        expired: 1,
        ..SweepReport::default()
    };
    assert_eq!(sweep(&store, at(2.5)).await.unwrap(), expired);
    assert_eq!(
        sweep(&store, at(2.6)).await.unwrap(),
        SweepReport::default()
    );
    let indexed: Vec<_> = store
        .tokens_expiring(at(-1.0), at(9.0))
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.record.id)
        .collect();
    assert!(
        !indexed.contains(&day.record.id),
        "an expired token leaves the index"
    );
    assert!(
        indexed.contains(&revoked.record.id),
        "a revoked one stays, noticed never"
    );

    let events = store
        .audit_events(Some(&Owner::user("ned")), 50)
        .await
        .unwrap();
    let notices: Vec<_> = events
        .iter()
        .filter(|e| {
            matches!(
                e.action,
                AuditAction::TokenExpiring | AuditAction::TokenExpired
            )
        })
        .map(|e| (e.action, e.token_id, e.actor.as_str()))
        .collect();
    assert_eq!(
        notices,
        [
            (
                AuditAction::TokenExpired,
                Some(day.record.id),
                "expiry-sweep"
            ),
            (
                AuditAction::TokenExpiring,
                Some(day.record.id),
                "expiry-sweep"
            ),
        ]
    );
}
