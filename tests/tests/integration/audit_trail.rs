//! An audit trail holding an item this code cannot read (an action a newer
//! version writes, a damaged item) against DynamoDB Local: the item is
//! skipped, the rest of the trail reads on, never an error.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use aws_sdk_dynamodb::types::AttributeValue;
use cog_integration_tests::{new_token, Stack};
use cog_tokens::aws::dynamodb::schema::{PARTITION_KEY, SORT_KEY};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::records::audit::{AuditFilter, AuditScope};
use cog_tokens::records::{AuditAction, AuditEvent, Owner, Timestamp};
use cog_tokens::store::{AuditLog, TokenStore};
use cog_tokens::{Pepper, PepperVersion};

type Item = std::collections::HashMap<String, AttributeValue>;

/// The audit items of a fresh table, as DynamoDB keeps them.
async fn audit_items(stack: &Stack, store: &DynamoStore) -> Vec<Item> {
    let output = stack
        .dynamodb
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    output
        .items()
        .iter()
        .filter(|item| matches!(item.get(PARTITION_KEY), Some(AttributeValue::S(pk)) if pk.starts_with("AUDIT#")))
        .cloned()
        .collect()
}

/// A copy of `model` at `at` (its own sort key and id), changed by `change`.
async fn put_copy(
    stack: &Stack,
    store: &DynamoStore,
    model: &Item,
    at: Timestamp,
    change: impl Fn(&mut Item),
) {
    let id = format!("{:024x}", at.0);
    let mut item = model.clone();
    item.insert(
        SORT_KEY.into(),
        AttributeValue::S(format!("{:020}#{id}", at.0)),
    );
    item.insert("event_id".into(), AttributeValue::S(id));
    item.insert("at".into(), AttributeValue::N(at.0.to_string()));
    change(&mut item);
    stack
        .dynamodb
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreadable_audit_item_is_skipped_and_the_trail_reads_on() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let owner = Owner::user("trail");
    let pepper = Pepper::new(PepperVersion(1), &[5; 32]).unwrap();
    let base = Timestamp::now();
    for i in 0..3 {
        let (_, record) = new_token(&owner, &pepper, Timestamp(base.0 + i * 10), None);
        let audit = AuditEvent::new(
            "user:trail",
            AuditAction::TokenCreate,
            owner.clone(),
            record.created_at,
        )
        .for_token(record.id);
        store.create_token(&record, 50, &audit).await.unwrap();
    }
    let model = audit_items(&stack, &store).await.remove(0);
    // The newest: an action this version does not know; between the
    // others: an item without its actor.
    put_copy(&stack, &store, &model, Timestamp(base.0 + 100), |item| {
        item.insert("action".into(), AttributeValue::S("token.teleport".into()));
    })
    .await;
    put_copy(&stack, &store, &model, Timestamp(base.0 + 15), |item| {
        item.remove("actor");
    })
    .await;
    assert_eq!(audit_items(&stack, &store).await.len(), 5);
    let scope = AuditScope::Owner(owner.clone());

    let page = store
        .audit_page(&scope, AuditFilter::default(), 10, None)
        .await
        .expect("the trail reads past the unreadable items");
    assert_eq!(page.events.len(), 3);
    assert!(page
        .events
        .iter()
        .all(|e| e.action == AuditAction::TokenCreate));
    assert!(page.next_cursor.is_none());

    // One event a page: the cursors step over the unreadable items too.
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = store
            .audit_page(&scope, AuditFilter::default(), 1, cursor.as_deref())
            .await
            .unwrap();
        seen.extend(page.events.into_iter().map(|e| e.at));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![Timestamp(base.0 + 20), Timestamp(base.0 + 10), base]
    );

    let events = store.audit_events(Some(&owner), 10).await.unwrap();
    assert_eq!(events.len(), 3);
}
