//! `Idempotency-Key` on the routes that issue a credential, over HTTP and the
//! in-memory store: a retry gets the first result back, the token included;
//! the same key with another request is 422; a refused request keeps
//! nothing; a key lasts 24 hours and belongs to its caller. Concurrent
//! retries on DynamoDB Local: `tests/tests/integration/idempotency.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_tokens::records::{AuditAction, Owner, PrincipalStatus, StatusFilter, Timestamp};
use cog_tokens::store::{AuditLog, PrincipalStore, TokenStore};
use management::Function;
use serde_json::{json, Value};

mod common;
use common::*;

/// A request with an `Idempotency-Key` (if any) and a raw body, as sent.
async fn keyed(
    api: &Api,
    method: &str,
    path: &str,
    user: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, Value, bool) {
    let mut e = event(method, path, Some(user), Some(body));
    if let Some(key) = key {
        e["headers"]["idempotency-key"] = json!(key);
    }
    let (status, body, headers) = api.send_event(Function::Issuance, e).await;
    let replayed = headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, body, replayed)
}

const CI: &str = r#"{"name": "ci", "scopes": ["tokens:read"]}"#;

async fn tokens_of(api: &Api, user: &str) -> usize {
    api.store
        .list_tokens(&Owner::user(user), StatusFilter::All, api.now, 100, None)
        .await
        .unwrap()
        .tokens
        .len()
}

async fn creations(api: &Api, user: &str) -> usize {
    api.store
        .audit_events(Some(&Owner::user(user)), 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == AuditAction::TokenCreate)
        .count()
}

#[tokio::test]
async fn a_retried_create_gets_the_same_token_back_and_issues_once() {
    let api = api().await;
    let (status, first, replayed) =
        keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    // The same request, typed differently: same key order aside, same JSON.
    let again = r#"{ "scopes":["tokens:read"],   "name":"ci" }"#;
    let (status, second, replayed) =
        keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), again).await;
    assert_eq!((status, replayed), (201, true), "{second}");
    assert_eq!(second, first);
    assert_eq!(tokens_of(&api, "alice").await, 1);
    assert_eq!(creations(&api, "alice").await, 1);
    // Without a key the same request is a new one (and here a taken name).
    let (status, body, _) = keyed(&api, "POST", "/v1/tokens", "alice", None, CI).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("name_taken")));
}

#[tokio::test]
async fn the_same_key_for_another_request_is_422_and_issues_nothing() {
    let api = api().await;
    let (status, first, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!(status, 201);
    let other = r#"{"name": "cd", "scopes": ["tokens:read"]}"#;
    let (status, body, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), other).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "idempotency_key_reused");
    assert!(body.get("token").is_none());
    // The same key on another route is another request too.
    let rotate = format!("/v1/tokens/{}/rotate", first["id"].as_str().unwrap());
    let (status, body, _) = keyed(&api, "POST", &rotate, "alice", Some("k1"), "{}").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    assert_eq!(tokens_of(&api, "alice").await, 1);
}

#[tokio::test]
async fn a_key_belongs_to_its_caller() {
    let api = api().await;
    let (_, alices, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    let (status, bobs, replayed) = keyed(&api, "POST", "/v1/tokens", "bob", Some("k1"), CI).await;
    assert_eq!((status, replayed), (201, false), "{bobs}");
    assert_ne!(bobs["id"], alices["id"]);
    assert_ne!(bobs["token"], alices["token"]);
}

#[tokio::test]
async fn a_refused_request_keeps_nothing_and_its_retry_runs_again() {
    let api = api().await;
    let bad = r#"{"name": "ci", "scopes": ["no-such-scope"]}"#;
    let (status, body, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), bad).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unknown_scope"))
    );
    // Nothing was kept: the key is free for the corrected request.
    let (status, body, replayed) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!((status, replayed), (201, false), "{body}");

    // At the limit (3): refused, and the same retry succeeds once a slot is free.
    api.create("alice", "b").await;
    let third = api.create("alice", "c").await;
    let d = r#"{"name": "d", "scopes": ["tokens:read"]}"#;
    let (status, body, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k2"), d).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("token_limit_reached"))
    );
    let revoke = format!("/v1/tokens/{}", third["id"].as_str().unwrap());
    assert_eq!(
        api.send("DELETE", &revoke, Some("alice"), None).await.0,
        204
    );
    let (status, body, replayed) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k2"), d).await;
    assert_eq!((status, replayed), (201, false), "{body}");
}

#[tokio::test]
async fn malformed_keys_are_400_and_nothing_is_issued() {
    let api = api().await;
    let long = "k".repeat(256);
    // A comma too: API Gateway joins two header lines with one.
    for key in ["", " k", "ключ", "k1,k2", long.as_str()] {
        let (status, body, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some(key), CI).await;
        assert_eq!(status, 400, "{key:?}: {body}");
        assert_eq!(body["code"], "invalid_idempotency_key");
    }
    assert_eq!(tokens_of(&api, "alice").await, 0);
}

