//! Conditioned writes: `TransactWriteItems` with each position named by the
//! check it stands for, retried on conflicts; single reads; SDK faults as
//! `StoreError::Unavailable` described by kind and code only.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{Delete, KeysAndAttributes, Put, TransactWriteItem, Update};

use super::items::audit_item;
use super::schema::TTL_ATTRIBUTE;
use super::{DynamoStore, Item};
use crate::records::AuditEvent;
use crate::store::StoreError;

/// Attempts for a transaction that DynamoDB cancels for a conflicting one.
pub(super) const TRANSACTION_ATTEMPTS: u32 = 12;

/// Which item of a transaction refused its condition: each position is named
/// by what it guards, never by its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// The token being changed (or created).
    Token,
    /// The token a rotation creates.
    NewToken,
    /// The owner's active-token counter.
    Slot,
    /// The owner's name item.
    Name,
    /// The owner record, or a pepper record.
    Record,
    /// The record an `Idempotency-Key` leaves.
    Idempotency,
    /// The owner's "revoke all" watermark, as a rotation without a session read it.
    Owner,
    /// An item that carries no condition (audit events).
    Unconditioned,
}

/// The items of one `TransactWriteItems`, each with the check it stands for.
#[derive(Default)]
pub(super) struct Transaction {
    items: Vec<TransactWriteItem>,
    checks: Vec<Check>,
}

impl Transaction {
    pub(super) fn with(mut self, check: Check, item: TransactWriteItem) -> Self {
        self.items.push(item);
        self.checks.push(check);
        self
    }

    /// Adds `condition` (with its `values`) to the update standing for
    /// `check`: DynamoDB takes one operation per item in a transaction, so
    /// a further condition on an item goes into its write.
    /// A transaction without that update is a bug, refused rather than
    /// sent without the condition.
    pub(super) fn requiring(
        mut self,
        check: Check,
        condition: &str,
        values: Item,
    ) -> Result<Self, StoreError> {
        let position = self.checks.iter().position(|c| *c == check);
        let Some(update) = position.and_then(|i| self.items[i].update.as_mut()) else {
            return Err(StoreError::Unavailable(format!(
                "no update for {check:?} to condition"
            )));
        };
        update.condition_expression = Some(match update.condition_expression.take() {
            Some(existing) => format!("({existing}) AND ({condition})"),
            None => condition.to_owned(),
        });
        update
            .expression_attribute_values
            .get_or_insert_with(Item::new)
            .extend(values);
        Ok(self)
    }
}

/// How DynamoDB ended a transaction.
pub(super) enum TransactionOutcome {
    Done,
    ConditionFailed(Check),
    /// Another transaction touched the same items: try again.
    Conflict,
}

/// A storage fault, described by its kind and error code only: SDK errors'
/// `Debug` text can carry request and response bodies.
pub(super) fn unavailable<E>(error: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata,
{
    StoreError::Unavailable(super::super::sdk_error_summary(&error))
}

fn build_error(error: BuildError) -> StoreError {
    StoreError::Unavailable(format!("request build: {error}"))
}

/// A single-item conditional write's outcome: whether it wrote (`false`:
/// only its condition failed).
pub(super) fn written<T, E>(result: Result<T, SdkError<E>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_condition_failure(&error) => Ok(false),
        Err(error) => Err(unavailable(error)),
    }
}

/// Whether a single-item write failed only its condition.
pub(super) fn is_condition_failure<E>(error: &SdkError<E>) -> bool
where
    E: ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// Attribute names the expressions use by placeholder (`ttl`, `hash`,
/// `status`, `name` and `role` are reserved words).
fn expression_names(expressions: &[&str]) -> Option<HashMap<String, String>> {
    let mut names = HashMap::new();
    for (placeholder, name) in [
        ("#ttl", TTL_ATTRIBUTE),
        ("#hash", "hash"),
        ("#status", "status"),
        ("#name", "name"),
        ("#role", "role"),
    ] {
        if expressions.iter().any(|e| e.contains(placeholder)) {
            names.insert(placeholder.to_owned(), name.to_owned());
        }
    }
    // DynamoDB refuses unused names, and an empty map.
    (!names.is_empty()).then_some(names)
}

/// DynamoDB refuses an empty map of values.
fn non_empty(values: Item) -> Option<Item> {
    (!values.is_empty()).then_some(values)
}

