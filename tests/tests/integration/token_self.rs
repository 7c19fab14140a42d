//! `GET /v1/tokens/self` through the local gateway: a token reads its own
//! metadata with nothing but itself, and once revoked gets the same 401 as
//! an unknown token.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::Stack;
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
    let unknown = chain
        .with_token("GET", "/v1/tokens/self", &format!("{}x", &token[..57]))
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
