//! Logging for every function: JSON lines (CloudWatch adds the time of
//! arrival), level from `RUST_LOG`, default `info`. Nothing logs a token.

/// Installs the process-wide subscriber; call once at cold start.
pub fn init() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .init();
}
