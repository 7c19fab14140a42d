//! Route rules: which scope a token needs for a method and path.
//!
//! Configured as JSON, for example
//! `[{"method": "GET", "path": "/v1/orgs/*/sessions", "scope": "sessions:read"}]`.
//! `method` is an HTTP method or `*`; in `path`, `*` or `{name}` matches one
//! segment and a final `**` matches the rest. A request needs the scopes of
//! every rule it matches; a request that matches none needs no scope.

use serde::Deserialize;

/// A route rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteRuleError {
    #[error("route rules are not valid JSON: {0}")]
    Json(String),
    #[error("route rule {index}: {problem}")]
    Invalid { index: usize, problem: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

/// One rule: requests matching `method` and `path` need `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    method: Option<String>,
    segments: Vec<Segment>,
    pub scope: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    method: String,
    path: String,
    scope: String,
}

impl RouteRule {
    fn matches(&self, method: &str, path: &str) -> bool {
        if let Some(wanted) = &self.method {
            if !wanted.eq_ignore_ascii_case(method) {
                return false;
            }
        }
        // One leading `/`, as in the execute-API ARN the Deny is written
        // for: `//v1/x` is not `/v1/x` here, nor in IAM.
        let Some(path) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = path.split('/');
        for segment in &self.segments {
            match (segment, parts.next()) {
                (Segment::Rest, _) => return true,
                (_, None) => return false,
                (Segment::One, Some(part)) => {
                    if part.is_empty() {
                        return false;
                    }
                }
                (Segment::Literal(literal), Some(part)) => {
                    if literal != part {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
    }

    /// The rule as execute-API resource suffixes, `METHOD/path`, with `*`
    /// for variable parts, covering every path the rule matches: a final
    /// `**` also matches the bare prefix (`/v1/admin/**` matches
    /// `/v1/admin`), so that prefix is a resource of its own. IAM's `*` also
    /// crosses `/`, so the resources can be broader than the rule, never
    /// narrower: a Deny built from them errs on the side of refusing.
    pub fn arn_resources(&self) -> Vec<String> {
        let method = self.method.as_deref().unwrap_or("*");
        let path: Vec<&str> = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => text.as_str(),
                Segment::One | Segment::Rest => "*",
            })
            .collect();
        let mut resources = vec![format!("{method}/{}", path.join("/"))];
        if let [prefix @ .., Segment::Rest] = self.segments.as_slice() {
            let bare = format!("{method}/{}", path[..prefix.len()].join("/"));
            resources.push(bare);
        }
        resources
    }
}

/// Every configured rule. Empty: scopes are not checked per route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteRules(Vec<RouteRule>);

impl RouteRules {
    pub fn from_json(text: &str) -> Result<Self, RouteRuleError> {
        let raw: Vec<RawRule> =
            serde_json::from_str(text).map_err(|e| RouteRuleError::Json(e.to_string()))?;
        raw.into_iter()
            .enumerate()
            .map(|(index, rule)| parse_rule(index, rule))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes a request needs.
    pub fn required_scopes<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |rule| rule.matches(method, path))
            .map(|rule| rule.scope.as_str())
    }

    /// The rules whose scope is missing from `scopes`.
    pub fn unmet<'a>(&'a self, scopes: &'a [String]) -> impl Iterator<Item = &'a RouteRule> + 'a {
        self.0
            .iter()
            .filter(move |rule| !scopes.contains(&rule.scope))
    }
}

