//! Counters of the authorizer cache and its control plane, for the load
//! benchmark (`GET /_dev/authorizer-cache` on the control listener).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    invocations: AtomicU64,
    flushes_http: AtomicU64,
    flushes_rest: AtomicU64,
    throttled: AtomicU64,
    failed_injected: AtomicU64,
    last_flush_unix_ms: Mutex<Option<u64>>,
}

/// Which flush API cleared the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushKind {
    /// apigatewayv2 `ResetAuthorizersCache`.
    Http,
    /// apigateway `FlushStageAuthorizersCache`.
    Rest,
}

impl CacheStats {
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn invocation(&self) {
        self.invocations.fetch_add(1, Ordering::Relaxed);
    }

    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed_injected(&self) {
        self.failed_injected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn flushed(&self, kind: FlushKind, unix_ms: u64) {
        match kind {
            FlushKind::Http => &self.flushes_http,
            FlushKind::Rest => &self.flushes_rest,
        }
        .fetch_add(1, Ordering::Relaxed);
        *self.last_flush() = Some(unix_ms);
    }

    /// The dev endpoint's JSON, with the cache's live entry count.
    pub fn snapshot(&self, entries: usize) -> Value {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        json!({
            "entries": entries,
            "hits": read(&self.hits),
            "misses": read(&self.misses),
            "invocations": read(&self.invocations),
            "flushes": {"http": read(&self.flushes_http), "rest": read(&self.flushes_rest)},
            "throttled": read(&self.throttled),
            "failed_injected": read(&self.failed_injected),
            "last_flush_unix_ms": *self.last_flush(),
        })
    }

    /// Zeroes every counter (not the cache itself).
    pub fn reset(&self) {
        for counter in [
            &self.hits,
            &self.misses,
            &self.invocations,
            &self.flushes_http,
            &self.flushes_rest,
            &self.throttled,
            &self.failed_injected,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        *self.last_flush() = None;
    }

    fn last_flush(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.last_flush_unix_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_counts_each_event_and_reset_zeroes_them() {
        let stats = CacheStats::default();
        stats.hit();
        stats.hit();
        stats.miss();
        stats.invocation();
        stats.throttled();
        stats.failed_injected();
        stats.flushed(FlushKind::Http, 1_700_000_000_000);
        stats.flushed(FlushKind::Rest, 1_700_000_000_500);
        assert_eq!(
            stats.snapshot(3),
            json!({"entries": 3, "hits": 2, "misses": 1, "invocations": 1,
                   "flushes": {"http": 1, "rest": 1}, "throttled": 1, "failed_injected": 1,
                   "last_flush_unix_ms": 1_700_000_000_500_u64})
        );
        stats.reset();
        assert_eq!(
            stats.snapshot(0),
            json!({"entries": 0, "hits": 0, "misses": 0, "invocations": 0,
                   "flushes": {"http": 0, "rest": 0}, "throttled": 0, "failed_injected": 0,
                   "last_flush_unix_ms": null})
        );
    }
}
