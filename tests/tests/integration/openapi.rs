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
