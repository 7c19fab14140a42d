//! REST usage plans, as ports: API Gateway's API keys and usage plans, which
//! throttle a rate-limited credential at a REST API (`records::UsageKey`),
//! and the mark on the token that tells the authorizer its key is placed.

use async_trait::async_trait;

use crate::records::{RateLimit, Timestamp, UsageKey};
use crate::token::TokenId;

use super::StoreError;

/// Why a control-plane call did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsagePlanError {
    /// The control plane's request quota (429), after the SDK's retries.
    #[error("throttled")]
    Throttled,
    /// A resource quota (API keys per Region, usage plans): an operator's
    /// matter; the authorizer's own bucket still applies.
    #[error("quota reached: {0}")]
    QuotaReached(String),
    /// The REST API is set up so the usage plans cannot hold: its key
    /// source is not `AUTHORIZER`, or a key sits in another plan.
    #[error("misconfigured: {0}")]
    Misconfigured(String),
    #[error("usage plan call failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait UsagePlans: Send + Sync {
    /// This system's keys: `token`'s, or with `None` every token's.
    async fn keys(&self, token: Option<&TokenId>) -> Result<Vec<UsageKey>, UsagePlanError>;

    /// Makes `key` exist, enabled, in its limit's plan (made if missing).
    async fn place(&self, key: &UsageKey) -> Result<(), UsagePlanError>;

    /// Takes `key` out of its plans and deletes it; absent already: done.
    async fn remove(&self, key: &UsageKey) -> Result<(), UsagePlanError>;

    /// Checks that each stage's API takes its keys from the authorizer
    /// (else a client could present any key), and adds the stages any of
    /// this system's plans lacks (after a stage was added or renamed).
    async fn check_stages(&self) -> Result<(), UsagePlanError>;
}

/// The token's side of a placed key.
#[async_trait]
pub trait UsageKeyMarks: Send + Sync {
    /// Marks `token`'s key for `limit` placed, if its limit is still
    /// `limit`; false: it changed since it was read (its own change
    /// brings another sync).
    async fn mark_placed(&self, token: &TokenId, limit: RateLimit) -> Result<bool, StoreError>;

    /// Removes the mark, if the token has no limit or has ended (revoked
    /// or expired by `now`); false: it has a limit again. Absent: true.
    async fn clear_placed(&self, token: &TokenId, now: Timestamp) -> Result<bool, StoreError>;
}
