//! The operator's mass revocation and restore reconciliation against
//! DynamoDB Local: the `TokenScan` port, then `cogadmin token revoke`
//! (by pepper version, org, issue window; dry run first) and `cogadmin
//! restore-reconcile` between two tables, run as the operator runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;

use cog_integration_tests::{new_token, unique, workspace_binary, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::aws::kms::add_pepper_version;
use cog_tokens::records::{
    AuditAction, AuditEvent, Owner, PrincipalStatus, Revocation, ServiceUser, Timestamp,
    TokenRecord, TokenStatus,
};
use cog_tokens::store::{
    AuditLog, PepperStore, PrincipalStore, StoreError, TokenScan, TokenScanFilter, TokenStore,
};
use cog_tokens::{Pepper, PepperVersion};
use serde_json::{json, Value};

/// `cogadmin --json` with `args` against `table`, as operator `it-ops`: its
/// exit code, stdout's last JSON line and stderr.
fn cogadmin(table: &str, args: &[&str]) -> (i32, Value, String) {
    cogadmin_with(table, args, &[("COGADMIN_ACTOR", "it-ops")])
}

fn cogadmin_with(table: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    let mut command = Command::new(workspace_binary("cogadmin"));
    command
        .arg("--json")
        .args(args)
        .env("TABLE_NAME", table)
        .env_remove("COGADMIN_ACTOR");
    for (name, value) in env {
        match *value {
            "" => command.env_remove(name),
            value => command.env(name, value),
        };
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let last = stdout.lines().last().unwrap_or("null");
    let json = serde_json::from_str(last).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), json, stderr)
}

fn ok(table: &str, args: &[&str]) -> Value {
    let (code, json, stderr) = cogadmin(table, args);
    assert_eq!(code, 0, "cogadmin {args:?} failed: {stderr}");
    json
}

/// Runs `args`, expecting exit `code`; returns stderr.
fn fails(table: &str, args: &[&str], code: i32) -> String {
    let (actual, _, stderr) = cogadmin(table, args);
    assert_eq!(actual, code, "cogadmin {args:?}: {stderr}");
    stderr
}

fn pepper(version: u32) -> Pepper {
    Pepper::new(PepperVersion(version), &[version as u8; 32]).unwrap()
}

/// A token of `owner` under pepper `version`, created at `created_at`, stored.
async fn token(
    store: &DynamoStore,
    owner: &Owner,
    version: u32,
    created_at: Timestamp,
) -> TokenRecord {
    let (_, record) = new_token(owner, &pepper(version), created_at, None);
    stored(store, record).await
}

async fn stored(store: &DynamoStore, record: TokenRecord) -> TokenRecord {
    let audit = AuditEvent::new(
        "test",
        AuditAction::TokenCreate,
        record.owner.clone(),
        record.created_at,
    )
    .for_token(record.id);
    store.create_token(&record, 50, &audit).await.unwrap();
    record
}

async fn status(store: &DynamoStore, record: &TokenRecord) -> TokenStatus {
    let now = Timestamp::now();
    store
        .get_token(&record.id)
        .await
        .unwrap()
        .unwrap()
        .status(now)
}

/// How many `token.revoke` events name `record` in its owner's trail.
async fn revoke_events(store: &DynamoStore, record: &TokenRecord) -> usize {
    let events = store.audit_events(Some(&record.owner), 50).await.unwrap();
    events
        .iter()
        .filter(|e| e.action == AuditAction::TokenRevoke && e.token_id == Some(record.id))
        .count()
}

fn revocation(at: Timestamp) -> Revocation {
    Revocation {
        at,
        by: "user:test".into(),
        reason: "test".into(),
    }
}

