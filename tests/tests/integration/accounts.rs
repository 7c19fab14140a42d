//! Accounts from the platform directory, against DynamoDB Local: updates
//! delivered twice and out of order leave the newest; the real
//! `account-sync` binary applies an EventBridge event end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::Duration;

use cog_integration_tests::runtime_api::{RuntimeApi, RuntimeCall};
use cog_integration_tests::{spawn_function, workspace_binary, Stack};
use cog_tokens::management::accounts::{apply, AccountUpdate, SyncOutcome, DIRECTORY_ACTOR};
use cog_tokens::management::lifecycle::revoke_all;
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

const DIRECTORY_ACCOUNT: &str = "123456789012";

fn envelope(account: &str, detail: serde_json::Value) -> String {
    json!({"version": "0", "id": "1", "detail-type": "AccountUpdated",
           "source": "platform.directory", "account": account,
           "time": "2026-11-28T10:00:00Z", "region": "eu-west-1", "resources": [],
           "detail": detail})
    .to_string()
}

fn erin(version: i64, orgs: serde_json::Value) -> serde_json::Value {
    json!({"user_id": "erin", "status": "active", "sso": true,
           "pat_beta": false, "orgs": orgs, "version": version})
}

/// The function's answers to the events pushed, in order.
fn answers(api: &RuntimeApi, count: usize) -> Vec<RuntimeCall> {
    let mut answers = Vec::new();
    while answers.len() < count {
        match api.calls.recv_timeout(Duration::from_secs(60)).unwrap() {
            RuntimeCall::Next(_) => {}
            RuntimeCall::InitError { body } => panic!("init failed: {body}"),
            other => answers.push(other),
        }
    }
    answers
}

#[tokio::test]
async fn the_account_sync_binary_applies_an_eventbridge_event_and_refuses_a_bad_one() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let api = RuntimeApi::start().unwrap();
    let mut child = spawn_function(
        &workspace_binary("account-sync"),
        &api,
        &[
            ("TABLE_NAME", store.table().to_owned()),
            ("DIRECTORY_ACCOUNT_ID", DIRECTORY_ACCOUNT.to_owned()),
        ],
    );
    let acme = json!([{"org": "acme", "role": "admin"}]);
    let far_ahead = Timestamp::now().plus_seconds(301).0;
    api.push(envelope(DIRECTORY_ACCOUNT, erin(7, acme)));
    let mut unknown_field = erin(8, json!([]));
    unknown_field["is_admin"] = json!(true);
    api.push(envelope(DIRECTORY_ACCOUNT, unknown_field));
    // Put on the bus by another AWS account: not the directory.
    api.push(envelope("999999999999", erin(9, json!([]))));
    // A version that would freeze the account against every later update.
    api.push(envelope(DIRECTORY_ACCOUNT, erin(far_ahead, json!([]))));
    api.push(envelope(DIRECTORY_ACCOUNT, erin(i64::MAX, json!([]))));
    let answers = answers(&api, 5);
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        matches!(&answers[0], RuntimeCall::Response { body, .. } if body.contains("Applied")),
        "{answers:?}"
    );
    for (i, kind) in [
        (1, "InvalidAccountUpdate"),
        (2, "ForeignEvent"),
        (3, "InvalidAccountUpdate"),
        (4, "InvalidAccountUpdate"),
    ] {
        assert!(
            matches!(&answers[i], RuntimeCall::InvocationError { body, .. } if body.contains(kind)),
            "answer {i}: {answers:?}"
        );
    }
    let account = store.get_account("erin").await.unwrap().unwrap();
    assert!(account.sso);
    assert_eq!(account.orgs.len(), 1, "the refused updates changed nothing");
}

#[tokio::test]
async fn the_account_sync_binary_does_not_start_without_the_directory_account() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    for account in [None, Some("12345"), Some("not-an-account")] {
        let api = RuntimeApi::start().unwrap();
        let mut env = vec![("TABLE_NAME", store.table().to_owned())];
        if let Some(account) = account {
            env.push(("DIRECTORY_ACCOUNT_ID", account.to_owned()));
        }
        let mut child = spawn_function(&workspace_binary("account-sync"), &api, &env);
        api.push(envelope(DIRECTORY_ACCOUNT, erin(7, json!([]))));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{account:?}: it started");
        assert!(
            stderr.contains("DIRECTORY_ACCOUNT_ID"),
            "{account:?}: {stderr}"
        );
    }
    assert!(store.get_account("erin").await.unwrap().is_none());
}
