//! The authorizer context: what the token authorizer passes downstream
//! (`$context.authorizer.*`, or `requestContext.authorizer.lambda` in an HTTP
//! API payload). The authorizer writes it; backends such as `whoami` read it,
//! and the management functions refuse any request that carries it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::authorize::Identity;

/// Every value is a string: API Gateway passes only strings, numbers and
/// booleans, and backends should not guess at types (docs/authorizer.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerContext {
    /// `user` or `service_user`.
    pub principal_type: String,
    pub principal_id: String,
    pub token_id: String,
    /// `pat` or `service_key`.
    pub auth_method: String,
    /// Space-separated.
    pub scopes: String,
    /// `org:role` pairs joined by `,`; see `Identity::orgs_text`.
    pub orgs: String,
}

impl AuthorizerContext {
    /// The field names, as they appear downstream.
    pub const FIELDS: [&'static str; 6] = [
        "principal_type",
        "principal_id",
        "token_id",
        "auth_method",
        "scopes",
        "orgs",
    ];

    /// The context among an authorizer's context fields, when every field
    /// is there as a string; other fields are ignored.
    pub fn from_fields(fields: &HashMap<String, Value>) -> Option<Self> {
        let only_ours: serde_json::Map<String, Value> = Self::FIELDS
            .iter()
            .map(|name| Some(((*name).to_owned(), fields.get(*name)?.clone())))
            .collect::<Option<_>>()?;
        serde_json::from_value(Value::Object(only_ours)).ok()
    }

    /// Whether `fields` carry any part of a token authorizer's context. A
    /// partial context still means the request came with a token.
    pub fn is_in(fields: &HashMap<String, Value>) -> bool {
        Self::FIELDS.iter().any(|name| fields.contains_key(*name))
    }
}

impl From<&Identity> for AuthorizerContext {
    fn from(identity: &Identity) -> Self {
        Self {
            principal_type: identity.owner.kind.as_str().to_owned(),
            principal_id: identity.owner.id.clone(),
            token_id: identity.token_id.to_string(),
            auth_method: identity.auth_method().to_owned(),
            scopes: identity.scopes_text(),
            orgs: identity.orgs_text(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> HashMap<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_field_list_is_what_serializes() {
        let written = serde_json::to_value(AuthorizerContext::default()).unwrap();
        let mut names: Vec<&str> = written
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut listed = AuthorizerContext::FIELDS.to_vec();
        names.sort_unstable();
        listed.sort_unstable();
        assert_eq!(names, listed);
    }

    #[test]
    fn a_context_reads_back_and_a_partial_one_is_still_seen() {
        let context = AuthorizerContext {
            principal_type: "user".into(),
            principal_id: "alice".into(),
            token_id: "0123456789ABCDEF".into(),
            auth_method: "pat".into(),
            scopes: "tokens:read".into(),
            orgs: "acme:admin".into(),
        };
        let mut written = serde_json::to_value(&context).unwrap();
        written["other"] = "x".into();
        let written = fields(written);
        assert_eq!(AuthorizerContext::from_fields(&written), Some(context));
        assert!(AuthorizerContext::is_in(&written));

        let partial = fields(serde_json::json!({"auth_method": "pat"}));
        assert_eq!(AuthorizerContext::from_fields(&partial), None);
        assert!(AuthorizerContext::is_in(&partial));
        let mistyped = fields(serde_json::json!({
            "principal_type": "user", "principal_id": 7, "token_id": "t",
            "auth_method": "pat", "scopes": "", "orgs": ""
        }));
        assert_eq!(AuthorizerContext::from_fields(&mistyped), None);
        assert!(!AuthorizerContext::is_in(&fields(
            serde_json::json!({"sub": "alice"})
        )));
    }
}
