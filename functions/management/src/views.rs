//! What the management routes answer, as typed views of the domain records.

use cog_tokens::management::{pat_refusal, Credential, IssuancePolicy, IssuedToken, ADMIN_ROLE};
use cog_tokens::records::audit::AuditPage;
use cog_tokens::records::{
    Account, ApprovalRules, ApprovalState, AuditEvent, IpAllowlist, LastUse, OrgPolicy, OwnerKind,
    RateLimit, ServiceUser, Timestamp, TokenRecord, TokenStatus,
};
use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A token's metadata: everything but the token itself.
#[derive(Debug, Serialize)]
pub struct TokenView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub scopes: &'a [String],
    pub hint: String,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: Timestamp,
    #[serde(serialize_with = "optional_rfc3339")]
    pub expires_at: Option<Timestamp>,
    #[serde(serialize_with = "optional_rfc3339")]
    pub last_used_at: Option<Timestamp>,
    /// Where the last recorded uses came from, within the retention.
    pub last_use: LastUseView,
    #[serde(serialize_with = "optional_rfc3339")]
    pub revoked_at: Option<Timestamp>,
    pub status: TokenStatus,
    /// CIDRs it may be used from; empty: any address.
    pub allowed_ips: Vec<String>,
    /// `null`: unlimited.
    pub rate_limit: Option<RateLimitView>,
    /// The orgs a PAT is limited to; `null`: all its owner's.
    pub orgs: Option<&'a [String]>,
    /// A PAT's approvals and denials by org admins; where its owner's
    /// orgs' rules are known (their listing, read, create), also the orgs
    /// it waits in.
    pub org_approvals: Vec<OrgApprovalView<'a>>,
}

/// A credential's rate limit, as the create and update bodies give it.
#[derive(Debug, Serialize)]
pub struct RateLimitView {
    pub requests_per_second: u32,
    pub burst: u32,
}

impl From<RateLimit> for RateLimitView {
    fn from(limit: RateLimit) -> Self {
        Self {
            requests_per_second: limit.per_second(),
            burst: limit.burst(),
        }
    }
}

/// Where a PAT stands in one org that requires approval.
#[derive(Debug, Serialize)]
pub struct OrgApprovalView<'a> {
    pub org: &'a str,
    #[serde(flatten)]
    pub approval: ApprovalView<'a>,
}

/// `approved`, `pending` or `denied`, with the admin's reason to deny.
#[derive(Debug, Serialize)]
pub struct ApprovalView<'a> {
    pub state: &'static str,
    pub reason: Option<&'a str>,
    #[serde(serialize_with = "optional_rfc3339")]
    pub denied_at: Option<Timestamp>,
}

impl<'a> ApprovalView<'a> {
    fn new(state: ApprovalState<'a>) -> Self {
        let denial = match state {
            ApprovalState::Denied(denial) => Some(denial),
            _ => None,
        };
        Self {
            state: state.as_str(),
            reason: denial.map(|d| d.reason.as_str()),
            denied_at: denial.map(|d| d.at),
        }
    }
}

impl<'a> TokenView<'a> {
    /// Its owner's view, with the orgs it waits in under `rules`.
    pub fn with_rules(record: &'a TokenRecord, now: Timestamp, rules: &'a ApprovalRules) -> Self {
        Self {
            org_approvals: approval_views(record, Some(rules)),
            ..Self::new(record, now)
        }
    }

    pub fn new(record: &'a TokenRecord, now: Timestamp) -> Self {
        Self {
            org_approvals: approval_views(record, None),
            id: record.id.as_str(),
            name: &record.name,
            scopes: &record.scopes,
            hint: record.id.display_hint(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            last_use: LastUseView::new(&record.last_use.retained(record.last_used_at, now)),
            revoked_at: record.revoked.as_ref().map(|r| r.at),
            status: record.status(now),
            allowed_ips: record.allowed_ips.to_strings(),
            rate_limit: record.rate_limit.map(Into::into),
            orgs: record.org_limit.as_deref(),
        }
    }
}

fn approval_views<'a>(
    record: &'a TokenRecord,
    rules: Option<&'a ApprovalRules>,
) -> Vec<OrgApprovalView<'a>> {
    record
        .approval_states(rules)
        .into_iter()
        .map(|(org, state)| OrgApprovalView {
            org,
            approval: ApprovalView::new(state),
        })
        .collect()
}

/// A credential's last use: its address and user agent, and the recent
/// distinct addresses (most recent first), none older than the retention.
#[derive(Debug, Serialize)]
pub struct LastUseView {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub recent_addresses: Vec<RecentAddressView>,
}

#[derive(Debug, Serialize)]
pub struct RecentAddressView {
    pub ip: String,
    #[serde(serialize_with = "rfc3339")]
    pub last_seen_at: Timestamp,
}