#[tokio::test]
async fn a_token_scan_pages_through_every_token_once_among_other_items_and_filters_exactly() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["scan_a", "scan_b"]).await;
    let now = Timestamp::now();
    let mut all = Vec::new();
    for (i, user) in ["scan_a", "scan_b"].iter().cycle().take(12).enumerate() {
        let version = if i % 3 == 0 { 2 } else { 1 };
        let created = Timestamp(now.0 - 10_000 + i as i64);
        all.push(token(&store, &Owner::user(*user), version, created).await);
    }
    // Counters, names, accounts, audit events and peppers share the table:
    // pages of 5 items read often end on one of those.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .scan_tokens(&TokenScanFilter::default(), 5, cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.tokens.len() <= 5);
        seen.extend(page.tokens.iter().map(|t| t.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<_> = all.iter().map(|t| t.id).collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected, "every token once");
    assert!(pages > 12 / 5, "the limit bounds each page ({pages} pages)");

    let scan = |filter: TokenScanFilter| {
        let store = store.clone();
        async move {
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = store
                    .scan_tokens(&filter, 1_000, cursor.as_deref())
                    .await
                    .unwrap();
                ids.extend(page.tokens.into_iter().map(|t| t.id));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => return ids,
                }
            }
        }
    };
    let v2 = scan(TokenScanFilter {
        pepper_version: Some(PepperVersion(2)),
        ..TokenScanFilter::default()
    })
    .await;
    assert_eq!(v2.len(), 4);
    let window = scan(TokenScanFilter {
        created_after: Some(all[2].created_at),
        created_before: Some(all[6].created_at),
        ..TokenScanFilter::default()
    })
    .await;
    let mut inside: Vec<_> = all[3..6].iter().map(|t| t.id).collect();
    inside.sort();
    let mut window = window;
    window.sort();
    assert_eq!(window, inside, "strictly inside the window");

    let audit = AuditEvent::new("test", AuditAction::TokenRevoke, all[0].owner.clone(), now);
    store
        .revoke_token(&all[0].id, &revocation(now), &audit)
        .await
        .unwrap();
    let active = scan(TokenScanFilter {
        active_at: Some(Timestamp::now()),
        ..TokenScanFilter::default()
    })
    .await;
    assert_eq!(active.len(), 11);
    assert!(!active.contains(&all[0].id));

    let bad = store
        .scan_tokens(&TokenScanFilter::default(), 5, Some("garbage!"))
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor)), "{bad:?}");
}

