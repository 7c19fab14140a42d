//! `AuditLog`: an owner's (or the system's) audit events, and an org's, newest
//! first. An owner's trail is its own partition; an org's is the owner index
//! under `AUDIT#ORG#<org>` (see `items::audit_item`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::QueryOutput;

use super::attributes::{get_s, s};
use super::keys::{audit_partition, decode_audit_cursor, encode_audit_cursor, org_audit_key};
use super::paging::{collect_page, Lenient};
use super::schema::{
    OWNER_INDEX, OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY, PARTITION_KEY, SORT_KEY,
};
use super::transaction::unavailable;
use super::{DynamoStore, Item};
use crate::records::audit::{AuditFilter, AuditPage, AuditScope};
use crate::records::{AuditEvent, Owner};
use crate::store::{AuditLog, StoreError};

/// The sort-key range of `filter`'s time range: `<from, 20 digits>` to
/// `<to, 20 digits>#~` (`~` sorts after every event id).
fn time_range(filter: AuditFilter) -> (String, String) {
    let from = filter.from.map_or(0, |t| t.0.max(0));
    let to = filter.to.map_or(i64::MAX, |t| t.0.max(0));
    (format!("{from:020}"), format!("{to:020}#~"))
}

/// Where a trail is kept: an owner's partition, or the owner index under an org.
struct Trail<'a> {
    partition: String,
    index: Option<&'static str>,
    org: Option<&'a str>,
}

impl<'a> Trail<'a> {
    fn of(scope: &'a AuditScope) -> Self {
        match scope {
            AuditScope::Owner(owner) => Self {
                partition: audit_partition(Some(owner)),
                index: None,
                org: None,
            },
            AuditScope::Org(org) => Self {
                partition: org_audit_key(org),
                index: Some(OWNER_INDEX),
                org: Some(org),
            },
        }
    }
}

impl DynamoStore {
    /// One page (up to 100 items) of `trail` in `filter`'s time range, newest first.
    async fn query_trail(
        &self,
        trail: &Trail<'_>,
        filter: AuditFilter,
        start: Option<Item>,
    ) -> Result<QueryOutput, StoreError> {
        let (key_name, sort_name) = match trail.index {
            Some(_) => (OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY),
            None => (PARTITION_KEY, SORT_KEY),
        };
        let (from, to) = time_range(filter);
        let values: Item = HashMap::from([
            (":p".to_owned(), s(&trail.partition)),
            (":from".into(), s(&from)),
            (":to".into(), s(&to)),
        ]);
        self.client
            .query()
            .table_name(&self.table)
            .set_index_name(trail.index.map(str::to_owned))
            .key_condition_expression("#p = :p AND #s BETWEEN :from AND :to")
            .expression_attribute_names("#p", key_name)
            .expression_attribute_names("#s", sort_name)
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(false)
            .limit(100)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn audit_events(
        &self,
        owner: Option<&Owner>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(audit_partition(owner)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let events = output.items().iter().map(Lenient::<AuditEvent>::try_from);
        events
            .filter_map(|event| event.map(|e| e.0).transpose())
            .collect()
    }

    async fn audit_page(
        &self,
        scope: &AuditScope,
        filter: AuditFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AuditPage, StoreError> {
        let trail = Trail::of(scope);
        let start = cursor
            .map(|c| decode_audit_cursor(c, trail.org))
            .transpose()?;
        // An item this version cannot read is skipped (and logged), so one
        // damaged or newer item never fails the whole trail.
        let (events, next_cursor) = collect_page(
            start,
            limit,
            |start| self.query_trail(&trail, filter, start),
            |event: &Lenient<AuditEvent>| event.0.as_ref().is_some_and(|e| filter.admits(e)),
            |_, item| {
                Ok(encode_audit_cursor((
                    get_s(item, PARTITION_KEY)?,
                    get_s(item, SORT_KEY)?,
                )))
            },
        )
        .await?;
        Ok(AuditPage {
            events: events.into_iter().filter_map(|event| event.0).collect(),
            next_cursor,
        })
    }
}
