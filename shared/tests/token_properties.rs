//! Property tests of the token format and the peppered hash.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

use cog_tokens::token::{ID_LEN, PREFIX, TOKEN_LEN};
use cog_tokens::{Pepper, PepperVersion, PlainToken, TokenFormatError};
use proptest::prelude::*;

fn pepper() -> Pepper {
    Pepper::new(PepperVersion(1), &[42; 32]).unwrap()
}

const BASE62: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn generated_tokens_round_trip(_seed in any::<u8>()) {
        let token = PlainToken::generate().unwrap();
        let text = token.expose_secret();
        prop_assert_eq!(text.len(), TOKEN_LEN);
        prop_assert!(text[PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let parsed = PlainToken::parse(text).unwrap();
        prop_assert_eq!(parsed.expose_secret(), text);
        let id = parsed.id();
        prop_assert_eq!(id.as_str(), &text[4..4 + ID_LEN]);
    }

    /// Changing any one character to any other character: parsing or
    /// verification must fail (the checksum catches most; HMAC the rest).
    #[test]
    fn any_single_character_change_is_refused(
        position in 0..TOKEN_LEN,
        replacement in prop::char::any(),
    ) {
        let token = PlainToken::generate().unwrap();
        let stored = pepper().hash(&token);
        let mut chars: Vec<char> = token.expose_secret().chars().collect();
        prop_assume!(chars[position] != replacement);
        chars[position] = replacement;
        let changed: String = chars.into_iter().collect();
        if let Ok(parsed) = PlainToken::parse(&changed) {
            prop_assert!(!pepper().verify(&parsed, &stored));
        }
    }

    /// Changes within base62 reach the checksum/HMAC stage; still refused.
    #[test]
    fn any_single_base62_change_is_refused(
        position in PREFIX.len()..TOKEN_LEN,
        replacement in prop::sample::select(BASE62.as_bytes().to_vec()),
    ) {
        let token = PlainToken::generate().unwrap();
        let stored = pepper().hash(&token);
        let mut bytes = token.expose_secret().as_bytes().to_vec();
        prop_assume!(bytes[position] != replacement);
        bytes[position] = replacement;
        let changed = String::from_utf8(bytes).unwrap();
        match PlainToken::parse(&changed) {
            Err(error) => prop_assert_eq!(error, TokenFormatError::BadChecksum),
            Ok(parsed) => prop_assert!(!pepper().verify(&parsed, &stored)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    #[test]
    fn parse_never_panics_on_arbitrary_strings(text in ".{0,80}") {
        let _ = PlainToken::parse(&text);
        let _ = cog_tokens::extract_bearer(&text);
    }

    /// Strings that look almost right reach the deeper checks.
    #[test]
    fn parse_never_panics_on_near_tokens(body in "[0-9A-Za-z_\\-é ]{50,60}") {
        let text = format!("cog_{body}");
        let _ = PlainToken::parse(&text);
        let _ = cog_tokens::extract_bearer(&format!("Bearer {text}"));
    }
}

#[test]
fn parse_rejects_huge_and_odd_inputs_without_panicking() {
    let huge = format!("cog_{}", "a".repeat(1 << 20));
    assert_eq!(
        PlainToken::parse(&huge).unwrap_err(),
        TokenFormatError::WrongLength {
            actual: (1 << 20) + 4
        }
    );
    assert_eq!(
        PlainToken::parse(&"a".repeat(1 << 20)).unwrap_err(),
        TokenFormatError::MissingPrefix
    );
    assert_eq!(
        PlainToken::parse("").unwrap_err(),
        TokenFormatError::MissingPrefix
    );
    let control = format!("cog_{}", "\u{7}".repeat(54));
    assert_eq!(
        PlainToken::parse(&control).unwrap_err(),
        TokenFormatError::InvalidCharacter { position: 4 }
    );
    let multibyte = format!("cog_{}", "é".repeat(27));
    assert_eq!(
        PlainToken::parse(&multibyte).unwrap_err(),
        TokenFormatError::InvalidCharacter { position: 4 }
    );
}
