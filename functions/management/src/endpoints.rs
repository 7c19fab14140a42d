//! Which management endpoint a request is for, and which function serves it.

use lambda_http::http::Method;

/// Every endpoint, as (method, path template). `openapi.yaml` must list exactly these.
pub const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/v1/tokens"),
    ("GET", "/v1/tokens"),
    ("GET", "/v1/tokens/{id}"),
    ("POST", "/v1/tokens/{id}/rotate"),
    ("DELETE", "/v1/tokens/{id}"),
    ("DELETE", "/v1/tokens"),
];

/// A management endpoint with its path parameter. (The authorizer's
/// `cog_tokens::authorize::Route` is any request's method and path.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Create,
    List,
    Get(String),
    Rotate(String),
    Revoke(String),
    RevokeAll,
}

impl Endpoint {
    pub fn parse(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["", "v1", "tokens"]) => Some(Self::Create),
            ("GET", ["", "v1", "tokens"]) => Some(Self::List),
            ("DELETE", ["", "v1", "tokens"]) => Some(Self::RevokeAll),
            ("GET", ["", "v1", "tokens", id]) => Some(Self::Get((*id).to_owned())),
            ("DELETE", ["", "v1", "tokens", id]) => Some(Self::Revoke((*id).to_owned())),
            ("POST", ["", "v1", "tokens", id, "rotate"]) => Some(Self::Rotate((*id).to_owned())),
            _ => None,
        }
    }
}

/// Which endpoints a function serves: issuance or revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Issuance,
    Revocation,
}

impl Function {
    pub fn serves(self, endpoint: &Endpoint) -> bool {
        match self {
            Self::Issuance => matches!(
                endpoint,
                Endpoint::Create | Endpoint::List | Endpoint::Get(_) | Endpoint::Rotate(_)
            ),
            Self::Revocation => matches!(endpoint, Endpoint::Revoke(_) | Endpoint::RevokeAll),
        }
    }
}
