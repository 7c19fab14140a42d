//! DynamoDB adapter for every storage port, on one table.
//!
//! Item layout (partition key `pk`, sort key `sk`):
//!
//! | item | pk | sk | GSI `gsi1` |
//! | --- | --- | --- | --- |
//! | token | `TOKEN#<id>` | `TOKEN` | `OWNER#<kind>#<owner>` / `<created_at ms, 20 digits>#<id>` |
//! | active-token counter | `OWNER#<kind>#<owner>` | `COUNTER` | |
//! | token name | `OWNER#<kind>#<owner>` | `NAME#<uniqueness key>` | |
//! | account | `USER#<user_id>` | `ACCOUNT` | |
//! | service user | `SVCUSER#<id>` | `SVCUSER` | |
//! | audit event | `AUDIT#OWNER#<kind>#<owner>`, or `AUDIT#SYSTEM` | `<at ms, 20 digits>#<event id>` | |
//! | pepper | `PEPPER` | `V#<version, 10 digits>` | |
//!
//! A token holds a slot in its owner's counter (attribute `holds_slot`) from
//! creation until the write that revokes it or releases its ended slot; that
//! same write gives the item its TTL, so TTL never deletes a slot holder.
//! A name item belongs to the live token that holds the name (`token_id`,
//! `expires_at`): a create or rotation claims it conditionally, a revocation
//! deletes it, and an expired holder's name may be claimed again.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::schema::{
    OWNER_INDEX, OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY, PARTITION_KEY, SORT_KEY,
    TTL_ATTRIBUTE,
};
use crate::hash::{PepperVersion, TokenHash};
use crate::records::{
    Account, AuditEvent, OrgMembership, Owner, OwnerKind, PrincipalStatus, Revocation, ServiceUser,
    StatusFilter, Timestamp, TokenRecord, TokenStatus,
};
use crate::store::{
    read_principal, AuditLog, CredentialLookup, PepperStore, Principal, PrincipalStore,
    RevokeOutcome, StoreError, StoredPepper, TokenPage, TokenStore,
};
use crate::token::TokenId;

/// Revoked and expired token records are kept this long after the later of
/// their expiry and revocation, then DynamoDB TTL removes them.
pub const TOKEN_RETENTION_DAYS: i64 = 90;
/// Audit events are kept this long.
pub const AUDIT_RETENTION_DAYS: i64 = 400;
/// Attempts for a transaction that DynamoDB cancels for a conflicting one.
const TRANSACTION_ATTEMPTS: u32 = 12;

type Item = HashMap<String, AttributeValue>;

/// Every storage port over one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

// ---- keys -------------------------------------------------------------------

fn token_pk(id: &TokenId) -> String {
    format!("TOKEN#{id}")
}
const TOKEN_SK: &str = "TOKEN";
const COUNTER_SK: &str = "COUNTER";
const ACCOUNT_SK: &str = "ACCOUNT";
const SERVICE_USER_SK: &str = "SVCUSER";
const PEPPER_PK: &str = "PEPPER";

fn owner_key(owner: &Owner) -> String {
    format!("OWNER#{}#{}", owner.kind.as_str(), owner.id)
}

fn created_sort_key(created_at: Timestamp, id: &TokenId) -> String {
    format!("{:020}#{id}", created_at.0.max(0))
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(pk)),
        (SORT_KEY.to_owned(), s(sk)),
    ])
}

fn token_key(id: &TokenId) -> Item {
    key(token_pk(id), TOKEN_SK)
}

fn principal_key(owner: &Owner) -> Item {
    match owner.kind {
        OwnerKind::User => key(format!("USER#{}", owner.id), ACCOUNT_SK),
        OwnerKind::ServiceUser => key(format!("SVCUSER#{}", owner.id), SERVICE_USER_SK),
    }
}

fn counter_key(owner: &Owner) -> Item {
    key(owner_key(owner), COUNTER_SK)
}

fn name_key(owner: &Owner, name: &str) -> Item {
    key(
        owner_key(owner),
        &format!("NAME#{}", crate::names::uniqueness_key(name)),
    )
}

/// What the authorize path reads in place of an owner for an unknown token
/// id, so unknown and known ids cost the same two sequential reads of items
/// of about the same size: pepper v1, which every table has.
fn decoy_owner_key() -> Item {
    key(PEPPER_PK.to_owned(), &pepper_sort_key(PepperVersion(1)))
}

