//! Helpers for tests of the two cache tiers through the local gateway: the
//! chain with caching on, its cache statistics, and the measured time from
//! a change to the first refusal.

use std::time::{Duration, Instant};

use serde_json::Value;

use cog_tokens::records::Timestamp;

use crate::chain::{Answer, Chain, ChainConfig};

/// The route every caching test calls: any token may, it reaches `whoami`.
pub const ROUTE: &str = "/v1/whoami";

/// What a test asserts: the design's bound. Unloaded runs measure 0.2-0.6 s
/// (printed by each test); `make test` runs these after every other test
/// (scripts/test.sh), as other chains beside them on two cores added up to
/// 0.4 s. Without invalidation a refusal would take the gateway's TTL.
pub const REVOCATION_BOUND: Duration = Duration::from_millis(1_000);

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

/// `config` with both tiers on: for chains that need more (a function's
/// environment, say) than [`cached_chain`] sets.
pub fn cached_chain_with(config: ChainConfig) -> Chain {
    Chain::start(&ChainConfig {
        caching: true,
        ..config
    })
}

/// The gateway's authorizer-cache statistics.
pub async fn cache_stats(chain: &Chain) -> Value {
    let answer = chain.control("GET", "/_dev/authorizer-cache").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Waits until the cache invalidator has no flush left to make for what
/// came before: at least the two flushes that the seeded accounts' audit
/// items cause as the chain starts (its poller reads the stream from the
/// start), then no flush for [`QUIET`]. A flush left over from an earlier
/// change, landing after the measured one, would empty the cache for it
/// and make its refusal look faster than the change made it.
pub async fn settled(chain: &Chain) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let stats = cache_stats(chain).await;
        let flushes =
            stats["flushes"]["http"].as_u64().unwrap() + stats["flushes"]["rest"].as_u64().unwrap();
        let since_last = stats["last_flush_unix_ms"]
            .as_i64()
            .map(|at| Duration::from_millis((Timestamp::now().0 - at).max(0).unsigned_abs()));
        if flushes >= 2 && since_last.is_some_and(|quiet| quiet >= QUIET) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway's flushes never settled ({stats}); logs: {}",
            chain.logs().display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Longer than the invalidator's gap between a change's two flushes (its
/// `settle`: the authorizer's deadline, 400 ms, plus 300 ms).
pub const QUIET: Duration = Duration::from_millis(1_000);

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

/// The `Instant` of a store time (`expires_at`, a grace's end), on this
/// process's clock: the functions share the host's wall clock.
pub fn instant_of(at: Timestamp) -> Instant {
    let now = (Instant::now(), Timestamp::now());
    let ahead = Duration::from_millis((at.0 - now.1 .0).unsigned_abs());
    match at.0 >= now.1 .0 {
        true => now.0 + ahead,
        false => now.0.checked_sub(ahead).unwrap_or(now.0),
    }
}

/// Whether one call of `path` with `token` was answered from the gateway's
/// cache (no authorizer invocation), and its answer.
async fn call_counting(chain: &Chain, token: &str, path: &str) -> (bool, Answer) {
    let before = cache_stats(chain).await["invocations"].as_u64().unwrap();
    let answer = chain.with_token("GET", path, token).await;
    let after = cache_stats(chain).await["invocations"].as_u64().unwrap();
    (after == before, answer)
}

/// For a credential that ends by time (an expiry, a rotation's grace): it
/// is allowed until `end`, answered from the gateway's cache within its
/// last 300 ms (so a stale Allow is there when it ends), then refused
/// within [`REVOCATION_BOUND`] of `end`. The time after `end`, printed.
#[allow(clippy::print_stdout)]
pub async fn refused_within_bound_of_end(
    chain: &Chain,
    token: &str,
    path: &str,
    end: Timestamp,
    what: &str,
) -> Duration {
    let ends = instant_of(end);
    let mut cached_at = None;
    while Instant::now() + Duration::from_millis(30) < ends {
        let (cached, answer) = call_counting(chain, token, path).await;
        let answered = Instant::now();
        match answer.status {
            200 if cached => cached_at = Some(answered),
            200 => {}
            status if answered < ends => panic!(
                "{what}: {status} {} ms before its end: {}",
                (ends - answered).as_millis(),
                answer.body
            ),
            _ => break,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cached_at = cached_at.unwrap_or_else(|| panic!("{what}: never answered from the cache"));
    assert!(
        ends.saturating_duration_since(cached_at) < Duration::from_millis(300),
        "{what}: last answered from the cache {} ms before its end",
        ends.saturating_duration_since(cached_at).as_millis()
    );
    let took = time_to_refusal(chain, token, path, ends).await;
    println!("{what}: refused {} ms after its end", took.as_millis());
    assert!(
        took < REVOCATION_BOUND,
        "{what}: refused only {took:?} after its end; logs: {}",
        chain.logs().display()
    );
    took
}

/// How long after `since` whoami (`path`), called with `token`, first
/// answers with `field` equal to `expected` (the context the gateway's
/// cached Allow carries); panics if an answer is not 200 (the credential
/// itself still works) or past 10 s.
pub async fn time_to_context(
    chain: &Chain,
    token: &str,
    path: &str,
    (field, expected): (&str, &str),
    since: Instant,
) -> Duration {
    loop {
        let answer = chain.with_token("GET", path, token).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        if answer.json()[field] == expected {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{field} still {} 10 s after the change; logs: {}",
            answer.json()[field],
            chain.logs().display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`time_to_context`], asserted within [`REVOCATION_BOUND`]; the time,
/// also printed.
#[allow(clippy::print_stdout)]
pub async fn context_within_bound(
    chain: &Chain,
    token: &str,
    path: &str,
    field_is: (&str, &str),
    since: Instant,
    what: &str,
) -> Duration {
    let took = time_to_context(chain, token, path, field_is, since).await;
    println!(
        "{what}: {} = {:?} {} ms after the change",
        field_is.0,
        field_is.1,
        took.as_millis()
    );
    assert!(
        took < REVOCATION_BOUND,
        "{what}: context changed only after {took:?}; logs: {}",
        chain.logs().display()
    );
    took
}
