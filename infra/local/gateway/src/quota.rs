//! The control plane's request quota as a token bucket. API Gateway's
//! quota page gives management calls "Total operations: 10 requests per
//! second, burst 40" per account; cache flushes are not listed on their own,
//! so both flush paths share one bucket here.

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    rate_per_second: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket: `burst` calls at once, then `rate_per_second`.
    /// The caller passes the clock (`now`) so tests can move it.
    pub fn new(rate_per_second: f64, burst: u32, now: Instant) -> Self {
        Self {
            rate_per_second,
            burst: f64::from(burst),
            state: Mutex::new(State {
                tokens: f64::from(burst),
                refilled_at: now,
            }),
        }
    }

    /// Takes one token if there is one; `false` means throttled.
    pub fn try_take(&self, now: Instant) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A clock read before the last refill (two callers racing) adds nothing.
        let elapsed = now.saturating_duration_since(state.refilled_at);
        state.tokens =
            (state.tokens + elapsed.as_secs_f64() * self.rate_per_second).min(self.burst);
        state.refilled_at = state.refilled_at.max(now);
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn taken(bucket: &TokenBucket, now: Instant, tries: usize) -> usize {
        (0..tries).filter(|_| bucket.try_take(now)).count()
    }

    #[test]
    fn a_full_bucket_allows_the_burst_then_throttles() {
        let start = Instant::now();
        let bucket = TokenBucket::new(10.0, 40, start);
        assert_eq!(taken(&bucket, start, 100), 40);
        assert!(!bucket.try_take(start));
    }

    #[test]
    fn tokens_come_back_at_the_rate_and_never_beyond_the_burst() {
        let start = Instant::now();
        let bucket = TokenBucket::new(10.0, 40, start);
        assert_eq!(taken(&bucket, start, 40), 40);
        // 100 ms at 10/s is one token; 50 ms more is half of one.
        assert_eq!(taken(&bucket, start + Duration::from_millis(100), 5), 1);
        assert_eq!(taken(&bucket, start + Duration::from_millis(150), 5), 0);
        assert_eq!(taken(&bucket, start + Duration::from_millis(200), 5), 1);
        // One second is 10 more.
        assert_eq!(taken(&bucket, start + Duration::from_millis(1200), 50), 10);
        // An hour idle refills to the burst, not to 36,000.
        assert_eq!(taken(&bucket, start + Duration::from_secs(3600), 100), 40);
    }

    #[test]
    fn a_clock_read_out_of_order_adds_no_tokens() {
        let start = Instant::now();
        let bucket = TokenBucket::new(1.0, 1, start);
        let later = start + Duration::from_secs(5);
        assert!(bucket.try_take(later));
        assert!(!bucket.try_take(start + Duration::from_secs(4)));
        assert!(!bucket.try_take(later));
        assert!(bucket.try_take(later + Duration::from_secs(1)));
    }
}
