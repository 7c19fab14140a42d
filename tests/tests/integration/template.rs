//! `template.yaml` held to the code and the design: the table the code
//! creates (same keys, owner GSI, TTL attribute; the definition lives in
//! `cog_tokens::aws::dynamodb::schema`), the key and function policies, the
//! alarms, dashboard, access log and tracing, the gradual rollout, and
//! `samconfig.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::BTreeMap;

use cog_integration_tests::repo_root;
use cog_tokens::aws::dynamodb::schema::{
    EXPIRY_INDEX, EXPIRY_INDEX_PARTITION_KEY, EXPIRY_INDEX_SORT_KEY, IDLE_INDEX,
    IDLE_INDEX_PARTITION_KEY, IDLE_INDEX_PROJECTED, IDLE_INDEX_SORT_KEY, OWNER_INDEX,
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
    assert_eq!(indexes.len(), 3);
    for (index, (name, partition, sort)) in indexes.iter().zip([
        (OWNER_INDEX, OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY),
        (
            EXPIRY_INDEX,
            EXPIRY_INDEX_PARTITION_KEY,
            EXPIRY_INDEX_SORT_KEY,
        ),
        (IDLE_INDEX, IDLE_INDEX_PARTITION_KEY, IDLE_INDEX_SORT_KEY),
    ]) {
        assert_eq!(index["IndexName"].as_str(), Some(name));
        assert_eq!(
            key_schema(&index["KeySchema"]),
            vec![pair(partition, "HASH"), pair(sort, "RANGE")]
        );
        if name == IDLE_INDEX {
            assert_eq!(
                index["Projection"]["ProjectionType"].as_str(),
                Some("INCLUDE")
            );
            let projected: Vec<_> = index["Projection"]["NonKeyAttributes"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(projected, IDLE_INDEX_PROJECTED);
        } else {
            assert_eq!(index["Projection"]["ProjectionType"].as_str(), Some("ALL"));
        }
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
        pair(IDLE_INDEX_PARTITION_KEY, "S"),
        pair(IDLE_INDEX_SORT_KEY, "S"),
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

/// `!Ref X`, `!GetAtt X.Y`, ... as the template writes them.
fn tagged(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(name, r)| (name.as_str().unwrap(), r))
        .collect()
}

/// Dimension name → value, as the template writes each value.
fn dimensions(alarm: &Value) -> Vec<(String, Value)> {
    alarm["Properties"]["Dimensions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|d| (d["Name"].as_str().unwrap().to_owned(), d["Value"].clone()))
        .collect()
}

fn alarm_watching<'a>(
    template: &'a Value,
    namespace: &str,
    metric: &str,
    dimension: &(&str, Value),
) -> Option<&'a str> {
    resources_of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .find(|(_, alarm)| {
            alarm["Properties"]["Namespace"].as_str() == Some(namespace)
                && alarm["Properties"]["MetricName"].as_str() == Some(metric)
                && dimensions(alarm).contains(&(dimension.0.to_owned(), dimension.1.clone()))
        })
        .map(|(name, _)| name)
}

#[test]
fn every_alarm_notifies_the_alarm_topic_in_alarm_and_when_it_clears() {
    let template = template();
    let topic = tagged("!Ref AlarmTopic");
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 15, "{} alarms", alarms.len());
    for (name, alarm) in alarms {
        let properties = &alarm["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            let listed = properties[actions].as_sequence();
            assert!(
                listed.is_some_and(|list| list.contains(&topic)),
                "{name}: {actions} must include !Ref AlarmTopic"
            );
        }
        assert!(
            properties["AlarmDescription"]
                .as_str()
                .is_some_and(|text| text.len() > 40),
            "{name}: say what the alarm means"
        );
        assert!(
            properties["TreatMissingData"].as_str().is_some(),
            "{name}: TreatMissingData must be stated"
        );
    }
    // One topic; an email subscription only when AlarmEmail is given.
    assert_eq!(resources_of_type(&template, "AWS::SNS::Topic").len(), 1);
    assert_eq!(
        template["Parameters"]["AlarmEmail"]["Default"].as_str(),
        Some("")
    );
    let subscriptions = resources_of_type(&template, "AWS::SNS::Subscription");
    assert_eq!(subscriptions.len(), 1);
    let (_, subscription) = subscriptions[0];
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
    assert_eq!(subscription["Properties"]["TopicArn"], topic);
    assert!(!template["Conditions"]["HasAlarmEmail"].is_null());
}

