//! `TokenStore`: a token's life, from creation through rotation to
//! revocation, with its slot and name kept in step in the same transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::attributes::{b, get_bool, get_opt_i64, get_opt_s, malformed, n, s};
use super::items::{allowed_ips_value, rate_limit_value, ALLOWED_IPS, RATE_LIMIT};
use super::keys::{
    counter_key, decode_cursor, encode_cursor, idle_partition, idle_sort_key, owner_key, token_key,
};
use super::last_use;
use super::paging::collect_page;
use super::schema::{IDLE_INDEX_PARTITION_KEY, IDLE_INDEX_SORT_KEY};
use super::token_writes::{unchanged_since, REPLACED_BY, REV};
use super::transaction::{backoff, Check, Transaction, TransactionOutcome, TRANSACTION_ATTEMPTS};
use super::{DynamoStore, Item};
use crate::records::{
    AuditEvent, Denial, IdempotencyRecord, IpAllowlist, LastUse, Owner, RateLimit, Revocation,
    StatusFilter, Timestamp, TokenRecord, TokenStatus,
};
use crate::store::{Follow, RevokeOutcome, RotationTerms, StoreError, TokenPage, TokenStore};
use crate::token::hash::{PepperVersion, TokenHash};
use crate::token::TokenId;

/// A token's item as read: its record, its `holds_slot` flag, and its
/// change count and successor (see [`REV`], [`REPLACED_BY`]).
struct StoredToken {
    record: TokenRecord,
    held_slot: bool,
    rev: i64,
    replaced_by: Option<TokenId>,
}

/// How many rotations a per-token change follows before giving up: each
/// needs its own request, and a chain only grows by one per rotation, but
/// a token that rotates itself can grow one without a session.
pub(super) const MAX_SUCCESSIONS: usize = 1_000;

impl DynamoStore {
    async fn read_token(&self, id: &TokenId) -> Result<Option<StoredToken>, StoreError> {
        let Some(item) = self.get_item(token_key(id)).await? else {
            return Ok(None);
        };
        let replaced_by = get_opt_s(&item, REPLACED_BY)
            .map(|id| id.parse().map_err(|_| malformed(REPLACED_BY)))
            .transpose()?;
        Ok(Some(StoredToken {
            record: TokenRecord::try_from(&item)?,
            held_slot: get_bool(&item, "holds_slot"),
            rev: get_opt_i64(&item, REV)?.unwrap_or(0),
            replaced_by,
        }))
    }

    /// Applies a per-token change (`update` of `SET`/`ADD` clauses, with
    /// `values`) to token `id` with `audit`, counting it in `rev`; and, if
    /// rotations replaced the token, to each successor as well: the old
    /// token may still be live in its grace, and the new one must not shed
    /// a block or a narrowed allowlist that raced the rotation. An allowlist
    /// or rate-limit change follows only while the successor still holds
    /// what the token had (`follow`): one set on the successor since stays.
    pub(super) async fn change_following_rotations(
        &self,
        id: &TokenId,
        update: &str,
        values: &Item,
        names: &HashMap<String, String>,
        audit: &AuditEvent,
        follow: Follow,
    ) -> Result<(), StoreError> {
        // One clause per action: a change whose last clause is `ADD` takes
        // the count in it.
        let expression = if update.starts_with("ADD ") || update.contains(" ADD ") {
            format!("{update}, {REV} :one")
        } else {
            format!("{update} ADD {REV} :one")
        };
        let mut values = values.clone();
        values.insert(":one".into(), n(1));
        let (mut id, mut audit) = (*id, audit.clone());
        // The token as it was, for a change that follows only a successor
        // still like it.
        let mut expected: Option<TokenRecord> = None;
        for _ in 0..MAX_SUCCESSIONS {
            values.remove(":rev");
            let mut guard = String::new();
            if let Some(before) = &expected {
                match self.read_token(&id).await? {
                    Some(s) if follow.reaches(before, &s.record) => {
                        guard = unchanged_since(s.rev, &mut values)
                    }
                    _ => return Ok(()), // gone, or a list of its own since
                }
            }
            let last = self.update_named(
                token_key(&id),
                &expression,
                Some(&format!(
                    "attribute_exists(pk) AND attribute_not_exists({REPLACED_BY}){guard}"
                )),
                values.clone(),
                names,
            )?;
            match self.write_audited(Check::Token, last, &audit).await? {
                TransactionOutcome::Done => return Ok(()),
                TransactionOutcome::Conflict => return Err(StoreError::Conflict),
                TransactionOutcome::ConditionFailed(_) => {}
            }
            let Some(current) = self.read_token(&id).await? else {
                return match expected {
                    None => Err(StoreError::NotFound),
                    Some(_) => Ok(()),
                };
            };
            let Some(successor) = current.replaced_by else {
                continue; // changed since: try again
            };
            // Live in its grace: the change applies here, then to the successor.
            let guard = unchanged_since(current.rev, &mut values);
            let replaced = self.update_named(
                token_key(&id),
                &expression,
                Some(&format!("attribute_exists(pk){guard}")),
                values.clone(),
                names,
            )?;
            match self.write_audited(Check::Token, replaced, &audit).await? {
                TransactionOutcome::Done => {}
                TransactionOutcome::ConditionFailed(_) => continue,
                TransactionOutcome::Conflict => return Err(StoreError::Conflict),
            }
            if follow != Follow::Always {
                expected = Some(current.record);
            }
            audit = audit.carried_to(successor, &id);
            id = successor;
        }
        Err(StoreError::Conflict)
    }

