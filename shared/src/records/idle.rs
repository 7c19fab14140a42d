//! Idle expiry: how long a credential may stay unused before the idle sweep
//! revokes it, and the warnings it gets first. A credential's window is the
//! shortest of the deployment's (`IDLE_EXPIRY_DAYS`) and the settings of the
//! orgs it can act in; it counts from its last recorded use, or its
//! creation if it was never used.

use super::credentials::TokenRecord;
use super::primitives::{Timestamp, DAY_MS};

/// Shortest window an org or a deployment may set, in days.
pub const MIN_IDLE_DAYS: u32 = 30;
/// Longest window, in days.
pub const MAX_IDLE_DAYS: u32 = 730;
/// The revocation reason the sweep writes.
pub const IDLE_REASON: &str = "idle_expired";

/// The deployment's window from its setting (`IDLE_EXPIRY_DAYS`): 0 is
/// none, else within the bounds.
pub fn deployment_window(days: u32) -> Result<Option<u32>, String> {
    match days {
        0 => Ok(None),
        days if (MIN_IDLE_DAYS..=MAX_IDLE_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "must be 0 (none) or {MIN_IDLE_DAYS} to {MAX_IDLE_DAYS} days"
        )),
    }
}

/// The window a deployment has unless it sets another.
pub const DEFAULT_DEPLOYMENT_DAYS: u32 = 365;

/// The shortest of the windows that apply; `None`: no idle expiry.
pub fn window_days(windows: impl IntoIterator<Item = Option<u32>>) -> Option<u32> {
    windows.into_iter().flatten().min()
}

/// Whether `days` is a window an org may set under a deployment whose own
/// is `deployment` (an org may shorten the deployment's, never lengthen it).
pub fn admits_org_window(days: u32, deployment: Option<u32>) -> bool {
    (MIN_IDLE_DAYS..=deployment.unwrap_or(MAX_IDLE_DAYS).min(MAX_IDLE_DAYS)).contains(&days)
}

/// When the credential was last active: its last recorded use, or its creation.
pub fn last_active(record: &TokenRecord) -> Timestamp {
    record
        .last_used_at
        .map_or(record.created_at, |used| used.max(record.created_at))
}

/// A warning before an idle revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleNotice {
    SevenDays,
    OneDay,
}

impl IdleNotice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevenDays => "idle_7d",
            Self::OneDay => "idle_1d",
        }
    }

    /// How the notice is recorded on the token: for this stretch of
    /// idleness only, so a credential used again is warned again next time.
    pub fn key(self, record: &TokenRecord) -> String {
        format!("{}@{}", self.as_str(), last_active(record).0)
    }

    pub fn detail(self, window_days: u32) -> String {
        let within = match self {
            Self::SevenDays => "7 days",
            Self::OneDay => "1 day",
        };
        format!("unused: revoked within {within} unless used (idle_expiry_days={window_days})")
    }
}

/// What the idle sweep does to a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleStep {
    /// Used within its window, and not about to leave it.
    Nothing,
    Warn(IdleNotice),
    Revoke,
}

impl IdleStep {
    /// The step for `record` at `now` under a window of `window_days`.
    pub fn due(record: &TokenRecord, window_days: u32, now: Timestamp) -> Self {
        let ends = last_active(record).0 + i64::from(window_days) * DAY_MS;
        let left = ends - now.0;
        if left <= 0 {
            Self::Revoke
        } else if left <= DAY_MS {
            Self::Warn(IdleNotice::OneDay)
        } else if left <= 7 * DAY_MS {
            Self::Warn(IdleNotice::SevenDays)
        } else {
            Self::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::credentials::test_record;
    use crate::records::Owner;

    fn record(created_day: i64, used_day: Option<i64>) -> TokenRecord {
        TokenRecord {
            last_used_at: used_day.map(|d| Timestamp(d * DAY_MS)),
            rate_limit: None,
            usage_key_placed: false,
            ..test_record(Owner::user("u"), Timestamp(created_day * DAY_MS))
        }
    }

    #[test]
    fn the_window_counts_from_the_last_use_or_the_creation() {
        let day = |d: f64| Timestamp((d * DAY_MS as f64) as i64);
        let never_used = record(0, None);
        assert_eq!(IdleStep::due(&never_used, 90, day(82.9)), IdleStep::Nothing);
        assert_eq!(
            IdleStep::due(&never_used, 90, day(83.5)),
            IdleStep::Warn(IdleNotice::SevenDays)
        );
        assert_eq!(
            IdleStep::due(&never_used, 90, day(89.5)),
            IdleStep::Warn(IdleNotice::OneDay)
        );
        assert_eq!(IdleStep::due(&never_used, 90, day(90.0)), IdleStep::Revoke);
        let used = record(0, Some(60));
        assert_eq!(IdleStep::due(&used, 90, day(142.0)), IdleStep::Nothing);
        assert_eq!(IdleStep::due(&used, 90, day(150.0)), IdleStep::Revoke);
    }

    #[test]
    fn the_shortest_window_applies_and_orgs_may_only_shorten() {
        assert_eq!(window_days([Some(365), None, Some(90)]), Some(90));
        assert_eq!(window_days([None, None]), None);
        assert!(admits_org_window(90, Some(365)));
        assert!(!admits_org_window(400, Some(365)));
        assert!(admits_org_window(400, None));
        assert!(!admits_org_window(29, None));
        assert!(!admits_org_window(731, None));
    }

    #[test]
    fn a_notice_is_keyed_by_the_stretch_of_idleness() {
        let first = IdleNotice::SevenDays.key(&record(0, Some(3)));
        assert_ne!(first, IdleNotice::SevenDays.key(&record(0, Some(4))));
        assert_ne!(first, IdleNotice::OneDay.key(&record(0, Some(3))));
    }
}
