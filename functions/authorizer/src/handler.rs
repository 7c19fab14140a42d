//! One invocation: event JSON in, decision out. Testable without the runtime.

use cog_tokens::authorize::{Authorizer, Decision};
use cog_tokens::logging::Causes;
use cog_tokens::records::Timestamp;
use cog_tokens::store::feed::RevocationFeed;
use cog_tokens::store::pepper::PepperSource;
use cog_tokens::store::{CredentialLookup, TokenStore};

use std::time::Instant;

use crate::config::HttpResponseFormat;
use crate::metrics::{self, Outcome};
use crate::request::{AuthorizerEvent, EventError};
use crate::response::{respond, AuthorizerFailure, AuthorizerResponse};
use crate::usage_plans::UsagePlanKeys;

/// What the function keeps between invocations.
#[derive(Debug)]
pub struct AuthorizerState<S, P> {
    pub authorizer: Authorizer<S, P>,
    pub http_format: HttpResponseFormat,
    pub usage_plans: UsagePlanKeys,
}

/// Answers one event given as JSON text: the entry for tests, benchmarks
/// and tools; the Lambda runtime deserializes events itself (`handle_event`).
pub async fn handle_json_event<S, P>(
    state: &AuthorizerState<S, P>,
    raw_event: &str,
    now: Timestamp,
) -> Result<AuthorizerResponse, AuthorizerFailure>
where
    S: CredentialLookup + TokenStore + RevocationFeed + 'static,
    P: PepperSource,
{
    let event = match AuthorizerEvent::from_json(raw_event) {
        Ok(event) => event,
        Err(error) => {
            metrics::flush_if_due(now.0);
            metrics::record(Outcome::Fault, None, now.0);
            return Err(unreadable(&error));
        }
    };
    handle_event(state, &event, now).await
}

/// Answers one event the runtime has deserialized. Every fault becomes
/// `AuthorizerFailure::Fault` (API Gateway answers 500), logged without the token.
/// The decision is counted in the process's metrics ([`metrics`]), which
/// are flushed here first when their interval has passed.
pub async fn handle_event<S, P>(
    state: &AuthorizerState<S, P>,
    event: &AuthorizerEvent,
    now: Timestamp,
) -> Result<AuthorizerResponse, AuthorizerFailure>
where
    S: CredentialLookup + TokenStore + RevocationFeed + 'static,
    P: PepperSource,
{
    metrics::flush_if_due(now.0);
    let started = Instant::now();
    let (outcome, answer) = decide(state, event, now).await;
    metrics::record(outcome, Some(started.elapsed()), now.0);
    answer
}

/// The decision and its answer.
async fn decide<S, P>(
    state: &AuthorizerState<S, P>,
    event: &AuthorizerEvent,
    now: Timestamp,
) -> (Outcome, Result<AuthorizerResponse, AuthorizerFailure>)
where
    S: CredentialLookup + TokenStore + RevocationFeed + 'static,
    P: PepperSource,
{
    let shape = match event.shape() {
        Ok(shape) => shape,
        Err(error) => return (Outcome::Fault, Err(unreadable(&error))),
    };
    let decision = state
        .authorizer
        .authorize(
            event.authorization(shape),
            event.route(shape),
            event.source(shape),
            now,
        )
        .await;
    let decision = match decision {
        Ok(decision) => decision,
        Err(error) => {
            tracing::error!(error = %Causes(&error), "authorizer fault: failing closed");
            return (Outcome::Fault, Err(AuthorizerFailure::Fault));
        }
    };
    match &decision {
        Decision::Allow(identity) => {
            tracing::debug!(token_id = %identity.token_id, principal = %identity.owner, "allowed")
        }
        Decision::Forbidden(identity, reason) => {
            tracing::info!(token_id = %identity.token_id, principal = %identity.owner, ?reason, "forbidden")
        }
        Decision::Unauthorized(reason) => tracing::info!(?reason, "unauthorized"),
    }
    let mut answer = respond(
        event,
        shape,
        &decision,
        state.authorizer.route_rules(),
        state.http_format,
    );
    // Apart from `respond`, which stays as small as before for the
    // compiler to inline (docs/performance.md).
    if state.usage_plans.is_on() {
        if let (
            Ok(AuthorizerResponse::Rest(rest)),
            Decision::Allow(identity) | Decision::Forbidden(identity, _),
        ) = (&mut answer, &decision)
        {
            rest.usage_identifier_key = state.usage_plans.key_for(identity);
        }
    }
    // A REST 401 is an `Err(Unauthorized)` answer, so only `Fault` is one.
    let outcome = match (&answer, &decision) {
        (Err(AuthorizerFailure::Fault), _) => Outcome::Fault,
        (_, Decision::Allow(_)) => Outcome::Allow,
        (_, Decision::Forbidden(_, reason)) => Outcome::Forbidden(*reason),
        (_, Decision::Unauthorized(reason)) => Outcome::Unauthorized(*reason),
    };
    (outcome, answer)
}

/// Logs an event this function cannot read and fails closed. serde's
/// messages can quote input values, so only the position is logged.
fn unreadable(error: &EventError) -> AuthorizerFailure {
    match error {
        EventError::Json(json) => tracing::error!(
            category = ?json.classify(),
            line = json.line(),
            column = json.column(),
            "unreadable authorizer event"
        ),
        EventError::Unsupported { kind, version } => {
            tracing::error!(?kind, ?version, "unsupported authorizer event")
        }
    }
    AuthorizerFailure::Fault
}
