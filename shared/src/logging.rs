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
    "leak_response",
    "lifecycle",
    "event_publisher",
    "expiry_sweep",
    "cache_invalidator",
    "usage_plan_sync",
    "settings_page",
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

    /// Every library and binary of the workspace that logs through this
    /// module (it depends on `cog-tokens`) is an own crate: else its debug
    /// and trace lines stay capped at info whatever `RUST_LOG` says.
    #[test]
    fn every_crate_of_the_workspace_that_logs_here_is_an_own_crate() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let members = manifest
            .lines()
            .find(|line| line.trim_start().starts_with("members"))
            .unwrap()
            .split('"')
            .skip(1)
            .step_by(2);
        let mut missing = Vec::new();
        for member in members {
            let dir = root.join(member);
            let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            if member == "shared" || member == "tests" || !cargo.contains("cog-tokens") {
                continue; // the library itself, the tests, and crates that do not log here
            }
            let package = cargo
                .lines()
                .find_map(|line| line.strip_prefix("name = \""))
                .and_then(|rest| rest.strip_suffix('"'))
                .unwrap()
                .to_owned();
            let mut targets = vec![package];
            if let Ok(bins) = std::fs::read_dir(dir.join("src/bin")) {
                for bin in bins {
                    let path = bin.unwrap().path();
                    targets.push(path.file_stem().unwrap().to_string_lossy().into_owned());
                }
            }
            for target in targets {
                let target = target.replace('-', "_");
                if !OWN_CRATES.contains(&target.as_str()) {
                    missing.push(target);
                }
            }
        }
        assert!(missing.is_empty(), "not in OWN_CRATES: {missing:?}");
    }

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
