//! Audit events: one per state change, written in the same transaction as
//! the change, named by an [`AuditAction`].

use std::fmt;
use std::str::FromStr;

use crate::records::{Owner, Timestamp, UnknownValue};
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
    PepperAdd,
    PepperRetire,
}

impl AuditAction {
    pub const ALL: [Self; 10] = [
        Self::TokenCreate,
        Self::TokenRotate,
        Self::TokenRevoke,
        Self::TokenRevokeAll,
        Self::TokenRehash,
        Self::AccountPut,
        Self::ServiceUserCreate,
        Self::ServiceUserUpdate,
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
