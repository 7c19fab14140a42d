//! The idle sweep (run with the hourly expiry sweep): a credential unused
//! for its idle window is revoked (`idle_expired`), warned 7 days and 1 day
//! before through the expiry-warning events (`token.expiring`), and its
//! last-use addresses are removed once older than their retention.
//!
//! It walks the idle index's day partitions old enough for any of this
//! (last active at least `MIN_IDLE_DAYS - 7` days ago), finds each owner's
//! window once per run (the deployment's and its orgs' settings), and reads
//! only the credentials whose window is near or that keep addresses past
//! their retention (the index marks those). Every write is conditioned on
//! the credential being unused since it was read.

use std::collections::HashMap;

use crate::config::{parsed_or, ConfigError};
use crate::records::idle::{self, IdleStep, IDLE_REASON};
use crate::records::last_use::{LastUse, ADDRESS_RETENTION_MS};
use crate::records::{
    Actor, AuditAction, OrgPolicy, Owner, OwnerKind, Revocation, Timestamp, TokenRecord,
    TokenStatus, DAY_MS,
};
use crate::store::idle::{IdleIndex, IdleRecord, Placement};
use crate::store::{PrincipalStore, StoreError, TokenScan, TokenScanFilter};

/// Who revokes and warns.
pub const IDLE_SWEEP_ACTOR: &str = "expiry-sweep";

/// Days past the longest window the walk still looks (missed runs).
const LOOKBACK_DAYS: i64 = 3;

/// `IDLE_EXPIRY_DAYS`: the deployment's window (0: none; default 365).
pub fn deployment_window_from_env() -> Result<Option<u32>, ConfigError> {
    let days = parsed_or("IDLE_EXPIRY_DAYS", idle::DEFAULT_DEPLOYMENT_DAYS)?;
    idle::deployment_window(days).map_err(|problem| ConfigError {
        name: "IDLE_EXPIRY_DAYS",
        problem,
    })
}

/// What one idle sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdleReport {
    pub seven_days: u32,
    pub one_day: u32,
    pub revoked: u32,
    /// Credentials whose addresses and user agent passed their retention.
    pub addresses_removed: u32,
}

/// The windows that apply, found once per owner and org per run.
struct Windows<'a, S> {
    store: &'a S,
    deployment: Option<u32>,
    policies: HashMap<String, OrgPolicy>,
    /// An owner's orgs (all of a user's memberships; a service user's one);
    /// `None`: the owner is gone, so its credentials cannot act anyway.
    owners: HashMap<Owner, Option<Vec<String>>>,
}

impl<S: PrincipalStore> Windows<'_, S> {
    async fn policy(&mut self, org: &str) -> Result<OrgPolicy, StoreError> {
        if let Some(policy) = self.policies.get(org) {
            return Ok(*policy);
        }
        let policy = self.store.get_org_policy(org).await?.unwrap_or_default();
        self.policies.insert(org.to_owned(), policy);
        Ok(policy)
    }

    async fn owner_orgs(&mut self, owner: &Owner) -> Result<Option<Vec<String>>, StoreError> {
        if let Some(orgs) = self.owners.get(owner) {
            return Ok(orgs.clone());
        }
        let orgs = match owner.kind {
            OwnerKind::User => self
                .store
                .get_account(&owner.id)
                .await?
                .map(|a| a.orgs.into_iter().map(|m| m.org_id).collect()),
            OwnerKind::ServiceUser => self
                .store
                .get_service_user(&owner.id)
                .await?
                .map(|u| vec![u.org_id]),
        };
        self.owners.insert(owner.clone(), orgs.clone());
        Ok(orgs)
    }

    /// The window of a credential of `owner`: the deployment's and those of
    /// the orgs it acts in. Without `record`, of every org of the owner (a
    /// superset, so never a longer window than the credential's own).
    async fn window(
        &mut self,
        owner: &Owner,
        record: Option<&TokenRecord>,
    ) -> Result<Option<u32>, StoreError> {
        let orgs = self.owner_orgs(owner).await?.unwrap_or_default();
        let mut windows = vec![self.deployment];
        for org in &orgs {
            let policy = self.policy(org).await?;
            // A PAT's own limit, an org's block or policy that keeps it out:
            // an org it does not act in sets nothing for it.
            let acts_here = match (record, owner.kind) {
                (Some(pat), OwnerKind::User) => {
                    pat.may_act_in(org)
                        && !pat.org_decisions.blocked.iter().any(|b| b == org)
                        && policy.admits_pat(org, pat)
                }
                _ => true,
            };
            if acts_here {
                windows.push(policy.idle_expiry_days);
            }
        }
        Ok(idle::window_days(windows))
    }
}

/// Revokes, warns and forgets as due at `now` (see the module doc).
pub async fn sweep_idle(
    store: &(impl IdleIndex + PrincipalStore),
    deployment: Option<u32>,
    now: Timestamp,
) -> Result<IdleReport, StoreError> {
    let mut windows = Windows {
        store,
        deployment,
        policies: HashMap::new(),
        owners: HashMap::new(),
    };
    let mut report = IdleReport::default();
    let today = now.0.div_euclid(DAY_MS);
    let retention_days = ADDRESS_RETENTION_MS / DAY_MS;
    for age in YOUNGEST_AGE..=OLDEST_AGE {
        let day = Timestamp((today - age) * DAY_MS);
        let mut due = Vec::new();
        for candidate in store.inactive_since(day).await? {
            // The shortest window this owner's credentials can have: if even
            // that is not near, no warning or revocation is due here.
            let near = match skip_damaged(windows.window(&candidate.owner, None).await)? {
                Some(Some(days)) => age + 8 >= i64::from(days),
                Some(None) => false,
                None => continue,
            };
            let expired_addresses = candidate.keeps_addresses && age >= retention_days;
            // The walk's last day: whatever is still here moves on (below).
            if near || expired_addresses || age == OLDEST_AGE {
                due.push(candidate.id);
            }
        }
        if due.is_empty() {
            continue;
        }
        for found in store.idle_records(&due).await? {
            let walk_end = age == OLDEST_AGE;
            sweep_one(store, &mut windows, found, now, walk_end, &mut report).await?;
        }
    }
    Ok(report)
}

