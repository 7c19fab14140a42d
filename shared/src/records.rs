//! The domain records the store keeps: tokens, accounts, service users, audit
//! events (defined in `audit`, re-exported here).

use std::fmt;
use std::str::FromStr;

pub use crate::allowlist::IpAllowlist;
pub use crate::audit::{Actor, AuditAction, AuditEvent, Origin};
pub use crate::caller::{Caller, InvalidUserId, UserId};
use crate::hash::{PepperVersion, TokenHash};
pub use crate::org_policies::{OrgPolicy, PatAccess};
use crate::token::TokenId;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        Self(millis)
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    pub fn as_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

/// Whose credential a token is: a human user (PAT) or a service user (API key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerKind {
    User,
    ServiceUser,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ServiceUser => "service_user",
        }
    }

    /// The auth method a token of this owner kind reports downstream.
    pub fn auth_method(self) -> &'static str {
        match self {
            Self::User => "pat",
            Self::ServiceUser => "service_key",
        }
    }
}

impl FromStr for OwnerKind {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "user" => Ok(Self::User),
            "service_user" => Ok(Self::ServiceUser),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// A stored enum field held a value this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{0}`")]
pub struct UnknownValue(pub String);

/// The principal a token acts as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub kind: OwnerKind,
    pub id: String,
}

impl Owner {
    pub fn user(id: impl Into<String>) -> Self {
        Self {
            kind: OwnerKind::User,
            id: id.into(),
        }
    }

    pub fn service_user(id: impl Into<String>) -> Self {
        Self {
            kind: OwnerKind::ServiceUser,
            id: id.into(),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}

/// Why and by whom a token was revoked. `at` may lie in the future: a rotated
/// token keeps working through its grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at: Timestamp,
    pub by: String,
    pub reason: String,
}

/// A token's state at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

/// Which tokens a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    Active,
    Expired,
    Revoked,
    All,
}

impl StatusFilter {
    pub fn admits(self, status: TokenStatus) -> bool {
        matches!(
            (self, status),
            (Self::All, _)
                | (Self::Active, TokenStatus::Active)
                | (Self::Expired, TokenStatus::Expired)
                | (Self::Revoked, TokenStatus::Revoked)
        )
    }
}

impl FromStr for StatusFilter {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(Self::Active),
            "expired" => Ok(Self::Expired),
            "revoked" => Ok(Self::Revoked),
            "all" => Ok(Self::All),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// A stored credential: everything but the token itself, which is never kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: TokenId,
    pub owner: Owner,
    pub name: String,
    pub scopes: Vec<String>,
    pub hash: TokenHash,
    pub pepper_version: PepperVersion,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked: Option<Revocation>,
    pub last_used_at: Option<Timestamp>,
    /// Orgs whose admins blocked this PAT there: it never carries them.
    pub blocked_orgs: Vec<String>,
    /// The source networks it may be used from; empty: any.
    pub allowed_ips: IpAllowlist,
    /// A PAT limited to these orgs (chosen at creation, sorted): it acts in
    /// those of them its owner still belongs to. `None`: all the owner's orgs.
    pub org_limit: Option<Vec<String>>,
}

impl TokenRecord {
    /// Most orgs a PAT may be limited to.
    pub const MAX_ORG_LIMIT: usize = 20;

    /// `new`, this token's successor in a rotation, with the fields that can
    /// change after creation (org blocks, the allowlist) as this record holds
    /// them; name, scopes, org limit and lifetime the rotation chose.
    pub fn carry_to(&self, mut new: TokenRecord) -> TokenRecord {
        new.blocked_orgs.clone_from(&self.blocked_orgs);
        new.allowed_ips.clone_from(&self.allowed_ips);
        new
    }

    /// Whether this token may act in `org` as far as its own limit goes.
    pub fn may_act_in(&self, org: &str) -> bool {
        self.org_limit
            .as_ref()
            .is_none_or(|orgs| orgs.iter().any(|o| o == org))
    }

    /// Whether "revoke all" at `valid_after` covers this token.
    pub fn predates(&self, valid_after: Option<Timestamp>) -> bool {
        valid_after.is_some_and(|at| self.created_at <= at)
    }

    /// Revocation wins over expiry: a revoked token reads as revoked forever.
    pub fn status(&self, now: Timestamp) -> TokenStatus {
        if self.revoked.as_ref().is_some_and(|r| r.at <= now) {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

/// Whether an account or service user may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalStatus {
    Active,
    Suspended,
    Deleted,
    /// A service user an org admin switched off; it may be switched on again.
    Disabled,
}

impl PrincipalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
            Self::Disabled => "disabled",
        }
    }
}

impl FromStr for PrincipalStatus {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "deleted" => Ok(Self::Deleted),
            "disabled" => Ok(Self::Disabled),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// A user's role in one org.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct OrgMembership {
    pub org_id: String,
    pub role: String,
}

/// A human user's account, as far as credentials care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user_id: String,
    pub status: PrincipalStatus,
    /// SSO/enterprise accounts may not have PATs at all.
    pub sso: bool,
    /// The closed-beta flag that allows PATs.
    pub pat_beta: bool,
    pub orgs: Vec<OrgMembership>,
    /// Set by "revoke all": every token created at or before it is revoked.
    pub tokens_valid_after: Option<Timestamp>,
}

