//! A token's last-use details on its item: `last_used_ip` (S),
//! `last_used_ua` (S) and `recent_addresses` (a list of maps `{ip, at}`,
//! most recent first), written with `last_used_at` in one update.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::attributes::{malformed, n, s};
use super::Item;
use crate::records::{LastUse, RecentAddress, Timestamp};
use crate::store::StoreError;

const SOURCE_IP: &str = "last_used_ip";
const USER_AGENT: &str = "last_used_ua";
const RECENT: &str = "recent_addresses";

/// The attributes [`touch_expression`] may write (the authorizer's grant).
pub const ATTRIBUTES: [&str; 3] = [SOURCE_IP, USER_AGENT, RECENT];

fn recent_value(recent: &[RecentAddress]) -> AttributeValue {
    AttributeValue::L(
        recent
            .iter()
            .map(|a| {
                AttributeValue::M(HashMap::from([
                    ("ip".to_owned(), s(a.ip.to_string())),
                    ("at".to_owned(), n(a.seen_at.0)),
                ]))
            })
            .collect(),
    )
}

/// Puts `details` on a new item (only what is known).
pub(super) fn insert(item: &mut Item, details: &LastUse) {
    if let Some(ip) = details.source_ip {
        item.insert(SOURCE_IP.into(), s(ip.to_string()));
    }
    if let Some(agent) = &details.user_agent {
        item.insert(USER_AGENT.into(), s(agent));
    }
    if !details.recent.is_empty() {
        item.insert(RECENT.into(), recent_value(&details.recent));
    }
}

/// The `SET` and `REMOVE` clauses (without their keywords) that replace the
/// stored details with `details`, and their values: what the last use did
/// not tell is removed, never left from an older use.
pub(super) fn touch_expression(
    details: &LastUse,
    values: &mut HashMap<String, AttributeValue>,
) -> (Vec<String>, Vec<&'static str>) {
    let mut set = Vec::new();
    let mut remove = Vec::new();
    match details.source_ip {
        Some(ip) => {
            set.push(format!("{SOURCE_IP} = :last_ip"));
            values.insert(":last_ip".into(), s(ip.to_string()));
        }
        None => remove.push(SOURCE_IP),
    }
    match &details.user_agent {
        Some(agent) => {
            set.push(format!("{USER_AGENT} = :last_ua"));
            values.insert(":last_ua".into(), s(agent));
        }
        None => remove.push(USER_AGENT),
    }
    if details.recent.is_empty() {
        remove.push(RECENT);
    } else {
        set.push(format!("{RECENT} = :recent"));
        values.insert(":recent".into(), recent_value(&details.recent));
    }
    (set, remove)
}

/// Reads the details; a damaged one is `Malformed`, never dropped quietly.
pub(super) fn read(item: &Item) -> Result<LastUse, StoreError> {
    let source_ip = match item.get(SOURCE_IP) {
        None => None,
        Some(value) => Some(
            value
                .as_s()
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| malformed(SOURCE_IP))?,
        ),
    };
    let user_agent = match item.get(USER_AGENT) {
        None => None,
        Some(value) => Some(value.as_s().map_err(|_| malformed(USER_AGENT))?.clone()),
    };
    let recent = match item.get(RECENT) {
        None => Vec::new(),
        Some(value) => value
            .as_l()
            .map_err(|_| malformed(RECENT))?
            .iter()
            .map(recent_address)
            .collect::<Result<_, _>>()?,
    };
    Ok(LastUse {
        source_ip,
        user_agent,
        recent,
    })
}

fn recent_address(value: &AttributeValue) -> Result<RecentAddress, StoreError> {
    let entry = value.as_m().map_err(|_| malformed(RECENT))?;
    let ip = entry
        .get("ip")
        .and_then(|v| v.as_s().ok())
        .and_then(|text| text.parse().ok());
    let at = entry
        .get("at")
        .and_then(|v| v.as_n().ok())
        .and_then(|text| text.parse().ok());
    match (ip, at) {
        (Some(ip), Some(at)) => Ok(RecentAddress {
            ip,
            seen_at: Timestamp(at),
        }),
        _ => Err(malformed(RECENT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_round_trip_and_damage_is_malformed() {
        let details = LastUse::default()
            .after(Timestamp(1), Some("10.0.0.1".parse().unwrap()), None)
            .after(
                Timestamp(2),
                Some("2001:db8::1".parse().unwrap()),
                Some("cli/1"),
            );
        let mut item = Item::new();
        insert(&mut item, &details);
        assert_eq!(read(&item).unwrap(), details);
        item.insert(SOURCE_IP.into(), s("not an address"));
        assert!(matches!(read(&item), Err(StoreError::Malformed(_))));
    }

    #[test]
    fn a_use_that_tells_nothing_removes_what_an_older_one_told() {
        let mut values = HashMap::new();
        let (set, remove) = touch_expression(&LastUse::default(), &mut values);
        assert!(set.is_empty());
        assert_eq!(remove, ATTRIBUTES);
        assert!(values.is_empty());
    }
}
