//! Idle expiry against the local stack: the sweep over the idle index
//! revokes credentials unused for their window (the deployment's, or a
//! shorter one an org set), warns them 7 days and 1 day before, once per
//! stretch of idleness, never touches one used within it, and removes
//! last-use addresses past their retention. Through the gateway: the org
//! setting and its validation, and a revoked idle token's 401.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::{cogadmin_json, new_token, same_id_other_secret, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::idle::{sweep_idle, IdleReport};
use cog_tokens::records::{
    AuditAction, AuditEvent, LastUse, OrgPolicy, Owner, Timestamp, TokenRecord, TokenStatus, DAY_MS,
};
use cog_tokens::store::idle::IdleIndex;
use cog_tokens::store::{AuditLog, PrincipalStore, TokenStore};
use cog_tokens::{Pepper, PlainToken};
use serde_json::json;

/// A token of `owner` made `created_days` ago and, if `used_days`, last
/// used that many days ago from an address.
async fn made(
    store: &DynamoStore,
    pepper: &Pepper,
    owner: &Owner,
    now: Timestamp,
    created_days: f64,
    used_days: Option<f64>,
) -> (PlainToken, TokenRecord) {
    let ago = |days: f64| Timestamp(now.0 - (days * DAY_MS as f64) as i64);
    let (token, record) = new_token(owner, pepper, ago(created_days), None);
    let audit = AuditEvent::new(
        "test",
        AuditAction::TokenCreate,
        owner.clone(),
        record.created_at,
    );
    store.create_token(&record, 50, &audit).await.unwrap();
    if let Some(days) = used_days {
        let details =
            LastUse::default().after(ago(days), "198.51.100.4".parse().ok(), Some("cron/1"));
        assert!(store
            .touch_last_used(&record.id, ago(days), 0, &details)
            .await
            .unwrap());
    }
    let record = store.get_token(&record.id).await.unwrap().unwrap();
    (token, record)
}

async fn read(store: &DynamoStore, record: &TokenRecord) -> TokenRecord {
    store.get_token(&record.id).await.unwrap().unwrap()
}

