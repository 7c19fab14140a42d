//! Where a credential was last used from: the last use's source address and
//! user agent, and its few most recent distinct addresses. Written with
//! `last_used_at` (at most once per interval per token), kept no longer
//! than [`ADDRESS_RETENTION_MS`].

use std::net::IpAddr;

use super::names;
use super::primitives::{Timestamp, DAY_MS};

/// Most distinct recent addresses a credential keeps.
pub const MAX_RECENT_ADDRESSES: usize = 5;

/// Addresses and user agents older than this are never shown, and are
/// dropped at the next write or by the idle sweep, whichever comes first.
pub const ADDRESS_RETENTION_MS: i64 = 30 * DAY_MS;

/// Longest user agent kept, in characters; a longer one is cut.
pub const MAX_USER_AGENT_CHARS: usize = 200;

/// One recent distinct source address and when it was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentAddress {
    pub ip: IpAddr,
    pub seen_at: Timestamp,
}

/// The details of a credential's recorded uses besides `last_used_at`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastUse {
    /// The address of the last recorded use; `None` when its event told
    /// none (a REST `TOKEN` authorizer).
    pub source_ip: Option<IpAddr>,
    /// The last recorded use's `User-Agent`, cut and cleaned.
    pub user_agent: Option<String>,
    /// Distinct addresses, most recently seen first, at most
    /// [`MAX_RECENT_ADDRESSES`].
    pub recent: Vec<RecentAddress>,
}

impl LastUse {
    /// The details after a use at `at` from `source` with `user_agent`:
    /// `source` moves to the front of the recent addresses, and addresses
    /// past the retention leave them.
    pub fn after(&self, at: Timestamp, source: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        let oldest = at.0.saturating_sub(ADDRESS_RETENTION_MS);
        let mut recent = Vec::with_capacity(MAX_RECENT_ADDRESSES);
        if let Some(ip) = source {
            recent.push(RecentAddress { ip, seen_at: at });
        }
        for address in &self.recent {
            if recent.len() == MAX_RECENT_ADDRESSES {
                break;
            }
            if Some(address.ip) != source && address.seen_at.0 > oldest {
                recent.push(*address);
            }
        }
        Self {
            source_ip: source,
            user_agent: user_agent.and_then(clean_user_agent),
            recent,
        }
    }

    /// What may be shown at `now` of details last written at `last_used_at`:
    /// nothing past the retention.
    pub fn retained(&self, last_used_at: Option<Timestamp>, now: Timestamp) -> Self {
        let oldest = now.0.saturating_sub(ADDRESS_RETENTION_MS);
        let fresh = last_used_at.is_some_and(|at| at.0 > oldest);
        Self {
            source_ip: self.source_ip.filter(|_| fresh),
            user_agent: self.user_agent.clone().filter(|_| fresh),
            recent: self
                .recent
                .iter()
                .filter(|a| a.seen_at.0 > oldest)
                .copied()
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.source_ip.is_none() && self.user_agent.is_none() && self.recent.is_empty()
    }
}

/// A user agent as kept: only characters that show as themselves (as in
/// names: no control, bidi or zero-width ones), at most
/// [`MAX_USER_AGENT_CHARS`], `None` when nothing is left.
fn clean_user_agent(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| names::allowed(*c))
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_use_moves_its_address_first_and_keeps_a_few_distinct_ones() {
        let mut details = LastUse::default();
        for (minute, address) in ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"]
            .into_iter()
            .enumerate()
        {
            details = details.after(Timestamp(minute as i64 * 60_000), Some(ip(address)), None);
        }
        let order: Vec<String> = details.recent.iter().map(|a| a.ip.to_string()).collect();
        assert_eq!(order, ["10.0.0.3", "10.0.0.1", "10.0.0.2"]);
        assert_eq!(details.recent[1].seen_at, Timestamp(2 * 60_000));
        for n in 0..10 {
            details = details.after(
                Timestamp(1_000_000 + n),
                Some(ip(&format!("10.1.0.{n}"))),
                None,
            );
        }
        assert_eq!(details.recent.len(), MAX_RECENT_ADDRESSES);
        assert_eq!(details.recent[0].ip, ip("10.1.0.9"));
    }

    #[test]
    fn a_use_without_an_address_keeps_the_recent_ones_but_names_none() {
        let before = LastUse::default().after(Timestamp(0), Some(ip("::1")), Some("curl/8"));
        let after = before.after(Timestamp(1), None, None);
        assert_eq!(after.source_ip, None);
        assert_eq!(after.user_agent, None);
        assert_eq!(after.recent, before.recent);
    }

    #[test]
    fn nothing_past_the_retention_is_kept_or_shown() {
        let old = LastUse::default().after(Timestamp(0), Some(ip("10.0.0.1")), Some("a"));
        let later = Timestamp(ADDRESS_RETENTION_MS + 1);
        let next = old.after(later, Some(ip("10.0.0.2")), None);
        assert_eq!(
            next.recent.len(),
            1,
            "the address seen a retention ago left"
        );
        let shown = old.retained(Some(Timestamp(0)), later);
        assert!(shown.is_empty(), "{shown:?}");
        let shown = old.retained(Some(Timestamp(0)), Timestamp(1));
        assert_eq!(shown, old);
    }

    #[test]
    fn user_agents_are_cut_and_cleaned() {
        let long = "x".repeat(500);
        let kept = LastUse::default().after(Timestamp(0), None, Some(&long));
        assert_eq!(
            kept.user_agent.unwrap().chars().count(),
            MAX_USER_AGENT_CHARS
        );
        let kept =
            LastUse::default().after(Timestamp(0), None, Some("a\nb\u{7}c\u{202E}d\u{200B}e "));
        assert_eq!(kept.user_agent.as_deref(), Some("abcde"));
        let kept = LastUse::default().after(Timestamp(0), None, Some(" \t "));
        assert_eq!(kept.user_agent, None);
    }
}
