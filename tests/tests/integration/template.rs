//! `template.yaml` and the table the code creates must agree: same keys,
//! same owner GSI, same TTL attribute. The table's definition lives in
//! `cog_tokens::aws::dynamodb::schema`; this test holds the template to it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_integration_tests::repo_root;
use cog_tokens::aws::dynamodb::schema::{
    EXPIRY_INDEX, EXPIRY_INDEX_PARTITION_KEY, EXPIRY_INDEX_SORT_KEY, OWNER_INDEX,
    OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY, PARTITION_KEY, SORT_KEY, STREAM_VIEW,
    TTL_ATTRIBUTE,
};
use serde_norway::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn table(template: &Value) -> &Value {
    let resources = template["Resources"].as_mapping().unwrap();
    let tables: Vec<_> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .collect();
    assert_eq!(tables.len(), 1, "the design has one table");
    &tables[0]["Properties"]
}

fn key_schema(keys: &Value) -> Vec<(String, String)> {
    keys.as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().to_owned(),
                k["KeyType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, kind: &str) -> (String, String) {
    (name.to_owned(), kind.to_owned())
}

#[test]
fn the_template_table_matches_the_code_schema() {
    let template = template();
    let table = table(&template);

    assert_eq!(
        key_schema(&table["KeySchema"]),
        vec![pair(PARTITION_KEY, "HASH"), pair(SORT_KEY, "RANGE")]
    );
    let indexes = table["GlobalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(indexes.len(), 2);
    for (index, (name, partition, sort)) in indexes.iter().zip([
        (OWNER_INDEX, OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY),
        (
            EXPIRY_INDEX,
            EXPIRY_INDEX_PARTITION_KEY,
            EXPIRY_INDEX_SORT_KEY,
        ),
    ]) {
        assert_eq!(index["IndexName"].as_str(), Some(name));
        assert_eq!(
            key_schema(&index["KeySchema"]),
            vec![pair(partition, "HASH"), pair(sort, "RANGE")]
        );
        assert_eq!(index["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    }
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"].as_str(),
        Some(STREAM_VIEW.as_str())
    );
    let mut attributes: Vec<_> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            pair(
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    attributes.sort();
    let mut expected = vec![
        pair(PARTITION_KEY, "S"),
        pair(SORT_KEY, "S"),
        pair(OWNER_INDEX_PARTITION_KEY, "S"),
        pair(OWNER_INDEX_SORT_KEY, "S"),
        pair(EXPIRY_INDEX_PARTITION_KEY, "S"),
        pair(EXPIRY_INDEX_SORT_KEY, "S"),
    ];
    expected.sort();
    assert_eq!(attributes, expected);
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(TTL_ATTRIBUTE)
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn the_template_table_is_on_demand_recoverable_and_encrypted() {
    let template = template();
    let table = table(&template);
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        table["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::Sequence(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        value => vec![value.as_str().unwrap_or_default().to_owned()],
    }
}

#[test]
fn the_pepper_key_rotates_and_only_this_stacks_roles_and_the_operator_may_use_it() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let keys: Vec<_> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::KMS::Key"))
        .collect();
    assert_eq!(keys.len(), 1);
    let properties = &keys[0]["Properties"];
    assert_eq!(properties["EnableKeyRotation"].as_bool(), Some(true));
    let is_usage = |action: &str| {
        action == "*"
            || action == "kms:*"
            || [
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:ReEncrypt",
            ]
            .iter()
            .any(|usage| action.starts_with(usage))
    };
    let mut usage_statements = 0;
    for statement in properties["KeyPolicy"]["Statement"].as_sequence().unwrap() {
        let principal = serde_norway::to_string(&statement["Principal"]).unwrap();
        let condition = serde_norway::to_string(&statement["Condition"]).unwrap();
        for action in actions(statement) {
            if !is_usage(&action) {
                continue;
            }
            usage_statements += 1;
            // Usage goes to the account only for principals tagged with this stack,
            // otherwise only to the operator role named as a parameter.
            if principal.contains(":root") {
                assert!(
                    condition.contains("aws:PrincipalTag/cog-tokens-stack")
                        && condition.contains("AWS::StackName"),
                    "{action} granted to every principal of the account"
                );
            } else {
                assert!(
                    principal.contains("OperatorRoleArn"),
                    "{action} to {principal}"
                );
            }
            assert!(
                condition.contains("kms:EncryptionContext:purpose"),
                "{action} without the pepper encryption context"
            );
        }
    }
    assert!(usage_statements >= 3);
    assert_eq!(
        template["Globals"]["Function"]["Tags"]["cog-tokens-stack"],
        serde_norway::from_str::<Value>("!Ref AWS::StackName").unwrap()
    );
}

/// Every IAM statement a function role gets, by resource name.
fn function_statements(template: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        let name = name.as_str().unwrap().to_owned();
        let policies = match resource["Type"].as_str() {
            Some("AWS::Serverless::Function") => resource["Properties"]["Policies"].clone(),
            Some("AWS::IAM::Role") => resource["Properties"]["Policies"].clone(),
            Some("AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy") => {
                Value::Sequence(vec![resource["Properties"]["PolicyDocument"].clone()])
            }
            _ => continue,
        };
        for policy in policies.as_sequence().into_iter().flatten() {
            let document = if policy.get("PolicyDocument").is_some() {
                &policy["PolicyDocument"]
            } else {
                policy
            };
            for statement in document["Statement"].as_sequence().into_iter().flatten() {
                found.push((name.clone(), statement.clone()));
            }
        }
    }
    found
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(list) => list
            .iter()
            .map(|v| serde_norway::to_string(v).unwrap())
            .collect(),
        other => vec![serde_norway::to_string(other).unwrap()],
    }
}

#[test]
fn no_function_policy_grants_a_wildcard_action_or_resource() {
    let template = template();
    let statements = function_statements(&template);
    assert!(
        statements.len() >= 6,
        "expected the functions' policies, found {}",
        statements.len()
    );
    for (name, statement) in statements {
        for action in strings(&statement["Action"]) {
            let action = action.trim();
            assert!(
                action != "'*'" && !action.ends_with(":*") && !action.ends_with(":*'"),
                "{name}: wildcard action {action}"
            );
        }
        for resource in strings(&statement["Resource"]) {
            assert!(
                !resource.trim().trim_matches('\'').eq("*"),
                "{name}: resource *"
            );
        }
    }
}

#[test]
fn every_function_is_a_rust_arm64_al2023_build_with_its_own_log_group() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    let functions: Vec<_> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .collect();
    // Least privilege per statement: `iam.rs`.
    assert!(!functions.is_empty());
    for function in functions {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        // `!Ref <X>LogGroup`: a group of its own, with the template's retention.
        let group =
            serde_norway::to_string(&function["Properties"]["LoggingConfig"]["LogGroup"]).unwrap();
        assert!(
            group.contains("!Ref") && group.contains("LogGroup"),
            "{group}"
        );
    }
}

/// The token authorizer must answer in the format the HTTP API expects, or
/// every protected request is a 500; and `cargo lambda watch` (via
/// `Cargo.toml`) must run it the same way. (The end-to-end chain takes the
/// functions' environment from the template itself.)
#[test]
fn the_token_authorizer_answers_in_the_format_the_api_expects() {
    let template = template();
    let authorizer =
        &template["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["CogToken"];
    let simple = authorizer["EnableSimpleResponses"].as_bool().unwrap();
    let format = template["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]
        ["Variables"]["HTTP_RESPONSE_FORMAT"]
        .as_str()
        .unwrap();
    assert_eq!(format, if simple { "simple" } else { "iam" });
    // IAM answers: a bad token 401, a missing scope 403 (docs/authorizer.md).
    assert!(!simple);

    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("HTTP_RESPONSE_FORMAT = \"{format}\"")),
        "[workspace.metadata.lambda.watch.env] must set HTTP_RESPONSE_FORMAT = \"{format}\""
    );
}

/// A cached authorizer answer is reused for every request with the same
/// identity sources, so each input a decision depends on must be one of
/// them, or the answer must hold without it (docs/authorizer.md, "Identity
/// sources each shape needs under caching"). Checked whatever the TTL: a
/// parameter turns the cache on.
#[test]
fn every_token_authorizer_is_keyed_by_what_its_answers_depend_on() {
    let template = template();
    let mut checked = 0;
    for (api, resource) in template["Resources"].as_mapping().unwrap() {
        let rest = match resource["Type"].as_str() {
            Some("AWS::Serverless::HttpApi") => false,
            Some("AWS::Serverless::Api") => true,
            _ => continue,
        };
        let authorizers = &resource["Properties"]["Auth"]["Authorizers"];
        for (name, authorizer) in authorizers.as_mapping().into_iter().flatten() {
            if authorizer["FunctionArn"].is_null() {
                continue; // a JWT or Cognito authorizer
            }
            let at = format!("{api:?}.{name:?}");
            identity_sources_suffice(&at, rest, authorizer);
            checked += 1;
        }
    }
    assert!(checked > 0, "no Lambda token authorizer found");
}

fn listed<'a>(value: &'a Value, key: &str) -> Vec<&'a str> {
    value[key]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect()
}

/// The table of docs/authorizer.md for one authorizer.
fn identity_sources_suffice(at: &str, rest: bool, authorizer: &Value) {
    let identity = &authorizer["Identity"];
    let headers = listed(identity, "Headers");
    let context = listed(identity, "Context");
    if rest && authorizer["FunctionPayloadType"].as_str() != Some("REQUEST") {
        // REST TOKEN: keyed by the token alone; its answers cover every
        // route, and an allowlisted token is denied the whole stage.
        return;
    }
    assert!(
        headers.contains(&"Authorization"),
        "{at}: the token header must be an identity source"
    );
    assert!(
        context.contains(&"identity.sourceIp"),
        "{at}: IP allowlists need $context.identity.sourceIp in the identity sources"
    );
    if !rest && authorizer["EnableSimpleResponses"].as_bool() == Some(true) {
        assert!(
            context.contains(&"routeKey"),
            "{at}: a simple answer is for one route: $context.routeKey must be an identity source"
        );
    }
}
