//! The authorizer handler with hand-built events and an in-memory store:
//! every event shape, every response format, every denial reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

mod common;
use common::http_v2;
use std::sync::Arc;
use std::time::Duration;

use authorizer::config::HttpResponseFormat;
use authorizer::handler::{handle_json_event, AuthorizerState};
use authorizer::response::{AuthorizerFailure, AuthorizerResponse};
use cog_tokens::authorize::routes::RouteRules;
use cog_tokens::authorize::{Authorizer, AuthorizerSettings};
use cog_tokens::memory::{FixedPeppers, MemoryStore};
use cog_tokens::records::{
    Account, AuditAction, AuditEvent, OrgMembership, Owner, PrincipalStatus, Revocation,
    ServiceUser, Timestamp, TokenRecord,
};
use cog_tokens::store::pepper::PepperKeeper;
use cog_tokens::store::{PrincipalStore, TokenStore};
use cog_tokens::{PepperVersion, PlainToken};
use serde_json::{json, Value};

const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/v1/whoami";
const PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod";

fn rest_token(header: &str) -> String {
    json!({"type": "TOKEN", "authorizationToken": header, "methodArn": ARN}).to_string()
}

fn rest_token_for(header: &str, method: &str, path: &str) -> String {
    json!({"type": "TOKEN", "authorizationToken": header, "methodArn": format!("{PREFIX}/{method}{path}")}).to_string()
}

fn rest_request(header: Option<&str>) -> String {
    let mut headers = json!({"Host": "example.com"});
    let mut multi = json!({"Host": ["example.com"]});
    if let Some(h) = header {
        headers["Authorization"] = json!(h);
        multi["Authorization"] = json!([h]);
    }
    json!({
        "type": "REQUEST", "methodArn": ARN, "resource": "/v1/whoami", "path": "/v1/whoami",
        "httpMethod": "GET", "headers": headers, "multiValueHeaders": multi,
        "queryStringParameters": {}, "multiValueQueryStringParameters": {},
        "pathParameters": {}, "stageVariables": {},
        "requestContext": {"path": "/prod/v1/whoami", "accountId": "123456789012", "stage": "prod",
                           "requestId": "r", "resourcePath": "/v1/whoami", "httpMethod": "GET", "apiId": "abcdef1234"}
    })
    .to_string()
}

fn bearer(token: &PlainToken) -> String {
    format!("Bearer {}", token.expose_secret())
}

struct Fixture {
    store: Arc<MemoryStore>,
    state: AuthorizerState<MemoryStore, FixedPeppers>,
    now: Timestamp,
}

const RULES: &str = r#"[
    {"method": "GET", "path": "/v1/whoami", "scope": "tokens:read"},
    {"method": "POST", "path": "/v1/orgs/*/sessions", "scope": "sessions:write"}
]"#;

async fn fixture(format: HttpResponseFormat, rules: &str, peppers: FixedPeppers) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let keeper = PepperKeeper::load(peppers, Duration::ZERO).await.unwrap();
    let settings = AuthorizerSettings {
        route_rules: RouteRules::from_json(rules).unwrap(),
        last_used_interval: Duration::from_secs(300),
        org_policy_ttl: Duration::from_secs(30),
        caching: Default::default(),
    };
    Fixture {
        state: AuthorizerState {
            authorizer: Authorizer::new(Arc::clone(&store), keeper, settings),
            http_format: format,
            usage_plans: Default::default(),
        },
        store,
        now: Timestamp::now(),
    }
}

impl Fixture {
    async fn user(&self, id: &str, edit: impl FnOnce(&mut Account)) {
        let mut account = Account {
            user_id: id.into(),
            status: PrincipalStatus::Active,
            sso: false,
            pat_beta: true,
            orgs: vec![
                OrgMembership {
                    org_id: "acme".into(),
                    role: "admin".into(),
                },
                OrgMembership {
                    org_id: "glo,bex".into(),
                    role: "view:er".into(),
                },
            ],
            tokens_valid_after: None,
        };
        edit(&mut account);
        self.store
            .put_account(&account, &account.audit_put("test", Timestamp::now()))
            .await
            .unwrap();
    }

