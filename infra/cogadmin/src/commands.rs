//! One method per subcommand. Every change goes through the store's normal
//! write paths with its audit event (the outbox), so lifecycle events are
//! published and caches flushed as for any other change; the audit actor is
//! the operator's own identity.

use std::sync::Arc;

use anyhow::{Context, Result};
use cog_tokens::aws::dynamodb::{schema, DynamoStore};
use cog_tokens::aws::kms::add_pepper_version;
use cog_tokens::events::usage_plans::UsagePlanSync;
use cog_tokens::management::idle::backfill_idle_index;
use cog_tokens::management::lifecycle::{
    all_tokens, reconcile_peppers, reconcile_restored, revoke_all, revoke_selection,
    ReconcileOptions, Selection,
};
use cog_tokens::management::DEFAULT_MAX_SERVICE_USERS_PER_ORG;
use cog_tokens::records::audit::{AuditFilter, AuditScope};
use cog_tokens::records::{
    Account, Actor, AuditAction, AuditEvent, OrgMembership, Owner, PrincipalStatus, Revocation,
    ServiceUser, StatusFilter, Timestamp, TokenRecord, TokenStatus, UserId,
};
use cog_tokens::store::{
    AuditLog, PepperStore, PrincipalStore, RevokeOutcome, StoreError, StoredPepper, TokenStore,
};
use cog_tokens::{PepperVersion, TokenId};
use lifecycle::usage_plans::SdkUsagePlans;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::exit::{fail, Failure};
use crate::identity::resolve_actor;
use crate::output::{Output, Progress};

/// The clients every subcommand works through.
pub struct Operator {
    store: DynamoStore,
    kms: aws_sdk_kms::Client,
    config: aws_config::SdkConfig,
    /// The DynamoDB endpoint is this machine (an emulator).
    local: bool,
    given_actor: Option<String>,
    /// Resolved on the first write only: reads need no identity.
    actor: OnceCell<String>,
    out: Output,
}

impl Operator {
    pub fn new(
        store: DynamoStore,
        kms: aws_sdk_kms::Client,
        config: aws_config::SdkConfig,
        local: bool,
        given_actor: Option<String>,
        out: Output,
    ) -> Self {
        Self {
            store,
            kms,
            config,
            local,
            given_actor,
            actor: OnceCell::new(),
            out,
        }
    }

    /// The audit actor, `operator:<identity>`.
    async fn actor(&self) -> Result<&str> {
        let actor = self
            .actor
            .get_or_try_init(|| {
                resolve_actor(&self.config, self.local, self.given_actor.as_deref())
            })
            .await?;
        Ok(actor)
    }

    /// Against AWS the table is the template's: a missing one is created
    /// only with `allow_aws`; an existing one gets pepper v1 if it has none.
    pub async fn init(&self, key_id: &str, allow_aws: bool, dry_run: bool) -> Result<()> {
        let store = &self.store;
        let exists = match store
            .client()
            .describe_table()
            .table_name(store.table())
            .send()
            .await
        {
            Ok(_) => true,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(error) => {
                return Err(fail(
                    Failure::Unavailable,
                    format!(
                        "describing `{}`: {}",
                        store.table(),
                        aws_sdk_dynamodb::error::DisplayErrorContext(&error)
                    ),
                ))
            }
        };
        if !exists && !self.local && !allow_aws {
            return Err(fail(
                Failure::Refused,
                format!(
                    "no table `{}`, and the DynamoDB endpoint is not local \
                     (AWS_ENDPOINT_URL_DYNAMODB is not 127.0.0.1 or localhost): in AWS the \
                     table is the stack's (its TokensTableName output). Pass --allow-aws to \
                     create it in this AWS account anyway",
                    store.table()
                ),
            ));
        }
        if dry_run {
            let pepper = !exists || store.list_peppers().await?.is_empty();
            self.out
                .record(&json!({"table": store.table(), "dry_run": true,
                "table_would_be_created": !exists, "pepper_would_be_created": pepper}));
            return Ok(());
        }
        let created = !exists && schema::ensure_table(store.client(), store.table()).await?;
        let version = if store.list_peppers().await?.is_empty() {
            let actor = self.actor().await?;
            Some(add_pepper_version(&self.kms, store, key_id, actor).await?)
        } else {
            None
        };
        self.out
            .record(&json!({"table": store.table(), "table_created": created,
            "pepper_created": version.map(|v| v.0)}));
        Ok(())
    }

