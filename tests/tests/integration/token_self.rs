//! A token's own routes through the local gateway: it reads its own
//! metadata with nothing but itself, and once revoked gets the same 401 as
//! an unknown token; with `tokens:rotate_self` it rotates itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::{same_id_other_secret, Stack};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_token_reads_its_own_metadata_through_the_gateway_until_it_is_revoked() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["tess"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("tess").await;
    let created = chain.create_token(&cookie, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let id = created.json()["id"].as_str().unwrap().to_owned();

    let own = chain.with_token("GET", "/v1/tokens/self", &token).await;
    assert_eq!(own.status, 200, "{}", own.body);
    let body = own.json();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["name"], created.json()["name"]);
    assert_eq!(body["scopes"], json!(["tokens:read"]));
    assert_eq!(body["status"], "active");
    assert_eq!(
        body["acts_as"],
        json!({"principal_type": "user", "principal_id": "tess", "auth_method": "pat"})
    );
    assert!(!own.body.contains(&token), "the secret came back");

    // Any refused token, and a session without one: the gateway's own 401.
    // (The same id with another secret: never the token itself by chance.)
    let unknown = chain
        .with_token("GET", "/v1/tokens/self", &same_id_other_secret(&token))
        .await;
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    assert_eq!(unknown.json(), json!({"message": "Unauthorized"}));
    let session_only = chain
        .call("GET", "/v1/tokens/self", &[("cookie", cookie.as_str())], "")
        .await;
    assert_eq!(
        (session_only.status, session_only.json()),
        (401, unknown.json())
    );
    // The `{id}` route with a session is untouched by the literal one.
    let by_id = chain
        .call(
            "GET",
            &format!("/v1/tokens/{id}"),
            &[("cookie", cookie.as_str())],
            "",
        )
        .await;
    assert_eq!(by_id.status, 200, "{}", by_id.body);

    let revoked = chain
        .call(
            "DELETE",
            &format!("/v1/tokens/{id}"),
            &[("cookie", cookie.as_str())],
            "",
        )
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    let after = chain.with_token("GET", "/v1/tokens/self", &token).await;
    assert_eq!((after.status, after.json()), (401, unknown.json()));
    assert!(chain.leaks(&[token]).is_empty(), "{:?}", chain.leaks(&[]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_rotates_itself_through_the_gateway_and_the_old_one_is_refused() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["rosa"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("rosa").await;
    let plain = chain.create_token(&cookie, r#"["tokens:read"]"#).await;
    let plain = plain.json()["token"].as_str().unwrap().to_owned();
    let refused = chain
        .with_token("POST", "/v1/tokens/self/rotate", &plain)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["code"], "scope_required");

    let created = chain
        .create_token(&cookie, r#"["tokens:read", "tokens:rotate_self"]"#)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let old = created.json()["token"].as_str().unwrap().to_owned();
    let old_id = created.json()["id"].as_str().unwrap().to_owned();

    // No session: the token alone.
    let rotated = chain
        .with_token("POST", "/v1/tokens/self/rotate", &old)
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.body);
    assert_eq!(rotated.headers["cache-control"], "no-store");
    let new = rotated.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(rotated.json()["name"], created.json()["name"]);

    let own = chain.with_token("GET", "/v1/tokens/self", &new).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.json()["id"], rotated.json()["id"]);
    for path in ["/v1/tokens/self", "/v1/whoami"] {
        let refused = chain.with_token("GET", path, &old).await;
        assert_eq!(refused.status, 401, "{path}: {}", refused.body);
        assert_eq!(refused.json(), json!({"message": "Unauthorized"}));
    }
    let again = chain
        .with_token("POST", "/v1/tokens/self/rotate", &old)
        .await;
    assert_eq!(
        (again.status, again.json()),
        (401, json!({"message": "Unauthorized"}))
    );

    // The owner's trail names the token as the actor of its rotation.
    let trail = chain
        .call("GET", "/v1/audit", &[("cookie", cookie.as_str())], "")
        .await;
    assert_eq!(trail.status, 200, "{}", trail.body);
    let events = trail.json()["events"].as_array().unwrap().clone();
    let rotation = events
        .iter()
        .find(|e| e["action"] == "token.rotate")
        .unwrap_or_else(|| panic!("no rotation in {events:?}"));
    assert_eq!(rotation["actor"], format!("token:{old_id}"));
    assert!(chain.leaks(&[old, new, plain]).is_empty());
}
