//! The cache invalidator: every access change the outbox records goes to
//! the revocation feed (so each authorizer instance drops its copies within
//! one feed interval), and a narrowing one flushes API Gateway's authorizer
//! caches when an affected credential may be in them. Credentials that end
//! by time (expiry, a rotation's grace) are flushed when they end, by the
//! scheduled run.
//!
//! When a flush is needed (docs/authorizer.md, "Caching", for the proofs):
//! - "May be cached": a token is in no gateway cache if its `last_used_at`
//!   is at or before `change − TTL − interval` (the authorizer records a use
//!   before every Allow, at least once per interval). Principal and org
//!   changes may touch any of many tokens: they always flush.
//! - First flush: once every instance has applied the feed entry (its write
//!   plus one feed interval), so no instance can put a stale Allow back.
//! - Second flush: `settle` (the authorizer's deadline plus a margin) later,
//!   for answers that were computed before and were still on their way.
//! - Each stage is flushed at most once per `window`; one flush serves every
//!   need up to its start. Throttled or failed flushes are retried with
//!   backoff, then the batch fails (the event source retries, then
//!   dead-letters it, which alarms).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::records::{AccessChange, ChangeKey, Timestamp, TokenRecord};
use crate::store::expiry::ExpiryIndex;
use crate::store::feed::{RevocationFeed, CLOCK_MARGIN_MS};
use crate::store::gateway::{FlushError, FlushSchedule, GatewayCache, Stage};
use crate::store::{StoreError, TokenStore};
use crate::token::TokenId;

/// The invalidator's knobs; see the module's rules.
#[derive(Debug, Clone)]
pub struct InvalidatorSettings {
    /// Every stage whose authorizer may cache this system's answers.
    pub stages: Vec<Stage>,
    /// `AuthorizerResultTtl`; zero: the gateway caches nothing.
    pub gateway_ttl: Duration,
    /// The authorizer's `last_used_at` interval.
    pub last_used_interval: Duration,
    /// The authorizers' feed interval.
    pub feed_interval: Duration,
    /// The authorizer's deadline plus the answer's way to the gateway.
    pub settle: Duration,
    /// The least time between two flushes of one stage.
    pub window: Duration,
    /// Flush attempts before giving up (throttling, faults).
    pub flush_attempts: u32,
    /// How far ahead one scheduled run looks for credential ends.
    pub horizon: Duration,
}

impl InvalidatorSettings {
    fn ms(duration: Duration) -> i64 {
        i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
    }

    fn gateway_on(&self) -> bool {
        !self.stages.is_empty() && !self.gateway_ttl.is_zero()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InvalidationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("flushing {stage}: {error}")]
    Flush { stage: Stage, error: FlushError },
}

/// What one call did, for the log and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub fed: usize,
    pub flushes: usize,
    /// Grace ends recorded for the scheduled run.
    pub scheduled: usize,
}

pub struct Invalidator<S, G> {
    store: Arc<S>,
    gateway: G,
    settings: InvalidatorSettings,
    /// Per stage: when its last flush started.
    last_flush: HashMap<Stage, tokio::sync::Mutex<Option<Timestamp>>>,
}

