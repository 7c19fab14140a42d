//! One handler per endpoint: read the request, call the manager, answer.
//! The org-administration handlers are in `org_handlers.rs`.

use cog_tokens::management::{IssuedToken, TokenManager};
use cog_tokens::records::{Caller, Owner, PatApproval, RetryKey, Timestamp};
use cog_tokens::store::pepper::PepperSource;
use cog_tokens::store::{AuditLog, PrincipalStore, TokenStore};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::body::{self, CredentialUpdate};
use crate::caller::{caller, origin, token_caller};
use crate::endpoints::{Endpoint, Function};
use crate::problem::Problem;
use crate::response;
use crate::views::{
    AccountView, AuditPageView, IssuedView, RevokedCountView, SelfView, TokenListView, TokenView,
};

pub(crate) type Answer = Result<Response<Body>, Problem>;

/// Handles one request for `function`. Never fails: every outcome is an HTTP answer.
pub async fn handle_request<S, P>(
    manager: &TokenManager<S, P>,
    function: Function,
    request: Request,
    now: Timestamp,
) -> Response<Body>
where
    S: TokenStore + PrincipalStore + AuditLog,
    P: PepperSource,
{
    match dispatch(manager, function, &request, now).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn dispatch<S, P>(
    manager: &TokenManager<S, P>,
    function: Function,
    request: &Request,
    now: Timestamp,
) -> Answer
where
    S: TokenStore + PrincipalStore + AuditLog,
    P: PepperSource,
{
    let endpoint = Endpoint::parse(request.method(), request.uri().path())
        .filter(|endpoint| function.serves(endpoint))
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "route_not_found", "no such route"))?;
    if matches!(endpoint, Endpoint::GetSelf | Endpoint::RotateSelf) {
        return Ok(token_self(manager, &endpoint, request, now).await);
    }
    let user = caller(request)?;
    let call = Call {
        manager,
        user: &user,
        request,
        now,
    };
    match endpoint {
        Endpoint::Create => call.create().await,
        Endpoint::List => call.list().await,
        Endpoint::Get(id) => call.get(&id).await,
        // Answered above, before a session is asked for.
        Endpoint::GetSelf | Endpoint::RotateSelf => {
            Ok(token_self(manager, &endpoint, request, now).await)
        }
        Endpoint::Rotate(id) => call.rotate(&id).await,
        Endpoint::Revoke(id) => call.revoke(&id).await,
        Endpoint::Update(id) => call.update(&id).await,
        Endpoint::RevokeAll => call.revoke_all().await,
        Endpoint::Audit => call.audit().await,
        Endpoint::Account => call.account().await,
        Endpoint::Org(org, endpoint) => call.org(&org, endpoint).await,
    }
}

/// `GET /v1/tokens/self` and `POST /v1/tokens/self/rotate`: what the token
/// the request was authorized with does for itself, after reading it and
/// its owner again. Without the token authorizer's context, or for a token
/// no longer active or whose owner may no longer use it, the gateway's own
/// 401, as for any refused token.
async fn token_self<S, P>(
    manager: &TokenManager<S, P>,
    endpoint: &Endpoint,
    request: &Request,
    now: Timestamp,
) -> Response<Body>
where
    S: TokenStore + PrincipalStore + AuditLog,
    P: PepperSource,
{
    let Some((owner, id)) = token_caller(request) else {
        return response::gateway_unauthorized();
    };
    let answer = match endpoint {
        Endpoint::RotateSelf => rotate_self(manager, request, &owner, &id, now).await,
        _ => manager
            .get_self(&owner, &id, now)
            .await
            .map(|record| response::json(StatusCode::OK, &SelfView::new(&record, now)))
            .map_err(Problem::from),
    };
    match answer {
        Ok(response) => response,
        // The token itself not found, not active, or its owner refused.
        Err(problem) if problem.code == "token_not_found" => response::gateway_unauthorized(),
        Err(problem) => problem.into_response(),
    }
}

/// `POST /v1/tokens/self/rotate`, by the token `id` acting as `owner`.
async fn rotate_self<S, P>(
    manager: &TokenManager<S, P>,
    request: &Request,
    owner: &Owner,
    id: &str,
    now: Timestamp,
) -> Answer
where
    S: TokenStore + PrincipalStore + AuditLog,
    P: PepperSource,
{
    let retry = body::retry_key(request, &format!("token:{id}"))?;
    let grace = body::rotation_grace(body::content_type(request), request.body().as_ref())?;
    let origin = origin(request).unwrap_or_default();
    let issued = manager
        .rotate_self(owner, id, grace, retry.as_ref(), origin, now)
        .await?;
    tracing::info!(token_id = %issued.record.id, rotated = %id, replayed = issued.replayed, "token rotated itself");
    Ok(issued_response(&issued, now))
}

/// 201 with a credential just issued, or given back for a retry.
pub(crate) fn issued_response(issued: &IssuedToken, now: Timestamp) -> Response<Body> {
    let answer = response::json(StatusCode::CREATED, &IssuedView::new(issued, now));
    if issued.replayed {
        response::replayed(answer)
    } else {
        answer
    }
}

/// One authenticated request on its way to the manager.
pub(crate) struct Call<'a, S, P> {
    pub(crate) manager: &'a TokenManager<S, P>,
    pub(crate) user: &'a Caller,
    pub(crate) request: &'a Request,
    pub(crate) now: Timestamp,
}

