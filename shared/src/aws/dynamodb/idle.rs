//! `IdleIndex`: credentials by last-active day (GSI `gsi3`), and the idle
//! sweep's writes, each conditioned on `last_used_at` as read: a use that
//! lands meanwhile wins, and the sweep looks again on its next run.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::attributes::{get_bool, get_s, malformed, n, s};
use super::keys::{idle_partition, idle_sort_key, read_idle_sort_key, token_key};
use super::last_use;
use super::paging::query_all;
use super::schema::{IDLE_INDEX, IDLE_INDEX_PARTITION_KEY, IDLE_INDEX_SORT_KEY};
use super::transaction::{Check, TransactionOutcome};
use super::{DynamoStore, Item};
use crate::records::{AuditEvent, Owner, OwnerKind, Revocation, Timestamp, TokenRecord};
use crate::store::idle::{IdleCandidate, IdleIndex, IdleRecord, Placement};
use crate::store::StoreError;
use crate::token::TokenId;

const NOTICES: &str = "idle_notices";

/// The condition that `record` was not used (nor revoked) since it was read.
fn unused_since_read(record: &TokenRecord, values: &mut Item) -> String {
    let used = match record.last_used_at {
        Some(at) => {
            values.insert(":seen_used".into(), n(at.0));
            "last_used_at = :seen_used"
        }
        None => "attribute_not_exists(last_used_at)",
    };
    format!("attribute_exists(pk) AND attribute_not_exists(revoked_at) AND {used}")
}

fn candidate(item: &Item) -> Result<IdleCandidate, StoreError> {
    let kind = match get_s(item, "owner_kind")? {
        "user" => OwnerKind::User,
        "service_user" => OwnerKind::ServiceUser,
        _ => return Err(malformed("owner_kind")),
    };
    let (id, keeps_addresses) = read_idle_sort_key(get_s(item, IDLE_INDEX_SORT_KEY)?)
        .ok_or_else(|| malformed(IDLE_INDEX_SORT_KEY))?;
    Ok(IdleCandidate {
        id,
        owner: Owner {
            kind,
            id: get_s(item, "owner_id")?.to_owned(),
        },
        keeps_addresses,
    })
}

#[async_trait]
impl IdleIndex for DynamoStore {
    async fn inactive_since(&self, day: Timestamp) -> Result<Vec<IdleCandidate>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(IDLE_INDEX)
            .key_condition_expression("#pk = :day")
            .expression_attribute_names("#pk", IDLE_INDEX_PARTITION_KEY)
            .expression_attribute_values(":day", s(idle_partition(day)));
        let mut found = Vec::new();
        // One damaged entry must not stop every idle revocation: it is
        // logged and skipped (its token stays as it is).
        for item in query_all(query).await? {
            match candidate(&item) {
                Ok(candidate) => found.push(candidate),
                Err(error) => tracing::warn!(%error, "unreadable idle-index entry skipped"),
            }
        }
        Ok(found)
    }

    async fn idle_records(&self, ids: &[TokenId]) -> Result<Vec<IdleRecord>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(item) = self.get_item(token_key(id)).await? else {
                continue;
            };
            let notices = match item.get(NOTICES) {
                None => Ok(Vec::new()),
                Some(value) => value.as_ss().cloned().map_err(|_| malformed(NOTICES)),
            };
            match (TokenRecord::try_from(&item), notices) {
                (Ok(record), Ok(notices)) => found.push(IdleRecord {
                    record,
                    notices,
                    holds_slot: get_bool(&item, "holds_slot"),
                }),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::warn!(token_id = %id, %error, "unreadable token skipped by the idle sweep")
                }
            }
        }
        Ok(found)
    }

    async fn record_idle_notice(
        &self,
        record: &TokenRecord,
        key: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut values = HashMap::from([
            (
                ":notices".to_owned(),
                AttributeValue::Ss(vec![key.to_owned()]),
            ),
            (":notice".to_owned(), s(key)),
        ]);
        let condition = format!(
            "{} AND NOT contains({NOTICES}, :notice)",
            unused_since_read(record, &mut values)
        );
        let update = self.update(
            token_key(&record.id),
            &format!("ADD {NOTICES} :notices"),
            Some(&condition),
            values,
        )?;
        Ok(matches!(
            self.write_audited(Check::Token, update, audit).await?,
            TransactionOutcome::Done
        ))
    }

    async fn revoke_idle(
        &self,
        found: &IdleRecord,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let record = &found.record;
        let mut values = Item::new();
        let condition = unused_since_read(record, &mut values);
        let transaction = self
            .revocation(record, found.holds_slot, revocation, audit)?
            .requiring(Check::Token, &condition, values)?;
        Ok(matches!(
            self.transact(transaction).await?,
            TransactionOutcome::Done
        ))
    }

    async fn forget_last_use(&self, record: &TokenRecord) -> Result<bool, StoreError> {
        let mut values =
            HashMap::from([(":kept_none".to_owned(), s(idle_sort_key(&record.id, false)))]);
        let condition = match record.last_used_at {
            Some(at) => {
                values.insert(":seen_used".into(), n(at.0));
                "attribute_exists(pk) AND last_used_at = :seen_used"
            }
            None => "attribute_exists(pk) AND attribute_not_exists(last_used_at)",
        };
        let expression = format!(
            "SET {IDLE_INDEX_SORT_KEY} = :kept_none REMOVE {}",
            last_use::ATTRIBUTES.join(", ")
        );
        self.update_if(token_key(&record.id), &expression, condition, values)
            .await
    }

    async fn leave_idle_index(&self, id: &TokenId) -> Result<(), StoreError> {
        let expression = format!("REMOVE {IDLE_INDEX_PARTITION_KEY}, {IDLE_INDEX_SORT_KEY}");
        self.update_if(
            token_key(id),
            &expression,
            "attribute_exists(pk)",
            Item::new(),
        )
        .await
        .map(|_| ())
    }

    async fn place_in_idle_index(
        &self,
        record: &TokenRecord,
        day: Timestamp,
        placement: Placement,
    ) -> Result<bool, StoreError> {
        let mut values = HashMap::from([
            (":day".to_owned(), s(idle_partition(day))),
            (
                ":sk".to_owned(),
                s(idle_sort_key(&record.id, !record.last_use.is_empty())),
            ),
        ]);
        let condition = match placement {
            Placement::Join => format!(
                "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND attribute_not_exists({IDLE_INDEX_PARTITION_KEY})"
            ),
            // Not over a use that landed since the read.
            Placement::Move => unused_since_read(record, &mut values),
        };
        let expression =
            format!("SET {IDLE_INDEX_PARTITION_KEY} = :day, {IDLE_INDEX_SORT_KEY} = :sk");
        self.update_if(token_key(&record.id), &expression, &condition, values)
            .await
    }
}