impl<S, G> std::fmt::Debug for Invalidator<S, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidator")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<S, G> Invalidator<S, G>
where
    S: RevocationFeed + TokenStore + FlushSchedule + ExpiryIndex,
    G: GatewayCache,
{
    pub fn new(store: Arc<S>, gateway: G, settings: InvalidatorSettings) -> Self {
        let last_flush = settings
            .stages
            .iter()
            .map(|stage| (stage.clone(), tokio::sync::Mutex::new(None)))
            .collect();
        Self {
            store,
            gateway,
            settings,
            last_flush,
        }
    }

    /// One batch of changes from the stream.
    pub async fn on_changes(&self, changes: &[AccessChange]) -> Result<Outcome, InvalidationError> {
        let mut outcome = Outcome::default();
        let mut keys: Vec<ChangeKey> = Vec::with_capacity(changes.len());
        for change in changes {
            if !keys.contains(&change.key) {
                keys.push(change.key.clone());
            }
        }
        if keys.is_empty() {
            return Ok(outcome);
        }
        self.store.append_to_feed(&keys, Timestamp::now()).await?;
        let fed_at = Timestamp::now();
        outcome.fed = keys.len();
        let narrowing: Vec<&AccessChange> = changes.iter().filter(|c| c.narrowing).collect();
        // A rotation's grace: the old token ends later, with no write then.
        for change in &narrowing {
            if let ChangeKey::Token(id) = &change.key {
                if let Some(end) = self.later_end(id, fed_at).await? {
                    self.store.schedule_end(id, end).await?;
                    outcome.scheduled += 1;
                }
            }
        }
        if !self.settings.gateway_on() || narrowing.is_empty() {
            return Ok(outcome);
        }
        let applied_everywhere =
            fed_at.plus_millis(InvalidatorSettings::ms(self.settings.feed_interval));
        let mut flushed = false;
        for (need, always) in [
            (applied_everywhere, false),
            (
                applied_everywhere.plus_millis(InvalidatorSettings::ms(self.settings.settle)),
                true,
            ),
        ] {
            sleep_until(need).await;
            if (always && flushed) || self.any_may_be_cached(&narrowing).await? {
                outcome.flushes += self.flush_all(need).await?;
                flushed = true;
            }
        }
        Ok(outcome)
    }

    /// One scheduled run: flushes the gateway as credentials that may be
    /// cached end by time within the horizon (expiry, a rotation's grace),
    /// at their end and `settle` after it.
    pub async fn on_schedule(&self) -> Result<Outcome, InvalidationError> {
        let mut outcome = Outcome::default();
        if !self.settings.gateway_on() {
            return Ok(outcome);
        }
        let from = Timestamp::now();
        let to = from.plus_millis(InvalidatorSettings::ms(self.settings.horizon));
        let mut ends: Vec<(Timestamp, TokenRecord)> = Vec::new();
        for expiring in self.store.tokens_expiring(from, to).await? {
            if let Some(at) = expiring.record.expires_at {
                ends.push((at, expiring.record));
            }
        }
        for (at, id) in self.store.scheduled_ends(from, to).await? {
            if let Some(record) = self.store.get_token(&id).await? {
                ends.push((at, record));
            }
        }
        ends.retain(|(at, record)| self.may_be_cached(record, *at));
        ends.sort_by_key(|(at, _)| *at);
        let settle = InvalidatorSettings::ms(self.settings.settle);
        let mut needs: Vec<Timestamp> = ends
            .iter()
            .flat_map(|(at, _)| [*at, at.plus_millis(settle)])
            .collect();
        needs.sort();
        for need in needs {
            sleep_until(need).await;
            outcome.flushes += self.flush_all(need).await?;
        }
        Ok(outcome)
    }

    /// When a token revoked for later (a grace) stops working, if after now.
    async fn later_end(
        &self,
        id: &TokenId,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let record = self.store.get_token(id).await?;
        Ok(record
            .and_then(|r| r.revoked.map(|revocation| revocation.at))
            .filter(|at| *at > now))
    }

    async fn any_may_be_cached(&self, changes: &[&AccessChange]) -> Result<bool, StoreError> {
        for change in changes {
            let maybe = match &change.key {
                ChangeKey::Token(id) => match self.store.get_token(id).await? {
                    Some(record) => self.may_be_cached(&record, change.at),
                    None => false,
                },
                ChangeKey::Principal(_) | ChangeKey::Org(_) => true,
            };
            if maybe {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether an Allow for `record` answered before `at` may still be in a
    /// gateway cache: only if it was used after `at − TTL − interval`.
    fn may_be_cached(&self, record: &TokenRecord, at: Timestamp) -> bool {
        let ttl = InvalidatorSettings::ms(self.settings.gateway_ttl);
        let interval = InvalidatorSettings::ms(self.settings.last_used_interval);
        let since = at.0 - ttl - interval - CLOCK_MARGIN_MS;
        record.last_used_at.is_some_and(|used| used.0 > since)
    }

    /// Flushes every stage, each unless a flush that started at or after
    /// `need` already served it; the number of flushes made.
    async fn flush_all(&self, need: Timestamp) -> Result<usize, InvalidationError> {
        let flushes = self
            .settings
            .stages
            .iter()
            .map(|stage| self.flush_stage(stage, need));
        let mut made = 0;
        for result in futures::future::join_all(flushes).await {
            made += usize::from(result?);
        }
        Ok(made)
    }

    async fn flush_stage(&self, stage: &Stage, need: Timestamp) -> Result<bool, InvalidationError> {
        let Some(slot) = self.last_flush.get(stage) else {
            return Ok(false);
        };
        let mut last = slot.lock().await;
        if last.is_some_and(|started| started >= need) {
            return Ok(false);
        }
        if let Some(started) = *last {
            sleep_until(started.plus_millis(InvalidatorSettings::ms(self.settings.window))).await;
        }
        let started = Timestamp::now();
        let mut attempt = 0;
        loop {
            match self.gateway.flush(stage).await {
                Ok(()) => break,
                Err(FlushError::NotFound) => {
                    return Err(InvalidationError::Flush {
                        stage: stage.clone(),
                        error: FlushError::NotFound,
                    })
                }
                Err(error) if attempt + 1 >= self.settings.flush_attempts => {
                    return Err(InvalidationError::Flush {
                        stage: stage.clone(),
                        error,
                    })
                }
                Err(error) => {
                    tracing::warn!(%stage, %error, attempt, "flush failed: retrying");
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        tracing::info!(%stage, "authorizer cache flushed");
        *last = Some(started);
        Ok(true)
    }
}

/// 100 ms doubling per attempt up to 3.2 s, each with up to half again of
/// jitter, so instances throttled together do not retry together.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64 << attempt.min(5);
    let jitter = rand::rng().random_range(0..=base / 2);
    Duration::from_millis(base + jitter)
}

async fn sleep_until(at: Timestamp) {
    let wait = at.0 - Timestamp::now().0;
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
    }
}

#[cfg(test)]
#[path = "invalidation_tests.rs"]
mod tests;
