//! Rotation without a session (`POST /v1/tokens/self/rotate`) on DynamoDB
//! Local and the KMS emulator: a leak report of a token revokes every token
//! it rotated itself into, ended or not, and stops at a session's rotation;
//! a "revoke all" that lands between the rotation's read and its write
//! refuses it. Over HTTP: `functions/management/tests/self_rotation.rs`;
//! through the gateway: `token_self.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use cog_integration_tests::services::{leak_responder, manager, policy, Manager};
use cog_integration_tests::{caller, Stack};
use cog_tokens::aws::dynamodb::DynamoStore;
use cog_tokens::management::leaks::{Reporter, Sighting};
use cog_tokens::management::{IssuedToken, TokenRequest, ROTATE_SELF_SCOPE};
use cog_tokens::records::{
    AuditAction, AuditEvent, Origin, Owner, Revocation, Timestamp, TokenStatus,
};
use cog_tokens::store::{PrincipalStore, RotationTerms, StoreError, TokenStore};

fn request(name: &str) -> TokenRequest {
    TokenRequest {
        name: name.into(),
        scopes: vec!["tokens:read".into(), ROTATE_SELF_SCOPE.into()],
        expires_in_days: None,
        allowed_ips: Vec::new(),
        orgs: None,
        rate_limit: None,
    }
}

fn self_policy() -> cog_tokens::management::IssuancePolicy {
    let mut policy = policy(50);
    policy.scope_catalog.push(ROTATE_SELF_SCOPE.into());
    policy
}

async fn rotate_itself(
    manager: &Manager,
    user: &str,
    token: &IssuedToken,
    grace: u32,
) -> IssuedToken {
    manager
        .rotate_self(
            &Owner::user(user),
            token.record.id.as_str(),
            Some(grace),
            None,
            Origin::default(),
            Timestamp::now(),
        )
        .await
        .unwrap()
}

async fn status(store: &DynamoStore, token: &IssuedToken) -> TokenStatus {
    let record = store.get_token(&token.record.id).await.unwrap().unwrap();
    record.status(Timestamp::now())
}

#[tokio::test]
async fn a_leak_report_revokes_what_a_token_rotated_itself_into_and_stops_at_a_sessions_rotation() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["thief-victim"]).await;
    let manager = manager(&stack, &store, self_policy()).await;
    let user = "thief-victim";
    let now = Timestamp::now();
    // The leaked token, rotated by whoever found it: at once, then with a grace.
    let leaked = manager
        .create(&caller(user), request("ci"), None, now)
        .await
        .unwrap();
    let second = rotate_itself(&manager, user, &leaked, 0).await;
    let third = rotate_itself(&manager, user, &second, 600).await;
    assert_eq!(status(&store, &leaked).await, TokenStatus::Revoked);
    assert_eq!(status(&store, &third).await, TokenStatus::Active);
    // Another token, rotated by itself and then by its owner's session.
    let other = manager
        .create(&caller(user), request("cd"), None, now)
        .await
        .unwrap();
    let other_next = rotate_itself(&manager, user, &other, 600).await;
    let by_session = manager
        .rotate(
            &caller(user),
            other_next.record.id.as_str(),
            Some(600),
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();

    // The leaked token is reported although it ended: the chain it grew dies.
    let responder = leak_responder(&stack, &store).await;
    fn sighting(token: &IssuedToken) -> Sighting<'_> {
        Sighting {
            token: token.token.expose_secret(),
            url: Some("https://example.com/paste"),
            source: None,
        }
    }
    let reports = [sighting(&leaked), sighting(&other)];
    responder
        .respond(&reports, Reporter::Public, None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(status(&store, &second).await, TokenStatus::Revoked);
    assert_eq!(
        status(&store, &third).await,
        TokenStatus::Revoked,
        "in its grace, ended now"
    );
    // `other` itself and its self-rotated successor are revoked; the token
    // its owner's session made is a new family and stays.
    assert_eq!(status(&store, &other).await, TokenStatus::Revoked);
    assert_eq!(status(&store, &other_next).await, TokenStatus::Revoked);
    assert_eq!(status(&store, &by_session).await, TokenStatus::Active);
    let successor = store.get_token(&third.record.id).await.unwrap().unwrap();
    assert_eq!(successor.revoked.unwrap().reason, Reporter::Public.reason());
}

