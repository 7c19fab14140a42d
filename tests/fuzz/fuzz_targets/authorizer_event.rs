//! The authorizer's event view and its answers on any JSON: no panic; a
//! refusal never reads as an Allow; a 403 under simple responses is
//! `isAuthorized: false`; an IAM answer always names a resource of this API.
#![no_main]

use std::sync::OnceLock;

use authorizer::config::HttpResponseFormat;
use authorizer::request::AuthorizerEvent;
use authorizer::response::{respond, AuthorizerResponse};
use cog_tokens::authorize::{Decision, DenyReason, ForbidReason, Identity};
use cog_tokens::records::{OrgMembership, Owner};
use cog_tokens::authorize::routes::RouteRules;
use cog_tokens::{extract_bearer, PlainToken};
use libfuzzer_sys::fuzz_target;

fn rules() -> &'static RouteRules {
    static RULES: OnceLock<RouteRules> = OnceLock::new();
    RULES.get_or_init(|| {
        RouteRules::from_json(
            r#"[{"method": "GET", "path": "/v1/orgs/*/sessions", "scope": "sessions:read"},
                {"method": "*", "path": "/v1/admin/**", "scope": "admin"}]"#,
        )
        .unwrap_or_default()
    })
}

fn identity() -> Identity {
    Identity {
        owner: Owner::user("u_fuzz"),
        token_id: "0123456789abcdef".parse().unwrap_or_else(|_| unreachable!()),
        scopes: vec!["sessions:read".into()],
        orgs: vec![OrgMembership {
            org_id: "acme".into(),
            role: "member".into(),
        }],
        usage_key: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = AuthorizerEvent::from_json(text) else {
        return;
    };
    let Ok(shape) = event.shape() else {
        return;
    };
    if let Some(header) = event.authorization(shape) {
        if let Ok(credential) = extract_bearer(header) {
            let _ = PlainToken::parse(credential);
        }
    }
    let _ = event.route(shape);
    let _ = event.source(shape);
    let decisions = [
        Decision::Allow(identity()),
        Decision::Forbidden(identity(), ForbidReason::MissingScope),
        Decision::Unauthorized(DenyReason::UnknownToken),
    ];
    for decision in &decisions {
        for format in [HttpResponseFormat::Simple, HttpResponseFormat::Iam] {
            let Ok(answer) = respond(&event, shape, decision, rules(), format) else {
                continue;
            };
            match (&answer, decision) {
                (AuthorizerResponse::HttpSimple(simple), Decision::Allow(_)) => {
                    assert!(simple.is_authorized);
                }
                (AuthorizerResponse::HttpSimple(simple), _) => {
                    assert!(!simple.is_authorized);
                    assert!(simple.context.is_none());
                }
                (_, Decision::Unauthorized(_)) => panic!("a refusal became a policy"),
                _ => {
                    let json = serde_json::to_value(&answer).unwrap_or_default();
                    let allow = &json["policyDocument"]["Statement"][0]["Resource"][0];
                    assert!(allow.as_str().is_some_and(|r| r.ends_with("/*")));
                }
            }
        }
    }
});
