//! Per-credential rate limits, enforced in the authorizer process: one token
//! bucket per rate-limited credential it has allowed (per self-rotation
//! chain: the caller keys it by the chain's first token), refilled at the
//! credential's rate up to its burst. No I/O: no DynamoDB write per request.
//!
//! Exact for the calls one process decides. Approximate overall, and
//! docs/authorizer.md ("Rate limits") gives the bounds: each warm execution
//! environment has its own buckets, and a request API Gateway answers from
//! its cache never reaches one.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::records::{RateLimit, Timestamp};
use crate::token::TokenId;

/// Buckets kept per process; at the cap, refilled ones (and then the least
/// recently used tenth) make room.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Requests it may still make now: up to the burst.
    tokens: f64,
    at_ms: i64,
    limit: RateLimit,
}

impl Bucket {
    /// Its tokens at `now_ms`, refilled since the last request.
    fn tokens_at(&self, now_ms: i64) -> f64 {
        let elapsed_s = now_ms.saturating_sub(self.at_ms).max(0) as f64 / 1_000.0;
        let refilled = self.tokens + elapsed_s * f64::from(self.limit.per_second());
        refilled.min(f64::from(self.limit.burst()))
    }
}

/// The process's buckets.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<TokenId, Bucket>>,
}

impl RateLimiter {
    /// Whether `id` may make a request at `now` under `limit`, taking one
    /// token from its bucket if so. A changed limit applies from now on.
    pub fn admit(&self, id: &TokenId, limit: RateLimit, now: Timestamp) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(id) {
            make_room(&mut buckets, now.0);
        }
        let full = Bucket {
            tokens: f64::from(limit.burst()),
            at_ms: now.0,
            limit,
        };
        let bucket = buckets.entry(*id).or_insert(full);
        let tokens = bucket.tokens_at(now.0).min(f64::from(limit.burst()));
        *bucket = Bucket {
            tokens,
            at_ms: now.0.max(bucket.at_ms),
            limit,
        };
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Buckets held now (tests, metrics).
    pub fn tracked(&self) -> usize {
        self.buckets.lock().map_or(0, |b| b.len())
    }
}

/// Drops the buckets that have refilled (forgetting them changes nothing),
/// and if too few have, the least recently used tenth: a dropped one starts
/// again with a full burst. A tenth at a time, so the scan is paid once per
/// thousand new credentials at most, not once each.
fn make_room(buckets: &mut HashMap<TokenId, Bucket>, now_ms: i64) {
    buckets.retain(|_, b| b.tokens_at(now_ms) < f64::from(b.limit.burst()));
    if buckets.len() >= MAX_TRACKED {
        let mut used: Vec<i64> = buckets.values().map(|b| b.at_ms).collect();
        let (_, &mut cut, _) = used.select_nth_unstable(MAX_TRACKED / 10);
        buckets.retain(|_, b| b.at_ms > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::PlainToken;

    fn id() -> TokenId {
        PlainToken::generate().unwrap().id()
    }

    fn admitted(limiter: &RateLimiter, id: &TokenId, limit: RateLimit, at_ms: i64, n: u32) -> u32 {
        (0..n)
            .filter(|_| limiter.admit(id, limit, Timestamp(at_ms)))
            .count() as u32
    }

    #[test]
    fn a_burst_passes_at_once_then_the_rate_refills_it() {
        let limiter = RateLimiter::default();
        let (key, other) = (id(), id());
        let limit = RateLimit::new(10, Some(20)).unwrap();
        assert_eq!(admitted(&limiter, &key, limit, 1_000, 50), 20);
        // 0.5 s at 10/s: five more, and no more than the burst after long.
        assert_eq!(admitted(&limiter, &key, limit, 1_500, 50), 5);
        assert_eq!(admitted(&limiter, &key, limit, 601_500, 50), 20);
        // Each credential has its own bucket.
        assert_eq!(admitted(&limiter, &other, limit, 601_500, 50), 20);
    }

    #[test]
    fn a_clock_going_back_refills_nothing_and_a_lower_limit_applies_at_once() {
        let limiter = RateLimiter::default();
        let key = id();
        let wide = RateLimit::new(100, Some(100)).unwrap();
        assert_eq!(admitted(&limiter, &key, wide, 10_000, 60), 60);
        assert_eq!(admitted(&limiter, &key, wide, 5_000, 60), 40);
        let narrow = RateLimit::new(1, Some(1)).unwrap();
        assert_eq!(admitted(&limiter, &key, narrow, 12_000, 5), 1);
    }

    #[test]
    fn at_the_cap_the_least_recently_used_tenth_goes_and_a_spent_recent_bucket_stays() {
        let limiter = RateLimiter::default();
        let limit = RateLimit::new(1, Some(1)).unwrap();
        let ids: Vec<TokenId> = (0..MAX_TRACKED).map(|_| id()).collect();
        // Each spent within the first half second: none refills before 1 s.
        for (i, key) in ids.iter().enumerate() {
            assert!(limiter.admit(key, limit, Timestamp(i as i64 / 20)));
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED);
        assert!(limiter.admit(&id(), limit, Timestamp(600)));
        let tracked = limiter.tracked();
        assert!(
            (MAX_TRACKED * 8 / 10..MAX_TRACKED * 9 / 10 + 2).contains(&tracked),
            "{tracked}"
        );
        // The newest, spent, is still refused; the oldest, forgotten, gets a burst.
        assert!(!limiter.admit(ids.last().unwrap(), limit, Timestamp(600)));
        assert!(limiter.admit(&ids[0], limit, Timestamp(600)));
    }

    #[test]
    fn at_the_cap_refilled_buckets_go_first() {
        let limiter = RateLimiter::default();
        let limit = RateLimit::new(1, Some(2)).unwrap();
        for _ in 0..MAX_TRACKED {
            assert!(limiter.admit(&id(), limit, Timestamp(0)));
        }
        // After a second every one has refilled: they all go but the new one.
        assert!(limiter.admit(&id(), limit, Timestamp(1_000)));
        assert_eq!(limiter.tracked(), 1);
    }
}
