//! `TokenManager`: issue, list, read, rotate and revoke one's own PATs.

use std::sync::Arc;

use super::error::{Fault, ManagementError};
use super::policy::{
    allowlist, check_org_limit, IssuancePolicy, NewToken, TokenRequest, DAY_MS, PAGE_MAX,
};
use crate::management::lifecycle::{end_self_rotations, revoke_all};
use crate::records::{
    Account, Actor, AuditAction, Caller, IpAllowlist, Origin, Owner, OwnerKind, PrincipalStatus,
    RetryKey, Revocation, StatusFilter, Timestamp, TokenRecord, TokenStatus,
};
use crate::store::pepper::{PepperKeeper, PepperRing, PepperSource};
use crate::store::{
    read_principal, PrincipalStore, RevokeOutcome, RotationTerms, StoreError, TokenPage, TokenStore,
};
use crate::token::{PlainToken, TokenId};

/// The scope a token needs to rotate itself without a session: its owner
/// grants it at creation, with a session.
pub const ROTATE_SELF_SCOPE: &str = "tokens:rotate_self";

/// A token just made: shown to its owner once, in this response only.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: PlainToken,
    pub record: TokenRecord,
    /// Given back for a retried `Idempotency-Key`, not issued now.
    pub replayed: bool,
}

/// Why `account` may not hold PATs, if it may not: inactive, SSO, or not
/// in the beta.
pub fn pat_refusal(account: &Account) -> Option<ManagementError> {
    if account.status != PrincipalStatus::Active {
        Some(ManagementError::AccountInactive)
    } else if account.sso {
        Some(ManagementError::PatUnavailableForSso)
    } else if !account.pat_beta {
        Some(ManagementError::PatBetaNotEnabled)
    } else {
        None
    }
}

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

/// What a new credential carries besides its name.
struct Kept {
    scopes: Vec<String>,
    lifetime_ms: Option<i64>,
    allowed_ips: IpAllowlist,
    org_limit: Option<Vec<String>>,
}

/// The management service over the storage ports and the pepper ring.
/// The revocation function runs it without a ring: revoking never hashes,
/// so a KMS outage cannot stop anyone from revoking.
pub struct TokenManager<S, P> {
    pub(super) store: Arc<S>,
    peppers: Option<PepperKeeper<P>>,
    pub(super) policy: IssuancePolicy,
}

