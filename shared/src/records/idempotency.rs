//! `Idempotency-Key` (Stripe's semantics): a request that issues a
//! credential, sent again by the same caller with the same key and the same
//! request within 24 hours, gets the first one's result back, the token
//! included, and nothing is issued twice. The same key with another request
//! is refused.
//!
//! What is kept: a record under a hash of the caller and the key (the key is
//! never stored as sent), a hash of the request, the token's id, and the
//! token sealed under the pepper (`token::seal`), bound to this record.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::primitives::{Timestamp, DAY_MS};
use crate::token::hash::PepperVersion;
use crate::token::TokenId;

/// How long a key holds its result.
pub const IDEMPOTENCY_WINDOW_MS: i64 = DAY_MS;
/// The longest key accepted, in characters (Stripe's bound).
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// Why an `Idempotency-Key` header is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters, no comma")]
pub struct InvalidIdempotencyKey;

/// One retryable request: which record it claims (the caller and the key,
/// hashed) and what was asked (method, path and body, hashed).
#[derive(Clone, PartialEq, Eq)]
pub struct RetryKey {
    pub record: [u8; 32],
    pub fingerprint: [u8; 32],
}

impl std::fmt::Debug for RetryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryKey(..)")
    }
}

impl RetryKey {
    /// The retry key of `caller`'s request (who asks, as audited:
    /// `user:<id>`, or `token:<id>` for a token acting on itself): `key` as
    /// sent in the header, and the request it came with. The body is
    /// compared as JSON (key order and spacing aside) when it is JSON, else
    /// byte for byte.
    pub fn new(
        caller: &str,
        key: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Self, InvalidIdempotencyKey> {
        // No comma: API Gateway joins repeated header lines with one, so a
        // key with a comma could be two keys.
        let valid = !key.is_empty()
            && key.len() <= IDEMPOTENCY_KEY_MAX_LEN
            && key
                .bytes()
                .all(|b| (b.is_ascii_graphic() || b == b' ') && b != b',');
        if !valid || key.trim() != key {
            return Err(InvalidIdempotencyKey);
        }
        let record = digest(&[b"idempotency/v1", caller.as_bytes(), key.as_bytes()]);
        // No body asks what `{}` asks (a rotation's body is optional).
        let body = if body.is_empty() {
            b"{}".as_slice()
        } else {
            body
        };
        let canonical = match serde_json::from_slice::<Value>(body) {
            Ok(value) => {
                let mut out = String::new();
                canonical_json(&value, &mut out);
                out.into_bytes()
            }
            Err(_) => body.to_vec(),
        };
        let fingerprint = digest(&[method.as_bytes(), path.as_bytes(), &canonical]);
        Ok(Self {
            record,
            fingerprint,
        })
    }
}

/// SHA-256 of `parts`, each length-prefixed so no two lists collide.
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().into()
}

/// `value` with every object's keys sorted and no spacing.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// What a key's first request left: the credential it issued, sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: [u8; 32],
    pub fingerprint: [u8; 32],
    pub token_id: TokenId,
    /// The pepper the token is sealed under.
    pub pepper_version: PepperVersion,
    /// `token::seal` of the token, bound to [`context`](Self::context).
    pub sealed_token: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for IdempotencyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyRecord")
            .field("token_id", &self.token_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl IdempotencyRecord {
    /// Whether the key still holds its result at `now`.
    pub fn holds_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }

    /// The associated data the token is sealed with: the record's key,
    /// request and token id, so sealed bytes open in their own record only.
    pub fn context(key: &[u8; 32], fingerprint: &[u8; 32], token_id: &TokenId) -> Vec<u8> {
        [key.as_slice(), fingerprint, token_id.as_str().as_bytes()].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> String {
        format!("user:{id}")
    }

    fn key(caller: &str, key: &str, body: &str) -> RetryKey {
        RetryKey::new(&user(caller), key, "POST", "/v1/tokens", body.as_bytes()).unwrap()
    }

    #[test]
    fn keys_are_one_to_255_visible_characters() {
        let body = b"{}";
        for bad in ["", " k", "k ", "k\n", "ké", "a,b", &"k".repeat(256)] {
            let made = RetryKey::new(&user("u"), bad, "POST", "/v1/tokens", body);
            assert_eq!(made, Err(InvalidIdempotencyKey), "{bad:?}");
        }
        for good in [
            "k",
            "0b7c4a52-7d3a-4d0e-9b8c-1f2e3d4c5b6a",
            "a b",
            &"k".repeat(255),
        ] {
            assert!(RetryKey::new(&user("u"), good, "POST", "/v1/tokens", body).is_ok());
        }
    }

    #[test]
    fn the_record_is_the_callers_and_the_keys() {
        let a = key("alice", "k1", "{}");
        assert_eq!(a.record, key("alice", "k1", r#"{"x":1}"#).record);
        assert_ne!(a.record, key("bob", "k1", "{}").record);
        assert_ne!(a.record, key("alice", "k2", "{}").record);
        // Length-prefixed: moving a character between caller and key differs.
        assert_ne!(key("ab", "c", "{}").record, key("a", "bc", "{}").record);
    }

    #[test]
    fn the_fingerprint_is_the_request_as_json_not_as_typed() {
        let a = key("u", "k", r#"{"name":"ci","scopes":["read","write"]}"#);
        let same = key(
            "u",
            "k",
            "{ \"scopes\": [\"read\", \"write\"],\n \"name\": \"ci\" }",
        );
        assert_eq!(a.fingerprint, same.fingerprint);
        for other in [
            r#"{"name":"cd","scopes":["read","write"]}"#,
            r#"{"name":"ci","scopes":["write","read"]}"#,
            r#"{"name":"ci","scopes":["read","write"],"expires_in_days":null}"#,
        ] {
            assert_ne!(a.fingerprint, key("u", "k", other).fingerprint, "{other}");
        }
        let elsewhere =
            RetryKey::new(&user("u"), "k", "POST", "/v1/tokens/X/rotate", b"{}").unwrap();
        assert_ne!(key("u", "k", "{}").fingerprint, elsewhere.fingerprint);
        // Not JSON: compared byte for byte.
        assert_ne!(
            key("u", "k", "a=1").fingerprint,
            key("u", "k", "a=2").fingerprint
        );
        assert_eq!(
            key("u", "k", "").fingerprint,
            key("u", "k", "{}").fingerprint
        );
    }

    #[test]
    fn nothing_the_caller_sent_shows_in_debug() {
        let text = format!("{:?}", key("alice", "secret-key", "{}"));
        assert!(
            !text.contains("alice") && !text.contains("secret"),
            "{text}"
        );
    }
}