/// A damaged owner or org-policy record must not stop every idle
/// revocation: the credentials it concerns are skipped (`None`), logged.
fn skip_damaged<T>(result: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::Malformed(what)) => {
            tracing::warn!(%what, "unreadable owner or org policy: its credentials skipped by the idle sweep");
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// The walk's ages, in days since last active: from the first warning the
/// shortest window can have to a little past the longest one.
const YOUNGEST_AGE: i64 = idle::MIN_IDLE_DAYS as i64 - 7;
const OLDEST_AGE: i64 = idle::MAX_IDLE_DAYS as i64 + LOOKBACK_DAYS;

/// The partition an entry as old as the walk goes is moved to, so a window
/// set later (or a backfilled token older than any window) still finds it.
fn oldest_walked_day(now: Timestamp) -> Timestamp {
    Timestamp(now.0 - i64::from(idle::MAX_IDLE_DAYS) * DAY_MS)
}

async fn sweep_one<S: IdleIndex + PrincipalStore>(
    store: &S,
    windows: &mut Windows<'_, S>,
    mut found: IdleRecord,
    now: Timestamp,
    walk_end: bool,
    report: &mut IdleReport,
) -> Result<(), StoreError> {
    let last_active = idle::last_active(&found.record);
    let past_retention = last_active.0 <= now.0 - ADDRESS_RETENTION_MS;
    if past_retention
        && !found.record.last_use.is_empty()
        && store.forget_last_use(&found.record).await?
    {
        report.addresses_removed += 1;
        found.record.last_use = LastUse::default();
    }
    let record = &found.record;
    if record.status(now) != TokenStatus::Active {
        // Ended: nothing left to warn about; it leaves once its addresses have.
        if past_retention {
            store.leave_idle_index(&record.id).await?;
        }
        return Ok(());
    }
    let Some(window) = skip_damaged(windows.window(&record.owner, Some(record)).await)? else {
        return Ok(());
    };
    let step = window.map_or(IdleStep::Nothing, |days| IdleStep::due(record, days, now));
    // Only from the walk's last day: once moved, the entry is younger.
    if step == IdleStep::Nothing && walk_end {
        store
            .place_in_idle_index(record, oldest_walked_day(now), Placement::Move)
            .await?;
    }
    let Some(days) = window else {
        return Ok(());
    };
    let actor = Actor::new(IDLE_SWEEP_ACTOR);
    match step {
        IdleStep::Nothing => {}
        IdleStep::Warn(notice) => {
            let key = notice.key(record);
            if found.notices.contains(&key) {
                return Ok(());
            }
            let audit = actor
                .event(AuditAction::TokenExpiring, record.owner.clone(), now)
                .for_token(record.id)
                .with_detail(notice.detail(days));
            if store.record_idle_notice(record, &key, &audit).await? {
                *match notice {
                    idle::IdleNotice::SevenDays => &mut report.seven_days,
                    idle::IdleNotice::OneDay => &mut report.one_day,
                } += 1;
            }
        }
        IdleStep::Revoke => {
            let unused_days = (now.0 - last_active.0) / DAY_MS;
            let revocation = Revocation {
                at: now,
                by: IDLE_SWEEP_ACTOR.to_owned(),
                reason: IDLE_REASON.to_owned(),
            };
            let audit = actor
                .event(AuditAction::TokenRevoke, record.owner.clone(), now)
                .for_token(record.id)
                .with_detail(format!(
                    "{IDLE_REASON}: unused for {unused_days} days (idle_expiry_days={days})"
                ));
            if store.revoke_idle(&found, &revocation, &audit).await? {
                report.revoked += 1;
            }
        }
    }
    Ok(())
}

/// What a backfill did: active tokens it read, and how many of them it put
/// into the index (none on a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backfill {
    pub active: u32,
    pub joined: u32,
}

/// Puts every unrevoked token made before the idle index existed into it
/// (`cogadmin token idle-backfill`): until then the sweep cannot see a
/// credential that has not been used since. Idempotent: a token already in
/// the index is left as it is. A dry run only counts the active tokens (at
/// most that many would join).
pub async fn backfill_idle_index(
    store: &(impl IdleIndex + TokenScan),
    now: Timestamp,
    dry_run: bool,
) -> Result<Backfill, StoreError> {
    let filter = TokenScanFilter {
        active_at: Some(now),
        ..TokenScanFilter::default()
    };
    let mut done = Backfill::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .scan_tokens(&filter, SCAN_PAGE_ITEMS, cursor.as_deref())
            .await?;
        for record in &page.tokens {
            done.active += 1;
            // No older than the walk reaches: a window still finds it.
            let day = idle::last_active(record).max(oldest_walked_day(now));
            if !dry_run
                && store
                    .place_in_idle_index(record, day, Placement::Join)
                    .await?
            {
                done.joined += 1;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(done),
        }
    }
}

/// Stored items a backfill scan reads per page.
const SCAN_PAGE_ITEMS: usize = 500;
