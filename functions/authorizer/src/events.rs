//! The three event shapes API Gateway sends a Lambda authorizer, and the
//! answer each expects.
//!
//! | event | how it is told apart | 401 | 403 | allow |
//! | --- | --- | --- | --- | --- |
//! | REST `TOKEN` | `"type": "TOKEN"` | error `Unauthorized` | IAM policy with Deny | IAM policy |
//! | REST `REQUEST` | `"type": "REQUEST"`, no `version` 2.0 | error `Unauthorized` | IAM policy with Deny | IAM policy |
//! | HTTP API 2.0 | `"version": "2.0"` | simple: `isAuthorized: false`; IAM: error `Unauthorized` | simple: `isAuthorized: false`; IAM: Deny | simple: `isAuthorized: true`; IAM: policy |

use std::borrow::Cow;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerIamPolicyResponse, ApiGatewayV2CustomAuthorizerSimpleResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use cog_tokens::authorize::{Decision, Identity, Route};
use cog_tokens::routes::RouteRules;
use serde::{Deserialize, Serialize};

/// How an HTTP API (payload 2.0) authorizer answers; REST always uses IAM policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpResponseFormat {
    Simple,
    Iam,
}

impl std::str::FromStr for HttpResponseFormat {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "simple" => Ok(Self::Simple),
            "iam" => Ok(Self::Iam),
            other => Err(format!("`{other}`: expected simple or iam")),
        }
    }
}

/// An event this function cannot read.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not JSON of a known authorizer shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported authorizer event (type {kind:?}, version {version:?})")]
    Unsupported {
        kind: Option<String>,
        version: Option<String>,
    },
}

/// Which of the three shapes an event has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventShape {
    RestToken,
    RestRequest,
    HttpV2,
}

/// One incoming authorizer event, read as just the few fields a decision
/// needs; everything else in the JSON is skipped without being built. The
/// Lambda runtime deserializes it straight from the invocation body.
///
/// Deserializing the full `aws_lambda_events` request types costs 7–10 µs a
/// REQUEST event (mostly building `http::HeaderMap`s), more than this
/// function's whole per-event budget, so they are not used on the hot path.
/// A test reads every sample event through both and requires the same
/// shape, credential and route.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    version: Option<String>,
    authorization_token: Option<String>,
    method_arn: Option<String>,
    route_arn: Option<String>,
    http_method: Option<String>,
    path: Option<String>,
    raw_path: Option<String>,
    headers: Option<AuthorizationHeaders>,
    multi_value_headers: Option<AuthorizationHeaders>,
    request_context: Option<RequestContext>,
}

impl std::fmt::Debug for AuthorizerEvent {
    // Never print the credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizerEvent")
            .field("type", &self.kind)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
struct RequestContext {
    http: Option<HttpDescription>,
}

#[derive(Deserialize, Default)]
struct HttpDescription {
    method: Option<String>,
}

/// The `Authorization` values of a header map (any letter case), counting
/// each value so that two of them can be refused. Other headers are skipped.
#[derive(Default)]
struct AuthorizationHeaders {
    first: Option<String>,
    count: usize,
}

impl<'de> Deserialize<'de> for AuthorizationHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> serde::de::Visitor<'de> for HeadersVisitor {
    type Value = AuthorizationHeaders;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of headers")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut found = AuthorizationHeaders::default();
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if !name.eq_ignore_ascii_case("authorization") {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let values = map.next_value::<HeaderValues>()?;
            found.count += values.0.len();
            if found.first.is_none() {
                found.first = values.0.into_iter().next();
            }
        }
        Ok(found)
    }
}

/// A header's values: `"v"` (REST `headers`), `["v", …]` (`multiValueHeaders`) or null.
struct HeaderValues(Vec<String>);

impl<'de> Deserialize<'de> for HeaderValues {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(HeaderValuesVisitor)
    }
}

struct HeaderValuesVisitor;

impl<'de> serde::de::Visitor<'de> for HeaderValuesVisitor {
    type Value = HeaderValues;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a header value, a list of them, or null")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(HeaderValues(vec![value.to_owned()]))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(HeaderValues(Vec::new()))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(HeaderValues(Vec::new()))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element::<String>()? {
            values.push(value);
        }
        Ok(HeaderValues(values))
    }
}