/// The sweep's audit details for `record`.
async fn sweep_events(store: &DynamoStore, record: &TokenRecord) -> Vec<(String, String)> {
    store
        .audit_events(Some(&record.owner), 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "expiry-sweep" && e.token_id == Some(record.id))
        .map(|e| (e.action.as_str().to_owned(), e.detail.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn the_sweep_warns_then_revokes_idle_credentials_and_spares_used_ones() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["ida"]).await;
    let pepper = stack.current_pepper(&store).await;
    let ida = Owner::user("ida");
    let now = Timestamp::now();
    let (_, idle) = made(&store, &pepper, &ida, now, 100.0, None).await;
    let (_, used_long_ago) = made(&store, &pepper, &ida, now, 300.0, Some(91.0)).await;
    let (_, seven) = made(&store, &pepper, &ida, now, 85.0, None).await;
    let (_, one) = made(&store, &pepper, &ida, now, 89.5, None).await;
    let (_, used) = made(&store, &pepper, &ida, now, 200.0, Some(10.0)).await;
    let (_, addresses_old) = made(&store, &pepper, &ida, now, 200.0, Some(40.0)).await;
    let (_, young) = made(&store, &pepper, &ida, now, 2.0, None).await;

    let report = sweep_idle(&store, Some(90), now).await.unwrap();
    assert_eq!(
        report,
        IdleReport {
            seven_days: 1,
            one_day: 1,
            revoked: 2,
            // the two used 91 and 40 days ago
            addresses_removed: 2,
        }
    );
    for revoked in [&idle, &used_long_ago] {
        let after = read(&store, revoked).await;
        assert_eq!(after.status(now), TokenStatus::Revoked);
        let revocation = after.revoked.unwrap();
        assert_eq!(
            (revocation.by.as_str(), revocation.reason.as_str()),
            ("expiry-sweep", "idle_expired")
        );
    }
    let events = sweep_events(&store, &idle).await;
    assert_eq!(
        events,
        [(
            "token.revoke".to_owned(),
            "idle_expired: unused for 100 days (idle_expiry_days=90)".to_owned()
        )]
    );
    assert_eq!(
        sweep_events(&store, &seven).await,
        [(
            "token.expiring".to_owned(),
            "unused: revoked within 7 days unless used (idle_expiry_days=90)".to_owned()
        )]
    );
    assert_eq!(
        sweep_events(&store, &one).await[0].1,
        "unused: revoked within 1 day unless used (idle_expiry_days=90)"
    );
    for spared in [&seven, &one, &used, &addresses_old, &young] {
        assert_eq!(
            read(&store, spared).await.status(now),
            TokenStatus::Active,
            "{}",
            spared.name
        );
    }
    assert!(sweep_events(&store, &used).await.is_empty());
    assert_eq!(
        read(&store, &used).await.last_use,
        used.last_use,
        "within the retention"
    );
    let forgotten = read(&store, &addresses_old).await;
    assert!(forgotten.last_use.is_empty(), "{:?}", forgotten.last_use);
    assert_eq!(
        forgotten.last_used_at, addresses_old.last_used_at,
        "the time stays"
    );
    // The revoked token's addresses went too: 91 days old.
    assert!(read(&store, &used_long_ago).await.last_use.is_empty());

    // Again: nothing new, each warning once.
    assert_eq!(
        sweep_idle(&store, Some(90), now).await.unwrap(),
        IdleReport::default()
    );

    // Used after its warning: a later stretch of idleness is warned again.
    let later = Timestamp(now.0 + DAY_MS);
    assert!(store
        .touch_last_used(&seven.id, later, 0, &LastUse::default())
        .await
        .unwrap());
    let warned_again = Timestamp(later.0 + 84 * DAY_MS);
    let report = sweep_idle(&store, Some(90), warned_again).await.unwrap();
    assert!(report.seven_days >= 1, "{report:?}");
    assert_eq!(sweep_events(&store, &seven).await.len(), 2);

    // A damaged owner record skips that owner's credentials, not the run.
    use aws_sdk_dynamodb::types::AttributeValue;
    let (_, orphan) = made(&store, &pepper, &Owner::user("damaged"), now, 100.0, None).await;
    stack
        .dynamodb
        .put_item()
        .table_name(store.table())
        .item("pk", AttributeValue::S("USER#damaged".into()))
        .item("sk", AttributeValue::S("ACCOUNT".into()))
        .item("status", AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();
    let (_, beside) = made(&store, &pepper, &ida, now, 100.0, None).await;
    assert_eq!(sweep_idle(&store, Some(90), now).await.unwrap().revoked, 1);
    assert_eq!(
        read(&store, &beside).await.status(now),
        TokenStatus::Revoked
    );
    assert_eq!(read(&store, &orphan).await.status(now), TokenStatus::Active);

    // No deployment window and no org setting: nothing expires.
    let (_, ancient) = made(&store, &pepper, &ida, now, 700.0, None).await;
    assert_eq!(sweep_idle(&store, None, now).await.unwrap().revoked, 0);
    assert_eq!(
        read(&store, &ancient).await.status(now),
        TokenStatus::Active
    );
}

#[tokio::test]
async fn an_orgs_shorter_window_applies_to_the_credentials_acting_in_it() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["oda"]).await;
    let pepper = stack.current_pepper(&store).await;
    let oda = Owner::user("oda");
    let now = Timestamp::now();
    let (_, pat) = made(&store, &pepper, &oda, now, 40.0, None).await;
    let policy = OrgPolicy {
        idle_expiry_days: Some(30),
        ..OrgPolicy::default()
    };
    let audit = AuditEvent::new("user:oda", AuditAction::OrgPolicyPut, oda.clone(), now);
    store.put_org_policy("acme", &policy, &audit).await.unwrap();
    // Under the deployment's 365 days alone it would live on.
    let report = sweep_idle(&store, Some(365), now).await.unwrap();
    assert_eq!(report.revoked, 1, "{report:?}");
    assert_eq!(
        read(&store, &pat).await.revoked.unwrap().reason,
        "idle_expired"
    );
    assert_eq!(
        sweep_events(&store, &pat).await[0].1,
        "idle_expired: unused for 40 days (idle_expiry_days=30)"
    );

    // An org that blocked the PAT sets nothing for it.
    let (_, blocked) = made(&store, &pepper, &oda, now, 40.0, None).await;
    let block = AuditEvent::new("user:oda", AuditAction::TokenBlock, oda.clone(), now);
    store
        .block_in_org(&blocked.id, "acme", &block)
        .await
        .unwrap();
    assert_eq!(sweep_idle(&store, Some(365), now).await.unwrap().revoked, 0);
    assert_eq!(
        read(&store, &blocked).await.status(now),
        TokenStatus::Active
    );

    // A PAT limited to an org without the setting keeps the deployment's.
    let mut account = store.get_account("oda").await.unwrap().unwrap();
    account.orgs.push(cog_tokens::records::OrgMembership {
        org_id: "globex".into(),
        role: "member".into(),
    });
    store
        .put_account(
            &account,
            &AuditEvent::new("test", AuditAction::AccountPut, oda.clone(), now),
        )
        .await
        .unwrap();
    let (_, mut limited) = new_token(&oda, &pepper, Timestamp(now.0 - 40 * DAY_MS), None);
    limited.org_limit = Some(vec!["globex".into()]);
    let create = AuditEvent::new(
        "test",
        AuditAction::TokenCreate,
        oda.clone(),
        limited.created_at,
    );
    store.create_token(&limited, 50, &create).await.unwrap();
    assert_eq!(sweep_idle(&store, Some(365), now).await.unwrap().revoked, 0);
    assert_eq!(
        read(&store, &limited).await.status(now),
        TokenStatus::Active
    );
}

