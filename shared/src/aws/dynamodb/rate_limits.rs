//! `RateLimiter`: one counter item per key and fixed window, gone by TTL.

use async_trait::async_trait;

use super::attributes::{n, ttl_after};
use super::keys::key;
use super::schema::TTL_ATTRIBUTE;
use super::transaction::{is_condition_failure, unavailable};
use super::DynamoStore;
use crate::records::Timestamp;
use crate::store::{RateLimiter, StoreError};

#[async_trait]
impl RateLimiter for DynamoStore {
    async fn admit(
        &self,
        key_text: &str,
        window_start: Timestamp,
        window_seconds: i64,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let window_end = window_start.plus_seconds(window_seconds);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("RATE#{key_text}"),
                &window_start.0.to_string(),
            )))
            .update_expression("ADD requests :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(requests) OR requests < :limit")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", ttl_after(window_end, 1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }
}
