//! The expiry index's port: tokens by expiry day, and the notices recorded
//! on them (the sweep that uses it is `events::expiry`).

use async_trait::async_trait;

use crate::records::{AuditAction, AuditEvent, Timestamp, TokenRecord, DAY_MS};
use crate::token::TokenId;

use super::StoreError;

/// Who records the notices.
pub const SWEEP_ACTOR: &str = "expiry-sweep";

/// One notice about a token's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpiryNotice {
    SevenDays,
    OneDay,
    Expired,
}

impl ExpiryNotice {
    pub const ALL: [Self; 3] = [Self::SevenDays, Self::OneDay, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevenDays => "expiring_7d",
            Self::OneDay => "expiring_1d",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == text)
    }

    fn action(self) -> AuditAction {
        match self {
            Self::SevenDays | Self::OneDay => AuditAction::TokenExpiring,
            Self::Expired => AuditAction::TokenExpired,
        }
    }

    /// The notice `record` is due at `now`, if any. A threshold counts only
    /// if the token crossed it: a token made to live 3 days gets no 7-day
    /// notice. Revoked tokens get none (their revocation was an event).
    pub fn due(record: &TokenRecord, now: Timestamp) -> Option<Self> {
        if record.revoked.is_some() {
            return None;
        }
        let expires_at = record.expires_at?;
        let left = expires_at.0 - now.0;
        let lifetime = expires_at.0 - record.created_at.0;
        if left <= 0 {
            Some(Self::Expired)
        } else if left <= DAY_MS && lifetime > DAY_MS {
            Some(Self::OneDay)
        } else if left <= 7 * DAY_MS && left > DAY_MS && lifetime > 7 * DAY_MS {
            Some(Self::SevenDays)
        } else {
            None
        }
    }

    /// The audit event that records this notice.
    pub fn audit(self, record: &TokenRecord, now: Timestamp) -> AuditEvent {
        let detail = match self {
            Self::SevenDays => "expires within 7 days",
            Self::OneDay => "expires within 1 day",
            Self::Expired => "expired",
        };
        AuditEvent::new(SWEEP_ACTOR, self.action(), record.owner.clone(), now)
            .for_token(record.id)
            .with_detail(detail)
    }
}

/// A token in the expiry index, with the notices it has had.
#[derive(Debug, Clone)]
pub struct ExpiringToken {
    pub record: TokenRecord,
    pub notices: Vec<ExpiryNotice>,
}

/// The expiry index (a GSI by expiry day, not a table scan).
#[async_trait]
pub trait ExpiryIndex: Send + Sync {
    /// Tokens still in the index whose expiry lies in `[from, to]`.
    async fn tokens_expiring(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ExpiringToken>, StoreError>;

    /// Records `notice` with `audit` unless the token has had it (or is
    /// gone or revoked); returns whether it wrote. The `Expired` notice
    /// also takes the token out of the index.
    async fn record_expiry_notice(
        &self,
        id: &TokenId,
        notice: ExpiryNotice,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
}
