//! Leak response: tokens found in public, reported by GitHub's secret
//! scanning or by anyone who finds one, are revoked at once.
//!
//! A reported string counts as one of ours only if it is a well-formed
//! token whose secret matches the stored hash: knowing a token's public id
//! (shown in listings and logs) is not enough to revoke it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::lifecycle::end_self_rotations;
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
    /// A token of ours that was already revoked or expired (an expired one
    /// is revoked too, so that it can rotate itself no more).
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
        let mut to_revoke: HashMap<TokenId, (TokenRecord, String)> = HashMap::new();
        let mut leaked: HashMap<TokenId, TokenRecord> = HashMap::new();
        for (sighting, token) in sightings.iter().zip(&tokens) {
            let record = token.as_ref().and_then(|t| records.get(&t.id()));
            let finding = match (token, record) {
                (Some(token), Some(record)) if self.matches(token, record).await? => {
                    leaked.insert(record.id, record.clone());
                    let live = record.status(now) == TokenStatus::Active;
                    // An expired one never revoked is revoked too: then it can
                    // rotate itself no more (a rotation that read it live may
                    // still land), and its family walk below is final.
                    if live || record.revoked.is_none() {
                        to_revoke
                            .entry(record.id)
                            .or_insert_with(|| (record.clone(), sighting.context()));
                    }
                    if live {
                        Finding::Revoked
                    } else {
                        Finding::AlreadyEnded
                    }
                }
                _ => Finding::NotOurs,
            };
            findings.push(finding);
        }
        let outcomes = self
            .revoke_all(to_revoke, reporter, origin.clone(), now)
            .await?;
        self.end_families(leaked.values(), reporter, origin, now)
            .await?;
        // A concurrent revocation got there first: the token had ended.
        for (finding, token) in findings.iter_mut().zip(&tokens) {
            let id = token.as_ref().map(PlainToken::id);
            if *finding == Finding::Revoked
                && id.and_then(|id| outcomes.get(&id)) == Some(&RevokeOutcome::AlreadyRevoked)
            {
                *finding = Finding::AlreadyEnded;
            }
        }
        Ok(findings)
    }

    /// Revokes what each leaked token gave itself by rotating without a
    /// session (whoever found it may have rotated it first, ended or not);
    /// each is revoked by now.
    async fn end_families(
        &self,
        leaked: impl Iterator<Item = &TokenRecord>,
        reporter: Reporter,
        origin: Option<Origin>,
        now: Timestamp,
    ) -> Result<(), LeakError> {
        let mut actor = Actor::new(reporter.actor_name());
        actor.origin = origin;
        for record in leaked {
            end_self_rotations(&*self.store, record, &actor, reporter.reason(), now).await?;
        }
        Ok(())
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
        // Each record was read by the batch: a live one is revoked without a
        // second read (an expired one takes one, as `revoke_token`).
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
            last_use: Default::default(),
            org_decisions: Default::default(),
            allowed_ips: Default::default(),
            org_limit: None,
            family: None,
            rate_limit: None,
            usage_key_placed: false,
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
        // The live one and the expired one (revoked too: it must rotate no
        // more), each once, however often reported.
        assert_eq!(
            leaks.len(),
            2,
            "one event per token, however often reported"
        );
        let expired = store.get_token(&expired.id()).await.unwrap().unwrap();
        assert_eq!(expired.revoked.unwrap().reason, "leaked");
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
