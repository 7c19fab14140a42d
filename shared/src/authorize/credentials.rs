//! The first cache tier: verified credentials (token record and owner) this
//! instance read, answered again with no DynamoDB read, kept exact by the
//! revocation feed. Before answering from it, the instance makes sure it
//! has read the feed within `feed_interval` and dropped what the feed names
//! since its previous read; so a change the feed holds is applied within
//! one interval, whatever API Gateway does.
//!
//! Only credentials that passed the owner check are kept (never a refusal),
//! each at most `max_age`, at most `capacity` (least recently used goes).

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::records::{ChangeKey, LastUse, Owner, Timestamp, TokenRecord};
use crate::store::feed::{
    FeedEntry, FeedSnapshot, RevocationFeed, CLOCK_MARGIN_MS, FEED_RETENTION_MS,
};
use crate::store::{Principal, StoreError};
use crate::token::TokenId;

/// The first tier's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialCacheSettings {
    pub capacity: usize,
    /// The longest an entry is served (a bound even if the feed were lost).
    pub max_age: Duration,
    /// The feed is read at most this often, and at least this often while
    /// the cache answers: the first tier's revocation delay.
    pub feed_interval: Duration,
}

impl Default for CredentialCacheSettings {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_age: Duration::from_secs(300),
            feed_interval: Duration::from_millis(250),
        }
    }
}

/// A credential as read from the store.
#[derive(Debug, Clone)]
pub struct Verified {
    pub record: TokenRecord,
    pub principal: Principal,
}

#[derive(Debug)]
struct Entry {
    verified: Verified,
    cached_at: Instant,
}

#[derive(Debug)]
struct State {
    entries: LruCache<TokenId, Entry>,
    /// Wall time just before the last feed read began (at first: when the
    /// cache was made, so the first read applies everything since; entries
    /// are inserted before any read, on the misses that make them).
    feed_read_at: Timestamp,
    /// Monotonic time of the last feed read; `None` until the first.
    feed_read_instant: Option<Instant>,
    /// The last read's entries, for the insert check.
    recent: Vec<FeedEntry>,
}

/// What applying the feed asks of the caller's other caches.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Orgs whose PAT policy changed: drop their cached policy.
    pub orgs: Vec<String>,
    pub dropped: usize,
}

