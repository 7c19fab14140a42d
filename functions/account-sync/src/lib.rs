//! The platform directory's account updates, delivered by EventBridge
//! (source `platform.directory`, detail-type `AccountUpdated`), applied
//! newest-wins: see [`cog_tokens::accounts`]. An invalid update is an error,
//! so EventBridge retries it and then leaves it in the dead-letter queue for
//! a person to look at; a stale one is a success that writes nothing.

use cog_tokens::accounts::{apply, AccountUpdate, SyncError, SyncOutcome};
use cog_tokens::logging::Causes;
use cog_tokens::records::Timestamp;
use cog_tokens::store::PrincipalStore;
use serde::Deserialize;

pub const SOURCE: &str = "platform.directory";
pub const DETAIL_TYPE: &str = "AccountUpdated";

/// The EventBridge envelope, as far as this function reads it.
#[derive(Debug, Deserialize)]
pub struct DirectoryEvent {
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("not an account update (source {event_source}, detail-type {detail_type})")]
    Foreign {
        event_source: String,
        detail_type: String,
    },
    #[error("the account update is not readable")]
    Unreadable(#[source] serde_json::Error),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl From<EventError> for lambda_runtime::Diagnostic {
    fn from(error: EventError) -> Self {
        let kind = match &error {
            EventError::Foreign { .. } => "ForeignEvent",
            EventError::Unreadable(_) | EventError::Sync(SyncError::Invalid(_)) => {
                "InvalidAccountUpdate"
            }
            EventError::Sync(SyncError::Store(_)) => "StorageFault",
        };
        Self {
            error_type: kind.to_owned(),
            error_message: Causes(&error).to_string(),
        }
    }
}

/// Applies one event; `Ok` also when it was stale.
pub async fn handle(
    store: &(impl PrincipalStore + ?Sized),
    event: DirectoryEvent,
    now: Timestamp,
) -> Result<SyncOutcome, EventError> {
    if event.source != SOURCE || event.detail_type != DETAIL_TYPE {
        return Err(EventError::Foreign {
            event_source: event.source,
            detail_type: event.detail_type,
        });
    }
    let update: AccountUpdate =
        serde_json::from_value(event.detail).map_err(EventError::Unreadable)?;
    let outcome = apply(store, &update, now).await;
    match &outcome {
        Ok(result) => tracing::info!(
            user_id = %update.user_id,
            version = update.version,
            applied = *result == SyncOutcome::Applied,
            "account update"
        ),
        Err(error) => tracing::error!(
            user_id = %update.user_id,
            version = update.version,
            error = %Causes(error),
            "account update failed"
        ),
    }
    Ok(outcome?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cog_tokens::memory::MemoryStore;
    use serde_json::json;

    fn event(version: i64, status: &str) -> DirectoryEvent {
        serde_json::from_value(json!({
            "version": "0", "id": "e", "source": SOURCE, "detail-type": DETAIL_TYPE,
            "account": "1", "time": "2026-11-28T00:00:00Z", "region": "eu-west-1", "resources": [],
            "detail": {"user_id": "ann", "status": status, "sso": false, "pat_beta": true,
                       "orgs": [{"org": "acme", "role": "admin"}], "version": version}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn updates_apply_newest_wins_and_foreign_events_are_refused() {
        let store = MemoryStore::new();
        let now = Timestamp(1);
        assert_eq!(
            handle(&store, event(2, "suspended"), now).await.unwrap(),
            SyncOutcome::Applied
        );
        assert_eq!(
            handle(&store, event(1, "active"), now).await.unwrap(),
            SyncOutcome::Stale
        );
        assert_eq!(
            handle(&store, event(2, "active"), now).await.unwrap(),
            SyncOutcome::Stale
        );
        let account = store.get_account("ann").await.unwrap().unwrap();
        assert_eq!(account.status.as_str(), "suspended");
        let mut foreign = event(3, "active");
        foreign.source = "someone.else".into();
        assert!(matches!(
            handle(&store, foreign, now).await,
            Err(EventError::Foreign { .. })
        ));
        assert!(matches!(
            handle(&store, event(3, "disabled"), now).await,
            Err(EventError::Sync(SyncError::Invalid("status")))
        ));
    }
}
