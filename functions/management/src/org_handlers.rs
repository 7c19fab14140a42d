//! The org-administration handlers: an org admin's service users, their
//! keys, and the org's audit trail.

use cog_tokens::management::OrgCall;
use cog_tokens::records::{OrgPolicy, ServiceUser};
use cog_tokens::store::pepper::PepperSource;
use cog_tokens::store::{AuditLog, PrincipalStore, TokenStore};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use crate::body::{self, CredentialUpdate};
use crate::endpoints::OrgEndpoint;
use crate::handlers::{Answer, Call};
use crate::response;
use crate::views::{
    AuditPageView, CredentialListView, CredentialView, KeyListView, PolicyView,
    ServiceUserListView, ServiceUserView, TokenView,
};

impl<S, P> Call<'_, S, P>
where
    S: TokenStore + PrincipalStore + AuditLog,
    P: PepperSource,
{
    pub(crate) async fn org(&self, org: &str, endpoint: OrgEndpoint) -> Answer {
        let at = OrgCall {
            admin: self.user,
            org,
            now: self.now,
        };
        match endpoint {
            OrgEndpoint::CreateServiceUser => self.create_service_user(at).await,
            OrgEndpoint::ListServiceUsers => self.list_service_users(at).await,
            OrgEndpoint::GetServiceUser(su) => self.get_service_user(at, &su).await,
            OrgEndpoint::UpdateServiceUser(su) => self.update_service_user(at, &su).await,
            OrgEndpoint::CreateKey(su) => self.create_key(at, &su).await,
            OrgEndpoint::ListKeys(su) => self.list_keys(at, &su).await,
            OrgEndpoint::RotateKey(su, id) => self.rotate_key(at, &su, &id).await,
            OrgEndpoint::RevokeKey(su, id) => self.revoke_key(at, &su, &id).await,
            OrgEndpoint::UpdateKey(su, id) => self.update_key(at, &su, &id).await,
            OrgEndpoint::Audit => self.org_audit(at).await,
            OrgEndpoint::GetPolicy => {
                let policy = self.manager.get_org_policy(at).await?;
                Ok(policy_response(&policy))
            }
            OrgEndpoint::PutPolicy => self.put_policy(at).await,
            OrgEndpoint::RemoveCredential(id) => self.remove_credential(at, &id).await,
            OrgEndpoint::DecideApproval(id) => self.decide_approval(at, &id).await,
            OrgEndpoint::ListCredentials => self.list_credentials(at).await,
        }
    }

    async fn list_credentials(&self, at: OrgCall<'_>) -> Answer {
        let filter = body::credential_filter(self.request)?;
        let limit = body::page_limit(body::query(self.request, "limit"))?;
        let cursor = body::query(self.request, "cursor");
        let page = self.manager.credentials(at, filter, limit, cursor).await?;
        let view = CredentialListView {
            credentials: page
                .credentials
                .iter()
                .map(|c| CredentialView::new(c, self.now))
                .collect(),
            next_cursor: page.next_cursor.as_deref(),
        };
        Ok(response::json(StatusCode::OK, &view))
    }

    async fn put_policy(&self, at: OrgCall<'_>) -> Answer {
        let (content_type, bytes) = self.body();
        let (policy, change) = body::org_policy(content_type, bytes)?;
        let if_match = body::if_match(self.request)?;
        let policy = self
            .manager
            .put_org_policy_with(at, policy, change, if_match.as_ref())
            .await?;
        tracing::info!(org = at.org, pat_access = policy.pat_access.as_str(), pat_approval = policy.pat_approval.as_str(), admin = %at.admin, "org policy changed");
        Ok(policy_response(&policy))
    }

    async fn decide_approval(&self, at: OrgCall<'_>, id: &str) -> Answer {
        let (content_type, bytes) = self.body();
        let decision = body::approval_decision(content_type, bytes)?;
        let credential = self.manager.decide_pat(at, id, decision).await?;
        let state = credential.approval().map_or("not_required", |s| s.as_str());
        tracing::info!(token_id = %id, org = at.org, state, admin = %at.admin, "PAT approval decided");
        Ok(response::json(
            StatusCode::OK,
            &CredentialView::new(&credential, self.now),
        ))
    }

    async fn remove_credential(&self, at: OrgCall<'_>, id: &str) -> Answer {
        let removal = self.manager.remove_credential(at, id).await?;
        tracing::info!(token_id = %id, org = at.org, ?removal, admin = %at.admin, "credential removed from org");
        Ok(response::no_content())
    }

    async fn org_audit(&self, at: OrgCall<'_>) -> Answer {
        let filter = body::audit_filter(self.request)?;
        let limit = body::page_limit(body::query(self.request, "limit"))?;
        let cursor = body::query(self.request, "cursor");
        let page = self.manager.org_audit(at, filter, limit, cursor).await?;
        Ok(response::json(StatusCode::OK, &AuditPageView::new(&page)))
    }

    async fn create_service_user(&self, at: OrgCall<'_>) -> Answer {
        let (content_type, bytes) = self.body();
        let request = body::service_user_request(content_type, bytes)?;
        let user = self.manager.create_service_user(at, request).await?;
        tracing::info!(service_user = %user.id, org = at.org, admin = %at.admin, "service user created");
        Ok(response::json(
            StatusCode::CREATED,
            &ServiceUserView::new(&user),
        ))
    }

    async fn list_service_users(&self, at: OrgCall<'_>) -> Answer {
        let status = body::service_user_status(body::query(self.request, "status"))?;
        let limit = body::page_limit(body::query(self.request, "limit"))?;
        let cursor = body::query(self.request, "cursor");
        let page = self
            .manager
            .list_service_users(at, status, limit, cursor)
            .await?;
        let view = ServiceUserListView {
            service_users: page
                .service_users
                .iter()
                .map(ServiceUserView::new)
                .collect(),
            next_cursor: page.next_cursor.as_deref(),
        };
        Ok(response::json(StatusCode::OK, &view))
    }

    async fn get_service_user(&self, at: OrgCall<'_>, su: &str) -> Answer {
        let user = self.manager.get_service_user(at, su).await?;
        Ok(service_user_response(&user))
    }

    async fn update_service_user(&self, at: OrgCall<'_>, su: &str) -> Answer {
        let (content_type, bytes) = self.body();
        let changes = body::service_user_changes(content_type, bytes)?;
        let if_match = body::if_match(self.request)?;
        let user = self
            .manager
            .update_service_user_if(at, su, changes, if_match.as_ref())
            .await?;
        tracing::info!(service_user = %user.id, status = user.status.as_str(), admin = %at.admin, "service user changed");
        Ok(service_user_response(&user))
    }

    async fn create_key(&self, at: OrgCall<'_>, su: &str) -> Answer {
        let retry = self.retry_key()?;
        let (content_type, bytes) = self.body();
        let request = body::token_request(content_type, bytes)?;
        let issued = self
            .manager
            .create_key(at, su, request, retry.as_ref())
            .await?;
        tracing::info!(key_id = %issued.record.id, service_user = su, admin = %at.admin, replayed = issued.replayed, "key created");
        Ok(self.issued(&issued))
    }

    async fn list_keys(&self, at: OrgCall<'_>, su: &str) -> Answer {
        let filter = body::status_filter(body::query(self.request, "status"))?;
        let limit = body::page_limit(body::query(self.request, "limit"))?;
        let cursor = body::query(self.request, "cursor");
        let page = self
            .manager
            .list_keys(at, su, filter, limit, cursor)
            .await?;
        let view = KeyListView {
            keys: page
                .tokens
                .iter()
                .map(|t| TokenView::new(t, self.now))
                .collect(),
            next_cursor: page.next_cursor.as_deref(),
        };
        Ok(response::json(StatusCode::OK, &view))
    }

    async fn rotate_key(&self, at: OrgCall<'_>, su: &str, id: &str) -> Answer {
        let retry = self.retry_key()?;
        let (content_type, bytes) = self.body();
        let grace = body::rotation_grace(content_type, bytes)?;
        let issued = self
            .manager
            .rotate_key(at, su, id, grace, retry.as_ref())
            .await?;
        tracing::info!(key_id = %issued.record.id, rotated = %id, service_user = su, admin = %at.admin, replayed = issued.replayed, "key rotated");
        Ok(self.issued(&issued))
    }

    async fn update_key(&self, at: OrgCall<'_>, su: &str, id: &str) -> Answer {
        let (content_type, bytes) = self.body();
        let record = match body::credential_update(content_type, bytes)? {
            CredentialUpdate::AllowedIps(list) => {
                let record = self.manager.set_key_allowed_ips(at, su, id, &list).await?;
                tracing::info!(key_id = %id, service_user = su, admin = %at.admin, "key allowlist changed");
                record
            }
            CredentialUpdate::RateLimit(limit) => {
                let record = self.manager.set_key_rate_limit(at, su, id, limit).await?;
                tracing::info!(key_id = %id, service_user = su, admin = %at.admin, "key rate limit changed");
                record
            }
        };
        Ok(response::json(
            StatusCode::OK,
            &TokenView::new(&record, self.now),
        ))
    }

    async fn revoke_key(&self, at: OrgCall<'_>, su: &str, id: &str) -> Answer {
        self.manager.revoke_key(at, su, id).await?;
        tracing::info!(key_id = %id, service_user = su, admin = %at.admin, "key revoked");
        Ok(response::no_content())
    }
}

/// A policy and its `ETag`, which a `PUT` may name in `If-Match`.
fn policy_response(policy: &OrgPolicy) -> Response<Body> {
    let answer = response::json(StatusCode::OK, &PolicyView::new(policy));
    response::tagged(answer, &policy.entity_tag())
}

/// A service user and its `ETag`, which a `PATCH` may name in `If-Match`.
fn service_user_response(user: &ServiceUser) -> Response<Body> {
    let answer = response::json(StatusCode::OK, &ServiceUserView::new(user));
    response::tagged(answer, &user.entity_tag())
}
