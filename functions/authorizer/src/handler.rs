//! One invocation: event JSON in, decision out. Testable without the runtime.

use cog_tokens::authorize::{Authorizer, Decision};
use cog_tokens::logging::Causes;
use cog_tokens::records::Timestamp;
use cog_tokens::store::feed::RevocationFeed;
use cog_tokens::store::pepper::PepperSource;
use cog_tokens::store::{CredentialLookup, TokenStore};

use crate::config::HttpResponseFormat;
use crate::request::{AuthorizerEvent, EventError};
use crate::response::{respond, AuthorizerFailure, AuthorizerResponse};

/// What the function keeps between invocations.
#[derive(Debug)]
pub struct AuthorizerState<S, P> {
    pub authorizer: Authorizer<S, P>,
    pub http_format: HttpResponseFormat,
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
    let event = AuthorizerEvent::from_json(raw_event).map_err(|e| unreadable(&e))?;
    handle_event(state, &event, now).await
}

/// Answers one event the runtime has deserialized. Every fault becomes
/// `AuthorizerFailure::Fault` (API Gateway answers 500), logged without the token.
pub async fn handle_event<S, P>(
    state: &AuthorizerState<S, P>,
    event: &AuthorizerEvent,
    now: Timestamp,
) -> Result<AuthorizerResponse, AuthorizerFailure>
where
    S: CredentialLookup + TokenStore + RevocationFeed + 'static,
    P: PepperSource,
{
    let shape = event.shape().map_err(|e| unreadable(&e))?;
    let decision = state
        .authorizer
        .authorize(
            event.authorization(shape),
            event.route(shape),
            event.source_ip(shape),
            now,
        )
        .await
        .map_err(|error| {
            tracing::error!(error = %Causes(&error), "authorizer fault: failing closed");
            AuthorizerFailure::Fault
        })?;
    match &decision {
        Decision::Allow(identity) => {
            tracing::debug!(token_id = %identity.token_id, principal = %identity.owner, "allowed")
        }
        Decision::Forbidden(identity, reason) => {
            tracing::info!(token_id = %identity.token_id, principal = %identity.owner, ?reason, "forbidden")
        }
        Decision::Unauthorized(reason) => tracing::info!(?reason, "unauthorized"),
    }
    respond(
        event,
        shape,
        &decision,
        state.authorizer.route_rules(),
        state.http_format,
    )
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
