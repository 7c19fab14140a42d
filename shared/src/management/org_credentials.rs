//! An org's say over the credentials that act in it: the inventory, and
//! taking one credential out of the org (a key revoked, a member's PAT
//! blocked here only). Its PAT policy: `org_policy`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::error::ManagementError;
use super::policy::PAGE_MAX;
use super::service_users::OrgCall;
use super::tokens::TokenManager;
use crate::management::lifecycle::all_tokens;
use crate::records::{
    ApprovalFilter, ApprovalState, AuditAction, Owner, OwnerKind, PatApproval, StatusFilter,
    Timestamp, TokenRecord,
};
use crate::store::pepper::PepperSource;
use crate::store::{PrincipalStore, StoreError, TokenStore};
use crate::token::TokenId;

/// What removing a credential from an org did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// A service key of the org: revoked.
    KeyRevoked,
    /// A member's PAT: blocked in this org only; the member's other orgs
    /// and the PAT itself are untouched.
    PatBlocked,
}

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    /// Whether `user_id` has an account that is a member of `org`.
    pub(super) async fn is_member(&self, user_id: &str, org: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .get_account(user_id)
            .await?
            .is_some_and(|account| account.orgs.iter().any(|m| m.org_id == org)))
    }

    /// Takes a credential out of the org: a service key of the org is
    /// revoked; a member's PAT is blocked here (not revoked: an org admin
    /// must not end the member's access to other orgs). Anything else is
    /// "not found".
    pub async fn remove_credential(
        &self,
        call: OrgCall<'_>,
        id: &str,
    ) -> Result<Removal, ManagementError> {
        self.require_org_admin(call).await?;
        let id: TokenId = id.parse().map_err(|_| ManagementError::TokenNotFound)?;
        let record = self
            .store
            .get_token(&id)
            .await?
            .ok_or(ManagementError::TokenNotFound)?;
        match record.owner.kind {
            OwnerKind::ServiceUser => {
                let in_org = self
                    .store
                    .get_service_user(&record.owner.id)
                    .await?
                    .is_some_and(|user| user.org_id == call.org);
                if !in_org {
                    return Err(ManagementError::TokenNotFound);
                }
                self.end(&record, &call.actor(), "revoked by org admin", call.now)
                    .await?;
                Ok(Removal::KeyRevoked)
            }
            OwnerKind::User => {
                if !self.is_member(&record.owner.id, call.org).await? {
                    return Err(ManagementError::TokenNotFound);
                }
                let audit = call
                    .actor()
                    .event(AuditAction::TokenBlock, record.owner.clone(), call.now)
                    .for_token(record.id);
                match self.store.block_in_org(&record.id, call.org, &audit).await {
                    Ok(()) => Ok(Removal::PatBlocked),
                    Err(StoreError::NotFound) => Err(ManagementError::TokenNotFound),
                    Err(other) => Err(other.into()),
                }
            }
        }
    }
}

/// Which of an org's credentials to list.
#[derive(Debug, Clone, Default)]
pub struct CredentialFilter {
    /// PATs (`User`) or service keys (`ServiceUser`); both when `None`.
    pub kind: Option<OwnerKind>,
    pub status: StatusFilter,
    /// One owner only.
    pub owner: Option<Owner>,
    /// Members' PATs in this approval state here only (keys never match).
    pub approval: Option<ApprovalFilter>,
}

/// One credential that can act in an org: never its secret.
#[derive(Debug, Clone)]
pub struct Credential {
    pub record: TokenRecord,
    /// A member's PAT blocked in this org.
    pub blocked_here: bool,
    /// The org's approval rule, and the org.
    rule: PatApproval,
    org: String,
}

impl Credential {
    /// `record` as `org`'s admins may see it: of its org limit, its blocks
    /// and its approvals, `org`'s own part only; the other orgs are not
    /// theirs to know.
    pub(super) fn seen_from(org: &str, rule: PatApproval, mut record: TokenRecord) -> Self {
        let blocked_here = record.org_decisions.blocked.iter().any(|o| o == org);
        if let Some(orgs) = &mut record.org_limit {
            orgs.retain(|o| o == org);
        }
        let decisions = record.org_decisions.edit();
        decisions.blocked.retain(|o| o == org);
        decisions.approved.retain(|o| o == org);
        decisions.denied.retain(|d| d.org == org);
        Self {
            record,
            blocked_here,
            rule,
            org: org.to_owned(),
        }
    }

