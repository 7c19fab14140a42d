//! One invocation of the usage-plan sync: a credential event from the bus
//! (its token's keys brought in line), or the schedule's tick (the
//! reconcile). A failure is the invocation's error: Lambda retries the
//! event, then sends it to the dead-letter queue; a failed tick is retried
//! by the next one.

use cog_tokens::events::usage_plans::{may_change_usage_key, SyncError, SyncReport, UsagePlanSync};
use cog_tokens::records::{AuditAction, Timestamp};
use cog_tokens::store::usage_plans::{UsageKeyMarks, UsagePlans};
use cog_tokens::store::TokenStore;
use cog_tokens::token::TokenId;
use serde_json::Value;

/// What one invocation did, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanSyncTally {
    pub report: SyncReport,
    /// The event or tick failed: retried.
    pub failed: bool,
}

/// The token a bus event (`detail.action`, `detail.token_id`) may change
/// the key of; `None` for any other event.
pub fn token_of(event: &Value) -> Option<TokenId> {
    let detail = event.get("detail")?;
    let action: AuditAction = detail.get("action")?.as_str()?.parse().ok()?;
    if !may_change_usage_key(action) {
        return None;
    }
    detail.get("token_id")?.as_str()?.parse().ok()
}

/// Handles one event: a bus event when it has `detail`, else a tick.
pub async fn handle<S, P>(
    sync: &UsagePlanSync<S, P>,
    event: &Value,
) -> (Result<SyncReport, SyncError>, PlanSyncTally)
where
    S: TokenStore + UsageKeyMarks,
    P: UsagePlans,
{
    let now = Timestamp::now();
    let result = if event.get("detail").is_some() {
        match token_of(event) {
            Some(token) => sync.sync(&token, now).await,
            None => {
                tracing::info!("not a credential change: nothing to sync");
                Ok(SyncReport::default())
            }
        }
    } else {
        sync.reconcile(now).await
    };
    let tally = PlanSyncTally {
        report: result.as_ref().copied().unwrap_or_default(),
        failed: result.is_err(),
    };
    (result, tally)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_credential_change_names_a_token_to_sync() {
        let event = |action: &str, token: &str| json!({"source": "cog.tokens", "detail": {"action": action, "token_id": token}});
        let id = "AbCdEfGh12345678";
        for action in [
            "token.create",
            "token.rotate",
            "token.update",
            "token.revoke",
            "token.leaked",
            "token.expired",
        ] {
            assert_eq!(token_of(&event(action, id)), id.parse().ok(), "{action}");
        }
        for action in [
            "token.block",
            "token.expiring",
            "token.revoke_all",
            "nonsense",
        ] {
            assert_eq!(token_of(&event(action, id)), None, "{action}");
        }
        assert_eq!(token_of(&event("token.update", "not-an-id")), None);
        assert_eq!(token_of(&json!({"tick": "reconcile"})), None);
    }
}
