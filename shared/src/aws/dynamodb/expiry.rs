//! `ExpiryIndex`: tokens by expiry day (GSI `gsi2`), and each expiry notice
//! recorded once on the token item with its audit event.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::attributes::{malformed, s};
use super::keys::{expiry_partition, expiry_sort_range, token_key};
use super::paging::query_all;
use super::schema::{EXPIRY_INDEX, EXPIRY_INDEX_PARTITION_KEY, EXPIRY_INDEX_SORT_KEY};
use super::transaction::{Check, TransactionOutcome};
use super::{DynamoStore, Item};
use crate::records::{AuditEvent, Timestamp, TokenRecord, DAY_MS};
use crate::store::expiry::{ExpiringToken, ExpiryIndex, ExpiryNotice};
use crate::store::StoreError;
use crate::token::TokenId;

const NOTICES: &str = "expiry_notices";

fn notices(item: &Item) -> Result<Vec<ExpiryNotice>, StoreError> {
    let Some(value) = item.get(NOTICES) else {
        return Ok(Vec::new());
    };
    value
        .as_ss()
        .map_err(|_| malformed(NOTICES))?
        .iter()
        .map(|text| ExpiryNotice::parse(text).ok_or_else(|| malformed(NOTICES)))
        .collect()
}

impl DynamoStore {
    /// One day's partition of the index, within `[from, to]`, every page.
    async fn expiring_on_day(
        &self,
        day_start: Timestamp,
        (low, high): (&str, &str),
    ) -> Result<Vec<ExpiringToken>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(EXPIRY_INDEX)
            .key_condition_expression("#pk = :day AND #sk BETWEEN :low AND :high")
            .expression_attribute_names("#pk", EXPIRY_INDEX_PARTITION_KEY)
            .expression_attribute_names("#sk", EXPIRY_INDEX_SORT_KEY)
            .expression_attribute_values(":day", s(expiry_partition(day_start)))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high));
        query_all(query)
            .await?
            .iter()
            .map(|item| {
                Ok(ExpiringToken {
                    record: TokenRecord::try_from(item)?,
                    notices: notices(item)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl ExpiryIndex for DynamoStore {
    async fn tokens_expiring(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ExpiringToken>, StoreError> {
        let (low, high) = expiry_sort_range(from, to);
        let mut found = Vec::new();
        let mut day = Timestamp(from.0.div_euclid(DAY_MS) * DAY_MS);
        while day <= to {
            found.extend(self.expiring_on_day(day, (&low, &high)).await?);
            day = Timestamp(day.0 + DAY_MS);
        }
        Ok(found)
    }

    async fn record_expiry_notice(
        &self,
        id: &TokenId,
        notice: ExpiryNotice,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let expression = match notice {
            // Noticed as expired: it leaves the index.
            ExpiryNotice::Expired => format!(
                "ADD {NOTICES} :notices REMOVE {EXPIRY_INDEX_PARTITION_KEY}, {EXPIRY_INDEX_SORT_KEY}"
            ),
            _ => format!("ADD {NOTICES} :notices"),
        };
        let update = self.update(
            token_key(id),
            &expression,
            Some(&format!(
                "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND NOT contains({NOTICES}, :notice)"
            )),
            HashMap::from([
                (
                    ":notices".to_owned(),
                    AttributeValue::Ss(vec![notice.as_str().to_owned()]),
                ),
                (":notice".to_owned(), s(notice.as_str())),
            ]),
        )?;
        Ok(matches!(
            self.write_audited(Check::Token, update, audit).await?,
            TransactionOutcome::Done
        ))
    }
}