    /// A member's PAT's approval here; `None` for a key, or when the org
    /// does not require approval.
    pub fn approval(&self) -> Option<ApprovalState<'_>> {
        if self.record.owner.kind != OwnerKind::User {
            return None;
        }
        let state = self.record.org_decisions.state_in(&self.org, self.rule);
        (state != ApprovalState::NotRequired).then_some(state)
    }
}

/// One page of an org's credentials, newest first.
#[derive(Debug, Clone)]
pub struct CredentialPage {
    pub credentials: Vec<Credential>,
    pub next_cursor: Option<String>,
}

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    /// Every credential that can act in the org: the keys of its service
    /// users and the PATs of its members (less those limited to other
    /// orgs), newest first. Each page reads
    /// every owner's listing (the limits bound them: service users per org,
    /// keys per service user, PATs per member).
    pub async fn credentials(
        &self,
        call: OrgCall<'_>,
        filter: CredentialFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<CredentialPage, ManagementError> {
        self.require_org_admin(call).await?;
        let after = cursor.map(read_cursor).transpose()?;
        let rule = self
            .store
            .get_org_policy(call.org)
            .await?
            .unwrap_or_default()
            .pat_approval;
        let mut all = Vec::new();
        for owner in self.org_owners(call.org, &filter).await? {
            for record in all_tokens(self.store.as_ref(), &owner, filter.status, call.now).await? {
                // A PAT limited to other orgs cannot act here.
                if !record.may_act_in(call.org) {
                    continue;
                }
                let credential = Credential::seen_from(call.org, rule, record);
                if let Some(wanted) = filter.approval {
                    if !credential
                        .approval()
                        .is_some_and(|state| wanted.admits(state))
                    {
                        continue;
                    }
                }
                all.push(credential);
            }
        }
        all.sort_by(|a, b| {
            (b.record.created_at, b.record.id).cmp(&(a.record.created_at, a.record.id))
        });
        let limit = limit.clamp(1, PAGE_MAX);
        let mut credentials: Vec<Credential> = all
            .into_iter()
            .filter(|c| after.is_none_or(|a| (c.record.created_at, c.record.id) < a))
            .take(limit + 1)
            .collect();
        let more = credentials.len() > limit;
        credentials.truncate(limit);
        let next_cursor = credentials
            .last()
            .filter(|_| more)
            .map(|c| URL_SAFE_NO_PAD.encode(format!("{}#{}", c.record.created_at.0, c.record.id)));
        Ok(CredentialPage {
            credentials,
            next_cursor,
        })
    }

    /// The owners whose credentials can act in the org, as `filter` narrows them.
    async fn org_owners(
        &self,
        org: &str,
        filter: &CredentialFilter,
    ) -> Result<Vec<Owner>, ManagementError> {
        let mut owners = Vec::new();
        if filter.kind != Some(OwnerKind::ServiceUser) {
            let members = self.store.org_members(org).await?;
            owners.extend(members.into_iter().map(|m| Owner::user(m.user_id)));
        }
        if filter.kind != Some(OwnerKind::User) {
            let mut cursor = None;
            loop {
                let page = self
                    .store
                    .list_service_users(org, None, PAGE_MAX, cursor.as_deref())
                    .await?;
                owners.extend(
                    page.service_users
                        .into_iter()
                        .map(|u| Owner::service_user(u.id)),
                );
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        if let Some(only) = &filter.owner {
            owners.retain(|o| o == only);
        }
        Ok(owners)
    }
}

/// A credential cursor: the last one's creation time and id.
fn read_cursor(cursor: &str) -> Result<(Timestamp, TokenId), ManagementError> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(ManagementError::InvalidCursor)?;
    let (at, id) = text.split_once('#').ok_or(ManagementError::InvalidCursor)?;
    let at = at.parse().map_err(|_| ManagementError::InvalidCursor)?;
    let id = id.parse().map_err(|_| ManagementError::InvalidCursor)?;
    Ok((Timestamp(at), id))
}
