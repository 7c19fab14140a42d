//! A retried request that issues a credential (`Idempotency-Key`) gets its
//! first result back, the token included, and nothing is issued twice.
//!
//! No claim comes before the work: the record is written in the issuing
//! transaction itself, conditioned on its key being free. Of concurrent
//! retries exactly one commits; every other finds the record when it reads
//! again after its refusal, and answers the same token. A request that
//! failed left nothing, so its retry runs again.

use super::error::{Fault, ManagementError};
use super::tokens::{IssuedToken, TokenManager};
use crate::records::idempotency::IDEMPOTENCY_WINDOW_MS;
use crate::records::{IdempotencyRecord, Owner, RetryKey, Timestamp, TokenStatus};
use crate::store::pepper::PepperSource;
use crate::store::{PrincipalStore, TokenStore};
use crate::token::{seal, PlainToken};

fn unreadable() -> ManagementError {
    ManagementError::Internal(Fault::IdempotencyResultUnreadable)
}

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    /// The first result of `retry`'s key, if its record holds it: the same
    /// token of `owner`, with its record as it is now. Another request under
    /// the key is refused, and so is one whose token has ended since (its
    /// secret is not handed out again).
    pub(super) async fn replay(
        &self,
        retry: Option<&RetryKey>,
        owner: &Owner,
        now: Timestamp,
    ) -> Result<Option<IssuedToken>, ManagementError> {
        let Some(retry) = retry else {
            return Ok(None);
        };
        let kept = self.store.get_idempotency_record(&retry.record).await?;
        let Some(kept) = kept.filter(|kept| kept.holds_at(now)) else {
            return Ok(None);
        };
        if kept.fingerprint != retry.fingerprint {
            return Err(ManagementError::IdempotencyKeyReused);
        }
        let record = self
            .store
            .get_token(&kept.token_id)
            .await?
            .filter(|record| record.owner == *owner)
            .ok_or_else(unreadable)?;
        if record.status(now) != TokenStatus::Active {
            return Err(ManagementError::TokenNotActive);
        }
        // Sealed by any instance, maybe under a pepper this one has not loaded.
        let ring = self
            .ring_with(kept.pepper_version)
            .await?
            .ok_or_else(unreadable)?;
        let pepper = ring.get(kept.pepper_version).ok_or_else(unreadable)?;
        let context = IdempotencyRecord::context(&kept.key, &kept.fingerprint, &kept.token_id);
        let secret = seal::open(pepper, &context, &kept.sealed_token).ok_or_else(unreadable)?;
        let token = std::str::from_utf8(&secret)
            .ok()
            .and_then(|text| PlainToken::parse(text).ok())
            .filter(|token| token.id() == kept.token_id)
            .ok_or_else(unreadable)?;
        Ok(Some(IssuedToken {
            token,
            record,
            replayed: true,
            approval_rules: None,
        }))
    }

    /// What `issued` leaves under `retry`'s key: its token sealed under the
    /// current pepper, for 24 hours.
    pub(super) fn idempotency_record(
        &self,
        retry: Option<&RetryKey>,
        issued: &IssuedToken,
        now: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, ManagementError> {
        let Some(retry) = retry else {
            return Ok(None);
        };
        let ring = self.ring()?;
        let pepper = ring.current();
        let id = issued.record.id;
        let context = IdempotencyRecord::context(&retry.record, &retry.fingerprint, &id);
        let sealed = seal::seal(pepper, &context, issued.token.expose_secret().as_bytes())
            .map_err(|e| ManagementError::Internal(e.into()))?;
        Ok(Some(IdempotencyRecord {
            key: retry.record,
            fingerprint: retry.fingerprint,
            token_id: id,
            pepper_version: pepper.version(),
            sealed_token: sealed,
            created_at: now,
            expires_at: Timestamp(now.0.saturating_add(IDEMPOTENCY_WINDOW_MS)),
        }))
    }

    /// After the write of `issued` under `retry` was refused or failed: the
    /// result that a concurrent request with the key committed meanwhile,
    /// or this very write's if it committed but its answer was lost (then
    /// not a replay), or the key's refusal; `None` when the key holds
    /// nothing (or cannot be read now), so the write's own error stands.
    pub(super) async fn concurrent_result(
        &self,
        retry: Option<&RetryKey>,
        issued: &IssuedToken,
        now: Timestamp,
    ) -> Option<Result<IssuedToken, ManagementError>> {
        match self.replay(retry, &issued.record.owner, now).await {
            Ok(Some(found)) => Some(Ok(IssuedToken {
                replayed: found.record.id != issued.record.id,
                ..found
            })),
            Ok(None) | Err(ManagementError::Unavailable(_)) => None,
            Err(refusal) => Some(Err(refusal)),
        }
    }
}