    /// Sets one attribute of a token to `value` (`None`: removes it), as
    /// [`Self::change_following_rotations`] does any change.
    async fn set_following_rotations(
        &self,
        id: &TokenId,
        attribute: &str,
        value: Option<AttributeValue>,
        audit: &AuditEvent,
        follow: Follow,
    ) -> Result<(), StoreError> {
        let (update, values) = match value {
            None => (format!("REMOVE {attribute}"), HashMap::new()),
            Some(value) => (
                format!("SET {attribute} = :value"),
                HashMap::from([(":value".to_owned(), value)]),
            ),
        };
        self.change_following_rotations(id, &update, &values, &HashMap::new(), audit, follow)
            .await
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn create_token_once(
        &self,
        record: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let outcome = self
            .transact_retrying(|| {
                let mut transaction = Transaction::default()
                    .with(Check::Token, self.put_new_token(record)?)
                    .with(Check::Slot, self.take_slot(&record.owner, limit)?)
                    .with(Check::Name, self.claim_name(record, None)?);
                for audit in audits {
                    transaction = transaction.with(Check::Unconditioned, self.put_audit(audit)?);
                }
                self.with_idempotency(transaction, idempotency)
            })
            .await?;
        match outcome {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(Check::Idempotency) => {
                Err(StoreError::AlreadyExists)
            }
            TransactionOutcome::ConditionFailed(Check::Slot) => {
                Err(StoreError::LimitReached { limit })
            }
            TransactionOutcome::ConditionFailed(Check::Name) => Err(StoreError::NameTaken),
            TransactionOutcome::ConditionFailed(_) => Err(StoreError::AlreadyExists),
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }

    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        self.get_record(token_key(id)).await
    }

    async fn get_tokens(&self, ids: &[TokenId]) -> Result<Vec<TokenRecord>, StoreError> {
        let items = self
            .batch_get_all(ids.iter().map(token_key).collect())
            .await?;
        items.iter().map(TokenRecord::try_from).collect()
    }

    async fn revoke_token(
        &self,
        id: &TokenId,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<RevokeOutcome, StoreError> {
        // Read, then write conditioned on what was read; a lost race re-reads.
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let Some(StoredToken {
                record, held_slot, ..
            }) = self.read_token(id).await?
            else {
                return Err(StoreError::NotFound);
            };
            if record
                .revoked
                .as_ref()
                .is_some_and(|r| r.at <= revocation.at)
            {
                return Ok(RevokeOutcome::AlreadyRevoked);
            }
            let transaction = self.revocation(&record, held_slot, revocation, audit)?;
            match self.transact(transaction).await? {
                TransactionOutcome::Done => return Ok(RevokeOutcome::Revoked),
                TransactionOutcome::ConditionFailed(_) | TransactionOutcome::Conflict => {
                    backoff(attempt).await
                }
            }
        }
        Err(StoreError::Conflict)
    }

    async fn revoke_active_token(
        &self,
        record: &TokenRecord,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<RevokeOutcome, StoreError> {
        // An active token holds its slot (only ended ones give it back), and
        // the transaction is conditioned on the state as read: if the token
        // changed meanwhile, nothing is written and the re-reading path runs.
        if record.status(revocation.at) == TokenStatus::Active {
            let transaction = self.revocation(record, true, revocation, audit)?;
            if let TransactionOutcome::Done = self.transact(transaction).await? {
                return Ok(RevokeOutcome::Revoked);
            }
        }
        self.revoke_token(&record.id, revocation, audit).await
    }

    async fn successor(&self, id: &TokenId) -> Result<Option<TokenId>, StoreError> {
        Ok(self.read_token(id).await?.and_then(|t| t.replaced_by))
    }

    async fn get_idempotency_record(
        &self,
        key: &[u8; 32],
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read_idempotency(key).await
    }

    async fn rotate_token_once(
        &self,
        old_id: &TokenId,
        revocation: &Revocation,
        new_record: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
        terms: &RotationTerms<'_>,
    ) -> Result<TokenRecord, StoreError> {
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let Some(StoredToken {
                record: old,
                held_slot,
                rev,
                ..
            }) = self.read_token(old_id).await?
            else {
                return Err(StoreError::NotFound);
            };
            if old.revoked.is_some() {
                return Err(StoreError::NotFound);
            }
            // The fields as stored now, not as the caller read them; the
            // write is conditioned on `rev`, so none can change in between.
            let new = old.carry_to(new_record.clone());
            let mut transaction = self.with_idempotency(
                self.rotation(&old, held_slot, rev, revocation, &new, limit, audits)?,
                terms.idempotency,
            )?;
            if let Some(valid_after) = terms.owner_valid_after {
                transaction =
                    transaction.with(Check::Owner, self.owner_unchanged(&old.owner, valid_after)?);
            }
            match self.transact(transaction).await? {
                TransactionOutcome::Done => return Ok(new),
                TransactionOutcome::ConditionFailed(Check::NewToken | Check::Idempotency) => {
                    return Err(StoreError::AlreadyExists)
                }
                TransactionOutcome::ConditionFailed(Check::Slot) => {
                    return Err(StoreError::LimitReached { limit })
                }
                TransactionOutcome::ConditionFailed(Check::Name) => {
                    return Err(StoreError::NameTaken)
                }
                // A "revoke all" landed since the owner was read.
                TransactionOutcome::ConditionFailed(Check::Owner) => {
                    return Err(StoreError::NotFound)
                }
                // The old token changed since it was read: read it again.
                TransactionOutcome::ConditionFailed(_) | TransactionOutcome::Conflict => {
                    backoff(attempt).await
                }
            }
        }
        Err(StoreError::Conflict)
    }

    async fn list_tokens(
        &self,
        owner: &Owner,
        filter: StatusFilter,
        now: Timestamp,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<TokenPage, StoreError> {
        let start = cursor.map(|c| decode_cursor(owner, c)).transpose()?;
        let (tokens, next_cursor) = collect_page(
            start,
            limit,
            |start| self.query_owner_index(owner_key(owner), None, Some(100), start),
            |record: &TokenRecord| filter.admits(record.status(now)),
            |last, _| Ok(encode_cursor(last)),
        )
        .await?;
        Ok(TokenPage {
            tokens,
            next_cursor,
        })
    }

    async fn active_token_count(&self, owner: &Owner) -> Result<u32, StoreError> {
        let count = match self.get_item(counter_key(owner)).await? {
            Some(item) => get_opt_i64(&item, "active")?.unwrap_or(0),
            None => 0,
        };
        u32::try_from(count).map_err(|_| malformed("active"))
    }

    async fn release_ended(&self, owner: &Owner, now: Timestamp) -> Result<u32, StoreError> {
        let ended = "attribute_exists(holds_slot) AND (expires_at <= :now OR revoked_at <= :now)";
        let mut released = 0;
        let mut start = None;
        loop {
            let output = self
                .query_owner_index(owner_key(owner), Some((ended, now)), None, start.take())
                .await?;
            for item in output.items() {
                let record = TokenRecord::try_from(item)?;
                let ended_at = match (&record.revoked, record.expires_at) {
                    (Some(revoked), Some(expiry)) => revoked.at.min(expiry),
                    (Some(revoked), None) => revoked.at,
                    (None, Some(expiry)) => expiry,
                    (None, None) => continue,
                };
                let outcome = self
                    .transact_retrying(|| self.release_slot(&record, ended_at))
                    .await?;
                if matches!(outcome, TransactionOutcome::Done) {
                    released += 1;
                }
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(released),
            }
        }
    }

    async fn touch_last_used(
        &self,
        id: &TokenId,
        at: Timestamp,
        min_interval_ms: i64,
        details: &LastUse,
    ) -> Result<bool, StoreError> {
        let mut values = HashMap::from([
            (":at".to_owned(), n(at.0)),
            (
                ":threshold".to_owned(),
                n(at.0.saturating_sub(min_interval_ms)),
            ),
        ]);
        let (mut set, remove) = last_use::touch_expression(details, &mut values);
        set.insert(0, "last_used_at = :at".to_owned());
        // The same day's partition on most writes: the idle index changes
        // at most once a day per credential.
        set.push(format!(
            "{IDLE_INDEX_PARTITION_KEY} = :idle_day, {IDLE_INDEX_SORT_KEY} = :id"
        ));
        values.insert(":idle_day".into(), s(idle_partition(at)));
        values.insert(":id".into(), s(idle_sort_key(id, !details.is_empty())));
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let condition = "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at <= :threshold)";
        self.update_if(token_key(id), &expression, condition, values)
            .await
    }

    async fn block_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let values = HashMap::from([(
            ":org".to_owned(),
            AttributeValue::Ss(vec![org_id.to_owned()]),
        )]);
        self.change_following_rotations(
            id,
            "ADD blocked_orgs :org",
            &values,
            &HashMap::new(),
            audit,
            Follow::Always,
        )
        .await
    }

    async fn decide_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        denial: Option<&Denial>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.decide_following_rotations(id, org_id, denial, audit)
            .await
    }

