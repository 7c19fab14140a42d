//! The conditioned writes a token's life is made of: its slot in the owner's
//! counter, its name, its revocation, and the transactions that combine them
//! for a revocation and a rotation.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::attributes::{n, s, ttl_after};
use super::items::token_item;
use super::keys::{counter_key, name_key, principal_key, token_key};
use super::schema::TTL_ATTRIBUTE;
use super::transaction::{Check, Transaction};
use super::{DynamoStore, Item, TOKEN_RETENTION_DAYS};
use crate::records::{AuditEvent, Owner, Revocation, Timestamp, TokenRecord, TokenStatus};
use crate::store::StoreError;
use crate::token::TokenId;

/// Counts the changes of a token's per-token fields after creation (org
/// blocks, allowlist): a rotation is conditioned on it, so it never hands on
/// fields older than the ones stored.
pub(super) const REV: &str = "rev";
/// On a rotated token: its successor, which a later per-token change follows.
pub(super) const REPLACED_BY: &str = "replaced_by";

/// What a rotation adds to the old token's write: its successor, and the
/// condition that no per-token field changed since it was read (`rev`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Succession<'a> {
    pub new: &'a TokenId,
    pub rev: i64,
}

impl Succession<'_> {
    /// `SET` clauses, a condition, and their values.
    fn parts(&self, values: &mut Item) -> (&'static str, String) {
        values.insert(":successor".into(), s(self.new.as_str()));
        (
            ", replaced_by = :successor",
            unchanged_since(self.rev, values),
        )
    }
}

/// A condition that the token's change count is still `rev` (as read).
pub(super) fn unchanged_since(rev: i64, values: &mut Item) -> String {
    if rev == 0 {
        values.remove(":rev");
        format!(" AND attribute_not_exists({REV})")
    } else {
        values.insert(":rev".into(), n(rev));
        format!(" AND {REV} = :rev")
    }
}

