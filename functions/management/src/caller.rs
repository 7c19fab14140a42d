//! Who is calling: the JWT authorizer's `sub`, never a token bearer.

use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::problem::Problem;

/// The caller, from the JWT authorizer's `sub` claim. A request that came
/// through the token authorizer (context `auth_method`) is refused: managing
/// credentials needs a browser session.
pub fn caller(request: &Request) -> Result<String, Problem> {
    let authorizer = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.authorizer.as_ref(),
        _ => None,
    };
    let Some(authorizer) = authorizer else {
        return Err(unauthenticated());
    };
    if let Some(method) = authorizer.fields.get("auth_method").and_then(Value::as_str) {
        if method == "pat" || method == "service_key" {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "session_required",
                "tokens cannot manage tokens: sign in to the web app",
            ));
        }
    }
    authorizer
        .jwt
        .as_ref()
        .and_then(|jwt| jwt.claims.get("sub"))
        .filter(|sub| !sub.trim().is_empty())
        .cloned()
        .ok_or_else(unauthenticated)
}

fn unauthenticated() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "a signed-in session is required",
    )
}
