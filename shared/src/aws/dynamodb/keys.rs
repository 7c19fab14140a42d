//! Item keys, and the list cursor (a GSI sort key the caller hands back).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::attributes::s;
use super::schema::{OWNER_INDEX_PARTITION_KEY, OWNER_INDEX_SORT_KEY, PARTITION_KEY, SORT_KEY};
use super::Item;
use crate::records::{Owner, OwnerKind, ServiceUser, Timestamp, TokenRecord};
use crate::store::StoreError;
use crate::token::hash::PepperVersion;
use crate::token::TokenId;

pub(super) const TOKEN_PREFIX: &str = "TOKEN#";
pub(super) const TOKEN_SK: &str = "TOKEN";
pub(super) const ACCOUNT_SK: &str = "ACCOUNT";
pub(super) const SERVICE_USER_SK: &str = "SVCUSER";
pub(super) const PEPPER_PK: &str = "PEPPER";
const COUNTER_SK: &str = "COUNTER";

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(pk)),
        (SORT_KEY.to_owned(), s(sk)),
    ])
}

pub(super) fn token_key(id: &TokenId) -> Item {
    key(format!("{TOKEN_PREFIX}{id}"), TOKEN_SK)
}

/// The partition of everything an owner has: counter, names, GSI entries.
pub(super) fn owner_key(owner: &Owner) -> String {
    format!("OWNER#{}#{}", owner.kind.as_str(), owner.id)
}

pub(super) fn principal_key(owner: &Owner) -> Item {
    match owner.kind {
        OwnerKind::User => key(format!("USER#{}", owner.id), ACCOUNT_SK),
        OwnerKind::ServiceUser => key(format!("SVCUSER#{}", owner.id), SERVICE_USER_SK),
    }
}

pub(super) fn counter_key(owner: &Owner) -> Item {
    key(owner_key(owner), COUNTER_SK)
}

pub(super) fn name_key(owner: &Owner, name: &str) -> Item {
    key(
        owner_key(owner),
        &format!("NAME#{}", crate::records::names::uniqueness_key(name)),
    )
}

pub(super) fn pepper_key(version: PepperVersion) -> Item {
    key(PEPPER_PK.to_owned(), &format!("V#{:010}", version.0))
}

pub(super) fn audit_partition(owner: Option<&Owner>) -> String {
    match owner {
        Some(owner) => format!("AUDIT#{}", owner_key(owner)),
        None => "AUDIT#SYSTEM".to_owned(),
    }
}

/// An audit event's sort key: its time (20 digits), then its id.
pub(super) fn audit_sort_key(at: Timestamp, id: &str) -> String {
    format!("{:020}#{id}", at.0.max(0))
}

/// The events an org's admins made in `org_id`, on the owner index.
pub(super) fn org_audit_key(org_id: &str) -> String {
    format!("AUDIT#ORG#{org_id}")
}

/// An audit cursor: the last event's partition and sort key, base64url'd
/// (an org's trail spans its service users' partitions).
pub(super) fn encode_audit_cursor(item_key: (&str, &str)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}\n{}", item_key.0, item_key.1))
}

/// The `ExclusiveStartKey` of an audit cursor; `org` for an org's trail.
pub(super) fn decode_audit_cursor(cursor: &str, org: Option<&str>) -> Result<Item, StoreError> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(StoreError::InvalidCursor)?;
    let (pk, sk) = text.split_once('\n').ok_or(StoreError::InvalidCursor)?;
    let sort_ok = sk.len() > 21
        && sk.as_bytes()[20] == b'#'
        && sk.bytes().take(20).all(|b| b.is_ascii_digit());
    if !pk.starts_with("AUDIT#") || !sort_ok {
        return Err(StoreError::InvalidCursor);
    }
    let base = key(pk.to_owned(), sk);
    Ok(match org {
        Some(org) => start_key(base, org_audit_key(org), sk.to_owned()),
        None => base,
    })
}

/// The GSI sort key: newest first when read backwards, ties broken by id.
pub(super) fn created_sort_key(created_at: Timestamp, id: &TokenId) -> String {
    created_sort_key_of(created_at, id.as_str())
}

/// The expiry index's partition of tokens expiring on `at`'s (UTC) day.
pub(super) fn expiry_partition(at: Timestamp) -> String {
    format!("EXPIRES#{}", at.0.div_euclid(crate::records::DAY_MS))
}

/// The idle index's partition of credentials last active on `at`'s (UTC) day.
pub(super) fn idle_partition(at: Timestamp) -> String {
    format!("IDLE#{}", at.0.div_euclid(crate::records::DAY_MS))
}

/// The idle index's sort key: the id, after `A#` while the credential
/// keeps last-use addresses (the retention pass reads only those) and `N#`
/// once it keeps none.
pub(super) fn idle_sort_key(id: &TokenId, keeps_addresses: bool) -> String {
    let mark = if keeps_addresses { "A" } else { "N" };
    format!("{mark}#{id}")
}