/// The functions' binary names: the `Function` dimension of every custom metric.
fn binaries(template: &Value) -> Vec<String> {
    resources_of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(_, f)| {
            f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// An alarm on an EMF metric sees only the metric with exactly its
/// dimension set: `Function` alone, or with `Outcome` for the decisions
/// (the fault outcome carries no `Reason`).
#[test]
fn alarms_on_custom_metrics_name_the_exact_dimensions_the_functions_emit() {
    let template = template();
    let binaries = binaries(&template);
    let mut custom = 0;
    for (name, alarm) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        if alarm["Properties"]["Namespace"].as_str() != Some("CogTokens") {
            continue;
        }
        custom += 1;
        let dimensions = dimensions(alarm);
        let function = dimensions
            .iter()
            .find(|(key, _)| key == "Function")
            .and_then(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("{name}: no Function dimension"));
        assert!(
            binaries.iter().any(|b| b == function),
            "{name}: Function={function} is no function's binary"
        );
        let keys: Vec<_> = dimensions.iter().map(|(key, _)| key.as_str()).collect();
        match alarm["Properties"]["MetricName"].as_str().unwrap() {
            "Decisions" => {
                assert_eq!(keys, ["Function", "Outcome"], "{name}");
                assert_eq!(dimensions[1].1.as_str(), Some("fault"), "{name}");
            }
            _ => assert_eq!(keys, ["Function"], "{name}"),
        }
    }
    assert!(custom >= 4, "{custom} alarms on CogTokens metrics");
}

#[test]
fn the_issues_alarms_exist_for_the_authorizer_the_api_the_streams_and_the_queues() {
    let template = template();
    let function = |logical: &str| ("FunctionName", tagged(&format!("!Ref {logical}")));
    let custom = |binary: &str| ("Function", Value::String(binary.to_owned()));
    for (namespace, metric, dimension) in [
        ("AWS/Lambda", "Throttles", function("AuthorizerFunction")),
        ("AWS/Lambda", "Duration", function("AuthorizerFunction")),
        ("CogTokens", "Decisions", custom("authorizer")),
        ("AWS/ApiGateway", "5xx", ("ApiId", tagged("!Ref HttpApi"))),
        ("CogTokens", "OutboxLag", custom("event-publisher")),
        ("CogTokens", "AccountSyncRefused", custom("account-sync")),
        ("CogTokens", "LeakResponseFailures", custom("leak-response")),
        // Batch item failures are no Lambda error: the invalidator counts them.
        (
            "CogTokens",
            "InvalidationFailures",
            custom("cache-invalidator"),
        ),
        ("AWS/Lambda", "Errors", function("CacheInvalidatorFunction")),
        ("AWS/Lambda", "Errors", function("AccountSyncFunction")),
        ("AWS/Lambda", "Errors", function("ExpirySweepFunction")),
        ("AWS/Lambda", "Errors", function("LeakResponseFunction")),
        ("AWS/Lambda", "Errors", function("RevokeTokenFunction")),
    ] {
        assert!(
            alarm_watching(&template, namespace, metric, &dimension).is_some(),
            "no alarm on {namespace} {metric} {dimension:?}"
        );
    }
    // The authorizer's Lambda `Errors` count every 401 (its IAM-format
    // refusal is the `Unauthorized` error): an alarm on them would fire for
    // any bad token. Its timeouts, crashes and panics come from its log.
    assert!(
        alarm_watching(
            &template,
            "AWS/Lambda",
            "Errors",
            &function("AuthorizerFunction")
        )
        .is_none(),
        "an alarm on the authorizer's Lambda Errors fires on every 401"
    );
    let filters = resources_of_type(&template, "AWS::Logs::MetricFilter");
    let (_, crashes) = filters
        .iter()
        .find(|(_, f)| f["Properties"]["LogGroupName"] == tagged("!Ref AuthorizerLogGroup"))
        .expect("a metric filter on the authorizer's log");
    let pattern = crashes["Properties"]["FilterPattern"].as_str().unwrap();
    for term in ["Task timed out", "Runtime exited", "panicked"] {
        assert!(pattern.contains(term), "{pattern} misses {term}");
    }
    let transformation = &crashes["Properties"]["MetricTransformations"][0];
    let crash_alarm = &template["Resources"]["AuthorizerErrorAlarm"]["Properties"];
    assert_eq!(crash_alarm["Namespace"], transformation["MetricNamespace"]);
    assert_eq!(crash_alarm["MetricName"], transformation["MetricName"]);

    // p99 against the authorizer's 3 s timeout.
    let duration = alarm_watching(
        &template,
        "AWS/Lambda",
        "Duration",
        &function("AuthorizerFunction"),
    )
    .unwrap();
    let duration = &template["Resources"][duration]["Properties"];
    assert_eq!(duration["ExtendedStatistic"].as_str(), Some("p99"));
    let timeout = template["Resources"]["AuthorizerFunction"]["Properties"]["Timeout"]
        .as_f64()
        .unwrap();
    assert!(duration["Threshold"].as_f64().unwrap() < timeout * 1000.0);

    // Every queue is a dead-letter queue: alarmed as soon as it holds a message.
    let queues = resources_of_type(&template, "AWS::SQS::Queue");
    assert!(queues.len() >= 4);
    for (queue, _) in queues {
        let name = ("QueueName", tagged(&format!("!GetAtt {queue}.QueueName")));
        let alarm = alarm_watching(
            &template,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            &name,
        )
        .unwrap_or_else(|| panic!("{queue}: no alarm on its depth"));
        let alarm = &template["Resources"][alarm]["Properties"];
        assert_eq!(alarm["Threshold"].as_f64(), Some(0.0), "{queue}");
        assert_eq!(
            alarm["ComparisonOperator"].as_str(),
            Some("GreaterThanThreshold")
        );
    }

    // Every stream consumer: its iterator age.
    let mut consumers = 0;
    for (logical, resource) in resources_of_type(&template, "AWS::Serverless::Function") {
        let reads_a_stream = resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, event)| event["Type"].as_str() == Some("DynamoDB"));
        if reads_a_stream {
            consumers += 1;
            assert!(
                alarm_watching(&template, "AWS/Lambda", "IteratorAge", &function(logical))
                    .is_some(),
                "{logical} reads the stream: alarm on its IteratorAge"
            );
        }
    }
    assert_eq!(consumers, 2);
}

