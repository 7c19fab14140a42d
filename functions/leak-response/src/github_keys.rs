//! GitHub's secret-scanning signing keys and the signature check.
//!
//! GitHub signs each report's raw body with ECDSA P-256 / SHA-256 (the
//! signature DER, base64, in `Github-Public-Key-Signature`) under the key
//! `Github-Public-Key-Identifier` names, from the set it publishes at
//! <https://api.github.com/meta/public_keys/secret_scanning>.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// Why a report is not signed by GitHub: always 401, nothing done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature or key identifier header is missing")]
    Missing,
    #[error("the signature is not base64 DER")]
    Malformed,
    #[error("no published key has this identifier")]
    UnknownKey,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The key set could not be fetched or read: a fault (503, GitHub retries).
#[derive(Debug, Clone, thiserror::Error)]
#[error("GitHub's key set is unavailable: {0}")]
pub struct KeySetError(pub String);

/// A published key set, parsed: identifier → key.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

#[derive(Deserialize)]
struct PublishedKeys {
    public_keys: Vec<PublishedKey>,
}

#[derive(Deserialize)]
struct PublishedKey {
    key_identifier: String,
    key: String,
}

impl KeySet {
    /// Reads GitHub's JSON (`{"public_keys": [{"key_identifier", "key"}]}`,
    /// keys as PEM). A key that does not parse as P-256 is an error: the
    /// set is refused whole rather than served in part.
    pub fn from_json(text: &str) -> Result<Self, KeySetError> {
        let published: PublishedKeys =
            serde_json::from_str(text).map_err(|e| KeySetError(format!("not a key set: {e}")))?;
        let mut keys = HashMap::new();
        for key in published.public_keys {
            let parsed = VerifyingKey::from_public_key_pem(&key.key).map_err(|_| {
                KeySetError(format!(
                    "key {} is not a P-256 public key",
                    key.key_identifier
                ))
            })?;
            keys.insert(key.key_identifier, parsed);
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key published under `id`.
    pub fn key(&self, id: &str) -> Option<&VerifyingKey> {
        self.keys.get(id)
    }
}

/// Checks `signature` (base64 DER) over `body` exactly as received.
pub fn verify(key: &VerifyingKey, signature: &str, body: &[u8]) -> Result<(), SignatureError> {
    let der = STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed)?;
    let signature =
        DerSignature::try_from(der.as_slice()).map_err(|_| SignatureError::Malformed)?;
    key.verify(body, &signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// Where the key set comes from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The published key set's JSON text.
    async fn fetch(&self) -> Result<String, KeySetError>;
}

/// Settings of [`GitHubKeys`].
#[derive(Debug, Clone, Copy)]
pub struct KeyCachePolicy {
    /// A fetched set is used this long before it is fetched again.
    pub ttl: Duration,
    /// At most one fetch per this interval, whatever the reports name: an
    /// attacker's made-up key ids cannot make the function hammer GitHub.
    pub min_fetch_interval: Duration,
}

impl Default for KeyCachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            min_fetch_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default)]
struct Cached {
    set: Arc<KeySet>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    /// Why the last fetch failed; `None` once one succeeds.
    failure: Option<KeySetError>,
}

/// No key set current enough to call a key id unknown: a fault of ours
/// (503, GitHub retries), never a 401.
#[derive(Debug, thiserror::Error)]
#[error("{reason} (next fetch in {}s)", retry_after.as_secs())]
pub struct KeysUnavailable {
    pub reason: KeySetError,
    /// Until the next fetch is allowed: retrying sooner cannot help.
    pub retry_after: Duration,
}

/// GitHub's keys: a fixed set, or fetched and cached with a TTL, fetched
/// again once when a report names an unknown key (rate-limited).
pub struct GitHubKeys {
    source: Option<Box<dyn KeySource>>,
    policy: KeyCachePolicy,
    cached: tokio::sync::Mutex<Cached>,
}