    async fn token(
        &self,
        owner: Owner,
        version: u32,
        edit: impl FnOnce(&mut TokenRecord),
    ) -> PlainToken {
        let token = PlainToken::generate().unwrap();
        let pepper = FixedPeppers::pepper(version);
        let mut record = TokenRecord {
            id: token.id(),
            owner: owner.clone(),
            name: format!("t-{}", token.id()),
            scopes: vec!["tokens:read".into()],
            hash: pepper.hash(&token),
            pepper_version: PepperVersion(version),
            created_at: self.now,
            expires_at: Some(self.now.plus_seconds(3600)),
            revoked: None,
            last_used_at: None,
            last_use: Default::default(),
            org_decisions: Default::default(),
            allowed_ips: Default::default(),
            org_limit: None,
            family: None,
            rate_limit: None,
            usage_key_placed: false,
        };
        edit(&mut record);
        let audit = AuditEvent::new("test", AuditAction::TokenCreate, owner, self.now);
        self.store.create_token(&record, 50, &audit).await.unwrap();
        token
    }

    async fn call(&self, event: &str) -> Result<Value, AuthorizerFailure> {
        handle_json_event(&self.state, event, self.now)
            .await
            .map(|response| serde_json::to_value(response).unwrap())
    }
}

async fn default_fixture() -> Fixture {
    fixture(HttpResponseFormat::Simple, RULES, FixedPeppers::new(&[1])).await
}

