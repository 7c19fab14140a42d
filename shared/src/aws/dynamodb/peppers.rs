//! `PepperStore`: pepper ciphertexts by version, and the count of live
//! tokens still hashed under one (before it may be retired).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::attributes::{n, s};
use super::items::pepper_item;
use super::keys::{pepper_key, PEPPER_PK, TOKEN_SK};
use super::transaction::{unavailable, Check, TransactionOutcome};
use super::DynamoStore;
use crate::records::{AuditEvent, Timestamp};
use crate::store::{PepperStore, StoreError, StoredPepper};
use crate::token::hash::PepperVersion;

#[async_trait]
impl PepperStore for DynamoStore {
    async fn add_pepper(
        &self,
        pepper: &StoredPepper,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.create_audited(pepper_item(pepper), audit).await
    }

    async fn list_peppers(&self) -> Result<Vec<StoredPepper>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(PEPPER_PK))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.items().iter().map(StoredPepper::try_from).collect()
    }

    async fn retire_pepper(
        &self,
        version: PepperVersion,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let update = self.update(
            pepper_key(version),
            "SET retired = :yes",
            Some("attribute_exists(pk)"),
            HashMap::from([(":yes".to_owned(), AttributeValue::Bool(true))]),
        )?;
        let outcome = self.write_audited(Check::Record, update, audit).await?;
        match outcome {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(_) => Err(StoreError::NotFound),
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }

    async fn live_tokens_with_pepper(
        &self,
        version: PepperVersion,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        // An operator action, rare: a filtered scan is fine here.
        let mut live = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "sk = :token AND pepper_version = :version AND attribute_not_exists(revoked_at) \
                     AND (attribute_not_exists(expires_at) OR expires_at > :now)",
                )
                .expression_attribute_values(":token", s(TOKEN_SK))
                .expression_attribute_values(":version", n(version.0))
                .expression_attribute_values(":now", n(now.0))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            live += output.items().len() as u64;
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(live),
            }
        }
    }
}