impl<S, P> std::fmt::Debug for TokenManager<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    pub fn new(store: Arc<S>, peppers: PepperKeeper<P>, policy: IssuancePolicy) -> Self {
        Self {
            store,
            peppers: Some(peppers),
            policy,
        }
    }

    /// A manager that can read and revoke but not issue (no pepper ring).
    pub fn without_peppers(store: Arc<S>, policy: IssuancePolicy) -> Self {
        Self {
            store,
            peppers: None,
            policy,
        }
    }

    pub(super) fn ring(&self) -> Result<Arc<PepperRing>, ManagementError> {
        let keeper = self
            .peppers
            .as_ref()
            .ok_or(ManagementError::Internal(Fault::NoPepperRing))?;
        Ok(keeper.ring())
    }

    /// A ring holding pepper `version`, reloaded if this one lacks it
    /// (another instance may have a newer pepper); `None`: still unknown.
    pub(super) async fn ring_with(
        &self,
        version: crate::token::hash::PepperVersion,
    ) -> Result<Option<Arc<PepperRing>>, ManagementError> {
        let keeper = self
            .peppers
            .as_ref()
            .ok_or(ManagementError::Internal(Fault::NoPepperRing))?;
        Ok(keeper.ring_with(version).await?)
    }

    pub fn policy(&self) -> &IssuancePolicy {
        &self.policy
    }

    /// The caller's account, as the settings page shows it.
    pub async fn account(&self, caller: &Caller) -> Result<Account, ManagementError> {
        self.store
            .get_account(caller.user.as_str())
            .await?
            .ok_or(ManagementError::AccountNotFound)
    }

    /// The account may hold PATs: exists, active, not SSO, beta flag on.
    async fn check_account(&self, caller: &Caller) -> Result<Account, ManagementError> {
        let account = self.account(caller).await?;
        match pat_refusal(&account) {
            Some(refusal) => Err(refusal),
            None => Ok(account),
        }
    }

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

    /// A new credential of `owner` with `name` (checked when it was chosen)
    /// and `kept`'s scopes, lifetime and allowlist.
    fn new_record(
        &self,
        owner: Owner,
        name: String,
        kept: Kept,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        let ring = self.ring()?;
        let pepper = ring.current();
        let token = PlainToken::generate().map_err(|e| ManagementError::Internal(e.into()))?;
        let record = TokenRecord {
            id: token.id(),
            owner,
            name,
            scopes: kept.scopes,
            hash: pepper.hash(&token),
            pepper_version: pepper.version(),
            created_at: now,
            expires_at: kept
                .lifetime_ms
                .map(|ms| Timestamp(now.0.saturating_add(ms))),
            revoked: None,
            last_used_at: None,
            blocked_orgs: Vec::new(),
            allowed_ips: kept.allowed_ips,
            org_limit: kept.org_limit,
            family: None,
        };
        Ok(IssuedToken {
            token,
            record,
            replayed: false,
        })
    }

    /// Runs `write` once more after freeing the slots of ended tokens, if
    /// the first attempt hit the limit and there were any.
    async fn within_limit<T, F, Fut>(
        &self,
        owner: &Owner,
        now: Timestamp,
        write: F,
    ) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        match write().await {
            Err(StoreError::LimitReached { .. })
                if self.store.release_ended(owner, now).await? > 0 =>
            {
                write().await
            }
            other => other,
        }
    }

    /// Issues a PAT to `user`; once per `retry` key.
    pub async fn create(
        &self,
        caller: &Caller,
        request: TokenRequest,
        retry: Option<&RetryKey>,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        let account = self.check_account(caller).await?;
        if let Some(issued) = self.replay(retry, &caller.owner(), now).await? {
            return Ok(issued);
        }
        let new = self.policy.validate(request)?;
        check_org_limit(new.org_limit.as_deref(), &account)?;
        let limit = self.policy.max_active_tokens;
        self.issue(caller.owner(), new, limit, &caller.actor(), retry, now)
            .await
    }

    /// Issues a credential to `owner`, audited as `by`, within `limit`
    /// active ones, keeping its result under `retry`'s key.
    pub(super) async fn issue(
        &self,
        owner: Owner,
        new: NewToken,
        limit: u32,
        by: &Actor,
        retry: Option<&RetryKey>,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        let kept = Kept {
            scopes: new.scopes,
            lifetime_ms: new.lifetime_ms,
            allowed_ips: new.allowed_ips,
            org_limit: new.org_limit,
        };
        let issued = self.new_record(owner.clone(), new.name.into_string(), kept, now)?;
        let audit = by
            .event(AuditAction::TokenCreate, owner.clone(), now)
            .for_token(issued.record.id);
        let kept = self.idempotency_record(retry, &issued, now)?;
        let written = self
            .within_limit(&owner, now, || {
                self.store
                    .create_token_once(&issued.record, limit, &audit, kept.as_ref())
            })
            .await;
        match written {
            Ok(()) => Ok(issued),
            Err(error) => match self.concurrent_result(retry, &issued, now).await {
                Some(result) => result,
                None => Err(error.into()),
            },
        }
    }

    /// The caller's tokens, newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: StatusFilter,
        limit: usize,
        cursor: Option<&str>,
        now: Timestamp,
    ) -> Result<TokenPage, ManagementError> {
        Ok(self
            .store
            .list_tokens(
                &caller.owner(),
                filter,
                now,
                limit.clamp(1, PAGE_MAX),
                cursor,
            )
            .await?)
    }

    /// One of the caller's tokens. Another user's token is "not found", exactly like a missing one.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<TokenRecord, ManagementError> {
        let id: TokenId = id.parse().map_err(|_| ManagementError::TokenNotFound)?;
        match self.store.get_token(&id).await? {
            Some(record) if record.owner == caller.owner() => Ok(record),
            _ => Err(ManagementError::TokenNotFound),
        }
    }

    /// The token a request was authorized with (`GET /v1/tokens/self`),
    /// read again with its owner: only while it is active (in a rotation's
    /// grace too), acts as `owner`, and its owner may still use it (the
    /// authorizer's own rule, "revoke all" included). The authorizer's
    /// answer may come from a cache; these reads are current, so a token
    /// refused since is refused here like an unknown one.
    pub async fn get_self(
        &self,
        owner: &Owner,
        id: &str,
        now: Timestamp,
    ) -> Result<TokenRecord, ManagementError> {
        Ok(self.read_self(owner, id, now).await?.0)
    }

    /// [`get_self`](Self::get_self), and the owner's "revoke all" watermark as read.
    async fn read_self(
        &self,
        owner: &Owner,
        id: &str,
        now: Timestamp,
    ) -> Result<(TokenRecord, OwnerAsRead), ManagementError> {
        let id: TokenId = id.parse().map_err(|_| ManagementError::TokenNotFound)?;
        let record = match self.store.get_token(&id).await? {
            Some(record) if record.owner == *owner && record.status(now) == TokenStatus::Active => {
                record
            }
            _ => return Err(ManagementError::TokenNotFound),
        };
        let principal = read_principal(&*self.store, owner).await?;
        let valid_after = principal.as_ref().and_then(|p| p.tokens_valid_after());
        let allowed = principal
            .filter(|p| !record.predates(p.tokens_valid_after()))
            .and_then(|p| p.memberships_for(&record));
        match allowed {
            Some(_) => Ok((record, OwnerAsRead { valid_after })),
            None => Err(ManagementError::TokenNotFound),
        }
    }

    /// `POST /v1/tokens/self/rotate`: the token a request was authorized
    /// with replaces itself without a session, as a session's rotation
    /// would (name, scopes, allowlist, org limit, lifetime under today's
    /// policy; the old one revoked after `grace_seconds`), audited as the
    /// token. Only a token its owner gave [`ROTATE_SELF_SCOPE`] (with a
    /// session, at creation) may; its owner must still be allowed to use
    /// it, else `TokenNotFound`, as for a token that is not active. The
    /// new token continues the old one's family, which a leak report
    /// revokes whole, and the write is conditioned on the owner's "revoke
    /// all" watermark as read, so a "revoke all" that lands first refuses it.
    pub async fn rotate_self(
        &self,
        owner: &Owner,
        id: &str,
        grace_seconds: Option<u32>,
        retry: Option<&RetryKey>,
        origin: Origin,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        let (old, read) = self.read_self(owner, id, now).await?;
        if !old.scopes.iter().any(|s| s == ROTATE_SELF_SCOPE) {
            return Err(ManagementError::ScopeRequired(ROTATE_SELF_SCOPE));
        }
        let rotated = async {
            if let Some(issued) = self.replay(retry, owner, now).await? {
                return Ok(issued);
            }
            let grace = grace_seconds.unwrap_or(0);
            self.policy.check_grace(grace)?;
            self.check_rotatable(&old, now)?;
            let how = Replacement {
                grace,
                limit: match owner.kind {
                    OwnerKind::User => self.policy.max_active_tokens,
                    OwnerKind::ServiceUser => self.policy.max_keys_per_service_user,
                },
                by: &Actor::token(&old.id).from_origin(origin),
                retry,
                by_itself: Some(read),
            };
            self.replace(&old, how, now).await
        };
        match rotated.await {
            // Ended, or its owner refused, since it was read (a "revoke all"
            // landing first included): as for any refused token.
            Err(ManagementError::TokenNotActive) => Err(ManagementError::TokenNotFound),
            other => other,
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
        // Name, scopes and allowlist are handed over as they are.
        let same = Kept {
            scopes: old.scopes.clone(),
            lifetime_ms: self.rotation_lifetime(old),
            allowed_ips: old.allowed_ips.clone(),
            org_limit: old.org_limit.clone(),
        };
        let mut issued = self.new_record(old.owner.clone(), old.name.clone(), same, now)?;
        // A rotation without a session continues the old token's family; a
        // session's or an admin's starts a new one.
        issued.record.family = by_itself.map(|_| old.family_root());
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

    /// Replaces the IP allowlist of one of the caller's active tokens.
    pub async fn set_allowed_ips(
        &self,
        caller: &Caller,
        id: &str,
        entries: &[String],
        now: Timestamp,
    ) -> Result<TokenRecord, ManagementError> {
        let record = self.get(caller, id).await?;
        let list = allowlist(entries)?;
        self.change_allowed_ips(record, list, &caller.actor(), now)
            .await
    }

    /// Gives an active `record` the allowlist `list`, audited as `by`.
    pub(super) async fn change_allowed_ips(
        &self,
        mut record: TokenRecord,
        list: IpAllowlist,
        by: &Actor,
        now: Timestamp,
    ) -> Result<TokenRecord, ManagementError> {
        if record.status(now) != TokenStatus::Active {
            return Err(ManagementError::TokenNotActive);
        }
        let audit = by
            .event(AuditAction::TokenUpdate, record.owner.clone(), now)
            .for_token(record.id)
            .with_detail(format!("allowed_ips={list}"));
        match self.store.set_allowed_ips(&record.id, &list, &audit).await {
            Ok(()) => {
                record.allowed_ips = list;
                Ok(record)
            }
            Err(StoreError::NotFound) => Err(ManagementError::TokenNotFound),
            Err(other) => Err(other.into()),
        }
    }

    /// Revokes one of the caller's tokens; revoking a revoked token succeeds.
    pub async fn revoke(
        &self,
        caller: &Caller,
        id: &str,
        now: Timestamp,
    ) -> Result<RevokeOutcome, ManagementError> {
        let record = self.get(caller, id).await?;
        self.end(&record, &caller.actor(), "revoked by owner", now)
            .await
    }

    /// Revokes `record` now, audited as `by`, for `reason`, and every token
    /// it rotated itself into; idempotent.
    pub(super) async fn end(
        &self,
        record: &TokenRecord,
        by: &Actor,
        reason: &str,
        now: Timestamp,
    ) -> Result<RevokeOutcome, ManagementError> {
        let revocation = Revocation {
            at: now,
            by: by.name.clone(),
            reason: reason.to_owned(),
        };
        let audit = by
            .event(AuditAction::TokenRevoke, record.owner.clone(), now)
            .for_token(record.id)
            .with_detail(reason);
        let outcome = self
            .store
            .revoke_token(&record.id, &revocation, &audit)
            .await?;
        // And what it rotated itself into: whoever held it may have.
        end_self_rotations(&*self.store, record, by, reason, now).await?;
        Ok(outcome)
    }

    /// Revokes every token of the caller, at once (the owner's watermark)
    /// and in the listing; returns how many it marked revoked.
    pub async fn revoke_all(
        &self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<u32, ManagementError> {
        Ok(revoke_all(
            self.store.as_ref(),
            &caller.owner(),
            &caller.actor(),
            "revoked all by owner",
            now,
        )
        .await?)
    }
}
