//! The response: what the authorizer answers for a decision, in each of the
//! three event shapes.
//!
//! | event | how it is told apart | 401 | 403 | allow |
//! | --- | --- | --- | --- | --- |
//! | REST `TOKEN` | `"type": "TOKEN"` | error `Unauthorized` | IAM policy with Deny | IAM policy |
//! | REST `REQUEST` | `"type": "REQUEST"`, no `version` 2.0 | error `Unauthorized` | IAM policy with Deny | IAM policy |
//! | HTTP API 2.0 | `"version": "2.0"` | simple: `isAuthorized: false`; IAM: error `Unauthorized` | simple: `isAuthorized: false`; IAM: Deny | simple: `isAuthorized: true`; IAM: policy |

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerIamPolicyResponse, ApiGatewayV2CustomAuthorizerSimpleResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use cog_tokens::authorize::context::AuthorizerContext;
use cog_tokens::authorize::routes::RouteRules;
use cog_tokens::authorize::{Decision, Identity};
use serde::Serialize;

use crate::config::HttpResponseFormat;
use crate::request::{stage_prefix, AuthorizerEvent, EventShape};

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

/// Why a policy refuses: this route only, or the caller everywhere.
#[derive(Debug, Clone, Copy)]
enum Refusal<'a> {
    /// A scope this route needs; `resource` is the request refused now.
    Route { resource: &'a str },
    /// The caller itself (its source address): every route of the stage.
    Caller,
}

/// One policy for every route of the stage, so API Gateway may cache it.
/// Allowed: Allow all, then an explicit Deny (which wins) for each rule
/// whose scope the token lacks, and for a route refusal the request refused
/// now (so a 403 never depends on the rules' resources covering its exact
/// path). A refusal about the caller denies the whole stage: a REST `TOKEN`
/// cache is keyed by the token alone, so any Allow would reach every route
/// from any address.
fn policy(
    prefix: &str,
    identity: &Identity,
    rules: &RouteRules,
    refusal: Option<Refusal<'_>>,
) -> ApiGatewayCustomAuthorizerPolicy {
    let statements = match refusal {
        Some(Refusal::Caller) => vec![statement(
            IamPolicyEffect::Deny,
            vec![format!("{prefix}/*")],
        )],
        route => {
            let mut statements = vec![statement(
                IamPolicyEffect::Allow,
                vec![format!("{prefix}/*")],
            )];
            let refused_now = match route {
                Some(Refusal::Route { resource }) => Some(resource.to_owned()),
                _ => None,
            };
            let denied: Vec<String> = rules
                .unmet(&identity.scopes)
                .flat_map(|rule| rule.arn_resources())
                .map(|resource| format!("{prefix}/{resource}"))
                .chain(refused_now)
                .collect();
            if !denied.is_empty() {
                statements.push(statement(IamPolicyEffect::Deny, denied));
            }
            statements
        }
    };
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
        Decision::Allow(identity) | Decision::Forbidden(identity, _) => identity,
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
    let refusal = match decision {
        Decision::Forbidden(_, reason) if reason.is_route_only() => {
            Some(Refusal::Route { resource })
        }
        Decision::Forbidden(..) => Some(Refusal::Caller),
        _ => None,
    };
    let policy = policy(prefix, identity, rules, refusal);
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
