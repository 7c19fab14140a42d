//! The EMF lines checked against the documented format, by parsing them.

use super::*;

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The directive of an EMF document, checked against the format: the
/// namespace, each dimension set naming root members that are strings,
/// each metric a root member that is a number or an array of at most 100.
fn directive(document: &Value) -> &Value {
    let metadata = &document["_aws"];
    assert!(metadata["Timestamp"].is_i64(), "{document}");
    let directives = metadata["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1);
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], NAMESPACE);
    for set in directive["Dimensions"].as_array().unwrap() {
        let set = set.as_array().unwrap();
        assert!(!set.is_empty() && set.len() <= 30);
        assert_eq!(set[0], FUNCTION);
        for name in set {
            assert!(document[name.as_str().unwrap()].is_string(), "{document}");
        }
    }
    for metric in directive["Metrics"].as_array().unwrap() {
        let value = &document[metric["Name"].as_str().unwrap()];
        match value {
            Value::Number(_) => {}
            Value::Array(values) => {
                assert!(values.len() <= MAX_VALUES && values.iter().all(Value::is_number))
            }
            other => panic!("metric value {other}"),
        }
    }
    directive
}

#[test]
fn given_counters_with_two_outcomes_when_rendered_then_one_document_per_combination() {
    let mut aggregate = Aggregate::new();
    aggregate.count("Decisions", &[("Outcome", "allow")], 1);
    aggregate.count("Decisions", &[("Outcome", "allow")], 2);
    aggregate.count(
        "Decisions",
        &[("Outcome", "unauthorized"), ("Reason", "expired")],
        1,
    );
    let lines = aggregate.lines("authorizer", 1_700_000_000_000);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains('\n')));

    let allow = parse(&lines[0]);
    let allowed = directive(&allow);
    assert_eq!(allow["_aws"]["Timestamp"], 1_700_000_000_000i64);
    assert_eq!(
        allowed["Dimensions"],
        json!([["Function"], ["Function", "Outcome"]])
    );
    assert_eq!(
        allowed["Metrics"],
        json!([{"Name": "Decisions", "Unit": "Count"}])
    );
    assert_eq!(allow["Function"], "authorizer");
    assert_eq!(allow["Outcome"], "allow");
    assert_eq!(allow["Decisions"], 3);

    let denied = parse(&lines[1]);
    assert_eq!(
        directive(&denied)["Dimensions"],
        json!([
            ["Function"],
            ["Function", "Outcome"],
            ["Function", "Outcome", "Reason"]
        ])
    );
    assert_eq!(denied["Reason"], "expired");
    assert_eq!(denied["Decisions"], 1);
}

#[test]
fn given_equal_names_at_different_addresses_then_they_are_one_series() {
    // Names compared by address first must still match by content: the
    // same literal need not have one address across crates.
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let mut aggregate = Aggregate::new();
    aggregate.count("Decisions", &[("Outcome", "allow")], 1);
    aggregate.count(leak("Decisions"), &[(leak("Outcome"), leak("allow"))], 2);
    aggregate.count("Decisions", &[("Outcome", "allowed")], 4);
    aggregate.sample("DecisionLatency", Unit::Milliseconds, &[], 1.0);
    aggregate.sample(leak("DecisionLatency"), Unit::Milliseconds, &[], 2.0);
    let lines = aggregate.lines("authorizer", 1);
    let documents: Vec<Value> = lines.iter().map(|l| parse(l)).collect();
    let allow = documents.iter().find(|d| d["Outcome"] == "allow").unwrap();
    assert_eq!(allow["Decisions"], 3);
    let allowed = documents
        .iter()
        .find(|d| d["Outcome"] == "allowed")
        .unwrap();
    assert_eq!(allowed["Decisions"], 4);
    assert_eq!(series_count(&documents, "DecisionLatency"), 1);
    assert_eq!(allow["DecisionLatency"], Value::Null);
    let latency = documents
        .iter()
        .find(|d| d.get("Outcome").is_none())
        .unwrap();
    assert_eq!(latency["DecisionLatency"], json!([1.0, 2.0]));
}

/// How many series of `metric` the documents hold.
fn series_count(documents: &[Value], metric: &str) -> usize {
    documents
        .iter()
        .flat_map(|d| {
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
        })
        .filter(|m| m["Name"] == metric)
        .count()
}

