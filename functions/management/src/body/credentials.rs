//! The bodies that ask for a credential or change one: create, rotate,
//! `PATCH` (allowlist or rate limit).

use cog_tokens::management::{RateLimitRequest, TokenRequest};
use lambda_http::http::StatusCode;
use serde::Deserialize;

use super::{body_required, read_json};
use crate::problem::Problem;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    scopes: Vec<String>,
    #[serde(default, deserialize_with = "present_or_null")]
    expires_in_days: Option<Option<u32>>,
    #[serde(default)]
    allowed_ips: Vec<String>,
    /// `null` or absent: all the caller's orgs.
    #[serde(default)]
    orgs: Option<Vec<String>>,
    /// `null` or absent: unlimited.
    #[serde(default)]
    rate_limit: Option<RateLimitBody>,
}

/// Signed and wide, so a negative or huge number is `invalid_rate_limit`
/// with the allowed range rather than a type error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitBody {
    requests_per_second: i64,
    #[serde(default)]
    burst: Option<i64>,
}

impl From<RateLimitBody> for RateLimitRequest {
    fn from(body: RateLimitBody) -> Self {
        // Out of u32's range is out of the allowed range: 0 and MAX are refused.
        let clamp = |n: i64| u32::try_from(n).unwrap_or(if n < 0 { 0 } else { u32::MAX });
        RateLimitRequest {
            requests_per_second: clamp(body.requests_per_second),
            burst: body.burst.map(clamp),
        }
    }
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present_or_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    grace_seconds: Option<u32>,
}

/// `POST /v1/tokens` and `POST .../keys`: what the caller asks for (checked
/// against the policy by the manager).
pub fn token_request(content_type: Option<&str>, bytes: &[u8]) -> Result<TokenRequest, Problem> {
    let body: CreateBody = read_json(content_type, bytes)?.ok_or_else(body_required)?;
    Ok(TokenRequest {
        name: body.name,
        scopes: body.scopes,
        expires_in_days: body.expires_in_days,
        allowed_ips: body.allowed_ips,
        orgs: body.orgs,
        rate_limit: body.rate_limit.map(Into::into),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    /// `null` is no list: refused, like a field given twice.
    #[serde(default, deserialize_with = "present_or_null")]
    allowed_ips: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present_or_null")]
    rate_limit: Option<Option<RateLimitBody>>,
}

/// What a `PATCH` of a credential changes: one thing per request, so each
/// is one audited write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialUpdate {
    /// The new allowlist (`[]` lifts it).
    AllowedIps(Vec<String>),
    /// The new rate limit (`None`, from `null`: unlimited).
    RateLimit(Option<RateLimitRequest>),
}

/// `PATCH /v1/tokens/{id}` and `PATCH .../keys/{id}`: `allowed_ips` or
/// `rate_limit` (checked by the manager).
pub fn credential_update(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<CredentialUpdate, Problem> {
    let body: UpdateBody = read_json(content_type, bytes)?.ok_or_else(body_required)?;
    match (body.allowed_ips, body.rate_limit) {
        (Some(Some(list)), None) => Ok(CredentialUpdate::AllowedIps(list)),
        (None, Some(limit)) => Ok(CredentialUpdate::RateLimit(limit.map(Into::into))),
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "give either `allowed_ips` or `rate_limit`, one per request",
        )),
    }
}

/// `POST /v1/tokens/{id}/rotate` and `POST .../keys/{id}/rotate`: the
/// optional grace, body and all optional.
pub fn rotation_grace(content_type: Option<&str>, bytes: &[u8]) -> Result<Option<u32>, Problem> {
    let body: RotateBody = read_json(content_type, bytes)?.unwrap_or_default();
    Ok(body.grace_seconds)
}
