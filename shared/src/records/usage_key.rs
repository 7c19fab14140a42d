//! The API Gateway API key that puts a rate-limited credential in a usage
//! plan on REST APIs (docs/authorizer.md, "Usage plans"). One key per token
//! and limit, in the plan for that limit: a changed limit gets a new key in
//! its own plan, so no key ever moves between plans (a key in no plan is a
//! 403) and an answer cached with the old key keeps working.

use std::fmt;

use crate::records::rate_limit::RateLimit;
use crate::token::TokenId;

/// A token's key for one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsageKey {
    pub token: TokenId,
    pub limit: RateLimit,
}

/// Starts every value: `cogusage`, the token id, `r` rate, `b` burst.
const VALUE_PREFIX: &str = "cogusage";

impl UsageKey {
    /// What the authorizer returns as `usageIdentifierKey`: 28 to 35
    /// letters and digits (API Gateway takes 20 to 128). Not a secret: with
    /// the key source `AUTHORIZER`, clients cannot present a key.
    pub fn value(&self) -> String {
        format!(
            "{VALUE_PREFIX}{}r{}b{}",
            self.token,
            self.limit.per_second(),
            self.limit.burst()
        )
    }

    /// The key's name: `{prefix}-{token}-{rate}-{burst}`, which the sync
    /// lists its keys by.
    pub fn name(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}-{}",
            self.token,
            self.limit.per_second(),
            self.limit.burst()
        )
    }

    /// The key a `name` of this prefix stands for; `None` for another's.
    pub fn from_name(prefix: &str, name: &str) -> Option<Self> {
        let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
        let mut parts = rest.split('-');
        let token = parts.next()?.parse().ok()?;
        let per_second = parts.next()?.parse().ok()?;
        let burst = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        let limit = RateLimit::new(per_second, Some(burst)).ok()?;
        Some(Self { token, limit })
    }
}

/// The usage plan of one limit: `{prefix}-rate-{rate}-burst-{burst}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanName<'a> {
    pub prefix: &'a str,
    pub limit: RateLimit,
}

impl fmt::Display for PlanName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-rate-{}-burst-{}",
            self.prefix,
            self.limit.per_second(),
            self.limit.burst()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> UsageKey {
        UsageKey {
            token: "AbCdEfGh12345678".parse().unwrap(),
            limit: RateLimit::new(10_000, Some(5_000)).unwrap(),
        }
    }

    #[test]
    fn a_value_is_letters_and_digits_within_api_gateways_lengths() {
        let longest = key().value();
        assert_eq!(longest, "cogusageAbCdEfGh12345678r10000b5000");
        let shortest = UsageKey {
            limit: RateLimit::new(1, None).unwrap(),
            ..key()
        }
        .value();
        for value in [&longest, &shortest] {
            assert!((20..=128).contains(&value.len()), "{value}");
            assert!(value.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn a_name_reads_back_only_under_its_own_prefix() {
        let name = key().name("cog-prod");
        assert_eq!(name, "cog-prod-AbCdEfGh12345678-10000-5000");
        assert_eq!(UsageKey::from_name("cog-prod", &name), Some(key()));
        assert_eq!(UsageKey::from_name("cog", &name), None);
        assert_eq!(UsageKey::from_name("cog-prod", "cog-prod-x-1-1"), None);
        assert_eq!(
            UsageKey::from_name("cog-prod", "cog-prod-AbCdEfGh12345678-10-5"),
            None,
            "a burst below the rate is no limit of ours"
        );
        assert_eq!(
            PlanName {
                prefix: "cog-prod",
                limit: key().limit
            }
            .to_string(),
            "cog-prod-rate-10000-burst-5000"
        );
    }
}
