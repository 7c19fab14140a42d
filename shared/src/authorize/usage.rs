//! What an authorization writes besides its answer: `last_used_at`, the
//! lazy re-hash, and a refused address's audit record, each throttled per
//! token by what this process remembers of it.

use std::net::IpAddr;
use std::sync::Arc;

use super::{Authorizer, KnownToken, Source, KNOWN_TOKENS_CAPACITY};
use crate::logging::Causes;
use crate::records::{AuditAction, AuditEvent, LastUse, Timestamp, TokenRecord};
use crate::store::feed::RevocationFeed;
use crate::store::pepper::PepperSource;
use crate::store::{CredentialLookup, StoreError, TokenStore};
use crate::token::hash::Pepper;
use crate::token::PlainToken;

impl<S, P> Authorizer<S, P>
where
    S: CredentialLookup + TokenStore + RevocationFeed + 'static,
    P: PepperSource,
{
    /// Remembers the token's owner and decides whether this request starts
    /// a throttled write (`last_used_at`, or a refused-address record): due
    /// (`stale_in_record`) and not already started by this process within
    /// the interval (the time `slot` keeps).
    fn remember_and_claim(
        &self,
        record: &TokenRecord,
        now: Timestamp,
        interval_ms: i64,
        stale_in_record: bool,
        slot: fn(&mut KnownToken) -> &mut Option<Timestamp>,
    ) -> bool {
        let threshold = now.0.saturating_sub(interval_ms);
        let Ok(mut known) = self.known.lock() else {
            return stale_in_record;
        };
        if known.len() >= KNOWN_TOKENS_CAPACITY && !known.contains_key(&record.id) {
            known.clear();
        }
        let entry = known.entry(record.id).or_insert_with(|| KnownToken {
            owner: record.owner.clone(),
            touched_at: None,
            refusal_recorded_at: None,
        });
        let last = slot(entry);
        let claim = stale_in_record && last.is_none_or(|at| at.0 <= threshold);
        if claim {
            *last = Some(now);
        }
        claim
    }

    fn last_used_interval_ms(&self) -> i64 {
        i64::try_from(self.settings.last_used_interval.as_millis()).unwrap_or(i64::MAX)
    }

    /// A refused source address goes to the audit trail (and from there to
    /// the event bus), at most once per `last_used_at` interval per token.
    /// Cold: kept out of the allowed path's code.
    #[cold]
    #[inline(never)]
    pub(super) fn record_refusal(
        &self,
        record: &TokenRecord,
        source: Option<IpAddr>,
        now: Timestamp,
    ) {
        let interval_ms = self.last_used_interval_ms();
        if !self.remember_and_claim(record, now, interval_ms, true, |k| {
            &mut k.refusal_recorded_at
        }) {
            return;
        }
        let store = Arc::clone(&self.store);
        let id = record.id;
        let source = source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let audit = AuditEvent::new(
            "authorizer",
            AuditAction::TokenIpRefused,
            record.owner.clone(),
            now,
        )
        .for_token(id)
        .with_detail(format!("source_ip={source}"));
        self.spawn(async move {
            if let Err(error) = store.record_refused_ip(&id, now, interval_ms, &audit).await {
                tracing::warn!(token_id = %id, error = %Causes(&error), "refused address not recorded");
            }
        });
    }

    /// `last_used_at` (with the use's details, which it returns when it
    /// writes them) and the lazy re-hash. With API Gateway's cache on, a
    /// due `last_used_at` write is awaited and its fault fails closed: the
    /// invalidator skips flushing the gateway for a credential whose
    /// `last_used_at` is older than the TTL plus the interval, which holds
    /// only if every Allow has recorded a use within the interval
    /// (docs/authorizer.md, "Caching"). Otherwise both are written off the
    /// request path, and a failure there never changes the decision.
    pub(super) async fn after_success(
        &self,
        token: &PlainToken,
        record: &TokenRecord,
        current: &Pepper,
        source: Source<'_>,
        now: Timestamp,
    ) -> Result<Option<LastUse>, StoreError> {
        let interval_ms = self.last_used_interval_ms();
        let threshold = now.0.saturating_sub(interval_ms);
        let stale_in_record = record.last_used_at.is_none_or(|at| at.0 <= threshold);
        let claimed = self.remember_and_claim(record, now, interval_ms, stale_in_record, |k| {
            &mut k.touched_at
        });
        // Read from the event only for a use that is recorded: the address
        // parse and the copy happen once per interval per token.
        let details = claimed.then(|| {
            record
                .last_use
                .after(now, source.address(), source.user_agent)
        });
        if let (Some(details), true) = (&details, self.settings.caching.gateway_cache_on) {
            let id = record.id;
            if let Err(error) = self
                .store
                .touch_last_used(&id, now, interval_ms, details)
                .await
            {
                self.forget(&id);
                return Err(error);
            }
            if let Some(credentials) = &self.credentials {
                credentials.touched(&id, now, details);
            }
        } else if let Some(details) = &details {
            let store = Arc::clone(&self.store);
            let id = record.id;
            if let Some(credentials) = &self.credentials {
                credentials.touched(&id, now, details);
            }
            let details = details.clone();
            self.spawn(async move {
                if let Err(error) = store.touch_last_used(&id, now, interval_ms, &details).await {
                    tracing::warn!(token_id = %id, error = %Causes(&error), "last_used_at update failed");
                }
            });
        }
        if current.version() > record.pepper_version {
            let store = Arc::clone(&self.store);
            let (id, old, new, version) = (
                record.id,
                record.hash.clone(),
                current.hash(token),
                current.version(),
            );
            let audit = AuditEvent::new(
                "authorizer",
                AuditAction::TokenRehash,
                record.owner.clone(),
                now,
            )
            .for_token(id)
            .with_detail(format!("pepper {} -> {version}", record.pepper_version));
            self.spawn(async move {
                match store.replace_hash(&id, &old, &new, version, &audit).await {
                    Ok(_) => {
                        tracing::info!(token_id = %id, pepper_version = %version, "token re-hashed")
                    }
                    Err(error) => {
                        tracing::warn!(token_id = %id, error = %Causes(&error), "re-hash failed")
                    }
                }
            });
        }
        Ok(details)
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        if let Ok(mut handles) = self.background.lock() {
            handles.retain(|h| !h.is_finished());
            handles.push(handle);
        }
    }
}
