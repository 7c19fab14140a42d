//! In-memory fakes of the storage ports and the pepper source, for unit
//! tests and benchmarks of handlers (feature `test-util`). They keep the same
//! rules as the DynamoDB adapter: conditional creates, the active-token limit,
//! idempotent revocation, all-or-nothing rotation, audit with every change.
//!
//! Layer 5, like `aws`: may import `store`, `records`, `token` only.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::records::{
    Account, AuditEvent, Denial, IdempotencyRecord, IpAllowlist, LastUse, OrgPolicy, Owner,
    OwnerKind, RateLimit, Revocation, ServiceUser, StatusFilter, Timestamp, TokenRecord,
    TokenStatus,
};
use crate::store::{Follow, RevokeOutcome, RotationTerms, StoreError, TokenPage, TokenStore};
use crate::token::hash::{PepperVersion, TokenHash};
use crate::token::TokenId;

mod lookup;
mod peppers;
mod principals;
mod scan;

pub use peppers::FixedPeppers;

#[derive(Debug, Default)]
struct State {
    tokens: HashMap<TokenId, (TokenRecord, bool)>,
    counters: HashMap<Owner, u32>,
    /// (owner, uniqueness key) -> the token holding the name.
    names: HashMap<(Owner, String), TokenId>,
    accounts: HashMap<String, Account>,
    service_users: HashMap<String, ServiceUser>,
    org_policies: HashMap<String, OrgPolicy>,
    /// The directory version of each account written from it.
    account_versions: HashMap<String, i64>,
    feed: crate::store::feed::FeedSnapshot,
    scheduled_ends: std::collections::BTreeSet<(Timestamp, TokenId)>,
    expiry_notices: HashMap<TokenId, Vec<crate::store::expiry::ExpiryNotice>>,
    /// Service users ever created, by org (the per-org limit).
    org_service_users: HashMap<String, u32>,
    /// When each token's last refused-IP event was written.
    ip_refusals: HashMap<TokenId, Timestamp>,
    /// A rotated token's successor: later per-token changes follow it.
    replaced_by: HashMap<TokenId, TokenId>,
    /// Requests counted per (key, window start).
    rates: HashMap<(String, i64), u32>,
    idempotency: HashMap<[u8; 32], IdempotencyRecord>,
    audit: Vec<AuditEvent>,
}

/// Whether `record`'s key is free for it: no record, or an expired one.
fn idempotency_free(state: &State, record: Option<&IdempotencyRecord>) -> bool {
    record.is_none_or(|record| {
        state
            .idempotency
            .get(&record.key)
            .is_none_or(|held| !held.holds_at(record.created_at))
    })
}

fn keep_idempotency(state: &mut State, record: Option<&IdempotencyRecord>) {
    if let Some(record) = record {
        state.idempotency.insert(record.key, record.clone());
    }
}

/// Every storage port in memory. `fail_all` makes each call fail as if
/// DynamoDB were down, to test that callers fail closed.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    failing: AtomicBool,
    failing_touches: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail_all(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Makes only the authorizer's side writes (`last_used_at`, re-hash) fail.
    pub fn fail_side_writes(&self, failing: bool) {
        self.failing_touches.store(failing, Ordering::SeqCst);
    }

    fn side_write_state(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        if self.failing_touches.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected side-write fault".into()));
        }
        self.state()
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("injected fault".into()));
        }
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))
    }

    /// Every audit event, oldest first.
    pub fn all_audit_events(&self) -> Vec<AuditEvent> {
        self.state
            .lock()
            .map(|s| s.audit.clone())
            .unwrap_or_default()
    }
}

/// `change` with `audit` on token `id` and on the successors rotations gave
/// it that `follow` reaches (as the DynamoDB adapter).
fn change_following_rotations(
    state: &mut State,
    id: &TokenId,
    audit: &AuditEvent,
    follow: Follow,
    change: impl Fn(&mut TokenRecord),
) -> Result<(), StoreError> {
    if !state.tokens.contains_key(id) {
        return Err(StoreError::NotFound);
    }
    let (mut id, mut audit) = (*id, audit.clone());
    loop {
        let Some((record, _)) = state.tokens.get_mut(&id) else {
            return Ok(());
        };
        let before = record.clone();
        change(record);
        state.audit.push(audit.clone());
        let Some(&successor) = state.replaced_by.get(&id) else {
            return Ok(());
        };
        let follows = state
            .tokens
            .get(&successor)
            .is_some_and(|(next, _)| follow.reaches(&before, next));
        if !follows {
            return Ok(());
        }
        audit = audit.carried_to(successor, &id);
        id = successor;
    }
}

