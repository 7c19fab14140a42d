//! Token lifecycle operations shared by the functions and the operator CLI.

use crate::records::{AuditEvent, Owner, Revocation, StatusFilter, Timestamp, TokenRecord};
use crate::store::{RevokeOutcome, StoreError, TokenStore};

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

/// Revokes every unrevoked token of `owner`; returns how many it revoked.
/// Each revocation is its own transaction with its own audit event, so a
/// failure part-way leaves every token either fully revoked or untouched,
/// and running it again finishes the job.
pub async fn revoke_all(
    store: &impl TokenStore,
    owner: &Owner,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let mut revoked = 0;
    for record in all_tokens(store, owner, StatusFilter::All, now).await? {
        if record.revoked.is_some() {
            continue;
        }
        let revocation = Revocation {
            at: now,
            by: actor.to_owned(),
            reason: reason.to_owned(),
        };
        let audit = AuditEvent::new(actor, "token.revoke", owner.clone(), now)
            .for_token(record.id)
            .with_detail(reason);
        match store.revoke_token(&record.id, &revocation, &audit).await? {
            RevokeOutcome::Revoked => revoked += 1,
            RevokeOutcome::AlreadyRevoked => {}
        }
    }
    Ok(revoked)
}
