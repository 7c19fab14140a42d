//! REST usage plans as the authorizer takes part in them: which API key a
//! REST answer names (docs/authorizer.md, "Usage plans").

use cog_tokens::authorize::Identity;
use cog_tokens::records::UsageKey;

/// REST usage plans (`USAGE_PLAN_DEFAULT_KEY`, docs/authorizer.md "Usage
/// plans"). On, every REST answer names an API key as
/// `usageIdentifierKey`: the token's own once the usage-plan sync has
/// placed it in its limit's plan, else the default key (a plan with no
/// throttle of its own), since a method that requires a key refuses a
/// request without one. Off (default), no answer names a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsagePlanKeys {
    default_key: Option<String>,
}

impl UsagePlanKeys {
    /// On, with `default_key` (an API key value: 20 to 128 letters and digits).
    pub fn with_default_key(default_key: &str) -> Result<Self, String> {
        let valid = (20..=128).contains(&default_key.len())
            && default_key.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err("an API key value: 20 to 128 letters and digits".into());
        }
        Ok(Self {
            default_key: Some(default_key.to_owned()),
        })
    }

    pub fn is_on(&self) -> bool {
        self.default_key.is_some()
    }

    /// The key `identity`'s requests count against, when on.
    pub fn key_for(&self, identity: &Identity) -> Option<String> {
        let default_key = self.default_key.as_ref()?;
        Some(match identity.usage_key {
            Some(limit) => UsageKey {
                token: identity.token_id,
                limit,
            }
            .value(),
            None => default_key.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use cog_tokens::records::{Owner, RateLimit};

    use super::*;

    fn identity(usage_key: Option<RateLimit>) -> Identity {
        Identity {
            owner: Owner::user("ann"),
            token_id: "AbCdEfGh12345678".parse().unwrap(),
            scopes: vec![],
            orgs: vec![],
            usage_key,
        }
    }

    #[test]
    fn usage_plans_name_the_placed_key_else_the_default_and_nothing_when_off() {
        let limit = RateLimit::new(5, Some(10)).ok();
        assert_eq!(UsagePlanKeys::default().key_for(&identity(limit)), None);

        let on = UsagePlanKeys::with_default_key("cogusagedefault0123456789").unwrap();
        assert_eq!(
            on.key_for(&identity(None)).as_deref(),
            Some("cogusagedefault0123456789")
        );
        assert_eq!(
            on.key_for(&identity(limit)).as_deref(),
            Some("cogusageAbCdEfGh12345678r5b10")
        );
    }

    #[test]
    fn a_default_key_must_be_an_api_key_value() {
        for bad in ["short1234", "has-a-dash-0123456789", &"x".repeat(129)] {
            assert!(UsagePlanKeys::with_default_key(bad).is_err(), "{bad}");
        }
    }
}
