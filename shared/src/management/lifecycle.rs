//! Token lifecycle operations shared by the functions and the operator CLI:
//! revoke-all, complete listings, mass revocation (by pepper version, org,
//! issue window) and the reconciliation after a point-in-time restore.

use std::collections::{HashMap, HashSet};

use crate::records::audit::{AuditFilter, AuditScope};
use crate::records::{
    Account, Actor, AuditAction, AuditEvent, Owner, PrincipalStatus, Revocation, ServiceUser,
    StatusFilter, Timestamp, TokenRecord, TokenStatus,
};
use crate::store::{
    read_principal, AuditLog, PepperStore, Principal, PrincipalStore, RevokeOutcome, StoreError,
    TokenScan, TokenScanFilter, TokenStore,
};
use crate::token::hash::PepperVersion;
use crate::token::TokenId;

/// Every token of `owner` that `filter` admits at `now`, newest first, all pages.
pub async fn all_tokens(
    store: &(impl TokenStore + ?Sized),
    owner: &Owner,
    filter: StatusFilter,
    now: Timestamp,
) -> Result<Vec<TokenRecord>, StoreError> {
    let mut tokens = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_tokens(owner, filter, now, 100, cursor.as_deref())
            .await?;
        tokens.extend(page.tokens);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(tokens),
        }
    }
}

/// Revokes, one after the other, every token `record` gave itself by
/// rotating without a session (its family, as `POST /v1/tokens/self/rotate`
/// continues it): whoever holds a leaked or revoked token may have rotated
/// it first. `record` must be revoked already, so it can rotate no more;
/// each successor is revoked before its own successor is read, so the walk
/// ends on a final answer. A rotation by a session or an admin starts a new
/// family and ends the walk. Returns how many it revoked.
pub async fn end_self_rotations(
    store: &(impl TokenStore + ?Sized),
    record: &TokenRecord,
    by: &Actor,
    reason: &str,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let family = record.family_root();
    let mut revoked = 0;
    let mut current = record.id;
    while let Some(next) = store.successor(&current).await? {
        let Some(successor) = store.get_token(&next).await? else {
            break;
        };
        if successor.family.as_deref() != Some(&family) {
            break;
        }
        let revocation = Revocation {
            at: now,
            by: by.name.clone(),
            reason: reason.to_owned(),
        };
        let audit = by
            .event(AuditAction::TokenRevoke, successor.owner.clone(), now)
            .for_token(next)
            .with_detail(format!(
                "{reason}: rotated from {current} without a session (family of {})",
                record.id
            ));
        if store.revoke_token(&next, &revocation, &audit).await? == RevokeOutcome::Revoked {
            revoked += 1;
        }
        current = next;
    }
    Ok(revoked)
}

/// Revokes every token of `owner`: first at once and completely, by moving
/// the owner's `tokens_valid_after` to `now` (the authorizer checks it, so a
/// token the eventually consistent listing misses is revoked all the same),
/// then token by token so listings show them revoked. Each write is its own
/// transaction with its own audit event; running it again finishes the job.
/// Returns how many tokens it marked revoked.
pub async fn revoke_all(
    store: &(impl TokenStore + PrincipalStore),
    owner: &Owner,
    by: &Actor,
    reason: &str,
    now: Timestamp,
) -> Result<u32, StoreError> {
    let audit = by
        .event(AuditAction::TokenRevokeAll, owner.clone(), now)
        .with_detail(reason);
    match store.revoke_tokens_before(owner, now, &audit).await {
        // No owner record: its tokens cannot authorize anyway.
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(other) => return Err(other),
    }
    let mut revoked = 0;
    for record in all_tokens(store, owner, StatusFilter::All, now).await? {
        // Revoked already, unless only scheduled (a rotation's grace); what
        // it may have rotated itself into is reached all the same.
        if record.revoked.as_ref().is_some_and(|r| r.at <= now) {
            revoked += end_self_rotations(store, &record, by, reason, now).await?;
            continue;
        }
        let revocation = Revocation {
            at: now,
            by: by.name.clone(),
            reason: reason.to_owned(),
        };
        let audit = by
            .event(AuditAction::TokenRevoke, owner.clone(), now)
            .for_token(record.id)
            .with_detail(reason);
        match store.revoke_token(&record.id, &revocation, &audit).await? {
            RevokeOutcome::Revoked => revoked += 1,
            RevokeOutcome::AlreadyRevoked => {}
        }
        // A rotation without a session that landed before the watermark
        // (with a token the listing does not show yet) is reached from here.
        revoked += end_self_rotations(store, &record, by, reason, now).await?;
    }
    Ok(revoked)
}

/// Tokens read per scan page by the mass operations (bounded memory).
const SCAN_PAGE_ITEMS: usize = 500;

