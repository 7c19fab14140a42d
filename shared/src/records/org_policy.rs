//! What an org's admins decide about their members' PATs: whether PATs may
//! act in the org at all, whether they need an admin's approval there, and
//! how long they may live; and how long any of its credentials may stay
//! unused.

use std::str::FromStr;

use super::approval::{ApprovalState, PatApproval};
use super::credentials::TokenRecord;
use super::primitives::UnknownValue;

/// Whether members' PATs may act in an org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatAccess {
    #[default]
    Allowed,
    Blocked,
    /// Only PATs that name this org in their org limit.
    LimitedOnly,
}

impl PatAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Blocked => "blocked",
            Self::LimitedOnly => "limited_only",
        }
    }
}

impl FromStr for PatAccess {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "allowed" => Ok(Self::Allowed),
            "blocked" => Ok(Self::Blocked),
            "limited_only" => Ok(Self::LimitedOnly),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// What an org's admins decide about their members' PATs; the default
/// allows every PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrgPolicy {
    pub pat_access: PatAccess,
    /// A PAT whose lifetime is longer (or unbounded) does not carry the org.
    pub pat_max_lifetime_days: Option<u32>,
    /// Days a credential acting in the org may stay unused before the idle
    /// sweep revokes it; `None`: the deployment's (`records::idle`).
    pub idle_expiry_days: Option<u32>,
    /// Whether a PAT waits for an admin's approval (`records::approval`).
    pub pat_approval: PatApproval,
}

impl OrgPolicy {
    /// The longest `pat_max_lifetime_days` accepted.
    pub const MAX_LIFETIME_DAYS: u32 = 3650;

    /// Its entity tag: the same for an org with no stored policy and one
    /// that stores the default, since both read alike.
    pub fn entity_tag(&self) -> String {
        let days = self
            .pat_max_lifetime_days
            .map_or_else(String::new, |d| d.to_string());
        let mut parts = vec![
            "org_policy".to_owned(),
            self.pat_access.as_str().to_owned(),
            days,
        ];
        // Unset, the tag is what it was before the setting existed.
        if let Some(idle) = self.idle_expiry_days {
            parts.push(format!("idle={idle}"));
        }
        if self.pat_approval == PatApproval::Required {
            parts.push("approval".to_owned());
        }
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        super::entity_tag(&parts)
    }

    /// Where `record`, a PAT, stands in `org` as far as approval goes.
    pub fn approval_of<'a>(&self, org: &str, record: &'a TokenRecord) -> ApprovalState<'a> {
        record.org_decisions.state_in(org, self.pat_approval)
    }

    /// Whether a PAT (`record`) that may act in `org` by its own limit
    /// may act there under this policy. Inlined: the authorizer asks it of
    /// every org a PAT acts in.
    #[inline]
    pub fn admits_pat(&self, org: &str, record: &TokenRecord) -> bool {
        if !self.approval_of(org, record).admits() {
            return false;
        }
        match self.pat_access {
            PatAccess::Blocked => return false,
            PatAccess::LimitedOnly if record.org_limit.is_none() => return false,
            PatAccess::Allowed | PatAccess::LimitedOnly => {}
        }
        let Some(days) = self.pat_max_lifetime_days else {
            return true;
        };
        record.expires_at.is_some_and(|expiry| {
            expiry.0.saturating_sub(record.created_at.0) <= i64::from(days) * crate::records::DAY_MS
        })
    }
}
