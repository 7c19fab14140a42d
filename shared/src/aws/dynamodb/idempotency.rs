//! The record an `Idempotency-Key` leaves: written only inside the
//! transaction that issues its credential, so a key either has its record
//! and its credential or neither.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::attributes::{b, get_bytes, get_i64, get_s, get_u32, malformed, n, s};
use super::keys::key;
use super::schema::{PARTITION_KEY, TTL_ATTRIBUTE};
use super::{DynamoStore, Item};
use crate::records::{IdempotencyRecord, Timestamp};
use crate::store::StoreError;
use crate::token::hash::PepperVersion;

const IDEMPOTENCY_PREFIX: &str = "IDEMPOTENCY#";
const IDEMPOTENCY_SK: &str = "RESULT";

pub(super) fn idempotency_key(record_key: &[u8; 32]) -> Item {
    key(
        format!("{IDEMPOTENCY_PREFIX}{}", hex::encode(record_key)),
        IDEMPOTENCY_SK,
    )
}

fn idempotency_item(record: &IdempotencyRecord) -> Item {
    let mut item = idempotency_key(&record.key);
    item.insert("fingerprint".into(), b(&record.fingerprint));
    item.insert("token_id".into(), s(record.token_id.as_str()));
    item.insert("pepper_version".into(), n(record.pepper_version.0));
    item.insert("sealed_token".into(), b(&record.sealed_token));
    item.insert("created_at".into(), n(record.created_at.0));
    item.insert("expires_at".into(), n(record.expires_at.0));
    // TTL tidies it up some time after it expires; reads check `expires_at`.
    item.insert(TTL_ATTRIBUTE.into(), n(record.expires_at.as_seconds()));
    item
}

impl TryFrom<&Item> for IdempotencyRecord {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let key = get_s(item, PARTITION_KEY)?
            .strip_prefix(IDEMPOTENCY_PREFIX)
            .and_then(|hex_key| hex::decode(hex_key).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| malformed(PARTITION_KEY))?;
        let fingerprint = <[u8; 32]>::try_from(get_bytes(item, "fingerprint")?)
            .map_err(|_| malformed("fingerprint"))?;
        Ok(Self {
            key,
            fingerprint,
            token_id: get_s(item, "token_id")?
                .parse()
                .map_err(|_| malformed("token_id"))?,
            pepper_version: PepperVersion(get_u32(item, "pepper_version")?),
            sealed_token: get_bytes(item, "sealed_token")?.to_vec(),
            created_at: Timestamp(get_i64(item, "created_at")?),
            expires_at: Timestamp(get_i64(item, "expires_at")?),
        })
    }
}

impl DynamoStore {
    /// Stores `record` unless an unexpired record holds its key.
    pub(super) fn put_idempotency(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<TransactWriteItem, StoreError> {
        self.put(
            idempotency_item(record),
            Some("attribute_not_exists(pk) OR expires_at <= :now"),
            HashMap::from([(":now".to_owned(), n(record.created_at.0))]),
        )
    }

    pub(super) async fn read_idempotency(
        &self,
        record_key: &[u8; 32],
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_record(idempotency_key(record_key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_hold_no_key_as_sent() {
        let record = IdempotencyRecord {
            key: [7; 32],
            fingerprint: [9; 32],
            token_id: "0123456789ABCDEF".parse().unwrap(),
            pepper_version: PepperVersion(3),
            sealed_token: vec![1, 2, 3],
            created_at: Timestamp(1_000),
            expires_at: Timestamp(86_401_000),
        };
        let item = idempotency_item(&record);
        assert_eq!(IdempotencyRecord::try_from(&item).unwrap(), record);
        assert_eq!(item[TTL_ATTRIBUTE].as_n().unwrap(), "86401");
    }
}
