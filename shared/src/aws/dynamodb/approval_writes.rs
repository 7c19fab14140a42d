//! The writes of org admins' decisions on a PAT (`TokenStore::decide_in_org`,
//! `approve_in_org`), over the attributes `approvals` reads and writes.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::approvals::{decision_update, APPROVED, DENIALS};
use super::attributes::n;
use super::keys::token_key;
use super::token_writes::{REPLACED_BY, REV};
use super::tokens::MAX_SUCCESSIONS;
use super::transaction::{Check, TransactionOutcome};
use super::DynamoStore;
use crate::records::{AuditEvent, Denial};
use crate::store::{Follow, StoreError, TokenStore};
use crate::token::TokenId;

impl DynamoStore {
    /// Gives token `id` an empty denial map if it has none (an item from
    /// before approvals), so a decision can set one org's entry.
    async fn give_denial_map(&self, id: &TokenId) -> Result<(), StoreError> {
        self.update_if(
            token_key(id),
            &format!("SET {DENIALS} = :empty"),
            &format!("attribute_exists(pk) AND attribute_not_exists({DENIALS})"),
            HashMap::from([(":empty".to_owned(), AttributeValue::M(HashMap::new()))]),
        )
        .await
        .map(|_| ())
    }

    /// `TokenStore::decide_in_org`: the decision on token `id` and on the
    /// tokens rotations replaced it with, each given its denial map first.
    pub(super) async fn decide_following_rotations(
        &self,
        id: &TokenId,
        org: &str,
        denial: Option<&Denial>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut next = Some(*id);
        let mut walked = 0;
        while let Some(at) = next {
            if walked == MAX_SUCCESSIONS {
                return Err(StoreError::Conflict);
            }
            self.give_denial_map(&at).await?;
            next = self.successor(&at).await?;
            walked += 1;
        }
        let (update, values, names) = decision_update(org, denial);
        self.change_following_rotations(id, &update, &values, &names, audit, Follow::Always)
            .await
    }

    /// `TokenStore::approve_in_org`: on this token only, while it is not
    /// rotated or revoked (its successor may hold a denial of its own) and,
    /// unless `over_denial`, not denied in `org`.
    pub(super) async fn approve_this_token(
        &self,
        id: &TokenId,
        org: &str,
        over_denial: bool,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let names = HashMap::from([("#org".to_owned(), org.to_owned())]);
        let values = HashMap::from([
            (":org".to_owned(), AttributeValue::Ss(vec![org.to_owned()])),
            (":one".to_owned(), n(1)),
        ]);
        let live = format!(
            "attribute_exists(pk) AND attribute_not_exists(revoked_at) AND attribute_not_exists({REPLACED_BY})"
        );
        let (expression, condition) = if over_denial {
            self.give_denial_map(id).await?;
            (
                format!("REMOVE {DENIALS}.#org ADD {APPROVED} :org, {REV} :one"),
                live,
            )
        } else {
            (
                format!("ADD {APPROVED} :org, {REV} :one"),
                format!("{live} AND attribute_not_exists({DENIALS}.#org)"),
            )
        };
        let update =
            self.update_named(token_key(id), &expression, Some(&condition), values, &names)?;
        match self.write_audited(Check::Token, update, audit).await? {
            TransactionOutcome::Done => Ok(true),
            TransactionOutcome::ConditionFailed(_) => Ok(false),
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }
}
