//! The first tier's rules over the in-memory feed: what a feed read drops,
//! when everything goes, and what is never kept.

use super::*;
use crate::memory::MemoryStore;
use crate::records::OrgMembership;
use crate::store::feed::FeedSnapshot;
use crate::token::hash::{Pepper, PepperVersion};
use crate::token::PlainToken;

fn verified(owner: &str) -> Verified {
    let token = PlainToken::generate().unwrap();
    let pepper = Pepper::new(PepperVersion(1), &[3; 32]).unwrap();
    let record = TokenRecord {
        id: token.id(),
        owner: Owner::user(owner),
        name: "t".into(),
        scopes: vec![],
        hash: pepper.hash(&token),
        pepper_version: PepperVersion(1),
        created_at: Timestamp(0),
        expires_at: None,
        revoked: None,
        last_used_at: None,
        last_use: Default::default(),
        org_decisions: Default::default(),
        allowed_ips: Default::default(),
        org_limit: None,
        family: None,
        rate_limit: None,
        usage_key_placed: false,
    };
    let account = crate::records::Account {
        user_id: owner.into(),
        status: crate::records::PrincipalStatus::Active,
        sso: false,
        pat_beta: true,
        orgs: vec![OrgMembership {
            org_id: "acme".into(),
            role: "member".into(),
        }],
        tokens_valid_after: None,
    };
    Verified {
        record,
        principal: Principal::User(account),
    }
}

fn cache(interval_ms: u64) -> CredentialCache {
    CredentialCache::new(CredentialCacheSettings {
        capacity: 3,
        max_age: Duration::from_secs(60),
        feed_interval: Duration::from_millis(interval_ms),
    })
}

async fn held(cache: &CredentialCache, feed: &MemoryStore, v: &Verified) -> bool {
    cache.get(feed, &v.record.id).await.0.is_some()
}

#[tokio::test]
async fn a_feed_read_drops_the_tokens_and_owners_it_names_and_reports_orgs() {
    let feed = MemoryStore::new();
    let cache = cache(0);
    let (a, b, c) = (verified("u1"), verified("u1"), verified("u2"));
    for v in [&a, &b, &c] {
        cache.insert(v.clone(), Timestamp::now());
    }
    assert!(held(&cache, &feed, &c).await);
    feed.append_to_feed(
        &[
            ChangeKey::Principal(Owner::user("u1")),
            ChangeKey::Org("acme".into()),
        ],
        Timestamp::now(),
    )
    .await
    .unwrap();
    let (found, applied) = cache.get(&feed, &c.record.id).await;
    assert!(found.is_some());
    assert_eq!(applied.orgs, ["acme"]);
    assert_eq!(applied.dropped, 2, "both of u1's tokens");
    assert!(!held(&cache, &feed, &a).await);
    assert!(!held(&cache, &feed, &b).await);
}

#[tokio::test]
async fn a_miss_reads_no_feed_and_a_hit_reads_it_at_most_once_per_interval() {
    let feed = MemoryStore::new();
    let cache = cache(60_000);
    let a = verified("u1");
    // A miss: nothing to bring up to date.
    assert!(!held(&cache, &feed, &a).await);
    assert!(cache.lock().feed_read_instant.is_none());
    cache.insert(a.clone(), Timestamp::now());
    assert!(held(&cache, &feed, &a).await);
    let first = cache.lock().feed_read_instant;
    feed.append_to_feed(&[ChangeKey::Token(a.record.id)], Timestamp::now())
        .await
        .unwrap();
    // Within the interval the feed is not read again (the bound it buys).
    assert!(held(&cache, &feed, &a).await);
    assert_eq!(cache.lock().feed_read_instant, first);
}

#[tokio::test]
async fn a_reset_feed_or_a_gap_longer_than_the_retention_drops_everything() {
    let feed = MemoryStore::new();
    let cache = cache(0);
    let a = verified("u1");
    cache.insert(a.clone(), Timestamp::now());
    assert!(held(&cache, &feed, &a).await);
    let reset = FeedSnapshot {
        entries: vec![],
        reset_at: Some(Timestamp::now()),
    };
    let applied = cache.apply(&reset, Timestamp::now(), Instant::now());
    assert_eq!(applied.dropped, 1);
    assert!(cache.is_empty());

    cache.insert(a.clone(), Timestamp::now());
    let much_later = Timestamp::now().plus_millis(FEED_RETENTION_MS);
    let applied = cache.apply(&FeedSnapshot::default(), much_later, Instant::now());
    assert_eq!(applied.dropped, 1, "entries may have aged out unseen");
}

#[tokio::test]
async fn an_unreadable_feed_empties_the_cache() {
    let feed = MemoryStore::new();
    let cache = cache(0);
    let a = verified("u1");
    cache.insert(a.clone(), Timestamp::now());
    feed.fail_all(true);
    assert!(!held(&cache, &feed, &a).await);
    feed.fail_all(false);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn capacity_and_age_bound_what_is_kept() {
    let feed = MemoryStore::new();
    let cache = CredentialCache::new(CredentialCacheSettings {
        capacity: 2,
        max_age: Duration::from_millis(50),
        feed_interval: Duration::from_secs(60),
    });
    let (a, b, c) = (verified("u1"), verified("u2"), verified("u3"));
    for v in [&a, &b, &c] {
        cache.insert(v.clone(), Timestamp::now());
    }
    assert_eq!(cache.len(), 2);
    assert!(!held(&cache, &feed, &a).await, "least recently used goes");
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(!held(&cache, &feed, &c).await, "older than max_age");
}