/// `cogadmin token idle-backfill`: a token made before the index existed
/// (no index keys) is invisible to the sweep until the backfill.
#[tokio::test]
async fn the_backfill_puts_older_tokens_into_the_idle_index() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["bea"]).await;
    let pepper = stack.current_pepper(&store).await;
    let now = Timestamp::now();
    let (_, old) = made(&store, &pepper, &Owner::user("bea"), now, 400.0, None).await;
    // Older than the sweep's walk reaches (733 days): joined where it looks.
    let (_, ancient) = made(&store, &pepper, &Owner::user("bea"), now, 1_000.0, None).await;
    for record in [&old, &ancient] {
        store.leave_idle_index(&record.id).await.unwrap();
    }
    assert_eq!(sweep_idle(&store, Some(365), now).await.unwrap().revoked, 0);

    let backfill = |extra: &[&str]| {
        let args: Vec<&str> = ["token", "idle-backfill"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        cogadmin_json(store.table(), &args, &[])
    };
    let dry = backfill(&["--dry-run"]);
    assert_eq!(
        (dry["active"].as_u64(), dry["joined"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(sweep_idle(&store, Some(365), now).await.unwrap().revoked, 0);
    assert_eq!(backfill(&[])["joined"], 2);
    assert_eq!(backfill(&[])["joined"], 0, "idempotent");
    assert_eq!(sweep_idle(&store, Some(365), now).await.unwrap().revoked, 2);
    assert_eq!(read(&store, &old).await.status(now), TokenStatus::Revoked);
    assert_eq!(
        read(&store, &ancient).await.status(now),
        TokenStatus::Revoked
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_org_setting_through_the_gateway_and_an_idle_revoked_token_answers_like_an_unknown_one()
{
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["gus"]).await;
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        ..ChainConfig::default()
    });
    let cookie = chain.sign_in("gus").await;
    let put = |body: serde_json::Value| {
        let (chain, cookie) = (&chain, cookie.clone());
        async move {
            let headers = [
                ("cookie", cookie.as_str()),
                ("content-type", "application/json"),
            ];
            chain
                .call("PUT", "/v1/orgs/acme/policy", &headers, &body.to_string())
                .await
        }
    };
    for bad in [json!(10), json!(400), json!(0), json!("ninety")] {
        let refused = put(json!({"pat_access": "allowed", "idle_expiry_days": bad})).await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
        let problem = refused.json();
        if bad.is_number() {
            assert_eq!(problem["code"], "invalid_idle_expiry", "{problem}");
            assert_eq!(problem["field"], "idle_expiry_days");
        }
    }
    let accepted = put(json!({"pat_access": "allowed", "idle_expiry_days": 60})).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.json()["idle_expiry_days"], 60);
    let read_back = chain
        .call(
            "GET",
            "/v1/orgs/acme/policy",
            &[("cookie", cookie.as_str())],
            "",
        )
        .await;
    assert_eq!(read_back.json()["idle_expiry_days"], 60);
    let account = chain
        .call("GET", "/v1/account", &[("cookie", cookie.as_str())], "")
        .await;
    assert_eq!(account.json()["issuance"]["idle_expiry_days"], 365);

    // A token unused for 61 days, swept as the hourly run sweeps.
    let pepper = stack.current_pepper(&store).await;
    let now = Timestamp::now();
    let (token, record) = made(&store, &pepper, &Owner::user("gus"), now, 61.0, None).await;
    let works = chain
        .with_token("GET", "/v1/whoami", token.expose_secret())
        .await;
    assert_eq!(works.status, 200, "{}", works.body);
    // That use counts: the sweep spares it.
    let mut used = read(&store, &record).await;
    for _ in 0..50 {
        if used.last_used_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        used = read(&store, &record).await;
    }
    assert!(used.last_used_at.is_some(), "the use was never recorded");
    assert_eq!(sweep_idle(&store, Some(365), now).await.unwrap().revoked, 0);

    let (token, _) = made(&store, &pepper, &Owner::user("gus"), now, 61.0, None).await;
    assert_eq!(sweep_idle(&store, Some(365), now).await.unwrap().revoked, 1);
    let revoked = chain
        .with_token("GET", "/v1/whoami", token.expose_secret())
        .await;
    let unknown = chain
        .with_token(
            "GET",
            "/v1/whoami",
            &same_id_other_secret(token.expose_secret()),
        )
        .await;
    assert_eq!((revoked.status, revoked.json()), (401, unknown.json()));
    assert_eq!(unknown.status, 401);
}