impl LastUseView {
    fn new(details: &LastUse) -> Self {
        Self {
            source_ip: details.source_ip.map(|ip| ip.to_string()),
            user_agent: details.user_agent.clone(),
            recent_addresses: details
                .recent
                .iter()
                .map(|a| RecentAddressView {
                    ip: a.ip.to_string(),
                    last_seen_at: a.seen_at,
                })
                .collect(),
        }
    }
}

/// `GET /v1/tokens/self`: a token's metadata and whom it acts as.
#[derive(Debug, Serialize)]
pub struct SelfView<'a> {
    #[serde(flatten)]
    pub token: TokenView<'a>,
    pub acts_as: ActsAsView<'a>,
}

/// The principal a token acts as: a user (a PAT) or a service user (a key).
#[derive(Debug, Serialize)]
pub struct ActsAsView<'a> {
    pub principal_type: &'static str,
    pub principal_id: &'a str,
    /// `pat` or `service_key`.
    pub auth_method: &'static str,
}

impl<'a> SelfView<'a> {
    pub fn new(record: &'a TokenRecord, now: Timestamp) -> Self {
        Self {
            token: TokenView::new(record, now),
            acts_as: ActsAsView {
                principal_type: record.owner.kind.as_str(),
                principal_id: &record.owner.id,
                auth_method: record.owner.kind.auth_method(),
            },
        }
    }
}

/// A token just made: its metadata and, this once, the token.
#[derive(Debug, Serialize)]
pub struct IssuedView<'a> {
    #[serde(flatten)]
    pub metadata: TokenView<'a>,
    /// The one place the token text ever leaves the service.
    pub token: &'a str,
}

impl<'a> IssuedView<'a> {
    pub fn new(issued: &'a IssuedToken, now: Timestamp) -> Self {
        Self {
            metadata: match &issued.approval_rules {
                Some(rules) => TokenView::with_rules(&issued.record, now, rules),
                None => TokenView::new(&issued.record, now),
            },
            token: issued.token.expose_secret(),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Serialize)]
pub struct TokenListView<'a> {
    pub tokens: Vec<TokenView<'a>>,
    pub next_cursor: Option<&'a str>,
}

/// A service user, as its org's admins see it.
#[derive(Debug, Serialize)]
pub struct ServiceUserView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub org: &'a str,
    pub role: &'a str,
    /// `active` or `disabled`.
    pub status: &'static str,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: Timestamp,
}

impl<'a> ServiceUserView<'a> {
    pub fn new(user: &'a ServiceUser) -> Self {
        Self {
            id: &user.id,
            name: &user.name,
            org: &user.org_id,
            role: &user.role,
            status: user.status.as_str(),
            created_at: user.created_at,
        }
    }
}

/// One page of an org's service users.
#[derive(Debug, Serialize)]
pub struct ServiceUserListView<'a> {
    pub service_users: Vec<ServiceUserView<'a>>,
    pub next_cursor: Option<&'a str>,
}

/// One page of a service user's keys.
#[derive(Debug, Serialize)]
pub struct KeyListView<'a> {
    pub keys: Vec<TokenView<'a>>,
    pub next_cursor: Option<&'a str>,
}

/// An audit event: who did what to which credential, when, from where.
#[derive(Debug, Serialize)]
pub struct AuditEventView<'a> {
    pub id: &'a str,
    #[serde(serialize_with = "rfc3339")]
    pub at: Timestamp,
    pub actor: &'a str,
    pub action: &'static str,
    /// `user:<id>` or `service_user:<id>`; `null` for system changes.
    pub target: Option<String>,
    pub token_id: Option<&'a str>,
    pub org: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl<'a> AuditEventView<'a> {
    pub fn new(event: &'a AuditEvent) -> Self {
        Self {
            id: &event.id,
            at: event.at,
            actor: &event.actor,
            action: event.action.as_str(),
            target: event.owner.as_ref().map(ToString::to_string),
            token_id: event.token_id.as_ref().map(|id| id.as_str()),
            org: event.org.as_deref(),
            detail: event.detail.as_deref(),
            source_ip: event.origin.as_ref().map(|o| o.source_ip.as_str()),
            user_agent: event.origin.as_ref().map(|o| o.user_agent.as_str()),
        }
    }
}

/// One page of an audit trail.
#[derive(Debug, Serialize)]
pub struct AuditPageView<'a> {
    pub events: Vec<AuditEventView<'a>>,
    pub next_cursor: Option<&'a str>,
}

impl<'a> AuditPageView<'a> {
    pub fn new(page: &'a AuditPage) -> Self {
        Self {
            events: page.events.iter().map(AuditEventView::new).collect(),
            next_cursor: page.next_cursor.as_deref(),
        }
    }
}

/// One credential of an org's inventory: its metadata, whose it is, and
/// whether this org blocked it (PATs).
#[derive(Debug, Serialize)]
pub struct CredentialView<'a> {
    /// `pat` or `service_key`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `user:<id>` or `service_user:<id>`.
    pub owner: String,
    pub blocked_here: bool,
    /// A member's PAT's approval here; `null` for a key, or when the org
    /// does not require approval.
    pub approval: Option<ApprovalView<'a>>,
    #[serde(flatten)]
    pub metadata: TokenView<'a>,
}

