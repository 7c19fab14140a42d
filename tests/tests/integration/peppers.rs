//! The KMS pepper ring against moto's KMS and DynamoDB Local.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use cog_integration_tests::{new_token, Stack};
use cog_tokens::aws::kms::{add_pepper_version, encryption_context, KmsPepperSource};
use cog_tokens::records::{AuditAction, AuditEvent, Owner, Timestamp};
use cog_tokens::store::pepper::{PepperError, PepperKeeper, PepperSource};
use cog_tokens::store::{PepperStore, StoredPepper};
use cog_tokens::PepperVersion;

#[tokio::test]
async fn given_a_rotation_then_old_tokens_still_verify_and_new_ones_use_the_new_version() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let key = stack.fresh_key().await;
    assert_eq!(
        add_pepper_version(&stack.kms, &store, &key, "test")
            .await
            .unwrap(),
        PepperVersion(1)
    );
    let source = KmsPepperSource::new(stack.kms.clone(), store.clone());
    let keeper = PepperKeeper::load(source.clone(), Duration::ZERO)
        .await
        .unwrap();
    let v1 = keeper.ring().current().clone();
    assert_eq!(v1.version(), PepperVersion(1));
    let owner = Owner::user("alice");
    let (old_token, old_record) = new_token(&owner, &v1, Timestamp::now(), None);

    assert_eq!(
        add_pepper_version(&stack.kms, &store, &key, "test")
            .await
            .unwrap(),
        PepperVersion(2)
    );

    // A token naming v2 makes the keeper reload once; then v2 is current.
    let v2 = keeper.pepper(PepperVersion(2)).await.unwrap().unwrap();
    assert_eq!(keeper.ring().current().version(), PepperVersion(2));
    let (new_token_plain, new_record) =
        new_token(&owner, keeper.ring().current(), Timestamp::now(), None);
    assert_eq!(new_record.pepper_version, PepperVersion(2));
    assert!(v2.verify(&new_token_plain, &new_record.hash));

    // The old token still verifies under its own version, not under v2.
    let old_pepper = keeper
        .pepper(old_record.pepper_version)
        .await
        .unwrap()
        .unwrap();
    assert!(old_pepper.verify(&old_token, &old_record.hash));
    assert!(!v2.verify(&old_token, &old_record.hash));
    // The two versions really are different keys.
    assert_ne!(v1.hash(&old_token), v2.hash(&old_token));

    // A fresh process (cold start) decrypts the same keys.
    let cold = source.load_ring().await.unwrap();
    assert_eq!(cold.versions(), vec![PepperVersion(1), PepperVersion(2)]);
    assert_eq!(
        cold.get(PepperVersion(1)).unwrap().hash(&old_token),
        old_record.hash
    );
}

#[tokio::test]
async fn only_ciphertext_is_stored() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let key = stack.fresh_key().await;
    add_pepper_version(&stack.kms, &store, &key, "test")
        .await
        .unwrap();
    let stored = store.list_peppers().await.unwrap();
    assert_eq!(stored.len(), 1);
    let ring = KmsPepperSource::new(stack.kms.clone(), store.clone())
        .load_ring()
        .await
        .unwrap();
    // Decrypting by hand with the right context gives a 32-byte key that is
    // not a substring of what the table holds.
    assert_eq!(stored[0].version, PepperVersion(1));
    let plaintext = stack.pepper_plaintext(&stored[0]).await;
    assert_eq!(plaintext.len(), 32);
    assert!(!stored[0]
        .ciphertext
        .windows(32)
        .any(|w| w == plaintext.as_slice()));
    assert_eq!(ring.versions(), vec![PepperVersion(1)]);
}

#[tokio::test]
async fn given_a_ciphertext_under_another_context_then_loading_fails_closed() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let key = stack.fresh_key().await;
    add_pepper_version(&stack.kms, &store, &key, "test")
        .await
        .unwrap();
    let v1 = store.list_peppers().await.unwrap().remove(0);
    // Pass v1's ciphertext off as version 2: its context names version 1.
    store
        .add_pepper(
            &StoredPepper {
                version: PepperVersion(2),
                ..v1
            },
            &system_audit(AuditAction::PepperAdd),
        )
        .await
        .unwrap();

    let error = KmsPepperSource::new(stack.kms.clone(), store.clone())
        .load_ring()
        .await
        .unwrap_err();
    assert!(matches!(error, PepperError::Kms(_)), "{error:?}");

    // And a direct decrypt with a wrong purpose fails too.
    let mut wrong = encryption_context(PepperVersion(1));
    wrong.insert("purpose".into(), "something-else".into());
    let stored = store.list_peppers().await.unwrap().remove(0);
    assert!(stack
        .kms
        .decrypt()
        .ciphertext_blob(Blob::new(stored.ciphertext))
        .set_encryption_context(Some(wrong))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn given_a_ciphertext_recorded_under_another_key_then_loading_fails_closed() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let key = stack.fresh_key().await;
    let other_key = stack.fresh_key().await;
    add_pepper_version(&stack.kms, &store, &key, "test")
        .await
        .unwrap();
    let v1 = store.list_peppers().await.unwrap().remove(0);
    // Decrypt pins the key the record names; KMS refuses a mismatch.
    store
        .add_pepper(
            &StoredPepper {
                version: PepperVersion(2),
                kms_key_id: other_key,
                ..v1
            },
            &system_audit(AuditAction::PepperAdd),
        )
        .await
        .unwrap();
    let error = KmsPepperSource::new(stack.kms.clone(), store.clone())
        .load_ring()
        .await
        .unwrap_err();
    assert!(matches!(error, PepperError::Kms(_)), "{error:?}");
}

