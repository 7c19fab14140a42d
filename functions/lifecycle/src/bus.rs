//! The event bus: EventBridge `PutEvents`, 10 entries a call.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use cog_tokens::events::{LifecycleEvent, EVENT_SOURCE};

/// Most entries one `PutEvents` call takes.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

/// Where events go. `put` answers, per entry in order, whether it was accepted.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn put(&self, events: &[LifecycleEvent]) -> Vec<bool>;
}

/// An EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    fn entry(&self, event: &LifecycleEvent) -> Option<PutEventsRequestEntry> {
        let detail = serde_json::to_string(&event.detail).ok()?;
        Some(
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus_name)
                .source(EVENT_SOURCE)
                .detail_type(event.detail_type)
                .detail(detail)
                .build(),
        )
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn put(&self, events: &[LifecycleEvent]) -> Vec<bool> {
        let mut accepted = Vec::with_capacity(events.len());
        for chunk in events.chunks(MAX_ENTRIES_PER_CALL) {
            let entries: Option<Vec<_>> = chunk.iter().map(|e| self.entry(e)).collect();
            let Some(entries) = entries else {
                accepted.extend(chunk.iter().map(|_| false));
                continue;
            };
            match self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
            {
                // Entries answer in order; an entry with an error code failed.
                Ok(output) => accepted.extend(
                    output
                        .entries()
                        .iter()
                        .map(|entry| entry.error_code().is_none())
                        .chain(std::iter::repeat(false))
                        .take(chunk.len()),
                ),
                Err(error) => {
                    tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&error), "PutEvents failed");
                    accepted.extend(chunk.iter().map(|_| false));
                }
            }
        }
        accepted
    }
}
