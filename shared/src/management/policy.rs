//! What may be issued: the policy from configuration, and a caller's request
//! checked against it (`TokenRequest` → `NewToken`).

use super::error::ManagementError;
use crate::records::allowlist::{AllowlistError, IpAllowlist};
use crate::records::names::TokenName;
use crate::records::rate_limit::RateLimit;
use crate::records::{Account, TokenRecord};

/// Issuance rules, from configuration.
#[derive(Debug, Clone)]
pub struct IssuancePolicy {
    /// Every scope a token may carry.
    pub scope_catalog: Vec<String>,
    pub default_expiry_days: u32,
    pub max_expiry_days: u32,
    /// Whether `expires_in_days: null` (never expires) is accepted.
    pub allow_non_expiring: bool,
    /// Active tokens per user.
    pub max_active_tokens: u32,
    /// Upper bound of a rotation's `grace_seconds`.
    pub max_rotation_grace_seconds: u32,
    /// Every role a service user may have.
    pub role_catalog: Vec<String>,
    /// Service users an org may create (disabled ones count).
    pub max_service_users_per_org: u32,
    /// Active keys per service user.
    pub max_keys_per_service_user: u32,
    /// How long an unused credential stays valid (`records::idle`);
    /// `None`: only orgs' settings apply.
    pub idle_expiry_days: Option<u32>,
}

impl IssuancePolicy {
    /// A service user's role must come from the catalog.
    pub(super) fn check_role(&self, role: &str) -> Result<(), ManagementError> {
        if self.role_catalog.iter().any(|r| r == role) {
            return Ok(());
        }
        Err(ManagementError::invalid(
            "role",
            "unknown_role",
            format!("unknown role `{}`", role.escape_debug()),
        ))
    }

    /// A rotation's grace must lie within the policy's bound.
    pub(super) fn check_grace(&self, grace_seconds: u32) -> Result<(), ManagementError> {
        if grace_seconds <= self.max_rotation_grace_seconds {
            return Ok(());
        }
        Err(ManagementError::invalid(
            "grace_seconds",
            "invalid_grace",
            format!(
                "grace_seconds must be 0 to {}",
                self.max_rotation_grace_seconds
            ),
        ))
    }

