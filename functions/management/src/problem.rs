//! RFC 9457 problem responses, and the one place management errors become HTTP.

use cog_tokens::logging::Causes;
use cog_tokens::management::ManagementError;
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

/// `Retry-After` on a 503: DynamoDB throttling and KMS blips pass in about a second.
const RETRY_AFTER_SECONDS: &str = "1";

/// A problem: status, stable `code`, a human `detail`, and for validation
/// errors the offending `field`. Never internal details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<&'static str>,
}

/// The problem+json body.
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
        }
    }

    /// A 400 about one field of the request.
    pub fn invalid(field: &'static str, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, code, detail)
        }
    }

    fn with_field(self, field: &'static str) -> Self {
        Self {
            field: Some(field),
            ..self
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let body = ProblemBody {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            field: self.field,
        };
        let mut response = crate::response::respond(self.status, "application/problem+json", &body);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<ManagementError> for Problem {
    fn from(error: ManagementError) -> Self {
        use ManagementError as E;
        let detail = error.to_string();
        match error {
            E::AccountNotFound => Self::new(StatusCode::FORBIDDEN, "account_not_found", detail),
            E::AccountInactive => Self::new(StatusCode::FORBIDDEN, "account_inactive", detail),
            E::PatBetaNotEnabled => {
                Self::new(StatusCode::FORBIDDEN, "pat_beta_not_enabled", detail)
            }
            E::PatUnavailableForSso => {
                Self::new(StatusCode::FORBIDDEN, "pat_unavailable_for_sso", detail)
            }
            E::Invalid { field, code, .. } => Self::invalid(field, code, detail),
            E::NameTaken => {
                Self::new(StatusCode::CONFLICT, "name_taken", detail).with_field("name")
            }
            E::LimitReached { .. } => {
                Self::new(StatusCode::CONFLICT, "token_limit_reached", detail)
            }
            E::TokenNotFound => Self::new(StatusCode::NOT_FOUND, "token_not_found", detail),
            E::TokenNotActive => Self::new(StatusCode::CONFLICT, "token_not_active", detail),
            E::ScopeRetired(_) => {
                Self::new(StatusCode::CONFLICT, "scope_retired", detail).with_field("scopes")
            }
            E::Unavailable(cause) => {
                tracing::warn!(error = %Causes(&cause), "management request: service unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "a service this request needs is unavailable; nothing was changed, try again",
                )
            }
            E::InvalidCursor => Self::invalid("cursor", "invalid_cursor", detail),
            E::OrgNotFound => Self::new(StatusCode::NOT_FOUND, "org_not_found", detail),
            E::OrgAdminRequired => Self::new(StatusCode::FORBIDDEN, "org_admin_required", detail),
            E::PreconditionFailed => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                detail,
            ),
            E::ServiceUserNotFound => {
                Self::new(StatusCode::NOT_FOUND, "service_user_not_found", detail)
            }
            E::ApprovalNotRequired => {
                Self::new(StatusCode::CONFLICT, "approval_not_required", detail)
            }
            E::ServiceUserDisabled => {
                Self::new(StatusCode::CONFLICT, "service_user_disabled", detail)
            }
            E::ServiceUserLimitReached { .. } => {
                Self::new(StatusCode::CONFLICT, "service_user_limit_reached", detail)
            }
            E::ScopeRequired(_) => {
                Self::new(StatusCode::FORBIDDEN, "scope_required", detail).with_field("scopes")
            }
            E::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                detail,
            ),
            E::Internal(cause) => {
                tracing::error!(error = %Causes(&cause), "management request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "the request could not be completed; nothing was lost, try again",
                )
            }
        }
    }
}
