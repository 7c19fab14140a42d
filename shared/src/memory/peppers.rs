//! A pepper source of fixed keys, for tests and benches.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::store::pepper::{PepperError, PepperRing, PepperSource};
use crate::token::hash::{Pepper, PepperVersion};

/// A pepper source of fixed keys: version `v` is 32 bytes of `v`. Clones
/// share their versions, so a test can "rotate" after handing one over.
#[derive(Debug, Clone)]
pub struct FixedPeppers {
    versions: std::sync::Arc<Mutex<Vec<u32>>>,
}

impl FixedPeppers {
    pub fn new(versions: &[u32]) -> Self {
        Self {
            versions: std::sync::Arc::new(Mutex::new(versions.to_vec())),
        }
    }

    /// The pepper a version stands for, to hash test tokens with.
    pub fn pepper(version: u32) -> Pepper {
        // 32 bytes always make a valid pepper.
        Pepper::new(PepperVersion(version), &[version as u8; 32])
            .unwrap_or_else(|_| unreachable!("32-byte key"))
    }

    /// Makes `version` loadable (a rotation seen on the next reload).
    pub fn add(&self, version: u32) {
        if let Ok(mut versions) = self.versions.lock() {
            versions.push(version);
        }
    }
}

#[async_trait]
impl PepperSource for FixedPeppers {
    async fn load_ring(&self) -> Result<PepperRing, PepperError> {
        let versions = self
            .versions
            .lock()
            .map_err(|_| PepperError::Empty)?
            .clone();
        PepperRing::new(versions.into_iter().map(Self::pepper).collect())
    }
}
