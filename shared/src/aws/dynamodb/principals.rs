//! `PrincipalStore`: accounts, service users (listed by org, counted against
//! the org's limit), and their revoke-all watermark.

use std::collections::HashMap;

use async_trait::async_trait;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::attributes::{n, s};
use super::keys::{
    decode_service_user_cursor, encode_service_user_cursor, member_key, org_policy_key,
    org_service_user_counter_key, org_service_users_key, principal_key, MEMBER_PREFIX,
};
use super::paging::collect_page;
use super::principal_items::{
    account_values, member_item, org_policy_item, service_user_item, service_user_values,
    StoredAccount, ACCOUNT_UPDATE, SERVICE_USER_UPDATE,
};
use super::transaction::{
    backoff, unavailable, Check, Transaction, TransactionOutcome, TRANSACTION_ATTEMPTS,
};
use super::{DynamoStore, Item};
use crate::records::{
    Account, AuditEvent, OrgMember, OrgPolicy, Owner, PrincipalStatus, ServiceUser, Timestamp,
};
use crate::store::{PrincipalStore, ServiceUserPage, StoreError};

impl DynamoStore {
    /// Writes an account and its org member items in one transaction, read
    /// first and conditioned on its revision (a concurrent write re-reads).
    /// With `version` (the directory's), a stored version as new or newer
    /// means nothing is written: `Ok(false)`.
    async fn write_account(
        &self,
        account: &Account,
        version: Option<i64>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        if account.orgs.len() > Account::MAX_ORGS {
            return Err(StoreError::Malformed(
                "more org memberships than one write can hold".into(),
            ));
        }
        let key = principal_key(&Owner::user(&account.user_id));
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let stored = self.get_item(key.clone()).await?;
            let read = StoredAccount::read(stored.as_ref())?;
            if version.is_some_and(|v| read.version.is_some_and(|stored| stored >= v)) {
                return Ok(false);
            }
            let mut transaction = Transaction::default().with(
                Check::Record,
                self.account_update(key.clone(), account, version, read.revision)?,
            );
            for m in &account.orgs {
                let item = member_item(&m.org_id, &account.user_id, &m.role);
                transaction =
                    transaction.with(Check::Unconditioned, self.put(item, None, Item::new())?);
            }
            for gone in read
                .orgs
                .iter()
                .filter(|o| !account.orgs.iter().any(|m| m.org_id == **o))
            {
                let member = member_key(gone, &account.user_id);
                transaction = transaction.with(Check::Unconditioned, self.delete_any(member)?);
            }
            transaction = transaction.with(Check::Unconditioned, self.put_audit(audit)?);
            match self.transact(transaction).await? {
                TransactionOutcome::Done => return Ok(true),
                _ => backoff(attempt).await,
            }
        }
        Err(StoreError::Conflict)
    }

    fn account_update(
        &self,
        key: Item,
        account: &Account,
        version: Option<i64>,
        revision: Option<i64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut values = account_values(account);
        values.insert(":next".into(), n(revision.unwrap_or(0) + 1));
        let mut expression = format!("{ACCOUNT_UPDATE}, revision = :next");
        if let Some(version) = version {
            values.insert(":version".into(), n(version));
            expression.push_str(", directory_version = :version");
        }
        let condition = match revision {
            None => "attribute_not_exists(revision)",
            Some(read) => {
                values.insert(":read".into(), n(read));
                "revision = :read"
            }
        };
        self.update(key, &expression, Some(condition), values)
    }

    /// Counts one more service user for `org_id`, refusing past `limit`.
    fn count_service_user(
        &self,
        org_id: &str,
        limit: u32,
    ) -> Result<TransactWriteItem, StoreError> {
        self.update(
            org_service_user_counter_key(org_id),
            "SET created = if_not_exists(created, :zero) + :one",
            Some("attribute_not_exists(created) OR created < :limit"),
            HashMap::from([
                (":zero".to_owned(), n(0)),
                (":one".into(), n(1)),
                (":limit".into(), n(limit)),
            ]),
        )
    }
}

#[async_trait]
impl PrincipalStore for DynamoStore {
    async fn put_account(&self, account: &Account, audit: &AuditEvent) -> Result<(), StoreError> {
        self.write_account(account, None, audit).await.map(|_| ())
    }

    async fn put_account_version(
        &self,
        account: &Account,
        version: i64,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.write_account(account, Some(version), audit).await
    }

    async fn org_members(&self, org_id: &str) -> Result<Vec<OrgMember>, StoreError> {
        let mut members = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :member)")
                .expression_attribute_values(":pk", s(format!("ORG#{org_id}")))
                .expression_attribute_values(":member", s(MEMBER_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items() {
                members.push(OrgMember::try_from(item)?);
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(members),
            }
        }
    }

    async fn get_account(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        self.get_record(principal_key(&Owner::user(user_id))).await
    }

    async fn create_service_user(
        &self,
        user: &ServiceUser,
        limit: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let outcome = self
            .transact_retrying(|| {
                Ok(Transaction::default()
                    .with(
                        Check::Record,
                        self.put(
                            service_user_item(user),
                            Some("attribute_not_exists(pk)"),
                            Item::new(),
                        )?,
                    )
                    .with(Check::Slot, self.count_service_user(&user.org_id, limit)?)
                    .with(Check::Unconditioned, self.put_audit(audit)?))
            })
            .await?;
        match outcome {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(Check::Slot) => {
                Err(StoreError::LimitReached { limit })
            }
            TransactionOutcome::ConditionFailed(_) => Err(StoreError::AlreadyExists),
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }

    async fn get_service_user(&self, id: &str) -> Result<Option<ServiceUser>, StoreError> {
        self.get_record(principal_key(&Owner::service_user(id)))
            .await
    }

    async fn update_service_user(
        &self,
        user: &ServiceUser,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let update = self.update(
            principal_key(&Owner::service_user(&user.id)),
            SERVICE_USER_UPDATE,
            Some("attribute_exists(pk) AND org_id = :org"),
            service_user_values(user),
        )?;
        match self.write_audited(Check::Record, update, audit).await? {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(_) => Err(StoreError::NotFound),
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }

    async fn list_service_users(
        &self,
        org_id: &str,
        status: Option<PrincipalStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ServiceUserPage, StoreError> {
        let start = cursor
            .map(|c| decode_service_user_cursor(org_id, c))
            .transpose()?;
        let partition = org_service_users_key(org_id);
        let (service_users, next_cursor) = collect_page(
            start,
            limit,
            |start| self.query_owner_index(partition.clone(), None, Some(100), start),
            |user: &ServiceUser| status.is_none_or(|wanted| user.status == wanted),
            |last, _| Ok(encode_service_user_cursor(last)),
        )
        .await?;
        Ok(ServiceUserPage {
            service_users,
            next_cursor,
        })
    }

    async fn get_org_policy(&self, org_id: &str) -> Result<Option<OrgPolicy>, StoreError> {
        self.get_record(org_policy_key(org_id)).await
    }

    async fn put_org_policy(
        &self,
        org_id: &str,
        policy: &OrgPolicy,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let put = self.put(org_policy_item(org_id, policy), None, Item::new())?;
        match self.write_audited(Check::Record, put, audit).await? {
            TransactionOutcome::Done => Ok(()),
            _ => Err(StoreError::Conflict),
        }
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
