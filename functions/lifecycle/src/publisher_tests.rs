//! The publisher on batches it cannot fully read: every unreadable record is
//! reported (retried, then dead-lettered) and logged with its item's key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::events::LifecycleEvent;
use cog_tokens::records::Timestamp;
use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::{publish, publish_counted, BatchResponse, ItemFailure, PublishTally, StreamBatch};
use crate::bus::EventBus;

/// Every event logged while it is the thread's subscriber: level and fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(Level, String)>>>);

impl Capture {
    fn lines(&self) -> Vec<(Level, String)> {
        self.0.lock().unwrap().clone()
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let level = *event.metadata().level();
        self.0.lock().unwrap().push((level, fields.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// A bus that accepts everything and remembers it.
#[derive(Default)]
struct Recorder(Mutex<Vec<LifecycleEvent>>);

#[async_trait]
impl EventBus for Recorder {
    async fn put(&self, events: &[LifecycleEvent]) -> Vec<bool> {
        self.0.lock().unwrap().extend_from_slice(events);
        vec![true; events.len()]
    }
}

/// A store whose every call fails at once (nothing listens on port 9).
fn unreachable_store() -> DynamoStore {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "table")
}

const PK: &str = "AUDIT#OWNER#user#ann";

fn sort_key(at: i64) -> String {
    format!("{at:020}#{at:024x}")
}

/// An audit item's new image as the stream shows it, with `action`.
fn audit_image(at: i64, action: &str) -> Value {
    json!({
        "pk": {"S": PK}, "sk": {"S": sort_key(at)},
        "event_id": {"S": format!("{at:024x}")}, "at": {"N": at.to_string()},
        "actor": {"S": "user:ann"}, "action": {"S": action},
        "owner_kind": {"S": "user"}, "owner_id": {"S": "ann"},
    })
}

fn record(sequence: &str, image: Option<Value>, pk: &str, sk: &str) -> Value {
    let mut change = json!({
        "SequenceNumber": sequence,
        "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
    });
    if let Some(image) = image {
        change["NewImage"] = image;
    }
    json!({"eventName": "INSERT", "dynamodb": change})
}

fn batch(records: Vec<Value>) -> StreamBatch {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failures(sequences: &[&str]) -> BatchResponse {
    BatchResponse {
        failures: sequences
            .iter()
            .map(|s| ItemFailure {
                item_identifier: (*s).to_owned(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn an_unreadable_audit_item_is_reported_for_retry_and_logged_with_its_key() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    // Another test may have met these callsites first, with no subscriber.
    tracing::callsite::rebuild_interest_cache();
    let bus = Recorder::default();
    let records = vec![
        record(
            "100",
            Some(audit_image(42, "token.teleport")),
            PK,
            &sort_key(42),
        ),
        // An INSERT without its new image cannot be read either.
        record("200", None, PK, &sort_key(43)),
        // Not an audit item: not the publisher's.
        record(
            "300",
            Some(json!({"pk": {"S": "TOKEN#x"}, "sk": {"S": "TOKEN"}})),
            "TOKEN#x",
            "TOKEN",
        ),
    ];

    let response = publish(&unreachable_store(), &bus, &batch(records), Timestamp(50)).await;

    assert_eq!(response, failures(&["100", "200"]));
    assert!(bus.0.lock().unwrap().is_empty());
    let errors: Vec<String> = capture
        .lines()
        .into_iter()
        .filter(|(level, _)| *level == Level::ERROR)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (error, (sequence, at)) in errors.iter().zip([("100", 42), ("200", 43)]) {
        assert!(error.contains(PK), "{error}");
        assert!(error.contains(&sort_key(at)), "{error}");
        assert!(error.contains(sequence), "{error}");
    }
}

#[tokio::test]
async fn when_the_markers_are_unreadable_every_record_is_retried_the_unreadable_too() {
    // A subscriber of its own: callsites are never first met with none.
    let _guard = tracing::subscriber::set_default(Capture::default());
    let bus = Recorder::default();
    let records = vec![
        record(
            "100",
            Some(audit_image(42, "token.revoke_all")),
            PK,
            &sort_key(42),
        ),
        record(
            "200",
            Some(audit_image(43, "token.teleport")),
            PK,
            &sort_key(43),
        ),
    ];

    let response = publish(&unreachable_store(), &bus, &batch(records), Timestamp(50)).await;

    assert_eq!(response, failures(&["200", "100"]));
    assert!(bus.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn given_unreadable_markers_then_the_tally_counts_every_retry_and_the_oldest_change() {
    let _guard = tracing::subscriber::set_default(Capture::default());
    let bus = Recorder::default();
    let records = vec![
        record(
            "100",
            Some(audit_image(42, "token.revoke_all")),
            PK,
            &sort_key(42),
        ),
        record(
            "150",
            Some(audit_image(40, "token.revoke_all")),
            PK,
            &sort_key(40),
        ),
        record(
            "200",
            Some(audit_image(43, "token.teleport")),
            PK,
            &sort_key(43),
        ),
    ];

    let (response, tally) = publish_counted(
        &unreachable_store(),
        &bus,
        &batch(records),
        Timestamp(5_040),
    )
    .await;

    assert_eq!(response.failures.len(), 3);
    assert_eq!(
        tally,
        PublishTally {
            published: 0,
            retried: 3,
            oldest_unpublished: Some(Timestamp(40)),
        }
    );
}
