//! `TokenScan` in memory: the tokens in id order, `limit` at a time, the
//! cursor being the last id read.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{StoreError, TokenPage, TokenScan, TokenScanFilter};
use crate::token::TokenId;

#[async_trait]
impl TokenScan for MemoryStore {
    async fn scan_tokens(
        &self,
        filter: &TokenScanFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<TokenPage, StoreError> {
        let after: Option<TokenId> = cursor
            .map(|c| c.parse().map_err(|_| StoreError::InvalidCursor))
            .transpose()?;
        let state = self.state()?;
        let mut ids: Vec<&TokenId> = state
            .tokens
            .keys()
            .filter(|id| after.is_none_or(|after| **id > after))
            .collect();
        ids.sort();
        let limit = limit.max(1);
        let read = &ids[..ids.len().min(limit)];
        let tokens = read
            .iter()
            .filter_map(|id| state.tokens.get(id).map(|(record, _)| record))
            .filter(|record| filter.admits(record))
            .cloned()
            .collect();
        let next_cursor = (ids.len() > limit)
            .then(|| read.last().map(ToString::to_string))
            .flatten();
        Ok(TokenPage {
            tokens,
            next_cursor,
        })
    }
}
