//! The usage-plan sync: keeps each rate-limited token's API key in its
//! limit's usage plan (REST APIs, `records::UsageKey`), off the request path.
//! Driven by the lifecycle events of a token's creation, change or end (a
//! rule on the credential bus: the table's stream has its two readers
//! already) and an hourly reconcile of every key this system holds, which
//! removes a live token's keys for limits it no longer has, and the keys of
//! tokens that ended with no event of their own (a rotation's grace
//! running out) or whose event was lost.
//!
//! One sync at a time (the function's reserved concurrency is 1): two
//! side by side could remove a key the other had just marked again.
//!
//! The order keeps every answer valid: a key is placed before the token is
//! marked (the authorizer names its own key only when marked), and a mark
//! is cleared, or moved to a newer key, before a key goes.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::records::{AuditAction, Timestamp, TokenRecord, TokenStatus, UsageKey};
use crate::store::usage_plans::{UsageKeyMarks, UsagePlanError, UsagePlans};
use crate::store::{StoreError, TokenScan, TokenScanFilter, TokenStore};
use crate::token::TokenId;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("usage plans: {0}")]
    Plans(#[from] UsagePlanError),
}

/// What syncing one token did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Keys placed (made, or put in their plan) and marked.
    pub placed: usize,
    /// Keys deleted: superseded by a newer limit, or their token ended or
    /// lost its limit.
    pub removed: usize,
}

/// What a backfill found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backfill {
    /// Active rate-limited tokens whose key was not placed.
    pub unplaced: usize,
    /// Keys it placed (none with `dry_run`).
    pub placed: usize,
}

/// Stored items a backfill scan reads per page.
const SCAN_PAGE_ITEMS: usize = 500;

impl std::ops::AddAssign for SyncReport {
    fn add_assign(&mut self, other: Self) {
        self.placed += other.placed;
        self.removed += other.removed;
    }
}

/// Whether an event of `action` may change its token's key: its creation
/// (a rotation's new token too), a changed limit, its end.
pub fn may_change_usage_key(action: AuditAction) -> bool {
    use AuditAction as A;
    matches!(
        action,
        A::TokenCreate
            | A::TokenRotate
            | A::TokenUpdate
            | A::TokenRevoke
            | A::TokenLeaked
            | A::TokenExpired
    )
}

/// What a sync does with a live token's keys for limits it no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Superseded {
    /// Left for the reconcile (a credential event's sync).
    Kept,
    Removed,
}

#[derive(Debug)]
pub struct UsagePlanSync<S, P> {
    store: Arc<S>,
    plans: P,
}

