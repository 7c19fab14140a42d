//! The pepper ring: every pepper version a process can verify with, the
//! newest one used for new hashes, and the rule for reloading it.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::StoreError;
use crate::token::hash::{Pepper, PepperVersion};

/// Why the pepper ring could not be had. Every case fails closed.
#[derive(Debug, thiserror::Error)]
pub enum PepperError {
    #[error("no usable pepper version is stored")]
    Empty,
    #[error("KMS refused or failed: {0}")]
    Kms(String),
    #[error("pepper storage failed")]
    Store(#[from] StoreError),
    #[error("pepper v{0} is malformed")]
    Malformed(u32),
}

/// The peppers one process holds in memory, ordered by version.
#[derive(Debug)]
pub struct PepperRing {
    peppers: Vec<Pepper>,
}

impl PepperRing {
    pub fn new(mut peppers: Vec<Pepper>) -> Result<Self, PepperError> {
        if peppers.is_empty() {
            return Err(PepperError::Empty);
        }
        peppers.sort_by_key(|p| p.version());
        Ok(Self { peppers })
    }

    /// The newest version: new tokens are hashed with it.
    pub fn current(&self) -> &Pepper {
        // `new` refuses an empty ring.
        &self.peppers[self.peppers.len() - 1]
    }

    pub fn get(&self, version: PepperVersion) -> Option<&Pepper> {
        self.peppers.iter().find(|p| p.version() == version)
    }

    pub fn versions(&self) -> Vec<PepperVersion> {
        self.peppers.iter().map(Pepper::version).collect()
    }
}

/// Where a ring comes from (KMS in production, fixed keys in unit tests).
#[async_trait]
pub trait PepperSource: Send + Sync {
    async fn load_ring(&self) -> Result<PepperRing, PepperError>;
}

/// Holds the ring for the life of the process: loaded once at cold start,
/// reloaded at most once per `min_reload_interval`, and only when a token
/// names a version the ring does not know.
pub struct PepperKeeper<S> {
    source: S,
    ring: RwLock<Arc<PepperRing>>,
    last_reload: tokio::sync::Mutex<Instant>,
    min_reload_interval: Duration,
}

impl<S: PepperSource> PepperKeeper<S> {
    pub async fn load(source: S, min_reload_interval: Duration) -> Result<Self, PepperError> {
        let ring = source.load_ring().await?;
        Ok(Self {
            source,
            ring: RwLock::new(Arc::new(ring)),
            last_reload: tokio::sync::Mutex::new(Instant::now()),
            min_reload_interval,
        })
    }

    /// The ring as it is now (no I/O).
    pub fn ring(&self) -> Arc<PepperRing> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// A ring that holds `version`, reloading once if it is unknown and the
    /// last reload is old enough. `Ok(None)`: still unknown, so deny.
    pub async fn ring_with(
        &self,
        version: PepperVersion,
    ) -> Result<Option<Arc<PepperRing>>, PepperError> {
        let ring = self.ring();
        if ring.get(version).is_some() {
            return Ok(Some(ring));
        }
        let mut last_reload = self.last_reload.lock().await;
        // Another task may have reloaded while this one waited.
        let ring = self.ring();
        if ring.get(version).is_some() {
            return Ok(Some(ring));
        }
        if last_reload.elapsed() < self.min_reload_interval {
            return Ok(None);
        }
        *last_reload = Instant::now();
        let fresh = Arc::new(self.source.load_ring().await?);
        match self.ring.write() {
            Ok(mut ring) => *ring = Arc::clone(&fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&fresh),
        }
        Ok(fresh.get(version).is_some().then_some(fresh))
    }

    /// The pepper of `version` (see [`ring_with`](Self::ring_with)).
    pub async fn pepper(&self, version: PepperVersion) -> Result<Option<Pepper>, PepperError> {
        Ok(self
            .ring_with(version)
            .await?
            .and_then(|ring| ring.get(version).cloned()))
    }
}

impl<S> std::fmt::Debug for PepperKeeper<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PepperKeeper")
            .field("min_reload_interval", &self.min_reload_interval)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A source whose newest version grows each time it is loaded.
    struct GrowingSource {
        loads: AtomicU32,
    }

    #[async_trait]
    impl PepperSource for GrowingSource {
        async fn load_ring(&self) -> Result<PepperRing, PepperError> {
            let n = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
            let peppers = (1..=n)
                .map(|v| Pepper::new(PepperVersion(v), &[v as u8; 32]).unwrap())
                .collect();
            PepperRing::new(peppers)
        }
    }

    #[tokio::test]
    async fn given_an_unknown_version_then_one_reload_finds_it() {
        let keeper = PepperKeeper::load(
            GrowingSource {
                loads: AtomicU32::new(0),
            },
            Duration::ZERO,
        )
        .await
        .unwrap();
        assert_eq!(keeper.ring().versions(), vec![PepperVersion(1)]);
        let found = keeper.pepper(PepperVersion(2)).await.unwrap();
        assert_eq!(found.map(|p| p.version()), Some(PepperVersion(2)));
        assert_eq!(keeper.ring().current().version(), PepperVersion(2));
    }

    #[tokio::test]
    async fn given_a_recent_reload_then_an_unknown_version_is_denied_without_io() {
        let keeper = PepperKeeper::load(
            GrowingSource {
                loads: AtomicU32::new(0),
            },
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
        assert!(keeper.pepper(PepperVersion(2)).await.unwrap().is_none());
        assert_eq!(keeper.source.loads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_empty_ring_is_refused() {
        assert!(matches!(PepperRing::new(vec![]), Err(PepperError::Empty)));
    }
}
