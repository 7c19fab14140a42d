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
    /// Every PAT needs an approval, but those whose rotation chain began
    /// before `existing_before` count as approved: the PATs there when
    /// approval was turned on, unless the admin chose to put them in
    /// pending too (`None`).
    Required { existing_before: Option<Timestamp> },
}

impl PatApproval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequired => "not_required",
            Self::Required { .. } => "required",
        }
    }
}

/// What an admin turning approval on chooses for the PATs already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExistingPats {
    /// They keep working: only PATs created (not rotated) later wait.
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

/// The approval decisions a PAT carries, through its rotations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Approvals {
    /// Orgs whose admins approved it (sorted).
    pub approved: Vec<String>,
    /// Orgs whose admins denied it (sorted by org); a denial replaces an
    /// approval and the reverse.
    pub denied: Vec<Denial>,
    /// When the first token of the rotation chain it continues was
    /// created; `None`: this token starts its own.
    pub chain_started_at: Option<Timestamp>,
}

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

impl Approvals {
    /// The state in `org` of a PAT created at `created_at`, under `rule`.
    pub fn state_in(
        &self,
        org: &str,
        created_at: Timestamp,
        rule: PatApproval,
    ) -> ApprovalState<'_> {
        let PatApproval::Required { existing_before } = rule else {
            return ApprovalState::NotRequired;
        };
        if let Some(denial) = self.denied.iter().find(|d| d.org == org) {
            return ApprovalState::Denied(denial);
        }
        let started = self.chain_started_at.unwrap_or(created_at);
        if self.approved.iter().any(|o| o == org)
            || existing_before.is_some_and(|before| started < before)
        {
            ApprovalState::Approved
        } else {
            ApprovalState::Pending
        }
    }

    /// A successor's decisions: this token's, and the chain's start.
    pub fn carried(&self, created_at: Timestamp) -> Self {
        Self {
            chain_started_at: Some(self.chain_started_at.unwrap_or(created_at)),
            ..self.clone()
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

    fn denial(org: &str) -> Denial {
        Denial {
            org: org.into(),
            reason: "no".into(),
            by: "user:admin".into(),
            at: Timestamp(5),
        }
    }

    #[test]
    fn a_pat_is_pending_until_approved_and_denied_wins_over_an_old_chain() {
        let required = |before| PatApproval::Required {
            existing_before: before,
        };
        let none = Approvals::default();
        assert_eq!(
            none.state_in("acme", Timestamp(10), PatApproval::NotRequired),
            ApprovalState::NotRequired
        );
        assert_eq!(
            none.state_in("acme", Timestamp(10), required(None)),
            ApprovalState::Pending
        );
        // Created before approval was turned on: approved; at or after: pending.
        assert_eq!(
            none.state_in("acme", Timestamp(10), required(Some(Timestamp(11)))),
            ApprovalState::Approved
        );
        assert_eq!(
            none.state_in("acme", Timestamp(10), required(Some(Timestamp(10)))),
            ApprovalState::Pending
        );
        let approved = Approvals {
            approved: vec!["acme".into()],
            ..Default::default()
        };
        assert!(approved
            .state_in("acme", Timestamp(10), required(None))
            .admits());
        assert!(!approved
            .state_in("globex", Timestamp(10), required(None))
            .admits());
        let denied = Approvals {
            denied: vec![denial("acme")],
            ..Default::default()
        };
        let state = denied.state_in("acme", Timestamp(1), required(Some(Timestamp(11))));
        assert_eq!(state.as_str(), "denied");
        assert!(!state.admits());
    }

    #[test]
    fn a_successor_keeps_the_decisions_and_the_start_of_its_chain() {
        let first = Approvals {
            approved: vec!["acme".into()],
            denied: vec![denial("globex")],
            chain_started_at: None,
        };
        let second = first.carried(Timestamp(10));
        assert_eq!(second.chain_started_at, Some(Timestamp(10)));
        assert_eq!(second.approved, first.approved);
        assert_eq!(second.denied, first.denied);
        // A chain that began before approval was turned on stays approved.
        let rule = PatApproval::Required {
            existing_before: Some(Timestamp(20)),
        };
        assert!(second
            .carried(Timestamp(30))
            .state_in("initech", Timestamp(30), rule)
            .admits());
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
