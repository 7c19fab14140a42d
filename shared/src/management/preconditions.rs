//! Conditional writes (RFC 9110 `If-Match`) for what org admins edit
//! together: a service user and an org's PAT policy. A write names the
//! version it read; over a change made since, it is refused (412) instead
//! of undoing that change.

/// What an `If-Match` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: whatever version exists.
    Any,
    /// One of these entity tags, quoted as sent; a weak one (`W/"…"`)
    /// never matches: If-Match compares strongly.
    Tags(Vec<String>),
}

impl IfMatch {
    /// The header's value; `None` when it is not a `*` or a list of
    /// quoted tags.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        if header == "*" {
            return Some(Self::Any);
        }
        let tags: Vec<String> = header
            .split(',')
            .map(str::trim)
            .map(str::to_owned)
            .collect();
        let quoted = |tag: &String| {
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag.len() >= 2
                && tag.starts_with('"')
                && tag.ends_with('"')
                && !tag[1..tag.len() - 1].contains('"')
        };
        tags.iter().all(quoted).then_some(Self::Tags(tags))
    }

    /// Whether a write over the version tagged `current` may go ahead.
    pub fn admits(&self, current: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|tag| tag == current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strong_tag_in_the_list_admits_and_a_weak_one_never_does() {
        let header = IfMatch::parse(r#" "a1", W/"b2" , "c3""#).unwrap();
        assert!(header.admits(r#""a1""#) && header.admits(r#""c3""#));
        assert!(!header.admits(r#""b2""#));
        assert!(!header.admits(r#""zz""#));
        assert!(IfMatch::parse("*").unwrap().admits(r#""anything""#));
        for bad in ["", "a1", r#""a1"#, r#""a"1""#, r#""a1", b2"#, "**"] {
            assert_eq!(IfMatch::parse(bad), None, "{bad}");
        }
    }
}