/// `!GetAtt Queue.Arn` of a queue the template defines (and so alarms, above).
fn is_own_queue(template: &Value, arn: &Value) -> bool {
    let Value::Tagged(tagged) = arn else {
        return false;
    };
    let queue = tagged.value.as_str().and_then(|v| v.strip_suffix(".Arn"));
    tagged.tag == "GetAtt"
        && queue
            .is_some_and(|q| template["Resources"][q]["Type"].as_str() == Some("AWS::SQS::Queue"))
}

/// Every way a change or a run reaches a function asynchronously (the
/// stream, a schedule, a bus rule, Lambda's own async retries) ends, when it
/// gives up, in one of the template's queues, each alarmed: nothing that
/// could carry or flush a revocation or an event is dropped unseen.
#[test]
fn every_asynchronous_path_gives_up_into_an_alarmed_queue() {
    let template = template();
    let mut paths = 0;
    for (logical, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let properties = &function["Properties"];
        if !properties["EventInvokeConfig"].is_null() {
            paths += 1;
            let on_failure = &properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
            assert!(
                is_own_queue(&template, &on_failure["Destination"]),
                "{logical}: async failures go nowhere"
            );
        }
        for (name, event) in properties["Events"].as_mapping().into_iter().flatten() {
            let event_properties = &event["Properties"];
            let dead_letter = match event["Type"].as_str().unwrap() {
                "DynamoDB" => &event_properties["DestinationConfig"]["OnFailure"]["Destination"],
                "ScheduleV2" | "EventBridgeRule" => &event_properties["DeadLetterConfig"]["Arn"],
                _ => continue,
            };
            paths += 1;
            assert!(
                is_own_queue(&template, dead_letter),
                "{logical} {name:?}: gives up into no queue of the template"
            );
        }
    }
    // 2 stream mappings, 3 schedules, the directory's rule and the credential
    // bus's rule for the usage-plan sync, both syncs' async retries.
    assert_eq!(paths, 9);
}

