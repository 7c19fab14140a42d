//! The storage ports: small traits the handlers depend on. The DynamoDB
//! adapter lives in [`crate::aws::dynamodb`]; an in-memory one for unit tests
//! in [`crate::memory`] (feature `test-util`).
//!
//! Layer 3: the ports (`TokenStore`, `TokenScan`, `PrincipalStore`,
//! `CredentialLookup`, `AuditLog`, `RateLimiter`, `expiry::ExpiryIndex`, `idle::IdleIndex`, `feed::RevocationFeed`,
//! `gateway::GatewayCache`, `usage_plans::{UsagePlans, UsageKeyMarks}`,
//! `pepper::PepperSource` with the ring it feeds) and `StoreError`. May
//! import `records`, `token`.

use std::collections::HashMap;

use async_trait::async_trait;

pub mod expiry;
pub mod feed;
pub mod gateway;
pub mod idle;
pub mod pepper;
pub mod usage_plans;

use crate::records::audit::{AuditFilter, AuditPage, AuditScope};
use crate::records::{
    Account, AuditEvent, Denial, IdempotencyRecord, IpAllowlist, LastUse, OrgMember, OrgMembership,
    OrgPolicy, Owner, OwnerKind, PrincipalStatus, RateLimit, Revocation, ServiceUser, StatusFilter,
    Timestamp, TokenRecord,
};
use crate::token::hash::{PepperVersion, TokenHash};
use crate::token::TokenId;

/// A storage fault or a refused conditional write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with this key exists already (conditional create refused).
    #[error("record already exists")]
    AlreadyExists,
    /// The owner has a live token of this name (compared as
    /// [`crate::records::names::uniqueness_key`]).
    #[error("name taken")]
    NameTaken,
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

/// One page of an org's service users, newest first.
#[derive(Debug, Clone)]
pub struct ServiceUserPage {
    pub service_users: Vec<ServiceUser>,
    /// Opaque; pass back to get the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Which successors a change made through a rotated token (live in its
/// grace) reaches as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Every one: a block or a denial must not be shed by a rotation.
    Always,
    /// Those still holding the allowlist the token had: one set on the
    /// successor since stays its own.
    WhileAllowlist,
    /// Likewise for the rate limit.
    WhileRateLimit,
}

impl Follow {
    /// Whether a change through `before` (as it was) reaches `successor`.
    pub fn reaches(self, before: &TokenRecord, successor: &TokenRecord) -> bool {
        match self {
            Self::Always => true,
            Self::WhileAllowlist => successor.allowed_ips == before.allowed_ips,
            Self::WhileRateLimit => successor.rate_limit == before.rate_limit,
        }
    }
}

/// What a rotation's transaction is conditioned on besides the old token.
#[derive(Debug, Clone, Copy, Default)]
pub struct RotationTerms<'a> {
    /// Stored with the new token; refused while a record holds its key.
    pub idempotency: Option<&'a IdempotencyRecord>,
    /// The owner's `tokens_valid_after` as read (`Some(None)`: unset),
    /// which must still hold.
    pub owner_valid_after: Option<Option<Timestamp>>,
}

/// What a revoke did. Revoking is idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    AlreadyRevoked,
}