impl std::fmt::Debug for GitHubKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubKeys")
            .field("fetched", &self.source.is_some())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl GitHubKeys {
    /// A configured set, never fetched.
    pub fn fixed(set: KeySet) -> Self {
        Self {
            source: None,
            policy: KeyCachePolicy::default(),
            cached: tokio::sync::Mutex::new(Cached {
                set: Arc::new(set),
                ..Cached::default()
            }),
        }
    }

    /// A set fetched from `source` on first use, then as `policy` says.
    pub fn fetched(source: impl KeySource + 'static, policy: KeyCachePolicy) -> Self {
        Self {
            source: Some(Box::new(source)),
            policy,
            cached: tokio::sync::Mutex::new(Cached::default()),
        }
    }

    /// Verifies a report: `key_id` and `signature` are the two headers. An
    /// id missing from a set we could not fetch or refresh may be a key
    /// GitHub rotated in: unavailable, not `UnknownKey`.
    pub async fn verify_report(
        &self,
        key_id: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Result<(), SignatureError>, KeysUnavailable> {
        let (Some(key_id), Some(signature)) = (key_id, signature) else {
            return Ok(Err(SignatureError::Missing));
        };
        let (set, unavailable) = {
            let mut cached = self.cached.lock().await;
            self.refresh_for(&mut cached, key_id).await;
            let unavailable = cached.failure.clone().map(|reason| KeysUnavailable {
                reason,
                retry_after: self.next_fetch_in(&cached),
            });
            (Arc::clone(&cached.set), unavailable)
        };
        match (set.key(key_id), unavailable) {
            (Some(key), _) => Ok(verify(key, signature, body)),
            (None, None) => Ok(Err(SignatureError::UnknownKey)),
            (None, Some(unavailable)) => Err(unavailable),
        }
    }

    /// Fetches the set if it is stale or lacks `key_id` and the last fetch
    /// is old enough. A failed fetch keeps the last good set.
    async fn refresh_for(&self, cached: &mut Cached, key_id: &str) {
        let Some(source) = &self.source else {
            return;
        };
        let fresh = cached
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.policy.ttl);
        if fresh && cached.set.key(key_id).is_some() {
            return;
        }
        let may_fetch = cached
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.policy.min_fetch_interval);
        if !may_fetch {
            return;
        }
        cached.last_attempt = Some(Instant::now());
        match source
            .fetch()
            .await
            .and_then(|text| KeySet::from_json(&text))
        {
            Ok(set) => {
                cached.set = Arc::new(set);
                cached.fetched_at = Some(Instant::now());
                cached.failure = None;
            }
            Err(error) => {
                tracing::warn!(%error, "key set fetch failed: keeping the last good set, if any");
                cached.failure = Some(error);
            }
        }
    }

    /// Whole seconds until a fetch is allowed again, at least one.
    fn next_fetch_in(&self, cached: &Cached) -> Duration {
        let waited = cached.last_attempt.map_or(Duration::MAX, |at| at.elapsed());
        let left = self.policy.min_fetch_interval.saturating_sub(waited);
        Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            .max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// GitHub's example from "Secret scanning partner program" (docs.github.com,
    /// code-security/secret-scanning/secret-scanning-partnership-program,
    /// "Implement signature verification"): the sample request's body, key
    /// identifier and signature. The key is the one GitHub publishes under
    /// that identifier at api.github.com/meta/public_keys/secret_scanning.
    const DOC_BODY: &str = r#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;
    const DOC_KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
    const DOC_SIGNATURE: &str = "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
    const DOC_KEY_SET: &str = r#"{"public_keys":[{"key_identifier":"bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c","key":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAd\nAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==\n-----END PUBLIC KEY-----\n","is_current":true}]}"#;

    #[tokio::test]
    async fn githubs_documented_example_verifies_and_any_change_does_not() {
        let keys = GitHubKeys::fixed(KeySet::from_json(DOC_KEY_SET).unwrap());
        let check = |id, signature, body: &'static str| {
            let keys = &keys;
            async move {
                keys.verify_report(id, signature, body.as_bytes())
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            check(Some(DOC_KEY_ID), Some(DOC_SIGNATURE), DOC_BODY).await,
            Ok(())
        );
        // The raw body is what is signed: one more space breaks it.
        let spaced = r#"[{"source": "commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;
        assert_eq!(
            check(Some(DOC_KEY_ID), Some(DOC_SIGNATURE), spaced).await,
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(Some("other"), Some(DOC_SIGNATURE), DOC_BODY).await,
            Err(SignatureError::UnknownKey)
        );
        assert_eq!(
            check(Some(DOC_KEY_ID), Some("not base64!"), DOC_BODY).await,
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            check(Some(DOC_KEY_ID), Some("AAAA"), DOC_BODY).await,
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            check(None, Some(DOC_SIGNATURE), DOC_BODY).await,
            Err(SignatureError::Missing)
        );
    }

    struct Counting {
        fetches: Arc<AtomicUsize>,
        text: String,
    }

    #[async_trait]
    impl KeySource for Counting {
        async fn fetch(&self) -> Result<String, KeySetError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok(self.text.clone())
        }
    }

    #[tokio::test]
    async fn unknown_key_ids_refetch_at_most_once_per_interval() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let keys = GitHubKeys::fetched(
            Counting {
                fetches: fetches.clone(),
                text: DOC_KEY_SET.into(),
            },
            KeyCachePolicy {
                ttl: Duration::from_secs(3600),
                min_fetch_interval: Duration::from_secs(3600),
            },
        );
        let body = DOC_BODY.as_bytes();
        for _ in 0..3 {
            assert_eq!(
                keys.verify_report(Some(DOC_KEY_ID), Some(DOC_SIGNATURE), body)
                    .await
                    .unwrap(),
                Ok(())
            );
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "cached after the first fetch"
        );
        for _ in 0..5 {
            let answer = keys.verify_report(Some("made-up"), Some(DOC_SIGNATURE), body);
            assert_eq!(answer.await.unwrap(), Err(SignatureError::UnknownKey));
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "refetches are rate-limited"
        );
    }

    /// Serves `DOC_KEY_SET` while `up` holds, else fails as GitHub being down.
    struct Flaky {
        up: Arc<std::sync::atomic::AtomicBool>,
    }

    #[async_trait]
    impl KeySource for Flaky {
        async fn fetch(&self) -> Result<String, KeySetError> {
            if self.up.load(Ordering::SeqCst) {
                Ok(DOC_KEY_SET.into())
            } else {
                Err(KeySetError("connection refused".into()))
            }
        }
    }

    fn flaky(
        up: bool,
        min_fetch_interval: Duration,
    ) -> (GitHubKeys, Arc<std::sync::atomic::AtomicBool>) {
        let up = Arc::new(std::sync::atomic::AtomicBool::new(up));
        let policy = KeyCachePolicy {
            ttl: Duration::from_secs(3600),
            min_fetch_interval,
        };
        (GitHubKeys::fetched(Flaky { up: up.clone() }, policy), up)
    }

    #[tokio::test]
    async fn no_key_set_yet_is_unavailable_on_every_report_not_unknown_key() {
        let (keys, _up) = flaky(false, Duration::from_secs(60));
        let body = DOC_BODY.as_bytes();
        for attempt in 0..3 {
            let answer = keys.verify_report(Some(DOC_KEY_ID), Some(DOC_SIGNATURE), body);
            let unavailable = answer.await.expect_err("our fault, not a 401");
            assert!(
                (1..=60).contains(&unavailable.retry_after.as_secs()),
                "attempt {attempt}: retry when a fetch is allowed again"
            );
        }
    }

    #[tokio::test]
    async fn an_unknown_key_while_the_refresh_fails_is_unavailable_then_refused_once_it_works() {
        let (keys, up) = flaky(true, Duration::ZERO);
        let body = DOC_BODY.as_bytes();
        let check = |id| keys.verify_report(Some(id), Some(DOC_SIGNATURE), body);
        assert_eq!(check(DOC_KEY_ID).await.unwrap(), Ok(()));
        up.store(false, Ordering::SeqCst);
        assert!(
            check("rotated-in").await.is_err(),
            "maybe a new key we cannot see"
        );
        assert_eq!(
            check(DOC_KEY_ID).await.unwrap(),
            Ok(()),
            "the last good set still verifies"
        );
        assert!(check("rotated-in").await.is_err());
        up.store(true, Ordering::SeqCst);
        assert_eq!(
            check("rotated-in").await.unwrap(),
            Err(SignatureError::UnknownKey),
            "a fresh set without the id: 401"
        );
    }

    #[test]
    fn a_key_set_with_a_bad_key_is_refused_whole() {
        let bad = r#"{"public_keys":[{"key_identifier":"x","key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}]}"#;
        assert!(KeySet::from_json(bad).is_err());
        assert!(KeySet::from_json("[]").is_err());
        assert_eq!(KeySet::from_json(DOC_KEY_SET).unwrap().len(), 1);
    }
}
