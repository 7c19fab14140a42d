//! The table's stream as the event publisher reads it: new images in
//! DynamoDB JSON, read back as audit events; and the markers that make
//! publishing idempotent (`PUBLISHED#<event id>`, kept a week).

use std::collections::HashSet;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use super::attributes::{get_s, malformed, s, ttl_after};
use super::keys::key;
use super::schema::{PARTITION_KEY, TTL_ATTRIBUTE};
use super::transaction::{backoff, unavailable, TRANSACTION_ATTEMPTS};
use super::{DynamoStore, Item};
use crate::records::{AuditEvent, Timestamp};
use crate::store::StoreError;

const MARKER_PREFIX: &str = "PUBLISHED#";
const MARKER_SK: &str = "EVENT";
const MARKER_RETENTION_DAYS: i64 = 7;

/// One attribute value in DynamoDB JSON (`{"S": "…"}`, `{"N": "1"}`, …).
fn attribute(value: &Value) -> Result<AttributeValue, StoreError> {
    let bad = || malformed("stream image");
    let (kind, inner) = value
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or_else(bad)?;
    let text = || inner.as_str().map(str::to_owned).ok_or_else(bad);
    let texts = || -> Result<Vec<String>, StoreError> {
        inner
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect()
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(text()?),
        "N" => AttributeValue::N(text()?),
        "B" => AttributeValue::B(Blob::new(STANDARD.decode(text()?).map_err(|_| bad())?)),
        "BOOL" => AttributeValue::Bool(inner.as_bool().ok_or_else(bad)?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(texts()?),
        "NS" => AttributeValue::Ns(texts()?),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(attribute)
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(item(inner)?),
        _ => return Err(bad()),
    })
}

fn item(image: &Value) -> Result<Item, StoreError> {
    image
        .as_object()
        .ok_or_else(|| malformed("stream image"))?
        .iter()
        .map(|(name, value)| Ok((name.clone(), attribute(value)?)))
        .collect()
}

/// The audit event a stream record's new image holds; `None` for any other item.
pub fn audit_event_from_image(image: &Value) -> Result<Option<AuditEvent>, StoreError> {
    let item = item(image)?;
    if !get_s(&item, PARTITION_KEY)?.starts_with("AUDIT#") {
        return Ok(None);
    }
    AuditEvent::try_from(&item).map(Some)
}

fn marker_key(event_id: &str) -> Item {
    key(format!("{MARKER_PREFIX}{event_id}"), MARKER_SK)
}

impl DynamoStore {
    /// Which of `event_ids` were published already.
    pub async fn published(&self, event_ids: &[String]) -> Result<HashSet<String>, StoreError> {
        let keys = event_ids.iter().map(|id| marker_key(id)).collect();
        self.batch_get_all(keys)
            .await?
            .iter()
            .map(|item| {
                let pk = get_s(item, PARTITION_KEY)?;
                Ok(pk.trim_start_matches(MARKER_PREFIX).to_owned())
            })
            .collect()
    }

    /// Marks `event_ids` published (25 a `BatchWriteItem`, retried).
    pub async fn mark_published(
        &self,
        event_ids: &[String],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        for chunk in event_ids.chunks(25) {
            let mut requests = chunk
                .iter()
                .map(|id| {
                    let mut item = marker_key(id);
                    item.insert(TTL_ATTRIBUTE.into(), ttl_after(now, MARKER_RETENTION_DAYS));
                    item.insert("event_id".into(), s(id));
                    let put = PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut attempt = 0;
            while !requests.is_empty() {
                if attempt > 0 {
                    backoff(attempt).await;
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(unavailable)?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
                if attempt > TRANSACTION_ATTEMPTS && !requests.is_empty() {
                    return Err(StoreError::Unavailable("batch write throttled".into()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::items::audit_item;
    use super::*;
    use crate::records::{Actor, AuditAction, Origin, Owner};

    /// An item as the stream shows it: DynamoDB JSON.
    fn to_json(item: &Item) -> Value {
        fn one(value: &AttributeValue) -> Value {
            match value {
                AttributeValue::S(s) => serde_json::json!({ "S": s }),
                AttributeValue::N(n) => serde_json::json!({ "N": n }),
                AttributeValue::Ss(ss) => serde_json::json!({ "SS": ss }),
                AttributeValue::M(m) => {
                    serde_json::json!({ "M": m.iter().map(|(k, v)| (k.clone(), one(v))).collect::<serde_json::Map<_, _>>() })
                }
                other => panic!("not in audit items: {other:?}"),
            }
        }
        Value::Object(item.iter().map(|(k, v)| (k.clone(), one(v))).collect())
    }

    #[test]
    fn an_audit_item_reads_back_from_its_stream_image() {
        let token = crate::PlainToken::generate().unwrap();
        let event = Actor::new("user:ann")
            .from_origin(Origin::new("203.0.113.4", "curl"))
            .in_org("acme")
            .event(AuditAction::TokenBlock, Owner::user("bob"), Timestamp(42))
            .for_token(token.id())
            .with_detail("blocked");
        let image = to_json(&audit_item(&event));
        assert_eq!(audit_event_from_image(&image).unwrap(), Some(event));
        let token_image = serde_json::json!({"pk": {"S": "TOKEN#x"}, "sk": {"S": "TOKEN"}});
        assert_eq!(audit_event_from_image(&token_image).unwrap(), None);
        assert!(audit_event_from_image(&serde_json::json!({"pk": {"Q": 1}})).is_err());
    }
}
