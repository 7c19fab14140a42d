//! Audit events: one per state change, written in the same transaction as
//! the change, named by an [`AuditAction`].

use std::fmt;
use std::str::FromStr;

use super::primitives::{Owner, Timestamp, UnknownValue};
use crate::token::TokenId;

/// What an audit event records. The text form is what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    TokenCreate,
    TokenRotate,
    TokenRevoke,
    TokenRevokeAll,
    /// The authorizer moved a token's hash to the current pepper.
    TokenRehash,
    AccountPut,
    ServiceUserCreate,
    /// An org admin renamed, re-roled, disabled or enabled a service user.
    ServiceUserUpdate,
    /// An org admin blocked a member's PAT in the org.
    TokenBlock,
    /// A new PAT reaches an org that requires approval: it waits there.
    TokenApprovalRequest,
    /// An org admin approved a member's PAT in the org.
    TokenApprove,
    /// An org admin denied a member's PAT in the org, with a reason.
    TokenDeny,
    /// An org admin changed the org's PAT policy.
    OrgPolicyPut,
    /// A leak report (GitHub secret scanning) revoked the token.
    TokenLeaked,
    /// The token's IP allowlist changed.
    TokenUpdate,
    /// The authorizer refused the token from an address outside its allowlist.
    TokenIpRefused,
    /// The token expires within 7 days, or within 1 day (the expiry sweep).
    TokenExpiring,
    /// The token has expired (the expiry sweep).
    TokenExpired,
    PepperAdd,
    PepperRetire,
}

impl AuditAction {
    pub const ALL: [Self; 20] = [
        Self::TokenCreate,
        Self::TokenRotate,
        Self::TokenRevoke,
        Self::TokenRevokeAll,
        Self::TokenRehash,
        Self::AccountPut,
        Self::ServiceUserCreate,
        Self::ServiceUserUpdate,
        Self::TokenBlock,
        Self::TokenApprovalRequest,
        Self::TokenApprove,
        Self::TokenDeny,
        Self::OrgPolicyPut,
        Self::TokenLeaked,
        Self::TokenUpdate,
        Self::TokenIpRefused,
        Self::TokenExpiring,
        Self::TokenExpired,
        Self::PepperAdd,
        Self::PepperRetire,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenCreate => "token.create",
            Self::TokenRotate => "token.rotate",
            Self::TokenRevoke => "token.revoke",
            Self::TokenRevokeAll => "token.revoke_all",
            Self::TokenRehash => "token.rehash",
            Self::AccountPut => "account.put",
            Self::ServiceUserCreate => "service_user.create",
            Self::ServiceUserUpdate => "service_user.update",
            Self::TokenBlock => "token.block",
            Self::TokenApprovalRequest => "token.approval_request",
            Self::TokenApprove => "token.approve",
            Self::TokenDeny => "token.deny",
            Self::OrgPolicyPut => "org.policy_put",
            Self::TokenLeaked => "token.leaked",
            Self::TokenUpdate => "token.update",
            Self::TokenIpRefused => "token.ip_refused",
            Self::TokenExpiring => "token.expiring",
            Self::TokenExpired => "token.expired",
            Self::PepperAdd => "pepper.add",
            Self::PepperRetire => "pepper.retire",
        }
    }
}

impl FromStr for AuditAction {
    type Err = UnknownValue;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
            .ok_or_else(|| UnknownValue(text.to_owned()))
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a request came from: its source IP and user agent, as API Gateway
/// saw them. Stored with each event the request caused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub source_ip: String,
    pub user_agent: String,
}

impl Origin {
    /// Longest user agent kept; the rest is cut (a header is not a record).
    pub const USER_AGENT_MAX_CHARS: usize = 256;

    /// Control characters dropped, the user agent cut to its bound.
    pub fn new(source_ip: &str, user_agent: &str) -> Self {
        let clean = |text: &str, max: usize| -> String {
            text.chars().filter(|c| !c.is_control()).take(max).collect()
        };
        Self {
            source_ip: clean(source_ip, 64),
            user_agent: clean(user_agent, Self::USER_AGENT_MAX_CHARS),
        }
    }
}

/// Who makes a change, from where, and in which org: what each audit event
/// of the change records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `user:<id>`, `operator`, `authorizer`, ...
    pub name: String,
    pub origin: Option<Origin>,
    /// The org an org admin acts in.
    pub org: Option<String>,
}

