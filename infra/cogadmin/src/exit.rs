//! Exit codes, one per failure class, so a script can tell a retry from a
//! fix: the class comes from a [`Classified`] error or from the store's and
//! the pepper source's typed errors anywhere in the chain.

use std::fmt;

use cog_tokens::store::pepper::PepperError;
use cog_tokens::store::StoreError;

/// Why a command failed, as its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A bug or data the tool cannot read: report it.
    Unexpected = 1,
    /// Bad arguments or environment (clap's own errors exit 2 as well).
    Usage = 2,
    /// The token, account, service user or pepper version named is not there.
    NotFound = 3,
    /// DynamoDB, KMS or STS failed or could not be reached: safe to retry.
    Unavailable = 4,
    /// Refused as unsafe or in conflict with the stored state: nothing
    /// was changed by the refused step; read the message.
    Refused = 5,
}

/// The text of `cogadmin --help`'s exit code table (also in the runbook).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (a dry run included)
  1  unexpected failure (a bug, or stored data that cannot be read)
  2  usage: bad arguments or environment (no table, no --actor)
  3  not found: the token, account, service user or pepper version named
  4  unavailable: DynamoDB, KMS or STS failed or was unreachable; safe to retry
  5  refused: unsafe or conflicting with the stored state (e.g. init with
     no table in AWS and no --allow-aws, revoking the current pepper without --force,
     retiring a pepper live tokens use, an id that exists already)";

impl Failure {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error that says its class.
#[derive(Debug)]
pub struct Classified {
    pub class: Failure,
    message: String,
}

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Classified {}

/// An error of `class` saying `message`.
pub fn fail(class: Failure, message: impl Into<String>) -> anyhow::Error {
    Classified {
        class,
        message: message.into(),
    }
    .into()
}

fn store_class(error: &StoreError) -> Failure {
    match error {
        StoreError::NotFound => Failure::NotFound,
        StoreError::Unavailable(_) => Failure::Unavailable,
        StoreError::AlreadyExists
        | StoreError::NameTaken
        | StoreError::LimitReached { .. }
        | StoreError::Conflict => Failure::Refused,
        StoreError::InvalidCursor => Failure::Usage,
        StoreError::Malformed(_) => Failure::Unexpected,
    }
}

/// The class of `error`: the first cause in its chain that has one.
pub fn classify(error: &anyhow::Error) -> Failure {
    for cause in error.chain() {
        if let Some(classified) = cause.downcast_ref::<Classified>() {
            return classified.class;
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return store_class(store);
        }
        if let Some(pepper) = cause.downcast_ref::<PepperError>() {
            return match pepper {
                PepperError::Kms(_) => Failure::Unavailable,
                PepperError::Store(store) => store_class(store),
                PepperError::Empty => Failure::Refused,
                PepperError::Malformed(_) => Failure::Unexpected,
            };
        }
    }
    Failure::Unexpected
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn each_failure_class_has_its_own_code_and_is_found_anywhere_in_the_chain() {
        let wrapped = |error: anyhow::Error| classify(&error.context("while revoking"));
        assert_eq!(
            wrapped(StoreError::Unavailable("timeout".into()).into()),
            Failure::Unavailable
        );
        assert_eq!(wrapped(StoreError::Conflict.into()), Failure::Refused);
        assert_eq!(wrapped(StoreError::NotFound.into()), Failure::NotFound);
        assert_eq!(
            wrapped(StoreError::Malformed("x".into()).into()),
            Failure::Unexpected
        );
        assert_eq!(
            wrapped(PepperError::Kms("denied".into()).into()),
            Failure::Unavailable
        );
        assert_eq!(
            wrapped(PepperError::Store(StoreError::AlreadyExists).into()),
            Failure::Refused
        );
        assert_eq!(
            wrapped(fail(Failure::NotFound, "no token")),
            Failure::NotFound
        );
        let io: Result<(), std::io::Error> = Err(std::io::Error::other("boom"));
        assert_eq!(classify(&io.context("x").unwrap_err()), Failure::Unexpected);
        let codes: Vec<u8> = [
            Failure::Unexpected,
            Failure::Usage,
            Failure::NotFound,
            Failure::Unavailable,
            Failure::Refused,
        ]
        .iter()
        .map(|f| f.code())
        .collect();
        assert_eq!(codes, [1, 2, 3, 4, 5]);
        for code in codes {
            assert!(EXIT_CODES_HELP.contains(&format!("  {code}  ")), "{code}");
        }
    }
}
