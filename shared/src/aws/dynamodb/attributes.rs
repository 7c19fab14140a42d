//! Reading and writing attribute values. A missing or mistyped attribute is
//! `StoreError::Malformed` naming it; nothing here panics on a damaged item.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use super::Item;
use crate::records::Timestamp;
use crate::store::StoreError;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn b(bytes: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(bytes.to_vec()))
}

/// The TTL value for `days` after `at` (DynamoDB TTL counts seconds).
pub(super) fn ttl_after(at: Timestamp, days: i64) -> AttributeValue {
    n(at.plus_seconds(days * 86_400).as_seconds())
}

pub(super) fn malformed(what: &str) -> StoreError {
    StoreError::Malformed(what.to_owned())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| malformed(name))
}

pub(super) fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub(super) fn get_opt_i64(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| malformed(name)),
    }
}

pub(super) fn get_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    get_opt_i64(item, name)?.ok_or_else(|| malformed(name))
}

pub(super) fn get_opt_timestamp(item: &Item, name: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(get_opt_i64(item, name)?.map(Timestamp))
}

pub(super) fn get_u32(item: &Item, name: &str) -> Result<u32, StoreError> {
    u32::try_from(get_i64(item, name)?).map_err(|_| malformed(name))
}

/// A flag that is false unless stored as the boolean true.
pub(super) fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

pub(super) fn get_bytes<'a>(item: &'a Item, name: &str) -> Result<&'a [u8], StoreError> {
    item.get(name)
        .and_then(|v| v.as_b().ok())
        .map(Blob::as_ref)
        .ok_or_else(|| malformed(name))
}
