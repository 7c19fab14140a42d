//! An org's say over the credentials that act in it: its PAT policy, and
//! taking one credential out of the org (a key revoked, a member's PAT
//! blocked here only).

use super::error::ManagementError;
use super::service_users::OrgCall;
use super::tokens::TokenManager;
use crate::pepper::PepperSource;
use crate::records::{AuditAction, OrgPolicy, OwnerKind};
use crate::store::{PrincipalStore, StoreError, TokenStore};
use crate::token::TokenId;

/// What removing a credential from an org did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A service key of the org: revoked.
    KeyRevoked,
    /// A member's PAT: blocked in this org only; the member's other orgs
    /// and the PAT itself are untouched.
    PatBlocked,
}

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

    /// Replaces the org's PAT policy. The authorizer applies it within its
    /// policy cache time (at most 30 s).
    pub async fn put_org_policy(
        &self,
        call: OrgCall<'_>,
        policy: OrgPolicy,
    ) -> Result<OrgPolicy, ManagementError> {
        self.require_org_admin(call).await?;
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
        let detail = format!(
            "pat_access={} pat_max_lifetime_days={}",
            policy.pat_access.as_str(),
            policy
                .pat_max_lifetime_days
                .map_or("none".to_owned(), |d| d.to_string())
        );
        let audit = call
            .actor()
            .org_event(AuditAction::OrgPolicyPut, call.now)
            .with_detail(detail);
        self.store.put_org_policy(call.org, &policy, &audit).await?;
        Ok(policy)
    }

    /// Takes a credential out of the org: a service key of the org is
    /// revoked; a member's PAT is blocked here (not revoked: an org admin
    /// must not end the member's access to other orgs). Anything else is
    /// "not found".
    pub async fn remove_credential(
        &self,
        call: OrgCall<'_>,
        id: &str,
    ) -> Result<Removal, ManagementError> {
        self.require_org_admin(call).await?;
        let id: TokenId = id.parse().map_err(|_| ManagementError::TokenNotFound)?;
        let record = self
            .store
            .get_token(&id)
            .await?
            .ok_or(ManagementError::TokenNotFound)?;
        match record.owner.kind {
            OwnerKind::ServiceUser => {
                let in_org = self
                    .store
                    .get_service_user(&record.owner.id)
                    .await?
                    .is_some_and(|user| user.org_id == call.org);
                if !in_org {
                    return Err(ManagementError::TokenNotFound);
                }
                self.end(&record, &call.actor(), "revoked by org admin", call.now)
                    .await?;
                Ok(Removal::KeyRevoked)
            }
            OwnerKind::User => {
                let member = self
                    .store
                    .get_account(&record.owner.id)
                    .await?
                    .is_some_and(|account| account.orgs.iter().any(|m| m.org_id == call.org));
                if !member {
                    return Err(ManagementError::TokenNotFound);
                }
                let audit = call
                    .actor()
                    .event(AuditAction::TokenBlock, record.owner.clone(), call.now)
                    .for_token(record.id);
                match self.store.block_in_org(&record.id, call.org, &audit).await {
                    Ok(()) => Ok(Removal::PatBlocked),
                    Err(StoreError::NotFound) => Err(ManagementError::TokenNotFound),
                    Err(other) => Err(other.into()),
                }
            }
        }
    }
}
