//! Who calls the management API: a signed-in user (the session's `sub`)
//! and where the request came from.

use std::fmt;

use super::audit::{Actor, Origin};
use super::primitives::Owner;

/// A signed-in user's id: the session's `sub`. Built only valid: 1 to 255
/// bytes (OpenID Connect's bound for `sub`), not blank, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

/// Why a `sub` is not a user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a user id is 1 to 255 bytes without control characters")]
pub struct InvalidUserId;

impl UserId {
    pub const MAX_BYTES: usize = 255;

    pub fn parse(text: &str) -> Result<Self, InvalidUserId> {
        let valid = !text.trim().is_empty()
            && text.len() <= Self::MAX_BYTES
            && !text.chars().any(char::is_control);
        valid.then(|| Self(text.to_owned())).ok_or(InvalidUserId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner of this user's tokens.
    pub fn owner(&self) -> Owner {
        Owner::user(&self.0)
    }

    /// How audit events and revocations name this user: `user:<id>`.
    pub fn actor(&self) -> String {
        self.owner().to_string()
    }
}

/// A signed-in user calling, and where the request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub origin: Origin,
}

impl Caller {
    /// How this caller's changes are audited: `user:<id>`, with the origin.
    pub fn actor(&self) -> Actor {
        Actor::new(self.user.actor()).from_origin(self.origin.clone())
    }

    pub fn owner(&self) -> Owner {
        self.user.owner()
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.user.fmt(f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_built_only_valid() {
        let alice = UserId::parse("auth0|5f7c8ec7c33c6c004bbafe82").unwrap();
        assert_eq!(alice.actor(), "user:auth0|5f7c8ec7c33c6c004bbafe82");
        assert_eq!(alice.owner(), Owner::user(alice.as_str()));
        assert!(UserId::parse(&"a".repeat(UserId::MAX_BYTES)).is_ok());
        for bad in [
            "",
            "   ",
            "a\nb",
            "tab\there",
            &"a".repeat(UserId::MAX_BYTES + 1),
        ] {
            assert_eq!(UserId::parse(bad), Err(InvalidUserId), "{bad:?}");
        }
    }
}
