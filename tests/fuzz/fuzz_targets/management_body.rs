//! The management request bodies and query parameters on any bytes: no
//! panic; every refusal is a 4xx with a stable code, never a 5xx; a body the
//! policy accepts yields a name that parses again to itself.
#![no_main]

use cog_tokens::management::{IssuancePolicy, DEFAULT_SCOPES};
use cog_tokens::records::names::TokenName;
use libfuzzer_sys::fuzz_target;
use management::body::{page_limit, rotation_grace, status_filter, token_request};
use management::Endpoint;

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    Some("Application/JSON; charset=utf-8"),
    Some("text/plain"),
    None,
];

fn policy() -> IssuancePolicy {
    IssuancePolicy {
        scope_catalog: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        default_expiry_days: 30,
        max_expiry_days: 366,
        allow_non_expiring: false,
        max_active_tokens: 50,
        max_rotation_grace_seconds: 3600,
        role_catalog: vec!["admin".into(), "deployer".into(), "viewer".into()],
        max_service_users_per_org: 100,
        max_keys_per_service_user: 10,
        idle_expiry_days: Some(365),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    match token_request(content_type, body) {
        Ok(request) => {
            if let Ok(new) = policy().validate(request) {
                let again = TokenName::parse(new.name.as_str());
                assert_eq!(again.as_ref().map(TokenName::as_str), Ok(new.name.as_str()));
                assert!(!new.scopes.is_empty());
                assert!(new.lifetime_ms.is_some_and(|ms| ms > 0));
            }
        }
        Err(problem) => assert!(problem.status.is_client_error(), "{problem:?}"),
    }
    if let Err(problem) = rotation_grace(content_type, body) {
        assert!(problem.status.is_client_error());
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = status_filter(Some(text));
        let _ = page_limit(Some(text));
        for method in ["GET", "POST", "DELETE"] {
            let method = method.parse().unwrap_or_default();
            if let Some(Endpoint::Get(id) | Endpoint::Rotate(id) | Endpoint::Revoke(id)) =
                Endpoint::parse(&method, text)
            {
                assert!(!id.contains('/'));
            }
        }
    }
});
