//! Org approval of PATs against DynamoDB Local and moto's KMS, and through
//! the local gateway: a PAT waits in an org that requires approval until an
//! admin approves it there, a denial drops the org again with a reason its
//! owner sees, and both survive rotation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use cog_integration_tests::chain::{Chain, ChainConfig};
use cog_integration_tests::services::{
    authorizer_with_policy_ttl, decide, manager, policy, request, Manager,
};
use cog_integration_tests::{caller, member_of, Stack};
use cog_tokens::authorize::Decision as Verdict;
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::{
    ApprovalChange, CredentialFilter, Decision, ManagementError, OrgCall,
};
use cog_tokens::records::audit::AuditFilter;
use cog_tokens::records::{
    ApprovalFilter, AuditAction, Caller, ExistingPats, OrgPolicy, PatApproval, Timestamp,
};
use cog_tokens::store::{PrincipalStore, TokenStore};

fn at<'a>(admin: &'a Caller, org: &'a str) -> OrgCall<'a> {
    OrgCall {
        admin,
        org,
        now: Timestamp::now(),
    }
}

/// `admin` is admin of acme; `multi` a member of acme and admin of globex.
async fn orgs(stack: &Stack) -> (DynamoStore, Manager) {
    let (store, _key) = stack.seeded(&["admin"]).await;
    let account = member_of("multi", &[("acme", "viewer"), ("globex", "admin")]);
    let audit = account.audit_put("test", Timestamp::now());
    store.put_account(&account, &audit).await.unwrap();
    let manager = manager(stack, &store, policy(50)).await;
    (store, manager)
}

fn required() -> OrgPolicy {
    OrgPolicy {
        pat_approval: PatApproval::Required,
        ..OrgPolicy::default()
    }
}

/// The policy `required()` as a `PUT` without a rule would keep it, with
/// `existing` for the PATs that reach the org then.
fn turning_on(existing: Option<ExistingPats>) -> ApprovalChange {
    ApprovalChange {
        rule: Some(PatApproval::Required),
        existing,
    }
}

fn carried(verdict: &Verdict) -> Vec<String> {
    match verdict {
        Verdict::Allow(identity) => identity.orgs.iter().map(|m| m.org_id.clone()).collect(),
        other => panic!("{other:?}"),
    }
}

fn pending() -> CredentialFilter {
    CredentialFilter {
        approval: Some(ApprovalFilter::Pending),
        ..CredentialFilter::default()
    }
}

fn deny(reason: &str) -> Decision {
    Decision::Deny {
        reason: reason.into(),
    }
}

