//! The authorizer's read path, the request counters, the revocation feed,
//! scheduled ends and the expiry index, in memory.

use std::collections::HashMap;

use async_trait::async_trait;

use super::MemoryStore;
use crate::records::{AuditEvent, ChangeKey, OrgPolicy, Owner, Timestamp, TokenRecord};
use crate::store::expiry::{ExpiringToken, ExpiryIndex, ExpiryNotice};
use crate::store::feed::{FeedSnapshot, RevocationFeed};
use crate::store::gateway::FlushSchedule;
use crate::store::{
    read_principal, CredentialLookup, Principal, RateLimiter, StoreError, TokenStore,
};
use crate::token::TokenId;

#[async_trait]
impl RateLimiter for MemoryStore {
    async fn admit(
        &self,
        key: &str,
        window_start: Timestamp,
        _window_seconds: i64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let count = state
            .rates
            .entry((key.to_owned(), window_start.0))
            .or_default();
        if *count >= limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }
}

#[async_trait]
impl CredentialLookup for MemoryStore {
    async fn token_and_owner(
        &self,
        id: &TokenId,
        _owner_hint: Option<&Owner>,
    ) -> Result<(Option<TokenRecord>, Option<Principal>), StoreError> {
        let Some(record) = self.get_token(id).await? else {
            return Ok((None, None));
        };
        let principal = read_principal(self, &record.owner).await?;
        Ok((Some(record), principal))
    }

    async fn org_policies(
        &self,
        orgs: &[String],
    ) -> Result<HashMap<String, OrgPolicy>, StoreError> {
        let state = self.state()?;
        Ok(orgs
            .iter()
            .filter_map(|org| Some((org.clone(), *state.org_policies.get(org)?)))
            .collect())
    }
}

#[async_trait]
impl RevocationFeed for MemoryStore {
    async fn read_feed(&self) -> Result<FeedSnapshot, StoreError> {
        Ok(self.state()?.feed.clone())
    }

    async fn append_to_feed(&self, keys: &[ChangeKey], at: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state()?;
        state.feed = std::mem::take(&mut state.feed).with(keys, at);
        Ok(())
    }
}

#[async_trait]
impl FlushSchedule for MemoryStore {
    async fn schedule_end(&self, id: &TokenId, at: Timestamp) -> Result<(), StoreError> {
        self.state()?.scheduled_ends.insert((at, *id));
        Ok(())
    }

    async fn scheduled_ends(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, TokenId)>, StoreError> {
        let state = self.state()?;
        Ok(state
            .scheduled_ends
            .iter()
            .filter(|(at, _)| (from..=to).contains(at))
            .copied()
            .collect())
    }
}

/// The expiry index as the DynamoDB adapter keeps it: every expiring token
/// until its `Expired` notice.
#[async_trait]
impl ExpiryIndex for MemoryStore {
    async fn tokens_expiring(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ExpiringToken>, StoreError> {
        let state = self.state()?;
        Ok(state
            .tokens
            .values()
            .map(|(record, _)| record)
            .filter(|r| r.expires_at.is_some_and(|at| (from..=to).contains(&at)))
            .map(|record| {
                let notices = state
                    .expiry_notices
                    .get(&record.id)
                    .cloned()
                    .unwrap_or_default();
                ExpiringToken {
                    record: record.clone(),
                    notices,
                }
            })
            .filter(|t| !t.notices.contains(&ExpiryNotice::Expired))
            .collect())
    }

    async fn record_expiry_notice(
        &self,
        id: &TokenId,
        notice: ExpiryNotice,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let live = state
            .tokens
            .get(id)
            .is_some_and(|(record, _)| record.revoked.is_none());
        let notices = state.expiry_notices.entry(*id).or_default();
        if !live || notices.contains(&notice) {
            return Ok(false);
        }
        notices.push(notice);
        state.audit.push(audit.clone());
        Ok(true)
    }
}
