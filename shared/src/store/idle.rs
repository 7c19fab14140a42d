//! The idle index's port: credentials by the day they were last active
//! (used, or made if never used), and the writes the idle sweep makes
//! (`management::idle`), each conditioned on the credential being unused
//! since it was read.

use async_trait::async_trait;

use crate::records::{AuditEvent, Owner, Revocation, Timestamp, TokenRecord};
use crate::token::TokenId;

use super::StoreError;

/// One entry of a day's partition: enough to find the window that applies
/// without reading the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleCandidate {
    pub id: TokenId,
    pub owner: Owner,
    /// Whether it still keeps last-use addresses.
    pub keeps_addresses: bool,
}

/// A credential as the sweep reads it, with the idle notices it has had.
#[derive(Debug, Clone)]
pub struct IdleRecord {
    pub record: TokenRecord,
    pub notices: Vec<String>,
    /// Whether it holds a slot in its owner's counter (a revocation gives it back).
    pub holds_slot: bool,
}

/// How [`IdleIndex::place_in_idle_index`] places a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Only if it is not in the index (a token made before it existed).
    Join,
    /// Wherever it is (an entry the walk would otherwise leave behind).
    Move,
}

/// The idle index (a sparse GSI by last-active day, never a scan).
#[async_trait]
pub trait IdleIndex: Send + Sync {
    /// Credentials last active on the UTC day that contains `day`.
    async fn inactive_since(&self, day: Timestamp) -> Result<Vec<IdleCandidate>, StoreError>;

    /// Strongly consistent reads of `ids`, the ones found.
    async fn idle_records(&self, ids: &[TokenId]) -> Result<Vec<IdleRecord>, StoreError>;

    /// Records the idle notice `key` with `audit`, unless the credential
    /// had it, was used since `record` was read, or is revoked; returns
    /// whether it wrote.
    async fn record_idle_notice(
        &self,
        record: &TokenRecord,
        key: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Revokes the active credential with `audit`, unless it was used since
    /// it was read (or changed otherwise); returns whether it revoked.
    async fn revoke_idle(
        &self,
        found: &IdleRecord,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Removes the last-use details (addresses, user agent) of `record`,
    /// unless it was used since it was read.
    async fn forget_last_use(&self, record: &TokenRecord) -> Result<bool, StoreError>;

    /// Takes a credential whose life has ended out of the index.
    async fn leave_idle_index(&self, id: &TokenId) -> Result<(), StoreError>;

    /// Puts an unrevoked `record` into the index's partition of `day`, as
    /// `placement` says; returns whether it wrote.
    async fn place_in_idle_index(
        &self,
        record: &TokenRecord,
        day: Timestamp,
        placement: Placement,
    ) -> Result<bool, StoreError>;
}
