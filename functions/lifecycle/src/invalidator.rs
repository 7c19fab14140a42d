//! One invocation of the cache invalidator: a batch of the table's stream
//! (the access changes its audit items record), or the schedule's tick
//! (credentials ending by time). A batch that fails is reported from its
//! first record, so the event source mapping retries it whole, then
//! dead-letters it; an unreadable audit item fails the batch too: a change
//! it might record must not be skipped.

use cog_tokens::events::invalidation::{InvalidationError, Invalidator, Outcome};
use cog_tokens::logging::Causes;
use cog_tokens::records::AccessChange;
use cog_tokens::store::expiry::ExpiryIndex;
use cog_tokens::store::feed::RevocationFeed;
use cog_tokens::store::gateway::{FlushSchedule, GatewayCache};
use cog_tokens::store::TokenStore;
use serde_json::Value;

use crate::publisher::{BatchResponse, ItemFailure, StreamBatch};

/// The access changes of a batch, or the sequence number of the first
/// record that could not be read.
pub fn changes_in(batch: &StreamBatch) -> Result<Vec<AccessChange>, String> {
    let audits = batch.audits()?;
    Ok(audits.iter().filter_map(AccessChange::from_audit).collect())
}

/// What one invocation did, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvalidationTally {
    /// API Gateway cache flushes made.
    pub flushes: usize,
    /// A flush failed (and with it the batch or tick).
    pub flush_failed: bool,
    /// The batch or tick failed, for any reason: retried.
    pub failed: bool,
}

impl InvalidationTally {
    fn failure(error: Option<&InvalidationError>) -> Self {
        Self {
            flushes: 0,
            flush_failed: matches!(error, Some(InvalidationError::Flush { .. })),
            failed: true,
        }
    }
}

/// Handles one event: a stream batch when it has `Records`, else a tick.
pub async fn handle<S, G>(invalidator: &Invalidator<S, G>, event: Value) -> BatchResponse
where
    S: RevocationFeed + TokenStore + FlushSchedule + ExpiryIndex,
    G: GatewayCache,
{
    handle_counted(invalidator, event).await.0
}

/// [`handle`], with what the invocation did.
pub async fn handle_counted<S, G>(
    invalidator: &Invalidator<S, G>,
    event: Value,
) -> (BatchResponse, InvalidationTally)
where
    S: RevocationFeed + TokenStore + FlushSchedule + ExpiryIndex,
    G: GatewayCache,
{
    if event.get("Records").is_none() {
        return match invalidator.on_schedule().await {
            Ok(outcome) => {
                tracing::info!(flushes = outcome.flushes, "scheduled run done");
                let tally = InvalidationTally {
                    flushes: outcome.flushes,
                    ..InvalidationTally::default()
                };
                (BatchResponse::default(), tally)
            }
            Err(error) => {
                // The next tick covers the same window again; the alarm sees this.
                tracing::error!(error = %Causes(&error), "scheduled run failed");
                let response = BatchResponse {
                    failures: vec![ItemFailure::of("schedule")],
                };
                (response, InvalidationTally::failure(Some(&error)))
            }
        };
    }
    let batch: StreamBatch = match serde_json::from_value(event) {
        Ok(batch) => batch,
        Err(error) => {
            tracing::error!(
                line = error.line(),
                column = error.column(),
                "unreadable stream batch"
            );
            let response = BatchResponse {
                failures: vec![ItemFailure::of("")],
            };
            return (response, InvalidationTally::failure(None));
        }
    };
    let first = batch.first_sequence();
    let changes = match changes_in(&batch) {
        Ok(changes) => changes,
        Err(sequence) => {
            let response = BatchResponse {
                failures: vec![ItemFailure::of(&sequence)],
            };
            return (response, InvalidationTally::failure(None));
        }
    };
    match invalidator.on_changes(&changes).await {
        Ok(Outcome {
            fed,
            flushes,
            scheduled,
        }) => {
            tracing::info!(
                changes = changes.len(),
                fed,
                flushes,
                scheduled,
                "stream batch handled"
            );
            let tally = InvalidationTally {
                flushes,
                ..InvalidationTally::default()
            };
            (BatchResponse::default(), tally)
        }
        Err(error) => {
            log_failure(&error);
            let response = BatchResponse {
                failures: vec![ItemFailure::of(&first)],
            };
            (response, InvalidationTally::failure(Some(&error)))
        }
    }
}

fn log_failure(error: &InvalidationError) {
    tracing::error!(error = %Causes(error), "invalidation failed: batch retried, then dead-lettered");
}