#[tokio::test]
async fn a_pat_waits_in_an_org_requiring_approval_until_approved_and_a_denial_drops_it_again() {
    let stack = Stack::connect().await;
    let (store, manager) = orgs(&stack).await;
    let admin = caller("admin");
    let multi = caller("multi");
    let older = manager
        .create(&multi, request("older"), None, Timestamp::now())
        .await
        .unwrap();
    // `late` has a PAT from before approval, but joins acme only after.
    let late = member_of("late", &[("globex", "viewer")]);
    let audit = late.audit_put("test", Timestamp::now());
    store.put_account(&late, &audit).await.unwrap();
    let late_pat = manager
        .create(&caller("late"), request("old"), None, Timestamp::now())
        .await
        .unwrap();
    // Approval is not required yet: a decision is refused before any lookup.
    assert!(matches!(
        manager
            .decide_pat(at(&admin, "acme"), "nonsense", deny("no"))
            .await,
        Err(ManagementError::ApprovalNotRequired)
    ));
    manager
        .put_org_policy_with(at(&admin, "acme"), required(), turning_on(None), None)
        .await
        .unwrap();
    let joined = member_of("late", &[("globex", "viewer"), ("acme", "viewer")]);
    let audit = joined.audit_put("test", Timestamp::now());
    store.put_account(&joined, &audit).await.unwrap();
    let newer = manager
        .create(&multi, request("newer"), None, Timestamp::now())
        .await
        .unwrap();
    let authorizer = authorizer_with_policy_ttl(&stack, &store, Duration::ZERO).await;
    let orgs_of = |token| {
        let authorizer = &authorizer;
        async move { carried(&decide(authorizer, token, Timestamp::now()).await) }
    };
    // The PAT there when approval was turned on was approved by the admin;
    // the new one waits, and so does the joiner's older one.
    assert_eq!(orgs_of(&older.token).await, ["acme", "globex"]);
    assert_eq!(orgs_of(&newer.token).await, ["globex"]);
    assert_eq!(orgs_of(&late_pat.token).await, ["globex"]);
    let record = store.get_token(&older.record.id).await.unwrap().unwrap();
    assert_eq!(record.org_decisions.approved, ["acme"]);
    let waiting = manager
        .credentials(at(&admin, "acme"), pending(), 10, None)
        .await
        .unwrap();
    let mut ids: Vec<_> = waiting.credentials.iter().map(|c| c.record.id).collect();
    ids.sort();
    let mut expected = [newer.record.id, late_pat.record.id];
    expected.sort();
    assert_eq!(ids, expected);
    // The approval as there before, and the new PAT's request, in the trail.
    let trail = manager
        .org_audit(at(&admin, "acme"), AuditFilter::default(), 20, None)
        .await
        .unwrap();
    let action_of = |id| {
        trail
            .events
            .iter()
            .filter(move |e| e.token_id == Some(id))
            .map(|e| (e.action, e.actor.as_str(), e.detail.as_deref()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        action_of(older.record.id),
        [(
            AuditAction::TokenApprove,
            "user:admin",
            Some("there when approval was turned on")
        )]
    );
    assert_eq!(
        action_of(newer.record.id),
        [(AuditAction::TokenApprovalRequest, "user:multi", None)]
    );

    let id = newer.record.id.to_string();
    let approved = manager
        .decide_pat(at(&admin, "acme"), &id, Decision::Approve { note: None })
        .await
        .unwrap();
    assert_eq!(approved.approval().unwrap().as_str(), "approved");
    assert_eq!(orgs_of(&newer.token).await, ["acme", "globex"]);

    let denied = manager
        .decide_pat(at(&admin, "acme"), &id, deny("use a service key for CI"))
        .await
        .unwrap();
    assert_eq!(denied.approval().unwrap().as_str(), "denied");
    assert_eq!(orgs_of(&newer.token).await, ["globex"]);
    let record = store.get_token(&newer.record.id).await.unwrap().unwrap();
    assert!(record.org_decisions.approved.is_empty());
    assert_eq!(
        record.org_decisions.denied[0].reason,
        "use a service key for CI"
    );
    assert_eq!(record.org_decisions.denied[0].by, "user:admin");
    assert!(record.revoked.is_none(), "a denial is not a revocation");

    // A change that names no rule keeps it; turning it off and on again
    // with the waiting ones pending approves nothing, and a denial stays
    // through an explicit "approve what is there".
    let kept = manager
        .put_org_policy_with(
            at(&admin, "acme"),
            OrgPolicy::default(),
            ApprovalChange::default(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(kept.pat_approval, PatApproval::Required);
    let off = ApprovalChange {
        rule: Some(PatApproval::NotRequired),
        existing: None,
    };
    manager
        .put_org_policy_with(at(&admin, "acme"), OrgPolicy::default(), off, None)
        .await
        .unwrap();
    assert_eq!(
        orgs_of(&late_pat.token).await,
        ["acme", "globex"],
        "approval off"
    );
    manager
        .put_org_policy_with(
            at(&admin, "acme"),
            required(),
            turning_on(Some(ExistingPats::Pending)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(orgs_of(&late_pat.token).await, ["globex"]);
    let approve_all = ApprovalChange {
        rule: None,
        existing: Some(ExistingPats::Approved),
    };
    manager
        .put_org_policy_with(at(&admin, "acme"), required(), approve_all, None)
        .await
        .unwrap();
    assert_eq!(orgs_of(&late_pat.token).await, ["acme", "globex"]);
    assert_eq!(orgs_of(&newer.token).await, ["globex"], "the denial stays");

    // globex requires nothing: the PAT acts there throughout.
    assert!(matches!(
        manager
            .decide_pat(at(&multi, "globex"), &id, deny("no"))
            .await,
        Err(ManagementError::ApprovalNotRequired)
    ));
}

#[tokio::test]
async fn decisions_survive_rotation_and_unknown_revoked_and_key_tokens_get_one_answer() {
    let stack = Stack::connect().await;
    let (store, manager) = orgs(&stack).await;
    let admin = caller("admin");
    let multi = caller("multi");
    let older = manager
        .create(&multi, request("older"), None, Timestamp::now())
        .await
        .unwrap();
    manager
        .put_org_policy_with(
            at(&admin, "acme"),
            required(),
            turning_on(Some(ExistingPats::Pending)),
            None,
        )
        .await
        .unwrap();
    let authorizer = authorizer_with_policy_ttl(&stack, &store, Duration::ZERO).await;
    // With existing PATs pending, one made before approval was on waits too.
    let older_orgs = carried(&decide(&authorizer, &older.token, Timestamp::now()).await);
    assert_eq!(older_orgs, ["globex"]);

    // An item from before approvals (no denial map) takes a denial.
    let pat = manager
        .create(&multi, request("laptop"), None, Timestamp::now())
        .await
        .unwrap();
    stack
        .dynamodb
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(format!("TOKEN#{}", pat.record.id)))
        .key("sk", AttributeValue::S("TOKEN".into()))
        .update_expression("REMOVE org_denials")
        .condition_expression("attribute_exists(org_denials)")
        .send()
        .await
        .unwrap();
    let id = pat.record.id.to_string();
    manager
        .decide_pat(at(&admin, "acme"), &id, deny("first, a denial"))
        .await
        .unwrap();
    manager
        .decide_pat(at(&admin, "acme"), &id, Decision::Approve { note: None })
        .await
        .unwrap();
    // A rotation (with grace) carries the approval; a denial of the old one
    // in its grace follows to the new one; approving the old one is refused
    // (it could lift a denial of its successor), the successor's is not.
    let rotated = manager
        .rotate(&multi, &id, Some(60), None, Timestamp::now())
        .await
        .unwrap();
    let new_orgs = carried(&decide(&authorizer, &rotated.token, Timestamp::now()).await);
    assert_eq!(new_orgs, ["acme", "globex"]);
    manager
        .decide_pat(
            at(&admin, "acme"),
            &id,
            deny("rotated onto a shared laptop"),
        )
        .await
        .unwrap();
    for token in [&pat.token, &rotated.token] {
        let orgs = carried(&decide(&authorizer, token, Timestamp::now()).await);
        assert_eq!(orgs, ["globex"]);
    }
    let successor = store.get_token(&rotated.record.id).await.unwrap().unwrap();
    assert_eq!(
        successor.org_decisions.denied[0].reason,
        "rotated onto a shared laptop"
    );
    assert!(matches!(
        manager
            .decide_pat(at(&admin, "acme"), &id, Decision::Approve { note: None })
            .await,
        Err(ManagementError::TokenNotFound)
    ));
    let new_id = rotated.record.id.to_string();
    manager
        .decide_pat(
            at(&admin, "acme"),
            &new_id,
            Decision::Approve { note: None },
        )
        .await
        .unwrap();
    let new_orgs = carried(&decide(&authorizer, &rotated.token, Timestamp::now()).await);
    assert_eq!(new_orgs, ["acme", "globex"]);
    // Approval off and on again, the PATs there approved: the denied
    // successor stays denied, and the old one in its grace is not approved
    // over it.
    manager
        .decide_pat(at(&admin, "acme"), &new_id, deny("no longer"))
        .await
        .unwrap();
    let off = ApprovalChange {
        rule: Some(PatApproval::NotRequired),
        existing: None,
    };
    manager
        .put_org_policy_with(at(&admin, "acme"), OrgPolicy::default(), off, None)
        .await
        .unwrap();
    manager
        .put_org_policy_with(at(&admin, "acme"), required(), turning_on(None), None)
        .await
        .unwrap();
    for token in [&pat.token, &rotated.token] {
        let orgs = carried(&decide(&authorizer, token, Timestamp::now()).await);
        assert_eq!(orgs, ["globex"]);
    }
    let successor = store.get_token(&rotated.record.id).await.unwrap().unwrap();
    assert_eq!(successor.org_decisions.denied[0].reason, "no longer");
    // The PAT made before approval was first on, pending then, is approved now.
    let older_orgs = carried(&decide(&authorizer, &older.token, Timestamp::now()).await);
    assert_eq!(older_orgs, ["acme", "globex"]);

    let revoked = manager
        .create(&multi, request("to-revoke"), None, Timestamp::now())
        .await
        .unwrap();
    let revoked_id = revoked.record.id.to_string();
    manager
        .revoke(&multi, &revoked_id, Timestamp::now())
        .await
        .unwrap();
    let unknown = cog_tokens::PlainToken::generate().unwrap().id().to_string();
    for id in [unknown.as_str(), revoked_id.as_str(), "not-an-id"] {
        let answer = manager
            .decide_pat(at(&admin, "acme"), id, Decision::Approve { note: None })
            .await;
        assert!(
            matches!(answer, Err(ManagementError::TokenNotFound)),
            "{id}: {answer:?}"
        );
    }
    // Nothing was written for the revoked one.
    let after = store.get_token(&revoked.record.id).await.unwrap().unwrap();
    assert!(after.org_decisions.approved.is_empty());
}

/// Through the gateway: the policy's rule, the create answer, the whoami
/// context before and after, the inventory filter and the owner's listing.
#[tokio::test]
async fn through_the_gateway_a_pending_pat_carries_no_org_until_approved() {
    let stack = Stack::connect().await;
    let (store, _key) = stack.seeded(&["root"]).await;
    let member = member_of("vera", &[("acme", "viewer")]);
    let audit = member.audit_put("test", Timestamp::now());
    store.put_account(&member, &audit).await.unwrap();
    let chain = Chain::start(&ChainConfig {
        table: store.table().to_owned(),
        function_env: vec![("ORG_POLICY_CACHE_SECONDS".into(), "0".into())],
        ..ChainConfig::default()
    });
    let root = chain.sign_in("root").await;
    let vera = chain.sign_in("vera").await;
    let json = |cookie: &str| {
        [
            ("cookie", cookie.to_owned()),
            ("content-type", "application/json".to_owned()),
        ]
    };
    let call = |method: &'static str, path: String, cookie: String, body: &'static str| {
        let chain = &chain;
        async move {
            let headers = json(&cookie);
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            chain.call(method, &path, &headers, body).await
        }
    };

    for (body, code) in [
        (
            r#"{"pat_access": "allowed", "pat_approval": "sometimes"}"#,
            "invalid_pat_approval",
        ),
        (
            r#"{"pat_access": "allowed", "existing_pats": "pending"}"#,
            "invalid_existing_pats",
        ),
        (
            r#"{"pat_access": "allowed", "pat_approval": "required", "existing_pats": "all"}"#,
            "invalid_existing_pats",
        ),
    ] {
        let refused = call("PUT", "/v1/orgs/acme/policy".into(), root.clone(), body).await;
        assert_eq!(
            (refused.status, refused.json()["code"].clone()),
            (400, code.into()),
            "{}",
            refused.body
        );
    }
    let put = call(
        "PUT",
        "/v1/orgs/acme/policy".into(),
        root.clone(),
        r#"{"pat_access": "allowed", "pat_approval": "required"}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["pat_approval"], "required");
    // A client that does not know the setting keeps it.
    let unaware = call(
        "PUT",
        "/v1/orgs/acme/policy".into(),
        root.clone(),
        r#"{"pat_access": "allowed", "pat_max_lifetime_days": 90}"#,
    )
    .await;
    assert_eq!(unaware.status, 200, "{}", unaware.body);
    assert_eq!(unaware.json()["pat_approval"], "required");

    let created = chain.create_token(&vera, r#"["tokens:read"]"#).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    assert_eq!(created["org_approvals"][0]["org"], "acme");
    assert_eq!(created["org_approvals"][0]["state"], "pending");
    let (token, id) = (
        created["token"].as_str().unwrap(),
        created["id"].as_str().unwrap(),
    );
    let whoami = chain.with_token("GET", "/v1/whoami", token).await;
    assert_eq!(whoami.status, 200, "the PAT itself works: {}", whoami.body);
    assert_eq!(whoami.json()["orgs"], "", "pending in acme");

    let waiting = call(
        "GET",
        "/v1/orgs/acme/credentials?approval=pending".into(),
        root.clone(),
        "",
    )
    .await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    let listed = &waiting.json()["credentials"];
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["approval"]["state"], "pending");
    let bad = call(
        "GET",
        "/v1/orgs/acme/credentials?approval=maybe".into(),
        root.clone(),
        "",
    )
    .await;
    assert_eq!(
        (bad.status, bad.json()["code"].clone()),
        (400, "invalid_approval".into())
    );

    let path = format!("/v1/orgs/acme/credentials/{id}/approval");
    for (body, code) in [
        (r#"{"decision": "deny"}"#, "invalid_reason"),
        (r#"{"decision": "later"}"#, "invalid_decision"),
    ] {
        let refused = call("POST", path.clone(), root.clone(), body).await;
        assert_eq!(
            (refused.status, refused.json()["code"].clone()),
            (400, code.into()),
            "{}",
            refused.body
        );
    }
    // A member who is not an admin may not decide.
    let own = call(
        "POST",
        path.clone(),
        vera.clone(),
        r#"{"decision": "approve"}"#,
    )
    .await;
    assert_eq!(own.status, 403, "{}", own.body);
    let denied = call(
        "POST",
        path.clone(),
        root.clone(),
        r#"{"decision": "deny", "reason": "ask in #security first"}"#,
    )
    .await;
    assert_eq!(denied.status, 200, "{}", denied.body);
    assert_eq!(
        denied.json()["approval"]["reason"],
        "ask in #security first"
    );
    let mine = call("GET", "/v1/tokens".into(), vera.clone(), "").await;
    let entry = &mine.json()["tokens"][0]["org_approvals"][0];
    assert_eq!(
        (entry["state"].as_str(), entry["reason"].as_str()),
        (Some("denied"), Some("ask in #security first"))
    );

    let approved = call(
        "POST",
        path.clone(),
        root.clone(),
        r#"{"decision": "approve"}"#,
    )
    .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    let whoami = chain.with_token("GET", "/v1/whoami", token).await;
    assert_eq!(whoami.json()["orgs"], "acme:viewer");
    // Unknown and revoked tokens: the same 404.
    let unknown = cog_tokens::PlainToken::generate().unwrap().id().to_string();
    let revoke = call("DELETE", format!("/v1/tokens/{id}"), vera.clone(), "").await;
    assert_eq!(revoke.status, 204, "{}", revoke.body);
    let mut answers = Vec::new();
    for id in [unknown.as_str(), id] {
        let answer = call(
            "POST",
            format!("/v1/orgs/acme/credentials/{id}/approval"),
            root.clone(),
            r#"{"decision": "approve"}"#,
        )
        .await;
        let mut body = answer.json();
        body.as_object_mut().unwrap().remove("request_id");
        answers.push((answer.status, body));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 404);
    assert!(chain.leaks(&[token.to_owned()]).is_empty());
}
