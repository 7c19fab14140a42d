//! `PrincipalStore`: accounts and service users, and their revoke-all watermark.

use std::collections::HashMap;

use async_trait::async_trait;

use super::attributes::n;
use super::items::{account_values, service_user_item, ACCOUNT_UPDATE};
use super::keys::principal_key;
use super::transaction::{Check, TransactionOutcome};
use super::DynamoStore;
use crate::records::{Account, AuditEvent, Owner, ServiceUser, Timestamp};
use crate::store::{PrincipalStore, StoreError};

#[async_trait]
impl PrincipalStore for DynamoStore {
    async fn put_account(&self, account: &Account, audit: &AuditEvent) -> Result<(), StoreError> {
        let update = self.update(
            principal_key(&Owner::user(&account.user_id)),
            ACCOUNT_UPDATE,
            None,
            account_values(account),
        )?;
        match self.write_audited(Check::Record, update, audit).await? {
            TransactionOutcome::Done => Ok(()),
            _ => Err(StoreError::Conflict),
        }
    }

    async fn get_account(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.get_record(principal_key(&Owner::user(user_id))).await
    }

    async fn create_service_user(
        &self,
        user: &ServiceUser,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.create_audited(service_user_item(user), audit).await
    }

    async fn get_service_user(&self, id: &str) -> Result<Option<ServiceUser>, StoreError> {
        self.get_record(principal_key(&Owner::service_user(id)))
            .await
    }

    async fn revoke_tokens_before(
        &self,
        owner: &Owner,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        // Never moves the watermark back: a later revoke-all stays in force.
        let update = self.update(
            principal_key(owner),
            "SET tokens_valid_after = :at",
            Some("attribute_exists(pk) AND (attribute_not_exists(tokens_valid_after) OR tokens_valid_after < :at)"),
            HashMap::from([(":at".to_owned(), n(at.0))]),
        )?;
        match self.write_audited(Check::Record, update, audit).await? {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(_) => {
                match self.get_item(principal_key(owner)).await? {
                    None => Err(StoreError::NotFound),
                    // A later watermark stands already.
                    Some(_) => Ok(()),
                }
            }
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }
}