/// What a mass revocation selects. Only tokens active at the time of the
/// run are ever selected (a rotation's grace counts as active: revoking
/// ends it at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Tokens hashed under this pepper version (a table scan).
    PepperVersion(PepperVersion),
    /// Tokens created strictly inside the window, either end open (a table scan).
    IssuedBetween {
        after: Option<Timestamp>,
        before: Option<Timestamp>,
    },
    /// An org's own credentials: every key of each of its service users
    /// (their "revoke all" watermark moves too, so a key the owner index
    /// has not shown yet is covered), and every PAT limited to this org
    /// alone (a table scan). A member's other PATs are personal and serve
    /// other orgs: they are left alone (an org admin blocks them in the org).
    Org(String),
}

impl Selection {
    /// The scan filter of a scanned selection (`Org`: its PATs).
    fn scan_filter(&self, now: Timestamp) -> TokenScanFilter {
        let mut filter = TokenScanFilter {
            active_at: Some(now),
            ..TokenScanFilter::default()
        };
        match self {
            Self::PepperVersion(version) => filter.pepper_version = Some(*version),
            Self::IssuedBetween { after, before } => {
                filter.created_after = *after;
                filter.created_before = *before;
            }
            Self::Org(org) => filter.limited_to_org = Some(org.clone()),
        }
        filter
    }
}

/// What a mass revocation found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MassRevocation {
    /// Active tokens the selection matched.
    pub matched: u64,
    /// Tokens this run revoked: none in a dry run; fewer than `matched`
    /// when some were revoked by someone else meanwhile.
    pub revoked: u64,
    /// Service users whose "revoke all" watermark this run moved (`Org`;
    /// in a dry run, would move).
    pub owners_cut_off: u64,
}

/// Revokes every token `selection` matches at `now`, each through the
/// store's normal revoke path: its own transaction and `token.revoke` audit
/// event (so the lifecycle events and the cache invalidator see each one),
/// `reason` in the event and on the token. With `dry_run` nothing is
/// written and `matched` says how many a real run would revoke. Pages are
/// processed as they are read (bounded memory); `progress` hears the totals
/// after each. Running it again finishes an interrupted run.
pub async fn revoke_selection(
    store: &(impl TokenStore + TokenScan + PrincipalStore),
    selection: &Selection,
    by: &Actor,
    reason: &str,
    now: Timestamp,
    dry_run: bool,
    progress: &mut dyn FnMut(&MassRevocation),
) -> Result<MassRevocation, StoreError> {
    let mut totals = MassRevocation::default();
    if let Selection::Org(org) = selection {
        let mut cursor = None;
        loop {
            let page = store
                .list_service_users(org, None, 100, cursor.as_deref())
                .await?;
            for user in &page.service_users {
                let owner = Owner::service_user(&user.id);
                if !dry_run {
                    let audit = by
                        .event(AuditAction::TokenRevokeAll, owner.clone(), now)
                        .with_detail(reason);
                    store.revoke_tokens_before(&owner, now, &audit).await?;
                }
                totals.owners_cut_off += 1;
                let keys = all_tokens(store, &owner, StatusFilter::Active, now).await?;
                revoke_records(store, &keys, by, reason, now, dry_run, &mut totals).await?;
                progress(&totals);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let filter = selection.scan_filter(now);
    let mut cursor = None;
    loop {
        let page = store
            .scan_tokens(&filter, SCAN_PAGE_ITEMS, cursor.as_deref())
            .await?;
        revoke_records(store, &page.tokens, by, reason, now, dry_run, &mut totals).await?;
        progress(&totals);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(totals),
        }
    }
}

/// Revokes each of `records` (as read, active) unless `dry_run`.
async fn revoke_records(
    store: &(impl TokenStore + ?Sized),
    records: &[TokenRecord],
    by: &Actor,
    reason: &str,
    now: Timestamp,
    dry_run: bool,
    totals: &mut MassRevocation,
) -> Result<(), StoreError> {
    for record in records {
        if record.status(now) != TokenStatus::Active {
            continue;
        }
        totals.matched += 1;
        if dry_run {
            continue;
        }
        let revocation = Revocation {
            at: now,
            by: by.name.clone(),
            reason: reason.to_owned(),
        };
        let audit = by
            .event(AuditAction::TokenRevoke, record.owner.clone(), now)
            .for_token(record.id)
            .with_detail(reason);
        match store
            .revoke_active_token(record, &revocation, &audit)
            .await?
        {
            RevokeOutcome::Revoked => totals.revoked += 1,
            RevokeOutcome::AlreadyRevoked => {}
        }
        // Not counted (the counts are of what the selection matched), audited.
        end_self_rotations(store, record, by, reason, now).await?;
    }
    Ok(())
}

/// What a restore reconciliation found (and, unless a dry run, undid) in
/// the restored table: each count is of tokens active there.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciliation {
    /// Tokens active in the restored table, checked against the source.
    pub checked: u64,
    /// Revoked in the source (or scheduled to be: a rotation's grace).
    pub revoked_in_source: u64,
    /// Not revoked in the source's record (or the record is gone), but the
    /// source's audit trail since the restore point records its revocation.
    pub revoked_in_trail: u64,
    /// Not in the source at all.
    pub absent_from_source: u64,
    /// Cut off in the source by their owner's "revoke all", or the owner's
    /// record is gone there.
    pub owner_cut_off: u64,
    /// Blocked in an org, or given an allowlist, in the source only.
    pub narrowed: u64,
    /// Owners suspended, deleted or disabled in the source only.
    pub owners_deactivated: u64,
    /// Source changes at or after `until`, left out on purpose.
    pub skipped_after_until: u64,
    /// Tokens this run revoked (none in a dry run).
    pub revoked: u64,
}

/// How a reconciliation treats the source's changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// The time the restore was made as of: the source's audit trail from
    /// then on is read too, so a revocation it records is re-applied even
    /// when the token's record in the source is gone or damaged.
    pub restore_point: Option<Timestamp>,
    /// Re-apply only source revocations and watermarks before this time
    /// (when the revocations themselves were the damage the restore undoes).
    pub until: Option<Timestamp>,
    /// Leave tokens absent from the source alone (when the damage was
    /// deleted items); by default they are revoked, failing closed.
    pub keep_absent: bool,
    pub dry_run: bool,
}

