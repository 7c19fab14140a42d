//! The lifecycle functions' metrics, one EMF line per invocation (a stream
//! batch or a schedule tick), dimension `Function` only.

use cog_tokens::events::expiry::SweepReport;
use cog_tokens::management::idle::IdleReport;
use cog_tokens::metrics::{Aggregate, Unit};
use cog_tokens::records::Timestamp;

use crate::invalidator::InvalidationTally;
use crate::plan_sync::PlanSyncTally;
use crate::publisher::PublishTally;

pub const EVENT_PUBLISHER: &str = "event-publisher";
pub const EXPIRY_SWEEP: &str = "expiry-sweep";
pub const CACHE_INVALIDATOR: &str = "cache-invalidator";
pub const USAGE_PLAN_SYNC: &str = "usage-plan-sync";

/// Count: events the bus accepted.
pub const EVENTS_PUBLISHED: &str = "EventsPublished";
/// Seconds: the age of the oldest change of the batch still to publish.
pub const OUTBOX_LAG: &str = "OutboxLag";
/// Count: stream records handed back for another attempt; after the
/// mapping's last attempt it dead-letters them.
pub const EVENTS_RETRIED: &str = "EventsRetried";
/// Count: expiry notices recorded (7 days, 1 day, expired), and idle
/// warnings (7 days, 1 day before an idle revocation).
pub const EXPIRY_WARNINGS_SENT: &str = "ExpiryWarningsSent";
/// Count: credentials the idle sweep revoked (`idle_expired`).
pub const IDLE_REVOCATIONS: &str = "IdleRevocations";
/// Count: API Gateway authorizer-cache flushes.
pub const CACHE_FLUSHES: &str = "CacheFlushes";
/// Count: batches or ticks that failed on a flush.
pub const CACHE_FLUSH_FAILURES: &str = "CacheFlushFailures";
/// Count: batches or ticks that failed for any reason (a flush, the feed,
/// an unreadable record), retried.
pub const INVALIDATION_FAILURES: &str = "InvalidationFailures";
/// Count: usage-plan keys placed (made or put in their plan).
pub const USAGE_KEYS_PLACED: &str = "UsageKeysPlaced";
/// Count: usage-plan keys deleted (superseded, or their token ended).
pub const USAGE_KEYS_REMOVED: &str = "UsageKeysRemoved";
/// Count: sync batches or ticks that failed, retried.
pub const USAGE_PLAN_SYNC_FAILURES: &str = "UsagePlanSyncFailures";

/// One publisher batch at `now`; no lag when nothing was left to publish.
pub fn record_publish(aggregate: &mut Aggregate, tally: &PublishTally, now: Timestamp) {
    aggregate.count(EVENTS_PUBLISHED, &[], tally.published as u64);
    aggregate.count(EVENTS_RETRIED, &[], tally.retried as u64);
    if let Some(oldest) = tally.oldest_unpublished {
        let seconds = (now.0 - oldest.0).max(0) as f64 / 1000.0;
        aggregate.sample(OUTBOX_LAG, Unit::Seconds, &[], seconds);
    }
}

/// One sweep; `idle` when the idle sweep finished (a failed one is the
/// function's error, alarmed as such).
pub fn record_sweep(aggregate: &mut Aggregate, report: &SweepReport, idle: Option<&IdleReport>) {
    let idle_warnings = idle.map_or(0, |i| i.seven_days + i.one_day);
    let notices = report.seven_days + report.one_day + report.expired + idle_warnings;
    aggregate.count(EXPIRY_WARNINGS_SENT, &[], u64::from(notices));
    if let Some(idle) = idle {
        aggregate.count(IDLE_REVOCATIONS, &[], u64::from(idle.revoked));
    }
}

/// One invalidator batch or tick.
pub fn record_invalidation(aggregate: &mut Aggregate, tally: &InvalidationTally) {
    aggregate.count(CACHE_FLUSHES, &[], tally.flushes as u64);
    aggregate.count(CACHE_FLUSH_FAILURES, &[], u64::from(tally.flush_failed));
    aggregate.count(INVALIDATION_FAILURES, &[], u64::from(tally.failed));
}

