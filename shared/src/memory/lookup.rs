//! The authorizer's read path and the request counters, in memory.

use std::collections::HashMap;

use async_trait::async_trait;

use super::MemoryStore;
use crate::records::{OrgPolicy, Owner, Timestamp, TokenRecord};
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
