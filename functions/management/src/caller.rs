//! Who is calling: the JWT authorizer's `sub`, never a token bearer (but
//! for the token's own `GET /v1/tokens/self`), and from where (source IP
//! and user agent, for the audit trail).

use cog_tokens::authorize::context::AuthorizerContext;
use cog_tokens::records::{Caller, Origin, Owner, OwnerKind, UserId};
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::problem::Problem;

/// The caller, from the JWT authorizer's `sub` claim (a `sub` that is not
/// a valid [`UserId`] is no session). A request that came
/// with any part of the token authorizer's context is refused: managing
/// credentials needs a browser session.
pub fn caller(request: &Request) -> Result<Caller, Problem> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return Err(unauthenticated());
    };
    let Some(authorizer) = context.authorizer.as_ref() else {
        return Err(unauthenticated());
    };
    if AuthorizerContext::is_in(&authorizer.fields) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "session_required",
            "tokens cannot manage tokens: sign in to the web app",
        ));
    }
    let user = authorizer
        .jwt
        .as_ref()
        .and_then(|jwt| jwt.claims.get("sub"))
        .and_then(|sub| UserId::parse(sub).ok())
        .ok_or_else(unauthenticated)?;
    Ok(Caller {
        user,
        origin: origin(request).unwrap_or_default(),
    })
}

/// The token a request was authorized with, from the token authorizer's
/// context (`GET /v1/tokens/self`): the principal it acts as and its id;
/// `None` without that context.
pub fn token_caller(request: &Request) -> Option<(Owner, String)> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    let context = AuthorizerContext::from_fields(&context.authorizer.as_ref()?.fields)?;
    let kind: OwnerKind = context.principal_type.parse().ok()?;
    let owner = Owner {
        kind,
        id: context.principal_id,
    };
    Some((owner, context.token_id))
}

/// Where an HTTP API request came from (source IP and user agent), for
/// the audit trail; `None` outside API Gateway's HTTP API.
pub fn origin(request: &Request) -> Option<Origin> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    let http = &context.http;
    Some(Origin::new(
        http.source_ip.as_deref().unwrap_or_default(),
        http.user_agent.as_deref().unwrap_or_default(),
    ))
}

fn unauthenticated() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "a signed-in session is required",
    )
}
