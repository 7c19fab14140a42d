//! Request bodies and query parameters, each fault with its own answer.

use cog_tokens::management::preconditions::IfMatch;
use cog_tokens::management::{
    ApprovalChange, CredentialFilter, Decision, ServiceUserChanges, ServiceUserRequest, PAGE_MAX,
};
use cog_tokens::records::audit::AuditFilter;
use cog_tokens::records::{
    OrgPolicy, Owner, OwnerKind, PrincipalStatus, RetryKey, StatusFilter, Timestamp,
};
use lambda_http::http::{header, StatusCode};
use lambda_http::{Request, RequestExt};
use serde::Deserialize;

use crate::problem::Problem;

mod credentials;
pub use credentials::{credential_update, rotation_grace, token_request, CredentialUpdate};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Page size when `limit` is not given.
pub const DEFAULT_PAGE: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceUserBody {
    name: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceUserPatch {
    name: Option<String>,
    role: Option<String>,
    status: Option<String>,
}

/// `POST /v1/orgs/{org}/service-users`: name and role (checked by the manager).
pub fn service_user_request(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<ServiceUserRequest, Problem> {
    let body: ServiceUserBody = read_json(content_type, bytes)?.ok_or_else(body_required)?;
    Ok(ServiceUserRequest {
        name: body.name,
        role: body.role,
    })
}

/// `PATCH /v1/orgs/{org}/service-users/{su}`: any of name, role, status.
pub fn service_user_changes(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<ServiceUserChanges, Problem> {
    let body: ServiceUserPatch = read_json(content_type, bytes)?.ok_or_else(body_required)?;
    let status = match body.status.as_deref() {
        None => None,
        Some("active") => Some(PrincipalStatus::Active),
        Some("disabled") => Some(PrincipalStatus::Disabled),
        Some(_) => {
            return Err(Problem::invalid(
                "status",
                "invalid_status",
                "status must be active or disabled",
            ))
        }
    };
    Ok(ServiceUserChanges {
        name: body.name,
        role: body.role,
        status,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    pat_access: String,
    #[serde(default)]
    pat_max_lifetime_days: Option<u32>,
    #[serde(default)]
    idle_expiry_days: Option<u32>,
    /// Absent: the stored rule is kept.
    #[serde(default)]
    pat_approval: Option<String>,
    #[serde(default)]
    existing_pats: Option<String>,
}

/// `PUT /v1/orgs/{org}/policy`: the whole policy (range checked by the
/// manager) but its approval rule, which is kept unless named, and what a
/// change to it does to the PATs that reach the org then.
pub fn org_policy(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<(OrgPolicy, ApprovalChange), Problem> {
    let body: PolicyBody = read_json(content_type, bytes)?.ok_or_else(body_required)?;
    let pat_access = body.pat_access.parse().map_err(|_| {
        Problem::invalid(
            "pat_access",
            "invalid_pat_access",
            "pat_access must be allowed, blocked or limited_only",
        )
    })?;
    let rule = body
        .pat_approval
        .map(|text| {
            text.parse().map_err(|_| {
                Problem::invalid(
                    "pat_approval",
                    "invalid_pat_approval",
                    "pat_approval must be required or not_required",
                )
            })
        })
        .transpose()?;
    let existing = body
        .existing_pats
        .map(|text| {
            text.parse().map_err(|_| {
                Problem::invalid(
                    "existing_pats",
                    "invalid_existing_pats",
                    "existing_pats must be approved or pending",
                )
            })
        })
        .transpose()?;
    let policy = OrgPolicy {
        pat_access,
        pat_max_lifetime_days: body.pat_max_lifetime_days,
        idle_expiry_days: body.idle_expiry_days,
        pat_approval: rule.unwrap_or_default(),
    };
    Ok((policy, ApprovalChange { rule, existing }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalBody {
    decision: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /v1/orgs/{org}/credentials/{id}/approval`: `approve`, or `deny`
/// with the reason the owner sees.
pub fn approval_decision(content_type: Option<&str>, bytes: &[u8]) -> Result<Decision, Problem> {
    let body: ApprovalBody = read_json(content_type, bytes)?.ok_or_else(body_required)?;
    Ok(Decision::parse(&body.decision, body.reason.as_deref())?)
}

/// `?type=`, `?status=` and `?owner=` of an org's credential inventory.
pub fn credential_filter(request: &Request) -> Result<CredentialFilter, Problem> {
    let kind = match query(request, "type") {
        None => None,
        Some("pat") => Some(OwnerKind::User),
        Some("service_key") => Some(OwnerKind::ServiceUser),
        Some(_) => {
            return Err(Problem::invalid(
                "type",
                "invalid_type",
                "type must be pat or service_key",
            ))
        }
    };
    let owner = query(request, "owner")
        .map(|text| {
            let owner = match text.split_once(':') {
                Some(("user", id)) if !id.is_empty() => Some(Owner::user(id)),
                Some(("service_user", id)) if !id.is_empty() => Some(Owner::service_user(id)),
                _ => None,
            };
            owner.ok_or_else(|| {
                Problem::invalid(
                    "owner",
                    "invalid_owner",
                    "owner must be user:<id> or service_user:<id>",
                )
            })
        })
        .transpose()?;
    let approval = query(request, "approval")
        .map(|text| {
            text.parse().map_err(|_| {
                Problem::invalid(
                    "approval",
                    "invalid_approval",
                    "approval must be pending, approved or denied",
                )
            })
        })
        .transpose()?;
    Ok(CredentialFilter {
        kind,
        status: status_filter(query(request, "status"))?,
        owner,
        approval,
    })
}

/// `?status=` of the service-user listing: every status unless asked.
pub fn service_user_status(text: Option<&str>) -> Result<Option<PrincipalStatus>, Problem> {
    match text {
        None | Some("all") => Ok(None),
        Some("active") => Ok(Some(PrincipalStatus::Active)),
        Some("disabled") => Ok(Some(PrincipalStatus::Disabled)),
        Some(_) => Err(Problem::invalid(
            "status",
            "invalid_status",
            "status must be active, disabled or all",
        )),
    }
}

/// `?action=`, `?from=` and `?to=` of an audit listing (RFC 3339 times).
pub fn audit_filter(request: &Request) -> Result<AuditFilter, Problem> {
    let action = query(request, "action")
        .map(|text| {
            text.parse().map_err(|_| {
                Problem::invalid("action", "invalid_action", "action is not an audit action")
            })
        })
        .transpose()?;
    let time = |name: &'static str| -> Result<Option<Timestamp>, Problem> {
        let Some(text) = query(request, name) else {
            return Ok(None);
        };
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                Problem::invalid(
                    name,
                    "invalid_time",
                    format!("{name} must be an RFC 3339 time"),
                )
            })?;
        let millis = at.unix_timestamp_nanos() / 1_000_000;
        Ok(Some(Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))))
    };
    Ok(AuditFilter {
        action,
        from: time("from")?,
        to: time("to")?,
    })
}

pub(crate) fn body_required() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "body_required",
        "a JSON body is required",
    )
}

/// A request's `Content-Type` value, if readable.
/// The `If-Match` header: `None` when absent; a 400 when it is neither `*`
/// nor a list of quoted entity tags.
pub fn if_match(request: &Request) -> Result<Option<IfMatch>, Problem> {
    // Several If-Match lines are one comma-separated list (RFC 9110 5.3).
    let lines: Option<Vec<&str>> = request
        .headers()
        .get_all(header::IF_MATCH)
        .iter()
        .map(|line| line.to_str().ok())
        .collect();
    if lines.as_ref().is_some_and(Vec::is_empty) {
        return Ok(None);
    }
    lines
        .and_then(|lines| IfMatch::parse(&lines.join(",")))
        .map(Some)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_if_match",
                "If-Match must be * or a list of quoted entity tags, as ETag gave them",
            )
        })
}

pub fn content_type(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// A JSON body: size, presence (`None` when empty), content type, syntax and shape.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Option<T>, Problem> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body may be at most {MAX_BODY_BYTES} bytes"),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let json_type = content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    serde_json::from_slice(bytes).map(Some).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("the body does not have the expected fields: {error}"),
            ),
            _ => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {error}"),
            ),
        }
    })
}

/// `?status=` of a listing: active unless asked.
pub fn status_filter(text: Option<&str>) -> Result<StatusFilter, Problem> {
    let Some(text) = text else {
        return Ok(StatusFilter::Active);
    };
    text.parse().map_err(|_| {
        Problem::invalid(
            "status",
            "invalid_status",
            "status must be active, expired, revoked or all",
        )
    })
}

/// `?limit=` of a listing: 1 to [`PAGE_MAX`], [`DEFAULT_PAGE`] unless asked.
pub fn page_limit(text: Option<&str>) -> Result<usize, Problem> {
    let Some(text) = text else {
        return Ok(DEFAULT_PAGE);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=PAGE_MAX).contains(n))
        .ok_or_else(|| {
            Problem::invalid(
                "limit",
                "invalid_limit",
                format!("limit must be 1 to {PAGE_MAX}"),
            )
        })
}

/// One query parameter.
pub fn query<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
}

/// The `Idempotency-Key` header of an issuing request, as the retry key of
/// `caller`'s request (as audited: `user:<id>`, `token:<id>`): `None` without one; more than one line, or a key
/// that is not 1 to 255 visible ASCII characters, is refused.
pub fn retry_key(request: &Request, caller: &str) -> Result<Option<RetryKey>, Problem> {
    let invalid = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be one header of 1 to 255 visible ASCII characters, no comma",
        )
    };
    let mut lines = request.headers().get_all(IDEMPOTENCY_KEY).iter();
    let Some(line) = lines.next() else {
        return Ok(None);
    };
    if lines.next().is_some() {
        return Err(invalid());
    }
    let key = line.to_str().map_err(|_| invalid())?;
    RetryKey::new(
        caller,
        key,
        request.method().as_str(),
        request.uri().path(),
        request.body().as_ref(),
    )
    .map(Some)
    .map_err(|_| invalid())
}

/// The header a client names a retryable request with (Stripe's).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

#[cfg(test)]
mod tests {
    use super::*;

    fn with_if_match(lines: &[&str]) -> Request {
        let mut request = lambda_http::http::Request::builder();
        for line in lines {
            request = request.header(header::IF_MATCH, *line);
        }
        request.body(lambda_http::Body::Empty).unwrap()
    }

    #[test]
    fn several_if_match_lines_are_one_list_and_a_bad_one_is_a_400() {
        assert_eq!(if_match(&with_if_match(&[])).unwrap(), None);
        let both = if_match(&with_if_match(&[r#""a1""#, r#""b2", "c3""#]))
            .unwrap()
            .unwrap();
        assert!(both.admits(r#""a1""#) && both.admits(r#""c3""#));
        let bad = if_match(&with_if_match(&[r#""a1""#, "b2"])).unwrap_err();
        assert_eq!((bad.status.as_u16(), bad.code), (400, "invalid_if_match"));
        // `*` stands alone.
        assert!(if_match(&with_if_match(&["*", r#""a1""#])).is_err());
    }
}
