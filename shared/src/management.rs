//! Managing one's own PATs: the rules behind the settings page, independent
//! of HTTP. Issue, list, read, rotate, revoke.

use std::sync::Arc;

use crate::lifecycle::revoke_all;
use crate::names::TokenName;
use crate::pepper::{PepperError, PepperKeeper, PepperRing, PepperSource};
use crate::records::{
    AuditEvent, Owner, PrincipalStatus, Revocation, StatusFilter, Timestamp, TokenRecord,
    TokenStatus,
};
use crate::store::{PrincipalStore, RevokeOutcome, StoreError, TokenPage, TokenStore};
use crate::token::{PlainToken, TokenId};

/// Issuance rules, from configuration.
#[derive(Debug, Clone)]
pub struct IssuancePolicy {
    /// Every scope a token may carry.
    pub scope_catalog: Vec<String>,
    pub default_expiry_days: u32,
    pub max_expiry_days: u32,
    /// Whether `expires_in_days: null` (never expires) is accepted.
    pub allow_non_expiring: bool,
    /// Active tokens per user.
    pub max_active_tokens: u32,
    /// Upper bound of a rotation's `grace_seconds`.
    pub max_rotation_grace_seconds: u32,
}

impl IssuancePolicy {
    /// Checks a request against the policy: name, scopes from the catalog, lifetime.
    pub fn validate(&self, request: TokenRequest) -> Result<NewToken, ManagementError> {
        let name = TokenName::parse(&request.name)
            .map_err(|e| ManagementError::invalid("name", "invalid_name", e.to_string()))?;
        if request.scopes.is_empty() {
            return Err(ManagementError::invalid(
                "scopes",
                "invalid_scopes",
                "at least one scope is required",
            ));
        }
        let mut scopes: Vec<String> = Vec::with_capacity(request.scopes.len());
        for scope in request.scopes {
            if !self.scope_catalog.contains(&scope) {
                return Err(ManagementError::invalid(
                    "scopes",
                    "unknown_scope",
                    format!("unknown scope `{}`", scope.escape_debug()),
                ));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let days = match request.expires_in_days {
            None => Some(self.default_expiry_days),
            Some(None) if self.allow_non_expiring => None,
            Some(None) => {
                return Err(ManagementError::invalid(
                    "expires_in_days",
                    "non_expiring_not_allowed",
                    "tokens must expire; give expires_in_days",
                ))
            }
            Some(Some(days)) if (1..=self.max_expiry_days).contains(&days) => Some(days),
            Some(Some(_)) => {
                return Err(ManagementError::invalid(
                    "expires_in_days",
                    "invalid_expiry",
                    format!("expires_in_days must be 1 to {}", self.max_expiry_days),
                ))
            }
        };
        Ok(NewToken {
            name,
            scopes,
            lifetime_ms: days.map(|d| i64::from(d) * DAY_MS),
        })
    }
}

/// The scope catalog when `SCOPE_CATALOG` is not set.
pub const DEFAULT_SCOPES: &[&str] = &[
    "tokens:read",
    "sessions:read",
    "sessions:write",
    "orgs:read",
    "orgs:write",
];

pub use crate::names::NAME_MAX_CHARS;
pub const PAGE_MAX: usize = 100;

/// Why a management request is refused. Each has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    #[error("no account for this user")]
    AccountNotFound,
    #[error("the account is not active")]
    AccountInactive,
    #[error("personal access tokens are in closed beta and not enabled for this account")]
    PatBetaNotEnabled,
    #[error("personal access tokens are not available for SSO/enterprise accounts")]
    PatUnavailableForSso,
    #[error("{detail}")]
    Invalid {
        field: &'static str,
        code: &'static str,
        detail: String,
    },
    #[error("an active token with this name exists already")]
    NameTaken,
    #[error("at most {limit} active tokens are allowed")]
    LimitReached { limit: u32 },
    #[error("no such token")]
    TokenNotFound,
    #[error("the token is not active")]
    TokenNotActive,
    #[error("scope `{0}` is no longer offered: create a new token instead of rotating this one")]
    ScopeRetired(String),
    #[error("the cursor is not valid")]
    InvalidCursor,
    /// Storage or KMS failed or was throttled: nothing was changed, try again.
    #[error("service unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ManagementError {
    fn invalid(field: &'static str, code: &'static str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            code,
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for ManagementError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidCursor => Self::InvalidCursor,
            StoreError::NameTaken => Self::NameTaken,
            StoreError::LimitReached { limit } => Self::LimitReached { limit },
            StoreError::Unavailable(_) | StoreError::Conflict => {
                Self::Unavailable(error.to_string())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<PepperError> for ManagementError {
    fn from(error: PepperError) -> Self {
        match error {
            PepperError::Kms(_) | PepperError::Store(_) => Self::Unavailable(error.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// What a caller asks for: checked by [`IssuancePolicy::validate`].
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    pub scopes: Vec<String>,
    /// `None`: the default lifetime; `Some(None)`: never expires.
    pub expires_in_days: Option<Option<u32>>,
}

const DAY_MS: i64 = 86_400_000;

/// A new token's name, scopes and lifetime, valid under the policy that built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: TokenName,
    /// From the catalog, without repeats, at least one.
    pub scopes: Vec<String>,
    /// `None`: never expires.
    pub lifetime_ms: Option<i64>,
}

/// A token just made: shown to its owner once, in this response only.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: PlainToken,
    pub record: TokenRecord,
}

/// The management service over the storage ports and the pepper ring.
/// The revocation function runs it without a ring: revoking never hashes,
/// so a KMS outage cannot stop anyone from revoking.
pub struct TokenManager<S, P> {
    store: Arc<S>,
    peppers: Option<PepperKeeper<P>>,
    policy: IssuancePolicy,
}

impl<S, P> std::fmt::Debug for TokenManager<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn actor(user_id: &str) -> String {
    format!("user:{user_id}")
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

    fn ring(&self) -> Result<Arc<PepperRing>, ManagementError> {
        let keeper = self.peppers.as_ref().ok_or_else(|| {
            ManagementError::Internal("this function holds no pepper ring".into())
        })?;
        Ok(keeper.ring())
    }

    pub fn policy(&self) -> &IssuancePolicy {
        &self.policy
    }

    /// The account may hold PATs: exists, active, not SSO, beta flag on.
    async fn check_account(&self, user_id: &str) -> Result<(), ManagementError> {
        let account = self
            .store
            .get_account(user_id)
            .await?
            .ok_or(ManagementError::AccountNotFound)?;
        if account.status != PrincipalStatus::Active {
            return Err(ManagementError::AccountInactive);
        }
        if account.sso {
            return Err(ManagementError::PatUnavailableForSso);
        }
        if !account.pat_beta {
            return Err(ManagementError::PatBetaNotEnabled);
        }
        Ok(())
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

    fn new_record(
        &self,
        owner: Owner,
        name: String,
        scopes: Vec<String>,
        lifetime_ms: Option<i64>,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        let ring = self.ring()?;
        let pepper = ring.current();
        let token = PlainToken::generate().map_err(|e| ManagementError::Internal(e.to_string()))?;
        let record = TokenRecord {
            id: token.id(),
            owner,
            name,
            scopes,
            hash: pepper.hash(&token),
            pepper_version: pepper.version(),
            created_at: now,
            expires_at: lifetime_ms.map(|ms| Timestamp(now.0.saturating_add(ms))),
            revoked: None,
            last_used_at: None,
        };
        Ok(IssuedToken { token, record })
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

    /// Issues a PAT to `user_id`.
    pub async fn create(
        &self,
        user_id: &str,
        request: TokenRequest,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        self.check_account(user_id).await?;
        let new = self.policy.validate(request)?;
        let owner = Owner::user(user_id);
        let name = new.name.into_string();
        let issued = self.new_record(owner.clone(), name, new.scopes, new.lifetime_ms, now)?;
        let audit = AuditEvent::new(actor(user_id), "token.create", owner.clone(), now)
            .for_token(issued.record.id);
        let limit = self.policy.max_active_tokens;
        self.within_limit(&owner, now, || {
            self.store.create_token(&issued.record, limit, &audit)
        })
        .await?;
        Ok(issued)
    }

    /// The caller's tokens, newest first.
    pub async fn list(
        &self,
        user_id: &str,
        filter: StatusFilter,
        limit: usize,
        cursor: Option<&str>,
        now: Timestamp,
    ) -> Result<TokenPage, ManagementError> {
        Ok(self
            .store
            .list_tokens(
                &Owner::user(user_id),
                filter,
                now,
                limit.clamp(1, PAGE_MAX),
                cursor,
            )
            .await?)
    }

    /// One of the caller's tokens. Another user's token is "not found", exactly like a missing one.
    pub async fn get(&self, user_id: &str, id: &str) -> Result<TokenRecord, ManagementError> {
        let id: TokenId = id.parse().map_err(|_| ManagementError::TokenNotFound)?;
        match self.store.get_token(&id).await? {
            Some(record) if record.owner == Owner::user(user_id) => Ok(record),
            _ => Err(ManagementError::TokenNotFound),
        }
    }

    /// A new token with the old one's name, scopes and lifetime (under
    /// today's policy); the old one revoked (reason `rotated`) after
    /// `grace_seconds`, in one transaction. A token in its grace still counts
    /// against the limit.
    pub async fn rotate(
        &self,
        user_id: &str,
        id: &str,
        grace_seconds: Option<u32>,
        now: Timestamp,
    ) -> Result<IssuedToken, ManagementError> {
        let old = self.get(user_id, id).await?;
        let grace = grace_seconds.unwrap_or(0);
        if grace > self.policy.max_rotation_grace_seconds {
            return Err(ManagementError::invalid(
                "grace_seconds",
                "invalid_grace",
                format!(
                    "grace_seconds must be 0 to {}",
                    self.policy.max_rotation_grace_seconds
                ),
            ));
        }
        self.check_account(user_id).await?;
        if old.status(now) != TokenStatus::Active || old.revoked.is_some() {
            return Err(ManagementError::TokenNotActive);
        }
        if let Some(retired) = old
            .scopes
            .iter()
            .find(|s| !self.policy.scope_catalog.contains(s))
        {
            return Err(ManagementError::ScopeRetired(retired.clone()));
        }
        // The name is handed over as it is: it was checked when it was chosen.
        let issued = self.new_record(
            old.owner.clone(),
            old.name.clone(),
            old.scopes.clone(),
            self.rotation_lifetime(&old),
            now,
        )?;
        let revocation = Revocation {
            at: now.plus_seconds(i64::from(grace)),
            by: actor(user_id),
            reason: "rotated".into(),
        };
        let audits = [
            AuditEvent::new(actor(user_id), "token.rotate", old.owner.clone(), now)
                .for_token(old.id)
                .with_detail(format!("replaced by {}", issued.record.id)),
            AuditEvent::new(actor(user_id), "token.create", old.owner.clone(), now)
                .for_token(issued.record.id)
                .with_detail(format!("rotated from {}", old.id)),
        ];
        let limit = self.policy.max_active_tokens;
        let rotated = self
            .within_limit(&old.owner, now, || {
                self.store
                    .rotate_token(&old.id, &revocation, &issued.record, limit, &audits)
            })
            .await;
        match rotated {
            Ok(()) => Ok(issued),
            // Revoked or rotated by a concurrent request since it was read.
            Err(StoreError::NotFound) => Err(ManagementError::TokenNotActive),
            Err(other) => Err(other.into()),
        }
    }

    /// Revokes one of the caller's tokens; revoking a revoked token succeeds.
    pub async fn revoke(
        &self,
        user_id: &str,
        id: &str,
        now: Timestamp,
    ) -> Result<RevokeOutcome, ManagementError> {
        let record = self.get(user_id, id).await?;
        let revocation = Revocation {
            at: now,
            by: actor(user_id),
            reason: "revoked by owner".into(),
        };
        let audit = AuditEvent::new(actor(user_id), "token.revoke", record.owner.clone(), now)
            .for_token(record.id)
            .with_detail("revoked by owner");
        Ok(self
            .store
            .revoke_token(&record.id, &revocation, &audit)
            .await?)
    }

    /// Revokes every token of the caller, at once (the owner's watermark)
    /// and in the listing; returns how many it marked revoked.
    pub async fn revoke_all(&self, user_id: &str, now: Timestamp) -> Result<u32, ManagementError> {
        Ok(revoke_all(
            self.store.as_ref(),
            &Owner::user(user_id),
            &actor(user_id),
            "revoked all by owner",
            now,
        )
        .await?)
    }
}