    pub async fn account_put(
        &self,
        user_id: UserId,
        status: PrincipalStatus,
        sso: bool,
        pat_beta: bool,
        mut orgs: Vec<OrgMembership>,
        dry_run: bool,
    ) -> Result<()> {
        orgs.sort();
        orgs.dedup_by(|a, b| a.org_id == b.org_id);
        if orgs.len() > Account::MAX_ORGS {
            return Err(fail(
                Failure::Usage,
                format!("an account may be in at most {} orgs", Account::MAX_ORGS),
            ));
        }
        let existing = self.store.get_account(user_id.as_str()).await?;
        let account = Account {
            user_id: user_id.as_str().to_owned(),
            status,
            sso,
            pat_beta,
            orgs,
            // A replaced record keeps its "revoke all" watermark.
            tokens_valid_after: existing.as_ref().and_then(|a| a.tokens_valid_after),
        };
        if dry_run {
            self.out.record(&json!({"dry_run": true,
                "before": existing.as_ref().map(account_json), "after": account_json(&account)}));
            return Ok(());
        }
        let actor = self.actor().await?;
        self.store
            .put_account(&account, &account.audit_put(actor, Timestamp::now()))
            .await?;
        self.out.record(&account_json(&account));
        Ok(())
    }

    pub async fn account_get(&self, user_id: &str) -> Result<()> {
        match self.store.get_account(user_id).await? {
            Some(account) => self.out.record(&account_json(&account)),
            None => return Err(not_found(format!("no account `{user_id}`"))),
        }
        Ok(())
    }

    pub async fn service_user_create(
        &self,
        id: String,
        org_id: String,
        role: String,
        name: Option<String>,
    ) -> Result<()> {
        if !ServiceUser::is_valid_id(&id) {
            return Err(fail(
                Failure::Usage,
                format!(
                    "`{}`: a service user id is 1 to 64 of A-Z a-z 0-9 _ -",
                    id.escape_debug()
                ),
            ));
        }
        let user = ServiceUser {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            org_id,
            role,
            status: PrincipalStatus::Active,
            created_at: Timestamp::now(),
            tokens_valid_after: None,
        };
        let audit = AuditEvent::new(
            self.actor().await?,
            AuditAction::ServiceUserCreate,
            Owner::service_user(&user.id),
            Timestamp::now(),
        );
        let limit = DEFAULT_MAX_SERVICE_USERS_PER_ORG;
        match self.store.create_service_user(&user, limit, &audit).await {
            Err(StoreError::AlreadyExists) => {
                return Err(fail(
                    Failure::Refused,
                    format!("service user `{}` exists already", user.id),
                ))
            }
            Err(StoreError::LimitReached { limit }) => {
                return Err(fail(
                    Failure::Refused,
                    format!("org `{}` has {limit} service users, its limit", user.org_id),
                ))
            }
            other => other?,
        }
        self.out.record(&service_user_json(&user));
        Ok(())
    }

    pub async fn service_user_get(&self, id: &str) -> Result<()> {
        match self.store.get_service_user(id).await? {
            Some(user) => self.out.record(&service_user_json(&user)),
            None => return Err(not_found(format!("no service user `{id}`"))),
        }
        Ok(())
    }

    pub async fn pepper_rotate(&self, key_id: &str, dry_run: bool) -> Result<()> {
        if dry_run {
            let peppers = self.store.list_peppers().await?;
            let next = peppers.iter().map(|p| p.version.0).max().unwrap_or(0) + 1;
            self.out
                .record(&json!({"dry_run": true, "pepper_version_would_be_added": next}));
            return Ok(());
        }
        let actor = self.actor().await?;
        let version = add_pepper_version(&self.kms, &self.store, key_id, actor).await?;
        self.out.record(&json!({"pepper_version": version.0}));
        Ok(())
    }

    pub async fn pepper_list(&self) -> Result<()> {
        let peppers = self.store.list_peppers().await?;
        let current = current_version(&peppers);
        let now = Timestamp::now();
        for pepper in peppers {
            let live = self
                .store
                .live_tokens_with_pepper(pepper.version, now)
                .await?;
            self.out.row(&json!({
                "version": pepper.version.0,
                "created_at_ms": pepper.created_at.0,
                "kms_key_id": pepper.kms_key_id,
                "retired": pepper.retired,
                "current": Some(pepper.version) == current,
                "live_tokens": live,
            }));
        }
        Ok(())
    }