#[tokio::test]
async fn given_a_rotated_pepper_when_its_tokens_are_revoked_by_version_then_the_dry_run_counts_and_the_run_revokes_them_all(
) {
    let stack = Stack::connect().await;
    let (store, key) = stack.seeded(&["pep_a", "pep_b"]).await;
    let now = Timestamp::now();
    let (a, b) = (Owner::user("pep_a"), Owner::user("pep_b"));
    let old = [
        token(&store, &a, 1, now).await,
        token(&store, &a, 1, now).await,
        token(&store, &b, 1, now).await,
    ];
    let gone = token(&store, &b, 1, now).await;
    let audit =
        AuditEvent::new("test", AuditAction::TokenRevoke, b.clone(), now).for_token(gone.id);
    store
        .revoke_token(&gone.id, &revocation(now), &audit)
        .await
        .unwrap();
    let table = store.table().to_owned();

    // v1 is current: refused without --force.
    let stderr = fails(&table, &["token", "revoke", "--pepper-version", "1"], 5);
    assert!(stderr.contains("current version"), "{stderr}");

    add_pepper_version(&stack.kms, &store, &key, "test")
        .await
        .unwrap();
    let new = token(&store, &a, 2, now).await;
    let stderr = fails(&table, &["token", "revoke", "--pepper-version", "7"], 3);
    assert!(stderr.contains("no pepper"), "{stderr}");

    let dry = ok(
        &table,
        &["token", "revoke", "--pepper-version", "1", "--dry-run"],
    );
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["matched"], 3);
    assert_eq!(dry["revoked"], 0);
    for record in &old {
        assert_eq!(status(&store, record).await, TokenStatus::Active);
        assert_eq!(revoke_events(&store, record).await, 0);
    }
    // Retiring is refused while live tokens use it, and says what to run.
    let stderr = fails(&table, &["pepper", "retire", "1", "--dry-run"], 5);
    assert!(
        stderr.contains("token revoke --pepper-version 1"),
        "{stderr}"
    );

    let real = ok(
        &table,
        &[
            "token",
            "revoke",
            "--pepper-version",
            "1",
            "--reason",
            "pepper v1 suspect",
        ],
    );
    assert_eq!(
        (real["matched"].as_u64(), real["revoked"].as_u64()),
        (Some(3), Some(3))
    );
    for record in &old {
        assert_eq!(status(&store, record).await, TokenStatus::Revoked);
        assert_eq!(
            revoke_events(&store, record).await,
            1,
            "one audit event each"
        );
        let stored = store.get_token(&record.id).await.unwrap().unwrap();
        let revoked = stored.revoked.unwrap();
        assert_eq!(revoked.reason, "pepper v1 suspect");
        assert_eq!(revoked.by, "operator:it-ops");
        let events = store.audit_events(Some(&record.owner), 50).await.unwrap();
        let event = events
            .iter()
            .find(|e| e.action == AuditAction::TokenRevoke && e.token_id == Some(record.id))
            .unwrap();
        assert_eq!(event.actor, "operator:it-ops", "the operator is the actor");
        assert_eq!(event.detail.as_deref(), Some("pepper v1 suspect"));
    }
    assert_eq!(status(&store, &new).await, TokenStatus::Active);
    assert_eq!(
        revoke_events(&store, &gone).await,
        1,
        "the revoked one untouched"
    );

    // Nothing left: a second run revokes none, and v1 can be retired.
    let again = ok(&table, &["token", "revoke", "--pepper-version", "1"]);
    assert_eq!(again["matched"], 0);
    let dry = ok(&table, &["pepper", "retire", "1", "--dry-run"]);
    assert_eq!(dry["would_retire"], true);
    assert!(
        !store.list_peppers().await.unwrap()[0].retired,
        "a dry run retires nothing"
    );
    ok(&table, &["pepper", "retire", "1"]);
    let peppers = store.list_peppers().await.unwrap();
    assert!(peppers
        .iter()
        .any(|p| p.version == PepperVersion(1) && p.retired));
}

