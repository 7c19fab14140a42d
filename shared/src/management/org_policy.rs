//! An org's PAT policy: read, and replaced by its admins (over a version
//! they read, with `If-Match`), approving the PATs already there when a
//! change turns approval on.

use super::approval_rules::ApprovalChange;
use super::error::ManagementError;
use super::preconditions::IfMatch;
use super::service_users::OrgCall;
use super::tokens::TokenManager;
use crate::records::idle;
use crate::records::{AuditAction, OrgPolicy, PatApproval};
use crate::store::pepper::PepperSource;
use crate::store::{PrincipalStore, StoreError, TokenStore};

/// Attempts at a policy write without `If-Match` that raced another.
const POLICY_WRITE_ATTEMPTS: usize = 3;

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    pub async fn get_org_policy(&self, call: OrgCall<'_>) -> Result<OrgPolicy, ManagementError> {
        self.require_org_admin(call).await?;
        Ok(self
            .store
            .get_org_policy(call.org)
            .await?
            .unwrap_or_default())
    }

    /// Replaces the org's PAT policy, its approval rule as given. The
    /// authorizer applies it within its policy cache time (at most 30 s).
    pub async fn put_org_policy(
        &self,
        call: OrgCall<'_>,
        policy: OrgPolicy,
    ) -> Result<OrgPolicy, ManagementError> {
        self.put_org_policy_if(call, policy, None).await
    }

    /// As [`TokenManager::put_org_policy`]; with `if_match`, only over the
    /// policy version it names ([`OrgPolicy::entity_tag`]), else
    /// `PreconditionFailed`, a concurrent change included.
    pub async fn put_org_policy_if(
        &self,
        call: OrgCall<'_>,
        policy: OrgPolicy,
        if_match: Option<&IfMatch>,
    ) -> Result<OrgPolicy, ManagementError> {
        let change = ApprovalChange {
            rule: Some(policy.pat_approval),
            existing: None,
        };
        self.put_org_policy_with(call, policy, change, if_match)
            .await
    }

    /// As [`TokenManager::put_org_policy_if`], the approval rule as
    /// `change` says (`policy.pat_approval` is not read): kept when it
    /// names none. Before a change that turns approval on (or one that asks
    /// for it, `existing: approved`) is written, every PAT that reaches the
    /// org then and waits there is approved by the caller, audited.
    pub async fn put_org_policy_with(
        &self,
        call: OrgCall<'_>,
        mut policy: OrgPolicy,
        change: ApprovalChange,
        if_match: Option<&IfMatch>,
    ) -> Result<OrgPolicy, ManagementError> {
        self.require_org_admin(call).await?;
        self.check_org_policy(&policy)?;
        // `*` admits any version, and an org always has a policy (the default).
        let if_match = if_match.filter(|m| **m != IfMatch::Any);
        let mut approved = None;
        for _ in 0..POLICY_WRITE_ATTEMPTS {
            let read = self.store.get_org_policy(call.org).await?;
            let stored = read.unwrap_or_default();
            if if_match.is_some_and(|m| !m.admits(&stored.entity_tag())) {
                return Err(ManagementError::PreconditionFailed);
            }
            let (rule, approve_existing) = change.resolve(stored.pat_approval)?;
            policy.pat_approval = rule;
            // Approvals first: a failure leaves the policy as it was, and
            // a retry approves the rest (each is idempotent).
            if approve_existing && approved.is_none() {
                let detail = if stored.pat_approval == PatApproval::Required {
                    "approved with existing_pats: approved"
                } else {
                    "there when approval was turned on"
                };
                approved = Some(self.approve_waiting(call, detail).await?);
            }
            let audit = call
                .actor()
                .org_event(AuditAction::OrgPolicyPut, call.now)
                .with_detail(policy_detail(&policy, approved));
            match self
                .store
                .put_org_policy_if(call.org, &policy, read.as_ref(), &audit)
                .await
            {
                Ok(()) => return Ok(policy),
                // Changed between the read and the write.
                Err(StoreError::Conflict) if if_match.is_some() => {
                    return Err(ManagementError::PreconditionFailed)
                }
                Err(StoreError::Conflict) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// The bounds of a policy's numbers.
    fn check_org_policy(&self, policy: &OrgPolicy) -> Result<(), ManagementError> {
        if policy
            .pat_max_lifetime_days
            .is_some_and(|days| days == 0 || days > OrgPolicy::MAX_LIFETIME_DAYS)
        {
            return Err(ManagementError::invalid(
                "pat_max_lifetime_days",
                "invalid_expiry",
                format!(
                    "pat_max_lifetime_days must be 1 to {} or null",
                    OrgPolicy::MAX_LIFETIME_DAYS
                ),
            ));
        }
        let deployment = self.policy().idle_expiry_days;
        if policy
            .idle_expiry_days
            .is_some_and(|days| !idle::admits_org_window(days, deployment))
        {
            return Err(ManagementError::invalid(
                "idle_expiry_days",
                "invalid_idle_expiry",
                format!(
                    "idle_expiry_days must be {} to {} or null (the deployment's window)",
                    idle::MIN_IDLE_DAYS,
                    deployment.unwrap_or(idle::MAX_IDLE_DAYS)
                ),
            ));
        }
        Ok(())
    }
}

/// What a policy change records in its audit event; `approved`, the PATs
/// it approved as there before.
fn policy_detail(policy: &OrgPolicy, approved: Option<usize>) -> String {
    let mut detail = format!(
        "pat_access={} pat_max_lifetime_days={}",
        policy.pat_access.as_str(),
        policy
            .pat_max_lifetime_days
            .map_or("none".to_owned(), |d| d.to_string())
    );
    if let Some(days) = policy.idle_expiry_days {
        detail.push_str(&format!(" idle_expiry_days={days}"));
    }
    if policy.pat_approval == PatApproval::Required {
        detail.push_str(" pat_approval=required");
    }
    if let Some(count) = approved {
        detail.push_str(&format!(" existing_pats_approved={count}"));
    }
    detail
}