fn parse_rule(index: usize, rule: RawRule) -> Result<RouteRule, RouteRuleError> {
    let invalid = |problem: &str| RouteRuleError::Invalid {
        index,
        problem: problem.to_owned(),
    };
    let method = match rule.method.trim() {
        "*" | "ANY" => None,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(m.to_ascii_uppercase())
        }
        _ => return Err(invalid("method must be an HTTP method, ANY or *")),
    };
    if !rule.path.starts_with('/') {
        return Err(invalid("path must start with /"));
    }
    if rule.scope.trim().is_empty() || rule.scope.contains(char::is_whitespace) {
        return Err(invalid("scope must be one non-empty word"));
    }
    let parts: Vec<&str> = rule.path.trim_start_matches('/').split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    for (position, part) in parts.iter().enumerate() {
        let segment = match *part {
            "**" if position + 1 == parts.len() => Segment::Rest,
            "**" => return Err(invalid("** may only end a path")),
            "*" => Segment::One,
            p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => Segment::One,
            p if p.contains(['*', '{', '}']) => {
                return Err(invalid("wildcards must be whole segments"))
            }
            p => Segment::Literal(p.to_owned()),
        };
        segments.push(segment);
    }
    Ok(RouteRule {
        method,
        segments,
        scope: rule.scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `route_rules` fuzz target: a rule matched `//v1/x`, a
    /// path its IAM resource (`POST/v1/*`) does not cover.
    #[test]
    fn only_one_leading_slash_is_a_path_start() {
        let rules = RouteRules::from_json(r#"[{"method": "POST", "path": "/v1/*", "scope": "w"}]"#)
            .unwrap();
        assert_eq!(rules.required_scopes("POST", "/v1/x").count(), 1);
        assert_eq!(rules.required_scopes("POST", "//v1/x").count(), 0);
        assert_eq!(rules.required_scopes("POST", "v1/x").count(), 0);
    }

    fn rules() -> RouteRules {
        RouteRules::from_json(
            r#"[
                {"method": "GET", "path": "/v1/orgs/{org}/sessions", "scope": "sessions:read"},
                {"method": "POST", "path": "/v1/orgs/*/sessions", "scope": "sessions:write"},
                {"method": "*", "path": "/v1/admin/**", "scope": "admin"}
            ]"#,
        )
        .unwrap()
    }

    fn needed(method: &str, path: &str) -> Vec<String> {
        rules()
            .required_scopes(method, path)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn rules_match_method_and_segments() {
        assert_eq!(
            needed("GET", "/v1/orgs/acme/sessions"),
            vec!["sessions:read"]
        );
        assert_eq!(
            needed("get", "/v1/orgs/acme/sessions"),
            vec!["sessions:read"]
        );
        assert_eq!(
            needed("POST", "/v1/orgs/acme/sessions"),
            vec!["sessions:write"]
        );
        assert!(needed("DELETE", "/v1/orgs/acme/sessions").is_empty());
        assert!(needed("GET", "/v1/orgs/acme/sessions/extra").is_empty());
        assert!(needed("GET", "/v1/orgs//sessions").is_empty());
        assert_eq!(needed("PUT", "/v1/admin/users/1"), vec!["admin"]);
        assert_eq!(needed("GET", "/v1/admin"), vec!["admin"]);
        assert!(needed("GET", "/v1/other").is_empty());
    }

    #[test]
    fn unmet_rules_are_those_whose_scope_is_missing() {
        let rules = rules();
        let scopes = vec!["sessions:read".to_owned()];
        let unmet: Vec<_> = rules
            .unmet(&scopes)
            .flat_map(RouteRule::arn_resources)
            .collect();
        assert_eq!(
            unmet,
            vec!["POST/v1/orgs/*/sessions", "*/v1/admin/*", "*/v1/admin"]
        );
    }

    #[test]
    fn bad_rules_are_refused_with_their_index() {
        for (text, index) in [
            (r#"[{"method": "GET", "path": "v1", "scope": "s"}]"#, 0),
            (
                r#"[{"method": "GET", "path": "/a", "scope": "s"}, {"method": "G T", "path": "/a", "scope": "s"}]"#,
                1,
            ),
            (r#"[{"method": "GET", "path": "/a/**/b", "scope": "s"}]"#, 0),
            (r#"[{"method": "GET", "path": "/a/b*", "scope": "s"}]"#, 0),
            (
                r#"[{"method": "GET", "path": "/a", "scope": "two words"}]"#,
                0,
            ),
        ] {
            assert!(
                matches!(RouteRules::from_json(text), Err(RouteRuleError::Invalid { index: i, .. }) if i == index),
                "{text}"
            );
        }
        assert!(matches!(
            RouteRules::from_json(r#"[{"method": "GET", "path": "/a", "scope": "s", "extra": 1}]"#),
            Err(RouteRuleError::Json(_))
        ));
    }

    /// IAM's resource wildcards: `*` any run of characters (`/` included), `?` one.
    fn iam_glob(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                iam_glob(&pattern[1..], text) || (!text.is_empty() && iam_glob(pattern, &text[1..]))
            }
            (Some(b'?'), Some(_)) => iam_glob(&pattern[1..], &text[1..]),
            (Some(p), Some(c)) if p == c => iam_glob(&pattern[1..], &text[1..]),
            _ => false,
        }
    }

    /// Every rule shape the tests above use, and then some.
    const RULE_PATHS: &[&str] = &[
        "/v1/admin/**",
        "/**",
        "/v1/orgs/{org}/sessions",
        "/v1/orgs/*/sessions",
        "/v1/orgs/*/**",
        "/v1/*/keys/{id}",
        "/v1/tokens",
        "/v1/admin/",
        "/v1/a/b/c/**",
    ];

    fn segment() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._~-]{1,12}"
    }

    /// A rule, and a path the rule matches built from its shape.
    fn rule_and_matching_path() -> impl Strategy<Value = (String, String, String)> {
        (
            proptest::sample::select(RULE_PATHS),
            proptest::sample::select(&["GET", "POST", "DELETE", "*"][..]),
            proptest::collection::vec(segment(), 8),
            proptest::collection::vec(segment(), 0..4),
            any::<bool>(),
        )
            .prop_map(|(rule, method, fills, rest, trailing_slash)| {
                let mut fills = fills.into_iter();
                let mut parts: Vec<String> = Vec::new();
                for part in rule.trim_start_matches('/').split('/') {
                    match part {
                        "**" => parts.extend(rest.iter().cloned()),
                        "*" => parts.push(fills.next().unwrap_or_default()),
                        p if p.starts_with('{') => parts.push(fills.next().unwrap_or_default()),
                        p => parts.push(p.to_owned()),
                    }
                }
                let mut path = format!("/{}", parts.join("/"));
                if rule.ends_with("/**") && rest.is_empty() && trailing_slash {
                    path.push('/');
                }
                (rule.to_owned(), method.to_owned(), path)
            })
    }

    use proptest::prelude::*;

    proptest! {
        /// The Deny resources cover every request the rule matches.
        #[test]
        fn a_rules_deny_resources_cover_every_path_it_matches(
            (rule, method, path) in rule_and_matching_path(),
            request_method in proptest::sample::select(&["GET", "POST", "DELETE"][..]),
        ) {
            let rules = RouteRules::from_json(&format!(
                r#"[{{"method": "{method}", "path": "{rule}", "scope": "s"}}]"#
            )).unwrap();
            let request_method = if method == "*" { request_method } else { method.as_str() };
            prop_assume!(rules.required_scopes(request_method, &path).next().is_some());
            let route_arn = format!("arn:aws:execute-api:r:1:api/prod/{request_method}{path}");
            let denied = rules.unmet(&[]).flat_map(RouteRule::arn_resources).any(|resource| {
                iam_glob(format!("arn:aws:execute-api:r:1:api/prod/{resource}").as_bytes(), route_arn.as_bytes())
            });
            prop_assert!(denied, "{} {} not denied by rule {} {}", request_method, path, method, rule);
        }
    }
}
