//! Org approval of members' PATs (`records::approval`): an admin's
//! decision, and the rules an owner's views are read against.

use super::approval_rules::Decision;
use super::error::ManagementError;
use super::org_credentials::Credential;
use super::service_users::OrgCall;
use super::tokens::TokenManager;
use crate::management::lifecycle::all_tokens;
use crate::records::{
    Account, ApprovalState, AuditAction, Caller, Denial, OwnerKind, PatApproval, StatusFilter,
    TokenStatus,
};
use crate::store::pepper::PepperSource;
use crate::store::{PrincipalStore, StoreError, TokenStore};
use crate::token::TokenId;

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    /// The orgs of `account` that require approval, with their rules: one
    /// batched read of their policies.
    pub(super) async fn approval_rules_of(
        &self,
        account: &Account,
    ) -> Result<Vec<(String, PatApproval)>, ManagementError> {
        let orgs: Vec<String> = account.orgs.iter().map(|m| m.org_id.clone()).collect();
        if orgs.is_empty() {
            return Ok(Vec::new());
        }
        let policies = self.store.get_org_policies(&orgs).await?;
        let mut rules: Vec<(String, PatApproval)> = policies
            .into_iter()
            .filter(|(_, policy)| policy.pat_approval != PatApproval::NotRequired)
            .map(|(org, policy)| (org, policy.pat_approval))
            .collect();
        rules.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rules)
    }

    /// The caller's orgs that require approval: what their PATs' states
    /// are read against (`records::approval::states`).
    pub async fn approval_rules(
        &self,
        caller: &Caller,
    ) -> Result<Vec<(String, PatApproval)>, ManagementError> {
        let account = self.account(caller).await?;
        self.approval_rules_of(&account).await
    }

    /// Approves or denies a member's PAT in the org; the PAT as the org's
    /// admins see it then. Unknown, ended, a service key, another org's member's or one
    /// limited to other orgs: all "not found", alike.
    pub async fn decide_pat(
        &self,
        call: OrgCall<'_>,
        id: &str,
        decision: Decision,
    ) -> Result<Credential, ManagementError> {
        self.require_org_admin(call).await?;
        let policy = self
            .store
            .get_org_policy(call.org)
            .await?
            .unwrap_or_default();
        if policy.pat_approval == PatApproval::NotRequired {
            return Err(ManagementError::ApprovalNotRequired);
        }
        let id: TokenId = id.parse().map_err(|_| ManagementError::TokenNotFound)?;
        let record = self
            .store
            .get_token(&id)
            .await?
            .filter(|r| {
                r.owner.kind == OwnerKind::User
                    && r.status(call.now) == TokenStatus::Active
                    && r.may_act_in(call.org)
                    // One in a rotation's grace follows its successor:
                    // approving it could lift a denial of the successor.
                    && !(r.revoked.is_some() && matches!(decision, Decision::Approve { .. }))
            })
            .ok_or(ManagementError::TokenNotFound)?;
        if !self.is_member(&record.owner.id, call.org).await? {
            return Err(ManagementError::TokenNotFound);
        }
        let actor = call.actor();
        let (action, detail) = match &decision {
            Decision::Approve { note } => (AuditAction::TokenApprove, note.clone()),
            Decision::Deny { reason } => (AuditAction::TokenDeny, Some(reason.clone())),
        };
        let mut audit = actor
            .event(action, record.owner.clone(), call.now)
            .for_token(record.id);
        if let Some(detail) = detail {
            audit = audit.with_detail(detail);
        }
        match decision {
            // Only on this token, while it is not rotated: approving one in
            // a rotation's grace could lift a denial of its successor.
            Decision::Approve { .. } => {
                if !self
                    .store
                    .approve_in_org(&record.id, call.org, true, &audit)
                    .await?
                {
                    return Err(ManagementError::TokenNotFound);
                }
            }
            Decision::Deny { reason } => {
                let denial = Denial {
                    org: call.org.to_owned(),
                    reason,
                    by: actor.name.clone(),
                    at: call.now,
                };
                match self
                    .store
                    .decide_in_org(&record.id, call.org, Some(&denial), &audit)
                    .await
                {
                    Ok(()) => {}
                    Err(StoreError::NotFound) => return Err(ManagementError::TokenNotFound),
                    Err(other) => return Err(other.into()),
                }
            }
        }
        let record = self
            .store
            .get_token(&record.id)
            .await?
            .ok_or(ManagementError::TokenNotFound)?;
        Ok(Credential::seen_from(call.org, policy.pat_approval, record))
    }

    /// Approves, as the caller, every active PAT of the org's members that
    /// reaches the org and waits there (`detail` says why). A denial stays,
    /// one made meanwhile too (each write is conditioned on none); one in a
    /// rotation's grace is left to its successor. How many it approved.
    pub(super) async fn approve_waiting(
        &self,
        call: OrgCall<'_>,
        detail: &str,
    ) -> Result<usize, ManagementError> {
        let mut approved = 0;
        for member in self.store.org_members(call.org).await? {
            let owner = crate::records::Owner::user(&member.user_id);
            for record in
                all_tokens(self.store.as_ref(), &owner, StatusFilter::Active, call.now).await?
            {
                let waits = record.may_act_in(call.org)
                    && !record.org_decisions.blocked.iter().any(|o| o == call.org)
                    && record.revoked.is_none()
                    && record
                        .org_decisions
                        .state_in(call.org, PatApproval::Required)
                        == ApprovalState::Pending;
                if !waits {
                    continue;
                }
                let audit = call
                    .actor()
                    .event(AuditAction::TokenApprove, record.owner.clone(), call.now)
                    .for_token(record.id)
                    .with_detail(detail);
                if self
                    .store
                    .approve_in_org(&record.id, call.org, false, &audit)
                    .await?
                {
                    approved += 1;
                }
            }
        }
        Ok(approved)
    }
}
