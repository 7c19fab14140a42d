//! Logging for every function: JSON lines (CloudWatch adds the time of
//! arrival), level from `RUST_LOG`, default `info`. Nothing logs a token.
//!
//! `RUST_LOG` only lowers the level of this project's own crates. Every other
//! crate is held at `info` or above whatever it says: at debug and trace the
//! Lambda runtime logs whole events (with `Authorization: Bearer cog_…`) and
//! the SDK and HTTP stack log requests and responses.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The crates of this project: the only ones that may log below `info`.
const OWN_CRATES: &[&str] = &[
    "cog_tokens",
    "authorizer",
    "management",
    "account_sync",
    "issue_token",
    "revoke_token",
    "whoami",
    "cogadmin",
];

/// An error and its causes, `outer: inner: innermost`, for a log field:
/// `tracing::error!(error = %Causes(&error), ...)`.
#[derive(Debug, Clone, Copy)]
pub struct Causes<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Installs the process-wide subscriber; call once at cold start.
pub fn init() {
    let requested = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_filter(requested.and(ceiling())),
        )
        .init();
}

/// The most any target may log: everything for this project's crates,
/// `info` for the rest.
fn ceiling() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_targets(OWN_CRATES.iter().map(|name| (*name, LevelFilter::TRACE)))
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;
    use crate::management::ManagementError;
    use crate::store::pepper::PepperError;
    use crate::store::StoreError;

    #[test]
    fn causes_name_every_error_in_the_chain_once() {
        let error = ManagementError::from(PepperError::Store(StoreError::Unavailable(
            "service error ThrottlingException".into(),
        )));
        let ManagementError::Unavailable(cause) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(
            Causes(cause).to_string(),
            "pepper storage failed: storage unavailable: service error ThrottlingException"
        );
        assert_eq!(
            Causes(&error).to_string(),
            "service unavailable: pepper storage failed: storage unavailable: service error ThrottlingException"
        );
    }

    #[test]
    fn dependencies_never_log_below_info_and_own_crates_may() {
        let ceiling = ceiling();
        for target in [
            "lambda_runtime",
            "lambda_runtime::layers::trace",
            "lambda_http",
            "aws_smithy_runtime::client::http",
            "aws_sdk_dynamodb",
            "hyper_util::client",
            "rustls",
        ] {
            assert!(!ceiling.would_enable(target, &Level::DEBUG), "{target}");
            assert!(ceiling.would_enable(target, &Level::INFO), "{target}");
        }
        for target in [
            "cog_tokens::authorize",
            "authorizer::handler",
            "issue_token",
        ] {
            assert!(ceiling.would_enable(target, &Level::TRACE), "{target}");
        }
    }
}
