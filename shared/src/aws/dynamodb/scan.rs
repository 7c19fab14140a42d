//! `TokenScan`: every token item of the table, a page at a time, for
//! operator commands. A `Scan` reads (and is billed for) every item of the
//! table, tokens or not; the filter only trims what comes back.

use std::collections::HashMap;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::attributes::{get_s, n, s};
use super::keys::TOKEN_SK;
use super::schema::{PARTITION_KEY, SORT_KEY};
use super::transaction::unavailable;
use super::{DynamoStore, Item};
use crate::records::TokenRecord;
use crate::store::{StoreError, TokenPage, TokenScan, TokenScanFilter};

/// DynamoDB reads at most 1 MB per scan request whatever the limit.
const MAX_ITEMS_PER_PAGE: usize = 1_000;

#[async_trait]
impl TokenScan for DynamoStore {
    async fn scan_tokens(
        &self,
        filter: &TokenScanFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<TokenPage, StoreError> {
        let start = cursor.map(decode_scan_cursor).transpose()?;
        let (expression, values) = filter_expression(filter);
        let limit = limit.clamp(1, MAX_ITEMS_PER_PAGE);
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(expression)
            .set_expression_attribute_values(Some(values))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let mut tokens = Vec::new();
        for item in output.items() {
            let record = TokenRecord::try_from(item)?;
            // The pushed-down filter only trims the answer; this one decides.
            if filter.admits(&record) {
                tokens.push(record);
            }
        }
        let next_cursor = output
            .last_evaluated_key
            .as_ref()
            .map(encode_scan_cursor)
            .transpose()?;
        Ok(TokenPage {
            tokens,
            next_cursor,
        })
    }
}

/// The filter as a DynamoDB filter expression: only token items, and the
/// conditions that can be put in attribute terms.
fn filter_expression(filter: &TokenScanFilter) -> (String, Item) {
    let mut clauses = vec!["sk = :token".to_owned()];
    let mut values = HashMap::from([(":token".to_owned(), s(TOKEN_SK))]);
    if let Some(version) = filter.pepper_version {
        clauses.push("pepper_version = :version".into());
        values.insert(":version".into(), n(version.0));
    }
    if let Some(after) = filter.created_after {
        clauses.push("created_at > :after".into());
        values.insert(":after".into(), n(after.0));
    }
    if let Some(before) = filter.created_before {
        clauses.push("created_at < :before".into());
        values.insert(":before".into(), n(before.0));
    }
    if let Some(org) = &filter.limited_to_org {
        clauses.push(
            "owner_kind = :user AND size(org_limit) = :one AND contains(org_limit, :org)".into(),
        );
        values.insert(":user".into(), s("user"));
        values.insert(":one".into(), n(1));
        values.insert(":org".into(), s(org));
    }
    if let Some(now) = filter.active_at {
        clauses.push(
            "(attribute_not_exists(revoked_at) OR revoked_at > :now) \
             AND (attribute_not_exists(expires_at) OR expires_at > :now)"
                .into(),
        );
        values.insert(":now".into(), n(now.0));
    }
    (clauses.join(" AND "), values)
}

/// The scan's last evaluated key (the table's `pk` and `sk`; any item, not
/// only a token) as an opaque cursor: `<pk length>:<pk><sk>`, base64url.
fn encode_scan_cursor(key: &Item) -> Result<String, StoreError> {
    let pk = get_s(key, PARTITION_KEY)?;
    let sk = get_s(key, SORT_KEY)?;
    Ok(URL_SAFE_NO_PAD.encode(format!("{}:{pk}{sk}", pk.len())))
}

fn decode_scan_cursor(cursor: &str) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
    let (length, rest) = text.split_once(':').ok_or(StoreError::InvalidCursor)?;
    let length: usize = length.parse().map_err(|_| StoreError::InvalidCursor)?;
    if length == 0 || length >= rest.len() || !rest.is_char_boundary(length) {
        return Err(StoreError::InvalidCursor);
    }
    let (pk, sk) = rest.split_at(length);
    Ok(HashMap::from([
        (PARTITION_KEY.to_owned(), s(pk)),
        (SORT_KEY.to_owned(), s(sk)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursors_round_trip_any_key_and_reject_damage() {
        let key = HashMap::from([
            (PARTITION_KEY.to_owned(), s("OWNER#user#a:b")),
            (SORT_KEY.to_owned(), s("NAME#x:y")),
        ]);
        let cursor = encode_scan_cursor(&key).unwrap();
        assert_eq!(decode_scan_cursor(&cursor).unwrap(), key);
        for bad in [
            "",
            "!!",
            &URL_SAFE_NO_PAD.encode("9:abc"),
            &URL_SAFE_NO_PAD.encode("x:ab"),
        ] {
            assert!(
                matches!(decode_scan_cursor(bad), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_condition_is_pushed_down_and_only_token_items_are_asked_for() {
        let (all, values) = filter_expression(&TokenScanFilter::default());
        assert_eq!(all, "sk = :token");
        assert_eq!(values.len(), 1);
        let filter = TokenScanFilter {
            pepper_version: Some(crate::PepperVersion(2)),
            created_after: Some(crate::records::Timestamp(1)),
            created_before: Some(crate::records::Timestamp(2)),
            limited_to_org: Some("acme".into()),
            active_at: Some(crate::records::Timestamp(3)),
        };
        let (expression, values) = filter_expression(&filter);
        for part in [
            "pepper_version",
            "created_at >",
            "created_at <",
            "org_limit",
            "revoked_at",
        ] {
            assert!(expression.contains(part), "{expression}");
        }
        assert_eq!(values[":org"], s("acme"));
    }
}
