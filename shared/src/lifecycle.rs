//! Token lifecycle operations shared by the functions and the operator CLI.

use crate::records::{AuditEvent, Owner, Revocation, StatusFilter, Timestamp};
use crate::store::{RevokeOutcome, StoreError, TokenStore};

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
    let mut cursor = None;
    loop {
        let page = store
            .list_tokens(owner, StatusFilter::All, now, 100, cursor.as_deref())
            .await?;
        for record in page.tokens.iter().filter(|r| r.revoked.is_none()) {
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
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(revoked),
        }
    }
}