impl<'a> CredentialView<'a> {
    pub fn new(credential: &'a Credential, now: Timestamp) -> Self {
        let record = &credential.record;
        Self {
            kind: match record.owner.kind {
                OwnerKind::User => "pat",
                OwnerKind::ServiceUser => "service_key",
            },
            owner: record.owner.to_string(),
            blocked_here: credential.blocked_here,
            approval: credential.approval().map(ApprovalView::new),
            metadata: TokenView::new(record, now),
        }
    }
}

/// One page of an org's credentials.
#[derive(Debug, Serialize)]
pub struct CredentialListView<'a> {
    pub credentials: Vec<CredentialView<'a>>,
    pub next_cursor: Option<&'a str>,
}

/// An org's PAT policy.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    pub pat_access: &'static str,
    pub pat_max_lifetime_days: Option<u32>,
    /// Days a credential acting here may stay unused; `null`: the deployment's.
    pub idle_expiry_days: Option<u32>,
    /// `required`: members' PATs wait for an admin's approval here.
    pub pat_approval: &'static str,
}

impl PolicyView {
    pub fn new(policy: &OrgPolicy) -> Self {
        Self {
            pat_access: policy.pat_access.as_str(),
            pat_max_lifetime_days: policy.pat_max_lifetime_days,
            idle_expiry_days: policy.idle_expiry_days,
            pat_approval: policy.pat_approval.as_str(),
        }
    }
}

/// The caller's account and what the settings page may offer it.
#[derive(Debug, Serialize)]
pub struct AccountView<'a> {
    pub user_id: &'a str,
    /// `active` or `suspended`.
    pub status: &'static str,
    pub sso: bool,
    pub pat_beta: bool,
    /// Whether this account may create PATs, and if not, why (`code`, `detail`).
    pub pats: PatAvailability,
    pub orgs: Vec<MembershipView<'a>>,
    pub issuance: IssuanceView<'a>,
}

#[derive(Debug, Serialize)]
pub struct PatAvailability {
    pub available: bool,
    pub code: Option<&'static str>,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MembershipView<'a> {
    pub org: &'a str,
    pub role: &'a str,
    /// May manage the org's service users, keys, policy and inventory.
    pub admin: bool,
}

/// The issuance rules a create form needs to offer only what is accepted.
#[derive(Debug, Serialize)]
pub struct IssuanceView<'a> {
    pub scopes: &'a [String],
    pub roles: &'a [String],
    pub default_expiry_days: u32,
    pub max_expiry_days: u32,
    pub allow_non_expiring: bool,
    pub max_rotation_grace_seconds: u32,
    pub max_allowed_ips: usize,
    pub max_orgs: usize,
    /// The most a credential's rate limit may allow.
    pub max_rate_limit: RateLimitView,
    /// The deployment's idle window in days (`null`: none); an org may set
    /// a shorter one, never a longer.
    pub idle_expiry_days: Option<u32>,
}

impl<'a> AccountView<'a> {
    pub fn new(account: &'a Account, policy: &'a IssuancePolicy) -> Self {
        let refusal = pat_refusal(account).map(crate::problem::Problem::from);
        Self {
            user_id: &account.user_id,
            status: account.status.as_str(),
            sso: account.sso,
            pat_beta: account.pat_beta,
            pats: PatAvailability {
                available: refusal.is_none(),
                code: refusal.as_ref().map(|p| p.code),
                detail: refusal.map(|p| p.detail),
            },
            orgs: account
                .orgs
                .iter()
                .map(|m| MembershipView {
                    org: &m.org_id,
                    role: &m.role,
                    admin: m.role == ADMIN_ROLE,
                })
                .collect(),
            issuance: IssuanceView {
                scopes: &policy.scope_catalog,
                roles: &policy.role_catalog,
                default_expiry_days: policy.default_expiry_days,
                max_expiry_days: policy.max_expiry_days,
                allow_non_expiring: policy.allow_non_expiring,
                max_rotation_grace_seconds: policy.max_rotation_grace_seconds,
                max_allowed_ips: IpAllowlist::MAX_ENTRIES,
                max_orgs: TokenRecord::MAX_ORG_LIMIT,
                max_rate_limit: RateLimitView {
                    requests_per_second: RateLimit::MAX_PER_SECOND,
                    burst: RateLimit::MAX_BURST,
                },
                idle_expiry_days: policy.idle_expiry_days,
            },
        }
    }
}

/// The answer to revoke-all.
#[derive(Debug, Serialize)]
pub struct RevokedCountView {
    pub revoked: u32,
}

fn rfc3339<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    let nanos = i128::from(at.0) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos).map(|t| t.format(&Rfc3339)) {
        Ok(Ok(text)) => serializer.serialize_str(&text),
        _ => serializer.serialize_none(),
    }
}

fn optional_rfc3339<S: Serializer>(
    at: &Option<Timestamp>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}
