//! Token lifecycle operations shared by the functions and the operator CLI.

use crate::records::{Actor, AuditAction, Owner, Revocation, StatusFilter, Timestamp, TokenRecord};
use crate::store::{PrincipalStore, RevokeOutcome, StoreError, TokenStore};

/// Every token of `owner` that `filter` admits at `now`, newest first, all pages.
pub async fn all_tokens(
    store: &(impl TokenStore + ?Sized),
    owner: &Owner,
    filter: StatusFilter,
    now: Timestamp,
) -> Result<Vec<TokenRecord>, StoreError> {
    let mut tokens = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_tokens(owner, filter, now, 100, cursor.as_deref())
            .await?;
        tokens.extend(page.tokens);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(tokens),
        }
    }
}

/// Revokes every token of `owner`: first at once and completely, by moving
/// the owner's `tokens_valid_after` to `now` (the authorizer checks it, so a
/// token the eventually consistent listing misses is revoked all the same),
/// then token by token so listings show them revoked. Each write is its own
/// transaction with its own audit event; running it again finishes the job.
/// Returns how many tokens it marked revoked.
pub async fn revoke_all(
    store: &(impl TokenStore + PrincipalStore),
    owner: &Owner,
    by: &Actor,
    reason: &str,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let audit = by
        .event(AuditAction::TokenRevokeAll, owner.clone(), now)
        .with_detail(reason);
    match store.revoke_tokens_before(owner, now, &audit).await {
        // No owner record: its tokens cannot authorize anyway.
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(other) => return Err(other),
    }
    let mut revoked = 0;
    for record in all_tokens(store, owner, StatusFilter::All, now).await? {
        // Revoked already, unless only scheduled (a rotation's grace).
        if record.revoked.as_ref().is_some_and(|r| r.at <= now) {
            continue;
        }
        let revocation = Revocation {
            at: now,
            by: by.name.clone(),
            reason: reason.to_owned(),
        };
        let audit = by
            .event(AuditAction::TokenRevoke, owner.clone(), now)
            .for_token(record.id)
            .with_detail(reason);
        match store.revoke_token(&record.id, &revocation, &audit).await? {
            RevokeOutcome::Revoked => revoked += 1,
            RevokeOutcome::AlreadyRevoked => {}
        }
    }
    Ok(revoked)
}