impl AuthorizerEvent {
    pub fn from_json(raw: &str) -> Result<Self, EventError> {
        Ok(serde_json::from_str(raw)?)
    }

    /// Which shape this is, from `type` and `version`.
    pub fn shape(&self) -> Result<EventShape, EventError> {
        match (self.kind.as_deref(), self.version.as_deref()) {
            (_, Some("2.0")) => Ok(EventShape::HttpV2),
            (Some("TOKEN"), _) => Ok(EventShape::RestToken),
            // HTTP API payload 1.0 is the REST REQUEST shape.
            (Some("REQUEST"), None | Some("1.0")) => Ok(EventShape::RestRequest),
            (kind, version) => Err(EventError::Unsupported {
                kind: kind.map(str::to_owned),
                version: version.map(str::to_owned),
            }),
        }
    }

    /// The `Authorization` header value. Two such values are ambiguous: none.
    pub fn authorization(&self, shape: EventShape) -> Option<&str> {
        if shape == EventShape::RestToken {
            return self.authorization_token.as_deref();
        }
        let headers = self.headers.as_ref()?;
        let multi_count = self.multi_value_headers.as_ref().map_or(0, |m| m.count);
        if headers.count != 1 || multi_count > 1 {
            return None;
        }
        headers.first.as_deref()
    }

    /// The method and path the request is for.
    pub fn route(&self, shape: EventShape) -> Option<Route<'_>> {
        match shape {
            EventShape::RestToken => route_from_arn(self.method_arn.as_deref()?),
            EventShape::RestRequest => Some(Route {
                method: self.http_method.as_deref()?,
                path: self.path.as_deref()?,
            }),
            EventShape::HttpV2 => Some(Route {
                method: self
                    .request_context
                    .as_ref()?
                    .http
                    .as_ref()?
                    .method
                    .as_deref()?,
                path: self.raw_path.as_deref()?,
            }),
        }
    }

    /// `methodArn` (REST) or `routeArn` (HTTP API).
    fn resource_arn(&self, shape: EventShape) -> Option<&str> {
        match shape {
            EventShape::HttpV2 => self.route_arn.as_deref(),
            _ => self.method_arn.as_deref(),
        }
    }
}

/// `arn:…:api-id/stage/METHOD/path…` → METHOD and `/path…`.
fn route_from_arn(arn: &str) -> Option<Route<'_>> {
    let mut slashes = arn.match_indices('/').map(|(i, _)| i);
    let (_, method_start, path_start) = (slashes.next()?, slashes.next()? + 1, slashes.next()?);
    Some(Route {
        method: &arn[method_start..path_start],
        path: &arn[path_start..],
    })
}

/// `arn:…:api-id/stage/…` → `arn:…:api-id/stage`: the part every route of the stage shares.
fn stage_prefix(arn: &str) -> Option<&str> {
    let second_slash = arn.match_indices('/').nth(1)?.0;
    Some(&arn[..second_slash])
}

/// The context downstream services read (`$context.authorizer.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerContext {
    pub principal_type: String,
    pub principal_id: String,
    pub token_id: String,
    pub auth_method: String,
    /// Space-separated.
    pub scopes: String,
    /// `org:role` pairs joined by `,`; see `Identity::orgs_text`.
    pub orgs: String,
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

/// What the function answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AuthorizerResponse {
    Rest(ApiGatewayCustomAuthorizerResponse<AuthorizerContext>),
    HttpIam(ApiGatewayV2CustomAuthorizerIamPolicyResponse<AuthorizerContext>),
    HttpSimple(ApiGatewayV2CustomAuthorizerSimpleResponse<Option<AuthorizerContext>>),
}

/// Not an answer: 401 through API Gateway's `Unauthorized` error, or a fault (500).
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerFailure {
    #[error("Unauthorized")]
    Unauthorized,
    #[error("authorizer fault")]
    Fault,
}

impl From<AuthorizerFailure> for lambda_runtime::Diagnostic {
    fn from(failure: AuthorizerFailure) -> Self {
        let kind = match failure {
            AuthorizerFailure::Unauthorized => "Unauthorized",
            AuthorizerFailure::Fault => "AuthorizerFault",
        };
        Self {
            error_type: kind.to_owned(),
            error_message: failure.to_string(),
        }
    }
}

