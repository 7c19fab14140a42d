//! The revocation feed's port: the keys of the last minute's access changes,
//! kept in one small item, so every authorizer instance learns of them all
//! with one strongly consistent read (at most one per `FEED_INTERVAL`).

use async_trait::async_trait;

use crate::records::{ChangeKey, Timestamp};

use super::StoreError;

/// How long an entry stays in the feed. An instance that has not read the
/// feed for longer (less the clock margin) cannot know what it missed and
/// drops everything it holds.
pub const FEED_RETENTION_MS: i64 = 60_000;

/// Entries kept at most (about 35 bytes each: the item stays well under
/// DynamoDB's 400 KB, 9 read units at the very worst). Beyond it the feed
/// starts over with `reset_at` set, which tells every instance to drop all.
pub const FEED_MAX_ENTRIES: usize = 1_000;

/// How far apart two hosts' clocks may be: entries are compared with the
/// reader's clock with this much to spare.
pub const CLOCK_MARGIN_MS: i64 = 1_000;

/// One change: its key, and when the feed got it (the writer's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    pub key: ChangeKey,
    pub at: Timestamp,
}

/// The feed as one read sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedSnapshot {
    /// Oldest first.
    pub entries: Vec<FeedEntry>,
    /// When the feed last overflowed and started over.
    pub reset_at: Option<Timestamp>,
}

impl FeedSnapshot {
    /// This feed with `keys` added at `at`, entries older than the retention
    /// dropped; past `FEED_MAX_ENTRIES`, an empty feed reset at `at`.
    pub fn with(mut self, keys: &[ChangeKey], at: Timestamp) -> Self {
        let oldest = at.0 - FEED_RETENTION_MS;
        self.entries.retain(|entry| entry.at.0 >= oldest);
        self.entries.extend(keys.iter().map(|key| FeedEntry {
            key: key.clone(),
            at,
        }));
        if self.entries.len() > FEED_MAX_ENTRIES {
            self.entries.clear();
            self.reset_at = Some(at);
        }
        self
    }
}

#[async_trait]
pub trait RevocationFeed: Send + Sync {
    /// A strongly consistent read of the whole feed.
    async fn read_feed(&self) -> Result<FeedSnapshot, StoreError>;

    /// Adds `keys` (stamped `at`, the writer's clock) and prunes
    /// ([`FeedSnapshot::with`]); safe against concurrent writers.
    async fn append_to_feed(&self, keys: &[ChangeKey], at: Timestamp) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_age_out_and_an_overflow_starts_over_with_a_reset() {
        let org = |n: usize| ChangeKey::Org(format!("org{n}"));
        let feed = FeedSnapshot::default()
            .with(&[org(1)], Timestamp(1_000))
            .with(&[org(2)], Timestamp(30_000));
        assert_eq!(feed.entries.len(), 2);
        let later = feed.with(&[org(3)], Timestamp(61_500));
        let keys: Vec<_> = later.entries.iter().map(|e| e.key.clone()).collect();
        assert_eq!(keys, [org(2), org(3)], "org1 is older than 60 s");
        assert_eq!(later.reset_at, None);

        let many: Vec<_> = (0..FEED_MAX_ENTRIES).map(org).collect();
        let full = later.with(&many, Timestamp(62_000));
        assert!(full.entries.is_empty());
        assert_eq!(full.reset_at, Some(Timestamp(62_000)));
    }
}
