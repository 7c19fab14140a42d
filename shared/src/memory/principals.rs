//! The in-memory accounts, service users, org policies and audit trail.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{decode_timed_cursor, MemoryStore, State};
use crate::records::audit::{AuditFilter, AuditPage, AuditScope};
use crate::records::{
    Account, AuditEvent, OrgMember, OrgPolicy, Owner, PrincipalStatus, ServiceUser, Timestamp,
};
use crate::store::{AuditLog, PrincipalStore, ServiceUserPage, StoreError};

#[async_trait]
impl PrincipalStore for MemoryStore {
    async fn put_account(&self, account: &Account, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let kept = state
            .accounts
            .get(&account.user_id)
            .and_then(|a| a.tokens_valid_after);
        state.accounts.insert(
            account.user_id.clone(),
            Account {
                tokens_valid_after: kept,
                ..account.clone()
            },
        );
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn org_members(&self, org_id: &str) -> Result<Vec<OrgMember>, StoreError> {
        let state = self.state()?;
        let mut members: Vec<OrgMember> = state
            .accounts
            .values()
            .filter_map(|account| {
                let membership = account.orgs.iter().find(|m| m.org_id == org_id)?;
                Some(OrgMember {
                    user_id: account.user_id.clone(),
                    role: membership.role.clone(),
                })
            })
            .collect();
        members.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok(members)
    }

    async fn get_account(&self, user_id: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.state()?.accounts.get(user_id).cloned())
    }

    async fn put_account_version(
        &self,
        account: &Account,
        version: i64,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        {
            let mut state = self.state()?;
            let stored = state
                .account_versions
                .entry(account.user_id.clone())
                .or_default();
            if *stored >= version {
                return Ok(false);
            }
            *stored = version;
        }
        self.put_account(account, audit).await?;
        Ok(true)
    }

    async fn create_service_user(
        &self,
        user: &ServiceUser,
        limit: u32,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.service_users.contains_key(&user.id) {
            return Err(StoreError::AlreadyExists);
        }
        let count = state
            .org_service_users
            .entry(user.org_id.clone())
            .or_default();
        if *count >= limit {
            return Err(StoreError::LimitReached { limit });
        }
        *count += 1;
        state.service_users.insert(user.id.clone(), user.clone());
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn get_service_user(&self, id: &str) -> Result<Option<ServiceUser>, StoreError> {
        Ok(self.state()?.service_users.get(id).cloned())
    }

    async fn update_service_user(
        &self,
        read: &ServiceUser,
        changed: &ServiceUser,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let stored = state
            .service_users
            .get_mut(&read.id)
            .filter(|stored| stored.org_id == read.org_id)
            .ok_or(StoreError::NotFound)?;
        // As DynamoDB: every field it may change must still be as read.
        let held =
            stored.name == read.name && stored.role == read.role && stored.status == read.status;
        if !held {
            return Err(StoreError::Conflict);
        }
        stored.name.clone_from(&changed.name);
        stored.role.clone_from(&changed.role);
        stored.status = changed.status;
        state.audit.push(audit.clone());
        Ok(())
    }

    async fn list_service_users(
        &self,
        org_id: &str,
        status: Option<PrincipalStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ServiceUserPage, StoreError> {
        let after = cursor.map(decode_timed_cursor).transpose()?;
        let state = self.state()?;
        let sorted: BTreeMap<_, _> = state
            .service_users
            .values()
            .filter(|u| u.org_id == org_id && status.is_none_or(|s| u.status == s))
            .map(|u| ((u.created_at, u.id.clone()), u))
            .collect();
        let mut service_users = Vec::new();
        let mut more = false;
        for (key, user) in sorted.iter().rev() {
            if after.as_ref().is_some_and(|a| key >= a) {
                continue;
            }
            if service_users.len() == limit.max(1) {
                more = true;
                break;
            }
            service_users.push((*user).clone());
        }
        let next_cursor = match service_users.last() {
            Some(last) if more => {
                Some(URL_SAFE_NO_PAD.encode(format!("{}#{}", last.created_at.0, last.id)))
            }
            _ => None,
        };
        Ok(ServiceUserPage {
            service_users,
            next_cursor,
        })
    }

    async fn get_org_policy(&self, org_id: &str) -> Result<Option<OrgPolicy>, StoreError> {
        Ok(self.state()?.org_policies.get(org_id).copied())
    }

    async fn get_org_policies(
        &self,
        orgs: &[String],
    ) -> Result<std::collections::HashMap<String, OrgPolicy>, StoreError> {
        crate::store::CredentialLookup::org_policies(self, orgs).await
    }

    async fn put_org_policy(
        &self,
        org_id: &str,
        policy: &OrgPolicy,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        put_policy(&mut state, org_id, policy, audit);
        Ok(())
    }

    async fn put_org_policy_if(
        &self,
        org_id: &str,
        policy: &OrgPolicy,
        read: Option<&OrgPolicy>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.org_policies.get(org_id) != read {
            return Err(StoreError::Conflict);
        }
        put_policy(&mut state, org_id, policy, audit);
        Ok(())
    }

    async fn revoke_tokens_before(
        &self,
        owner: &Owner,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let watermark = match owner.kind {
            crate::records::OwnerKind::User => state
                .accounts
                .get_mut(&owner.id)
                .map(|a| &mut a.tokens_valid_after),
            crate::records::OwnerKind::ServiceUser => state
                .service_users
                .get_mut(&owner.id)
                .map(|u| &mut u.tokens_valid_after),
        }
        .ok_or(StoreError::NotFound)?;
        *watermark = Some(watermark.map_or(at, |w| w.max(at)));
        state.audit.push(audit.clone());
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn audit_events(
        &self,
        owner: Option<&Owner>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let state = self.state()?;
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|e| e.owner.as_ref() == owner)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn audit_page(
        &self,
        scope: &AuditScope,
        filter: AuditFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AuditPage, StoreError> {
        let after = cursor.map(decode_timed_cursor).transpose()?;
        let state = self.state()?;
        let in_scope = |e: &&AuditEvent| match scope {
            AuditScope::Owner(owner) => e.owner.as_ref() == Some(owner),
            AuditScope::Org(org) => e.org.as_ref() == Some(org),
        };
        let sorted: BTreeMap<_, _> = state
            .audit
            .iter()
            .filter(in_scope)
            .filter(|e| filter.admits(e))
            .map(|e| ((e.at, e.id.clone()), e))
            .collect();
        let mut events = Vec::new();
        let mut more = false;
        for (key, event) in sorted.iter().rev() {
            if after.as_ref().is_some_and(|a| key >= a) {
                continue;
            }
            if events.len() == limit.max(1) {
                more = true;
                break;
            }
            events.push((*event).clone());
        }
        let next_cursor = match events.last() {
            Some(last) if more => {
                Some(URL_SAFE_NO_PAD.encode(format!("{}#{}", last.at.0, last.id)))
            }
            _ => None,
        };
        Ok(AuditPage {
            events,
            next_cursor,
        })
    }
}

/// An org's policy stored, with its audit event.
fn put_policy(state: &mut State, org_id: &str, policy: &OrgPolicy, audit: &AuditEvent) {
    state.org_policies.insert(org_id.to_owned(), *policy);
    state.audit.push(audit.clone());
}