/// The id and the mark of an idle-index sort key.
pub(super) fn read_idle_sort_key(key: &str) -> Option<(TokenId, bool)> {
    let (mark, id) = key.split_once('#')?;
    let keeps = match mark {
        "A" => true,
        "N" => false,
        _ => return None,
    };
    Some((id.parse().ok()?, keeps))
}

/// The expiry index's bounds for `[from, to]`: sort keys are
/// `<expires_at ms, 20 digits>#<id>`, and `$` sorts after `#`.
pub(super) fn expiry_sort_range(from: Timestamp, to: Timestamp) -> (String, String) {
    (
        format!("{:020}", from.0.max(0)),
        format!("{:020}$", to.0.max(0)),
    )
}

/// A cursor is the GSI sort key of the last token returned, base64url'd. The
/// owner is never in it: it always comes from the caller.
pub(super) fn encode_cursor(record: &TokenRecord) -> String {
    URL_SAFE_NO_PAD.encode(created_sort_key(record.created_at, &record.id))
}

/// The `ExclusiveStartKey` a cursor stands for, in `owner`'s listing.
pub(super) fn decode_cursor(owner: &Owner, cursor: &str) -> Result<Item, StoreError> {
    let (sort_key, id) = read_cursor(cursor)?;
    let id: TokenId = id.parse().map_err(|_| StoreError::InvalidCursor)?;
    Ok(start_key(token_key(&id), owner_key(owner), sort_key))
}

/// The service users of `org_id`, on the owner index.
pub(super) fn org_service_users_key(org_id: &str) -> String {
    format!("ORG#{org_id}#SVCUSERS")
}

pub(super) const MEMBER_PREFIX: &str = "MEMBER#";

/// An org's member item for `user_id` (the org's member list).
pub(super) fn member_key(org_id: &str, user_id: &str) -> Item {
    key(
        format!("ORG#{org_id}"),
        &format!("{MEMBER_PREFIX}{user_id}"),
    )
}

/// An org's PAT policy.
pub(super) fn org_policy_key(org_id: &str) -> Item {
    key(format!("ORG#{org_id}"), ORG_POLICY_SK)
}

pub(super) const ORG_POLICY_SK: &str = "POLICY";

/// The counter of the service users `org_id` ever had (its limit).
pub(super) fn org_service_user_counter_key(org_id: &str) -> Item {
    key(format!("ORG#{org_id}"), "SVCUSERS")
}

pub(super) fn encode_service_user_cursor(user: &ServiceUser) -> String {
    URL_SAFE_NO_PAD.encode(created_sort_key_of(user.created_at, &user.id))
}

/// The `ExclusiveStartKey` a cursor stands for, in `org_id`'s service users.
pub(super) fn decode_service_user_cursor(org_id: &str, cursor: &str) -> Result<Item, StoreError> {
    let (sort_key, id) = read_cursor(cursor)?;
    if !ServiceUser::is_valid_id(&id) {
        return Err(StoreError::InvalidCursor);
    }
    let base = principal_key(&Owner::service_user(&id));
    Ok(start_key(base, org_service_users_key(org_id), sort_key))
}

/// The GSI sort key of a record created at `created_at` with `id`.
pub(super) fn created_sort_key_of(created_at: Timestamp, id: &str) -> String {
    format!("{:020}#{id}", created_at.0.max(0))
}

/// A cursor's sort key (20 digits, `#`, an id) and its id.
fn read_cursor(cursor: &str) -> Result<(String, String), StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let sort_key = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (created, id) = sort_key.split_once('#').ok_or(StoreError::InvalidCursor)?;
    if created.len() != 20 || !created.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StoreError::InvalidCursor);
    }
    let id = id.to_owned();
    Ok((sort_key, id))
}

fn start_key(mut base: Item, index_partition: String, sort_key: String) -> Item {
    base.insert(OWNER_INDEX_PARTITION_KEY.into(), s(index_partition));
    base.insert(OWNER_INDEX_SORT_KEY.into(), s(sort_key));
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_user_cursors_round_trip_and_reject_foreign_ids() {
        let mut user = super::super::items::tests::service_user();
        user.created_at = Timestamp(1_700_000_000_000);
        let start = decode_service_user_cursor("acme", &encode_service_user_cursor(&user)).unwrap();
        let base = principal_key(&Owner::service_user(&user.id));
        assert_eq!(start.get(PARTITION_KEY), base.get(PARTITION_KEY));
        assert_eq!(
            start
                .get(OWNER_INDEX_PARTITION_KEY)
                .and_then(|v| v.as_s().ok()),
            Some(&"ORG#acme#SVCUSERS".to_owned())
        );
        let foreign = URL_SAFE_NO_PAD.encode(format!("{:020}#a#b", 5));
        assert!(matches!(
            decode_service_user_cursor("acme", &foreign),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let record = super::super::items::tests::record();
        let owner = Owner::user("u_1");
        let start = decode_cursor(&owner, &encode_cursor(&record)).unwrap();
        assert_eq!(
            start.get(PARTITION_KEY),
            token_key(&record.id).get(PARTITION_KEY)
        );
        for bad in [
            "",
            "!!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("1#0123456789ABCDEF"),
        ] {
            assert!(
                matches!(decode_cursor(&owner, bad), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }
}
