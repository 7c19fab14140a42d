//! Access changes: what a change recorded in the audit trail (the outbox)
//! means for answers cached from before it. The cache invalidator reads it
//! from the table's stream; authorizer instances drop what the revocation
//! feed names.

use std::fmt;

use super::audit::{AuditAction, AuditEvent};
use super::primitives::{Owner, OwnerKind, Timestamp};
use crate::token::TokenId;

/// What a change is about: one token, everything of one principal, or an
/// org's PAT policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChangeKey {
    Token(TokenId),
    Principal(Owner),
    Org(String),
}

impl ChangeKey {
    /// The stored text form: `t:<token id>`, `u:<user>`, `s:<service user>`,
    /// `o:<org>`.
    pub fn encode(&self) -> String {
        match self {
            Self::Token(id) => format!("t:{id}"),
            Self::Principal(owner) => match owner.kind {
                OwnerKind::User => format!("u:{}", owner.id),
                OwnerKind::ServiceUser => format!("s:{}", owner.id),
            },
            Self::Org(org) => format!("o:{org}"),
        }
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(':')?;
        match kind {
            "t" => rest.parse().ok().map(Self::Token),
            "u" => Some(Self::Principal(Owner::user(rest))),
            "s" => Some(Self::Principal(Owner::service_user(rest))),
            "o" => Some(Self::Org(rest.to_owned())),
            _ => None,
        }
    }
}

impl fmt::Display for ChangeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

/// Whom a recorded change may narrow, or only alter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessChange {
    pub key: ChangeKey,
    /// When the change was made (the audit event's time).
    pub at: Timestamp,
    /// Whether an answer cached from before may now allow too much: the
    /// gateway's cache must then be flushed. A change that is not narrowing
    /// (a re-hash, an account update that adds an org) still drops the
    /// authorizers' own copies, so they never serve outdated records.
    pub narrowing: bool,
}

impl AccessChange {
    /// The change an audit event records, if it touches what an authorizer
    /// may have cached. Every state change writes an audit event in its own
    /// transaction, so reading them misses none.
    pub fn from_audit(event: &AuditEvent) -> Option<Self> {
        use AuditAction as A;
        let token = || event.token_id.map(ChangeKey::Token);
        let principal = || event.owner.clone().map(ChangeKey::Principal);
        let (key, narrowing) = match event.action {
            A::TokenRevoke
            | A::TokenLeaked
            | A::TokenRotate
            | A::TokenBlock
            | A::TokenDeny
            | A::TokenUpdate
            | A::TokenExpired => (token()?, true),
            // An approval widens: authorizers drop their copies, the
            // gateway's cache may keep a narrower answer for its TTL.
            A::TokenRehash | A::TokenApprove => (token()?, false),
            // Suspension, SSO, the beta flag, memberships and roles, a
            // service user's state and role, "revoke all": all on the
            // principal's item, so every token of theirs.
            A::TokenRevokeAll | A::AccountPut | A::ServiceUserUpdate => (principal()?, true),
            A::OrgPolicyPut => (ChangeKey::Org(event.org.clone()?), true),
            A::TokenCreate
            | A::TokenApprovalRequest
            | A::ServiceUserCreate
            | A::TokenIpRefused
            | A::TokenExpiring
            | A::PepperAdd
            | A::PepperRetire => return None,
        };
        Some(Self {
            key,
            at: event.at,
            narrowing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_text() {
        let id = crate::token::PlainToken::generate().unwrap().id();
        for key in [
            ChangeKey::Token(id),
            ChangeKey::Principal(Owner::user("u_1")),
            ChangeKey::Principal(Owner::service_user("su_1")),
            ChangeKey::Org("acme:eu".into()),
        ] {
            assert_eq!(ChangeKey::decode(&key.encode()), Some(key));
        }
        assert_eq!(ChangeKey::decode("x:1"), None);
        assert_eq!(ChangeKey::decode("t:not-an-id"), None);
    }

    #[test]
    fn every_audit_action_is_classified_and_narrowing_ones_name_their_subject() {
        let id = crate::token::PlainToken::generate().unwrap().id();
        let owner = Owner::user("u_1");
        for action in AuditAction::ALL {
            let mut event = AuditEvent::new("x", action, owner.clone(), Timestamp(5)).for_token(id);
            event.org = Some("acme".into());
            let change = AccessChange::from_audit(&event);
            let expected = match action.as_str() {
                "token.revoke" | "token.leaked" | "token.rotate" | "token.block"
                | "token.update" | "token.expired" | "token.deny" => {
                    Some((ChangeKey::Token(id), true))
                }
                "token.rehash" | "token.approve" => Some((ChangeKey::Token(id), false)),
                "token.revoke_all" | "account.put" | "service_user.update" => {
                    Some((ChangeKey::Principal(owner.clone()), true))
                }
                "org.policy_put" => Some((ChangeKey::Org("acme".into()), true)),
                _ => None,
            };
            assert_eq!(change.map(|c| (c.key, c.narrowing)), expected, "{action}");
        }
    }
}