/// After a point-in-time restore, takes away from the `restored` table
/// every access the `source` table (the live table the restore was made
/// from, which holds every change since the restore point) no longer
/// grants: a token revoked there (at the source's time), absent there,
/// cut off by its owner's "revoke all" there, blocked in an org or limited
/// to addresses there, or whose owner is inactive there. It only ever
/// narrows: a damaged source can cost availability, never grant access.
/// Every write goes through the store's normal paths with its audit event
/// (so the cache invalidator and lifecycle events see it). Idempotent: run
/// it again after switching traffic to the restored table to catch changes
/// made in the source meanwhile.
pub async fn reconcile_restored(
    restored: &(impl TokenStore + TokenScan + PrincipalStore),
    source: &(impl TokenStore + PrincipalStore + AuditLog),
    by: &Actor,
    now: Timestamp,
    options: ReconcileOptions,
    progress: &mut dyn FnMut(&Reconciliation),
) -> Result<Reconciliation, StoreError> {
    let mut totals = Reconciliation::default();
    // Owners read once each: (source, restored) records and whether done.
    let mut owners: HashMap<Owner, (Option<Principal>, Option<Principal>, bool)> = HashMap::new();
    let filter = TokenScanFilter {
        active_at: Some(now),
        ..TokenScanFilter::default()
    };
    let before_until = |at: Timestamp| options.until.is_none_or(|until| at < until);
    // Per owner: the tokens the source's trail says were revoked.
    let mut trails: HashMap<Owner, HashSet<TokenId>> = HashMap::new();
    let mut cursor = None;
    loop {
        let page = restored
            .scan_tokens(&filter, SCAN_PAGE_ITEMS, cursor.as_deref())
            .await?;
        let ids: Vec<TokenId> = page.tokens.iter().map(|t| t.id).collect();
        let in_source: HashMap<TokenId, TokenRecord> = source
            .get_tokens(&ids)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        for record in &page.tokens {
            totals.checked += 1;
            if let Some(since) = options.restore_point {
                if !trails.contains_key(&record.owner) {
                    let revoked =
                        revoked_in_trail(source, &record.owner, since, options.until).await?;
                    trails.insert(record.owner.clone(), revoked);
                }
                let in_trail = trails
                    .get(&record.owner)
                    .is_some_and(|ids| ids.contains(&record.id));
                let in_record = in_source
                    .get(&record.id)
                    .is_some_and(|there| there.revoked.is_some());
                if in_trail && !in_record {
                    totals.revoked_in_trail += 1;
                    let detail = "restore-reconcile: revoked in the source's audit trail";
                    revoke_restored(restored, record, now, by, detail, &options, &mut totals)
                        .await?;
                    continue;
                }
            }
            let Some(there) = in_source.get(&record.id) else {
                totals.absent_from_source += 1;
                if !options.keep_absent {
                    let detail = "restore-reconcile: absent from the source table";
                    revoke_restored(restored, record, now, by, detail, &options, &mut totals)
                        .await?;
                }
                continue;
            };
            if let Some(revocation) = there.revoked.as_ref().filter(|r| {
                let keep = before_until(r.at);
                totals.skipped_after_until += u64::from(!keep);
                keep
            }) {
                totals.revoked_in_source += 1;
                let detail = format!(
                    "restore-reconcile: revoked in the source at {} by {}: {}",
                    revocation.at.0, revocation.by, revocation.reason
                );
                if !options.dry_run {
                    let audit = by
                        .event(AuditAction::TokenRevoke, record.owner.clone(), now)
                        .for_token(record.id)
                        .with_detail(detail);
                    if let RevokeOutcome::Revoked = restored
                        .revoke_token(&record.id, revocation, &audit)
                        .await?
                    {
                        totals.revoked += 1;
                    }
                }
                continue;
            }
            if !owners.contains_key(&record.owner) {
                let pair = (
                    read_principal(source, &record.owner).await?,
                    read_principal(restored, &record.owner).await?,
                    false,
                );
                owners.insert(record.owner.clone(), pair);
            }
            if let Some(entry) = owners.get_mut(&record.owner) {
                if !entry.2 {
                    entry.2 = true;
                    if deactivate_owner(restored, entry, by, now, options.dry_run).await? {
                        totals.owners_deactivated += 1;
                    }
                }
                let watermark = entry.0.as_ref().map(Principal::tokens_valid_after);
                let cut_off = match watermark {
                    None => Some("its owner's record is absent from the source table".to_owned()),
                    Some(at) if there.predates(at) => {
                        let at = at.map_or(0, |at| at.0);
                        if before_until(Timestamp(at)) {
                            Some(format!(
                                "its owner's tokens were revoked in the source at {at}"
                            ))
                        } else {
                            totals.skipped_after_until += 1;
                            None
                        }
                    }
                    Some(_) => None,
                };
                if let Some(why) = cut_off {
                    totals.owner_cut_off += 1;
                    let detail = format!("restore-reconcile: {why}");
                    revoke_restored(restored, record, now, by, &detail, &options, &mut totals)
                        .await?;
                    continue;
                }
            }
            if narrow_token(restored, record, there, by, now, options.dry_run).await? {
                totals.narrowed += 1;
            }
        }
        progress(&totals);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(totals),
        }
    }
}

