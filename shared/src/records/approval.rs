//! Org approval of PATs: an org whose policy requires it admits a member's
//! PAT only once one of its admins approved it there. The decisions live on
//! the token's own item (read anyway), so the authorizer reads nothing more.

use std::str::FromStr;

use super::primitives::{Timestamp, UnknownValue};

/// Longest reason an admin may give; the owner sees it.
pub const MAX_REASON_CHARS: usize = 500;

/// Whether an org requires its admins' approval of members' PATs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatApproval {
    #[default]
    NotRequired,
    /// A PAT carries the org only once one of its admins approved it there.
    Required,
}

impl PatApproval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequired => "not_required",
            Self::Required => "required",
        }
    }
}

impl FromStr for PatApproval {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "not_required" => Ok(Self::NotRequired),
            "required" => Ok(Self::Required),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// What a policy change that turns approval on does to the members' PATs
/// that reach the org then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExistingPats {
    /// Each is approved there (by the admin who turned it on, audited),
    /// but for those denied there before: only PATs made later wait.
    #[default]
    Approved,
    /// They wait for an approval like new ones.
    Pending,
}

impl ExistingPats {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Pending => "pending",
        }
    }
}

impl FromStr for ExistingPats {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "approved" => Ok(Self::Approved),
            "pending" => Ok(Self::Pending),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// An org admin's refusal of a PAT in their org, with the reason its owner sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub org: String,
    pub reason: String,
    /// `user:<id>` of the admin.
    pub by: String,
    pub at: Timestamp,
}

/// Org admins' decisions on a PAT (blocks, approvals, denials), kept
/// through its rotations. Boxed and absent when there are none (nearly
/// every token), so a record that holds none costs one word to move and
/// nothing to clone or drop: the authorizer moves its records several
/// times per request.
#[derive(Debug, Clone, Default)]
pub struct OrgDecisions(Option<Box<Decisions>>);

/// The decisions themselves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decisions {
    /// Orgs whose admins blocked it there (sorted): it never carries them.
    pub blocked: Vec<String>,
    /// Orgs whose admins approved it (sorted).
    pub approved: Vec<String>,
    /// Orgs whose admins denied it (sorted by org); a denial replaces an
    /// approval and the reverse.
    pub denied: Vec<Denial>,
}

static NO_DECISIONS: Decisions = Decisions {
    blocked: Vec::new(),
    approved: Vec::new(),
    denied: Vec::new(),
};

impl OrgDecisions {
    pub fn new(blocked: Vec<String>, approved: Vec<String>, denied: Vec<Denial>) -> Self {
        let decisions = Decisions {
            blocked,
            approved,
            denied,
        };
        Self((decisions != NO_DECISIONS).then(|| Box::new(decisions)))
    }

    /// The decisions to change in place.
    pub fn edit(&mut self) -> &mut Decisions {
        self.0.get_or_insert_with(Box::default)
    }
}

impl std::ops::Deref for OrgDecisions {
    type Target = Decisions;
    fn deref(&self) -> &Decisions {
        self.0.as_deref().unwrap_or(&NO_DECISIONS)
    }
}

impl PartialEq for OrgDecisions {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for OrgDecisions {}

/// Where a PAT stands in an org that requires approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalState<'a> {
    /// The org does not require approval.
    NotRequired,
    Approved,
    Pending,
    Denied(&'a Denial),
}

impl ApprovalState<'_> {
    /// Whether the PAT may act in the org as far as approval goes.
    pub fn admits(self) -> bool {
        matches!(self, Self::NotRequired | Self::Approved)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequired => "not_required",
            Self::Approved => "approved",
            Self::Pending => "pending",
            Self::Denied(_) => "denied",
        }
    }
}

/// Which PATs an org's inventory lists by their approval there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalFilter {
    Approved,
    Pending,
    Denied,
}

impl ApprovalFilter {
    pub fn admits(self, state: ApprovalState<'_>) -> bool {
        matches!(
            (self, state),
            (Self::Approved, ApprovalState::Approved)
                | (Self::Pending, ApprovalState::Pending)
                | (Self::Denied, ApprovalState::Denied(_))
        )
    }
}

impl FromStr for ApprovalFilter {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "approved" => Ok(Self::Approved),
            "pending" => Ok(Self::Pending),
            "denied" => Ok(Self::Denied),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

impl Decisions {
    /// The state in `org` under `rule`.
    pub fn state_in(&self, org: &str, rule: PatApproval) -> ApprovalState<'_> {
        if rule == PatApproval::NotRequired {
            return ApprovalState::NotRequired;
        }
        if let Some(denial) = self.denied.iter().find(|d| d.org == org) {
            ApprovalState::Denied(denial)
        } else if self.approved.iter().any(|o| o == org) {
            ApprovalState::Approved
        } else {
            ApprovalState::Pending
        }
    }
}

/// Orgs that require approval, each with its rule: what a PAT's states are
/// read against.
pub type ApprovalRules = [(String, PatApproval)];

/// An admin's reason, cleaned as user agents are (only characters that
/// show as themselves) and trimmed; `None` when too long.
pub fn clean_reason(reason: &str) -> Option<String> {
    let kept: String = reason
        .chars()
        .filter(|c| super::names::allowed(*c))
        .collect();
    let kept = kept.trim();
    (kept.chars().count() <= MAX_REASON_CHARS).then(|| kept.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pat_is_pending_until_approved_and_a_denial_replaces_nothing_silently() {
        use PatApproval::{NotRequired, Required};
        let none = OrgDecisions::default();
        assert_eq!(
            none.state_in("acme", NotRequired),
            ApprovalState::NotRequired
        );
        assert_eq!(none.state_in("acme", Required), ApprovalState::Pending);
        let approved = OrgDecisions::new(Vec::new(), vec!["acme".into()], Vec::new());
        assert!(approved.state_in("acme", Required).admits());
        assert!(!approved.state_in("globex", Required).admits());
        let denial = Denial {
            org: "acme".into(),
            reason: "no".into(),
            by: "user:admin".into(),
            at: Timestamp(5),
        };
        let denied = OrgDecisions::new(Vec::new(), Vec::new(), vec![denial]);
        let state = denied.state_in("acme", Required);
        assert_eq!(state.as_str(), "denied");
        assert!(!state.admits());
        assert!(
            denied.state_in("acme", NotRequired).admits(),
            "only while required"
        );
    }

    #[test]
    fn reasons_are_cleaned_and_bounded() {
        assert_eq!(
            clean_reason("  not \u{202e}needed\u{7}  ").as_deref(),
            Some("not needed")
        );
        assert!(clean_reason(&"x".repeat(MAX_REASON_CHARS)).is_some());
        assert!(clean_reason(&"x".repeat(MAX_REASON_CHARS + 1)).is_none());
    }
}