/// A jittered, capped exponential wait before another attempt.
pub(super) async fn backoff(attempt: u32) {
    use rand::Rng;
    let cap_ms = 10u64 << attempt.min(5);
    let wait = rand::rng().random_range(1..=cap_ms);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

impl DynamoStore {
    /// One conditional `UpdateItem` of `key`, outside any transaction:
    /// whether it wrote (`false`: its condition failed).
    pub(super) async fn update_if(
        &self,
        key: Item,
        expression: &str,
        condition: &str,
        values: Item,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_values(non_empty(values))
            .send()
            .await;
        written(result)
    }
}

impl DynamoStore {
    /// `transaction` with `record` stored too, if there is one.
    pub(super) fn with_idempotency(
        &self,
        transaction: Transaction,
        record: Option<&crate::records::IdempotencyRecord>,
    ) -> Result<Transaction, StoreError> {
        Ok(match record {
            Some(record) => transaction.with(Check::Idempotency, self.put_idempotency(record)?),
            None => transaction,
        })
    }

    pub(super) async fn transact(
        &self,
        transaction: Transaction,
    ) -> Result<TransactionOutcome, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(transaction.items))
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(TransactionOutcome::Done),
            Err(error) => error,
        };
        match error.as_service_error() {
            Some(E::TransactionCanceledException(cancel)) => {
                let reasons = cancel.cancellation_reasons();
                let failed: Vec<Check> = reasons
                    .iter()
                    .zip(&transaction.checks)
                    .filter(|(r, _)| r.code() == Some("ConditionalCheckFailed"))
                    .map(|(_, check)| *check)
                    .collect();
                // A key that issued already explains every other refusal
                // (the name or slot its own first request took).
                if let Some(check) = failed
                    .iter()
                    .find(|c| **c == Check::Idempotency)
                    .or(failed.first())
                {
                    return Ok(TransactionOutcome::ConditionFailed(*check));
                }
                if reasons
                    .iter()
                    .any(|r| matches!(r.code(), Some("TransactionConflict")))
                {
                    return Ok(TransactionOutcome::Conflict);
                }
            }
            Some(E::TransactionInProgressException(_)) => return Ok(TransactionOutcome::Conflict),
            _ => {}
        }
        Err(unavailable(error))
    }

    /// Runs `build` until its transaction is not cancelled by a conflict.
    pub(super) async fn transact_retrying(
        &self,
        mut build: impl FnMut() -> Result<Transaction, StoreError>,
    ) -> Result<TransactionOutcome, StoreError> {
        for attempt in 0..TRANSACTION_ATTEMPTS {
            match self.transact(build()?).await? {
                TransactionOutcome::Conflict => backoff(attempt).await,
                outcome => return Ok(outcome),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Creates `item` if its key is free, with its audit event, in one transaction.
    pub(super) async fn create_audited(
        &self,
        item: Item,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let put = self.put(item, Some("attribute_not_exists(pk)"), Item::new())?;
        match self.write_audited(Check::Record, put, audit).await? {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(_) => Err(StoreError::AlreadyExists),
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }

    /// One write and its audit event, in one transaction (retried on conflicts).
    pub(super) async fn write_audited(
        &self,
        check: Check,
        write: TransactWriteItem,
        audit: &AuditEvent,
    ) -> Result<TransactionOutcome, StoreError> {
        self.transact_retrying(|| {
            Ok(Transaction::default()
                .with(check, write.clone())
                .with(Check::Unconditioned, self.put_audit(audit)?))
        })
        .await
    }

    pub(super) fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values(non_empty(values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A condition on `key`'s item that the transaction writes nothing to.
    pub(super) fn condition_check(
        &self,
        key: Item,
        condition: &str,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_values(non_empty(values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// An audit event: never conditioned, never overwrites (its key is unique).
    pub(super) fn put_audit(&self, event: &AuditEvent) -> Result<TransactWriteItem, StoreError> {
        self.put(audit_item(event), None, Item::new())
    }

    pub(super) fn update(
        &self,
        key: Item,
        expression: &str,
        condition: Option<&str>,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        self.update_named(key, expression, condition, values, &HashMap::new())
    }

    /// [`update`](Self::update) with placeholders of its own (`names`) beside the known ones.
    pub(super) fn update_named(
        &self,
        key: Item,
        expression: &str,
        condition: Option<&str>,
        values: Item,
        names: &HashMap<String, String>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut all_names =
            expression_names(&[expression, condition.unwrap_or_default()]).unwrap_or_default();
        all_names.extend(names.iter().map(|(k, v)| (k.clone(), v.clone())));
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values(non_empty(values))
            .set_expression_attribute_names((!all_names.is_empty()).then_some(all_names))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) fn delete(
        &self,
        key: Item,
        condition: &str,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_values(non_empty(values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Deletes `key` whether or not it exists.
    pub(super) fn delete_any(&self, key: Item) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A strongly consistent `GetItem`.
    pub(super) async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    /// One strongly consistent `BatchGetItem` of `keys` (at most 100): the
    /// items found, and the keys DynamoDB left unprocessed (throttling).
    pub(super) async fn batch_get(
        &self,
        keys: Vec<Item>,
    ) -> Result<(Vec<Item>, Vec<Item>), StoreError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(build_error)?;
        let output = self
            .client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(unavailable)?;
        let left = output
            .unprocessed_keys
            .and_then(|mut left| left.remove(&self.table))
            .map(|left| left.keys)
            .unwrap_or_default();
        let found = output
            .responses
            .and_then(|mut tables| tables.remove(&self.table))
            .unwrap_or_default();
        Ok((found, left))
    }

    /// Every item of `keys` that exists: strongly consistent `BatchGetItem`s
    /// of 100 keys, the unprocessed ones asked again after a backoff, at
    /// most [`TRANSACTION_ATTEMPTS`] times (then `Unavailable`).
    pub(super) async fn batch_get_all(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        let mut keys = keys.into_iter().peekable();
        while keys.peek().is_some() {
            let mut chunk: Vec<Item> = keys.by_ref().take(100).collect();
            for attempt in 0.. {
                if attempt > TRANSACTION_ATTEMPTS {
                    return Err(StoreError::Unavailable("batch read throttled".into()));
                }
                if attempt > 0 {
                    backoff(attempt).await;
                }
                let (items, left) = self.batch_get(chunk).await?;
                found.extend(items);
                if left.is_empty() {
                    break;
                }
                chunk = left;
            }
        }
        Ok(found)
    }

    /// A strongly consistent `GetItem`, read as `T`.
    pub(super) async fn get_record<T>(&self, key: Item) -> Result<Option<T>, StoreError>
    where
        T: for<'a> TryFrom<&'a Item, Error = StoreError>,
    {
        self.get_item(key)
            .await?
            .as_ref()
            .map(T::try_from)
            .transpose()
    }
}
