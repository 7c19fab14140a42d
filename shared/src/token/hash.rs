//! Peppered token hashes: HMAC-SHA-256 of the whole token, keyed by a pepper.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::token::PlainToken;

type HmacSha256 = Hmac<Sha256>;

/// Length in bytes of a pepper and of a stored hash.
pub const PEPPER_LEN: usize = 32;
pub const HASH_LEN: usize = 32;

/// Which pepper a hash was made with. Stored beside every hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct PepperVersion(pub u32);

impl fmt::Display for PepperVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A pepper key made ready for hashing.
///
/// It keeps only the keyed HMAC state (the key itself is not retained), which
/// the `hmac` crate wipes on drop. `Debug` shows the version only.
#[derive(Clone)]
pub struct Pepper {
    version: PepperVersion,
    keyed: HmacSha256,
}

/// A pepper must be exactly 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("pepper must be {PEPPER_LEN} bytes, got {0}")]
pub struct PepperLengthError(pub usize);

impl Pepper {
    pub fn new(version: PepperVersion, key: &[u8]) -> Result<Self, PepperLengthError> {
        if key.len() != PEPPER_LEN {
            return Err(PepperLengthError(key.len()));
        }
        let keyed = HmacSha256::new_from_slice(key).map_err(|_| PepperLengthError(key.len()))?;
        Ok(Self { version, keyed })
    }

    pub fn version(&self) -> PepperVersion {
        self.version
    }

    /// The hash stored for `token` under this pepper.
    pub fn hash(&self, token: &PlainToken) -> TokenHash {
        let mut mac = self.keyed.clone();
        mac.update(token.as_bytes());
        TokenHash(mac.finalize().into_bytes().into())
    }

    /// A key for `purpose`, derived from this pepper (HMAC of the label).
    /// No label may start with `cog_`, so none is ever a token's hash.
    pub(crate) fn derived_key(&self, purpose: &'static [u8]) -> zeroize::Zeroizing<[u8; HASH_LEN]> {
        debug_assert!(!purpose.starts_with(b"cog_"));
        let mut mac = self.keyed.clone();
        mac.update(purpose);
        zeroize::Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// Whether `stored` is this pepper's hash of `token`, compared in constant time.
    pub fn verify(&self, token: &PlainToken, stored: &TokenHash) -> bool {
        let mut mac = self.keyed.clone();
        mac.update(token.as_bytes());
        mac.verify_slice(&stored.0).is_ok()
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pepper")
            .field("version", &self.version)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A stored token hash. Not a secret by itself, but never needed in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; HASH_LEN]);

impl TokenHash {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; HASH_LEN]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper(byte: u8, version: u32) -> Pepper {
        Pepper::new(PepperVersion(version), &[byte; PEPPER_LEN]).unwrap()
    }

    #[test]
    fn given_the_same_pepper_then_the_hash_verifies() {
        let token = PlainToken::generate().unwrap();
        let pepper = pepper(7, 1);
        assert!(pepper.verify(&token, &pepper.hash(&token)));
    }

    #[test]
    fn given_another_pepper_or_token_then_verification_fails() {
        let token = PlainToken::generate().unwrap();
        let other_token = PlainToken::generate().unwrap();
        let stored = pepper(7, 1).hash(&token);
        assert!(!pepper(8, 1).verify(&token, &stored));
        assert!(!pepper(7, 1).verify(&other_token, &stored));
    }

    #[test]
    fn given_a_key_of_the_wrong_length_then_it_is_refused() {
        assert_eq!(
            Pepper::new(PepperVersion(1), &[0; 31]).unwrap_err(),
            PepperLengthError(31)
        );
        assert!(Pepper::new(PepperVersion(1), &[0; 33]).is_err());
    }

    #[test]
    fn debug_output_hides_key_and_hash() {
        let pepper = pepper(0xAB, 3);
        let debug = format!("{pepper:?}");
        assert!(
            debug.contains("<redacted>") && !debug.contains("171"),
            "{debug}"
        );
        let hash = pepper.hash(&PlainToken::generate().unwrap());
        assert_eq!(format!("{hash:?}"), "TokenHash(..)");
    }
}
