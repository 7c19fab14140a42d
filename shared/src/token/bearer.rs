//! Bearer credential extraction from an `Authorization` header value.
//!
//! The rule (RFC 6750 §2.1, strictly): optional surrounding spaces/tabs (HTTP
//! strips them from field values anyway), the scheme `Bearer` in any letter
//! case, one or more spaces or tabs, then exactly one credential with no
//! spaces or tabs in it, and nothing after it. The credential's own format is
//! checked separately by [`crate::token::PlainToken::parse`].

/// Why a header value does not carry exactly one bearer credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("authorization header is empty")]
    Empty,
    #[error("authorization scheme is not Bearer")]
    WrongScheme,
    #[error("bearer credential is missing")]
    MissingCredential,
    #[error("authorization header has data after the credential")]
    TrailingData,
}

const SCHEME: &str = "bearer";

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Returns the credential of a `Bearer` authorization header value.
pub fn extract_bearer(header_value: &str) -> Result<&str, BearerError> {
    let value = header_value.trim_matches(is_space);
    if value.is_empty() {
        return Err(BearerError::Empty);
    }
    let scheme_end = value.find(is_space).unwrap_or(value.len());
    if !value[..scheme_end].eq_ignore_ascii_case(SCHEME) {
        return Err(BearerError::WrongScheme);
    }
    let credential = value[scheme_end..].trim_start_matches(is_space);
    if credential.is_empty() {
        return Err(BearerError::MissingCredential);
    }
    if credential.contains(is_space) {
        return Err(BearerError::TrailingData);
    }
    Ok(credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_bearer_in_any_case_then_the_credential_is_returned() {
        for value in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "bEaReR\tabc",
            "Bearer  \t abc",
            " Bearer abc\t",
        ] {
            assert_eq!(extract_bearer(value), Ok("abc"), "{value:?}");
        }
    }

    #[test]
    fn given_an_empty_value_then_empty() {
        assert_eq!(extract_bearer(""), Err(BearerError::Empty));
        assert_eq!(extract_bearer(" \t "), Err(BearerError::Empty));
    }

    #[test]
    fn given_another_scheme_then_wrong_scheme() {
        for value in [
            "Basic abc",
            "Token abc",
            "Bearerabc",
            "cog_abc",
            "Bearer:abc",
        ] {
            assert_eq!(
                extract_bearer(value),
                Err(BearerError::WrongScheme),
                "{value:?}"
            );
        }
    }

    #[test]
    fn given_no_credential_then_missing_credential() {
        assert_eq!(
            extract_bearer("Bearer"),
            Err(BearerError::MissingCredential)
        );
        assert_eq!(
            extract_bearer("Bearer   "),
            Err(BearerError::MissingCredential)
        );
    }

    #[test]
    fn given_two_credentials_or_trailing_words_then_trailing_data() {
        for value in ["Bearer abc def", "Bearer abc\tdef", "Bearer abc ,x"] {
            assert_eq!(
                extract_bearer(value),
                Err(BearerError::TrailingData),
                "{value:?}"
            );
        }
    }

    #[test]
    fn given_newlines_then_they_are_part_of_the_credential_and_fail_its_format_later() {
        // Only SP and HTAB separate; any other byte stays in the credential,
        // where the token parser rejects it as an invalid character.
        assert_eq!(extract_bearer("Bearer a\nb"), Ok("a\nb"));
    }
}
