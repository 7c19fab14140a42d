//! Least privilege, per statement: every function's IAM grants in
//! `template.yaml` equal one table here, row for row, and every DynamoDB
//! request a function makes through the whole chain (the `make dev`
//! walkthrough, with a recording proxy in front of each function's
//! DynamoDB) is covered by one of its rows. A new write without a grant
//! fails the second test; a grant without a row, or a row without a grant,
//! the first.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use cog_integration_tests::chain::{Chain, ChainConfig, FUNCTIONS};
use cog_integration_tests::events::EventTap;
use cog_integration_tests::iam::{accesses, Access};
use cog_integration_tests::proxy::FaultProxy;
use cog_integration_tests::{repo_root, Stack};
use serde_norway::Value;

/// One grant: actions on resources, for items under key prefixes, naming
/// only these attributes (`None`: any). Resources: `table`, `gsi1`, `gsi2`,
/// `stream`, `pepper-key`, `bus`, `dead-letter-queue`, `account-sync-dead-letter-queue`,
/// `cache-invalidator-dead-letter-queue`, `http-api-stage-authorizer-cache`,
/// `rest-api-stage-authorizer-cache`, `usage-plan-sync-dead-letter-queue`,
/// `api-keys`, `api-key`, `usage-plans`, `usage-plan`, `usage-plan-keys`,
/// `usage-plan-key`, `usage-plan-rest-api`.
type Row = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    Option<&'static [&'static str]>,
);

/// A token item's key and index attributes: `dynamodb:Attributes` must list them.
const KEYS: [&str; 2] = ["pk", "sk"];

/// An audit item (written with every change, in its transaction).
const AUDIT: &[&str] = &[
    "event_id",
    "at",
    "actor",
    "action",
    "owner_kind",
    "owner_id",
    "token_id",
    "detail",
    "org",
    "gsi1pk",
    "gsi1sk",
    "source_ip",
    "user_agent",
    "ttl",
];
/// A new token's item: no revocation, no last use.
const NEW_TOKEN: &[&str] = &[
    "owner_kind",
    "owner_id",
    "name",
    "scopes",
    "hash",
    "pepper_version",
    "created_at",
    "holds_slot",
    "gsi1pk",
    "gsi1sk",
    "expires_at",
    "gsi2pk",
    "gsi2sk",
    "gsi3pk",
    "gsi3sk",
    "blocked_orgs",
    "approved_orgs",
    "org_denials",
    "allowed_ips",
    "rate_limit",
    "org_limit",
    "family",
];
const REVOCATION: &[&str] = &[
    "revoked_at",
    "revoked_by",
    "revoke_reason",
    "ttl",
    "holds_slot",
];
const TABLE: &[&str] = &["table"];
const DECRYPT: (&[&str], &[&str]) = (&["kms:Decrypt"], &["pepper-key"]);
const STREAM_READS: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];
const GET_QUERY: &[&str] = &["dynamodb:GetItem", "dynamodb:Query"];

