//! Last-use details through the local gateway: a request's address and user
//! agent, as the gateway's event tells them to the authorizer, reach the
//! owner's listing and the org admins' inventory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::Duration;

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::{workspace_binary, Stack};
use serde_json::{json, Value};

/// The listed credential `id` from `path`'s `field` list, once its last use
/// shows (the authorizer may record it after answering).
async fn listed_once_used(chain: &Chain, cookie: &str, path: &str, field: &str, id: &str) -> Value {
    for _ in 0..50 {
        let answer = chain.call("GET", path, &[("cookie", cookie)], "").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let found = answer.json()[field]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not in {path}: {}", answer.body));
        if !found["last_used_at"].is_null() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path}: the use of {id} was never recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_and_the_org_admins_see_where_a_token_was_last_used_from() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["lana"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("lana").await;
    let created = chain.create_token(&cookie, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.json()["last_use"],
        json!({"source_ip": null, "user_agent": null, "recent_addresses": []})
    );

    let auth = format!("Bearer {token}");
    let agent = "deploy-bot/3.1 (+https://example.com/bot)";
    let used = chain
        .call(
            "GET",
            "/v1/tokens/self",
            &[("authorization", &auth), ("user-agent", agent)],
            "",
        )
        .await;
    assert_eq!(used.status, 200, "{}", used.body);

    let own = listed_once_used(&chain, &cookie, "/v1/tokens?status=all", "tokens", &id).await;
    let last_use = &own["last_use"];
    assert_eq!(last_use["source_ip"], "127.0.0.1");
    assert_eq!(last_use["user_agent"], agent);
    let recent = last_use["recent_addresses"].as_array().unwrap();
    assert_eq!(recent.len(), 1, "{last_use}");
    assert_eq!(recent[0]["ip"], "127.0.0.1");
    assert!(recent[0]["last_seen_at"].as_str().unwrap().ends_with('Z'));

    // lana is an admin of acme, where the PAT acts: the inventory shows the same.
    let listed = listed_once_used(
        &chain,
        &cookie,
        "/v1/orgs/acme/credentials?type=pat",
        "credentials",
        &id,
    )
    .await;
    assert_eq!(listed["last_use"], own["last_use"]);
    assert_eq!(listed["last_used_at"], own["last_used_at"]);

    // An operator investigating sees the same (`cogadmin token show`).
    let shown = std::process::Command::new(workspace_binary("cogadmin"))
        .args(["--json", "token", "show", &id])
        .env("TABLE_NAME", store.table())
        .env("COGADMIN_ACTOR", "it-ops")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&shown.stdout);
    let shown: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(shown["last_used_ip"], "127.0.0.1");
    assert_eq!(shown["last_used_user_agent"], agent);
    assert_eq!(shown["recent_addresses"][0]["ip"], "127.0.0.1");
    assert!(chain.leaks(&[token]).is_empty(), "{:?}", chain.leaks(&[]));
}
