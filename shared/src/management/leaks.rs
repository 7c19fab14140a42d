//! Leak response: tokens found in public, reported by GitHub's secret
//! scanning or by anyone who finds one, are revoked at once.
//!
//! A reported string counts as one of ours only if it is a well-formed
//! token whose secret matches the stored hash: knowing a token's public id
//! (shown in listings and logs) is not enough to revoke it.
//!
//! A leak also reaches each successor the token gave itself: whoever held
//! the leaked token could rotate it without a session first
//! (`POST /v1/tokens/self/rotate`). A rotation by the owner's session ends
//! the chain: its new token was never exposed.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::records::{Actor, AuditAction, Origin, Revocation, Timestamp, TokenRecord, TokenStatus};
use crate::store::pepper::{PepperError, PepperKeeper, PepperSource};
use crate::store::{RevokeOutcome, StoreError, TokenStore};
use crate::token::{PlainToken, TokenId};

/// Most tokens one report may carry.
pub const MAX_REPORTED_TOKENS: usize = 1000;
/// Revocations written at the same time (each is one transaction).
const REVOCATIONS_IN_FLIGHT: usize = 16;
/// Longest `url` and `source` kept in the audit event.
const CONTEXT_MAX_CHARS: usize = 512;
/// Most self-rotations a leak is followed through (each is two reads).
const MAX_SELF_ROTATIONS: usize = 16;

/// Who reported the tokens: each has its own actor, reason and audit action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reporter {
    /// GitHub's secret-scanning partner program (signed reports).
    GitHubSecretScanning,
    /// Anyone, through the public revoke route.
    Public,
}

impl Reporter {
    pub fn actor_name(self) -> &'static str {
        match self {
            Self::GitHubSecretScanning => "github-secret-scanning",
            Self::Public => "public-revoke",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::GitHubSecretScanning => "leaked",
            Self::Public => "reported",
        }
    }

    fn action(self) -> AuditAction {
        match self {
            Self::GitHubSecretScanning => AuditAction::TokenLeaked,
            Self::Public => AuditAction::TokenRevoke,
        }
    }
}

/// One reported string, and where it was seen (GitHub's `url` and `source`).
#[derive(Debug, Clone, Default)]
pub struct Sighting<'a> {
    pub token: &'a str,
    pub url: Option<&'a str>,
    pub source: Option<&'a str>,
}

impl Sighting<'_> {
    /// `url=… source=…` for the audit event, control characters dropped.
    fn context(&self) -> String {
        let clean = |text: Option<&str>| -> String {
            text.unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(CONTEXT_MAX_CHARS)
                .collect()
        };
        format!("url={} source={}", clean(self.url), clean(self.source))
    }
}

/// What became of one reported string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// Not a token of ours: malformed, unknown id, or a wrong secret.
    NotOurs,
    /// A live token of ours, revoked by this report.
    Revoked,
    /// A token of ours that was already revoked or expired: left alone.
    AlreadyEnded,
}

impl Finding {
    /// A real token of ours, live or not (GitHub's `true_positive`).
    pub fn is_ours(self) -> bool {
        self != Self::NotOurs
    }
}

/// A fault: nothing is known about the report, so the caller retries.
#[derive(Debug, thiserror::Error)]
pub enum LeakError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pepper(#[from] PepperError),
}

/// Revokes reported tokens. It holds the pepper ring to check secrets; it
/// has no way to issue.
pub struct LeakResponder<S, P> {
    store: Arc<S>,
    peppers: PepperKeeper<P>,
}

impl<S, P> std::fmt::Debug for LeakResponder<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakResponder").finish_non_exhaustive()
    }
}

impl<S: TokenStore, P: PepperSource> LeakResponder<S, P> {
    pub fn new(store: Arc<S>, peppers: PepperKeeper<P>) -> Self {
        Self { store, peppers }
    }

