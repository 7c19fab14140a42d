//! `PrincipalStore`: accounts, service users (listed by org, counted against
//! the org's limit), and their revoke-all watermark.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::attributes::{n, s};
use super::keys::{
    decode_service_user_cursor, encode_service_user_cursor, member_key, org_policy_key,
    org_service_user_counter_key, org_service_users_key, principal_key, MEMBER_PREFIX,
};
use super::paging::{collect_page, query_all};
use super::principal_items::{
    account_values, member_item, member_sync_value, org_policy_item, org_policy_unchanged,
    service_user_change, service_user_item, StoredAccount, ACCOUNT_UPDATE, MEMBER_SYNC,
};
use super::transaction::{backoff, Check, Transaction, TransactionOutcome, TRANSACTION_ATTEMPTS};
use super::{DynamoStore, Item};
use crate::records::{
    Account, AuditEvent, OrgMember, OrgMembership, OrgPolicy, Owner, PrincipalStatus, ServiceUser,
    Timestamp,
};
use crate::store::{PrincipalStore, ServiceUserPage, StoreError};

/// Member item writes per transaction, beside the account's own item
/// (DynamoDB takes at most 100 items in one).
const MEMBER_WRITES_PER_TRANSACTION: usize = 99;

impl DynamoStore {
    /// Writes an account (with `audit`), then its org member items. The
    /// account goes first and alone, read first and conditioned on its
    /// revision (a concurrent write re-reads), so its status lands however
    /// many memberships change; it is marked [`MEMBER_SYNC`] until they are
    /// all written. With `version` (the directory's), a stored version newer
    /// than it means nothing is written (`Ok(false)`); the same version
    /// finishes the member items a failed write of it left, if any (the
    /// version alone cannot tell a half-applied update from a whole one).
    async fn write_account(
        &self,
        account: &Account,
        version: Option<i64>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        if account.orgs.len() > Account::MAX_ORGS {
            return Err(StoreError::Malformed(
                "more org memberships than an account may have".into(),
            ));
        }
        let key = principal_key(&Owner::user(&account.user_id));
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let stored = self.get_item(key.clone()).await?;
            let read = StoredAccount::read(stored.as_ref())?;
            match version.zip(read.version) {
                Some((version, stored)) if stored > version => return Ok(false),
                Some((version, stored)) if stored == version => {
                    let (Some(retired), Some(revision)) = (&read.member_sync, read.revision) else {
                        return Ok(false);
                    };
                    self.write_members(&account.user_id, &read.orgs, retired, revision)
                        .await?;
                    return Ok(true);
                }
                _ => {}
            }
            let retired = read.retired_by(account);
            let update =
                self.account_update(key.clone(), account, version, read.revision, &retired)?;
            let transaction = Transaction::default()
                .with(Check::Record, update)
                .with(Check::Unconditioned, self.put_audit(audit)?);
            if let TransactionOutcome::Done = self.transact(transaction).await? {
                let revision = read.revision.unwrap_or(0) + 1;
                self.write_members(&account.user_id, &account.orgs, &retired, revision)
                    .await?;
                return Ok(true);
            }
            backoff(attempt).await;
        }
        Err(StoreError::Conflict)
    }

    /// Puts the member items of `orgs` and deletes those of `retired`, in
    /// transactions of at most 100 items, each held to the account still
    /// being at `revision`; the last one clears [`MEMBER_SYNC`]. A later
    /// write of the account stops it: that write deletes what is left of
    /// `retired` (it carries them) and puts its own orgs.
    async fn write_members(
        &self,
        user_id: &str,
        orgs: &[OrgMembership],
        retired: &[String],
        revision: i64,
    ) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(orgs.len() + retired.len());
        let mut seen = HashSet::new();
        for m in orgs.iter().filter(|m| seen.insert(m.org_id.as_str())) {
            let item = member_item(&m.org_id, user_id, &m.role);
            writes.push(self.put(item, None, Item::new())?);
        }
        for org in retired.iter().filter(|o| seen.insert(o.as_str())) {
            writes.push(self.delete_any(member_key(org, user_id))?);
        }
        let key = principal_key(&Owner::user(user_id));
        let batches = writes.len().div_ceil(MEMBER_WRITES_PER_TRANSACTION).max(1);
        for batch in 0..batches {
            let expression = if batch + 1 == batches {
                format!("REMOVE {MEMBER_SYNC}")
            } else {
                "SET revision = :revision".to_owned()
            };
            let hold = self.update(
                key.clone(),
                &expression,
                Some("revision = :revision"),
                HashMap::from([(":revision".to_owned(), n(revision))]),
            )?;
            let chunk = writes
                .iter()
                .skip(batch * MEMBER_WRITES_PER_TRANSACTION)
                .take(MEMBER_WRITES_PER_TRANSACTION);
            let outcome = self
                .transact_retrying(|| {
                    Ok(chunk.clone().fold(
                        Transaction::default().with(Check::Record, hold.clone()),
                        |t, write| t.with(Check::Unconditioned, write.clone()),
                    ))
                })
                .await?;
            match outcome {
                TransactionOutcome::Done => {}
                // A later write of the account: its member items are its own.
                TransactionOutcome::ConditionFailed(_) => return Ok(()),
                TransactionOutcome::Conflict => return Err(StoreError::Conflict),
            }
        }
        Ok(())
    }

    /// The account's fields, revision, version and [`MEMBER_SYNC`] (the
    /// member item deletes still due), conditioned on the revision read.
    fn account_update(
        &self,
        key: Item,
        account: &Account,
        version: Option<i64>,
        revision: Option<i64>,
        retired: &[String],
    ) -> Result<TransactWriteItem, StoreError> {
        let mut values = account_values(account);
        values.insert(":next".into(), n(revision.unwrap_or(0) + 1));
        values.insert(":member_sync".into(), member_sync_value(retired));
        let mut expression =
            format!("{ACCOUNT_UPDATE}, revision = :next, {MEMBER_SYNC} = :member_sync");
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

impl DynamoStore {
    /// Puts an org's policy item with `audit`, under `condition` (with its
    /// values) when given; `Conflict` when the condition or the
    /// transaction fails.
    async fn write_org_policy(
        &self,
        org_id: &str,
        policy: &OrgPolicy,
        condition: Option<(String, Item)>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (condition, values) = condition.unzip();
        let put = self.put(
            org_policy_item(org_id, policy),
            condition.as_deref(),
            values.unwrap_or_default(),
        )?;
        match self.write_audited(Check::Record, put, audit).await? {
            TransactionOutcome::Done => Ok(()),
            _ => Err(StoreError::Conflict),
        }
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
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :member)")
            .expression_attribute_values(":pk", s(format!("ORG#{org_id}")))
            .expression_attribute_values(":member", s(MEMBER_PREFIX))
            .consistent_read(true);
        query_all(query)
            .await?
            .iter()
            .map(OrgMember::try_from)
            .collect()
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
        read: &ServiceUser,
        changed: &ServiceUser,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let key = principal_key(&Owner::service_user(&read.id));
        let (expression, condition, values) = service_user_change(read, changed);
        let update = self.update(key.clone(), &expression, Some(&condition), values)?;
        match self.write_audited(Check::Record, update, audit).await? {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(_) => {
                match self.get_record::<ServiceUser>(key).await? {
                    // Changed since `read`: the caller reads it again.
                    Some(stored) if stored.org_id == read.org_id => Err(StoreError::Conflict),
                    _ => Err(StoreError::NotFound),
                }
            }
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

    async fn get_org_policies(
        &self,
        orgs: &[String],
    ) -> Result<std::collections::HashMap<String, OrgPolicy>, StoreError> {
        crate::store::CredentialLookup::org_policies(self, orgs).await
    }

    async fn put_org_policy(
        &self,
        org_id: &str,
        policy: &OrgPolicy,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_org_policy(org_id, policy, None, audit).await
    }

    async fn put_org_policy_if(
        &self,
        org_id: &str,
        policy: &OrgPolicy,
        read: Option<&OrgPolicy>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let unchanged = org_policy_unchanged(read);
        self.write_org_policy(org_id, policy, Some(unchanged), audit)
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
