//! What the management API tests share: the policy, the API over the
//! in-memory store, and hand-built API Gateway HTTP API events.

#![allow(dead_code)] // each test binary uses its own part

use std::sync::Arc;
use std::time::Duration;

use cog_tokens::management::{IssuancePolicy, TokenManager};
use cog_tokens::memory::{FixedPeppers, MemoryStore};
use cog_tokens::records::{Account, AuditAction, OrgMembership, PrincipalStatus, Timestamp};
use cog_tokens::store::pepper::PepperKeeper;
use cog_tokens::store::PrincipalStore;
use management::{handle_request, Function};
use serde_json::{json, Value};

pub fn policy() -> IssuancePolicy {
    IssuancePolicy {
        scope_catalog: vec![
            "tokens:read".into(),
            "sessions:read".into(),
            "sessions:write".into(),
            "tokens:rotate_self".into(),
        ],
        default_expiry_days: 30,
        max_expiry_days: 366,
        allow_non_expiring: false,
        max_active_tokens: 3,
        max_rotation_grace_seconds: 600,
        role_catalog: vec!["admin".into(), "deployer".into(), "viewer".into()],
        max_service_users_per_org: 100,
        max_keys_per_service_user: 10,
        idle_expiry_days: Some(365),
    }
}

pub struct Api {
    pub store: Arc<MemoryStore>,
    pub manager: TokenManager<MemoryStore, FixedPeppers>,
    pub now: Timestamp,
}

pub async fn api_with(policy: IssuancePolicy) -> Api {
    let store = Arc::new(MemoryStore::new());
    for (user, sso, beta) in [
        ("alice", false, true),
        ("bob", false, true),
        ("sso-user", true, true),
        ("no-beta", false, false),
    ] {
        store
            .put_account(
                &Account {
                    user_id: user.into(),
                    status: PrincipalStatus::Active,
                    sso,
                    pat_beta: beta,
                    orgs: vec![OrgMembership {
                        org_id: "acme".into(),
                        role: "member".into(),
                    }],
                    tokens_valid_after: None,
                },
                &audit(AuditAction::AccountPut),
            )
            .await
            .unwrap();
    }
    let peppers = PepperKeeper::load(FixedPeppers::new(&[1]), Duration::ZERO)
        .await
        .unwrap();
    Api {
        manager: TokenManager::new(Arc::clone(&store), peppers, policy),
        store,
        now: Timestamp::now(),
    }
}

pub async fn api() -> Api {
    api_with(policy()).await
}

/// An HTTP API (payload 2.0) event as API Gateway sends it behind the JWT authorizer.
pub fn event(method: &str, path: &str, user: Option<&str>, body: Option<&str>) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query,
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "t"},
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "t", "timeEpoch": 0
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(user) = user {
        event["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": {"sub": user}, "scopes": null}});
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

impl Api {
    pub async fn send_event(
        &self,
        function: Function,
        event: Value,
    ) -> (u16, Value, lambda_http::http::HeaderMap) {
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let response = handle_request(&self.manager, function, request, self.now).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.body() {
            lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
            lambda_http::Body::Empty => Value::Null,
            other => panic!("unexpected body {other:?}"),
        };
        (status, body, headers)
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let function = if method == "DELETE" {
            Function::Revocation
        } else {
            Function::Issuance
        };
        let body = body.map(|b| b.to_string());
        let (status, body, _) = self
            .send_event(function, event(method, path, user, body.as_deref()))
            .await;
        (status, body)
    }

    pub async fn create(&self, user: &str, name: &str) -> Value {
        let (status, body) = self
            .send(
                "POST",
                "/v1/tokens",
                Some(user),
                Some(json!({"name": name, "scopes": ["tokens:read"]})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

pub fn assert_problem(response: &(u16, Value), status: u16, code: &str) {
    assert_eq!(response.0, status, "{}", response.1);
    assert_eq!(response.1["code"], code, "{}", response.1);
    assert_eq!(response.1["status"], status);
    assert!(
        response.1["type"].is_string()
            && response.1["title"].is_string()
            && response.1["detail"].is_string()
    );
}

pub fn audit(action: AuditAction) -> cog_tokens::records::AuditEvent {
    cog_tokens::records::AuditEvent::system("test", action, Timestamp::now())
}

/// An org admin's request with extra headers, to the function that serves it.
pub async fn admin_call(
    api: &Api,
    method: &str,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value, lambda_http::http::HeaderMap) {
    let body = body.map(|b| b.to_string());
    let mut e = event(method, path, Some("root"), body.as_deref());
    for (name, value) in headers {
        e["headers"][*name] = json!(value);
    }
    let function = if matches!(method, "PATCH" | "PUT" | "DELETE") {
        Function::Revocation
    } else {
        Function::Issuance
    };
    api.send_event(function, e).await
}

/// The API with `root`, an admin of acme (no PATs: not in the beta).
pub async fn with_admin() -> Api {
    let api = api().await;
    let admin = Account {
        user_id: "root".into(),
        status: PrincipalStatus::Active,
        sso: false,
        pat_beta: false,
        orgs: vec![OrgMembership {
            org_id: "acme".into(),
            role: "admin".into(),
        }],
        tokens_valid_after: None,
    };
    api.store
        .put_account(&admin, &audit(AuditAction::AccountPut))
        .await
        .unwrap();
    api
}

/// An event for one of a token's own routes (`/v1/tokens/self...`) as the
/// token authorizer passes it on: its context for `token_id`, acting as
/// `principal`.
pub fn token_event(method: &str, path: &str, principal: (&str, &str), token_id: &str) -> Value {
    let mut e = event(method, path, None, None);
    let auth_method = if principal.0 == "user" {
        "pat"
    } else {
        "service_key"
    };
    e["requestContext"]["authorizer"] = json!({"lambda": {
        "principal_type": principal.0, "principal_id": principal.1, "token_id": token_id,
        "auth_method": auth_method, "scopes": "tokens:read", "orgs": "acme:member"}});
    e
}

/// A deployer service user `ci` of acme, made by `root` (see [`with_admin`]).
pub async fn ci_service_user(api: &Api) -> Value {
    let body = Some(json!({"name": "ci", "role": "deployer"}));
    let (status, su, _) = admin_call(api, "POST", "/v1/orgs/acme/service-users", body, &[]).await;
    assert_eq!(status, 201, "{su}");
    su
}
