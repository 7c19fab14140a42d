//! `openapi.yaml` and the code must list the same routes and error codes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::BTreeSet;

use cog_integration_tests::repo_root;
use management::ENDPOINTS;
use serde_norway::Value;

fn spec() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(repo_root().join("openapi.yaml")).unwrap())
        .unwrap()
}

#[test]
fn every_route_in_code_is_in_the_spec_and_the_reverse() {
    let spec = spec();
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let mut in_spec = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if ["get", "post", "put", "patch", "delete"].contains(&method) {
                in_spec.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    let in_code: BTreeSet<_> = ENDPOINTS
        .iter()
        .chain(leak_response::ROUTES.iter())
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(in_spec, in_code);
}

#[test]
fn every_error_code_the_code_can_answer_is_in_the_spec() {
    let spec = spec();
    let listed: BTreeSet<String> = spec["components"]["schemas"]["Problem"]["properties"]["code"]
        ["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    // Every code the HTTP layer and the management rules can produce: the
    // literal after a status (`Problem::new(StatusCode::X, "code", …)`) or
    // after a field (`invalid("field", "code", …)`, or a field variable).
    let patterns = [
        regex_lite::Regex::new(r#"StatusCode::[A-Z_]+,\s*"([a-z_]+)""#).unwrap(),
        regex_lite::Regex::new(r#"invalid\(\s*(?:"[a-z_]+"|[a-z_]+),\s*"([a-z_]+)""#).unwrap(),
    ];
    let mut used = BTreeSet::new();
    for folder in [
        "functions/management/src",
        "shared/src/management",
        "functions/leak-response/src",
    ] {
        for entry in std::fs::read_dir(repo_root().join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for pattern in &patterns {
                    used.extend(pattern.captures_iter(&text).map(|c| c[1].to_owned()));
                }
            }
        }
    }
    assert_eq!(
        used, listed,
        "codes listed in openapi.yaml but never produced, or the reverse"
    );
}

#[test]
fn the_audit_actions_in_the_spec_are_the_ones_the_code_records() {
    let spec = spec();
    let listed: BTreeSet<String> = spec["components"]["parameters"]["AuditAction"]["schema"]
        ["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let recorded: BTreeSet<String> = cog_tokens::records::AuditAction::ALL
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(listed, recorded);
}

/// Every mapping of `node`, with the line it starts on: a key that repeats,
/// or a key without a value in a flow mapping (`{ description: a, b }`
/// silently makes `b` a key), is a broken file that parses.
fn broken_mappings(node: &serde_norway::Value, path: &str, found: &mut Vec<String>) {
    match node {
        Value::Mapping(map) => {
            for (key, value) in map {
                let key = key.as_str().unwrap_or("?");
                let here = format!("{path}/{key}");
                // Only `example(s)` and schema `default`/`const` may be null on purpose.
                if value.is_null() && !["example", "default", "const"].contains(&key) {
                    found.push(here.clone());
                }
                // Text fields are text: `description: a: b` would be a mapping.
                let in_properties = path.ends_with("/properties");
                if ["description", "summary", "title"].contains(&key)
                    && !in_properties
                    && !value.is_string()
                {
                    found.push(format!("{here} (not a string)"));
                }
                broken_mappings(value, &here, found);
            }
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter().enumerate() {
                broken_mappings(item, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

/// The file is read strictly: serde_norway refuses repeated keys, and no
/// key may be left without a value (the mark of a comma in a flow mapping).
#[test]
fn the_spec_has_no_repeated_key_and_no_key_without_a_value() {
    let text = std::fs::read_to_string(repo_root().join("openapi.yaml")).unwrap();
    let spec: Value = serde_norway::from_str(&text).expect("openapi.yaml is strict YAML");
    let mut found = Vec::new();
    broken_mappings(&spec, "", &mut found);
    assert!(
        found.is_empty(),
        "keys without a value, or text that is not a string: {found:#?}"
    );
    // serde_norway refuses a repeated key; the test holds it to that.
    let repeated = "a: 1\nb: 2\na: 3\n";
    assert!(serde_norway::from_str::<Value>(repeated).is_err());
}