    pub async fn pepper_retire(&self, version: PepperVersion, dry_run: bool) -> Result<()> {
        let peppers = self.store.list_peppers().await?;
        let Some(target) = peppers.iter().find(|p| p.version == version) else {
            return Err(not_found(format!("no pepper {version}")));
        };
        if target.retired {
            return Err(fail(
                Failure::Refused,
                format!("pepper {version} is retired already"),
            ));
        }
        if Some(version) == current_version(&peppers) {
            return Err(fail(
                Failure::Refused,
                format!("pepper {version} is the current version; rotate first"),
            ));
        }
        let live = self
            .store
            .live_tokens_with_pepper(version, Timestamp::now())
            .await?;
        if live > 0 {
            return Err(fail(
                Failure::Refused,
                format!(
                    "pepper {version} still hashes {live} live token(s): revoke them first \
                     (`cogadmin token revoke --pepper-version {} --dry-run`, then without \
                     --dry-run) or wait for them to expire",
                    version.0
                ),
            ));
        }
        if dry_run {
            self.out.record(
                &json!({"dry_run": true, "pepper_version": version.0, "live_tokens": 0,
                        "would_retire": true}),
            );
            return Ok(());
        }
        let audit = AuditEvent::system(
            self.actor().await?,
            AuditAction::PepperRetire,
            Timestamp::now(),
        )
        .with_detail(version.to_string());
        self.store.retire_pepper(version, &audit).await?;
        self.out.record(&json!({"retired": version.0}));
        Ok(())
    }

