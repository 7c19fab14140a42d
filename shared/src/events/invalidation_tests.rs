//! The invalidator over the in-memory store and a recording gateway: what
//! it feeds, when it flushes, and how it survives throttling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::memory::MemoryStore;
use crate::records::{AuditAction, AuditEvent, Owner};
use crate::token::hash::{Pepper, PepperVersion};
use crate::token::PlainToken;

/// Flush start times; the first `throttle` calls answer 429.
#[derive(Default)]
struct Recording {
    flushes: Mutex<Vec<Timestamp>>,
    throttle: AtomicUsize,
}

#[async_trait]
impl GatewayCache for &Recording {
    async fn flush(&self, _: &Stage) -> Result<(), FlushError> {
        let throttled = self
            .throttle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if throttled {
            return Err(FlushError::Throttled);
        }
        self.flushes.lock().unwrap().push(Timestamp::now());
        Ok(())
    }
}

fn settings() -> InvalidatorSettings {
    InvalidatorSettings {
        stages: vec!["http:api/$default".parse().unwrap()],
        gateway_ttl: Duration::from_secs(300),
        last_used_interval: Duration::from_secs(300),
        feed_interval: Duration::from_millis(30),
        settle: Duration::from_millis(60),
        window: Duration::from_millis(200),
        flush_attempts: 4,
        horizon: Duration::from_secs(2),
    }
}

/// A stored token of `u`, used `used_ago_ms` ago (`None`: never).
async fn token(
    store: &MemoryStore,
    used_ago_ms: Option<i64>,
    expires_at: Option<Timestamp>,
) -> TokenId {
    let token = PlainToken::generate().unwrap();
    let pepper = Pepper::new(PepperVersion(1), &[7; 32]).unwrap();
    let now = Timestamp::now();
    let record = TokenRecord {
        id: token.id(),
        owner: Owner::user("u"),
        name: format!("t{}", token.id()),
        scopes: vec![],
        hash: pepper.hash(&token),
        pepper_version: PepperVersion(1),
        created_at: now.plus_seconds(-3600),
        expires_at,
        revoked: None,
        last_used_at: used_ago_ms.map(|ago| now.plus_millis(-ago)),
        last_use: Default::default(),
        org_decisions: Default::default(),
        allowed_ips: Default::default(),
        org_limit: None,
        family: None,
        rate_limit: None,
        usage_key_placed: false,
    };
    let audit = AuditEvent::new("t", AuditAction::TokenCreate, record.owner.clone(), now);
    store.create_token(&record, 100, &audit).await.unwrap();
    record.id
}

fn revoked(id: TokenId) -> AccessChange {
    AccessChange {
        key: ChangeKey::Token(id),
        at: Timestamp::now(),
        narrowing: true,
    }
}

#[tokio::test]
async fn a_used_credential_is_fed_and_flushed_twice_after_the_feed_interval() {
    let store = Arc::new(MemoryStore::new());
    let gateway = Recording::default();
    let id = token(&store, Some(1_000), None).await;
    let invalidator = Invalidator::new(Arc::clone(&store), &gateway, settings());
    let started = Timestamp::now();
    let outcome = invalidator.on_changes(&[revoked(id)]).await.unwrap();
    assert_eq!(outcome.fed, 1);
    assert_eq!(outcome.flushes, 2);
    let feed = store.read_feed().await.unwrap();
    assert_eq!(feed.entries[0].key, ChangeKey::Token(id));
    let flushes = gateway.flushes.lock().unwrap().clone();
    // The first once every instance has read the feed, the second a window later.
    assert!(flushes[0].0 - started.0 >= 30, "{flushes:?}");
    assert!(flushes[1].0 - flushes[0].0 >= 200, "{flushes:?}");
}

#[tokio::test]
async fn a_credential_unused_for_longer_than_ttl_plus_interval_is_fed_but_not_flushed() {
    let store = Arc::new(MemoryStore::new());
    let gateway = Recording::default();
    let idle = token(&store, Some(601_000 + CLOCK_MARGIN_MS), None).await;
    let never = token(&store, None, None).await;
    let invalidator = Invalidator::new(Arc::clone(&store), &gateway, settings());
    let outcome = invalidator
        .on_changes(&[revoked(idle), revoked(never)])
        .await
        .unwrap();
    assert_eq!((outcome.fed, outcome.flushes), (2, 0));
    assert_eq!(store.read_feed().await.unwrap().entries.len(), 2);

    // A principal's change may touch any of its tokens: always flushed.
    let account = AccessChange {
        key: ChangeKey::Principal(Owner::user("u")),
        at: Timestamp::now(),
        narrowing: true,
    };
    assert_eq!(invalidator.on_changes(&[account]).await.unwrap().flushes, 2);
    // A change that narrows nothing (a re-hash) only feeds.
    let rehash = AccessChange {
        narrowing: false,
        ..revoked(token(&store, Some(1), None).await)
    };
    assert_eq!(invalidator.on_changes(&[rehash]).await.unwrap().flushes, 0);
}

#[tokio::test]
async fn a_throttled_flush_is_retried_and_one_past_its_attempts_fails_the_batch() {
    let store = Arc::new(MemoryStore::new());
    let gateway = Recording::default();
    let id = token(&store, Some(1), None).await;
    gateway.throttle.store(2, Ordering::SeqCst);
    let invalidator = Invalidator::new(Arc::clone(&store), &gateway, settings());
    assert_eq!(
        invalidator
            .on_changes(&[revoked(id)])
            .await
            .unwrap()
            .flushes,
        2
    );

    gateway.throttle.store(10, Ordering::SeqCst);
    let failed = invalidator.on_changes(&[revoked(id)]).await;
    assert!(
        matches!(
            failed,
            Err(InvalidationError::Flush {
                error: FlushError::Throttled,
                ..
            })
        ),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_rotation_grace_is_scheduled_and_the_scheduled_run_flushes_at_each_end() {
    let store = Arc::new(MemoryStore::new());
    let gateway = Recording::default();
    let invalidator = Invalidator::new(Arc::clone(&store), &gateway, settings());
    // A rotation's old token: revoked 500 ms from now.
    let graced = token(&store, Some(1), None).await;
    let end = Timestamp::now().plus_millis(500);
    let revocation = crate::records::Revocation {
        at: end,
        by: "t".into(),
        reason: "rotated".into(),
    };
    let audit = AuditEvent::new(
        "t",
        AuditAction::TokenRotate,
        Owner::user("u"),
        Timestamp::now(),
    );
    store
        .revoke_token(&graced, &revocation, &audit)
        .await
        .unwrap();
    let outcome = invalidator.on_changes(&[revoked(graced)]).await.unwrap();
    assert_eq!(outcome.scheduled, 1);
    gateway.flushes.lock().unwrap().clear();

    let ran = invalidator.on_schedule().await.unwrap();
    let flushes = gateway.flushes.lock().unwrap().clone();
    assert_eq!(ran.flushes, 2, "at the end and a settle later: {flushes:?}");
    assert!(flushes[0] >= end, "{flushes:?} before {end:?}");
}