#[derive(Debug)]
pub struct CredentialCache {
    settings: CredentialCacheSettings,
    state: Mutex<State>,
    /// One feed read at a time; the others wait for its result.
    refresh: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    pub fn new(settings: CredentialCacheSettings) -> Self {
        let capacity = NonZeroUsize::new(settings.capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            settings,
            state: Mutex::new(State {
                entries: LruCache::new(capacity),
                feed_read_at: Timestamp::now(),
                feed_read_instant: None,
                recent: Vec::new(),
            }),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached credential for `id`, after bringing the cache up to date
    /// with the feed if its last read is older than the interval. Only a hit
    /// reads the feed: a miss costs what it did without this cache. A feed
    /// that cannot be read empties the cache: the caller reads the store.
    pub async fn get(
        &self,
        feed: &(impl RevocationFeed + ?Sized),
        id: &TokenId,
    ) -> (Option<Verified>, Applied) {
        if !self.holds(id) {
            return (None, Applied::default());
        }
        let applied = if self.feed_is_stale() {
            self.refresh(feed).await
        } else {
            Applied::default()
        };
        let found = self.lock().entries.get(id).map(|e| e.verified.clone());
        (found, applied)
    }

    /// Whether a live entry for `id` is held (an aged one is dropped).
    fn holds(&self, id: &TokenId) -> bool {
        let mut state = self.lock();
        match state.entries.peek(id) {
            Some(entry) if entry.cached_at.elapsed() < self.settings.max_age => true,
            Some(_) => {
                state.entries.pop(id);
                false
            }
            None => false,
        }
    }

    /// Keeps a credential read from the store when the read began at
    /// `read_started` (wall clock), unless a feed entry this instance has
    /// already applied names it and may be newer than the read: the record
    /// could predate that change, and the feed would not name it again.
    pub fn insert(&self, verified: Verified, read_started: Timestamp) {
        let mut state = self.lock();
        let since = read_started.0 - CLOCK_MARGIN_MS;
        let superseded = state
            .recent
            .iter()
            .any(|entry| entry.at.0 >= since && names(&entry.key, &verified.record));
        if superseded {
            return;
        }
        let id = verified.record.id;
        state.entries.put(
            id,
            Entry {
                verified,
                cached_at: Instant::now(),
            },
        );
    }

    /// After this instance wrote (or started writing) `last_used_at`: the
    /// cached record shows it, so the next write starts from these details.
    pub fn touched(&self, id: &TokenId, at: Timestamp, details: &LastUse) {
        if let Some(entry) = self.lock().entries.peek_mut(id) {
            entry.verified.record.last_used_at = Some(at);
            entry.verified.record.last_use.clone_from(details);
        }
    }

    pub fn forget(&self, id: &TokenId) {
        self.lock().entries.pop(id);
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn feed_is_stale(&self) -> bool {
        self.lock()
            .feed_read_instant
            .is_none_or(|at| at.elapsed() >= self.settings.feed_interval)
    }

    async fn refresh(&self, feed: &(impl RevocationFeed + ?Sized)) -> Applied {
        let _one = self.refresh.lock().await;
        if !self.feed_is_stale() {
            return Applied::default();
        }
        let started = Timestamp::now();
        let instant = Instant::now();
        match feed.read_feed().await {
            Ok(snapshot) => self.apply(&snapshot, started, instant),
            Err(error) => {
                self.fail(&error);
                Applied::default()
            }
        }
    }

    /// Drops what `snapshot` names since the previous read; everything if
    /// the feed was reset since, or if the previous read is so old that
    /// entries may have aged out unseen.
    fn apply(&self, snapshot: &FeedSnapshot, started: Timestamp, instant: Instant) -> Applied {
        let mut state = self.lock();
        let since = state.feed_read_at.0 - CLOCK_MARGIN_MS;
        let gap_too_long = started.0 - state.feed_read_at.0 > FEED_RETENTION_MS - CLOCK_MARGIN_MS;
        let reset = snapshot.reset_at.is_some_and(|at| at.0 >= since);
        let mut applied = Applied::default();
        if gap_too_long || reset {
            applied.dropped = state.entries.len();
            state.entries.clear();
        }
        for entry in snapshot.entries.iter().filter(|e| e.at.0 >= since) {
            match &entry.key {
                ChangeKey::Token(id) => {
                    applied.dropped += usize::from(state.entries.pop(id).is_some());
                }
                ChangeKey::Principal(owner) => {
                    applied.dropped += drop_owner(&mut state.entries, owner);
                }
                ChangeKey::Org(org) => applied.orgs.push(org.clone()),
            }
        }
        state.feed_read_at = started;
        state.feed_read_instant = Some(instant);
        state.recent = snapshot.entries.clone();
        applied
    }

    #[cold]
    fn fail(&self, error: &StoreError) {
        tracing::warn!(error = %crate::logging::Causes(error), "revocation feed unreadable: credential cache emptied");
        let mut state = self.lock();
        state.entries.clear();
        // Read again on the next request, and accept nothing until then.
        state.feed_read_instant = None;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn names(key: &ChangeKey, record: &TokenRecord) -> bool {
    match key {
        ChangeKey::Token(id) => *id == record.id,
        ChangeKey::Principal(owner) => *owner == record.owner,
        ChangeKey::Org(_) => false,
    }
}

fn drop_owner(entries: &mut LruCache<TokenId, Entry>, owner: &Owner) -> usize {
    let ids: Vec<TokenId> = entries
        .iter()
        .filter(|(_, entry)| entry.verified.record.owner == *owner)
        .map(|(id, _)| *id)
        .collect();
    for id in &ids {
        entries.pop(id);
    }
    ids.len()
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