#[tokio::test]
async fn a_key_holds_its_result_for_24_hours_then_issues_anew() {
    let mut api = api().await;
    let (_, first, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    let start = api.now;
    api.now = Timestamp(start.0 + 86_400_000 - 1);
    let (status, body, replayed) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!((status, replayed, &body["id"]), (201, true, &first["id"]));
    // A day on, the key is free: a new request, refused here for the name
    // the first token still holds.
    api.now = Timestamp(start.0 + 86_400_000);
    let (status, body, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("name_taken")));
    let cd = r#"{"name": "cd", "scopes": ["tokens:read"]}"#;
    let (status, body, replayed) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), cd).await;
    assert_eq!((status, replayed), (201, false), "{body}");
}

#[tokio::test]
async fn a_replay_gives_the_token_with_its_record_as_it_is_now_while_it_is_active() {
    let api = api().await;
    let (_, first, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    let path = format!("/v1/tokens/{}", first["id"].as_str().unwrap());
    let narrowed = r#"{"allowed_ips": ["203.0.113.0/24"]}"#;
    let patch = event("PATCH", &path, Some("alice"), Some(narrowed));
    assert_eq!(api.send_event(Function::Revocation, patch).await.0, 200);
    let (status, body, replayed) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(
        (&body["id"], &body["token"]),
        (&first["id"], &first["token"])
    );
    assert_eq!(body["allowed_ips"], json!(["203.0.113.0/24"]));
    // Revoked since (it may have leaked): its secret is not handed out again.
    assert_eq!(api.send("DELETE", &path, Some("alice"), None).await.0, 204);
    let (status, body, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("token_not_active"))
    );
    assert!(body.get("token").is_none());
}

#[tokio::test]
async fn an_owner_refused_since_gets_the_refusal_not_the_token() {
    let api = api().await;
    let (status, _, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!(status, 201);
    let mut alice = api.store.get_account("alice").await.unwrap().unwrap();
    alice.status = PrincipalStatus::Suspended;
    api.store
        .put_account(&alice, &audit(AuditAction::AccountPut))
        .await
        .unwrap();
    let (status, body, _) = keyed(&api, "POST", "/v1/tokens", "alice", Some("k1"), CI).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("account_inactive"))
    );
    assert!(body.get("token").is_none());
}

#[tokio::test]
async fn a_retried_rotation_gets_the_same_successor_and_rotates_once() {
    let api = api().await;
    let old = api.create("alice", "ci").await;
    let path = format!("/v1/tokens/{}/rotate", old["id"].as_str().unwrap());
    let (status, new, replayed) = keyed(&api, "POST", &path, "alice", Some("r1"), "").await;
    assert_eq!((status, replayed), (201, false), "{new}");
    // No body and `{}` ask the same.
    let (status, again, replayed) = keyed(&api, "POST", &path, "alice", Some("r1"), "{}").await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!((&again["id"], &again["token"]), (&new["id"], &new["token"]));
    // Without the key, the retry finds the old token ended.
    let (status, body, _) = keyed(&api, "POST", &path, "alice", None, "").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("token_not_active"))
    );
    assert_eq!(tokens_of(&api, "alice").await, 2);
}

#[tokio::test]
async fn an_admins_retried_key_creation_and_rotation_issue_once() {
    let api = with_admin().await;
    let su = ci_service_user(&api).await;
    let keys = format!(
        "/v1/orgs/acme/service-users/{}/keys",
        su["id"].as_str().unwrap()
    );
    let (status, key, replayed) = keyed(&api, "POST", &keys, "root", Some("k1"), CI).await;
    assert_eq!((status, replayed), (201, false), "{key}");
    let (status, again, replayed) = keyed(&api, "POST", &keys, "root", Some("k1"), CI).await;
    assert_eq!(
        (status, replayed, &again["token"]),
        (201, true, &key["token"])
    );
    let rotate = format!("{keys}/{}/rotate", key["id"].as_str().unwrap());
    let grace = r#"{"grace_seconds": 60}"#;
    let (status, new, _) = keyed(&api, "POST", &rotate, "root", Some("r1"), grace).await;
    assert_eq!(status, 201, "{new}");
    let (status, again, replayed) = keyed(&api, "POST", &rotate, "root", Some("r1"), grace).await;
    assert_eq!(
        (status, replayed, &again["token"]),
        (201, true, &new["token"])
    );
    let owner = Owner::service_user(su["id"].as_str().unwrap());
    let all = api
        .store
        .list_tokens(&owner, StatusFilter::All, api.now, 100, None)
        .await
        .unwrap();
    assert_eq!(all.tokens.len(), 2);
    // The service user disabled: its keys are not given back.
    let su_path = format!("/v1/orgs/acme/service-users/{}", su["id"].as_str().unwrap());
    let disable = Some(json!({"status": "disabled"}));
    assert_eq!(
        admin_call(&api, "PATCH", &su_path, disable, &[]).await.0,
        200
    );
    let (status, body, _) = keyed(&api, "POST", &keys, "root", Some("k1"), CI).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("service_user_disabled"))
    );
    let enable = Some(json!({"status": "active"}));
    assert_eq!(
        admin_call(&api, "PATCH", &su_path, enable, &[]).await.0,
        200
    );
    // The admin demoted since: refused before anything is given back.
    let mut root = api.store.get_account("root").await.unwrap().unwrap();
    root.orgs[0].role = "member".into();
    api.store
        .put_account(&root, &audit(AuditAction::AccountPut))
        .await
        .unwrap();
    let (status, body, _) = keyed(&api, "POST", &keys, "root", Some("k1"), CI).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("org_admin_required"))
    );
    assert!(body.get("token").is_none());
}
