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

/// The rule a policy `PUT` asking for `asked` sets over `stored`: turning
/// approval on fixes which PATs count as there before it (`existing`,
/// default approved); while it stays on, later `PUT`s keep that choice.
pub(super) fn resolved_rule(
    asked: PatApproval,
    stored: PatApproval,
    existing: Option<ExistingPats>,
    now: Timestamp,
) -> PatApproval {
    match (asked, stored) {
        (PatApproval::NotRequired, _) => PatApproval::NotRequired,
        (PatApproval::Required { .. }, PatApproval::Required { .. }) => stored,
        (PatApproval::Required { .. }, PatApproval::NotRequired) => PatApproval::Required {
            existing_before: match existing.unwrap_or_default() {
                ExistingPats::Approved => Some(now),
                ExistingPats::Pending => None,
            },
        },
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
    fn turning_approval_on_fixes_the_existing_pats_and_later_puts_keep_it() {
        let now = Timestamp(100);
        let required = PatApproval::Required {
            existing_before: None,
        };
        let off = PatApproval::NotRequired;
        assert_eq!(
            resolved_rule(required, off, None, now),
            PatApproval::Required {
                existing_before: Some(now)
            }
        );
        assert_eq!(
            resolved_rule(required, off, Some(ExistingPats::Pending), now),
            required
        );
        let on_since = PatApproval::Required {
            existing_before: Some(Timestamp(50)),
        };
        assert_eq!(
            resolved_rule(required, on_since, Some(ExistingPats::Pending), now),
            on_since
        );
        assert_eq!(resolved_rule(off, on_since, None, now), off);
    }
}