fn statement(effect: IamPolicyEffect, resource: Vec<String>) -> IamPolicyStatement {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = effect;
    statement.resource = resource;
    statement
}

/// One policy for every route of the stage, so API Gateway may cache it:
/// Allow all, then an explicit Deny (which wins) for each rule whose scope
/// the token lacks, and for `forbidden`, the request refused now (so a 403
/// never depends on the rules' resources covering its exact path).
fn policy(
    prefix: &str,
    identity: &Identity,
    rules: &RouteRules,
    forbidden: Option<&str>,
) -> ApiGatewayCustomAuthorizerPolicy {
    let mut statements = vec![statement(
        IamPolicyEffect::Allow,
        vec![format!("{prefix}/*")],
    )];
    let denied: Vec<String> = rules
        .unmet(&identity.scopes)
        .flat_map(|rule| rule.arn_resources())
        .map(|resource| format!("{prefix}/{resource}"))
        .chain(forbidden.map(str::to_owned))
        .collect();
    if !denied.is_empty() {
        statements.push(statement(IamPolicyEffect::Deny, denied));
    }
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = statements;
    policy
}

/// The answer to `event` for `decision`.
pub fn respond(
    event: &AuthorizerEvent,
    shape: EventShape,
    decision: &Decision,
    rules: &RouteRules,
    format: HttpResponseFormat,
) -> Result<AuthorizerResponse, AuthorizerFailure> {
    let simple = shape == EventShape::HttpV2 && format == HttpResponseFormat::Simple;
    let identity = match decision {
        Decision::Unauthorized(_) if simple => {
            return Ok(AuthorizerResponse::HttpSimple(simple_response(false, None)))
        }
        Decision::Unauthorized(_) => return Err(AuthorizerFailure::Unauthorized),
        Decision::Allow(identity) | Decision::Forbidden(identity) => identity,
    };
    let context = AuthorizerContext::from(identity);
    if simple {
        let allowed = matches!(decision, Decision::Allow(_));
        return Ok(AuthorizerResponse::HttpSimple(simple_response(
            allowed,
            allowed.then_some(context),
        )));
    }
    // Without the resource ARN no correct policy can be written: fail closed.
    let resource = event.resource_arn(shape).ok_or(AuthorizerFailure::Fault)?;
    let prefix = stage_prefix(resource).ok_or(AuthorizerFailure::Fault)?;
    let forbidden = matches!(decision, Decision::Forbidden(_)).then_some(resource);
    let policy = policy(prefix, identity, rules, forbidden);
    let principal_id = Some(identity.owner.to_string());
    Ok(match shape {
        EventShape::HttpV2 => {
            let mut response = ApiGatewayV2CustomAuthorizerIamPolicyResponse::default();
            response.principal_id = principal_id;
            response.policy_document = policy;
            response.context = context;
            AuthorizerResponse::HttpIam(response)
        }
        _ => {
            let mut response = ApiGatewayCustomAuthorizerResponse::default();
            response.principal_id = principal_id;
            response.policy_document = policy;
            response.context = context;
            AuthorizerResponse::Rest(response)
        }
    })
}

fn simple_response(
    allowed: bool,
    context: Option<AuthorizerContext>,
) -> ApiGatewayV2CustomAuthorizerSimpleResponse<Option<AuthorizerContext>> {
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    response.is_authorized = allowed;
    response.context = context;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_split_into_stage_method_and_path() {
        let arn =
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/v1/orgs/acme/sessions";
        let route = route_from_arn(arn).unwrap();
        assert_eq!(
            (route.method, route.path),
            ("GET", "/v1/orgs/acme/sessions")
        );
        assert_eq!(
            stage_prefix(arn),
            Some("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod")
        );
        let root = route_from_arn("arn:aws:execute-api:r:1:a/prod/GET/").unwrap();
        assert_eq!((root.method, root.path), ("GET", "/"));
        assert!(route_from_arn("arn:aws:execute-api:r:1:a/prod").is_none());
        assert!(stage_prefix("no-slashes").is_none());
    }
}
