//! The storage ports: small traits the handlers depend on. The DynamoDB
//! adapter lives in [`crate::aws::dynamodb`]; an in-memory one for unit tests
//! in [`crate::memory`] (feature `test-util`).

use async_trait::async_trait;

use crate::hash::{PepperVersion, TokenHash};
use crate::records::{
    Account, AuditEvent, Owner, Revocation, ServiceUser, StatusFilter, Timestamp, TokenRecord,
};
use crate::token::TokenId;

/// A storage fault or a refused conditional write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with this key exists already (conditional create refused).
    #[error("record already exists")]
    AlreadyExists,
    /// The owner holds as many active tokens as allowed.
    #[error("active token limit of {limit} reached")]
    LimitReached { limit: u32 },
    /// The record is not there (for operations that need it to be).
    #[error("record not found")]
    NotFound,
    /// The pagination cursor was not made by this store.
    #[error("invalid cursor")]
    InvalidCursor,
    /// Optimistic concurrency gave up after retries.
    #[error("concurrent update conflict")]
    Conflict,
    /// A stored item could not be read as a record (corrupt or foreign data).
    #[error("malformed stored item: {0}")]
    Malformed(String),
    /// DynamoDB (or the transport) failed; the caller must fail closed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// One page of a listing, newest first.
#[derive(Debug, Clone)]
pub struct TokenPage {
    pub tokens: Vec<TokenRecord>,
    /// Opaque; pass back to get the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What a revoke did. Revoking is idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    AlreadyRevoked,
}

/// Token records.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new record (never overwriting an id), counts it against its
    /// owner's `limit` of active tokens, and writes `audit`, all in one transaction.
    async fn create_token(
        &self,
        record: &TokenRecord,
        limit: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// A strongly consistent read, for the authorize path.
    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError>;

    /// Marks the token revoked and writes `audit` in one transaction;
    /// idempotent (a second call answers `AlreadyRevoked` and writes nothing).
    async fn revoke_token(
        &self,
        id: &TokenId,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<RevokeOutcome, StoreError>;

    /// Revokes `old_id` and creates `new_record` in one transaction: either
    /// both happen or neither. The new token takes the old one's place in the count.
    async fn rotate_token(
        &self,
        old_id: &TokenId,
        revocation: &Revocation,
        new_record: &TokenRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The owner's tokens, newest first, filtered by status at `now`.
    async fn list_tokens(
        &self,
        owner: &Owner,
        filter: StatusFilter,
        now: Timestamp,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<TokenPage, StoreError>;

    /// How many tokens currently count against the owner's limit.
    async fn active_token_count(&self, owner: &Owner) -> Result<u32, StoreError>;

    /// Frees the limit slots of the owner's expired tokens; returns how many.
    async fn release_expired(&self, owner: &Owner, now: Timestamp) -> Result<u32, StoreError>;

    /// Sets `last_used_at = at` unless it was set after `at - min_interval_ms`.
    /// Returns whether it wrote.
    async fn touch_last_used(
        &self,
        id: &TokenId,
        at: Timestamp,
        min_interval_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Replaces the hash if it is still `old` (lazy re-hash under a newer pepper).
    async fn replace_hash(
        &self,
        id: &TokenId,
        old: &TokenHash,
        new: &TokenHash,
        version: PepperVersion,
    ) -> Result<bool, StoreError>;
}

/// Accounts and service users.
#[async_trait]
pub trait PrincipalStore: Send + Sync {
    async fn put_account(&self, account: &Account) -> Result<(), StoreError>;
    async fn get_account(&self, user_id: &str) -> Result<Option<Account>, StoreError>;
    /// Creates a service user; refuses an existing id.
    async fn create_service_user(
        &self,
        user: &ServiceUser,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn get_service_user(&self, id: &str) -> Result<Option<ServiceUser>, StoreError>;
}

/// The audit trail, newest first.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn audit_events(
        &self,
        owner: &Owner,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}

/// A pepper as stored: only KMS ciphertext, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPepper {
    pub version: PepperVersion,
    pub ciphertext: Vec<u8>,
    pub kms_key_id: String,
    pub created_at: Timestamp,
    pub retired: bool,
}

/// The stored pepper ring (ciphertexts).
#[async_trait]
pub trait PepperStore: Send + Sync {
    /// Adds a version; refuses one that exists (concurrent rotations cannot clash).
    async fn add_pepper(&self, pepper: &StoredPepper) -> Result<(), StoreError>;
    /// Every stored version, oldest first, retired ones included.
    async fn list_peppers(&self) -> Result<Vec<StoredPepper>, StoreError>;
    async fn retire_pepper(&self, version: PepperVersion) -> Result<(), StoreError>;
    /// How many unrevoked, unexpired tokens are hashed under `version`.
    async fn live_tokens_with_pepper(
        &self,
        version: PepperVersion,
        now: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// The record of whoever a token acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(Account),
    Service(ServiceUser),
}

/// The authorize path's one read: a token and its owner, strongly consistent.
#[async_trait]
pub trait CredentialLookup: Send + Sync {
    /// `owner_hint` is the owner this process saw for `id` before. A token's
    /// owner never changes, so with the hint the store can fetch both records
    /// in one round trip; it still checks the token's owner against the hint.
    async fn token_and_owner(
        &self,
        id: &TokenId,
        owner_hint: Option<&Owner>,
    ) -> Result<(Option<TokenRecord>, Option<Principal>), StoreError>;
}

/// Reads the owner of `owner` through the principal store.
pub async fn read_principal(
    store: &(impl PrincipalStore + ?Sized),
    owner: &Owner,
) -> Result<Option<Principal>, StoreError> {
    Ok(match owner.kind {
        crate::records::OwnerKind::User => store.get_account(&owner.id).await?.map(Principal::User),
        crate::records::OwnerKind::ServiceUser => store
            .get_service_user(&owner.id)
            .await?
            .map(Principal::Service),
    })
}
