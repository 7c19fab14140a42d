//! Helpers for tests of the two cache tiers through the local gateway: the
//! chain with caching on, its cache statistics, and the measured time from
//! a change to the first refusal.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chain::{Answer, Chain, ChainConfig};

/// The route every caching test calls: any token may, it reaches `whoami`.
pub const ROUTE: &str = "/v1/whoami";

/// What a test asserts: the design promises 1 s, and unloaded runs measure
/// 0.2-0.9 s (printed by each test); `make test` runs other chains beside
/// these on 2 cores, which has added up to 0.4 s. Without invalidation a
/// refusal would take the gateway's TTL (300 s), so this still catches it.
pub const REVOCATION_BOUND: Duration = Duration::from_millis(1_500);

/// Held by each test that measures a revocation's delay: one at a time, so
/// two such tests' chains do not slow each other's measurement on a
/// 2-core machine.
pub static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A chain with both tiers on (the template's TTL) for `table`.
pub fn cached_chain(table: &str) -> Chain {
    Chain::start(&ChainConfig {
        table: table.to_owned(),
        caching: true,
        ..ChainConfig::default()
    })
}

/// The gateway's authorizer-cache statistics.
pub async fn cache_stats(chain: &Chain) -> Value {
    let answer = chain.control("GET", "/_dev/authorizer-cache").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Calls `path` with `token` until API Gateway answers it from its cache:
/// proves the cache is on and holds an Allow for it. Panics if it never does.
pub async fn warm(chain: &Chain, token: &str, path: &str) {
    for _ in 0..5 {
        let before = cache_stats(chain).await["invocations"].as_u64().unwrap();
        let answer = chain.with_token("GET", path, token).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let after = cache_stats(chain).await["invocations"].as_u64().unwrap();
        if after == before {
            return;
        }
    }
    panic!("{path} was never answered from the gateway's cache");
}

/// How long after `since` the first refusal of `token` on `path` came,
/// asking every 10 ms; panics past 10 s, or if an answer is neither 200 nor
/// a refusal (401/403).
pub async fn time_to_refusal(chain: &Chain, token: &str, path: &str, since: Instant) -> Duration {
    loop {
        let answer: Answer = chain.with_token("GET", path, token).await;
        match answer.status {
            200 => {}
            401 | 403 => return since.elapsed(),
            other => panic!("{path}: {other} {}", answer.body),
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "still allowed 10 s after the change; logs: {}",
            chain.logs().display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`time_to_refusal`], asserted within [`REVOCATION_BOUND`]; the time,
/// also printed (the closing notes quote the figures).
#[allow(clippy::print_stdout)]
pub async fn refused_within_bound(
    chain: &Chain,
    token: &str,
    path: &str,
    since: Instant,
    what: &str,
) -> Duration {
    let took = time_to_refusal(chain, token, path, since).await;
    println!("{what}: refused {} ms after the change", took.as_millis());
    assert!(
        took < REVOCATION_BOUND,
        "{what}: refused only after {took:?}; logs: {}",
        chain.logs().display()
    );
    took
}
