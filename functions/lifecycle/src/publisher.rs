//! One batch of the table's stream: each audit item that is a credential
//! event goes to the bus once. Idempotent: an event already marked
//! published (by its audit event id) is not put again, so a redelivered
//! batch sends nothing twice. Failed entries are reported as partial batch
//! failures, so only they are retried.

use cog_tokens::aws::dynamodb::stream::audit_event_from_image;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::events::LifecycleEvent;
use cog_tokens::logging::Causes;
use cog_tokens::records::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bus::EventBus;

/// A DynamoDB stream batch, as Lambda's event source mapping sends it.
#[derive(Debug, Deserialize, Default)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName")]
    pub event_name: Option<String>,
    pub dynamodb: Option<StreamChange>,
}

#[derive(Debug, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "NewImage")]
    pub new_image: Option<Value>,
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: Option<String>,
}

/// The partial batch response: the records to retry.
#[derive(Debug, Serialize, Default, PartialEq, Eq)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The credential events of a batch, each with its record's sequence number.
fn credential_events(batch: &StreamBatch) -> Vec<(String, LifecycleEvent)> {
    let mut events = Vec::new();
    for record in &batch.records {
        if record.event_name.as_deref() != Some("INSERT") {
            continue; // audit items are only ever inserted
        }
        let Some(change) = &record.dynamodb else {
            continue;
        };
        let (Some(image), Some(sequence)) = (&change.new_image, &change.sequence_number) else {
            continue;
        };
        match audit_event_from_image(image) {
            Ok(Some(audit)) => {
                if let Some(event) = LifecycleEvent::from_audit(&audit) {
                    events.push((sequence.clone(), event));
                }
            }
            Ok(None) => {}
            // Retrying cannot mend a damaged item: logged, not retried forever.
            Err(error) => {
                tracing::error!(sequence, error = %Causes(&error), "unreadable audit item in the stream")
            }
        }
    }
    events
}

/// Publishes one stream batch.
pub async fn publish(
    store: &DynamoStore,
    bus: &dyn EventBus,
    batch: &StreamBatch,
    now: Timestamp,
) -> BatchResponse {
    let events = credential_events(batch);
    let fail_all = |events: &[(String, LifecycleEvent)]| BatchResponse {
        failures: events
            .iter()
            .map(|(sequence, _)| ItemFailure {
                item_identifier: sequence.clone(),
            })
            .collect(),
    };
    let ids: Vec<String> = events
        .iter()
        .map(|(_, e)| e.detail.event_id.clone())
        .collect();
    let published = match store.published(&ids).await {
        Ok(published) => published,
        Err(error) => {
            tracing::warn!(error = %Causes(&error), "published markers unreadable: batch retried");
            return fail_all(&events);
        }
    };
    let (sequences, to_send): (Vec<String>, Vec<LifecycleEvent>) = events
        .into_iter()
        .filter(|(_, e)| !published.contains(&e.detail.event_id))
        .unzip();
    let accepted = bus.put(&to_send).await;
    let mut response = BatchResponse::default();
    let mut sent = Vec::new();
    for ((sequence, event), ok) in sequences.into_iter().zip(&to_send).zip(accepted) {
        if ok {
            sent.push(event.detail.event_id.clone());
        } else {
            response.failures.push(ItemFailure {
                item_identifier: sequence,
            });
        }
    }
    // A failure here only risks a duplicate on redelivery; consumers
    // de-duplicate by `event_id`.
    if let Err(error) = store.mark_published(&sent, now).await {
        tracing::warn!(error = %Causes(&error), "published markers not written");
    }
    tracing::info!(
        published = sent.len(),
        skipped = published.len(),
        failed = response.failures.len(),
        "stream batch handled"
    );
    response
}
