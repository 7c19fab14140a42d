//! Route-rule configuration and matching on any input: no panic, and a
//! request a rule matches is covered by that rule's IAM Deny resources.
//! Input: rules JSON, NUL, method, NUL, path.
#![no_main]

use cog_tokens::authorize::routes::RouteRules;
use libfuzzer_sys::fuzz_target;

/// IAM's resource glob: `*` is any run of characters (`/` included), `?`
/// one. Greedy with one backtrack point: linear, whatever the input.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let (Some(json), Some(method), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(rules) = RouteRules::from_json(json) else {
        return;
    };
    let needed = rules.required_scopes(method, path).count();
    // API Gateway sends upper-case methods and absolute paths; the ARN
    // holds the path without its leading `/`.
    let plain = |s: &str| !s.is_empty() && !s.contains(['*', '?']);
    let sane = plain(method)
        && method.bytes().all(|b| b.is_ascii_uppercase())
        && path.starts_with('/')
        && !path.contains(['*', '?']);
    if needed == 0 || !sane {
        return;
    }
    let resource = format!("{method}/{}", &path[1..]);
    let denied = rules
        .unmet(&[])
        .flat_map(|rule| rule.arn_resources())
        .any(|pattern| glob(pattern.as_bytes(), resource.as_bytes()));
    assert!(denied, "{method} {path} matches a rule but no Deny covers {resource}");
});
