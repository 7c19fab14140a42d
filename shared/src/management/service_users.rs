//! Org administration: an org's admins manage its service users and their
//! API keys, and read the org's audit trail (and anyone their own). A caller who is no member of the org is told it does not exist;
//! a member who is not an admin is refused.

use super::error::ManagementError;
use super::policy::{TokenRequest, PAGE_MAX};
use super::preconditions::IfMatch;
use super::rotation::Replacement;
use super::tokens::{IssuedToken, TokenManager};
use crate::records::audit::{AuditFilter, AuditPage, AuditScope};
use crate::records::names::TokenName;
use crate::records::{
    Actor, AuditAction, AuditEvent, Caller, Owner, PrincipalStatus, RetryKey, ServiceUser,
    StatusFilter, Timestamp, TokenRecord,
};
use crate::store::pepper::PepperSource;
use crate::store::{
    AuditLog, PrincipalStore, RevokeOutcome, ServiceUserPage, StoreError, TokenPage, TokenStore,
};

/// The role every org admin holds in their membership.
pub const ADMIN_ROLE: &str = "admin";

/// Reads and writes of one service-user update before a concurrent change
/// is answered as "unavailable, try again".
const UPDATE_ATTEMPTS: u32 = 3;

/// A new service user, as an admin asks for it.
#[derive(Debug, Clone)]
pub struct ServiceUserRequest {
    pub name: String,
    pub role: String,
}

/// What an admin may change about a service user; `None` keeps it.
#[derive(Debug, Clone, Default)]
pub struct ServiceUserChanges {
    pub name: Option<String>,
    pub role: Option<String>,
    /// `active` or `disabled`.
    pub status: Option<PrincipalStatus>,
}

/// Where in an org a request acts: the admin calling, the org, the time.
#[derive(Debug, Clone, Copy)]
pub struct OrgCall<'a> {
    pub admin: &'a Caller,
    pub org: &'a str,
    pub now: Timestamp,
}