/// Every grant of every function: (binary, actions, resources, key
/// prefixes, attributes besides the keys). The one list of what each
/// function's code does to AWS.
#[rustfmt::skip]
const GRANTS: &[Row] = &[
    // The token and its owner (one strongly consistent read), the ring, org policies.
    // ... and the revocation feed.
    ("authorizer", &["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"], TABLE,
        &["TOKEN#", "USER#", "SVCUSER#", "ORG#", "PEPPER", "FEED"], None),
    // last_used_at with the last use's details, the lazy re-hash, the
    // refused-address record.
    ("authorizer", &["dynamodb:UpdateItem"], TABLE, &["TOKEN#"],
        Some(&["last_used_at", "last_used_ip", "last_used_ua", "recent_addresses", "gsi3pk", "gsi3sk", "hash", "pepper_version", "ip_refused_at"])),
    ("authorizer", &["dynamodb:PutItem"], TABLE, &["AUDIT#"], Some(AUDIT)),
    ("authorizer", DECRYPT.0, DECRYPT.1, &[], None),

    ("issue-token", GET_QUERY, &["table", "gsi1"],
        &["USER#", "SVCUSER#", "ORG#", "TOKEN#", "OWNER#", "AUDIT#", "PEPPER", "IDEMPOTENCY#"], None),
    // The owner's orgs' policies: which require approval.
    ("issue-token", &["dynamodb:BatchGetItem"], TABLE, &["ORG#"], None),
    ("issue-token", &["dynamodb:PutItem"], TABLE, &["TOKEN#"], Some(NEW_TOKEN)),
    // An Idempotency-Key's result, and a self-rotation's owner watermark check.
    ("issue-token", &["dynamodb:PutItem"], TABLE, &["IDEMPOTENCY#"],
        Some(&["fingerprint", "token_id", "pepper_version", "sealed_token", "created_at", "expires_at", "ttl"])),
    ("issue-token", &["dynamodb:ConditionCheckItem"], TABLE, &["USER#", "SVCUSER#"], None),
    // A rotation's old token, an ended token's slot.
    ("issue-token", &["dynamodb:UpdateItem"], TABLE, &["TOKEN#"],
        Some(&["revoked_at", "revoked_by", "revoke_reason", "ttl", "holds_slot", "rev", "replaced_by"])),
    ("issue-token", &["dynamodb:PutItem"], TABLE, &["OWNER#"], Some(&["token_id", "expires_at", "ttl"])),
    ("issue-token", &["dynamodb:UpdateItem"], TABLE, &["OWNER#"], Some(&["active"])),
    ("issue-token", &["dynamodb:PutItem"], TABLE, &["SVCUSER#"],
        Some(&["service_user_id", "org_id", "name", "role", "status", "created_at", "gsi1pk", "gsi1sk"])),
    ("issue-token", &["dynamodb:UpdateItem"], TABLE, &["ORG#"], Some(&["created"])),
    ("issue-token", &["dynamodb:PutItem"], TABLE, &["AUDIT#"], Some(AUDIT)),
    ("issue-token", DECRYPT.0, DECRYPT.1, &[], None),

    ("revoke-token", GET_QUERY, &["table", "gsi1"],
        &["USER#", "SVCUSER#", "ORG#", "TOKEN#", "OWNER#", "AUDIT#"], None),
    // Revocations, org blocks and approvals, allowlists, rate limits, ended slots: never
    // scopes, hash, owner or expiry.
    ("revoke-token", &["dynamodb:UpdateItem"], TABLE, &["TOKEN#"],
        Some(&["revoked_at", "revoked_by", "revoke_reason", "ttl", "holds_slot", "blocked_orgs",
               "approved_orgs", "org_denials", "allowed_ips", "rate_limit", "rev", "replaced_by"])),
    ("revoke-token", &["dynamodb:DeleteItem"], TABLE, &["OWNER#"], Some(&["token_id"])),
    ("revoke-token", &["dynamodb:UpdateItem"], TABLE, &["OWNER#"], Some(&["active"])),
    ("revoke-token", &["dynamodb:UpdateItem"], TABLE, &["USER#"], Some(&["tokens_valid_after"])),
    ("revoke-token", &["dynamodb:UpdateItem"], TABLE, &["SVCUSER#"],
        Some(&["name", "role", "status", "org_id", "tokens_valid_after"])),
    ("revoke-token", &["dynamodb:PutItem"], TABLE, &["ORG#"],
        Some(&["org_id", "pat_access", "pat_max_lifetime_days", "idle_expiry_days", "pat_approval"])),
    ("revoke-token", &["dynamodb:PutItem"], TABLE, &["AUDIT#"], Some(AUDIT)),

    ("leak-response", &["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"], TABLE,
        &["TOKEN#", "PEPPER"], None),
    ("leak-response", &["dynamodb:UpdateItem"], TABLE, &["TOKEN#"], Some(REVOCATION)),
    ("leak-response", &["dynamodb:DeleteItem"], TABLE, &["OWNER#"], Some(&["token_id"])),
    ("leak-response", &["dynamodb:UpdateItem"], TABLE, &["OWNER#"], Some(&["active"])),
    ("leak-response", &["dynamodb:UpdateItem"], TABLE, &["RATE#"], Some(&["requests", "ttl"])),
    ("leak-response", &["dynamodb:PutItem"], TABLE, &["AUDIT#"], Some(AUDIT)),
    ("leak-response", DECRYPT.0, DECRYPT.1, &[], None),

    ("event-publisher", &["dynamodb:BatchGetItem"], TABLE, &["PUBLISHED#"], None),
    ("event-publisher", &["dynamodb:BatchWriteItem"], TABLE, &["PUBLISHED#"], Some(&["event_id", "ttl"])),
    ("event-publisher", STREAM_READS, &["stream"], &[], None),
    ("event-publisher", &["events:PutEvents"], &["bus"], &[], None),
    ("event-publisher", &["sqs:SendMessage"], &["dead-letter-queue"], &[], None),

    ("expiry-sweep", &["dynamodb:Query"], &["gsi2"], &["EXPIRES#"], None),
    ("expiry-sweep", &["dynamodb:Query"], &["gsi3"], &["IDLE#"], None),
    // The idle sweep's reads: a due credential, its owner, its orgs' policies.
    ("expiry-sweep", &["dynamodb:GetItem"], TABLE, &["TOKEN#", "USER#", "SVCUSER#", "ORG#"], None),
    // revoked_at and last_used_at only in conditions (IAM counts them all the same).
    ("expiry-sweep", &["dynamodb:UpdateItem"], TABLE, &["TOKEN#"],
        Some(&["expiry_notices", "gsi2pk", "gsi2sk", "revoked_at", "idle_notices", "last_used_at",
            "last_used_ip", "last_used_ua", "recent_addresses", "gsi3pk", "gsi3sk", "revoked_by",
            "revoke_reason", "ttl", "holds_slot"])),
    ("expiry-sweep", &["dynamodb:DeleteItem"], TABLE, &["OWNER#"], Some(&["token_id"])),
    ("expiry-sweep", &["dynamodb:UpdateItem"], TABLE, &["OWNER#"], Some(&["active"])),
    ("expiry-sweep", &["dynamodb:PutItem"], TABLE, &["AUDIT#"], Some(AUDIT)),

    // The feed (read, conditional put), tokens' last_used_at and grace ends,
    // the scheduled ends; expiring tokens; the HTTP API stage's cache.
    ("cache-invalidator", GET_QUERY, TABLE, &["FEED", "TOKEN#", "ENDS#"], None),
    ("cache-invalidator", &["dynamodb:PutItem"], TABLE, &["FEED", "ENDS#"],
        Some(&["entries", "ver", "reset_at", "ttl"])),
    ("cache-invalidator", &["dynamodb:Query"], &["gsi2"], &["EXPIRES#"], None),
    ("cache-invalidator", &["apigateway:DELETE"],
        &["http-api-stage-authorizer-cache", "rest-api-stage-authorizer-cache"], &[], None),
    ("cache-invalidator", STREAM_READS, &["stream"], &[], None),
    ("cache-invalidator", &["sqs:SendMessage"], &["cache-invalidator-dead-letter-queue"], &[], None),

    // With usage plans: a credential (the reconcile's in one batch), its
    // placed-key mark (the rest in the mark's conditions), the API keys and
    // plans it keeps.
    ("usage-plan-sync", &["dynamodb:GetItem", "dynamodb:BatchGetItem"], TABLE, &["TOKEN#"], None),
    ("usage-plan-sync", &["dynamodb:UpdateItem"], TABLE, &["TOKEN#"],
        Some(&["usage_key", "rate_limit", "revoked_at", "expires_at"])),
    ("usage-plan-sync", &["apigateway:GET", "apigateway:POST"], &["api-keys", "usage-plans"], &[], None),
    ("usage-plan-sync", &["apigateway:POST"], &["usage-plan-keys"], &[], None),
    ("usage-plan-sync", &["apigateway:PATCH"], &["usage-plan"], &[], None),
    ("usage-plan-sync", &["apigateway:DELETE"], &["api-key", "usage-plan-key"], &[], None),
    ("usage-plan-sync", &["apigateway:GET"], &["usage-plan-rest-api"], &[], None),
    ("usage-plan-sync", &["sqs:SendMessage"], &["usage-plan-sync-dead-letter-queue"], &[], None),

    ("account-sync", &["sqs:SendMessage"], &["account-sync-dead-letter-queue"], &[], None),
    ("account-sync", &["dynamodb:GetItem"], TABLE, &["USER#"], None),
    ("account-sync", &["dynamodb:UpdateItem"], TABLE, &["USER#"],
        Some(&["user_id", "status", "sso", "pat_beta", "orgs", "revision", "directory_version",
               "member_sync"])),
    ("account-sync", &["dynamodb:PutItem", "dynamodb:DeleteItem"], TABLE, &["ORG#"],
        Some(&["user_id", "role"])),
    ("account-sync", &["dynamodb:PutItem"], TABLE, &["AUDIT#"], Some(AUDIT)),
];