/// One usage-plan sync batch or tick.
pub fn record_plan_sync(aggregate: &mut Aggregate, tally: &PlanSyncTally) {
    aggregate.count(USAGE_KEYS_PLACED, &[], tally.report.placed as u64);
    aggregate.count(USAGE_KEYS_REMOVED, &[], tally.report.removed as u64);
    aggregate.count(USAGE_PLAN_SYNC_FAILURES, &[], u64::from(tally.failed));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn document(aggregate: Aggregate, function: &'static str) -> Value {
        let lines = aggregate.lines(function, 1_000);
        assert_eq!(lines.len(), 1, "{lines:?}");
        serde_json::from_str(&lines[0]).unwrap()
    }

    #[test]
    fn a_publisher_batch_counts_published_and_retried_and_the_oldest_change_age() {
        let mut aggregate = Aggregate::new();
        let tally = PublishTally {
            published: 3,
            retried: 1,
            oldest_unpublished: Some(Timestamp(10_000)),
        };
        record_publish(&mut aggregate, &tally, Timestamp(12_500));
        let document = document(aggregate, EVENT_PUBLISHER);
        assert_eq!(document["Function"], "event-publisher");
        assert_eq!(document["EventsPublished"], 3);
        assert_eq!(document["EventsRetried"], 1);
        assert_eq!(document["OutboxLag"], 2.5);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CogTokens");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "EventsPublished", "Unit": "Count"},
                {"Name": "EventsRetried", "Unit": "Count"},
                {"Name": "OutboxLag", "Unit": "Seconds"}
            ])
        );
    }

    #[test]
    fn a_batch_with_nothing_to_publish_has_no_lag() {
        let mut aggregate = Aggregate::new();
        record_publish(&mut aggregate, &PublishTally::default(), Timestamp(1));
        let document = document(aggregate, EVENT_PUBLISHER);
        assert_eq!(document["EventsPublished"], 0);
        assert!(document.get("OutboxLag").is_none());
    }

    #[test]
    fn a_sweep_counts_every_notice_and_a_failed_flush_counts_twice() {
        let mut aggregate = Aggregate::new();
        let report = SweepReport {
            seven_days: 2,
            one_day: 1,
            expired: 4,
        };
        let idle = IdleReport {
            seven_days: 1,
            one_day: 0,
            revoked: 2,
            addresses_removed: 5,
        };
        record_sweep(&mut aggregate, &report, Some(&idle));
        let swept = document(aggregate, EXPIRY_SWEEP);
        assert_eq!(swept["ExpiryWarningsSent"], 8);
        assert_eq!(swept["IdleRevocations"], 2);

        let mut aggregate = Aggregate::new();
        let tally = InvalidationTally {
            flushes: 0,
            flush_failed: true,
            failed: true,
        };
        record_invalidation(&mut aggregate, &tally);
        let document = document(aggregate, CACHE_INVALIDATOR);
        assert_eq!(document["CacheFlushes"], 0);
        assert_eq!(document["CacheFlushFailures"], 1);
        assert_eq!(document["InvalidationFailures"], 1);
    }

    #[test]
    fn a_plan_sync_counts_keys_placed_removed_and_a_failure() {
        let mut aggregate = Aggregate::new();
        let tally = PlanSyncTally {
            report: cog_tokens::events::usage_plans::SyncReport {
                placed: 2,
                removed: 3,
            },
            failed: true,
        };
        record_plan_sync(&mut aggregate, &tally);
        let document = document(aggregate, USAGE_PLAN_SYNC);
        assert_eq!(document["Function"], "usage-plan-sync");
        assert_eq!(document["UsageKeysPlaced"], 2);
        assert_eq!(document["UsageKeysRemoved"], 3);
        assert_eq!(document["UsagePlanSyncFailures"], 1);
    }
}