impl DynamoStore {
    /// The condition that `owner` exists with its "revoke all" watermark
    /// still `valid_after` (as read).
    pub(super) fn owner_unchanged(
        &self,
        owner: &Owner,
        valid_after: Option<Timestamp>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, values) = match valid_after {
            None => (
                "attribute_exists(pk) AND attribute_not_exists(tokens_valid_after)",
                Item::new(),
            ),
            Some(at) => (
                "tokens_valid_after = :valid_after",
                HashMap::from([(":valid_after".to_owned(), n(at.0))]),
            ),
        };
        self.condition_check(principal_key(owner), condition, values)
    }

    /// Creates `record`'s item if its id is free.
    pub(super) fn put_new_token(
        &self,
        record: &TokenRecord,
    ) -> Result<TransactWriteItem, StoreError> {
        self.put(
            token_item(record),
            Some("attribute_not_exists(pk)"),
            Item::new(),
        )
    }

    /// Counts one more active token for `owner`, refusing past `limit`.
    pub(super) fn take_slot(
        &self,
        owner: &Owner,
        limit: u32,
    ) -> Result<TransactWriteItem, StoreError> {
        self.update(
            counter_key(owner),
            "SET active = if_not_exists(active, :zero) + :one",
            Some("attribute_not_exists(active) OR active < :limit"),
            HashMap::from([
                (":zero".into(), n(0)),
                (":one".into(), n(1)),
                (":limit".into(), n(limit)),
            ]),
        )
    }

    pub(super) fn give_back_slot(&self, owner: &Owner) -> Result<TransactWriteItem, StoreError> {
        self.update(
            counter_key(owner),
            "SET active = active - :one",
            Some("active >= :one"),
            HashMap::from([(":one".into(), n(1))]),
        )
    }

    /// Claims `record`'s name for it: refused while another live token holds
    /// it; `previous` may hand it over (rotation).
    pub(super) fn claim_name(
        &self,
        record: &TokenRecord,
        previous: Option<&TokenId>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = name_key(&record.owner, &record.name);
        item.insert("token_id".into(), s(record.id.as_str()));
        let mut values = HashMap::from([(":now".to_owned(), n(record.created_at.0))]);
        let mut condition =
            "attribute_not_exists(pk) OR (attribute_exists(expires_at) AND expires_at <= :now)"
                .to_owned();
        if let Some(previous) = previous {
            condition.push_str(" OR token_id = :previous");
            values.insert(":previous".into(), s(previous.as_str()));
        }
        if let Some(expires_at) = record.expires_at {
            item.insert("expires_at".into(), n(expires_at.0));
            // Past its holder's expiry the item no longer binds; TTL may tidy it.
            item.insert(TTL_ATTRIBUTE.into(), n(expires_at.as_seconds()));
        }
        self.put(item, Some(&condition), values)
    }

    /// Frees `record`'s name if it still holds it (items from before names
    /// were claimed have none to free).
    fn free_name(&self, record: &TokenRecord) -> Result<TransactWriteItem, StoreError> {
        self.delete(
            name_key(&record.owner, &record.name),
            "attribute_not_exists(pk) OR token_id = :id",
            HashMap::from([(":id".to_owned(), s(record.id.as_str()))]),
        )
    }

    /// Ends a token's life at `revocation.at`, releasing its slot and giving
    /// it its TTL, if it is still as the caller read it.
    fn revoke_update(
        &self,
        record: &TokenRecord,
        held_slot: bool,
        revocation: &Revocation,
        succession: Option<Succession<'_>>,
    ) -> Result<TransactWriteItem, StoreError> {
        let kept_from = record
            .expires_at
            .map_or(revocation.at, |expiry| expiry.max(revocation.at));
        let mut values = HashMap::from([
            (":at".to_owned(), n(revocation.at.0)),
            (":by".into(), s(&revocation.by)),
            (":reason".into(), s(&revocation.reason)),
            (":ttl".into(), ttl_after(kept_from, TOKEN_RETENTION_DAYS)),
        ]);
        let revoked_condition = match &record.revoked {
            None => "attribute_not_exists(revoked_at)",
            Some(previous) => {
                values.insert(":previous".into(), n(previous.at.0));
                "revoked_at = :previous"
            }
        };
        let slot_condition = if held_slot {
            "attribute_exists(holds_slot)"
        } else {
            "attribute_not_exists(holds_slot)"
        };
        let (successor, unchanged) =
            succession.map_or(("", String::new()), |s| s.parts(&mut values));
        self.update(
            token_key(&record.id),
            &format!("SET revoked_at = :at, revoked_by = :by, revoke_reason = :reason, #ttl = :ttl{successor} REMOVE holds_slot"),
            Some(&format!(
                "attribute_exists(pk) AND {revoked_condition} AND {slot_condition}{unchanged}"
            )),
            values,
        )
    }

    /// Sets a future revocation (a rotation's grace): the token keeps its
    /// slot, and so gets no TTL, until then.
    fn schedule_revocation(
        &self,
        record: &TokenRecord,
        revocation: &Revocation,
        succession: Succession<'_>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut values = HashMap::from([
            (":at".to_owned(), n(revocation.at.0)),
            (":by".into(), s(&revocation.by)),
            (":reason".into(), s(&revocation.reason)),
        ]);
        let (successor, unchanged) = succession.parts(&mut values);
        self.update(
            token_key(&record.id),
            &format!("SET revoked_at = :at, revoked_by = :by, revoke_reason = :reason{successor}"),
            Some(&format!("attribute_exists(pk) AND attribute_not_exists(revoked_at) AND attribute_exists(holds_slot){unchanged}")),
            values,
        )
    }

    /// Releases an ended token's slot and gives its item its TTL.
    pub(super) fn release_slot(
        &self,
        record: &TokenRecord,
        ended_at: Timestamp,
    ) -> Result<Transaction, StoreError> {
        let release = self.update(
            token_key(&record.id),
            "SET #ttl = :ttl REMOVE holds_slot",
            Some("attribute_exists(holds_slot)"),
            HashMap::from([(":ttl".to_owned(), ttl_after(ended_at, TOKEN_RETENTION_DAYS))]),
        )?;
        Ok(Transaction::default()
            .with(Check::Token, release)
            .with(Check::Slot, self.give_back_slot(&record.owner)?))
    }

    /// Revokes `record` as read (`held_slot` is its `holds_slot` flag): its
    /// slot and name go back with it.
    pub(super) fn revocation(
        &self,
        record: &TokenRecord,
        held_slot: bool,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<Transaction, StoreError> {
        let mut transaction = Transaction::default().with(
            Check::Token,
            self.revoke_update(record, held_slot, revocation, None)?,
        );
        if held_slot {
            transaction = transaction.with(Check::Slot, self.give_back_slot(&record.owner)?);
        }
        // A live, never-revoked token holds its name; one in a rotation's
        // grace has passed it on, and an expired one may have lost it.
        if record.revoked.is_none() && record.status(revocation.at) == TokenStatus::Active {
            transaction = transaction.with(Check::Name, self.free_name(record)?);
        }
        Ok(transaction.with(Check::Unconditioned, self.put_audit(audit)?))
    }

    /// Replaces `old` as read (`held_slot` is its `holds_slot` flag, `rev`
    /// its change count) with `new`, which takes over the name. With a grace
    /// the old token stays live, and counted, until `revocation.at`.
    #[allow(clippy::too_many_arguments)] // the state as read, and the change
    pub(super) fn rotation(
        &self,
        old: &TokenRecord,
        held_slot: bool,
        rev: i64,
        revocation: &Revocation,
        new: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
    ) -> Result<Transaction, StoreError> {
        let grace = revocation.at > new.created_at;
        let succession = Succession { new: &new.id, rev };
        let old_update = if grace && held_slot {
            self.schedule_revocation(old, revocation, succession)?
        } else {
            self.revoke_update(old, held_slot, revocation, Some(succession))?
        };
        let mut transaction = Transaction::default()
            .with(Check::Token, old_update)
            .with(Check::NewToken, self.put_new_token(new)?)
            .with(Check::Name, self.claim_name(new, Some(&old.id))?);
        // Without grace the new token takes over the old one's slot; a
        // token in grace still counts, so the new one needs its own.
        if grace || !held_slot {
            transaction = transaction.with(Check::Slot, self.take_slot(&new.owner, limit)?);
        }
        for audit in audits {
            transaction = transaction.with(Check::Unconditioned, self.put_audit(audit)?);
        }
        Ok(transaction)
    }
}