    /// One finding per sighting, in order. Live tokens of ours are revoked
    /// now (each once, however often it was reported), audited with where
    /// they were seen; everything else is left alone. Reads are batched.
    pub async fn respond(
        &self,
        sightings: &[Sighting<'_>],
        reporter: Reporter,
        origin: Option<Origin>,
        now: Timestamp,
    ) -> Result<Vec<Finding>, LeakError> {
        let tokens: Vec<Option<PlainToken>> = sightings
            .iter()
            .map(|s| PlainToken::parse(s.token).ok())
            .collect();
        let mut ids: Vec<TokenId> = tokens.iter().flatten().map(PlainToken::id).collect();
        ids.sort_unstable_by_key(|id| id.to_string());
        ids.dedup();
        let records: HashMap<TokenId, TokenRecord> = self
            .store
            .get_tokens(&ids)
            .await?
            .into_iter()
            .map(|record| (record.id, record))
            .collect();

        let mut findings = Vec::with_capacity(sightings.len());
        // Per sighting, the live tokens its leak reaches.
        let mut reached_by: Vec<Vec<TokenId>> = Vec::with_capacity(sightings.len());
        let mut to_revoke: HashMap<TokenId, (TokenRecord, String)> = HashMap::new();
        for (sighting, token) in sightings.iter().zip(&tokens) {
            let record = token.as_ref().and_then(|t| records.get(&t.id()));
            let (finding, reached) = match (token, record) {
                (Some(token), Some(record)) if self.matches(token, record).await? => {
                    let reached = self.reached(record, now).await?;
                    for live in &reached {
                        let context = if live.id == record.id {
                            sighting.context()
                        } else {
                            format!("successor of {}: {}", record.id, sighting.context())
                        };
                        to_revoke
                            .entry(live.id)
                            .or_insert_with(|| (live.clone(), context));
                    }
                    let ids: Vec<TokenId> = reached.iter().map(|r| r.id).collect();
                    let finding = if ids.is_empty() {
                        Finding::AlreadyEnded
                    } else {
                        Finding::Revoked
                    };
                    (finding, ids)
                }
                _ => (Finding::NotOurs, Vec::new()),
            };
            findings.push(finding);
            reached_by.push(reached);
        }
        let outcomes = self.revoke_all(to_revoke, reporter, origin, now).await?;
        // Concurrent revocations got to all it reached first: it had ended.
        for (finding, reached) in findings.iter_mut().zip(&reached_by) {
            if *finding == Finding::Revoked
                && reached
                    .iter()
                    .all(|id| outcomes.get(id) == Some(&RevokeOutcome::AlreadyRevoked))
            {
                *finding = Finding::AlreadyEnded;
            }
        }
        Ok(findings)
    }

    /// The live tokens a leak of `record` reaches: itself if live, and each
    /// successor down a chain of rotations the tokens made themselves.
    async fn reached(
        &self,
        record: &TokenRecord,
        now: Timestamp,
    ) -> Result<Vec<TokenRecord>, LeakError> {
        let mut reached = Vec::new();
        let mut current = record.clone();
        for _ in 0..MAX_SELF_ROTATIONS {
            if current.status(now) == TokenStatus::Active {
                reached.push(current.clone());
            }
            if !rotated_itself(&current) {
                break;
            }
            let Some(next) = self.store.successor(&current.id).await? else {
                break;
            };
            let Some(next) = self.store.get_token(&next).await? else {
                break;
            };
            current = next;
        }
        Ok(reached)
    }

    /// Whether `token`'s secret matches `record` (constant time).
    async fn matches(&self, token: &PlainToken, record: &TokenRecord) -> Result<bool, LeakError> {
        Ok(self
            .peppers
            .pepper(record.pepper_version)
            .await?
            .is_some_and(|pepper| pepper.verify(token, &record.hash)))
    }

    /// Revokes each token now, at most [`REVOCATIONS_IN_FLIGHT`] at a time.
    async fn revoke_all(
        &self,
        tokens: HashMap<TokenId, (TokenRecord, String)>,
        reporter: Reporter,
        origin: Option<Origin>,
        now: Timestamp,
    ) -> Result<HashMap<TokenId, RevokeOutcome>, LeakError> {
        let mut actor = Actor::new(reporter.actor_name());
        actor.origin = origin;
        let actor = &actor;
        let revocation = Revocation {
            at: now,
            by: reporter.actor_name().to_owned(),
            reason: reporter.reason().to_owned(),
        };
        let revocation = &revocation;
        // Owned items: the futures must not borrow from the stream's input.
        // Each record was read by the batch: revoked without a second read.
        let outcomes = stream::iter(tokens)
            .map(|(id, (record, context))| async move {
                let audit = actor
                    .event(reporter.action(), record.owner.clone(), now)
                    .for_token(id)
                    .with_detail(format!("{}: {context}", reporter.reason()));
                let outcome = self
                    .store
                    .revoke_active_token(&record, revocation, &audit)
                    .await?;
                Ok::<_, StoreError>((id, outcome))
            })
            .buffer_unordered(REVOCATIONS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(outcomes)
    }
}

/// Whether `record` was rotated by itself (`POST /v1/tokens/self/rotate`
/// audits and revokes as `token:<id>`), not by a session or an admin.
fn rotated_itself(record: &TokenRecord) -> bool {
    record
        .revoked
        .as_ref()
        .is_some_and(|r| r.reason == "rotated" && r.by == Actor::token_name(&record.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{FixedPeppers, MemoryStore};
    use crate::records::Owner;
    use crate::store::AuditLog;
    use crate::Pepper;
    use std::time::Duration;

    async fn responder() -> (LeakResponder<MemoryStore, FixedPeppers>, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::default());
        let keeper = PepperKeeper::load(FixedPeppers::new(&[1]), Duration::from_secs(60))
            .await
            .unwrap();
        (LeakResponder::new(store.clone(), keeper), store)
    }

    /// A token stored with its hash under `pepper` (another pepper than the
    /// ring's makes a record whose secret never matches).
    async fn stored(store: &MemoryStore, pepper: &Pepper, expires_at: Option<i64>) -> PlainToken {
        let token = PlainToken::generate().unwrap();
        let record = TokenRecord {
            id: token.id(),
            owner: Owner::user("ann"),
            name: token.id().to_string(),
            scopes: vec!["read".into()],
            hash: pepper.hash(&token),
            pepper_version: pepper.version(),
            created_at: Timestamp(0),
            expires_at: expires_at.map(Timestamp),
            revoked: None,
            last_used_at: None,
            blocked_orgs: Vec::new(),
            allowed_ips: Default::default(),
            org_limit: None,
        };
        let audit =
            Actor::new("t").event(AuditAction::TokenCreate, Owner::user("ann"), Timestamp(0));
        store.create_token(&record, 100, &audit).await.unwrap();
        token
    }

    #[tokio::test]
    async fn only_live_tokens_whose_secret_matches_are_revoked_once() {
        let (responder, store) = responder().await;
        let ring_pepper = FixedPeppers::pepper(1);
        let live = stored(&store, &ring_pepper, None).await;
        let expired = stored(&store, &ring_pepper, Some(10)).await;
        let wrong_secret = stored(
            &store,
            &Pepper::new(ring_pepper.version(), &[9; 32]).unwrap(),
            None,
        )
        .await;
        let unknown = PlainToken::generate().unwrap();
        let texts = [
            live.expose_secret(),
            expired.expose_secret(),
            wrong_secret.expose_secret(),
            unknown.expose_secret(),
            "cog_not-a-token",
            live.expose_secret(),
        ];
        let sightings: Vec<Sighting> = texts
            .iter()
            .map(|t| Sighting {
                token: t,
                url: Some("https://github.com/o/r/blob/x/.env"),
                source: Some("content"),
            })
            .collect();
        let findings = responder
            .respond(
                &sightings,
                Reporter::GitHubSecretScanning,
                None,
                Timestamp(100),
            )
            .await
            .unwrap();
        use Finding::*;
        assert_eq!(
            findings,
            [Revoked, AlreadyEnded, NotOurs, NotOurs, NotOurs, Revoked]
        );
        let record = store.get_token(&live.id()).await.unwrap().unwrap();
        assert_eq!(record.status(Timestamp(100)), TokenStatus::Revoked);
        assert_eq!(record.revoked.unwrap().reason, "leaked");
        let untouched = store.get_token(&wrong_secret.id()).await.unwrap().unwrap();
        assert!(untouched.revoked.is_none());
        let events = store
            .audit_events(Some(&Owner::user("ann")), 50)
            .await
            .unwrap();
        let leaks: Vec<_> = events
            .iter()
            .filter(|e| e.action == AuditAction::TokenLeaked)
            .collect();
        assert_eq!(
            leaks.len(),
            1,
            "one event per token, however often reported"
        );
        assert_eq!(leaks[0].actor, "github-secret-scanning");
        assert!(leaks[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("url=https://github.com/o/r/blob/x/.env source=content"));

        let again = responder
            .respond(&sightings[..1], Reporter::Public, None, Timestamp(200))
            .await
            .unwrap();
        assert_eq!(again, [AlreadyEnded]);
    }

    /// Rotates `old` as `by` (`token:<id>` for a self-rotation), the old
    /// token revoked at `revoked_at`; the new token.
    async fn rotate(
        store: &MemoryStore,
        old: &PlainToken,
        by: &str,
        revoked_at: i64,
    ) -> PlainToken {
        let pepper = FixedPeppers::pepper(1);
        let token = PlainToken::generate().unwrap();
        let record = TokenRecord {
            id: token.id(),
            hash: pepper.hash(&token),
            ..store.get_token(&old.id()).await.unwrap().unwrap()
        };
        let revocation = Revocation {
            at: Timestamp(revoked_at),
            by: by.to_owned(),
            reason: "rotated".into(),
        };
        let audit =
            Actor::new(by).event(AuditAction::TokenRotate, Owner::user("ann"), Timestamp(0));
        store
            .rotate_token(&old.id(), &revocation, &record, 100, &[audit])
            .await
            .unwrap();
        token
    }

    #[tokio::test]
    async fn a_leak_reaches_the_successors_a_token_gave_itself_and_no_session_made_one() {
        let (responder, store) = responder().await;
        let pepper = FixedPeppers::pepper(1);
        // A rotated itself into B, B into C (C in its own grace until 500),
        // then C's owner rotated it from a session into D.
        let a = stored(&store, &pepper, None).await;
        let b = rotate(&store, &a, &format!("token:{}", a.id()), 10).await;
        let c = rotate(&store, &b, &format!("token:{}", b.id()), 20).await;
        let d = rotate(&store, &c, "user:ann", 500).await;
        let sighting = Sighting {
            token: a.expose_secret(),
            ..Sighting::default()
        };
        let findings = responder
            .respond(
                std::slice::from_ref(&sighting),
                Reporter::GitHubSecretScanning,
                None,
                Timestamp(100),
            )
            .await
            .unwrap();
        assert_eq!(findings, [Finding::Revoked]);
        let status = |id: TokenId| {
            let store = store.clone();
            async move { store.get_token(&id).await.unwrap().unwrap() }
        };
        // C was live in its grace and the thief held it: revoked now.
        let c_now = status(c.id()).await;
        assert_eq!(c_now.revoked.as_ref().unwrap().at, Timestamp(100));
        assert_eq!(c_now.revoked.unwrap().reason, "leaked");
        // D came from the owner's session: never exposed, left alone.
        assert!(status(d.id()).await.revoked.is_none());
        // A and B had ended by their own rotations: left as they were.
        assert_eq!(status(a.id()).await.revoked.unwrap().reason, "rotated");
        assert_eq!(status(b.id()).await.revoked.unwrap().reason, "rotated");
        let events = store
            .audit_events(Some(&Owner::user("ann")), 50)
            .await
            .unwrap();
        let leaked: Vec<_> = events
            .iter()
            .filter(|e| e.action == AuditAction::TokenLeaked)
            .collect();
        assert_eq!(leaked.len(), 1);
        assert_eq!(leaked[0].token_id, Some(c.id()));
        assert!(leaked[0]
            .detail
            .as_deref()
            .unwrap()
            .contains(&format!("successor of {}", a.id())));

        // Reported again: nothing live is reached any more.
        let again = responder
            .respond(&[sighting], Reporter::Public, None, Timestamp(200))
            .await
            .unwrap();
        assert_eq!(again, [Finding::AlreadyEnded]);
        // A token an owner rotated from a session reaches nothing past it.
        let e = stored(&store, &pepper, None).await;
        let f = rotate(&store, &e, "user:ann", 10).await;
        let reported = Sighting {
            token: e.expose_secret(),
            ..Sighting::default()
        };
        let findings = responder
            .respond(&[reported], Reporter::Public, None, Timestamp(100))
            .await
            .unwrap();
        assert_eq!(findings, [Finding::AlreadyEnded]);
        assert!(status(f.id()).await.revoked.is_none());
    }

    #[tokio::test]
    async fn a_store_fault_fails_the_report() {
        let (responder, store) = responder().await;
        let live = stored(&store, &FixedPeppers::pepper(1), None).await;
        store.fail_all(true);
        let sighting = Sighting {
            token: live.expose_secret(),
            ..Sighting::default()
        };
        assert!(responder
            .respond(&[sighting], Reporter::Public, None, Timestamp(1))
            .await
            .is_err());
    }
}
