//! The authorization decision for one request: the design's checks, in its
//! order, independent of any API Gateway event shape.
//!
//! bearer → format and checksum (no I/O) → token and owner records (one
//! strongly consistent read, or this instance's verified copy) →
//! constant-time HMAC → revoked? expired? → owner still allowed → route
//! scope → rate limit → Allow.
//!
//! Layer 4, with its rules (`routes`), orgs' PAT policies as applied
//! (`org_policies`), the first cache tier (`credentials`), rate limits (`rate_limits`), the writes
//! besides the answer (`usage`), who a token acts as (`identity`) and the
//! context it hands on (`context`).
//! May import `store`, `records`, `token`; never `management` or `events`.

pub mod context;
pub mod credentials;
mod identity;
pub mod org_policies;
pub mod rate_limits;
pub mod routes;
mod usage;

pub use identity::Identity;

use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::authorize::credentials::{CredentialCache, CredentialCacheSettings, Verified};
use crate::authorize::org_policies::PolicyCache;
use crate::authorize::rate_limits::RateLimiter;
use crate::authorize::routes::RouteRules;
use crate::records::{
    OrgMembership, Owner, OwnerKind, RateLimit, Timestamp, TokenRecord, TokenStatus,
};
use crate::store::feed::RevocationFeed;
use crate::store::pepper::{PepperError, PepperKeeper, PepperSource};
use crate::store::{CredentialLookup, Principal, StoreError, TokenStore};
use crate::token::bearer::extract_bearer;
use crate::token::{PlainToken, TokenId};

/// Tokens remembered per process (owner, last `last_used_at` write).
const KNOWN_TOKENS_CAPACITY: usize = 10_000;

/// What a process remembers of a token it has allowed.
#[derive(Debug, Clone)]
struct KnownToken {
    /// A token's owner never changes, so this is never stale.
    owner: Owner,
    /// When this process last started a `last_used_at` write for it, so a hot
    /// token costs one write per interval, not one per request in flight.
    touched_at: Option<Timestamp>,
    /// When this process last started recording a refused source address.
    refusal_recorded_at: Option<Timestamp>,
}

/// Settings read once at cold start.
#[derive(Debug, Clone)]
pub struct AuthorizerSettings {
    pub route_rules: RouteRules,
    /// `last_used_at` is written at most once per this interval per token.
    pub last_used_interval: Duration,
    /// How long an org's PAT policy is served from this process's cache.
    pub org_policy_ttl: Duration,
    pub caching: CachingSettings,
}

/// How the authorizer takes part in caching; all off by default (every
/// request reads the store, as with API Gateway's cache off).
#[derive(Debug, Clone, Copy, Default)]
pub struct CachingSettings {
    /// The first tier: verified credentials kept by this instance.
    pub credentials: Option<CredentialCacheSettings>,
    /// API Gateway caches answers (`AuthorizerResultTtl` > 0): a due
    /// `last_used_at` write is made before answering.
    pub gateway_cache_on: bool,
    /// An answer other than 401 ready later than this after its read began
    /// is a fault (500, never cached), so no answer computed from state read
    /// before a change can reach the gateway's cache later than the
    /// invalidator's second flush.
    pub deadline: Option<Duration>,
    /// REST usage plans are on: a rate-limited credential whose key the
    /// sync has not placed yet is not kept in the first tier, so the first
    /// answer after the sync marks it names its own key (until then, a
    /// second or two, each of its requests reads the store).
    pub awaits_usage_keys: bool,
}

/// The method and path a request is for, when the event tells them.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    pub method: &'a str,
    pub path: &'a str,
}

/// Where a request came from, as its event tells: the source address (text
/// that is no address counts as none) and the `User-Agent`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Source<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl<'a> Source<'a> {
    /// A request from `ip` that told no user agent.
    pub fn ip(ip: Option<&'a str>) -> Self {
        Self {
            ip,
            user_agent: None,
        }
    }

    fn address(&self) -> Option<IpAddr> {
        self.ip.and_then(|text| text.parse().ok())
    }
}

/// Why a request is refused with 401. Logged (with the public token id at
/// most), never shown to the caller: every reason gets the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    MissingCredential,
    Malformed,
    UnknownToken,
    UnknownPepper,
    WrongSecret,
    Revoked,
    Expired,
    OwnerMissing,
    OwnerNotAllowed,
}

/// Why a valid token is refused with 403. Logged; the caller sees only 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbidReason {
    /// A route rule requires a scope the token lacks.
    MissingScope,
    /// The request came from outside the token's IP allowlist.
    SourceNotAllowed,
    /// The token has an allowlist and the event tells no source address
    /// (a REST `TOKEN` authorizer).
    SourceUnknown,
    /// The token's rate limit is spent, in this process (`rate_limits`).
    RateLimited,
}