#[tokio::test]
async fn given_kms_unreachable_then_loading_fails_closed() {
    // moto does not refuse Decrypt on a disabled key (real KMS answers
    // DisabledException); every KMS error takes this same path.
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let key = stack.fresh_key().await;
    add_pepper_version(&stack.kms, &store, &key, "test")
        .await
        .unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = aws_sdk_kms::config::Builder::from(&cog_tokens::aws::sdk_config().await)
        .endpoint_url(format!("http://127.0.0.1:{closed_port}"))
        .build();
    let unreachable = aws_sdk_kms::Client::from_conf(config);

    let error = KmsPepperSource::new(unreachable.clone(), store.clone())
        .load_ring()
        .await
        .unwrap_err();
    assert!(matches!(error, PepperError::Kms(_)), "{error:?}");
    assert!(add_pepper_version(&unreachable, &store, &key, "test")
        .await
        .is_err());
    assert_eq!(
        store.list_peppers().await.unwrap().len(),
        1,
        "a failed rotation stored nothing"
    );
}

#[tokio::test]
async fn given_no_pepper_then_loading_fails_closed() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let error = KmsPepperSource::new(stack.kms.clone(), store)
        .load_ring()
        .await
        .unwrap_err();
    assert!(matches!(error, PepperError::Empty), "{error:?}");
}

#[tokio::test]
async fn retired_versions_are_not_loaded_and_unknown_versions_are_denied() {
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let key = stack.fresh_key().await;
    add_pepper_version(&stack.kms, &store, &key, "test")
        .await
        .unwrap();
    add_pepper_version(&stack.kms, &store, &key, "test")
        .await
        .unwrap();
    store
        .retire_pepper(PepperVersion(1), &system_audit(AuditAction::PepperRetire))
        .await
        .unwrap();

    let keeper = PepperKeeper::load(
        KmsPepperSource::new(stack.kms.clone(), store.clone()),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(keeper.ring().versions(), vec![PepperVersion(2)]);
    assert!(keeper.pepper(PepperVersion(1)).await.unwrap().is_none());
    assert!(keeper.pepper(PepperVersion(9)).await.unwrap().is_none());
}

#[tokio::test]
async fn live_tokens_per_pepper_version_are_counted() {
    use cog_tokens::records::Revocation;
    use cog_tokens::store::TokenStore;
    let stack = Stack::connect().await;
    let store = stack.fresh_store().await;
    let pepper = cog_tokens::Pepper::new(PepperVersion(1), &[1; 32]).unwrap();
    let owner = Owner::user("alice");
    let now = Timestamp::now();
    let mut ids = Vec::new();
    for expires in [None, Some(now.plus_seconds(60)), Some(Timestamp(now.0 - 1))] {
        let (_, record) = new_token(&owner, &pepper, now, expires);
        let audit = AuditEvent::new("user:alice", AuditAction::TokenCreate, owner.clone(), now);
        store.create_token(&record, 50, &audit).await.unwrap();
        ids.push(record.id);
    }
    assert_eq!(
        store
            .live_tokens_with_pepper(PepperVersion(1), now)
            .await
            .unwrap(),
        2
    );
    let audit = AuditEvent::new("user:alice", AuditAction::TokenRevoke, owner.clone(), now);
    let revocation = Revocation {
        at: now,
        by: "user:alice".into(),
        reason: "x".into(),
    };
    store
        .revoke_token(&ids[0], &revocation, &audit)
        .await
        .unwrap();
    assert_eq!(
        store
            .live_tokens_with_pepper(PepperVersion(1), now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .live_tokens_with_pepper(PepperVersion(2), now)
            .await
            .unwrap(),
        0
    );
}

fn system_audit(action: AuditAction) -> AuditEvent {
    AuditEvent::system("test", action, Timestamp::now())
}