/// Token records.
///
/// Slots: a token holds one of its owner's `limit` slots from creation until
/// the write that revokes it or releases its ended (expired, or revoked at a
/// time now past) slot. Only that same write gives the item a TTL, so DynamoDB
/// can never delete an item that still holds a slot: the count cannot drift.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new record (never overwriting an id), takes one of its owner's
    /// `limit` slots, claims its name among the owner's live tokens
    /// ([`StoreError::NameTaken`]), and writes `audit`, all in one transaction.
    async fn create_token(
        &self,
        record: &TokenRecord,
        limit: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.create_token_once(record, limit, std::slice::from_ref(audit), None)
            .await
    }

    /// [`create_token`](Self::create_token) with `audits` (the creation's,
    /// then its approval requests: at most 95 in all), and `idempotency`
    /// stored in the same transaction: refused ([`StoreError::AlreadyExists`])
    /// while an unexpired record holds its key, so one key issues once.
    async fn create_token_once(
        &self,
        record: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;

    /// The record an `Idempotency-Key` left, by its key, expired or not
    /// (strongly consistent).
    async fn get_idempotency_record(
        &self,
        key: &[u8; 32],
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// A strongly consistent read, for the authorize path.
    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError>;

    /// Strongly consistent reads of many tokens (batched); the ones found.
    async fn get_tokens(&self, ids: &[TokenId]) -> Result<Vec<TokenRecord>, StoreError>;

    /// Ends the token's life at `revocation.at` and writes `audit` in one
    /// transaction. A token already revoked at or before that time answers
    /// `AlreadyRevoked` and nothing is written; a later revocation (a rotation's
    /// grace) is brought forward.
    async fn revoke_token(
        &self,
        id: &TokenId,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<RevokeOutcome, StoreError>;

    /// [`revoke_token`](Self::revoke_token) for a `record` just read and
    /// active: one write, no second read, unless the token changed since
    /// (then as `revoke_token`). For batches (leak reports).
    async fn revoke_active_token(
        &self,
        record: &TokenRecord,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<RevokeOutcome, StoreError>;

    /// Revokes `old_id` at `revocation.at` and creates `new_record` (which takes
    /// over the name) in one transaction: either both happen or neither. With
    /// a grace period (`revocation.at` after the new token's creation) the old
    /// token keeps its slot until then and the new one takes another, within
    /// `limit`. `audits` are written in the same transaction. The new token
    /// gets the old one's org blocks and allowlist as stored when the write
    /// commits (never older), and is returned as stored; a block or an
    /// allowlist change made later through the old id reaches it too.
    async fn rotate_token(
        &self,
        old_id: &TokenId,
        revocation: &Revocation,
        new_record: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
    ) -> Result<TokenRecord, StoreError> {
        let terms = RotationTerms::default();
        self.rotate_token_once(old_id, revocation, new_record, limit, audits, &terms)
            .await
    }

    /// [`rotate_token`](Self::rotate_token) under `terms`: an idempotency
    /// record stored in the same transaction, as
    /// [`create_token_once`](Self::create_token_once); and for a rotation
    /// without a session, the condition that the owner's "revoke all"
    /// watermark is still as read (else `NotFound`, like a token ended).
    async fn rotate_token_once(
        &self,
        old_id: &TokenId,
        revocation: &Revocation,
        new_record: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
        terms: &RotationTerms<'_>,
    ) -> Result<TokenRecord, StoreError>;

    /// The token a rotation replaced `id` with, if one did (strongly
    /// consistent). Final once `id` is revoked: a revoked token cannot rotate.
    async fn successor(&self, id: &TokenId) -> Result<Option<TokenId>, StoreError>;

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

    /// Frees the slots of the owner's tokens whose life has ended by `now`
    /// (expired, or revoked at a time now past); returns how many.
    async fn release_ended(&self, owner: &Owner, now: Timestamp) -> Result<u32, StoreError>;

    /// Sets `last_used_at = at` and the last-use `details` unless it was
    /// set after `at - min_interval_ms`. Returns whether it wrote.
    async fn touch_last_used(
        &self,
        id: &TokenId,
        at: Timestamp,
        min_interval_ms: i64,
        details: &LastUse,
    ) -> Result<bool, StoreError>;

    /// Blocks a PAT in `org_id` (idempotent), with `audit`: it no longer
    /// carries that org; nor does any token a rotation replaced it with.
    /// `NotFound` when the token does not exist.
    async fn block_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Records an org admin's decision on a PAT in `org_id`, with `audit`:
    /// an approval (`denial` `None`) or a denial, each replacing the other;
    /// on it and on any token a rotation replaced it with.
    /// `NotFound` when the token does not exist.
    async fn decide_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        denial: Option<&Denial>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Approves a PAT in `org_id`, with `audit`: on this token only, and
    /// only while it has not been rotated or revoked, and (unless
    /// `over_denial`) is not denied there. Whether it wrote: `false` when
    /// one of those no longer held, or the token does not exist.
    async fn approve_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        over_denial: bool,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Replaces the token's IP allowlist (empty: any address), with `audit`,
    /// on it and on any token a rotation replaced it with.
    /// `NotFound` when the token does not exist.
    async fn set_allowed_ips(
        &self,
        id: &TokenId,
        allowed_ips: &IpAllowlist,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Replaces the token's rate limit (`None`: unlimited), with `audit`, on
    /// it and on any token a rotation replaced it with.
    /// `NotFound` when the token does not exist.
    async fn set_rate_limit(
        &self,
        id: &TokenId,
        rate_limit: Option<RateLimit>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Records a request refused for its source address: writes `audit`
    /// unless this token's last such record is after `at - min_interval_ms`.
    /// Returns whether it wrote.
    async fn record_refused_ip(
        &self,
        id: &TokenId,
        at: Timestamp,
        min_interval_ms: i64,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Replaces the hash if it is still `old` (lazy re-hash under a newer
    /// pepper), writing `audit` in the same transaction.
    async fn replace_hash(
        &self,
        id: &TokenId,
        old: &TokenHash,
        new: &TokenHash,
        version: PepperVersion,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
}

/// Which tokens an operator's scan selects: every condition given holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenScanFilter {
    /// Hashed under this pepper version.
    pub pepper_version: Option<PepperVersion>,
    /// Created strictly after this time.
    pub created_after: Option<Timestamp>,
    /// Created strictly before this time.
    pub created_before: Option<Timestamp>,
    /// A PAT limited to exactly this one org (its org limit names no other).
    pub limited_to_org: Option<String>,
    /// Active at this time: neither revoked at or before it nor expired.
    pub active_at: Option<Timestamp>,
}

impl TokenScanFilter {
    /// Whether `record` passes every condition. Adapters may also push the
    /// conditions down to storage, but always apply this to what they read.
    pub fn admits(&self, record: &TokenRecord) -> bool {
        self.pepper_version
            .is_none_or(|version| record.pepper_version == version)
            && self
                .created_after
                .is_none_or(|after| record.created_at > after)
            && self
                .created_before
                .is_none_or(|before| record.created_at < before)
            && self.limited_to_org.as_ref().is_none_or(|org| {
                record.owner.kind == crate::records::OwnerKind::User
                    && record.org_limit.as_deref() == Some(std::slice::from_ref(org))
            })
            && self
                .active_at
                .is_none_or(|now| record.status(now) == crate::records::TokenStatus::Active)
    }
}

/// Every token record of the store, in no particular order: for operator
/// commands (mass revocation, pepper retirement, restore reconciliation),
/// never a request path. Its cost grows with the whole table.
#[async_trait]
pub trait TokenScan: Send + Sync {
    /// One page of the scan: the tokens `filter` admits among the next at
    /// most `limit` stored items read (so a page may hold none and still
    /// have a cursor; only `next_cursor: None` ends the scan). Strongly
    /// consistent reads.
    async fn scan_tokens(
        &self,
        filter: &TokenScanFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<TokenPage, StoreError>;
}

/// Accounts and service users.
#[async_trait]
pub trait PrincipalStore: Send + Sync {
    /// Creates or changes an account, writing `audit` in the same transaction.
    /// The account's `tokens_valid_after` is kept as stored (only
    /// [`revoke_tokens_before`](Self::revoke_tokens_before) moves it).
    async fn put_account(&self, account: &Account, audit: &AuditEvent) -> Result<(), StoreError>;
    async fn get_account(&self, user_id: &str) -> Result<Option<Account>, StoreError>;
    /// Every member of an org (kept with each account write).
    async fn org_members(&self, org_id: &str) -> Result<Vec<OrgMember>, StoreError>;
    /// Writes an account from the directory, with `audit`, unless the stored
    /// one carries a later version; the same version only finishes the member
    /// items a failed write of it left. Returns whether it wrote. Like
    /// [`put_account`](Self::put_account), never moves `tokens_valid_after`.
    async fn put_account_version(
        &self,
        account: &Account,
        version: i64,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Creates a service user and counts it against its org's `limit`
    /// ([`StoreError::LimitReached`]; the count never goes down, disabled
    /// service users still count); refuses an existing id.
    async fn create_service_user(
        &self,
        user: &ServiceUser,
        limit: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn get_service_user(&self, id: &str) -> Result<Option<ServiceUser>, StoreError>;
    /// Changes a service user from `read` (as read before) to `changed`, with
    /// `audit`: writes only the fields in which they differ (name, role,
    /// status; never its org, creation time or watermark), and only while
    /// all three are still as read, so a stale read undoes no concurrent
    /// change and `If-Match` holds to the write.
    /// `Conflict` when they are not (read again); `NotFound` when it does not
    /// exist in `read`'s org.
    async fn update_service_user(
        &self,
        read: &ServiceUser,
        changed: &ServiceUser,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// An org's service users, newest first, optionally of one status.
    async fn list_service_users(
        &self,
        org_id: &str,
        status: Option<PrincipalStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ServiceUserPage, StoreError>;
    async fn get_org_policy(&self, org_id: &str) -> Result<Option<OrgPolicy>, StoreError>;
    /// The stored policies of `orgs` (batched); an org with none is left out.
    async fn get_org_policies(
        &self,
        orgs: &[String],
    ) -> Result<HashMap<String, OrgPolicy>, StoreError>;
    /// Replaces an org's PAT policy, with `audit`.
    async fn put_org_policy(
        &self,
        org_id: &str,
        policy: &OrgPolicy,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// As [`PrincipalStore::put_org_policy`], only while the stored policy
    /// is still `read` (`None`: none is stored); `Conflict` when it is not.
    async fn put_org_policy_if(
        &self,
        org_id: &str,
        policy: &OrgPolicy,
        read: Option<&OrgPolicy>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Revokes, at once and completely, every token of `owner` created at or
    /// before `at` (the owner record's `tokens_valid_after`, which the
    /// authorizer checks), writing `audit` in the same transaction.
    /// `NotFound` when the owner has no record.
    async fn revoke_tokens_before(
        &self,
        owner: &Owner,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}

/// Fixed-window request counters (the public revoke route's per-IP limit).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `key` in the window that starts at
    /// `window_start`; `false` once `limit` requests were counted in it.
    async fn admit(
        &self,
        key: &str,
        window_start: Timestamp,
        window_seconds: i64,
        limit: u32,
    ) -> Result<bool, StoreError>;
}

/// The audit trail, newest first.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// `owner`'s events, or with `None` the system's (the pepper ring).
    async fn audit_events(
        &self,
        owner: Option<&Owner>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// One page of an owner's or an org's trail, newest first, filtered.
    async fn audit_page(
        &self,
        scope: &AuditScope,
        filter: AuditFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AuditPage, StoreError>;
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
    /// Adds a version and writes `audit`; refuses one that exists (concurrent
    /// rotations cannot clash).
    async fn add_pepper(&self, pepper: &StoredPepper, audit: &AuditEvent)
        -> Result<(), StoreError>;
    /// Every stored version, oldest first, retired ones included.
    async fn list_peppers(&self) -> Result<Vec<StoredPepper>, StoreError>;
    async fn retire_pepper(
        &self,
        version: PepperVersion,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
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

impl Principal {
    /// Tokens created at or before this time were revoked by "revoke all".
    pub fn tokens_valid_after(&self) -> Option<Timestamp> {
        match self {
            Self::User(account) => account.tokens_valid_after,
            Self::Service(user) => user.tokens_valid_after,
        }
    }

    /// The memberships `record` acts with, if this principal is its owner
    /// and may act through it: an account that may hold PATs, or an active
    /// service user (in its one org, with its role). "Revoke all" is
    /// [`Principal::tokens_valid_after`]'s, checked apart.
    pub fn memberships_for(self, record: &TokenRecord) -> Option<Vec<OrgMembership>> {
        match (record.owner.kind, self) {
            (OwnerKind::User, Self::User(account))
                if account.user_id == record.owner.id && account.may_use_pats() =>
            {
                Some(account.orgs)
            }
            (OwnerKind::ServiceUser, Self::Service(user))
                if user.id == record.owner.id && user.status == PrincipalStatus::Active =>
            {
                Some(vec![OrgMembership {
                    org_id: user.org_id,
                    role: user.role,
                }])
            }
            _ => None,
        }
    }
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

    /// The stored PAT policies of `orgs` (one round trip); an org without
    /// one is absent from the answer.
    async fn org_policies(&self, orgs: &[String])
        -> Result<HashMap<String, OrgPolicy>, StoreError>;
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
