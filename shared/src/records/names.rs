//! Token names: what a valid name is, and when two names count as the same.
//!
//! Names are shown in listings and audit trails, so a name must read as what
//! it is: no control or format characters (U+202E would reverse the text
//! after it, U+200B would hide inside it), no unassigned or private-use code
//! points, and only the plain space as white space. Names are kept in NFC;
//! uniqueness compares NFKC, lower-cased, so `Deploy`, `deploy` and the
//! full-width `ｄｅｐｌｏｙ` are one name.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

pub const NAME_MAX_CHARS: usize = 100;

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must be 1 to {NAME_MAX_CHARS} characters")]
    Length,
    #[error("name must not contain the character U+{0:04X}")]
    Character(u32),
}

/// A token name that can only hold a valid value (built by [`TokenName::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    /// Trims, normalizes to NFC, and checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let name: String = raw.trim().nfc().collect();
        if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
            return Err(NameError::Character(u32::from(bad)));
        }
        let length = name.chars().count();
        if length == 0 || length > NAME_MAX_CHARS {
            return Err(NameError::Length);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The form two names are compared in: NFKC, lower case.
pub fn uniqueness_key(name: &str) -> String {
    let folded: String = name.nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

/// Whether `c` shows as itself: no control, format (bidi overrides,
/// zero-width), private-use or unassigned character, and no separator but
/// the plain space. Also what a kept user agent is cleaned to.
pub fn allowed(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Other | GeneralCategoryGroup::Separator
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_kept_in_nfc() {
        let name = TokenName::parse("  cafe\u{301} laptop ").unwrap();
        assert_eq!(name.as_str(), "caf\u{e9} laptop");
    }

    #[test]
    fn format_control_and_odd_space_characters_are_refused() {
        for (text, code) in [
            ("evil\u{202E}gpj.exe", 0x202E),
            ("zero\u{200B}width", 0x200B),
            ("tab\there", 0x9),
            ("bell\u{7}", 0x7),
            ("no\u{A0}break", 0xA0),
            ("line\u{2028}sep", 0x2028),
            ("private\u{E000}", 0xE000),
            ("bom\u{FEFF}", 0xFEFF),
        ] {
            assert_eq!(
                TokenName::parse(text),
                Err(NameError::Character(code)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn lengths_count_characters_after_trimming() {
        assert_eq!(TokenName::parse("   "), Err(NameError::Length));
        assert!(TokenName::parse(&"é".repeat(NAME_MAX_CHARS)).is_ok());
        assert_eq!(
            TokenName::parse(&"é".repeat(NAME_MAX_CHARS + 1)),
            Err(NameError::Length)
        );
    }

    #[test]
    fn case_and_compatibility_forms_share_one_key() {
        let key = uniqueness_key("Deploy Bot");
        for same in ["deploy bot", "DEPLOY BOT", "ｄｅｐｌｏｙ ｂｏｔ"] {
            assert_eq!(uniqueness_key(same), key, "{same}");
        }
        assert_ne!(uniqueness_key("deploy bot 2"), key);
        assert_eq!(uniqueness_key("ﬁle"), uniqueness_key("FILE"));
    }
}