/// The ids of `owner`'s tokens whose revocation (or leak report, which
/// revokes) the source's trail records at or after `since`, before `until`.
async fn revoked_in_trail(
    source: &(impl AuditLog + ?Sized),
    owner: &Owner,
    since: Timestamp,
    until: Option<Timestamp>,
) -> Result<HashSet<TokenId>, StoreError> {
    let scope = AuditScope::Owner(owner.clone());
    let filter = AuditFilter {
        from: Some(since),
        ..AuditFilter::default()
    };
    let mut ids = HashSet::new();
    let mut cursor = None;
    loop {
        let page = source
            .audit_page(&scope, filter, 100, cursor.as_deref())
            .await?;
        for event in &page.events {
            let revokes = matches!(
                event.action,
                AuditAction::TokenRevoke | AuditAction::TokenLeaked
            );
            if revokes && until.is_none_or(|until| event.at < until) {
                ids.extend(event.token_id);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(ids),
        }
    }
}

async fn revoke_restored(
    restored: &(impl TokenStore + ?Sized),
    record: &TokenRecord,
    now: Timestamp,
    by: &Actor,
    detail: &str,
    options: &ReconcileOptions,
    totals: &mut Reconciliation,
) -> Result<(), StoreError> {
    if options.dry_run {
        return Ok(());
    }
    let revocation = Revocation {
        at: now,
        by: by.name.clone(),
        reason: detail.to_owned(),
    };
    let audit = by
        .event(AuditAction::TokenRevoke, record.owner.clone(), now)
        .for_token(record.id)
        .with_detail(detail);
    if let RevokeOutcome::Revoked = restored
        .revoke_active_token(record, &revocation, &audit)
        .await?
    {
        totals.revoked += 1;
    }
    Ok(())
}

/// The owner inactive in the source (`entry.0`) but active in the restored
/// table (`entry.1`) gets the source's status there. Whether it differed.
async fn deactivate_owner(
    restored: &(impl PrincipalStore + ?Sized),
    entry: &mut (Option<Principal>, Option<Principal>, bool),
    by: &Actor,
    now: Timestamp,
    dry_run: bool,
) -> Result<bool, StoreError> {
    match (&entry.0, &entry.1) {
        (Some(Principal::User(there)), Some(Principal::User(here)))
            if there.status != PrincipalStatus::Active
                && here.status == PrincipalStatus::Active =>
        {
            if !dry_run {
                let changed = Account {
                    status: there.status,
                    ..here.clone()
                };
                let audit = changed.audit_put(&by.name, now);
                restored.put_account(&changed, &audit).await?;
            }
            Ok(true)
        }
        (Some(Principal::Service(there)), Some(Principal::Service(here)))
            if there.status != PrincipalStatus::Active
                && here.status == PrincipalStatus::Active =>
        {
            if !dry_run {
                let changed = ServiceUser {
                    status: there.status,
                    ..here.clone()
                };
                let audit = by
                    .event(
                        AuditAction::ServiceUserUpdate,
                        Owner::service_user(&here.id),
                        now,
                    )
                    .with_detail("restore-reconcile: inactive in the source table");
                restored.update_service_user(here, &changed, &audit).await?;
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Blocks `record` in the orgs the source blocked it in, denies it where
/// the source denied it, and gives it the source's allowlist and rate limit
/// when the source has one that differs. Whether it did.
async fn narrow_token(
    restored: &(impl TokenStore + ?Sized),
    record: &TokenRecord,
    there: &TokenRecord,
    by: &Actor,
    now: Timestamp,
    dry_run: bool,
) -> Result<bool, StoreError> {
    let detail = "restore-reconcile: as in the source table";
    let blocks: Vec<&String> = there
        .org_decisions
        .blocked
        .iter()
        .filter(|org| !record.org_decisions.blocked.contains(org))
        .collect();
    let denials: Vec<_> = there
        .org_decisions
        .denied
        .iter()
        .filter(|d| !record.org_decisions.denied.iter().any(|r| r.org == d.org))
        .collect();
    let allowlist = !there.allowed_ips.is_empty() && there.allowed_ips != record.allowed_ips;
    let rate_limit = there.rate_limit.is_some() && there.rate_limit != record.rate_limit;
    let narrower = !blocks.is_empty() || !denials.is_empty() || allowlist || rate_limit;
    if dry_run || !narrower {
        return Ok(narrower);
    }
    for denial in denials {
        let audit = by
            .clone()
            .in_org(&denial.org)
            .event(AuditAction::TokenDeny, record.owner.clone(), now)
            .for_token(record.id)
            .with_detail(detail);
        restored
            .decide_in_org(&record.id, &denial.org, Some(denial), &audit)
            .await?;
    }
    let audit = |action| {
        by.event(action, record.owner.clone(), now)
            .for_token(record.id)
            .with_detail(detail)
    };
    for org in blocks {
        restored
            .block_in_org(&record.id, org, &audit(AuditAction::TokenBlock))
            .await?;
    }
    if allowlist {
        let update = audit(AuditAction::TokenUpdate);
        restored
            .set_allowed_ips(&record.id, &there.allowed_ips, &update)
            .await?;
    }
    if rate_limit {
        let update = audit(AuditAction::TokenUpdate);
        restored
            .set_rate_limit(&record.id, there.rate_limit, &update)
            .await?;
    }
    Ok(true)
}

/// What a pepper reconciliation found (and, unless a dry run, did).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PepperReconciliation {
    /// Versions the source has and the restored table lacks (rotations
    /// since the restore point): copied, ciphertext and key id as stored.
    pub added: u64,
    /// Versions retired in the source only: retired.
    pub retired: u64,
}

/// Brings the restored table's pepper ring up to the source's: without it
/// a restore would make a pepper rotated away (a leaked one) current again.
pub async fn reconcile_peppers(
    restored: &(impl PepperStore + ?Sized),
    source: &(impl PepperStore + ?Sized),
    by: &Actor,
    now: Timestamp,
    dry_run: bool,
) -> Result<PepperReconciliation, StoreError> {
    let here = restored.list_peppers().await?;
    let mut totals = PepperReconciliation::default();
    for pepper in source.list_peppers().await? {
        let detail = format!(
            "restore-reconcile: {} as in the source table",
            pepper.version
        );
        match here.iter().find(|p| p.version == pepper.version) {
            None => {
                totals.added += 1;
                if !dry_run {
                    let audit = AuditEvent::system(&by.name, AuditAction::PepperAdd, now)
                        .with_detail(detail);
                    restored.add_pepper(&pepper, &audit).await?;
                }
            }
            Some(mine) if pepper.retired && !mine.retired => {
                totals.retired += 1;
                if !dry_run {
                    let audit = AuditEvent::system(&by.name, AuditAction::PepperRetire, now)
                        .with_detail(detail);
                    restored.retire_pepper(pepper.version, &audit).await?;
                }
            }
            Some(_) => {}
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{FixedPeppers, MemoryStore};
    use crate::records::{AuditEvent, OrgMembership};
    use crate::PlainToken;

    const NOW: Timestamp = Timestamp(1_000_000);

    fn record(owner: &Owner, version: u32, created_at: i64) -> TokenRecord {
        let token = PlainToken::generate().unwrap();
        TokenRecord {
            id: token.id(),
            owner: owner.clone(),
            name: format!("t{}", token.id()),
            scopes: vec!["read".into()],
            hash: FixedPeppers::pepper(version).hash(&token),
            pepper_version: PepperVersion(version),
            created_at: Timestamp(created_at),
            expires_at: None,
            revoked: None,
            last_used_at: None,
            last_use: Default::default(),
            org_decisions: Default::default(),
            allowed_ips: Default::default(),
            org_limit: None,
            family: None,
            rate_limit: None,
            usage_key_placed: false,
        }
    }

    async fn stored(store: &MemoryStore, record: TokenRecord) -> TokenRecord {
        let audit = AuditEvent::new("test", AuditAction::TokenCreate, record.owner.clone(), NOW);
        store.create_token(&record, 100, &audit).await.unwrap();
        record
    }

    async fn status(store: &MemoryStore, record: &TokenRecord) -> TokenStatus {
        store
            .get_token(&record.id)
            .await
            .unwrap()
            .unwrap()
            .status(NOW)
    }

    fn revocation(at: Timestamp) -> Revocation {
        Revocation {
            at,
            by: "test".into(),
            reason: "test".into(),
        }
    }

    async fn run(store: &MemoryStore, selection: &Selection, dry_run: bool) -> MassRevocation {
        let by = Actor::new("operator:alice");
        let mut pages = 0;
        let totals = revoke_selection(
            store,
            selection,
            &by,
            "incident 42",
            NOW,
            dry_run,
            &mut |_| pages += 1,
        )
        .await
        .unwrap();
        assert!(pages >= 1, "progress is reported");
        totals
    }

    #[tokio::test]
    async fn given_tokens_on_an_old_pepper_when_revoked_by_version_then_only_its_active_ones_go_and_a_dry_run_changes_nothing(
    ) {
        let store = MemoryStore::new();
        let alice = Owner::user("alice");
        let old = stored(&store, record(&alice, 1, 10)).await;
        let in_grace = stored(&store, record(&alice, 1, 11)).await;
        let audit = AuditEvent::new("test", AuditAction::TokenRotate, alice.clone(), NOW);
        store
            .revoke_token(&in_grace.id, &revocation(NOW.plus_seconds(60)), &audit)
            .await
            .unwrap();
        let mut expired = record(&alice, 1, 12);
        expired.expires_at = Some(Timestamp(NOW.0 - 1));
        let expired = stored(&store, expired).await;
        let current = stored(&store, record(&alice, 2, 13)).await;
        let selection = Selection::PepperVersion(PepperVersion(1));

        let events = store.all_audit_events().len();
        let dry = run(&store, &selection, true).await;
        assert_eq!(
            dry,
            MassRevocation {
                matched: 2,
                revoked: 0,
                owners_cut_off: 0
            }
        );
        assert_eq!(
            store.all_audit_events().len(),
            events,
            "a dry run writes nothing"
        );
        assert_eq!(status(&store, &old).await, TokenStatus::Active);

        let real = run(&store, &selection, false).await;
        assert_eq!(
            real,
            MassRevocation {
                matched: 2,
                revoked: 2,
                owners_cut_off: 0
            }
        );
        assert_eq!(status(&store, &old).await, TokenStatus::Revoked);
        assert_eq!(
            status(&store, &in_grace).await,
            TokenStatus::Revoked,
            "grace ended"
        );
        assert_eq!(status(&store, &expired).await, TokenStatus::Expired);
        assert_eq!(status(&store, &current).await, TokenStatus::Active);
        let revokes: Vec<AuditEvent> = store.all_audit_events().into_iter().skip(events).collect();
        assert_eq!(revokes.len(), 2, "one audit event per token");
        for event in &revokes {
            assert_eq!(event.action, AuditAction::TokenRevoke);
            assert_eq!(event.actor, "operator:alice");
            assert_eq!(event.detail.as_deref(), Some("incident 42"));
        }
        let stored = store.get_token(&old.id).await.unwrap().unwrap();
        assert_eq!(stored.revoked.unwrap().reason, "incident 42");

        assert_eq!(
            run(&store, &selection, false).await,
            MassRevocation::default()
        );
    }

    #[tokio::test]
    async fn given_an_issue_window_then_only_tokens_created_strictly_inside_it_are_revoked() {
        let store = MemoryStore::new();
        let bob = Owner::user("bob");
        let at_start = stored(&store, record(&bob, 1, 100)).await;
        let inside = stored(&store, record(&bob, 1, 200)).await;
        let at_end = stored(&store, record(&bob, 1, 300)).await;
        let selection = Selection::IssuedBetween {
            after: Some(Timestamp(100)),
            before: Some(Timestamp(300)),
        };
        assert_eq!(run(&store, &selection, false).await.revoked, 1);
        assert_eq!(status(&store, &inside).await, TokenStatus::Revoked);
        assert_eq!(status(&store, &at_start).await, TokenStatus::Active);
        assert_eq!(status(&store, &at_end).await, TokenStatus::Active);

        let open_ended = Selection::IssuedBetween {
            after: Some(Timestamp(250)),
            before: None,
        };
        assert_eq!(run(&store, &open_ended, false).await.revoked, 1);
        assert_eq!(status(&store, &at_end).await, TokenStatus::Revoked);
    }

    #[tokio::test]
    async fn given_an_org_then_its_service_users_keys_and_pats_limited_to_it_alone_are_revoked() {
        let store = MemoryStore::new();
        let service_user = |id: &str, org: &str| ServiceUser {
            id: id.into(),
            name: id.into(),
            org_id: org.into(),
            role: "deployer".into(),
            status: PrincipalStatus::Active,
            created_at: Timestamp(1),
            tokens_valid_after: None,
        };
        for user in [
            service_user("svc_a", "acme"),
            service_user("svc_b", "other"),
        ] {
            let audit = AuditEvent::new(
                "test",
                AuditAction::ServiceUserCreate,
                Owner::service_user(&user.id),
                NOW,
            );
            store.create_service_user(&user, 100, &audit).await.unwrap();
        }
        let ours = stored(&store, record(&Owner::service_user("svc_a"), 1, 10)).await;
        let theirs = stored(&store, record(&Owner::service_user("svc_b"), 1, 11)).await;
        let carol = Owner::user("carol");
        let limited = |orgs: &[&str]| {
            let mut pat = record(&carol, 1, 12);
            pat.org_limit = Some(orgs.iter().map(|o| (*o).to_owned()).collect());
            pat
        };
        let acme_only = stored(&store, limited(&["acme"])).await;
        let two_orgs = stored(&store, limited(&["acme", "other"])).await;
        let unlimited = stored(&store, record(&carol, 1, 13)).await;
        let selection = Selection::Org("acme".into());

        let dry = run(&store, &selection, true).await;
        assert_eq!((dry.matched, dry.revoked, dry.owners_cut_off), (2, 0, 1));
        let untouched = store.get_service_user("svc_a").await.unwrap().unwrap();
        assert_eq!(
            untouched.tokens_valid_after, None,
            "a dry run moves no watermark"
        );
        let real = run(&store, &selection, false).await;
        assert_eq!(
            real,
            MassRevocation {
                matched: 2,
                revoked: 2,
                owners_cut_off: 1
            }
        );
        assert_eq!(status(&store, &ours).await, TokenStatus::Revoked);
        assert_eq!(status(&store, &acme_only).await, TokenStatus::Revoked);
        for untouched in [&theirs, &two_orgs, &unlimited] {
            assert_eq!(status(&store, untouched).await, TokenStatus::Active);
        }
        let svc_a = store.get_service_user("svc_a").await.unwrap().unwrap();
        assert_eq!(
            svc_a.tokens_valid_after,
            Some(NOW),
            "a key not listed yet is covered too"
        );
        let svc_b = store.get_service_user("svc_b").await.unwrap().unwrap();
        assert_eq!(svc_b.tokens_valid_after, None);
    }

    #[tokio::test]
    async fn a_scan_pages_through_every_token_once() {
        let store = MemoryStore::new();
        let dave = Owner::user("dave");
        let mut ids = Vec::new();
        for created in 0..5 {
            ids.push(stored(&store, record(&dave, 1, created)).await.id);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = store
                .scan_tokens(&TokenScanFilter::default(), 2, cursor.as_deref())
                .await
                .unwrap();
            pages += 1;
            seen.extend(page.tokens.iter().map(|t| t.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        ids.sort();
        seen.sort();
        assert_eq!((seen, pages), (ids, 3));
        let bad = store
            .scan_tokens(&TokenScanFilter::default(), 2, Some("x"))
            .await;
        assert!(matches!(bad, Err(StoreError::InvalidCursor)), "{bad:?}");
    }

    /// Two stores holding the same `records` (a restore of the source).
    async fn restored_copy(records: &[TokenRecord]) -> (MemoryStore, MemoryStore) {
        let (source, restored) = (MemoryStore::new(), MemoryStore::new());
        for store in [&source, &restored] {
            for user in ["erin", "frank"] {
                let account = Account {
                    user_id: user.into(),
                    status: PrincipalStatus::Active,
                    sso: false,
                    pat_beta: true,
                    orgs: vec![OrgMembership {
                        org_id: "acme".into(),
                        role: "admin".into(),
                    }],
                    tokens_valid_after: None,
                };
                store
                    .put_account(&account, &account.audit_put("test", NOW))
                    .await
                    .unwrap();
            }
            for record in records {
                stored(store, record.clone()).await;
            }
        }
        (source, restored)
    }

    #[tokio::test]
    async fn given_a_restore_missing_later_narrowings_then_reconciling_takes_each_away_and_nothing_else(
    ) {
        let erin = Owner::user("erin");
        let frank = Owner::user("frank");
        let records = [
            record(&erin, 1, 10),  // revoked in the source since
            record(&erin, 1, 11),  // blocked in acme in the source since
            record(&erin, 1, 12),  // untouched
            record(&frank, 1, 13), // its owner's revoke-all in the source since
        ];
        let (source, restored) = restored_copy(&records).await;
        let absent = stored(&restored, record(&erin, 1, 14)).await; // gone from the source
        let audit =
            |owner: &Owner| AuditEvent::new("test", AuditAction::TokenRevoke, owner.clone(), NOW);
        source
            .revoke_token(&records[0].id, &revocation(Timestamp(500)), &audit(&erin))
            .await
            .unwrap();
        source
            .block_in_org(&records[1].id, "acme", &audit(&erin))
            .await
            .unwrap();
        let denial = crate::records::Denial {
            org: "globex".into(),
            reason: "not here".into(),
            by: "user:ann".into(),
            at: Timestamp(550),
        };
        source
            .decide_in_org(&records[1].id, "globex", Some(&denial), &audit(&erin))
            .await
            .unwrap();
        let limit = crate::records::RateLimit::new(5, None).ok();
        source
            .set_rate_limit(&records[1].id, limit, &audit(&erin))
            .await
            .unwrap();
        source
            .revoke_tokens_before(&frank, Timestamp(600), &audit(&frank))
            .await
            .unwrap();
        let by = Actor::new("operator:ops");
        let reconcile = |options: ReconcileOptions| {
            let by = by.clone();
            let (restored, source) = (&restored, &source);
            async move {
                reconcile_restored(restored, source, &by, NOW, options, &mut |_| {})
                    .await
                    .unwrap()
            }
        };

        let dry = reconcile(ReconcileOptions {
            dry_run: true,
            ..ReconcileOptions::default()
        })
        .await;
        let found = Reconciliation {
            checked: 5,
            revoked_in_source: 1,
            revoked_in_trail: 0,
            absent_from_source: 1,
            owner_cut_off: 1,
            narrowed: 1,
            owners_deactivated: 0,
            skipped_after_until: 0,
            revoked: 0,
        };
        assert_eq!(dry, found);
        assert_eq!(status(&restored, &records[0]).await, TokenStatus::Active);

        let real = reconcile(ReconcileOptions::default()).await;
        assert_eq!(
            real,
            Reconciliation {
                revoked: 3,
                ..found
            }
        );
        let first = restored.get_token(&records[0].id).await.unwrap().unwrap();
        assert_eq!(
            first.revoked.map(|r| r.at),
            Some(Timestamp(500)),
            "at the source's time"
        );
        assert_eq!(status(&restored, &absent).await, TokenStatus::Revoked);
        assert_eq!(status(&restored, &records[3]).await, TokenStatus::Revoked);
        let blocked = restored.get_token(&records[1].id).await.unwrap().unwrap();
        assert_eq!(blocked.org_decisions.blocked, vec!["acme".to_owned()]);
        assert_eq!(
            blocked.org_decisions.denied,
            vec![denial],
            "denied as in the source"
        );
        assert_eq!(blocked.rate_limit, limit, "limited as in the source");
        assert_eq!(blocked.status(NOW), TokenStatus::Active);
        assert_eq!(status(&restored, &records[2]).await, TokenStatus::Active);

        let again = reconcile(ReconcileOptions::default()).await;
        assert_eq!(
            again,
            Reconciliation {
                checked: 2,
                ..Reconciliation::default()
            }
        );
    }

    #[tokio::test]
    async fn given_the_restore_point_then_a_revocation_only_the_sources_trail_records_is_reapplied()
    {
        let erin = Owner::user("erin");
        let records = [record(&erin, 1, 10), record(&erin, 1, 11)];
        // The damage: both token items are gone from the source; its trail
        // still records that the first was revoked after the restore point.
        let (source, restored) = restored_copy(&[]).await;
        for record in &records {
            stored(&restored, record.clone()).await;
        }
        let account = source.get_account("erin").await.unwrap().unwrap();
        let revoke = AuditEvent::new(
            "user:erin",
            AuditAction::TokenRevoke,
            erin.clone(),
            Timestamp(500),
        )
        .for_token(records[0].id);
        source.put_account(&account, &revoke).await.unwrap();
        let before = AuditEvent::new(
            "user:erin",
            AuditAction::TokenRevoke,
            erin.clone(),
            Timestamp(50),
        )
        .for_token(records[1].id);
        source.put_account(&account, &before).await.unwrap();
        let by = Actor::new("operator:ops");
        let options = |until: Option<i64>| ReconcileOptions {
            restore_point: Some(Timestamp(100)),
            until: until.map(Timestamp),
            keep_absent: true,
            dry_run: false,
        };

        let skipped = reconcile_restored(
            &restored,
            &source,
            &by,
            NOW,
            options(Some(400)),
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(
            skipped.revoked, 0,
            "a revocation at or after --until stays undone"
        );
        let done = reconcile_restored(&restored, &source, &by, NOW, options(None), &mut |_| {})
            .await
            .unwrap();
        assert_eq!(
            (done.revoked_in_trail, done.revoked, done.absent_from_source),
            (1, 1, 1)
        );
        assert_eq!(status(&restored, &records[0]).await, TokenStatus::Revoked);
        assert_eq!(
            status(&restored, &records[1]).await,
            TokenStatus::Active,
            "before the restore point: the restored table has it already"
        );
    }

    #[tokio::test]
    async fn given_until_then_source_revocations_from_then_on_are_not_reapplied() {
        let erin = Owner::user("erin");
        let records = [record(&erin, 1, 10), record(&erin, 1, 11)];
        let (source, restored) = restored_copy(&records).await;
        let audit = AuditEvent::new("test", AuditAction::TokenRevoke, erin.clone(), NOW);
        for (record, at) in records.iter().zip([400, 800]) {
            source
                .revoke_token(&record.id, &revocation(Timestamp(at)), &audit)
                .await
                .unwrap();
        }
        let options = ReconcileOptions {
            until: Some(Timestamp(700)),
            ..ReconcileOptions::default()
        };
        let by = Actor::new("operator:ops");
        let done = reconcile_restored(&restored, &source, &by, NOW, options, &mut |_| {})
            .await
            .unwrap();
        assert_eq!((done.revoked, done.skipped_after_until), (1, 1));
        assert_eq!(status(&restored, &records[0]).await, TokenStatus::Revoked);
        assert_eq!(status(&restored, &records[1]).await, TokenStatus::Active);
    }
}
