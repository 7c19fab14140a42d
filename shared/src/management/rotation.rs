//! Rotation: a credential replaced by a new one with its name, scopes,
//! allowlist and org limit, the old one revoked after a grace, in one
//! transaction; by a session (PATs here, keys in `service_users`) or by the
//! token itself (`token_self`).

use super::error::ManagementError;
use super::policy::DAY_MS;
use super::tokens::{IssuedToken, Kept, TokenManager};
use crate::records::{
    Actor, AuditAction, Caller, RetryKey, Revocation, Timestamp, TokenRecord, TokenStatus,
};
use crate::store::pepper::PepperSource;
use crate::store::{PrincipalStore, RotationTerms, StoreError, TokenStore};

/// How a rotation replaces a credential: the old one revoked after `grace`
/// seconds, within `limit` active ones, audited as `by`, its result kept
/// under `retry`'s key; `by_itself` for a token rotating itself.
pub(super) struct Replacement<'a> {
    pub grace: u32,
    pub limit: u32,
    pub by: &'a Actor,
    pub retry: Option<&'a RetryKey>,
    pub by_itself: Option<OwnerAsRead>,
}

/// What a rotation without a session read of the owner: its "revoke all"
/// watermark, which must still hold when the rotation commits.
#[derive(Debug, Clone, Copy)]
pub(super) struct OwnerAsRead {
    pub valid_after: Option<Timestamp>,
}

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    /// A rotated token's lifetime under today's policy: the old lifetime,
    /// clamped to `max_expiry_days`, and never unbounded unless allowed.
    fn rotation_lifetime(&self, old: &TokenRecord) -> Option<i64> {
        let max_ms = i64::from(self.policy.max_expiry_days) * DAY_MS;
        match old.expires_at.map(|e| e.0 - old.created_at.0) {
            None if self.policy.allow_non_expiring => None,
            None => Some(max_ms),
            Some(lifetime) => Some(lifetime.clamp(1, max_ms)),
        }
    }

    /// Whether `old` may be rotated now: still active, and every scope
    /// still offered.
    pub(super) fn check_rotatable(
        &self,
        old: &TokenRecord,
        now: Timestamp,
    ) -> Result<(), ManagementError> {
        if old.status(now) != TokenStatus::Active || old.revoked.is_some() {
            return Err(ManagementError::TokenNotActive);
        }
        match old
            .scopes
            .iter()
            .find(|s| !self.policy.scope_catalog.contains(s))
        {
            Some(retired) => Err(ManagementError::ScopeRetired(retired.clone())),
            None => Ok(()),
        }
    }

    /// A new token with the old one's name, scopes and lifetime (under
    /// today's policy); the old one revoked (reason `rotated`) after
    /// `grace_seconds`, in one transaction. A token in its grace still counts
    /// against the limit.
    pub async fn rotate(
        &self,
        caller: &Caller,
        id: &str,
        grace_seconds: Option<u32>,
        retry: Option<&RetryKey>,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        // Read before the replay: a concurrent retry that commits between
        // the two leaves this read stale, and the write's refusal replays it.
        let old = self.get(caller, id).await?;
        self.check_account(caller).await?;
        if let Some(issued) = self.replay(retry, &old.owner, now).await? {
            return Ok(issued);
        }
        let grace = grace_seconds.unwrap_or(0);
        self.policy.check_grace(grace)?;
        self.check_rotatable(&old, now)?;
        let how = Replacement {
            grace,
            limit: self.policy.max_active_tokens,
            by: &caller.actor(),
            retry,
            by_itself: None,
        };
        self.replace(&old, how, now).await
    }

    /// Replaces `old` (checked rotatable) with a new credential of the same
    /// owner, name, scopes and lifetime, as `how` says.
    pub(super) async fn replace(
        &self,
        old: &TokenRecord,
        how: Replacement<'_>,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        let Replacement {
            grace,
            limit,
            by,
            retry,
            by_itself,
        } = how;
        // Name, scopes, allowlist and rate limit are handed over as they are.
        let same = Kept {
            scopes: old.scopes.clone(),
            lifetime_ms: self.rotation_lifetime(old),
            allowed_ips: old.allowed_ips.clone(),
            rate_limit: old.rate_limit,
            org_limit: old.org_limit.clone(),
        };
        let mut issued = self.new_record(old.owner.clone(), old.name.clone(), same, now)?;
        // A rotation without a session continues the old token's family; a
        // session's or an admin's starts a new one.
        issued.record.family = by_itself.map(|_| Box::new(old.family_root()));
        let revocation = Revocation {
            at: now.plus_seconds(i64::from(grace)),
            by: by.name.clone(),
            reason: "rotated".into(),
        };
        let audits = [
            by.event(AuditAction::TokenRotate, old.owner.clone(), now)
                .for_token(old.id)
                .with_detail(format!("replaced by {}", issued.record.id)),
            by.event(AuditAction::TokenCreate, old.owner.clone(), now)
                .for_token(issued.record.id)
                .with_detail(format!("rotated from {}", old.id)),
        ];
        let kept = self.idempotency_record(retry, &issued, now)?;
        let terms = RotationTerms {
            idempotency: kept.as_ref(),
            owner_valid_after: by_itself.map(|owner| owner.valid_after),
        };
        let rotated = self
            .within_limit(&old.owner, now, || {
                self.store.rotate_token_once(
                    &old.id,
                    &revocation,
                    &issued.record,
                    limit,
                    &audits,
                    &terms,
                )
            })
            .await;
        if rotated.is_err() {
            if let Some(result) = self.concurrent_result(retry, &issued, now).await {
                return result;
            }
        }
        match rotated {
            // As stored: with the blocks and allowlist the old one had then.
            Ok(record) => Ok(IssuedToken { record, ..issued }),
            // Revoked or rotated by a concurrent request since it was read.
            Err(StoreError::NotFound) => Err(ManagementError::TokenNotActive),
            Err(other) => Err(other.into()),
        }
    }
}
