//! Token format v1: `cog_` + ID (16) + SECRET (32) + CHECKSUM (6), all base62.
//!
//! Parsing is pure (no I/O) and total: every input either yields a
//! [`PlainToken`] or a precise [`TokenFormatError`], and nothing panics.

use std::fmt;
use std::str::FromStr;

use rand::rngs::OsRng;
use rand::TryRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The fixed prefix of every credential. Secret scanners key on it: never change it.
pub const PREFIX: &str = "cog_";
pub const ID_LEN: usize = 16;
pub const SECRET_LEN: usize = 32;
pub const CHECKSUM_LEN: usize = 6;
/// Total length of a v1 token.
pub const TOKEN_LEN: usize = PREFIX.len() + ID_LEN + SECRET_LEN + CHECKSUM_LEN;
/// Regex that secret scanners use to find v1 tokens.
pub const SCANNER_REGEX: &str = "cog_[0-9A-Za-z]{54}";

/// Base62 in the order the design fixes: digits, upper case, lower case.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const ID_START: usize = PREFIX.len();
const SECRET_START: usize = ID_START + ID_LEN;
const CHECKSUM_START: usize = SECRET_START + SECRET_LEN;

/// Why a string is not a v1 token. Each variant has a stable [`code`](Self::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("token does not start with `cog_`")]
    MissingPrefix,
    #[error("token must be {TOKEN_LEN} characters long, got {actual} bytes")]
    WrongLength { actual: usize },
    #[error("token has a character outside base62 at byte {position}")]
    InvalidCharacter { position: usize },
    #[error("token checksum does not match")]
    BadChecksum,
}

impl TokenFormatError {
    /// Stable machine-readable name, used by the test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingPrefix => "missing_prefix",
            Self::WrongLength { .. } => "wrong_length",
            Self::InvalidCharacter { .. } => "invalid_character",
            Self::BadChecksum => "bad_checksum",
        }
    }
}

/// The operating system's random generator failed; no token was made.
#[derive(Debug, thiserror::Error)]
#[error("operating system randomness unavailable")]
pub struct RandomnessError(#[source] pub(crate) rand::rand_core::OsError);

/// Branch-free, so the all-bytes check below compiles to SIMD.
fn is_base62(byte: u8) -> bool {
    let is_digit = byte.wrapping_sub(b'0') < 10;
    let is_letter = (byte | 0x20).wrapping_sub(b'a') < 26;
    is_digit | is_letter
}

/// CRC-32 (IEEE) of `cog_ + ID + SECRET` as 6 base62 digits, left-padded with `0`.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(body);
    let mut digits = [b'0'; CHECKSUM_LEN];
    // 62^6 > u32::MAX, so six digits always hold the value.
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// The public half of a token: its lookup key. Always 16 base62 characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId([u8; ID_LEN]);

impl TokenId {
    pub fn as_str(&self) -> &str {
        // Only base62 bytes ever get in, so this is valid ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Listing hint that reveals no SECRET character: `cog_` + 8 ID characters + `…`.
    pub fn display_hint(&self) -> String {
        format!("{PREFIX}{}…", &self.as_str()[..8])
    }
}

impl FromStr for TokenId {
    type Err = TokenIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        if bytes.len() != ID_LEN || !bytes.iter().copied().all(is_base62) {
            return Err(TokenIdError);
        }
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(bytes);
        Ok(Self(id))
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", self.as_str())
    }
}

impl serde::Serialize for TokenId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A string that is not 16 base62 characters was given as a token id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("token id must be 16 base62 characters")]
pub struct TokenIdError;

/// A whole, well-formed v1 token, including its SECRET.
///
/// It has no `Display`, its `Debug` shows only the ID, and its bytes are
/// wiped when it is dropped. The text leaves it only through
/// [`expose_secret`](Self::expose_secret), for the one response that creates it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PlainToken([u8; TOKEN_LEN]);

