//! The management routes with hand-built API Gateway HTTP API events and the
//! in-memory store: every rule, every error code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_tokens::management::IssuancePolicy;
use cog_tokens::memory::FixedPeppers;
use cog_tokens::records::{Account, AuditAction, OrgMembership, PrincipalStatus, Timestamp};
use cog_tokens::store::{AuditLog, PrincipalStore, TokenStore};
use cog_tokens::PlainToken;
use management::body::MAX_BODY_BYTES;
use management::Function;
use serde_json::{json, Value};

mod common;
use common::*;

#[tokio::test]
async fn create_returns_the_token_once_with_no_store_and_an_audit_event() {
    let api = api().await;
    let (status, body, headers) = api
        .send_event(
            Function::Issuance,
            event("POST", "/v1/tokens", Some("alice"), Some(r#"{"name": " laptop ", "scopes": ["tokens:read", "sessions:read", "tokens:read"]}"#)),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    let token = PlainToken::parse(body["token"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], token.id().as_str());
    assert_eq!(body["name"], "laptop");
    assert_eq!(body["scopes"], json!(["tokens:read", "sessions:read"]));
    assert_eq!(body["status"], "active");
    assert_eq!(body["hint"], token.id().display_hint());
    // Default lifetime: 30 days.
    let record = api.store.get_token(&token.id()).await.unwrap().unwrap();
    assert_eq!(record.expires_at, Some(api.now.plus_seconds(30 * 86_400)));
    assert!(FixedPeppers::pepper(1).verify(&token, &record.hash));
    let events = api
        .store
        .audit_events(Some(&record.owner), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].action.as_str(), events[0].actor.as_str()),
        ("token.create", "user:alice")
    );

    // Reading it back never shows the token again.
    let (status, read) = api
        .send(
            "GET",
            &format!("/v1/tokens/{}", token.id()),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(read.get("token").is_none());
    assert!(!read.to_string().contains(&token.expose_secret()[20..52]));
}

#[tokio::test]
async fn create_enforces_account_rules() {
    let api = api().await;
    let body = json!({"name": "n", "scopes": ["tokens:read"]});
    assert_problem(
        &api.send("POST", "/v1/tokens", Some("sso-user"), Some(body.clone()))
            .await,
        403,
        "pat_unavailable_for_sso",
    );
    assert_problem(
        &api.send("POST", "/v1/tokens", Some("no-beta"), Some(body.clone()))
            .await,
        403,
        "pat_beta_not_enabled",
    );
    assert_problem(
        &api.send("POST", "/v1/tokens", Some("ghost"), Some(body.clone()))
            .await,
        403,
        "account_not_found",
    );
    api.store
        .put_account(
            &Account {
                user_id: "suspended".into(),
                status: PrincipalStatus::Suspended,
                sso: false,
                pat_beta: true,
                orgs: vec![],
                tokens_valid_after: None,
            },
            &audit(AuditAction::AccountPut),
        )
        .await
        .unwrap();
    assert_problem(
        &api.send("POST", "/v1/tokens", Some("suspended"), Some(body))
            .await,
        403,
        "account_inactive",
    );
}

#[tokio::test]
async fn the_account_says_what_the_settings_page_may_offer() {
    let api = api().await;
    let (status, alice) = api.send("GET", "/v1/account", Some("alice"), None).await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["user_id"], "alice");
    assert_eq!(
        alice["pats"],
        json!({"available": true, "code": null, "detail": null})
    );
    assert_eq!(
        alice["orgs"],
        json!([{"org": "acme", "role": "member", "admin": false}])
    );
    assert_eq!(
        alice["issuance"]["scopes"],
        json!([
            "tokens:read",
            "sessions:read",
            "sessions:write",
            "tokens:rotate_self"
        ])
    );
    assert_eq!(alice["issuance"]["max_rotation_grace_seconds"], 600);
    assert_eq!(alice["issuance"]["max_allowed_ips"], 20);

    // Each refusal carries the code a create would answer.
    for (user, code) in [
        ("sso-user", "pat_unavailable_for_sso"),
        ("no-beta", "pat_beta_not_enabled"),
    ] {
        let (status, account) = api.send("GET", "/v1/account", Some(user), None).await;
        assert_eq!(status, 200);
        assert_eq!(account["pats"]["available"], false);
        assert_eq!(account["pats"]["code"], code);
        let create = api
            .send(
                "POST",
                "/v1/tokens",
                Some(user),
                Some(json!({"name": "n", "scopes": []})),
            )
            .await;
        assert_problem(&create, 403, code);
        assert_eq!(account["pats"]["detail"], create.1["detail"]);
    }
    assert_problem(
        &api.send("GET", "/v1/account", Some("ghost"), None).await,
        403,
        "account_not_found",
    );
    assert_eq!(api.send("GET", "/v1/account", None, None).await.0, 401);
}

#[tokio::test]
async fn create_validates_each_field() {
    let api = api().await;
    let long = "x".repeat(101);
    for (body, code, field) in [
        (
            json!({"name": "", "scopes": ["tokens:read"]}),
            "invalid_name",
            "name",
        ),
        (
            json!({"name": "   ", "scopes": ["tokens:read"]}),
            "invalid_name",
            "name",
        ),
        (
            json!({"name": long, "scopes": ["tokens:read"]}),
            "invalid_name",
            "name",
        ),
        (
            json!({"name": "a\u{7}b", "scopes": ["tokens:read"]}),
            "invalid_name",
            "name",
        ),
        (
            json!({"name": "n", "scopes": []}),
            "invalid_scopes",
            "scopes",
        ),
        (
            json!({"name": "n", "scopes": ["admin:everything"]}),
            "unknown_scope",
            "scopes",
        ),
        (
            json!({"name": "n", "scopes": ["tokens:read"], "expires_in_days": 0}),
            "invalid_expiry",
            "expires_in_days",
        ),
        (
            json!({"name": "n", "scopes": ["tokens:read"], "expires_in_days": 367}),
            "invalid_expiry",
            "expires_in_days",
        ),
        (
            json!({"name": "n", "scopes": ["tokens:read"], "expires_in_days": null}),
            "non_expiring_not_allowed",
            "expires_in_days",
        ),
    ] {
        let response = api
            .send("POST", "/v1/tokens", Some("alice"), Some(body.clone()))
            .await;
        assert_problem(&response, 400, code);
        assert_eq!(response.1["field"], field, "{body}");
    }
    // 100 characters (not bytes) is fine, and 366 days.
    let name: String = "é".repeat(100);
    let (status, body) = api
        .send(
            "POST",
            "/v1/tokens",
            Some("alice"),
            Some(json!({"name": name, "scopes": ["tokens:read"], "expires_in_days": 366})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Nothing was stored by the refused requests.
    assert_eq!(
        api.store
            .active_token_count(&cog_tokens::records::Owner::user("alice"))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn non_expiring_tokens_only_where_configured() {
    let api = api_with(IssuancePolicy {
        allow_non_expiring: true,
        ..policy()
    })
    .await;
    let (status, body) = api
        .send(
            "POST",
            "/v1/tokens",
            Some("alice"),
            Some(json!({"name": "n", "scopes": ["tokens:read"], "expires_in_days": null})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_at"], Value::Null);
}

#[tokio::test]
async fn bad_bodies_get_clear_4xx_answers() {
    let api = api().await;
    let send_raw = |body: String, content_type: &str| {
        let mut e = event("POST", "/v1/tokens", Some("alice"), Some(&body));
        e["headers"]["content-type"] = json!(content_type);
        e
    };
    let cases = [
        (
            send_raw("{not json".into(), "application/json"),
            400,
            "invalid_json",
        ),
        (
            send_raw(
                r#"{"name": "n", "scopes": ["tokens:read"], "admin": true}"#.into(),
                "application/json",
            ),
            400,
            "invalid_body",
        ),
        (
            send_raw(
                r#"{"name": 5, "scopes": ["tokens:read"]}"#.into(),
                "application/json",
            ),
            400,
            "invalid_body",
        ),
        (
            send_raw(
                r#"{"name": "n", "scopes": ["tokens:read"]}"#.into(),
                "text/plain",
            ),
            415,
            "unsupported_media_type",
        ),
        (
            send_raw(
                format!(
                    r#"{{"name": "{}", "scopes": []}}"#,
                    "a".repeat(MAX_BODY_BYTES)
                ),
                "application/json",
            ),
            413,
            "body_too_large",
        ),
        (
            send_raw(String::new(), "application/json"),
            400,
            "body_required",
        ),
    ];
    for (event, status, code) in cases {
        let (s, body, headers) = api.send_event(Function::Issuance, event).await;
        assert_problem(&(s, body), status, code);
        assert_eq!(headers["content-type"], "application/problem+json");
    }
    // application/json with a charset is JSON.
    let (s, body, _) = api
        .send_event(
            Function::Issuance,
            send_raw(
                r#"{"name": "n", "scopes": ["tokens:read"]}"#.into(),
                "application/json; charset=utf-8",
            ),
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

#[tokio::test]
async fn identity_comes_from_the_jwt_and_token_sessions_are_refused() {
    let api = api().await;
    assert_problem(
        &api.send("GET", "/v1/tokens", None, None).await,
        401,
        "unauthenticated",
    );
    assert_problem(
        &api.send("DELETE", "/v1/tokens", None, None).await,
        401,
        "unauthenticated",
    );
    for method in ["pat", "service_key"] {
        let mut e = event(
            "POST",
            "/v1/tokens",
            None,
            Some(r#"{"name": "n", "scopes": ["tokens:read"]}"#),
        );
        e["requestContext"]["authorizer"] =
            json!({"lambda": {"auth_method": method, "principal_id": "alice"}});
        let (s, body, _) = api.send_event(Function::Issuance, e).await;
        assert_problem(&(s, body), 403, "session_required");
    }
}

#[tokio::test]
async fn names_are_unique_among_active_tokens_and_the_limit_holds() {
    let api = api().await;
    api.create("alice", "one").await;
    let again = api
        .send(
            "POST",
            "/v1/tokens",
            Some("alice"),
            Some(json!({"name": "one", "scopes": ["tokens:read"]})),
        )
        .await;
    assert_problem(&again, 409, "name_taken");
    assert_eq!(again.1["field"], "name");
    // Another user may use the same name.
    api.create("bob", "one").await;

    api.create("alice", "two").await;
    let third = api.create("alice", "three").await;
    assert_problem(
        &api.send(
            "POST",
            "/v1/tokens",
            Some("alice"),
            Some(json!({"name": "four", "scopes": ["tokens:read"]})),
        )
        .await,
        409,
        "token_limit_reached",
    );
    // Revoking frees a slot, and the revoked token's name.
    let (status, _) = api
        .send(
            "DELETE",
            &format!("/v1/tokens/{}", third["id"].as_str().unwrap()),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    api.create("alice", "three").await;
}

#[tokio::test]
async fn list_pages_newest_first_and_filters_by_status() {
    let mut api = api_with(IssuancePolicy {
        max_active_tokens: 50,
        ..policy()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        api.now = Timestamp(api.now.0 + 1);
        ids.push(
            api.create("alice", &format!("t{i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    api.create("bob", "bob's").await;
    api.send(
        "DELETE",
        &format!("/v1/tokens/{}", ids[0]),
        Some("alice"),
        None,
    )
    .await;

    let (status, page) = api
        .send("GET", "/v1/tokens?limit=2", Some("alice"), None)
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["t4", "t3"]);
    assert!(page["tokens"][0].get("token").is_none());
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, next) = api
        .send(
            "GET",
            &format!("/v1/tokens?limit=2&cursor={cursor}"),
            Some("alice"),
            None,
        )
        .await;
    let names: Vec<&str> = next["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["t2", "t1"]);

    let (_, revoked) = api
        .send("GET", "/v1/tokens?status=revoked", Some("alice"), None)
        .await;
    assert_eq!(revoked["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(revoked["tokens"][0]["status"], "revoked");
    let (_, all) = api
        .send(
            "GET",
            "/v1/tokens?status=all&limit=100",
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(all["tokens"].as_array().unwrap().len(), 5);
    assert_eq!(all["next_cursor"], Value::Null);

    assert_problem(
        &api.send("GET", "/v1/tokens?status=bogus", Some("alice"), None)
            .await,
        400,
        "invalid_status",
    );
    assert_problem(
        &api.send("GET", "/v1/tokens?limit=0", Some("alice"), None)
            .await,
        400,
        "invalid_limit",
    );
    assert_problem(
        &api.send("GET", "/v1/tokens?limit=101", Some("alice"), None)
            .await,
        400,
        "invalid_limit",
    );
    assert_problem(
        &api.send("GET", "/v1/tokens?cursor=garbage", Some("alice"), None)
            .await,
        400,
        "invalid_cursor",
    );
}

#[tokio::test]
async fn another_users_token_is_not_found_on_every_route() {
    let api = api().await;
    let bobs = api.create("bob", "bob's").await;
    let id = bobs["id"].as_str().unwrap();
    let missing = PlainToken::generate().unwrap().id().to_string();
    for target in [id, missing.as_str(), "not-an-id"] {
        let get = api
            .send("GET", &format!("/v1/tokens/{target}"), Some("alice"), None)
            .await;
        assert_problem(&get, 404, "token_not_found");
        let rotate = api
            .send(
                "POST",
                &format!("/v1/tokens/{target}/rotate"),
                Some("alice"),
                None,
            )
            .await;
        assert_problem(&rotate, 404, "token_not_found");
        let delete = api
            .send(
                "DELETE",
                &format!("/v1/tokens/{target}"),
                Some("alice"),
                None,
            )
            .await;
        assert_problem(&delete, 404, "token_not_found");
        // The same body for a foreign token as for a missing one.
        assert_eq!(get.1["detail"], "no such token");
    }
    let (_, list) = api.send("GET", "/v1/tokens", Some("alice"), None).await;
    assert!(list["tokens"].as_array().unwrap().is_empty());
    // Bob's token is untouched.
    let record = api
        .store
        .get_token(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(record.revoked.is_none());
}

#[tokio::test]
async fn rotate_replaces_the_token_and_revokes_the_old_one_after_the_grace() {
    let api = api().await;
    let old = api.create("alice", "ci").await;
    let old_id = old["id"].as_str().unwrap();
    let (status, new) = api
        .send(
            "POST",
            &format!("/v1/tokens/{old_id}/rotate"),
            Some("alice"),
            Some(json!({"grace_seconds": 60})),
        )
        .await;
    assert_eq!(status, 201, "{new}");
    assert_ne!(new["id"], old["id"]);
    assert_eq!(
        (new["name"].clone(), new["scopes"].clone()),
        (old["name"].clone(), old["scopes"].clone())
    );
    assert!(PlainToken::parse(new["token"].as_str().unwrap()).is_ok());
    let old_record = api
        .store
        .get_token(&old_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let revocation = old_record.revoked.clone().unwrap();
    assert_eq!(revocation.reason, "rotated");
    assert_eq!(revocation.at, api.now.plus_seconds(60));
    // Still works during the grace period, not after.
    assert_eq!(
        old_record.status(api.now),
        cog_tokens::records::TokenStatus::Active
    );
    assert_eq!(
        old_record.status(api.now.plus_seconds(60)),
        cog_tokens::records::TokenStatus::Revoked
    );
    // Same lifetime as the old one.
    let new_record = api
        .store
        .get_token(&new["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        new_record.expires_at.unwrap().0 - new_record.created_at.0,
        old_record.expires_at.unwrap().0 - old_record.created_at.0
    );

    // Rotating it again is refused; so is a grace above the bound.
    assert_problem(
        &api.send(
            "POST",
            &format!("/v1/tokens/{old_id}/rotate"),
            Some("alice"),
            None,
        )
        .await,
        409,
        "token_not_active",
    );
    let new_id = new["id"].as_str().unwrap();
    let too_long = api
        .send(
            "POST",
            &format!("/v1/tokens/{new_id}/rotate"),
            Some("alice"),
            Some(json!({"grace_seconds": 601})),
        )
        .await;
    assert_problem(&too_long, 400, "invalid_grace");
    assert_eq!(too_long.1["field"], "grace_seconds");
}

#[tokio::test]
async fn delete_is_idempotent_and_delete_all_revokes_everything_of_the_caller() {
    let api = api().await;
    let one = api.create("alice", "one").await;
    api.create("alice", "two").await;
    let bobs = api.create("bob", "bob's").await;
    let path = format!("/v1/tokens/{}", one["id"].as_str().unwrap());
    let first = api.send("DELETE", &path, Some("alice"), None).await;
    let second = api.send("DELETE", &path, Some("alice"), None).await;
    assert_eq!((first.0, second.0), (204, 204));
    let events = api.store.all_audit_events();
    let revokes: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::TokenRevoke)
        .collect();
    assert_eq!(revokes.len(), 1, "the second delete wrote nothing");
    assert_eq!(revokes[0].actor, "user:alice");

    let (status, body) = api.send("DELETE", "/v1/tokens", Some("alice"), None).await;
    assert_eq!((status, body), (200, json!({"revoked": 1})));
    let (_, active) = api.send("GET", "/v1/tokens", Some("alice"), None).await;
    assert!(active["tokens"].as_array().unwrap().is_empty());
    let bob_record = api
        .store
        .get_token(&bobs["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(bob_record.revoked.is_none());
}

#[tokio::test]
async fn each_function_serves_only_its_routes_and_faults_are_503_without_details() {
    let api = api().await;
    let (s, body, _) = api
        .send_event(
            Function::Revocation,
            event("GET", "/v1/tokens", Some("alice"), None),
        )
        .await;
    assert_problem(&(s, body), 404, "route_not_found");
    let (s, body, _) = api
        .send_event(
            Function::Issuance,
            event("DELETE", "/v1/tokens", Some("alice"), None),
        )
        .await;
    assert_problem(&(s, body), 404, "route_not_found");
    let (s, body, _) = api
        .send_event(
            Function::Issuance,
            event("PUT", "/v1/tokens", Some("alice"), None),
        )
        .await;
    assert_problem(&(s, body), 404, "route_not_found");

    api.store.fail_all(true);
    let (status, body, headers) = api
        .send_event(
            Function::Issuance,
            event(
                "POST",
                "/v1/tokens",
                Some("alice"),
                Some(&json!({"name": "n", "scopes": ["tokens:read"]}).to_string()),
            ),
        )
        .await;
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    let response = (status, body);
    assert_problem(&response, 503, "service_unavailable");
    assert!(
        !response.1.to_string().contains("injected"),
        "internal detail leaked"
    );
}

/// The org and audit routes' own input checks, over HTTP; the rules behind
/// them are tested against DynamoDB Local in `tests/tests/integration/orgs.rs`.
#[tokio::test]
async fn org_and_audit_routes_check_their_input_and_record_where_a_change_came_from() {
    let api = api().await;
    let promoted = Account {
        user_id: "root".into(),
        status: PrincipalStatus::Active,
        sso: true,
        pat_beta: false,
        orgs: vec![OrgMembership {
            org_id: "acme".into(),
            role: "admin".into(),
        }],
        tokens_valid_after: None,
    };
    api.store
        .put_account(&promoted, &audit(AuditAction::AccountPut))
        .await
        .unwrap();
    let users = "/v1/orgs/acme/service-users";
    let created = api
        .send(
            "POST",
            users,
            Some("root"),
            Some(json!({"name": "CI", "role": "deployer"})),
        )
        .await;
    assert_eq!(created.0, 201, "{}", created.1);
    let su = created.1["id"].as_str().unwrap().to_owned();
    assert_eq!(created.1["status"], "active");
    assert_problem(
        &api.send(
            "POST",
            users,
            Some("root"),
            Some(json!({"name": "x", "role": "owner"})),
        )
        .await,
        400,
        "unknown_role",
    );
    assert_problem(
        &api.send("POST", users, Some("root"), Some(json!({"name": "x"})))
            .await,
        400,
        "invalid_body",
    );
    assert_problem(
        &api.send("GET", &format!("{users}?status=gone"), Some("root"), None)
            .await,
        400,
        "invalid_status",
    );
    let patch = api
        .send_event(
            Function::Revocation,
            event(
                "PATCH",
                &format!("{users}/{su}"),
                Some("root"),
                Some(r#"{"status": "deleted"}"#),
            ),
        )
        .await;
    assert_eq!(
        (patch.0, patch.1["code"].as_str()),
        (400, Some("invalid_status"))
    );
    // PATCH is the revocation function's: issuance does not serve it.
    let (status, body, _) = api
        .send_event(
            Function::Issuance,
            event(
                "PATCH",
                &format!("{users}/{su}"),
                Some("root"),
                Some(r#"{"status": "disabled"}"#),
            ),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("route_not_found"))
    );
    // alice is a member of acme but no admin; bob's org does not exist for him.
    assert_problem(
        &api.send("GET", users, Some("alice"), None).await,
        403,
        "org_admin_required",
    );
    assert_problem(
        &api.send("GET", "/v1/orgs/globex/service-users", Some("alice"), None)
            .await,
        404,
        "org_not_found",
    );

    assert_problem(
        &api.send(
            "GET",
            "/v1/orgs/acme/audit?action=token.delete",
            Some("root"),
            None,
        )
        .await,
        400,
        "invalid_action",
    );
    assert_problem(
        &api.send("GET", "/v1/audit?from=yesterday", Some("alice"), None)
            .await,
        400,
        "invalid_time",
    );
    let trail = api
        .send(
            "GET",
            "/v1/orgs/acme/audit?action=service_user.create&from=2020-01-01T00:00:00Z",
            Some("root"),
            None,
        )
        .await;
    assert_eq!(trail.0, 200, "{}", trail.1);
    let events = trail.1["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", trail.1);
    assert_eq!(events[0]["target"], format!("service_user:{su}").as_str());
    assert_eq!(events[0]["actor"], "user:root");
    assert_eq!(events[0]["source_ip"], "203.0.113.7");
    assert_eq!(events[0]["user_agent"], "t");

    // The org's PAT policy: PUT is the revocation function's.
    let put = |body: &'static str| event("PUT", "/v1/orgs/acme/policy", Some("root"), Some(body));
    let (status, body, _) = api
        .send_event(Function::Revocation, put(r#"{"pat_access": "sometimes"}"#))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_pat_access"))
    );
    let (status, body, _) = api
        .send_event(
            Function::Revocation,
            put(r#"{"pat_access": "allowed", "pat_max_lifetime_days": 30}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let policy = api
        .send("GET", "/v1/orgs/acme/policy", Some("root"), None)
        .await;
    assert_eq!(
        policy.1,
        json!({
            "pat_access": "allowed", "pat_max_lifetime_days": 30, "idle_expiry_days": null,
            "pat_approval": "not_required"
        })
    );

    // Anyone's own trail: alice's token, created from her request.
    api.create("alice", "laptop").await;
    let own = api.send("GET", "/v1/audit", Some("alice"), None).await;
    assert_eq!(own.0, 200, "{}", own.1);
    assert_eq!(own.1["events"][0]["action"], "token.create");
    assert_eq!(own.1["events"][0]["source_ip"], "203.0.113.7");
    assert_eq!(own.1["events"][0]["target"], "user:alice");
}

#[tokio::test]
async fn a_token_reads_its_own_metadata_and_a_refused_one_gets_the_gateways_401() {
    let api = api().await;
    let created = api.create("alice", "laptop").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let gateway_401 = json!({"message": "Unauthorized"});

    let (status, body, headers) = api
        .send_event(
            Function::Issuance,
            token_event("GET", "/v1/tokens/self", ("user", "alice"), &id),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["name"], "laptop");
    assert_eq!(body["scopes"], json!(["tokens:read"]));
    assert_eq!(body["status"], "active");
    assert!(body["expires_at"].is_string());
    assert_eq!(
        body["acts_as"],
        json!({"principal_type": "user", "principal_id": "alice", "auth_method": "pat"})
    );
    let secret = created["token"].as_str().unwrap();
    assert!(body.get("token").is_none() && !body.to_string().contains(secret));
    assert!(!body.to_string().contains(&secret[20..]));
    assert_eq!(headers["cache-control"], "no-store");

    // Another principal's context with this id, an unknown id, no token
    // context at all, a session instead: the gateway's 401, never a 404.
    let missing = PlainToken::generate().unwrap().id().to_string();
    for event in [
        token_event("GET", "/v1/tokens/self", ("user", "bob"), &id),
        token_event("GET", "/v1/tokens/self", ("service_user", "alice"), &id),
        token_event("GET", "/v1/tokens/self", ("user", "alice"), &missing),
        token_event("GET", "/v1/tokens/self", ("user", "alice"), "not-an-id"),
        event("GET", "/v1/tokens/self", None, None),
        event("GET", "/v1/tokens/self", Some("alice"), None),
    ] {
        let (status, body, headers) = api.send_event(Function::Issuance, event).await;
        assert_eq!((status, &body), (401, &gateway_401));
        assert_eq!(headers["content-type"], "application/json");
    }

    // Its owner out of the beta since the authorizer's (cached) answer:
    // refused alike, and served again once back in.
    let mut account = api.store.get_account("alice").await.unwrap().unwrap();
    account.pat_beta = false;
    api.store
        .put_account(&account, &audit(AuditAction::AccountPut))
        .await
        .unwrap();
    let (status, body, _) = api
        .send_event(
            Function::Issuance,
            token_event("GET", "/v1/tokens/self", ("user", "alice"), &id),
        )
        .await;
    assert_eq!((status, body), (401, gateway_401.clone()));
    account.pat_beta = true;
    api.store
        .put_account(&account, &audit(AuditAction::AccountPut))
        .await
        .unwrap();
    let (status, _, _) = api
        .send_event(
            Function::Issuance,
            token_event("GET", "/v1/tokens/self", ("user", "alice"), &id),
        )
        .await;
    assert_eq!(status, 200);

    // Revoked since the authorizer's (possibly cached) answer: refused alike.
    let (status, _) = api
        .send("DELETE", &format!("/v1/tokens/{id}"), Some("alice"), None)
        .await;
    assert_eq!(status, 204);
    let (status, body, _) = api
        .send_event(
            Function::Issuance,
            token_event("GET", "/v1/tokens/self", ("user", "alice"), &id),
        )
        .await;
    assert_eq!((status, body), (401, gateway_401));

    // Only the issuance function serves it (it reads, the revocation function does not).
    let (status, body, _) = api
        .send_event(
            Function::Revocation,
            token_event("GET", "/v1/tokens/self", ("user", "alice"), &id),
        )
        .await;
    assert_problem(&(status, body), 404, "route_not_found");
}

#[tokio::test]
async fn a_service_key_reads_itself_while_its_service_user_is_active() {
    let api = with_admin().await;
    let users = "/v1/orgs/acme/service-users";
    let (status, su) = api
        .send(
            "POST",
            users,
            Some("root"),
            Some(json!({"name": "deploy", "role": "deployer"})),
        )
        .await;
    assert_eq!(status, 201, "{su}");
    let su = su["id"].as_str().unwrap().to_owned();
    let (status, key) = api
        .send(
            "POST",
            &format!("{users}/{su}/keys"),
            Some("root"),
            Some(json!({"name": "k", "scopes": ["tokens:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let key_id = key["id"].as_str().unwrap().to_owned();

    let (status, own, _) = api
        .send_event(
            Function::Issuance,
            token_event("GET", "/v1/tokens/self", ("service_user", &su), &key_id),
        )
        .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(
        own["acts_as"],
        json!({"principal_type": "service_user", "principal_id": su, "auth_method": "service_key"})
    );
    // Its service user disabled since the authorizer's (cached) answer: refused alike.
    let patch = event(
        "PATCH",
        &format!("{users}/{su}"),
        Some("root"),
        Some(r#"{"status": "disabled"}"#),
    );
    let (status, body, _) = api.send_event(Function::Revocation, patch).await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = api
        .send_event(
            Function::Issuance,
            token_event("GET", "/v1/tokens/self", ("service_user", &su), &key_id),
        )
        .await;
    assert_eq!((status, body), (401, json!({"message": "Unauthorized"})));
}

#[tokio::test]
async fn a_service_user_patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let api = with_admin().await;
    let users = "/v1/orgs/acme/service-users";
    let (status, made, headers) = admin_call(
        &api,
        "POST",
        users,
        Some(json!({"name": "ci", "role": "deployer"})),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert!(headers.get("etag").is_none(), "a creation answers no tag");
    let path = format!("{users}/{}", made["id"].as_str().unwrap());
    let (status, _, headers) = admin_call(&api, "GET", &path, None, &[]).await;
    assert_eq!(status, 200);
    let first = headers["etag"].to_str().unwrap().to_owned();
    assert!(first.starts_with('"') && first.ends_with('"'), "{first}");

    // Two admins read the same version; the first write wins.
    let (status, renamed, headers) = admin_call(
        &api,
        "PATCH",
        &path,
        Some(json!({"name": "ci-2"})),
        &[("if-match", &first)],
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    let second = headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(second, first);
    let stale = admin_call(
        &api,
        "PATCH",
        &path,
        Some(json!({"role": "viewer"})),
        &[("if-match", &first)],
    )
    .await;
    assert_problem(&(stale.0, stale.1), 412, "precondition_failed");
    let (_, now, headers) = admin_call(&api, "GET", &path, None, &[]).await;
    assert_eq!(
        (now["name"].as_str(), now["role"].as_str()),
        (Some("ci-2"), Some("deployer"))
    );
    assert_eq!(headers["etag"].to_str().unwrap(), second);

    // A list naming the current tag, `*`, or no If-Match at all: written.
    let listed = format!(r#""other", {second}"#);
    let (status, _, headers) = admin_call(
        &api,
        "PATCH",
        &path,
        Some(json!({"role": "viewer"})),
        &[("if-match", &listed)],
    )
    .await;
    assert_eq!(status, 200);
    let weak = format!("W/{}", headers["etag"].to_str().unwrap());
    let refused = admin_call(
        &api,
        "PATCH",
        &path,
        Some(json!({"name": "x"})),
        &[("if-match", &weak)],
    )
    .await;
    assert_problem(&(refused.0, refused.1), 412, "precondition_failed");
    for any in [Some("*"), None] {
        let headers: Vec<(&str, &str)> = any.map(|v| ("if-match", v)).into_iter().collect();
        let (status, body, _) = admin_call(
            &api,
            "PATCH",
            &path,
            Some(json!({"name": "ci-3"})),
            &headers,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let bad = admin_call(
        &api,
        "PATCH",
        &path,
        Some(json!({"name": "y"})),
        &[("if-match", "ci-3")],
    )
    .await;
    assert_problem(&(bad.0, bad.1), 400, "invalid_if_match");
}

#[tokio::test]
async fn an_org_policy_put_with_a_stale_if_match_is_412_and_changes_nothing() {
    let api = with_admin().await;
    let path = "/v1/orgs/acme/policy";
    let (status, unset, headers) = admin_call(&api, "GET", path, None, &[]).await;
    assert_eq!(status, 200, "{unset}");
    let unset_tag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, headers) = admin_call(
        &api,
        "PUT",
        path,
        Some(json!({"pat_access": "blocked", "pat_max_lifetime_days": null})),
        &[("if-match", &unset_tag)],
    )
    .await;
    assert_eq!(status, 200);
    let blocked_tag = headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(blocked_tag, unset_tag);
    let stale = admin_call(
        &api,
        "PUT",
        path,
        Some(json!({"pat_access": "allowed", "pat_max_lifetime_days": 30})),
        &[("if-match", &unset_tag)],
    )
    .await;
    assert_problem(&(stale.0, stale.1), 412, "precondition_failed");
    let (_, now, headers) = admin_call(&api, "GET", path, None, &[]).await;
    assert_eq!(now["pat_access"], "blocked");
    assert_eq!(headers["etag"].to_str().unwrap(), blocked_tag);
    let (status, _, _) = admin_call(
        &api,
        "PUT",
        path,
        Some(json!({"pat_access": "allowed", "pat_max_lifetime_days": 30})),
        &[("if-match", &blocked_tag)],
    )
    .await;
    assert_eq!(status, 200);
}
