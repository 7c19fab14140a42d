//! Security-review findings on account sync and service users, against
//! DynamoDB Local: a membership change too big for one transaction still
//! lands (suspension first) and a replay finishes it; a rename read before a
//! concurrent disable does not re-enable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use aws_sdk_dynamodb::types::AttributeValue;
use cog_integration_tests::Stack;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::accounts::{apply, AccountUpdate, SyncOutcome};
use cog_tokens::memory::MemoryStore;
use cog_tokens::records::{
    AuditAction, AuditEvent, Owner, PrincipalStatus, ServiceUser, Timestamp,
};
use cog_tokens::store::{PrincipalStore, StoreError};
use serde_json::json;

fn update(user: &str, version: i64, status: &str, orgs: &[String]) -> AccountUpdate {
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

fn orgs(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i:03}")).collect()
}

/// Whether `user` is listed among each org's members.
async fn listed_in(store: &DynamoStore, user: &str, orgs: &[String]) -> Vec<bool> {
    let mut listed = Vec::new();
    for org in orgs {
        let members = store.org_members(org).await.unwrap();
        listed.push(members.iter().any(|m| m.user_id == user));
    }
    listed
}

fn member_key(org: &str, user: &str) -> std::collections::HashMap<String, AttributeValue> {
    std::collections::HashMap::from([
        ("pk".to_owned(), AttributeValue::S(format!("ORG#{org}"))),
        ("sk".to_owned(), AttributeValue::S(format!("MEMBER#{user}"))),
    ])
}

#[tokio::test]
async fn a_suspension_moving_150_org_memberships_lands_and_a_replay_finishes_them() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let now = Timestamp::now();
    let (old, new) = (orgs("old", 75), orgs("new", 75));
    let first = update("fay", 1, "active", &old);
    assert_eq!(
        apply(&store, &first, now).await.unwrap(),
        SyncOutcome::Applied
    );

    // 75 memberships added and 75 removed: more than one transaction holds.
    let suspend = update("fay", 2, "suspended", &new);
    assert_eq!(
        apply(&store, &suspend, now).await.unwrap(),
        SyncOutcome::Applied
    );
    let account = store.get_account("fay").await.unwrap().unwrap();
    assert_eq!(account.status, PrincipalStatus::Suspended);
    assert_eq!(account.orgs.len(), 75);
    assert!(listed_in(&store, "fay", &new).await.iter().all(|l| *l));
    assert!(listed_in(&store, "fay", &old).await.iter().all(|l| !*l));

    // Half applied: the record is at version 2, its member items are not.
    let (client, table) = (&stack.dynamodb, store.table());
    for org in &old[..40] {
        let mut item = member_key(org, "fay");
        item.insert("user_id".into(), AttributeValue::S("fay".into()));
        item.insert("role".into(), AttributeValue::S("member".into()));
        let put = client.put_item().table_name(table).set_item(Some(item));
        put.send().await.unwrap();
    }
    for org in &new[..40] {
        let delete = client.delete_item().table_name(table);
        let delete = delete.set_key(Some(member_key(org, "fay")));
        delete.send().await.unwrap();
    }
    let pending = old
        .iter()
        .map(|o| (o.clone(), AttributeValue::S(String::new())));
    client
        .update_item()
        .table_name(table)
        .set_key(Some(std::collections::HashMap::from([
            ("pk".to_owned(), AttributeValue::S("USER#fay".into())),
            ("sk".to_owned(), AttributeValue::S("ACCOUNT".into())),
        ])))
        .update_expression("SET member_sync = :pending")
        .expression_attribute_values(":pending", AttributeValue::M(pending.collect()))
        .send()
        .await
        .unwrap();

    // The same version again finishes the memberships; then it is stale.
    assert_eq!(
        apply(&store, &suspend, now).await.unwrap(),
        SyncOutcome::Applied
    );
    assert!(listed_in(&store, "fay", &new).await.iter().all(|l| *l));
    assert!(listed_in(&store, "fay", &old).await.iter().all(|l| !*l));
    assert_eq!(
        apply(&store, &suspend, now).await.unwrap(),
        SyncOutcome::Stale
    );
    let account = store.get_account("fay").await.unwrap().unwrap();
    assert_eq!(account.status, PrincipalStatus::Suspended);
}

fn service_user() -> ServiceUser {
    ServiceUser {
        id: ServiceUser::new_id(),
        name: "CI".into(),
        org_id: "acme".into(),
        role: "deployer".into(),
        status: PrincipalStatus::Active,
        created_at: Timestamp::now(),
        tokens_valid_after: None,
    }
}

fn audited(user: &ServiceUser, action: AuditAction) -> AuditEvent {
    AuditEvent::new(
        "user:admin",
        action,
        Owner::service_user(&user.id),
        Timestamp::now(),
    )
}

#[tokio::test]
async fn a_rename_read_before_a_concurrent_disable_does_not_re_enable() {
    let stack = Stack::connect().await;
    a_rename_read_before_a_disable_leaves_it_disabled(&stack.fresh_store().await).await;
}

#[tokio::test]
async fn a_rename_read_before_a_concurrent_disable_does_not_re_enable_in_memory() {
    a_rename_read_before_a_disable_leaves_it_disabled(&MemoryStore::new()).await;
}

/// Both stores: a write conditioned on what it read, of the fields it names.
async fn a_rename_read_before_a_disable_leaves_it_disabled<S: PrincipalStore>(store: &S) {
    let user = service_user();
    let created = audited(&user, AuditAction::ServiceUserCreate);
    store
        .create_service_user(&user, 10, &created)
        .await
        .unwrap();
    let update = audited(&user, AuditAction::ServiceUserUpdate);

    // The rename's read, then a disable, then the rename's write.
    let read = store.get_service_user(&user.id).await.unwrap().unwrap();
    let disabled = ServiceUser {
        status: PrincipalStatus::Disabled,
        ..read.clone()
    };
    store
        .update_service_user(&read, &disabled, &update)
        .await
        .unwrap();
    let renamed = ServiceUser {
        name: "CI 2".into(),
        ..read.clone()
    };
    let outcome = store.update_service_user(&read, &renamed, &update).await;
    assert!(matches!(outcome, Err(StoreError::Conflict)), "{outcome:?}");
    let stored = store.get_service_user(&user.id).await.unwrap().unwrap();
    assert_eq!(stored.status, PrincipalStatus::Disabled, "re-enabled");
    assert_eq!(stored.name, "CI");

    // Read again, the rename writes its field only: the disable stands.
    let renamed = ServiceUser {
        name: "CI 2".into(),
        ..stored.clone()
    };
    store
        .update_service_user(&stored, &renamed, &update)
        .await
        .unwrap();
    let read = store.get_service_user(&user.id).await.unwrap();
    assert_eq!(read, Some(renamed));
    let elsewhere = ServiceUser {
        org_id: "globex".into(),
        ..stored
    };
    let outcome = store
        .update_service_user(&elsewhere, &elsewhere, &update)
        .await;
    assert!(matches!(outcome, Err(StoreError::NotFound)), "{outcome:?}");
}
