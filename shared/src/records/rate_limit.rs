//! Per-credential rate limits: requests per second with a burst, the shape
//! of API Gateway's throttles. The authorizer enforces them
//! (`authorize::rate_limits`); docs/authorizer.md says how exactly.

use std::fmt;
use std::num::NonZeroU32;

/// Why a rate limit is refused (400 `invalid_rate_limit`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("requests_per_second must be 1 to {max}", max = RateLimit::MAX_PER_SECOND)]
    PerSecond,
    #[error("burst must be at least requests_per_second (or {max} if that is more) and at most {max}", max = RateLimit::MAX_BURST)]
    Burst,
}

/// At most `per_second` requests a second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    per_second: NonZeroU32,
    burst: NonZeroU32,
}

impl RateLimit {
    /// API Gateway's default account throttle: no credential may be given more.
    pub const MAX_PER_SECOND: u32 = 10_000;
    pub const MAX_BURST: u32 = 5_000;

    /// `burst` defaults to `per_second` (capped at [`Self::MAX_BURST`]): a
    /// burst below the rate would refuse a steady client its own rate.
    pub fn new(per_second: u32, burst: Option<u32>) -> Result<Self, RateLimitError> {
        if !(1..=Self::MAX_PER_SECOND).contains(&per_second) {
            return Err(RateLimitError::PerSecond);
        }
        let burst = burst.unwrap_or(per_second.min(Self::MAX_BURST));
        if burst > Self::MAX_BURST || burst < per_second.min(Self::MAX_BURST) {
            return Err(RateLimitError::Burst);
        }
        match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
            (Some(per_second), Some(burst)) => Ok(Self { per_second, burst }),
            _ => Err(RateLimitError::PerSecond),
        }
    }

    pub fn per_second(self) -> u32 {
        self.per_second.get()
    }

    pub fn burst(self) -> u32 {
        self.burst.get()
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s burst {}", self.per_second, self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_one_to_the_gateway_maximum_and_its_burst_at_least_the_rate() {
        let limit = RateLimit::new(10, None).unwrap();
        assert_eq!((limit.per_second(), limit.burst()), (10, 10));
        assert_eq!(RateLimit::new(10, Some(50)).unwrap().burst(), 50);
        assert_eq!(RateLimit::new(10_000, None).unwrap().burst(), 5_000);
        assert_eq!(
            RateLimit::new(10_000, Some(5_000)).unwrap().to_string(),
            "10000/s burst 5000"
        );
        assert_eq!(RateLimit::new(0, None), Err(RateLimitError::PerSecond));
        assert_eq!(RateLimit::new(10_001, None), Err(RateLimitError::PerSecond));
        assert_eq!(RateLimit::new(10, Some(9)), Err(RateLimitError::Burst));
        assert_eq!(RateLimit::new(10, Some(5_001)), Err(RateLimitError::Burst));
    }
}
