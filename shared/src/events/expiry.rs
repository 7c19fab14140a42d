//! Expiry notices: an hourly sweep tells owners (through the audit trail and
//! from there the event bus) that a token expires within 7 days, within 1
//! day, or has expired. Each notice is recorded once per token.

use crate::records::{Timestamp, DAY_MS};
use crate::store::StoreError;

/// How far back the sweep looks for expired tokens it has not noticed yet:
/// missed runs (a day of outage) still get their notices.
pub const EXPIRED_LOOKBACK_MS: i64 = 3 * DAY_MS;

pub use crate::store::expiry::{ExpiringToken, ExpiryIndex, ExpiryNotice, SWEEP_ACTOR};

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
    use crate::records::credentials::test_record;
    use crate::records::{Owner, Revocation, TokenRecord};

    fn token(created_day: i64, expires_day: Option<i64>) -> TokenRecord {
        TokenRecord {
            expires_at: expires_day.map(|d| Timestamp(d * DAY_MS)),
            rate_limit: None,
            usage_key_placed: false,
            ..test_record(Owner::user("u"), Timestamp(created_day * DAY_MS))
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
