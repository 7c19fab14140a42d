//! Listings: one page of records from query pages, newest first, keeping
//! those a filter admits, with a cursor that resumes after the last item
//! read. A request reads a bounded number of items, so a filter that admits
//! few of them cannot make one request read a whole partition.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::query::QueryOutput;

use super::attributes::{get_opt_s, n, s};
use super::schema::{OWNER_INDEX, PARTITION_KEY, SORT_KEY};
use super::transaction::unavailable;
use super::{DynamoStore, Item};
use crate::logging::Causes;
use crate::records::Timestamp;
use crate::store::StoreError;

/// Most items one listing request reads (10 query pages of 100). A page
/// may then hold fewer records than asked for, even none, with a cursor.
pub(super) const MAX_ITEMS_READ: usize = 1_000;

/// Every item `query` finds, page after page (for the partitions that stay
/// small: an org's members, one day of an index).
pub(super) async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = query
            .clone()
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(unavailable)?;
        items.extend(output.items.unwrap_or_default());
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok(items),
        }
    }
}

/// Reads query pages from `start` (`query` is given each page's start key)
/// until `limit` records pass `keep` or `MAX_ITEMS_READ` items were read.
/// The cursor is made by `cursor` from the last item read (and its record)
/// when more may follow.
pub(super) async fn collect_page<T, Q, Fut>(
    mut start: Option<Item>,
    limit: usize,
    mut query: Q,
    keep: impl Fn(&T) -> bool,
    cursor: impl Fn(&T, &Item) -> Result<String, StoreError>,
) -> Result<(Vec<T>, Option<String>), StoreError>
where
    T: for<'a> TryFrom<&'a Item, Error = StoreError>,
    Q: FnMut(Option<Item>) -> Fut,
    Fut: Future<Output = Result<QueryOutput, StoreError>>,
{
    let limit = limit.max(1);
    let mut records = Vec::with_capacity(limit);
    let mut read = 0;
    loop {
        let output = query(start.take()).await?;
        let items = output.items();
        for (at, item) in items.iter().enumerate() {
            let record = T::try_from(item)?;
            read += 1;
            let kept = keep(&record);
            let full = kept && records.len() + 1 == limit;
            if full || read >= MAX_ITEMS_READ {
                // A full page may have more after it; a bounded one has if
                // any item is left unread.
                let more = full || at + 1 < items.len() || output.last_evaluated_key.is_some();
                let next = more.then(|| cursor(&record, item)).transpose()?;
                if kept {
                    records.push(record);
                }
                return Ok((records, next));
            }
            if kept {
                records.push(record);
            }
        }
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok((records, None)),
        }
    }
}

/// A record read leniently: an item that does not read as `T` (an action a
/// newer version wrote, a damaged item) is `None`, logged by its key, so a
/// listing skips it and goes on.
#[derive(Debug)]
pub(super) struct Lenient<T>(pub(super) Option<T>);

impl<T> TryFrom<&Item> for Lenient<T>
where
    T: for<'a> TryFrom<&'a Item, Error = StoreError>,
{
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        match T::try_from(item) {
            Ok(record) => Ok(Self(Some(record))),
            Err(error) => {
                tracing::warn!(
                    pk = get_opt_s(item, PARTITION_KEY),
                    sk = get_opt_s(item, SORT_KEY),
                    error = %Causes(&error),
                    "unreadable item skipped in a listing"
                );
                Ok(Self(None))
            }
        }
    }
}

impl DynamoStore {
    /// One page of the owner index under `partition`, newest first;
    /// `filter` is a filter expression over `:now`.
    pub(super) async fn query_owner_index(
        &self,
        partition: String,
        filter: Option<(&str, Timestamp)>,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<QueryOutput, StoreError> {
        let mut values = HashMap::from([(":partition".to_owned(), s(partition))]);
        if let Some((_, now)) = filter {
            values.insert(":now".into(), n(now.0));
        }
        self.client
            .query()
            .table_name(&self.table)
            .index_name(OWNER_INDEX)
            .key_condition_expression("gsi1pk = :partition")
            .set_filter_expression(filter.map(|(expression, _)| expression.to_owned()))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(false)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record that is its item's `n`; an item without one does not read.
    #[derive(Debug, PartialEq)]
    struct Numbered(i64);

    impl TryFrom<&Item> for Numbered {
        type Error = StoreError;
        fn try_from(item: &Item) -> Result<Self, StoreError> {
            super::super::attributes::get_i64(item, "n").map(Self)
        }
    }

    /// `count` items (numbered from 0, `n` missing where `unreadable`) in
    /// query pages of 100, as `query` hands them out.
    fn pages(
        count: i64,
        unreadable: i64,
    ) -> impl FnMut(Option<Item>) -> std::future::Ready<Result<QueryOutput, StoreError>> {
        move |start: Option<Item>| {
            let from = start.map_or(0, |key| {
                super::super::attributes::get_i64(&key, "n").unwrap_or(0) + 1
            });
            let to = (from + 100).min(count);
            let items = (from..to).map(|i| {
                let mut item = Item::from([(PARTITION_KEY.to_owned(), s(format!("P#{i}")))]);
                if i != unreadable {
                    item.insert("n".into(), n(i));
                }
                item
            });
            let last = (to < count).then(|| Item::from([("n".to_owned(), n(to - 1))]));
            let output = QueryOutput::builder()
                .set_items(Some(items.collect()))
                .set_last_evaluated_key(last)
                .build();
            std::future::ready(Ok(output))
        }
    }

    fn cursor_of(record: &Numbered, _: &Item) -> Result<String, StoreError> {
        Ok(record.0.to_string())
    }

    #[tokio::test]
    async fn a_filter_that_admits_little_reads_at_most_the_bound_and_hands_back_a_cursor() {
        let keep_last = |record: &Numbered| record.0 == 1_200;
        let (first, cursor) = collect_page(None, 20, pages(1_201, -1), keep_last, cursor_of)
            .await
            .unwrap();
        assert!(first.is_empty());
        assert_eq!(cursor.as_deref(), Some("999"), "the last item read");

        let start = Item::from([("n".to_owned(), n(999))]);
        let (second, cursor) =
            collect_page(Some(start), 20, pages(1_201, -1), keep_last, cursor_of)
                .await
                .unwrap();
        assert_eq!(second, vec![Numbered(1_200)]);
        assert_eq!(cursor, None);

        // Exactly the bound, nothing after it: no cursor to an empty page.
        let (_, cursor) = collect_page(None, 20, pages(1_000, -1), keep_last, cursor_of)
            .await
            .unwrap();
        assert_eq!(cursor, None);
    }

    #[tokio::test]
    async fn a_lenient_listing_skips_an_unreadable_item_and_a_strict_one_fails() {
        let keep = |record: &Lenient<Numbered>| record.0.is_some();
        let lenient_cursor = |_: &Lenient<Numbered>, item: &Item| {
            Ok(get_opt_s(item, PARTITION_KEY).unwrap_or_default())
        };
        let (records, cursor) = collect_page(None, 3, pages(10, 1), keep, lenient_cursor)
            .await
            .unwrap();
        let numbers: Vec<i64> = records
            .into_iter()
            .filter_map(|r| r.0)
            .map(|r| r.0)
            .collect();
        assert_eq!(numbers, vec![0, 2, 3]);
        assert_eq!(cursor.as_deref(), Some("P#3"));

        let strict = collect_page(None, 3, pages(10, 1), |_: &Numbered| true, cursor_of).await;
        assert!(
            matches!(strict, Err(StoreError::Malformed(_))),
            "{strict:?}"
        );
    }
}
