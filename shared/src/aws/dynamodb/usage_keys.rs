//! `UsageKeyMarks`: the `usage_key` attribute on a token, which the sync
//! writes after placing the token's key (no audit: bookkeeping, like
//! `last_used_at`).

use std::collections::HashMap;

use async_trait::async_trait;

use super::attributes::n;
use super::items::{rate_limit_value, RATE_LIMIT, USAGE_KEY};
use super::keys::token_key;
use super::DynamoStore;
use crate::records::{RateLimit, Timestamp};
use crate::store::usage_plans::UsageKeyMarks;
use crate::store::StoreError;
use crate::token::TokenId;

#[async_trait]
impl UsageKeyMarks for DynamoStore {
    async fn mark_placed(&self, token: &TokenId, limit: RateLimit) -> Result<bool, StoreError> {
        self.update_if(
            token_key(token),
            &format!("SET {USAGE_KEY} = :limit"),
            &format!("{RATE_LIMIT} = :limit"),
            HashMap::from([(":limit".to_owned(), rate_limit_value(limit))]),
        )
        .await
    }

    async fn clear_placed(&self, token: &TokenId, now: Timestamp) -> Result<bool, StoreError> {
        self.update_if(
            token_key(token),
            &format!("REMOVE {USAGE_KEY}"),
            &format!(
                "attribute_exists(pk) AND (attribute_not_exists({RATE_LIMIT}) \
                 OR revoked_at <= :now OR expires_at <= :now)"
            ),
            HashMap::from([(":now".to_owned(), n(now.0))]),
        )
        .await
    }
}