impl OrgCall<'_> {
    /// The admin, audited in this org (listed in its trail too).
    pub(super) fn actor(&self) -> Actor {
        self.admin.actor().in_org(self.org)
    }
}

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore,
    P: PepperSource,
{
    /// The caller must be an active admin of the org: no member, 404; a
    /// member who is not an admin, 403. SSO accounts may be admins.
    pub(super) async fn require_org_admin(&self, call: OrgCall<'_>) -> Result<(), ManagementError> {
        let account = self.store.get_account(call.admin.user.as_str()).await?;
        let membership = account.as_ref().and_then(|account| {
            account
                .orgs
                .iter()
                .find(|m| m.org_id == call.org)
                .map(|m| (account, m))
        });
        let Some((account, membership)) = membership else {
            return Err(ManagementError::OrgNotFound);
        };
        if account.status != PrincipalStatus::Active {
            return Err(ManagementError::AccountInactive);
        }
        if membership.role != ADMIN_ROLE {
            return Err(ManagementError::OrgAdminRequired);
        }
        Ok(())
    }

    /// The org's service user `id`, after the admin check.
    async fn org_service_user(
        &self,
        call: OrgCall<'_>,
        id: &str,
    ) -> Result<ServiceUser, ManagementError> {
        self.require_org_admin(call).await?;
        if !ServiceUser::is_valid_id(id) {
            return Err(ManagementError::ServiceUserNotFound);
        }
        match self.store.get_service_user(id).await? {
            Some(user) if user.org_id == call.org => Ok(user),
            _ => Err(ManagementError::ServiceUserNotFound),
        }
    }

    pub async fn create_service_user(
        &self,
        call: OrgCall<'_>,
        request: ServiceUserRequest,
    ) -> Result<ServiceUser, ManagementError> {
        self.require_org_admin(call).await?;
        let name = service_user_name(&request.name)?;
        self.policy.check_role(&request.role)?;
        let user = ServiceUser {
            id: ServiceUser::new_id(),
            name,
            org_id: call.org.to_owned(),
            role: request.role,
            status: PrincipalStatus::Active,
            created_at: call.now,
            tokens_valid_after: None,
        };
        let audit = org_audit(call, AuditAction::ServiceUserCreate, &user)
            .with_detail(format!("role={}", user.role));
        let limit = self.policy.max_service_users_per_org;
        match self.store.create_service_user(&user, limit, &audit).await {
            Ok(()) => Ok(user),
            Err(StoreError::LimitReached { limit }) => {
                Err(ManagementError::ServiceUserLimitReached { limit })
            }
            Err(other) => Err(other.into()),
        }
    }

    pub async fn list_service_users(
        &self,
        call: OrgCall<'_>,
        status: Option<PrincipalStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ServiceUserPage, ManagementError> {
        self.require_org_admin(call).await?;
        Ok(self
            .store
            .list_service_users(call.org, status, limit.clamp(1, PAGE_MAX), cursor)
            .await?)
    }

    pub async fn get_service_user(
        &self,
        call: OrgCall<'_>,
        id: &str,
    ) -> Result<ServiceUser, ManagementError> {
        self.org_service_user(call, id).await
    }

    /// Renames, re-roles, disables or enables a service user. Disabling ends
    /// every key of it at the next authorization; the authorizer reads the
    /// role live, so a new role applies to the next request. Only the fields
    /// named are written; if another change lands between the read and the
    /// write, it is read again (a few times), so that change stands.
    pub async fn update_service_user(
        &self,
        call: OrgCall<'_>,
        id: &str,
        changes: ServiceUserChanges,
    ) -> Result<ServiceUser, ManagementError> {
        self.update_service_user_if(call, id, changes, None).await
    }

    /// As [`TokenManager::update_service_user`]; with `if_match`, only over
    /// the version it names ([`ServiceUser::entity_tag`]), else
    /// `PreconditionFailed`: a retry after a concurrent change reads a
    /// version the client has not seen.
    pub async fn update_service_user_if(
        &self,
        call: OrgCall<'_>,
        id: &str,
        changes: ServiceUserChanges,
        if_match: Option<&IfMatch>,
    ) -> Result<ServiceUser, ManagementError> {
        let mut attempt = 1;
        loop {
            let read = self.org_service_user(call, id).await?;
            if if_match.is_some_and(|m| !m.admits(&read.entity_tag())) {
                return Err(ManagementError::PreconditionFailed);
            }
            let user = self.changed_service_user(read.clone(), &changes)?;
            let audit =
                org_audit(call, AuditAction::ServiceUserUpdate, &user).with_detail(format!(
                    "name={} role={} status={}",
                    user.name,
                    user.role,
                    user.status.as_str()
                ));
            match self.store.update_service_user(&read, &user, &audit).await {
                Ok(()) => return Ok(user),
                Err(StoreError::NotFound) => return Err(ManagementError::ServiceUserNotFound),
                Err(StoreError::Conflict) if attempt < UPDATE_ATTEMPTS => attempt += 1,
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// `user` with `changes` applied, each checked.
    fn changed_service_user(
        &self,
        mut user: ServiceUser,
        changes: &ServiceUserChanges,
    ) -> Result<ServiceUser, ManagementError> {
        if let Some(name) = &changes.name {
            user.name = service_user_name(name)?;
        }
        if let Some(role) = &changes.role {
            self.policy.check_role(role)?;
            user.role.clone_from(role);
        }
        if let Some(status) = changes.status {
            if !matches!(status, PrincipalStatus::Active | PrincipalStatus::Disabled) {
                return Err(ManagementError::invalid(
                    "status",
                    "invalid_status",
                    "status must be active or disabled",
                ));
            }
            user.status = status;
        }
        Ok(user)
    }

    /// Issues an API key to an active service user of the org.
    pub async fn create_key(
        &self,
        call: OrgCall<'_>,
        service_user: &str,
        request: TokenRequest,
        retry: Option<&RetryKey>,
    ) -> Result<IssuedToken, ManagementError> {
        let user = self.org_service_user(call, service_user).await?;
        if user.status != PrincipalStatus::Active {
            return Err(ManagementError::ServiceUserDisabled);
        }
        let owner = Owner::service_user(&user.id);
        if let Some(issued) = self.replay(retry, &owner, call.now).await? {
            return Ok(issued);
        }
        let new = self.policy.validate(request)?;
        if new.org_limit.is_some() {
            return Err(ManagementError::invalid(
                "orgs",
                "invalid_orgs",
                "a service key acts in its service user's org only",
            ));
        }
        let limit = self.policy.max_keys_per_service_user;
        self.issue(owner, new, limit, &call.actor(), retry, None, call.now)
            .await
    }

    pub async fn list_keys(
        &self,
        call: OrgCall<'_>,
        service_user: &str,
        filter: StatusFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<TokenPage, ManagementError> {
        let user = self.org_service_user(call, service_user).await?;
        Ok(self
            .store
            .list_tokens(
                &Owner::service_user(&user.id),
                filter,
                call.now,
                limit.clamp(1, PAGE_MAX),
                cursor,
            )
            .await?)
    }

    /// A key of the org's service user, with the service user; any other
    /// key is "not found".
    async fn org_key(
        &self,
        call: OrgCall<'_>,
        service_user: &str,
        key_id: &str,
    ) -> Result<(ServiceUser, TokenRecord), ManagementError> {
        let user = self.org_service_user(call, service_user).await?;
        let id = key_id.parse().map_err(|_| ManagementError::TokenNotFound)?;
        match self.store.get_token(&id).await? {
            Some(record) if record.owner == Owner::service_user(&user.id) => Ok((user, record)),
            _ => Err(ManagementError::TokenNotFound),
        }
    }

    pub async fn rotate_key(
        &self,
        call: OrgCall<'_>,
        service_user: &str,
        key_id: &str,
        grace_seconds: Option<u32>,
        retry: Option<&RetryKey>,
    ) -> Result<IssuedToken, ManagementError> {
        let (user, old) = self.org_key(call, service_user, key_id).await?;
        if user.status != PrincipalStatus::Active {
            return Err(ManagementError::ServiceUserDisabled);
        }
        if let Some(issued) = self.replay(retry, &old.owner, call.now).await? {
            return Ok(issued);
        }
        let grace = grace_seconds.unwrap_or(0);
        self.policy.check_grace(grace)?;
        self.check_rotatable(&old, call.now)?;
        let how = Replacement {
            grace,
            limit: self.policy.max_keys_per_service_user,
            by: &call.actor(),
            retry,
            by_itself: None,
        };
        self.replace(&old, how, call.now).await
    }

    /// Replaces the IP allowlist of one of the org's active keys.
    pub async fn set_key_allowed_ips(
        &self,
        call: OrgCall<'_>,
        service_user: &str,
        key_id: &str,
        entries: &[String],
    ) -> Result<TokenRecord, ManagementError> {
        let (_, record) = self.org_key(call, service_user, key_id).await?;
        let list = super::policy::allowlist(entries)?;
        self.change_allowed_ips(record, list, &call.actor(), call.now)
            .await
    }

    /// Replaces the rate limit of one of the org's active keys (`None`: unlimited).
    pub async fn set_key_rate_limit(
        &self,
        call: OrgCall<'_>,
        service_user: &str,
        key_id: &str,
        request: Option<super::policy::RateLimitRequest>,
    ) -> Result<TokenRecord, ManagementError> {
        let (_, record) = self.org_key(call, service_user, key_id).await?;
        let limit = request.map(super::policy::rate_limit).transpose()?;
        self.change_rate_limit(record, limit, &call.actor(), call.now)
            .await
    }

    /// Revokes a key; revoking a revoked key succeeds.
    pub async fn revoke_key(
        &self,
        call: OrgCall<'_>,
        service_user: &str,
        key_id: &str,
    ) -> Result<RevokeOutcome, ManagementError> {
        let (_, record) = self.org_key(call, service_user, key_id).await?;
        self.end(&record, &call.actor(), "revoked by org admin", call.now)
            .await
    }
}

/// A service user's name follows the rules of token names.
fn service_user_name(text: &str) -> Result<String, ManagementError> {
    TokenName::parse(text)
        .map(TokenName::into_string)
        .map_err(|e| ManagementError::invalid("name", "invalid_name", e.to_string()))
}

/// An org admin's change to a service user: in its trail and the org's.
fn org_audit(call: OrgCall<'_>, action: AuditAction, user: &ServiceUser) -> AuditEvent {
    call.actor()
        .event(action, Owner::service_user(&user.id), call.now)
}

impl<S, P> TokenManager<S, P>
where
    S: TokenStore + PrincipalStore + AuditLog,
    P: PepperSource,
{
    /// The caller's own trail: what was done to their credentials, by whom.
    pub async fn own_audit(
        &self,
        caller: &Caller,
        filter: AuditFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AuditPage, ManagementError> {
        let scope = AuditScope::Owner(caller.owner());
        Ok(self
            .store
            .audit_page(&scope, filter, limit.clamp(1, PAGE_MAX), cursor)
            .await?)
    }

    /// What the org's admins did in it, for its admins.
    pub async fn org_audit(
        &self,
        call: OrgCall<'_>,
        filter: AuditFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AuditPage, ManagementError> {
        self.require_org_admin(call).await?;
        let scope = AuditScope::Org(call.org.to_owned());
        Ok(self
            .store
            .audit_page(&scope, filter, limit.clamp(1, PAGE_MAX), cursor)
            .await?)
    }
}