impl Actor {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            origin: None,
            org: None,
        }
    }

    /// A token acting on itself (rotating without a session): `token:<id>`.
    pub fn token(id: &TokenId) -> Self {
        Self::new(format!("token:{id}"))
    }

    pub fn from_origin(mut self, origin: Origin) -> Self {
        self.origin = Some(origin);
        self
    }

    pub fn in_org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// An event of this actor's about its org itself (its policy).
    pub fn org_event(&self, action: AuditAction, at: Timestamp) -> AuditEvent {
        AuditEvent {
            owner: None,
            ..self.event(action, Owner::user(""), at)
        }
    }

    /// An event of this actor's about `owner`'s credentials.
    pub fn event(&self, action: AuditAction, owner: Owner, at: Timestamp) -> AuditEvent {
        AuditEvent {
            org: self.org.clone(),
            origin: self.origin.clone(),
            ..AuditEvent::new(self.name.clone(), action, owner, at)
        }
    }
}

/// One state change, written in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: String,
    pub at: Timestamp,
    /// Who did it, e.g. `user:u_123` or `operator`.
    pub actor: String,
    pub action: AuditAction,
    /// Whose credentials changed; `None` for system-wide changes (the pepper ring).
    pub owner: Option<Owner>,
    pub token_id: Option<TokenId>,
    pub detail: Option<String>,
    /// The org it happened in, for an org admin's change: also listed there.
    pub org: Option<String>,
    /// The request that made it, when one did.
    pub origin: Option<Origin>,
}

/// Whose trail to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    /// Events about one owner's credentials.
    Owner(Owner),
    /// Events an org's admins made in it.
    Org(String),
}

/// Which events of a trail: one action, and a time range (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl AuditFilter {
    pub fn admits(&self, event: &AuditEvent) -> bool {
        self.action.is_none_or(|action| event.action == action)
            && self.from.is_none_or(|from| event.at >= from)
            && self.to.is_none_or(|to| event.at <= to)
    }
}

/// One page of a trail, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Opaque; pass back to get the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

impl AuditEvent {
    /// A new event with a random id. The id only needs to be unique.
    pub fn new(actor: impl Into<String>, action: AuditAction, owner: Owner, at: Timestamp) -> Self {
        Self {
            id: random_event_id(),
            at,
            actor: actor.into(),
            action,
            owner: Some(owner),
            token_id: None,
            detail: None,
            org: None,
            origin: None,
        }
    }

    /// An event about the system rather than one owner's credentials.
    pub fn system(actor: impl Into<String>, action: AuditAction, at: Timestamp) -> Self {
        Self {
            owner: None,
            ..Self::new(actor, action, Owner::user(""), at)
        }
    }

    pub fn for_token(mut self, id: TokenId) -> Self {
        self.token_id = Some(id);
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// This change, applied also to `successor`, which a rotation made of
    /// `from` while the change was on its way: an event of its own.
    pub fn carried_to(&self, successor: TokenId, from: &TokenId) -> Self {
        let carried = format!("carried over the rotation of {from}");
        Self {
            id: random_event_id(),
            token_id: Some(successor),
            detail: Some(match &self.detail {
                Some(detail) => format!("{detail}; {carried}"),
                None => carried,
            }),
            ..self.clone()
        }
    }
}

fn random_event_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_keep_no_control_characters_and_a_bounded_user_agent() {
        let origin = Origin::new("203.0.113.7\n", &format!("curl/8\r\n{}", "x".repeat(400)));
        assert_eq!(origin.source_ip, "203.0.113.7");
        assert!(origin.user_agent.starts_with("curl/8x"));
        assert_eq!(
            origin.user_agent.chars().count(),
            Origin::USER_AGENT_MAX_CHARS
        );
    }

    #[test]
    fn an_actors_events_carry_its_origin_and_org_and_filters_select_them() {
        let actor = Actor::new("user:ann")
            .from_origin(Origin::new("198.51.100.1", "t"))
            .in_org("acme");
        let event = actor.event(
            AuditAction::ServiceUserCreate,
            Owner::service_user("s"),
            Timestamp(50),
        );
        assert_eq!(event.actor, "user:ann");
        assert_eq!(event.org.as_deref(), Some("acme"));
        assert_eq!(
            event.origin.as_ref().map(|o| o.source_ip.as_str()),
            Some("198.51.100.1")
        );
        let only = |action, from: Option<i64>, to: Option<i64>| AuditFilter {
            action,
            from: from.map(Timestamp),
            to: to.map(Timestamp),
        };
        assert!(only(None, None, None).admits(&event));
        assert!(only(Some(AuditAction::ServiceUserCreate), Some(50), Some(50)).admits(&event));
        assert!(!only(Some(AuditAction::TokenCreate), None, None).admits(&event));
        assert!(!only(None, Some(51), None).admits(&event));
        assert!(!only(None, None, Some(49)).admits(&event));
    }

    #[test]
    fn audit_actions_read_back_from_their_text_and_nothing_else_does() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse(), Ok(action));
        }
        let mut texts: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), AuditAction::ALL.len());
        assert!("token.delete".parse::<AuditAction>().is_err());
        assert!("Token.Create".parse::<AuditAction>().is_err());
    }
}