#[tokio::test]
async fn given_an_org_or_an_issue_window_then_exactly_the_selected_credentials_are_revoked() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["org_member"]).await;
    let now = Timestamp::now();
    let org = unique("org");
    for (id, org_id) in [
        ("svc_mass_ours", org.as_str()),
        ("svc_mass_theirs", "elsewhere"),
    ] {
        let user = ServiceUser {
            id: id.into(),
            name: id.into(),
            org_id: org_id.into(),
            role: "deployer".into(),
            status: PrincipalStatus::Active,
            created_at: now,
            tokens_valid_after: None,
        };
        let audit = AuditEvent::new(
            "test",
            AuditAction::ServiceUserCreate,
            Owner::service_user(id),
            now,
        );
        store.create_service_user(&user, 10, &audit).await.unwrap();
    }
    let earlier = Timestamp(now.0 - 5_000);
    let key = token(&store, &Owner::service_user("svc_mass_ours"), 1, earlier).await;
    let other_key = token(&store, &Owner::service_user("svc_mass_theirs"), 1, earlier).await;
    let member = Owner::user("org_member");
    let limited = |orgs: Vec<String>| {
        let (_, mut record) = new_token(&member, &pepper(1), earlier, None);
        record.org_limit = Some(orgs);
        record
    };
    let only_here = stored(&store, limited(vec![org.clone()])).await;
    let mut both = vec![org.clone(), "elsewhere".to_owned()];
    both.sort();
    let two_orgs = stored(&store, limited(both)).await;
    let personal = token(&store, &member, 1, earlier).await;
    let table = store.table().to_owned();

    let dry = ok(&table, &["token", "revoke", "--org", &org, "--dry-run"]);
    assert_eq!(
        (dry["matched"].as_u64(), dry["owners_cut_off"].as_u64()),
        (Some(2), Some(1))
    );
    let untouched = store
        .get_service_user("svc_mass_ours")
        .await
        .unwrap()
        .unwrap();
    assert!(
        untouched.tokens_valid_after.is_none(),
        "a dry run moves no watermark"
    );
    assert_eq!(status(&store, &key).await, TokenStatus::Active);
    let real = ok(&table, &["token", "revoke", "--org", &org]);
    assert_eq!(
        (real["revoked"].as_u64(), real["owners_cut_off"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(status(&store, &key).await, TokenStatus::Revoked);
    assert_eq!(status(&store, &only_here).await, TokenStatus::Revoked);
    for untouched in [&other_key, &two_orgs, &personal] {
        assert_eq!(status(&store, untouched).await, TokenStatus::Active);
    }
    let ours = store
        .get_service_user("svc_mass_ours")
        .await
        .unwrap()
        .unwrap();
    assert!(ours.tokens_valid_after.is_some(), "the watermark moved too");

    // A window: tokens made in it go, the ones made before stay.
    let start = Timestamp::now();
    let in_window = [
        token(&store, &member, 1, start.plus_millis(10)).await,
        token(
            &store,
            &Owner::service_user("svc_mass_theirs"),
            1,
            start.plus_millis(20),
        )
        .await,
    ];
    let after = rfc3339(start);
    let before = rfc3339(start.plus_millis(1_000));
    let window = [
        "token",
        "revoke",
        "--issued-after",
        &after,
        "--issued-before",
        &before,
    ];
    let dry = ok(&table, &[&window[..], &["--dry-run"]].concat());
    assert_eq!(dry["matched"], 2);
    let real = ok(&table, &window);
    assert_eq!(real["revoked"], 2);
    for record in &in_window {
        assert_eq!(status(&store, record).await, TokenStatus::Revoked);
        assert_eq!(revoke_events(&store, record).await, 1);
    }
    assert_eq!(status(&store, &personal).await, TokenStatus::Active);

    // One token by id, and an owner's all, both with a dry run.
    let one = ["token", "revoke", "--id", personal.id.as_str()];
    assert_eq!(
        ok(&table, &[&one[..], &["--dry-run"]].concat())["matched"],
        1
    );
    assert_eq!(status(&store, &personal).await, TokenStatus::Active);
    assert_eq!(ok(&table, &one)["revoked"], 1);
    let shown = ok(&table, &["token", "show", personal.id.as_str()]);
    assert_eq!(shown["status"], "revoked");
    assert_eq!(shown["revoked_by"], "operator:it-ops");
    let dry = ok(
        &table,
        &["token", "revoke-all", "--owner", "org_member", "--dry-run"],
    );
    assert_eq!(dry["matched"], 1, "two_orgs is the one left");
    assert_eq!(status(&store, &two_orgs).await, TokenStatus::Active);
    let real = ok(&table, &["token", "revoke", "--owner", "org_member"]);
    assert_eq!(real["revoked"], 1, "as the dry run counted");
    assert_eq!(status(&store, &two_orgs).await, TokenStatus::Revoked);
    assert_eq!(status(&store, &other_key).await, TokenStatus::Active);
}

/// `at` in RFC 3339 with milliseconds, UTC (civil from days, Howard Hinnant's).
fn rfc3339(at: Timestamp) -> String {
    let (days, ms) = (at.0.div_euclid(86_400_000), at.0.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1_000 % 60,
        ms % 1_000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[test]
fn the_tests_rfc3339_is_the_calendars() {
    assert_eq!(
        rfc3339(Timestamp(1_796_317_200_500)),
        "2026-12-03T17:00:00.500Z"
    );
    assert_eq!(
        rfc3339(Timestamp(1_709_164_800_000)),
        "2024-02-29T00:00:00.000Z"
    );
}

#[tokio::test]
async fn given_a_restored_table_missing_later_revocations_then_restore_reconcile_reapplies_them_and_the_pepper_ring(
) {
    let stack = Stack::connect().await;
    // The source: the live table with everything since the restore point.
    let (source, key) = stack.seeded(&["rr_alice", "rr_bob"]).await;
    // The "restored" table: the same state as of the restore point.
    let restored = stack.fresh_store().await;
    for stored_pepper in source.list_peppers().await.unwrap() {
        let audit = AuditEvent::system("test", AuditAction::PepperAdd, Timestamp::now());
        restored.add_pepper(&stored_pepper, &audit).await.unwrap();
    }
    for user in ["rr_alice", "rr_bob"] {
        let account = cog_integration_tests::beta_account(user);
        restored
            .put_account(&account, &account.audit_put("test", Timestamp::now()))
            .await
            .unwrap();
    }
    let now = Timestamp::now();
    let (alice, bob) = (Owner::user("rr_alice"), Owner::user("rr_bob"));
    let mut tokens = Vec::new();
    for owner in [&alice, &alice, &alice, &bob] {
        let (_, record) = new_token(owner, &pepper(1), Timestamp(now.0 - 60_000), None);
        stored(&source, record.clone()).await;
        stored(&restored, record.clone()).await;
        tokens.push(record);
    }
    // After the restore point, in the source only: a revocation, an org
    // block, bob's revoke-all, a pepper rotation; and a token deleted.
    let audit =
        |owner: &Owner| AuditEvent::new("test", AuditAction::TokenRevoke, owner.clone(), now);
    source
        .revoke_token(&tokens[0].id, &revocation(now), &audit(&alice))
        .await
        .unwrap();
    source
        .block_in_org(&tokens[1].id, "acme", &audit(&alice))
        .await
        .unwrap();
    source
        .revoke_tokens_before(&bob, now, &audit(&bob))
        .await
        .unwrap();
    add_pepper_version(&stack.kms, &source, &key, "test")
        .await
        .unwrap();
    let absent = token(&restored, &alice, 1, Timestamp(now.0 - 50_000)).await;
    let untouched = &tokens[2];
    let table = restored.table().to_owned();

    // Refuses to reconcile a table with itself.
    let point = rfc3339(Timestamp(now.0 - 30_000));
    let args = |from: &str| {
        let args = ["restore-reconcile", "--from-table", from, "--restore-point"];
        args.iter()
            .map(|a| (*a).to_owned())
            .chain([point.clone()])
            .collect::<Vec<_>>()
    };
    let itself = args(&table);
    let itself: Vec<&str> = itself.iter().map(String::as_str).collect();
    fails(&table, &itself, 2);

    let reconcile = args(source.table());
    let reconcile: Vec<&str> = reconcile.iter().map(String::as_str).collect();
    let dry = ok(&table, &[&reconcile[..], &["--dry-run"]].concat());
    assert_eq!(dry["checked"], 5);
    assert_eq!(dry["revoked_in_source"], 1);
    assert_eq!(dry["absent_from_source"], 1);
    assert_eq!(dry["owner_cut_off"], 1);
    assert_eq!(dry["narrowed"], 1);
    assert_eq!(dry["peppers_added"], 1);
    assert_eq!(dry["revoked"], 0);
    assert_eq!(status(&restored, &tokens[0]).await, TokenStatus::Active);
    assert_eq!(restored.list_peppers().await.unwrap().len(), 1);

    let real = ok(&table, &reconcile);
    assert_eq!(real["revoked"], 3);
    assert_eq!(real["peppers_added"], 1);
    let first = restored.get_token(&tokens[0].id).await.unwrap().unwrap();
    assert_eq!(
        first.revoked.map(|r| r.at),
        Some(now),
        "at the source's time"
    );
    assert_eq!(
        revoke_events(&restored, &tokens[0]).await,
        1,
        "audited in the restored table"
    );
    assert_eq!(status(&restored, &tokens[3]).await, TokenStatus::Revoked);
    assert_eq!(status(&restored, &absent).await, TokenStatus::Revoked);
    let blocked = restored.get_token(&tokens[1].id).await.unwrap().unwrap();
    assert_eq!(blocked.org_decisions.blocked, vec!["acme".to_owned()]);
    assert_eq!(status(&restored, untouched).await, TokenStatus::Active);
    let versions: Vec<_> = restored
        .list_peppers()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.version)
        .collect();
    assert_eq!(
        versions,
        vec![PepperVersion(1), PepperVersion(2)],
        "v2 current again"
    );

    // Idempotent: the second run (after switching traffic) finds nothing.
    let again = ok(&table, &reconcile);
    assert_eq!(
        (again["checked"].as_u64(), again["revoked"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(again["narrowed"], 0);
    assert_eq!(again["peppers_added"], 0);
}

#[tokio::test]
async fn cogadmin_exits_by_failure_class_records_the_callers_identity_and_lists_one_tokens_trail() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["cli_user"]).await;
    let table = store.table().to_owned();
    let owner = Owner::user("cli_user");
    let kept = token(&store, &owner, 1, Timestamp::now()).await;
    let leaked = token(&store, &owner, 1, Timestamp::now()).await;
    let missing = new_token(&owner, &pepper(1), Timestamp::now(), None).1.id;

    // Not found (3), usage (2), refused (5): each its own code.
    fails(&table, &["token", "show", missing.as_str()], 3);
    fails(&table, &["token", "revoke", "--id", missing.as_str()], 3);
    fails(&table, &["account", "get", "nobody_here"], 3);
    fails(&table, &["token", "revoke"], 2);
    fails(&table, &["token", "revoke", "--id", "not-an-id"], 2);
    let (code, _, stderr) = cogadmin_with("", &["pepper", "list"], &[("TABLE_NAME", "")]);
    assert_eq!(code, 2, "{stderr}");
    fails(
        &table,
        &[
            "service-user",
            "create",
            "svc_cli",
            "--org",
            "acme",
            "--role",
            "r",
        ],
        0,
    );
    fails(
        &table,
        &[
            "service-user",
            "create",
            "svc_cli",
            "--org",
            "acme",
            "--role",
            "r",
        ],
        5,
    );
    // Unavailable (4): nothing listens there.
    let (code, _, stderr) = cogadmin_with(
        &table,
        &["token", "show", kept.id.as_str()],
        &[
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    assert_eq!(code, 4, "{stderr}");

    // Without --actor, locally, the actor is the login name: never a constant.
    let (code, json, stderr) = cogadmin_with(
        &table,
        &[
            "token",
            "revoke",
            "--id",
            leaked.id.as_str(),
            "--reason",
            "leaked",
        ],
        &[("USER", "dana-ops")],
    );
    assert_eq!((code, json["revoked"].as_u64()), (0, Some(1)), "{stderr}");
    let revoked = store
        .get_token(&leaked.id)
        .await
        .unwrap()
        .unwrap()
        .revoked
        .unwrap();
    assert_eq!(revoked.by, "operator:dana-ops");

    // The token's own trail, and the owner's list by status.
    let trail = Command::new(workspace_binary("cogadmin"))
        .args([
            "--json",
            "audit",
            "--owner",
            "cli_user",
            "--token",
            leaked.id.as_str(),
        ])
        .env("TABLE_NAME", &table)
        .output()
        .unwrap();
    assert!(trail.status.success());
    let events: Vec<Value> = String::from_utf8_lossy(&trail.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["token.revoke", "token.create"],
        "newest first, this token only"
    );
    assert_eq!(events[0]["actor"], "operator:dana-ops");
    let listing = Command::new(workspace_binary("cogadmin"))
        .args([
            "--json", "token", "list", "--owner", "cli_user", "--status", "active",
        ])
        .env("TABLE_NAME", &table)
        .output()
        .unwrap();
    let active: Vec<Value> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["id"], kept.id.as_str());
}

/// A TCP forwarder from this machine's non-loopback address to `target`
/// (DynamoDB Local listens on loopback only): an endpoint cogadmin must
/// treat as AWS. Returns its `http://` URL.
fn non_loopback_forwarder(target: std::net::SocketAddr) -> String {
    use std::net::{TcpListener, TcpStream, UdpSocket};
    // The address outbound traffic would leave from (nothing is sent).
    let probe = UdpSocket::bind("0.0.0.0:0").unwrap();
    probe.connect("192.0.2.1:9").unwrap();
    let ip = probe.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "no non-loopback address: {ip}");
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let (mut client_in, mut server_out) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
            let (mut server_in, mut client_out) = (server, client);
            std::thread::spawn(move || std::io::copy(&mut server_in, &mut client_out));
        }
    });
    url
}

#[tokio::test]
async fn cogadmin_init_creates_a_table_only_on_a_local_endpoint_unless_allowed() {
    let stack = Stack::connect().await;
    let key = stack.fresh_key().await;
    let exists = |table: String| {
        let client = stack.dynamodb.clone();
        async move {
            client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .is_ok()
        }
    };
    let local = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap();
    let target = local
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let remote = non_loopback_forwarder(target);
    // "AWS" here: the same DynamoDB through a non-loopback address, and
    // moto's STS (on the KMS emulator's port) for the caller's identity.
    let sts = std::env::var("AWS_ENDPOINT_URL_KMS").unwrap();
    let aws = [
        ("AWS_ENDPOINT_URL_DYNAMODB", remote.as_str()),
        ("AWS_ENDPOINT_URL_STS", sts.as_str()),
    ];

    // Against AWS a missing table is refused, a dry run included.
    let table = unique("init");
    for dry in [&["--dry-run"][..], &[]] {
        let (code, _, stderr) = cogadmin_with(
            &table,
            &[&["init", "--key-id", &key][..], dry].concat(),
            &aws,
        );
        assert_eq!(code, 5, "{stderr}");
        assert!(stderr.contains("--allow-aws"), "{stderr}");
    }
    assert!(!exists(table.clone()).await, "nothing created");

    // Locally: a dry run creates nothing, then init creates both once.
    let dry = ok(&table, &["init", "--key-id", &key, "--dry-run"]);
    assert_eq!(
        (
            &dry["table_would_be_created"],
            &dry["pepper_would_be_created"]
        ),
        (&Value::Bool(true), &Value::Bool(true))
    );
    assert!(!exists(table.clone()).await, "a dry run creates nothing");
    let made = ok(&table, &["init", "--key-id", &key]);
    assert_eq!(
        (&made["table_created"], &made["pepper_created"]),
        (&Value::Bool(true), &json!(1))
    );
    let again = ok(&table, &["init", "--key-id", &key]);
    assert_eq!(
        (&again["table_created"], &again["pepper_created"]),
        (&Value::Bool(false), &Value::Null)
    );
    let store = DynamoStore::new(stack.dynamodb.clone(), table.clone());
    let trail = store.audit_events(None, 10).await.unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.action == AuditAction::PepperAdd && e.actor == "operator:it-ops"),
        "{trail:?}"
    );

    // Against AWS, the stack's table (it exists) gets pepper v1, and the
    // actor is the caller's STS identity with the name given.
    let deployed = stack.fresh_store().await;
    let (code, json, stderr) = cogadmin_with(
        deployed.table(),
        &["init", "--key-id", &key],
        &[aws[0], aws[1], ("COGADMIN_ACTOR", "it-ops")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        (&json["table_created"], &json["pepper_created"]),
        (&Value::Bool(false), &json!(1))
    );
    let trail = deployed.audit_events(None, 10).await.unwrap();
    let actor = &trail
        .iter()
        .find(|e| e.action == AuditAction::PepperAdd)
        .unwrap()
        .actor;
    assert!(actor.starts_with("operator:it-ops (arn:aws:"), "{actor}");

    // Asked explicitly, a missing table is created in "AWS".
    let scratch = unique("init");
    let (code, json, stderr) = cogadmin_with(
        &scratch,
        &["init", "--key-id", &key, "--allow-aws"],
        &[aws[0], aws[1], ("COGADMIN_ACTOR", "it-ops")],
    );
    assert_eq!(
        (code, &json["table_created"]),
        (0, &Value::Bool(true)),
        "{stderr}"
    );
    assert!(exists(scratch).await);
}

