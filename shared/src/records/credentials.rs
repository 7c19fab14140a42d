//! A credential's stored record: its owner, name, scopes, hash, lifetime,
//! revocation, allowlist, org limit, blocks and self-rotation family.

use std::str::FromStr;

use super::allowlist::IpAllowlist;
use super::approval::{ApprovalRules, ApprovalState, OrgDecisions};
use super::last_use::LastUse;
use super::primitives::{Owner, Timestamp, UnknownValue};
use super::rate_limit::RateLimit;
use crate::token::hash::{PepperVersion, TokenHash};
use crate::token::TokenId;

/// Why and by whom a token was revoked. `at` may lie in the future: a rotated
/// token keeps working through its grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: Timestamp,
    pub by: String,
    pub reason: String,
}

/// A token's state at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

/// Which tokens a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Active,
    Expired,
    Revoked,
    All,
}

impl StatusFilter {
    pub fn admits(self, status: TokenStatus) -> bool {
        matches!(
            (self, status),
            (Self::All, _)
                | (Self::Active, TokenStatus::Active)
                | (Self::Expired, TokenStatus::Expired)
                | (Self::Revoked, TokenStatus::Revoked)
        )
    }
}

impl FromStr for StatusFilter {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(Self::Active),
            "expired" => Ok(Self::Expired),
            "revoked" => Ok(Self::Revoked),
            "all" => Ok(Self::All),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// A stored credential: everything but the token itself, which is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: TokenId,
    pub owner: Owner,
    pub name: String,
    pub scopes: Vec<String>,
    pub hash: TokenHash,
    pub pepper_version: PepperVersion,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked: Option<Revocation>,
    pub last_used_at: Option<Timestamp>,
    /// Where the last recorded uses came from (written with `last_used_at`).
    pub last_use: LastUse,
    /// Org admins' blocks, approvals and denials of this PAT.
    pub org_decisions: OrgDecisions,
    /// The source networks it may be used from; empty: any.
    pub allowed_ips: IpAllowlist,
    /// Set at creation; changed by the owner (a PAT) or an org admin (a
    /// key). `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// The usage-plan sync has placed this token's API key for its rate
    /// limit in that limit's plan (REST usage plans, `UsageKey`); false
    /// with no limit, and from a change of the limit until the sync runs.
    pub usage_key_placed: bool,
    /// A PAT limited to these orgs (chosen at creation, sorted): it acts in
    /// those of them its owner still belongs to. `None`: all the owner's orgs.
    pub org_limit: Option<Vec<String>>,
    /// The first token of the chain of rotations without a session this one
    /// continues (`POST /v1/tokens/self/rotate`); `None`: it starts its own.
    /// Set once, at creation: what a leak of one of them revokes. Boxed:
    /// rarely set, and the record (copied in every authorizer future) stays
    /// 376 bytes with the rate limit (docs/performance.md).
    pub family: Option<Box<TokenId>>,
}

impl TokenRecord {
    /// Most orgs a PAT may be limited to.
    pub const MAX_ORG_LIMIT: usize = 20;

    /// `new`, this token's successor in a rotation, with the fields that can
    /// change after creation (org blocks and approvals, the allowlist, the
    /// rate limit) as this record holds them; name, scopes, org limit and
    /// lifetime the rotation chose.
    pub fn carry_to(&self, mut new: TokenRecord) -> TokenRecord {
        new.org_decisions.clone_from(&self.org_decisions);
        new.allowed_ips.clone_from(&self.allowed_ips);
        new.rate_limit = self.rate_limit;
        new
    }

    /// Where this PAT stands in each org of `rules` it reaches (its limit
    /// and blocks allowing); with no `rules` known, its stored decisions.
    pub fn approval_states<'a>(
        &'a self,
        rules: Option<&'a ApprovalRules>,
    ) -> Vec<(&'a str, ApprovalState<'a>)> {
        let approvals = &self.org_decisions;
        let Some(rules) = rules else {
            let approved = approvals
                .approved
                .iter()
                .map(|org| (org.as_str(), ApprovalState::Approved));
            let denied = approvals
                .denied
                .iter()
                .map(|d| (d.org.as_str(), ApprovalState::Denied(d)));
            let mut all: Vec<_> = approved.chain(denied).collect();
            all.sort_by_key(|(org, _)| *org);
            return all;
        };
        rules
            .iter()
            .filter(|(org, _)| self.may_act_in(org) && !self.org_decisions.blocked.contains(org))
            .map(|(org, rule)| (org.as_str(), approvals.state_in(org, *rule)))
            .filter(|(_, state)| *state != ApprovalState::NotRequired)
            .collect()
    }

    /// The chain of self-rotations this token belongs to.
    pub fn family_root(&self) -> TokenId {
        self.family.as_deref().copied().unwrap_or(self.id)
    }

    /// Whether this token may act in `org` as far as its own limit goes.
    pub fn may_act_in(&self, org: &str) -> bool {
        self.org_limit
            .as_ref()
            .is_none_or(|orgs| orgs.iter().any(|o| o == org))
    }

    /// Whether "revoke all" at `valid_after` covers this token.
    pub fn predates(&self, valid_after: Option<Timestamp>) -> bool {
        valid_after.is_some_and(|at| self.created_at <= at)
    }

    /// Revocation wins over expiry: a revoked token reads as revoked forever.
    pub fn status(&self, now: Timestamp) -> TokenStatus {
        if self.revoked.as_ref().is_some_and(|r| r.at <= now) {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

/// A record for tests: a fresh id hashed under pepper 1, `owner`'s, made
/// at `created_at`; every other field its plain value, for the test to set.
#[cfg(test)]
pub(crate) fn test_record(owner: Owner, created_at: Timestamp) -> TokenRecord {
    let token = crate::PlainToken::generate().unwrap();
    let pepper = crate::Pepper::new(PepperVersion(1), &[1; 32]).unwrap();
    TokenRecord {
        id: token.id(),
        owner,
        name: "t".into(),
        scopes: Vec::new(),
        hash: pepper.hash(&token),
        pepper_version: PepperVersion(1),
        created_at,
        expires_at: None,
        revoked: None,
        last_used_at: None,
        last_use: LastUse::default(),
        org_decisions: Default::default(),
        allowed_ips: IpAllowlist::default(),
        org_limit: None,
        family: None,
        rate_limit: None,
        usage_key_placed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_at: Option<i64>, revoked_at: Option<i64>) -> TokenRecord {
        TokenRecord {
            expires_at: expires_at.map(Timestamp),
            revoked: revoked_at.map(|at| Revocation {
                at: Timestamp(at),
                by: "user:u1".into(),
                reason: "test".into(),
            }),
            rate_limit: None,
            usage_key_placed: false,
            ..test_record(Owner::user("u1"), Timestamp(0))
        }
    }

    #[test]
    fn status_follows_expiry_and_revocation_times() {
        let now = Timestamp(100);
        assert_eq!(record(None, None).status(now), TokenStatus::Active);
        assert_eq!(record(Some(101), None).status(now), TokenStatus::Active);
        assert_eq!(record(Some(100), None).status(now), TokenStatus::Expired);
        assert_eq!(record(Some(50), Some(60)).status(now), TokenStatus::Revoked);
        // A revocation in the future (rotation grace) leaves the token active until then.
        assert_eq!(record(None, Some(150)).status(now), TokenStatus::Active);
        assert_eq!(record(None, Some(100)).status(now), TokenStatus::Revoked);
    }
}