// ---- attribute values ---------------------------------------------------------

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn malformed(what: &str) -> StoreError {
    StoreError::Malformed(what.to_owned())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| malformed(name))
}

fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn get_opt_i64(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| malformed(name)),
    }
}

fn get_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    get_opt_i64(item, name)?.ok_or_else(|| malformed(name))
}

fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

fn get_bytes<'a>(item: &'a Item, name: &str) -> Result<&'a [u8], StoreError> {
    item.get(name)
        .and_then(|v| v.as_b().ok())
        .map(Blob::as_ref)
        .ok_or_else(|| malformed(name))
}

fn ttl_after(at: Timestamp, days: i64) -> AttributeValue {
    n(at.plus_seconds(days * 86_400).as_seconds())
}

// ---- errors -----------------------------------------------------------------

/// A storage fault, described by its kind and error code only: SDK errors'
/// `Debug` text can carry request and response bodies.
fn unavailable<E>(error: SdkError<E>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    StoreError::Unavailable(super::sdk_error_summary(&error))
}

fn build_error(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("request build: {error}"))
}

/// Which item of a transaction refused its condition: each position is named
/// by what it guards, never by its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
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
    /// An item that carries no condition (audit events).
    Unconditioned,
}

/// The items of one `TransactWriteItems`, each with the check it stands for.
#[derive(Default)]
struct Transaction {
    items: Vec<TransactWriteItem>,
    checks: Vec<Check>,
}

impl Transaction {
    fn with(mut self, check: Check, item: TransactWriteItem) -> Self {
        self.items.push(item);
        self.checks.push(check);
        self
    }
}

/// How DynamoDB ended a transaction.
enum TransactionOutcome {
    Done,
    ConditionFailed(Check),
    /// Another transaction touched the same items: try again.
    Conflict,
}

