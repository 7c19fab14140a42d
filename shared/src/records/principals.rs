//! Who credentials act as: accounts (with their org memberships) and
//! service users.

use std::str::FromStr;

use super::audit::{AuditAction, AuditEvent};
use super::primitives::{Owner, Timestamp, UnknownValue};

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

    /// Its entity tag: of every field its representation shows.
    pub fn entity_tag(&self) -> String {
        super::entity_tag(&[
            "service_user",
            &self.id,
            &self.name,
            &self.org_id,
            &self.role,
            self.status.as_str(),
            &self.created_at.0.to_string(),
        ])
    }

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
