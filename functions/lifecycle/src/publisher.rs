//! One batch of the table's stream: each audit item that is a credential
//! event goes to the bus once. Idempotent: an event already marked
//! published (by its audit event id) is not put again, so a redelivered
//! batch sends nothing twice. Failed entries, and records the publisher
//! cannot read, are reported as partial batch failures, so only they are
//! retried; after its attempts the event source mapping dead-letters them.

use cog_tokens::aws::dynamodb::stream::audit_event_from_image;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::events::LifecycleEvent;
use cog_tokens::logging::Causes;
use cog_tokens::records::{AuditEvent, Timestamp};
use cog_tokens::store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bus::EventBus;

/// A DynamoDB stream batch, as Lambda's event source mapping sends it.
#[derive(Debug, Deserialize, Default)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

impl StreamBatch {
    /// The audit events its new audit items hold, or the sequence number
    /// of the first record that could not be read (the whole batch is then
    /// retried: a change it might record must not be skipped).
    pub fn audits(&self) -> Result<Vec<AuditEvent>, String> {
        let mut audits = Vec::new();
        for record in &self.records {
            let Some(change) = &record.dynamodb else {
                continue;
            };
            if record.event_name.as_deref() != Some("INSERT") || !change.is_audit_item() {
                continue;
            }
            let sequence = change.sequence_number.clone().unwrap_or_default();
            let audit = match &change.new_image {
                Some(image) => audit_event_from_image(image),
                None => Err(StoreError::Malformed("no new image".into())),
            };
            match audit {
                Ok(Some(audit)) => audits.push(audit),
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(sequence, error = %Causes(&error), "unreadable audit item: batch retried");
                    return Err(sequence);
                }
            }
        }
        Ok(audits)
    }

    /// The sequence number of its first record, which a failed batch is
    /// reported from so the mapping retries it whole.
    pub fn first_sequence(&self) -> String {
        self.records
            .iter()
            .find_map(|r| r.dynamodb.as_ref()?.sequence_number.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventName")]
    pub event_name: Option<String>,
    pub dynamodb: Option<StreamChange>,
}

#[derive(Debug, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "Keys")]
    pub keys: Option<Value>,
    #[serde(rename = "NewImage")]
    pub new_image: Option<Value>,
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: Option<String>,
}

impl StreamChange {
    /// Whether the record is an audit item's (the mapping's filter passes
    /// only those; locally every record comes).
    pub fn is_audit_item(&self) -> bool {
        self.key("pk").is_none_or(|pk| pk.starts_with("AUDIT#"))
    }

    /// Key attribute `name` as text, from the record's keys or else its image.
    fn key(&self, name: &str) -> Option<&str> {
        [&self.keys, &self.new_image]
            .into_iter()
            .flatten()
            .find_map(|map| map.get(name)?.get("S")?.as_str())
    }
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

impl ItemFailure {
    pub fn of(sequence: &str) -> Self {
        Self {
            item_identifier: sequence.to_owned(),
        }
    }
}

/// What a batch holds for the bus: its credential events, each with its
/// record's sequence number, and the sequence numbers of the records that
/// could not be read.
#[derive(Debug, Default)]
struct Read {
    events: Vec<(String, LifecycleEvent)>,
    /// When each of `events` happened (its audit event's time), in order.
    times: Vec<Timestamp>,
    unreadable: Vec<String>,
}

/// Reads a batch. An unreadable audit item is retried, not dropped: one a
/// newer version wrote reads once this one is deployed, and one that never
/// reads reaches the dead-letter queue. Logged by key only: audit items
/// hold no token text, and the image is not logged at all.
fn read_batch(batch: &StreamBatch) -> Read {
    let mut read = Read::default();
    for record in &batch.records {
        if record.event_name.as_deref() != Some("INSERT") {
            continue; // audit items are only ever inserted
        }
        let Some(change) = &record.dynamodb else {
            continue;
        };
        let (pk, sk) = (change.key("pk"), change.key("sk"));
        // The mapping's filter passes audit items only; locally every record comes.
        if pk.is_some_and(|pk| !pk.starts_with("AUDIT#")) {
            continue;
        }
        let audit = match &change.new_image {
            Some(image) => audit_event_from_image(image),
            None => Err(StoreError::Malformed("no new image".into())),
        };
        let sequence = change.sequence_number.as_deref().unwrap_or_default();
        match audit {
            Ok(Some(audit)) if !sequence.is_empty() => {
                if let Some(event) = LifecycleEvent::from_audit(&audit) {
                    read.events.push((sequence.to_owned(), event));
                    read.times.push(audit.at);
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::error!(
                    pk, sk, sequence, error = %Causes(&error),
                    "unreadable audit item in the stream: reported for retry, then the dead-letter queue"
                );
                if !sequence.is_empty() {
                    read.unreadable.push(sequence.to_owned());
                }
            }
        }
    }
    read
}

/// What one batch did, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishTally {
    /// Events the bus accepted.
    pub published: usize,
    /// Records handed back for another attempt (the bus refused them, their
    /// markers could not be read, or they could not be read at all).
    pub retried: usize,
    /// When the oldest change still to publish in the batch happened.
    pub oldest_unpublished: Option<Timestamp>,
}

/// Publishes one stream batch.
pub async fn publish(
    store: &DynamoStore,
    bus: &dyn EventBus,
    batch: &StreamBatch,
    now: Timestamp,
) -> BatchResponse {
    publish_counted(store, bus, batch, now).await.0
}

/// [`publish`], with what the batch did.
pub async fn publish_counted(
    store: &DynamoStore,
    bus: &dyn EventBus,
    batch: &StreamBatch,
    now: Timestamp,
) -> (BatchResponse, PublishTally) {
    let Read {
        events,
        times,
        unreadable,
    } = read_batch(batch);
    let mut response = BatchResponse {
        failures: unreadable.iter().map(|s| ItemFailure::of(s)).collect(),
    };
    let mut tally = PublishTally::default();
    let ids: Vec<String> = events
        .iter()
        .map(|(_, e)| e.detail.event_id.clone())
        .collect();
    let published = match store.published(&ids).await {
        Ok(published) => published,
        Err(error) => {
            tracing::warn!(error = %Causes(&error), "published markers unreadable: batch retried");
            let sequences = events.iter().map(|(sequence, _)| ItemFailure::of(sequence));
            response.failures.extend(sequences);
            tally.retried = response.failures.len();
            tally.oldest_unpublished = times.into_iter().min();
            return (response, tally);
        }
    };
    let (sequences, to_send): (Vec<String>, Vec<LifecycleEvent>) = events
        .into_iter()
        .zip(times)
        .filter(|((_, e), _)| !published.contains(&e.detail.event_id))
        .map(|(event, at)| {
            tally.oldest_unpublished = Some(tally.oldest_unpublished.map_or(at, |t| t.min(at)));
            event
        })
        .unzip();
    let accepted = bus.put(&to_send).await;
    let mut sent = Vec::new();
    for ((sequence, event), ok) in sequences.into_iter().zip(&to_send).zip(accepted) {
        if ok {
            sent.push(event.detail.event_id.clone());
        } else {
            response.failures.push(ItemFailure::of(&sequence));
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
        failed = response.failures.len() - unreadable.len(),
        unreadable = unreadable.len(),
        "stream batch handled"
    );
    tally.published = sent.len();
    tally.retried = response.failures.len();
    (response, tally)
}

#[cfg(test)]
#[path = "publisher_tests.rs"]
mod tests;