    /// Up to `limit` events, newest first, one per line; `token`: only
    /// those naming it (pages are read until enough match).
    pub async fn audit(
        &self,
        scope: &AuditScope,
        token: Option<TokenId>,
        since: Option<Timestamp>,
        limit: usize,
    ) -> Result<()> {
        let filter = AuditFilter {
            from: since,
            ..AuditFilter::default()
        };
        let mut printed = 0;
        let mut cursor = None;
        while printed < limit {
            let want = if token.is_some() {
                100
            } else {
                limit - printed
            };
            let page = self
                .store
                .audit_page(scope, filter, want, cursor.as_deref())
                .await?;
            for event in &page.events {
                if printed == limit || token.is_some_and(|id| event.token_id != Some(id)) {
                    continue;
                }
                self.out.row(&audit_json(event));
                printed += 1;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(())
    }

    pub async fn token_list(&self, owner: &Owner, status: StatusFilter) -> Result<()> {
        let now = Timestamp::now();
        for record in all_tokens(&self.store, owner, status, now).await? {
            self.out.row(&token_json(&record, now));
        }
        Ok(())
    }

    pub async fn token_show(&self, id: &TokenId) -> Result<()> {
        match self.store.get_token(id).await? {
            Some(record) => self.out.record(&token_json(&record, Timestamp::now())),
            None => return Err(not_found(format!("no token `{id}`"))),
        }
        Ok(())
    }

    pub async fn token_idle_backfill(&self, dry_run: bool) -> Result<()> {
        let done = backfill_idle_index(&self.store, Timestamp::now(), dry_run).await?;
        self.out
            .record(&json!({"dry_run": dry_run, "active": done.active, "joined": done.joined}));
        Ok(())
    }

    pub async fn token_usage_plan_backfill(
        &self,
        stages: &[String],
        prefix: String,
        dry_run: bool,
    ) -> Result<()> {
        let stages = stages
            .iter()
            .map(|stage| match stage.split_once('/') {
                Some((api, name)) if !api.is_empty() && !name.is_empty() => {
                    Ok((api.to_owned(), name.to_owned()))
                }
                _ => Err(fail(
                    Failure::Usage,
                    format!("--stage {stage}: expected REST_API_ID/STAGE"),
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        let plans = SdkUsagePlans::new(
            aws_sdk_apigateway::Client::new(&self.config),
            prefix,
            stages,
        );
        let sync = UsagePlanSync::new(Arc::new(self.store.clone()), plans);
        let done = sync.backfill(Timestamp::now(), dry_run).await?;
        self.out
            .record(&json!({"dry_run": dry_run, "unplaced": done.unplaced, "placed": done.placed}));
        Ok(())
    }

    pub async fn token_revoke_all(&self, owner: &Owner, reason: &str, dry_run: bool) -> Result<()> {
        let now = Timestamp::now();
        if dry_run {
            // What `revoke_all` marks: every token not revoked by now
            // (expired ones too, so listings show them revoked).
            let tokens = all_tokens(&self.store, owner, StatusFilter::All, now).await?;
            let matched = tokens
                .iter()
                .filter(|t| t.revoked.as_ref().is_none_or(|r| r.at > now))
                .count();
            self.out.record(
                &json!({"owner": owner.to_string(), "dry_run": true, "matched": matched,
                        "revoked": 0}),
            );
            return Ok(());
        }
        let by = Actor::new(self.actor().await?);
        let count = revoke_all(&self.store, owner, &by, reason, now).await?;
        self.out
            .record(&json!({"owner": owner.to_string(), "dry_run": false, "revoked": count}));
        Ok(())
    }

    pub async fn token_revoke_one(&self, id: &TokenId, reason: &str, dry_run: bool) -> Result<()> {
        let now = Timestamp::now();
        let Some(record) = self.store.get_token(id).await? else {
            return Err(not_found(format!("no token `{id}`")));
        };
        let active = record.status(now) == TokenStatus::Active;
        let revoked = if dry_run || !active {
            false
        } else {
            let actor = self.actor().await?;
            let revocation = Revocation {
                at: now,
                by: actor.to_owned(),
                reason: reason.to_owned(),
            };
            let audit = Actor::new(actor)
                .event(AuditAction::TokenRevoke, record.owner.clone(), now)
                .for_token(record.id)
                .with_detail(reason);
            self.store
                .revoke_active_token(&record, &revocation, &audit)
                .await?
                == RevokeOutcome::Revoked
        };
        self.out.record(
            &json!({"token_id": id.to_string(), "owner": record.owner.to_string(),
            "status": record.status(now), "dry_run": dry_run, "matched": u32::from(active),
            "revoked": u32::from(revoked)}),
        );
        Ok(())
    }

    pub async fn token_revoke_selection(
        &self,
        selection: &Selection,
        reason: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<()> {
        let now = Timestamp::now();
        let mut total = None;
        if let Selection::PepperVersion(version) = selection {
            let peppers = self.store.list_peppers().await?;
            if !peppers.iter().any(|p| p.version == *version) {
                return Err(not_found(format!("no pepper {version}")));
            }
            if Some(*version) == current_version(&peppers) && !force {
                return Err(fail(
                    Failure::Refused,
                    format!(
                        "pepper {version} is the current version: new tokens are hashed under \
                         it; rotate first (`cogadmin pepper rotate`), or pass --force to \
                         revoke its tokens anyway"
                    ),
                ));
            }
            total = Some(self.store.live_tokens_with_pepper(*version, now).await?);
        }
        let by = Actor::new(if dry_run {
            "dry-run"
        } else {
            self.actor().await?
        });
        let progress = Progress::new(total);
        let totals = revoke_selection(
            &self.store,
            selection,
            &by,
            reason,
            now,
            dry_run,
            &mut |t| {
                progress.update(
                    t.matched,
                    format!("matched {}, revoked {}", t.matched, t.revoked),
                )
            },
        )
        .await?;
        progress.finish();
        self.out.record(
            &json!({"selection": selection_json(selection), "dry_run": dry_run,
            "matched": totals.matched, "revoked": totals.revoked,
            "owners_cut_off": totals.owners_cut_off}),
        );
        Ok(())
    }

    pub async fn restore_reconcile(
        &self,
        source: &DynamoStore,
        restore_point: Timestamp,
        until: Option<Timestamp>,
        keep_absent: bool,
        dry_run: bool,
    ) -> Result<()> {
        if source.table() == self.store.table() {
            return Err(fail(
                Failure::Usage,
                "--from-table must name the source table, not the restored one (--table)",
            ));
        }
        // Both must be readable before anything is written.
        source
            .list_peppers()
            .await
            .with_context(|| format!("reading the source table `{}`", source.table()))?;
        let by = Actor::new(if dry_run {
            "dry-run"
        } else {
            self.actor().await?
        });
        let now = Timestamp::now();
        let peppers = reconcile_peppers(&self.store, source, &by, now, dry_run).await?;
        let options = ReconcileOptions {
            restore_point: Some(restore_point),
            until,
            keep_absent,
            dry_run,
        };
        let progress = Progress::new(None);
        let totals = reconcile_restored(&self.store, source, &by, now, options, &mut |t| {
            progress.update(
                t.checked,
                format!("checked {}, revoked {}", t.checked, t.revoked),
            )
        })
        .await?;
        progress.finish();
        self.out.record(&json!({
            "restored_table": self.store.table(), "source_table": source.table(),
            "dry_run": dry_run, "until_ms": until.map(|t| t.0),
            "peppers_added": peppers.added, "peppers_retired": peppers.retired,
            "restore_point_ms": restore_point.0,
            "checked": totals.checked, "revoked_in_source": totals.revoked_in_source,
            "revoked_in_trail": totals.revoked_in_trail,
            "absent_from_source": totals.absent_from_source,
            "owner_cut_off": totals.owner_cut_off, "narrowed": totals.narrowed,
            "owners_deactivated": totals.owners_deactivated,
            "skipped_after_until": totals.skipped_after_until, "revoked": totals.revoked,
        }));
        Ok(())
    }
}

fn not_found(message: String) -> anyhow::Error {
    fail(Failure::NotFound, message)
}

fn account_json(account: &Account) -> Value {
    json!({
        "user_id": account.user_id,
        "status": account.status,
        "sso": account.sso,
        "pat_beta": account.pat_beta,
        "orgs": account.orgs,
        "tokens_valid_after_ms": account.tokens_valid_after.map(|t| t.0),
    })
}

fn audit_json(event: &AuditEvent) -> Value {
    json!({
        "at": event.at.0, "actor": event.actor, "action": event.action.as_str(),
        "owner": event.owner.as_ref().map(ToString::to_string),
        "token_id": event.token_id.map(|id| id.to_string()), "detail": event.detail,
        "org": event.org,
        "source_ip": event.origin.as_ref().map(|o| o.source_ip.as_str()),
        "user_agent": event.origin.as_ref().map(|o| o.user_agent.as_str()),
    })
}

fn service_user_json(user: &ServiceUser) -> Value {
    json!({"id": user.id, "name": user.name, "org_id": user.org_id, "role": user.role,
           "status": user.status})
}

fn selection_json(selection: &Selection) -> Value {
    match selection {
        Selection::PepperVersion(version) => json!({"pepper_version": version.0}),
        Selection::Org(org) => json!({"org": org}),
        Selection::IssuedBetween { after, before } => json!({
            "issued_after_ms": after.map(|t| t.0), "issued_before_ms": before.map(|t| t.0),
        }),
    }
}

fn token_json(record: &TokenRecord, now: Timestamp) -> Value {
    json!({
        "id": record.id.to_string(), "owner": record.owner.to_string(), "name": record.name,
        "scopes": record.scopes, "status": record.status(now),
        "pepper_version": record.pepper_version.0, "created_at_ms": record.created_at.0,
        "expires_at_ms": record.expires_at.map(|t| t.0),
        "last_used_at_ms": record.last_used_at.map(|t| t.0),
        // What an investigation needs, as stored (the API shows 30 days at most).
        "last_used_ip": record.last_use.source_ip.map(|ip| ip.to_string()),
        "last_used_user_agent": record.last_use.user_agent,
        "recent_addresses": record.last_use.recent.iter()
            .map(|a| json!({"ip": a.ip.to_string(), "last_seen_at_ms": a.seen_at.0}))
            .collect::<Vec<_>>(),
        "revoked_at_ms": record.revoked.as_ref().map(|r| r.at.0),
        "revoked_by": record.revoked.as_ref().map(|r| r.by.as_str()),
        "revoke_reason": record.revoked.as_ref().map(|r| r.reason.as_str()),
        "blocked_orgs": record.org_decisions.blocked, "allowed_ips": record.allowed_ips.to_strings(),
        "orgs": record.org_limit,
        "rate_limit": record.rate_limit
            .map(|l| json!({"requests_per_second": l.per_second(), "burst": l.burst()})),
        // REST usage plans: its API key is in its limit's plan.
        "usage_key_placed": record.usage_key_placed,
        "approved_orgs": record.org_decisions.approved,
        "org_denials": record.org_decisions.denied.iter()
            .map(|d| json!({"org": d.org, "reason": d.reason, "by": d.by, "at_ms": d.at.0}))
            .collect::<Vec<_>>(),
    })
}

/// The version new tokens are hashed under: the newest one not retired.
fn current_version(peppers: &[StoredPepper]) -> Option<PepperVersion> {
    peppers
        .iter()
        .filter(|p| !p.retired)
        .map(|p| p.version)
        .max()
}
