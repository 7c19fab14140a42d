//! Org approval of members' PATs, the rules without storage: an admin's
//! decision as asked, the rule a policy change turns on, and the requests
//! a new PAT makes (the manager's part: `approvals`).

use super::error::ManagementError;
use crate::records::approval::{clean_reason, MAX_REASON_CHARS};
use crate::records::{
    Account, Actor, ApprovalRules, ApprovalState, AuditAction, AuditEvent, ExistingPats,
    PatApproval, Timestamp, TokenRecord,
};

/// An org admin's answer to a PAT waiting in their org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// With the admin's note, if any (audit only).
    Approve { note: Option<String> },
    /// With the reason the owner sees.
    Deny { reason: String },
}

impl Decision {
    /// `decision` (`approve` or `deny`) with `reason`: required to deny,
    /// at most 500 characters, cleaned of characters that do not show.
    pub fn parse(decision: &str, reason: Option<&str>) -> Result<Self, ManagementError> {
        let reason = match reason.map(clean_reason) {
            None => None,
            Some(Some(reason)) => Some(reason).filter(|r| !r.is_empty()),
            Some(None) => {
                return Err(ManagementError::invalid(
                    "reason",
                    "invalid_reason",
                    format!("reason must be at most {MAX_REASON_CHARS} characters"),
                ))
            }
        };
        match (decision, reason) {
            ("approve", note) => Ok(Self::Approve { note }),
            ("deny", Some(reason)) => Ok(Self::Deny { reason }),
            ("deny", None) => Err(ManagementError::invalid(
                "reason",
                "invalid_reason",
                "give the reason its owner will see",
            )),
            _ => Err(ManagementError::invalid(
                "decision",
                "invalid_decision",
                "decision must be `approve` or `deny`",
            )),
        }
    }
}

/// What a policy change says of approval: the rule (`None`: keep the
/// stored one, so a client that does not know the setting never turns it
/// off), and what to do with the PATs that reach the org then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApprovalChange {
    pub rule: Option<PatApproval>,
    /// Only with approval required. Turning it on, absent means approved.
    pub existing: Option<ExistingPats>,
}

impl ApprovalChange {
    /// The rule to store over `stored`, and whether the PATs waiting now
    /// are to be approved first.
    pub fn resolve(self, stored: PatApproval) -> Result<(PatApproval, bool), ManagementError> {
        let rule = self.rule.unwrap_or(stored);
        let approve = match (rule, stored, self.existing) {
            (PatApproval::NotRequired, _, None) => false,
            (PatApproval::NotRequired, _, Some(_)) => {
                return Err(ManagementError::invalid(
                    "existing_pats",
                    "invalid_existing_pats",
                    "existing_pats applies only with pat_approval: required",
                ))
            }
            (PatApproval::Required, PatApproval::NotRequired, existing) => {
                existing.unwrap_or_default() == ExistingPats::Approved
            }
            (PatApproval::Required, PatApproval::Required, existing) => {
                existing == Some(ExistingPats::Approved)
            }
        };
        Ok((rule, approve))
    }
}

/// The approval requests a new PAT (`record`) of `account` makes: one per
/// org it reaches whose rule (in `rules`) has it wait.
pub(super) fn requests(
    record: &TokenRecord,
    account: &Account,
    rules: &ApprovalRules,
    by: &Actor,
    now: Timestamp,
) -> Vec<AuditEvent> {
    record
        .approval_states(Some(rules))
        .into_iter()
        .filter(|(org, state)| {
            *state == ApprovalState::Pending && account.orgs.iter().any(|m| m.org_id == *org)
        })
        .map(|(org, _)| {
            by.clone()
                .in_org(org)
                .event(AuditAction::TokenApprovalRequest, record.owner.clone(), now)
                .for_token(record.id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_need_a_known_word_and_a_denial_a_reason() {
        assert_eq!(
            Decision::parse("approve", None).unwrap(),
            Decision::Approve { note: None }
        );
        assert_eq!(
            Decision::parse("deny", Some(" not for CI \u{200b}")).unwrap(),
            Decision::Deny {
                reason: "not for CI".into()
            }
        );
        for (decision, reason, code) in [
            ("deny", None, "invalid_reason"),
            ("deny", Some("  "), "invalid_reason"),
            ("approve", Some(&*"x".repeat(501)), "invalid_reason"),
            ("maybe", Some("why"), "invalid_decision"),
        ] {
            match Decision::parse(decision, reason) {
                Err(ManagementError::Invalid { code: got, .. }) => assert_eq!(got, code),
                other => panic!("{decision} {reason:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn turning_approval_on_approves_the_pats_there_unless_asked_not_to_and_absent_keeps_it() {
        use ExistingPats::{Approved, Pending};
        use PatApproval::{NotRequired, Required};
        let change = |rule, existing| ApprovalChange { rule, existing };
        let resolve = |c: ApprovalChange, stored| c.resolve(stored).unwrap();
        assert_eq!(
            resolve(change(Some(Required), None), NotRequired),
            (Required, true)
        );
        assert_eq!(
            resolve(change(Some(Required), Some(Pending)), NotRequired),
            (Required, false)
        );
        // Already on: only an explicit ask approves what waits.
        assert_eq!(
            resolve(change(Some(Required), None), Required),
            (Required, false)
        );
        assert_eq!(
            resolve(change(None, Some(Approved)), Required),
            (Required, true)
        );
        // A client that does not name the rule keeps it.
        assert_eq!(resolve(change(None, None), Required), (Required, false));
        assert_eq!(
            resolve(change(Some(NotRequired), None), Required),
            (NotRequired, false)
        );
        assert!(matches!(
            change(Some(NotRequired), Some(Approved)).resolve(Required),
            Err(ManagementError::Invalid {
                code: "invalid_existing_pats",
                ..
            })
        ));
        assert!(change(None, Some(Pending)).resolve(NotRequired).is_err());
    }
}
