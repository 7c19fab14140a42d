//! `openapi.yaml` and the code must list the same routes and error codes,
//! and every operation must say how it is authorized, which problem codes
//! it answers, what API Gateway itself can answer on it, and show examples.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::{BTreeMap, BTreeSet};

use cog_integration_tests::repo_root;
use cog_tokens::authorize::context::AuthorizerContext;
use cog_tokens::records::PrincipalStatus;
use management::ENDPOINTS;
use serde_norway::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn spec() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(repo_root().join("openapi.yaml")).unwrap())
        .unwrap()
}

/// Every operation: (METHOD, path, operation).
fn operations(spec: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if METHODS.contains(&method) {
                let path = path.as_str().unwrap().to_owned();
                found.push((method.to_uppercase(), path, operation));
            }
        }
    }
    found
}

/// Every `HttpApi` event of template.yaml: (METHOD, path) and its authorizer
/// (`SessionJwt`, `CogToken`, or none for a public route).
fn template_routes() -> BTreeMap<(String, String), Option<String>> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let template: Value = serde_norway::from_str(&text).unwrap();
    let mut routes = BTreeMap::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let properties = &event["Properties"];
            let route = (
                properties["Method"].as_str().unwrap().to_uppercase(),
                properties["Path"].as_str().unwrap().to_owned(),
            );
            let authorizer = properties["Auth"]["Authorizer"].as_str().map(str::to_owned);
            routes.insert(route, authorizer);
        }
    }
    routes
}

/// A `$ref` resolved within the spec, or the node itself.
fn resolved<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node["$ref"].as_str() {
        Some(pointer) => pointer
            .trim_start_matches("#/")
            .split('/')
            .fold(spec, |at, key| &at[key]),
        None => node,
    }
}

#[test]
fn every_route_in_code_is_in_the_spec_and_the_reverse() {
    let spec = spec();
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let in_spec: BTreeSet<_> = operations(&spec)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    // The management and leak routes by their route tables; whoami and the
    // settings page serve one and two routes, so the template is their table.
    let in_code: BTreeSet<_> = ENDPOINTS
        .iter()
        .chain(leak_response::ROUTES.iter())
        .chain(&[
            ("GET", "/v1/whoami"),
            ("GET", "/settings"),
            ("GET", "/settings/{asset}"),
        ])
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(in_spec, in_code);
    let in_template: BTreeSet<_> = template_routes().into_keys().collect();
    assert_eq!(in_spec, in_template, "the spec's routes are the template's");
}

