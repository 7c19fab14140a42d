//! The authorization decision for one request: the design's checks, in its
//! order, independent of any API Gateway event shape.
//!
//! bearer → format and checksum (no I/O) → token and owner records (one
//! strongly consistent read) → constant-time HMAC → revoked? expired? →
//! owner still allowed → route scope → Allow.
//!
//! Layer 4, with its rules (`routes`), orgs' PAT policies as applied
//! (`org_policies`) and the context it hands on (`context`). May import
//! `store`, `records`, `token`; never `management` or `events`.

pub mod context;
pub mod org_policies;
pub mod routes;

use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::authorize::org_policies::PolicyCache;
use crate::authorize::routes::RouteRules;
use crate::logging::Causes;
use crate::records::{
    AuditAction, AuditEvent, OrgMembership, Owner, OwnerKind, PrincipalStatus, Timestamp,
    TokenRecord, TokenStatus,
};
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
}

/// The method and path a request is for, when the event tells them.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    pub method: &'a str,
    pub path: &'a str,
}

/// Who a valid token acts as, passed downstream as authorizer context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub owner: Owner,
    pub token_id: TokenId,
    pub scopes: Vec<String>,
    pub orgs: Vec<OrgMembership>,
}

impl Identity {
    /// `pat` or `service_key`.
    pub fn auth_method(&self) -> &'static str {
        self.owner.kind.auth_method()
    }

    /// Scopes, space-separated (the OAuth convention).
    pub fn scopes_text(&self) -> String {
        self.scopes.join(" ")
    }

    /// Memberships as `org:role` pairs joined by `,`, each part
    /// percent-encoding `%`, `,` and `:` so the string always splits cleanly.
    pub fn orgs_text(&self) -> String {
        let mut text = String::with_capacity(self.orgs.len() * 24);
        for (index, membership) in self.orgs.iter().enumerate() {
            if index > 0 {
                text.push(',');
            }
            push_encoded(&mut text, &membership.org_id);
            text.push(':');
            push_encoded(&mut text, &membership.role);
        }
        text
    }
}

/// Appends `value`, percent-encoding the three characters the format uses.
fn push_encoded(text: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '%' => text.push_str("%25"),
            ',' => text.push_str("%2C"),
            ':' => text.push_str("%3A"),
            c => text.push(c),
        }
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
}