    /// Checks a request against the policy: name, scopes from the catalog, lifetime.
    pub fn validate(&self, request: TokenRequest) -> Result<NewToken, ManagementError> {
        let name = TokenName::parse(&request.name)
            .map_err(|e| ManagementError::invalid("name", "invalid_name", e.to_string()))?;
        if request.scopes.is_empty() {
            return Err(ManagementError::invalid(
                "scopes",
                "invalid_scopes",
                "at least one scope is required",
            ));
        }
        let mut scopes: Vec<String> = Vec::with_capacity(request.scopes.len());
        for scope in request.scopes {
            if !self.scope_catalog.contains(&scope) {
                return Err(ManagementError::invalid(
                    "scopes",
                    "unknown_scope",
                    format!("unknown scope `{}`", scope.escape_debug()),
                ));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let days = match request.expires_in_days {
            None => Some(self.default_expiry_days),
            Some(None) if self.allow_non_expiring => None,
            Some(None) => {
                return Err(ManagementError::invalid(
                    "expires_in_days",
                    "non_expiring_not_allowed",
                    "tokens must expire; give expires_in_days",
                ))
            }
            Some(Some(days)) if (1..=self.max_expiry_days).contains(&days) => Some(days),
            Some(Some(_)) => {
                return Err(ManagementError::invalid(
                    "expires_in_days",
                    "invalid_expiry",
                    format!("expires_in_days must be 1 to {}", self.max_expiry_days),
                ))
            }
        };
        Ok(NewToken {
            name,
            scopes,
            lifetime_ms: days.map(|d| i64::from(d) * DAY_MS),
            allowed_ips: allowlist(&request.allowed_ips)?,
            rate_limit: request.rate_limit.map(rate_limit).transpose()?,
            org_limit: org_limit(request.orgs)?,
        })
    }
}

/// A PAT's org limit, as asked: 1 to 20 org ids, repeats dropped, sorted.
/// (Whether the caller belongs to each is checked against the account.)
fn org_limit(orgs: Option<Vec<String>>) -> Result<Option<Vec<String>>, ManagementError> {
    let Some(mut orgs) = orgs else {
        return Ok(None);
    };
    orgs.sort();
    orgs.dedup();
    if orgs.is_empty() {
        return Err(ManagementError::invalid(
            "orgs",
            "invalid_orgs",
            "name at least one org, or leave `orgs` out for all of yours",
        ));
    }
    if orgs.len() > TokenRecord::MAX_ORG_LIMIT {
        return Err(ManagementError::invalid(
            "orgs",
            "too_many_orgs",
            format!("at most {} orgs", TokenRecord::MAX_ORG_LIMIT),
        ));
    }
    Ok(Some(orgs))
}

/// Refuses a limit naming an org `account` is not a member of.
pub(super) fn check_org_limit(
    org_limit: Option<&[String]>,
    account: &Account,
) -> Result<(), ManagementError> {
    let unknown = org_limit
        .into_iter()
        .flatten()
        .find(|org| !account.orgs.iter().any(|m| &m.org_id == *org));
    match unknown {
        Some(org) => Err(ManagementError::invalid(
            "orgs",
            "unknown_org",
            format!("you are not a member of `{}`", org.escape_debug()),
        )),
        None => Ok(()),
    }
}

/// A credential's IP allowlist from the request's `allowed_ips`.
pub fn allowlist(entries: &[String]) -> Result<IpAllowlist, ManagementError> {
    IpAllowlist::parse(entries).map_err(|error| match error {
        AllowlistError::TooMany => {
            ManagementError::invalid("allowed_ips", "too_many_cidrs", error.to_string())
        }
        _ => ManagementError::invalid("allowed_ips", "invalid_cidr", error.to_string()),
    })
}

/// A credential's rate limit from the request's `rate_limit`.
pub fn rate_limit(request: RateLimitRequest) -> Result<RateLimit, ManagementError> {
    RateLimit::new(request.requests_per_second, request.burst).map_err(|error| {
        ManagementError::invalid("rate_limit", "invalid_rate_limit", error.to_string())
    })
}

/// The scope catalog when `SCOPE_CATALOG` is not set.
pub const DEFAULT_SCOPES: &[&str] = &[
    "tokens:read",
    "sessions:read",
    "sessions:write",
    "orgs:read",
    "orgs:write",
    // A token with it may rotate itself without a session (`tokens.rs`).
    "tokens:rotate_self",
];

/// The role catalog when `ROLE_CATALOG` is not set.
pub const DEFAULT_ROLES: &[&str] = &["admin", "developer", "deployer", "viewer"];
pub const DEFAULT_MAX_SERVICE_USERS_PER_ORG: u32 = 100;
pub const DEFAULT_MAX_KEYS_PER_SERVICE_USER: u32 = 10;

pub use crate::records::names::NAME_MAX_CHARS;
pub const PAGE_MAX: usize = 100;

/// What a caller asks for: checked by [`IssuancePolicy::validate`].
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    pub scopes: Vec<String>,
    /// `None`: the default lifetime; `Some(None)`: never expires.
    pub expires_in_days: Option<Option<u32>>,
    /// CIDRs the token may be used from; empty: any address.
    pub allowed_ips: Vec<String>,
    /// The orgs a PAT may act in; `None`: all of its owner's.
    pub orgs: Option<Vec<String>>,
    /// `None`: unlimited.
    pub rate_limit: Option<RateLimitRequest>,
}

/// A rate limit as asked: checked by [`rate_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitRequest {
    pub requests_per_second: u32,
    /// `None`: the rate (at most the maximum burst).
    pub burst: Option<u32>,
}

pub(super) use crate::records::DAY_MS;

/// A new token's name, scopes and lifetime, valid under the policy that built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: TokenName,
    /// From the catalog, without repeats, at least one.
    pub scopes: Vec<String>,
    /// `None`: never expires.
    pub lifetime_ms: Option<i64>,
    pub allowed_ips: IpAllowlist,
    pub rate_limit: Option<RateLimit>,
    /// Sorted, 1 to 20 orgs; `None`: all the owner's.
    pub org_limit: Option<Vec<String>>,
}