/// Functions that call no AWS API at all.
const NO_GRANTS: [&str; 2] = ["whoami", "settings-page"];

/// A grant, one combination of action, resource and prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    function: String,
    action: String,
    resource: String,
    prefix: String,
    attributes: Option<BTreeSet<String>>,
}

fn expand(rows: &[Row]) -> BTreeSet<Grant> {
    let mut grants = BTreeSet::new();
    for (function, actions, resources, prefixes, attributes) in rows {
        let prefixes: Vec<&str> = if prefixes.is_empty() {
            vec![""]
        } else {
            prefixes.to_vec()
        };
        for action in *actions {
            for resource in *resources {
                for prefix in &prefixes {
                    grants.insert(Grant {
                        function: (*function).into(),
                        action: (*action).into(),
                        resource: (*resource).into(),
                        prefix: (*prefix).into(),
                        attributes: attributes.map(|list| {
                            list.iter()
                                .chain(KEYS.iter())
                                .map(|a| (*a).to_owned())
                                .collect()
                        }),
                    });
                }
            }
        }
    }
    grants
}

/// The binary name of each function resource, and back.
fn binaries(template: &Value) -> BTreeMap<String, String> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, r)| {
            (
                name.as_str().unwrap().to_owned(),
                r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(list) => list.iter().flat_map(strings).collect(),
        Value::String(text) => vec![text.clone()],
        Value::Null => Vec::new(),
        other => vec![serde_norway::to_string(other).unwrap().trim().to_owned()],
    }
}