/// Security per operation, as the template authorizes its route: the
/// session (JWT authorizer), a cog_ token (the Lambda authorizer), or none.
#[test]
fn every_operation_is_secured_as_its_route_is_in_the_template() {
    let spec = spec();
    assert!(
        spec.get("security").is_none(),
        "security is per operation, not global"
    );
    let schemes = spec["components"]["securitySchemes"].as_mapping().unwrap();
    assert_eq!(schemes.len(), 2, "{schemes:?}");
    let routes = template_routes();
    for (method, path, operation) in operations(&spec) {
        let declared: Vec<&str> = operation["security"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{method} {path}: no security"))
            .iter()
            .flat_map(|requirement| requirement.as_mapping().unwrap().keys())
            .map(|scheme| scheme.as_str().unwrap())
            .collect();
        let expected: &[&str] = match routes[&(method.clone(), path.clone())].as_deref() {
            Some("SessionJwt") => &["session"],
            Some("CogToken") => &["cogToken"],
            None => &[],
            Some(other) => panic!("{method} {path}: authorizer {other}"),
        };
        assert_eq!(declared, expected, "{method} {path}");
    }
}

/// API Gateway's own answers (`GatewayMessage`, `application/json`) on every
/// route they can come from; where the function answers the same status,
/// its problem too.
#[test]
fn every_operation_declares_the_gateways_own_answers() {
    let spec = spec();
    let gateway = |operation: &Value, status: &str| -> bool {
        let response = resolved(&spec, &operation["responses"][status]);
        let schema = &response["content"]["application/json"]["schema"]["$ref"];
        schema.as_str() == Some("#/components/schemas/GatewayMessage")
    };
    let problem = |operation: &Value, status: &str| -> bool {
        let response = resolved(&spec, &operation["responses"][status]);
        let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
        schema.as_str() == Some("#/components/schemas/Problem")
    };
    let routes = template_routes();
    for (method, path, operation) in operations(&spec) {
        let here = format!("{method} {path}");
        // Throttling, and the gateway's 500 and 503, on every route.
        for status in ["429", "500", "503"] {
            assert!(gateway(operation, status), "{here}: gateway {status}");
        }
        // A body can be over the gateway's payload limit.
        if operation.get("requestBody").is_some() {
            assert!(gateway(operation, "413"), "{here}: gateway 413");
            assert!(problem(operation, "413"), "{here}: body_too_large");
        }
        match routes[&(method.clone(), path.clone())].as_deref() {
            Some("SessionJwt") => {
                assert!(
                    gateway(operation, "401"),
                    "{here}: the JWT authorizer's 401"
                );
                assert!(problem(operation, "401"), "{here}: unauthenticated");
                for status in ["500", "503"] {
                    assert!(
                        problem(operation, status),
                        "{here}: the function's {status}"
                    );
                }
            }
            Some("CogToken") => {
                assert!(gateway(operation, "401"), "{here}: the authorizer's 401");
                assert!(gateway(operation, "403"), "{here}: the authorizer's 403");
            }
            _ => {}
        }
    }
}

/// Each operation lists the problem codes it can answer, per status; each
/// is a code of `Problem`, at a status the operation declares as a problem,
/// and together they are every code but `route_not_found` (the function's
/// answer to a route it does not serve, which no operation is).
#[test]
fn every_operation_lists_its_problem_codes_at_declared_statuses() {
    let spec = spec();
    let known: BTreeSet<&str> = spec["components"]["schemas"]["Problem"]["properties"]["code"]
        ["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut listed = BTreeSet::new();
    for (method, path, operation) in operations(&spec) {
        let codes = operation["x-problem-codes"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{method} {path}: no x-problem-codes"));
        for (status, codes) in codes {
            let status = status.as_str().unwrap();
            let response = resolved(&spec, &operation["responses"][status]);
            assert!(
                response["content"]["application/problem+json"].is_mapping(),
                "{method} {path}: {status} lists codes but declares no problem"
            );
            for code in codes.as_sequence().unwrap() {
                let code = code.as_str().unwrap();
                assert!(known.contains(code), "{method} {path}: {code} is no code");
                listed.insert(code);
            }
        }
        // And the reverse: a status declared as a problem lists its codes.
        for (status, response) in operation["responses"].as_mapping().unwrap() {
            let status = status.as_str().unwrap();
            if resolved(&spec, response)["content"]["application/problem+json"].is_mapping() {
                assert!(
                    codes.contains_key(status),
                    "{method} {path}: {status} is a problem without its codes"
                );
            }
        }
    }
    let unlisted: BTreeSet<_> = known.difference(&listed).collect();
    assert_eq!(unlisted, BTreeSet::from([&"route_not_found"]));
}

/// Tags from the top-level list on every operation, and every tag used;
/// request bodies and answers with a body show an example.
#[test]
fn every_operation_has_a_listed_tag_and_examples() {
    let spec = spec();
    let listed: BTreeSet<&str> = spec["tags"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    let mut used = BTreeSet::new();
    let has_examples = |content: &Value| {
        content.as_mapping().unwrap().values().all(|media| {
            media["examples"]
                .as_mapping()
                .is_some_and(|examples| !examples.is_empty())
        })
    };
    for (method, path, operation) in operations(&spec) {
        let tags = operation["tags"].as_sequence().unwrap();
        assert_eq!(tags.len(), 1, "{method} {path}: one area");
        let tag = tags[0].as_str().unwrap();
        assert!(
            listed.contains(tag),
            "{method} {path}: tag {tag} is not listed"
        );
        used.insert(tag);
        if let Some(body) = operation.get("requestBody") {
            assert!(
                has_examples(&body["content"]),
                "{method} {path}: request example"
            );
        }
        for (status, response) in operation["responses"].as_mapping().unwrap() {
            let response = resolved(&spec, response);
            if let Some(content) = response.get("content") {
                assert!(
                    has_examples(content),
                    "{method} {path}: {} example",
                    status.as_str().unwrap()
                );
            }
        }
    }
    assert_eq!(used, listed);
}

/// The authorizer's context is a named schema, field for field the one the
/// authorizer writes, and whoami answers it.
#[test]
fn the_authorizer_context_schema_is_the_authorizers_and_whoami_answers_it() {
    let spec = spec();
    let schema = &spec["components"]["schemas"]["AuthorizerContext"];
    let properties: BTreeSet<&str> = schema["properties"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|key| key.as_str().unwrap())
        .collect();
    let required: BTreeSet<&str> = schema["required"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let fields = BTreeSet::from(AuthorizerContext::FIELDS);
    assert_eq!(properties, fields);
    assert_eq!(required, fields);
    for field in AuthorizerContext::FIELDS {
        assert_eq!(schema["properties"][field]["type"].as_str(), Some("string"));
    }
    assert!(schema["description"].is_string());
    let whoami = &spec["paths"]["/v1/whoami"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        whoami["application/json"]["schema"]["$ref"].as_str(),
        Some("#/components/schemas/AuthorizerContext")
    );
}

/// An account is active, suspended or deleted (`disabled` is a service
/// user's): `Account.status` lists exactly those.
#[test]
fn the_account_statuses_are_the_ones_an_account_can_have() {
    let spec = spec();
    let listed: Vec<PrincipalStatus> = spec["components"]["schemas"]["Account"]["properties"]
        ["status"]["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            PrincipalStatus::Active,
            PrincipalStatus::Suspended,
            PrincipalStatus::Deleted
        ]
    );
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
    let mut folders: Vec<_> = [
        "functions/management/src",
        "shared/src/management",
        "functions/leak-response/src",
    ]
    .map(|folder| repo_root().join(folder))
    .into();
    // Sub-modules' folders too (`body/`).
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
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
                // Only `example(s)` (and what an example holds) and schema
                // `default`/`const` may be null on purpose.
                let in_example = path.contains("/examples/") || path.contains("/example/");
                if value.is_null() && !in_example && !["example", "default", "const"].contains(&key)
                {
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
