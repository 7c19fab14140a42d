//! The value types every record shares: times, owners, and the error for
//! a stored word this version does not know.

use std::fmt;
use std::str::FromStr;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A strong entity tag (RFC 9110 `ETag`, quoted) of a record's fields as
/// its representation shows them: equal fields, equal tag.
pub fn entity_tag(fields: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for field in fields {
        // Length-prefixed, so no two lists of fields run together alike.
        digest.update((field.len() as u64).to_be_bytes());
        digest.update(field.as_bytes());
    }
    let hex: String = digest.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

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

    pub fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
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