/// What a statement's resource is, by the template's own names.
fn resource_name(resource: &Value) -> String {
    let text = serde_norway::to_string(resource).unwrap();
    let known = [
        ("index/gsi1", "gsi1"),
        ("index/gsi2", "gsi2"),
        ("index/gsi3", "gsi3"),
        ("TokensTable.StreamArn", "stream"),
        ("TokensTable.Arn", "table"),
        ("PepperKey.Arn", "pepper-key"),
        ("CredentialEventBus.Arn", "bus"),
        ("EventPublisherDeadLetterQueue.Arn", "dead-letter-queue"),
        (
            "AccountSyncDeadLetterQueue.Arn",
            "account-sync-dead-letter-queue",
        ),
        (
            "CacheInvalidatorDeadLetterQueue.Arn",
            "cache-invalidator-dead-letter-queue",
        ),
        (
            "/apis/${HttpApi}/stages/$default/cache/authorizers",
            "http-api-stage-authorizer-cache",
        ),
        (
            "/restapis/${UsagePlanRestApiId}/stages/${UsagePlanStage}/cache/authorizers",
            "rest-api-stage-authorizer-cache",
        ),
        (
            "UsagePlanSyncDeadLetterQueue.Arn",
            "usage-plan-sync-dead-letter-queue",
        ),
        ("::/usageplans/*/keys/*", "usage-plan-key"),
        ("::/usageplans/*/keys", "usage-plan-keys"),
        ("::/usageplans/*", "usage-plan"),
        ("::/usageplans", "usage-plans"),
        ("::/restapis/${UsagePlanRestApiId}", "usage-plan-rest-api"),
        ("::/apikeys/*", "api-key"),
        ("::/apikeys", "api-keys"),
    ];
    known
        .iter()
        .find(|(part, _)| text.contains(part))
        .map_or_else(|| text.trim().to_owned(), |(_, name)| (*name).to_owned())
}