/// A bad authorizer build reaches 10 % of the requests first, and its own
/// alarms roll it back; API Gateway calls the alias CodeDeploy shifts.
#[test]
fn the_authorizer_and_the_api_functions_that_change_access_roll_out_through_an_alias() {
    let template = template();
    let resources = &template["Resources"];
    for (function, alarms) in [
        (
            "AuthorizerFunction",
            &[
                "AuthorizerErrorAlarm",
                "AuthorizerFaultAlarm",
                "AuthorizerDurationAlarm",
            ][..],
        ),
        ("IssueTokenFunction", &["IssueTokenErrorAlarm"][..]),
        ("RevokeTokenFunction", &["RevokeTokenErrorAlarm"][..]),
        (
            "LeakResponseFunction",
            &["LeakResponseErrorAlarm", "LeakResponseFailureAlarm"][..],
        ),
    ] {
        let properties = &resources[function]["Properties"];
        assert_eq!(
            properties["AutoPublishAlias"].as_str(),
            Some("live"),
            "{function}"
        );
        let preference = &properties["DeploymentPreference"];
        let kind = preference["Type"].as_str().unwrap();
        assert!(
            kind.starts_with("Canary") || kind.starts_with("Linear"),
            "{function}: {kind} is not gradual"
        );
        assert_ne!(preference["Enabled"].as_bool(), Some(false), "{function}");
        for alarm in alarms {
            assert!(
                preference["Alarms"]
                    .as_sequence()
                    .is_some_and(|list| list.contains(&tagged(&format!("!Ref {alarm}")))),
                "{function}: {alarm} must roll it back"
            );
            assert_eq!(
                resources[*alarm]["Type"].as_str(),
                Some("AWS::CloudWatch::Alarm")
            );
        }
    }
    assert_eq!(
        resources["AuthorizerFunction"]["Properties"]["DeploymentPreference"]["Type"].as_str(),
        Some("Canary10Percent5Minutes")
    );

    // The API calls the alias, and SAM's invoke permission follows FunctionArn.
    let authorizer = &resources["HttpApi"]["Properties"]["Auth"]["Authorizers"]["CogToken"];
    assert_eq!(
        authorizer["FunctionArn"],
        tagged("!Ref AuthorizerFunction.Alias")
    );
    assert_eq!(
        authorizer["EnableFunctionDefaultPermissions"].as_bool(),
        Some(true)
    );
}

#[test]
fn the_table_has_point_in_time_recovery_and_deletion_protection() {
    let template = template();
    let table = table(&template);
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["DeletionProtectionEnabled"].as_bool(), Some(true));
    let resource = &template["Resources"]["TokensTable"];
    assert_eq!(resource["DeletionPolicy"].as_str(), Some("Retain"));
    assert_eq!(resource["UpdateReplacePolicy"].as_str(), Some("Retain"));
}

/// The `$context` variables an access log line may hold: none carries a
/// header, the query, the path, the body or the caller's identity besides
/// its address (the token travels in `Authorization`, or the body of the
/// public revoke route).
const ACCESS_LOG_VARIABLES: &[&str] = &[
    "requestId",
    "requestTime",
    "httpMethod",
    "routeKey",
    "status",
    "protocol",
    "responseLength",
    "responseLatency",
    "integrationLatency",
    "integrationStatus",
    "awsEndpointRequestId",
    "authorizer.error",
    "authorizer.latency",
    "error.message",
    "identity.sourceIp",
];

