//! KMS-backed peppers: each version is a 32-byte data key made by
//! `GenerateDataKey`; only its ciphertext is stored. Decrypting names the
//! same encryption context, so a ciphertext cannot be used for another
//! purpose or passed off as another version.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use crate::records::{AuditAction, AuditEvent, Timestamp};
use crate::store::pepper::{PepperError, PepperRing, PepperSource};
use crate::store::{PepperStore, StoreError, StoredPepper};
use crate::token::hash::{Pepper, PepperVersion};

/// The `purpose` every pepper's encryption context names.
pub const PEPPER_PURPOSE: &str = "cog-token-pepper";

/// The encryption context of pepper `version`.
pub fn encryption_context(version: PepperVersion) -> HashMap<String, String> {
    HashMap::from([
        ("purpose".to_owned(), PEPPER_PURPOSE.to_owned()),
        ("pepper_version".to_owned(), version.0.to_string()),
    ])
}

/// A KMS failure by kind and error code only (never the SDK's `Debug` text).
fn kms_error<E, R>(error: aws_sdk_kms::error::SdkError<E, R>) -> PepperError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    PepperError::Kms(super::sdk_error_summary(&error))
}

/// Loads the ring from the table's ciphertexts, decrypting each with KMS.
#[derive(Debug, Clone)]
pub struct KmsPepperSource<S> {
    kms: aws_sdk_kms::Client,
    store: S,
}

impl<S: PepperStore> KmsPepperSource<S> {
    pub fn new(kms: aws_sdk_kms::Client, store: S) -> Self {
        Self { kms, store }
    }

    async fn decrypt(&self, stored: &StoredPepper) -> Result<Pepper, PepperError> {
        let output = self
            .kms
            .decrypt()
            .key_id(&stored.kms_key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(
                stored.ciphertext.clone(),
            ))
            .set_encryption_context(Some(encryption_context(stored.version)))
            .send()
            .await
            .map_err(kms_error)?;
        let plaintext = Zeroizing::new(
            output
                .plaintext
                .ok_or(PepperError::Malformed(stored.version.0))?
                .into_inner(),
        );
        Pepper::new(stored.version, &plaintext)
            .map_err(|_| PepperError::Malformed(stored.version.0))
    }
}

#[async_trait]
impl<S: PepperStore> PepperSource for KmsPepperSource<S> {
    async fn load_ring(&self) -> Result<PepperRing, PepperError> {
        let started = std::time::Instant::now();
        let stored = self.store.list_peppers().await?;
        let read = started.elapsed();
        // The versions in use, decrypted at once: one KMS round trip, however many.
        let in_use = stored
            .iter()
            .filter(|s| !s.retired)
            .map(|s| self.decrypt(s));
        let peppers = futures::future::try_join_all(in_use).await?;
        tracing::info!(
            versions = peppers.len(),
            ring_read_us = read.as_micros() as u64,
            decrypt_us = (started.elapsed() - read).as_micros() as u64,
            "pepper ring loaded"
        );
        PepperRing::new(peppers)
    }
}

/// Adds the next pepper version under `key_id`, audited as done by `actor`.
/// Old versions stay usable.
pub async fn add_pepper_version(
    kms: &aws_sdk_kms::Client,
    store: &impl PepperStore,
    key_id: &str,
    actor: &str,
) -> Result<PepperVersion, PepperError> {
    let next = store
        .list_peppers()
        .await?
        .iter()
        .map(|p| p.version.0)
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or(PepperError::Malformed(u32::MAX))?;
    let version = PepperVersion(next);
    let output = kms
        .generate_data_key()
        .key_id(key_id)
        .key_spec(DataKeySpec::Aes256)
        .set_encryption_context(Some(encryption_context(version)))
        .send()
        .await
        .map_err(kms_error)?;
    // The plaintext is not needed here: wipe it at once.
    drop(
        output
            .plaintext
            .map(|blob| Zeroizing::new(blob.into_inner())),
    );
    let ciphertext = output
        .ciphertext_blob
        .ok_or(PepperError::Malformed(next))?
        .into_inner();
    let stored = StoredPepper {
        version,
        ciphertext,
        kms_key_id: output.key_id.unwrap_or_else(|| key_id.to_owned()),
        created_at: Timestamp::now(),
        retired: false,
    };
    let audit = AuditEvent::system(actor, AuditAction::PepperAdd, stored.created_at)
        .with_detail(format!("{version} under {}", stored.kms_key_id));
    match store.add_pepper(&stored, &audit).await {
        Ok(()) => Ok(version),
        Err(StoreError::AlreadyExists) => Err(PepperError::Store(StoreError::Conflict)),
        Err(error) => Err(error.into()),
    }
}
