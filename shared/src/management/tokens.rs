//! `TokenManager`: issue, list, read and revoke one's own PATs (rotation
//! in `rotation`, a token's own routes in `token_self`).

use std::sync::Arc;

use super::approval_rules::requests as approval_requests;
use super::error::{Fault, ManagementError};
use super::policy::{
    allowlist, check_org_limit, rate_limit, IssuancePolicy, NewToken, RateLimitRequest,
    TokenRequest, PAGE_MAX,
};
use crate::management::lifecycle::{end_self_rotations, revoke_all};
use crate::records::{
    Account, Actor, ApprovalRules, AuditAction, Caller, IpAllowlist, Owner, PatApproval,
    PrincipalStatus, RateLimit, RetryKey, Revocation, StatusFilter, Timestamp, TokenRecord,
    TokenStatus,
};
use crate::store::pepper::{PepperKeeper, PepperRing, PepperSource};
use crate::store::{PrincipalStore, RevokeOutcome, StoreError, TokenPage, TokenStore};
use crate::token::{PlainToken, TokenId};

/// A token just made: shown to its owner once, in this response only.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: PlainToken,
    pub record: TokenRecord,
    /// Given back for a retried `Idempotency-Key`, not issued now.
    pub replayed: bool,
    /// The owner's orgs that require approval, when a PAT's creation read
    /// them (what its answer shows it waiting in); `None`: not read.
    pub approval_rules: Option<Vec<(String, PatApproval)>>,
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

/// What a new credential carries besides its name.
pub(super) struct Kept {
    pub scopes: Vec<String>,
    pub lifetime_ms: Option<i64>,
    pub allowed_ips: IpAllowlist,
    pub rate_limit: Option<RateLimit>,
    pub org_limit: Option<Vec<String>>,
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
    pub(super) async fn check_account(&self, caller: &Caller) -> Result<Account, ManagementError> {
        let account = self.account(caller).await?;
        match pat_refusal(&account) {
            Some(refusal) => Err(refusal),
            None => Ok(account),
        }
    }

    /// A new credential of `owner` with `name` (checked when it was chosen)
    /// and `kept`'s scopes, lifetime and allowlist.
    pub(super) fn new_record(
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
            last_use: Default::default(),
            org_decisions: Default::default(),
            allowed_ips: kept.allowed_ips,
            rate_limit: kept.rate_limit,
            usage_key_placed: false,
            org_limit: kept.org_limit,
            family: None,
        };
        Ok(IssuedToken {
            token,
            record,
            replayed: false,
            approval_rules: None,
        })
    }

    /// Runs `write` once more after freeing the slots of ended tokens, if
    /// the first attempt hit the limit and there were any.
    pub(super) async fn within_limit<T, F, Fut>(
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
        let rules = self.approval_rules_of(&account).await?;
        let requests = Some((&account, rules.as_slice()));
        let mut issued = self
            .issue(
                caller.owner(),
                new,
                limit,
                &caller.actor(),
                retry,
                requests,
                now,
            )
            .await?;
        issued.approval_rules = Some(rules);
        Ok(issued)
    }

    /// Issues a credential to `owner`, audited as `by`, within `limit`
    /// active ones, keeping its result under `retry`'s key. A PAT makes
    /// its approval `requests` (its owner's account and orgs' rules).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn issue(
        &self,
        owner: Owner,
        new: NewToken,
        limit: u32,
        by: &Actor,
        retry: Option<&RetryKey>,
        requests: Option<(&Account, &ApprovalRules)>,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        let kept = Kept {
            scopes: new.scopes,
            lifetime_ms: new.lifetime_ms,
            allowed_ips: new.allowed_ips,
            rate_limit: new.rate_limit,
            org_limit: new.org_limit,
        };
        let issued = self.new_record(owner.clone(), new.name.into_string(), kept, now)?;
        let mut audits = vec![by
            .event(AuditAction::TokenCreate, owner.clone(), now)
            .for_token(issued.record.id)];
        if let Some((account, rules)) = requests {
            audits.extend(approval_requests(&issued.record, account, rules, by, now));
        }
        let kept = self.idempotency_record(retry, &issued, now)?;
        let written = self
            .within_limit(&owner, now, || {
                self.store
                    .create_token_once(&issued.record, limit, &audits, kept.as_ref())
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

    /// Replaces the rate limit of one of the caller's active tokens (`None`:
    /// unlimited). The owner's own limit: a leaked PAT can do less.
    pub async fn set_rate_limit(
        &self,
        caller: &Caller,
        id: &str,
        request: Option<RateLimitRequest>,
        now: Timestamp,
    ) -> Result<TokenRecord, ManagementError> {
        let record = self.get(caller, id).await?;
        let limit = request.map(rate_limit).transpose()?;
        self.change_rate_limit(record, limit, &caller.actor(), now)
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

    /// Gives an active `record` the rate limit `limit` (`None`: unlimited),
    /// audited as `by`.
    pub(super) async fn change_rate_limit(
        &self,
        mut record: TokenRecord,
        limit: Option<RateLimit>,
        by: &Actor,
        now: Timestamp,
    ) -> Result<TokenRecord, ManagementError> {
        if record.status(now) != TokenStatus::Active {
            return Err(ManagementError::TokenNotActive);
        }
        let shown = limit.map_or_else(|| "none".to_owned(), |limit| limit.to_string());
        let audit = by
            .event(AuditAction::TokenUpdate, record.owner.clone(), now)
            .for_token(record.id)
            .with_detail(format!("rate_limit={shown}"));
        match self.store.set_rate_limit(&record.id, limit, &audit).await {
            Ok(()) => {
                record.rate_limit = limit;
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
