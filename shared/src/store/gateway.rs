//! API Gateway's authorizer caches, as a port: a whole stage is all that can
//! be flushed (HTTP APIs `ResetAuthorizersCache`, REST
//! `FlushStageAuthorizersCache`), under the account's control-plane quota.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use crate::records::Timestamp;
use crate::token::TokenId;

use super::StoreError;

/// A stage whose authorizer cache may hold this system's answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stage {
    Http { api_id: String, stage: String },
    Rest { api_id: String, stage: String },
}

impl FromStr for Stage {
    type Err = String;

    /// `http:<api id>/<stage>` or `rest:<api id>/<stage>`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}`: expected http:<api id>/<stage> or rest:<api id>/<stage>");
        let (kind, rest) = text.split_once(':').ok_or_else(bad)?;
        let (api_id, stage) = rest.split_once('/').ok_or_else(bad)?;
        if api_id.is_empty() || stage.is_empty() || stage.contains('/') {
            return Err(bad());
        }
        let (api_id, stage) = (api_id.to_owned(), stage.to_owned());
        match kind {
            "http" => Ok(Self::Http { api_id, stage }),
            "rest" => Ok(Self::Rest { api_id, stage }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { api_id, stage } => write!(f, "http:{api_id}/{stage}"),
            Self::Rest { api_id, stage } => write!(f, "rest:{api_id}/{stage}"),
        }
    }
}

/// Why a flush did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    /// The control plane's quota (429): try again later.
    #[error("throttled")]
    Throttled,
    /// No such API or stage: a configuration fault, not worth retrying.
    #[error("no such stage")]
    NotFound,
    #[error("flush failed: {0}")]
    Failed(String),
}

#[async_trait]
pub trait GatewayCache: Send + Sync {
    /// Drops every cached authorizer answer of `stage`.
    async fn flush(&self, stage: &Stage) -> Result<(), FlushError>;
}

/// Credential ends no write marks (a rotation's grace running out), kept
/// so the scheduled invalidator can flush the gateway when they come.
#[async_trait]
pub trait FlushSchedule: Send + Sync {
    /// Records that `id` stops being valid at `at`.
    async fn schedule_end(&self, id: &TokenId, at: Timestamp) -> Result<(), StoreError>;

    /// The ends recorded in `[from, to]`, earliest first.
    async fn scheduled_ends(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, TokenId)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_read_and_print_as_configured() {
        for text in ["http:a1b2c3/$default", "rest:r9/prod"] {
            assert_eq!(text.parse::<Stage>().unwrap().to_string(), text);
        }
        for bad in ["a1/$default", "http:a1", "ws:a1/x", "http:/x", "http:a/b/c"] {
            assert!(bad.parse::<Stage>().is_err(), "{bad}");
        }
    }
}