impl<S, P> Call<'_, S, P>
where
    S: TokenStore + PrincipalStore + AuditLog,
    P: PepperSource,
{
    pub(crate) fn body(&self) -> (Option<&str>, &[u8]) {
        (
            body::content_type(self.request),
            self.request.body().as_ref(),
        )
    }

    /// The request's `Idempotency-Key`, if it has one.
    pub(crate) fn retry_key(&self) -> Result<Option<RetryKey>, Problem> {
        body::retry_key(self.request, &self.user.user.actor())
    }

    /// 201 with a credential just issued, or given back for a retry.
    pub(crate) fn issued(&self, issued: &IssuedToken) -> Response<Body> {
        issued_response(issued, self.now)
    }

    /// The caller's orgs' approval rules for their token views; `None`
    /// (the views show the stored decisions only) if they cannot be read:
    /// a listing must not fail on what only adds to it.
    async fn approval_rules(&self) -> Option<Vec<(String, PatApproval)>> {
        match self.manager.approval_rules(self.user).await {
            Ok(rules) => Some(rules),
            Err(error) => {
                tracing::warn!(%error, "approval rules unread: the views show stored decisions only");
                None
            }
        }
    }

    async fn create(&self) -> Answer {
        let retry = self.retry_key()?;
        let (content_type, bytes) = self.body();
        let request = body::token_request(content_type, bytes)?;
        let issued = self
            .manager
            .create(self.user, request, retry.as_ref(), self.now)
            .await?;
        tracing::info!(token_id = %issued.record.id, user = %self.user, replayed = issued.replayed, "token created");
        Ok(self.issued(&issued))
    }

    async fn list(&self) -> Answer {
        let filter = body::status_filter(body::query(self.request, "status"))?;
        let limit = body::page_limit(body::query(self.request, "limit"))?;
        let cursor = body::query(self.request, "cursor");
        let page = self
            .manager
            .list(self.user, filter, limit, cursor, self.now)
            .await?;
        let rules = self.approval_rules().await;
        let view = TokenListView {
            tokens: page
                .tokens
                .iter()
                .map(|t| match &rules {
                    Some(rules) => TokenView::with_rules(t, self.now, rules),
                    None => TokenView::new(t, self.now),
                })
                .collect(),
            next_cursor: page.next_cursor.as_deref(),
        };
        Ok(response::json(StatusCode::OK, &view))
    }

    async fn get(&self, id: &str) -> Answer {
        let record = self.manager.get(self.user, id).await?;
        let rules = self.approval_rules().await;
        let view = match &rules {
            Some(rules) => TokenView::with_rules(&record, self.now, rules),
            None => TokenView::new(&record, self.now),
        };
        Ok(response::json(StatusCode::OK, &view))
    }

    async fn rotate(&self, id: &str) -> Answer {
        let retry = self.retry_key()?;
        let (content_type, bytes) = self.body();
        let grace = body::rotation_grace(content_type, bytes)?;
        let issued = self
            .manager
            .rotate(self.user, id, grace, retry.as_ref(), self.now)
            .await?;
        tracing::info!(token_id = %issued.record.id, rotated = %id, user = %self.user, replayed = issued.replayed, "token rotated");
        Ok(self.issued(&issued))
    }

    async fn revoke(&self, id: &str) -> Answer {
        self.manager.revoke(self.user, id, self.now).await?;
        tracing::info!(token_id = %id, user = %self.user, "token revoked");
        Ok(response::no_content())
    }

    async fn update(&self, id: &str) -> Answer {
        let (content_type, bytes) = self.body();
        let record = match body::credential_update(content_type, bytes)? {
            CredentialUpdate::AllowedIps(list) => {
                let record = self
                    .manager
                    .set_allowed_ips(self.user, id, &list, self.now)
                    .await?;
                tracing::info!(token_id = %id, user = %self.user, "token allowlist changed");
                record
            }
            CredentialUpdate::RateLimit(limit) => {
                let record = self
                    .manager
                    .set_rate_limit(self.user, id, limit, self.now)
                    .await?;
                tracing::info!(token_id = %id, user = %self.user, "token rate limit changed");
                record
            }
        };
        Ok(response::json(
            StatusCode::OK,
            &TokenView::new(&record, self.now),
        ))
    }

    async fn audit(&self) -> Answer {
        let filter = body::audit_filter(self.request)?;
        let limit = body::page_limit(body::query(self.request, "limit"))?;
        let cursor = body::query(self.request, "cursor");
        let page = self
            .manager
            .own_audit(self.user, filter, limit, cursor)
            .await?;
        Ok(response::json(StatusCode::OK, &AuditPageView::new(&page)))
    }

    async fn account(&self) -> Answer {
        let account = self.manager.account(self.user).await?;
        let view = AccountView::new(&account, self.manager.policy());
        Ok(response::json(StatusCode::OK, &view))
    }

    async fn revoke_all(&self) -> Answer {
        let revoked = self.manager.revoke_all(self.user, self.now).await?;
        tracing::info!(user = %self.user, revoked, "all tokens revoked");
        Ok(response::json(
            StatusCode::OK,
            &RevokedCountView { revoked },
        ))
    }
}