impl<S, P> UsagePlanSync<S, P>
where
    S: TokenStore + UsageKeyMarks,
    P: UsagePlans,
{
    pub fn new(store: Arc<S>, plans: P) -> Self {
        Self { store, plans }
    }

    /// Brings `token`'s keys in line with its record as read now.
    pub async fn sync(&self, token: &TokenId, now: Timestamp) -> Result<SyncReport, SyncError> {
        self.sync_with(token, now, Superseded::Kept).await
    }

    async fn sync_with(
        &self,
        token: &TokenId,
        now: Timestamp,
        superseded: Superseded,
    ) -> Result<SyncReport, SyncError> {
        // A second pass only when the record changed under the first.
        for _ in 0..2 {
            if let Some(report) = self.try_sync(token, now, superseded).await? {
                return Ok(report);
            }
        }
        Ok(SyncReport::default())
    }

    async fn try_sync(
        &self,
        token: &TokenId,
        now: Timestamp,
        superseded: Superseded,
    ) -> Result<Option<SyncReport>, SyncError> {
        let record = self.store.get_token(token).await?;
        let live = record
            .as_ref()
            .filter(|record| record.status(now) == TokenStatus::Active);
        let wanted = live
            .and_then(|record| record.rate_limit)
            .map(|limit| UsageKey {
                token: *token,
                limit,
            });
        let placed = live.is_some_and(|record| record.usage_key_placed);
        let event = superseded == Superseded::Kept;
        // What an event's sync settles without the control plane (its
        // quota is the account's): a key placed already; a live token
        // without a limit, whose old keys wait for the reconcile; an ended
        // one that had no limit, likewise.
        if event {
            match (&record, wanted) {
                (Some(_), Some(_)) if placed => return Ok(Some(SyncReport::default())),
                (Some(ended), None) if live.is_none() && ended.rate_limit.is_none() => {
                    return Ok(Some(SyncReport::default()))
                }
                (Some(_), None) if live.is_some() => {
                    return Ok(self
                        .store
                        .clear_placed(token, now)
                        .await?
                        .then(SyncReport::default));
                }
                _ => {}
            }
        }
        // The token's keys are listed only when some may go; placing
        // checks the key itself.
        let removing = live.is_none() || !event;
        let held = match removing {
            true => self.plans.keys(Some(token)).await?,
            false => Vec::new(),
        };
        let mut report = SyncReport::default();
        if let Some(key) = wanted {
            if !placed || !held.contains(&key) {
                self.plans.place(&key).await?;
                if !self.store.mark_placed(token, key.limit).await? {
                    return Ok(None);
                }
                report.placed += 1;
            }
        } else if live.is_some() && !self.store.clear_placed(token, now).await? {
            return Ok(None);
        }
        // A live token's old keys stay until the reconcile: an answer the
        // gateway cached before the change may still name one (the cache
        // invalidator flushes it within a second), and a key in no plan is
        // a 403. An ended token's requests are refused anyway.
        if removing {
            for old in held.iter().filter(|old| Some(**old) != wanted) {
                self.plans.remove(old).await?;
                report.removed += 1;
            }
        }
        Ok(Some(report))
    }

    /// Syncs every token this system holds a key for that is out of line:
    /// one batch read of their records, control-plane calls only for those.
    pub async fn reconcile(&self, now: Timestamp) -> Result<SyncReport, SyncError> {
        self.plans.check_stages().await?;
        let mut held: BTreeMap<TokenId, Vec<UsageKey>> = BTreeMap::new();
        for key in self.plans.keys(None).await? {
            held.entry(key.token).or_default().push(key);
        }
        let ids: Vec<TokenId> = held.keys().copied().collect();
        let records: BTreeMap<TokenId, TokenRecord> = self
            .store
            .get_tokens(&ids)
            .await?
            .into_iter()
            .map(|record| (record.id, record))
            .collect();
        let mut report = SyncReport::default();
        for (token, keys) in &held {
            let in_line = records.get(token).is_some_and(|record| {
                record.usage_key_placed
                    && record.status(now) == TokenStatus::Active
                    && keys.len() == 1
                    && Some(keys[0].limit) == record.rate_limit
            });
            if !in_line {
                report += self.sync_with(token, now, Superseded::Removed).await?;
            }
        }
        Ok(report)
    }
}

impl<S, P> UsagePlanSync<S, P>
where
    S: TokenStore + UsageKeyMarks + TokenScan,
    P: UsagePlans,
{
    /// Places the key of every active rate-limited token that has none
    /// (after turning usage plans on: the reconcile walks keys that exist,
    /// not tokens). One scan of the table; `dry_run` only counts.
    pub async fn backfill(&self, now: Timestamp, dry_run: bool) -> Result<Backfill, SyncError> {
        let filter = TokenScanFilter {
            active_at: Some(now),
            ..TokenScanFilter::default()
        };
        let mut done = Backfill::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .scan_tokens(&filter, SCAN_PAGE_ITEMS, cursor.as_deref())
                .await?;
            for record in &page.tokens {
                if record.rate_limit.is_none() || record.usage_key_placed {
                    continue;
                }
                done.unplaced += 1;
                if !dry_run {
                    done.placed += self.sync(&record.id, now).await?.placed;
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(done),
            }
        }
    }
}