fn sort_key(record: &TokenRecord) -> (Timestamp, TokenId) {
    (record.created_at, record.id)
}

fn encode_cursor(record: &TokenRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}#{}", record.created_at.0, record.id))
}

/// A cursor of `<ms>#<id>`: tokens, service users and audit events.
fn decode_timed_cursor(cursor: &str) -> Result<(Timestamp, String), StoreError> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(StoreError::InvalidCursor)?;
    let (at, id) = text.split_once('#').ok_or(StoreError::InvalidCursor)?;
    let at = at.parse().map_err(|_| StoreError::InvalidCursor)?;
    Ok((Timestamp(at), id.to_owned()))
}

fn decode_cursor(cursor: &str) -> Result<(Timestamp, TokenId), StoreError> {
    let (at, id) = decode_timed_cursor(cursor)?;
    Ok((at, id.parse().map_err(|_| StoreError::InvalidCursor)?))
}

/// Ends a token's life at `revocation.at` (bringing a later one forward),
/// releasing its slot and its name. `false`: revoked at or before that already.
fn revoke_in(state: &mut State, id: &TokenId, revocation: &Revocation) -> Result<bool, StoreError> {
    let (record, holds_slot) = state.tokens.get_mut(id).ok_or(StoreError::NotFound)?;
    if record
        .revoked
        .as_ref()
        .is_some_and(|r| r.at <= revocation.at)
    {
        return Ok(false);
    }
    record.revoked = Some(revocation.clone());
    let owner = record.owner.clone();
    let name = name_slot(record);
    if std::mem::replace(holds_slot, false) {
        if let Some(count) = state.counters.get_mut(&owner) {
            *count = count.saturating_sub(1);
        }
    }
    if state.names.get(&name) == Some(id) {
        state.names.remove(&name);
    }
    Ok(true)
}

fn name_slot(record: &TokenRecord) -> (Owner, String) {
    (
        record.owner.clone(),
        crate::records::names::uniqueness_key(&record.name),
    )
}

