//! `RevocationFeed`: one item, `FEED` / `REVOCATIONS`, holding the last
//! minute's change keys as `<ms>|<key>` strings. Written by the cache
//! invalidator only (read, prune, conditional put on `ver`), read by every
//! authorizer instance. And `FlushSchedule`: credential ends by minute.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::attributes::{get_opt_i64, get_s, malformed, n, s, ttl_after};
use super::keys::key;
use super::schema::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
use super::transaction::{backoff, is_condition_failure, unavailable, TRANSACTION_ATTEMPTS};
use super::{DynamoStore, Item};
use crate::records::{ChangeKey, Timestamp};
use crate::store::feed::{FeedEntry, FeedSnapshot, RevocationFeed};
use crate::store::gateway::FlushSchedule;
use crate::store::StoreError;
use crate::token::TokenId;

pub(super) const FEED_PK: &str = "FEED";
const FEED_SK: &str = "REVOCATIONS";

fn feed_key() -> Item {
    key(FEED_PK.to_owned(), FEED_SK)
}

fn entries_of(item: &Item) -> Result<Vec<FeedEntry>, StoreError> {
    let Some(value) = item.get("entries") else {
        return Ok(Vec::new());
    };
    let list = value.as_l().map_err(|_| malformed("entries"))?;
    list.iter()
        .map(|value| {
            let text = value.as_s().map_err(|_| malformed("entries"))?;
            let (at, key) = text.split_once('|').ok_or_else(|| malformed("entries"))?;
            Ok(FeedEntry {
                at: Timestamp(at.parse().map_err(|_| malformed("entries"))?),
                key: ChangeKey::decode(key).ok_or_else(|| malformed("entries"))?,
            })
        })
        .collect()
}

impl DynamoStore {
    /// The feed and its version (0: no item yet).
    async fn feed_with_version(&self) -> Result<(FeedSnapshot, i64), StoreError> {
        let Some(item) = self.get_item(feed_key()).await? else {
            return Ok((FeedSnapshot::default(), 0));
        };
        let snapshot = FeedSnapshot {
            entries: entries_of(&item)?,
            reset_at: get_opt_i64(&item, "reset_at")?.map(Timestamp),
        };
        Ok((snapshot, get_opt_i64(&item, "ver")?.unwrap_or(0)))
    }
}

#[async_trait]
impl RevocationFeed for DynamoStore {
    async fn read_feed(&self) -> Result<FeedSnapshot, StoreError> {
        Ok(self.feed_with_version().await?.0)
    }

    async fn append_to_feed(&self, keys: &[ChangeKey], at: Timestamp) -> Result<(), StoreError> {
        for attempt in 0..=TRANSACTION_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (feed, version) = self.feed_with_version().await?;
            let feed = feed.with(keys, at);
            let mut item = feed_key();
            let entries = feed
                .entries
                .iter()
                .map(|entry| s(format!("{}|{}", entry.at.0, entry.key.encode())))
                .collect();
            item.insert("entries".into(), AttributeValue::L(entries));
            item.insert("ver".into(), n(version + 1));
            if let Some(reset) = feed.reset_at {
                item.insert("reset_at".into(), n(reset.0));
            }
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            let put = if version == 0 {
                put.condition_expression("attribute_not_exists(ver)")
            } else {
                put.condition_expression("ver = :ver")
                    .expression_attribute_values(":ver", n(version))
            };
            match put.send().await {
                Ok(_) => return Ok(()),
                Err(error) if is_condition_failure(&error) => continue,
                Err(error) => return Err(unavailable(error)),
            }
        }
        Err(StoreError::Conflict)
    }
}

/// Scheduled ends by minute: `ENDS#<minute since the epoch>` /
/// `<at ms, 20 digits>#<token id>`, gone by TTL a day later.
pub(super) const ENDS_PREFIX: &str = "ENDS#";
const MINUTE_MS: i64 = 60_000;

#[async_trait]
impl FlushSchedule for DynamoStore {
    async fn schedule_end(&self, id: &TokenId, at: Timestamp) -> Result<(), StoreError> {
        let mut item = key(
            format!("{ENDS_PREFIX}{}", at.0.div_euclid(MINUTE_MS)),
            &format!("{:020}#{id}", at.0),
        );
        item.insert(TTL_ATTRIBUTE.into(), ttl_after(at, 1));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn scheduled_ends(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, TokenId)>, StoreError> {
        let mut ends = Vec::new();
        for minute in from.0.div_euclid(MINUTE_MS)..=to.0.div_euclid(MINUTE_MS) {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :minute AND #sk BETWEEN :low AND :high")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_values(":minute", s(format!("{ENDS_PREFIX}{minute}")))
                .expression_attribute_values(":low", s(format!("{:020}#", from.0)))
                .expression_attribute_values(":high", s(format!("{:020}#~", to.0)))
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items() {
                let sk = get_s(item, SORT_KEY)?;
                let (at, id) = sk.split_once('#').ok_or_else(|| malformed(SORT_KEY))?;
                let at = Timestamp(at.parse().map_err(|_| malformed(SORT_KEY))?);
                ends.push((at, id.parse().map_err(|_| malformed(SORT_KEY))?));
            }
        }
        Ok(ends)
    }
}