/// Every function's grants in the template, expanded like [`expand`].
fn template_grants() -> BTreeSet<Grant> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let template: Value = serde_norway::from_str(&text).unwrap();
    let mut grants = BTreeSet::new();
    for (resource, binary) in binaries(&template) {
        let policies = &template["Resources"][resource.as_str()]["Properties"]["Policies"];
        let statements = policies
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default());
        for statement in statements {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{resource}");
            let condition = &statement["Condition"];
            let prefixes: Vec<String> =
                strings(&condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                    .into_iter()
                    .map(|p| p.trim_end_matches('*').to_owned())
                    .collect();
            let prefixes = if prefixes.is_empty() {
                vec![String::new()]
            } else {
                prefixes
            };
            let attributes = condition["ForAllValues:StringEquals"]
                .get("dynamodb:Attributes")
                .map(|list| strings(list).into_iter().collect::<BTreeSet<_>>());
            if attributes.is_some() {
                // An attribute-limited write may not read the item back either.
                assert_eq!(
                    strings(&condition["StringEqualsIfExists"]["dynamodb:ReturnValues"]),
                    ["NONE"],
                    "{resource}: dynamodb:Attributes without ReturnValues NONE"
                );
            }
            let resources: Vec<String> = match &statement["Resource"] {
                Value::Sequence(list) => list.iter().map(resource_name).collect(),
                one => vec![resource_name(one)],
            };
            for action in strings(&statement["Action"]) {
                for on in &resources {
                    for prefix in &prefixes {
                        grants.insert(Grant {
                            function: binary.clone(),
                            action: action.clone(),
                            resource: on.clone(),
                            prefix: prefix.clone(),
                            attributes: attributes.clone(),
                        });
                    }
                }
            }
        }
    }
    grants
}

#[test]
fn each_functions_grants_are_exactly_the_table_statement_by_statement() {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let template: Value = serde_norway::from_str(&text).unwrap();
    let listed_functions: BTreeSet<&str> =
        GRANTS.iter().map(|row| row.0).chain(NO_GRANTS).collect();
    let functions = binaries(&template);
    let template_functions: BTreeSet<&str> = functions.values().map(String::as_str).collect();
    assert_eq!(
        template_functions, listed_functions,
        "every function is in the table"
    );
    let granted = template_grants();
    for grant in &granted {
        // Table and index rights are scoped to key prefixes, whatever the table says.
        if ["table", "gsi1", "gsi2", "gsi3"].contains(&grant.resource.as_str()) {
            assert!(
                !grant.prefix.is_empty(),
                "{grant:?}: no dynamodb:LeadingKeys"
            );
        }
    }
    let listed = expand(GRANTS);
    let missing: Vec<_> = listed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&listed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "in the table, not granted: {missing:#?}\ngranted, not in the table: {extra:#?}"
    );
}