/// Whether the name of `record` is free for it at `now` (or held by `previous`).
fn name_free(
    state: &State,
    record: &TokenRecord,
    now: Timestamp,
    previous: Option<&TokenId>,
) -> bool {
    match state.names.get(&name_slot(record)) {
        None => true,
        Some(holder) if Some(holder) == previous => true,
        Some(holder) => state
            .tokens
            .get(holder)
            .is_none_or(|(r, _)| r.expires_at.is_some_and(|e| e <= now)),
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn create_token_once(
        &self,
        record: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.tokens.contains_key(&record.id) || !idempotency_free(&state, idempotency) {
            return Err(StoreError::AlreadyExists);
        }
        if state.counters.get(&record.owner).copied().unwrap_or(0) >= limit {
            return Err(StoreError::LimitReached { limit });
        }
        if !name_free(&state, record, record.created_at, None) {
            return Err(StoreError::NameTaken);
        }
        *state.counters.entry(record.owner.clone()).or_default() += 1;
        state.names.insert(name_slot(record), record.id);
        state.tokens.insert(record.id, (record.clone(), true));
        keep_idempotency(&mut state, idempotency);
        state.audit.extend_from_slice(audits);
        Ok(())
    }

    async fn successor(&self, id: &TokenId) -> Result<Option<TokenId>, StoreError> {
        Ok(self.state()?.replaced_by.get(id).copied())
    }

    async fn get_idempotency_record(
        &self,
        key: &[u8; 32],
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.state()?.idempotency.get(key).cloned())
    }

    async fn get_token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.state()?.tokens.get(id).map(|(r, _)| r.clone()))
    }

    async fn get_tokens(&self, ids: &[TokenId]) -> Result<Vec<TokenRecord>, StoreError> {
        let state = self.state()?;
        Ok(ids
            .iter()
            .filter_map(|id| state.tokens.get(id).map(|(r, _)| r.clone()))
            .collect())
    }

    async fn revoke_token(
        &self,
        id: &TokenId,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<RevokeOutcome, StoreError> {
        let mut state = self.state()?;
        if revoke_in(&mut state, id, revocation)? {
            state.audit.push(audit.clone());
            Ok(RevokeOutcome::Revoked)
        } else {
            Ok(RevokeOutcome::AlreadyRevoked)
        }
    }

    async fn revoke_active_token(
        &self,
        record: &TokenRecord,
        revocation: &Revocation,
        audit: &AuditEvent,
    ) -> Result<RevokeOutcome, StoreError> {
        self.revoke_token(&record.id, revocation, audit).await
    }

    async fn rotate_token_once(
        &self,
        old_id: &TokenId,
        revocation: &Revocation,
        new_record: &TokenRecord,
        limit: u32,
        audits: &[AuditEvent],
        terms: &RotationTerms<'_>,
    ) -> Result<TokenRecord, StoreError> {
        let mut state = self.state()?;
        let idempotency = terms.idempotency;
        if !idempotency_free(&state, idempotency) {
            return Err(StoreError::AlreadyExists);
        }
        if let Some(valid_after) = terms.owner_valid_after {
            let owner = &new_record.owner;
            let current = match owner.kind {
                OwnerKind::User => state.accounts.get(&owner.id).map(|a| a.tokens_valid_after),
                OwnerKind::ServiceUser => state
                    .service_users
                    .get(&owner.id)
                    .map(|u| u.tokens_valid_after),
            };
            if current != Some(valid_after) {
                return Err(StoreError::NotFound);
            }
        }
        let (held_slot, new_record) = match state.tokens.get(old_id) {
            Some((old, held)) if old.revoked.is_none() => (*held, old.carry_to(new_record.clone())),
            _ => return Err(StoreError::NotFound),
        };
        let new_record = &new_record;
        if state.tokens.contains_key(&new_record.id) {
            return Err(StoreError::AlreadyExists);
        }
        let grace = revocation.at > new_record.created_at;
        let needs_slot = grace || !held_slot;
        let count = state.counters.get(&new_record.owner).copied().unwrap_or(0);
        if needs_slot && count >= limit {
            return Err(StoreError::LimitReached { limit });
        }
        if !name_free(&state, new_record, new_record.created_at, Some(old_id)) {
            return Err(StoreError::NameTaken);
        }
        if grace && held_slot {
            // The old token keeps its slot through the grace period.
            if let Some((old, _)) = state.tokens.get_mut(old_id) {
                old.revoked = Some(revocation.clone());
            }
        } else {
            revoke_in(&mut state, old_id, revocation)?;
        }
        // Always one more: without grace the old token's slot was released above.
        *state.counters.entry(new_record.owner.clone()).or_default() += 1;
        state.names.insert(name_slot(new_record), new_record.id);
        state
            .tokens
            .insert(new_record.id, (new_record.clone(), true));
        state.replaced_by.insert(*old_id, new_record.id);
        keep_idempotency(&mut state, idempotency);
        state.audit.extend(audits.iter().cloned());
        Ok(new_record.clone())
    }

    async fn list_tokens(
        &self,
        owner: &Owner,
        filter: StatusFilter,
        now: Timestamp,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<TokenPage, StoreError> {
        let after = cursor.map(decode_cursor).transpose()?;
        let state = self.state()?;
        let sorted: BTreeMap<_, _> = state
            .tokens
            .values()
            .filter(|(r, _)| &r.owner == owner)
            .map(|(r, _)| (sort_key(r), r))
            .collect();
        let mut tokens = Vec::new();
        let mut more = false;
        for (key, record) in sorted.iter().rev() {
            if after.is_some_and(|a| *key >= a) {
                continue;
            }
            if !filter.admits(record.status(now)) {
                continue;
            }
            if tokens.len() == limit.max(1) {
                more = true;
                break;
            }
            tokens.push((*record).clone());
        }
        let next_cursor = if more {
            tokens.last().map(encode_cursor)
        } else {
            None
        };
        Ok(TokenPage {
            tokens,
            next_cursor,
        })
    }

    async fn active_token_count(&self, owner: &Owner) -> Result<u32, StoreError> {
        Ok(self.state()?.counters.get(owner).copied().unwrap_or(0))
    }

    async fn release_ended(&self, owner: &Owner, now: Timestamp) -> Result<u32, StoreError> {
        let mut state = self.state()?;
        let mut released = 0;
        for (record, holds_slot) in state.tokens.values_mut() {
            if &record.owner == owner && *holds_slot && record.status(now) != TokenStatus::Active {
                *holds_slot = false;
                released += 1;
            }
        }
        if let Some(count) = state.counters.get_mut(owner) {
            *count = count.saturating_sub(released);
        }
        Ok(released)
    }

    async fn touch_last_used(
        &self,
        id: &TokenId,
        at: Timestamp,
        min_interval_ms: i64,
        details: &LastUse,
    ) -> Result<bool, StoreError> {
        let mut state = self.side_write_state()?;
        let Some((record, _)) = state.tokens.get_mut(id) else {
            return Ok(false);
        };
        if record
            .last_used_at
            .is_some_and(|last| last.0 > at.0.saturating_sub(min_interval_ms))
        {
            return Ok(false);
        }
        record.last_used_at = Some(at);
        record.last_use.clone_from(details);
        Ok(true)
    }

    async fn block_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        change_following_rotations(&mut state, id, audit, Follow::Always, |record| {
            let blocked = &mut record.org_decisions.edit().blocked;
            if !blocked.iter().any(|o| o == org_id) {
                blocked.push(org_id.to_owned());
                blocked.sort();
            }
        })
    }

    async fn decide_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        denial: Option<&Denial>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        change_following_rotations(&mut state, id, audit, Follow::Always, |record| {
            let approvals = record.org_decisions.edit();
            approvals.approved.retain(|o| o != org_id);
            approvals.denied.retain(|d| d.org != org_id);
            match denial {
                Some(denial) => {
                    approvals.denied.push(denial.clone());
                    approvals.denied.sort_by(|a, b| a.org.cmp(&b.org));
                }
                None => {
                    approvals.approved.push(org_id.to_owned());
                    approvals.approved.sort();
                }
            }
        })
    }

    async fn approve_in_org(
        &self,
        id: &TokenId,
        org_id: &str,
        over_denial: bool,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let rotated = state.replaced_by.contains_key(id);
        let Some((record, _)) = state.tokens.get_mut(id) else {
            return Ok(false);
        };
        let denied = record.org_decisions.denied.iter().any(|d| d.org == org_id);
        if rotated || record.revoked.is_some() || (denied && !over_denial) {
            return Ok(false);
        }
        let approvals = record.org_decisions.edit();
        approvals.denied.retain(|d| d.org != org_id);
        if !approvals.approved.iter().any(|o| o == org_id) {
            approvals.approved.push(org_id.to_owned());
            approvals.approved.sort();
        }
        state.audit.push(audit.clone());
        Ok(true)
    }

    async fn set_allowed_ips(
        &self,
        id: &TokenId,
        allowed_ips: &IpAllowlist,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        change_following_rotations(&mut state, id, audit, Follow::WhileAllowlist, |record| {
            record.allowed_ips = allowed_ips.clone();
        })
    }

    async fn set_rate_limit(
        &self,
        id: &TokenId,
        rate_limit: Option<RateLimit>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        change_following_rotations(&mut state, id, audit, Follow::WhileRateLimit, |record| {
            record.rate_limit = rate_limit;
        })
    }

    async fn record_refused_ip(
        &self,
        id: &TokenId,
        at: Timestamp,
        min_interval_ms: i64,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        if !state.tokens.contains_key(id) {
            return Ok(false);
        }
        let threshold = at.0.saturating_sub(min_interval_ms);
        match state.ip_refusals.get(id) {
            Some(last) if last.0 > threshold => Ok(false),
            _ => {
                state.ip_refusals.insert(*id, at);
                state.audit.push(audit.clone());
                Ok(true)
            }
        }
    }

    async fn replace_hash(
        &self,
        id: &TokenId,
        old: &TokenHash,
        new: &TokenHash,
        version: PepperVersion,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut state = self.side_write_state()?;
        match state.tokens.get_mut(id) {
            Some((record, _)) if &record.hash == old => {
                record.hash = new.clone();
                record.pepper_version = version;
                state.audit.push(audit.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