#[tokio::test]
async fn a_revoke_all_landing_between_a_self_rotations_read_and_write_refuses_it() {
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["racer"]).await;
    let manager = manager(&stack, &store, self_policy()).await;
    let now = Timestamp::now();
    let old = manager
        .create(&caller("racer"), request("ci"), None, now)
        .await
        .unwrap();
    let owner = Owner::user("racer");
    // The rotation read the owner with no watermark; "revoke all" lands.
    let audit = AuditEvent::new("test", AuditAction::TokenRevokeAll, owner.clone(), now);
    store
        .revoke_tokens_before(&owner, now.plus_seconds(1), &audit)
        .await
        .unwrap();
    let mut new = old.record.clone();
    let fresh = cog_tokens::PlainToken::generate().unwrap();
    new.id = fresh.id();
    new.created_at = now.plus_seconds(2);
    new.family = Some(Box::new(old.record.id));
    let revocation = Revocation {
        at: now.plus_seconds(2),
        by: format!("token:{}", old.record.id),
        reason: "rotated".into(),
    };
    let terms = RotationTerms {
        idempotency: None,
        owner_valid_after: Some(None),
    };
    let refused = store
        .rotate_token_once(&old.record.id, &revocation, &new, 50, &[], &terms)
        .await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    assert!(store.get_token(&new.id).await.unwrap().is_none());
    // As read after it, the rotation goes ahead (the watermark as it is).
    let valid_after = store
        .get_account("racer")
        .await
        .unwrap()
        .unwrap()
        .tokens_valid_after;
    let terms = RotationTerms {
        idempotency: None,
        owner_valid_after: Some(valid_after),
    };
    store
        .rotate_token_once(&old.record.id, &revocation, &new, 50, &[], &terms)
        .await
        .unwrap();
}

/// The rotation read its owner, and "revoke all" lands before its write
/// reaches DynamoDB: the watermark condition refuses it, as a refused token.
#[tokio::test]
async fn a_revoke_all_racing_a_self_rotation_through_the_manager_refuses_it() {
    use cog_integration_tests::proxy::FaultProxy;
    let stack = Stack::connect().await;
    let (store, _) = stack.seeded(&["racer2"]).await;
    let direct = manager(&stack, &store, self_policy()).await;
    let old = direct
        .create(&caller("racer2"), request("ci"), None, Timestamp::now())
        .await
        .unwrap();
    let proxy = FaultProxy::dynamodb().await;
    let through_proxy = DynamoStore::new(proxy.client(1).await, store.table().to_owned());
    let racing = std::sync::Arc::new(manager(&stack, &through_proxy, self_policy()).await);
    let mut held = proxy.pause_next("TransactWriteItems");
    let rotation = {
        let (racing, id) = (std::sync::Arc::clone(&racing), old.record.id.to_string());
        tokio::spawn(async move {
            racing
                .rotate_self(
                    &Owner::user("racer2"),
                    &id,
                    None,
                    None,
                    Origin::default(),
                    Timestamp::now(),
                )
                .await
        })
    };
    held.reached().await;
    direct
        .revoke_all(&caller("racer2"), Timestamp::now())
        .await
        .unwrap();
    held.release();
    let refused = rotation.await.unwrap();
    assert!(
        matches!(
            refused,
            Err(cog_tokens::management::ManagementError::TokenNotFound)
        ),
        "{refused:?}"
    );
    let all = store
        .list_tokens(
            &Owner::user("racer2"),
            cog_tokens::records::StatusFilter::All,
            Timestamp::now(),
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(all.tokens.len(), 1, "no successor was made");
}
