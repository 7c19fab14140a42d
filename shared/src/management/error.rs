//! Why a management request is refused, and the cause kept for the log.

use crate::store::pepper::PepperError;
use crate::store::StoreError;
use crate::token::RandomnessError;

/// Why a management request is refused. Each has a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    #[error("no account for this user")]
    AccountNotFound,
    #[error("the account is not active")]
    AccountInactive,
    #[error("personal access tokens are in closed beta and not enabled for this account")]
    PatBetaNotEnabled,
    #[error("personal access tokens are not available for SSO/enterprise accounts")]
    PatUnavailableForSso,
    #[error("{detail}")]
    Invalid {
        field: &'static str,
        code: &'static str,
        detail: String,
    },
    #[error("an active token with this name exists already")]
    NameTaken,
    #[error("at most {limit} active tokens are allowed")]
    LimitReached { limit: u32 },
    #[error("no such token")]
    TokenNotFound,
    #[error("the token is not active")]
    TokenNotActive,
    #[error("scope `{0}` is no longer offered: create a new token instead of rotating this one")]
    ScopeRetired(String),
    #[error("the cursor is not valid")]
    InvalidCursor,
    /// The caller is no member of the org: its existence is not revealed.
    #[error("no such org")]
    OrgNotFound,
    #[error("only an admin of this org may do this")]
    OrgAdminRequired,
    #[error("no such service user in this org")]
    ServiceUserNotFound,
    /// `If-Match` named none of the current entity tags: read it again.
    #[error("it changed since it was read (If-Match names another version): read it again")]
    PreconditionFailed,
    /// An approval decision in an org whose policy does not require them.
    #[error("this org does not require approval of PATs: set `pat_approval: required` in its policy first")]
    ApprovalNotRequired,
    #[error("the service user is disabled: enable it first")]
    ServiceUserDisabled,
    #[error("this org may have at most {limit} service users")]
    ServiceUserLimitReached { limit: u32 },
    /// The token lacks the scope this needs (granted at creation).
    #[error("this token does not carry the `{0}` scope: create one with it to rotate it without a session")]
    ScopeRequired(&'static str),
    /// The `Idempotency-Key` was used, within its 24 hours, for another request.
    #[error(
        "this Idempotency-Key was used for a different request: use a new key for a new request"
    )]
    IdempotencyKeyReused,
    /// Storage or KMS failed or was throttled: nothing was changed, try again.
    #[error("service unavailable")]
    Unavailable(#[source] Fault),
    #[error("internal error")]
    Internal(#[source] Fault),
}

/// The cause of an `Unavailable` or `Internal` refusal, kept for the log
/// (callers only ever see the refusal).
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pepper(#[from] PepperError),
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    #[error("this function holds no pepper ring")]
    NoPepperRing,
    #[error(transparent)]
    Seal(#[from] crate::token::seal::SealError),
    /// A kept idempotency result could not be read back (its pepper is
    /// retired, or the record is damaged). Never re-run: it issued once.
    #[error("the result kept for this idempotency key cannot be read")]
    IdempotencyResultUnreadable,
}

impl ManagementError {
    pub(super) fn invalid(
        field: &'static str,
        code: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            field,
            code,
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for ManagementError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidCursor => Self::InvalidCursor,
            StoreError::NameTaken => Self::NameTaken,
            StoreError::LimitReached { limit } => Self::LimitReached { limit },
            StoreError::Unavailable(_) | StoreError::Conflict => Self::Unavailable(error.into()),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<PepperError> for ManagementError {
    fn from(error: PepperError) -> Self {
        match error {
            PepperError::Kms(_) | PepperError::Store(_) => Self::Unavailable(error.into()),
            other => Self::Internal(other.into()),
        }
    }
}
