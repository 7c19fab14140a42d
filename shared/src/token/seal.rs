//! A secret sealed under a pepper for a short stay in storage: the token an
//! `Idempotency-Key` retry gets back. AES-256-GCM under a key derived from
//! the pepper, a random nonce per seal, and associated data that binds the
//! sealed bytes to the record they belong to (moved to another, they do
//! not open). Whoever cannot use the pepper cannot open them.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::rngs::OsRng;
use rand::TryRngCore;
use zeroize::Zeroizing;

use crate::token::hash::Pepper;
use crate::token::RandomnessError;

/// The derived key's label (never a token: it does not start with `cog_`).
const PURPOSE: &[u8] = b"seal/idempotency-record/v1";
const NONCE_LEN: usize = 12;

/// Sealing failed: no randomness for the nonce, or the cipher refused.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    #[error("encryption failed")]
    Cipher,
}

fn cipher(pepper: &Pepper) -> Aes256Gcm {
    let key = pepper.derived_key(PURPOSE);
    let key: &[u8; 32] = &key;
    Aes256Gcm::new(key.into())
}

/// `secret` sealed under `pepper`, bound to `context`: nonce, then
/// ciphertext and tag.
pub fn seal(pepper: &Pepper, context: &[u8], secret: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.try_fill_bytes(&mut nonce).map_err(RandomnessError)?;
    let payload = Payload {
        msg: secret,
        aad: context,
    };
    let sealed = cipher(pepper)
        .encrypt(&Nonce::from(nonce), payload)
        .map_err(|_| SealError::Cipher)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The secret `sealed` holds, if it was sealed by `seal` under this pepper
/// with this `context`; `None` for anything else (altered, moved, another
/// pepper, too short).
pub fn open(pepper: &Pepper, context: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let payload = Payload {
        msg: ciphertext,
        aad: context,
    };
    cipher(pepper)
        .decrypt(&Nonce::from(nonce), payload)
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::hash::PepperVersion;

    fn pepper(byte: u8) -> Pepper {
        Pepper::new(PepperVersion(1), &[byte; 32]).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_pepper_and_context() {
        let secret = b"cog_secret";
        let sealed = seal(&pepper(7), b"record A", secret).unwrap();
        assert!(!sealed.windows(secret.len()).any(|w| w == secret));
        assert_eq!(
            open(&pepper(7), b"record A", &sealed).unwrap().as_slice(),
            secret
        );
        assert!(open(&pepper(8), b"record A", &sealed).is_none());
        assert!(open(&pepper(7), b"record B", &sealed).is_none());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&pepper(7), b"record A", &altered).is_none());
        assert!(open(&pepper(7), b"record A", &sealed[..NONCE_LEN]).is_none());
        assert!(open(&pepper(7), b"record A", &[]).is_none());
    }

    #[test]
    fn every_seal_has_its_own_nonce() {
        let a = seal(&pepper(7), b"r", b"s").unwrap();
        let b = seal(&pepper(7), b"r", b"s").unwrap();
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }
}