#[tokio::test]
async fn given_a_token_item_lost_from_the_source_then_its_revocation_in_the_sources_trail_is_reapplied(
) {
    let stack = Stack::connect().await;
    let (source, _key) = stack.seeded(&["rr_carol"]).await;
    let restored = stack.fresh_store().await;
    for stored_pepper in source.list_peppers().await.unwrap() {
        let audit = AuditEvent::system("test", AuditAction::PepperAdd, Timestamp::now());
        restored.add_pepper(&stored_pepper, &audit).await.unwrap();
    }
    let account = cog_integration_tests::beta_account("rr_carol");
    restored
        .put_account(&account, &account.audit_put("test", Timestamp::now()))
        .await
        .unwrap();
    let now = Timestamp::now();
    let carol = Owner::user("rr_carol");
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (_, record) = new_token(&carol, &pepper(1), Timestamp(now.0 - 60_000), None);
        stored(&source, record.clone()).await;
        stored(&restored, record.clone()).await;
        tokens.push(record);
    }
    // After the restore point the first is revoked in the source; then the
    // damage the restore undoes deletes both token items there.
    let audit = AuditEvent::new(
        "user:rr_carol",
        AuditAction::TokenRevoke,
        carol.clone(),
        now,
    )
    .for_token(tokens[0].id);
    source
        .revoke_token(&tokens[0].id, &revocation(now), &audit)
        .await
        .unwrap();
    for record in &tokens {
        stack
            .dynamodb
            .delete_item()
            .table_name(source.table())
            .key("pk", AttributeValue::S(format!("TOKEN#{}", record.id)))
            .key("sk", AttributeValue::S("TOKEN".into()))
            .send()
            .await
            .unwrap();
        assert!(source.get_token(&record.id).await.unwrap().is_none());
    }
    let point = rfc3339(Timestamp(now.0 - 30_000));
    let reconcile = [
        "restore-reconcile",
        "--from-table",
        source.table(),
        "--restore-point",
        &point,
        "--keep-absent",
    ];
    let table = restored.table().to_owned();
    let dry = ok(&table, &[&reconcile[..], &["--dry-run"]].concat());
    assert_eq!(
        (dry["revoked_in_trail"].as_u64(), dry["revoked"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(status(&restored, &tokens[0]).await, TokenStatus::Active);

    let real = ok(&table, &reconcile);
    assert_eq!(real["revoked_in_trail"], 1);
    assert_eq!(
        real["absent_from_source"], 1,
        "the other one, kept (--keep-absent)"
    );
    assert_eq!(real["revoked"], 1);
    assert_eq!(status(&restored, &tokens[0]).await, TokenStatus::Revoked);
    assert_eq!(status(&restored, &tokens[1]).await, TokenStatus::Active);
    let events = restored.audit_events(Some(&carol), 50).await.unwrap();
    let event = events
        .iter()
        .find(|e| e.action == AuditAction::TokenRevoke && e.token_id == Some(tokens[0].id))
        .unwrap();
    assert_eq!(event.actor, "operator:it-ops");
}
