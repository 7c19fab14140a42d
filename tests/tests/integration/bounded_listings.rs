//! A filtered listing reads a bounded number of items per request: a user
//! with 1,200 revoked tokens and one active one, listed with status=active,
//! against DynamoDB Local behind the recording proxy.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::sync::Arc;

use cog_integration_tests::proxy::FaultProxy;
use cog_integration_tests::{new_token, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::records::{AuditAction, AuditEvent, Owner, Revocation, StatusFilter, Timestamp};
use cog_tokens::store::TokenStore;
use cog_tokens::{Pepper, PepperVersion};

const REVOKED: i64 = 1_200;
/// The listing's query pages hold 100 items; a request reads at most 1,000.
const MOST_QUERIES_PER_REQUEST: usize = 10;

/// `owner`'s tokens: the oldest active, then `REVOKED` revoked ones.
async fn seed(store: &Arc<DynamoStore>, owner: &Owner, base: Timestamp) {
    let pepper = Pepper::new(PepperVersion(1), &[5; 32]).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..=REVOKED {
        let (store, owner, pepper) = (Arc::clone(store), owner.clone(), pepper.clone());
        let (_, mut record) = new_token(&owner, &pepper, Timestamp(base.0 + i), None);
        if i > 0 {
            record.revoked = Some(Revocation {
                at: record.created_at,
                by: "user:many".into(),
                reason: "test".into(),
            });
        }
        tasks.spawn(async move {
            let audit = AuditEvent::new(
                "user:many",
                AuditAction::TokenCreate,
                owner,
                record.created_at,
            )
            .for_token(record.id);
            store.create_token(&record, 5_000, &audit).await.unwrap();
        });
        if tasks.len() >= 32 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test]
async fn a_filtered_listing_reads_a_bounded_number_of_items_and_resumes_by_cursor() {
    let stack = Stack::connect().await;
    let store = Arc::new(stack.fresh_store().await);
    let owner = Owner::user("many");
    let base = Timestamp(Timestamp::now().0 - 10_000);
    seed(&store, &owner, base).await;
    let proxy = FaultProxy::dynamodb().await;
    let proxied = DynamoStore::new(proxy.client(1).await, store.table());
    proxy.take_operations();

    let now = Timestamp::now();
    let mut found = Vec::new();
    let mut cursor = None;
    let mut requests = 0;
    loop {
        let page = proxied
            .list_tokens(&owner, StatusFilter::Active, now, 20, cursor.as_deref())
            .await
            .unwrap();
        requests += 1;
        let queries = proxy.take_operations();
        assert!(queries.iter().all(|op| op == "Query"), "{queries:?}");
        assert!(
            queries.len() <= MOST_QUERIES_PER_REQUEST,
            "request {requests} read {} query pages",
            queries.len()
        );
        found.extend(page.tokens.into_iter().map(|t| t.created_at));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(requests < 5, "the cursors do not move on");
    }
    assert_eq!(found, vec![base]);
    assert_eq!(requests, 2, "1,201 items: one full read, then the rest");
}
