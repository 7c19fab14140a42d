//! The platform directory's account updates, delivered by EventBridge
//! (source `platform.directory`, detail-type `AccountUpdated`, put by the
//! directory's AWS account), applied newest-wins: see
//! [`cog_tokens::management::accounts`]. Any other event, or an invalid update, is an
//! error (logged), so EventBridge retries it and then leaves it in the
//! dead-letter queue for a person to look at; a stale one is a success that
//! writes nothing.

use cog_tokens::config::{required, ConfigError};
use cog_tokens::logging::Causes;
use cog_tokens::management::accounts::{apply, AccountUpdate, SyncError, SyncOutcome};
use cog_tokens::metrics::Aggregate;
use cog_tokens::records::Timestamp;
use cog_tokens::store::PrincipalStore;
use serde::Deserialize;

pub const SOURCE: &str = "platform.directory";
pub const DETAIL_TYPE: &str = "AccountUpdated";
/// The AWS account id the directory puts its events from.
pub const DIRECTORY_ACCOUNT_VARIABLE: &str = "DIRECTORY_ACCOUNT_ID";

/// The AWS account whose events are the directory's: anyone else allowed to
/// put events on the bus must not be able to write accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    account_id: String,
}

impl Directory {
    /// A 12-digit AWS account id.
    pub fn new(account_id: &str) -> Result<Self, ConfigError> {
        let account_id = account_id.trim();
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError {
                name: DIRECTORY_ACCOUNT_VARIABLE,
                problem: "is not a 12-digit AWS account id".into(),
            });
        }
        Ok(Self {
            account_id: account_id.to_owned(),
        })
    }

    /// From `DIRECTORY_ACCOUNT_ID`, which is required.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::new(&required(DIRECTORY_ACCOUNT_VARIABLE)?)
    }
}

/// The EventBridge envelope, as far as this function reads it.
#[derive(Debug, Deserialize)]
pub struct DirectoryEvent {
    /// The AWS account that put the event (EventBridge sets it).
    pub account: String,
    pub source: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("not the directory's account update (account {account}, source {event_source}, detail-type {detail_type})")]
    Foreign {
        account: String,
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

/// Applies one event; `Ok` also when it was stale. Every refusal is logged.
pub async fn handle(
    store: &(impl PrincipalStore + ?Sized),
    directory: &Directory,
    event: DirectoryEvent,
    now: Timestamp,
) -> Result<SyncOutcome, EventError> {
    let update = match read(directory, event) {
        Ok(update) => update,
        Err(error) => {
            tracing::error!(error = %Causes(&error), "account update refused");
            return Err(error);
        }
    };
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

/// The `Function` dimension's value.
pub const FUNCTION_NAME: &str = "account-sync";
/// Count: updates written (newer than what the table held).
pub const APPLIED: &str = "AccountSyncApplied";
/// Count: events refused: not the directory's, unreadable or invalid.
pub const REFUSED: &str = "AccountSyncRefused";

/// Counts one event's result: a stale update is neither applied nor refused,
/// a storage fault neither (it is retried; the function's errors show it).
pub fn record_result(aggregate: &mut Aggregate, result: &Result<SyncOutcome, EventError>) {
    let applied = matches!(result, Ok(SyncOutcome::Applied));
    let refused = matches!(
        result,
        Err(EventError::Foreign { .. }
            | EventError::Unreadable(_)
            | EventError::Sync(SyncError::Invalid(_)))
    );
    aggregate.count(APPLIED, &[], u64::from(applied));
    aggregate.count(REFUSED, &[], u64::from(refused));
}

/// The update in `event`, if the directory's account put it as an account update.
fn read(directory: &Directory, event: DirectoryEvent) -> Result<AccountUpdate, EventError> {
    if event.account != directory.account_id
        || event.source != SOURCE
        || event.detail_type != DETAIL_TYPE
    {
        return Err(EventError::Foreign {
            account: event.account,
            event_source: event.source,
            detail_type: event.detail_type,
        });
    }
    serde_json::from_value(event.detail).map_err(EventError::Unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cog_tokens::memory::MemoryStore;
    use serde_json::json;

    const ACCOUNT: &str = "123456789012";

    fn directory() -> Directory {
        Directory::new(ACCOUNT).unwrap()
    }

    fn event(version: i64, status: &str) -> DirectoryEvent {
        serde_json::from_value(json!({
            "version": "0", "id": "e", "source": SOURCE, "detail-type": DETAIL_TYPE,
            "account": ACCOUNT, "time": "2026-11-28T00:00:00Z", "region": "eu-west-1", "resources": [],
            "detail": {"user_id": "ann", "status": status, "sso": false, "pat_beta": true,
                       "orgs": [{"org": "acme", "role": "admin"}], "version": version}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn updates_apply_newest_wins_and_foreign_events_are_refused() {
        let store = MemoryStore::new();
        let now = Timestamp(1);
        let directory = directory();
        let handled = |event| handle(&store, &directory, event, now);
        assert_eq!(
            handled(event(2, "suspended")).await.unwrap(),
            SyncOutcome::Applied
        );
        assert_eq!(
            handled(event(1, "active")).await.unwrap(),
            SyncOutcome::Stale
        );
        assert_eq!(
            handled(event(2, "active")).await.unwrap(),
            SyncOutcome::Stale
        );
        let mut foreign = event(3, "active");
        foreign.source = "someone.else".into();
        assert!(matches!(
            handled(foreign).await,
            Err(EventError::Foreign { .. })
        ));
        let mut other_type = event(3, "active");
        other_type.detail_type = "AccountDeleted".into();
        assert!(matches!(
            handled(other_type).await,
            Err(EventError::Foreign { .. })
        ));
        assert!(matches!(
            handled(event(3, "disabled")).await,
            Err(EventError::Sync(SyncError::Invalid("status")))
        ));
        let account = store.get_account("ann").await.unwrap().unwrap();
        assert_eq!(account.status.as_str(), "suspended");
    }

    #[tokio::test]
    async fn an_event_from_another_aws_account_is_refused_and_changes_nothing() {
        let store = MemoryStore::new();
        let mut other = event(2, "active");
        other.account = "999999999999".into();
        let refused = handle(&store, &directory(), other, Timestamp(1)).await;
        assert!(
            matches!(&refused, Err(EventError::Foreign { account, .. }) if account == "999999999999"),
            "{refused:?}"
        );
        assert!(store.get_account("ann").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn given_applied_stale_and_refused_events_then_the_line_counts_each_kind() {
        let store = MemoryStore::new();
        let mut foreign = event(3, "active");
        foreign.account = "999999999999".into();
        let mut totals = Vec::new();
        for event in [event(2, "active"), event(1, "active"), foreign] {
            let result = handle(&store, &directory(), event, Timestamp(1)).await;
            let mut aggregate = Aggregate::new();
            record_result(&mut aggregate, &result);
            let lines = aggregate.lines(FUNCTION_NAME, 1);
            let document: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
            assert_eq!(document["Function"], "account-sync");
            assert_eq!(
                document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([["Function"]])
            );
            totals.push((document[APPLIED].clone(), document[REFUSED].clone()));
        }
        assert_eq!(
            totals,
            [
                (json!(1), json!(0)),
                (json!(0), json!(0)),
                (json!(0), json!(1))
            ]
        );
    }

    #[test]
    fn the_directory_account_is_a_12_digit_id() {
        assert_eq!(directory(), Directory::new(" 123456789012 ").unwrap());
        for bad in ["", "12345678901", "1234567890123", "12345678901a", "*"] {
            assert!(Directory::new(bad).is_err(), "{bad}");
        }
    }
}
