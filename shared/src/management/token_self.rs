//! What a token does for itself, authorized by the token and not a
//! session: `GET /v1/tokens/self` (its own metadata) and
//! `POST /v1/tokens/self/rotate` (it replaces itself).

use super::error::ManagementError;
use super::rotation::{OwnerAsRead, Replacement};
use super::tokens::{IssuedToken, TokenManager};
use crate::records::{
    Actor, Origin, Owner, OwnerKind, RetryKey, Timestamp, TokenRecord, TokenStatus,
};
use crate::store::pepper::PepperSource;
use crate::store::{read_principal, PrincipalStore, TokenStore};
use crate::token::TokenId;

/// The scope a token needs to rotate itself without a session: its owner
/// grants it at creation, with a session.
pub const ROTATE_SELF_SCOPE: &str = "tokens:rotate_self";

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
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
}