/// Whether a single-item write failed only its condition.
fn is_condition_failure<E>(error: &SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// Attribute names the expressions use by placeholder (`ttl` and `hash` are reserved words).
fn expression_names(expressions: &[&str]) -> Option<HashMap<String, String>> {
    let mut names = HashMap::new();
    for (placeholder, name) in [
        ("#ttl", TTL_ATTRIBUTE),
        ("#hash", "hash"),
        ("#status", "status"),
    ] {
        if expressions.iter().any(|e| e.contains(placeholder)) {
            names.insert(placeholder.to_owned(), name.to_owned());
        }
    }
    // DynamoDB refuses unused names, and an empty map.
    (!names.is_empty()).then_some(names)
}

impl DynamoStore {
    async fn transact(&self, transaction: Transaction) -> Result<TransactionOutcome, StoreError> {
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
                if let Some(index) = reasons
                    .iter()
                    .position(|r| r.code() == Some("ConditionalCheckFailed"))
                {
                    let check = transaction.checks.get(index).copied();
                    return Ok(TransactionOutcome::ConditionFailed(
                        check.unwrap_or(Check::Unconditioned),
                    ));
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
    async fn transact_retrying(
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
    async fn create_audited(&self, item: Item, audit: &AuditEvent) -> Result<(), StoreError> {
        let put = self.put(item, Some("attribute_not_exists(pk)"), Item::new())?;
        match self.write_audited(Check::Record, put, audit).await? {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(_) => Err(StoreError::AlreadyExists),
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }

    /// One write and its audit event, in one transaction (retried on conflicts).
    async fn write_audited(
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

    fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An audit event: never conditioned, never overwrites (its key is unique).
    fn put_audit(&self, event: &AuditEvent) -> Result<TransactWriteItem, StoreError> {
        self.put(audit_item(event), None, Item::new())
    }

    fn update(
        &self,
        key: Item,
        expression: &str,
        condition: Option<&str>,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .set_expression_attribute_names(expression_names(&[
                expression,
                condition.unwrap_or_default(),
            ]))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn delete(
        &self,
        key: Item,
        condition: &str,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Counts one more active token for `owner`, refusing past `limit`.
    fn take_slot(&self, owner: &Owner, limit: u32) -> Result<TransactWriteItem, StoreError> {
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

    fn give_back_slot(&self, owner: &Owner) -> Result<TransactWriteItem, StoreError> {
        self.update(
            counter_key(owner),
            "SET active = active - :one",
            Some("active >= :one"),
            HashMap::from([(":one".into(), n(1))]),
        )
    }

    /// Claims `record`'s name for it: refused while another live token holds
    /// it; `previous` may hand it over (rotation).
    fn claim_name(
        &self,
        record: &TokenRecord,
        now: Timestamp,
        previous: Option<&TokenId>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = name_key(&record.owner, &record.name);
        item.insert("token_id".into(), s(record.id.as_str()));
        let mut values = HashMap::from([(":now".to_owned(), n(now.0))]);
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
        self.update(
            token_key(&record.id),
            "SET revoked_at = :at, revoked_by = :by, revoke_reason = :reason, #ttl = :ttl REMOVE holds_slot",
            Some(&format!(
                "attribute_exists(pk) AND {revoked_condition} AND {}",
                slot_condition(held_slot)
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
    ) -> Result<TransactWriteItem, StoreError> {
        self.update(
            token_key(&record.id),
            "SET revoked_at = :at, revoked_by = :by, revoke_reason = :reason",
            Some("attribute_exists(pk) AND attribute_not_exists(revoked_at) AND attribute_exists(holds_slot)"),
            HashMap::from([
                (":at".to_owned(), n(revocation.at.0)),
                (":by".into(), s(&revocation.by)),
                (":reason".into(), s(&revocation.reason)),
            ]),
        )
    }

    async fn get_token_item(&self, id: &TokenId) -> Result<Option<Item>, StoreError> {
        self.get_item(token_key(id)).await
    }

    /// A strongly consistent `GetItem`.
    async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
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
}

fn slot_condition(held_slot: bool) -> &'static str {
    if held_slot {
        "attribute_exists(holds_slot)"
    } else {
        "attribute_not_exists(holds_slot)"
    }
}

async fn backoff(attempt: u32) {
    use rand::Rng;
    let cap_ms = 10u64 << attempt.min(5);
    let wait = rand::rng().random_range(1..=cap_ms);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

// ---- item conversions --------------------------------------------------------

fn token_item(record: &TokenRecord) -> Item {
    let mut item = token_key(&record.id);
    item.insert("owner_kind".into(), s(record.owner.kind.as_str()));
    item.insert("owner_id".into(), s(&record.owner.id));
    item.insert("name".into(), s(&record.name));
    item.insert(
        "scopes".into(),
        AttributeValue::L(record.scopes.iter().map(s).collect()),
    );
    item.insert(
        "hash".into(),
        AttributeValue::B(Blob::new(record.hash.as_bytes().to_vec())),
    );
    item.insert("pepper_version".into(), n(record.pepper_version.0));
    item.insert("created_at".into(), n(record.created_at.0));
    item.insert("holds_slot".into(), AttributeValue::Bool(true));
    item.insert(
        OWNER_INDEX_PARTITION_KEY.into(),
        s(owner_key(&record.owner)),
    );
    item.insert(
        OWNER_INDEX_SORT_KEY.into(),
        s(created_sort_key(record.created_at, &record.id)),
    );
    // No TTL: the item holds a slot (see the module doc).
    if let Some(expires_at) = record.expires_at {
        item.insert("expires_at".into(), n(expires_at.0));
    }
    if let Some(revoked) = &record.revoked {
        item.insert("revoked_at".into(), n(revoked.at.0));
        item.insert("revoked_by".into(), s(&revoked.by));
        item.insert("revoke_reason".into(), s(&revoked.reason));
    }
    if let Some(last_used_at) = record.last_used_at {
        item.insert("last_used_at".into(), n(last_used_at.0));
    }
    item
}

fn token_from_item(item: &Item) -> Result<TokenRecord, StoreError> {
    let pk = get_s(item, PARTITION_KEY)?;
    let id: TokenId = pk
        .strip_prefix("TOKEN#")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| malformed("pk"))?;
    let owner_kind: OwnerKind = get_s(item, "owner_kind")?
        .parse()
        .map_err(|_| malformed("owner_kind"))?;
    let scopes = item
        .get("scopes")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| malformed("scopes"))?
        .iter()
        .map(|v| v.as_s().cloned().map_err(|_| malformed("scopes")))
        .collect::<Result<Vec<_>, _>>()?;
    let hash = TokenHash::from_bytes(get_bytes(item, "hash")?).ok_or_else(|| malformed("hash"))?;
    let pepper_version =
        u32::try_from(get_i64(item, "pepper_version")?).map_err(|_| malformed("pepper_version"))?;
    let revoked = get_opt_i64(item, "revoked_at")?.map(|at| Revocation {
        at: Timestamp(at),
        by: get_opt_s(item, "revoked_by").unwrap_or_default(),
        reason: get_opt_s(item, "revoke_reason").unwrap_or_default(),
    });
    Ok(TokenRecord {
        id,
        owner: Owner {
            kind: owner_kind,
            id: get_s(item, "owner_id")?.to_owned(),
        },
        name: get_s(item, "name")?.to_owned(),
        scopes,
        hash,
        pepper_version: PepperVersion(pepper_version),
        created_at: Timestamp(get_i64(item, "created_at")?),
        expires_at: get_opt_i64(item, "expires_at")?.map(Timestamp),
        revoked,
        last_used_at: get_opt_i64(item, "last_used_at")?.map(Timestamp),
    })
}

fn audit_partition(owner: Option<&Owner>) -> String {
    match owner {
        Some(owner) => format!("AUDIT#{}", owner_key(owner)),
        None => "AUDIT#SYSTEM".to_owned(),
    }
}

fn audit_item(event: &AuditEvent) -> Item {
    let mut item = key(
        audit_partition(event.owner.as_ref()),
        &format!("{:020}#{}", event.at.0.max(0), event.id),
    );
    item.insert("event_id".into(), s(&event.id));
    item.insert("at".into(), n(event.at.0));
    item.insert("actor".into(), s(&event.actor));
    item.insert("action".into(), s(&event.action));
    if let Some(owner) = &event.owner {
        item.insert("owner_kind".into(), s(owner.kind.as_str()));
        item.insert("owner_id".into(), s(&owner.id));
    }
    if let Some(token_id) = &event.token_id {
        item.insert("token_id".into(), s(token_id.as_str()));
    }
    if let Some(detail) = &event.detail {
        item.insert("detail".into(), s(detail));
    }
    item.insert(
        TTL_ATTRIBUTE.into(),
        ttl_after(event.at, AUDIT_RETENTION_DAYS),
    );
    item
}

fn audit_from_item(item: &Item) -> Result<AuditEvent, StoreError> {
    let owner = match get_opt_s(item, "owner_kind") {
        None => None,
        Some(kind) => Some(Owner {
            kind: kind.parse().map_err(|_| malformed("owner_kind"))?,
            id: get_s(item, "owner_id")?.to_owned(),
        }),
    };
    let token_id = match get_opt_s(item, "token_id") {
        None => None,
        Some(text) => Some(text.parse().map_err(|_| malformed("token_id"))?),
    };
    Ok(AuditEvent {
        id: get_s(item, "event_id")?.to_owned(),
        at: Timestamp(get_i64(item, "at")?),
        actor: get_s(item, "actor")?.to_owned(),
        action: get_s(item, "action")?.to_owned(),
        owner,
        token_id,
        detail: get_opt_s(item, "detail"),
    })
}

/// The account fields an operator sets; `tokens_valid_after` is not among
/// them (only "revoke all" moves it), so a put never undoes a revoke-all.
fn account_values(account: &Account) -> Item {
    HashMap::from([
        (":user_id".to_owned(), s(&account.user_id)),
        (":status".into(), s(account.status.as_str())),
        (":sso".into(), AttributeValue::Bool(account.sso)),
        (":pat_beta".into(), AttributeValue::Bool(account.pat_beta)),
        (
            ":orgs".into(),
            AttributeValue::M(
                account
                    .orgs
                    .iter()
                    .map(|m| (m.org_id.clone(), s(&m.role)))
                    .collect(),
            ),
        ),
    ])
}

const ACCOUNT_UPDATE: &str =
    "SET user_id = :user_id, #status = :status, sso = :sso, pat_beta = :pat_beta, orgs = :orgs";

/// Reads an account. The flags that gate access fail closed: `sso` is
/// false only when stored as the boolean false, `pat_beta` true only when
/// stored as true, and a missing or unknown `status` reads as suspended.
/// Each such repair is logged; other damage is an error (never an Allow).
fn account_from_item(item: &Item) -> Result<Account, StoreError> {
    let user_id = get_s(item, "user_id")?.to_owned();
    let mut orgs = item
        .get("orgs")
        .and_then(|v| v.as_m().ok())
        .ok_or_else(|| malformed("orgs"))?
        .iter()
        .map(|(org_id, role)| {
            Ok(OrgMembership {
                org_id: org_id.clone(),
                role: role.as_s().map_err(|_| malformed("orgs"))?.clone(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    orgs.sort();
    let sso = match item.get("sso") {
        Some(AttributeValue::Bool(sso)) => *sso,
        _ => {
            tracing::warn!(
                user_id,
                field = "sso",
                "unreadable account flag: treated as SSO"
            );
            true
        }
    };
    let pat_beta = match item.get("pat_beta") {
        Some(AttributeValue::Bool(beta)) => *beta,
        _ => {
            tracing::warn!(
                user_id,
                field = "pat_beta",
                "unreadable account flag: treated as off"
            );
            false
        }
    };
    Ok(Account {
        status: status_failing_closed(item, &user_id),
        user_id,
        sso,
        pat_beta,
        orgs,
        tokens_valid_after: get_opt_i64(item, "tokens_valid_after")?.map(Timestamp),
    })
}

fn status_failing_closed(item: &Item, principal: &str) -> PrincipalStatus {
    match item
        .get("status")
        .and_then(|v| v.as_s().ok())
        .map(|s| s.parse())
    {
        Some(Ok(status)) => status,
        _ => {
            tracing::warn!(
                principal,
                field = "status",
                "unreadable status: treated as suspended"
            );
            PrincipalStatus::Suspended
        }
    }
}

fn service_user_item(user: &ServiceUser) -> Item {
    let mut item = principal_key(&Owner::service_user(&user.id));
    item.insert("service_user_id".into(), s(&user.id));
    item.insert("name".into(), s(&user.name));
    item.insert("org_id".into(), s(&user.org_id));
    item.insert("role".into(), s(&user.role));
    item.insert("status".into(), s(user.status.as_str()));
    if let Some(at) = user.tokens_valid_after {
        item.insert("tokens_valid_after".into(), n(at.0));
    }
    item
}

fn service_user_from_item(item: &Item) -> Result<ServiceUser, StoreError> {
    let id = get_s(item, "service_user_id")?.to_owned();
    Ok(ServiceUser {
        name: get_s(item, "name")?.to_owned(),
        org_id: get_s(item, "org_id")?.to_owned(),
        role: get_s(item, "role")?.to_owned(),
        status: status_failing_closed(item, &id),
        tokens_valid_after: get_opt_i64(item, "tokens_valid_after")?.map(Timestamp),
        id,
    })
}

fn pepper_sort_key(version: PepperVersion) -> String {
    format!("V#{:010}", version.0)
}

fn pepper_item(pepper: &StoredPepper) -> Item {
    let mut item = key(PEPPER_PK.to_owned(), &pepper_sort_key(pepper.version));
    item.insert("version".into(), n(pepper.version.0));
    item.insert(
        "ciphertext".into(),
        AttributeValue::B(Blob::new(pepper.ciphertext.clone())),
    );
    item.insert("kms_key_id".into(), s(&pepper.kms_key_id));
    item.insert("created_at".into(), n(pepper.created_at.0));
    item.insert("retired".into(), AttributeValue::Bool(pepper.retired));
    item
}

fn pepper_from_item(item: &Item) -> Result<StoredPepper, StoreError> {
    Ok(StoredPepper {
        version: PepperVersion(
            u32::try_from(get_i64(item, "version")?).map_err(|_| malformed("version"))?,
        ),
        ciphertext: get_bytes(item, "ciphertext")?.to_vec(),
        kms_key_id: get_s(item, "kms_key_id")?.to_owned(),
        created_at: Timestamp(get_i64(item, "created_at")?),
        retired: get_bool(item, "retired"),
    })
}

// ---- cursors ----------------------------------------------------------------

/// A cursor is the GSI sort key of the last token returned, base64url'd. The
/// owner is never in it: it always comes from the caller.
fn encode_cursor(record: &TokenRecord) -> String {
    URL_SAFE_NO_PAD.encode(created_sort_key(record.created_at, &record.id))
}

fn decode_cursor(owner: &Owner, cursor: &str) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let sort_key = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (created, id) = sort_key.split_once('#').ok_or(StoreError::InvalidCursor)?;
    if created.len() != 20 || !created.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::InvalidCursor);
    }
    let id: TokenId = id.parse().map_err(|_| StoreError::InvalidCursor)?;
    let mut start = token_key(&id);
    start.insert(OWNER_INDEX_PARTITION_KEY.into(), s(owner_key(owner)));
    start.insert(OWNER_INDEX_SORT_KEY.into(), s(sort_key));
    Ok(start)
}

// ---- ports ------------------------------------------------------------------

#[async_trait]
impl TokenStore for DynamoStore {
    async fn create_token(
        &self,
        record: &TokenRecord,
        limit: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let outcome = self
            .transact_retrying(|| {
                Ok(Transaction::default()
                    .with(
                        Check::Token,
                        self.put(
                            token_item(record),
                            Some("attribute_not_exists(pk)"),
                            Item::new(),
                        )?,
                    )
                    .with(Check::Slot, self.take_slot(&record.owner, limit)?)
                    .with(
                        Check::Name,
                        self.claim_name(record, record.created_at, None)?,
                    )
                    .with(Check::Unconditioned, self.put_audit(audit)?))
            })
            .await?;
        match outcome {
            TransactionOutcome::Done => Ok(()),
            TransactionOutcome::ConditionFailed(Check::Slot) => {
                Err(StoreError::LimitReached { limit })
            }
            TransactionOutcome::ConditionFailed(Check::Name) => Err(StoreError::NameTaken),
            TransactionOutcome::ConditionFailed(_) => Err(StoreError::AlreadyExists),
            TransactionOutcome::Conflict => Err(StoreError::Conflict),
        }
    }

    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        self.get_token_item(id)
            .await?
            .map(|item| token_from_item(&item))
            .transpose()
    }

    async fn revoke_token(
        &self,
        id: &TokenId,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<RevokeOutcome, StoreError> {
        // Read, then write conditioned on what was read; a lost race re-reads.
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let Some(item) = self.get_token_item(id).await? else {
                return Err(StoreError::NotFound);
            };
            let record = token_from_item(&item)?;
            if record
                .revoked
                .as_ref()
                .is_some_and(|r| r.at <= revocation.at)
            {
                return Ok(RevokeOutcome::AlreadyRevoked);
            }
            let held_slot = get_bool(&item, "holds_slot");
            let mut transaction = Transaction::default().with(
                Check::Token,
                self.revoke_update(&record, held_slot, revocation)?,
            );
            if held_slot {
                transaction = transaction.with(Check::Slot, self.give_back_slot(&record.owner)?);
            }
            // A live, never-revoked token holds its name; one in a rotation's
            // grace has passed it on, and an expired one may have lost it.
            if record.revoked.is_none() && record.status(revocation.at) == TokenStatus::Active {
                transaction = transaction.with(Check::Name, self.free_name(&record)?);
            }
            let transaction = transaction.with(Check::Unconditioned, self.put_audit(audit)?);
            match self.transact(transaction).await? {
                TransactionOutcome::Done => return Ok(RevokeOutcome::Revoked),
                TransactionOutcome::ConditionFailed(_) | TransactionOutcome::Conflict => {
                    backoff(attempt).await
                }
            }
        }
        Err(StoreError::Conflict)
    }

    async fn rotate_token(
        &self,
        old_id: &TokenId,
        revocation: &Revocation,
        new_record: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let grace = revocation.at > new_record.created_at;
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let Some(item) = self.get_token_item(old_id).await? else {
                return Err(StoreError::NotFound);
            };
            let old = token_from_item(&item)?;
            if old.revoked.is_some() {
                return Err(StoreError::NotFound);
            }
            let held_slot = get_bool(&item, "holds_slot");
            let old_update = if grace && held_slot {
                self.schedule_revocation(&old, revocation)?
            } else {
                self.revoke_update(&old, held_slot, revocation)?
            };
            let mut transaction = Transaction::default()
                .with(Check::Token, old_update)
                .with(
                    Check::NewToken,
                    self.put(
                        token_item(new_record),
                        Some("attribute_not_exists(pk)"),
                        Item::new(),
                    )?,
                )
                .with(
                    Check::Name,
                    self.claim_name(new_record, new_record.created_at, Some(&old.id))?,
                );
            // Without grace the new token takes over the old one's slot; a
            // token in grace still counts, so the new one needs its own.
            if grace || !held_slot {
                transaction =
                    transaction.with(Check::Slot, self.take_slot(&new_record.owner, limit)?);
            }
            for audit in audits {
                transaction = transaction.with(Check::Unconditioned, self.put_audit(audit)?);
            }
            match self.transact(transaction).await? {
                TransactionOutcome::Done => return Ok(()),
                TransactionOutcome::ConditionFailed(Check::NewToken) => {
                    return Err(StoreError::AlreadyExists)
                }
                TransactionOutcome::ConditionFailed(Check::Slot) => {
                    return Err(StoreError::LimitReached { limit })
                }
                TransactionOutcome::ConditionFailed(Check::Name) => {
                    return Err(StoreError::NameTaken)
                }
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
        let limit = limit.max(1);
        let mut start = cursor.map(|c| decode_cursor(owner, c)).transpose()?;
        let mut tokens = Vec::with_capacity(limit);
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OWNER_INDEX)
                .key_condition_expression("gsi1pk = :owner")
                .expression_attribute_values(":owner", s(owner_key(owner)))
                .scan_index_forward(false)
                .limit(100)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items() {
                let record = token_from_item(item)?;
                if filter.admits(record.status(now)) {
                    tokens.push(record);
                    if tokens.len() == limit {
                        // More may follow this item; the cursor resumes after it.
                        let next_cursor = tokens.last().map(encode_cursor);
                        return Ok(TokenPage {
                            tokens,
                            next_cursor,
                        });
                    }
                }
            }
            match output.last_evaluated_key {
                Some(key) => start = Some(key),
                None => {
                    return Ok(TokenPage {
                        tokens,
                        next_cursor: None,
                    })
                }
            }
        }
    }

    async fn active_token_count(&self, owner: &Owner) -> Result<u32, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(owner)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let count = match output.item {
            Some(item) => get_opt_i64(&item, "active")?.unwrap_or(0),
            None => 0,
        };
        u32::try_from(count).map_err(|_| malformed("active"))
    }

    async fn release_ended(&self, owner: &Owner, now: Timestamp) -> Result<u32, StoreError> {
        let mut released = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OWNER_INDEX)
                .key_condition_expression("gsi1pk = :owner")
                .filter_expression(
                    "attribute_exists(holds_slot) AND (expires_at <= :now OR revoked_at <= :now)",
                )
                .expression_attribute_values(":owner", s(owner_key(owner)))
                .expression_attribute_values(":now", n(now.0))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items() {
                let record = token_from_item(item)?;
                let ended_at = match (&record.revoked, record.expires_at) {
                    (Some(revoked), Some(expiry)) => revoked.at.min(expiry),
                    (Some(revoked), None) => revoked.at,
                    (None, Some(expiry)) => expiry,
                    (None, None) => continue,
                };
                let release = self.update(
                    token_key(&record.id),
                    "SET #ttl = :ttl REMOVE holds_slot",
                    Some("attribute_exists(holds_slot)"),
                    HashMap::from([(":ttl".to_owned(), ttl_after(ended_at, TOKEN_RETENTION_DAYS))]),
                )?;
                let outcome = self
                    .transact_retrying(|| {
                        Ok(Transaction::default()
                            .with(Check::Token, release.clone())
                            .with(Check::Slot, self.give_back_slot(owner)?))
                    })
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
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(token_key(id)))
            .update_expression("SET last_used_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at <= :threshold)",
            )
            .expression_attribute_values(":at", n(at.0))
            .expression_attribute_values(":threshold", n(at.0.saturating_sub(min_interval_ms)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
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
            HashMap::from([
                (
                    ":new".to_owned(),
                    AttributeValue::B(Blob::new(new.as_bytes().to_vec())),
                ),
                (
                    ":old".into(),
                    AttributeValue::B(Blob::new(old.as_bytes().to_vec())),
                ),
                (":version".into(), n(version.0)),
            ]),
        )?;
        let outcome = self.write_audited(Check::Token, update, audit).await?;
        Ok(matches!(outcome, TransactionOutcome::Done))
    }
}

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
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(principal_key(&Owner::user(user_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.as_ref().map(account_from_item).transpose()
    }

    async fn create_service_user(
        &self,
        user: &ServiceUser,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.create_audited(service_user_item(user), audit).await
    }

    async fn get_service_user(&self, id: &str) -> Result<Option<ServiceUser>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(principal_key(&Owner::service_user(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.as_ref().map(service_user_from_item).transpose()
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

#[async_trait]
impl CredentialLookup for DynamoStore {
    async fn token_and_owner(
        &self,
        id: &TokenId,
        owner_hint: Option<&Owner>,
    ) -> Result<(Option<TokenRecord>, Option<Principal>), StoreError> {
        let Some(hint) = owner_hint else {
            let Some(record) = self.get_token(id).await? else {
                // A known id costs a second read (its owner) and its parsing:
                // so does an unknown one.
                if let Some(decoy) = self.get_item(decoy_owner_key()).await? {
                    let _ = std::hint::black_box(pepper_from_item(&decoy));
                }
                return Ok((None, None));
            };
            let principal = read_principal(self, &record.owner).await?;
            return Ok((Some(record), principal));
        };
        // One round trip for both records, strongly consistent.
        let keys = KeysAndAttributes::builder()
            .keys(token_key(id))
            .keys(principal_key(hint))
            .consistent_read(true)
            .build()
            .map_err(build_error)?;
        let output = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await
            .map_err(unavailable)?;
        let throttled = output
            .unprocessed_keys()
            .is_some_and(|keys| keys.values().any(|k| !k.keys().is_empty()));
        if throttled {
            return self.token_and_owner(id, None).await;
        }
        let items = output
            .responses()
            .and_then(|tables| tables.get(&self.table))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut record = None;
        let mut principal = None;
        for item in items {
            match get_s(item, SORT_KEY)? {
                TOKEN_SK => record = Some(token_from_item(item)?),
                ACCOUNT_SK => principal = Some(Principal::User(account_from_item(item)?)),
                SERVICE_USER_SK => {
                    principal = Some(Principal::Service(service_user_from_item(item)?))
                }
                _ => return Err(malformed("sk")),
            }
        }
        match record {
            None => Ok((None, None)),
            Some(record) if record.owner == *hint => Ok((Some(record), principal)),
            // Owners never change, so a stale hint means a bug upstream: read the real owner.
            Some(record) => {
                let principal = read_principal(self, &record.owner).await?;
                Ok((Some(record), principal))
            }
        }
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn audit_events(
        &self,
        owner: Option<&Owner>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(audit_partition(owner)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.items().iter().map(audit_from_item).collect()
    }
}

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
        output.items().iter().map(pepper_from_item).collect()
    }

    async fn retire_pepper(
        &self,
        version: PepperVersion,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let update = self.update(
            key(PEPPER_PK.to_owned(), &pepper_sort_key(version)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The item `put_account` leaves for a new account.
    fn account_item(account: &Account) -> Item {
        let mut item = principal_key(&Owner::user(&account.user_id));
        for (placeholder, value) in account_values(account) {
            item.insert(placeholder[1..].to_owned(), value);
        }
        item
    }

    fn record() -> TokenRecord {
        let token = crate::PlainToken::generate().unwrap();
        let pepper = crate::Pepper::new(PepperVersion(3), &[9; 32]).unwrap();
        TokenRecord {
            id: token.id(),
            owner: Owner::user("u_1"),
            name: "laptop".into(),
            scopes: vec!["read".into(), "write".into()],
            hash: pepper.hash(&token),
            pepper_version: PepperVersion(3),
            created_at: Timestamp(1_700_000_000_000),
            expires_at: Some(Timestamp(1_800_000_000_000)),
            revoked: Some(Revocation {
                at: Timestamp(1_750_000_000_000),
                by: "user:u_1".into(),
                reason: "lost".into(),
            }),
            last_used_at: Some(Timestamp(1_710_000_000_000)),
        }
    }

    #[test]
    fn token_items_round_trip() {
        let record = record();
        assert_eq!(token_from_item(&token_item(&record)).unwrap(), record);
    }

    #[test]
    fn token_items_never_hold_the_token_text() {
        let token = crate::PlainToken::generate().unwrap();
        let mut record = record();
        record.id = token.id();
        let debug = format!("{:?}", token_item(&record));
        assert!(!debug.contains(&token.expose_secret()[20..52]));
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let record = record();
        let owner = Owner::user("u_1");
        let start = decode_cursor(&owner, &encode_cursor(&record)).unwrap();
        assert_eq!(
            start.get(PARTITION_KEY).unwrap().as_s().unwrap(),
            &token_pk(&record.id)
        );
        for bad in [
            "",
            "!!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("1#0123456789ABCDEF"),
        ] {
            assert!(
                matches!(decode_cursor(&owner, bad), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }

    #[test]
    fn accounts_and_audit_events_round_trip() {
        let account = Account {
            user_id: "u_1".into(),
            status: PrincipalStatus::Active,
            sso: false,
            pat_beta: true,
            orgs: vec![
                OrgMembership {
                    org_id: "a".into(),
                    role: "admin".into(),
                },
                OrgMembership {
                    org_id: "b".into(),
                    role: "member".into(),
                },
            ],
            tokens_valid_after: None,
        };
        assert_eq!(account_from_item(&account_item(&account)).unwrap(), account);
        let event = AuditEvent::new("user:u_1", "token.create", Owner::user("u_1"), Timestamp(5))
            .for_token(record().id)
            .with_detail("x");
        assert_eq!(audit_from_item(&audit_item(&event)).unwrap(), event);
    }
}