fn statements(response: &Value) -> Vec<(String, Vec<String>)> {
    response["policyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["Action"], json!(["execute-api:Invoke"]));
            (
                s["Effect"].as_str().unwrap().to_owned(),
                serde_json::from_value(s["Resource"].clone()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn given_a_valid_pat_then_every_shape_allows_with_the_users_context() {
    let f = default_fixture().await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;
    let expected_context = json!({
        "principal_type": "user", "principal_id": "alice", "token_id": token.id().to_string(),
        "auth_method": "pat", "scopes": "tokens:read", "orgs": "acme:admin,glo%2Cbex:view%3Aer"
    });

    for event in [
        rest_token(&bearer(&token)),
        rest_request(Some(&bearer(&token))),
    ] {
        let response = f.call(&event).await.unwrap();
        assert_eq!(response["principalId"], "user:alice");
        assert_eq!(response["context"], expected_context);
        assert_eq!(
            statements(&response),
            vec![
                ("Allow".into(), vec![format!("{PREFIX}/*")]),
                (
                    "Deny".into(),
                    vec![format!("{PREFIX}/POST/v1/orgs/*/sessions")]
                ),
            ]
        );
    }
    let simple = f
        .call(&http_v2(Some(&bearer(&token)), "GET", "/v1/whoami"))
        .await
        .unwrap();
    assert_eq!(
        simple,
        json!({"isAuthorized": true, "context": expected_context})
    );
}

#[tokio::test]
async fn given_http_iam_format_then_the_answer_is_a_policy_on_the_route_arn() {
    let f = fixture(HttpResponseFormat::Iam, "[]", FixedPeppers::new(&[1])).await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;
    let response = f
        .call(&http_v2(Some(&bearer(&token)), "GET", "/v1/whoami"))
        .await
        .unwrap();
    assert_eq!(
        statements(&response),
        vec![(
            "Allow".into(),
            vec!["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/$default/*".to_owned()]
        )]
    );
    assert_eq!(response["context"]["auth_method"], "pat");
    // In IAM format a 401 is the Unauthorized error, as for REST.
    let denied = f
        .call(&http_v2(Some("Bearer nope"), "GET", "/v1/whoami"))
        .await;
    assert!(matches!(denied, Err(AuthorizerFailure::Unauthorized)));
}

#[tokio::test]
async fn given_a_valid_service_key_then_it_acts_as_the_service_user_in_its_one_org() {
    let f = default_fixture().await;
    let user = ServiceUser {
        id: "svc_ci".into(),
        name: "CI".into(),
        org_id: "acme".into(),
        role: "deployer".into(),
        status: PrincipalStatus::Active,
        created_at: f.now,
        tokens_valid_after: None,
    };
    let audit = AuditEvent::new(
        "operator",
        AuditAction::ServiceUserCreate,
        Owner::service_user("svc_ci"),
        f.now,
    );
    f.store
        .create_service_user(&user, 100, &audit)
        .await
        .unwrap();
    let token = f.token(Owner::service_user("svc_ci"), 1, |_| {}).await;

    let response = f.call(&rest_token(&bearer(&token))).await.unwrap();
    assert_eq!(response["principalId"], "service_user:svc_ci");
    assert_eq!(response["context"]["principal_type"], "service_user");
    assert_eq!(response["context"]["auth_method"], "service_key");
    assert_eq!(response["context"]["orgs"], "acme:deployer");
}

/// Every refusal, in every shape, gets the one same answer.
#[tokio::test]
async fn given_any_bad_credential_then_every_shape_answers_the_same_401() {
    let f = fixture(HttpResponseFormat::Simple, RULES, FixedPeppers::new(&[1])).await;
    f.user("alice", |_| {}).await;
    f.user("suspended", |a| a.status = PrincipalStatus::Suspended)
        .await;
    f.user("no-beta", |a| a.pat_beta = false).await;
    f.user("sso", |a| a.sso = true).await;
    let suspended_service = ServiceUser {
        id: "svc_off".into(),
        name: "off".into(),
        org_id: "acme".into(),
        role: "deployer".into(),
        status: PrincipalStatus::Suspended,
        created_at: f.now,
        tokens_valid_after: None,
    };
    let audit = AuditEvent::new(
        "operator",
        AuditAction::ServiceUserCreate,
        Owner::service_user("svc_off"),
        f.now,
    );
    f.store
        .create_service_user(&suspended_service, 100, &audit)
        .await
        .unwrap();

    let valid = f.token(Owner::user("alice"), 1, |_| {}).await;
    let revoked = f
        .token(Owner::user("alice"), 1, |r| {
            r.revoked = Some(Revocation {
                at: Timestamp(f.now.0 - 1),
                by: "user:alice".into(),
                reason: "x".into(),
            })
        })
        .await;
    let expired = f
        .token(Owner::user("alice"), 1, |r| r.expires_at = Some(f.now))
        .await;
    let unknown_pepper = f.token(Owner::user("alice"), 7, |_| {}).await;
    let mut cases: Vec<(&str, String)> = vec![
        ("malformed", "Bearer cog_nope".into()),
        (
            "bad checksum",
            format!("Bearer {}", with_last_char_changed(&valid)),
        ),
        ("other scheme", format!("Basic {}", valid.expose_secret())),
        (
            "two tokens",
            format!("{} {}", bearer(&valid), valid.expose_secret()),
        ),
        ("unknown id", bearer(&PlainToken::generate().unwrap())),
        (
            "wrong secret",
            format!("Bearer {}", same_id_other_secret(&valid)),
        ),
        ("revoked", bearer(&revoked)),
        ("expired", bearer(&expired)),
        ("unknown pepper version", bearer(&unknown_pepper)),
    ];
    for (owner, label) in [
        (Owner::user("suspended"), "suspended user"),
        (Owner::user("no-beta"), "beta flag off"),
        (Owner::user("sso"), "SSO account"),
        (Owner::user("ghost"), "account missing"),
        (Owner::service_user("svc_off"), "suspended service user"),
    ] {
        cases.push((label, bearer(&f.token(owner, 1, |_| {}).await)));
    }

    for (label, header) in &cases {
        for event in [rest_token(header), rest_request(Some(header))] {
            assert!(
                matches!(f.call(&event).await, Err(AuthorizerFailure::Unauthorized)),
                "{label}"
            );
        }
        let simple = f
            .call(&http_v2(Some(header), "GET", "/v1/whoami"))
            .await
            .unwrap();
        assert_eq!(
            simple,
            json!({"isAuthorized": false, "context": null}),
            "{label}"
        );
    }
    // No header at all.
    assert!(matches!(
        f.call(&rest_request(None)).await,
        Err(AuthorizerFailure::Unauthorized)
    ));
    assert_eq!(
        f.call(&http_v2(None, "GET", "/v1/whoami")).await.unwrap(),
        json!({"isAuthorized": false, "context": null})
    );
    // And the valid one still passes, so the cases above failed for their own reason.
    assert!(f.call(&rest_token(&bearer(&valid))).await.is_ok());
}

fn with_last_char_changed(token: &PlainToken) -> String {
    let text = token.expose_secret();
    let last = if text.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &text[..57])
}

/// The same ID with a different secret and a correct checksum.
fn same_id_other_secret(token: &PlainToken) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let text = token.expose_secret();
    let flipped = if &text[20..21] == "a" { "b" } else { "a" };
    let body = format!("{}{}{}", &text[..20], flipped, &text[21..52]);
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    let other = format!("{body}{}", std::str::from_utf8(&digits).unwrap());
    assert_eq!(PlainToken::parse(&other).unwrap().id(), token.id());
    other
}

#[tokio::test]
async fn given_two_authorization_headers_then_401() {
    let f = default_fixture().await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;
    let mut event: Value = serde_json::from_str(&rest_request(Some(&bearer(&token)))).unwrap();
    event["multiValueHeaders"]["Authorization"] = json!([bearer(&token), bearer(&token)]);
    assert!(matches!(
        f.call(&event.to_string()).await,
        Err(AuthorizerFailure::Unauthorized)
    ));
}

#[tokio::test]
async fn given_a_missing_scope_then_403_in_each_format() {
    let f = default_fixture().await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;

    // HTTP simple: the route needs sessions:write, the token lacks it.
    let simple = f
        .call(&http_v2(
            Some(&bearer(&token)),
            "POST",
            "/v1/orgs/acme/sessions",
        ))
        .await
        .unwrap();
    assert_eq!(simple, json!({"isAuthorized": false, "context": null}));
    // A route without rules is allowed.
    let open = f
        .call(&http_v2(Some(&bearer(&token)), "GET", "/v1/elsewhere"))
        .await
        .unwrap();
    assert_eq!(open["isAuthorized"], true);
    // REST: a policy whose explicit Deny covers the route (API Gateway answers 403).
    let response = f
        .call(&rest_token_for(
            &bearer(&token),
            "POST",
            "/v1/orgs/acme/sessions",
        ))
        .await
        .unwrap();
    let denied = statements(&response)
        .into_iter()
        .find(|(effect, _)| effect == "Deny")
        .unwrap()
        .1;
    // The rule's resource for the cache, and the refused request itself.
    assert_eq!(
        denied,
        vec![
            format!("{PREFIX}/POST/v1/orgs/*/sessions"),
            format!("{PREFIX}/POST/v1/orgs/acme/sessions")
        ]
    );

    // A token with every scope gets no Deny: the cached policy is right for all routes.
    let full = f
        .token(Owner::user("alice"), 1, |r| {
            r.scopes = vec!["tokens:read".into(), "sessions:write".into()]
        })
        .await;
    let response = f.call(&rest_token(&bearer(&full))).await.unwrap();
    assert_eq!(
        statements(&response),
        vec![("Allow".into(), vec![format!("{PREFIX}/*")])]
    );
}

#[tokio::test]
async fn given_a_membership_change_then_the_next_request_sees_it() {
    let f = default_fixture().await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;
    let before = f.call(&rest_token(&bearer(&token))).await.unwrap();
    assert_eq!(before["context"]["orgs"], "acme:admin,glo%2Cbex:view%3Aer");

    f.user("alice", |a| {
        a.orgs = vec![OrgMembership {
            org_id: "initech".into(),
            role: "member".into(),
        }]
    })
    .await;
    let after = f.call(&rest_token(&bearer(&token))).await.unwrap();
    assert_eq!(after["context"]["orgs"], "initech:member");

    f.user("alice", |a| a.pat_beta = false).await;
    assert!(matches!(
        f.call(&rest_token(&bearer(&token))).await,
        Err(AuthorizerFailure::Unauthorized)
    ));
}

#[tokio::test]
async fn given_a_storage_fault_then_the_answer_is_an_error_never_an_allow() {
    let f = default_fixture().await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;
    f.store.fail_all(true);
    for event in [
        rest_token(&bearer(&token)),
        rest_request(Some(&bearer(&token))),
        http_v2(Some(&bearer(&token)), "GET", "/v1/whoami"),
    ] {
        assert!(matches!(
            f.call(&event).await,
            Err(AuthorizerFailure::Fault)
        ));
    }
}

#[tokio::test]
async fn given_an_unreadable_event_then_the_answer_is_an_error() {
    let f = default_fixture().await;
    for event in [
        "not json".to_owned(),
        json!({"type": "SOMETHING"}).to_string(),
        json!({"version": "3.0"}).to_string(),
        json!({"type": "TOKEN", "authorizationToken": 5}).to_string(),
    ] {
        assert!(
            matches!(f.call(&event).await, Err(AuthorizerFailure::Fault)),
            "{event}"
        );
    }
    // A REST event without the method ARN cannot get a correct policy.
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;
    let event = json!({"type": "TOKEN", "authorizationToken": bearer(&token)}).to_string();
    assert!(matches!(
        f.call(&event).await,
        Err(AuthorizerFailure::Fault)
    ));
}

#[tokio::test]
async fn last_used_is_recorded_and_its_failure_never_denies() {
    let f = default_fixture().await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;

    f.call(&rest_token(&bearer(&token))).await.unwrap();
    f.state.authorizer.finish_background_writes().await;
    let record = f.store.get_token(&token.id()).await.unwrap().unwrap();
    assert_eq!(record.last_used_at, Some(f.now));

    let other = f.token(Owner::user("alice"), 1, |_| {}).await;
    f.store.fail_side_writes(true);
    assert!(f.call(&rest_token(&bearer(&other))).await.is_ok());
    f.state.authorizer.finish_background_writes().await;
    assert_eq!(
        f.store
            .get_token(&other.id())
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        None
    );
}

#[tokio::test]
async fn given_a_token_under_an_old_pepper_then_it_is_rehashed_under_the_current_one() {
    let peppers = FixedPeppers::new(&[1, 2]);
    let f = fixture(HttpResponseFormat::Simple, "[]", peppers).await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;

    f.call(&rest_token(&bearer(&token))).await.unwrap();
    f.state.authorizer.finish_background_writes().await;

    let record = f.store.get_token(&token.id()).await.unwrap().unwrap();
    assert_eq!(record.pepper_version, PepperVersion(2));
    assert!(FixedPeppers::pepper(2).verify(&token, &record.hash));
    // And it still authorizes afterwards.
    assert!(f.call(&rest_token(&bearer(&token))).await.is_ok());
}

#[tokio::test]
async fn given_a_version_added_after_cold_start_then_one_reload_finds_it() {
    let peppers = FixedPeppers::new(&[1]);
    let f = fixture(HttpResponseFormat::Simple, "[]", peppers.clone()).await;
    f.user("alice", |_| {}).await;
    let rotated = f.token(Owner::user("alice"), 2, |_| {}).await;
    let never = f.token(Owner::user("alice"), 3, |_| {}).await;

    peppers.add(2);
    assert!(f.call(&rest_token(&bearer(&rotated))).await.is_ok());
    // Unknown to the source too: still denied after the reload.
    assert!(matches!(
        f.call(&rest_token(&bearer(&never))).await,
        Err(AuthorizerFailure::Unauthorized)
    ));
}

#[tokio::test]
async fn responses_serialize_without_the_token() {
    let f = default_fixture().await;
    f.user("alice", |_| {}).await;
    let token = f.token(Owner::user("alice"), 1, |_| {}).await;
    for event in [
        rest_token(&bearer(&token)),
        http_v2(Some(&bearer(&token)), "GET", "/v1/whoami"),
    ] {
        let response: AuthorizerResponse =
            handle_json_event(&f.state, &event, f.now).await.unwrap();
        let text = serde_json::to_string(&response).unwrap();
        assert!(!text.contains(&token.expose_secret()[20..52]));
    }
}

/// A refusal about the caller (its source address) must not be cached as
/// an Allow for the stage's other routes: the whole stage is denied.
#[tokio::test]
async fn given_an_ip_refusal_then_every_iam_answer_denies_the_whole_stage() {
    let f = fixture(HttpResponseFormat::Iam, RULES, FixedPeppers::new(&[1])).await;
    f.user("alice", |_| {}).await;
    let token = f
        .token(Owner::user("alice"), 1, |r| {
            r.allowed_ips = cog_tokens::records::IpAllowlist::parse(&["198.51.100.0/24"]).unwrap();
        })
        .await;
    let header = bearer(&token);
    let mut rest_request = serde_json::from_str::<Value>(&rest_request(Some(&header))).unwrap();
    rest_request["requestContext"]["identity"] = json!({"sourceIp": "203.0.113.7"});
    let http_prefix = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/$default";
    let cases = [
        // REST TOKEN: no source at all (its cache key is the token alone).
        ("REST TOKEN", rest_token(&header), PREFIX),
        ("REST REQUEST", rest_request.to_string(), PREFIX),
        (
            "HTTP v2 IAM",
            http_v2(Some(&header), "GET", "/v1/whoami"),
            http_prefix,
        ),
    ];
    for (shape, event, prefix) in cases {
        let response = f.call(&event).await.unwrap();
        assert_eq!(
            statements(&response),
            vec![("Deny".into(), vec![format!("{prefix}/*")])],
            "{shape}"
        );
    }
    // From an allowed address the same token is allowed on the whole stage.
    rest_request["requestContext"]["identity"] = json!({"sourceIp": "198.51.100.20"});
    // Its policy keeps only the route Deny of the scope it lacks.
    let allowed = f.call(&rest_request.to_string()).await.unwrap();
    assert_eq!(
        statements(&allowed),
        vec![
            ("Allow".into(), vec![format!("{PREFIX}/*")]),
            (
                "Deny".into(),
                vec![format!("{PREFIX}/POST/v1/orgs/*/sessions")]
            )
        ]
    );
}