#[test]
fn the_access_log_is_json_in_its_own_log_group_and_holds_no_token() {
    let template = template();
    let settings = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let format = settings["Format"].as_str().unwrap();

    for forbidden in [
        "$request",
        "$input",
        "$stageVariables",
        "header",
        "Authorization",
    ] {
        assert!(
            !format.to_lowercase().contains(&forbidden.to_lowercase()),
            "the access log format names {forbidden}"
        );
    }
    let variable = regex_lite::Regex::new(r"\$context\.([A-Za-z0-9_.]+)").unwrap();
    let used: Vec<&str> = variable
        .captures_iter(format)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    for name in &used {
        assert!(
            ACCESS_LOG_VARIABLES.contains(name),
            "$context.{name} is not on the access log's list"
        );
    }
    for needed in [
        "requestId",
        "routeKey",
        "status",
        "responseLatency",
        "integrationLatency",
        "authorizer.error",
        "authorizer.latency",
        "identity.sourceIp",
    ] {
        assert!(used.contains(&needed), "the access log lacks {needed}");
    }
    // Nothing but variables outside the JSON's quotes: one JSON object a line.
    let line = variable.replace_all(format, "value");
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["requestId"], "value");

    assert_eq!(
        settings["DestinationArn"],
        tagged("!GetAtt HttpApiAccessLogGroup.Arn")
    );
    let group = &template["Resources"]["HttpApiAccessLogGroup"];
    assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
    assert_eq!(
        group["Properties"]["RetentionInDays"],
        tagged("!Ref LogRetentionDays")
    );
}

/// Active tracing, and no function brings its own role: SAM then adds the
/// X-Ray write policy to each role it generates.
#[test]
fn every_function_is_traced_with_the_role_sam_generates() {
    let template = template();
    assert_eq!(
        template["Globals"]["Function"]["Tracing"].as_str(),
        Some("Active")
    );
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let properties = &function["Properties"];
        assert!(properties["Role"].is_null(), "{name} brings its own role");
        assert!(
            properties["Tracing"].is_null() || properties["Tracing"].as_str() == Some("Active"),
            "{name} turns tracing off"
        );
    }
}

#[test]
fn the_dashboard_shows_requests_decisions_latency_errors_events_queues_and_flushes() {
    let template = template();
    let dashboards = resources_of_type(&template, "AWS::CloudWatch::Dashboard");
    // The main one, and one per condition for the resources it may leave out.
    let body_of = |condition: Option<&str>| {
        let found: Vec<_> = dashboards
            .iter()
            .filter(|(_, d)| d["Condition"].as_str() == condition)
            .collect();
        assert_eq!(found.len(), 1, "one dashboard for {condition:?}");
        let Value::Tagged(sub) = &found[0].1["Properties"]["DashboardBody"] else {
            panic!("DashboardBody must be !Sub")
        };
        assert!(sub.tag == "Sub");
        sub.value.as_str().unwrap().to_owned()
    };
    let text = body_of(None);
    let text = text.as_str();
    // Each `${X}` names an unconditional resource (or an attribute of one),
    // a parameter, or a pseudo parameter.
    let reference = regex_lite::Regex::new(r"\$\{([A-Za-z0-9:]+)(\.[A-Za-z]+)?\}").unwrap();
    let named = |text: &str, condition: Option<&str>| {
        for found in reference.captures_iter(text) {
            let name = found.get(1).unwrap().as_str();
            let resource = &template["Resources"][name];
            assert!(
                name.starts_with("AWS::")
                    || !template["Parameters"][name].is_null()
                    || (!resource.is_null() && resource["Condition"].as_str() == condition),
                "a dashboard names {name}, which it may not have"
            );
        }
    };
    named(text, None);
    let body: serde_json::Value = serde_json::from_str(&reference.replace_all(text, "x")).unwrap();
    let widgets = body["widgets"].as_array().unwrap();
    let text_of = serde_json::to_string(&body).unwrap();
    for metric in [
        "\"Count\"",
        "Decisions",
        "DecisionLatency",
        "\"Duration\"",
        "\"Errors\"",
        "\"5xx\"",
        "\"4xx\"",
        "EventsPublished",
        "OutboxLag",
        "EventsRetried",
        "InvalidationFailures",
        "ApproximateNumberOfMessagesVisible",
        "CacheFlushes",
        "CacheFlushFailures",
    ] {
        assert!(text_of.contains(metric), "the dashboard shows no {metric}");
    }
    // Every function's errors, and every alarm's state, on its condition's dashboard.
    let usage_plans = body_of(Some("HasUsagePlans"));
    named(&usage_plans, Some("HasUsagePlans"));
    let board = |resource: &Value| match resource["Condition"].as_str() {
        None => text,
        Some("HasUsagePlans") => usage_plans.as_str(),
        Some(other) => panic!("no dashboard for condition {other}"),
    };
    for (logical, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        assert!(
            board(function).contains(&format!("\"Errors\", \"FunctionName\", \"${{{logical}}}\"")),
            "the dashboard lacks {logical}'s errors"
        );
    }
    for (alarm, resource) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        assert!(
            board(resource).contains(&format!("${{{alarm}.Arn}}")),
            "the alarm widget lacks {alarm}"
        );
    }
    assert!(
        usage_plans.contains("UsageKeysPlaced") && usage_plans.contains("UsagePlanSyncFailures")
    );
    assert!(widgets.len() >= 8);
}