    async fn approve_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        over_denial: bool,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.approve_this_token(id, org_id, over_denial, audit)
            .await
    }

    async fn set_allowed_ips(
        &self,
        id: &TokenId,
        allowed_ips: &IpAllowlist,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let value = (!allowed_ips.is_empty()).then(|| allowed_ips_value(allowed_ips));
        self.set_following_rotations(id, ALLOWED_IPS, value, audit, Follow::WhileAllowlist)
            .await
    }

    async fn set_rate_limit(
        &self,
        id: &TokenId,
        rate_limit: Option<RateLimit>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let value = rate_limit.map(rate_limit_value);
        self.set_following_rotations(id, RATE_LIMIT, value, audit, Follow::WhileRateLimit)
            .await
    }

    async fn record_refused_ip(
        &self,
        id: &TokenId,
        at: Timestamp,
        min_interval_ms: i64,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = self.update(
            token_key(id),
            "SET ip_refused_at = :at",
            Some("attribute_exists(pk) AND (attribute_not_exists(ip_refused_at) OR ip_refused_at <= :threshold)"),
            HashMap::from([
                (":at".to_owned(), n(at.0)),
                (":threshold".to_owned(), n(at.0.saturating_sub(min_interval_ms))),
            ]),
        )?;
        match self.write_audited(Check::Token, update, audit).await? {
            TransactionOutcome::Done => Ok(true),
            TransactionOutcome::ConditionFailed(_) | TransactionOutcome::Conflict => Ok(false),
        }
    }

    async fn replace_hash(
        &self,
        id: &TokenId,
        old: &TokenHash,
        new: &TokenHash,
        version: PepperVersion,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let update = self.update(
            token_key(id),
            "SET #hash = :new, pepper_version = :version",
            Some("#hash = :old"),
            HashMap::<String, AttributeValue>::from([
                (":new".to_owned(), b(new.as_bytes())),
                (":old".into(), b(old.as_bytes())),
                (":version".into(), n(version.0)),
            ]),
        )?;
        let outcome = self.write_audited(Check::Token, update, audit).await?;
        Ok(matches!(outcome, TransactionOutcome::Done))
    }
}
