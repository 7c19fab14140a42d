//! `POST /v1/tokens/self/rotate` over HTTP and the in-memory store: a token
//! its owner gave `tokens:rotate_self` replaces itself without a session,
//! within its owner's rules, audited as the token, in the old one's family;
//! any other token is refused as elsewhere. On DynamoDB Local, through the
//! gateway, and the leak and revoke-all walks: `tests/tests/integration`
//! (`token_self.rs`, `leaks.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_tokens::records::{AuditAction, Owner, PrincipalStatus, TokenStatus};
use cog_tokens::store::{AuditLog, PrincipalStore, TokenStore};
use cog_tokens::token::TokenId;
use management::Function;
use serde_json::{json, Value};

mod common;
use common::*;

const ROTATE: &str = "/v1/tokens/self/rotate";

/// A PAT of alice's with `scopes`, as issued.
async fn pat(api: &Api, name: &str, scopes: &[&str]) -> Value {
    let body = json!({"name": name, "scopes": scopes});
    let (status, created) = api
        .send("POST", "/v1/tokens", Some("alice"), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    created
}

/// The token `id` of `principal` rotating itself, with `body` and headers.
async fn rotate_self(
    api: &Api,
    principal: (&str, &str),
    id: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value, bool) {
    let mut e = token_event("POST", ROTATE, principal, id);
    if let Some(body) = body {
        e["body"] = json!(body);
    }
    for (name, value) in headers {
        e["headers"][*name] = json!(value);
    }
    let (status, body, headers) = api.send_event(Function::Issuance, e).await;
    (status, body, headers.contains_key("idempotent-replayed"))
}

async fn record(api: &Api, id: &Value) -> cog_tokens::records::TokenRecord {
    let id: TokenId = id.as_str().unwrap().parse().unwrap();
    api.store.get_token(&id).await.unwrap().unwrap()
}

const SELF_SCOPES: &[&str] = &["tokens:read", "tokens:rotate_self"];

#[tokio::test]
async fn a_token_with_the_scope_rotates_itself_audited_as_itself_in_its_family() {
    let api = api().await;
    let old = pat(&api, "ci", SELF_SCOPES).await;
    let id = old["id"].as_str().unwrap();
    let (status, new, _) = rotate_self(&api, ("user", "alice"), id, None, &[]).await;
    assert_eq!(status, 201, "{new}");
    assert_ne!(new["id"], old["id"]);
    assert_eq!(
        (&new["name"], &new["scopes"]),
        (&old["name"], &old["scopes"])
    );
    assert!(new["token"].as_str().unwrap().starts_with("cog_"));
    // The old one ended at once (no grace asked), the new one continues its family.
    let old_record = record(&api, &old["id"]).await;
    assert_eq!(old_record.status(api.now), TokenStatus::Revoked);
    let new_record = record(&api, &new["id"]).await;
    assert_eq!(new_record.family.as_deref(), Some(&old_record.id));
    // Audited as the token, not as a user.
    let events = api
        .store
        .audit_events(Some(&Owner::user("alice")), 20)
        .await
        .unwrap();
    let rotation = events
        .iter()
        .find(|e| e.action == AuditAction::TokenRotate)
        .unwrap();
    assert_eq!(rotation.actor, format!("token:{id}"));

    // The new one rotates itself in turn, with a grace: still the first's family.
    let grace = Some(r#"{"grace_seconds": 60}"#);
    let new_id = new["id"].as_str().unwrap();
    let (status, third, _) = rotate_self(&api, ("user", "alice"), new_id, grace, &[]).await;
    assert_eq!(status, 201, "{third}");
    assert_eq!(
        record(&api, &third["id"]).await.family.as_deref(),
        Some(&old_record.id)
    );
    assert_eq!(
        record(&api, &new["id"]).await.status(api.now),
        TokenStatus::Active,
        "in its grace"
    );

    // A session's rotation starts a new family.
    let path = format!("/v1/tokens/{}/rotate", third["id"].as_str().unwrap());
    let (status, by_session) = api.send("POST", &path, Some("alice"), None).await;
    assert_eq!(status, 201, "{by_session}");
    assert_eq!(record(&api, &by_session["id"]).await.family, None);
}

#[tokio::test]
async fn a_token_without_the_scope_is_403_and_nothing_changes() {
    let api = api().await;
    let old = pat(&api, "ci", &["tokens:read"]).await;
    let id = old["id"].as_str().unwrap();
    let (status, body, _) = rotate_self(&api, ("user", "alice"), id, None, &[]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("scope_required"))
    );
    assert_eq!(
        record(&api, &old["id"]).await.status(api.now),
        TokenStatus::Active
    );
}

#[tokio::test]
async fn a_refused_token_or_owner_gets_the_gateways_401_as_everywhere() {
    let api = api().await;
    let gateway_401 = json!({"message": "Unauthorized"});
    let old = pat(&api, "ci", SELF_SCOPES).await;
    let id = old["id"].as_str().unwrap().to_owned();
    // Another principal's context, an unknown id, no token context at all.
    let unknown = cog_tokens::PlainToken::generate().unwrap().id().to_string();
    for (principal, token) in [
        (("user", "bob"), id.as_str()),
        (("user", "alice"), &unknown),
    ] {
        let (status, body, _) = rotate_self(&api, principal, token, None, &[]).await;
        assert_eq!((status, &body), (401, &gateway_401));
    }
    let session_only = event("POST", ROTATE, Some("alice"), None);
    let (status, body, _) = api.send_event(Function::Issuance, session_only).await;
    assert_eq!((status, &body), (401, &gateway_401));

    // Its owner out of the beta since: refused, nothing issued.
    let mut alice = api.store.get_account("alice").await.unwrap().unwrap();
    alice.pat_beta = false;
    api.store
        .put_account(&alice, &audit(AuditAction::AccountPut))
        .await
        .unwrap();
    let (status, body, _) = rotate_self(&api, ("user", "alice"), &id, None, &[]).await;
    assert_eq!((status, &body), (401, &gateway_401));
    alice.pat_beta = true;
    alice.status = PrincipalStatus::Suspended;
    api.store
        .put_account(&alice, &audit(AuditAction::AccountPut))
        .await
        .unwrap();
    let (status, _, _) = rotate_self(&api, ("user", "alice"), &id, None, &[]).await;
    assert_eq!(status, 401);
    alice.status = PrincipalStatus::Active;
    api.store
        .put_account(&alice, &audit(AuditAction::AccountPut))
        .await
        .unwrap();

    // Revoked: refused like any refused token, then the list is unchanged.
    let path = format!("/v1/tokens/{id}");
    assert_eq!(api.send("DELETE", &path, Some("alice"), None).await.0, 204);
    let (status, body, _) = rotate_self(&api, ("user", "alice"), &id, None, &[]).await;
    assert_eq!((status, &body), (401, &gateway_401));
    let (_, listed) = api
        .send("GET", "/v1/tokens?status=all", Some("alice"), None)
        .await;
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_revoke_all_since_the_tokens_answer_refuses_its_rotation() {
    let api = api().await;
    let old = pat(&api, "ci", SELF_SCOPES).await;
    let id = old["id"].as_str().unwrap();
    assert_eq!(
        api.send("DELETE", "/v1/tokens", Some("alice"), None)
            .await
            .0,
        200
    );
    let (status, _, _) = rotate_self(&api, ("user", "alice"), id, None, &[]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_retried_self_rotation_with_a_key_gets_the_same_successor() {
    let api = api().await;
    let old = pat(&api, "ci", SELF_SCOPES).await;
    let id = old["id"].as_str().unwrap();
    let grace = Some(r#"{"grace_seconds": 60}"#);
    let key = [("idempotency-key", "rot-1")];
    let (status, new, replayed) = rotate_self(&api, ("user", "alice"), id, grace, &key).await;
    assert_eq!((status, replayed), (201, false), "{new}");
    // Retried with the old token, still in its grace.
    let (status, again, replayed) = rotate_self(&api, ("user", "alice"), id, grace, &key).await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!((&again["id"], &again["token"]), (&new["id"], &new["token"]));
    let (_, listed) = api
        .send("GET", "/v1/tokens?status=all", Some("alice"), None)
        .await;
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_service_key_rotates_itself_while_its_service_user_is_active() {
    let api = with_admin().await;
    let su = ci_service_user(&api).await;
    let su_id = su["id"].as_str().unwrap().to_owned();
    let keys = format!("/v1/orgs/acme/service-users/{su_id}/keys");
    let body = Some(json!({"name": "deploy", "scopes": SELF_SCOPES}));
    let (status, key, _) = admin_call(&api, "POST", &keys, body, &[]).await;
    assert_eq!(status, 201, "{key}");
    let principal = ("service_user", su_id.as_str());
    let key_id = key["id"].as_str().unwrap();
    let (status, new, _) = rotate_self(&api, principal, key_id, None, &[]).await;
    assert_eq!(status, 201, "{new}");
    assert_eq!(
        record(&api, &new["id"]).await.owner,
        Owner::service_user(&su_id)
    );
    // Disabled: its keys are refused like any refused token.
    let su_path = format!("/v1/orgs/acme/service-users/{su_id}");
    let disable = Some(json!({"status": "disabled"}));
    assert_eq!(
        admin_call(&api, "PATCH", &su_path, disable, &[]).await.0,
        200
    );
    let new_id = new["id"].as_str().unwrap();
    let (status, _, _) = rotate_self(&api, principal, new_id, None, &[]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn revoking_a_token_revokes_what_it_rotated_itself_into() {
    let api = api().await;
    let first = pat(&api, "ci", SELF_SCOPES).await;
    let grace = Some(r#"{"grace_seconds": 600}"#);
    let first_id = first["id"].as_str().unwrap();
    let (_, second, _) = rotate_self(&api, ("user", "alice"), first_id, grace, &[]).await;
    let second_id = second["id"].as_str().unwrap();
    let (_, third, _) = rotate_self(&api, ("user", "alice"), second_id, grace, &[]).await;
    // The owner revokes the first (say, it leaked): the chain it grew ends.
    let path = format!("/v1/tokens/{first_id}");
    assert_eq!(api.send("DELETE", &path, Some("alice"), None).await.0, 204);
    for token in [&first, &second, &third] {
        assert_eq!(
            record(&api, &token["id"]).await.status(api.now),
            TokenStatus::Revoked
        );
    }
    // Audited on each, naming the one it was rotated from.
    let events = api
        .store
        .audit_events(Some(&Owner::user("alice")), 50)
        .await
        .unwrap();
    let walked = events
        .iter()
        .find(|e| {
            e.action == AuditAction::TokenRevoke
                && e.token_id
                    .is_some_and(|t| t.as_str() == third["id"].as_str().unwrap())
        })
        .unwrap();
    assert!(
        walked
            .detail
            .as_deref()
            .unwrap()
            .contains(&format!("rotated from {second_id}")),
        "{walked:?}"
    );
}