fn covers(grant: &Grant, function: &str, access: &Access) -> bool {
    let resource = access.index.as_deref().unwrap_or("table");
    grant.function == function
        && grant.action == access.action
        && grant.resource == resource
        && grant.prefix == access.prefix
        && grant
            .attributes
            .as_ref()
            .is_none_or(|allowed| access.attributes.is_subset(allowed))
}

/// GIVEN a recording proxy in front of each function's DynamoDB; WHEN the
/// walkthrough runs through the whole chain (PATs, keys, org administration,
/// a leak report, the event publisher); THEN each request is granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_each_function_makes_through_the_walkthrough_is_granted() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["iam-walker"]).await;
    let tap = EventTap::create();
    let mut proxies = Vec::new();
    for (function, _) in FUNCTIONS {
        proxies.push((function, FaultProxy::dynamodb().await));
    }
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        function_env: vec![("EVENT_BUS_NAME".into(), tap.bus.clone())],
        one_function_env: proxies
            .iter()
            .map(|(function, proxy)| {
                (
                    (*function).to_owned(),
                    "AWS_ENDPOINT_URL_DYNAMODB".to_owned(),
                    proxy.url.clone(),
                )
            })
            .collect(),
        stream_deliveries: Some(1),
        caching: true,
        ..ChainConfig::default()
    });
    let session_file = chain.logs().join("session");
    let (url, queue) = (chain.url.clone(), tap.queue_url().to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(repo_root().join("infra/local/walkthrough.sh"))
            .current_dir(repo_root())
            .env("EVENTS_QUEUE_URL", queue)
            .env("GATEWAY_URL", url)
            .env("DEV_USER", "iam-walker")
            .env("DEV_ORG", "acme")
            .env("SESSION_FILE", session_file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    beyond_the_walkthrough(&chain).await;

    let granted = expand(GRANTS);
    let mut seen = BTreeSet::new();
    let mut refused = Vec::new();
    for (function, proxy) in &proxies {
        for (target, body) in proxy.take_requests() {
            for access in accesses(&target, &body) {
                if !granted.iter().any(|g| covers(g, function, &access)) {
                    refused.push((function.to_string(), access.clone()));
                }
                seen.insert((function.to_string(), access));
            }
        }
    }
    for (function, access) in &seen {
        eprintln!(
            "seen {function} {} {} {} {:?}",
            access.action,
            access.index.as_deref().unwrap_or("table"),
            access.prefix,
            access.attributes
        );
    }
    assert!(refused.is_empty(), "requests without a grant: {refused:#?}");
    // The walkthrough reached every function that talks to DynamoDB.
    for function in [
        "authorizer",
        "issue-token",
        "revoke-token",
        "leak-response",
        "event-publisher",
        "cache-invalidator",
    ] {
        assert!(seen.iter().any(|(f, _)| f == function), "{function}");
    }
}

/// What the walkthrough does not do: a create with an `Idempotency-Key`
/// and its retry, a token rotating itself, the revocation that walks
/// what it rotated into, and an org's idle window set over its version.
async fn beyond_the_walkthrough(chain: &Chain) {
    let cookie = chain.sign_in("iam-walker").await;
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
        ("idempotency-key", "iam-retry-1"),
    ];
    let body = r#"{"name": "iam-retry", "scopes": ["tokens:read", "tokens:rotate_self"]}"#;
    let first = chain.call("POST", "/v1/tokens", &headers, body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = chain.call("POST", "/v1/tokens", &headers, body).await;
    assert_eq!(
        (again.status, again.json()["id"].clone()),
        (201, first.json()["id"].clone())
    );
    let token = first.json()["token"].as_str().unwrap().to_owned();
    let rotated = chain
        .with_token("POST", "/v1/tokens/self/rotate", &token)
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let revoked = chain
        .call(
            "DELETE",
            &format!("/v1/tokens/{id}"),
            &[("cookie", cookie.as_str())],
            "",
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);

    // An org's idle window, over the version read (If-Match): the write and
    // its condition both name `idle_expiry_days`.
    let read = chain
        .call(
            "GET",
            "/v1/orgs/acme/policy",
            &[("cookie", cookie.as_str())],
            "",
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let tag = read.headers["etag"].to_str().unwrap().to_owned();
    for (body, if_match) in [
        (
            r#"{"pat_access": "allowed", "idle_expiry_days": 90}"#,
            tag.as_str(),
        ),
        (
            r#"{"pat_access": "allowed", "idle_expiry_days": null}"#,
            "*",
        ),
    ] {
        let headers = [
            ("cookie", cookie.as_str()),
            ("content-type", "application/json"),
            ("if-match", if_match),
        ];
        let put = chain
            .call("PUT", "/v1/orgs/acme/policy", &headers, body)
            .await;
        assert_eq!(put.status, 200, "{}", put.body);
    }
    approvals(chain, &cookie).await;
}

/// Org approval: the policy's rule, a PAT's request (the owner's orgs'
/// policies in one read), a denial following a rotation's grace, an
/// approval, and turning approval on over the PATs already there.
async fn approvals(chain: &Chain, cookie: &str) {
    let json = [("cookie", cookie), ("content-type", "application/json")];
    let body =
        r#"{"pat_access": "allowed", "pat_approval": "required", "existing_pats": "pending"}"#;
    let put = chain.call("PUT", "/v1/orgs/acme/policy", &json, body).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let body = r#"{"name": "iam-approval", "scopes": ["tokens:read"]}"#;
    let created = chain.call("POST", "/v1/tokens", &json, body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["org_approvals"][0]["state"], "pending");
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let rotated = chain
        .call(
            "POST",
            &format!("/v1/tokens/{id}/rotate"),
            &json,
            r#"{"grace_seconds": 60}"#,
        )
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    let listed = chain
        .call(
            "GET",
            "/v1/orgs/acme/credentials?approval=pending",
            &[("cookie", cookie)],
            "",
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    // A denial of the old token follows to its successor; an approval is
    // of the successor itself.
    let new_id = rotated.json()["id"].as_str().unwrap().to_owned();
    for (on, body) in [
        (&id, r#"{"decision": "deny", "reason": "not for this org"}"#),
        (&new_id, r#"{"decision": "approve"}"#),
    ] {
        let path = format!("/v1/orgs/acme/credentials/{on}/approval");
        let decided = chain.call("POST", &path, &json, body).await;
        assert_eq!(decided.status, 200, "{}", decided.body);
    }
    // Off, then on again with the PATs there approved: the walk of the
    // members' PATs approves one that waits.
    let body = r#"{"name": "iam-waiting", "scopes": ["tokens:read"]}"#;
    let waiting = chain.call("POST", "/v1/tokens", &json, body).await;
    assert_eq!(waiting.status, 201, "{}", waiting.body);
    assert_eq!(waiting.json()["org_approvals"][0]["state"], "pending");
    let waiting_id = waiting.json()["id"].as_str().unwrap().to_owned();
    for body in [
        r#"{"pat_access": "allowed", "pat_approval": "not_required"}"#,
        r#"{"pat_access": "allowed", "pat_approval": "required"}"#,
    ] {
        let put = chain.call("PUT", "/v1/orgs/acme/policy", &json, body).await;
        assert_eq!(put.status, 200, "{}", put.body);
    }
    let path = format!("/v1/tokens/{waiting_id}");
    let walked = chain.call("GET", &path, &[("cookie", cookie)], "").await;
    assert_eq!(walked.status, 200, "{}", walked.body);
    assert_eq!(
        walked.json()["org_approvals"][0]["state"],
        "approved",
        "{}",
        walked.body
    );
}
