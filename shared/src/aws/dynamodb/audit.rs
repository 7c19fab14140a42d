//! `AuditLog`: an owner's (or the system's) audit events, newest first.

use async_trait::async_trait;

use super::attributes::s;
use super::keys::audit_partition;
use super::transaction::unavailable;
use super::DynamoStore;
use crate::records::{AuditEvent, Owner};
use crate::store::{AuditLog, StoreError};

#[async_trait]
impl AuditLog for DynamoStore {
    async fn audit_events(
        &self,
        owner: Option<&Owner>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(audit_partition(owner)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.items().iter().map(AuditEvent::try_from).collect()
    }
}
