//! Settings read once from the environment at cold start.

/// A required environment variable is missing or unusable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// A required, non-empty variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        Ok(_) => Err(ConfigError {
            name,
            problem: "is empty".into(),
        }),
        Err(_) => Err(ConfigError {
            name,
            problem: "is not set".into(),
        }),
    }
}

/// An optional variable parsed as `T`, with a default.
pub fn parsed_or<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => text.trim().parse().map_err(|e: T::Err| ConfigError {
            name,
            problem: format!("cannot parse `{text}`: {e}"),
        }),
    }
}