impl PlainToken {
    /// A fresh token from the OS CSPRNG, each character uniform over base62.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut token = [0u8; TOKEN_LEN];
        token[..ID_START].copy_from_slice(PREFIX.as_bytes());
        fill_base62(&mut token[ID_START..CHECKSUM_START])?;
        let sum = checksum(&token[..CHECKSUM_START]);
        token[CHECKSUM_START..].copy_from_slice(&sum);
        Ok(Self(token))
    }

    /// Checks prefix, length, alphabet and checksum, in that order, without I/O.
    pub fn parse(text: &str) -> Result<Self, TokenFormatError> {
        let bytes = text.as_bytes();
        if !bytes.starts_with(PREFIX.as_bytes()) {
            return Err(TokenFormatError::MissingPrefix);
        }
        if bytes.len() != TOKEN_LEN {
            return Err(TokenFormatError::WrongLength {
                actual: bytes.len(),
            });
        }
        let body = &bytes[ID_START..];
        // The fast check runs on every request; the position only on failure.
        if !body.iter().fold(true, |ok, &b| ok & is_base62(b)) {
            let position = body.iter().position(|&b| !is_base62(b)).unwrap_or(0);
            return Err(TokenFormatError::InvalidCharacter {
                position: ID_START + position,
            });
        }
        if checksum(&bytes[..CHECKSUM_START]) != bytes[CHECKSUM_START..] {
            return Err(TokenFormatError::BadChecksum);
        }
        let mut token = [0u8; TOKEN_LEN];
        token.copy_from_slice(bytes);
        Ok(Self(token))
    }

    pub fn id(&self) -> TokenId {
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&self.0[ID_START..SECRET_START]);
        TokenId(id)
    }

    /// The full token text. Call only to hand the token to its owner once.
    pub fn expose_secret(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The bytes that get hashed: the whole 58-character token.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl FromStr for PlainToken {
    type Err = TokenFormatError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainToken")
            .field("id", &self.id().as_str())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Fills `out` with base62 characters by rejection sampling: the low six bits
/// of a random byte are uniform over 0..64, and 62 and 63 are thrown away, so
/// every character is exactly uniform (no modulo bias).
fn fill_base62(out: &mut [u8]) -> Result<(), RandomnessError> {
    let mut pool = zeroize::Zeroizing::new([0u8; 64]);
    let mut filled = 0;
    while filled < out.len() {
        OsRng
            .try_fill_bytes(pool.as_mut())
            .map_err(RandomnessError)?;
        for &byte in pool.iter() {
            let index = usize::from(byte & 0x3F);
            if index < ALPHABET.len() {
                out[filled] = ALPHABET[index];
                filled += 1;
                if filled == out.len() {
                    break;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_length_are_pinned_forever() {
        // Secret scanners and integrators depend on these: changing them is a new version.
        assert_eq!(PREFIX, "cog_");
        assert_eq!(TOKEN_LEN, 58);
        assert_eq!(SCANNER_REGEX, "cog_[0-9A-Za-z]{54}");
    }

    #[test]
    fn given_a_generated_token_then_it_parses_back_to_the_same_id() {
        let token = PlainToken::generate().unwrap();
        let text = token.expose_secret();
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(text.starts_with(PREFIX));
        let parsed = PlainToken::parse(text).unwrap();
        assert_eq!(parsed.id(), token.id());
    }

    #[test]
    fn given_a_token_then_debug_never_shows_the_secret() {
        let token = PlainToken::generate().unwrap();
        let debug = format!("{token:?}");
        let secret = &token.expose_secret()[SECRET_START..CHECKSUM_START];
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains(token.id().as_str()));
    }

    #[test]
    fn given_a_token_then_the_hint_is_the_prefix_and_eight_id_characters() {
        let token = PlainToken::generate().unwrap();
        let hint = token.id().display_hint();
        assert_eq!(hint, format!("cog_{}…", &token.id().as_str()[..8]));
        // Everything before the ellipsis is a prefix of the ID part: no SECRET character.
        assert!(token
            .expose_secret()
            .starts_with(hint.trim_end_matches('…')));
        assert!(hint.trim_end_matches('…').len() < SECRET_START);
    }

    #[test]
    fn checksum_of_zero_crc_pads_with_zeros() {
        // crc32("") == 0, a cheap way to see the padding rule.
        assert_eq!(&checksum(b""), b"000000");
    }

    #[test]
    fn rejection_sampling_is_close_to_uniform() {
        // 62 * 2000 characters: each symbol should land near 2000 times.
        let mut buf = vec![0u8; 62 * 2000];
        fill_base62(&mut buf).unwrap();
        let mut counts = [0usize; 256];
        for &b in &buf {
            counts[usize::from(b)] += 1;
        }
        for &symbol in ALPHABET {
            let count = counts[usize::from(symbol)];
            assert!((1700..2300).contains(&count), "{} {count}", symbol as char);
        }
        assert_eq!(counts.iter().sum::<usize>(), buf.len());
    }

    #[test]
    fn base62_check_agrees_with_the_alphabet_for_every_byte() {
        for byte in 0..=u8::MAX {
            assert_eq!(is_base62(byte), ALPHABET.contains(&byte), "{byte}");
        }
    }

    #[test]
    fn token_id_parses_only_sixteen_base62_characters() {
        assert!("0123456789ABCDEF".parse::<TokenId>().is_ok());
        assert_eq!("0123456789ABCDE".parse::<TokenId>(), Err(TokenIdError));
        assert_eq!("0123456789ABCDE-".parse::<TokenId>(), Err(TokenIdError));
        assert_eq!("0123456789ABCDEFG".parse::<TokenId>(), Err(TokenIdError));
    }
}
