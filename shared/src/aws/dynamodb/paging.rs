//! Listings: one page of records from query pages, newest first, keeping
//! those a filter admits, with a cursor that resumes after the last one.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::operation::query::QueryOutput;

use super::attributes::{n, s};
use super::schema::OWNER_INDEX;
use super::transaction::unavailable;
use super::{DynamoStore, Item};
use crate::records::Timestamp;
use crate::store::StoreError;

/// Reads query pages from `start` (`query` is given each page's start key)
/// until `limit` records pass `keep`. The cursor is made by `cursor` from the
/// last record kept and its item when the page is full (more may follow).
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
    loop {
        let output = query(start.take()).await?;
        for item in output.items() {
            let record = T::try_from(item)?;
            if !keep(&record) {
                continue;
            }
            records.push(record);
            if records.len() == limit {
                let next = records.last().map(|last| cursor(last, item)).transpose()?;
                return Ok((records, next));
            }
        }
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok((records, None)),
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
