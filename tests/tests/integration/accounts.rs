//! Accounts from the platform directory, against DynamoDB Local: updates
//! delivered twice and out of order leave the newest; the real
//! `account-sync` binary applies an EventBridge event end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::Duration;

use cog_integration_tests::runtime_api::{RuntimeApi, RuntimeCall};
use cog_integration_tests::{spawn_function, workspace_binary, Stack};
use cog_tokens::accounts::{apply, AccountUpdate, SyncOutcome, DIRECTORY_ACTOR};
use cog_tokens::lifecycle::revoke_all;
use cog_tokens::records::{Actor, AuditAction, Owner, PrincipalStatus, Timestamp};
use cog_tokens::store::{AuditLog, PrincipalStore};
use serde_json::json;

fn update(user: &str, version: i64, status: &str, orgs: &[&str]) -> AccountUpdate {
    let orgs: Vec<_> = orgs
        .iter()
        .map(|o| json!({"org": o, "role": "member"}))
        .collect();
    serde_json::from_value(json!({
        "user_id": user, "status": status, "sso": false, "pat_beta": true,
        "orgs": orgs, "version": version
    }))
    .unwrap()
}

#[tokio::test]
async fn reordered_and_repeated_updates_leave_the_newest_and_keep_revoke_all() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let now = Timestamp::now();
    let owner = Owner::user("dana");
    // A revoke-all before any update: the directory never moves it back.
    assert!(store.get_account("dana").await.unwrap().is_none());
    let versions = [
        (3, "active", vec!["a", "b"], SyncOutcome::Applied),
        (1, "deleted", vec![], SyncOutcome::Stale),
        (2, "suspended", vec!["a"], SyncOutcome::Stale),
        (3, "active", vec!["a", "b"], SyncOutcome::Stale),
        (5, "active", vec!["c"], SyncOutcome::Applied),
        (4, "suspended", vec![], SyncOutcome::Stale),
    ];
    for (i, (version, status, orgs, expected)) in versions.into_iter().enumerate() {
        let outcome = apply(&store, &update("dana", version, status, &orgs), now)
            .await
            .unwrap();
        assert_eq!(outcome, expected, "delivery {i} (version {version})");
        if i == 0 {
            let by = Actor::new("operator");
            revoke_all(&store, &owner, &by, "test", now).await.unwrap();
        }
    }
    let account = store.get_account("dana").await.unwrap().unwrap();
    assert_eq!(account.status, PrincipalStatus::Active);
    let orgs: Vec<&str> = account.orgs.iter().map(|m| m.org_id.as_str()).collect();
    assert_eq!(orgs, ["c"]);
    assert_eq!(account.tokens_valid_after, Some(now), "the watermark stays");
    // Only the applied updates are in the trail, in their transaction.
    let events = store.audit_events(Some(&owner), 20).await.unwrap();
    let mut directory: Vec<_> = events
        .iter()
        .filter(|e| e.actor == DIRECTORY_ACTOR && e.action == AuditAction::AccountPut)
        .map(|e| e.detail.clone().unwrap_or_default())
        .collect();
    // Both were written at `now`: their order in the trail is the ids'.
    directory.sort();
    assert_eq!(directory, ["version 3", "version 5"]);
}

#[tokio::test]
async fn the_account_sync_binary_applies_an_eventbridge_event_and_refuses_a_bad_one() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let api = RuntimeApi::start().unwrap();
    let mut child = spawn_function(
        &workspace_binary("account-sync"),
        &api,
        &[("TABLE_NAME", store.table().to_owned())],
    );
    let envelope = |detail: serde_json::Value| {
        json!({"version": "0", "id": "1", "detail-type": "AccountUpdated",
               "source": "platform.directory", "account": "123456789012",
               "time": "2026-11-28T10:00:00Z", "region": "eu-west-1", "resources": [],
               "detail": detail})
        .to_string()
    };
    api.push(envelope(
        json!({"user_id": "erin", "status": "active", "sso": true,
        "pat_beta": false, "orgs": [{"org": "acme", "role": "admin"}], "version": 7}),
    ));
    api.push(envelope(
        json!({"user_id": "erin", "status": "active", "sso": true,
        "pat_beta": false, "orgs": [], "version": 8, "is_admin": true}),
    ));
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
    assert!(
        matches!(&answers[0], RuntimeCall::Response { body, .. } if body.contains("Applied")),
        "{answers:?}"
    );
    assert!(
        matches!(&answers[1], RuntimeCall::InvocationError { body, .. } if body.contains("InvalidAccountUpdate")),
        "{answers:?}"
    );
    let account = store.get_account("erin").await.unwrap().unwrap();
    assert!(account.sso);
    assert_eq!(account.orgs.len(), 1, "the refused update changed nothing");
}