impl ForbidReason {
    /// Whether only this route is refused (a scope it needs): any other
    /// refusal is about the caller, and a cached policy must deny the stage.
    pub fn is_route_only(self) -> bool {
        match self {
            ForbidReason::MissingScope => true,
            // The limit is the credential's, on every route.
            ForbidReason::SourceNotAllowed
            | ForbidReason::SourceUnknown
            | ForbidReason::RateLimited => false,
        }
    }
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(Identity),
    /// A valid token that may not make this request: 403.
    Forbidden(Identity, ForbidReason),
    /// 401, whatever the reason.
    Unauthorized(DenyReason),
}

/// An infrastructure fault: the caller must answer with an error, never Allow.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pepper(#[from] PepperError),
    #[error("answer ready after {0:?}, past the deadline")]
    Late(Duration),
}

/// Holds what an authorizer process keeps between requests.
pub struct Authorizer<S, P> {
    store: Arc<S>,
    peppers: PepperKeeper<P>,
    settings: AuthorizerSettings,
    known: Mutex<HashMap<TokenId, KnownToken>>,
    background: Mutex<Vec<JoinHandle<()>>>,
    policies: PolicyCache,
    credentials: Option<CredentialCache>,
    rates: RateLimiter,
}

impl<S, P> Authorizer<S, P>
where
    S: CredentialLookup + TokenStore + RevocationFeed + 'static,
    P: PepperSource,
{
    pub fn new(store: Arc<S>, peppers: PepperKeeper<P>, settings: AuthorizerSettings) -> Self {
        Self {
            store,
            peppers,
            known: Mutex::new(HashMap::new()),
            background: Mutex::new(Vec::new()),
            policies: PolicyCache::new(settings.org_policy_ttl),
            credentials: settings.caching.credentials.map(CredentialCache::new),
            rates: RateLimiter::default(),
            settings,
        }
    }

    pub fn route_rules(&self) -> &RouteRules {
        &self.settings.route_rules
    }

    /// Decides one request. `authorization` is the raw `Authorization`
    /// header value; `source` where the event says it came from (read only
    /// for a token with an IP allowlist, or when its use is recorded).
    pub async fn authorize(
        &self,
        authorization: Option<&str>,
        route: Option<Route<'_>>,
        source: Source<'_>,
        now: Timestamp,
    ) -> Result<Decision, AuthorizeError> {
        let started = Instant::now();
        let decision = self.decide(authorization, route, source, now).await?;
        if let Some(deadline) = self.settings.caching.deadline {
            let took = started.elapsed();
            if took > deadline && !matches!(decision, Decision::Unauthorized(_)) {
                return Err(AuthorizeError::Late(took));
            }
        }
        Ok(decision)
    }

    async fn decide(
        &self,
        authorization: Option<&str>,
        route: Option<Route<'_>>,
        source: Source<'_>,
        now: Timestamp,
    ) -> Result<Decision, AuthorizeError> {
        use Decision::Unauthorized;

        let Some(credential) = authorization.and_then(|h| extract_bearer(h).ok()) else {
            return Ok(Unauthorized(DenyReason::MissingCredential));
        };
        let Ok(token) = PlainToken::parse(credential) else {
            return Ok(Unauthorized(DenyReason::Malformed));
        };
        let id = token.id();
        let read_started = Timestamp::now();
        let cached = self.cached(&id).await;
        let from_cache = cached.is_some();
        let (record, principal) = match cached {
            Some(verified) => (Some(verified.record), Some(verified.principal)),
            None => {
                let hint = self.owner_hint(&id);
                self.store.token_and_owner(&id, hint.as_ref()).await?
            }
        };

        let Some(record) = record else {
            self.equalize_work(&token);
            return Ok(Unauthorized(DenyReason::UnknownToken));
        };
        let ring = self.peppers.ring_with(record.pepper_version).await?;
        let Some(pepper) = ring.as_ref().and_then(|r| r.get(record.pepper_version)) else {
            self.equalize_work(&token);
            return Ok(Unauthorized(DenyReason::UnknownPepper));
        };
        if !pepper.verify(&token, &record.hash) {
            if from_cache {
                // The read an uncached id pays: a wrong secret takes as long
                // whether or not the id is in use.
                let _ = self.store.token_and_owner(&id, Some(&record.owner)).await;
            }
            return Ok(Unauthorized(DenyReason::WrongSecret));
        }
        let awaiting_key = self.settings.caching.awaits_usage_keys
            && record.rate_limit.is_some()
            && !record.usage_key_placed;
        let kept = match (&self.credentials, &principal) {
            (Some(_), Some(principal)) if !from_cache && !awaiting_key => Some(principal.clone()),
            _ => None,
        };
        let memberships = match live_memberships(&record, principal, now) {
            Ok(memberships) => memberships,
            Err(reason) => {
                // A denied token costs what an unknown one does from now on.
                self.forget(&id);
                return Ok(Unauthorized(reason));
            }
        };
        let address = (!record.allowed_ips.is_empty()).then(|| source.address());
        let admitted = address.is_none_or(|address| record.allowed_ips.admits(address));
        // A due `last_used_at` write, awaited with the gateway's cache on,
        // runs beside the org-policy read: the cold path pays the longer
        // of the two, not their sum.
        let acting = self.acting_orgs(&record, memberships);
        let (orgs, written) = match (&ring, admitted) {
            (Some(ring), true) => {
                let written = self.after_success(&token, &record, ring.current(), source, now);
                futures::join!(acting, written)
            }
            _ => (acting.await, Ok(None)),
        };
        let orgs = orgs?;
        if let (Some(credentials), Some(principal)) = (&self.credentials, kept) {
            // As stored once a use it recorded lands, so the next write
            // builds on these details.
            let mut record = record.clone();
            if let Ok(Some(details)) = &written {
                record.last_used_at = Some(now);
                record.last_use.clone_from(details);
            }
            credentials.insert(Verified { record, principal }, read_started);
        }
        if let Some(address) = address.filter(|_| !admitted) {
            self.record_refusal(&record, address, now);
            let reason = match address {
                Some(_) => ForbidReason::SourceNotAllowed,
                None => ForbidReason::SourceUnknown,
            };
            return Ok(Decision::Forbidden(Identity::of(record, orgs), reason));
        }
        written?;
        // One bucket per self-rotation chain: rotating itself does not
        // give a token a fresh burst.
        let rate_limit = record.rate_limit.map(|limit| (record.family_root(), limit));
        Ok(self.decide_route(Identity::of(record, orgs), route, rate_limit, now))
    }

    /// This instance's verified copy of `id`, if the first tier holds one
    /// (after applying the feed; orgs it names lose their cached policy).
    async fn cached(&self, id: &TokenId) -> Option<Verified> {
        let credentials = self.credentials.as_ref()?;
        let (found, applied) = credentials.get(self.store.as_ref(), id).await;
        for org in &applied.orgs {
            self.policies.forget(org);
        }
        found
    }

    /// The orgs a live token acts in: its owner's `memberships`, for a PAT
    /// less those that block it.
    async fn acting_orgs(
        &self,
        record: &TokenRecord,
        memberships: Vec<OrgMembership>,
    ) -> Result<Vec<OrgMembership>, AuthorizeError> {
        Ok(match record.owner.kind {
            OwnerKind::User => {
                self.policies
                    .pat_orgs(self.store.as_ref(), record, memberships)
                    .await?
            }
            OwnerKind::ServiceUser => memberships,
        })
    }

    /// Allow, unless a route rule needs a scope the token lacks or its rate
    /// limit is spent (403). Only a request that passes the rules is counted.
    fn decide_route(
        &self,
        identity: Identity,
        route: Option<Route<'_>>,
        rate_limit: Option<(TokenId, RateLimit)>,
        now: Timestamp,
    ) -> Decision {
        if let Some(route) = route {
            let mut needed = self
                .settings
                .route_rules
                .required_scopes(route.method, route.path);
            if needed.any(|scope| !identity.scopes.iter().any(|s| s == scope)) {
                return Decision::Forbidden(identity, ForbidReason::MissingScope);
            }
        }
        if let Some((bucket, limit)) = rate_limit {
            if !self.rates.admit(&bucket, limit, now) {
                return Decision::Forbidden(identity, ForbidReason::RateLimited);
            }
        }
        Decision::Allow(identity)
    }

    /// Waits for the background writes started so far (tests, shutdown).
    pub async fn finish_background_writes(&self) {
        let handles = match self.background.lock() {
            Ok(mut handles) => std::mem::take(&mut *handles),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for handle in handles {
            let _ = handle.await;
        }
    }

    /// The HMAC a found token would have cost, so an unknown id takes about
    /// as long as a wrong secret.
    fn equalize_work(&self, token: &PlainToken) {
        black_box(self.peppers.ring().current().hash(token));
    }

    fn owner_hint(&self, id: &TokenId) -> Option<Owner> {
        self.known.lock().ok()?.get(id).map(|k| k.owner.clone())
    }

    fn forget(&self, id: &TokenId) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(id);
        }
        if let Some(credentials) = &self.credentials {
            credentials.forget(id);
        }
    }
}

impl<S, P> std::fmt::Debug for Authorizer<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The owner's memberships if `record` is live at `now` and its owner may
/// still act through it (and has not revoked it with "revoke all" since it
/// was made), or why not.
fn live_memberships(
    record: &TokenRecord,
    principal: Option<Principal>,
    now: Timestamp,
) -> Result<Vec<OrgMembership>, DenyReason> {
    match record.status(now) {
        TokenStatus::Revoked => return Err(DenyReason::Revoked),
        TokenStatus::Expired => return Err(DenyReason::Expired),
        TokenStatus::Active => {}
    }
    match principal {
        None => Err(DenyReason::OwnerMissing),
        Some(principal) if record.predates(principal.tokens_valid_after()) => {
            Err(DenyReason::Revoked)
        }
        Some(principal) => principal
            .memberships_for(record)
            .ok_or(DenyReason::OwnerNotAllowed),
    }
}