/// One member of an org, as the org's member list has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMember {
    pub user_id: String,
    pub role: String,
}

impl Account {
    /// Most org memberships an account may have: they are kept on the
    /// account item too, and this bounds its size.
    pub const MAX_ORGS: usize = 90;

    /// The audit event for creating or changing this account as `actor`.
    pub fn audit_put(&self, actor: &str, at: Timestamp) -> AuditEvent {
        let orgs: Vec<String> = self
            .orgs
            .iter()
            .map(|m| format!("{}:{}", m.org_id, m.role))
            .collect();
        AuditEvent::new(
            actor,
            AuditAction::AccountPut,
            Owner::user(&self.user_id),
            at,
        )
        .with_detail(format!(
            "status={} sso={} pat_beta={} orgs={}",
            self.status.as_str(),
            self.sso,
            self.pat_beta,
            orgs.join(",")
        ))
    }

    /// Whether this account may hold and use PATs right now.
    pub fn may_use_pats(&self) -> bool {
        self.status == PrincipalStatus::Active && self.pat_beta && !self.sso
    }
}

/// A non-human principal with one RBAC role in one org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUser {
    pub id: String,
    pub name: String,
    pub org_id: String,
    pub role: String,
    pub status: PrincipalStatus,
    pub created_at: Timestamp,
    /// Set by "revoke all": every key created at or before it is revoked.
    pub tokens_valid_after: Option<Timestamp>,
}

impl ServiceUser {
    /// The longest service user id: ids go into keys and cursors.
    pub const ID_MAX_CHARS: usize = 64;

    /// A fresh id: `svc_` and 16 random base62 characters.
    pub fn new_id() -> String {
        use rand::Rng;
        const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut rng = rand::rng();
        let suffix: String = (0..16)
            .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
            .collect();
        format!("svc_{suffix}")
    }

    /// Ids are 1 to 64 ASCII letters, digits, `_` and `-`.
    pub fn is_valid_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= Self::ID_MAX_CHARS
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    /// The membership its keys carry: exactly its one org and role.
    pub fn membership(&self) -> OrgMembership {
        OrgMembership {
            org_id: self.org_id.clone(),
            role: self.role.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_at: Option<i64>, revoked_at: Option<i64>) -> TokenRecord {
        let token = crate::PlainToken::generate().unwrap();
        let pepper = crate::Pepper::new(PepperVersion(1), &[1; 32]).unwrap();
        TokenRecord {
            id: token.id(),
            owner: Owner::user("u1"),
            name: "n".into(),
            scopes: vec!["read".into()],
            hash: pepper.hash(&token),
            pepper_version: PepperVersion(1),
            created_at: Timestamp(0),
            expires_at: expires_at.map(Timestamp),
            revoked: revoked_at.map(|at| Revocation {
                at: Timestamp(at),
                by: "user:u1".into(),
                reason: "test".into(),
            }),
            last_used_at: None,
            blocked_orgs: Vec::new(),
            allowed_ips: Default::default(),
            org_limit: None,
        }
    }

    #[test]
    fn status_follows_expiry_and_revocation_times() {
        let now = Timestamp(100);
        assert_eq!(record(None, None).status(now), TokenStatus::Active);
        assert_eq!(record(Some(101), None).status(now), TokenStatus::Active);
        assert_eq!(record(Some(100), None).status(now), TokenStatus::Expired);
        assert_eq!(record(Some(50), Some(60)).status(now), TokenStatus::Revoked);
        // A revocation in the future (rotation grace) leaves the token active until then.
        assert_eq!(record(None, Some(150)).status(now), TokenStatus::Active);
        assert_eq!(record(None, Some(100)).status(now), TokenStatus::Revoked);
    }

    #[test]
    fn only_active_beta_non_sso_accounts_may_use_pats() {
        let account = Account {
            user_id: "u".into(),
            status: PrincipalStatus::Active,
            sso: false,
            pat_beta: true,
            orgs: vec![],
            tokens_valid_after: None,
        };
        assert!(account.may_use_pats());
        assert!(!Account {
            sso: true,
            ..account.clone()
        }
        .may_use_pats());
        assert!(!Account {
            pat_beta: false,
            ..account.clone()
        }
        .may_use_pats());
        assert!(!Account {
            status: PrincipalStatus::Suspended,
            ..account
        }
        .may_use_pats());
    }

    #[test]
    fn service_user_ids_are_fresh_and_valid() {
        let (a, b) = (ServiceUser::new_id(), ServiceUser::new_id());
        assert_ne!(a, b);
        assert!(ServiceUser::is_valid_id(&a) && a.starts_with("svc_") && a.len() == 20);
        assert!(ServiceUser::is_valid_id("svc_ci-deploy"));
        for bad in ["", "a#b", "svc ci", "é", &"a".repeat(65)] {
            assert!(!ServiceUser::is_valid_id(bad), "{bad:?}");
        }
    }
}
