//! Expiry notices: an hourly sweep tells owners (through the audit trail and
//! from there the event bus) that a token expires within 7 days, within 1
//! day, or has expired. Each notice is recorded once per token.

use async_trait::async_trait;

use crate::records::{AuditAction, AuditEvent, Timestamp, TokenRecord, DAY_MS};
use crate::store::StoreError;
use crate::token::TokenId;

/// How far back the sweep looks for expired tokens it has not noticed yet:
/// missed runs (a day of outage) still get their notices.
pub const EXPIRED_LOOKBACK_MS: i64 = 3 * DAY_MS;
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

/// What one sweep recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub seven_days: u32,
    pub one_day: u32,
    pub expired: u32,
}

/// Records every notice due at `now` that was not recorded before.
pub async fn sweep(
    index: &(impl ExpiryIndex + ?Sized),
    now: Timestamp,
) -> Result<SweepReport, StoreError> {
    let from = Timestamp(now.0 - EXPIRED_LOOKBACK_MS);
    let to = Timestamp(now.0 + 7 * DAY_MS);
    let mut report = SweepReport::default();
    for token in index.tokens_expiring(from, to).await? {
        let Some(notice) = ExpiryNotice::due(&token.record, now) else {
            continue;
        };
        if token.notices.contains(&notice) {
            continue;
        }
        let audit = notice.audit(&token.record, now);
        if index
            .record_expiry_notice(&token.record.id, notice, &audit)
            .await?
        {
            *match notice {
                ExpiryNotice::SevenDays => &mut report.seven_days,
                ExpiryNotice::OneDay => &mut report.one_day,
                ExpiryNotice::Expired => &mut report.expired,
            } += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Owner, Revocation};

    fn token(created_day: i64, expires_day: Option<i64>) -> TokenRecord {
        let token = crate::PlainToken::generate().unwrap();
        let pepper = crate::Pepper::new(crate::PepperVersion(1), &[1; 32]).unwrap();
        TokenRecord {
            id: token.id(),
            owner: Owner::user("u"),
            name: "t".into(),
            scopes: vec![],
            hash: pepper.hash(&token),
            pepper_version: crate::PepperVersion(1),
            created_at: Timestamp(created_day * DAY_MS),
            expires_at: expires_day.map(|d| Timestamp(d * DAY_MS)),
            revoked: None,
            last_used_at: None,
            blocked_orgs: Vec::new(),
            allowed_ips: Default::default(),
            org_limit: None,
        }
    }

    #[test]
    fn a_notice_is_due_only_for_a_threshold_the_token_crossed() {
        let at = |day: f64| Timestamp((day * DAY_MS as f64) as i64);
        let month = token(0, Some(30));
        assert_eq!(ExpiryNotice::due(&month, at(20.0)), None);
        assert_eq!(
            ExpiryNotice::due(&month, at(23.5)),
            Some(ExpiryNotice::SevenDays)
        );
        assert_eq!(
            ExpiryNotice::due(&month, at(29.5)),
            Some(ExpiryNotice::OneDay)
        );
        assert_eq!(
            ExpiryNotice::due(&month, at(30.0)),
            Some(ExpiryNotice::Expired)
        );
        let three_days = token(0, Some(3));
        assert_eq!(
            ExpiryNotice::due(&three_days, at(0.5)),
            None,
            "never 7 days away from expiry"
        );
        assert_eq!(
            ExpiryNotice::due(&three_days, at(2.5)),
            Some(ExpiryNotice::OneDay)
        );
        assert_eq!(ExpiryNotice::due(&token(0, None), at(999.0)), None);
        let mut revoked = token(0, Some(30));
        revoked.revoked = Some(Revocation {
            at: at(1.0),
            by: "user:u".into(),
            reason: "r".into(),
        });
        assert_eq!(ExpiryNotice::due(&revoked, at(29.5)), None);
    }

    #[test]
    fn notices_read_back_from_their_text() {
        for notice in ExpiryNotice::ALL {
            assert_eq!(ExpiryNotice::parse(notice.as_str()), Some(notice));
        }
        assert_eq!(ExpiryNotice::parse("soon"), None);
    }
}