#[test]
fn given_metrics_of_the_same_dimensions_then_they_share_a_document() {
    let mut aggregate = Aggregate::new();
    aggregate.count("LeakTokensReported", &[], 3);
    aggregate.count("LeakTokensRevoked", &[], 0);
    aggregate.sample("OutboxLag", Unit::Seconds, &[], 2.5);
    let lines = aggregate.lines("leak-response", 5);
    assert_eq!(lines.len(), 1);
    let document = parse(&lines[0]);
    assert_eq!(directive(&document)["Dimensions"], json!([["Function"]]));
    assert_eq!(document["LeakTokensReported"], 3);
    assert_eq!(document["LeakTokensRevoked"], 0);
    assert_eq!(document["OutboxLag"], 2.5);
    assert_eq!(
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"][2],
        json!({"Name": "OutboxLag", "Unit": "Seconds"})
    );
}

#[test]
fn given_more_values_than_emf_takes_then_a_sample_of_100_keeps_the_maximum() {
    let mut aggregate = Aggregate::new();
    for i in 0..10_000 {
        aggregate.sample(
            "DecisionLatency",
            Unit::Milliseconds,
            &[],
            f64::from(i) / 100.0,
        );
    }
    aggregate.sample("DecisionLatency", Unit::Milliseconds, &[], 0.5);
    let document = parse(&aggregate.lines("authorizer", 1)[0]);
    directive(&document);
    let values: Vec<f64> = document["DecisionLatency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), MAX_VALUES);
    assert!(values.contains(&99.99), "the maximum is kept");
    // A uniform sample of 0..100 ms: its median is near 50 ms.
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    assert!((30.0..70.0).contains(&sorted[50]), "{sorted:?}");
}

#[test]
fn given_few_values_then_all_are_written_and_non_numbers_are_dropped() {
    let mut aggregate = Aggregate::new();
    for value in [1.0, f64::NAN, 3.0, f64::INFINITY] {
        aggregate.sample("DecisionLatency", Unit::Milliseconds, &[], value);
    }
    let document = parse(&aggregate.lines("authorizer", 1)[0]);
    assert_eq!(document["DecisionLatency"], json!([1.0, 3.0]));
}

#[test]
fn given_an_interval_when_records_arrive_then_a_flush_waits_for_the_oldest_to_age() {
    let recorder = Recorder::new("authorizer", 60_000, Sink::Memory(Mutex::default()));
    assert!(
        !recorder.flush_if_due(0),
        "nothing recorded, nothing written"
    );
    recorder.record(1_000, |a| a.count("Decisions", &[("Outcome", "allow")], 1));
    recorder.record(30_000, |a| a.count("Decisions", &[("Outcome", "allow")], 1));
    assert!(!recorder.flush_if_due(60_999));
    assert!(recorder.take_written().is_empty());
    assert!(recorder.flush_if_due(61_000));
    let written = recorder.take_written();
    assert_eq!(written.len(), 1);
    let document = parse(&written[0]);
    assert_eq!(document["Decisions"], 2);
    assert_eq!(
        document["_aws"]["Timestamp"], 30_000,
        "the last record's time"
    );
    // The interval starts again with the next record.
    recorder.record(200_000, |a| {
        a.count("Decisions", &[("Outcome", "fault")], 1)
    });
    assert!(!recorder.flush_if_due(200_001));
    recorder.flush();
    assert_eq!(parse(&recorder.take_written()[0])["Outcome"], "fault");
}

#[test]
fn given_interval_zero_then_every_record_is_written_at_once() {
    let recorder = Recorder::new("authorizer", 0, Sink::Memory(Mutex::default()));
    recorder.record(5, |a| a.count("Decisions", &[("Outcome", "allow")], 1));
    assert_eq!(
        recorder.take_written().len(),
        1,
        "written as it is recorded"
    );
    assert!(!recorder.flush_if_due(5));
}

#[test]
fn status_codes_become_their_three_digits() {
    assert_eq!(status_dimension(201), "201");
    assert_eq!(status_dimension(100), "100");
    assert_eq!(status_dimension(599), "599");
    assert_eq!(status_dimension(404), "404");
    assert_eq!(status_dimension(99), "other");
    assert_eq!(status_dimension(600), "other");
}