impl ForbidReason {
    /// Whether only this route is refused (a scope it needs): any other
    /// refusal is about the caller, and a cached policy must deny the stage.
    pub fn is_route_only(self) -> bool {
        match self {
            ForbidReason::MissingScope => true,
            ForbidReason::SourceNotAllowed | ForbidReason::SourceUnknown => false,
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
}

/// Holds what an authorizer process keeps between requests.
pub struct Authorizer<S, P> {
    store: Arc<S>,
    peppers: PepperKeeper<P>,
    settings: AuthorizerSettings,
    known: Mutex<HashMap<TokenId, KnownToken>>,
    background: Mutex<Vec<JoinHandle<()>>>,
    policies: PolicyCache,
}

impl<S, P> Authorizer<S, P>
where
    S: CredentialLookup + TokenStore + 'static,
    P: PepperSource,
{
    pub fn new(store: Arc<S>, peppers: PepperKeeper<P>, settings: AuthorizerSettings) -> Self {
        Self {
            store,
            peppers,
            known: Mutex::new(HashMap::new()),
            background: Mutex::new(Vec::new()),
            policies: PolicyCache::new(settings.org_policy_ttl),
            settings,
        }
    }

    pub fn route_rules(&self) -> &RouteRules {
        &self.settings.route_rules
    }

    /// Decides one request. `authorization` is the raw `Authorization`
    /// header value; `source` the caller's address as the event gives it
    /// (parsed only for a token with an IP allowlist; text that is no
    /// address counts as none).
    pub async fn authorize(
        &self,
        authorization: Option<&str>,
        route: Option<Route<'_>>,
        source: Option<&str>,
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
        let hint = self.owner_hint(&id);
        let (record, principal) = self.store.token_and_owner(&id, hint.as_ref()).await?;

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
            return Ok(Unauthorized(DenyReason::WrongSecret));
        }
        let orgs = match self.acting_orgs(&record, principal, now).await? {
            Ok(orgs) => orgs,
            Err(reason) => {
                // A denied token costs what an unknown one does from now on.
                self.forget(&id);
                return Ok(Unauthorized(reason));
            }
        };
        if !record.allowed_ips.is_empty() {
            let source = source.and_then(|text| text.parse::<IpAddr>().ok());
            if !record.allowed_ips.admits(source) {
                self.record_refusal(&record, source, now);
                let reason = match source {
                    Some(_) => ForbidReason::SourceNotAllowed,
                    None => ForbidReason::SourceUnknown,
                };
                return Ok(Decision::Forbidden(identity(record, orgs), reason));
            }
        }
        if let Some(ring) = &ring {
            self.after_success(&token, &record, ring.current(), now);
        }
        Ok(self.decide_route(identity(record, orgs), route))
    }

    /// The orgs a live token acts in: its owner's (a PAT's, less those that
    /// blocked it), or why it may not act at all.
    async fn acting_orgs(
        &self,
        record: &TokenRecord,
        principal: Option<Principal>,
        now: Timestamp,
    ) -> Result<Result<Vec<OrgMembership>, DenyReason>, AuthorizeError> {
        let orgs = match record.status(now) {
            TokenStatus::Revoked => return Ok(Err(DenyReason::Revoked)),
            TokenStatus::Expired => return Ok(Err(DenyReason::Expired)),
            TokenStatus::Active => match owner_memberships(record, principal) {
                Ok(orgs) => orgs,
                Err(reason) => return Ok(Err(reason)),
            },
        };
        Ok(Ok(match record.owner.kind {
            OwnerKind::User => {
                self.policies
                    .pat_orgs(self.store.as_ref(), record, orgs)
                    .await?
            }
            OwnerKind::ServiceUser => orgs,
        }))
    }

    /// Allow, unless a route rule needs a scope the token lacks (403).
    fn decide_route(&self, identity: Identity, route: Option<Route<'_>>) -> Decision {
        if let Some(route) = route {
            let mut needed = self
                .settings
                .route_rules
                .required_scopes(route.method, route.path);
            if needed.any(|scope| !identity.scopes.iter().any(|s| s == scope)) {
                return Decision::Forbidden(identity, ForbidReason::MissingScope);
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
    }

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
    fn record_refusal(&self, record: &TokenRecord, source: Option<IpAddr>, now: Timestamp) {
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

    /// `last_used_at` and the lazy re-hash: written off the request path,
    /// and a failure there never changes the decision.
    fn after_success(
        &self,
        token: &PlainToken,
        record: &TokenRecord,
        current: &crate::token::hash::Pepper,
        now: Timestamp,
    ) {
        let interval_ms = self.last_used_interval_ms();
        let threshold = now.0.saturating_sub(interval_ms);
        let stale_in_record = record.last_used_at.is_none_or(|at| at.0 <= threshold);
        if self.remember_and_claim(record, now, interval_ms, stale_in_record, |k| {
            &mut k.touched_at
        }) {
            let store = Arc::clone(&self.store);
            let id = record.id;
            self.spawn(async move {
                if let Err(error) = store.touch_last_used(&id, now, interval_ms).await {
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
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        if let Ok(mut handles) = self.background.lock() {
            handles.retain(|h| !h.is_finished());
            handles.push(handle);
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

fn identity(record: TokenRecord, orgs: Vec<OrgMembership>) -> Identity {
    Identity {
        owner: record.owner,
        token_id: record.id,
        scopes: record.scopes,
        orgs,
    }
}

/// The owner's memberships if the owner may still act through this token
/// (and has not revoked it with "revoke all" since it was made).
fn owner_memberships(
    record: &TokenRecord,
    principal: Option<Principal>,
) -> Result<Vec<OrgMembership>, DenyReason> {
    match (record.owner.kind, principal) {
        (_, None) => Err(DenyReason::OwnerMissing),
        (_, Some(principal)) if record.predates(principal.tokens_valid_after()) => {
            Err(DenyReason::Revoked)
        }
        (OwnerKind::User, Some(Principal::User(account)))
            if account.user_id == record.owner.id && account.may_use_pats() =>
        {
            Ok(account.orgs)
        }
        (OwnerKind::ServiceUser, Some(Principal::Service(user)))
            if user.id == record.owner.id && user.status == PrincipalStatus::Active =>
        {
            Ok(vec![OrgMembership {
                org_id: user.org_id,
                role: user.role,
            }])
        }
        _ => Err(DenyReason::OwnerNotAllowed),
    }
}