/// docs/deploy.md names every alarm the template defines.
#[test]
fn the_deploy_guide_lists_every_alarm() {
    let template = template();
    let guide = std::fs::read_to_string(repo_root().join("docs/deploy.md")).unwrap();
    for (alarm, _) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        assert!(
            guide.contains(&format!("`{alarm}`")),
            "docs/deploy.md does not list {alarm}"
        );
    }
}

/// `[table]` and `key = value` lines of a TOML file (the part of TOML
/// samconfig.toml uses): (table, key) → the value's text, quotes removed.
fn toml_entries(text: &str) -> BTreeMap<(String, String), String> {
    let mut table = String::new();
    let mut entries = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            table = name.strip_suffix(']').unwrap().trim().to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not `key = value`: {line}"));
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap(),
            None => value.split_whitespace().next().unwrap(),
        };
        entries.insert((table.clone(), key.trim().to_owned()), value.to_owned());
    }
    entries
}

/// `sam build && sam deploy --guided` as docs/deploy.md writes them:
/// rust-cargolambda is a SAM CLI beta feature, and `sam validate` lints.
#[test]
fn samconfig_turns_on_the_rust_build_and_lints_on_validate() {
    let text = std::fs::read_to_string(repo_root().join("samconfig.toml")).unwrap();
    let entries = toml_entries(&text);
    let get = |table: &str, key: &str| {
        entries
            .get(&(table.to_owned(), key.to_owned()))
            .map(String::as_str)
    };
    assert_eq!(get("", "version"), Some("0.1"));
    assert_eq!(
        get("default.build.parameters", "beta_features"),
        Some("true")
    );
    assert_eq!(
        get("default.sync.parameters", "beta_features"),
        Some("true")
    );
    assert_eq!(get("default.validate.parameters", "lint"), Some("true"));
    assert_eq!(
        get("default.deploy.parameters", "capabilities"),
        Some("CAPABILITY_IAM")
    );
    assert_eq!(
        get("default.deploy.parameters", "confirm_changeset"),
        Some("true")
    );
    assert_eq!(get("default.deploy.parameters", "resolve_s3"), Some("true"));
    assert!(get("default.global.parameters", "stack_name").is_some());
    // Every function is built the way the beta setting is for.
    let template = template();
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
    }
    let guide = std::fs::read_to_string(repo_root().join("docs/deploy.md")).unwrap();
    assert!(guide.contains("sam build && sam deploy --guided"));
}
