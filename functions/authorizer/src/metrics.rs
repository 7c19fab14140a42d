//! The authorizer's metrics: every decision counted by outcome (and, for a
//! refusal, its reason class) with its latency, aggregated in the process
//! and written as EMF lines at most once per interval, not once per request
//! (at 10,000 requests/s a line per request would cost more log ingestion
//! than the function).
//!
//! The aggregate is the process's, like its log subscriber: [`install`] sets
//! it up at cold start. Until then (tests, benchmarks) decisions are still
//! recorded, into one that writes nowhere.
//!
//! Lambda freezes a process between invocations without warning, so the
//! flush happens in an invocation: at its start when the interval has
//! passed (data from before a freeze goes out with its own timestamp), and
//! after the decision is recorded when that makes the oldest record an
//! interval old. What a process records in its last interval before Lambda
//! shuts it down is lost.

use std::sync::OnceLock;
use std::time::Duration;

use cog_tokens::authorize::{DenyReason, ForbidReason};
use cog_tokens::metrics::{Dimension, Recorder, Sink, Unit};

/// The `Function` dimension's value.
pub const FUNCTION_NAME: &str = "authorizer";
/// Count, dimensions `Outcome` and, for `unauthorized` and `forbidden`, `Reason`.
pub const DECISIONS: &str = "Decisions";
/// Milliseconds from the event read to the answer built, dimension `Function` only.
pub const DECISION_LATENCY: &str = "DecisionLatency";
pub const OUTCOME: &str = "Outcome";
pub const REASON: &str = "Reason";

/// What one invocation ended in, as the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Unauthorized(DenyReason),
    Forbidden(ForbidReason),
    /// The authorizer failed closed: API Gateway answers 500.
    Fault,
}

impl Outcome {
    /// The dimensions of its `Decisions` count: `Outcome`, and `Reason` for refusals.
    pub fn dimensions(self) -> ([Dimension; 2], usize) {
        match self {
            Outcome::Allow => ([(OUTCOME, "allow"), ("", "")], 1),
            Outcome::Fault => ([(OUTCOME, "fault"), ("", "")], 1),
            Outcome::Unauthorized(reason) => {
                ([(OUTCOME, "unauthorized"), (REASON, deny_class(reason))], 2)
            }
            Outcome::Forbidden(reason) => {
                ([(OUTCOME, "forbidden"), (REASON, forbid_class(reason))], 2)
            }
        }
    }
}

/// A 401's reason class: one per check that can refuse, none naming a token.
pub fn deny_class(reason: DenyReason) -> &'static str {
    match reason {
        DenyReason::MissingCredential => "missing",
        DenyReason::Malformed => "malformed",
        DenyReason::UnknownToken => "unknown",
        DenyReason::UnknownPepper => "pepper",
        DenyReason::WrongSecret => "wrong_secret",
        DenyReason::Revoked => "revoked",
        DenyReason::Expired => "expired",
        DenyReason::OwnerMissing | DenyReason::OwnerNotAllowed => "owner",
    }
}

/// A 403's reason class.
pub fn forbid_class(reason: ForbidReason) -> &'static str {
    match reason {
        ForbidReason::MissingScope => "scope",
        ForbidReason::SourceNotAllowed | ForbidReason::SourceUnknown => "source",
        ForbidReason::RateLimited => "rate",
    }
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// The default interval between two flushes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// Sets up the process's metrics (cold start, before the first event);
/// false if they were set up, or used, already.
pub fn install(recorder: Recorder) -> bool {
    RECORDER.set(recorder).is_ok()
}

/// Metrics to stdout, flushed every `interval`: what the function runs with.
pub fn to_stdout(interval: Duration) -> Recorder {
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    Recorder::new(FUNCTION_NAME, interval_ms, Sink::Stdout)
}

/// The process's metrics; ones that write nowhere unless [`install`]ed.
pub fn recorder() -> &'static Recorder {
    RECORDER.get_or_init(|| {
        let interval_ms = DEFAULT_INTERVAL.as_millis() as i64;
        Recorder::new(FUNCTION_NAME, interval_ms, Sink::Discard)
    })
}

/// Flushes the process's metrics if their interval has passed: at the start
/// of an invocation, before anything new is recorded.
pub fn flush_if_due(now_ms: i64) {
    recorder().flush_if_due(now_ms);
}

/// Records one decision at `now_ms`; `latency` is `None` for an event that
/// was never decided (unreadable).
pub fn record(outcome: Outcome, latency: Option<Duration>, now_ms: i64) {
    let (dimensions, len) = outcome.dimensions();
    recorder().record(now_ms, |aggregate| {
        aggregate.count(DECISIONS, &dimensions[..len], 1);
        if let Some(latency) = latency {
            // Microsecond precision keeps the lines short.
            let ms = (latency.as_secs_f64() * 1_000_000.0).round() / 1_000.0;
            aggregate.sample(DECISION_LATENCY, Unit::Milliseconds, &[], ms);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_reason_has_a_short_class_of_its_own_kind() {
        let deny = [
            DenyReason::MissingCredential,
            DenyReason::Malformed,
            DenyReason::UnknownToken,
            DenyReason::UnknownPepper,
            DenyReason::WrongSecret,
            DenyReason::Revoked,
            DenyReason::Expired,
            DenyReason::OwnerMissing,
            DenyReason::OwnerNotAllowed,
        ];
        let forbid = [
            ForbidReason::MissingScope,
            ForbidReason::SourceNotAllowed,
            ForbidReason::SourceUnknown,
            ForbidReason::RateLimited,
        ];
        let classes: Vec<&str> = deny
            .into_iter()
            .map(deny_class)
            .chain(forbid.into_iter().map(forbid_class))
            .collect();
        for class in &classes {
            assert!(
                class.len() <= 16 && class.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{class}"
            );
        }
        assert_eq!(
            Outcome::Unauthorized(DenyReason::Expired).dimensions(),
            ([(OUTCOME, "unauthorized"), (REASON, "expired")], 2)
        );
        assert_eq!(
            Outcome::Forbidden(ForbidReason::MissingScope).dimensions(),
            ([(OUTCOME, "forbidden"), (REASON, "scope")], 2)
        );
        assert_eq!(Outcome::Allow.dimensions().1, 1);
    }
}
